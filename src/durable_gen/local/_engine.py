"""``LocalService``: the embedded durable-execution engine.

It is the service side of ``DurableService`` (``checkpoint``, ``get_state``) with the state
machine of ``_state``, and it runs what the cloud runs around it: invocations of registered
handlers, timers, callbacks sent from outside, chained invokes, execution timeouts and the
history. State goes through an ``ExecutionStore``; time comes from a ``Clock``.

Scheduling rules

1.  Work is a task in the store: an invocation, a timer (wait, step retry, callback timeout or
    heartbeat timeout, execution timeout) or the call of a plain invoke target. Due tasks run
    in (due time, scheduling order).
2.  An execution has at most one invocation in flight. Each invocation gets a fresh checkpoint
    token and all the operations (paged by ``page_size``); each checkpoint returns a new token
    and only the newest is accepted. The token dies with the invocation.
3.  A change made from outside the invocation (a timer fired, a callback arrived, an invoke
    finished) schedules an invocation. While an invocation runs, the change is instead
    delivered in the response to its next checkpoint.
4.  When an invocation returns PENDING, the engine re-invokes at once if the handler was not
    told of a change, or a step is READY (unless the invocation recorded nothing: that would
    loop, so the execution fails), or something changed during the invocation and nothing is
    left to wait for. Otherwise, if timers, callbacks or invokes are open, the execution is
    suspended; with nothing open it fails (it could never resume).
5.  A handler that raises is a crashed invocation (InvocationCompleted carries the error) and
    is re-invoked; ``max_crashes`` crashes in a row fail the execution with the last error.
6.  Handlers and plain targets run on the calling thread with no lock held, so they can call
    back into the service; other threads may send callbacks at any time.
"""

from __future__ import annotations

import re
import secrets
import threading
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Final, Literal, NamedTuple, overload

from .._errors import (
    ExecutionNotFoundError,
    FunctionNotRegisteredError,
    InvalidCheckpointTokenError,
    InvalidInputError,
    PayloadTooLargeError,
    UnknownCallbackError,
    ValidationError,
)
from .._failure import error_object
from .._service import InvocationHandler
from .._wire import (
    MAX_PAYLOAD_BYTES,
    MAX_WAIT_SECONDS,
    CheckpointResponse,
    ErrorObject,
    Event,
    ExecutionState,
    InvocationInput,
    Operation,
    OperationStatus,
    OperationUpdate,
    too_large,
)
from ._clock import Clock, RealClock
from ._lifecycle import (
    CALL,
    EXECUTION_TIMEOUT,
    INVOCATION,
    Effects,
    complete_callback,
    complete_invoke,
    end_execution,
    finish_invocation,
    fire_timer,
    heartbeat,
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
    apply_checkpoint,
    describe_waiting,
)
from ._store import (
    CallbackEntry,
    Change,
    ExecutionRecord,
    ExecutionStatus,
    ExecutionStore,
    InvokeEntry,
    MemoryStore,
    StoredExecution,
    Task,
)

__all__ = ["LocalService", "PlainFunction"]

#: A plain (non-durable) ``Invoke`` target: JSON payload in, JSON result out.
PlainFunction = Callable[[str | None], str | None]

#: Timer task kinds: those that ``_fire`` handles.
_TIMERS: Final = frozenset(
    {WAIT_TIMER, RETRY_TIMER, CALLBACK_TIMEOUT, CALLBACK_HEARTBEAT, EXECUTION_TIMEOUT}
)

#: SendDurableExecutionCallbackSuccess takes a result of at most 1 MiB.
MAX_CALLBACK_RESULT_BYTES: Final = 1024 * 1024

_execution_name_ok: Final = re.compile(r"[A-Za-z0-9_-]{1,64}").fullmatch
_not_arn_safe: Final = re.compile(r"[^A-Za-z0-9_-]")


class _Function(NamedTuple):
    handler: Callable[..., Any]
    durable: bool


class LocalService:
    """The embedded durable-execution engine: a local implementation of the Lambda service.

    It implements ``DurableService`` for the handlers it invokes, and runs executions of the
    functions registered with it: timers, retries, callbacks, chained invokes, timeouts and
    the ``GetDurableExecutionHistory`` history, all in this process.

    Args:
        store: Where executions are kept (default: a new ``MemoryStore``).
        clock: The source of time (default: ``RealClock()``; ``VirtualClock()`` makes waits of
            days finish at once).
        page_size: Operations per page of state (``InitialExecutionState`` and ``get_state``);
            None (the default) sends all of them in one page.
        max_crashes: Crashed invocations in a row after which the execution fails.
        region: The region shown in ARNs.
        account_id: The account id shown in ARNs.

    Example:
        >>> from durable_gen.local import LocalService, VirtualClock
        >>> service = LocalService(clock=VirtualClock())
        >>> service.register("greet", lambda payload: payload, durable=False)
    """

    def __init__(
        self,
        *,
        store: ExecutionStore | None = None,
        clock: Clock | None = None,
        page_size: int | None = None,
        max_crashes: int = 3,
        region: str = "us-east-1",
        account_id: str = "000000000000",
    ) -> None:
        if page_size is not None and page_size < 1:
            raise ValidationError(f"page_size must be at least 1 (or None), got {page_size}")
        if max_crashes < 1:
            raise ValidationError(f"max_crashes must be at least 1, got {max_crashes}")
        if not re.fullmatch(r"[a-z0-9-]+", region):
            raise ValidationError(f"region must look like 'us-east-1', got {region!r}")
        if not re.fullmatch(r"\d{12}", account_id):
            raise ValidationError(f"account_id must be 12 digits, got {account_id!r}")
        self._store: ExecutionStore = store if store is not None else MemoryStore()
        self._clock: Clock = clock if clock is not None else RealClock()
        self._page_size = page_size
        self._max_crashes = max_crashes
        self._arn_prefix = f"arn:aws:lambda:{region}:{account_id}:function:"
        self._functions: dict[str, _Function] = {}
        # A store shared by processes brings its own lock (holding it is holding a
        # transaction, see SqliteStore); any other store is guarded by a plain lock.
        self._lock = getattr(self._store, "lock", None) or threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiters = 0

    @property
    def clock(self) -> Clock:
        """The engine's clock."""
        return self._clock

    @property
    def store(self) -> ExecutionStore:
        """The engine's store."""
        return self._store

    # --- functions --------------------------------------------------------------------------

    @overload
    def register(
        self, function_name: str, handler: InvocationHandler, *, durable: Literal[True] = ...
    ) -> None: ...

    @overload
    def register(
        self, function_name: str, handler: PlainFunction, *, durable: Literal[False]
    ) -> None: ...

    def register(
        self, function_name: str, handler: Callable[..., Any], *, durable: bool = True
    ) -> None:
        """Register a function the engine can start or ``Invoke``; registering again replaces it.

        Args:
            function_name: The name executions and ``Invoke`` commands use.
            handler: With ``durable=True``, an ``InvocationHandler`` (``InvocationInput`` in,
                ``InvocationOutput`` out) that checkpoints through this service. With
                ``durable=False``, a plain function called once per ``Invoke`` with the JSON
                payload (or None), returning a JSON string (or None); its exceptions fail the
                invoke with ErrorType = the exception's class name.
            durable: Whether ``handler`` is a durable handler or a plain function.

        Raises:
            ValidationError: the name is empty, too long or has control characters, or the
                handler is not callable.
        """
        if (
            not isinstance(function_name, str)
            or not 1 <= len(function_name) <= 256
            or not function_name.isprintable()
            or any(c in function_name for c in " :/")
        ):
            raise ValidationError(
                f"a function name must be 1-256 printable characters without spaces, ':' or "
                f"'/', got {function_name!r}"
            )
        if not callable(handler):
            raise ValidationError(f"the handler of {function_name!r} is not callable: {handler!r}")
        with self._lock:
            self._functions[function_name] = _Function(handler, durable)

    # --- executions -------------------------------------------------------------------------

    def start(
        self,
        function_name: str,
        input_payload: str | None = None,
        *,
        execution_name: str | None = None,
        execution_timeout: int | None = None,
    ) -> str:
        """Start an execution of a registered durable function; nothing runs until scheduled.

        Args:
            function_name: A function registered with ``durable=True``.
            input_payload: The input, a JSON string (or None).
            execution_name: A name unique for the function (1-64 characters of A-Z, a-z, 0-9,
                '_', '-'); starting the same name with the same input again returns the first
                execution's ARN. Default: a random id.
            execution_timeout: Seconds after which the execution TIMES_OUT (1 to 31,622,400);
                None: no limit.

        Returns:
            The durable execution ARN.

        Raises:
            FunctionNotRegisteredError: no function has that name.
            ValidationError: the function is not durable, an option is invalid, or the name is
                taken by an execution with another input.
            PayloadTooLargeError: the input is over 6 MiB.
        """
        if input_payload is not None and not isinstance(input_payload, str):
            raise InvalidInputError(
                f"input_payload must be a JSON string or None, got {type(input_payload).__name__}"
            )
        _check_payload(input_payload, "the execution input")
        if execution_name is not None and not _execution_name_ok(execution_name):
            raise ValidationError(
                "execution_name must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-', got "
                f"{execution_name!r}"
            )
        if execution_timeout is not None and (
            isinstance(execution_timeout, bool)
            or not isinstance(execution_timeout, int)
            or not 1 <= execution_timeout <= MAX_WAIT_SECONDS
        ):
            raise ValidationError(
                f"execution_timeout must be whole seconds in 1..{MAX_WAIT_SECONDS} (or None), "
                f"got {execution_timeout!r}"
            )
        with self._lock:
            function = self._functions.get(function_name)
            if function is None:
                raise FunctionNotRegisteredError(_not_registered(function_name))
            if not function.durable:
                raise ValidationError(
                    f"{function_name!r} is registered as a plain function (durable=False); only "
                    "durable handlers can be started. Invoke it from a workflow instead"
                )
            if execution_name is not None:
                existing = self._store.find(function_name, execution_name)
                if existing is not None:
                    ex = self._load(existing)
                    if ex.input == input_payload:
                        return existing
                    raise ValidationError(
                        f"an execution of {function_name!r} named {execution_name!r} already "
                        f"exists ({existing}) with another input; pick another name"
                    )
            exec_id = str(uuid.uuid4())
            arn = self._arn(function_name, execution_name or exec_id, exec_id)
            changes: list[Change] = []
            self._new_execution(
                arn, function_name, input_payload, execution_timeout, self._clock.now_ms(), changes
            )
            self._commit(changes)
            return arn

    def stop(self, execution_arn: str, error: ErrorObject | None = None) -> ExecutionRecord:
        """Stop a running execution (status STOPPED) and the executions it invoked that still run.

        Stopping an ended execution does nothing.

        Args:
            execution_arn: The execution to stop.
            error: The error to record (default: ErrorType ``Execution.Stopped``).

        Returns:
            The execution's record after the stop.
        """
        # Children invoked by this execution are stopped first (their invoke operations then
        # record STOPPED), so nothing it started keeps running on its own.
        for child in self.list_executions("RUNNING"):
            if child.parent_arn == execution_arn:
                self.stop(child.arn, error)
        with self._lock:
            ex = self._load(execution_arn)
            if ex.status == "RUNNING":
                error = error or ErrorObject(
                    error_type="Execution.Stopped", error_message="the execution was stopped"
                )
                effects = end_execution(
                    ex, self._store.lookup(ex.arn), "STOPPED", self._clock.now_ms(), error=error
                )
                changes: list[Change] = []
                self._apply(ex, effects, changes)
                self._commit(changes)
            return ex.record()

    def get_execution(self, execution_arn: str) -> ExecutionRecord:
        """A snapshot of the execution.

        Raises:
            ExecutionNotFoundError: no execution has that ARN.
        """
        with self._lock:
            return self._load(execution_arn).record()

    def list_executions(self, status: ExecutionStatus | None = None) -> list[ExecutionRecord]:
        """Every execution (or those with ``status``), in the order they started."""
        with self._lock:
            return [
                ex.record()
                for ex in self._store.executions()
                if status is None or ex.status == status
            ]

    def get_operations(self, execution_arn: str) -> list[Operation]:
        """The execution's operations in creation order (the EXECUTION operation first)."""
        with self._lock:
            self._load(execution_arn)
            return self._store.operations(execution_arn)

    def get_history(self, execution_arn: str) -> list[Event]:
        """The ``GetDurableExecutionHistory`` events of the execution, EventId 1 first."""
        with self._lock:
            self._load(execution_arn)
            return self._store.events(execution_arn)

    def waiting_on(self, execution_arn: str) -> list[str]:
        """What a running execution waits on, one line each (empty once it ended).

        Example lines: ``callback 'approval' (CallbackId 3f2a...)``,
        ``wait 'cooling-off' until 2025-01-01T00:00:30Z``, ``invoke 'tax' of 'tax-service'``.
        """
        with self._lock:
            return self._waiting(self._load(execution_arn))

    def is_progressing(self, execution_arn: str) -> bool:
        """Whether a running execution can move on without the outside (its timeout aside)."""
        with self._lock:
            ex = self._load(execution_arn)
            return ex.status == "RUNNING" and self._progressing(ex)

    # --- DurableService ---------------------------------------------------------------------

    def checkpoint(
        self,
        execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
    ) -> CheckpointResponse:
        """Record ``updates`` in order; return the new token and the operations that changed.

        The response holds the operations this checkpoint changed and those that changed
        since the invocation last saw them (a callback arrived, a timer fired).

        Raises:
            ExecutionNotFoundError: no execution has that ARN.
            InvalidCheckpointTokenError: the token is not the newest, or no invocation runs.
            InvalidCheckpointError: an update is refused; then nothing was recorded and the
                token is still valid.
        """
        store = self._store
        with self._lock:
            ex = store.load(execution_arn) if isinstance(execution_arn, str) else None
            if ex is None or checkpoint_token != ex.token or ex.status != "RUNNING":
                raise self._token_error(self._load(execution_arn), checkpoint_token)
            now = self._clock.now_ms()
            task = store.next_task()
            if task is not None and task.due_ms <= now and task.arn == execution_arn:
                self._fire_own_timers(ex, now)
                if ex.status != "RUNNING":
                    raise self._token_error(ex, checkpoint_token)
            lookup = store.lookup(execution_arn)
            applied = apply_checkpoint(
                lookup,
                updates,
                now_ms=now,
                first_event_id=ex.next_event_id,
                new_callback_id=_new_callback_id,
                resolve_invoke=self._resolve_invoke,
            )
            # Accepted: from here on nothing is refused.
            arn = ex.arn
            events = applied.raw_events
            change = Change(ex, operations=list(applied.operations.values()), events=events)
            changes = [change]
            ex.next_event_id += len(events)
            if updates:
                ex.wrote = True
            track_open(ex, change.operations)
            if applied.timers:
                change.tasks = tuple(
                    Task(due, arn, kind, op_id) for kind, op_id, due in applied.timers
                )
            change.cancelled = applied.cancelled
            if applied.callbacks:
                change.callbacks = tuple(
                    CallbackEntry(cb.callback_id, arn, cb.op_id, cb.heartbeat_seconds)
                    for cb in applied.callbacks
                )
            for started in applied.invokes:
                self._start_invoke(ex, change, changes, started, now)
            if applied.failed_invokes:
                # An invoke failed as it started: like a change from outside, it must reach the
                # workflow even if the handler suspends without looking at this response.
                ex.nudged = True
            ex.checkpoints += 1
            token = ex.token = f"{ex.nonce}{ex.invocations}x{ex.checkpoints}"
            if applied.outcome is not None:
                status, payload, error = applied.outcome
                effects = end_execution(ex, lookup, status, now, result=payload, error=error)
                self._apply(ex, effects, changes, change)
            if ex.unseen:
                delivered = {op_id: lookup(op_id) for op_id in ex.unseen}
                ex.unseen.clear()
                for op in change.operations:
                    delivered[op.id] = op
                out = [op for op in delivered.values() if op is not None]
            else:
                out = change.operations
            self._commit(changes)
            return CheckpointResponse(
                checkpoint_token=token, new_execution_state=ExecutionState(operations=out)
            )

    def get_state(self, execution_arn: str, checkpoint_token: str, marker: str) -> ExecutionState:
        """The page of operations that starts at ``marker`` (a ``NextMarker``).

        Any token issued to the running invocation is accepted.

        Raises:
            ExecutionNotFoundError: no execution has that ARN.
            InvalidCheckpointTokenError: the token does not belong to the running invocation.
            InvalidInputError: the marker was not issued by this service.
        """
        with self._lock:
            ex = self._load(execution_arn)
            prefix = f"{ex.nonce}{ex.invocations}x"
            if not ex.invoking or not checkpoint_token.startswith(prefix):
                raise self._token_error(ex, checkpoint_token)
            if not marker.isdigit():
                raise InvalidInputError(
                    f"marker {marker!r} was not issued by this service: pass a NextMarker as is"
                )
            return self._page(execution_arn, int(marker))

    # --- scheduling -------------------------------------------------------------------------

    def run_until_idle(self) -> None:
        """Run every due invocation, timer and invoke until nothing is due.

        With a skipping ``VirtualClock``, when only future timers remain the clock jumps to the
        next one (a 3-day wait finishes at once), until no timer is left. With the
        ``RealClock`` it blocks until the next timer or until work arrives from another thread
        (a callback); it returns when no timer is left. Callbacks without a timeout are not
        timers: an execution that waits only on them stays suspended.
        """
        while True:
            while self._run_one():
                pass
            with self._lock:
                task = self._store.next_task()
                if task is None:
                    return
                if task.due_ms > self._clock.now_ms() and not self._wait(task.due_ms):
                    return

    def run(self, execution_arn: str, *, until: int | None = None) -> ExecutionRecord:
        """Drive the engine until this execution ends, or can only wait for the outside.

        Other executions due meanwhile (its chained invokes, for instance) run too. It returns
        early, with the execution still RUNNING, when nothing but the outside can move it on
        (a callback without a timeout): ``waiting_on()`` says what it waits for.

        Args:
            execution_arn: The execution to drive.
            until: A time on the engine's clock (epoch ms) not to go past: a virtual clock
                stops there, a real clock blocks at most until then (and meanwhile waits for
                callbacks sent from other threads, even without timers).

        Returns:
            The execution's record: ended, or RUNNING if it waits on the outside or ``until``
            came first.
        """
        while True:
            while self._run_one():
                pass
            with self._lock:
                ex = self._load(execution_arn)
                if ex.status != "RUNNING":
                    return ex.record()
                now = self._clock.now_ms()
                if until is not None and now >= until:
                    return ex.record()
                task = self._store.next_task()
                if task is not None and task.due_ms <= now:
                    continue
                deadline: int | None
                if self._progressing(ex):
                    deadline = task.due_ms if task is not None else None
                    if until is not None:
                        deadline = until if deadline is None else min(deadline, until)
                elif until is not None:
                    deadline = until
                else:
                    return ex.record()
                if not self._wait(deadline):
                    return ex.record()

    def _wait(self, deadline_ms: int | None) -> bool:
        # Called with the lock held; the clock waits on the condition (or moves itself).
        self._waiters += 1
        try:
            if deadline_ms is None:
                self._cond.wait()
                return True
            return self._clock.wait(self._cond, deadline_ms)
        finally:
            self._waiters -= 1

    def _commit(self, changes: Sequence[Change]) -> None:
        self._store.commit(changes)
        if self._waiters:
            self._cond.notify_all()

    def _run_one(self) -> bool:
        """Run the earliest due task; False when none is due."""
        with self._lock:
            task = self._store.next_task()
            if task is None or task.due_ms > self._clock.now_ms():
                return False
            if not self._store.claim(task):
                return True
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

    def _fire_own_timers(self, ex: StoredExecution, now: int) -> None:
        # Timers of the invoking execution that came due during the invocation fire now, so
        # this checkpoint's response can tell the handler.
        store = self._store
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

    # --- invocations ------------------------------------------------------------------------

    def _begin_invocation(self, arn: str) -> Callable[[], None] | None:
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
            error = ErrorObject(
                error_type="FunctionNotRegisteredError",
                error_message=_not_registered(ex.function_name),
            )
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
        return partial(self._invoke, arn, function.handler, event, start_ms)

    def _invoke(
        self, arn: str, handler: InvocationHandler, event: InvocationInput, start_ms: int
    ) -> None:
        request_id = str(uuid.uuid4())
        try:
            output = handler(event)
        except (Exception, SystemExit) as exc:
            self._finish_invocation(arn, start_ms, request_id, None, _crash_error(exc))
        except BaseException:
            # KeyboardInterrupt and the like stop the engine, not the execution: release the
            # invocation so that a later run resumes it.
            with self._lock:
                ex = self._store.load(arn)
                if ex is not None:
                    ex.invoking = False
                    ex.token = None
                    change = Change(ex)
                    if ex.status == "RUNNING":
                        change.tasks += (Task(self._clock.now_ms(), arn, INVOCATION, ""),)
                    self._commit([change])
            raise
        else:
            self._finish_invocation(arn, start_ms, request_id, output, None)

    def _finish_invocation(
        self,
        arn: str,
        start_ms: int,
        request_id: str,
        output: object,
        crash: ErrorObject | None,
    ) -> None:
        with self._lock:
            ex = self._store.load(arn)
            if ex is None:
                return
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

    # --- chained invokes --------------------------------------------------------------------

    def _resolve_invoke(self, op_id: str, name: str) -> InvokeTarget:
        function = self._functions.get(name)
        if function is None:
            return InvokeTarget(
                error=ErrorObject(
                    error_type="FunctionNotRegisteredError", error_message=_not_registered(name)
                )
            )
        if not function.durable:
            return InvokeTarget()
        exec_id = str(uuid.uuid4())
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
                error_message=_not_registered(entry.function_name),
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
            elif too_large(value):
                status = "FAILED"
                error = ErrorObject(
                    error_type="PayloadTooLargeError",
                    error_message=f"the result is over the limit of {MAX_PAYLOAD_BYTES} bytes",
                )
            else:
                result = value
        with self._lock:
            changes: list[Change] = []
            self._complete_invoke(
                arn, op_id, status, changes, self._clock.now_ms(), result=result, error=error
            )
            self._commit(changes)

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

    # --- timers and callbacks ---------------------------------------------------------------

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

    def send_callback_success(self, callback_id: str, result: str | None = None) -> None:
        """Complete a callback with a result (``SendDurableExecutionCallbackSuccess``).

        Safe to call from any thread, including a step running inside an invocation.

        Args:
            callback_id: The id from the CALLBACK operation (``CallbackDetails.CallbackId``).
            result: The result, a JSON string (at most 1 MiB), or None.

        Raises:
            UnknownCallbackError: the id was never issued, or its callback already completed
                or timed out, or its execution ended.
            InvalidInputError: the result is not a string or is over 1 MiB.
        """
        if result is not None and not isinstance(result, str):
            raise InvalidInputError(
                f"a callback result must be a JSON string or None, got {type(result).__name__}"
            )
        if too_large(result, MAX_CALLBACK_RESULT_BYTES):
            raise InvalidInputError(
                f"a callback result is at most {MAX_CALLBACK_RESULT_BYTES} bytes; this one is "
                f"{len((result or '').encode())}"
            )
        self._complete_callback(callback_id, "SUCCEEDED", result=result)

    def send_callback_failure(self, callback_id: str, error: ErrorObject | None = None) -> None:
        """Complete a callback with a failure (``SendDurableExecutionCallbackFailure``).

        Raises:
            UnknownCallbackError: the id was never issued, or its callback already completed
                or timed out, or its execution ended.
        """
        self._complete_callback(callback_id, "FAILED", error=error)

    def send_callback_heartbeat(self, callback_id: str) -> None:
        """Tell a callback's waiter that the work is alive: restarts its heartbeat timeout.

        Raises:
            UnknownCallbackError: the id was never issued, or its callback already completed
                or timed out, or its execution ended.
        """
        with self._lock:
            ex, op, entry = self._open_callback(callback_id)
            effects = heartbeat(ex, op, entry, self._clock.now_ms())
            if effects.tasks:
                changes: list[Change] = []
                self._apply(ex, effects, changes)
                self._commit(changes)

    def _complete_callback(
        self,
        callback_id: str,
        status: OperationStatus,
        *,
        result: str | None = None,
        error: ErrorObject | None = None,
    ) -> None:
        with self._lock:
            ex, op, _ = self._open_callback(callback_id)
            effects = complete_callback(
                ex, op, status, self._clock.now_ms(), result=result, error=error
            )
            changes: list[Change] = []
            self._apply(ex, effects, changes)
            self._commit(changes)

    def _open_callback(self, callback_id: str) -> tuple[StoredExecution, Operation, CallbackEntry]:
        entry = self._store.find_callback(callback_id) if isinstance(callback_id, str) else None
        if entry is None:
            raise UnknownCallbackError(
                f"no callback has the id {callback_id!r}: use the CallbackId of a CALLBACK "
                "operation (CallbackDetails.CallbackId, or the CallbackStarted event) of this "
                "service"
            )
        ex = self._store.load(entry.arn)
        op = self._store.lookup(entry.arn)(entry.op_id) if ex is not None else None
        if ex is None or op is None:
            raise UnknownCallbackError(f"the execution of callback {callback_id!r} is gone")
        if ex.status != "RUNNING":
            raise UnknownCallbackError(
                f"callback {callback_id!r} belongs to execution {ex.arn}, which already ended "
                f"({ex.status}); nothing waits for it any more"
            )
        if op.status != "STARTED":
            raise UnknownCallbackError(
                f"callback {callback_id!r} already ended ({op.status}); a callback completes "
                "once, and a heartbeat is only accepted while it is open"
            )
        return ex, op, entry

    # --- helpers ----------------------------------------------------------------------------

    def _load(self, arn: str) -> StoredExecution:
        ex = self._store.load(arn) if isinstance(arn, str) else None
        if ex is None:
            raise ExecutionNotFoundError(
                f"no execution has the ARN {arn!r} in this LocalService; start() returns the ARN "
                "of each execution, and list_executions() lists them"
            )
        return ex

    def _arn(self, function_name: str, name: str, exec_id: str) -> str:
        segment = _not_arn_safe.sub("-", function_name)[:64]
        return f"{self._arn_prefix}{segment}:$LATEST/durable-execution/{name}/{exec_id}"

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

    def _page(self, arn: str, start: int) -> ExecutionState:
        size = self._page_size
        ops = self._store.operations(arn, start, size)
        marker = None
        if size is not None and start + size < self._store.operation_count(arn):
            marker = str(start + size)
        return ExecutionState(operations=ops, next_marker=marker)

    def _token_error(self, ex: StoredExecution, token: str) -> InvalidCheckpointTokenError:
        if ex.status != "RUNNING":
            return InvalidCheckpointTokenError(
                f"execution {ex.arn} already ended ({ex.status}); it takes no more checkpoints"
            )
        if ex.token is None:
            return InvalidCheckpointTokenError(
                f"no invocation of execution {ex.arn} is running, so no checkpoint token is "
                "valid; tokens come with each invocation and die with it"
            )
        return InvalidCheckpointTokenError(
            f"checkpoint token {token!r} is not the newest for execution {ex.arn}: use the "
            "CheckpointToken of the last CheckpointResponse (or of the invocation input if none)"
        )

    def _progressing(self, ex: StoredExecution) -> bool:
        """Whether the execution can move on without the outside (its timeout aside)."""
        if ex.invoking:
            return True
        if any(task.kind != EXECUTION_TIMEOUT for task in self._store.tasks_for(ex.arn)):
            return True
        for entry in ex.invokes.values():
            if entry.child_arn is not None:
                child = self._store.load(entry.child_arn)
                if child is not None and child.status == "RUNNING" and self._progressing(child):
                    return True
        return False

    def _waiting(self, ex: StoredExecution) -> list[str]:
        if ex.status != "RUNNING":
            return []
        lines: list[str] = []
        if ex.invoking:
            lines.append("its invocation in progress")
        elif any(task.kind == INVOCATION for task in self._store.tasks_for(ex.arn)):
            lines.append("its next invocation, due now")
        lookup = self._store.lookup(ex.arn)
        for op_id in ex.open:
            op = lookup(op_id)
            if op is None:
                continue
            entry = ex.invokes.get(op_id)
            parent = lookup(op.parent_id) if op.parent_id and not op.name else None
            line = describe_waiting(op, entry.function_name if entry else None, parent)
            if entry is not None and entry.child_arn is not None:
                child = self._store.load(entry.child_arn)
                inner = self._waiting(child) if child is not None else []
                if inner:
                    line += f", whose execution {entry.child_arn} waits on: {'; '.join(inner)}"
            lines.append(line)
        return lines


def _new_callback_id() -> str:
    # 48 hex characters: matches the API's CallbackId pattern and is safe in a URL path.
    return secrets.token_hex(24)


def _not_registered(name: str) -> str:
    return (
        f"no function named {name!r} is registered with this LocalService; register it first: "
        f"service.register({name!r}, handler) for a durable function, or "
        f"service.register({name!r}, fn, durable=False) for a plain one"
    )


def _check_payload(payload: str | None, what: str) -> None:
    if too_large(payload):
        raise PayloadTooLargeError(f"{what} is over the limit of {MAX_PAYLOAD_BYTES} bytes")


def _crash_error(exc: BaseException) -> ErrorObject:
    if isinstance(exc, SystemExit):
        return ErrorObject(
            error_type="Runtime.ExitError",
            error_message=f"the handler exited (SystemExit {exc.code!r}) before returning",
        )
    return error_object(exc)
