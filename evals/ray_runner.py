"""Running a sweep's units on Ray: one engine per worker, the log written by the driver.

    thinkfast eval run arith-3 --strategy best_of_n -S n=1,4,16 --ray            # local Ray
    thinkfast eval run arith-3 --strategy best_of_n -S n=1,4,16 --ray auto       # a cluster

- Workers are Ray actors (`EvalWorker`), each building its engine once, from the same
  factory on every worker (the CLI's engine options: a local model, or an OpenAIEngine),
  and running at most `max_connections` queries at once, so a local engine batches them
  as it does in a local run.
- The driver keeps every worker's slots full from one queue of units, plus one unit
  waiting at each worker so it never idles for a round trip to the driver; each unit runs
  `runner.run_unit`, the step a local run uses, and its record streams back to the
  driver, the only writer of the log, so `--resume`, `report` and the statistics are
  those of a local run.
- A worker that dies (killed, out of memory, its node lost) is replaced; each unit it was
  running goes back to the queue, its lost attempt logged as a `WorkerDied` error that
  the re-run's record supersedes. A unit whose worker dies `max_attempts` times is logged
  as that error for good (and `--resume` retries it), never dropped.
- Ctrl-C cancels the in-flight units; the log holds every finished one (`--resume`).

Ray is an optional extra (`thinkfast[ray]`), imported only when a pool starts.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import functools
import logging
import os
import re
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import EvalError
from .runner import Emit, Unit, _error_record, athink_solver, run_unit
from .task import Task

__all__ = [
    "RayPool",
    "WorkerInfo",
    "EvalWorker",
    "WorkerDied",
    "check_address",
    "engine_factory_from_args",
    "import_ray",
]

# What a worker's engine is built from: any picklable callable returning an Engine (the
# CLI passes `functools.partial(engine_from_args, <engine options>)`).
EngineFactory = Callable[[], Any]

_ADDRESS = re.compile(r"^(auto|local|ray://[^\s/]+|[\w.-]+:\d+)$")


class WorkerDied(EvalError):
    """The Ray worker running a unit died before the unit finished."""


def engine_factory_from_args(args: argparse.Namespace) -> EngineFactory:
    """What a worker builds its engine from: `engine_from_args` on this command's engine
    options alone (-m, --base-url, --provider, --hardware, ...), so every worker gets the
    engine a local run would."""
    from thinkfast.engine.cli_options import add_engine_arguments, engine_from_args

    shared = argparse.ArgumentParser(add_help=False)
    add_engine_arguments(shared)
    defaults = vars(shared.parse_args([]))
    engine_args = argparse.Namespace(**{k: getattr(args, k, v) for k, v in defaults.items()})
    return functools.partial(engine_from_args, engine_args)


def _build(factory: EngineFactory) -> Any:
    """The engine, built on a thread of its own: the factory may run an event loop (asking
    a server for its model), which a Ray async actor's own loop would refuse."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(factory).result()


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        from thinkfast.engine.install_hint import pip_install_hint

        raise EvalError(f"--ray needs Ray: {pip_install_hint('ray')}") from None
    return ray


def check_address(address: str | None) -> str | None:
    """The address to pass to `ray.init` (None: start a local runtime), or an error
    saying which forms are accepted."""
    if address is None or address == "local":
        return None
    if not _ADDRESS.match(address):
        raise EvalError(
            f"--ray {address!r} is not a Ray address; accepted: no value (a local Ray "
            "runtime), auto (the cluster this node belongs to), ray://HOST:PORT or "
            "HOST:PORT (put the task before --ray when --ray has no value)"
        )
    return address


@dataclass(frozen=True)
class WorkerInfo:
    """What the workers' engine is, for the log header (as a local run records it)."""

    model: str
    engine: str
    hardware: list[str]
    base_url: str | None = None


class EvalWorker:
    """A Ray actor's body: one engine, loaded once, answering units with the runner's step.

    Every method is async, so the actor runs its units concurrently in one event loop and
    a local engine coalesces their calls into batches, as in a local run."""

    def __init__(
        self, engine_factory: EngineFactory, run_options: dict[str, Any], max_connections: int
    ) -> None:
        self._failure: Exception | None = None
        # At most max_connections units run; the driver sends one more, which waits here
        # instead of the worker idling for a round trip to the driver between units.
        self._slots = asyncio.Semaphore(max_connections)
        self._task: Task | None = None
        # An async actor may start a unit before set_task (Ray keeps a caller's order
        # only for sync actors), so units wait for the task.
        self._task_set = asyncio.Event()
        try:
            self.engine = _build(engine_factory)
        except Exception as exc:  # reported by describe(), as the driver's error
            self._failure = exc
            return
        self.solver = athink_solver(self.engine, **run_options)

    def _check(self) -> None:
        if self._failure is not None:
            raise EvalError(f"a Ray worker could not build its engine: {self._failure}")

    async def describe(self) -> WorkerInfo:
        self._check()
        return WorkerInfo(
            model=self.engine.model_name,
            engine=type(self.engine).__name__,
            hardware=list(self.engine.hardware),
            base_url=getattr(self.engine, "base_url", None),
        )

    async def set_task(self, task: Task) -> None:
        self._task = task
        self._task_set.set()

    async def run(self, unit: Unit) -> Any:
        self._check()
        await self._task_set.wait()
        assert self._task is not None
        async with self._slots:
            return await run_unit(unit, self._task, self.solver)

    async def pid(self) -> int:
        return os.getpid()

    async def close(self) -> None:
        if self._failure is None:
            await self.engine.aclose()


@dataclass(eq=False)
class _Worker:
    index: int
    actor: Any
    busy: int = 0
    alive: bool = True


@dataclass
class _Counts:
    running: int = 0
    retried: int = 0
    replaced: int = 0


class RayPool:
    """Workers on a Ray runtime running a sweep's units for `run_eval(executor=...)`.

    `address`: None starts a local runtime (this machine's CPUs); `auto` or
    `ray://host:port` joins a cluster; an already initialised Ray (a notebook, a test) is
    used as it is. `workers` defaults to one per CPU of the cluster; each holds one CPU
    (a share of one when there are more workers than CPUs) and at most `max_connections`
    units in flight.
    """

    def __init__(
        self,
        engine_factory: EngineFactory,
        *,
        run_options: dict[str, Any] | None = None,
        address: str | None = None,
        workers: int | None = None,
        max_connections: int = 8,
        max_attempts: int = 3,
    ) -> None:
        if workers is not None and workers < 1:
            raise EvalError(f"--ray-workers must be >= 1 (got {workers})")
        if max_connections < 1 or max_attempts < 1:
            raise EvalError("max_connections and max_attempts must be >= 1")
        self._factory = engine_factory
        self._run_options = dict(run_options or {})
        self._address = check_address(address)
        self._want = workers
        self.max_connections = max_connections
        self.max_attempts = max_attempts
        self.workers: list[_Worker] = []
        self.counts = _Counts()
        self._started_ray = False
        self._actor_class: Any = None
        self._cpus = 1.0
        self._initial = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> WorkerInfo:
        """Join or start Ray, start the workers and wait until every engine is loaded."""
        ray = import_ray()
        if not ray.is_initialized():
            try:
                ray.init(
                    address=self._address,
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                )
            except (ConnectionError, ValueError, RuntimeError) as exc:
                where = self._address or "a local runtime"
                raise EvalError(f"could not start or reach Ray ({where}): {exc}") from None
            self._started_ray = True
        total_cpus = float(ray.cluster_resources().get("CPU", 1.0))
        count = self._want or max(1, int(total_cpus))
        self._cpus = min(1.0, total_cpus / count)
        # The actor takes the units the driver sends (max_connections + 1) and room for
        # set_task / close beside them, which units waiting for their task must not block.
        self._actor_class = ray.remote(EvalWorker).options(
            num_cpus=self._cpus, max_concurrency=self.max_connections + 3, max_restarts=0
        )
        self._initial = count
        self.workers = [self._spawn(i) for i in range(count)]
        try:
            infos = self._get(ray, [w.actor.describe.remote() for w in self.workers])
        except BaseException:  # an engine that cannot load, or Ctrl-C: leave nothing behind
            self._end_workers(ray)
            raise
        return infos[0]

    def _spawn(self, index: int) -> _Worker:
        actor = self._actor_class.remote(self._factory, self._run_options, self.max_connections)
        return _Worker(index, actor)

    @staticmethod
    def _get(ray: Any, refs: list[Any]) -> list[Any]:
        try:
            return ray.get(refs)
        except ray.exceptions.RayTaskError as exc:  # the worker's own error, not Ray's
            raise exc.cause from None

    async def aclose(self) -> None:
        """Close the workers' engines, end the workers, and Ray if this pool started it."""
        ray = import_ray()
        live = [w.actor for w in self.workers if w.alive]
        if live:
            closing = [a.close.remote() for a in live]
            await asyncio.to_thread(ray.wait, closing, num_returns=len(closing), timeout=10)
        self._end_workers(ray)

    def _end_workers(self, ray: Any) -> None:
        for w in self.workers:
            ray.kill(w.actor)
        self.workers = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    # -- the executor ------------------------------------------------------------------------

    def status(self) -> str:
        live = sum(w.alive for w in self.workers)
        text = f"{self.counts.running} in flight on {live} workers"
        if self.counts.retried:
            text += f" · {self.counts.retried} re-run"
        return text

    async def run(self, task: Task, units: list[Unit], emit: Emit) -> None:
        """Run `units` on the workers, emitting every record to the driver's log."""
        ray = import_ray()
        if not self.workers:
            raise EvalError("RayPool.start() must be called before run()")
        task_ref = ray.put(task)  # one copy in the object store, fetched once per worker
        for w in self.workers:
            w.actor.set_task.remote(task_ref)
        pending: deque[Unit] = deque(units)
        attempts: Counter[tuple[str, str, int]] = Counter()
        flying: dict[asyncio.Future[Any], tuple[Unit, _Worker]] = {}
        try:
            while pending or flying:
                self._fill(pending, flying)
                if not flying:
                    raise EvalError(
                        f"every Ray worker died and {len(pending)} unit(s) are left; the log "
                        "keeps every finished unit: continue with --resume"
                    )
                done, _ = await asyncio.wait(flying, return_when=asyncio.FIRST_COMPLETED)
                for fut in done:
                    unit, worker = flying.pop(fut)
                    worker.busy -= 1
                    self.counts.running -= 1
                    self._settle(ray, fut, unit, worker, task_ref, pending, attempts, emit)
        finally:
            for fut in flying:  # Ctrl-C or an error: stop what is still running
                fut.cancel()
            self.counts.running = 0

    def _fill(self, pending: deque[Unit], flying: dict[asyncio.Future[Any], Any]) -> None:
        """Give every live worker units until it holds `max_connections` + 1 (one waiting)."""
        for w in self.workers:
            while w.alive and pending and w.busy <= self.max_connections:
                unit = pending.popleft()
                ref = w.actor.run.remote(unit)
                flying[asyncio.wrap_future(ref.future())] = (unit, w)
                w.busy += 1
                self.counts.running += 1

    def _settle(
        self,
        ray: Any,
        fut: asyncio.Future[Any],
        unit: Unit,
        worker: _Worker,
        task_ref: Any,
        pending: deque[Unit],
        attempts: Counter[tuple[str, str, int]],
        emit: Emit,
    ) -> None:
        exc = fut.exception()
        if exc is None:
            emit(fut.result())
            return
        if isinstance(exc, ray.exceptions.RayTaskError):
            # The worker is alive but its method failed outside the unit (e.g. its engine
            # could not be built): fatal, with the worker's own message.
            raise exc.cause from None
        if not isinstance(exc, ray.exceptions.RayActorError | ray.exceptions.WorkerCrashedError):
            raise exc
        if worker.alive:
            worker.alive = False
            self._replace(worker, task_ref)
        attempts[unit.key] += 1
        n = attempts[unit.key]
        final = n >= self.max_attempts
        why = WorkerDied(
            f"Ray worker {worker.index} died while running this unit (attempt {n} of "
            f"{self.max_attempts}; {'given up: --resume retries it' if final else 're-run'})"
        )
        emit(_error_record(unit, why, 0.0), final=final)
        if not final:
            self.counts.retried += 1
            pending.appendleft(unit)

    def _replace(self, dead: _Worker, task_ref: Any) -> None:
        """A new worker in place of a dead one, up to one replacement per worker per
        attempt, so a crash that repeats on every start (out of memory) ends the run."""
        if self.counts.replaced >= self._initial * self.max_attempts:
            return
        self.counts.replaced += 1
        fresh = self._spawn(len(self.workers))
        fresh.actor.set_task.remote(task_ref)
        self.workers.append(fresh)
