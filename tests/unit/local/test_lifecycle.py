"""The execution lifecycle on its own: headers and operations in, ``Effects`` out, no service."""

from __future__ import annotations

from typing import Any

import pytest

from durable_gen._wire import (
    CallbackDetails,
    ErrorObject,
    ExecutionDetails,
    InvocationOutput,
    Operation,
    StepDetails,
    WaitDetails,
)
from durable_gen.local._lifecycle import (
    CALL,
    ENDINGS,
    EXECUTION_TIMEOUT,
    INVALID_OUTPUT,
    INVOCATION,
    TIMERS,
    Effects,
    Ending,
    InvokeEnded,
    complete_callback,
    complete_invoke,
    end_execution,
    finish_invocation,
    fire_timer,
    heartbeat,
    start_execution,
    track_open,
)
from durable_gen.local._state import (
    CALLBACK_HEARTBEAT,
    CALLBACK_TIMEOUT,
    RETRY_TIMER,
    WAIT_TIMER,
)
from durable_gen.local._store import CallbackEntry, InvokeEntry, StoredExecution

from .harness import T0

ARN = "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST/durable-execution/run-1/id-1"
ERR = ErrorObject(error_type="ValueError", error_message="boom")
LATER = T0 + 5_000


def header(**fields: Any) -> StoredExecution:
    """A running execution's header after its first events (next EventId 7)."""
    fields.setdefault("next_event_id", 7)
    return StoredExecution(
        arn=ARN,
        execution_id="id-1",
        name="run-1",
        function_name="f",
        input='"in"',
        start_ms=T0,
        nonce="abcd0123",
        **fields,
    )


EXECUTION_OP = Operation(
    id="id-1",
    type="EXECUTION",
    status="STARTED",
    name="run-1",
    start_timestamp=T0,
    execution_details=ExecutionDetails(input_payload='"in"'),
)


def ops(*extra: Operation) -> dict[str, Operation]:
    return {op.id: op for op in (EXECUTION_OP, *extra)}


def wait_op(status: Any = "STARTED") -> Operation:
    return Operation(
        id="w",
        type="WAIT",
        status=status,
        name="pause",
        start_timestamp=T0,
        wait_details=WaitDetails(scheduled_end_timestamp=T0 + 3_000),
    )


def step_op(status: Any, attempt: int = 1) -> Operation:
    details = StepDetails(attempt=attempt, next_attempt_timestamp=T0 + 2_000)
    return Operation(id="s", type="STEP", status=status, start_timestamp=T0, step_details=details)


def callback_op(status: Any = "STARTED") -> Operation:
    return Operation(
        id="cb",
        type="CALLBACK",
        status=status,
        name="approval",
        start_timestamp=T0,
        callback_details=CallbackDetails(callback_id="c" * 48),
    )


def invoke_op(status: Any = "STARTED") -> Operation:
    return Operation(id="inv", type="CHAINED_INVOKE", status=status, start_timestamp=T0)


def event_types(effects: Effects) -> list[str]:
    return [event.event_type for event in effects.events]


# --- start and end ------------------------------------------------------------------------------


def test_start_execution_writes_the_execution_operation_event_and_first_invocation() -> None:
    ex, effects = start_execution(ARN, "f", '"in"', 60, T0, nonce="abcd0123")
    assert (ex.arn, ex.name, ex.execution_id, ex.status) == (ARN, "run-1", "id-1", "RUNNING")
    assert ex.next_event_id == 1 and ex.parent_arn is None and ex.timeout_seconds == 60
    (op,) = effects.operations
    assert (op.id, op.type, op.status, op.name, op.start_timestamp) == (
        "id-1", "EXECUTION", "STARTED", "run-1", T0,
    )  # fmt: skip
    assert op.execution_details == ExecutionDetails(input_payload='"in"')
    (event,) = effects.events
    assert (event.event_type, event.event_id) == ("ExecutionStarted", 1)
    assert event.execution_started_details == {
        "Input": {"Payload": '"in"', "Truncated": False},
        "ExecutionTimeout": 60,
    }
    assert effects.tasks == ((INVOCATION, "", T0), (EXECUTION_TIMEOUT, "", T0 + 60_000))
    assert effects.ending is None and effects.parent is None


def test_a_child_execution_knows_its_parent_and_has_no_timeout_timer() -> None:
    ex, effects = start_execution(ARN, "f", None, None, T0, nonce="n", parent=("arn:p", "op"))
    assert (ex.parent_arn, ex.parent_op_id) == ("arn:p", "op")
    assert effects.tasks == ((INVOCATION, "", T0),)


@pytest.mark.parametrize("status", list(ENDINGS))
def test_end_execution_ends_the_execution_operation_with_its_event(status: Any) -> None:
    ex = header()
    error = None if status == "SUCCEEDED" else ERR
    result = '"out"' if status == "SUCCEEDED" else None
    effects = end_execution(ex, ops().get, status, LATER, result=result, error=error)
    (op,) = effects.operations
    assert (op.id, op.status, op.start_timestamp, op.end_timestamp) == (
        "id-1", ENDINGS[status], T0, LATER,
    )  # fmt: skip
    assert op.execution_details == EXECUTION_OP.execution_details
    (event,) = effects.events
    assert event.event_id == 7
    assert event.event_type == "Execution" + status.title().replace("_", "")
    assert effects.ending == Ending(status, LATER, result, error)
    assert effects.parent is None
    assert ex.status == "RUNNING" and ex.next_event_id == 7  # the header is read, not changed


def test_a_child_that_ends_completes_its_parents_invoke() -> None:
    ex = header(parent_arn="arn:parent", parent_op_id="inv-1")
    effects = end_execution(ex, ops().get, "TIMED_OUT", LATER, error=ERR)
    assert effects.parent == InvokeEnded("arn:parent", "inv-1", "TIMED_OUT", None, ERR)


def test_end_execution_adds_to_the_effects_it_is_given() -> None:
    ex = header()
    effects = finish_invocation(
        ex, ops().get, LATER, start_ms=T0, request_id="r", output=None, crash=ERR, max_crashes=1
    )
    assert event_types(effects) == ["InvocationCompleted", "ExecutionFailed"]
    assert [event.event_id for event in effects.events] == [7, 8]


# --- invocations --------------------------------------------------------------------------------


def finish(ex: StoredExecution, output: object, *extra: Operation, **kwargs: Any) -> Effects:
    kwargs.setdefault("crash", None)
    kwargs.setdefault("max_crashes", 3)
    return finish_invocation(
        ex, ops(*extra).get, LATER, start_ms=T0, request_id="req-1", output=output, **kwargs
    )


def test_a_succeeded_output_ends_the_execution_after_the_invocation_event() -> None:
    effects = finish(header(crashes=2), InvocationOutput(status="SUCCEEDED", result='"r"'))
    assert event_types(effects) == ["InvocationCompleted", "ExecutionSucceeded"]
    details = effects.events[0].invocation_completed_details
    assert details == {"StartTimestamp": T0, "EndTimestamp": LATER, "RequestId": "req-1"}
    assert effects.ending == Ending("SUCCEEDED", LATER, '"r"', None)
    assert effects.crashes == 0


def test_a_failed_output_fails_the_execution_with_its_error() -> None:
    effects = finish(header(), InvocationOutput(status="FAILED", error=ERR))
    assert effects.ending == Ending("FAILED", LATER, None, ERR)
    bare = finish(header(), InvocationOutput(status="FAILED"))
    assert bare.ending is not None and bare.ending.error is not None
    assert bare.ending.error.error_type == "UnknownError"


@pytest.mark.parametrize(
    ("output", "says"),
    [
        ("not an output", "returned str, not an InvocationOutput"),
        (InvocationOutput(status="SUCCEEDED", error=ERR), "carries a Result, not an Error"),
        (InvocationOutput(status="FAILED", result='"r"'), "carries an Error, not a Result"),
        (
            InvocationOutput(status="SUCCEEDED", result='"' + "x" * (6 * 1024 * 1024) + '"'),
            "EXECUTION SUCCEED update",
        ),
    ],
)
def test_an_unusable_output_fails_the_execution(output: object, says: str) -> None:
    effects = finish(header(), output)
    assert effects.ending is not None and effects.ending.status == "FAILED"
    error = effects.ending.error
    assert error is not None and error.error_type == INVALID_OUTPUT
    assert says in (error.error_message or "")


def test_a_crash_is_recorded_and_invoked_again_until_max_crashes() -> None:
    once = finish(header(crashes=1), None, crash=ERR)
    assert once.crashes == 2 and once.ending is None
    assert once.tasks == ((INVOCATION, "", LATER),)
    assert once.events[0].invocation_completed_details is not None
    assert once.events[0].invocation_completed_details["Error"]["Payload"]["ErrorType"] == (
        "ValueError"
    )
    last = finish(header(crashes=2), None, crash=ERR)
    assert last.crashes == 3 and last.ending == Ending("FAILED", LATER, None, ERR)


def test_an_invocation_of_an_execution_that_ended_meanwhile_only_writes_its_event() -> None:
    effects = finish(header(status="STOPPED"), InvocationOutput(status="SUCCEEDED"))
    assert event_types(effects) == ["InvocationCompleted"]
    assert effects.ending is None and effects.tasks == () and effects.crashes is None


PENDING = InvocationOutput(status="PENDING")


@pytest.mark.parametrize(
    "fields",
    [{"unseen": {"w": None}}, {"reinvoke": True}],
    ids=["an unseen change", "an invocation came due"],
)
def test_pending_with_news_the_handler_has_not_seen_invokes_again(fields: Any) -> None:
    effects = finish(header(open={"w": "WAIT"}, **fields), PENDING, wait_op())
    assert effects.tasks == ((INVOCATION, "", LATER),) and effects.ending is None


def test_pending_while_something_is_open_suspends() -> None:
    effects = finish(header(open={"w": "WAIT"}, nudged=True), PENDING, wait_op())
    assert effects.tasks == () and effects.ending is None


def test_pending_with_a_ready_step_invokes_again_if_the_invocation_wrote() -> None:
    ex = header(open={"s": "STEP"}, wrote=True)
    effects = finish(ex, PENDING, step_op("READY"))
    assert effects.tasks == ((INVOCATION, "", LATER),)


def test_pending_with_a_ready_step_and_nothing_written_would_loop_so_it_fails() -> None:
    effects = finish(header(open={"s": "STEP"}), PENDING, step_op("READY"))
    assert effects.ending is not None and effects.ending.error is not None
    assert effects.ending.error.error_type == INVALID_OUTPUT
    assert "READY" in (effects.ending.error.error_message or "")


def test_pending_with_nothing_open_invokes_again_after_a_change_else_fails() -> None:
    nudged = finish(header(nudged=True), PENDING)
    assert nudged.tasks == ((INVOCATION, "", LATER),)
    stuck = finish(header(), PENDING)
    assert stuck.ending is not None and stuck.ending.error is not None
    assert "nothing to wait for" in (stuck.ending.error.error_message or "")


# --- timers -------------------------------------------------------------------------------------


def fire(ex: StoredExecution, kind: str, op_id: str, *extra: Operation, **kw: Any) -> Any:
    entries = kw.pop("callbacks", {})
    due = kw.pop("due", T0 + 3_000)
    return fire_timer(ex, ops(*extra).get, kind, op_id, due, LATER, entries.get)


def test_the_wait_timer_succeeds_the_wait_and_schedules_an_invocation() -> None:
    effects = fire(header(), WAIT_TIMER, "w", wait_op())
    (op,) = effects.operations
    assert (op.status, op.end_timestamp) == ("SUCCEEDED", LATER)
    assert event_types(effects) == ["WaitSucceeded"]
    assert effects.events[0].wait_succeeded_details == {"Duration": 3}
    assert effects.tasks == ((INVOCATION, "", LATER),) and effects.deliver is None


def test_a_timer_during_an_invocation_is_delivered_to_it_instead() -> None:
    effects = fire(header(invoking=True), WAIT_TIMER, "w", wait_op())
    assert effects.deliver == "w" and effects.tasks == ()


def test_the_retry_timer_makes_the_step_ready_without_an_event() -> None:
    effects = fire(header(), RETRY_TIMER, "s", step_op("PENDING"))
    (op,) = effects.operations
    assert op.status == "READY" and op.step_details is not None
    assert op.step_details.next_attempt_timestamp is None and op.step_details.attempt == 1
    assert effects.events == []


def test_a_callback_timeout_times_the_callback_out_and_drops_the_heartbeat() -> None:
    effects = fire(header(), CALLBACK_TIMEOUT, "cb", callback_op(), due=T0 + 30_000)
    (op,) = effects.operations
    assert op.status == "TIMED_OUT"
    assert effects.cancelled == ((CALLBACK_HEARTBEAT, "cb"),)
    assert event_types(effects) == ["CallbackTimedOut"]
    error = op.callback_details.error if op.callback_details else None
    assert error is not None and error.error_type == "Callback.Timeout"
    assert "30 seconds" in (error.error_message or "")


def test_a_heartbeat_timeout_names_the_heartbeat_and_drops_the_timeout() -> None:
    entry = CallbackEntry("c" * 48, ARN, "cb", 7)
    effects = fire(header(), CALLBACK_HEARTBEAT, "cb", callback_op(), callbacks={"c" * 48: entry})
    error = effects.operations[0].callback_details.error
    assert error.error_type == "Callback.Heartbeat" and "7 seconds" in error.error_message
    assert effects.cancelled == ((CALLBACK_TIMEOUT, "cb"),)


@pytest.mark.parametrize(
    ("kind", "op"),
    [
        (WAIT_TIMER, wait_op("CANCELLED")),
        (RETRY_TIMER, step_op("READY")),
        (CALLBACK_TIMEOUT, callback_op("SUCCEEDED")),
        (CALLBACK_HEARTBEAT, callback_op("FAILED")),
    ],
)
def test_a_timer_whose_operation_moved_on_does_nothing(kind: str, op: Operation) -> None:
    assert TIMERS[kind] != op.status
    assert fire(header(), kind, op.id, op) is None
    assert fire(header(), kind, "missing") is None


def test_the_execution_timeout_ends_the_execution_timed_out() -> None:
    effects = fire(header(timeout_seconds=5), EXECUTION_TIMEOUT, "")
    assert effects.ending is not None and effects.ending.status == "TIMED_OUT"
    assert effects.ending.error.error_type == "Execution.Timeout"
    assert "5 seconds" in effects.ending.error.error_message


def test_no_timer_acts_on_an_ended_execution() -> None:
    assert fire(header(status="SUCCEEDED"), WAIT_TIMER, "w", wait_op()) is None
    assert fire(header(status="FAILED"), EXECUTION_TIMEOUT, "") is None


# --- callbacks and invokes ----------------------------------------------------------------------


def test_a_callback_completed_from_outside_drops_both_timers() -> None:
    effects = complete_callback(header(), callback_op(), "SUCCEEDED", LATER, result='"yes"')
    (op,) = effects.operations
    assert op.status == "SUCCEEDED" and op.callback_details is not None
    assert op.callback_details.result == '"yes"'
    assert op.callback_details.callback_id == "c" * 48
    assert event_types(effects) == ["CallbackSucceeded"]
    assert effects.cancelled == ((CALLBACK_TIMEOUT, "cb"), (CALLBACK_HEARTBEAT, "cb"))
    assert effects.tasks == ((INVOCATION, "", LATER),)


def test_a_heartbeat_restarts_the_heartbeat_timeout_only_when_there_is_one() -> None:
    with_timeout = heartbeat(header(), callback_op(), CallbackEntry("c", ARN, "cb", 9), LATER)
    assert with_timeout.tasks == ((CALLBACK_HEARTBEAT, "cb", LATER + 9_000),)
    without = heartbeat(header(), callback_op(), CallbackEntry("c", ARN, "cb", 0), LATER)
    assert without.tasks == () and without.events == []


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"])
def test_an_invoke_completes_with_its_targets_status(status: Any) -> None:
    result = '"r"' if status == "SUCCEEDED" else None
    error = None if status == "SUCCEEDED" else ERR
    effects = complete_invoke(
        header(invoking=True), invoke_op(), status, LATER, result=result, error=error
    )
    assert effects is not None
    (op,) = effects.operations
    assert op.status == status and op.chained_invoke_details is not None
    assert (op.chained_invoke_details.result, op.chained_invoke_details.error) == (result, error)
    assert event_types(effects) == ["ChainedInvoke" + status.title().replace("_", "")]
    assert effects.deliver == "inv"


def test_an_invoke_that_is_no_longer_started_is_left_alone() -> None:
    assert complete_invoke(header(), invoke_op("FAILED"), "SUCCEEDED", LATER) is None
    assert complete_invoke(header(), None, "SUCCEEDED", LATER) is None
    assert complete_invoke(header(status="STOPPED"), invoke_op(), "SUCCEEDED", LATER) is None
    assert complete_invoke(header(), wait_op(), "SUCCEEDED", LATER) is None


# --- bookkeeping --------------------------------------------------------------------------------


def test_track_open_follows_the_operations_written() -> None:
    ex = header(invokes={"inv": InvokeEntry("g", None, None)})
    track_open(ex, [wait_op(), invoke_op(), step_op("PENDING"), callback_op()])
    assert ex.open == {"w": "WAIT", "inv": "CHAINED_INVOKE", "s": "STEP", "cb": "CALLBACK"}
    track_open(ex, [wait_op("SUCCEEDED"), invoke_op("SUCCEEDED"), step_op("READY")])
    assert ex.open == {"s": "STEP", "cb": "CALLBACK"}
    assert ex.invokes == {}


def test_task_kinds_are_distinct() -> None:
    kinds = [INVOCATION, CALL, EXECUTION_TIMEOUT, *TIMERS]
    assert len(set(kinds)) == len(kinds)
