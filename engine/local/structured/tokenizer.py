"""The llguidance view of a checkpoint's tokenizer: an `LLTokenizer` built once per engine.

llguidance reads a Hugging Face `tokenizer.json` itself when its decoder is one it knows
(byte-level BPE such as SmolLM2's, from an HF folder or rebuilt from GGUF metadata, and
SentencePiece with byte fallback). Other tokenizers (the shipped model's character-level
WordLevel vocabulary, whose `Fuse` decoder llguidance rejects) are handed over as what
llguidance really needs: the bytes each token id stands for, which ids are special, and an
encode function.
"""

from __future__ import annotations

import re
from typing import Any

import llguidance

from ...checkpoint.record import Checkpoint
from ...constraint import ConstraintError

__all__ = ["build_ll_tokenizer"]

_BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def build_ll_tokenizer(checkpoint: Checkpoint, eos_ids: list[int]) -> llguidance.LLTokenizer:
    """The LLTokenizer for `checkpoint`; ConstraintError when neither route can read it."""
    tokenizer = checkpoint.tokenizer
    n_vocab = max(
        tokenizer.get_vocab_size(with_added_tokens=True),
        int(checkpoint.config.get("vocab_size") or 0),
    )
    eos = [i for i in eos_ids if i >= 0] or None
    try:
        return llguidance.LLTokenizer(tokenizer.to_str(), n_vocab=n_vocab, eos_token=eos)
    except ValueError as direct:
        try:
            wrapper = llguidance.TokenizerWrapper(_TokenTable(tokenizer, eos))
            return llguidance.LLTokenizer(wrapper, n_vocab=n_vocab, eos_token=eos)
        except Exception as exc:
            raise ConstraintError(
                f"the tokenizer of {checkpoint.name!r} cannot be used for constrained output: "
                f"llguidance rejected its tokenizer.json ({direct}) and its token table ({exc})"
            ) from None


class _TokenTable:
    """What llguidance's TokenizerWrapper reads: token bytes, special ids, eos, encode."""

    def __init__(self, tokenizer: Any, eos: list[int] | None) -> None:
        self._tokenizer = tokenizer
        size = tokenizer.get_vocab_size(with_added_tokens=True)
        added = tokenizer.get_added_tokens_decoder()
        self.special_token_ids = [i for i, tok in added.items() if tok.special]
        self.eos_token_id = eos[0] if eos else None
        self.bos_token_id = None
        by_id = {i: t for t, i in tokenizer.get_vocab(with_added_tokens=True).items()}
        self.tokens = [self._bytes(i, by_id.get(i, ""), added) for i in range(size)]

    def _bytes(self, token_id: int, piece: str, added: dict[int, Any]) -> bytes:
        if token_id in added:
            return added[token_id].content.encode()
        byte = _BYTE_TOKEN.match(piece)
        if byte:  # SentencePiece byte fallback: the token is one raw byte
            return bytes([int(byte.group(1), 16)])
        return self._tokenizer.decode([token_id], skip_special_tokens=False).encode()

    def __call__(self, text: str) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=False).ids
