"""`think_longer` (budget forcing) in arith-tiny v2's thinking format: a short thinking
gets a continuation cue, at most `max_waits` times; thinking is cut at `max_thinking` and
the answer forced; a pack with no thinking segment is a clear error."""

import pytest
from thinkfast.orchestrator import RolePrompt, StrategyConfigError, athink

THINK_MORE = RolePrompt(
    template="Q: {question}\nThink: {thinking}\nWait: ", raw=True, max_tokens=320
)


@pytest.fixture
def thinking_pack(quick_pack):
    return quick_pack.with_roles({"think_more": THINK_MORE}).model_copy(
        update={"thinking_end": "\nAnswer:"}
    )


async def test_short_thinking_is_extended_up_to_max_waits(engine, thinking_pack):
    answer = await athink(
        "58+67",
        "think_longer",
        engine,
        pack=thinking_pack,
        min_thinking=400,
        max_thinking=2000,
        max_waits=2,
    )
    roles = [c.role for c in answer.calls if c.node != "answer"]
    assert roles == ["draft", "think_more", "think_more"]
    assert answer.calls[1].after == [answer.calls[0].id]
    assert "2 wait(s)" in answer.decisions[-1].detail


async def test_enough_thinking_needs_no_cue(engine, thinking_pack):
    answer = await athink("58+67", "think_longer", engine, pack=thinking_pack, min_thinking=1)
    assert [c.role for c in answer.calls] == ["draft"]
    assert answer.answer == "125"


async def test_thinking_is_cut_at_the_maximum_and_the_answer_forced(engine, thinking_pack):
    answer = await athink(
        "936*22", "think_longer", engine, pack=thinking_pack, min_thinking=0, max_thinking=20
    )
    assert answer.calls[0].completion_tokens <= 20
    assert answer.calls[-1].node == "answer"
    assert "cut at max_thinking" in answer.decisions[-1].detail


async def test_the_models_own_thinking_extension(engine, pack):
    # arith-tiny v2 plays think_more; its pack does not declare thinking_end yet: the option
    answer = await athink(
        "936*22",
        "think_longer",
        engine,
        pack=pack,
        thinking_end="\nAnswer:",
        min_thinking=150,
        max_waits=1,
    )
    assert [c.role for c in answer.calls][:2] == ["draft", "think_more"]
    assert "\nWait: " in answer.text and answer.answer is not None


async def test_a_pack_without_a_thinking_segment_is_refused(engine, quick_pack):
    with pytest.raises(StrategyConfigError, match="defines no thinking_end"):
        no_segment = quick_pack.model_copy(update={"thinking_end": None})  # arith-tiny has one
        await athink("58+67", "think_longer", engine, pack=no_segment, max_waits=0)


async def test_min_above_max_is_refused(engine):
    with pytest.raises(StrategyConfigError, match="must not exceed max_thinking"):
        await athink("1+1", "think_longer", engine, min_thinking=100, max_thinking=10)
