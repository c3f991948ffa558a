"""Tasks: a list of samples (id, input, target, metadata) and the grader that scores them.

Tasks are made by factories registered by name, with the `@register_task` decorator
(the built-ins in `tasks_builtin`) or through the entry-point group `thinkfast.tasks`
(plugin packages: the entry point names the task, its object is the factory). A factory is
called with the user's `-T key=value` options and returns a `Task`.

A task name may carry a variant after a colon, passed to the factory as `variant`:
`jsonl:questions.jsonl`, `reasoning_gym:basic_arithmetic`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .errors import TaskError
from .graders import Grade, Grader

__all__ = [
    "EvalSample",
    "Task",
    "TaskFactory",
    "register_task",
    "get_task",
    "list_tasks",
    "ENTRY_POINT_GROUP",
]

ENTRY_POINT_GROUP = "thinkfast.tasks"


class EvalSample(BaseModel):
    """One question of a task. `id` is unique within the task and stable across runs."""

    model_config = ConfigDict(frozen=True)

    id: str
    input: str
    target: str
    metadata: dict[str, Any] = Field(default_factory=dict)


@dataclass
class Task:
    """Samples plus a grader. `params` records the options the task was built with."""

    name: str
    samples: Sequence[EvalSample]
    grader: Grader
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids = [s.id for s in self.samples]
        if len(set(ids)) != len(ids):
            seen: set[str] = set()
            dup = next(i for i in ids if i in seen or seen.add(i))
            raise TaskError(f"task {self.name!r} has duplicate sample id {dup!r}")

    def grade(self, sample: EvalSample, answer: str | None, text: str) -> Grade:
        return self.grader.grade(answer, text, sample.target, sample.metadata)

    def __len__(self) -> int:
        return len(self.samples)


TaskFactory = Callable[..., Task]


@dataclass(frozen=True)
class _Entry:
    factory: TaskFactory
    description: str
    source: str  # "builtin" or the distribution/module that registered it


_REGISTRY: dict[str, _Entry] = {}
_plugins_loaded = False


def register_task(
    name: str, *, description: str = "", source: str = "builtin"
) -> Callable[[TaskFactory], TaskFactory]:
    """Decorator: register a task factory under `name` (no colon; variants come after one)."""
    if not name or ":" in name:
        raise TaskError(f"task names must be non-empty and contain no ':' (got {name!r})")

    def decorate(factory: TaskFactory) -> TaskFactory:
        doc = description or (inspect.getdoc(factory) or "").split("\n")[0]
        _REGISTRY[name] = _Entry(factory, doc, source)
        return factory

    return decorate


def _load_plugins() -> None:
    """Register the built-ins, then every factory of the `thinkfast.tasks` entry-point group."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from . import tasks_builtin  # noqa: F401  (registers by decorator)

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _REGISTRY:
            continue  # a plugin cannot shadow a built-in silently; first registration wins
        try:
            factory = ep.load()
        except Exception as exc:  # a broken plugin must not break `eval ls` for the others
            _REGISTRY[ep.name] = _Entry(_broken(ep.name, exc), f"(failed to load: {exc})", ep.value)
            continue
        doc = (inspect.getdoc(factory) or "").split("\n")[0]
        _REGISTRY[ep.name] = _Entry(factory, doc, ep.value)


def _broken(name: str, exc: Exception) -> TaskFactory:
    def factory(**_: Any) -> Task:
        raise TaskError(f"task plugin {name!r} failed to load: {exc}")

    return factory


def list_tasks() -> dict[str, str]:
    """Registered task names -> one-line descriptions (built-ins and plugins)."""
    _load_plugins()
    return {name: entry.description for name, entry in sorted(_REGISTRY.items())}


def get_task(spec: str, **options: Any) -> Task:
    """Build the task named `spec` ("arith-2", "jsonl:file.jsonl" ...) with `options`.

    A bare path ending in `.jsonl` means `jsonl:<path>`.
    """
    _load_plugins()
    name, _, variant = spec.partition(":")
    if not variant and spec.endswith(".jsonl"):
        name, variant = "jsonl", spec
    entry = _REGISTRY.get(name)
    if entry is None:
        raise TaskError(
            f"unknown task {spec!r}; tasks are {', '.join(sorted(_REGISTRY))} "
            "(see `thinkfast eval ls`; a .jsonl path also works)"
        )
    kwargs = dict(options)
    accepts = inspect.signature(entry.factory).parameters
    if variant:
        if "variant" not in accepts:
            raise TaskError(f"task {name!r} takes no variant after ':' (got {spec!r})")
        kwargs["variant"] = variant
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepts.values())
    unknown = [k for k in kwargs if k not in accepts and not takes_any]
    if unknown:
        allowed = [k for k in accepts if k != "variant"]
        raise TaskError(
            f"task {name!r} does not accept option(s) {', '.join(unknown)}; "
            f"it accepts {', '.join(allowed) or 'no options'}"
        )
    kwargs = _typed_options(name, entry.factory, kwargs)
    try:
        task = entry.factory(**kwargs)
    except TaskError:
        raise
    except (ValueError, TypeError) as exc:  # a plugin factory's own checks, not a crash
        raise TaskError(f"task {name!r} rejected options {kwargs}: {exc}") from exc
    if not isinstance(task, Task):
        raise TaskError(f"task factory {name!r} returned {type(task).__name__}, not a Task")
    return task


def _typed_options(
    name: str, factory: Callable[..., Any], options: dict[str, Any]
) -> dict[str, Any]:
    """The options converted to the types the factory's signature annotates
    (`-T size=abc` for `size: int` is a TaskError naming the option, not a traceback)."""
    try:
        params = inspect.signature(factory, eval_str=True).parameters
    except (NameError, TypeError):  # annotations this module cannot resolve: pass as given
        return options
    typed = dict(options)
    for key, value in options.items():
        param = params.get(key)
        if param is None or param.annotation is inspect.Parameter.empty or key == "variant":
            continue
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        adapter = TypeAdapter(param.annotation)
        try:
            try:
                typed[key] = adapter.validate_python(value)
            except ValidationError:
                # `-T name=2024` parses as a number; a text option still takes it as text
                if not isinstance(value, int | float):
                    raise
                typed[key] = adapter.validate_python(str(value))
        except ValidationError:
            kind = getattr(param.annotation, "__name__", str(param.annotation))
            raise TaskError(
                f"task {name!r} option {key}={value!r} must be of type {kind} "
                f"(e.g. -T {key}={param.default if param.default is not inspect.Parameter.empty else '...'})"
            ) from None
        except Exception:  # an annotation pydantic cannot check: the factory checks it
            continue
    return typed
