"""`key=value` options as the command line writes them, and which options belong to a run.

One parser for every command: `thinkfast ask -S n=8`, `thinkfast eval run -S n=1,4,16`
(a comma list sweeps the option), `-T size=500` task options, and the options written
inline in a strategy spec (`best_of_n:n=1,2,4`). Values parse as JSON when they can
(`4`, `0.7`, `[1,2]`, `{"a":1}`), `true`/`false`/`none` in any case, anything else is text.

`RUN_OPTIONS` are the options of a run rather than of its strategy: the budget (the
fields of `Budget`), the seed, the prompt pack and the per-role engines.

`ImportableCallable` is the type of a callable option that the command line can name:
`-S reward=mymodule:score` imports `score` from `mymodule` (as entry points name objects).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator
from thinkfast.engine.errors import ThinkfastError

from .budget import Budget

__all__ = [
    "BUDGET_OPTIONS",
    "ImportableCallable",
    "OptionSyntaxError",
    "RUN_OPTIONS",
    "import_callable",
    "parse_option",
    "parse_value",
]

BUDGET_OPTIONS: tuple[str, ...] = tuple(Budget.model_fields)
RUN_OPTIONS: tuple[str, ...] = (*BUDGET_OPTIONS, "seed", "pack", "engines")


class OptionSyntaxError(ThinkfastError, ValueError):
    """An option that is not `key=value` (or has an empty value in a comma list)."""


def parse_value(text: str) -> Any:
    """'4' -> 4, '0.7' -> 0.7, 'true' -> True, 'null' -> None, '[1,2]' -> [1, 2];
    anything else stays text."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered in ("none", "null"):
            return None
        return text


def parse_option(text: str, *, sweep: bool = False) -> tuple[str, Any]:
    """'n=8' -> ('n', 8). With `sweep`, the value is the list of values to sweep:
    'n=1,2,4' -> ('n', [1, 2, 4]); a JSON list or object stays one value ('[1,2]' ->
    [[1, 2]])."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        shape = "key=value or key=v1,v2,..." if sweep else "key=value"
        raise OptionSyntaxError(f"option {text!r} must look like {shape} (e.g. n=8)")
    if not sweep:
        return key, parse_value(raw)
    raw = raw.strip()
    if raw.startswith(("[", "{")):
        return key, [parse_value(raw)]
    values = [parse_value(part) for part in raw.split(",")]
    if any(isinstance(v, str) and not v for v in values):
        raise OptionSyntaxError(f"option {text!r} has an empty value")
    return key, values


def import_callable(value: Any) -> Any:
    """'package.module:function' -> that function; anything else is returned unchanged
    (a callable passed from Python, or a value the field's own check will refuse)."""
    if not isinstance(value, str):
        return value
    module_name, sep, attribute = value.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"{value!r} is not module:function (e.g. mypackage.rewards:score)")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} of {value!r}: {exc}") from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no {attribute!r}") from None
    if not callable(target):
        raise ValueError(f"{value!r} names a {type(target).__name__}, not a callable")
    return target


ImportableCallable = Annotated[Callable[..., Any], BeforeValidator(import_callable)]
