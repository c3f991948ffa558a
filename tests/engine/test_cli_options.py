"""The engine options `ask`, `eval run`, `generate` and `serve` share, driven through the
real CLI: the same flags reach a model here or the same model behind `thinkfast serve`."""

from __future__ import annotations

import json
import re

import pytest
from thinkfast.engine.local import LocalEngine
from thinkfast.engine.types import GenerationRequest
from thinkfast.evals.log import read_log

from thinkfast.cli import main

MODEL = "arith-tiny"
KEY = "sekret"


@pytest.fixture(scope="module")
def server_url():
    from thinkfast.serve.server import running_server

    with running_server(LocalEngine(MODEL), api_key=KEY) as base_url:
        yield base_url


def generate_json(capsys, *argv: str) -> dict:
    # --raw: a server does not say which prompt format its model was trained on
    assert main(["generate", "12+30=", "--raw", "--max-tokens", "8", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_generate_gives_the_same_text_here_and_on_a_server(capsys, server_url):
    here = generate_json(capsys, "-m", MODEL)
    there = generate_json(capsys, "-m", MODEL, "--base-url", server_url, "--api-key", KEY)
    assert there["texts"] == here["texts"] and there["model"] == MODEL
    assert "weights_mib" in here["load"] and "weights_mib" not in there["load"]
    assert set(there["timing"]["emulated"]) == {"cs3", "h100"}  # the spec is guessed


def test_the_environment_names_the_server_and_the_key(capsys, monkeypatch, server_url):
    monkeypatch.setenv("THINKFAST_BASE_URL", server_url)
    monkeypatch.setenv("THINKFAST_API_KEY", KEY)
    assert generate_json(capsys, "-m", MODEL, "--hardware", "groq")["timing"][
        "emulated"
    ].keys() == {"groq"}
    monkeypatch.setenv("THINKFAST_API_KEY", "wrong")
    assert main(["generate", "12+30=", "-m", MODEL]) == 2
    assert "401" in capsys.readouterr().err


def test_ask_and_eval_take_the_same_remote_options(capsys, tmp_path, server_url, quick_pack):
    pack = tmp_path / "pack.json"
    pack.write_text(quick_pack.model_dump_json())
    remote = ["-m", MODEL, "--base-url", server_url, "--api-key", KEY, "--pack", str(pack)]
    assert main(["ask", "58+67", "-s", "single", "--json", *remote]) == 0
    assert json.loads(capsys.readouterr().out)["strategy"] == "single"
    log = tmp_path / "log"
    argv = ["eval", "run", "arith-1", "--limit", "2", "--log-dir", str(log), "--no-progress"]
    assert main([*argv, *remote]) == 0, capsys.readouterr().err
    header, records = read_log(log)
    assert header.spec.engine_options["engine"] == "OpenAIEngine" and len(records) == 2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "hi", "--base-url", "http://127.0.0.1:9/v1"], "GET /models"),
        (["ask", "1+1", "--provider", "nope", "-m", "x"], "unknown provider"),
        (["generate", "hi", "--hardware", "cs3,nope"], "nope"),
        (["serve", MODEL, "-m", "other"], "two models named"),
    ],
)
def test_bad_engine_options_are_one_line_errors(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("thinkfast: error:") and message in err and "Traceback" not in err


def test_without_m_a_server_s_only_model_is_used(capsys, server_url):
    argv = ["ask", "12+34", "-s", "single", "--json", "--base-url", server_url, "--api-key", KEY]
    assert main(argv) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["model"] == MODEL


def test_without_m_a_server_with_several_models_says_which(capsys, monkeypatch, server_url):
    from thinkfast.engine.remote import OpenAIEngine

    async def two_models(self):
        return [{"id": "model-b"}, {"id": "model-a"}]

    # the listing itself is what varies here; the rest is the real command and server
    monkeypatch.setattr(OpenAIEngine, "list_models", two_models)
    assert main(["ask", "1+1", "--base-url", server_url, "--api-key", KEY]) == 2
    err = capsys.readouterr().err
    assert "serves 2 models; name one with -m: model-a, model-b" in err


def test_generate_takes_the_model_positionally_and_its_trained_format(capsys):
    assert main(["generate", MODEL, "12+34"]) == 0
    positional = capsys.readouterr().out
    assert main(["generate", "12+34", "-m", MODEL]) == 0
    assert capsys.readouterr().out == positional
    # arith-tiny reads "Q: ...\nThink: " (its pack's draft template): it works the sum out
    assert re.fullmatch(r"Answer: -?\d+", positional.strip().splitlines()[-1])
    assert main(["generate", MODEL, "Q: 12+34\nThink: ", "--raw"]) == 0
    assert capsys.readouterr().out == positional
    assert main(["generate", MODEL, "12+34", "--chat"]) == 0
    assert capsys.readouterr().out == positional  # its chat template is the same format


def test_serve_without_a_model_serves_the_shipped_one():
    from thinkfast.engine.cli_options import engine_from_args, take_positional_model

    from thinkfast.cli import build_parser

    args = build_parser(["serve"]).parse_args(["serve"])
    take_positional_model(args, args.served)  # what `thinkfast serve` does before serving
    engine = engine_from_args(args)
    assert isinstance(engine, LocalEngine) and engine.model_name == "arith-tiny"


def test_a_seeded_sample_has_the_same_numbers_beside_others_and_after_a_cached_prompt():
    # `generate --n N --seed S` draws sample i as `--seed S+i` alone would (engine.py's
    # seed rule), and a server answers a request the same whatever it answered before.
    # Both need a row's logits to be the same bits whether it decodes beside other rows or
    # alone, and whether its prompt was prefilled whole or found in the prefix cache (a lone
    # row once took numpy's GEMV, which rounds differently from GEMM: ~1e-5 apart).
    engine = LocalEngine(MODEL)

    def numbers(n: int, seed: int) -> list[tuple[list[int], list[float]]]:
        request = GenerationRequest(
            prompt="Q: 58+67\nThink: ", n=n, seed=seed, temperature=1.0, max_tokens=24,
            logprobs=True,
        )  # fmt: skip
        (generation,) = engine.generate_sync([request])
        return [(s.token_ids, [lp.logprob for lp in s.logprobs or []]) for s in generation.samples]

    together = numbers(3, seed=5)  # one prefill, three rows per decode step
    alone = [numbers(1, seed=5 + i)[0] for i in range(3)]  # the prompt is cached now
    assert engine.prefix_cache.hit_tokens > 0  # the single runs did use the cached prompt
    assert together == alone
