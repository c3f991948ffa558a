"""Step verification targets: which step of a worked answer is the first wrong one, and why.

A step is right when its value is the value the taught method reaches at that point
(`reference_step`): the method is the one whose steps so far equal the prefix, and, among
those, the one whose next step has the candidate's operands (or, failing that, its
value). So a wrong operand (`400+345` after a step that got 344) and a wrong result
(`40*68=2620`) are both wrong steps. Only steps whose prefix is right are labelled: after
the first wrong step no reference exists, and a verifier-guided strategy stops there.
"""

from __future__ import annotations

import re

from thinkfast.evals.arith import ArithProblem, check_steps, parse_work, solutions

from .formats import TEMPLATES

__all__ = [
    "StepItem",
    "reference_step",
    "verify_step_target",
    "verify_answer_target",
    "verify_prompt",
    "work_upto",
    "step_items",
]

_VALUE = re.compile(r"-?\d+")


def _value(step: str) -> str:
    value = step.rpartition("=")[2].strip()
    return value if "=" in step and _VALUE.fullmatch(value) else "none"


def reference_step(problem: ArithProblem, prior: list[str], step: str) -> str | None:
    """The taught step that `step` should have been after `prior` (None: no taught method
    continues `prior`, i.e. the prefix already departs or the method is finished)."""
    k = len(prior)
    refs = [r for r in solutions(problem).values() if len(r) > k and r[:k] == prior]
    if not refs:
        return None
    expr = step.partition("=")[0]
    for r in refs:
        if r[k].partition("=")[0] == expr:
            return r[k]
    for r in refs:
        if _value(r[k]) == _value(step):
            return r[k]
    return refs[0][k]


def _check(got: str, claimed: str) -> tuple[str, bool]:
    ok = got == claimed
    return f"Got: {got}, claimed: {claimed}\nVerdict: {'correct' if ok else 'wrong'}", ok


def verify_step_target(
    problem: ArithProblem, prior: list[str], step: str
) -> tuple[str, bool] | None:
    """(verifier text, step is right) for `step` after the right steps `prior`."""
    ref = reference_step(problem, prior, step)
    if ref is None:
        return None
    text, ok = _check(_value(ref), _value(step))
    return f"{ref}\n{text}", ok


def verify_answer_target(problem: ArithProblem, claimed: str | None) -> tuple[str, bool]:
    """(verifier text, right) for the answer line after right steps."""
    return _check(problem.target, claimed if claimed is not None else "none")


def work_upto(steps: list[str], k: int, answer: str | None = None) -> str:
    """The scratchpad shown to the verifier: steps[:k+1], or all steps and the answer
    line when k == len(steps)."""
    if k < len(steps):
        return ", ".join(steps[: k + 1])
    return ", ".join(steps) + f"\nAnswer: {answer if answer is not None else ''}"


def verify_prompt(problem: ArithProblem, work: str) -> str:
    return TEMPLATES["verify_step"].format(question=problem.question, work=work)


class StepItem(tuple):
    """(work shown, verifier target, right) for one step of one candidate."""

    __slots__ = ()

    def __new__(cls, work: str, target: str, ok: bool):
        return super().__new__(cls, (work, target, ok))

    work = property(lambda self: self[0])
    target = property(lambda self: self[1])
    ok = property(lambda self: self[2])


def step_items(problem: ArithProblem, text: str) -> list[StepItem]:
    """Every labelled step of a worked candidate: its steps up to and including the first
    wrong one, and the answer line when every step is right."""
    steps, answer = parse_work(text)
    if not steps:
        return []
    first = check_steps(problem, steps, answer).first_wrong
    items = []
    for k, step in enumerate(steps):
        got = verify_step_target(problem, steps[:k], step)
        if got is None:
            return items
        items.append(StepItem(work_upto(steps, k), *got))
        if not got[1] or (first is not None and k >= first):
            return items  # no reference past a wrong (or untaught) step
    if first is None:
        items.append(
            StepItem(work_upto(steps, len(steps), answer), *verify_answer_target(problem, answer))
        )
    return items
