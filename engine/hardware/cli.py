"""`thinkfast hw profiles|project|breakeven|calibration`: the emulator from the shell.

`hw project` prints, per (hardware, batch): devices needed, whether the model fits, time
to first token, tokens/s per user, aggregate tokens/s, energy per token and cost per
million tokens; with `--json` a list of objects with the keys of `Projection.summary()`
plus `energy_j_per_token` (the cost honours the pricing flags). `hw breakeven` answers
the smallest batch at which a system's cost per million tokens falls to a price.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from ..errors import HardwareError
from .calibration import calibration_table
from .economics import DTYPES, Pricing, break_even, context_warning, spec_at_dtype
from .model_spec import ModelSpec, get_spec
from .profiles import PROFILES, get_profile, profile_names
from .timing import Projection, project

__all__ = ["add_commands"]


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    hw = subparsers.add_parser(
        "hw",
        help="hardware emulator: profiles and projections",
        description="Project a model's inference onto wafer-scale chips, LPUs and GPUs.",
    )
    sub = hw.add_subparsers(dest="hw_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser("profiles", help="list the hardware profiles and their key figures")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.add_argument("--probe", action="store_true", help="include local-cpu (runs the probe)")
    p.set_defaults(func=run_profiles)

    p = sub.add_parser("project", help="project a model onto hardware at several batch sizes")
    p.add_argument("--model", "-m", required=True, help="bundled spec name or config.json path")
    p.add_argument("--hardware", default="cs3,h100,groq", help="comma-separated profiles")
    p.add_argument("--batch", default="1", help="comma-separated batch sizes, e.g. 1,8,64")
    p.add_argument("--context", default="2048", help="context length in tokens")
    _deployment_options(p)
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")
    p.set_defaults(func=run_project)

    p = sub.add_parser(
        "breakeven",
        help="smallest batch at which a system's cost per million tokens falls to a price",
        description="Search batch sizes for the first whose cost per million output tokens "
        "is at most --price; say the cheapest point when none is.",
    )
    p.add_argument("--model", "-m", required=True, help="bundled spec name or config.json path")
    p.add_argument("--hardware", default="cs3", help="comma-separated profiles")
    p.add_argument("--price", required=True, help="USD per million output tokens, e.g. 0.60")
    p.add_argument("--context", default="2048", help="context length in tokens")
    _deployment_options(p)
    p.add_argument("--max-batch", default="100000", help="largest batch to search (default 100000)")
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")
    p.set_defaults(func=run_breakeven)

    p = sub.add_parser("calibration", help="published figures beside the emulator's output")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_calibration)


def _deployment_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dtype",
        help=f"serving precision of weights and KV cache: {', '.join(DTYPES)} "
        "(default: the model's own, 16-bit for bundled specs)",
    )
    p.add_argument(
        "--devices",
        help="fixed device count per system instead of the fewest that fit (an error "
        "when that many cannot hold the model)",
    )
    p.add_argument("--usd-per-device", help="purchase price per device (amortised over 3 years)")
    p.add_argument("--usd-per-hour", help="all-in price per device-hour (e.g. a cloud rental)")
    p.add_argument(
        "--utilisation",
        default="1",
        help="fraction of hours the system serves, in (0, 1]; cost divides by it (default 1)",
    )


def _positive_float(text: str | None, what: str) -> float | None:
    if text is None:
        return None
    try:
        value = float(str(text).strip().lstrip("$"))
    except ValueError:
        raise HardwareError(f"{what} must be a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise HardwareError(f"{what} must be a positive number, got {text!r}")
    return value


def _deployment(args: argparse.Namespace) -> tuple[ModelSpec, int | None, Pricing]:
    """The spec at the asked precision, the fixed device count and the pricing."""
    spec = spec_at_dtype(get_spec(args.model), args.dtype)
    devices = None if args.devices is None else _positive_ints(args.devices, "--devices")[0]
    if args.usd_per_device is not None and args.usd_per_hour is not None:
        raise HardwareError("give --usd-per-device or --usd-per-hour, not both")
    utilisation = _positive_float(args.utilisation, "--utilisation")
    if utilisation > 1:
        raise HardwareError(f"--utilisation must be in (0, 1], got {args.utilisation}")
    pricing = Pricing(
        usd_per_device=_positive_float(args.usd_per_device, "--usd-per-device"),
        usd_per_hour=_positive_float(args.usd_per_hour, "--usd-per-hour"),
        utilisation=utilisation,
    )
    return spec, devices, pricing


def _warn_context(spec: ModelSpec, context: int) -> None:
    note = context_warning(spec, context)
    if note:
        print(f"thinkfast: warning: {note}", file=sys.stderr)


def _hardware(text: str) -> list[str]:
    hardware = [h.strip() for h in str(text).split(",") if h.strip()]
    if not hardware:
        raise HardwareError(f"--hardware is empty; accepted: {', '.join(profile_names())}")
    return hardware


def _dtype_label(spec: ModelSpec, asked: str | None) -> str:
    name = asked.strip().lower() if asked else f"{8 * spec.dtype_bytes:g}-bit"
    unit = "byte" if spec.dtype_bytes == 1 else "bytes"
    return f"{name}: {spec.dtype_bytes:g} {unit} per weight and KV element"


def _positive_ints(text: str, what: str) -> list[int]:
    values = []
    for part in str(text).split(","):
        try:
            value = int(part.strip())
        except ValueError:
            raise HardwareError(f"{what} must be positive integers, got {part.strip()!r}") from None
        if value <= 0:
            raise HardwareError(f"{what} must be positive integers, got {value}")
        values.append(value)
    return values


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def run_profiles(args: argparse.Namespace) -> int:
    names = profile_names() if args.probe else list(PROFILES)
    rows = [get_profile(n).key_figures() for n in names]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'name':<10} {'kind':<6} {'memory':<16} {'TB/s':>8} {'TFLOP/s':>9} {'W':>7}  title")
    for r in rows:
        print(
            f"{r['name']:<10} {r['kind']:<6} {r['memory']:<16} {r['bandwidth_tb_s']:>8.2f} "
            f"{r['peak_tflops_16bit']:>9.0f} {r['power_w']:>7.0f}  {r['title']}"
        )
    if not args.probe:
        print("local-cpu  (measured on first use; --probe to include it)")
    return 0


def _row(p: Projection, pricing: Pricing) -> dict:
    usd = pricing.usd_per_million_tokens(
        get_profile(p.hardware), p.devices, p.aggregate_tokens_per_s
    )
    return {
        **p.summary(),
        "usd_per_million_tokens": usd,
        "energy_j_per_token": p.energy_j_per_token,
    }


def run_project(args: argparse.Namespace) -> int:
    hardware = _hardware(args.hardware)
    batches = _positive_ints(args.batch, "--batch")
    (context,) = _positive_ints(args.context, "--context")
    spec, devices, pricing = _deployment(args)
    _warn_context(spec, context)
    projections = [
        project(spec, h, batch=b, context=context, devices=devices)
        for h in hardware
        for b in batches
    ]
    if devices is not None:  # a fixed system must at least hold the smallest batch asked
        for p in projections:
            if p.batch == min(batches) and not p.fits:
                fewest = project(spec, p.hardware, batch=p.batch, context=context).devices
                raise HardwareError(
                    f"{devices} x {p.hardware} cannot hold {spec.name} at batch {p.batch}, "
                    f"context {context}: {p.placement.reason}; the fewest that fit: {fewest}"
                )
    rows = [_row(p, pricing) for p in projections]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"model {spec.name} ({_dtype_label(spec, args.dtype)}), context {context} tokens")
    print(
        f"{'hardware':<10} {'batch':>5} {'devices':>7} {'fits':>4} {'TTFT':>10} "
        f"{'tok/s/user':>10} {'tok/s total':>11} {'J/tok':>8} {'$/M tok':>9}"
    )
    for p, r in zip(projections, rows, strict=True):
        usd = r["usd_per_million_tokens"]
        print(
            f"{p.hardware:<10} {p.batch:>5} {p.devices:>7} {'yes' if p.fits else 'NO':>4} "
            f"{_fmt_s(p.ttft_s):>10} {p.tokens_per_s_per_user:>10.1f} "
            f"{p.aggregate_tokens_per_s:>11.0f} {_fmt_j(p.energy_j_per_token):>8} "
            f"{'-' if usd is None else f'{usd:.3f}':>9}"
        )
    for p in projections:
        if not p.fits:
            print(f"NO: {p.hardware} at batch {p.batch}: {p.placement.reason}")
    if pricing.utilisation < 1:
        print(f"cost at {pricing.utilisation:.0%} utilisation (idle hours are paid for)")
    return 0


def _fmt_j(joules: float) -> str:
    return f"{joules:.3g}"


def run_breakeven(args: argparse.Namespace) -> int:
    hardware = _hardware(args.hardware)
    price = _positive_float(args.price, "--price")
    (context,) = _positive_ints(args.context, "--context")
    (max_batch,) = _positive_ints(args.max_batch, "--max-batch")
    spec, devices, pricing = _deployment(args)
    _warn_context(spec, context)
    answers = [
        break_even(
            spec,
            get_profile(h),
            price,
            context=context,
            devices=devices,
            pricing=pricing,
            max_batch=max_batch,
        )
        for h in hardware
    ]
    if args.json:
        print(json.dumps([a.model_dump() for a in answers], indent=1))
        return 0
    for a in answers:
        print(a.sentence())
    return 0


def run_calibration(args: argparse.Namespace) -> int:
    rows = calibration_table()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(
        f"{'hardware':<8} {'model':<14} {'dev':>4} {'published':>9} {'model':>8} {'error':>7}  fitted"
    )
    for r in rows:
        print(
            f"{r['hardware']:<8} {r['model']:<14} {r['devices']:>4} "
            f"{r['published_tokens_per_s']:>9.1f} {r['model_tokens_per_s']:>8.1f} "
            f"{r['error']:>+7.1%}  {'yes' if r['fitted'] else 'no'}"
        )
    return 0
