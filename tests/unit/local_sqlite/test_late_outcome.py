"""A worker that stalls past its lease while another takes the execution over must not record
anything when it comes back: not after the new owner's invocation ended (the execution ended,
or suspended on a wait), nor while it runs. Its outcome is refused with ``LeaseLostError``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import durable_gen as dg
from durable_gen.local import LeaseLostError, LocalService, SqliteStore, VirtualClock
from durable_gen.local._dbstore import DatabaseStore
from durable_gen.runtime import make_handler

RELEASE = threading.Event()
STARTED = threading.Event()
CALLS: list[str] = []


@dg.step
def slow_once(n: int) -> int:
    CALLS.append(threading.current_thread().name)
    if len(CALLS) == 1:  # the first worker's attempt stalls (a GC pause, a stopped VM)
        STARTED.set()
        RELEASE.wait(30)
    return n


@dg.workflow
def ends(n: int):
    return (yield slow_once(n))


@dg.workflow
def suspends(n: int):
    value = yield slow_once(n)
    yield dg.Wait(seconds=3600, name="later")
    return value


def _service(store: DatabaseStore, workflow: object) -> LocalService:
    # The engine's clock stands still (a wait of an hour stays pending); leases use the wall's.
    clock = VirtualClock(start_ms=time.time_ns() // 1_000_000, auto_advance=False)
    service = LocalService(store=store, clock=clock)
    service.register("flow", make_handler(workflow, service))
    return service


def check_the_stalled_worker_records_nothing(
    open_store: Callable[[], DatabaseStore], workflow: object
) -> None:
    """Two engines on one database, leases of 0.3 s: the first stalls in a step, the second
    takes the execution over and runs it; then the first comes back."""
    RELEASE.clear()
    STARTED.clear()
    CALLS.clear()
    store_a, store_b = open_store(), open_store()
    a, b = _service(store_a, workflow), _service(store_b, workflow)
    try:
        arn = a.start("flow", "7")
        errors: list[BaseException] = []

        def stalled() -> None:
            try:
                a.run_until_idle()
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=stalled, name="stalled")
        thread.start()
        assert STARTED.wait(30)
        time.sleep(0.5)  # past the lease (nothing renews it)
        b.clock.advance(5)  # type: ignore[attr-defined]  # the released invocation is due
        b.run_until_idle()  # takes the execution over and runs it
        after_takeover = b.get_history(arn)
        status = b.get_execution(arn).status
        assert status == ("SUCCEEDED" if workflow is ends else "RUNNING")
        RELEASE.set()
        thread.join(30)
        assert [type(e) for e in errors] == [LeaseLostError], errors
        assert "outcome is dropped" in str(errors[0])
        assert errors[0].execution_arn == arn  # type: ignore[attr-defined]  # what a worker logs
        # Nothing of the late invocation was recorded: no crashed InvocationCompleted, no
        # crash counted, no extra invocation scheduled.
        assert b.get_history(arn) == after_takeover
        assert b.get_execution(arn).status == status
        assert [t.kind for t in store_b.tasks_for(arn)] == ([] if workflow is ends else ["wait"])
    finally:
        RELEASE.set()
        store_a.close()
        store_b.close()


@pytest.mark.parametrize("workflow", [ends, suspends], ids=["ends", "suspends"])
def test_the_stalled_worker_records_nothing(tmp_path: Path, workflow: object) -> None:
    check_the_stalled_worker_records_nothing(
        lambda: SqliteStore(tmp_path / "d.db", lease_seconds=0.3), workflow
    )
