"""Round-10 crash trials, short enough for CI: two workers on different code versions side by
side, and kills in a ``Map`` whose items retry (``test_disk_round10.py`` holds the disk
trials).

Each trial counts the runs of every step in a log the steps write (``start``/``end`` lines,
with the process id) and reads what was recorded; none decides by timing alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from durable_gen.local import SqliteStore

ROOT = Path(__file__).resolve().parents[2]


def _env(log: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["STEP_LOG"] = str(log)
    env.update(extra)
    return env


def _lines(log: Path) -> list[tuple[str, str, str]]:
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        event, label, pid = line.split()
        out.append((event, label, pid))
    return out


def _starts(log: Path) -> Counter[str]:
    return Counter(label for event, label, _ in _lines(log) if event == "start")


def _wait_for(predicate: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.terminate()
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


# --- two workers on two code versions ----------------------------------------------------------

_V1 = """
import os, signal
import durable_gen as dg

def _ran(label):
    with open(os.environ["STEP_LOG"], "a", encoding="utf-8") as log:
        log.write(f"start {label} {os.getpid()}\\n")

@dg.step
def charge(key: str) -> str:
    _ran(f"charge-{key}")
    if os.environ.get("DIE_IN") == key:
        os.kill(os.getpid(), signal.SIGKILL)
    return "charged " + key

@dg.step
def ask(callback_id: str) -> None:
    pass

@dg.step
def ship(key: str) -> str:
    _ran(f"ship-{key}")
    return "shipped " + key

@dg.workflow
def order(key: str):
    charged = yield charge(key)
    receipt = None
    NEW_PATH
    answer = yield dg.WaitForCallback(ask, name="approve")
    return [charged, receipt, answer, (yield ship(key))]
"""

#: Version 2 emails a receipt after the charge, guarded as docs/versioning.md says.
_V2 = _V1.replace(
    "NEW_PATH",
    """if (yield dg.Patched("receipt")):
        receipt = yield send_receipt(key)""",
).replace(
    "@dg.step\ndef ship",
    """@dg.step
def send_receipt(key: str) -> str:
    _ran(f"receipt-{key}")
    return "receipt " + key

@dg.step
def ship""",
)


class _Fleet:
    """Workers of two code versions of the module ``rollout`` on one SQLite file."""

    def __init__(self, tmp_path: Path) -> None:
        self.db, self.log = tmp_path / "fleet.db", tmp_path / "steps.log"
        for version, source in (("v1", _V1.replace("NEW_PATH", "")), ("v2", _V2)):
            (tmp_path / version).mkdir()
            (tmp_path / version / "rollout.py").write_text(source)
        self.where = tmp_path

    def cli(self, version: str, *args: str, die_in: str = "") -> subprocess.CompletedProcess[str]:
        env = _env(self.log, DIE_IN=die_in)
        env["PYTHONPATH"] = os.pathsep.join([str(self.where / version), env["PYTHONPATH"]])
        return subprocess.run(
            [sys.executable, "-m", "durable_gen.cli", *args, "--db", str(self.db)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start(self, version: str, key: str) -> str:
        done = self.cli(version, "start", "rollout:order", "--input", json.dumps(key), "--arn")
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def answer(self, arn: str, value: str) -> None:
        with SqliteStore(self.db) as store:
            (callback_id,) = [
                op.callback_details.callback_id
                for op in store.operations(arn)
                if op.type == "CALLBACK" and op.callback_details is not None
            ]
        done = self.cli("v1", "callback", "succeed", str(callback_id), json.dumps(value))
        assert done.returncode == 0, done.stderr

    def state(self, arn: str) -> tuple[str, str | None, str | None, list[str]]:
        with SqliteStore(self.db) as store:
            ex = store.load(arn)
            assert ex is not None
            ops = [f"{op.name}/{op.sub_type}/{op.status}" for op in store.operations(arn)]
            error = None if ex.error is None else f"{ex.error.error_type}: {ex.error.error_message}"
            return ex.status, ex.result, error, ops


def test_a_change_deployed_after_the_old_workers_stop_keeps_every_execution_on_its_path(
    tmp_path: Path,
) -> None:
    """versioning.md, "Deploying to a fleet": the workers on version 1 stop (one of them
    SIGKILLed inside a step) before those on version 2 start. An execution that went past the
    change on version 1 keeps the old path; one cut off before it takes the new path; each
    step whose success was recorded runs once."""
    fleet = _Fleet(tmp_path)
    past = fleet.start("v1", "past")
    done = fleet.cli("v1", "worker", "--once")
    assert done.returncode == 0, done.stderr
    assert fleet.state(past)[0] == "RUNNING"  # it waits on its callback, past the change
    cut = fleet.start("v1", "cut")
    done = fleet.cli("v1", "worker", "--once", die_in="cut")
    assert done.returncode == -signal.SIGKILL, done.stderr  # killed inside the charge
    fleet.answer(past, "yes")
    done = fleet.cli("v2", "worker", "--once")  # the deploy: only version 2 runs from here
    assert done.returncode == 0, done.stderr
    fleet.answer(cut, "ok")
    done = fleet.cli("v2", "worker", "--once")
    assert done.returncode == 0, done.stderr
    status, result, error, _ = fleet.state(past)
    assert (status, error) == ("SUCCEEDED", None), error
    assert json.loads(result or "null") == ["charged past", None, "yes", "shipped past"]
    status, result, error, ops = fleet.state(cut)
    assert (status, error) == ("SUCCEEDED", None), error
    assert json.loads(result or "null") == ["charged cut", "receipt cut", "ok", "shipped cut"]
    assert "receipt/Patch/SUCCEEDED" in ops, ops
    starts = _starts(fleet.log)
    # The charge cut off by the kill ran again (at least once); every other step once.
    assert starts == Counter(
        {"charge-past": 1, "ship-past": 1, "charge-cut": 2, "receipt-cut": 1, "ship-cut": 1}
    ), starts


def test_an_execution_the_new_code_moved_on_fails_on_a_worker_still_on_the_old_code(
    tmp_path: Path,
) -> None:
    """versioning.md, "Deploying to a fleet": an execution that a version-2 worker took down
    the new path, resumed by a worker still on version 1, fails with a NonDeterminismError that
    names the change and says that the code is older; nothing it recorded is lost."""
    fleet = _Fleet(tmp_path)
    arn = fleet.start("v2", "new")
    done = fleet.cli("v2", "worker", "--once")
    assert done.returncode == 0, done.stderr
    before = fleet.state(arn)
    assert before[0] == "RUNNING"
    fleet.answer(arn, "yes")
    done = fleet.cli("v1", "worker", "--once")  # a worker the deploy has not reached yet
    assert done.returncode == 0, done.stderr
    status, result, error, ops = fleet.state(arn)
    assert status == "FAILED" and result is None, (status, result)
    assert error is not None and error.startswith("NonDeterminismError"), error
    assert "change 'receipt'" in error and "older than the code that recorded it" in error, error
    assert "stop the workers on the old code before workers on the new code start" in error
    # Every operation recorded before is still there (only statuses moved on).
    kept = [op.rsplit("/", 1)[0] for op in before[3]]
    assert [op.rsplit("/", 1)[0] for op in ops][: len(kept)] == kept, (before[3], ops)
    assert [op for op in ops if op.startswith(("charge", "receipt", "send_receipt"))] == [
        "charge/Step/SUCCEEDED",
        "receipt/Patch/SUCCEEDED",
        "send_receipt/Step/SUCCEEDED",
    ], ops
    assert _starts(fleet.log) == Counter({"charge-new": 1, "receipt-new": 1}), _starts(fleet.log)


# --- kills in a Map under max_concurrency whose items retry ------------------------------------

_SHIPPING = """
import sys
from durable_gen.local import Worker
from tests.soak.round10_flows import shipping

with Worker(sys.argv[1]) as worker:
    arn = worker.service.start(worker.register(shipping), None, execution_name="ship")
    record = worker.drive(arn)
    print(record.status, record.result)
"""


@pytest.mark.parametrize("die_at", [1, 5, 8])
def test_kills_in_a_map_whose_items_retry_keep_every_attempt_count(
    tmp_path: Path, die_at: int
) -> None:
    """guide.md (retries, at-most-once) and engine.md ("A worker is killed"): a ``Map`` under
    ``max_concurrency=2`` whose items run an at-least-once step and an at-most-once step, each
    retried after a first failure for some items, is killed at its ``die_at``-th step run.
    After the kill: the at-most-once step starts exactly once per recorded attempt (an
    interrupted attempt counts as failed, and its retry policy runs the next); an
    at-least-once step runs again only when it was in flight; the retries the items had used
    are kept, and every item ends with its result."""
    from .round10_flows import MAP_ITEMS

    db, log = tmp_path / "ship.db", tmp_path / "ship.steps"
    argv = [sys.executable, "-c", _SHIPPING, str(db)]
    killed = subprocess.run(
        argv, cwd=ROOT, env=_env(log, DIE_AT=str(die_at)), capture_output=True, timeout=120
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (victim,) = [label for event, label, _ in _lines(log) if event == "die"]
    done = subprocess.run(
        argv, cwd=ROOT, env=_env(log), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    status, _, result = done.stdout.strip().partition(" ")
    assert status == "SUCCEEDED", (done.stdout, done.stderr)
    assert json.loads(result) == [f"{item.upper()}!" for item in MAP_ITEMS]
    with SqliteStore(db) as store:
        (ex,) = list(store.executions())
        attempts: Counter[str] = Counter()
        for op in store.operations(ex.arn):
            if op.type == "STEP" and op.step_details is not None:
                item = json.loads(op.step_details.result or "null").lower().rstrip("!")
                attempts[f"{op.name}-{item}"] = op.step_details.attempt or 0
                assert op.status == "SUCCEEDED", op
    starts = _starts(log)
    assert set(starts) == set(attempts) and len(attempts) == 2 * len(MAP_ITEMS), starts
    unstarted = []  # an at-most-once attempt whose START was recorded, its body not begun
    for label, n in starts.items():
        if label.startswith("stamp"):
            # never more starts than recorded attempts; one fewer only for an attempt in flight
            # at the kill (its START committed, the kill before its body began: counted failed)
            assert attempts[label] - n in (0, 1), (victim, label, n, attempts[label])
            if attempts[label] > n:
                unstarted.append(label)
        else:
            assert n - attempts[label] in (0, 1), (victim, label, n, attempts[label])
    again = sorted(label for label in starts if starts[label] > attempts[label])
    # Only what was in flight at the kill ran again: the victim and its one sibling at most.
    assert len(again) <= 2 and (not again or victim in again or victim.startswith("stamp")), (
        victim,
        again,
    )
    # max_concurrency=2: the victim's one sibling at most was in flight beside it
    assert len(unstarted) <= 1 and victim not in unstarted, (victim, unstarted, attempts)
    if victim.startswith("stamp"):
        assert victim not in again  # an at-most-once attempt is never run again
        assert attempts[victim] >= 2, attempts  # the interrupted attempt counted as failed
