"""What loading a model cost: wall seconds and the process's resident memory.

Used by `thinkfast generate --json` (and benchmarks) to report load time and memory next
to generation timing. Resident memory comes from /proc/self/status on Linux (current and
peak); elsewhere the peak from `resource.getrusage` is all there is.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["measure_load", "resident_memory_mib", "timed_load"]

E = TypeVar("E")


def resident_memory_mib() -> dict[str, float]:
    """{'rss_mib': now, 'peak_rss_mib': high-water mark} for this process."""
    status = Path("/proc/self/status")
    if status.is_file():
        fields = {}
        for line in status.read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024  # kB -> MiB
        if "VmRSS" in fields:
            return {"rss_mib": round(fields["VmRSS"], 1), "peak_rss_mib": round(fields["VmHWM"], 1)}
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mib = peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes vs kB
    return {"rss_mib": round(peak_mib, 1), "peak_rss_mib": round(peak_mib, 1)}


def timed_load(model: str | Path, **engine_kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """Build a LocalEngine and say what it cost (see `measure_load`)."""
    from .engine import LocalEngine

    return measure_load(lambda: LocalEngine(model, **engine_kwargs))


def measure_load(build: Callable[[], E]) -> tuple[E, dict[str, Any]]:
    """Build an engine and say what it cost: load seconds and memory, and for a
    LocalEngine its weight bytes (for GGUF files also the file size, the metadata read
    time and the tensor types; dequantizing is part of the load)."""
    start = time.perf_counter()
    engine = build()
    report: dict[str, Any] = {"load_s": round(time.perf_counter() - start, 3)}
    report |= resident_memory_mib()
    model = getattr(engine, "model", None)
    if model is not None:  # a LocalEngine: weights held here
        report["weights_mib"] = round(model.weight_bytes / 2**20, 1)
        gguf_info = engine.checkpoint.generation_config.get("_gguf")  # type: ignore[attr-defined]
        if gguf_info:
            report["gguf"] = {
                "file_mib": round(gguf_info["file_bytes"] / 2**20, 1),
                "read_s": gguf_info["read_s"],
                "tensor_types": gguf_info["tensor_types"],
            }
    return engine, report
