"""Disk trials: the SQLite file's disk fills up, or turns read-only, under a worker.

The database lives on a small ``tmpfs`` mounted for the trial (so it needs root and
``mount``; ``available()`` says whether this machine allows it). What the docs promise:

- a full disk is a ``StoreUnavailableError``: the worker says so on stderr and retries; once
  there is room again it resumes from its last checkpoint, whether it waited or was killed
  meanwhile, and the execution ends with the result of an uninterrupted run;
- a file this process may not write is a ``StoreError``: the worker ends with exit status 1
  and one line that says what to do, never a traceback; once the file is writable again a
  worker finishes the execution.

Only the step that was running when the disk filled may run again (its success was never
recorded); every other step runs once. ``python -m tests.soak.disk`` runs both trials.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from durable_gen.local import Worker

from . import flows
from .crash import ROOT, _env, _lines

STEPS = 150


@contextlib.contextmanager
def tmpfs(size: str) -> Iterator[Path]:
    """A ``tmpfs`` of ``size`` (``mount`` syntax: ``3m``) mounted on a new directory."""
    where = Path(tempfile.mkdtemp(prefix="durable-gen-disk-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        with contextlib.suppress(OSError):
            where.rmdir()


def remount(where: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)


@functools.cache
def available() -> bool:
    """Whether this process may mount a tmpfs (root, with ``mount`` at hand)."""
    if os.geteuid() != 0:
        return False
    try:
        with tmpfs("1m"):
            return True
    except (OSError, subprocess.CalledProcessError):
        return False


def _worker(db: Path, env: dict[str, str], err: Path) -> subprocess.Popen[bytes]:
    with open(err, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "durable_gen.cli", "worker", "--db", str(db), "--poll", "0.05"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


def _finish(db: Path, arn: str, seconds: float = 60) -> tuple[str, str | None]:
    deadline = time.monotonic() + seconds
    with Worker(db) as reader:
        while True:
            record = reader.service.get_execution(arn)
            if record.is_terminal or time.monotonic() > deadline:
                return record.status, record.result
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.terminate()
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def expected() -> str:
    import json

    return json.dumps(
        [f"b-{i}:{len(f'b-{i}') + 20_001}" for i in range(STEPS)], separators=(",", ":")
    )


def trial_full(work: Path, *, kill: bool) -> dict[str, object]:
    """The disk fills up under a worker; then room comes back (the worker killed meanwhile
    with ``kill``, and a new one started)."""
    log, err = work / "steps.log", work / "workers.stderr"
    env = _env(log)
    with tmpfs("3m") as disk:
        db = disk / "durable.db"
        with Worker(db) as starter:
            arn = starter.service.start(starter.register(flows.bulky), str(STEPS))
        worker = _worker(db, env, err)
        deadline = time.monotonic() + 60
        while "is full" not in err.read_text(errors="replace"):
            assert time.monotonic() < deadline and worker.poll() is None, err.read_text()
            time.sleep(0.02)
        time.sleep(1)  # a few retries
        codes = []
        if kill:
            worker.send_signal(signal.SIGKILL)
            codes.append(worker.wait())
        remount(disk, "size=40m")
        if kill:
            worker = _worker(db, env, err)
        status, result = _finish(db, arn)
        codes.append(_stop(worker))
    return _outcome(log, err, status, result, codes)


def trial_read_only(work: Path) -> dict[str, object]:
    """The file system turns read-only while a worker's invocation holds a lease (the worker
    is killed, since a busy file system cannot be remounted read-only); a new worker meets a
    read-only file; then it is writable again."""
    log, err = work / "steps.log", work / "workers.stderr"
    env = _env(log)
    with tmpfs("40m") as disk:
        db = disk / "durable.db"
        with Worker(db) as starter:
            arn = starter.service.start(starter.register(flows.bulky), str(STEPS))
        worker = _worker(db, env, err)
        deadline = time.monotonic() + 60
        while sum(1 for event, _, _ in _lines(log) if event == "end") < 20:
            assert time.monotonic() < deadline and worker.poll() is None, err.read_text()
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
        codes = [worker.wait()]
        remount(disk, "ro")
        worker = _worker(db, env, err)
        try:
            codes.append(worker.wait(60))
        except subprocess.TimeoutExpired:
            codes.append(_stop(worker))
        remount(disk, "rw")
        worker = _worker(db, env, err)
        status, result = _finish(db, arn)
        codes.append(_stop(worker))
    return _outcome(log, err, status, result, codes)


def _outcome(
    log: Path, err: Path, status: str, result: str | None, codes: list[int]
) -> dict[str, object]:
    starts = Counter(label for event, label, _ in _lines(log) if event == "start")
    return {
        "status": status,
        "result_ok": result == expected(),
        "codes": codes,
        "ran_again": sorted(label for label, n in starts.items() if n > 1),
        "steps": len(starts),
        "stderr": err.read_text(errors="replace"),
    }


def main() -> int:
    if not available():
        print("disk trials need root and mount")
        return 2
    bad = 0
    for name, run in [
        ("full", lambda w: trial_full(w, kill=False)),
        ("full, killed", lambda w: trial_full(w, kill=True)),
        ("read-only", trial_read_only),
    ]:
        with tempfile.TemporaryDirectory() as work:
            out = run(Path(work))
        ok = out["status"] == "SUCCEEDED" and out["result_ok"] and len(out["ran_again"]) <= 1  # type: ignore[arg-type]
        ok = ok and "Traceback" not in out["stderr"]  # type: ignore[operator]
        bad += not ok
        print(name, "ok" if ok else "FAILED", {k: v for k, v in out.items() if k != "stderr"})
        if not ok:
            print(out["stderr"][-3000:])  # type: ignore[index]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
