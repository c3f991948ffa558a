"""`thinkfast generate`: sample from a model from the shell (here, or on a server).

`thinkfast generate [MODEL] PROMPT`: the model positionally (as `serve` takes it) or with
-m. Prints each sample's text (separated by a rule when n > 1), or with --json one object
holding the texts, finish reasons, usage and timing.

How the prompt reaches the model: `--raw` sends the text as given, `--chat` as a user
message through the model's chat template. By default a model whose folder carries a
prompt pack trained on raw prompts (the shipped arith-tiny: `Q: {question}\nThink: `)
gets its prompt in that pack's draft template, the format it was trained on, so
`thinkfast generate arith-tiny "12+34"` works it out; any other model gets the text raw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from ..base import Engine
from ..cli_options import add_engine_arguments, engine_from_args, take_positional_model
from ..errors import InvalidRequestError
from ..types import GenerationRequest

__all__ = ["add_commands"]

T = TypeVar("T")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        description="Sample text from a model: a bundled name, HF folder or .gguf file run "
        "here, or a model on an OpenAI-compatible server.",
    )
    p.add_argument(
        "positional_model",
        nargs="?",
        metavar="MODEL",
        help="the model, as -m/--model takes it (default: arith-tiny)",
    )
    p.add_argument("prompt", help="the prompt text (use '-' to read it from stdin)")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--temperature", "-t", type=float, default=0.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--n", type=int, default=1, help="number of samples (one shared prefill)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--chat", action="store_true", help="send the prompt as a user chat message")
    mode.add_argument(
        "--raw",
        action="store_true",
        help="send the prompt text as given (default unless the model folder's prompt pack "
        "names the raw format it was trained on, as arith-tiny's does)",
    )
    p.add_argument("--stream", action="store_true", help="print text as it is decoded (n=1)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_engine_arguments(p)
    p.set_defaults(func=run_generate)


def trained_template(engine: Engine) -> str | None:
    """The raw prompt format a local model was trained on, if its folder says so: the
    draft template of its `prompt_pack.json` when that role is raw (`{question}` marks
    where the prompt goes). None for a remote model or one without such a pack."""
    folder = getattr(getattr(engine, "checkpoint", None), "path", None)
    if folder is None:
        return None
    folder = Path(folder)
    pack_file = (folder if folder.is_dir() else folder.parent) / "prompt_pack.json"
    try:
        pack = json.loads(pack_file.read_text())
    except (OSError, ValueError):
        return None
    draft = (pack.get("roles") or pack).get("draft")
    if not isinstance(draft, dict) or not draft.get("raw"):
        return None
    template = draft.get("template")
    return template if isinstance(template, str) and "{question}" in template else None


def build_request(args: argparse.Namespace, template: str | None = None) -> GenerationRequest:
    """The request the options describe; `template` (the model's trained raw format)
    wraps the prompt unless --raw or --chat says otherwise."""
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if template is not None and not args.raw and not args.chat:
        prompt = template.replace("{question}", prompt.strip())
    fields = dict(
        n=args.n,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        seed=args.seed,
        stop=args.stop,
    )
    if args.chat:
        fields["messages"] = [{"role": "user", "content": prompt}]
    else:
        fields["prompt"] = prompt
    try:
        return GenerationRequest(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidRequestError(f"invalid generation settings: {problems}") from None


def run_generate(args: argparse.Namespace) -> int:
    from .footprint import measure_load

    take_positional_model(args, args.positional_model)
    build_request(args)  # bad settings fail before a model is loaded
    engine, load = measure_load(lambda: engine_from_args(args))  # load_s, resident memory
    request = build_request(args, trained_template(engine))
    if args.stream and not args.json:
        asyncio.run(_closing(engine, _print_stream(engine, request)))
        return 0
    (generation,) = asyncio.run(_closing(engine, engine.generate([request])))
    if args.json:
        print(
            json.dumps(
                {
                    "model": generation.model,
                    "texts": [s.text for s in generation.samples],
                    "finish_reasons": [s.finish_reason for s in generation.samples],
                    "usage": generation.usage.model_dump(),
                    "timing": generation.timing.model_dump(),
                    "load": load,
                }
            )
        )
        return 0
    for i, sample in enumerate(generation.samples):
        if i:
            print("-" * 40)
        print(sample.text)
    return 0


async def _closing(engine: Engine, work: Awaitable[T]) -> T:
    """Await `work`, then release the engine's worker thread or connections."""
    try:
        return await work
    finally:
        await engine.aclose()


async def _print_stream(engine: Engine, request: GenerationRequest) -> None:
    async for delta in engine.stream(request):
        sys.stdout.write(delta)
        sys.stdout.flush()
    sys.stdout.write("\n")
