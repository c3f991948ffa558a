"""Running a scaffold for one HTTP request: n independent `astream` runs of a strategy.

`Scaffold(engine, spec, settings)` turns what the client sent into `astream` options:
the seed (choice i runs with seed + i, so the whole scaffold repeats), the budget, and
the client's sampling settings. `temperature`, `top_p` and `top_k` become the strategy's
options where it has such an option and the client's spec did not set it; otherwise they,
`max_tokens` and `stop` apply to the drafter roles (the roles that write answers: `draft*`
and `refine`) through `DrafterEngine`, which rewrites those requests on their way to the
engine. `check()` does everything that can fail with a 4xx before a byte is sent;
`events()` merges the choices' progress events as they happen, each tagged with its
choice, and cancelling it (a client that hung up) cancels every pending engine call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from thinkfast.engine.base import Engine, TextStream
from thinkfast.engine.errors import EngineError, ThinkfastError
from thinkfast.engine.types import Generation, GenerationRequest
from thinkfast.orchestrator.api import astream, pack_for, run_context
from thinkfast.orchestrator.errors import (
    AllBranchesFailedError,
    BudgetExhaustedError,
    StrategyConfigError,
)
from thinkfast.orchestrator.events import Event
from thinkfast.orchestrator.prompt_pack import PromptPackError

from .api import ApiError, engine_error
from .scaffold_spec import ScaffoldSpec

__all__ = ["DrafterEngine", "SamplingSettings", "Scaffold", "question_from_messages"]

_SAMPLING_OPTIONS = ("temperature", "top_p", "top_k")


def is_drafter(role: str) -> bool:
    """Roles whose text becomes an answer: every draft prompt and the refiner."""
    return role.startswith("draft") or role == "refine"


@dataclass
class SamplingSettings:
    """What the client sent about sampling; None = not sent."""

    n: int = 1
    seed: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)


# The engine calls in flight of the scaffold whose task runs them (a set per scaffold,
# found through the context its tasks inherit), so a hung-up client's calls are cancelled
# and no one else's. Still needed although astream now closes the graph's stream: a run
# task cancelled mid-call (not a stream closed at a yield) leaves the upstream call
# running (tests/serve/test_upstream.py fails without this set).
_PENDING: ContextVar[set[asyncio.Task[Any]] | None] = ContextVar("scaffold_pending", default=None)


@contextlib.contextmanager
def _registered() -> Iterator[None]:
    """The current task (an engine call) in its scaffold's pending set while it runs."""
    pending, task = _PENDING.get(), asyncio.current_task()
    if pending is None or task is None:
        yield
        return
    pending.add(task)
    try:
        yield
    finally:
        pending.discard(task)


def _from_base(name: str) -> property:
    return property(lambda self: getattr(self.base, name))


class DrafterEngine(Engine):
    """`base`, with the client's settings put on every request a drafter role makes, and
    each call in flight registered with its scaffold (see `_PENDING`).

    max_tokens only lowers the role's allowance (the pack knows what a full answer
    needs); stop strings are added to the pack's. Everything else is `base`'s. One
    wrapper serves every request with the same settings (`drafter_for`), so what the
    budget gate learns about the engine's speed carries over from query to query."""

    # Engine declares these as class attributes, which __getattr__ never sees; read them
    # from `base` each time, since a remote engine learns its context_length on a call.
    model_name = _from_base("model_name")
    context_length = _from_base("context_length")
    hardware = _from_base("hardware")
    project_as = _from_base("project_as")
    pace = _from_base("pace")
    model_config = _from_base("model_config")

    def __init__(self, base: Engine, overrides: dict[str, Any]) -> None:
        self.base = base
        self.overrides = overrides

    def __getattr__(self, name: str) -> Any:  # checkpoint, model_spec, ...: the base's
        return getattr(self.base, name)

    def _rewrite(self, request: GenerationRequest) -> GenerationRequest:
        if not is_drafter(str(request.metadata.get("role", ""))):
            return request
        update = {k: v for k, v in self.overrides.items() if k not in ("max_tokens", "stop")}
        if self.overrides.get("max_tokens") is not None:
            update["max_tokens"] = min(request.max_tokens, self.overrides["max_tokens"])
        if self.overrides.get("stop"):
            update["stop"] = list(dict.fromkeys([*request.stop, *self.overrides["stop"]]))
        return request.model_copy(update=update)

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        with _registered():
            return await self.base.generate([self._rewrite(r) for r in requests])

    def stream(self, request: GenerationRequest) -> TextStream:
        return TextStream(self._stream(self._rewrite(request)))

    async def _stream(self, request: GenerationRequest) -> AsyncIterator[str | Generation]:
        # registered while the consuming task reads it, as generate() registers its caller
        stream = self.base.stream(request)
        try:
            with _registered():
                async for delta in stream:
                    yield delta
        finally:
            await stream.aclose()
        if stream.generation is None:
            raise EngineError(f"the stream of {self.model_name} ended without its generation")
        yield stream.generation

    def count_tokens(self, request: GenerationRequest) -> int:
        return self.base.count_tokens(request)

    def describe(self) -> dict[str, Any]:
        return self.base.describe()


# configurations that passed `Scaffold.check`, per engine object (not its id(): a wrapper
# evicted from _DRAFTERS may be freed and its address reused by another engine)
_CHECKED: weakref.WeakKeyDictionary[Engine, set[tuple[str, str, str]]] = weakref.WeakKeyDictionary()
_DRAFTERS: OrderedDict[tuple[int, str], DrafterEngine] = OrderedDict()


def drafter_for(base: Engine, overrides: dict[str, Any]) -> DrafterEngine:
    """The shared wrapper of `base` for these settings (the 64 most recent are kept)."""
    key = (id(base), json.dumps(overrides, sort_keys=True))
    engine = _DRAFTERS.get(key)
    if engine is None or engine.base is not base:
        engine = _DRAFTERS[key] = DrafterEngine(base, overrides)
    _DRAFTERS.move_to_end(key)
    while len(_DRAFTERS) > 64:
        _DRAFTERS.popitem(last=False)
    return engine


def question_from_messages(messages: Sequence[Any]) -> str:
    """The question a strategy answers: the last user message, after the earlier turns
    (system included) written as `Role: text` lines when there are any."""
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last_user is None:
        raise ApiError(
            400,
            "a scaffolded chat needs a user message to answer; got roles "
            + ", ".join(m.role for m in messages),
            param="messages",
        )
    text = messages[last_user].content
    earlier = [m for m in messages[:last_user] if m.content.strip()]
    if not earlier:
        return text
    context = "\n".join(f"{m.role.capitalize()}: {m.content}" for m in earlier)
    return f"{context}\nUser: {text}"


def scaffold_error(exc: BaseException) -> ApiError:
    """What a scaffold raised, as the HTTP answer: the client's mistakes are 4xx."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, PromptPackError):
        return ApiError(400, str(exc), param="model", code="role_missing")
    if isinstance(exc, BudgetExhaustedError):
        return ApiError(400, str(exc), param="thinkfast.budget", code="budget_too_small")
    if isinstance(exc, StrategyConfigError):
        return ApiError(400, str(exc), param="thinkfast", code="invalid_strategy_option")
    if isinstance(exc, AllBranchesFailedError):
        return ApiError(502, f"the engine failed: {exc}", type="server_error")
    if isinstance(exc, ThinkfastError):
        return engine_error(exc)
    return engine_error(exc)


class Scaffold:
    """The n scaffolds of one request over `engine`."""

    def __init__(self, engine: Engine, spec: ScaffoldSpec, settings: SamplingSettings) -> None:
        self.base = engine
        self.spec = spec
        self.settings = settings
        strategy = spec.strategy
        given = set(strategy.model_fields_set)
        fields = type(strategy).model_fields
        moved: dict[str, Any] = {}  # client sampling settings that become strategy options
        overrides: dict[str, Any] = {}  # the rest, for the drafter's requests
        for name in _SAMPLING_OPTIONS:
            value = getattr(settings, name)
            if value is None:
                continue
            if name in fields:
                if name not in given:
                    moved[name] = value
            else:
                overrides[name] = value
        if moved:
            options = {k: getattr(strategy, k) for k in strategy.model_fields_set} | moved
            strategy = type(strategy).from_options(**options)
        self.strategy = strategy
        if settings.max_tokens is not None:
            overrides["max_tokens"] = settings.max_tokens
        if settings.stop:
            overrides["stop"] = list(settings.stop)
        self.engine = drafter_for(engine, overrides)
        self.pack = pack_for(engine)

    def _options(self, index: int) -> dict[str, Any]:
        seed = self.settings.seed
        return {
            "pack": self.pack,
            "seed": None if seed is None else seed + index,
            **self.spec.budget,
        }

    def check(self) -> None:
        """Roles, budget and profile, checked before anything runs (4xx on failure);
        a configuration that passed once is not checked again."""
        key = (self.strategy.name, self.strategy.cache_key(), json.dumps(self.spec.budget))
        passed = _CHECKED.setdefault(self.engine, set())
        if key in passed:
            return
        try:
            run_context(self.engine, strategy=self.strategy, **self._options(0))
        except Exception as exc:
            raise scaffold_error(exc) from None
        if len(passed) > 1024:
            passed.clear()
        passed.add(key)

    async def events(
        self, questions: Sequence[str], *, tokens: bool = True
    ) -> AsyncIterator[tuple[int, Event]]:
        """(choice, event) as they happen, for n scaffolds of each question, choice
        numbered question-major (question q, scaffold j -> q * n + j). The last event of
        each choice has kind "answer" with the Answer in `result`. `tokens`: stream the
        final generation where the strategy can ("token" events; see astream)."""
        n = self.settings.n
        queue: asyncio.Queue[tuple[int, Event | BaseException | None]] = asyncio.Queue()

        async def run(choice: int, question: str, index: int) -> None:
            try:
                stream = astream(
                    question, self.strategy, self.engine, tokens=tokens, **self._options(index)
                )
                async with contextlib.aclosing(stream):
                    async for event in stream:
                        await queue.put((choice, event))
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                await queue.put((choice, exc))
                if isinstance(exc, asyncio.CancelledError):
                    raise
            finally:
                await queue.put((choice, None))

        pending: set[asyncio.Task[Any]] = set()
        token = _PENDING.set(pending)  # the tasks below (and theirs) inherit it
        try:
            tasks = [
                asyncio.create_task(run(q * n + j, question, j))
                for q, question in enumerate(questions)
                for j in range(n)
            ]
        finally:
            _PENDING.reset(token)
        running = len(tasks)
        try:
            while running:
                choice, item = await queue.get()
                if item is None:
                    running -= 1
                elif isinstance(item, BaseException):
                    if isinstance(item, asyncio.CancelledError):
                        continue
                    raise scaffold_error(item)
                else:
                    yield choice, item
        finally:
            # a client gone, or one choice failed: stop every engine call still pending
            for task in [*tasks, *pending]:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def run(self, questions: Sequence[str]) -> tuple[list[Any], dict[int, list[Event]]]:
        """Every choice's Answer (in choice order) and its progress events."""
        answers: dict[int, Any] = {}
        progress: dict[int, list[Event]] = {}
        # no live tokens: a whole response is sent at the end anyway
        async with contextlib.aclosing(self.events(questions, tokens=False)) as events:
            async for choice, event in events:
                if event.kind == "answer":
                    answers[choice] = event.result
                else:
                    progress.setdefault(choice, []).append(event)
        return [answers[i] for i in sorted(answers)], progress
