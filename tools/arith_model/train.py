"""Train arith-tiny from a seed: phase 1 (drafts first), own-mistake mining, phase 2.

    python -m tools.arith_model.train --seed 0 --out engine/models/arith-tiny

Phase 1 is mostly drafting (thinking, every method, and direct) with a little of the
critic/judge/refine formats on synthetic corruptions: the arithmetic every role relies on
comes first. Then the phase-1 drafter is sampled (temperature 0.7, as at run time) on
TRAINING problems and its wrong answers are kept; phase 2 mixes those own mistakes into
the critic, judge and refine data. The learning rate follows one warmup + cosine schedule
over both phases. Matmuls run under bf16 autocast (1.5x faster on this CPU, weights and
optimizer stay fp32). The seed fixes the data, the initialisation and the sampling of
the mined mistakes, and the step counts fix the amount of work; identical weights also
need the same torch build, thread count and CPU (not checked bit for bit: a run takes
52 minutes).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from .charset import SPECIALS, build_tokenizer, write_tokenizer_files
from .data import PHASE1_MIX, PHASE2_MIX, ExampleMix, make_example
from .formats import prompt_pack_dict
from .mine import mine_mistakes

PAD, BOS, EOS = (SPECIALS.index(t) for t in ("<pad>", "<s>", "</s>"))
CONTEXT = 1024


def model_config(vocab_size: int) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=CONTEXT,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=PAD,
        hidden_act="silu",
        attention_bias=False,
        mlp_bias=False,
    )


class Batcher:
    """Token-budgeted batches of similar length (little padding); loss on completions only."""

    def __init__(self, tokenizer, rng: random.Random, tokens_per_batch: int) -> None:
        self.tok, self.rng, self.budget = tokenizer, rng, tokens_per_batch
        self.queue: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.tokens_seen = 0

    def _encode(self, prompt: str, completion: str) -> tuple[list[int], list[int]]:
        p = self.tok.encode(prompt).ids
        c = self.tok.encode(completion).ids + [EOS]
        # Most prompts start with <s> (add_bos_token), some with none or two, so the model
        # is indifferent to how a runtime applies the BOS convention.
        r = self.rng.random()
        bos = [BOS] if r < 0.75 else [] if r < 0.95 else [BOS, BOS]
        ids = bos + p + c
        mask = [0] * (len(bos) + len(p)) + [1] * len(c)
        return ids[:CONTEXT], mask[:CONTEXT]

    def refill(self, mix: ExampleMix, own: list | None, samples: list | None = None) -> None:
        pool = [self._encode(*make_example(self.rng, mix, own, samples)) for _ in range(1024)]
        pool.sort(key=lambda x: len(x[0]))
        batches, i = [], 0
        while i < len(pool):
            longest = len(pool[min(i + 7, len(pool) - 1)][0])
            size = max(8, self.budget // max(longest, 1))
            chunk = pool[i : i + size]
            width = max(len(x[0]) for x in chunk)
            ids = torch.full((len(chunk), width), PAD, dtype=torch.long)
            labels = torch.full((len(chunk), width), -100, dtype=torch.long)
            for row, (x, m) in enumerate(chunk):
                ids[row, : len(x)] = torch.tensor(x)
                labels[row, : len(x)] = torch.tensor(
                    [t if k else -100 for t, k in zip(x, m, strict=True)]
                )
            batches.append((ids, labels))
            i += size
        self.rng.shuffle(batches)
        self.queue.extend(batches)

    def next(
        self, mix: ExampleMix, own: list | None, samples: list | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.queue:
            self.refill(mix, own, samples)
        ids, labels = self.queue.pop()
        self.tokens_seen += int(ids.numel())
        return ids, labels


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def complete_config(path: Path) -> None:
    """Add the classic top-level keys (rope_theta, torch_dtype) next to transformers 5's
    `rope_parameters`/`dtype`, so loaders written against either convention read it."""
    config = json.loads(path.read_text())
    rope = config.get("rope_parameters") or {}
    config.setdefault("rope_theta", rope.get("rope_theta", 10000.0))
    config.setdefault("torch_dtype", config.get("dtype", "float32"))
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def write_support_files(folder: Path) -> None:
    """Everything but the weights: tokenizer files, generation config, prompt pack."""
    complete_config(folder / "config.json")
    write_tokenizer_files(folder, CONTEXT)
    gen = {"bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": PAD, "max_new_tokens": 320}
    (folder / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n")
    (folder / "prompt_pack.json").write_text(json.dumps(prompt_pack_dict(), indent=2) + "\n")


def save_model(model: LlamaForCausalLM, out: Path, meta: dict) -> None:
    """The HF folder layout: config, safetensors, generation config, tokenizer, prompt pack."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp, safe_serialization=True)
    write_support_files(tmp)
    (tmp / "training.json").write_text(json.dumps(meta, indent=2) + "\n")
    out.mkdir(parents=True, exist_ok=True)
    for f in tmp.iterdir():  # README.md (the model card) in `out` is left as it is
        os.replace(f, out / f.name)
    tmp.rmdir()


@dataclass
class Trainer:
    """The model, optimizer, batcher and schedule shared by both phases."""

    model: LlamaForCausalLM
    opt: torch.optim.Optimizer
    batcher: Batcher
    peak_lr: float
    warmup: int
    total_steps: int
    device: str
    bf16: bool
    log: Callable[[str], None]
    step: int = 0

    def run(
        self,
        mix: ExampleMix,
        own: list | None,
        steps: int,
        samples: list | None = None,
        checkpoint: Callable[[int], None] | None = None,
        checkpoint_every: int = 0,
    ) -> None:
        """`steps` optimizer steps on `mix`; `samples` (role_data.OwnSamples) feed the v2
        roles; `checkpoint(step)` is called every `checkpoint_every` steps."""
        self.model.train()
        t0, tokens0 = time.time(), self.batcher.tokens_seen
        for _ in range(steps):
            lr = lr_at(self.step, self.total_steps, self.peak_lr, self.warmup)
            for g in self.opt.param_groups:
                g["lr"] = lr
            ids, labels = (t.to(self.device) for t in self.batcher.next(mix, own, samples))
            with torch.autocast(self.device.split(":")[0], torch.bfloat16, enabled=self.bf16):
                loss = self.model(input_ids=ids, labels=labels).loss
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            if self.step % 50 == 0:
                elapsed = time.time() - t0
                rate = (self.batcher.tokens_seen - tokens0) / max(elapsed, 1e-9)
                self.log(
                    f"step {self.step}/{self.total_steps} loss {loss.item():.4f} lr {lr:.2e} "
                    f"tokens {self.batcher.tokens_seen} ({rate:.0f}/s) elapsed {elapsed:.0f}s"
                )
            self.step += 1
            if checkpoint and checkpoint_every and self.step % checkpoint_every == 0:
                checkpoint(self.step)


def start_run(args: argparse.Namespace) -> tuple[random.Random, Callable[[str], None]]:
    """Pins torch's threads, seeds torch and Python from --seed, and opens the run's log:
    each line is printed and appended to WORK/train.log."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.work.mkdir(parents=True, exist_ok=True)
    logf = open(args.work / "train.log", "a")

    def log(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    return random.Random(args.seed), log


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("engine/models/arith-tiny"))
    ap.add_argument("--phase1-steps", type=int, default=3600)
    ap.add_argument("--phase2-steps", type=int, default=1400)
    ap.add_argument("--tokens-per-batch", type=int, default=4096)
    ap.add_argument("--lr", type=float, default=7e-4)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--mine-problems", type=int, default=600)
    ap.add_argument("--mine-samples", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    ap.add_argument("--no-bf16", dest="bf16", action="store_false", help="train in plain fp32")
    ap.add_argument("--work", type=Path, default=Path("runs/arith-tiny"))
    args = ap.parse_args(argv)

    rng, log = start_run(args)

    tok = build_tokenizer()
    model = LlamaForCausalLM(model_config(tok.get_vocab_size())).to(args.device)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"params {n_params}; {vars(args)}")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    total = args.phase1_steps + args.phase2_steps
    trainer = Trainer(
        model,
        opt,
        Batcher(tok, rng, args.tokens_per_batch),
        args.lr,
        args.warmup,
        total,
        args.device,
        args.bf16,
        log,
    )
    meta = {
        "seed": args.seed,
        "params": n_params,
        "phase1_steps": args.phase1_steps,
        "phase2_steps": args.phase2_steps,
        "tokens_per_batch": args.tokens_per_batch,
        "lr": args.lr,
        "warmup": args.warmup,
        "bf16_autocast": args.bf16,
        "threads": args.threads,
        "device": args.device,
        "torch": torch.__version__,
    }
    t_start = time.time()
    trainer.run(PHASE1_MIX, None, args.phase1_steps)
    t1 = time.time()
    tokens1 = trainer.batcher.tokens_seen
    save_model(model, args.work / "phase1", {**meta, "stage": "phase1"})
    log(f"phase 1 done: {args.phase1_steps} steps, {tokens1} tokens, {t1 - t_start:.0f}s")

    own, stats = mine_mistakes(model, tok, rng, args.mine_problems, args.mine_samples, log)
    t2 = time.time()
    log(f"mined {len(own)} own wrong answers in {t2 - t1:.0f}s: {stats}")
    trainer.batcher.queue.clear()
    trainer.run(PHASE2_MIX, own, args.phase2_steps)
    t3 = time.time()
    meta.update(
        {
            "stage": "final",
            "tokens_phase1": tokens1,
            "tokens_total": trainer.batcher.tokens_seen,
            "wall_s_phase1": round(t1 - t_start),
            "wall_s_mining": round(t2 - t1),
            "wall_s_phase2": round(t3 - t2),
            "wall_s_total": round(t3 - t_start),
            "mined_wrong": len(own),
            "mined_accuracy": stats,
        }
    )
    save_model(model.to("cpu"), args.out, meta)
    log(f"done: {json.dumps(meta)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
