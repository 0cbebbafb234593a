"""``Worker.stop()`` (SIGTERM for ``durable-gen worker``) ends ``run()`` after the invocations
in hand: a stopping worker takes no more work from the queue, it leaves it to other workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_gen.local import Worker

from . import worker_stopping


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    worker_stopping.STOP.clear()
    worker_stopping.RAN.clear()
    yield
    worker_stopping.STOP.clear()


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_stopped_worker_finishes_what_it_holds_and_leaves_the_queue(
    tmp_path: Path, concurrency: int
) -> None:
    db = tmp_path / "w.db"
    with Worker(db) as starter:
        name = starter.register(worker_stopping.stopping)
        arns = [starter.service.start(name, str(n)) for n in range(12)]
    with Worker(db, concurrency=concurrency, poll=0.05) as worker:
        worker_stopping.STOP.append(worker.stop)
        worker.run()  # returns: the first step of the first execution stops the worker
    with Worker(db) as after:
        records = [after.service.get_execution(arn) for arn in arns]
    done = [r for r in records if r.status == "SUCCEEDED"]
    # Each of the worker's threads finished the invocation it held (both steps ran) ...
    assert 1 <= len(done) <= concurrency
    assert all(r.result == str(2 * int(r.input or "0")) for r in done)
    # ... and picked up nothing after the stop: the rest wait, untouched, for another worker.
    assert len(worker_stopping.RAN) == 2 * len(done)
    untouched = [r for r in records if r.status == "RUNNING"]
    assert len(untouched) == 12 - len(done)
    with Worker(db) as other:
        other.run(once=True)
        assert all(other.service.get_execution(arn).status == "SUCCEEDED" for arn in arns)


def test_an_interrupted_invocation_is_logged_as_released_not_crashed(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    lines: list[str] = []
    with Worker(db, progress=True, log=lines.append) as worker:
        name = worker.register(worker_stopping.ctrl_c)
        arn = worker.service.start(name, "1")
        with pytest.raises(KeyboardInterrupt):
            worker.run(once=True)
        assert worker.service.get_execution(arn).status == "RUNNING"
    left = [line for line in lines if "left" in line or "finished" in line]
    assert len(left) == 1, lines
    assert "interrupted (KeyboardInterrupt); released, the next worker resumes it" in left[0]
    assert "crashed" not in left[0]


def test_an_invocation_whose_execution_was_stopped_meanwhile_says_so(tmp_path: Path) -> None:
    lines: list[str] = []
    with Worker(tmp_path / "w.db", progress=True, log=lines.append) as worker:
        worker_stopping.SERVICE[:] = [worker.service]
        name = worker.register(worker_stopping.stops_itself)
        arn = worker.service.start(name, "1")
        worker.run(once=True)
        assert worker.service.get_execution(arn).status == "STOPPED"
    left = [line for line in lines if f"left {name} " in line and arn.rsplit("/", 1)[-1] in line]
    assert len(left) == 1, lines
    assert "the execution ended meanwhile (STOPPED: it was stopped" in left[0]
    assert "nothing more of this invocation is recorded" in left[0]


def test_stop_ends_drive_after_the_invocation_in_hand(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    with Worker(db, poll=0.05) as worker:
        name = worker.register(worker_stopping.stopping_then_waits)
        arn = worker.service.start(name, "2")
        worker_stopping.STOP.append(worker.stop)
        record = worker.drive(arn)  # returns at the wait: the invocation in hand has ended
    assert record.status == "RUNNING"
    assert worker_stopping.RAN == [2, 2]  # both steps of that invocation, nothing after
    worker_stopping.STOP.clear()
    with Worker(db, skip_time=True) as other:  # another worker resumes it
        assert other.drive(arn).status == "SUCCEEDED"
        assert other.service.get_execution(arn).result == "6"
    assert worker_stopping.RAN == [2, 2, 2]
