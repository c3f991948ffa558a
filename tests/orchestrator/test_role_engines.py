"""Different roles on different engines: each call goes to its role's engine."""

from thinkfast.engine.local import LocalEngine
from thinkfast.orchestrator import athink


async def test_the_judge_runs_on_its_own_engine(engine, quick_pack):
    judge_engine = LocalEngine(engine.checkpoint.path, hardware=("cs3", "h100"))
    answer = await athink(
        "347*29",
        "best_of_n",
        engine,
        engines={"judge": judge_engine},
        pack=quick_pack,
        n=4,
        selector="judge",
        prompts=["draft_direct"],
        temperature=3.0,
        seed=6,
    )
    judges = [c for c in answer.calls if c.role == "judge"]
    assert judges  # hot direct answers disagree, so there is a tournament
    # the drafts were all decoded by the main engine, every judge batch by the judge's
    assert len(judge_engine.batch_log) == len(judges)
    assert all(
        record.rows == c.requests for record, c in zip(judge_engine.batch_log, judges, strict=True)
    )
