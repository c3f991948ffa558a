"""Placement: how many devices a model needs on a profile, how it is split, and if it fits.

Memory a deployment must hold, for `B` sequences of up to `c` positions:

    need = W + KV + A_dev * D
    W    = params * dtype_bytes                               (weights, once)
    KV   = B * c * 2 * L * h_kv * d_h * dtype_bytes            (K and V cache)
    A_dev = max(B, ACTIVATION_TOKENS) * (2*d + 2*f) * dtype_bytes
           (one layer's activations for the tokens in flight, on every device)

and a device offers `memory_bytes * memory_usable_fraction` of it. By kind:

- wafer: layers are pipelined across wafers and only the hidden state crosses between
  them (`tensor_parallel = 1`), so `D = ceil(need / usable)`; it fits while every stage
  holds at least one whole layer (D <= L) and D <= the largest cluster built.
- lpu: chips are filled the same way, `D = ceil(need / usable)`; `stages = min(D, L)` and
  a layer spans `D / stages` chips (tensor-parallel inside the layer group).
- gpu: the smallest tensor-parallel degree tp in 1, 2, 4, 8 (dividing the head count)
  whose per-GPU share fits one GPU; beyond one node, tp = 8 and whole nodes are added
  as pipeline stages. KV heads are replicated when tp exceeds them.
- cpu: one device; it fits or it does not.

For Llama 3.1 70B at 16 bits: W = 141.1 GB, and one CS-3 offers 44 GB x 0.85 = 37.4 GB,
so D = ceil(141.1 / 37.4 + ...) = 4 wafers; for 8B, W = 16.1 GB -> 1 wafer.
"""

from __future__ import annotations

import math
import numbers

from pydantic import BaseModel, ConfigDict

from ..errors import HardwareError
from .model_spec import ModelSpec
from .profiles import HardwareProfile

__all__ = ["Placement", "place", "ACTIVATION_TOKENS"]

# ASSUMED: tokens whose activations are live at once in one layer: a prefill chunk of 512
# (vLLM's chunked-prefill default of max_num_batched_tokens) or the decode batch, if larger.
ACTIVATION_TOKENS = 512
_TP_DEGREES = (1, 2, 4, 8, 16, 32, 64)


class Placement(BaseModel):
    """Where a model lives on a profile for a given batch and context."""

    model_config = ConfigDict(frozen=True)

    hardware: str
    model: str
    batch: int
    context: int
    devices: int
    stages: int  # pipeline stages (layer groups) in sequence
    tensor_parallel: float  # devices sharing one layer (fractional on LPUs: an average)
    fits: bool
    reason: str  # why it does not fit, or how it is split
    weight_bytes: float
    kv_bytes: float
    activation_bytes: float  # per device
    bytes_per_device: float
    usable_bytes_per_device: float


def _kv_bytes(spec: ModelSpec, batch: int, context: int, tp: float = 1.0) -> float:
    """KV cache bytes per device: KV heads split over tp, replicated beyond their count."""
    share = math.ceil(spec.n_kv_heads / tp) / spec.n_kv_heads if tp > 1 else 1.0
    return batch * context * spec.kv_bytes_per_token * share


def _activation_bytes(spec: ModelSpec, batch: int) -> float:
    tokens = max(batch, ACTIVATION_TOKENS)
    return tokens * (2 * spec.hidden_size + 2 * spec.intermediate_size) * spec.dtype_bytes


def _positive_int(value: object, what: str) -> int:
    # numpy integers are welcome; bools and floats are mistakes worth reporting
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise HardwareError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def place(
    spec: ModelSpec,
    profile: HardwareProfile,
    *,
    batch: int = 1,
    context: int = 2048,
    devices: int | None = None,
) -> Placement:
    """Place `spec` on `profile` for `batch` sequences of `context` positions.

    `devices` forces a device count (a published deployment, e.g. 576 Groq chips); it is
    otherwise the fewest devices that hold weights, KV cache and activations.
    """
    batch = _positive_int(batch, "batch")
    context = _positive_int(context, "context (tokens)")
    if devices is not None:
        devices = _positive_int(devices, "devices")
    W = spec.weight_bytes
    act = _activation_bytes(spec, batch)
    usable = profile.usable_bytes
    L = spec.n_layers

    if profile.kind == "gpu":
        tp, stages = _gpu_split(spec, profile, batch, context, devices)
        per_device = W / (tp * stages) + _kv_bytes(spec, batch, context, tp) / stages + act
        n = tp * stages
    elif profile.kind == "cpu":
        tp, stages, n = 1, 1, 1
        per_device = W + _kv_bytes(spec, batch, context) + act
    else:  # wafer, lpu: fill devices with SRAM
        total = W + _kv_bytes(spec, batch, context)
        n = devices or _fill(total, usable, act, L if profile.kind == "lpu" else None)
        stages = min(n, L) if profile.kind == "lpu" else n
        tp = n / stages
        act = act / tp  # chips sharing a layer share its activations
        per_device = total / n + act

    fits, reason = True, f"{stages} stage(s) x {tp:g} device(s) per layer"
    if per_device > usable * (1 + 1e-9):
        fits, reason = (
            False,
            (f"needs {per_device / 1e9:.1f} GB per device, {usable / 1e9:.1f} GB usable"),
        )
    elif stages > L:
        fits, reason = False, f"{stages} pipeline stages exceed the model's {L} layers"
    elif n > profile.max_devices:
        fits, reason = False, f"{n} devices exceed the largest system ({profile.max_devices})"
    return Placement(
        hardware=profile.name,
        model=spec.name,
        batch=batch,
        context=context,
        devices=int(n),
        stages=int(stages),
        tensor_parallel=float(tp),
        fits=fits,
        reason=reason,
        weight_bytes=W,
        kv_bytes=_kv_bytes(spec, batch, context),
        activation_bytes=act,
        bytes_per_device=per_device,
        usable_bytes_per_device=usable,
    )


def _fill(total: float, usable: float, act: float, layers: int | None) -> int:
    """Fewest SRAM devices holding `total` bytes plus each device's activation share.

    With `layers` given (LPU), devices beyond one per layer split a layer's activations,
    so the count is found by fixed-point iteration (it converges in a few steps).
    """
    n = max(1, math.ceil(total / max(usable - act, 1.0)))
    if layers is None:
        return n
    for _ in range(20):
        share = act * min(1.0, layers / n)
        nxt = max(1, math.ceil(total / max(usable - share, 1.0)))
        if nxt == n:
            break
        n = nxt
    return n


def _gpu_split(
    spec: ModelSpec, profile: HardwareProfile, batch: int, context: int, devices: int | None
) -> tuple[int, int]:
    """(tensor_parallel, pipeline_stages) for a GPU deployment."""
    node = profile.max_tensor_parallel
    degrees = [t for t in _TP_DEGREES if t <= node and spec.n_heads % t == 0]
    if devices is not None:
        tp = max(t for t in degrees if t <= devices and devices % t == 0)
        return tp, devices // tp
    usable = profile.usable_bytes
    act = _activation_bytes(spec, batch)
    for tp in degrees:
        if spec.weight_bytes / tp + _kv_bytes(spec, batch, context, tp) + act <= usable:
            return tp, 1
    tp = degrees[-1]
    room = usable - act
    need = spec.weight_bytes / tp + _kv_bytes(spec, batch, context, tp)
    stages = math.ceil(need / room) if room > 0 else spec.n_layers + 1
    return tp, max(1, stages)
