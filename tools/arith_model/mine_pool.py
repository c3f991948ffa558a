"""Sample a drafter on TRAINING problems and keep every sample, right and wrong, as JSONL.

    python -m tools.arith_model.mine_pool --model runs/arith-tiny/stage1 --out runs/pool.jsonl

One line per problem: {"level", "seed", "samples": [8 worked answers at T=0.7]}; the
problem is rebuilt from (level, seed) with `make_problem(level, seed, "train")`. Stage 2
(`finetune.py`) draws the verifier's right and wrong steps, the critic/judge/refiner's
wrong candidates and the aggregator/debater's answer sets from it. Problems cycle through
levels 2, 3, 4, 4, 3, 1 (the harder levels, where mistakes are). One torch thread; on the
project's shared 2-core CPU torch's batched `generate` and LocalEngine were about as fast
(32 problems x 8 samples in 12-17 s and 14 s).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch
from transformers import LlamaForCausalLM

from .charset import build_tokenizer
from .data import train_problem
from .formats import draft_prompt
from .mine import sample_texts

LEVEL_CYCLE = (2, 3, 4, 4, 3, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", type=Path, default=Path("engine/models/arith-tiny"))
    ap.add_argument("--problems", type=int, default=1984)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    tok = build_tokenizer()
    model = LlamaForCausalLM.from_pretrained(args.model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with open(args.out, "w") as f:
        for start in range(0, args.problems, args.batch):
            n = min(args.batch, args.problems - start)
            probs = [
                train_problem(rng, LEVEL_CYCLE[(start + i) % len(LEVEL_CYCLE)]) for i in range(n)
            ]
            outs = sample_texts(
                model, tok, [draft_prompt(p) for p in probs], args.samples, args.temperature
            )
            for p, texts in zip(probs, outs, strict=True):
                row = {"level": p.level, "seed": p.seed, "samples": [t.strip() for t in texts]}
                f.write(json.dumps(row) + "\n")
            f.flush()
            print(f"{start + n}/{args.problems} problems, {time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
