"""A worker frozen in the middle of a transaction (a stopped VM, a partition, SIGSTOP) does not
keep its execution from the fleet past its lease: the server ends the idle transaction, the
row lock goes with it, and another worker takes the execution over (docs/engine.md, "What a
lease protects": a worker that stalls past its lease is taken over)."""

from __future__ import annotations

import contextlib
import threading
import time

import durable_gen as dg
from durable_gen import StoreError
from durable_gen.local import LocalService
from durable_gen.local._postgres import PostgresStore
from durable_gen.runtime import make_handler

LEASE = 1.0


def test_an_execution_whose_worker_froze_mid_transaction_is_taken_over(
    postgres_url: str,
) -> None:
    frozen_store = PostgresStore(postgres_url, lease_seconds=LEASE, timeout=LEASE)
    other = PostgresStore(postgres_url, lease_seconds=LEASE, timeout=LEASE)
    frozen, thawed = threading.Event(), threading.Event()
    arns: list[str] = []

    @dg.step(retry=dg.Retry.never())
    def freeze() -> str:
        # What a worker stopped in the middle of a checkpoint leaves behind: a transaction
        # that holds the execution's row (and has read its operations), and a lease nobody
        # renews.
        with contextlib.suppress(StoreError), frozen_store.lock:
            frozen_store.load(arns[0])
            frozen_store.operations(arns[0])
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
