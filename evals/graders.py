"""Graders: decide whether an answer to one eval sample is right.

A grader sees the answer a strategy extracted (`answer`, may be None when the prompt pack's
pattern found nothing), the full final text, and the sample (target and metadata). Each
grader falls back to reading the answer out of the text itself when `answer` is None, so a
model that ignores the pack's answer format is still graded on what it said.

Built in, chosen by name (`get_grader("numeric", rel_tol=1e-6)`):

    exact     normalised string equality (whitespace collapsed; case-insensitive by default)
    numeric   numbers equal within an absolute or relative tolerance
    regex     the target is a regular expression the answer must match in full
    choice    multiple choice: letters (A, B, ...) or the choice's text, as in metadata["choices"]
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from .errors import GraderError

__all__ = [
    "Grade",
    "Grader",
    "ExactGrader",
    "NumericGrader",
    "RegexGrader",
    "ChoiceGrader",
    "GRADERS",
    "get_grader",
    "parse_number",
]


class Grade(BaseModel):
    """The verdict on one answer: `correct`, a score in [0, 1] and the answer as graded."""

    correct: bool
    score: float = Field(ge=0.0, le=1.0)
    answer: str | None = None
    explanation: str | None = None


class Grader:
    """Base class: `grade(answer, text, target, metadata) -> Grade`."""

    name: str = "grader"

    def grade(
        self, answer: str | None, text: str, target: str, metadata: Mapping[str, Any] | None = None
    ) -> Grade:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name

    @staticmethod
    def _verdict(ok: bool, answer: str | None, why: str | None = None) -> Grade:
        return Grade(correct=ok, score=1.0 if ok else 0.0, answer=answer, explanation=why)


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


class ExactGrader(Grader):
    """Equal after collapsing whitespace (and case unless `case_sensitive`)."""

    name = "exact"

    def __init__(self, case_sensitive: bool = False) -> None:
        self.case_sensitive = bool(case_sensitive)

    def _norm(self, s: str) -> str:
        s = _collapse(s).strip().rstrip(".")
        return s if self.case_sensitive else s.lower()

    def grade(self, answer, text, target, metadata=None) -> Grade:
        # Without an extracted answer the best guess at "the answer" is the last line.
        got = answer if answer is not None else _last_line(text)
        return self._verdict(self._norm(got) == self._norm(target), got)

    def describe(self) -> str:
        return "exact" + (" (case-sensitive)" if self.case_sensitive else "")


_NUMBER = re.compile(r"[-+]?(?:\d[\d,]*)?\.?\d+(?:[eE][-+]?\d+)?")


def parse_number(text: str | None) -> float | None:
    """The number a string states ("1,234", "$5", "-3.50", "7/2"), or None."""
    if text is None:
        return None
    s = text.strip().replace(",", "").replace("$", "").rstrip(".").strip()
    if not s:
        return None
    fraction = re.fullmatch(r"([-+]?\d+)\s*/\s*(\d+)", s)
    if fraction and int(fraction.group(2)) != 0:
        return int(fraction.group(1)) / int(fraction.group(2))
    try:
        value = float(s)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class NumericGrader(Grader):
    """|answer - target| <= max(abs_tol, rel_tol * |target|)."""

    name = "numeric"

    def __init__(self, abs_tol: float = 1e-9, rel_tol: float = 0.0) -> None:
        if abs_tol < 0 or rel_tol < 0:
            raise GraderError(
                f"numeric tolerances must be >= 0 (got abs_tol={abs_tol}, rel_tol={rel_tol})"
            )
        self.abs_tol = float(abs_tol)
        self.rel_tol = float(rel_tol)

    def grade(self, answer, text, target, metadata=None) -> Grade:
        want = parse_number(target)
        if want is None:
            raise GraderError(f"numeric grader: target {target!r} is not a number")
        got = parse_number(answer)
        shown = answer
        if got is None:
            # Fall back to the last number the text states: models often end "... = 42".
            numbers = _NUMBER.findall(text or "")
            shown = numbers[-1] if numbers else None
            got = parse_number(shown)
        if got is None:
            return self._verdict(False, answer, "no number in the answer")
        ok = abs(got - want) <= max(self.abs_tol, self.rel_tol * abs(want))
        return self._verdict(ok, shown)

    def describe(self) -> str:
        return f"numeric (abs_tol={self.abs_tol:g}, rel_tol={self.rel_tol:g})"


class RegexGrader(Grader):
    """The target is a regular expression; correct when it matches the whole answer."""

    name = "regex"

    def __init__(self, ignore_case: bool = True) -> None:
        self.flags = re.IGNORECASE if ignore_case else 0

    def grade(self, answer, text, target, metadata=None) -> Grade:
        try:
            pattern = re.compile(target, self.flags)
        except re.error as exc:
            raise GraderError(
                f"regex grader: target {target!r} is not a valid regex: {exc}"
            ) from exc
        if answer is not None:
            return self._verdict(pattern.fullmatch(answer.strip()) is not None, answer)
        # No extracted answer: accept a match of the last line of the text.
        got = _last_line(text).strip()
        return self._verdict(pattern.fullmatch(got) is not None, got)


_LETTER = re.compile(r"(?<![A-Za-z])\(?([A-Za-z])\)?(?![A-Za-z])")


class ChoiceGrader(Grader):
    """Multiple choice. The target is a letter ("B") or one of `metadata["choices"]`.

    An answer counts when its letter (first standalone letter of the extracted answer, last
    one in free text, e.g. "the answer is (C)") or its text equals the target's.
    """

    name = "choice"

    def grade(self, answer, text, target, metadata=None) -> Grade:
        choices = list((metadata or {}).get("choices") or [])
        want = self._letter(target, choices)
        if want is None:
            raise GraderError(
                f"choice grader: target {target!r} is neither a letter nor one of the choices "
                f"{choices!r}"
            )
        if answer is not None:
            got = self._letter(answer, choices)
            if got is None:
                letters = _LETTER.findall(answer)
                got = letters[0].upper() if letters else None
        else:
            letters = _LETTER.findall(_last_line(text))
            got = letters[-1].upper() if letters else None
        return self._verdict(got == want, got)

    @staticmethod
    def _letter(s: str, choices: list[str]) -> str | None:
        s = s.strip().strip("().").strip()
        for index, choice in enumerate(choices):
            if _collapse(s).lower() == _collapse(str(choice)).lower():
                return chr(ord("A") + index)
        if len(s) == 1 and s.isalpha():
            return s.upper()
        return None


GRADERS: dict[str, Callable[..., Grader]] = {
    "exact": ExactGrader,
    "numeric": NumericGrader,
    "regex": RegexGrader,
    "choice": ChoiceGrader,
}


def get_grader(name: str, **options: Any) -> Grader:
    """A grader by name; options go to its constructor (e.g. `rel_tol=1e-3`)."""
    try:
        factory = GRADERS[name]
    except KeyError:
        raise GraderError(
            f"unknown grader {name!r}; graders are {', '.join(sorted(GRADERS))}"
        ) from None
    try:
        return factory(**options)
    except TypeError as exc:
        raise GraderError(
            f"grader {name!r} does not accept options {sorted(options)}: {exc}"
        ) from exc
