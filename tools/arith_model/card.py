"""Write the model card's measured tables from an evaluation report and training.json.

    python -m tools.arith_model.card runs/eval.json engine/models/arith-tiny

Prints the markdown tables (figures, tokens per answer, training run) that the model card
(`README.md` in the model folder) carries, so the card's numbers come from the files the
commands wrote rather than from hand copying.
"""

from __future__ import annotations

import json
import math
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
            ("best-of-8, verifier-weighted vote", None, "bo8_verifier"),
            ("best-of-8, vote among the top prefix scores", None, "bo8_verifier_top"),
            ("greedy thinking (one draft)", None, "greedy"),
            ("self-refine, verifier-guided, one round", None, "self_refine_verifier"),
            ("vote over 4 samples", None, "vote4"),
            ("aggregator over the same 4 (as written)", None, "aggregate4"),
            (
                "aggregator over the same 4 (snapped to an offered answer)",
                None,
                "aggregate4_snapped",
            ),
            ("vote over 3 first answers", None, "vote3_first_round"),
            ("debate, 3 agents, 2 rounds (as written)", None, "debate3x2"),
            ("debate, 3 agents, 2 rounds (snapped)", None, "debate3x2_snapped"),
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


def wilson(k: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of k successes in n trials."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def _ci(p: float | None, n: int) -> str:
    if p is None:
        return "–"
    lo, hi = wilson(p * n, n)
    return f"{100 * p:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def v2_summary(report: dict) -> str:
    """The v2 roles pooled over levels, each with its 95% Wilson interval and n."""
    levels = list(report["levels"].values())
    if not all("roles" in lv for lv in levels):
        return ""

    def pooled(key: str, n_key: str = "sampled_problems") -> tuple[float, int]:
        n = sum(lv["roles"]["bo8_problems"] if n_key == "bo8" else lv[n_key] for lv in levels)
        w = [
            (lv["roles"][key], lv["roles"]["bo8_problems"] if n_key == "bo8" else lv[n_key])
            for lv in levels
        ]
        return sum(x * m for x, m in w) / n, n

    ver = [lv["roles"]["verifier"] for lv in levels]
    pos = sum(v["items_right"] for v in ver)
    neg = sum(v["items_wrong"] for v in ver)
    tpr = sum(v["approves_right"] * v["items_right"] for v in ver) / pos
    tnr = sum(v["rejects_wrong"] * v["items_wrong"] for v in ver) / neg
    rows = [
        ("step verifier: approves right steps", _ci(tpr, pos), pos),
        ("step verifier: rejects wrong steps", _ci(tnr, neg), neg),
        ("step verifier balanced accuracy", f"{100 * (tpr + tnr) / 2:.1f}%", pos + neg),
    ]
    for label, key, n_key in (
        ("majority of 8", "bo8_vote", "bo8"),
        ("best-of-8, verifier-weighted vote", "bo8_verifier", "bo8"),
        ("best-of-8, vote among top prefix scores", "bo8_verifier_top", "bo8"),
        ("greedy thinking (single)", "greedy", "problems"),
        ("self-refine, verifier-guided", "self_refine_verifier", "problems"),
        ("vote over 4", "vote4", "sampled_problems"),
        ("aggregator over the same 4 (as written)", "aggregate4", "sampled_problems"),
        ("aggregator over the same 4 (snapped)", "aggregate4_snapped", "sampled_problems"),
        ("vote over 3 first answers", "vote3_first_round", "sampled_problems"),
        ("debate 3x2 (as written)", "debate3x2", "sampled_problems"),
        ("debate 3x2 (snapped)", "debate3x2_snapped", "sampled_problems"),
        ("greedy thinking + Wait: + one more solution", "think_more", "problems"),
    ):
        p, n = pooled(key, n_key)
        rows.append((label, _ci(p, n), n))
    return "| all levels pooled | measured [95% Wilson] | n |\n|---|---|---|\n" + "".join(
        f"| {a} | {b} | {c} |\n" for a, b, c in rows
    )


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    report = json.loads(Path(args[0]).read_text())
    training = json.loads((Path(args[1]) / "training.json").read_text())
    print(tables(report, training))
    print(v2_summary(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
