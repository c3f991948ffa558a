"""Tasks: the registry, arith on evaluation seeds only, jsonl parsing errors, plugins."""

import json
import sys
import textwrap

import pytest
from thinkfast.evals import arith
from thinkfast.evals import task as task_module
from thinkfast.evals.errors import DatasetFormatError, TaskError
from thinkfast.evals.task import get_task, list_tasks


def test_registry_lists_builtins():
    names = list_tasks()
    for name in ("arith", "arith-1", "arith-2", "arith-3", "arith-4", "jsonl", "reasoning_gym"):
        assert name in names


def test_unknown_task_names_the_known_ones():
    with pytest.raises(TaskError, match=r"unknown task 'arith-9'; tasks are arith, arith-1"):
        get_task("arith-9")


def test_bad_task_option_is_named():
    with pytest.raises(TaskError, match="does not accept option.*colour.*accepts size, start"):
        get_task("arith-1", colour="red")


def test_arith_uses_only_held_out_eval_seeds():
    t = get_task("arith-3", size=20)
    assert len(t) == 20
    for s in t.samples:
        assert s.metadata["seed"] in arith.EVAL_SEEDS
        assert arith.is_held_out(s.input)
        assert int(s.target) == eval(s.input)  # the generator's answer is the true value
    assert t.grade(t.samples[0], t.samples[0].target, "").correct
    with pytest.raises(TaskError, match="held out from training"):
        get_task("arith-1", size=10, start=arith.EVAL_POOL_SIZE - 5)


def test_arith_generator_refuses_training_seeds():
    with pytest.raises(arith.SeedSplitError):
        arith.make_problem(1, arith.TRAIN_SEEDS.start + 5, "eval")


def test_arith_mix_interleaves_levels():
    t = get_task("arith", size=2)
    assert [s.metadata["level"] for s in t.samples] == [1, 2, 3, 4, 1, 2, 3, 4]
    # samples are the same problems as the per-level tasks
    assert t.samples[2] == get_task("arith-3", size=1).samples[0]


def test_jsonl_task(tmp_path):
    path = tmp_path / "q.jsonl"
    rows = [
        {"input": "2+2", "target": 4, "metadata": {"level": 1}},
        {"question": "Capital of France?", "answer": "Paris", "id": "fr"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    t = get_task(str(path), grader="exact")
    assert [s.id for s in t.samples] == ["1", "fr"]
    assert t.samples[0].target == "4" and t.samples[0].metadata == {"level": 1}
    t2 = get_task(f"jsonl:{path}", grader="numeric", rel_tol=0.01)
    assert t2.grade(t2.samples[0], "4.01", "").correct


def test_jsonl_malformed_lines_reported_with_line_numbers(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        textwrap.dedent(
            """\
            {"input": "ok", "target": "1"}
            {"input": "broken", "target":
            [1, 2]
            {"target": "x"}
            {"input": "ok", "target": "1", "id": "1"}
            """
        )
    )
    with pytest.raises(DatasetFormatError) as info:
        get_task(str(path))
    msg = str(info.value)
    assert "4 malformed line(s)" in msg
    assert "line 2: not valid JSON" in msg
    assert "line 3: expected a JSON object" in msg
    assert "line 4: needs a non-empty string field 'input'" in msg
    assert "line 5: duplicate id '1' (first on line 1)" in msg


def test_jsonl_missing_file_and_unknown_grader(tmp_path):
    with pytest.raises(TaskError, match="file not found"):
        get_task("jsonl:/nonexistent/q.jsonl")
    path = tmp_path / "q.jsonl"
    path.write_text('{"input": "a", "target": "b"}\n')
    with pytest.raises(Exception, match="unknown grader 'fuzzy'"):
        get_task(str(path), grader="fuzzy")


def test_reasoning_gym_adapter_uses_its_scorer():
    pytest.importorskip("reasoning_gym")
    t = get_task("reasoning_gym:basic_arithmetic", size=5, seed=3)
    assert len(t) == 5
    s = t.samples[0]
    assert t.grade(s, s.target, "").correct
    assert not t.grade(s, "not a number", "").correct
    with pytest.raises(TaskError, match="unknown reasoning-gym data set"):
        get_task("reasoning_gym:nope")


def test_plugin_task_through_entry_point(tmp_path, monkeypatch):
    """A distribution that declares a `thinkfast.tasks` entry point adds a task by installing."""
    pkg = tmp_path / "tf_plugin_tasks.py"
    pkg.write_text(
        textwrap.dedent(
            """\
            from thinkfast.evals.graders import ExactGrader
            from thinkfast.evals.task import EvalSample, Task

            def capitals(size: int = 2):
                '''Capitals quiz (plugin).'''
                rows = [("France", "Paris"), ("Italy", "Rome"), ("Spain", "Madrid")][:size]
                return Task("capitals", [EvalSample(id=c, input=f"Capital of {c}?", target=t) for c, t in rows], ExactGrader())
            """
        )
    )
    dist = tmp_path / "tf_plugin_tasks-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tf-plugin-tasks\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[thinkfast.tasks]\ncapitals = tf_plugin_tasks:capitals\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(task_module, "_plugins_loaded", False)
    monkeypatch.setattr(task_module, "_REGISTRY", {})
    assert "Capitals quiz" in list_tasks()["capitals"]
    t = get_task("capitals", size=3)
    assert [s.target for s in t.samples] == ["Paris", "Rome", "Madrid"]
    sys.modules.pop("tf_plugin_tasks", None)
