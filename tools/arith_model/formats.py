"""The text formats of every role arith-tiny plays: prompts (the prompt pack) and targets.

One place defines both the prompt templates written to `prompt_pack.json` and the
completions the model is trained to write, so the shipped pack and the training data can
never disagree. Prompts are raw (no chat template): the model is character-level and
sees exactly these strings.

    draft         Q: 347*68\\nThink:      -> 300*68=20400, ..., 23120+476=23596\\nAnswer: 23596
    draft_direct  Q: 347*68\\nAnswer:     -> 23596
    critique      Q: ..\\nWork: <cand>\\nCheck:   -> 300*68=20400 ok, 40*68=2720 no\\nVerdict: wrong
    judge         Q: ..\\nA: <a>\\nB: <b>\\nJudge: -> A: <check of a>\\nB: <check of b>\\nChoice: B
    refine        Q: ..\\nWork: <cand>\\nCheck: <critique>\\nFix: -> a new worked answer

A check re-derives each step of the candidate's method and marks it `ok` or `no`,
stopping at the first `no` (that names the first wrong step); a direct answer (no steps)
is checked by solving the problem and comparing.
"""

from __future__ import annotations

import random

from thinkfast.evals.arith import (
    ArithProblem,
    StepCheck,
    check_steps,
    parse_work,
    render_steps,
    solutions,
)

__all__ = [
    "TEMPLATES",
    "MAX_TOKENS",
    "prompt_pack_dict",
    "draft_prompt",
    "direct_prompt",
    "critique_prompt",
    "judge_prompt",
    "refine_prompt",
    "check_text",
    "critique_target",
    "judge_target",
    "refine_target",
]

TEMPLATES = {
    "draft": "Q: {question}\nThink: ",
    "draft_direct": "Q: {question}\nAnswer: ",
    "critique": "Q: {question}\nWork: {candidate}\nCheck: ",
    "judge": "Q: {question}\nA: {candidate_a}\nB: {candidate_b}\nJudge: ",
    "refine": "Q: {question}\nWork: {candidate}\nCheck: {critique}\nFix: ",
}
MAX_TOKENS = {"draft": 320, "draft_direct": 12, "critique": 360, "judge": 560, "refine": 320}


def prompt_pack_dict() -> dict:
    """The prompt pack shipped as `prompt_pack.json` (validated by PromptPack)."""
    roles = {
        role: {"template": TEMPLATES[role], "raw": True, "stop": [], "max_tokens": MAX_TOKENS[role]}
        for role in TEMPLATES
    }
    return {
        "name": "arith-tiny",
        **roles,
        # last match wins: "Answer: N" at the end of a worked answer, or a bare number
        # (a direct answer is just the number)
        "answer_pattern": r"(?:^|Answer: )(?P<answer>-?\d+)\s*$",
        "verdict_pattern": r"Verdict: (?P<verdict>correct|wrong)",
        "approve_pattern": "correct",
        "choice_pattern": r"Choice: (?P<choice>[AB])",
        "labels": ["A", "B"],
        "normalize_answer": "number",
    }


def draft_prompt(problem: ArithProblem) -> str:
    return TEMPLATES["draft"].format(question=problem.question)


def direct_prompt(problem: ArithProblem) -> str:
    return TEMPLATES["draft_direct"].format(question=problem.question)


def critique_prompt(problem: ArithProblem, candidate: str) -> str:
    return TEMPLATES["critique"].format(question=problem.question, candidate=candidate)


def judge_prompt(problem: ArithProblem, a: str, b: str) -> str:
    return TEMPLATES["judge"].format(question=problem.question, candidate_a=a, candidate_b=b)


def refine_prompt(problem: ArithProblem, candidate: str, critique: str) -> str:
    return TEMPLATES["refine"].format(
        question=problem.question, candidate=candidate, critique=critique
    )


def check_text(
    problem: ArithProblem, candidate: str, rng: random.Random
) -> tuple[str, bool, list[str]]:
    """(check body, verdict, the worked steps a fix should follow) for a candidate's text."""
    steps, answer = parse_work(candidate)
    if not steps:
        # a direct answer: solve with some taught method, then compare
        ref = rng.choice(list(solutions(problem).values()))
        ok = answer == problem.target
        return f"{', '.join(ref)}, answer {'ok' if ok else 'no'}", ok, ref
    check: StepCheck = check_steps(problem, steps, answer)
    ref = check.reference
    parts = []
    for i in range(len(steps)):
        if check.first_wrong is not None and i == check.first_wrong:
            parts.append(f"{ref[i]} no" if i < len(ref) else "extra no")
            return ", ".join(parts), False, ref
        parts.append(f"{ref[i]} ok")
    if check.first_wrong is not None:  # stopped early: the next step is missing
        parts.append(f"{ref[check.first_wrong]} no")
        return ", ".join(parts), False, ref
    parts.append(f"answer {'ok' if check.answer_ok else 'no'}")
    return ", ".join(parts), check.answer_ok, ref


def critique_target(problem: ArithProblem, candidate: str, rng: random.Random) -> tuple[str, bool]:
    body, ok, _ = check_text(problem, candidate, rng)
    return f"{body}\nVerdict: {'correct' if ok else 'wrong'}", ok


def judge_target(problem: ArithProblem, a: str, b: str, rng: random.Random) -> tuple[str, int]:
    """The judge's text and its choice (0 = A, 1 = B); a tie goes to A."""
    body_a, ok_a, _ = check_text(problem, a, rng)
    body_b, ok_b, _ = check_text(problem, b, rng)
    choice = 1 if (ok_b and not ok_a) else 0
    return f"A: {body_a}\nB: {body_b}\nChoice: {'AB'[choice]}", choice


def refine_target(problem: ArithProblem, candidate: str, ok: bool, ref: list[str]) -> str:
    """A corrected worked answer along the method the check followed (the candidate if right).

    `ok` and `ref` come from the same `check_text` call that wrote the critique, so a
    direct candidate is fixed along the very steps its critique wrote out.
    """
    steps, _ = parse_work(candidate)
    if ok and steps:
        return candidate
    return render_steps(ref, problem.answer)
