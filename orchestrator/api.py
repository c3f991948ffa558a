"""The public entry points: `think`, `athink` and `astream`.

`athink(question, strategy="best_of_n", engine=None, **options)` resolves the strategy by
name (the registry lives in `thinkfast.strategies`, looked up when called, so this layer
does not import the one above it at import time), splits the options into the strategy's
own and the run's (budget, seed, pack, per-role engines), binds the agents to engines and
prompt packs, runs the strategy's cached compiled graph with a fresh `RunContext`, and
builds the `Answer` from the final state and the ledger. `engine=None` is the shipped
model on the local engine, with the prompt pack from its model folder.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from thinkfast.engine import Engine

from .agents import Critic, Drafter, Judge, Refiner
from .answer import Answer, build_answer
from .budget import Budget
from .context import RunContext
from .errors import StrategyConfigError
from .events import Event
from .prompt_pack import PromptPack

__all__ = [
    "think",
    "athink",
    "astream",
    "default_engine",
    "default_pack",
    "pack_for",
    "RUN_OPTIONS",
]

DEFAULT_MODEL = "arith-tiny"
ROLE_ENGINES = ("draft", "critique", "judge", "refine")
# options of the run itself; everything else belongs to the strategy
RUN_OPTIONS = (
    "max_tokens",
    "max_latency_s",
    "max_emulated_s",
    "profile",
    "seed",
    "pack",
    "engines",
)

_default_engine: Engine | None = None
_packs: weakref.WeakKeyDictionary[Engine, PromptPack] = weakref.WeakKeyDictionary()


def default_engine() -> Engine:
    """The shipped model on the local engine, loaded once per process."""
    global _default_engine
    if _default_engine is None:
        from thinkfast.engine.local import LocalEngine

        _default_engine = LocalEngine(DEFAULT_MODEL)
    return _default_engine


def default_pack() -> PromptPack:
    """The natural-language pack for chat models that bring none of their own."""
    return PromptPack.from_file(Path(__file__).with_name("default_pack.json"))


def pack_for(engine: Engine) -> PromptPack:
    """The prompt pack in the engine's model folder (`prompt_pack.json`), else the default."""
    try:
        return _packs[engine]
    except (KeyError, TypeError):
        pass
    pack = None
    checkpoint = getattr(engine, "checkpoint", None)
    folder = getattr(checkpoint, "path", None)
    if folder is not None:
        folder = Path(folder)
        candidate = (folder if folder.is_dir() else folder.parent) / "prompt_pack.json"
        if candidate.is_file():
            pack = PromptPack.from_file(candidate)
    pack = pack or default_pack()
    try:
        _packs[engine] = pack
    except TypeError:
        pass
    return pack


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
    engines: Mapping[str, Engine] | None = None,
    seed: int | None = None,
    **budget_options: Any,
) -> RunContext:
    """The run context a strategy graph needs: agents bound to engines and packs, the
    budget (max_tokens, max_latency_s, max_emulated_s, profile) and the seed.

    Pass it as `context=` when running `strategy.graph` yourself (e.g. embedded as a
    subgraph); `athink` builds one per query.
    """
    base = engine if engine is not None else default_engine()
    if not isinstance(base, Engine):
        raise StrategyConfigError(f"engine must be a thinkfast Engine; got {type(base).__name__}")
    engines = dict(engines or {})
    unknown = set(engines) - set(ROLE_ENGINES)
    if unknown:
        raise StrategyConfigError(
            f"engines has unknown role(s) {', '.join(sorted(unknown))}; roles: {', '.join(ROLE_ENGINES)}"
        )
    if isinstance(pack, str | Path):
        pack = PromptPack.from_file(pack)

    def bind(role: str, cls):
        role_engine = engines.get(role, base)
        # a user pack is for the main engine's model; another model gets its own pack
        role_pack = pack if (pack is not None and role_engine is base) else pack_for(role_engine)
        return cls(engine=role_engine, pack=role_pack)

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
    return RunContext(
        drafter=bind("draft", Drafter),
        critic=bind("critique", Critic),
        judge=bind("judge", Judge),
        refiner=bind("refine", Refiner),
        budget=budget,
        seed=seed,
    )


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
        **budget_options,
    )
    return chosen, ctx


def _finish(question: str, chosen, ctx: RunContext, state: dict[str, Any]) -> Answer:
    wall = ctx.elapsed()
    state = dict(state)
    state["budget_stop"] = state.get("budget_stop") or ctx.gate.stop_reason
    return build_answer(
        question,
        chosen.name,
        chosen.options_json(),
        state,
        ctx.ledger,
        wall,
        ctx.drafter.engine.model_name,
    )


async def athink(
    question: str, strategy: Any = "best_of_n", engine: Engine | None = None, **options: Any
) -> Answer:
    """Answer `question` with `strategy`, spending extra tokens to think first.

    Options are the strategy's own (e.g. n=8, selector="vote") plus the run's:
    `max_tokens`, `max_latency_s`, `max_emulated_s` and `profile` (the budget), `seed`,
    `pack` (a PromptPack or a path to one), `engines` (role -> Engine for roles that use a
    different model than `engine`). Cancelling the task cancels the engine calls it made.
    """
    chosen, ctx = _prepare(question, strategy, engine, dict(options))
    ctx.started = time.perf_counter()
    state = await chosen.graph.ainvoke({"question": question}, context=ctx)
    return _finish(question, chosen, ctx, state)


async def astream(
    question: str, strategy: Any = "best_of_n", engine: Engine | None = None, **options: Any
) -> AsyncIterator[Event]:
    """Like `athink`, but yields progress events as they happen; the last event has kind
    "answer", its text and extracted answer in `data`, and the full Answer in `result`."""
    chosen, ctx = _prepare(question, strategy, engine, dict(options))
    ctx.started = time.perf_counter()
    state: dict[str, Any] = {}
    async for mode, chunk in chosen.graph.astream(
        {"question": question}, context=ctx, stream_mode=["custom", "values"]
    ):
        if mode == "custom" and isinstance(chunk, Event):
            yield chunk
        elif mode == "values":
            state = chunk
    answer = _finish(question, chosen, ctx, state)
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
    raise StrategyConfigError(
        "think() was called inside a running event loop; use `await athink(...)`"
    )
