"""``durable-gen run`` on SIGTERM: the invocation in progress runs to its end, nothing more is
taken, and the command exits 143 leaving the execution RUNNING for a worker (as ``durable-gen
worker`` stops gracefully); SIGKILL is the only stop in the middle of a step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

FLOWS = textwrap.dedent(
    """
    import os, time
    from pathlib import Path
    import durable_gen as dg

    LOG = Path(os.environ["STEP_LOG"])


    @dg.step
    def slow(label):
        with LOG.open("a") as f:
            f.write(f"start {label}\\n")
        time.sleep(0.5)
        with LOG.open("a") as f:
            f.write(f"end {label}\\n")
        return label


    @dg.workflow
    def flow(seconds):
        a = yield slow("a")
        b = yield slow("b")
        yield dg.Wait(seconds=seconds, name="pause")
        c = yield slow("c")
        return a + b + c
    """
)


def _setup(tmp_path: Path) -> tuple[list[str], dict[str, str], Path]:
    (tmp_path / "termflows.py").write_text(FLOWS)
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = str(tmp_path)
    log = tmp_path / "steps.log"
    env["STEP_LOG"] = str(log)
    return [sys.executable, "-m", "durable_gen.cli"], env, log


def _run_and_term(
    cli: list[str], env: dict[str, str], log: Path, cwd: Path, wait_s: int, when: str
) -> tuple[int, str, str, float]:
    """Start ``run``, send SIGTERM once the step log holds ``when``; its status and output."""
    run = subprocess.Popen(
        [*cli, "run", "termflows:flow", "--input", str(wait_s)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while when not in (log.read_text() if log.exists() else ""):
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.02)
        sent = time.monotonic()
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    return run.returncode, out, err, took


def _status(cli: list[str], env: dict[str, str], cwd: Path) -> str:
    listed = subprocess.run(
        [*cli, "list", "--json"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    (record,) = json.loads(listed.stdout)
    return str(record["status"])


def test_sigterm_in_a_step_ends_the_invocation_then_exits_143(tmp_path: Path) -> None:
    cli, env, log = _setup(tmp_path)
    code, out, err, _ = _run_and_term(cli, env, log, tmp_path, 1, "start a")
    assert code == 143, err
    assert out == ""
    assert "SIGTERM: finishing the invocation in progress" in err
    assert "is left RUNNING" in err and "durable-gen worker" in err
    assert "Traceback" not in err
    # The step the signal found ran to its end, and so did the rest of its invocation (up to
    # the wait); nothing after it started.
    assert log.read_text().split("\n")[:-1] == ["start a", "end a", "start b", "end b"]
    assert _status(cli, env, tmp_path) == "RUNNING"
    subprocess.run(
        [*cli, "worker", "--once", "--skip-time"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert _status(cli, env, tmp_path) == "SUCCEEDED"
    steps = log.read_text().split("\n")[:-1]
    assert steps == ["start a", "end a", "start b", "end b", "start c", "end c"]


def test_sigterm_during_a_wait_exits_at_once(tmp_path: Path) -> None:
    cli, env, log = _setup(tmp_path)
    code, _, err, took = _run_and_term(cli, env, log, tmp_path, 600, "end b")
    assert code == 143, err
    assert took < 30, took  # not the 600 s wait
    assert _status(cli, env, tmp_path) == "RUNNING"
