"""What loading a model cost: wall seconds and the process's resident memory.

Used by `thinkfast generate --json` (and benchmarks) to report load time and memory next
to generation timing. Resident memory comes from /proc/self/status on Linux (current and
peak); elsewhere the peak from `resource.getrusage` is all there is.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["resident_memory_mib", "timed_load"]


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
    """Build a LocalEngine and say what it cost: load seconds, memory, weight bytes.

    For GGUF files the dequantization share of the load and the tensor types are included.
    """
    from .engine import LocalEngine

    start = time.perf_counter()
    engine = LocalEngine(model, **engine_kwargs)
    report: dict[str, Any] = {"load_s": round(time.perf_counter() - start, 3)}
    report |= resident_memory_mib()
    report["weights_mib"] = round(engine.model.weight_bytes / 2**20, 1)
    gguf_info = engine.checkpoint.generation_config.get("_gguf")
    if gguf_info:
        report["gguf"] = {
            "file_mib": round(gguf_info["file_bytes"] / 2**20, 1),
            "read_s": gguf_info["read_s"],  # metadata, tokenizer; dequantizing is in load_s
            "tensor_types": gguf_info["tensor_types"],
        }
    return engine, report
