"""Bad input to the embedding API (``durable_gen.runtime``): each mistake a host can make is a
typed error with advice, raised before anything is changed, never a silently wrong state."""

from __future__ import annotations

from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt


@dg.step
def add_one(x: int) -> int:
    return x + 1


def twice(x: int) -> dg.Workflow[int]:
    a = yield from add_one(x)
    b = yield from add_one(a)
    return b


def _store(payload: str = "1") -> dict[str, rt.Operation]:
    return {
        "exec": rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            execution_details=rt.ExecutionDetails(input_payload=payload),
        )
    }


def _first_task(
    payload: str = "1",
) -> tuple[rt.Interpreter, rt.StepTask, dict[str, rt.Operation]]:
    store = _store(payload)
    interp = rt.Interpreter(twice, list(store.values()), checkpointing="step")
    action = interp.next_action()
    while not isinstance(action, rt.RunTasks):
        assert isinstance(action, rt.Flush)
        interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        action = interp.next_action()
    return interp, action.tasks[0], store


def _finish(interp: rt.Interpreter, store: dict[str, rt.Operation]) -> rt.Outcome:
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
        else:
            assert isinstance(action, rt.Done)
            return action.outcome


def test_a_task_reported_to_another_interpreter_is_refused_and_changes_nothing() -> None:
    # Two executions of one workflow: their first tasks have the same id in each interpreter.
    first, task_of_first, _ = _first_task("1")
    second, task_of_second, store = _first_task("100")
    with pytest.raises(dg.ValidationError, match="interpreter that handed it out"):
        second.task_succeeded(task_of_first, 2)
    with pytest.raises(dg.ValidationError, match="interpreter that handed it out"):
        second.task_failed(task_of_first, ValueError("not mine"))
    # The refusal left the second execution as it was: its own task is still running.
    assert second.running == 1
    second.task_succeeded(task_of_second, 101)
    assert _finish(second, store) == rt.Succeeded("102")
    assert first.running == 1


@pytest.mark.parametrize(
    ("report", "fragment"),
    [
        (lambda i, t: i.task_succeeded("task-1", 2), "take a StepTask"),
        (lambda i, t: i.task_failed(None, ValueError()), "take a StepTask"),
        (lambda i, t: i.task_failed(t, "boom"), "the exception the task raised"),
    ],
    ids=["succeeded-not-a-task", "failed-not-a-task", "failed-not-an-exception"],
)
def test_a_report_of_the_wrong_kind_is_a_validation_error(report: Any, fragment: str) -> None:
    interp, task, store = _first_task()
    with pytest.raises(dg.ValidationError, match=fragment):
        report(interp, task)
    assert interp.running == 1
    interp.task_succeeded(task, 2)
    assert _finish(interp, store) == rt.Succeeded("3")
