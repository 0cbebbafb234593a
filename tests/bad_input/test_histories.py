"""JSON that is not a history, given to the replayer: every shape is reported as ``invalid``
by ``replay`` and ``replay_folder`` (and is an ``InvalidInputError`` from ``load_history``)
with a message that says what is wrong, never a plain ``TypeError`` or ``AttributeError``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import load_history, replay, replay_folder


@dg.step
def charge(x: int) -> int:
    return x + 1


def order(x: int) -> dg.Workflow[int]:
    return (yield from charge(x))


def _event(**fields: Any) -> dict[str, Any]:
    return {"EventType": "ExecutionStarted", "EventId": 1, "Id": "e", **fields}


NOT_HISTORIES: dict[str, tuple[Any, str]] = {
    "Events is a number": ({"Events": 5}, "Events must be a list"),
    "Events is an object": ({"Events": {"EventId": 1}}, "Events must be a list"),
    "Operations is a number": ({"Operations": 5}, "Operations must be a list"),
    "Operations is a string": ({"Operations": "abc"}, "Operations must be a list"),
    "invocation state's Operations is a number": (
        {"InitialExecutionState": {"Operations": 5}},
        "Operations must be a list",
    ),
    "a page whose Events is a number": ([{"Events": 5}], "Events must be a list"),
    "a page whose Operations is a number": ([{"Operations": 7}], "Operations must be a list"),
    "the ARN is a number": ({"DurableExecutionArn": 5, "Events": []}, "must be a string"),
    "the function name is a number": ({"FunctionName": 5, "Events": []}, "must be a string"),
    "event details are a number": (
        {
            "Events": [
                {"EventType": "StepSucceeded", "EventId": 1, "Id": "s", "StepSucceededDetails": 5}
            ]
        },
        "must be an object",
    ),
}


@pytest.mark.parametrize(("data", "fragment"), NOT_HISTORIES.values(), ids=list(NOT_HISTORIES))
def test_json_that_is_not_a_history_is_reported_invalid(
    data: Any, fragment: str, tmp_path: Path
) -> None:
    with pytest.raises(dg.InvalidInputError, match=fragment):
        load_history(data)
    report = replay(order, data)
    assert report.status == "invalid" and fragment in report.message, report
    folder = tmp_path / "histories"
    folder.mkdir()
    (folder / "order-1.json").write_text(json.dumps(data))
    for workflows in (order, {"order": order}):
        (only,) = replay_folder(workflows, folder)
        assert only.status == "invalid" and fragment in only.message, only


def test_a_nan_timestamp_is_invalid_input() -> None:
    """NaN written for a timestamp (``json.dumps`` writes it) says nothing about when: the
    history is damaged there, and the error names the field rather than dropping it."""
    with pytest.raises(dg.InvalidInputError, match="EventTimestamp of ExecutionStarted event"):
        load_history({"Events": [_event(EventTimestamp=float("nan"), ExecutionStartedDetails={})]})


@pytest.mark.parametrize(
    ("path", "pattern", "fragment"),
    [(5, "**/*.json", "path of a folder"), (".", 5, "pattern"), (".", "", "pattern")],
)
def test_replay_folder_refuses_a_path_or_pattern_of_the_wrong_kind(
    path: Any, pattern: Any, fragment: str
) -> None:
    with pytest.raises(dg.ValidationError, match=fragment):
        replay_folder(order, path, pattern=pattern)
