"""Round-10 crash trials, short enough for CI: a disk that fills up under sixteen executions
committing together, a SQLite file or its folder made unwritable between workers, two
workers on different code versions side by side, and kills in a ``Map`` whose items retry.

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

from durable_gen.local import SqliteStore, Worker

from . import disk
from .round10_flows import heavy, heavy_result

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


@pytest.mark.skipif(not disk.available(), reason="needs root and mount (a tmpfs)")
@pytest.mark.parametrize("kill", [False, True], ids=["waits", "killed"])
def test_a_disk_full_under_sixteen_executions_committing_together_loses_nothing(
    tmp_path: Path, kill: bool
) -> None:
    """engine.md, "Group commit" and cli.md, "Errors": the 16 threads of a ``--concurrency 16``
    worker share SQLite transactions; a full disk fails the shared commit of all of them at
    once. Each waits for room and goes on (or, killed meanwhile, a new worker takes over):
    every execution ends with the result of an uninterrupted run, no step whose success was
    recorded runs again, the at-most-once steps start once each."""
    log, err = tmp_path / "steps.log", tmp_path / "worker.stderr"
    env = _env(log)
    with disk.tmpfs("3m") as where:
        db = where / "durable.db"
        with Worker(db) as starter:
            name = starter.register(heavy)
            arns = [
                starter.service.start(name, json.dumps([tag, STEPS]), execution_name=tag)
                for tag in TAGS
            ]
        worker = _worker(db, env, err, "--concurrency", "16", "--poll", "0.05")
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
        disk.remount(where, "size=60m")
        if kill:
            worker = _worker(db, env, err, "--concurrency", "16", "--poll", "0.05")
        _wait_for(lambda: _all_ended(db, arns), 120, "every execution to end")
        codes.append(_stop(worker))
        with SqliteStore(db) as store:
            records = {tag: store.load(arn) for tag, arn in zip(TAGS, arns, strict=True)}
    stderr = err.read_text(errors="replace")
    assert "Traceback" not in stderr, stderr[-3000:]
    assert codes == ([-signal.SIGKILL, 0] if kill else [0]), (codes, stderr[-3000:])
    for tag, record in records.items():
        assert record is not None and record.status == "SUCCEEDED", (tag, record, stderr[-3000:])
        assert json.loads(record.result or "null") == heavy_result(tag, STEPS), tag
    starts = _starts(log)
    assert len(starts) == len(TAGS) * (STEPS + 1), starts  # every step ran
    twice = sorted(label for label, n in starts.items() if n > 1)
    if not kill:
        # The checkpoints were retried until the disk had room: nothing ran again.
        assert twice == [], twice
    else:
        # Only a step in flight at the kill ran again: at most one per execution, and never
        # the at-most-once one, nor one that had ended before the kill.
        assert all(starts[label] == 2 for label in twice), twice
        assert not any(label.endswith("-seal") for label in twice), twice
        per_execution = Counter(label.split("-")[0] for label in twice)
        assert all(n == 1 for n in per_execution.values()), twice
        assert all(before_kill[label] == 1 for label in twice), twice
