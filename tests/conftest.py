"""Shared test set-up.

BLAS threads are pinned so tests behave the same on a 2-core machine. The `engine`,
`pack` and `quick_pack` fixtures give orchestration and strategy tests the real engine:
the shipped model on LocalEngine. THINKFAST_TEST_MODEL points them at another model
folder (one carrying its own prompt_pack.json).
"""

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

MODEL = os.environ.get("THINKFAST_TEST_MODEL", "arith-tiny")


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
