"""`thinkfast ask` and `thinkfast strategies`, driven through the real CLI entry point."""

import json
import os

import pytest
from thinkfast.orchestrator import Answer

from thinkfast.cli import main

MODEL = os.environ.get("THINKFAST_TEST_MODEL", "arith-tiny")  # as in tests/conftest.py


@pytest.fixture
def quick_file(tmp_path, quick_pack):
    path = tmp_path / "quick_pack.json"
    path.write_text(quick_pack.model_dump_json())
    return str(path)


def ask(pack_file: str, *options: str) -> int:
    """`thinkfast ask 58+67` on the shipped model with the quick pack, plus `options`."""
    return main(["ask", "58+67", "--model", MODEL, "--pack", pack_file, *options])


def test_ask_prints_the_answer_and_a_cost_table(capsys, quick_file):
    code = ask(quick_file, "-S", "n=3", "-S", "selector=vote", "--seed", "1")
    out = capsys.readouterr().out
    assert code == 0
    assert "answer: " in out
    assert "draft" in out and "total" in out
    assert "crit path" in out and "cs3" in out and "h100" in out


def test_ask_json_is_an_answer(capsys, quick_file):
    code = ask(quick_file, "--strategy", "single", "--json", "--hardware", "h100")
    assert code == 0
    out = capsys.readouterr().out
    answer = Answer.model_validate_json(out)
    assert answer.strategy == "single" and len(answer.calls) == 1
    raw = json.loads(out)  # ties are labelled in the JSON, on the answer and each decision
    assert raw["tie"] is False and all("tie" in d for d in raw["decisions"])
    assert raw["calls"][0]["engine"] == "arith-tiny"
    assert set(answer.latency.emulated) == {"h100"}


def test_ask_trace_prints_every_call(capsys, quick_file):
    code = ask(quick_file, "-s", "self_refine", "-S", "max_rounds=1", "--trace")
    out = capsys.readouterr().out
    assert code == 0
    trace = out[out.index(" id role") :].split("\n\n")[0].splitlines()[1:]  # the calls
    assert len(trace) >= 2 and trace[0].split()[1] == "draft"
    assert {row.split()[4] for row in trace} == {"arith-tiny"}  # the engine that served it


def test_bad_options_exit_2_with_one_line(capsys):
    assert main(["ask", "1+1", "--model", MODEL, "-S", "n=0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("thinkfast: error: option 'n' of strategy 'best_of_n'")
    assert main(["ask", "1+1", "-S", "novalue"]) == 2
    assert "key=value" in capsys.readouterr().err


def test_strategies_lists_builtins_with_options(capsys):
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    for name in ("single", "best_of_n", "self_refine"):
        assert name in out
    assert "selector: one of 'vote', 'judge', 'score', 'logprob', 'reward'" in out
    assert main(["strategies", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} >= {"single", "best_of_n", "self_refine"}
