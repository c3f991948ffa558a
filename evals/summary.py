"""Summaries: what each configuration of a run bought, and at what price.

`summarize(header, records)` turns a log into one `ConfigSummary` per configuration:
accuracy with its 95% Wilson interval (clustered by sample over epochs), the paired
difference to the baseline with Newcombe's paired interval (see stats.py), pass@k / maj@k over
epochs, coverage@k / maj@k over the candidates a strategy drafted, tokens per query by role,
wall p50 / p95, critical path and summed calls here and emulated per hardware profile, and
the marginal gain over the baseline: accuracy points per 1k extra tokens and per extra
emulated second. report.py renders it.

Errored samples are counted, shown, and left out of every figure (inspect_ai does the
same); a run with errors should be resumed rather than read.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from .errors import LogError
from .log import Header, Record, latest_records
from .stats import (
    INTERVAL_NOTES,
    Estimate,
    clustered_proportion,
    coverage_at_k,
    maj_at_k,
    paired_difference,
    pass_at_k,
    percentile,
)
from .sweep import Config

__all__ = ["ConfigSummary", "RunSummary", "summarize", "WALL_CLOCK_FIELDS"]

# Fields measured on this machine's clock: they differ between two runs of the same spec.
WALL_CLOCK_FIELDS = ("wall_p50_s", "wall_p95_s", "critical_path_s", "sum_of_calls_s")


class ConfigSummary(BaseModel):
    id: str
    label: str
    strategy: str
    options: dict[str, Any]
    samples: int = Field(description="samples with at least one graded run")
    runs: int = Field(description="graded (sample, epoch) runs")
    errors: int
    stopped_for_budget: int = 0
    ties: int = Field(0, description="runs whose final choice was a tie (drawn-first rule)")
    warned: int = Field(0, description="runs whose Answer carried a warning")
    warnings: dict[str, int] = Field(
        default_factory=dict, description="each distinct warning -> runs that carried it"
    )
    flip_rate: float = Field(
        0.0, description="mean self-refine rounds per query that changed the answer"
    )
    accuracy: Estimate
    vs_baseline: Estimate | None = None
    tokens_per_query: float
    tokens_by_role: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="role -> mean prompt/completion/total tokens per query"
    )
    wall_p50_s: float
    wall_p95_s: float
    critical_path_s: float = Field(description="mean critical path here (wall seconds)")
    sum_of_calls_s: float
    emulated_s: dict[str, float] = Field(
        default_factory=dict, description="profile -> mean emulated critical path"
    )
    emulated_sum_s: dict[str, float] = Field(
        default_factory=dict, description="profile -> mean emulated sum of calls"
    )
    pass_at_k: dict[int, float] = Field(default_factory=dict, description="over epochs")
    maj_at_k: dict[int, float] = Field(default_factory=dict, description="over epochs")
    coverage_at_k: dict[int, float] = Field(default_factory=dict, description="over candidates")
    candidate_maj_at_k: dict[int, float] = Field(
        default_factory=dict, description="over candidates"
    )
    by_level: dict[str, float] = Field(
        default_factory=dict, description="accuracy per metadata level"
    )
    points_per_1k_tokens: float | None = None
    points_per_emulated_s: dict[str, float] = Field(default_factory=dict)


class RunSummary(BaseModel):
    task: str
    model: str
    samples: int
    epochs: int
    seed: int
    baseline: str
    profiles: list[str]
    configs: list[ConfigSummary]
    intervals: dict[str, str] = Field(
        default_factory=dict,
        description="which 95% interval each figure carries: accuracy, vs_baseline",
    )

    def deterministic(self) -> dict[str, Any]:
        """The summary without wall-clock fields (for comparing a resumed run with a fresh one)."""
        data = self.model_dump()
        for cfg in data["configs"]:
            for key in WALL_CLOCK_FIELDS:
                cfg.pop(key, None)
        return data


def _ks(n: int) -> list[int]:
    """1, 2, 4, ... up to n, and n itself."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return ks + [n] if n >= 1 else []


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def _warning_kind(warning: str) -> str:
    """A warning without its per-query details (the part after ' — '), so the same
    trouble on many queries is counted as one."""
    return warning.split(" — ", 1)[0]


def _summarize_config(
    config: Config, recs: list[Record], epochs: int
) -> tuple[ConfigSummary, dict[str, list[float]]]:
    ok = [r for r in recs if r.error is None]
    scores: dict[str, list[float]] = defaultdict(list)
    answers: dict[str, list[str | None]] = defaultdict(list)
    for r in ok:
        scores[r.sample_id].append(1.0 if r.correct else 0.0)
        answers[r.sample_id].append(r.graded_answer if r.answer is None else r.answer)

    roles: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in ok:
        for role, u in r.usage.items():
            for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
                roles[role][key] += u.get(key, 0)
    n_ok = max(1, len(ok))
    by_role = {role: {k: v / n_ok for k, v in d.items()} for role, d in sorted(roles.items())}

    emulated: dict[str, list[float]] = defaultdict(list)
    emulated_sum: dict[str, list[float]] = defaultdict(list)
    for r in ok:
        for profile, v in (r.latency.get("emulated") or {}).items():
            emulated[profile].append(v.get("critical_path_s", 0.0))
            emulated_sum[profile].append(v.get("sum_of_calls_s", 0.0))

    # pass@k and maj@k over the epochs of each sample (only when every sample has them all)
    pass_k: dict[int, float] = {}
    maj_k: dict[int, float] = {}
    full = [s for s, v in scores.items() if len(v) == epochs]
    if epochs > 1 and full:
        for k in _ks(epochs):
            pass_k[k] = _mean([pass_at_k(epochs, int(sum(scores[s])), k) for s in full])
            maj_k[k] = _mean([maj_at_k(answers[s], [bool(x) for x in scores[s]], k) for s in full])

    # coverage@k and maj@k over the candidates of each run (best-of-N drafts)
    cover_k: dict[int, float] = {}
    cmaj_k: dict[int, float] = {}
    with_cands = [r for r in ok if r.candidates]
    if with_cands:
        n_min = min(len(r.candidates) for r in with_cands)
        for k in _ks(n_min):
            cover_k[k] = _mean(
                [
                    coverage_at_k(
                        len(r.candidates), sum(bool(c["correct"]) for c in r.candidates), k
                    )
                    for r in with_cands
                ]
            )
            cmaj_k[k] = _mean(
                [
                    maj_at_k(
                        [c.get("answer") for c in r.candidates],
                        [bool(c["correct"]) for c in r.candidates],
                        k,
                    )
                    for r in with_cands
                ]
            )

    levels: dict[str, list[float]] = defaultdict(list)
    for r in ok:
        if "level" in r.metadata:
            levels[str(r.metadata["level"])].append(1.0 if r.correct else 0.0)

    wall = [r.latency.get("wall_s", 0.0) for r in ok]
    return ConfigSummary(
        id=config.id,
        label=config.label,
        strategy=config.strategy,
        options=config.options,
        samples=len(scores),
        runs=len(ok),
        errors=len(recs) - len(ok),
        stopped_for_budget=sum(r.stopped_for_budget for r in ok),
        ties=sum(r.tie for r in ok),
        warned=sum(bool(r.warnings) for r in ok),
        warnings=dict(Counter(_warning_kind(w) for r in ok for w in r.warnings).most_common()),
        flip_rate=_mean([r.flips for r in ok]) if ok else 0.0,
        accuracy=clustered_proportion(scores),
        tokens_per_query=_mean([r.tokens for r in ok]),
        tokens_by_role=by_role,
        wall_p50_s=percentile(wall, 50),
        wall_p95_s=percentile(wall, 95),
        critical_path_s=_mean([r.latency.get("critical_path_s", 0.0) for r in ok]),
        sum_of_calls_s=_mean([r.latency.get("sum_of_calls_s", 0.0) for r in ok]),
        emulated_s={p: _mean(v) for p, v in sorted(emulated.items())},
        emulated_sum_s={p: _mean(v) for p, v in sorted(emulated_sum.items())},
        pass_at_k=pass_k,
        maj_at_k=maj_k,
        coverage_at_k=cover_k,
        candidate_maj_at_k=cmaj_k,
        by_level={lv: _mean(v) for lv, v in sorted(levels.items())},
    ), scores


def _resolve_baseline(configs: list[Config], baseline: str | None) -> Config:
    if baseline is None:
        return configs[0]
    for c in configs:
        if baseline in (c.id, c.label, c.strategy):
            return c
    raise LogError(
        f"baseline {baseline!r} is not a configuration of this run; "
        f"configurations: {', '.join(f'{c.id}={c.label}' for c in configs)}"
    )


def summarize(header: Header, records: list[Record], baseline: str | None = None) -> RunSummary:
    """One summary per configuration; `baseline` (id, label or strategy; default the
    first configuration) is what differences and marginal gains are measured against."""
    configs = [Config.model_validate(c) for c in header.spec.configs]
    base = _resolve_baseline(configs, baseline)
    # Records in the run's sample order, not the log's: a Ray or resumed run logs units as
    # they finish, and the float sums below must not change with that order.
    position = {sample_id: i for i, sample_id in enumerate(header.spec.sample_ids)}
    latest = sorted(
        latest_records(records).values(),
        key=lambda r: (position.get(r.sample_id, len(position)), r.sample_id, r.epoch),
    )
    by_config: dict[str, list[Record]] = defaultdict(list)
    for rec in latest:
        by_config[rec.config].append(rec)
    epochs = header.spec.epochs
    summaries: dict[str, ConfigSummary] = {}
    scores: dict[str, dict[str, list[float]]] = {}
    for c in configs:
        summaries[c.id], scores[c.id] = _summarize_config(c, by_config.get(c.id, []), epochs)
    b = summaries[base.id]
    for c in configs:
        s = summaries[c.id]
        if c.id == base.id:
            continue
        s.vs_baseline = paired_difference(scores[c.id], scores[base.id])
        gain_points = 100.0 * s.vs_baseline.mean
        extra_tokens = s.tokens_per_query - b.tokens_per_query
        if extra_tokens > 0 and math.isfinite(gain_points):
            s.points_per_1k_tokens = gain_points / (extra_tokens / 1000.0)
        for profile, secs in s.emulated_s.items():
            extra_s = secs - b.emulated_s.get(profile, math.nan)
            if extra_s > 0 and math.isfinite(gain_points):
                s.points_per_emulated_s[profile] = gain_points / extra_s
    profiles = sorted({p for s in summaries.values() for p in s.emulated_s})
    return RunSummary(
        intervals=_interval_notes(list(summaries.values())),
        task=header.spec.task,
        model=header.spec.model,
        samples=len(header.spec.sample_ids),
        epochs=epochs,
        seed=header.spec.seed,
        baseline=base.label,
        profiles=profiles,
        configs=[summaries[c.id] for c in configs],
    )


def _interval_notes(configs: list[ConfigSummary]) -> dict[str, str]:
    """Which interval each column carries, from the methods the estimates used."""
    notes: dict[str, str] = {}
    for field, ests in (
        ("accuracy", [c.accuracy for c in configs]),
        ("vs_baseline", [c.vs_baseline for c in configs if c.vs_baseline is not None]),
    ):
        methods = sorted({e.method for e in ests if e.n})
        if methods:
            notes[field] = "; ".join(INTERVAL_NOTES.get(m, m) for m in methods)
    return notes
