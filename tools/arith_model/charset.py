"""The character-level tokenizer of arith-tiny, built as a `tokenizers` BPE with no merges.

A BPE model without merges splits text into single characters, each one token; the `Fuse`
decoder concatenates them back, so `decode(encode(s)) == s` exactly (no spaces inserted
between tokens). Special tokens: <pad>=0, <s>=1, </s>=2, <unk>=3; then the characters.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models

__all__ = ["SPECIALS", "CHARS", "build_tokenizer", "write_tokenizer_files", "CHAT_TEMPLATE"]

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
CHARS = list(
    string.digits
    + string.ascii_lowercase
    + string.ascii_uppercase
    + " \n+-*/()=,.:;?!'\"<>_%$#&[]{}"
)

# Chat use (no prompt pack): the user's message is the question, the model thinks aloud.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "Q: {{ message['content'] | trim }}\nThink: "
    "{% elif message['role'] == 'assistant' %}{{ message['content'] }}{{ eos_token }}\n"
    "{% endif %}{% endfor %}"
)


def build_tokenizer() -> Tokenizer:
    vocab = {tok: i for i, tok in enumerate(SPECIALS + CHARS)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    tok.decoder = decoders.Fuse()
    return tok


def write_tokenizer_files(folder: Path, context_length: int) -> Tokenizer:
    """tokenizer.json and tokenizer_config.json (HF layout, chat template included)."""
    tok = build_tokenizer()
    tok.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": context_length,
        "chat_template": CHAT_TEMPLATE,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (folder / "special_tokens_map.json").write_text(
        json.dumps(
            {k: config[k] for k in ("bos_token", "eos_token", "pad_token", "unk_token")}, indent=2
        )
        + "\n"
    )
    return tok
