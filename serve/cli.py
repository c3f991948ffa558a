"""The `thinkfast serve` command: load a model into a LocalEngine and serve it over HTTP.

Kept apart from engine/server.py so that building the CLI never imports starlette or
uvicorn; without the `serve` extra only this command fails, with the pip line to fix it.
"""

from __future__ import annotations

import argparse
import os
import sys

from thinkfast.engine.remote.providers import THINKFAST_SERVE_PORT

__all__ = ["add_commands"]


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve a model over an OpenAI-compatible HTTP API",
        description=(
            "Serve MODEL (a bundled name such as arith-tiny, an HF folder, or a .gguf file) "
            "on /v1/models, /v1/chat/completions and /v1/completions. Point any OpenAI "
            "client at the printed URL."
        ),
    )
    p.add_argument("model", help="bundled model name, HF checkpoint folder, or .gguf file")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=THINKFAST_SERVE_PORT, help="0 picks a free port")
    p.add_argument(
        "--api-key",
        default=os.environ.get("THINKFAST_SERVE_API_KEY"),
        help="require 'Authorization: Bearer KEY' (default: $THINKFAST_SERVE_API_KEY, else none)",
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
        "--hardware",
        default="cs3,h100",
        help="comma-separated hardware profiles to emulate in each response's timing",
    )
    p.add_argument(
        "--project-as", help="model spec to project the timing onto (e.g. llama-3.1-70b)"
    )
    p.add_argument(
        "--pace",
        help="stream no faster than this hardware profile would (e.g. cs3), for demos",
    )
    p.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError
    from thinkfast.engine.errors import InvalidRequestError
    from thinkfast.engine.hardware.emulate import resolve_emulation
    from thinkfast.engine.local import LocalEngine

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
    hardware = tuple(h.strip() for h in args.hardware.split(",") if h.strip())
    engine = LocalEngine(args.model, hardware=hardware, project_as=args.project_as, pace=args.pace)
    # Unknown profile or spec names fail now, with the accepted names, not on every request.
    resolve_emulation(engine)

    def ready(url: str) -> None:
        auth = " (API key required)" if args.api_key else ""
        print(f"thinkfast serve: {engine.model_name} on {url}{auth}", flush=True)

    serve(
        engine,
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        limits=limits,
        served_model_name=args.served_model_name,
        log_level=args.log_level,
        on_ready=ready,
    )
    print("thinkfast serve: stopped", file=sys.stderr)
    return 0
