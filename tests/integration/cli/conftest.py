"""Fixtures of the command-line tests: the real ``durable-gen`` in a subprocess.

Each test gets a temporary working directory holding a workflow module (``flows.py``, on
PYTHONPATH) and the default database ``durable.db``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

FLOWS = textwrap.dedent(
    """
    import durable_gen as dg


    @dg.step
    def add(a, b):
        return a + b


    def double(x):
        return 2 * x


    @dg.workflow
    def total(n):
        t = 0
        for i in range(n):
            t = yield add(t, i)
        batch = yield dg.Map(double, [1, 2, 3], name="doubles")
        return {"total": t, "doubles": batch.get_results()}


    @dg.workflow
    def approval(request):
        answer = yield dg.WaitForCallback(lambda callback_id: None, name="approve")
        return {"request": request, "answer": answer}


    @dg.step(retry=dg.Retry.never())
    def explode():
        raise RuntimeError("boom")


    @dg.workflow
    def failing(_):
        yield explode()
        return None


    @dg.workflow
    def approval_with_timeout(request):
        answer = yield dg.WaitForCallback(lambda callback_id: None, name="approve", timeout=600)
        return {"request": request, "answer": answer}


    _tries = {"n": 0}


    @dg.step(retry=dg.Retry(max_attempts=3, initial_delay=2, backoff=2.0, jitter="none"))
    def flaky():
        _tries["n"] += 1
        if _tries["n"] < 3:
            raise ConnectionError(f"connection refused (try {_tries['n']})")
        return "connected"


    def check(x):
        if x % 10 == 3:
            raise KeyError(f"no stock for item {x}")
        return x * 2


    @dg.step(retry=dg.Retry.never())
    def charge():
        raise ValueError("card declined\x1b[31m <b>red</b>")


    @dg.workflow
    def story(_):
        yield flaky()
        yield dg.Map(check, list(range(30)), name="check stock")
        yield charge()
    """
)


class Result:
    """A finished command: its exit status and output."""

    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self) -> str:
        return f"Result(code={self.code}, out={self.out!r}, err={self.err!r})"


Cli = Callable[..., Result]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "flows.py").write_text(FLOWS)
    return tmp_path


@pytest.fixture
def cli(workdir: Path) -> Cli:
    """Run ``durable-gen ARGS...`` in the working directory; returns a ``Result``."""

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        full_env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
        full_env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(workdir), os.environ.get("PYTHONPATH")])
        )
        full_env.update(env or {})
        proc = subprocess.run(
            [sys.executable, "-m", "durable_gen.cli", *args],
            cwd=workdir,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return Result(proc)

    return run


#: Why the browser test was skipped, for the terminal summary; empty when it ran.
BROWSER_SKIPPED: list[str] = []


def find_chromium() -> str | None:
    """A headless-capable Chromium on PATH, if any."""
    for name in ("chromium", "chromium-headless-shell", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture
def chromium() -> str:
    """The path of Chromium; without one the test is skipped, and the session says so loudly."""
    path = find_chromium()
    if path is None:
        reason = (
            "no headless Chromium found (chromium, chromium-headless-shell); install one "
            "(apt-get install chromium) to check the HTML timeline in a browser"
        )
        if os.environ.get("DURABLE_GEN_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"the browser test cannot run: {reason}", pytrace=False)
        if not BROWSER_SKIPPED:
            BROWSER_SKIPPED.append(reason)
        pytest.skip(f"browser test skipped: {reason}")
    return path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """End the session with a loud warning when the HTML timeline was not checked in a browser."""
    if BROWSER_SKIPPED:
        terminalreporter.section("browser test SKIPPED", sep="!", red=True, bold=True)
        terminalreporter.write_line(
            f"WARNING: the HTML timeline was not checked in a browser: {BROWSER_SKIPPED[0]}",
            red=True,
            bold=True,
        )
