"""The new roles on a real chat model: debate, usc and a two-layer moa on SmolLM2-135M
with the default chat pack's templates (the shipped arith-tiny cannot play them yet).
Slow (a minute or two on two cores): runs with THINKFAST_SLOW=1."""

import os

import pytest
from thinkfast.orchestrator import athink

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("THINKFAST_SLOW"), reason="slow end-to-end test: set THINKFAST_SLOW=1"
    ),
]


@pytest.fixture(scope="module")
def smollm2():
    pytest.importorskip("gguf", reason="the gguf extra is not installed")
    from thinkfast.engine.errors import ModelLoadError
    from thinkfast.engine.local import LocalEngine

    try:
        return LocalEngine("smollm2-135m", hardware=("cs3", "h100"))
    except ModelLoadError as exc:
        pytest.skip(f"SmolLM2 is not available: {exc}")


QUESTION = "What is 23 + 45?"


async def test_debate_on_a_chat_model(smollm2):
    answer = await athink(
        QUESTION,
        "debate",
        smollm2,
        agents=2,
        rounds=1,
        stop_when_agreed=False,
        max_tokens=4000,
        seed=1,
    )
    debate = [c for c in answer.calls if c.role == "debate"]
    assert len(debate) == 1 and debate[0].requests == 2
    assert answer.decisions[-1].kind == "debate_vote"
    assert any(c.answer is not None for c in answer.candidates if c.source == "debate")


async def test_usc_on_a_chat_model(smollm2):
    answer = await athink(QUESTION, "usc", smollm2, n=3, seed=1)
    assert [c.role for c in answer.calls] == ["draft", "usc"]
    assert answer.decisions[-1].kind == "usc" or "fell back to vote" in answer.decisions[-1].detail


async def test_two_layer_moa_on_a_chat_model(smollm2):
    answer = await athink(QUESTION, "moa", smollm2, layers=2, proposers=2, seed=1)
    assert [c.node for c in answer.calls] == ["layer-1", "layer-2", "aggregate"]
    assert answer.answer is not None
