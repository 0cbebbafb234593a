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


# --- no line is lost across resumes -----------------------------------------------------------


def tax(amount: int) -> int:
    return amount


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=5, jitter="none"))
def fails_first(x: int) -> int:
    from durable_gen.testing import current_attempt

    info = current_attempt()
    if info is not None and info.attempt == 1:
        raise TimeoutError("first attempt")
    return x


def waits_inside():  # type: ignore[no-untyped-def]
    yield dg.Wait(seconds=3, name="inside")
    return 1


def created_then_blocked(_: Any):  # type: ignore[no-untyped-def]
    handle = yield dg.CreateCallback(name="approval", timeout=86_400)
    log.info("created")
    yield dg.Wait(seconds=5, name="pause")
    log.info("after the wait")
    yield dg.Invoke("tax", 1, name="tax")
    log.info("after the invoke")
    yield fails_first(1)
    log.info("after the retried step")
    yield dg.Child(waits_inside, name="child")
    log.info("after the child")
    answer = yield handle
    log.info("answered %s", answer)
    return answer


def test_lines_after_a_callback_is_created_are_not_lost_when_the_code_then_blocks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Replaying the creation of a callback marks the code after it as already run, until
    # the callback is awaited; a wait, an invoke, a retry or a child the code then blocked on
    # in an earlier invocation ends that: what follows them is new when it is not recorded.
    from durable_gen.testing import TestRunner

    caplog.set_level(logging.INFO)
    runner = TestRunner(skip_time=False, functions={"tax": tax})
    run = runner.run(created_then_blocked)

    def child_done() -> bool:
        return any(op.name == "child" and op.succeeded for op in run.operations())

    while not child_done():  # each timer is one more invocation; the callback stays open
        assert runner.advance_to_next_timer()
    run.send_callback_success("approval", "yes")
    runner.run_until_idle()
    assert run.result() == "yes"
    got = messages(caplog)
    assert got[0] == "created" and got[-1] == "answered yes"
    assert set(got) == {
        "created", "after the wait", "after the invoke", "after the retried step",
        "after the child", "answered yes",
    }  # fmt: skip
    assert got.count("created") == 1


def flat_item(x: int):  # type: ignore[no-untyped-def]
    log.info("item %s starts", x)
    yield dg.Wait(seconds=5 * (x + 1), name="item-wait")
    log.info("item %s ends", x)
    return x


@pytest.mark.parametrize("nesting", ["nested", "flat"])
def test_no_line_of_a_map_item_is_lost(nesting: Any, caplog: pytest.LogCaptureFixture) -> None:
    # The items of a flat Map share the batch as their recorded context: another item's
    # operations not reached yet made an item's last lines look replayed, and they were
    # never logged.
    from durable_gen.testing import TestRunner

    def fan_out(_: Any):  # type: ignore[no-untyped-def]
        batch = yield dg.Map(flat_item, [0, 1, 2], name="m", nesting=nesting)
        log.info("done")
        return batch.results()

    caplog.set_level(logging.INFO)
    assert TestRunner().run(fan_out).result() == [0, 1, 2]
    got = messages(caplog)
    expected = [f"item {i} starts" for i in range(3)] + [f"item {i} ends" for i in range(3)]
    assert set(got) == {*expected, "done"}
    if nesting == "nested":  # a flat item records nothing when it ends: it may log again
        assert sorted(got) == sorted([*expected, "done"])


def cleans_up(_: Any):  # type: ignore[no-untyped-def]
    try:
        yield dg.Wait(seconds=5, name="first")
        yield dg.Map(item_cleans_up, [1, 2], name="items")
        log.info("body done")
    finally:
        log.info("cleanup")
    return "done"


def item_cleans_up(x: int):  # type: ignore[no-untyped-def]
    try:
        yield dg.Wait(seconds=x, name=f"item wait {x}")
    finally:
        log.info("item cleanup %s", x)
    return x


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_a_finally_of_suspended_code_logs_once_with_its_execution(
    caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    # Workflow code suspended at a yield was left to the garbage collector, which ran its
    # `finally` blocks whenever it got to them: their lines came out at each suspension,
    # without the execution's fields (or with another execution's).
    import gc

    from durable_gen.testing import TestRunner

    caplog.set_level(logging.INFO)
    runner = TestRunner(checkpointing=mode)
    run = runner.run(cleans_up)
    assert run.result() == "done"
    gc.collect()
    got = [r for r in caplog.records if r.name == "tests.replay_logging"]
    assert sorted(r.getMessage() for r in got) == [
        "body done", "cleanup", "item cleanup 1", "item cleanup 2",
    ]  # fmt: skip
    assert {getattr(r, "durableExecutionArn", None) for r in got} == {run.arn}


def test_replaying_a_suspended_history_runs_no_finally_as_new(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import gc

    from durable_gen.testing import TestRunner, replay

    runner = TestRunner(skip_time=False)
    run = runner.run(cleans_up)
    runner.advance(5)  # the first wait ends; the items wait
    assert run.status == "RUNNING"
    gc.collect()
    caplog.set_level(logging.INFO)
    caplog.clear()
    report = replay(cleans_up, run.export())
    gc.collect()
    assert report.ok and report.outcome == "suspended", report
    assert messages(caplog) == []
