"""The public entry points: `think`, `athink` and `astream`.

`athink(question, strategy="best_of_n", engine=None, **options)` resolves the strategy by
name (the registry lives in `thinkfast.strategies`, looked up when called, so this layer
does not import the one above it at import time), splits the options into the strategy's
own and the run's (budget, seed, pack, per-role engines), builds the run's `Roster` (which
engines and packs play each role, the strategy's default templates filling roles a pack
lacks) and checks that every role the strategy asks for can be played, runs the
strategy's cached compiled graph with a fresh `RunContext`, and builds the `Answer` from
the final state and the ledger. `engine=None` is the shipped model on the local engine,
with the prompt pack from its model folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from thinkfast.engine import Engine
from thinkfast.engine.checkpoint import DEFAULT_MODEL  # the shipped model

from .answer import Answer, build_answer
from .budget import Budget
from .context import RunContext
from .errors import RunningLoopError, StrategyConfigError
from .events import Event
from .options import RUN_OPTIONS  # options of the run itself; the rest belong to the strategy
from .prompt_pack import PromptPack
from .roster import EngineChoice, Roster, default_pack, pack_for

__all__ = [
    "think",
    "athink",
    "astream",
    "default_engine",
    "default_pack",
    "pack_for",
    "RUN_OPTIONS",
]

_default_engine: Engine | None = None


def default_engine() -> Engine:
    """The shipped model on the local engine, loaded once per process."""
    global _default_engine
    if _default_engine is None:
        from thinkfast.engine import LocalEngine

        _default_engine = LocalEngine(DEFAULT_MODEL)
    return _default_engine


def _resolve_strategy(strategy: Any, options: dict[str, Any]):
    from thinkfast.orchestrator.strategy import Strategy, get_strategy

    if isinstance(strategy, Strategy):
        if options:
            raise StrategyConfigError(
                f"options {', '.join(sorted(options))} given with a configured "
                f"{type(strategy).__name__} instance; pass them to its constructor instead"
            )
        return strategy
    if isinstance(strategy, type) and issubclass(strategy, Strategy):
        return strategy.from_options(**options)
    if not isinstance(strategy, str):
        raise StrategyConfigError(
            f"strategy must be a name, a Strategy subclass or instance; got {type(strategy).__name__}"
        )
    return get_strategy(strategy).from_options(**options)


def run_context(
    engine: Engine | None = None,
    *,
    pack: PromptPack | str | Path | None = None,
    engines: Mapping[str, EngineChoice] | None = None,
    seed: int | None = None,
    strategy: Any = None,
    **budget_options: Any,
) -> RunContext:
    """The run context a strategy graph needs: the roster (engines and packs per role),
    the budget (max_tokens, max_latency_s, max_emulated_s, profile) and the seed.

    `engines` maps a role to an Engine or a list of Engines (see `roster`). With
    `strategy` (a configured Strategy), its default templates fill roles the packs lack,
    and the roles it declares (`roles()`, when not None) are checked now and are the only
    ones `engines` may name.
    Pass the context as `context=` when running `strategy.graph` yourself (e.g. embedded
    as a subgraph); `athink` builds one per query.
    """
    base = engine if engine is not None else default_engine()
    if isinstance(pack, str | Path):
        pack = PromptPack.from_file(pack)
    roster = Roster.for_strategy(strategy, base, pack=pack, engines=engines)
    try:
        budget = Budget(**budget_options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'budget'}: {e['msg']} (got {e.get('input')!r})"
            for e in exc.errors()
        )
        raise StrategyConfigError(f"invalid budget: {problems}") from exc
    if budget.max_emulated_s is not None:
        profiles = tuple(getattr(base, "hardware", ()) or ())
        if budget.profile is None:
            if not profiles:
                raise StrategyConfigError(
                    "max_emulated_s needs a hardware profile and the engine projects onto none; "
                    "create the engine with hardware=(...)"
                )
            budget = budget.model_copy(update={"profile": profiles[0]})
        elif budget.profile not in profiles:
            raise StrategyConfigError(
                f"profile {budget.profile!r} is not one the engine projects onto; "
                f"accepted: {', '.join(profiles) or 'none (create the engine with hardware=...)'}"
            )
    return RunContext(roster=roster, budget=budget, seed=seed)


def _prepare(question: str, strategy: Any, engine: Engine | None, options: dict[str, Any]):
    if not isinstance(question, str) or not question.strip():
        raise StrategyConfigError("question must be a non-empty string")
    run = {k: options.pop(k) for k in list(options) if k in RUN_OPTIONS}
    chosen = _resolve_strategy(strategy, options)
    budget_options = {
        k: run[k] for k in ("max_tokens", "max_latency_s", "max_emulated_s", "profile") if k in run
    }
    ctx = run_context(
        engine,
        pack=run.get("pack"),
        engines=run.get("engines"),
        seed=run.get("seed"),
        strategy=chosen,
        **budget_options,
    )
    return chosen, ctx


def _asked(question: str, ctx: RunContext) -> tuple[str, list[str]]:
    """The question as the main model's pack has it asked (spaces dropped for arith-tiny),
    and a warning when it is not of the kind that model was trained on."""
    pack = ctx.roster.pack_of(ctx.roster.main)
    asked, warning = pack.prepare_question(question)
    return asked, [warning] if warning else []


def _finish(
    question: str, chosen, ctx: RunContext, state: dict[str, Any], notes: list[str]
) -> Answer:
    wall = ctx.elapsed()
    state = dict(state)
    state["budget_stop"] = state.get("budget_stop") or ctx.gate.stop_reason
    answer = build_answer(
        question,
        chosen.name,
        chosen.options_json(),
        state,
        ctx.ledger,
        wall,
        ctx.roster.main.model_name,
    )
    # said once per query, not per call: the question's form, roles whose replies the
    # pack could not read
    answer.warnings = [*notes, *ctx.roster.reading_warnings()]
    return answer


async def athink(
    question: str, strategy: Any = "best_of_n", engine: Engine | None = None, **options: Any
) -> Answer:
    """Answer `question` with `strategy`, spending extra tokens to think first.

    Options are the strategy's own (e.g. n=8, selector="vote") plus the run's:
    `max_tokens`, `max_latency_s`, `max_emulated_s` and `profile` (the budget), `seed`,
    `pack` (a PromptPack or a path to one), `engines` (role -> an Engine or a list of
    Engines, for roles played on other models than `engine`). Cancelling the task
    cancels the engine calls it made.
    """
    chosen, ctx = _prepare(question, strategy, engine, dict(options))
    asked, notes = _asked(question, ctx)
    ctx.started = time.perf_counter()
    state = await chosen.graph.ainvoke({"question": asked}, context=ctx)
    return _finish(question, chosen, ctx, state, notes)


async def astream(
    question: str,
    strategy: Any = "best_of_n",
    engine: Engine | None = None,
    *,
    tokens: bool = True,
    **options: Any,
) -> AsyncIterator[Event]:
    """Like `athink`, but yields progress events as they happen; the last event has kind
    "answer", its text and extracted answer in `data`, and the full Answer in `result`.

    With `tokens` (the default), a strategy whose last step writes the answer (single's
    draft; self_refine's last round with accept="always") streams that generation, and
    its text arrives as "token" events before the answer event (see `events`);
    `tokens=False` runs every call as `athink` does."""
    chosen, ctx = _prepare(question, strategy, engine, dict(options))
    ctx.stream_tokens = tokens
    asked, notes = _asked(question, ctx)
    ctx.started = time.perf_counter()
    state: dict[str, Any] = {}
    graph_stream = chosen.graph.astream(
        {"question": asked}, context=ctx, stream_mode=["custom", "values"]
    )
    # A consumer that stops early closes this generator; closing the graph's stream here,
    # not whenever it is garbage-collected, cancels the node's engine call at once.
    async with contextlib.aclosing(graph_stream):
        async for mode, chunk in graph_stream:
            if mode == "custom" and isinstance(chunk, Event):
                yield chunk
            elif mode == "values":
                state = chunk
    answer = _finish(question, chosen, ctx, state, notes)
    for warning in answer.warnings:
        yield Event(kind="warning", t=answer.latency.wall_s, data={"message": warning})
    yield Event(
        kind="answer",
        t=answer.latency.wall_s,
        data={"text": answer.text, "answer": answer.answer},
        result=answer,
    )


def think(
    question: str, strategy: Any = "best_of_n", engine: Engine | None = None, **options: Any
) -> Answer:
    """Blocking `athink` for scripts; inside a running event loop, await `athink` instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(athink(question, strategy, engine, **options))
    raise RunningLoopError(
        "think() blocks, and an event loop is already running here (a notebook or an "
        "async program): use `answer = await athink(...)` with the same arguments"
    )
