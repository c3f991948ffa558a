"""The `local-cpu` profile: this machine, measured once by a short numpy probe and cached.

Owns the probe (streaming bandwidth from a large array copy, fp32 GEMM FLOP/s, and the
fixed cost of one small numpy call, which is what bounds a tiny model's layers) and its
cache file `$XDG_CACHE_HOME/thinkfast/local-cpu.json` (default `~/.cache/thinkfast/`),
keyed by CPU count and numpy thread setting so a different pinning re-probes. The probe
runs only when `local-cpu` is first asked for, never at import, and takes ~0.3 s.

The figures are achieved rates, not peaks, so the profile's efficiencies are 1.0. The
local engine runs fp32, so the GEMM is fp32: this profile's "16-bit" FLOP/s is what the
local engine actually gets.
"""

from __future__ import annotations

import json
import os
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from .profiles import HardwareProfile

__all__ = ["local_cpu_profile", "measure_local_cpu", "cache_path"]

_PROBE_VERSION = 1
# A numpy matvec per projection plus norms, RoPE, softmax and residual adds: ~12 calls
# per layer in the local engine's forward pass (ESTIMATED from its structure).
_CALLS_PER_LAYER = 12
_STREAM_BYTES = 32 * 2**20  # larger than any last-level cache, so copies hit DRAM
_GEMM_N = 384


def cache_path() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "thinkfast" / "local-cpu.json"


def _cache_key() -> str:
    threads = os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS") or "?"
    return f"v{_PROBE_VERSION}-cpus{os.cpu_count()}-threads{threads}"


def _best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return max(best, 1e-9)


def measure_local_cpu() -> dict[str, float]:
    """Measure bandwidth (B/s), GEMM FLOP/s and per-call overhead (s); ~0.3 s in all."""
    src = np.ones(_STREAM_BYTES // 8)
    dst = np.empty_like(src)
    # A copy reads and writes every byte: 2x the array's size crosses the memory bus.
    copy_s = _best_of(lambda: np.copyto(dst, src), 5)
    a = np.random.default_rng(0).standard_normal((_GEMM_N, _GEMM_N), dtype=np.float32)
    gemm_s = _best_of(lambda: a @ a, 5)
    v = a[:64, :64].copy()
    call_s = _best_of(lambda: v @ v[0], 200)
    return {
        "memory_bandwidth": 2 * src.nbytes / copy_s,
        "peak_flops": 2 * _GEMM_N**3 / gemm_s,
        "call_overhead_s": call_s,
    }


def _physical_memory() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 16e9  # platforms without sysconf: a typical laptop


def _load_cached() -> dict[str, float] | None:
    path = cache_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data.get("figures") if data.get("key") == _cache_key() else None


def _save(figures: dict[str, float]) -> None:
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": _cache_key(), "figures": figures}, indent=1))
        tmp.replace(path)  # atomic, so parallel test workers never read half a file
    except OSError:
        pass  # a read-only home only costs a re-probe next time


@lru_cache(maxsize=1)
def local_cpu_profile() -> HardwareProfile:
    """The measured profile of this machine (cached on disk and in memory)."""
    figures = _load_cached()
    if figures is None:
        figures = measure_local_cpu()
        _save(figures)
    return HardwareProfile(
        name="local-cpu",
        title=f"this machine ({os.cpu_count()} CPUs, numpy)",
        kind="cpu",
        memory_tier="dram",
        memory_bytes=_physical_memory(),
        memory_bandwidth=figures["memory_bandwidth"],
        peak_flops=figures["peak_flops"],
        link_bandwidth=figures["memory_bandwidth"],
        power_w=65.0,  # ASSUMED: a typical desktop CPU package TDP; only energy figures use it
        memory_usable_fraction=0.5,  # ASSUMED: leave half of RAM to the OS and other work
        compute_efficiency=1.0,
        memory_efficiency=1.0,
        layer_latency_s=_CALLS_PER_LAYER * figures["call_overhead_s"],
        max_tensor_parallel=1,
        max_devices=1,
        source={"figures": f"measured by thinkfast's probe, cached at {cache_path()}"},
    )
