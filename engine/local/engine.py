"""LocalEngine: the Engine seam over the numpy runtime.

Owns the async bridge: requests are turned into jobs on the caller's side (tokenised and
validated, so bad input fails fast and typed) and handed to the scheduler's worker
thread; the caller awaits the job's future, or reads a stream of its text. Cancelling an
awaiting task sets the job's flag and its rows stop at the next decode step; the other
rows carry on.

Seeds: sample i of a request with seed s draws from `np.random.default_rng(s + i)`, so a
seeded request with n samples equals n single requests with seeds s, s+1, ..., s+n-1.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoint.loader import load_checkpoint
from ..checkpoint.record import Checkpoint
from ..errors import ContextLengthError, EngineError, InvalidRequestError
from ..hardware.stamping import EmulatedEngine
from ..types import Generation, GenerationRequest
from . import quant
from .blas import blas_threads_from
from .config import ModelArgs
from .model import Transformer
from .prefix_cache import DEFAULT_PREFIX_CACHE_BYTES, PrefixCache
from .scheduler import BatchRecord, Scheduler
from .sequence import Job
from .structured import ConstraintCompiler
from .tokenizer import TextCodec

__all__ = ["LocalEngine"]


class LocalEngine(EmulatedEngine):
    """Runs an HF Llama/Qwen2 checkpoint (or GGUF, or a bundled name) in-process with numpy."""

    def __init__(
        self,
        model: str | Path,
        *,
        hardware: Sequence[str] = ("cs3", "h100"),
        project_as: str | None = None,
        pace: str | None = None,
        max_batch_tokens: int = 65536,
        prefix_cache_bytes: int = DEFAULT_PREFIX_CACHE_BYTES,
        blas_threads: int | None = None,
        weights: str = "auto",
        activations: str = "int8x2",
    ) -> None:
        """`prefix_cache_bytes`: cap on the KV kept for reuse by later prompts (0: no prompt
        caching); `blas_threads`: numpy's BLAS threads while the engine computes (default
        $THINKFAST_BLAS_THREADS, else 1; docs/engine.md), also the quantized kernels' threads;
        `weights`: "auto" (GGUF blocks stay quantized, compiled kernels), "float32" (the
        numpy reference path) or "int8" (float checkpoints quantized too), docs/gguf.md;
        `activations`: how quantized weights multiply a step of 2+ rows, "int8x2" (8-bit
        integer products at float32's accuracy), "int8" (llama.cpp's, faster, ~1% error
        per product) or "float32" (docs/engine.md)."""
        if max_batch_tokens < 1:
            raise InvalidRequestError(f"max_batch_tokens must be >= 1, got {max_batch_tokens}")
        if isinstance(prefix_cache_bytes, bool) or not isinstance(prefix_cache_bytes, int):
            raise InvalidRequestError(
                f"prefix_cache_bytes must be a whole number of bytes, got {prefix_cache_bytes!r}"
            )
        if prefix_cache_bytes < 0:
            raise InvalidRequestError(
                f"prefix_cache_bytes must be >= 0 (0 turns prompt caching off), "
                f"got {prefix_cache_bytes}"
            )
        self.blas_threads = blas_threads_from(blas_threads)
        quant.check_activations(activations)  # before the minutes a load can take
        self.checkpoint: Checkpoint = load_checkpoint(model)
        self.args = ModelArgs.from_hf(self.checkpoint.config)
        quant.set_threads(self.blas_threads)
        self.model = Transformer(
            self.args, self.checkpoint.weights, weight_format=weights, activations=activations
        )
        self.codec = TextCodec(self.checkpoint)
        self.tokenizer = self.checkpoint.tokenizer
        self.model_name = self.checkpoint.name
        self.model_config = self.checkpoint.config
        self.context_length = self.args.max_seq_len
        self.hardware = tuple(hardware)
        self.project_as = project_as
        self.pace = pace
        self.eos_ids = np.array(self.checkpoint.eos_token_ids or [-1], dtype=np.int64)
        self.scheduler = Scheduler(
            self.model,
            self.codec,
            self.eos_ids,
            model_name=self.model_name,
            max_batch_tokens=max_batch_tokens,
            prefix_cache=PrefixCache(prefix_cache_bytes) if prefix_cache_bytes else None,
            blas_threads=self.blas_threads,
        )
        self.constraints = ConstraintCompiler(self.checkpoint, self.eos_ids)
        self._closed = False

    @property
    def prefix_cache(self) -> PrefixCache | None:
        """The prompt cache (None when prefix_cache_bytes=0); its stats are for reading."""
        return self.scheduler.prefix_cache

    @property
    def batch_log(self) -> deque[BatchRecord]:
        """What the last (up to 256) worker batches did: jobs, rows, steps, tokens per row."""
        return self.scheduler.batch_log

    # -- the seam ---------------------------------------------------------------------------
    def count_tokens(self, request: GenerationRequest) -> int:
        return len(self.codec.prompt_ids(request))

    async def _generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        jobs = [self._job(r) for r in requests]
        self.scheduler.submit(jobs)
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

        def deliver(item: str | None) -> None:
            # A stream cancelled mid-decode still gets one more step's delta from the
            # worker; if its loop has closed meanwhile (asyncio.run returned), drop it
            # rather than fail the worker's batch (asyncio.wrap_future does the same).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(queue.put_nowait, item)

        job = self._job(request, on_delta=deliver)
        job.future.add_done_callback(lambda _: deliver(None))
        self.scheduler.submit([job])
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
        self.scheduler.close()

    # -- caller side: validate -------------------------------------------------------------
    def _job(self, request: GenerationRequest, on_delta=None) -> Job:
        if self._closed:
            raise EngineError("this LocalEngine was closed; create a new one")
        if request.top_logprobs and not request.logprobs:
            raise InvalidRequestError("top_logprobs needs logprobs=true (as in the OpenAI API)")
        fmt = request.response_format  # JSON modes were read into request.constraint
        if fmt and fmt.get("type", "text") != "text":
            raise InvalidRequestError(
                f"response_format {fmt.get('type')!r} is not supported (accepted: text, "
                "json_object, json_schema; or a constraint: regex, choice, grammar)"
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
        # compiled here, on the caller's side, so a bad schema fails fast with a typed error
        matcher = self.constraints.matcher(request.constraint) if request.constraint else None
        return Job(
            request=request,
            prompt=prompt,
            future=Future(),
            on_delta=on_delta,
            matcher=matcher,
            banned_ids=self.constraints.banned_ids,
        )

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "architecture": self.args.architecture,
            "parameters": self.args.n_params,
            "context_length": self.context_length,
        }
