"""`usc`: n drafts, then one selection call that sees them all. The shipped model has no
USC role, so it runs here with the default chat template (mechanics only); an unreadable
pick falls back to the vote and says so."""

import pytest
from thinkfast.orchestrator import StrategyConfigError, athink


async def test_one_selection_call_over_all_drafts(engine, quick_pack):
    takes = quick_pack.model_copy(update={"accepts_default_roles": True})
    answer = await athink("58+67", "usc", engine, pack=takes, n=4, seed=1)
    usc = [c for c in answer.calls if c.role == "usc"]
    assert len(usc) == 1 and usc[0].requests == 1 and usc[0].after == [answer.calls[0].id]
    decision = answer.decisions[-1]
    assert decision.kind == "usc" or "fell back to vote" in decision.detail
    assert answer.usage.total.total_tokens == sum(c.total_tokens for c in answer.calls)


async def test_bad_pattern_is_refused(engine):
    with pytest.raises(StrategyConfigError, match="named group"):
        await athink("1+1", "usc", engine, pattern="Response (\\d+)")
    with pytest.raises(StrategyConfigError, match="option 'n'.*greater than or equal to 2"):
        await athink("1+1", "usc", engine, n=1)
