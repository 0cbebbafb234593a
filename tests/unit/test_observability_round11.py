"""Observability and time, checked claim by claim against docs/observability.md,
docs/testing.md and docs/cli.md (round 11): what ``waiting_on()`` and ``show`` say of a
callback's deadlines, how an error without a message is written in ``show`` and the timeline,
the advice of a command given ``args`` that are not a tuple, the durable logger across
resumes, and spans and records of retried and failed steps."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local._html import render_timeline
from durable_gen.local._text import describe_execution
from durable_gen.testing import DurableRun, TestRunner, current_attempt


def _timeline_text(runner: TestRunner, run: DurableRun[Any]) -> str:
    """The timeline page of a run, as the text a reader sees (tags dropped)."""
    service = runner.service
    page = render_timeline(
        run.record,
        service.get_operations(run.arn),
        now_ms=service.clock.now_ms(),
        events=service.get_history(run.arn),
    )
    body = page[page.find("<body") :]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def _show(runner: TestRunner, run: DurableRun[Any]) -> str:
    """What ``durable-gen show`` prints for a run."""
    service = runner.service
    return describe_execution(
        run.record,
        service.get_operations(run.arn),
        service.waiting_on(run.arn),
        service.clock.now_ms(),
    )


# --- waiting_on: a callback's deadlines ----------------------------------------------------


@dg.workflow
def _approval(_: None) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="approval", timeout=3600, heartbeat_timeout=60)
    return (yield handle)


@dg.workflow
def _open_ended(_: None) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="whenever")
    return (yield handle)


def test_waiting_on_says_when_a_callback_times_out_and_when_its_heartbeat_is_due() -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(_approval)
    (line,) = run.waiting_on()
    assert line.startswith("callback 'approval' (CallbackId ")
    assert line.endswith(
        ", times out at 2025-01-01T01:00:00.000+00:00, "
        "next heartbeat due by 2025-01-01T00:01:00.000+00:00"
    )
    runner.advance(30)
    run.send_callback_heartbeat("approval")
    (line,) = run.waiting_on()  # the heartbeat moved its deadline, not the timeout
    assert line.endswith(
        ", times out at 2025-01-01T01:00:00.000+00:00, "
        "next heartbeat due by 2025-01-01T00:01:30.000+00:00"
    )
    # show prints the same line, and the exception of result() too
    assert f"waits on  {line}" in _show(runner, run)
    with pytest.raises(dg.ExecutionSuspendedError, match="times out at 2025-01-01T01:00"):
        run.result()


def test_waiting_on_a_callback_without_deadlines_names_none() -> None:
    runner = TestRunner()
    run = runner.run(_open_ended)
    (line,) = run.waiting_on()
    assert re.fullmatch(r"callback 'whenever' \(CallbackId [0-9a-f]{48}\)", line), line


@dg.workflow
def _approval_by_submitter(_: None) -> Generator[Any, Any, Any]:
    return (yield dg.WaitForCallback(lambda cid: None, name="sign-off", timeout=120))


def test_waiting_on_a_wait_for_callback_says_when_it_times_out() -> None:
    runner = TestRunner()
    run = runner.run(_approval_by_submitter)
    (line,) = run.waiting_on()
    assert "times out at 2025-01-01T00:02:00.000+00:00" in line, line
    assert "heartbeat" not in line


# --- show and the timeline: an error with no message ----------------------------------------


@dg.step(retry=dg.Retry.never())
def _bare_failure() -> None:
    raise ValueError()


@dg.workflow
def _fails_bare(_: None) -> Generator[Any, Any, None]:
    yield _bare_failure()


@dg.workflow
def _denied(_: None) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="gate")
    return (yield handle)


def test_show_and_timeline_write_an_error_without_a_message_as_its_type() -> None:
    runner = TestRunner()
    run = runner.run(_fails_bare)
    assert run.status == "FAILED"
    shown = _show(runner, run)
    assert "  error     ValueError\n" in shown, shown
    assert "ValueError: " not in shown and "None" not in shown
    assert "✗ ValueError" in shown
    text = _timeline_text(runner, run)
    assert "ValueError:" not in text, text
    assert "attempt 1 failed: ValueError" in text


def test_show_and_timeline_of_a_callback_failed_with_neither_type_nor_message() -> None:
    runner = TestRunner()
    run = runner.run(_denied)
    run.send_callback_failure("gate")
    runner.run_until_idle()
    assert run.status == "FAILED"
    shown = _show(runner, run)
    assert "Error: \n" not in shown and ": None" not in shown, shown
    assert "no error type or message recorded" in shown
    text = _timeline_text(runner, run)
    assert "Error: " not in text, text
    assert "no error type or message recorded" in text


# --- error texts: args that are not a tuple -------------------------------------------------


def _any(value: Any) -> Any:
    """``value`` as the type checker sees a value of unknown type (a mistake it lets through)."""
    return value


def _two(a: int, b: int) -> int:
    return a + b


def _sub(x: int) -> Generator[Any, Any, int]:
    return x
    yield


def test_step_args_given_as_a_list_say_which_tuple_to_write() -> None:
    with pytest.raises(dg.ValidationError) as caught:
        dg.Step(_two, args=_any([1, 2]))
    text = str(caught.value)
    assert "got list [1, 2]" in text
    assert "args=tuple([1, 2]) to pass its items as the arguments" in text
    assert "args=([1, 2],) to pass it as the one argument" in text


def test_child_args_given_as_one_value_say_to_write_a_one_tuple() -> None:
    with pytest.raises(dg.ValidationError) as caught:
        dg.Child(_sub, args=_any(5))
    assert str(caught.value).endswith("got int 5: write args=(5,) to pass it as the one argument")
    with pytest.raises(dg.ValidationError, match=r"write args=\('ab',\)"):
        dg.Step(_two, args=_any("ab"))


def test_long_args_are_named_by_a_placeholder_in_the_advice() -> None:
    with pytest.raises(dg.ValidationError) as caught:
        dg.Step(_two, args=_any(list(range(100))))
    text = str(caught.value)
    assert "args=tuple(the_list)" in text and "args=(value,)" in text
    assert len(text) < 400


# --- logs and spans of retried attempts whose error has no message ---------------------------

_log = dg.get_logger("durable_gen.tests.round11")


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept() -> Iterator[_Keep]:
    """Keep what durable_gen's loggers write, whatever an earlier test left configured
    (a level, ``disabled``, ``propagate``, ``logging.disable``)."""
    handler = _Keep()
    root = logging.getLogger("durable_gen")  # the workflow's logger and the engine's
    loggers = [root, logging.getLogger("durable_gen.steps"), logging.getLogger(_log.name)]
    saved = [(lg.level, lg.disabled, lg.propagate) for lg in loggers]
    manager_disable = logging.root.manager.disable
    logging.disable(logging.NOTSET)
    root.addHandler(handler)
    for lg in loggers:
        lg.setLevel(logging.INFO)
        lg.disabled = False
        lg.propagate = True
    yield handler
    root.removeHandler(handler)
    for lg, (level, disabled, propagate) in zip(loggers, saved, strict=True):
        lg.setLevel(level)
        lg.disabled = disabled
        lg.propagate = propagate
    logging.disable(manager_disable)


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=2, jitter="none"))
def _flaky(i: int) -> int:
    info = current_attempt()
    _log.info("flaky %s attempt %s", i, info.attempt if info else None)
    if info is not None and info.attempt < 3:
        raise ValueError()
    return i


def _item(i: int) -> Generator[Any, Any, Any]:
    _log.info("item %s start", i)
    got = yield _flaky(i)
    yield dg.Wait(seconds=5 + i, name=f"rest-{i}")
    _log.info("item %s end", i)
    return got


def _kid(x: int) -> Generator[Any, Any, int]:
    _log.info("kid start")
    yield dg.Wait(seconds=3, name="kid-wait")
    _log.info("kid end")
    return x


@dg.workflow
def _busy(_: None) -> Generator[Any, Any, Any]:
    _log.info("begin")
    out = yield dg.Map(_item, [0, 1], name="items")
    kid = yield dg.Child(_kid, (7,), name="kid")
    handle = yield dg.CreateCallback(name="go", timeout=100)
    _log.info("callback created")
    value = yield handle
    _log.info("done %s", value)
    return [out.get_results(), kid, value]


def test_log_lines_once_each_across_retries_waits_items_children_and_a_callback(
    kept: _Keep,
) -> None:
    runner = TestRunner()
    run = runner.run(_busy)
    run.send_callback_success("go", 5)
    runner.run_until_idle()
    assert run.result() == [[0, 1], 7, 5]
    mine = [r.getMessage() for r in kept.records if r.name == "durable_gen.tests.round11"]
    assert sorted(mine) == sorted(
        [
            "begin",
            "item 0 start",
            "item 1 start",
            *(f"flaky {i} attempt {n}" for i in (0, 1) for n in (1, 2, 3)),
            "item 0 end",
            "item 1 end",
            "kid start",
            "kid end",
            "callback created",
            "done 5",
        ]
    ), mine
    # the step's lines carry the item context as parentId, and the attempt
    steps = [r for r in kept.records if r.getMessage().startswith("flaky 0")]
    assert [getattr(r, "attempt", None) for r in steps] == [1, 2, 3]
    assert len({getattr(r, "parentId", None) for r in steps}) == 1
    assert getattr(steps[0], "parentId", None) is not None
    # the engine's line for a failed attempt whose error has no message: the type alone
    failed = [r.getMessage() for r in kept.records if "failed:" in r.getMessage()]
    assert failed and all(
        re.search(r"attempt [12] failed: ValueError; retrying in \d+ s$", m) for m in failed
    ), failed


def test_attempt_span_of_an_error_without_a_message_is_described_by_its_type() -> None:
    otel = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from durable_gen.otel import OpenTelemetryPlugin

    exporter = InMemorySpanExporter()
    provider = otel.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runner = TestRunner(plugins=[OpenTelemetryPlugin(provider)])
    run = runner.run(_fails_bare)
    assert run.status == "FAILED"
    spans = {s.name: s for s in exporter.get_finished_spans()}
    attempt = spans["_bare_failure attempt 1"]
    assert attempt.status.description == "ValueError"
    assert spans["_bare_failure"].status.description == "ValueError"
    workflow = spans["Workflow"].status.description
    assert workflow is not None and not workflow.endswith(": ") and "None" not in workflow


# --- show for every operation kind, at the far end of time -----------------------------------


@dg.workflow
def _doubled(x: int) -> Generator[Any, Any, int]:
    yield dg.Wait(seconds=10, name="child-wait")
    return x * 2


@dg.workflow
def _every_kind(_: None) -> Generator[Any, Any, Any]:
    late = yield dg.CreateCallback(name="late", timeout=5)
    with contextlib.suppress(dg.CallbackError):
        yield late
    polled = yield dg.WaitForCondition(
        lambda s: s + 1,
        0,
        wait_strategy=dg.WaitStrategy(until=lambda s: s >= 2, delay=60),
        name="poll",
    )
    both = yield dg.Parallel([lambda: 1, lambda: 2], name="pair")
    invoked = yield dg.Invoke("doubler", 3, name="call-doubler")
    never = yield dg.CreateCallback(name="never")
    return [polled, both.get_results(), invoked, (yield never)]


def test_show_lists_every_kind_with_its_status_near_the_latest_time() -> None:
    start = datetime(9999, 12, 31, 23, tzinfo=UTC)
    runner = TestRunner(functions={"doubler": _doubled}, start=start)
    run = runner.run(_every_kind)
    runner.run_until_idle(include_callback_timeouts=True)
    assert run.status == "RUNNING"
    (line,) = run.waiting_on()
    assert line.startswith("callback 'never' (CallbackId ")
    runner.service.stop(run.arn)
    shown = _show(runner, run)
    assert "  started   9999-12-31T23:00:00.000+00:00   took 75.0 s\n" in shown, shown
    assert "  error     Execution.Stopped: the execution was stopped\n" in shown
    rows = {
        line.split()[0]: line.split()[1:3]
        for line in shown.split("operations (", 1)[1].splitlines()[1:]
    }
    assert rows["late"] == ["Callback", "TIMED_OUT"]
    assert rows["poll"] == ["WaitForCondition", "SUCCEEDED"]
    assert rows["pair"] == ["Parallel", "SUCCEEDED"]
    assert rows["parallel-branch-1"] == ["ParallelBranch", "SUCCEEDED"]
    assert rows["call-doubler"] == ["ChainedInvoke", "SUCCEEDED"]
    assert rows["never"] == ["Callback", "STARTED"]
    assert "✗ Callback.Timeout: the callback was not completed within 5 s" in shown
    text = _timeline_text(runner, run)
    assert "poll delay 60.0 s" in text and "9999-12-31T23:00:00.000+00:00" in text
