"""Structured output over HTTP: the openai client's response_format (and `.parse` with a
pydantic model), vLLM's structured_outputs / guided_* extras, 400s for bad constraints,
and OpenAIEngine passing constraints through to the server. The server, its engine and the
client are conftest's (this module's `LIMITS`)."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field
from thinkfast.engine import GenerationRequest, OpenAIEngine
from thinkfast.engine.constraint import ChoiceConstraint, GrammarConstraint, RegexConstraint
from thinkfast.engine.errors import InvalidRequestError, RemoteEngineError
from thinkfast.serve.server import ServerLimits

LIMITS = ServerLimits(max_tokens=128, max_n=8, max_body_bytes=64 * 1024)
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer", "maximum": 999}, "sure": {"type": "boolean"}},
    "required": ["answer", "sure"],
    "additionalProperties": False,
}


def user(text: str = "12+34=") -> list[dict]:
    return [{"role": "user", "content": text}]


def test_response_format_json_schema_strict(client, engine):
    response = client.chat.completions.create(
        model=engine.model_name,
        messages=user(),
        max_tokens=64,
        n=3,
        seed=1,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True},
        },
    )
    for choice in response.choices:
        value = json.loads(choice.message.content)
        assert set(value) == {"answer", "sure"} and isinstance(value["sure"], bool)
        assert choice.finish_reason == "stop"


def test_response_format_json_object_and_parse_with_a_pydantic_model(client, engine):
    response = client.chat.completions.create(
        model=engine.model_name,
        messages=user(),
        max_tokens=64,
        seed=2,
        response_format={"type": "json_object"},
    )
    choice = response.choices[0]
    if choice.finish_reason == "stop":
        assert isinstance(json.loads(choice.message.content), dict)

    class Verdict(BaseModel):
        model_config = ConfigDict(extra="forbid")
        correct: bool
        answer: int = Field(ge=0, le=999)  # bounded: the reply fits max_tokens

    parsed = client.chat.completions.parse(
        model=engine.model_name,
        messages=user(),
        max_tokens=64,
        seed=3,
        response_format=Verdict,
    )
    assert isinstance(parsed.choices[0].message.parsed, Verdict)


@pytest.mark.parametrize(
    ("extra", "check"),
    [
        ({"structured_outputs": {"regex": r"[0-9]{2,3}"}}, r"[0-9]{2,3}"),
        ({"structured_outputs": {"choice": ["yes", "no"]}}, r"yes|no"),
        ({"guided_regex": r"(12|34)\+[0-9]"}, r"(12|34)\+[0-9]"),
        ({"guided_choice": ["correct", "wrong"]}, r"correct|wrong"),
        ({"guided_grammar": 'start: "Choice: " ("A" | "B")'}, r"Choice: (A|B)"),
        ({"guided_json": json.dumps(SCHEMA)}, r"\{.*\}"),
    ],
)
def test_vllm_extras(client, engine, extra, check):
    response = client.chat.completions.create(
        model=engine.model_name, messages=user(), max_tokens=48, n=2, seed=4, extra_body=extra
    )
    for choice in response.choices:
        assert re.fullmatch(check, choice.message.content), choice.message.content


def test_completions_take_the_extras_too(client, engine):
    response = client.completions.create(
        model=engine.model_name,
        prompt="12+34=",
        max_tokens=8,
        extra_body={"guided_regex": "[0-9]+"},
    )
    assert re.fullmatch(r"[0-9]+", response.choices[0].text)


def test_streamed_constrained_output(client, engine):
    stream = client.chat.completions.create(
        model=engine.model_name,
        messages=user(),
        max_tokens=48,
        seed=5,
        stream=True,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert set(json.loads(text)) == {"answer", "sure"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"schema": {"type": "nope"}},
                }
            },
            "invalid JSON schema",
        ),
        ({"response_format": {"type": "json_schema"}}, "needs 'json_schema'"),
        ({"response_format": {"type": "yaml"}}, "yaml"),
        ({"guided_regex": "[0-9"}, "unclosed character class"),
        ({"structured_outputs": {"grammar": "start: nothing_here"}}, "nothing_here"),
        ({"structured_outputs": {"regex": "a", "choice": ["b"]}}, "one structured-output kind"),
        ({"structured_outputs": {"xml": "<a/>"}}, "unsupported keys"),
        ({"guided_choice": ["ünïcödé"]}, "cannot be written with the tokenizer"),
    ],
)
def test_bad_constraints_are_400_naming_the_problem(url, engine, body, message):
    payload = {"model": engine.model_name, "messages": user(), "max_tokens": 8, **body}
    response = httpx.post(f"{url}/chat/completions", json=payload)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]


def test_openai_engine_passes_constraints_through(url, engine):
    remote = OpenAIEngine(engine.model_name, base_url=url)
    constraints = [
        RegexConstraint(pattern=r"[0-9]{1,3}"),
        ChoiceConstraint(choices=["yes", "no"]),
        GrammarConstraint(lark='start: "Verdict: " ("correct" | "wrong")'),
    ]
    requests = [
        GenerationRequest(prompt="12+34=", max_tokens=24, seed=6, constraint=c) for c in constraints
    ]
    remote_gens = remote.generate_sync(requests)
    local_gens = engine.generate_sync(requests)
    # the same seed through the server gives what the engine gives in-process
    assert [g.text for g in remote_gens] == [g.text for g in local_gens]
    json_request = GenerationRequest(
        messages=[{"role": "user", "content": "12+34="}],
        max_tokens=48,
        seed=7,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}},
    )
    [gen] = remote.generate_sync([json_request])
    assert set(json.loads(gen.text)) == {"answer", "sure"}
    with pytest.raises(RemoteEngineError, match="unclosed character class"):
        remote.generate_sync(
            [
                GenerationRequest(
                    prompt="1", max_tokens=8, constraint=RegexConstraint(pattern="[0-9")
                )
            ]
        )


def test_hosted_presets_refuse_what_response_format_cannot_say():
    hosted = OpenAIEngine("some-model", provider="groq", api_key="unused")
    request = GenerationRequest(
        messages=[{"role": "user", "content": "hi"}], constraint=RegexConstraint(pattern="a+")
    )
    with pytest.raises(InvalidRequestError, match="only JSON constraints"):
        hosted.generate_sync([request])
