"""The four agents: a role of a `PromptPack`, bound to an `Engine`, with its own sampling.

An agent only builds requests and reads answers; running them (budget gate, ledger,
events, failure handling) is the job of `RunContext.call`. The drafter samples hot, the
critic, judge and refiner are greedy by default. Different agents may hold different
engines (a small drafter and a larger judge), each with the pack that suits its model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from thinkfast.engine import Engine, GenerationRequest, Sample

from .prompt_pack import PromptPack

__all__ = ["Agent", "Drafter", "Critic", "Judge", "Refiner", "Sampling"]


@dataclass(frozen=True)
class Sampling:
    """Sampling settings an agent puts on every request it builds."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    max_tokens: int | None = None  # None: the pack's allowance for the role


@dataclass
class Agent:
    engine: Engine
    pack: PromptPack
    sampling: Sampling = field(default_factory=Sampling)
    role: str = "agent"  # the ledger's role name

    def request(
        self, prompt_role: str, *, n: int = 1, seed: int | None = None, **fields: str
    ) -> GenerationRequest:
        request = self.pack.render(prompt_role, **fields)
        update: dict[str, object] = {
            "n": n,
            "temperature": self.sampling.temperature,
            "top_p": self.sampling.top_p,
            "top_k": self.sampling.top_k,
            "seed": seed,
            "metadata": {"role": self.role, "prompt_role": prompt_role},
        }
        if self.sampling.max_tokens is not None:
            update["max_tokens"] = self.sampling.max_tokens
        return request.model_copy(update=update)


@dataclass
class Drafter(Agent):
    sampling: Sampling = field(default_factory=lambda: Sampling(temperature=0.7))
    role: str = "draft"

    def ask(self, question: str, *, n: int, prompt_role: str = "draft", seed: int | None = None):
        return self.request(prompt_role, n=n, seed=seed, question=question)

    def read(self, sample: Sample) -> str | None:
        return self.pack.extract_answer(sample.text)


@dataclass
class Critic(Agent):
    role: str = "critique"

    def ask(self, question: str, candidate: str, answer: str | None) -> GenerationRequest:
        return self.request("critique", question=question, candidate=candidate, answer=answer or "")

    def read(self, sample: Sample) -> bool | None:
        return self.pack.parse_verdict(sample.text)


@dataclass
class Judge(Agent):
    role: str = "judge"

    def ask(
        self, question: str, a: str, b: str, answer_a: str | None, answer_b: str | None
    ) -> GenerationRequest:
        return self.request(
            "judge",
            question=question,
            candidate_a=a,
            candidate_b=b,
            answer_a=answer_a or "",
            answer_b=answer_b or "",
        )

    def read(self, sample: Sample) -> int | None:
        return self.pack.parse_choice(sample.text)


@dataclass
class Refiner(Agent):
    role: str = "refine"

    def ask(
        self, question: str, candidate: str, answer: str | None, critique: str
    ) -> GenerationRequest:
        return self.request(
            "refine",
            question=question,
            candidate=candidate,
            answer=answer or "",
            critique=critique,
        )

    def read(self, sample: Sample) -> str | None:
        return self.pack.extract_answer(sample.text)
