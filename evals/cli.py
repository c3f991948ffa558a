"""`thinkfast eval`: run sweeps (`run`), read their logs (`report`), list tasks (`ls`).

thinkfast eval run arith-2 --strategy single --strategy best_of_n -S n=1,4,16 --limit 50
thinkfast eval report logs/20260101-120000-arith-2 --plot curve.png
thinkfast eval ls
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from thinkfast.engine.cli_options import add_engine_arguments, engine_from_args, is_remote
from thinkfast.orchestrator.options import BUDGET_OPTIONS, parse_option

from .errors import EvalError
from .log import read_log
from .report import check_profile, render_table, summarize
from .sweep import Config, expand_grid, strategy_fields
from .task import get_task, list_tasks

__all__ = ["add_commands"]

_WIDE_HELP = (
    "every column (tokens by role, latency here, every profile, gains, coverage, accuracy "
    "by level); the default table fits 80 columns"
)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    ev = subparsers.add_parser(
        "eval", description="Measure what extra tokens buy: run, report, ls."
    )
    sub = ev.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")
    ev.set_defaults(func=lambda args: (ev.print_help(), 1)[1])

    run = sub.add_parser("run", help="run a task under one or a grid of strategy configurations")
    run.add_argument(
        "task", help="task name (see `thinkfast eval ls`), jsonl:PATH or a .jsonl path"
    )
    run.add_argument(
        "--strategy",
        action="append",
        default=None,
        metavar="NAME[:k=v1,v2...]",
        help="strategy to run; repeat to compare several (default: single)",
    )
    run.add_argument(
        "-S",
        dest="options",
        action="append",
        default=[],
        metavar="KEY=V1[,V2...]",
        help="strategy option; a comma list sweeps it (applies to strategies that have it); "
        "a callable option names an importable function: -S reward=module:function",
    )
    run.add_argument(
        "-T",
        dest="task_options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="task option (e.g. size=500, grader=numeric)",
    )
    run.add_argument(
        "--pack",
        default=None,
        help="prompt pack JSON (default: the model folder's, else the chat default)",
    )
    run.add_argument("--limit", type=int, default=None, help="first N samples of the task")
    run.add_argument(
        "--epochs", type=int, default=1, help="runs per sample (clustered intervals, pass@k)"
    )
    run.add_argument(
        "--seed", type=int, default=0, help="run seed; each sample's seed derives from it"
    )
    run.add_argument("--max-connections", type=int, default=8, help="queries in flight at once")
    run.add_argument(
        "--log-dir", default=None, help="where to write the log (default: logs/<time>-<task>)"
    )
    run.add_argument(
        "--resume", default=None, metavar="DIR", help="continue the interrupted run in DIR"
    )
    run.add_argument(
        "--baseline", default=None, help="configuration to compare with (default: first)"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument("--wide", action="store_true", help=_WIDE_HELP)
    run.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run the units on Ray workers, each with its own engine and --max-connections "
        "queries in flight: no ADDRESS starts a local Ray runtime, auto or ray://HOST:PORT "
        "joins a cluster (needs thinkfast[ray]; docs/scale-out.md)",
    )
    run.add_argument(
        "--ray-workers", type=int, default=None, help="Ray workers (default: one per CPU)"
    )
    add_engine_arguments(run)
    run.set_defaults(func=_cmd_run)

    rep = sub.add_parser("report", help="summarise a run's log: accuracy, tokens, latency, gains")
    rep.add_argument("log_dir", help="a directory written by `thinkfast eval run`")
    rep.add_argument(
        "--baseline", default=None, help="configuration to compare with (default: first)"
    )
    rep.add_argument("--profile", default=None, help="hardware profile for the latency columns")
    rep.add_argument("--json", action="store_true", help="print the summary as JSON")
    rep.add_argument("--wide", action="store_true", help=_WIDE_HELP)
    rep.add_argument("--markdown", action="store_true", help="print the table as markdown")
    rep.add_argument(
        "--plot", default=None, metavar="OUT.png", help="also draw the accuracy/cost plot"
    )
    rep.set_defaults(func=_cmd_report)

    fit = sub.add_parser(
        "fit-auto", help="fit the auto strategy's policy on the arith TRAINING split"
    )
    add_engine_arguments(fit)
    fit.add_argument("--levels", default="1,2,3,4", help="arith levels (default 1,2,3,4)")
    fit.add_argument("--per-level", type=int, default=50, help="training problems per level")
    fit.add_argument("--samples", type=int, default=32, help="drafts drawn per problem")
    fit.add_argument("--temperature", type=float, default=0.7)
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--out", required=True, help="where to write the policy (JSON)")
    fit.set_defaults(func=_cmd_fit_auto)

    ls = sub.add_parser("ls", help="list tasks with their sizes and graders")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_cmd_ls)


# -- helpers ---------------------------------------------------------------------------------


def _check_configs(configs: list[Config]) -> None:
    """Build every configuration's strategy once, so a bad option fails before any sample runs."""
    from thinkfast.orchestrator.budget import Budget
    from thinkfast.orchestrator.strategy import get_strategy

    for c in configs:
        own = {k: v for k, v in c.options.items() if k not in BUDGET_OPTIONS}
        get_strategy(c.strategy).from_options(**own)
        budget = {k: v for k, v in c.options.items() if k in BUDGET_OPTIONS}
        if budget:
            try:
                Budget(**budget)
            except ValueError as exc:
                raise EvalError(f"configuration {c.label}: invalid budget: {exc}") from exc


def _make_engine(args: argparse.Namespace) -> tuple[Any, str, dict[str, Any]]:
    """The engine, the model name the log records, and the engine settings it records."""
    engine = engine_from_args(args)
    kind, base_url = type(engine).__name__, getattr(engine, "base_url", None)
    return engine, engine.model_name, _engine_settings(args, kind, engine.hardware, base_url)


def _engine_settings(args: argparse.Namespace, kind: str, hardware: Any, base_url: Any) -> dict:
    """The engine settings a log records (the same whether the engine runs here or on Ray)."""
    options: dict[str, Any] = {"engine": kind, "hardware": list(hardware)}
    if is_remote(args):
        options["base_url"] = base_url
    if args.pack:
        options["pack"] = str(args.pack)
    return options


def _start_ray_pool(args: argparse.Namespace, run_options: dict[str, Any]) -> tuple[Any, Any]:
    """Ray workers with engines built from this command's engine options (loaded once
    per worker), and the model and engine settings the log records (evals/ray_runner.py)."""
    from .ray_runner import RayPool, check_address, engine_factory_from_args

    check_address(args.ray)  # a bad address fails before Ray starts
    pool = RayPool(
        engine_factory_from_args(args),
        run_options=run_options,
        address=args.ray,
        workers=args.ray_workers,
        max_connections=args.max_connections,
    )
    info = pool.start()
    settings = _engine_settings(args, info.engine, info.hardware, info.base_url)
    return pool, (info.model, settings)


def _default_log_dir(task: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path("logs") / f"{stamp}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', task)[:60]}"


def _print_summary(
    summary: Any, as_json: bool, extra: dict[str, Any] | None = None, wide: bool = False
) -> None:
    if as_json:
        print(json.dumps({**(extra or {}), **summary.model_dump(mode="json")}, indent=2))
    else:
        print(render_table(summary, wide=wide))


# -- commands --------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    from .runner import athink_solver, run_eval

    if args.limit is not None and args.limit < 1:
        raise EvalError(f"--limit must be >= 1 (got {args.limit})")
    if args.epochs < 1 or args.max_connections < 1:
        raise EvalError("--epochs and --max-connections must be >= 1")
    if args.ray_workers is not None and args.ray is None:
        raise EvalError("--ray-workers needs --ray (the workers are Ray actors)")
    task = get_task(args.task, **dict(parse_option(o) for o in args.task_options))
    configs = expand_grid(args.strategy or ["single"], args.options, fields_of=strategy_fields)
    _check_configs(configs)
    run_options = {"pack": args.pack} if args.pack else {}
    pool = None
    if args.ray is not None:  # the engines load on the Ray workers, not here
        pool, (model, engine_options) = _start_ray_pool(args, run_options)
        solver, close = None, pool.aclose
    else:
        engine, model, engine_options = _make_engine(args)
        solver, close = athink_solver(engine, **run_options), engine.aclose
    log_dir = (
        Path(args.resume) if args.resume else Path(args.log_dir or _default_log_dir(args.task))
    )

    async def go() -> Any:
        try:
            return await run_eval(
                task,
                configs,
                solver,
                executor=pool,
                log_dir=log_dir,
                model=model,
                epochs=args.epochs,
                seed=args.seed,
                limit=args.limit,
                max_connections=args.max_connections,
                resume=bool(args.resume),
                progress=not args.no_progress and not args.json,
                task_spec=args.task,
                engine_options=engine_options,
                argv=sys.argv,
            )
        finally:
            await close()

    try:
        result = asyncio.run(go())
    except KeyboardInterrupt:
        print(f"thinkfast: interrupted; continue with: --resume {log_dir}", file=sys.stderr)
        return 130
    summary = summarize(result.header, result.records, args.baseline)
    _print_summary(summary, args.json, {"log_dir": str(log_dir)}, wide=args.wide)
    if not args.json:
        print(f"log: {log_dir}  (thinkfast eval report {log_dir} --plot out.png)")
    if result.errors:
        print(
            f"thinkfast: {result.errors} sample(s) errored (see the log); rerun them with --resume {log_dir}",
            file=sys.stderr,
        )
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    header, records = read_log(args.log_dir)
    summary = summarize(header, records, args.baseline)
    check_profile(summary, args.profile)  # a profile the run lacks: say which it has
    if args.plot:
        from .plot import plot_summary

        plot_summary(summary, args.plot, args.profile)
    if args.markdown:
        from .report import render_markdown

        print(render_markdown(summary, args.profile))
    elif args.json:
        print(json.dumps(summary.model_dump(mode="json"), indent=2))
    else:
        print(render_table(summary, args.profile, wide=args.wide))
    if args.plot and not args.json:
        print(f"plot: {args.plot}")
    return 0


def _cmd_ls(args: argparse.Namespace) -> int:
    rows = []
    for name, description in list_tasks().items():
        size: Any = "-"
        grader = "-"
        try:
            if name not in ("jsonl", "reasoning_gym"):  # these need a variant to be built
                task = get_task(name)
                size, grader = len(task), task.grader.describe()
            elif name == "jsonl":
                grader = "by -T grader= (exact|numeric|regex|choice)"
            else:
                grader = "the data set's score_answer"
        except EvalError as exc:
            description = f"{description} [unavailable: {exc}]"
        rows.append({"task": name, "size": size, "grader": grader, "description": description})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    widths = [
        max(len(str(r[k])) for r in rows + [{k: k for k in rows[0]}])
        for k in ("task", "size", "grader")
    ]
    print(f"{'task':<{widths[0]}}  {'size':>{widths[1]}}  {'grader':<{widths[2]}}  description")
    for r in rows:
        print(
            f"{r['task']:<{widths[0]}}  {r['size']!s:>{widths[1]}}  {r['grader']:<{widths[2]}}  {r['description']}"
        )
    return 0


def _cmd_fit_auto(args: argparse.Namespace) -> int:
    from .auto_policy import run_fit

    engine = engine_from_args(args)
    levels = [int(x) for x in args.levels.split(",")]
    policy = run_fit(
        engine,
        levels=levels,
        per_level=args.per_level,
        samples=args.samples,
        temperature=args.temperature,
        seed=args.seed,
        out=Path(args.out),
    )
    for table in policy["tables"]:
        print(
            f"spend <= {table['target_spend']:g}x: k={table['k']}, measured {table['spend']:.2f}x, "
            f"train accuracy {table['train_accuracy']:.3f}"
        )
    print(f"wrote {args.out}")
    return 0
