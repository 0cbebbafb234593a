"""A new user's first day, round 12: a ``Worker`` from Python given a ``log`` of their own
(a logging handler, a socket to a log collector) that fails, as docs/cli.md's ``Worker``
paragraph invites, the backup command of docs/cli.md run as written on a live database, and
``python -m durable_gen`` where the console script is not on PATH.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import durable_gen as dg
from durable_gen.local import Worker

ROOT = Path(__file__).resolve().parents[3]
SRC = ROOT / "src"


@dg.step
def add(a: int, b: int) -> int:
    return a + b


@dg.workflow
def total(n: int) -> dg.Workflow[int]:
    t = 0
    for i in range(n):
        t = yield from add(t, i)
    return t


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.EPIPE, "Broken pipe"),
        ValueError("I/O operation on closed file"),
        KeyError("x"),
    ],
    ids=["broken-pipe", "closed-file", "a-bug-of-its-own"],
)
def test_a_log_that_fails_loses_its_line_not_the_execution(
    tmp_path: Path, failure: Exception
) -> None:
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        raise failure

    with Worker(str(tmp_path / "app.db"), log=log, progress=True) as worker:
        name = worker.register(total)
        arn = worker.service.start(name, json.dumps(4))
        record = worker.drive(arn)
    # the "picked up" line raised inside the invocation: the execution was FAILED with the
    # log's error, and a failing "finished" line threw away an invocation that had succeeded
    assert (record.status, record.error, record.result) == ("SUCCEEDED", None, "6")
    assert [line.split()[3] for line in lines] == ["picked", "finished"], lines


def test_the_backup_command_of_cli_md_keeps_the_copy_the_owners_alone(tmp_path: Path) -> None:
    # The database is created owner-only (0600); the page's backup command made a copy of
    # its inputs and results readable by every user of the host (the umask's 0644).
    if shutil.which("sqlite3") is None or shutil.which("bash") is None:
        pytest.skip("no sqlite3 command-line shell (or bash) to run the page's command with")
    page = (ROOT / "docs" / "cli.md").read_text()
    section = page.split("**Backups and restores.**", 1)[1]
    command = re.search(r"`(\(?umask[^`]*|sqlite3 [^`]*)`", section.replace("\n  ", " "))
    assert command is not None, "the page gives no backup command"
    with Worker(str(tmp_path / "durable.db")) as worker:
        name = worker.register(total)
        arn = worker.service.start(name, json.dumps(3))
        worker.drive(arn)
    done = subprocess.run(
        ["bash", "-c", f"umask 022; {command.group(1)}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (command.group(1), done)
    backup = tmp_path / "backup.db"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600, command.group(1)
    with Worker(str(backup)) as restored:
        assert restored.service.get_execution(arn).result == "3"


def test_python_dash_m_durable_gen_is_the_command_line(tmp_path: Path) -> None:
    # Where the console script is not on PATH (a venv not activated, `pipx run`, a container
    # with only `python`), `python -m durable_gen` is what a newcomer types: it said
    # "'durable_gen' is a package and cannot be directly executed".
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    helped = subprocess.run(
        [sys.executable, "-m", "durable_gen", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: durable-gen [-h] COMMAND ...")
    listed = subprocess.run(
        [sys.executable, "-m", "durable_gen", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 2 and "no database at durable.db" in listed.stderr, listed
