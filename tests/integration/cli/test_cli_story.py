"""``durable-gen`` tells what happened and what to do: errors, names, callbacks, progress."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]
INPUT = ["--input", '"desk"']


def test_show_prints_the_error_type_message_and_stack_trace(cli: Cli) -> None:
    assert cli("run", "flows:failing", "--name", "bad").code == 1
    shown = cli("show", "bad").out
    lines = shown.splitlines()
    error_at = next(i for i, line in enumerate(lines) if line.startswith("  error "))
    assert lines[error_at] == "  error     RuntimeError: boom"
    trace = lines[error_at + 1 : lines.index(next(x for x in lines if x.startswith("operations")))]
    assert trace[0].strip() == "stack trace:"
    assert trace[1].strip() == "Traceback (most recent call last):"
    assert any("in explode" in line and "flows.py" in line for line in trace)
    assert any(line.strip() == 'raise RuntimeError("boom")' for line in trace)
    assert trace[-1].strip() == "RuntimeError: boom"


def test_show_escapes_what_the_error_says(cli: Cli) -> None:
    assert cli("run", "flows:story", "--skip-time", "--name", "story").code == 1
    shown = cli("show", "story").out
    assert "\x1b" not in shown
    assert "  error     ValueError: card declined\\x1b[31m <b>red</b>" in shown
    assert "stack trace:" in shown and "in charge" in shown


def test_list_shows_workflow_and_execution_names(cli: Cli) -> None:
    assert cli("run", "flows:total", "--input", "2", "--name", "order-7").code == 0
    assert cli("run", "flows:total", "--input", "1").code == 0
    lines = cli("list").out.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "STARTED", "DURATION", "WORKFLOW", "NAME"]
    named, unnamed = lines[1].split(), lines[2].split()
    assert named[1] == "SUCCEEDED" and named[-2:] == ["flows.total", "order-7"]
    # an unnamed execution is known by its id alone: no name column repeats it
    assert unnamed[-1] == "flows.total" and unnamed[0] not in unnamed[1:]


def callback_command(err: str, action: str) -> list[str]:
    """The arguments of the ``durable-gen callback ACTION ...`` command that ``err`` quotes."""
    command = err.split(f"`durable-gen callback {action} ", 1)[1].split("`", 1)[0]
    words = command.split()
    assert words[-1] in ("'RESULT_JSON'", "'MESSAGE'"), command
    return ["callback", action, *words[:-1]]


def test_run_says_at_once_how_to_answer_a_callback_without_timeout(
    cli: Cli, workdir: Path
) -> None:
    db = ["--db", "approvals.db"]
    waiting = cli("run", "flows:approval", "--input", '"laptop"', "--name", "w", *db)
    assert waiting.code == 3, waiting
    assert len(waiting.err.splitlines()) == 1, waiting.err
    assert "is suspended, waiting on: callback 'approve" in waiting.err
    full = str(workdir / "approvals.db")  # absolute: it works from another folder too
    assert f"run `durable-gen worker --db {full}` to resume it" in waiting.err
    args = callback_command(waiting.err, "succeed")
    assert args[:4] == ["callback", "succeed", "--db", full] and len(args[4]) >= 32
    assert cli(*args, '"yes"').code == 0
    assert cli("worker", "--once", "-q", *db).code == 0
    assert '"answer":"yes"' in cli("show", "w", *db).out


def test_run_says_at_once_how_to_answer_a_callback_with_a_timeout(cli: Cli, workdir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(workdir), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "durable_gen.cli", "run", "flows:approval_with_timeout", *INPUT],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        started = time.monotonic()
        err = ""
        while "durable-gen callback fail " not in err:
            line = proc.stderr.readline()
            assert line, f"run ended without saying how to answer its callback: {err!r}"
            err += line
        # said while the run still waits (the callback's timeout is 10 minutes away)
        assert proc.poll() is None and time.monotonic() - started < 30
        assert "waits on callback 'approve" in err
        answered = cli(*callback_command(err, "succeed"), '"granted"')
        assert answered.code == 0, answered
        out, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, rest
    assert json.loads(out) == {"request": "desk", "answer": "granted"}


@pytest.mark.parametrize(
    ("quiet", "threads"), [(False, "1"), (True, "1"), (False, "2")], ids=["1", "quiet", "2"]
)
def test_worker_logs_what_it_picks_up_and_finishes(cli: Cli, quiet: bool, threads: str) -> None:
    done = cli("start", "flows:total", "--input", "2", "--name", "ok").out.strip()
    bad = cli("start", "flows:failing", "--name", "bad").out.strip()
    waits = cli("start", "flows:approval", "--input", '"x"', "--name", "waits").out.strip()
    ran = cli("worker", "--once", "--concurrency", threads, *(["-q"] if quiet else []))
    assert ran.code == 0, ran
    if quiet:
        assert ran.err == ""
        return
    # the worker's own lines (a failed step attempt also logs a warning of its own)
    lines = [line for line in ran.err.splitlines() if line.startswith("durable-gen worker:")]
    assert len(lines) == 6, lines
    for exec_id, workflow, end in (
        (done, "flows.total", "SUCCEEDED"),
        (bad, "flows.failing", "FAILED: RuntimeError: boom"),
        (waits, "flows.approval", "suspended"),
    ):
        mine = [line for line in lines if exec_id[:8] in line]
        assert len(mine) == 2, (exec_id, lines)
        assert "picked up" in mine[0] and workflow in mine[0]
        assert "finished" not in mine[0] and end in mine[1]
