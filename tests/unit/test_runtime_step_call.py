"""Steps in other processes: ``Interpreter.step_call`` and ``runtime.run_step_call``.

``StepTask.fn`` is a closure over the interpreter and cannot be pickled, so a host that runs
steps in a process pool asks for a ``StepCall`` (the function's importable name, the
arguments and the attempt) and submits ``run_step_call`` with it, as docs/embedding.md shows.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import logging
import multiprocessing
import os
import pickle
from collections.abc import Sequence
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt

log = dg.get_logger(__name__)


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def square(x: int) -> dict[str, int]:
    log.info("square %s", x)
    if x < 0:
        raise ValueError(f"negative: {x}")
    return {"square": x * x, "pid": os.getpid()}


def add(a: int, b: int = 0) -> int:
    return a + b


async def async_add(a: int) -> int:
    return a


def store_of(input_json: str) -> dict[str, rt.Operation]:
    return {
        "exec": rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            start_timestamp=0,
            execution_details=rt.ExecutionDetails(input_payload=input_json),
        )
    }


def invoke_in_pool(
    workflow: Any, store: dict[str, rt.Operation], pool: cf.Executor, now_ms: int
) -> tuple[rt.Outcome, list[rt.Timer], list[str | None]]:
    """One invocation whose steps run in ``pool`` when they can, else in this process."""
    interp = rt.Interpreter(workflow, list(store.values()), execution_arn="arn-pool")
    running: dict[cf.Future[Any], rt.StepTask] = {}
    timers: list[rt.Timer] = []
    functions: list[str | None] = []
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            applied = rt.apply_updates(store, action.updates, now_ms=now_ms)
            timers += applied.timers
            interp.observe(applied.operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                call = interp.step_call(task)
                functions.append(call.function if call is not None else None)
                if call is not None:
                    running[pool.submit(rt.run_step_call, call)] = task
                else:
                    here: cf.Future[Any] = cf.Future()
                    try:
                        here.set_result(task.fn(*task.args, **task.kwargs))
                    except Exception as exc:
                        here.set_exception(exc)
                    running[here] = task
        elif isinstance(action, rt.WaitForTasks):
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in done:
                task = running.pop(future)
                error = future.exception()
                if error is None:
                    interp.task_succeeded(task, future.result())
                else:
                    assert isinstance(error, Exception)
                    interp.task_failed(task, error)
        else:
            interp.close()
            return action.outcome, timers, functions


def pooled(xs: list[int]) -> dg.Workflow[dict[str, Any]]:
    squares = yield dg.Map(square, xs, max_concurrency=2)
    total = yield dg.Step(add, args=(1,), kwargs={"b": 2})
    inline = yield dg.Step(lambda: "inline")
    return {
        "squares": [r["square"] for r in squares.results()],
        "pids": sorted({r["pid"] for r in squares.results()}),
        "total": total,
        "inline": inline,
    }


def test_steps_run_in_a_process_pool_by_name() -> None:
    store = store_of("[1, 2, 3]")
    spawn = multiprocessing.get_context("spawn")  # nothing inherited: imported by name
    with cf.ProcessPoolExecutor(2, mp_context=spawn) as pool:
        outcome, _, functions = invoke_in_pool(pooled, store, pool, 0)
    assert isinstance(outcome, rt.Succeeded), outcome
    result = dg.JsonSerdes().deserialize(outcome.result)
    assert result["squares"] == [1, 4, 9]
    assert os.getpid() not in result["pids"]  # they ran elsewhere
    assert (result["total"], result["inline"]) == (3, "inline")
    name = __name__
    assert functions == [f"{name}:square"] * 3 + [f"{name}:add", None]


def test_a_step_failing_in_the_pool_is_retried_and_fails_with_its_error() -> None:
    def negative(_: Any) -> dg.Workflow[Any]:
        return (yield square(-1))

    store = store_of("null")
    with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        outcome, timers, _ = invoke_in_pool(negative, store, pool, 0)
        assert isinstance(outcome, rt.Suspended) and [t.kind for t in timers] == ["retry"]
        rt.fire_timer(store, timers[0], now_ms=timers[0].due_ms)
        outcome, _, _ = invoke_in_pool(negative, store, pool, timers[0].due_ms)
    assert isinstance(outcome, rt.Failed)
    assert outcome.error.error_type == "ValueError"
    assert outcome.error.error_message == "negative: -1"


def first_task(workflow: Any) -> tuple[rt.Interpreter, rt.StepTask]:
    interp = rt.Interpreter(
        workflow, list(store_of("5").values()), execution_arn="arn-1", clock=lambda: 1.0
    )
    action = interp.next_action()
    assert isinstance(action, rt.RunTasks), action
    return interp, action.tasks[0]


def test_what_a_step_logs_in_the_other_process_names_its_attempt() -> None:
    def one(x: int) -> dg.Workflow[Any]:
        return (yield square(x))

    interp, task = first_task(one)
    call = interp.step_call(task)
    assert call is not None
    assert pickle.loads(pickle.dumps(call)) == call
    kept: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            kept.append(record)

    handler = Keep()
    logging.getLogger(__name__).addHandler(handler)
    logging.getLogger(__name__).setLevel(logging.INFO)
    try:
        value = rt.run_step_call(pickle.loads(pickle.dumps(call)))
    finally:
        logging.getLogger(__name__).removeHandler(handler)
    assert value["square"] == 25
    assert [r.getMessage() for r in kept] == ["square 5"]
    record = kept[0]
    fields = vars(record)
    assert fields["durableExecutionArn"] == "arn-1"
    assert fields["operationId"] == task.operation_id
    assert (fields["operationName"], fields["attempt"]) == ("square", 1)
    interp.task_succeeded(task, value)  # reported as the task's value
    assert isinstance(interp.next_action(), rt.Flush)


def _nested() -> int:
    def inner() -> int:
        return 1

    return inner()


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(lambda: dg.Step(lambda: 1), id="lambda"),
        pytest.param(lambda: dg.Step(functools.partial(add, 1)), id="partial"),
        pytest.param(lambda: dg.Step(async_add, args=(1,)), id="async"),
        pytest.param(lambda: dg.Now(), id="now"),
    ],
)
def test_a_step_other_processes_cannot_import_has_no_step_call(command: Any) -> None:
    def wf(_: Any) -> dg.Workflow[Any]:
        return (yield command())

    interp, task = first_task(wf)
    assert interp.step_call(task) is None


def test_a_nested_function_has_no_step_call() -> None:
    def local(x: int) -> int:
        return x

    def wf(_: Any) -> dg.Workflow[Any]:
        return (yield dg.Step(local, args=(1,)))

    interp, task = first_task(wf)
    assert interp.step_call(task) is None


def test_step_call_of_a_task_not_running_here_is_a_validation_error() -> None:
    def wf(x: int) -> dg.Workflow[Any]:
        return (yield square(x))

    interp, task = first_task(wf)
    other, _ = first_task(wf)
    with pytest.raises(dg.ValidationError, match="this interpreter"):
        other.step_call(task)  # same id, another interpreter's task
    with pytest.raises(dg.ValidationError, match="StepTask"):
        interp.step_call("square")  # type: ignore[arg-type]
    interp.task_succeeded(task, {"square": 25, "pid": 0})
    with pytest.raises(dg.ValidationError, match="before reporting it"):
        interp.step_call(task)


def test_run_step_call_of_code_this_process_lacks_is_a_validation_error() -> None:
    call = rt.StepCall(
        function=f"{__name__}:no_such_step",
        args=(),
        kwargs={},
        execution_arn="a",
        operation_id="o",
        name=None,
        attempt=1,
    )
    with pytest.raises(dg.ValidationError, match="cannot import the step function"):
        rt.run_step_call(call)
    missing = rt.StepCall(
        function="no_such_module_here:f",
        args=(),
        kwargs={},
        execution_arn="a",
        operation_id="o",
        name=None,
        attempt=1,
    )
    with pytest.raises(dg.ValidationError, match="same code"):
        rt.run_step_call(missing)
    with pytest.raises(dg.ValidationError, match="StepCall"):
        rt.run_step_call(square)  # type: ignore[arg-type]


class DictService:
    """The guide's one-page service over a dict store."""

    def __init__(self, input_json: str) -> None:
        self.store = store_of(input_json)

    def event(self) -> rt.InvocationInput:
        state = rt.ExecutionState(operations=list(self.store.values()))
        return rt.InvocationInput(
            durable_execution_arn="arn-h", checkpoint_token="t", initial_execution_state=state
        )

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Sequence[rt.OperationUpdate]
    ) -> rt.CheckpointResponse:
        applied = rt.apply_updates(self.store, updates, now_ms=0)
        changed = rt.ExecutionState(operations=applied.operations)
        return rt.CheckpointResponse(checkpoint_token="t", new_execution_state=changed)

    def get_state(
        self, execution_arn: str, checkpoint_token: str, marker: str
    ) -> rt.ExecutionState:
        return rt.ExecutionState(operations=list(self.store.values()))


def test_make_handler_with_a_process_pool_is_a_validation_error() -> None:
    # It was a TypeError from pickle ("cannot pickle 'generator' object") out of the
    # invocation: the driver submits a closure over the invocation.
    def wf(xs: list[int]) -> dg.Workflow[Any]:
        return (yield dg.Map(square, xs))

    service = DictService("[1, 2]")
    with cf.ProcessPoolExecutor(1) as pool:
        handler = rt.make_handler(wf, service, pool=lambda: pool)
        with pytest.raises(dg.ValidationError, match=r"step_call\(task\)"):
            handler(service.event())
