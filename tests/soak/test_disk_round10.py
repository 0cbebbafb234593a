"""Round-10 disk trials: a disk that fills up under sixteen executions committing together,
SQLite rolling a whole transaction back by itself, and a SQLite file, its -wal file or its
folder made unwritable between workers.

Each trial counts the runs of every step in a log the steps write and reads what was
recorded; none decides by timing alone.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

import durable_gen as dg
from durable_gen import StoreError
from durable_gen.local import SqliteStore, Worker
from durable_gen.local._dbstore import StoreUnavailableError
from durable_gen.local._store import Change

from . import disk
from .round10_flows import heavy, heavy_result
from .test_crash_round10 import ROOT, _env, _lines, _starts, _stop, _wait_for

# --- the disk fills up under sixteen executions committing together ---------------------------

TAGS = [f"e{i:02d}" for i in range(16)]
STEPS = 12


def _worker(db: Path, env: dict[str, str], err: Path, *args: str) -> subprocess.Popen[bytes]:
    with open(err, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "durable_gen.cli", "worker", "--db", str(db), *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


def _all_ended(db: Path, arns: list[str]) -> bool:
    with Worker(db) as reader:
        return all(reader.service.get_execution(arn).is_terminal for arn in arns)


def _recorded_steps(db: Path, arns: list[str]) -> set[str]:
    """The labels of the steps whose success is recorded."""
    with SqliteStore(db) as store:
        return {
            str(json.loads(op.step_details.result or '""')).partition("=")[0]
            for arn in arns
            for op in store.operations(arn)
            if op.type == "STEP" and op.status == "SUCCEEDED" and op.step_details is not None
        }


@pytest.mark.skipif(not disk.available(), reason="needs root and mount (a tmpfs)")
@pytest.mark.parametrize("mode", ["step", "batch"])
@pytest.mark.parametrize("kill", [False, True], ids=["waits", "killed"])
def test_a_disk_full_under_sixteen_executions_committing_together_loses_nothing(
    tmp_path: Path, kill: bool, mode: str
) -> None:
    """engine.md, "Group commit" and cli.md, "Errors": the 16 threads of a ``--concurrency 16``
    worker share SQLite transactions; a full disk fails the shared commit of all of them at
    once. Each waits for room and goes on (or, killed meanwhile, a new worker takes over):
    every execution ends with the result of an uninterrupted run, no step whose success was
    recorded runs again, the at-most-once steps start once each.

    In ``batch`` mode a checkpoint writes enough that SQLite fails one of its statements, not
    the commit, and then rolls back the whole shared transaction by itself: the threads whose
    checkpoints it held must learn that theirs failed too (the worker used to end with "no
    such savepoint", its executions taken for lost leases)."""
    log, err = tmp_path / "steps.log", tmp_path / "worker.stderr"
    env = _env(log)
    args = ("--concurrency", "16", "--poll", "0.05", "--checkpointing", mode)
    with disk.tmpfs("3m") as where:
        db = where / "durable.db"
        with Worker(db) as starter:
            name = starter.register(heavy)
            arns = [
                starter.service.start(name, json.dumps([tag, STEPS]), execution_name=tag)
                for tag in TAGS
            ]
        worker = _worker(db, env, err, *args)
        _wait_for(
            lambda: "is full" in err.read_text(errors="replace") or worker.poll() is not None,
            120,
            "the disk to fill up",
        )
        assert worker.poll() is None, err.read_text()
        _wait_for(lambda: err.read_text().count("retrying") >= 3, 60, "a few retries")
        codes = []
        if kill:
            worker.send_signal(signal.SIGKILL)
            codes.append(worker.wait())
            before_kill = _starts(log)
            recorded = _recorded_steps(db, arns)
        disk.remount(where, "size=60m")
        if kill:
            worker = _worker(db, env, err, *args)
        _wait_for(lambda: _all_ended(db, arns), 120, "every execution to end")
        codes.append(_stop(worker))
        with SqliteStore(db) as store:
            records = {tag: store.load(arn) for tag, arn in zip(TAGS, arns, strict=True)}
    stderr = err.read_text(errors="replace")
    assert "Traceback" not in stderr, stderr[-3000:]
    assert codes == ([-signal.SIGKILL, 0] if kill else [0]), (codes, stderr[-3000:])
    interrupted = set()
    for tag, record in records.items():
        assert record is not None, tag
        if kill and record.status == "FAILED" and record.error is not None:
            # The kill cut the at-most-once step short (its START recorded, its success not):
            # that attempt is not run again, and Retry.never() lets no other run.
            assert record.error.error_type == "StepInterruptedError", (tag, record.error)
            assert before_kill[f"{tag}-seal"] == 1 and f"{tag}-seal" not in recorded, tag
            interrupted.add(tag)
            continue
        assert record.status == "SUCCEEDED", (tag, record.status, record.error, stderr[-3000:])
        assert json.loads(record.result or "null") == heavy_result(tag, STEPS), tag
    starts = _starts(log)
    steps = len(TAGS) * (STEPS + 1)
    assert len(starts) == steps or interrupted, starts  # every step ran
    twice = sorted(label for label, n in starts.items() if n > 1)
    if not kill:
        # The checkpoints were retried until the disk had room: nothing ran again.
        assert twice == [], twice
    else:
        # No step whose success was recorded before the kill ran again, nor the at-most-once
        # one; in "step" mode only the step in flight at the kill did (one per execution),
        # in "batch" mode those of the invocation since its last checkpoint.
        # (in "batch" mode the disk may fill before any invocation's checkpoint committed)
        assert recorded or mode == "batch", recorded
        assert not any(starts[label] > before_kill[label] for label in recorded)
        assert all(starts[label] == 2 for label in twice), twice
        assert not any(label.endswith("-seal") for label in twice), twice
        assert all(before_kill[label] == 1 for label in twice), twice
        if mode == "step":
            per_execution = Counter(label.split("-")[0] for label in twice)
            assert all(n == 1 for n in per_execution.values()), twice


# --- SQLite rolls a whole transaction back by itself ------------------------------------------


class _AutoRollback(SqliteStore):
    """A SqliteStore whose first commit of a change ``when`` picks fails as SQLite fails a
    statement on a full disk when it must roll back the whole transaction (not only the
    statement): the transaction is gone when the error comes."""

    fired = 0

    def __init__(self, path: Path, when: Callable[[Change], bool]) -> None:
        super().__init__(path)
        self.when = when

    def _apply(self, conn: sqlite3.Connection, change: Change) -> None:
        if not self.fired and self.when(change):
            self.fired += 1
            conn.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        super()._apply(conn, change)


PAID: list[str] = []


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def pay(amount: int) -> str:
    PAID.append("pay")
    return f"paid {amount}"


@dg.step
def post(paid: str) -> str:
    PAID.append("post")
    return f"posted ({paid})"


@dg.workflow
def invoice(amount: int):  # type: ignore[no-untyped-def]
    return [(yield pay(amount)), (yield post("x"))]


def _writes(status: str, name: str) -> Callable[[Change], bool]:
    return lambda change: any(op.name == name and op.status == status for op in change.operations)


_ROLLED = [("STARTED", "pay", "step"), ("SUCCEEDED", "pay", "step"), ("SUCCEEDED", "post", "batch")]


@pytest.mark.parametrize(("status", "name", "mode"), _ROLLED, ids=["-".join(c) for c in _ROLLED])
def test_a_transaction_sqlite_rolled_back_by_itself_is_retried_as_a_full_disk(
    tmp_path: Path, status: str, name: str, mode: str
) -> None:
    """cli.md, "Errors": a full disk is a StoreUnavailableError that a worker retries. When
    SQLite answers it by rolling the whole transaction back, the store used to try to undo the
    checkpoint itself and fail with "cannot rollback - no transaction is active" or "no such
    savepoint: dg_commit", a StoreError that ended the worker."""
    PAID.clear()
    lines: list[str] = []
    store = _AutoRollback(tmp_path / "full.db", _writes(status, name))
    with Worker(store, log=lines.append, checkpointing=mode) as worker:  # type: ignore[arg-type]
        arn = worker.service.start(worker.register(invoice), "7")
        record = worker.drive(arn)
    store.close()
    assert store.fired == 1
    assert record.status == "SUCCEEDED", (record.error, lines)
    assert record.result == '["paid 7","posted (x)"]'
    assert PAID == ["pay", "post"]  # nothing ran twice
    assert any("is full" in line and "retrying" in line for line in lines), lines


def test_threads_whose_checkpoints_sqlite_rolled_back_with_another_s_are_told_so(
    tmp_path: Path,
) -> None:
    """engine.md, "Group commit": thread A's write waits in the open transaction for the group
    to commit; thread B's statement then makes SQLite roll the whole transaction back, and
    thread C writes next. A must learn that its write failed: it used to be told that it was
    committed when C's transaction, begun in the same group, committed."""
    store = _AutoRollback(tmp_path / "group.db", lambda change: True)
    with store.lock:
        store._conn.execute("CREATE TABLE scratch (who TEXT)")
    outcome: dict[str, object] = {}
    a_wrote, c_waits = threading.Event(), threading.Event()

    def a() -> None:
        store.share(1)
        try:
            with store.lock:
                store._conn.execute("INSERT INTO scratch VALUES ('a')")
                a_wrote.set()
                _wait_for(lambda: store.lock.waiting > 0, 30, "B to wait for the lock")
            outcome["a"] = "committed"
        except StoreError as exc:
            outcome["a"] = exc

    def b() -> None:
        store.share(2)
        assert a_wrote.wait(30)
        try:
            with store.lock:
                c_waits.set()
                _wait_for(lambda: store.lock.waiting > 0, 30, "C to wait for the lock")
                store.commit([object()])  # type: ignore[list-item]
            outcome["b"] = "committed"
        except StoreError as exc:
            outcome["b"] = exc

    def c() -> None:
        store.share(3)
        assert c_waits.wait(30)
        with store.lock:
            store._conn.execute("INSERT INTO scratch VALUES ('c')")
        outcome["c"] = "committed"

    threads = [threading.Thread(target=fn) for fn in (a, b, c)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    rows = sorted(row[0] for row in store._conn.execute("SELECT who FROM scratch"))
    store.close()
    assert rows == ["c"]  # A's row went with B's transaction
    assert isinstance(outcome["b"], StoreUnavailableError), outcome
    assert isinstance(outcome["a"], StoreUnavailableError), outcome  # not "committed"
    assert "is full" in str(outcome["a"]), outcome
    assert outcome["c"] == "committed", outcome


# --- the SQLite file, its -wal file or its folder made unwritable between workers ---------------


def _without_dac_override() -> None:
    """Run as root without the capabilities that let root write any file (a child's
    ``preexec_fn``): file permissions then bind it as they bind any user."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _cli(db: Path, log: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "durable_gen.cli", *args, "--db", str(db)],
        env=_env(log, STEP_PAUSE="0.05"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_without_dac_override if os.geteuid() == 0 else None,
    )


@pytest.mark.parametrize("what", ["file", "wal", "folder"])
def test_a_database_made_unwritable_between_workers_ends_them_with_one_line_and_loses_nothing(
    tmp_path: Path, what: str
) -> None:
    """cli.md, "Errors": a file this process may not write is a StoreError that says what to
    do. A worker is killed in the middle of an execution; then the file, its -wal file, or
    its folder (once no process has the file open, so that no -wal file is left) is made
    read-only. A worker ends at once with exit status 1 and one line, writing nothing, also
    with ``--once``; once it is writable again a worker finishes the execution, and only the
    step in flight at the kill runs again."""
    from .round10_flows import ticks

    where = tmp_path / "data"
    where.mkdir()
    db, log = where / "durable.db", tmp_path / "steps.log"
    with Worker(db) as starter:
        arn = starter.service.start(starter.register(ticks), "40")
    proc = subprocess.Popen(
        [sys.executable, "-m", "durable_gen.cli", "worker", "--db", str(db), "--poll", "0.05"],
        env=_env(log, STEP_PAUSE="0.05"),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(
            lambda: sum(1 for event, _, _ in _lines(log) if event == "end") >= 25,
            60,
            "the worker to pass the at-most-once step",
        )
    finally:
        proc.kill()
        proc.wait()
    before = db.read_bytes(), (db.with_name(db.name + "-wal")).read_bytes()
    if what == "folder":
        SqliteStore(db).close()  # the last connection folds the -wal file in, removing it
        assert not db.with_name(db.name + "-wal").exists()
        before = db.read_bytes(), b""
    target = {"file": db, "wal": db.with_name(db.name + "-wal"), "folder": where}[what]
    mode = target.stat().st_mode
    target.chmod(0o500 if what == "folder" else 0o400)
    try:
        for args in (("worker", "--poll", "0.05"), ("worker", "--once")):
            done = _cli(db, log, *args)
            assert done.returncode == 1, (args, done.stderr)
            (line,) = done.stderr.splitlines()
            assert "cannot be written" in line and "give this process write access" in line, line
            assert "Traceback" not in done.stderr
        after = (
            db.read_bytes(),
            (
                db.with_name(db.name + "-wal").read_bytes()
                if db.with_name(db.name + "-wal").exists()
                else b""
            ),
        )
        assert after == before  # nothing written
    finally:
        target.chmod(mode)
    done = _cli(db, log, "worker", "--once")
    assert done.returncode == 0, done.stderr
    with SqliteStore(db) as store:
        record = store.load(arn)
    assert record is not None and record.status == "SUCCEEDED", record
    expected = [f"T{i}" for i in range(40)]
    expected.insert(21, "HALF")
    assert json.loads(record.result or "null") == expected
    starts = _starts(log)
    assert len(starts) == 41 and starts["half"] == 1, starts
    assert sum(n - 1 for n in starts.values()) <= 1, starts  # only the step in flight at the kill


def test_a_schema_upgrade_sqlite_rolled_back_by_itself_says_the_disk_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgrade of an older file that fills the disk is refused with the full disk's error
    (it used to be "cannot rollback - no transaction is active"), and the file keeps its
    version and what it recorded."""
    from durable_gen.local import _sqlite

    from ..unit.local_sqlite.test_sqlite_store import _to_schema_v1

    path = tmp_path / "old.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    with conn:
        _to_schema_v1(conn)
    conn.close()
    pristine = path.read_bytes()

    def full(conn: sqlite3.Connection, *args: object, **kwargs: object) -> None:
        conn.execute("ROLLBACK")
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(_sqlite, "upgrade_schema", full)
    with pytest.raises(StoreUnavailableError, match="is full"):
        SqliteStore(path)
    monkeypatch.undo()
    assert path.read_bytes() == pristine
    with SqliteStore(path) as store:
        assert store.schema_version == _sqlite.SCHEMA_VERSION


@pytest.mark.skipif(not disk.available(), reason="needs root and mount (a tmpfs)")
def test_commands_and_a_worker_opening_a_database_on_a_full_disk_say_so_and_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cli.md, "Errors": on a disk with no room left, a process that opens the file (no other
    has it open) cannot make the -shm file SQLite needs, which SQLite reports as "disk I/O
    error". Every command says the disk is full and what to do (it used to say only "failed:
    disk I/O error"); a worker started then waits for room rather than ending, and once
    there is room the callback is answered and the execution finishes, its at-most-once
    step run once."""
    from .round9_flows import approval

    steps = tmp_path / "full.steps"
    monkeypatch.setenv("STEP_LOG", str(steps))
    err = tmp_path / "worker.stderr"
    env = {**_env(tmp_path / "unused.log"), "STEP_LOG": str(steps)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "durable_gen.cli", *args, "--db", str(db)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    with disk.tmpfs("2m") as where:
        db = where / "durable.db"
        with Worker(db) as starter:
            arn = starter.service.start(starter.register(approval), None)
            assert starter.drive(arn).status == "RUNNING"
            (callback_id,) = [
                op.callback_details.callback_id
                for op in starter.store.operations(arn)
                if op.type == "CALLBACK" and op.callback_details is not None
            ]
        assert callback_id is not None
        filler = where / "filler"
        with open(filler, "wb") as out, pytest.raises(OSError):
            while True:
                out.write(b"x" * 65536)
                out.flush()
        pristine = db.read_bytes()
        for args in (("callback", "succeed", callback_id, '"yes"'), ("list",), ("stop", arn)):
            done = cli(*args)
            assert done.returncode == 1, (args, done.stderr)
            (line,) = done.stderr.splitlines()
            assert "is full" in line and "free some space" in line, line
        assert db.read_bytes() == pristine  # nothing written
        with open(err, "wb") as out:
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "durable_gen.cli",
                    "worker",
                    "--db",
                    str(db),
                    "--poll",
                    "0.05",
                ],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=out,
            )
        try:
            _wait_for(
                lambda: err.read_text().count("retrying") >= 2 or worker.poll() is not None,
                60,
                "the worker to retry",
            )
            assert worker.poll() is None and "is full" in err.read_text(), err.read_text()
            filler.unlink()
            done = cli("callback", "succeed", callback_id, '"yes"')
            assert done.returncode == 0, done.stderr
            with SqliteStore(db) as reader:
                _wait_for(
                    lambda: reader.load(arn).status != "RUNNING",  # type: ignore[union-attr]
                    60,
                    "the execution to end",
                )
                record = reader.load(arn)
        finally:
            code = _stop(worker)
    assert code == 0, err.read_text()
    assert record is not None and record.status == "SUCCEEDED", record
    assert record.result == '"booked yes"'
    assert steps.read_text().split() == ["ask", "book"]
    assert "Traceback" not in err.read_text()


def test_an_io_error_with_no_room_left_is_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What SQLite calls "disk I/O error" when the file system has no room left (it could not
    make the -shm file) is the full disk's StoreUnavailableError; with room left it stays a
    StoreError."""
    import shutil

    from durable_gen.local import _sqlite

    def io_error(*args: object, **kwargs: object) -> sqlite3.Connection:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(_sqlite.sqlite3, "connect", io_error)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=4096))
    with pytest.raises(StoreUnavailableError, match=r"is full .*free some space"):
        SqliteStore(tmp_path / "full.db")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1 << 30))
    with pytest.raises(StoreError, match="disk I/O error") as raised:
        SqliteStore(tmp_path / "full.db")
    assert not isinstance(raised.value, StoreUnavailableError)
