"""The operation state machine of the embedded engine, and the history events it writes.

Pure: no clock, no store, no lock. The engine hands in the current operations (a lookup), the
updates of a checkpoint and the time; this module validates the whole batch, then returns the
new operations, the ``GetDurableExecutionHistory`` events and the effects (timers to arm or
cancel, callback ids issued, invokes to start, the execution's end) for the engine to commit.
Transitions that come from outside a checkpoint (a timer fires, a callback or an invoke
completes) are here too, so every status change and every event is written in one module.

Checkpoint rules (a batch is all or nothing: one refused update refuses the batch, and then
nothing changes)

1.  Ids and ParentIds are 1-64 characters of ``[A-Za-z0-9_-]``; a Name is 1-256 printable
    ASCII characters; a SubType is 1-32 characters of ``[A-Za-z0-9_-]``.
2.  The action must be one the type has (``ACTIONS``).
3.  There is at most one EXECUTION update, and it is the last of the batch.
4.  An id appears once per batch, except that a STEP or CONTEXT START may be followed by one
    non-START update of the same id.
5.  A ParentId names a CONTEXT that exists, or that this batch STARTed earlier.
6.  An update of an existing operation has its Type, and its SubType, Name and ParentId when
    it gives them.
7.  The operation's current status (none when it does not exist yet) must allow the action:
    ``TRANSITIONS`` has a row for it.
8.  A payload is a str of valid Unicode text, at most 1 MiB of UTF-8 (6 MiB on the EXECUTION
    operation, as Lambda's API says); an error object holds str fields of valid Unicode (its
    trace a list of them), at most 32 KiB of JSON; FAIL carries no payload, SUCCEED no error,
    RETRY not both. (No store and no JSON reader carries a lone surrogate.)
9.  Options: WAIT START needs ``WaitSeconds`` in 1..31,622,400; RETRY needs
    ``NextAttemptDelaySeconds`` in 1..31,622,400; CALLBACK timeouts are in 0..99,999,999
    (0: none); each a whole number of seconds (an int). CHAINED_INVOKE START needs a
    well-formed ``FunctionName`` and, when it gives one, a well-formed ``TenantId`` (1 to
    256 of ``[a-zA-Z0-9._:/=+-@ ]``).

What the transitions do

- A step's ``Attempt`` counts the attempts finished, as the Lambda service does: START leaves
  it unchanged (0 while the first attempt runs), and SUCCEED, FAIL or RETRY finish one.
  ``RetryDetails.CurrentAttempt`` is the number of the attempt that finished.
- RETRY keeps the update's Payload as the step's Result (how wait-for-condition carries its
  state), schedules the next attempt, and writes StepFailed when it carries an Error,
  StepSucceeded otherwise. The retry timer turns PENDING into READY and writes no event.
- A CHAINED_INVOKE START whose target is not registered comes back FAILED at once, with
  ErrorType ``FunctionNotRegisteredError``: the workflow sees the failure in the checkpoint
  response and nothing recorded is lost.
- An EXECUTION update writes no operation: it ends the execution (SUCCEED with its Payload,
  FAIL with its Error), which the engine does right after the batch.
- One history event per accepted update; timers, callbacks and invoke targets write theirs
  when they complete. A step's StepStarted and StepSucceeded come back pending
  (``_store.PendingEvent``), to be built when the history is read.
- The batch most checkpoints are, a new step's START and SUCCEED, takes a shortcut
  (``_new_step_done``) that checks the same rules for that shape only and gives what the
  update-by-update way gives; any other batch, or one that breaks a rule, goes that way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, Literal, NamedTuple, NoReturn

import msgspec

from .._errors import InvalidCheckpointError
from .._failure import bounded_error, error_size
from .._wire import (
    FUNCTION_NAME,
    MAX_ERROR_BYTES,
    MAX_NAME_CHARS,
    MAX_OPERATION_PAYLOAD_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_SUBTYPE_CHARS,
    MAX_WAIT_SECONDS,
    TERMINAL_STATUSES,
    CallbackDetails,
    ChainedInvokeDetails,
    ContextDetails,
    ErrorObject,
    Event,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StepDetails,
    WaitDetails,
    error_object_problem,
    tenant_id_problem,
    too_large,
    unicode_error,
    unicode_spot,
    wire_enc_hook,
)
from .._wire import name_ok as _name_ok
from .._wire import subtype_ok as _subtype_ok
from .._wire import word_ok as _word_ok
from ._store import PendingEvent, built
from ._text import format_time

__all__ = [
    "ACTIONS",
    "CALLBACK_HEARTBEAT",
    "CALLBACK_TIMEOUT",
    "RETRY_TIMER",
    "TRANSITIONS",
    "WAITING",
    "WAIT_TIMER",
    "Applied",
    "CallbackOpened",
    "InvokeStarted",
    "InvokeTarget",
    "apply_checkpoint",
    "callback_completed",
    "describe_waiting",
    "execution_ended_event",
    "execution_started_event",
    "invocation_completed_event",
    "invoke_completed",
    "is_waiting",
    "left_behind",
    "retry_ready",
    "wait_succeeded",
]

NEW: Final = None  #: the "no operation yet" status in the tables below

#: Actions each operation type has (rule 2).
ACTIONS: Final[dict[OperationType, frozenset[OperationAction]]] = {
    "STEP": frozenset({"START", "SUCCEED", "FAIL", "RETRY"}),
    "CONTEXT": frozenset({"START", "SUCCEED", "FAIL"}),
    "WAIT": frozenset({"START", "CANCEL"}),
    "CALLBACK": frozenset({"START"}),
    "CHAINED_INVOKE": frozenset({"START"}),
    "EXECUTION": frozenset({"SUCCEED", "FAIL"}),
}

_Row = tuple[OperationType, OperationStatus | None, OperationAction]
#: (type, current status or None, action) -> new status (rule 7). No row: refused.
TRANSITIONS: Final[dict[_Row, OperationStatus]] = {
    # type             from       action       to
    ("STEP",           NEW,       "START"):    "STARTED",
    ("STEP",           "READY",   "START"):    "STARTED",
    ("STEP",           NEW,       "SUCCEED"):  "SUCCEEDED",
    ("STEP",           "STARTED", "SUCCEED"):  "SUCCEEDED",
    ("STEP",           "READY",   "SUCCEED"):  "SUCCEEDED",
    ("STEP",           NEW,       "FAIL"):     "FAILED",
    ("STEP",           "STARTED", "FAIL"):     "FAILED",
    ("STEP",           "READY",   "FAIL"):     "FAILED",
    ("STEP",           NEW,       "RETRY"):    "PENDING",
    ("STEP",           "STARTED", "RETRY"):    "PENDING",
    ("STEP",           "READY",   "RETRY"):    "PENDING",
    ("CONTEXT",        NEW,       "START"):    "STARTED",
    ("CONTEXT",        NEW,       "SUCCEED"):  "SUCCEEDED",
    ("CONTEXT",        "STARTED", "SUCCEED"):  "SUCCEEDED",
    ("CONTEXT",        NEW,       "FAIL"):     "FAILED",
    ("CONTEXT",        "STARTED", "FAIL"):     "FAILED",
    ("WAIT",           NEW,       "START"):    "STARTED",
    ("WAIT",           "STARTED", "CANCEL"):   "CANCELLED",
    ("CALLBACK",       NEW,       "START"):    "STARTED",
    ("CHAINED_INVOKE", NEW,       "START"):    "STARTED",
}  # fmt: skip

#: Transitions that happen outside checkpoints, for the record (and the docs):
#: (type, from) -> (what makes it happen, possible new statuses).
_External = dict[tuple[OperationType, OperationStatus], tuple[str, frozenset[str]]]
EXTERNAL_TRANSITIONS: Final[_External] = {
    ("STEP", "PENDING"): ("the retry timer", frozenset({"READY"})),
    ("WAIT", "STARTED"): ("the wait timer", frozenset({"SUCCEEDED"})),
    ("CALLBACK", "STARTED"): (
        "a callback sent from outside, or its timeouts",
        frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT"}),
    ),
    ("CHAINED_INVOKE", "STARTED"): (
        "the invoked function ending",
        frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"}),
    ),
}

#: Statuses in which an operation waits on something outside the invocation.
_WAITING: Final[dict[OperationType, frozenset[OperationStatus]]] = {
    "STEP": frozenset({"PENDING", "READY"}),
    "WAIT": frozenset({"STARTED"}),
    "CALLBACK": frozenset({"STARTED"}),
    "CHAINED_INVOKE": frozenset({"STARTED"}),
}

#: The same as (type, status) pairs, for a single lookup.
WAITING: Final = frozenset(
    (type_, status) for type_, statuses in _WAITING.items() for status in statuses
)

#: History event written for (type, new status). RETRY is decided by hand (StepFailed with an
#: Error, StepSucceeded without); the EXECUTION events are written by ``execution_*_event``.
EVENTS: Final[dict[tuple[OperationType, OperationStatus], str]] = {
    ("STEP", "STARTED"): "StepStarted",
    ("STEP", "SUCCEEDED"): "StepSucceeded",
    ("STEP", "FAILED"): "StepFailed",
    ("CONTEXT", "STARTED"): "ContextStarted",
    ("CONTEXT", "SUCCEEDED"): "ContextSucceeded",
    ("CONTEXT", "FAILED"): "ContextFailed",
    ("WAIT", "STARTED"): "WaitStarted",
    ("WAIT", "SUCCEEDED"): "WaitSucceeded",
    ("WAIT", "CANCELLED"): "WaitCancelled",
    ("CALLBACK", "STARTED"): "CallbackStarted",
    ("CALLBACK", "SUCCEEDED"): "CallbackSucceeded",
    ("CALLBACK", "FAILED"): "CallbackFailed",
    ("CALLBACK", "TIMED_OUT"): "CallbackTimedOut",
    ("CHAINED_INVOKE", "STARTED"): "ChainedInvokeStarted",
    ("CHAINED_INVOKE", "SUCCEEDED"): "ChainedInvokeSucceeded",
    ("CHAINED_INVOKE", "FAILED"): "ChainedInvokeFailed",
    ("CHAINED_INVOKE", "TIMED_OUT"): "ChainedInvokeTimedOut",
    ("CHAINED_INVOKE", "STOPPED"): "ChainedInvokeStopped",
}

#: Timer kinds this module asks the engine to arm (task kinds of the store).
WAIT_TIMER: Final = "wait"
RETRY_TIMER: Final = "retry"
CALLBACK_TIMEOUT: Final = "callback-timeout"
CALLBACK_HEARTBEAT: Final = "callback-heartbeat"

MAX_CALLBACK_TIMEOUT_SECONDS: Final = 99_999_999


def _id_ok(value: str) -> bool:
    return _word_ok(value, 64)


_to_builtins: Final = msgspec.to_builtins
_replace: Final = msgspec.structs.replace


class InvokeTarget(NamedTuple):
    """How the engine resolved a chained invoke's FunctionName.

    ``error`` set: the target cannot run (the operation fails at once). Otherwise ``child_arn``
    is the ARN of the child execution for a durable target, None for a plain function.
    """

    child_arn: str | None = None
    error: ErrorObject | None = None


class CallbackOpened(NamedTuple):
    """A callback id issued by a CALLBACK START."""

    op_id: str
    callback_id: str
    timeout_seconds: int
    heartbeat_seconds: int


class InvokeStarted(NamedTuple):
    """A chained invoke to start once the batch is committed (``function_name`` resolved)."""

    op_id: str
    function_name: str
    payload: str | None
    child_arn: str | None


class Applied:
    """What an accepted checkpoint batch does.

    Attributes:
        operations: The new version of every operation the batch changed, by id, in the order
            they were first changed.
        events: The history events, EventIds from ``first_event_id`` on, no gaps (reading it
            builds those of ``raw_events`` still pending).
        raw_events: The same events as written: a step's StepStarted and StepSucceeded are
            ``PendingEvent``s, built when the history is read.
        timers: ``(kind, op_id, due_ms)`` to arm.
        cancelled: ``(kind, op_id)`` timers to drop.
        callbacks: Callback ids issued.
        invokes: Chained invokes to start.
        failed_invokes: Chained invokes that failed as they started (target not found).
        outcome: ``(status, payload, error)`` when an EXECUTION update ends the execution.
    """

    __slots__ = (
        "callbacks",
        "cancelled",
        "failed_invokes",
        "invokes",
        "operations",
        "outcome",
        "raw_events",
        "timers",
    )

    def __init__(self) -> None:
        self.operations: dict[str, Operation] = {}
        self.raw_events: list[Event | PendingEvent] = []
        # Rare effects start as empty tuples (no allocation) and grow with ``+=``.
        self.timers: tuple[tuple[str, str, int], ...] = ()
        self.cancelled: tuple[tuple[str, str], ...] = ()
        self.callbacks: tuple[CallbackOpened, ...] = ()
        self.invokes: tuple[InvokeStarted, ...] = ()
        self.failed_invokes: tuple[str, ...] = ()
        self.outcome: tuple[Literal["SUCCEEDED", "FAILED"], str | None, ErrorObject | None] | None
        self.outcome = None

    @property
    def events(self) -> list[Event]:
        """The history events of the batch, every one built."""
        return built(self.raw_events)


# --- checkpoints --------------------------------------------------------------------------------


def apply_checkpoint(
    lookup: Callable[[str], Operation | None],
    updates: Sequence[OperationUpdate],
    *,
    now_ms: int,
    first_event_id: int,
    new_callback_id: Callable[[], str],
    resolve_invoke: Callable[[str, str], InvokeTarget],
) -> Applied:
    """Validate and apply one checkpoint batch.

    Args:
        lookup: The current operation by id (None: it does not exist).
        updates: The batch, in order.
        now_ms: The time of the checkpoint (epoch ms).
        first_event_id: The EventId of the first event this batch writes.
        new_callback_id: Issues a fresh, unguessable callback id.
        resolve_invoke: ``(op_id, function_name) -> InvokeTarget`` for CHAINED_INVOKE START.

    Returns:
        The changes, for the engine to commit.

    Raises:
        InvalidCheckpointError: an update breaks a rule; it names the update and the rule, and
            nothing was changed.
    """
    if len(updates) == 2:
        fast = _new_step_done(lookup, updates[0], updates[1], now_ms, first_event_id)
        if fast is not None:
            return fast
    return _apply_batch(
        lookup,
        updates,
        now_ms=now_ms,
        first_event_id=first_event_id,
        new_callback_id=new_callback_id,
        resolve_invoke=resolve_invoke,
    )


# The batch most checkpoints are: a new step's START and its SUCCEED (a step run at least once,
# checkpointed as it ends). ``_new_step_done`` checks the same rules as ``_apply_batch`` for
# that shape only, and returns what ``_apply_batch`` would; anything else, including anything
# ``_apply_batch`` would refuse, gets None and goes the general way, which then refuses it
# with its message. The rows it relies on:
assert TRANSITIONS[("STEP", NEW, "START")] == "STARTED"
assert TRANSITIONS[("STEP", "STARTED", "SUCCEED")] == "SUCCEEDED"


def _new_step_done(
    lookup: Callable[[str], Operation | None],
    start: OperationUpdate,
    done: OperationUpdate,
    now_ms: int,
    first_event_id: int,
) -> Applied | None:
    """``[STEP START, STEP SUCCEED]`` of one new operation, or None for any other batch."""
    uid = start.id
    if (
        start.type != "STEP"
        or start.action != "START"
        or done.id != uid
        or done.type != "STEP"
        or done.action != "SUCCEED"
        or start.payload is not None  # rule 8 and the START's own checks: the general way
        or start.error is not None
        or done.error is not None
    ):
        return None
    name, sub_type, parent_id = start.name, start.sub_type, start.parent_id
    if (  # rule 6: the SUCCEED names the operation its START created
        (done.name is not None and done.name != name)
        or (done.sub_type is not None and done.sub_type != sub_type)
        or (done.parent_id is not None and done.parent_id != parent_id)
    ):
        return None
    payload = done.payload
    if (  # rule 8 (short ASCII text, the usual payload, needs no call)
        payload is not None
        and (
            type(payload) is not str
            or len(payload) * 4 > MAX_OPERATION_PAYLOAD_BYTES
            or not payload.isascii()
        )
        and (
            _payload_problem(payload) is not None or too_large(payload, MAX_OPERATION_PAYLOAD_BYTES)
        )
    ):
        return None
    if lookup(uid) is not None or _new_problem(start) is not None:  # rules 7 and 1
        return None
    if parent_id is not None:  # rule 5
        parent = lookup(parent_id)
        if parent is None or parent.type != "CONTEXT":
            return None
    # The START's STARTED version would be replaced at once: only the SUCCEEDED one is built,
    # and StepStarted reads the same id, name, subtype and parent from it.
    op = Operation(
        id=uid,
        type="STEP",
        status="SUCCEEDED",
        parent_id=parent_id,
        name=name,
        sub_type=sub_type,
        start_timestamp=now_ms,
        end_timestamp=now_ms,
        step_details=StepDetails(attempt=1, result=payload),
    )
    out = Applied()
    out.operations[uid] = op
    out.raw_events += [
        (_step_started, first_event_id, now_ms, op),
        (_step_succeeded, first_event_id + 1, now_ms, op, payload, 1),
    ]
    return out


def _apply_batch(
    lookup: Callable[[str], Operation | None],
    updates: Sequence[OperationUpdate],
    *,
    now_ms: int,
    first_event_id: int,
    new_callback_id: Callable[[], str],
    resolve_invoke: Callable[[str, str], InvokeTarget],
) -> Applied:
    """``apply_checkpoint`` for any batch: every rule, update by update."""
    out = Applied()
    changed = out.operations
    events = out.raw_events
    started: set[str] = set()
    last_action: dict[str, OperationAction] = {}
    last = len(updates) - 1
    for index, u in enumerate(updates):
        uid = u.id
        utype = u.type
        action = u.action
        # Rules 2-4 and 8: the update on its own, and its place in the batch.
        if action not in ACTIONS[utype]:
            allowed = ", ".join(sorted(ACTIONS[utype]))
            _refuse(index, u, f"{utype} operations take {allowed}, not {action}")
        previous = last_action.get(uid)
        if previous is not None and (
            previous != "START" or action == "START" or utype not in ("STEP", "CONTEXT")
        ):
            _refuse(
                index,
                u,
                "the batch already updates this operation; only a STEP or CONTEXT START may be "
                "followed by one more update of the same id in one batch",
            )
        last_action[uid] = action
        payload = u.payload
        if payload is not None:
            # short ASCII text (the usual payload) needs no call
            problem = (
                None if type(payload) is str and payload.isascii() else _payload_problem(payload)
            )
            if problem is not None:
                _refuse(index, u, problem)
            limit = MAX_PAYLOAD_BYTES if utype == "EXECUTION" else MAX_OPERATION_PAYLOAD_BYTES
            if too_large(payload, limit):
                _refuse(
                    index,
                    u,
                    f"the Payload is over the limit of {limit} bytes"
                    + ("" if utype == "EXECUTION" else f" for a {utype} operation"),
                )
            if action == "FAIL":
                _refuse(index, u, "FAIL carries an Error, not a Payload")
        if u.error is not None:
            _check_error(index, u, u.error)
            if action == "SUCCEED":
                _refuse(index, u, "SUCCEED carries a Payload, not an Error")
        if utype == "EXECUTION":
            _check_new(index, u)
            if index != last:
                _refuse(index, u, "an EXECUTION update must be the last update of the batch")
            if action == "SUCCEED":
                out.outcome = ("SUCCEEDED", payload, None)
            else:
                out.outcome = ("FAILED", None, u.error)
            continue

        # Rules 1, 5-7: against the recorded state (and what this batch did before).
        current = changed.get(uid)
        if current is None:
            current = lookup(uid)
        if current is None:
            _check_new(index, u)
            parent_id = u.parent_id
            if parent_id is not None:
                parent = changed.get(parent_id) if parent_id in started else lookup(parent_id)
                if parent is None or parent.type != "CONTEXT":
                    _refuse(
                        index,
                        u,
                        f"the ParentId {parent_id!r} is not a CONTEXT operation that exists or "
                        "that this batch started earlier",
                    )
            status: OperationStatus | None = None
        else:
            if current.type != utype:
                _refuse(index, u, f"operation {uid!r} is a {current.type}, not a {utype}")
            if u.name is not None and u.name != current.name:
                _refuse(index, u, f"operation {uid!r} is named {current.name!r}, not {u.name!r}")
            if u.sub_type is not None and u.sub_type != current.sub_type:
                _refuse(
                    index,
                    u,
                    f"operation {uid!r} has SubType {current.sub_type!r}, not {u.sub_type!r}",
                )
            if u.parent_id is not None and u.parent_id != current.parent_id:
                _refuse(
                    index,
                    u,
                    f"operation {uid!r} has ParentId {current.parent_id!r}, not {u.parent_id!r}",
                )
            status = current.status
        new_status = TRANSITIONS.get((utype, status, action))
        if new_status is None:
            if status is None:
                _refuse(index, u, f"{action} needs an existing {utype}; this one does not exist")
            _refuse(index, u, f"a {utype} in status {status} cannot take {action}")

        event_id = first_event_id + len(events)
        if utype == "STEP":
            op, event = _step(index, u, current, new_status, now_ms, event_id, out)
        elif utype == "CONTEXT":
            op, event = _context(u, current, new_status, now_ms, event_id)
        elif utype == "WAIT":
            op, event = _wait(index, u, current, new_status, now_ms, event_id, out)
        elif utype == "CALLBACK":
            op, event = _callback(index, u, now_ms, event_id, out, new_callback_id)
        else:
            op, event = _invoke(index, u, now_ms, event_id, out, resolve_invoke)
        changed[uid] = op
        events.append(event)
        if utype == "CHAINED_INVOKE" and op.status == "FAILED":
            # The target could not be resolved: the operation failed as it started.
            failure = op.chained_invoke_details.error if op.chained_invoke_details else None
            body = {"Error": _error(failure)}
            events.append(_op_event("ChainedInvokeFailed", event_id + 1, now_ms, op, body))
        if action == "START":
            started.add(uid)
    return out


#: Names and SubTypes already found valid: workflows reuse a few of each for every operation.
_GOOD_NAMES: Final[set[str]] = set()
_GOOD_SUBTYPES: Final[set[str]] = set()
_MAX_REMEMBERED: Final = 4096


def _check_new(index: int, u: OperationUpdate) -> None:
    """Rule 1, for an operation that does not exist yet (those that do were checked then)."""
    problem = _new_problem(u)
    if problem is not None:
        _refuse(index, u, problem)


def _new_problem(u: OperationUpdate) -> str | None:
    """What breaks rule 1 in ``u`` (None: nothing)."""
    if not _id_ok(u.id):
        return "the Id must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'"
    if u.parent_id is not None and not _id_ok(u.parent_id):
        return "the ParentId must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'"
    name = u.name
    if name is not None and name not in _GOOD_NAMES:
        if not _name_ok(name):
            return f"the Name must be 1-{MAX_NAME_CHARS} printable ASCII characters"
        _remember(_GOOD_NAMES, name)
    sub_type = u.sub_type
    if sub_type is not None and sub_type not in _GOOD_SUBTYPES:
        if not _subtype_ok(sub_type):
            return (
                f"the SubType must be 1-{MAX_SUBTYPE_CHARS} characters of A-Z, a-z, 0-9, '_' "
                "and '-'"
            )
        _remember(_GOOD_SUBTYPES, sub_type)
    return None


def _remember(good: set[str], value: str) -> None:
    if len(good) >= _MAX_REMEMBERED:
        good.clear()  # many distinct names: forget them rather than grow without bound
    good.add(value)


def _refuse(index: int, u: OperationUpdate, reason: str) -> NoReturn:
    what = f"{u.type} {u.action} of operation {u.id!r}"
    if u.name:
        what += f" ({u.name!r})"
    raise InvalidCheckpointError(
        f"checkpoint refused, nothing was recorded: update #{index} ({what}): {reason}"
    )


def _payload_problem(payload: object) -> str | None:
    """Why a Payload cannot be recorded (rule 8), or None: it is not a str, or not valid
    Unicode text. What durable_gen's codec writes always is; a host's handler or a custom
    serdes may hand in anything."""
    if type(payload) is not str:
        return f"the Payload must be a str (JSON text), got {type(payload).__name__}"
    exc = unicode_error(payload)
    if exc is None:
        return None
    return f"the Payload is not valid Unicode text ({unicode_spot(exc)})"


def _check_error(index: int, u: OperationUpdate, error: ErrorObject) -> None:
    if not isinstance(error, ErrorObject):
        _refuse(index, u, f"the Error must be an ErrorObject, got {type(error).__name__}")
    problem = error_object_problem(error)
    if problem is not None:
        _refuse(index, u, f"the Error {problem}")
    if bounded_error(error) is not error:  # over the limit as the service counts it
        _refuse(
            index,
            u,
            f"the Error object is {error_size(error)} bytes of JSON (non-ASCII characters "
            f"escaped, as the service counts them), over the limit of {MAX_ERROR_BYTES}",
        )


def _step(
    index: int,
    u: OperationUpdate,
    current: Operation | None,
    new_status: OperationStatus,
    now: int,
    event_id: int,
    out: Applied,
) -> tuple[Operation, Event | PendingEvent]:
    details = current.step_details if current is not None else None
    attempt = (details.attempt or 0) if details is not None else 0
    action = u.action
    if action != "START":
        attempt += 1  # this update finishes an attempt
    if action == "START":
        if details is None:
            step_details = StepDetails(attempt=0)
        else:
            step_details = StepDetails(attempt=attempt, result=details.result, error=details.error)
        op = _step_version(u, current, new_status, now, None, step_details)
        return op, (_step_started, event_id, now, op)
    if action == "RETRY":
        options = u.step_options
        delay = options.next_attempt_delay_seconds if options is not None else None
        if type(delay) is not int or not 1 <= delay <= MAX_WAIT_SECONDS:
            _refuse(
                index,
                u,
                "RETRY needs StepOptions.NextAttemptDelaySeconds in "
                f"1..{MAX_WAIT_SECONDS}, got {delay!r} (whole seconds, an int)",
            )
        if u.payload is not None and u.error is not None:
            _refuse(index, u, "RETRY carries an Error or a Payload, not both")
        due = now + delay * 1000
        step_details = StepDetails(
            attempt=attempt, next_attempt_timestamp=due, result=u.payload, error=u.error
        )
        op = _step_version(u, current, new_status, now, None, step_details)
        out.timers += ((RETRY_TIMER, u.id, due),)
        retry = {"CurrentAttempt": attempt, "NextAttemptDelaySeconds": delay}
        if u.error is not None:
            return op, _op_event("StepFailed", event_id, now, op, {
                "Error": _error(u.error), "RetryDetails": retry,
            })  # fmt: skip
        return op, _op_event("StepSucceeded", event_id, now, op, {
            "Result": _result(u.payload), "RetryDetails": retry,
        })  # fmt: skip
    if action == "SUCCEED":
        payload = u.payload
        op = _step_version(
            u, current, new_status, now, now, StepDetails(attempt=attempt, result=payload)
        )
        return op, (_step_succeeded, event_id, now, op, payload, attempt)
    step_details = StepDetails(attempt=attempt, error=u.error)
    op = _step_version(u, current, new_status, now, now, step_details)
    return op, _op_event("StepFailed", event_id, now, op, {
        "Error": _error(u.error), "RetryDetails": {"CurrentAttempt": attempt},
    })  # fmt: skip


def _context(
    u: OperationUpdate,
    current: Operation | None,
    new_status: OperationStatus,
    now: int,
    event_id: int,
) -> tuple[Operation, Event]:
    if u.action == "START":
        op = _context_version(u, current, new_status, now, None, None)
        return op, _op_event("ContextStarted", event_id, now, op, {})
    options = u.context_options
    replay = options.replay_children if options is not None else None
    if u.action == "SUCCEED":
        details = ContextDetails(replay_children=replay, result=u.payload)
        op = _context_version(u, current, new_status, now, now, details)
        return op, _op_event("ContextSucceeded", event_id, now, op, {"Result": _result(u.payload)})
    details = ContextDetails(replay_children=replay, error=u.error)
    op = _context_version(u, current, new_status, now, now, details)
    return op, _op_event("ContextFailed", event_id, now, op, {"Error": _error(u.error)})


def _wait(
    index: int,
    u: OperationUpdate,
    current: Operation | None,
    new_status: OperationStatus,
    now: int,
    event_id: int,
    out: Applied,
) -> tuple[Operation, Event]:
    if u.action == "START":
        options = u.wait_options
        seconds = options.wait_seconds if options is not None else None
        if type(seconds) is not int or not 1 <= seconds <= MAX_WAIT_SECONDS:
            _refuse(
                index,
                u,
                f"WAIT START needs WaitOptions.WaitSeconds in 1..{MAX_WAIT_SECONDS}, got "
                f"{seconds!r} (whole seconds, an int)",
            )
        end = now + seconds * 1000
        op = _new_version(
            u, None, new_status, now, None, wait_details=WaitDetails(scheduled_end_timestamp=end)
        )
        out.timers += ((WAIT_TIMER, u.id, end),)
        return op, _op_event("WaitStarted", event_id, now, op, {
            "Duration": seconds, "ScheduledEndTimestamp": end,
        })  # fmt: skip
    assert current is not None  # CANCEL has no row without an operation
    op = msgspec.structs.replace(current, status=new_status, end_timestamp=now)
    out.cancelled += ((WAIT_TIMER, u.id),)
    details: dict[str, Any] = {} if u.error is None else {"Error": _error(u.error)}
    return op, _op_event("WaitCancelled", event_id, now, op, details)


def _callback(
    index: int,
    u: OperationUpdate,
    now: int,
    event_id: int,
    out: Applied,
    new_callback_id: Callable[[], str],
) -> tuple[Operation, Event]:
    options = u.callback_options
    timeout = (options.timeout_seconds or 0) if options is not None else 0
    heartbeat = (options.heartbeat_timeout_seconds or 0) if options is not None else 0
    for label, value in (("TimeoutSeconds", timeout), ("HeartbeatTimeoutSeconds", heartbeat)):
        if type(value) is not int or not 0 <= value <= MAX_CALLBACK_TIMEOUT_SECONDS:
            _refuse(
                index,
                u,
                f"CallbackOptions.{label} must be in "
                f"0..{MAX_CALLBACK_TIMEOUT_SECONDS}, got {value!r} (whole seconds, an int)",
            )
    callback_id = new_callback_id()
    op = _new_version(
        u, None, "STARTED", now, None, callback_details=CallbackDetails(callback_id=callback_id)
    )
    out.callbacks += (CallbackOpened(u.id, callback_id, timeout, heartbeat),)
    if timeout:
        out.timers += ((CALLBACK_TIMEOUT, u.id, now + timeout * 1000),)
    if heartbeat:
        out.timers += ((CALLBACK_HEARTBEAT, u.id, now + heartbeat * 1000),)
    details: dict[str, Any] = {"CallbackId": callback_id}
    if timeout:
        details["Timeout"] = timeout
    if heartbeat:
        details["HeartbeatTimeout"] = heartbeat
    return op, _op_event("CallbackStarted", event_id, now, op, details)


def _invoke(
    index: int,
    u: OperationUpdate,
    now: int,
    event_id: int,
    out: Applied,
    resolve_invoke: Callable[[str, str], InvokeTarget],
) -> tuple[Operation, Event]:
    options = u.chained_invoke_options
    if options is None:
        _refuse(index, u, "CHAINED_INVOKE START needs ChainedInvokeOptions.FunctionName")
    function_name = options.function_name
    match = FUNCTION_NAME.fullmatch(function_name) if len(function_name) <= 256 else None
    if match is None:
        _refuse(
            index,
            u,
            f"FunctionName {function_name!r} is not a function name, partial ARN or function ARN",
        )
    if options.tenant_id is not None:
        problem = tenant_id_problem(options.tenant_id)
        if problem is not None:
            _refuse(index, u, f"TenantId: {problem}")
    name = match.group("name")
    target = resolve_invoke(u.id, name)
    details: dict[str, Any] = {
        "FunctionName": function_name,
        "Input": _result(u.payload),
        "ExecutedVersion": "$LATEST",
    }
    if options.tenant_id is not None:
        details["TenantId"] = options.tenant_id
    if target.error is not None:
        out.failed_invokes += (u.id,)
        op = _new_version(
            u,
            None,
            "FAILED",
            now,
            now,
            chained_invoke_details=ChainedInvokeDetails(error=target.error),
        )
        return op, _op_event("ChainedInvokeStarted", event_id, now, op, details)
    if target.child_arn is not None:
        details["DurableExecutionArn"] = target.child_arn
    op = _new_version(u, None, "STARTED", now, None)
    out.invokes += (InvokeStarted(u.id, name, u.payload, target.child_arn),)
    return op, _op_event("ChainedInvokeStarted", event_id, now, op, details)


# The two builders below spell their fields out: they run for most updates, and keyword
# unpacking (``**``) into msgspec Structs costs a few hundred nanoseconds a call.


def _step_version(
    u: OperationUpdate,
    current: Operation | None,
    status: OperationStatus,
    now: int,
    end: int | None,
    details: StepDetails,
) -> Operation:
    if current is None:
        return Operation(
            id=u.id,
            type="STEP",
            status=status,
            parent_id=u.parent_id,
            name=u.name,
            sub_type=u.sub_type,
            start_timestamp=now,
            end_timestamp=end,
            step_details=details,
        )
    return _replace(current, status=status, end_timestamp=end, step_details=details)


def _context_version(
    u: OperationUpdate,
    current: Operation | None,
    status: OperationStatus,
    now: int,
    end: int | None,
    details: ContextDetails | None,
) -> Operation:
    if current is None:
        return Operation(
            id=u.id,
            type="CONTEXT",
            status=status,
            parent_id=u.parent_id,
            name=u.name,
            sub_type=u.sub_type,
            start_timestamp=now,
            end_timestamp=end,
            context_details=details,
        )
    return _replace(current, status=status, end_timestamp=end, context_details=details)


def _new_version(
    u: OperationUpdate,
    current: Operation | None,
    status: OperationStatus,
    now: int,
    end: int | None,
    **details: Any,
) -> Operation:
    if current is None:
        return Operation(
            id=u.id,
            type=u.type,
            status=status,
            parent_id=u.parent_id,
            name=u.name,
            sub_type=u.sub_type,
            start_timestamp=now,
            end_timestamp=end,
            **details,
        )
    return msgspec.structs.replace(current, status=status, end_timestamp=end, **details)


# --- transitions from outside a checkpoint -----------------------------------------------------


def wait_succeeded(op: Operation, now_ms: int, event_id: int) -> tuple[Operation, Event]:
    """The wait timer fired: STARTED -> SUCCEEDED, with a WaitSucceeded event."""
    new = msgspec.structs.replace(op, status="SUCCEEDED", end_timestamp=now_ms)
    end = op.wait_details.scheduled_end_timestamp if op.wait_details else None
    start = op.start_timestamp
    duration = round((end - start) / 1000) if end is not None and start is not None else None
    details: dict[str, Any] = {} if duration is None else {"Duration": duration}
    return new, _op_event("WaitSucceeded", event_id, now_ms, new, details)


def retry_ready(op: Operation) -> Operation:
    """The retry timer fired: PENDING -> READY (no event; the next StepStarted tells)."""
    details = op.step_details or StepDetails()
    return msgspec.structs.replace(
        op,
        status="READY",
        step_details=msgspec.structs.replace(details, next_attempt_timestamp=None),
    )


def seconds_text(seconds: int) -> str:
    """A whole number of seconds as an error message says it: "1 second", "30 seconds"."""
    return "1 second" if seconds == 1 else f"{seconds} seconds"


def callback_timeout_error(kind: str, seconds: int) -> ErrorObject:
    """The error of a callback whose ``kind`` timer (timeout or heartbeat) of ``seconds`` fired:
    one wording for the engine and for ``durable_gen.runtime.fire_timer``."""
    if kind == CALLBACK_TIMEOUT:
        return ErrorObject(
            error_type="Callback.Timeout",
            error_message=f"the callback was not completed within {seconds_text(seconds)}",
        )
    return ErrorObject(
        error_type="Callback.Heartbeat",
        error_message=(
            f"no heartbeat arrived within the heartbeat timeout of {seconds_text(seconds)}"
        ),
    )


def callback_completed(
    op: Operation,
    status: OperationStatus,
    now_ms: int,
    event_id: int,
    *,
    result: str | None = None,
    error: ErrorObject | None = None,
) -> tuple[Operation, Event]:
    """A callback ended: SUCCEEDED with ``result``, FAILED or TIMED_OUT with ``error``."""
    old = op.callback_details or CallbackDetails()
    details = CallbackDetails(callback_id=old.callback_id, result=result, error=error)
    new = msgspec.structs.replace(op, status=status, end_timestamp=now_ms, callback_details=details)
    body = {"Result": _result(result)} if status == "SUCCEEDED" else {"Error": _error(error)}
    return new, _op_event(EVENTS[("CALLBACK", status)], event_id, now_ms, new, body)


def invoke_completed(
    op: Operation,
    status: OperationStatus,
    now_ms: int,
    event_id: int,
    *,
    result: str | None = None,
    error: ErrorObject | None = None,
) -> tuple[Operation, Event]:
    """The invoked function ended: SUCCEEDED, FAILED, TIMED_OUT or STOPPED."""
    details = ChainedInvokeDetails(result=result, error=error)
    new = msgspec.structs.replace(
        op, status=status, end_timestamp=now_ms, chained_invoke_details=details
    )
    body = {"Result": _result(result)} if status == "SUCCEEDED" else {"Error": _error(error)}
    return new, _op_event(EVENTS[("CHAINED_INVOKE", status)], event_id, now_ms, new, body)


def is_waiting(op: Operation) -> bool:
    """True when ``op`` waits on something outside the invocation (a timer, callback, invoke)."""
    return (op.type, op.status) in WAITING


# --- execution-level events ---------------------------------------------------------------------


def execution_started_event(
    execution_op: Operation, input_payload: str | None, timeout_seconds: int | None, now_ms: int
) -> Event:
    """EventId 1 of every history."""
    details: dict[str, Any] = {"Input": _result(input_payload)}
    if timeout_seconds is not None:
        details["ExecutionTimeout"] = timeout_seconds
    return _op_event("ExecutionStarted", 1, now_ms, execution_op, details)


def execution_ended_event(
    execution_op: Operation,
    status: str,
    now_ms: int,
    event_id: int,
    *,
    result: str | None = None,
    error: ErrorObject | None = None,
) -> Event:
    """ExecutionSucceeded (with the Result), or ExecutionFailed/TimedOut/Stopped (the Error)."""
    kind = {
        "SUCCEEDED": "ExecutionSucceeded",
        "FAILED": "ExecutionFailed",
        "TIMED_OUT": "ExecutionTimedOut",
        "STOPPED": "ExecutionStopped",
    }[status]
    body = {"Result": _result(result)} if status == "SUCCEEDED" else {"Error": _error(error)}
    return _op_event(kind, event_id, now_ms, execution_op, body)


def invocation_completed_event(
    event_id: int,
    start_ms: int,
    end_ms: int,
    request_id: str,
    error: ErrorObject | None = None,
) -> Event:
    """Written after every invocation; ``error`` when the invocation crashed."""
    details: dict[str, Any] = {
        "StartTimestamp": start_ms,
        "EndTimestamp": end_ms,
        "RequestId": request_id,
    }
    if error is not None:
        details["Error"] = _error(error)
    return Event(
        event_type="InvocationCompleted",
        event_id=event_id,
        event_timestamp=end_ms,
        invocation_completed_details=details,
    )


# --- describing what an execution waits on ------------------------------------------------------


def describe_waiting(
    op: Operation,
    invoke_target: str | None = None,
    parent: Operation | None = None,
    *,
    times_out_at: int | None = None,
    heartbeat_due: int | None = None,
) -> str:
    """One line saying what ``op`` (an operation in a waiting status) waits for.

    An unnamed operation is labelled by its named parent context if there is one
    (``callback in 'approval'``), else by its id. A callback's line says when it times out
    (``times_out_at``, epoch ms of its timeout timer) and by when its next heartbeat is due
    (``heartbeat_due``), when it has those timers.
    """
    if op.name:
        label = repr(op.name)
    elif parent is not None and parent.name:
        label = f"in {parent.name!r}"
    else:
        label = op.id
    if op.type == "WAIT":
        end = op.wait_details.scheduled_end_timestamp if op.wait_details else None
        return f"wait {label} until {_iso(end)}"
    if op.type == "STEP":
        # a WaitForCondition is a STEP whose attempts are checks, with a wait between them
        kind, next_one = (
            ("condition", "check") if op.sub_type == "WaitForCondition" else ("step", "attempt")
        )
        if op.status == "READY":
            return f"{kind} {label}, ready for its next {next_one}"
        at = op.step_details.next_attempt_timestamp if op.step_details else None
        return f"{kind} {label}, next {next_one} at {_iso(at)}"
    if op.type == "CALLBACK":
        cid = op.callback_details.callback_id if op.callback_details else None
        line = f"callback {label} (CallbackId {cid})"
        if times_out_at is not None:
            line += f", times out at {_iso(times_out_at)}"
        if heartbeat_due is not None:
            line += f", next heartbeat due by {_iso(heartbeat_due)}"
        return line
    target = f" of {invoke_target!r}" if invoke_target else ""
    return f"invoke {label}{target}"


def left_behind(op: Operation, lookup: Callable[[str], Operation | None]) -> bool:
    """Whether ``op`` runs in a context that has ended (an item of a ``Map``/``Parallel``
    decided without it, by ``min_successful`` or a failure): its timer may still fire and its
    callback may still be answered, but nothing of the execution waits on it any more."""
    parent_id = op.parent_id
    while parent_id is not None:
        parent = lookup(parent_id)
        if parent is None:
            return False
        if parent.status in TERMINAL_STATUSES:
            return True
        parent_id = parent.parent_id
    return False


def _iso(epoch_ms: int | None) -> str:
    if epoch_ms is None:
        return "an unknown time"
    # as `durable-gen show`, `history` and the timeline write times: UTC, milliseconds
    return format_time(epoch_ms)


# --- event shapes -------------------------------------------------------------------------------

_EventBuilder = Callable[[int, int, Operation, dict[str, Any]], Event]


def _event_builder(kind: str) -> _EventBuilder:
    """A function building ``kind`` events from (event id, time, operation, details).

    ``Event`` is keyword-only and takes each kind's details under its own field name; passing
    that name with ``**`` makes construction about three times slower, which shows on the
    checkpoint path, so each kind gets a small function that spells its field out.
    """
    field = "".join("_" + c.lower() if c.isupper() else c for c in kind).lstrip("_") + "_details"
    assert field in Event.__struct_fields__, field
    source = (
        "def build(event_id, now, op, details):\n"
        f"    return Event(event_type={kind!r}, event_id=event_id, event_timestamp=now,\n"
        "                 id=op.id, name=op.name, sub_type=op.sub_type, parent_id=op.parent_id,\n"
        f"                 {field}=details)\n"
    )
    namespace: dict[str, Any] = {"Event": Event}
    exec(source, namespace)
    builder: _EventBuilder = namespace["build"]
    return builder


_BUILDERS: Final[dict[str, _EventBuilder]] = {
    kind: _event_builder(kind)
    for kind in (
        *EVENTS.values(),
        "ExecutionStarted",
        "ExecutionSucceeded",
        "ExecutionFailed",
        "ExecutionTimedOut",
        "ExecutionStopped",
    )
}


_STEP_STARTED: Final = _BUILDERS["StepStarted"]
_STEP_SUCCEEDED: Final = _BUILDERS["StepSucceeded"]


# The two events every step writes are left pending (``PendingEvent``): building an ``Event``
# and its details costs more than the rest of the step's checkpoint, and most histories are
# never read. These build them when they are.
def _step_started(event_id: int, now: int, op: Operation) -> Event:
    return _STEP_STARTED(event_id, now, op, {})


def _step_succeeded(
    event_id: int, now: int, op: Operation, payload: str | None, attempt: int
) -> Event:
    result = {"Truncated": False} if payload is None else {"Payload": payload, "Truncated": False}
    return _STEP_SUCCEEDED(event_id, now, op, {
        "Result": result, "RetryDetails": {"CurrentAttempt": attempt},
    })  # fmt: skip


def _op_event(kind: str, event_id: int, now: int, op: Operation, details: dict[str, Any]) -> Event:
    return _BUILDERS[kind](event_id, now, op, details)


def _result(payload: str | None) -> dict[str, Any]:
    if payload is None:
        return {"Truncated": False}
    return {"Payload": payload, "Truncated": False}


def _error(error: ErrorObject | None) -> dict[str, Any]:
    if error is None:
        return {"Truncated": False}
    return {"Payload": _to_builtins(error, enc_hook=wire_enc_hook), "Truncated": False}
