"""``OpenTelemetryPlugin()`` with the global tracer provider, built before the provider is set
(at import time, as a module-level plugin is): its spans still take the ids the docs promise,
so every link and parent of an execution's trace names a span of that trace. And a provider
whose spans record nothing (no SDK, a sampler that drops the trace) is no trouble.

The global provider can be set once per process, so the program runs in a process of its own.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import pytest

import durable_gen as dg

PROGRAM = textwrap.dedent(
    """
    import json
    import durable_gen as dg
    from durable_gen.otel import OpenTelemetryPlugin, trace_id_of
    from durable_gen.local import LocalService, VirtualClock
    from durable_gen.runtime import make_handler

    built_at_import = OpenTelemetryPlugin()

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    def flow(_):
        yield dg.Wait(seconds=1, name="cool-down")
        return (yield dg.Step(lambda: 1, name="one"))

    service = LocalService(clock=VirtualClock())
    service.register("flow", make_handler(flow, service, plugins=[built_at_import]))
    arn = service.start("flow", "null")
    assert service.run(arn).status == "SUCCEEDED"
    spans = exporter.get_finished_spans()
    ids = {s.context.span_id for s in spans}
    print(json.dumps({
        "names": sorted(s.name for s in spans),
        "traces": sorted({s.context.trace_id == trace_id_of(arn) for s in spans}),
        "dangling_links": [s.name for s in spans for l in s.links if l.context.span_id not in ids],
        "parents_inside": sorted(
            s.name for s in spans if s.parent is not None and s.parent.span_id in ids
        ),
    }))
    """
)


def test_a_plugin_built_before_the_global_provider_links_its_spans() -> None:
    pytest.importorskip("opentelemetry.sdk")
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["names"] == [
        "Invocation", "Invocation", "Workflow", "cool-down", "cool-down", "one", "one attempt 1",
    ]  # fmt: skip
    assert seen["traces"] == [True]
    # Before, the plugin kept the proxy tracer: span ids were random, so every link to the
    # Workflow span and to an operation's first span named a span that does not exist.
    assert seen["dangling_links"] == []
    assert seen["parents_inside"] == ["cool-down", "cool-down", "one", "one attempt 1"]


def sampled_flow(_: object) -> object:
    yield dg.Wait(seconds=1, name="cool-down")
    value = yield dg.Step(lambda: 1, name="one")
    yield dg.Child(lambda: (yield dg.Step(lambda: 2, name="two")), name="kid", virtual=True)
    return value


@pytest.mark.parametrize("provider", ["no-op", "sampled-out"])
def test_spans_that_record_nothing_are_no_trouble(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A provider whose spans record nothing (the API's no-op one, or the SDK's when the sampler
    # drops the trace): before, every step attempt raised AttributeError in the plugin, logged
    # as a warning each time.
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
    from opentelemetry.trace import NoOpTracerProvider

    from durable_gen.otel import OpenTelemetryPlugin

    chosen = NoOpTracerProvider() if provider == "no-op" else TracerProvider(sampler=ALWAYS_OFF)
    caplog.set_level(logging.WARNING, logger="durable_gen.plugins")
    plugin = OpenTelemetryPlugin(chosen)
    assert dg.run(sampled_flow, None, skip_time=True, plugins=[plugin]) == 1
    assert [r.getMessage() for r in caplog.records if r.name == "durable_gen.plugins"] == []
