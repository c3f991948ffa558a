"""LocalEngine: the Engine seam over the numpy runtime, with request coalescing.

Owns scheduling: requests are turned into jobs on the caller's side (tokenised and
validated, so bad input fails fast and typed), queued, and run on ONE worker thread
(numpy releases the GIL, the event loop stays free). Whatever arrives while the worker
is busy is coalesced into the next batch. A job's rows (its n samples) share one prefill;
all rows of a batch decode together. Cancelling an awaiting task sets the job's flag and
its rows stop at the next decode step; the other rows carry on.

Seeds: sample i of a request with seed s draws from `np.random.default_rng(s + i)`, so a
seeded request with n samples equals n single requests with seeds s, s+1, ..., s+n-1.
Stop strings are cut from the text (as OpenAI does) but the tokens that made them stay in
`token_ids` and in the usage count; an eos token ends a sample and is kept in `token_ids`
but never rendered into the text.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .base import Engine
from .checkpoint import Checkpoint
from .config import ModelArgs
from .errors import ContextLengthError, EngineError, InvalidRequestError, ThinkfastError
from .loader import load_checkpoint
from .model import KVCache, Transformer
from .sampling import SamplingParams, choose, log_softmax_at, top_alternatives
from .tokenizer import IncrementalDetokenizer, TextCodec
from .types import Generation, GenerationRequest, Sample, Timing, TokenLogprob, TopLogprob, Usage

__all__ = ["LocalEngine", "BatchRecord"]


@dataclass(frozen=True)
class BatchRecord:
    """What one worker batch did (kept in `LocalEngine.batch_log` for tests and tuning)."""

    jobs: int
    rows: int
    steps: int
    tokens_per_row: tuple[int, ...]


@dataclass(eq=False)  # identity semantics: jobs go in sets
class _Job:
    """One request on its way through the worker: inputs, results, and timing."""

    request: GenerationRequest
    prompt: np.ndarray  # [T] token ids
    future: Future
    on_delta: Callable[[str], None] | None = None  # streaming: called from the worker
    cancelled: bool = False
    submitted: float = field(default_factory=time.perf_counter)
    prefill_s: float = 0.0
    ttft_s: float | None = None
    decode_start: float = 0.0
    decode_s: float = 0.0
    rows: list[_Row] = field(default_factory=list)

    @property
    def budget(self) -> int:
        """Cache slots the job occupies: its rows times the longest sequence they reach."""
        return self.request.n * (len(self.prompt) + self.request.max_tokens)


@dataclass(eq=False)
class _Row:
    """One sample being decoded."""

    job: _Job
    max_tokens: int
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    top: list[list[tuple[int, float]]] = field(default_factory=list)
    finish: str | None = None
    detok: IncrementalDetokenizer | None = None  # only for stop strings or streaming
    text: str | None = None  # final text when a stop string cut it
    streamed: int = 0  # characters of detok.text already sent


class LocalEngine(Engine):
    """Runs an HF Llama/Qwen2 checkpoint (or GGUF, or a bundled name) in-process with numpy."""

    def __init__(
        self,
        model: str | Path,
        *,
        hardware: Sequence[str] = ("cs3", "h100"),
        project_as: str | None = None,
        pace: str | None = None,
        max_batch_tokens: int = 65536,
    ) -> None:
        if max_batch_tokens < 1:
            raise InvalidRequestError(f"max_batch_tokens must be >= 1, got {max_batch_tokens}")
        self.checkpoint: Checkpoint = load_checkpoint(model)
        self.args = ModelArgs.from_hf(self.checkpoint.config)
        self.model = Transformer(self.args, self.checkpoint.weights)
        self.codec = TextCodec(self.checkpoint)
        self.tokenizer = self.checkpoint.tokenizer
        self.model_name = self.checkpoint.name
        self.model_config = self.checkpoint.config
        self.context_length = self.args.max_seq_len
        self.hardware = tuple(hardware)
        self.project_as = project_as
        self.pace = pace
        self.max_batch_tokens = max_batch_tokens
        self.eos_ids = np.array(self.checkpoint.eos_token_ids or [-1], dtype=np.int64)
        self._pending: list[_Job] = []
        self._lock = threading.Lock()
        self._draining = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="thinkfast-engine")
        self._closed = False
        self.batch_log: deque[BatchRecord] = deque(maxlen=256)

    # -- the seam ---------------------------------------------------------------------------
    def count_tokens(self, request: GenerationRequest) -> int:
        return len(self.codec.prompt_ids(request))

    async def _generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        jobs = [self._job(r) for r in requests]
        self._submit(jobs)
        try:
            return list(await asyncio.gather(*(asyncio.wrap_future(j.future) for j in jobs)))
        except BaseException:
            for job in jobs:  # cancelled (or a sibling failed): stop decoding for them
                job.cancelled = True
            raise

    async def _stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        if request.n != 1:
            raise InvalidRequestError(f"stream() takes one sample (n=1), got n={request.n}")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        job = self._job(request, on_delta=lambda d: loop.call_soon_threadsafe(queue.put_nowait, d))
        job.future.add_done_callback(lambda _: loop.call_soon_threadsafe(queue.put_nowait, None))
        self._submit([job])
        try:
            while (delta := await queue.get()) is not None:
                yield delta
            job.future.result()  # re-raise a failure of the worker
        finally:
            job.cancelled = True  # the consumer stopped early, or we are done anyway

    def generate_stream_sync(self, request: GenerationRequest) -> list[str]:
        """Blocking helper for scripts: all deltas of a stream, in order."""

        async def collect() -> list[str]:
            return [d async for d in self.stream(request)]

        return asyncio.run(collect())

    async def aclose(self) -> None:
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- caller side: validate and queue ----------------------------------------------------
    def _job(self, request: GenerationRequest, on_delta=None) -> _Job:
        if self._closed:
            raise EngineError("this LocalEngine was closed; create a new one")
        if request.top_logprobs and not request.logprobs:
            raise InvalidRequestError("top_logprobs needs logprobs=true (as in the OpenAI API)")
        fmt = request.response_format
        if fmt and fmt.get("type", "text") != "text":
            raise InvalidRequestError(
                f"LocalEngine does not constrain output; response_format {fmt.get('type')!r} is "
                "not supported (accepted: none or {'type': 'text'})"
            )
        prompt = np.array(self.codec.prompt_ids(request), dtype=np.int64)
        if len(prompt) == 0:
            raise InvalidRequestError("the prompt encodes to zero tokens; give a non-empty prompt")
        total = len(prompt) + request.max_tokens
        if total > self.context_length:
            raise ContextLengthError(
                f"prompt ({len(prompt)} tokens) + max_tokens ({request.max_tokens}) = {total} "
                f"exceeds the context length of {self.model_name} ({self.context_length} tokens); "
                "shorten the prompt or lower max_tokens"
            )
        return _Job(request=request, prompt=prompt, future=Future(), on_delta=on_delta)

    def _submit(self, jobs: list[_Job]) -> None:
        with self._lock:
            self._pending.extend(jobs)
            if self._draining:
                return  # the worker picks them up with its next batch
            self._draining = True
        self._executor.submit(self._drain)

    # -- worker side ------------------------------------------------------------------------
    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._draining = False
                    return
                batch, used = [], 0
                while self._pending and (
                    not batch or used + self._pending[0].budget <= self.max_batch_tokens
                ):
                    used += self._pending[0].budget
                    batch.append(self._pending.pop(0))
            batch = [j for j in batch if j.future.set_running_or_notify_cancel()]
            try:
                self._run_batch(batch)
            except ThinkfastError as exc:
                self._fail(batch, exc)
            except Exception as exc:  # numpy or a bug: never leave a caller waiting
                self._fail(batch, EngineError(f"local engine failed: {type(exc).__name__}: {exc}"))

    @staticmethod
    def _fail(batch: list[_Job], exc: BaseException) -> None:
        for job in batch:
            if not job.future.done():
                job.future.set_exception(exc)

    def _run_batch(self, jobs: list[_Job]) -> None:
        if not jobs:
            return
        n_rows = sum(j.request.n for j in jobs)
        max_len = max(len(j.prompt) + j.request.max_tokens for j in jobs)
        cache = self.model.new_cache(n_rows, max_len)
        rows: list[_Row] = []
        first_logits, positions = [], []
        seeds, temps, top_p, top_k = [], [], [], []
        for job in jobs:
            req = job.request
            t0 = time.perf_counter()
            logits = self.model.prefill(job.prompt, cache, len(rows))  # [V]: prompt prefilled once
            cache.copy_row(len(rows), slice(len(rows) + 1, len(rows) + req.n), len(job.prompt))
            job.prefill_s = time.perf_counter() - t0
            for i in range(req.n):
                row = _Row(job=job, max_tokens=req.max_tokens)
                if req.stop or job.on_delta is not None:
                    row.detok = IncrementalDetokenizer(self.codec)
                job.rows.append(row)
                rows.append(row)
                first_logits.append(logits)
                positions.append(len(job.prompt))
                seeds.append(None if req.seed is None else req.seed + i)
                temps.append(req.temperature)
                top_p.append(req.top_p)
                top_k.append(req.top_k)
        params = SamplingParams(
            temperature=np.array(temps, dtype=np.float32),
            top_p=np.array(top_p, dtype=np.float32),
            top_k=np.array(top_k, dtype=np.int64),
            rngs=[np.random.default_rng(s) for s in seeds],
        )
        decode_start = time.perf_counter()
        for job in jobs:
            job.decode_start = decode_start
        steps = self._decode(
            np.stack(first_logits), np.array(positions, dtype=np.int64), cache, rows, params
        )
        self.batch_log.append(
            BatchRecord(len(jobs), len(rows), steps, tuple(len(r.tokens) for r in rows))
        )
        for job in jobs:
            if not job.future.done():
                self._complete(job)

    def _decode(
        self,
        logits: np.ndarray,
        positions: np.ndarray,
        cache: KVCache,
        rows: list[_Row],
        params: SamplingParams,
    ) -> int:
        """Sample, record, finish, and step the model until every row is done; returns steps."""
        live = np.arange(len(rows))  # cache row of each still-running sample, in order
        want_top = max((r.job.request.top_logprobs for r in rows), default=0)
        steps = 0
        while True:
            steps += 1
            tokens = choose(logits, params)
            chosen, lse = log_softmax_at(logits, tokens)
            now = time.perf_counter()
            finished = (tokens[:, None] == self.eos_ids[None, :]).any(axis=1)
            for j, row in enumerate(rows[r] for r in live):
                job = row.job
                tok = int(tokens[j])
                row.tokens.append(tok)
                row.logprobs.append(float(chosen[j]))
                if job.ttft_s is None:
                    job.ttft_s = now - job.submitted
                if want_top and job.request.top_logprobs:
                    row.top.append(
                        top_alternatives(logits[j], float(lse[j]), job.request.top_logprobs)
                    )
                if finished[j]:
                    row.finish = "stop"
                elif row.detok is not None and self._feed_text(row, tok):
                    row.finish = "stop"
                elif len(row.tokens) >= row.max_tokens:
                    row.finish = "length"
                elif job.cancelled:
                    row.finish = "length"
                if row.finish and row.detok is not None and job.on_delta is not None:
                    self._emit(row, final=True)
            still = np.array([rows[r].finish is None for r in live], dtype=bool)
            if not still.any():
                return steps  # the caller completes the last jobs after logging the batch
            for job in {rows[r].job for r in live[~still]}:
                if all(r.finish for r in job.rows):
                    self._complete(job)
            keep = np.flatnonzero(still)
            if len(keep) < len(live):
                # Drop finished rows from the batch (their cache rows are squeezed out).
                cache = cache.keep_rows(keep, int(positions[keep].max()))
                live, positions, tokens = live[keep], positions[keep], tokens[keep]
                params = params.take(keep)
            logits = self.model.decode(tokens, positions, cache)  # feed each row's new token
            positions = positions + 1

    def _feed_text(self, row: _Row, tok: int) -> bool:
        """Extend the row's text; True when a stop string appeared (the text is cut there)."""
        detok = row.detok
        assert detok is not None
        if tok in self.eos_ids:
            return False
        before = len(detok.text)
        detok.push(tok)
        stops = row.job.request.stop
        if stops:
            # A stop string not seen before must end in the new text: search only the tail.
            start = max(0, before - max(len(s) for s in stops) + 1)
            hits = [i for i in (detok.text.find(s, start) for s in stops) if i >= 0]
            if hits:
                row.text = detok.text[: min(hits)]
                return True
        if row.job.on_delta is not None:
            self._emit(row, final=False)
        return False

    @staticmethod
    def _emit(row: _Row, *, final: bool) -> None:
        """Send new streamed text, holding back a tail that may be the start of a stop string."""
        detok = row.detok
        assert detok is not None
        text = row.text if row.text is not None else detok.text
        if final and row.text is None:
            text += detok.flush()
        end = len(text)
        if not final:
            for stop in row.job.request.stop:
                for k in range(min(len(stop) - 1, len(text)), 0, -1):
                    if text.endswith(stop[:k]):
                        end = min(end, len(text) - k)
                        break
        if end > row.streamed:
            row.job.on_delta(text[row.streamed : end])  # type: ignore[misc]
            row.streamed = end

    def _complete(self, job: _Job) -> None:
        done = time.perf_counter()
        req = job.request
        eos = set(self.eos_ids.tolist())
        samples = []
        for row in job.rows:
            text = row.text
            if text is None:
                text = self.codec.decode([t for t in row.tokens if t not in eos])
            logprobs = None
            if req.logprobs:
                logprobs = [
                    TokenLogprob(
                        token=self.codec.token_text(t),
                        token_id=t,
                        logprob=lp,
                        top_logprobs=[
                            TopLogprob(token=self.codec.token_text(a), token_id=a, logprob=alp)
                            for a, alp in (row.top[i] if row.top else [])
                        ],
                    )
                    for i, (t, lp) in enumerate(zip(row.tokens, row.logprobs, strict=True))
                ]
            samples.append(
                Sample(
                    text=text,
                    token_ids=row.tokens,
                    finish_reason=row.finish or "length",
                    cumulative_logprob=float(sum(row.logprobs)),
                    logprobs=logprobs,
                )
            )
        generation = Generation(
            model=self.model_name,
            samples=samples,
            usage=Usage(
                prompt_tokens=len(job.prompt),
                completion_tokens=sum(len(r.tokens) for r in job.rows),
            ),
            timing=Timing(
                wall_s=done - job.submitted,
                prefill_s=job.prefill_s,
                decode_s=done - job.decode_start,
                ttft_s=job.ttft_s,
            ),
        )
        if not job.future.done():
            job.future.set_result(generation)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "architecture": self.args.architecture,
            "parameters": self.args.n_params,
            "context_length": self.context_length,
        }
