"""`thinkfast eval` end to end: a small two-configuration arith run, its report and plot,
and the errors a user meets for bad input."""

import json

import pytest

from thinkfast.cli import main


def run_cli(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_run_report_and_plot(tmp_path, capsys):
    log = tmp_path / "run"
    rc, out, err = run_cli(
        capsys,
        "eval",
        "run",
        "arith-1",
        "--strategy",
        "single",
        "--strategy",
        "best_of_n",
        "-S",
        "n=2",
        "--limit",
        "3",
        "--log-dir",
        str(log),
        "--no-progress",
        "--seed",
        "3",
    )
    assert rc == 0, err
    assert "single" in out and "best_of_n(n=2)" in out and str(log) in out

    rc, out, err = run_cli(capsys, "eval", "report", str(log), "--json")
    assert rc == 0, err
    summary = json.loads(out)
    assert [c["label"] for c in summary["configs"]] == ["single", "best_of_n(n=2)"]
    assert (
        summary["samples"] == 3 and summary["seed"] == 3 and summary["profiles"] == ["cs3", "h100"]
    )
    base, best = summary["configs"]
    assert base["vs_baseline"] is None and best["vs_baseline"]["n"] == 3
    assert best["tokens_per_query"] > 0 and base["tokens_per_query"] > 0
    assert set(best["tokens_by_role"]) == {"draft"}
    # best_of_n draws its 2 drafts in one request, so it pays the prompt once
    assert (
        best["tokens_by_role"]["draft"]["prompt_tokens"]
        == base["tokens_by_role"]["draft"]["prompt_tokens"]
    )
    assert set(best["coverage_at_k"]) == {"1", "2"}
    assert all(0 <= c["accuracy"]["mean"] <= 1 for c in summary["configs"])

    png = tmp_path / "plot.png"
    rc, out, err = run_cli(capsys, "eval", "report", str(log), "--plot", str(png))
    assert rc == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    rc, out, _ = run_cli(capsys, "eval", "report", str(log), "--markdown")
    assert out.startswith("| config |") and "| best_of_n(n=2) |" in out


def test_ls_lists_tasks_with_sizes(capsys):
    rc, out, _ = run_cli(capsys, "eval", "ls")
    assert rc == 0
    line = next(x for x in out.splitlines() if x.startswith("arith-3 "))
    assert "200" in line and "numeric" in line


@pytest.mark.parametrize(
    "argv, message",
    [
        (["eval", "run", "arith-9"], "unknown task 'arith-9'; tasks are arith, arith-1"),
        (["eval", "run", "arith-1", "--strategy", "nope"], "unknown strategy 'nope'"),
        (
            ["eval", "run", "arith-1", "--strategy", "single", "-S", "n=2"],
            "no chosen strategy (single) accepts option(s) n",
        ),
        (
            ["eval", "run", "arith-1", "--strategy", "best_of_n", "-S", "n=0"],
            "option 'n' of strategy 'best_of_n'",
        ),
        (["eval", "report", "/nonexistent/dir"], "no eval log"),
    ],
)
def test_bad_input_gives_one_line_errors(capsys, argv, message):
    rc, _, err = run_cli(capsys, *argv)
    assert rc == 2
    assert message in err and "Traceback" not in err


def test_malformed_jsonl_names_the_line(tmp_path, capsys):
    data = tmp_path / "q.jsonl"
    data.write_text('{"input": "1+1", "target": "2"}\n{"input": "2+2", target: 4}\n')
    rc, _, err = run_cli(capsys, "eval", "run", str(data), "--log-dir", str(tmp_path / "l"))
    assert rc == 2 and "line 2: not valid JSON" in err


def test_resume_with_other_configuration_is_refused(tmp_path, capsys):
    log = tmp_path / "run"
    rc, _, err = run_cli(
        capsys, "eval", "run", "arith-1", "--limit", "2", "--log-dir", str(log), "--no-progress"
    )
    assert rc == 0, err
    rc, _, err = run_cli(
        capsys,
        "eval",
        "run",
        "arith-1",
        "--limit",
        "2",
        "--seed",
        "5",
        "--resume",
        str(log),
        "--no-progress",
    )
    assert rc == 2 and "different configuration" in err and "seed (log: 0, now: 5)" in err
    rc, _, err = run_cli(
        capsys, "eval", "run", "arith-1", "--limit", "2", "--log-dir", str(log), "--no-progress"
    )
    assert rc == 2 and "already exists; use --resume" in err
    # the same command line resumes (nothing left to run) and prints the same table
    rc, out, err = run_cli(
        capsys, "eval", "run", "arith-1", "--limit", "2", "--resume", str(log), "--no-progress"
    )
    assert rc == 0, err
    assert "single" in out
