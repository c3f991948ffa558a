"""best_of_n on the real engine: batched drafts, batched tournament rounds, every selector."""

import math

import pytest
from thinkfast.orchestrator import athink
from thinkfast.orchestrator.selection import representatives

QUESTION = "347*29"


async def test_n_drafts_are_one_request(engine, quick_pack):
    answer = await athink(QUESTION, "best_of_n", engine, pack=quick_pack, n=8, seed=0)
    (draft,) = answer.calls
    assert (draft.role, draft.requests, draft.samples) == ("draft", 1, 8)
    assert len(answer.candidates) == 8
    assert engine.batch_log[-1].rows == 8  # one prefill, eight rows decoded together
    counts = {}
    for c in answer.candidates:
        counts[c.answer] = counts.get(c.answer, 0) + 1
    assert all(c.votes == counts[c.answer] for c in answer.candidates if c.answer is not None)
    assert answer.chosen.votes == max(v for a, v in counts.items() if a is not None)


async def test_judge_tournament_rounds_are_batched(engine, quick_pack):
    answer = await athink(
        QUESTION,
        "best_of_n",
        engine,
        pack=quick_pack,
        n=5,
        selector="judge",
        temperature=1.0,
        seed=1,
    )
    distinct = len(representatives(answer.candidates))
    judges = [c for c in answer.calls if c.role == "judge"]
    assert len(judges) == (math.ceil(math.log2(distinct)) if distinct > 1 else 0)
    matches = [d for d in answer.decisions if d.kind == "match"]
    assert len(matches) == distinct - 1  # a knockout of k entrants plays k - 1 matches
    alive = distinct
    for round_, call in enumerate(judges, start=1):
        pairs = alive // 2
        assert call.requests == 2 * pairs  # both orders of every pair, in ONE call
        assert len([m for m in matches if m.round == round_]) == pairs
        alive -= pairs
    if matches:
        assert answer.selected == matches[-1].winner


async def test_score_selector_critiques_each_distinct_draft_in_one_call(engine, quick_pack):
    answer = await athink(
        QUESTION,
        "best_of_n",
        engine,
        pack=quick_pack,
        n=4,
        selector="score",
        temperature=1.5,
        seed=2,
    )
    (critique,) = [c for c in answer.calls if c.role == "critique"]
    assert critique.requests == len({c.text for c in answer.candidates})
    assert all(len(c.critiques) == 1 and c.scores for c in answer.candidates)
    best = max(sum(c.scores) / len(c.scores) for c in answer.candidates)
    assert answer.chosen.scores[0] == best


async def test_logprob_and_reward_selectors(engine, quick_pack):
    by_logprob = await athink(
        QUESTION,
        "best_of_n",
        engine,
        pack=quick_pack,
        n=4,
        selector="logprob",
        temperature=1.5,
        seed=3,
    )
    readable = [c for c in by_logprob.candidates if c.answer is not None] or by_logprob.candidates
    assert by_logprob.chosen.mean_logprob == max(c.mean_logprob for c in readable)

    seen = []

    def shortest(question, text, answer):
        seen.append(question)
        return -len(text)

    by_reward = await athink(
        QUESTION,
        "best_of_n",
        engine,
        pack=quick_pack,
        n=4,
        selector="reward",
        reward=shortest,
        temperature=1.5,
        seed=3,
    )
    assert seen == [QUESTION] * 4
    assert len(by_reward.chosen.text) == min(len(c.text) for c in by_reward.candidates)
    assert by_reward.options["reward"] == "test_logprob_and_reward_selectors.<locals>.shortest"


async def test_adaptive_drawing_stops_once_the_vote_is_decided(engine):
    # greedy direct answers always agree: after 6 of 8 the leader cannot be caught
    answer = await athink(
        QUESTION,
        "best_of_n",
        engine,
        n=8,
        adaptive=True,
        batch=2,
        temperature=0.0,
        prompts=["draft_direct"],
    )
    drafts = [c for c in answer.calls if c.role == "draft_direct"]
    assert [c.samples for c in drafts] == [2, 2, 2]
    assert [c.after for c in drafts] == [[], [drafts[0].id], [drafts[0].id, drafts[1].id]]
    assert len(answer.candidates) == 6
    assert answer.latency.critical_path_s == pytest.approx(sum(c.wall_s for c in drafts))


async def test_seeded_runs_repeat(engine, quick_pack):
    one = await athink(QUESTION, "best_of_n", engine, pack=quick_pack, n=4, seed=21)
    two = await athink(QUESTION, "best_of_n", engine, pack=quick_pack, n=4, seed=21)
    assert [c.text for c in one.candidates] == [c.text for c in two.candidates]
