"""Throughput of the embedded engine on SQLite: durable steps per second, executions per second.

``measure(n_steps, synchronous)`` runs one workflow of ``n_steps`` sequential steps on a fresh
database and returns steps per second (each step is one checkpoint: one transaction, one WAL
commit, synced as ``synchronous`` says). ``measure_executions(n)`` starts ``n`` short workflows,
then lets one ``Worker`` run them all, and returns executions per second.
``measure_emulator(n_steps)`` runs the same ``n_steps``-step workflow through durable_gen's
Lambda handler on AWS's local emulator (``dex-local-runner`` from
``aws-durable-execution-sdk-python-testing``) with its SQLite store, and returns steps per second
from the start of the execution to its completion. It uses the emulator harness in
``tests/integration/aws``, so run the module from the repository root:

    python -m benchmarks.sqlite_throughput

``python -m benchmarks.sqlite_throughput --floor`` instead sets executions of 1,000 steps on
SQLite FULL beside the disk's fsync floor (``sqlite_floors``: one INSERT and COMMIT per
transaction, WAL, FULL, on a fresh file and on a reused WAL), measured right before and right
after each run, over several rounds: steps per second, user and system CPU per step, and the
run's share of the floor around it, as medians with the lowest and highest. ``--against DIR``
interleaves the same runs of another checkout (its ``src``), for a before/after comparison in
one run.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import durable_gen as dg
from durable_gen.local import SqliteStore, Worker
from durable_gen.local._sqlite import Synchronous

__all__ = ["measure", "measure_emulator", "measure_executions", "sqlite_floor", "sqlite_floors"]


@dg.step
def increment(x: int) -> int:
    return x + 1


@dg.workflow
def sequential(n: int):  # type: ignore[no-untyped-def]
    x = 0
    for _ in range(n):
        x = yield increment(x)
    return x


@dg.workflow
def short(x: int):  # type: ignore[no-untyped-def]
    y = yield increment(x)
    return (yield increment(y))


def measure(n_steps: int, synchronous: Synchronous = "FULL") -> float:
    """Durable sequential steps per second of one execution of ``n_steps`` steps on SQLite."""
    with tempfile.TemporaryDirectory(prefix="dg-bench-") as tmp:
        store = SqliteStore(Path(tmp) / "bench.db", synchronous=synchronous)
        try:
            with Worker(store) as worker:
                name = worker.register(sequential)
                arn = worker.service.start(name, str(n_steps))
                started = time.perf_counter()
                record = worker.drive(arn)
                elapsed = time.perf_counter() - started
        finally:
            store.close()
    _check(record, str(n_steps))
    return n_steps / elapsed


def measure_executions(n: int, synchronous: Synchronous = "FULL") -> float:
    """Executions per second: ``n`` two-step workflows started, then run by one worker."""
    with tempfile.TemporaryDirectory(prefix="dg-bench-") as tmp:
        store = SqliteStore(Path(tmp) / "bench.db", synchronous=synchronous)
        try:
            with Worker(store) as worker:
                name = worker.register(short)
                arns = [worker.service.start(name, str(i)) for i in range(n)]
                started = time.perf_counter()
                worker.run(once=True)
                elapsed = time.perf_counter() - started
                records = [worker.service.get_execution(arn) for arn in arns]
        finally:
            store.close()
    for i, record in enumerate(records):
        _check(record, str(i + 2))
    return n / elapsed


def measure_emulator(n_steps: int) -> float:
    """Steps per second of one ``n_steps``-step execution on AWS's emulator, SQLite store.

    The emulator runs as a subprocess on 127.0.0.1 with ``--store-type sqlite`` on a fresh
    temporary database; the handler is ``durable_gen.aws.lambda_handler(sequential)``, called on
    an in-process Lambda ``Invoke`` endpoint, checkpointing every step through the emulator's
    boto3 client. Timed from ``start`` to the moment the execution is seen completed (polled
    every millisecond).
    """
    from tests.integration.aws.emulator import running_emulator

    from durable_gen.aws import lambda_handler

    with tempfile.TemporaryDirectory(prefix="dg-bench-emu-") as tmp:
        store_path = str(Path(tmp) / "emulator-store")
        with running_emulator(store_type="sqlite", store_path=store_path) as (emulator, endpoint):
            endpoint.register("sequential", lambda_handler(sequential, client=emulator.client))
            started = time.perf_counter()
            arn = emulator.start("sequential", n_steps)
            outcome = emulator.wait(arn, timeout=600, poll=0.001)
            elapsed = time.perf_counter() - started
    if outcome.status != "SUCCEEDED" or outcome.json() != n_steps:
        raise AssertionError(f"the emulator run ended {outcome.status}: {outcome.result}")
    return n_steps / elapsed


def sqlite_floor(directory: str | os.PathLike[str], n: int = 200) -> float:
    """Commits per second of one INSERT per transaction on a fresh SQLite file in
    ``directory`` (WAL, ``synchronous=FULL``): the most a durable step can do on this disk."""
    return sqlite_floors(directory, n, steady=False)[0]


def sqlite_floors(
    directory: str | os.PathLike[str], n: int = 200, *, steady: bool = True
) -> tuple[float, float]:
    """The floor of a fresh file (``sqlite_floor``), and with ``steady`` the same once the WAL
    is reused: commits per second of the first ``n`` transactions, and of ``n`` more after
    the WAL was checkpointed and started over (0.0 without ``steady``).

    The first commits of a fresh file grow the WAL, and a sync that also grows a file costs
    more than one that overwrites it (about 2.5x on this disk). A long execution runs on a
    reused WAL (SQLite starts it over after each checkpoint, every 1,000 pages: 217 steps of
    ours), so the steady floor is the one it is held to; the fresh one is what the figures
    of earlier rounds used. The steady floor pays no checkpoint (its commits fit in the WAL);
    a step pays its share of them.
    """
    path = Path(directory) / f"floor-{time.time_ns()}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t (i INTEGER)")

        def commits(first: int, count: int) -> float:
            started = time.perf_counter()
            for i in range(first, first + count):
                conn.execute("BEGIN")
                conn.execute("INSERT INTO t VALUES (?)", (i,))
                conn.execute("COMMIT")
            return count / (time.perf_counter() - started)

        fresh = commits(0, n)
        if not steady:
            return fresh, 0.0
        commits(n, n)  # a WAL twice as long as the measured commits need
        conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()  # the next write starts it over
        return fresh, commits(2 * n, n)
    finally:
        conn.close()


#: One run, in a process of its own (so that another checkout can be imported): prints JSON.
#: Two executions one after the other on the same file: the first on a fresh file (its WAL
#: grows), the second on the reused WAL; the CPU figures are the second's.
_ONE_RUN = """
import json, os, sys, time
from pathlib import Path
from durable_gen.local import SqliteStore, Worker
from benchmarks.sqlite_throughput import sequential
n, directory, synchronous = int(sys.argv[1]), sys.argv[2], sys.argv[3]
store = SqliteStore(Path(directory) / f"run-{time.time_ns()}.db", synchronous=synchronous)
out = {}
with Worker(store) as worker:
    name = worker.register(sequential)
    for phase in ("fresh", "steady"):
        arn = worker.service.start(name, str(n))
        t0, c0 = time.perf_counter(), os.times()
        record = worker.drive(arn)
        elapsed, c1 = time.perf_counter() - t0, os.times()
        assert record.result == str(n), record
        out[phase] = n / elapsed
    out["user"] = (c1.user - c0.user) / n * 1e6
    out["system"] = (c1.system - c0.system) / n * 1e6
store.close()
print(json.dumps(out))
"""


def against_floor(
    trees: dict[str, str],
    rounds: int = 7,
    n_steps: int = 1000,
    synchronous: Synchronous = "FULL",
) -> str:
    """Executions of ``n_steps`` steps on SQLite FULL per tree and round, interleaved, with
    the fsync floors measured right before and after each run; a Markdown table.

    Each run is two executions on one file: the first on a fresh file, set beside the floor
    of a fresh file (``sqlite_floor``, as in earlier rounds), the second on the reused WAL,
    set beside the steady floor (``sqlite_floors``). With ``synchronous="NORMAL"`` (commits
    not synced: what a step costs besides the fsync) no floor is measured, and the table
    gives the second execution's rate and CPU only.
    """
    if synchronous == "NORMAL":
        return _cpu_table(trees, rounds, n_steps)
    keys = ("fresh", "steady", "user", "system", "share", "steady share")
    found: dict[str, dict[str, list[float]]] = {tree: {k: [] for k in keys} for tree in trees}
    floors: list[float] = []
    steady_floors: list[float] = []
    with tempfile.TemporaryDirectory(prefix="dg-bench-floor-", dir=os.getcwd()) as tmp:
        for _ in range(rounds):
            for tree, root in trees.items():
                before = sqlite_floors(tmp)
                env = dict(os.environ, PYTHONPATH=os.pathsep.join([f"{root}/src", root]))
                out = subprocess.run(
                    [sys.executable, "-c", _ONE_RUN, str(n_steps), tmp, synchronous],
                    env=env,
                    cwd=root,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                after = sqlite_floors(tmp)
                floors += [before[0], after[0]]
                steady_floors += [before[1], after[1]]
                run = json.loads(out)
                got = found[tree]
                for key in ("fresh", "steady", "user", "system"):
                    got[key].append(run[key])
                got["share"].append(run["fresh"] / ((before[0] + after[0]) / 2))
                got["steady share"].append(run["steady"] / ((before[1] + after[1]) / 2))

    lines = [
        f"Executions of {n_steps:,} steps, SQLite FULL, {rounds} rounds interleaved; floor "
        f"{_spread(floors, ',.0f')} commits/s on a fresh file, {_spread(steady_floors, ',.0f')} "
        "on a reused WAL. Medians (lowest to highest).",
        "",
        "| code | steps/s, fresh file | share of the fresh floor | steps/s, reused WAL "
        "| share of the steady floor | user CPU µs/step | system CPU µs/step |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for tree, got in found.items():
        lines.append(
            f"| {tree} | {_spread(got['fresh'], ',.0f')} | {_spread(got['share'], '.0%')} "
            f"| {_spread(got['steady'], ',.0f')} | {_spread(got['steady share'], '.0%')} "
            f"| {_spread(got['user'], '.0f')} | {_spread(got['system'], '.0f')} |"
        )
    return "\n".join(lines)


def _cpu_table(trees: dict[str, str], rounds: int, n_steps: int) -> str:
    """``against_floor`` with ``synchronous=NORMAL``: rates and CPU, no floor."""
    found: dict[str, list[dict[str, float]]] = {tree: [] for tree in trees}
    with tempfile.TemporaryDirectory(prefix="dg-bench-cpu-", dir=os.getcwd()) as tmp:
        for _ in range(rounds):
            for tree, root in trees.items():
                env = dict(os.environ, PYTHONPATH=os.pathsep.join([f"{root}/src", root]))
                out = subprocess.run(
                    [sys.executable, "-c", _ONE_RUN, str(n_steps), tmp, "NORMAL"],
                    env=env,
                    cwd=root,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                found[tree].append(json.loads(out))
    lines = [
        f"Executions of {n_steps:,} steps, SQLite NORMAL (no fsync), {rounds} rounds "
        "interleaved, the second of each run (reused WAL). Medians (lowest to highest).",
        "",
        "| code | steps/s | user CPU µs/step | system CPU µs/step | CPU µs/step |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for tree, runs in found.items():
        lines.append(
            f"| {tree} | {_spread([r['steady'] for r in runs], ',.0f')} "
            f"| {_spread([r['user'] for r in runs], '.0f')} "
            f"| {_spread([r['system'] for r in runs], '.0f')} "
            f"| {_spread([r['user'] + r['system'] for r in runs], '.0f')} |"
        )
    return "\n".join(lines)


def _spread(values: list[float], fmt: str) -> str:
    """The median of ``values`` with their lowest and highest."""
    ordered = sorted(values)
    return f"{statistics.median(ordered):{fmt}} ({ordered[0]:{fmt}} to {ordered[-1]:{fmt}})"


def _check(record: Any, result: str) -> None:
    if record.status != "SUCCEEDED" or record.result != result:
        raise AssertionError(f"the benchmark workflow ended {record.status}: {record.result}")


EMULATOR_STEPS = 200  # about 11 s per run on the emulator
EXECUTIONS = 1_000
REPEAT = 3


def _median(run: Callable[[], float], repeat: int = REPEAT) -> float:
    return statistics.median(run() for _ in range(repeat))


def main(argv: list[str] | None = None) -> None:
    """Print the throughput table, then the SQLite comparison against AWS's emulator.

    Every figure is the median of ``REPEAT`` runs. With ``--floor``, the table of one
    execution beside the fsync floor instead.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--floor", action="store_true", help="one execution beside the floor")
    parser.add_argument("--rounds", type=int, default=7, help="with --floor: rounds")
    parser.add_argument("--steps", type=int, default=1000, help="with --floor: steps")
    parser.add_argument("--against", metavar="DIR", help="with --floor: another checkout too")
    parser.add_argument(
        "--normal",
        action="store_true",
        help="with --floor: synchronous=NORMAL, CPU only (what a step costs besides the fsync)",
    )
    args = parser.parse_args(argv)
    if args.floor:
        here = str(Path(__file__).resolve().parent.parent)
        trees = {"this checkout": here}
        if args.against:
            trees[f"{args.against}"] = str(Path(args.against).resolve())
        sync: Synchronous = "NORMAL" if args.normal else "FULL"
        print(against_floor(trees, args.rounds, args.steps, sync))
        return
    print("| workload | per second |")
    print("| --- | ---: |")
    for sync in ("FULL", "NORMAL"):
        for n in (100, 1000):
            print(f"| {n} sequential steps, synchronous={sync} | {measure(n, sync):,.0f} steps |")
    for n in (100, 500):
        print(f"| {n} two-step executions, one worker | {measure_executions(n):,.0f} executions |")

    n = EMULATOR_STEPS
    full = _median(lambda: measure(n, "FULL"))
    normal = _median(lambda: measure(n, "NORMAL"))
    emulator = _median(lambda: measure_emulator(n))
    executions = _median(lambda: measure_executions(EXECUTIONS, "FULL"))
    print()
    print(f"SQLite store, {n} sequential steps, median of {REPEAT} runs")
    print("| store | steps per second | ratio to the emulator |")
    print("| --- | ---: | ---: |")
    print(f"| durable_gen SqliteStore, synchronous=FULL | {full:,.0f} | {full / emulator:,.1f}x |")
    print(
        f"| durable_gen SqliteStore, synchronous=NORMAL | {normal:,.0f} "
        f"| {normal / emulator:,.1f}x |"
    )
    print(f"| AWS dex-local-runner, --store-type sqlite | {emulator:,.1f} | 1.0x |")
    print(
        f"| {EXECUTIONS:,} two-step executions, one worker, synchronous=FULL "
        f"| {executions:,.0f} executions per second | |"
    )


if __name__ == "__main__":
    main()
