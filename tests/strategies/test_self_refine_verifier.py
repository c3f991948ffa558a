"""self_refine with outside feedback (the equation verifier's findings go to the refiner)
and its stop when a round would repeat the last one, rounds used reported."""

import pytest
from thinkfast.orchestrator import StrategyConfigError, athink


async def test_a_round_that_changed_nothing_is_not_repeated(engine, quick_pack):
    # every call is greedy: once a round leaves the answer as it was, the next would be
    # asked the same and answer the same, so the loop stops there instead of max_rounds
    answer = await athink(
        "(79+66)*4", "self_refine", engine, pack=quick_pack, max_rounds=3, accept="judge"
    )
    last = answer.rounds[-1] if answer.rounds else None
    if last is not None and not last.accepted and last.revision is not None:
        assert last.stopped.startswith("a new round would repeat")
        assert len(answer.rounds) == last.round
    used = [d for d in answer.decisions if d.kind == "rounds"]
    assert len(used) == (1 if answer.rounds else 0)
    if used:
        assert used[0].detail.startswith(f"{len(answer.rounds)} of 3 round(s) used")


async def test_rejected_revisions_stop_after_one_round(engine, pack):
    # accept=verifier with the equations verifier: a revision must score higher than the
    # current answer; a rejected one ends the loop (a second round would repeat it)
    def always_wrong(question, text, answer):
        return False

    answer = await athink(
        "75*6",
        "self_refine",
        engine,
        pack=pack,
        max_rounds=3,
        verifier=always_wrong,
        accept="verifier",
    )
    assert len(answer.rounds) == 1
    record = answer.rounds[0]
    assert record.accepted is False and record.stopped.startswith("a new round would repeat")
    assert [c.role for c in answer.calls] == ["draft", "refine"]  # no critic call
    assert answer.decisions[-1].detail.startswith("1 of 3 round(s) used")


async def test_the_verifier_findings_reach_the_refiner(engine, pack):
    answer = await athink(
        "75*6",
        "self_refine",
        engine,
        pack=pack,
        max_rounds=1,
        verifier="equations",
        accept="always",
    )
    record = answer.rounds[0]
    if record.approved is False:  # the draft's arithmetic had a slip: refine saw the finding
        assert "is wrong" in record.critique or "not the last value" in record.critique
        assert answer.calls[-1].role == "refine"
    else:
        assert record.stopped in ("verifier approved", "verifier could not tell")
        assert [c.role for c in answer.calls] == ["draft"]


async def test_accept_verifier_needs_a_verifier(engine):
    with pytest.raises(StrategyConfigError, match="accept='verifier' needs verifier="):
        await athink("1+1", "self_refine", engine, accept="verifier")
