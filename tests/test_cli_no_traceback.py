"""No traceback reaches a user for bad input or a reader that closes the pipe."""

import subprocess
import sys

import pytest

from thinkfast.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "run", "arith-3", "-T", "size=abc", "--limit", "2"], "option size='abc'"),
        (["eval", "run", "arith-3", "-T", "start=-1", "--limit", "2"], "start >= 0"),
    ],
)
def test_bad_task_options_are_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("thinkfast: error: ") and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_reasoning_gym_names_the_options_it_rejected(capsys):
    pytest.importorskip("reasoning_gym")
    argv = ["eval", "run", "reasoning_gym:basic_arithmetic", "--limit", "1"]
    assert main([*argv, "-T", "size=abc"]) == 2
    assert "option size='abc' must be of type int" in capsys.readouterr().err
    assert main([*argv, "-T", "min_terms=abc"]) == 2
    err = capsys.readouterr().err
    assert "rejected options size=100, seed=1234, min_terms='abc'" in err
    assert "{}" not in err


@pytest.mark.parametrize("argv", [["strategies"], ["ask", "12+34", "-s", "single", "--trace"]])
def test_a_closed_pipe_ends_quietly(argv):
    # the reader is gone before the command writes: the first write raises BrokenPipeError
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from thinkfast.cli import main; sys.exit(main())",
            *argv,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 141
