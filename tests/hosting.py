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
