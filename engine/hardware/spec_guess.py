"""Which bundled hardware-emulator spec a served model's name denotes, if exactly one.

Remote engines know their model only by the name the provider gives it
("llama3.1-8b", "llama-3.3-70b-versatile", "meta-llama/Llama-3.1-70B-Instruct",
"qwen2.5:7b"); projecting its timing needs a `ModelSpec`. The guess reads family,
version and size from the name and accepts it only when one bundled spec has all three;
anything else ("gpt-4o", a distilled or fine-tuned variant without a version) is None,
so timings are never projected onto a model that merely looks similar.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .model_spec import spec_names

__all__ = ["guess_model_spec"]

# Llama 3.3 70B reuses the Llama 3.1 70B architecture unchanged (Meta's model card and
# config.json: same layers, widths, heads and vocabulary), so it projects identically.
_SAME_ARCHITECTURE = {("llama", "3.3", "70"): ("llama", "3.1", "70")}
_FAMILIES = ("llama", "qwen")


def _spec_key(name: str) -> tuple[str, str, str] | None:
    """(family, version, size in B) parsed from a model name, or None if any part is missing."""
    s = re.sub(r"[\s_:]+", "-", name.strip().lower().rsplit("/", 1)[-1])
    size = re.search(r"(?:^|-)(\d+(?:\.\d+)?)b(?=-|$)", s)
    for family in _FAMILIES:
        # the version must be followed by a separator, so "llama-70b" yields no version
        version = re.search(rf"{family}-?(\d+(?:\.\d+)?)(?=-|$)", s)
        if family in s and version and size:
            key = (family, version.group(1), size.group(1))
            return _SAME_ARCHITECTURE.get(key, key)
    return None


def guess_model_spec(model_name: str, known: Sequence[str] | None = None) -> str | None:
    """The bundled spec (or one of `known`) that `model_name` denotes, or None.

    An exact name ("arith-tiny") matches itself; otherwise family, version and size must
    agree with exactly one spec.
    """
    names = list(known) if known is not None else spec_names()
    lowered = model_name.strip().lower()
    if lowered in names:
        return lowered
    key = _spec_key(model_name)
    if key is None:
        return None
    matches = [n for n in names if _spec_key(n) == key]
    return matches[0] if len(matches) == 1 else None
