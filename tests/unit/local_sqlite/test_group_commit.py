"""Threads sharing one ``SqliteStore`` commit together, and hold leases under their own names."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from durable_gen._errors import StoreError
from durable_gen.local import SqliteStore
from durable_gen.local._store import Change

from .test_store_contract import create

Factory = Callable[..., SqliteStore]


def _visible(path: Path, arn: str) -> bool:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT 1 FROM executions WHERE arn = ?", (arn,)).fetchone() is not None
    finally:
        conn.close()


def test_a_thread_that_hands_its_transaction_on_returns_only_once_it_is_committed(
    tmp_path: Path, sqlite_factory: Factory
) -> None:
    store = sqlite_factory()
    db = tmp_path / "durable.db"
    b_waiting, b_may_finish = threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def thread_a() -> None:
        store.share(1)
        with store.lock:
            create(store, "arn:a", "a")
            b_waiting.wait(5)
            while store.lock.waiting == 0:  # B is queued behind this transaction
                time.sleep(0.001)
        # Back from release: the write must be durable (committed) by now.
        seen["a_at_return"] = _visible(db, "arn:a")

    def thread_b() -> None:
        store.share(2)
        b_waiting.set()
        with store.lock:
            seen["a_before_b_commits"] = _visible(db, "arn:a")
            create(store, "arn:b", "b")
            b_may_finish.wait(5)

    a = threading.Thread(target=thread_a)
    b = threading.Thread(target=thread_b)
    a.start()
    b.start()
    time.sleep(0.2)
    assert "a_at_return" not in seen  # A waits for the group's commit, which B will make
    b_may_finish.set()
    a.join(5)
    b.join(5)
    assert seen == {"a_before_b_commits": False, "a_at_return": True}
    assert _visible(db, "arn:b")


def test_when_the_group_fails_every_thread_in_it_hears_so(sqlite_factory: Factory) -> None:
    store = sqlite_factory()
    b_in = threading.Event()
    errors: dict[str, BaseException] = {}

    def thread_a() -> None:
        store.share(1)
        try:
            with store.lock:
                create(store, "arn:a", "a")
                while store.lock.waiting == 0:
                    time.sleep(0.001)
        except StoreError as exc:
            errors["a"] = exc

    def thread_b() -> None:
        store.share(2)
        b_in.set()
        try:
            with store._tx():  # a write that fails: the shared transaction rolls back
                create(store, "arn:b", "b")
                raise RuntimeError("boom")
        except RuntimeError as exc:
            errors["b"] = exc

    a = threading.Thread(target=thread_a)
    a.start()
    time.sleep(0.05)
    b = threading.Thread(target=thread_b)
    # B takes the raw transaction path, not the lock: make it count as waiting.
    with store.lock._count:
        store.lock.waiting += 1
    b.start()
    b_in.wait(5)
    time.sleep(0.05)
    with store.lock._count:
        store.lock.waiting -= 1
    a.join(5)
    b.join(5)
    assert isinstance(errors.get("b"), RuntimeError)
    assert "rolled back" in str(errors.get("a"))
    assert store.load("arn:a") is None


def test_alone_a_shared_store_commits_at_once(tmp_path: Path, sqlite_factory: Factory) -> None:
    store = sqlite_factory()
    store.share(0)
    with store.lock:
        create(store)
    assert _visible(tmp_path / "durable.db", "arn:1")
    store.unshare()
    assert not store.group_commit


def test_threads_hold_leases_under_their_own_names(sqlite_factory: Factory) -> None:
    store = sqlite_factory(lease_seconds=0.3)
    owners: dict[int, str] = {}

    def lane(i: int) -> None:
        store.share(i)
        owners[i] = store.owner
        ex = create(store, f"arn:{i}", f"n{i}")
        ex.invoking = True
        store.commit([Change(ex)])

    for i in (1, 2):
        thread = threading.Thread(target=lane, args=(i,))
        thread.start()
        thread.join()
    assert owners[1] != owners[2] and all(o.startswith(store.owner) for o in owners.values())
    assert store.renew_leases() == 2  # the store renews all of its threads' leases
    assert store.next_task() is None  # and does not take its own threads' executions back

    released: list[int] = []

    def give_back() -> None:
        store.share(1)
        released.append(store.release_leases())

    thread = threading.Thread(target=give_back)
    thread.start()
    thread.join()
    assert released == [1]  # only thread 1's
    a, b = store.load("arn:1"), store.load("arn:2")
    assert a is not None and not a.invoking and b is not None and b.invoking


@pytest.mark.parametrize("concurrency", [1, 8])
def test_a_concurrent_worker_on_sqlite_checkpoints_every_step_once(
    tmp_path: Path, concurrency: int
) -> None:
    from durable_gen.local import Worker

    from ...postgres import flows

    db = tmp_path / "w.db"
    with Worker(db) as starter:
        name = starter.register(flows.adder)
        arns = [starter.service.start(name, str(n)) for n in range(16)]
        with Worker(db, concurrency=concurrency) as worker:
            worker.run(once=True)
        for n, arn in enumerate(arns):
            record = starter.service.get_execution(arn)
            assert record.status == "SUCCEEDED" and record.result == str(sum(range(n)))
            history = starter.service.get_history(arn)
            assert sum(e.event_type == "StepSucceeded" for e in history) == n
