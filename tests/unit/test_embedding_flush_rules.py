"""When the interpreter asks for a Flush, per checkpointing mode, as docs/embedding.md's table
("When updates are flushed") and docs/lambda.md's "Checkpointing modes" say, seen from a host
that logs every action."""

from __future__ import annotations

from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt


def _actions(workflow: Any, mode: rt.CheckpointMode) -> list[str]:
    store = {
        "exec": rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            start_timestamp=0,
            execution_details=rt.ExecutionDetails(input_payload="null"),
        )
    }
    interp = rt.Interpreter(
        workflow, list(store.values()), execution_arn="arn:flush", checkpointing=mode
    )
    log: list[str] = []
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            log.append("F " + " ".join(f"{u.name}:{u.action}" for u in action.updates))
            interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        elif isinstance(action, rt.RunTasks):
            log.append("R " + " ".join(str(t.name) for t in action.tasks))
            for task in action.tasks:
                interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
        elif isinstance(action, rt.Done):
            log.append(type(action.outcome).__name__)
            return log
        else:
            raise AssertionError(action)


def mixed(_: Any) -> Any:
    a = yield dg.Step(lambda: 1, name="once", semantics=dg.AT_MOST_ONCE)
    b = yield dg.Step(lambda: 2, name="plain")
    c = yield dg.Step(lambda: 3, name="plain2")
    yield dg.Wait(seconds=1, name="nap")
    return a + b + c


EXPECTED = {
    "step": [
        "F once:START",
        "R once",
        "F once:SUCCEED",
        "R plain",
        "F plain:START plain:SUCCEED",
        "R plain2",
        "F plain2:START plain2:SUCCEED nap:START",
        "Suspended",
    ],
    "eager": [
        "F once:START",
        "R once",
        "F once:SUCCEED plain:START",
        "R plain",
        "F plain:SUCCEED plain2:START",
        "R plain2",
        "F plain2:SUCCEED nap:START",
        "Suspended",
    ],
    # the at-most-once step's START and outcome go out at once; the other outcomes are held
    "batch": [
        "F once:START",
        "R once",
        "F once:SUCCEED",
        "R plain",
        "R plain2",
        "F plain:START plain:SUCCEED plain2:START plain2:SUCCEED nap:START",
        "Suspended",
    ],
}


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_flushes_follow_the_documented_table(mode: rt.CheckpointMode) -> None:
    assert _actions(mixed, mode) == EXPECTED[mode]


def test_a_callback_start_is_flushed_at_once_in_batch_mode() -> None:
    def asks(_: Any) -> Any:
        yield dg.Step(lambda: 1, name="before")
        handle = yield dg.CreateCallback(name="cb")
        return (yield dg.Step(lambda: handle.callback_id, name="after"))

    log = _actions(asks, "batch")
    assert log[:3] == ["R before", "F before:START before:SUCCEED cb:START", "R after"]
