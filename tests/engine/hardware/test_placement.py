"""Placement: device counts from memory arithmetic, splits, and whether a model fits."""

from __future__ import annotations

import pytest
from thinkfast.engine.errors import HardwareError
from thinkfast.engine.hardware import PROFILES, get_spec, place


def test_llama_70b_bf16_needs_four_cs3_wafers_and_8b_one():
    cs3 = PROFILES["cs3"]
    p70 = place(get_spec("llama-3.1-70b"), cs3, batch=1, context=8192)
    assert (p70.devices, p70.stages, p70.tensor_parallel, p70.fits) == (4, 4, 1.0, True)
    # the arithmetic, not a table: 3 wafers' usable SRAM is less than the weights
    assert 3 * cs3.usable_bytes < p70.weight_bytes < 4 * cs3.usable_bytes
    p8 = place(get_spec("llama-3.1-8b"), cs3, batch=1, context=8192)
    assert (p8.devices, p8.fits) == (1, True)


def test_more_kv_cache_needs_more_wafers():
    spec, cs3 = get_spec("llama-3.1-70b"), PROFILES["cs3"]
    counts = [place(spec, cs3, batch=b, context=8192).devices for b in (1, 16, 64)]
    assert counts == sorted(counts) and counts[-1] > counts[0]


def test_gpu_uses_tensor_parallelism_then_pipeline_nodes():
    h100 = PROFILES["h100"]
    assert place(get_spec("llama-3.1-8b"), h100).tensor_parallel == 1
    p70 = place(get_spec("llama-3.1-70b"), h100)
    assert (p70.devices, p70.stages, p70.tensor_parallel) == (2, 1, 2.0)
    p405 = place(get_spec("llama-3.1-405b"), h100)  # 811 GB > one node's 8 x 72 GB
    assert (p405.tensor_parallel, p405.stages, p405.devices) == (8.0, 2, 16)
    assert place(get_spec("llama-3.1-405b"), PROFILES["h200"]).devices == 8


def test_lpu_spreads_layers_over_many_chips():
    p = place(get_spec("llama-2-70b"), PROFILES["groq"])
    assert (
        p.stages == 80
        and p.tensor_parallel > 1
        and p.devices == pytest.approx(p.stages * p.tensor_parallel)
    )
    assert p.devices * PROFILES["groq"].usable_bytes >= p.weight_bytes


def test_forced_device_count_that_is_too_small_does_not_fit():
    p = place(get_spec("llama-3.1-70b"), PROFILES["cs3"], devices=2)
    assert not p.fits and "usable" in p.reason
    assert not place(get_spec("llama-3.1-70b"), PROFILES["h100"], devices=1).fits


@pytest.mark.parametrize("batch", [0, -3])
def test_non_positive_batch_is_a_typed_error(batch):
    with pytest.raises(HardwareError, match="batch must be a positive integer"):
        place(get_spec("llama-3.1-8b"), PROFILES["cs3"], batch=batch)


def test_non_positive_context_and_devices_are_typed_errors():
    with pytest.raises(HardwareError, match="context"):
        place(get_spec("llama-3.1-8b"), PROFILES["cs3"], context=0)
    with pytest.raises(HardwareError, match="devices"):
        place(get_spec("llama-3.1-8b"), PROFILES["cs3"], devices=0)
