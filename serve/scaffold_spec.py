"""Which scaffold a request asks for: strategy, options and budget, from four places.

A client selects a strategy in one of these ways, the first that says something wins:

1. `extra_body={"thinkfast": {"strategy": ..., "options": {...}, "budget": {...}}}`
   (the openai SDK merges extra_body into the top level; a literal `"extra_body"` object in
   the JSON body, as its_hub writes one, is read too). Its options override those of the
   model name when both name the same strategy;
2. the model name `STRATEGY[:opt=val,...]/MODEL`, e.g. `best_of_n:n=8,selector=judge/MODEL`;
3. `reasoning_effort` (`low` / `medium` / `high` ...), mapped to a preset strategy spec
   (`EFFORT_PRESETS`, configurable with `thinkfast serve --effort LEVEL=SPEC`);
4. the server's default (`thinkfast serve --strategy SPEC`).

Nothing selected: the request passes straight through to the engine. Strategies come from
the registry (`available_strategies`), never from a list kept here; a bad name, option,
type or budget is an `ApiError` naming what was wrong and what is accepted.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from thinkfast.engine.errors import ThinkfastError
from thinkfast.orchestrator.options import parse_option
from thinkfast.orchestrator.strategy import Strategy, available_strategies, get_strategy

from .api import ApiError

__all__ = [
    "EFFORT_PRESETS",
    "ScaffoldBudget",
    "ScaffoldSpec",
    "ThinkfastField",
    "parse_spec",
    "split_model_name",
    "strategy_catalog",
]

# reasoning_effort -> strategy spec. "none"/"minimal" pass through: a client that asks
# for no reasoning gets the plain model. The rest buy more thinking per level: one worked
# draft; a majority vote over 4 drafts (self-consistency); 16 drafts settled by a judge.
EFFORT_PRESETS: dict[str, str | None] = {
    "none": None,
    "minimal": None,
    "low": "single",
    "medium": "best_of_n:n=4,selector=vote",
    "high": "best_of_n:n=16,selector=judge",
}


class ScaffoldBudget(BaseModel):
    """`extra_body.thinkfast.budget`: the fields of orchestrator.Budget."""

    model_config = ConfigDict(extra="forbid", strict=True)

    max_tokens: int | None = Field(None, ge=1)
    max_latency_s: float | None = Field(None, gt=0)
    max_emulated_s: float | None = Field(None, gt=0)
    profile: str | None = None


class ThinkfastField(BaseModel):
    """`extra_body.thinkfast`: the scaffold a client asks for without renaming the model."""

    model_config = ConfigDict(extra="forbid", strict=True)

    strategy: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    budget: ScaffoldBudget | None = None


class ScaffoldSpec(BaseModel):
    """The scaffold one request runs: a configured strategy and its run budget."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    strategy: Any  # a configured Strategy
    source: str = Field(description="where it was chosen: extra_body, model, effort, server")
    budget: dict[str, Any] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.strategy.name


def _split_options(text: str) -> list[str]:
    """'n=8,prompts=[draft,draft_direct]' -> ['n=8', 'prompts=[draft,draft_direct]']:
    commas inside brackets or braces belong to the value."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in (s.strip() for s in parts) if p]


def parse_strategy_text(text: str, param: str) -> tuple[str, dict[str, Any]]:
    """'best_of_n:n=8,selector=judge' -> ('best_of_n', {'n': 8, 'selector': 'judge'})."""
    name, _, rest = text.partition(":")
    options: dict[str, Any] = {}
    for item in _split_options(rest):
        try:
            key, value = parse_option(item)
        except ThinkfastError as exc:
            raise ApiError(400, f"strategy spec {text!r}: {exc}", param=param) from None
        options[key] = value
    return name.strip(), options


def split_model_name(model: str) -> tuple[str | None, str]:
    """'best_of_n:n=8/arith-tiny' -> ('best_of_n:n=8', 'arith-tiny'); a name whose part
    before the first '/' is not a strategy (e.g. 'meta-llama/Llama-3.1-8B') is a model."""
    head, sep, rest = model.partition("/")
    if not sep or not rest:
        return None, model
    name = head.partition(":")[0].strip()
    if name in available_strategies() or ":" in head:
        return head, rest
    return None, model


def _strategies_text() -> str:
    return ", ".join(available_strategies())


def resolve_strategy(name: str, options: dict[str, Any], param: str) -> Strategy:
    """The configured strategy, or a 400 naming the strategies or the option's schema."""
    try:
        klass = get_strategy(name)
    except ThinkfastError:
        raise ApiError(
            400,
            f"unknown strategy {name!r}; available: {_strategies_text()} "
            "(GET /v1/models lists each with its options)",
            param=param,
            code="unknown_strategy",
        ) from None
    try:
        return klass.from_options(**options)
    except ThinkfastError as exc:
        raise ApiError(400, str(exc), param=param, code="invalid_strategy_option") from None


def _thinkfast_field(body: Any) -> ThinkfastField | None:
    """`thinkfast` at the top level (the SDK's extra_body merged in) or inside a literal
    `extra_body` object."""
    extra = dict(body.model_extra or {})
    raw = extra.get("thinkfast")
    param = "thinkfast"
    if raw is None and isinstance(extra.get("extra_body"), dict):
        raw = extra["extra_body"].get("thinkfast")
        param = "extra_body.thinkfast"
    if raw is None:
        return None
    try:
        return ThinkfastField.model_validate(raw)
    except ValidationError as exc:
        from .api import validation_message

        message, where = validation_message(exc)
        accepted = (
            "accepted: {'strategy': str, 'options': {...}, 'budget': {'max_tokens': int, "
            "'max_latency_s': float, 'max_emulated_s': float, 'profile': str}}"
        )
        raise ApiError(
            400,
            f"invalid {param}.{message}; {accepted}",
            param=f"{param}.{where}" if where else param,
        ) from None


def parse_spec(
    body: Any,
    *,
    model_strategy: str | None,
    effort_presets: dict[str, str | None],
    default: str | None,
    option_caps: dict[str, int],
) -> ScaffoldSpec | None:
    """The scaffold `body` asks for (None: plain pass-through)."""
    field = _thinkfast_field(body)
    chosen: tuple[str, dict[str, Any], str] | None = None  # name, options, source
    named = parse_strategy_text(model_strategy, "model") if model_strategy else None
    if field is not None and field.strategy:
        name, inline = parse_strategy_text(field.strategy, "thinkfast.strategy")
        base = named[1] if named and named[0] == name else {}
        chosen = (name, {**base, **inline}, "extra_body")
    elif named is not None:
        chosen = (named[0], dict(named[1]), "model")
    else:
        effort = getattr(body, "reasoning_effort", None)
        if effort is not None:
            if effort not in effort_presets:
                raise ApiError(
                    400,
                    f"reasoning_effort {effort!r} is not one of: {', '.join(effort_presets)}",
                    param="reasoning_effort",
                )
            preset = effort_presets[effort]
            if preset:
                chosen = (*parse_strategy_text(preset, "reasoning_effort"), "effort")
        elif default:
            chosen = (*parse_strategy_text(default, "strategy"), "server")
    if field is not None and field.options:
        if chosen is None:
            raise ApiError(
                400,
                "thinkfast.options were given but no strategy: name one in "
                "thinkfast.strategy or the model name (STRATEGY/MODEL); "
                f"available: {_strategies_text()}",
                param="thinkfast.options",
            )
        chosen = (chosen[0], {**chosen[1], **field.options}, chosen[2])
    if chosen is None:
        if field is not None and field.budget is not None:
            raise ApiError(
                400,
                "thinkfast.budget applies to a strategy; name one in thinkfast.strategy or "
                f"the model name; available: {_strategies_text()}",
                param="thinkfast.budget",
            )
        return None
    name, options, source = chosen
    for option, cap in option_caps.items():
        value = options.get(option)
        if isinstance(value, int) and not isinstance(value, bool) and value > cap:
            raise ApiError(
                400,
                f"option {option}={value} exceeds this server's limit of {cap}",
                param=f"thinkfast.options.{option}",
                code="option_limit",
            )
    strategy = resolve_strategy(name, options, "model" if source == "model" else source)
    budget = field.budget.model_dump(exclude_none=True) if field and field.budget else {}
    return ScaffoldSpec(strategy=strategy, source=source, budget=budget)


def strategy_catalog() -> dict[str, Any]:
    """Every registered strategy with its summary, options schema and JSON schema."""
    out: dict[str, Any] = {}
    for name in available_strategies():
        try:
            klass = get_strategy(name)
        except ThinkfastError as exc:  # a broken plugin is listed, not fatal
            out[name] = {"error": str(exc)}
            continue
        out[name] = {
            "summary": klass.summary,
            "options": [
                {**row, "default": row["default"] if _jsonable(row["default"]) else None}
                for row in klass.options()
            ],
        }
    return out


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | tuple | dict)
