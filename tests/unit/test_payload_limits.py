"""Payload limits as Lambda's API sets them: 1 MiB for what an operation records (a step's
result, an Invoke's input, a wait-for-condition state), 6 MiB for the execution's result.

A workflow that runs on the embedded engine must not be refused by the service: the limit is
checked where the value is serialized, the same on every engine, and the workflow can catch it
(a step fails with ``error_type`` PayloadTooLargeError; an Invoke raises PayloadTooLargeError
at its yield)."""

from __future__ import annotations

import pytest

import durable_gen as dg
from durable_gen._wire import MAX_OPERATION_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES


#: A string whose JSON (with its two quotes) is exactly ``n`` bytes.
def text_of(n: int) -> str:
    return "x" * (n - 2)


@dg.step
def produce(n: int) -> str:
    return text_of(n)


@dg.workflow
def step_result(n: int) -> dg.Workflow[object]:
    try:
        value = yield from produce(n)
    except dg.StepFailedError as exc:  # the step failed for good, with the serializer's error
        return {"caught": exc.error_message, "type": exc.error_type}
    return len(value)


def test_a_step_result_of_1_mib_is_recorded() -> None:
    assert dg.run(step_result, MAX_OPERATION_PAYLOAD_BYTES) == MAX_OPERATION_PAYLOAD_BYTES - 2


def test_a_step_result_over_1_mib_is_a_catchable_payload_too_large_error() -> None:
    out = dg.run(step_result, MAX_OPERATION_PAYLOAD_BYTES + 1)
    assert isinstance(out, dict) and out["type"] == "PayloadTooLargeError"
    assert "the result of step 'produce'" in out["caught"]
    assert "1 MiB payload limit" in out["caught"]
    assert "pass a reference" in out["caught"]


def test_a_step_result_over_1_mib_fails_the_execution_when_not_caught() -> None:
    @dg.workflow
    def uncaught(n: int) -> dg.Workflow[int]:
        value = yield from produce(n)
        return len(value)

    with pytest.raises(dg.ExecutionFailedError) as info:
        dg.run(uncaught, MAX_OPERATION_PAYLOAD_BYTES + 1)
    assert info.value.error_type == "PayloadTooLargeError"


def test_an_invoke_input_over_1_mib_is_refused_before_it_is_sent() -> None:
    @dg.workflow
    def caller(n: int) -> dg.Workflow[object]:
        try:
            return (yield dg.Invoke("echo", text_of(n), name="call"))
        except dg.PayloadTooLargeError as exc:
            return {"caught": str(exc)}

    def echo(x: str) -> int:
        return len(x)

    ok = dg.run(caller, MAX_OPERATION_PAYLOAD_BYTES, functions={"echo": echo})
    assert ok == MAX_OPERATION_PAYLOAD_BYTES - 2
    refused = dg.run(caller, MAX_OPERATION_PAYLOAD_BYTES + 1, functions={"echo": echo})
    assert isinstance(refused, dict) and "the Invoke payload" in refused["caught"]


def test_the_workflow_result_may_be_up_to_6_mib() -> None:
    @dg.workflow
    def big(n: int) -> dg.Workflow[int]:
        yield dg.Wait(seconds=1, name="pause")
        return len(text_of(n))  # the result is a number: build the text in a step below

    @dg.workflow
    def big_text(n: int) -> dg.Workflow[str]:
        yield dg.Wait(seconds=1, name="pause")
        return text_of(n)

    assert dg.run(big, MAX_PAYLOAD_BYTES, skip_time=True) == MAX_PAYLOAD_BYTES - 2
    assert len(dg.run(big_text, 2 * MAX_OPERATION_PAYLOAD_BYTES, skip_time=True)) > (
        MAX_OPERATION_PAYLOAD_BYTES
    )
    with pytest.raises(dg.ExecutionFailedError) as info:
        dg.run(big_text, MAX_PAYLOAD_BYTES + 1, skip_time=True)
    assert info.value.error_type == "PayloadTooLargeError"
    assert "6 MiB" in str(info.value)


def durable_target(n: int) -> dg.Workflow[str]:
    return text_of(n)
    yield


def plain_target(n: int) -> str:
    return text_of(n)


@dg.workflow
def invoke_caller(arg: list[object]) -> dg.Workflow[object]:
    name, n = arg
    try:
        value = yield dg.Invoke(str(name), n)
    except dg.InvokeFailedError as exc:
        return {"type": exc.error_type, "message": exc.error_message}
    return len(value)


@pytest.mark.parametrize("target", ["durable", "plain"])
def test_an_invoke_result_is_held_to_1_mib_as_the_service_holds_it(target: str) -> None:
    """The result is recorded on the CHAINED_INVOKE operation: a target returning more fails
    the invoke (a durable target's execution fails with it), as Lambda and AWS's emulator do,
    instead of handing the caller a result the service would never deliver."""
    functions = {"durable": durable_target, "plain": plain_target}
    ok = dg.run(invoke_caller, [target, MAX_OPERATION_PAYLOAD_BYTES], functions=functions)
    assert ok == MAX_OPERATION_PAYLOAD_BYTES - 2
    for n in (MAX_OPERATION_PAYLOAD_BYTES + 1, 2 * MAX_OPERATION_PAYLOAD_BYTES):
        out = dg.run(invoke_caller, [target, n], functions=functions)
        assert isinstance(out, dict) and out["type"] == "PayloadTooLargeError", out
        assert f"result is {n} bytes, over the 1 MiB" in str(out["message"])


def test_a_durable_target_over_1_mib_fails_its_own_execution() -> None:
    from durable_gen.testing import TestRunner

    runner = TestRunner(functions={"durable": durable_target})
    run = runner.run(invoke_caller, ["durable", MAX_OPERATION_PAYLOAD_BYTES + 1])
    runner.run_until_idle()
    assert run.result()["type"] == "PayloadTooLargeError"
    children = [e for e in runner.service.list_executions() if e.arn != run.arn]
    assert [c.status for c in children] == ["FAILED"]
    assert children[0].error is not None
    assert children[0].error.error_type == "PayloadTooLargeError"
