"""Plots of a run: accuracy against tokens per query and against emulated latency.

Each configuration is a point with its 95% interval; the Pareto frontier (no other
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


def plot_summary(summary: RunSummary, path: str | Path, profile: str | None = None) -> Path:
    """Write a two-panel PNG (or any format matplotlib infers from the suffix) to `path`."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; never needs a display
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError("--plot needs matplotlib: pip install 'thinkfast[plot]'") from None
    if not summary.configs:
        raise PlotError("the run has no configurations to plot")
    profile = profile or (summary.profiles[0] if summary.profiles else None)

    acc = [100 * c.accuracy.mean for c in summary.configs]
    err = [
        100 * c.accuracy.half_width if math.isfinite(c.accuracy.half_width) else 0.0
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
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 5), squeeze=False)
    strategies = sorted({c.strategy for c in summary.configs})
    colors = {s: f"C{i}" for i, s in enumerate(strategies)}
    for ax, (xlabel, xs) in zip(axes[0], panels, strict=True):
        for i, c in enumerate(summary.configs):
            ax.errorbar(
                xs[i], acc[i], yerr=err[i], fmt="o", color=colors[c.strategy], capsize=3, alpha=0.85
            )
            ax.annotate(
                c.label.replace(c.strategy, "").strip("()") or c.strategy,
                (xs[i], acc[i]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
            )
        front = pareto_frontier(list(zip(xs, acc, strict=True)))
        if front:
            ax.plot(
                [xs[i] for i in front],
                [acc[i] for i in front],
                "--",
                color="0.3",
                lw=1,
                label="Pareto frontier",
            )
            ax.scatter(
                [xs[i] for i in front],
                [acc[i] for i in front],
                s=160,
                facecolors="none",
                edgecolors="0.3",
            )
        positive = [x for x in xs if math.isfinite(x) and x > 0]
        if positive and max(positive) / min(positive) > 20:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy (%), 95% interval")
        ax.grid(alpha=0.3)
        handles = [
            plt.Line2D([], [], marker="o", ls="", color=colors[s], label=s) for s in strategies
        ]
        ax.legend(
            handles=handles + ax.get_legend_handles_labels()[0], fontsize=8, loc="lower right"
        )
    fig.suptitle(
        f"{summary.task} · {summary.model} · {summary.samples} samples x {summary.epochs} epoch(s)"
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
