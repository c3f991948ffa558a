"""GGUF tensors under Hugging Face names, dequantized to float32 when the runtime reads them.

llama.cpp's converter renames every parameter (`blk.3.attn_q.weight`) and interleaves the
two rotary halves of every q/k head; this module maps the names back and undoes the
permutation, so the runtime sees exactly what `transformers` would.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from ...errors import UnsupportedArchitectureError
from .dequant import dequantize
from .reader import GGUFTensor

__all__ = ["GGUFWeights", "dequantize_tensor", "hf_name", "unpermute_rotary"]


_LAYER_NAMES = {
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_GLOBAL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


def hf_name(gguf_name: str) -> str:
    """HF parameter name of a GGUF tensor name (`blk.3.attn_q.weight` -> ...q_proj.weight)."""
    if gguf_name in _GLOBAL_NAMES:
        return _GLOBAL_NAMES[gguf_name]
    parts = gguf_name.split(".")
    if len(parts) == 4 and parts[0] == "blk" and parts[2] in _LAYER_NAMES:
        return f"model.layers.{parts[1]}.{_LAYER_NAMES[parts[2]]}.{parts[3]}"
    raise UnsupportedArchitectureError(
        f"GGUF tensor {gguf_name!r} has no Hugging Face counterpart thinkfast knows; accepted: "
        f"{sorted(_GLOBAL_NAMES)} and blk.N.{{{','.join(_LAYER_NAMES)}}}.weight/bias"
    )


def unpermute_rotary(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's q/k row order: per head, GGUF interleaves the two rotary halves
    (rows 0, d/2, 1, d/2+1, ...); HF keeps them as two contiguous blocks.

    Works for weights (rows, in) and biases (rows,). The inverse of the converter's
    `reshape(h, 2, d/2, ...).swapaxes(1, 2)`.
    """
    rows = w.shape[0]
    half = rows // n_heads // 2
    return w.reshape(n_heads, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def dequantize_tensor(tensor: GGUFTensor) -> np.ndarray:
    from gguf import GGMLQuantizationType

    try:
        # numpy's row-major shape (ggml's dims reversed) is already HF's (out, in)
        return dequantize(tensor.data, tensor.ggml_type, tensor.shape)
    except (NotImplementedError, ValueError, KeyError) as exc:
        raise UnsupportedArchitectureError(
            f"tensor {tensor.name} is stored as {GGMLQuantizationType(tensor.ggml_type).name}, "
            "which the gguf package cannot dequantize; accepted: F32, F16, BF16, Q4_0, Q4_1, "
            "Q5_0, Q5_1, Q8_0, Q2_K..Q6_K and the IQ types gguf implements"
        ) from exc


class GGUFWeights(Mapping[str, np.ndarray]):
    """HF parameter name -> float32 array, dequantized from the memory-mapped file on access.

    Nothing is held in float32 here: the runtime copies each tensor into its own fused
    layout once, so keeping a second float32 copy would double resident memory for nothing.
    Each access dequantizes afresh; `dict(weights)` materializes them all.
    """

    def __init__(self, entries: dict[str, tuple[GGUFTensor, int | None]]) -> None:
        self._entries = entries  # name -> (tensor, heads to unpermute by, or None)

    def __getitem__(self, name: str) -> np.ndarray:
        tensor, heads = self._entries[name]
        array = dequantize_tensor(tensor)
        return array if heads is None else unpermute_rotary(array, heads)

    def __contains__(self, name: object) -> bool:
        return name in self._entries  # without dequantizing (Mapping's default would)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._entries[name][0].shape

    def raw(self, name: str) -> tuple[np.ndarray, int]:
        """Raw block bytes [rows, bytes per row] (q/k rows in HF order) and the ggml type,
        for runtimes that keep weights quantized (engine/local/quant)."""
        tensor, heads = self._entries[name]
        data = tensor.data if heads is None else unpermute_rotary(tensor.data, heads)
        return data, tensor.ggml_type

    def source(self, name: str) -> GGUFTensor:
        """The GGUF tensor (name, ggml type, raw bytes) an HF parameter comes from."""
        return self._entries[name][0]
