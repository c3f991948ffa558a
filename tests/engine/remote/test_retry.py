"""The retry loop on a controllable clock: backoff, Retry-After and the deadline.

Time moves only when the loop sleeps, so the waits it chooses and when each attempt
starts are exact numbers, whatever else the machine is doing.
"""

from __future__ import annotations

import pytest
from thinkfast.engine.errors import RemoteEngineError
from thinkfast.engine.remote.retry import RetryPolicy, TransientError, with_retries


class ManualClock:
    """A monotonic clock that advances only by the sleeps asked of it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(clock: ManualClock, errors: list[Exception], result: str = "ok"):
    """An attempt that raises `errors` in turn, then returns `result`; `starts` records
    the clock at each attempt."""
    starts: list[float] = []

    async def attempt() -> str:
        starts.append(clock())
        if len(starts) <= len(errors):
            raise errors[len(starts) - 1]
        return result

    attempt.starts = starts  # type: ignore[attr-defined]
    return attempt


async def run(attempt, policy: RetryPolicy, clock: ManualClock):
    return await with_retries(
        attempt, policy=policy, what="POST /chat", where="http://x", clock=clock, sleep=clock.sleep
    )


def server_error() -> TransientError:
    return TransientError("HTTP 500: boom", status_code=500)


async def test_backoff_doubles_and_the_attempts_are_bounded():
    clock = ManualClock()
    policy = RetryPolicy(max_attempts=4, deadline_s=100, backoff_initial_s=0.1, jitter_s=0)
    attempt = failing(clock, [server_error()] * 10)
    with pytest.raises(RemoteEngineError, match=r"4 attempt\(s\) \(max_attempts=4\)") as info:
        await run(attempt, policy, clock)
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4])
    assert attempt.starts == pytest.approx([0.0, 0.1, 0.3, 0.7])
    assert info.value.status_code == 500 and "boom" in str(info.value)


async def test_backoff_is_capped():
    clock = ManualClock()
    policy = RetryPolicy(max_attempts=5, backoff_initial_s=1, backoff_max_s=2.5, jitter_s=0)
    with pytest.raises(RemoteEngineError):
        await run(failing(clock, [server_error()] * 10), policy, clock)
    assert clock.sleeps == pytest.approx([1, 2, 2.5, 2.5])


async def test_retry_after_replaces_the_backoff():
    clock = ManualClock()
    policy = RetryPolicy(backoff_initial_s=0.05, jitter_s=0)
    attempt = failing(clock, [TransientError("HTTP 429", status_code=429, retry_after=0.3)])
    assert await run(attempt, policy, clock) == "ok"
    assert clock.sleeps == [0.3] and attempt.starts == [0.0, 0.3]


async def test_no_retry_starts_whose_wait_would_pass_the_deadline():
    clock = ManualClock()
    policy = RetryPolicy(max_attempts=50, deadline_s=1.0, backoff_initial_s=0.3, jitter_s=0)
    attempt = failing(clock, [server_error()] * 50)
    with pytest.raises(RemoteEngineError, match="would pass the deadline of 1.0s"):
        await run(attempt, policy, clock)
    # waits 0.3 and 0.6 fit; the third (1.2 s, ending at 2.1 s) would not
    assert clock.sleeps == pytest.approx([0.3, 0.6])
    assert attempt.starts == pytest.approx([0.0, 0.3, 0.9])


async def test_a_retry_after_beyond_the_deadline_ends_the_call_at_once():
    clock = ManualClock()
    policy = RetryPolicy(deadline_s=1.0)
    attempt = failing(clock, [TransientError("HTTP 503", status_code=503, retry_after=30)])
    with pytest.raises(RemoteEngineError, match="deadline") as info:
        await run(attempt, policy, clock)
    assert clock.sleeps == [] and attempt.starts == [0.0]
    assert info.value.status_code == 503


async def test_a_retry_after_over_the_policy_limit_is_refused():
    clock = ManualClock()
    policy = RetryPolicy(deadline_s=1000, max_retry_after_s=60)
    attempt = failing(clock, [TransientError("HTTP 429", status_code=429, retry_after=90)])
    with pytest.raises(RemoteEngineError, match="asked to retry after 90.0s"):
        await run(attempt, policy, clock)
    assert clock.sleeps == []


async def test_errors_that_no_retry_fixes_are_raised_after_one_attempt():
    clock = ManualClock()
    refused = RemoteEngineError("HTTP 400: bad request", status_code=400)
    attempt = failing(clock, [refused])
    with pytest.raises(RemoteEngineError) as info:
        await run(attempt, RetryPolicy(), clock)
    assert info.value is refused and attempt.starts == [0.0] and clock.sleeps == []
