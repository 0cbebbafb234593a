"""The Lambda handler passes plugins to the driver."""

from __future__ import annotations

from typing import Any

import msgspec

import durable_gen as dg
from durable_gen._wire import InvocationOutput, to_builtins
from durable_gen.aws import lambda_handler
from durable_gen.local import LocalService, VirtualClock


class Seen(dg.Plugin):
    def __init__(self) -> None:
        self.hooks: list[str] = []

    def on_invocation_start(self, info: dg.InvocationInfo) -> None:
        self.hooks.append("start")

    def on_invocation_end(self, info: dg.InvocationInfo, status: str) -> None:
        self.hooks.append(status)


def test_lambda_handler_fires_plugin_hooks() -> None:
    def wf(x: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Step(lambda: x, name="echo"))

    engine = LocalService(clock=VirtualClock())
    seen = Seen()
    handler = lambda_handler(wf, service=engine, plugins=[seen])

    def durable(event: Any) -> Any:
        return msgspec.convert(handler(to_builtins(event), None), InvocationOutput)

    engine.register("wf", durable)
    arn = engine.start("wf", '"hi"')
    assert engine.run(arn).result == '"hi"'
    assert seen.hooks == ["start", "SUCCEEDED"]
