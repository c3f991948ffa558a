"""The engine's BLAS thread pool: how many threads numpy's matmuls may use.

Owns one setting. OpenBLAS left at its default (one thread per core) shares the cores
with every other process; on a loaded 2-core machine a prompt over ~20 tokens then
sometimes took ~1.0 s to prefill instead of ~7 ms (the time was in the multi-threaded
matmul waiting for a busy core), and pinned to one thread it never recurred. So the
engine's worker sets the count explicitly with threadpoolctl before it runs a batch.

The count is process-wide (BLAS has one pool per process), so engines in one process
share it: the last worker to start a batch sets it. See docs/engine.md, "Threads".
"""

from __future__ import annotations

import os

from ..errors import InvalidRequestError

__all__ = ["DEFAULT_BLAS_THREADS", "blas_threads_from", "set_blas_threads"]

# Measured (benchmarks/engine_prefix_cache.py --section threads, docs/engine.md "Threads"):
# on 2 shared cores a second thread buys 1.0-1.6x at best; one never stalls on a busy core.
DEFAULT_BLAS_THREADS = 1
ENV_VAR = "THINKFAST_BLAS_THREADS"

_controller = None


def blas_threads_from(value: int | None) -> int:
    """The thread count to use: `value`, else $THINKFAST_BLAS_THREADS, else the default."""
    source = "blas_threads"
    if value is None:
        raw = os.environ.get(ENV_VAR)
        if raw is None or not raw.strip():
            return DEFAULT_BLAS_THREADS
        source = f"${ENV_VAR}"
        try:
            value = int(raw)
        except ValueError:
            raise InvalidRequestError(
                f"{source} must be a whole number of threads (>= 1), got {raw!r}"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequestError(f"{source} must be a whole number >= 1, got {value!r}")
    return value


def set_blas_threads(n: int) -> None:
    """Limit every BLAS library numpy loaded to `n` threads (until someone changes it)."""
    global _controller
    from threadpoolctl import ThreadpoolController  # scanning the loaded libraries: once

    if _controller is None:
        _controller = ThreadpoolController()
    _controller.limit(limits=n, user_api="blas")
