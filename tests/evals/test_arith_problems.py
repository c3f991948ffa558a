"""The arithmetic task family: seeded problems, disjoint splits, taught methods, step checks."""

import random

import pytest
from thinkfast.evals.arith import (
    EVAL_SEEDS,
    LEVELS,
    TRAIN_SEEDS,
    SeedSplitError,
    check_steps,
    eval_holdout,
    is_held_out,
    make_problem,
    make_problems,
    parse_work,
    render_steps,
    solutions,
)


def _value(step: str) -> int:
    expr, _, value = step.partition("=")
    return int(value), expr


def test_same_seed_same_problem_and_levels_differ():
    assert make_problem(3, 7, "train") == make_problem(3, 7, "train")
    assert make_problem(3, 7, "train").question != make_problem(3, 8, "train").question
    assert [make_problem(lv, 1, "train").level for lv in LEVELS] == sorted(LEVELS)


def test_split_ranges_are_disjoint_and_enforced():
    assert TRAIN_SEEDS.stop <= EVAL_SEEDS.start
    with pytest.raises(SeedSplitError, match="outside the train range"):
        make_problem(1, EVAL_SEEDS.start, "train")
    with pytest.raises(SeedSplitError, match="outside the eval range"):
        make_problem(1, 5, "eval")
    with pytest.raises(SeedSplitError, match="unknown split"):
        make_problem(1, 5, "test")
    with pytest.raises(SeedSplitError, match="unknown level"):
        make_problem(9, 5, "train")


def test_holdout_hashes_the_eval_pool_and_catches_collisions():
    evals = make_problems(1, "eval", 50)
    assert all(is_held_out(p) for p in evals)
    # level 1 has few distinct problems, so some training seeds DO collide with the pool;
    # the hash check is what keeps them out of training data
    rng = random.Random(0)
    train = [make_problem(1, rng.randrange(TRAIN_SEEDS.stop), "train") for _ in range(3000)]
    collisions = [p for p in train if is_held_out(p)]
    assert 0 < len(collisions) < len(train)
    assert all(
        p.question in {q.question for lv in LEVELS for q in make_problems(lv, "eval", 5000)}
        for p in collisions[:3]
    )
    assert len(eval_holdout()) > 4 * 1000


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_every_taught_method_is_arithmetically_right(level):
    for p in make_problems(level, "train", 60, start=1000):
        methods = solutions(p)
        assert len(methods) >= 2 or p.kind in ("mul", "two_products"), p
        for name, steps in methods.items():
            for step in steps:
                value, expr = _value(step)
                assert eval(expr) == value, (p.question, name, step)  # noqa: S307
            if name != "columns":
                assert _value(steps[-1])[0] == p.answer, (p.question, name)
            text = render_steps(steps, p.answer)
            assert parse_work(text) == (steps, p.target)
            check = check_steps(p, steps, p.target)
            assert check.correct and check.first_wrong is None


def test_hardest_levels_are_multi_step():
    p = make_problem(3, 11, "train")
    assert p.kind == "mul" and len(p.question.split("*")[0]) == 3
    level4 = {make_problem(4, s, "train").kind for s in range(200)}
    assert level4 == {"mul_sub", "mul_add", "sum_mul", "diff_mul", "two_products"}


def test_check_names_the_first_wrong_step():
    p = make_problem(3, 3, "train")
    steps = list(solutions(p)["split_a"])
    bad = list(steps)
    value, expr = _value(bad[1])
    bad[1] = f"{expr}={value + 10}"
    check = check_steps(p, bad, str(p.answer + 10))
    assert check.method == "split_a" and check.first_wrong == 1 and not check.correct
    assert parse_work(p.target) == ([], p.target)  # a direct answer has no steps
