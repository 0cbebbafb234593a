"""A worker frozen in the middle of a transaction (a stopped VM, a partition, SIGSTOP) does not
keep its execution from the fleet past its lease: its transaction is ended (by the server when
it sits idle, by the worker taking over when it froze halfway through sending a pipeline), the
row lock goes with it, and another worker takes the execution over (docs/engine.md, "What a
lease protects": a worker that stalls past its lease is taken over)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import psycopg
import pytest

import durable_gen as dg
from durable_gen import StoreError
from durable_gen.local import LocalService
from durable_gen.local._postgres import PostgresStore
from durable_gen.runtime import make_handler

LEASE = 1.0


@contextlib.contextmanager
def idle_in_its_transaction(store: PostgresStore, url: str, arn: str) -> Iterator[None]:
    """The worker's own transaction holds the row (and has read the operations), then idles."""
    with contextlib.suppress(StoreError), store.lock:
        store.load(arn)
        store.operations(arn)
        yield


@contextlib.contextmanager
def halfway_through_a_pipeline(store: PostgresStore, url: str, arn: str) -> Iterator[None]:
    """A transaction holds the row and has sent part of a pipeline, with no Sync: to the server
    it is a query in progress, not an idle transaction."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("BEGIN")
        conn.execute("SELECT 1 FROM executions WHERE arn = %s FOR UPDATE", (arn,))
        with contextlib.suppress(psycopg.Error), conn.pipeline():
            conn.execute("SELECT 1")
            conn.pgconn.flush()  # sent; the Sync that would end the pipeline never comes
            yield


@pytest.mark.parametrize("hold", [idle_in_its_transaction, halfway_through_a_pipeline])
def test_an_execution_whose_worker_froze_mid_transaction_is_taken_over(
    postgres_url: str, hold: Callable[[PostgresStore, str, str], AbstractContextManager[None]]
) -> None:
    frozen_store = PostgresStore(postgres_url, lease_seconds=LEASE, timeout=LEASE)
    other = PostgresStore(postgres_url, lease_seconds=LEASE, timeout=LEASE)
    frozen, thawed = threading.Event(), threading.Event()
    arns: list[str] = []

    @dg.step(retry=dg.Retry.never())
    def freeze() -> str:
        # What a worker stopped in the middle of a checkpoint leaves behind: a transaction
        # that holds the execution's row, and a lease nobody renews.
        with hold(frozen_store, postgres_url, arns[0]):
            frozen.set()
            thawed.wait(20)
        return "thawed"

    @dg.workflow
    def stalls(_: None):  # type: ignore[no-untyped-def]
        return (yield freeze())

    service = LocalService(store=frozen_store)
    service.register("stalls", make_handler(stalls, service))
    arns.append(service.start("stalls"))

    def drive() -> None:
        with contextlib.suppress(StoreError):  # its outcome is refused: it lost the lease
            service.run(arns[0])

    runner = threading.Thread(target=drive, daemon=True)
    runner.start()
    try:
        assert frozen.wait(20)
        began, task = time.monotonic(), None
        while time.monotonic() - began < 4 * LEASE + 5:
            task = other.next_task()
            if task is not None and task.arn == arns[0]:
                break
            time.sleep(0.1)
        waited = time.monotonic() - began
        assert task is not None and task.arn == arns[0], (
            f"no other worker could take the execution over in {waited:.1f} s: its frozen "
            "worker's transaction still holds it"
        )
    finally:
        thawed.set()
        runner.join(30)
        other.close()
        frozen_store.close()
