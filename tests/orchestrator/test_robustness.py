"""Failures stay in their branch, cancelling stops the engine, bad options are typed errors."""

import asyncio

import pytest
from thinkfast.orchestrator import (
    AllBranchesFailedError,
    StrategyConfigError,
    UnknownStrategyError,
    astream,
    athink,
)
from thinkfast.orchestrator.selection import representatives

QUESTION = "347*29"


def broken(pack, engine, *roles):
    """The pack with `roles` prompting with more text than the model's context holds, so
    the real engine rejects exactly those calls (ContextLengthError)."""
    padding = "9" * (engine.context_length + 1)
    update = {
        role: pack.role(role).model_copy(update={"template": pack.role(role).template + padding})
        for role in roles
    }
    return pack.with_roles(update)


async def test_a_failing_branch_is_recorded_and_left_out(engine, pack):
    answer = await athink(
        QUESTION,
        "best_of_n",
        engine,
        pack=broken(pack, engine, "draft_direct"),
        n=4,
        prompts=["draft", "draft_direct"],
        seed=2,
    )
    assert len(answer.failures) == 1
    failure = answer.failures[0]
    assert (failure.node, failure.branch, failure.role) == ("draft", "draft_direct", "draft_direct")
    assert "ContextLengthError" in failure.error
    assert len(answer.candidates) == 2 and {c.source for c in answer.candidates} == {"draft"}
    failed_call = next(c for c in answer.calls if c.id == failure.call_id)
    assert failed_call.error and failed_call.total_tokens == 0
    assert answer.usage.total.calls == len(answer.calls) == 2


async def test_every_branch_failing_is_a_clear_error(engine, pack):
    with pytest.raises(AllBranchesFailedError, match="ContextLengthError") as info:
        await athink(QUESTION, "single", engine, pack=broken(pack, engine, "draft"))
    assert len(info.value.failures) == 1


async def test_a_failing_judge_falls_back_to_the_vote(engine, pack):
    answer = await athink(
        QUESTION,
        "best_of_n",
        engine,
        pack=broken(pack, engine, "judge"),
        n=6,
        selector="judge",
        prompts=["draft_direct"],
        temperature=3.0,
        seed=4,
    )
    if len(representatives(answer.candidates)) < 2:
        pytest.skip("all drafts agreed, no judge was needed")
    assert [f.role for f in answer.failures] == ["judge"]
    assert "cut short" in answer.decisions[-1].detail
    assert answer.selected in {c.id for c in answer.candidates}


async def test_cancelling_athink_stops_the_engine_work(engine):
    options = dict(n=16, temperature=3.0, seed=11)
    full = await athink(QUESTION, "best_of_n", engine, selector="logprob", **options)
    longest = max(c.completion_tokens for c in full.candidates)
    assert longest > 8  # otherwise there is nothing to cut short

    last = engine.batch_log[-1] if engine.batch_log else None  # batch_log is a bounded deque
    started = asyncio.Event()

    async def consume():
        async for event in astream(QUESTION, "best_of_n", engine, selector="logprob", **options):
            if event.kind == "call_started":
                started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), timeout=60)

    async def engine_busy():
        # the call is announced before the engine's worker takes it from the queue; cancel
        # only once the worker runs it, so there is engine work to stop
        while not engine.scheduler.draining or engine.scheduler.pending:
            await asyncio.sleep(0.001)

    await asyncio.wait_for(engine_busy(), timeout=60)
    task.cancel()

    async def batch_done():
        # the worker records a batch when its last row stops
        while not engine.batch_log or engine.batch_log[-1] is last:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(batch_done(), timeout=60)
    with pytest.raises(asyncio.CancelledError):
        await task
    record = engine.batch_log[-1]
    assert record.rows == 16
    assert max(record.tokens_per_row) < longest  # stopped before the samples were done


@pytest.mark.parametrize(
    ("strategy", "options", "message"),
    [
        ("best_of_n", {"n": 0}, "option 'n' of strategy 'best_of_n'.*greater than or equal to 1"),
        ("best_of_n", {"selector": "best"}, "option 'selector'.*one of 'vote', 'judge'"),
        ("best_of_n", {"selector": "reward"}, "needs reward=callable"),
        ("best_of_n", {"nn": 3}, "unknown option 'nn'.*accepted: n, selector"),
        ("self_refine", {"max_rounds": -1}, "option 'max_rounds'"),
        ("single", {"mode": "shout"}, "option 'mode'.*'think', 'direct'"),
        (
            "single",
            {"engines": {"critic": None}},
            "engines names role.*critic.*'single'.*asks for: draft$",
        ),
    ],
)
async def test_invalid_options_name_the_option_and_what_is_accepted(
    engine, strategy, options, message
):
    with pytest.raises(StrategyConfigError, match=message):
        await athink(QUESTION, strategy, engine, **options)


async def test_unknown_strategy_lists_the_available_ones(engine):
    with pytest.raises(UnknownStrategyError, match="available: .*best_of_n.*self_refine.*single"):
        await athink(QUESTION, "tree_of_thought", engine)


async def test_empty_question_is_rejected(engine):
    with pytest.raises(StrategyConfigError, match="question"):
        await athink("  ", "single", engine)
