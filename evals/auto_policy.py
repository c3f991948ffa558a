"""Fit the `auto` strategy's policy on a TRAINING split (`thinkfast eval fit-auto`).

For each training problem, ONE call draws `samples` drafts at the policy's temperature.
Any action `auto` can take (k first drafts, `extra` more, the equations verifier or not)
is then replayed on those samples: its answer is the vote (or verifier-then-vote) over
the first k + extra drafts and its cost the tokens they took (the prompt once per call).
The signal bins are the agreement of the first k drafts and whether their mean logprob is
above the training median. A Lagrangian sweep (maximise accuracy - lambda * tokens, per
bin) traces the accuracy/cost frontier, and for each spend level (mean tokens as a
multiple of single's) the most accurate point that fits is saved as one table.
Snell et al. (2024) fit their compute-optimal strategy the same way: per difficulty bin,
on held-in questions.
"""

from __future__ import annotations

import asyncio
import json
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

__all__ = ["fit_policy", "Item"]

EXTRAS = (0, 2, 4, 8, 12, 16, 28)
KS = (2, 4)
SPENDS = (2.0, 4.0, 8.0, 16.0)


@dataclass
class Item:
    target: str
    prompt_tokens: int
    answers: list[str | None]
    logprobs: list[float]
    tokens: list[int]
    verified: list[float]  # equations verifier score of each sample


def _pick(answers, scores, verify: bool) -> str | None:
    pool = list(range(len(answers)))
    if verify:
        best = max(scores[i] for i in pool)
        pool = [i for i in pool if scores[i] == best]
    counts = Counter(answers[i] for i in pool if answers[i] is not None)
    if not counts:
        return None
    top = max(counts.values())
    return next(answers[i] for i in pool if answers[i] is not None and counts[answers[i]] == top)


def _outcome(item: Item, k: int, extra: int, verify: bool) -> tuple[bool, float]:
    m = k + extra
    answer = _pick(item.answers[:m], item.verified[:m], verify)
    cost = item.prompt_tokens * (2 if extra else 1) + sum(item.tokens[:m])
    return answer == item.target, cost


def _bin(item: Item, k: int, threshold: float) -> tuple[float, bool]:
    first = [a for a in item.answers[:k]]
    counts = Counter(a for a in first if a is not None)
    agreement = (max(counts.values()) if counts else 0) / k
    return round(agreement, 4), statistics.fmean(item.logprobs[:k]) >= threshold


def fit_policy(items: list[Item], *, task: str, temperature: float, fitted_on: str) -> dict:
    single = statistics.fmean(i.prompt_tokens + statistics.fmean(i.tokens) for i in items)
    tables = []
    for k in KS:
        threshold = statistics.median(statistics.fmean(i.logprobs[:k]) for i in items)
        bins: dict[tuple, list[Item]] = {}
        for item in items:
            bins.setdefault(_bin(item, k, threshold), []).append(item)
        actions = [(e, v) for e in EXTRAS if k + e <= len(items[0].answers) for v in (False, True)]
        # per bin and action: (correct count, total cost)
        table = {
            b: {
                a: [sum(x) for x in zip(*(_outcome(i, k, *a) for i in group), strict=True)]
                for a in actions
            }
            for b, group in bins.items()
        }
        for lam in [0.0] + [10 ** (x / 4) for x in range(-24, 4)]:
            choice = {
                b: max(acts, key=lambda a: acts[a][0] - lam * acts[a][1] - 1e-9 * acts[a][1])
                for b, acts in table.items()
            }
            correct = sum(table[b][a][0] for b, a in choice.items())
            cost = sum(table[b][a][1] for b, a in choice.items())
            tables.append((k, threshold, choice, correct / len(items), cost / len(items) / single))
    out = []
    for spend in SPENDS:
        fits = [t for t in tables if t[4] <= spend]
        if not fits:
            continue
        k, threshold, choice, accuracy, used = max(fits, key=lambda t: (t[3], -t[4]))
        rules = []
        for (agreement, confident), (extra, verify) in sorted(choice.items(), reverse=True):
            group = bins_of(items, k, threshold, (agreement, confident))
            correct = sum(_outcome(i, k, extra, verify)[0] for i in group)
            rules.append(
                {
                    "min_agreement": agreement,
                    "confident": confident,
                    "extra": extra,
                    "verify": verify,
                    "train_accuracy": round(correct / len(group), 4),
                    "train_share": round(len(group) / len(items), 4),
                }
            )
        out.append(
            {
                "spend": round(used, 3),
                "k": k,
                "logprob_threshold": threshold,
                "rules": rules,
                "train_accuracy": round(accuracy, 4),
                "target_spend": spend,
            }
        )
    return {"task": task, "fitted_on": fitted_on, "temperature": temperature, "tables": out}


def bins_of(items, k, threshold, key):
    return [i for i in items if _bin(i, k, threshold) == key]


async def collect(engine, problems, samples: int, temperature: float, seed: int) -> list[Item]:
    """Draw `samples` drafts of each problem (one call each) and verify them."""
    from thinkfast.orchestrator import athink
    from thinkfast.orchestrator.verifiers import EquationVerifier

    verifier = EquationVerifier()
    items = []
    for index, problem in enumerate(problems):
        answer = await athink(
            problem.question,
            "best_of_n",
            engine,
            n=samples,
            temperature=temperature,
            seed=seed + index,
        )
        drafts = sorted(answer.candidates, key=lambda c: c.sample_index)
        verdicts = [
            await verifier.check(problem.question, c.text, c.answer, partial=False) for c in drafts
        ]
        items.append(
            Item(
                target=problem.target,
                prompt_tokens=answer.calls[0].prompt_tokens,
                answers=[c.answer for c in drafts],
                logprobs=[c.mean_logprob for c in drafts],
                tokens=[c.completion_tokens for c in drafts],
                verified=[v.score for v in verdicts],
            )
        )
    return items


def run_fit(
    engine, *, levels, per_level: int, samples: int, temperature: float, seed: int, out: Path
) -> dict:
    from .arith import make_problems

    problems = [p for level in levels for p in make_problems(level, "train", per_level)]
    items = asyncio.run(collect(engine, problems, samples, temperature, seed))
    policy = fit_policy(
        items,
        task="arith",
        temperature=temperature,
        fitted_on=f"arith train split, levels {','.join(map(str, levels))}, "
        f"{per_level} problems per level, {samples} samples each, seed {seed}",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(policy, indent=1) + "\n", encoding="utf-8")
    return policy
