"""What `thinkfast serve` answers when something fails: `ApiError` carries an OpenAI-style
`{"error": {...}}` body and its HTTP status; `engine_error` maps what an engine raised to
one (4xx for the client's fault, 429 for a saturated pool, 5xx for ours)."""

from __future__ import annotations

import logging
from typing import Any

from thinkfast.engine.errors import (
    ContextLengthError,
    EngineError,
    InvalidRequestError,
    ThinkfastError,
)

__all__ = ["ApiError", "ServeDependencyError", "engine_error"]

log = logging.getLogger("thinkfast.serve")


class ServeDependencyError(ThinkfastError, ImportError):
    """starlette or uvicorn is missing: the server needs the `serve` extra."""

    @classmethod
    def missing(cls, exc: ImportError) -> ServeDependencyError:
        return cls(
            f"thinkfast serve needs starlette and uvicorn ({exc.name} is missing): "
            "pip install 'thinkfast[serve]'"
        )


class ApiError(Exception):
    """An error the server answers with `{"error": {...}}` and an HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def engine_error(exc: BaseException) -> ApiError:
    """Map what the engine raised to the HTTP answer."""
    if isinstance(exc, ContextLengthError):
        return ApiError(400, str(exc), param="messages", code="context_length_exceeded")
    if isinstance(exc, InvalidRequestError):
        return ApiError(400, str(exc))
    retry_after = getattr(exc, "retry_after_s", None)
    if isinstance(exc, EngineError) and retry_after is not None:  # a saturated endpoint pool
        seconds = max(1, round(retry_after))
        return ApiError(
            429,
            f"the server is busy: {exc}; retry after {seconds}s",
            type="rate_limit_error",
            code="server_busy",
            headers={"Retry-After": str(seconds)},
        )
    if isinstance(exc, EngineError | ThinkfastError):
        return ApiError(500, f"the engine failed: {exc}", type="server_error")
    log.exception("unexpected error while serving a request", exc_info=exc)
    return ApiError(500, f"internal server error ({type(exc).__name__})", type="server_error")
