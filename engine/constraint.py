"""Output constraints: what shape a completion must take, and their wire forms.

One small pydantic union, carried by `GenerationRequest.constraint`, that every engine
understands: `LocalEngine` compiles it with llguidance (engine/local/structured/), and
`OpenAIEngine` sends it on in the form the remote server reads. This module is pure data
and translation (no llguidance), so the server and remote engines import it cheaply:

- OpenAI's `response_format`: `{"type": "json_object"}` and
  `{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}` (JSON only);
- vLLM's `structured_outputs` object (`json`, `regex`, `choice`, `grammar`) and its older
  top-level `guided_json` / `guided_regex` / `guided_choice` / `guided_grammar` (removed in
  vLLM 0.12, still sent by many clients).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import InvalidRequestError

__all__ = [
    "ConstraintError",
    "JsonObjectConstraint",
    "JsonSchemaConstraint",
    "RegexConstraint",
    "ChoiceConstraint",
    "GrammarConstraint",
    "OutputConstraint",
    "constraint_from_response_format",
    "constraint_from_vllm",
    "response_format_for",
    "vllm_structured_outputs_for",
]


class ConstraintError(InvalidRequestError):
    """An output constraint the grammar compiler rejected (bad schema, regex or grammar),
    or one this engine or tokenizer cannot enforce."""


class _Constraint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    if_unsupported: Literal["error", "ignore"] = Field(
        "error",
        description="what an engine that cannot enforce this kind does (a hosted API that "
        "reads only JSON response_format): refuse the request, or serve it unconstrained "
        "(prompt packs declare their roles' constraints so, to run on any engine)",
    )


class JsonObjectConstraint(_Constraint):
    """Any JSON object (OpenAI's `json_object` mode)."""

    type: Literal["json_object"] = "json_object"


class JsonSchemaConstraint(_Constraint):
    """JSON that validates against `json_schema` (draft 2020-12, as llguidance supports it)."""

    type: Literal["json_schema"] = "json_schema"
    json_schema: dict[str, Any]
    name: str = "response"
    strict: bool = True


class RegexConstraint(_Constraint):
    """The whole completion matches `pattern` (Rust `regex` syntax, anchored at both ends)."""

    type: Literal["regex"] = "regex"
    pattern: str = Field(min_length=1)


class ChoiceConstraint(_Constraint):
    """The completion is exactly one of `choices`."""

    type: Literal["choice"] = "choice"
    choices: list[str] = Field(min_length=1)


class GrammarConstraint(_Constraint):
    """The completion derives from the Lark grammar's `start` rule (llguidance's Lark
    dialect: `%json {...}` and `/regex/` terminals allowed)."""

    type: Literal["grammar"] = "grammar"
    lark: str = Field(min_length=1)


OutputConstraint = Annotated[
    JsonObjectConstraint
    | JsonSchemaConstraint
    | RegexConstraint
    | ChoiceConstraint
    | GrammarConstraint,
    Field(discriminator="type"),
]

# -- from the wire -------------------------------------------------------------------------


def constraint_from_response_format(fmt: dict[str, Any] | None) -> Any | None:
    """OpenAI's response_format -> a constraint (None for text or no format)."""
    if not fmt:
        return None
    if not isinstance(fmt, dict):
        raise ConstraintError("response_format must be an object such as {'type': 'json_object'}")
    kind = fmt.get("type", "text")
    if kind == "text":
        return None
    if kind == "json_object":
        return JsonObjectConstraint()
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise ConstraintError(
                "response_format json_schema needs 'json_schema': {'name': ..., 'schema': "
                "{...}, 'strict': true}"
            )
        return JsonSchemaConstraint(
            json_schema=spec["schema"],
            name=str(spec.get("name") or "response"),
            strict=bool(spec.get("strict", True)),
        )
    raise ConstraintError(
        f"response_format type {kind!r} is not supported (accepted: text, json_object, json_schema)"
    )


def constraint_from_vllm(
    structured_outputs: dict[str, Any] | None = None,
    *,
    guided_json: Any = None,
    guided_regex: str | None = None,
    guided_choice: list[str] | None = None,
    guided_grammar: str | None = None,
) -> Any | None:
    """vLLM's `structured_outputs` object or its older `guided_*` fields -> a constraint.

    At most one kind may be given; `json` is a schema (object or JSON text) and `grammar` a
    Lark grammar (vLLM also takes GBNF there; llguidance reads Lark).
    """
    so = dict(structured_outputs or {})
    unknown = set(so) - {"json", "regex", "choice", "grammar", "json_object"}
    if unknown:
        raise ConstraintError(
            f"structured_outputs has unsupported keys {sorted(unknown)} (accepted: json, regex, "
            "choice, grammar, json_object)"
        )
    given = {k: v for k, v in so.items() if v not in (None, False)}
    for key, value in (
        ("json", guided_json),
        ("regex", guided_regex),
        ("choice", guided_choice),
        ("grammar", guided_grammar),
    ):
        if value is not None:
            given[key] = value
    if not given:
        return None
    if len(given) > 1:
        raise ConstraintError(
            f"give one structured-output kind, got {sorted(given)} (json, regex, choice or grammar)"
        )
    key, value = next(iter(given.items()))
    if key == "json_object":
        return JsonObjectConstraint()
    if key == "json":
        schema = value
        if isinstance(schema, str):
            try:
                schema = json.loads(schema)
            except json.JSONDecodeError as exc:
                raise ConstraintError(f"the JSON schema is not valid JSON: {exc}") from None
        if not isinstance(schema, dict):
            raise ConstraintError("a JSON schema must be a JSON object")
        return JsonSchemaConstraint(json_schema=schema)
    if key == "regex":
        if not isinstance(value, str) or not value:
            raise ConstraintError("a regex constraint must be a non-empty string")
        return RegexConstraint(pattern=value)
    if key == "choice":
        if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
            raise ConstraintError("a choice constraint must be a non-empty list of strings")
        return ChoiceConstraint(choices=value)
    if not isinstance(value, str) or not value:
        raise ConstraintError("a grammar constraint must be a non-empty Lark grammar string")
    return GrammarConstraint(lark=value)


# -- to the wire ---------------------------------------------------------------------------


def response_format_for(constraint: Any) -> dict[str, Any] | None:
    """OpenAI's response_format for a JSON constraint; None for kinds OpenAI cannot express."""
    if isinstance(constraint, JsonObjectConstraint):
        return {"type": "json_object"}
    if isinstance(constraint, JsonSchemaConstraint):
        return {
            "type": "json_schema",
            "json_schema": {
                "name": constraint.name,
                "schema": constraint.json_schema,
                "strict": constraint.strict,
            },
        }
    return None


def vllm_structured_outputs_for(constraint: Any) -> dict[str, Any]:
    """vLLM's `structured_outputs` object for any constraint."""
    if isinstance(constraint, JsonObjectConstraint):
        return {"json_object": True}
    if isinstance(constraint, JsonSchemaConstraint):
        return {"json": constraint.json_schema}
    if isinstance(constraint, RegexConstraint):
        return {"regex": constraint.pattern}
    if isinstance(constraint, ChoiceConstraint):
        return {"choice": list(constraint.choices)}
    return {"grammar": constraint.lark}
