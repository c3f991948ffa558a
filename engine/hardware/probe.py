"""The `local-cpu` profile: this machine, measured once by a short numpy probe and cached.

Owns the probe (streaming bandwidth from a large array copy, fp32 GEMM FLOP/s, the fixed
cost of one miniature decoder layer and of one sampling draw, which are what bound a tiny
model's steps) and its
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

_PROBE_VERSION = 2
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


def _mini_layer(d: int = 64, heads: int = 4, kv_heads: int = 2, ctx: int = 32):
    """A decode step of one miniature numpy decoder layer (the local engine's op sequence).

    Its dimensions are tiny so that what it measures is the fixed cost of the ~25 numpy
    calls a layer makes (norms, fused projections, RoPE, cache write, softmax attention,
    gated MLP, residuals), which is what bounds a small model's layers on a CPU.
    """
    rng = np.random.default_rng(0)
    e = d // heads
    wqkv = rng.standard_normal((d, (heads + 2 * kv_heads) * e), dtype=np.float32)
    wo = rng.standard_normal((heads * e, d), dtype=np.float32)
    wgu = rng.standard_normal((d, 4 * d), dtype=np.float32)
    wd = rng.standard_normal((2 * d, d), dtype=np.float32)
    kc = np.zeros((1, kv_heads, ctx, e), dtype=np.float32)
    vc = np.zeros_like(kc)
    cos = np.ones((1, e // 2), dtype=np.float32)
    sin = np.zeros_like(cos)
    x = rng.standard_normal((1, d), dtype=np.float32)

    def rope(t: np.ndarray) -> np.ndarray:
        a, b = t[..., : e // 2], t[..., e // 2 :]
        return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)

    def step() -> np.ndarray:
        h = x * (1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-6))
        qkv = h @ wqkv
        q = rope(qkv[:, : heads * e].reshape(1, heads, e))
        k = rope(qkv[:, heads * e : (heads + kv_heads) * e].reshape(1, kv_heads, e))
        kc[:, :, ctx - 1] = k
        vc[:, :, ctx - 1] = qkv[:, (heads + kv_heads) * e :].reshape(1, kv_heads, e)
        qg = q.reshape(1, kv_heads, heads // kv_heads, e)
        att = np.einsum("bkge,bkte->bkgt", qg, kc)
        att = np.exp(att - att.max(axis=-1, keepdims=True))
        att /= att.sum(axis=-1, keepdims=True)
        out = np.einsum("bkgt,bkte->bkge", att, vc).reshape(1, heads * e) @ wo
        r = x + out
        h = r * (1.0 / np.sqrt(np.mean(r * r, axis=-1, keepdims=True) + 1e-6))
        gate, up = np.split(h @ wgu, 2, axis=-1)
        return r + (gate / (1.0 + np.exp(-gate)) * up) @ wd

    return step


def _mini_sampler(vocab: int = 256):
    """One categorical draw from logits: softmax, cumulative sum, search, logprob."""
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((1, vocab), dtype=np.float32)

    def step() -> int:
        z = logits - logits.max(axis=-1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=-1, keepdims=True)
        tok = int(np.searchsorted(np.cumsum(p[0]), rng.random()))
        _ = z[0, min(tok, vocab - 1)] - np.log(np.exp(z).sum())
        return tok

    return step


def measure_local_cpu() -> dict[str, float]:
    """Measure bandwidth (B/s), GEMM FLOP/s, per-layer and per-step fixed costs (s)."""
    src = np.ones(_STREAM_BYTES // 8)
    dst = np.empty_like(src)
    # A copy reads and writes every byte: 2x the array's size crosses the memory bus.
    copy_s = _best_of(lambda: np.copyto(dst, src), 3)
    a = np.random.default_rng(0).standard_normal((_GEMM_N, _GEMM_N), dtype=np.float32)
    gemm_s = _best_of(lambda: a @ a, 5)
    return {
        "memory_bandwidth": 2 * src.nbytes / copy_s,
        "peak_flops": 2 * _GEMM_N**3 / gemm_s,
        "layer_s": _best_of(_mini_layer(), 100),
        "step_s": _best_of(_mini_sampler(), 100),
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
        layer_latency_s=figures["layer_s"],
        step_overhead_s=figures["step_s"],
        max_tensor_parallel=1,
        max_devices=1,
        source={"figures": f"measured by thinkfast's probe, cached at {cache_path()}"},
    )
