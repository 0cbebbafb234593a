"""Observability, checked claim by claim against docs/observability.md (round 10): the
telemetry record's entries shared by operations of one name."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

import durable_gen as dg
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
