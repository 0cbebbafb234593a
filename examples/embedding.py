"""A tiny custom runtime driving the durable_gen interpreter directly.

No LocalService, no driver: its own store (a dict of operations), its own scheduler (a list of
timers on a clock it controls), its own callback inbox. It shows the whole contract of the
sans-IO core: give ``Interpreter`` the recorded operations, run the ``StepTask``s it hands out,
record the ``OperationUpdate``s it produces, and call it again when something it waits on
completed. See docs/embedding.md.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

import durable_gen as dg
from durable_gen._wire import (
    CallbackDetails,
    ContextDetails,
    ExecutionDetails,
    Operation,
    OperationUpdate,
    StepDetails,
)


class TinyRuntime:
    """Runs one workflow to completion with an in-memory store and a virtual clock."""

    def __init__(self, workflow: Callable[..., Any], input_json: str) -> None:
        self.workflow = workflow
        self.now = 0
        self.store: dict[str, Operation] = {
            "exec": Operation(
                id="exec",
                type="EXECUTION",
                status="STARTED",
                execution_details=ExecutionDetails(input_payload=input_json),
            )
        }
        self.timers: list[tuple[int, int, str]] = []  # (due, seq, operation id)
        self._seq = itertools.count()
        self._callback_ids = itertools.count(1)
        self.invocations = 0

    # --- the runtime's own state machine (a small subset of the service's) -----------------

    def record(self, updates: list[OperationUpdate]) -> list[Operation]:
        changed = []
        for u in updates:
            old = self.store.get(u.id)
            attempt = (old.step_details.attempt or 0) if old and old.step_details else 0
            common: dict[str, Any] = dict(
                id=u.id, type=u.type, parent_id=u.parent_id, name=u.name, sub_type=u.sub_type
            )
            if u.action == "START":
                if u.type == "WAIT":
                    assert u.wait_options and u.wait_options.wait_seconds
                    due = self.now + u.wait_options.wait_seconds
                    heapq.heappush(self.timers, (due, next(self._seq), u.id))
                    op = Operation(status="STARTED", **common)
                elif u.type == "CALLBACK":
                    cid = f"cb{next(self._callback_ids)}"
                    op = Operation(
                        status="STARTED",
                        callback_details=CallbackDetails(callback_id=cid),
                        **common,
                    )
                elif u.type == "STEP":
                    op = Operation(
                        status="STARTED", step_details=StepDetails(attempt=attempt), **common
                    )
                else:
                    op = Operation(status="STARTED", **common)
            elif u.action == "RETRY":
                assert u.step_options and u.step_options.next_attempt_delay_seconds
                due = self.now + u.step_options.next_attempt_delay_seconds
                heapq.heappush(self.timers, (due, next(self._seq), u.id))
                op = Operation(
                    status="PENDING",
                    step_details=StepDetails(attempt=attempt + 1, result=u.payload, error=u.error),
                    **common,
                )
            elif u.type == "STEP":
                status = "SUCCEEDED" if u.action == "SUCCEED" else "FAILED"
                details = StepDetails(attempt=attempt + 1, result=u.payload, error=u.error)
                op = Operation(status=status, step_details=details, **common)
            else:
                status = "SUCCEEDED" if u.action == "SUCCEED" else "FAILED"
                replay = u.context_options.replay_children if u.context_options else None
                details_ctx = ContextDetails(
                    result=u.payload, error=u.error, replay_children=replay
                )
                op = Operation(status=status, context_details=details_ctx, **common)
            self.store[u.id] = op
            changed.append(op)
        return changed

    def fire_due_timers(self) -> bool:
        """Advance the clock to the next timer and complete what is due; False if none."""
        if not self.timers:
            return False
        self.now = self.timers[0][0]
        while self.timers and self.timers[0][0] <= self.now:
            _, _, op_id = heapq.heappop(self.timers)
            op = self.store[op_id]
            status = "READY" if op.type == "STEP" else "SUCCEEDED"
            self.store[op_id] = Operation(
                id=op.id,
                type=op.type,
                parent_id=op.parent_id,
                name=op.name,
                sub_type=op.sub_type,
                status=status,
                step_details=op.step_details,
            )
        return True

    def answer_callback(self, callback_id: str, result_json: str) -> None:
        for op in self.store.values():
            if op.callback_details and op.callback_details.callback_id == callback_id:
                self.store[op.id] = Operation(
                    id=op.id,
                    type=op.type,
                    parent_id=op.parent_id,
                    name=op.name,
                    sub_type=op.sub_type,
                    status="SUCCEEDED",
                    callback_details=CallbackDetails(callback_id=callback_id, result=result_json),
                )
                return
        raise KeyError(callback_id)

    # --- one invocation: the whole driver contract ------------------------------------------

    def invoke(self) -> dg.Succeeded | dg.Failed | dg.Suspended:
        self.invocations += 1
        interp = dg.Interpreter(self.workflow, list(self.store.values()), execution_arn="tiny")
        while True:
            tasks = interp.advance()
            if interp.must_flush or (not tasks and interp.updates):
                interp.observe(self.record(interp.take_updates()))
                continue
            for task in tasks:
                try:
                    value = task.fn(*task.args, **task.kwargs)
                except Exception as exc:
                    interp.step_failed(task, exc)
                else:
                    interp.step_succeeded(task, value)
            if tasks:
                continue
            outcome = interp.outcome
            assert outcome is not None
            return outcome

    def run(self, on_suspend: Callable[[TinyRuntime], None] | None = None) -> Any:
        """Invoke until the workflow ends; between invocations fire timers or call on_suspend."""
        while True:
            outcome = self.invoke()
            if isinstance(outcome, dg.Succeeded):
                return dg.JsonSerdes().deserialize(outcome.result)
            if isinstance(outcome, dg.Failed):
                raise dg.ExecutionFailedError(outcome.error.error_type, outcome.error.error_message)
            if on_suspend is not None:
                on_suspend(self)
            elif not self.fire_due_timers():
                raise RuntimeError(f"stuck waiting on {outcome.waiting_on}")


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

    def between(rt: TinyRuntime) -> None:
        if not rt.fire_due_timers():  # nothing due: the approval is what we wait on
            rt.answer_callback(sent[-1], '"yes"')

    print(runtime.run(between), "after", runtime.invocations, "invocations")


if __name__ == "__main__":
    main()
