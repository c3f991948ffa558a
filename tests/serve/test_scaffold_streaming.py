"""The final answer over a streamed scaffold: live `content` deltas where the strategy's
last step writes the answer (single, self_refine with accept=always), one `content` chunk
after the vote where it chooses at the end (best_of_n); the same text and usage as the
whole response with the same seed; each of n choices its own tokens; and streamed text
that the answer then does not begin with ends the stream with an error, never a
contradicting tail."""

from __future__ import annotations

import openai
import pytest
from thinkfast.serve.server import ServerLimits, running_server
from thinkfast.serve.upstream import upstream_engine
from thinkfast_tests_fault_server import FaultServer, Hang, Ok, Reply, Stream

MODEL = "arith-tiny"
QUESTION = "58+67"
REFINED = "12*13-7"  # the critic rejects arith-tiny's first draft, so a round is refined
LIMITS = ServerLimits(max_tokens=128, max_n=4, option_caps={"n": 16}, max_scaffold_tokens=20_000)


def messages(question: str = QUESTION) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}]


def ask(client, model: str, question: str = QUESTION, **kw):
    return client.chat.completions.create(model=model, messages=messages(question), **kw)


def streamed(client, model: str, question: str = QUESTION, **kw):
    """(kind, choice, text) per delta of a streamed chat, and the usage chunk."""
    chunks = list(
        ask(client, model, question, stream=True, stream_options={"include_usage": True}, **kw)
    )
    deltas = []
    for c in chunks:
        for choice in c.choices:
            reasoning = choice.delta.model_extra.get("reasoning_content")
            if reasoning:
                deltas.append(("reasoning", choice.index, reasoning))
            if choice.delta.content:
                deltas.append(("content", choice.index, choice.delta.content))
    return deltas, chunks[-1]


def content_of(deltas, index: int = 0) -> list[str]:
    return [text for kind, i, text in deltas if kind == "content" and i == index]


def answer_line(deltas, index: int = 0) -> int:
    """Where the choice's `answer: ...` reasoning line (sent when its scaffold ends) is."""
    return next(
        k
        for k, (kind, i, text) in enumerate(deltas)
        if kind == "reasoning" and i == index and text.startswith("answer:")
    )


def usage_of(usage) -> tuple[int, int, int]:
    return (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.completion_tokens_details.reasoning_tokens,
    )


def test_single_streams_the_answer_token_by_token(client):
    model = f"single/{MODEL}"
    plain = ask(client, model, seed=3, temperature=1.0)
    deltas, last = streamed(client, model, seed=3, temperature=1.0)
    content = content_of(deltas)
    assert len(content) >= 3  # live tokens, not one chunk at the end
    assert "".join(content) == plain.choices[0].message.content
    first = next(k for k, d in enumerate(deltas) if d[0] == "content")
    assert first < answer_line(deltas)  # sent while the draft decoded, before the scaffold ended
    assert usage_of(last.usage) == usage_of(plain.usage)


def test_best_of_n_sends_the_answer_after_the_vote(client):
    model = f"best_of_n:n=3/{MODEL}"
    plain = ask(client, model, seed=5, temperature=1.0)
    deltas, last = streamed(client, model, seed=5, temperature=1.0)
    content = content_of(deltas)
    assert content == [plain.choices[0].message.content]  # one chunk, the chosen draft
    progress = [k for k, d in enumerate(deltas) if d[0] == "reasoning"]
    assert [k for k, d in enumerate(deltas) if d[0] == "content"][0] > max(progress)
    assert any("vote" in text for kind, _, text in deltas if kind == "reasoning")
    assert usage_of(last.usage) == usage_of(plain.usage)


def test_self_refine_streams_its_last_round_with_accept_always(client):
    model = f"self_refine:accept=always,max_rounds=1/{MODEL}"
    plain = ask(client, model, REFINED, seed=1)
    deltas, last = streamed(client, model, REFINED, seed=1)
    content = content_of(deltas)
    assert len(content) >= 3
    assert "".join(content) == plain.choices[0].message.content
    reasoning = [text for kind, _, text in deltas if kind == "reasoning"]
    assert any(text.startswith("critique of") for text in reasoning)
    assert usage_of(last.usage) == usage_of(plain.usage)


def test_self_refine_with_its_judge_sends_the_answer_at_the_end(client):
    model = f"self_refine:max_rounds=1/{MODEL}"
    plain = ask(client, model, REFINED, seed=1)
    deltas, _ = streamed(client, model, REFINED, seed=1)
    assert content_of(deltas) == [plain.choices[0].message.content]
    first = next(k for k, d in enumerate(deltas) if d[0] == "content")
    assert first > answer_line(deltas)


def test_each_of_n_choices_streams_its_own_tokens(client):
    model = f"single/{MODEL}"
    plain = ask(client, model, n=2, seed=11, temperature=1.5)
    deltas, last = streamed(client, model, n=2, seed=11, temperature=1.5)
    for choice in plain.choices:
        content = content_of(deltas, choice.index)
        assert len(content) >= 3
        assert "".join(content) == choice.message.content
    assert usage_of(last.usage) == usage_of(plain.usage)


def test_completions_stream_the_answer_as_text_deltas(client):
    model = f"single/{MODEL}"
    plain = client.completions.create(model=model, prompt=QUESTION, seed=3, temperature=1.0)
    chunks = list(
        client.completions.create(
            model=model, prompt=QUESTION, seed=3, temperature=1.0, stream=True
        )
    )
    texts = [c.choices[0].text for c in chunks if c.choices and c.choices[0].text]
    assert len(texts) >= 3
    assert "".join(texts) == plain.choices[0].text


async def test_an_answer_that_does_not_extend_the_streamed_text_ends_with_an_error():
    """The refine call streaming the last round breaks part-way: the first draft stands as
    the answer, so the revision's text already sent cannot be completed; the client gets
    an error, not a tail that contradicts what it has."""
    rejects = {
        "object": "chat.completion",
        "model": "fault-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Verdict: incorrect"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
    }
    # the draft answers whole, the critic rejects it, the refiner's stream breaks part-way
    async with FaultServer([Ok(), Reply(200, rejects), Stream(drop_after=3)]) as fault:
        pool = upstream_engine([fault.base_url], model="fault-model")
        with running_server(pool) as url:
            client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
            stream = await client.chat.completions.create(
                model="self_refine:accept=always,max_rounds=1/fault-model",
                messages=messages(),
                stream=True,
            )
            content = []
            with pytest.raises(openai.APIError, match="cut off") as raised:
                async for c in stream:
                    content += [ch.delta.content for ch in c.choices if ch.delta.content]
            await client.close()
        await pool.aclose()
    assert "".join(content).startswith("call3:")  # the refiner's text went out live
    assert "#1" in str(raised.value)  # the answer that stands (the first draft) is named


async def test_a_client_hanging_up_mid_answer_cancels_the_streaming_call(watched_fault_server):
    """single's draft is an upstream stream (live tokens); a client gone cancels it."""
    async with watched_fault_server([Hang(60)]) as fault:
        await fault.hang_up_mid_stream("single/fault-model", messages())
    assert fault.abandoned == [1]
    assert fault.posts[0].body["stream"] is True  # the draft was streamed, not generated
