"""save_hf_checkpoint: any Checkpoint written back out as a Hugging Face model folder.

How the GGUF loader is held against `transformers`: load a .gguf, write it as an HF
folder, and let `transformers` (or thinkfast's HF loader) read the same numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .record import Checkpoint

__all__ = ["save_hf_checkpoint"]


def save_hf_checkpoint(checkpoint: Checkpoint, folder: str | Path) -> Path:
    """Write a Checkpoint as a Hugging Face model folder (config.json, model.safetensors,
    tokenizer.json, tokenizer_config.json, generation_config.json).

    The weights are written as float32 exactly as held, so `transformers` (or thinkfast's
    HF loader) on the folder sees the same numbers the GGUF loader produced.
    """
    from safetensors.numpy import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in checkpoint.config.items() if not k.startswith("_")}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    weights = dict(checkpoint.weights)
    if config.get("tie_word_embeddings"):
        weights.pop("lm_head.weight", None)  # safetensors refuses shared buffers
    save_file(
        {k: np.ascontiguousarray(v) for k, v in weights.items()}, folder / "model.safetensors"
    )
    checkpoint.tokenizer.save(str(folder / "tokenizer.json"))
    tokenizer_config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": checkpoint.add_bos_token,
        "clean_up_tokenization_spaces": False,
        "model_max_length": config.get("max_position_embeddings", 2048),
        **checkpoint.special_tokens,
    }
    if checkpoint.chat_template:
        tokenizer_config["chat_template"] = checkpoint.chat_template
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    generation = {k: v for k, v in checkpoint.generation_config.items() if not k.startswith("_")}
    (folder / "generation_config.json").write_text(json.dumps(generation, indent=2))
    return folder
