"""``durable-gen worker`` stops on SIGTERM whatever the main thread holds when it arrives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

# The child holds the stop event's own lock while SIGTERM arrives: a handler that set the event
# directly would wait for that lock on the very thread that holds it, for ever.
CHILD = textwrap.dedent(
    """
    import os, signal, sys, threading
    from durable_gen.local._worker import on_sigterm_call

    stopped = threading.Event()
    on_sigterm_call(stopped.set)
    with stopped._cond:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # bytecodes run here: the handler runs among them
            pass
    sys.exit(0 if stopped.wait(10) else 3)
    """
)


def test_sigterm_while_the_stop_event_is_held_still_stops() -> None:
    child = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, timeout=60)
    assert child.returncode == 0, child.stderr.decode()[-2000:]


def test_repeated_sigterms_are_harmless() -> None:
    code = CHILD.replace(
        "os.kill(os.getpid(), signal.SIGTERM)",
        "[os.kill(os.getpid(), signal.SIGTERM) for _ in range(100_000)]",
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert child.returncode == 0, child.stderr.decode()[-2000:]


SLOW = textwrap.dedent(
    """
    import time
    import durable_gen as dg


    @dg.step
    def slow(n):
        time.sleep(0.4)
        return n


    @dg.workflow
    def chain(n):
        a = yield slow(n)
        b = yield slow(n)
        return a + b
    """
)


def test_sigterm_finishes_the_invocation_in_hand_and_leaves_the_queue(tmp_path: Path) -> None:
    (tmp_path / "slowflows.py").write_text(SLOW)
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = str(tmp_path)
    cli = [sys.executable, "-m", "durable_gen.cli"]
    for n in range(10):
        subprocess.run(
            [*cli, "start", "slowflows:chain", "--input", str(n)],
            cwd=tmp_path,
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
    worker = subprocess.Popen(
        [*cli, "worker", "--concurrency", "2"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stderr is not None
        lines = [worker.stderr.readline()]
        assert "picked up" in lines[0], lines
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=20)  # a few lines of stderr: the pipe cannot fill up meanwhile
        rest = worker.stderr.read()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        assert worker.stderr is not None
        worker.stderr.close()
    err = lines[0] + rest
    assert worker.returncode == 0, err
    assert "SIGTERM: taking no new work" in err
    listed = subprocess.run(
        [*cli, "list", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    statuses = [e["status"] for e in json.loads(listed.stdout)]
    # At most the two invocations in hand (and one the other thread picked up just before
    # the signal) ran: the queue stays for the next worker.
    assert statuses.count("RUNNING") >= 6, err
    assert err.count("picked up") == statuses.count("SUCCEEDED"), err


def test_sigterm_while_the_database_is_still_unreachable_exits_0(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    url = f"postgresql://nobody@127.0.0.1:{port}/durable"
    worker = subprocess.Popen(
        [sys.executable, "-m", "durable_gen.cli", "worker", "--db", url, "--lock-timeout", "0.5"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stderr is not None
        first = worker.stderr.readline()  # the worker waits for its server to come up
        assert "; retrying" in first, first
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=20)
        err = first + worker.stderr.read()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        assert worker.stderr is not None
        worker.stderr.close()
    assert worker.returncode == 0, err  # a graceful stop, not death by the signal (143)
    assert "SIGTERM: taking no new work" in err
