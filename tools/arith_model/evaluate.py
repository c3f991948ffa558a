"""The model card's figures for arith-tiny, measured through thinkfast's LocalEngine.

    python -m tools.arith_model.evaluate --model arith-tiny --per-level 500 --out runs/eval.json

Everything runs on held-out EVALUATION seeds (`thinkfast.evals.arith.EVAL_SEEDS`) and goes
through the shipped prompt pack, exactly as the orchestrator asks the model:

- greedy direct and greedy thinking accuracy;
- sampled thinking (temperature 0.7, 8 samples per problem): single-sample accuracy (the
  mean over all samples), majority vote of 8, coverage@8 (any of 8 correct);
- critic balanced accuracy on the model's own samples (one right and one wrong candidate
  per problem where both exist): mean of the approval rate on right candidates and the
  rejection rate on wrong ones;
- judge accuracy on (right, wrong) pairs of its own samples, shown in random order;
- tokens per answer by mode (completion tokens).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from thinkfast.engine import Engine, GenerationRequest  # noqa: E402
from thinkfast.engine.checkpoint.loader import load_checkpoint  # noqa: E402
from thinkfast.engine.local import LocalEngine  # noqa: E402
from thinkfast.evals.arith import LEVELS, ArithProblem, make_problems  # noqa: E402
from thinkfast.orchestrator.prompt_pack import PromptPack  # noqa: E402

from .evaluate_roles import evaluate_roles  # noqa: E402

__all__ = ["evaluate_level", "run"]


async def _ask(
    engine: Engine, requests: list[GenerationRequest], chunk: int
) -> list[list[tuple[str, int]]]:
    """(text, completion tokens) of every sample of every request, in request order."""
    out: list[list[tuple[str, int]]] = []
    for i in range(0, len(requests), chunk):
        gens = await engine.generate(requests[i : i + chunk])
        out.extend([(s.text, len(s.token_ids)) for s in g.samples] for g in gens)
    return out


def _vote(answers: list[str | None]) -> str | None:
    counts = Counter(a for a in answers if a is not None)
    return counts.most_common(1)[0][0] if counts else None


async def evaluate_level(
    engine: Engine,
    pack: PromptPack,
    problems: list[ArithProblem],
    samples: int,
    temperature: float,
    seed: int,
    chunk: int = 64,
    sampled_count: int | None = None,
    new_roles: bool = False,
    bo8_count: int | None = None,
) -> dict:
    rng = random.Random(seed)
    direct_req = [
        pack.render("draft_direct", question=p.question).model_copy(update={"temperature": 0.0})
        for p in problems
    ]
    greedy_req = [
        pack.render("draft", question=p.question).model_copy(update={"temperature": 0.0})
        for p in problems
    ]
    sampled_req = [
        pack.render("draft", question=p.question).model_copy(
            update={"temperature": temperature, "n": samples, "seed": seed * 1_000_003 + i}
        )
        for i, p in enumerate(problems[:sampled_count])
    ]
    direct = await _ask(engine, direct_req, chunk)
    greedy = await _ask(engine, greedy_req, chunk)
    sampled = await _ask(engine, sampled_req, max(1, chunk // samples))
    many = problems[: len(sampled)]  # the problems that were sampled

    def right(text: str, p: ArithProblem) -> bool:
        return pack.extract_answer(text) == p.target

    n = len(problems)
    res: dict = {"problems": n, "sampled_problems": len(many)}
    res["greedy_direct"] = sum(right(d[0][0], p) for d, p in zip(direct, problems, strict=True)) / n
    res["greedy_thinking"] = (
        sum(right(g[0][0], p) for g, p in zip(greedy, problems, strict=True)) / n
    )
    single = [right(t, p) for s, p in zip(sampled, many, strict=True) for t, _ in s]
    res["sampled_thinking"] = sum(single) / len(single)
    res["majority_of_8"] = sum(
        _vote([pack.extract_answer(t) for t, _ in s]) == p.target
        for s, p in zip(sampled, many, strict=True)
    ) / len(many)
    res["coverage_at_8"] = sum(
        any(right(t, p) for t, _ in s) for s, p in zip(sampled, many, strict=True)
    ) / len(many)
    res["tokens_direct"] = sum(d[0][1] for d in direct) / n
    res["tokens_thinking"] = sum(c for s in sampled for _, c in s) / len(single)

    # critic and judge on the model's own candidates
    crit_items, judge_items = [], []
    for s, p in zip(sampled, many, strict=True):
        good = [t for t, _ in s if right(t, p)]
        bad = [t for t, _ in s if not right(t, p) and t.strip()]
        if good:
            crit_items.append((p, good[0].strip(), True))
        if bad:
            crit_items.append((p, bad[0].strip(), False))
        if good and bad:
            pair = [good[0].strip(), bad[0].strip()]
            flip = rng.random() < 0.5
            judge_items.append((p, pair[::-1] if flip else pair, 1 if flip else 0))
    crit_req = [
        pack.render("critique", question=p.question, candidate=c).model_copy(
            update={"temperature": 0.0}
        )
        for p, c, _ in crit_items
    ]
    crit = await _ask(engine, crit_req, chunk)
    # the pack reads decisions from the check the model wrote; `written` reads the
    # "Verdict:"/"Choice:" words the model wrote after it (reported beside, model card)
    written = pack.model_copy(update={"verdict_check_pattern": None, "choice_check_pattern": None})
    pos = sum(1 for _, _, ok in crit_items if ok)
    neg = len(crit_items) - pos
    res["critic_items"] = {"right": pos, "wrong": neg}
    for suffix, reader in (("", pack), ("_written", written)):
        said = [reader.parse_verdict(o[0][0]) for o in crit]
        tp = sum(1 for (_, _, ok), v in zip(crit_items, said, strict=True) if ok and v is True)
        tn = sum(1 for (_, _, ok), v in zip(crit_items, said, strict=True) if not ok and v is False)
        tpr, tnr = (tp / pos if pos else None), (tn / neg if neg else None)
        res["critic_tpr" + suffix], res["critic_tnr" + suffix] = tpr, tnr
        res["critic_balanced" + suffix] = (tpr + tnr) / 2 if pos and neg else None
    res["tokens_critique"] = sum(o[0][1] for o in crit) / max(1, len(crit))
    judge_req = [
        pack.render("judge", question=p.question, candidate_a=a, candidate_b=b).model_copy(
            update={"temperature": 0.0}
        )
        for p, (a, b), _ in judge_items
    ]
    judged = await _ask(engine, judge_req, chunk)
    res["judge_pairs"] = len(judge_items)
    for suffix, reader in (("", pack), ("_written", written)):
        res["judge_accuracy" + suffix] = (
            sum(
                reader.parse_choice(o[0][0]) == want
                for (_, _, want), o in zip(judge_items, judged, strict=True)
            )
            / len(judge_items)
            if judge_items
            else None
        )
    res["tokens_judge"] = sum(o[0][1] for o in judged) / max(1, len(judged))
    if new_roles:
        res["roles"] = await evaluate_roles(
            engine,
            pack,
            problems,
            [[t for t, _ in s] for s in sampled],
            [g[0][0] for g in greedy],
            bo8_count,
        )
    return res


async def run(
    model: str,
    per_level: int,
    samples: int,
    temperature: float,
    levels: list[int],
    seed: int,
    sampled_per_level: int | None = None,
    out: Path | None = None,
    new_roles: bool = False,
    bo8_per_level: int | None = None,
) -> dict:
    """Evaluate every level; the report is rewritten to `out` after each level."""
    checkpoint = load_checkpoint(model)
    pack = PromptPack.from_file(Path(checkpoint.path) / "prompt_pack.json")
    engine = LocalEngine(model)
    report = {
        "model": model,
        "per_level": per_level,
        "sampled_per_level": sampled_per_level or per_level,
        "samples": samples,
        "temperature": temperature,
        "levels": {},
    }
    try:
        for level in levels:
            t0 = time.time()
            problems = make_problems(level, "eval", per_level)
            res = await evaluate_level(
                engine,
                pack,
                problems,
                samples,
                temperature,
                seed + level,
                sampled_count=sampled_per_level,
                new_roles=new_roles,
                bo8_count=bo8_per_level,
            )
            res["wall_s"] = round(time.time() - t0, 1)
            report["levels"][str(level)] = res
            print(f"level {level} ({LEVELS[level]}): {json.dumps(res)}", flush=True)
            if out:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(report, indent=2) + "\n")
    finally:
        await engine.aclose()
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="arith-tiny", help="bundled name or folder")
    ap.add_argument("--per-level", type=int, default=500)
    ap.add_argument(
        "--sampled-per-level",
        type=int,
        default=None,
        help="sample (and build critic/judge items from) only the first N problems per level",
    )
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--levels", default="1,2,3,4")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument(
        "--new-roles",
        action="store_true",
        help="also measure the v2 roles (evaluate_roles.py): step verifier, verifier-selected "
        "best-of-8, verifier-guided refine, aggregator, debate, thinking extension",
    )
    ap.add_argument(
        "--bo8-per-level",
        type=int,
        default=None,
        help="verify every step of all 8 samples of only the first N sampled problems",
    )
    args = ap.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    asyncio.run(
        run(
            args.model,
            args.per_level,
            args.samples,
            args.temperature,
            levels,
            args.seed,
            args.sampled_per_level,
            args.out,
            args.new_roles,
            args.bo8_per_level,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
