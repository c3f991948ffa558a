"""Timing: calibration against published figures, monotonic behaviour, derived figures."""

from __future__ import annotations

import pytest
from thinkfast.engine.errors import HardwareError
from thinkfast.engine.hardware import (
    PROFILES,
    calibration_table,
    decode_step_s,
    fit_constants,
    get_profile,
    get_spec,
    place,
    prefill_s,
    project,
)
from thinkfast.engine.hardware import profiles as profiles_module

MODELS = ["llama-3.1-8b", "llama-3.1-70b"]


@pytest.mark.parametrize("row", calibration_table(), ids=lambda r: f"{r['hardware']}-{r['model']}")
def test_published_single_stream_figures_within_15_percent(row):
    assert abs(row["error"]) <= 0.15, row


def test_shipped_fitted_constants_are_the_fit():
    for name, value in fit_constants().items():
        assert getattr(profiles_module, name) == pytest.approx(value, rel=0.01), name


def test_one_h100_cannot_reach_the_published_242_tokens_per_s():
    # the reference's point: 242 tok/s needs more than one GPU at 16 bits
    assert project("llama-3.1-8b", "h100", batch=1, context=1024).tokens_per_s_per_user < 208


@pytest.mark.parametrize("hw", list(PROFILES))
@pytest.mark.parametrize("model", MODELS)
def test_more_batch_more_aggregate_throughput(hw, model):
    spec, profile = get_spec(model), PROFILES[hw]
    placement = place(spec, profile, batch=64, context=2048)
    steps = [decode_step_s(spec, profile, placement, b, 2048) for b in (1, 4, 16, 64)]
    aggregate = [b / s for b, s in zip((1, 4, 16, 64), steps, strict=True)]
    assert aggregate == sorted(aggregate) and aggregate[-1] > 2 * aggregate[0]


@pytest.mark.parametrize("hw", ["a100", "h100", "h200", "b200"])
@pytest.mark.parametrize("model", MODELS)
def test_on_gpus_more_batch_lowers_per_user_speed(hw, model):
    per_user = [
        project(model, hw, batch=b, context=2048, devices=8).tokens_per_s_per_user
        for b in (1, 8, 64, 256)
    ]
    assert all(a > b for a, b in zip(per_user, per_user[1:], strict=False))


@pytest.mark.parametrize("hw", list(PROFILES))
def test_longer_context_slows_decode(hw):
    spec, profile = get_spec("llama-3.1-8b"), PROFILES[hw]
    placement = place(spec, profile, batch=8, context=32768)
    steps = [decode_step_s(spec, profile, placement, 8, c) for c in (128, 2048, 32768)]
    assert steps == sorted(steps) and steps[-1] > steps[0]


def test_wafer_decode_is_latency_bound_and_gpu_decode_bandwidth_bound():
    spec = get_spec("llama-3.1-8b")
    cs3 = PROFILES["cs3"]
    step = decode_step_s(spec, cs3, place(spec, cs3), 1, 1024)
    # reading the weights once at SRAM bandwidth is a small part of a wafer's step
    assert spec.weight_bytes / cs3.memory_bandwidth < 0.01 * step
    h100 = PROFILES["h100"]
    gpu_step = decode_step_s(spec, h100, place(spec, h100), 1, 1024)
    # every weight but the embedding table (a gather of one row) streams from HBM
    read = (spec.params - spec.embedding_params) * spec.dtype_bytes
    bound = read / (h100.memory_bandwidth * h100.memory_efficiency)
    assert bound < gpu_step < 1.1 * bound


def test_cached_prompt_tokens_shorten_prefill():
    spec, h100 = get_spec("llama-3.1-70b"), PROFILES["h100"]
    placement = place(spec, h100)
    cold = prefill_s(spec, h100, placement, [2000], [0])
    warm = prefill_s(spec, h100, placement, [200], [1800])
    assert warm < cold / 3
    assert prefill_s(spec, h100, placement, [0]) == 0.0


def test_longer_prompt_longer_ttft_and_derived_figures_consistent():
    short = project("llama-3.1-70b", "h100", batch=4, context=4096, prompt_tokens=256)
    long = project("llama-3.1-70b", "h100", batch=4, context=4096, prompt_tokens=4096)
    assert long.ttft_s > short.ttft_s > 0
    assert long.aggregate_tokens_per_s == pytest.approx(4 * long.tokens_per_s_per_user)
    assert long.energy_j_per_token == pytest.approx(long.devices * 700 * long.decode_step_s / 4)
    assert long.usd_per_million_tokens > 0


def test_cost_matches_the_seed_discussions_arithmetic_and_is_none_without_a_price():
    # seed discussion: 4 CS-3 at batch 1 cost about $250 per million tokens
    p = project("llama-3.1-70b", "cs3", batch=1, context=1024)
    assert 200 < p.usd_per_million_tokens < 300
    assert project("llama-3.1-8b", "h200").usd_per_million_tokens is None


def test_bad_inputs_are_typed_errors():
    with pytest.raises(HardwareError, match="accepted: cs3"):
        get_profile("tpu-v5")
    with pytest.raises(HardwareError, match="batch"):
        project("llama-3.1-8b", "cs3", batch=0)
    with pytest.raises(HardwareError, match="unknown model"):
        project("mystery-13b", "cs3")
    with pytest.raises(HardwareError, match="prompt_tokens"):
        project("llama-3.1-8b", "cs3", prompt_tokens=0)


def test_wafer_layer_pipeline_keeps_per_user_speed_as_batch_grows():
    # every layer computes on its own patch of the wafer, so micro-batches fill the layer
    # pipeline: batch 64 costs a wafer little per-user speed, while a GPU's falls
    wafer = [project("llama-3.1-70b", "cs3", batch=b, devices=5) for b in (1, 64)]
    assert wafer[1].tokens_per_s_per_user > 0.9 * wafer[0].tokens_per_s_per_user
    assert wafer[1].aggregate_tokens_per_s > 50 * wafer[0].aggregate_tokens_per_s
    gpu = [project("llama-3.1-70b", "h100", batch=b, devices=4) for b in (1, 64)]
    assert gpu[1].tokens_per_s_per_user < 0.9 * gpu[0].tokens_per_s_per_user


def test_huge_batches_become_compute_bound_even_on_a_wafer():
    spec, cs3 = get_spec("llama-3.1-8b"), PROFILES["cs3"]
    placement = place(spec, cs3, devices=1)
    big = 1 << 16
    step = decode_step_s(spec, cs3, placement, big, 128)
    # aggregate throughput cannot beat the wafer's dense peak at the assumed efficiency
    ceiling = cs3.peak_flops * cs3.compute_efficiency / spec.matmul_flops_per_token
    assert big / step <= ceiling * 1.001
    assert big / step > 0.5 * ceiling
