"""Every shell and Python example in README.md and docs/*.md runs and prints what it claims.

Examples are the fenced blocks tagged `python`, `bash` or `console`:

- `python`: run in this process from the repository root (top-level `await` allowed),
  each block in a fresh namespace; a comment `# prints: TEXT` on a line says TEXT appears
  in what the block prints.
- `bash`: each line is a command run by bash in a fresh folder (one per block, so the
  files a command writes are there for the next); `# prints: TEXT` at its end says TEXT
  appears in that command's output.
- `console`: a transcript: `$ command` lines, each followed by the lines it prints; every
  printed line shown must appear in the command's output.

A block that cannot run here says why in an HTML comment on the line before it:
`<!-- no-test: needs a server -->` (network, a server, an optional install, minutes of
running). `<!-- test: slow -->` runs it only with THINKFAST_SLOW=1. Untagged blocks are
output or syntax, not examples.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LANGUAGES = ("python", "bash", "console")
FENCE = re.compile(r"^```(\w*)\s*$")
MARKER = re.compile(r"<!--\s*(no-test|test)\s*:\s*(.*?)\s*-->")
PRINTS = re.compile(r"#\s*prints:\s*(.+?)\s*$")


@dataclass
class Example:
    path: Path
    line: int  # of the opening fence
    language: str
    body: str
    skip: str | None  # the no-test reason
    slow: bool

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def examples() -> list[Example]:
    found = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            fence = FENCE.match(lines[i])
            if not fence:
                i += 1
                continue
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            language = fence.group(1)
            if language in LANGUAGES:
                before = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
                marker = MARKER.search(before)
                skip = marker.group(2) if marker and marker.group(1) == "no-test" else None
                slow = bool(marker and marker.group(1) == "test" and marker.group(2) == "slow")
                body = "\n".join(lines[i + 1 : end])
                found.append(Example(path, i + 1, language, body, skip, slow))
            i = end + 1
    return found


EXAMPLES = examples()


def test_the_docs_have_examples_and_every_skip_says_why():
    assert len(EXAMPLES) >= 20
    for example in EXAMPLES:
        assert example.skip is None or len(example.skip) > 3, example.id


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_example(example: Example, tmp_path, monkeypatch):
    if example.skip is not None:
        pytest.skip(f"no-test: {example.skip}")
    if example.slow and not os.environ.get("THINKFAST_SLOW"):
        pytest.skip("slow example: set THINKFAST_SLOW=1")
    if example.language == "python":
        run_python(example, tmp_path, monkeypatch)
    elif example.language == "bash":
        run_bash(example, tmp_path)
    else:
        run_console(example, tmp_path)


# -- running -----------------------------------------------------------------------------


def run_bash(example: Example, where: Path) -> None:
    for command in _commands(example.body):
        claims = PRINTS.findall(command)
        out = run_shell(re.sub(r"#\s*prints:.*$", "", command), example, where)
        for claim in claims:
            assert claim in out, f"{example.id}: `{command}` should print {claim!r}:\n{out}"


def run_console(example: Example, where: Path) -> None:
    for command, shown in _transcript(example.body):
        out = run_shell(command, example, where)
        got = [line.rstrip() for line in out.splitlines()]
        for line in shown:
            assert line.rstrip() in got, (
                f"{example.id}: `{command}` should print\n{line}\nbut printed:\n{out}"
            )


def run_python(example: Example, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)  # examples name repository paths (engine/models/arith-tiny)
    code = compile(
        example.body, example.id, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )
    printed = io.StringIO()
    namespace: dict = {"__name__": "__docs_example__"}
    with contextlib.redirect_stdout(printed):
        result = eval(code, namespace)  # noqa: S307 - the docs' own examples
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    out = printed.getvalue()
    for claim in PRINTS.findall(example.body):
        assert claim in out, f"{example.id}: should print {claim!r}; printed:\n{out}"


def run_shell(command: str, example: Example, where: Path) -> str:
    # never change the environment the tests run in: an install is a no-test block
    assert not re.search(r"\bpip3? install\b|\bapt(-get)? install\b", command), (
        f"{example.id}: `{command}` installs something; mark the block <!-- no-test: ... -->"
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (
        f"{example.id}: `{command}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout + done.stderr


def _commands(body: str) -> list[str]:
    """The commands of a bash block: one per line, `\\` continuations joined."""
    commands, current = [], ""
    for line in body.splitlines():
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        if current.strip() and not current.lstrip().startswith("#"):
            commands.append(current.strip())
        current = ""
    return commands


def _transcript(body: str) -> list[tuple[str, list[str]]]:
    """(command, the lines shown after it) for each `$ command` of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps and line.strip():
            steps[-1][1].append(line)
    assert steps, "a console block needs `$ command` lines"
    return steps


def test_the_runner_checks_what_it_claims(tmp_path, monkeypatch):
    """The claim checks themselves can fail (a docs test that cannot fail proves nothing)."""

    def example(language: str, body: str) -> Example:
        return Example(ROOT / "README.md", 0, language, body, None, False)

    with pytest.raises(AssertionError, match="should print '47'"):
        run_python(example("python", 'print("46")  # prints: 47'), tmp_path, monkeypatch)
    with pytest.raises(AssertionError, match="should print '47'"):
        run_bash(example("bash", "echo 46  # prints: 47"), tmp_path)
    with pytest.raises(AssertionError, match=r"should print\s+47"):
        run_console(example("console", "$ echo 46\n47"), tmp_path)
    run_console(example("console", "$ echo 46\n46"), tmp_path)
