"""The engine options every command shares, and the engine they describe.

`thinkfast ask`, `thinkfast eval run`, `thinkfast generate` and `thinkfast serve` all
take the same options for where the model runs and what its latency is projected onto:

    -m/--model NAME    bundled name, HF folder or .gguf file (here), or the model id a
                       server runs (with --base-url or --provider; without -m, the
                       server's only model, from its /v1/models)
    --base-url URL     an OpenAI-compatible server (default: $THINKFAST_BASE_URL)
    --provider NAME    a preset (cerebras, groq, openai, vllm, ...): its URL and key variable
    --api-key KEY      (default: the provider's key variable, else $THINKFAST_API_KEY)
    --hardware LIST    profiles to emulate latency on (default: cs3,h100)
    --project-as SPEC  model spec to project latency onto (default: the model that runs)
    --pace PROFILE     stream no faster than PROFILE would
    --blas-threads N   BLAS threads of a local engine (default: $THINKFAST_BLAS_THREADS, else 1)
    --prefix-cache-mib N  KV a local engine keeps for prompt reuse (default 1024; 0: off)
    --activations MODE  how a local engine's quantized weights multiply 2+ rows
                       (int8x2, int8 or float32; docs/engine.md)

It lives in the engine layer, beside the engines it builds, so the command module of
every layer (engine/local/cli.py included) imports it with the arrows pointing down.
"""

from __future__ import annotations

import argparse
import os

from .base import Engine
from .checkpoint import DEFAULT_MODEL
from .errors import InvalidRequestError

__all__ = [
    "DEFAULT_MODEL",
    "add_engine_arguments",
    "engine_from_args",
    "is_remote",
    "take_positional_model",
]


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the shared engine options to a command's parser."""
    group = parser.add_argument_group("engine")
    group.add_argument(
        "-m",
        "--model",
        default=None,
        help=f"bundled name, HF folder or .gguf file (default: {DEFAULT_MODEL}); with "
        "--base-url or --provider, the model id the server runs",
    )
    group.add_argument(
        "--base-url",
        default=os.environ.get("THINKFAST_BASE_URL"),
        help="OpenAI-compatible server to run on instead of here (default: $THINKFAST_BASE_URL)",
    )
    group.add_argument(
        "--provider",
        default=None,
        help="provider preset: cerebras, groq, openai, vllm, sglang, ollama, llamacpp, thinkfast",
    )
    group.add_argument(
        "--api-key",
        default=None,
        help="API key for the server (default: the provider's variable, else $THINKFAST_API_KEY)",
    )
    group.add_argument(
        "--hardware", default="cs3,h100", help="profiles to emulate latency on (comma list)"
    )
    group.add_argument(
        "--project-as", default=None, help="model spec to project latency onto (e.g. llama-3.1-70b)"
    )
    group.add_argument(
        "--pace", default=None, help="stream no faster than this hardware profile would (e.g. cs3)"
    )
    group.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="BLAS threads of a local engine (default: $THINKFAST_BLAS_THREADS, else 1)",
    )
    group.add_argument(
        "--prefix-cache-mib",
        type=int,
        default=1024,
        help="MiB of prompt KV a local engine keeps for reuse (default 1024; 0 turns it off)",
    )
    group.add_argument(  # choices: quant.ACTIVATION_MODES, spelled out so --help imports no numpy
        "--activations",
        choices=("int8x2", "int8", "float32"),
        default="int8x2",
        help="how a local engine's quantized weights multiply 2+ rows: int8x2 (default, "
        "float32's accuracy), int8 (llama.cpp's, faster), float32",
    )


def take_positional_model(args: argparse.Namespace, positional: str | None) -> None:
    """Merge a command's positional MODEL (`generate MODEL PROMPT`, `serve MODEL`) into
    -m/--model: either may name it, both only if they agree."""
    if positional and args.model and positional != args.model:
        raise InvalidRequestError(
            f"two models named: {positional!r} and -m {args.model!r}; give one"
        )
    args.model = args.model or positional


def is_remote(args: argparse.Namespace) -> bool:
    """Whether the options name a server rather than a model to load here."""
    return bool(args.base_url or args.provider)


def engine_from_args(args: argparse.Namespace) -> Engine:
    """The engine the shared options describe; its emulation settings are checked now, so
    an unknown profile or spec fails before any model is loaded or request sent."""
    from .hardware.emulate import resolve_emulation  # imported here: --help stays fast

    hardware = tuple(h.strip() for h in args.hardware.split(",") if h.strip())
    settings = {"hardware": hardware, "project_as": args.project_as, "pace": args.pace}
    if is_remote(args):
        from .remote import OpenAIEngine

        engine: Engine = OpenAIEngine(
            args.model or _served_model(args),
            provider=args.provider,
            base_url=args.base_url,
            api_key=args.api_key,
            **settings,
        )
    else:
        from .local import LocalEngine

        engine = LocalEngine(
            args.model or DEFAULT_MODEL,
            blas_threads=getattr(args, "blas_threads", None),
            prefix_cache_bytes=getattr(args, "prefix_cache_mib", 1024) << 20,
            activations=getattr(args, "activations", "int8x2"),
            **settings,
        )
    resolve_emulation(engine)
    return engine


def _served_model(args: argparse.Namespace) -> str:
    """The model id to use when -m is not given for a server: its only model (from
    GET /v1/models); with several, an error listing them. Entries a thinkfast server
    lists for its strategies (`best_of_n/MODEL`, marked `thinkfast.strategy`) are views
    of its one model, not models of their own."""
    import asyncio

    from .remote import OpenAIEngine

    probe = OpenAIEngine("?", provider=args.provider, base_url=args.base_url, api_key=args.api_key)

    async def listed() -> list[str]:
        try:
            entries = await probe.list_models()
        finally:
            await probe.aclose()
        return [
            str(m["id"])
            for m in entries
            if m.get("id") and not (m.get("thinkfast") or {}).get("strategy")
        ]

    ids = asyncio.run(listed())
    if len(ids) == 1:
        return ids[0]
    where = args.base_url or args.provider
    if not ids:
        raise InvalidRequestError(f"{where} lists no models on /v1/models; name one with -m")
    raise InvalidRequestError(
        f"{where} serves {len(ids)} models; name one with -m: {', '.join(sorted(ids))}"
    )
