"""What `thinkfast serve` sends back: completion and chat bodies, stream chunks, usage.

Beyond OpenAI's schema, each choice carries `token_ids` (as vLLM does), each response a
`thinkfast` object with the timing (wall, prefill, decode, TTFT, and `emulated` seconds
per hardware profile); OpenAI clients ignore both. JSON has no infinities, so `dumps`
makes non-finite floats finite.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from typing import Any

from thinkfast.engine.types import Generation, GenerationRequest, Sample, TokenLogprob

__all__ = [
    "chat_response",
    "chunk",
    "completion_response",
    "dumps",
    "envelope",
    "new_id",
    "thinkfast_json",
    "usage_json",
]


def _finite(value: Any) -> Any:
    """JSON has no infinities: a -inf logprob (a token outside top-p) becomes -9999.0."""
    if isinstance(value, float) and not math.isfinite(value):
        return -9999.0 if value < 0 else 9999.0
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def dumps(obj: Any) -> str:
    """Compact JSON for the wire, with non-finite floats made finite."""
    try:
        return json.dumps(obj, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(_finite(obj), allow_nan=False, separators=(",", ":"))


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage_json(prompt: int, completion: int, cached: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def envelope(
    *, chat: bool, model: str, choices: list[dict[str, Any]], usage: dict[str, Any], extra: Any
) -> dict[str, Any]:
    """The body around the choices, the same for plain and scaffolded answers."""
    return {
        "id": new_id("chatcmpl" if chat else "cmpl"),
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage,
        "system_fingerprint": None,
        "thinkfast": extra,
    }


def thinkfast_json(generations: list[Generation]) -> dict[str, Any]:
    """The extra `thinkfast` object: the timing of the (first) generation, and the
    emulated seconds summed per profile when several prompts were served together."""
    first = generations[0].timing.model_dump()
    if len(generations) > 1:
        profiles = {p for g in generations for p in g.timing.emulated}
        first["emulated"] = {
            p: sum(g.timing.emulated.get(p, 0.0) for g in generations) for p in sorted(profiles)
        }
        first["wall_s"] = max(g.timing.wall_s for g in generations)
    return {"timing": first}


def _token_bytes(token: str) -> list[int]:
    return list(token.encode("utf-8", errors="replace"))


def _chat_logprobs(sample: Sample) -> dict[str, Any] | None:
    if sample.logprobs is None:
        return None
    return {
        "content": [
            {
                "token": lp.token,
                "logprob": lp.logprob,
                "bytes": _token_bytes(lp.token),
                "token_id": lp.token_id,
                "top_logprobs": [
                    {"token": t.token, "logprob": t.logprob, "bytes": _token_bytes(t.token)}
                    for t in lp.top_logprobs
                ],
            }
            for lp in sample.logprobs
        ],
        "refusal": None,
    }


def _completion_logprobs(
    logprobs: list[TokenLogprob] | None, want_top: bool
) -> dict[str, Any] | None:
    if logprobs is None:
        return None
    offsets, at = [], 0
    for lp in logprobs:
        offsets.append(at)
        at += len(lp.token)
    return {
        "tokens": [lp.token for lp in logprobs],
        "token_logprobs": [lp.logprob for lp in logprobs],
        "top_logprobs": [{t.token: t.logprob for t in lp.top_logprobs} for lp in logprobs]
        if want_top
        else None,
        "text_offset": offsets,
    }


def chat_response(model: str, generation: Generation) -> dict[str, Any]:
    choices = [
        {
            "index": i,
            "message": {"role": "assistant", "content": s.text},
            "logprobs": _chat_logprobs(s),
            "finish_reason": s.finish_reason,
            "token_ids": s.token_ids,
        }
        for i, s in enumerate(generation.samples)
    ]
    u = generation.usage
    return envelope(
        chat=True,
        model=model,
        choices=choices,
        usage=usage_json(u.prompt_tokens, u.completion_tokens, u.cached_tokens),
        extra=thinkfast_json([generation]),
    )


def completion_response(
    model: str, generations: list[Generation], requests: list[GenerationRequest]
) -> dict[str, Any]:
    choices = []
    # OpenAI numbers choices prompt-major: prompt p, sample j -> index p * n + j
    for generation, request in zip(generations, requests, strict=True):
        for s in generation.samples:
            choices.append(
                {
                    "index": len(choices),
                    "text": s.text,
                    "logprobs": _completion_logprobs(s.logprobs, request.top_logprobs > 0),
                    "finish_reason": s.finish_reason,
                    "token_ids": s.token_ids,
                }
            )
    prompt = sum(g.usage.prompt_tokens for g in generations)
    completion = sum(g.usage.completion_tokens for g in generations)
    cached = sum(g.usage.cached_tokens for g in generations)
    return envelope(
        chat=False,
        model=model,
        choices=choices,
        usage=usage_json(prompt, completion, cached),
        extra=thinkfast_json(generations),
    )


def chunk(
    *,
    chat: bool,
    ident: str,
    created: int,
    model: str,
    choices: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One stream event in OpenAI's chunk format."""
    out: dict[str, Any] = {
        "id": ident,
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        out["usage"] = usage
    if extra:
        out.update(extra)
    return out
