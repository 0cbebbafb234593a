"""Plugins, traces, the telemetry record and log lines through services of other shapes.

Written from docs/embedding.md ("The drivers") and docs/observability.md alone: a
``DurableService`` over a dict that pages its state (``next_marker``, one operation a page),
one that answers every checkpoint with the whole state instead of what changed, one that lists
``updated_operation_ids`` in each event, and each with a new plugin instance per invocation
(a new process each time) or one for all. One workflow with a retried step, waits, a Map, a
Parallel, a child context, a callback, a WaitForCondition and an Invoke runs on each, and on
the embedded engine (a ``LocalService`` on a ``VirtualClock``). Every hook but the
invocation ones (their number follows how the host schedules) fires as often, with the same
values; the OpenTelemetry spans and the telemetry record are the same; every log line comes
once, with the same step and attempt.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.local import LocalService, VirtualClock
from durable_gen.otel import OpenTelemetryPlugin
from durable_gen.telemetry import TelemetryPlugin

START_MS = 1_735_689_600_000
ARN = "arn:aws:lambda:us-east-1:000000000000:function:shapes:$LATEST/durable-execution/s-1/1"
log = dg.get_logger("tests.service_shapes")


# --- the workflow ------------------------------------------------------------------------------


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=2, jitter="none"))
def flaky(x: int) -> int:
    log.info("flaky %s", x)
    _CALLS.append(x)
    if len(_CALLS) < 3:  # the first two attempts of a run fail
        raise ConnectionError("down")
    return x * 10


_CALLS: list[int] = []


@dg.step
def double(x: int) -> int:
    log.info("double %s", x)
    return 2 * x


@dg.step
def submit(callback_id: str) -> None:
    log.info("submitting")


def check(state: dict[str, int]) -> dict[str, int]:
    log.info("check %s", state["n"])
    return {"n": state["n"] + 1}


def kid(v: int):  # type: ignore[no-untyped-def]
    log.info("kid %s", v)
    a = yield double(v)
    yield dg.Wait(seconds=5, name="kid-wait")
    return a + 1


def branch_a():  # type: ignore[no-untyped-def]
    return (yield double(100))


def branch_b():  # type: ignore[no-untyped-def]
    yield dg.Wait(seconds=3, name="branch-wait")
    return (yield double(200))


def item(x: int, _: int):  # type: ignore[no-untyped-def]
    return (yield double(x))


def everything(n: int):  # type: ignore[no-untyped-def]
    log.info("start %s", n)
    f = yield flaky(n)
    yield dg.Wait(seconds=10, name="pause")
    m = yield dg.Map(item, [1, 2, 3], name="m", max_concurrency=1)  # one order of updates
    p = yield dg.Parallel(
        [dg.Branch(branch_a, name="a"), dg.Branch(branch_b, name="b")], max_concurrency=1
    )
    c = yield dg.Child(kid, (7,), name="kid")
    approval = yield dg.WaitForCallback(submit, name="approval")
    s = yield dg.WaitForCondition(
        check,
        initial_state={"n": 0},
        wait_strategy=dg.WaitStrategy(until=lambda s: s["n"] >= 3, delay=4),
        name="poll",
    )
    tax = yield dg.Invoke("tax", {"amount": n}, name="tax")
    log.info("done %s", approval)
    return {
        "f": f,
        "m": [i.result for i in m.items],
        "p": [i.result for i in p.items],
        "c": c,
        "approval": approval,
        "s": s,
        "tax": tax,
    }


def tax(payload: dict[str, int]) -> dict[str, int]:
    return {"tax": payload["amount"]}


EXPECTED = {
    "f": 50,
    "m": [2, 4, 6],
    "p": [200, 400],
    "c": 15,
    "approval": "yes",
    "s": {"n": 3},
    "tax": {"tax": 5},
}


# --- what is observed --------------------------------------------------------------------------


class Recorder(dg.Plugin):
    def __init__(self, events: list[tuple[Any, ...]]) -> None:
        self.events = events

    def on_execution_start(self, info: Any) -> None:
        self.events.append(("execution_start", info.start_timestamp, info.input_payload))

    def on_operation_change(self, op: Any) -> None:
        self.events.append(
            ("change", op.type, op.name, op.status, op.previous_status, op.by_service, op.attempt)
        )

    def on_operation_start(self, op: Any) -> None:
        self.events.append(("op_start", op.type, op.sub_type, op.name))

    def on_operation_end(self, op: Any, status: str) -> None:
        self.events.append(("op_end", op.type, op.name, status))

    def on_attempt_start(self, attempt: Any) -> None:
        self.events.append(("attempt_start", attempt.name, attempt.attempt))

    def on_attempt_end(self, attempt: Any, outcome: str, error: BaseException | None) -> None:
        self.events.append(("attempt_end", attempt.name, attempt.attempt, outcome))

    def on_execution_end(self, info: Any, status: str, result: Any, error: Any) -> None:
        self.events.append(("execution_end", status, result))


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[Any, ...]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(
            (
                record.getMessage(),
                getattr(record, "operationName", None),
                getattr(record, "attempt", None),
                getattr(record, "durableExecutionArn", None) is not None,
            )
        )


def _spans(exporter: InMemorySpanExporter) -> collections.Counter[tuple[Any, ...]]:
    seen: collections.Counter[tuple[Any, ...]] = collections.Counter()
    for span in exporter.get_finished_spans():
        attrs = dict(span.attributes or {})
        status = (
            attrs.get("durable.operation.status")
            or attrs.get("durable.invocation.status")
            or attrs.get("durable.execution.status")
        )
        seen[
            (
                span.name,
                status,
                str(span.status.status_code),
                attrs.get("durable.attempt.outcome"),
                len(span.links),
            )
        ] += 1
    return seen


class Observed:
    """One run's hooks, spans (both views), telemetry record and log lines."""

    def __init__(self, clock_ns: Callable[[], int] | None, clock_ms: Callable[[], int] | None):
        self.events: list[tuple[Any, ...]] = []
        self.records: list[str] = []
        self.exporters = {"invocation": InMemorySpanExporter(), "execution": InMemorySpanExporter()}
        self.providers = {}
        for view, exporter in self.exporters.items():
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            self.providers[view] = provider
        self.clock_ns = clock_ns
        self.clock_ms = clock_ms

    def plugins(self) -> list[dg.Plugin]:
        otel: list[dg.Plugin] = [
            OpenTelemetryPlugin(self.providers[view], view=view, clock=self.clock_ns)  # type: ignore[arg-type]
            for view in ("invocation", "execution")
        ]
        record = TelemetryPlugin(self.records.append, operations="all", clock=self.clock_ms)
        return [Recorder(self.events), record, *otel]

    def summary(self) -> dict[str, Any]:
        (record,) = self.records
        parsed = json.loads(record)
        return {
            "hooks": collections.Counter(self.events),
            "spans": {view: _spans(exporter) for view, exporter in self.exporters.items()},
            "record": {k: parsed[k] for k in ("status", "durationMs", "operationsByName")},
        }


# --- the services ------------------------------------------------------------------------------


class ShapedService:
    """A ``DurableService`` over a dict (docs/embedding.md), in one of several shapes."""

    def __init__(self, *, page: int | None, whole_state: bool, list_updated: bool) -> None:
        self.now_ms = START_MS
        self.page = page
        self.whole_state = whole_state
        self.list_updated = list_updated
        self.store: dict[str, rt.Operation] = {
            "exec": rt.Operation(
                id="exec",
                type="EXECUTION",
                status="STARTED",
                start_timestamp=START_MS,
                execution_details=rt.ExecutionDetails(input_payload="5"),
            )
        }
        self.timers: dict[tuple[str, str], rt.Timer] = {}
        self.invokes: list[rt.InvokeRequest] = []
        self.changed: set[str] = set()
        self.tokens = (f"t{n}" for n in itertools.count())
        self.token = ""

    def _page(self, marker: str | None) -> rt.ExecutionState:
        ops = list(self.store.values())
        if self.page is None:
            return rt.ExecutionState(operations=ops)
        start = int(marker or 0)
        end = start + self.page
        return rt.ExecutionState(
            operations=ops[start:end], next_marker=str(end) if end < len(ops) else None
        )

    def event(self) -> rt.InvocationInput:
        self.token = next(self.tokens)
        updated = sorted(self.changed) if self.list_updated else None
        self.changed = set()
        return rt.InvocationInput(
            durable_execution_arn=ARN,
            checkpoint_token=self.token,
            initial_execution_state=self._page(None),
            updated_operation_ids=updated,
        )

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Sequence[rt.OperationUpdate]
    ) -> rt.CheckpointResponse:
        if checkpoint_token != self.token:
            raise dg.InvalidCheckpointTokenError("use the newest token")
        applied = rt.apply_updates(self.store, list(updates), now_ms=self.now_ms)
        for timer in applied.timers:
            self.timers[timer.kind, timer.operation_id] = timer
        self.invokes.extend(applied.invokes)
        self.token = next(self.tokens)
        ops = list(self.store.values()) if self.whole_state else list(applied.operations)
        return rt.CheckpointResponse(
            checkpoint_token=self.token, new_execution_state=rt.ExecutionState(operations=ops)
        )

    def get_state(
        self, execution_arn: str, checkpoint_token: str, marker: str
    ) -> rt.ExecutionState:
        return self._page(marker)

    def between_invocations(self) -> bool:
        """Complete what the outside completes; False when nothing is left to do."""
        progressed = False
        for request in self.invokes:
            payload = json.loads(request.payload) if request.payload else None
            rt.complete_invoke(
                self.store,
                request.operation_id,
                now_ms=self.now_ms,
                result=json.dumps(tax(payload)),
            )
            self.changed.add(request.operation_id)
            progressed = True
        self.invokes.clear()
        for op in list(self.store.values()):
            if op.type == "CALLBACK" and op.status == "STARTED" and op.callback_details:
                assert op.callback_details.callback_id is not None
                rt.complete_callback(
                    self.store, op.callback_details.callback_id, now_ms=self.now_ms, result='"yes"'
                )
                self.changed.add(op.id)
                progressed = True
        if progressed or any(op.status == "READY" for op in self.store.values()):
            return True
        if not self.timers:
            return False
        self.now_ms = max(self.now_ms, min(t.due_ms for t in self.timers.values()))
        for key, timer in sorted(self.timers.items(), key=lambda kv: kv[1].due_ms):
            if timer.due_ms <= self.now_ms:
                del self.timers[key]
                if rt.fire_timer(self.store, timer, now_ms=self.now_ms) is not None:
                    self.changed.add(timer.operation_id)
        return True


def _on_engine() -> tuple[Any, dict[str, Any], list[tuple[Any, ...]]]:
    """The workflow on the embedded engine, on a virtual clock, START sent with each outcome
    (``start_window=None``: no step's START goes out early because the machine is slow)."""
    lines = Lines()
    logging.getLogger("tests.service_shapes").addHandler(lines)
    try:
        service = LocalService(clock=VirtualClock(start_ms=START_MS))
        observed = Observed(
            lambda: service.clock.now_ms() * 1_000_000, lambda: service.clock.now_ms()
        )
        handler = rt.make_handler(
            everything, service, plugins=observed.plugins(), start_window=None
        )
        service.register("shapes", handler)
        service.register(
            "tax", lambda payload: json.dumps(tax(json.loads(payload or "{}"))), durable=False
        )
        arn = service.start("shapes", "5")
        service.run(arn)
        (callback,) = [op for op in service.get_operations(arn) if op.type == "CALLBACK"]
        assert callback.callback_details is not None and callback.callback_details.callback_id
        service.send_callback_success(callback.callback_details.callback_id, '"yes"')
        record = service.run(arn)
        assert record.status == "SUCCEEDED", record
        return json.loads(record.result or "null"), observed.summary(), lines.lines
    finally:
        logging.getLogger("tests.service_shapes").removeHandler(lines)


@pytest.fixture(scope="module")
def engine() -> tuple[Any, dict[str, Any], list[tuple[Any, ...]]]:
    logging.getLogger("tests.service_shapes").setLevel(logging.INFO)
    _CALLS.clear()
    return _on_engine()


SHAPES = [
    pytest.param({"page": None, "whole_state": False, "list_updated": False}, id="plain"),
    pytest.param({"page": 1, "whole_state": False, "list_updated": False}, id="pages-of-one"),
    pytest.param({"page": None, "whole_state": True, "list_updated": False}, id="whole-state"),
    pytest.param({"page": 2, "whole_state": False, "list_updated": True}, id="updated-ids"),
]


@pytest.mark.parametrize("fresh", [False, True], ids=["one-process", "process-per-invocation"])
@pytest.mark.parametrize("shape", SHAPES)
def test_a_service_of_any_shape_reports_what_the_engine_reports(
    engine: tuple[Any, dict[str, Any], list[tuple[Any, ...]]], shape: dict[str, Any], fresh: bool
) -> None:
    engine_result, engine_summary, engine_lines = engine
    assert engine_result == EXPECTED
    _CALLS.clear()
    service = ShapedService(**shape)
    observed = Observed(lambda: service.now_ms * 1_000_000, lambda: service.now_ms)
    shared = observed.plugins()
    lines = Lines()
    logging.getLogger("tests.service_shapes").addHandler(lines)
    try:
        for _ in range(40):
            plugins = observed.plugins() if fresh else shared
            output = rt.invoke(
                everything,
                service.event(),
                service,
                plugins=plugins,
                clock=lambda: service.now_ms / 1000,
                start_window=None,  # as on the engine above
            )
            if output.status != "PENDING" or not service.between_invocations():
                break
    finally:
        logging.getLogger("tests.service_shapes").removeHandler(lines)
    assert output.status == "SUCCEEDED" and json.loads(output.result or "null") == EXPECTED
    summary = observed.summary()
    assert summary["hooks"] == engine_summary["hooks"]
    assert summary["spans"] == engine_summary["spans"]
    assert summary["record"] == engine_summary["record"]
    assert lines.lines == engine_lines
    assert len(set(lines.lines)) == len(lines.lines)  # each line once
