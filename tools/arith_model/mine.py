"""Own-mistake mining: sample the phase-1 drafter on TRAINING problems, keep what it got wrong.

The critic, judge and refiner must learn the errors the drafter really makes, not only
synthetic slips; this samples worked answers (temperature 0.7, as at run time, several
per problem, so the kept mistakes are the ones sampling produces) and grades them exactly.
"""

from __future__ import annotations

import random
from collections import Counter

import torch
from thinkfast.evals.arith import parse_work

from .charset import SPECIALS
from .data import Candidate, train_problem
from .formats import draft_prompt

__all__ = ["sample_texts", "mine_mistakes"]

PAD, BOS, EOS = (SPECIALS.index(t) for t in ("<pad>", "<s>", "</s>"))


@torch.no_grad()
def sample_texts(
    model, tok, prompts: list[str], n: int, temperature: float, max_new: int = 300
) -> list[list[str]]:
    """n sampled completions per prompt (left-padded batch, KV-cached HF generate)."""
    model.eval()
    enc = [[BOS] + tok.encode(p).ids for p in prompts]
    width = max(len(e) for e in enc)
    ids = torch.full((len(enc), width), PAD, dtype=torch.long)
    mask = torch.zeros((len(enc), width), dtype=torch.long)
    for i, e in enumerate(enc):
        ids[i, width - len(e) :] = torch.tensor(e)
        mask[i, width - len(e) :] = 1
    kwargs = (
        {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
        if temperature > 0
        else {"do_sample": False}
    )
    out = model.generate(
        input_ids=ids.to(model.device),
        attention_mask=mask.to(model.device),
        max_new_tokens=max_new,
        num_return_sequences=n,
        eos_token_id=EOS,
        pad_token_id=PAD,
        **kwargs,
    )
    texts = []
    for row in out[:, width:].tolist():
        if EOS in row:
            row = row[: row.index(EOS)]
        texts.append(tok.decode([t for t in row if t != PAD]))
    return [texts[i * n : (i + 1) * n] for i in range(len(prompts))]


def mine_mistakes(
    model, tok, rng: random.Random, problems: int, samples: int, log, batch: int = 48
):
    """Wrong sampled drafts on training problems of every level, and per-level accuracy."""
    levels = [2, 3, 4, 4, 3, 1]
    wrong: list[Candidate] = []
    seen, right = Counter(), Counter()
    for start in range(0, problems, batch):
        probs = [
            train_problem(rng, levels[(start + i) % len(levels)])
            for i in range(min(batch, problems - start))
        ]
        outs = sample_texts(model, tok, [draft_prompt(p) for p in probs], samples, 0.7)
        for p, texts in zip(probs, outs, strict=True):
            for text in texts:
                _, answer = parse_work(text)
                ok = answer == p.target
                seen[p.level] += 1
                right[p.level] += ok
                if not ok:
                    wrong.append(Candidate(p, text.strip(), False))
        log(f"mining {start + len(probs)}/{problems}: {len(wrong)} wrong so far")
    stats = {f"level{lv}": round(right[lv] / seen[lv], 3) for lv in sorted(seen)}
    return wrong, stats
