"""A virtual child context records what AWS's SDK records for ``ChildConfig(is_virtual=True)``.

durable_gen runs the workflow on the embedded engine; AWS's Python SDK, given that history as
a Lambda invocation's state, replays it: the same ids and parents, so it ends the execution with
the same result and starts no operation of its own (with the child's operations inlined
instead, it fails with its non-determinism error).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner

pytest.importorskip("aws_durable_execution_sdk_python")
pytest.importorskip("aws_durable_execution_sdk_python_testing")

from aws_durable_execution_sdk_python.config import ChildConfig, Duration
from aws_durable_execution_sdk_python.context import DurableContext
from aws_durable_execution_sdk_python.execution import durable_execution
from aws_durable_execution_sdk_python_testing.invoker import create_test_lambda_context

from .test_aws_replays_ours import _RecordingClient


def _body():  # type: ignore[no-untyped-def]
    a = yield dg.Step(lambda: 2, name="inner")
    yield dg.Wait(1, name="pause")
    b = yield dg.Step(lambda: a * 10, name="inner-after")
    return a + b


def ours(_event: Any):  # type: ignore[no-untyped-def]
    total = yield dg.Child(_body, name="group", virtual=True)
    return (yield dg.Step(lambda: total + 1, name="after"))


def theirs(_event: Any, ctx: DurableContext) -> Any:
    def body(child: DurableContext) -> int:
        a: int = child.step(lambda _: 2, name="inner")
        child.wait(Duration.from_seconds(1), name="pause")
        b: int = child.step(lambda _: a * 10, name="inner-after")
        return a + b

    total = ctx.run_in_child_context(body, name="group", config=ChildConfig(is_virtual=True))
    return ctx.step(lambda _: total + 1, name="after")


def test_aws_sdk_replays_a_virtual_child_durable_gen_recorded() -> None:
    run = TestRunner(payload_format="aws").run(ours, None)
    assert run.result() == 23
    export = run.export()
    ops = export["Operations"]
    assert not [op for op in ops if op["Type"] == "CONTEXT"]
    client = _RecordingClient(ops)
    handler = durable_execution(boto3_client=client)(theirs)
    output = handler(
        {
            "DurableExecutionArn": export["DurableExecutionArn"],
            "CheckpointToken": "token-0",
            "InitialExecutionState": {"Operations": ops, "NextMarker": ""},
        },
        create_test_lambda_context(),
    )
    assert output["Status"] == "SUCCEEDED", output
    assert json.loads(output["Result"]) == 23
    recorded = {op["Id"] for op in ops}
    assert [u for u in client.updates if u["Id"] not in recorded] == []
