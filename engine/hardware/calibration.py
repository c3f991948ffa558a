"""Calibration: the published single-stream figures, the emulator's output beside them,
and the solver for the three constants fitted to them.

Figures are from `shared/reference/hardware.md` (sources named per row). Fitted:
`WAFER_LAYER_LATENCY_S` and `WAFER_LAYER_LATENCY_PER_HIDDEN_S` to the two Cerebras rows,
`LPU_HOP_S` to the Groq row. The H100 and A100 rows are predictions from sourced and
estimated constants only (no constant was fitted to them).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from .model_spec import get_spec
from .placement import place
from .profiles import PROFILES, HardwareProfile
from .timing import decode_step_s

__all__ = [
    "CalibrationPoint",
    "CALIBRATION",
    "CALIBRATION_CONTEXT",
    "calibration_table",
    "fit_constants",
]

# ASSUMED: published single-stream speeds come from short chat prompts; decode is
# evaluated at 1,024 positions (the KV term is < 1% of a step for every row at this size).
CALIBRATION_CONTEXT = 1024


class CalibrationPoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    hardware: str
    model: str
    devices: int | None  # None: as many as placement says
    tokens_per_s: float
    source: str
    note: str = ""
    fitted: bool = False


CALIBRATION: tuple[CalibrationPoint, ...] = (
    CalibrationPoint(
        hardware="cs3",
        model="llama-3.1-8b",
        devices=None,
        tokens_per_s=1800,
        source='Cerebras "Introducing Cerebras Inference" (Aug 2024)',
        note="1 wafer from placement",
        fitted=True,
    ),
    CalibrationPoint(
        hardware="cs3",
        model="llama-3.1-70b",
        devices=None,
        tokens_per_s=450,
        source="Cerebras launch; The Register",
        note="4 wafers from placement, layers pipelined",
        fitted=True,
    ),
    CalibrationPoint(
        hardware="h100",
        model="llama-3.1-8b",
        devices=2,
        tokens_per_s=242,
        source="The Register (best H100 deployment quoted by Cerebras)",
        note="modelled as bf16, tensor-parallel over 2 H100s (one H100 caps at ~145 tok/s)",
    ),
    CalibrationPoint(
        hardware="groq",
        model="llama-2-70b",
        devices=576,
        tokens_per_s=300,
        source="TechPowerUp",
        note="published 576-chip system",
        fitted=True,
    ),
    CalibrationPoint(
        hardware="a100",
        model="llama-2-7b",
        devices=1,
        tokens_per_s=104.9,
        source="pytorch-labs gpt-fast README",
        note="batch 1, bf16",
    ),
)


def predicted_tokens_per_s(
    point: CalibrationPoint, profile: HardwareProfile | None = None
) -> float:
    """Single-stream decode speed the emulator gives for one calibration row."""
    profile = profile or PROFILES[point.hardware]
    spec = get_spec(point.model)
    placement = place(spec, profile, batch=1, context=CALIBRATION_CONTEXT, devices=point.devices)
    return 1.0 / decode_step_s(spec, profile, placement, 1, CALIBRATION_CONTEXT)


def calibration_table() -> list[dict[str, object]]:
    """One row per published figure: figure, model output, relative error, devices."""
    rows = []
    for point in CALIBRATION:
        profile = PROFILES[point.hardware]
        spec = get_spec(point.model)
        placement = place(
            spec, profile, batch=1, context=CALIBRATION_CONTEXT, devices=point.devices
        )
        got = predicted_tokens_per_s(point)
        rows.append(
            {
                "hardware": point.hardware,
                "model": point.model,
                "devices": placement.devices,
                "published_tokens_per_s": point.tokens_per_s,
                "model_tokens_per_s": got,
                "error": got / point.tokens_per_s - 1,
                "fitted": point.fitted,
                "note": point.note,
                "source": point.source,
            }
        )
    return rows


def _step_s(point: CalibrationPoint, **update: float) -> float:
    return 1.0 / predicted_tokens_per_s(point, PROFILES[point.hardware].model_copy(update=update))


def fit_constants() -> dict[str, float]:
    """Solve the fitted constants from the calibration figures (the step is linear in each).

    Wafer: step = rest + L*alpha + L*d*alpha_d, two rows, two unknowns. LPU: step = rest +
    n_hops*hop with the all-reduce latency tied to 2*hop, one row, one unknown.
    """
    wafer = [p for p in CALIBRATION if p.hardware == "cs3"]
    zero = {"layer_latency_s": 0.0, "layer_latency_per_hidden_s": 0.0}
    A, y = [], []
    for p in wafer:
        rest = _step_s(p, **zero)
        a0 = _step_s(p, layer_latency_s=1e-6, layer_latency_per_hidden_s=0.0) - rest
        a1 = _step_s(p, layer_latency_s=0.0, layer_latency_per_hidden_s=1e-9) - rest
        A.append([a0 / 1e-6, a1 / 1e-9])
        y.append(1.0 / p.tokens_per_s - rest)
    alpha, alpha_d = np.linalg.solve(np.array(A), np.array(y))

    groq = next(p for p in CALIBRATION if p.hardware == "groq")
    rest = _step_s(groq, hop_latency_s=0.0, allreduce_latency_s=0.0)
    per_us = _step_s(groq, hop_latency_s=1e-6, allreduce_latency_s=2e-6) - rest
    hop = (1.0 / groq.tokens_per_s - rest) / (per_us / 1e-6)
    return {
        "WAFER_LAYER_LATENCY_S": float(alpha),
        "WAFER_LAYER_LATENCY_PER_HIDDEN_S": float(alpha_d),
        "LPU_HOP_S": float(hop),
    }
