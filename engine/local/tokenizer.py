"""TextCodec: text <-> token ids for one checkpoint, and incremental detokenization.

Owns how a request's prompt becomes ids (chat template for messages, the tokenizer's own
special-token handling plus `add_bos_token` for raw prompts) and how decoded ids become
text a few tokens at a time, for streaming and stop strings, without ever emitting half a
UTF-8 character or a word piece whose leading space is not yet known.
"""

from __future__ import annotations

from typing import Any

from ..checkpoint.record import Checkpoint
from ..errors import InvalidRequestError
from ..types import GenerationRequest
from .chat_template import render_chat

__all__ = ["TextCodec", "IncrementalDetokenizer"]


class TextCodec:
    def __init__(self, checkpoint: Checkpoint) -> None:
        self.tokenizer = checkpoint.tokenizer
        self.checkpoint = checkpoint
        self.vocab_size = self.tokenizer.get_vocab_size(with_added_tokens=True)
        bos = checkpoint.special_tokens.get("bos_token")
        self.bos_id: int | None = self.tokenizer.token_to_id(bos) if bos else None

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        ids = self.tokenizer.encode(text, add_special_tokens=add_special_tokens).ids
        if (
            add_special_tokens
            and self.checkpoint.add_bos_token
            and self.bos_id is not None
            and (not ids or ids[0] != self.bos_id)
        ):
            ids = [self.bos_id, *ids]
        return ids

    def decode(self, ids: list[int], *, skip_special_tokens: bool = True) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    def token_text(self, token_id: int) -> str:
        """The text one token stands for on its own (for logprob entries)."""
        return self.tokenizer.decode([token_id], skip_special_tokens=False)

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        """The exact ids the model sees for a request (messages, prompt or prompt_ids)."""
        if request.prompt_ids is not None:
            bad = [i for i in request.prompt_ids if not 0 <= i < self.vocab_size]
            if bad:
                raise InvalidRequestError(
                    f"prompt_ids {bad[:5]} are outside the vocabulary [0, {self.vocab_size})"
                )
            return list(request.prompt_ids)
        if request.messages is not None:
            text = self.render_messages([m.model_dump() for m in request.messages])
            # The template writes the bos token itself, as transformers' apply_chat_template.
            return self.encode(text, add_special_tokens=False)
        return self.encode(request.prompt or "")

    def render_messages(self, messages: list[dict[str, Any]]) -> str:
        template = self.checkpoint.chat_template
        if not template:
            raise InvalidRequestError(
                f"model {self.checkpoint.name!r} has no chat template; send `prompt` or "
                "`prompt_ids` instead of `messages`"
            )
        return render_chat(
            template, messages, add_generation_prompt=True, **self.checkpoint.special_tokens
        )


class IncrementalDetokenizer:
    """Turns a growing list of ids into text deltas.

    Decoding ids one by one is wrong for byte-level and SentencePiece tokenizers (a token
    may be half a character, or owe its leading space to its neighbour). So, as in
    text-generation-inference, decode a small window of ids before the new ones and emit
    only the text that window gained, holding back while it ends in U+FFFD.
    """

    def __init__(self, codec: TextCodec) -> None:
        self.codec = codec
        self.ids: list[int] = []
        self.text = ""
        self._prefix = 0  # window start
        self._read = 0  # ids already turned into text

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        before = self.codec.decode(self.ids[self._prefix : self._read])
        after = self.codec.decode(self.ids[self._prefix :])
        if after.endswith("\ufffd"):
            return ""  # half a UTF-8 character: wait for the rest
        delta = after[len(before) :]
        self._prefix, self._read = self._read, len(self.ids)
        self.text += delta
        return delta

    def flush(self) -> str:
        """Whatever is still held back (a trailing incomplete character) at the end."""
        full = self.codec.decode(self.ids)
        delta = full[len(self.text) :] if full.startswith(self.text) else ""
        self.text += delta
        return delta
