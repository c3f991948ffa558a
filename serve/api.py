"""The OpenAI HTTP API as `thinkfast serve` speaks it: request schemas in, JSON out.

No web framework here (so it imports without the `serve` extra): pydantic models that
validate the bodies of /v1/chat/completions and /v1/completions strictly, their
conversion to `GenerationRequest`s under the server's limits, and `ApiError`, which
carries an OpenAI-style error body and status (errors.py). The bodies sent back are
responses.py's.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from thinkfast.engine.constraint import ConstraintError, constraint_from_vllm
from thinkfast.engine.errors import InvalidRequestError
from thinkfast.engine.types import ChatMessage, GenerationRequest

from .errors import ApiError, ServeDependencyError, engine_error

__all__ = [
    "ApiError",
    "ServeDependencyError",
    "ServerLimits",
    "ChatCompletionBody",
    "CompletionBody",
    "parse_body",
    "chat_request",
    "completion_requests",
    "validation_message",
    "engine_error",
    "log_ignored",
]

log = logging.getLogger("thinkfast.serve")


class ServerLimits(BaseModel):
    """What one request may ask of the server."""

    max_body_bytes: int = Field(1 << 20, ge=1024)
    max_tokens: int = Field(4096, ge=1, description="ceiling on max_tokens per sample")
    max_n: int = Field(64, ge=1, le=256)
    max_prompts: int = Field(64, ge=1, description="prompts in one /v1/completions call")
    max_in_flight: int = Field(
        256, ge=1, description="generation requests served at once; more get 429 + Retry-After"
    )
    max_scaffold_tokens: int = Field(
        200_000, ge=1, description="token budget (all calls, all roles) of one scaffold"
    )
    option_caps: dict[str, int] = Field(
        default_factory=lambda: {"n": 64},
        description="largest integer value a client may give each strategy option",
    )


# -- request schemas ------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid", strict=True)
# Top-level bodies take unknown fields, as vLLM does: real clients send fields this server
# does not know (its_hub writes a literal "extra_body": {}); they are logged once per name
# and listed back (`ignored_fields`). Wrong VALUES of known fields are still rejected.
_TOP = ConfigDict(extra="allow", strict=True)


class _TextPart(BaseModel):
    model_config = _STRICT
    type: Literal["text"]
    text: str


class _MessageIn(BaseModel):
    model_config = _STRICT
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[_TextPart]
    name: str | None = None

    def to_chat_message(self) -> ChatMessage:
        text = (
            self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)
        )
        # "developer" is OpenAI's newer name for the system role
        role = "system" if self.role == "developer" else self.role
        return ChatMessage(role=role, content=text)


class _StreamOptions(BaseModel):
    model_config = _STRICT
    include_usage: bool = False


# Known OpenAI fields with no meaning here, and the values that ask for nothing.
_UNSUPPORTED: dict[str, tuple[Any, ...]] = {
    "tools": (None, []),
    "tool_choice": (None, "none", "auto"),
    "functions": (None, []),
    "function_call": (None, "none", "auto"),
    "logit_bias": (None, {}),
    "audio": (None,),
    "prediction": (None,),
    "modalities": (None, ["text"]),
}


class _SamplingBody(BaseModel):
    """Fields both endpoints share. Penalties are accepted only at their neutral value,
    so a client never silently gets sampling it did not ask for."""

    model_config = _TOP
    model: str
    n: int = Field(1, ge=1)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=0)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: _StreamOptions | None = None
    user: str | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    # vLLM's structured-output extras (docs/serving.md); OpenAI's response_format is on chat
    structured_outputs: dict[str, Any] | None = None
    guided_json: dict[str, Any] | str | None = None
    guided_regex: str | None = None
    guided_choice: list[str] | None = None
    guided_grammar: str | None = None
    reasoning_effort: str | None = Field(
        None, description="maps to a strategy preset (thinkfast serve --effort LEVEL=SPEC)"
    )

    def check_unsupported(self) -> None:
        """OpenAI fields that would change the answer in ways this server cannot honour:
        accepted at their neutral value (ignored like any unknown field), else a 400."""
        extra = self.model_extra or {}
        for name, neutral in _UNSUPPORTED.items():
            if name in extra and extra[name] not in neutral:
                shown = " or ".join(repr(v) for v in neutral)
                raise ApiError(
                    400,
                    f"{name} is not supported by this server; send {shown} or leave it out",
                    param=name,
                )

    def ignored_fields(self) -> list[str]:
        """Unknown top-level fields, ignored (a `thinkfast` object is read, not ignored;
        so is an `extra_body` object that carries one)."""
        extra = dict(self.model_extra or {})
        extra.pop("thinkfast", None)
        if isinstance(extra.get("extra_body"), dict) and "thinkfast" in extra["extra_body"]:
            extra.pop("extra_body")
        return sorted(extra)

    def stops(self) -> list[str]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stops) > 16 or any(not s for s in stops):
            raise ApiError(400, "stop takes up to 16 non-empty strings", param="stop")
        return stops


class ChatCompletionBody(_SamplingBody):
    messages: list[_MessageIn] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    response_format: dict[str, Any] | None = None


class CompletionBody(_SamplingBody):
    prompt: str | list[str] | list[int] | list[list[int]]
    logprobs: int | None = Field(None, ge=0, le=20)
    echo: bool = Field(False, description="only false is supported")
    suffix: None = None
    best_of: int | None = Field(None, ge=1)


# Fields whose type is a union: pydantic reports one error per branch, which reads badly;
# these say in one line what each such field accepts.
_UNION_FIELDS = {
    "content": "must be a string or a list of {'type': 'text', 'text': ...} parts",
    "prompt": "must be a string, a list of strings, a list of token ids, or a list of such lists",
    "stop": "must be a string or a list of strings",
}
_BRANCH_NAMES = {"str", "list[str]", "list[int]", "list[list[int]]", "list[_TextPart]"}


def validation_message(exc: ValidationError) -> tuple[str, str | None]:
    """One readable line per problem, and the first offending parameter."""
    problems, param = [], None
    for err in exc.errors():
        parts = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "json-"))]
        parts = [p for p in parts if p not in _BRANCH_NAMES]
        # a problem inside a union field is reported once, at the field, with what it takes
        for i, part in enumerate(parts):
            if part in _UNION_FIELDS and len(err["loc"]) > len(parts[: i + 1]):
                parts, message = parts[: i + 1], _UNION_FIELDS[part]
                break
        else:
            message = err["msg"]
        loc = ".".join(parts)
        param = param or (loc or None)
        problems.append(f"{loc or 'body'}: {message}")
    unique = list(dict.fromkeys(problems))[:4]
    return "; ".join(unique), param


def parse_body(raw: bytes, schema: type[BaseModel]) -> Any:
    """Validate a JSON body; ApiError(400) naming the bad field otherwise."""
    if not raw.strip():
        raise ApiError(400, "the request body is empty; send a JSON object")
    try:
        body = schema.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] in ("json_invalid", "json_type"):
            raise ApiError(400, f"the request body is not valid JSON: {first['msg']}") from None
        if first["type"] == "model_type":
            raise ApiError(400, "the request body must be a JSON object") from None
        message, param = validation_message(exc)
        raise ApiError(400, f"invalid request: {message}", param=param) from None
    if isinstance(body, _SamplingBody):
        body.check_unsupported()
    return body


_logged_ignored: set[str] = set()


def log_ignored(names: list[str]) -> None:
    """Log each ignored field name once per process, so a chatty client fills no log."""
    for name in names:
        if name not in _logged_ignored:
            _logged_ignored.add(name)
            log.info("ignoring unknown request field %r (logged once)", name)


# -- to GenerationRequests -----------------------------------------------------------


def _max_tokens(
    asked: int | None, prompt_tokens: int, context: int | None, limits: ServerLimits
) -> int:
    if asked is not None:
        if asked > limits.max_tokens:
            raise ApiError(
                400,
                f"max_tokens={asked} exceeds this server's limit of {limits.max_tokens}",
                param="max_tokens",
            )
        return asked
    # Unset: as much as the context leaves, capped by the server's limit (OpenAI does the same).
    room = (context - prompt_tokens) if context else limits.max_tokens
    return max(1, min(limits.max_tokens, room))


def _request(fields: dict[str, Any], param_hint: str) -> GenerationRequest:
    try:
        return GenerationRequest(**fields)
    except (ValidationError, InvalidRequestError) as exc:
        if isinstance(exc, ValidationError):
            message, param = validation_message(exc)
        else:
            message, param = str(exc), None
        raise ApiError(400, f"invalid request: {message}", param=param or param_hint) from None


def _common(body: _SamplingBody, limits: ServerLimits) -> dict[str, Any]:
    if body.n > limits.max_n:
        raise ApiError(400, f"n={body.n} exceeds this server's limit of {limits.max_n}", param="n")
    for name in ("frequency_penalty", "presence_penalty"):
        if getattr(body, name):
            raise ApiError(400, f"{name} is not supported; send 0 or leave it out", param=name)
    fields: dict[str, Any] = {"n": body.n, "stop": body.stops(), "seed": body.seed}
    # OpenAI's defaults: temperature 1, top_p 1, no top-k
    fields["temperature"] = 1.0 if body.temperature is None else body.temperature
    fields["top_p"] = 1.0 if body.top_p is None else body.top_p
    fields["top_k"] = body.top_k or 0
    try:
        constraint = constraint_from_vllm(
            body.structured_outputs,
            guided_json=body.guided_json,
            guided_regex=body.guided_regex,
            guided_choice=body.guided_choice,
            guided_grammar=body.guided_grammar,
        )
    except ConstraintError as exc:
        raise ApiError(400, str(exc), param="structured_outputs") from None
    if constraint is not None:
        fields["constraint"] = constraint
    return fields


def chat_request(
    body: ChatCompletionBody, limits: ServerLimits, count_tokens: Any, context: int | None
) -> GenerationRequest:
    fields = _common(body, limits)
    if body.top_logprobs and not body.logprobs:
        raise ApiError(400, "top_logprobs needs logprobs=true", param="top_logprobs")
    fields.update(
        messages=[m.to_chat_message() for m in body.messages],
        logprobs=body.logprobs,
        top_logprobs=body.top_logprobs or 0,
        response_format=body.response_format,
    )
    request = _request({**fields, "max_tokens": 1}, "messages")
    asked = (
        body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    )
    max_tokens = _max_tokens(asked, count_tokens(request), context, limits)
    return request.model_copy(update={"max_tokens": max_tokens})


def completion_requests(
    body: CompletionBody, limits: ServerLimits, count_tokens: Any, context: int | None
) -> list[GenerationRequest]:
    if body.echo:
        raise ApiError(
            400, "echo=true is not supported; only the completion is returned", param="echo"
        )
    if body.best_of is not None and body.best_of != body.n:
        raise ApiError(
            400,
            "best_of is not supported; use n for more samples, or the model name "
            f"best_of_n:n={body.best_of}/{body.model} for the best of {body.best_of} "
            "drafts (a thinkfast strategy)",
            param="best_of",
        )
    prompt = body.prompt
    if isinstance(prompt, str):
        prompts: list[dict[str, Any]] = [{"prompt": prompt}]
    elif prompt and isinstance(prompt[0], list):
        prompts = [{"prompt_ids": p} for p in prompt]
    elif prompt and isinstance(prompt[0], str):
        prompts = [{"prompt": p} for p in prompt]
    else:
        prompts = [{"prompt_ids": prompt}]
    if not prompts or any(not (p.get("prompt") or p.get("prompt_ids")) for p in prompts):
        raise ApiError(
            400, "prompt must be a non-empty string, token list, or list of them", param="prompt"
        )
    if len(prompts) > limits.max_prompts:
        raise ApiError(
            400,
            f"{len(prompts)} prompts exceed this server's limit of {limits.max_prompts}",
            param="prompt",
        )
    fields = _common(body, limits)
    fields.update(logprobs=body.logprobs is not None, top_logprobs=body.logprobs or 0)
    out = []
    for p in prompts:
        request = _request({**fields, **p, "max_tokens": 1}, "prompt")
        max_tokens = _max_tokens(body.max_tokens, count_tokens(request), context, limits)
        out.append(request.model_copy(update={"max_tokens": max_tokens}))
    return out
