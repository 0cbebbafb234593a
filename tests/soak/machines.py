"""Two machines' worth of workers on one database, where both machines have one host name.

Machines built from one image, or containers run with the host's network, often share a host
name while their process ids mean different processes. The trial runs one worker in this
process-id namespace and one in a new one (``unshare --pid``: a second machine as far as
process ids go, with the same host name), starts ``flows.machines`` on the first and lets the
second look at its lease while an at-most-once step runs. The second worker may take the
execution over only once the lease expires; with a live first worker it never does, so every
step runs once, in the first worker. Killing the first worker instead (``kill=True``), the
second takes the execution over once the lease has expired, not before.

It needs ``unshare`` (util-linux) and the right to make a namespace (root); ``available()``
says whether this machine has both.
"""

from __future__ import annotations

import functools
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from durable_gen.local import Worker

from . import flows
from .crash import ROOT, _env, _lines


@functools.cache
def available() -> bool:
    """Whether this machine can start a process in a new process-id namespace."""
    try:
        done = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", "true"],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _worker(db: str, env: dict[str, str], err: Path, *, namespace: bool, lease: float):
    command = [sys.executable, "-m", "durable_gen.cli", "worker", "--db", db, "--poll", "0.05"]
    command += ["--lease", str(lease)]
    if namespace:  # --kill-child: the worker dies with unshare, whatever signal ends it
        command = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", *command]
    with open(err, "ab") as out:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=out)


def trial(db: str, where: Path, *, kill: bool = False, lease: float = 30.0) -> dict[str, object]:
    """One execution of ``flows.machines`` with a worker on each of the two machines.

    Returns what the checks read: the execution's status, result and error, how often each
    step started and the pid that started it (by the step log), the first worker's pid, and
    with ``kill`` how long after the first worker's death the execution ended.
    """
    log, err = where / "steps.log", where / "workers.stderr"
    env = _env(log)
    with Worker(db) as starter:
        name = starter.register(flows.machines)
        arn = starter.service.start(name, "5")
    first = _worker(db, env, err, namespace=False, lease=lease)
    second = None
    killed_at = ended_at = None
    try:
        deadline = time.monotonic() + 60
        while not any(label == "m-once" for _, label, _ in _lines(log)):
            assert time.monotonic() < deadline, err.read_text(errors="replace")[-3000:]
            time.sleep(0.01)
        second = _worker(db, env, err, namespace=True, lease=lease)
        time.sleep(0.5)
        if kill:
            first.send_signal(signal.SIGKILL)
            first.wait()
            killed_at = time.monotonic()
        deadline = time.monotonic() + 60 + lease
        with Worker(db) as reader:
            while time.monotonic() < deadline:
                record = reader.service.get_execution(arn)
                if record.is_terminal:
                    ended_at = time.monotonic()
                    break
                time.sleep(0.05)
    finally:
        if second is not None:  # unshare ignores SIGTERM; its child dies with it
            second.kill()
            second.wait()
        for proc in (first,):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    lines = _lines(log)
    return {
        "status": record.status,
        "result": json.loads(record.result) if record.result else None,
        "error_type": record.error.error_type if record.error else None,
        "starts": Counter(label for event, label, _ in lines if event == "start"),
        "pids": {label: int(pid) for event, label, pid in lines if event == "start"},
        "first_pid": first.pid,
        "ended_after_kill": (
            None if killed_at is None or ended_at is None else ended_at - killed_at
        ),
        "stderr": err.read_text(errors="replace")[-3000:] if err.exists() else "",
    }
