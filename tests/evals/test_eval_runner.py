"""The runner with the real local engine and the shipped model: logs, pairing, errors, resume."""

import json
import shutil

import pytest
from thinkfast.engine.local import LocalEngine
from thinkfast.evals.errors import LogError
from thinkfast.evals.log import LOG_NAME, read_log
from thinkfast.evals.report import summarize
from thinkfast.evals.runner import athink_solver, run_eval
from thinkfast.evals.sweep import expand_grid
from thinkfast.evals.task import get_task


@pytest.fixture(scope="module")
def engine():
    return LocalEngine("arith-tiny")


def grid():
    return expand_grid(["single", "best_of_n:n=3"])


async def run(engine, log_dir, task=None, configs=None, **kw):
    task = task or get_task("arith-1", size=4)
    return await run_eval(
        task,
        configs or grid(),
        athink_solver(engine),
        log_dir=log_dir,
        model="arith-tiny",
        progress=False,
        **kw,
    )


async def test_log_has_header_and_one_graded_record_per_unit(engine, tmp_path):
    result = await run(engine, tmp_path, seed=7)
    header, records = read_log(tmp_path)
    assert header.spec.seed == 7 and header.spec.sample_ids == ["L1-0", "L1-1", "L1-2", "L1-3"]
    assert header.packages["thinkfast"] and header.python
    assert len(records) == 8 and len({r.key for r in records}) == 8
    for r in records:
        assert r.error is None and r.correct is not None
        assert r.usage["draft"]["prompt_tokens"] > 0 and r.usage["draft"]["completion_tokens"] > 0
        assert r.tokens == sum(u["total_tokens"] for u in r.usage.values())
        assert r.latency["wall_s"] > 0 and r.latency["critical_path_s"] > 0
        assert set(r.latency["emulated"]) == {"cs3", "h100"}
        # the grade agrees with the numeric truth of the problem
        if r.answer is not None:
            assert r.correct == (r.answer == r.target)
    best = [r for r in records if r.config == "c1"]
    assert all(len(r.candidates) == 3 for r in best)
    # paired: a sample gets the same seed under every configuration
    seeds = {}
    for r in records:
        seeds.setdefault(r.sample_id, set()).add(r.seed)
    assert all(len(s) == 1 for s in seeds.values())
    assert result.ran == 8 and result.errors == 0


async def test_errors_are_recorded_and_do_not_stop_the_run(engine, tmp_path):
    data = tmp_path / "q.jsonl"
    rows = [
        {"input": "12+34", "target": "46"},
        {"input": "9" * 5000, "target": "1"},
        {"input": "20+22", "target": "42"},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    task = get_task(str(data), grader="numeric")
    configs = expand_grid(["single"])
    result = await run(engine, tmp_path / "log", task=task, configs=configs)
    by_id = {r.sample_id: r for r in result.records}
    assert by_id["2"].error is not None and "context" in by_id["2"].error["message"].lower()
    assert by_id["1"].error is None and by_id["3"].error is None
    summary = summarize(result.header, result.records)
    assert summary.configs[0].errors == 1 and summary.configs[0].samples == 2
    # resuming reruns only the errored sample (it fails again: the input is too long)
    again = await run(engine, tmp_path / "log", task=task, configs=configs, resume=True)
    assert again.ran == 1 and again.errors == 1


async def test_resume_after_truncation_matches_an_uninterrupted_run(engine, tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    # one query at a time, so both runs see identical engine batches
    reference = await run(engine, full, max_connections=1)
    cut.mkdir()
    data = (full / LOG_NAME).read_bytes()
    (cut / LOG_NAME).write_bytes(data[: len(data) * 3 // 5])  # mid-way, mid-line
    _, kept = read_log(cut)
    assert 0 < len(kept) < 8
    resumed = await run(engine, cut, resume=True, max_connections=1)
    assert resumed.ran == 8 - len(kept)
    _, records = read_log(cut)
    keys = [r.key for r in records]
    assert len(keys) == len(set(keys)) == 8  # nothing duplicated, nothing missing
    want = summarize(reference.header, reference.records).deterministic()
    got = summarize(resumed.header, resumed.records).deterministic()
    assert got == want
    # resuming a complete run does nothing
    assert (await run(engine, cut, resume=True)).ran == 0


async def test_resume_refuses_a_log_of_another_configuration(engine, tmp_path):
    await run(engine, tmp_path, configs=expand_grid(["single"]), task=get_task("arith-1", size=2))
    before = (tmp_path / LOG_NAME).read_bytes()
    with pytest.raises(LogError, match=r"different configuration.*configs"):
        await run(engine, tmp_path, task=get_task("arith-1", size=2), resume=True)
    with pytest.raises(LogError, match=r"sample_ids \(2 in the log vs 3 now\)"):
        await run(
            engine,
            tmp_path,
            configs=expand_grid(["single"]),
            task=get_task("arith-1", size=3),
            resume=True,
        )
    assert (tmp_path / LOG_NAME).read_bytes() == before
    shutil.rmtree(tmp_path)


async def test_epochs_draw_fresh_seeds_and_give_pass_at_k(engine, tmp_path):
    configs = expand_grid(["single:temperature=0.8"])
    result = await run(
        engine, tmp_path, task=get_task("arith-2", size=2), configs=configs, epochs=2
    )
    assert len(result.records) == 4
    seeds = {(r.sample_id, r.epoch): r.seed for r in result.records}
    assert seeds[("L2-0", 0)] != seeds[("L2-0", 1)]
    s = summarize(result.header, result.records).configs[0]
    assert set(s.pass_at_k) == {1, 2} and set(s.maj_at_k) == {1, 2}
    assert s.pass_at_k[2] >= s.pass_at_k[1] == s.accuracy.mean
    assert s.accuracy.n == 2  # clustered by sample: 2 clusters of 2 runs
