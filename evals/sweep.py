"""Sweeps: expand strategies and `-S key=v1,v2` options into a grid of configurations.

    --strategy single --strategy best_of_n -S n=1,2,4 -S selection=vote,judge

gives `single` once and `best_of_n` six times (n x selection). A `-S` option applies to
every strategy whose configuration has that field and is ignored by the others, so one
command can sweep strategies with different knobs; an option no chosen strategy accepts
is an error. Options can also be attached to one strategy inline, colon-separated:

    --strategy best_of_n:n=1,2,4,8,16:selection=vote,judge --strategy self_refine:rounds=1,2,3

Every configuration runs on the same samples with the same per-sample seeds, so the
comparisons between them are paired.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict
from thinkfast.orchestrator.options import BUDGET_OPTIONS, parse_option

from .errors import SweepError

__all__ = [
    "Config",
    "expand_grid",
    "config_label",
    "strategy_fields",
]


def strategy_fields(name: str) -> set[str]:
    """Option names the registered strategy `name` accepts, budgets included (so -S can
    sweep them too; not the seed, which the runner derives per sample from the run seed);
    an unknown name raises the registry's typed error listing the available strategies."""
    from thinkfast.orchestrator.strategy import get_strategy

    return set(get_strategy(name).model_fields) | set(BUDGET_OPTIONS)


class Config(BaseModel):
    """One point of the grid: a strategy name and its options."""

    model_config = ConfigDict(frozen=True)

    id: str
    strategy: str
    options: dict[str, Any]

    @property
    def label(self) -> str:
        return config_label(self.strategy, self.options)


def config_label(strategy: str, options: dict[str, Any]) -> str:
    if not options:
        return strategy
    inner = ",".join(f"{k}={_show(v)}" for k, v in sorted(options.items()))
    return f"{strategy}({inner})"


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _parse_strategy(spec: str) -> tuple[str, list[tuple[str, list[Any]]]]:
    name, *parts = spec.split(":")
    name = name.strip()
    if not name:
        raise SweepError(f"strategy spec {spec!r} has no strategy name")
    return name, [parse_option(p, sweep=True) for p in parts if p.strip()]


def expand_grid(
    strategies: Sequence[str],
    options: Iterable[str] = (),
    *,
    fields_of: Callable[[str], set[str] | None] = strategy_fields,
) -> list[Config]:
    """The configurations of a sweep, in a stable order (strategies as given, then options).

    `fields_of(name)` returns the option names a strategy accepts (None: accept all); by
    default the strategy registry answers.
    """
    if not strategies:
        raise SweepError("give at least one --strategy")
    shared = [parse_option(o, sweep=True) for o in options]
    keys = [k for k, _ in shared]
    if len(set(keys)) != len(keys):
        raise SweepError(f"option given twice: {sorted({k for k in keys if keys.count(k) > 1})}")
    used: set[str] = set()
    configs: list[Config] = []
    seen_labels: set[str] = set()
    for spec in strategies:
        name, inline = _parse_strategy(spec)
        fields = fields_of(name)
        axes: dict[str, list[Any]] = {}
        for key, values in shared:
            if fields is None or key in fields:
                axes[key] = values
                used.add(key)
        for key, values in inline:
            if fields is not None and key not in fields:
                raise SweepError(
                    f"strategy {name!r} has no option {key!r}; it accepts {', '.join(sorted(fields))}"
                )
            axes[key] = values  # inline overrides a shared -S for this strategy
        for combo in itertools.product(*axes.values()):
            opts = dict(zip(axes.keys(), combo, strict=True))
            label = config_label(name, opts)
            if label in seen_labels:
                continue  # the same point reached twice (e.g. listed strategy twice)
            seen_labels.add(label)
            configs.append(Config(id=f"c{len(configs)}", strategy=name, options=opts))
    unused = [k for k in keys if k not in used]
    if unused:
        names = ", ".join(_parse_strategy(s)[0] for s in strategies)
        raise SweepError(f"no chosen strategy ({names}) accepts option(s) {', '.join(unused)}")
    return configs
