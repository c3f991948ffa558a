"""Verifiers: score a (question, candidate) or a partial solution, the seam of outside feedback.

A verifier reads the texts of several candidates (or partial solutions, for step-level
search) and returns one `Verdict` each: a score in [0, 1], whether it found the text
right (None: could not tell), and its findings in words (fed to `self_refine`'s refiner).
Huang et al. (2023) find a model cannot correct itself without an outside signal; these
are the signals (CRITIC, Gou et al. 2023, uses tools the same way):

- `critic`: the model's critic role (`critique`) reads every candidate in ONE call;
- `step`: the model's step verifier (`verify_step`) checks the LAST step of each partial
  solution, all in ONE call (its verdict read like the critic's);
- `equations`: a programmatic check of every `expression=value` the work writes (the arith
  scratchpad's steps), and that the answer is the last value worked out. It never solves
  the question itself: it checks arithmetic the candidate wrote, so it catches slips, not
  a wrong plan (`420-30=390` is right arithmetic on a wrong step);
- `python`: runs the candidate's code (its ```python block, else the text), followed by
  `tests`, in the sandbox (`orchestrator.sandbox`); exit status 0 passes;
- any callable `f(question, text, answer) -> float | bool` (sync or async): the user's own.

A verifier that raises or exceeds its time limit on a candidate gives that candidate a
`Verdict` with `error` set and score 0, and a `Failure` in the state: a failure of that
candidate, never of the query.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator

from .context import RunContext
from .errors import StrategyConfigError
from .prompt_pack import RolePrompt
from .sandbox import run_python
from .state import Failure

__all__ = [
    "Verdict",
    "VerifierRun",
    "Verifier",
    "ModelVerifier",
    "EquationVerifier",
    "PythonVerifier",
    "CallableVerifier",
    "as_verifier",
    "VERIFIERS",
    "VERIFIER_PROMPTS",
    "VerifierSpec",
    "checked_verifier",
    "score_candidates",
]

# Default template of the step-verifier role for chat packs (a model's own pack may have
# its own: arith-tiny's is trained on `Q: ..\nWork: ..\nVerify: `).
VERIFIER_PROMPTS: dict[str, RolePrompt] = {
    "verify_step": RolePrompt(
        system="You check the last step of a partial solution. Be brief.",
        template="Question: {question}\n\nPartial solution:\n{work}\n\nIs its LAST step "
        "correct? End with one line: Verdict: correct or Verdict: wrong",
        max_tokens=120,
    )
}


@dataclass
class Verdict:
    score: float  # in [0, 1]; higher is better; 0 when the verifier failed
    ok: bool | None = None
    findings: str = ""
    error: str | None = None


@dataclass
class VerifierRun:
    """The verdicts of one pass, in the order of the texts, and the state update it adds
    (its engine call if it made one, failures, a budget stop)."""

    verdicts: list[Verdict]
    update: dict[str, Any] = field(default_factory=dict)
    call_id: int | None = None  # the engine call later steps wait on


class Verifier:
    """Base: `name`, the pack roles it asks (`roles`), `verify` over a batch of texts."""

    name: ClassVar[str] = "verifier"
    timeout_s: float = 10.0

    def roles(self, partial: bool = False) -> tuple[str, ...]:
        return ()

    async def verify(
        self,
        ctx: RunContext,
        question: str,
        texts: Sequence[str],
        answers: Sequence[str | None],
        *,
        node: str,
        partial: bool = False,
        after: Sequence[int] = (),
    ) -> VerifierRun:
        """Default: `check` each text (programmatic verifiers), each under the time limit."""

        async def one(text: str, answer: str | None) -> Verdict:
            try:
                async with asyncio.timeout(self.timeout_s):
                    return await self.check(question, text, answer, partial=partial)
            except TimeoutError:
                return Verdict(0.0, error=f"{self.name} verifier timed out after {self.timeout_s}s")
            except Exception as exc:  # a broken verifier fails this candidate only
                return Verdict(
                    0.0, error=f"{self.name} verifier raised {type(exc).__name__}: {exc}"
                )

        verdicts = list(
            await asyncio.gather(*(one(t, a) for t, a in zip(texts, answers, strict=True)))
        )
        failures = [
            Failure(node=node, role=f"verifier:{self.name}", branch=f"candidate-{i}", error=v.error)
            for i, v in enumerate(verdicts)
            if v.error
        ]
        for failure in failures:
            ctx.event("failure", node=node, role=failure.role, data={"error": failure.error})
        return VerifierRun(verdicts, {"failures": failures} if failures else {})

    async def check(
        self, question: str, text: str, answer: str | None, *, partial: bool
    ) -> Verdict:
        raise NotImplementedError


# -- the model's own critic / step verifier --------------------------------------------------
class ModelVerifier(Verifier):
    """A role of the model whose reply ends in a verdict; all texts in ONE engine call."""

    def __init__(self, role: str, name: str) -> None:
        self.role, self.name = role, name  # type: ignore[misc]

    def roles(self, partial: bool = False) -> tuple[str, ...]:
        return (self.role,)

    async def verify(self, ctx, question, texts, answers, *, node, partial=False, after=()):
        agent = ctx.agent(self.role)
        requests = [
            agent.ask(question=question, candidate=t, work=t, answer=a or "")
            for t, a in zip(texts, answers, strict=True)
        ]
        outcome = await ctx.attempt(agent, node, requests, after=list(after))
        if not outcome.ok:
            why = outcome.stopped or (outcome.call.error if outcome.call else "failed")
            return VerifierRun(
                [Verdict(0.0, error=f"{self.name}: {why}") for _ in texts], outcome.update
            )
        verdicts = []
        for generation in outcome.generations:
            sample = generation.samples[0]
            ok = agent.read_verdict(sample)
            verdicts.append(Verdict({True: 1.0, False: 0.0, None: 0.5}[ok], ok, sample.text))
        return VerifierRun(verdicts, outcome.update, outcome.call.id)


# -- written equations -----------------------------------------------------------------------
_EQUATION = re.compile(r"(?P<lhs>[0-9(][0-9+\-*/(). ]*[0-9)])\s*=\s*(?P<rhs>-?\d+(?:\.\d+)?)")
_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _evaluate(expression: str) -> float | None:
    """The value of + - * / arithmetic on numbers (no names, no powers); None otherwise."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return None

    def walk(n: ast.AST) -> float:
        if isinstance(n, ast.Expression):
            return walk(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, int | float):
            return n.value
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub | ast.UAdd):
            value = walk(n.operand)
            return -value if isinstance(n.op, ast.USub) else value
        if isinstance(n, ast.BinOp) and type(n.op) in _OPS:
            return _OPS[type(n.op)](walk(n.left), walk(n.right))
        raise ValueError("not plain arithmetic")

    try:
        return walk(tree)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None


def _number(text: str) -> str:
    value = float(text)
    return str(int(value)) if value.is_integer() else f"{value:g}"


class EquationVerifier(Verifier):
    """Recomputes every `expression=value` the work wrote; checks the answer is the last
    value. Score 1 when nothing is wrong, 0 otherwise (0.5 when there is nothing to check)."""

    name = "equations"

    async def check(self, question, text, answer, *, partial):
        wrong, checked, last = [], 0, None
        for match in _EQUATION.finditer(text):
            value = _evaluate(match["lhs"])
            if value is None:
                continue
            checked += 1
            last = match["rhs"]
            if abs(value - float(match["rhs"])) > 1e-6 * max(1.0, abs(value)):
                wrong.append(
                    f"{match['lhs'].strip()}={match['rhs']} is wrong: "
                    f"{match['lhs'].strip()} is {_number(str(value))}"
                )
        if not partial and answer is not None and last is not None:
            if not _is_number(answer) or float(answer) != float(last):
                wrong.append(f"the answer {answer} is not the last value worked out ({last})")
        if wrong:
            return Verdict(0.0, False, "; ".join(wrong))
        if checked == 0:
            return Verdict(0.5, None, "no equation to check")
        return Verdict(1.0, True, f"all {checked} equations check out")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- code answers in the sandbox -------------------------------------------------------------
_CODE_BLOCK = re.compile(r"```(?:python|py)?\s*\n(?P<code>.*?)```", re.S)


class PythonVerifier(Verifier):
    """Runs the candidate's code, then `tests`, in the sandbox; passes on exit status 0."""

    name = "python"

    def __init__(self, tests: str = "", timeout_s: float = 5.0, memory_mb: int = 512) -> None:
        self.tests, self.timeout_s, self.memory_mb = tests, timeout_s, memory_mb

    async def check(self, question, text, answer, *, partial):
        blocks = _CODE_BLOCK.findall(text)
        code = blocks[-1] if blocks else text
        # the sandbox enforces its own wall limit; the base class's is a backstop above it
        result = await run_python(
            code + "\n\n" + self.tests, timeout_s=self.timeout_s * 0.9, memory_mb=self.memory_mb
        )
        if result.timed_out:
            return Verdict(0.0, False, f"the code ran past {self.timeout_s * 0.9:.1f}s")
        if result.ok:
            return Verdict(1.0, True, "the code ran and its tests passed")
        tail = "\n".join(result.stderr.strip().splitlines()[-3:])
        return Verdict(0.0, False, f"the code failed (exit {result.returncode}): {tail}")


# -- the user's callable ---------------------------------------------------------------------
class CallableVerifier(Verifier):
    """`fn(question, text, answer)` -> a float (clipped to [0, 1]) or a bool."""

    name = "callable"

    def __init__(self, fn: Callable[..., Any], timeout_s: float = 10.0) -> None:
        self.fn, self.timeout_s = fn, timeout_s
        self.name = getattr(fn, "__name__", "callable")  # type: ignore[misc]

    async def check(self, question, text, answer, *, partial):
        if inspect.iscoroutinefunction(self.fn):
            value = await self.fn(question, text, answer)
        else:  # in a thread, so the time limit holds for a slow sync function too
            value = await asyncio.to_thread(self.fn, question, text, answer)
            if inspect.isawaitable(value):
                value = await value
        if isinstance(value, bool):
            return Verdict(float(value), value)
        score = float(value)
        if score != score:  # NaN
            raise ValueError("returned NaN")
        return Verdict(min(1.0, max(0.0, score)), None, f"score {score:g}")


VERIFIERS: dict[str, Callable[[], Verifier]] = {
    "critic": lambda: ModelVerifier("critique", "critic"),
    "step": lambda: ModelVerifier("verify_step", "step"),
    "equations": EquationVerifier,
    "python": PythonVerifier,
}


def as_verifier(spec: Any) -> Verifier | None:
    """A Verifier from a name, a Verifier or a callable; None stays None."""
    if spec is None or isinstance(spec, Verifier):
        return spec
    if isinstance(spec, str):
        if spec not in VERIFIERS:
            raise StrategyConfigError(
                f"unknown verifier {spec!r}; accepted: {', '.join(VERIFIERS)}, a Verifier "
                "or a callable(question, text, answer) -> float"
            )
        return VERIFIERS[spec]()
    if callable(spec):
        return CallableVerifier(spec)
    raise StrategyConfigError(
        f"verifier must be a name ({', '.join(VERIFIERS)}), a Verifier or a callable; "
        f"got {type(spec).__name__}"
    )


def checked_verifier(spec: Any) -> Any:
    """Pydantic validator of a strategy's `verifier` option: the spec if it names or is a
    verifier (kept as given, so options stay readable), a ValueError saying what is
    accepted otherwise."""
    try:
        as_verifier(spec)
    except StrategyConfigError as exc:
        raise ValueError(str(exc)) from None
    return spec


async def score_candidates(
    verifier: Verifier,
    ctx: RunContext,
    question: str,
    candidates: Sequence[Any],
    *,
    node: str,
    after: Sequence[int] = (),
) -> tuple[dict[str, Any], list[Any], list[Verdict]]:
    """Verify final candidates in one pass: (state update, candidates with the verdict's
    score appended and its findings as a critique, the verdicts)."""
    from .state import Critique

    run = await verifier.verify(
        ctx,
        question,
        [c.text for c in candidates],
        [c.answer for c in candidates],
        node=node,
        after=[*after, *(c.call_id for c in candidates)],
    )
    scored = []
    for candidate, verdict in zip(candidates, run.verdicts, strict=True):
        critiques = candidate.critiques
        if verdict.findings or verdict.error:
            critique = Critique(
                text=verdict.error or verdict.findings,
                approved=verdict.ok,
                call_id=run.call_id or 0,
            )
            critiques = [*critiques, critique]
        scored.append(
            candidate.model_copy(
                update={"scores": [*candidate.scores, verdict.score], "critiques": critiques}
            )
        )
    return run.update, scored, run.verdicts


# The type of a strategy's `verifier` option: a name, a Verifier, a callable, or None.
VerifierSpec = Annotated[
    str | Verifier | Callable[..., Any] | None, AfterValidator(checked_verifier)
]
