"""Write the model card's measured tables from an evaluation report and training.json.

    python -m tools.arith_model.card runs/eval.json engine/models/arith-tiny

Prints the markdown tables (figures, tokens per answer, training run) that the model card
(`README.md` in the model folder) carries, so the card's numbers come from the files the
commands wrote rather than from hand copying.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from thinkfast.evals.arith import LEVELS


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def tables(report: dict, training: dict) -> str:
    levels = report["levels"]
    rows = [
        ("greedy direct", "greedy_direct"),
        ("greedy thinking", "greedy_thinking"),
        (f"sampled thinking (T={report['temperature']}), one sample", "sampled_thinking"),
        (f"majority of {report['samples']}", "majority_of_8"),
        (f"coverage@{report['samples']}", "coverage_at_8"),
        ("critic balanced accuracy", "critic_balanced"),
        ("critic: approves right answers", "critic_tpr"),
        ("critic: rejects wrong answers", "critic_tnr"),
        ("judge accuracy on (right, wrong) pairs", "judge_accuracy"),
        ("critic balanced, read from its Verdict word", "critic_balanced_written"),
        ("judge, read from its Choice word", "judge_accuracy_written"),
    ]
    head = (
        "| | "
        + " | ".join(f"level {k}" for k in levels)
        + " |\n|---|"
        + "---|" * len(levels)
        + "\n"
    )
    body = "".join(
        f"| {label} | " + " | ".join(_pct(levels[k].get(key)) for k in levels) + " |\n"
        for label, key in rows
    )
    counts = (
        "| problems | " + " | ".join(str(levels[k]["problems"]) for k in levels) + " |\n"
        "| critic items (right / wrong) | "
        + " | ".join(
            f"{levels[k]['critic_items']['right']} / {levels[k]['critic_items']['wrong']}"
            for k in levels
        )
        + " |\n| judge pairs | "
        + " | ".join(str(levels[k]["judge_pairs"]) for k in levels)
        + " |\n"
    )
    tok_rows = [
        ("direct", "tokens_direct"),
        ("thinking", "tokens_thinking"),
        ("critique", "tokens_critique"),
        ("judge", "tokens_judge"),
    ]
    tok = (
        "\n| completion tokens per answer | "
        + " | ".join(f"level {k}" for k in levels)
        + " |\n|---|"
        + "---|" * len(levels)
        + "\n"
    )
    tok += "".join(
        f"| {label} | " + " | ".join(f"{levels[k][key]:.1f}" for k in levels) + " |\n"
        for label, key in tok_rows
    )
    legend = "\nLevels: " + "; ".join(f"{k}: {LEVELS[int(k)]}" for k in levels) + ".\n"
    train = "\n| training | |\n|---|---|\n" + "".join(
        f"| {k} | {v} |\n" for k, v in training.items() if k != "stage"
    )
    return head + body + counts + tok + legend + train


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    report = json.loads(Path(args[0]).read_text())
    training = json.loads((Path(args[1]) / "training.json").read_text())
    print(tables(report, training))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
