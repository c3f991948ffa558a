"""ModelSpec: the shape of a decoder-only transformer, as the hardware emulator needs it.

Owns the translation of an HF `config.json` (Llama / Qwen2 / Mistral-style dense decoders)
into the few numbers that decide memory and time: parameter count, bytes of weights, KV
cache bytes per token, and matmul / attention FLOPs per token. It also ships specs for
well-known models by name, so `spec("llama-3.1-70b")` needs no checkpoint on disk.

Parameter count (dense gated-MLP decoder, `d` hidden, `L` layers, `h` query heads,
`h_kv` KV heads, `d_h` head dim, `f` MLP width, `V` vocab):

    per layer  = d*h*d_h + 2*d*h_kv*d_h + h*d_h*d      (q, k, v, o projections)
               + 3*d*f                                 (gate, up, down)
               + 2*d                                   (two RMSNorm weights)
               + [h*d_h + 2*h_kv*d_h if qkv_bias]      (Qwen2 biases)
    total      = L*per_layer + V*d (embedding) + d (final norm) + [V*d if untied lm_head]

This reproduces the published sizes: Llama 3.1 8B 8.03e9, 70B 70.6e9, 405B 405.9e9.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import HardwareError

__all__ = ["ModelSpec", "BUNDLED_SPECS", "get_spec", "spec_names"]

# torch_dtype strings in HF configs -> bytes per weight. 16-bit is the default because
# the calibration figures (and almost every published checkpoint) are bf16/fp16.
_DTYPE_BYTES = {
    "float32": 4,
    "fp32": 4,
    "float16": 2,
    "fp16": 2,
    "bfloat16": 2,
    "bf16": 2,
    "float8": 1,
    "fp8": 1,
    "int8": 1,
    "int4": 0.5,
}
_REQUIRED = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")


class ModelSpec(BaseModel):
    """The dimensions of a dense decoder and the byte width its weights are served at."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    n_layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    n_heads: int = Field(gt=0)
    n_kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    intermediate_size: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    tie_word_embeddings: bool = False
    qkv_bias: bool = False
    dtype_bytes: float = Field(2.0, gt=0, description="bytes per weight and per KV element")
    max_context: int | None = None

    # -- sizes ------------------------------------------------------------------------
    @property
    def layer_params(self) -> int:
        d, h, kv, dh, f = (
            self.hidden_size,
            self.n_heads,
            self.n_kv_heads,
            self.head_dim,
            self.intermediate_size,
        )
        attn = d * h * dh + 2 * d * kv * dh + h * dh * d
        bias = (h * dh + 2 * kv * dh) if self.qkv_bias else 0
        return attn + bias + 3 * d * f + 2 * d

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def lm_head_params(self) -> int:
        """Parameters of the output projection (shared with the embedding when tied)."""
        return self.vocab_size * self.hidden_size

    @property
    def params(self) -> int:
        untied = 0 if self.tie_word_embeddings else self.lm_head_params
        return self.n_layers * self.layer_params + self.embedding_params + self.hidden_size + untied

    @property
    def weight_bytes(self) -> float:
        return self.params * self.dtype_bytes

    @property
    def layer_weight_bytes(self) -> float:
        return self.layer_params * self.dtype_bytes

    @property
    def kv_bytes_per_token(self) -> float:
        """K and V for every layer, for one position of one sequence."""
        return 2 * self.n_layers * self.n_kv_heads * self.head_dim * self.dtype_bytes

    @property
    def matmul_flops_per_token(self) -> float:
        """2 FLOPs per weight a token multiplies: every layer plus the lm_head.

        The embedding lookup is a gather, not a matmul, so it costs no FLOPs.
        """
        return 2.0 * (self.n_layers * self.layer_params + self.lm_head_params)

    def layer_attention_flops(self, context: Any) -> Any:
        """QK^T and AV of one layer for one query position attending over `context`
        positions (a sum of contexts for several queries; arrays allowed)."""
        return 4.0 * self.n_heads * self.head_dim * context

    def with_dtype_bytes(self, dtype_bytes: float) -> ModelSpec:
        return self.model_copy(update={"dtype_bytes": dtype_bytes})

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_config(
        cls, config: dict[str, Any] | str | Path, *, name: str | None = None
    ) -> ModelSpec:
        """Build a spec from an HF config dict or a path to `config.json` (or its folder)."""
        if isinstance(config, (str, Path)):
            path = Path(config)
            if path.is_dir():
                path = path / "config.json"
            if not path.is_file():
                raise HardwareError(f"model config not found: {path} (give a config.json path)")
            try:
                data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise HardwareError(f"cannot read model config {path}: {exc}") from exc
            return cls.from_config(data, name=name or path.parent.name or path.stem)
        if not isinstance(config, dict):
            raise HardwareError(
                f"model config must be a dict or a path, got {type(config).__name__}"
            )
        cfg = dict(config.get("text_config") or {}) or config  # multimodal wrappers nest it
        missing = [k for k in _REQUIRED if k not in cfg]
        if "intermediate_size" not in cfg and "ffn_dim" not in cfg:
            missing.append("intermediate_size")
        if missing:
            raise HardwareError(
                f"model config lacks {', '.join(missing)}; a decoder config needs "
                f"{', '.join(_REQUIRED + ('intermediate_size',))}"
            )
        if cfg.get("num_local_experts") or cfg.get("num_experts"):
            raise HardwareError(
                "mixture-of-experts configs are not supported by the emulator "
                "(accepted: dense Llama/Qwen2/Mistral-style decoders)"
            )
        try:
            d = int(cfg["hidden_size"])
            h = int(cfg["num_attention_heads"])
            dtype = str(cfg.get("torch_dtype") or cfg.get("dtype") or "bfloat16")
            arch = " ".join(cfg.get("architectures") or []) + str(cfg.get("model_type", ""))
            return cls(
                name=name or str(cfg.get("_name_or_path") or cfg.get("model_type") or "custom"),
                n_layers=int(cfg["num_hidden_layers"]),
                hidden_size=d,
                n_heads=h,
                n_kv_heads=int(cfg.get("num_key_value_heads") or h),
                head_dim=int(cfg.get("head_dim") or d // h),
                intermediate_size=int(cfg.get("intermediate_size") or cfg["ffn_dim"]),
                vocab_size=int(cfg["vocab_size"]),
                tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
                qkv_bias=bool(cfg.get("attention_bias", False)) or "qwen2" in arch.lower(),
                dtype_bytes=_DTYPE_BYTES.get(dtype.lower().removeprefix("torch."), 2),
                max_context=cfg.get("max_position_embeddings"),
            )
        except (TypeError, ValueError) as exc:
            raise HardwareError(f"model config has a malformed field: {exc}") from exc


def _llama(name: str, L: int, d: int, h: int, kv: int, f: int, V: int, **kw: Any) -> ModelSpec:
    return ModelSpec(
        name=name,
        n_layers=L,
        hidden_size=d,
        n_heads=h,
        n_kv_heads=kv,
        head_dim=kw.pop("head_dim", d // h),
        intermediate_size=f,
        vocab_size=V,
        **kw,
    )


# Dimensions from each model's published config.json on the Hugging Face Hub.
BUNDLED_SPECS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        _llama(
            "llama-3.2-1b",
            16,
            2048,
            32,
            8,
            8192,
            128256,
            head_dim=64,
            tie_word_embeddings=True,
            max_context=131072,
        ),
        _llama(
            "llama-3.2-3b",
            28,
            3072,
            24,
            8,
            8192,
            128256,
            head_dim=128,
            tie_word_embeddings=True,
            max_context=131072,
        ),
        _llama("llama-3.1-8b", 32, 4096, 32, 8, 14336, 128256, max_context=131072),
        _llama("llama-3.1-70b", 80, 8192, 64, 8, 28672, 128256, max_context=131072),
        _llama("llama-3.1-405b", 126, 16384, 128, 8, 53248, 128256, max_context=131072),
        _llama("llama-2-7b", 32, 4096, 32, 32, 11008, 32000, max_context=4096),
        _llama("llama-2-70b", 80, 8192, 64, 8, 28672, 32000, max_context=4096),
        _llama("qwen2.5-7b", 28, 3584, 28, 4, 18944, 152064, qkv_bias=True, max_context=131072),
        _llama("qwen2.5-72b", 80, 8192, 64, 8, 29568, 152064, qkv_bias=True, max_context=131072),
    )
}

_SHIPPED = Path(__file__).resolve().parent.parent / "models"
# The shipped model's shape, used when its folder is absent (a wheel built without weights):
# the same numbers as engine/models/arith-tiny/config.json.
_ARITH_TINY_FALLBACK = _llama("arith-tiny", 4, 256, 4, 4, 688, 94, dtype_bytes=4, max_context=1024)


def spec_names() -> list[str]:
    return sorted([*BUNDLED_SPECS, "arith-tiny"])


@lru_cache(maxsize=64)
def _by_name(key: str) -> ModelSpec:
    if key in BUNDLED_SPECS:
        return BUNDLED_SPECS[key]
    shipped = _SHIPPED / key / "config.json"
    if shipped.is_file():
        return ModelSpec.from_config(shipped, name=key)
    if key == "arith-tiny":
        return _ARITH_TINY_FALLBACK
    raise HardwareError(
        f"unknown model {key!r}; accepted names: {', '.join(spec_names())}, "
        "or a path to a config.json"
    )


def get_spec(model: str | Path | dict[str, Any] | ModelSpec) -> ModelSpec:
    """A spec from a bundled name (case-insensitive), a config.json path, or a config dict."""
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, dict):
        return ModelSpec.from_config(model)
    text = str(model)
    if text.endswith(".json") or Path(text).is_dir() and (Path(text) / "config.json").is_file():
        return ModelSpec.from_config(text)
    return _by_name(text.strip().lower())
