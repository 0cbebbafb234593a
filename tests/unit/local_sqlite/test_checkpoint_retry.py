"""A checkpoint the database fails for a moment (locked, a connection lost) is tried again by
the worker within its patience, so the outcome of a step that has run is not lost to it: an
at-most-once step in particular, which would otherwise count as interrupted for good."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import durable_gen as dg
from durable_gen.local import SqliteStore, Worker

#: What the steps did, in order.
RAN: list[str] = []
#: The database the steps lock.
DB: list[Path] = []


def _lock_for(seconds: float) -> None:
    """Hold the database's write lock from another connection for ``seconds`` (in the
    background): the checkpoint that follows finds it locked past the store's timeout."""
    conn = sqlite3.connect(DB[0], isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")

    def release() -> None:
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    threading.Thread(target=release, daemon=True).start()


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def pay(amount: int) -> str:
    RAN.append("pay")
    _lock_for(0.8)
    return f"paid {amount}"


@dg.step
def ship(amount: int) -> str:
    RAN.append("ship")
    _lock_for(0.8)
    return f"shipped {amount}"


@dg.workflow
def order(amount: int):
    paid = yield pay(amount)
    shipped = yield ship(amount)
    return [paid, shipped]


def test_a_checkpoint_that_finds_the_database_locked_is_tried_again(tmp_path: Path) -> None:
    RAN.clear()
    DB[:] = [tmp_path / "w.db"]
    lines: list[str] = []
    with SqliteStore(DB[0], timeout=0.2) as store, Worker(store, log=lines.append) as worker:
        arn = worker.service.start(worker.register(order), "5")
        record = worker.drive(arn)
    assert record.status == "SUCCEEDED", (record.error, lines)
    assert record.result == '["paid 5","shipped 5"]'
    assert RAN == ["pay", "ship"]  # each ran once: no outcome was lost
