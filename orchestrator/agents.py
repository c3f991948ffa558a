"""Agents: one role of a `PromptPack`, bound to one `Engine`, with its own sampling.

An agent only builds requests and reads answers (counting the replies its pack could not
read, so a query can warn that a role's replies were unreadable); running them (budget gate, ledger,
events, failure handling) is the job of `RunContext.call`. Which agents play a role is
the run's `Roster`: a role may be played on several engines (proposers on different
models), each agent with the pack that suits its engine's model. The agent's `role` is
both the pack role it asks with and the role its calls are recorded under in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from thinkfast.engine import Engine, GenerationRequest, Sample

from .prompt_pack import PromptPack

__all__ = ["Agent", "Sampling"]

T = TypeVar("T")


@dataclass(frozen=True)
class Sampling:
    """Sampling settings an agent puts on every request it builds."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    max_tokens: int | None = None  # None: the pack's allowance for the role


@dataclass
class Agent:
    """`role` asked of `engine` with `pack`; `label` names the engine in the ledger."""

    role: str
    engine: Engine
    pack: PromptPack
    label: str = ""
    sampling: Sampling = field(default_factory=Sampling)
    # what was read -> [replies the pack could not read, replies read]; per query, as
    # agents are (the run's Roster makes them)
    reads: dict[str, list[int]] = field(default_factory=dict)

    def ask(self, *, n: int = 1, seed: int | None = None, **fields: str) -> GenerationRequest:
        """The role's prompt over `fields` with this agent's sampling; greedy unless the
        agent's sampling (or the caller, on the returned request) says otherwise."""
        request = self.pack.render(self.role, **fields)
        update: dict[str, object] = {
            "n": n,
            "temperature": self.sampling.temperature,
            "top_p": self.sampling.top_p,
            "top_k": self.sampling.top_k,
            "seed": seed,
            "metadata": {"role": self.role, "engine": self.label},
        }
        if self.sampling.max_tokens is not None:
            update["max_tokens"] = self.sampling.max_tokens
        return request.model_copy(update=update)

    # -- reading, with the pack of the model that wrote the text --------------------------
    def read_answer(self, sample: Sample) -> str | None:
        return self._count("answer", self.pack.extract_answer(sample.text))

    def read_verdict(self, sample: Sample) -> bool | None:
        return self._count("verdict", self.pack.parse_verdict(sample.text))

    def read_choice(self, sample: Sample) -> int | None:
        return self._count("choice", self.pack.parse_choice(sample.text))

    def _count(self, kind: str, value: T) -> T:
        tally = self.reads.setdefault(kind, [0, 0])
        tally[0] += value is None
        tally[1] += 1
        return value
