"""The v2 roles' training data (tools/arith_model/steps.py, role_data.py): step verifier
labels, aggregator / debater targets, the thinking extension and draft continuation."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest
from thinkfast.evals.arith import make_problem, parse_work, render_steps, solutions
from thinkfast.orchestrator.prompt_pack import PromptPack

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
formats = pytest.importorskip("tools.arith_model.formats")
steps_mod = pytest.importorskip("tools.arith_model.steps")
role_data = pytest.importorskip("tools.arith_model.role_data")
data = pytest.importorskip("tools.arith_model.data")

PACK = PromptPack.model_validate(formats.prompt_pack_dict())


def _problem(level: int = 3, seed: int = 11):
    return make_problem(level, seed, "train")


def test_verifier_labels_every_step_of_a_right_answer_and_the_answer_line():
    p = _problem()
    for ref in solutions(p).values():
        items = steps_mod.step_items(p, render_steps(ref, p.answer))
        assert len(items) == len(ref) + 1
        assert all(it.ok for it in items)
        assert all(PACK.parse_verdict(it.target) is True for it in items)
        assert items[-1].work.endswith(f"\nAnswer: {p.target}")
        # the verifier writes the step it checks, then the values side by side
        assert items[1].target.split("\n")[0] == ref[1]


def test_verifier_stops_at_the_first_wrong_value_and_writes_the_right_step():
    p = _problem()
    ref = next(iter(solutions(p).values()))
    expr, _, value = ref[1].rpartition("=")
    bad = [ref[0], f"{expr}={int(value) + 10}", *ref[2:]]
    items = steps_mod.step_items(p, render_steps(bad, p.answer))
    assert [it.ok for it in items] == [True, False]
    assert items[1].work == f"{ref[0]}, {bad[1]}"
    assert items[1].target.split("\n")[0] == ref[1]
    assert f"Got: {value}, claimed: {int(value) + 10}" in items[1].target
    assert PACK.parse_verdict(items[1].target) is False


def test_a_right_value_on_a_wrong_operand_is_a_wrong_step():
    p = make_problem(4, 5, "train")
    ref = next(iter(solutions(p).values()))
    # the last step adds the two earlier results; feed it a slipped operand
    x, op_y = ref[-1].split("=")[0], ref[-1].split("=")[1]
    m = __import__("re").match(r"(\d+)([-+*])(\d+)", x)
    a, op, b = m.group(1), m.group(2), m.group(3)
    slipped = f"{int(a) + 1}{op}{b}={data._apply(int(a) + 1, op, int(b))}"
    got = steps_mod.verify_step_target(p, ref[:-1], slipped)
    assert got is not None and got[1] is False
    assert got[0].split("\n")[0] == ref[-1]
    assert op_y  # the reference step has a value


def test_a_wrong_answer_line_after_right_steps_is_rejected():
    p = _problem()
    ref = next(iter(solutions(p).values()))
    items = steps_mod.step_items(p, render_steps(ref, p.answer + 1))
    assert [it.ok for it in items] == [True] * len(ref) + [False]
    assert PACK.parse_verdict(items[-1].target) is False


def test_verifier_examples_are_balanced_and_in_the_pack_format():
    rng = random.Random(4)
    oks = []
    for _ in range(400):
        prompt, target = role_data.verify_example(data.train_problem(rng), [], rng)
        assert prompt.startswith("Q: ") and prompt.endswith(
            "\nWork: " + prompt.split("\nWork: ")[1]
        )
        assert prompt.endswith("\nVerify: ")
        verdict = PACK.parse_verdict(target)
        assert verdict is not None
        oks.append(verdict)
    assert 0.4 < sum(oks) / len(oks) < 0.6


def _pool(tmp_path: Path):
    p = _problem(4, 7)
    ref = next(iter(solutions(p).values()))
    right = render_steps(ref, p.answer)
    wrong = render_steps(ref, p.answer + 3)
    row = {"level": p.level, "seed": p.seed, "samples": [right, wrong, right, wrong]}
    path = tmp_path / "pool.jsonl"
    path.write_text(json.dumps(row) + "\n")
    return p, role_data.load_pool(path)


def test_pool_round_trip_and_own_wrong_candidates(tmp_path):
    p, pool = _pool(tmp_path)
    assert pool[0].problem == p
    assert pool[0].answers() == [p.target, str(p.answer + 3)] * 2
    wrong = role_data.wrong_candidates(pool)
    assert len(wrong) == 2 and all(parse_work(c.text)[1] != p.target for c in wrong)


def test_aggregator_and_debater_choose_the_right_answer_when_offered(tmp_path):
    p, pool = _pool(tmp_path)
    rng = random.Random(5)
    for _ in range(50):
        prompt, target = role_data.aggregate_example(p, pool, rng)
        offered = prompt.split("\nAnswers: ")[1].split("\nBest: ")[0].split(", ")
        q = prompt.split("\n")[0][3:]
        truth = make_problem(4, 7, "train").target if q == p.question else None
        if truth is not None and truth in offered:
            assert target == truth
        assert target in offered  # choose among them, never a new number
        assert PACK.extract_answer(target) == target
        prompt, target = role_data.debate_example(p, pool, rng)
        mine = prompt.split("\nMine: ")[1].split("\n")[0]
        others = prompt.split("\nOthers: ")[1].split("\nRevised: ")[0].split(", ")
        assert target in [mine, *others]


def test_thinking_extension_solves_again_by_another_method():
    p = _problem()
    rng = random.Random(6)
    for _ in range(30):
        prompt, target = role_data.think_more_example(p, [], rng)
        assert prompt.endswith("\nWait: ") and "\nAnswer:" not in prompt
        steps, answer = parse_work(target)
        assert answer == p.target and steps in solutions(p).values()
        first = prompt.split("\nThink: ")[1].split("\nWait: ")[0].split(", ")
        assert steps != first


def test_continuation_goes_on_from_a_right_prefix():
    p = _problem()
    rng = random.Random(7)
    prompt, target = role_data.continue_example(p, rng)
    prefix = prompt.split("\nThink: ")[1]
    full = prefix + target
    assert parse_work(full)[0] in solutions(p).values()
    assert parse_work(full)[1] == p.target


def test_stage2_mix_draws_every_role_and_stage1_is_unchanged(tmp_path):
    _, pool = _pool(tmp_path)
    rng = random.Random(8)
    seen = set()
    for _ in range(400):
        prompt, _ = data.make_example(rng, data.STAGE2_MIX, role_data.wrong_candidates(pool), pool)
        for cue, role in (
            ("\nVerify: ", "verify"),
            ("\nBest: ", "aggregate"),
            ("\nRevised: ", "debate"),
            ("\nWait: ", "think_more"),
        ):
            if prompt.endswith(cue):
                seen.add(role)
    assert seen == {"verify", "aggregate", "debate", "think_more"}
    # the v1 phases draw the same examples as before the v2 roles existed (zero weights
    # at the end of the role list leave rng.choices unchanged)
    a = [data.make_example(random.Random(9), data.PHASE1_MIX) for _ in range(1)]
    assert a[0][0].startswith("Q: ")
