"""Instrumentation hooks: what fires, when, and that a failing plugin changes nothing."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen._plugins import _SEEN
from durable_gen.local import LocalService, VirtualClock
from durable_gen.telemetry import TelemetryPlugin
from durable_gen.testing import TestRunner


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


class Everything(dg.Plugin):
    """Records every hook by name, with the arguments it got."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):

            def record(*args: Any) -> None:
                self.calls.append((name[3:], *args))

            return record
        return super().__getattribute__(name)

    def changes(self) -> list[tuple[Any, ...]]:
        return [
            (c[1].type, c[1].previous_status, c[1].status, c[1].by_service)
            for c in self.calls
            if c[0] == "operation_change"
        ]


def test_every_hook_in_order_with_service_changes_between_invocations() -> None:
    tries["n"] = 0
    plugin = Everything()
    assert dg.run(wf, "a", skip_time=True, plugins=[plugin]) == "A"
    names = [c[0] for c in plugin.calls]
    assert names == [
        "invocation_start",
        "execution_start",
        "operation_start",
        "attempt_start",
        "attempt_end",
        "operation_change",  # the step waits for its retry (PENDING)
        "invocation_end",
        "invocation_start",
        "operation_change",  # the service made the step READY
        "attempt_start",
        "attempt_end",
        "operation_end",  # the step's SUCCEED and the wait's START go in one checkpoint
        "operation_start",
        "operation_change",  # the wait STARTED (running ones first in one batch)
        "operation_change",  # the step SUCCEEDED
        "invocation_end",
        "invocation_start",
        "operation_change",  # the service ended the wait
        "execution_end",
        "invocation_end",
    ]
    assert plugin.changes() == [
        ("STEP", None, "PENDING", False),
        ("STEP", "PENDING", "READY", True),
        ("WAIT", None, "STARTED", False),
        ("STEP", "READY", "SUCCEEDED", False),
        ("WAIT", "STARTED", "SUCCEEDED", True),
    ]
    end = plugin.calls[-2]
    assert end[2:] == ("SUCCEEDED", '"A"', None)
    third_start = plugin.calls[16][1]
    assert [op.type for op in third_start.operations] == ["STEP", "WAIT"]
    assert third_start.operations[0].result == '"A"'


class Forgetful(Everything):
    """Forgets what this process saw after each invocation, as a new Lambda instance would."""

    def on_invocation_end(self, info: dg.InvocationInfo, status: str) -> None:
        _SEEN.pop(info.execution_arn, None)


def test_a_new_process_still_sees_what_the_service_completed() -> None:
    def waits(x: str):  # type: ignore[no-untyped-def]
        yield dg.Step(str.upper, (x,), name="before")
        yield dg.Wait(seconds=5, name="pause")
        return (yield dg.Step(str.lower, (x,), name="after"))

    plugin = Everything()
    forget = Forgetful()
    assert dg.run(waits, "Q", skip_time=True, plugins=[plugin, forget]) == "q"
    by_service = [c[1] for c in plugin.calls if c[0] == "operation_change" and c[1].by_service]
    assert [(op.name, op.status) for op in by_service] == [("pause", "SUCCEEDED")]


def test_a_failed_step_snapshot_carries_its_error_and_attempts() -> None:
    def boom() -> None:
        raise ValueError("no luck")

    def failing(_: Any):  # type: ignore[no-untyped-def]
        yield dg.Step(boom, name="boom", retry=dg.Retry(max_attempts=1))

    plugin = Everything()
    with pytest.raises(dg.ExecutionFailedError):
        dg.run(failing, skip_time=True, plugins=[plugin])
    (failed,) = [c[1] for c in plugin.calls if c[0] == "operation_change"]
    assert (failed.name, failed.status, failed.error_type, failed.error_message) == (
        "boom",
        "FAILED",
        "ValueError",
        "no luck",
    )
    assert failed.attempt == 1
    assert failed.start_timestamp is not None and failed.end_timestamp is not None
    end = next(c for c in plugin.calls if c[0] == "execution_end")
    assert end[2] == "FAILED" and end[4].error_type == "ValueError"


def _history(plugins: list[dg.Plugin]) -> list[Any]:
    tries["n"] = 0
    engine = LocalService(clock=VirtualClock())
    engine.register("wf", dg.make_handler(wf, engine, plugins=plugins))
    arn = engine.start("wf", json.dumps("d"), execution_name="same")
    record = engine.run(arn)
    events = [msgspec.to_builtins(e) for e in engine.get_history(arn)]
    shapes = [(e["EventId"], e["EventType"], e.get("SubType"), e.get("Name")) for e in events]
    return [record.status, record.result, *shapes]


def test_a_hook_that_raises_changes_nothing_in_the_history(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="durable_gen.plugins"):
        broken = _history([Broken()])
    assert broken == _history([])
    hooks = {
        r.getMessage().split(" failed in ")[1].split(";")[0]
        for r in caplog.records
        if r.name == "durable_gen.plugins"
    }
    assert {"on_execution_start", "on_operation_change", "on_execution_end"} <= hooks


# --- TelemetryPlugin ----------------------------------------------------------------------------


def _telemetry(workflow: Any, payload: Any, **options: Any) -> list[dict[str, Any]]:
    lines: list[str] = []
    with contextlib.suppress(dg.DurableGenError):
        dg.run(
            workflow, payload, skip_time=True, plugins=[TelemetryPlugin(lines.append, **options)]
        )
    return [json.loads(line) for line in lines]


def nested(n: int):  # type: ignore[no-untyped-def]
    def inner():  # type: ignore[no-untyped-def]
        return (yield dg.Step(lambda: n * 2, name="double"))

    doubled = yield dg.Child(inner, name="child")
    yield dg.Wait(seconds=3, name="pause")
    return doubled + 1


def test_telemetry_record_at_the_end_of_a_successful_execution() -> None:
    (record,) = _telemetry(nested, 4, include_input=True, include_output=True)
    assert record["recordType"] == "DurableExecutionTelemetry"
    assert record["schemaVersion"] == "1.0"
    assert record["status"] == "SUCCEEDED"
    assert (record["input"], record["output"]) == (4, 9)
    assert "error" not in record
    assert record["executionArn"].endswith(record["executionName"] + "/" + record["executionName"])
    assert record["functionQualifier"] == "$LATEST"
    assert record["region"] == "us-east-1" and record["accountId"] == "000000000000"
    assert record["startTime"].endswith("Z") and record["durationMs"] >= 0
    ops = record["operationsByName"]
    assert set(ops) == {"child", "pause"}  # top level only by default
    assert ops["pause"] == {
        "type": "WAIT",
        "subType": "Wait",
        "count": 1,
        "failedCount": 0,
        "status": "SUCCEEDED",
        "minDurationMs": 3000,
        "maxDurationMs": 3000,
        "totalDurationMs": 3000,
    }


def test_telemetry_options() -> None:
    (record,) = _telemetry(nested, 1, operations="all")
    assert "input" not in record and "output" not in record
    assert record["operationsByName"]["double"]["maxAttempt"] == 1
    (bare,) = _telemetry(nested, 1, operations="none")
    assert "operationsByName" not in bare
    assert _telemetry(nested, 1, sample_rate=0) == []
    with pytest.raises(dg.ValidationError):
        TelemetryPlugin(operations="some")  # type: ignore[arg-type]
    with pytest.raises(dg.ValidationError):
        TelemetryPlugin(sample_rate=2)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"sample_rate": "0.5"}, "sample_rate"),
        ({"sample_rate": True}, "sample_rate"),
        ({"sample_rate": float("nan")}, "sample_rate"),
        ({"sink": 123}, "sink"),
        ({"sink": "durable_gen.telemetry"}, "sink"),
        ({"include_input": "yes"}, "include_input"),
        ({"include_output": 1}, "include_output"),
        ({"clock": 5}, "clock"),
    ],
)
def test_telemetry_refuses_bad_options_when_built(options: dict[str, Any], named: str) -> None:
    # before, these were accepted, and the record was lost at the end of the execution (the
    # hook failed, was logged and ignored), or a plain TypeError was raised
    with pytest.raises(dg.ValidationError, match=named):
        TelemetryPlugin(**options)


def test_telemetry_forgets_executions_that_end_elsewhere() -> None:
    # each invocation here suspends (PENDING), and its execution ends in another process: what
    # the plugin keeps stays bounded instead of growing with every such execution
    from durable_gen._plugins import _REMEMBERED_EXECUTIONS

    plugin = TelemetryPlugin(lambda line: None)
    for n in range(_REMEMBERED_EXECUTIONS + 50):
        arn = f"arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST/durable-execution/e{n}/x"
        info = dg.InvocationInfo(
            execution_arn=arn, first=True, recorded_operations=0, operations=()
        )
        plugin.on_invocation_start(info)
        plugin.on_attempt_start(
            dg.AttemptInfo(execution_arn=arn, operation_id="op", name="s", attempt=1)
        )
        if n % 2:
            continue  # a crash: no on_invocation_end
        plugin.on_invocation_end(info, "PENDING")
    assert len(plugin._attempts) <= _REMEMBERED_EXECUTIONS
    assert len(plugin._ops) <= _REMEMBERED_EXECUTIONS
    assert arn in plugin._attempts  # the most recent one is kept


def test_telemetry_record_of_a_failed_execution_goes_to_a_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def bad(x: int):  # type: ignore[no-untyped-def]
        yield dg.Step(lambda: 1 / x, name="divide", retry=dg.Retry(max_attempts=2, initial_delay=1))

    plugins = [TelemetryPlugin(include_output=True)]
    with caplog.at_level(logging.INFO, "durable_gen.telemetry"), pytest.raises(dg.DurableGenError):
        dg.run(bad, 0, skip_time=True, plugins=plugins)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "durable_gen.telemetry"]
    record = json.loads(line)
    assert record["status"] == "FAILED"
    assert record["error"]["errorType"] == "ZeroDivisionError"
    assert "output" not in record
    divide = record["operationsByName"]["divide"]
    assert (divide["status"], divide["failedCount"], divide["maxAttempt"]) == ("FAILED", 1, 2)


# --- OpenTelemetryPlugin ------------------------------------------------------------------------


def _otel_run(view: str, *, fresh_plugin_per_invocation: bool) -> tuple[str, list[Any]]:
    """Run ``wf`` with spans in memory; optionally a new plugin for each invocation, as when
    every invocation lands on a new Lambda instance."""
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    export = pytest.importorskip("opentelemetry.sdk.trace.export")
    memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
    from durable_gen.otel import OpenTelemetryPlugin

    exporter = memory.InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    engine = LocalService(clock=VirtualClock())
    shared = OpenTelemetryPlugin(provider, view=view)  # type: ignore[arg-type]

    def handler(event: Any) -> Any:
        plugin = OpenTelemetryPlugin(provider, view=view) if fresh_plugin_per_invocation else shared  # type: ignore[arg-type]
        if fresh_plugin_per_invocation:
            _SEEN.clear()
        return dg.invoke(wf, event, engine, plugins=[plugin])

    tries["n"] = 0
    engine.register("wf", handler)
    arn = engine.start("wf", json.dumps("e"))
    assert engine.run(arn).status == "SUCCEEDED"
    spans = list(exporter.get_finished_spans())
    provider.shutdown()
    return arn, spans


@pytest.mark.parametrize("fresh", [False, True], ids=["one-process", "process-per-invocation"])
def test_opentelemetry_invocation_view_spans(fresh: bool) -> None:
    from durable_gen.otel import trace_id_of

    arn, spans = _otel_run("invocation", fresh_plugin_per_invocation=fresh)
    assert {s.context.trace_id for s in spans} == {trace_id_of(arn)}
    by_name: dict[str, list[Any]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    assert len(by_name["Workflow"]) == 1
    assert [s.attributes["durable.invocation.status"] for s in by_name["Invocation"]] == [
        "PENDING",
        "PENDING",
        "SUCCEEDED",
    ]
    first, second = sorted(by_name["flaky"], key=lambda s: s.start_time)
    assert first.attributes["durable.operation.status"] == "STARTED"
    assert first.status.status_code.name == "UNSET"
    assert second.attributes["durable.operation.status"] == "SUCCEEDED"
    assert second.attributes["durable.attempt.number"] == 2
    workflow = by_name["Workflow"][0]
    # the continuation links to the first span of the operation, then to the workflow
    assert [link.context.span_id for link in second.links] == [
        first.context.span_id,
        workflow.context.span_id,
    ]
    (failed_attempt,) = by_name["flaky attempt 1"]
    assert failed_attempt.parent.span_id == first.context.span_id
    assert failed_attempt.status.status_code.name == "ERROR"
    assert failed_attempt.attributes["durable.attempt.outcome"] == "FAILED"
    wait_spans = by_name["WAIT"]
    assert [s.attributes["durable.operation.status"] for s in wait_spans] == [
        "STARTED",
        "SUCCEEDED",
    ]
    invocation_ids = {s.context.span_id for s in by_name["Invocation"]}
    assert {s.parent.span_id for s in wait_spans} <= invocation_ids
    assert workflow.parent is not None and workflow.parent.span_id not in {
        s.context.span_id for s in spans
    }


def test_opentelemetry_execution_view_spans() -> None:
    _, spans = _otel_run("execution", fresh_plugin_per_invocation=True)
    by_name = {s.name: s for s in spans if s.name not in ("Invocation",)}
    workflow = by_name["Workflow"]
    step = by_name["flaky"]
    assert step.parent.span_id == workflow.context.span_id
    assert step.start_time <= by_name["flaky attempt 1"].start_time
    assert by_name["flaky attempt 2"].end_time <= step.end_time
    assert workflow.start_time <= step.start_time and step.end_time <= workflow.end_time
    assert by_name["WAIT"].parent.span_id == workflow.context.span_id
    invocations = sorted((s for s in spans if s.name == "Invocation"), key=lambda s: s.start_time)
    assert [link.context.span_id for link in by_name["WAIT"].links] == [
        invocations[2].context.span_id
    ]


def test_opentelemetry_plugin_checks_its_view() -> None:
    pytest.importorskip("opentelemetry.sdk.trace")
    from durable_gen.otel import OpenTelemetryPlugin

    with pytest.raises(dg.ValidationError, match="view"):
        OpenTelemetryPlugin(view="span")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "named"),
    [({"tracer_provider": 5}, "tracer_provider"), ({"clock": 5}, "clock")],
)
def test_opentelemetry_plugin_refuses_bad_options_when_built(
    options: dict[str, Any], named: str
) -> None:
    pytest.importorskip("opentelemetry.sdk.trace")
    from durable_gen.otel import OpenTelemetryPlugin

    with pytest.raises(dg.ValidationError, match=named):
        OpenTelemetryPlugin(**options)


def test_opentelemetry_ends_what_a_crashed_invocation_left_open() -> None:
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    export = pytest.importorskip("opentelemetry.sdk.trace.export")
    memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
    from durable_gen.otel import OpenTelemetryPlugin

    crashes = {"n": 0}

    def crash_once() -> str:
        crashes["n"] += 1
        if crashes["n"] == 1:
            raise SystemExit("the process dies")
        return "ok"

    def crashing(_: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Step(crash_once, name="fragile"))

    exporter = memory.InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    assert dg.run(crashing, skip_time=True, plugins=[OpenTelemetryPlugin(provider)]) == "ok"
    spans = exporter.get_finished_spans()
    provider.shutdown()
    invocations = [s for s in spans if s.name == "Invocation"]
    assert [s.status.status_code.name for s in invocations] == ["ERROR", "OK"]
    assert "durable.invocation.status" not in invocations[0].attributes
    fragile = [s for s in spans if s.name == "fragile"]
    assert [s.attributes["durable.operation.status"] for s in fragile] == ["STARTED", "SUCCEEDED"]
    attempts = [s for s in spans if s.name.startswith("fragile attempt")]
    assert [s.status.status_code.name for s in attempts] == ["ERROR", "OK"]


def test_a_callback_answered_and_an_invoke_finished_between_invocations_are_seen() -> None:
    def target(_: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Step(lambda: "t", name="inside"))

    def caller(_: Any):  # type: ignore[no-untyped-def]
        handle = yield dg.CreateCallback(name="approval")
        answer = yield handle
        done = yield dg.Invoke("target", None, name="call-target")
        return [answer, done]

    plugin = Everything()
    engine = LocalService(clock=VirtualClock())
    engine.register("caller", dg.make_handler(caller, engine, plugins=[plugin]))
    engine.register("target", dg.make_handler(target, engine))
    arn = engine.start("caller", None)
    engine.run_until_idle()
    (callback,) = [op for op in engine.get_operations(arn) if op.type == "CALLBACK"]
    assert callback.callback_details is not None and callback.callback_details.callback_id
    engine.send_callback_success(callback.callback_details.callback_id, json.dumps("yes"))
    assert engine.run(arn).status == "SUCCEEDED"
    seen = [
        (c[1].type, c[1].name, c[1].status)
        for c in plugin.calls
        if c[0] == "operation_change" and c[1].by_service
    ]
    assert seen == [
        ("CALLBACK", "approval", "SUCCEEDED"),
        ("CHAINED_INVOKE", "call-target", "SUCCEEDED"),
    ]


def test_opentelemetry_through_the_lambda_handler_one_trace_across_instances() -> None:
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    export = pytest.importorskip("opentelemetry.sdk.trace.export")
    memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
    from durable_gen._wire import InvocationOutput, to_builtins
    from durable_gen.aws import lambda_handler
    from durable_gen.otel import OpenTelemetryPlugin, trace_id_of

    def waits(x: Any):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=60, name="pause")
        return (yield dg.Step(lambda: x, name="echo"))

    exporter = memory.InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    engine = LocalService(clock=VirtualClock())

    def new_instance(event: Any) -> Any:
        """Each invocation on a new Lambda instance: a new handler, plugin and memory."""
        _SEEN.clear()
        handler = lambda_handler(waits, service=engine, plugins=[OpenTelemetryPlugin(provider)])
        return msgspec.convert(handler(to_builtins(event), None), InvocationOutput)

    engine.register("waits", new_instance)
    arn = engine.start("waits", '"hi"')
    assert engine.run(arn).result == '"hi"'
    spans = exporter.get_finished_spans()
    provider.shutdown()
    assert {s.context.trace_id for s in spans} == {trace_id_of(arn)}
    pause = sorted((s for s in spans if s.name == "pause"), key=lambda s: s.start_time)
    assert [s.attributes["durable.operation.status"] for s in pause] == ["STARTED", "SUCCEEDED"]
    assert pause[1].links[0].context.span_id == pause[0].context.span_id
    (workflow,) = [s for s in spans if s.name == "Workflow"]
    assert all(s.links[-1].context.span_id == workflow.context.span_id for s in pause)


@dg.workflow
def _waits_for(seconds: int):  # type: ignore[no-untyped-def]
    yield dg.Wait(seconds=seconds, name=f"wait {seconds}")
    return seconds


@dg.workflow
def _first_of_two(_: Any):  # type: ignore[no-untyped-def]
    batch = yield dg.Map(
        _waits_for, [1, 50], completion=dg.Completion(min_successful=1), name="fastest"
    )
    yield dg.Wait(seconds=100, name="after")
    return [item.status for item in batch.items]


def test_invocation_view_a_finished_parent_opened_for_a_later_change_keeps_its_status() -> None:
    # The Map ends with its first item; the other item's wait fires later, in an invocation
    # that opens the (finished) Map's span again as the parent of that change: that span says
    # SUCCEEDED, not STARTED.
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    export = pytest.importorskip("opentelemetry.sdk.trace.export")
    memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
    from durable_gen.otel import OpenTelemetryPlugin

    exporter = memory.InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    result = dg.run(_first_of_two, None, skip_time=True, plugins=[OpenTelemetryPlugin(provider)])
    assert result == ["SUCCEEDED", "STARTED"]
    spans = list(exporter.get_finished_spans())
    provider.shutdown()
    maps = [s for s in spans if s.name == "fastest"]
    statuses = [
        (s.attributes.get("durable.operation.status"), s.status.status_code.name) for s in maps
    ]
    assert statuses == [("STARTED", "UNSET"), ("SUCCEEDED", "OK"), ("SUCCEEDED", "OK")]
    # the item that never ended still reads STARTED
    items = [s for s in spans if s.name == "map-item-1"]
    assert {s.attributes.get("durable.operation.status") for s in items} == {"STARTED"}


@dg.workflow
def _sub_workflow(x: int):  # type: ignore[no-untyped-def]
    return (yield dg.Step(lambda: x, name="inner"))


class _AttemptEnds(dg.Plugin):
    def __init__(self) -> None:
        self.ends: list[tuple[str | None, str, str | None]] = []

    def on_attempt_end(self, attempt: dg.AttemptInfo, outcome: str, error: Any) -> None:
        self.ends.append((attempt.name, outcome, type(error).__name__ if error else None))


@pytest.mark.parametrize("alone", [True, False])
def test_an_attempt_that_returned_a_generator_ends_failed_in_the_hooks(alone: bool) -> None:
    # `lambda: sub(1)` runs as a step that returns a generator: the step fails with a
    # WorkflowDefinitionError, and its attempt says so (it said SUCCEEDED)
    @dg.workflow
    def lone(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield dg.Step(lambda: _sub_workflow(1), name="mistake")
        except dg.StepFailedError as error:
            return error.error_type

    @dg.workflow
    def branches(_: Any):  # type: ignore[no-untyped-def]
        batch = yield dg.Parallel(
            [dg.Branch(lambda: _sub_workflow(1), name="mistake"), dg.Branch(lambda: 2)],
            completion=dg.Completion(tolerated_failure_count=1),
        )
        return [item.status for item in batch.items]

    plugin = _AttemptEnds()
    result = dg.run(lone if alone else branches, None, plugins=[plugin])
    assert result == ("WorkflowDefinitionError" if alone else ["FAILED", "SUCCEEDED"])
    failed = [end for end in plugin.ends if end[1] == "FAILED"]
    assert [end[2] for end in failed] == ["WorkflowDefinitionError"]
    assert len(plugin.ends) == (1 if alone else 2)


# --- run(): the workflows it runs for Invoke get its plugins ----------------------------------


@dg.step
def _halve(x: int) -> int:
    return x // 2


def _tax_workflow(amount: int) -> dg.Workflow[int]:
    return (yield from _halve(amount))


def _checkout_invoking(amount: int) -> dg.Workflow[int]:
    return (yield from dg.Invoke("tax", amount, name="tax", result_type=int))


def test_run_gives_its_plugins_to_the_workflows_in_functions_as_test_runner_does() -> None:
    # Before, dg.run's plugins saw the parent only: the invoked workflow's execution had no
    # hooks, trace or telemetry record.
    def ends_of(run: Callable[[list[dg.Plugin]], int]) -> list[tuple[str, str]]:
        records: list[str] = []
        assert run([TelemetryPlugin(records.append)]) == 21
        return sorted((json.loads(r)["functionName"], json.loads(r)["status"]) for r in records)

    with_run = ends_of(
        lambda plugins: dg.run(
            _checkout_invoking, 42, functions={"tax": _tax_workflow}, plugins=plugins
        )
    )
    with_runner = ends_of(
        lambda plugins: (
            TestRunner(functions={"tax": _tax_workflow}, plugins=plugins)
            .run(_checkout_invoking, 42)
            .result()
        )
    )
    assert [name for name, _ in with_run] == [name for name, _ in with_runner]
    assert len(with_run) == 2 and ("tax", "SUCCEEDED") in with_run
