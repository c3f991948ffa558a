"""astream's "token" events: the final answer's text while it is decoded, only where the
strategy's last step writes it (single's draft, self_refine's last round with
accept="always"); never for a generation a later step may replace. Same answer and usage
as athink with the same seed."""

from __future__ import annotations

import pytest
from thinkfast.engine.remote import OpenAIEngine
from thinkfast.orchestrator import astream, athink
from thinkfast.orchestrator.errors import BudgetExhaustedError
from thinkfast_tests_fault_server import FaultServer, Stream

QUESTION = "58+67"
REFINED = "12*13-7"  # the critic rejects arith-tiny's first draft, so a round is refined


def _usage(answer) -> tuple[int, int, int]:
    total = answer.usage.total
    return total.calls, total.prompt_tokens, total.completion_tokens


async def _events(*args, **kw):
    return [e async for e in astream(*args, **kw)]


async def test_single_streams_its_draft_as_tokens_before_the_answer(engine, quick_pack):
    events = await _events(QUESTION, "single", engine, pack=quick_pack, temperature=1.0, seed=4)
    kinds = [e.kind for e in events]
    tokens = [e for e in events if e.kind == "token"]
    answer = events[-1].result
    assert len(tokens) >= 3  # several deltas, not one chunk
    assert max(i for i, k in enumerate(kinds) if k == "token") < kinds.index("call_finished")
    assert "".join(t.data["text"] for t in tokens) == answer.text
    assert {t.data["call"] for t in tokens} == {answer.chosen.call_id}
    assert {(t.role, t.node) for t in tokens} == {("draft", "draft")}
    awaited = await athink(QUESTION, "single", engine, pack=quick_pack, temperature=1.0, seed=4)
    assert awaited.text == answer.text
    assert _usage(awaited) == _usage(answer)


async def test_tokens_false_streams_no_tokens(engine, quick_pack):
    events = await _events(QUESTION, "single", engine, pack=quick_pack, tokens=False)
    assert "token" not in [e.kind for e in events]
    assert events[-1].kind == "answer"


@pytest.mark.parametrize(
    ("strategy", "options"),
    [
        ("best_of_n", {"n": 3, "temperature": 1.0}),  # the vote picks the answer at the end
        ("self_refine", {"max_rounds": 1}),  # the judge may reject the revision
        ("self_refine", {"max_rounds": 2, "accept": "always"}),  # round 2 may replace round 1
    ],
)
async def test_a_generation_a_later_step_may_replace_is_not_streamed(
    engine, pack, strategy, options
):
    events = await _events(REFINED, strategy, engine, pack=pack, seed=1, **options)
    assert events[-1].kind == "answer"
    tokens = [e for e in events if e.kind == "token"]
    if strategy == "self_refine" and options.get("accept") == "always":
        # only the last round's revision streams: no token from the draft or round 1
        last = max(c.id for c in events[-1].result.calls if c.role == "refine")
        assert {t.data["call"] for t in tokens} <= {last}
    else:
        assert tokens == []


async def test_self_refine_streams_its_last_round_when_nothing_can_reject_it(engine, pack):
    options = {"max_rounds": 1, "accept": "always"}
    events = await _events(REFINED, "self_refine", engine, pack=pack, **options)
    answer = events[-1].result
    assert [r.stopped for r in answer.rounds] == ["max_rounds"]  # a round was refined
    tokens = [e for e in events if e.kind == "token"]
    assert len(tokens) >= 3
    assert {(t.role, t.node, t.branch) for t in tokens} == {("refine", "refine", "round-1")}
    assert "".join(t.data["text"] for t in tokens) == answer.text
    kinds = [e.kind for e in events]
    assert kinds.index("verdict") < kinds.index("token") < kinds.index("answer")
    awaited = await athink(REFINED, "self_refine", engine, pack=pack, **options)
    assert awaited.text == answer.text
    assert _usage(awaited) == _usage(answer)


async def test_a_latency_budget_still_cuts_a_streamed_draft_off():
    """The budget's deadline covers the stream as it covered generate(): a draft cut off
    part-way is a budget stop (no answer), not a shorter answer. The upstream sends one
    delta a second, so the 2 s budget ends the draft after its first deltas."""
    async with FaultServer([Stream(delay_s=1.0)]) as fault:
        engine = OpenAIEngine("fault-model", base_url=fault.base_url)
        events = []
        with pytest.raises(BudgetExhaustedError, match="cut off"):
            async for event in astream(QUESTION, "single", engine, max_latency_s=2.0):
                events.append(event)
        await engine.aclose()
    kinds = [e.kind for e in events]
    assert "token" in kinds  # it was cut off mid-stream, not refused before it
    assert kinds.index("budget_stop") > max(i for i, k in enumerate(kinds) if k == "token")
    assert fault.posts[0].body["stream"] is True
