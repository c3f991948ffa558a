"""DecodeBatch: the rows a worker is decoding right now, and their KV cache.

Owns the cache bookkeeping of continuous batching: requests are admitted at a step
boundary (their prompt's cached prefix loaded from the prefix cache, the rest prefilled
once into one cache row, then copied to their n rows), finished rows leave, and the
cache grows to fit. Each row keeps its own position, so rows admitted at different times
decode side by side and give the same numbers as alone. The scheduler (scheduler.py)
decides who is admitted and when.

Finished rows leave without a reallocation: the live rows stay in the first slots of the
cache, and a hole left by a finished row is filled by moving a live row from the tail into
it (one row's copy per hole, none when the tail finishes), where squeezing the cache into
a new array copied every live row on every finish (18% of an n=64 x 128-token run).
Slots past the live rows keep stale but finite keys, which attention masks out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from ..types import GenerationRequest
from .model import KVCache, Transformer
from .prefix_cache import CacheNode, PrefixCache
from .sampling import SamplingParams

__all__ = ["DecodeBatch"]


class Admissible(Protocol):
    request: GenerationRequest
    prompt: np.ndarray
    prefill_s: float
    cached_tokens: int


class DecodeBatch:
    def __init__(self, model: Transformer, prefix_cache: PrefixCache | None = None) -> None:
        self.model = model
        self.prefix_cache = prefix_cache
        self.rows: list[Any] = []  # caller's row objects, in cache-row order
        self.positions = np.zeros(0, dtype=np.int64)  # where each row's next token goes
        self.cache: KVCache | None = None
        self.leases: dict[Any, CacheNode] = {}  # job -> the prefix-cache node it pins
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
            first = self._prefill(job, at)  # the prompt is prefilled once
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

    def _prefill(self, job: Admissible, row: int) -> np.ndarray:
        """The prompt's cached prefix loaded, the rest computed and cached; last logits."""
        assert self.cache is not None
        prompt, pc = job.prompt, self.prefix_cache
        if pc is None:
            return self.model.prefill(prompt, self.cache, row)
        # at least the last token is computed: its logits give the first sample
        node, hit = pc.match(prompt, len(prompt) - 1)
        pc.lock(node)  # pinned while this job runs (and while the insert below evicts)
        if hit:
            pc.load(node, self.cache, row)
        job.cached_tokens = hit
        pc.hit_tokens += hit
        try:
            first = self.model.prefill(prompt[hit:], self.cache, row, start=hit)
            leaf = pc.insert(prompt, self.cache, row)
            pc.lock(leaf)
        finally:
            pc.unlock(node)
        self.leases[job] = leaf
        return first

    def retire(self, finished: np.ndarray) -> None:
        """Keep the whole sequence of the rows at `finished` in the prefix cache (a chat's
        next turn starts with it); their last sampled token was never fed, so has no KV."""
        pc, cache = self.prefix_cache, self.cache
        if pc is None or cache is None:
            return
        for r in finished.tolist():
            row = self.rows[r]
            if len(row.tokens) > 1:
                tail = np.asarray(row.tokens[:-1], dtype=np.int64)
                pc.insert(np.concatenate([row.job.prompt, tail]), cache, r)
        pc.evict()

    def release(self, job: Any) -> None:
        """The job completed: its prompt's cache entry may be evicted again."""
        node = self.leases.pop(job, None)
        if node is not None and self.prefix_cache is not None:
            self.prefix_cache.unlock(node)

    def release_all(self) -> None:
        for job in list(self.leases):
            self.release(job)

    def keep(self, keep: np.ndarray) -> np.ndarray:
        """Keep only the rows at indices `keep` (the others finished); their new order.

        Rows past the live count move into the holes before it, so the returned order is
        `keep` with those rows swapped in: index the rows' tokens with it.
        """
        n = len(keep)
        if n == len(self.rows):
            return keep
        order = keep.copy()
        if n:
            assert self.cache is not None
            dead = np.ones(len(self.rows), dtype=bool)
            dead[keep] = False
            holes = np.flatnonzero(dead[:n])
            movers = keep[keep >= n]  # as many live rows past n as there are holes before it
            if len(holes):
                length = int(self.positions[movers].max())
                c = self.cache
                c.k[:, holes, :, :length] = c.k[:, movers, :, :length]
                c.v[:, holes, :, :length] = c.v[:, movers, :, :length]
            order = np.arange(n)
            order[holes] = movers
        else:
            self.cache = None
        self.rows = [self.rows[i] for i in order]
        self.params = self.params.take(order)
        self.positions = self.positions[order]
        return order

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
        grown = self.model.new_cache(
            max(n_rows, cache.batch if cache else 0), max(max_len, cache.max_len if cache else 0)
        )
        if cache is not None and len(self.rows):
            filled = int(self.positions.max())
            live = len(self.rows)
            grown.k[:, :live, :, :filled] = cache.k[:, :live, :, :filled]
            grown.v[:, :live, :, :filled] = cache.v[:, :live, :, :filled]
        self.cache = grown
