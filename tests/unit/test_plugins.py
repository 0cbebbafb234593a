"""Instrumentation hooks: what fires, when, and that a failing plugin changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

import durable_gen as dg


class Recorder(dg.Plugin):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def on_invocation_start(self, info: dg.InvocationInfo) -> None:
        self.events.append(("invocation-start", info.first))

    def on_invocation_end(self, info: dg.InvocationInfo, status: str) -> None:
        self.events.append(("invocation-end", status))

    def on_operation_start(self, op: dg.OperationInfo) -> None:
        self.events.append(("operation-start", op.type, op.name))

    def on_operation_end(self, op: dg.OperationInfo, status: str) -> None:
        self.events.append(("operation-end", op.type, op.name, status))

    def on_attempt_start(self, attempt: dg.AttemptInfo) -> None:
        self.events.append(("attempt-start", attempt.name, attempt.attempt))

    def on_attempt_end(self, attempt: dg.AttemptInfo, outcome: str, error: Any) -> None:
        self.events.append(("attempt-end", attempt.name, attempt.attempt, outcome))


class Broken(dg.Plugin):
    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):

            def fail(*_: Any) -> None:
                raise RuntimeError("plugin bug")

            return fail
        return super().__getattribute__(name)


tries = {"n": 0}


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1))
def flaky(x: str) -> str:
    tries["n"] += 1
    if tries["n"] == 1:
        raise ConnectionError("once")
    return x.upper()


def wf(x: str):  # type: ignore[no-untyped-def]
    y = yield flaky(x)
    yield dg.Wait(seconds=5)
    return y


def test_hooks_fire_for_new_work_only_and_in_order() -> None:
    tries["n"] = 0
    rec = Recorder()
    assert dg.run(wf, "a", skip_time=True, plugins=[rec]) == "A"
    assert rec.events == [
        ("invocation-start", True),
        ("operation-start", "STEP", "flaky"),
        ("attempt-start", "flaky", 1),
        ("attempt-end", "flaky", 1, "FAILED"),
        ("invocation-end", "PENDING"),
        ("invocation-start", False),
        ("attempt-start", "flaky", 2),
        ("attempt-end", "flaky", 2, "SUCCEEDED"),
        ("operation-end", "STEP", "flaky", "SUCCEEDED"),
        ("operation-start", "WAIT", None),
        ("invocation-end", "PENDING"),
        ("invocation-start", False),
        ("invocation-end", "SUCCEEDED"),
    ]


def test_a_failing_plugin_never_changes_the_outcome(caplog: pytest.LogCaptureFixture) -> None:
    tries["n"] = 0
    assert dg.run(wf, "b", skip_time=True, plugins=[Broken()]) == "B"
    assert "plugin bug" in caplog.text


def test_opentelemetry_plugin_records_spans() -> None:
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    export = pytest.importorskip("opentelemetry.sdk.trace.export")
    memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
    from durable_gen.otel import OpenTelemetryPlugin

    exporter = memory.InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    tries["n"] = 0
    dg.run(wf, "c", skip_time=True, plugins=[OpenTelemetryPlugin(tracer_provider=provider)])
    names = [s.name for s in exporter.get_finished_spans()]
    assert names.count("durable_gen.invocation") == 3
    assert names.count("durable_gen.attempt") == 2
    assert "durable_gen.step" in names
    provider.shutdown()
