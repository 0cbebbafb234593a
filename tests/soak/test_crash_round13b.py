"""Round-13b crash trials: a user's own script embedding the engine, SIGKILLed and run again.

The script (``python -m tests.soak.round13b_flows DB``) opens a ``Worker`` on a SQLite file,
starts one execution under a fixed name and drives it (engine.md: "an ``execution_name`` makes
the start idempotent"). The workflow books with compensated steps (at-least-once and
at-most-once undos), rolls back inside a ``Child`` and inside a failing ``Map`` item (the
``Map`` tolerates one failure), waits, polls with ``WaitForCondition``, retries a flaky step
with backoff, runs an at-most-once step, and rolls the rest back at the end (guide.md "Sagas").

Each process is SIGKILLed at a drawn point: while it opens (and creates) the database, as a
step body (an undo's included) begins, or once it is done but before its outcome is recorded;
then the same script runs again. Checked from the docs (engine.md "A worker is killed",
guide.md "Sagas"): the execution is not lost and ends with the result of an uncrashed run,
given what each at-most-once step ended with (an interrupted one is ``StepInterruptedError``,
an interrupted at-most-once undo a ``FAILED`` compensation); no step (undo) whose success was
recorded starts again; no at-most-once body starts twice; every undo runs for a step that
succeeded, and none after its success was recorded; the history replays.

Backups (cli.md "Backups and restores"): ``sqlite3.Connection.backup`` taken by another
process while the script runs, both killed at drawn moments; every finished backup opens and
replays, and one restored as documented (every process stopped, ``-wal``/``-shm`` removed)
resumes to the same result.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from durable_gen.local import SqliteStore
from durable_gen.testing import replay

from . import round13b_flows as flows

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = [sys.executable, "-m", "tests.soak.round13b_flows"]
_EXTRA = os.environ.get("ROUND13B_SEED")
SEEDS = [131, 1313] + (
    [] if _EXTRA is None else [random.randrange(2**32) if _EXTRA == "random" else int(_EXTRA)]
)
#: labels of the at-most-once bodies (steps and undos)
ONCE = {"hotel", "ticket", "undo-hotel"}


class Trial:
    def __init__(self, tmp: Path) -> None:
        self.db = tmp / "trip.db"
        self.log = tmp / "steps.log"
        self.log.touch()
        self.pids: list[int] = []
        self.checkpointing = "step"
        #: ``worker`` (Worker.drive) or ``service`` (LocalService, VirtualClock, make_handler)
        self.script = "worker"
        #: (index of the first process after a kill, labels whose success was recorded then)
        self.recorded: list[tuple[int, set[str]]] = []

    def snapshot(self) -> None:
        self.recorded.append((len(self.pids), self.succeeded_labels()))

    def env(self, kill_at: str | None) -> dict[str, str]:
        env = dict(os.environ)
        env["CHECKPOINTING"] = self.checkpointing
        env["SCRIPT"] = self.script
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env["STEP_LOG"] = str(self.log)
        env.pop("KILL_AT", None)
        if kill_at is not None:
            env["KILL_AT"] = kill_at
        return env

    def spawn(self, kill_at: str | None = None, db: Path | None = None) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [*SCRIPT, str(db or self.db)],
            cwd=ROOT,
            env=self.env(kill_at),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.pids.append(proc.pid)
        return proc

    def succeeded_labels(self, db: Path | None = None) -> set[str]:
        """Labels of the bodies whose success is recorded (a body returns its label upper)."""
        path = db or self.db
        if not path.exists():
            return set()
        with SqliteStore(str(path)) as store:
            service = _service(store)
            found: set[str] = set()
            for record in service.list_executions():
                for op in service.get_operations(record.arn):
                    if op.type != "STEP" or not op.step_details:
                        continue
                    result = json.loads(op.step_details.result or "null")
                    if isinstance(result, str) and op.status == "SUCCEEDED":
                        found.add(result.lower())
                    elif isinstance(result, dict):  # the state checkpointed after each check
                        found.update(f"check{n + 1}" for n in range(result["checks"]))
            return found

    def progress(self) -> int:
        """The index in ``LABELS`` of the latest body started."""
        started = [LABELS.index(label) for event, label, _ in self.lines() if label in LABELS]
        return max(started, default=-1)

    def lines(self) -> list[tuple[str, str, int]]:
        out = []
        for line in self.log.read_text().splitlines():
            event, label, pid = line.split()
            out.append((event, label, int(pid)))
        return out

    def check_steps(self) -> None:
        lines = self.lines()
        starts = Counter(label for event, label, _ in lines if event == "start")
        for label in ONCE:
            assert starts[label] <= 1, f"at-most-once {label} started {starts[label]} times"
        order = {pid: i for i, pid in enumerate(self.pids)}
        for first, labels in self.recorded:
            after = {
                label
                for event, label, pid in lines
                if event == "start" and order.get(pid, -1) >= first
            }
            again = after & labels
            assert not again, f"steps whose success was recorded started again: {sorted(again)}"
        # An undo runs only for a booking whose body ended.
        ended = {label for event, label, _ in lines if event == "end"}
        for label in starts:
            if label.startswith("undo-"):
                assert label[5:] in ended, f"{label} ran for a step that never succeeded"


def _service(store: SqliteStore) -> Any:
    from durable_gen.local import LocalService

    return LocalService(store=store)


def _expected(result: dict[str, Any]) -> dict[str, Any]:
    """What an uncrashed run returns, given what the at-most-once steps ended with."""
    hotel, ticket = result["hotel"], result["ticket"]
    rollback = []
    if hotel != "interrupted":
        undone = result["rollback"][0]
        if undone[1] == "FAILED":  # the at-most-once undo was interrupted
            assert undone == ["hotel", "FAILED", None, "StepInterruptedError"], undone
            rollback.append(undone)
        else:
            rollback.append(["hotel", "SUCCEEDED", "UNDO-HOTEL", None])
    rollback.append(["flight", "SUCCEEDED", "UNDO-FLIGHT", None])
    return {
        "flight": "FLIGHT",
        "hotel": "HOTEL" if hotel != "interrupted" else "interrupted",
        "car": [["seat", "SUCCEEDED", "UNDO-SEAT", None], ["car", "SUCCEEDED", "UNDO-CAR", None]],
        "items": ["I0-B", "I2-B"],
        "item-errors": [
            "item rolled back: [['i1-b', 'SUCCEEDED', 'UNDO-I1-B', None], "
            "['i1-a', 'SUCCEEDED', 'UNDO-I1-A', None]]"
        ],
        "poll": {"checks": 2},
        "flaky": "FLAKY",
        "ticket": "TICKET" if ticket != "interrupted" else "interrupted",
        "rollback": rollback,
    }


def _finish(trial: Trial, db: Path | None = None) -> dict[str, Any]:
    proc = trial.spawn(db=db)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    printed = json.loads(out.strip().splitlines()[-1])
    assert printed["status"] == "SUCCEEDED", printed
    result: dict[str, Any] = json.loads(printed["result"])
    assert result == _expected(result)
    with SqliteStore(str(db or trial.db)) as store:
        service = _service(store)
        records = service.list_executions()
        assert [r.status for r in records] == ["SUCCEEDED"]
        report = replay(flows.trip, service.get_history(records[0].arn))
        assert report.ok, str(report)
    return result


def _kill_points(rng: random.Random) -> list[str]:
    """Kill points on the bodies of the workflow, in the order an uncrashed run starts them."""
    points = [f"{rng.choice(['start', 'end'])}:{label}" for label in LABELS]
    return sorted(rng.sample(points, 12), key=lambda p: LABELS.index(p.split(":")[1]))


#: every body of the workflow, in the order an uncrashed run starts them
LABELS = [
        "flight", "hotel", "car", "seat", "undo-seat", "undo-car", "i0-a", "i1-a", "i0-b",
        "i1-b", "undo-i1-b", "i2-a", "i2-b", "undo-i1-a", "check1", "check2", "flaky",
        "ticket", "undo-hotel", "undo-flight",
    ]  # fmt: skip


@pytest.mark.parametrize("seed", SEEDS)
def test_a_script_driving_a_saga_is_killed_at_drawn_points_and_run_again(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    trial = Trial(tmp_path)
    trial.checkpointing = rng.choice(["step", "eager", "batch"])
    trial.script = rng.choice(["worker", "service"])
    try:
        # Killed while it opens and creates the database, then as bodies begin or end.
        for _ in range(2):
            proc = trial.spawn()
            time.sleep(rng.uniform(0.05, 0.35))
            proc.kill()
            proc.communicate()
            trial.snapshot()
        for point in _kill_points(rng):
            label = point.split(":")[1]
            if label in trial.recorded[-1][1] or LABELS.index(label) < trial.progress():
                continue  # recorded or passed already: that body does not run again
            proc = trial.spawn(point)
            _, err = proc.communicate(timeout=60)
            if proc.returncode == 0:
                break  # the execution ended: the remaining points are not reached
            assert proc.returncode == -signal.SIGKILL, err[-3000:]
            trial.snapshot()
        result = _finish(trial)
        trial.check_steps()
        if os.environ.get("ROUND13B_DEBUG"):
            print(
                trial.checkpointing,
                trial.script,
                len(trial.pids),
                result["hotel"],
                result["ticket"],
                result["rollback"],
            )
    except BaseException:
        print(f"seed {seed} ({trial.checkpointing}, {trial.script}): {trial.log.read_text()}")
        raise


BACKUP = """
import os, sqlite3, sys, time
src, folder = sys.argv[1:]
n = 0
while True:
    if os.path.exists(src):
        tmp = os.path.join(folder, f"part{n}.tmp")
        with sqlite3.connect(src) as a, sqlite3.connect(tmp) as b:
            a.backup(b)
        a.close(); b.close()
        os.replace(tmp, os.path.join(folder, f"backup{n}.db"))
        n += 1
    time.sleep(0.02)
"""


def test_backups_taken_while_the_script_dies_open_replay_and_restore_to_the_same_result(
    tmp_path: Path,
) -> None:
    rng = random.Random(7)
    trial = Trial(tmp_path)
    folder = tmp_path / "backups"
    folder.mkdir()
    backup = subprocess.Popen([sys.executable, "-c", BACKUP, str(trial.db), str(folder)])
    try:
        for _ in range(6):
            proc = trial.spawn()
            time.sleep(rng.uniform(0.2, 0.9))
            proc.kill()
            proc.communicate()
            if rng.random() < 0.5:  # the backup killed too, in the middle of a copy at times
                backup.kill()
                backup.wait()
                backup = subprocess.Popen(
                    [sys.executable, "-c", BACKUP, str(trial.db), str(folder)]
                )
    finally:
        backup.kill()
        backup.wait()
    result = _finish(trial)
    assert result["flight"] == "FLIGHT"
    copies = sorted(folder.glob("backup*.db"), key=lambda p: p.stat().st_mtime_ns)
    assert copies, "no backup was taken"
    for copy in copies:
        with SqliteStore(str(copy)) as store:
            service = _service(store)
            for record in service.list_executions():
                report = replay(flows.trip, service.get_history(record.arn))
                assert report.ok, f"{copy.name}: {report}"
    # Every backup resumes to the same result in a place of its own (five of them spread over
    # the run), and the middle one restored in the database's place, as cli.md says.
    for k in sorted({round(i * (len(copies) - 1) / 4) for i in range(5)}):
        place = tmp_path / f"restore{k}"
        place.mkdir()
        (place / "trip.db").write_bytes(copies[k].read_bytes())
        again = _finish(trial, place / "trip.db")
        assert again == _expected(again)
    restored = copies[len(copies) // 2]
    for suffix in ("-wal", "-shm"):
        Path(f"{trial.db}{suffix}").unlink(missing_ok=True)
    os.replace(restored, trial.db)
    again = _finish(trial)
    assert again == _expected(again)
    with sqlite3.connect(trial.db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


# --- a virtual clock resuming an execution another process's clock moved on -----------------


@pytest.mark.parametrize("script", ["clocked", "clocked-service"])
def test_a_virtual_clock_script_killed_after_a_skipped_day_resumes_at_that_day(
    tmp_path: Path, script: str
) -> None:
    """engine.md "Time": ``Now()`` moves with the waits a virtual clock skips. A script on a
    SQLite file with ``Worker(skip_time=True)`` (what ``durable-gen run --skip-time`` runs),
    killed after a day's wait was skipped and run again, started its clock at the wall time
    afresh: ``Now()`` after the wait read a moment after the time before it, and the
    history's timestamps ran backwards. With ``LocalService(clock=VirtualClock())`` (which
    starts at 2025-01-01) the invocation taken back from the dead process, scheduled on the
    wall clock, moved the virtual clock to the wall time: ``Now()`` leapt by years."""
    trial = Trial(tmp_path)
    trial.script = script
    proc = trial.spawn("start:after-day")
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    proc = trial.spawn()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    printed = json.loads(out.strip().splitlines()[-1])
    assert printed["status"] == "SUCCEEDED"
    assert json.loads(printed["result"]) == 86400  # as in a run never killed
    with SqliteStore(str(trial.db)) as store:
        stamps = [event.event_timestamp for event in _service(store).get_history(printed["arn"])]
    assert stamps == sorted(stamps), stamps
