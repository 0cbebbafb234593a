"""Throughput of the embedded engine on SQLite: durable steps per second, executions per second.

``measure(n_steps, synchronous)`` runs one workflow of ``n_steps`` sequential steps on a fresh
database and returns steps per second (each step is one checkpoint: one transaction, one WAL
commit, synced as ``synchronous`` says). ``measure_executions(n)`` starts ``n`` short workflows,
then lets one ``Worker`` run them all, and returns executions per second.

    python -m benchmarks.sqlite_throughput
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import durable_gen as dg
from durable_gen.local import SqliteStore, Worker
from durable_gen.local._sqlite import Synchronous

__all__ = ["measure", "measure_executions"]


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


def _check(record: Any, result: str) -> None:
    if record.status != "SUCCEEDED" or record.result != result:
        raise AssertionError(f"the benchmark workflow ended {record.status}: {record.result}")


def main() -> None:
    """Print the throughput table."""
    print("| workload | per second |")
    print("| --- | ---: |")
    for sync in ("FULL", "NORMAL"):
        for n in (100, 1000):
            print(f"| {n} sequential steps, synchronous={sync} | {measure(n, sync):,.0f} steps |")
    for n in (100, 500):
        print(f"| {n} two-step executions, one worker | {measure_executions(n):,.0f} executions |")


if __name__ == "__main__":
    main()
