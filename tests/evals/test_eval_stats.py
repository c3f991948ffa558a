"""Statistics against hand-computed values (pass@k edge cases, clustered intervals, maj@k)."""

import math

import pytest
from thinkfast.evals.stats import (
    Z95,
    clustered_mean,
    maj_at_k,
    paired_difference,
    pass_at_k,
    percentile,
)


def test_pass_at_k_hand_values():
    # n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    # k=1 is the plain fraction correct
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    # n=4, c=1, k=3: 1 - C(3,3)/C(4,3) = 1 - 1/4
    assert pass_at_k(4, 1, 3) == pytest.approx(0.75)


def test_pass_at_k_edges():
    assert pass_at_k(5, 0, 3) == 0.0  # nothing correct
    assert pass_at_k(5, 5, 1) == 1.0  # everything correct
    assert pass_at_k(5, 3, 3) == 1.0  # n - c < k: every k-subset holds a correct one
    assert pass_at_k(5, 1, 5) == 1.0  # k = n with one correct
    for bad in [(3, 4, 1), (3, 1, 0), (3, 1, 4), (3, -1, 1)]:
        with pytest.raises(ValueError):
            pass_at_k(*bad)


def test_pass_at_k_large_n_matches_combinatorics():
    n, c, k = 200, 7, 50
    exact = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-12)


def test_clustered_mean_single_epoch_is_plain_standard_error():
    est = clustered_mean({"a": [1], "b": [0], "c": [1], "d": [1]})
    # mean .75, sample variance .25, se = sqrt(.25/4) = .25
    assert est.mean == pytest.approx(0.75)
    assert est.se == pytest.approx(0.25)
    assert est.ci_low == pytest.approx(0.75 - Z95 * 0.25)
    assert est.n == 4


def test_clustered_mean_epochs_cluster_by_sample():
    # two samples, two epochs: means .5 and 1 -> overall .75; se over cluster means:
    # sd([.5, 1]) = .35355, se = .35355/sqrt(2) = .25
    est = clustered_mean({"a": [1, 0], "b": [1, 1]})
    assert est.mean == pytest.approx(0.75)
    assert est.se == pytest.approx(0.25)
    # treating the 4 runs as independent would give a smaller, wrong se
    naive = clustered_mean({"1": [1], "2": [0], "3": [1], "4": [1]})
    assert naive.se == pytest.approx(0.25)
    est3 = clustered_mean({"a": [1, 1, 1], "b": [0, 0, 0], "c": [1, 1, 1]})
    assert est3.se == pytest.approx(math.sqrt((2 * (1 / 3) ** 2 + (2 / 3) ** 2) / 2 / 3))


def test_clustered_mean_degenerate():
    assert math.isnan(clustered_mean({}).mean)
    one = clustered_mean({"a": [1, 0]})
    assert one.mean == 0.5 and math.isnan(one.se)


def test_maj_at_k_hand_values():
    answers = ["7", "7", "3"]
    correct = [True, True, False]
    assert maj_at_k(answers, correct, 3) == 1.0
    # k=1: 2 of 3 single draws are right
    assert maj_at_k(answers, correct, 1) == pytest.approx(2 / 3)
    # k=2 subsets: {7,7} right, {7,3} tie -> 1/2 twice => (1 + .5 + .5)/3
    assert maj_at_k(answers, correct, 2) == pytest.approx(2 / 3)
    # abstentions do not vote; all-abstain scores 0
    assert maj_at_k([None, None], [False, False], 2) == 0.0
    assert maj_at_k([None, "5"], [False, True], 2) == 1.0


def test_maj_at_k_wrong_majority_beats_minority():
    answers = ["1", "1", "1", "2"]
    correct = [False, False, False, True]
    assert maj_at_k(answers, correct, 4) == 0.0
    assert maj_at_k(answers, correct, 1) == pytest.approx(0.25)


def test_maj_at_k_monte_carlo_branch_is_close_and_seeded():
    # C(30, 15) > 20k subsets -> the Monte Carlo branch
    answers = ["a"] * 12 + ["b"] * 10 + ["c"] * 8
    correct = [True] * 12 + [False] * 18
    v1 = maj_at_k(answers, correct, 15, seed=1)
    assert v1 == maj_at_k(answers, correct, 15, seed=1)
    assert 0.4 < v1 < 0.9


def test_paired_difference():
    a = {"x": [1], "y": [1], "z": [0], "w": [1]}
    b = {"x": [0], "y": [1], "z": [0], "w": [0]}
    d = paired_difference(a, b)
    # diffs 1,0,0,1: mean .5, sd .57735, se .288675
    assert d.mean == pytest.approx(0.5)
    assert d.se == pytest.approx(0.5773502691896257 / 2)
    assert d.n == 4
    # samples missing from one side are left out
    assert paired_difference(a, {"x": [0]}).n == 1


def test_percentile():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert math.isnan(percentile([], 95))
