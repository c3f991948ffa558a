"""Strategies side by side on the shipped model: accuracy, tokens and latency per query.

Runs `single`, `best_of_n` with each selector at several n, and `self_refine` at 1..3
rounds on the same held-out arithmetic problems (evals.arith eval split), one query at a
time so wall times are per query, and prints per configuration: accuracy per level,
tokens per query, wall / critical path / emulated critical path per query, orchestration
overhead (query wall minus engine busy time, as a share of wall), then ratios against
`single` and the issue's targets:

- best_of_n(n=8, vote) >= single + 10 points on the middle and hard levels;
- best_of_n(n=8) wall <= 2x single wall (one prefill, batched decode);
- orchestration overhead <= 5% of query wall at n=8;
- self_refine never worse than single.

Coverage@n (any of the n drafts correct, an oracle) is printed beside the selectors: the
gap is what a better selector could still win.

    OMP_NUM_THREADS=1 python benchmarks/strategies.py --limit 20

`--library` runs the strategy library at matched budgets instead (issue 15: every
strategy at about 2x/4x/8x/16x single's tokens, Wilson intervals, paired differences,
tokens by role, emulated latency, Pareto frontier): see benchmarks/strategy_library.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="arith-tiny")
    p.add_argument("--levels", default="1,2,3,4")
    p.add_argument("--limit", type=int, default=20, help="problems per level")
    p.add_argument("--ns", default="2,4,8,16")
    p.add_argument("--selectors", default="vote,judge,score,logprob")
    p.add_argument("--rounds", default="1,2,3")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="queries in flight (the engine batches them); >1 is for accuracy and tokens "
        "only: per-query wall then includes waiting for the other queries",
    )
    p.add_argument("--json", default=None, help="write per-query rows to this file")
    p.add_argument(
        "--library",
        action="store_true",
        help="the strategy library at matched budgets (issue 15; benchmarks/strategy_library.py)",
    )
    p.add_argument(
        "--timing",
        type=int,
        default=3,
        help="--library: problems per level run one at a time for wall",
    )
    p.add_argument("--markdown", action="store_true", help="--library: also a markdown table")
    p.add_argument(
        "--plan",
        default="v1",
        choices=("v1", "v2", "chat"),
        help="--library: v2 adds arith-tiny v2's roles; chat: a chat model (e.g. --model "
        "smollm2-135m) on --limit additions of --digits digits (benchmarks/library_plans.py)",
    )
    p.add_argument("--only", default=None, help="--library: only these strategies (comma list)")
    p.add_argument(
        "--digits", type=int, default=2, choices=(1, 2, 3), help="--plan chat: addend digits"
    )
    p.add_argument("--plot", default=None, help="--library: draw the accuracy/cost plot here")
    p.add_argument(
        "--rows", default=None, help="--library: append each query's row here (JSON lines)"
    )
    p.add_argument(
        "--summarize", default=None, help="--library: only summarize the rows file given here"
    )
    return p.parse_args(argv)


def configs(args) -> list[tuple[str, str, dict]]:
    out = [("single", "single", {})]
    for n in (int(x) for x in args.ns.split(",")):
        for selector in args.selectors.split(","):
            out.append((f"best_of_n n={n} {selector}", "best_of_n", {"n": n, "selector": selector}))
    for rounds in (int(x) for x in args.rounds.split(",")):
        out.append((f"self_refine rounds={rounds}", "self_refine", {"max_rounds": rounds}))
    return out


async def run(args) -> list[dict]:
    from thinkfast.engine.local import LocalEngine
    from thinkfast.evals.arith import make_problems
    from thinkfast.orchestrator import athink

    engine = LocalEngine(args.model, hardware=("cs3", "h100"))
    levels = [int(x) for x in args.levels.split(",")]
    problems = [p for level in levels for p in make_problems(level, "eval", args.limit)]
    plan = configs(args)
    await athink(problems[0].question, "single", engine)  # warm up (template, caches)
    rows: list[dict] = []
    started = time.perf_counter()
    gate = asyncio.Semaphore(args.concurrency)
    finished = 0

    async def one(problem, label, strategy, options):
        async with gate:
            answer = await athink(
                problem.question, strategy, engine, seed=args.seed + problem.seed, **options
            )
        truth = str(problem.answer)
        drafts = [c for c in answer.candidates if c.source != "refine"]
        rows.append(
            {
                "config": label,
                "level": problem.level,
                "question": problem.question,
                "correct": answer.answer == truth,
                "coverage": any(c.answer == truth for c in drafts),
                "tokens": answer.usage.total.total_tokens,
                "wall_s": answer.latency.wall_s,
                "critical_path_s": answer.latency.critical_path_s,
                "busy_s": answer.latency.engine_busy_s,
                "cs3_s": answer.latency.emulated["cs3"].critical_path_s,
                "h100_s": answer.latency.emulated["h100"].critical_path_s,
                "flips": answer.flips,
            }
        )

    units = [(problem, *config) for problem in problems for config in plan]

    async def tracked(unit):
        nonlocal finished
        await one(*unit)
        finished += 1
        if finished % len(plan) == 0:
            done = time.perf_counter() - started
            print(f"  {finished}/{len(units)} queries, {done:.0f}s", file=sys.stderr, flush=True)

    await asyncio.gather(*(tracked(u) for u in units))
    return rows


def summarize(rows: list[dict], args) -> str:
    levels = sorted({r["level"] for r in rows})
    present = {r["config"] for r in rows}
    labels = [label for label, _, _ in configs(args) if label in present]
    lines = []
    head = f"{'config':<26}" + "".join(f" {'L' + str(lv):>6}" for lv in levels)
    head += f" {'all':>6} {'cover':>6} {'tokens':>7} {'wall ms':>8} {'crit ms':>8} {'cs3 ms':>7} {'h100 ms':>8} {'ovh %':>6}"
    lines.append(head)
    stats = {}
    for label in labels:
        mine = [r for r in rows if r["config"] == label]
        acc = {
            lv: 100 * statistics.mean(r["correct"] for r in mine if r["level"] == lv)
            for lv in levels
        }
        s = {
            "acc": acc,
            "all": 100 * statistics.mean(r["correct"] for r in mine),
            "cover": 100 * statistics.mean(r["coverage"] for r in mine),
            "tokens": statistics.mean(r["tokens"] for r in mine),
            "wall": statistics.mean(r["wall_s"] for r in mine),
            "crit": statistics.mean(r["critical_path_s"] for r in mine),
            "cs3": statistics.mean(r["cs3_s"] for r in mine),
            "h100": statistics.mean(r["h100_s"] for r in mine),
            # overhead over the whole run: total (wall - busy) / total wall
            "ovh": 100
            * sum(r["wall_s"] - r["busy_s"] for r in mine)
            / sum(r["wall_s"] for r in mine),
        }
        stats[label] = s
        line = f"{label:<26}" + "".join(f" {acc[lv]:>6.1f}" for lv in levels)
        line += (
            f" {s['all']:>6.1f} {s['cover']:>6.1f} {s['tokens']:>7.0f} {1000 * s['wall']:>8.1f}"
            f" {1000 * s['crit']:>8.1f} {1000 * s['cs3']:>7.2f} {1000 * s['h100']:>8.2f} {s['ovh']:>6.1f}"
        )
        lines.append(line)
    base = stats["single"]
    lines.append("")
    lines.append(
        f"{'vs single':<26} {'d acc':>7} {'tokens x':>9} {'wall x':>7} {'cs3 x':>6} {'h100 x':>7}"
    )
    for label in labels[1:]:
        s = stats[label]
        lines.append(
            f"{label:<26} {s['all'] - base['all']:>+7.1f} {s['tokens'] / base['tokens']:>9.2f}"
            f" {s['wall'] / base['wall']:>7.2f} {s['cs3'] / base['cs3']:>6.2f} {s['h100'] / base['h100']:>7.2f}"
        )
    lines.append("")
    lines.append(targets(stats, levels))
    # paired view: on the same problems, what did each strategy fix and break vs single?
    single = {r["question"]: r["correct"] for r in rows if r["config"] == "single"}
    lines.append("")
    lines.append("paired vs single (same problems): fixed / broke")
    for label in labels[1:]:
        mine = [r for r in rows if r["config"] == label and r["question"] in single]
        fixed = sum(r["correct"] and not single[r["question"]] for r in mine)
        broke = sum(single[r["question"]] and not r["correct"] for r in mine)
        lines.append(f"  {label:<26} {fixed:>3} / {broke:<3}")
    return "\n".join(lines)


def targets(stats: dict, levels: list[int]) -> str:
    out = ["targets:"]
    base = stats["single"]
    bo8 = stats.get("best_of_n n=8 vote")
    if bo8:
        mid_hard = [lv for lv in levels if lv >= 2] or levels
        for lv in mid_hard:
            gain = bo8["acc"][lv] - base["acc"][lv]
            out.append(
                f"  best-of-8 vote - single on level {lv}: {gain:+.1f} points (target >= +10): {'PASS' if gain >= 10 else 'FAIL'}"
            )
        ratio = bo8["wall"] / base["wall"]
        out.append(
            f"  best-of-8 vote wall / single wall: {ratio:.2f}x (target <= 2x): {'PASS' if ratio <= 2 else 'FAIL'}"
        )
        out.append(
            f"  orchestration overhead at n=8 (vote): {bo8['ovh']:.1f}% of wall (target <= 5%): {'PASS' if bo8['ovh'] <= 5 else 'FAIL'}"
        )
    for label, s in stats.items():
        if label.startswith("self_refine"):
            d = s["all"] - base["all"]
            out.append(
                f"  {label} - single: {d:+.1f} points (target >= 0): {'PASS' if d >= 0 else 'FAIL'}"
            )
    return "\n".join(out)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    if args.library:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from strategy_library import (
            complete_rows,
            markdown_table,
            plot_library,
            read_rows,
            run_library,
            summarize_library,
        )

        if args.summarize:
            rows = read_rows(args.summarize)
        else:
            rows = asyncio.run(run_library(args))
        rows = complete_rows(rows)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f)
        text, stats = summarize_library(rows, args)
        print(text)
        if args.markdown:
            print()
            print(markdown_table(stats))
        if args.plot:
            plot_library(stats, args.plot)
        return 0
    rows = asyncio.run(run(args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f)
    if args.concurrency > 1:
        print(f"(concurrency {args.concurrency}: wall columns include waiting for other queries)")
    print(summarize(rows, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
