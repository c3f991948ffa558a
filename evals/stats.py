"""Statistics of eval results: intervals, pass@k, maj@k, coverage@k, paired differences.

Conventions (reference/test-time-compute.md):

- Accuracy is a proportion and carries a 95% Wilson score interval (Wilson 1927, "Probable
  inference, the law of succession, and statistical inference", JASA 22:209-212): for x
  successes in n runs, p = x/n and z = 1.96,

      centre = (p + z^2/(2n)) / (1 + z^2/n)
      half   = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/(4n^2))

  It stays inside [0, 1] and is not zero-width at 0/n or n/n (where 1.96 x standard
  error gives [0, 0] or 100 +- 0, and 4/5 gives an upper bound of 1.19).
- Clustered runs. When a sample is run several times (epochs) its runs are not
  independent, so n is replaced by the effective sample size n_eff = N / deff (Kish 1965,
  "Survey Sampling"; the Wilson-with-n_eff interval of Korn & Graubard 1998, Survey
  Methodology 24:193-201). The design effect is the clustered variance of the mean over
  the binomial one,

      deff = V_cluster / V_srs,   V_cluster = sum_c (sum_i (y_ci - p))^2 / N^2,
                                  V_srs     = p(1-p) / N

  for C samples (clusters) and N runs; for equal epochs m it is 1 + (m-1) * rho with rho
  the intra-sample correlation. It is clamped to [1, N/C]: never narrower than N
  independent runs, never wider than one run per sample. At p = 0 or 1 the correlation
  cannot be estimated and the conservative end, n_eff = C, is used. With one run per
  sample deff = 1 and the interval is the plain Wilson interval.
- The reported standard error is the cluster-robust sandwich (the V_cluster above with the
  C/(C-1) small-sample factor); `clustered_mean` keeps the 1.96 x se (Wald) interval for
  means that are not proportions.
- pass@k is the unbiased estimator of Chen et al. 2021, 1 - C(n-c, k) / C(n, k), from n >= k
  attempts of which c are correct. coverage@k (Brown et al. 2024) is the same estimator
  applied to the candidates one strategy run produced: the chance that any of k candidates
  is right, i.e. what a perfect judge could pick.
- maj@k is the expected accuracy of a majority vote over a uniformly random k-subset of
  the n attempts (exact over all subsets when there are at most 20,000, else a seeded Monte
  Carlo estimate). A tie at the top counts as the fraction of the tied answers that are
  correct; attempts without an answer abstain.
- Differences between configurations are paired on the same samples. For proportions the
  interval is Newcombe's hybrid score interval for paired data (Newcombe 1998, Stat Med
  17:2635-2650, method 10): with Wilson intervals (l1, u1), (l2, u2) of the two accuracies
  p1, p2 and phi their correlation over the samples,

      low  = (p1 - p2) - sqrt((p1-l1)^2 - 2 phi (p1-l1)(u2-p2) + (u2-p2)^2)
      high = (p1 - p2) + sqrt((u1-p1)^2 - 2 phi (u1-p1)(p2-l2) + (p2-l2)^2)

  which always lies in [-1, 1] (|phi| <= 1 bounds it by [l1 - u2, u1 - l2]). With epochs
  the two Wilson intervals are the clustered ones and phi is the correlation of the
  per-sample mean scores: the same square-and-add construction (MOVER, Zou & Donner 2008,
  Stat Med 27:1693-1702); with one run per sample it is Newcombe's interval exactly.
  The reported standard error is that of the per-sample differences.
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
    "INTERVAL_NOTES",
    "Z95",
    "clustered_mean",
    "clustered_proportion",
    "design_effect",
    "pass_at_k",
    "coverage_at_k",
    "maj_at_k",
    "paired_difference",
    "percentile",
    "wilson_interval",
]

Z95 = 1.959963984540054  # two-sided 95% normal quantile

# What each `Estimate.method` means, in the words reports print under their tables.
INTERVAL_NOTES = {
    "wald": "1.96 x standard error",
    "wilson": "Wilson score interval",
    "wilson-clustered": "Wilson score interval on the effective sample size (design effect "
    "of repeated runs per sample)",
    "newcombe-paired": "Newcombe's paired hybrid score interval (method 10)",
    "newcombe-paired-clustered": "Newcombe's paired hybrid score interval on clustered Wilson "
    "intervals (MOVER)",
    "wald-paired": "1.96 x standard error of the per-sample differences",
}


class Estimate(BaseModel):
    """A mean with its standard error and 95% interval; `n` clusters (samples) behind it.

    `method` names the interval (a key of `INTERVAL_NOTES`); Wilson and Newcombe intervals
    are not symmetric about the mean, so read `ci_low` / `ci_high` rather than mean +- a
    half width. `n_eff` is the effective number of independent runs behind a clustered
    Wilson interval (None for other methods).
    """

    mean: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    method: str = "wald"
    n_eff: float | None = None

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2


def _estimate(mean: float, se: float, n: int) -> Estimate:
    return Estimate(mean=mean, se=se, ci_low=mean - Z95 * se, ci_high=mean + Z95 * se, n=n)


def _clusters(scores: Mapping[str, Sequence[float]]) -> list[np.ndarray]:
    return [np.asarray(v, dtype=float) for v in scores.values() if len(v)]


def _sandwich_se(clusters: list[np.ndarray], mean: float, n_obs: int) -> float:
    """Cluster-robust standard error of the mean, with the C/(C-1) small-sample factor."""
    n_clusters = len(clusters)
    if n_clusters < 2:
        return float("nan")
    resid = np.array([float((c - mean).sum()) for c in clusters])
    return math.sqrt(n_clusters / (n_clusters - 1) * float((resid**2).sum()) / n_obs**2)


def clustered_mean(scores: Mapping[str, Sequence[float]]) -> Estimate:
    """Mean over every observation, with a standard error clustered by key (sample id)
    and the 1.96 x se interval; for accuracies use `clustered_proportion`.

    Var = C/(C-1) * sum_c (sum_i (y_ci - mean))^2 / N^2 for C clusters and N observations.
    """
    clusters = _clusters(scores)
    if not clusters:
        return _estimate(float("nan"), float("nan"), 0)
    n_obs = sum(len(c) for c in clusters)
    mean = float(sum(c.sum() for c in clusters) / n_obs)
    return _estimate(mean, _sandwich_se(clusters, mean, n_obs), len(clusters))


def wilson_interval(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for `successes` out of `n` (both may be fractional, as
    for an effective sample size); always inside [0, 1]."""
    if not n > 0:
        raise ValueError(f"a Wilson interval needs n > 0 runs (got n={n})")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n] (got {successes} of {n})")
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / n + z2n / (4 * n))
    # at p = 0 or 1 the bound is exactly 0 or 1 in exact arithmetic; keep it so in floats
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def design_effect(scores: Mapping[str, Sequence[float]]) -> float:
    """deff = V_cluster / V_srs for scores in [0, 1] clustered by key, clamped to
    [1, N/C] (see the module doc); 1 with one run per sample, N/C at p = 0 or 1."""
    clusters = _clusters(scores)
    n_obs = sum(len(c) for c in clusters)
    n_clusters = len(clusters)
    if n_obs == n_clusters:
        return 1.0
    worst = n_obs / n_clusters
    mean = float(sum(c.sum() for c in clusters) / n_obs)
    v_srs = mean * (1 - mean) / n_obs
    if v_srs <= 0:
        return worst
    v_cluster = sum(float((c - mean).sum()) ** 2 for c in clusters) / n_obs**2
    return min(max(v_cluster / v_srs, 1.0), worst)


def _check_unit(clusters: list[np.ndarray]) -> None:
    if any(float(c.min()) < 0 or float(c.max()) > 1 for c in clusters):
        raise ValueError("a proportion's scores must lie in [0, 1]")


def clustered_proportion(scores: Mapping[str, Sequence[float]]) -> Estimate:
    """Accuracy (mean score in [0, 1]) with its Wilson interval, clustered by sample.

    The interval is Wilson's on n_eff = N / deff runs (module doc); `n` counts samples.
    """
    clusters = _clusters(scores)
    if not clusters:
        return Estimate(
            mean=math.nan, se=math.nan, ci_low=math.nan, ci_high=math.nan, n=0, method="wilson"
        )
    _check_unit(clusters)
    n_obs = sum(len(c) for c in clusters)
    mean = float(sum(c.sum() for c in clusters) / n_obs)
    n_eff = n_obs / design_effect(scores)
    low, high = wilson_interval(mean * n_eff, n_eff)
    return Estimate(
        mean=mean,
        se=_sandwich_se(clusters, mean, n_obs),
        ci_low=low,
        ci_high=high,
        n=len(clusters),
        method="wilson" if n_obs == len(clusters) else "wilson-clustered",
        n_eff=n_eff,
    )


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
    """Difference a - b over the samples both have, with a paired 95% interval.

    Scores in [0, 1] (accuracies) get Newcombe's paired hybrid score interval, inside
    [-1, 1] (module doc); other scores the 1.96 x se interval of the per-sample
    differences. The mean is accuracy(a) - accuracy(b) on the common samples (equal to the
    mean per-sample difference when each sample has the same number of runs on both
    sides); `se` is the standard error of the per-sample differences.
    """
    common = [k for k in a if k in b and len(a[k]) and len(b[k])]
    if not common:
        return _estimate(float("nan"), float("nan"), 0)
    mean_a = np.array([np.mean(a[k]) for k in common], dtype=float)
    mean_b = np.array([np.mean(b[k]) for k in common], dtype=float)
    diffs = mean_a - mean_b
    se = float(diffs.std(ddof=1) / math.sqrt(diffs.size)) if diffs.size > 1 else float("nan")
    unit = all(0 <= x <= 1 for k in common for x in (*a[k], *b[k]))
    if not unit:
        est = _estimate(float(diffs.mean()), se, int(diffs.size))
        return est.model_copy(update={"method": "wald-paired"})
    pa = clustered_proportion({k: a[k] for k in common})
    pb = clustered_proportion({k: b[k] for k in common})
    phi = _correlation(mean_a, mean_b)
    d = pa.mean - pb.mean
    lo1, hi1 = pa.mean - pa.ci_low, pa.ci_high - pa.mean
    lo2, hi2 = pb.mean - pb.ci_low, pb.ci_high - pb.mean
    low = d - math.sqrt(max(0.0, lo1**2 - 2 * phi * lo1 * hi2 + hi2**2))
    high = d + math.sqrt(max(0.0, hi1**2 - 2 * phi * hi1 * lo2 + lo2**2))
    clustered = "wilson-clustered" in (pa.method, pb.method)
    return Estimate(
        mean=d,
        se=se,
        ci_low=max(-1.0, low),  # |phi| <= 1 keeps it inside; the clip only guards rounding
        ci_high=min(1.0, high),
        n=int(diffs.size),
        method="newcombe-paired-clustered" if clustered else "newcombe-paired",
    )


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation (phi for 0/1 scores); 0 when either side does not vary, as
    Newcombe sets phi when a margin of the 2x2 table is empty."""
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(np.clip(np.corrcoef(x, y)[0, 1], -1.0, 1.0))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100, linear interpolation); NaN for no values."""
    if not len(values):
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=float), q))
