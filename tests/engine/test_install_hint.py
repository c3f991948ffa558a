"""Install hints name the line that works for this installation: -e '.[extra]' from a
checkout, the checkout's path from elsewhere, the package name for an index install."""

import json
import sys
from pathlib import Path

import pytest
from thinkfast.engine import install_hint
from thinkfast.engine.install_hint import pip_install_hint, source_tree

CHECKOUT = Path(__file__).resolve().parents[2]


def test_a_checkout_install_gets_pip_install_e(monkeypatch, tmp_path):
    assert source_tree() == CHECKOUT
    monkeypatch.chdir(CHECKOUT)
    assert pip_install_hint("plot") == "pip install -e '.[plot]'"
    monkeypatch.chdir(tmp_path)
    assert pip_install_hint("plot") == f"pip install -e '{CHECKOUT}[plot]'"


def test_direct_url_json_names_the_source_folder(monkeypatch, tmp_path):
    # a distribution installed from another folder (PEP 610 dir_info), found first on the path
    info = tmp_path / "site" / "thinkfast-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thinkfast\nVersion: 0.1.0\n")
    source = tmp_path / "src" / "thinkfast checkout"
    (info / "direct_url.json").write_text(
        json.dumps({"url": source.as_uri(), "dir_info": {"editable": False}})
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert source_tree() == source


def test_an_index_install_gets_the_package_name(monkeypatch):
    monkeypatch.setattr(install_hint, "source_tree", lambda: None)  # no checkout anywhere
    assert pip_install_hint("plot") == "pip install 'thinkfast[plot]'"


def test_the_plot_hint_without_matplotlib(monkeypatch):
    from thinkfast.evals.errors import EvalError
    from thinkfast.evals.plot import plot_summary
    from thinkfast.evals.report import RunSummary

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    monkeypatch.chdir(CHECKOUT)
    summary = RunSummary.model_construct(configs=[], profiles=[])
    with pytest.raises(EvalError, match=r"pip install -e '\.\[plot\]'"):
        plot_summary(summary, "out.png")
