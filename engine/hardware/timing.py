"""Timing: seconds per prefill and per decode step of a placed model, and what follows.

One equation covers every kind of device; the profile's constants decide which term
binds. Notation: spec (L layers, d hidden, f MLP width, h heads, d_h head dim, V vocab,
P_l parameters per layer, kv_l = 2*h_kv*d_h*b KV bytes per position per layer, b bytes per
element); placement (D devices = S pipeline stages x k devices per layer); profile (peak
FLOP/s P, bandwidth BW, efficiencies eta_c / eta_m, latencies alpha, alpha_d, alpha_ar,
hop, link bandwidth BW_link).

Decode step for B sequences at mean context c (all layers, one new token each):

    F_l   = B * (2*P_l + 4*h*d_h*c)                        FLOPs of one layer
    M_l   = b*P_l + B*(c + 1)*kv_l                          bytes one layer touches
    roof_l = max(F_l / (k*P*eta_c), M_l / (k*BW*eta_m))     per-operator roofline
    AR(k, n) = alpha_ar*ceil(log2 k) + 2*(k-1)/k * n / BW_link     all-reduce of n bytes
    t_l   = alpha + alpha_d*d + roof_l + 2*AR(k, B*d*b)     two all-reduces (attn, MLP)
    t_head = max(2*V*d*B / (k*P*eta_c), b*V*d / (k*BW*eta_m))
    step  = L*t_l + t_head + (S-1)*(hop + B*d*b / BW_link) + host

- GPUs: alpha is the kernel-launch gap, alpha_d = 0; at batch 1 the bandwidth term
  W / (k*BW*eta_m) dominates, and grows with c through the KV reads; as B grows the
  compute term takes over, so per-user speed falls while aggregate speed rises.
- host is the profile's per-forward-pass host work; 0 for accelerators (the calibration
  figures come from compiled, graph-captured stacks whose host work overlaps the device),
  measured for `local-cpu`, where numpy runs one call at a time.
- Wafers (k = 1) and LPUs: weights sit in SRAM, whose bandwidth is so high that roof_l is
  under 1% of a step; what binds is the per-layer fabric latency alpha + alpha_d*d
  (wafers) or the chip-to-chip hops inside each layer's all-reduce and between stages
  (LPUs, alpha_ar = 2*hop).

Prefill of sequences with T_i new tokens after c_i cached ones (prompt caching skips
the compute of cached positions, not the attention over them):

    F_l = 2*P_l*sum(T_i) + 4*h*d_h*sum(T_i*c_i + T_i^2/2)
    M_l = b*P_l + kv_l*sum(c_i + T_i)
    prefill = L*(alpha + alpha_d*d + 2*AR(k, sum(T_i)*d*b)) + L*roof_l / overlap
              + t_head(one position per sequence) + (S-1)*hop + host
    overlap = min(S, ceil(sum(T_i) / ACTIVATION_TOKENS))   chunks keep stages busy

Derived: TTFT = prefill of the prompts (the first token is sampled from its logits);
inter-token latency = step; tokens/s per user = 1/step; aggregate = B/step; energy per
token = D * power * step / B; cost per million tokens = D * usd_per_device_hour /
(3600 * aggregate) * 1e6 (amortised capital plus power, see profiles.py). Pipelined
stages are not micro-batched here, so aggregate throughput on multi-stage deployments is
a lower bound.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from ..errors import HardwareError
from .model_spec import ModelSpec, get_spec
from .placement import ACTIVATION_TOKENS, Placement, place
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
    kv_l = spec.kv_bytes_per_token / spec.n_layers
    flops_l = B * (2 * spec.layer_params + 4 * spec.n_heads * spec.head_dim * c)
    bytes_l = spec.layer_weight_bytes + B * (c + 1) * kv_l
    t_layer = (
        _layer_latency(spec, profile)
        + _roof(profile, k, flops_l, bytes_l)
        + 2 * _allreduce_s(profile, k, B * d * b)
    )
    t_head = _roof(profile, k, 2 * spec.lm_head_params * B, spec.lm_head_params * b)
    hops = (S - 1) * (profile.hop_latency_s + B * d * b / profile.link_bandwidth)
    out = spec.n_layers * t_layer + t_head + hops + profile.step_overhead_s
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
    flops_l = 2 * spec.layer_params * total + 4 * spec.n_heads * spec.head_dim * float(
        np.sum(T * c + T * T / 2)
    )
    bytes_l = spec.layer_weight_bytes + kv_l * float(np.sum(c + T))
    overlap = min(S, math.ceil(total / ACTIVATION_TOKENS))
    seqs = int(np.count_nonzero(T))
    t_head = _roof(profile, k, 2 * spec.lm_head_params * seqs, spec.lm_head_params * b)
    fixed = _layer_latency(spec, profile) + 2 * _allreduce_s(profile, k, total * d * b)
    hops = (S - 1) * (profile.hop_latency_s + total * d * b / profile.link_bandwidth / overlap)
    out = spec.n_layers * fixed + spec.n_layers * _roof(profile, k, flops_l, bytes_l) / overlap
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
    prompt = context if prompt_tokens is None else prompt_tokens
    if not isinstance(prompt, int) or prompt <= 0:
        raise HardwareError(f"prompt_tokens must be a positive integer, got {prompt!r}")
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
