"""LocalService as an engine: timers, callbacks, invokes, crashes, timeouts, stop, scheduling."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pytest

from durable_gen._errors import (
    FunctionNotRegisteredError,
    InvalidCheckpointTokenError,
    InvalidInputError,
    PayloadTooLargeError,
    UnknownCallbackError,
    ValidationError,
)
from durable_gen._wire import (
    CallbackOptions,
    ChainedInvokeOptions,
    ErrorObject,
    InvocationInput,
    InvocationOutput,
    Operation,
    WaitOptions,
)
from durable_gen.local import LocalService, VirtualClock

from .harness import Inv, Script, check_event_ids, oid, succeeded, types_of, up

DAY = 86_400


def callback_id(op: Operation | None) -> str:
    assert op is not None and op.callback_details is not None
    cid = op.callback_details.callback_id
    assert cid is not None
    return cid


def start_callback(inv: Inv, **options: int) -> str:
    reply = inv.cp(
        up(1, "CALLBACK", "START", name="approval", callback_options=CallbackOptions(**options))
    )
    return callback_id(reply.new_execution_state.operations[0])


def await_callback(inv: Inv) -> InvocationOutput | None:
    """A body that waits on callback 1 and returns its outcome."""
    cb = inv.op(1)
    if cb is None:
        start_callback(inv)
        return None
    if cb.status == "STARTED":
        return None
    if cb.status == "SUCCEEDED":
        assert cb.callback_details is not None
        return succeeded(cb.callback_details.result)
    assert cb.callback_details is not None
    return InvocationOutput(status="FAILED", error=cb.callback_details.error)


# --- start, register ---------------------------------------------------------------------------


def test_start_makes_an_arn_and_runs_nothing(svc: LocalService) -> None:
    script = Script(svc, "order-flow", lambda inv: succeeded())
    arn = script.start('{"id":1}', execution_name="order-1", execution_timeout=60)
    prefix = "arn:aws:lambda:us-east-1:000000000000:function:order-flow:$LATEST/durable-execution/"
    assert arn.startswith(prefix + "order-1/")
    assert script.invocations == []
    record = svc.get_execution(arn)
    assert record.status == "RUNNING" and record.name == "order-1" and record.input == '{"id":1}'
    assert record.function_name == "order-flow" and record.execution_timeout == 60
    (execution_op,) = svc.get_operations(arn)
    assert execution_op.type == "EXECUTION" and execution_op.status == "STARTED"
    assert execution_op.execution_details is not None
    assert execution_op.execution_details.input_payload == '{"id":1}'
    (event,) = svc.get_history(arn)
    assert event.event_type == "ExecutionStarted" and event.event_id == 1
    assert event.execution_started_details == {
        "Input": {"Payload": '{"id":1}', "Truncated": False},
        "ExecutionTimeout": 60,
    }


def test_arns_match_the_api_pattern(svc: LocalService) -> None:
    import re

    pattern = (
        r"arn:([a-zA-Z0-9-]+):lambda:([a-zA-Z0-9-]+):(\d{12}):function:([a-zA-Z0-9_-]+):"
        r"(\$LATEST(?:\.PUBLISHED)?|[0-9]+)/durable-execution/([a-zA-Z0-9_-]+)/([a-zA-Z0-9_-]+)"
    )
    Script(svc, "my.module.flow", lambda inv: succeeded())
    arn = svc.start("my.module.flow")
    assert re.fullmatch(pattern, arn)
    assert svc.get_execution(arn).function_name == "my.module.flow"


def test_start_with_the_same_name_is_idempotent(svc: LocalService) -> None:
    script = Script(svc, "wf", lambda inv: succeeded())
    arn = script.start("1", execution_name="once")
    assert script.start("1", execution_name="once") == arn
    with pytest.raises(ValidationError, match="already exists"):
        script.start("2", execution_name="once")
    assert len(svc.list_executions()) == 1


def test_start_checks_its_arguments(svc: LocalService) -> None:
    Script(svc, "wf", lambda inv: succeeded())
    svc.register("plain", lambda payload: payload, durable=False)
    with pytest.raises(FunctionNotRegisteredError, match=r"service.register\('nope'"):
        svc.start("nope")
    with pytest.raises(ValidationError, match="plain function"):
        svc.start("plain")
    with pytest.raises(ValidationError, match="execution_name"):
        svc.start("wf", execution_name="has space")
    for bad in (0, -1, 31_622_401, 1.5, True):
        with pytest.raises(ValidationError, match="execution_timeout"):
            svc.start("wf", execution_timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(PayloadTooLargeError):
        svc.start("wf", "x" * (6 * 1024 * 1024 + 1))
    with pytest.raises(InvalidInputError):
        svc.start("wf", {"not": "json text"})  # type: ignore[arg-type]


def test_an_execution_whose_function_became_plain_fails_saying_so(svc: LocalService) -> None:
    """Registered again as a plain function (a deploy that broke the workflow), the function
    cannot run its execution; the error said no function of that name was registered."""
    script = Script(svc, "wf", lambda inv: succeeded())
    arn = script.start("1")
    svc.register("wf", lambda payload: payload, durable=False)
    record = svc.run(arn)
    assert record.status == "FAILED" and record.error is not None
    assert record.error.error_type == "FunctionNotRegisteredError"
    assert "'wf' is registered as a plain function" in (record.error.error_message or "")


def test_register_checks_its_arguments(svc: LocalService) -> None:
    for bad in ("", "a b", "x" * 257, "a:b", "tab\t"):
        with pytest.raises(ValidationError):
            svc.register(bad, lambda e: succeeded())
    with pytest.raises(ValidationError, match="not callable"):
        svc.register("x", "nope")  # type: ignore[call-overload]


def test_constructor_checks(clock: VirtualClock) -> None:
    with pytest.raises(ValidationError):
        LocalService(page_size=0)
    with pytest.raises(ValidationError):
        LocalService(max_crashes=0)
    with pytest.raises(ValidationError):
        LocalService(account_id="12")
    svc = LocalService(clock=clock, region="eu-west-1", account_id="123456789012")
    Script(svc, "wf", lambda inv: succeeded())
    assert svc.start("wf").startswith("arn:aws:lambda:eu-west-1:123456789012:function:wf:")
    assert svc.clock is clock


# --- timers -------------------------------------------------------------------------------------


def test_a_366_day_wait_finishes_at_once_on_a_virtual_clock(
    svc: LocalService, clock: VirtualClock
) -> None:
    def body(inv: Inv) -> InvocationOutput | None:
        wait = inv.op(1)
        if wait is None:
            inv.cp(up(1, "WAIT", "START", wait_options=WaitOptions(wait_seconds=366 * DAY)))
            return None
        assert wait.status == "SUCCEEDED"
        return succeeded('"later"')

    start = clock.now_ms()
    arn = Script(svc, "wf", body).start()
    record = svc.run(arn)
    assert record.status == "SUCCEEDED" and record.result == '"later"'
    assert clock.now_ms() == start + 366 * DAY * 1000
    assert record.end_timestamp == clock.now_ms()


def test_without_skipping_time_only_moves_when_told(svc: LocalService, clock: VirtualClock) -> None:
    clock.auto_advance = False

    def body(inv: Inv) -> InvocationOutput | None:
        if inv.op(1) is None:
            inv.cp(up(1, "WAIT", "START", wait_options=WaitOptions(wait_seconds=3600)))
            return None
        return succeeded() if inv.ops[oid(1)].status == "SUCCEEDED" else None

    arn = Script(svc, "wf", body).start()
    svc.run_until_idle()
    assert svc.get_execution(arn).status == "RUNNING"
    assert svc.run(arn).status == "RUNNING"
    assert svc.waiting_on(arn) == [f"wait {oid(1)} until 2023-11-14T23:13:20.000+00:00"]
    clock.advance(3599)
    svc.run_until_idle()
    assert svc.get_execution(arn).status == "RUNNING"
    clock.advance(1)
    svc.run_until_idle()
    assert svc.get_execution(arn).status == "SUCCEEDED"


def test_run_until_stops_at_a_time(svc: LocalService, clock: VirtualClock) -> None:
    def body(inv: Inv) -> InvocationOutput | None:
        if inv.op(1) is None:
            inv.cp(up(1, "WAIT", "START", wait_options=WaitOptions(wait_seconds=10 * DAY)))
            return None
        return succeeded()

    arn = Script(svc, "wf", body).start()
    stop_at = clock.now_ms() + DAY * 1000
    record = svc.run(arn, until=stop_at)
    assert record.status == "RUNNING" and clock.now_ms() == stop_at
    assert svc.run(arn).status == "SUCCEEDED"


def test_wait_cancel(svc: LocalService) -> None:
    def body(inv: Inv) -> InvocationOutput:
        inv.cp(up(1, "WAIT", "START", wait_options=WaitOptions(wait_seconds=DAY)))
        inv.cp(up(1, "WAIT", "CANCEL"))
        return succeeded()

    arn = Script(svc, "wf", body).start()
    assert svc.run(arn).status == "SUCCEEDED"
    assert svc.get_operations(arn)[1].status == "CANCELLED"
    assert "WaitCancelled" in types_of(svc, arn)


# --- callbacks ----------------------------------------------------------------------------------


def test_callback_success_sent_from_outside(svc: LocalService) -> None:
    arn = Script(svc, "wf", await_callback).start()
    record = svc.run(arn)
    assert record.status == "RUNNING"  # only the outside can move it on
    (line,) = svc.waiting_on(arn)
    assert line.startswith("callback 'approval' (CallbackId ")
    cid = callback_id(svc.get_operations(arn)[1])
    assert len(cid) == 48 and cid.isalnum()
    svc.send_callback_success(cid, '"approved"')
    record = svc.run(arn)
    assert record.status == "SUCCEEDED" and record.result == '"approved"'
    assert types_of(svc, arn) == [
        "ExecutionStarted",
        "CallbackStarted",
        "InvocationCompleted",
        "CallbackSucceeded",
        "InvocationCompleted",
        "ExecutionSucceeded",
    ]
    with pytest.raises(UnknownCallbackError, match="already ended"):
        svc.send_callback_success(cid, "1")


def test_callback_failure(svc: LocalService) -> None:
    arn = Script(svc, "wf", await_callback).start()
    svc.run(arn)
    cid = callback_id(svc.get_operations(arn)[1])
    error = ErrorObject(error_type="RejectedError", error_message="not approved")
    svc.send_callback_failure(cid, error)
    record = svc.run(arn)
    assert record.status == "FAILED" and record.error == error
    failed = svc.get_history(arn)[3]
    assert failed.event_type == "CallbackFailed"
    assert failed.callback_failed_details == {
        "Error": {
            "Payload": {"ErrorType": "RejectedError", "ErrorMessage": "not approved"},
            "Truncated": False,
        }
    }


def test_a_callback_failure_in_the_apis_dict_shape_is_refused_with_the_import_to_use(
    svc: LocalService,
) -> None:
    arn = Script(svc, "wf", await_callback).start()
    svc.run(arn)
    cid = callback_id(svc.get_operations(arn)[1])
    api_shape = {"ErrorType": "RejectedError", "ErrorMessage": "not approved"}
    with pytest.raises(
        InvalidInputError, match=re.escape("from durable_gen.runtime import ErrorObject")
    ):
        svc.send_callback_failure(cid, api_shape)  # type: ignore[arg-type]
    assert svc.get_execution(arn).status == "RUNNING"


def test_unknown_and_completed_callback_ids(svc: LocalService) -> None:
    sends: list[Callable[[], None]] = [
        lambda: svc.send_callback_success("nope", None),
        lambda: svc.send_callback_failure("nope"),
        lambda: svc.send_callback_heartbeat("nope"),
    ]
    for send in sends:
        with pytest.raises(UnknownCallbackError, match="no callback has the id 'nope'"):
            send()

    def body(inv: Inv) -> InvocationOutput | None:
        cid = start_callback(inv)
        svc.send_callback_success(cid, "1")
        with pytest.raises(UnknownCallbackError, match="already ended \\(SUCCEEDED\\)"):
            svc.send_callback_failure(cid)
        with pytest.raises(UnknownCallbackError, match="heartbeat is only accepted"):
            svc.send_callback_heartbeat(cid)
        return succeeded()

    assert svc.run(Script(svc, "wf", body).start()).status == "SUCCEEDED"


def test_callback_result_checks(svc: LocalService) -> None:
    with pytest.raises(InvalidInputError, match="JSON string"):
        svc.send_callback_success("x", 1)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="at most 1048576 bytes"):
        svc.send_callback_success("x", "x" * (1024 * 1024 + 1))


def test_callback_timeout(svc: LocalService, clock: VirtualClock) -> None:
    def body(inv: Inv) -> InvocationOutput | None:
        if inv.op(1) is None:
            start_callback(inv, timeout_seconds=3600)
            return None
        return await_callback(inv)

    start = clock.now_ms()
    arn = Script(svc, "wf", body).start()
    record = svc.run(arn)
    assert record.status == "FAILED"
    assert record.error is not None and record.error.error_type == "Callback.Timeout"
    assert clock.now_ms() == start + 3_600_000
    assert svc.get_operations(arn)[1].status == "TIMED_OUT"
    timed_out = svc.get_history(arn)[3]
    assert timed_out.event_type == "CallbackTimedOut"
    assert timed_out.callback_timed_out_details is not None
    assert (
        timed_out.callback_timed_out_details["Error"]["Payload"]["ErrorType"] == "Callback.Timeout"
    )


def test_callback_heartbeat_timeout_and_heartbeats(svc: LocalService, clock: VirtualClock) -> None:
    clock.auto_advance = False

    def body(inv: Inv) -> InvocationOutput | None:
        if inv.op(1) is None:
            start_callback(inv, timeout_seconds=100, heartbeat_timeout_seconds=10)
            return None
        return await_callback(inv)

    arn = Script(svc, "wf", body).start()
    svc.run_until_idle()
    cid = callback_id(svc.get_operations(arn)[1])
    for _ in range(5):  # heartbeats every 8 s keep it alive past its heartbeat timeout
        clock.advance(8)
        svc.send_callback_heartbeat(cid)
        svc.run_until_idle()
    assert svc.get_execution(arn).status == "RUNNING"
    clock.advance(10)
    svc.run_until_idle()
    record = svc.get_execution(arn)
    assert record.status == "FAILED"
    assert record.error is not None and record.error.error_type == "Callback.Heartbeat"
    # The overall timeout was dropped with it: nothing is left to run.
    assert svc.store.next_task() is None


def test_heartbeat_without_heartbeat_timeout_is_accepted(svc: LocalService) -> None:
    arn = Script(svc, "wf", await_callback).start()
    svc.run(arn)
    cid = callback_id(svc.get_operations(arn)[1])
    svc.send_callback_heartbeat(cid)
    assert svc.store.tasks_for(arn) == []


def test_callback_sent_from_another_thread_during_a_step(svc: LocalService) -> None:
    def body(inv: Inv) -> InvocationOutput | None:
        if inv.op(1) is None:
            cid = start_callback(inv)
            worker = threading.Thread(target=svc.send_callback_success, args=(cid, '"t"'))
            worker.start()
            worker.join()
            return None  # suspends without having looked: the engine re-invokes
        return await_callback(inv)

    script = Script(svc, "wf", body)
    record = svc.run(script.start())
    assert record.status == "SUCCEEDED" and record.result == '"t"'
    assert len(script.invocations) == 2


# --- chained invokes ----------------------------------------------------------------------------


def invoker(
    function_name: str, payload: str | None = '"in"'
) -> Callable[[Inv], InvocationOutput | None]:
    def body(inv: Inv) -> InvocationOutput | None:
        op = inv.op(1)
        if op is None:
            reply = inv.cp(
                up(
                    1,
                    "CHAINED_INVOKE",
                    "START",
                    name="call",
                    payload=payload,
                    chained_invoke_options=ChainedInvokeOptions(function_name=function_name),
                )
            )
            op = reply.new_execution_state.operations[0]
        if op.status == "STARTED":
            return None
        details = op.chained_invoke_details
        assert details is not None
        if op.status == "SUCCEEDED":
            return succeeded(details.result)
        return InvocationOutput(status="FAILED", error=details.error)

    return body


def test_invoke_of_a_plain_function(svc: LocalService) -> None:
    received: list[str | None] = []

    def plain(payload: str | None) -> str | None:
        received.append(payload)
        return '"out"'

    svc.register("plain", plain, durable=False)
    arn = Script(svc, "wf", invoker("plain")).start()
    record = svc.run(arn)
    assert record.status == "SUCCEEDED" and record.result == '"out"'
    assert received == ['"in"']
    history = svc.get_history(arn)
    assert [e.event_type for e in history] == [
        "ExecutionStarted",
        "ChainedInvokeStarted",
        "InvocationCompleted",
        "ChainedInvokeSucceeded",
        "InvocationCompleted",
        "ExecutionSucceeded",
    ]
    started = history[1].chained_invoke_started_details
    assert started is not None and "DurableExecutionArn" not in started
    assert started["FunctionName"] == "plain" and started["Input"]["Payload"] == '"in"'
    assert len(svc.list_executions()) == 1


def test_invoke_of_a_plain_function_that_raises(svc: LocalService) -> None:
    def plain(payload: str | None) -> str | None:
        raise KeyError("missing")

    svc.register("plain", plain, durable=False)
    record = svc.run(Script(svc, "wf", invoker("plain")).start())
    assert record.status == "FAILED"
    assert record.error is not None
    assert record.error.error_type == "KeyError" and record.error.error_message == "'missing'"
    assert record.error.stack_trace


def test_an_interrupted_plain_call_is_made_again_later(svc: LocalService) -> None:
    calls: list[str | None] = []

    def plain(payload: str | None) -> str | None:
        calls.append(payload)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return payload

    svc.register("plain", plain, durable=False)
    arn = Script(svc, "wf", invoker("plain")).start()
    with pytest.raises(KeyboardInterrupt):
        svc.run(arn)
    record = svc.run(arn)
    assert record.status == "SUCCEEDED" and record.result == '"in"'
    assert calls == ['"in"', '"in"']


def test_invoke_of_a_plain_function_returning_a_non_string(svc: LocalService) -> None:
    svc.register("plain", lambda payload: 42, durable=False)  # type: ignore[call-overload]
    record = svc.run(Script(svc, "wf", invoker("plain")).start())
    assert record.error is not None and "JSON string" in (record.error.error_message or "")


def test_invoke_of_a_durable_function_starts_a_child_execution(svc: LocalService) -> None:
    def child(inv: Inv) -> InvocationOutput | None:
        if inv.op(1) is None:
            inv.cp(up(1, "WAIT", "START", wait_options=WaitOptions(wait_seconds=5)))
            return None
        execution = inv.event.initial_execution_state.operations[0]
        assert execution.type == "EXECUTION" and execution.execution_details is not None
        return succeeded(f'"child:{execution.execution_details.input_payload}"')

    Script(svc, "child", child)
    arn = Script(svc, "parent", invoker("child", '"x"')).start()
    record = svc.run(arn)
    assert record.status == "SUCCEEDED"
    assert record.result == '"child:"x""'
    children = [r for r in svc.list_executions() if r.parent_arn == arn]
    assert len(children) == 1 and children[0].status == "SUCCEEDED"
    assert children[0].input == '"x"'
    history = svc.get_history(arn)
    started = history[1].chained_invoke_started_details
    assert started is not None and started["DurableExecutionArn"] == children[0].arn
    assert [e.event_type for e in history][2:4] == ["InvocationCompleted", "ChainedInvokeSucceeded"]
    check_event_ids(svc, children[0].arn)


def test_a_failing_child_fails_the_invoke(svc: LocalService) -> None:
    error = ErrorObject(error_type="Nope", error_message="child failed")
    Script(svc, "child", lambda inv: InvocationOutput(status="FAILED", error=error))
    arn = Script(svc, "parent", invoker("child")).start()
    record = svc.run(arn)
    assert record.status == "FAILED" and record.error == error
    assert svc.get_operations(arn)[1].status == "FAILED"


def test_a_stopped_or_timed_out_child_stops_or_times_out_the_invoke(
    svc: LocalService, clock: VirtualClock
) -> None:
    def child(inv: Inv) -> None:
        if inv.op(1) is None:
            start_callback(inv)

    Script(svc, "child", child)
    arn = Script(svc, "parent", invoker("child")).start()
    assert svc.run(arn).status == "RUNNING"
    (line,) = svc.waiting_on(arn)
    assert line.startswith("invoke 'call' of 'child', whose execution ") and "callback" in line
    child_arn = next(r.arn for r in svc.list_executions() if r.parent_arn == arn)
    svc.stop(child_arn, ErrorObject(error_type="Stop", error_message="enough"))
    record = svc.run(arn)
    assert record.status == "FAILED"
    assert svc.get_operations(arn)[1].status == "STOPPED"
    assert "ChainedInvokeStopped" in types_of(svc, arn)


def test_stopping_a_parent_stops_the_executions_it_invoked(svc: LocalService) -> None:
    def child(inv: Inv) -> None:
        if inv.op(1) is None:
            start_callback(inv)

    Script(svc, "child", child)
    arn = Script(svc, "parent", invoker("child")).start()
    assert svc.run(arn).status == "RUNNING"
    child_arn = next(r.arn for r in svc.list_executions() if r.parent_arn == arn)
    assert svc.stop(arn).status == "STOPPED"
    assert svc.get_execution(child_arn).status == "STOPPED"
    svc.run_until_idle()
    assert svc.get_execution(arn).status == "STOPPED"


def test_invoke_of_an_unregistered_function_fails_the_operation(svc: LocalService) -> None:
    def body(inv: Inv) -> InvocationOutput:
        reply = inv.cp(
            up(
                1,
                "CHAINED_INVOKE",
                "START",
                chained_invoke_options=ChainedInvokeOptions(function_name="ghost"),
            )
        )
        (op,) = reply.new_execution_state.operations
        assert op.status == "FAILED"
        assert op.chained_invoke_details is not None
        error = op.chained_invoke_details.error
        assert error is not None and error.error_type == "FunctionNotRegisteredError"
        assert "service.register('ghost'" in (error.error_message or "")
        return InvocationOutput(status="FAILED", error=error)

    arn = Script(svc, "wf", body).start()
    assert svc.run(arn).status == "FAILED"
    assert types_of(svc, arn)[1:3] == ["ChainedInvokeStarted", "ChainedInvokeFailed"]


def test_a_handler_that_ignores_the_failed_invoke_is_invoked_again(svc: LocalService) -> None:
    def ignore(inv: Inv) -> None:
        inv.cp(
            up(
                1,
                "CHAINED_INVOKE",
                "START",
                chained_invoke_options=ChainedInvokeOptions(function_name="ghost"),
            )
        )

    script = Script(svc, "wf", ignore, invoker("ghost"))
    record = svc.run(script.start())
    assert len(script.invocations) == 2
    assert record.status == "FAILED"
    assert record.error is not None and record.error.error_type == "FunctionNotRegisteredError"


# --- invocation outcomes, crashes ---------------------------------------------------------------


def test_a_crashed_invocation_is_recorded_and_reinvoked(svc: LocalService) -> None:
    def crash(inv: Inv) -> None:
        inv.cp(up(1, "STEP", "START"))
        raise SystemExit(1)

    def recover(inv: Inv) -> InvocationOutput:
        step = inv.op(1)
        assert step is not None and step.status == "STARTED"
        inv.cp(up(1, "STEP", "SUCCEED", payload='"r"'))
        return succeeded('"r"')

    arn = Script(svc, "wf", crash, recover).start()
    assert svc.run(arn).status == "SUCCEEDED"
    history = svc.get_history(arn)
    assert [e.event_type for e in history] == [
        "ExecutionStarted",
        "StepStarted",
        "InvocationCompleted",
        "StepSucceeded",
        "InvocationCompleted",
        "ExecutionSucceeded",
    ]
    crashed = history[2].invocation_completed_details
    assert crashed is not None and crashed["Error"]["Payload"]["ErrorType"] == "Runtime.ExitError"
    assert "Error" not in (history[4].invocation_completed_details or {})


def test_consecutive_crashes_fail_the_execution(clock: VirtualClock) -> None:
    svc = LocalService(clock=clock, max_crashes=2)

    def crash(inv: Inv) -> None:
        raise RuntimeError("kaput")

    script = Script(svc, "wf", crash)
    record = svc.run(script.start())
    assert record.status == "FAILED"
    assert record.error is not None
    assert record.error.error_type == "RuntimeError" and record.error.error_message == "kaput"
    assert len(script.invocations) == 2


def test_a_clean_invocation_resets_the_crash_count(svc: LocalService) -> None:
    calls = {"n": 0}

    def handler(event: InvocationInput) -> InvocationOutput:
        calls["n"] += 1
        inv = Inv(svc, event)
        n = calls["n"]
        if n in (1, 2, 4, 5):
            raise RuntimeError(f"crash {n}")
        inv.cp(up(n, "WAIT", "START", wait_options=WaitOptions(wait_seconds=1)))
        if n == 6:
            return succeeded()
        return InvocationOutput(status="PENDING")

    svc.register("wf", handler)
    assert svc.run(svc.start("wf")).status == "SUCCEEDED"
    assert calls["n"] == 6


def test_keyboard_interrupt_stops_the_engine_not_the_execution(svc: LocalService) -> None:
    calls = {"n": 0}

    def handler(event: InvocationInput) -> InvocationOutput:
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return succeeded()

    svc.register("wf", handler)
    arn = svc.start("wf")
    with pytest.raises(KeyboardInterrupt):
        svc.run(arn)
    assert svc.get_execution(arn).status == "RUNNING"
    assert svc.run(arn).status == "SUCCEEDED"


def test_pending_with_nothing_pending_fails_clearly(svc: LocalService) -> None:
    script = Script(svc, "wf", lambda inv: None)
    record = svc.run(script.start())
    assert record.status == "FAILED"
    assert record.error is not None and record.error.error_type == "InvalidInvocationOutput"
    assert "nothing to wait for" in (record.error.error_message or "")
    assert len(script.invocations) == 1


def test_pending_with_a_ready_step_and_nothing_written_fails_instead_of_looping(
    svc: LocalService,
) -> None:
    from durable_gen._wire import StepOptions

    def first(inv: Inv) -> None:
        inv.cp(
            up(
                1,
                "STEP",
                "RETRY",
                error=ErrorObject(),
                step_options=StepOptions(next_attempt_delay_seconds=1),
            )
        )

    script = Script(svc, "wf", first, lambda inv: None)
    record = svc.run(script.start())
    assert record.status == "FAILED"
    assert record.error is not None and "READY" in (record.error.error_message or "")


@pytest.mark.parametrize(
    ("output", "match"),
    [
        ("not an output", "not an InvocationOutput"),
        (InvocationOutput(status="SUCCEEDED", error=ErrorObject()), "not an Error"),
        (InvocationOutput(status="FAILED", result="1"), "not a Result"),
        (
            InvocationOutput(status="SUCCEEDED", result="x" * (6 * 1024 * 1024 + 1)),
            "EXECUTION SUCCEED",
        ),
    ],
)
def test_invalid_outputs_fail_the_execution(svc: LocalService, output: object, match: str) -> None:
    svc.register("wf", lambda event: output)  # type: ignore[arg-type,return-value]
    record = svc.run(svc.start("wf"))
    assert record.status == "FAILED"
    assert record.error is not None and record.error.error_type == "InvalidInvocationOutput"
    assert match in (record.error.error_message or "")


def test_failed_output_without_an_error(svc: LocalService) -> None:
    svc.register("wf", lambda event: InvocationOutput(status="FAILED"))
    record = svc.run(svc.start("wf"))
    assert record.status == "FAILED" and record.error is not None


# --- stop, timeout ------------------------------------------------------------------------------


def test_stop(svc: LocalService) -> None:
    arn = Script(svc, "wf", await_callback).start()
    svc.run(arn)
    cid = callback_id(svc.get_operations(arn)[1])
    record = svc.stop(arn)
    assert record.status == "STOPPED"
    assert record.error is not None and record.error.error_type == "Execution.Stopped"
    assert svc.get_operations(arn)[0].status == "STOPPED"
    assert types_of(svc, arn)[-1] == "ExecutionStopped"
    assert svc.stop(arn) == record  # stopping again does nothing
    with pytest.raises(UnknownCallbackError, match="already ended \\(STOPPED\\)"):
        svc.send_callback_success(cid)
    assert svc.store.tasks_for(arn) == []


def test_stop_during_an_invocation(svc: LocalService) -> None:
    def body(inv: Inv) -> InvocationOutput:
        inv.cp(up(1, "STEP", "START"))
        svc.stop(inv.arn)
        with pytest.raises(Exception, match="already ended"):
            inv.cp(up(1, "STEP", "SUCCEED"))
        return succeeded()

    arn = Script(svc, "wf", body).start()
    assert svc.run(arn).status == "STOPPED"
    assert types_of(svc, arn)[-2:] == ["ExecutionStopped", "InvocationCompleted"]


def test_execution_timeout(svc: LocalService, clock: VirtualClock) -> None:
    def body(inv: Inv) -> None:
        if inv.op(1) is None:
            inv.cp(up(1, "WAIT", "START", wait_options=WaitOptions(wait_seconds=DAY)))

    start = clock.now_ms()
    arn = Script(svc, "wf", body).start(execution_timeout=3600)
    record = svc.run(arn)
    assert record.status == "TIMED_OUT"
    assert record.error is not None and record.error.error_type == "Execution.Timeout"
    assert record.end_timestamp == start + 3_600_000
    assert types_of(svc, arn)[-1] == "ExecutionTimedOut"
    assert svc.get_operations(arn)[0].status == "TIMED_OUT"


def test_execution_timeout_during_an_invocation(svc: LocalService, clock: VirtualClock) -> None:
    def body(inv: Inv) -> InvocationOutput:
        inv.cp(up(1, "STEP", "START"))
        clock.advance(61)  # a slow step
        with pytest.raises(InvalidCheckpointTokenError, match="already ended \\(TIMED_OUT\\)"):
            inv.cp(up(1, "STEP", "SUCCEED"))
        return succeeded()

    arn = Script(svc, "wf", body).start(execution_timeout=60)
    assert svc.run(arn).status == "TIMED_OUT"
    assert types_of(svc, arn)[-2:] == ["ExecutionTimedOut", "InvocationCompleted"]


def test_execution_timeout_does_not_count_as_progress(
    svc: LocalService, clock: VirtualClock
) -> None:
    arn = Script(svc, "wf", await_callback).start(execution_timeout=3600)
    start = clock.now_ms()
    assert svc.run(arn).status == "RUNNING"  # returns early: it waits on a callback
    assert clock.now_ms() == start
    svc.run_until_idle()  # the engine as a whole runs until its last timer
    assert svc.get_execution(arn).status == "TIMED_OUT"


# --- listing ------------------------------------------------------------------------------------


def test_list_executions(svc: LocalService) -> None:
    Script(svc, "ok", lambda inv: succeeded())
    Script(svc, "bad", lambda inv: InvocationOutput(status="FAILED", error=ErrorObject()))
    a, b, c = svc.start("ok"), svc.start("bad"), svc.start("ok")
    assert [r.arn for r in svc.list_executions()] == [a, b, c]
    assert [r.arn for r in svc.list_executions("RUNNING")] == [a, b, c]
    svc.run_until_idle()
    assert [r.arn for r in svc.list_executions("SUCCEEDED")] == [a, c]
    assert [r.arn for r in svc.list_executions("FAILED")] == [b]
    assert all(r.is_terminal for r in svc.list_executions())
