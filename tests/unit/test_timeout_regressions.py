"""Regressions found by programs written from the docs on timeouts, retries and deadlines.

Each test runs a workflow as a user would (``dg.run``, an embedded engine in memory or on
SQLite, the Lambda handler) and checks what the docs promise.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen.local import LocalService, SqliteStore, VirtualClock


def run_on(workflow: Any, store: Any = None) -> Any:
    """Run ``workflow`` to its end on an embedded engine (virtual clock); its record."""
    engine = LocalService(store=store, clock=VirtualClock())
    engine.register("wf", dg.make_handler(workflow, engine))
    arn = engine.start("wf", msgspec.json.encode(None).decode())
    return engine.run(arn)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return None if request.param == "memory" else SqliteStore(tmp_path / "x.db")


# --- a timeout longer than a thread can wait for ------------------------------------------------


@pytest.mark.parametrize("timeout", [1e10, 1e300, timedelta.max])
def test_a_timeout_of_centuries_is_no_practical_limit(store: Any, timeout: Any) -> None:
    # a sync step with a timeout runs in a worker thread; waiting for it with a timeout past
    # threading.TIMEOUT_MAX (about 292 years) raised OverflowError out of the driver, which
    # crashed every invocation (running the step again each time) and failed the execution
    runs: list[int] = []

    @dg.step(timeout=timeout, retry=dg.Retry.never())
    def slow(i: int) -> int:
        runs.append(i)
        time.sleep(0.05)
        return i

    def wf(_: None) -> dg.Workflow[list[Any]]:
        one = yield from slow(1)
        batch = yield from dg.Map(slow, [2, 3])
        return [one, batch.results()]

    record = run_on(wf, store)
    assert (record.status, record.result) == ("SUCCEEDED", "[1,[2,3]]")
    assert sorted(runs) == [1, 2, 3]
