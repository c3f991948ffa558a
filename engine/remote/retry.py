"""Retrying remote calls: the policy, the transient-failure type, and the loop.

`with_retries(attempt, policy=..., what=..., where=...)` runs an async attempt under
tenacity until it succeeds, fails in a way no retry fixes, runs out of attempts, or would
pass the policy's deadline; the last two raise `RemoteEngineError` saying which. Attempts
signal "try again" by raising `TransientError`, optionally with the server's Retry-After.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
)

from ..errors import RemoteEngineError

__all__ = ["RETRYABLE_STATUS", "RetryPolicy", "TransientError", "retry_after_s", "with_retries"]

log = logging.getLogger("thinkfast.engine.retry")

T = TypeVar("T")

# Statuses worth another try: the server is busy or broken right now, not the request.
# 520-529 are the "origin unreachable" family proxies such as Cloudflare put in front.
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529})


class RetryPolicy(BaseModel):
    """How hard to try one call. The wait after failed attempt k is
    `min(backoff_max_s, backoff_initial_s * 2**(k-1))` plus uniform jitter in
    [0, jitter_s]; a server's Retry-After replaces it. No retry starts whose wait would end
    after `deadline_s` (counted from the first attempt), and the whole call is cut there.
    """

    model_config = ConfigDict(frozen=True)

    max_attempts: int = Field(4, ge=1, le=50)
    deadline_s: float = Field(120.0, gt=0)
    backoff_initial_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(20.0, ge=0)
    jitter_s: float = Field(0.25, ge=0)
    max_retry_after_s: float = Field(
        60.0, ge=0, description="a Retry-After longer than this ends the call instead"
    )

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based), no Retry-After."""
        base = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (attempt - 1))
        return base + random.uniform(0.0, self.jitter_s)


class TransientError(Exception):
    """One attempt failed in a way another attempt may fix."""

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


def retry_after_s(response: httpx.Response) -> float | None:
    """Seconds from `retry-after-ms` (OpenAI) or `Retry-After` (seconds or an HTTP date)."""
    ms = response.headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    what: str,
    where: str,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run `attempt()` under `policy`. `what` names the call and `where` the server in
    the error messages.

    `clock` and `sleep` measure and spend the waits between attempts (tests pass a
    controllable pair); an attempt that hangs is cut at the deadline by the event loop.
    """
    started = clock()

    def past_deadline(state: RetryCallState) -> bool:
        # no retry starts whose wait would end at or after the deadline
        return clock() - started + (state.upcoming_sleep or 0.0) >= policy.deadline_s

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        return after if after is not None else policy.backoff(state.attempt_number)

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.info(
            "%s: attempt %d failed (%s); retrying in %.2fs",
            what,
            state.attempt_number,
            error,
            state.upcoming_sleep,
        )

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts) | past_deadline,
        wait=wait,
        sleep=sleep,
        retry=retry_if_exception_type(TransientError),
        reraise=True,
        before_sleep=before_sleep,
    )
    try:
        async with asyncio.timeout(policy.deadline_s):
            async for attempt_state in retrying:
                with attempt_state:
                    try:
                        return await attempt()
                    except TransientError as exc:
                        after = exc.retry_after
                        if after is not None and after > policy.max_retry_after_s:
                            raise RemoteEngineError(
                                f"{what}: {where} asked to retry after {after:.1f}s, more "
                                f"than max_retry_after_s={policy.max_retry_after_s}s: {exc}",
                                status_code=exc.status_code,
                            ) from exc
                        raise
    except TimeoutError:
        n = retrying.statistics.get("attempt_number", 1)
        raise RemoteEngineError(
            f"{what}: no answer from {where} within the deadline of "
            f"{policy.deadline_s}s ({n} attempt(s))"
        ) from None
    except TransientError as exc:
        n = retrying.statistics.get("attempt_number", 1)
        elapsed = clock() - started
        reason = (
            f"after {n} attempt(s) (max_attempts={policy.max_attempts})"
            if n >= policy.max_attempts
            else f"after {n} attempt(s): another wait would pass the deadline of "
            f"{policy.deadline_s}s ({elapsed:.1f}s spent)"
        )
        raise RemoteEngineError(
            f"{what}: {where} failed {reason}; last error: {exc}", status_code=exc.status_code
        ) from exc
    raise AssertionError("unreachable: tenacity ended without a result or an error")
