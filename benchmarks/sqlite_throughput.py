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
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import durable_gen as dg
from durable_gen.local import SqliteStore, Worker
from durable_gen.local._sqlite import Synchronous

__all__ = ["measure", "measure_emulator", "measure_executions"]


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


def _check(record: Any, result: str) -> None:
    if record.status != "SUCCEEDED" or record.result != result:
        raise AssertionError(f"the benchmark workflow ended {record.status}: {record.result}")


EMULATOR_STEPS = 200  # about 11 s per run on the emulator
EXECUTIONS = 1_000
REPEAT = 3


def _median(run: Callable[[], float], repeat: int = REPEAT) -> float:
    return statistics.median(run() for _ in range(repeat))


def main() -> None:
    """Print the throughput table, then the SQLite comparison against AWS's emulator.

    Every figure is the median of ``REPEAT`` runs.
    """
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
