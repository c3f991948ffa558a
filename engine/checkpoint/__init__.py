"""thinkfast.engine.checkpoint: model folders and files -> one neutral `Checkpoint`.

`loader` accepts a bundled name, a Hugging Face folder or a GGUF file; `gguf/` reads
llama.cpp's container (reader, block dequantization, tokenizer); `export`
writes any Checkpoint back out as an HF folder. The runtime in
`engine/local/` consumes the Checkpoint and never looks at file formats.
"""

from .export import save_hf_checkpoint
from .loader import DEFAULT_MODEL, MODELS_DIR, bundled_models, load_checkpoint
from .record import Checkpoint

__all__ = [
    "Checkpoint",
    "DEFAULT_MODEL",
    "MODELS_DIR",
    "bundled_models",
    "load_checkpoint",
    "save_hf_checkpoint",
]
