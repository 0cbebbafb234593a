"""``LocalService``: the embedded durable-execution engine, its public face.

It is the service side of ``DurableService`` (``checkpoint``, ``get_state``) with the state
machine of ``_state``, and it runs what the cloud runs around it: invocations of registered
handlers, timers, callbacks sent from outside, chained invokes, execution timeouts and the
history. State goes through an ``ExecutionStore``; time comes from a ``Clock``.

Where the rules are: checkpoint batches in ``_state``; what happens around them (an
invocation's output, timers, callbacks, invokes, the end of an execution) in ``_lifecycle``;
scheduling and the running of handlers in ``_runner``, whose ``Runner`` this class extends
with registration, starting and stopping, queries, callbacks sent from outside, the
``DurableService`` calls and the loops that drive the engine.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import secrets
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal, get_args, overload

from .._arguments import checked
from .._commands import StepFunction
from .._context import STEP
from .._errors import (
    FunctionNotRegisteredError,
    InvalidCheckpointError,
    InvalidCheckpointTokenError,
    InvalidInputError,
    PayloadTooLargeError,
    StoreError,
    UnknownCallbackError,
    ValidationError,
    a_kind,
    shown,
)
from .._failure import check_error_object
from .._service import InvocationHandler, conforms, instance_hint
from .._wire import (
    MAX_PAYLOAD_BYTES,
    MAX_WAIT_SECONDS,
    CheckpointResponse,
    ErrorObject,
    Event,
    ExecutionState,
    Operation,
    OperationStatus,
    OperationUpdate,
    too_large,
    unicode_error,
    unicode_spot,
    wrong_field,
)
from ._clock import Clock, RealClock
from ._dbstore import DamagedRecordError, task_function
from ._lifecycle import (
    EXECUTION_TIMEOUT,
    INVOCATION,
    complete_callback,
    end_execution,
    heartbeat,
    track_open,
)
from ._runner import Function, PlainFunction, Runner, _deepest_first, new_uuid, not_registered
from ._state import (
    CALLBACK_HEARTBEAT,
    CALLBACK_TIMEOUT,
    apply_checkpoint,
    describe_waiting,
    left_behind,
)
from ._store import (
    CallbackEntry,
    Change,
    ExecutionRecord,
    ExecutionStatus,
    ExecutionStore,
    MemoryStore,
    StoredExecution,
    Task,
)

__all__ = ["LocalService", "PlainFunction"]

#: SendDurableExecutionCallbackSuccess takes a result of at most 1 MiB.
MAX_CALLBACK_RESULT_BYTES: Final = 1024 * 1024

_execution_name_ok: Final = re.compile(r"[A-Za-z0-9_-]{1,64}").fullmatch
#: What ``register`` takes: the names an ``Invoke`` can address (``FUNCTION_NAME``'s name).
_function_name_ok: Final = re.compile(r"[A-Za-z0-9._-]{1,256}").fullmatch
#: The statuses an execution can have (what ``list_executions(status=...)`` filters on).
_EXECUTION_STATUSES: Final = get_args(ExecutionStatus)


def _is_int(value: object) -> bool:
    """An int, and not a bool (``True`` is not a count)."""
    return isinstance(value, int) and not isinstance(value, bool)


class LocalService(Runner):
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

    #: Each checkpoint's reply holds the operations as this engine recorded the updates: a
    #: driver need not compare them with what it sent (``Interpreter.observe``).
    _records_updates_as_sent: Final = True

    @checked
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
        if page_size is not None and (not _is_int(page_size) or page_size < 1):
            raise ValidationError(
                f"page_size must be an int of at least 1 (or None), got {shown(page_size)}"
            )
        if not _is_int(max_crashes) or max_crashes < 1:
            raise ValidationError(
                f"max_crashes must be an int of at least 1, got {shown(max_crashes)}"
            )
        if not isinstance(region, str) or not re.fullmatch(r"[a-z0-9-]+", region):
            raise ValidationError(f"region must look like 'us-east-1', got {shown(region)}")
        if not isinstance(account_id, str) or not re.fullmatch(r"\d{12}", account_id):
            raise ValidationError(f"account_id must be 12 digits, got {shown(account_id)}")
        if store is not None and not conforms(store, ExecutionStore):
            raise ValidationError(
                f"store must be an ExecutionStore (MemoryStore, SqliteStore, PostgresStore or "
                f"open_store(url)), got {shown(store)}{instance_hint(store)}"
                + (
                    f": open it first, store=open_store({shown(store)}) (or SqliteStore(path))"
                    if isinstance(store, str | os.PathLike)
                    else ""
                )
            )
        if clock is not None and not conforms(clock, Clock):
            raise ValidationError(
                f"clock must be a Clock (RealClock() or VirtualClock()), got {shown(clock)}"
                f"{instance_hint(clock)}"
            )
        super().__init__(
            store if store is not None else MemoryStore(),
            clock if clock is not None else _default_clock(store),
            page_size=page_size,
            max_crashes=max_crashes,
            arn_prefix=f"arn:aws:lambda:{region}:{account_id}:function:",
        )
        serve = getattr(self._store, "serve", None)
        if serve is not None:
            # A database other programs share: until functions are registered here, this
            # engine runs none of its executions (it would fail them for lack of their
            # function); it still fires timers, answers callbacks and reads state.
            serve(())

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

    @checked
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
            ValidationError: the name is empty, longer than 256 characters or has another
                character than a letter, a digit, ``-``, ``_`` or ``.`` (an ``Invoke`` could
                not name it), or the handler is not callable.
        """
        if not isinstance(function_name, str) or _function_name_ok(function_name) is None:
            raise ValidationError(
                f"a function name must be 1-256 letters, digits, '-', '_' or '.' (what an "
                f"Invoke's function_name can name, as Lambda's function names), got "
                f"{function_name!r}"
            )
        if not callable(handler):
            raise ValidationError(f"the handler of {function_name!r} is not callable: {handler!r}")
        if not isinstance(durable, bool):
            raise ValidationError(f"durable must be True or False, got {durable!r}")
        _check_handler(function_name, handler, durable)
        with self._lock:
            self._functions[function_name] = Function(handler, durable)
            names = set(self._functions)
        serve = getattr(self._store, "serve", None)
        if serve is not None:
            # A database other programs share: their executions are theirs to run (taking
            # one here would fail it for lack of its function), so run only those we know.
            serve(names)

    # --- executions -------------------------------------------------------------------------

    @checked
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
            InvalidInputError: the input is not a string, or not valid Unicode text.
        """
        if input_payload is not None and not isinstance(input_payload, str):
            raise InvalidInputError(
                f"input_payload must be a JSON string or None, got {type(input_payload).__name__}"
            )
        _check_payload(input_payload, "the execution input")
        _check_text("the execution input", input_payload)
        if execution_name is not None and (
            not isinstance(execution_name, str) or not _execution_name_ok(execution_name)
        ):
            raise ValidationError(
                "execution_name must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-', got "
                f"{shown(execution_name)}"
            )
        if execution_timeout is not None and (
            isinstance(execution_timeout, bool)
            or not isinstance(execution_timeout, int)
            or not 1 <= execution_timeout <= MAX_WAIT_SECONDS
        ):
            raise ValidationError(
                f"execution_timeout must be whole seconds in 1..{MAX_WAIT_SECONDS} (or None), "
                f"got {shown(execution_timeout)}"
            )
        if not isinstance(function_name, str):
            raise ValidationError(
                "start() takes the name a function is registered under (a str), got "
                f"{shown(function_name)}"
            )
        with self._lock:
            function = self._functions.get(function_name)
            if function is None:
                raise FunctionNotRegisteredError(not_registered(function_name))
            if not function.durable:
                raise ValidationError(
                    f"{function_name!r} is registered as a plain function (durable=False); only "
                    "durable handlers can be started. Invoke it from a workflow instead"
                )
            if execution_name is not None:
                existing = self._named(
                    function_name, execution_name, input_payload, execution_timeout
                )
                if existing is not None:
                    return existing
            exec_id = new_uuid()
            arn = self._arn(function_name, execution_name or exec_id, exec_id)
            changes: list[Change] = []
            self._new_execution(
                arn, function_name, input_payload, execution_timeout, self._clock.now_ms(), changes
            )
            try:
                self._commit(changes)
            except StoreError:
                # Another process started the same name since we looked (the name is unique
                # in the database): the same start is answered with its execution.
                if execution_name is None:
                    raise
                existing = self._named(
                    function_name, execution_name, input_payload, execution_timeout
                )
                if existing is None:
                    raise
                return existing
            return arn

    def _named(
        self,
        function_name: str,
        execution_name: str,
        input_payload: str | None,
        execution_timeout: int | None,
    ) -> str | None:
        """The execution of ``function_name`` named ``execution_name``, if any; a
        ``ValidationError`` when it has another input or another timeout."""
        existing = self._store.find(function_name, execution_name)
        if existing is None:
            return None
        ex = self._load(existing)
        if ex.input != input_payload:
            raise ValidationError(
                f"an execution of {function_name!r} named {execution_name!r} already exists "
                f"({existing}) with another input; pick another name"
            )
        if ex.timeout_seconds != execution_timeout:
            # Answering with it would leave the caller believing its timeout applies.
            had = "none" if ex.timeout_seconds is None else f"{ex.timeout_seconds} s"
            asked = "none" if execution_timeout is None else f"{execution_timeout} s"
            raise ValidationError(
                f"an execution of {function_name!r} named {execution_name!r} already exists "
                f"({existing}) with another execution_timeout ({had}; this start asks for "
                f"{asked}); start it again as it was started, or pick another name"
            )
        return existing

    @checked
    def stop(self, execution_arn: str, error: ErrorObject | None = None) -> ExecutionRecord:
        """Stop a running execution (status STOPPED) and the executions it invoked that still run.

        Stopping an ended execution does nothing.

        Args:
            execution_arn: The execution to stop.
            error: The error to record (default: ErrorType ``Execution.Stopped``).

        Returns:
            The execution's record after the stop.

        Raises:
            InvalidInputError: ``error`` is not an ``ErrorObject``, or holds text that is not
                valid Unicode.
            PayloadTooLargeError: ``error`` is over the 32 KiB limit of an error object.
        """
        if error is not None and not isinstance(error, ErrorObject):
            raise InvalidInputError(
                f"stop() takes error= as an ErrorObject(error_type=..., error_message=...) or "
                f"None, got {type(error).__name__}"
            )
        check_error_object(error, "stop()'s error=", InvalidInputError)
        error = error or ErrorObject(
            error_type="Execution.Stopped", error_message="the execution was stopped"
        )
        # One hold of the lock (one transaction on a database): the executions it invoked
        # that still run are stopped first (their invoke operations then record STOPPED), so
        # nothing it started keeps running on its own, and no invocation of it can begin in
        # between, which would run its code after the stop, on news of a child's stop.
        below = self._below(execution_arn)
        with self._lock:
            self._lock_first(below)
            self._load(execution_arn)  # an unknown ARN: ExecutionNotFoundError
            children = self._running_children(execution_arn)
            for arn in _deepest_first(execution_arn, children):
                self._fire_overdue(arn)
                ex = self._load(arn)
                if ex.status == "RUNNING":
                    effects = end_execution(
                        ex, self._store.lookup(ex.arn), "STOPPED", self._clock.now_ms(), error=error
                    )
                    changes: list[Change] = []
                    self._apply(ex, effects, changes)
                    self._commit(changes)
            return self._load(execution_arn).record()

    @checked
    def get_execution(self, execution_arn: str) -> ExecutionRecord:
        """A snapshot of the execution.

        Raises:
            ExecutionNotFoundError: no execution has that ARN.
        """
        with self._lock:
            return self._load(execution_arn).record()

    @checked
    def list_executions(self, status: ExecutionStatus | None = None) -> list[ExecutionRecord]:
        """Every execution (or those with ``status``), in the order they started.

        Raises:
            ValidationError: ``status`` is not one an execution can have.
        """
        if status is not None and (
            not isinstance(status, str) or status not in _EXECUTION_STATUSES
        ):
            raise ValidationError(
                f"status must be one of {', '.join(_EXECUTION_STATUSES)} (or None for every "
                f"execution), got {shown(status)}"
            )
        with self._lock:
            return [
                ex.record()
                for ex in self._store.executions()
                if status is None or ex.status == status
            ]

    @checked
    def get_operations(self, execution_arn: str) -> list[Operation]:
        """The execution's operations in creation order (the EXECUTION operation first)."""
        with self._lock:
            self._load(execution_arn)
            return self._store.operations(execution_arn)

    @checked
    def get_history(self, execution_arn: str) -> list[Event]:
        """The ``GetDurableExecutionHistory`` events of the execution, EventId 1 first."""
        with self._lock:
            self._load(execution_arn)
            return self._store.events(execution_arn)

    @checked
    def waiting_on(self, execution_arn: str) -> list[str]:
        """What a running execution waits on, one line each (empty once it ended).

        Example lines: ``callback 'approval' (CallbackId 3f2a...)``,
        ``wait 'cooling-off' until 2025-01-01T00:00:30.000+00:00``,
        ``invoke 'tax' of 'tax-service'``.
        """
        below = self._below(execution_arn)
        with self._lock:
            self._lock_first(below)
            return self._waiting(self._load(execution_arn))

    def is_progressing(self, execution_arn: str) -> bool:
        """Whether a running execution can move on without the outside (its timeout aside):
        an invocation of it or of an execution it invoked runs, or this process may run some
        of their scheduled work (with a store that serves some functions only, not the
        invocations of the others, which wait for a process that serves them)."""
        below = self._below(execution_arn)
        with self._lock:
            self._lock_first(below)
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
            try:
                task = store.next_task()
            except DamagedRecordError:  # the engine's look for work sets it aside
                task = None
            if task is not None and task.due_ms <= now and task.arn == execution_arn:
                self._fire_own_timers(ex, now)
                if ex.status != "RUNNING":
                    raise self._token_error(ex, checkpoint_token)
            lookup = store.lookup(execution_arn)
            try:
                applied = apply_checkpoint(
                    lookup,
                    updates,
                    now_ms=now,
                    first_event_id=ex.next_event_id,
                    new_callback_id=_new_callback_id,
                    resolve_invoke=self._resolve_invoke,
                )
            except (AttributeError, TypeError) as exc:  # nothing is recorded before the commit
                raise _malformed(updates) or exc from None
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

    @checked
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

    @checked
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

        Raises:
            ValidationError: ``until`` is not whole epoch milliseconds (an int) or None.
        """
        if until is not None and not _is_int(until):
            raise ValidationError(
                f"until must be a time on the engine's clock in whole epoch milliseconds (an "
                f"int), or None, got {shown(until)}"
            )
        running = STEP.get()
        if running is not None:
            self._refuse_own_run(execution_arn, running[0])
        while True:
            while self._run_one():
                pass
            below = self._below(execution_arn)
            with self._lock:
                self._lock_first(below)
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

    # --- timers and callbacks ---------------------------------------------------------------

    def _refuse_own_run(self, execution_arn: str, step_arn: str) -> None:
        """Refuse ``run()`` of an execution from a step of it (or of an execution it invoked,
        and so on down): the step runs inside the invocation that ``run()`` would wait to
        end, so it would wait for ever."""
        with self._lock:
            arn: str | None = step_arn
            while arn is not None and arn != execution_arn:
                ex = self._store.load(arn)
                arn = None if ex is None else ex.parent_arn
        if arn is None:
            return
        whose = "that execution" if step_arn == execution_arn else f"{step_arn}, which it invoked"
        raise ValidationError(
            f"run({execution_arn!r}) was called from a step of {whose}: it would wait for "
            "ever, for the invocation that runs this step to end. Return from the step and let "
            "the engine go on (whoever drives the execution, run() or a worker, runs its next "
            "steps); to start another execution from a step, call start() and do not wait "
            "for it there, or yield dg.Invoke(...) from the workflow to wait for its result"
        )

    @checked
    def send_callback_success(self, callback_id: str, result: str | None = None) -> None:
        """Complete a callback with a result (``SendDurableExecutionCallbackSuccess``).

        Safe to call from any thread, including a step running inside an invocation.

        Args:
            callback_id: The id from the CALLBACK operation (``CallbackDetails.CallbackId``).
            result: The result, a JSON string (at most 1 MiB), or None.

        Raises:
            UnknownCallbackError: the id was never issued, or its callback already completed
                or timed out, or its execution ended.
            InvalidInputError: the result is not a string, is over 1 MiB or is not valid
                Unicode text.
        """
        if result is not None and not isinstance(result, str):
            raise InvalidInputError(
                f"a callback result must be a JSON string or None, got {type(result).__name__}"
            )
        _check_text("the callback result", result)
        if too_large(result, MAX_CALLBACK_RESULT_BYTES):
            raise InvalidInputError(
                f"a callback result is at most {MAX_CALLBACK_RESULT_BYTES} bytes (1 MiB); this "
                f"one is {len((result or '').encode())}: keep the large value elsewhere (a "
                "file, an object store) and send where it is; the callback stays open"
            )
        self._complete_callback(callback_id, "SUCCEEDED", result=result)

    @checked
    def send_callback_failure(self, callback_id: str, error: ErrorObject | None = None) -> None:
        """Complete a callback with a failure (``SendDurableExecutionCallbackFailure``).

        Raises:
            UnknownCallbackError: the id was never issued, or its callback already completed
                or timed out, or its execution ended.
            InvalidInputError: ``error`` is not an ``ErrorObject``, or holds text that is not
                valid Unicode.
            PayloadTooLargeError: ``error`` is over the 32 KiB limit of an error object (as
                the service counts it: JSON with non-ASCII characters escaped).
        """
        if error is not None and not isinstance(error, ErrorObject):
            raise InvalidInputError(
                f"a callback failure must be an ErrorObject(error_type=..., error_message=...) "
                f"(from durable_gen.runtime import ErrorObject) or None, got "
                f"{type(error).__name__}"
            )
        check_error_object(error, "the callback failure", InvalidInputError)
        self._complete_callback(callback_id, "FAILED", error=error)

    @checked
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
                f"no callback has the id {shown(callback_id)}{_id_hint(callback_id)}: use the "
                "CallbackId of a CALLBACK operation (CallbackDetails.CallbackId, or the "
                "CallbackStarted event) of this service"
            )
        self._fire_overdue(entry.arn, entry.op_id)
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

    def _recorded_checkpoint(
        self, execution_arn: str, checkpoint_token: str
    ) -> CheckpointResponse | None:
        """The reply to the checkpoint sent with ``checkpoint_token`` if it was recorded although
        its caller saw the database fail (the connection went as the commit was acknowledged),
        else None: so the invocation goes on as if the reply had come, instead of being handed
        back and replayed (which would count an at-most-once step whose START it recorded, and
        that never ran, as interrupted). Recorded means the execution's token is the one that
        checkpoint made; the reply holds every operation, since the lost one may have carried
        changes from outside."""
        head, sep, count = checkpoint_token.rpartition("x")
        if not sep or not count.isdigit():
            return None
        successor = f"{head}x{int(count) + 1}"
        with self._lock:
            ex = self._store.load(execution_arn)
            if ex is None or ex.status != "RUNNING" or ex.token != successor:
                return None
            out = self._store.operations(execution_arn)
        return CheckpointResponse(
            checkpoint_token=successor, new_execution_state=ExecutionState(operations=out)
        )

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
        """Whether the execution can move on without the outside (its timeout aside): an
        invocation of it runs, or this process may run some of its scheduled work. A store
        that serves some functions only (``serve()``) leaves the invocations and calls of the
        others to a process that serves them: waiting for those is waiting for the outside."""
        if ex.invoking:
            return True
        serving: tuple[str, ...] | None = getattr(self._store, "_serving", None)
        for task in self._store.tasks_for(ex.arn):
            if task.kind == EXECUTION_TIMEOUT:
                continue
            if serving is None:
                return True
            function = task_function(ex, task)  # None: a timer, which any process fires
            if function is None or function in serving:
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
        timers = {
            (task.kind, task.op_id): task.due_ms
            for task in self._store.tasks_for(ex.arn)
            if task.kind in (CALLBACK_TIMEOUT, CALLBACK_HEARTBEAT)
        }
        for op_id in ex.open:
            op = lookup(op_id)
            if op is None or left_behind(op, lookup):
                continue
            entry = ex.invokes.get(op_id)
            parent = lookup(op.parent_id) if op.parent_id and not op.name else None
            line = describe_waiting(
                op,
                entry.function_name if entry else None,
                parent,
                times_out_at=timers.get((CALLBACK_TIMEOUT, op_id)),
                heartbeat_due=timers.get((CALLBACK_HEARTBEAT, op_id)),
            )
            if entry is not None and entry.child_arn is not None:
                child = self._store.load(entry.child_arn)
                inner = self._waiting(child) if child is not None else []
                if inner:
                    line += f", whose execution {entry.child_arn} waits on: {'; '.join(inner)}"
            lines.append(line)
        return lines


def _id_hint(callback_id: object) -> str:
    """What a callback id of the wrong kind probably is, and what to pass instead."""
    from .._commands import CallbackHandle  # the error path only

    if isinstance(callback_id, CallbackHandle):
        return " (a CallbackHandle, not its id: pass handle.callback_id)"
    if isinstance(callback_id, bytes | bytearray):
        return " (bytes, not a str: pass callback_id.decode())"
    if not isinstance(callback_id, str):
        return f" ({a_kind(callback_id)}: a callback id is a str)"
    return padded_hint(callback_id)


def padded_hint(ref: str) -> str:
    """Say so when ``ref`` (a callback or execution id) has spaces or quotes around it (copied
    with them)."""
    bare = ref.strip().strip("'\"").strip()
    if bare and bare != ref:
        return f" (it has spaces or quotes around it: the id is {shown(bare)})"
    return ""


def _new_callback_id() -> str:
    # 48 hex characters: matches the API's CallbackId pattern and is safe in a URL path.
    return secrets.token_hex(24)


def _check_text(what: str, *texts: str | None) -> None:
    """Refuse text that is not valid Unicode (a lone surrogate, as a ``surrogateescape``
    decode leaves): no store and no JSON reader carries it, so it would fail the write."""
    for text in texts:
        exc = None if text is None else unicode_error(text)
        if exc is not None:
            raise InvalidInputError(
                f"{what} is not valid Unicode text ({unicode_spot(exc)}); "
                "send valid UTF-8, cleaned with s.encode('utf-8', 'replace').decode() if need be"
            )


def _check_payload(payload: str | None, what: str) -> None:
    if too_large(payload):
        raise PayloadTooLargeError(f"{what} is over the limit of {MAX_PAYLOAD_BYTES} bytes")


def _default_clock(store: object) -> Clock:
    """The wall clock: a store shared by hosts (Postgres) gives its server's, so that every
    host of a fleet agrees on when a timer is due."""
    engine_clock: Callable[[], Clock] | None = getattr(store, "engine_clock", None)
    return engine_clock() if engine_clock is not None else RealClock()


def _check_handler(name: str, handler: Callable[..., Any], durable: bool) -> None:
    """A ``ValidationError`` for a handler whose call could never give the engine what it
    needs: a workflow, a ``@step`` function or an ``async def`` given where an
    ``InvocationHandler`` (``durable=True``) or a plain JSON function (``durable=False``)
    belongs. Said where it is registered, not as an unusable output of every execution."""
    target = handler
    while isinstance(target, functools.partial):
        target = target.func
    target = inspect.unwrap(target)
    advice = (
        f"Register a workflow with register_function(service, {name!r}, workflow) (from "
        f"durable_gen.local), which builds its handler, or service.register({name!r}, "
        f"make_handler(workflow, service)) (from durable_gen.runtime)"
    )
    if isinstance(handler, StepFunction):
        raise ValidationError(
            f"the handler of {name!r} is a @step function, whose call only builds a Step "
            f"command. {advice}; a plain function called with the JSON payload is registered "
            f"with durable=False"
        )
    if inspect.isgeneratorfunction(target):
        raise ValidationError(
            f"the handler of {name!r} is a workflow (a generator function), not "
            + ("an InvocationHandler" if durable else "a plain function of the JSON payload")
            + f". {advice}"
        )
    if inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target):
        raise ValidationError(
            f"the handler of {name!r} is an async def function: the engine calls its handlers "
            f"with no event loop running, so its call would only make a coroutine. "
            + (advice if durable else "Register a plain def function (durable=False)")
        )


def _malformed(updates: object) -> InvalidCheckpointError | None:
    """The refusal of updates built by hand with a field of another type (OperationUpdate(...)
    checks no types), looked for only once applying them failed; None if none is."""
    for update in updates if isinstance(updates, list | tuple) else ():
        wrong = wrong_field(update, "") if isinstance(update, OperationUpdate) else None
        if wrong is not None:
            return InvalidCheckpointError(
                f"checkpoint refused, nothing was recorded: the update of operation "
                f"{shown(update.id)} is not a well-formed OperationUpdate: its {wrong} (build "
                "it with the types durable_gen.runtime declares, or decode the request with "
                "msgspec); the token is still valid"
            )
    return None
