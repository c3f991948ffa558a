"""ModelArgs: the hyper-parameters of a Llama/Qwen2 decoder, read from an HF config.json.

Owns the translation of every config dialect we accept (old `rope_theta`/`rope_scaling`,
newer `rope_parameters`, optional `head_dim`, tied embeddings, q/k/v bias) into one flat
dataclass, and the RoPE inverse frequencies (including llama3 frequency scaling), so the
model code never looks at config dictionaries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UnsupportedArchitectureError

__all__ = ["ModelArgs", "SUPPORTED_ARCHITECTURES", "rope_inv_freq"]

SUPPORTED_ARCHITECTURES = ("LlamaForCausalLM", "Qwen2ForCausalLM")
_MODEL_TYPES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}
_ROPE_TYPES = ("default", "llama3")


@dataclass(frozen=True)
class ModelArgs:
    architecture: str
    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    intermediate_size: int
    norm_eps: float
    max_seq_len: int
    rope_theta: float = 10000.0
    rope_scaling: dict[str, Any] = field(default_factory=dict)  # {} = plain RoPE
    tie_word_embeddings: bool = False
    qkv_bias: bool = False  # Qwen2 always, Llama when attention_bias is set
    o_bias: bool = False  # Llama attention_bias also biases o_proj
    mlp_bias: bool = False

    @classmethod
    def from_hf(cls, config: dict[str, Any]) -> ModelArgs:
        arch = _architecture(config)
        try:
            dim = int(config["hidden_size"])
            n_heads = int(config["num_attention_heads"])
            args = dict(
                architecture=arch,
                vocab_size=int(config["vocab_size"]),
                dim=dim,
                n_layers=int(config["num_hidden_layers"]),
                n_heads=n_heads,
                n_kv_heads=int(config.get("num_key_value_heads") or n_heads),
                head_dim=int(config.get("head_dim") or dim // n_heads),
                intermediate_size=int(config["intermediate_size"]),
                norm_eps=float(config.get("rms_norm_eps", 1e-6)),
                max_seq_len=int(config.get("max_position_embeddings", 2048)),
            )
        except KeyError as exc:
            raise UnsupportedArchitectureError(
                f"config.json lacks {exc.args[0]!r}; a {arch} config needs hidden_size, "
                "num_attention_heads, num_hidden_layers, intermediate_size and vocab_size"
            ) from None
        act = config.get("hidden_act", "silu")
        if act not in ("silu", "swish"):
            raise UnsupportedArchitectureError(
                f"hidden_act {act!r} is not supported; accepted: silu"
            )
        theta, scaling = _rope(config)
        if args["n_heads"] % args["n_kv_heads"]:
            raise UnsupportedArchitectureError(
                f"num_attention_heads ({n_heads}) must be a multiple of "
                f"num_key_value_heads ({args['n_kv_heads']})"
            )
        qwen = arch == "Qwen2ForCausalLM"
        attention_bias = bool(config.get("attention_bias", False))
        return cls(
            **args,
            rope_theta=theta,
            rope_scaling=scaling,
            tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
            qkv_bias=qwen or attention_bias,
            o_bias=(not qwen) and attention_bias,
            mlp_bias=bool(config.get("mlp_bias", False)),
        )

    @property
    def n_params(self) -> int:
        """Parameter count (embeddings counted once when tied)."""
        attn = self.dim * self.head_dim * (2 * self.n_heads + 2 * self.n_kv_heads)
        mlp = 3 * self.dim * self.intermediate_size
        per_layer = attn + mlp + 2 * self.dim
        emb = self.vocab_size * self.dim * (1 if self.tie_word_embeddings else 2)
        return self.n_layers * per_layer + emb + self.dim


def _architecture(config: dict[str, Any]) -> str:
    archs = config.get("architectures") or []
    for arch in archs:
        if arch in SUPPORTED_ARCHITECTURES:
            return arch
    if not archs and config.get("model_type") in _MODEL_TYPES:
        return _MODEL_TYPES[config["model_type"]]
    found = ", ".join(archs) or f"model_type={config.get('model_type')!r}"
    raise UnsupportedArchitectureError(
        f"architecture {found} is not supported; supported: {', '.join(SUPPORTED_ARCHITECTURES)}"
    )


def _rope(config: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """(theta, scaling) from either `rope_parameters` (transformers >= 5) or the old keys."""
    params = dict(config.get("rope_parameters") or {})
    old = dict(config.get("rope_scaling") or {})
    theta = float(params.get("rope_theta", config.get("rope_theta", 10000.0)))
    scaling = params or old
    rope_type = scaling.get("rope_type", scaling.get("type", "default"))
    if rope_type not in _ROPE_TYPES:
        raise UnsupportedArchitectureError(
            f"rope type {rope_type!r} is not supported; accepted: {', '.join(_ROPE_TYPES)}"
        )
    if rope_type == "default":
        return theta, {}
    keys = ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")
    missing = [k for k in keys if k not in scaling]
    if missing:
        raise UnsupportedArchitectureError(f"llama3 rope scaling lacks {', '.join(missing)}")
    return theta, {"rope_type": "llama3", **{k: float(scaling[k]) for k in keys}}


def rope_inv_freq(args: ModelArgs) -> np.ndarray:
    """Inverse frequencies [head_dim/2] in float64, llama3-scaled when configured.

    llama3 scaling (Llama 3.1 paper, section on long context): wavelengths shorter than
    original_max/high_freq_factor are kept, longer than original_max/low_freq_factor are
    divided by `factor`, and the band between is interpolated smoothly.
    """
    hd = args.head_dim
    inv = 1.0 / (args.rope_theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    s = args.rope_scaling
    if not s:
        return inv
    factor, lo, hi = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
    old_len = s["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv
    smooth = (old_len / wavelen - lo) / (hi - lo)
    scaled = np.where(wavelen > old_len / lo, inv / factor, inv)
    mid = (wavelen <= old_len / lo) & (wavelen >= old_len / hi)
    return np.where(mid, (1 - smooth) * inv / factor + smooth * inv, scaled)
