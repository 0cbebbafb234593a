"""Where the embedded engine keeps executions: the ``ExecutionStore`` protocol and ``MemoryStore``.

The engine reads an execution (its header, single operations, pages of operations, history
events) and writes every change through one call, ``commit()``, which must be atomic: the
header, the changed operations, the new events, the new callback ids and the scheduled tasks of
one checkpoint (or timer, or invocation outcome) land together or not at all. A durable store
(SQLite: WAL, one transaction per ``commit()``) implements the same protocol; several worker
processes share it by *claiming* due tasks (a lease) and by holding the execution's
``invoking`` flag while its handler runs.

Scheduling lives in the store too, as **tasks**: ``(due_ms, arn, kind, op_id)``, at most one
per ``(arn, kind, op_id)``. Invocations, timers (waits, step retries, callback timeouts,
execution timeouts) and calls of invoke targets are all tasks, so a restarted engine finds its
work where it left it.

The engine serializes its calls to the store (it holds its own lock), so ``MemoryStore`` needs
no lock. Per-operation work is O(1): operations live in a dict keyed by id plus a list of ids
in creation order; events are appended; nothing is copied per checkpoint.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol, cast, runtime_checkable

import msgspec

from .._arguments import checked
from .._wire import (
    CallbackDetails,
    ChainedInvokeDetails,
    ContextDetails,
    ErrorObject,
    Event,
    Operation,
    StepDetails,
    wire_enc_hook,
)

__all__ = [
    "CallbackEntry",
    "Change",
    "ExecutionRecord",
    "ExecutionStatus",
    "ExecutionStore",
    "InvokeEntry",
    "MemoryStore",
    "PendingEvent",
    "StoredExecution",
    "Task",
    "built",
]

ExecutionStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"]


#: A history event not built yet: ``(build, *args)``, where ``build(*args)`` is the ``Event``.
#: The engine writes its most frequent events (a step's START and SUCCEED) this way, so that a
#: store keeping events in memory builds them only when the history is read; ``Change.events``
#: builds them for any other store.
PendingEvent = tuple[Any, ...]


def built(events: list[Event | PendingEvent]) -> list[Event]:
    """``events`` with every pending event replaced by the ``Event`` it builds (in place)."""
    for index, event in enumerate(events):
        if type(event) is tuple:
            events[index] = event[0](*event[1:])
    return cast(list[Event], events)


_replace = msgspec.structs.replace


def own_error(error: ErrorObject) -> ErrorObject:
    """``error`` with a stack trace list of its own (the only mutable part of an error)."""
    trace = error.stack_trace
    return error if trace is None else _replace(error, stack_trace=list(trace))


def own_operation(op: Operation) -> Operation:
    """``op``, or a copy whose error's stack trace is a list of its own when it has one: what
    the in-memory store keeps and hands out shares nothing a caller can change."""
    details: StepDetails | CallbackDetails | ChainedInvokeDetails | ContextDetails | None
    details = op.step_details or op.callback_details or op.chained_invoke_details
    details = details or op.context_details
    if details is None or details.error is None or details.error.stack_trace is None:
        return op
    error = own_error(details.error)
    if op.step_details is not None:
        return _replace(op, step_details=_replace(op.step_details, error=error))
    if op.callback_details is not None:
        return _replace(op, callback_details=_replace(op.callback_details, error=error))
    if op.chained_invoke_details is not None:
        return _replace(op, chained_invoke_details=_replace(op.chained_invoke_details, error=error))
    assert op.context_details is not None
    return _replace(op, context_details=_replace(op.context_details, error=error))


_EVENTS = msgspec.json.Encoder(enc_hook=wire_enc_hook), msgspec.json.Decoder(list[Event])


class ExecutionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of one execution, as ``LocalService.get_execution()`` returns it.

    Attributes:
        arn: The durable execution ARN.
        name: The execution name (unique per function).
        function_name: The registered function the execution runs.
        status: RUNNING, SUCCEEDED, FAILED, TIMED_OUT or STOPPED.
        input: The input payload (a JSON string), if any.
        result: The result payload (a JSON string) once SUCCEEDED.
        error: The error once FAILED, TIMED_OUT or STOPPED.
        start_timestamp: When the execution started, epoch milliseconds.
        end_timestamp: When it ended, epoch milliseconds; None while RUNNING.
        parent_arn: The execution whose ``Invoke`` started this one, if any.
        execution_timeout: The execution timeout in seconds, if one was set.
    """

    arn: str
    name: str
    function_name: str
    status: ExecutionStatus
    input: str | None = None
    result: str | None = None
    error: ErrorObject | None = None
    start_timestamp: int
    end_timestamp: int | None = None
    parent_arn: str | None = None
    execution_timeout: int | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the execution ended (any status but RUNNING)."""
        return self.status != "RUNNING"


class InvokeEntry(NamedTuple):
    """A chained invoke the engine still has to finish: its target and, if durable, the child."""

    function_name: str
    payload: str | None
    child_arn: str | None


class CallbackEntry(NamedTuple):
    """An issued callback id: which operation it completes, and its heartbeat timeout."""

    callback_id: str
    arn: str
    op_id: str
    heartbeat_seconds: int


class Task(NamedTuple):
    """A piece of scheduled work: run ``kind`` for ``(arn, op_id)`` at ``due_ms``.

    At most one task exists per ``(arn, kind, op_id)``; setting it again replaces it.
    """

    due_ms: int
    arn: str
    kind: str
    op_id: str

    @property
    def key(self) -> tuple[str, str, str]:
        """The identity of the task: ``(arn, kind, op_id)``."""
        return (self.arn, self.kind, self.op_id)


@dataclass(slots=True, eq=False)
class StoredExecution:
    """The mutable header of one execution, as the engine reads and writes it.

    Besides what ``ExecutionRecord`` shows, it carries the engine's bookkeeping: the current
    checkpoint token, the invocation in flight, the operations that wait on something, the
    chained invokes in flight and the changes a running invocation has not been told about.
    """

    arn: str
    execution_id: str
    name: str
    function_name: str
    input: str | None
    start_ms: int
    nonce: str
    status: ExecutionStatus = "RUNNING"
    result: str | None = None
    error: ErrorObject | None = None
    end_ms: int | None = None
    parent_arn: str | None = None
    parent_op_id: str | None = None
    timeout_seconds: int | None = None
    #: The only checkpoint token accepted now; None while no invocation runs.
    token: str | None = None
    #: Invocations started so far, and checkpoints taken in the current one.
    invocations: int = 0
    checkpoints: int = 0
    #: True while a handler invocation is in flight (with several workers: the lease holder).
    invoking: bool = False
    #: Consecutive invocations that crashed (raised instead of returning an output).
    crashes: int = 0
    next_event_id: int = 1
    #: Operations that wait on something, by id: PENDING/READY steps, STARTED waits,
    #: callbacks and chained invokes. Their types, for the "what is pending" checks.
    open: dict[str, str] = field(default_factory=dict)
    #: Chained invokes in flight, by operation id.
    invokes: dict[str, InvokeEntry] = field(default_factory=dict)
    #: Operations changed by something else while an invocation runs, not yet delivered to it.
    unseen: dict[str, None] = field(default_factory=dict)
    #: Something changed during the running invocation (delivered or not).
    nudged: bool = False
    #: An invocation became due while one was in flight; run another after it.
    reinvoke: bool = False
    #: The running invocation recorded at least one update.
    wrote: bool = False

    def record(self) -> ExecutionRecord:
        """A frozen snapshot of the public fields."""
        return ExecutionRecord(
            arn=self.arn,
            name=self.name,
            function_name=self.function_name,
            status=self.status,
            input=self.input,
            result=self.result,
            error=None if self.error is None else own_error(self.error),
            start_timestamp=self.start_ms,
            end_timestamp=self.end_ms,
            parent_arn=self.parent_arn,
            execution_timeout=self.timeout_seconds,
        )


class Change:
    """Everything one atomic write does to one execution.

    Attributes:
        execution: The header to save (for a new execution, to insert).
        created: True when the execution is new.
        operations: Operations to insert or replace (by id; new ids go to the end of the order).
        events: History events to append (their EventIds continue the execution's sequence);
            reading it builds any ``PendingEvent`` of ``raw_events``.
        raw_events: The same events as written, pending ones not built yet.
        callbacks: Callback ids issued by this change.
        tasks: Tasks to schedule; each replaces the task with the same key.
        cancelled: Keys ``(kind, op_id)`` of this execution's tasks to drop.
        cancel_all: Drop every task of this execution (after the above): it ended.
    """

    __slots__ = (
        "callbacks",
        "cancel_all",
        "cancelled",
        "created",
        "execution",
        "operations",
        "raw_events",
        "tasks",
    )

    def __init__(
        self,
        execution: StoredExecution,
        *,
        created: bool = False,
        operations: list[Operation] | None = None,
        events: list[Event | PendingEvent] | None = None,
    ) -> None:
        self.execution = execution
        self.created = created
        self.operations: list[Operation] = [] if operations is None else operations
        self.raw_events: list[Event | PendingEvent] = [] if events is None else events
        # Rare parts start as empty tuples (no allocation on the checkpoint path).
        self.callbacks: tuple[CallbackEntry, ...] = ()
        self.tasks: tuple[Task, ...] = ()
        self.cancelled: tuple[tuple[str, str], ...] = ()
        self.cancel_all = False

    @property
    def events(self) -> list[Event]:
        """The history events to append, every one built (the list itself: appending works)."""
        return built(self.raw_events)


@runtime_checkable
class ExecutionStore(Protocol):
    """Persistence of executions, operations, history events, callback ids and tasks.

    The engine calls a store from one thread at a time. Reads may return live objects
    (``MemoryStore`` does) or fresh copies (a database store does); the engine never mutates
    an ``Operation`` or ``Event`` and writes headers back through ``commit()`` only.
    """

    def load(self, arn: str) -> StoredExecution | None:
        """The execution header, or None for an unknown ARN."""
        ...

    def find(self, function_name: str, name: str) -> str | None:
        """The ARN of the execution of ``function_name`` named ``name``, if there is one."""
        ...

    def executions(self) -> Iterator[StoredExecution]:
        """Every execution, in the order they started."""
        ...

    def lookup(self, arn: str) -> Callable[[str], Operation | None]:
        """A function from operation id to the current operation of execution ``arn``."""
        ...

    def operations(self, arn: str, start: int = 0, limit: int | None = None) -> list[Operation]:
        """Operations of ``arn`` in creation order, from index ``start``, at most ``limit``."""
        ...

    def operation_count(self, arn: str) -> int:
        """How many operations execution ``arn`` has."""
        ...

    def events(self, arn: str) -> list[Event]:
        """The history events of ``arn``, in EventId order."""
        ...

    def find_callback(self, callback_id: str) -> CallbackEntry | None:
        """The entry of an issued callback id, or None if it was never issued."""
        ...

    def commit(self, changes: Sequence[Change]) -> None:
        """Apply ``changes`` (to one or several executions) atomically."""
        ...

    def next_task(self) -> Task | None:
        """The earliest scheduled task that nobody has claimed."""
        ...

    def claim(self, task: Task) -> bool:
        """Take ``task`` to run it now; False if it changed or was taken meanwhile.

        A claimed task is gone from the schedule (a database store keeps it under a lease until
        the commit that finishes its work, so a crashed worker's task comes back).
        """
        ...

    def tasks_for(self, arn: str) -> list[Task]:
        """The scheduled tasks of execution ``arn``; those due together in the order they
        were scheduled (a task set again counts as scheduled then)."""
        ...


class _Entry:
    """MemoryStore's record of one execution."""

    __slots__ = ("events", "execution", "operations", "order", "tasks")

    def __init__(self, execution: StoredExecution) -> None:
        self.execution = execution
        self.operations: dict[str, Operation] = {}
        self.order: list[str] = []
        self.events: list[Event | PendingEvent] = []  # built when read
        self.tasks: dict[tuple[str, str], Task] = {}


class MemoryStore:
    """An ``ExecutionStore`` in process memory: fast, and gone when the process ends.

    Example:
        >>> from durable_gen.local import LocalService, MemoryStore
        >>> service = LocalService(store=MemoryStore())
    """

    @checked
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._names: dict[tuple[str, str], str] = {}
        self._callbacks: dict[str, CallbackEntry] = {}
        # (due, order, task, the tasks of its execution, its key there): liveness is one lookup.
        self._heap: list[tuple[int, int, Task, dict[tuple[str, str], Task], tuple[str, str]]] = []
        self._seq = itertools.count()
        self._live_tasks = 0

    def load(self, arn: str) -> StoredExecution | None:
        """The execution header, or None for an unknown ARN."""
        entry = self._entries.get(arn)
        return None if entry is None else entry.execution

    def find(self, function_name: str, name: str) -> str | None:
        """The ARN of the execution of ``function_name`` named ``name``, if there is one."""
        return self._names.get((function_name, name))

    def executions(self) -> Iterator[StoredExecution]:
        """Every execution, in the order they started."""
        return (entry.execution for entry in list(self._entries.values()))

    def lookup(self, arn: str) -> Callable[[str], Operation | None]:
        """``dict.get`` of the execution's operations."""
        return self._entries[arn].operations.get

    def operations(self, arn: str, start: int = 0, limit: int | None = None) -> list[Operation]:
        """Operations of ``arn`` in creation order, from ``start``, at most ``limit``."""
        entry = self._entries[arn]
        ops = entry.operations
        if start == 0 and limit is None:
            return [own_operation(op) for op in ops.values()]
        ids = entry.order[start:] if limit is None else entry.order[start : start + limit]
        return [own_operation(ops[i]) for i in ids]

    def operation_count(self, arn: str) -> int:
        """How many operations execution ``arn`` has."""
        return len(self._entries[arn].order)

    def events(self, arn: str) -> list[Event]:
        """A copy of the history events of ``arn`` (their details too: a caller that changes
        them changes nothing recorded)."""
        encode, decode = _EVENTS
        return decode.decode(encode.encode(built(self._entries[arn].events)))

    def find_callback(self, callback_id: str) -> CallbackEntry | None:
        """The entry of an issued callback id, or None if it was never issued."""
        return self._callbacks.get(callback_id)

    def commit(self, changes: Sequence[Change]) -> None:
        """Apply ``changes``; in memory nothing can fail halfway."""
        for change in changes:
            ex = change.execution
            if change.created:
                entry = _Entry(ex)
                self._entries[ex.arn] = entry
                self._names[(ex.function_name, ex.name)] = ex.arn
            else:
                entry = self._entries[ex.arn]
            ops = entry.operations
            for op in change.operations:
                if op.id not in ops:
                    entry.order.append(op.id)
                details = op.step_details
                if details is not None and details.error is None:
                    ops[op.id] = op  # the common case, without a call
                else:  # the caller's stack trace lists are not kept
                    ops[op.id] = own_operation(op)
            if ex.error is not None and ex.error.stack_trace is not None:
                ex.error = own_error(ex.error)
            if change.raw_events:
                entry.events.extend(change.raw_events)
            for cb in change.callbacks:
                self._callbacks[cb.callback_id] = cb
            if not (change.tasks or change.cancelled or change.cancel_all):
                continue  # most checkpoints schedule nothing
            tasks = entry.tasks
            live = len(tasks)
            for key in change.cancelled:
                tasks.pop(key, None)
            for task in change.tasks:
                key = (task.kind, task.op_id)
                tasks.pop(key, None)  # one set again is scheduled now: tasks_for's order
                tasks[key] = task
                heapq.heappush(self._heap, (task.due_ms, next(self._seq), task, tasks, key))
            if change.cancel_all:
                tasks.clear()
            self._live_tasks += len(tasks) - live

    def next_task(self) -> Task | None:
        """The earliest live task; stale heap entries (replaced or dropped) are discarded."""
        heap = self._heap
        if len(heap) > 2 * self._live_tasks + 64:
            # Mostly replaced entries (heartbeats, say): rebuild from the live tasks.
            heap[:] = [item for item in heap if item[3].get(item[4]) is item[2]]
            heapq.heapify(heap)
        while heap:
            _, _, task, tasks, key = heap[0]
            if tasks.get(key) is task:
                return task
            heapq.heappop(heap)
        return None

    def claim(self, task: Task) -> bool:
        """Remove ``task`` from the schedule if it is still the live one for its key."""
        entry = self._entries.get(task.arn)
        key = (task.kind, task.op_id)
        if entry is None or entry.tasks.get(key) is not task:
            return False
        del entry.tasks[key]
        self._live_tasks -= 1
        return True

    def tasks_for(self, arn: str) -> list[Task]:
        """The scheduled tasks of execution ``arn``, in the order they were scheduled."""
        entry = self._entries.get(arn)
        return [] if entry is None else list(entry.tasks.values())
