"""Arithmetic problems at graded levels, their worked solutions, and the train/eval seed split.

This module owns the task family the shipped model (`arith-tiny`) is trained on and the
evals measure it on:

- `make_problem(level, seed, split)` draws one problem; the same (level, seed) always gives
  the same problem. Training and evaluation draw from DISJOINT seed ranges
  (`TRAIN_SEEDS`, `EVAL_SEEDS`) and asking for a seed outside its split's range raises
  `SeedSplitError`. Because small levels have few distinct problems, disjoint seeds are not
  enough: `eval_holdout()` hashes the evaluation pool and the training-data builder drops
  every problem whose hash is in it (`is_held_out`).
- `solutions(problem)` lists every worked solution the model is taught, one per solution
  method (split either factor into place values, round and correct, a full grid, count up,
  column addition ...). Several equally valid paths per problem make sampled errors less
  correlated, which is what lets majority votes win (Self-Consistency, Wang et al. 2022).
- `check_steps(problem, steps, answer)` grades a worked answer step by step against the
  method it follows and names the first wrong step; critic, judge and refine training data
  (and their evaluation) are built from it.

Levels (the question is the bare expression, e.g. ``347*68``):

1. addition of 2-3 digit numbers;
2. 2-digit x 1-digit products, and sums/differences of 3-digit numbers;
3. 3-digit x 2-digit products;
4. multi-step expressions with parentheses: ``(47*23)-158``, ``(38+57)*16``, ``47*8+36*7``.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
from dataclasses import dataclass
from functools import lru_cache

from thinkfast.engine.errors import ThinkfastError

__all__ = [
    "LEVELS",
    "TRAIN_SEEDS",
    "EVAL_SEEDS",
    "EVAL_POOL_SIZE",
    "ArithProblem",
    "SeedSplitError",
    "StepCheck",
    "make_problem",
    "make_problems",
    "solutions",
    "render_steps",
    "parse_work",
    "check_steps",
    "problem_hash",
    "eval_holdout",
    "is_held_out",
]

LEVELS: dict[int, str] = {
    1: "addition of 2-3 digit numbers",
    2: "2-digit x 1-digit products; sums and differences of 3-digit numbers",
    3: "3-digit x 2-digit products",
    4: "multi-step expressions with parentheses",
}

# Disjoint seed ranges. Evaluation seeds start far above anything training draws.
TRAIN_SEEDS = range(0, 1_000_000_000)
EVAL_SEEDS = range(1_000_000_000, 1_001_000_000)
# The evaluation pool whose hashes training must avoid: the first EVAL_POOL_SIZE eval
# seeds of every level (evals use seeds from the start of EVAL_SEEDS).
EVAL_POOL_SIZE = 5000

_SPLITS = {"train": TRAIN_SEEDS, "eval": EVAL_SEEDS}


class SeedSplitError(ThinkfastError, ValueError):
    """A seed outside its split's range, an unknown split, or an unknown level."""


@dataclass(frozen=True)
class ArithProblem:
    """One problem: `question` is the expression the model reads, `answer` its value."""

    level: int
    seed: int
    question: str
    answer: int
    kind: str  # add, sub, mul, mul_sub, mul_add, sum_mul, diff_mul, two_products

    @property
    def target(self) -> str:
        return str(self.answer)


# -- generation ---------------------------------------------------------------------------


def _rng(level: int, seed: int) -> random.Random:
    # String seeding is stable across Python versions and processes (hash randomisation
    # does not apply to random.Random(str)), so problems are reproducible anywhere.
    return random.Random(f"arith:{level}:{seed}")


def _num(rng: random.Random, digits: int) -> int:
    return rng.randint(10 ** (digits - 1), 10**digits - 1)


def make_problem(level: int, seed: int, split: str) -> ArithProblem:
    """The problem for (level, seed); `split` ("train" or "eval") must own the seed."""
    if split not in _SPLITS:
        raise SeedSplitError(f"unknown split {split!r}; splits are 'train' and 'eval'")
    if seed not in _SPLITS[split]:
        owner = _SPLITS[split]
        raise SeedSplitError(
            f"seed {seed} is outside the {split} range [{owner.start}, {owner.stop}); "
            "training and evaluation seeds must not overlap"
        )
    if level not in LEVELS:
        raise SeedSplitError(f"unknown level {level!r}; levels are {sorted(LEVELS)}")
    rng = _rng(level, seed)
    if level == 1:
        a, b = _num(rng, rng.choice((2, 3))), _num(rng, rng.choice((2, 3)))
        return ArithProblem(level, seed, f"{a}+{b}", a + b, "add")
    if level == 2:
        form = rng.choice(("mul", "add", "sub"))
        if form == "mul":
            a, b = _num(rng, 2), rng.randint(2, 9)
            return ArithProblem(level, seed, f"{a}*{b}", a * b, "mul")
        a, b = _num(rng, 3), _num(rng, 3)
        if form == "add":
            return ArithProblem(level, seed, f"{a}+{b}", a + b, "add")
        a, b = max(a, b), min(a, b)
        if a == b:
            a += 1
        return ArithProblem(level, seed, f"{a}-{b}", a - b, "sub")
    if level == 3:
        a, b = _num(rng, 3), _num(rng, 2)
        return ArithProblem(level, seed, f"{a}*{b}", a * b, "mul")
    form = rng.choice(("mul_sub", "mul_add", "sum_mul", "diff_mul", "two_products"))
    if form in ("mul_sub", "mul_add"):
        a, b, c = _num(rng, 2), _num(rng, 2), _num(rng, 3)
        if form == "mul_sub":
            return ArithProblem(level, seed, f"({a}*{b})-{c}", a * b - c, form)
        return ArithProblem(level, seed, f"({a}*{b})+{c}", a * b + c, form)
    if form in ("sum_mul", "diff_mul"):
        a, b, c = _num(rng, 2), _num(rng, 2), _num(rng, rng.choice((1, 2)))
        c = max(c, 2)
        if form == "sum_mul":
            return ArithProblem(level, seed, f"({a}+{b})*{c}", (a + b) * c, form)
        a, b = max(a, b), min(a, b)
        if a == b:
            a += 1
        return ArithProblem(level, seed, f"({a}-{b})*{c}", (a - b) * c, form)
    a, b, c, d = _num(rng, 2), rng.randint(2, 9), _num(rng, 2), rng.randint(2, 9)
    return ArithProblem(level, seed, f"{a}*{b}+{c}*{d}", a * b + c * d, "two_products")


def make_problems(
    level: int, split: str, count: int, start: int | None = None
) -> list[ArithProblem]:
    """`count` consecutive problems of `level` from the split's range (from `start`)."""
    base = _SPLITS[split].start if split in _SPLITS else 0
    first = base if start is None else start
    return [make_problem(level, seed, split) for seed in range(first, first + count)]


# -- hashing: the train/eval disjointness check ----------------------------------------------


def problem_hash(problem: ArithProblem | str) -> str:
    """A stable hash of the question text (what the model sees), not of the seed."""
    text = problem if isinstance(problem, str) else problem.question
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@lru_cache(maxsize=1)
def eval_holdout() -> frozenset[str]:
    """Hashes of every question in the evaluation pool (all levels)."""
    return frozenset(
        problem_hash(p) for level in LEVELS for p in make_problems(level, "eval", EVAL_POOL_SIZE)
    )


def is_held_out(problem: ArithProblem | str) -> bool:
    """True when the question appears in the evaluation pool (training must skip it)."""
    return problem_hash(problem) in eval_holdout()


# -- solution methods -----------------------------------------------------------------------
# A solution is a list of steps "x op y=z", each one elementary and checkable on its own.


def _places(n: int) -> list[int]:
    """Non-zero place-value parts, largest first: 307 -> [300, 7]."""
    digits = str(n)
    parts = [int(d) * 10 ** (len(digits) - i - 1) for i, d in enumerate(digits)]
    return [p for p in parts if p] or [0]


def _step(x: int, op: str, y: int) -> tuple[str, int]:
    value = x + y if op == "+" else x - y if op == "-" else x * y
    return f"{x}{op}{y}={value}", value


def _chain(first: int, terms: list[tuple[str, int]]) -> tuple[list[str], int]:
    """Running total: first op t1, then result op t2, ..."""
    steps, total = [], first
    for op, t in terms:
        s, total = _step(total, op, t)
        steps.append(s)
    return steps, total


def _add_methods(a: int, b: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    # column addition, units first; the carry is written as a third term
    da, db = str(a)[::-1], str(b)[::-1]
    steps, carry = [], 0
    for i in range(max(len(da), len(db))):
        x = int(da[i]) if i < len(da) else 0
        y = int(db[i]) if i < len(db) else 0
        total = x + y + carry
        steps.append(f"{x}+{y}+{carry}={total}" if carry else f"{x}+{y}={total}")
        carry = total // 10
    out["columns"] = steps
    out["split_b"] = _chain(a, [("+", p) for p in _places(b)])[0]
    out["split_a"] = _chain(b, [("+", p) for p in _places(a)])[0]
    if b % 10:
        up = b + 10 - b % 10
        out["round_b"] = _chain(a, [("+", up), ("-", up - b)])[0]
    return out


def _sub_methods(a: int, b: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    out["split_b"] = _chain(a, [("-", p) for p in _places(b)])[0]
    if b % 10:
        up = b + 10 - b % 10
        out["round_b"] = _chain(a, [("-", up), ("+", up - b)])[0]
    # count up from b to the next hundred, then to a
    hundred = (b // 100 + 1) * 100
    if b < hundred < a:
        s1, _ = _step(b, "+", hundred - b)
        s2, _ = _step(hundred, "+", a - hundred)
        s3, _ = _step(hundred - b, "+", a - hundred)
        out["count_up"] = [s1, s2, s3]
    return out


def _mul_methods(a: int, b: int) -> dict[str, list[str]]:
    """a * b with a the longer factor (2-3 digits) and b 1-2 digits."""
    out: dict[str, list[str]] = {}
    # split a into place values, each times b
    parts = [_step(p, "*", b) for p in _places(a)]
    sums = _chain(parts[0][1], [("+", v) for _, v in parts[1:]])[0]
    out["split_a"] = [s for s, _ in parts] + sums
    if b >= 10:
        parts = [_step(a, "*", p) for p in _places(b)]
        out["split_b"] = [s for s, _ in parts] + _chain(
            parts[0][1], [("+", v) for _, v in parts[1:]]
        )[0]
        if b % 10 >= 5:
            up = b + 10 - b % 10
            s1, v1 = _step(a, "*", up)
            s2, v2 = _step(a, "*", up - b)
            out["round_b"] = [s1, s2, _step(v1, "-", v2)[0]]
        grid = [_step(p, "*", q) for p in _places(a) for q in _places(b)]
        # the full grid is taught only where it stays short (2x2 digits)
        if 2 < len(grid) <= 4:
            out["grid"] = [s for s, _ in grid] + _chain(
                grid[0][1], [("+", v) for _, v in grid[1:]]
            )[0]
    elif a % 10 >= 5:
        up = a + 10 - a % 10
        s1, v1 = _step(up, "*", b)
        s2, v2 = _step(up - a, "*", b)
        out["round_a"] = [s1, s2, _step(v1, "-", v2)[0]]
    return out


def _expr_solutions(problem: ArithProblem) -> dict[str, list[str]]:
    q, kind = problem.question, problem.kind
    nums = [int(x) for x in re.findall(r"\d+", q)]
    if kind == "add":
        return _add_methods(*nums)
    if kind == "sub":
        return _sub_methods(*nums)
    if kind == "mul":
        return _mul_methods(*nums)
    out: dict[str, list[str]] = {}
    if kind in ("mul_sub", "mul_add"):
        a, b, c = nums
        op = "-" if kind == "mul_sub" else "+"
        for name, steps in _mul_methods(a, b).items():
            out[name] = steps + [_step(a * b, op, c)[0]]
        return out
    if kind in ("sum_mul", "diff_mul"):
        a, b, c = nums
        op = "+" if kind == "sum_mul" else "-"
        first, s = _step(a, op, b)
        x, y = (s, c) if s >= 10 else (c, s)  # the longer factor goes first
        for name, steps in _mul_methods(x, y).items():
            out[f"first_{name}"] = [first] + steps
        if c >= 10:  # distributing needs 2-digit products in one step: taught for 1-digit c only
            return out
        pa, pb = _step(a, "*", c), _step(b, "*", c)
        out["distribute"] = [pa[0], pb[0], _step(pa[1], op, pb[1])[0]]
        return out
    if kind == "two_products":
        a, b, c, d = nums
        left, right = _mul_methods(a, b), _mul_methods(c, d)
        for (n1, s1), (n2, s2) in itertools.product(left.items(), right.items()):
            out[f"{n1}+{n2}"] = s1 + s2 + [_step(a * b, "+", c * d)[0]]
        return out
    raise SeedSplitError(f"unknown problem kind {kind!r}")


def solutions(problem: ArithProblem) -> dict[str, list[str]]:
    """Every taught worked solution of `problem`, by method name (insertion-ordered)."""
    return _expr_solutions(problem)


# -- rendering and checking worked answers ----------------------------------------------------

STEP_SEP = ", "
ANSWER_PREFIX = "Answer: "


def render_steps(steps: list[str], answer: int | str) -> str:
    """A worked answer as the model writes it: steps, then the answer line."""
    return f"{STEP_SEP.join(steps)}\n{ANSWER_PREFIX}{answer}"


def parse_work(text: str) -> tuple[list[str], str | None]:
    """(steps, answer) from a worked or direct answer; a bare number is a direct answer."""
    text = text.strip()
    answer = None
    if ANSWER_PREFIX in text:
        body, _, tail = text.rpartition(ANSWER_PREFIX)
        answer = tail.strip().split()[0] if tail.strip() else None
    else:
        body = text
        if re.fullmatch(r"-?\d+", body):
            return [], body
    steps = [s.strip() for s in body.strip().split(STEP_SEP.strip()) if s.strip()]
    return steps, answer


@dataclass(frozen=True)
class StepCheck:
    """How a worked answer fares against the method it follows.

    `method` is the taught method sharing the longest prefix of steps with the answer;
    `first_wrong` is the index of the first step that departs from it (None if none does);
    `answer_ok` says whether the final answer is the true value; `correct` is answer_ok.
    """

    method: str
    reference: list[str]
    first_wrong: int | None
    answer_ok: bool

    @property
    def correct(self) -> bool:
        return self.answer_ok


def check_steps(problem: ArithProblem, steps: list[str], answer: str | None) -> StepCheck:
    """Grade `steps` against the closest taught method; name the first departing step."""
    methods = solutions(problem)
    best_name, best_len = next(iter(methods)), -1
    for name, ref in methods.items():
        n = 0
        while n < min(len(ref), len(steps)) and ref[n] == steps[n]:
            n += 1
        if n > best_len:
            best_name, best_len = name, n
    ref = methods[best_name]
    if best_len == len(ref) == len(steps):
        first_wrong = None
    else:
        first_wrong = best_len
    return StepCheck(best_name, ref, first_wrong, answer == problem.target)
