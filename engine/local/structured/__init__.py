"""Structured output for LocalEngine: constraints compiled by llguidance, masks per row.

`ConstraintCompiler` (grammar.py) turns a request's constraint into matchers over the
checkpoint's tokenizer (tokenizer.py); `apply_constraints` (masking.py) masks a decode
step's logits row by row before sampling. No grammar engine is written here: llguidance
(an Earley parser over the token trie) does the parsing.
"""

from .grammar import ConstraintCompiler, grammar_for
from .masking import apply_constraints

__all__ = ["ConstraintCompiler", "apply_constraints", "grammar_for"]
