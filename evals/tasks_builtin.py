"""The built-in tasks: `arith` (per level and mixed), `jsonl`, and `reasoning_gym`.

- `arith-1` ... `arith-4` and the mix `arith`: the shipped model's task family, drawn from
  `evals.arith` with EVALUATION seeds only. The generator itself refuses training seeds;
  on top of that this task stays inside the first `EVAL_POOL_SIZE` eval seeds, the pool
  whose question hashes the training-data builder excludes, so no evaluated question was
  trained on even at the small levels where distinct questions are few.
- `jsonl:PATH`: see `jsonl_task`.
- `reasoning_gym:DATASET`: procedural generators of the `reasoning-gym` package (optional
  extra `thinkfast[reasoning]`), graded by the data set's own `score_answer`. Generated in
  process from a seed; nothing is downloaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import arith
from .errors import TaskError
from .graders import Grade, Grader, NumericGrader
from .jsonl_task import jsonl_task
from .task import EvalSample, Task, register_task

__all__ = ["arith_task", "arith_mix_task", "reasoning_gym_task", "ReasoningGymGrader"]

_DEFAULT_SIZE = 200


def _arith_samples(level: int, size: int, start: int) -> list[EvalSample]:
    if size < 1 or start < 0:
        raise TaskError(
            f"arith task needs size >= 1 and start >= 0 (got size={size}, start={start})"
        )
    if start + size > arith.EVAL_POOL_SIZE:
        raise TaskError(
            f"arith evaluation uses the first {arith.EVAL_POOL_SIZE} eval seeds of each level "
            f"(the pool held out from training); start + size = {start + size} exceeds it"
        )
    first = arith.EVAL_SEEDS.start + start
    problems = arith.make_problems(level, "eval", size, start=first)
    return [
        EvalSample(
            id=f"L{level}-{p.seed - arith.EVAL_SEEDS.start}",
            input=p.question,
            target=p.target,
            metadata={"level": level, "kind": p.kind, "seed": p.seed},
        )
        for p in problems
    ]


def arith_task(level: int, size: int = _DEFAULT_SIZE, start: int = 0) -> Task:
    samples = _arith_samples(int(level), int(size), int(start))
    return Task(
        name=f"arith-{level}",
        samples=samples,
        grader=NumericGrader(abs_tol=0.0),
        description=f"arith level {level}: {arith.LEVELS[int(level)]}",
        params={"size": int(size), "start": int(start)},
    )


def _level_factory(level: int):
    def factory(size: int = _DEFAULT_SIZE, start: int = 0) -> Task:
        return arith_task(level, size, start)

    factory.__doc__ = (
        f"arith level {level}: {arith.LEVELS[level]} (eval seeds only; -T size=N start=K)"
    )
    return factory


def _register_levels() -> None:
    for level in arith.LEVELS:
        register_task(f"arith-{level}")(_level_factory(level))


_register_levels()


@register_task("arith", description="arith, all levels interleaved (-T size=N per level)")
def arith_mix_task(size: int = _DEFAULT_SIZE // len(arith.LEVELS), start: int = 0) -> Task:
    per_level = [_arith_samples(level, int(size), int(start)) for level in arith.LEVELS]
    # Interleave so that `--limit` keeps the levels balanced.
    samples = [s for group in zip(*per_level, strict=True) for s in group]
    return Task(
        name="arith",
        samples=samples,
        grader=NumericGrader(abs_tol=0.0),
        description=f"arith levels {min(arith.LEVELS)}-{max(arith.LEVELS)} interleaved",
        params={"size": int(size), "start": int(start)},
    )


register_task("jsonl")(jsonl_task)


class ReasoningGymGrader(Grader):
    """Delegates to a reasoning-gym data set's own `score_answer` (1.0 = correct)."""

    name = "reasoning_gym"

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def grade(
        self, answer: str | None, text: str, target: str, metadata: Mapping[str, Any] | None = None
    ) -> Grade:
        index = int((metadata or {})["rg_index"])
        entry = self.dataset[index]
        # Without an extracted answer, grade the last line: reasoning-gym answers are short.
        got = answer if answer is not None else (text.strip().splitlines() or [""])[-1]
        score = float(self.dataset.score_answer(got, entry) or 0.0)
        score = min(1.0, max(0.0, score))
        return Grade(correct=score >= 1.0 - 1e-9, score=score, answer=got)

    def describe(self) -> str:
        return "reasoning_gym score_answer"


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


@register_task(
    "reasoning_gym",
    description="reasoning-gym generators (reasoning_gym:NAME; -T size=N seed=S, other -T go to its config)",
)
def reasoning_gym_task(
    variant: str | None = None, size: int = 100, seed: int = 1234, **config: Any
) -> Task:
    try:
        import reasoning_gym
    except ImportError:
        from thinkfast.engine.install_hint import pip_install_hint

        raise TaskError(
            f"the reasoning_gym tasks need the reasoning-gym package: {pip_install_hint('reasoning')}"
        ) from None
    if not variant:
        raise TaskError(
            "name a reasoning-gym data set: reasoning_gym:NAME (e.g. reasoning_gym:basic_arithmetic)"
        )
    known = sorted(reasoning_gym.factory.DATASETS)
    if variant not in known:
        raise TaskError(f"unknown reasoning-gym data set {variant!r}; it has {', '.join(known)}")
    try:
        dataset = reasoning_gym.create_dataset(variant, size=int(size), seed=int(seed), **config)
    except Exception as exc:  # its config validation raises assorted types
        given = {"size": size, "seed": seed, **config}
        shown = ", ".join(f"{k}={v!r}" for k, v in given.items())
        raise TaskError(
            f"reasoning-gym data set {variant!r} rejected options {shown}: {exc}"
        ) from exc
    samples = [
        EvalSample(
            id=f"{variant}-{i}",
            input=entry["question"],
            target=str(entry["answer"]),
            metadata={"rg_index": i, **_jsonable(entry.get("metadata", {}))},
        )
        for i, entry in enumerate(dataset)
    ]
    return Task(
        name=f"reasoning_gym:{variant}",
        samples=samples,
        grader=ReasoningGymGrader(dataset),
        description=f"reasoning-gym {variant} ({len(samples)} generated, seed {seed})",
        params={"size": int(size), "seed": int(seed), **config},
    )
