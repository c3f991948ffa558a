"""The Engine seam: `async generate(requests) -> list[Generation]` and `stream(request)`.

The interface only, as httpx's `_transports/base.py` is: what every engine offers and
what a caller may rely on. The backends (`local.LocalEngine`, `remote.OpenAIEngine`)
build on `hardware.stamping.EmulatedEngine`, which implements both methods once and
stamps each generation with the emulated timing of the hardware profiles it projects onto.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

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
    """What every engine offers. `generate` and `stream` are the two methods to implement.

    `model_name` names the model that runs; `context_length` is its window in tokens
    (None when unknown, e.g. a remote server that does not say).
    """

    model_name: str = "unknown"
    context_length: int | None = None
    # Emulation settings, read by the hardware emulator (engine.hardware):
    hardware: tuple[str, ...] = ("cs3", "h100")  # profiles to project every call onto
    project_as: str | None = None  # model spec name to project onto; None = the model that runs
    pace: str | None = None  # stream no faster than this profile's emulated rate
    model_config: dict[str, Any] | None = None  # HF config of the model that runs, if known

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Run the requests together (one batch where the backend allows it).

        One Generation per request, in order, each with `timing.emulated` filled for
        the engine's hardware profiles.
        """
        raise NotImplementedError

    def stream(self, request: GenerationRequest) -> TextStream:
        """The text of one sample (n must be 1) as it is decoded, in deltas.

        Iterate it for the deltas; once it is exhausted, `.generation` holds the same
        Generation `generate` would have returned (exact token counts, finish reason,
        timing, emulated timing).
        """
        raise NotImplementedError

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

    def describe(self) -> dict[str, Any]:
        return {"engine": type(self).__name__, "model": self.model_name}
