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
from .batch import DecodeBatch
from .checkpoint import Checkpoint
from .config import ModelArgs
from .errors import ContextLengthError, EngineError, InvalidRequestError, ThinkfastError
from .loader import load_checkpoint
from .model import Transformer
from .sampling import choose, log_softmax_at, top_alternatives
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
        self._stop_running = False
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

    async def _stream(self, request: GenerationRequest) -> AsyncIterator[str | Generation]:
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
            yield job.future.result()  # the Generation (or the worker's failure, re-raised)
        finally:
            job.cancelled = True  # the consumer stopped early, or we are done anyway

    def generate_stream_sync(self, request: GenerationRequest) -> list[str]:
        """Blocking helper for scripts: all deltas of a stream, in order."""

        async def collect() -> list[str]:
            return [d async for d in self.stream(request)]

        return asyncio.run(collect())

    async def aclose(self) -> None:
        """Refuse new work, fail what is still queued, stop the rows being decoded."""
        self._closed = True
        with self._lock:
            queued, self._pending = self._pending, []
        for job in queued:
            if not job.future.done():
                job.future.set_exception(EngineError("the LocalEngine was closed"))
        self._stop_running = True  # running rows finish at their next step
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
    def _take_pending(self, used: int) -> list[_Job]:
        """Queued jobs that fit the cache budget next to `used` slots (at least one if idle)."""
        taken = []
        with self._lock:
            while self._pending and (
                (not taken and not used) or used + self._pending[0].budget <= self.max_batch_tokens
            ):
                used += self._pending[0].budget
                taken.append(self._pending.pop(0))
        return [j for j in taken if j.future.set_running_or_notify_cancel()]

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._draining = False
                    return
            jobs = self._take_pending(0)
            if not jobs:
                continue
            admitted: list[_Job] = []
            try:
                self._run_batch(jobs, admitted)
            except ThinkfastError as exc:
                self._fail(admitted or jobs, exc)
            except Exception as exc:  # numpy or a bug: never leave a caller waiting
                err = EngineError(f"local engine failed: {type(exc).__name__}: {exc}")
                self._fail(admitted or jobs, err)

    @staticmethod
    def _fail(batch: list[_Job], exc: BaseException) -> None:
        for job in batch:
            if not job.future.done():
                job.future.set_exception(exc)

    def _admit(self, batch: DecodeBatch, jobs: list[_Job], admitted: list[_Job]) -> np.ndarray:
        """Prefill jobs into the running batch; logits of their rows' first tokens."""
        rows = []
        for job in jobs:
            job.rows = [
                _Row(job=job, max_tokens=job.request.max_tokens) for _ in range(job.request.n)
            ]
            if job.request.stop or job.on_delta is not None:
                for row in job.rows:
                    row.detok = IncrementalDetokenizer(self.codec)
            rows.append(job.rows)
        admitted.extend(jobs)
        logits = batch.admit(jobs, rows)
        start = time.perf_counter()
        for job in jobs:
            job.decode_start = start
        return logits

    def _run_batch(self, jobs: list[_Job], admitted: list[_Job]) -> None:
        """Decode until every row is done, admitting queued jobs at step boundaries.

        Continuous batching: a request that arrives while others decode joins them at the
        next step (its prompt prefilled then), instead of waiting for the batch to drain.
        """
        batch = DecodeBatch(self.model)
        logits = self._admit(batch, jobs, admitted)
        steps = 0
        while True:
            steps += 1
            tokens = choose(logits, batch.params)
            self._record(batch.rows, logits, tokens)
            alive = np.array([row.finish is None for row in batch.rows], dtype=bool)
            done = {row.job for row in batch.rows if row.finish is not None}
            done = [job for job in done if all(r.finish for r in job.rows)]
            keep = np.flatnonzero(alive)
            batch.keep(keep)
            if not len(batch):
                break  # the last jobs complete below, after the batch is logged
            used = sum(job.budget for job in {row.job for row in batch.rows})
            joining = self._take_pending(used) if self._pending else []
            for job in done:
                self._complete(job)
            parts = [batch.step(tokens[keep])]
            if joining:  # admitted after the step: their first token comes from the prefill
                parts.append(self._admit(batch, joining, admitted))
            logits = parts[0] if len(parts) == 1 else np.concatenate(parts)
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

    def _record(self, rows: list[_Row], logits: np.ndarray, tokens: np.ndarray) -> None:
        """Append each row's sampled token and logprob; decide which rows finish."""
        chosen, lse = log_softmax_at(logits, tokens)
        now = time.perf_counter()
        finished = (tokens[:, None] == self.eos_ids[None, :]).any(axis=1)
        for j, row in enumerate(rows):
            job = row.job
            tok = int(tokens[j])
            row.tokens.append(tok)
            row.logprobs.append(float(chosen[j]))
            if job.ttft_s is None:
                job.ttft_s = now - job.submitted
            if job.request.top_logprobs:
                row.top.append(top_alternatives(logits[j], float(lse[j]), job.request.top_logprobs))
            if finished[j]:
                row.finish = "stop"
            elif row.detok is not None and self._feed_text(row, tok):
                row.finish = "stop"
            elif len(row.tokens) >= row.max_tokens or job.cancelled or self._stop_running:
                row.finish = "length"
            if row.finish and row.detok is not None and job.on_delta is not None:
                self._emit(row, final=True)

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
