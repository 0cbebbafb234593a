"""Hosts of a fleet whose clocks disagree agree on when a timer is due: the server's clock.

Each process below runs the real command line with its clock moved (``time.time`` and
``time.time_ns`` shifted before durable_gen is imported), as on a host whose clock is off.
A worker two minutes ahead must not end a one-minute wait, nor time a callback out, early; an
execution started on such a host must not wait two minutes for a worker whose clock is right.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

FLOWS = textwrap.dedent(
    """
    import os
    import durable_gen as dg


    @dg.step
    def mark(label):
        with open(os.environ["STEP_LOG"], "a") as f:
            f.write(label + "\\n")
        return label


    @dg.workflow
    def waits(_):
        yield mark("before")
        yield dg.Wait(seconds=60, name="pause")
        yield mark("after")
        return "done"


    @dg.workflow
    def approval(_):
        return (yield dg.WaitForCallback(mark, name="approve", timeout=60))
    """
)

SKEWED = textwrap.dedent(
    """
    import os, sys, time
    skew = float(os.environ.get("CLOCK_SKEW", "0"))
    real, real_ns = time.time, time.time_ns
    time.time = lambda: real() + skew
    time.time_ns = lambda: real_ns() + int(skew * 1e9)
    from durable_gen.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def _cli(tmp_path: Path, url: str, skew: float, *argv: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), os.getcwd()])
    env["STEP_LOG"] = str(tmp_path / "steps.log")
    env["CLOCK_SKEW"] = str(skew)
    done = subprocess.run(
        [sys.executable, "-c", SKEWED, *argv, "--db", url],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _statuses(tmp_path: Path, url: str) -> dict[str, str]:
    listed = json.loads(_cli(tmp_path, url, 0, "list", "--json"))
    return {record["name"]: record["status"] for record in listed}


def test_a_worker_whose_clock_is_ahead_fires_no_timer_early(
    tmp_path: Path, postgres_url: str
) -> None:
    (tmp_path / "skewflows.py").write_text(FLOWS)
    _cli(
        tmp_path, postgres_url, 0, "start", "skewflows:waits", "--name", "skew-wait", "--input", "1"
    )
    _cli(
        tmp_path,
        postgres_url,
        0,
        "start",
        "skewflows:approval",
        "--name",
        "skew-callback",
        "--input",
        "1",
    )
    _cli(tmp_path, postgres_url, 0, "worker", "--once", "-q")  # the wait and callback begin
    assert (tmp_path / "steps.log").read_text().count("before") == 1
    _cli(tmp_path, postgres_url, 120, "worker", "--once", "-q")  # 2 minutes ahead
    assert _statuses(tmp_path, postgres_url) == {"skew-wait": "RUNNING", "skew-callback": "RUNNING"}
    assert "after" not in (tmp_path / "steps.log").read_text()
    history = _cli(tmp_path, postgres_url, 0, "history", "skew-callback")
    assert "CallbackTimedOut" not in history


def test_an_execution_started_on_a_host_ahead_runs_at_once(
    tmp_path: Path, postgres_url: str
) -> None:
    (tmp_path / "skewflows.py").write_text(FLOWS)
    _cli(
        tmp_path,
        postgres_url,
        120,
        "start",
        "skewflows:waits",
        "--name",
        "skew-wait",
        "--input",
        "1",
    )
    _cli(tmp_path, postgres_url, 0, "worker", "--once", "-q")  # a worker whose clock is right
    assert (tmp_path / "steps.log").read_text().count("before") == 1
