"""`auto`: the shipped policy (fitted on the TRAINING split) loads and picks how much more
to spend from the first drafts' agreement; the fitter's choices follow its data."""

import pytest
from thinkfast.evals.auto_policy import Item, fit_policy
from thinkfast.orchestrator import StrategyConfigError, athink
from thinkfast.strategies.auto import DEFAULT_POLICY, Policy


def test_the_shipped_policy_was_fitted_on_the_training_split():
    policy = Policy.load(DEFAULT_POLICY)
    assert "train split" in policy.fitted_on
    spends = [t.spend for t in policy.tables]
    assert spends == sorted(spends) and policy.tables


async def test_auto_spends_by_the_policy(engine, quick_pack):
    answer = await athink("58+67", "auto", engine, pack=quick_pack, spend=8, seed=1)
    decided = next(d for d in answer.decisions if d.kind == "auto")
    assert "agreement" in decided.detail and "more drafts" in decided.detail
    table = Policy.load(DEFAULT_POLICY).table(8)
    drafts = [c for c in answer.calls if c.role == "draft"]
    assert drafts[0].samples == table.k
    assert len(drafts) in (1, 2)
    assert answer.usage.total.total_tokens == sum(c.total_tokens for c in answer.calls)


async def test_a_missing_policy_file_is_a_clear_error(engine, tmp_path):
    with pytest.raises(StrategyConfigError, match="auto policy file not found"):
        await athink("1+1", "auto", engine, policy=str(tmp_path / "none.json"))


def _item(target, answers, verified=None):
    n = len(answers)
    return Item(target, 20, answers, [-0.1] * n, [40] * n, verified or [1.0] * n)


def test_fit_spends_more_only_where_it_pays():
    easy = [_item("5", ["5"] * 32) for _ in range(10)]
    # contested: the first drafts split, the majority of all 32 is right
    hard = [_item("7", ["8", "7", "9", "8"] + ["7"] * 20 + ["8"] * 8) for _ in range(10)]
    policy = fit_policy(easy + hard, task="t", temperature=0.7, fitted_on="train split, test")
    richest = policy["tables"][-1]
    rules = {r["min_agreement"]: r for r in richest["rules"]}
    assert rules[1.0]["extra"] == 0  # unanimous: stop
    assert richest["train_accuracy"] == 1.0
    assert any(r["extra"] > 0 for r in richest["rules"] if r["min_agreement"] < 1.0)
