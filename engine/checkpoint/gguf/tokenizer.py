"""Rebuild a Hugging Face `tokenizers.Tokenizer` from the vocabulary a GGUF file carries.

A GGUF file has no tokenizer.json: llama.cpp keeps the token strings, their types, the BPE
merges (or SentencePiece scores) and the name of a pre-tokenizer in `tokenizer.ggml.*`
metadata and re-implements tokenization in C++. This module owns the translation back:

- `gpt2` (byte-level BPE: SmolLM, Llama 3, Qwen2, GPT-2 ...): the BPE model from tokens and
  merges, and the pre-tokenizer that `tokenizer.ggml.pre` names, written as the same regex
  splits llama.cpp applies (llama.cpp `src/llama-vocab.cpp`, `llm_tokenizer_bpe`).
- `llama` (SentencePiece-style BPE with scores and byte fallback: Llama 2, Mistral ...):
  merges are derived from the scores (a pair merges with the priority of the token it makes,
  as llama.cpp's `llm_tokenizer_spm` does), pieces fall back to `<0xNN>` byte tokens.

Control and user-defined tokens become added tokens, so chat markup such as `<|im_start|>`
in rendered chat templates encodes to its single id, as llama.cpp does with `special=True`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
)

from ...errors import UnsupportedArchitectureError

__all__ = ["GGUFVocab", "TokenType", "vocab_from_metadata", "SUPPORTED_PRE_TOKENIZERS"]


class TokenType:
    """Values of `tokenizer.ggml.token_type` (llama.cpp `llama_token_type`)."""

    NORMAL = 1
    UNKNOWN = 2
    CONTROL = 3
    USER_DEFINED = 4
    UNUSED = 5
    BYTE = 6


# The regexes llama.cpp splits text with before byte-level BPE, keyed by the value of
# `tokenizer.ggml.pre`. Each list is applied in order, every match isolated (llama.cpp
# `unicode_regex_split`); HF tokenizers' `Split(..., "isolated")` does the same.
_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_LLAMA3 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_PRE_TOKENIZER_REGEXES: dict[str, tuple[str, ...]] = {
    # GPT-2 style, digits grouped
    "gpt-2": (_GPT2,),
    "gpt2": (_GPT2,),
    "phi-2": (_GPT2,),
    "mpt": (_GPT2,),
    "olmo": (_GPT2,),
    "jais": (_GPT2,),
    # GPT-2 style, every digit on its own (SmolLM, StarCoder ...)
    "smollm": (r"\p{N}", _GPT2),
    "starcoder": (r"\p{N}", _GPT2),
    "refact": (r"\p{N}", _GPT2),
    "command-r": (r"\p{N}", _GPT2),
    "codeshell": (r"\p{N}", _GPT2),
    "exaone": (r"\p{N}", _GPT2),
    "minerva-7b": (r"\p{N}", _GPT2),
    # Llama 3 style: case-insensitive contractions, digits in runs of up to three
    "llama3": (_LLAMA3,),
    "llama-v3": (_LLAMA3,),
    "llama-bpe": (_LLAMA3,),
    "falcon3": (_LLAMA3,),
    "dbrx": (_LLAMA3,),
    "smaug-bpe": (_LLAMA3,),
    # Qwen2 style: like Llama 3 but one digit at a time
    "qwen2": (_QWEN2,),
    "deepseek-r1-qwen": (_QWEN2,),
    "stablelm2": (_QWEN2,),
    # llama.cpp's fallback when a converter wrote no name
    "default": (
        r"[\p{P}\$\+<=>\^~\|]+",
        _GPT2,
        r"\p{N}+",
        r"[0-9][0-9][0-9]",
    ),
}
# llama.cpp matches these whole words against the vocabulary before merging (`ignore_merges`).
_IGNORE_MERGES = {"llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe"}
SUPPORTED_PRE_TOKENIZERS = tuple(sorted(_PRE_TOKENIZER_REGEXES))

# Texts llama.cpp treats as end-of-generation when they are control tokens, besides the
# declared eos/eot/eom ids (llama.cpp `llama_vocab::impl::load`, special_eog_ids).
_EOG_TEXTS = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "<|end_of_text|>",
}


@dataclass
class GGUFVocab:
    """A GGUF vocabulary as thinkfast uses it: the tokenizer and its special tokens."""

    tokenizer: Tokenizer
    model: str  # "gpt2" or "llama"
    pre: str | None
    special_tokens: dict[str, str] = field(default_factory=dict)  # bos_token, eos_token ...
    add_bos_token: bool = False
    add_eos_token: bool = False
    eos_token_ids: list[int] = field(default_factory=list)
    bos_token_id: int | None = None
    eos_token_id: int | None = None


def vocab_from_metadata(meta: Mapping[str, Any]) -> GGUFVocab:
    """Build the tokenizer and special-token facts from GGUF `tokenizer.ggml.*` metadata.

    `meta` maps GGUF keys to plain Python values (lists for arrays). Raises
    UnsupportedArchitectureError for tokenizer models or pre-tokenizers this module
    cannot reproduce faithfully, naming the ones it can.
    """
    kind = meta.get("tokenizer.ggml.model")
    tokens: Sequence[str] | None = meta.get("tokenizer.ggml.tokens")
    if kind is None or not tokens:
        raise UnsupportedArchitectureError(
            "the GGUF file carries no tokenizer (tokenizer.ggml.model / tokenizer.ggml.tokens "
            "missing); thinkfast needs the vocabulary inside the file"
        )
    types = list(meta.get("tokenizer.ggml.token_type") or [TokenType.NORMAL] * len(tokens))
    pre = meta.get("tokenizer.ggml.pre")
    if kind == "gpt2":
        tokenizer = _byte_level_bpe(tokens, meta.get("tokenizer.ggml.merges") or [], pre)
        add_bos_default = False
    elif kind == "llama":
        scores = meta.get("tokenizer.ggml.scores") or [0.0] * len(tokens)
        add_space_prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", True))
        tokenizer = _sentencepiece_bpe(tokens, scores, types, add_space_prefix)
        add_bos_default = True  # SentencePiece llama models prepend <s> unless told otherwise
    else:
        raise UnsupportedArchitectureError(
            f"GGUF tokenizer model {kind!r} is not supported; accepted: 'gpt2' (byte-level "
            "BPE) and 'llama' (SentencePiece-style BPE)"
        )

    _add_special_tokens(tokenizer, tokens, types)

    def token_id(key: str) -> int | None:
        value = meta.get(f"tokenizer.ggml.{key}_token_id")
        return int(value) if value is not None and 0 <= int(value) < len(tokens) else None

    bos_id, eos_id = token_id("bos"), token_id("eos")
    add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", add_bos_default)) and bos_id is not None
    add_eos = bool(meta.get("tokenizer.ggml.add_eos_token", False)) and eos_id is not None
    _set_post_processor(tokenizer, tokens, bos_id if add_bos else None, eos_id if add_eos else None)

    special: dict[str, str] = {}
    for role in ("bos", "eos", "unknown", "padding"):
        tid = token_id(role)
        if tid is not None:
            name = {"unknown": "unk", "padding": "pad"}.get(role, role)
            special[f"{name}_token"] = tokens[tid]

    eog = [i for i in (eos_id, token_id("eot"), token_id("eom")) if i is not None]
    eog += [
        i
        for i, (text, kind_) in enumerate(zip(tokens, types, strict=False))
        if kind_ == TokenType.CONTROL and text in _EOG_TEXTS
    ]
    return GGUFVocab(
        tokenizer=tokenizer,
        model=kind,
        pre=pre,
        special_tokens=special,
        add_bos_token=add_bos,
        add_eos_token=add_eos,
        eos_token_ids=list(dict.fromkeys(eog)),
        bos_token_id=bos_id,
        eos_token_id=eos_id,
    )


# -- byte-level BPE ---------------------------------------------------------------------------
def _byte_level_bpe(tokens: Sequence[str], merges: Sequence[str], pre: str | None) -> Tokenizer:
    name = pre or "default"
    if name not in _PRE_TOKENIZER_REGEXES:
        raise UnsupportedArchitectureError(
            f"GGUF pre-tokenizer {name!r} (tokenizer.ggml.pre) is not supported; accepted: "
            + ", ".join(SUPPORTED_PRE_TOKENIZERS)
        )
    vocab = _first_ids(tokens)
    # merges are stored as "left right"; byte-level pieces never hold a real space
    pairs = [tuple(m.split(" ", 1)) for m in merges]
    bpe = models.BPE(
        vocab=vocab,
        merges=[p for p in pairs if len(p) == 2],
        ignore_merges=name in _IGNORE_MERGES,
    )
    tok = Tokenizer(bpe)
    splits = [
        pre_tokenizers.Split(Regex(rx), behavior="isolated") for rx in _PRE_TOKENIZER_REGEXES[name]
    ]
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [*splits, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    tok.decoder = decoders.ByteLevel()
    return tok


# -- SentencePiece-style BPE -----------------------------------------------------------------
def _sentencepiece_bpe(
    tokens: Sequence[str], scores: Sequence[float], types: Sequence[int], add_space_prefix: bool
) -> Tokenizer:
    vocab = _first_ids(tokens)
    mergeable = {
        t
        for t, kind in zip(tokens, types, strict=False)
        if kind in (TokenType.NORMAL, TokenType.USER_DEFINED)
    }
    # llama.cpp merges the adjacent pair whose concatenation is the highest-scoring token;
    # an ordered merge list with that priority makes HF's BPE take the same path.
    ranked: list[tuple[float, int, str, str]] = []
    for piece in mergeable:
        pid = vocab[piece]
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in mergeable and right in mergeable:
                ranked.append((-float(scores[pid]), pid, left, right))
    ranked.sort()
    unk = next((t for t, k in zip(tokens, types, strict=False) if k == TokenType.UNKNOWN), None)
    bpe = models.BPE(
        vocab=vocab,
        merges=[(left, right) for _, _, left, right in ranked],
        unk_token=unk,
        fuse_unk=True,
        byte_fallback=True,
    )
    tok = Tokenizer(bpe)
    # llama.cpp puts a space before the text and after every special token, unconditionally
    # (even before a text that starts with one), then writes spaces as U+2581. A normalizer
    # runs on each stretch between added tokens, so Prepend does exactly that.
    space = normalizers.Replace(" ", "\u2581")
    tok.normalizer = (
        normalizers.Sequence([normalizers.Prepend("\u2581"), space]) if add_space_prefix else space
    )
    steps = [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
    if add_space_prefix:
        steps.append(decoders.Strip(" ", 1, 0))
    tok.decoder = decoders.Sequence(steps)
    return tok


# -- shared ------------------------------------------------------------------------------------
def _first_ids(tokens: Sequence[str]) -> dict[str, int]:
    """token -> id; a text listed twice keeps its first id (llama.cpp's lookup does too)."""
    vocab: dict[str, int] = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    return vocab


def _add_special_tokens(tok: Tokenizer, tokens: Sequence[str], types: Sequence[int]) -> None:
    control = [t for t, k in zip(tokens, types, strict=False) if k == TokenType.CONTROL and t]
    user = [t for t, k in zip(tokens, types, strict=False) if k == TokenType.USER_DEFINED and t]
    # normalized=False: match the raw text, before any byte-level or metaspace mapping
    if control:
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in control])
    if user:
        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in user])


def _set_post_processor(
    tok: Tokenizer, tokens: Sequence[str], bos_id: int | None, eos_id: int | None
) -> None:
    if bos_id is None and eos_id is None:
        return
    head = f"{tokens[bos_id]}:0 " if bos_id is not None else ""
    tail = f" {tokens[eos_id]}:0" if eos_id is not None else ""
    specials = [(tokens[i], i) for i in (bos_id, eos_id) if i is not None]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{head}$A:0{tail}",
        pair=f"{head}$A:0{tail} {head}$B:1{tail}".replace("  ", " "),
        special_tokens=list(dict.fromkeys(specials)),
    )
