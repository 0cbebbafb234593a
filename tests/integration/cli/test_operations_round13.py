"""``durable-gen`` under an operator's hands, round 13: signals while a database is locked.

Written from docs/cli.md and docs/engine.md ("One writer at a time on SQLite"): a process frozen
while it holds the write lock makes every command wait up to ``--lock-timeout``. Ctrl-C is the
operator's way out of such a wait, and must not itself wait out the timeout.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]


@pytest.fixture
def locked(cli: Cli, workdir: Path) -> Iterator[Path]:
    """A database whose write lock another process holds (as a frozen worker would)."""
    assert cli("run", "flows:total", "--input", "2", "--name", "total").code == 0
    db = workdir / "durable.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield db
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def _sigint_as_at_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _waiting(args: list[str], workdir: Path, db: Path) -> subprocess.Popen[str]:
    """``durable-gen ARGS`` started, once it has opened the database (and so waits on it)."""
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(workdir), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "durable_gen.cli", *args],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as at a terminal: a shell starts background jobs with SIGINT ignored, and a
        # Python started so keeps ignoring it (the suite may run as such a job).
        preexec_fn=_sigint_as_at_a_terminal,
    )
    deadline = time.monotonic() + 30
    fds = Path(f"/proc/{proc.pid}/fd")
    while time.monotonic() < deadline:
        try:
            if any(os.path.realpath(fd) == str(db.resolve()) for fd in fds.iterdir()):
                break
        except OSError:
            pass
        time.sleep(0.05)
    time.sleep(0.5)  # past the open: in the wait for the write lock
    return proc


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc")
@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["show", "total"],
        ["stop", "total"],
        ["start", "flows:total", "--input", "1"],
        ["worker"],
        ["worker", "--once"],
    ],
    ids=lambda a: " ".join(a),
)
def test_ctrl_c_ends_a_command_waiting_for_a_locked_database_at_once(
    args: list[str], cli: Cli, workdir: Path, locked: Path
) -> None:
    # SQLite waited for the lock in one call that runs no Python code, so Ctrl-C was handled
    # only once the whole --lock-timeout had passed (30 s here), and a worker then waited as
    # long again to hand its work back before it exited.
    proc = _waiting([*args, "--lock-timeout", "30"], workdir, locked)
    began = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    took = time.monotonic() - began
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert "Traceback" not in err
    assert took < 10, f"Ctrl-C took {took:.1f} s"


def test_the_lock_timeout_is_still_waited_in_full(cli: Cli, workdir: Path, locked: Path) -> None:
    # The wait now goes in short slices: together they still last the whole --lock-timeout,
    # and the error says how long.
    began = time.monotonic()
    result = cli("stop", "total", "--lock-timeout", "1.5")
    took = time.monotonic() - began
    assert result.code == 1, result
    assert "locked: another process held it for more than 1.5 s" in result.err
    assert took >= 1.5
