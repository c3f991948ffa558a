"""Plugin installation for the registry tests: a strategy package on sys.path with a
dist-info folder declaring its entry point, the way pip installs one."""

import sys

import pytest
from thinkfast.orchestrator import strategy as registry


@pytest.fixture
def install_plugin(tmp_path, monkeypatch):
    """`install_plugin(package, source, entry)`: install module `package` (its
    `__init__.py` is `source`) with the entry point `entry` ("name = package:Class")."""
    installed = []

    def install(package: str, source: str, entry: str) -> None:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(source)
        info = tmp_path / f"{package}-0.1.0.dist-info"
        info.mkdir()
        dist = package.replace("_", "-")
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
        (info / "entry_points.txt").write_text(f"[thinkfast.strategies]\n{entry}\n")
        sys.modules.pop(package, None)  # each test starts uninstalled-and-unimported
        installed.append(package)

    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    yield install
    for package in installed:
        sys.modules.pop(package, None)
