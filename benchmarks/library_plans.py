"""The configurations the strategy library sweep runs (benchmarks/strategy_library.py).

`v1`: the roles arith-tiny v1 could play (step search with the programmatic `equations`
verifier, moa by vote); `v2`: arith-tiny v2's own step verifier, aggregator, debater and
thinking extension; `chat`: a chat model with the default chat pack, on additions
asked in words (`--digits`). Each entry is (label, strategy, options); the budget level
(2x/4x/8x/16x single's tokens) is assigned from the tokens measured, not from the plan.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

STEP = {"verifier": "equations", "delimiter": ", "}  # the shipped pack defines no delimiter yet


def library_configs() -> list[tuple[str, str, dict]]:
    """(label, strategy, options); the budget level is assigned from measured tokens."""
    out = [("single", "single", {})]
    for n in (2, 4, 8, 16):
        out.append((f"best_of_n vote n={n}", "best_of_n", {"n": n}))
    for n in (2, 4, 8, 16):
        out.append((f"best_of_n equations n={n}", "best_of_n", {"n": n, "verifier": "equations"}))
    for r in (1, 3):
        out.append((f"self_refine judge r={r}", "self_refine", {"max_rounds": r}))
    for r in (1, 3):
        out.append(
            (
                f"self_refine equations r={r}",
                "self_refine",
                {"max_rounds": r, "verifier": "equations", "accept": "verifier"},
            )
        )
    for w, e in ((1, 2), (2, 2), (4, 2), (4, 4)):
        out.append((f"beam w={w} e={e}", "beam", {"width": w, "expansions": e, **STEP}))
    for p in (2, 4, 8, 16):
        out.append((f"particle p={p}", "particle", {"particles": p, **STEP}))
    for p in (4,):
        out.append(
            (
                f"moa vote p={p}",
                "moa",
                {"layers": 1, "proposers": p, "temperatures": [0.4, 1.0], "aggregator": "vote"},
            )
        )
    for s in (2, 4, 8, 16):
        out.append((f"auto spend={s}", "auto", {"spend": float(s)}))
    return out


def v2_configs() -> list[tuple[str, str, dict]]:
    """The plan for arith-tiny v2, which plays the new roles: the baselines, the model's
    own step verifier, aggregator, debater and thinking extension, and auto."""
    out = [("single", "single", {})]
    for n in (2, 4, 8, 16):
        out.append((f"best_of_n vote n={n}", "best_of_n", {"n": n}))
    for n in (4, 16):
        out.append((f"best_of_n equations n={n}", "best_of_n", {"n": n, "verifier": "equations"}))
    out.append(("self_refine judge r=3", "self_refine", {"max_rounds": 3}))
    step = {"verifier": "step", "delimiter": ", "}  # v2's pack defines no delimiter yet
    for w, e in ((1, 2), (2, 2)):
        out.append((f"beam step w={w} e={e}", "beam", {"width": w, "expansions": e, **step}))
    for w in (2, 4):  # w=4: the 16x point, added after the first 400-problem pass
        out.append((f"beam equations w={w} e=2", "beam", {"width": w, "expansions": 2, **STEP}))
    for p in (2, 4):
        out.append((f"particle step p={p}", "particle", {"particles": p, **step}))
    out.append(("particle equations p=4", "particle", {"particles": 4, **STEP}))
    for layers, p in ((1, 4), (2, 4)):
        out.append((f"moa aggregate L={layers} p={p}", "moa", {"layers": layers, "proposers": p}))
    for a in (3, 5):
        out.append((f"debate a={a} r=2", "debate", {"agents": a, "rounds": 2}))
    for m in (128, 256):
        out.append(
            (
                f"think_longer min={m}",
                "think_longer",
                {"min_thinking": m, "max_thinking": 1024, "thinking_end": "\nAnswer:"},
            )
        )
    for s in (2, 4, 8, 16):
        out.append((f"auto spend={s}", "auto", {"spend": float(s)}))
    return out


def chat_configs() -> list[tuple[str, str, dict]]:
    """The plan for a chat model with the default chat pack (SmolLM2-135M-Instruct): every
    strategy but two, the roles played from the pack's natural-language templates, each at
    one or two budgets (a 135M model on this CPU: ~5k tokens per question for the plan).
    Left out: `beam` and `particle`, which continue a partial answer as raw text and so
    need a raw draft role (a chat pack's draft is a chat prompt: refused with
    StrategyConfigError), and `auto`, whose policy is fitted per task and model (only the
    arith one is shipped)."""
    out = [("single", "single", {})]
    for n in (2, 4, 8):
        out.append((f"best_of_n vote n={n}", "best_of_n", {"n": n}))
    out.append(("best_of_n equations n=4", "best_of_n", {"n": 4, "verifier": "equations"}))
    out.append(("usc n=4", "usc", {"n": 4}))
    out.append(("self_refine judge r=2", "self_refine", {"max_rounds": 2}))
    out.append(("moa aggregate L=1 p=4", "moa", {"layers": 1, "proposers": 4}))
    out.append(("debate a=3 r=2", "debate", {"agents": 3, "rounds": 2}))
    out.append(("think_longer min=128", "think_longer", {"min_thinking": 128, "max_thinking": 512}))
    return out


PLANS = {"v1": library_configs, "v2": v2_configs, "chat": chat_configs}


def plan_configs(plan: str) -> list[tuple[str, str, dict]]:
    return PLANS[plan]()


@dataclass(frozen=True)
class AdditionQuestion:
    """A chat-plan problem, shaped like `evals.arith.ArithProblem` where the runner reads it."""

    level: int
    seed: int
    question: str
    answer: int


def addition_questions(count: int, seed: int = 0, digits: int = 2) -> list[AdditionQuestion]:
    """Additions of two `digits`-digit numbers in words. With two digits and seed 0 these
    are the questions of benchmarks/smollm2_scaffolding.py (same generator and seed)."""
    rng = random.Random(seed)
    low, high = (1, 9) if digits == 1 else (10 ** (digits - 1), 10**digits - 1)
    out = []
    for i in range(count):
        a, b = rng.randint(low, high), rng.randint(low, high)
        out.append(
            AdditionQuestion(level=digits, seed=i, question=f"What is {a} + {b}?", answer=a + b)
        )
    return out


WAITING = {
    "debate": "needs the debate role (arith-tiny v2)",
    "usc": "needs the usc role: a chat model (SmolLM2 with the default pack; not run on this CPU)",
    "think_longer": "needs think_more + thinking_end (arith-tiny v2)",
    "moa (aggregator)": "needs the aggregate role (arith-tiny v2); run here with the vote",
    "beam/particle step verifier": "needs verify_step (arith-tiny v2); run here with equations",
}
