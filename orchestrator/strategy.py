"""The strategy seam: `Strategy` (pydantic config + `build_graph`), the registry, plugins.

A strategy is a pydantic model whose fields are its options; `build_graph()` returns a
LangGraph `StateGraph` over its own state (a subclass of `GraphState` holding its working
keys) with a `RunContext` as run context, and `strategy.graph` is that graph compiled and
cached per configuration, ready to embed as a subgraph. `roles()` names the prompt-pack
roles a configuration asks for, so a missing one fails before the first call, and
`default_prompts` ships templates for the roles a strategy introduces (they fill packs
that lack them, where the pack takes defaults). Strategies are found by name through
the entry-point group `thinkfast.strategies` (loaded lazily: nothing is imported until a
name is asked for); the built-ins are entries of the same group, and `@register_strategy`
adds a class defined at run time.
"""

from __future__ import annotations

import importlib
import json
import tomllib
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from langgraph.graph import StateGraph
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import StrategyConfigError, UnknownStrategyError
from .prompt_pack import RolePrompt

__all__ = [
    "Strategy",
    "register_strategy",
    "get_strategy",
    "available_strategies",
    "ENTRY_POINT_GROUP",
    "builtin_strategies",
]

ENTRY_POINT_GROUP = "thinkfast.strategies"


_REGISTRY: dict[str, type[Strategy]] = {}
_GRAPHS: dict[tuple[type, str], Any] = {}


class Strategy(BaseModel):
    """Base of every strategy: subclasses declare `name`, options as fields, `build_graph`."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    # Templates for roles this strategy introduces; a pack that lacks one of these roles
    # (and takes defaults: a chat pack) asks with the template given here.
    default_prompts: ClassVar[dict[str, RolePrompt]] = {}

    def build_graph(self) -> StateGraph:
        raise NotImplementedError(f"{type(self).__name__} must implement build_graph()")

    def roles(self) -> tuple[str, ...] | None:
        """The prompt-pack roles this configuration asks for: checked before the first
        call, and the only roles `engines=` may name. None (the default) declares nothing:
        each role is then looked up when a node first asks for it."""
        return None

    @property
    def graph(self):
        """The compiled graph for this configuration (built once, then cached)."""
        key = (type(self), self.cache_key())
        if key not in _GRAPHS:
            _GRAPHS[key] = self.build_graph().compile(name=self.name or type(self).__name__)
        return _GRAPHS[key]

    def cache_key(self) -> str:
        return json.dumps(self.options_json(by_identity=True), sort_keys=True)

    def options_json(self, *, by_identity: bool = False) -> dict[str, Any]:
        """The options as JSON values; a callable becomes its name (or identity for caching)."""
        out: dict[str, Any] = {}
        for field_name in type(self).model_fields:
            value = getattr(self, field_name)
            if callable(value):
                qualname = getattr(value, "__qualname__", type(value).__name__)
                value = f"{qualname}@{id(value)}" if by_identity else qualname
            elif isinstance(value, BaseModel):
                value = value.model_dump(mode="json")
            elif isinstance(value, tuple):
                value = list(value)
            elif not isinstance(value, str | int | float | bool | list | dict | type(None)):
                # an object option (a Verifier): its class, or its identity for caching
                qualname = type(value).__qualname__
                value = f"{qualname}@{id(value)}" if by_identity else qualname
            out[field_name] = value
        return out

    @classmethod
    def from_options(cls, **options: Any) -> Strategy:
        """Build from user options; a bad option raises StrategyConfigError saying which
        option was wrong and what it accepts."""
        try:
            return cls(**options)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                option = ".".join(str(p) for p in error["loc"]) or "options"
                if error["type"] == "extra_forbidden":
                    problems.append(
                        f"unknown option {option!r} for strategy {cls.name!r}; "
                        f"accepted: {', '.join(cls.model_fields)}"
                    )
                else:
                    problems.append(
                        f"option {option!r} of strategy {cls.name!r}: {error['msg']} "
                        f"(got {error.get('input')!r}; accepted: {cls.describe_option(option)})"
                    )
            raise StrategyConfigError("; ".join(problems)) from exc

    @classmethod
    def describe_option(cls, option: str) -> str:
        field = cls.model_fields.get(option.split(".")[0])
        if field is None:
            return ", ".join(cls.model_fields)
        text = _type_text(field.annotation)
        bounds = [
            f"{k} {getattr(m, k)}"
            for m in field.metadata
            for k in ("ge", "gt", "le", "lt")
            if getattr(m, k, None) is not None
        ]
        return text + (f" ({', '.join(bounds)})" if bounds else "")

    @classmethod
    def options(cls) -> list[dict[str, Any]]:
        """Name, type, default and description of each option (for `thinkfast strategies`)."""
        rows = []
        for option, field in cls.model_fields.items():
            default = field.get_default(call_default_factory=True)
            rows.append(
                {
                    "name": option,
                    "type": cls.describe_option(option),
                    "default": default if not callable(default) else None,
                    "description": field.description or "",
                }
            )
        return rows


def _type_text(annotation: Any) -> str:
    """A short human reading of an option's type: choices spelled out for Literals."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:  # e.g. ImportableCallable: a callable, or module:function
        text = _type_text(args[0])
        return "callable or module:function" if text == "callable" else text
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (tuple, list):
        inner = [a for a in args if a is not Ellipsis]
        return "list of " + (_type_text(inner[0]) if inner else "values")
    if origin in (Union, UnionType):
        parts = [_type_text(a) for a in args if a is not type(None)]
        return " or ".join(parts) + (" or None" if type(None) in args else "")
    if origin is not None and getattr(origin, "__name__", "") == "Callable":
        return "callable"
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def register_strategy(cls: type[Strategy] | None = None, *, name: str | None = None) -> Callable:
    """Class decorator: make a Strategy subclass available by its `name` (or `name=`)."""

    def register(klass: type[Strategy]) -> type[Strategy]:
        if not (isinstance(klass, type) and issubclass(klass, Strategy)):
            raise TypeError(f"@register_strategy expects a Strategy subclass, got {klass!r}")
        key = name or klass.name
        if not key:
            raise StrategyConfigError(f"{klass.__name__} needs a class attribute `name`")
        if name:
            klass.name = name
        _REGISTRY[key] = klass
        return klass

    return register(cls) if cls is not None else register


def _declared_in_source_tree() -> dict[str, str]:
    """The group's entries as the checkout's pyproject.toml declares them: the built-ins
    where thinkfast runs from a source tree that was never installed (an installed package
    carries the same entries in its metadata), so they are written in one place."""
    path = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    if project.get("name") != "thinkfast":
        return {}
    return dict(project.get("entry-points", {}).get(ENTRY_POINT_GROUP, {}))


def _entries() -> dict[str, str]:
    """name -> 'module:attr' for every strategy entry point, built-ins first."""
    found = _declared_in_source_tree()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = ep.value
    return found


def builtin_strategies() -> dict[str, str]:
    """The built-ins' entries: those that point into `thinkfast.strategies`."""
    return {k: v for k, v in _entries().items() if v.startswith("thinkfast.strategies.")}


def available_strategies() -> dict[str, str]:
    """Every strategy name a user can ask for, with where it comes from (nothing imported)."""
    found = _entries()
    for key, klass in _REGISTRY.items():
        found.setdefault(key, f"{klass.__module__}:{klass.__qualname__}")
    return dict(sorted(found.items()))


def get_strategy(name: str) -> type[Strategy]:
    """The strategy class registered under `name`, importing its entry point on first use."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    entries = _entries()
    if name not in entries:
        raise UnknownStrategyError(
            f"unknown strategy {name!r}; available: {', '.join(available_strategies())}"
        )
    module_name, _, attr = entries[name].partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split(".") if attr else []:
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise UnknownStrategyError(
            f"strategy {name!r} is installed as {entries[name]!r} but cannot be loaded: {exc}"
        ) from exc
    if not (isinstance(obj, type) and issubclass(obj, Strategy)):
        raise UnknownStrategyError(
            f"entry point {name!r} = {entries[name]!r} is not a Strategy subclass"
        )
    if not obj.name:
        obj.name = name
    _REGISTRY.setdefault(name, obj)
    return _REGISTRY[name]
