"""The training targets of arith-tiny's roles (tools/arith_model/formats.py, data.py).

`tools/` is a folder of scripts, not an installed package, so the repository root goes
on the import path here.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from thinkfast.evals.arith import make_problem, parse_work, render_steps, solutions
from thinkfast.orchestrator.prompt_pack import PromptPack

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
formats = pytest.importorskip("tools.arith_model.formats")
data = pytest.importorskip("tools.arith_model.data")

PACK = PromptPack.model_validate(formats.prompt_pack_dict())


def _problem(level: int = 3, seed: int = 11):
    return make_problem(level, seed, "train")


def test_critic_solves_by_another_method_and_compares_answers():
    p = _problem()
    methods = solutions(p)
    assert len(methods) >= 2
    name, steps = next(iter(methods.items()))
    right = render_steps(steps, p.answer)
    wrong = render_steps(steps, p.answer + 1)
    rng = random.Random(0)
    for cand, ok in ((right, True), (wrong, False), (p.target, True), ("7", False)):
        text, verdict = formats.critique_target(p, cand, rng)
        assert verdict is ok
        assert PACK.parse_verdict(text) is ok
        own = text.split("\n")[0].split(", ")
        if cand in (right, wrong):
            assert own != steps  # never re-derives along the candidate's own steps
        assert own in methods.values()
        claimed = parse_work(cand)[1]
        assert f"Got: {p.target}, claimed: {claimed}" in text


def test_judge_chooses_the_candidate_whose_answer_it_got():
    p = _problem(4, 5)
    steps = next(iter(solutions(p).values()))
    right, wrong = render_steps(steps, p.answer), render_steps(steps, p.answer - 10)
    rng = random.Random(1)
    text, choice = formats.judge_target(p, right, wrong, rng)
    assert choice == 0 and PACK.parse_choice(text) == 0
    text, choice = formats.judge_target(p, wrong, right, rng)
    assert choice == 1 and PACK.parse_choice(text) == 1
    assert f"A: {p.answer - 10}, B: {p.target}" in text


def test_refine_keeps_a_right_worked_answer_and_otherwise_writes_the_critics_work():
    p = _problem()
    steps = next(iter(solutions(p).values()))
    right = render_steps(steps, p.answer)
    rng = random.Random(2)
    critique, ok = formats.critique_target(p, right, rng)
    assert formats.refine_target(p, right, ok, critique) == right
    critique, ok = formats.critique_target(p, "123", rng)
    fixed = formats.refine_target(p, "123", ok, critique)
    assert PACK.extract_answer(fixed) == p.target
    assert fixed.split("\n")[0] == critique.split("\n")[0]


def test_training_examples_never_use_held_out_questions():
    from thinkfast.evals.arith import is_held_out

    rng = random.Random(3)
    for _ in range(300):
        assert not is_held_out(data.train_problem(rng))
