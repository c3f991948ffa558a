"""Checkpoint: everything a model folder or file holds, in one neutral form.

Loaders (HF folders in `loader.py`, GGUF files in `gguf/`) produce a Checkpoint; the
runtime (`engine/local/`) consumes it and never look at file formats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Checkpoint"]


@dataclass
class Checkpoint:
    name: str
    path: Path
    config: dict[str, Any]  # HF config.json keys (architectures, hidden_size, ...)
    weights: dict[str, np.ndarray]  # HF parameter names -> float32 arrays
    tokenizer: Any  # tokenizers.Tokenizer
    chat_template: str | None = None
    special_tokens: dict[str, str] = field(default_factory=dict)  # bos_token, eos_token ...
    add_bos_token: bool = False
    eos_token_ids: list[int] = field(default_factory=list)
    generation_config: dict[str, Any] = field(default_factory=dict)
