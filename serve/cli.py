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
    add_engine_arguments(p)
    p.set_defaults(func=_run)


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
        )
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        raise InvalidRequestError(f"bad server limits: {problems}") from None
    take_positional_model(args, args.served)  # no model at all: the shipped arith-tiny
    # Unknown profile or spec names fail now, with the accepted names, not on every request.
    engine = engine_from_args(args)

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
    )
    print("thinkfast serve: stopped", file=sys.stderr)
    return 0
