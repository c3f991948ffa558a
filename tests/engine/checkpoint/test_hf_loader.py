"""Loading checkpoints: accepted forms, config dialects, dtypes, and typed errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from thinkfast.engine import ModelLoadError, UnsupportedArchitectureError
from thinkfast.engine.checkpoint.loader import load_checkpoint
from thinkfast.engine.local.config import ModelArgs, rope_inv_freq

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LLAMA = FIXTURES / "llama-tied-headdim"


def copy(tmp_path: Path, src: Path = LLAMA) -> Path:
    return Path(shutil.copytree(src, tmp_path / "model"))


def edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (folder / "config.json").write_text(json.dumps(config))


def test_reads_an_hf_folder():
    ckpt = load_checkpoint(LLAMA)
    assert ckpt.name == "llama-tied-headdim"
    assert ckpt.config["head_dim"] == 24
    assert ckpt.eos_token_ids == [2]
    assert ckpt.special_tokens["bos_token"] == "<s>" and ckpt.add_bos_token
    assert "messages" in ckpt.chat_template
    assert all(w.dtype == np.float32 for w in ckpt.weights.values())


def test_bf16_and_fp16_weights_widen_exactly():
    bf16 = load_checkpoint(FIXTURES / "llama-gqa-llama3-bf16").weights["model.norm.weight"]
    bits = bf16.view(np.uint32)
    assert np.all(bits & 0xFFFF == 0)  # bf16 is fp32 with the low 16 bits zero
    fp16 = load_checkpoint(FIXTURES / "qwen2-bias").weights["model.norm.weight"]
    assert np.array_equal(fp16, fp16.astype(np.float16).astype(np.float32))


def test_sharded_checkpoint_equals_single_file(tmp_path):
    folder = copy(tmp_path)
    tensors = load_file(str(folder / "model.safetensors"))
    names = sorted(tensors)
    half = len(names) // 2
    shards = {
        "model-00001-of-00002.safetensors": names[:half],
        "model-00002-of-00002.safetensors": names[half:],
    }
    for shard, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, str(folder / shard))
    weight_map = {k: shard for shard, keys in shards.items() for k in keys}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (folder / "model.safetensors").unlink()
    sharded = load_checkpoint(folder).weights
    single = load_checkpoint(LLAMA).weights
    assert sharded.keys() == single.keys()
    assert all(np.array_equal(sharded[k], single[k]) for k in single)
    (folder / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="model-00002-of-00002.safetensors"):
        load_checkpoint(folder)


def test_missing_and_corrupt_files_name_the_file(tmp_path):
    folder = copy(tmp_path)
    (folder / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ModelLoadError, match="model.safetensors"):
        load_checkpoint(folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="expected model.safetensors"):
        load_checkpoint(folder)
    folder2 = copy(tmp_path / "b")
    (folder2 / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match="tokenizer.json"):
        load_checkpoint(folder2)
    (folder2 / "config.json").write_text("{broken")
    with pytest.raises(ModelLoadError, match="config.json is not valid JSON"):
        load_checkpoint(folder2)


def test_missing_tensor_is_named(tmp_path):
    from thinkfast.engine import LocalEngine

    folder = copy(tmp_path)
    tensors = load_file(str(folder / "model.safetensors"))
    del tensors["model.layers.1.mlp.up_proj.weight"]
    save_file(tensors, str(folder / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="model.layers.1.mlp.up_proj.weight"):
        LocalEngine(folder)


def test_unknown_name_lists_the_accepted_forms():
    with pytest.raises(ModelLoadError, match="accepted: a bundled name") as err:
        load_checkpoint("no-such-model")
    assert ".gguf" in str(err.value) and "config.json" in str(err.value)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_checkpoint("/nowhere/model.gguf")


def test_unsupported_architecture_lists_supported(tmp_path):
    folder = copy(tmp_path)
    edit_config(folder, architectures=["MistralForCausalLM"])
    with pytest.raises(UnsupportedArchitectureError, match="LlamaForCausalLM, Qwen2ForCausalLM"):
        load_checkpoint(folder)
    edit_config(folder, architectures=["LlamaForCausalLM"], rope_parameters={"rope_type": "yarn"})
    with pytest.raises(UnsupportedArchitectureError, match="accepted: default, llama3"):
        load_checkpoint(folder)


BASE = dict(
    architectures=["LlamaForCausalLM"],
    hidden_size=64,
    num_attention_heads=4,
    num_hidden_layers=2,
    intermediate_size=128,
    vocab_size=100,
)
LLAMA3 = dict(
    factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=8192
)


def test_old_and_new_rope_fields_agree():
    old = ModelArgs.from_hf(
        {**BASE, "rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", **LLAMA3}}
    )
    new = ModelArgs.from_hf(
        {**BASE, "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, **LLAMA3}}
    )
    legacy_key = ModelArgs.from_hf(
        {**BASE, "rope_theta": 500000.0, "rope_scaling": {"type": "llama3", **LLAMA3}}
    )
    assert old == new == legacy_key
    plain = ModelArgs.from_hf({**BASE, "rope_theta": 500000.0})
    assert plain.rope_scaling == {} and plain.head_dim == 16 and plain.n_kv_heads == 4


def test_llama3_scaling_keeps_high_and_divides_low_frequencies():
    args = ModelArgs.from_hf(
        {
            **BASE,
            "head_dim": 128,
            "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, **LLAMA3},
        }
    )
    plain = rope_inv_freq(ModelArgs.from_hf({**BASE, "head_dim": 128, "rope_theta": 500000.0}))
    scaled = rope_inv_freq(args)
    wavelen = 2 * np.pi / plain
    assert np.allclose(scaled[wavelen < 8192 / 4], plain[wavelen < 8192 / 4])
    assert np.allclose(scaled[wavelen > 8192], plain[wavelen > 8192] / 8)
    mid = (wavelen >= 8192 / 4) & (wavelen <= 8192)
    assert mid.any() and np.all(scaled[mid] <= plain[mid]) and np.all(scaled[mid] >= plain[mid] / 8)


def test_qwen2_gets_qkv_bias_and_llama_attention_bias_adds_o_bias():
    qwen = ModelArgs.from_hf({**BASE, "architectures": ["Qwen2ForCausalLM"]})
    assert qwen.qkv_bias and not qwen.o_bias
    biased = ModelArgs.from_hf({**BASE, "attention_bias": True})
    assert biased.qkv_bias and biased.o_bias
    assert (
        ModelArgs.from_hf(
            {k: v for k, v in BASE.items() if k != "architectures"} | {"model_type": "qwen2"}
        ).architecture
        == "Qwen2ForCausalLM"
    )
    with pytest.raises(UnsupportedArchitectureError, match="lacks 'vocab_size'"):
        ModelArgs.from_hf({k: v for k, v in BASE.items() if k != "vocab_size"})
    with pytest.raises(UnsupportedArchitectureError, match="hidden_act"):
        ModelArgs.from_hf({**BASE, "hidden_act": "gelu"})
