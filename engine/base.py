"""The Engine seam: `async generate(requests) -> list[Generation]` and `stream(request)`.

Every backend (the local numpy runtime, remote OpenAI-compatible servers) implements
`_generate` and `_stream`; the public methods here validate nothing twice and stamp each
generation with the emulated timing of the hardware profiles the engine projects onto.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .types import Generation, GenerationRequest

__all__ = ["Engine"]


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
        generations = await self._generate(requests)
        self._stamp_emulated(requests, generations)
        return generations

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        """Yield the text of one sample (n must be 1) as it is decoded, in deltas."""
        async for delta in self._stream(request):
            yield delta

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

    def _stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        raise NotImplementedError

    def _stamp_emulated(
        self, requests: list[GenerationRequest], generations: list[Generation]
    ) -> None:
        """Fill `timing.emulated` for each generation (the hardware emulator hooks in here)."""

    def describe(self) -> dict[str, Any]:
        return {"engine": type(self).__name__, "model": self.model_name}
