"""A finished job's rows -> the Generation its caller receives.

Texts (cut at a stop string, or decoded without eos tokens), per-token logprobs with their
alternatives when asked, usage, and the wall-clock timing measured on the worker.
"""

from __future__ import annotations

import time

import numpy as np

from ..types import Generation, Sample, Timing, TokenLogprob, TopLogprob, Usage
from .sequence import Job, Row
from .tokenizer import TextCodec

__all__ = ["complete"]


def complete(job: Job, codec: TextCodec, eos_ids: np.ndarray, model_name: str) -> None:
    """Resolve the job's future with its Generation (unless it already failed)."""
    done = time.perf_counter()
    eos = set(eos_ids.tolist())
    generation = Generation(
        model=model_name,
        samples=[_sample(row, codec, eos, job.request.logprobs) for row in job.rows],
        usage=Usage(
            prompt_tokens=len(job.prompt),
            completion_tokens=sum(len(r.tokens) for r in job.rows),
            cached_tokens=job.cached_tokens,
        ),
        timing=Timing(
            wall_s=done - job.submitted,
            prefill_s=job.prefill_s,
            decode_s=done - job.decode_start,
            ttft_s=job.ttft_s,
        ),
    )
    if not job.future.done():
        job.future.set_result(generation)


def _sample(row: Row, codec: TextCodec, eos: set[int], with_logprobs: bool) -> Sample:
    text = row.text
    if text is None:
        text = codec.decode([t for t in row.tokens if t not in eos])
    logprobs = None
    if with_logprobs:
        logprobs = [
            TokenLogprob(
                token=codec.token_text(t),
                token_id=t,
                logprob=lp,
                top_logprobs=[
                    TopLogprob(token=codec.token_text(a), token_id=a, logprob=alp)
                    for a, alp in (row.top[i] if row.top else [])
                ],
            )
            for i, (t, lp) in enumerate(zip(row.tokens, row.logprobs, strict=True))
        ]
    return Sample(
        text=text,
        token_ids=row.tokens,
        finish_reason=row.finish or "length",
        cumulative_logprob=float(sum(row.logprobs)),
        logprobs=logprobs,
        # a constrained row cut by max_tokens says that its output is unfinished
        constraint_complete=None if row.matcher is None else bool(row.matcher.is_accepting()),
    )
