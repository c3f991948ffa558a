"""Constraints compiled into llguidance matchers, with typed errors for bad ones.

`ConstraintCompiler` owns the engine's LLTokenizer (built on the first constrained
request: ~0.4 s for a 49k vocabulary, nothing for engines that never constrain) and a
small cache of validated grammars, so the n rows of a request and repeated requests with
the same schema pay the compile once; each row then gets its own matcher.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

import llguidance
import numpy as np

from ...checkpoint.record import Checkpoint
from ...constraint import (
    ChoiceConstraint,
    ConstraintError,
    GrammarConstraint,
    JsonObjectConstraint,
    JsonSchemaConstraint,
    RegexConstraint,
)
from .tokenizer import build_ll_tokenizer

__all__ = ["ConstraintCompiler", "grammar_for"]

_CACHE_SIZE = 64

# One layout for JSON (`{"a": 1, "b": [2, 3]}`): with free whitespace a small model can
# spend its whole budget on newlines between tokens and never close the object. A schema
# may still ask for another layout through its "x-guidance" options.
_JSON_LAYOUT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


def grammar_for(constraint: Any) -> str:
    """The llguidance grammar text of a constraint (not yet checked)."""
    if isinstance(constraint, JsonObjectConstraint):
        return llguidance.LLMatcher.grammar_from_json_schema(
            {"type": "object"}, defaults=_JSON_LAYOUT
        )
    if isinstance(constraint, JsonSchemaConstraint):
        try:  # strict or not, the schema is enforced: a constraint never lets output stray
            return llguidance.LLMatcher.grammar_from_json_schema(
                constraint.json_schema, defaults=_JSON_LAYOUT
            )
        except ValueError as exc:
            raise ConstraintError(f"invalid JSON schema: {exc}") from None
    if isinstance(constraint, RegexConstraint):
        return llguidance.LLMatcher.grammar_from_regex(constraint.pattern)
    if isinstance(constraint, ChoiceConstraint):
        lark = "start: " + " | ".join(json.dumps(c) for c in constraint.choices)
        return llguidance.LLMatcher.grammar_from_lark(lark)
    if isinstance(constraint, GrammarConstraint):
        return llguidance.LLMatcher.grammar_from_lark(constraint.lark)
    raise ConstraintError(f"unknown constraint {constraint!r}")


_WHAT = {
    "json_object": "JSON object",
    "json_schema": "JSON schema",
    "regex": "regex",
    "choice": "choice",
    "grammar": "Lark grammar",
}


class ConstraintCompiler:
    """Turns a request's constraint into a fresh matcher for one of its rows."""

    def __init__(self, checkpoint: Checkpoint, eos_ids: np.ndarray) -> None:
        self.checkpoint = checkpoint
        self.eos_ids = [int(i) for i in eos_ids]
        self._tokenizer: llguidance.LLTokenizer | None = None
        # The unknown token stands for text the vocabulary lacks; llguidance would force it
        # for such text, but it never decodes back to that text, so it is never allowed.
        unk = checkpoint.special_tokens.get("unk_token")
        unk_id = checkpoint.tokenizer.token_to_id(unk) if unk else None
        self.banned_ids = np.array([] if unk_id is None else [unk_id], dtype=np.int64)
        self._grammars: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()  # requests are validated on callers' threads

    @property
    def tokenizer(self) -> llguidance.LLTokenizer:
        with self._lock:
            if self._tokenizer is None:
                self._tokenizer = build_ll_tokenizer(self.checkpoint, self.eos_ids)
            return self._tokenizer

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def matcher(self, constraint: Any) -> llguidance.LLMatcher:
        """A new matcher at the start of the output; ConstraintError naming the problem."""
        tokenizer = self.tokenizer
        grammar = self._validated(constraint, tokenizer)
        matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise ConstraintError(f"invalid {_WHAT[constraint.type]}: {matcher.get_error()}")
        self._check_expressible(matcher, constraint)
        return matcher

    def _validated(self, constraint: Any, tokenizer: llguidance.LLTokenizer) -> str:
        key = constraint.model_dump_json()
        with self._lock:
            if key in self._grammars:
                self._grammars.move_to_end(key)
                return self._grammars[key]
        grammar = grammar_for(constraint)
        error = llguidance.LLMatcher.validate_grammar(grammar, tokenizer)
        if error:
            raise ConstraintError(
                f"invalid {_WHAT[constraint.type]}: {error.removeprefix('ERROR: ')}"
            )
        with self._lock:
            self._grammars[key] = grammar
            while len(self._grammars) > _CACHE_SIZE:
                self._grammars.popitem(last=False)
        return grammar

    def _check_expressible(self, matcher: llguidance.LLMatcher, constraint: Any) -> None:
        """The first step must allow some token: otherwise the grammar needs text this
        tokenizer cannot write (a character missing from a small vocabulary, say)."""
        bits = np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8)
        allowed = np.unpackbits(bits, bitorder="little").astype(bool)
        allowed[self.banned_ids[self.banned_ids < len(allowed)]] = False
        if matcher.is_error() or not allowed.any():
            detail = f": {matcher.get_error()}" if matcher.is_error() else ""
            raise ConstraintError(
                f"the {_WHAT[constraint.type]} cannot be written with the tokenizer of "
                f"{self.checkpoint.name!r}: no token can start it{detail}"
            )
