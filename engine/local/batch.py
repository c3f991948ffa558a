"""DecodeBatch: the rows a worker is decoding right now, and their KV cache.

Owns the cache bookkeeping of continuous batching: requests are admitted at a step
boundary (their prompt prefilled once into one cache row, then copied to their n rows),
finished rows are squeezed out, and the cache grows or shrinks to fit. Each row keeps its
own position, so rows admitted at different times decode side by side and give the same
numbers as alone. The scheduler (scheduler.py) decides who is admitted and when.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from ..types import GenerationRequest
from .model import KVCache, Transformer
from .sampling import SamplingParams

__all__ = ["DecodeBatch"]


class Admissible(Protocol):
    request: GenerationRequest
    prompt: np.ndarray
    prefill_s: float


class DecodeBatch:
    def __init__(self, model: Transformer) -> None:
        self.model = model
        self.rows: list[Any] = []  # caller's row objects, in cache-row order
        self.positions = np.zeros(0, dtype=np.int64)  # where each row's next token goes
        self.cache: KVCache | None = None
        self.params = SamplingParams(
            temperature=np.zeros(0, dtype=np.float32),
            top_p=np.zeros(0, dtype=np.float32),
            top_k=np.zeros(0, dtype=np.int64),
            rngs=[],
        )

    def __len__(self) -> int:
        return len(self.rows)

    def admit(self, jobs: Sequence[Admissible], rows: Sequence[Sequence[Any]]) -> np.ndarray:
        """Prefill `jobs` (rows[j] holds job j's n row objects); logits [new rows, V].

        Sample i of a request with seed s draws from default_rng(s + i).
        """
        old = len(self.rows)
        new = sum(len(r) for r in rows)
        need = max(len(j.prompt) + j.request.max_tokens for j in jobs)
        self._reserve(old + new, need)
        cache = self.cache
        assert cache is not None
        logits, positions = [], []
        seeds, temps, top_p, top_k = [], [], [], []
        at = old
        for job, job_rows in zip(jobs, rows, strict=True):
            req, t = job.request, len(job.prompt)
            t0 = time.perf_counter()
            first = self.model.prefill(job.prompt, cache, at)  # the prompt is prefilled once
            cache.copy_row(at, slice(at + 1, at + req.n), t)  # ... and shared by its n rows
            job.prefill_s = time.perf_counter() - t0
            at += req.n
            logits += [first] * req.n
            positions += [t] * req.n
            seeds += [None if req.seed is None else req.seed + i for i in range(req.n)]
            temps += [req.temperature] * req.n
            top_p += [req.top_p] * req.n
            top_k += [req.top_k] * req.n
            self.rows.extend(job_rows)
        self.positions = np.concatenate([self.positions, np.array(positions, dtype=np.int64)])
        p = self.params
        self.params = SamplingParams(
            temperature=np.concatenate([p.temperature, np.array(temps, dtype=np.float32)]),
            top_p=np.concatenate([p.top_p, np.array(top_p, dtype=np.float32)]),
            top_k=np.concatenate([p.top_k, np.array(top_k, dtype=np.int64)]),
            rngs=p.rngs + [np.random.default_rng(s) for s in seeds],
        )
        return np.stack(logits)

    def keep(self, keep: np.ndarray) -> None:
        """Keep only the rows at indices `keep` (the others finished)."""
        if len(keep) == len(self.rows):
            return
        self.rows = [self.rows[i] for i in keep]
        self.params = self.params.take(keep)
        if len(keep) == 0:
            self.positions = self.positions[:0]
            self.cache = None
            return
        assert self.cache is not None
        self.cache = self.cache.keep_rows(keep, int(self.positions[keep].max()))
        self.positions = self.positions[keep]

    def step(self, tokens: np.ndarray) -> np.ndarray:
        """Feed each row its new token; logits [rows, V] for the next one."""
        assert self.cache is not None
        logits = self.model.decode(tokens, self.positions, self.cache)
        self.positions = self.positions + 1
        return logits

    def _reserve(self, n_rows: int, max_len: int) -> None:
        """Make the cache hold n_rows rows of max_len slots, keeping the live rows' keys."""
        cache = self.cache
        if cache is not None and cache.batch >= n_rows and cache.max_len >= max_len:
            return
        grown = self.model.new_cache(n_rows, max(max_len, cache.max_len if cache else 0))
        if cache is not None and len(self.rows):
            filled = int(self.positions.max())
            live = len(self.rows)
            grown.k[:, :live, :, :filled] = cache.k[:, :live, :, :filled]
            grown.v[:, :live, :, :filled] = cache.v[:, :live, :, :filled]
        self.cache = grown
