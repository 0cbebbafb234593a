"""``Worker(plugins=..., checkpointing=...)``: the options reach every workflow it runs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen.local import Worker


@dg.step
def bump(x: int) -> int:
    return x + 1


@dg.workflow
def three(x: int) -> dg.Workflow[int]:
    for _ in range(3):
        x = yield from bump(x)
    return x


class Counting(dg.Plugin):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempts: list[str | None] = []
        self.ends: list[str] = []

    def on_attempt_start(self, attempt: Any) -> None:
        with self.lock:
            self.attempts.append(attempt.name)

    def on_execution_end(self, info: Any, status: str, result: Any, error: Any) -> None:
        with self.lock:
            self.ends.append(status)


def checkpoints_of(worker: Worker) -> list[int]:
    """Count the checkpoint calls the worker's engine receives (wraps the method in place)."""
    calls: list[int] = []
    real = worker.service.checkpoint

    def counting(*args: Any) -> Any:
        calls.append(len(args[2]))
        return real(*args)

    worker.service.checkpoint = counting  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("concurrency", [1, 3])
def test_plugins_see_every_execution_a_worker_runs(tmp_path: Path, concurrency: int) -> None:
    plugin = Counting()
    with Worker(tmp_path / "w.db", plugins=[plugin], concurrency=concurrency) as worker:
        name = worker.register(three)
        arns = [worker.service.start(name, str(n)) for n in range(4)]
        worker.run(once=True)
        assert [worker.service.get_execution(a).result for a in arns] == ["3", "4", "5", "6"]
    assert plugin.attempts == ["bump"] * 12
    assert plugin.ends == ["SUCCEEDED"] * 4


def test_the_checkpointing_mode_reaches_the_engine(tmp_path: Path) -> None:
    per_mode = {}
    for mode in ("step", "batch"):
        with Worker(tmp_path / f"{mode}.db", checkpointing=mode) as worker:
            calls = checkpoints_of(worker)
            name = worker.register(three)
            arn = worker.service.start(name, "0")
            worker.run(once=True)
            assert worker.service.get_execution(arn).result == "3"
        per_mode[mode] = calls
    assert per_mode["step"] == [2, 2, 2]  # one per step: its START and SUCCEED
    assert per_mode["batch"] == [6]  # all of them at the end


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"plugins": Counting()}, "plugins must be a list of Plugin instances"),
        ({"plugins": [object()]}, "plugins must be Plugin instances"),
        ({"checkpointing": "sometimes"}, "checkpointing"),
    ],
)
def test_bad_options_are_validation_errors(
    tmp_path: Path, options: dict[str, Any], words: str
) -> None:
    with pytest.raises(dg.ValidationError, match=words):
        Worker(tmp_path / "w.db", **options)
    assert not (tmp_path / "w.db").exists()  # refused before the database is opened


async def shout(word: str) -> str:
    return word.upper()


def double(x: int) -> int:
    return 2 * x


@dg.workflow
def fan(n: int) -> dg.Workflow[list[Any]]:
    doubled = yield dg.Map(double, list(range(n)), name="double", max_concurrency=3)
    loud = yield dg.Step(shout, ("hi",), name="shout")  # an async step: the worker's event loop
    return [*doubled.results(), loud]


def test_a_concurrent_worker_traces_each_execution_as_one_whole_trace(tmp_path: Path) -> None:
    """Steps of concurrent executions run on the worker's pool and event loop threads: every
    attempt span still lands in its own execution's trace, under its operation."""
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    export = pytest.importorskip("opentelemetry.sdk.trace.export")
    memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
    from durable_gen.otel import OpenTelemetryPlugin, trace_id_of

    exporter = memory.InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    plugin = OpenTelemetryPlugin(provider)
    with Worker(tmp_path / "w.db", plugins=[plugin], concurrency=3) as worker:
        name = worker.register(fan)
        arns = [worker.service.start(name, str(n)) for n in (3, 4, 5)]
        worker.run(once=True)
        for n, arn in zip((3, 4, 5), arns, strict=True):
            assert (
                worker.service.get_execution(arn).result
                == msgspec.json.encode([*(2 * i for i in range(n)), "HI"]).decode()
            )
    spans = list(exporter.get_finished_spans())
    provider.shutdown()
    for n, arn in zip((3, 4, 5), arns, strict=True):
        mine = [s for s in spans if s.context.trace_id == trace_id_of(arn)]
        by_id = {s.context.span_id: s for s in mine}
        assert [s.name for s in mine].count("Workflow") == 1
        attempts = [s for s in mine if " attempt " in s.name]
        assert len(attempts) == n + 1  # each Map item's step and the async step, once each
        for span in attempts:  # under its operation's span, in the same trace
            assert span.parent is not None and span.parent.span_id in by_id
            assert by_id[span.parent.span_id].name != "Invocation"


outbox: list[str] = []


@dg.step
def hand_over(callback_id: str) -> None:
    outbox.append(callback_id)


@dg.workflow
def approved(x: int):  # type: ignore[no-untyped-def]
    y = yield bump(x)
    answer = yield dg.WaitForCallback(hand_over, name="approval")
    return [y, answer]


class Changes(dg.Plugin):
    def __init__(self) -> None:
        self.changes: list[tuple[str | None, str, bool]] = []

    def on_operation_change(self, op: Any) -> None:
        self.changes.append((op.name, op.status, op.by_service))


def test_a_second_worker_resumes_the_trace_and_the_record_of_the_first(
    tmp_path: Path,
) -> None:
    """A worker that never saw the execution (another process: nothing remembered) finishes it
    after a callback: the same trace, one Workflow span, links to the first worker's spans, the
    answered callback seen as a change by the service, and a telemetry record that counts the
    operations the first worker ran."""
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    export = pytest.importorskip("opentelemetry.sdk.trace.export")
    memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
    from durable_gen._plugins import _SEEN
    from durable_gen.otel import OpenTelemetryPlugin, trace_id_of
    from durable_gen.telemetry import TelemetryPlugin

    def tracing() -> tuple[Any, Any, Any]:
        exporter = memory.InMemorySpanExporter()
        provider = sdk_trace.TracerProvider()
        provider.add_span_processor(export.SimpleSpanProcessor(exporter))
        return exporter, provider, OpenTelemetryPlugin(provider)

    outbox.clear()
    first_spans, first_provider, first_plugin = tracing()
    with Worker(tmp_path / "w.db", plugins=[first_plugin]) as worker:
        name = worker.register(approved)
        arn = worker.service.start(name, "1")
        worker.run(once=True)
        assert worker.service.get_execution(arn).status == "RUNNING"
        worker.service.send_callback_success(outbox[0], '"ok"')
    _SEEN.clear()  # what a fresh process remembers
    second_spans, second_provider, second_plugin = tracing()
    records: list[str] = []
    changes = Changes()
    plugins = [second_plugin, TelemetryPlugin(records.append), changes]
    with Worker(tmp_path / "w.db", plugins=plugins) as worker:
        worker.register(approved)
        worker.run(once=True)
        assert worker.service.get_execution(arn).result == '[2,"ok"]'
    first = list(first_spans.get_finished_spans())
    second = list(second_spans.get_finished_spans())
    first_provider.shutdown()
    second_provider.shutdown()
    assert {s.context.trace_id for s in first + second} == {trace_id_of(arn)}
    assert [s.name for s in first + second].count("Workflow") == 1
    (workflow,) = [s for s in second if s.name == "Workflow"]
    invocations = [s for s in first + second if s.name == "Invocation"]
    assert {s.parent.span_id for s in invocations if s.parent} == {workflow.parent.span_id}
    first_ids = {s.context.span_id for s in first}
    (approval,) = [s for s in second if s.name == "approval"]
    assert approval.status.status_code.name == "OK"
    assert any(link.context.span_id in first_ids for link in approval.links)
    assert ("approval create callback id", "SUCCEEDED", True) in changes.changes
    (record,) = (msgspec.json.decode(line) for line in records)
    assert record["status"] == "SUCCEEDED"
    assert record["operationsByName"]["bump"]["count"] == 1
    assert record["operationsByName"]["approval"]["status"] == "SUCCEEDED"
