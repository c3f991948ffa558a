"""LocalEngine against transformers: prefill and per-step logits within 1e-4, greedy tokens equal.

The committed fixtures (tests/engine/fixtures/*) hold transformers' outputs, so the first
tests run without torch; the live test rebuilds fresh random checkpoints with transformers
and compares on the spot where torch imports.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from thinkfast.engine import GenerationRequest, LocalEngine

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NAMES = ["llama-gqa-llama3-bf16", "llama-tied-headdim", "qwen2-bias"]
ATOL = 1e-4


def _load_builders():
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compare(folder: Path, ref: dict[str, np.ndarray]) -> None:
    engine = LocalEngine(folder)
    model = engine.model
    prompt = ref["prompt_ids"]
    cache = model.new_cache(1, len(prompt) + len(ref["greedy_tokens"]))
    np.testing.assert_allclose(
        model.prefill(prompt, cache, 0, all_logits=True), ref["prefill_logits"], atol=ATOL, rtol=0
    )
    for step, (token, expected) in enumerate(
        zip(ref["greedy_tokens"], ref["step_logits"], strict=True)
    ):
        got = model.decode(np.array([token]), np.array([len(prompt) + step]), cache)[0]
        np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0, err_msg=f"step {step}")
    (gen,) = engine.generate_sync(
        [GenerationRequest(prompt_ids=prompt.tolist(), max_tokens=32, temperature=0.0)]
    )
    expected = ref["greedy_tokens"].tolist()
    eos = [i for i, t in enumerate(expected) if t in engine.checkpoint.eos_token_ids]
    if eos:  # the engine stops at eos (transformers' reference ran on past it)
        expected = expected[: eos[0] + 1]
    assert gen.samples[0].token_ids == expected
    assert gen.samples[0].finish_reason == ("stop" if eos else "length")


@pytest.mark.parametrize("name", NAMES)
def test_matches_stored_transformers_outputs(name):
    ref = dict(np.load(FIXTURES / name / "expected.npz"))
    compare(FIXTURES / name, ref)


@pytest.mark.parametrize("name", NAMES)
def test_live_against_transformers(name, tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    torch.set_num_threads(1)
    builders = _load_builders()
    arch, overrides, dtype = builders.SPECS[name]
    model = builders.build_checkpoint(tmp_path / name, arch, overrides, dtype, seed=123)
    prompt = builders.build_tokenizer().encode("Compute 7 * 8 = ?").ids
    compare(tmp_path / name, builders.reference(model, prompt))


def test_prompt_is_tokenized_like_transformers():
    """Raw prompts get the tokenizer's BOS once; chat messages go through the template."""
    ref = np.load(FIXTURES / "qwen2-bias" / "expected.npz")
    engine = LocalEngine(FIXTURES / "qwen2-bias")
    prompt = _load_builders().PROMPT
    assert engine.count_tokens(GenerationRequest(prompt=prompt)) == len(ref["prompt_ids"])
    ids = engine.codec.prompt_ids(GenerationRequest(prompt=prompt))
    assert ids == ref["prompt_ids"].tolist() and ids.count(1) == 1
    chat = GenerationRequest(messages=[{"role": "user", "content": "hi"}])
    assert engine.codec.decode(engine.codec.prompt_ids(chat), skip_special_tokens=False) == (
        "<s><|user|>hi\n<|assistant|>"
    )


def test_long_prompt_prefill_agrees_with_token_by_token_decode():
    """Prompts of 64+ tokens take the plain-GEMM path; it must give the decode path's logits."""
    engine = LocalEngine(FIXTURES / "qwen2-bias")
    model = engine.model
    tokens = np.random.default_rng(0).integers(3, 98, 100)
    whole = model.prefill(tokens, model.new_cache(1, 100), 0, all_logits=True)
    cache = model.new_cache(1, 100)
    stepwise = [model.prefill(tokens[:1], cache, 0)]
    for pos in range(1, 100):
        stepwise.append(model.decode(tokens[pos : pos + 1], np.array([pos]), cache)[0])
    np.testing.assert_allclose(whole, np.array(stepwise), atol=ATOL, rtol=0)
