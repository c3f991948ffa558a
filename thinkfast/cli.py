"""The `thinkfast` command: wires each layer's sub-commands into one argparse tree.

Each module listed in COMMANDS exposes `add_commands(subparsers)`, which adds its
sub-parsers and sets `func(args) -> int` on them. Errors of the ThinkfastError family are
printed as one line (no traceback) and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from thinkfast.engine.errors import ThinkfastError

COMMANDS = [
    "thinkfast.engine.local.cli",
    "thinkfast.serve.cli",
    "thinkfast.engine.hardware.cli",
    "thinkfast.evals.cli",
    "thinkfast.strategies.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thinkfast", description="Think before speaking: scaffolded LLM queries."
    )
    parser.add_argument("--version", action="version", version="thinkfast 0.1.0")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        importlib.import_module(module).add_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except ThinkfastError as exc:
        print(f"thinkfast: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("thinkfast: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
