"""Plots of a run: accuracy against tokens per query and against emulated latency.

Each configuration is a point with its 95% Wilson interval (asymmetric error bars); the Pareto frontier (no other
configuration is both cheaper and more accurate) is drawn as a line and its points are
ringed. matplotlib is an optional extra (`thinkfast[plot]`); without it `plot_summary`
raises a PlotError saying how to install it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from .errors import EvalError
from .report import RunSummary

__all__ = ["PlotError", "pareto_frontier", "plot_summary"]


class PlotError(EvalError):
    """matplotlib is missing, or there is nothing to plot."""


def pareto_frontier(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point dominates (lower-or-equal cost and
    higher-or-equal accuracy, one strictly), ordered by cost."""
    finite = [i for i, (x, y) in enumerate(points) if math.isfinite(x) and math.isfinite(y)]
    order = sorted(finite, key=lambda i: (points[i][0], -points[i][1]))
    frontier, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            frontier.append(i)
            best = points[i][1]
    return frontier


def _series(summary: RunSummary) -> dict[str, list[tuple[int, str]]]:
    """Configurations grouped into curves: same strategy and non-numeric options (e.g.
    "best_of_n selector=judge (n)"), each point tagged with its numeric option values,
    in the order of those numbers so a sweep draws as a line."""
    groups: dict[str, list[tuple[tuple, int, str]]] = {}
    for i, c in enumerate(summary.configs):
        fixed = {k: v for k, v in sorted(c.options.items()) if not _is_number(v)}
        swept = {k: v for k, v in sorted(c.options.items()) if _is_number(v)}
        name = " ".join([c.strategy, *(f"{k}={v}" for k, v in fixed.items())])
        groups.setdefault(name, []).append((tuple(swept.items()), i))
    out: dict[str, list[tuple[int, str]]] = {}
    for name, pts in groups.items():
        keys = {k for swept, _ in pts for k, _ in swept}
        if len(keys) == 1:  # one swept option: name it once in the legend, tag values only
            (key,) = keys
            out[f"{name} ({key})"] = [(i, ",".join(str(v) for _, v in sw)) for sw, i in sorted(pts)]
        else:
            out[name] = [(i, ",".join(f"{k}={v}" for k, v in sw)) for sw, i in sorted(pts)]
    return out


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def plot_summary(summary: RunSummary, path: str | Path, profile: str | None = None) -> Path:
    """Write a two-panel PNG (or any format matplotlib infers from the suffix) to `path`."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; never needs a display
        import matplotlib.pyplot as plt
        from matplotlib.ticker import NullFormatter
    except ImportError:
        from thinkfast.engine.install_hint import pip_install_hint

        raise PlotError(f"--plot needs matplotlib: {pip_install_hint('plot')}") from None
    if not summary.configs:
        raise PlotError("the run has no configurations to plot")
    profile = profile or (summary.profiles[0] if summary.profiles else None)

    acc = [100 * c.accuracy.mean for c in summary.configs]
    # Wilson intervals are asymmetric: error bars run from the mean down to ci_low and up
    # to ci_high separately
    err = [
        (
            (
                100 * (c.accuracy.mean - c.accuracy.ci_low),
                100 * (c.accuracy.ci_high - c.accuracy.mean),
            )
            if math.isfinite(c.accuracy.ci_low) and math.isfinite(c.accuracy.ci_high)
            else (0.0, 0.0)
        )
        for c in summary.configs
    ]
    panels = [("tokens per query (all roles)", [c.tokens_per_query for c in summary.configs])]
    if profile:
        panels.append(
            (
                f"emulated latency on {profile} (critical path, s)",
                [c.emulated_s.get(profile, math.nan) for c in summary.configs],
            )
        )
    series = _series(summary)
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 5), squeeze=False)
    for ax, (xlabel, xs) in zip(axes[0], panels, strict=True):
        for color, (name, members) in enumerate(series.items()):
            pts = [(xs[i], acc[i], err[i], tag) for i, tag in members]
            ax.errorbar(
                [p[0] for p in pts],
                [p[1] for p in pts],
                yerr=[[p[2][0] for p in pts], [p[2][1] for p in pts]],
                fmt="o-" if len(pts) > 1 else "o",
                color=f"C{color}",
                capsize=3,
                lw=1.2,
                alpha=0.85,
                label=name,
            )
            for x, y, _, tag in pts:
                if tag:
                    ax.annotate(
                        tag, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7
                    )
        front = pareto_frontier(list(zip(xs, acc, strict=True)))
        if front:
            ax.plot(
                [xs[i] for i in front],
                [acc[i] for i in front],
                ":",
                color="0.2",
                lw=1,
                label="Pareto frontier",
            )
            ax.scatter(
                [xs[i] for i in front],
                [acc[i] for i in front],
                s=170,
                facecolors="none",
                edgecolors="0.2",
            )
        positive = [x for x in xs if math.isfinite(x) and x > 0]
        if positive and max(positive) / min(positive) > 20:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy (%), 95% Wilson interval")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(
        f"{summary.task} · {summary.model} · {summary.samples} samples x {summary.epochs} epoch(s)"
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
