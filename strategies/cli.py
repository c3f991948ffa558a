"""`thinkfast ask` and `thinkfast strategies`.

`ask` runs one scaffolded query and prints the answer with a compact cost table (tokens by
role, wall, sum of calls, critical path, emulated latency per profile) and its warnings
(on stderr); `--json` prints the whole Answer, `--trace` every engine call, every decision
(ties labelled) and the warnings. `strategies` lists the built-in and installed
strategies with their options.
"""

from __future__ import annotations

import argparse
import json
import sys

from thinkfast.engine.cli_options import add_engine_arguments, engine_from_args
from thinkfast.orchestrator.errors import StrategyConfigError
from thinkfast.orchestrator.options import parse_option

__all__ = ["add_commands"]


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    ask = subparsers.add_parser(
        "ask",
        description="Answer a question with a thinking strategy; print the answer and its cost.",
    )
    ask.add_argument("question", help="the question ('-' reads it from stdin)")
    ask.add_argument(
        "--strategy", "-s", default="best_of_n", help="strategy name (see `thinkfast strategies`)"
    )
    ask.add_argument(
        "-S",
        dest="options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="strategy option, e.g. -S n=8 -S selector=vote (values parse as JSON when they "
        "can); a callable option names an importable function: -S selector=reward "
        "-S reward=module:function",
    )
    ask.add_argument("--seed", type=int, default=None)
    ask.add_argument("--max-tokens", type=int, default=None, help="token budget across all roles")
    ask.add_argument("--max-latency", type=float, default=None, help="wall-clock budget in seconds")
    ask.add_argument(
        "--max-emulated", type=float, default=None, help="emulated-latency budget in seconds"
    )
    ask.add_argument("--profile", default=None, help="hardware profile of --max-emulated")
    ask.add_argument(
        "--pack", default=None, help="prompt pack JSON file (default: the model's own)"
    )
    ask.add_argument("--json", action="store_true", help="print the Answer as JSON")
    ask.add_argument("--trace", action="store_true", help="print every engine call")
    add_engine_arguments(ask)
    ask.set_defaults(func=run_ask)

    listing = subparsers.add_parser(
        "strategies", description="List built-in and installed strategies with their options."
    )
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=run_strategies)


def run_ask(args: argparse.Namespace) -> int:
    from thinkfast.orchestrator.api import think

    question = sys.stdin.read().strip() if args.question == "-" else args.question
    options = dict(parse_option(o) for o in args.options)
    run = {
        "seed": args.seed,
        "max_tokens": args.max_tokens,
        "max_latency_s": args.max_latency,
        "max_emulated_s": args.max_emulated,
        "profile": args.profile,
        "pack": args.pack,
    }
    options.update({k: v for k, v in run.items() if v is not None})
    answer = think(question, args.strategy, engine_from_args(args), **options)
    if args.json:
        print(answer.model_dump_json(indent=2))
        return 0
    print(answer.text.strip())
    print(f"\nanswer: {answer.answer}")
    if answer.decisions:
        last = answer.decisions[-1]
        print(f"chosen by {last.kind}: {last.detail}")
    if answer.rounds:
        flips = answer.flips
        print(
            f"self-refine: {len(answer.rounds)} round(s), {flips} flip(s), ended: {answer.rounds[-1].stopped}"
        )
    if answer.stopped_for_budget:
        print(f"stopped for budget: {answer.budget_stop_reason}")
    for failure in answer.failures:
        print(f"failed branch {failure.node}[{failure.branch or '-'}]: {failure.error}")
    print()
    print(cost_table(answer))
    if args.trace:
        print()
        print(trace_table(answer))
        if answer.decisions:
            print()
            print(decision_table(answer))
        for warning in answer.warnings:
            print(f"warning: {warning}")
    else:
        sys.stdout.flush()  # the answer first, then what to know about it
        for warning in answer.warnings:
            print(f"thinkfast: warning: {warning}", file=sys.stderr)
    return 0


def decision_table(answer) -> str:
    """Every choice the graph made, ties labelled (settled by the drawn-first rule)."""
    lines = [f"{'round':>5} {'kind':<10} {'winner':>6} {'tie':<4} detail"]
    for d in answer.decisions:
        winner = "-" if d.winner is None else str(d.winner)
        lines.append(
            f"{d.round:>5} {d.kind:<10} {winner:>6} {'TIE' if d.tie else '-':<4} {d.detail}"
        )
    return "\n".join(lines)


def cost_table(answer) -> str:
    """Tokens by role, then latency three ways, here and per emulated profile."""
    usage, latency = answer.usage, answer.latency
    lines = [f"{'role':<10} {'calls':>5} {'prompt':>7} {'compl':>7} {'total':>7} {'wall s':>8}"]
    for role, u in usage.by_role.items():
        lines.append(
            f"{role:<10} {u.calls:>5} {u.prompt_tokens:>7} {u.completion_tokens:>7} {u.total_tokens:>7} {u.wall_s:>8.3f}"
        )
    t = usage.total
    lines.append(
        f"{'total':<10} {t.calls:>5} {t.prompt_tokens:>7} {t.completion_tokens:>7} {t.total_tokens:>7} {t.wall_s:>8.3f}"
    )
    lines.append("")
    lines.append(f"{'latency':<10} {'wall':>10} {'sum calls':>10} {'crit path':>10}")
    lines.append(
        f"{'here':<10} {latency.wall_s:>10.4f} {latency.sum_of_calls_s:>10.4f} {latency.critical_path_s:>10.4f}"
    )
    for profile, e in latency.emulated.items():
        lines.append(f"{profile:<10} {'':>10} {e.sum_of_calls_s:>10.4f} {e.critical_path_s:>10.4f}")
    return "\n".join(lines)


def trace_table(answer) -> str:
    profiles = list(answer.latency.emulated)
    head = f"{'id':>3} {'role':<12} {'node':<9} {'branch':<16} {'engine':<14} {'req':>3} {'n':>3} {'prompt':>6} {'compl':>6} {'start':>7} {'wall':>7} {'after':<8}"
    head += "".join(f" {p:>9}" for p in profiles)
    lines = [head]
    for c in answer.calls:
        row = (
            f"{c.id:>3} {c.role:<12} {c.node:<9} {(c.branch or '-'):<16} {c.engine or '-':<14} {c.requests:>3} {c.samples:>3} "
            f"{c.prompt_tokens:>6} {c.completion_tokens:>6} {c.start_s:>7.3f} {c.wall_s:>7.3f} "
            f"{','.join(map(str, c.after)) or '-':<8}"
        )
        row += "".join(f" {c.emulated.get(p, 0.0):>9.5f}" for p in profiles)
        if c.error:
            row += f"  ERROR {c.error}"
        lines.append(row)
    return "\n".join(lines)


def run_strategies(args: argparse.Namespace) -> int:
    from thinkfast.orchestrator.strategy import available_strategies, get_strategy

    rows = []
    for name, source in available_strategies().items():
        try:
            cls = get_strategy(name)
        except StrategyConfigError as exc:  # a broken plugin must not hide the others
            rows.append({"name": name, "source": source, "error": str(exc), "options": []})
            continue
        rows.append(
            {"name": name, "source": source, "summary": cls.summary, "options": cls.options()}
        )
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    for row in rows:
        print(f"{row['name']}  ({row['source']})")
        if "error" in row:
            print(f"  cannot load: {row['error']}")
            continue
        if row["summary"]:
            print(f"  {row['summary']}")
        for opt in row["options"]:
            default = "" if opt["default"] is None else f" = {opt['default']!r}"
            print(f"    {opt['name']}: {opt['type']}{default}  {opt['description']}")
        print()
    return 0
