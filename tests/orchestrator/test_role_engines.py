"""Engines per role: each call goes to its role's engine, a role may play on several
engines (drafts split across them, other calls round-robin), and the ledger says which
engine served each call."""

import pytest
from thinkfast.engine import LocalEngine
from thinkfast.orchestrator import Roster, StrategyConfigError, athink


@pytest.fixture(scope="module")
def second(engine):
    """Another engine on the same model: its own batches, its own label."""
    return LocalEngine(engine.checkpoint.path, hardware=("cs3", "h100"))


async def test_the_judge_runs_on_its_own_engine(engine, second, quick_pack):
    answer = await athink(
        "347*29",
        "best_of_n",
        engine,
        engines={"judge": second},
        pack=quick_pack,
        n=4,
        selector="judge",
        prompts=["draft_direct"],
        temperature=3.0,
        seed=6,
    )
    judges = [c for c in answer.calls if c.role == "judge"]
    assert judges  # hot direct answers disagree, so there is a tournament
    before = len(second.batch_log) - len(judges)
    # the drafts were all decoded by the main engine, every judge batch by the judge's
    assert [r.rows for r in list(second.batch_log)[before:]] == [c.requests for c in judges]
    assert {c.engine for c in judges} == {"arith-tiny#2"}
    assert {c.engine for c in answer.calls if c.role == "draft_direct"} == {"arith-tiny"}


async def test_drafts_split_across_the_roles_engines(engine, second, quick_pack):
    answer = await athink(
        "58+67",
        "best_of_n",
        engine,
        engines={"draft_direct": [engine, second]},
        pack=quick_pack,
        n=5,
        prompts=["draft_direct"],
        seed=2,
    )
    drafts = [c for c in answer.calls if c.role == "draft_direct"]
    # one call per engine, at once, the first engine taking the remainder
    assert [(c.engine, c.samples) for c in drafts] == [("arith-tiny", 3), ("arith-tiny#2", 2)]
    assert all(c.after == [] for c in drafts)
    by_engine = {label: [c for c in answer.candidates if c.engine == label] for label in
                 ("arith-tiny", "arith-tiny#2")}  # fmt: skip
    assert [len(v) for v in by_engine.values()] == [3, 2]
    assert second.batch_log[-1].rows == 2


def test_other_calls_take_turns_over_the_roles_engines(engine, second):
    roster = Roster(engine, engines={"judge": [engine, second]})
    labels = [roster.agent("judge").label for _ in range(5)]
    assert labels == ["arith-tiny", "arith-tiny#2"] * 2 + ["arith-tiny"]
    assert [a.label for a in roster.agents("critique")] == ["arith-tiny"]  # not named: main


@pytest.mark.parametrize(
    ("engines", "message"),
    [
        ({"judge": []}, r"engines\['judge'\] must be an Engine or a non-empty list"),
        ({"judge": ["gpt"]}, r"engines\['judge'\] holds str; accepted: thinkfast Engine"),
    ],
)
def test_bad_engines_say_what_is_accepted(engine, engines, message):
    with pytest.raises(StrategyConfigError, match=message):
        Roster(engine, engines=engines)
