"""A request on its way through the worker: its job record, its rows, their text.

A `Job` is one request (tokenised prompt, the caller's future, timing); its `Row`s are
its n samples being decoded. This module owns what happens to a row after each sampled
token: logprobs kept, eos / stop string / max_tokens / cancellation deciding when it
finishes, and streamed text sent without ever showing the start of a stop string.

Stop strings are cut from the text (as OpenAI does) but the tokens that made them stay in
`token_ids` and in the usage count; an eos token ends a sample and is kept in `token_ids`
but never rendered into the text.

A constrained request's job holds one compiled matcher; each of its rows decodes with its
own copy, which takes every sampled token and ends the row ("stop") once the grammar is
complete. A row cut by max_tokens before that is marked `constraint_complete=False`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..types import GenerationRequest
from .sampling import log_softmax_at, top_alternatives
from .tokenizer import IncrementalDetokenizer, TextCodec

__all__ = ["Job", "Row", "open_rows", "record_step"]


@dataclass(eq=False)  # identity semantics: jobs go in sets
class Job:
    """One request on its way through the worker: inputs, results, and timing."""

    request: GenerationRequest
    prompt: np.ndarray  # [T] token ids
    future: Future
    on_delta: Callable[[str], None] | None = None  # streaming: called from the worker
    cancelled: bool = False
    submitted: float = field(default_factory=time.perf_counter)
    prefill_s: float = 0.0
    cached_tokens: int = 0  # prompt positions loaded from the prefix cache
    ttft_s: float | None = None
    decode_start: float = 0.0
    rows: list[Row] = field(default_factory=list)
    matcher: Any = None  # llguidance LLMatcher at the output's start; rows take copies
    banned_ids: Any = None  # [k] ids a constrained row may never emit (the unknown token)

    @property
    def budget(self) -> int:
        """Cache slots the job occupies: its rows times the longest sequence they reach."""
        return self.request.n * (len(self.prompt) + self.request.max_tokens)


@dataclass(eq=False)
class Row:
    """One sample being decoded."""

    job: Job
    max_tokens: int
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    top: list[list[tuple[int, float]]] = field(default_factory=list)
    finish: str | None = None
    detok: IncrementalDetokenizer | None = None  # only for stop strings or streaming
    text: str | None = None  # final text when a stop string cut it
    streamed: int = 0  # characters of detok.text already sent
    matcher: Any = None  # this row's own LLMatcher when the request is constrained


def open_rows(job: Job, codec: TextCodec) -> list[Row]:
    """The job's n rows; they follow their text only when stop strings or streaming need it."""
    follow_text = bool(job.request.stop) or job.on_delta is not None
    job.rows = [
        Row(
            job=job,
            max_tokens=job.request.max_tokens,
            detok=_detok(codec, follow_text),
            matcher=None if job.matcher is None else job.matcher.deep_copy(),
        )
        for _ in range(job.request.n)
    ]
    return job.rows


def _detok(codec: TextCodec, needed: bool) -> IncrementalDetokenizer | None:
    return IncrementalDetokenizer(codec) if needed else None


def record_step(
    rows: list[Row], logits: np.ndarray, tokens: np.ndarray, eos_ids: np.ndarray, stopping: bool
) -> None:
    """Append each row's sampled token and logprob; decide which rows finish.

    `stopping` (the engine is closing) finishes every row with reason "length".
    """
    chosen, lse = log_softmax_at(logits, tokens)
    now = time.perf_counter()
    finished = (tokens[:, None] == eos_ids[None, :]).any(axis=1)
    for j, row in enumerate(rows):
        job = row.job
        tok = int(tokens[j])
        row.tokens.append(tok)
        row.logprobs.append(float(chosen[j]))
        if job.ttft_s is None:
            job.ttft_s = now - job.submitted
        if job.request.top_logprobs:
            row.top.append(top_alternatives(logits[j], float(lse[j]), job.request.top_logprobs))
        if finished[j]:
            row.finish = "stop"
        elif row.detok is not None and _feed_text(row, tok, eos_ids):
            row.finish = "stop"
        elif row.matcher is not None and _grammar_complete(row.matcher, tok):
            row.finish = "stop"
        elif len(row.tokens) >= row.max_tokens or job.cancelled or stopping:
            row.finish = "length"
        if row.finish and row.detok is not None and job.on_delta is not None:
            _emit(row, final=True)


def _grammar_complete(matcher: Any, tok: int) -> bool:
    """Advance the row's matcher by its token; True when the grammar admits nothing more.

    (An eos token needs no advance: the mask allows it only where the grammar may end.)"""
    matcher.consume_token(tok)
    return bool(matcher.is_stopped())


def _feed_text(row: Row, tok: int, eos_ids: np.ndarray) -> bool:
    """Extend the row's text; True when a stop string appeared (the text is cut there)."""
    detok = row.detok
    assert detok is not None
    if tok in eos_ids:
        return False
    before = len(detok.text)
    detok.push(tok)
    stops = row.job.request.stop
    if stops:
        # A stop string not seen before must end in the new text: search only the tail.
        start = max(0, before - max(len(s) for s in stops) + 1)
        hits = [i for i in (detok.text.find(s, start) for s in stops) if i >= 0]
        if hits:
            row.text = detok.text[: min(hits)]
            return True
    if row.job.on_delta is not None:
        _emit(row, final=False)
    return False


def _emit(row: Row, *, final: bool) -> None:
    """Send new streamed text, holding back a tail that may be the start of a stop string."""
    detok = row.detok
    assert detok is not None
    text = row.text if row.text is not None else detok.text
    if final and row.text is None:
        text += detok.flush()
    end = len(text)
    if not final:
        for stop in row.job.request.stop:
            for k in range(min(len(stop) - 1, len(text)), 0, -1):
                if text.endswith(stop[:k]):
                    end = min(end, len(text) - k)
                    break
    if end > row.streamed:
        row.job.on_delta(text[row.streamed : end])  # type: ignore[misc]
        row.streamed = end
