"""The lifecycle of an execution in the embedded engine: everything around its checkpoints.

Pure, as ``_state`` is: no clock, store, lock or handler call. The engine hands in the
execution's header (read here, never changed), the operations it needs and the time; each
function returns an ``Effects``: the operations and history events to write, the tasks to
schedule or drop, whether the execution ends, whose chained invoke its end completes, and how
the running invocation learns of the change. ``LocalService`` applies it and carries out the
rest (storage, locking, the clock, scheduling, handler calls). Checkpoints themselves are
``_state.apply_checkpoint``.

Lifecycle rules

1.  An execution starts RUNNING, with its EXECUTION operation STARTED, the ExecutionStarted
    event (EventId 1), an invocation due at once and, with a timeout, its timeout timer.
2.  A change made from outside the invocation (a timer fired, a callback arrived, an invoke
    finished) schedules an invocation at once. While an invocation runs, the change is instead
    delivered in the response to its next checkpoint: the operation is *unseen*, the
    invocation *nudged*.
3.  Every invocation ends with an InvocationCompleted event. A handler that raised is a crashed
    invocation (the event carries the error) and is invoked again; ``max_crashes`` crashes in a
    row fail the execution with the last error. An output that is not an ``InvocationOutput``,
    or is SUCCEEDED with an Error or with a Result over 6 MiB, or FAILED with a Result, fails
    the execution with ErrorType ``InvalidInvocationOutput``.
4.  A PENDING output (``PENDING``, below) is invoked again at once if the handler was not told
    of a change (an operation is unseen, or an invocation came due meanwhile), or a step is
    READY (unless the invocation recorded nothing: that would loop, so the execution fails), or
    something changed during the invocation and nothing is left to wait for. Otherwise, with
    timers, callbacks or invokes open, the execution is suspended; with nothing open it fails
    (it could never resume).
5.  Timers act only on an operation still in the status they were set for (``TIMERS``); a
    timer whose operation moved on does nothing. A callback's timeout and heartbeat timeout
    drop each other when either fires; the execution timeout ends the execution TIMED_OUT.
6.  An execution ends once (``ENDINGS``): it takes its final status, result and error; its
    EXECUTION operation takes the same status, with the matching event; every task of the
    execution is dropped and its open operations forgotten; the chained invoke that started it,
    if any, completes with the same status, result and error.
7.  The result of an execution a chained invoke started is what that invoke records, an
    operation payload: over 1 MiB, the execution fails with ``PayloadTooLargeError`` instead of
    succeeding (as the service fails such a child), and so does the invoke.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal, NamedTuple

from .._wire import (
    MAX_OPERATION_PAYLOAD_BYTES,
    MAX_PAYLOAD_BYTES,
    ErrorObject,
    Event,
    ExecutionDetails,
    InvocationOutput,
    Operation,
    OperationStatus,
    too_large,
)
from ._dbstore import DamagedRecordError
from ._state import (
    CALLBACK_HEARTBEAT,
    CALLBACK_TIMEOUT,
    RETRY_TIMER,
    WAIT_TIMER,
    WAITING,
    callback_completed,
    callback_timeout_error,
    execution_ended_event,
    execution_started_event,
    invocation_completed_event,
    invoke_completed,
    retry_ready,
    seconds_text,
    wait_succeeded,
)
from ._store import CallbackEntry, ExecutionStatus, StoredExecution

__all__ = [
    "CALL",
    "ENDINGS",
    "EXECUTION_TIMEOUT",
    "INVOCATION",
    "INVALID_OUTPUT",
    "TIMERS",
    "Effects",
    "Ending",
    "InvokeEnded",
    "complete_callback",
    "complete_invoke",
    "end_execution",
    "finish_invocation",
    "fire_timer",
    "heartbeat",
    "start_execution",
    "track_open",
]

#: Task kinds of the engine besides the timers of ``_state``: an invocation of the handler,
#: the call of a plain invoke target, and the execution timeout.
INVOCATION: Final = "invocation"
CALL: Final = "call"
EXECUTION_TIMEOUT: Final = "execution-timeout"

#: ErrorType of the failure an unusable invocation output causes (rules 3 and 4).
INVALID_OUTPUT: Final = "InvalidInvocationOutput"

#: Timer kind -> the operation status it acts on (rule 5); the transition is ``_state``'s.
TIMERS: Final[dict[str, OperationStatus]] = {
    WAIT_TIMER: "STARTED",  # -> SUCCEEDED, WaitSucceeded
    RETRY_TIMER: "PENDING",  # -> READY, no event
    CALLBACK_TIMEOUT: "STARTED",  # -> TIMED_OUT, CallbackTimedOut
    CALLBACK_HEARTBEAT: "STARTED",  # -> TIMED_OUT, CallbackTimedOut
}

#: Execution status -> the status its EXECUTION operation (and its parent's invoke) ends in.
ENDINGS: Final[dict[ExecutionStatus, OperationStatus]] = {
    "SUCCEEDED": "SUCCEEDED",
    "FAILED": "FAILED",
    "TIMED_OUT": "TIMED_OUT",
    "STOPPED": "STOPPED",
}

Lookup = Callable[[str], Operation | None]


class Ending(NamedTuple):
    """The execution ends: its final status, when, and its result or error (rule 6)."""

    status: ExecutionStatus
    end_ms: int
    result: str | None
    error: ErrorObject | None


class InvokeEnded(NamedTuple):
    """A child execution ended: operation ``op_id`` of execution ``arn`` (its parent) completes."""

    arn: str
    op_id: str
    status: OperationStatus
    result: str | None
    error: ErrorObject | None


class Effects:
    """What one lifecycle transition does to one execution; the engine applies it.

    Attributes:
        operations: New versions of operations, to write in this order.
        events: History events; EventIds continue from the header's ``next_event_id``.
        tasks: ``(kind, op_id, due_ms)`` to schedule (each replaces its key).
        cancelled: ``(kind, op_id)`` tasks to drop.
        ending: Set when the execution ends (then every task of it is dropped).
        parent: Set when the end completes the parent's chained invoke.
        deliver: The operation to deliver to the running invocation (rule 2), if any.
        crashes: The new count of crashed invocations in a row, when it changes.
    """

    __slots__ = (
        "cancelled",
        "crashes",
        "deliver",
        "ending",
        "events",
        "first_event_id",
        "operations",
        "parent",
        "tasks",
    )

    def __init__(self, ex: StoredExecution) -> None:
        self.first_event_id = ex.next_event_id
        self.operations: list[Operation] = []
        self.events: list[Event] = []
        self.tasks: tuple[tuple[str, str, int], ...] = ()
        self.cancelled: tuple[tuple[str, str], ...] = ()
        self.ending: Ending | None = None
        self.parent: InvokeEnded | None = None
        self.deliver: str | None = None
        self.crashes: int | None = None

    @property
    def next_event_id(self) -> int:
        """The EventId of the next event this transition writes."""
        return self.first_event_id + len(self.events)


# --- start and end ------------------------------------------------------------------------------


def start_execution(
    arn: str,
    function_name: str,
    input_payload: str | None,
    timeout_seconds: int | None,
    now_ms: int,
    *,
    nonce: str,
    parent: tuple[str, str] | None = None,
) -> tuple[StoredExecution, Effects]:
    """A new execution (rule 1); its name and id are the last two segments of ``arn``.

    ``parent`` is ``(parent ARN, operation id)`` of the chained invoke that started it.
    """
    _, name, exec_id = arn.rsplit("/", 2)
    ex = StoredExecution(
        arn=arn,
        execution_id=exec_id,
        name=name,
        function_name=function_name,
        input=input_payload,
        start_ms=now_ms,
        nonce=nonce,
        parent_arn=parent[0] if parent else None,
        parent_op_id=parent[1] if parent else None,
        timeout_seconds=timeout_seconds,
    )
    op = Operation(
        id=exec_id,
        type="EXECUTION",
        status="STARTED",
        name=name,
        start_timestamp=now_ms,
        execution_details=ExecutionDetails(input_payload=input_payload),
    )
    effects = Effects(ex)
    effects.operations.append(op)
    effects.events.append(execution_started_event(op, input_payload, timeout_seconds, now_ms))
    effects.tasks = ((INVOCATION, "", now_ms),)
    if timeout_seconds is not None:
        effects.tasks += ((EXECUTION_TIMEOUT, "", now_ms + timeout_seconds * 1000),)
    return ex, effects


def end_execution(
    ex: StoredExecution,
    lookup: Lookup,
    status: ExecutionStatus,
    now_ms: int,
    *,
    result: str | None = None,
    error: ErrorObject | None = None,
    effects: Effects | None = None,
) -> Effects:
    """End the execution (rules 6 and 7), added to ``effects`` when given."""
    out = Effects(ex) if effects is None else effects
    if (
        status == "SUCCEEDED"
        and ex.parent_arn is not None
        and too_large(result, MAX_OPERATION_PAYLOAD_BYTES)
    ):
        status, result, error = "FAILED", None, invoked_result_too_large(result)
    execution_op = lookup(ex.execution_id)
    if execution_op is None:  # every execution records one when it starts
        raise DamagedRecordError(
            f"the store holds no EXECUTION operation of {ex.arn} (every execution records one "
            "when it starts: something other than durable_gen deleted it, or the disk damaged "
            "it), so the execution cannot end; restore the database from a backup"
        )
    op_status = ENDINGS[status]
    ended = Operation(
        id=execution_op.id,
        type="EXECUTION",
        status=op_status,
        name=execution_op.name,
        start_timestamp=execution_op.start_timestamp,
        end_timestamp=now_ms,
        execution_details=execution_op.execution_details,
    )
    out.operations.append(ended)
    out.events.append(
        execution_ended_event(ended, status, now_ms, out.next_event_id, result=result, error=error)
    )
    out.ending = Ending(status, now_ms, result, error)
    if ex.parent_arn is not None and ex.parent_op_id is not None:
        out.parent = InvokeEnded(ex.parent_arn, ex.parent_op_id, op_status, result, error)
    return out


# --- invocations --------------------------------------------------------------------------------


def finish_invocation(
    ex: StoredExecution,
    lookup: Lookup,
    now_ms: int,
    *,
    start_ms: int,
    request_id: str,
    output: object,
    crash: ErrorObject | None,
    max_crashes: int,
) -> Effects:
    """An invocation returned ``output`` or crashed with ``crash`` (rules 3 and 4).

    ``ex`` is the header as the invocation left it (its ``unseen``, ``reinvoke``, ``nudged``
    and ``wrote`` still tell what happened during it).
    """
    out = Effects(ex)
    out.events.append(
        invocation_completed_event(out.next_event_id, start_ms, now_ms, request_id, crash)
    )
    if ex.status != "RUNNING":
        return out
    if crash is not None:
        out.crashes = ex.crashes + 1
        if out.crashes >= max_crashes:
            return end_execution(ex, lookup, "FAILED", now_ms, error=crash, effects=out)
        out.tasks = ((INVOCATION, "", now_ms),)
        return out
    out.crashes = 0
    status, result, error = _read_output(output)
    if status == "PENDING":
        return _pending(ex, lookup, now_ms, out)
    return end_execution(ex, lookup, status, now_ms, result=result, error=error, effects=out)


def _read_output(
    output: object,
) -> tuple[Literal["SUCCEEDED", "FAILED", "PENDING"], str | None, ErrorObject | None]:
    """Rule 3: what an invocation output says, or the InvalidInvocationOutput it is."""
    if not isinstance(output, InvocationOutput):
        return (
            "FAILED",
            None,
            _invalid(f"the handler returned {type(output).__name__}, not an InvocationOutput"),
        )
    if output.status == "SUCCEEDED":
        if output.error is not None:
            return "FAILED", None, _invalid("a SUCCEEDED output carries a Result, not an Error")
        if too_large(output.result):
            return (
                "FAILED",
                None,
                _invalid(
                    f"the result is over {MAX_PAYLOAD_BYTES} bytes; checkpoint it with an "
                    "EXECUTION SUCCEED update and return an empty result"
                ),
            )
        return "SUCCEEDED", output.result, None
    if output.status == "FAILED":
        if output.result is not None:
            return "FAILED", None, _invalid("a FAILED output carries an Error, not a Result")
        return (
            "FAILED",
            None,
            output.error
            or ErrorObject(
                error_type="UnknownError", error_message="the handler failed without an Error"
            ),
        )
    return "PENDING", None, None


def _abandoned(op: Operation, lookup: Lookup) -> bool:
    """Whether a context around ``op`` has ended: a step left behind by a decided Map or
    Parallel, which the workflow will not run again (its retry timer still fires)."""
    parent_id = op.parent_id
    while parent_id:
        parent = lookup(parent_id)
        if parent is None:
            return False
        if parent.status != "STARTED":
            return True
        parent_id = parent.parent_id
    return False


def _pending(ex: StoredExecution, lookup: Lookup, now_ms: int, out: Effects) -> Effects:
    """Rule 4: invoke again, suspend, or fail."""
    if ex.unseen or ex.reinvoke:
        out.tasks = ((INVOCATION, "", now_ms),)
        return out
    ready = [
        op_id
        for op_id, kind in ex.open.items()
        if kind == "STEP"
        and (op := lookup(op_id)) is not None
        and op.status == "READY"
        and not _abandoned(op, lookup)
    ]
    if ready:
        if not ex.wrote:
            error = _invalid(
                f"the handler returned PENDING without recording anything while step "
                f"{ready[0]!r} is READY for its next attempt; re-invoking would loop"
            )
            return end_execution(ex, lookup, "FAILED", now_ms, error=error, effects=out)
        out.tasks = ((INVOCATION, "", now_ms),)
    elif ex.open:
        pass  # suspended until a timer, a callback or an invoke moves it on
    elif ex.nudged:
        out.tasks = ((INVOCATION, "", now_ms),)
    else:
        error = _invalid(
            "the handler returned PENDING, but the execution has nothing to wait for (no "
            "timer, open callback, running invoke or step retry); it could never resume"
        )
        return end_execution(ex, lookup, "FAILED", now_ms, error=error, effects=out)
    return out


# --- changes from outside the invocation --------------------------------------------------------


def fire_timer(
    ex: StoredExecution,
    lookup: Lookup,
    kind: str,
    op_id: str,
    due_ms: int,
    now_ms: int,
    find_callback: Callable[[str], CallbackEntry | None],
) -> Effects | None:
    """A timer came due (rule 5); None when it has nothing left to do."""
    if ex.status != "RUNNING":
        return None
    if kind == EXECUTION_TIMEOUT:
        error = ErrorObject(
            error_type="Execution.Timeout",
            error_message=(
                "the execution did not end within its timeout of "
                f"{seconds_text(ex.timeout_seconds or 0)}"
            ),
        )
        return end_execution(ex, lookup, "TIMED_OUT", now_ms, error=error)
    op = lookup(op_id)
    if op is None or TIMERS.get(kind) != op.status:
        return None
    out = Effects(ex)
    if kind == WAIT_TIMER:
        new, event = wait_succeeded(op, now_ms, out.next_event_id)
        out.events.append(event)
    elif kind == RETRY_TIMER:
        new = retry_ready(op)
    else:
        if kind == CALLBACK_TIMEOUT:
            start = op.start_timestamp if op.start_timestamp is not None else due_ms
            seconds = round((due_ms - start) / 1000)
            out.cancelled = ((CALLBACK_HEARTBEAT, op.id),)
        else:
            cid = op.callback_details.callback_id if op.callback_details else None
            entry = find_callback(cid) if cid else None
            seconds = entry.heartbeat_seconds if entry is not None else 0
            out.cancelled = ((CALLBACK_TIMEOUT, op.id),)
        error = callback_timeout_error(kind, seconds)
        new, event = callback_completed(op, "TIMED_OUT", now_ms, out.next_event_id, error=error)
        out.events.append(event)
    out.operations.append(new)
    return _from_outside(ex, out, new.id, now_ms)


def complete_invoke(
    ex: StoredExecution,
    op: Operation | None,
    status: OperationStatus,
    now_ms: int,
    *,
    result: str | None = None,
    error: ErrorObject | None = None,
) -> Effects | None:
    """The target of chained invoke ``op`` ended; None when nothing waits for it any more."""
    if ex.status != "RUNNING" or op is None:
        return None
    if op.status != "STARTED" or op.type != "CHAINED_INVOKE":
        return None
    out = Effects(ex)
    new, event = invoke_completed(op, status, now_ms, out.next_event_id, result=result, error=error)
    out.operations.append(new)
    out.events.append(event)
    return _from_outside(ex, out, op.id, now_ms)


def complete_callback(
    ex: StoredExecution,
    op: Operation,
    status: OperationStatus,
    now_ms: int,
    *,
    result: str | None = None,
    error: ErrorObject | None = None,
) -> Effects:
    """Open callback ``op`` was completed from outside (SUCCEEDED or FAILED)."""
    out = Effects(ex)
    new, event = callback_completed(
        op, status, now_ms, out.next_event_id, result=result, error=error
    )
    out.operations.append(new)
    out.events.append(event)
    out.cancelled = ((CALLBACK_TIMEOUT, op.id), (CALLBACK_HEARTBEAT, op.id))
    return _from_outside(ex, out, op.id, now_ms)


def heartbeat(ex: StoredExecution, op: Operation, entry: CallbackEntry, now_ms: int) -> Effects:
    """A heartbeat for open callback ``op``: its heartbeat timeout starts again."""
    out = Effects(ex)
    if entry.heartbeat_seconds:
        out.tasks = ((CALLBACK_HEARTBEAT, op.id, now_ms + entry.heartbeat_seconds * 1000),)
    return out


def _from_outside(ex: StoredExecution, out: Effects, op_id: str, now_ms: int) -> Effects:
    """Rule 2."""
    if ex.invoking:
        out.deliver = op_id
    else:
        out.tasks += ((INVOCATION, "", now_ms),)
    return out


# --- bookkeeping shared with checkpoints --------------------------------------------------------


def track_open(ex: StoredExecution, operations: list[Operation]) -> None:
    """Keep the header's open operations and invokes in flight in step with ``operations``.

    An operation is open while it waits on something outside the invocation (``is_waiting``);
    a chained invoke leaves ``invokes`` once it is no longer open.
    """
    open_ops = ex.open
    for op in operations:
        if (op.type, op.status) in WAITING:  # is_waiting(op), inlined: once per operation
            open_ops[op.id] = op.type
        elif open_ops and open_ops.pop(op.id, None) == "CHAINED_INVOKE":
            ex.invokes.pop(op.id, None)


def invoked_result_too_large(result: str | None) -> ErrorObject:
    """Rule 7: the error of a chained invoke whose target returned over 1 MiB."""
    size = len(result.encode()) if result is not None else 0
    return ErrorObject(
        error_type="PayloadTooLargeError",
        error_message=(
            f"the invoked function's result is {size} bytes, over the 1 MiB "
            f"({MAX_OPERATION_PAYLOAD_BYTES} bytes) a chained invoke's result may hold; "
            "return a reference to large data (a bucket, a database) instead"
        ),
    )


def _invalid(message: str) -> ErrorObject:
    return ErrorObject(error_type=INVALID_OUTPUT, error_message=message)
