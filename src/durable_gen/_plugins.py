"""Instrumentation hooks: plugins observe executions, invocations, operations and step attempts.

A plugin subclasses ``Plugin`` and overrides the hooks it needs. Rules:

1. Hooks run in the driver (never in the pure interpreter), and can never change an outcome: an
   exception raised by a hook is logged and dropped, and a hook sees only frozen values.
2. ``on_operation_change`` reports every status an operation takes, with a snapshot of it, as
   seen through the service: the operations an invocation receives at its start and every
   checkpoint reply. A change the service made between invocations (a wait fired, a callback
   answered, an invoke finished, a retry timer fired) is reported at the start of the next
   invocation: the operations the invocation's event lists as changed (``UpdatedOperationIds``,
   which Lambda sends), from the status this process last saw of each; when the event does not
   say, the operations whose status differs from what this process last saw of the execution,
   and on a process that never saw it (a cold start) the service-completed operations that
   ended after the last recorded update.
3. Order within one invocation: ``on_invocation_start``, ``on_execution_start`` (first
   invocation only), ``on_operation_change`` for changes made between invocations, then as the
   workflow runs ``on_operation_start`` / ``on_attempt_start`` / ``on_attempt_end`` /
   ``on_operation_change`` / ``on_operation_end``, and last ``on_execution_end`` (when this
   invocation ended the execution) and ``on_invocation_end``.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

import msgspec

from ._actions import VirtualContextEvent
from ._errors import ValidationError, shown
from ._wire import InvocationOutput, Operation, OperationUpdate

__all__ = [
    "AttemptInfo",
    "ExecutionInfo",
    "InvocationInfo",
    "OperationInfo",
    "OperationSnapshot",
    "Plugin",
]

_log = logging.getLogger("durable_gen.plugins")

#: Operation types whose outcome the service decides (the workflow only starts them).
SERVICE_COMPLETED: Final = frozenset({"WAIT", "CALLBACK", "CHAINED_INVOKE"})
TERMINAL: Final = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED"})
#: Executions whose operations this process remembers (oldest forgotten first).
_REMEMBERED_EXECUTIONS: Final = 1024
#: Per execution ARN, the status last reported of each operation (see ``Hooks``).
_SEEN: OrderedDict[str, dict[str, str]] = OrderedDict()
_SEEN_LOCK: Final = threading.Lock()


class OperationSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """An operation as the service recorded it, right after one of its changes.

    Attributes:
        execution_arn: The execution it belongs to.
        operation_id: Its id.
        type: ``STEP``, ``WAIT``, ``CALLBACK``, ``CHAINED_INVOKE`` or ``CONTEXT``.
        sub_type: ``Step``, ``Wait``, ``Map``, ``MapIteration``, ``WaitForCallback``, ...
        name: Its name, if it has one.
        parent_id: The id of the context it runs in (None at the top level).
        status: Its status now: ``STARTED``, ``PENDING``, ``READY``, ``SUCCEEDED``, ``FAILED``,
            ``CANCELLED``, ``TIMED_OUT`` or ``STOPPED``.
        previous_status: The status this process saw before (None: first seen).
        by_service: True when the service made the change between invocations.
        start_timestamp: When it started (epoch ms), if recorded.
        end_timestamp: When it ended (epoch ms), if it did.
        attempt: For a step, the attempts recorded so far.
        result: The recorded result (JSON text), if any.
        error_type: The recorded error's type, if it failed.
        error_message: The recorded error's message, if it failed.
    """

    execution_arn: str
    operation_id: str
    type: str
    sub_type: str | None
    name: str | None
    parent_id: str | None
    status: str
    previous_status: str | None
    by_service: bool
    start_timestamp: int | None
    end_timestamp: int | None
    attempt: int | None
    result: str | None
    error_type: str | None
    error_message: str | None


class InvocationInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One invocation: the execution, and whether it is the execution's first invocation.

    Attributes:
        execution_arn: The durable execution ARN.
        first: Whether no operation was recorded before this invocation.
        recorded_operations: How many operations were recorded before it.
        operations: A snapshot of each of them, as the invocation received them.
    """

    execution_arn: str
    first: bool
    recorded_operations: int
    operations: tuple[OperationSnapshot, ...] = ()


class ExecutionInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The execution an invocation runs.

    Attributes:
        execution_arn: The durable execution ARN.
        start_timestamp: When the service started the execution (epoch ms), if it says.
        input_payload: The execution input as the service holds it (JSON text), or None.
    """

    execution_arn: str
    start_timestamp: int | None
    input_payload: str | None


class OperationInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An operation started or ended by this invocation.

    Attributes:
        execution_arn: The execution it belongs to.
        operation_id: Its id.
        type: ``STEP``, ``WAIT``, ``CALLBACK``, ``CHAINED_INVOKE`` or ``CONTEXT``.
        sub_type: ``Step``, ``Wait``, ``RunInChildContext``, ``Map``, ...
        name: Its name, if it has one.
        parent_id: The id of the context it runs in (None at the top level).
        virtual: True for a virtual child context (``Child(..., virtual=True)``): nothing is
            recorded for it, so it gets no ``on_operation_change``; its operations name the
            enclosing context as their parent.
    """

    execution_arn: str
    operation_id: str
    type: str
    sub_type: str | None
    name: str | None
    parent_id: str | None
    virtual: bool = False


class AttemptInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt of a step, run by this invocation."""

    execution_arn: str
    operation_id: str
    name: str | None
    attempt: int
    type: str = "STEP"
    sub_type: str | None = None
    parent_id: str | None = None


class Plugin:
    """Base class of plugins: every hook does nothing unless overridden (see the module docs)."""

    def on_invocation_start(self, info: InvocationInfo) -> None:
        """Before the workflow code runs."""

    def on_invocation_end(self, info: InvocationInfo, status: str) -> None:
        """After the outcome is decided: ``SUCCEEDED``, ``FAILED`` or ``PENDING``."""

    def on_execution_start(self, info: ExecutionInfo) -> None:
        """In the execution's first invocation, before any operation hook."""

    def on_execution_end(
        self, info: ExecutionInfo, status: str, result: str | None, error: Any
    ) -> None:
        """This invocation ended the execution: ``SUCCEEDED`` (with the result's JSON text) or
        ``FAILED`` (with the ``ErrorObject``). Timeouts and stops decided by the service are not
        seen by any invocation."""

    def on_operation_start(self, op: OperationInfo) -> None:
        """An operation was started (its first update is being checkpointed)."""

    def on_operation_end(self, op: OperationInfo, status: str) -> None:
        """An operation ended: ``SUCCEEDED`` or ``FAILED``."""

    def on_operation_change(self, op: OperationSnapshot) -> None:
        """An operation took a new status (see ``OperationSnapshot``)."""

    def on_attempt_start(self, attempt: AttemptInfo) -> None:
        """A step attempt is about to run."""

    def on_attempt_end(
        self, attempt: AttemptInfo, outcome: str, error: BaseException | None
    ) -> None:
        """A step attempt returned (``SUCCEEDED``) or raised (``FAILED``, with the error)."""


#: How a plugin's ``clock`` may count from the epoch: the unit, what returns it, and the factor
#: from seconds.
_CLOCK_UNITS: Final = (
    ("seconds", "time.time", 1),
    ("milliseconds", "lambda: time.time_ns() // 1_000_000", 10**3),
    ("microseconds", "lambda: time.time_ns() // 1_000", 10**6),
    ("nanoseconds", "time.time_ns", 10**9),
)


def checked_clock(clock: object, unit: str, who: str, advice: str) -> Callable[[], int]:
    """``clock`` read as an int of ``unit`` from the epoch, or a ``ValidationError`` when it is
    not a callable, does not return a number, or returns the current time in another unit
    (``time.time`` where nanoseconds are due: the spans or the record would be dated 1970).

    A clock far from the current time in every unit (a virtual clock started at 0), or one
    that cannot be read yet, is taken as it is: only a reading that is now in another unit is
    refused. ``advice`` says how to build a right one for a virtual clock.
    """
    expected = next(row for row in _CLOCK_UNITS if row[0] == unit)
    if not callable(clock):
        raise ValidationError(
            f"{who}'s clock must be a callable returning epoch {unit} (e.g. {expected[1]}), "
            f"got {shown(clock)}"
        )
    try:
        value = clock()
    except Exception:  # it reads what is not there yet (an engine built later): not checked
        return lambda: int(clock())
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValidationError(
            f"{who}'s clock must return epoch {unit} as a number, it returned {value!r}"
        )
    now = time.time()
    for name, example, factor in _CLOCK_UNITS:
        # within a factor of 2 of now in that unit: the units are 1000 times apart
        if name != unit and value > 0 and abs(math.log10(value / (now * factor))) < 0.3:
            raise ValidationError(
                f"{who}'s clock returns epoch {name} ({value!r}, as {example} does), but it "
                f"must return epoch {unit}, or every time it writes is wrong: write "
                f"clock={expected[1]}, or {advice}"
            )
    return lambda: int(clock())


class PluginClock:
    """A plugin's clock: the ``clock=`` it was given, or its default, except while a test
    runner lends it the runner's virtual clock for the invocations the runner drives.

    A lent clock is given back when those invocations end (``lent`` is a context manager), so
    a plugin reused after the runner, by ``dg.run`` or another runner, reads its own clock
    again instead of a virtual clock frozen where the runner left it. A clock given as
    ``clock=`` is never replaced. ``increasing`` keeps readings strictly increasing for each
    clock apart, so that a second runner's virtual clock, which starts over, is not held
    behind the time where the first one stopped.
    """

    def __init__(
        self, given: Callable[[], int] | None, default: Callable[[], int], scale: int
    ) -> None:
        #: Whether ``clock=`` was given: then no runner's clock replaces it.
        self.given = given is not None
        #: Each clock in use, the last one read: its function and its last increasing reading.
        self._own: list[Any] = [given if given is not None else default, 0]
        self._lent: tuple[list[Any], ...] = ()  # replaced, never changed: read without a lock
        #: The clock lent to the invocation running in this context: runners driving the
        #: plugin from several threads at once each read their own (``_lent`` is the fallback
        #: for a thread that runs without the invocation's context).
        self._here: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
            "durable_gen_plugin_clock", default=None
        )
        self._scale = scale  # a lent clock's milliseconds, in this clock's unit
        self._lock = threading.Lock()

    def _current(self) -> list[Any]:
        here = self._here.get()
        if here is not None:
            return here
        lent = self._lent
        return lent[-1] if lent else self._own

    def __call__(self) -> int:
        return int(self._current()[0]())

    def increasing(self, step: int) -> int:
        """The time, at least ``step`` after the last reading of the same clock."""
        current = self._current()
        now: int = max(int(current[0]()), current[1] + step)
        current[1] = now
        return now

    def lender(self, now_ms: Callable[[], int]) -> list[Any] | None:
        """What ``lent`` lends: ``now_ms`` (epoch milliseconds) and its last reading, kept by
        the lender across its invocations; None when ``clock=`` was given (nothing is lent)."""
        if self.given:
            return None
        scale = self._scale
        return [now_ms if scale == 1 else (lambda: now_ms() * scale), 0]

    @contextlib.contextmanager
    def lent(self, entry: list[Any] | None) -> Iterator[None]:
        """Read the clock of ``entry`` (from ``lender``) inside the block."""
        if entry is None:
            yield
            return
        with self._lock:
            self._lent = (*self._lent, entry)
        token = self._here.set(entry)
        try:
            yield
        finally:
            self._here.reset(token)
            with self._lock:
                self._lent = tuple(e for e in self._lent if e is not entry)


def _exception_state(error: BaseException) -> tuple[Any, ...]:
    """What of ``error`` its record is made of, to put back after the hooks saw it."""
    attrs = getattr(error, "__dict__", None)
    saved = None
    if attrs is not None:  # notes are a list add_note appends to: keep a copy
        saved = {k: list(v) if k == "__notes__" else v for k, v in attrs.items()}
    return (
        error.args,
        error.__traceback__,
        error.__cause__,
        error.__context__,
        error.__suppress_context__,
        saved,
    )


def _restore_exception(error: BaseException, kept: tuple[Any, ...]) -> None:
    args, traceback, cause, context, suppress, saved = kept
    try:
        error.args = args
        error.__traceback__ = traceback
        error.__cause__ = cause
        error.__context__ = context
        error.__suppress_context__ = suppress
        attrs = getattr(error, "__dict__", None)
        if saved is not None and attrs is not None and attrs != saved:
            attrs.clear()
            attrs.update(saved)
    except Exception:  # an exception type that refuses it: what the hooks left stays
        _log.warning("could not restore %r after the plugins saw it", error, exc_info=True)


def emit(plugins: Sequence[Plugin], hook: str, *args: Any) -> None:
    """Call ``hook`` on every plugin; a plugin's exception is logged and dropped."""
    for plugin in plugins:
        try:
            getattr(plugin, hook)(*args)
        except Exception:
            _log.warning("plugin %r failed in %s; ignored", plugin, hook, exc_info=True)


def snapshot(
    arn: str, op: Operation, previous_status: str | None, by_service: bool
) -> OperationSnapshot:
    """The ``OperationSnapshot`` of a recorded operation."""
    details: Any = (
        op.step_details or op.context_details or op.callback_details or op.chained_invoke_details
    )
    error = getattr(details, "error", None)
    return OperationSnapshot(
        execution_arn=arn,
        operation_id=op.id,
        type=op.type,
        sub_type=op.sub_type,
        name=op.name,
        parent_id=op.parent_id,
        status=op.status,
        previous_status=previous_status,
        by_service=by_service,
        start_timestamp=op.start_timestamp,
        end_timestamp=op.end_timestamp,
        attempt=op.step_details.attempt if op.step_details is not None else None,
        result=getattr(details, "result", None),
        error_type=error.error_type if error is not None else None,
        error_message=error.error_message if error is not None else None,
    )


class Hooks:
    """Fires the plugins' hooks for one invocation; the driver calls it at each point.

    It remembers, per execution and for this process, the status it last reported of every
    operation, so that what changed between invocations is reported once.
    """

    def __init__(
        self,
        plugins: Sequence[Plugin],
        arn: str,
        operations: Sequence[Operation],
        *,
        updated: Sequence[str] | None = None,
    ):
        self.plugins = tuple(plugins)
        self.arn = arn
        execution = next((op for op in operations if op.type == "EXECUTION"), None)
        details = execution.execution_details if execution is not None else None
        self.execution = ExecutionInfo(
            execution_arn=arn,
            start_timestamp=execution.start_timestamp if execution is not None else None,
            input_payload=details.input_payload if details is not None else None,
        )
        recorded = [op for op in operations if op.type != "EXECUTION"]
        self.info = InvocationInfo(
            execution_arn=arn,
            first=not recorded,
            recorded_operations=len(recorded),
            operations=tuple(snapshot(arn, op, op.status, False) for op in recorded),
        )
        self.started: set[str] = {op.id for op in operations}
        self.parents: dict[str, str | None] = {op.id: op.parent_id for op in operations}
        with _SEEN_LOCK:
            remembered = _SEEN.pop(arn, None)
            _SEEN[arn] = self.statuses = remembered if remembered is not None else {}
            while len(_SEEN) > _REMEMBERED_EXECUTIONS:
                _SEEN.popitem(last=False)
        emit(self.plugins, "on_invocation_start", self.info)
        if self.info.first:
            emit(self.plugins, "on_execution_start", self.execution)
        if updated is not None:
            self._listed(recorded, updated)
        elif remembered is not None:
            self.observe(recorded, by_service=True)
        else:
            self._cold_start(recorded)

    def _listed(self, recorded: Sequence[Operation], updated: Sequence[str]) -> None:
        """The service named what it changed since the last invocation: those operations are
        reported, and no other (what this process remembers may be older than what another
        instance ran since). Each from the status this process last saw of it, else the one it
        had before (a retry timer makes a step READY from PENDING; a wait, callback or invoke
        ends from STARTED)."""
        listed = set(updated)
        statuses = self.statuses
        changed: list[Operation] = []
        for op in recorded:
            if op.id in listed:
                if op.id not in statuses:
                    statuses[op.id] = "PENDING" if op.status == "READY" else "STARTED"
                changed.append(op)
            else:
                statuses[op.id] = op.status
        self.observe(changed, by_service=True)

    def _cold_start(self, recorded: Sequence[Operation]) -> None:
        """Nothing remembered: the service-completed operations that ended after the last
        update the workflow recorded are the ones that changed since the last invocation."""
        last = max(
            (
                ts
                for op in recorded
                for ts in (
                    op.start_timestamp,
                    None if op.type in SERVICE_COMPLETED else op.end_timestamp,
                )
                if ts is not None
            ),
            default=None,
        )
        for op in recorded:
            changed = (
                op.type in SERVICE_COMPLETED
                and op.status in TERMINAL
                and op.end_timestamp is not None
                and (last is None or op.end_timestamp >= last)
            )
            if changed:
                emit(self.plugins, "on_operation_change", snapshot(self.arn, op, "STARTED", True))
            self.statuses[op.id] = op.status

    def observe(self, operations: Iterable[Operation], *, by_service: bool = False) -> None:
        """Report the operations whose status differs from the one last reported: in one batch,
        the ones still running first (parents before children), then the ended ones (children
        before parents), so that a context's change brackets its children's."""
        statuses, parents = self.statuses, self.parents
        changed: list[tuple[Operation, str | None]] = []
        for op in operations:
            if op.type == "EXECUTION":
                continue
            parents[op.id] = op.parent_id
            previous = statuses.get(op.id)
            if previous != op.status:
                statuses[op.id] = op.status
                changed.append((op, previous))

        def order(item: tuple[Operation, str | None]) -> tuple[bool, int]:
            op = item[0]
            depth, parent = 0, op.parent_id
            while parent is not None and depth < 1000:
                depth, parent = depth + 1, parents.get(parent)
            ended = op.status in TERMINAL
            return ended, -depth if ended else depth

        for op, previous in sorted(changed, key=order):
            emit(self.plugins, "on_operation_change", snapshot(self.arn, op, previous, by_service))

    def sending(
        self, updates: Sequence[OperationUpdate], events: Sequence[VirtualContextEvent] = ()
    ) -> None:
        """Updates about to be checkpointed, and virtual contexts that started or ended among
        them (each event before the update at its ``position``): the operation start and end
        hooks, in the order they happened."""
        pending = list(events)
        for i, u in enumerate(updates):
            while pending and pending[0].position <= i:
                self._virtual(pending.pop(0))
            if u.type == "EXECUTION":
                continue
            self._op_hooks(u.id, u.type, u.sub_type, u.name, u.parent_id, u.action, False)
        for event in pending:
            self._virtual(event)

    def _virtual(self, event: VirtualContextEvent) -> None:
        self._op_hooks(
            event.operation_id,
            "CONTEXT",
            event.sub_type,
            event.name,
            event.parent_id,
            event.action,
            True,
        )

    def _op_hooks(
        self,
        op_id: str,
        type_: str,
        sub_type: str | None,
        name: str | None,
        parent_id: str | None,
        action: str,
        virtual: bool,
    ) -> None:
        op = OperationInfo(
            execution_arn=self.arn,
            operation_id=op_id,
            type=type_,
            sub_type=sub_type,
            name=name,
            parent_id=parent_id,
            virtual=virtual,
        )
        # a virtual context's START is reported once, by the invocation that entered it (before
        # the first step inside it, or with the updates it follows, whichever comes first)
        first = op_id not in self.started and (action == "START" or not virtual)
        if first:
            self.started.add(op_id)
            emit(self.plugins, "on_operation_start", op)
        if action in ("SUCCEED", "FAIL"):
            status = "SUCCEEDED" if action == "SUCCEED" else "FAILED"
            emit(self.plugins, "on_operation_end", op, status)

    def attempt_start(
        self,
        task: Any,
        queued: Sequence[OperationUpdate] = (),
        events: Sequence[VirtualContextEvent] = (),
    ) -> AttemptInfo:
        """A step attempt is about to run (``task`` is the interpreter's ``StepTask``);
        ``queued`` are the updates not sent yet and ``events`` the virtual contexts' events not
        reported yet, whose STARTs (the step's enclosing contexts) are reported first."""
        pending = [e for e in events if e.action == "START"]
        for i, u in enumerate(queued):
            while pending and pending[0].position <= i:
                self._virtual(pending.pop(0))
            if u.action == "START" and u.type != "EXECUTION":
                self._op_hooks(u.id, u.type, u.sub_type, u.name, u.parent_id, u.action, False)
        for event in pending:
            self._virtual(event)
        sub_type = getattr(task, "sub_type", None)
        parent_id = getattr(task, "parent_id", None)
        if task.operation_id not in self.started:
            self.started.add(task.operation_id)
            op = OperationInfo(
                execution_arn=self.arn,
                operation_id=task.operation_id,
                type="STEP",
                sub_type=sub_type,
                name=task.name,
                parent_id=parent_id,
            )
            emit(self.plugins, "on_operation_start", op)
        attempt = AttemptInfo(
            execution_arn=self.arn,
            operation_id=task.operation_id,
            name=task.name,
            attempt=task.attempt,
            sub_type=sub_type,
            parent_id=parent_id,
        )
        emit(self.plugins, "on_attempt_start", attempt)
        return attempt

    def attempt_end(self, attempt: AttemptInfo, error: BaseException | None) -> None:
        if error is None:
            emit(self.plugins, "on_attempt_end", attempt, "SUCCEEDED", None)
            return
        # The error is recorded after the hooks: what a plugin changes in it (its message, a
        # note, its traceback) is put back, so that the record is the step's own.
        kept = _exception_state(error)
        try:
            emit(self.plugins, "on_attempt_end", attempt, "FAILED", error)
        finally:
            _restore_exception(error, kept)

    def end(self, output: InvocationOutput) -> None:
        """The invocation's outcome is decided."""
        if output.status in ("SUCCEEDED", "FAILED"):
            error = output.error
            if error is not None and error.stack_trace is not None:
                # the error is recorded after the hooks: a plugin gets its own list of frames,
                # so that what it appends or clears there is not recorded
                error = msgspec.structs.replace(error, stack_trace=list(error.stack_trace))
            emit(
                self.plugins,
                "on_execution_end",
                self.execution,
                output.status,
                output.result,
                error,
            )
            with _SEEN_LOCK:
                _SEEN.pop(self.arn, None)
        emit(self.plugins, "on_invocation_end", self.info, output.status)
