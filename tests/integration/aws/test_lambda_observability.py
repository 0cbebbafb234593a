"""What docs/observability.md promises, through the Lambda handler on AWS's emulator: every line
of the durable logger once per execution with its execution (and, in a step, its operation and
attempt); one telemetry record when the execution ends; one trace across all its invocations.
Each invocation builds nothing from an earlier one's memory but what the plugins keep."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

import durable_gen as dg

try:
    from .emulator import Emulator, LambdaEndpoint
    from .lambda_support import deploy
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]
    from lambda_support import deploy  # type: ignore[no-redef]

LOGGER = "tests.integration.observability"
log = dg.get_logger(LOGGER)
FAILED_ONCE: set[str] = set()


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1))
def reserve(order: str) -> str:
    log.info("reserving %s", order)
    if order not in FAILED_ONCE:
        FAILED_ONCE.add(order)
        raise ConnectionError("stock service busy")
    return f"{order}-reserved"


@dg.step
def pack(item: str) -> str:
    log.info("packing %s", item)
    return item.upper()


def pack_item(item: str) -> Any:
    log.info("item %s", item)
    return (yield pack(item))


def order_flow(order: dict[str, Any]) -> Any:
    log.info("order %s", order["id"])
    reservation = yield reserve(order["id"])
    log.info("reserved")
    yield dg.Wait(seconds=1, name="cool-down")
    log.info("cooled down")
    packed = yield dg.Map(pack_item, order["items"], name="pack")
    log.info("packed %d", packed.success_count)
    return {"reservation": reservation, "packed": packed.results()}


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept() -> Iterator[list[logging.LogRecord]]:
    handler = Keep()
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)


def test_logs_record_and_trace_of_one_execution_through_the_handler(
    emulator: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    kept: list[logging.LogRecord],
) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from durable_gen.otel import OpenTelemetryPlugin
    from durable_gen.telemetry import TelemetryPlugin

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    records: list[str] = []
    plugins = [OpenTelemetryPlugin(provider), TelemetryPlugin(records.append)]
    deploy(emulator, lambda_endpoint, function_name, order_flow, plugins=plugins)
    arn = emulator.start(function_name, {"id": "o-9", "items": ["mug", "tea"]})
    outcome = emulator.wait(arn, timeout=30)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == {"reservation": "o-9-reserved", "packed": ["MUG", "TEA"]}
    assert len(lambda_endpoint.invocations_for(arn)) >= 3  # the retry and the wait resumed it

    # logs: each workflow line once, each step line once per attempt, all of this execution
    counts = Counter(r.getMessage() for r in kept)
    assert counts == {
        "order o-9": 1, "reserving o-9": 2, "reserved": 1, "cooled down": 1,
        "item mug": 1, "item tea": 1, "packing mug": 1, "packing tea": 1, "packed 2": 1,
    }  # fmt: skip
    arns = {getattr(r, "durableExecutionArn", None) for r in kept}
    assert arns == {arn}
    reserving = [r for r in kept if r.getMessage() == "reserving o-9"]
    assert [(r.operationName, r.attempt) for r in reserving] == [("reserve", 1), ("reserve", 2)]

    # the telemetry record: one, when the execution ended
    (text,) = records
    record = json.loads(text)
    assert (record["executionArn"], record["status"]) == (arn, "SUCCEEDED")
    by_name = record["operationsByName"]
    assert by_name["reserve"]["maxAttempt"] == 2
    assert by_name["cool-down"]["minDurationMs"] >= 1000
    assert record["durationMs"] >= 1000

    # the trace: one, with a Workflow span and one Invocation span per invocation
    spans = exporter.get_finished_spans()
    assert len({s.context.trace_id for s in spans}) == 1
    names = Counter(s.name for s in spans)
    assert names["Workflow"] == 1
    assert names["Invocation"] == len(lambda_endpoint.invocations_for(arn))
    (workflow,) = [s for s in spans if s.name == "Workflow"]
    assert workflow.attributes is not None
    assert workflow.attributes["durable.execution.status"] == "SUCCEEDED"
    attempts = sorted(
        s.attributes["durable.attempt.outcome"]
        for s in spans
        if s.name.startswith("reserve attempt") and s.attributes is not None
    )
    assert attempts == ["FAILED", "SUCCEEDED"]
