"""`thinkfast generate`, driven end to end through the real command."""

from __future__ import annotations

import json
from pathlib import Path

from thinkfast.cli import main

MODEL = str(Path(__file__).resolve().parents[1] / "fixtures" / "qwen2-bias")


def test_generate_json(capsys):
    argv = ["generate", "--model", MODEL, "hello", "--max-tokens", "7", "--n", "3"]
    argv += ["--temperature", "0.8", "--seed", "4", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["texts"]) == 3 and out["finish_reasons"] == ["length"] * 3
    assert out["usage"]["completion_tokens"] == 21 and out["usage"]["prompt_tokens"] == 6
    assert out["timing"]["wall_s"] > 0
    main(argv)
    assert json.loads(capsys.readouterr().out)["texts"] == out["texts"]  # seeded: repeatable


def test_generate_text_and_stream_agree(capsys):
    assert main(["generate", "-m", MODEL, "hi", "--max-tokens", "9"]) == 0
    plain = capsys.readouterr().out
    assert main(["generate", "-m", MODEL, "hi", "--max-tokens", "9", "--stream"]) == 0
    assert capsys.readouterr().out == plain


def test_bad_settings_are_one_line_errors(capsys):
    assert main(["generate", "-m", MODEL, "hi", "--top-p", "0"]) == 2
    err = capsys.readouterr().err
    assert "top_p" in err and "Traceback" not in err
    assert main(["generate", "-m", "/no/such/dir", "hi"]) == 2
    assert "accepted" in capsys.readouterr().err
