"""`thinkfast hw project` deployment flags and `thinkfast hw breakeven`, driven through the
real CLI: precision, fixed device counts, prices, utilisation, energy, context warnings,
and the break-even batch (checked against the projections on either side of it)."""

from __future__ import annotations

import json

import pytest
from thinkfast.engine.hardware import get_profile, get_spec, project
from thinkfast.engine.hardware.economics import Pricing, break_even, spec_at_dtype

from thinkfast.cli import main


def rows(capsys, *argv: str) -> list[dict]:
    assert main(["hw", "project", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def answers(capsys, *argv: str) -> list[dict]:
    assert main(["hw", "breakeven", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_dtype_sets_the_bytes_of_weights_and_kv(capsys):
    # 70B: 141 GB at 16 bits -> 4 wafers (the seed thread's answer); 71 GB at fp8 -> 2;
    # 35 GB at int4 -> 1 (one wafer offers 44 GB x 0.85 = 37.4 GB)
    for dtype, wafers in (("bf16", 4), ("fp16", 4), ("fp8", 2), ("int4", 1)):
        (row,) = rows(capsys, "-m", "llama-3.1-70b", "--hardware", "cs3", "--dtype", dtype)
        assert row["devices"] == wafers and row["fits"], dtype
    assert main(["hw", "project", "-m", "llama-3.1-70b", "--dtype", "fp7"]) == 2
    err = capsys.readouterr().err
    assert "unknown dtype 'fp7'; accepted: fp32, bf16" in err and "Traceback" not in err


def test_fixed_devices_and_a_clear_error_when_they_cannot_hold_the_model(capsys):
    got = rows(capsys, "-m", "llama-3.1-70b", "--hardware", "h100", "--devices", "8",
               "--batch", "1,64")  # fmt: skip
    assert [r["devices"] for r in got] == [8, 8]
    fewest = rows(capsys, "-m", "llama-3.1-70b", "--hardware", "h100")[0]["devices"]
    assert fewest == 2 and got[0]["tokens_per_s_per_user"] > 2 * 32  # 8-way beats 2-way
    assert main(["hw", "project", "-m", "llama-3.1-70b", "--hardware", "h100",
                 "--devices", "1"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "1 x h100 cannot hold llama-3.1-70b" in err and "the fewest that fit: 2" in err
    assert "GB usable" in err and "Traceback" not in err


def test_larger_batches_that_do_not_fit_are_marked_with_the_reason(capsys):
    argv = ["hw", "project", "-m", "llama-3.1-70b", "--hardware", "cs3", "--devices", "4",
            "--batch", "1,64"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "NO: cs3 at batch 64: needs" in out and "J/tok" in out


def test_energy_and_cost_follow_the_pricing_flags(capsys):
    base = {"-m": "llama-3.1-8b", "--hardware": "h200", "--batch": "1,16"}
    argv = [x for kv in base.items() for x in kv]
    plain = rows(capsys, *argv)
    assert all(r["usd_per_million_tokens"] is None for r in plain)  # H200 carries no price
    for r in plain:  # D devices x 700 W over the tokens they emit
        assert r["energy_j_per_token"] == pytest.approx(
            r["devices"] * 700 / r["aggregate_tokens_per_s"]
        )
    rented = rows(capsys, *argv, "--usd-per-hour", "3.5")
    for r in rented:
        assert r["usd_per_million_tokens"] == pytest.approx(
            r["devices"] * 3.5 / (3600 * r["aggregate_tokens_per_s"]) * 1e6
        )
    half = rows(capsys, *argv, "--usd-per-hour", "3.5", "--utilisation", "0.5")
    assert [h["usd_per_million_tokens"] for h in half] == pytest.approx(
        [2 * r["usd_per_million_tokens"] for r in rented]
    )
    # a purchase price amortised over 3 years plus 700 W at $0.10/kWh
    bought = rows(capsys, *argv, "--usd-per-device", "26280")
    hourly = 26280 / (3 * 365 * 24) + 0.7 * 0.10
    assert bought[0]["usd_per_million_tokens"] == pytest.approx(
        hourly / (3600 * bought[0]["aggregate_tokens_per_s"]) * 1e6
    )


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--usd-per-hour", "2", "--usd-per-device", "1"], "not both"),
        (["--utilisation", "1.5"], "--utilisation must be in (0, 1]"),
        (["--utilisation", "0"], "--utilisation must be a positive number"),
        (["--usd-per-hour", "cheap"], "--usd-per-hour must be a positive number"),
        (["--devices", "0"], "--devices must be positive"),
    ],
)
def test_bad_deployment_flags_exit_2_with_one_line(extra, message, capsys):
    assert main(["hw", "project", "-m", "llama-3.1-8b", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_context_beyond_the_models_maximum_warns(capsys):
    assert main(["hw", "project", "-m", "llama-3.1-8b", "--hardware", "h100",
                 "--context", "200000"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "warning: context 200,000 exceeds llama-3.1-8b's maximum of 131,072" in err
    assert main(["hw", "project", "-m", "llama-3.1-8b", "--context", "131072"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_breakeven_is_the_first_batch_at_or_under_the_price(capsys):
    (a,) = answers(capsys, "-m", "llama-3.1-70b", "--hardware", "h100", "--devices", "8",
                   "--price", "0.60")  # fmt: skip
    b = a["batch"]
    assert b and a["devices"] == 8 and a["usd_per_million_tokens"] <= 0.60
    before, at = rows(capsys, "-m", "llama-3.1-70b", "--hardware", "h100", "--devices", "8",
                      "--batch", f"{b - 1},{b}")  # fmt: skip
    assert before["usd_per_million_tokens"] > 0.60 >= at["usd_per_million_tokens"]
    assert at["usd_per_million_tokens"] == pytest.approx(a["usd_per_million_tokens"])
    assert main(["hw", "breakeven", "-m", "llama-3.1-70b", "--hardware", "h100",
                 "--price", "0.60"]) == 0  # fmt: skip
    assert "breaks even at batch" in capsys.readouterr().out


def test_four_wafers_never_break_even_at_60_cents_and_say_why(capsys):
    # the seed thread: $10M of wafers at ~$250/M tokens at batch 1 -> batch ~420 at $0.60;
    # the emulator agrees on batch 1 (~$241/M) but 4 wafers hold only 12 users' 2k contexts
    (one,) = rows(capsys, "-m", "llama-3.1-70b", "--hardware", "cs3", "--devices", "4")
    assert 230 < one["usd_per_million_tokens"] < 250
    argv = ["-m", "llama-3.1-70b", "--hardware", "cs3", "--devices", "4", "--price", "0.60"]
    (a,) = answers(capsys, *argv)
    assert a["batch"] is None and a["cheapest_batch"] == a["largest_batch"] == 12
    assert a["cheapest_usd_per_million_tokens"] == pytest.approx(
        one["usd_per_million_tokens"] / 12, rel=0.01
    )
    assert "does not fit" in a["stopped_because"]
    assert main(["hw", "breakeven", *argv]) == 0
    out = capsys.readouterr().out
    assert "never at these constants: the minimum is $20.0" in out and "batch 12" in out


@pytest.mark.parametrize(
    "model, hardware, dtype, context, devices, price",
    [
        ("llama-3.1-70b", "h100", None, 2048, None, 0.60),
        ("llama-3.1-70b", "cs3", "int4", 512, None, 0.60),
        ("llama-3.1-8b", "groq", None, 1024, None, 5.0),
        ("llama-3.1-8b", "a100", "fp8", 4096, 2, 0.10),
        ("llama-3.1-70b", "cs3", None, 2048, None, 0.60),  # never: cheapest over 600 batches
    ],
)
def test_band_search_matches_a_scan_of_every_batch(model, hardware, dtype, context, devices, price):
    spec, profile = spec_at_dtype(get_spec(model), dtype), get_profile(hardware)
    answer = break_even(spec, profile, price, context=context, devices=devices, max_batch=600)
    pricing, first, cheapest = Pricing(), None, None
    for b in range(1, 601):
        p = project(spec, profile, batch=b, context=context, devices=devices)
        if not p.fits:
            break
        usd = pricing.usd_per_million_tokens(profile, p.devices, p.aggregate_tokens_per_s)
        cheapest = usd if cheapest is None else min(cheapest, usd)
        if usd <= price:
            first = b
            break
    assert answer.batch == first
    if hardware == "cs3" and dtype is None:
        assert first is None and answer.cheapest_batch > 1
    if first is None:
        assert answer.cheapest_usd_per_million_tokens == pytest.approx(cheapest)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--price", "0"], "--price must be a positive number"),
        (["--price", "0.6", "--hardware", "h200"], "has no price; give --usd-per-device"),
        (["--price", "0.6", "--max-batch", "-3"], "--max-batch must be positive"),
        (["--price", "0.6", "--devices", "1", "--hardware", "h100"], "does not fit on 1 x h100"),
    ],
)
def test_breakeven_bad_input_exits_2_with_one_line(extra, message, capsys):
    assert main(["hw", "breakeven", "-m", "llama-3.1-70b", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
