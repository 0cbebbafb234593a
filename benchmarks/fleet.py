"""Durable steps on SQLite (``synchronous=FULL``) and on Postgres: durable_gen beside DBOS.

Rows, each side by side in one run, with the disk's own floor measured right before and right
after each row (this disk's fsync rate swings by 10x within minutes, so only figures taken
together compare; when the two floors differ widely, the row's ratio to the floor means little):

- one workflow of 100 and of 1,000 sequential steps (steps per second);
- 1,000 two-step executions (executions per second, from the first start to the last end);
- durable steps per second with 1, 8 and 64 executions of 20 steps running at once on one
  worker (ours: ``Worker(concurrency=N)``; DBOS: ``DBOS.start_workflow`` N times).

``--long`` prints instead what one step costs in one execution as it grows: one workflow of
1,000, 10,000 and 100,000 sequential steps (``--sizes`` to choose), ours only, on SQLite FULL
and on Postgres, in microseconds per step over the whole execution and over its last 1,000
steps (wall time, this process's CPU time and, on Postgres, the server's), each run between
two floor measurements.

The floor is one ``INSERT`` and ``COMMIT`` per step on the same kind of store: a SQLite file in
WAL mode with ``synchronous=FULL``, or the Postgres server (``fsync`` and
``synchronous_commit`` on). The Postgres server is a throwaway cluster on 127.0.0.1 started
from the distribution's binaries (``tests/postgres/server.py``), so run from the repository
root:

    python -m benchmarks.fleet            # everything: several minutes
    python -m benchmarks.fleet --quick    # 100 steps, 200 executions, 1 and 8 at once
    python -m benchmarks.fleet --long     # cost per step at 1k, 10k and 100k steps
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import durable_gen as dg
from durable_gen.local import Worker

from .sqlite_throughput import sequential, short, sqlite_floor

__all__ = ["main"]


class Databases:
    """Fresh databases of each kind: SQLite files in a temporary directory, Postgres databases
    on a throwaway durable cluster."""

    def __init__(self) -> None:
        from tests.postgres.server import Cluster, find_bindir

        self._tmp = tempfile.TemporaryDirectory(prefix="dg-fleet-bench-")
        self._n = 0
        bindir = find_bindir()
        self.cluster = None if bindir is None else Cluster(bindir, durable=True)

    def new(self, kind: str) -> str:
        self._n += 1
        if kind == "sqlite":
            return f"sqlite:///{self._tmp.name}/db{self._n}.sqlite"
        assert self.cluster is not None
        return self.cluster.create_database("bench")

    @property
    def directory(self) -> str:
        """Where the SQLite files are."""
        return self._tmp.name

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.remove()
        self._tmp.cleanup()


# --- the floor --------------------------------------------------------------------------------


def floor(kind: str, dbs: Databases, n: int = 200) -> float:
    """Commits per second of one INSERT per transaction: the most a durable step can do."""
    if kind == "sqlite":
        return sqlite_floor(dbs.directory, n)
    url = dbs.new(kind)
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute("CREATE TABLE t (i INTEGER)")
        started = time.perf_counter()
        for i in range(n):
            with pg.transaction():
                pg.execute("INSERT INTO t VALUES (%s)", (i,))
        return n / (time.perf_counter() - started)


# --- ours -------------------------------------------------------------------------------------


def ours_steps(url: str, n: int) -> float:
    with Worker(url) as worker:
        name = worker.register(sequential)
        arn = worker.service.start(name, str(n))
        started = time.perf_counter()
        record = worker.drive(arn)
        elapsed = time.perf_counter() - started
    _expect(record.result, str(n))
    return n / elapsed


def ours_executions(url: str, n: int) -> float:
    with Worker(url) as worker:
        name = worker.register(short)
        started = time.perf_counter()
        arns = [worker.service.start(name, str(i)) for i in range(n)]
        worker.run(once=True)
        elapsed = time.perf_counter() - started
        results = [worker.service.get_execution(arn).result for arn in arns]
    for i, result in enumerate(results):
        _expect(result, str(i + 2))
    return n / elapsed


def ours_concurrent(url: str, executions: int, steps: int) -> float:
    with Worker(url) as starter:
        name = starter.register(sequential)
        arns = [starter.service.start(name, str(steps)) for _ in range(executions)]
        started = time.perf_counter()
        with Worker(url, concurrency=executions) as worker:
            worker.run(once=True)
        elapsed = time.perf_counter() - started
        results = [starter.service.get_execution(arn).result for arn in arns]
    for result in results:
        _expect(result, str(steps))
    return executions * steps / elapsed


#: ``(x, wall, process CPU, server CPU)`` at every 1,000th step of ``marked`` (see ``long_rows``).
_MARKS: list[tuple[int, float, float, float]] = []


def _no_server() -> float:
    return 0.0


#: Reads the server's CPU seconds so far (Postgres), or 0 (SQLite: the server is this process).
_server_cpu: Callable[[], float] = _no_server


@dg.step
def counted(x: int) -> int:
    if x % 1000 == 0:
        _MARKS.append((x, time.perf_counter(), time.process_time(), _server_cpu()))
    return x + 1


@dg.workflow
def marked(n: int):  # type: ignore[no-untyped-def]
    x = 0
    for _ in range(n):
        x = yield counted(x)
    return x


def cluster_cpu(data_dir: Any) -> Callable[[], float]:
    """CPU seconds (user and system) of a Postgres cluster's processes so far (Linux /proc)."""
    postmaster = int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path("/proc", entry, "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(entry) == postmaster or int(fields[1]) == postmaster:
                total += int(fields[11]) + int(fields[12])
        return total / tick

    return read


class StepCost(NamedTuple):
    """Microseconds per step of one execution: over all of it, and over its last 1,000 steps."""

    wall: float
    cpu: float
    server_cpu: float
    tail_wall: float
    tail_cpu: float
    tail_server_cpu: float


def ours_step_cost(url: str, n: int, server_cpu: Callable[[], float] | None = None) -> StepCost:
    """What a step of one workflow of ``n`` steps costs: wall time, this process's CPU time and
    the server's (``server_cpu``, if given), over the whole execution and its last 1,000."""
    global _server_cpu
    _server_cpu = server_cpu or _no_server
    _MARKS.clear()
    with Worker(url) as worker:
        name = worker.register(marked)
        arn = worker.service.start(name, str(n))
        start = (0, time.perf_counter(), time.process_time(), _server_cpu())
        record = worker.drive(arn)
        end = (n, time.perf_counter(), time.process_time(), _server_cpu())
    _expect(record.result, str(n))
    # The last 1,000 steps (or a few more when n is not a multiple of 1,000).
    tail = [mark for mark in _MARKS if mark[0] <= max(0, n - 1000)][-1]

    def per_step(
        a: tuple[int, float, float, float], b: tuple[int, float, float, float]
    ) -> list[float]:
        steps = b[0] - a[0]
        return [(b[i] - a[i]) / steps * 1e6 for i in (1, 2, 3)]

    return StepCost(*per_step(start, end), *per_step(tail, end))


def long_rows(dbs: Databases, kinds: list[str], sizes: list[int]) -> None:
    """Print what a step costs in one execution of each size, on each kind of store."""
    print(
        "| store | steps in the execution | µs per step | CPU µs per step "
        "| last 1,000 steps: µs, CPU µs per step "
        "| floor before / after (commits/s) | floor µs per commit (mean) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind in kinds:
        store = "SQLite FULL" if kind == "sqlite" else "Postgres"
        server = None
        if kind == "postgres" and dbs.cluster is not None and sys.platform == "linux":
            server = cluster_cpu(dbs.cluster.data)
        for n in sizes:
            before = floor(kind, dbs)
            cost = ours_step_cost(dbs.new(kind), n, server)
            after = floor(kind, dbs)
            per_commit = 2e6 / (before + after)
            cpu = f"{cost.cpu:,.0f}"
            tail = f"{cost.tail_wall:,.0f}, {cost.tail_cpu:,.0f}"
            if server is not None:  # the server's CPU beside ours
                cpu += f" + server {cost.server_cpu:,.0f}"
                tail += f" + server {cost.tail_server_cpu:,.0f}"
            print(
                f"| {store} | {n:,} | {cost.wall:,.0f} | {cpu} | {tail} "
                f"| {before:,.0f} / {after:,.0f} | {per_commit:,.0f} |",
                flush=True,
            )


# --- DBOS -------------------------------------------------------------------------------------


def dbos_steps(url: str, n: int) -> float:
    from ._dbos_side import launched, sequential

    with launched(url):
        started = time.perf_counter()
        result = sequential(n)
        elapsed = time.perf_counter() - started
    _expect(str(result), str(n))
    return n / elapsed


def dbos_executions(url: str, n: int) -> float:
    from ._dbos_side import launched, short

    with launched(url):
        started = time.perf_counter()
        results = [short(i) for i in range(n)]
        elapsed = time.perf_counter() - started
    for i, result in enumerate(results):
        _expect(str(result), str(i + 2))
    return n / elapsed


def dbos_concurrent(url: str, executions: int, steps: int) -> float:
    from dbos import DBOS

    from ._dbos_side import launched, sequential

    with launched(url):
        started = time.perf_counter()
        handles = [DBOS.start_workflow(sequential, steps) for _ in range(executions)]
        results = [handle.get_result() for handle in handles]
        elapsed = time.perf_counter() - started
    for result in results:
        _expect(str(result), str(steps))
    return executions * steps / elapsed


def _expect(got: Any, want: str) -> None:
    if got != want:
        raise AssertionError(f"the benchmark workflow returned {got!r}, not {want!r}")


# --- the table --------------------------------------------------------------------------------


def _row(
    label: str,
    unit: str,
    kind: str,
    dbs: Databases,
    ours: Callable[[str], float],
    theirs: Callable[[str], float] | None,
) -> str:
    """One row: the floor, ours, DBOS's, the floor again (its rate moves within seconds)."""
    before = floor(kind, dbs)
    mine = ours(dbs.new(kind))
    other = theirs(dbs.new(kind)) if theirs is not None else None
    after = floor(kind, dbs)
    fl = (before + after) / 2
    ratio = f"{mine / other:.1f}x" if other else "-"
    other_text = f"{other:,.0f}" if other is not None else "-"
    per_floor = f"{mine / fl:.0%}" if unit == "steps/s" else "-"
    floors = f"{before:,.0f} / {after:,.0f}"
    return f"| {label} | {unit} | {mine:,.0f} | {other_text} | {ratio} | {floors} | {per_floor} |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--ours-only", action="store_true", help="skip DBOS")
    parser.add_argument(
        "--long", action="store_true", help="cost per step of one growing execution instead"
    )
    parser.add_argument(
        "--sizes",
        default="1000,10000,100000",
        help="with --long: the execution sizes, comma-separated (default 1000,10000,100000)",
    )
    parser.add_argument(
        "--stores", default="sqlite,postgres", help="with --long: sqlite, postgres or both"
    )
    args = parser.parse_args(argv)
    # Stopped with SIGTERM, still remove the throwaway cluster (the finally below).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    have_dbos = not args.ours_only
    if have_dbos:
        try:
            import dbos  # noqa: F401
        except ImportError:
            print("dbos is not installed (pip install -e '.[bench]'): ours only")
            have_dbos = False
    steps = (100,) if args.quick else (100, 1000)
    executions = 200 if args.quick else 1000
    concurrency = (1, 8) if args.quick else (1, 8, 64)
    dbs = Databases()
    kinds = ["sqlite"] + (["postgres"] if dbs.cluster is not None else [])
    if args.long:
        try:
            wanted = [k for k in kinds if k in args.stores.split(",")]
            long_rows(dbs, wanted, [int(size) for size in args.sizes.split(",")])
        finally:
            dbs.close()
        return
    print(
        "| workload | unit | durable_gen | DBOS | ratio "
        "| floor before / after (commits/s) | ours / mean floor |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    try:
        for kind in kinds:
            store = "SQLite FULL" if kind == "sqlite" else "Postgres"
            for n in steps:
                print(
                    _row(
                        f"{store}: one workflow of {n:,} steps",
                        "steps/s",
                        kind,
                        dbs,
                        lambda url, n=n: ours_steps(url, n),  # type: ignore[misc]
                        (lambda url, n=n: dbos_steps(url, n)) if have_dbos else None,  # type: ignore[misc]
                    ),
                    flush=True,
                )
            print(
                _row(
                    f"{store}: {executions:,} two-step executions",
                    "executions/s",
                    kind,
                    dbs,
                    lambda url: ours_executions(url, executions),
                    (lambda url: dbos_executions(url, executions)) if have_dbos else None,
                ),
                flush=True,
            )
            for c in concurrency:
                print(
                    _row(
                        f"{store}: {c} execution(s) of 20 steps at once, one worker",
                        "steps/s",
                        kind,
                        dbs,
                        lambda url, c=c: ours_concurrent(url, c, 20),  # type: ignore[misc]
                        (lambda url, c=c: dbos_concurrent(url, c, 20)) if have_dbos else None,  # type: ignore[misc]
                    ),
                    flush=True,
                )
    finally:
        dbs.close()


if __name__ == "__main__":
    main()
