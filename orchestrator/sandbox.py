"""Run untrusted Python (a model's code answer) in a subprocess that cannot reach out.

`run_python(code)` writes the code into a fresh temporary folder and runs it with the
interpreter in isolated mode (`python -I`), under:

- time: a wall-clock limit (the process group is killed) and a CPU-seconds rlimit;
- memory: an address-space rlimit; files it writes: a size rlimit;
- network: a fresh network namespace with no interfaces (`unshare -rn`) where the kernel
  allows it, and in every case an audit hook that refuses socket calls;
- files: the audit hook refuses opening, listing, removing or renaming anything outside
  the temporary folder, except reading the interpreter's own library (imports need it);
  starting processes is refused too (a child would not carry the hook);
- environment: only PATH and HOME (the temporary folder).

The audit hook runs in the sandboxed interpreter, so it guards against a model's
mistakes and casual misuse, not against code written to break out (ctypes is refused, but
a determined exploit of the interpreter is out of scope): run hostile code in a container.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["SandboxResult", "run_python", "network_namespace_available"]

# Installed in the child before the user's code runs; it cannot be removed once added.
_GUARD = r"""
import os, sys, runpy
ROOT = os.path.realpath(sys.argv[1])
READ_OK = tuple({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                 sys.base_exec_prefix, os.path.dirname(os.__file__))})
NET = ("socket.", "ssl.")
PROC = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
        "os.forkpty", "pty.spawn", "ctypes.", "os.kill", "os.killpg")
PATHS = {"os.listdir", "os.scandir", "os.remove", "os.rmdir", "os.rename", "os.mkdir",
         "os.chmod", "os.chown", "os.symlink", "os.link", "os.truncate", "os.utime",
         "shutil.rmtree", "shutil.copyfile", "shutil.move", "os.chdir"}

def inside(path, roots):
    real = os.path.realpath(path)
    return any(real == r or real.startswith(r + os.sep) for r in roots)

def hook(event, args):
    if event.startswith(NET):
        raise PermissionError(f"sandbox: network access is refused ({event})")
    if event.startswith(PROC):
        raise PermissionError(f"sandbox: {event} is refused")
    if event == "open":
        path, mode, flags = args
        if path is None or isinstance(path, int):
            return
        writing = any(c in (mode or "") for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR)
        if inside(path, (ROOT,)) or (not writing and inside(path, READ_OK)):
            return
        raise PermissionError(f"sandbox: access to {path!r} outside its folder is refused")
    if event in PATHS:
        roots = (ROOT, *READ_OK) if event in ("os.listdir", "os.scandir") else (ROOT,)
        for path in args[:2]:
            if isinstance(path, (str, bytes, os.PathLike)) and not inside(path, roots):
                raise PermissionError(f"sandbox: {event} on {path!r} outside its folder is refused")

sys.addaudithook(hook)
sys.argv = [os.path.join(ROOT, "main.py")]
runpy.run_path(os.path.join(ROOT, "main.py"), run_name="__main__")
"""


@dataclass
class SandboxResult:
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    network_namespace: bool = False  # the kernel-level network cut-off was in place

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


@cache
def network_namespace_available() -> bool:
    """Whether `unshare -rn` works here (unprivileged user + network namespaces)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    try:
        done = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _limits(memory_mb: int, cpu_s: int, file_mb: int):
    def apply() -> None:  # runs in the child between fork and exec
        mem = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
        size = file_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


async def run_python(
    code: str,
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 512,
    file_mb: int = 16,
    max_output: int = 20_000,
) -> SandboxResult:
    """Run `code` as a script in a fresh temporary folder (its working directory) with
    the limits above; returns its exit status and output (cut to `max_output` chars)."""
    with tempfile.TemporaryDirectory(prefix="thinkfast-sandbox-") as folder:
        root = Path(folder)
        (root / "main.py").write_text(code, encoding="utf-8")
        (root / "_guard.py").write_text(_GUARD, encoding="utf-8")
        argv = [sys.executable, "-I", "-S", str(root / "_guard.py"), str(root)]
        isolated = network_namespace_available()
        if isolated:
            argv = [shutil.which("unshare") or "unshare", "-rn", *argv]
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=folder,
            env={"PATH": "/usr/bin:/bin", "HOME": folder, "PYTHONDONTWRITEBYTECODE": "1"},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout kills it all
            preexec_fn=_limits(memory_mb, int(timeout_s) + 1, file_mb),
        )
        timed_out = False
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout_s)
        except TimeoutError:
            timed_out = True
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = await process.communicate()
        except asyncio.CancelledError:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            raise
        return SandboxResult(
            returncode=process.returncode,
            stdout=out.decode("utf-8", "replace")[-max_output:],
            stderr=err.decode("utf-8", "replace")[-max_output:],
            timed_out=timed_out,
            network_namespace=isolated,
        )
