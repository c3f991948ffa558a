"""`thinkfast serve`: the app (app.py) listening on a socket, with uvicorn: `serve` blocks
until interrupted, `running_server` serves from a thread for a `with` block.

Needs the `serve` extra.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from thinkfast.engine.base import Engine
from thinkfast.engine.errors import EngineError

from .api import ServeDependencyError, ServerLimits
from .app import BUSY_RETRY_AFTER_S, IGNORED_HEADER, create_app

try:
    import uvicorn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ServeDependencyError.missing(exc) from exc

__all__ = [
    "BUSY_RETRY_AFTER_S",
    "IGNORED_HEADER",
    "ServerLimits",
    "create_app",
    "running_server",
    "serve",
]

log = logging.getLogger("thinkfast.serve")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it Nagle + delayed ACK add ~40 ms to every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise EngineError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v1"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(
    engine: Engine,
    *,
    host: str = "127.0.0.1",
    port: int = 8800,
    api_key: str | None = None,
    limits: ServerLimits | None = None,
    served_model_name: str | None = None,
    log_level: str = "info",
    on_ready: Callable[[str], None] | None = None,
    strategy: str | None = None,
    effort: dict[str, str | None] | None = None,
) -> None:
    """Serve until interrupted (blocking). `port=0` picks a free port; `on_ready` gets the URL."""
    if not _is_loopback(host) and api_key is None:
        log.warning("serving on %s without --api-key: anyone who can reach it may use it", host)
    app = create_app(
        engine,
        api_key=api_key,
        limits=limits,
        served_model_name=served_model_name,
        strategy=strategy,
        effort=effort,
    )
    sock = _bind(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="off"))
    if on_ready is not None:
        on_ready(_url(sock, host))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn has shut down gracefully and re-raised the Ctrl-C: a normal stop
    finally:
        sock.close()


@contextlib.contextmanager
def running_server(
    engine: Engine,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout_s: float = 10.0,
    **app_kwargs: Any,
) -> Iterator[str]:
    """Serve `engine` from a background thread for the duration of a `with` block; yields
    the base URL (e.g. for tests, notebooks, or pointing an OpenAI client at it)."""
    app = create_app(engine, **app_kwargs)
    sock = _bind(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="thinkfast-serve", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise EngineError(f"the server did not start on {host}:{port} in {startup_timeout_s}s")
        time.sleep(0.01)
    try:
        yield _url(sock, host)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
