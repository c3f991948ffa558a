"""Wilson, clustered Wilson and Newcombe paired intervals against hand-computed values.

Hand values use z = 1.959963985 (z^2 = 3.841458821) in the closed form
(x + z^2/2 +- z sqrt(x(n-x)/n + z^2/4)) / (n + z^2); at x = 0 the upper bound is
z^2 / (n + z^2) and at x = n the lower bound is n / (n + z^2).
"""

from __future__ import annotations

import math
import random

import pytest
from thinkfast.evals.report import render_markdown, render_table, summarize
from thinkfast.evals.stats import (
    clustered_proportion,
    design_effect,
    paired_difference,
    wilson_interval,
)

# (x, n) -> (low, high), worked by hand from the closed form above
HAND = {
    (0, 4): (0.0, 0.489891),  # 3.841459 / 7.841459
    (4, 5): (0.375535, 0.963776),  # (5.920729 -+ 2.600456) / 8.841459
    (5, 5): (0.565518, 1.0),  # 5 / 8.841459
    (3, 3): (0.438503, 1.0),  # 3 / 6.841459
    (2, 4): (0.150039, 0.849961),  # (3.920729 -+ 2.744420) / 7.841459
}


@pytest.mark.parametrize("x, n", list(HAND))
def test_wilson_matches_hand_values(x, n):
    low, high = wilson_interval(x, n)
    assert (low, high) == pytest.approx(HAND[(x, n)], abs=1e-6)


@pytest.mark.parametrize("x, n", list(HAND))
def test_wilson_matches_statsmodels(x, n):
    proportion = pytest.importorskip("statsmodels.stats.proportion")  # a reference only
    expected = proportion.proportion_confint(x, n, alpha=0.05, method="wilson")
    assert wilson_interval(x, n) == pytest.approx(expected, abs=1e-9)


def test_the_reported_failures_are_gone():
    # the issue: 4/5 gave ci_high 1.19, 5/5 and 3/3 gave "100.0 +- 0.0", 0/4 gave [0, 0]
    four_of_five = clustered_proportion({str(i): [float(i < 4)] for i in range(5)})
    assert four_of_five.ci_high == pytest.approx(0.963776, abs=1e-6)
    assert four_of_five.method == "wilson" and four_of_five.n == 5
    all_right = clustered_proportion({str(i): [1.0] for i in range(5)})
    assert all_right.mean == 1.0 and all_right.ci_low == pytest.approx(0.565518, abs=1e-6)
    none_right = clustered_proportion({str(i): [0.0] for i in range(4)})
    assert none_right.ci_low == 0.0 and none_right.ci_high == pytest.approx(0.489891, abs=1e-6)


def test_wilson_rejects_impossible_counts():
    for bad in [(1, 0), (5, 4), (-1, 3)]:
        with pytest.raises(ValueError):
            wilson_interval(*bad)


def test_identical_epochs_count_each_problem_once():
    # three problems run three times each with the same result: no more information than
    # one run each, so the interval is Wilson's 2 of 3 (deff = 3)
    scores = {"a": [1, 1, 1], "b": [0, 0, 0], "c": [1, 1, 1]}
    assert design_effect(scores) == pytest.approx(3.0)
    est = clustered_proportion(scores)
    assert est.method == "wilson-clustered" and est.n == 3 and est.n_eff == pytest.approx(3)
    assert (est.ci_low, est.ci_high) == pytest.approx(wilson_interval(2, 3))
    # all right over epochs: the conservative end, n_eff = problems, not runs
    both = clustered_proportion({"a": [1, 1], "b": [1, 1]})
    assert both.n_eff == 2 and both.ci_low == pytest.approx(2 / (2 + 3.841458821), abs=1e-9)


def test_design_effect_by_hand():
    # p = 1/2 over N = 6 runs in C = 3 problems; cluster residual sums +1, 0, -1
    # V_cluster = 2 / 36, V_srs = (1/4) / 6  ->  deff = 4/3, n_eff = 4.5
    scores = {"a": [1, 1], "b": [1, 0], "c": [0, 0]}
    assert design_effect(scores) == pytest.approx(4 / 3)
    est = clustered_proportion(scores)
    assert est.n_eff == pytest.approx(4.5)
    assert (est.ci_low, est.ci_high) == pytest.approx(wilson_interval(2.25, 4.5))
    # runs that disagree inside every problem carry full information: deff clamps to 1
    assert design_effect({"a": [1, 0], "b": [0, 1]}) == 1.0
    # one run per problem is the plain Wilson interval
    assert design_effect({"a": [1], "b": [0], "c": [1]}) == 1.0


def test_paired_difference_hand_values():
    # 2x2 table: both right 1, A only 2, B only 0, neither 1 (n = 4), phi = 1/3
    # p1 = .75 in [.300642, .954413], p2 = .25 in [.045587, .699358]
    # low  = .5 - .449358 * sqrt(2 - 2/3) = -.018874
    # high = .5 + .204413 * sqrt(2 - 2/3) = .736035
    a = {"x": [1], "y": [1], "z": [0], "w": [1]}
    b = {"x": [0], "y": [1], "z": [0], "w": [0]}
    d = paired_difference(a, b)
    assert d.method == "newcombe-paired" and d.n == 4
    assert (d.ci_low, d.ci_high) == pytest.approx((-0.018874, 0.736035), abs=1e-6)
    # A always right, B always wrong on 3 problems: +100 points, but not [1, 1]
    # (margins empty -> phi = 0); low = 1 - sqrt(2) * (1 - 0.438503)
    d = paired_difference({k: [1] for k in "abc"}, {k: [0] for k in "abc"})
    assert d.mean == 1.0 and d.ci_high == 1.0
    assert d.ci_low == pytest.approx(1 - math.sqrt(2) * (1 - 0.438503), abs=1e-6)


def test_paired_difference_without_correlation_is_newcombes_independent_interval():
    # phi = 0 (one problem in each cell): the square-and-add of two Wilson intervals
    a = {"1": [1], "2": [1], "3": [0], "4": [0]}
    b = {"1": [1], "2": [0], "3": [1], "4": [0]}
    d = paired_difference(a, b)
    half = math.hypot(0.5 - 0.150039, 0.849961 - 0.5)
    assert (d.ci_low, d.ci_high) == pytest.approx((-half, half), abs=1e-6)
    proportion = pytest.importorskip("statsmodels.stats.proportion")  # a reference only
    ref = proportion.confint_proportions_2indep(2, 4, 2, 4, method="newcomb", compare="diff")
    assert (d.ci_low, d.ci_high) == pytest.approx(tuple(map(float, ref)), abs=1e-9)


def test_bounds_hold_for_any_scores():
    rng = random.Random(13)
    for _ in range(300):
        problems = rng.randint(1, 12)
        epochs = rng.randint(1, 4)
        p, q = rng.random(), rng.random()
        a = {str(i): [float(rng.random() < p) for _ in range(epochs)] for i in range(problems)}
        b = {str(i): [float(rng.random() < q) for _ in range(epochs)] for i in range(problems)}
        for est in (clustered_proportion(a), clustered_proportion(b)):
            assert 0.0 <= est.ci_low <= est.mean <= est.ci_high <= 1.0
            assert est.ci_high > est.ci_low  # never zero-width, even at 0/n or n/n
        d = paired_difference(a, b)
        assert -1.0 <= d.ci_low <= d.mean <= d.ci_high <= 1.0


def test_non_proportions_keep_the_wald_interval():
    d = paired_difference({"a": [3.0], "b": [5.0]}, {"a": [1.0], "b": [1.0]})
    assert d.method == "wald-paired" and d.mean == 3.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        clustered_proportion({"a": [2.0]})


def test_reports_say_which_interval_they_use():
    from thinkfast.evals.log import Header, Record, RunSpec

    def rec(config, sid, ok, epoch=0):
        return Record(
            config=config, sample_id=sid, epoch=epoch, seed=0, target="1", correct=ok,
            answer="1" if ok else "2", tokens=10, latency={"wall_s": 0.1},
        )  # fmt: skip

    configs = [
        {"id": "c0", "strategy": "single", "options": {}},
        {"id": "c1", "strategy": "best_of_n", "options": {"n": 4}},
    ]
    spec = RunSpec(task="t", sample_ids=["a", "b", "c"], configs=configs, model="m", epochs=2)
    records = [rec("c0", s, s == "a", e) for s in "abc" for e in (0, 1)]
    records += [rec("c1", s, s != "c", e) for s in "abc" for e in (0, 1)]
    summary = summarize(Header(spec=spec, created="now"), records)
    best = summary.configs[1]
    assert best.accuracy.method == "wilson-clustered" and best.accuracy.n == 3
    assert best.vs_baseline.method == "newcombe-paired-clustered"
    assert "Wilson" in summary.intervals["accuracy"]
    assert "Newcombe" in summary.intervals["vs_baseline"]
    for text in (render_table(summary), render_markdown(summary)):
        assert "Wilson score interval on the effective sample size" in text
        assert "Newcombe" in text and "n: problems" in text
    dumped = summary.model_dump(mode="json")
    assert dumped["configs"][1]["accuracy"]["method"] == "wilson-clustered"
    assert set(dumped["intervals"]) == {"accuracy", "vs_baseline"}
