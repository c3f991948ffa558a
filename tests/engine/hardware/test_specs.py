"""ModelSpec: parameter arithmetic against published sizes, config parsing, typed errors."""

from __future__ import annotations

import json

import pytest
from thinkfast.engine.errors import HardwareError, ThinkfastError
from thinkfast.engine.hardware import BUNDLED_SPECS, ModelSpec, get_spec, spec_names

LLAMA_8B_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "torch_dtype": "bfloat16",
    "tie_word_embeddings": False,
    "max_position_embeddings": 131072,
}


@pytest.mark.parametrize(
    "name, billions",
    [  # sizes as published on each model card
        ("llama-3.2-1b", 1.24),
        ("llama-3.2-3b", 3.21),
        ("llama-3.1-8b", 8.03),
        ("llama-3.1-70b", 70.6),
        ("llama-3.1-405b", 405.9),
        ("qwen2.5-7b", 7.61),
        ("qwen2.5-72b", 72.7),
    ],
)
def test_parameter_count_matches_published_size(name, billions):
    assert get_spec(name).params / 1e9 == pytest.approx(billions, rel=0.005)


def test_spec_from_config_dict_equals_bundled_spec():
    spec = ModelSpec.from_config(LLAMA_8B_CONFIG, name="mine")
    bundled = BUNDLED_SPECS["llama-3.1-8b"]
    assert spec.params == bundled.params
    assert spec.kv_bytes_per_token == bundled.kv_bytes_per_token == 2 * 32 * 8 * 128 * 2
    assert spec.weight_bytes == pytest.approx(16.06e9, rel=0.001)


def test_spec_from_config_path_and_folder(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**LLAMA_8B_CONFIG, "torch_dtype": "float32"}))
    by_file = get_spec(str(folder / "config.json"))
    by_folder = ModelSpec.from_config(folder)
    assert by_file.name == by_folder.name == "my-model"
    assert (
        by_file.dtype_bytes == 4
        and by_file.weight_bytes == 2 * BUNDLED_SPECS["llama-3.1-8b"].weight_bytes
    )


def test_qwen2_config_gets_qkv_bias_and_tied_embeddings_count_once():
    qwen = {**LLAMA_8B_CONFIG, "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"}
    assert ModelSpec.from_config(qwen).qkv_bias
    tied = ModelSpec.from_config({**LLAMA_8B_CONFIG, "tie_word_embeddings": True})
    assert BUNDLED_SPECS["llama-3.1-8b"].params - tied.params == 128256 * 4096


def test_names_are_case_insensitive_and_listed():
    assert get_spec("Llama-3.1-70B") is get_spec("llama-3.1-70b")
    assert {"arith-tiny", "llama-3.1-405b", "qwen2.5-72b"} <= set(spec_names())
    assert get_spec("arith-tiny").n_layers == 4 and get_spec("arith-tiny").hidden_size == 256


def test_unknown_model_name_lists_accepted_names():
    with pytest.raises(HardwareError, match="unknown model 'gpt-5'.*llama-3.1-70b"):
        get_spec("gpt-5")


@pytest.mark.parametrize(
    "missing", ["hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size"]
)
def test_config_missing_fields_is_a_typed_error(missing):
    config = {k: v for k, v in LLAMA_8B_CONFIG.items() if k != missing}
    with pytest.raises(HardwareError, match=missing) as info:
        ModelSpec.from_config(config)
    assert isinstance(info.value, ThinkfastError)


def test_missing_config_file_and_moe_config_are_typed_errors(tmp_path):
    with pytest.raises(HardwareError, match="not found"):
        ModelSpec.from_config(tmp_path / "nope" / "config.json")
    with pytest.raises(HardwareError, match="mixture-of-experts"):
        ModelSpec.from_config({**LLAMA_8B_CONFIG, "num_local_experts": 8})
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(HardwareError, match="cannot read"):
        ModelSpec.from_config(tmp_path / "bad.json")
