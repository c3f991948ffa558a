"""The text formats of every role arith-tiny plays: prompts (the prompt pack) and targets.

One place defines both the prompt templates written to `prompt_pack.json` and the
completions the model is trained to write, so the shipped pack and the training data can
never disagree. Prompts are raw (no chat template): the model is character-level and
sees exactly these strings.

    draft         Q: 347*68\\nThink:      -> 300*68=20400, ..., 23120+476=23596\\nAnswer: 23596
    draft_direct  Q: 347*68\\nAnswer:     -> 23596
    critique      Q: ..\\nWork: <cand>\\nCheck:   -> <own steps>\\nGot: 23596, claimed: 23696\\nVerdict: wrong
    judge         Q: ..\\nA: <a>\\nB: <b>\\nJudge: -> <own steps>\\nGot: 23596, A: 23696, B: 23596\\nChoice: B
    refine        Q: ..\\nWork: <cand>\\nCheck: <critique>\\nFix: -> a new worked answer
    verify_step   Q: ..\\nWork: 300*68=20400, 40*68=2720\\nVerify: -> 40*68=2720\\nGot: 2720, claimed: 2720\\nVerdict: correct
    aggregate     Q: ..\\nAnswers: 23596, 23696, 23596, 22596\\nBest: -> 23596
    debate        Q: ..\\nMine: 23696\\nOthers: 23596, 23596\\nRevised: -> 23596
    think_more    Q: ..\\nThink: <steps so far>\\nWait: -> <steps by another method>\\nAnswer: 23596

The step verifier judges the LAST step of the work it is shown: it writes that step as
the taught method has it at that point (right operands, right value), then the value it
got beside the value claimed; a last "step" of `\\nAnswer: N` checks the answer line.

A check solves the problem again by a method the candidates did not use, writes the
answer it got next to the answer each candidate claims, and decides by comparing them.
"""

from __future__ import annotations

import random

from thinkfast.evals.arith import (
    STEP_SEP,
    ArithProblem,
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
    "claimed_answer",
    "method_of",
    "own_solution",
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
    "verify_step": "Q: {question}\nWork: {work}\nVerify: ",
    "aggregate": "Q: {question}\nAnswers: {answers}\nBest: ",
    "debate": "Q: {question}\nMine: {answer}\nOthers: {others}\nRevised: ",
    "think_more": "Q: {question}\nThink: {thinking}\nWait: ",
}
MAX_TOKENS = {
    "draft": 320,
    "draft_direct": 12,
    "critique": 240,
    "judge": 240,
    "refine": 320,
    "verify_step": 64,
    "aggregate": 12,
    "debate": 12,
    "think_more": 320,
}
# The step verifier's decision is read from its `Got: N, claimed: M` line (the pack's
# verdict_check_pattern), so generation stops before the closing word it would not need.
STOP = {"verify_step": ["\nVerdict:"]}
# The roles the shipped pack declares: every role the v2 weights were trained on.
PACK_ROLES = tuple(TEMPLATES)
# Where a thinking segment ends: a budget-forcing strategy stops a draft at THINK_END and
# asks `think_more` to go on (the cue is the template's "\nWait: ").
THINK_END = "\nAnswer:"


def prompt_pack_dict(roles: tuple[str, ...] = PACK_ROLES) -> dict:
    """The prompt pack shipped as `prompt_pack.json` (validated by PromptPack)."""
    return {
        "name": "arith-tiny",
        # raw prompts the model was trained on: a strategy's default wording would be new to it
        "accepts_default_roles": False,
        "roles": {
            role: {
                "template": TEMPLATES[role],
                "raw": True,
                "stop": STOP.get(role, []),
                "max_tokens": MAX_TOKENS[role],
            }
            for role in roles
        },
        # last match wins: "Answer: N" at the end of a worked answer, or a bare number
        # (a direct answer, an aggregator's or a debater's, is just the number)
        "answer_pattern": r"(?:^|Answer: )(?P<answer>-?\d+)\s*$",
        "verdict_pattern": r"Verdict: (?P<verdict>correct|wrong)",
        "approve_pattern": "correct",
        "choice_pattern": r"Choice: (?P<choice>[AB])",
        # The model works the answer out and copies the claims reliably, but its own
        # "Verdict:"/"Choice:" words do not follow from them (model card): read the
        # decision from the check it wrote. The critic and the step verifier share it.
        "verdict_check_pattern": r"Got: (?P<got>-?\d+), claimed: (?P<claimed>-?\d+|none)",
        "choice_check_pattern": r"Got: (?P<got>-?\d+), A: (?P<a>-?\d+|none), B: (?P<b>-?\d+|none)",
        "labels": ["A", "B"],
        "normalize_answer": "number",
        # steps are separated by ", " (step-level search, the step verifier's prefixes) and
        # the thinking segment ends where the answer line starts (budget forcing)
        "step_delimiter": STEP_SEP,
        "thinking_end": THINK_END,
        # the model was trained on bare expressions: spaces go, anything else is warned about
        "question_format": {
            "remove": r"\s+",
            "pattern": r"[0-9+\-*/()]+",
            "hint": "arith-tiny reads plain arithmetic expressions like 347*29",
        },
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


def claimed_answer(candidate: str) -> str:
    """The answer a candidate text commits to, as the critic and judge copy it out."""
    _, answer = parse_work(candidate)
    return answer if answer is not None else "none"


def method_of(problem: ArithProblem, candidate: str) -> str | None:
    """The taught method a worked candidate follows (None for a direct answer)."""
    steps, answer = parse_work(candidate)
    return check_steps(problem, steps, answer).method if steps else None


def own_solution(problem: ArithProblem, avoid: set[str | None], rng: random.Random) -> list[str]:
    """A worked solution by a method none of the candidates used, where one exists.

    Re-deriving along the candidate's own steps lets a small model copy the candidate's
    numbers instead of computing them (the first critic trained that way approved every
    candidate); a different method has different intermediate numbers, so the check
    must be computed, and its errors are less correlated with the drafter's.
    """
    methods = solutions(problem)
    fresh = [name for name in methods if name not in avoid]
    return methods[rng.choice(fresh or list(methods))]


def critique_target(problem: ArithProblem, candidate: str, rng: random.Random) -> tuple[str, bool]:
    """(critique text, verdict) for a candidate: solve it another way, compare the answers."""
    steps = own_solution(problem, {method_of(problem, candidate)}, rng)
    claimed = claimed_answer(candidate)
    ok = claimed == problem.target
    verdict = "correct" if ok else "wrong"
    return f"{', '.join(steps)}\nGot: {problem.target}, claimed: {claimed}\nVerdict: {verdict}", ok


def judge_target(problem: ArithProblem, a: str, b: str, rng: random.Random) -> tuple[str, int]:
    """The judge's text and its choice (0 = A, 1 = B): the one whose answer it got itself.

    Training pairs have exactly one right candidate; a tie goes to A.
    """
    steps = own_solution(problem, {method_of(problem, a), method_of(problem, b)}, rng)
    claim_a, claim_b = claimed_answer(a), claimed_answer(b)
    choice = 1 if (claim_b == problem.target and claim_a != problem.target) else 0
    return (
        f"{', '.join(steps)}\nGot: {problem.target}, A: {claim_a}, B: {claim_b}\n"
        f"Choice: {'AB'[choice]}"
    ), choice


def refine_target(problem: ArithProblem, candidate: str, ok: bool, critique: str) -> str:
    """The answer after a critique: the candidate if it was right, else the critic's work.

    The critique's own solution is worked and (in training) right, so the fix writes it
    out as a worked answer; a right worked candidate is kept as it is.
    """
    if ok and parse_work(candidate)[0]:
        return candidate
    own_steps, _ = parse_work(critique.partition("\nGot: ")[0])
    return render_steps(own_steps, problem.answer)
