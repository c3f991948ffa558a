"""The layers import downwards only: engine <- orchestrator <- strategies <- evals <- serve.

Read from the source with `ast` (no imports run), so a new upward import fails here
before it can make a cycle. Relative imports are resolved against the importing module's
package. The emulator (engine/hardware) is pure math over specs: it must not import the
runtimes (engine/local, engine/remote, engine/checkpoint).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("engine", "orchestrator", "strategies", "evals", "serve")  # bottom to top
RUNTIMES = ("local", "remote", "checkpoint")


def imported_modules(path: Path, package: list[str]) -> set[str]:
    """Dotted names of the thinkfast modules `path` imports (`package`: its package parts,
    e.g. ["thinkfast", "engine", "local"])."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, *(node.module.split(".") if node.module else [])])
            else:
                name = node.module or ""
            out.add(name)
    return {name for name in out if name.startswith("thinkfast.")}


def sources(layer: str) -> list[tuple[Path, list[str]]]:
    folder = ROOT / layer
    found = []
    for path in sorted(folder.rglob("*.py")):
        parts = list(path.relative_to(folder).with_suffix("").parts)
        package = ["thinkfast", layer, *parts[:-1]]
        found.append((path, package))
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_only_the_layers_below_it(layer):
    above = LAYERS[LAYERS.index(layer) + 1 :]
    upward = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path, package in sources(layer)
        for name in imported_modules(path, package)
        if name.split(".")[1] in above
    ]
    assert not upward, "imports must point down the layers:\n" + "\n".join(upward)


def test_the_emulator_does_not_import_the_runtimes():
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path, package in sources("engine")
        if package[2:3] == ["hardware"]
        for name in imported_modules(path, package)
        if name.split(".")[2:3] and name.split(".")[2] in RUNTIMES
    ]
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_upward_imports(tmp_path):
    """The test above can fail: an upward import, absolute or relative, is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("from thinkfast.serve import app\nfrom ..strategies import single\n")
    names = imported_modules(bad, ["thinkfast", "orchestrator"])
    assert names == {"thinkfast.serve", "thinkfast.strategies"}
