"""The scaffolded side of the routes: a request that selects a strategy is answered by it.

`ScaffoldRoutes` belongs to one server: it knows the server's default strategy and
reasoning_effort presets (both checked when the server is built), turns a validated body
into a `ScaffoldSpec` (scaffold_spec.py), applies the server's caps (n, option values, a
token budget per scaffold), runs the `Scaffold` and answers plain or streamed. The
plain-model path stays in server.py.
"""

from __future__ import annotations

from typing import Any

from thinkfast.engine.errors import InvalidRequestError

from .api import ApiError, ChatCompletionBody, CompletionBody
from .scaffold import SamplingSettings, Scaffold, question_from_messages, scaffold_error
from .scaffold_response import (
    scaffold_response,
    thinkfast_object,
)
from .scaffold_spec import (
    ScaffoldSpec,
    parse_spec,
    parse_strategy_text,
    resolve_strategy,
    strategy_catalog,
)
from .scaffold_stream import scaffold_events

__all__ = ["ScaffoldRoutes"]


class ScaffoldRoutes:
    def __init__(self, server: Any, *, default: str | None, effort: dict[str, str | None]) -> None:
        self.server = server
        self.default = default
        self.effort = effort
        for where, text in [
            ("--strategy", default),
            *((f"--effort {k}", v) for k, v in effort.items()),
        ]:
            if not text:
                continue
            try:
                resolve_strategy(*parse_strategy_text(text, where), where)
            except ApiError as exc:
                raise InvalidRequestError(f"{where} {text!r}: {exc.message}") from None
        self._catalog: dict[str, Any] | None = None

    # -- /v1/models ----------------------------------------------------------------------
    def catalog(self) -> dict[str, Any]:
        if self._catalog is None:
            self._catalog = strategy_catalog()
        return self._catalog

    def model_entries(self, entry: dict[str, Any]) -> list[dict[str, Any]]:
        """The plain model gets the strategy catalog; each strategy is listed as
        `STRATEGY/MODEL` too, so model pickers offer it."""
        catalog = self.catalog()
        entry["thinkfast"] = {
            "strategies": catalog,
            "default_strategy": self.default,
            "reasoning_effort": self.effort,
            "model_name_syntax": "STRATEGY[:opt=val,...]/MODEL",
        }
        return [
            {**entry, "id": f"{name}/{entry['id']}", "thinkfast": {"strategy": name, **info}}
            for name, info in catalog.items()
        ]

    def model_entry(self, entry: dict[str, Any], spec: str) -> dict[str, Any]:
        name, options = parse_strategy_text(spec, "model")
        strategy = resolve_strategy(name, options, "model")
        info = self.catalog().get(name, {})
        return {
            **entry,
            "id": f"{spec}/{entry['id']}",
            "thinkfast": {"strategy": name, "configured": strategy.options_json(), **info},
        }

    # -- requests ------------------------------------------------------------------------
    def spec_for(self, body: Any, model_strategy: str | None) -> ScaffoldSpec | None:
        limits = self.server.limits
        spec = parse_spec(
            body,
            model_strategy=model_strategy,
            effort_presets=self.effort,
            default=self.default,
            option_caps=limits.option_caps,
        )
        if spec is None:
            return None
        asked = spec.budget.get("max_tokens")
        if asked is not None and asked > limits.max_scaffold_tokens:
            raise ApiError(
                400,
                f"thinkfast.budget.max_tokens={asked} exceeds this server's limit of "
                f"{limits.max_scaffold_tokens} tokens per scaffold",
                param="thinkfast.budget.max_tokens",
                code="budget_limit",
            )
        spec.budget.setdefault("max_tokens", limits.max_scaffold_tokens)
        return spec

    def _settings(self, body: Any, max_tokens: int | None) -> SamplingSettings:
        limits = self.server.limits
        if body.n > limits.max_n:
            raise ApiError(
                400, f"n={body.n} exceeds this server's limit of {limits.max_n}", param="n"
            )
        for name in ("frequency_penalty", "presence_penalty"):
            if getattr(body, name):
                raise ApiError(400, f"{name} is not supported; send 0 or leave it out", param=name)
        if max_tokens is not None and max_tokens > limits.max_tokens:
            raise ApiError(
                400,
                f"max_tokens={max_tokens} exceeds this server's limit of {limits.max_tokens}",
                param="max_tokens",
            )
        if getattr(body, "response_format", None):
            raise ApiError(
                400,
                "response_format is not supported with a strategy; ask the plain model "
                f"({self.server.model!r}) for structured output",
                param="response_format",
            )
        return SamplingSettings(
            n=body.n,
            seed=body.seed,
            temperature=body.temperature,
            top_p=body.top_p,
            top_k=body.top_k,
            max_tokens=max_tokens,
            stop=body.stops(),
        )

    async def chat(
        self, body: ChatCompletionBody, spec: ScaffoldSpec, slot: Any, ignored: list[str]
    ) -> Any:
        if body.logprobs:
            raise ApiError(
                400,
                "logprobs are not available for a scaffolded answer (it is chosen among "
                "several calls); ask the plain model for them",
                param="logprobs",
            )
        asked = (
            body.max_completion_tokens
            if body.max_completion_tokens is not None
            else body.max_tokens
        )
        settings = self._settings(body, asked)
        question = question_from_messages([m.to_chat_message() for m in body.messages])
        return await self._answer(True, body, spec, settings, [question], slot, ignored)

    async def completions(
        self, body: CompletionBody, spec: ScaffoldSpec, slot: Any, ignored: list[str]
    ) -> Any:
        if body.echo or body.logprobs is not None or body.suffix is not None:
            raise ApiError(
                400,
                "echo, logprobs and suffix are not available for a scaffolded answer",
                param="logprobs" if body.logprobs is not None else "echo",
            )
        prompt = body.prompt
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
            raise ApiError(
                400,
                "a scaffolded completion takes the prompt as text (a string or a list of "
                "strings), not token ids",
                param="prompt",
            )
        limits = self.server.limits
        if len(prompts) > limits.max_prompts:
            raise ApiError(
                400,
                f"{len(prompts)} prompts exceed this server's limit of {limits.max_prompts}",
                param="prompt",
            )
        settings = self._settings(body, body.max_tokens)
        return await self._answer(False, body, spec, settings, prompts, slot, ignored)

    async def _answer(
        self,
        chat: bool,
        body: Any,
        spec: ScaffoldSpec,
        settings: SamplingSettings,
        questions: list[str],
        slot: Any,
        ignored: list[str],
    ) -> Any:
        from .app import _json  # the response helpers of the app

        try:
            scaffold = Scaffold(self.server.engine, spec, settings)
        except Exception as exc:  # e.g. a client temperature outside the strategy's range
            raise scaffold_error(exc) from None
        scaffold.check()
        model = body.model
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            events = scaffold_events(
                scaffold,
                questions,
                chat=chat,
                model=model,
                include_usage=include_usage,
                source=spec.source,
                ignored=ignored,
            )
            return self.server.ignoring(self.server.sse(events, slot), ignored)
        answers, progress = await scaffold.run(questions)
        extra = thinkfast_object(answers, spec.source, ignored, spec.budget)
        body = scaffold_response(model, answers, progress, extra, chat=chat)
        return self.server.ignoring(_json(body), ignored)
