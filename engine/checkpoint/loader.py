"""load_checkpoint: a model name or path -> Checkpoint.

Owns the accepted forms of "which model": a bundled short name (a folder under
engine/models/, e.g. "arith-tiny"), a Hugging Face folder (config.json, model.safetensors
or a sharded model.safetensors.index.json, tokenizer.json, tokenizer_config.json,
generation_config.json), or a .gguf file / known GGUF name (delegated to
`thinkfast.engine.checkpoint.gguf`, imported only when needed). Weights in fp32/fp16/bf16 become fp32.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError
from ..local.config import ModelArgs
from .record import Checkpoint

__all__ = ["DEFAULT_MODEL", "MODELS_DIR", "bundled_models", "load_checkpoint"]

DEFAULT_MODEL = "arith-tiny"  # the shipped model: runs anywhere, offline, in seconds

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
_GGUF_NAMES = ("smollm2-135m",)


def bundled_models() -> list[str]:
    """Short names of the models shipped inside the package."""
    if not MODELS_DIR.is_dir():
        return []
    return sorted(p.name for p in MODELS_DIR.iterdir() if (p / "config.json").is_file())


def load_checkpoint(name_or_path: str | Path) -> Checkpoint:
    """Load a bundled model, an HF checkpoint folder or a GGUF file into a Checkpoint."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if text.endswith(".gguf") or text in _GGUF_NAMES:
        return _load_gguf(text, path)
    if path.is_dir():
        return load_hf_folder(path)
    if "/" not in text and (MODELS_DIR / text / "config.json").is_file():
        return load_hf_folder(MODELS_DIR / text, name=text)
    raise ModelLoadError(
        f"no model found for {text!r}; accepted: a bundled name "
        f"({', '.join(bundled_models()) or 'none installed'}), a Hugging Face folder with "
        "config.json, model.safetensors and tokenizer.json, or a .gguf file "
        f"(or a known GGUF name: {', '.join(_GGUF_NAMES)})"
    )


def _load_gguf(text: str, path: Path) -> Checkpoint:
    try:
        from . import gguf
    except ImportError as exc:
        raise ModelLoadError(
            f"GGUF support is unavailable ({exc}); install thinkfast[gguf]"
        ) from exc
    if not text.endswith(".gguf"):
        found = gguf.find_known_gguf(text)
        if found is None:
            raise ModelLoadError(
                f"the GGUF model {text!r} is not present on this machine; pass the path of "
                "its .gguf file (nothing is downloaded at run time)"
            )
        path = Path(found)
    if not path.is_file():
        raise ModelLoadError(f"GGUF file {path} does not exist")
    return gguf.load_gguf(path)


def load_hf_folder(folder: Path, *, name: str | None = None) -> Checkpoint:
    """Read an HF-layout checkpoint folder (see module docstring for the files)."""
    config = _read_json(folder / "config.json", required=True)
    ModelArgs.from_hf(config)  # fail early, before reading weights, on unknown architectures
    tok_config = _read_json(folder / "tokenizer_config.json", required=False)
    gen_config = _read_json(folder / "generation_config.json", required=False)
    weights = _read_weights(folder)
    tokenizer = _read_tokenizer(folder / "tokenizer.json")
    special = _special_tokens(tok_config, tokenizer)
    template = tok_config.get("chat_template")
    jinja = folder / "chat_template.jinja"
    if template is None and jinja.is_file():
        template = jinja.read_text(encoding="utf-8")
    if isinstance(template, list):  # [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in template}
        template = named.get("default") or next(iter(named.values()), None)
    return Checkpoint(
        name=name or folder.resolve().name,
        path=folder,
        config=config,
        weights=weights,
        tokenizer=tokenizer,
        chat_template=template,
        special_tokens=special,
        add_bos_token=bool(tok_config.get("add_bos_token", False)),
        eos_token_ids=_eos_ids(gen_config, config, special, tokenizer),
        generation_config=gen_config,
    )


def _read_json(path: Path, *, required: bool) -> dict[str, Any]:
    if not path.is_file():
        if required:
            raise ModelLoadError(f"{path} is missing; an HF checkpoint folder needs {path.name}")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} must hold a JSON object, not {type(data).__name__}")
    return data


def _read_weights(folder: Path) -> dict[str, np.ndarray]:
    single = folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    if single.is_file():
        files = [single]
    elif index.is_file():
        weight_map = _read_json(index, required=True).get("weight_map") or {}
        files = [folder / f for f in sorted(set(weight_map.values()))]
        missing = [f.name for f in files if not f.is_file()]
        if missing or not files:
            raise ModelLoadError(
                f"{index} names shards that are missing: {', '.join(missing) or '(none listed)'}"
            )
    else:
        raise ModelLoadError(
            f"no weights in {folder}; expected model.safetensors or model.safetensors.index.json"
        )
    weights: dict[str, np.ndarray] = {}
    for f in files:
        weights.update(_read_safetensors(f))
    return weights


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """All tensors of one file as fp32. bf16 is widened by hand (numpy has no bfloat16)."""
    from safetensors import SafetensorError, safe_open

    out: dict[str, np.ndarray] = {}
    try:
        # The torch-free "numpy" framework cannot return bf16, so read raw bytes for it.
        with safe_open(str(path), framework="numpy") as f:
            names = list(f.keys())
        header = _safetensors_header(path)
        with safe_open(str(path), framework="numpy") as f:
            for key in names:
                dtype = header[key]["dtype"]
                if dtype == "BF16":
                    out[key] = _bf16_tensor(path, header, key)
                elif dtype in ("F32", "F16", "F64"):
                    out[key] = np.ascontiguousarray(f.get_tensor(key), dtype=np.float32)
                else:
                    raise ModelLoadError(
                        f"{path.name}: tensor {key} has dtype {dtype}; accepted: F32, F16, BF16"
                    )
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not a readable safetensors file: {exc}") from exc
    return out


def _safetensors_header(path: Path) -> dict[str, Any]:
    with open(path, "rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(size))
    header["__offset__"] = 8 + size
    return header


def _bf16_tensor(path: Path, header: dict[str, Any], key: str) -> np.ndarray:
    start, end = header[key]["data_offsets"]
    raw = np.fromfile(
        path, dtype=np.uint16, count=(end - start) // 2, offset=header["__offset__"] + start
    )
    # bf16 is the top half of an fp32: shift the bits up and reinterpret.
    return (raw.astype(np.uint32) << 16).view(np.float32).reshape(header[key]["shape"])


def _read_tokenizer(path: Path) -> Any:
    from tokenizers import Tokenizer

    if not path.is_file():
        raise ModelLoadError(f"{path} is missing; an HF checkpoint folder needs tokenizer.json")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust side raises a bare Exception
        raise ModelLoadError(f"{path} is not a valid tokenizer.json: {exc}") from exc


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):  # {"content": "<s>", "__type": "AddedToken", ...}
        return value.get("content")
    return value if isinstance(value, str) else None


def _special_tokens(tok_config: dict[str, Any], tokenizer: Any) -> dict[str, str]:
    special = {}
    for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
        text = _token_text(tok_config.get(key))
        if text is not None:
            special[key] = text
    return special


def _eos_ids(
    gen_config: dict[str, Any], config: dict[str, Any], special: dict[str, str], tokenizer: Any
) -> list[int]:
    """eos ids: generation_config wins (it may list several), then config.json, then the token."""
    for source in (gen_config, config):
        eos = source.get("eos_token_id")
        if eos is not None:
            return [int(e) for e in (eos if isinstance(eos, list) else [eos])]
    if "eos_token" in special:
        tid = tokenizer.token_to_id(special["eos_token"])
        if tid is not None:
            return [tid]
    return []
