"""A minimal host for interpreter tests: pulls actions the way a runtime does.

``advance()`` pulls ``next_action()`` until the interpreter hands out tasks, waits for them or
is done; every ``Flush`` is recorded (``flushes``, ``updates``) and answered with ``reply``
(the operations a test wants the service to return). By default the reply carries only what
the interpreter needs of it: each callback the ``Flush`` started, with a callback id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen._actions import Done, Flush, Outcome, RunTasks, StepTask, WaitForTasks
from durable_gen._wire import CallbackDetails, Operation, OperationUpdate


def new_callbacks(updates: list[OperationUpdate]) -> list[Operation]:
    """The reply a service gives at least: each CALLBACK started, with its callback id."""
    return [
        Operation(
            id=u.id,
            parent_id=u.parent_id,
            type="CALLBACK",
            sub_type=u.sub_type,
            name=u.name,
            status="STARTED",
            callback_details=CallbackDetails(callback_id=f"cb-{u.id[:12]}"),
        )
        for u in updates
        if u.type == "CALLBACK" and u.action == "START"
    ]


class Host:
    def __init__(
        self,
        interp: dg.Interpreter,
        reply: Callable[[list[OperationUpdate]], Iterable[Operation]] | None = None,
    ) -> None:
        self.interp = interp
        self.reply = reply
        self.flushes: list[list[OperationUpdate]] = []
        self.updates: list[OperationUpdate] = []
        self.outcome: Outcome | None = None

    def advance(self) -> list[StepTask]:
        """Pull until the interpreter needs a task reported or is done; the tasks handed out."""
        tasks: list[StepTask] = []
        while True:
            action = self.interp.next_action()
            if isinstance(action, Flush):
                self.flushes.append(action.updates)
                self.updates += action.updates
                self.interp.observe((self.reply or new_callbacks)(action.updates))
            elif isinstance(action, RunTasks):
                tasks += action.tasks
            elif isinstance(action, WaitForTasks):
                return tasks
            else:
                assert isinstance(action, Done)
                self.outcome = action.outcome
                return tasks

    def take_updates(self) -> list[OperationUpdate]:
        """The updates flushed since the last call."""
        updates, self.updates = self.updates, []
        return updates

    def task_succeeded(self, task: StepTask, value: Any) -> None:
        self.interp.task_succeeded(task, value)

    def task_failed(self, task: StepTask, exc: BaseException) -> None:
        self.interp.task_failed(task, exc)

    def observe(self, operations: Iterable[Operation]) -> None:
        self.interp.observe(operations)


def hosted(*args: Any, **kwargs: Any) -> Host:
    """``Host(Interpreter(*args, **kwargs))``."""
    return Host(dg.Interpreter(*args, **kwargs))


class DictRuntime:
    """A runtime of one's own as docs/embedding.md builds it, from public imports: a dict store
    changed by ``apply_updates``, timers kept by (kind, operation) and fired by hand, a new
    ``Interpreter`` per invocation, step tasks run inline (an exception is the attempt's
    failure). ``Now()`` reads ``now_ms``."""

    def __init__(
        self,
        workflow: Callable[..., Any],
        input_payload: str = "null",
        *,
        execution_arn: str = "",
        checkpointing: rt.CheckpointMode = "step",
        now_ms: int = 0,
    ) -> None:
        self.workflow, self.arn, self.mode, self.now_ms = (
            workflow,
            execution_arn,
            checkpointing,
            now_ms,
        )
        self.store: dict[str, rt.Operation] = {
            "exec": rt.Operation(
                id="exec",
                type="EXECUTION",
                status="STARTED",
                execution_details=rt.ExecutionDetails(input_payload=input_payload),
            )
        }
        self.timers: dict[tuple[str, str], rt.Timer] = {}
        self.invocations = 0

    def invoke(self) -> rt.Outcome:
        """One invocation: a new interpreter over the store, driven until it is done."""
        self.invocations += 1
        interp = rt.Interpreter(
            self.workflow,
            list(self.store.values()),
            execution_arn=self.arn,
            checkpointing=self.mode,
            clock=lambda: self.now_ms / 1000,
        )
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                applied = rt.apply_updates(self.store, action.updates, now_ms=self.now_ms)
                for timer in applied.timers:
                    self.timers[timer.kind, timer.operation_id] = timer
                interp.observe(applied.operations)
            elif isinstance(action, rt.RunTasks):
                for task in action.tasks:
                    try:
                        value = task.fn(*task.args, **task.kwargs)
                    except Exception as exc:
                        interp.task_failed(task, exc)
                    else:
                        interp.task_succeeded(task, value)
            else:
                assert isinstance(action, rt.Done)
                interp.close()
                return action.outcome

    def fire_next(self) -> None:
        """Fire the earliest timer; the clock moves to its due time (never back)."""
        timer = min(self.timers.values(), key=lambda t: t.due_ms)
        del self.timers[timer.kind, timer.operation_id]
        self.now_ms = max(self.now_ms, timer.due_ms)
        rt.fire_timer(self.store, timer, now_ms=self.now_ms)

    def advance_to(self, now_ms: int) -> None:
        """Fire, in order, every timer due by ``now_ms``; the clock then reads ``now_ms``."""
        while any(t.due_ms <= now_ms for t in self.timers.values()):
            self.fire_next()
        self.now_ms = now_ms

    def run(self, invocations: int = 50) -> rt.Outcome:
        """Invoke, firing the next timer between invocations, until the execution ends or
        waits on nothing a timer ends."""
        for _ in range(invocations):
            outcome = self.invoke()
            if not isinstance(outcome, rt.Suspended) or not self.timers:
                return outcome
            self.fire_next()
        raise AssertionError(f"the execution did not end in {invocations} invocations")
