"""Budgets: no call starts that could overrun them, and the Answer says it stopped."""

import pytest
from thinkfast.orchestrator import BudgetExhaustedError, StrategyConfigError, athink

QUESTION = "58+67"


async def test_token_budget_shrinks_the_draft_batch_and_is_never_exceeded(engine, quick_pack):
    pack = quick_pack
    free = await athink(
        QUESTION, "best_of_n", engine, pack=pack, n=8, selector="judge", temperature=1.2, seed=5
    )
    prompt = free.calls[0].prompt_tokens
    budget = prompt + 3 * pack.role("draft").max_tokens  # room for three drafts in the worst case
    capped = await athink(
        QUESTION,
        "best_of_n",
        engine,
        n=8,
        selector="judge",
        temperature=1.2,
        seed=5,
        max_tokens=budget,
        pack=pack,
    )
    assert capped.usage.total.total_tokens <= budget
    assert capped.calls[0].samples == 3
    assert len(capped.candidates) == 3
    assert capped.stopped_for_budget
    assert "3 of 8" in capped.budget_stop_reason
    # no judge call fits in what is left, so the vote decides
    assert all(c.role == "draft" for c in capped.calls)
    assert capped.answer is not None or capped.text is not None


async def test_a_budget_below_one_draft_is_a_typed_error(engine):
    with pytest.raises(BudgetExhaustedError, match="token budget"):
        await athink(QUESTION, "single", engine, max_tokens=5)


async def test_self_refine_stops_cleanly_between_rounds(engine, quick_pack):
    pack = quick_pack
    single = await athink(QUESTION, "single", engine, pack=pack)
    # the draft's worst case fits, a critique's does not (its prompt holds the draft)
    draft_worst = single.calls[0].prompt_tokens + pack.role("draft").max_tokens
    answer = await athink(
        QUESTION,
        "self_refine",
        engine,
        pack=pack,
        max_rounds=3,
        max_tokens=draft_worst + pack.role("critique").max_tokens // 2,
    )
    assert answer.stopped_for_budget
    assert [c.role for c in answer.calls] == ["draft"]
    assert answer.text == single.text
    assert answer.rounds and answer.rounds[-1].stopped == "budget"


async def test_emulated_budget_caps_the_emulated_critical_path(engine, quick_pack):
    from thinkfast.orchestrator.budget import RequestCost, emulated_worst_case_s

    # a long critique allowance: whatever the draft leaves of the cap, the critique's
    # worst case cannot fit in it
    critique = quick_pack.role("critique").model_copy(update={"max_tokens": 400})
    pack = quick_pack.with_roles({"critique": critique})
    single = await athink(QUESTION, "single", engine, pack=pack)
    worst = RequestCost(single.calls[0].prompt_tokens, 1, pack.role("draft").max_tokens)
    cap = 1.01 * emulated_worst_case_s(engine, "h100", [worst])  # the draft surely fits
    capped = await athink(
        QUESTION,
        "self_refine",
        engine,
        pack=pack,
        max_rounds=2,
        accept="always",
        max_emulated_s=cap,
        profile="h100",
    )
    assert capped.calls[0].role == "draft" and capped.calls[0].ok
    assert capped.stopped_for_budget and "emulated budget on h100" in capped.budget_stop_reason
    assert capped.latency.emulated["h100"].critical_path_s <= cap


async def test_latency_budget_refuses_a_call_predicted_to_overrun(engine):
    # queries after the engine's warm-up call teach the gate how long a draft takes
    await athink(QUESTION, "single", engine)
    await athink(QUESTION, "single", engine)
    with pytest.raises(BudgetExhaustedError, match="latency budget: .* may take"):
        await athink(QUESTION, "single", engine, max_latency_s=1e-4)


async def test_latency_budget_cuts_off_a_running_call(engine):
    # a fresh engine has no speed on record, so its first call is admitted and then cut off
    from thinkfast.engine.local import LocalEngine

    fresh = LocalEngine(engine.checkpoint.path)
    with pytest.raises(BudgetExhaustedError, match="cut off"):
        await athink(QUESTION, "best_of_n", fresh, n=32, temperature=2.0, max_latency_s=0.05)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_latency_s": -1}, "max_latency_s"),
        ({"profile": "cs3"}, "max_emulated_s"),
        ({"max_emulated_s": 1.0, "profile": "tpu-v9"}, "accepted: cs3, h100"),
    ],
)
async def test_invalid_budgets_are_typed_errors(engine, options, message):
    with pytest.raises(StrategyConfigError, match=message):
        await athink(QUESTION, "single", engine, **options)
