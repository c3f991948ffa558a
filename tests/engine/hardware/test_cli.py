"""`thinkfast hw profiles` / `hw project` / `hw calibration`, driven through the real CLI."""

from __future__ import annotations

import json

import pytest

from thinkfast.cli import main

KEYS = {
    "hardware",
    "model",
    "batch",
    "devices",
    "fits",
    "ttft_s",
    "tokens_per_s_per_user",
    "aggregate_tokens_per_s",
    "usd_per_million_tokens",
    "energy_j_per_token",
}


def test_profiles_lists_every_shipped_profile(capsys):
    assert main(["hw", "profiles"]) == 0
    out = capsys.readouterr().out
    for name in ("cs3", "cs2", "groq", "a100", "h100", "h200", "b200", "local-cpu"):
        assert name in out


def test_project_json_has_exactly_the_documented_keys(capsys):
    argv = [
        "hw",
        "project",
        "--model",
        "llama-3.1-70b",
        "--hardware",
        "cs3,h100,groq",
        "--batch",
        "1,8,64",
        "--context",
        "2048",
        "--json",
    ]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 9 and all(set(r) == KEYS for r in rows)
    cs3 = [r for r in rows if r["hardware"] == "cs3"]
    assert cs3[0]["devices"] == 4 and cs3[0]["fits"] is True
    assert [r["batch"] for r in cs3] == [1, 8, 64]
    assert cs3[0]["aggregate_tokens_per_s"] < cs3[-1]["aggregate_tokens_per_s"]


def test_project_table_and_config_path(tmp_path, capsys):
    config = {
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_attention_heads": 32,
        "num_hidden_layers": 16,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "tie_word_embeddings": True,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert (
        main(
            [
                "hw",
                "project",
                "--model",
                str(tmp_path / "config.json"),
                "--hardware",
                "h200",
                "--json",
            ]
        )
        == 0
    )
    (row,) = json.loads(capsys.readouterr().out)
    assert row["usd_per_million_tokens"] is None and row["devices"] == 1
    assert main(["hw", "project", "--model", "llama-3.1-8b", "--hardware", "cs3"]) == 0
    assert "tok/s/user" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "llama-7"], "unknown model 'llama-7'"),
        (["--model", "llama-3.1-8b", "--hardware", "tpu"], "accepted: cs3"),
        (["--model", "llama-3.1-8b", "--batch", "1,0"], "--batch must be positive"),
        (["--model", "llama-3.1-8b", "--batch", "x"], "--batch must be positive"),
        (["--model", "llama-3.1-8b", "--context", "-5"], "--context must be positive"),
    ],
)
def test_bad_input_exits_2_with_a_one_line_error(argv, message, capsys):
    assert main(["hw", "project", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_calibration_command_prints_errors_within_tolerance(capsys):
    assert main(["hw", "calibration", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 5 and all(abs(r["error"]) <= 0.15 for r in rows)
