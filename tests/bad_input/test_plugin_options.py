"""Plugins and host options of the wrong kind, wherever a workflow is hosted: each is a
``ValidationError`` that says what to pass, raised before any execution depends on it (for
``lambda_handler``: when the handler is built, at import time on Lambda), never a failed
execution, a ``TypeError``, or a hook that is silently never called."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Generator
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen.local import LocalService
from durable_gen.runtime import InvocationOutput, invoke, make_handler


def flow(x: Any) -> Generator[Any, Any, Any]:
    yield dg.Wait(seconds=1)
    return x


class Quiet(dg.Plugin):
    pass


class AsyncHook(dg.Plugin):
    async def on_attempt_end(self, attempt: Any, outcome: str, error: Any) -> None:
        raise AssertionError("never awaited")


class AsyncGeneratorHook(dg.Plugin):
    async def on_operation_change(self, op: Any) -> Any:
        yield op


class GeneratorHook(dg.Plugin):
    def on_invocation_start(self, info: Any) -> Any:
        yield info


class MisspeltHook(dg.Plugin):
    def on_attempt_finish(self, attempt: Any, outcome: str, error: Any) -> None:
        raise AssertionError("never called")


class InheritedMisspeltHook(MisspeltHook):
    pass


class HelperNamedLikeAHook(dg.Plugin):
    def on_whatever_happens(self) -> None:
        raise AssertionError("never called")


class HooksAndHelpers(dg.Plugin):
    """Accepted: real hooks, helpers not named on_*, attributes named on_* that are no methods."""

    on_flag = True

    def on_attempt_end(self, attempt: Any, outcome: str, error: Any) -> None:
        self.helper()

    def helper(self) -> None:
        pass


#: (case, the options, a fragment the message must hold)
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("plugins-none", {"plugins": None}, "plugins must be a list of Plugin instances"),
    ("plugins-one-plugin", {"plugins": Quiet()}, "write plugins=[MyPlugin()]"),
    ("plugins-an-object", {"plugins": [object()]}, "subclasses of durable_gen.Plugin"),
    ("plugins-a-class", {"plugins": [Quiet]}, "pass an instance, plugins=[Quiet()]"),
    ("hook-async-def", {"plugins": [AsyncHook()]}, "AsyncHook.on_attempt_end is an async def"),
    (
        "hook-async-generator",
        {"plugins": [Quiet(), AsyncGeneratorHook()]},
        "AsyncGeneratorHook.on_operation_change is an async def",
    ),
    (
        "hook-generator",
        {"plugins": [GeneratorHook()]},
        "GeneratorHook.on_invocation_start is a generator function",
    ),
    (
        "hook-misspelt",
        {"plugins": [MisspeltHook()]},
        "MisspeltHook.on_attempt_finish is not a hook of Plugin, so nothing would ever call it; "
        "did you mean on_attempt_end?",
    ),
    (
        "hook-misspelt-inherited",
        {"plugins": [InheritedMisspeltHook()]},
        "InheritedMisspeltHook.on_attempt_finish is not a hook of Plugin",
    ),
    (
        "hook-helper-named-like-one",
        {"plugins": [HelperNamedLikeAHook()]},
        "give a helper method a name that does not start with on_",
    ),
    ("serdes-an-object", {"serdes": object()}, "serdes must be a Serdes"),
]


def test_hooks_helpers_and_on_attributes_that_are_no_methods_are_accepted() -> None:
    assert dg.run(flow, 7, skip_time=True, plugins=[HooksAndHelpers()]) == 7


@pytest.mark.parametrize(("options", "fragment"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
@pytest.mark.parametrize("host", ["lambda_handler", "make_handler", "run"])
def test_a_bad_option_is_refused_when_the_host_is_built(
    host: str, options: dict[str, Any], fragment: str
) -> None:
    service = LocalService()
    build: dict[str, Callable[[], object]] = {
        "lambda_handler": lambda: dg.lambda_handler(flow, service=service, **options),
        "make_handler": lambda: make_handler(flow, service, **options),
        "run": lambda: dg.run(flow, 1, skip_time=True, **options),
    }
    with pytest.raises(dg.ValidationError) as caught:
        build[host]()
    assert fragment in str(caught.value)
    assert service.list_executions() == []


def test_a_lambda_handler_with_a_bad_plugin_never_fails_an_execution() -> None:
    # Before, lambda_handler accepted it and each invocation either failed the execution for
    # good (a bad serdes) or logged one error per hook (a bad plugin): the check is at deploy.
    service = LocalService()
    with pytest.raises(dg.ValidationError):
        dg.lambda_handler(flow, service=service, serdes=object())
    handler = dg.lambda_handler(flow, service=service, plugins=[Quiet()])

    def adapter(event: Any) -> InvocationOutput:
        return msgspec.convert(handler(msgspec.to_builtins(event)), InvocationOutput)

    service.register("flow", adapter)
    arn = service.start("flow", "7")
    record = service.run(arn)
    assert (record.status, record.result) == ("SUCCEEDED", "7")


def test_invoke_refuses_a_plugin_that_is_not_one() -> None:
    service = LocalService()
    seen: list[Any] = []

    def handler(event: Any) -> InvocationOutput:
        try:
            return invoke(flow, event, service, plugins=[object()])  # type: ignore[list-item]
        except dg.ValidationError as exc:
            seen.append(exc)
            raise

    service.register("flow", handler)
    service.start("flow", "1")
    service.run_until_idle()  # the engine counts a raising handler as a crash
    assert seen and "subclasses of durable_gen.Plugin" in str(seen[0])


@pytest.mark.parametrize(
    ("plugin", "advice"),
    [(AsyncHook, "plain def"), (GeneratorHook, "plain def"), (MisspeltHook, "Rename it")],
)
def test_a_hook_that_would_never_run_is_refused_by_the_worker_and_the_test_runner(
    plugin: type[dg.Plugin], advice: str, tmp_path: Any
) -> None:
    from durable_gen.local import Worker
    from durable_gen.testing import TestRunner

    with pytest.raises(dg.ValidationError, match=advice):
        Worker(str(tmp_path / "d.db"), plugins=[plugin()])
    with pytest.raises(dg.ValidationError, match=advice):
        TestRunner(plugins=[plugin()])


# --- the clocks of the tracing and telemetry plugins: three units, easy to mix up ---

CLOCKS: list[tuple[str, str, Callable[[], object], str | None]] = [
    # (case, plugin, clock, a fragment of the refusal, or None: accepted)
    ("otel-seconds", "otel", time.time, "returns epoch seconds"),
    ("otel-milliseconds", "otel", lambda: time.time_ns() // 1_000_000, "epoch milliseconds"),
    ("otel-microseconds", "otel", lambda: time.time_ns() // 1_000, "epoch microseconds"),
    ("otel-a-str", "otel", lambda: "now", "as a number"),
    ("otel-not-callable", "otel", 5, "must be a callable"),
    ("otel-nanoseconds", "otel", time.time_ns, None),
    ("otel-float-nanoseconds", "otel", lambda: time.time() * 1e9, None),
    ("otel-virtual-at-zero", "otel", lambda: 0, None),
    ("telemetry-seconds", "telemetry", time.time, "returns epoch seconds"),
    ("telemetry-nanoseconds", "telemetry", time.time_ns, "returns epoch nanoseconds"),
    ("telemetry-none", "telemetry", lambda: None, "as a number"),
    ("telemetry-milliseconds", "telemetry", lambda: time.time_ns() // 1_000_000, None),
    ("telemetry-float-milliseconds", "telemetry", lambda: time.time() * 1000, None),
]


def build_plugin(kind: str, clock: object, sink: Callable[[str], object]) -> dg.Plugin:
    if kind == "otel":
        pytest.importorskip("opentelemetry.sdk")
        from durable_gen.otel import OpenTelemetryPlugin

        return OpenTelemetryPlugin(clock=clock)  # type: ignore[arg-type]
    from durable_gen.telemetry import TelemetryPlugin

    return TelemetryPlugin(sink, clock=clock)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "clock", "fragment"), [c[1:] for c in CLOCKS], ids=[c[0] for c in CLOCKS]
)
def test_a_clock_in_another_unit_is_refused_when_the_plugin_is_built(
    kind: str, clock: Callable[[], object], fragment: str | None
) -> None:
    # Before, time.time for a tracer dated every span in January 1970, and time.time_ns for
    # the telemetry record made it fail at the end of the execution (the record was lost).
    records: list[str] = []
    if fragment is not None:
        with pytest.raises(dg.ValidationError) as caught:
            build_plugin(kind, clock, records.append)
        assert fragment in str(caught.value)
        return
    plugin = build_plugin(kind, clock, records.append)
    assert dg.run(flow, 3, skip_time=True, plugins=[plugin]) == 3
    if kind == "telemetry":
        (record,) = records
        fields = json.loads(record)
        assert isinstance(fields["durationMs"], int)
        assert fields["emittedAt"].startswith(time.strftime("%Y", time.gmtime()))


def test_a_clock_that_cannot_be_read_yet_is_read_when_needed() -> None:
    # clock=lambda: service.clock.now_ms() written before the engine is built
    records: list[str] = []
    holder: dict[str, Callable[[], int]] = {}
    from durable_gen.telemetry import TelemetryPlugin

    plugin = TelemetryPlugin(records.append, clock=lambda: holder["now"]())
    holder["now"] = lambda: time.time_ns() // 1_000_000
    assert dg.run(flow, 4, skip_time=True, plugins=[plugin]) == 4
    assert len(records) == 1


def test_spans_of_a_float_clock_have_integer_times() -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from durable_gen.otel import OpenTelemetryPlugin

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    plugin = OpenTelemetryPlugin(provider, clock=lambda: time.time() * 1e9)
    dg.run(flow, 5, plugins=[plugin], skip_time=True)
    spans = exporter.get_finished_spans()
    assert spans and all(
        isinstance(s.start_time, int) and isinstance(s.end_time, int) for s in spans
    )


@pytest.mark.parametrize("kind", ["logger", "durable-logger", "adapter"])
def test_the_telemetry_record_goes_to_any_kind_of_logger(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Before, dg.get_logger(...) and a LoggerAdapter were refused as sinks (neither is a
    # logging.Logger nor callable), though a durable_gen user has one at hand.
    from durable_gen.telemetry import TelemetryPlugin

    name = f"tests.telemetry.sink.{kind}"
    sinks: dict[str, Any] = {
        "logger": logging.getLogger(name),
        "durable-logger": dg.get_logger(name),
        "adapter": logging.LoggerAdapter(logging.getLogger(name), {}),
    }
    caplog.set_level(logging.INFO, logger=name)
    assert dg.run(flow, 6, skip_time=True, plugins=[TelemetryPlugin(sinks[kind])]) == 6
    (record,) = [r for r in caplog.records if r.name == name]
    assert record.levelno == logging.INFO
    assert json.loads(record.getMessage())["status"] == "SUCCEEDED"


def test_a_sink_of_another_kind_is_refused() -> None:
    from durable_gen.telemetry import TelemetryPlugin

    with pytest.raises(dg.ValidationError, match=r"dg\.get_logger"):
        TelemetryPlugin("durable_gen.telemetry")  # type: ignore[arg-type]
