"""The roster: which engines play each role of one run, with which prompt pack.

`engines={"draft": [e1, e2], "judge": e3}` maps a role to one engine or a list of
engines; a role not named plays on the run's main engine. Each engine asks with the pack
that suits its model: the user's `pack` for the main engine, otherwise the pack in the
engine's model folder (`prompt_pack.json`), otherwise the default chat pack. The
strategy's default templates (`Strategy.default_prompts`) fill roles a pack lacks, where
the pack takes them (a chat pack does; a pack of raw prompts, written for a model trained
on its own formats, does not).

A role on several engines is played by one `Agent` per engine, in the order given. How a
strategy spreads work over them:

- drafts (`nodes.draft`): the n samples of one draft task are split across the role's
  engines as evenly as possible, earlier engines taking the remainder, one call per
  engine, all at once; so `n=8` on two engines is 4 + 4, and `n=1` uses the first;
- every other call (`RunContext.agent`): round-robin, the role's k-th call goes to engine
  k mod m;
- a strategy that wants one call per engine (a proposer layer) iterates `agents(role)`.

Each engine gets a label (its model name, with `#2`, `#3` ... when several engines serve
the same model), written into every ledger record and candidate it produced.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from thinkfast.engine import Engine

from .agents import Agent
from .errors import StrategyConfigError
from .prompt_pack import PromptPack, PromptPackError, RolePrompt

if TYPE_CHECKING:
    from .strategy import Strategy

__all__ = ["Roster", "EngineChoice", "default_pack", "pack_for"]

EngineChoice = Engine | Sequence[Engine]

_packs: weakref.WeakKeyDictionary[Engine, PromptPack] = weakref.WeakKeyDictionary()


def default_pack() -> PromptPack:
    """The natural-language pack for chat models that bring none of their own. It takes
    default roles, so a role a strategy introduces (`aggregate`, `debate`, ...) is played
    from the template that strategy ships (`Strategy.default_prompts`, the one place it is
    written); the file keeps only roles it words its own way."""
    return PromptPack.from_file(Path(__file__).with_name("default_pack.json"))


def pack_for(engine: Engine) -> PromptPack:
    """The prompt pack in the engine's model folder (`prompt_pack.json`), else the default."""
    try:
        return _packs[engine]
    except (KeyError, TypeError):
        pass
    pack = None
    checkpoint = getattr(engine, "checkpoint", None)
    folder = getattr(checkpoint, "path", None)
    if folder is not None:
        folder = Path(folder)
        candidate = (folder if folder.is_dir() else folder.parent) / "prompt_pack.json"
        if candidate.is_file():
            pack = PromptPack.from_file(candidate)
    pack = pack or default_pack()
    try:
        _packs[engine] = pack
    except TypeError:
        pass
    return pack


def _engine_list(role: str, choice: object) -> tuple[Engine, ...]:
    items = (choice,) if isinstance(choice, Engine) else choice
    if not isinstance(items, Sequence) or isinstance(items, str) or not items:
        raise StrategyConfigError(
            f"engines[{role!r}] must be an Engine or a non-empty list of Engines; "
            f"got {type(choice).__name__}"
        )
    bad = [type(e).__name__ for e in items if not isinstance(e, Engine)]
    if bad:
        raise StrategyConfigError(
            f"engines[{role!r}] holds {', '.join(bad)}; accepted: thinkfast Engine objects"
        )
    return tuple(items)


class Roster:
    """The engines, packs and agents of one run, by role."""

    def __init__(
        self,
        engine: Engine,
        *,
        pack: PromptPack | None = None,
        engines: Mapping[str, EngineChoice] | None = None,
        defaults: Mapping[str, RolePrompt] | None = None,
    ) -> None:
        if not isinstance(engine, Engine):
            raise StrategyConfigError(
                f"engine must be a thinkfast Engine; got {type(engine).__name__}"
            )
        self.main = engine
        self.pack = pack
        self.engines = {role: _engine_list(role, e) for role, e in (engines or {}).items()}
        self.defaults = dict(defaults or {})
        self.labels = self._label_engines()
        self._agents: dict[str, list[Agent]] = {}
        self._turns: dict[str, int] = {}

    @classmethod
    def for_strategy(
        cls,
        strategy: Strategy | None,
        engine: Engine,
        *,
        pack: PromptPack | None = None,
        engines: Mapping[str, EngineChoice] | None = None,
    ) -> Roster:
        """The roster of one run of `strategy` (None: no strategy's roles or templates).
        Its default templates fill roles the packs lack; when it declares its roles
        (`roles()` not None), `engines` may name only those, and each is checked now,
        before any call."""
        if strategy is None:
            return cls(engine, pack=pack, engines=engines)
        roles = strategy.roles()
        if roles is not None:  # checked first: it explains an engines entry best
            unknown = sorted(set(engines or {}) - set(roles))
            if unknown:
                raise StrategyConfigError(
                    f"engines names role(s) {', '.join(unknown)} that strategy "
                    f"{strategy.name!r} does not ask for with these options; it asks for: "
                    f"{', '.join(roles)}"
                )
        roster = cls(engine, pack=pack, engines=engines, defaults=strategy.default_prompts)
        if roles is not None:
            roster.check(roles)
        return roster

    def _label_engines(self) -> dict[int, str]:
        labels: dict[int, str] = {}
        seen: dict[str, int] = {}
        for engine in [self.main, *(e for group in self.engines.values() for e in group)]:
            if id(engine) in labels:
                continue
            name = engine.model_name
            seen[name] = seen.get(name, 0) + 1
            labels[id(engine)] = name if seen[name] == 1 else f"{name}#{seen[name]}"
        return labels

    def label(self, engine: Engine) -> str:
        return self.labels.get(id(engine), engine.model_name)

    def pack_of(self, engine: Engine) -> PromptPack:
        """The pack `engine` asks with, the strategy's default roles filled in."""
        own = self.pack if (self.pack is not None and engine is self.main) else pack_for(engine)
        return own.with_defaults(self.defaults)

    def engines_for(self, role: str) -> tuple[Engine, ...]:
        return self.engines.get(role, (self.main,))

    # -- agents ---------------------------------------------------------------------------
    def agents(self, role: str) -> list[Agent]:
        """One agent per engine of `role`, in the order the engines were given; a pack that
        lacks the role is a PromptPackError naming the role, the pack and its roles."""
        if role not in self._agents:
            agents = []
            for engine in self.engines_for(role):
                pack = self.pack_of(engine)
                self._require(pack, role)
                agents.append(Agent(role=role, engine=engine, pack=pack, label=self.label(engine)))
            self._agents[role] = agents
        return self._agents[role]

    def agent(self, role: str) -> Agent:
        """The agent for the role's next call: round-robin over its engines."""
        agents = self.agents(role)
        turn = self._turns.get(role, 0)
        self._turns[role] = turn + 1
        return agents[turn % len(agents)]

    def reading_warnings(self) -> list[str]:
        """One warning per role and engine whose replies its pack could not read: any
        unreadable verdict or choice (the decision fell back to a default), or drafts none
        of which had a readable answer. A chat model asked with a pack written for
        another model is the usual cause."""
        warnings = []
        for role, agents in self._agents.items():
            for agent in agents:
                for kind, (unread, total) in agent.reads.items():
                    if not unread or (kind == "answer" and unread < total):
                        continue
                    warnings.append(
                        f"{role} replies on {agent.label} had no {kind} that pack "
                        f"{agent.pack.name!r} could read; pass a pack written for this "
                        f"model (--pack / pack=) — {unread} of {total} this query, counted "
                        f"as unknown {kind}s"
                    )
        return warnings

    def check(self, roles: Iterable[str]) -> None:
        """Fail before any call when a role some engine would play is missing from its pack."""
        for role in roles:
            self.agents(role)

    def _require(self, pack: PromptPack, role: str) -> None:
        if pack.has_role(role):
            return
        message = (
            f"prompt pack {pack.name!r} has no role {role!r}; it has: "
            f"{', '.join(sorted(pack.roles))}"
        )
        if role in self.defaults:
            message += (
                ". The strategy's default template for it is not used because this pack's "
                "prompts are raw (written for a model trained on its own formats); add the "
                "role to the pack or pass another pack"
            )
        else:
            message += "; add the role to the pack (or run a strategy that ships a default)"
        having = packs_with_role(role, shipped=role in self.defaults)
        message += (
            f". Packs that have {role!r}: {', '.join(having)}"
            if having
            else f". No known pack has {role!r} yet"
        )
        raise PromptPackError(message)


def packs_with_role(role: str, *, shipped: bool = False) -> list[str]:
    """Names of the known packs (the default chat pack, the shipped models' packs) that
    have `role`, or, when the strategy ships a template for it (`shipped`), take default
    roles: where to turn when a pack lacks it.

    Only a hint in the message of a missing-role error: a pack that cannot be read now
    (a file being rewritten) is left out, never raised, or it would replace the caller's
    error (a server's 400)."""
    import thinkfast.engine

    models = Path(thinkfast.engine.__file__).parent / "models"
    loaders = [default_pack] + [
        functools.partial(PromptPack.from_file, path)
        for path in sorted(models.glob("*/prompt_pack.json"))
    ]
    found = []
    for load in loaders:
        try:
            found.append(load())
        except Exception:  # noqa: BLE001 - see the docstring
            continue
    return [
        f"{p.name} ({'default for chat models' if p.name == 'default-chat' else 'model pack'})"
        for p in found
        if p.has_role(role) or (shipped and p.takes_default_roles)
    ]
