"""The drivers carry out the interpreter's actions against a DurableService, sync and async.

The service here is a dict store built from ``durable_gen.runtime`` alone, so each checkpoint
call can be counted and each token checked.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen._driver import _StepThreads


class DictService:
    """A ``DurableService`` on a dict: one execution, a token per checkpoint, calls counted."""

    def __init__(self, input_json: str = "null") -> None:
        self.reset(input_json)

    def reset(self, input_json: str = "null") -> None:
        """Start over with a new execution."""
        self.ops: dict[str, rt.Operation] = {
            "exec": rt.Operation(
                id="exec",
                type="EXECUTION",
                status="STARTED",
                execution_details=rt.ExecutionDetails(input_payload=input_json),
            )
        }
        self.token = 0
        self.calls: list[list[rt.OperationUpdate]] = []

    def event(self) -> rt.InvocationInput:
        return rt.InvocationInput(
            durable_execution_arn="arn:dict",
            checkpoint_token=str(self.token),
            initial_execution_state=rt.ExecutionState(operations=list(self.ops.values())),
        )

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Sequence[rt.OperationUpdate]
    ) -> rt.CheckpointResponse:
        assert checkpoint_token == str(self.token), "the driver must send the newest token"
        applied = rt.apply_updates(self.ops, updates, now_ms=0)
        self.calls.append(list(updates))
        self.token += 1
        return rt.CheckpointResponse(
            checkpoint_token=str(self.token),
            new_execution_state=rt.ExecutionState(operations=applied.operations),
        )

    def get_state(
        self, execution_arn: str, checkpoint_token: str, marker: str
    ) -> rt.ExecutionState:
        raise AssertionError("every operation fits in the first page")


@dg.step
def add_one(x: int) -> int:
    return x + 1


@dg.step
async def add_one_async(x: int) -> int:
    await anyio.sleep(0)
    return x + 1


def two_steps(x: int):  # type: ignore[no-untyped-def]
    a = yield add_one(x)
    return (yield add_one(a))


def two_async_steps(x: int):  # type: ignore[no-untyped-def]
    a = yield add_one_async(x)
    return (yield add_one_async(a))


def shape(calls: list[list[rt.OperationUpdate]]) -> list[list[str]]:
    return [[u.action for u in call] for call in calls]


EXPECTED_CALLS = {
    "step": [["START", "SUCCEED"], ["START", "SUCCEED"]],
    "eager": [["START"], ["SUCCEED", "START"], ["SUCCEED"]],
    "batch": [["START", "SUCCEED", "START", "SUCCEED"]],
}


def meeting_map(n: int) -> Callable[[Any], Any]:
    """A workflow that maps a step over ``range(n)`` whose items only pass when all ``n`` run at
    once, in threads; it returns the items."""
    together = threading.Barrier(n, timeout=5)

    @dg.step
    def meet(i: int) -> int:
        together.wait()
        return i

    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Map(meet, list(range(n)))).results()

    return wf


@pytest.mark.parametrize("mode", sorted(EXPECTED_CALLS))
def test_invoke_checkpoints_as_the_mode_says(mode: rt.CheckpointMode) -> None:
    service = DictService("1")
    # A long start window: a step slowed by a loaded machine must not checkpoint its START alone
    output = rt.invoke(two_steps, service.event(), service, checkpointing=mode, start_window=60)
    assert output == rt.InvocationOutput(status="SUCCEEDED", result="3")
    assert shape(service.calls) == EXPECTED_CALLS[mode]


@pytest.mark.parametrize("mode", sorted(EXPECTED_CALLS))
def test_invoke_async_checkpoints_as_the_mode_says(mode: rt.CheckpointMode) -> None:
    service = DictService("1")
    output = anyio.run(
        lambda: rt.invoke_async(
            two_async_steps, service.event(), service, checkpointing=mode, start_window=60
        )
    )
    assert output == rt.InvocationOutput(status="SUCCEEDED", result="3")
    assert shape(service.calls) == EXPECTED_CALLS[mode]


def test_a_suspended_invocation_resumes_from_the_store() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=10)
        return "done"

    service = DictService()
    first = rt.invoke(wf, service.event(), service)
    assert first.status == "PENDING"
    (wait,) = [op for op in service.ops.values() if op.type == "WAIT"]
    assert wait.wait_details is not None and wait.wait_details.scheduled_end_timestamp
    due = wait.wait_details.scheduled_end_timestamp
    rt.fire_timer(service.ops, rt.Timer(kind="wait", operation_id=wait.id, due_ms=due), now_ms=due)
    assert rt.invoke(wf, service.event(), service) == rt.InvocationOutput(
        status="SUCCEEDED", result='"done"'
    )


def step_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("durable-gen-step")]


def until_gone(threads: set[threading.Thread]) -> set[threading.Thread]:
    """Wait (5 s at most) for ``threads`` to end; those still alive."""
    deadline = time.monotonic() + 5
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        time.sleep(0.01)
    return {t for t in threads if t.is_alive()}


@pytest.fixture
def no_driver_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's drivers start their own threads, whatever other tests left alive."""
    monkeypatch.setattr(_StepThreads, "_live", None)


@pytest.mark.usefixtures("no_driver_alive")
def test_worker_threads_belong_to_the_invocation() -> None:
    wf = meeting_map(3)

    before = set(step_threads())
    service = DictService()
    output = rt.invoke(wf, service.event(), service)
    assert output.result == "[0,1,2]"
    assert until_gone(set(step_threads()) - before) == set()  # shut down with the invocation


@pytest.mark.usefixtures("no_driver_alive")
def test_a_run_right_after_another_reuses_its_threads_which_end_soon_after_the_last() -> None:
    wf = meeting_map(2)

    before = set(step_threads())
    assert dg.run(wf) == [0, 1]  # a new engine and handler, dropped when run() returns
    threads = set(step_threads()) - before
    assert len(threads) == 2
    assert dg.run(wf) == [0, 1]
    assert set(step_threads()) - before == threads  # the same threads, not new ones
    gc.collect()
    assert until_gone(threads) == set()  # shut down a while after the last run


def test_a_step_failure_records_the_same_trace_inline_and_in_a_thread() -> None:
    @dg.step(retry=dg.Retry.never())
    def boom(_: Any = None) -> None:
        raise ValueError("boom")

    def alone(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield boom()
        except dg.StepFailedError as exc:
            return exc.stack_trace

    def in_a_map(_: Any):  # type: ignore[no-untyped-def]
        batch = yield dg.Map(boom, [1, 2])
        return batch.errors()[0].stack_trace

    inline = dg.run(alone)
    threaded = dg.run(in_a_map)
    assert inline[1:] == threaded[1:]
    assert "in boom" in inline[1] and not any("durable_gen/_driver" in line for line in inline)


def test_an_unknown_mode_is_refused_before_anything_runs() -> None:
    service = DictService()
    with pytest.raises(dg.ValidationError):
        rt.invoke(two_steps, service.event(), service, checkpointing="always")  # type: ignore[arg-type]
    assert service.calls == []


@pytest.mark.usefixtures("no_driver_alive")
def test_a_handler_keeps_its_threads_across_invocations_until_it_is_dropped() -> None:
    wf = meeting_map(2)

    before = set(step_threads())
    service = DictService()
    handler = rt.make_handler(wf, service)
    assert handler(service.event()).result == "[0,1]"
    threads = set(step_threads()) - before
    assert len(threads) == 2
    service.reset()
    assert handler(service.event()).result == "[0,1]"
    assert set(step_threads()) - before == threads  # the same threads, not new ones
    del handler
    gc.collect()
    assert until_gone(threads) == set()  # shut down with their handler


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_threads_of_its_own() -> None:
    # The parent's worker threads (kept a while after its run) do not exist in a forked child:
    # a child that took them for idle would queue its steps for no thread at all.
    together = threading.Barrier(3, timeout=5)

    @dg.step
    def meet(i: int) -> int:
        together.wait()  # only passes when the three run at once, in threads
        return i

    @dg.step
    def double_it(i: int) -> int:
        return 2 * i

    def parent(_: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Map(meet, [0, 1, 2])).results()

    def child(_: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Map(double_it, [1, 2])).results()

    assert dg.run(parent) == [0, 1, 2]  # three threads, idle now, kept for the next run
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork of a threaded process
        pid = os.fork()
    if pid == 0:  # the child
        try:
            os.close(read_end)
            os.write(write_end, json.dumps(dg.run(child)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 20)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        assert ready, "the child's Map never finished"
        assert json.loads(os.read(read_end, 1000)) == [2, 4]
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
