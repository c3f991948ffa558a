"""EmulatedEngine: `generate` and `stream` implemented once, with emulated timing stamped on.

Backends subclass it and implement `_generate` and `_stream`; this checks the emulation
settings before any work is done, fills `timing.emulated[profile]` of every Generation
from its real token counts (all requests of one call decode together as one batch, see
`emulate`), and, with `pace` set, holds each streamed delta back until the target
hardware would have produced it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from ..base import Engine, TextStream
from ..errors import EngineError
from ..types import Generation, GenerationRequest
from .emulate import emulate_call, pace_schedule, resolve_emulation, shapes_of

__all__ = ["EmulatedEngine", "stamp_emulated"]


def stamp_emulated(
    engine: Engine, requests: list[GenerationRequest], generations: list[Generation]
) -> None:
    """Fill `timing.emulated[profile]` of each generation for the engine's profiles."""
    spec, profiles = resolve_emulation(engine)
    if spec is None or not profiles:
        return
    shapes = shapes_of(requests, generations)
    for profile in profiles:
        for gen, seconds in zip(generations, emulate_call(spec, profile, shapes), strict=True):
            gen.timing.emulated[profile.name] = seconds


class EmulatedEngine(Engine):
    """Base class of the backends: they implement `_generate` and `_stream`."""

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        requests = list(requests)
        if not requests:
            return []
        resolve_emulation(self)  # unknown profile/model names fail before any work is done
        generations = await self._generate(requests)
        stamp_emulated(self, requests, generations)
        return generations

    def stream(self, request: GenerationRequest) -> TextStream:
        """See Engine.stream; with `pace` set, delta k is held back until `ttft + k * step`
        of that profile's emulated timing has passed, so the stream feels like the target
        hardware."""
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
                stamp_emulated(self, [request], [delta])
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

    # -- implemented by backends -------------------------------------------------------
    async def _generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        raise NotImplementedError

    def _stream(self, request: GenerationRequest) -> AsyncIterator[str | Generation]:
        """Text deltas of one sample, then its Generation as the last item."""
        raise NotImplementedError
