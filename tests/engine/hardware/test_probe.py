"""The local-cpu profile: measured once, cached on disk, never at import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from thinkfast.engine.hardware import get_profile, probe, project


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    probe.local_cpu_profile.cache_clear()
    yield tmp_path
    probe.local_cpu_profile.cache_clear()


def test_probe_measures_and_caches(fresh_cache, monkeypatch):
    profile = get_profile("local-cpu")
    assert profile.kind == "cpu" and profile.memory_bandwidth > 1e8 and profile.peak_flops > 1e8
    cached = json.loads((fresh_cache / "thinkfast" / "local-cpu.json").read_text())
    assert cached["figures"]["memory_bandwidth"] == profile.memory_bandwidth

    def must_not_run():
        raise AssertionError("the probe ran again despite the cache")

    probe.local_cpu_profile.cache_clear()
    monkeypatch.setattr(probe, "measure_local_cpu", must_not_run)
    assert get_profile("cpu").peak_flops == profile.peak_flops  # "cpu" is an alias
    assert project("arith-tiny", "local-cpu").tokens_per_s_per_user > 0


def test_importing_the_package_does_not_probe(tmp_path):
    code = (
        "import thinkfast, thinkfast.engine.hardware as h, os; "
        "print(os.path.exists(os.path.join(os.environ['XDG_CACHE_HOME'], 'thinkfast')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert out.stdout.strip() == "False"
