"""What a server's error response means: retry it, or raise what it refused and why.

408/409/429 and 5xx are transient (retried by `retry.py`); every other 4xx becomes a
`RemoteRequestError` quoting the server's own message with a hint, and a window overflow,
whatever words the server uses for it, a `RemoteContextLengthError`.
"""

from __future__ import annotations

import re

import httpx

from ..errors import ContextLengthError, RemoteEngineError
from .providers import Provider
from .retry import RETRYABLE_STATUS, TransientError, retry_after_s

__all__ = ["RemoteContextLengthError", "RemoteRequestError", "raise_for_status", "server_error"]


class RemoteRequestError(RemoteEngineError):
    """The server refused the request itself (a 4xx other than 408/409/429): not retried.

    `server_message` is the server's own words, `code` its error code when it sent one.
    """

    def __init__(
        self, message: str, *, status_code: int, server_message: str, code: str | None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.server_message = server_message
        self.code = code


class RemoteContextLengthError(RemoteRequestError, ContextLengthError):
    """The server said the prompt plus max_tokens does not fit its context window."""


# OpenAI and thinkfast send code "context_length_exceeded"; vLLM, SGLang and llama.cpp say
# it in words ("maximum context length is 8192 tokens", "exceeds the context size").
_CONTEXT_WORDS = re.compile(r"context (length|size|window)|maximum context", re.IGNORECASE)


def server_error(response: httpx.Response) -> tuple[str, str | None]:
    """The human part of an error body (OpenAI's error.message, FastAPI's detail, or the
    text) and the error code when there is one."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return (text[:500] if text else response.reason_phrase), None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            code = error.get("code")
            return str(error["message"]), str(code) if code is not None else None
        if isinstance(error, str):
            return error, None
        if body.get("detail"):
            return str(body["detail"]), None
        if body.get("message"):
            return str(body["message"]), None
    return str(body)[:500], None


_HINTS = {
    401: "check the API key",
    403: "check the API key and that it may use this model",
    404: "check the model name and base URL",
    413: "the request is too large for this server",
}


def raise_for_status(
    response: httpx.Response, *, where: str, model: str, provider: Provider | None
) -> None:
    """Nothing for a success; TransientError for what is worth another try; otherwise the
    RemoteRequestError (or RemoteContextLengthError) that says what the server refused."""
    status = response.status_code
    if status < 400:
        return
    message, code = server_error(response)
    if status in RETRYABLE_STATUS or status >= 500:
        raise TransientError(
            f"HTTP {status}: {message}", status_code=status, retry_after=retry_after_s(response)
        )
    hint = _HINTS.get(status, "check the request parameters")
    if status in (401, 403) and provider and provider.api_key_env:
        hint += f" (from {provider.api_key_env} or THINKFAST_API_KEY)"
    too_long = code == "context_length_exceeded" or (
        status in (400, 413, 422) and _CONTEXT_WORDS.search(message) is not None
    )
    if too_long:
        hint = "shorten the prompt or lower max_tokens"
    kind = RemoteContextLengthError if too_long else RemoteRequestError
    raise kind(
        f"{where} rejected the request for model {model!r}: HTTP {status}: {message!r} — {hint}",
        status_code=status,
        server_message=message,
        code=code,
    )
