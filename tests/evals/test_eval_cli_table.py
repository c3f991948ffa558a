"""The eval table: 80 columns by default, every column with --wide, a profile the run
lacks named as such; the progress bar's time left."""

import io
import re

import pytest

from thinkfast.cli import main


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "run"
    argv = ["eval", "run", "arith-1", "--strategy", "single", "--strategy", "best_of_n"]
    argv += ["-S", "n=2", "-S", "selector=vote", "-S", "temperature=0.8", "--limit", "2"]
    assert main([*argv, "--log-dir", str(path), "--no-progress"]) == 0
    return str(path)


def test_the_default_table_fits_80_columns(capsys, log):
    assert main(["eval", "report", log]) == 0
    out = capsys.readouterr().out
    table = out[: out.index("n: problems")]
    assert max(len(line) for line in table.splitlines()) <= 80
    assert "acc % [95% CI]" in table and "Δ vs base [95% CI]" in table and "emu cs3 s" in table
    assert "by role" not in table and "emu h100 s" not in table
    assert "--wide" in out
    assert "single" in table and "best_of_n(n=2," in table  # wraps between options


def test_wide_shows_every_column(capsys, log):
    assert main(["eval", "report", log, "--wide"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("config"))
    for column in ("by role", "wall p50/p95 s", "emu cs3 s", "emu h100 s", "cover@n", "err"):
        assert column in header
    assert "--wide" not in out


def test_a_profile_the_run_lacks_names_the_ones_it_has(capsys, log):
    assert main(["eval", "report", log, "--profile", "groq"]) == 2
    err = capsys.readouterr().err
    assert "profile 'groq' is not in this run; its profiles: cs3, h100" in err
    assert main(["eval", "report", log, "--profile", "h100"]) == 0
    assert "emu h100 s" in capsys.readouterr().out


def test_the_progress_bar_says_how_long_is_left():
    from rich.console import Console
    from thinkfast.evals.runner import _Progress

    screen = io.StringIO()
    bar = _Progress(3, True, Console(file=screen, force_terminal=True, width=120))
    for i in range(3):
        bar.advance(f"{i + 1} done")
    bar.close()
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())  # colours off
    assert "3/3" in shown and re.search(r"eta (\d+:\d\d:\d\d|-:--:--)", shown)
