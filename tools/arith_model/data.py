"""Training examples for every role: (prompt, completion) pairs drawn from training seeds.

Drafts come from the taught solution methods (one chosen at random per example, so the
model learns them all). Critic, judge and refine examples need wrong candidates: phase 1
makes them by corrupting one step of a correct solution (and carrying the error forward,
the way a real slip propagates); phase 2 mixes in the drafter's OWN sampled mistakes
(`Candidate` pool from `mine.py`), so the critic learns the errors it will really see.
Every problem is drawn from `TRAIN_SEEDS` and checked against the evaluation hold-out.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from thinkfast.evals.arith import (
    TRAIN_SEEDS,
    ArithProblem,
    is_held_out,
    make_problem,
    render_steps,
    solutions,
)

from .formats import (
    critique_prompt,
    critique_target,
    direct_prompt,
    draft_prompt,
    judge_prompt,
    judge_target,
    refine_prompt,
    refine_target,
)

__all__ = [
    "Candidate",
    "ExampleMix",
    "train_problem",
    "corrupt",
    "make_example",
    "PHASE1_MIX",
    "PHASE2_MIX",
    "STAGE2_MIX",
    "ROLES",
]

LEVEL_WEIGHTS = {1: 0.14, 2: 0.2, 3: 0.33, 4: 0.33}


@dataclass(frozen=True)
class Candidate:
    """A drafter's sampled answer to a training problem, kept for critic/judge/refine data."""

    problem: ArithProblem
    text: str
    correct: bool


@dataclass(frozen=True)
class ExampleMix:
    """Role proportions, and how often a wrong candidate is the model's own (vs synthetic)."""

    draft: float
    direct: float
    critique: float
    judge: float
    refine: float
    own_wrong: float = 0.0
    # v2 roles (role_data.py); zero in the v1 phases
    verify_step: float = 0.0
    aggregate: float = 0.0
    debate: float = 0.0
    think_more: float = 0.0
    draft_continue: float = 0.0


# Phase 1 drills the drafts (the arithmetic every role relies on); the other formats come
# along at a low rate so phase 2 does not start them from nothing.
PHASE1_MIX = ExampleMix(draft=0.72, direct=0.1, critique=0.08, judge=0.05, refine=0.05)
PHASE2_MIX = ExampleMix(
    draft=0.36, direct=0.08, critique=0.24, judge=0.18, refine=0.14, own_wrong=0.7
)
# v2 fine-tune (finetune.py): the new roles, with the old ones kept in the mix so they are
# not forgotten; the step verifier, the headline role, gets the largest share.
STAGE2_MIX = ExampleMix(
    draft=0.15,
    direct=0.04,
    critique=0.09,
    judge=0.08,
    refine=0.04,
    own_wrong=0.7,
    verify_step=0.28,
    aggregate=0.09,
    debate=0.07,
    think_more=0.10,
    draft_continue=0.06,
)


def train_problem(rng: random.Random, level: int | None = None) -> ArithProblem:
    """A random training problem (never one in the evaluation hold-out)."""
    if level is None:
        level = rng.choices(list(LEVEL_WEIGHTS), weights=list(LEVEL_WEIGHTS.values()))[0]
    while True:
        problem = make_problem(level, rng.randrange(TRAIN_SEEDS.start, TRAIN_SEEDS.stop), "train")
        if not is_held_out(problem):
            return problem


def _perturb(value: str, rng: random.Random) -> str:
    """A plausible slip: one digit changed, off by a power of ten, or a digit dropped."""
    negative = value.startswith("-")
    digits = value.lstrip("-")
    for _ in range(20):
        kind = rng.random()
        if kind < 0.6:
            i = rng.randrange(len(digits))
            choices = [
                d
                for d in "0123456789"
                if d != digits[i] and not (i == 0 and d == "0" and len(digits) > 1)
            ]
            new = digits[:i] + rng.choice(choices) + digits[i + 1 :]
        elif kind < 0.85:
            new = str(
                max(0, int(digits) + rng.choice((-1, 1)) * 10 ** rng.randrange(max(1, len(digits))))
            )
        elif len(digits) > 1:
            i = rng.randrange(len(digits))
            new = digits[:i] + digits[i + 1 :]
            new = new.lstrip("0") or "0"
        else:
            continue
        if new != digits:
            return ("-" if negative else "") + new
    return str(int(value) + 1)


_STEP = re.compile(r"^(\d+)([-+*])(\d+)(?:\+(\d+))?=(-?\d+)$")


def _apply(x: int, op: str, y: int) -> int:
    return x + y if op == "+" else x - y if op == "-" else x * y


def corrupt(problem: ArithProblem, steps: list[str], rng: random.Random) -> tuple[list[str], str]:
    """A wrong worked answer: one step's result slips and later steps carry the slip."""
    steps = list(steps)
    if rng.random() < 0.15:  # copy slip on the answer line only
        return steps, _perturb(problem.target, rng)
    k = rng.randrange(len(steps))
    m = _STEP.match(steps[k])
    if m is None:
        return steps, _perturb(problem.target, rng)
    old = m.group(5)
    new = _perturb(old, rng)
    steps[k] = steps[k][: m.start(5)] + new
    renamed = {old: new}
    if problem.kind == "add" and all(len(s.split("+")[0]) == 1 for s in steps):
        # column addition: the answer is the column digits read back, plus the last carry
        values = [int(s.rpartition("=")[2]) for s in steps]
        answer = str(values[-1] // 10 if values[-1] >= 10 else "") + "".join(
            str(v % 10) for v in reversed(values)
        )
        answer = answer.lstrip("0") or "0"
        return steps, answer if answer != problem.target else _perturb(problem.target, rng)
    for j in range(k + 1, len(steps)):
        mj = _STEP.match(steps[j])
        if mj is None or mj.group(4) is not None:
            continue
        x, op, y = mj.group(1), mj.group(2), mj.group(3)
        if x not in renamed and y not in renamed:
            continue
        x, y = renamed.get(x, x), renamed.get(y, y)
        value = str(_apply(int(x), op, int(y)))
        renamed[mj.group(5)] = value
        steps[j] = f"{x}{op}{y}={value}"
    last = _STEP.match(steps[-1])
    answer = last.group(5) if last else _perturb(problem.target, rng)
    if answer == problem.target:
        answer = _perturb(problem.target, rng)
    return steps, answer


def _worked(problem: ArithProblem, rng: random.Random) -> str:
    return render_steps(rng.choice(list(solutions(problem).values())), problem.answer)


def _candidate(
    problem: ArithProblem, want_correct: bool, rng: random.Random, own: list[Candidate] | None
) -> tuple[ArithProblem, str]:
    """A candidate text for `problem` (or for an own-mistake problem when one is drawn)."""
    if not want_correct and own:
        c = rng.choice(own)
        return c.problem, c.text
    if rng.random() < 0.12:  # a direct answer (no scratchpad)
        return problem, problem.target if want_correct else _perturb(problem.target, rng)
    steps = rng.choice(list(solutions(problem).values()))
    if want_correct:
        return problem, render_steps(steps, problem.answer)
    bad, answer = corrupt(problem, steps, rng)
    return problem, render_steps(bad, answer)


ROLES = (
    "draft",
    "direct",
    "critique",
    "judge",
    "refine",
    "verify_step",
    "aggregate",
    "debate",
    "think_more",
    "draft_continue",
)


def make_example(
    rng: random.Random,
    mix: ExampleMix,
    own_wrong: list[Candidate] | None = None,
    pool: list | None = None,
) -> tuple[str, str]:
    """One (prompt, completion) pair of a role drawn by `mix`; `pool` (role_data.OwnSamples)
    feeds the v2 roles with the drafter's own samples."""
    from . import role_data

    role = rng.choices(ROLES, weights=[getattr(mix, r) for r in ROLES])[0]
    problem = train_problem(rng)
    if role == "verify_step":
        return role_data.verify_example(problem, pool or [], rng)
    if role == "aggregate":
        return role_data.aggregate_example(problem, pool or [], rng)
    if role == "debate":
        return role_data.debate_example(problem, pool or [], rng)
    if role == "think_more":
        return role_data.think_more_example(problem, pool or [], rng)
    if role == "draft_continue":
        return role_data.continue_example(problem, rng)
    own = own_wrong if (own_wrong and rng.random() < mix.own_wrong) else None
    if role == "draft":
        return draft_prompt(problem), _worked(problem, rng)
    if role == "direct":
        return direct_prompt(problem), problem.target
    if role == "critique":
        problem, cand = _candidate(problem, rng.random() < 0.5, rng, own)
        return critique_prompt(problem, cand), critique_target(problem, cand, rng)[0]
    if role == "judge":
        problem, wrong = _candidate(problem, False, rng, own)
        right = _candidate(problem, True, rng, None)[1]
        a, b = (right, wrong) if rng.random() < 0.5 else (wrong, right)
        return judge_prompt(problem, a, b), judge_target(problem, a, b, rng)[0]
    problem, cand = _candidate(problem, rng.random() < 0.25, rng, own)
    critique, ok = critique_target(problem, cand, rng)
    return refine_prompt(problem, cand, critique), refine_target(problem, cand, ok, critique)
