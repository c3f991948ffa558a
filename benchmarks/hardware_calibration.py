"""Calibration of the hardware emulator, side by side in one run.

1. Published single-stream decode speeds (shared/reference/hardware.md) beside the
   emulator's output for the same model, device count and batch 1, with the ratio.
2. Out-of-sample checks the emulator was not fitted to: the seed discussion's cost
   arithmetic, and this machine's `local-cpu` profile against the real LocalEngine's
   wall time on the same calls.

Run: OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/hardware_calibration.py [model_dir]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from thinkfast.engine import GenerationRequest, LocalEngine
from thinkfast.engine.hardware import calibration_table, fit_constants, get_spec, project

ROOT = Path(__file__).resolve().parent.parent
# the shipped model when its folder is there, else the committed tiny test checkpoint
DEFAULT_MODEL = next(
    p
    for p in (
        ROOT / "engine/models/arith-tiny",
        ROOT / "tests/engine/fixtures/llama-gqa-llama3-bf16",
    )
    if (p / "config.json").is_file()
)


def published_figures() -> None:
    print("### Published single-stream decode speed vs emulator (batch 1, 1,024 positions)\n")
    print(
        "| hardware | model | devices | published tok/s | emulator tok/s | ratio | error | fitted |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in calibration_table():
        ratio = r["model_tokens_per_s"] / r["published_tokens_per_s"]
        print(
            f"| {r['hardware']} | {r['model']} | {r['devices']} | {r['published_tokens_per_s']:,.1f} "
            f"| {r['model_tokens_per_s']:,.1f} | {ratio:.3f} | {r['error']:+.1%} "
            f"| {'yes' if r['fitted'] else 'no'} |"
        )
    print("\nfitted constants:", {k: f"{v:.4g}" for k, v in fit_constants().items()})


def h100_deployments() -> None:
    print("\n### Which H100 deployment gives the quoted 242 tok/s for Llama 3.1 8B?\n")
    print("| deployment | emulator tok/s | ratio to 242 |")
    print("|---|---|---|")
    spec = get_spec("llama-3.1-8b")
    for label, model, devices in [
        ("1 x H100, bf16", spec, 1),
        ("1 x H100, 8-bit weights and KV", spec.with_dtype_bytes(1), 1),
        ("2 x H100, bf16, tensor-parallel", spec, 2),
        ("4 x H100, bf16, tensor-parallel", spec, 4),
    ]:
        tps = project(model, "h100", batch=1, context=1024, devices=devices).tokens_per_s_per_user
        print(f"| {label} | {tps:,.1f} | {tps / 242:.2f} |")


def seed_cost() -> None:
    p = project("llama-3.1-70b", "cs3", batch=1, context=1024)
    print("\n### Seed-discussion cost check (4 x CS-3, Llama 3.1 70B, batch 1)\n")
    print(
        f"emulator: ${p.usd_per_million_tokens:,.0f} per million tokens; "
        f"seed discussion's estimate: $250; ratio {p.usd_per_million_tokens / 250:.2f}"
    )


def local_cpu(model_dir: Path) -> None:
    print(f"\n### local-cpu profile vs the real LocalEngine ({model_dir.name})\n")
    engine = LocalEngine(model_dir, hardware=("local-cpu",))
    engine.generate_sync([GenerationRequest(prompt="warm up", max_tokens=4)])
    print("| n | max_tokens | wall s | emulated local-cpu s | emulated / wall |")
    print("|---|---|---|---|---|")
    for n, max_tokens in [(1, 64), (8, 64), (32, 64)]:
        req = GenerationRequest(
            prompt="Compute 12 * 34 = ?", n=n, max_tokens=max_tokens, temperature=1.0, seed=0
        )
        t0 = time.perf_counter()
        (gen,) = engine.generate_sync([req])
        wall = time.perf_counter() - t0
        emu = gen.timing.emulated["local-cpu"]
        print(f"| {n} | {max_tokens} | {wall:.4f} | {emu:.4f} | {emu / wall:.2f} |")


def main() -> int:
    published_figures()
    h100_deployments()
    seed_cost()
    local_cpu(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_MODEL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
