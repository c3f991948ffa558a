"""The Engine seam: `async generate(requests) -> list[Generation]` and `stream(request)`.

Every backend (the local numpy runtime, remote OpenAI-compatible servers) implements
`_generate` and `_stream`; the public methods here validate nothing twice and stamp each
generation with the emulated timing of the hardware profiles the engine projects onto.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .errors import EngineError
from .hardware.emulate import emulate_call, pace_schedule, resolve_emulation, shapes_of
from .types import Generation, GenerationRequest

__all__ = ["Engine", "TextStream"]


class TextStream:
    """An async iterator of text deltas whose `generation` is set when it ends.

    The backend stream yields deltas and then the sample's Generation; this hands out
    the deltas and keeps the Generation, so `async for delta in engine.stream(r)` reads
    text only and the exact usage is there afterwards (None if the stream was closed
    early or failed).
    """

    def __init__(self, items: AsyncIterator[str | Generation]) -> None:
        self._items = items
        self.generation: Generation | None = None

    def __aiter__(self) -> TextStream:
        return self

    async def __anext__(self) -> str:
        item = await self._items.__anext__()
        if isinstance(item, Generation):
            self.generation = item
            await self.aclose()
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        await self._items.aclose()


class Engine:
    """Base class of every engine. Subclasses implement `_generate` and `_stream`.

    `model_name` names the model that runs; `context_length` is its window in tokens
    (None when unknown, e.g. a remote server that does not say).
    """

    model_name: str = "unknown"
    context_length: int | None = None
    # Emulation settings (the hardware emulator reads them in `_stamp_emulated`/`stream`):
    hardware: tuple[str, ...] = ("cs3", "h100")  # profiles to project every call onto
    project_as: str | None = None  # model spec name to project onto; None = the model that runs
    pace: str | None = None  # stream no faster than this profile's emulated rate
    model_config: dict[str, Any] | None = None  # HF config of the model that runs, if known

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Run the requests together (one batch where the backend allows it)."""
        requests = list(requests)
        if not requests:
            return []
        resolve_emulation(self)  # unknown profile/model names fail before any work is done
        generations = await self._generate(requests)
        self._stamp_emulated(requests, generations)
        return generations

    def stream(self, request: GenerationRequest) -> TextStream:
        """The text of one sample (n must be 1) as it is decoded, in deltas.

        Iterate it for the deltas; once it is exhausted, `.generation` holds the same
        Generation `generate` would have returned (exact token counts, finish reason,
        timing, emulated timing). With `pace` set, delta k is held back until
        `ttft + k * step` of that profile's emulated timing has passed, so the stream
        feels like the target hardware.
        """
        return TextStream(self._paced(request))

    async def _paced(self, request: GenerationRequest) -> AsyncIterator[str | Generation]:
        schedule = None
        if self.pace:
            resolve_emulation(self)
            schedule = pace_schedule(self, self.count_tokens(request), request.max_tokens)
        loop = asyncio.get_running_loop()
        start = loop.time()
        k = 0
        async for delta in self._stream(request):
            if isinstance(delta, Generation):  # the backend's last item
                self._stamp_emulated([request], [delta])
                yield delta
                return
            if schedule is not None:
                wait = start + schedule.due_s(k) - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                k += 1
            yield delta
        raise EngineError(
            f"{type(self).__name__}._stream ended without its Generation; a backend stream "
            "yields text deltas and then the sample's Generation"
        )

    def generate_sync(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Blocking convenience wrapper for scripts and notebooks without a loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.generate(requests))
        raise RuntimeError("generate_sync called inside a running event loop; await generate()")

    def count_tokens(self, request: GenerationRequest) -> int:
        """Prompt tokens of a request; engines with a tokenizer override this exactly."""
        if request.prompt_ids is not None:
            return len(request.prompt_ids)
        text = request.prompt or "".join(m.content for m in request.messages or [])
        return max(1, len(text) // 4)

    async def aclose(self) -> None:
        """Release pooled connections or threads; the engine is unusable afterwards."""

    # -- implemented by backends -------------------------------------------------------
    async def _generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        raise NotImplementedError

    def _stream(self, request: GenerationRequest) -> AsyncIterator[str | Generation]:
        """Text deltas of one sample, then its Generation as the last item."""
        raise NotImplementedError

    def _stamp_emulated(
        self, requests: list[GenerationRequest], generations: list[Generation]
    ) -> None:
        """Fill `timing.emulated[profile]` for each generation from its real token counts.

        All requests of one call decode together as one batch (see hardware.emulate).
        """
        spec, profiles = resolve_emulation(self)
        if spec is None or not profiles:
            return
        shapes = shapes_of(requests, generations)
        for profile in profiles:
            for gen, seconds in zip(generations, emulate_call(spec, profile, shapes), strict=True):
                gen.timing.emulated[profile.name] = seconds

    def describe(self) -> dict[str, Any]:
        return {"engine": type(self).__name__, "model": self.model_name}
