"""The pip line that installs an optional extra, for the installation at hand.

A user who installed thinkfast from a checkout (`pip install -e .`) cannot
`pip install 'thinkfast[plot]'`: no index has the package. For them the line is
`pip install -e '.[plot]'` (from the checkout; its path otherwise). A source install is
recognised by the distribution's `direct_url.json` (PEP 610: `dir_info`, editable or not)
or, when thinkfast runs from a checkout without being installed, by the checkout's
pyproject.toml beside the package.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from urllib.parse import unquote, urlparse

__all__ = ["pip_install_hint", "source_tree"]


def source_tree() -> Path | None:
    """The source folder thinkfast was installed from (or runs from), if any."""
    for dist in importlib.metadata.distributions(name="thinkfast"):
        try:
            raw = dist.read_text("direct_url.json")
        except OSError:
            raw = None
        if not raw:
            continue
        try:
            info = json.loads(raw)
        except ValueError:
            continue
        url = info.get("url", "")
        if "dir_info" in info and url.startswith("file://"):
            return Path(unquote(urlparse(url).path))
    checkout = Path(__file__).resolve().parents[1]  # engine/ sits at the checkout's top
    if (checkout / "pyproject.toml").is_file() and (checkout / "engine").is_dir():
        return checkout
    return None


def pip_install_hint(extra: str) -> str:
    """`pip install 'thinkfast[EXTRA]'`, or `pip install -e '.[EXTRA]'` for a source
    install (with the checkout's path when the current folder is elsewhere)."""
    tree = source_tree()
    if tree is None:
        return f"pip install 'thinkfast[{extra}]'"
    try:
        here = Path.cwd().resolve() == tree.resolve()
    except OSError:
        here = False
    return f"pip install -e '{'.' if here else tree}[{extra}]'"
