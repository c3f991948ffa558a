"""The one exception hierarchy of thinkfast.

Every error a user can cause derives from `ThinkfastError`, so `except ThinkfastError`
catches them all. Messages say what was wrong and what is accepted. Upper layers add
their own subclasses in their own modules, always rooted here.
"""

from __future__ import annotations

__all__ = [
    "ThinkfastError",
    "ModelLoadError",
    "UnsupportedArchitectureError",
    "ContextLengthError",
    "InvalidRequestError",
    "EngineError",
    "RemoteEngineError",
    "HardwareError",
]


class ThinkfastError(Exception):
    """Root of every error thinkfast raises on purpose."""


class ModelLoadError(ThinkfastError):
    """A model folder or file is missing, unreadable or corrupt."""


class UnsupportedArchitectureError(ModelLoadError):
    """The checkpoint's architecture (or a config option) is not one we can run."""


class InvalidRequestError(ThinkfastError, ValueError):
    """A generation request has invalid fields (sampling settings, n, max_tokens ...)."""


class ContextLengthError(InvalidRequestError):
    """Prompt plus max_tokens does not fit the model's context window."""


class EngineError(ThinkfastError):
    """An engine failed while serving a well-formed request."""


class RemoteEngineError(EngineError):
    """A remote OpenAI-compatible server answered with an error (or not at all)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class HardwareError(ThinkfastError, ValueError):
    """Unknown hardware profile or model spec, or a spec that cannot be projected."""
