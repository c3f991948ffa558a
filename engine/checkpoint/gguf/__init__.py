"""thinkfast.engine.checkpoint.gguf: GGUF files (llama.cpp, Ollama, LM Studio) -> Checkpoint.

`reader` parses the container (memory-mapped), `dequant` decodes quantized blocks,
`tokenizer` rebuilds a tokenizers.Tokenizer from the metadata, `loader` puts them
together. Importing this package needs
nothing beyond the base install; dequantizing k-quants needs thinkfast[gguf].
"""

from .loader import KNOWN_GGUF, KnownGGUF, find_known_gguf, load_gguf, read_gguf_metadata
from .tensors import GGUFWeights, hf_name, unpermute_rotary

__all__ = [
    "KNOWN_GGUF",
    "GGUFWeights",
    "KnownGGUF",
    "find_known_gguf",
    "hf_name",
    "load_gguf",
    "read_gguf_metadata",
    "unpermute_rotary",
]
