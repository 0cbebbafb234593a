"""AWS's own reader of an execution's history (the testing package's
``DurableFunctionTestResult.from_execution_history``, which its cloud runner uses after
``GetDurableExecution`` and ``GetDurableExecutionHistory``) reads what a durable_gen handler
recorded on AWS's emulator: every operation under the name the docs give it (docs/lambda.md,
"Reading the history"), with its parent, status, attempts and payloads."""

from __future__ import annotations

import json
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.aws import lambda_handler

pytest.importorskip("aws_durable_execution_sdk_python_testing")
from aws_durable_execution_sdk_python.serdes import ExtendedTypeSerDes
from aws_durable_execution_sdk_python_testing.model import (
    GetDurableExecutionHistoryResponse,
    GetDurableExecutionResponse,
)
from aws_durable_execution_sdk_python_testing.runner import (
    DurableFunctionTestResult,
)

try:
    from .emulator import Emulator, LambdaEndpoint
    from .lambda_support import settle_pending
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]
    from lambda_support import settle_pending  # type: ignore[no-redef]

TRIES: list[int] = []


@dg.step
def add(a: int, b: int) -> int:
    return a + b


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, jitter="none"))
def shaky() -> str:
    TRIES.append(1)
    if len(TRIES) < 2:
        raise RuntimeError("first try fails")
    return "steady"


def tag(item: str, index: int) -> Any:
    return (yield dg.Step(lambda: f"{item}-{index}", name="tag"))


@dg.workflow
def inner(x: int) -> Any:
    return (yield dg.Step(lambda: x * 3, name="triple"))


@dg.workflow
def recorded(event: Any) -> Any:
    total = yield add(event["a"], 2)
    steady = yield shaky()
    yield dg.Wait(seconds=1, name="nap")
    tags = yield dg.Map(tag, ["x", "y"], name="tags")
    tripled = yield dg.Child(inner, (total,), name="kid")
    return {"total": total, "steady": steady, "tags": tags.results(), "tripled": tripled}


def _read(emulator: Emulator, arn: str) -> Any:
    execution = emulator.client.get_durable_execution(DurableExecutionArn=arn)
    pages = emulator.history(arn)
    return DurableFunctionTestResult.from_execution_history(
        GetDurableExecutionResponse.from_dict(execution),
        GetDurableExecutionHistoryResponse.from_dict({"Events": pages}),
    )


@pytest.mark.parametrize("payload_format", ["aws", "json"])
def test_aws_reader_finds_every_operation_of_a_durable_gen_history(
    emulator_skip_time: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    payload_format: str,
) -> None:
    TRIES.clear()
    lambda_endpoint.register(
        function_name,
        settle_pending(  # the --skip-time wake-up race (README): hold PENDING back
            lambda_handler(
                recorded, client=emulator_skip_time.client, payload_format=payload_format
            )
        ),
    )
    arn = emulator_skip_time.start(function_name, {"a": 1})
    outcome = emulator_skip_time.wait(arn, timeout=30)
    assert outcome.status == "SUCCEEDED", outcome
    expected = {"total": 3, "steady": "steady", "tags": ["x-0", "y-1"], "tripled": 9}
    assert outcome.json() == expected

    result = _read(emulator_skip_time, arn)
    assert str(result.status).endswith("SUCCEEDED")
    assert json.loads(result.result) == expected

    def value(payload: Any) -> Any:
        text = payload if isinstance(payload, str) else payload.payload
        if payload_format == "aws":
            return ExtendedTypeSerDes().deserialize(text, None)
        return json.loads(text)

    step = result.get_step("add")
    assert step.sub_type == "Step" and value(step.result) == 3
    retried = result.get_step("shaky")
    assert str(retried.status).endswith("SUCCEEDED") and value(retried.result) == "steady"
    assert retried.attempt >= 1
    assert str(result.get_wait("nap").status).endswith("SUCCEEDED")
    tags = result.get_context("tags")
    assert tags.sub_type == "Map"
    items = [op.name for op in tags.child_operations]
    assert items == ["map-item-0", "map-item-1"]
    kid = result.get_context("kid")
    assert kid.sub_type == "RunInChildContext"
    assert [op.name for op in kid.child_operations] == ["triple"]
