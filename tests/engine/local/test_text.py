"""Chat templates rendered like transformers, and incremental detokenization."""

from __future__ import annotations

from pathlib import Path

import pytest
from thinkfast.engine import InvalidRequestError
from thinkfast.engine.checkpoint import Checkpoint
from thinkfast.engine.local.chat_template import TemplateError, render_chat
from thinkfast.engine.local.tokenizer import IncrementalDetokenizer, TextCodec

MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Grüße?"}]


def test_template_sees_messages_special_tokens_and_generation_prompt():
    template = (
        "{{ bos_token }}{% for m in messages %}\n"
        "  [{{ m.role }}] {{ m.content }}{{ eos_token }}\n"
        "{% endfor %}\n"
        "{% if add_generation_prompt %}[assistant] {% endif %}"
    )
    # trim_blocks and lstrip_blocks as transformers sets them: block tags leave no whitespace.
    text = render_chat(template, MSGS, bos_token="<s>", eos_token="</s>")
    assert text == "<s>  [system] Be brief.</s>\n  [user] Grüße?</s>\n[assistant] "
    no_prompt = render_chat(template, MSGS, add_generation_prompt=False, bos_token="", eos_token="")
    assert not no_prompt.endswith("[assistant] ")


def test_tojson_keeps_unicode_and_raise_exception_is_typed():
    assert render_chat("{{ messages | tojson }}", MSGS[1:]) == (
        '[{"role": "user", "content": "Grüße?"}]'
    )
    refuse = (
        "{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}"
    )
    with pytest.raises(TemplateError, match="first must be user") as err:
        render_chat(refuse, MSGS)
    assert isinstance(err.value, InvalidRequestError)
    with pytest.raises(TemplateError, match="does not compile"):
        render_chat("{% for %}", MSGS)


def test_loopcontrols_are_enabled():
    template = "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}{{ m.role }}{% endfor %}"
    assert render_chat(template, MSGS) == "system"


def _byte_level_codec() -> TextCodec:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(["hello world, hello there"] * 20, trainer=trainer)
    ckpt = Checkpoint(name="bytes", path=Path("."), config={}, weights={}, tokenizer=tok)
    return TextCodec(ckpt)


def test_incremental_detokenizer_never_splits_a_character():
    codec = _byte_level_codec()
    text = "hello 🙂 wörld, 日本 there"
    ids = codec.encode(text)
    assert len(ids) > len(text.split())  # multi-byte characters span several tokens
    detok = IncrementalDetokenizer(codec)
    deltas = [detok.push(i) for i in ids]
    deltas.append(detok.flush())
    assert "".join(deltas) == text
    assert all("\ufffd" not in d for d in deltas)
    assert "" in deltas  # held back while a character was incomplete


def test_messages_without_a_template_are_refused():
    codec = _byte_level_codec()
    with pytest.raises(InvalidRequestError, match="no chat template"):
        codec.render_messages(MSGS)
