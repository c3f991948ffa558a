"""Verifiers: the programmatic equation checker, the user's callable (failures recorded
per candidate, never losing the query), the model's critic, and the name lookup."""

import asyncio
import time

import pytest
from thinkfast.orchestrator import StrategyConfigError, athink
from thinkfast.orchestrator.verifiers import (
    CallableVerifier,
    EquationVerifier,
    ModelVerifier,
    PythonVerifier,
    as_verifier,
)


def check(text, answer, partial=False):
    return asyncio.run(EquationVerifier().check("q", text, answer, partial=partial))


def test_equations_right_work_passes_and_a_slip_is_named_with_its_value():
    good = check("900*22=19800, 30*22=660, 19800+660=20460\nAnswer: 20460", "20460")
    assert (good.score, good.ok) == (1.0, True)
    slip = check("70*6=420, 5*6=35, 420+35=455\nAnswer: 455", "455")
    assert (slip.score, slip.ok) == (0.0, False)
    assert "5*6=35 is wrong: 5*6 is 30" in slip.findings


def test_equations_answer_must_be_the_last_value_but_not_in_a_partial_solution():
    bad = check("79+66=145, 145*4=580\nAnswer: 590", "590")
    assert bad.ok is False and "not the last value" in bad.findings
    partial = check("79+66=145, 145*4=580, ", None, partial=True)
    assert partial.ok is True


def test_equations_with_nothing_to_check_is_undecided():
    assert check("Answer: 12", "12").score == 0.5


def test_unknown_verifier_names_the_accepted_ones():
    with pytest.raises(StrategyConfigError, match="accepted: critic, step, equations, python"):
        as_verifier("oracle")
    assert isinstance(as_verifier("critic"), ModelVerifier)
    assert isinstance(as_verifier(lambda q, t, a: 1.0), CallableVerifier)


async def test_a_raising_verifier_fails_that_candidate_not_the_query(engine, quick_pack):
    def broken(question, text, answer):
        if answer == "145":
            raise RuntimeError("cannot read this one")
        return 1.0

    answer = await athink(
        "79+66",
        "beam",
        engine,
        pack=quick_pack,
        verifier=broken,
        delimiter=", ",
        width=2,
        expansions=2,
        seed=3,
    )
    assert answer.answer is not None
    errors = [f for f in answer.failures if f.role == "verifier:broken"]
    assert all("RuntimeError: cannot read this one" in f.error for f in errors)


async def test_a_verifier_that_times_out_is_a_recorded_failure(engine, quick_pack):
    def slow(question, text, answer):
        time.sleep(1.0)
        return 1.0

    verifier = CallableVerifier(slow, timeout_s=0.05)
    answer = await athink("58+67", "best_of_n", engine, pack=quick_pack, n=2, verifier=verifier)
    assert answer.answer is not None
    assert answer.failures and all("timed out" in f.error for f in answer.failures)
    assert all(c.scores == [0.0] for c in answer.candidates)


async def test_the_critic_verifier_reads_all_candidates_in_one_call(engine, quick_pack):
    answer = await athink(
        "58+67", "best_of_n", engine, pack=quick_pack, n=3, verifier="critic", seed=2
    )
    critic_calls = [c for c in answer.calls if c.role == "critique"]
    assert len(critic_calls) == 1 and critic_calls[0].requests == 3
    assert all(len(c.scores) == 1 for c in answer.candidates)


async def test_python_verifier_runs_code_answers_with_tests():
    verifier = PythonVerifier(tests="assert add(2, 3) == 5")
    good = await verifier.check(
        "q", "```python\ndef add(a, b):\n    return a + b\n```", None, partial=False
    )
    bad = await verifier.check(
        "q", "```python\ndef add(a, b):\n    return a - b\n```", None, partial=False
    )
    assert (good.score, bad.score) == (1.0, 0.0)
    assert "AssertionError" in bad.findings
