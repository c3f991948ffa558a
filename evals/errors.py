"""The eval harness's errors, rooted in `ThinkfastError` like every error thinkfast raises."""

from __future__ import annotations

from thinkfast.engine.errors import ThinkfastError

__all__ = ["EvalError", "TaskError", "GraderError", "DatasetFormatError", "SweepError", "LogError"]


class EvalError(ThinkfastError):
    """Root of the eval harness's errors."""


class TaskError(EvalError, ValueError):
    """Unknown task, or a task given options it does not accept."""


class GraderError(EvalError, ValueError):
    """Unknown grader, or a grader given options it does not accept."""


class DatasetFormatError(TaskError):
    """A data file (JSONL) has a malformed line; the message names the file and line number."""


class SweepError(EvalError, ValueError):
    """A sweep specification (strategies, -S options) cannot be expanded into configurations."""


class LogError(EvalError):
    """A log directory is missing, unreadable, or belongs to a different configuration."""
