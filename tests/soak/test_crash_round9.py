"""Round-9 crash trials, short enough for CI: a checkpoint whose reply is lost after it was
recorded, the wall clock stepped under live workers, and processes killed while they upgrade a
SQLite file's schema.

Each trial counts what ran and reads what was recorded; none waits on timing to decide.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local import SqliteStore, VirtualClock, Worker
from durable_gen.local._dbstore import StoreUnavailableError
from durable_gen.local._sqlite import SCHEMA_VERSION
from durable_gen.local._store import Change

from ..unit.local_sqlite.test_sqlite_store import (
    _to_schema_v1,
    check_kept_and_resumed,
    record_two_waiting,
)

ROOT = Path(__file__).resolve().parents[2]

# --- a checkpoint recorded, its reply lost ---------------------------------------------------

RAN: list[str] = []


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def pay(amount: int) -> str:
    RAN.append("pay")
    return f"paid {amount}"


@dg.step
def ship(paid: str) -> str:
    RAN.append("ship")
    return f"shipped ({paid})"


@dg.workflow
def order(amount: int):  # type: ignore[no-untyped-def]
    paid = yield pay(amount)
    shipped = yield ship(paid)
    return [paid, shipped]


def _losing(status: str, name: str) -> type[SqliteStore]:
    """A SqliteStore whose first commit that writes step ``name`` as ``status`` is recorded,
    and then fails as if the connection had gone while the commit was acknowledged."""

    class LosingStore(SqliteStore):
        lost = 0
        _arm = False

        def commit(self, changes: Sequence[Change]) -> None:
            if self.lost == 0 and any(
                op.name == name and op.status == status
                for change in changes
                for op in change.operations
            ):
                self._arm = True
            super().commit(changes)

        def _exit(self, *, commit: bool) -> None:
            super()._exit(commit=commit)
            if self._depth == 0 and self._arm:
                self._arm = False
                if commit:
                    self.lost += 1
                    raise StoreUnavailableError(
                        "the connection to the database was lost as it acknowledged the commit"
                    )

    return LosingStore


LOSSES = [
    ("STARTED", "pay"),  # the START of an at-most-once step: it has not run yet
    ("SUCCEEDED", "pay"),
    ("SUCCEEDED", "ship"),
]


# Batch mode writes a step's START with its outcome: no START of its own to lose.
_CASES = [(s, n, m) for m in ("step", "batch") for s, n in LOSSES if (m, s) != ("batch", "STARTED")]


@pytest.mark.parametrize(("status", "name", "mode"), _CASES, ids=["-".join(c) for c in _CASES])
def test_a_checkpoint_recorded_whose_reply_was_lost_goes_on_as_if_it_had_come(
    tmp_path: Path, status: str, name: str, mode: str
) -> None:
    RAN.clear()
    lines: list[str] = []
    store = _losing(status, name)(tmp_path / "lossy.db")
    with Worker(store, log=lines.append, checkpointing=mode) as worker:  # type: ignore[arg-type]
        arn = worker.service.start(worker.register(order), "7")
        record = worker.drive(arn)
        events = [e.event_type for e in worker.service.get_history(arn)]
    store.close()
    assert store.lost == 1, lines  # the reply of a recorded commit was lost once
    assert record.status == "SUCCEEDED", (record.error, lines)
    assert record.result == '["paid 7","shipped (paid 7)"]'
    assert RAN == ["pay", "ship"]  # nothing ran twice, nothing counted as interrupted
    assert events.count("StepStarted") == 2 and "StepFailed" not in events, events
    # One invocation: it went on rather than being handed back and replayed.
    assert events.count("InvocationCompleted") == 1, events
    assert any("recorded before the database failed" in line for line in lines), lines


def test_drive_retries_when_the_reply_to_the_invocations_end_was_lost(tmp_path: Path) -> None:
    """The invocation's end (the execution's success) was recorded and its reply lost:
    ``drive()`` retries as ``run()`` does, rather than raising, and finds the execution ended."""

    class LosingEnd(SqliteStore):
        lost = 0
        _arm = False

        def commit(self, changes: Sequence[Change]) -> None:
            if self.lost == 0 and any(change.execution.status == "SUCCEEDED" for change in changes):
                self._arm = True
            super().commit(changes)

        def _exit(self, *, commit: bool) -> None:
            super()._exit(commit=commit)
            if self._depth == 0 and self._arm:
                self._arm = False
                if commit:
                    self.lost += 1
                    raise StoreUnavailableError("the connection was lost")

    RAN.clear()
    lines: list[str] = []
    store = LosingEnd(tmp_path / "end.db")
    with Worker(store, log=lines.append) as worker:
        arn = worker.service.start(worker.register(order), "7")
        record = worker.drive(arn)
        events = [e.event_type for e in worker.service.get_history(arn)]
    store.close()
    assert store.lost == 1
    assert record.status == "SUCCEEDED", (record.error, lines)
    assert record.result == '["paid 7","shipped (paid 7)"]'
    assert RAN == ["pay", "ship"]
    assert events.count("ExecutionSucceeded") == 1, events
    assert any("retrying" in line for line in lines), lines


def test_a_lost_reply_is_not_taken_for_recorded_when_the_execution_moved_on(
    tmp_path: Path,
) -> None:
    """The commit failed and was not recorded, and the execution's token is not the one it
    would have made: the checkpoint is tried again and recorded once."""

    class FailingOnce(SqliteStore):
        failed = 0

        def commit(self, changes: Sequence[Change]) -> None:
            if self.failed == 0 and any(
                op.name == "pay" and op.status == "SUCCEEDED"
                for change in changes
                for op in change.operations
            ):
                self.failed += 1
                raise StoreUnavailableError("the database is locked")
            super().commit(changes)

    RAN.clear()
    lines: list[str] = []
    store = FailingOnce(tmp_path / "failing.db")
    with Worker(store, log=lines.append) as worker:
        arn = worker.service.start(worker.register(order), "7")
        record = worker.drive(arn)
    store.close()
    assert store.failed == 1
    assert record.status == "SUCCEEDED", (record.error, lines)
    assert RAN == ["pay", "ship"]
    assert not any("recorded before the database failed" in line for line in lines), lines
    assert any("retrying the checkpoint" in line for line in lines), lines


# --- the wall clock stepped under live workers -----------------------------------------------

ENTERED = threading.Event()
GATE = threading.Event()


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def charge(amount: int) -> str:
    RAN.append("charge")
    ENTERED.set()
    GATE.wait(60)
    return f"charged {amount}"


@dg.workflow
def checkout(amount: int):  # type: ignore[no-untyped-def]
    return (yield charge(amount))


class _Shift:
    """Moves this process's wall clock (``time.time``, ``time.time_ns``) by ``seconds``, as a
    clock set by hand or by NTP, or a host resumed from suspend, does; the monotonic clock
    stays as it is."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._mp = monkeypatch
        self._time, self._time_ns = time.time, time.time_ns

    def __call__(self, seconds: float) -> None:
        real, real_ns, shift = self._time, self._time_ns, int(seconds * 1e9)
        self._mp.setattr(time, "time", lambda: real() + seconds)
        self._mp.setattr(time, "time_ns", lambda: real_ns() + shift)


@pytest.fixture
def shift(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Shift]:
    yield _Shift(monkeypatch)
    monkeypatch.undo()


def test_a_wall_clock_step_past_the_lease_does_not_take_a_live_workers_execution(
    tmp_path: Path, shift: _Shift
) -> None:
    RAN.clear()
    ENTERED.clear()
    GATE.clear()
    path = tmp_path / "fleet.db"
    box: dict[str, Any] = {}
    with Worker(path, lease_seconds=30) as holder, SqliteStore(path, lease_seconds=30) as other:
        arn = holder.service.start(holder.register(checkout), "7")
        assert other.next_task() is not None  # the other worker looks (and its clock is read)
        runner = threading.Thread(target=lambda: box.setdefault("record", holder.drive(arn)))
        runner.start()
        try:
            assert ENTERED.wait(60)  # the at-most-once step runs in the holder
            shift(3600)  # the wall clock jumps an hour ahead: every lease looks expired
            assert other.next_task() is None  # the live holder keeps its execution
            assert other.load(arn) is not None and other.load(arn).token is not None  # type: ignore[union-attr]
        finally:
            GATE.set()
            runner.join(60)
    record = box["record"]
    assert record.status == "SUCCEEDED", record.error
    assert record.result == '"charged 7"'
    assert RAN == ["charge"]


_KILLED_HOLDER = """
import os, signal, sys
import durable_gen as dg
from durable_gen.local import Worker

@dg.step
def die(_):
    os.kill(os.getpid(), signal.SIGKILL)

@dg.workflow
def doomed(_: None):
    return (yield die(None))

with Worker(sys.argv[1], lease_seconds=3600) as worker:
    arn = worker.service.start(worker.register(doomed), None)
    print(arn, flush=True)
    worker.drive(arn)
"""


def test_after_the_wall_clock_steps_back_a_dead_holders_execution_is_taken_back_at_once(
    tmp_path: Path, shift: _Shift
) -> None:
    path = tmp_path / "back.db"
    with SqliteStore(path) as other:
        assert other.next_task() is None  # it has looked for expired leases once
        shift(-3600)  # the wall clock goes back an hour
        done = subprocess.run(
            [sys.executable, "-c", _KILLED_HOLDER, str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert done.returncode == -signal.SIGKILL, done.stderr
        arn = done.stdout.strip()
        held = other.load(arn)
        assert held is not None and held.token is not None  # killed mid-invocation
        task = other.next_task()  # its holder is dead: taken back at once, clock or no clock
        assert task is not None and task.arn == arn and task.kind == "invocation"


# --- processes killed while they upgrade a file's schema -------------------------------------

_UPGRADE = """
import os, signal, sqlite3, sys
kill_at = int(sys.argv[2])
count = [0]
real_connect = sqlite3.connect

def counted(statement):
    count[0] += 1
    if count[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

def connect(*args, **kwargs):
    conn = real_connect(*args, **kwargs)
    conn.set_trace_callback(counted)
    return conn

sqlite3.connect = connect
from durable_gen.local import SqliteStore
SqliteStore(sys.argv[1]).close()
print(count[0])
"""


def _upgrade(path: Path, kill_at: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _UPGRADE, str(path), str(kill_at)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def _version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        (version,) = conn.execute("SELECT version FROM schema_version").fetchone()
        return int(version)
    finally:
        conn.close()


def test_processes_killed_while_they_upgrade_the_schema_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    clock = VirtualClock(start_ms=1_700_000_000_000, auto_advance=False)
    with SqliteStore(path) as store:
        recorded = record_two_waiting(store, clock)
    conn = sqlite3.connect(path)
    with conn:
        _to_schema_v1(conn)
    conn.close()
    pristine = path.read_bytes()

    # How many statements an upgrade runs, on a copy, uninterrupted.
    probe = tmp_path / "probe.db"
    probe.write_bytes(pristine)
    done = _upgrade(probe, 0)
    assert done.returncode == 0, done.stderr
    statements = int(done.stdout)
    assert statements > 10 and _version(probe) == SCHEMA_VERSION

    kills = 0
    step = max(1, statements // 12)
    for kill_at in range(1, statements, step):  # a kill at every part of the upgrade
        done = _upgrade(path, kill_at)
        assert done.returncode == -signal.SIGKILL, (kill_at, done.stderr)
        kills += 1
        assert _version(path) in (1, SCHEMA_VERSION), kill_at  # never a half-upgraded file
    assert kills >= 10

    clock.advance(61)
    with SqliteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        check_kept_and_resumed(store, clock, recorded)


# --- the `callback` and `stop` commands killed at every statement ----------------------------

_COMMAND = """
import os, signal, sqlite3, sys
kill_at = int(sys.argv[1])
count = [0]
real_connect = sqlite3.connect

def counted(statement):
    count[0] += 1
    if count[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

def connect(*args, **kwargs):
    conn = real_connect(*args, **kwargs)
    conn.set_trace_callback(counted)
    return conn

sqlite3.connect = connect
from durable_gen.cli import main
status = main(sys.argv[2:])
sys.stderr.write(f"statements {count[0]}\\n")
sys.exit(status)
"""


def _command(db: Path, kill_at: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _COMMAND, str(kill_at), *args, "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "STEP_LOG": str(db.with_suffix(".steps"))},
    )


def _waiting_on_a_callback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A file whose one execution waits on its callback: its ARN and the callback id."""
    from .round9_flows import approval

    db = tmp_path / "pristine.db"
    monkeypatch.setenv("STEP_LOG", str(tmp_path / "pristine.steps"))
    with Worker(db) as worker:
        arn = worker.service.start(worker.register(approval), None)
        assert worker.drive(arn).status == "RUNNING"
        (callback_id,) = [
            op.callback_details.callback_id
            for op in worker.store.operations(arn)
            if op.type == "CALLBACK" and op.callback_details is not None
        ]
    assert callback_id is not None
    return arn, callback_id


def _state(db: Path, arn: str) -> tuple[str, list[tuple[str, str]], list[str]]:
    with SqliteStore(db) as store:
        ex = store.load(arn)
        assert ex is not None
        ops = [(op.type, op.status) for op in store.operations(arn)]
        events = [e.event_type for e in store.events(arn)]
        return ex.status, ops, events


def _finish(db: Path, arn: str) -> Any:
    with Worker(db) as worker:
        return worker.drive(arn)


def _steps(db: Path) -> list[str]:
    log = db.with_suffix(".steps")
    return log.read_text().split() if log.exists() else []


@pytest.mark.parametrize("command", ["callback", "stop"])
def test_the_callback_and_stop_commands_killed_at_every_statement_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    arn, callback_id = _waiting_on_a_callback(tmp_path, monkeypatch)
    pristine = (tmp_path / "pristine.db").read_bytes()
    args = ["callback", "succeed", callback_id, '"yes"'] if command == "callback" else ["stop", arn]
    before = _state(tmp_path / "pristine.db", arn)
    assert before[0] == "RUNNING"

    probe = tmp_path / "probe.db"
    probe.write_bytes(pristine)
    done = _command(probe, 0, *args)
    assert done.returncode == 0, done.stderr
    statements = int(done.stderr.rsplit("statements ", 1)[1])
    after = _state(probe, arn)
    assert after != before

    kills = 0
    step = max(1, statements // 6)
    # A kill before each part of the command, the COMMIT last (the trace sees a statement
    # before it runs: a kill once the commit is through is the next command's retry).
    for kill_at in [*range(1, statements, step), statements]:
        db = tmp_path / f"kill{kill_at}.db"
        db.write_bytes(pristine)
        done = _command(db, kill_at, *args)
        assert done.returncode == -signal.SIGKILL, (kill_at, done.stderr)
        kills += 1
        state = _state(db, arn)
        # All of the command's transaction or none of it.
        assert state in (before, after), (kill_at, state)
        # The operator runs the command again: it is done once.
        again = _command(db, 0, *args)
        if state == before:
            assert again.returncode == 0, (kill_at, again.stderr)
        else:
            assert again.returncode == 1, (kill_at, again.stderr)
            assert "already" in again.stderr, again.stderr
        assert _state(db, arn) == after, kill_at
        monkeypatch.setenv("STEP_LOG", str(db.with_suffix(".steps")))
        record = _finish(db, arn)
        if command == "callback":
            assert record.status == "SUCCEEDED", (kill_at, record.error)
            assert record.result == '"booked yes"'
            assert _steps(db) == ["book"], kill_at  # the at-most-once step ran once
        else:
            assert record.status == "STOPPED", (kill_at, record.status)
            assert _steps(db) == [], kill_at
    assert kills >= 5


# --- several processes starting and driving many short executions on one file ----------------

_STARTER = """
import sys
from durable_gen.local import Worker
from tests.soak.round9_flows import short

db, who, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Worker(db) as worker:
    name = worker.register(short)
    for i in range(count):
        key = f"{who}-{i}"
        arn = worker.service.start(name, f'"{key}"', execution_name=key)
        record = worker.drive(arn)
        assert record.status == "SUCCEEDED", (key, record.status, record.error)
"""


def test_several_processes_start_and_drive_short_executions_on_one_file_through_kills(
    tmp_path: Path,
) -> None:
    db, log = tmp_path / "shared.db", tmp_path / "shared.steps"
    processes, count = 3, 12
    env = {**os.environ, "STEP_LOG": str(log)}

    def launch(who: str, die_at: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", _STARTER, str(db), who, str(count)],
            cwd=ROOT,
            env={**env, "DIE_AT": str(die_at)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    # Each process kills itself once, inside a step (its success unrecorded), at a different
    # point; then it is started again and goes over its executions from the first.
    first_round = [launch(f"p{n}", die_at=5 + 4 * n) for n in range(processes)]
    for proc in first_round:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == -signal.SIGKILL, err
    second_round = [launch(f"p{n}", die_at=0) for n in range(processes)]
    for proc in second_round:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err

    runs = log.read_text().split()
    with SqliteStore(db) as store:
        executions = list(store.executions())
        assert len(executions) == processes * count  # one per name, none lost
        for ex in executions:
            assert ex.status == "SUCCEEDED", (ex.name, ex.status)
        results = {ex.name: store.load(ex.arn).result for ex in executions}  # type: ignore[union-attr]
    for n in range(processes):
        for i in range(count):
            key = f"p{n}-{i}"
            assert results[key] == f'"{key.upper()}!"', key
    # Every step ran once, but the one in which each process was killed, which ran again.
    tally: dict[str, int] = {}
    for label in runs:
        tally[label] = tally.get(label, 0) + 1
    assert len(tally) == processes * count * 2
    assert sorted(tally.values()) == [1] * (processes * count * 2 - processes) + [2] * processes


# --- kills in a Map under max_concurrency and a completion policy, and in a Child's rollback --

_FANOUT = """
import sys
from durable_gen.local import Worker
from tests.soak.round9_flows import fanout

with Worker(sys.argv[1]) as worker:
    arn = worker.service.start(worker.register(fanout), None, execution_name="fan")
    record = worker.drive(arn)
    print(record.status, record.result)
"""

#: Every step of ``fanout`` that runs in an uninterrupted execution.
_FANOUT_STEPS = {
    *(f"label-{item}" for item in ("a", "b", "bad", "c", "d")),
    *(f"take-{part}" for part in ("x", "y", "z")),
    "decline",
    *(f"refund-{part}" for part in ("x", "y", "z")),
}


def test_kills_in_a_map_with_max_concurrency_and_in_a_childs_rollback(tmp_path: Path) -> None:
    import json

    total = len(_FANOUT_STEPS)
    for die_at in range(1, total + 1, 2):
        db, log = tmp_path / f"fan{die_at}.db", tmp_path / f"fan{die_at}.steps"
        env = {**os.environ, "STEP_LOG": str(log)}
        argv = [sys.executable, "-c", _FANOUT, str(db)]
        killed = subprocess.run(
            argv,
            cwd=ROOT,
            env={**env, "DIE_AT": str(die_at)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert killed.returncode == -signal.SIGKILL, (die_at, killed.stderr)
        victim = log.read_text().split()[-1]  # the step the kill landed in
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (die_at, done.stderr)
        status, _, result = done.stdout.strip().partition(" ")
        assert status == "SUCCEEDED", (die_at, done.stdout)
        labels, failures, undone = json.loads(result)
        assert labels == ["A", "B", "C", "D"] and failures == 1, (die_at, result)
        # LIFO rollback; an at-most-once undo the kill interrupted is reported, not run again.
        expected = [
            ["take", "FAILED", "StepInterruptedError"]  # named after the compensated step
            if victim == f"refund-{part}"
            else ["take", "SUCCEEDED", None]
            for part in ("z", "y", "x")
        ]
        assert undone == expected, (die_at, victim, undone)
        runs = log.read_text().split()
        assert set(runs) == _FANOUT_STEPS, (die_at, runs)
        twice = sorted(label for label in set(runs) if runs.count(label) > 1)
        assert all(runs.count(label) <= 2 for label in runs), (die_at, runs)
        assert not any(label.startswith("refund") for label in twice), (die_at, runs)
        # Only the steps in flight at the kill ran again: the victim, and in the Map its one
        # sibling at most (max_concurrency=2).
        assert len(twice) <= 2 and (not twice or victim in twice or victim.startswith("refund")), (
            die_at,
            victim,
            twice,
        )
