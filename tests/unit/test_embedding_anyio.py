"""A runtime on anyio (asyncio or trio), written from docs/embedding.md alone.

Steps run as tasks of one task group: ``async def`` steps on the loop, sync ones with
``anyio.to_thread.run_sync``; each sends its outcome over a memory stream to the loop that
talks to the interpreter, which reports them as they arrive. An attempt still running at its
``deadline_ms`` is cancelled (async) or abandoned (sync) and reported as a
``StepTimeoutError``, as the docs ask of a host. A cancellation is never reported as the step's
failure. The result and the records equal the embedded engine's, on both backends.
"""

from __future__ import annotations

import importlib.util
import json
import math
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectSendStream

import durable_gen as dg
from durable_gen import runtime as rt
from tests.unit.embedding_runtimes import engine_records, records, start_store

BACKENDS = [
    "asyncio",
    pytest.param(
        "trio",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("trio") is None, reason="trio is not installed"
        ),
    ),
]

Report = tuple[rt.StepTask, bool, Any]


class AnyioRuntime:
    """One execution on a dict store; steps as anyio tasks; a virtual clock for timers."""

    def __init__(
        self,
        workflow: Callable[..., Any],
        input_json: str,
        *,
        checkpointing: rt.CheckpointMode = "step",
        functions: dict[str, Callable[[Any], Any]] | None = None,
    ) -> None:
        self.workflow = workflow
        self.checkpointing: rt.CheckpointMode = checkpointing
        self.functions = functions or {}
        self.now_ms = 1_700_000_000_000
        self.store = start_store(input_json, self.now_ms)
        self.timers: dict[tuple[str, str], rt.Timer] = {}
        self.invocations = 0
        self.timed_out: list[str | None] = []

    def checkpoint(self, updates: list[rt.OperationUpdate]) -> list[rt.Operation]:
        applied = rt.apply_updates(self.store, updates, now_ms=self.now_ms)
        for timer in applied.timers:
            self.timers[timer.kind, timer.operation_id] = timer
        changed = list(applied.operations)
        for request in applied.invokes:
            value = self.functions[request.function_name](json.loads(request.payload or "null"))
            changed.append(
                rt.complete_invoke(
                    self.store, request.operation_id, now_ms=self.now_ms, result=json.dumps(value)
                )
            )
        return changed

    def clock(self) -> float:
        return self.now_ms / 1000

    async def _attempt(self, task: rt.StepTask, send: MemoryObjectSendStream[Report]) -> None:
        # the deadline is on the interpreter's clock: wait that long in real time
        budget = math.inf
        if task.deadline_ms is not None:
            budget = max(0.0, task.deadline_ms / 1000 - self.clock())
        value: Any = None
        ok = False
        with anyio.move_on_after(budget) as scope:
            try:
                if task.is_async:
                    value = await task.fn(*task.args, **task.kwargs)
                else:
                    value = await anyio.to_thread.run_sync(
                        lambda: task.fn(*task.args, **task.kwargs), abandon_on_cancel=True
                    )
                ok = True
            except Exception as exc:  # the step's failure; a cancellation goes through
                value = exc
        if scope.cancelled_caught:
            self.timed_out.append(task.name)
            ok, value = False, dg.StepTimeoutError(f"{task.name} ran past {task.timeout} s")
        await send.send((task, ok, value))

    async def invoke(self) -> rt.Outcome:
        self.invocations += 1
        interp = rt.Interpreter(
            self.workflow,
            list(self.store.values()),
            execution_arn="arn:anyio",
            checkpointing=self.checkpointing,
            clock=self.clock,
        )
        send, receive = anyio.create_memory_object_stream[Report](math.inf)
        async with anyio.create_task_group() as group:
            try:
                while True:
                    action = interp.next_action()
                    if isinstance(action, rt.Flush):
                        interp.observe(self.checkpoint(action.updates))
                    elif isinstance(action, rt.RunTasks):
                        for task in action.tasks:
                            group.start_soon(self._attempt, task, send)
                    elif isinstance(action, rt.WaitForTasks):
                        reports = [await receive.receive()]
                        while True:
                            try:
                                reports.append(receive.receive_nowait())
                            except anyio.WouldBlock:
                                break
                        for task, ok, value in reports:
                            if ok:
                                interp.task_succeeded(task, value)
                            else:
                                interp.task_failed(task, value)
                    else:
                        assert isinstance(action, rt.Done)
                        return action.outcome
            finally:
                group.cancel_scope.cancel()  # items of a batch decided without them
                send.close()
                receive.close()
        raise AssertionError("unreachable")  # pragma: no cover

    async def run(self) -> rt.Outcome:
        for _ in range(100):
            outcome = await self.invoke()
            if not isinstance(outcome, rt.Suspended):
                return outcome
            opened = [
                op
                for op in self.store.values()
                if op.type == "CALLBACK" and op.status == "STARTED" and op.callback_details
            ]
            if opened:
                for op in opened:
                    assert op.callback_details is not None
                    rt.complete_callback(
                        self.store,
                        op.callback_details.callback_id,
                        now_ms=self.now_ms,
                        result='"ok"',
                    )
                    self.timers = {k: t for k, t in self.timers.items() if k[1] != op.id}
                continue
            assert self.timers, f"stuck on {outcome.waiting_on}"
            self.now_ms = max(self.now_ms, min(t.due_ms for t in self.timers.values()))
            for key, timer in list(self.timers.items()):
                if timer.due_ms <= self.now_ms:
                    del self.timers[key]
                    rt.fire_timer(self.store, timer, now_ms=self.now_ms)
        raise AssertionError("not done after 100 invocations")


@dg.step
async def fetch(i: int) -> int:
    await anyio.sleep(0.001 * (5 - i))  # later items finish first
    return i * 3


@dg.step
def blocking(i: int) -> int:
    time.sleep(0.001)
    return i + 1


@dg.step(timeout=0.05, retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
async def too_slow() -> str:
    await anyio.sleep(30)
    return "never"


def ready(state: int) -> int:
    return state + 1


def notify(callback_id: str) -> None:
    assert callback_id


def inner(x: int) -> Any:
    return (yield blocking(x))


@dg.workflow
def workflow(n: int) -> Any:
    fetched = yield dg.Map(fetch, list(range(n)), max_concurrency=3, name="fetch")
    synced = yield dg.Map(blocking, list(range(n)), name="block")
    try:
        yield too_slow()
        slow = "finished"
    except dg.StepTimeoutError:
        slow = "timed out"
    polled = yield dg.WaitForCondition(
        ready,
        0,
        wait_strategy=lambda state, attempt: (
            dg.WaitDecision.done() if state >= 3 else dg.WaitDecision.again(2)
        ),
        name="poll",
    )
    answer = yield dg.WaitForCallback(notify, name="approval", timeout=600)
    child = yield dg.Child(inner, (10,), name="virtual", virtual=True)
    invoked = yield dg.Invoke("half", 8, name="half")
    return [fetched.results(), synced.results(), slow, polled, answer, child, invoked]


FUNCTIONS = {"half": lambda x: x // 2}
EXPECTED = [[0, 3, 6, 9, 12], [1, 2, 3, 4, 5], "timed out", 3, "ok", 11, 4]


def _without_timeout_messages(recorded: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """A host writes its own message for a StepTimeoutError: compare the error type."""
    return [
        (*r[:8], (r[8][0], None), *r[9:]) if r[8] and r[8][0] == "StepTimeoutError" else r
        for r in recorded
    ]


@pytest.fixture(scope="module")
def on_engine() -> list[tuple[Any, ...]]:
    result, recorded = engine_records(workflow, 5, functions=FUNCTIONS)
    assert result == EXPECTED
    return _without_timeout_messages(recorded)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_the_anyio_runtime_records_what_the_engine_records(
    backend: str, mode: rt.CheckpointMode, on_engine: list[tuple[Any, ...]]
) -> None:
    runtime = AnyioRuntime(workflow, "5", checkpointing=mode, functions=FUNCTIONS)
    outcome = anyio.run(runtime.run, backend=backend)
    assert isinstance(outcome, rt.Succeeded), outcome
    assert json.loads(outcome.result) == EXPECTED
    assert runtime.timed_out == ["too_slow", "too_slow"]
    assert _without_timeout_messages(records(runtime.store.values())) == on_engine
