"""The eval log: one append-only JSONL file per run, `DIR/log.jsonl`.

The first line is the header: the run specification (task and its options, sample ids,
the grid of configurations, model, epochs, seed), the git revision, package versions and
the command line. Every further line is one record: one sample run once under one
configuration, with its answer, grade, usage by role, latencies, or its error.

Records are flushed as they are written, so an interrupted run leaves a valid log except
possibly a torn last line, which `read_log` drops and `LogWriter` cuts off before appending.
A sample may appear more than once (a retried error); the latest successful record wins.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from .errors import LogError

__all__ = [
    "LOG_NAME",
    "LOG_VERSION",
    "RunSpec",
    "Record",
    "Header",
    "LogWriter",
    "read_log",
    "latest_records",
    "environment",
    "now_iso",
]

LOG_NAME = "log.jsonl"
LOG_VERSION = 1
_PACKAGES = ("thinkfast", "numpy", "langgraph", "pydantic", "tokenizers", "reasoning-gym")


class RunSpec(BaseModel):
    """Everything that decides a run's results; `--resume` requires it to match exactly."""

    task: str
    task_options: dict[str, Any] = Field(default_factory=dict)
    sample_ids: list[str]
    configs: list[dict[str, Any]]  # Config.model_dump() of each grid point
    model: str
    epochs: int = 1
    seed: int = 0
    engine_options: dict[str, Any] = Field(default_factory=dict)

    def differences(self, other: RunSpec) -> list[str]:
        """Human-readable fields that differ between two specs."""
        out = []
        mine, theirs = self.model_dump(), other.model_dump()
        for key in mine:
            if mine[key] != theirs[key]:
                if key == "sample_ids":
                    out.append(
                        f"sample_ids ({len(theirs[key])} in the log vs {len(mine[key])} now)"
                    )
                else:
                    out.append(f"{key} (log: {theirs[key]!r}, now: {mine[key]!r})")
        return out


class Header(BaseModel):
    type: str = "header"
    version: int = LOG_VERSION
    spec: RunSpec
    created: str
    git_revision: str | None = None
    packages: dict[str, str] = Field(default_factory=dict)
    python: str = ""
    argv: list[str] = Field(default_factory=list)


class Record(BaseModel):
    """One sample run once under one configuration."""

    type: str = "sample"
    config: str  # Config.id
    sample_id: str
    epoch: int
    seed: int
    target: str
    answer: str | None = None
    text: str = ""
    correct: bool | None = None
    score: float | None = None
    graded_answer: str | None = None
    candidates: list[dict[str, Any]] = Field(default_factory=list)  # {answer, correct}
    usage: dict[str, dict[str, int]] = Field(default_factory=dict)  # role -> token counts
    tokens: int = 0  # prompt + completion, all roles
    latency: dict[str, Any] = Field(
        default_factory=dict
    )  # wall_s, sum_s, critical_path_s, emulated
    stopped_for_budget: bool = False
    flips: int = 0  # self-refine rounds that changed the final answer
    tie: bool = False  # the final choice was a tie, settled by the drawn-first rule
    warnings: list[str] = Field(default_factory=list)  # the Answer's (e.g. unreadable judge)
    metadata: dict[str, Any] = Field(default_factory=dict)
    error: dict[str, str] | None = None  # {type, message}

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.config, self.sample_id, self.epoch)


def _git_revision() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if out.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def environment() -> dict[str, Any]:
    """Git revision, package versions and Python version, for the log header."""
    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "git_revision": _git_revision(),
        "packages": packages,
        "python": platform.python_version(),
    }


def _parse_lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, bool]]:
    """(line number, object or None if torn/invalid, is_last) for every non-blank line."""
    lines = path.read_text(encoding="utf-8").split("\n")
    # A file ending in "\n" gives a trailing empty string; a torn last line does not.
    numbered = [(i + 1, line) for i, line in enumerate(lines) if line.strip()]
    for pos, (lineno, line) in enumerate(numbered):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            obj = None
        yield lineno, obj, pos == len(numbered) - 1


def read_log(directory: str | Path) -> tuple[Header, list[Record]]:
    """The header and records of a run. A torn last line (interrupted write) is dropped;
    a malformed line anywhere else is an error naming its line number."""
    path = Path(directory) / LOG_NAME
    if not path.is_file():
        raise LogError(
            f"no eval log at {path} (expected a directory written by `thinkfast eval run`)"
        )
    header: Header | None = None
    records: list[Record] = []
    for lineno, obj, last in _parse_lines(path):
        if obj is None:
            if last:
                break
            raise LogError(f"{path}: line {lineno} is not valid JSON")
        try:
            if header is None:
                if obj.get("type") != "header":
                    raise LogError(f"{path}: line {lineno} should be the run header")
                if obj.get("version") != LOG_VERSION:
                    raise LogError(
                        f"{path}: log version {obj.get('version')} is not supported (want {LOG_VERSION})"
                    )
                header = Header.model_validate(obj)
            else:
                records.append(Record.model_validate(obj))
        except LogError:
            raise
        except Exception as exc:
            if last:
                break
            raise LogError(f"{path}: line {lineno} is not a valid record: {exc}") from exc
    if header is None:
        raise LogError(f"{path} has no header line")
    return header, records


def latest_records(records: list[Record]) -> dict[tuple[str, str, int], Record]:
    """One record per (config, sample, epoch): the last successful one, else the last error."""
    out: dict[tuple[str, str, int], Record] = {}
    for rec in records:
        prev = out.get(rec.key)
        if prev is None or rec.error is None or prev.error is not None:
            out[rec.key] = rec
    return out


class LogWriter:
    """Appends records to `DIR/log.jsonl`, creating it with a header or continuing one."""

    def __init__(self, directory: str | Path, header: Header | None = None) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOG_NAME
        if header is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size > 0:
                raise LogError(
                    f"{self.path} already exists; use --resume {self.directory} to continue "
                    "that run, or choose another --log-dir"
                )
            with self.path.open("w", encoding="utf-8") as fh:
                fh.write(header.model_dump_json() + "\n")
        else:
            self._cut_torn_tail()
        self._fh = self.path.open("a", encoding="utf-8")

    def _cut_torn_tail(self) -> None:
        """Drop an incomplete last line so the next record starts on a line of its own."""
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            with self.path.open("r+b") as fh:
                fh.truncate(cut)

    def write(self, record: Record) -> None:
        self._fh.write(record.model_dump_json() + "\n")
        self._fh.flush()
        if _FSYNC:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# fsync per record is cheap next to a model call, but tests write thousands of records.
_FSYNC = os.environ.get("THINKFAST_EVAL_FSYNC", "0") == "1"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
