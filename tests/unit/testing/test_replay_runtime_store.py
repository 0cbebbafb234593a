"""``replay`` and ``load_history`` read a runtime's store as docs/embedding.md builds it: a
``dict[str, Operation]`` of operations by id (docs/testing.md, "What replay reads")."""

from __future__ import annotations

from typing import Any

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.testing import load_history, replay


def flow(x: int) -> Any:
    a = yield dg.Step(lambda: x + 1, name="a")
    yield dg.Wait(seconds=5, name="w")
    return a


def _store() -> dict[str, rt.Operation]:
    store = {
        "exec": rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            start_timestamp=0,
            execution_details=rt.ExecutionDetails(input_payload="1"),
        )
    }
    interp = rt.Interpreter(flow, list(store.values()), execution_arn="arn:store")
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
        else:
            return store


def test_the_dict_store_replays_as_its_list_of_operations() -> None:
    store = _store()
    by_dict = replay(flow, store)
    by_list = replay(flow, list(store.values()))
    assert by_dict.status == by_list.status == "ok"
    assert by_dict.outcome == "suspended" and by_dict.replayed == by_dict.recorded == 2
    assert load_history(store).operations == list(store.values())


def test_a_changed_workflow_diverges_on_the_dict_store() -> None:
    def renamed(x: int) -> Any:
        a = yield dg.Step(lambda: x + 1, name="b")
        return a

    assert replay(renamed, _store()).status == "diverged"


def test_a_mapping_of_something_else_is_still_reported_invalid() -> None:
    report = replay(flow, {"a": 1, "b": 2})
    assert report.status == "invalid" and "Operations" in report.message
