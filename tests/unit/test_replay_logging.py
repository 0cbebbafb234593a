"""The one channel from a running interpretation to the replay-aware logger."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen._context import current, is_replaying
from tests import histories as h

log = dg.get_logger("tests.replay_logging")


@dg.step
def double(x: int) -> int:
    return x * 2


def wf(x: int):  # type: ignore[no-untyped-def]
    log.info("before %s", x)
    a = yield double(x)
    log.info("after first %s", a)
    b = yield double(a)
    log.info("after second %s", b)
    return b


def drive(it: dg.Interpreter) -> rt.Outcome:
    while True:
        action = it.next_action()
        if isinstance(action, rt.Flush):
            it.observe([])
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                it.task_succeeded(task, task.fn(*task.args, **task.kwargs))
        elif isinstance(action, rt.Done):
            return action.outcome


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tests.replay_logging"]


def test_a_first_run_logs_every_line_with_the_execution(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    it = dg.Interpreter(wf, [h.execution(1)], execution_arn="arn:log")
    assert drive(it) == dg.Succeeded("4")
    assert messages(caplog) == ["before 1", "after first 2", "after second 4"]
    assert {getattr(r, "execution_arn", None) for r in caplog.records} == {"arn:log"}


def test_replayed_lines_are_silent(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    recorded = [h.execution(1), h.step(1, 2, name="double")]
    it = dg.Interpreter(wf, recorded, execution_arn="arn:log")
    assert drive(it) == dg.Succeeded("4")
    # "before" ran when the step was recorded; the code past the last recorded operation is
    # the current part of the execution, whatever ran it last time (an invocation that died
    # before recording anything more leaves nothing to say that line was logged)
    assert messages(caplog) == ["after first 2", "after second 4"]


def test_the_channel_is_open_only_while_next_action_runs_workflow_code() -> None:
    seen: list[Any] = []

    def probe(_: Any):  # type: ignore[no-untyped-def]
        seen.append((current(), is_replaying()))
        yield dg.Wait(seconds=1)

    it = dg.Interpreter(probe, [h.execution()], execution_arn="arn:probe")
    assert current() is None
    it.next_action()
    assert seen == [(it, False)] and current() is None and not is_replaying()


# --- a child context rebuilt from its children (ReplayChildren) -------------------------------


@dg.step
def large(n: int) -> str:
    return "x" * n


def rebuilt_inner():  # type: ignore[no-untyped-def]
    log.info("virtual starts")
    yield dg.Step(lambda: 1, name="inner-step")
    log.info("virtual ends")
    return 1


def rebuilt_body():  # type: ignore[no-untyped-def]
    log.info("child starts")
    text = yield large(300_000)  # over 256 KiB: the child is recorded with ReplayChildren
    log.info("child after its last operation")
    yield dg.Child(rebuilt_inner, name="virtual", virtual=True)
    log.info("child ends")
    return text


def rebuilt(_: Any):  # type: ignore[no-untyped-def]
    text = yield dg.Child(rebuilt_body, name="big-child")
    for i in range(3):  # three more invocations, each rebuilding the child
        yield dg.Wait(seconds=1, name=f"pause-{i}")
        log.info("after pause %s", i)
    return len(text)


class VirtualEvents(dg.Plugin):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    def on_operation_start(self, op: Any) -> None:
        if op.virtual:
            self.seen.append(("start", op.name))

    def on_operation_end(self, op: Any, status: str) -> None:
        if op.virtual:
            self.seen.append((status, op.name))


def test_a_child_rebuilt_from_its_children_logs_each_line_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from durable_gen.testing import TestRunner

    caplog.set_level(logging.INFO)
    events = VirtualEvents()
    run = TestRunner(plugins=[events]).run(rebuilt)
    assert run.result() == 300_000
    details = run.operation("big-child").operation.context_details
    assert details is not None and details.replay_children
    assert messages(caplog) == [
        "child starts",
        "child after its last operation",
        "virtual starts",
        "virtual ends",
        "child ends",
        "after pause 0",
        "after pause 1",
        "after pause 2",
    ]
    assert events.seen == [("start", "virtual"), ("SUCCEEDED", "virtual")]
