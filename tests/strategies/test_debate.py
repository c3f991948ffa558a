"""`debate`: k drafts, then rounds where every agent reads the others' answers (one call
per round, k requests); convergence is reported. Run in arith-tiny v2's debate format;
the shipped weights have not learned the role yet, so this checks the mechanics."""

import pytest
from thinkfast.orchestrator import RolePrompt, StrategyConfigError, athink

DEBATE = RolePrompt(
    template="Q: {question}\nMine: {answer}\nOthers: {others}\nRevised: ", raw=True, max_tokens=12
)


async def test_rounds_are_one_call_each_and_convergence_is_reported(engine, quick_pack):
    pack = quick_pack.with_roles({"debate": DEBATE})
    answer = await athink(
        "(79+66)*4", "debate", engine, pack=pack, agents=3, rounds=2, stop_when_agreed=False, seed=4
    )
    rounds = [c for c in answer.calls if c.role == "debate"]
    assert len(rounds) == 2 and all(c.requests == 3 for c in rounds)
    assert rounds[0].after == [answer.calls[0].id] and rounds[1].after == [rounds[0].id]
    per_round = [d for d in answer.decisions if d.kind == "debate_round"]
    assert [d.round for d in per_round] == [0, 1, 2]
    final = answer.decisions[-1]
    assert final.kind == "debate_vote"
    assert "converged on" in final.detail or "no consensus" in final.detail
    assert answer.usage.total.total_tokens == sum(c.total_tokens for c in answer.calls)


async def test_agreement_ends_the_debate_early(engine, quick_pack):
    pack = quick_pack.with_roles({"debate": DEBATE})
    answer = await athink(
        "12+13", "debate", engine, pack=pack, agents=3, rounds=3, temperature=0.0, seed=1
    )
    # greedy drafts agree at once: no round is needed
    assert [c.role for c in answer.calls] == ["draft"]
    assert "converged on 25 in round 0" in answer.decisions[-1].detail


async def test_options_are_validated(engine):
    with pytest.raises(StrategyConfigError, match="option 'agents'.*greater than or equal to 2"):
        await athink("1+1", "debate", engine, agents=1)


async def test_the_models_own_debater(engine, pack):
    # arith-tiny v2 plays the debate role: a revision is one of the answers on the table
    answer = await athink(
        "30*5+75*9", "debate", engine, pack=pack, agents=3, rounds=1, stop_when_agreed=False, seed=2
    )
    drafts = {c.answer for c in answer.candidates if c.round == 0}
    revised = [c for c in answer.candidates if c.round == 1]
    assert len(revised) == 3 and all(c.answer in drafts for c in revised)
