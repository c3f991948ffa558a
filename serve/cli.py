"""The `thinkfast serve` command: build an engine from the shared engine options and serve
it over HTTP (a model loaded here, or a remote one behind this server).

Kept apart from server.py so that building the CLI never imports starlette or uvicorn;
without the `serve` extra only this command fails, with the pip line to fix it.
"""

from __future__ import annotations

import argparse
import os
import sys

from thinkfast.engine.cli_options import (
    add_engine_arguments,
    engine_from_args,
    take_positional_model,
)
from thinkfast.engine.remote.providers import THINKFAST_SERVE_PORT

__all__ = ["add_commands"]


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        description=(
            "Serve MODEL (a bundled name such as arith-tiny, an HF folder, or a .gguf file) "
            "on /v1/models, /v1/chat/completions and /v1/completions. Point any OpenAI "
            "client at the printed URL."
        ),
    )
    p.add_argument(
        "served",
        nargs="?",
        metavar="MODEL",
        help="the model to serve, as -m/--model takes it (as in `vllm serve MODEL`; "
        "default: the shipped arith-tiny)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=THINKFAST_SERVE_PORT, help="0 picks a free port")
    p.add_argument(
        "--serve-api-key",
        default=os.environ.get("THINKFAST_SERVE_API_KEY"),
        help="require 'Authorization: Bearer KEY' of clients (default: $THINKFAST_SERVE_API_KEY, "
        "else none); --api-key is the key of a remote --base-url",
    )
    p.add_argument(
        "--served-model-name", help="the model id clients use (default: the model's name)"
    )
    p.add_argument("--max-tokens-limit", type=int, default=4096, help="ceiling on max_tokens")
    p.add_argument("--max-n", type=int, default=64, help="ceiling on n")
    p.add_argument("--max-body-bytes", type=int, default=1 << 20, help="largest request body")
    p.add_argument(
        "--max-in-flight",
        type=int,
        default=256,
        help="generation requests served at once; more get 429 with Retry-After",
    )
    p.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    scaffold = p.add_argument_group(
        "scaffolding",
        "clients select a strategy by model name (STRATEGY[:opt=val,...]/MODEL), by "
        "extra_body={'thinkfast': {...}} or by reasoning_effort; see docs/serving.md",
    )
    scaffold.add_argument(
        "--strategy",
        metavar="SPEC",
        help="scaffold every request that selects no strategy itself, e.g. best_of_n:n=4 "
        "(default: none, plain model)",
    )
    scaffold.add_argument(
        "--effort",
        action="append",
        default=[],
        metavar="LEVEL=SPEC",
        help="the strategy a reasoning_effort level maps to (repeatable; SPEC 'none' passes "
        "through); defaults: low=single, medium=best_of_n:n=4,selector=vote, "
        "high=best_of_n:n=16,selector=judge",
    )
    scaffold.add_argument(
        "--max-scaffold-tokens",
        type=int,
        default=200_000,
        help="token budget (all calls) of one scaffold; clients may ask for less",
    )
    scaffold.add_argument(
        "--option-cap",
        action="append",
        default=[],
        metavar="OPTION=INT",
        help="largest value a client may give a strategy option (repeatable; default n=64)",
    )
    upstream = p.add_argument_group(
        "upstream",
        "serve a remote OpenAI-compatible API (scaffolded or not) instead of a local model",
    )
    upstream.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="URL",
        help="an upstream base URL (repeat for a pool: least-loaded healthy endpoint, "
        "failover on errors); keys from --api-key or the --provider's variable",
    )
    upstream.add_argument(
        "--upstream-model", metavar="NAME", help="the upstream's model id (default: its only one)"
    )
    upstream.add_argument(
        "--upstream-concurrency",
        type=int,
        default=16,
        help="calls in flight per upstream; beyond that clients get 429 with Retry-After",
    )
    upstream.add_argument(
        "--upstream-cooldown",
        type=float,
        default=30.0,
        help="seconds a failing upstream stays out of rotation (default 30)",
    )
    add_engine_arguments(p)
    p.set_defaults(func=_run)


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    from thinkfast.engine.errors import InvalidRequestError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidRequestError(f"{flag} {item!r} must look like KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def _engine(args: argparse.Namespace):
    if not args.upstream:
        return engine_from_args(args)
    from thinkfast.engine.errors import InvalidRequestError
    from thinkfast.engine.hardware.emulate import resolve_emulation

    from .upstream import upstream_engine

    if args.base_url:
        raise InvalidRequestError("give --upstream or --base-url, not both")
    engine = upstream_engine(
        args.upstream,
        model=args.upstream_model or args.model,
        provider=args.provider,
        api_key=args.api_key,
        concurrency=args.upstream_concurrency,
        cooldown_s=args.upstream_cooldown,
        hardware=tuple(h.strip() for h in args.hardware.split(",") if h.strip()),
        project_as=args.project_as,
        pace=args.pace,
    )
    for endpoint in engine.endpoints:
        resolve_emulation(endpoint.engine)
    return engine


def _run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError
    from thinkfast.engine.errors import InvalidRequestError

    from .server import ServerLimits, serve  # raises ServeDependencyError without the extra

    try:
        limits = ServerLimits(
            max_body_bytes=args.max_body_bytes,
            max_tokens=args.max_tokens_limit,
            max_n=args.max_n,
            max_in_flight=args.max_in_flight,
            max_scaffold_tokens=args.max_scaffold_tokens,
            option_caps={
                "n": 64,
                **{
                    k: _int(v, "--option-cap")
                    for k, v in _pairs(args.option_cap, "--option-cap").items()
                },
            },
        )
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        raise InvalidRequestError(f"bad server limits: {problems}") from None
    take_positional_model(args, args.served)  # no model at all: the shipped arith-tiny
    # Unknown profile or spec names fail now, with the accepted names, not on every request.
    engine = _engine(args)
    effort = {
        level: (None if spec.lower() == "none" else spec)
        for level, spec in _pairs(args.effort, "--effort").items()
    }

    def ready(url: str) -> None:
        auth = " (API key required)" if args.serve_api_key else ""
        print(f"thinkfast serve: {engine.model_name} on {url}{auth}", flush=True)

    serve(
        engine,
        host=args.host,
        port=args.port,
        api_key=args.serve_api_key,
        limits=limits,
        served_model_name=args.served_model_name,
        log_level=args.log_level,
        on_ready=ready,
        strategy=args.strategy,
        effort=effort,
    )
    print("thinkfast serve: stopped", file=sys.stderr)
    return 0


def _int(text: str, flag: str) -> int:
    from thinkfast.engine.errors import InvalidRequestError

    try:
        return int(text)
    except ValueError:
        raise InvalidRequestError(f"{flag} takes OPTION=INT; got {text!r}") from None
