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

    def header(title: str) -> str:
        columns = " | ".join(f"level {k}" for k in levels)
        first = f"| {title} |" if title else "| |"
        return f"{first} {columns} |\n|---|" + "---|" * len(levels) + "\n"

    def row(label: str, cell) -> str:
        return f"| {label} | " + " | ".join(cell(levels[k]) for k in levels) + " |\n"

    body = header("") + "".join(
        row(label, lambda lv, k=key: _pct(lv.get(k))) for label, key in rows
    )
    body += row("problems", lambda lv: str(lv["problems"]))
    body += row(
        "critic items (right / wrong)",
        lambda lv: f"{lv['critic_items']['right']} / {lv['critic_items']['wrong']}",
    )
    body += row("judge pairs", lambda lv: str(lv["judge_pairs"]))
    tok_rows = [
        ("direct", "tokens_direct"),
        ("thinking", "tokens_thinking"),
        ("critique", "tokens_critique"),
        ("judge", "tokens_judge"),
    ]
    tok = (
        "\n"
        + header("completion tokens per answer")
        + "".join(row(label, lambda lv, k=key: f"{lv[k]:.1f}") for label, key in tok_rows)
    )
    roles = ""
    if all("roles" in levels[k] for k in levels):
        role_rows = [
            ("step verifier balanced accuracy", "verifier", "balanced"),
            ("step verifier: approves right steps", "verifier", "approves_right"),
            ("step verifier: rejects wrong steps", "verifier", "rejects_wrong"),
            ("majority of 8 (best-of-8 problems)", None, "bo8_vote"),
            ("best-of-8 selected by the step verifier", None, "bo8_verifier"),
            ("greedy thinking (one draft)", None, "greedy"),
            ("self-refine, verifier-guided, one round", None, "self_refine_verifier"),
            ("vote over 4 samples", None, "vote4"),
            ("aggregator over the same 4", None, "aggregate4"),
            ("vote over 3 first answers", None, "vote3_first_round"),
            ("debate, 3 agents, 2 rounds", None, "debate3x2"),
            ("greedy thinking, then `Wait:` and one more solution", None, "think_more"),
        ]

        def cell(lv: dict, group: str | None, key: str) -> str:
            src = lv["roles"][group] if group else lv["roles"]
            return _pct(src.get(key))

        roles = (
            "\n"
            + header("v2 roles")
            + "".join(
                row(label, lambda lv, g=group, k=key: cell(lv, g, k))
                for label, group, key in role_rows
            )
            + row(
                "verifier steps (right / wrong)",
                lambda lv: (
                    f"{lv['roles']['verifier']['items_right']} / "
                    f"{lv['roles']['verifier']['items_wrong']}"
                ),
            )
            + row("best-of-8 problems", lambda lv: str(lv["roles"]["bo8_problems"]))
            + row("drafts the refiner rewrote", lambda lv: str(lv["roles"]["refine_rewrote"]))
        )
    legend = "\nLevels: " + "; ".join(f"{k}: {LEVELS[int(k)]}" for k in levels) + ".\n"

    def kv(title: str, d: dict) -> str:
        flat = {k: v for k, v in d.items() if k != "stage" and not isinstance(v, dict)}
        return f"\n| {title} | |\n|---|---|\n" + "".join(
            f"| {k} | {v} |\n" for k, v in flat.items()
        )

    train = kv("training", training)
    if isinstance(training.get("mix"), dict):
        train += kv("stage 2 mix", training["mix"])
    if isinstance(training.get("stage1"), dict):
        train += kv("stage 1 (the v1 run)", training["stage1"])
    return body + tok + roles + legend + train


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    report = json.loads(Path(args[0]).read_text())
    training = json.loads((Path(args[1]) / "training.json").read_text())
    print(tables(report, training))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
