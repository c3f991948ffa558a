"""Whether the compiled kernels can run here, and with how many threads.

numba is imported lazily (it costs about a second and 60 MiB, which a float32-only engine
should not pay). When it is missing or fails to import, `available()` is False, the model
keeps its float32 numpy path, and `warn_fallback()` says so once per process.

Threads: the parallel kernels split weight tiles across numba's threads. The count is the
engine's BLAS thread count (`LocalEngine(blas_threads=...)`, else $THINKFAST_BLAS_THREADS,
else 1), process-wide like BLAS's own pool; `set_threads(n)` changes it. numba's thread count is per calling thread, so it is applied
on each call from the engine's worker thread. The parallel layer must be thread-safe
(several engines may run in one process): numba's `threadsafe` layer (tbb or OpenMP) is
requested; if neither exists the kernels stay single-threaded.
"""

from __future__ import annotations

import os
import threading
import warnings
from types import ModuleType

__all__ = ["available", "kernels", "set_threads", "threads", "variant", "warn_fallback"]

_lock = threading.Lock()
_state: dict[str, object] = {"kernels": None, "error": None, "warned": False, "threads": None}


def kernels() -> ModuleType:
    """The kernels module (imports numba on first use); raises ImportError if unavailable."""
    mod = _state["kernels"]
    if mod is not None:
        return mod  # type: ignore[return-value]
    with _lock:
        if _state["kernels"] is None:
            if os.environ.get("THINKFAST_NO_NUMBA"):  # a switch for tests of the fallback
                raise ImportError("THINKFAST_NO_NUMBA is set")
            import numba

            if "NUMBA_THREADING_LAYER" not in os.environ:
                numba.config.THREADING_LAYER = "threadsafe"
            from . import kernels as mod

            _state["kernels"] = mod
    return _state["kernels"]  # type: ignore[return-value]


def available() -> bool:
    """True when the compiled kernels can be used in this process."""
    if _state["error"] is not None:
        return False
    try:
        kernels()
    except Exception as exc:  # ImportError, or numba failing to initialise LLVM
        _state["error"] = exc
        return False
    return True


def warn_fallback(what: str) -> None:
    """Say once per process that quantized weights fall back to float32 numpy."""
    if _state["warned"]:
        return
    _state["warned"] = True
    reason = _state["error"] or "numba is not installed"
    warnings.warn(
        f"{what}: compiled kernels unavailable ({reason}); using the float32 numpy path "
        "(about 5x the memory and slower decoding). Install numba: pip install numba",
        RuntimeWarning,
        stacklevel=3,
    )


def threads() -> int:
    n = _state["threads"]
    if n is None:
        env = os.environ.get("THINKFAST_BLAS_THREADS", "").strip()
        n = int(env) if env.isdigit() and int(env) > 0 else 1
        _state["threads"] = n
    return n  # type: ignore[return-value]


def set_threads(n: int) -> None:
    """Threads the quantized kernels use from now on (1 = serial kernels)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        from ...errors import InvalidRequestError

        raise InvalidRequestError(f"threads must be a whole number >= 1, got {n!r}")
    _state["threads"] = n


def variant(kind: str) -> tuple:
    """(rows1, rowsn, dequantize) kernels for a weight kind, serial or parallel."""
    k = kernels()
    return k.PARALLEL[kind] if _parallel() else k.SERIAL[kind]


def integer_variant(kind: str, residual: bool = True):
    """The 8-bit dot-product kernel for 2+ rows of a weight kind (with the activations'
    rounding residual: int8x2), or None where this CPU has no such instruction (simd.DOT)
    or it cannot take the kind (AVX2's 16-bit pairs saturate on signed 8-bit weights)."""
    k = integer_kernels()
    if k is None or (kind, residual) not in k.SERIAL:
        return None
    return k.PARALLEL[kind, residual] if _parallel() else k.SERIAL[kind, residual]


def integer_kernels() -> ModuleType | None:
    """The int_kernels module, or None where the CPU has no 8-bit dot product."""
    if "integer" not in _state:
        kernels()
        from . import simd

        if simd.available():
            from . import int_kernels

            _state["integer"] = int_kernels
        else:
            _state["integer"] = None
    return _state["integer"]  # type: ignore[return-value]


def _parallel() -> bool:
    """False for one thread; else numba's pool set to the thread count, and True."""
    n = threads()
    if n == 1:
        return False
    import numba

    n = min(n, numba.config.NUMBA_NUM_THREADS)
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)
    return True
