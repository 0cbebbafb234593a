"""docs/testing.md: ``ok`` does not compare what the workflow returned with what the
execution recorded; the report and ``load_history`` give both, for the caller to compare."""

from __future__ import annotations

import json
from typing import Any

import durable_gen as dg
from durable_gen._ids import operation_id
from durable_gen.testing import load_history, replay


def _history(**end: Any) -> dict[str, Any]:
    """A history of one step returning 40, ended by the event ``end``."""
    step_id = operation_id(None, 1)
    events = [
        {
            "EventType": "ExecutionStarted",
            "EventId": 1,
            "Id": "execution",
            "EventTimestamp": 0,
            "ExecutionStartedDetails": {"Input": {"Payload": "{}"}},
        },
        {
            "EventType": "StepStarted",
            "EventId": 2,
            "Id": step_id,
            "Name": "price",
            "SubType": "Step",
            "EventTimestamp": 1,
        },
        {
            "EventType": "StepSucceeded",
            "EventId": 3,
            "Id": step_id,
            "Name": "price",
            "SubType": "Step",
            "EventTimestamp": 2,
            "StepSucceededDetails": {"Result": {"Payload": "40"}},
        },
        {"EventId": 4, "Id": "execution", "EventTimestamp": 3, **end},
    ]
    return {"Events": events}


@dg.workflow
def with_tax(_event: Any):  # type: ignore[no-untyped-def]
    price = yield dg.Step(lambda: 40, name="price")
    return price + 2


def test_a_different_result_replays_ok_and_both_are_in_reach() -> None:
    source = _history(
        EventType="ExecutionSucceeded",
        ExecutionSucceededDetails={"Result": {"Payload": "40"}},
    )
    report = replay(with_tax, source)
    assert report.status == "ok" and report.outcome == "succeeded"
    assert report.result == 42
    assert json.loads(load_history(source).result or "null") == 40


def test_a_return_where_the_execution_failed_replays_ok_and_both_are_in_reach() -> None:
    source = _history(
        EventType="ExecutionFailed",
        ExecutionFailedDetails={"Error": {"Payload": {"ErrorType": "StepError"}}},
    )
    report = replay(with_tax, source)
    assert report.status == "ok" and report.outcome == "succeeded"
    assert load_history(source).status == "FAILED"
