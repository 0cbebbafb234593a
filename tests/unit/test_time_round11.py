"""Time under the test runner (round 11): ``execution_timeout=`` on ``TestRunner.run`` and
``start`` as on the engine, and what ``run_until_idle`` does with an execution timeout while
the execution waits on a callback (it stops before it, as before a callback's own timeout)."""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner


@dg.workflow
def _approval(_: None) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="approval")
    return (yield handle)


@dg.workflow
def _nap(_: None) -> Generator[Any, Any, int]:
    yield dg.Wait(seconds=7200, name="nap")
    return 1


@dg.workflow
def _asks_a_child(_: None) -> Generator[Any, Any, Any]:
    return (yield dg.Invoke("approver", None, name="ask"))


def test_run_and_start_take_execution_timeout_as_the_engine_does() -> None:
    runner = TestRunner()
    run = runner.start(_nap, execution_timeout=3600)
    assert run.record.execution_timeout == 3600
    runner.run_until_idle()  # the wait ends after the timeout: time passing times it out
    assert run.status == "TIMED_OUT"
    assert run.error is not None and run.error.error_type == "Execution.Timeout"
    assert runner.now() == datetime(2025, 1, 1, 1, tzinfo=UTC)
    ok = runner.run(_nap, execution_timeout=3 * 3600)
    assert ok.result() == 1
    with pytest.raises(dg.ValidationError, match="execution_timeout must be whole seconds"):
        runner.run(_nap, execution_timeout=0)


def test_run_until_idle_does_not_jump_to_the_execution_timeout_of_a_callback_waiter() -> None:
    runner = TestRunner()
    run = runner.run(_approval, execution_timeout=86_400)
    assert run.status == "RUNNING"
    assert runner.now() == datetime(2025, 1, 1, tzinfo=UTC)  # the clock did not move
    with pytest.raises(dg.ExecutionSuspendedError, match="and an execution waiting on one"):
        run.result()
    run.send_callback_success("approval", "yes")
    runner.run_until_idle()
    assert run.result() == "yes"


def test_include_callback_timeouts_lets_the_execution_time_out() -> None:
    runner = TestRunner()
    run = runner.run(_approval, execution_timeout=86_400)
    runner.run_until_idle(include_callback_timeouts=True)
    assert run.status == "TIMED_OUT"
    assert runner.now() == datetime(2025, 1, 2, tzinfo=UTC)


def test_a_callback_in_an_invoked_execution_holds_the_parent_timeout_too() -> None:
    runner = TestRunner(functions={"approver": _approval})
    run = runner.run(_asks_a_child, execution_timeout=600)
    assert run.status == "RUNNING"
    assert runner.now() == datetime(2025, 1, 1, tzinfo=UTC)
    runner.advance(601)  # moving time on purpose times it out
    assert run.status == "TIMED_OUT"


# --- span durations across jumps of the virtual clock, from the epoch -------------------------


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=30, jitter="none"))
def _once_flaky() -> int:
    from durable_gen.testing import current_attempt

    info = current_attempt()
    if info is not None and info.attempt == 1:
        raise RuntimeError("first")
    return 1


@dg.workflow
def _long_then_flaky(_: None) -> Generator[Any, Any, Any]:
    yield dg.Wait(seconds=300 * 86_400, name="long")
    return (yield _once_flaky())


@pytest.mark.parametrize("view", ["invocation", "execution"])
def test_spans_measure_virtual_time_from_the_epoch(view: str) -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from durable_gen.otel import OpenTelemetryPlugin

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runner = TestRunner(
        plugins=[OpenTelemetryPlugin(provider, view=view)],  # type: ignore[arg-type]
        start=datetime(1970, 1, 1, tzinfo=UTC),
    )
    assert runner.run(_long_then_flaky).result() == 1
    spans = exporter.get_finished_spans()
    workflow = next(s for s in spans if s.name == "Workflow")
    assert workflow.start_time == 0
    assert workflow.end_time is not None
    assert round((workflow.end_time - workflow.start_time) / 1e9) == 300 * 86_400 + 30
    attempts = sorted(
        (s for s in spans if s.name.startswith("_once_flaky attempt")),
        key=lambda s: s.start_time or 0,
    )
    assert [s.status.status_code.name for s in attempts] == ["ERROR", "OK"]
    gap = (attempts[1].start_time or 0) - (attempts[0].start_time or 0)
    assert round(gap / 1e9) == 30  # the retry delay, in virtual time


def test_show_says_when_an_execution_with_a_timeout_times_out() -> None:
    from durable_gen.local._text import describe_execution

    runner = TestRunner()
    run = runner.run(_approval, execution_timeout=86_400)
    service = runner.service

    def show() -> str:
        return describe_execution(
            run.record,
            service.get_operations(run.arn),
            service.waiting_on(run.arn),
            service.clock.now_ms(),
        )

    assert "\n  timeout   24.0 h, times out at 2025-01-02T00:00:00.000+00:00\n" in show()
    runner.run_until_idle(include_callback_timeouts=True)
    assert run.status == "TIMED_OUT"
    assert "\n  timeout   24.0 h\n" in show()  # ended: the length alone
