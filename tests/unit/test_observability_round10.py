"""Observability, checked claim by claim against docs/observability.md (round 10): the
telemetry record's entries shared by operations of one name and its times at any date, the
lines of with- and finally-blocks across suspends, and the changes fresh processes report."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local import LocalService, SqliteStore, VirtualClock
from durable_gen.plugins import OperationSnapshot, Plugin
from durable_gen.runtime import make_handler
from durable_gen.telemetry import TelemetryPlugin
from durable_gen.testing import TestRunner


def _cancel(booking: str) -> str:
    return f"cancelled {booking}"


@dg.step(compensate=_cancel)
def _book(flight: str) -> str:
    return f"booked {flight}"


def _trip(_: Any) -> Any:
    yield _book("LH-1")
    yield dg.Wait(seconds=60)  # the rollback runs in an invocation of its own
    undone = yield dg.RunCompensations()
    return [u.status for u in undone]


def _entries(records: list[str]) -> dict[str, Any]:
    (line,) = records
    by_name: dict[str, Any] = json.loads(line)["operationsByName"]
    return by_name


@pytest.mark.parametrize("checkpointing", ["step", "eager", "batch"])
def test_a_compensations_context_and_step_share_an_entry_typed_by_the_context(
    checkpointing: str,
) -> None:
    records: list[str] = []
    runner = TestRunner(
        checkpointing=checkpointing, plugins=[TelemetryPlugin(records.append, operations="all")]
    )
    assert runner.run(_trip).result() == ["SUCCEEDED"]
    entry = _entries(records)["_cancel"]
    # the undo's Compensation context and the step in it, both started at one virtual ms
    assert (entry["type"], entry["subType"], entry["count"]) == ("CONTEXT", "Compensation", 2)


def test_the_same_under_dg_run() -> None:
    records: list[str] = []
    plugins = [TelemetryPlugin(records.append, operations="all")]
    assert dg.run(_trip, None, skip_time=True, plugins=plugins) == ["SUCCEEDED"]
    entry = _entries(records)["_cancel"]
    assert (entry["type"], entry["subType"], entry["count"]) == ("CONTEXT", "Compensation", 2)


# --- the record's times at any date -------------------------------------------------------------


def _pause(_: Any) -> Any:
    yield dg.Wait(seconds=2)
    return "done"


def test_the_records_times_keep_their_millisecond_far_in_the_future() -> None:
    records: list[str] = []
    start = datetime(3000, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)
    runner = TestRunner(start=start, plugins=[TelemetryPlugin(records.append)])
    assert runner.run(_pause).result() == "done"
    record = json.loads(records[0])
    assert (record["startTime"], record["endTime"], record["durationMs"]) == (
        "3000-01-01T00:00:00.001Z",
        "3000-01-01T00:00:02.001Z",
        2000,
    )


# --- logs of with-blocks and finally-blocks across suspends in children and Map items ---------

_LOG = dg.get_logger("tests.observability.round10")


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def _section(name: str) -> Iterator[None]:
    _LOG.info("enter %s", name)
    try:
        yield
    finally:
        _LOG.info("exit %s", name)


def _item(x: int) -> Any:
    with _section(f"item {x}"):
        try:
            yield dg.Wait(seconds=x + 1)
            handle = yield dg.CreateCallback(name=f"cb{x}")
            answer = yield handle
        finally:
            _LOG.info("finally item %s", x)
    return answer


def _kid(tag: str) -> Any:
    with _section(f"kid {tag}"):
        yield dg.Wait(seconds=3)
    return tag


def _sections(_: Any) -> Any:
    with _section("top"):
        yield dg.Child(_kid, ("recorded",), name="kid")
        batch = yield dg.Map(_item, [0, 1], name="m")
        yield dg.Child(_kid, ("virtual",), name="vkid", virtual=True)
    return batch.results()


@pytest.fixture
def kept() -> Iterator[_Keep]:
    handler = _Keep()
    logger = logging.getLogger("tests.observability.round10")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize("checkpointing", ["step", "eager", "batch"])
def test_with_and_finally_lines_log_once_where_the_code_really_goes_through(
    kept: _Keep, checkpointing: str
) -> None:
    runner = TestRunner(checkpointing=checkpointing)
    run = runner.run(_sections)
    run.send_callback_success("cb1", "b")  # the second item ends first
    runner.run_until_idle()
    run.send_callback_success("cb0", "a")
    runner.run_until_idle()
    assert run.result() == ["a", "b"]
    assert kept.lines == [
        "enter top",
        "enter kid recorded",
        "exit kid recorded",
        "enter item 0",
        "enter item 1",
        "finally item 1",
        "exit item 1",
        "finally item 0",
        "exit item 0",
        "enter kid virtual",
        "exit kid virtual",
        "exit top",
    ]


# --- changes made while no process ran, seen by processes that never saw the execution -------


class _Changes(Plugin):
    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str | None, str, bool]] = []

    def on_operation_change(self, op: OperationSnapshot) -> None:
        self.seen.append((op.name, op.previous_status, op.status, op.by_service))


def _waits(_: Any) -> Any:
    yield dg.Wait(seconds=10, name="w")
    handle = yield dg.CreateCallback(name="cb", timeout=100)
    yield dg.Wait(seconds=5, name="w2")
    return (yield handle)


def test_each_fresh_process_reports_what_fired_since_the_last_update_once(
    tmp_path: Path,
) -> None:
    clock = VirtualClock(auto_advance=False)
    db = str(tmp_path / "changes.db")

    def invocation() -> _Changes:
        changes = _Changes()
        service = LocalService(store=SqliteStore(db), clock=clock)
        service.register("wf", make_handler(_waits, service, plugins=[changes]))
        service.run(arn)
        return changes

    starter = LocalService(store=SqliteStore(db), clock=clock)
    starter.register("wf", make_handler(_waits, starter))
    arn = starter.start("wf", "null")
    assert invocation().seen == [("w", None, "STARTED", False)]
    clock.advance(10)
    assert invocation().seen == [
        ("w", "STARTED", "SUCCEEDED", True),
        ("cb", None, "STARTED", False),
        ("w2", None, "STARTED", False),
    ]
    clock.advance(100)  # both the wait and the callback's timeout fall due meanwhile
    assert invocation().seen == [
        ("cb", "STARTED", "TIMED_OUT", True),
        ("w2", "STARTED", "SUCCEEDED", True),
    ]
    assert starter.get_execution(arn).status == "FAILED"
