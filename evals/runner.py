"""The runner: every (configuration, sample, epoch) of a sweep, concurrently, into the log.

- Paired: every configuration runs on the same samples, and a sample's seed depends only
  on (run seed, sample id, epoch), never on the configuration, so configurations see the
  same random draws where their graphs agree (common random numbers).
- Bounded concurrency: at most `max_connections` queries in flight. With the local engine
  the queries' concurrent engine calls coalesce into shared batches, so this is also the
  batch-size knob.
- An error in one query (a ThinkfastError or any other exception) is recorded with the
  sample and the run goes on; `resume` reruns only the missing and errored units and
  appends to the same log, so a resumed run ends with the same records an uninterrupted
  run would have.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import EvalError, LogError
from .log import Header, LogWriter, Record, RunSpec, environment, latest_records, now_iso, read_log
from .sweep import Config
from .task import EvalSample, Task

if TYPE_CHECKING:  # imported when a run starts, so importing evals stays light
    from thinkfast.orchestrator import Answer, LatencyReport, UsageReport

__all__ = [
    "Unit",
    "RunResult",
    "unit_seed",
    "plan_units",
    "run_unit",
    "run_eval",
    "athink_solver",
    "Solver",
    "UnitExecutor",
    "Emit",
]

# A solver answers one question under one configuration with one seed, returning the
# orchestrator's Answer (anything else is recorded as an error of that unit). The default
# calls `thinkfast.orchestrator.athink`.
Solver = Callable[[str, Config, int], Awaitable["Answer"]]

# `emit(record)` logs a unit's final record; `emit(record, final=False)` logs an attempt
# that will be re-run (a Ray worker died), kept in the log but not counted as done.
Emit = Callable[..., None]


class UnitExecutor(Protocol):
    """Runs units somewhere else (evals.ray_runner runs them on Ray workers), handing every
    record back to the driver, which alone writes the log."""

    async def run(self, task: Task, units: list[Unit], emit: Emit) -> None: ...

    def status(self) -> str:
        """A few words for the progress bar (e.g. units running, workers)."""
        ...


@dataclass(frozen=True)
class Unit:
    config: Config
    sample: EvalSample
    epoch: int
    seed: int

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.config.id, self.sample.id, self.epoch)


@dataclass
class RunResult:
    log_dir: Path
    header: Header
    records: list[Record]  # latest record per unit
    ran: int = 0  # units run by this call (0 when a resume found nothing to do)
    errors: int = 0  # errored units run by this call


def unit_seed(seed: int, sample_id: str, epoch: int) -> int:
    """A 31-bit seed from (run seed, sample id, epoch), stable across processes."""
    digest = hashlib.blake2b(f"{seed}\x1f{sample_id}\x1f{epoch}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF


def plan_units(
    samples: Sequence[EvalSample], configs: Sequence[Config], epochs: int, seed: int
) -> list[Unit]:
    """All units, sample-major so running figures are comparable across configurations early."""
    return [
        Unit(config, sample, epoch, unit_seed(seed, sample.id, epoch))
        for epoch in range(epochs)
        for sample in samples
        for config in configs
    ]


def athink_solver(engine: Any, **run_options: Any) -> Solver:
    """Answer with `thinkfast.orchestrator.athink` on `engine`; `run_options` (e.g. `pack`)
    go to every query."""
    from thinkfast.orchestrator import athink

    async def solve(question: str, config: Config, seed: int) -> Answer:
        return await athink(
            question,
            strategy=config.strategy,
            engine=engine,
            seed=seed,
            **run_options,
            **config.options,
        )

    return solve


def _role_usage(usage: UsageReport) -> dict[str, dict[str, int]]:
    return {
        role: {
            "calls": u.calls,
            "prompt_tokens": u.prompt_tokens,
            "completion_tokens": u.completion_tokens,
            "cached_tokens": u.cached_tokens,
            "total_tokens": u.total_tokens,
        }
        for role, u in usage.by_role.items()
    }


def _latency(latency: LatencyReport) -> dict[str, Any]:
    return {
        "wall_s": latency.wall_s,
        "sum_of_calls_s": latency.sum_of_calls_s,
        "critical_path_s": latency.critical_path_s,
        "emulated": {
            profile: {"sum_of_calls_s": e.sum_of_calls_s, "critical_path_s": e.critical_path_s}
            for profile, e in latency.emulated.items()
        },
    }


def _record(unit: Unit, task: Task, answer: Answer) -> Record:
    from thinkfast.orchestrator import Answer

    if not isinstance(answer, Answer):
        raise EvalError(
            f"the solver returned {type(answer).__name__}; a solver must return a "
            "thinkfast Answer (as athink does)"
        )
    grade = task.grade(unit.sample, answer.answer, answer.text)
    # Only drafts count as candidates for coverage@k / maj@k: revisions of one chain are
    # not independent samples (self-refine's first draft still shows what refining changed).
    candidates = []
    for cand in answer.candidates:
        if cand.source not in ("draft", "draft_direct"):
            continue
        c_grade = task.grade(unit.sample, cand.answer, cand.text)
        candidates.append(
            {
                "id": cand.id,
                "source": cand.source,
                "answer": c_grade.answer if cand.answer is None else cand.answer,
                "correct": c_grade.correct,
            }
        )
    return Record(
        config=unit.config.id,
        sample_id=unit.sample.id,
        epoch=unit.epoch,
        seed=unit.seed,
        target=unit.sample.target,
        answer=answer.answer,
        text=answer.text,
        correct=grade.correct,
        score=grade.score,
        graded_answer=grade.answer,
        candidates=candidates,
        usage=_role_usage(answer.usage),
        tokens=answer.usage.total.total_tokens,
        latency=_latency(answer.latency),
        stopped_for_budget=answer.stopped_for_budget,
        flips=answer.flips,
        tie=answer.tie,
        warnings=list(answer.warnings),
        metadata=dict(unit.sample.metadata),
    )


async def run_unit(unit: Unit, task: Task, solver: Solver) -> Record:
    """One unit answered and graded, or its error: the one step a local run and a Ray
    worker share, so both write the same records."""
    start = time.perf_counter()
    try:
        answer = await solver(unit.sample.input, unit.config, unit.seed)
        return _record(unit, task, answer)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # recorded, never fatal: one bad sample must not end a sweep
        return _error_record(unit, exc, time.perf_counter() - start)


def _error_record(unit: Unit, exc: BaseException, wall_s: float) -> Record:
    return Record(
        config=unit.config.id,
        sample_id=unit.sample.id,
        epoch=unit.epoch,
        seed=unit.seed,
        target=unit.sample.target,
        latency={"wall_s": wall_s},
        metadata=dict(unit.sample.metadata),
        error={"type": type(exc).__name__, "message": str(exc) or repr(exc)},
    )


class _Tally:
    """Running figures for the progress bar."""

    def __init__(self) -> None:
        self.done = self.correct = self.graded = self.errors = self.tokens = 0

    def add(self, rec: Record) -> None:
        self.done += 1
        if rec.error is not None:
            self.errors += 1
            return
        self.graded += 1
        self.correct += bool(rec.correct)
        self.tokens += rec.tokens

    def line(self) -> str:
        acc = self.correct / self.graded if self.graded else math.nan
        tok = self.tokens / self.graded if self.graded else math.nan
        err = f" · {self.errors} errors" if self.errors else ""
        return f"acc {acc:.3f} · {tok:,.0f} tok/q{err}"


class _Progress:
    """A rich progress bar when rich is installed and the output is a terminal: done of
    total, the running tally, time elapsed and the estimated time left (rich's estimate
    from the recent pace, so a sweep of many problems says how long it will take)."""

    def __init__(self, total: int, enabled: bool, console: Any = None) -> None:
        self._bar = None
        if not enabled or total == 0:
            return
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
        except ImportError:
            return
        console = console or Console(stderr=True)
        if not console.is_terminal:
            return
        self._bar = Progress(
            TextColumn("[bold]eval"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task("starting", total=total)

    def advance(self, text: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=text)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


async def run_eval(
    task: Task,
    configs: Sequence[Config],
    solver: Solver | None,
    *,
    log_dir: str | Path,
    model: str,
    epochs: int = 1,
    seed: int = 0,
    limit: int | None = None,
    max_connections: int = 8,
    resume: bool = False,
    progress: bool = True,
    task_spec: str | None = None,
    engine_options: dict[str, Any] | None = None,
    argv: Sequence[str] = (),
    on_record: Callable[[Record], None] | None = None,
    executor: UnitExecutor | None = None,
) -> RunResult:
    """Run the grid on the task's first `limit` samples, `epochs` times each, into `log_dir`.

    With `resume`, `log_dir` must hold a log of the same specification; only its missing
    and errored units run. Returns the latest record of every unit. With `executor` the
    units run there (e.g. on Ray) instead of on `solver` here; the log is written here.
    """
    if (solver is None) == (executor is None):
        raise EvalError("give run_eval a solver or an executor (one of them)")
    if epochs < 1 or max_connections < 1:
        raise EvalError(
            f"epochs and max_connections must be >= 1 (got {epochs}, {max_connections})"
        )
    samples = list(task.samples[:limit] if limit else task.samples)
    spec = RunSpec(
        task=task_spec or task.name,
        task_options=task.params,
        sample_ids=[s.id for s in samples],
        configs=[c.model_dump() for c in configs],
        model=model,
        epochs=epochs,
        seed=seed,
        engine_options=engine_options or {},
    )
    log_dir = Path(log_dir)
    units = plan_units(samples, configs, epochs, seed)
    if resume:
        header, old = read_log(log_dir)
        diffs = spec.differences(header.spec)
        if diffs:
            raise LogError(
                f"{log_dir} holds a run of a different configuration; --resume needs the same "
                f"task, samples, strategies, options, model, epochs and seed. Differs: "
                + "; ".join(diffs)
            )
        done = {k for k, r in latest_records(old).items() if r.error is None}
        todo = [u for u in units if u.key not in done]
        writer = LogWriter(log_dir)
    else:
        header = Header(spec=spec, created=now_iso(), argv=list(argv), **environment())
        writer = LogWriter(log_dir, header)
        todo = units

    tally = _Tally()
    bar = _Progress(len(todo), progress)
    queue: asyncio.Queue[Unit] = asyncio.Queue()
    for unit in todo:
        queue.put_nowait(unit)
    errors = 0

    def emit(rec: Record, final: bool = True) -> None:
        nonlocal errors
        writer.write(rec)
        if not final:
            return
        errors += rec.error is not None
        tally.add(rec)
        bar.advance(tally.line() + (f" · {executor.status()}" if executor else ""))
        if on_record is not None:
            on_record(rec)

    async def worker() -> None:
        while True:
            try:
                unit = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            emit(await run_unit(unit, task, solver))

    if executor is not None:
        workers = [asyncio.create_task(executor.run(task, todo, emit))]
    else:
        workers = [asyncio.create_task(worker()) for _ in range(min(max_connections, len(todo)))]
    try:
        await asyncio.gather(*workers)
    finally:
        # On cancellation (Ctrl-C) stop the other workers too; what was written stays valid.
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        bar.close()
        writer.close()
    final_header, records = read_log(log_dir)
    latest = latest_records(records)
    return RunResult(
        log_dir=log_dir,
        header=final_header,
        records=[latest[u.key] for u in units if u.key in latest],
        ran=len(todo),
        errors=errors,
    )
