"""The Lambda handler called by hand, as a test or another runtime calls it (round 9).

docs/lambda.md "Calling the handler yourself": the event is the JSON Lambda sends, the context
is read for ``get_remaining_time_in_millis()`` alone, and a context that cannot tell the time
(none, no such method, or an answer that is not a finite number of milliseconds) sets no limit.
"""

from __future__ import annotations

import json
import math
import types
from typing import Any

import msgspec
import pytest

import durable_gen as dg
import durable_gen.runtime as rt
from durable_gen.aws import lambda_handler
from durable_gen.local import LocalService, VirtualClock


@dg.step(retry=dg.Retry.never())
def greet(name: str) -> str:
    return f"hello {name}"


def hello(name: str) -> dg.Workflow[str]:
    greeting = yield from greet(name)
    yield from dg.Wait(seconds=5)
    return greeting


def _run(context: Any, *, page_size: int | None = None) -> tuple[LocalService, str, list[Any]]:
    """``hello`` through the Lambda handler, each invocation given the hand-built JSON event."""
    engine = LocalService(clock=VirtualClock(), page_size=page_size)
    handler = lambda_handler(hello, service=engine)
    outputs: list[Any] = []

    def durable(event: rt.InvocationInput) -> rt.InvocationOutput:
        wire = json.loads(json.dumps(msgspec.to_builtins(event)))
        output = handler(wire, context)
        outputs.append(output)
        return msgspec.convert(output, rt.InvocationOutput)

    engine.register("hello", durable)
    arn = engine.start("hello", '"ada"')
    engine.run(arn)
    return engine, arn, outputs


@pytest.mark.parametrize(
    "context",
    [
        None,
        object(),
        types.SimpleNamespace(get_remaining_time_in_millis=lambda: "9000"),
        types.SimpleNamespace(get_remaining_time_in_millis=lambda: float("inf")),
        types.SimpleNamespace(get_remaining_time_in_millis=lambda: float("nan")),
        types.SimpleNamespace(get_remaining_time_in_millis=lambda: math.nan),
    ],
    ids=["none", "no-method", "a-string", "infinite", "nan", "math-nan"],
)
def test_a_context_that_cannot_tell_the_time_sets_no_limit(context: Any) -> None:
    engine, arn, outputs = _run(context)
    record = engine.get_execution(arn)
    assert (record.status, record.result) == ("SUCCEEDED", '"hello ada"')
    assert outputs == [{"Status": "PENDING"}, {"Status": "SUCCEEDED", "Result": '"hello ada"'}]


def test_the_event_lambda_sends_in_pages() -> None:
    context = types.SimpleNamespace(get_remaining_time_in_millis=lambda: 900_000)
    engine, arn, outputs = _run(context, page_size=1)
    assert engine.get_execution(arn).status == "SUCCEEDED"
    assert outputs[-1] == {"Status": "SUCCEEDED", "Result": '"hello ada"'}
