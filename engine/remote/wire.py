"""The OpenAI wire format as a client speaks it: request bodies out, choices and usage in.

Pure functions (no I/O) shared by `OpenAIEngine`: `request_body` turns a
`GenerationRequest` into the JSON of /v1/chat/completions or /v1/completions;
`samples_from_choices` / `usage_from_json` read a response; `SSEDecoder` and
`StreamAssembler` turn a server-sent-event stream back into the same samples.

Remote servers rarely return token ids. Where a choice carries `token_ids` (thinkfast
serve and vLLM add it) they are used; otherwise `Sample.token_ids` holds one `-1` per
token that the server reported a logprob for, and is empty when it reported none, so
lengths stay truthful without inventing ids.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..constraint import ConstraintError, response_format_for, vllm_structured_outputs_for
from ..errors import InvalidRequestError
from ..types import GenerationRequest, Sample, TokenLogprob, TopLogprob, Usage

__all__ = [
    "MalformedResponseError",
    "endpoint_for",
    "request_body",
    "samples_from_choices",
    "usage_from_json",
    "SSEDecoder",
    "StreamAssembler",
]

UNKNOWN_TOKEN_ID = -1


class MalformedResponseError(Exception):
    """The server answered 200 with something that is not an OpenAI response (retryable)."""


def endpoint_for(request: GenerationRequest) -> str:
    """Chat messages go to chat/completions; raw text and token ids to completions."""
    return "chat/completions" if request.messages is not None else "completions"


def request_body(
    request: GenerationRequest,
    model: str,
    *,
    n: int | None = None,
    stream: bool = False,
    chat_max_tokens_field: str = "max_tokens",
    structured_form: str = "vllm",
) -> dict[str, Any]:
    """The JSON body for `request` (with `n` overridden when fanning out single calls).

    `structured_form` says how a constraint travels: "openai" (hosted APIs: JSON kinds as
    `response_format`, other kinds refused) or "vllm" (self-hosted servers: JSON kinds as
    `response_format` too, regex / choice / grammar in vLLM's `structured_outputs`).

    `chat_max_tokens_field` is "max_completion_tokens" for providers that deprecated
    "max_tokens" in chat (OpenAI's reasoning models reject it); completions always take
    "max_tokens".
    """
    chat = request.messages is not None
    body: dict[str, Any] = {
        "model": model,
        "n": request.n if n is None else n,
        (chat_max_tokens_field if chat else "max_tokens"): request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
    }
    if chat:
        body["messages"] = [m.model_dump() for m in request.messages or []]
    elif request.prompt is not None:
        body["prompt"] = request.prompt
    else:
        body["prompt"] = list(request.prompt_ids or [])
    # top_k is not in OpenAI's schema; vLLM, SGLang, llama.cpp and thinkfast accept it.
    # Only send it when asked, so plain OpenAI endpoints never see an unknown field.
    if request.top_k:
        body["top_k"] = request.top_k
    if request.seed is not None:
        body["seed"] = request.seed
    if request.stop:
        body["stop"] = list(request.stop)
    if request.logprobs:
        if chat:
            body["logprobs"] = True
            if request.top_logprobs:
                body["top_logprobs"] = request.top_logprobs
        else:
            # The legacy completions API folds both into one integer (0..5 alternatives).
            body["logprobs"] = request.top_logprobs
    elif request.top_logprobs:
        raise InvalidRequestError("top_logprobs needs logprobs=True")
    if request.response_format is not None:
        body["response_format"] = request.response_format
    if request.constraint is not None:
        body.update(_constraint_fields(request.constraint, structured_form))
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _constraint_fields(constraint: Any, form: str) -> dict[str, Any]:
    fmt = response_format_for(constraint)
    if fmt is not None:
        return {"response_format": fmt}
    if form == "openai":
        if constraint.if_unsupported == "ignore":
            return {}  # e.g. a prompt pack's verdict grammar on a hosted API
        raise ConstraintError(
            f"this provider takes only JSON constraints (response_format); a {constraint.type} "
            "constraint needs a vLLM, SGLang or thinkfast server (provider=vllm/sglang/thinkfast "
            "or base_url=...), or if_unsupported='ignore' to send the request unconstrained"
        )
    return {"structured_outputs": vllm_structured_outputs_for(constraint)}


def _finish_reason(value: Any) -> str:
    # OpenAI also sends content_filter / tool_calls / function_call; for the seam they all
    # mean "the model stopped for a reason other than the token budget".
    return "length" if value == "length" else "stop"


def _float(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedResponseError(f"{what} is not a number: {value!r}")
    return float(value)


def _chat_logprobs(block: Any) -> list[TokenLogprob]:
    entries = block.get("content") if isinstance(block, dict) else None
    out: list[TokenLogprob] = []
    for entry in entries or []:
        tops = [
            TopLogprob(
                token=str(t.get("token", "")),
                token_id=int(t.get("token_id", UNKNOWN_TOKEN_ID)),
                logprob=_float(t.get("logprob"), "top_logprobs[].logprob"),
            )
            for t in entry.get("top_logprobs") or []
        ]
        out.append(
            TokenLogprob(
                token=str(entry.get("token", "")),
                token_id=int(entry.get("token_id", UNKNOWN_TOKEN_ID)),
                logprob=_float(entry.get("logprob"), "logprobs.content[].logprob"),
                top_logprobs=tops,
            )
        )
    return out


def _completion_logprobs(block: Any) -> list[TokenLogprob]:
    if not isinstance(block, dict):
        return []
    tokens = block.get("tokens") or []
    values = block.get("token_logprobs") or []
    tops = block.get("top_logprobs") or [None] * len(tokens)
    out: list[TokenLogprob] = []
    for token, value, alternatives in zip(tokens, values, tops, strict=False):
        out.append(
            TokenLogprob(
                token=str(token),
                token_id=UNKNOWN_TOKEN_ID,
                # the first prompt token of an echo has no logprob; never sent without echo
                logprob=-math.inf if value is None else _float(value, "token_logprobs[]"),
                top_logprobs=[
                    TopLogprob(token=str(t), token_id=UNKNOWN_TOKEN_ID, logprob=_float(lp, "top"))
                    for t, lp in (alternatives or {}).items()
                ],
            )
        )
    return out


def _sample(choice: dict[str, Any], *, want_logprobs: bool) -> Sample:
    if "message" in choice:
        message = choice.get("message") or {}
        text = message.get("content")
        logprobs = _chat_logprobs(choice.get("logprobs"))
    elif "text" in choice:
        text = choice.get("text")
        logprobs = _completion_logprobs(choice.get("logprobs"))
    else:
        raise MalformedResponseError(f"choice has neither message nor text: {choice!r:.200}")
    if text is None:
        text = ""  # a refusal or tool call leaves content null
    if not isinstance(text, str):
        raise MalformedResponseError(f"choice text is not a string: {text!r:.200}")
    ids = choice.get("token_ids")
    if isinstance(ids, list) and all(isinstance(i, int) for i in ids):
        token_ids = list(ids)
        if logprobs and len(logprobs) == len(token_ids):
            logprobs = [
                lp.model_copy(update={"token_id": tid})
                for lp, tid in zip(logprobs, token_ids, strict=True)
            ]
    else:
        token_ids = [UNKNOWN_TOKEN_ID] * len(logprobs)
    return Sample(
        text=text,
        token_ids=token_ids,
        finish_reason=_finish_reason(choice.get("finish_reason")),
        cumulative_logprob=float(sum(lp.logprob for lp in logprobs)),
        logprobs=logprobs if want_logprobs else None,
    )


def samples_from_choices(choices: Any, *, want_logprobs: bool) -> list[Sample]:
    """The samples of a response, ordered by their `index`."""
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise MalformedResponseError(f"'choices' is not a list of objects: {choices!r:.200}")
    ordered = sorted(choices, key=lambda c: c.get("index", 0))
    return [_sample(c, want_logprobs=want_logprobs) for c in ordered]


def usage_from_json(usage: Any) -> Usage | None:
    """Usage from the server's `usage` object; None when it sent none (or nonsense)."""
    if not isinstance(usage, dict):
        return None
    try:
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        details = usage.get("prompt_tokens_details") or {}
        cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    except (TypeError, ValueError):
        return None
    return Usage(prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached)


class SSEDecoder:
    """Server-sent events, line by line: yields the `data` payload of each complete event.

    Follows the SSE spec where it matters for OpenAI streams: an event ends at a blank line,
    several `data:` lines join with newlines, comments (`:`) and other fields are ignored.
    """

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        line = line.rstrip("\r\n")
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        if field == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None

    def flush(self) -> str | None:
        """The pending event's data (at a blank line or at the end of the stream)."""
        if not self._data:
            return None
        data = "\n".join(self._data)
        self._data = []
        return data


class StreamAssembler:
    """Folds OpenAI stream chunks (`choices[].delta` / `choices[].text`) back into samples."""

    def __init__(self, *, n: int, want_logprobs: bool) -> None:
        self.n = n
        self.want_logprobs = want_logprobs
        self.texts: list[list[str]] = [[] for _ in range(n)]
        self.logprobs: list[list[TokenLogprob]] = [[] for _ in range(n)]
        self.token_ids: list[list[int]] = [[] for _ in range(n)]
        self.finish: list[str | None] = [None] * n
        self.usage: Usage | None = None
        self.done = False

    def add(self, data: str) -> list[tuple[int, str]]:
        """Take one event's data; return the (choice index, text delta) pairs it carried."""
        if data.strip() == "[DONE]":
            self.done = True
            return []
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError:
            raise MalformedResponseError(f"stream event is not JSON: {data!r:.200}") from None
        if not isinstance(chunk, dict):
            raise MalformedResponseError(f"stream event is not an object: {data!r:.200}")
        if "error" in chunk:
            raise MalformedResponseError(f"server reported an error mid-stream: {chunk['error']}")
        if chunk.get("usage"):
            self.usage = usage_from_json(chunk["usage"])
        deltas: list[tuple[int, str]] = []
        for choice in chunk.get("choices") or []:
            index = choice.get("index", 0)
            if not isinstance(index, int) or not 0 <= index < self.n:
                raise MalformedResponseError(
                    f"stream choice index {index!r} outside 0..{self.n - 1}"
                )
            if "delta" in choice:
                text = (choice.get("delta") or {}).get("content") or ""
                self.logprobs[index] += _chat_logprobs(choice.get("logprobs"))
            else:
                text = choice.get("text") or ""
                self.logprobs[index] += _completion_logprobs(choice.get("logprobs"))
            ids = choice.get("token_ids")
            if isinstance(ids, list):
                self.token_ids[index] += [i for i in ids if isinstance(i, int)]
            if text:
                self.texts[index].append(text)
                deltas.append((index, text))
            if choice.get("finish_reason") is not None:
                self.finish[index] = _finish_reason(choice["finish_reason"])
        return deltas

    @property
    def complete(self) -> bool:
        """Every choice finished (some servers close without `[DONE]`; that is fine then)."""
        return self.done or all(f is not None for f in self.finish)

    def samples(self) -> list[Sample]:
        samples = []
        for i in range(self.n):
            choice: dict[str, Any] = {
                "text": "".join(self.texts[i]),
                "finish_reason": self.finish[i],
            }
            logprobs = self.logprobs[i]
            ids = self.token_ids[i] or [UNKNOWN_TOKEN_ID] * len(logprobs)
            if self.token_ids[i] and logprobs and len(logprobs) == len(ids):
                logprobs = [
                    lp.model_copy(update={"token_id": t})
                    for lp, t in zip(logprobs, ids, strict=True)
                ]
            samples.append(
                Sample(
                    text=choice["text"],
                    token_ids=ids,
                    finish_reason=_finish_reason(choice["finish_reason"]),
                    cumulative_logprob=float(sum(lp.logprob for lp in logprobs)),
                    logprobs=logprobs if self.want_logprobs else None,
                )
            )
        return samples
