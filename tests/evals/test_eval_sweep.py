"""Sweep grids: comma lists expand, -S routes to strategies that have the option."""

import pytest
from thinkfast.evals.errors import SweepError
from thinkfast.evals.sweep import expand_grid
from thinkfast.orchestrator.options import OptionSyntaxError, parse_option, parse_value

FIELDS = {
    "single": {"mode", "temperature"},
    "best_of_n": {"n", "selection", "temperature"},
    "self_refine": {"rounds", "temperature"},
}


def fields_of(name):
    return FIELDS[name]


def labels(configs):
    return [c.label for c in configs]


def test_parse_values():
    assert parse_value("4") == 4 and parse_value("0.5") == 0.5
    assert parse_value("true") is True and parse_value("None") is None
    assert parse_value("vote") == "vote"
    assert parse_option("n=1,2,4", sweep=True) == ("n", [1, 2, 4])
    assert parse_option("stop=[1,2]", sweep=True) == ("stop", [[1, 2]])
    assert parse_option("n=1,2") == ("n", "1,2") and parse_option("n=8") == ("n", 8)
    for bad in ("n", "=3", "n=1,,2", "2x=1"):
        with pytest.raises(OptionSyntaxError):
            parse_option(bad, sweep=True)


def test_grid_routes_options_by_strategy():
    configs = expand_grid(
        ["single", "best_of_n", "self_refine"],
        ["n=1,4", "selection=vote,judge", "rounds=1,2"],
        fields_of=fields_of,
    )
    assert labels(configs) == [
        "single",
        "best_of_n(n=1,selection=vote)",
        "best_of_n(n=1,selection=judge)",
        "best_of_n(n=4,selection=vote)",
        "best_of_n(n=4,selection=judge)",
        "self_refine(rounds=1)",
        "self_refine(rounds=2)",
    ]
    assert [c.id for c in configs] == [f"c{i}" for i in range(7)]


def test_inline_options_and_dedup():
    configs = expand_grid(
        ["best_of_n:n=2,4:selection=vote", "best_of_n:n=4:selection=vote"],
        ["temperature=0.7"],
        fields_of=fields_of,
    )
    assert labels(configs) == [
        "best_of_n(n=2,selection=vote,temperature=0.7)",
        "best_of_n(n=4,selection=vote,temperature=0.7)",
    ]


def test_option_nobody_accepts_is_an_error():
    with pytest.raises(
        SweepError, match=r"no chosen strategy \(single\) accepts option\(s\) rounds"
    ):
        expand_grid(["single"], ["rounds=1,2"], fields_of=fields_of)
    with pytest.raises(
        SweepError, match="strategy 'single' has no option 'n'; it accepts mode, temperature"
    ):
        expand_grid(["single:n=2"], fields_of=fields_of)
    with pytest.raises(SweepError, match="at least one"):
        expand_grid([], fields_of=fields_of)
    with pytest.raises(SweepError, match="given twice"):
        expand_grid(["best_of_n"], ["n=1", "n=2"], fields_of=fields_of)
