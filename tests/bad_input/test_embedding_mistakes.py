"""Mistakes a runtime author makes with the reference store of ``durable_gen.runtime``: each is
a typed error with advice (or, for what a real service does meet, the documented answer),
never an operation silently put in a state the interpreter misreads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=2, backoff=2.0, jitter="none"))
def flaky(x: int) -> int:
    raise ConnectionError(f"down {x}")


def waits(_: None) -> dg.Workflow[str]:
    yield from dg.Wait(seconds=60, name="pause")
    return "done"


def calls_back(_: None) -> dg.Workflow[object]:
    handle = yield from dg.CreateCallback(name="approval", timeout=300)
    return (yield from handle)


def retries(_: None) -> dg.Workflow[int]:
    return (yield from flaky(1))


def _new(start_ms: int = 0) -> dict[str, rt.Operation]:
    return {
        "exec": rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            start_timestamp=start_ms,
            execution_details=rt.ExecutionDetails(input_payload="null"),
        )
    }


def _invoke(workflow: object, store: dict[str, rt.Operation], now_ms: int) -> list[rt.Timer]:
    """One invocation over the store; steps run inline. The timers it armed."""
    interp = rt.Interpreter(workflow, list(store.values()), clock=lambda: now_ms / 1000)  # type: ignore[arg-type]
    timers: list[rt.Timer] = []
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            applied = rt.apply_updates(store, action.updates, now_ms=now_ms)
            timers += applied.timers
            interp.observe(applied.operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                try:
                    interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
                except Exception as exc:
                    interp.task_failed(task, exc)
        else:
            assert isinstance(action, rt.Done)
            return timers


def _only(store: dict[str, rt.Operation], type_: str) -> rt.Operation:
    (op,) = [op for op in store.values() if op.type == type_]
    return op


# --- fire_timer: a timer must belong to the operation it names ----------------------------


def test_a_callback_timer_fired_on_a_wait_is_refused() -> None:
    # Before, the WAIT became TIMED_OUT, a status a WAIT never takes, which the interpreter
    # then refused as a corrupt history.
    store = _new()
    (timer,) = _invoke(waits, store, now_ms=0)
    wrong = rt.Timer(kind="callback-timeout", operation_id=timer.operation_id, due_ms=60_000)
    before = dict(store)
    with pytest.raises(dg.ValidationError, match=r"callback-timeout timer .* WAIT"):
        rt.fire_timer(store, wrong, now_ms=60_000)
    assert store == before


def test_a_wait_timer_fired_on_a_started_step_is_refused() -> None:
    # Before, the STEP became SUCCEEDED with no result: the workflow got None from a step that
    # never finished.
    store = _new()
    interp = rt.Interpreter(retries, list(store.values()), checkpointing="eager")
    action = interp.next_action()
    assert isinstance(action, rt.Flush)
    interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
    step = _only(store, "STEP")
    assert step.status == "STARTED"
    wrong = rt.Timer(kind="wait", operation_id=step.id, due_ms=0)
    with pytest.raises(dg.ValidationError, match=r"wait timer .* STEP"):
        rt.fire_timer(store, wrong, now_ms=0)
    assert store[step.id] is step


def test_a_timer_of_an_operation_the_store_does_not_hold_is_refused() -> None:
    # Before, it returned None, as for a stale timer: the execution that armed it never woke.
    store = _new()
    with pytest.raises(dg.ValidationError, match="no operation 'nowhere' in this store"):
        rt.fire_timer(store, rt.Timer(kind="wait", operation_id="nowhere", due_ms=0), now_ms=0)


def test_a_timer_of_another_execution_of_the_same_workflow_does_not_end_a_wait_early() -> None:
    # Operation ids are the same in every execution of a workflow: a host that files timers
    # by operation id alone fires one execution's timer into another's store. Before, the
    # second execution's one-minute wait ended 30 s after it started.
    first, second = _new(0), _new(30_000)
    (timer,) = _invoke(waits, first, now_ms=0)
    (own,) = _invoke(waits, second, now_ms=30_000)
    assert own.operation_id == timer.operation_id and own.due_ms == 90_000
    with pytest.raises(dg.ValidationError, match=r"scheduled to end at 90000"):
        rt.fire_timer(second, timer, now_ms=60_000)
    assert _only(second, "WAIT").status == "STARTED"
    fired = rt.fire_timer(second, own, now_ms=90_000)
    assert fired is not None and fired.status == "SUCCEEDED"


def test_a_callback_timeout_of_another_execution_is_refused() -> None:
    first, second = _new(0), _new(100_000)
    (timer,) = _invoke(calls_back, first, now_ms=0)
    (own,) = _invoke(calls_back, second, now_ms=100_000)
    assert (timer.kind, own.due_ms) == ("callback-timeout", 400_000)
    with pytest.raises(dg.ValidationError, match=r"started at 100000"):
        rt.fire_timer(second, timer, now_ms=300_000)
    assert _only(second, "CALLBACK").status == "STARTED"
    fired = rt.fire_timer(second, own, now_ms=400_000)
    assert fired is not None and fired.status == "TIMED_OUT"


def test_a_retry_timer_delivered_again_after_the_next_failure_is_stale() -> None:
    # A queue that delivers at least once hands the first retry timer over again after the
    # second attempt failed. Before, the step became READY 2 s into its 4 s delay.
    store = _new()
    (first,) = _invoke(retries, store, now_ms=0)
    assert (first.kind, first.due_ms) == ("retry", 2_000)
    assert rt.fire_timer(store, first, now_ms=2_000) is not None
    (second,) = _invoke(retries, store, now_ms=2_000)
    assert second.due_ms == 6_000
    assert rt.fire_timer(store, first, now_ms=4_000) is None
    assert _only(store, "STEP").status == "PENDING"
    fired = rt.fire_timer(store, second, now_ms=6_000)
    assert fired is not None and fired.status == "READY"


# --- observe(): news only moves an operation forward ---------------------------------------


@dg.step
def hand_over(callback_id: str) -> str:
    return callback_id


def calls_back_after_a_step(_: None) -> dg.Workflow[object]:
    handle = yield from dg.CreateCallback(name="approval")
    yield from hand_over(handle.callback_id)
    return (yield from handle)


def _running_the_step() -> tuple[rt.Interpreter, dict[str, rt.Operation], rt.StepTask]:
    store = _new()
    interp = rt.Interpreter(calls_back_after_a_step, list(store.values()))
    while not isinstance(action := interp.next_action(), rt.RunTasks):
        assert isinstance(action, rt.Flush)
        interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
    (task,) = action.tasks
    return interp, store, task


def test_a_stale_copy_observed_after_the_answer_is_refused() -> None:
    # The callback is answered while the step that hands its id over still runs; a host
    # whose news arrive out of order (two queues, a retried delivery) then hands the
    # interpreter the older STARTED copy. Before, the older copy won: the invocation ended
    # Suspended on a callback the store holds answered, and nothing would wake it.
    interp, store, task = _running_the_step()
    started = _only(store, "CALLBACK")
    (callback_id,) = task.args
    answered = rt.complete_callback(store, callback_id, now_ms=1_000, result='"yes"')
    interp.observe([answered])
    with pytest.raises(dg.ValidationError, match=r"already SUCCEEDED, .* as STARTED"):
        interp.observe([started])
    interp.task_succeeded(task, task.fn(*task.args))
    while not isinstance(action := interp.next_action(), rt.Done):
        assert isinstance(action, rt.Flush)
        interp.observe(rt.apply_updates(store, action.updates, now_ms=1_000).operations)
    assert action.outcome == rt.Succeeded(result='"yes"')


def test_an_operation_observed_with_another_type_is_refused() -> None:
    # The same id with another type is another execution's operation (ids repeat across
    # executions of a workflow) or a store that mixed records up.
    interp, store, _ = _running_the_step()
    started = _only(store, "CALLBACK")
    other = rt.Operation(
        id=started.id,
        type="STEP",
        status="SUCCEEDED",
        name=started.name,
        step_details=rt.StepDetails(result="1"),
    )
    with pytest.raises(dg.ValidationError, match=r"is a CALLBACK, .* as a STEP"):
        interp.observe([other])


# --- an ended execution records nothing more -----------------------------------------------


def _ended(store: dict[str, rt.Operation], status: str) -> None:
    execution = store["exec"]
    store["exec"] = rt.Operation(
        id=execution.id,
        type="EXECUTION",
        status=status,  # type: ignore[arg-type]
        start_timestamp=execution.start_timestamp,
        end_timestamp=5_000,
        execution_details=execution.execution_details,
    )


def test_a_stopped_execution_records_no_more_checkpoints() -> None:
    # The host stops an execution while an invocation of it runs (as the service's
    # StopDurableExecution does). Before, the store went on recording its steps, timers and
    # invokes as if it were running.
    store = _new()
    interp = rt.Interpreter(calls_back_after_a_step, list(store.values()))
    action = interp.next_action()
    assert isinstance(action, rt.Flush)
    _ended(store, "STOPPED")
    before = dict(store)
    with pytest.raises(dg.InvalidCheckpointError, match=r"execution 'exec' ended as STOPPED"):
        rt.apply_updates(store, action.updates, now_ms=6_000)
    assert store == before


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"])
def test_an_ended_execution_takes_no_answer_and_fires_no_timer(status: str) -> None:
    _, store, task = _running_the_step()
    (callback_id,) = task.args
    _ended(store, status)
    before = dict(store)
    with pytest.raises(dg.InvalidCheckpointError, match=rf"ended as {status}"):
        rt.complete_callback(store, callback_id, now_ms=6_000, result='"late"')
    with pytest.raises(dg.InvalidCheckpointError, match=rf"ended as {status}"):
        rt.heartbeat_callback(store, callback_id, None, now_ms=6_000)
    assert store == before
    waiting = _new()
    (timer,) = _invoke(waits, waiting, now_ms=0)
    _ended(waiting, status)
    assert rt.fire_timer(waiting, timer, now_ms=60_000) is None  # stale: nothing to wake
    assert _only(waiting, "WAIT").status == "STARTED"


def test_the_execution_update_that_ends_it_is_recorded_on_the_execution() -> None:
    # Before, the EXECUTION operation stayed STARTED after an EXECUTION SUCCEED: the store
    # took a second end, and went on recording updates.
    store = _new()
    end = rt.OperationUpdate(id="exec", type="EXECUTION", action="SUCCEED", payload='"big"')
    applied = rt.apply_updates(store, [end], now_ms=7_000)
    assert applied.outcome == rt.Succeeded(result='"big"')
    assert (store["exec"].status, store["exec"].end_timestamp) == ("SUCCEEDED", 7_000)
    with pytest.raises(dg.InvalidCheckpointError, match="ended as SUCCEEDED"):
        rt.apply_updates(store, [end], now_ms=8_000)


def invokes(_: None) -> dg.Workflow[object]:
    return (yield dg.Invoke("tax", {"amount": 10}, name="tax"))


def test_an_invoke_of_a_stopped_execution_is_not_completed() -> None:
    store = _new()
    interp = rt.Interpreter(invokes, list(store.values()))
    action = interp.next_action()
    assert isinstance(action, rt.Flush)
    (request,) = rt.apply_updates(store, action.updates, now_ms=0).invokes
    _ended(store, "STOPPED")
    with pytest.raises(dg.InvalidCheckpointError, match="ended as STOPPED"):
        rt.complete_invoke(store, request.operation_id, now_ms=1_000, result="2")
    assert _only(store, "CHAINED_INVOKE").status == "STARTED"


# --- task_failed(): a crash of the host is not a step's failure -----------------------------


@dg.step
def add(x: int) -> int:
    return x + 1


def one_step(_: None) -> dg.Workflow[int]:
    return (yield from add(1))


@pytest.mark.parametrize(
    "crash",
    [KeyboardInterrupt(), SystemExit(3), asyncio.CancelledError(), GeneratorExit()],
    ids=lambda e: type(e).__name__,
)
def test_a_crash_reported_as_a_failed_attempt_is_refused(crash: BaseException) -> None:
    # A sync step run with asyncio.to_thread that meets Ctrl-C or sys.exit, or an attempt the
    # host cancelled, comes back from future.exception() as a BaseException. Before, it was
    # recorded as the step's failure, not retried (retry_on counts Exceptions): the execution
    # failed for good, where the embedded engine and Lambda count it as a crash of the
    # invocation and run the attempt again at the next one.
    store = _new()
    interp = rt.Interpreter(one_step, list(store.values()))
    action = interp.next_action()
    assert isinstance(action, rt.RunTasks)
    (task,) = action.tasks
    with pytest.raises(
        dg.ValidationError, match=rf"a {type(crash).__name__} is not a step.s failure"
    ):
        interp.task_failed(task, crash)
    assert interp.running == 1  # still out: the host may report it, or give the invocation up
    interp.task_succeeded(task, 2)
    while not isinstance(action := interp.next_action(), rt.Done):
        assert isinstance(action, rt.Flush)
        interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
    assert action.outcome == rt.Succeeded(result="2")


# --- clock=: epoch seconds ------------------------------------------------------------------


def now_is(_: None) -> dg.Workflow[str]:
    return (yield from dg.Now()).isoformat()


@dg.step(timeout=5)
def bounded(x: int) -> int:
    return x


def times_out(_: None) -> dg.Workflow[int]:
    return (yield from bounded(1))


BAD_CLOCKS = [
    (lambda: 1_735_689_600_000, r"got 1735689600000, epoch milliseconds"),  # the store's now_ms
    (lambda: "2025-01-01", r"got str"),
    (lambda: float("nan"), r"got nan"),
    (lambda: True, r"got bool"),
]


@pytest.mark.parametrize(("clock", "message"), BAD_CLOCKS)
def test_now_with_a_clock_that_is_not_epoch_seconds_says_so(
    clock: Callable[[], object], message: str
) -> None:
    # Before: a plain ValueError ("year 56971 is out of range") or TypeError recorded as the
    # Now() step's failure, saying nothing of the clock.
    good = iter([1_735_689_600.0])  # right when the interpreter is built, wrong when Now() runs
    store = _new()
    interp = rt.Interpreter(now_is, list(store.values()), clock=lambda: next(good, None) or clock())
    action = interp.next_action()
    assert isinstance(action, rt.RunTasks)
    (task,) = action.tasks
    with pytest.raises(dg.ValidationError, match=message) as caught:
        task.fn(*task.args, **task.kwargs)
    assert "clock= returns epoch seconds" in str(caught.value)
    with pytest.raises(dg.ValidationError, match=message):
        rt.invoke(now_is, _event(), _NoService(), clock=clock)  # type: ignore[arg-type]


def _event() -> rt.InvocationInput:
    return rt.InvocationInput(
        durable_execution_arn="arn:x",
        checkpoint_token="t",
        initial_execution_state=rt.ExecutionState(operations=list(_new().values())),
    )


class _NoService:
    def checkpoint(self, *args: object) -> rt.CheckpointResponse:
        raise AssertionError("nothing is checkpointed with a bad clock")

    def get_state(self, *args: object) -> rt.ExecutionState:
        raise AssertionError("nothing is read with a bad clock")


@pytest.mark.parametrize(("clock", "message"), BAD_CLOCKS)
def test_a_step_deadline_from_a_clock_that_is_not_epoch_seconds_is_refused(
    clock: Callable[[], object], message: str
) -> None:
    # Before: milliseconds gave a deadline 55,000 years ahead (the timeout was never enforced),
    # and a str a plain TypeError out of next_action(). The clock is read where it is given.
    store = _new()
    with pytest.raises(dg.ValidationError, match=message):
        rt.Interpreter(times_out, list(store.values()), clock=clock)  # type: ignore[arg-type]


def test_a_clock_that_goes_wrong_later_fails_the_step_deadline_with_the_same_error() -> None:
    readings = iter([1_735_689_600.0, 1_735_689_600_000.0])
    store = _new()
    interp = rt.Interpreter(times_out, list(store.values()), clock=lambda: next(readings))
    action = interp.next_action()
    assert isinstance(action, rt.Done) and isinstance(action.outcome, rt.Failed)
    assert action.outcome.error.error_type == "ValidationError"
    assert "epoch milliseconds" in (action.outcome.error.error_message or "")


def test_a_clock_in_epoch_seconds_gives_the_deadline_and_now() -> None:
    store = _new()
    interp = rt.Interpreter(times_out, list(store.values()), clock=lambda: 1_735_689_600)
    action = interp.next_action()
    assert isinstance(action, rt.RunTasks)
    assert action.tasks[0].deadline_ms == 1_735_689_605_000
    interp = rt.Interpreter(now_is, list(_new().values()), clock=lambda: 1_735_689_600.5)
    action = interp.next_action()
    assert isinstance(action, rt.RunTasks)
    task = action.tasks[0]
    assert task.fn(*task.args, **task.kwargs).isoformat() == "2025-01-01T00:00:00.500000+00:00"


# --- apply_updates(new_callback_id=...): each id new ---------------------------------------


def two_callbacks(_: None) -> dg.Workflow[list[object]]:
    first = yield from dg.CreateCallback(name="first")
    second = yield from dg.CreateCallback(name="second")
    return [(yield from first), (yield from second)]


def _start_callbacks(store: dict[str, rt.Operation], new_id: Callable[[], object]) -> None:
    interp = rt.Interpreter(two_callbacks, list(store.values()))
    while isinstance(action := interp.next_action(), rt.Flush):
        applied = rt.apply_updates(
            store,
            action.updates,
            now_ms=0,
            new_callback_id=new_id,  # type: ignore[arg-type]
        )
        interp.observe(applied.operations)


def test_a_callback_id_issued_twice_is_refused() -> None:
    # A counter that restarts with the process issues an id again. Before, both callbacks
    # held it: the answer meant for the second completed the first, and the second could
    # never be answered ("already SUCCEEDED").
    store = _new()
    ids = iter(["cb-1", "cb-1"])
    before: dict[str, rt.Operation] = {}
    with pytest.raises(dg.ValidationError, match=r"'cb-1', an id this store already issued"):
        _start_callbacks(store, lambda: next(ids))
        before = dict(store)
    (first,) = [op for op in store.values() if op.type == "CALLBACK"]
    assert first.callback_details == rt.CallbackDetails(callback_id="cb-1")
    assert before == {}  # the second START raised: nothing of it was recorded


@pytest.mark.parametrize("bad", [5, "", None])
def test_a_callback_id_that_is_not_a_string_is_refused(bad: object) -> None:
    store = _new()
    with pytest.raises(dg.ValidationError, match="new_callback_id"):
        _start_callbacks(store, lambda: bad)
    assert [op.type for op in store.values()] == ["EXECUTION"]


def test_new_ids_each_time_are_issued() -> None:
    store = _new()
    ids = iter(["cb-1", "cb-2"])
    _start_callbacks(store, lambda: next(ids))
    issued = [op.callback_details for op in store.values() if op.type == "CALLBACK"]
    assert issued == [
        rt.CallbackDetails(callback_id="cb-1"),
        rt.CallbackDetails(callback_id="cb-2"),
    ]


# --- complete_invoke(status=...): every end the guide's table lists -------------------------


def invokes_and_catches(_: None) -> dg.Workflow[list[str | None]]:
    try:
        yield dg.Invoke("tax", {"amount": 10}, name="tax")
    except dg.InvokeFailedError as exc:
        return [exc.error_type, exc.error_message]
    return []


@pytest.mark.parametrize(
    ("status", "error", "seen"),
    [
        ("TIMED_OUT", None, "Invoke.TIMED_OUT"),
        ("STOPPED", None, "Invoke.STOPPED"),
        (
            "STOPPED",
            rt.ErrorObject(error_type="Execution.Stopped", error_message="by hand"),
            "Execution.Stopped",
        ),
        (None, rt.ErrorObject(error_type="Boom", error_message="x"), "Boom"),
    ],
)
def test_an_invoke_ends_with_each_status_the_guide_lists(
    status: Any, error: rt.ErrorObject | None, seen: str
) -> None:
    # Before, complete_invoke() recorded only SUCCEEDED or FAILED: a runtime whose invoked
    # function timed out or was stopped had no way to record it.
    store = _new()
    interp = rt.Interpreter(invokes_and_catches, list(store.values()))
    action = interp.next_action()
    assert isinstance(action, rt.Flush)
    (request,) = rt.apply_updates(store, action.updates, now_ms=0).invokes
    interp.observe([])
    assert isinstance(interp.next_action(), rt.Done)
    ended = rt.complete_invoke(store, request.operation_id, now_ms=1, error=error, status=status)
    assert ended.status == (status or "FAILED")
    outcome = _finish_from(store)
    assert isinstance(outcome, rt.Succeeded) and json.loads(outcome.result)[0] == seen


@pytest.mark.parametrize(
    ("status", "result"), [("SUCCEEDED", None), ("CANCELLED", None), ("STOPPED", "1")]
)
def test_complete_invoke_refuses_a_status_it_cannot_record(status: Any, result: str | None) -> None:
    store = _new()
    interp = rt.Interpreter(invokes_and_catches, list(store.values()))
    action = interp.next_action()
    assert isinstance(action, rt.Flush)
    (request,) = rt.apply_updates(store, action.updates, now_ms=0).invokes
    with pytest.raises(dg.ValidationError, match="status="):
        rt.complete_invoke(store, request.operation_id, now_ms=1, result=result, status=status)
    assert _only(store, "CHAINED_INVOKE").status == "STARTED"


def _finish_from(store: dict[str, rt.Operation]) -> rt.Outcome:
    interp = rt.Interpreter(invokes_and_catches, list(store.values()))
    while not isinstance(action := interp.next_action(), rt.Done):
        assert isinstance(action, rt.Flush)
        interp.observe(rt.apply_updates(store, action.updates, now_ms=2).operations)
    return action.outcome
