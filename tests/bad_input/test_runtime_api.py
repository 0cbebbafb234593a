"""Bad input to the embedding API (``durable_gen.runtime``): each mistake a host can make is a
typed error with advice, raised before anything is changed, never a silently wrong state."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import msgspec
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


def test_started_refuses_a_task_of_another_interpreter_and_changes_nothing() -> None:
    # Before, started() answered None for it, as for a task already reported: the host was
    # never told, and the START it meant to record went nowhere.
    _, task_of_first, _ = _first_task("1")
    second, task_of_second, store = _first_task("100")
    with pytest.raises(dg.ValidationError, match="not handed out by this interpreter"):
        second.started(task_of_first)
    with pytest.raises(dg.ValidationError, match="takes a StepTask"):
        second.started("task-1")  # type: ignore[arg-type]
    flush = second.started(task_of_second)  # its own task: the START goes out
    assert isinstance(flush, rt.Flush) and [u.action for u in flush.updates] == ["START"]
    second.observe(rt.apply_updates(store, flush.updates, now_ms=0).operations)
    second.task_succeeded(task_of_second, 101)
    assert second.started(task_of_second) is None  # reported: nothing to send
    assert _finish(second, store) == rt.Succeeded("102")


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


def _waits_on_callback_and_invoke(_: Any) -> dg.Workflow[list[Any]]:
    handle = yield from dg.CreateCallback(name="approval")
    answer = yield from handle
    tax = yield from dg.Invoke("tax", 1, name="tax", result_type=float)
    return [answer, tax]


def _open_callback() -> tuple[dict[str, rt.Operation], str]:
    store = _store()
    interp = rt.Interpreter(_waits_on_callback_and_invoke, list(store.values()))
    action = interp.next_action()
    assert isinstance(action, rt.Flush)
    rt.apply_updates(store, action.updates, now_ms=0)
    (callback,) = [op for op in store.values() if op.type == "CALLBACK"]
    assert callback.callback_details is not None and callback.callback_details.callback_id
    return store, callback.callback_details.callback_id


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ({"result": {"approved": True}}, "a JSON payload (a str), got dict"),
        ({"result": 5}, "a JSON payload (a str), got int"),
        ({"error": "denied"}, "an ErrorObject, got str"),
        ({"result": "1", "error": rt.ErrorObject(error_type="No")}, "not both"),
        ({"result": "1", "now_ms": "5"}, "whole epoch milliseconds"),
        ({"result": "1", "now_ms": 5.5}, "whole epoch milliseconds"),
        ({"result": "1", "now_ms": -1}, "whole epoch milliseconds"),
    ],
    ids=["dict", "int", "error-str", "both", "now-str", "now-float", "now-negative"],
)
def test_a_callback_answer_of_the_wrong_kind_is_refused_and_the_store_unchanged(
    answer: dict[str, Any], fragment: str
) -> None:
    store, callback_id = _open_callback()
    before = dict(store)
    answer.setdefault("now_ms", 0)
    with pytest.raises(dg.ValidationError, match=re.escape(fragment)):
        rt.complete_callback(store, callback_id, **answer)
    assert store == before
    # The same mistakes on an invoke's answer.
    if "result" in answer or "error" in answer:
        with pytest.raises(dg.ValidationError, match=re.escape(fragment)):
            rt.complete_invoke(store, "any", **answer)


def test_store_functions_refuse_a_store_or_timer_of_the_wrong_kind() -> None:
    store, _ = _open_callback()
    ops = list(store.values())
    timer = rt.Timer(kind="wait", operation_id="x", due_ms=0)
    with pytest.raises(dg.ValidationError, match="dict of Operation by id, got list"):
        rt.apply_updates(ops, [], now_ms=0)  # type: ignore[arg-type]
    with pytest.raises(dg.ValidationError, match="dict of Operation by id, got list"):
        rt.fire_timer(ops, timer, now_ms=0)  # type: ignore[arg-type]
    with pytest.raises(dg.ValidationError, match="takes a Timer"):
        rt.fire_timer(store, ("wait", "x", 0), now_ms=0)  # type: ignore[arg-type]
    with pytest.raises(dg.ValidationError, match="whole epoch milliseconds"):
        rt.apply_updates(store, [], now_ms=1.5)  # type: ignore[arg-type]
    with pytest.raises(dg.ValidationError, match="new_callback_id"):
        rt.apply_updates(store, [], now_ms=0, new_callback_id="cb-1")  # type: ignore[arg-type]


class _NotASerdes:
    def serialize(self, value: Any) -> str:
        return str(value)


@pytest.mark.parametrize(
    ("operations", "options", "fragment"),
    [
        (None, {}, "list of Operation values"),
        ("[]", {}, "list of Operation values"),
        ([{"Id": "exec", "Type": "EXECUTION"}], {}, "got dict: decode stored JSON"),
        ([], {"serdes": _NotASerdes()}, "serdes must be a Serdes"),
        ([], {"serdes": 5}, "serdes must be a Serdes"),
        ([], {"clock": "now"}, "clock must be a function"),
        ([], {"execution_arn": 5}, "execution_arn must be a str"),
    ],
    ids=["none", "str", "dicts", "serdes-half", "serdes-int", "clock-str", "arn-int"],
)
def test_interpreter_arguments_of_the_wrong_kind_are_refused_where_given(
    operations: Any, options: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(dg.ValidationError, match=fragment):
        rt.Interpreter(twice, operations, **options)


@pytest.mark.parametrize(
    "changed",
    [None, "x", 5],
    ids=["none", "str", "int"],
)
def test_observe_takes_a_list(changed: Any) -> None:
    interp, _, _ = _first_task()
    with pytest.raises(dg.ValidationError, match="observe\\(\\) takes"):
        interp.observe(changed)


def test_observe_of_one_operation_instead_of_a_list_is_refused() -> None:
    interp, _, store = _first_task()
    with pytest.raises(dg.ValidationError, match="a list of the Operation values"):
        interp.observe(store["exec"])  # type: ignore[arg-type]


def test_drivers_refuse_a_bad_serdes_or_clock_before_anything_is_recorded() -> None:
    from durable_gen.local import LocalService

    service = LocalService()
    with pytest.raises(dg.ValidationError, match="serdes must be a Serdes"):
        rt.make_handler(twice, service, serdes=5)  # type: ignore[arg-type]
    with pytest.raises(dg.ValidationError, match="clock must be a function"):
        rt.make_handler(twice, service, clock=1.0)  # type: ignore[arg-type]
    with pytest.raises(dg.ValidationError, match="serdes must be a Serdes"):
        dg.run(twice, 1, serdes=_NotASerdes())  # type: ignore[arg-type]


def test_operations_of_two_executions_are_a_corrupt_history() -> None:
    ops = [*_store("1").values(), *(op for op in _store("2").values())]
    ops[1] = rt.Operation(
        id="exec-2",
        type="EXECUTION",
        status="STARTED",
        execution_details=rt.ExecutionDetails(input_payload="2"),
    )
    action = rt.Interpreter(twice, ops).next_action()
    assert isinstance(action, rt.Done) and isinstance(action.outcome, rt.Failed)
    assert action.outcome.error.error_type == "InvalidInputError"
    assert "two EXECUTION operations" in (action.outcome.error.error_message or "")


@pytest.mark.parametrize(
    ("corrupt", "fragment"),
    [
        (
            rt.Operation(id="s1", type="STEP", sub_type="Step", name="add_one", status="SUCCEEDED"),
            "has no StepDetails",
        ),
        (
            rt.Operation(
                id="s1",
                type="STEP",
                sub_type="Step",
                name="add_one",
                status="FAILED",
                step_details=rt.StepDetails(attempt=-1),
            ),
            "records Attempt -1",
        ),
    ],
    ids=["succeeded-without-details", "negative-attempt"],
)
def test_a_corrupt_operation_given_to_the_interpreter_ends_as_invalid_input(
    corrupt: rt.Operation, fragment: str
) -> None:
    # The drivers refuse such a history when they read it; an interpreter built by a host from
    # its own store refuses it too instead of replaying the step's result as None.
    from durable_gen._ids import operation_id

    corrupt = msgspec.structs.replace(corrupt, id=operation_id(None, 1))
    action = rt.Interpreter(twice, [*_store().values(), corrupt]).next_action()
    assert isinstance(action, rt.Done) and isinstance(action.outcome, rt.Failed)
    assert action.outcome.error.error_type == "InvalidInputError"
    assert fragment in (action.outcome.error.error_message or "")


def test_an_operation_twice_in_the_interpreter_s_operations_is_a_corrupt_history() -> None:
    interp, task, store = _first_task()
    interp.task_succeeded(task, 2)
    _finish(interp, store)
    ops = list(store.values())
    stale = msgspec.structs.replace(ops[1], status="STARTED", step_details=None)
    action = rt.Interpreter(twice, [*ops, stale]).next_action()
    assert isinstance(action, rt.Done) and isinstance(action.outcome, rt.Failed)
    assert action.outcome.error.error_type == "InvalidInputError"
    assert "appears twice" in (action.outcome.error.error_message or "")


def no_input() -> dg.Workflow[int]:
    yield from dg.Wait(seconds=1)
    return 1


def two_inputs(a: int, b: int) -> dg.Workflow[int]:
    yield from dg.Wait(seconds=1)
    return a + b


@pytest.mark.parametrize("workflow", [no_input, two_inputs, 5], ids=["none", "two", "int"])
def test_a_workflow_that_cannot_take_the_input_is_a_definition_error(workflow: Any) -> None:
    action = rt.Interpreter(workflow, list(_store().values())).next_action()
    assert isinstance(action, rt.Done) and isinstance(action.outcome, rt.Failed)
    assert action.outcome.error.error_type == "WorkflowDefinitionError"
    message = action.outcome.error.error_message or ""
    assert "generator function taking the input" in message or "one positional" in message
    if callable(workflow):
        with pytest.raises(dg.ExecutionFailedError, match="one positional argument, the input"):
            dg.run(workflow, 1)


def _started() -> tuple[Any, str, rt.InvocationInput]:
    from durable_gen.local import LocalService

    service = LocalService()
    service.register("twice", rt.make_handler(twice, service))
    arn = service.start("twice", "1")
    event = rt.InvocationInput(
        durable_execution_arn=arn,
        checkpoint_token="t",
        initial_execution_state=rt.ExecutionState(operations=service.get_operations(arn)),
    )
    return service, arn, event


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (
            lambda s, e: rt.invoke(twice, {"DurableExecutionArn": "a"}, s),
            dg.ValidationError,
            "msgspec.convert",
        ),
        (lambda s, e: rt.invoke(twice, None, s), dg.ValidationError, "takes an InvocationInput"),
        (lambda s, e: rt.invoke(twice, e, None), dg.ValidationError, "DurableService"),
        (lambda s, e: rt.invoke(twice, e, object()), dg.ValidationError, "checkpoint() and"),
        (lambda s, e: rt.make_handler(twice, s)({"x": 1}), dg.ValidationError, "InvocationInput"),
        (lambda s, e: rt.make_handler(5, s), dg.WorkflowDefinitionError, "generator function"),
        (lambda s, e: rt.make_handler(twice, None), dg.ValidationError, "DurableService"),
        (
            lambda s, e: anyio.run(lambda: rt.invoke_async(twice, {"x": 1}, s)),
            dg.ValidationError,
            "InvocationInput",
        ),
    ],
    ids=[
        "event-dict",
        "event-none",
        "service-none",
        "service-object",
        "handler-event-dict",
        "handler-workflow",
        "handler-service",
        "async-event-dict",
    ],
)
def test_a_driver_call_of_the_wrong_kind_is_refused_before_anything_is_read(
    call: Any, error: type[Exception], fragment: str
) -> None:
    service, arn, event = _started()
    with pytest.raises(error, match=re.escape(fragment)):
        call(service, event)
    # Nothing was recorded: the execution still runs to its result.
    assert service.run(arn).result == "3"


class _Misbehaving:
    """A DurableService of one's own whose replies are of the wrong kind."""

    def __init__(self, reply: Callable[[rt.Applied], Any], page: Any = None) -> None:
        self.ops = _store()
        self.reply, self.page = reply, page

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Sequence[rt.OperationUpdate]
    ) -> Any:
        return self.reply(rt.apply_updates(self.ops, updates, now_ms=0))

    def get_state(self, execution_arn: str, checkpoint_token: str, marker: str) -> Any:
        return self.page

    def event(self, marker: str | None = None) -> rt.InvocationInput:
        state = rt.ExecutionState(operations=list(self.ops.values()), next_marker=marker)
        return rt.InvocationInput(
            durable_execution_arn="arn:own", checkpoint_token="t", initial_execution_state=state
        )


def _changed(applied: rt.Applied, token: Any = "t2") -> rt.CheckpointResponse:
    return rt.CheckpointResponse(
        checkpoint_token=token,
        new_execution_state=rt.ExecutionState(operations=applied.operations),
    )


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        (lambda applied: None, "checkpoint() returned None"),
        (lambda applied: {"CheckpointToken": "t2"}, "returns CheckpointResponse("),
        (lambda applied: _changed(applied, token=5), "the new token, a str"),
    ],
    ids=["none", "dict", "token-int"],
)
def test_a_service_reply_of_the_wrong_kind_is_invalid_input(reply: Any, fragment: str) -> None:
    service = _Misbehaving(reply)
    with pytest.raises(dg.InvalidInputError, match=re.escape(fragment)):
        rt.invoke(twice, service.event(), service)


def test_a_state_page_of_the_wrong_kind_is_invalid_input() -> None:
    service = _Misbehaving(_changed, page={"Operations": []})
    with pytest.raises(dg.InvalidInputError, match="get_state\\(\\) returned"):
        rt.invoke(twice, service.event(marker="page-2"), service)
    # With proper replies the same service runs the workflow to its end.
    good = _Misbehaving(_changed)
    assert rt.invoke(twice, good.event(), good).result == "3"


def test_input_given_beside_the_recorded_one_is_refused_not_ignored() -> None:
    from durable_gen.testing import replay

    # The EXECUTION operation carries input 1; input=100 was silently ignored.
    with pytest.raises(dg.ValidationError, match="leave input= out"):
        rt.Interpreter(twice, list(_store("1").values()), input=100)
    interp, task, store = _first_task("1")
    interp.task_succeeded(task, 2)
    _finish(interp, store)
    with pytest.raises(dg.ValidationError, match="leave input= out"):
        replay(twice, list(store.values()), input=100)
    assert replay(twice, list(store.values())).result == 3
    # Without the EXECUTION operation, input= is how the input is given.
    later = [op for op in store.values() if op.type != "EXECUTION"]
    assert replay(twice, later, input=1).result == 3


def _waits_then_calls_back(_: Any) -> dg.Workflow[Any]:
    yield from dg.Wait(seconds=60, name="pause")
    handle = yield from dg.CreateCallback(name="answer", timeout=600, heartbeat_timeout=30)
    return (yield from handle)


def _armed(store: dict[str, rt.Operation], now_ms: int) -> list[rt.Timer]:
    interp = rt.Interpreter(_waits_then_calls_back, list(store.values()))
    timers: list[rt.Timer] = []
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Done):
            return timers
        assert isinstance(action, rt.Flush)
        applied = rt.apply_updates(store, action.updates, now_ms=now_ms)
        timers += applied.timers
        interp.observe(applied.operations)


def test_a_timer_fired_before_it_is_due_is_refused_and_changes_nothing() -> None:
    # Before, the wait ended at once, and a callback timed out with "no heartbeat arrived
    # within the heartbeat timeout of 30 seconds" at the moment it was created.
    store = _store("null")
    (wait,) = _armed(store, now_ms=1_000)
    assert (wait.kind, wait.due_ms) == ("wait", 61_000)
    before = dict(store)
    with pytest.raises(dg.ValidationError, match=r"due at 61000, 1 ms after now_ms=60999"):
        rt.fire_timer(store, wait, now_ms=60_999)
    assert store == before
    assert rt.fire_timer(store, wait, now_ms=61_000) is not None  # due: it fires
    timers = _armed(store, now_ms=61_000)
    assert sorted(t.kind for t in timers) == ["callback-heartbeat", "callback-timeout"]
    for timer in timers:
        with pytest.raises(dg.ValidationError, match="time a callback out before its timeout"):
            rt.fire_timer(store, timer, now_ms=61_000)
    assert {op.status for op in store.values() if op.type == "CALLBACK"} == {"STARTED"}
