"""The worker side of LocalEngine: one thread that admits queued jobs and decodes them.

Jobs are queued by the engine (already validated) and run on ONE worker thread (numpy
releases the GIL, the event loop stays free). Whatever arrives while the worker is busy
joins the running batch at the next decode step (continuous batching), as long as the
cache budget `max_batch_tokens` allows; the rest waits for the next batch. A job's rows
(its n samples) share one prefill; all rows of a batch decode together.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..errors import EngineError, ThinkfastError
from .batch import DecodeBatch
from .blas import set_blas_threads
from .model import Transformer
from .output import complete
from .prefix_cache import PrefixCache
from .sampling import choose
from .sequence import Job, open_rows, record_step
from .structured import apply_constraints
from .tokenizer import TextCodec

__all__ = ["BatchRecord", "Scheduler"]


@dataclass(frozen=True)
class BatchRecord:
    """What one worker batch did (kept in `LocalEngine.batch_log` for tests and tuning)."""

    jobs: int
    rows: int
    steps: int
    tokens_per_row: tuple[int, ...]


class Scheduler:
    """The queue, the worker thread and its admission and decode loop."""

    def __init__(
        self,
        model: Transformer,
        codec: TextCodec,
        eos_ids: np.ndarray,
        *,
        model_name: str,
        max_batch_tokens: int,
        prefix_cache: PrefixCache | None = None,
        blas_threads: int | None = None,
    ) -> None:
        self.model = model
        self.prefix_cache = prefix_cache  # touched by the worker thread only
        self.blas_threads = blas_threads
        self.codec = codec
        self.eos_ids = eos_ids
        self.model_name = model_name
        self.max_batch_tokens = max_batch_tokens
        self.pending: list[Job] = []
        self.draining = False  # the worker is running (or about to run) batches
        self.stopping = False  # closing: running rows finish at their next step
        self.batch_log: deque[BatchRecord] = deque(maxlen=256)
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="thinkfast-engine")

    # -- caller side ------------------------------------------------------------------------
    def submit(self, jobs: list[Job]) -> None:
        with self._lock:
            self.pending.extend(jobs)
            if self.draining:
                return  # the worker picks them up with its next batch
            self.draining = True
        self._executor.submit(self._drain)

    def close(self) -> None:
        """Fail what is still queued, stop the rows being decoded, release the thread."""
        with self._lock:
            queued, self.pending = self.pending, []
        _fail(queued, EngineError("the LocalEngine was closed"))
        self.stopping = True
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- worker side ------------------------------------------------------------------------
    def _take_pending(self, used: int) -> list[Job]:
        """Queued jobs that fit the cache budget next to `used` slots (at least one if idle)."""
        taken = []
        with self._lock:
            while self.pending and (
                (not taken and not used) or used + self.pending[0].budget <= self.max_batch_tokens
            ):
                used += self.pending[0].budget
                taken.append(self.pending.pop(0))
        return [j for j in taken if j.future.set_running_or_notify_cancel()]

    def _drain(self) -> None:
        if self.blas_threads:
            set_blas_threads(self.blas_threads)
        while True:
            with self._lock:
                if not self.pending:
                    self.draining = False
                    return
            jobs = self._take_pending(0)
            if not jobs:
                continue
            admitted: list[Job] = []
            try:
                self._run_batch(jobs, admitted)
            except ThinkfastError as exc:
                _fail(admitted or jobs, exc)
            except Exception as exc:  # numpy or a bug: never leave a caller waiting
                _fail(
                    admitted or jobs,
                    EngineError(f"local engine failed: {type(exc).__name__}: {exc}"),
                )

    def _admit(self, batch: DecodeBatch, jobs: list[Job], admitted: list[Job]) -> np.ndarray:
        """Prefill jobs into the running batch; logits of their rows' first tokens."""
        rows = [open_rows(job, self.codec) for job in jobs]
        admitted.extend(jobs)
        logits = batch.admit(jobs, rows)
        start = time.perf_counter()
        for job in jobs:
            job.decode_start = start
        return logits

    def _run_batch(self, jobs: list[Job], admitted: list[Job]) -> None:
        """Decode until every row is done, admitting queued jobs at step boundaries.

        Continuous batching: a request that arrives while others decode joins them at the
        next step (its prompt prefilled then), instead of waiting for the batch to drain.
        """
        batch = DecodeBatch(self.model, self.prefix_cache)
        try:
            steps = self._decode(batch, jobs, admitted)
        finally:
            batch.release_all()  # a failed batch must not pin prefix-cache entries
        self.batch_log.append(
            BatchRecord(
                len(admitted),
                sum(j.request.n for j in admitted),
                steps,
                tuple(len(r.tokens) for j in admitted for r in j.rows),
            )
        )
        for job in admitted:
            if not job.future.done():
                self._complete(job)

    def _decode(self, batch: DecodeBatch, jobs: list[Job], admitted: list[Job]) -> int:
        """The decode loop of `_run_batch`; the number of steps it took."""
        logits = self._admit(batch, jobs, admitted)
        steps = 0
        while True:
            steps += 1
            # masked before sampling: seeded draws and logprobs see the constrained distribution
            apply_constraints(batch.rows, logits, self.eos_ids)
            tokens = choose(logits, batch.params)
            record_step(batch.rows, logits, tokens, self.eos_ids, self.stopping)
            alive = np.array([row.finish is None for row in batch.rows], dtype=bool)
            done = {row.job for row in batch.rows if row.finish is not None}
            done = [job for job in done if all(r.finish for r in job.rows)]
            batch.retire(np.flatnonzero(~alive))
            keep = batch.keep(np.flatnonzero(alive))  # reordered: holes filled from the tail
            for job in done:
                batch.release(job)
            if not len(batch):
                break  # the last jobs complete in _run_batch, after the batch is logged
            used = sum(job.budget for job in {row.job for row in batch.rows})
            joining = self._take_pending(used) if self.pending else []
            for job in done:
                self._complete(job)
            parts = [batch.step(tokens[keep])]
            if joining:  # admitted after the step: their first token comes from the prefill
                parts.append(self._admit(batch, joining, admitted))
            logits = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return steps

    def _complete(self, job: Job) -> None:
        complete(job, self.codec, self.eos_ids, self.model_name)


def _fail(jobs: list[Job], exc: BaseException) -> None:
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(exc)
