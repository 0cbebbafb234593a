"""A durable_gen handler given to AWS's in-process ``DurableFunctionTestRunner``.

A team moving from AWS's Python SDK keeps its tests at first, and may hand the ported
handler to the runner its old tests used. That runner does not send Lambda's JSON event but
an object of AWS's SDK carrying its own service client, which only AWS's SDK handler reads.
The handler must say so, and what to test with instead, not that the function lacks a
DurableConfig (it is invoked as a durable function).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.aws import lambda_handler, parse_event


@dg.step
def add(a: int, b: int) -> int:
    return a + b


@dg.workflow
def flow(event: Any) -> Any:
    return (yield add(event["a"], 2))


@dataclass(frozen=True)
class _InProcessInvocation:
    """The shape of AWS's SDK's in-process invocation object (attributes, not JSON keys)."""

    durable_execution_arn: str = "arn:in-process"
    checkpoint_token: str = "token-1"
    initial_execution_state: Any = None
    service_client: Any = None
    updated_operation_ids: list[str] = field(default_factory=list)


def test_an_in_process_invocation_object_is_named_and_the_way_to_test_given() -> None:
    with pytest.raises(dg.InvalidInputError) as info:
        parse_event(_InProcessInvocation())
    message = str(info.value)
    assert "DurableFunctionTestRunner" in message
    assert "durable_gen.testing.TestRunner" in message and "dex-local-runner" in message
    assert "DurableConfig" not in message


def test_other_objects_still_get_the_plain_event_advice() -> None:
    with pytest.raises(dg.InvalidInputError, match="DurableConfig"):
        parse_event(["not", "an", "event"])


def test_the_handler_answers_aws_sdks_in_process_object_with_what_to_do() -> None:
    """The object AWS's ``DurableFunctionTestRunner`` hands a handler, built as it builds it."""
    execution = pytest.importorskip("aws_durable_execution_sdk_python.execution")
    event = (
        execution.DurableExecutionInvocationInputWithClient.from_durable_execution_invocation_input(
            execution.DurableExecutionInvocationInput.from_dict(
                {
                    "DurableExecutionArn": "arn:in-process",
                    "CheckpointToken": "token-1",
                    "InitialExecutionState": {
                        "Operations": [
                            {
                                "Id": "exec",
                                "Type": "EXECUTION",
                                "Status": "STARTED",
                                "ExecutionDetails": {"InputPayload": json.dumps({"a": 1})},
                            }
                        ],
                        "NextMarker": "",
                    },
                }
            ),
            service_client=object(),
        )
    )
    output = lambda_handler(flow)(event, None)
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == "InvalidInputError"
    assert "DurableFunctionTestRunner" in output["Error"]["ErrorMessage"]
    assert "durable_gen.testing.TestRunner" in output["Error"]["ErrorMessage"]
    assert dg.run(flow, {"a": 1}) == 3
