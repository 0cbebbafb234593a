"""Validate the emulator harness with handlers written with AWS's own SDK.

These tests exercise the harness (``emulator.py``), not durable_gen: the
handlers use ``aws_durable_execution_sdk_python`` and are skipped when that
package is not importable. They also pin down how the emulator behaves
(invocation input, PENDING, timers, callbacks, crashes, paging, history), so
a change in the emulator shows up here first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

try:
    from .emulator import CrashInvocation, Emulator, LambdaEndpoint
except ImportError:
    from emulator import CrashInvocation, Emulator, LambdaEndpoint  # type: ignore[no-redef]


@pytest.fixture
def sdk() -> SimpleNamespace:
    core = pytest.importorskip("aws_durable_execution_sdk_python")
    config = pytest.importorskip("aws_durable_execution_sdk_python.config")
    return SimpleNamespace(
        durable_execution=core.durable_execution,
        Duration=config.Duration,
        CallbackConfig=config.CallbackConfig,
    )


def _by_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["EventType"] == event_type]


# --------------------------------------------------------------------------
# steps, and the shape of what the emulator sends
# --------------------------------------------------------------------------


def test_step_workflow_succeeds(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, sdk: SimpleNamespace
) -> None:
    @sdk.durable_execution(boto3_client=emulator.client)
    def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
        total = context.step(lambda _: event["a"] + event["b"], name="add")
        return {"total": context.step(lambda _: total * 10, name="scale")}

    lambda_endpoint.register(function_name, handler)
    arn = emulator.start(function_name, {"a": 1, "b": 2})
    status, result, error = emulator.wait(arn, timeout=10)

    assert (status, error) == ("SUCCEEDED", None)
    assert result is not None and json.loads(result) == {"total": 30}

    # One invocation: nothing was pending, so the handler finished in one go.
    [invocation] = lambda_endpoint.invocations_for(arn)
    assert invocation.function_name == function_name
    assert invocation.handler_invoke  # X-Dex-Handler-Invoke: true
    assert invocation.headers["X-Amz-Invocation-Type"] == "RequestResponse"
    event = invocation.event
    assert event["DurableExecutionArn"] == arn
    assert isinstance(event["CheckpointToken"], str) and event["CheckpointToken"]
    assert event["InitialExecutionState"]["NextMarker"] == ""
    [execution_op] = event["InitialExecutionState"]["Operations"]
    assert execution_op["Type"] == "EXECUTION"
    assert execution_op["Status"] == "STARTED"
    assert execution_op["Id"] == arn.rsplit("/", 1)[1]
    assert isinstance(execution_op["StartTimestamp"], int)  # epoch milliseconds
    assert abs(execution_op["StartTimestamp"] / 1000 - time.time()) < 60
    assert json.loads(execution_op["ExecutionDetails"]["InputPayload"]) == {"a": 1, "b": 2}
    assert invocation.response == {"Status": "SUCCEEDED", "Result": result}

    described = emulator.describe(arn)
    assert described["Status"] == "SUCCEEDED"
    assert described["Result"] == result
    assert json.loads(described["InputPayload"]) == {"a": 1, "b": 2}


def test_unknown_function_fails_the_execution(emulator: Emulator, function_name: str) -> None:
    arn = emulator.start(f"{function_name}-missing", {})
    outcome = emulator.wait(arn, timeout=10)
    assert outcome.status == "FAILED"
    assert outcome.error is not None
    assert outcome.error["ErrorType"] == "ResourceNotFoundException"


def test_handler_speaking_the_protocol_directly(
    emulator_skip_time: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    """No SDK: the handler reads the event and checkpoints with boto3 itself."""
    emulator = emulator_skip_time
    responses: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
        ops = {op["Id"]: op for op in event["InitialExecutionState"]["Operations"]}
        if "pause" not in ops:
            response = emulator.client.checkpoint_durable_execution(
                DurableExecutionArn=arn,
                CheckpointToken=token,
                Updates=[
                    # The emulator keeps an operation's Name only from its latest
                    # update, so it is repeated on every update.
                    {"Id": "step-1", "Type": "STEP", "Action": "START", "Name": "one"},
                    {
                        "Id": "step-1",
                        "Type": "STEP",
                        "Action": "SUCCEED",
                        "Name": "one",
                        "Payload": '"one-done"',
                    },
                    {
                        "Id": "pause",
                        "Type": "WAIT",
                        "Action": "START",
                        "Name": "pause",
                        "WaitOptions": {"WaitSeconds": 30},
                    },
                ],
            )
            responses.append(response)
            return {"Status": "PENDING"}
        assert ops["pause"]["Status"] == "SUCCEEDED"
        assert event["UpdatedOperationIds"] == ["pause"]
        return {"Status": "SUCCEEDED", "Result": ops["step-1"]["StepDetails"]["Result"]}

    lambda_endpoint.register(function_name, handler)
    arn = emulator.start(function_name, {})
    assert emulator.wait(arn, timeout=10) == ("SUCCEEDED", '"one-done"', None)

    [response] = responses
    assert response["CheckpointToken"]
    returned = {op["Id"]: op for op in response["NewExecutionState"]["Operations"]}
    assert returned["step-1"]["Status"] == "SUCCEEDED"
    assert returned["step-1"]["StepDetails"] == {"Attempt": 1, "Result": '"one-done"'}
    assert returned["pause"]["Status"] == "STARTED"
    scheduled = returned["pause"]["WaitDetails"]["ScheduledEndTimestamp"]
    assert scheduled - returned["pause"]["StartTimestamp"] == timedelta(seconds=30)
    # With --skip-time the wait may complete before this invocation's InvocationCompleted.
    operation_events = [
        (e["EventType"], e.get("Name"))
        for e in emulator.history(arn)
        if e["EventType"] != "InvocationCompleted"
    ]
    assert operation_events[1:5] == [
        ("StepStarted", "one"),
        ("StepSucceeded", "one"),
        ("WaitStarted", "pause"),
        ("WaitSucceeded", "pause"),
    ]


def test_stale_checkpoint_token_is_rejected(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    from botocore.exceptions import ClientError

    errors: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
        emulator.client.checkpoint_durable_execution(
            DurableExecutionArn=arn, CheckpointToken=token, Updates=[]
        )
        try:  # the token was consumed by the checkpoint above
            emulator.client.checkpoint_durable_execution(
                DurableExecutionArn=arn, CheckpointToken=token, Updates=[]
            )
        except ClientError as exc:
            errors.append(
                {
                    "status": exc.response["ResponseMetadata"]["HTTPStatusCode"],
                    **exc.response["Error"],
                }
            )
        return {"Status": "SUCCEEDED", "Result": "null"}

    lambda_endpoint.register(function_name, handler)
    arn = emulator.start(function_name, {})
    assert emulator.wait(arn, timeout=10).status == "SUCCEEDED"
    # The emulator names the error in a "Type" body field, which botocore does
    # not read: the code it reports is the HTTP status, not the exception name.
    assert errors == [{"status": 400, "Code": "400", "Message": "Invalid checkpoint token"}]


# --------------------------------------------------------------------------
# waits: real time by default, skippable with --skip-time
# --------------------------------------------------------------------------


def test_wait_takes_real_time_and_resumes_with_a_new_invocation(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, sdk: SimpleNamespace
) -> None:
    @sdk.durable_execution(boto3_client=emulator.client)
    def handler(event: dict[str, Any], context: Any) -> str:
        context.wait(sdk.Duration.from_seconds(1), name="pause")
        return "done"

    lambda_endpoint.register(function_name, handler)
    started = time.monotonic()
    arn = emulator.start(function_name, {})
    outcome = emulator.wait(arn, timeout=10)
    elapsed = time.monotonic() - started

    assert outcome == ("SUCCEEDED", '"done"', None)
    assert elapsed >= 1.0
    first, second = lambda_endpoint.invocations_for(arn)
    assert first.response == {"Status": "PENDING"}
    assert second.response == {"Status": "SUCCEEDED", "Result": '"done"'}
    # The re-invocation carries the completed wait and names it as updated.
    ops = {op["Type"]: op for op in second.event["InitialExecutionState"]["Operations"]}
    assert ops["WAIT"]["Status"] == "SUCCEEDED"
    assert second.event["UpdatedOperationIds"] == [ops["WAIT"]["Id"]]
    assert isinstance(ops["WAIT"]["WaitDetails"]["ScheduledEndTimestamp"], int)
    assert second.event["CheckpointToken"] != first.event["CheckpointToken"]


def test_wait_is_skipped_with_skip_time(
    emulator_skip_time: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    sdk: SimpleNamespace,
) -> None:
    emulator = emulator_skip_time

    @sdk.durable_execution(boto3_client=emulator.client)
    def handler(event: dict[str, Any], context: Any) -> str:
        context.wait(sdk.Duration.from_hours(1), name="long-pause")
        return "woke"

    lambda_endpoint.register(function_name, handler)
    started = time.monotonic()
    arn = emulator.start(function_name, {})
    outcome = emulator.wait(arn, timeout=10)

    assert outcome.status == "SUCCEEDED"
    assert time.monotonic() - started < 5
    events = emulator.history(arn)
    [wait_started] = _by_type(events, "WaitStarted")
    [wait_done] = _by_type(events, "WaitSucceeded")
    # History keeps the modelled duration; the emulator's clock jumped.
    assert wait_started["WaitStartedDetails"]["Duration"] == 3600
    scheduled = wait_started["WaitStartedDetails"]["ScheduledEndTimestamp"]
    assert scheduled - wait_started["EventTimestamp"] == timedelta(hours=1)
    assert wait_done["EventTimestamp"] >= scheduled


# --------------------------------------------------------------------------
# callbacks
# --------------------------------------------------------------------------


def test_callback_completed_through_boto3(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, sdk: SimpleNamespace
) -> None:
    @sdk.durable_execution(boto3_client=emulator.client)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        callback = context.create_callback(
            name="approval", config=sdk.CallbackConfig(timeout=sdk.Duration.from_seconds(60))
        )
        # Without a serdes the SDK hands back the raw payload string.
        return {"approval": json.loads(callback.result())}

    lambda_endpoint.register(function_name, handler)
    arn = emulator.start(function_name, {})
    callback_id = emulator.callback_id(arn, name="approval", timeout=5)
    emulator.client.send_durable_execution_callback_success(
        CallbackId=callback_id, Result=json.dumps({"approved": True}).encode()
    )
    outcome = emulator.wait(arn, timeout=10)

    assert outcome.status == "SUCCEEDED"
    assert outcome.json() == {"approval": {"approved": True}}
    [succeeded] = _by_type(emulator.history(arn), "CallbackSucceeded")
    assert succeeded["CallbackSucceededDetails"]["Result"]["Payload"] == '{"approved": true}'


def test_callback_failure_fails_the_execution(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, sdk: SimpleNamespace
) -> None:
    @sdk.durable_execution(boto3_client=emulator.client)
    def handler(event: dict[str, Any], context: Any) -> Any:
        return context.create_callback(name="approval").result()

    lambda_endpoint.register(function_name, handler)
    arn = emulator.start(function_name, {})
    emulator.send_callback_failure(
        emulator.callback_id(arn, timeout=5), error_message="rejected", error_type="Rejected"
    )
    outcome = emulator.wait(arn, timeout=10)

    assert outcome.status == "FAILED"
    assert outcome.error is not None and outcome.error["ErrorMessage"] == "rejected"
    [failed] = _by_type(emulator.history(arn), "CallbackFailed")
    assert failed["CallbackFailedDetails"]["Error"]["Payload"]["ErrorType"] == "Rejected"


def test_stop_a_waiting_execution(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, sdk: SimpleNamespace
) -> None:
    @sdk.durable_execution(boto3_client=emulator.client)
    def handler(event: dict[str, Any], context: Any) -> Any:
        return context.create_callback(name="never").result()

    lambda_endpoint.register(function_name, handler)
    arn = emulator.start(function_name, {})
    emulator.callback_id(arn, timeout=5)
    emulator.stop(arn, {"ErrorMessage": "operator stop"})
    outcome = emulator.wait(arn, timeout=10)

    assert outcome.status == "STOPPED"
    assert emulator.event_types(arn)[-1] == "ExecutionStopped"


# --------------------------------------------------------------------------
# history
# --------------------------------------------------------------------------


def test_history_event_types_in_order(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, sdk: SimpleNamespace
) -> None:
    @sdk.durable_execution(boto3_client=emulator.client)
    def handler(event: dict[str, Any], context: Any) -> int:
        first = context.step(lambda _: 2, name="first")
        context.wait(sdk.Duration.from_seconds(1), name="between")
        return int(context.step(lambda _: first + 1, name="second"))

    lambda_endpoint.register(function_name, handler)
    arn = emulator.start(function_name, {"k": "v"})
    assert emulator.wait(arn, timeout=10) == ("SUCCEEDED", "3", None)

    events = emulator.history(arn)
    assert [(e["EventType"], e.get("Name")) for e in events] == [
        ("ExecutionStarted", events[0]["Name"]),
        ("StepStarted", "first"),
        ("StepSucceeded", "first"),
        ("WaitStarted", "between"),
        ("InvocationCompleted", None),
        ("WaitSucceeded", "between"),
        ("StepStarted", "second"),
        ("StepSucceeded", "second"),
        ("InvocationCompleted", None),
        ("ExecutionSucceeded", events[0]["Name"]),
    ]
    assert [e["EventId"] for e in events] == list(range(1, len(events) + 1))
    stamps = [e["EventTimestamp"] for e in events]
    assert stamps == sorted(stamps)
    assert events[0]["ExecutionStartedDetails"]["Input"]["Payload"] == '{"k": "v"}'
    assert events[-1]["ExecutionSucceededDetails"]["Result"]["Payload"] == "3"
    assert events[2]["StepSucceededDetails"]["Result"]["Payload"] == "2"
    assert events[3]["WaitStartedDetails"]["Duration"] == 1
    # Paging through NextMarker gives the same events.
    assert emulator.history(arn, page_size=3) == events


# --------------------------------------------------------------------------
# crashes, retries and paging, on a dedicated emulator with tuned settings
# --------------------------------------------------------------------------


def test_crashed_invocations_are_retried(
    make_emulator: Callable[..., Emulator],
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    sdk: SimpleNamespace,
) -> None:
    emulator = make_emulator(retry_backoff_seconds=0.1)
    calls = {"n": 0}

    @sdk.durable_execution(boto3_client=emulator.client)
    def durable(event: dict[str, Any], context: Any) -> str:
        return str(context.step(lambda _: "stepped", name="work"))

    def handler(event: dict[str, Any], context: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise CrashInvocation()
        return durable(event, context)

    lambda_endpoint.register(function_name, handler)
    arn = emulator.start(function_name, {})
    outcome = emulator.wait(arn, timeout=10)

    assert outcome == ("SUCCEEDED", '"stepped"', None)
    invocations = lambda_endpoint.invocations_for(arn)
    assert [i.function_error for i in invocations] == ["Unhandled", "Unhandled", None]
    assert invocations[0].error is not None
    assert invocations[0].error["errorType"] == "Runtime.ExitError"
    # Every attempt starts from the same durable state.
    assert all(len(i.event["InitialExecutionState"]["Operations"]) == 1 for i in invocations)
    # Only the invocation that returned an output is in the history.
    assert _by_type(emulator.history(arn), "InvocationCompleted").__len__() == 1


def test_failing_invocations_exhaust_the_retry_budget(
    make_emulator: Callable[..., Emulator], lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    emulator = make_emulator(retry_backoff_seconds=0.05)

    def handler(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("handler is broken")

    lambda_endpoint.register(function_name, handler)
    arn = emulator.start(function_name, {})
    outcome = emulator.wait(arn, timeout=10)

    assert outcome.status == "FAILED"
    assert outcome.error is not None
    assert "handler is broken" in outcome.error["ErrorMessage"]
    assert len(lambda_endpoint.invocations_for(arn)) == 5


def test_large_state_arrives_in_pages(
    make_emulator: Callable[..., Emulator],
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    sdk: SimpleNamespace,
) -> None:
    # A one-byte page budget: every page holds a single operation.
    emulator = make_emulator(max_invocation_page_bytes=1, skip_time=True)
    fetched: list[list[dict[str, Any]]] = []

    @sdk.durable_execution(boto3_client=emulator.client)
    def durable(event: dict[str, Any], context: Any) -> int:
        values = [context.step(lambda _, i=i: i, name=f"s{i}") for i in range(3)]
        context.wait(sdk.Duration.from_seconds(5), name="nap")
        return sum(values)

    def handler(event: dict[str, Any], context: Any) -> Any:
        if event["InitialExecutionState"]["NextMarker"]:
            # The rest must be read before the first checkpoint, with this token.
            fetched.append(emulator.state(event["DurableExecutionArn"], event["CheckpointToken"]))
        return durable(event, context)

    lambda_endpoint.register(function_name, handler)
    arn = emulator.start(function_name, {})
    assert emulator.wait(arn, timeout=10) == ("SUCCEEDED", "3", None)

    last = lambda_endpoint.invocations_for(arn)[-1].event["InitialExecutionState"]
    assert len(last["Operations"]) == 1 and last["NextMarker"]
    assert fetched, "the handler never saw a NextMarker"
    assert [op["Type"] for op in fetched[-1]] == ["EXECUTION", "STEP", "STEP", "STEP", "WAIT"]


def test_chained_invokes(
    make_emulator: Callable[..., Emulator],
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    sdk: SimpleNamespace,
) -> None:
    child_name, plain_name = f"{function_name}-child", f"{function_name}-plain"
    emulator = make_emulator(
        skip_time=True,
        function_configs={child_name: {"DurableConfig": {"ExecutionTimeout": 30}}, plain_name: {}},
    )

    @sdk.durable_execution(boto3_client=emulator.client)
    def parent(event: dict[str, Any], context: Any) -> list[Any]:
        return [
            context.invoke(child_name, {"n": 4}, name="to-child"),
            context.invoke(plain_name, {"n": 5}, name="to-plain"),
        ]

    @sdk.durable_execution(boto3_client=emulator.client)
    def child(event: dict[str, Any], context: Any) -> int:
        return int(context.step(lambda _: event["n"] * 10, name="times-ten"))

    def plain(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"echo": event}

    lambda_endpoint.register(function_name, parent)
    lambda_endpoint.register(child_name, child)
    lambda_endpoint.register(plain_name, plain)
    arn = emulator.start(function_name, {})
    outcome = emulator.wait(arn, timeout=10)

    assert outcome.status == "SUCCEEDED"
    assert outcome.json() == [40, {"echo": {"n": 5}}]
    # A durable target runs as its own execution; a plain one is a bare Invoke.
    [child_call] = lambda_endpoint.invocations_of(child_name)
    assert child_call.handler_invoke and child_call.event["DurableExecutionArn"] != arn
    [plain_call] = lambda_endpoint.invocations_of(plain_name)
    assert not plain_call.handler_invoke and plain_call.event == {"n": 5}
    started = _by_type(emulator.history(arn), "ChainedInvokeStarted")
    assert [e["ChainedInvokeStartedDetails"]["FunctionName"] for e in started] == [
        child_name,
        plain_name,
    ]
