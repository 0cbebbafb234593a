"""A small asyncio runtime for durable_gen workflows, with public imports only.

No LocalService and no driver: its own store (a dict of operations, changed by
``runtime.apply_updates``), its own timers on a virtual clock, its own callback inbox and
function registry for ``Invoke``. One invocation is the loop of docs/embedding.md: pull
``next_action()``, carry it out, repeat until ``Done``. Run it with
``python examples/embedding.py``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
from collections.abc import Callable
from typing import Any

import durable_gen as dg
from durable_gen import runtime as rt


class TinyRuntime:
    """Runs one execution of a workflow: an in-memory store, a virtual clock, asyncio steps.

    Args:
        workflow: The workflow generator function.
        input_json: Its input, as a JSON document.
        checkpointing: The interpreter's flush policy.
        functions: ``Invoke`` targets: name -> plain function of a JSON value.
    """

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
        self.now = 0  # virtual time, seconds
        self.store: dict[str, rt.Operation] = {
            "exec": rt.Operation(
                id="exec",
                type="EXECUTION",
                status="STARTED",
                start_timestamp=self.now * 1000,
                execution_details=rt.ExecutionDetails(input_payload=input_json),
            )
        }
        self.timers: list[tuple[int, int, rt.Timer]] = []  # (due_ms, seq, timer)
        self._seq = itertools.count()
        self.invocations = 0
        self.checkpoints = 0

    # --- one invocation: the whole contract --------------------------------------------------

    async def invoke(self) -> rt.Outcome:
        """Replay the execution from the store and run it until it ends or must wait."""
        self.invocations += 1
        interp = rt.Interpreter(
            self.workflow,
            list(self.store.values()),
            execution_arn="arn:tiny",
            checkpointing=self.checkpointing,
            clock=lambda: float(self.now),
        )
        running: dict[asyncio.Task[Any], rt.StepTask] = {}
        try:
            while True:
                action = interp.next_action()
                if isinstance(action, rt.Flush):
                    interp.observe(self.checkpoint(action.updates))
                elif isinstance(action, rt.RunTasks):
                    for task in action.tasks:
                        running[asyncio.ensure_future(_call(task, self.now))] = task
                elif isinstance(action, rt.WaitForTasks):
                    done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    for future in done:
                        task = running.pop(future)
                        error = future.exception()
                        if error is None:
                            interp.task_succeeded(task, future.result())
                        elif isinstance(error, Exception):
                            interp.task_failed(task, error)
                        else:
                            raise error
                else:
                    interp.close()
                    return action.outcome
        finally:
            for future in running:  # steps of a batch decided without them
                future.cancel()

    def checkpoint(self, updates: list[rt.OperationUpdate]) -> list[rt.Operation]:
        """Apply a Flush to the store; arm its timers; run the functions it invokes."""
        self.checkpoints += 1
        now_ms = self.now * 1000
        applied = rt.apply_updates(self.store, updates, now_ms=now_ms)
        for timer in applied.timers:
            heapq.heappush(self.timers, (timer.due_ms, next(self._seq), timer))
        changed = list(applied.operations)
        for request in applied.invokes:
            fn = self.functions.get(request.function_name)
            if fn is None:
                error = rt.ErrorObject(
                    error_type="FunctionNotFound", error_message=request.function_name
                )
                changed.append(
                    rt.complete_invoke(self.store, request.operation_id, now_ms=now_ms, error=error)
                )
                continue
            payload = json.loads(request.payload) if request.payload else None
            result = json.dumps(fn(payload))
            changed.append(
                rt.complete_invoke(self.store, request.operation_id, now_ms=now_ms, result=result)
            )
        return changed

    # --- between invocations -----------------------------------------------------------------

    def fire_due_timers(self) -> bool:
        """Move the clock to the next timer and fire every timer due then; False if none."""
        if not self.timers:
            return False
        self.now = self.timers[0][0] // 1000
        while self.timers and self.timers[0][0] <= self.now * 1000:
            _, _, timer = heapq.heappop(self.timers)
            rt.fire_timer(self.store, timer, now_ms=self.now * 1000)
        return True

    def answer_callback(self, callback_id: str, result_json: str) -> None:
        rt.complete_callback(self.store, callback_id, now_ms=self.now * 1000, result=result_json)

    async def run(self, on_suspend: Callable[[TinyRuntime], None] | None = None) -> Any:
        """Invoke until the workflow ends; between invocations fire timers or call on_suspend."""
        while True:
            outcome = await self.invoke()
            if isinstance(outcome, rt.Succeeded):
                return json.loads(outcome.result)
            if isinstance(outcome, rt.Failed):
                raise dg.ExecutionFailedError(outcome.error.error_type, outcome.error.error_message)
            if on_suspend is not None:
                on_suspend(self)
            elif not self.fire_due_timers():
                raise RuntimeError(f"stuck waiting on {outcome.waiting_on}")


async def _call(task: rt.StepTask, now: float) -> Any:
    """Run one step attempt: async steps on the loop, sync steps in a worker thread. One still
    running at its deadline fails with StepTimeoutError (a sync one is left to finish in its
    thread, and what it returns is dropped)."""
    if task.is_async:
        call = task.fn(*task.args, **task.kwargs)
    else:
        call = asyncio.to_thread(task.fn, *task.args, **task.kwargs)
    if task.deadline_ms is None:
        return await call
    try:  # the deadline is on the interpreter's (virtual) clock: wait that long in real time
        return await asyncio.wait_for(call, max(0.0, task.deadline_ms / 1000 - now))
    except TimeoutError:
        raise dg.StepTimeoutError(
            f"step {task.name!r} attempt {task.attempt} did not finish within {task.timeout} s"
        ) from None


# --- a workflow to run on it ----------------------------------------------------------------

sent: list[str] = []


@dg.step
def reserve(item: str) -> str:
    return f"reserved:{item}"


@dg.step
def notify(callback_id: str) -> None:
    sent.append(callback_id)


@dg.workflow
def checkout(items: list[str]):  # type: ignore[no-untyped-def]
    reserved = yield dg.Map(reserve, items)
    yield dg.Wait(seconds=3600, name="hold")
    approval = yield dg.WaitForCallback(notify, name="approval")
    return {"reserved": reserved.results(), "approval": approval}


def main() -> None:
    runtime = TinyRuntime(checkout, '["book", "pen"]')

    def between(rt_: TinyRuntime) -> None:
        if not rt_.fire_due_timers():  # nothing due: the approval is what we wait on
            rt_.answer_callback(sent[-1], '"yes"')

    result = asyncio.run(runtime.run(between))
    print(result, "after", runtime.invocations, "invocations")


if __name__ == "__main__":
    main()
