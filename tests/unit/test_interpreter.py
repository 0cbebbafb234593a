"""The interpreter, driven by recorded histories: no service, no driver, no mocks."""

from __future__ import annotations

import json
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime
from durable_gen._ids import operation_id
from durable_gen._wire import CallbackDetails, ErrorObject, Operation, StepDetails
from tests import histories as h
from tests.hosting import Host, hosted

calls: list[str] = []


@dg.step
def double(x: int) -> int:
    calls.append(f"double({x})")
    return x * 2


@dg.step
def boom() -> None:
    raise ValueError("boom")


def interp(workflow: Any, *ops: Operation, input: Any = None) -> Host:
    return hosted(workflow, [h.execution(input), *ops], execution_arn="arn:test")


def actions(updates: list[Any]) -> list[tuple[str, str, str | None]]:
    return [(u.type, u.action, u.name) for u in updates]


@pytest.fixture(autouse=True)
def _clear() -> None:
    calls.clear()


def two_steps(x: int):  # type: ignore[no-untyped-def]
    a = yield double(x)
    b = yield double(a)
    return a + b


def test_first_run_hands_out_the_first_step_with_the_aws_id() -> None:
    it = interp(two_steps, input=3)
    tasks = it.advance()
    assert len(tasks) == 1
    task = tasks[0]
    assert task.operation_id == operation_id(None, 1) == h.oid(1)
    assert task.name == "double" and task.attempt == 1 and task.args == (3,)
    assert it.updates == [] and it.outcome is None  # START goes with the outcome


def test_step_outcome_records_start_and_succeed_then_next_step() -> None:
    it = interp(two_steps, input=3)
    (task,) = it.advance()
    it.task_succeeded(task, task.fn(*task.args))
    (task2,) = it.advance()
    assert actions(it.take_updates()) == [
        ("STEP", "START", "double"),
        ("STEP", "SUCCEED", "double"),
    ]
    assert task2.operation_id == h.oid(2) and task2.args == (6,)
    it.task_succeeded(task2, 12)
    assert it.advance() == []
    assert it.outcome == dg.Succeeded("18")


def test_full_replay_runs_nothing() -> None:
    it = interp(two_steps, h.step(1, 6, name="double"), h.step(2, 12, name="double"), input=3)
    assert it.advance() == []
    assert it.outcome == dg.Succeeded("18")
    assert it.updates == [] and calls == []


def test_recorded_failure_is_raised_identically() -> None:
    seen: list[Any] = []

    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield boom()
        except dg.StepFailedError as exc:
            seen.append((exc.error_type, exc.error_message))
        return "handled"

    err = ErrorObject(error_type="ValueError", error_message="boom")
    it = interp(wf, h.step(1, name="boom", status="FAILED", error=err))
    it.advance()
    assert seen == [("ValueError", "boom")]
    assert it.outcome == dg.Succeeded('"handled"')


def test_renamed_step_is_non_determinism_naming_both_sides() -> None:
    it = interp(two_steps, h.step(1, 6, name="triple"), input=3)
    it.advance()
    out = it.outcome
    assert isinstance(out, dg.Failed)
    assert out.error.error_type == "NonDeterminismError"
    assert isinstance(out.exception, dg.NonDeterminismError)
    assert "triple" in out.error.error_message and "double" in out.error.error_message
    assert "operation 1 of the root context" in out.error.error_message


def test_step_replaced_by_wait_is_non_determinism() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=5)

    it = interp(wf, h.step(1, 6, name="double"))
    it.advance()
    assert isinstance(it.outcome, dg.Failed)
    assert "STEP/Step" in it.outcome.error.error_message
    assert "WAIT/Wait" in it.outcome.error.error_message


def test_history_left_unvisited_is_reported() -> None:
    def wf(x: int):  # type: ignore[no-untyped-def]
        return (yield double(x))

    it = interp(wf, h.step(1, 2, name="double"), h.step(2, 4, name="double"), input=1)
    it.advance()
    assert isinstance(it.outcome, dg.Failed)
    assert "never reached" in (it.outcome.error.error_message or "")


def test_wait_starts_then_suspends_and_replays() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=30, name="pause")
        return "after"

    it = interp(wf)
    assert it.advance() == []
    (update,) = it.take_updates()
    assert (update.type, update.action, update.wait_options.wait_seconds) == ("WAIT", "START", 30)
    assert isinstance(it.outcome, dg.Suspended)

    started = interp(wf, h.wait(1, name="pause", status="STARTED"))
    started.advance()
    assert started.updates == [] and isinstance(started.outcome, dg.Suspended)

    done = interp(wf, h.wait(1, name="pause"))
    done.advance()
    assert done.outcome == dg.Succeeded('"after"')


def test_callback_handle_needs_the_id_from_the_service() -> None:
    got: list[str] = []

    def wf(_: Any):  # type: ignore[no-untyped-def]
        handle = yield dg.CreateCallback(name="approval", timeout=60)
        got.append(handle.callback_id)
        return (yield handle)

    it = dg.Interpreter(wf, [h.execution()], execution_arn="arn:test")
    flush = it.next_action()  # flushed at once, whatever the mode: the reply carries the id
    assert isinstance(flush, runtime.Flush)
    (update,) = flush.updates
    assert update.callback_options.timeout_seconds == 60
    started = Operation(
        id=update.id,
        type="CALLBACK",
        sub_type="Callback",
        name="approval",
        status="STARTED",
        callback_details=CallbackDetails(callback_id="abc123"),
    )
    it.observe([started])
    done_action = it.next_action()
    assert got == ["abc123"]
    assert isinstance(done_action, runtime.Done)
    assert isinstance(done_action.outcome, dg.Suspended)
    done = interp(wf, h.callback(1, name="approval", status="SUCCEEDED", result={"ok": True}))
    done.advance()
    assert done.outcome == dg.Succeeded('{"ok":true}')


def test_callback_timeout_raises_callback_timeout_error() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        handle = yield dg.CreateCallback()
        try:
            yield handle
        except dg.CallbackTimeoutError as exc:
            return exc.error_type

    err = ErrorObject(error_type="Callback.Timeout", error_message="timed out")
    it = interp(wf, h.callback(1, status="TIMED_OUT", error=err))
    it.advance()
    assert it.outcome == dg.Succeeded('"Callback.Timeout"')


def test_invoke_records_function_and_payload_and_raises_failures() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            return (yield dg.Invoke("tax", {"amount": 10}, name="tax"))
        except dg.InvokeFailedError as exc:
            return f"failed: {exc.error_message}"

    it = interp(wf)
    it.advance()
    (u,) = it.take_updates()
    assert (u.type, u.chained_invoke_options.function_name, u.payload) == (
        "CHAINED_INVOKE",
        "tax",
        '{"amount":10}',
    )
    failed = interp(
        wf, h.invoke(1, name="tax", status="FAILED", error=ErrorObject(error_message="no"))
    )
    failed.advance()
    assert failed.outcome == dg.Succeeded('"failed: no"')


def test_retry_records_delay_and_resumes_when_ready() -> None:
    @dg.step(retry=dg.Retry(max_attempts=3, initial_delay=2, backoff=3, jitter="none"))
    def flaky() -> str:
        raise RuntimeError("flaky")

    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield flaky())

    it = interp(wf)
    (task,) = it.advance()
    it.task_failed(task, RuntimeError("flaky"))
    assert it.advance() == []
    ups = it.take_updates()
    assert actions(ups) == [("STEP", "START", "flaky"), ("STEP", "RETRY", "flaky")]
    assert ups[1].step_options.next_attempt_delay_seconds == 2
    assert ups[1].error.error_type == "RuntimeError"
    assert isinstance(it.outcome, dg.Suspended)
    ready = Operation(
        id=task.operation_id,
        type="STEP",
        sub_type="Step",
        name="flaky",
        status="READY",
        step_details=StepDetails(attempt=1),
    )
    it.observe([ready])
    (again,) = it.advance()
    assert again.attempt == 2
    it.task_failed(again, RuntimeError("flaky"))
    it.advance()
    assert it.take_updates()[-1].step_options.next_attempt_delay_seconds == 6  # 2 * 3
    # from a recorded READY history, the third attempt is the last
    replay = interp(wf, h.step(1, name="flaky", status="READY", attempt=2))
    (last,) = replay.advance()
    assert last.attempt == 3
    replay.task_failed(last, RuntimeError("flaky"))
    replay.advance()
    assert actions(replay.take_updates()) == [("STEP", "START", "flaky"), ("STEP", "FAIL", "flaky")]
    assert isinstance(replay.outcome, dg.Failed)


def test_default_retry_jitter_is_deterministic_and_bounded() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield boom()

    delays = []
    for _ in range(2):
        it = interp(wf)
        (task,) = it.advance()
        it.task_failed(task, ValueError("boom"))
        it.advance()
        delays.append(it.take_updates()[-1].step_options.next_attempt_delay_seconds)
    assert delays[0] == delays[1] and 1 <= delays[0] <= 5


def test_retry_only_on_listed_exception_types() -> None:
    @dg.step(retry=dg.Retry(max_attempts=5, retry_on=(TimeoutError,)))
    def picky() -> None:
        raise ValueError("not retried")

    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield picky()

    it = interp(wf)
    (task,) = it.advance()
    it.task_failed(task, ValueError("not retried"))
    it.advance()
    assert actions(it.take_updates())[-1] == ("STEP", "FAIL", "picky")
    assert isinstance(it.outcome, dg.Failed) and it.outcome.error.error_type == "ValueError"


def test_at_most_once_confirms_start_and_interrupted_attempt_fails() -> None:
    @dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
    def charge() -> str:
        return "charged"

    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield charge())

    it = interp(wf)
    (task,) = it.advance()
    # the START was flushed (and answered) before the task was handed out
    assert [actions(f) for f in it.flushes] == [[("STEP", "START", "charge")]]
    assert actions(it.take_updates()) == [("STEP", "START", "charge")]
    it.task_succeeded(task, "charged")
    it.advance()
    assert actions(it.take_updates()) == [("STEP", "SUCCEED", "charge")]

    crashed = interp(wf, h.step(1, name="charge", status="STARTED"))
    assert crashed.advance() == []
    assert actions(crashed.take_updates()) == [("STEP", "FAIL", "charge")]
    assert isinstance(crashed.outcome, dg.Failed)
    assert crashed.outcome.error.error_type == "StepInterruptedError"


def test_at_least_once_started_step_runs_again_without_a_second_start() -> None:
    it = interp(two_steps, h.step(1, name="double", status="STARTED"), input=3)
    (task,) = it.advance()
    it.task_succeeded(task, 6)
    it.advance()
    assert actions(it.take_updates()) == [("STEP", "SUCCEED", "double")]


def test_child_context_has_its_own_namespace_and_replays_from_one_record() -> None:
    def sub(x: int):  # type: ignore[no-untyped-def]
        return (yield double(x))

    def wf(x: int):  # type: ignore[no-untyped-def]
        return (yield dg.Child(sub, (x,), name="sub"))

    it = interp(wf, input=2)
    (task,) = it.advance()
    child_id = h.oid(1)
    assert task.operation_id == operation_id(child_id, 1) and task.parent_id == child_id
    it.task_succeeded(task, 4)
    it.advance()
    assert actions(it.take_updates()) == [
        ("CONTEXT", "START", "sub"),
        ("STEP", "START", "double"),
        ("STEP", "SUCCEED", "double"),
        ("CONTEXT", "SUCCEED", "sub"),
    ]
    assert it.outcome == dg.Succeeded("4")
    replay = interp(wf, h.context(child_id, "RunInChildContext", name="sub", result="4"), input=2)
    replay.advance()
    assert replay.outcome == dg.Succeeded("4") and calls == []


def test_child_failure_raises_child_failed_error_with_recorded_type() -> None:
    def sub(_: Any):  # type: ignore[no-untyped-def]
        yield boom()

    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield dg.Child(sub, (1,), name="sub")
        except dg.ChildFailedError as exc:
            return exc.error_type

    err = ErrorObject(error_type="ValueError", error_message="boom")
    it = interp(
        wf, h.context(h.oid(1), "RunInChildContext", name="sub", status="FAILED", error=err)
    )
    it.advance()
    assert it.outcome == dg.Succeeded('"ValueError"')


def test_large_child_result_is_checkpointed_with_replay_children() -> None:
    big = "x" * (300 * 1024)

    @dg.step
    def make() -> str:
        return big

    def sub(_: Any):  # type: ignore[no-untyped-def]
        return (yield make())

    def wf(_: Any):  # type: ignore[no-untyped-def]
        value = yield dg.Child(sub, (None,), name="big")
        return len(value)

    it = interp(wf)
    (task,) = it.advance()
    it.task_succeeded(task, big)
    it.advance()
    succeed = it.take_updates()[-1]
    assert succeed.context_options.replay_children is True and succeed.payload == ""
    child_id = h.oid(1)
    replay = interp(
        wf,
        h.context(child_id, "RunInChildContext", name="big", result="", replay_children=True),
        h.step(1, big, name="make", parent=child_id),
    )
    replay.advance()
    assert replay.outcome == dg.Succeeded(str(len(big))) and replay.updates == []


def test_map_item_ids_names_and_order() -> None:
    def wf(items: list[int]):  # type: ignore[no-untyped-def]
        batch = yield dg.Map(double, items, name="m")
        return batch.results()

    it = interp(wf, input=[1, 2, 3])
    tasks = it.advance()
    map_id = h.oid(1)
    assert [t.parent_id for t in tasks] == [operation_id(map_id, i) for i in range(3)]
    for t in reversed(tasks):  # complete out of order
        it.task_succeeded(t, t.args[0] * 2)
        it.advance()
    ups = it.take_updates()
    names = [u.name for u in ups if u.type == "CONTEXT" and u.action == "START"]
    assert names == ["m", "map-item-0", "map-item-1", "map-item-2"]
    assert it.outcome == dg.Succeeded("[2,4,6]")


def test_map_max_concurrency_limits_tasks_in_flight() -> None:
    def wf(items: list[int]):  # type: ignore[no-untyped-def]
        return (yield dg.Map(double, items, max_concurrency=2)).results()

    it = interp(wf, input=[1, 2, 3, 4, 5])
    assert len(it.advance()) == 2


def test_map_fail_fast_does_not_start_remaining_items() -> None:
    @dg.step(retry=dg.Retry.never())
    def maybe(x: int) -> int:
        return x

    def wf(items: list[int]):  # type: ignore[no-untyped-def]
        b = yield dg.Map(maybe, items, max_concurrency=1)
        return [b.completion_reason, [i.status for i in b.items]]

    it = interp(wf, input=[1, 2, 3])
    (t0,) = it.advance()
    it.task_succeeded(t0, 1)
    (t1,) = it.advance()
    it.task_failed(t1, ValueError("bad"))
    assert it.advance() == []
    assert it.outcome == dg.Succeeded(
        '["FAILURE_TOLERANCE_EXCEEDED",["SUCCEEDED","FAILED","NOT_STARTED"]]'
    )


def test_yielding_a_non_command_raises_into_the_generator() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield 42

    it = interp(wf)
    it.advance()
    assert isinstance(it.outcome, dg.Failed)
    assert it.outcome.error.error_type == "WorkflowDefinitionError"
    assert "not a durable_gen command" in (it.outcome.error.error_message or "")


def test_a_plain_function_is_not_a_workflow() -> None:
    def not_a_generator(_: Any) -> int:
        return 1

    it = interp(not_a_generator)
    it.advance()
    assert isinstance(it.outcome, dg.Failed)
    assert it.outcome.error.error_type == "WorkflowDefinitionError"
    with pytest.raises(dg.WorkflowDefinitionError):
        dg.workflow(not_a_generator)


def test_unserializable_step_result_fails_the_step_without_retry() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Step(lambda: object(), name="bad"))

    it = interp(wf)
    (task,) = it.advance()
    it.task_succeeded(task, object())
    it.advance()
    assert actions(it.take_updates())[-1] == ("STEP", "FAIL", "bad")
    assert isinstance(it.outcome, dg.Failed)
    assert it.outcome.error.error_type == "SerializationError"


def test_compensations_run_last_in_first_out_and_skip_finished_ones() -> None:
    undone: list[str] = []

    @dg.step(compensate=lambda r: undone.append(f"undo {r}"))
    def book(what: str) -> str:
        return what

    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield book("flight")
        yield book("hotel")
        results = yield dg.RunCompensations()
        return [r.status for r in results]

    comp1 = operation_id(None, 3)
    it = interp(
        wf,
        h.step(1, "flight", name="book"),
        h.step(2, "hotel", name="book"),
        h.context(comp1, "Compensation", name="book", result="null"),  # hotel undone already
    )
    (task,) = it.advance()
    assert task.args == ("flight",) and task.parent_id == operation_id(None, 4)
    it.task_succeeded(task, task.fn(*task.args))
    it.advance()
    assert undone == ["undo flight"]
    assert it.outcome == dg.Succeeded('["SUCCEEDED","SUCCEEDED"]')


def test_input_comes_from_the_execution_operation() -> None:
    def wf(inp: dict[str, int]):  # type: ignore[no-untyped-def]
        return inp["a"]
        yield  # pragma: no cover

    it = interp(wf, input={"a": 7})
    it.advance()
    assert it.outcome == dg.Succeeded(json.dumps(7))


def test_a_command_that_cannot_be_recorded_raises_at_its_yield() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield dg.Invoke("target", object())  # not JSON
        except dg.SerializationError:
            return "caught"

    it = interp(wf)
    it.advance()
    assert it.outcome == dg.Succeeded('"caught"')


def test_a_callback_answer_that_cannot_be_decoded_raises_at_its_yield() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        handle = yield dg.CreateCallback(name="cb")
        try:
            yield handle
        except dg.SerializationError:
            return "bad answer"

    it = interp(wf)
    it.advance()
    (update,) = it.take_updates()
    answered = Operation(
        id=update.id,
        type="CALLBACK",
        sub_type="Callback",
        name="cb",
        status="SUCCEEDED",
        callback_details=CallbackDetails(callback_id=f"cb-{update.id[:12]}", result="not json"),
    )
    it.observe([answered])
    it.advance()
    assert it.outcome == dg.Succeeded('"bad answer"')


def test_an_interrupted_step_raises_step_interrupted_error_on_every_replay() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield dg.Step(lambda: 1, name="once", semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
        except dg.StepInterruptedError:
            return "interrupted"

    first = interp(wf, h.step(1, name="once", status="STARTED", attempt=0))
    first.advance()
    err = first.take_updates()[-1].error
    assert first.outcome == dg.Succeeded('"interrupted"')
    replay = interp(wf, h.step(1, name="once", status="FAILED", attempt=1, error=err))
    replay.advance()
    assert replay.outcome == dg.Succeeded('"interrupted"')


# --- the host interface: one pull call, each action kind, each mode's flush policy ---------


def kinds(updates: list[Any]) -> list[tuple[str, str]]:
    return [(u.type, u.action) for u in updates]


def new(workflow: Any, *ops: Operation, input: Any = None, **options: Any) -> dg.Interpreter:
    return dg.Interpreter(workflow, [h.execution(input), *ops], execution_arn="arn:t", **options)


def test_step_mode_flushes_each_step_outcome_with_its_start_before_the_next_task() -> None:
    it = new(two_steps, input=3)
    run = it.next_action()
    assert isinstance(run, runtime.RunTasks)
    (t1,) = run.tasks
    it.task_succeeded(t1, 6)
    flush = it.next_action()
    assert isinstance(flush, runtime.Flush)
    assert kinds(flush.updates) == [("STEP", "START"), ("STEP", "SUCCEED")]
    it.observe([])
    run2 = it.next_action()
    assert isinstance(run2, runtime.RunTasks) and run2.tasks[0].args == (6,)
    it.task_succeeded(run2.tasks[0], 12)
    last = it.next_action()
    assert isinstance(last, runtime.Flush) and kinds(last.updates)[-1] == ("STEP", "SUCCEED")
    it.observe([])
    done = it.next_action()
    assert done == runtime.Done(dg.Succeeded("18"))
    assert it.next_action() == done  # the end is final


def test_eager_mode_flushes_every_start_before_its_task_runs() -> None:
    it = new(two_steps, input=3, checkpointing="eager")
    first = it.next_action()
    assert isinstance(first, runtime.Flush) and kinds(first.updates) == [("STEP", "START")]
    it.observe([])
    (t1,) = it.next_action().tasks  # type: ignore[union-attr]
    it.task_succeeded(t1, 6)
    outcome = it.next_action()
    assert isinstance(outcome, runtime.Flush)
    assert kinds(outcome.updates) == [("STEP", "SUCCEED"), ("STEP", "START")]


def test_batch_mode_holds_updates_until_the_end() -> None:
    it = new(two_steps, input=3, checkpointing="batch")
    (t1,) = it.next_action().tasks  # type: ignore[union-attr]
    it.task_succeeded(t1, 6)
    run2 = it.next_action()
    assert isinstance(run2, runtime.RunTasks)  # no flush between the steps
    it.task_succeeded(run2.tasks[0], 12)
    flush = it.next_action()
    assert isinstance(flush, runtime.Flush) and len(flush.updates) == 4
    it.observe([])
    assert it.next_action() == runtime.Done(dg.Succeeded("18"))


def test_batch_mode_still_flushes_what_something_waits_on_at_once() -> None:
    @dg.step(semantics=dg.AT_MOST_ONCE)
    def charge() -> str:
        return "ok"

    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield charge())

    it = new(wf, checkpointing="batch")
    first = it.next_action()
    assert isinstance(first, runtime.Flush) and kinds(first.updates) == [("STEP", "START")]


def test_a_suspension_flushes_its_updates_before_done() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=30)
        return "after"

    it = new(wf)
    flush = it.next_action()
    assert isinstance(flush, runtime.Flush) and kinds(flush.updates) == [("WAIT", "START")]
    it.observe([])
    done = it.next_action()
    assert isinstance(done, runtime.Done) and isinstance(done.outcome, dg.Suspended)
    # the same interpreter goes on when the host observes the wait's end
    it.observe([h.wait(1)])
    assert it.next_action() == runtime.Done(dg.Succeeded('"after"'))


def test_wait_for_tasks_lists_what_still_runs() -> None:
    @dg.step
    def a() -> str:
        return "a"

    @dg.step
    def b() -> str:
        return "b"

    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Parallel([a, b])).results()

    it = new(wf)
    run = it.next_action()
    assert isinstance(run, runtime.RunTasks) and [t.name for t in run.tasks] == ["a", "b"]
    waiting = it.next_action()
    assert isinstance(waiting, runtime.WaitForTasks)
    assert [t.name for t in waiting.running] == ["a", "b"]
    it.task_succeeded(run.tasks[1], "b")
    assert isinstance(it.next_action(), runtime.Flush)  # step mode: b's outcome at once
    it.observe([])
    waiting = it.next_action()
    assert isinstance(waiting, runtime.WaitForTasks)
    assert [t.name for t in waiting.running] == ["a"]


def test_done_does_not_wait_for_tasks_of_a_decided_batch() -> None:
    @dg.step
    def item(x: int) -> int:
        return x

    def wf(_: Any):  # type: ignore[no-untyped-def]
        batch = yield dg.Map(item, [1, 2], completion=dg.Completion(min_successful=1))
        return batch.results()

    it = new(wf)
    run = it.next_action()
    assert isinstance(run, runtime.RunTasks) and len(run.tasks) == 2
    it.task_succeeded(run.tasks[0], 1)
    flush = it.next_action()
    assert isinstance(flush, runtime.Flush)
    it.observe([])
    assert it.next_action() == runtime.Done(dg.Succeeded("[1]"))
    assert it.running == 1  # abandoned: a late report changes nothing
    it.task_succeeded(run.tasks[1], 2)
    assert it.next_action() == runtime.Done(dg.Succeeded("[1]"))


def test_a_flush_must_be_answered_before_the_next_action() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=1)

    it = new(wf)
    assert isinstance(it.next_action(), runtime.Flush)
    with pytest.raises(dg.ValidationError, match="observe"):
        it.next_action()


def test_a_task_is_reported_once() -> None:
    it = new(two_steps, input=1)
    (task,) = it.next_action().tasks  # type: ignore[union-attr]
    it.task_succeeded(task, 2)
    with pytest.raises(dg.ValidationError, match="not running"):
        it.task_failed(task, RuntimeError("again"))


def test_an_unknown_checkpointing_mode_is_a_validation_error() -> None:
    with pytest.raises(dg.ValidationError, match="'step', 'eager' or 'batch'"):
        new(two_steps, checkpointing="sometimes")
    with pytest.raises(dg.ValidationError, match="'step', 'eager' or 'batch'"):
        dg.make_handler(two_steps, None, checkpointing="never")  # type: ignore[arg-type]


def test_a_task_carries_only_what_a_host_needs() -> None:
    it = new(two_steps, input=3)
    (task,) = it.next_action().tasks  # type: ignore[union-attr]
    assert (task.name, task.attempt, task.args, task.kwargs, task.is_async) == (
        "double",
        1,
        (3,),
        {},
        False,
    )
    assert task.deadline_ms is None and task.parent_id is None and task.sub_type == "Step"
    for internal in ("fiber", "cmd", "kind", "retry", "serdes"):
        assert not hasattr(task, internal), internal
    with pytest.raises(AttributeError):
        task.attempt = 2  # type: ignore[misc]


def test_coverage_says_which_recorded_operations_were_replayed() -> None:
    def sub(x: int):  # type: ignore[no-untyped-def]
        return (yield double(x))

    def wf(x: int):  # type: ignore[no-untyped-def]
        a = yield dg.Child(sub, (x,), name="sub")
        return (yield double(a))

    child = h.oid(1)
    recorded = [
        h.context(h.oid(1), "RunInChildContext", name="sub", result="4"),
        h.step(1, 4, name="double", parent=child),
        h.step(2, 8, name="double"),
    ]
    it = new(wf, *recorded, input=2)
    assert it.coverage.replayed == frozenset() and it.coverage.recorded == 3
    assert it.next_action() == runtime.Done(dg.Succeeded("8"))
    cov = it.coverage
    assert cov.replayed == {h.oid(1), h.oid(2)}
    assert cov.not_replayed == ()
    assert [op.id for op in cov.inside_completed] == [h.oid(1, child)]

    # a history that ends early: the second step is still to run, nothing is left behind
    partial = new(wf, recorded[0], input=2)
    assert isinstance(partial.next_action(), runtime.RunTasks)
    assert partial.coverage.replayed == {h.oid(1)} and partial.coverage.not_replayed == ()


def test_coverage_lists_recorded_operations_the_code_never_reached() -> None:
    def wf(x: int):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=5, name="first")
        return (yield double(x))

    it = new(wf, h.wait(1, name="first", status="STARTED"), h.step(2, 2, name="double"), input=1)
    assert isinstance(it.next_action(), runtime.Done)  # suspended on the wait
    cov = it.coverage
    assert cov.replayed == {h.oid(1)}
    assert [op.id for op in cov.not_replayed] == [h.oid(2)]


def test_tasks_of_a_decided_batch_do_not_hold_off_a_suspension() -> None:
    @dg.step
    def item(x: int) -> int:
        return x

    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield dg.Map(item, [1, 2], completion=dg.Completion(min_successful=1))
        yield dg.Wait(seconds=60)

    it = new(wf)
    run = it.next_action()
    assert isinstance(run, runtime.RunTasks)
    it.task_succeeded(run.tasks[0], 1)
    flush = it.next_action()
    assert isinstance(flush, runtime.Flush) and kinds(flush.updates)[-1] == ("WAIT", "START")
    it.observe([])
    done = it.next_action()  # item 2 still runs, abandoned: the wait suspends the execution
    assert isinstance(done, runtime.Done) and isinstance(done.outcome, dg.Suspended)


def test_a_recorded_step_result_that_does_not_decode_raises_an_error_naming_the_step() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield double(1)
        except dg.SerializationError as exc:
            return str(exc)

    recorded = h.step(1, "not an int", name="double")  # recorded as a string: not an int
    it = interp(wf, recorded)
    it.advance()
    assert isinstance(it.outcome, dg.Succeeded)
    message = json.loads(it.outcome.result)
    assert message.startswith("the result of step 'double'")
    assert "int" in message
