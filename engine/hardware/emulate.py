"""Emulating one engine call: what the same prompts and samples would take on a profile.

Owns the bridge between the Engine seam and the pure timing functions: choosing the
spec to project (the engine's `project_as`, else its running model's HF config, else a
remote engine's `model_spec`), checking the profile names, turning a generate() call's
real token counts into per-generation seconds, and the per-token schedule that paced
streaming follows.

One generate() call is emulated as a serving system would run it: every request's
uncached prompt tokens are prefilled together, then all samples of all requests decode
as one batch that shrinks as samples finish; a generation's emulated seconds are the
prefill plus the decode steps until its own last sample ends. A sample of m tokens
needs m - 1 decode steps (its first token is sampled from the prefill's logits).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import HardwareError
from .model_spec import ModelSpec, get_spec
from .placement import place
from .profiles import HardwareProfile, get_profile
from .timing import decode_step_s, prefill_s

__all__ = [
    "CallShape",
    "emulate_call",
    "resolve_emulation",
    "engine_spec",
    "PaceSchedule",
    "pace_schedule",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallShape:
    """The real token counts of one request in a call: its prompt and each sample's length."""

    prompt_tokens: int
    cached_tokens: int
    completion_tokens: tuple[int, ...]  # one entry per sample (n of them)


def emulate_call(
    spec: ModelSpec, profile: HardwareProfile, shapes: Sequence[CallShape]
) -> list[float]:
    """Emulated seconds until each request of one call is complete, on `profile`."""
    if not shapes:
        return []
    prompts = np.array([s.prompt_tokens for s in shapes], dtype=float)
    cached = np.minimum(np.array([s.cached_tokens for s in shapes], dtype=float), prompts)
    # every sample of every request: its request's prompt length and its own length
    owner = np.concatenate([np.full(len(s.completion_tokens), i) for i, s in enumerate(shapes)])
    lengths = np.concatenate([np.asarray(s.completion_tokens, dtype=float) for s in shapes])
    start = prompts[owner] if owner.size else np.zeros(0)
    longest = int(lengths.max()) if lengths.size else 0
    batch = max(1, lengths.size)
    placement = place(
        spec, profile, batch=batch, context=max(1, int((start + lengths).max(initial=1)))
    )
    t_prefill = prefill_s(spec, profile, placement, prompts - cached, cached)

    steps = np.arange(1, max(longest, 1))  # decode step k feeds token k, k = 1 .. longest-1
    if steps.size:
        alive = lengths[None, :] > steps[:, None]  # [steps, samples]
        live = alive.sum(axis=1)
        ctx = (alive * (start[None, :] + steps[:, None])).sum(axis=1) / np.maximum(live, 1)
        t_step = np.where(
            live > 0, decode_step_s(spec, profile, placement, np.maximum(live, 1), ctx), 0.0
        )
        elapsed = np.concatenate([[0.0], np.cumsum(t_step)])
    else:
        elapsed = np.zeros(1)
    out = []
    for s in shapes:
        last = max(s.completion_tokens, default=0)
        out.append(float(t_prefill + elapsed[max(0, min(last - 1, elapsed.size - 1))]))
    return out


def engine_spec(engine: Any) -> ModelSpec | None:
    """The spec an engine projects: `project_as`, else its HF config, else `model_spec`."""
    project_as = getattr(engine, "project_as", None)
    if project_as:
        return get_spec(project_as)
    config = getattr(engine, "model_config", None)
    if config:
        try:
            return ModelSpec.from_config(config, name=getattr(engine, "model_name", None))
        except HardwareError as exc:
            # The model runs, so its generations must not fail for want of a projection:
            # they go without emulated timings (project_as still raises, it was asked for).
            log.warning("cannot project the running model, no emulated timings: %s", exc)
            return None
    spec = getattr(engine, "model_spec", None)
    if spec:
        return get_spec(spec)
    return None


def resolve_emulation(engine: Any) -> tuple[ModelSpec | None, list[HardwareProfile]]:
    """Check an engine's emulation settings before it spends time generating.

    Raises HardwareError for an unknown profile, pace profile or projected model; returns
    (None, profiles) when the engine's model is unknown (a remote model nobody named), in
    which case generations carry no emulated timings.
    """
    names = getattr(engine, "hardware", ()) or ()
    if isinstance(names, str):
        names = (names,)
    profiles = [get_profile(n) for n in names]
    pace = getattr(engine, "pace", None)
    if pace:
        get_profile(pace)
    spec = engine_spec(engine)
    if spec is None and profiles:
        log.debug("no model spec for %r: emulated timings left empty", engine)
    return spec, profiles


def shapes_of(requests: Sequence[Any], generations: Sequence[Any]) -> list[CallShape]:
    """Token counts of each (request, generation) pair as the engine reported them."""
    shapes = []
    for req, gen in zip(requests, generations, strict=True):
        usage = gen.usage
        lengths = [len(s.token_ids) for s in gen.samples]
        if not any(lengths) and usage.completion_tokens:
            # remote engines may not return token ids: spread the counted tokens evenly
            n = max(1, len(gen.samples) or req.n)
            lengths = [usage.completion_tokens // n] * n
        shapes.append(CallShape(usage.prompt_tokens, usage.cached_tokens, tuple(lengths)))
    return shapes


@dataclass(frozen=True)
class PaceSchedule:
    """When the k-th streamed token may be shown: `ttft_s + k * step_s` after the start."""

    profile: str
    ttft_s: float
    step_s: float

    def due_s(self, k: int) -> float:
        return self.ttft_s + k * self.step_s


def pace_schedule(engine: Any, prompt_tokens: int, max_tokens: int) -> PaceSchedule | None:
    """The schedule `stream` follows when `engine.pace` names a profile (None otherwise).

    Decode speed is taken at the middle of the reply's context range, a constant rate that
    keeps the stream smooth.
    """
    pace = getattr(engine, "pace", None)
    if not pace:
        return None
    profile = get_profile(pace)
    spec = engine_spec(engine)
    if spec is None:
        raise HardwareError(
            f"pace={pace!r} needs a model to project: set project_as or a model spec"
        )
    context = max(1, prompt_tokens + max_tokens // 2)
    placement = place(spec, profile, batch=1, context=max(1, prompt_tokens + max_tokens))
    return PaceSchedule(
        profile=profile.name,
        ttft_s=prefill_s(spec, profile, placement, [prompt_tokens]),
        step_s=decode_step_s(spec, profile, placement, 1, context),
    )
