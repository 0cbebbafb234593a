"""Handlers of the ``invoke`` requirements (5-x): ``dg.Invoke``, and the functions invoked."""

from __future__ import annotations

import json
from typing import Any

import durable_gen as dg

from ._support import UppercaseSerdes

ECHO = "conformance-echo"
FAILING = "conformance-failing"
MEASURE = "conformance-measure"

#: "near the payload limit": the service takes a CHAINED_INVOKE input of at most 1 MiB (AWS's
#: emulator refuses more), so 1 KiB under it.
LARGE_PAYLOAD_CHARS = 1024 * 1024 - 1024


@dg.workflow
def echo(payload: Any):
    """Invoke target: returns its input."""
    return payload
    yield  # a durable function without durable operations


@dg.workflow
def failing(payload: Any):
    """Invoke target: always fails."""
    raise RuntimeError(f"target failed on {payload!r}")
    yield  # a durable function without durable operations


@dg.workflow
def measure(payload: str):
    """Invoke target: reports the size of what it received."""
    return {"receivedChars": len(payload)}
    yield  # a durable function without durable operations


@dg.step
def make_value() -> str:
    return "step value"


@dg.step
def process(value: Any) -> dict[str, Any]:
    return {"processed": value}


@dg.workflow
def invoke_basic(event: Any):  # 5-1, 5-3, 5-4
    return (yield dg.Invoke(ECHO, event))


@dg.workflow
def invoke_named(event: dict[str, str]):  # 5-2
    return (yield dg.Invoke(ECHO, event["payload"], name=event["name"]))


@dg.workflow
def invoke_fails(_event: None):  # 5-5
    return (yield dg.Invoke(FAILING))


@dg.workflow
def invoke_failure_caught(_event: None):  # 5-6
    try:
        return (yield dg.Invoke(FAILING))
    except dg.InvokeFailedError:
        return "fallback"


@dg.workflow
def invoke_large_payload(_event: None):  # 5-7
    return (yield dg.Invoke(MEASURE, "x" * LARGE_PAYLOAD_CHARS))


@dg.workflow
def invoke_with_tenant(event: dict[str, str]):  # 5-8
    return (yield dg.Invoke(ECHO, event["payload"], tenant_id=event["tenantId"]))


@dg.workflow
def invoke_then_wait(_event: None):  # 5-9
    result = yield dg.Invoke(ECHO, {"cached": True})
    yield dg.Wait(seconds=1)
    return result


@dg.workflow
def invoke_failure_then_wait(_event: None):  # 5-10
    try:
        message = yield dg.Invoke(FAILING)
    except dg.InvokeFailedError as exc:
        message = f"caught: {exc.error_type}"
    yield dg.Wait(seconds=1)
    return message


@dg.workflow
def step_then_invoke(_event: None):  # 5-11
    value = yield make_value()
    return (yield dg.Invoke(ECHO, value))


@dg.workflow
def invoke_then_step(_event: None):  # 5-12
    value = yield dg.Invoke(ECHO, "invoke value")
    return (yield process(value))


def invoke_echo():
    return (yield dg.Invoke(ECHO, "from child"))


@dg.workflow
def invoke_in_child(_event: None):  # 5-13
    return (yield dg.Child(invoke_echo))


@dg.workflow
def sequential_invokes(_event: None):  # 5-14
    first = yield dg.Invoke(ECHO, "first")
    second = yield dg.Invoke(ECHO, "second")
    return [first, second]


@dg.workflow
def invoke_payload_serdes(event: dict[str, str]):  # 5-15
    return (yield dg.Invoke(ECHO, event, serdes=UppercaseSerdes()))


class UppercaseResult:
    """Sends the payload as JSON; reads the result as its raw text, upper-cased."""

    def serialize(self, value: Any) -> str:
        return json.dumps(value)

    def deserialize(self, payload: str) -> str:
        return payload.upper()


@dg.workflow
def invoke_result_serdes(event: str):  # 5-16
    return (yield dg.Invoke(ECHO, event, serdes=UppercaseResult()))


HANDLERS = {
    "5-1": invoke_basic,
    "5-2": invoke_named,
    "5-3": invoke_basic,
    "5-4": invoke_basic,
    "5-5": invoke_fails,
    "5-6": invoke_failure_caught,
    "5-7": invoke_large_payload,
    "5-8": invoke_with_tenant,
    "5-9": invoke_then_wait,
    "5-10": invoke_failure_then_wait,
    "5-11": step_then_invoke,
    "5-12": invoke_then_step,
    "5-13": invoke_in_child,
    "5-14": sequential_invokes,
    "5-15": invoke_payload_serdes,
    "5-16": invoke_result_serdes,
}

FUNCTIONS = {ECHO: echo, FAILING: failing, MEASURE: measure}
