"""What a scaffolded request sends back: the answer, the scaffold's text, usage, `thinkfast`.

- `message.content` (chat) / `text` (completions): the chosen candidate's text;
- `reasoning_content`: one line per thing the scaffold did (each draft's answer, each
  verdict, each judge match, the vote or decision, a budget stop), the same lines a
  stream sends as they happen (`progress_line`);
- `usage`: sums over every call of every role and every choice; `reasoning_tokens` is
  every completion token that is not a final answer's;
- `thinkfast`: per choice the strategy and options, usage by role, the calls, the
  candidates with their answers and votes, latency (wall, sum of calls, critical path,
  emulated per hardware profile) and whether a budget stopped it; plus the request's
  ignored fields.
"""

from __future__ import annotations

from typing import Any

from thinkfast.orchestrator.answer import Answer
from thinkfast.orchestrator.events import Event

from .responses import envelope

__all__ = [
    "progress_line",
    "scaffold_json",
    "scaffold_response",
    "scaffold_usage",
]


def _verdict(approved: Any) -> str:
    return {True: "approved", False: "rejected"}.get(approved, "unreadable")


def progress_line(event: Event) -> str | None:
    """One readable line for a progress event worth showing, None for the rest."""
    data = event.data
    if event.kind == "candidate":
        where = f" ({event.node})" if event.node and event.node != "draft" else ""
        return f"{event.role or 'draft'} #{data.get('id')}{where}: answer {data.get('answer')}"
    if event.kind == "verdict":
        return f"{event.role or 'critique'} of #{data.get('id')}: {_verdict(data.get('approved'))}"
    if event.kind == "choice":
        return f"judge: #{data.get('a')} vs #{data.get('b')} -> #{data.get('winner')}"
    if event.kind == "decision":
        if "kind" in data:
            detail = f" ({data['detail']})" if data.get("detail") else ""
            return f"{data['kind']}: #{data.get('winner')}{detail}"
        parts = [f"{k} {v}" for k, v in data.items()]
        return f"{event.node or 'decision'}: " + ", ".join(parts)
    if event.kind == "budget_stop":
        return f"budget stop: {data.get('reason')}"
    if event.kind == "failure":
        return f"{event.role or 'call'} failed: {data.get('error')}"
    return None


def reasoning_text(answer: Answer, events: list[Event]) -> str:
    head = f"{answer.strategy} on {answer.model}"
    lines = [head, *(line for e in events if (line := progress_line(e)))]
    lines.append(f"answer: {answer.answer}")
    return "\n".join(lines)


def _answer_tokens(answer: Answer) -> int:
    chosen = answer.chosen
    return chosen.completion_tokens if chosen is not None else 0


def scaffold_usage(answers: list[Answer]) -> dict[str, Any]:
    """OpenAI usage over every call of every choice."""
    prompt = sum(a.usage.total.prompt_tokens for a in answers)
    completion = sum(a.usage.total.completion_tokens for a in answers)
    cached = sum(a.usage.total.cached_tokens for a in answers)
    final = sum(_answer_tokens(a) for a in answers)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": max(0, completion - final)},
    }


def scaffold_json(answer: Answer) -> dict[str, Any]:
    """The `thinkfast` record of one choice."""
    latency = answer.latency
    return {
        "strategy": answer.strategy,
        "options": answer.options,
        "answer": answer.answer,
        "selected": answer.selected,
        "usage_by_role": {
            role: u.model_dump(mode="json") for role, u in answer.usage.by_role.items()
        },
        "calls": [
            {
                "id": c.id,
                "role": c.role,
                "node": c.node,
                "engine": c.engine,
                "samples": c.samples,
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens,
                "cached_tokens": c.cached_tokens,
                "wall_s": c.wall_s,
                "emulated": c.emulated,
                "after": c.after,
                "error": c.error,
            }
            for c in answer.calls
        ],
        "candidates": [
            {
                "id": c.id,
                "answer": c.answer,
                "source": c.source,
                "votes": c.votes,
                "wins": c.wins,
                "scores": c.scores,
                "completion_tokens": c.completion_tokens,
            }
            for c in answer.candidates
        ],
        "decisions": [d.model_dump(mode="json") for d in answer.decisions],
        "latency": {
            "wall_s": latency.wall_s,
            "sum_of_calls_s": latency.sum_of_calls_s,
            "critical_path_s": latency.critical_path_s,
            "emulated": {p: e.model_dump() for p, e in latency.emulated.items()},
        },
        "stopped_for_budget": answer.stopped_for_budget,
        "budget_stop_reason": answer.budget_stop_reason,
    }


def thinkfast_object(
    answers: list[Answer], source: str, ignored: list[str], budget: dict[str, Any]
) -> dict[str, Any]:
    by_role: dict[str, dict[str, int]] = {}
    for a in answers:
        for role, u in a.usage.by_role.items():
            row = by_role.setdefault(
                role, {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0}
            )
            for key in row:
                row[key] += getattr(u, key)
    return {
        "strategy": answers[0].strategy if answers else None,
        "selected_by": source,
        "budget": budget,
        "usage_by_role": by_role,
        "choices": [scaffold_json(a) for a in answers],
        "ignored_fields": ignored,
    }


def _finish(answer: Answer) -> str:
    chosen = answer.chosen
    return chosen.finish_reason if chosen is not None else "stop"


def scaffold_response(
    model: str,
    answers: list[Answer],
    progress: dict[int, list[Event]],
    extra: dict[str, Any],
    *,
    chat: bool,
) -> dict[str, Any]:
    """A chat or text completion body whose choices are a strategy's answers."""
    choices = []
    for i, a in enumerate(answers):
        reasoning = reasoning_text(a, progress.get(i, []))
        if chat:
            body = {
                "message": {"role": "assistant", "content": a.text, "reasoning_content": reasoning}
            }
        else:
            body = {"text": a.text, "reasoning_content": reasoning}
        choices.append({"index": i, **body, "logprobs": None, "finish_reason": _finish(a)})
    return envelope(
        chat=chat, model=model, choices=choices, usage=scaffold_usage(answers), extra=extra
    )
