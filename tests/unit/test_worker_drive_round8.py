"""docs/cli.md: ``Worker.drive(execution_arn, *, on_progress=None)`` returns the record."""

from __future__ import annotations

from pathlib import Path

import durable_gen as dg
from durable_gen.local import ExecutionRecord, Worker


@dg.workflow
def waits_once(_: None):
    yield dg.Wait(1)
    return "done"


@dg.workflow
def waits_for_an_answer(_: None):
    handle = yield dg.CreateCallback(name="answer")
    return (yield handle)


def test_drive_returns_the_record_and_reports_progress(tmp_path: Path) -> None:
    calls: list[int] = []
    with Worker(tmp_path / "w.db", poll=0.05, log=lambda line: None) as worker:
        arn = worker.service.start(worker.register(waits_once), "null")
        record = worker.drive(arn, on_progress=lambda: calls.append(1))
        assert isinstance(record, ExecutionRecord)
        assert (record.status, record.result) == ("SUCCEEDED", '"done"')
        assert calls  # called while the one-second wait was pending


def test_drive_returns_running_when_left_waiting_for_a_callback(tmp_path: Path) -> None:
    calls: list[int] = []
    with Worker(tmp_path / "w.db", poll=0.05, log=lambda line: None) as worker:
        arn = worker.service.start(worker.register(waits_for_an_answer), "null")
        record = worker.drive(arn, on_progress=lambda: calls.append(1))
        assert record.status == "RUNNING"
        assert calls == []  # nothing it can do by itself
