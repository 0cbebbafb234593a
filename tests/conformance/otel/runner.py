"""Run AWS's OpenTelemetry and telemetry requirements on the embedded engine.

The requirements ship in the wheels ``aws-durable-execution-conformance-tests-otel`` (suites
``otel-invocation``, ``otel-execution``, ``otel-long-running``) and
``aws-durable-execution-conformance-tests-telemetry`` (suite ``telemetry``); they are fetched,
checked and unpacked by ``tests/conformance/suite.py`` like the core requirements. For each one:

1. The scenario named by ``Input.scenario`` (``scenarios.py``) runs on a fresh ``LocalService``
   with a virtual clock, driven as the core runner drives its requirements (callback actions,
   timers), with ``OpenTelemetryPlugin`` on every durable function, its spans going to the
   OpenTelemetry SDK's in-memory exporter, its clock the engine's.
2. The history and final status are matched as in the core suite; the bindings made there
   (``${STEP1}``, ``${TARGET_EXECUTION_ARN}``, ...) plus ``EXECUTION_ARN`` and ``SERVICE_NAME``
   fill the requirement's ``TelemetryAssertions``.
3. The spans of the execution's trace (and of the traces of the other executions the assertions
   allow) become the suite's own ``Trace`` model and go through its ``validate_trace``.

The invocation suite runs in the plugin's ``"invocation"`` view, the execution suite in the
``"execution"`` view, and each long-running requirement in both (``TelemetryAssertions`` and
``ExecutionTelemetryAssertions``); it passes when both do. The telemetry requirement runs its
workflow with ``TelemetryPlugin`` writing to a list and applies the suite's ``validate_records``.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, Final

import msgspec

import durable_gen as dg
from durable_gen.local import LocalService, VirtualClock
from durable_gen.otel import OpenTelemetryPlugin, OtelView
from durable_gen.telemetry import TelemetryPlugin

from .. import suite
from ..matching import (
    generate_variables,
    match_history,
    match_result,
    parse_callback_actions,
    substitute,
)
from ..runner import _drive
from .scenarios import SCENARIOS

OTEL = suite.Wheel(
    "aws-durable-execution-conformance-tests-otel",
    "0.2.0",
    "aws_durable_execution_conformance_tests_otel-0.2.0-py3-none-any.whl",
    "622638184567947282a5a95379a011c8a5982f2e5ea467090df6e61c04f817ec",
    "aws_durable_execution_conformance_tests_otel",
    "DURABLE_GEN_OTEL_CONFORMANCE_WHEEL",
)
TELEMETRY = suite.Wheel(
    "aws-durable-execution-conformance-tests-telemetry",
    "0.1.0",
    "aws_durable_execution_conformance_tests_telemetry-0.1.0-py3-none-any.whl",
    "08bfbc687328bc5eae3719c6ea7f03971f75da6b6d0a03da97d3e390ba67276f",
    "aws_durable_execution_conformance_tests_telemetry",
    "DURABLE_GEN_TELEMETRY_CONFORMANCE_WHEEL",
)
OTEL_SUITES: Final = ("otel-invocation", "otel-execution", "otel-long-running")
FUNCTION_NAME: Final = "otel-conformance-handler"
SERVICE_NAME: Final = "durable-gen-conformance"

VIEWS: Final[dict[str, tuple[tuple[OtelView, str], ...]]] = {
    "otel-invocation": (("invocation", "TelemetryAssertions"),),
    "otel-execution": (("execution", "TelemetryAssertions"),),
    "otel-long-running": (
        ("invocation", "TelemetryAssertions"),
        ("execution", "ExecutionTelemetryAssertions"),
    ),
}

#: Requirements durable_gen cannot meet, with the reason (they count as failed).
UNSUPPORTED: Final[dict[str, str]] = {}


@dataclass
class Outcome:
    """The verdict on one requirement (all its views)."""

    errors: list[str] = field(default_factory=list)
    spans: list[Any] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.errors


@cache
def _modules() -> dict[str, Any]:
    """The suites' validators and models, imported from the unpacked wheels."""
    for wheel in (suite.CORE, OTEL, TELEMETRY):
        root = str(suite.ensure_unpacked(suite.CACHE_DIR, wheel))
        if root not in sys.path:
            sys.path.append(root)
    names = {
        "placeholders": "aws_durable_execution_conformance_tests.variables",
        "model": f"{OTEL.package}.model",
        "validators": f"{OTEL.package}.validators",
        "t_model": f"{TELEMETRY.package}.model",
        "t_validators": f"{TELEMETRY.package}.validators",
    }
    return {key: importlib.import_module(name) for key, name in names.items()}


def otel_requirements() -> list[suite.Requirement]:
    root = suite.ensure_unpacked(suite.CACHE_DIR, OTEL) / OTEL.package / "test_requirements"
    return _sorted(r for r in suite._load_all(root) if r.suite in OTEL_SUITES)


def telemetry_requirements() -> list[suite.Requirement]:
    root = suite.ensure_unpacked(suite.CACHE_DIR, TELEMETRY)
    return _sorted(suite._load_all(root / TELEMETRY.package / "test_requirements"))


def _sorted(reqs: Iterable[suite.Requirement]) -> list[suite.Requirement]:
    return sorted(reqs, key=lambda r: (r.suite, int(r.key.rsplit("-", 1)[-1])))


# --- one run -----------------------------------------------------------------------------------


@dataclass
class _Run:
    engine: LocalService
    arn: str
    variables: dict[str, Any]
    errors: list[str]


def _execute(
    req: suite.Requirement,
    workflow: Callable[..., Any],
    plugins: list[dg.Plugin],
    clock: VirtualClock,
    *,
    targets: Mapping[str, Callable[..., Any]] | None = None,
    execution_timeout: int | None = None,
) -> _Run:
    engine = LocalService(clock=clock)
    engine.register(FUNCTION_NAME, dg.make_handler(workflow, engine, plugins=plugins))
    for name, target in (targets or {}).items():
        engine.register(name, dg.make_handler(target, engine, plugins=plugins))
    variables = generate_variables(req.variables)
    payload = json.dumps(substitute(req.input, variables))
    actions = parse_callback_actions(req.callback_actions, variables)
    arn = engine.start(FUNCTION_NAME, payload, execution_timeout=execution_timeout)
    errors = _drive(engine, clock, arn, actions, variables)
    record = engine.get_execution(arn)
    history = [msgspec.to_builtins(event) for event in engine.get_history(arn)]
    errors += match_history(req.expected_history, history, variables)
    error = msgspec.to_builtins(record.error) if record.error is not None else None
    errors += match_result(req.expected_result, record.status, record.result, error, variables)
    variables["EXECUTION_ARN"] = arn
    return _Run(engine, arn, variables, errors)


def _assertions(raw: Any, variables: Mapping[str, Any]) -> Any:
    ctx = _modules()["placeholders"].PlaceholderContext()
    for name, value in variables.items():
        ctx.bind(name, value)
    ctx.bind("SERVICE_NAME", SERVICE_NAME)
    return ctx.substitute(raw)


def run_otel(req: suite.Requirement) -> Outcome:
    """Run ``req`` in each of its views; the outcome gathers every view's errors."""
    scenario_name = str(req.input["scenario"])
    if scenario_name in UNSUPPORTED:
        return Outcome([f"not supported: {UNSUPPORTED[scenario_name]}"])
    outcome = Outcome()
    for view, key in VIEWS[req.suite]:
        errors, spans = _run_view(req, view, req.data[key])
        outcome.errors += [f"[{view} view] {error}" for error in errors]
        outcome.spans += spans
    return outcome


def _run_view(req: suite.Requirement, view: OtelView, raw: Any) -> tuple[list[str], list[Any]]:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    scenario = SCENARIOS[str(req.input["scenario"])]()
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    clock = VirtualClock(auto_advance=False)
    plugin = OpenTelemetryPlugin(provider, view=view, clock=lambda: clock.now_ms() * 1_000_000)
    began = clock.now_ms()
    run = _execute(
        req,
        scenario.workflow,
        [plugin],
        clock,
        targets=scenario.targets,
        execution_timeout=scenario.execution_timeout,
    )
    spans = list(exporter.get_finished_spans())
    provider.shutdown()
    assertions = _assertions(raw, run.variables)
    allowed = assertions.get("allowed_execution_arns", (run.arn,))
    allowed = (allowed,) if isinstance(allowed, str) else tuple(allowed)
    mods = _modules()
    query = mods["model"].TelemetryQuery(
        execution_arn=run.arn,
        service_name=SERVICE_NAME,
        started_at=_datetime(began * 1_000_000),
        ended_at=_datetime(clock.now_ms() * 1_000_000),
        execution_arns=tuple(dict.fromkeys((run.arn, *allowed))),
    )
    trace = to_trace(spans, query.execution_arns)
    errors = run.errors + mods["validators"].validate_trace(trace, assertions, query)
    return errors, spans


def _datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def _hex(value: int, width: int) -> str:
    return f"{value:0{width}x}"


def to_trace(spans: list[Any], execution_arns: tuple[str, ...]) -> Any:
    """The suite's ``Trace`` of the traces that hold a span of one of ``execution_arns``."""
    model = _modules()["model"]
    wanted = {arn.lower() for arn in execution_arns}
    trace_ids = [
        span.context.trace_id
        for span in spans
        if str((span.attributes or {}).get("durable.execution.arn", "")).lower() in wanted
    ]
    converted = []
    for span in spans:
        if span.context.trace_id not in trace_ids:
            continue
        resource = dict(span.resource.attributes)
        converted.append(
            model.Span(
                trace_id=_hex(span.context.trace_id, 32),
                span_id=_hex(span.context.span_id, 16),
                parent_span_id=_hex(span.parent.span_id, 16) if span.parent else None,
                name=span.name,
                kind=span.kind.name,
                start_time=_datetime(span.start_time),
                end_time=_datetime(span.end_time),
                status=span.status.status_code.name,
                attributes={**resource, **dict(span.attributes or {})},
                links=tuple(
                    model.SpanLink(
                        trace_id=_hex(link.context.trace_id, 32),
                        span_id=_hex(link.context.span_id, 16),
                    )
                    for link in span.links
                ),
                service_name=resource.get("service.name"),
            )
        )
    primary = _hex(trace_ids[0], 32) if trace_ids else ""
    return model.Trace(trace_id=primary, spans=tuple(converted))


# --- telemetry ---------------------------------------------------------------------------------


def _increment(event: Any) -> Any:
    def add_one() -> dict[str, int]:
        return {"value": int(event["value"]) + 1}

    return (yield dg.Step(add_one, name="increment"))


def run_telemetry(req: suite.Requirement) -> Outcome:
    """Run the telemetry requirement's workflow with ``TelemetryPlugin`` writing to a list."""
    lines: list[str] = []
    plugin = TelemetryPlugin(lines.append, include_input=True, include_output=True)
    run = _execute(req, _increment, [plugin], VirtualClock(auto_advance=False))
    mods = _modules()
    records = [
        record
        for line in lines
        if (record := mods["t_model"].parse_record({"message": line})) is not None
    ]
    assertions = _assertions(req.data.get("TelemetryAssertions", {}), run.variables)
    expected = mods["t_model"].parse_execution_arn(run.arn)
    errors = run.errors + mods["t_validators"].validate_records(
        records, assertions.get("records"), expected
    )
    return Outcome(errors)


def render(spans: list[Any]) -> str:
    """A text picture of spans: one line each, indented under its parent, in start order."""
    by_parent: dict[int | None, list[Any]] = {}
    ids = {span.context.span_id for span in spans}
    for span in sorted(spans, key=lambda s: (s.start_time, s.end_time)):
        parent = span.parent.span_id if span.parent and span.parent.span_id in ids else None
        by_parent.setdefault(parent, []).append(span)
    origin = min((span.start_time for span in spans), default=0)
    lines: list[str] = []

    def walk(parent: int | None, depth: int) -> None:
        for span in by_parent.get(parent, []):
            attrs = span.attributes or {}
            status = attrs.get("durable.operation.status") or attrs.get(
                "durable.invocation.status", attrs.get("durable.execution.status", "")
            )
            start = (span.start_time - origin) / 1e6
            lines.append(
                f"{'  ' * depth}{span.name:<{40 - 2 * depth}} {status:<10} "
                f"{span.status.status_code.name:<6} +{start:>9.3f} ms  "
                f"{(span.end_time - span.start_time) / 1e6:>9.3f} ms  links={len(span.links)}"
            )
            walk(span.context.span_id, depth + 1)

    walk(None, 0)
    return "\n".join(lines)
