"""A result too large to return (over ~6 MiB less the envelope) goes to the service through an
EXECUTION SUCCEED checkpoint, and the invocation returns SUCCEEDED with an empty ``Result``
(docs/embedding.md, "What a store must do"). The plugins still see the result: docs/
observability.md promises ``on_execution_end`` "SUCCEEDED with the result's JSON text", and
``TelemetryPlugin(include_output=True)`` writes it as ``output``. They were given the empty
text of the invocation output: the record said ``output`` null for a workflow that returned.
"""

from __future__ import annotations

import json
from typing import Any

import durable_gen as dg
from durable_gen.local import LocalService, VirtualClock
from durable_gen.runtime import ErrorObject, make_handler
from durable_gen.telemetry import TelemetryPlugin

SIZE = 6_250_000  # over what an invocation returns (6 MiB less 64 KiB), under 6 MiB


class Ends(dg.Plugin):
    def __init__(self) -> None:
        self.ends: list[tuple[str, str | None, ErrorObject | None]] = []

    def on_execution_end(
        self, info: Any, status: str, result: str | None, error: ErrorObject | None
    ) -> None:
        self.ends.append((status, result, error))


@dg.step
def part(n: int) -> str:
    return "x" * n


@dg.workflow
def large(n: int) -> dg.Workflow[str]:
    head = yield part(10)
    return head + "y" * (n - 10)


def test_the_plugins_see_a_result_that_went_out_through_the_execution_checkpoint() -> None:
    ends = Ends()
    records: list[str] = []
    service = LocalService(clock=VirtualClock())
    plugins = [ends, TelemetryPlugin(records.append, include_output=True)]
    service.register("large", make_handler(large, service, plugins=plugins))
    arn = service.start("large", json.dumps(SIZE))
    record = service.run(arn)
    assert record.status == "SUCCEEDED"
    expected = json.dumps("x" * 10 + "y" * (SIZE - 10))
    assert record.result == expected  # the engine recorded it from the checkpoint
    assert ends.ends == [("SUCCEEDED", expected, None)]
    (line,) = records
    assert json.loads(line)["output"] == json.loads(expected)


def test_a_result_that_is_returned_reaches_the_plugins_as_before() -> None:
    ends = Ends()
    assert dg.run(large, 20, plugins=[ends]) == "x" * 10 + "y" * 10
    assert ends.ends == [("SUCCEEDED", json.dumps("x" * 10 + "y" * 10), None)]
