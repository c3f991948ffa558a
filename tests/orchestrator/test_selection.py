"""The pure selection rules: majority vote, the drawn-first tie-break, ties labelled."""

from thinkfast.orchestrator import Candidate
from thinkfast.orchestrator.selection import (
    representatives,
    select_by_score,
    select_logprob,
    select_vote,
    vote_decided,
)


def cand(id, answer, logprob=-1.0, call=1, index=None, scores=()):
    return Candidate(
        id=id,
        text=f"... Answer: {answer}",
        answer=answer,
        mean_logprob=logprob,
        call_id=call,
        sample_index=id if index is None else index,
        scores=list(scores),
    )


def test_the_vote_takes_the_majority():
    best, decision = select_vote([cand(1, "7", -0.5), cand(2, "8", -0.9), cand(3, "8", -0.8)])
    assert best.answer == "8" and best.votes == 2 and best.id == 2  # the first "8" drawn
    assert decision.detail == "8: 2, 7: 1" and not decision.tie
    unreadable, _ = select_vote([cand(1, None, -0.1), cand(2, "5", -3.0)])
    assert unreadable.id == 2


def test_a_tied_vote_goes_to_the_answer_drawn_first_whatever_the_logprobs():
    # the logprobs favour "10063", but "13633" was drawn first: logprobs differ between
    # engines, the order of the graph's calls does not
    tied = [cand(1, "13633", -2.0), cand(2, "10063", -0.1), cand(3, "10063", -0.1)]
    tied.append(cand(4, "13633", -2.0))
    best, decision = select_vote(tied)
    assert best.answer == "13633" and best.id == 1
    assert decision.tie
    assert decision.detail.startswith("13633: 2, 10063: 2; tie between 10063, 13633")


def test_drawn_first_means_the_earlier_call_then_the_earlier_sample():
    # candidate ids follow the order calls *finished*; the rule reads the order they started
    late_id_early_call = cand(9, "5", call=1, index=0)
    early_id_late_call = cand(1, "6", call=2, index=0)
    best, decision = select_vote([early_id_late_call, late_id_early_call])
    assert best.answer == "5" and decision.tie
    second, _ = select_vote([cand(1, "5", call=3, index=1), cand(2, "6", call=3, index=0)])
    assert second.answer == "6"


def test_logprob_and_score_selection_label_their_ties():
    best, decision = select_logprob([cand(1, "3", -0.5), cand(2, "4", -0.2)])
    assert best.answer == "4" and not decision.tie
    best, decision = select_logprob([cand(1, "3", -0.5), cand(2, "4", -0.5)])
    assert best.answer == "3" and decision.tie
    scored = [cand(1, "3", scores=[1.0]), cand(2, "4", scores=[1.0]), cand(3, "5", scores=[0.0])]
    best, decision = select_by_score(scored, "score")
    assert best.answer == "3" and decision.tie and "tie between 3, 4" in decision.detail
    best, decision = select_by_score([*scored[:2], cand(4, "4", scores=[1.0])], "score")
    assert best.answer == "4" and not decision.tie  # the vote breaks it, not the order


def test_the_vote_is_decided_when_the_leader_cannot_be_caught():
    drawn = [cand(1, "7"), cand(2, "7"), cand(3, "7"), cand(4, "9")]
    assert vote_decided(drawn, remaining=1)
    assert not vote_decided(drawn, remaining=2)
    field = representatives(drawn)
    assert [c.id for c in field] == [1, 4]  # one per answer: the first drawn, strongest first
