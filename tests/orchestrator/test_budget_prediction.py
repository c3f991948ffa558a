"""The wall-clock predictor learns from the engine's own recent calls, warm-up excluded."""

import re

import pytest
from thinkfast.orchestrator import BudgetExhaustedError, athink
from thinkfast.orchestrator.budget import RECENT_CALLS, BudgetGate

QUESTION = "58+67"


@pytest.fixture
def fresh(engine):
    """A LocalEngine nothing has run on yet (the gate's memory is per engine)."""
    from thinkfast.engine.local import LocalEngine

    return LocalEngine(engine.checkpoint.path)


async def test_the_warm_up_call_is_not_learned_from(fresh):
    await athink(QUESTION, "single", fresh)
    assert BudgetGate.predict_s(fresh, "draft", None, 320) is None  # only warm-up seen
    second = await athink(QUESTION, "single", fresh)
    (draft,) = second.calls
    # predicted as long as the call it learned from took, not at the max_tokens ceiling
    assert BudgetGate.predict_s(fresh, "draft", None, 320) == pytest.approx(draft.wall_s)
    steps = draft.completion_tokens
    half = BudgetGate.predict_s(fresh, "draft", None, steps // 2)
    assert half == pytest.approx(draft.wall_s * (steps // 2) / steps)
    # a role not seen yet is predicted from the engine's other roles
    assert BudgetGate.predict_s(fresh, "critique", None, 320) == pytest.approx(draft.wall_s)


async def test_the_prediction_follows_recent_calls_only(fresh):
    walls = []
    for _ in range(RECENT_CALLS + 3):
        answer = await athink(QUESTION, "single", fresh)
        walls.append(answer.calls[0].wall_s)
    recent = walls[-RECENT_CALLS:]
    assert BudgetGate.predict_s(fresh, "draft", None, 320) == pytest.approx(max(recent))


def _refusal_fits(reason: str) -> bool:
    """Whether a predicted refusal really needed more than the 0.5 s budget."""
    found = re.search(r"([0-9.]+)s spent of .* may take ([0-9.]+)s", reason)
    return found is None or float(found[1]) + float(found[2]) > 0.5


async def test_the_docs_latency_example_answers_from_what_it_learned(fresh):
    # docs/strategies.md: think(q, "self_refine", max_latency_s=0.5). A call is refused
    # only when recent calls of that engine really took that long.
    answers = 0
    for _ in range(4):
        try:
            answer = await athink(QUESTION, "self_refine", fresh, max_latency_s=0.5)
        except BudgetExhaustedError as exc:
            assert _refusal_fits(str(exc)), exc
            continue
        answers += 1
        assert not answer.stopped_for_budget or _refusal_fits(answer.budget_stop_reason)
    assert answers >= 1


async def test_a_batch_does_not_set_the_price_of_one_draft(fresh):
    await athink(QUESTION, "single", fresh)  # warm-up
    batch = await athink(QUESTION, "best_of_n", fresh, n=8, temperature=0.8, seed=1)
    (drafts,) = [c for c in batch.calls if c.role == "draft"]
    # only a batch of 8 seen: one draft is predicted at an eighth of it, 8 at all of it
    assert BudgetGate.predict_s(fresh, "draft", None, 320, 1) == pytest.approx(drafts.wall_s / 8)
    assert BudgetGate.predict_s(fresh, "draft", None, 320, 8) == pytest.approx(drafts.wall_s)
    single = await athink(QUESTION, "single", fresh)
    (draft,) = single.calls
    assert BudgetGate.predict_s(fresh, "draft", None, 320, 1) == pytest.approx(draft.wall_s)
