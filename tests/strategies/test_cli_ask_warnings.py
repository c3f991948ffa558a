"""`thinkfast ask`: warnings on stderr (in the trace with --trace), decisions with their
tie labels in the trace."""

from thinkfast.cli import main


def test_a_warning_goes_to_stderr(capsys):
    assert main(["ask", "What is 347*29?", "-s", "single"]) == 0
    out, err = capsys.readouterr()
    assert "answer: " in out and "warning" not in out
    assert err.startswith("thinkfast: warning: arith-tiny reads plain arithmetic expressions")


def test_the_trace_shows_decisions_and_warnings(capsys):
    argv = ["ask", "What is 58+67?", "-S", "n=4", "-S", "temperature=1.2", "--seed", "5"]
    assert main([*argv, "--trace"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("round kind") :].splitlines()
    vote = next(line for line in table if " vote " in line)
    tie = "tie between" in vote
    assert vote.split()[3] == ("TIE" if tie else "-")  # the label matches the detail
    assert table[-1].startswith("warning: arith-tiny reads plain arithmetic expressions")
