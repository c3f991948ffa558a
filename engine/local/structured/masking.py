"""Token masks on a decode step's logits, one matcher per constrained row.

Each constrained row carries its own `LLMatcher` (the n samples of a request each have
one); unconstrained rows have none and their logits are left untouched, so constrained,
differently-constrained and plain rows share a batch. The masks are applied to the
logits before sampling, so the sampler (seeded, top-k, top-p) and the reported logprobs
both see the constrained distribution: a token the grammar forbids has probability 0, and
the logprob of a chosen token is renormalised over the tokens it allowed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import llguidance
import llguidance.numpy as llnp
import numpy as np

__all__ = ["apply_constraints"]

_executor: llguidance.LLExecutor | None = None
_NEG_INF_BITS = np.array(-np.inf, dtype=np.float32).view(np.int32)


def _parallel() -> llguidance.LLExecutor:
    # llguidance fills several rows' masks on its own threads (the GIL is released); as
    # many as the BLAS pool would use, so the engine does not oversubscribe the cores.
    global _executor
    if _executor is None:
        threads = int(os.environ.get("THINKFAST_BLAS_THREADS") or 0) or min(4, os.cpu_count() or 1)
        _executor = llguidance.LLExecutor(num_threads=max(1, threads))
    return _executor


def apply_constraints(rows: Sequence[Any], logits: np.ndarray, eos_ids: np.ndarray) -> None:
    """Set the logits of tokens each constrained row may not emit to -inf, in place.

    `rows[j].matcher` is row j's LLMatcher or None, `rows[j].job.banned_ids` the ids its
    engine never allows under a constraint (the unknown token). A row whose grammar admits
    nothing more (finished, or dead because the tokenizer cannot write what it needs) may
    only end: its eos tokens stay allowed, so it finishes at once instead of sampling from
    nothing.
    """
    constrained = [j for j, row in enumerate(rows) if row.matcher is not None]
    if not constrained:
        return
    vocab = logits.shape[1]
    matchers = [rows[j].matcher for j in constrained]
    # The LLTokenizer was built with the model's vocabulary size, so one mask covers a row.
    words = (vocab + 31) // 32
    masks = np.zeros((len(constrained), words), dtype=np.int32)
    if len(matchers) == 1:
        llnp.fill_next_token_bitmask(matchers[0], masks, 0)
    else:
        llnp.fill_next_token_bitmask_par(
            _parallel(), [(m, i) for i, m in enumerate(matchers)], masks
        )
    # one byte per token: 1 allowed, 0 not
    allowed = np.unpackbits(masks.view(np.uint8), axis=1, count=vocab, bitorder="little")
    banned = rows[constrained[0]].job.banned_ids  # one engine, one tokenizer per batch
    allowed[:, banned[banned < vocab]] = 0
    dead = ~allowed.any(axis=1)
    if dead.any():
        allowed[np.ix_(dead, eos_ids[(eos_ids >= 0) & (eos_ids < vocab)])] = 1
    if len(constrained) == len(rows):
        _mask_in_place(logits, allowed)
    else:
        sub = logits[constrained]
        _mask_in_place(sub, allowed)
        logits[constrained] = sub


def _mask_in_place(logits: np.ndarray, allowed: np.ndarray) -> None:
    """logits[~allowed] = -inf, branch-free on the float bits: a boolean-indexed store or
    np.where over 49k mostly-unpredictable entries is 5-10x slower (benchmarks/
    engine_structured.py)."""
    if logits.dtype != np.float32 or not logits.flags.c_contiguous:
        np.putmask(logits, allowed == 0, -np.inf)
        return
    keep = allowed.view(np.int8).astype(np.int32)
    np.negative(keep, out=keep)  # allowed -> all ones, forbidden -> 0
    bits = logits.view(np.int32)
    np.bitwise_and(bits, keep, out=bits)  # forbidden -> +0.0
    np.invert(keep, out=keep)
    np.bitwise_and(keep, _NEG_INF_BITS, out=keep)
    np.bitwise_or(bits, keep, out=bits)  # forbidden -> -inf
