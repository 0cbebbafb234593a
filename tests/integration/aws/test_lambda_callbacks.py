"""Callbacks of durable_gen workflows on the emulator, completed through boto3 the way another
service would: success, failure, timeout, heartbeats, and ``WaitForCallback``. Callback
timeouts are real time in the emulator, so they are kept to a second or two."""

from __future__ import annotations

import json
import queue
import time
from typing import Any

import pytest

import durable_gen as dg

try:
    from .emulator import Emulator, LambdaEndpoint
    from .lambda_support import by_type, deploy, op_events, operation_id, without_invocations
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]
    from lambda_support import (  # type: ignore[no-redef]
        by_type,
        deploy,
        op_events,
        operation_id,
        without_invocations,
    )


def approval_flow(timeout: int | None = 30, heartbeat_timeout: int | None = None) -> Any:
    """A workflow that asks for an approval and reports what came back."""
    sent: queue.Queue[str] = queue.Queue()

    def notify(callback_id: str) -> str:
        sent.put(callback_id)
        return "notified"

    def workflow(payload: dict[str, str]) -> Any:
        handle = yield dg.CreateCallback(
            name="approval", timeout=timeout, heartbeat_timeout=heartbeat_timeout
        )
        yield dg.Step(notify, (handle.callback_id,), name="notify")
        try:
            answer = yield handle
        except dg.CallbackTimeoutError as exc:
            return {"timed_out": exc.error_type}
        except dg.CallbackFailedError as exc:
            return {"failed": [exc.error_type, exc.error_message, exc.error_data]}
        return {"order": payload["order"], "answer": answer}

    return workflow, sent


def test_a_callback_completed_by_another_service(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    workflow, sent = approval_flow()
    deploy(emulator, lambda_endpoint, function_name, workflow)
    arn = emulator.start(function_name, {"order": "o-1"})
    callback_id = sent.get(timeout=5)
    assert emulator.callback_id(arn, name="approval") == callback_id

    emulator.client.send_durable_execution_callback_success(
        CallbackId=callback_id, Result=json.dumps({"approved": True, "by": "ada"}).encode()
    )
    outcome = emulator.wait(arn)
    assert outcome.json() == {"order": "o-1", "answer": {"approved": True, "by": "ada"}}

    events = emulator.history(arn)
    assert op_events(events) == [
        ("CallbackStarted", "approval", "Callback"),
        ("StepStarted", "notify", "Step"),
        ("StepSucceeded", "notify", "Step"),
        ("CallbackSucceeded", "approval", "Callback"),
    ]
    [started] = by_type(events, "CallbackStarted")
    assert started["Id"] == operation_id(None, 1)
    assert started["CallbackStartedDetails"]["CallbackId"] == callback_id
    # The first invocation suspends after the callback is created; the answer resumes it.
    first, second = lambda_endpoint.invocations_for(arn)
    assert first.response == {"Status": "PENDING"}
    [callback] = [
        op for op in second.event["InitialExecutionState"]["Operations"] if op["Type"] == "CALLBACK"
    ]
    assert callback["Status"] == "SUCCEEDED"
    assert callback["CallbackDetails"]["Result"] == '{"approved": true, "by": "ada"}'


def test_a_callback_failure_is_raised_into_the_workflow(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    workflow, sent = approval_flow()
    deploy(emulator, lambda_endpoint, function_name, workflow)
    arn = emulator.start(function_name, {"order": "o-2"})
    emulator.client.send_durable_execution_callback_failure(
        CallbackId=sent.get(timeout=5),
        Error={"ErrorType": "Rejected", "ErrorMessage": "over budget", "ErrorData": '{"limit":5}'},
    )
    outcome = emulator.wait(arn)
    assert outcome.json() == {"failed": ["Rejected", "over budget", '{"limit":5}']}
    [failed] = by_type(emulator.history(arn), "CallbackFailed")
    assert failed["Name"] == "approval"
    assert failed["CallbackFailedDetails"]["Error"]["Payload"]["ErrorType"] == "Rejected"


def test_a_callback_times_out(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    workflow, _ = approval_flow(timeout=1)
    deploy(emulator, lambda_endpoint, function_name, workflow)
    began = time.monotonic()
    arn = emulator.start(function_name, {"order": "o-3"})
    outcome = emulator.wait(arn)
    assert time.monotonic() - began >= 1.0
    assert outcome.json() == {"timed_out": "Callback.Timeout"}
    assert [t for t, _, _ in op_events(emulator.history(arn))][-1] == "CallbackTimedOut"


def test_heartbeats_keep_a_callback_alive(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    workflow, sent = approval_flow(timeout=20, heartbeat_timeout=1)
    deploy(emulator, lambda_endpoint, function_name, workflow)
    arn = emulator.start(function_name, {"order": "o-4"})
    callback_id = sent.get(timeout=5)
    began = time.monotonic()
    while time.monotonic() - began < 1.8:  # well past one heartbeat timeout
        emulator.client.send_durable_execution_callback_heartbeat(CallbackId=callback_id)
        time.sleep(0.3)
    emulator.client.send_durable_execution_callback_success(CallbackId=callback_id, Result=b'"ok"')
    assert emulator.wait(arn).json() == {"order": "o-4", "answer": "ok"}


def test_a_missed_heartbeat_times_the_callback_out(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    workflow, _ = approval_flow(timeout=20, heartbeat_timeout=1)
    deploy(emulator, lambda_endpoint, function_name, workflow)
    arn = emulator.start(function_name, {"order": "o-5"})
    outcome = emulator.wait(arn)
    assert outcome.status == "SUCCEEDED"
    assert outcome.json()["timed_out"].startswith("Callback.")
    [timed_out] = by_type(emulator.history(arn), "CallbackTimedOut")
    assert timed_out["Name"] == "approval"


def test_wait_for_callback_groups_its_operations_in_a_context(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    inbox: queue.Queue[tuple[str, str]] = queue.Queue()

    def ask_manager(callback_id: str) -> None:
        inbox.put(("manager@example.com", callback_id))

    def expense(payload: dict[str, int]) -> Any:
        decision = yield dg.WaitForCallback(ask_manager, name="manager-approval", timeout=30)
        return {"amount": payload["amount"], "decision": decision}

    deploy(emulator, lambda_endpoint, function_name, expense)
    arn = emulator.start(function_name, {"amount": 120})
    to, callback_id = inbox.get(timeout=5)
    assert to == "manager@example.com"
    # Answer once the invocation that handed the id out has ended, so the history has one order.
    assert emulator.callback_id(arn, name=None) == callback_id
    emulator.send_callback_success(callback_id, json.dumps("approved"))
    assert emulator.wait(arn).json() == {"amount": 120, "decision": "approved"}

    ctx = operation_id(None, 1)
    events = without_invocations(emulator.history(arn))[1:-1]
    assert [(e["EventType"], e.get("SubType"), e["Id"], e.get("ParentId")) for e in events] == [
        ("ContextStarted", "WaitForCallback", ctx, None),
        ("CallbackStarted", "Callback", operation_id(ctx, 1), ctx),
        ("StepStarted", "Step", operation_id(ctx, 2), ctx),
        ("StepSucceeded", "Step", operation_id(ctx, 2), ctx),
        ("CallbackSucceeded", "Callback", operation_id(ctx, 1), ctx),
        ("ContextSucceeded", "WaitForCallback", ctx, None),
    ]
    assert events[0]["Name"] == "manager-approval"
    assert events[-1]["ContextSucceededDetails"]["Result"]["Payload"] == '"approved"'


@pytest.mark.parametrize("answer", [b"approved", b""], ids=["not-json", "empty"])
def test_a_callback_answer_that_is_not_json(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, answer: bytes
) -> None:
    workflow, sent = approval_flow()
    deploy(emulator, lambda_endpoint, function_name, workflow)
    arn = emulator.start(function_name, {"order": "o-6"})
    emulator.client.send_durable_execution_callback_success(
        CallbackId=sent.get(timeout=5), Result=answer
    )
    outcome = emulator.wait(arn)
    if answer:
        # The default serdes is JSON: the execution fails, saying so, and is not left waiting.
        assert outcome.status == "FAILED"
        assert outcome.error is not None
        assert outcome.error["ErrorType"] == "SerializationError"
        assert "not valid JSON" in outcome.error["ErrorMessage"]
    else:
        assert outcome.json() == {"order": "o-6", "answer": None}


@pytest.mark.parametrize("command", ["CreateCallback", "WaitForCallback"])
def test_what_a_callback_answer_that_is_not_json_raises_at_the_yield(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, command: str
) -> None:
    sent: queue.Queue[str] = queue.Queue()

    def submit(callback_id: str) -> None:
        sent.put(callback_id)

    def workflow(_: Any) -> Any:
        try:
            if command == "CreateCallback":
                handle = yield dg.CreateCallback(name="approval", timeout=30)
                yield dg.Step(submit, (handle.callback_id,), name="notify")
                return (yield handle)
            return (yield dg.WaitForCallback(submit, name="approval", timeout=30))
        except dg.CallbackError as exc:
            return {"CallbackError": [type(exc).__name__, exc.error_type]}
        except dg.SerializationError as exc:
            return {"SerializationError": "not valid JSON" in str(exc)}

    deploy(emulator, lambda_endpoint, function_name, workflow)
    arn = emulator.start(function_name, {})
    emulator.client.send_durable_execution_callback_success(
        CallbackId=sent.get(timeout=5), Result=b"yes"
    )
    outcome = emulator.wait(arn)
    # As docs/lambda.md says: the handle raises SerializationError, a WaitForCallback's context
    # fails with it and raises CallbackFailedError of that type.
    expected = (
        {"SerializationError": True}
        if command == "CreateCallback"
        else {"CallbackError": ["CallbackFailedError", "SerializationError"]}
    )
    assert outcome.json() == expected
