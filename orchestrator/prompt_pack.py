"""PromptPack: how to ask one model for each agent role, and how to read its answers.

A pack is a JSON file (`prompt_pack.json` in a model folder, or the built-in default for
chat models) whose `roles` object maps role names to `RolePrompt`s. Roles are data: any
name is a role, a strategy that introduces one ships a default template for it
(`Strategy.default_prompts`), and asking a pack for a role it lacks is a `PromptPackError`
naming the role, the pack and the roles it has. Each template is a `str.format` template
over the fields its role is given; the built-in roles use:

    question      the user's question
    candidate     a candidate's full text (scratchpad included)
    answer        a candidate's extracted final answer
    critique      a critic's text about the candidate
    candidate_a   first candidate's full text (judge)
    candidate_b   second candidate's full text (judge)
    answer_a / answer_b   their extracted answers (judge)

A role is rendered as chat messages (optional system message + user message, the model's
chat template applies) unless `raw` is true, in which case the template IS the prompt.
Answers, verdicts and choices are read with the pack's regular expressions. A role may
declare an output `constraint` (engine.constraint: regex, Lark grammar, JSON schema ...) so
that its answer always has a readable shape, e.g. the default chat pack's critic may reason
freely for a few lines but must end with `Verdict: correct|wrong` (docs/engine.md).

A pack written for a model trained on one kind of question may say what that kind looks
like (`question_format`): characters to drop first (spaces, say), the pattern a question
must then match, and the hint to give when it does not, so a question the model cannot
read is answered with a warning rather than silently wrong.

The older flat shape (roles as top-level keys beside the patterns) still loads: every
top-level object that is not a pack setting is taken as a role.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from thinkfast.engine import ChatMessage, GenerationRequest, ThinkfastError
from thinkfast.engine.constraint import OutputConstraint

__all__ = ["PromptPack", "RolePrompt", "PromptPackError", "QuestionFormat", "ROLES"]

# The roles the built-in strategies ask for; a pack may have any others.
ROLES: tuple[str, ...] = ("draft", "draft_direct", "critique", "judge", "refine")
_ROLE_NAME = re.compile(r"[a-z][a-z0-9_]*")


class PromptPackError(ThinkfastError):
    """A prompt pack is missing, malformed, lacks a role, or a template needs a field not given."""


class RolePrompt(BaseModel):
    """How to ask for one role: a template, stop strings and a token allowance."""

    model_config = ConfigDict(extra="forbid")

    template: str
    system: str | None = None
    raw: bool = False
    stop: list[str] = Field(default_factory=list)
    max_tokens: int = Field(256, ge=1)
    constraint: OutputConstraint | None = None


class QuestionFormat(BaseModel):
    """The questions a pack's model was trained on: `remove` (a regular expression) is
    deleted from a question first, then the question must match `pattern` in full;
    `hint` says what the model reads, for a question that does not."""

    model_config = ConfigDict(extra="forbid")

    pattern: str
    remove: str | None = None
    hint: str

    @field_validator("pattern", "remove")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {v!r}: {exc}") from exc
        return v


# each pattern setting and the named groups it must have
_GROUPS: dict[str, tuple[str, ...]] = {
    "answer_pattern": ("answer",),
    "fallback_pattern": ("answer",),
    "verdict_pattern": ("verdict",),
    "choice_pattern": ("choice",),
    "verdict_check_pattern": ("got", "claimed"),
    "choice_check_pattern": ("got", "a", "b"),
}


def _compile(pattern: str, group: str) -> str:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
    if group not in compiled.groupindex:
        raise ValueError(f"pattern {pattern!r} needs a named group (?P<{group}>...)")
    return pattern


class PromptPack(BaseModel):
    """Prompts for every role plus the patterns that read answers out of the model's text.

    - `answer_pattern`: the LAST match's group `answer` is a draft's final answer;
      `fallback_pattern` (optional) is tried when it finds nothing.
    - `verdict_pattern`: group `verdict` of the first match; the critic approves when it
      matches `approve_pattern` (case-insensitive), rejects otherwise.
    - `choice_pattern`: group `choice` of the first match, compared with `labels`
      (e.g. ("A", "B")) to tell which candidate the judge prefers.
    - `verdict_check_pattern` / `choice_check_pattern` (optional): read the decision from
      the check the model wrote instead of the word it wrote after it. The first has groups
      `got` (the answer the critic worked out) and `claimed` (the candidate's): approve when
      they are equal. The second has `got`, `a` and `b`: prefer the candidate whose answer
      equals `got`. Where the check is missing or decides nothing (both or neither equal),
      the plain patterns are used. For small models that compute and copy reliably but
      compare numbers poorly (the shipped arith-tiny: see its model card).
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    roles: dict[str, RolePrompt]
    accepts_default_roles: bool | None = Field(
        None,
        description="whether strategies' default templates may fill roles the pack lacks; "
        "None: yes for a chat pack, no for a pack of raw prompts (a model trained on its "
        "own formats has never seen the defaults' wording)",
    )
    answer_pattern: str
    fallback_pattern: str | None = None
    verdict_pattern: str
    approve_pattern: str
    choice_pattern: str
    verdict_check_pattern: str | None = None
    choice_check_pattern: str | None = None
    labels: tuple[str, str] = ("A", "B")
    normalize_answer: Literal["none", "number", "lower"] = "number"
    step_delimiter: str | None = Field(
        None,
        description="what separates the steps of a draft's work (step-level search: beam, "
        "particle); None: the pack's drafts are not split into steps",
    )
    thinking_end: str | None = Field(
        None,
        description="where a draft's thinking segment ends (budget forcing: think_longer "
        "stops a draft there); None: the pack has no thinking segment",
    )
    question_format: QuestionFormat | None = Field(
        None,
        description="the questions the model was trained on (see QuestionFormat); None: "
        "any question is asked as given",
    )

    @model_validator(mode="before")
    @classmethod
    def _flat_shape(cls, data: Any) -> Any:
        """The older shape: roles as top-level keys beside the pack's settings."""
        if not isinstance(data, dict) or "roles" in data:
            return data
        settings = {k: v for k, v in data.items() if k in cls.model_fields}
        roles = {
            k: v
            for k, v in data.items()
            if k not in cls.model_fields and isinstance(v, dict | RolePrompt)
        }
        rest = {k: v for k, v in data.items() if k not in settings and k not in roles}
        return {**settings, "roles": roles, **rest}  # rest: unknown settings, refused below

    @field_validator("roles")
    @classmethod
    def _role_names(cls, v: dict[str, RolePrompt]) -> dict[str, RolePrompt]:
        bad = [name for name in v if not _ROLE_NAME.fullmatch(name)]
        if bad:
            raise ValueError(
                f"role names must be lower_snake_case identifiers; got {', '.join(map(repr, bad))}"
            )
        if not v:
            raise ValueError("a pack needs at least one role")
        return v

    @field_validator(*_GROUPS)
    @classmethod
    def _pattern(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None:
            for group in _GROUPS[info.field_name]:
                _compile(v, group)
        return v

    # -- loading --------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path) -> PromptPack:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise PromptPackError(f"prompt pack not found: {path}") from exc
        except json.JSONDecodeError as exc:
            raise PromptPackError(f"prompt pack {path} is not valid JSON: {exc}") from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise PromptPackError(f"prompt pack {path} is invalid:\n{exc}") from exc

    # -- roles ------------------------------------------------------------------------
    def has_role(self, role: str) -> bool:
        return role in self.roles

    def role(self, role: str) -> RolePrompt:
        """The prompt of `role`; a role the pack lacks is a PromptPackError saying which
        roles it has."""
        try:
            return self.roles[role]
        except KeyError:
            raise PromptPackError(
                f"prompt pack {self.name!r} has no role {role!r}; it has: "
                f"{', '.join(sorted(self.roles))}"
            ) from None

    @property
    def takes_default_roles(self) -> bool:
        if self.accepts_default_roles is not None:
            return self.accepts_default_roles
        return not any(prompt.raw for prompt in self.roles.values())

    def with_defaults(self, defaults: Mapping[str, RolePrompt]) -> PromptPack:
        """This pack with `defaults` filling the roles it lacks (its own prompts win), or
        unchanged when it does not take default roles."""
        missing = {k: v for k, v in defaults.items() if k not in self.roles}
        if not missing or not self.takes_default_roles:
            return self
        return self.with_roles(missing)

    def with_roles(self, roles: Mapping[str, RolePrompt]) -> PromptPack:
        """A copy with `roles` added or replaced (e.g. shorter allowances for a test)."""
        return self.model_copy(update={"roles": {**self.roles, **roles}})

    # -- asking -----------------------------------------------------------------------
    def render(self, role: str, **fields: str) -> GenerationRequest:
        """A request (prompt or messages, stop, max_tokens) for `role`; sampling is the caller's."""
        spec = self.role(role)
        try:
            text = spec.template.format(**fields)
        except KeyError as exc:
            raise PromptPackError(
                f"role {role!r} of pack {self.name!r} needs field {exc.args[0]!r}; "
                f"given: {', '.join(sorted(fields)) or 'none'}"
            ) from exc
        common = {
            "stop": list(spec.stop),
            "max_tokens": spec.max_tokens,
            "constraint": spec.constraint,
        }
        if spec.raw:
            return GenerationRequest(prompt=text, **common)
        messages = [ChatMessage(role="system", content=spec.system)] if spec.system else []
        messages.append(ChatMessage(role="user", content=text))
        return GenerationRequest(messages=messages, **common)

    def prepare_question(self, question: str) -> tuple[str, str | None]:
        """The question as the model reads it, and a warning when it is not of the kind
        the pack's `question_format` describes (then it is asked as given)."""
        form = self.question_format
        if form is None:
            return question, None
        normalised = re.sub(form.remove, "", question) if form.remove else question
        if re.fullmatch(form.pattern, normalised):
            return normalised, None
        return question, f"{form.hint} — got {question.strip()!r}, asked as given"

    # -- reading ----------------------------------------------------------------------
    def extract_answer(self, text: str) -> str | None:
        """The final answer in a draft's text (last match), normalised; None if absent.

        When `answer_pattern` finds nothing, the last match of `fallback_pattern` (if the
        pack has one) is taken: small chat models often forget the "Answer:" line.
        """
        matches = list(re.finditer(self.answer_pattern, text))
        if not matches and self.fallback_pattern is not None:
            matches = list(re.finditer(self.fallback_pattern, text))
        if not matches:
            return None
        return self._normalize(matches[-1].group("answer"))

    def parse_verdict(self, text: str) -> bool | None:
        """True when the critic approves, False when it rejects, None when unreadable."""
        if self.verdict_check_pattern is not None:
            check = re.search(self.verdict_check_pattern, text)
            if check is not None:
                return self._normalize(check.group("got")) == self._normalize(
                    check.group("claimed")
                )
        match = re.search(self.verdict_pattern, text)
        if match is None:
            return None
        return re.fullmatch(self.approve_pattern, match.group("verdict").strip(), re.I) is not None

    def parse_choice(self, text: str) -> int | None:
        """0 when the judge prefers the first candidate, 1 the second, None if unreadable."""
        if self.choice_check_pattern is not None:
            check = re.search(self.choice_check_pattern, text)
            if check is not None:
                got = self._normalize(check.group("got"))
                hits = [self._normalize(check.group(k)) == got for k in ("a", "b")]
                if hits.count(True) == 1:
                    return hits.index(True)
        match = re.search(self.choice_pattern, text)
        if match is None:
            return None
        label = match.group("choice").strip().lower()
        for index, want in enumerate(self.labels):
            if label == want.lower():
                return index
        return None

    def _normalize(self, answer: str) -> str:
        answer = answer.strip()
        if self.normalize_answer == "lower":
            return answer.lower()
        if self.normalize_answer == "number":
            number = answer.replace(",", "").replace("$", "").rstrip(".")
            try:
                value = float(number)
            except ValueError:
                return answer
            return str(int(value)) if value.is_integer() else repr(value)
        return answer
