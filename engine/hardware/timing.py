"""Timing: seconds per prefill and per decode step of a placed model, and what follows.

One equation covers every kind of device; the profile's constants decide which term
binds. Notation: spec (L layers, d hidden, h heads, d_h head dim, V vocab, P_l parameters
per layer, kv_l = 2*h_kv*d_h*b KV bytes per position per layer, b bytes per element);
placement (D devices = S pipeline stages x k devices per layer); profile (peak FLOP/s P,
bandwidth BW, efficiencies eta_c / eta_m, latencies alpha, alpha_d, alpha_ar, hop, link
bandwidth BW_link, host work per forward pass).

Where a layer runs. On a GPU (or CPU) a layer uses all of its k devices, and a stage's
layers run one after another on the same silicon: a pipeline of depth S. On a wafer or
an LPU the weights are pinned in SRAM and a layer computes where its weights are: on a
wafer, its own region of S/L of a wafer's cores and SRAM bandwidth; on an LPU, its k
chips. Every layer is then its own pipeline position: depth L. So

    k_eff = S/L (wafer) or k (GPU, LPU, CPU)        device-equivalents serving one layer
    depth = L (wafer, LPU) or S (GPU, CPU)          positions that hold distinct micro-batches

Decode step for B sequences at mean context c, split into m = min(B, depth) micro-batches
of B_m = B/m sequences in flight at different pipeline positions:

    F_l    = B_m * (2*P_l + 4*h*d_h*c)                          FLOPs of one layer
    M_l    = b*P_l + B_m*(c + 1)*kv_l                           bytes one layer touches
    roof_l = max(F_l / (k_eff*P*eta_c), M_l / (k_eff*BW*eta_m))  per-operator roofline
    AR(k, n) = alpha_ar*ceil(log2 k) + 2*(k-1)/k * n / BW_link   all-reduce of n bytes
    work_l = roof_l + 2*AR(k, B_m*d*b)                          two all-reduces (attn, MLP)
    t_head = max(2*V*d*B_m / (k*P*eta_c), b*V*d / (k*BW*eta_m))
    latency = L*(alpha + alpha_d*d + work_l) + t_head + (S-1)*(hop + B_m*d*b / BW_link)
    busy    = m * ((L/depth) * work_l + t_head / (S if wafer else 1))   the busiest position
    step    = max(latency, busy) + host

- GPUs: alpha is the kernel-launch gap, alpha_d = 0; at batch 1 the bandwidth term
  W / (k*BW*eta_m) dominates and grows with c through the KV reads; as B grows the
  compute term takes over, so per-user speed falls while aggregate speed rises.
- Wafers: alpha + alpha_d*d is the layer's latency on the fabric (the hidden vector's
  broadcast and the partial sums' reduction across the layer's patch of cores); the
  roofline on the layer's own region adds 9-13% at batch 1. Micro-batches fill the
  layer pipeline, so per-user speed holds up with batch until `busy` catches up.
- LPUs: alpha = 0; the chip-to-chip hops inside each layer's tree all-reduce
  (alpha_ar = 2*hop per level) and between layer groups are what bind.
- host: 0 for accelerators (the calibration figures come from compiled, graph-captured
  stacks whose host work overlaps the device); measured for `local-cpu`.

Prefill of sequences with T_i new tokens after c_i cached ones (prompt caching skips
the compute of cached positions, not the attention over them):

    F_l = 2*P_l*sum(T_i) + 4*h*d_h*sum(T_i*c_i + T_i^2/2)
    M_l = b*P_l + kv_l*sum(c_i + T_i)
    prefill = L*(alpha + alpha_d*d + 2*AR(k, sum(T_i)*d*b)) + L*roof_l / overlap
              + t_head(one position per sequence) + (S-1)*hop + host
    overlap = min(depth, ceil(sum(T_i) / chunk))   chunks fill the pipeline; chunk = 1 token
              on wafers and LPUs (activations stream between layer regions), else 512

Derived: TTFT = prefill of the prompts (the first token is sampled from its logits);
inter-token latency = step; tokens/s per user = 1/step; aggregate = B/step; energy per
token = D * power * step / B; cost per million tokens = D * usd_per_device_hour /
(3600 * aggregate) * 1e6 (amortised capital plus power, see profiles.py).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from ..errors import HardwareError
from .model_spec import ModelSpec, get_spec
from .placement import ACTIVATION_TOKENS, Placement, _positive_int, place
from .profiles import HardwareProfile, get_profile

__all__ = ["decode_step_s", "prefill_s", "Projection", "project"]


def _ceil_log2(k: float) -> int:
    return math.ceil(math.log2(k) - 1e-9) if k > 1 else 0


def _allreduce_s(profile: HardwareProfile, k: float, nbytes: Any) -> Any:
    if k <= 1:
        return 0.0 * nbytes
    return (
        profile.allreduce_latency_s * _ceil_log2(k)
        + 2 * (k - 1) / k * nbytes / profile.link_bandwidth
    )


def _roof(profile: HardwareProfile, k: float, flops: Any, nbytes: Any) -> Any:
    compute = flops / (k * profile.peak_flops * profile.compute_efficiency)
    memory = nbytes / (k * profile.memory_bandwidth * profile.memory_efficiency)
    return np.maximum(compute, memory)


def _layer_latency(spec: ModelSpec, profile: HardwareProfile) -> float:
    return profile.layer_latency_s + profile.layer_latency_per_hidden_s * spec.hidden_size


def _pipeline(spec: ModelSpec, profile: HardwareProfile, placement: Placement) -> tuple[float, int]:
    """(k_eff, depth): device-equivalents serving one layer, and pipeline positions."""
    if profile.kind == "wafer":
        return placement.stages / spec.n_layers, spec.n_layers
    if profile.kind == "lpu":
        return placement.tensor_parallel, spec.n_layers
    return placement.tensor_parallel, placement.stages


def decode_step_s(
    spec: ModelSpec, profile: HardwareProfile, placement: Placement, batch: Any, context: Any
) -> Any:
    """Seconds of one decode step for `batch` sequences at mean `context` (arrays allowed)."""
    B = np.asarray(batch, dtype=float)
    c = np.asarray(context, dtype=float)
    if np.any(B <= 0):
        raise HardwareError(f"batch must be positive, got {batch!r}")
    if np.any(c < 0):
        raise HardwareError(f"context must be non-negative, got {context!r}")
    k, S, b, d = placement.tensor_parallel, placement.stages, spec.dtype_bytes, spec.hidden_size
    L = spec.n_layers
    k_eff, depth = _pipeline(spec, profile, placement)
    m = np.minimum(B, depth)
    Bm = B / m
    kv_l = spec.kv_bytes_per_token / L
    flops_l = Bm * (2 * spec.layer_params + spec.layer_attention_flops(c))
    bytes_l = spec.layer_weight_bytes + Bm * (c + 1) * kv_l
    work_l = _roof(profile, k_eff, flops_l, bytes_l) + 2 * _allreduce_s(profile, k, Bm * d * b)
    t_head = _roof(profile, k, 2 * spec.lm_head_params * Bm, spec.lm_head_params * b)
    hops = (S - 1) * (profile.hop_latency_s + Bm * d * b / profile.link_bandwidth)
    latency = L * (_layer_latency(spec, profile) + work_l) + t_head + hops
    # the lm_head runs on the last stage, or on a wafer spread over every layer's region
    head_share = S if profile.kind == "wafer" else 1
    busy = m * ((L / depth) * work_l + t_head / head_share)
    out = np.maximum(latency, busy) + profile.step_overhead_s
    return float(out) if np.ndim(out) == 0 else out


def prefill_s(
    spec: ModelSpec,
    profile: HardwareProfile,
    placement: Placement,
    new_tokens: Any,
    cached_tokens: Any = 0,
) -> float:
    """Seconds to prefill sequences of `new_tokens` after `cached_tokens` (per sequence)."""
    T = np.atleast_1d(np.asarray(new_tokens, dtype=float))
    c = np.broadcast_to(np.atleast_1d(np.asarray(cached_tokens, dtype=float)), T.shape)
    if np.any(T < 0) or np.any(c < 0):
        raise HardwareError("token counts must be non-negative")
    total = float(T.sum())
    if total == 0:
        return 0.0
    k, S, b, d = placement.tensor_parallel, placement.stages, spec.dtype_bytes, spec.hidden_size
    kv_l = spec.kv_bytes_per_token / spec.n_layers
    # query t of a sequence attends over c + t positions: summed, T*c + T^2/2
    flops_l = 2 * spec.layer_params * total + spec.layer_attention_flops(
        float(np.sum(T * c + T * T / 2))
    )
    bytes_l = spec.layer_weight_bytes + kv_l * float(np.sum(c + T))
    k_eff, depth = _pipeline(spec, profile, placement)
    # dataflow devices stream tokens one by one from layer region to layer region; GPUs
    # move chunks of prompt between pipeline stages
    chunk = 1 if profile.kind in ("wafer", "lpu") else ACTIVATION_TOKENS
    overlap = min(depth, math.ceil(total / chunk))
    seqs = int(np.count_nonzero(T))
    t_head = _roof(profile, k, 2 * spec.lm_head_params * seqs, spec.lm_head_params * b)
    fixed = _layer_latency(spec, profile) + 2 * _allreduce_s(profile, k, total * d * b)
    hops = (S - 1) * (profile.hop_latency_s + total * d * b / profile.link_bandwidth / overlap)
    out = spec.n_layers * fixed + spec.n_layers * _roof(profile, k_eff, flops_l, bytes_l) / overlap
    return float(out + t_head + hops + profile.step_overhead_s)


class Projection(BaseModel):
    """What one (model, hardware, batch, context) costs: the figures `hw project` prints."""

    model_config = ConfigDict(frozen=True)

    hardware: str
    model: str
    batch: int
    context: int
    devices: int
    fits: bool
    placement: Placement
    ttft_s: float
    decode_step_s: float
    tokens_per_s_per_user: float
    aggregate_tokens_per_s: float
    energy_j_per_token: float
    usd_per_million_tokens: float | None

    @property
    def inter_token_latency_s(self) -> float:
        """Seconds between two tokens of one user's stream (one decode step)."""
        return self.decode_step_s

    def summary(self) -> dict[str, Any]:
        """The keys of `thinkfast hw project --json`."""
        return {
            "hardware": self.hardware,
            "model": self.model,
            "batch": self.batch,
            "devices": self.devices,
            "fits": self.fits,
            "ttft_s": self.ttft_s,
            "tokens_per_s_per_user": self.tokens_per_s_per_user,
            "aggregate_tokens_per_s": self.aggregate_tokens_per_s,
            "usd_per_million_tokens": self.usd_per_million_tokens,
        }


def project(
    model: str | Path | dict[str, Any] | ModelSpec,
    hardware: str | HardwareProfile,
    *,
    batch: int = 1,
    context: int = 2048,
    prompt_tokens: int | None = None,
    devices: int | None = None,
) -> Projection:
    """Project `model` onto `hardware` serving `batch` users at `context` tokens each.

    TTFT is the prefill of `batch` prompts of `prompt_tokens` (default: `context`) that
    arrive together; decode speed is measured at `context` positions.
    """
    spec = get_spec(model)
    profile = get_profile(hardware)
    placement = place(spec, profile, batch=batch, context=context, devices=devices)
    prompt = context if prompt_tokens is None else _positive_int(prompt_tokens, "prompt_tokens")
    ttft = prefill_s(spec, profile, placement, np.full(batch, prompt))
    step = decode_step_s(spec, profile, placement, batch, context)
    aggregate = batch / step
    rate = profile.usd_per_device_hour
    return Projection(
        hardware=profile.name,
        model=spec.name,
        batch=batch,
        context=context,
        devices=placement.devices,
        fits=placement.fits,
        placement=placement,
        ttft_s=ttft,
        decode_step_s=step,
        tokens_per_s_per_user=1.0 / step,
        aggregate_tokens_per_s=aggregate,
        energy_j_per_token=placement.devices * profile.power_w * step / batch,
        usd_per_million_tokens=(
            None if rate is None else placement.devices * rate / (3600 * aggregate) * 1e6
        ),
    )
