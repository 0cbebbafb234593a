"""A database that fails under an invocation (its checkpoint finds the database locked or
unreachable) is the engine's trouble, not a crash of the workflow: the invocation is handed
back, the error reaches whoever drives the engine (a ``Worker`` retries), and it never counts
towards ``max_crashes`` nor appears in the history as a crashed invocation."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local import LocalService, SqliteStore, StoreUnavailableError, Worker
from durable_gen.local._store import Change
from durable_gen.runtime import make_handler

RAN: list[int] = []


@dg.step
def step(n: int) -> int:
    RAN.append(n)
    return n


@dg.workflow
def two_steps(n: int):
    a = yield step(n)
    b = yield step(n + 1)
    return a + b


class _Flaky(SqliteStore):
    """Fails the commits of step checkpoints ``failures`` times: the database went away."""

    failures = 0

    def commit(self, changes: Sequence[Change]) -> None:
        if self.failures and any(op.type == "STEP" for c in changes for op in c.operations):
            self.failures -= 1
            raise StoreUnavailableError("lost the connection to the database (simulated)")
        super().commit(changes)


@pytest.mark.parametrize("outages", [1, 3])
def test_a_store_failure_in_a_checkpoint_is_retried_not_recorded_as_a_crash(
    tmp_path: Path, outages: int
) -> None:
    RAN.clear()
    with _Flaky(tmp_path / "d.db") as store:
        service = LocalService(store=store, max_crashes=1)
        service.register("two", make_handler(two_steps, service))
        arn = service.start("two", "1")
        for _ in range(outages):
            store.failures = 1
            with pytest.raises(StoreUnavailableError):
                service.run(arn)
            assert service.get_execution(arn).status == "RUNNING"
        record = service.run(arn)  # what a worker's retry does once the database is back
        assert record.status == "SUCCEEDED", record.error
        assert record.result == "3"
        crashed = [
            e for e in service.get_history(arn) if "Error" in (e.invocation_completed_details or {})
        ]
        assert crashed == []
    # The first step's checkpoint never landed: it ran again, once per outage (at least once).
    assert [1] * (outages + 1) + [2] == RAN


def test_a_worker_says_so_retries_and_finishes(tmp_path: Path) -> None:
    RAN.clear()
    lines: list[str] = []
    with (
        _Flaky(tmp_path / "d.db") as store,
        Worker(store, progress=True, log=lines.append, poll=0.05) as worker,
    ):
        name = worker.register(two_steps)
        arn = worker.service.start(name, "1")
        store.failures = 2
        runner = threading.Thread(target=worker.run)
        runner.start()
        try:
            deadline = time.monotonic() + 30
            while worker.service.get_execution(arn).status == "RUNNING":
                assert time.monotonic() < deadline, lines
                time.sleep(0.05)
        finally:
            worker.stop()
            runner.join()
        assert worker.service.get_execution(arn).result == "3"
    # The worker tried each failed checkpoint again, in the invocation: nothing was handed
    # back, and no step ran again (its outcome was in the checkpoint that was retried).
    assert not [line for line in lines if " left " in line or "crashed" in line], lines
    assert sum("retrying the checkpoint" in line for line in lines) == 2, lines
    assert RAN == [1, 2]


def test_a_worker_out_of_patience_hands_the_invocation_back(tmp_path: Path) -> None:
    RAN.clear()
    lines: list[str] = []
    with (
        _Flaky(tmp_path / "d.db") as store,
        Worker(store, progress=True, log=lines.append, poll=0.05, patience=0.2) as worker,
    ):
        arn = worker.service.start(worker.register(two_steps), "1")
        store.failures = 10**6
        with pytest.raises(StoreUnavailableError):
            worker.drive(arn)
        left = [line for line in lines if " left " in line]
        assert left, lines  # drive() retried for its patience too: once or more
        assert all("the database failed under it (StoreUnavailableError)" in x for x in left)
        store.failures = 0
        record = worker.drive(arn)  # the database is back: the invocation resumes
    assert record.status == "SUCCEEDED" and record.result == "3"
    # The first step's outcome never landed: it ran again, once per invocation handed back.
    expected = [1] * (len(left) + 1) + [2]
    assert expected == RAN, (RAN, left)


class _DownAtFirst(SqliteStore):
    """A database that cannot be reached for the first few reads of the remembered workflows
    (a worker started with, or before, its server)."""

    down_for = 0

    def workflows(self) -> dict[str, str]:
        if self.down_for:
            self.down_for -= 1
            raise StoreUnavailableError("cannot connect to the database (simulated)")
        return super().workflows()


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_worker_started_while_the_database_is_down_waits_for_it(
    tmp_path: Path, concurrency: int
) -> None:
    RAN.clear()
    lines: list[str] = []
    with Worker(tmp_path / "d.db") as starter:
        arn = starter.service.start(starter.register(two_steps), "1")
    with _DownAtFirst(tmp_path / "d.db") as store:
        store.down_for = 3
        worker = Worker(store, concurrency=concurrency, poll=0.05, log=lines.append)
        runner = threading.Thread(target=worker.run)
        runner.start()
        try:
            deadline = time.monotonic() + 30
            while worker.service.get_execution(arn).status == "RUNNING":
                assert runner.is_alive(), lines  # it gave up instead of waiting
                assert time.monotonic() < deadline, lines
                time.sleep(0.05)
        finally:
            worker.stop()
            runner.join()
            worker.close()
        assert worker.service.get_execution(arn).result == "3"
    assert sum("retrying" in line for line in lines) == 3, lines


def test_a_worker_that_runs_out_of_patience_says_so(tmp_path: Path) -> None:
    lines: list[str] = []
    with _DownAtFirst(tmp_path / "d.db") as store:
        store.down_for = 10**6
        with (
            Worker(store, patience=0.5, poll=0.05, log=lines.append) as worker,
            pytest.raises(StoreUnavailableError) as caught,
        ):
            worker.run()
    message = str(caught.value)
    assert message.startswith("cannot connect to the database (simulated)")
    assert re.search(
        r"the worker gave up after retrying for \d+\.\d s \(patience 0\.5 s\)$", message
    )
    assert lines and all("; retrying" in line for line in lines)


def test_the_worker_command_waits_for_a_database_that_fails_while_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``durable-gen worker`` retries start-up within its patience also when the database
    goes away after it was opened, while the worker is built (it writes the functions it
    serves): a server restarting right then made the worker exit with StoreUnavailableError."""
    import argparse

    from durable_gen import cli, local
    from durable_gen.local import StoreUnavailableError

    real = local.Worker
    built: list[object] = []

    def flaky(store: Any, **kwargs: Any) -> Any:
        if not built:
            built.append(None)
            raise StoreUnavailableError("lost the connection to the database (a restart)")
        worker = real(store, **kwargs)
        built.append(worker)
        return worker

    monkeypatch.setattr(local, "Worker", flaky)
    args = argparse.Namespace(db=str(tmp_path / "w.db"), lock_timeout=5.0)
    with cli._worker(args, patience=10.0) as worker:
        assert worker is built[-1] and isinstance(worker, real)
    assert "lost the connection to the database (a restart); retrying" in capsys.readouterr().err

    # Out of patience (or without any, as --once runs): the error is the command's.
    built.clear()
    with pytest.raises(StoreUnavailableError), cli._worker(args, patience=None):
        pass


@dg.step
def blob(n: int) -> str:
    return "x" * 20_000 + str(n)


@dg.workflow
def blobs(n: int):
    sizes = []
    for i in range(n):
        sizes.append(len((yield blob(i))))
    return sum(sizes)


def test_a_full_disk_is_a_store_unavailable_error_and_loses_nothing(tmp_path: Path) -> None:
    # SQLite's max_page_count makes the file "full" as a full disk does (SQLITE_FULL): the
    # error is one a worker retries (for its patience), and what was committed stays.
    with Worker(tmp_path / "d.db", patience=0.3) as worker:
        arn = worker.service.start(worker.register(blobs), "12")
        conn = worker.store._conn  # type: ignore[attr-defined]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 20}")
        with pytest.raises(StoreUnavailableError, match=r"is full.*free some space"):
            worker.drive(arn)
        done = [e for e in worker.service.get_history(arn) if e.event_type == "StepSucceeded"]
        assert 0 < len(done) < 12
        conn.execute("PRAGMA max_page_count = 1000000")  # room again
        record = worker.drive(arn)
    assert record.status == "SUCCEEDED"
    assert record.result == str(sum(len("x" * 20_000 + str(i)) for i in range(12)))


def test_a_database_that_cannot_be_written_says_what_to_check(tmp_path: Path) -> None:
    from durable_gen import StoreError

    with Worker(tmp_path / "d.db") as worker:
        name = worker.register(blobs)
        worker.store._conn.execute("PRAGMA query_only = 1")  # type: ignore[attr-defined]
        with pytest.raises(StoreError, match=r"cannot be written.*write access") as caught:
            worker.service.start(name, "1")
        assert not isinstance(caught.value, StoreUnavailableError)
