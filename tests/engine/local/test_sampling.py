"""Sampling semantics of LocalEngine: seeds, n, batching, stops, eos, logprobs, usage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from thinkfast.engine import GenerationRequest, LocalEngine

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "llama-gqa-llama3-bf16"


@pytest.fixture(scope="module")
def engine():
    return LocalEngine(FIXTURE)


def req(prompt="The sum of 12 and 30 is", **kw):
    kw.setdefault("max_tokens", 16)
    return GenerationRequest(prompt=prompt, **kw)


def run(engine, *requests):
    return engine.generate_sync(list(requests))


SAMPLED = dict(temperature=1.3, top_p=0.9, top_k=40)


def test_same_seed_same_output_whatever_the_batch(engine):
    (alone,) = run(engine, req(seed=7, **SAMPLED))
    (again,) = run(engine, req(seed=7, **SAMPLED))
    batched = run(
        engine,
        req("x", max_tokens=5, temperature=0.0),
        req(seed=7, **SAMPLED),
        req("another, longer prompt here", seed=99, temperature=0.7, n=3),
    )
    assert alone.samples[0].token_ids == again.samples[0].token_ids
    assert batched[1].samples[0].token_ids == alone.samples[0].token_ids
    (other,) = run(engine, req(seed=8, **SAMPLED))
    assert other.samples[0].token_ids != alone.samples[0].token_ids


def test_n_samples_equal_single_requests_with_seed_plus_i(engine):
    (many,) = run(engine, req(seed=40, n=4, temperature=1.0))
    singles = run(engine, *[req(seed=40 + i, temperature=1.0) for i in range(4)])
    assert [s.token_ids for s in many.samples] == [g.samples[0].token_ids for g in singles]
    assert len({tuple(s.token_ids) for s in many.samples}) > 1  # the samples differ
    assert many.usage.prompt_tokens == singles[0].usage.prompt_tokens  # prompt counted once
    assert many.usage.completion_tokens == sum(len(s.token_ids) for s in many.samples)


def test_batched_requests_equal_running_alone(engine):
    prompts = ["a", "The sum of 12 and 30 is", "Hello there, general", "7*8="]
    kws = [dict(max_tokens=20, temperature=0.0, logprobs=True, top_logprobs=3)] * 4
    alone = [run(engine, req(p, **kw))[0] for p, kw in zip(prompts, kws, strict=True)]
    together = run(engine, *[req(p, **kw) for p, kw in zip(prompts, kws, strict=True)])
    for a, b in zip(alone, together, strict=True):
        sa, sb = a.samples[0], b.samples[0]
        assert sa.token_ids == sb.token_ids and sa.text == sb.text
        np.testing.assert_allclose(
            [t.logprob for t in sa.logprobs], [t.logprob for t in sb.logprobs], atol=1e-5
        )
        for ta, tb in zip(sa.logprobs, sb.logprobs, strict=True):
            assert [x.token_id for x in ta.top_logprobs] == [x.token_id for x in tb.top_logprobs]


def test_logprobs_are_log_softmax_of_the_model_logits(engine):
    (gen,) = run(engine, req(max_tokens=8, temperature=0.8, seed=3, logprobs=True, top_logprobs=5))
    sample = gen.samples[0]
    model, prompt = engine.model, np.array(engine.codec.prompt_ids(req()))
    cache = model.new_cache(1, len(prompt) + 8)
    logits = model.prefill(prompt, cache, 0)
    for step, entry in enumerate(sample.logprobs):
        logp = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
        assert entry.token_id == sample.token_ids[step]
        assert entry.logprob == pytest.approx(float(logp[entry.token_id]), abs=1e-5)
        top = [t.token_id for t in entry.top_logprobs]
        assert top == list(np.argsort(-logp)[:5])
        assert [t.logprob for t in entry.top_logprobs] == pytest.approx(
            np.sort(logp)[::-1][:5].tolist(), abs=1e-5
        )
        logits = model.decode(np.array([entry.token_id]), np.array([len(prompt) + step]), cache)[0]
    assert sample.cumulative_logprob == pytest.approx(sum(t.logprob for t in sample.logprobs))
    (plain,) = run(engine, req(max_tokens=8, temperature=0.8, seed=3))
    assert plain.samples[0].logprobs is None
    assert plain.samples[0].cumulative_logprob == pytest.approx(sample.cumulative_logprob)


def test_greedy_equals_top_k_one_and_top_k_limits_choices(engine):
    (greedy,) = run(engine, req(temperature=0.0))
    (top1,) = run(engine, req(temperature=2.0, top_k=1, seed=5))
    assert greedy.samples[0].token_ids == top1.samples[0].token_ids
    prompt = np.array(engine.codec.prompt_ids(req()))
    logits = engine.model.prefill(prompt, engine.model.new_cache(1, len(prompt)), 0)
    allowed = set(np.argsort(-logits)[:3].tolist())
    (wide,) = run(engine, req(max_tokens=1, temperature=5.0, top_k=3, n=64, seed=0))
    firsts = {s.token_ids[0] for s in wide.samples}
    assert firsts <= allowed and len(firsts) > 1
    (nucleus,) = run(engine, req(max_tokens=1, temperature=1.0, top_p=1e-6, n=16, seed=0))
    assert {s.token_ids[0] for s in nucleus.samples} == {int(logits.argmax())}


def test_max_tokens_and_stop_strings(engine):
    (free,) = run(engine, req(max_tokens=24, temperature=0.0))
    text = free.samples[0].text
    assert free.samples[0].finish_reason == "length" and len(free.samples[0].token_ids) == 24
    stop = text[5:7]  # a 2-character stop string that greedy decoding will produce
    (cut,) = run(engine, req(max_tokens=24, temperature=0.0, stop=[stop, "never-there"]))
    sample = cut.samples[0]
    assert sample.finish_reason == "stop"
    assert sample.text == text[: text.index(stop)]
    assert stop not in sample.text
    assert len(sample.token_ids) == text.index(stop) + len(stop)  # char-level: 1 token/char


def test_eos_list_from_generation_config(tmp_path, engine):
    (free,) = run(engine, req(max_tokens=12, temperature=0.0))
    ids = free.samples[0].token_ids
    folder = tmp_path / "model"
    shutil.copytree(FIXTURE, folder)
    # eos_token_id may be a list (as in Llama 3): the 4th greedy token becomes an eos id.
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": [2, ids[3]]}))
    eos_engine = LocalEngine(folder)
    assert eos_engine.checkpoint.eos_token_ids == [2, ids[3]]
    (gen,) = run(eos_engine, req(max_tokens=12, temperature=0.0))
    sample = gen.samples[0]
    assert sample.finish_reason == "stop"
    assert sample.token_ids == ids[:4]  # the eos token is kept in the ids ...
    assert sample.text == free.samples[0].text[:3]  # ... but never rendered


@pytest.mark.parametrize("vocab", [1, 1000, 1024, 1500, 49152])
def test_the_two_level_draw_picks_the_one_level_draw_s_token(vocab):
    """sampling._draw finds the chunk first, then the token inside it: the same token as one
    cumulative sum over the whole vocabulary, and never one without probability."""
    from thinkfast.engine.local.sampling import _draw

    rng = np.random.default_rng(vocab)
    for trial in range(40):
        probs = (rng.random((3, vocab)) ** 8).astype(np.float32)
        if trial % 2:  # most tokens filtered out, as top-k / top-p leave them
            probs[:, rng.random(vocab) < 0.9] = 0.0
            probs[:, 0] += 1e-3
        u = rng.random(3)
        cdf = np.cumsum(probs, axis=1, dtype=np.float64)
        one_level = np.minimum((cdf < (u * cdf[:, -1])[:, None]).sum(axis=1), vocab - 1)
        drawn = _draw(probs, u)
        assert np.array_equal(drawn, one_level)
        assert np.all(probs[np.arange(3), drawn] > 0)
