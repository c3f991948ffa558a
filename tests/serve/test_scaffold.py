"""Strategies served as models, over real HTTP on 127.0.0.1 with the shipped model: the
official openai client (sync and async, streaming and not), LangChain's ChatOpenAI and
its_hub's OpenAI-compatible LM; selection by model name, extra_body, reasoning_effort and
the server default; usage that adds up over every call; progress streamed before the
answer; seeds; n > 1; the drafter settings; unknown fields; every bad-input case."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx
import openai
import pytest
from langgraph.graph import END, START, StateGraph
from thinkfast.orchestrator.api import pack_for
from thinkfast.orchestrator.context import RunContext
from thinkfast.orchestrator.prompt_pack import RolePrompt
from thinkfast.orchestrator.state import GraphState
from thinkfast.orchestrator.strategy import Strategy, register_strategy
from thinkfast.serve.server import IGNORED_HEADER, ServerLimits, running_server

from thinkfast import athink

MODEL = "arith-tiny"
QUESTION = "12+34"
LIMITS = ServerLimits(max_tokens=128, max_n=4, option_caps={"n": 16}, max_scaffold_tokens=20_000)


@register_strategy
class NeedsPlanner(Strategy):
    """A plugin-style strategy asking for a role the shipped model's pack lacks."""

    name = "test_needs_planner"
    default_prompts: ClassVar[dict[str, RolePrompt]] = {
        "planner": RolePrompt(template="{question}")
    }

    def roles(self) -> tuple[str, ...]:
        return ("planner",)

    def build_graph(self) -> StateGraph:
        async def noop(state: GraphState, runtime: Any) -> dict[str, Any]:
            return {}

        graph = StateGraph(GraphState, context_schema=RunContext)
        graph.add_node("noop", noop)
        graph.add_edge(START, "noop")
        graph.add_edge("noop", END)
        return graph


def ask(client, model: str = f"best_of_n:n=4/{MODEL}", **kw):
    kw.setdefault("messages", [{"role": "user", "content": QUESTION}])
    kw.setdefault("seed", 7)
    return client.chat.completions.create(model=model, **kw)


def reasoning(message) -> str:
    return message.model_extra["reasoning_content"]


# -- discovery ---------------------------------------------------------------------------


def test_models_list_every_strategy_with_its_options(client):
    models = {m.id: m for m in client.models.list().data}
    plain = models[MODEL].model_extra["thinkfast"]
    assert "best_of_n" in plain["strategies"] and "self_refine" in plain["strategies"]
    options = {o["name"]: o for o in plain["strategies"]["best_of_n"]["options"]}
    assert options["n"]["default"] == 8 and "vote" in options["selector"]["type"]
    assert plain["reasoning_effort"]["medium"].startswith("best_of_n")
    assert f"self_refine/{MODEL}" in models
    configured = client.models.retrieve(f"best_of_n:n=3,selector=judge/{MODEL}")
    assert configured.model_extra["thinkfast"]["configured"]["n"] == 3


# -- the scaffolded answer -----------------------------------------------------------------


def test_best_of_n_by_model_name_answers_with_reasoning_and_usage_that_adds_up(client, engine):
    response = ask(client)
    [choice] = response.choices
    extra = response.model_extra["thinkfast"]
    [scaffold] = extra["choices"]
    assert scaffold["strategy"] == "best_of_n" and extra["selected_by"] == "model"
    assert len(scaffold["candidates"]) == 4
    chosen = next(c for c in scaffold["candidates"] if c["id"] == scaffold["selected"])
    assert choice.message.content.endswith(f"Answer: {chosen['answer']}")
    lines = reasoning(choice.message).splitlines()
    assert sum(line.startswith("draft #") for line in lines) == 4
    assert any(line.startswith("vote: ") for line in lines)
    # usage: every call of every role, summed; reasoning = all but the answer's tokens
    calls = scaffold["calls"]
    usage = response.usage
    assert usage.prompt_tokens == sum(c["prompt_tokens"] for c in calls)
    assert usage.completion_tokens == sum(c["completion_tokens"] for c in calls)
    assert usage.prompt_tokens_details.cached_tokens == sum(c["cached_tokens"] for c in calls)
    assert (
        usage.completion_tokens_details.reasoning_tokens
        == usage.completion_tokens - chosen["completion_tokens"]
    )
    by_role = extra["usage_by_role"]
    assert sum(r["completion_tokens"] for r in by_role.values()) == usage.completion_tokens
    latency = scaffold["latency"]
    assert latency["critical_path_s"] <= latency["sum_of_calls_s"] + 1e-9
    assert set(latency["emulated"]) == set(engine.hardware)


async def test_the_same_answer_as_athink_in_process(client, engine):
    response = ask(client, f"best_of_n:n=4,selector=judge/{MODEL}", seed=11)
    answer = await athink(
        QUESTION, "best_of_n", engine, n=4, selector="judge", seed=11, pack=pack_for(engine)
    )
    assert response.choices[0].message.content == answer.text
    assert response.usage.completion_tokens == answer.usage.total.completion_tokens
    assert response.usage.prompt_tokens == answer.usage.total.prompt_tokens


def test_self_refine_runs_its_roles(client):
    response = ask(client, f"self_refine/{MODEL}")
    roles = response.model_extra["thinkfast"]["usage_by_role"]
    assert {"draft", "critique"} <= set(roles)
    assert "critique of #1" in reasoning(response.choices[0].message)


def test_extra_body_selects_and_overrides_the_names_options(client):
    response = ask(
        client, f"best_of_n:n=2/{MODEL}", extra_body={"thinkfast": {"options": {"n": 3}}}
    )
    [scaffold] = response.model_extra["thinkfast"]["choices"]
    assert scaffold["options"]["n"] == 3 and len(scaffold["candidates"]) == 3
    response = ask(
        client,
        MODEL,
        extra_body={
            "thinkfast": {"strategy": "self_refine:max_rounds=1", "budget": {"max_tokens": 5000}}
        },
    )
    extra = response.model_extra["thinkfast"]
    assert extra["strategy"] == "self_refine" and extra["selected_by"] == "extra_body"
    assert extra["choices"][0]["options"]["max_rounds"] == 1
    assert extra["budget"]["max_tokens"] == 5000


def test_reasoning_effort_maps_to_presets(client):
    medium = ask(client, MODEL, reasoning_effort="medium")
    extra = medium.model_extra["thinkfast"]
    assert extra["selected_by"] == "effort" and len(extra["choices"][0]["candidates"]) == 4
    low = ask(client, MODEL, reasoning_effort="low")
    assert low.model_extra["thinkfast"]["strategy"] == "single"
    plain = ask(client, MODEL, reasoning_effort="none", max_tokens=16)
    assert "choices" not in plain.model_extra["thinkfast"]  # passed straight through
    assert plain.choices[0].message.model_extra.get("reasoning_content") is None


def test_a_server_wide_default_strategy(engine):
    with running_server(engine, limits=LIMITS, strategy="best_of_n:n=2") as base:
        client = openai.OpenAI(base_url=base, api_key="unused", max_retries=0)
        response = ask(client, MODEL)
        extra = response.model_extra["thinkfast"]
        assert extra["selected_by"] == "server" and len(extra["choices"][0]["candidates"]) == 2
        # a client can still ask for the plain model
        plain = ask(client, MODEL, reasoning_effort="none", max_tokens=8)
        assert "choices" not in plain.model_extra["thinkfast"]


def test_a_bad_server_default_fails_before_listening(engine):
    from thinkfast.engine.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="--strategy 'best_of_n:n=0'"):
        with running_server(engine, strategy="best_of_n:n=0"):
            pass
    with pytest.raises(InvalidRequestError, match="unknown strategy"):
        with running_server(engine, effort={"high": "nope"}):
            pass


def test_seed_reproduces_the_scaffold_and_n_runs_independent_ones(client):
    a = ask(client, seed=3)
    b = ask(client, seed=3)
    assert a.choices[0].message.content == b.choices[0].message.content
    assert reasoning(a.choices[0].message) == reasoning(b.choices[0].message)
    two = ask(client, seed=3, n=2)
    assert len(two.choices) == 2
    assert reasoning(two.choices[0].message) == reasoning(a.choices[0].message)
    shifted = ask(client, seed=4)  # choice i runs with seed + i
    assert reasoning(two.choices[1].message) == reasoning(shifted.choices[0].message)
    assert (
        two.usage.completion_tokens == a.usage.completion_tokens + shifted.usage.completion_tokens
    )
    assert len(two.model_extra["thinkfast"]["choices"]) == 2


def test_max_tokens_stop_and_temperature_apply_to_the_drafter(client):
    short = ask(client, max_tokens=3)
    [scaffold] = short.model_extra["thinkfast"]["choices"]
    assert all(c["completion_tokens"] <= 3 for c in scaffold["candidates"])
    cut = ask(client, stop=[","])
    assert all("," not in c.message.content for c in cut.choices)
    hot = ask(client, f"single/{MODEL}", temperature=0.9)
    assert hot.model_extra["thinkfast"]["choices"][0]["options"]["temperature"] == 0.9
    # the strategy's own option wins over the client's sampling setting
    fixed = ask(client, f"single:temperature=0.1/{MODEL}", temperature=0.9)
    assert fixed.model_extra["thinkfast"]["choices"][0]["options"]["temperature"] == 0.1


def test_completions_endpoint_scaffolds_each_prompt(client):
    response = client.completions.create(
        model=f"best_of_n:n=2/{MODEL}", prompt=["12+34", "5+6"], seed=1
    )
    assert [c.index for c in response.choices] == [0, 1]
    assert response.choices[1].text.endswith(
        "Answer: " + response.model_extra["thinkfast"]["choices"][1]["answer"]
    )
    assert "draft #" in response.choices[0].model_extra["reasoning_content"]


# -- streaming -----------------------------------------------------------------------------


def test_streaming_sends_progress_before_the_answer_then_usage(client):
    plain = ask(client, f"best_of_n:n=4,selector=judge/{MODEL}", seed=5)
    chunks = list(
        ask(
            client,
            f"best_of_n:n=4,selector=judge/{MODEL}",
            seed=5,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    kinds = []
    for c in chunks:
        if c.choices and c.choices[0].delta.model_extra.get("reasoning_content"):
            kinds.append("progress")
        elif c.choices and c.choices[0].delta.content:
            kinds.append("answer")
    first_answer = kinds.index("answer")
    assert kinds.count("progress") >= 5 and first_answer > kinds.index("progress")
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    progress = "".join(
        c.choices[0].delta.model_extra.get("reasoning_content") or "" for c in chunks if c.choices
    )
    assert text == plain.choices[0].message.content
    assert progress.strip() == reasoning(plain.choices[0].message).strip()
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens
    assert chunks[-1].model_extra["thinkfast"]["choices"][0]["answer"] is not None


async def test_async_client_streaming_and_not(url):
    client = openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0)
    plain = await client.chat.completions.create(
        model=f"self_refine/{MODEL}", messages=[{"role": "user", "content": QUESTION}], seed=2
    )
    stream = await client.chat.completions.create(
        model=f"self_refine/{MODEL}",
        messages=[{"role": "user", "content": QUESTION}],
        seed=2,
        stream=True,
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == plain.choices[0].message.content
    await client.close()


# -- other clients ---------------------------------------------------------------------------


def test_langchain_chat_openai(url):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        model=f"best_of_n:n=4/{MODEL}", base_url=url, api_key="unused", seed=7, max_retries=0
    )
    reply = llm.invoke(QUESTION)
    assert "Answer:" in reply.content
    details = reply.usage_metadata["output_token_details"]
    assert 0 < details["reasoning"] < reply.usage_metadata["output_tokens"]
    streamed = "".join(chunk.content for chunk in llm.stream(QUESTION))
    assert streamed == reply.content
    effort = ChatOpenAI(model=MODEL, base_url=url, api_key="unused", reasoning_effort="medium")
    assert "Answer:" in effort.invoke(QUESTION).content


async def test_its_hub_openai_compatible_lm(url):
    from its_hub.api.types import ChatMessage
    from its_hub.core.lms.openai_lm import OpenAICompatibleLanguageModel

    lm = OpenAICompatibleLanguageModel(
        endpoint=url, api_key="unused", model_name=f"best_of_n:n=4/{MODEL}", max_tries=1
    )
    # its_hub writes a literal "extra_body": {} into every body: it must be ignored
    try:
        reply = await lm.agenerate_single([ChatMessage(role="user", content=QUESTION)])
    finally:
        await lm.close()
    assert "Answer:" in reply["content"]


def test_unknown_fields_are_ignored_logged_and_listed(url, caplog):
    body = {
        "model": f"single/{MODEL}",
        "messages": [{"role": "user", "content": QUESTION}],
        "extra_body": {},
        "add_generation_prompt": True,
        "tools": [],
    }
    with caplog.at_level("INFO", logger="thinkfast.serve"):
        response = httpx.post(url + "/chat/completions", json=body, timeout=30)
        again = httpx.post(url + "/chat/completions", json=body, timeout=30)
    assert response.status_code == 200 and again.status_code == 200
    assert response.headers[IGNORED_HEADER] == "add_generation_prompt,extra_body,tools"
    assert response.json()["thinkfast"]["ignored_fields"] == [
        "add_generation_prompt",
        "extra_body",
        "tools",
    ]
    logged = [r for r in caplog.records if "add_generation_prompt" in r.getMessage()]
    assert len(logged) <= 1  # once per name per process (an earlier test may have logged it)
    plain = httpx.post(url + "/chat/completions", json={**body, "model": MODEL}, timeout=30)
    assert plain.status_code == 200 and IGNORED_HEADER in plain.headers


# -- bad input -------------------------------------------------------------------------------

OK = {"messages": [{"role": "user", "content": QUESTION}]}


def _bad(model: str = MODEL, **kw) -> dict:
    return {"model": model, **OK, **kw}


BAD = [
    (_bad("nope:n=2/arith-tiny"), 400, "unknown strategy 'nope'; available:"),
    (_bad(f"best_of_n:m=2/{MODEL}"), 400, "unknown option 'm'"),
    (_bad(f"best_of_n:n=x/{MODEL}"), 400, "option 'n' of strategy 'best_of_n'"),
    (_bad(f"best_of_n:selector=magic/{MODEL}"), 400, "'vote'"),
    (_bad(f"best_of_n:n=1000/{MODEL}"), 400, "limit of 16"),
    (_bad("best_of_n/gpt-4o"), 404, "not served here"),
    (_bad(thinkfast={"strategy": "nope"}), 400, "available:"),
    (_bad(thinkfast={"strategy": 5}), 400, "thinkfast.strategy"),
    (_bad(thinkfast={"stratgy": "single"}), 400, "accepted:"),
    (_bad(thinkfast={"options": {"n": 2}}), 400, "no strategy"),
    (_bad(thinkfast={"strategy": "single", "budget": {"max_tokens": 5}}), 400, "budget"),
    (_bad(thinkfast={"strategy": "single", "budget": {"max_tokens": 10**9}}), 400, "limit"),
    (
        _bad(thinkfast={"strategy": "single", "budget": {"max_emulated_s": 1, "profile": "nope"}}),
        400,
        "profile 'nope'",
    ),
    (_bad(f"test_needs_planner/{MODEL}"), 400, "no role 'planner'"),
    (_bad(reasoning_effort="extreme"), 400, "reasoning_effort 'extreme' is not one of"),
    (_bad(f"single/{MODEL}", logprobs=True), 400, "logprobs"),
    (_bad(f"single/{MODEL}", n=5), 400, "limit of 4"),
    (_bad(f"single/{MODEL}", temperature=50), 400, "temperature"),
    (_bad(f"single/{MODEL}", stream=True, thinkfast={"options": {"bogus": 1}}), 400, "bogus"),
    ({"model": f"single/{MODEL}", "messages": [{"role": "system", "content": "x"}]}, 400, "user"),
]


@pytest.mark.parametrize("body,status,needle", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input_gets_an_openai_style_4xx_naming_what_is_accepted(url, body, status, needle):
    response = httpx.post(url + "/chat/completions", content=json.dumps(body), timeout=30)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert needle in error["message"], error
    assert error["type"] == "invalid_request_error"


def _unreadable_pack():
    raise OSError(5, "Input/output error")  # e.g. the file read while it is rewritten


def test_a_missing_role_is_a_400_even_when_the_hint_cannot_be_built(url, monkeypatch):
    # Case 13 above is the one bad input whose message lists the packs that have the role,
    # read while the request is answered; anything failing there turned its 400 into a 500.
    from thinkfast.orchestrator import roster

    monkeypatch.setattr(roster, "default_pack", _unreadable_pack)
    body = _bad(f"test_needs_planner/{MODEL}")
    response = httpx.post(url + "/chat/completions", content=json.dumps(body), timeout=30)
    assert response.status_code == 400, response.text
    assert "no role 'planner'" in response.json()["error"]["message"]


def test_scaffolded_completions_refuse_token_ids(url):
    body = {"model": f"single/{MODEL}", "prompt": [1, 2, 3]}
    response = httpx.post(url + "/completions", json=body, timeout=30)
    assert response.status_code == 400 and "text" in response.json()["error"]["message"]


def test_drafter_engine_reads_what_its_engine_learns_later():
    # a remote engine learns its context window from its first refusal; the wrapper the
    # scaffold's budget gate sees must not keep the value it had when it was made
    from thinkfast.engine.remote import OpenAIEngine
    from thinkfast.serve.scaffold import DrafterEngine

    base = OpenAIEngine("fault-model", base_url="http://127.0.0.1:9/v1")
    drafter = DrafterEngine(base, {"max_tokens": 8})
    assert drafter.context_length is None
    base.context_length = 4096  # what OpenAIEngine sets on learning the window
    assert drafter.context_length == 4096
    assert (drafter.model_name, drafter.hardware) == (base.model_name, base.hardware)
