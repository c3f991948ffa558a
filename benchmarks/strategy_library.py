"""The strategy library at matched budgets on the shipped model (issue 15).

Every strategy the shipped model can play today, each at settings that spend about 2x,
4x, 8x and 16x `single`'s tokens, on the same held-out arithmetic problems (evals.arith
eval split, four levels). Per configuration: accuracy with its 95% Wilson interval, the
paired difference (Newcombe) against `single` and against `best_of_n` vote at the same
budget level, tokens per query in total and by role, wall / critical path / sum of calls
here, the emulated critical path on a CS-3 and an H100, and whether the accounting adds
up (tokens by role sum to the total; critical path <= sum of calls) on every query. The
Pareto frontier of accuracy against tokens and against emulated CS-3 latency is printed
and drawn (`--plot`).

Accuracy, tokens and emulated latency come from a pass with `--concurrency` queries in
flight (the engine batches them); wall and critical path here from a sequential pass over
the first `--timing` problems per level, so they are per query and comparable.

    OMP_NUM_THREADS=1 python benchmarks/strategies.py --library --limit 25 --timing 3 \
        --plot docs/strategies_sweep.png --json runs/library.json
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import time
from collections import Counter, defaultdict

from library_plans import WAITING, addition_questions, plan_configs

LEVELS = (2, 4, 8, 16)


def _key(problem) -> str:
    """A problem's identity: a question may be asked twice (one-digit additions repeat)."""
    return f"{problem.level}-{problem.seed}"


def row_key(row: dict) -> str:
    """The problem a row answers."""
    return row["key"]


def _row(problem, label, strategy, answer, timing: bool) -> dict:
    truth = str(problem.answer)
    by_role = {role: u.total_tokens for role, u in answer.usage.by_role.items()}
    lat = answer.latency
    return {
        "config": label,
        "strategy": strategy,
        "level": problem.level,
        "question": problem.question,
        "key": _key(problem),
        "correct": answer.answer == truth,
        "tokens": answer.usage.total.total_tokens,
        "by_role": by_role,
        "calls": len(answer.calls),
        "wall_s": lat.wall_s,
        "critical_path_s": lat.critical_path_s,
        "sum_of_calls_s": lat.sum_of_calls_s,
        "cs3_s": lat.emulated["cs3"].critical_path_s,
        "h100_s": lat.emulated["h100"].critical_path_s,
        "roles_add_up": sum(by_role.values()) == answer.usage.total.total_tokens,
        "path_within_sum": lat.critical_path_s <= lat.sum_of_calls_s + 1e-9,
        "timing": timing,
    }


def read_rows(path: str | None) -> list[dict]:
    import json
    from pathlib import Path

    if not path or not Path(path).exists():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


async def run_library(args) -> list[dict]:
    """Run the plan; every finished query is appended to `args.rows` (JSON lines) at once,
    so a sweep cut short still leaves every row it finished, and a rerun resumes it."""
    import json

    from thinkfast.engine.local import LocalEngine
    from thinkfast.evals.arith import make_problems
    from thinkfast.orchestrator import athink

    engine = LocalEngine(args.model, hardware=("cs3", "h100"))
    if args.plan == "chat":  # one group: --limit questions
        by_level = [addition_questions(args.limit, args.seed, args.digits)]
    else:
        by_level = [make_problems(int(lv), "eval", args.limit) for lv in args.levels.split(",")]
    # interleaved (L1 #0, L2 #0, ... L1 #1 ...): a sweep cut short still covers every level
    problems = [p for group in zip(*by_level, strict=True) for p in group]
    plan = [c for c in plan_configs(args.plan) if not args.only or c[1] in args.only.split(",")]
    await athink(problems[0].question, "single", engine)  # warm up
    rows = read_rows(args.rows)
    # a rerun with the same rows file resumes: queries it already holds are not run again
    done = {(row_key(r), r["config"], r["timing"]) for r in rows}
    sink = open(args.rows, "a", encoding="utf-8") if args.rows else None  # noqa: SIM115
    started = time.perf_counter()

    async def one(problem, label, strategy, options, gate, timing=False):
        if (_key(problem), label, timing) in done:
            return
        async with gate:
            answer = await athink(
                problem.question, strategy, engine, seed=args.seed + problem.seed, **options
            )
        row = _row(problem, label, strategy, answer, timing)
        rows.append(row)
        if sink:
            sink.write(json.dumps(row) + "\n")
            sink.flush()

    serial = asyncio.Semaphore(1)
    for p in [p for group in zip(*by_level, strict=True) for p in group][
        : args.timing * len(by_level)
    ]:
        for c in plan:  # one at a time: per-query wall and critical path
            await one(p, *c, serial, timing=True)
    print(f"  timing pass: {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    gate = asyncio.Semaphore(args.concurrency)
    for index in range(0, len(problems), len(by_level)):
        chunk = problems[index : index + len(by_level)]
        await asyncio.gather(*(one(p, *c, gate) for p in chunk for c in plan))
        print(
            f"  {index + len(chunk)}/{len(problems)} problems, {time.perf_counter() - started:.0f}s",
            file=sys.stderr,
            flush=True,
        )
    return rows


def complete_rows(rows: list[dict]) -> list[dict]:
    """The rows of problems every configuration finished (paired comparisons need them)."""
    configs = {r["config"] for r in rows}
    seen = defaultdict(set)
    for r in rows:
        if not r["timing"]:
            seen[row_key(r)].add(r["config"])
    done = {q for q, c in seen.items() if c == configs}
    return [r for r in rows if r["timing"] or row_key(r) in done]


def _scores(rows, label) -> dict[str, list[float]]:
    return {row_key(r): [float(r["correct"])] for r in rows if r["config"] == label}


def summarize_library(rows: list[dict], args) -> tuple[str, list[dict]]:
    from thinkfast.evals.plot import pareto_frontier
    from thinkfast.evals.stats import paired_difference, wilson_interval

    acc_rows = [r for r in rows if not r["timing"]]
    time_rows = [r for r in rows if r["timing"]]
    labels = [
        label
        for label, _, _ in plan_configs(args.plan)
        if any(r["config"] == label for r in acc_rows)
    ]
    base_tokens = statistics.mean(r["tokens"] for r in acc_rows if r["config"] == "single")
    stats = []
    for label in labels:
        mine = [r for r in acc_rows if r["config"] == label]
        timed = [r for r in time_rows if r["config"] == label] or mine
        n, k = len(mine), sum(r["correct"] for r in mine)
        low, high = wilson_interval(k, n)
        tokens = statistics.mean(r["tokens"] for r in mine)
        ratio = tokens / base_tokens
        level = (
            min(LEVELS, key=lambda lv: abs(math.log(ratio) - math.log(lv)))
            if label != "single"
            else 1
        )
        roles = defaultdict(float)
        for r in mine:
            for role, t in r["by_role"].items():
                roles[role] += t / n
        stats.append(
            {
                "config": label,
                "strategy": mine[0]["strategy"],
                "n": n,
                "acc": k / n,
                "low": low,
                "high": high,
                "tokens": tokens,
                "x": ratio,
                "level": level,
                "roles": dict(roles),
                "by_level": {
                    lv: statistics.mean(r["correct"] for r in mine if r["level"] == lv)
                    for lv in sorted({r["level"] for r in mine})
                },
                "wall": statistics.mean(r["wall_s"] for r in timed),
                "crit": statistics.mean(r["critical_path_s"] for r in timed),
                "sum": statistics.mean(r["sum_of_calls_s"] for r in timed),
                "cs3": statistics.mean(r["cs3_s"] for r in mine),
                "h100": statistics.mean(r["h100_s"] for r in mine),
                "accounting_ok": all(
                    r["roles_add_up"] and r["path_within_sum"] for r in rows if r["config"] == label
                ),
            }
        )
    single = _scores(acc_rows, "single")
    votes = [v for v in stats if v["config"].startswith("best_of_n vote")]
    for s in stats:
        mine = _scores(acc_rows, s["config"])
        s["d_single"] = paired_difference(mine, single)
        # the best_of_n vote configuration nearest in tokens (log scale): "at the same tokens"
        ref = (
            min(votes, key=lambda v: abs(math.log(v["tokens"] / s["tokens"])))["config"]
            if votes
            else None
        )
        s["vote_ref"] = ref
        s["d_vote"] = (
            paired_difference(mine, _scores(acc_rows, ref)) if ref and ref != s["config"] else None
        )
    tok_front = {
        stats[i]["config"] for i in pareto_frontier([(s["tokens"], s["acc"]) for s in stats])
    }
    cs3_front = {stats[i]["config"] for i in pareto_frontier([(s["cs3"], s["acc"]) for s in stats])}
    lines = []
    head = (
        f"{'config':<27} {'lvl':>4} {'acc % [95% CI]':>19} {'d vs single':>20} "
        f"{'d vs nearest vote':>20} {'tokens':>7} {'x':>5} {'wall ms':>8} {'crit ms':>8} "
        f"{'sum ms':>8} {'cs3 ms':>7} {'h100 ms':>7} {'front':>5}"
    )
    lines.append(head)

    def diff(e):
        if e is None:
            return "-"
        return f"{100 * e.mean:+.1f} [{100 * e.ci_low:+.0f},{100 * e.ci_high:+.0f}]"

    for s in stats:
        front = ("T" if s["config"] in tok_front else "") + (
            "L" if s["config"] in cs3_front else ""
        )
        lines.append(
            f"{s['config']:<27} {str(s['level']) + 'x':>4} "
            f"{100 * s['acc']:>5.1f} [{100 * s['low']:>4.1f},{100 * s['high']:>5.1f}] "
            f"{diff(s['d_single']):>20} {diff(s['d_vote']):>20} {s['tokens']:>7.0f} {s['x']:>5.1f} "
            f"{1000 * s['wall']:>8.0f} {1000 * s['crit']:>8.0f} {1000 * s['sum']:>8.0f} "
            f"{1000 * s['cs3']:>7.2f} {1000 * s['h100']:>7.2f} {front:>5}"
        )
    lines.append("")
    lines.append("tokens per query by role (mean):")
    for s in stats:
        roles = ", ".join(f"{role} {t:.0f}" for role, t in sorted(s["roles"].items()))
        lines.append(f"  {s['config']:<27} {roles}")
    lines.append("")
    lines.append("accuracy by level (%):")
    for s in stats:
        lines.append(
            f"  {s['config']:<27} "
            + " ".join(f"L{lv} {100 * a:5.1f}" for lv, a in s["by_level"].items())
        )
    bad = [s["config"] for s in stats if not s["accounting_ok"]]
    lines.append("")
    lines.append(
        "accounting (tokens by role = total, critical path <= sum of calls) on every query: "
        + ("yes" if not bad else "NO for " + ", ".join(bad))
    )
    lines.append(
        "front: T = on the accuracy/tokens Pareto frontier, L = on the accuracy/CS-3 latency one"
    )
    if args.plan == "v1":
        lines.append(
            "waiting for arith-tiny v2 / a chat model: "
            + "; ".join(f"{k}: {v}" for k, v in WAITING.items())
        )
    n_problems = stats[0]["n"]
    per_level = Counter(r["level"] for r in acc_rows if r["config"] == "single")
    n_timed = len({row_key(r) for r in time_rows})
    lines.append(
        f"{n_problems} problems per configuration (per level: "
        f"{', '.join(f'L{k} {v}' for k, v in sorted(per_level.items()))}); wall/crit/sum from "
        f"{n_timed} problems run one at a time; differences paired on the same problems (Newcombe)"
    )
    return "\n".join(lines), stats


def plot_library(stats: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from thinkfast.evals.plot import pareto_frontier

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
    colors = plt.get_cmap("tab10").colors + ("black", "goldenrod", "navy", "lime")
    groups = defaultdict(list)
    for s in stats:
        name = " ".join(w for w in s["config"].split() if "=" not in w)  # drop swept values
        groups[name].append(s)
    for ax, key, title in (
        (axes[0], "tokens", "tokens per query"),
        (axes[1], "cs3", "emulated CS-3 critical path (s)"),
    ):
        for color, (name, pts) in zip(colors, groups.items(), strict=False):
            pts = sorted(pts, key=lambda s: s[key])
            xs = [s[key] for s in pts]
            ys = [100 * s["acc"] for s in pts]
            err = [
                [100 * (s["acc"] - s["low"]) for s in pts],
                [100 * (s["high"] - s["acc"]) for s in pts],
            ]
            ax.errorbar(
                xs, ys, yerr=err, marker="o", ms=4, capsize=2, lw=1.2, label=name, color=color
            )
        front = pareto_frontier([(s[key], s["acc"]) for s in stats])
        ax.plot(
            [stats[i][key] for i in front],
            [100 * stats[i]["acc"] for i in front],
            color="black",
            lw=2.5,
            alpha=0.25,
            label="Pareto frontier",
        )
        ax.set_xscale("log")
        ax.set_xlabel(title)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy % (95% Wilson)")
    axes[0].legend(fontsize=7, loc="lower right")
    n = stats[0]["n"]
    fig.suptitle(f"arith-tiny, held-out problems (n={n} per point): accuracy against cost")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown_table(stats: list[dict]) -> str:
    """The summary as a markdown table (for BENCHMARKS.md)."""

    def diff(e):
        if e is None:
            return "-"
        return f"{100 * e.mean:+.1f} [{100 * e.ci_low:+.0f}, {100 * e.ci_high:+.0f}]"

    out = [
        "| config | tokens (x single) | accuracy % [95% Wilson] | vs single [Newcombe] "
        "| vs nearest vote | wall ms | crit ms | CS-3 ms | H100 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in stats:
        ref = s.get("vote_ref")
        vote = f"{diff(s['d_vote'])} ({ref.split()[-1]})" if s["d_vote"] is not None else "-"
        out.append(
            f"| {s['config']} | {s['tokens']:.0f} ({s['x']:.1f}x) | {100 * s['acc']:.1f} "
            f"[{100 * s['low']:.1f}, {100 * s['high']:.1f}] | {diff(s['d_single'])} | {vote} "
            f"| {1000 * s['wall']:.0f} | {1000 * s['crit']:.0f} | {1000 * s['cs3']:.2f} "
            f"| {1000 * s['h100']:.2f} |"
        )
    return "\n".join(out)
