"""Observability, from docs/observability.md and docs/cli.md (round 13): log lines of workflow and
step code across waits, retries, Map items run one at a time, a virtual child, a
``yield from`` sub-workflow, a Parallel holding a Map, an ``except`` after a failed step, a
saga and a ``finally``, in every checkpointing mode, through a ``LoggerAdapter`` and a
formatter naming the extra fields; spans of failed steps, children and items in both views
(status, description, nesting inside their parents); and ``show`` of a nested batch stopped or
timed out while its items wait, retry and hold a callback."""

from __future__ import annotations

import functools
import io
import logging
from collections import Counter
from collections.abc import Generator, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import durable_gen as dg
from durable_gen.local._text import describe_execution
from durable_gen.otel import OpenTelemetryPlugin
from durable_gen.testing import DurableRun, TestRunner, current_attempt

_NAME = "durable_gen.tests.round13"
_log = dg.get_logger(_NAME)


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept() -> Iterator[_Keep]:
    """The records of this module's logger, whatever earlier tests configured."""
    handler = _Keep()
    logger = _log.logger
    saved = (logger.level, logger.disabled, logger.propagate)
    manager_disable = logging.root.manager.disable
    logging.disable(logging.NOTSET)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.disabled = False
    logger.propagate = False
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(saved[0])
    logger.disabled, logger.propagate = saved[1], saved[2]
    logging.disable(manager_disable)


def _show(runner: TestRunner, run: DurableRun[Any]) -> str:
    service = runner.service
    return describe_execution(
        run.record,
        service.get_operations(run.arn),
        service.waiting_on(run.arn),
        service.clock.now_ms(),
    )


# --- every line once, in every checkpointing mode -------------------------------------------


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def _flaky(i: int) -> int:
    info = current_attempt()
    assert info is not None
    _log.info("flaky %s attempt %s", i, info.attempt)
    if info.attempt < 2:
        raise ValueError(f"first try of {i}")
    return i


@dg.step
def _undo(i: int) -> None:
    _log.info("undo %s", i)


@dg.step(compensate=_undo, retry=dg.Retry.never())
def _act(i: int) -> int:
    _log.info("act %s", i)
    return i


@dg.step(retry=dg.Retry.never())
def _refuse() -> None:
    raise ValueError("no")


def _namer(item: int, index: int) -> str:
    _log.info("namer %s", index)
    return f"it-{index}"


def _item(i: int) -> Generator[Any, Any, int]:
    _log.info("item %s start", i)
    yield dg.Wait(seconds=1 + i % 3, name=f"w{i}")
    _log.info("item %s mid", i)
    got = yield _flaky(i)
    _log.info("item %s end", i)
    return got


def _virtual_kid(x: int) -> Generator[Any, Any, int]:
    _log.info("virtual start")
    yield dg.Wait(seconds=2, name="virtual-wait")
    _log.info("virtual end")
    return x


def _inline(x: int) -> Generator[Any, Any, int]:
    _log.info("inline start")
    yield dg.Wait(seconds=1, name="inline-wait")
    _log.info("inline end")
    return x


def _branch_waits() -> Generator[Any, Any, int]:
    _log.info("branch one start")
    yield dg.Wait(seconds=3, name="branch-wait")
    _log.info("branch one end")
    return 1


def _branch_maps() -> Generator[Any, Any, list[int]]:
    _log.info("branch two start")
    batch = yield dg.Map(_item, [10, 11], name="inner", max_concurrency=1)
    _log.info("branch two end")
    return batch.get_results()


@dg.workflow
def _tour(_: None) -> Generator[Any, Any, Any]:
    _log.info("begin")
    batch = yield dg.Map(_item, [0, 1, 2], name="m", max_concurrency=1, item_namer=_namer)
    _log.info("after map")
    v = yield dg.Child(_virtual_kid, (5,), name="vk", virtual=True)
    _log.info("after virtual")
    s = yield from _inline(3)
    _log.info("after inline")
    both = yield dg.Parallel(
        [dg.Branch(_branch_waits, name="b1"), dg.Branch(_branch_maps, name="b2")], name="par"
    )
    _log.info("after parallel")
    yield _act(1)
    try:
        yield _refuse()
    except dg.StepFailedError:
        _log.info("caught")
        yield dg.Wait(seconds=1, name="after-caught")
        _log.info("after caught wait")
    yield dg.RunCompensations()
    _log.info("compensated")
    try:
        yield dg.Wait(seconds=1, name="last")
        _log.info("end")
    finally:
        _log.info("finally")
    return [batch.get_results(), v, s, both.get_results()]


_TOUR_LINES = Counter(
    [
        "begin",
        *(f"namer {i}" for i in range(3)),
        *(f"item {i} {at}" for i in (0, 1, 2, 10, 11) for at in ("start", "mid", "end")),
        *(f"flaky {i} attempt {n}" for i in (0, 1, 2, 10, 11) for n in (1, 2)),
        "after map",
        "virtual start",
        "virtual end",
        "after virtual",
        "inline start",
        "inline end",
        "after inline",
        "branch one start",
        "branch one end",
        "branch two start",
        "branch two end",
        "after parallel",
        "act 1",
        "caught",
        "after caught wait",
        "undo 1",
        "compensated",
        "end",
        "finally",
    ]
)


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_each_line_once_in_every_checkpointing_mode(kept: _Keep, mode: dg.CheckpointMode) -> None:
    runner = TestRunner(checkpointing=mode)
    run = runner.run(_tour)
    assert run.result() == [[0, 1, 2], 5, 3, [1, [10, 11]]]
    seen = Counter(r.getMessage() for r in kept.records)
    assert seen == _TOUR_LINES, (seen - _TOUR_LINES, _TOUR_LINES - seen)
    ops = {op.id: op for op in run.operations()}
    for record in kept.records:
        message = record.getMessage()
        assert getattr(record, "durableExecutionArn", None) == run.arn, message
        if message.startswith(("flaky", "act", "undo")):
            assert ops[getattr(record, "operationId", "")].name == getattr(
                record, "operationName", None
            )
        else:  # workflow code: the execution only
            assert not hasattr(record, "operationId"), message
            assert not hasattr(record, "replaying"), message
    # a step of an item of the Map inside the Parallel's branch names that item as its parent
    inner = [r for r in kept.records if r.getMessage().startswith("flaky 11")]
    assert {ops[getattr(r, "parentId", "")].name for r in inner} == {"map-item-1"}
    assert [getattr(r, "attempt", None) for r in inner] == [1, 2]


def test_an_adapter_and_a_formatter_naming_the_fields_see_each_line_once() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        logging.Formatter(
            "%(funcName)s|%(message)s|%(order)s|%(durableExecutionArn)s|%(replaying)s",
            defaults={"replaying": "-", "durableExecutionArn": "-"},
        )
    )
    logger = _log.logger
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    adapter = logging.LoggerAdapter(_log, {"order": "o-9"})
    replaying = logging.LoggerAdapter(
        dg.get_logger(_NAME, log_during_replay=True), {"order": "o-9"}
    )

    @dg.step
    def charge(order: str) -> str:
        adapter.info("charging")
        return order

    @dg.workflow
    def checkout(order: str) -> Generator[Any, Any, str]:
        adapter.info("start")
        replaying.info("always")
        got = yield charge(order)
        yield dg.Wait(seconds=1, name="pause")
        adapter.info("done")
        return got

    try:
        run = TestRunner().run(checkout, "o-9")
        assert run.result() == "o-9"
        adapter.info("outside")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
    lines = stream.getvalue().splitlines()
    assert lines == [
        f"checkout|start|o-9|{run.arn}|-",
        f"checkout|always|o-9|{run.arn}|-",
        f"charge|charging|o-9|{run.arn}|-",
        f"checkout|always|o-9|{run.arn}|True",  # the second invocation replays it
        f"checkout|done|o-9|{run.arn}|-",
        "test_an_adapter_and_a_formatter_naming_the_fields_see_each_line_once|outside|o-9|-|-",
    ]


# --- spans of failures in both views ------------------------------------------------------------


@dg.step(retry=dg.Retry.never())
def _boom(i: int) -> int:
    if i == 1:
        raise ValueError(f"bad {i}")
    return i


def _waits_then_booms(i: int) -> Generator[Any, Any, int]:
    yield dg.Wait(seconds=2, name=f"rest-{i}")
    return (yield _boom(i))


@dg.workflow
def _failing(_: None) -> Generator[Any, Any, Any]:
    yield dg.Map(_waits_then_booms, [0, 1, 2], name="m", completion=dg.Completion.all_completed())
    try:
        yield dg.Child(_waits_then_booms, (1,), name="kid")
    except dg.ChildFailedError as exc:
        assert exc.error_type == "ValueError"
    return (yield _boom(1))


def _spans(view: str) -> tuple[DurableRun[Any], list[ReadableSpan]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runner = TestRunner(plugins=[OpenTelemetryPlugin(provider, view=view)])  # type: ignore[arg-type]
    run = runner.run(_failing)
    return run, list(exporter.get_finished_spans())


@pytest.mark.parametrize("view", ["invocation", "execution"])
def test_failures_are_error_spans_inside_their_parents(view: str) -> None:
    run, spans = _spans(view)
    assert run.status == "FAILED"
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    for span in spans:  # every parent is exported and contains its child
        if span.parent is None or span.parent.span_id not in by_id:
            continue
        parent = by_id[span.parent.span_id]
        assert parent.start_time is not None and span.start_time is not None
        assert parent.end_time is not None and span.end_time is not None
        assert parent.start_time <= span.start_time and span.end_time <= parent.end_time, (
            span.name,
            parent.name,
        )
    (workflow,) = [s for s in spans if s.name == "Workflow"]
    assert workflow.status.status_code.name == "ERROR"
    assert workflow.status.description == "ValueError: bad 1"
    assert workflow.attributes is not None
    assert workflow.attributes["durable.execution.status"] == "FAILED"

    def ended(name: str) -> list[ReadableSpan]:
        return [
            s
            for s in spans
            if s.name == name
            and s.attributes is not None
            and s.attributes.get("durable.operation.status") in ("SUCCEEDED", "FAILED")
        ]

    items = {
        s.attributes["durable.operation.status"]: s
        for s in ended("map-item-1") + ended("map-item-0")
        if s.attributes is not None
    }
    assert items["FAILED"].status.status_code.name == "ERROR"
    assert items["FAILED"].status.description == "ValueError: bad 1"
    assert items["SUCCEEDED"].status.status_code.name == "OK"
    # the Map tolerates every failure: it succeeds
    (batch,) = ended("m")
    assert batch.status.status_code.name == "OK"
    (kid,) = ended("kid")
    assert kid.status.status_code.name == "ERROR"
    assert kid.attributes is not None
    assert kid.attributes["durable.operation.subtype"] == "RunInChildContext"
    failed_attempts = [
        s
        for s in spans
        if s.name == "_boom attempt 1"
        and s.attributes is not None
        and s.attributes.get("durable.attempt.outcome") == "FAILED"
    ]
    assert len(failed_attempts) == 3  # the item's, the child's and the top-level one
    assert all(s.status.description == "ValueError: bad 1" for s in failed_attempts)
    # one trace for the whole execution
    assert len({s.context.trace_id for s in spans if s.context is not None}) == 1


# --- show of a nested batch stopped or timed out while its items wait ------------------------


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=10, jitter="none"))
def _always_fails(i: int) -> int:
    raise ValueError(f"v{i}")


def _waiting_item(i: int) -> Generator[Any, Any, int]:
    if i == 0:
        yield dg.Wait(seconds=100, name="long")
    elif i == 1:
        yield _always_fails(i)
    else:
        handle = yield dg.CreateCallback(name=f"cb{i}", timeout=50)
        yield handle
    return i


def _outer(j: int) -> Generator[Any, Any, int]:
    batch = yield dg.Map(_waiting_item, [0, 1, 2], name=f"inner{j}")
    return batch.success_count


@dg.workflow
def _nested(_: None) -> Generator[Any, Any, Any]:
    return (yield dg.Parallel([dg.Branch(functools.partial(_outer, 0), name="x")], name="par"))


_NESTED_ROWS = [
    ("par", "Parallel"),
    ("  x", "ParallelBranch"),
    ("    inner0", "Map"),
    ("      map-item-0", "MapIteration"),
    ("        long", "Wait"),
    ("      map-item-1", "MapIteration"),
    ("        _always_fails", "Step"),
    ("      map-item-2", "MapIteration"),
    ("        cb2", "Callback"),
]


def _rows(shown: str) -> list[str]:
    return shown.split("operations (9)\n", 1)[1].splitlines()


def test_show_of_a_nested_batch_while_it_runs_stopped_and_timed_out() -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(_nested)
    runner.advance(5)
    shown = _show(runner, run)
    assert "  waits on  wait 'long' until 2025-01-01T00:01:40.000+00:00" in shown
    assert "  waits on  step '_always_fails', next attempt at 2025-01-01T00:00:10.000+00:00" in (
        shown
    )
    assert "times out at 2025-01-01T00:00:50.000+00:00" in shown
    rows = _rows(shown)
    assert [r.split()[0] for r in rows] == [label.split()[0] for label, _ in _NESTED_ROWS]
    for row, (label, kind) in zip(rows, _NESTED_ROWS, strict=True):
        assert row.startswith(f"  {label}") and kind in row, row
        assert "5.0 s+" in row, row  # still going
    runner.service.stop(run.arn)
    runner.advance(200)
    stopped = _show(runner, run)
    assert "  status    STOPPED" in stopped and "waits on" not in stopped
    for row in _rows(stopped):  # left open by the stop: its time until then, no "+"
        assert "5.0 s" in row and "5.0 s+" not in row, row
    assert "PENDING   attempt 1" in stopped

    timed = TestRunner(skip_time=False)
    run2 = timed.run(_nested, execution_timeout=30)
    timed.advance(300)
    assert run2.status == "TIMED_OUT"
    shown2 = _show(timed, run2)
    assert "Execution.Timeout" in shown2 and "waits on" not in shown2
    for row in _rows(shown2):
        assert "30.0 s" in row and "30.0 s+" not in row, row
    # the second attempt failed at 10 s; its retry was due at 30 s, when the execution ended
    assert "PENDING   attempt 2" in shown2


# --- an invocation whose checkpoint is refused because the execution was stopped ---------------


class _Ends(dg.Plugin):
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def on_invocation_start(self, info: Any) -> None:
        self.calls.append(("invocation start", ""))

    def on_invocation_end(self, info: Any, status: str) -> None:
        self.calls.append(("invocation end", status))

    def on_execution_end(self, info: Any, status: str, result: Any, error: Any) -> None:
        self.calls.append(("execution end", status))


_STOPPING: dict[str, Any] = {}


@dg.step
def _stop_my_execution(_: int) -> int:
    _STOPPING["runner"].service.stop(_STOPPING["arn"])
    return 1


@dg.step
def _after_the_stop(_: int) -> int:
    return 2


@dg.workflow
def _stopped_from_a_step(_: None) -> Generator[Any, Any, int]:
    yield dg.Wait(seconds=1, name="first")
    a = yield _stop_my_execution(0)
    b = yield _after_the_stop(0)
    return a + b


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize("view", ["invocation", "execution"])
def test_an_invocation_refused_by_a_stop_ends_its_hooks_and_its_span(
    view: str, mode: dg.CheckpointMode
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ends = _Ends()
    runner = TestRunner(
        plugins=[OpenTelemetryPlugin(provider, view=view), ends],  # type: ignore[arg-type]
        checkpointing=mode,
    )
    _STOPPING["runner"] = runner
    run = runner.start(_stopped_from_a_step)
    _STOPPING["arn"] = run.arn
    runner.run_until_idle()
    assert run.status == "STOPPED"
    # each invocation that started ended, the refused one as when the token is withheld;
    # the execution was ended by the stop, outside any invocation
    assert ends.calls == [
        ("invocation start", ""),
        ("invocation end", "PENDING"),
        ("invocation start", ""),
        ("invocation end", "PENDING"),
    ]
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans].count("Invocation") == 2
    assert "Workflow" not in [s.name for s in spans]
    exported = {s.context.span_id for s in spans if s.context is not None}
    invocations = {s.context.span_id for s in spans if s.name == "Invocation" and s.context}
    for span in spans:  # no span points to one never exported (other than the synthetic root)
        if span.name in ("Invocation",) or span.parent is None:
            continue
        if view == "invocation":
            assert span.parent.span_id in exported, span.name
    if view == "invocation":
        (attempt,) = [s for s in spans if s.name == "_stop_my_execution attempt 1"]
        assert attempt.parent is not None
        top = attempt.parent.span_id
        while top not in invocations:  # up to the invocation that ran it
            (parent,) = [s for s in spans if s.context is not None and s.context.span_id == top]
            assert parent.parent is not None
            top = parent.parent.span_id
