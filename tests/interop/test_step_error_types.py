"""A step's failure reads the same in both payload formats, and AWS's SDK reads what
``payload_format="aws"`` recorded for it.

The guide tells a step to carry its own type and data with ``raise dg.StepFailedError(...,
error_type=, error_data=)``, and a step timeout to be caught as ``dg.StepTimeoutError``; the
workflow must see the same exception, type and data whichever format records the step, on the
first run and on replay. AWS's SDK rebuilds any failed step as its ``StepError`` carrying the
recorded type, so keeping that type costs it nothing.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, replay

pytest.importorskip("aws_durable_execution_sdk_python")
pytest.importorskip("aws_durable_execution_sdk_python_testing")

from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import StepConfig
from aws_durable_execution_sdk_python.exceptions import StepError
from aws_durable_execution_sdk_python.execution import durable_execution
from aws_durable_execution_sdk_python.retries import (
    RetryStrategyConfig,
    create_retry_strategy,
)
from aws_durable_execution_sdk_python_testing.invoker import (
    create_test_lambda_context,
)


@dg.step(retry=dg.Retry.never())
def declined() -> str:
    raise dg.StepFailedError("card declined", error_type="Declined", error_data='{"code": 51}')


class Refused(dg.StepFailedError):
    """A subclass of StepFailedError, the guide's other way to carry data."""


@dg.step(retry=dg.Retry.never())
def refused() -> str:
    raise Refused("no stock", error_data='{"sku": "a-1"}')


@dg.step(timeout=0.05, retry=dg.Retry.never())
async def hangs() -> str:
    await asyncio.sleep(10)
    return "late"


@dg.workflow
def caught(_: Any) -> dg.Workflow[list[list[Any]]]:
    seen: list[list[Any]] = []
    for command in (declined(), refused(), hangs()):
        try:
            yield command
        except dg.StepTimeoutError as exc:
            seen.append(["timeout", exc.error_type, exc.error_data])
        except dg.StepFailedError as exc:
            # a class of one's own is module-qualified in "aws" (docs/lambda.md)
            seen.append(["failed", (exc.error_type or "").rsplit(".", 1)[-1], exc.error_data])
    return seen


EXPECTED = [
    ["failed", "Declined", '{"code": 51}'],
    ["failed", "Refused", '{"sku": "a-1"}'],
    ["timeout", "StepTimeoutError", None],
]


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_the_workflow_sees_the_same_step_failure_in_both_formats(payload_format: str) -> None:
    run = TestRunner(payload_format=payload_format).run(caught, None)  # type: ignore[arg-type]
    assert run.result() == EXPECTED
    report = replay(caught, run.export())
    assert report.ok and report.result == EXPECTED, report


# --- AWS's SDK reads the same history ---------------------------------------------------------

_ONCE = StepConfig(retry_strategy=create_retry_strategy(RetryStrategyConfig(max_attempts=1)))


def _aws_caught(event: Any, ctx: DurableContext) -> Any:
    seen = []
    for name in ("declined", "refused", "hangs"):
        try:
            ctx.step(lambda _: None, name=name, config=_ONCE)
        except StepError as exc:
            seen.append([type(exc).__name__, exc.error_type, exc.data])
    return seen


class _Client:
    def __init__(self, operations: list[dict[str, Any]]) -> None:
        self.operations = operations
        self.updates: list[dict[str, Any]] = []

    def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.updates += kwargs.get("Updates", [])
        return {"CheckpointToken": "t", "NewExecutionState": {"Operations": [], "NextMarker": ""}}

    def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
        return {"Operations": self.operations, "NextMarker": ""}


def test_aws_sdk_rebuilds_a_step_error_with_the_recorded_type_and_data() -> None:
    export = TestRunner(payload_format="aws").run(caught, None).export()
    ops = export["Operations"]
    client = _Client(ops)
    handler = durable_execution(boto3_client=client)(_aws_caught)
    event = {
        "DurableExecutionArn": export["DurableExecutionArn"],
        "CheckpointToken": "t0",
        "InitialExecutionState": {"Operations": ops, "NextMarker": ""},
    }
    output = handler(event, create_test_lambda_context())
    assert output["Status"] == "SUCCEEDED", output
    assert json.loads(output["Result"]) == [
        ["StepError", "Declined", '{"code": 51}'],
        ["StepError", f"{__name__}.Refused", '{"sku": "a-1"}'],
        ["StepError", "StepTimeoutError", None],
    ]
    assert not [u for u in client.updates if u["Id"] not in {op["Id"] for op in ops}]


def _child() -> dg.Workflow[str]:
    return (yield from declined())


@dg.workflow
def escapes(_: Any) -> dg.Workflow[list[Any]]:
    try:
        yield from dg.Child(_child, name="child")
    except dg.ChildFailedError as exc:
        return [exc.error_type, exc.error_message, exc.error_data]
    return []


@pytest.mark.parametrize(
    ("payload_format", "error_type"),
    [("json", "Declined"), ("aws", "aws_durable_execution_sdk_python.exceptions.StepError")],
)
def test_a_step_failure_escaping_a_child_is_recorded_as_the_docs_table_says(
    payload_format: str, error_type: str
) -> None:
    run = TestRunner(payload_format=payload_format).run(escapes, None)  # type: ignore[arg-type]
    assert run.result() == [error_type, "card declined", '{"code": 51}']
