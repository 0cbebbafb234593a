"""A step's recorded stack trace is the same whichever host runs it (round 9).

The engine records a failed attempt's trace from the step's own function down. A host that
drives ``runtime.Interpreter`` itself calls ``task.fn`` (the step's function wrapped so that
its log lines name the attempt) from its own code, in its own threads: those frames, and the
wrapper's, are the host's business, not the step's, and used to head the recorded trace
(``concurrent/futures/thread.py ... in run``, ``durable_gen/_context.py ... in call``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
from typing import Any

import pytest

import durable_gen as dg
import durable_gen.runtime as rt
from durable_gen.testing import TestRunner


@dg.step(retry=dg.Retry.never())
def boom() -> str:
    return _deeper()


def _deeper() -> str:
    raise ValueError("bad")


@dg.step(retry=dg.Retry.never())
async def aboom() -> str:
    await asyncio.sleep(0)
    raise ValueError("bad")


def flow(_: Any) -> dg.Workflow[str]:
    try:
        return (yield from boom())
    except dg.StepFailedError:
        return (yield from aboom())


def _host_call(task: rt.StepTask) -> Any:
    if task.is_async:
        return asyncio.run(task.fn(*task.args, **task.kwargs))
    return task.fn(*task.args, **task.kwargs)


def _traces_by_host(pool: cf.Executor | None) -> list[list[str]]:
    store = {
        "exec": rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            start_timestamp=0,
            execution_details=rt.ExecutionDetails(input_payload="null"),
        )
    }
    interp = rt.Interpreter(flow, list(store.values()), execution_arn="arn-host")
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                try:
                    if pool is None:
                        value = _host_call(task)
                    else:
                        value = pool.submit(_host_call, task).result()
                except Exception as exc:
                    interp.task_failed(task, exc)
                else:
                    interp.task_succeeded(task, value)
        elif isinstance(action, rt.Done):
            interp.close()
            break
    return _step_traces(store.values())


def _step_traces(operations: Any) -> list[list[str]]:
    traces = []
    for view in operations:
        op = getattr(view, "operation", view)  # TestRunner's OperationView holds the record
        if op.type == "STEP" and op.step_details is not None and op.step_details.error:
            traces.append(list(op.step_details.error.stack_trace or []))
    return traces


def _frames(trace: list[str]) -> list[str]:
    """The function of each frame line (``File "...", line N, in NAME``)."""
    frames = [line for line in trace if line.startswith("  File")]
    return [line.split("\n")[0].rsplit(" in ", 1)[-1] for line in frames]


def _engine_traces() -> list[list[str]]:
    runner = TestRunner()
    execution = runner.run(flow, None)
    return _step_traces(execution.operations())


@pytest.mark.parametrize("pool", [None, "threads"], ids=["inline", "thread-pool"])
def test_a_host_records_the_trace_from_the_step_function_down(pool: str | None) -> None:
    if pool is None:
        traces = _traces_by_host(None)
    else:
        with cf.ThreadPoolExecutor(max_workers=2) as executor:
            traces = _traces_by_host(executor)
    assert [_frames(t) for t in traces] == [["boom", "_deeper"], ["aboom"]]
    for trace in traces:
        assert trace[0] == "Traceback (most recent call last):"
        assert trace[-1] == "ValueError: bad"
        assert not any("_context.py" in line or "_host_call" in line for line in trace)


def test_the_host_trace_is_the_engines() -> None:
    engine = [_frames(t) for t in _engine_traces()]
    assert engine == [["boom", "_deeper"], ["aboom"]]
    assert [_frames(t) for t in _traces_by_host(None)] == engine


def only_boom(_: Any) -> dg.Workflow[str]:
    return (yield from boom())


def test_a_step_run_in_another_process_records_its_own_trace() -> None:
    """``run_step_call`` in a process pool: the exception crosses by pickle without its
    traceback, and the pool chains the worker's whole trace as text (its own frames,
    ``run_step_call``'s, inside ``\"\"\"`` quotes); the record holds the step's trace alone."""
    import multiprocessing

    store = {
        "exec": rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            start_timestamp=0,
            execution_details=rt.ExecutionDetails(input_payload="null"),
        )
    }
    interp = rt.Interpreter(only_boom, list(store.values()), execution_arn="arn-pool")
    spawn = multiprocessing.get_context("spawn")  # the worker imports the step by name
    with cf.ProcessPoolExecutor(1, mp_context=spawn) as pool:
        running: dict[cf.Future[Any], rt.StepTask] = {}
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
            elif isinstance(action, rt.RunTasks):
                for task in action.tasks:
                    call = interp.step_call(task)
                    assert call is not None
                    running[pool.submit(rt.run_step_call, call)] = task
            elif isinstance(action, rt.WaitForTasks):
                done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    task = running.pop(future)
                    error = future.exception()
                    assert isinstance(error, Exception)
                    interp.task_failed(task, error)
            else:
                interp.close()
                break
    [trace] = _step_traces(store.values())
    assert _frames(trace) == ["boom", "_deeper"]
    assert trace[0] == "Traceback (most recent call last):"
    assert trace[-1] == "ValueError: bad"
    assert not any('"""' in line or "run_step_call" in line for line in trace)


class Odd(Exception):
    """A dict-backed API error: its ``__getattr__`` raises ``KeyError`` for a missing field,
    also for the attributes Python's ``traceback`` and durable_gen read (``__notes__``)."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(fields.get("message", "odd"))
        self.fields = fields

    def __getattr__(self, name: str) -> Any:
        return self.__dict__["fields"][name]


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def odd() -> str:
    raise Odd({"message": "odd", "code": "E1"})


def odd_flow(_: Any) -> dg.Workflow[list[str]]:
    try:
        yield from odd()
    except dg.StepFailedError as exc:
        caught = f"{exc.error_type.rsplit('.', 1)[-1]}: {exc.error_message}"
    batch = yield from dg.Map(odd_item, [1], completion=dg.Completion.all_completed())
    [error] = batch.errors()
    return [caught, f"{error.error_type}: {error.error_message}"]


def odd_item(item: int) -> str:
    raise Odd({"message": f"item {item}"})


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_dict_backed_exception_is_recorded_as_any_other(payload_format: str) -> None:
    """Its failure is recorded, retried and caught as any step's, instead of the ``KeyError``
    of ``__notes__`` or ``error_type`` failing the execution."""
    runner = TestRunner(payload_format=payload_format)  # type: ignore[arg-type]
    execution = runner.run(odd_flow, None)
    result = execution.result()
    assert result[0] == "Odd: odd"
    assert result[1].endswith(": item 1")
    traces = _step_traces(execution.operations())
    assert [_frames(t) for t in traces][:1] == [["odd"]]
