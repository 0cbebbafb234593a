"""SIGTERM stops a ``Worker.run()`` of a Python program gracefully, as it does the command line.

docs/engine.md ("Failure modes"): a worker stopped with SIGTERM takes no new work, runs each
invocation in progress to its end, and exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

PROGRAM = textwrap.dedent(
    """
    import os, sys, time
    import durable_gen as dg
    from durable_gen.local import Worker

    MARK = sys.argv[2]

    @dg.step
    def slow(x: int) -> int:
        open(MARK, "a").write("start\\n")
        time.sleep(1.0)
        open(MARK, "a").write("end\\n")
        return x + 1

    @dg.workflow
    def flow(x: int):
        a = yield slow(x)
        return (yield slow(a))

    with Worker(sys.argv[1], log=lambda line: print(line, file=sys.stderr)) as worker:
        arn = worker.service.start(worker.register(flow), "1", execution_name="x")
        worker.run()
        print(worker.service.get_execution(arn).status, flush=True)
    """
)


def test_sigterm_lets_the_invocation_in_progress_end(tmp_path: Path) -> None:
    script, mark = tmp_path / "flow_main.py", tmp_path / "mark"
    script.write_text(PROGRAM)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "durable.db"), str(mark)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 20
    while not (mark.exists() and mark.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert mark.exists(), "the step never started"
    os.kill(proc.pid, signal.SIGTERM)  # inside the first step
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert mark.read_text().split() == ["start", "end", "start", "end"]
    assert out.split() == ["SUCCEEDED"]
    assert "SIGTERM" in err
