"""The `thinkfast` command: wires each layer's sub-commands into one argparse tree.

Each module named in COMMANDS exposes `add_commands(subparsers)`, which adds its
sub-parsers and sets `func(args) -> int` on them. Only the module of the command being
run is imported; the others appear in `--help` from the one-line summaries below, so
`thinkfast --help` and `--version` load no layer at all. Errors of the ThinkfastError
family are printed as one line (no traceback) and exit with status 2; a reader that
closes the pipe early (`thinkfast ask ... | head`) ends the command quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from thinkfast import __version__

# command -> (the module that adds it, its one-line summary for `thinkfast --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "ask": ("thinkfast.strategies.cli", "answer a question with a strategy and show what it cost"),
    "strategies": ("thinkfast.strategies.cli", "list built-in and installed strategies"),
    "eval": ("thinkfast.evals.cli", "measure what extra tokens buy: run, report, ls"),
    "generate": ("thinkfast.engine.local.cli", "sample text from a model"),
    "serve": ("thinkfast.serve.cli", "serve a model over an OpenAI-compatible HTTP API"),
    "hw": ("thinkfast.engine.hardware.cli", "hardware emulator: profiles and projections"),
}


def _command_in(argv: list[str]) -> str | None:
    """The sub-command argv names (its first word that is not an option), if known."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in COMMANDS else None


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser for `argv`: the command it names fully built, the others as summaries."""
    parser = argparse.ArgumentParser(
        prog="thinkfast", description="Think before speaking: scaffolded LLM queries."
    )
    parser.add_argument("--version", action="version", version=f"thinkfast {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    command = _command_in(argv)
    if command:
        importlib.import_module(COMMANDS[command][0]).add_commands(subparsers)
    for name, (_, summary) in COMMANDS.items():
        if name in subparsers.choices:
            continue
        subparsers.add_parser(name, help=summary, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    from thinkfast.engine.errors import ThinkfastError  # loaded by the command already

    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try: a closed pipe shows here, not at exit
        return status
    except ThinkfastError as exc:
        print(f"thinkfast: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("thinkfast: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`). As the Python docs advise for SIGPIPE, point
        # stdout at devnull so the interpreter's final flush cannot raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by it


if __name__ == "__main__":
    sys.exit(main())
