"""Bad invocation events and bad operation state, through the Lambda handler.

Each case must end as a FAILED output with a typed error whose message says what is wrong
(or, where the service should invoke again, a raised retryable error), and must never
checkpoint anything: a bad event does not touch what the execution recorded.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen._ids import operation_id
from durable_gen._wire import (
    CheckpointResponse,
    ExecutionState,
    Operation,
    OperationUpdate,
    StepDetails,
)
from durable_gen.aws import ServiceUnavailableError, lambda_handler

ARN = "arn:aws:lambda:us-west-2:123456789012:function:orders:$LATEST/durable-execution/e1/i1"
SEVEN_MIB = 7 * 1024 * 1024


class Service:
    """A ``DurableService`` that serves pages from a function and records every checkpoint."""

    def __init__(self, page: Callable[[str], ExecutionState] | None = None) -> None:
        self.page = page or (lambda marker: ExecutionState())
        self.checkpoints: list[list[OperationUpdate]] = []
        self.pages_read = 0

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: list[OperationUpdate]
    ) -> CheckpointResponse:
        self.checkpoints.append(list(updates))
        return CheckpointResponse(checkpoint_token=checkpoint_token + "'")

    def get_state(self, execution_arn: str, checkpoint_token: str, marker: str) -> ExecutionState:
        self.pages_read += 1
        return self.page(marker)


def echo(payload: Any) -> Generator[Any, Any, Any]:
    value = yield dg.Step(lambda: payload, name="echo")
    return value


def execution_op(payload: Any = "{}") -> dict[str, Any]:
    return {
        "Id": "i1",
        "Type": "EXECUTION",
        "Status": "STARTED",
        "StartTimestamp": 1767323045678,
        "ExecutionDetails": {"InputPayload": payload},
    }


def event(operations: list[Any] | None = None, marker: Any = "") -> dict[str, Any]:
    return {
        "DurableExecutionArn": ARN,
        "CheckpointToken": "dG9rZW4x",
        "InitialExecutionState": {
            "Operations": [execution_op()] if operations is None else operations,
            "NextMarker": marker,
        },
    }


def with_(path: list[Any], value: Any) -> dict[str, Any]:
    """A good event with the field at ``path`` replaced (or removed, for ``...``)."""
    ev = event()
    target: Any = ev
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return ev


STATE = ["InitialExecutionState"]
OP0 = [*STATE, "Operations", 0]

#: (case, event, error type, a fragment of the message)
EVENTS: list[tuple[str, Any, str, str]] = [
    # not a durable invocation at all
    ("none", None, "InvalidInputError", "is a NoneType"),
    ("a-string", "hello", "InvalidInputError", "is a str"),
    ("json-text", json.dumps(event()), "InvalidInputError", "passes json.loads(text)"),
    ("bytes", b"{}", "InvalidInputError", "is a bytes"),
    ("a-list", [event()], "InvalidInputError", "is a list"),
    ("a-number", 42, "InvalidInputError", "is an int"),
    ("empty-object", {}, "InvalidInputError", "keys present: none"),
    ("a-plain-invoke", {"orderId": "o-1"}, "InvalidInputError", "keys present: orderId"),
    ("no-arn", with_(["DurableExecutionArn"], ...), "InvalidInputError", "DurableExecutionArn"),
    ("no-token", with_(["CheckpointToken"], ...), "InvalidInputError", "CheckpointToken"),
    ("no-state", with_(STATE, ...), "InvalidInputError", "InitialExecutionState"),
    # the right keys with the wrong types
    ("arn-int", with_(["DurableExecutionArn"], 5), "InvalidInputError", "DurableExecutionArn"),
    ("token-null", with_(["CheckpointToken"], None), "InvalidInputError", "CheckpointToken"),
    ("arn-empty", with_(["DurableExecutionArn"], ""), "InvalidInputError", "empty Durable"),
    ("token-empty", with_(["CheckpointToken"], ""), "InvalidInputError", "empty CheckpointToken"),
    ("state-list", with_(STATE, []), "InvalidInputError", "InitialExecutionState"),
    ("operations-object", with_([*STATE, "Operations"], {}), "InvalidInputError", "Operations"),
    ("marker-int", with_([*STATE, "NextMarker"], 7), "InvalidInputError", "NextMarker"),
    ("op-not-object", with_(OP0, "i1"), "InvalidInputError", "Operations[0]"),
    ("op-no-id", with_([*OP0, "Id"], ...), "InvalidInputError", "Id"),
    ("op-no-type", with_([*OP0, "Type"], ...), "InvalidInputError", "Type"),
    ("op-bad-type", with_([*OP0, "Type"], "TELEPORT"), "InvalidInputError", "Type"),
    ("op-bad-status", with_([*OP0, "Status"], "DONE"), "InvalidInputError", "Status"),
    ("op-time-text", with_([*OP0, "StartTimestamp"], "today"), "InvalidInputError", "Timestamp"),
    (
        "payload-int",
        with_([*OP0, "ExecutionDetails", "InputPayload"], 5),
        "InvalidInputError",
        "InputPayload",
    ),
    # a state with nothing to replay from
    ("no-operations", event([]), "InvalidInputError", "no EXECUTION operation"),
    # input the workflow cannot read
    ("input-not-json", event([execution_op("{not json")]), "SerializationError", "not valid JSON"),
    (
        "input-lone-surrogate",
        event([execution_op('"\ud800"')]),
        "SerializationError",
        "not valid Unicode",
    ),
    (
        "input-surrogate-escape",
        event([execution_op('"\\udc80"')]),
        "SerializationError",
        "not valid JSON",
    ),
    (
        "input-bare-surrogate",
        event([execution_op("\udfff")]),
        "SerializationError",
        "not valid Unicode",
    ),
    # a state that lost or doubled records
    (
        "succeeded-step-without-details",
        event(
            [
                execution_op(),
                {
                    "Id": operation_id(None, 1),
                    "Type": "STEP",
                    "SubType": "Step",
                    "Name": "echo",
                    "Status": "SUCCEEDED",
                },
            ]
        ),
        "InvalidInputError",
        "has no StepDetails",
    ),
    (
        "failed-step-without-details",
        event(
            [
                execution_op(),
                {
                    "Id": operation_id(None, 1),
                    "Type": "STEP",
                    "SubType": "Step",
                    "Name": "echo",
                    "Status": "FAILED",
                },
            ]
        ),
        "InvalidInputError",
        "recorded error is missing",
    ),
    (
        "two-executions",
        event([execution_op(), dict(execution_op(), Id="i2")]),
        "InvalidInputError",
        "two EXECUTION operations ('i1' and 'i2')",
    ),
    (
        "negative-attempt",
        event(
            [
                execution_op(),
                {
                    "Id": operation_id(None, 1),
                    "Type": "STEP",
                    "SubType": "Step",
                    "Name": "echo",
                    "Status": "READY",
                    "StepDetails": {"Attempt": -5},
                },
            ]
        ),
        "InvalidInputError",
        "records Attempt -5",
    ),
    (
        "no-execution-in-any-page",
        event([], marker="p2"),
        "InvalidInputError",
        "has no EXECUTION operation",
    ),
    (
        "id-twice-in-one-page",
        event([execution_op(), execution_op()]),
        "InvalidInputError",
        "appears twice",
    ),
]


@pytest.mark.parametrize(
    ("bad", "error_type", "fragment"), [c[1:] for c in EVENTS], ids=[c[0] for c in EVENTS]
)
def test_a_bad_event_fails_the_invocation_and_records_nothing(
    bad: Any, error_type: str, fragment: str
) -> None:
    service = Service()
    out = lambda_handler(echo, service=service)(copy.deepcopy(bad), None)
    assert out["Status"] == "FAILED", out
    assert out["Error"]["ErrorType"] == error_type
    assert fragment in out["Error"]["ErrorMessage"]
    # Nothing was replayed, so nothing was checkpointed.
    assert service.checkpoints == []
    json.dumps(out)  # the output itself is what Lambda can send back


def test_the_case_names_are_unique() -> None:
    names = [case[0] for case in EVENTS]
    assert len(names) == len(set(names))


def test_a_lone_surrogate_in_the_input_is_a_failed_execution_not_a_crash() -> None:
    # Lambda's runtime decodes "\ud800" in the event JSON into a lone surrogate; the handler
    # must turn that into a FAILED output (never raise UnicodeEncodeError out of the handler).
    service = Service()
    out = lambda_handler(echo, service=service)(event([execution_op('{"a": "x\ud800y"}')]))
    assert out["Status"] == "FAILED"
    assert out["Error"]["ErrorType"] == "SerializationError"
    assert "\\ud800" in out["Error"]["ErrorMessage"]  # named, escaped
    assert "\ud800" not in out["Error"]["ErrorMessage"]


def test_an_input_number_beyond_the_range_of_a_float_is_read_as_aws_sdk_reads_it() -> None:
    # JSON sets no range; a caller writing decimals (Jackson's BigDecimal) may send 1e400,
    # which Python's json module, and so AWS's SDK, reads as an infinity.
    def ratio(payload: dict[str, float]) -> Generator[Any, Any, Any]:
        scaled = yield dg.Step(lambda: payload["x"] > 1e308, name="scaled")
        return [scaled, payload["x"]]

    service = Service()
    out = lambda_handler(ratio, service=service)(event([execution_op('{"x": 1e400}')]))
    assert out == {"Status": "SUCCEEDED", "Result": "[true,null]"}  # infinities written as null


def test_a_result_holding_a_lone_surrogate_fails_with_a_serialization_error() -> None:
    def bad_text(_: Any) -> Generator[Any, Any, Any]:
        yield dg.Step(lambda: 1, name="one")
        return "x\udc80"

    service = Service()
    out = lambda_handler(bad_text, service=service)(event())
    assert out["Status"] == "FAILED"
    assert out["Error"]["ErrorType"] == "SerializationError"
    assert "not valid Unicode" in out["Error"]["ErrorMessage"]


def test_an_input_over_the_payload_limit_still_runs_or_fails_typed() -> None:
    # The service never sends more than 6 MiB; if a custom runtime does, the workflow's own
    # result (the same size) is refused with PayloadTooLargeError, not a crash.
    big = json.dumps("x" * SEVEN_MIB)
    out = lambda_handler(echo, service=Service())(event([execution_op(big)]))
    assert out["Status"] == "FAILED"
    assert out["Error"]["ErrorType"] in {"PayloadTooLargeError", "StepFailedError"}
    assert "payload limit" in out["Error"]["ErrorMessage"]


# --- paging ------------------------------------------------------------------------------------


def step_op(n: int, result: str = "1", name: str = "echo") -> Operation:
    return Operation(
        id=operation_id(None, n),
        type="STEP",
        sub_type="Step",
        name=name,
        status="SUCCEEDED",
        step_details=StepDetails(attempt=1, result=result),
    )


def test_a_marker_given_twice_stops_the_invocation() -> None:
    service = Service(lambda marker: ExecutionState(operations=[], next_marker=marker))
    out = lambda_handler(echo, service=service)(event(marker="m1"))
    assert out["Status"] == "FAILED"
    assert out["Error"]["ErrorType"] == "InvalidInputError"
    assert "NextMarker 'm1' a second time" in out["Error"]["ErrorMessage"]
    assert service.pages_read == 1 and service.checkpoints == []


def test_a_paging_cycle_stops_the_invocation() -> None:
    cycle = {"a": "b", "b": "c", "c": "a"}
    service = Service(lambda marker: ExecutionState(next_marker=cycle[marker]))
    out = lambda_handler(echo, service=service)(event(marker="a"))
    assert out["Status"] == "FAILED"
    assert "NextMarker 'a' a second time (after 4 pages" in out["Error"]["ErrorMessage"]
    assert service.pages_read == 3 and service.checkpoints == []


def test_endless_new_markers_stop_at_the_page_limit() -> None:
    service = Service(lambda marker: ExecutionState(next_marker=str(int(marker) + 1)))
    out = lambda_handler(echo, service=service)(event(marker="1"))
    assert out["Status"] == "FAILED"
    assert "did not end after 10000 pages" in out["Error"]["ErrorMessage"]
    assert service.pages_read == 9_999 and service.checkpoints == []


def test_an_operation_id_repeated_across_pages_is_invalid_input() -> None:
    pages = {
        "p2": ExecutionState(operations=[step_op(1)], next_marker="p3"),
        "p3": ExecutionState(operations=[step_op(1, result="2")]),
    }
    service = Service(pages.__getitem__)
    out = lambda_handler(echo, service=service)(event(marker="p2"))
    assert out["Status"] == "FAILED"
    assert out["Error"]["ErrorType"] == "InvalidInputError"
    assert f"operation id {operation_id(None, 1)!r} appears twice" in out["Error"]["ErrorMessage"]
    assert service.checkpoints == []


def test_pages_that_are_right_replay_as_one_history() -> None:
    pages = {"p2": ExecutionState(operations=[step_op(1, '"from page 2"')])}
    service = Service(pages.__getitem__)
    out = lambda_handler(echo, service=service)(event(marker="p2"))
    assert out == {"Status": "SUCCEEDED", "Result": '"from page 2"'}
    assert service.checkpoints == []  # the step was recorded: nothing ran again


def test_a_service_down_while_paging_is_raised_for_the_service_to_retry() -> None:
    def down(marker: str) -> ExecutionState:
        raise ServiceUnavailableError("GetDurableExecutionState failed on the service side")

    with pytest.raises(ServiceUnavailableError):
        lambda_handler(echo, service=Service(down))(event(marker="p2"))


@pytest.fixture(autouse=True)
def _no_aws_configuration(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Every case uses its own service: nothing may build a boto3 client.
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    yield
