"""Stage 2 (arith-tiny v2): fine-tune stage-1 weights on the v2 roles plus the old ones.

    python -m tools.arith_model.mine_pool --model runs/arith-tiny/stage1 --out runs/pool.jsonl
    python -m tools.arith_model.finetune --init runs/arith-tiny/stage1 \\
        --pool runs/pool.jsonl --out engine/models/arith-tiny

Stage 1 (`train.py`, the v1 recipe) teaches the drafts, critic, judge and refiner. Stage 2
adds the step verifier, aggregator, debater, thinking extension and draft continuation
(`data.STAGE2_MIX`), feeding them, the critic, judge and refiner with the stage-1
drafter's OWN samples (`--pool`, written by `mine_pool.py`). A checkpoint is written to
`--work`/checkpoint every `--checkpoint-every` steps, so an interrupted run still leaves
usable weights.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from transformers import LlamaForCausalLM

from .charset import build_tokenizer
from .data import STAGE2_MIX
from .role_data import load_pool, wrong_candidates
from .train import Batcher, Trainer, save_model, start_run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--init", type=Path, required=True, help="stage-1 model folder")
    ap.add_argument("--pool", type=Path, required=True, help="own samples (mine_pool.py)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("engine/models/arith-tiny"))
    ap.add_argument("--steps", type=int, default=2400)
    ap.add_argument("--tokens-per-batch", type=int, default=4096)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-bf16", dest="bf16", action="store_false")
    ap.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="stop after this many steps of the --steps schedule (the shipped v2: 1600 of 2400)",
    )
    ap.add_argument("--checkpoint-every", type=int, default=200)
    ap.add_argument("--work", type=Path, default=Path("runs/arith-tiny-v2"))
    args = ap.parse_args(argv)

    rng, log = start_run(args)

    tok = build_tokenizer()
    model = LlamaForCausalLM.from_pretrained(args.init).to(args.device)
    stage1 = json.loads((args.init / "training.json").read_text())
    pool = load_pool(args.pool)
    own = wrong_candidates(pool)
    log(
        f"stage 2 from {args.init}: {len(pool)} pooled problems, {len(own)} own wrong; {vars(args)}"
    )
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    trainer = Trainer(
        model,
        opt,
        Batcher(tok, rng, args.tokens_per_batch),
        args.lr,
        args.warmup,
        args.steps,
        args.device,
        args.bf16,
        log,
    )
    meta = {
        "stage1": stage1,
        "stage": "stage2",
        "seed": args.seed,
        "init": str(args.init),
        "pool": str(args.pool),
        "pool_problems": len(pool),
        "pool_samples": sum(len(s.texts) for s in pool),
        "pool_wrong": len(own),
        "steps": args.steps,
        "tokens_per_batch": args.tokens_per_batch,
        "lr": args.lr,
        "warmup": args.warmup,
        "bf16_autocast": args.bf16,
        "threads": args.threads,
        "device": args.device,
        "torch": torch.__version__,
        "mix": vars(STAGE2_MIX),
    }
    t0 = time.time()

    def checkpoint(step: int) -> None:
        save_model(
            model,
            args.work / "checkpoint",
            {**meta, "stage": f"stage2 step {step}", "wall_s": round(time.time() - t0)},
        )
        log(f"checkpoint at step {step}")

    steps = min(args.steps, args.stop_after or args.steps)
    trainer.run(STAGE2_MIX, own, steps, pool, checkpoint, args.checkpoint_every)
    meta["steps_run"] = steps
    meta.update({"tokens": trainer.batcher.tokens_seen, "wall_s": round(time.time() - t0)})
    save_model(model.to("cpu"), args.out, meta)
    log(f"done: {json.dumps(meta)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
