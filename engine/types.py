"""The data that crosses the Engine seam: requests in, generations out.

Plain pydantic models so that every engine (local numpy runtime, remote OpenAI-compatible
server) and every caller (graph nodes, HTTP server, eval runner) speak the same language.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .constraint import OutputConstraint, constraint_from_response_format

__all__ = [
    "ChatMessage",
    "GenerationRequest",
    "TopLogprob",
    "TokenLogprob",
    "Sample",
    "Usage",
    "Timing",
    "Generation",
]


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class GenerationRequest(BaseModel):
    """One prompt (chat messages, raw text or token ids) and how to sample from it.

    Exactly one of `messages`, `prompt`, `prompt_ids` is given. `n` samples of one request
    share one prefill and decode as a batch.
    """

    model_config = ConfigDict(extra="forbid")

    messages: list[ChatMessage] | None = None
    prompt: str | None = None
    prompt_ids: list[int] | None = None
    n: int = Field(1, ge=1, le=256)
    max_tokens: int = Field(256, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=10.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0, description="0 keeps every token")
    seed: int | None = None
    stop: list[str] = Field(default_factory=list)
    logprobs: bool = False
    top_logprobs: int = Field(0, ge=0, le=20)
    response_format: dict[str, Any] | None = None
    constraint: OutputConstraint | None = Field(
        None,
        description="the shape the output must take (JSON schema, any JSON object, regex, "
        "choice, Lark grammar); a JSON response_format is read into it",
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="caller's tags (role, node ...); engines ignore them"
    )

    @model_validator(mode="after")
    def _exactly_one_prompt(self) -> GenerationRequest:
        given = [k for k in ("messages", "prompt", "prompt_ids") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of messages, prompt or prompt_ids "
                f"(got {', '.join(given) if given else 'none'})"
            )
        if self.messages is not None and not self.messages:
            raise ValueError("messages must not be empty")
        if self.prompt_ids is not None and not self.prompt_ids:
            raise ValueError("prompt_ids must not be empty")
        if any(not s for s in self.stop):
            raise ValueError("stop strings must be non-empty")
        fmt = self.response_format
        if fmt and fmt.get("type") in ("text", "json_object", "json_schema"):
            # One place for the output's shape: OpenAI's JSON modes become the constraint;
            # other (provider-specific) formats stay for remote engines to pass on.
            from_format = constraint_from_response_format(fmt)
            if from_format is not None and self.constraint not in (None, from_format):
                raise ValueError("give response_format or constraint, not two different ones")
            self.constraint = self.constraint or from_format
            self.response_format = None
        return self


class TopLogprob(BaseModel):
    token: str
    token_id: int
    logprob: float


class TokenLogprob(BaseModel):
    token: str
    token_id: int
    logprob: float
    top_logprobs: list[TopLogprob] = Field(default_factory=list)


class Sample(BaseModel):
    """One of the `n` completions of a request."""

    text: str
    token_ids: list[int]
    finish_reason: Literal["stop", "length"]
    cumulative_logprob: float = Field(
        0.0, description="sum of the chosen tokens' logprobs, always filled"
    )
    logprobs: list[TokenLogprob] | None = None
    constraint_complete: bool | None = Field(
        None,
        description="constrained samples only: False when max_tokens ended the output "
        "(finish_reason 'length') before it completed the constraint",
    )

    @property
    def mean_logprob(self) -> float:
        return self.cumulative_logprob / max(1, len(self.token_ids))


class Usage(BaseModel):
    """Token counts; a request with n samples counts its prompt once."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
        )


class Timing(BaseModel):
    """Seconds spent here (wall, split into prefill and decode) and emulated elsewhere.

    `emulated` maps a hardware-profile name (e.g. "cs3", "h100") to the seconds the same
    work would take there; the hardware emulator fills it for every generation.
    """

    wall_s: float = 0.0
    prefill_s: float = 0.0
    decode_s: float = 0.0
    ttft_s: float | None = None
    emulated: dict[str, float] = Field(default_factory=dict)


class Generation(BaseModel):
    """The answer to one GenerationRequest: its samples, usage and timing."""

    model: str
    samples: list[Sample]
    usage: Usage
    timing: Timing

    @property
    def text(self) -> str:
        return self.samples[0].text
