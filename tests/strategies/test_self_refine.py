"""self_refine on the real engine: rounds, safe acceptance, flips, and the single baseline."""

from thinkfast.orchestrator import athink

QUESTION = "(47*23)-158"


async def test_zero_rounds_is_the_single_baseline(engine):
    single = await athink(QUESTION, "single", engine)
    refined = await athink(QUESTION, "self_refine", engine, max_rounds=0)
    assert refined.text == single.text and refined.rounds == []
    assert [c.role for c in refined.calls] == ["draft"]


async def test_rounds_follow_critique_refine_judge_and_guard_the_answer(engine):
    single = await athink(QUESTION, "single", engine)
    answer = await athink(QUESTION, "self_refine", engine, max_rounds=2)
    assert answer.candidates[0].text == single.text  # the first draft IS the baseline
    assert 1 <= len(answer.rounds) <= 2
    roles = [c.role for c in answer.calls]
    assert roles[0] == "draft"
    for record in answer.rounds:
        assert record.approved is not None or record.critique is not None
        if record.revision is not None:
            assert record.judge_prefers_revision is not None
            assert record.accepted == record.judge_prefers_revision
        if record.flipped:
            assert record.accepted and record.answer_after != record.answer_before
        if not record.accepted:
            assert record.answer_after == record.answer_before
    last = answer.rounds[-1]
    assert last.stopped in {"critic approved", "max_rounds"}
    # the answer is the draft unless the judge accepted a revision
    accepted = [r.revision for r in answer.rounds if r.accepted]
    assert answer.selected == (accepted[-1] if accepted else answer.candidates[0].id)
    # sequential: each call waits on the one before it
    for before, after in zip(answer.calls, answer.calls[1:], strict=False):
        assert before.id in after.after
    assert answer.flips == sum(r.flipped for r in answer.rounds)


async def test_accept_always_keeps_every_revision(engine, quick_pack):
    answer = await athink(
        QUESTION, "self_refine", engine, pack=quick_pack, max_rounds=2, accept="always"
    )
    assert "judge" not in answer.usage.by_role
    for record in answer.rounds:
        if record.revision is not None:
            assert record.accepted and record.judge_prefers_revision is None
    revised = [r for r in answer.rounds if r.revision is not None]
    if revised:
        assert answer.selected == revised[-1].revision


def rejecting_pack(pack):
    """The model's own pack, changed so that the critic rejects and the refiner errs: the
    critic is shown the candidate with a digit appended (so the answer it checks is not
    the one it works out), and the refiner solves the question plus one."""
    critique, refine = pack.role("critique"), pack.role("refine")
    return pack.with_roles(
        {
            "critique": critique.model_copy(
                update={"template": critique.template.replace("{candidate}", "{candidate}1")}
            ),
            "refine": refine.model_copy(
                update={"template": refine.template.replace("{question}", "{question}+1")}
            ),
        }
    )


async def test_the_judge_guard_keeps_the_current_answer_against_a_worse_revision(engine, pack):
    # a question the greedy draft answers right, so the guard has a right answer to keep
    # against the refiner's answer to another question (347*29, drafted wrong, let the
    # judge prefer one wrong answer over another: not what this test is about)
    question = "12*34"
    single = await athink(question, "single", engine)
    assert single.answer == "408"
    worse = rejecting_pack(pack)
    guarded = await athink(question, "self_refine", engine, pack=worse, max_rounds=1)
    (record,) = guarded.rounds
    assert record.approved is False and record.revision is not None  # the critic rejected
    revision = next(c for c in guarded.candidates if c.id == record.revision)
    assert revision.answer != single.answer  # the refiner answered another question
    # the guard: the judge compared current vs revision and kept the current answer
    assert record.judge_prefers_revision is False and not record.accepted
    assert not record.flipped and record.answer_after == record.answer_before == single.answer
    assert guarded.answer == single.answer and guarded.selected == guarded.candidates[0].id
    match, acceptance, used = guarded.decisions
    assert used.kind == "rounds" and used.detail.startswith("1 of 1 round(s) used")
    assert (match.kind, match.candidates, match.winner) == (
        "match",
        [guarded.candidates[0].id, revision.id],
        guarded.candidates[0].id,
    )
    assert acceptance.kind == "accept" and acceptance.detail.startswith("kept the current answer")
    refine_call, judge_call = guarded.calls[2], guarded.calls[3]
    assert (judge_call.role, judge_call.node) == ("judge", "accept")
    assert refine_call.id in judge_call.after  # the guard waited on the revision
    # without the guard the same worse revision replaces the answer
    unguarded = await athink(
        question, "self_refine", engine, pack=worse, max_rounds=1, accept="always"
    )
    assert unguarded.answer == revision.answer and unguarded.rounds[0].flipped
