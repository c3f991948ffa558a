"""selector=reward from the command line: -S reward=module:function imports the callable."""

import json
import sys

import pytest

from thinkfast.cli import main

REWARDS = """
def shortest(question, text, answer):
    return -float(len(text))
"""


@pytest.fixture
def rewards_module(tmp_path, monkeypatch):
    (tmp_path / "tf_cli_rewards.py").write_text(REWARDS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "tf_cli_rewards"
    sys.modules.pop("tf_cli_rewards", None)


def test_reward_names_an_importable_function(capsys, rewards_module):
    argv = ["ask", "58+67", "-S", "selector=reward", "-S", "n=4", "--seed", "3", "--json"]
    assert main([*argv, "-S", f"reward={rewards_module}:shortest"]) == 0
    answer = json.loads(capsys.readouterr().out)
    (decision,) = answer["decisions"]
    assert decision["kind"] == "reward"
    scores = [c["scores"][0] for c in answer["candidates"]]
    assert scores == [-float(len(c["text"])) for c in answer["candidates"]]  # it was called
    assert -float(len(answer["text"])) == max(scores)
    assert answer["options"]["reward"] == "shortest"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nosuchmodule_xyz:f", "cannot import module 'nosuchmodule_xyz'"),
        ("math:pi", "names a float, not a callable"),
        ("math", "is not module:function"),
    ],
)
def test_a_reward_that_cannot_be_imported_is_one_line(capsys, value, message):
    assert main(["ask", "1+1", "-S", "selector=reward", "-S", f"reward={value}"]) == 2
    err = capsys.readouterr().err
    assert message in err and "accepted: callable or module:function" in err
    assert "Traceback" not in err


def test_ask_help_says_how_to_name_a_callable(capsys):
    with pytest.raises(SystemExit):
        main(["ask", "--help"])
    assert "reward=module:function" in capsys.readouterr().out.replace("\n", " ")
