"""Statistics of eval results: intervals, pass@k, maj@k, coverage@k, paired differences.

Conventions (reference/test-time-compute.md):

- Accuracy carries a 95% interval, 1.96 x standard error. When a sample is run several
  times (epochs) the runs are not independent, so the error is clustered by sample
  (the cluster-robust "sandwich" variance with the C/(C-1) small-sample factor); with one
  run per sample it reduces to the usual s / sqrt(n).
- pass@k is the unbiased estimator of Chen et al. 2021, 1 - C(n-c, k) / C(n, k), from n >= k
  attempts of which c are correct. coverage@k (Brown et al. 2024) is the same estimator
  applied to the candidates one strategy run produced: the chance that any of k candidates
  is right, i.e. what a perfect judge could pick.
- maj@k is the expected accuracy of a majority vote over a uniformly random k-subset of
  the n attempts (exact over all subsets when there are at most 20,000, else a seeded Monte
  Carlo estimate). A tie at the top counts as the fraction of the tied answers that are
  correct; attempts without an answer abstain.
- Differences between configurations are paired on the same samples: the interval comes
  from the per-sample differences, which removes the between-question variance both share.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel

__all__ = [
    "Estimate",
    "Z95",
    "clustered_mean",
    "pass_at_k",
    "coverage_at_k",
    "maj_at_k",
    "paired_difference",
    "percentile",
]

Z95 = 1.959963984540054  # two-sided 95% normal quantile


class Estimate(BaseModel):
    """A mean with its standard error and 95% interval; `n` clusters (samples) behind it."""

    mean: float
    se: float
    ci_low: float
    ci_high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2


def _estimate(mean: float, se: float, n: int) -> Estimate:
    return Estimate(mean=mean, se=se, ci_low=mean - Z95 * se, ci_high=mean + Z95 * se, n=n)


def clustered_mean(scores: Mapping[str, Sequence[float]]) -> Estimate:
    """Mean over every observation, with a standard error clustered by key (sample id).

    Var = C/(C-1) * sum_c (sum_i (y_ci - mean))^2 / N^2 for C clusters and N observations.
    """
    clusters = [np.asarray(v, dtype=float) for v in scores.values() if len(v)]
    if not clusters:
        return _estimate(float("nan"), float("nan"), 0)
    n_obs = sum(len(c) for c in clusters)
    mean = float(sum(c.sum() for c in clusters) / n_obs)
    n_clusters = len(clusters)
    if n_clusters < 2:
        return _estimate(mean, float("nan"), n_clusters)
    resid = np.array([float((c - mean).sum()) for c in clusters])
    var = n_clusters / (n_clusters - 1) * float((resid**2).sum()) / n_obs**2
    return _estimate(mean, math.sqrt(var), n_clusters)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k: probability that at least one of k draws (without replacement)
    from n attempts with c correct is correct."""
    if not (0 <= c <= n) or not (1 <= k <= n):
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (got n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    # 1 - C(n-c, k)/C(n, k) as a product, stable for large n
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


coverage_at_k = pass_at_k


_EXACT_LIMIT = 20_000
_MC_DRAWS = 4_000


def _vote_score(answers: Sequence[str | None], correct: Mapping[str, bool]) -> float:
    votes = Counter(a for a in answers if a is not None)
    if not votes:
        return 0.0
    top = max(votes.values())
    tied = [a for a, v in votes.items() if v == top]
    return sum(correct.get(a, False) for a in tied) / len(tied)


def maj_at_k(
    answers: Sequence[str | None], correct: Sequence[bool], k: int, *, seed: int = 0
) -> float:
    """Expected accuracy of a majority vote over k of the n attempts (see module doc)."""
    n = len(answers)
    if len(correct) != n:
        raise ValueError("answers and correct must have the same length")
    if not 1 <= k <= n:
        raise ValueError(f"maj@k needs 1 <= k <= n (got n={n}, k={k})")
    # An answer string is right when any attempt giving it was graded right; the same
    # extracted answer always gets the same grade from a deterministic grader.
    is_right: dict[str, bool] = {}
    for a, ok in zip(answers, correct, strict=True):
        if a is not None:
            is_right[a] = is_right.get(a, False) or bool(ok)
    if math.comb(n, k) <= _EXACT_LIMIT:
        subsets = itertools.combinations(range(n), k)
        scores = [_vote_score([answers[i] for i in s], is_right) for s in subsets]
        return float(np.mean(scores))
    rng = random.Random(seed)
    draws = (rng.sample(range(n), k) for _ in range(_MC_DRAWS))
    return float(np.mean([_vote_score([answers[i] for i in s], is_right) for s in draws]))


def paired_difference(
    a: Mapping[str, Sequence[float]], b: Mapping[str, Sequence[float]]
) -> Estimate:
    """Mean of a - b over the samples both have (each sample averaged over its epochs first),
    with the 95% interval of the paired differences."""
    common = [k for k in a if k in b and len(a[k]) and len(b[k])]
    diffs = np.array([np.mean(a[k]) - np.mean(b[k]) for k in common], dtype=float)
    if diffs.size == 0:
        return _estimate(float("nan"), float("nan"), 0)
    mean = float(diffs.mean())
    if diffs.size < 2:
        return _estimate(mean, float("nan"), 1)
    se = float(diffs.std(ddof=1) / math.sqrt(diffs.size))
    return _estimate(mean, se, int(diffs.size))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100, linear interpolation); NaN for no values."""
    if not len(values):
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=float), q))
