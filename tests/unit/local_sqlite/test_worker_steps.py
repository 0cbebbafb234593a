"""A worker runs the async steps of all its executions on one event loop, and its concurrent
sync steps in one pool; closing the worker stops both."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from durable_gen.local import Worker

from . import worker_steps


@pytest.fixture(autouse=True)
def _fresh() -> None:
    worker_steps.reset()


def test_async_steps_of_concurrent_executions_share_one_loop_and_overlap(
    tmp_path: Path,
) -> None:
    db = tmp_path / "w.db"
    with Worker(db) as starter:
        name = starter.register(worker_steps.napper)
        arns = [starter.service.start(name, str(n)) for n in range(4)]
        with Worker(db, concurrency=4) as worker:
            began = time.monotonic()
            worker.run(once=True)
            took = time.monotonic() - began
        for n, arn in enumerate(arns):
            record = starter.service.get_execution(arn)
            assert record.status == "SUCCEEDED" and record.result == str(n + 2)
    naps = [seen for seen in worker_steps.SEEN if seen["kind"] == "async"]
    assert len(naps) == 8
    assert len({seen["loop"] for seen in naps}) == 1  # one event loop for every execution
    assert len({seen["thread"].ident for seen in naps}) == 1  # in one thread
    assert naps[0]["thread"] is not threading.main_thread()
    # Four executions, two naps of 0.3 s each: one after another it would take 2.4 s.
    assert max(seen["running"] for seen in naps) >= 2
    assert took < 2.0


def test_the_loop_and_the_pool_stop_with_the_worker(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    worker = Worker(db, concurrency=2)
    try:
        name = worker.register(worker_steps.mapper)
        arns = [worker.service.start(name, "6") for _ in range(2)]
        worker.run(once=True)
        for arn in arns:
            record = worker.service.get_execution(arn)
            assert record.status == "SUCCEEDED" and record.result == "31"
        # The threads are kept between steps and invocations: fewer threads than steps ran
        # (whether a pool thread is still alive now depends on its idle timeout and the load).
        for kind in ("sync", "async"):
            ran = [seen["thread"] for seen in worker_steps.SEEN if seen["kind"] == kind]
            assert len(set(ran)) < len(ran)
    finally:
        worker.close()
    pool = [s["thread"] for s in worker_steps.SEEN if s["kind"] == "sync"]
    loop = [s["thread"] for s in worker_steps.SEEN if s["kind"] == "async"]
    assert pool and loop
    assert all(t.name.startswith("durable-gen-worker-step") for t in pool)
    assert all(not t.is_alive() for t in pool + loop)


def test_a_worker_that_runs_no_async_step_starts_no_loop(tmp_path: Path) -> None:
    before = {t.name for t in threading.enumerate()}
    with Worker(tmp_path / "w.db") as worker:
        worker.run(once=True)
        now = {t.name for t in threading.enumerate()} - before
        assert not any(name.startswith("durable-gen-worker-loop") for name in now)
