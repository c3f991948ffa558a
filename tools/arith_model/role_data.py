"""Training examples for the v2 roles: step verifier, aggregator, debater, thinking extension.

They draw on a pool of the drafter's OWN samples (`OwnSamples`: a training problem and
several worked answers sampled at temperature 0.7, from `mine_pool.py`), so the verifier
learns the steps the drafter really gets wrong and the aggregator and debater learn the
answer sets sampling really produces; synthetic slips (`data.corrupt`, `data._perturb`)
fill in beside them.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from thinkfast.evals.arith import ArithProblem, make_problem, parse_work, render_steps, solutions

from .formats import TEMPLATES, method_of
from .steps import step_items, verify_answer_target, verify_prompt, verify_step_target, work_upto

__all__ = [
    "OwnSamples",
    "load_pool",
    "wrong_candidates",
    "verify_example",
    "aggregate_example",
    "debate_example",
    "think_more_example",
    "continue_example",
    "answers_text",
]


@dataclass(frozen=True)
class OwnSamples:
    """A training problem and the drafter's sampled worked answers to it."""

    problem: ArithProblem
    texts: tuple[str, ...]

    def answers(self) -> list[str]:
        return [parse_work(t)[1] or "none" for t in self.texts]


def load_pool(path: Path) -> list[OwnSamples]:
    out = []
    for line in Path(path).read_text().splitlines():
        row = json.loads(line)
        problem = make_problem(row["level"], row["seed"], "train")
        out.append(OwnSamples(problem, tuple(row["samples"])))
    return out


def wrong_candidates(pool: list[OwnSamples]):
    """The pool's wrong samples as `data.Candidate`s (critic / judge / refine data)."""
    from .data import Candidate

    return [
        Candidate(s.problem, t, False)
        for s in pool
        for t in s.texts
        if t.strip() and parse_work(t)[1] != s.problem.target
    ]


def answers_text(answers: list[str]) -> str:
    return ", ".join(answers)


# -- step verifier -----------------------------------------------------------------------

_STEP = re.compile(r"^(\d+)([-+*])(\d+)=(-?\d+)$")


def _operand_slip(step: str, rng: random.Random) -> str | None:
    """A step computed right on a wrong operand (a copy slip from an earlier line)."""
    from .data import _apply, _perturb

    m = _STEP.match(step)
    if m is None:
        return None
    x, op, y = m.group(1), m.group(2), m.group(3)
    if rng.random() < 0.5:
        x = _perturb(x, rng).lstrip("-")
    else:
        y = _perturb(y, rng).lstrip("-")
    return f"{x}{op}{y}={_apply(int(x), op, int(y))}"


def _synthetic_step(problem: ArithProblem, want_ok: bool, rng: random.Random):
    """(work, target, ok) on a taught solution: its step k as is, or slipped."""
    from .data import _perturb

    steps = rng.choice(list(solutions(problem).values()))
    k = rng.randrange(len(steps) + 1)
    if k == len(steps):  # the answer line
        claimed = problem.target if want_ok else _perturb(problem.target, rng)
        return (work_upto(steps, k, claimed), *verify_answer_target(problem, claimed))
    step = steps[k]
    if not want_ok:
        expr, _, value = step.rpartition("=")
        slipped = _operand_slip(step, rng) if rng.random() < 0.3 else None
        step = slipped or f"{expr}={_perturb(value, rng)}"
    got = verify_step_target(problem, steps[:k], step)
    if got is None:
        return None
    return (", ".join(steps[:k] + [step]), *got)


_ITEMS: dict[int, list] = {}


def _items(s: OwnSamples) -> list:
    """The labelled steps of every sample of `s` (cached: the pool is fixed for a run)."""
    if id(s) not in _ITEMS:
        _ITEMS[id(s)] = [it for t in s.texts for it in step_items(s.problem, t)]
    return _ITEMS[id(s)]


def verify_example(
    problem: ArithProblem, pool: list[OwnSamples], rng: random.Random, own_share: float = 0.7
) -> tuple[str, str]:
    """A step-verifier example; right and wrong steps half and half."""
    want_ok = rng.random() < 0.5
    if pool and rng.random() < own_share:
        for _ in range(20):
            s = rng.choice(pool)
            items = [it for it in _items(s) if it.ok == want_ok]
            if items:
                it = rng.choice(items)
                return verify_prompt(s.problem, it.work), it.target
    for _ in range(20):
        got = _synthetic_step(problem, want_ok, rng)
        if got is not None:
            return verify_prompt(problem, got[0]), got[1]
    raise RuntimeError(f"no verifier example for {problem.question}")


# -- aggregator and debater ----------------------------------------------------------------


def _answer_set(
    problem: ArithProblem, pool: list[OwnSamples], k: int, rng: random.Random
) -> tuple[ArithProblem, list[str]]:
    """k answers to one problem: a draw from the drafter's own samples, or a synthetic set
    (right with a random rate, wrong ones clustered on a few slips, as sampling does)."""
    from .data import _perturb

    if pool and rng.random() < 0.6:
        s = rng.choice(pool)
        answers = s.answers()
        return s.problem, [
            answers[i] for i in rng.sample(range(len(answers)), min(k, len(answers)))
        ]
    p_right = rng.uniform(0.1, 0.9)
    slips = [_perturb(problem.target, rng) for _ in range(rng.randint(1, 3))]
    return problem, [
        problem.target if rng.random() < p_right else rng.choice(slips) for _ in range(k)
    ]


def _best(target: str, answers: list[str], fallback: str) -> str:
    """The right answer when it is among them; otherwise `fallback` (never a new number:
    the aggregator and debater choose, they do not solve)."""
    return target if target in answers else fallback


def aggregate_example(
    problem: ArithProblem, pool: list[OwnSamples], rng: random.Random
) -> tuple[str, str]:
    k = rng.choice((3, 4, 4, 4, 5, 6))
    problem, answers = _answer_set(problem, pool, k, rng)
    vote = Counter(answers).most_common(1)[0][0]
    prompt = TEMPLATES["aggregate"].format(question=problem.question, answers=answers_text(answers))
    return prompt, _best(problem.target, answers, vote)


def debate_example(
    problem: ArithProblem, pool: list[OwnSamples], rng: random.Random
) -> tuple[str, str]:
    problem, answers = _answer_set(problem, pool, rng.choice((3, 3, 4)), rng)
    mine, others = answers[0], answers[1:]
    prompt = TEMPLATES["debate"].format(
        question=problem.question, answer=mine, others=answers_text(others)
    )
    return prompt, _best(problem.target, answers, mine)


# -- thinking extension and continuation ------------------------------------------------------


def _steps_only(text: str) -> list[str]:
    return parse_work(text)[0]


def think_more_example(
    problem: ArithProblem, pool: list[OwnSamples], rng: random.Random
) -> tuple[str, str]:
    """After `\\nWait: ` the model solves again by a method it has not used yet and answers
    with that solution; one or two earlier attempts (own samples, right or wrong, or taught
    ones) come before."""
    from .data import corrupt

    attempts: list[list[str]] = []
    if pool and rng.random() < 0.6:
        s = rng.choice(pool)
        problem = s.problem
        first = _steps_only(rng.choice(s.texts))
        if first:
            attempts.append(first)
    if not attempts:
        steps = rng.choice(list(solutions(problem).values()))
        attempts.append(steps if rng.random() < 0.5 else corrupt(problem, steps, rng)[0])
    methods = solutions(problem)
    if rng.random() < 0.25 and len(methods) > 2:
        used = {method_of(problem, render_steps(attempts[0], 0))}
        fresh = [m for n, m in methods.items() if n not in used] or list(methods.values())
        attempts.append(rng.choice(fresh))
    used = {method_of(problem, render_steps(a, 0)) for a in attempts}
    fresh = [m for n, m in methods.items() if n not in used] or list(methods.values())
    thinking = "\nWait: ".join(", ".join(a) for a in attempts)
    prompt = TEMPLATES["think_more"].format(question=problem.question, thinking=thinking)
    return prompt, render_steps(rng.choice(fresh), problem.answer)


def continue_example(problem: ArithProblem, rng: random.Random) -> tuple[str, str]:
    """A draft that goes on from a right scratchpad prefix (how refine restarts from the
    first step the verifier rejects, with the verifier's corrected step appended)."""
    steps = rng.choice(list(solutions(problem).values()))
    k = rng.randrange(1, len(steps)) if len(steps) > 1 else 0
    prompt = TEMPLATES["draft"].format(question=problem.question) + "".join(
        s + ", " for s in steps[:k]
    )
    return prompt, render_steps(steps[k:], problem.answer)
