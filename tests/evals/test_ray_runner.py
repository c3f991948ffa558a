"""Eval sweeps on a local Ray runtime (2 CPUs, started once for this module): the same
summary as a local run on the same seeds, a worker killed mid-run, a driver interrupted
mid-run and resumed, and the errors a user meets."""

import asyncio
import functools
import os
import random
import signal
import subprocess
import sys
import threading

import pytest
from thinkfast.engine.local import LocalEngine
from thinkfast.evals.errors import EvalError
from thinkfast.evals.log import read_log
from thinkfast.evals.ray_runner import RayPool, import_ray
from thinkfast.evals.report import summarize
from thinkfast.evals.runner import athink_solver, run_eval
from thinkfast.evals.sweep import expand_grid
from thinkfast.evals.task import get_task

from thinkfast.cli import main

ray = pytest.importorskip("ray")

SIZE = 8  # samples; x 2 configurations = 16 units
# The prompt cache is off on both sides: which worker's cache saw a prompt first decides
# its cached tokens (and the emulated time they save), not its answer.
ENGINE = functools.partial(LocalEngine, "arith-tiny", prefix_cache_bytes=0)


@pytest.fixture(scope="module")
def ray_runtime():
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def task():
    return get_task("arith-2", size=SIZE)


def grid():
    return expand_grid(["single", "best_of_n:n=3"])


@pytest.fixture(scope="module")
def local_log(tmp_path_factory):
    """The local run's log: one query at a time, as each Ray worker runs below."""
    log_dir = tmp_path_factory.mktemp("local")
    asyncio.run(
        run_eval(
            task(),
            grid(),
            athink_solver(ENGINE()),
            log_dir=log_dir,
            model="arith-tiny",
            max_connections=1,
            progress=False,
        )
    )
    return log_dir


@pytest.fixture(scope="module")
def reference(local_log):
    """The local run's summary."""
    return summarize(*read_log(local_log)).deterministic()


def test_the_summary_does_not_depend_on_the_order_of_the_log(local_log, reference):
    # Ray workers and a resumed run log units as they finish, not in the local run's order;
    # float sums over the records once differed in the last bit between the two
    header, records = read_log(local_log)
    for seed in range(50):  # summing in a shuffled order changed a float for a few of these
        shuffled = random.Random(seed).sample(records, len(records))
        assert summarize(header, shuffled).deterministic() == reference, seed


async def run_on_ray(log_dir, on_record_of=None, the_task=None, max_attempts=3):
    """The same sweep on two Ray workers; `on_record_of(pool)` gives the record callback."""
    pool = RayPool(ENGINE, workers=2, max_connections=1, max_attempts=max_attempts)
    info = pool.start()
    try:
        result = await run_eval(
            the_task or task(),
            grid(),
            None,
            executor=pool,
            log_dir=log_dir,
            model=info.model,
            max_connections=1,
            progress=False,
            on_record=on_record_of(pool) if on_record_of else None,
        )
    finally:
        await pool.aclose()
    return pool, result


def kill_worker_0_after(n_records, killed):
    """A record callback factory that kills worker 0 once `n_records` are in."""

    def on_record_of(pool):
        seen = []

        def on_record(rec):
            seen.append(rec)
            if len(seen) == n_records:
                ray.kill(pool.workers[0].actor, no_restart=True)
                killed.append(pool.workers[0].index)

        return on_record

    return on_record_of


async def test_same_summary_as_a_local_run(ray_runtime, reference, tmp_path):
    pool, result = await run_on_ray(tmp_path)
    _, records = read_log(tmp_path)
    assert len(records) == 2 * SIZE and all(r.error is None for r in records)
    assert summarize(result.header, result.records).deterministic() == reference
    assert pool.counts.retried == 0
    assert ray.is_initialized()  # a runtime the pool did not start is left running


async def test_a_killed_worker_has_its_units_rerun(ray_runtime, reference, tmp_path):
    killed = []
    pool, result = await run_on_ray(tmp_path, kill_worker_0_after(2, killed))
    assert killed == [0]
    _, records = read_log(tmp_path)
    died = [r for r in records if r.error is not None]
    # the lost attempts are in the log, each superseded by its re-run's record
    assert died and all(r.error["type"] == "WorkerDied" for r in died)
    assert all("re-run" in r.error["message"] for r in died)
    assert pool.counts.retried == len(died) and pool.counts.replaced == 1
    assert len(result.records) == 2 * SIZE and all(r.error is None for r in result.records)
    assert result.errors == 0
    assert summarize(result.header, result.records).deterministic() == reference


async def test_a_unit_out_of_attempts_is_logged_as_an_error_not_dropped(ray_runtime, tmp_path):
    killed = []
    small = get_task("arith-2", size=3)
    pool, result = await run_on_ray(
        tmp_path, kill_worker_0_after(1, killed), the_task=small, max_attempts=1
    )
    assert killed == [0]
    assert len(result.records) == 6  # every unit has its record
    lost = [r for r in result.records if r.error is not None]
    assert lost and result.errors == len(lost) and pool.counts.retried == 0
    assert all(r.error["type"] == "WorkerDied" for r in lost)
    assert all("given up: --resume retries it" in r.error["message"] for r in lost)
    summary = summarize(result.header, result.records)
    assert sum(c.errors for c in summary.configs) == len(lost)  # the report counts them


# The driver below is the real CLI with one hook: right after its 3rd record is written it
# stops itself (SIGSTOP), so the test presses Ctrl-C while the run is provably mid-way. The
# whole sweep takes under a second once records flow, so polling the log and then sending
# SIGINT raced the driver: a test process stalled that long under load signalled a driver
# that had already finished (exit 0, all 16 records) or was printing its summary.
# It also puts SIGINT back to Python's default: a test run launched in the background
# (nohup, a CI runner) starts with SIGINT ignored, which the driver would inherit, and
# then a Ctrl-C does nothing, where at a terminal it interrupts.
STOPPING_DRIVER = """
import os, signal, sys
from thinkfast.evals.log import LogWriter
from thinkfast.cli import main

signal.signal(signal.SIGINT, signal.default_int_handler)

write, written = LogWriter.write, []

def write_then_stop(self, record):
    write(self, record)
    written.append(record)
    if len(written) == 3:
        os.kill(os.getpid(), signal.SIGSTOP)

LogWriter.write = write_then_stop
sys.exit(main(sys.argv[1:]))
"""


def wait_until_stopped(pid, timeout_s):
    """The child's wait status once it stops (or exits); None if neither within timeout_s.
    Waits in a thread, since waitpid has no timeout of its own."""
    status = []
    waiter = threading.Thread(
        target=lambda: status.append(os.waitpid(pid, os.WUNTRACED)[1]), daemon=True
    )
    waiter.start()
    waiter.join(timeout_s)
    return status[0] if status else None


def test_interrupted_driver_leaves_a_resumable_log(ray_runtime, reference, tmp_path):
    log_dir = tmp_path / "run"
    argv = [
        *("eval", "run", "arith-2", "-T", f"size={SIZE}"),
        *("--strategy", "single", "--strategy", "best_of_n:n=3"),
        *("--prefix-cache-mib", "0", "--max-connections", "1", "--no-progress"),
        *("--ray", ray_runtime, "--ray-workers", "2"),
    ]
    err_path = tmp_path / "driver.err"
    # files, not pipes: nobody reads a pipe while the test waits, so a chatty driver
    # could fill one and block before it ever reaches its 3rd record
    with err_path.open("w") as err_file:
        driver = subprocess.Popen(
            [sys.executable, "-c", STOPPING_DRIVER, *argv, "--log-dir", str(log_dir)],
            stdout=subprocess.DEVNULL,
            stderr=err_file,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
    try:
        status = wait_until_stopped(driver.pid, timeout_s=600)
        assert status is not None, "the driver neither stopped after 3 records nor exited"
        assert os.WIFSTOPPED(status), f"driver ended early: {err_path.read_text()}"
        driver.send_signal(signal.SIGINT)  # Ctrl-C, pending until the driver runs again
        driver.send_signal(signal.SIGCONT)
        driver.wait(timeout=300)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    err = err_path.read_text()
    assert driver.returncode == 130, err
    assert f"--resume {log_dir}" in err
    _, kept = read_log(log_dir)
    assert 3 <= len(kept) < 2 * SIZE

    assert main([*argv, "--resume", str(log_dir), "--json"]) == 0
    header, records = read_log(log_dir)
    done = [r for r in records if r.error is None]
    assert len({r.key for r in done}) == len(done) == 2 * SIZE  # nothing twice, none missing
    assert summarize(header, records).deterministic() == reference


def test_an_engine_a_worker_cannot_load_is_one_error_line(ray_runtime, capsys):
    argv = ["eval", "run", "arith-1", "--limit", "1", "-m", "/no/such/model"]
    rc = main([*argv, "--ray", ray_runtime, "--ray-workers", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "could not build its engine" in err and "/no/such/model" in err
    assert "Traceback" not in err


def test_ray_option_errors_say_what_is_accepted(monkeypatch, capsys):
    # an argument that is no address (the task given after a bare --ray)
    rc = main(["eval", "run", "--ray", "arith-1", "arith-1"])
    err = capsys.readouterr().err
    assert rc == 2 and "is not a Ray address" in err and "ray://HOST:PORT" in err
    rc = main(["eval", "run", "arith-1", "--ray-workers", "2"])
    assert rc == 2 and "--ray-workers needs --ray" in capsys.readouterr().err
    # without Ray installed, --ray says how to install it
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(EvalError, match=r"pip install .*\[ray\]"):
        import_ray()
