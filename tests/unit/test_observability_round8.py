"""Observability, testing tools and timeouts, checked claim by claim against
docs/observability.md, docs/testing.md and the guide's timeout sections (round 8): the HTML
timeline's notes, hooks and spans across suspensions, the durable logger, the telemetry record,
TestRunner's virtual clock and DurableRun's inspection API."""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Generator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local._html import render_timeline
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


# --- the timeline: a retry that never ran is not written as one ---------------------------


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=2, jitter="none"))
def _work(i: int) -> int:
    if i in (3, 8):
        raise ValueError(f"bad item {i}")
    return i


def _quick_fail(i: int) -> int:
    if i == 0:
        raise ValueError("first")
    return i


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=5, jitter="none"))
def _slow_retry(i: int) -> int:
    raise ValueError(f"slow {i}")


def _item(i: int) -> Generator[Any, Any, int]:
    if i == 0:  # fails for good after a second, while the other items are in a retry delay
        yield dg.Wait(seconds=1, name="pause")
        return (yield dg.Step(_quick_fail, (i,), name="quick", retry=dg.Retry.never()))
    return (yield _slow_retry(i))


@dg.workflow
def _batch_then_wait(n: int) -> dg.Workflow[int]:
    batch = yield dg.Map(_item, [0, 1], name="fan")
    later = yield dg.CreateCallback(name="later", timeout=3600)
    yield later
    return batch.failure_count


def test_a_step_left_in_its_retry_delay_by_a_decided_batch_is_not_noted_as_retried() -> None:
    """The first failure decides the Map; the other item's step is in its retry delay, and the
    execution goes on without it: the timeline must not say it will be retried."""
    runner = TestRunner()
    run = runner.run(_batch_then_wait, 2)
    assert run.status == "RUNNING"
    assert run.operation("_slow_retry").status in ("PENDING", "READY")
    text = _timeline_text(runner, run)
    assert "attempt 1 failed: ValueError: slow 1" in text
    assert "retried after" not in text
    assert "not retried" in text


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=2, jitter="none"))
def _once_flaky() -> str:
    info = current_attempt()
    if info is not None and info.attempt == 1:
        raise ConnectionError("down once")
    return "up"


@dg.workflow
def _batch_then_fail(n: int) -> dg.Workflow[None]:
    yield _once_flaky()
    batch = yield dg.Map(_item, list(range(n)), name="fan")
    batch.raise_if_failed()


@pytest.mark.parametrize("items", [2, 12])  # 12: the batch is folded on the page
def test_an_execution_that_ended_in_a_retry_delay_notes_no_retry_for_it(items: int) -> None:
    runner = TestRunner()
    run = runner.run(_batch_then_fail, items)
    assert run.status == "FAILED"
    text = _timeline_text(runner, run)
    # the first step really was retried, after its 2 s delay
    assert "attempt 1 failed: ConnectionError: down once · retried after 2.0 s" in text
    # the steps whose delay the execution ended in were not
    assert "ValueError: slow 1 · not retried" in text
    assert text.count("retried after") == 1


# --- hooks: order within one checkpoint reply, across suspensions ----------------------------


class _Hooks(dg.Plugin):
    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    def on_invocation_start(self, info: dg.InvocationInfo) -> None:
        self.seen.append(("invocation_start", info.first))

    def on_execution_start(self, info: Any) -> None:
        self.seen.append(("execution_start",))

    def on_operation_change(self, op: Any) -> None:
        self.seen.append(("change", op.name, op.status, op.previous_status, op.by_service))

    def on_operation_start(self, op: dg.OperationInfo) -> None:
        self.seen.append(("start", op.name))

    def on_operation_end(self, op: dg.OperationInfo, status: str) -> None:
        self.seen.append(("end", op.name, status))

    def on_attempt_start(self, attempt: dg.AttemptInfo) -> None:
        self.seen.append(("attempt_start", attempt.name, attempt.attempt))

    def on_attempt_end(self, attempt: dg.AttemptInfo, outcome: str, error: Any) -> None:
        self.seen.append(("attempt_end", attempt.name, attempt.attempt, outcome))

    def on_execution_end(self, info: Any, status: str, result: Any, error: Any) -> None:
        self.seen.append(("execution_end", status))

    def on_invocation_end(self, info: dg.InvocationInfo, status: str) -> None:
        self.seen.append(("invocation_end", status))


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=3, jitter="none"))
def _flaky_once() -> int:
    info = current_attempt()
    if info is not None and info.attempt == 1:
        raise ConnectionError("down")
    return 7


@dg.workflow
def _retry_then_wait(n: int) -> dg.Workflow[int]:
    value = yield _flaky_once()
    yield dg.Wait(seconds=5, name="cool")
    return value + n


def test_hooks_across_a_retry_and_a_wait_in_the_documented_order() -> None:
    hooks = _Hooks()
    run = TestRunner(plugins=[hooks]).run(_retry_then_wait, 1)
    assert run.result() == 8
    assert hooks.seen == [
        ("invocation_start", True),
        ("execution_start",),
        ("start", "_flaky_once"),
        ("attempt_start", "_flaky_once", 1),
        ("attempt_end", "_flaky_once", 1, "FAILED"),
        ("change", "_flaky_once", "PENDING", None, False),
        ("invocation_end", "PENDING"),
        ("invocation_start", False),
        ("change", "_flaky_once", "READY", "PENDING", True),
        ("attempt_start", "_flaky_once", 2),
        ("attempt_end", "_flaky_once", 2, "SUCCEEDED"),
        ("end", "_flaky_once", "SUCCEEDED"),
        ("start", "cool"),
        # one checkpoint: the running wait first, then the ended step
        ("change", "cool", "STARTED", None, False),
        ("change", "_flaky_once", "SUCCEEDED", "READY", False),
        ("invocation_end", "PENDING"),
        ("invocation_start", False),
        ("change", "cool", "SUCCEEDED", "STARTED", True),
        ("execution_end", "SUCCEEDED"),
        ("invocation_end", "SUCCEEDED"),
    ]


# --- retries and polls under the virtual clock: nothing runs before it is due ----------------


@dg.step(retry=dg.Retry(max_attempts=4, initial_delay=1.5, backoff=1.5, jitter="none"))
def _fails_three_times(x: int) -> int:
    info = current_attempt()
    if info is not None and info.attempt < 4:
        raise ValueError("not yet")
    return x


@dg.workflow
def _retried(x: int) -> dg.Workflow[int]:
    return (yield _fails_three_times(x))


def test_retry_delays_are_rounded_up_and_nothing_runs_before_its_time() -> None:
    """Delays 1.5, 2.25, 3.375 s are rounded up to 2, 3 and 4 s: attempts at 0, 2, 5 and 9 s."""
    runner = TestRunner(skip_time=False)
    run = runner.run(_retried, 3)
    attempts_at: dict[int, int] = {}
    for second in range(12):
        attempts_at.setdefault(run.operation("_fails_three_times").attempts, second)
        if run.done:
            break
        runner.advance(1)
    assert attempts_at == {1: 0, 2: 2, 3: 5, 4: 9}
    assert run.result() == 3


def test_a_wait_strategy_takes_whole_seconds_as_documented() -> None:
    with pytest.raises(dg.ValidationError, match="whole number of seconds"):
        dg.WaitStrategy(until=lambda s: True, delay=1.5)  # type: ignore[arg-type]
    with pytest.raises(dg.ValidationError, match="whole number of seconds"):
        dg.WaitStrategy(until=lambda s: True, max_delay=2.5)  # type: ignore[arg-type]
    assert dg.WaitStrategy(until=lambda s: False, delay=2, backoff=1.5)({}, 2).delay == 3


# --- hooks get frozen values: the execution's error is recorded as it was --------------------


class _ClearsTheStackTrace(dg.Plugin):
    def __init__(self) -> None:
        self.got: list[str] | None = None

    def on_execution_end(self, info: Any, status: str, result: Any, error: Any) -> None:
        if error is not None and error.stack_trace is not None:
            self.got = list(error.stack_trace)
            error.stack_trace.clear()
            error.stack_trace.append("written by a plugin")


@dg.workflow
def _raises(n: int) -> dg.Workflow[int]:
    yield dg.Wait(seconds=1)
    raise RuntimeError(f"boom {n}")


def test_a_plugin_cannot_change_the_recorded_stack_trace_of_the_execution() -> None:
    plugin = _ClearsTheStackTrace()
    runner = TestRunner(plugins=[plugin])
    run = runner.run(_raises, 3)
    assert run.status == "FAILED"
    assert plugin.got is not None and plugin.got[-1] == "RuntimeError: boom 3"
    assert run.error is not None and run.error.stack_trace == plugin.got
    failed = [e for e in run.history() if e.event_type == "ExecutionFailed"]
    assert failed[0].execution_failed_details is not None
    recorded = failed[0].execution_failed_details["Error"]["Payload"]["StackTrace"]
    assert "written by a plugin" not in recorded and recorded[-1] == "RuntimeError: boom 3"
    with pytest.raises(dg.ExecutionFailedError):
        dg.run(_raises, 4, skip_time=True, plugins=[_ClearsTheStackTrace()])


# --- the timeline: a WaitForCondition's waits between checks are drawn -----------------------


@dg.step
def _count_up(state: dict[str, int]) -> dict[str, int]:
    return {"n": state["n"] + 1}


@dg.workflow
def _polls(until: int) -> dg.Workflow[dict[str, int]]:
    return (
        yield dg.WaitForCondition(
            _count_up,
            initial_state={"n": 0},
            wait_strategy=dg.WaitStrategy(until=lambda s: s["n"] >= until, delay=4),
            name="poll",
        )
    )


def test_the_waits_between_checks_of_a_wait_for_condition_are_segments_of_its_row() -> None:
    runner = TestRunner()
    run = runner.run(_polls, 3)
    assert run.result() == {"n": 3}
    text = _timeline_text(runner, run)
    assert text.count("poll delay 4.0 s") == 2, text
    assert "retry delay 4.0 s" not in text

    paused = TestRunner(skip_time=False)
    waiting = paused.run(_polls, 3)
    assert waiting.status == "RUNNING"
    text = _timeline_text(paused, waiting)
    assert "next check at 2025-01-01T00:00:04.000+00:00" in text, text


# --- the durable logger: what a missing attribute's message tells to write --------------------


def test_a_missing_logger_attribute_says_what_to_write_without_losing_replay_awareness() -> None:
    log = dg.get_logger("tests.round8.attributes")
    with pytest.raises(AttributeError, match=r"write log\.warning\(\.\.\.\)") as warn:
        log.warn("old spelling")  # type: ignore[attr-defined]
    assert "log.logger.warn" not in str(warn.value)
    with pytest.raises(AttributeError, match=r"did you mean info\?"):
        log.infoo("typo")  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match=r"log\.logger\.handle; what it logs is not"):
        log.handle  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(AttributeError, match=r"write log\.logger\.parent\)"):
        log.parent  # type: ignore[attr-defined]  # noqa: B018


# --- DurableRun.result() of a running execution says how the runner resumes it ---------------


@dg.workflow
def _awaits_approval(n: int) -> dg.Workflow[str]:
    handle = yield dg.CreateCallback(name="approval", timeout=60)
    return (yield handle)


def test_result_of_a_running_run_says_how_to_resume_it_with_the_runner() -> None:
    runner = TestRunner()
    run = runner.run(_awaits_approval, 1)
    with pytest.raises(dg.ExecutionSuspendedError) as suspended:
        run.result()
    message = str(suspended.value)
    assert "callback 'approval'" in message
    assert "nothing in this run can resume it" not in message
    assert "LocalService" not in message
    assert "run.send_callback_success(name, result)" in message
    assert "runner.run_until_idle()" in message
    run.send_callback_success("approval", "yes")  # what it says works
    runner.run_until_idle()
    assert run.result() == "yes"


# --- the timeline: hovering an attempt shows the operation's id and what it returned ----------


def _titles(runner: TestRunner, run: DurableRun[Any]) -> list[str]:
    service = runner.service
    page = render_timeline(
        run.record,
        service.get_operations(run.arn),
        now_ms=service.clock.now_ms(),
        events=service.get_history(run.arn),
    )
    return [
        html.unescape(t) for t in re.findall(r'class="seg attempt[^"]*"[^>]*title="([^"]*)"', page)
    ]


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def _fails_then_returns(tag: str) -> str:
    info = current_attempt()
    if info is not None and info.attempt == 1:
        raise ValueError("first \x1b[31mred")
    return f"done {tag}"


@dg.workflow
def _one_retried_step(tag: str) -> dg.Workflow[str]:
    return (yield _fails_then_returns(tag))


def test_hovering_an_attempt_shows_the_operation_id_and_its_result() -> None:
    runner = TestRunner()
    run = runner.run(_one_retried_step, "x")
    assert run.result() == "done x"
    op_id = run.operation("_fails_then_returns").id
    first, second = _titles(runner, run)
    assert f"id {op_id}" in first and f"id {op_id}" in second
    assert 'result "done x"' in second
    assert "\x1b" not in first and "\\x1b[31mred" in first  # control characters shown, not sent

    polled = TestRunner()
    checks = polled.run(_polls, 2)
    assert [t.splitlines()[-1] for t in _titles(polled, checks)] == [
        'result {"n":1}',
        'result {"n":2}',
    ]


def test_history_gives_event_values_and_export_the_api_json_of_the_same_events() -> None:
    run = TestRunner().run(_one_retried_step, "y")
    events = run.history()
    exported = run.export()["Events"]
    assert [e.event_type for e in events] == [e["EventType"] for e in exported]
    failed = next(e for e in events if e.event_type == "StepFailed")
    assert failed.step_failed_details is not None
    assert failed.step_failed_details["RetryDetails"] == {
        "CurrentAttempt": 1,
        "NextAttemptDelaySeconds": 1,
    }


# --- a hook that cannot take its arguments is refused where the plugin is given ---------------


class _HookMissesAnArgument(dg.Plugin):
    def on_attempt_end(self, attempt: dg.AttemptInfo) -> None:  # type: ignore[override]
        pass


class _HookWantsOneMore(dg.Plugin):
    def on_operation_end(self, op: dg.OperationInfo, status: str, extra: int) -> None:  # type: ignore[override]
        pass


class _HooksOfOtherShapes(dg.Plugin):
    """Shapes that take the arguments: catch-alls, defaults, a staticmethod."""

    def on_attempt_end(self, *args: Any) -> None:
        pass

    def on_operation_end(self, op: Any, status: Any, extra: int = 0) -> None:
        pass

    @staticmethod
    def on_invocation_end(info: Any, status: Any) -> None:
        pass


@pytest.mark.parametrize("plugin", [_HookMissesAnArgument, _HookWantsOneMore])
def test_a_hook_that_cannot_take_its_arguments_is_refused_where_the_plugin_is_given(
    plugin: type[dg.Plugin],
) -> None:
    with pytest.raises(dg.ValidationError, match=r"cannot take the arguments it is called with"):
        TestRunner(plugins=[plugin()])
    with pytest.raises(dg.ValidationError, match=r"write def on_[a-z_]+\(self, "):
        dg.run(_one_retried_step, "z", plugins=[plugin()])
    runner = TestRunner(plugins=[_HooksOfOtherShapes()])
    assert runner.run(_one_retried_step, "z").result() == "done z"


# --- the traces pictured in docs/observability.md are what the script prints -----------------


def _picture_shape(text: str) -> list[tuple[str, str, str]]:
    """Each span line's name (with its indentation), statuses and links; times left out."""
    shape = []
    for line in text.splitlines():
        found = re.match(r"^( *\S.*?)\s{2,}(\S+\s+)?(OK|ERROR|UNSET)\s+\+.*(links=\d+)$", line)
        if found:
            name, status, span_status, links = found.groups()
            shape.append((name.rstrip(), (status or "").strip(), f"{span_status} {links}"))
    return shape


@pytest.mark.parametrize("view", ["invocation", "execution"])
def test_the_pictured_spans_are_what_the_picture_script_prints(view: str) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from pathlib import Path

    from tests.conformance.otel import picture

    docs = Path(__file__).parents[2].joinpath("docs", "observability.md").read_text()
    blocks = re.findall(r"```text\n(Workflow .*?)```", docs, re.S)
    documented = _picture_shape(blocks[0 if view == "invocation" else 1])
    assert len(documented) > 10
    assert _picture_shape(picture.main(view)) == documented


def _flaky_plain() -> str:
    info = current_attempt()
    if info is not None and info.attempt == 1:
        raise ConnectionError("busy")
    return "ok"


@dg.workflow
def _unnamed_step(n: int) -> dg.Workflow[str]:
    retry = dg.Retry(max_attempts=2, initial_delay=1, jitter="none")
    return (yield dg.Step(_flaky_plain, retry=retry))


def test_the_failed_attempt_line_of_an_unnamed_step_does_not_quote_its_id_as_a_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="durable_gen.steps"):
        run = TestRunner().run(_unnamed_step, 1)
    assert run.result() == "ok"
    op = run.operations(type="STEP")[0]
    assert op.name is None
    (line,) = [r.getMessage() for r in caplog.records if r.name == "durable_gen.steps"]
    assert line == (
        f"unnamed step (operation {op.id}) attempt 1 failed: ConnectionError: busy; retrying in 1 s"
    )


# --- replay() in CI adds no line to the execution's log ---------------------------------------


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def _charge_once(x: int) -> int:
    return x


@dg.workflow
def _charges_once(x: int) -> dg.Workflow[int]:
    return (yield _charge_once(x))


def test_replay_of_an_interrupted_at_most_once_step_logs_no_failed_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The history shows the step STARTED by a process that died: the replay finds it failed
    (StepInterruptedError, out of attempts), as a resume would, and writes no WARNING line."""
    from durable_gen.testing import replay

    history = TestRunner().run(_charges_once, 1).export()
    del history["Events"]
    for op in history["Operations"]:
        op.pop("EndTimestamp", None)
        if op["Type"] == "EXECUTION":
            op["Status"] = "STARTED"
        else:
            op["Status"], op["StepDetails"] = "STARTED", {"Attempt": 0}
    with caplog.at_level(logging.DEBUG, logger="durable_gen"):
        report = replay(_charges_once, history)
    assert (report.status, report.outcome) == ("ok", "failed")
    assert report.error is not None and report.error.error_type == "StepInterruptedError"
    assert [r.getMessage() for r in caplog.records if r.name == "durable_gen.steps"] == []


# --- the telemetry record: one entry per name, typed by the operation that started first ------


@dg.step
def _pack(item: str) -> str:
    return item.upper()


def _pack_then_rest(item: str) -> Generator[Any, Any, str]:
    packed = yield _pack(item)
    yield dg.Wait(seconds=1)  # the Map ends a second after its items' steps
    return packed


@dg.workflow
def _packs(items: list[str]) -> dg.Workflow[list[str]]:
    batch = yield dg.Map(_pack_then_rest, items, name="_pack")
    return batch.results()


def test_a_name_shared_by_a_map_and_its_steps_is_one_entry_typed_by_the_map() -> None:
    from durable_gen.telemetry import TelemetryPlugin

    records: list[str] = []
    run = TestRunner(plugins=[TelemetryPlugin(records.append, operations="all")]).run(
        _packs, ["a", "b"]
    )
    assert run.result() == ["A", "B"]
    (record,) = records
    entry = json.loads(record)["operationsByName"]["_pack"]
    assert (entry["type"], entry["subType"], entry["count"]) == ("CONTEXT", "Map", 3)
    assert entry["maxAttempt"] == 1 and entry["maxDurationMs"] == 1000


@dg.step(retry=dg.Retry.never())
def _long_failure() -> None:
    raise ValueError("x" * 5000)


@dg.workflow
def _fails_long(n: int) -> dg.Workflow[int]:
    try:
        yield _long_failure()
    except dg.StepFailedError as exc:
        return len(exc.error_message or "")
    return 0


def test_a_long_message_is_cut_in_the_log_line_with_the_whole_length_and_kept_recorded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="durable_gen.steps"):
        assert TestRunner().run(_fails_long, 1).result() == 5000  # recorded whole
    (line,) = [r.getMessage() for r in caplog.records if r.name == "durable_gen.steps"]
    assert ": " + "x" * 4096 + " [truncated: 5000 characters]; not retried" in line
