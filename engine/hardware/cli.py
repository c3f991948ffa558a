"""`thinkfast hw profiles` and `thinkfast hw project`: the emulator from the shell.

`hw project` prints, per (hardware, batch): devices needed, whether the model fits, time
to first token, tokens/s per user, aggregate tokens/s and cost per million tokens; with
`--json` a list of objects with exactly the keys of `Projection.summary()`.
"""

from __future__ import annotations

import argparse
import json

from ..errors import HardwareError
from .calibration import calibration_table
from .profiles import PROFILES, profile_names
from .timing import project

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
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")
    p.set_defaults(func=run_project)

    p = sub.add_parser("calibration", help="published figures beside the emulator's output")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_calibration)


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
    from .profiles import get_profile

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


def run_project(args: argparse.Namespace) -> int:
    hardware = [h.strip() for h in str(args.hardware).split(",") if h.strip()]
    if not hardware:
        raise HardwareError(f"--hardware is empty; accepted: {', '.join(profile_names())}")
    batches = _positive_ints(args.batch, "--batch")
    (context,) = _positive_ints(args.context, "--context")
    projections = [
        project(args.model, h, batch=b, context=context) for h in hardware for b in batches
    ]
    if args.json:
        print(json.dumps([p.summary() for p in projections], indent=1))
        return 0
    print(f"model {projections[0].model}, context {context} tokens")
    print(
        f"{'hardware':<10} {'batch':>5} {'devices':>7} {'fits':>4} {'TTFT':>10} "
        f"{'tok/s/user':>10} {'tok/s total':>11} {'$/M tok':>9}"
    )
    for p in projections:
        usd = "-" if p.usd_per_million_tokens is None else f"{p.usd_per_million_tokens:.3f}"
        print(
            f"{p.hardware:<10} {p.batch:>5} {p.devices:>7} {'yes' if p.fits else 'NO':>4} "
            f"{_fmt_s(p.ttft_s):>10} {p.tokens_per_s_per_user:>10.1f} "
            f"{p.aggregate_tokens_per_s:>11.0f} {usd:>9}"
        )
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
