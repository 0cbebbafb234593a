"""History event sequences, in the ``GetDurableExecutionHistory`` JSON shapes.

Each scenario drives the engine the way an SDK does for a conformance requirement and checks
the history event by event: every expected key must be there with that value (``ANY``: any
value); keys not listed are not checked; EventIds must count from 1 with no gaps.
"""

from __future__ import annotations

from typing import Any

from durable_gen._wire import (
    CallbackOptions,
    ChainedInvokeOptions,
    ErrorObject,
    InvocationOutput,
    OperationAction,
    OperationType,
    OperationUpdate,
    StepOptions,
    WaitOptions,
    to_builtins,
)
from durable_gen.local import LocalService, VirtualClock

from .harness import Inv, Script, check_event_ids, oid, succeeded

ANY = object()


def matches(expected: Any, actual: Any) -> bool:
    if expected is ANY:
        return True
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and matches(value, actual[key]) for key, value in expected.items()
        )
    return bool(expected == actual)


def assert_history(service: LocalService, arn: str, expected: list[dict[str, Any]]) -> None:
    check_event_ids(service, arn)
    actual = [to_builtins(e) for e in service.get_history(arn)]
    assert [e["EventType"] for e in actual] == [e["EventType"] for e in expected]
    for want, got in zip(expected, actual, strict=True):
        assert matches(want, got), f"expected {want}\n     got {got}"
        assert isinstance(got["EventTimestamp"], int)


def ev(kind: str, **fields: Any) -> dict[str, Any]:
    return {"EventType": kind, **fields}


ERR = ErrorObject(error_type="ValueError", error_message="boom")


def _up(
    n: int,
    type_: OperationType,
    action: OperationAction,
    parent: str | None = None,
    **kwargs: Any,
) -> OperationUpdate:
    return OperationUpdate(id=oid(n, parent), type=type_, action=action, parent_id=parent, **kwargs)


def up_step(
    n: int, action: OperationAction, parent: str | None = None, **kwargs: Any
) -> OperationUpdate:
    if action == "START":
        kwargs.setdefault("sub_type", "Step")
    return _up(n, "STEP", action, parent, **kwargs)


def test_one_step(svc: LocalService) -> None:
    def body(inv: Inv) -> InvocationOutput:
        inv.cp(
            up_step(1, "START", name="greet"),
            up_step(1, "SUCCEED", payload='"Hello, World!"'),
        )
        return succeeded('"Hello, World!"')

    arn = Script(svc, "wf", body).start('"World"', execution_name="one-step")
    svc.run(arn)
    execution_id = arn.rsplit("/", 1)[1]
    assert_history(
        svc,
        arn,
        [
            ev(
                "ExecutionStarted",
                EventId=1,
                Id=execution_id,
                Name="one-step",
                ExecutionStartedDetails={"Input": {"Payload": '"World"', "Truncated": False}},
            ),
            ev(
                "StepStarted",
                EventId=2,
                Id=oid(1),
                Name="greet",
                SubType="Step",
                StepStartedDetails={},
            ),
            ev(
                "StepSucceeded",
                EventId=3,
                Id=oid(1),
                SubType="Step",
                StepSucceededDetails={
                    "Result": {"Payload": '"Hello, World!"', "Truncated": False},
                    "RetryDetails": {"CurrentAttempt": 1},
                },
            ),
            ev(
                "InvocationCompleted",
                EventId=4,
                InvocationCompletedDetails={
                    "StartTimestamp": ANY,
                    "EndTimestamp": ANY,
                    "RequestId": ANY,
                },
            ),
            ev(
                "ExecutionSucceeded",
                EventId=5,
                ExecutionSucceededDetails={
                    "Result": {"Payload": '"Hello, World!"', "Truncated": False}
                },
            ),
        ],
    )
    invocation = svc.get_history(arn)[3]
    assert invocation.id is None and invocation.sub_type is None
    assert "Error" not in (invocation.invocation_completed_details or {})


def test_at_most_once_step_crashes_then_retries(svc: LocalService) -> None:
    # step/1-18: StepStarted, crash, StepFailed (retry), StepStarted, StepSucceeded (attempt 2).
    def body(inv: Inv) -> InvocationOutput | None:
        step = inv.op(1)
        if step is None:
            inv.cp(up_step(1, "START"))
            raise SystemExit(137)
        if step.status == "STARTED":
            inv.cp(
                up_step(
                    1,
                    "RETRY",
                    error=ErrorObject(
                        error_type="StepInterruptedError", error_message="interrupted"
                    ),
                    step_options=StepOptions(next_attempt_delay_seconds=1),
                )
            )
            return None
        inv.cp(up_step(1, "START"), up_step(1, "SUCCEED", payload='"succeeded on second attempt"'))
        return succeeded('"succeeded on second attempt"')

    arn = Script(svc, "wf", body).start()
    assert svc.run(arn).status == "SUCCEEDED"
    assert_history(
        svc,
        arn,
        [
            ev("ExecutionStarted", EventId=1),
            ev("StepStarted", EventId=2, Id=oid(1), SubType="Step", StepStartedDetails={}),
            ev(
                "InvocationCompleted",
                EventId=3,
                InvocationCompletedDetails={
                    "Error": {"Payload": {"ErrorMessage": ANY, "ErrorType": "Runtime.ExitError"}}
                },
            ),
            ev(
                "StepFailed",
                EventId=4,
                Id=oid(1),
                StepFailedDetails={
                    "Error": {"Payload": {"ErrorMessage": "interrupted", "ErrorType": ANY}},
                    "RetryDetails": {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 1},
                },
            ),
            ev("InvocationCompleted", EventId=5),
            ev("StepStarted", EventId=6, Id=oid(1)),
            ev(
                "StepSucceeded",
                EventId=7,
                StepSucceededDetails={
                    "Result": {"Payload": '"succeeded on second attempt"', "Truncated": False},
                    "RetryDetails": {"CurrentAttempt": 2},
                },
            ),
            ev("InvocationCompleted", EventId=8),
            ev("ExecutionSucceeded", EventId=9),
        ],
    )


def test_wait(svc: LocalService) -> None:
    # wait/2-1.
    def body(inv: Inv) -> InvocationOutput | None:
        if inv.op(1) is None:
            inv.cp(
                _up(1, "WAIT", "START", sub_type="Wait", wait_options=WaitOptions(wait_seconds=2))
            )
            return None
        return succeeded()

    arn = Script(svc, "wf", body).start()
    svc.run(arn)
    assert_history(
        svc,
        arn,
        [
            ev("ExecutionStarted", EventId=1),
            ev(
                "WaitStarted",
                EventId=2,
                SubType="Wait",
                Id=oid(1),
                WaitStartedDetails={
                    "Duration": 2,
                    "ScheduledEndTimestamp": ANY,
                },
            ),
            ev("InvocationCompleted", EventId=3),
            ev(
                "WaitSucceeded",
                EventId=4,
                SubType="Wait",
                Id=oid(1),
                WaitSucceededDetails={"Duration": 2},
            ),
            ev("InvocationCompleted", EventId=5),
            ev("ExecutionSucceeded", EventId=6),
        ],
    )


def test_callback_times_out_while_a_wait_runs(svc: LocalService) -> None:
    # callback: a 3 s callback timeout, then a 6 s wait, then await the callback.
    def body(inv: Inv) -> InvocationOutput | None:
        if inv.op(1) is None:
            inv.cp(
                _up(
                    1,
                    "CALLBACK",
                    "START",
                    sub_type="Callback",
                    callback_options=CallbackOptions(timeout_seconds=3),
                ),
                _up(2, "WAIT", "START", sub_type="Wait", wait_options=WaitOptions(wait_seconds=6)),
            )
            return None
        if inv.ops[oid(2)].status != "SUCCEEDED":
            return None
        cb = inv.ops[oid(1)]
        assert cb.callback_details is not None
        return InvocationOutput(status="FAILED", error=cb.callback_details.error)

    arn = Script(svc, "wf", body).start()
    svc.run(arn)
    assert_history(
        svc,
        arn,
        [
            ev("ExecutionStarted", EventId=1),
            ev(
                "CallbackStarted",
                EventId=2,
                CallbackStartedDetails={"CallbackId": ANY, "Timeout": 3},
            ),
            ev("WaitStarted", EventId=3),
            ev("InvocationCompleted", EventId=4),
            ev(
                "CallbackTimedOut",
                EventId=5,
                SubType="Callback",
                CallbackTimedOutDetails={
                    "Error": {"Payload": {"ErrorType": "Callback.Timeout"}},
                },
            ),
            ev("InvocationCompleted", EventId=6),
            ev("WaitSucceeded", EventId=7),
            ev("InvocationCompleted", EventId=8),
            ev(
                "ExecutionFailed",
                EventId=9,
                ExecutionFailedDetails={
                    "Error": {"Payload": {"ErrorType": "Callback.Timeout"}},
                },
            ),
        ],
    )


def test_wait_for_callback_heartbeat_timeout(svc: LocalService) -> None:
    # wait_for_callback/7-12: a context holding the callback and the submitter step.
    ctx = oid(1)

    def body(inv: Inv) -> InvocationOutput | None:
        if inv.op(1) is None:
            inv.cp(
                _up(1, "CONTEXT", "START", sub_type="WaitForCallback", name="approval"),
                _up(
                    1,
                    "CALLBACK",
                    "START",
                    ctx,
                    sub_type="Callback",
                    callback_options=CallbackOptions(heartbeat_timeout_seconds=5),
                ),
            )
            inv.cp(up_step(2, "START", ctx), up_step(2, "SUCCEED", ctx))
            return None
        cb = inv.ops[oid(1, ctx)]
        assert cb.status == "TIMED_OUT" and cb.callback_details is not None
        error = cb.callback_details.error
        inv.cp(_up(1, "CONTEXT", "FAIL", error=error))
        return InvocationOutput(status="FAILED", error=error)

    arn = Script(svc, "wf", body).start()
    svc.run(arn)
    assert_history(
        svc,
        arn,
        [
            ev("ExecutionStarted", EventId=1),
            ev(
                "ContextStarted",
                EventId=2,
                SubType="WaitForCallback",
                Id=ctx,
                Name="approval",
                ContextStartedDetails={},
            ),
            ev(
                "CallbackStarted",
                EventId=3,
                SubType="Callback",
                Id=oid(1, ctx),
                ParentId=ctx,
                CallbackStartedDetails={"CallbackId": ANY, "HeartbeatTimeout": 5},
            ),
            ev("StepStarted", EventId=4, ParentId=ctx),
            ev("StepSucceeded", EventId=5, ParentId=ctx),
            ev("InvocationCompleted", EventId=6),
            ev(
                "CallbackTimedOut",
                EventId=7,
                ParentId=ctx,
                CallbackTimedOutDetails={
                    "Error": {"Payload": {"ErrorType": "Callback.Heartbeat"}},
                },
            ),
            ev(
                "ContextFailed",
                EventId=8,
                SubType="WaitForCallback",
                Name="approval",
                ContextFailedDetails={"Error": {"Payload": {"ErrorType": "Callback.Heartbeat"}}},
            ),
            ev("InvocationCompleted", EventId=9),
            ev("ExecutionFailed", EventId=10),
        ],
    )


def test_wait_for_condition_polls(svc: LocalService, clock: VirtualClock) -> None:
    # wait_for_condition/6-1: the state rides on RETRY payloads; each poll is StepSucceeded.
    def body(inv: Inv) -> InvocationOutput | None:
        step = inv.op(1)
        state = 0
        if step is not None:
            assert step.status == "READY" and step.step_details is not None
            state = int(step.step_details.result or "0")
        state += 1
        inv.cp(up_step(1, "START", sub_type="WaitForCondition"))
        if state < 3:
            inv.cp(
                up_step(
                    1,
                    "RETRY",
                    payload=str(state),
                    step_options=StepOptions(next_attempt_delay_seconds=2),
                )
            )
            return None
        inv.cp(up_step(1, "SUCCEED", payload=str(state)))
        return succeeded(str(state))

    arn = Script(svc, "wf", body).start("3")
    assert svc.run(arn).result == "3"
    poll = {"SubType": "WaitForCondition", "Id": oid(1)}
    assert_history(
        svc,
        arn,
        [
            ev("ExecutionStarted", EventId=1),
            ev("StepStarted", EventId=2, **poll),
            ev(
                "StepSucceeded",
                EventId=3,
                **poll,
                StepSucceededDetails={
                    "Result": {"Payload": "1"},
                    "RetryDetails": {"NextAttemptDelaySeconds": 2},
                },
            ),
            ev("InvocationCompleted", EventId=4),
            ev("StepStarted", EventId=5, **poll),
            ev(
                "StepSucceeded",
                EventId=6,
                **poll,
                StepSucceededDetails={"Result": {"Payload": "2"}},
            ),
            ev("InvocationCompleted", EventId=7),
            ev("StepStarted", EventId=8, **poll),
            ev(
                "StepSucceeded",
                EventId=9,
                **poll,
                StepSucceededDetails={
                    "Result": {"Payload": "3"},
                    "RetryDetails": {"CurrentAttempt": 3},
                },
            ),
            ev("InvocationCompleted", EventId=10),
            ev(
                "ExecutionSucceeded",
                EventId=11,
                ExecutionSucceededDetails={"Result": {"Payload": "3"}},
            ),
        ],
    )


def test_invoke_inside_a_child_context(svc: LocalService) -> None:
    # invoke/5-13.
    ctx = oid(1)
    svc.register("echo", lambda payload: payload, durable=False)

    def body(inv: Inv) -> InvocationOutput | None:
        if inv.op(1) is None:
            inv.cp(
                _up(1, "CONTEXT", "START", sub_type="RunInChildContext"),
                _up(
                    1,
                    "CHAINED_INVOKE",
                    "START",
                    ctx,
                    payload='"p"',
                    chained_invoke_options=ChainedInvokeOptions(function_name="echo"),
                ),
            )
            return None
        invoke = inv.ops[oid(1, ctx)]
        assert invoke.chained_invoke_details is not None
        result = invoke.chained_invoke_details.result
        inv.cp(_up(1, "CONTEXT", "SUCCEED", payload=result))
        return succeeded(result)

    arn = Script(svc, "wf", body).start()
    svc.run(arn)
    assert_history(
        svc,
        arn,
        [
            ev("ExecutionStarted", EventId=1),
            ev("ContextStarted", EventId=2, Id=ctx, ContextStartedDetails={}),
            ev(
                "ChainedInvokeStarted",
                EventId=3,
                Id=oid(1, ctx),
                ParentId=ctx,
                ChainedInvokeStartedDetails={
                    "FunctionName": "echo",
                    "Input": {"Payload": '"p"'},
                    "ExecutedVersion": ANY,
                },
            ),
            ev("InvocationCompleted", EventId=4),
            ev(
                "ChainedInvokeSucceeded",
                EventId=5,
                ParentId=ctx,
                ChainedInvokeSucceededDetails={"Result": {"Payload": '"p"'}},
            ),
            ev("ContextSucceeded", EventId=6, Id=ctx, ContextSucceededDetails={"Result": ANY}),
            ev("InvocationCompleted", EventId=7),
            ev("ExecutionSucceeded", EventId=8),
        ],
    )


def test_child_context_with_retries_fails(svc: LocalService) -> None:
    # child/3-8: the last StepFailed has no NextAttemptDelaySeconds.
    ctx = oid(1)

    def body(inv: Inv) -> InvocationOutput | None:
        step = inv.op(1, ctx)
        if step is None:
            inv.cp(
                _up(1, "CONTEXT", "START", sub_type="RunInChildContext", name="child"),
                up_step(1, "START", ctx),
                up_step(
                    1,
                    "RETRY",
                    ctx,
                    error=ERR,
                    step_options=StepOptions(next_attempt_delay_seconds=1),
                ),
            )
            return None
        inv.cp(up_step(1, "START", ctx), up_step(1, "FAIL", ctx, error=ERR))
        inv.cp(_up(1, "CONTEXT", "FAIL", error=ERR))
        return InvocationOutput(status="FAILED", error=ERR)

    arn = Script(svc, "wf", body).start()
    svc.run(arn)
    failed_events = [e for e in svc.get_history(arn) if e.event_type == "StepFailed"]
    assert [
        e.step_failed_details["RetryDetails"] for e in failed_events if e.step_failed_details
    ] == [
        {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 1},
        {"CurrentAttempt": 2},
    ]
    assert [e.event_type for e in svc.get_history(arn)][-4:] == [
        "StepFailed",
        "ContextFailed",
        "InvocationCompleted",
        "ExecutionFailed",
    ]


def test_durable_child_histories_are_separate(svc: LocalService) -> None:
    def child(inv: Inv) -> InvocationOutput:
        inv.cp(up_step(1, "START"), up_step(1, "SUCCEED", payload="7"))
        return succeeded("7")

    Script(svc, "child", child)

    def parent(inv: Inv) -> InvocationOutput | None:
        if inv.op(1) is None:
            inv.cp(
                _up(
                    1,
                    "CHAINED_INVOKE",
                    "START",
                    chained_invoke_options=ChainedInvokeOptions(function_name="child"),
                )
            )
            return None
        return succeeded("7")

    arn = Script(svc, "parent", parent).start()
    svc.run(arn)
    (child_record,) = [r for r in svc.list_executions() if r.parent_arn == arn]
    assert_history(
        svc,
        child_record.arn,
        [
            ev("ExecutionStarted", EventId=1),
            ev("StepStarted", EventId=2),
            ev("StepSucceeded", EventId=3),
            ev("InvocationCompleted", EventId=4),
            ev("ExecutionSucceeded", EventId=5),
        ],
    )
    assert_history(
        svc,
        arn,
        [
            ev("ExecutionStarted", EventId=1),
            ev(
                "ChainedInvokeStarted",
                EventId=2,
                ChainedInvokeStartedDetails={
                    "DurableExecutionArn": child_record.arn,
                },
            ),
            ev("InvocationCompleted", EventId=3),
            ev(
                "ChainedInvokeSucceeded",
                EventId=4,
                ChainedInvokeSucceededDetails={"Result": {"Payload": "7"}},
            ),
            ev("InvocationCompleted", EventId=5),
            ev("ExecutionSucceeded", EventId=6),
        ],
    )
