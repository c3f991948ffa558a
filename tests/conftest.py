"""Shared test set-up.

BLAS threads are pinned so tests behave the same on a 2-core machine. The `engine`,
`pack` and `quick_pack` fixtures give orchestration and strategy tests the real engine:
the shipped model on LocalEngine. THINKFAST_TEST_MODEL points them at another model
folder (one carrying its own prompt_pack.json).
"""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

MODEL = os.environ.get("THINKFAST_TEST_MODEL", "arith-tiny")


def _register_fault_server() -> None:
    """Make tests/engine/remote/fault_server.py importable as `thinkfast_tests_fault_server`
    for the engine and serve tests: --import-mode=importlib keeps tests/ off sys.path, and
    this conftest is imported before any test module."""
    name = "thinkfast_tests_fault_server"
    path = Path(__file__).parent / "engine" / "remote" / "fault_server.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_register_fault_server()


@pytest.fixture(scope="session")
def engine():
    from thinkfast.engine.errors import ModelLoadError
    from thinkfast.engine.local import LocalEngine

    try:
        return LocalEngine(MODEL, hardware=("cs3", "h100"))
    except ModelLoadError as exc:  # the shipped model is not in this checkout
        pytest.skip(f"model {MODEL!r} is not available: {exc}")


@pytest.fixture(scope="session")
def pack(engine):
    from thinkfast.orchestrator import pack_for

    return pack_for(engine)


@pytest.fixture(scope="session")
def quick_pack(pack):
    """The model's own pack with short allowances, for tests of the plumbing (ledger,
    budgets, events, CLI) rather than of answer quality: same prompts, fewer tokens."""
    caps = {"draft": 96, "critique": 48, "judge": 48, "refine": 96}
    update = {
        role: pack.role(role).model_copy(
            update={"max_tokens": min(cap, pack.role(role).max_tokens)}
        )
        for role, cap in caps.items()
    }
    return pack.with_roles(update)
