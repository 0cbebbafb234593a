"""An asyncio runtime of one's own runs many executions at once on one event loop, callbacks
and timers delivered from outside while invocations run, and ends each as the engine does.

Written from docs/embedding.md with public imports only. One store per execution, one timer
heap for all of them (a timer is kept with its execution: operation ids repeat across the
executions of a workflow), a virtual clock that moves only when every execution waits and no
answer is on its way, and answers sent by an outside party a few milliseconds after a submitter
step asked for them: an answer that reaches a running invocation is handed to its live
interpreter (``observe()``), one that reaches a waiting execution invokes it again.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import random
from typing import Any

import msgspec
import pytest

from durable_gen import runtime as rt
from tests.unit.test_embedding_file_runtime import (
    FUNCTIONS,
    START_MS,
    _answer,
    _calls,
    everything,
    run_on_engine,
)


class Execution:
    def __init__(self, arn: str, input_json: str) -> None:
        self.arn = arn
        self.store = {
            "exec": rt.Operation(
                id="exec",
                type="EXECUTION",
                status="STARTED",
                start_timestamp=START_MS,
                execution_details=rt.ExecutionDetails(input_payload=input_json),
            )
        }
        self.timers: dict[tuple[str, str], rt.Timer] = {}
        self.news: list[rt.Operation] = []
        self.wake = asyncio.Event()
        self.outcome: rt.Outcome | None = None
        self.invocations = 0
        self.parked = False


class ManyRuntime:
    def __init__(self, mode: rt.CheckpointMode, seed: int) -> None:
        self.mode: rt.CheckpointMode = mode
        self.now_ms = START_MS
        self.executions: dict[str, Execution] = {}
        self.heap: list[tuple[int, int, str, rt.Timer]] = []
        self.seq = itertools.count()
        self.rng = random.Random(seed)
        self.busy = 0  # executions not parked
        self.in_flight = 0  # answers sent from outside, not arrived
        self.quiet = asyncio.Event()

    # --- from outside ----------------------------------------------------------------------

    def send(self, callback_id: str, plan: tuple[str, Any]) -> None:
        """A submitter step (in a worker thread) asks the outside for an answer."""
        (execution,) = [
            e
            for e in self.executions.values()
            for op in list(e.store.values())
            if op.callback_details and op.callback_details.callback_id == callback_id
        ]
        loop = self.loop

        def later() -> None:
            self.in_flight += 1
            loop.call_later(self.rng.random() / 200, self.arrive, execution, callback_id, plan)

        loop.call_soon_threadsafe(later)

    def arrive(self, execution: Execution, callback_id: str, plan: tuple[str, Any]) -> None:
        self.in_flight -= 1
        kind, value = plan
        now = self.now_ms
        if kind == "ok":
            op = rt.complete_callback(
                execution.store, callback_id, now_ms=now, result=json.dumps(value)
            )
        elif kind == "fail":
            error = rt.ErrorObject(error_type="Refused", error_message=value)
            op = rt.complete_callback(execution.store, callback_id, now_ms=now, error=error)
        else:
            if kind == "heartbeat":
                (op_id,) = [
                    o.id
                    for o in execution.store.values()
                    if o.callback_details and o.callback_details.callback_id == callback_id
                ]
                armed = execution.timers.get(("callback-heartbeat", op_id))
                timer = rt.heartbeat_callback(execution.store, callback_id, armed, now_ms=now)
                assert timer is not None
                self.arm(execution, timer)
            self.settle()
            return
        self.wake(execution, op)
        self.settle()

    def wake(self, execution: Execution, op: rt.Operation) -> None:
        """News for an execution: its live interpreter observes it, or it is invoked again."""
        execution.news.append(op)
        if execution.parked:  # count it as busy before anything else runs
            execution.parked = False
            self.busy += 1
        execution.wake.set()

    def settle(self) -> None:
        if self.busy == 0 and self.in_flight == 0:
            self.quiet.set()

    def arm(self, execution: Execution, timer: rt.Timer) -> None:
        execution.timers[timer.kind, timer.operation_id] = timer
        heapq.heappush(self.heap, (timer.due_ms, next(self.seq), execution.arn, timer))

    # --- one invocation ----------------------------------------------------------------------

    def checkpoint(
        self, execution: Execution, updates: list[rt.OperationUpdate]
    ) -> list[rt.Operation]:
        applied = rt.apply_updates(execution.store, updates, now_ms=self.now_ms)
        for timer in applied.timers:
            self.arm(execution, timer)
        changed = list(applied.operations)
        for request in applied.invokes:
            payload = json.loads(request.payload) if request.payload else None
            try:
                result = json.dumps(FUNCTIONS[request.function_name](payload))
            except Exception as exc:
                error = rt.ErrorObject(error_type=type(exc).__name__, error_message=str(exc))
                done = rt.complete_invoke(
                    execution.store, request.operation_id, now_ms=self.now_ms, error=error
                )
            else:
                done = rt.complete_invoke(
                    execution.store, request.operation_id, now_ms=self.now_ms, result=result
                )
            changed.append(done)
        return changed

    async def invoke(self, execution: Execution) -> rt.Outcome:
        execution.invocations += 1
        interp = rt.Interpreter(
            everything,
            list(execution.store.values()),
            execution_arn=execution.arn,
            checkpointing=self.mode,
            clock=lambda: self.now_ms / 1000,
        )
        running: dict[asyncio.Future[Any], rt.StepTask] = {}
        try:
            while True:
                await asyncio.sleep(0)  # the other executions go on between actions
                action = interp.next_action()
                if isinstance(action, rt.Flush):
                    interp.observe(self.checkpoint(execution, action.updates))
                elif isinstance(action, rt.RunTasks):
                    for task in action.tasks:
                        running[asyncio.ensure_future(_call(task))] = task
                elif isinstance(action, rt.WaitForTasks):
                    woken = asyncio.ensure_future(execution.wake.wait())
                    done, _ = await asyncio.wait(
                        [*running, woken], return_when=asyncio.FIRST_COMPLETED
                    )
                    woken.cancel()
                    for future in done:
                        if future is woken:
                            continue
                        task = running.pop(future)
                        error = future.exception()
                        if error is None:
                            interp.task_succeeded(task, future.result())
                        elif isinstance(error, Exception):
                            interp.task_failed(task, error)
                        else:
                            raise error
                else:
                    assert isinstance(action, rt.Done)
                    return action.outcome
                execution.wake.clear()
                if execution.news:  # answers that arrived while it ran
                    news, execution.news = execution.news, []
                    interp.observe(news)
        finally:
            for future in running:
                future.cancel()

    async def drive(self, execution: Execution) -> None:
        while True:
            execution.news.clear()  # the new interpreter reads them from the store
            outcome = await self.invoke(execution)
            if not isinstance(outcome, rt.Suspended):
                status = "SUCCEEDED" if isinstance(outcome, rt.Succeeded) else "FAILED"
                execution.store["exec"] = msgspec.structs.replace(
                    execution.store["exec"], status=status, end_timestamp=self.now_ms
                )
                execution.outcome = outcome
                self.busy -= 1
                self.settle()
                return
            if execution.news:
                continue
            execution.wake.clear()
            execution.parked = True
            self.busy -= 1
            self.settle()
            await execution.wake.wait()

    async def clock(self) -> None:
        """When all is quiet, move time to the next live timer and fire it."""
        while any(e.outcome is None for e in self.executions.values()):
            await self.quiet.wait()
            self.quiet.clear()
            await asyncio.sleep(0)
            if self.busy or self.in_flight or all(e.outcome for e in self.executions.values()):
                continue
            while True:
                due, _, arn, timer = heapq.heappop(self.heap)
                execution = self.executions[arn]
                if execution.timers.get((timer.kind, timer.operation_id)) is not timer:
                    continue  # replaced by a heartbeat, or fired
                del execution.timers[timer.kind, timer.operation_id]
                self.now_ms = max(self.now_ms, due)
                fired = rt.fire_timer(execution.store, timer, now_ms=self.now_ms)
                if fired is not None:
                    self.wake(execution, fired)
                    break

    async def run(self, inputs: dict[str, str]) -> None:
        self.loop = asyncio.get_running_loop()
        self.executions = {arn: Execution(arn, text) for arn, text in inputs.items()}
        self.busy = len(self.executions)
        drivers = [asyncio.ensure_future(self.drive(e)) for e in self.executions.values()]
        await asyncio.wait_for(asyncio.gather(self.clock(), *drivers), timeout=120)


async def _call(task: rt.StepTask) -> Any:
    if task.is_async:
        return await task.fn(*task.args, **task.kwargs)
    return await asyncio.to_thread(task.fn, *task.args, **task.kwargs)


@pytest.mark.parametrize("mode", ["step", "batch"])
def test_many_executions_on_one_loop_end_as_on_the_engine(mode: rt.CheckpointMode) -> None:
    expected: dict[str, str | None] = {}
    for n in range(1, 6):
        arn, status, result, _ = run_on_engine(everything, n)
        assert status == "SUCCEEDED"
        expected[arn] = result
    runtime = ManyRuntime(mode, seed=len(mode))
    _calls.clear()
    _answer.append(runtime.send)
    try:
        asyncio.run(runtime.run({arn: json.dumps(n) for n, arn in enumerate(expected, 1)}))
    finally:
        _answer.pop()
    for arn, execution in runtime.executions.items():
        assert execution.outcome == rt.Succeeded(result=expected[arn] or ""), arn
        assert execution.invocations > 5
