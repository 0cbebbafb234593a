"""Print the spans of one real run, as text (the picture in docs/observability.md).

``python -m tests.conformance.otel.picture [invocation|execution]`` runs a small order workflow
on the embedded engine in real time (a step that fails once and is retried after 1 s, a 1 s
wait, a Map of two items) with ``OpenTelemetryPlugin`` and the SDK's in-memory exporter, then
prints one line per span, indented under its parent.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Generator
from typing import Any

import durable_gen as dg
from durable_gen.local import LocalService
from durable_gen.otel import OpenTelemetryPlugin

from .runner import render

_calls = {"reserve": 0}


def reserve(order: str) -> str:
    _calls["reserve"] += 1
    if _calls["reserve"] == 1:
        raise ConnectionError("inventory service busy")
    return f"{order}-reserved"


def pack(item: str) -> str:
    return item.upper()


def order(event: dict[str, Any]) -> Generator[Any, Any, Any]:
    reservation = yield dg.Step(
        reserve,
        (event["order"],),
        name="reserve",  # a plain function names no step by itself
        retry=dg.Retry(max_attempts=3, initial_delay=1, jitter="none"),
    )
    yield dg.Wait(1, name="cool-down")
    packed = yield dg.Map(pack, event["items"], name="pack")
    return {"reservation": reservation, "packed": packed.results()}


def main(view: str = "invocation") -> str:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "orders"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine = LocalService()
    plugin = OpenTelemetryPlugin(provider, view=view)  # type: ignore[arg-type]
    engine.register("orders", dg.make_handler(order, engine, plugins=[plugin]))
    _calls["reserve"] = 0
    arn = engine.start("orders", json.dumps({"order": "o-17", "items": ["mug", "tea"]}))
    engine.run(arn)
    return render(list(exporter.get_finished_spans()))


if __name__ == "__main__":
    print(main(*sys.argv[1:]))
