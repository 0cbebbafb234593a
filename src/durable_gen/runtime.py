"""Everything a runtime that embeds durable_gen needs, and nothing a workflow author needs.

Workflows are written with the top-level ``durable_gen`` API. A runtime (your worker, queue,
or framework) drives them with the names here: the sans-IO ``Interpreter`` and the values it
exchanges (actions, tasks, outcomes), the wire shapes of the durable-execution API, the
``DurableService`` protocol with the ready-made drivers (``invoke``, ``invoke_async``,
``make_handler``), and ``apply_updates``, the service's operation state machine applied to a
dict, for runtimes that keep their own store. docs/embedding.md is the guide.
"""

from __future__ import annotations

import importlib
import secrets
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

import msgspec

from ._actions import Action as Action
from ._actions import CheckpointMode as CheckpointMode
from ._actions import Coverage as Coverage
from ._actions import Done as Done
from ._actions import Failed as Failed
from ._actions import Flush as Flush
from ._actions import Outcome as Outcome
from ._actions import RunTasks as RunTasks
from ._actions import StepCall as StepCall
from ._actions import StepTask as StepTask
from ._actions import Succeeded as Succeeded
from ._actions import Suspended as Suspended
from ._actions import VirtualContextEvent as VirtualContextEvent
from ._actions import WaitForTasks as WaitForTasks
from ._arguments import checked
from ._commands import StepFunction
from ._context import STEP, StepAttempt
from ._driver import invoke as invoke
from ._driver import invoke_async as invoke_async
from ._driver import make_handler as make_handler
from ._errors import InvalidCheckpointError, ValidationError, shown
from ._failure import REMOTE_TRACE, check_error_object, trace_lines
from ._interpreter import Interpreter as Interpreter
from ._service import DurableService as DurableService
from ._service import InvocationHandler as InvocationHandler
from ._wire import LATEST_MS, MAX_OPERATION_PAYLOAD_BYTES, too_large, wrong_field
from ._wire import CallbackDetails as CallbackDetails
from ._wire import CallbackOptions as CallbackOptions
from ._wire import ChainedInvokeDetails as ChainedInvokeDetails
from ._wire import ChainedInvokeOptions as ChainedInvokeOptions
from ._wire import CheckpointResponse as CheckpointResponse
from ._wire import ContextDetails as ContextDetails
from ._wire import ContextOptions as ContextOptions
from ._wire import ErrorObject as ErrorObject
from ._wire import ExecutionDetails as ExecutionDetails
from ._wire import ExecutionState as ExecutionState
from ._wire import InvocationInput as InvocationInput
from ._wire import InvocationOutput as InvocationOutput
from ._wire import Operation as Operation
from ._wire import OperationUpdate as OperationUpdate
from ._wire import StepDetails as StepDetails
from ._wire import StepOptions as StepOptions
from ._wire import WaitDetails as WaitDetails
from ._wire import WaitOptions as WaitOptions
from .local import _state
from .local._lifecycle import invoked_result_too_large

__all__ = [
    "Action",
    "Applied",
    "CallbackDetails",
    "CallbackOptions",
    "ChainedInvokeDetails",
    "ChainedInvokeOptions",
    "CheckpointMode",
    "CheckpointResponse",
    "ContextDetails",
    "ContextOptions",
    "Coverage",
    "Done",
    "DurableService",
    "ErrorObject",
    "ExecutionDetails",
    "ExecutionState",
    "Failed",
    "Flush",
    "Interpreter",
    "InvocationHandler",
    "InvocationInput",
    "InvocationOutput",
    "InvokeRequest",
    "Operation",
    "OperationUpdate",
    "Outcome",
    "RunTasks",
    "StepCall",
    "StepDetails",
    "StepOptions",
    "StepTask",
    "Succeeded",
    "Suspended",
    "Timer",
    "VirtualContextEvent",
    "WaitDetails",
    "WaitForTasks",
    "WaitOptions",
    "apply_updates",
    "complete_callback",
    "complete_invoke",
    "fire_timer",
    "heartbeat_callback",
    "invoke",
    "invoke_async",
    "make_handler",
    "run_step_call",
]

TimerKind = Literal["wait", "retry", "callback-timeout", "callback-heartbeat"]
_TIMER_KINDS: Final = frozenset({"wait", "retry", "callback-timeout", "callback-heartbeat"})


class Timer(msgspec.Struct, frozen=True, kw_only=True):
    """A timer an update arms: call ``fire_timer`` with it once ``due_ms`` has passed.

    Attributes:
        kind: ``"wait"`` (a WAIT ends), ``"retry"`` (a step's next attempt is due),
            ``"callback-timeout"`` or ``"callback-heartbeat"`` (a callback times out).
        operation_id: The operation it belongs to.
        due_ms: When it fires, epoch milliseconds.
        seconds: How long it was armed for (the wait, the retry delay, the callback's timeout
            or heartbeat timeout); ``heartbeat_callback`` arms the next heartbeat timer with it.
    """

    kind: TimerKind
    operation_id: str
    due_ms: int
    seconds: int = 0


class InvokeRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A chained invoke to start: run ``function_name`` on ``payload`` (for ``tenant_id``, the
    ``Invoke``'s ``tenant_id=``, when it has one), then ``complete_invoke`` with its result or
    error."""

    operation_id: str
    function_name: str
    payload: str | None
    tenant_id: str | None = None


class Applied(msgspec.Struct, frozen=True, kw_only=True):
    """What ``apply_updates`` did.

    Attributes:
        operations: The new version of every operation the updates changed, in order: pass
            them to ``Interpreter.observe()`` (they carry callback ids, for example).
        timers: Timers to arm.
        invokes: Chained invokes to start.
        outcome: ``Succeeded``/``Failed`` when an EXECUTION update ended the execution.
    """

    operations: list[Operation]
    timers: list[Timer]
    invokes: list[InvokeRequest]
    outcome: Succeeded | Failed | None = None


def _check_store(operations: object, now_ms: object, what: str) -> None:
    """Refuse a store or a time of the wrong kind before anything is written to the store."""
    if not isinstance(operations, dict):
        raise ValidationError(
            f"{what}() takes the execution's operations as a dict of Operation by id, got "
            f"{type(operations).__name__}: keep them as {{op.id: op for op in operations}}"
        )
    if not isinstance(now_ms, int) or isinstance(now_ms, bool) or now_ms < 0:
        raise ValidationError(
            f"{what}() takes now_ms as whole epoch milliseconds (an int, 0 or more), got "
            f"{shown(now_ms)}: pass round(seconds * 1000)"
        )
    if now_ms > LATEST_MS:
        raise ValidationError(
            f"{what}() takes now_ms as whole epoch milliseconds, at most {LATEST_MS} (the "
            f"end of the year 9999), got {shown(now_ms)}: microseconds or nanoseconds "
            "(time.time_ns()) are the usual slip; pass time.time_ns() // 1_000_000"
        )


def _check_answer(result: object, error: object, what: str) -> None:
    """Refuse an answer that would leave a payload or error the interpreter cannot read."""
    if result is not None and error is not None:
        raise ValidationError(
            f"{what}() takes result= (it succeeded) or error= (it failed), not both"
        )
    if result is not None and not isinstance(result, str):
        raise ValidationError(
            f"{what}() takes result= as a JSON payload (a str), got {type(result).__name__}: "
            "encode the value first, e.g. json.dumps(value)"
        )
    if error is not None and not isinstance(error, ErrorObject):
        raise ValidationError(
            f"{what}() takes error= as an ErrorObject, got {type(error).__name__}: write "
            "ErrorObject(error_type=..., error_message=...)"
        )
    if isinstance(error, ErrorObject):
        check_error_object(error, f"{what}()'s error=", ValidationError)


def _check_id(value: object, what: str, name: str) -> None:
    """An id given to ``what()``: text, as the history records it."""
    if not isinstance(value, str):
        raise ValidationError(
            f"{what}() takes {name} as the str the history records, got "
            f"{type(value).__name__} {shown(value)}"
        )


def _check_running(operations: dict[str, Operation], what: str) -> Operation | None:
    """The EXECUTION operation of the store, if it holds one; an ended execution (it records
    nothing more, as the service refuses it) is an ``InvalidCheckpointError``."""
    for op in operations.values():  # the EXECUTION operation comes first in a store
        if op.type == "EXECUTION":
            if op.status != "STARTED":
                raise InvalidCheckpointError(
                    f"{what}: the execution {op.id!r} ended as {op.status}, and an ended "
                    "execution records nothing more (the service refuses it too): stop "
                    "invoking it and drop its timers; tell whoever answers its callbacks that "
                    "it ended"
                )
            return op
    return None


@checked
def apply_updates(
    operations: dict[str, Operation],
    updates: Sequence[OperationUpdate],
    *,
    now_ms: int,
    new_callback_id: Callable[[], str] | None = None,
) -> Applied:
    """Apply one checkpoint's ``updates`` to ``operations`` (by id) as the service does.

    The same state machine as the embedded engine (docs/engine.md): the whole batch is
    validated first, and one refused update refuses it all (``operations`` is then unchanged).
    Every function name is accepted for a chained invoke; the host decides what runs.

    Args:
        operations: The execution's operations by id (the EXECUTION operation may be among
            them); updated in place.
        updates: The updates of one ``Flush``, in order.
        now_ms: The time of the checkpoint, epoch milliseconds.
        new_callback_id: Issues callback ids (default: 48 random hex characters); each must be
            a non-empty str the store has not issued before (``ValidationError`` otherwise).

    Returns:
        The changes: operations for ``observe()``, timers to arm, invokes to start, the end.

    Raises:
        InvalidCheckpointError: an update breaks a rule of the state machine; the message
            names the update and the rule.
        ValidationError: ``updates`` is not a list (a sequence) of ``OperationUpdate`` values
            (a ``Flush`` itself, say), ``operations`` is not a dict or ``now_ms`` not an int of
            0 or more.
    """
    _check_store(operations, now_ms, "apply_updates")
    if new_callback_id is not None and not callable(new_callback_id):
        raise ValidationError(
            "apply_updates() takes new_callback_id= as a function returning a new callback id, "
            f"got {type(new_callback_id).__name__}"
        )
    if not isinstance(updates, Sequence) or isinstance(updates, str | bytes):
        hint = " (pass its .updates)" if isinstance(updates, Flush) else ""
        raise ValidationError(
            "apply_updates() takes the updates of a Flush as a list of OperationUpdate values "
            f"(action.updates), got {type(updates).__name__}{hint}"
        )
    for update in updates:
        if not isinstance(update, OperationUpdate):
            raise ValidationError(
                "apply_updates() takes the OperationUpdate values of a Flush, got "
                f"{type(update).__name__}"
            )
    execution = _check_running(operations, "checkpoint refused, nothing was recorded")
    try:
        applied = _state.apply_checkpoint(
            operations.get,
            updates,
            now_ms=now_ms,
            first_event_id=1,
            new_callback_id=_callback_ids(operations, new_callback_id)
            if new_callback_id
            else _callback_id,
            resolve_invoke=lambda _op_id, _name: _state.InvokeTarget(),
        )
    except (AttributeError, TypeError) as exc:  # nothing is recorded before the update below
        raise _malformed(updates) or exc from None
    operations.update(applied.operations)
    outcome: Succeeded | Failed | None = None
    if applied.outcome is not None:
        status, payload, error = applied.outcome
        if status == "SUCCEEDED":
            outcome = Succeeded(payload or "")
        else:
            outcome = Failed(error or ErrorObject())
        if execution is not None:  # the store says it ended, as the service's state does
            operations[execution.id] = msgspec.structs.replace(
                execution, status=status, end_timestamp=now_ms
            )
    return Applied(
        operations=list(applied.operations.values()),
        timers=[
            Timer(
                kind=kind,  # type: ignore[arg-type]
                operation_id=op_id,
                due_ms=due,
                seconds=max(0, (due - now_ms) // 1000),
            )
            for kind, op_id, due in applied.timers
        ],
        invokes=[
            InvokeRequest(
                operation_id=i.op_id,
                function_name=i.function_name,
                payload=i.payload,
                tenant_id=_tenant_of(updates, i.op_id),
            )
            for i in applied.invokes
        ],
        outcome=outcome,
    )


def _malformed(updates: Sequence[OperationUpdate]) -> ValidationError | None:
    """The refusal of an update built by hand with a field of another type (OperationUpdate(...)
    checks no types), looked for only once applying the updates failed; None if none is."""
    for update in updates:
        wrong = wrong_field(update, "")
        if wrong is not None:
            return ValidationError(
                f"the update of operation {shown(update.id)} is not a well-formed "
                f"OperationUpdate: its {wrong}. OperationUpdate(...) does not check its "
                "fields' types: build them with the types durable_gen.runtime declares "
                "(wait_options=WaitOptions(wait_seconds=5), not a dict), or pass the updates "
                "of a Flush as they are; nothing was recorded"
            )
    return None


def _tenant_of(updates: Sequence[OperationUpdate], op_id: str) -> str | None:
    """The ``TenantId`` the CHAINED_INVOKE START of ``op_id`` asks for, or None."""
    for update in updates:
        options = update.chained_invoke_options
        if update.id == op_id and update.action == "START" and options is not None:
            return options.tenant_id
    return None


@checked
def fire_timer(operations: dict[str, Operation], timer: Timer, *, now_ms: int) -> Operation | None:
    """Fire ``timer``: a WAIT succeeds, a step becomes READY, a callback times out.

    A callback that times out becomes TIMED_OUT with the error ``Callback.Timeout`` (or
    ``Callback.Heartbeat`` for a missed heartbeat); the workflow sees a
    ``CallbackTimeoutError``.

    Returns:
        The changed operation (pass it to ``observe()``), or None when the timer is stale
        (the operation moved on, e.g. a callback answered before its timeout).

    Raises:
        ValidationError: ``now_ms`` is before the timer's ``due_ms`` (it is not due yet); the
            timer was not armed for this store (no such operation, an operation of another
            type, a wait that ends later, a callback started at another time: the timer of
            another execution); or a bad ``operations``/``now_ms``/``timer``.
    """
    _check_store(operations, now_ms, "fire_timer")
    if not isinstance(timer, Timer):
        raise ValidationError(
            f"fire_timer() takes a Timer of Applied.timers, got {type(timer).__name__}"
        )
    if timer.kind not in _TIMER_KINDS:
        raise ValidationError(f"unknown timer kind {timer.kind!r}")
    wrong = wrong_field(timer, "")
    if wrong is not None:  # Timer(...) checks no types: one rebuilt from a store by hand
        raise ValidationError(
            f"fire_timer() takes a well-formed Timer, and this one's {wrong}: rebuild stored "
            "timers with msgspec.json.decode(data, type=Timer), or give Timer(...) an int "
            "due_ms and seconds and a str operation_id; nothing was changed"
        )
    if now_ms < timer.due_ms:
        raise ValidationError(
            f"the {timer.kind} timer of operation {timer.operation_id!r} is due at "
            f"{timer.due_ms}, {timer.due_ms - now_ms} ms after now_ms={now_ms}: fired now it "
            "would end a wait or a retry delay early, or time a callback out before its "
            "timeout; fire a timer once now_ms reaches its due_ms (a host whose timers may "
            "go off a little early passes now_ms=max(now, timer.due_ms))"
        )
    op = _timer_operation(operations, timer, now_ms)
    if op is None:
        return None
    try:
        _check_running(operations, "fire_timer")
    except InvalidCheckpointError:
        return None  # stale: the execution ended (a stop leaves its timers armed)
    if timer.kind == "wait" and op.status == "STARTED":
        new, _ = _state.wait_succeeded(op, now_ms, 0)
    elif timer.kind == "retry" and op.status == "PENDING":
        new = _state.retry_ready(op)
    elif timer.kind in ("callback-timeout", "callback-heartbeat") and op.status == "STARTED":
        seconds = timer.seconds
        if not seconds and timer.kind == "callback-timeout":  # a Timer built by hand
            start = op.start_timestamp if op.start_timestamp is not None else timer.due_ms
            seconds = max(0, round((timer.due_ms - start) / 1000))
        error = _state.callback_timeout_error(timer.kind, seconds)
        new, _ = _state.callback_completed(op, "TIMED_OUT", now_ms, 0, error=error)
    else:
        return None
    operations[new.id] = new
    return new


_INVOKE_ENDS: Final = frozenset({"FAILED", "TIMED_OUT", "STOPPED"})

_TIMER_TYPES: Final = {
    "wait": "WAIT",
    "retry": "STEP",
    "callback-timeout": "CALLBACK",
    "callback-heartbeat": "CALLBACK",
}


def _timer_operation(
    operations: dict[str, Operation], timer: Timer, now_ms: int
) -> Operation | None:
    """The operation ``timer`` ends, or None when it is stale; a timer that was not armed for
    this store's operation (another execution's: operation ids repeat across executions of a
    workflow) is a ``ValidationError``."""
    advice = (
        "fire a timer into the store whose apply_updates() armed it, and keep timers by "
        "execution as well as by (kind, operation id): every execution of a workflow has the "
        "same operation ids"
    )
    op = operations.get(timer.operation_id)
    if op is None:
        raise ValidationError(
            f"the {timer.kind} timer names no operation {timer.operation_id!r} in this store: "
            + advice
        )
    if op.type != _TIMER_TYPES[timer.kind]:
        raise ValidationError(
            f"a {timer.kind} timer ends a {_TIMER_TYPES[timer.kind]}, but operation "
            f"{op.id!r} is a {op.type}: " + advice
        )
    if timer.kind == "wait" and op.status == "STARTED":
        end = op.wait_details.scheduled_end_timestamp if op.wait_details else None
        if end is not None and now_ms < end:
            raise ValidationError(
                f"the WAIT {op.id!r} is scheduled to end at {end}, after now_ms={now_ms}: this "
                f"wait timer (due at {timer.due_ms}) was not armed for it: " + advice
            )
    elif timer.kind == "retry" and op.status == "PENDING":
        due = op.step_details.next_attempt_timestamp if op.step_details else None
        if due is not None and now_ms < due:
            return None  # the timer of an earlier retry delay, delivered again
    elif timer.kind == "callback-timeout" and op.status == "STARTED" and timer.seconds:
        start = op.start_timestamp
        if start is not None and timer.due_ms != start + timer.seconds * 1000:
            raise ValidationError(
                f"this callback-timeout timer (due at {timer.due_ms}, {timer.seconds} s) was "
                f"armed for a callback started at {timer.due_ms - timer.seconds * 1000}; the "
                f"CALLBACK {op.id!r} of this store started at {start}: " + advice
            )
    return op


@checked
def complete_callback(
    operations: dict[str, Operation],
    callback_id: str,
    *,
    now_ms: int,
    result: str | None = None,
    error: ErrorObject | None = None,
) -> Operation:
    """Answer the callback ``callback_id``: SUCCEEDED with ``result`` (a JSON payload), or
    FAILED with ``error`` when one is given.

    Returns:
        The changed operation (pass it to ``observe()`` or invoke again).

    Raises:
        InvalidCheckpointError: no started callback has this id.
        ValidationError: both ``result`` and ``error``, a ``result`` that is not a str, an
            ``error`` that is not an ``ErrorObject`` (or holds a field of another type, or
            text that is not valid Unicode), or a bad ``operations``/``now_ms``.
        PayloadTooLargeError: ``error`` is over the 32 KiB limit of an error object.
    """
    _check_store(operations, now_ms, "complete_callback")
    _check_answer(result, error, "complete_callback")
    _check_id(callback_id, "complete_callback", "callback_id")
    _check_running(operations, f"callback {callback_id!r} not answered")
    op = _open_callback(operations, callback_id)
    status: Literal["SUCCEEDED", "FAILED"] = "FAILED" if error is not None else "SUCCEEDED"
    new, _ = _state.callback_completed(op, status, now_ms, 0, result=result, error=error)
    operations[new.id] = new
    return new


@checked
def heartbeat_callback(
    operations: dict[str, Operation],
    callback_id: str,
    heartbeat: Timer | None,
    *,
    now_ms: int,
) -> Timer | None:
    """A heartbeat arrived for the callback ``callback_id``: its heartbeat timeout starts again.

    Args:
        operations: The execution's operations by id.
        callback_id: The id the heartbeat names.
        heartbeat: The ``"callback-heartbeat"`` timer armed for this callback (the one
            ``apply_updates`` returned, or the one the last heartbeat returned), or None when
            the callback has no heartbeat timeout.

    Returns:
        The timer that replaces ``heartbeat``, due its ``seconds`` from ``now_ms``: drop the
        old one (fired, it would time the callback out); None when ``heartbeat`` is None.

    Raises:
        InvalidCheckpointError: no started callback has this id (it completed or timed out),
            or ``now_ms`` has reached ``heartbeat.due_ms``: the heartbeat timeout has passed,
            so the callback has timed out (fire that timer); nothing is changed.
        ValidationError: ``heartbeat`` is not this callback's heartbeat timer.
    """
    _check_store(operations, now_ms, "heartbeat_callback")
    _check_id(callback_id, "heartbeat_callback", "callback_id")
    _check_running(operations, f"heartbeat of callback {callback_id!r} refused")
    op = _open_callback(operations, callback_id)
    if heartbeat is None:
        return None
    if (
        not isinstance(heartbeat, Timer)
        or heartbeat.kind != "callback-heartbeat"
        or heartbeat.operation_id != op.id
        or heartbeat.seconds < 1  # built by hand, without how long it lasts
    ):
        raise ValidationError(
            f"heartbeat_callback() takes the 'callback-heartbeat' Timer armed for callback "
            f"{callback_id!r} (operation {op.id!r}), got {shown(heartbeat)}"
        )
    if now_ms >= heartbeat.due_ms:
        # The heartbeat timeout has passed: the callback timed out, whether or not its timer
        # fired yet. Re-arming it would let a late heartbeat revive it (the service refuses).
        raise InvalidCheckpointError(
            f"heartbeat of callback {callback_id!r} refused: its heartbeat timeout ended at "
            f"due_ms={heartbeat.due_ms}, {now_ms - heartbeat.due_ms} ms before now_ms={now_ms}, "
            "so the callback has timed out (Callback.Heartbeat) although its timer has not "
            "fired yet; tell the sender the callback ended, keep that timer armed and fire it "
            "(rt.fire_timer), then invoke the execution again"
        )
    return Timer(
        kind="callback-heartbeat",
        operation_id=op.id,
        due_ms=now_ms + heartbeat.seconds * 1000,
        seconds=heartbeat.seconds,
    )


def _open_callback(operations: dict[str, Operation], callback_id: str) -> Operation:
    """The STARTED callback operation issued ``callback_id``."""
    for op in operations.values():
        d = op.callback_details
        if op.type == "CALLBACK" and d is not None and d.callback_id == callback_id:
            if op.status != "STARTED":
                raise InvalidCheckpointError(f"callback {callback_id!r} is already {op.status}")
            return op
    raise InvalidCheckpointError(f"no started callback has the id {callback_id!r}")


@checked
def complete_invoke(
    operations: dict[str, Operation],
    operation_id: str,
    *,
    now_ms: int,
    result: str | None = None,
    error: ErrorObject | None = None,
    status: Literal["FAILED", "TIMED_OUT", "STOPPED"] | None = None,
) -> Operation:
    """End the chained invoke ``operation_id``: SUCCEEDED with ``result`` (a JSON payload),
    or FAILED with ``error`` when one is given (the workflow sees ``InvokeFailedError``); a
    ``result`` over 1 MiB fails it with ``PayloadTooLargeError``, as the service does;
    ``status="TIMED_OUT"`` or ``"STOPPED"`` records how the invoked function ended otherwise
    (without an ``error``, or with one without a type, the workflow's ``error_type`` is
    ``Invoke.TIMED_OUT`` or ``Invoke.STOPPED``).

    Raises:
        InvalidCheckpointError: no started chained invoke has this id.
        ValidationError: both ``result`` and ``error``, a ``result`` that is not a str, an
            ``error`` that is not an ``ErrorObject`` (or holds a field of another type, or
            text that is not valid Unicode), a ``status`` with a ``result`` or other than
            those three, or a bad ``operations``/``now_ms``.
        PayloadTooLargeError: ``error`` is over the 32 KiB limit of an error object.
    """
    _check_store(operations, now_ms, "complete_invoke")
    _check_answer(result, error, "complete_invoke")
    _check_id(operation_id, "complete_invoke", "operation_id")
    if status is not None and (
        not isinstance(status, str) or status not in _INVOKE_ENDS or result is not None
    ):
        raise ValidationError(
            f"complete_invoke() takes status= as one of {sorted(_INVOKE_ENDS)}, for a function "
            f"that did not succeed (with error= or none), got status={shown(status)}"
            + (" with a result" if result is not None else "")
        )
    _check_running(operations, f"chained invoke {operation_id!r} not completed")
    op = operations.get(operation_id)
    if op is None or op.type != "CHAINED_INVOKE" or op.status != "STARTED":
        raise InvalidCheckpointError(f"no started chained invoke has the id {operation_id!r}")
    end: Literal["SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"] = status or (
        "FAILED" if error is not None else "SUCCEEDED"
    )
    if end == "SUCCEEDED" and too_large(result, MAX_OPERATION_PAYLOAD_BYTES):
        end, result, error = "FAILED", None, invoked_result_too_large(result)
    new, _ = _state.invoke_completed(op, end, now_ms, 0, result=result, error=error)
    operations[new.id] = new
    return new


def _callback_ids(
    operations: dict[str, Operation], new_callback_id: Callable[[], str]
) -> Callable[[], str]:
    """``new_callback_id``, checked to give a non-empty str the store has not issued before."""
    issued: set[str] | None = None

    def issue() -> str:
        nonlocal issued
        callback_id = new_callback_id()
        if not isinstance(callback_id, str) or not callback_id:
            raise ValidationError(
                f"new_callback_id() returned {callback_id!r}: it must return a new callback id, "
                "a non-empty str (e.g. secrets.token_hex(24))"
            )
        if issued is None:
            issued = {
                op.callback_details.callback_id
                for op in operations.values()
                if op.callback_details is not None and op.callback_details.callback_id
            }
        if callback_id in issued:
            raise ValidationError(
                f"new_callback_id() returned {callback_id!r}, an id this store already issued: "
                "an answer to it would reach the wrong callback; return a new id on every call "
                "(a counter must not restart with the process: secrets.token_hex(24) is safe)"
            )
        issued.add(callback_id)
        return callback_id

    return issue


def _callback_id() -> str:
    return secrets.token_hex(24)


@checked
def run_step_call(call: StepCall) -> Any:
    """Run a ``StepCall`` (``Interpreter.step_call``) in this process; return what it returns.

    Imports ``call.function`` (``"module:qualname"``; a ``@dg.step`` there stands for the
    function it decorates; ``__main__`` is the script, as a process pool re-imports it) and
    calls it on ``call.args`` and ``call.kwargs``. What the step logs names the attempt, as
    with ``task.fn``. A top-level function: pickle sends it to a worker process by name, so
    ``pool.submit(run_step_call, call)`` works with ``concurrent.futures.ProcessPoolExecutor``.

    Raises:
        ValidationError: ``call`` is not a ``StepCall``, or its function cannot be imported
            here, or that name is no longer the function the workflow yielded (another
            version of the code): run the same code in both processes.
        Exception: whatever the step raises.
    """
    if not isinstance(call, StepCall):
        raise ValidationError(
            f"run_step_call takes the StepCall of Interpreter.step_call(task), got {shown(call)}"
        )
    module_name, _, qualname = call.function.partition(":")
    try:
        if module_name == "__main__":  # a script: the pool's worker re-imported it
            found: Any = sys.modules["__main__"]
        else:
            found = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, KeyError) as exc:
        raise ValidationError(
            f"cannot import the step function {call.function!r} in this process ({exc!r}): "
            "run the same code in the process that runs the interpreter and in this one"
        ) from None
    inner = getattr(found, "__wrapped__", None)  # a ``@dg.step``: the function it decorates
    if isinstance(found, StepFunction) and inner is not None:
        found = inner
    if not callable(found) or getattr(found, "__qualname__", None) != qualname:
        raise ValidationError(
            f"{call.function!r} is not the step function the workflow yielded in this "
            f"process (found {found!r}): run the same code in both processes"
        )
    attempt = StepAttempt(
        call.execution_arn, call.operation_id, call.name, call.attempt, call.parent_id
    )
    token = STEP.set((call.execution_arn, attempt))
    try:
        return found(*call.args, **call.kwargs)
    except Exception as exc:
        # Recorded from the step's function down, as the engine records it: the traceback
        # does not cross to the interpreter's process, and a pool's frames are not the step's.
        tb = exc.__traceback__
        exc.__dict__[REMOTE_TRACE] = trace_lines(exc, tb.tb_next if tb is not None else None)
        raise
    finally:
        STEP.reset(token)
