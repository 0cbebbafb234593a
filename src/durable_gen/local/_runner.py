"""The machinery of the embedded engine: it runs the work of executions and records the outcome.

``Runner`` is the part of ``LocalService`` that carries out: it claims due tasks, calls
registered handlers and plain invoke targets, fires timers, and applies the ``Effects`` that
``_lifecycle`` decides (and ``_state`` for checkpoints) to the store, one atomic commit at a
time. ``LocalService`` adds the public face: registration, starting and stopping, queries,
callbacks sent from outside, ``checkpoint``/``get_state``, and the loops that drive it all.

Scheduling rules

1.  Work is a task in the store: an invocation, a timer (wait, step retry, callback timeout or
    heartbeat timeout, execution timeout) or the call of a plain invoke target. Due tasks run
    in (due time, scheduling order).
2.  An execution has at most one invocation in flight. Each invocation gets a fresh checkpoint
    token and all the operations (paged by ``page_size``); each checkpoint returns a new token
    and only the newest is accepted. The token dies with the invocation.
3.  Handlers and plain targets run on the calling thread with no lock held, so they can call
    back into the service; other threads may send callbacks at any time. ``KeyboardInterrupt``
    and the like (a ``BaseException`` that is not an ``Exception``; for a handler, not
    ``SystemExit`` either, which is a crash) stop the engine, not the execution: the
    interrupted work is scheduled again for a later run.
4.  Everything else (what an invocation's output means, timers, callbacks and invokes that
    complete, how an execution ends) is decided by ``_lifecycle``, whose rules say so.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import secrets
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Final, NamedTuple

from .._errors import ExecutionNotFoundError, StoreError, shown
from .._failure import error_object
from .._service import InvocationHandler
from .._wire import (
    MAX_OPERATION_PAYLOAD_BYTES,
    ErrorObject,
    ExecutionState,
    InvocationInput,
    OperationStatus,
    too_large,
)
from ._clock import Clock, RealClock, VirtualClock
from ._dbstore import DamagedRecordError, LeaseLostError, task_function
from ._lifecycle import (
    CALL,
    EXECUTION_TIMEOUT,
    INVOCATION,
    Effects,
    complete_invoke,
    end_execution,
    finish_invocation,
    fire_timer,
    invoked_result_too_large,
    start_execution,
    track_open,
)
from ._state import (
    CALLBACK_HEARTBEAT,
    CALLBACK_TIMEOUT,
    RETRY_TIMER,
    WAIT_TIMER,
    InvokeStarted,
    InvokeTarget,
)
from ._store import Change, ExecutionStore, InvokeEntry, MemoryStore, StoredExecution, Task

__all__ = ["PlainFunction", "Runner"]

#: A plain (non-durable) ``Invoke`` target: JSON payload in, JSON result out.
PlainFunction = Callable[[str | None], str | None]

#: Timer task kinds: those that ``_fire`` handles.
_TIMERS: Final = frozenset(
    {WAIT_TIMER, RETRY_TIMER, CALLBACK_TIMEOUT, CALLBACK_HEARTBEAT, EXECUTION_TIMEOUT}
)

_not_arn_safe: Final = re.compile(r"[^A-Za-z0-9_-]")

#: On a store other processes share, the longest a wall-clock wait goes without looking at
#: the database again: their commits (a callback answered, a timer fired, a dead worker's
#: invocation taken back) notify no condition of this process.
SHARED_POLL_MS: Final = 500


#: The generator of ``new_uuid``: seeded from ``os.urandom`` when made, and again in a forked
#: child (so two processes never share a sequence), and private (``random.seed()`` in a test
#: or a workflow does not touch it).
_UNIQUE: Final = random.Random()
os.register_at_fork(after_in_child=_UNIQUE.seed)


def new_uuid() -> str:
    """A random version-4 UUID as text (execution ids, request ids): what ``str(uuid.uuid4())``
    gives, for half its cost or less. Not a secret (callback ids are ``secrets.token_hex``)."""
    bits = _UNIQUE.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)
    h = f"{bits | 0x4000 << 64 | 0x8000 << 48:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _due(task: Task) -> int:
    """When ``task`` is due: the key that orders tasks by due time alone, so that sorting
    keeps the order they were scheduled in for those due together."""
    return task.due_ms


class Function(NamedTuple):
    """A registered function: a durable handler, or a plain invoke target."""

    handler: Callable[..., Any]
    durable: bool


class Runner:
    """Runs the work of executions against a store and a clock (see the module docs).

    Arguments are validated by ``LocalService``, which is the one public subclass.
    """

    def __init__(
        self,
        store: ExecutionStore,
        clock: Clock,
        *,
        page_size: int | None,
        max_crashes: int,
        arn_prefix: str,
    ) -> None:
        self._store = store
        self._clock = clock
        self._page_size = page_size
        self._max_crashes = max_crashes
        self._arn_prefix = arn_prefix
        self._functions: dict[str, Function] = {}
        # A store shared by processes brings its own lock (holding it is holding a
        # transaction, see SqliteStore); any other store is guarded by a plain lock.
        shared_lock = getattr(store, "lock", None)
        self._lock = shared_lock or threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._polls = shared_lock is not None and isinstance(clock, RealClock)
        # A virtual clock starts afresh in each process, while the executions on a store that
        # outlives the process carry the times another clock recorded (a killed `--skip-time`
        # run that skipped a day): it catches up with those before running one of them.
        # Once per execution and process: from then on its times are this clock's (reading
        # them all at every task made each of a long execution's tasks cost its whole length).
        self._catches_up = isinstance(clock, VirtualClock) and not isinstance(store, MemoryStore)
        self._caught_up: set[str] = set()
        self._waiters = 0

    # --- scheduling -------------------------------------------------------------------------------

    def _commit(self, changes: Sequence[Change]) -> None:
        self._store.commit(changes)
        if self._waiters:
            self._cond.notify_all()

    def _wait(self, deadline_ms: int | None) -> bool:
        # Called with the lock held; the clock waits on the condition (or moves itself).
        self._waiters += 1
        try:
            if self._polls:  # other processes' commits are seen only by reading again
                poll_ms = self._clock.now_ms() + SHARED_POLL_MS
                deadline_ms = poll_ms if deadline_ms is None else min(deadline_ms, poll_ms)
            if deadline_ms is None:
                self._cond.wait()
                return True
            return self._clock.wait(self._cond, deadline_ms)
        finally:
            self._waiters -= 1

    def _run_one(self, focus: str | None = None) -> bool:
        """Run the earliest due task (with ``focus``: of that execution and those it invoked
        only); False when none is due."""
        below = self._below(focus) if focus is not None else []
        with self._lock:
            self._lock_first(below)
            try:
                task = self._store.next_task()  # also takes back the work of dead invocations
            except DamagedRecordError as exc:  # a damaged task: not met again at once
                set_aside: Callable[[], None] | None = getattr(exc, "set_aside", None)
                if set_aside is not None:
                    set_aside()
                raise
            if focus is not None:
                # Due time, then scheduling: tasks_of lists each execution's tasks in the order
                # they were scheduled, and min() keeps the first of equal keys. (A Task compared
                # whole would order ties by ARN and kind: a callback's heartbeat timeout would
                # fire before its overall timeout due at the same millisecond.)
                task = min(self._tasks_of(focus), key=_due, default=None)
            if task is None or (
                task.due_ms > self._clock.now_ms()
                # An invocation is due when scheduled; one a database store took back from a
                # dead process is scheduled on the wall clock, which a virtual clock may be
                # far behind: it does not move the virtual clock to the wall time.
                and not (self._catches_up and task.kind == INVOCATION)
            ):
                return False
            if not self._store.claim(task):
                return True
            if self._catches_up and task.arn not in self._caught_up:
                self._catch_up(task.arn)
            job: Callable[[], None] | None
            if task.kind == INVOCATION:
                job = self._begin_invocation(task.arn)
            elif task.kind == CALL:
                job = self._begin_call(task)
            else:
                job = None
                self._fire(task, self._clock.now_ms())
        if job is not None:
            job()
        return True

    def _below(self, execution_arn: object) -> list[str]:
        """The running executions under ``execution_arn`` (those it invoked, those they
        invoked, ...), each before the one that invoked it, read without the lock.

        A database store locks an execution's row as a transaction reads it, and a child that
        ends (or is stopped) locks its own row before its parent's (whose invoke ends with
        it). A transaction that reads a parent and then its children would take them the
        other way round, and deadlock with a child ending meanwhile (Postgres then fails one
        of the two): ``_lock_first(below)`` takes the children's rows first instead. Only an
        order: a store error here (a damaged header) is left for the transaction to meet; a
        store that locks no rows as it reads (SQLite's transactions take the whole database,
        memory's the engine's lock) needs none."""
        if not isinstance(execution_arn, str) or not getattr(self._store, "_LOCK_ROWS", ""):
            return []
        try:
            order = _deepest_first(execution_arn, self._running_children(execution_arn))
        except StoreError:
            return []
        return order[:-1]  # the execution itself comes last

    def _lock_first(self, arns: list[str]) -> None:
        """Lock the rows of ``arns`` in that order (see ``_below``). Lock held."""
        for arn in arns:
            self._store.load(arn)

    def _running_children(self, arn: str) -> dict[str, list[str]]:
        """The running executions that ``arn`` invoked, and those they invoked, and so on,
        by parent: found through each execution's invokes in flight, so that stopping one
        reads the executions under it only (not every header of the database, where a
        damaged one of another execution would fail the stop). With the lock held, or without
        it to learn which rows to lock first (the headers a store shares with the engine
        change under it then: their invokes are copied before they are read)."""
        children: dict[str, list[str]] = {}
        todo = [arn]
        while todo:
            ex = self._store.load(todo.pop())
            if ex is None or ex.arn in children:
                continue
            kids = children[ex.arn] = []
            for entry in list(ex.invokes.values()):
                if entry.child_arn is None:
                    continue
                child = self._store.load(entry.child_arn)
                if child is not None and child.status == "RUNNING":
                    kids.append(child.arn)
                    todo.append(child.arn)
        return children

    def _tasks_of(self, arn: str) -> list[Task]:
        """The scheduled tasks of execution ``arn`` and of the running executions it invoked,
        and those invoked, and so on, that this process may run. Lock held.

        As ``next_task()`` does, a store that serves some functions only (``serve()``) leaves
        the invocations and calls of the others to a process that serves them: running one
        here would fail it for want of its function.
        """
        serving: tuple[str, ...] | None = getattr(self._store, "_serving", None)
        tasks: list[Task] = []
        todo = [arn]
        while todo:
            ex = self._store.load(todo.pop())
            if ex is None:
                continue
            for task in self._store.tasks_for(ex.arn):
                if serving is None:
                    tasks.append(task)
                    continue
                function = task_function(ex, task)  # None: a timer, which any process fires
                if function is None or function in serving:
                    tasks.append(task)
            todo.extend(e.child_arn for e in ex.invokes.values() if e.child_arn is not None)
        return tasks

    def _next_due_of(self, arn: str) -> int | None:
        """When the earliest task of ``arn`` (and of what it invoked) is due, if any."""
        below = self._below(arn)
        with self._lock:
            self._lock_first(below)
            return min((task.due_ms for task in self._tasks_of(arn)), default=None)

    def _fire_own_timers(self, ex: StoredExecution, now: int) -> None:
        # Timers of the invoking execution that came due during the invocation fire now, so
        # this checkpoint's response can tell the handler.
        store = self._store
        try:
            task = store.next_task()
            while (
                task is not None
                and task.due_ms <= now
                and task.arn == ex.arn
                and task.kind in _TIMERS
                and ex.status == "RUNNING"
            ):
                if store.claim(task):
                    self._fire(task, now)
                task = store.next_task()
        except DamagedRecordError:
            return  # a damaged task is for the engine's look for work to set aside

    def _fire_overdue(self, arn: str, callback_op: str | None = None) -> None:
        """Fire the timeouts of execution ``arn`` (and of its callback ``callback_op``) that
        are due by now, before an answer or a stop from outside is applied. Lock held.

        Whoever runs the engine fires timers when they come due; when nobody did (no worker
        ran meanwhile, or none has got to it yet), an answer that came after the timeout
        would otherwise be taken, and the execution would go on as it never could have had a
        worker been running.
        """
        now = self._clock.now_ms()
        due = sorted(  # by due time, then as scheduled (tasks_for's order; sorted is stable)
            (
                task
                for task in self._store.tasks_for(arn)
                if task.due_ms <= now
                and (
                    task.kind == EXECUTION_TIMEOUT
                    or (
                        task.kind in (CALLBACK_TIMEOUT, CALLBACK_HEARTBEAT)
                        and task.op_id == callback_op
                    )
                )
            ),
            key=_due,
        )
        for task in due:
            if self._store.claim(task):
                self._fire(task, now)

    def _fire(self, task: Task, now: int) -> None:
        ex = self._store.load(task.arn)
        if ex is None:
            return
        store = self._store
        effects = fire_timer(
            ex, store.lookup(ex.arn), task.kind, task.op_id, task.due_ms, now, store.find_callback
        )
        if effects is not None:
            changes: list[Change] = []
            self._apply(ex, effects, changes)
            self._commit(changes)

    # --- invocations ------------------------------------------------------------------------------

    def _catch_up(self, arn: str) -> None:
        """Move a virtual clock up to the latest time recorded in execution ``arn``, so that
        its time never runs backwards when a new process resumes it (``Now()``, the history's
        timestamps, new timers and its timeout go on from where it stood)."""
        latest = 0
        try:
            operations = self._store.operations(arn)
        except DamagedRecordError:  # reported where the task's own work reads it
            return
        for op in operations:
            for stamp in (op.start_timestamp, op.end_timestamp):
                if stamp is not None and stamp > latest:
                    latest = stamp
        assert isinstance(self._clock, VirtualClock)
        self._clock.advance_to(latest)
        self._caught_up.add(arn)

    def _begin_invocation(self, arn: str) -> Callable[[], None] | None:
        ex = self._store.load(arn)
        if ex is None or ex.status != "RUNNING":
            return None
        if ex.timeout_seconds is not None and (
            self._clock.now_ms() >= ex.start_ms + ex.timeout_seconds * 1000
        ):
            # Its timeout passed while nobody ran it (no worker was up, or they all died):
            # it ends TIMED_OUT before any step of it runs, as it would have at the time.
            self._fire_overdue(arn)
            ex = self._store.load(arn)
            if ex is None or ex.status != "RUNNING":
                return None
        change = Change(ex)
        if ex.invoking:
            ex.reinvoke = True
            self._commit([change])
            return None
        function = self._functions.get(ex.function_name)
        if function is None or not function.durable:
            message = not_registered(ex.function_name)
            if function is not None:
                message = (
                    f"{ex.function_name!r} is registered as a plain function (durable=False), "
                    "which runs Invoke payloads, not executions: register the workflow's "
                    f"durable handler, service.register({ex.function_name!r}, "
                    "make_handler(workflow, service))"
                )
            error = ErrorObject(error_type="FunctionNotRegisteredError", error_message=message)
            now = self._clock.now_ms()
            effects = end_execution(ex, self._store.lookup(arn), "FAILED", now, error=error)
            changes = [change]
            self._apply(ex, effects, changes, change)
            self._commit(changes)
            return None
        ex.invoking = True
        ex.invocations += 1
        ex.checkpoints = 1
        ex.token = f"{ex.nonce}{ex.invocations}x1"
        ex.unseen.clear()
        ex.nudged = False
        ex.reinvoke = False
        ex.wrote = False
        event = InvocationInput(
            durable_execution_arn=arn,
            checkpoint_token=ex.token,
            initial_execution_state=self._page(arn, 0),
        )
        start_ms = self._clock.now_ms()
        self._commit([change])
        return partial(self._invoke, arn, ex.invocations, function.handler, event, start_ms)

    def _invoke(
        self,
        arn: str,
        number: int,
        handler: InvocationHandler,
        event: InvocationInput,
        start_ms: int,
    ) -> None:
        request_id = new_uuid()
        try:
            output = handler(event)
        except DamagedRecordError:
            # A record of this execution does not decode: running it again finds it so again.
            # Its invocation stays leased by this store (set aside while it runs) and the
            # caller goes on with other work (Worker logs it).
            raise
        except StoreError:
            # The store failed under the invocation (its checkpoint found the database locked
            # or unreachable): the engine's trouble, not a crash of the workflow, so it does
            # not count towards max_crashes. Hand the invocation back if the store lets us
            # (else the caller does: Worker calls release_leases()) and let the caller retry.
            self._release(arn, number)
            raise
        except (Exception, SystemExit) as exc:
            self._finish_invocation(arn, number, start_ms, request_id, None, _crash_error(exc))
        except BaseException:
            # KeyboardInterrupt and the like stop the engine, not the execution: release the
            # invocation so that a later run resumes it.
            self._release(arn, number)
            raise
        else:
            self._finish_invocation(arn, number, start_ms, request_id, output, None)

    def _release(self, arn: str, number: int) -> None:
        """End invocation ``number`` of ``arn`` without an outcome; it is due again."""
        with contextlib.suppress(StoreError), self._lock:  # unreachable: the caller retries
            ex = self._store.load(arn)
            if ex is not None and ex.invocations == number and ex.invoking:
                ex.invoking = False
                ex.token = None
                change = Change(ex)
                if ex.status == "RUNNING":
                    change.tasks += (Task(self._clock.now_ms(), arn, INVOCATION, ""),)
                self._commit([change])

    def _finish_invocation(
        self,
        arn: str,
        number: int,
        start_ms: int,
        request_id: str,
        output: object,
        crash: ErrorObject | None,
    ) -> None:
        with self._lock:
            ex = self._store.load(arn)
            if ex is None:
                return
            if ex.invocations != number or not ex.invoking:
                # Another worker took the execution over (this one stalled past its lease)
                # and its invocation began, or even ended, meanwhile: this one is history.
                raise superseded(arn, number)
            ex.invoking = False
            ex.token = None
            effects = finish_invocation(
                ex,
                self._store.lookup(arn),
                self._clock.now_ms(),
                start_ms=start_ms,
                request_id=request_id,
                output=output,
                crash=crash,
                max_crashes=self._max_crashes,
            )
            changes: list[Change] = []
            self._apply(ex, effects, changes)
            self._commit(changes)

    # --- applying lifecycle effects ---------------------------------------------------------------

    def _apply(
        self,
        ex: StoredExecution,
        effects: Effects,
        changes: list[Change],
        change: Change | None = None,
    ) -> None:
        """Carry out a lifecycle transition: the header, one ``Change``, and the parent's invoke.

        ``change`` (already in ``changes``) receives the writes; by default a new one does.
        """
        if change is None:
            change = Change(ex)
            changes.append(change)
        if effects.operations:
            change.operations.extend(effects.operations)
            track_open(ex, effects.operations)
        if effects.events:
            change.raw_events.extend(effects.events)
            ex.next_event_id += len(effects.events)
        if effects.tasks:
            arn = ex.arn
            change.tasks += tuple(Task(due, arn, kind, op_id) for kind, op_id, due in effects.tasks)
        change.cancelled += effects.cancelled
        if effects.crashes is not None:
            ex.crashes = effects.crashes
        if effects.deliver is not None:
            ex.unseen[effects.deliver] = None
            ex.nudged = True
        ending = effects.ending
        if ending is not None:
            ex.status, ex.end_ms, ex.result, ex.error = ending
            ex.token = None
            ex.open.clear()
            change.cancel_all = True
        parent = effects.parent
        if parent is not None and ending is not None:  # a parent's invoke ends with its child
            self._complete_invoke(
                parent.arn,
                parent.op_id,
                parent.status,
                changes,
                ending.end_ms,
                result=parent.result,
                error=parent.error,
            )

    def _new_execution(
        self,
        arn: str,
        function_name: str,
        input_payload: str | None,
        timeout_seconds: int | None,
        now: int,
        changes: list[Change],
        *,
        parent: tuple[str, str] | None = None,
    ) -> None:
        ex, effects = start_execution(
            arn,
            function_name,
            input_payload,
            timeout_seconds,
            now,
            nonce=secrets.token_hex(4),
            parent=parent,
        )
        change = Change(ex, created=True)
        changes.append(change)
        self._apply(ex, effects, changes, change)

    def _complete_invoke(
        self,
        arn: str,
        op_id: str,
        status: OperationStatus,
        changes: list[Change],
        now: int,
        *,
        result: str | None = None,
        error: ErrorObject | None = None,
    ) -> None:
        ex = self._store.load(arn)
        if ex is None:
            return
        op = self._store.lookup(arn)(op_id) if ex.status == "RUNNING" else None
        effects = complete_invoke(ex, op, status, now, result=result, error=error)
        if effects is not None:
            self._apply(ex, effects, changes)

    # --- chained invokes --------------------------------------------------------------------------

    def _resolve_invoke(self, op_id: str, name: str) -> InvokeTarget:
        function = self._functions.get(name)
        if function is None:
            return InvokeTarget(
                error=ErrorObject(
                    error_type="FunctionNotRegisteredError", error_message=not_registered(name)
                )
            )
        if not function.durable:
            return InvokeTarget()
        exec_id = new_uuid()
        return InvokeTarget(child_arn=self._arn(name, exec_id, exec_id))

    def _start_invoke(
        self,
        ex: StoredExecution,
        change: Change,
        changes: list[Change],
        started: InvokeStarted,
        now: int,
    ) -> None:
        child_arn = started.child_arn
        ex.invokes[started.op_id] = InvokeEntry(started.function_name, started.payload, child_arn)
        if child_arn is None:
            change.tasks += (Task(now, ex.arn, CALL, started.op_id),)
            return
        self._new_execution(
            child_arn,
            started.function_name,
            started.payload,
            None,
            now,
            changes,
            parent=(ex.arn, started.op_id),
        )

    def _begin_call(self, task: Task) -> Callable[[], None] | None:
        ex = self._store.load(task.arn)
        if ex is None or ex.status != "RUNNING":
            return None
        entry = ex.invokes.get(task.op_id)
        if entry is None:
            return None
        function = self._functions.get(entry.function_name)
        if function is None:
            changes: list[Change] = []
            error = ErrorObject(
                error_type="FunctionNotRegisteredError",
                error_message=not_registered(entry.function_name),
            )
            self._complete_invoke(
                ex.arn, task.op_id, "FAILED", changes, self._clock.now_ms(), error=error
            )
            self._commit(changes)
            return None
        return partial(self._call, task.arn, task.op_id, function.handler, entry.payload)

    def _call(self, arn: str, op_id: str, function: PlainFunction, payload: str | None) -> None:
        status: OperationStatus = "SUCCEEDED"
        result: str | None = None
        error: ErrorObject | None = None
        try:
            value = function(payload)
        except Exception as exc:
            status, error = "FAILED", error_object(exc)
        except BaseException:
            # KeyboardInterrupt and the like: the call did not happen; a later run makes it.
            with self._lock:
                ex = self._store.load(arn)
                if ex is not None and ex.status == "RUNNING":
                    change = Change(ex)
                    change.tasks = (Task(self._clock.now_ms(), arn, CALL, op_id),)
                    self._commit([change])
            raise
        else:
            if value is not None and not isinstance(value, str):
                status = "FAILED"
                error = ErrorObject(
                    error_type="TypeError",
                    error_message=(
                        f"a plain function must return a JSON string or None, got "
                        f"{type(value).__name__}"
                    ),
                )
            elif too_large(value, MAX_OPERATION_PAYLOAD_BYTES):
                status, error = "FAILED", invoked_result_too_large(value)
            else:
                result = value
        with self._lock:
            changes: list[Change] = []
            self._complete_invoke(
                arn, op_id, status, changes, self._clock.now_ms(), result=result, error=error
            )
            self._commit(changes)

    # --- reading ----------------------------------------------------------------------------------

    def _load(self, arn: str) -> StoredExecution:
        ex = self._store.load(arn) if isinstance(arn, str) else None
        if ex is None:
            raise ExecutionNotFoundError(
                f"no execution has the ARN {shown(arn)} in this LocalService; start() returns "
                "the ARN of each execution, and list_executions() lists them"
            )
        return ex

    def _page(self, arn: str, start: int) -> ExecutionState:
        size = self._page_size
        ops = self._store.operations(arn, start, size)
        marker = None
        if size is not None and start + size < self._store.operation_count(arn):
            marker = str(start + size)
        return ExecutionState(operations=ops, next_marker=marker)

    def _arn(self, function_name: str, name: str, exec_id: str) -> str:
        segment = _not_arn_safe.sub("-", function_name)[:64]
        return f"{self._arn_prefix}{segment}:$LATEST/durable-execution/{name}/{exec_id}"


def not_registered(name: str) -> str:
    """The message for a function name nothing is registered under."""
    return (
        f"no function named {name!r} is registered with this engine; register it first: "
        f"functions={{{name!r}: fn}} for dg.run or TestRunner; `durable-gen worker --register "
        f"{name}=MODULE:FUNCTION` on every worker that runs its callers (`durable-gen run` "
        "takes --register too; Worker(functions=...) from Python) for executions in a database; "
        f"service.register({name!r}, handler) for a durable function, or "
        f"service.register({name!r}, fn, durable=False) for a plain one, on a LocalService"
    )


def superseded(arn: str, number: int) -> LeaseLostError:
    """The error of an invocation that ends after another one of its execution began."""
    return LeaseLostError(
        f"invocation #{number} of {arn} outlived its lease and the execution was taken over "
        "by another worker (or handed back) meanwhile; this invocation's outcome is dropped",
        execution_arn=arn,
    )


def _crash_error(exc: BaseException) -> ErrorObject:
    if isinstance(exc, SystemExit):
        return ErrorObject(
            error_type="Runtime.ExitError",
            error_message=f"the handler exited (SystemExit {exc.code!r}) before returning",
        )
    return error_object(exc)


def _deepest_first(arn: str, children: dict[str, list[str]]) -> list[str]:
    """``arn`` and the executions under it (``children``: parent to children), each after
    the executions it invoked."""
    order: list[str] = []
    todo: list[tuple[str, bool]] = [(arn, False)]
    seen: set[str] = set()
    while todo:
        node, expanded = todo.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        todo.append((node, True))
        todo.extend((child, False) for child in children.get(node, ()))
    return order
