"""``UpdatedOperationIds``: the invocation event's list of what the service changed.

The Lambda service names, in each invocation's event, the operations it changed since the
last invocation received the state (a wait fired, a callback answered, a retry timer fired).
The handler reports exactly those through ``on_operation_change``, whether this process ran
the execution before or not. Without the list a new instance falls back on timestamps, which
reported a wait that fired one invocation earlier a second time and never a step made READY
for its retry; and an instance that ran an earlier invocation reported again what another
instance ran since.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator
from typing import Any

import durable_gen as dg
from durable_gen._ids import operation_id
from durable_gen._wire import CheckpointResponse, ExecutionState, OperationUpdate
from durable_gen.aws import lambda_handler

CALLBACK = operation_id(None, 1)
WAIT = operation_id(None, 2)


class Service:
    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: list[OperationUpdate]
    ) -> CheckpointResponse:
        return CheckpointResponse(checkpoint_token=checkpoint_token + "'")

    def get_state(self, execution_arn: str, checkpoint_token: str, marker: str) -> ExecutionState:
        raise AssertionError("one page only")


class Changes(dg.Plugin):
    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str | None, str, bool]] = []

    def on_operation_change(self, op: dg.OperationSnapshot) -> None:
        self.seen.append((op.name, op.previous_status, op.status, op.by_service))


def fresh_arn() -> str:
    """An execution this process never saw, as on a new Lambda instance."""
    return f"arn:aws:lambda:us-west-2:123456789012:function:f:1/durable-execution/{uuid.uuid4()}/i"


def execution() -> dict[str, Any]:
    return {
        "Id": "e",
        "Type": "EXECUTION",
        "Status": "STARTED",
        "StartTimestamp": 1_000,
        "ExecutionDetails": {"InputPayload": "{}"},
    }


def answered_after_a_wait(updated: list[str] | None) -> dict[str, Any]:
    """The third invocation of ``callback_then_wait``: the wait fired before the second
    invocation (which recorded nothing: it suspended on the callback), the callback was
    answered before this one."""
    event: dict[str, Any] = {
        "DurableExecutionArn": fresh_arn(),
        "CheckpointToken": "t",
        "InitialExecutionState": {
            "Operations": [
                execution(),
                {
                    "Id": CALLBACK,
                    "Type": "CALLBACK",
                    "SubType": "Callback",
                    "Name": "approval",
                    "Status": "SUCCEEDED",
                    "StartTimestamp": 1_010,
                    "EndTimestamp": 9_000,
                    "CallbackDetails": {"CallbackId": "cb-1", "Result": '"yes"'},
                },
                {
                    "Id": WAIT,
                    "Type": "WAIT",
                    "SubType": "Wait",
                    "Name": "pause",
                    "Status": "SUCCEEDED",
                    "StartTimestamp": 1_020,
                    "EndTimestamp": 2_020,
                    "WaitDetails": {"ScheduledEndTimestamp": 2_020},
                },
            ]
        },
    }
    if updated is not None:
        event["UpdatedOperationIds"] = updated
    return event


def callback_then_wait(_: Any) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="approval")
    yield dg.Wait(seconds=1, name="pause")
    return (yield handle)


def run(event: dict[str, Any], workflow: Any) -> tuple[dict[str, Any], Changes]:
    changes = Changes()
    handler = lambda_handler(workflow, service=Service(), plugins=[changes])
    return handler(event, None), changes


def test_a_new_instance_reports_only_what_the_service_lists() -> None:
    out, changes = run(answered_after_a_wait([CALLBACK]), callback_then_wait)
    assert out == {"Status": "SUCCEEDED", "Result": '"yes"'}
    assert changes.seen == [("approval", "STARTED", "SUCCEEDED", True)]


def test_an_empty_list_reports_nothing() -> None:
    _, changes = run(answered_after_a_wait([]), callback_then_wait)
    assert changes.seen == []


def test_without_the_list_the_ends_after_the_last_update_are_reported() -> None:
    # An event that does not carry the list (an older service, a hand-written event): the
    # documented fallback, which cannot tell the wait was reported one invocation earlier.
    _, changes = run(answered_after_a_wait(None), callback_then_wait)
    assert sorted(changes.seen) == [
        ("approval", "STARTED", "SUCCEEDED", True),
        ("pause", "STARTED", "SUCCEEDED", True),
    ]


def test_a_step_the_retry_timer_made_ready_is_reported_on_a_new_instance() -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        return "ok"

    def retried(_: Any) -> Generator[Any, Any, Any]:
        return (yield dg.Step(flaky, name="flaky", retry=dg.Retry(max_attempts=2)))

    step = operation_id(None, 1)
    event = {
        "DurableExecutionArn": fresh_arn(),
        "CheckpointToken": "t",
        "InitialExecutionState": {
            "Operations": [
                execution(),
                {
                    "Id": step,
                    "Type": "STEP",
                    "SubType": "Step",
                    "Name": "flaky",
                    "Status": "READY",
                    "StartTimestamp": 1_010,
                    "StepDetails": {
                        "Attempt": 1,
                        "Error": {"ErrorType": "ValueError", "ErrorMessage": "once"},
                    },
                },
            ]
        },
        "UpdatedOperationIds": [step],
    }
    out, changes = run(event, retried)
    assert out == {"Status": "SUCCEEDED", "Result": '"ok"'}
    assert attempts == [1]
    # (the service here answers checkpoints with no state: no later change is seen)
    assert changes.seen == [("flaky", "PENDING", "READY", True)]


def test_a_listed_id_the_state_does_not_hold_is_ignored() -> None:
    # The EXECUTION operation and ids of no recorded operation are not reported.
    _, changes = run(answered_after_a_wait(["e", "no-such-op", CALLBACK]), callback_then_wait)
    assert changes.seen == [("approval", "STARTED", "SUCCEEDED", True)]


def test_a_malformed_list_fails_the_invocation_with_the_field_named() -> None:
    event = answered_after_a_wait(None)
    event["UpdatedOperationIds"] = "not-a-list"
    out, _ = run(event, callback_then_wait)
    assert out["Status"] == "FAILED"
    assert out["Error"]["ErrorType"] == "InvalidInputError"
    assert "UpdatedOperationIds" in out["Error"]["ErrorMessage"]


def test_a_process_that_saw_an_older_state_reports_only_what_the_service_lists() -> None:
    # Lambda instances take turns: this process ran the first invocation, another instance
    # the second (which saw the wait fire), and this one the third. What it remembers is older
    # than what happened since; the list says what changed since the second.
    first = answered_after_a_wait([])
    callback, wait = first["InitialExecutionState"]["Operations"][1:]
    callback.update(Status="STARTED", CallbackDetails={"CallbackId": "cb-1"})
    callback.pop("EndTimestamp")
    wait.update(Status="STARTED")
    wait.pop("EndTimestamp")
    out, changes = run(first, callback_then_wait)
    assert out == {"Status": "PENDING"}
    assert changes.seen == []
    third = answered_after_a_wait([CALLBACK])
    third["DurableExecutionArn"] = first["DurableExecutionArn"]
    _, changes = run(third, callback_then_wait)
    assert changes.seen == [("approval", "STARTED", "SUCCEEDED", True)]
