"""Structured output in LocalEngine: every constraint kind, mixed batches, seeds, errors.

Run on the shipped model (arith-tiny: a trained character-level model) and on a random
checkpoint from the fixtures (random weights: the mask alone must make its output valid).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from thinkfast.engine.constraint import (
    ChoiceConstraint,
    ConstraintError,
    GrammarConstraint,
    JsonObjectConstraint,
    JsonSchemaConstraint,
    RegexConstraint,
)
from thinkfast.engine.local import LocalEngine
from thinkfast.engine.types import GenerationRequest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "integer", "minimum": 0, "maximum": 999},
        "sure": {"type": "boolean"},
        "why": {"enum": ["sum", "guess"]},
    },
    "required": ["answer", "sure", "why"],
    "additionalProperties": False,
}
VERDICT = r"""start: reasoning "Verdict: " ("correct" | "wrong")
reasoning: /[a-z0-9 +=]{0,12}\n/
"""


def _valid_schema_output(text: str) -> bool:
    value = json.loads(text)
    return (
        set(value) == {"answer", "sure", "why"}
        and isinstance(value["answer"], int)
        and 0 <= value["answer"] <= 999
        and isinstance(value["sure"], bool)
        and value["why"] in ("sum", "guess")
    )


CASES = {
    "json_schema": (JsonSchemaConstraint(json_schema=SCHEMA), _valid_schema_output),
    "json_object": (JsonObjectConstraint(), lambda t: isinstance(json.loads(t), dict)),
    "regex": (
        RegexConstraint(pattern=r"[0-9]{1,3}(\+[0-9]{1,3})?"),
        lambda t: re.fullmatch(r"[0-9]{1,3}(\+[0-9]{1,3})?", t) is not None,
    ),
    "choice": (
        ChoiceConstraint(choices=["yes", "no", "maybe"]),
        lambda t: t in ("yes", "no", "maybe"),
    ),
    "grammar": (
        GrammarConstraint(lark=VERDICT),
        lambda t: re.fullmatch(r"[a-z0-9 +=]{0,12}\nVerdict: (correct|wrong)", t) is not None,
    ),
}


@pytest.fixture(scope="module", params=["arith-tiny", "random"])
def any_engine(request):
    if request.param == "arith-tiny":
        return LocalEngine("arith-tiny", hardware=())
    return LocalEngine(FIXTURES / "llama-tied-headdim", hardware=())


@pytest.fixture(scope="module")
def tiny():
    return LocalEngine("arith-tiny", hardware=())


def ask(constraint=None, *, prompt="Q: 12+7=", **kw) -> GenerationRequest:
    kw.setdefault("max_tokens", 48)
    return GenerationRequest(prompt=prompt, constraint=constraint, **kw)


@pytest.mark.parametrize("kind", list(CASES))
def test_every_kind_is_obeyed(any_engine, kind):
    constraint, valid = CASES[kind]
    # A hot temperature on random weights: only the mask keeps the output in shape.
    [gen] = any_engine.generate_sync([ask(constraint, n=3, seed=5, temperature=1.5)])
    for sample in gen.samples:
        if kind == "json_object" and sample.finish_reason == "length":
            # an unbounded object may outrun the budget; then it says so
            assert sample.constraint_complete is False
            continue
        assert sample.finish_reason == "stop", sample.text
        assert sample.constraint_complete is True
        assert valid(sample.text), sample.text


def test_constrained_unconstrained_and_differently_constrained_rows_share_a_batch(tiny):
    requests = [
        ask(CASES["json_schema"][0], n=3, seed=1),
        ask(None, n=2, seed=2, max_tokens=24),
        ask(CASES["regex"][0], n=2, seed=3),
        ask(CASES["choice"][0], n=2, seed=4),
    ]
    together = tiny.generate_sync(requests)
    assert tiny.batch_log[-1].jobs == 4  # one worker batch held them all
    for (_, check), gen in zip(
        [CASES["json_schema"], (None, None), CASES["regex"], CASES["choice"]], together, strict=True
    ):
        for sample in gen.samples:
            assert check is None or check(sample.text), sample.text
    # each row equals the same request served alone: masks never leak between rows
    alone = [tiny.generate_sync([r])[0] for r in requests]
    for a, b in zip(together, alone, strict=True):
        assert [s.token_ids for s in a.samples] == [s.token_ids for s in b.samples]


def test_seeded_constrained_samples_reproduce(tiny):
    request = ask(CASES["grammar"][0], n=3, seed=11, temperature=1.2)
    first, second = tiny.generate_sync([request, request])
    assert [s.token_ids for s in first.samples] == [s.token_ids for s in second.samples]
    # sample i of seed s is the single request with seed s + i, constrained or not
    single = tiny.generate_sync([ask(CASES["grammar"][0], seed=12, temperature=1.2)])[0]
    assert single.samples[0].token_ids == first.samples[1].token_ids


def test_logprobs_are_of_the_constrained_distribution(tiny):
    [gen] = tiny.generate_sync(
        [ask(ChoiceConstraint(choices=["yes", "no"]), logprobs=True, top_logprobs=5, seed=0)]
    )
    first = gen.samples[0].logprobs[0]
    # only "y" and "n" may start the output: the alternatives are those two, renormalised
    assert {alt.token for alt in first.top_logprobs} == {"y", "n"}
    assert math.isclose(sum(math.exp(a.logprob) for a in first.top_logprobs), 1.0, rel_tol=1e-5)
    # once "y" is written, "es" is forced: probability 1
    assert all(math.isclose(lp.logprob, 0.0, abs_tol=1e-6) for lp in gen.samples[0].logprobs[1:3])


def test_budget_too_small_finishes_with_length_and_says_so(tiny):
    [gen] = tiny.generate_sync([ask(RegexConstraint(pattern=r"[0-9]{30}"), max_tokens=5)])
    sample = gen.samples[0]
    assert sample.finish_reason == "length" and sample.constraint_complete is False
    assert re.fullmatch(r"[0-9]{5}", sample.text)
    plain = tiny.generate_sync([ask(max_tokens=3)])[0].samples[0]
    assert plain.constraint_complete is None  # unconstrained samples say nothing


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        (RegexConstraint(pattern="[0-9"), r"(?s)invalid regex: .*unclosed character class"),
        (RegexConstraint(pattern="(a"), r"(?s)invalid regex: .*unclosed group"),
        (
            JsonSchemaConstraint(json_schema={"type": "number-ish"}),
            r"(?s)invalid JSON schema: .*type",
        ),
        (
            JsonSchemaConstraint(json_schema={"type": "object", "required": 3}),
            r"invalid JSON schema",
        ),
        (
            GrammarConstraint(lark="start: missing_rule"),
            r"(?s)invalid Lark grammar: .*missing_rule",
        ),
        (ChoiceConstraint(choices=["été"]), r"cannot be written with the tokenizer"),
        (RegexConstraint(pattern="Ω+"), r"cannot be written with the tokenizer of 'arith-tiny'"),
    ],
)
def test_bad_constraints_are_typed_errors_naming_the_problem(tiny, constraint, message):
    with pytest.raises(ConstraintError, match=message):
        tiny.generate_sync([ask(constraint)])


def test_response_format_is_read_into_the_constraint(tiny):
    request = ask(response_format={"type": "json_object"})
    assert request.constraint == JsonObjectConstraint() and request.response_format is None
    schema = {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}}
    [gen] = tiny.generate_sync([ask(response_format=schema, seed=3)])
    assert _valid_schema_output(gen.samples[0].text)
    with pytest.raises(ValidationError, match="not two different ones"):
        ask(RegexConstraint(pattern="a"), response_format={"type": "json_object"})
    with pytest.raises(ValidationError, match="needs 'json_schema'"):
        ask(response_format={"type": "json_schema"})
    with pytest.raises(ValidationError, match="expected tags"):
        GenerationRequest(prompt="x", constraint={"type": "xml"})


async def test_streamed_constrained_text_equals_the_generated_one(tiny):
    request = ask(CASES["json_schema"][0], seed=9)
    streamed = [d async for d in tiny.stream(request)]
    generated = (await tiny.generate([request]))[0].text
    assert "".join(d for d in streamed if isinstance(d, str)) == generated
