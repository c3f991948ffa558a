"""The same eval sweep locally and on a local 2-worker Ray runtime, side by side in one run.

Prints, for one sweep of the shipped model (one query at a time per engine, so a unit's
cost is the same on both sides):

- local: one engine in this process; wall, units/s, wall per unit (both sides warmed
  first on one sample per configuration: a process's first queries import the
  strategies and build their graphs, ~2 s per worker, printed apart);
- Ray: the start-up (ray.init and the workers loading their engines) apart from the
  sweep, then the sweep's wall, units/s, and the ratio local wall / Ray wall;
- Ray's overhead per unit (with --max-connections 1): Ray wall x workers / units minus the query's own wall on the
  worker, the time a worker slot spends per unit outside the query (submission, the
  record's trip back, the driver's bookkeeping); and an empty actor call's round trip,
  one at a time and pipelined. On a loaded box the query walls themselves grow (the
  workers share the cores with everything else), which the ratio shows and this does not;
- the driver's own cost per record: bytes of a record in the log and the time to write
  one (with and without fsync), which bound a sweep's driver, not its workers.

    OMP_NUM_THREADS=1 python benchmarks/eval_ray.py --size 16
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="arith-2")
    p.add_argument("--size", type=int, default=16, help="samples of the task")
    p.add_argument(
        "--strategy", action="append", default=None, help="default: single, best_of_n:n=4"
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--max-connections", type=int, default=1, help="queries in flight per engine")
    p.add_argument("--calls", type=int, default=200, help="empty actor calls to time")
    return p.parse_args(argv)


async def sweep(task, configs, log_dir, *, solver=None, executor=None, max_connections=1):
    from thinkfast.evals.runner import run_eval

    start = time.perf_counter()
    result = await run_eval(
        task,
        configs,
        solver,
        executor=executor,
        log_dir=log_dir,
        model="arith-tiny",
        max_connections=max_connections,
        progress=False,
    )
    return time.perf_counter() - start, result


def log_write_cost(record, n=2000) -> tuple[int, float, float]:
    """Bytes of one record in the log, and seconds to write one without and with fsync."""
    from thinkfast.evals import log as log_module
    from thinkfast.evals.log import Header, LogWriter, RunSpec

    header = Header(spec=RunSpec(task="t", sample_ids=["0"], configs=[], model="m"), created="now")
    size = len(record.model_dump_json()) + 1
    costs = []
    for fsync in (False, True):
        where = Path(tempfile.mkdtemp(prefix="eval_ray_log_"))
        log_module._FSYNC = fsync
        with LogWriter(where, header) as writer:
            count = n if not fsync else n // 10
            start = time.perf_counter()
            for _ in range(count):
                writer.write(record)
            costs.append((time.perf_counter() - start) / count)
        shutil.rmtree(where)
    log_module._FSYNC = False
    return size, costs[0], costs[1]


def actor_round_trip(ray, pool, calls: int) -> tuple[float, float]:
    """Seconds per empty call to a worker: one at a time, and `calls` in flight at once."""
    actor = pool.workers[0].actor
    ray.get(actor.pid.remote())
    start = time.perf_counter()
    for _ in range(calls):
        ray.get(actor.pid.remote())
    serial = (time.perf_counter() - start) / calls
    start = time.perf_counter()
    ray.get([actor.pid.remote() for _ in range(calls)])
    piped = (time.perf_counter() - start) / calls
    return serial, piped


async def main(argv=None) -> None:
    args = parse_args(argv)
    import ray
    from thinkfast.engine.local import LocalEngine
    from thinkfast.evals.ray_runner import RayPool
    from thinkfast.evals.runner import athink_solver
    from thinkfast.evals.sweep import expand_grid
    from thinkfast.evals.task import get_task

    task = get_task(args.task, size=args.size)
    configs = expand_grid(args.strategy or ["single", "best_of_n:n=4"])
    units = len(task) * len(configs)
    engine = functools.partial(LocalEngine, "arith-tiny", prefix_cache_bytes=0)
    tmp = Path(tempfile.mkdtemp(prefix="eval_ray_"))
    mc = args.max_connections
    print(f"sweep: {args.task} x {len(task)} samples x {len(configs)} configs = {units} units")
    print(f"cpu: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")

    # Both sides first answer one sample under every configuration: a process's first
    # queries import the strategies and build their graphs (seconds), once per worker.
    warm_task = get_task(args.task, size=1)
    solver = athink_solver(engine())
    local_warm, _ = await sweep(warm_task, configs, tmp / "warm-local", solver=solver)
    local_wall, local = await sweep(task, configs, tmp / "local", solver=solver, max_connections=mc)

    start = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False)
    init_s = time.perf_counter() - start
    pool = RayPool(engine, workers=args.workers, max_connections=mc)
    start = time.perf_counter()
    pool.start()
    workers_s = time.perf_counter() - start
    try:
        ray_warm, _ = await sweep(warm_task, configs, tmp / "warm-ray", executor=pool)
        ray_wall, on_ray = await sweep(
            task, configs, tmp / "ray", executor=pool, max_connections=mc
        )
        serial_rt, piped_rt = actor_round_trip(ray, pool, args.calls)
    finally:
        await pool.aclose()
        ray.shutdown()

    same = [(r.key, r.answer, r.correct) for r in local.records] == [
        (r.key, r.answer, r.correct) for r in on_ray.records
    ]
    per_unit = statistics.mean(r.latency["wall_s"] for r in local.records)
    per_unit_ray = statistics.mean(r.latency["wall_s"] for r in on_ray.records)
    tokens = statistics.mean(r.tokens for r in local.records)
    # a worker's time per unit outside the query itself: submission, the record's trip
    # back, the driver's bookkeeping (a loaded box's contention shows in the query walls)
    overhead = ray_wall * args.workers / units - per_unit_ray
    size, write_s, fsync_s = log_write_cost(local.records[-1])
    print(f"local   1 engine : wall {local_wall:7.2f} s  {units / local_wall:6.2f} units/s")
    print(
        f"ray     {args.workers} workers: wall {ray_wall:7.2f} s  {units / ray_wall:6.2f} "
        f"units/s  (+ start: ray.init {init_s:.1f} s, workers loaded {workers_s:.1f} s)"
    )
    print(f"ratio local wall / ray wall: {local_wall / ray_wall:.2f}x")
    print(
        f"warm-up (1 sample x {len(configs)} configs, imports and graph builds, untimed above): "
        f"local {local_warm:.1f} s, ray {ray_warm:.1f} s"
    )
    print(
        f"per unit: {tokens:.0f} tokens; query wall {1000 * per_unit:.1f} ms local, "
        f"{1000 * per_unit_ray:.1f} ms on a Ray worker"
    )
    if mc == 1:  # with several queries in flight per engine the slots overlap
        print(
            f"ray overhead per unit (ray wall x workers / units - query wall on Ray): "
            f"{1000 * overhead:.1f} ms"
        )
    print(
        f"empty actor call round trip: {1000 * serial_rt:.2f} ms one at a time, "
        f"{1000 * piped_rt:.3f} ms pipelined ({args.calls} calls)"
    )
    print(
        f"driver log: {size} bytes/record, write {1e6 * write_s:.1f} us/record, "
        f"with fsync {1e6 * fsync_s:.1f} us/record"
    )
    print(f"same answers and grades as the local run: {same}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    asyncio.run(main())
