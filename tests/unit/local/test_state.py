"""The operation state machine on its own: every transition, every rule, every event shape."""

from __future__ import annotations

import itertools
from typing import Any, get_args

import msgspec
import pytest

from durable_gen._errors import InvalidCheckpointError
from durable_gen._wire import (
    MAX_ERROR_BYTES,
    MAX_OPERATION_PAYLOAD_BYTES,
    MAX_PAYLOAD_BYTES,
    CallbackDetails,
    CallbackOptions,
    ChainedInvokeOptions,
    ContextOptions,
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StepDetails,
    StepOptions,
    WaitDetails,
    WaitOptions,
    encode,
)
from durable_gen.local._state import (
    ACTIONS,
    TRANSITIONS,
    Applied,
    InvokeTarget,
    apply_checkpoint,
    callback_completed,
    describe_waiting,
    invoke_completed,
    is_waiting,
    retry_ready,
    wait_succeeded,
)

from .harness import T0, oid

ALL_TYPES: tuple[OperationType, ...] = get_args(OperationType)
ALL_STATUSES: tuple[OperationStatus, ...] = get_args(OperationStatus)
ALL_ACTIONS: tuple[OperationAction, ...] = get_args(OperationAction)
ERR = ErrorObject(error_type="ValueError", error_message="boom")


def apply(
    ops: dict[str, Operation] | None,
    *updates: OperationUpdate,
    target: InvokeTarget | None = None,
    now: int = T0,
) -> Applied:
    ids = itertools.count(1)
    return apply_checkpoint(
        (ops or {}).get,
        updates,
        now_ms=now,
        first_event_id=2,
        new_callback_id=lambda: f"cb{next(ids)}",
        resolve_invoke=lambda op_id, name: target or InvokeTarget(),
    )


def op(type_: OperationType, status: OperationStatus, n: int = 1, **kwargs: Any) -> Operation:
    return Operation(id=oid(n), type=type_, status=status, start_timestamp=T0 - 1000, **kwargs)


def update(
    type_: OperationType, action: OperationAction, n: int = 1, **kwargs: Any
) -> OperationUpdate:
    """An update with the options its action needs."""
    if type_ == "WAIT" and action == "START":
        kwargs.setdefault("wait_options", WaitOptions(wait_seconds=5))
    if type_ == "STEP" and action == "RETRY":
        kwargs.setdefault("step_options", StepOptions(next_attempt_delay_seconds=3))
        kwargs.setdefault("error", ERR)
    if type_ == "CHAINED_INVOKE" and action == "START":
        kwargs.setdefault("chained_invoke_options", ChainedInvokeOptions(function_name="target"))
    if action == "FAIL":
        kwargs.setdefault("error", ERR)
    return OperationUpdate(id=oid(n), type=type_, action=action, **kwargs)


def refused(
    ops: dict[str, Operation] | None, *updates: OperationUpdate, match: str | None = None
) -> str:
    with pytest.raises(InvalidCheckpointError, match=match) as info:
        apply(ops, *updates)
    message = str(info.value)
    assert "nothing was recorded" in message
    return message


# --- the transition table, exhaustively ---------------------------------------------------------

CASES = [
    (t, s, a)
    for t in ALL_TYPES
    if t != "EXECUTION"
    for s in (None, *ALL_STATUSES)
    for a in ALL_ACTIONS
]


@pytest.mark.parametrize(("type_", "status", "action"), CASES)
def test_every_transition_is_allowed_or_refused_as_the_table_says(
    type_: OperationType, status: OperationStatus | None, action: OperationAction
) -> None:
    ops = {} if status is None else {oid(1): op(type_, status)}
    expected = TRANSITIONS.get((type_, status, action))
    u = update(type_, action)
    if expected is None:
        message = refused(ops, u)
        assert oid(1) in message and action in message
        return
    out = apply(ops, u)
    assert out.operations[oid(1)].status == expected
    assert len(out.events) == 1 and out.events[0].event_id == 2


def test_the_table_is_the_clouds() -> None:
    # The rows the service has (per type: from which status each action goes where).
    expected = {
        ("STEP", None, "START"), ("STEP", "READY", "START"),
        ("STEP", None, "SUCCEED"), ("STEP", "STARTED", "SUCCEED"), ("STEP", "READY", "SUCCEED"),
        ("STEP", None, "FAIL"), ("STEP", "STARTED", "FAIL"), ("STEP", "READY", "FAIL"),
        ("STEP", None, "RETRY"), ("STEP", "STARTED", "RETRY"), ("STEP", "READY", "RETRY"),
        ("CONTEXT", None, "START"),
        ("CONTEXT", None, "SUCCEED"), ("CONTEXT", "STARTED", "SUCCEED"),
        ("CONTEXT", None, "FAIL"), ("CONTEXT", "STARTED", "FAIL"),
        ("WAIT", None, "START"), ("WAIT", "STARTED", "CANCEL"),
        ("CALLBACK", None, "START"),
        ("CHAINED_INVOKE", None, "START"),
    }  # fmt: skip
    assert set(TRANSITIONS) == expected
    for (type_, _, action), _to in TRANSITIONS.items():
        assert action in ACTIONS[type_]


@pytest.mark.parametrize(
    ("type_", "action"),
    [(t, a) for t in ALL_TYPES for a in ALL_ACTIONS if a not in ACTIONS[t]],
)
def test_an_action_the_type_does_not_have_is_refused(
    type_: OperationType, action: OperationAction
) -> None:
    refused(None, update(type_, action), match=f"{type_} operations take")


# --- steps --------------------------------------------------------------------------------------


def test_step_start_then_succeed_in_one_batch() -> None:
    out = apply(
        None,
        update("STEP", "START", name="charge", sub_type="Step"),
        update("STEP", "SUCCEED", payload='"ok"'),
    )
    step = out.operations[oid(1)]
    assert step.status == "SUCCEEDED"
    assert step.name == "charge" and step.sub_type == "Step"
    assert step.start_timestamp == T0 and step.end_timestamp == T0
    assert step.step_details == StepDetails(attempt=1, result='"ok"')
    assert [e.event_type for e in out.events] == ["StepStarted", "StepSucceeded"]
    assert [e.event_id for e in out.events] == [2, 3]
    assert out.events[1].step_succeeded_details == {
        "Result": {"Payload": '"ok"', "Truncated": False},
        "RetryDetails": {"CurrentAttempt": 1},
    }


def test_step_attempts_count_the_attempts_finished() -> None:
    # As the Lambda service: Attempt is 0 while the first attempt runs.
    started = apply(None, update("STEP", "START")).operations[oid(1)]
    assert started.step_details is not None and started.step_details.attempt == 0
    retried = apply({oid(1): started}, update("STEP", "RETRY")).operations[oid(1)]
    assert retried.status == "PENDING"
    assert retried.step_details is not None and retried.step_details.attempt == 1
    ready = retry_ready(retried)
    second = apply({oid(1): ready}, update("STEP", "START")).operations[oid(1)]
    assert second.step_details is not None and second.step_details.attempt == 1
    done = apply({oid(1): second}, update("STEP", "SUCCEED")).operations[oid(1)]
    assert done.step_details is not None and done.step_details.attempt == 2
    # An outcome with no START finishes an attempt too.
    direct = apply({oid(1): ready}, update("STEP", "FAIL")).operations[oid(1)]
    assert direct.step_details is not None and direct.step_details.attempt == 2
    fresh = apply(None, update("STEP", "SUCCEED")).operations[oid(1)]
    assert fresh.step_details is not None and fresh.step_details.attempt == 1


def test_step_retry_with_an_error_writes_step_failed_and_arms_the_timer() -> None:
    out = apply(
        {oid(1): op("STEP", "STARTED", step_details=StepDetails(attempt=0))},
        update("STEP", "RETRY", step_options=StepOptions(next_attempt_delay_seconds=7)),
    )
    step = out.operations[oid(1)]
    assert step.status == "PENDING"
    assert step.end_timestamp is None
    assert step.step_details == StepDetails(attempt=1, next_attempt_timestamp=T0 + 7000, error=ERR)
    assert out.timers == (("retry", oid(1), T0 + 7000),)
    (event,) = out.events
    assert event.event_type == "StepFailed"
    assert event.step_failed_details == {
        "Error": {
            "Payload": {"ErrorType": "ValueError", "ErrorMessage": "boom"},
            "Truncated": False,
        },
        "RetryDetails": {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 7},
    }


def test_step_retry_with_a_payload_keeps_it_and_writes_step_succeeded() -> None:
    # Wait-for-condition polling: the state travels as the step's Result.
    out = apply(
        None,
        update("STEP", "START", sub_type="WaitForCondition"),
        update(
            "STEP",
            "RETRY",
            payload="1",
            error=None,
            step_options=StepOptions(next_attempt_delay_seconds=2),
        ),
    )
    step = out.operations[oid(1)]
    assert step.status == "PENDING"
    assert step.step_details is not None and step.step_details.result == "1"
    assert [e.event_type for e in out.events] == ["StepStarted", "StepSucceeded"]
    assert out.events[1].step_succeeded_details == {
        "Result": {"Payload": "1", "Truncated": False},
        "RetryDetails": {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 2},
    }
    # READY keeps the state, and so does the next START.
    ready = retry_ready(step)
    assert ready.status == "READY" and ready.step_details is not None
    assert ready.step_details.result == "1" and ready.step_details.next_attempt_timestamp is None
    again = apply({oid(1): ready}, update("STEP", "START")).operations[oid(1)]
    assert again.step_details is not None and again.step_details.result == "1"


def test_step_fail_event() -> None:
    out = apply(
        {oid(1): op("STEP", "STARTED", step_details=StepDetails(attempt=2))},
        update("STEP", "FAIL"),
    )
    assert out.operations[oid(1)].status == "FAILED"
    payload = {"ErrorType": "ValueError", "ErrorMessage": "boom"}
    assert out.events[0].step_failed_details == {
        "Error": {"Payload": payload, "Truncated": False},
        "RetryDetails": {"CurrentAttempt": 3},
    }


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"step_options": None}, "NextAttemptDelaySeconds in 1..31622400, got None"),
        ({"step_options": StepOptions()}, "got None"),
        ({"step_options": StepOptions(next_attempt_delay_seconds=0)}, "got 0"),
        ({"step_options": StepOptions(next_attempt_delay_seconds=31_622_401)}, "got 31622401"),
        ({"payload": "1"}, "not both"),
    ],
)
def test_step_retry_options_are_checked(kwargs: dict[str, Any], match: str) -> None:
    refused(None, update("STEP", "RETRY", **kwargs), match=match)


def test_fail_with_a_payload_and_succeed_with_an_error_are_refused() -> None:
    refused(None, update("STEP", "FAIL", payload="1"), match="FAIL carries an Error")
    refused(None, update("STEP", "SUCCEED", error=ERR), match="SUCCEED carries a Payload")
    refused(None, update("CONTEXT", "FAIL", payload="1"), match="FAIL carries an Error")
    refused(None, update("CONTEXT", "SUCCEED", error=ERR), match="SUCCEED carries a Payload")
    refused(None, update("EXECUTION", "FAIL", payload="1"), match="FAIL carries an Error")
    refused(None, update("EXECUTION", "SUCCEED", error=ERR), match="SUCCEED carries a Payload")


# --- contexts, waits, callbacks, invokes ---------------------------------------------------------


def test_context_lifecycle_and_events() -> None:
    out = apply(None, update("CONTEXT", "START", sub_type="RunInChildContext", name="child"))
    ctx = out.operations[oid(1)]
    assert ctx.status == "STARTED" and ctx.context_details is None
    assert out.events[0].event_type == "ContextStarted"
    assert out.events[0].context_started_details == {}
    done = apply(
        {oid(1): ctx},
        update(
            "CONTEXT",
            "SUCCEED",
            payload='"r"',
            context_options=ContextOptions(replay_children=True),
        ),
    )
    new = done.operations[oid(1)]
    assert new.status == "SUCCEEDED" and new.name == "child"
    assert new.context_details is not None
    assert new.context_details.result == '"r"' and new.context_details.replay_children is True
    assert done.events[0].context_succeeded_details == {
        "Result": {"Payload": '"r"', "Truncated": False}
    }
    failed = apply({oid(1): ctx}, update("CONTEXT", "FAIL"))
    assert failed.operations[oid(1)].status == "FAILED"
    assert failed.events[0].event_type == "ContextFailed"


def test_wait_start_and_cancel() -> None:
    out = apply(None, update("WAIT", "START", wait_options=WaitOptions(wait_seconds=60)))
    wait = out.operations[oid(1)]
    assert wait.wait_details == WaitDetails(scheduled_end_timestamp=T0 + 60_000)
    assert out.timers == (("wait", oid(1), T0 + 60_000),)
    assert out.events[0].wait_started_details == {
        "Duration": 60,
        "ScheduledEndTimestamp": T0 + 60_000,
    }
    cancelled = apply({oid(1): wait}, update("WAIT", "CANCEL"))
    assert cancelled.operations[oid(1)].status == "CANCELLED"
    assert cancelled.cancelled == (("wait", oid(1)),)
    assert cancelled.events[0].event_type == "WaitCancelled"
    fired, event = wait_succeeded(wait, T0 + 60_000, 9)
    assert fired.status == "SUCCEEDED" and fired.end_timestamp == T0 + 60_000
    assert event.event_id == 9 and event.wait_succeeded_details == {"Duration": 60}


@pytest.mark.parametrize("seconds", [None, 0, -1, 31_622_401])
def test_wait_seconds_are_checked(seconds: int | None) -> None:
    refused(
        None,
        update("WAIT", "START", wait_options=WaitOptions(wait_seconds=seconds)),
        match="WaitSeconds in 1..31622400",
    )


def test_wait_of_366_days_is_allowed() -> None:
    out = apply(None, update("WAIT", "START", wait_options=WaitOptions(wait_seconds=31_622_400)))
    assert out.timers[0][2] == T0 + 31_622_400_000


def test_callback_start_issues_an_id_and_its_timers() -> None:
    out = apply(
        None,
        update(
            "CALLBACK",
            "START",
            name="approval",
            sub_type="Callback",
            callback_options=CallbackOptions(timeout_seconds=30, heartbeat_timeout_seconds=5),
        ),
    )
    cb = out.operations[oid(1)]
    assert cb.status == "STARTED"
    assert cb.callback_details == CallbackDetails(callback_id="cb1")
    assert out.callbacks[0].callback_id == "cb1" and out.callbacks[0].heartbeat_seconds == 5
    assert sorted(out.timers) == [
        ("callback-heartbeat", oid(1), T0 + 5000),
        ("callback-timeout", oid(1), T0 + 30_000),
    ]
    assert out.events[0].callback_started_details == {
        "CallbackId": "cb1",
        "Timeout": 30,
        "HeartbeatTimeout": 5,
    }
    plain = apply(None, update("CALLBACK", "START"))
    assert plain.timers == () and plain.events[0].callback_started_details == {"CallbackId": "cb1"}
    refused(
        None,
        update("CALLBACK", "START", callback_options=CallbackOptions(timeout_seconds=-1)),
        match="TimeoutSeconds must be in 0..99999999",
    )


def test_callback_completions() -> None:
    cb = op("CALLBACK", "STARTED", callback_details=CallbackDetails(callback_id="x"))
    ok, ev = callback_completed(cb, "SUCCEEDED", T0, 5, result='"yes"')
    assert ok.callback_details == CallbackDetails(callback_id="x", result='"yes"')
    assert ev.event_type == "CallbackSucceeded"
    assert ev.callback_succeeded_details == {"Result": {"Payload": '"yes"', "Truncated": False}}
    bad, ev = callback_completed(cb, "FAILED", T0, 5, error=ERR)
    assert bad.status == "FAILED" and ev.event_type == "CallbackFailed"
    timeout = ErrorObject(error_type="Callback.Timeout", error_message="late")
    late, ev = callback_completed(cb, "TIMED_OUT", T0, 5, error=timeout)
    assert late.status == "TIMED_OUT" and ev.event_type == "CallbackTimedOut"
    assert ev.callback_timed_out_details == {
        "Error": {
            "Payload": {"ErrorType": "Callback.Timeout", "ErrorMessage": "late"},
            "Truncated": False,
        }
    }


def test_invoke_start_of_a_durable_target() -> None:
    out = apply(
        None,
        update(
            "CHAINED_INVOKE",
            "START",
            name="tax",
            payload='{"a":1}',
            chained_invoke_options=ChainedInvokeOptions(function_name="tax-svc", tenant_id="t1"),
        ),
        target=InvokeTarget(child_arn="arn:child"),
    )
    invoke = out.operations[oid(1)]
    assert invoke.status == "STARTED" and invoke.chained_invoke_details is None
    assert out.invokes[0].function_name == "tax-svc" and out.invokes[0].child_arn == "arn:child"
    assert out.events[0].chained_invoke_started_details == {
        "FunctionName": "tax-svc",
        "Input": {"Payload": '{"a":1}', "Truncated": False},
        "ExecutedVersion": "$LATEST",
        "TenantId": "t1",
        "DurableExecutionArn": "arn:child",
    }


@pytest.mark.parametrize("tenant_id", ["", "bad!tenant", "t" * 257, "caf\u00e9"])
def test_invoke_start_with_a_tenant_id_lambda_refuses_is_refused(tenant_id: str) -> None:
    options = ChainedInvokeOptions(function_name="tax-svc", tenant_id=tenant_id)
    refused(
        None, update("CHAINED_INVOKE", "START", chained_invoke_options=options), match="TenantId"
    )


def test_invoke_start_takes_every_character_lambda_allows_in_a_tenant_id() -> None:
    tenant_id = "Tenant 1.a_b:c/d=e+f-g@h"
    options = ChainedInvokeOptions(function_name="tax-svc", tenant_id=tenant_id)
    out = apply(None, update("CHAINED_INVOKE", "START", chained_invoke_options=options))
    assert out.events[0].chained_invoke_started_details is not None
    assert out.events[0].chained_invoke_started_details["TenantId"] == tenant_id


def test_invoke_of_an_arn_resolves_to_the_function_name() -> None:
    seen: list[str] = []
    nothing: dict[str, Operation] = {}

    def resolve(op_id: str, name: str) -> InvokeTarget:
        seen.append(name)
        return InvokeTarget()

    apply_checkpoint(
        nothing.get,
        [
            update(
                "CHAINED_INVOKE",
                "START",
                chained_invoke_options=ChainedInvokeOptions(
                    function_name="arn:aws:lambda:us-east-1:123456789012:function:tax-svc:$LATEST"
                ),
            )
        ],
        now_ms=T0,
        first_event_id=2,
        new_callback_id=lambda: "x",
        resolve_invoke=resolve,
    )
    assert seen == ["tax-svc"]


def test_invoke_of_an_unresolvable_target_fails_at_once() -> None:
    error = ErrorObject(error_type="FunctionNotRegisteredError", error_message="register it")
    out = apply(None, update("CHAINED_INVOKE", "START"), target=InvokeTarget(error=error))
    invoke = out.operations[oid(1)]
    assert invoke.status == "FAILED" and invoke.end_timestamp == T0
    assert invoke.chained_invoke_details is not None
    assert invoke.chained_invoke_details.error == error
    assert out.invokes == () and out.failed_invokes == (oid(1),)
    assert [e.event_type for e in out.events] == ["ChainedInvokeStarted", "ChainedInvokeFailed"]
    assert [e.event_id for e in out.events] == [2, 3]


def test_invoke_options_are_checked() -> None:
    refused(None, update("CHAINED_INVOKE", "START", chained_invoke_options=None), match="needs")
    bad = ChainedInvokeOptions(function_name="not a name!")
    refused(
        None, update("CHAINED_INVOKE", "START", chained_invoke_options=bad), match="FunctionName"
    )


def test_invoke_completions() -> None:
    invoke = op("CHAINED_INVOKE", "STARTED")
    for status, kind in [
        ("SUCCEEDED", "ChainedInvokeSucceeded"),
        ("FAILED", "ChainedInvokeFailed"),
        ("TIMED_OUT", "ChainedInvokeTimedOut"),
        ("STOPPED", "ChainedInvokeStopped"),
    ]:
        new, event = invoke_completed(invoke, status, T0, 4, result="1", error=ERR)  # type: ignore[arg-type]
        assert new.status == status and event.event_type == kind


def test_execution_updates_end_the_execution_and_write_no_operation() -> None:
    out = apply(
        None,
        update("STEP", "SUCCEED", payload="1"),
        update("EXECUTION", "SUCCEED", n=9, payload="2"),
    )
    assert list(out.operations) == [oid(1)]
    assert out.outcome == ("SUCCEEDED", "2", None)
    out = apply(None, update("EXECUTION", "FAIL"))
    assert out.outcome == ("FAILED", None, ERR) and out.events == []


# --- batch rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["", "x" * 65, "has space", "dot.ted", "é"])
def test_ids_are_checked(bad_id: str) -> None:
    refused(None, OperationUpdate(id=bad_id, type="STEP", action="START"), match="the Id must")
    refused(None, update("STEP", "START", parent_id=bad_id), match="the ParentId must")


def test_names_and_subtypes_are_checked() -> None:
    assert apply(None, update("STEP", "START", name="x" * 256)).operations
    refused(None, update("STEP", "START", name="x" * 257), match="the Name must")
    refused(None, update("STEP", "START", name=""), match="the Name must")
    refused(None, update("STEP", "START", name="caf\u00e9"), match="printable ASCII")
    refused(None, update("STEP", "START", sub_type="x" * 33), match="the SubType must")


def test_names_checked_once_are_checked_again_when_invalid() -> None:
    # Valid names and subtypes are remembered; an invalid one must be refused every time,
    # also after thousands of distinct valid ones have filled and emptied that memory.
    for i in range(5_000):
        assert apply(None, update("STEP", "START", name=f"n{i}", sub_type=f"t{i % 40}"))
    for _ in range(2):
        refused(None, update("STEP", "START", name="caf\u00e9"), match="printable ASCII")
        refused(None, update("STEP", "START", sub_type="a b"), match="the SubType must")
        refused(None, update("STEP", "START", name="tab\there"), match="printable ASCII")


def test_ids_with_dashes_underscores_or_other_characters() -> None:
    def start(op_id: str) -> OperationUpdate:
        return OperationUpdate(id=op_id, type="STEP", action="START")

    for good in ("a", "A-b_c", "_", "-", "9" * 64, "x-" * 32):
        assert apply(None, start(good)).operations
    for bad in ("", "a" * 65, "a b", "a/b", "caf\u00e9", "\u0661", "a.b"):
        refused(None, start(bad), match="the Id must")


def test_duplicates_in_one_batch() -> None:
    # START followed by one non-START of the same STEP or CONTEXT: fine.
    apply(None, update("STEP", "START"), update("STEP", "SUCCEED"))
    apply(None, update("CONTEXT", "START"), update("CONTEXT", "FAIL"))
    refused(None, update("STEP", "START"), update("STEP", "START"), match="already updates")
    refused(
        None,
        update("STEP", "START"),
        update("STEP", "RETRY"),
        update("STEP", "SUCCEED"),
        match="already updates",
    )
    refused(None, update("WAIT", "START"), update("WAIT", "CANCEL"), match="already updates")
    refused(None, update("STEP", "SUCCEED"), update("STEP", "SUCCEED"), match="already updates")


def test_execution_update_must_be_last() -> None:
    message = refused(None, update("EXECUTION", "SUCCEED", n=9), update("STEP", "START"))
    assert "must be the last" in message and "update #0" in message
    refused(
        None,
        update("EXECUTION", "SUCCEED", n=9),
        update("EXECUTION", "SUCCEED", n=9),
        match="already updates|must be the last",
    )


def test_parents_must_be_contexts_that_exist_or_started_earlier_in_the_batch() -> None:
    ctx = oid(1)
    apply(None, update("CONTEXT", "START"), update("STEP", "START", n=2, parent_id=ctx))
    apply({ctx: op("CONTEXT", "STARTED")}, update("STEP", "START", n=2, parent_id=ctx))
    # A finished parent is still a parent (Map/Parallel branches may outlive it).
    apply({ctx: op("CONTEXT", "SUCCEEDED")}, update("STEP", "START", n=2, parent_id=ctx))
    refused(None, update("STEP", "START", n=2, parent_id=ctx), match="is not a CONTEXT")
    refused({ctx: op("STEP", "STARTED")}, update("STEP", "START", n=2, parent_id=ctx))
    refused(
        None,
        update("STEP", "START", n=2, parent_id=ctx),
        update("CONTEXT", "START"),
        match="started earlier",
    )
    # Created in the batch, but not by a START: not a parent yet.
    refused(None, update("CONTEXT", "SUCCEED"), update("STEP", "START", n=2, parent_id=ctx))


def test_an_existing_operation_keeps_its_type_subtype_name_and_parent() -> None:
    ctx = oid(5)
    existing = {
        oid(1): op("STEP", "STARTED", name="a", sub_type="Step", parent_id=ctx),
        ctx: op("CONTEXT", "STARTED", n=5),
        oid(6): op("CONTEXT", "STARTED", n=6),
    }
    # Omitting them is fine.
    apply(existing, update("STEP", "SUCCEED"))
    apply(existing, update("STEP", "SUCCEED", name="a", sub_type="Step", parent_id=ctx))
    refused(existing, update("WAIT", "START"), match="is a STEP, not a WAIT")
    refused(existing, update("STEP", "SUCCEED", name="b"), match="is named 'a'")
    refused(existing, update("STEP", "SUCCEED", sub_type="Other"), match="has SubType")
    refused(existing, update("STEP", "SUCCEED", parent_id=oid(6)), match="has ParentId")


def test_an_operation_payload_is_limited_to_1_mib_and_the_execution_result_to_6_mib() -> None:
    """As Lambda's API: 1 MB on STEP, CONTEXT, WAIT, CALLBACK and CHAINED_INVOKE payloads,
    6 MB on the EXECUTION operation (a result too large to return)."""
    over = "x" * (MAX_OPERATION_PAYLOAD_BYTES + 1)
    refused(None, update("STEP", "SUCCEED", payload=over), match="for a STEP operation")
    refused(None, update("CONTEXT", "SUCCEED", payload=over), match="for a CONTEXT operation")
    refused(None, update("CHAINED_INVOKE", "START", payload=over), match="CHAINED_INVOKE")
    execution = {oid(1): op("EXECUTION", "STARTED")}
    applied = apply(execution, update("EXECUTION", "SUCCEED", payload="x" * MAX_PAYLOAD_BYTES))
    assert applied.outcome is not None and applied.outcome[0] == "SUCCEEDED"
    refused(
        execution,
        update("EXECUTION", "SUCCEED", payload="x" * (MAX_PAYLOAD_BYTES + 1)),
        match=f"over the limit of {MAX_PAYLOAD_BYTES} bytes",
    )


def test_sizes_are_checked() -> None:
    big = "x" * (MAX_OPERATION_PAYLOAD_BYTES + 1)
    refused(None, update("STEP", "SUCCEED", payload=big), match="Payload is over")
    # Measured in UTF-8 bytes, not characters.
    wide = "\u00e9" * (MAX_OPERATION_PAYLOAD_BYTES // 2 + 1)
    refused(None, update("STEP", "SUCCEED", payload=wide), match="Payload is over")
    assert apply(None, update("STEP", "SUCCEED", payload="x" * MAX_OPERATION_PAYLOAD_BYTES))
    huge_error = ErrorObject(error_type="E", error_message="m" * MAX_ERROR_BYTES)
    refused(None, update("STEP", "FAIL", error=huge_error), match="Error object is")
    lines = ErrorObject(error_type="E", stack_trace=["frame" * 10] * 1000)
    refused(None, update("STEP", "FAIL", error=lines), match="Error object is")
    fits = ErrorObject(error_type="E", error_message="m" * (MAX_ERROR_BYTES - 100))
    assert len(encode(fits)) <= MAX_ERROR_BYTES
    assert apply(None, update("STEP", "FAIL", error=fits)).operations
    # Counted as the service counts it: non-ASCII characters escaped (6 bytes each), not UTF-8.
    accented = ErrorObject(error_type="E", error_message="\u00e9" * 10_000)
    assert len(encode(accented)) <= MAX_ERROR_BYTES
    refused(None, update("STEP", "FAIL", error=accented), match="non-ASCII characters escaped")


def test_a_refused_batch_names_the_update() -> None:
    message = refused(
        None,
        update("STEP", "START", name="first"),
        update("WAIT", "START", n=2, name="pause", wait_options=WaitOptions(wait_seconds=0)),
    )
    assert "update #1" in message and "WAIT START" in message and "'pause'" in message


# --- helpers -------------------------------------------------------------------------------------


def test_is_waiting_and_describe() -> None:
    assert is_waiting(op("WAIT", "STARTED"))
    assert is_waiting(op("STEP", "PENDING")) and is_waiting(op("STEP", "READY"))
    assert not is_waiting(op("STEP", "STARTED")) and not is_waiting(op("CONTEXT", "STARTED"))
    assert not is_waiting(op("CALLBACK", "SUCCEEDED"))
    wait = op("WAIT", "STARTED", name="nap", wait_details=WaitDetails(scheduled_end_timestamp=0))
    assert describe_waiting(wait) == "wait 'nap' until 1970-01-01T00:00:00.000+00:00"
    cb = op("CALLBACK", "STARTED", callback_details=CallbackDetails(callback_id="abc"))
    assert describe_waiting(cb) == f"callback {oid(1)} (CallbackId abc)"
    parent = op("CONTEXT", "STARTED", n=2, name="approval")
    assert describe_waiting(cb, parent=parent) == "callback in 'approval' (CallbackId abc)"
    assert describe_waiting(op("CHAINED_INVOKE", "STARTED"), "f") == f"invoke {oid(1)} of 'f'"
    pending = op("STEP", "PENDING", step_details=StepDetails(next_attempt_timestamp=1000))
    assert "next attempt at 1970-01-01T00:00:01.000+00:00" in describe_waiting(pending)


def test_the_new_step_shortcut_agrees_with_the_general_way() -> None:
    # ``apply_checkpoint`` takes a shortcut for [STEP START, STEP SUCCEED] of a new step; for
    # every batch of about that shape it must give what the general way gives, or leave the
    # batch to it (None), and it may never accept what the general way refuses.
    from durable_gen.local._state import _apply_batch, _new_step_done

    ctx, old = oid(9), oid(8)
    recorded = {ctx: op("CONTEXT", "STARTED"), old: op("STEP", "STARTED")}
    big = '"' + "x" * MAX_OPERATION_PAYLOAD_BYTES + '"'
    start = update("STEP", "START", name="inc", sub_type="Step")
    done = update("STEP", "SUCCEED", name="inc", sub_type="Step", payload="1")
    r = msgspec.structs.replace
    cases = {
        "plain": (start, done),
        "in a context": (r(start, parent_id=ctx), r(done, parent_id=ctx)),
        "SUCCEED names nothing again": (start, r(done, name=None, sub_type=None)),
        "no payload": (start, r(done, payload=None)),
        "no name": (r(start, name=None), r(done, name=None)),
        "unknown parent": (r(start, parent_id=oid(7)), done),
        "parent not a context": (r(start, parent_id=old), done),
        "payload too large": (start, r(done, payload=big)),
        "SUCCEED with an error": (start, r(done, error=ERR)),
        "START with a payload": (r(start, payload="0"), done),
        "START with an error": (r(start, error=ERR), done),
        "another name": (start, r(done, name="other")),
        "another subtype": (start, r(done, sub_type="Other")),
        "another parent": (start, r(done, parent_id=ctx)),
        "existing step": (r(start, id=old), r(done, id=old)),
        "non-ASCII name": (r(start, name="caf\u00e9"), r(done, name=None)),
        "bad subtype": (r(start, sub_type="a b"), r(done, sub_type=None)),
        "bad id": (r(start, id="a b"), r(done, id="a b")),
        "two ids": (start, r(done, id=oid(2))),
        "a context": (update("CONTEXT", "START"), update("CONTEXT", "SUCCEED")),
        "START then FAIL": (start, update("STEP", "FAIL")),
        "START then RETRY": (start, update("STEP", "RETRY")),
        "two STARTs": (start, start),
    }
    took_shortcut = []
    for label, (first, second) in cases.items():
        fast = _new_step_done(recorded.get, first, second, T0, 5)
        try:
            general = _apply_batch(
                recorded.get,
                [first, second],
                now_ms=T0,
                first_event_id=5,
                new_callback_id=lambda: "cb",
                resolve_invoke=lambda op_id, name: InvokeTarget(),
            )
        except InvalidCheckpointError:
            assert fast is None, label
            continue
        if fast is None:
            continue
        took_shortcut.append(label)
        assert fast.operations == general.operations, label
        assert fast.events == general.events, label
        assert (fast.timers, fast.cancelled, fast.callbacks, fast.invokes, fast.outcome) == (
            (), (), (), (), None,
        )  # fmt: skip
        assert (general.timers, general.callbacks, general.invokes) == ((), (), ()), label
    assert took_shortcut == [
        "plain", "in a context", "SUCCEED names nothing again", "no payload", "no name",
    ]  # fmt: skip
