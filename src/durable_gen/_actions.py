"""What the interpreter tells its host, and what the host tells it back: plain frozen values.

The host loop is one pull call, ``Interpreter.next_action()``, answered by one of:

- ``Flush(updates)``: checkpoint ``updates`` in order, then call ``observe(operations)`` with
  the operations the checkpoint changed (an empty list if none) before asking again.
- ``RunTasks(tasks)``: start these ``StepTask``s; report each with ``task_succeeded`` or
  ``task_failed`` (in any order, from the host's own thread of control).
- ``WaitForTasks(running)``: nothing to do until a running task is reported.
- ``Done(outcome)``: ``Succeeded``, ``Failed`` or ``Suspended``; tasks still running may be
  abandoned (their results would be ignored).

Every action also carries ``events``: what happened since the last action that is recorded
nowhere (a virtual child context started or ended), for hosts that report it (plugin hooks).
A host that does not may ignore them; nothing depends on them.

Pure values: stdlib, msgspec and the wire shapes only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Literal

import msgspec

from ._errors import ValidationError, shown
from ._wire import ErrorObject, Operation, OperationUpdate

__all__ = [
    "CHECKPOINT_MODES",
    "Action",
    "CheckpointMode",
    "Coverage",
    "Done",
    "Failed",
    "Flush",
    "Outcome",
    "RunTasks",
    "StepCall",
    "StepTask",
    "Succeeded",
    "Suspended",
    "VirtualContextEvent",
    "WaitForTasks",
    "check_mode",
]

#: When updates are checkpointed (the interpreter's flush policy):
#: ``"step"`` (default) once per step outcome, a step's START together with its outcome
#: unless the host asks for it while the step runs (``Interpreter.started``);
#: ``"eager"`` like ``"step"``, and every step's START before the step runs;
#: ``"batch"`` only when the invocation suspends or ends.
#: In every mode an update something waits on (an at-most-once START, a callback's START,
#: whose reply carries the callback id) is flushed at once.
CheckpointMode = Literal["step", "eager", "batch"]
CHECKPOINT_MODES: Final = ("step", "eager", "batch")


def check_mode(mode: object) -> CheckpointMode:
    """``mode`` if it is a ``CheckpointMode``, else a ``ValidationError`` that lists them."""
    if mode == "step" or mode == "eager" or mode == "batch":
        return mode
    raise ValidationError(f"checkpointing must be 'step', 'eager' or 'batch', got {shown(mode)}")


class StepTask(msgspec.Struct, frozen=True, kw_only=True, eq=False):
    """One attempt of a step for the host to run: ``fn(*args, **kwargs)``, sync or async.

    Report the outcome with ``Interpreter.task_succeeded(task, value)`` or
    ``Interpreter.task_failed(task, exc)``; the interpreter records it and applies the retry
    policy. Each attempt is a new task.

    Attributes:
        id: Opaque, unique within the interpreter.
        operation_id: The step's operation id.
        parent_id: The context the operation belongs to (None: the root).
        name: The operation name.
        sub_type: ``"Step"`` (or the step's own ``sub_type=``), ``"WaitForCondition"`` or
            ``"Now"``.
        attempt: The attempt number, from 1.
        fn: The function to call: the step's, wrapped so that what it logs names this
            attempt (its execution, operation and attempt number), whoever calls it.
        args: Positional arguments.
        kwargs: Keyword arguments.
        is_async: Whether ``fn`` is a coroutine function (await it).
        deadline_ms: When the attempt must end, in epoch ms of the interpreter's clock (the
            moment it handed the task out plus ``timeout``), or None: no timeout, or no clock.
            A host that cannot stop the attempt then reports ``StepTimeoutError`` for it
            (``task_failed``) and ignores whatever it returns later.
        timeout: The step's timeout in seconds (what ``deadline_ms`` was computed from).
    """

    id: int
    operation_id: str
    parent_id: str | None
    name: str | None
    sub_type: str
    attempt: int
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    is_async: bool
    deadline_ms: int | None = None
    timeout: float | None = None

    def __repr__(self) -> str:
        return f"<StepTask {self.name or self.operation_id[:8]} attempt={self.attempt}>"


class StepCall(msgspec.Struct, frozen=True, kw_only=True):
    """One step attempt as plain data, to run in another process (a process pool).

    ``Interpreter.step_call(task)`` builds it for a ``StepTask`` whose function another
    process can import by name: a sync function defined at the top level of a module (a
    ``@dg.step`` there stands for the function it decorates). It pickles when its arguments
    do; ``durable_gen.runtime.run_step_call(call)``, in the other process, imports the
    function, runs it, and returns what it returns (what the step logs names the attempt).

    Attributes:
        function: ``"module:qualname"`` of the step's function.
        args: Positional arguments.
        kwargs: Keyword arguments.
        execution_arn: The execution the attempt belongs to (for what the step logs).
        operation_id: The step's operation id.
        name: The operation name.
        attempt: The attempt number, from 1.
        parent_id: The context the operation belongs to (None: the root).
    """

    function: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    execution_arn: str
    operation_id: str
    name: str | None
    attempt: int
    parent_id: str | None = None


class VirtualContextEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A virtual child context (``Child(..., virtual=True)``) started or ended.

    A virtual context records nothing, so its start and end reach the host only this way. The
    interpreter reports them for the code that runs new work, never for a replay of what an
    earlier invocation reported: its START in the invocation that first enters it, its end in
    the invocation whose code finishes it (the same one, unless it suspended inside).

    Attributes:
        action: ``"START"``, ``"SUCCEED"`` or ``"FAIL"``.
        operation_id: The id of its position (its operations' ids derive from it; nothing is
            recorded under it).
        parent_id: The ParentId its operations record: the nearest recorded context.
        name: Its name, if it has one.
        sub_type: ``"RunInChildContext"``, or the `Child`'s ``sub_type=``.
        error: Why it failed (``"FAIL"`` only).
        position: Attached to a ``Flush``: how many of its ``updates`` happened before this
            event (report those first). Elsewhere 0: nothing unsent happened before it.
    """

    action: Literal["START", "SUCCEED", "FAIL"]
    operation_id: str
    parent_id: str | None
    name: str | None
    sub_type: str = "RunInChildContext"
    error: ErrorObject | None = None
    position: int = 0


class Succeeded(msgspec.Struct, frozen=True):
    """The workflow returned: ``result`` is its serialized payload."""

    result: str


class Failed(msgspec.Struct, frozen=True):
    """The workflow raised (or diverged from its history): ``error`` is what to record."""

    error: ErrorObject
    exception: BaseException | None = None


class Suspended(msgspec.Struct, frozen=True):
    """Nothing can go on until the service completes something: ``waiting_on`` says what."""

    waiting_on: list[str]


Outcome = Succeeded | Failed | Suspended


class Flush(msgspec.Struct, frozen=True):
    """Checkpoint ``updates`` in order, then call ``observe()`` with what the reply changed."""

    updates: list[OperationUpdate]
    events: tuple[VirtualContextEvent, ...] = ()


class RunTasks(msgspec.Struct, frozen=True):
    """Start ``tasks`` (concurrently or one by one) and report each outcome."""

    tasks: list[StepTask]
    events: tuple[VirtualContextEvent, ...] = ()


class WaitForTasks(msgspec.Struct, frozen=True):
    """Nothing else to do: wait until one of the ``running`` tasks is reported."""

    running: list[StepTask]
    events: tuple[VirtualContextEvent, ...] = ()


class Done(msgspec.Struct, frozen=True):
    """The invocation is over with ``outcome``; return it to the service."""

    outcome: Outcome
    events: tuple[VirtualContextEvent, ...] = ()


Action = Flush | RunTasks | WaitForTasks | Done


class Coverage(msgspec.Struct, frozen=True, kw_only=True):
    """Which recorded operations a replay reached (``Patched`` markers are not counted).

    Attributes:
        recorded: How many operations were recorded before this interpreter started.
        replayed: Ids of recorded operations the workflow reached again.
        not_replayed: Recorded operations in contexts the replay entered that it did not reach
            (yet), in recorded order.
        inside_completed: Recorded operations inside contexts that replayed from their one
            record (a completed child, Map or Parallel is not re-entered), in recorded order.
    """

    recorded: int
    replayed: frozenset[str]
    not_replayed: tuple[Operation, ...]
    inside_completed: tuple[Operation, ...]
