"""Reports: a run's summary (summary.py) as a terminal table or markdown, with the footer
saying what `n` counts and which intervals the figures carry. `render_table` uses rich
when installed, plain text otherwise. The summary's names are re-exported here.
"""

from __future__ import annotations

import math

from .errors import EvalError
from .stats import Estimate
from .summary import WALL_CLOCK_FIELDS, ConfigSummary, RunSummary, summarize

__all__ = [
    "ConfigSummary",
    "RunSummary",
    "summarize",
    "render_table",
    "render_markdown",
    "footer",
    "check_profile",
    "WALL_CLOCK_FIELDS",
]


# -- rendering ---------------------------------------------------------------------------


def _f(value: float | None, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, fmt)


def _ci(est: Estimate, sign: str) -> str:
    """'62.0 [52.1, 71.0]' in points (Wilson and Newcombe intervals are not symmetric
    about the estimate); '-' when there is nothing to estimate."""
    if not math.isfinite(est.mean):
        return "-"
    low, high = _f(100 * est.ci_low, f"{sign}.1f"), _f(100 * est.ci_high, f"{sign}.1f")
    return f"{100 * est.mean:{sign}.1f} [{low}, {high}]"


def footer(summary: RunSummary) -> str:
    """The lines under a table saying what `n` counts and which intervals it shows."""
    lines = [f"n: problems each figure rests on ({summary.epochs} run(s) per problem)"]
    for label, field in (("acc", "accuracy"), ("Δ vs base", "vs_baseline")):
        if field in summary.intervals:
            lines.append(f"{label}: 95% {summary.intervals[field]}")
    for c in summary.configs:
        if c.ties:
            lines.append(f"ties: {c.label}: {c.ties} of {c.runs} final choices (drawn first)")
    for c in summary.configs:
        for warning, count in c.warnings.items():
            lines.append(f"warning ({c.label}, {count} of {c.runs} runs): {warning}")
    return "\n".join(lines)


def _rows(summary: RunSummary, profile: str | None) -> tuple[list[str], list[list[str]]]:
    head = [
        "config",
        "n",
        "acc % [95% CI]",
        "Δ vs base [95% CI]",
        "tok/q",
        "by role",
        "wall p50/p95 s",
        "crit path s",
    ]
    # every profile's emulated critical path; the marginal gain per second on `profile`
    head += [f"emu {p} s" for p in summary.profiles]
    head += ["pts/1k tok"] + ([f"pts/emu-s {profile}"] if profile else [])
    head += ["cover@n"]
    levels = len({lv for c in summary.configs for lv in c.by_level}) > 1
    if levels:
        head += ["acc by level"]
    head += ["err"]
    rows = []
    for s in summary.configs:
        acc = _ci(s.accuracy, "")
        delta = "base" if s.vs_baseline is None else _ci(s.vs_baseline, "+")
        roles = " ".join(f"{r}:{v['total_tokens']:.0f}" for r, v in s.tokens_by_role.items())
        row = [
            s.label,
            str(s.samples),
            acc,
            delta,
            _f(s.tokens_per_query, ",.0f"),
            roles,
            f"{_f(s.wall_p50_s, '.2f')}/{_f(s.wall_p95_s, '.2f')}",
            _f(s.critical_path_s, ".2f"),
        ]
        row += [_f(s.emulated_s.get(p), ".3g") for p in summary.profiles]
        row += [_f(s.points_per_1k_tokens, "+.1f")]
        if profile:
            row += [_f(s.points_per_emulated_s.get(profile), "+.0f")]
        cover = f"{100 * s.coverage_at_k[max(s.coverage_at_k)]:.1f}" if s.coverage_at_k else "-"
        row += [cover]
        if levels:
            row += [" ".join(f"L{lv}:{100 * a:.0f}" for lv, a in s.by_level.items())]
        row += [str(s.errors)]
        rows.append(row)
    return head, rows


# The columns of the default table: what a comparison needs, within 80 columns.
NARROW_COLUMNS = ("config", "n", "acc % [95% CI]", "Δ vs base [95% CI]", "tok/q", "err")
TABLE_WIDTH = 80


def check_profile(summary: RunSummary, profile: str | None) -> str | None:
    """`profile`, or the run's first; a profile the run was not emulated on is an error
    naming the ones it has."""
    if profile is None:
        return summary.profiles[0] if summary.profiles else None
    if profile not in summary.profiles:
        has = ", ".join(summary.profiles) or "none (no call was emulated)"
        raise EvalError(
            f"profile {profile!r} is not in this run; its profiles: {has} "
            "(`eval run --hardware` chooses them)"
        )
    return profile


def _narrow(head: list[str], rows: list[list[str]], profile: str | None):
    """The default columns (plus the emulated critical path on `profile`; errors only
    when some sample errored)."""
    errors = any(r[-1] != "0" for r in rows)
    keep = [*NARROW_COLUMNS[:5], *([f"emu {profile} s"] if profile else [])]
    keep += ["err"] if errors else []
    index = [head.index(h) for h in keep if h in head]
    # a long label wraps between its options rather than inside one
    rows = [[r[0].replace(",", ", "), *r[1:]] for r in rows]
    return [head[i] for i in index], [[r[i] for i in index] for r in rows]


def render_markdown(summary: RunSummary, profile: str | None = None) -> str:
    """The table as GitHub markdown (for docs), every column."""
    profile = check_profile(summary, profile)
    head, rows = _rows(summary, profile)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", *(f"{line}  " for line in footer(summary).splitlines())]
    return "\n".join(lines)


def render_table(summary: RunSummary, profile: str | None = None, *, wide: bool = False) -> str:
    """The table as text: rich's layout when installed, aligned columns otherwise. By
    default the columns in NARROW_COLUMNS and the emulated critical path on `profile`,
    laid out within 80 columns; `wide` gives every column (tokens by role, wall and
    critical-path seconds, every profile, gains, coverage, accuracy by level)."""
    profile = check_profile(summary, profile)
    head, rows = _rows(summary, profile)
    more = ""
    if not wide:
        head, rows = _narrow(head, rows, profile)
        more = "\nmore columns (tokens by role, latency here, gains, coverage): --wide"
    title = (
        f"{summary.task} · {summary.model} · {summary.samples} samples x {summary.epochs} epoch(s) · "
        f"seed {summary.seed} · baseline {summary.baseline}"
    )
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        table = [title, fmt.format(*head), *(fmt.format(*r) for r in rows)]
        return "\n".join([*table, footer(summary)]) + more
    from rich import box

    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for h in head:
        left = h in ("config", "by role", "acc by level")
        # only the free-text columns may fold; an interval broken over lines misreads
        table.add_column(h, justify="left" if left else "right", overflow="fold", no_wrap=not left)
    for r in rows:
        table.add_row(*r)
    # narrow: rich folds cells to keep within 80 columns; wide: room for every column
    console = Console(width=1000 if wide else TABLE_WIDTH, record=True, file=_Null())
    console.print(table)
    text = "\n".join(line.rstrip() for line in console.export_text().splitlines())
    return f"{text}\n{footer(summary)}{more}"


class _Null:
    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass
