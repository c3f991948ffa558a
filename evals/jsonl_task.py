"""The `jsonl` task: questions from a JSON Lines file, graded by a grader chosen by name.

Each non-blank line is an object with

    input     the question (alias: "question")
    target    the right answer (alias: "answer"); numbers are accepted and kept as text
    id        optional; defaults to the line number
    metadata  optional object (e.g. {"level": 3}, {"choices": [...]} for the choice grader)

Every malformed line is reported with its file and line number, so a data set is fixed in
one pass rather than one error at a time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import DatasetFormatError, TaskError
from .graders import get_grader
from .task import EvalSample, Task

__all__ = ["load_jsonl_samples", "jsonl_task"]

_INPUT_KEYS = ("input", "question")
_TARGET_KEYS = ("target", "answer")


def _pick(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in obj:
            return obj[key]
    return None


def load_jsonl_samples(path: str | Path) -> list[EvalSample]:
    """Parse a JSONL file into samples; raise DatasetFormatError listing every bad line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise TaskError(f"jsonl task: file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"jsonl task: cannot read {path}: {exc}") from exc

    samples: list[EvalSample] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {lineno}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"line {lineno}: expected a JSON object, got {type(obj).__name__}")
            continue
        question, target = _pick(obj, _INPUT_KEYS), _pick(obj, _TARGET_KEYS)
        if not isinstance(question, str) or not question.strip():
            problems.append(
                f"line {lineno}: needs a non-empty string field 'input' (or 'question')"
            )
            continue
        if target is None or isinstance(target, (dict, list, bool)):
            problems.append(
                f"line {lineno}: needs a field 'target' (or 'answer') holding a string or number"
            )
            continue
        metadata = obj.get("metadata", {})
        if not isinstance(metadata, dict):
            problems.append(f"line {lineno}: 'metadata' must be an object")
            continue
        sample_id = str(obj.get("id", lineno))
        if sample_id in seen:
            problems.append(
                f"line {lineno}: duplicate id {sample_id!r} (first on line {seen[sample_id]})"
            )
            continue
        seen[sample_id] = lineno
        samples.append(
            EvalSample(id=sample_id, input=question, target=str(target), metadata=metadata)
        )
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise DatasetFormatError(f"{path}: {len(problems)} malformed line(s):\n  {shown}{more}")
    if not samples:
        raise DatasetFormatError(f"{path}: no samples (the file is empty)")
    return samples


def jsonl_task(
    variant: str | None = None,
    path: str | None = None,
    grader: str = "exact",
    **grader_options: Any,
) -> Task:
    """Questions from a JSONL file (input/target/id/metadata), grader by name (exact|numeric|regex|choice)."""
    file = variant or path
    if not file:
        raise TaskError("jsonl task needs a file: `jsonl:PATH` or `-T path=PATH`")
    samples = load_jsonl_samples(file)
    return Task(
        name=f"jsonl:{file}",
        samples=samples,
        grader=get_grader(grader, **grader_options),
        description=f"{len(samples)} questions from {file}",
        params={"path": str(file), "grader": grader, **grader_options},
    )
