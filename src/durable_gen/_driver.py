"""The driver: runs one invocation of a workflow against a ``DurableService``.

It reads every page of state, then carries out what the interpreter's ``next_action()`` asks:
``Flush`` becomes a checkpoint call with the newest token (the reply goes back through
``observe``), ``RunTasks`` runs steps (inline when there is one sync step and nothing else
runs, else concurrently: sync steps in worker threads, async steps on one anyio event loop),
``Done`` becomes the invocation output. When to checkpoint is the interpreter's decision
(its ``checkpointing`` mode: ``"step"``, ``"eager"`` or ``"batch"``), never the driver's.

True start times: in ``"step"`` mode a step still running after ``start_window`` (5 ms by
default) has its START checkpointed (``Interpreter.started``) while it goes on, so the history
carries its real start time and a crash during it leaves the START recorded. A lone sync step
runs inline and a watchdog thread sends its START (the driver's thread touches neither the
interpreter nor the service until the step returns and the watchdog is disarmed); steps in
worker threads are watched by the driver's thread. A step that ends within the window costs one
checkpoint, START and outcome together.

Step timeouts (``Step(timeout=...)``, and on Lambda the invocation's remaining time): the
interpreter puts each attempt's deadline on its ``StepTask``; here an async attempt is cancelled
at it, and a sync attempt with a deadline runs in a worker thread that is waited for only until
then. Threads cannot be killed: an abandoned thread runs to its end, and what it returns or
raises is dropped, never reported to the interpreter, never recorded. An attempt that ends after
its deadline (an async step that swallows the cancellation or blocks its event loop, a thread
that finishes while the driver was busy elsewhere) is timed out all the same: its deadline, not
when the driver got to it, decides. (Every failed attempt is
logged once, at WARNING on ``durable_gen.steps``, by the interpreter: see ``_logger``.)

A checkpoint reply without a token (the service withholds it from an execution paused with
``PauseDurableExecution``): the updates of that call are recorded, but nothing more can be; the
invocation stops at once and returns PENDING (steps still running are abandoned, and run again
when the service invokes the execution after it is resumed). A reply to the update that ends the
EXECUTION itself needs no token after it.

Worker threads belong to the drivers that use them: an ``invoke`` call holds them for its
invocation, a handler from ``make_handler`` for its life; drivers alive at the same time share
them, and they are shut down ``LINGER`` seconds (1 s) after the last invocation that used them
ended, once no driver holds them: a driver that comes within that time (the next ``run()``
of a script, which builds a new engine and handler each time) reuses them instead of starting
threads again. Nothing keeps them longer. Steps
still running when an invocation returns (a batch decided without them) are abandoned; their
results are never recorded.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import contextvars
import functools
import inspect
import itertools
import json
import math
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Final

import anyio
import anyio.from_thread
import anyio.to_thread

from ._actions import (
    Action,
    CheckpointMode,
    Done,
    Failed,
    Flush,
    Outcome,
    RunTasks,
    StepTask,
    Succeeded,
    VirtualContextEvent,
    check_mode,
)
from ._arguments import checked, get_close_matches
from ._codec import PayloadFormat
from ._context import STEP
from ._errors import (
    DurableGenError,
    InvalidCheckpointTokenError,
    InvalidInputError,
    StepFailedError,
    StepTimeoutError,
    ValidationError,
    WorkflowDefinitionError,
    finite,
    shown,
)
from ._interpreter import Interpreter, check_host_options, check_payload_format
from ._interpreter_steps import refused_result
from ._paging import check_page, load_operations, read_pages
from ._plugins import AttemptInfo, Hooks, Plugin
from ._serdes import Serdes
from ._service import DurableService, InvocationHandler, conforms, instance_hint
from ._versioning import EpochSeconds
from ._wire import (
    MAX_PAYLOAD_BYTES,
    TERMINAL_STATUSES,
    CheckpointResponse,
    InvocationInput,
    InvocationOutput,
    Operation,
    OperationUpdate,
)

__all__ = ["CheckpointMode", "invoke", "invoke_async", "make_handler"]

#: Results above this many bytes are checkpointed on the EXECUTION operation instead of being
#: returned, leaving room for the response envelope under the 6 MiB invocation limit.
RETURN_LIMIT: Final = MAX_PAYLOAD_BYTES - 64 * 1024
#: Bytes one character of a result may take inside the invocation's response, where the result
#: is a JSON string: an astral character escaped as two ``\uXXXX``.
_MAX_ESCAPED: Final = 12
#: Worker threads of one invocation, at most (sync steps of a Map or Parallel).
MAX_STEP_THREADS: Final = 64
#: Seconds a step may run before its START is checkpointed while it goes on (``"step"`` mode).
START_WINDOW: Final = 0.005
#: Seconds worker threads outlive the last invocation that used them, when no driver holds
#: them any more: a driver that comes within that time reuses them.
LINGER: Final = 1.0
#: Seconds an idle thread of the timed-attempt pool (``DaemonThreads``) waits for work.
_DAEMON_IDLE: Final = 10.0

#: A step attempt's outcome: (its value, None) or (None, the exception it raised).
_Result = tuple[Any, Exception | None]


class _TokenWithheld(Exception):
    """The service answered a checkpoint without a new token (the execution was paused), or
    with the execution stopped or timed out: this invocation may send nothing more, so it
    ends PENDING."""


#: An EXECUTION operation in a checkpoint reply with one of these statuses ended from outside
#: its code (``StopDurableExecution``, its timeout): no step may start after it.
_STOPPED_FROM_OUTSIDE: Final = frozenset({"STOPPED", "TIMED_OUT"})


class _Invocation:
    """One invocation's I/O: the service, the newest token, plugin hooks, the output."""

    def __init__(
        self,
        workflow: Callable[..., Any],
        event: InvocationInput,
        service: DurableService,
        mode: CheckpointMode,
        serdes: Serdes | None,
        plugins: Sequence[Plugin],
        clock: Callable[[], float] | None,
        payload_format: PayloadFormat = "json",
        time_left: float | None = None,
        start_window: float | None = START_WINDOW,
    ) -> None:
        if type(event) is not InvocationInput:
            _check_event(event)
        #: How long a step runs before its START goes out; None: with its outcome.
        self.window = start_window if mode == "step" else None
        #: When the invocation must be over (``time.monotonic()``), or None: no bound.
        self.ends_at = None if time_left is None else time.monotonic() + time_left
        self.clock = clock if clock is not None else service_clock(service)
        self.service = service
        self.arn = event.durable_execution_arn
        if type(self.arn) is not str:  # an InvocationInput built in code is not type-checked
            raise ValidationError(
                f"the event's durable_execution_arn must be a str, got {self.arn!r}"
            )
        self.token = event.checkpoint_token
        operations = load_operations(
            event.initial_execution_state,
            lambda marker: service.get_state(self.arn, self.token, marker),
        )
        self.execution_op: Operation | None = next(
            (op for op in operations if op.type == "EXECUTION"), None
        )
        if self.execution_op is None and not operations:
            raise InvalidInputError(
                f"the state of {self.arn} has no EXECUTION operation: the event's "
                "initial_execution_state, and every page get_state() gave for it, hold no "
                "operation at all. An InvocationInput carries the execution's state, its first "
                "page holding the EXECUTION operation (which carries the input): build it with "
                "initial_execution_state=ExecutionState(operations=list(store.values()))"
            )
        if self.execution_op is None:
            raise InvalidInputError(
                f"the state of {self.arn} has no EXECUTION operation (it carries the input): "
                "the history is truncated or not from a durable execution"
            )
        if self.execution_op.status in TERMINAL_STATUSES:
            raise InvalidInputError(
                f"the execution {self.arn} ended as {self.execution_op.status} (the Status of "
                "its EXECUTION operation) and was invoked again: an ended execution is not "
                "invoked, and its steps would run before the service refused their "
                "checkpoint. Nothing was run"
            )
        self.interp = Interpreter._hosted(  # the options were checked by the caller
            workflow, operations, self.arn, serdes, mode, self.clock, payload_format
        )
        self.interp._host_sets_step = True  # call(), acall() and run_fn() set STEP
        # the embedded engine's replies are its records of the updates, by construction
        self.interp._trusted_replies = getattr(service, "_records_updates_as_sent", False)
        self.hooks = (
            Hooks(
                check_plugins(plugins),
                self.arn,
                operations,
                updated=event.updated_operation_ids,
            )
            if plugins
            else None
        )

    def alone(self, tasks: list[StepTask], running: int) -> StepTask | None:
        """The task of ``tasks`` if it is one sync step, nothing else running, no deadline: it
        runs on this thread, inline when there is no window (no START to send while it runs),
        else watched (``_StepThreads.run_watched``)."""
        if len(tasks) != 1 or running or self.ends_at is not None:
            return None
        task = tasks[0]
        return task if not task.is_async and task.deadline_ms is None else None

    def send_start(self, task: StepTask) -> None:
        """Checkpoint the START of ``task``, still running, if the interpreter has one to send."""
        flush = self.interp.started(task)
        if flush is not None:
            self.interp.observe(self.checkpoint(flush.updates, flush.events))

    def happened(self, action: Action) -> None:
        """Fire the hooks of the events an action other than a ``Flush`` carries."""
        if action.events and self.hooks is not None:
            self.hooks.sending((), action.events)

    # --- steps ------------------------------------------------------------------------------

    def call(self, task: StepTask) -> _Result:
        """Run a sync step, firing the attempt hooks around it: ``(value, None)`` or
        ``(None, error)``, whether it runs inline or in a worker thread."""
        token = STEP.set((self.arn, task))
        try:
            hooks = self.hooks
            attempt = (
                hooks.attempt_start(task, self.interp.pending_updates, self.interp.pending_events)
                if hooks
                else None
            )
            try:
                value = task.fn(*task.args, **task.kwargs)
            except Exception as exc:
                return self._failed(attempt, exc)
            except _cancelled_error() as exc:  # nothing cancels a sync step: its own
                return self._failed(attempt, _cancelled_by_the_step(exc))
            if hooks is not None and attempt is not None:
                hooks.attempt_end(attempt, refused_result(task, value))
            return value, None
        finally:  # also when a BaseException (a crash) goes through
            STEP.reset(token)

    async def acall(self, task: StepTask, limit: tuple[float, str] | None = None) -> _Result:
        """Run an async step, firing the attempt hooks around it (see ``call``); with a
        ``limit`` (from ``limit()``), it is cancelled when that runs out."""
        token = STEP.set((self.arn, task))
        try:
            hooks = self.hooks
            attempt = (
                hooks.attempt_start(task, self.interp.pending_updates, self.interp.pending_events)
                if hooks
                else None
            )
            try:
                if limit is None:
                    value = await task.fn(*task.args, **task.kwargs)
                elif limit[0] <= 0:  # no time left: the attempt does not start
                    return self.timed_out(task, attempt, limit, _NOT_STARTED)
                else:
                    scope = anyio.move_on_after(limit[0])
                    try:
                        with scope:
                            value = await task.fn(*task.args, **task.kwargs)
                    except Exception:
                        if anyio.current_time() >= scope.deadline:  # raised past it: dropped
                            return self.timed_out(task, attempt, limit, _LATE)
                        raise
                    if scope.cancelled_caught:
                        return self.timed_out(task, attempt, limit)
                    # it returned after all, past its deadline: it swallowed the cancellation,
                    # or blocked the event loop until then (what it returned is dropped)
                    if anyio.current_time() >= scope.deadline:
                        return self.timed_out(task, attempt, limit, _LATE)
            except Exception as exc:
                return self._failed(attempt, exc)
            except _cancelled_error() as exc:
                if _task_cancelled():  # the driver's or the host's cancellation: goes on out
                    raise
                return self._failed(attempt, _cancelled_by_the_step(exc))
            if hooks is not None and attempt is not None:
                hooks.attempt_end(attempt, refused_result(task, value))
            return value, None
        finally:  # also when a BaseException (a crash) goes through
            STEP.reset(token)

    # --- step timeouts ------------------------------------------------------------------------

    def limit(self, task: StepTask) -> tuple[float, str] | None:
        """How long ``task`` may still run, in seconds, and what sets that bound (the step's
        timeout or the invocation's remaining time); None when nothing bounds it."""
        limit: tuple[float, str] | None = None
        if task.deadline_ms is not None:
            limit = (task.deadline_ms / 1000 - self.clock(), f"its {task.timeout:g} s timeout")
        if self.ends_at is not None:
            left = self.ends_at - time.monotonic()
            if limit is None or left < limit[0]:
                limit = (left, f"the {max(left, 0):.3f} s the invocation had left")
        return limit

    def begin(self, task: StepTask) -> AttemptInfo | None:
        """Fire the attempt's start hooks (for a sync attempt run by ``run_fn``)."""
        hooks = self.hooks
        return (
            hooks.attempt_start(task, self.interp.pending_updates, self.interp.pending_events)
            if hooks
            else None
        )

    def run_noting_end(self, task: StepTask, ended: list[float], deadline: float) -> _Result:
        """``run_fn``, noting in ``ended`` the ``time.monotonic()`` at which the function
        ended: an attempt that ended past its deadline timed out, however late the driver
        (busy checkpointing another step, or calling a plugin) looks at it. One that gets its
        thread only after its ``deadline`` does not run (``ended`` stays empty)."""
        if time.monotonic() >= deadline:
            return None, None
        result = self.run_fn(task)
        ended.append(time.monotonic())
        return result

    def run_fn(self, task: StepTask) -> _Result:
        """Run a sync step's function, in a worker thread, without hooks (``begin`` and
        ``finish`` fire them in the driver's thread, so an abandoned attempt fires no more)."""
        token = STEP.set((self.arn, task))
        try:
            value = task.fn(*task.args, **task.kwargs)
        except Exception as exc:
            if exc.__traceback__ is not None:
                exc.__traceback__ = exc.__traceback__.tb_next
            return None, exc
        except _cancelled_error() as exc:  # nothing cancels a sync step: its own
            return None, _cancelled_by_the_step(exc)
        finally:
            STEP.reset(token)
        return value, None

    def finish(
        self, attempt: AttemptInfo | None, result: _Result, task: StepTask | None = None
    ) -> _Result:
        """Fire the end hooks of an attempt run by ``run_fn``; ``result`` unchanged."""
        if self.hooks is not None and attempt is not None:
            error = result[1]
            if error is None and task is not None:
                error = refused_result(task, result[0])
            self.hooks.attempt_end(attempt, error)
        return result

    def timed_out(
        self,
        task: StepTask,
        attempt: AttemptInfo | None,
        limit: tuple[float, str],
        how: str | None = None,
    ) -> _Result:
        """The outcome of an attempt stopped (or no longer waited for) at its deadline;
        ``how`` says what became of it, when it was not stopped there."""
        if how is None:
            how = _CANCELLED if task.is_async else _ABANDONED
        if limit[1].startswith("its "):  # the step's own timeout= (see ``limit``)
            fix = "give the step a larger timeout, or make it faster"
        else:
            fix = (
                "give the function more time (on Lambda, its Timeout setting), or make the step "
                "faster"
            )
        error = StepTimeoutError(
            f"step {task.name or task.operation_id!r} attempt {task.attempt} did not finish "
            f"within {limit[1]} and {how}; {fix}",
            error_type="StepTimeoutError",
        )
        return self._failed(attempt, error)

    def _failed(self, attempt: AttemptInfo | None, exc: Exception) -> _Result:
        # The recorded stack trace starts at the step function, not at the driver frame that
        # called it: a step fails with the same trace inline, in a thread or on an event loop.
        if exc.__traceback__ is not None:
            exc.__traceback__ = exc.__traceback__.tb_next
        if self.hooks is not None and attempt is not None:
            self.hooks.attempt_end(attempt, exc)
        return None, exc

    def report(self, task: StepTask, result: _Result) -> None:
        """Give a step's outcome to the interpreter (which logs a failed attempt)."""
        value, error = result
        if error is None:
            self.interp.task_succeeded(task, value)
        else:
            self.interp.task_failed(task, error)

    # --- checkpoints --------------------------------------------------------------------------

    def checkpoint(
        self, updates: list[OperationUpdate], events: Sequence[VirtualContextEvent] = ()
    ) -> list[Operation]:
        """Send ``updates`` with the newest token; the operations the reply changed. The
        operation hooks of ``updates`` and ``events`` fire first, in the order they happened."""
        if self.hooks is not None:
            self.hooks.sending(updates, events)
        reply = self.service.checkpoint(self.arn, self.token, updates)
        if (type(reply) is not CheckpointResponse or type(reply.checkpoint_token) is not str) and (
            not isinstance(reply, CheckpointResponse)
            or not isinstance(reply.checkpoint_token, str | None)
        ):
            if inspect.isawaitable(reply):  # closed: no "never awaited" warning follows
                getattr(reply, "close", lambda: None)()
            raise InvalidInputError(
                f"the service's checkpoint() returned {reply!r}: a DurableService's checkpoint() "
                "returns CheckpointResponse(checkpoint_token=<the new token, a str; None when "
                "the invocation may checkpoint no more>, "
                "new_execution_state=ExecutionState(operations=<the operations it changed>))"
            )
        state = reply.new_execution_state
        check_page(
            state, "the service's checkpoint() reply (CheckpointResponse.new_execution_state)"
        )
        operations = state.operations
        if reply.checkpoint_token is None:  # paused: these updates are recorded, no more can be
            if self.hooks is not None:
                self.hooks.observe(operations)
            if any(u.type == "EXECUTION" for u in updates):
                return operations  # the execution's own end: nothing is sent after it
            raise _TokenWithheld
        self.token = reply.checkpoint_token
        if state.next_marker:  # more pages of what changed (news, not the whole state)
            operations = read_pages(
                state, lambda marker: self.service.get_state(self.arn, self.token, marker)
            )
        if self.hooks is not None:
            self.hooks.observe(operations)
        for op in operations:
            if op.type == "EXECUTION" and op.status in _STOPPED_FROM_OUTSIDE:
                raise _TokenWithheld  # stopped or timed out: what was sent is all there is
        return operations

    def withheld(self) -> InvocationOutput:
        """The output of an invocation the service stopped by withholding the token: PENDING
        (the service invokes the execution again once it may go on)."""
        output = InvocationOutput(status="PENDING")
        if self.hooks is not None:
            self.hooks.end(output)
        return output

    def refused(self) -> None:
        """The service refused a checkpoint's token (the execution ended meanwhile: stopped or
        timed out; or a newer invocation holds it): nothing more of this invocation is
        recorded, as when the token is withheld, so the plugins see it end PENDING. The error
        goes on to the host."""
        if self.hooks is not None:
            self.hooks.end(InvocationOutput(status="PENDING"))

    # --- the output ---------------------------------------------------------------------------

    def output(self, outcome: Outcome) -> InvocationOutput:
        """The invocation output for ``outcome``; a result too large to return is checkpointed."""
        if isinstance(outcome, Succeeded):
            result = outcome.result
            output = seen = InvocationOutput(status="SUCCEEDED", result=result)
            if len(result) > RETURN_LIMIT // _MAX_ESCAPED and _returned_size(result) > RETURN_LIMIT:
                op = self.execution_op
                self.checkpoint(
                    [
                        OperationUpdate(
                            id=op.id if op is not None else "execution",
                            type="EXECUTION",
                            action="SUCCEED",
                            payload=result,
                        )
                    ]
                )
                output = InvocationOutput(status="SUCCEEDED", result="")
        elif isinstance(outcome, Failed):
            output = seen = InvocationOutput(status="FAILED", error=outcome.error)
        else:
            output = seen = InvocationOutput(status="PENDING")
        if self.hooks is not None:  # the plugins see the result the service recorded
            self.hooks.end(seen)
        return output


class _StepThreads:
    """Worker threads for sync steps, started on first need.

    Drivers hold it: ``invoke`` for one invocation, a handler from ``make_handler`` for its
    life. Drivers alive at the same time share one instance (starting a thread costs more than
    a short step). After each invocation it is also kept for ``LINGER`` seconds (``_kept``,
    released by its watchdog thread once that time has passed with no invocation ending), so
    that a driver created right after the last one let go (``run()`` in a loop) finds its
    threads started. When nothing holds it any more, it is collected and its threads are shut
    down. A weak reference finds the live one.
    """

    _live: ClassVar[weakref.ref[_StepThreads] | None] = None
    #: The instance whose last invocation ended less than ``LINGER`` seconds ago.
    _kept: ClassVar[_StepThreads | None] = None

    @classmethod
    def acquire(cls) -> _StepThreads:
        """The instance the drivers alive now use, or a new one if there is none."""
        live = cls._live() if cls._live is not None else None
        if live is None:
            live = cls()
            cls._live = weakref.ref(live)
        return live

    def __init__(
        self,
        portal: Callable[[], anyio.from_thread.BlockingPortal] | None = None,
        pool: Callable[[], cf.Executor] | None = None,
    ) -> None:
        #: The host's event loop for async steps, and its pool for sync ones (both its own).
        self.portal = portal
        self._host_pool = pool
        self._pools: list[cf.ThreadPoolExecutor] = []  # zero or one; shared with the finalizer
        self._watchdog: _Watchdog | None = None
        self._watchdogs: list[_Watchdog] = []  # zero or one; shared with the finalizer
        #: When an invocation that used these threads last ended (``time.monotonic()``).
        self._last_used = 0.0
        weakref.finalize(self, _shut_down, self._pools, self._watchdogs)
        _every.add(self)

    def _started_watchdog(self) -> _Watchdog:
        watchdog = self._watchdog
        if watchdog is None:
            watchdog = self._watchdog = _Watchdog(_keeper(weakref.ref(self)))
            self._watchdogs.append(watchdog)
        return watchdog

    def used(self) -> None:
        """An invocation that used these threads ended: keep them ``LINGER`` seconds more.

        Threads a host supplies (``portal``/``pool``) live as long as its handlers: not kept."""
        if self.portal is not None or self._host_pool is not None:
            return
        self._last_used = time.monotonic()
        if _StepThreads._kept is not self:
            _StepThreads._kept = self
            self._started_watchdog().kept()

    def run_watched(self, inv: _Invocation, task: StepTask) -> _Result:
        """Run one sync step inline, and have its START sent meanwhile if it still runs after
        ``inv.window`` (by the watchdog thread; this thread touches neither the interpreter
        nor the service until the step returns and the watchdog is disarmed)."""
        watchdog = self._watchdog
        if watchdog is None:
            watchdog = self._started_watchdog()
        job = watchdog.arm(inv, task)
        try:
            result = inv.call(task)
        finally:
            failed = watchdog.disarm(job)
        if failed is not None:  # the START checkpoint failed: as if it had been sent from here
            raise failed
        return result

    def submit_timed(self, fn: Callable[[StepTask], _Result], task: StepTask) -> cf.Future[_Result]:
        """Run a sync attempt that has a deadline: in a daemon thread (``DaemonThreads``),
        unless the host runs sync steps in its own pool (which then decides)."""
        if self._host_pool is not None:
            pool = _host_pool(self._host_pool)
            try:
                return pool.submit(fn, task)
            except RuntimeError as exc:  # shut down by the host
                raise _host_stopped("pool", pool, exc) from exc
        return daemon_threads().submit(fn, task)

    def submit(self, fn: Callable[[StepTask], _Result], task: StepTask) -> cf.Future[_Result]:
        if self._host_pool is not None:
            pool = _host_pool(self._host_pool)
            try:
                return pool.submit(fn, task)
            except RuntimeError as exc:  # shut down by the host
                raise _host_stopped("pool", pool, exc) from exc
        if not self._pools:
            self._pools.append(
                cf.ThreadPoolExecutor(
                    max_workers=MAX_STEP_THREADS, thread_name_prefix="durable-gen-step"
                )
            )
        return self._pools[0].submit(fn, task)


class DaemonThreads(cf.Executor):
    """Daemon worker threads for the sync attempts that have a deadline: ``MAX_STEP_THREADS``
    running at most, plus one for each attempt abandoned at its deadline and still running
    (a call that hangs must not starve the attempts that come after it); reused while idle,
    ended after ``_DAEMON_IDLE`` seconds without work.

    An attempt abandoned at its deadline may never end. In the threads of a
    ``ThreadPoolExecutor`` (the driver's, or the host's ``pool=``) it would hold up the
    process's exit, which joins them, and a host's ``shutdown(wait=True)``, for as long as it
    runs: ``durable-gen run`` would print its result and not return. A daemon thread holds
    neither; what it still runs when the process exits is stopped with it (its result would
    have been dropped anyway).
    """

    def __init__(self) -> None:
        self._work: queue.SimpleQueue[tuple[cf.Future[Any], Callable[[], Any]]]
        self._work = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._count = 0  # threads alive
        self._limit = MAX_STEP_THREADS  # raised by one per abandoned attempt still running
        self._running: set[cf.Future[Any]] = set()
        self._abandoned: set[cf.Future[Any]] = set()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        future: cf.Future[Any] = cf.Future()
        self._work.put((future, functools.partial(fn, *args, **kwargs)))
        if not self._idle.acquire(blocking=False):  # no idle thread: start one, if allowed
            self._start()
        return future

    def abandon(self, future: cf.Future[Any]) -> None:
        """The driver stopped waiting for ``future``'s attempt, still running, at its deadline:
        its thread no longer counts toward the limit (another may start in its place)."""
        with self._lock:
            if future not in self._running or future in self._abandoned:
                return
            self._abandoned.add(future)
            self._limit += 1
        if not self._work.empty():  # work waits for a thread: one more may take it now
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._count >= self._limit:
                return
            self._count += 1
        threading.Thread(target=self._serve, name="durable-gen-timed-step", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                future, fn = self._work.get(timeout=_DAEMON_IDLE)
            except queue.Empty:
                # idle for long: end, unless a submit counted on this thread meanwhile
                if self._idle.acquire(blocking=False):
                    with self._lock:
                        self._count -= 1
                    return
                continue
            with self._lock:  # running, and known to ``abandon``, at once
                started = future.set_running_or_notify_cancel()
                if started:
                    self._running.add(future)
            if started:
                try:
                    future.set_result(fn())
                except BaseException as exc:  # a crash (KeyboardInterrupt...) goes to the driver
                    future.set_exception(exc)
                with self._lock:
                    self._running.discard(future)
                    if future in self._abandoned:
                        self._abandoned.discard(future)
                        self._limit -= 1
                    if self._count > self._limit:  # one too many now: this one ends
                        self._count -= 1
                        return
            del future, fn
            self._idle.release()


#: The daemon threads of every driver in this process (started on first need).
_DAEMONS: list[DaemonThreads] = []
_DAEMONS_LOCK = threading.Lock()


def daemon_threads() -> DaemonThreads:
    """The daemon threads of sync attempts with a deadline, shared by the whole process."""
    with _DAEMONS_LOCK:
        if not _DAEMONS:
            _DAEMONS.append(DaemonThreads())
        return _DAEMONS[0]


#: The step threads of handlers whose host runs their steps, by (portal, pool).
_HOSTED: weakref.WeakValueDictionary[tuple[object, object], _StepThreads]
_HOSTED = weakref.WeakValueDictionary()
_HOSTED_LOCK = threading.Lock()


def _hosted(
    portal: Callable[[], anyio.from_thread.BlockingPortal] | None,
    pool: Callable[[], cf.Executor] | None,
) -> _StepThreads:
    """The step threads that handlers given this ``portal`` and ``pool`` share."""
    with _HOSTED_LOCK:
        threads = _HOSTED.get((portal, pool))
        if threads is None:
            threads = _HOSTED[(portal, pool)] = _StepThreads(portal, pool)
        return threads


#: Every live instance, for ``_forget_after_fork``.
_every: weakref.WeakSet[_StepThreads] = weakref.WeakSet()


def _forget_after_fork() -> None:
    """In a forked child, the threads of the parent's instances do not exist (their pool would
    count them as idle and queue steps for no thread): each instance starts afresh."""
    for threads in list(_every):
        threads._pools.clear()  # not shut down: its threads and locks are the parent's
        threads._watchdogs.clear()
        threads._watchdog = None
    _StepThreads._kept = None
    _DAEMONS.clear()  # its threads are the parent's


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def _keeper(ref: weakref.ref[_StepThreads]) -> Callable[[], float | None]:
    """What the watchdog of the threads ``ref`` names calls when it has no job: releases them
    from ``_StepThreads._kept`` once ``LINGER`` seconds passed since their last invocation
    ended; the seconds until then, or None when they are not kept."""

    def idle() -> float | None:
        threads = ref()
        if threads is None or _StepThreads._kept is not threads:
            return None
        left = threads._last_used + LINGER - time.monotonic()
        if left > 0:
            return left
        _StepThreads._kept = None  # shut down now if no driver holds them (the finalizer)
        return None

    return idle


class _Watchdog:
    """One thread that sends the START of steps running inline once they run past the window.

    Drivers alive at the same time share it (a worker running several invocations): each armed
    step is its own job. Arming and disarming a step that ends within its window take no lock
    (a dict insert and a pop, each atomic): the thread is woken only when it would otherwise
    wake too late, and else wakes when the earliest job is due. Whoever pops a job first owns
    it: the thread pops a due job and sends its START while holding the lock, so a ``disarm``
    that finds its job gone waits for the lock, that is until that checkpoint is done: an
    invocation's interpreter and service are never used by two threads at once. With no job,
    it calls ``idle`` (which ends the ``LINGER`` time of its threads) and sleeps until the time
    it returns, if any.
    """

    def __init__(self, idle: Callable[[], float | None] = lambda: None) -> None:
        self._idle = idle
        self._lock = threading.RLock()  # the finalizer may stop it from its own thread
        self._cond = threading.Condition(self._lock)
        self._jobs: dict[int, tuple[_Invocation, StepTask, float]] = {}
        self._failed: dict[int, BaseException] = {}
        self._ids = itertools.count()
        #: When the thread wakes next (``time.monotonic()``); ``math.inf``: only when woken
        #: (also while it is awake: a job armed before it sleeps again must wake it).
        self._wakes_at = math.inf
        #: The last job armed, and the last one before the thread found no job and napped.
        self._armed = self._napped = -1
        self._stopped = False
        threading.Thread(target=self._loop, name="durable-gen-start", daemon=True).start()

    def arm(self, inv: _Invocation, task: StepTask) -> int:
        """Watch ``task``; the job's id, for ``disarm``."""
        window = inv.window
        assert window is not None
        due = time.monotonic() + window
        job = self._armed = next(self._ids)
        self._jobs[job] = (inv, task, due)  # first the job, then the check (see _loop)
        if due < self._wakes_at:  # it would wake too late: wake it now
            with self._lock:
                if due < self._wakes_at:
                    # Woken, it copies every job armed until then: the arms that come before
                    # it runs need not wake it again (each notify costs a lock round trip).
                    self._wakes_at = due
                    self._cond.notify()
        return job

    def disarm(self, job: int) -> BaseException | None:
        """Stop watching; the error of the job's START checkpoint if it failed meanwhile."""
        if self._jobs.pop(job, None) is not None:
            return None  # popped before the thread took it: no START was sent
        with self._lock:  # the thread took it: its START checkpoint is over once this is held
            return self._failed.pop(job, None)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def kept(self) -> None:
        """Its threads are kept from now on: have ``idle`` called when the time is up."""
        with self._cond:
            self._cond.notify()

    def _loop(self) -> None:
        with self._lock:
            while not self._stopped:
                # Awake: a job armed from now on notifies (it sees math.inf), and one armed
                # before is in the copy _next() takes. So no job is missed, without arm() locking.
                self._wakes_at = math.inf
                again, wait = self._next()
                if not again and not self._stopped:  # _idle() may have stopped it
                    self._cond.wait(wait)

    def _next(self) -> tuple[bool, float | None]:
        """Send the START of the earliest job if it is due: (True, None), to look again. Else
        (False, seconds to sleep, or None: until woken). A method of its own, so that the
        sleeping thread holds no job: a job's invocation holds its engine and handler."""
        # A copy first: copying runs no Python code, so no other thread arms or disarms during
        # it; iterating the dict itself allocates a tuple per job, and a garbage collection
        # that runs then (finalizers are Python code) can let another thread change its size.
        jobs = list(self._jobs.copy().items())
        if not jobs:
            if self._armed != self._napped:
                # Steps came and went since the last look: more are likely. Sleep one window
                # as if a job were due then, so that arming one meanwhile wakes nobody (a
                # wake per step costs a futex call and a switch of threads on every step).
                self._napped = self._armed
                self._wakes_at = time.monotonic() + START_WINDOW
                return False, START_WINDOW
            return False, self._idle()
        job, (inv, task, due) = min(jobs, key=_due)
        left = due - time.monotonic()
        if left > 0:
            self._wakes_at = due
            return False, left
        if self._jobs.pop(job, None) is not None:  # else disarmed meanwhile: the step is over
            try:
                inv.send_start(task)
            except BaseException as exc:  # raised by the step's thread when it is done
                self._failed[job] = exc
        return True, None


def _due(job: tuple[int, tuple[_Invocation, StepTask, float]]) -> float:
    return job[1][2]


def _shut_down(pools: list[cf.ThreadPoolExecutor], watchdogs: list[_Watchdog]) -> None:
    for pool in pools:
        pool.shutdown(wait=False, cancel_futures=True)
    pools.clear()
    while watchdogs:
        watchdogs.pop().stop()


class _NeverRaised(BaseException):
    """What ``_cancelled_error`` gives while asyncio is not imported: nothing raises it."""


def _cancelled_error() -> type[BaseException]:
    """``asyncio.CancelledError``, once something imported asyncio (a step, or anyio's event
    loop), else a class nothing raises: asyncio and the modules it imports (ssl, subprocess)
    stay out of a process whose steps never use it (a larger heap makes every collection of
    the garbage collector longer). Called only when a step raised something other than an
    ``Exception``."""
    asyncio = sys.modules.get("asyncio")
    return _NeverRaised if asyncio is None else asyncio.CancelledError


def _task_cancelled() -> bool:
    """Whether the asyncio task running here was asked to cancel (by a cancel scope of the
    driver or of the host), as opposed to a step raising ``CancelledError`` on its own."""
    import asyncio  # an asyncio.CancelledError was caught: asyncio is imported

    try:
        task = asyncio.current_task()
    except RuntimeError:  # not on asyncio (trio): its cancellations are no CancelledError
        return False
    return task is not None and task.cancelling() > 0


def _cancelled_by_the_step(exc: BaseException) -> StepFailedError:
    """The failure of an attempt whose step raised ``asyncio.CancelledError`` itself (a library
    that reports its own timeout or shutdown that way): a failed attempt, for the retry policy
    like any other, not a crash of the invocation (a ``BaseException`` would be one)."""
    message = str(exc) or "the step raised CancelledError"
    error = StepFailedError(
        f"{message} (raised by the step itself: nothing cancelled it; catch it in the step to "
        "give another outcome)",
        error_type="CancelledError",
    )
    error.__cause__ = exc
    return error


#: What became of an attempt still waiting for a worker thread at its deadline.
_QUEUED: Final = "was not started (no worker thread was free before then)"
_NOT_STARTED: Final = "was not started"
_CANCELLED: Final = "was cancelled"
_ABANDONED: Final = "was abandoned (its thread runs on)"
#: What became of an attempt that returned (or raised) only after its deadline.
_LATE: Final = "ended only after it (what it returned or raised is dropped)"
#: What can become of a timed-out attempt, as its ``StepTimeoutError`` says (after "did not
#: finish within ... and "): which one depends on when the step's thread came back, so a
#: check that compares two runs (``testing.assert_deterministic``) leaves it out.
TIMEOUT_FATES: Final = (_QUEUED, _NOT_STARTED, _CANCELLED, _ABANDONED, _LATE)

#: A sync attempt with a deadline, running in a worker thread: its deadline (monotonic), its
#: hook info, its limit (``_Invocation.limit``), and when its function ended (empty until then).
_TimedAttempt = tuple[float, AttemptInfo | None, tuple[float, str], list[float]]

#: The longest one wait for running steps lasts, in seconds (then it is waited for again).
_LONGEST_WAIT: Final = 86_400.0


class _Workers:
    """The steps one invocation runs concurrently: sync ones in threads, async ones on an
    event-loop thread that lives as long as the invocation."""

    def __init__(self, inv: _Invocation, threads: _StepThreads) -> None:
        self._inv = inv
        self._threads = threads
        self._stack: contextlib.ExitStack | None = None
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self.inflight: dict[cf.Future[_Result], StepTask] = {}
        #: Sync attempts with a deadline: (monotonic deadline, hook info, the limit, when the
        #: function ended: empty until it has).
        self._timed: dict[cf.Future[_Result], _TimedAttempt] = {}
        #: Steps whose START goes out if they still run at this ``time.monotonic()``.
        self._start_by: dict[cf.Future[_Result], float] = {}

    def submit(self, task: StepTask) -> None:
        inv = self._inv
        limit = inv.limit(task)
        future = self._start(task, limit)
        if future is not None:
            self.inflight[future] = task
            if inv.window is not None:
                self._start_by[future] = time.monotonic() + inv.window

    def _start(self, task: StepTask, limit: tuple[float, str] | None) -> cf.Future[_Result] | None:
        inv = self._inv
        if task.is_async:
            if self._portal is None and self._threads.portal is not None:
                self._portal = _host_portal(self._threads.portal)  # the host's: not closed
            if self._portal is None:
                self._stack = contextlib.ExitStack()
                self._portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal())
            try:
                future = self._portal.start_task_soon(inv.acall, task, limit)
            except RuntimeError as exc:  # the host's portal, stopped by the host
                if self._stack is not None:
                    raise
                raise _host_stopped("portal", self._portal, exc) from exc
        elif limit is None:
            # in the invocation's context, as a step run in line (or async) sees it: what the
            # caller and the start hooks keep in context variables
            context = contextvars.copy_context()
            future = self._threads.submit(lambda t: context.run(inv.call, t), task)
        else:
            attempt = inv.begin(task)
            if limit[0] <= 0:  # no time left: the attempt does not start
                inv.report(task, inv.timed_out(task, attempt, limit, _NOT_STARTED))
                return None
            # in the context the start hooks set (what they keep in context variables)
            context = contextvars.copy_context()
            ended: list[float] = []
            # the deadline counts from now: a host's pool may take its time to return (the
            # determinism check's runs a timed step before returning, until its timeout)
            deadline = time.monotonic() + limit[0]
            future = self._threads.submit_timed(
                lambda t: context.run(inv.run_noting_end, t, ended, deadline), task
            )
            self._timed[future] = (deadline, attempt, limit, ended)
        return future

    def report_next(self) -> None:
        """Wait for at least one running step, or the nearest deadline; report every step that
        finished, and every sync step past its deadline as timed out (its thread abandoned)."""
        timed = self._timed
        start_by = self._start_by
        wait_for = None
        if timed or start_by:
            first = min(
                min((t[0] for t in timed.values()), default=math.inf),
                min(start_by.values(), default=math.inf),
            )
            # at most a day per wait (the caller waits again): a timeout of centuries is
            # longer than a thread can be told to wait (OverflowError past TIMEOUT_MAX)
            wait_for = min(max(0.0, first - time.monotonic()), _LONGEST_WAIT)
        done, _ = cf.wait(self.inflight, timeout=wait_for, return_when=cf.FIRST_COMPLETED)
        inv = self._inv
        # In the order the steps were handed out (``done`` is a set): steps that finished
        # together are reported the same way every time.
        for future in [f for f in self.inflight if f in done]:
            task = self.inflight.pop(future)
            start_by.pop(future, None)
            # KeyboardInterrupt, SystemExit... come out of result(): the invocation stops, as
            # when the step runs inline; recording it as a step failure would make a crash an
            # outcome.
            result = future.result()
            entry = timed.pop(future, None)
            if entry is not None:
                deadline, attempt, limit, ended = entry
                if not ended:  # it got a thread only after its deadline: not run
                    result = inv.timed_out(task, attempt, limit, _QUEUED)
                elif ended[0] >= deadline:  # it ended too late: what it gave is dropped
                    result = inv.timed_out(task, attempt, limit, _LATE)
                else:
                    result = inv.finish(attempt, result, task)
            inv.report(task, result)
        if timed:
            now = time.monotonic()
            expired = [f for f, entry in timed.items() if entry[0] <= now]
            # One still waiting for a free thread never starts (it would run after its failure
            # was recorded): all of those are cancelled first, before a thread freed by an
            # abandoned attempt can take one. One running is abandoned: its thread runs on, its
            # future is dropped, so what it returns is never reported.
            not_started = {f for f in expired if f.cancel()}
            for future in expired:
                _, attempt, limit, _ = timed.pop(future)
                start_by.pop(future, None)
                task = self.inflight.pop(future)
                if future not in not_started:
                    daemon_threads().abandon(future)
                how = _QUEUED if future in not_started else None
                inv.report(task, inv.timed_out(task, attempt, limit, how))
        if start_by:
            now = time.monotonic()
            for future, due in list(start_by.items()):
                if due <= now:
                    del start_by[future]
                    inv.send_start(self.inflight[future])

    def close(self) -> None:
        """Drop the steps not started yet; abandon those running (their results are ignored)."""
        for future in self.inflight:
            if not future.cancel() and future in self._timed:
                daemon_threads().abandon(future)  # its thread no longer counts
        self.inflight.clear()
        self._timed.clear()
        self._start_by.clear()
        if self._stack is not None:
            self._stack.close()
            self._stack = None
            self._portal = None


def service_clock(service: object) -> Callable[[], float]:
    """What ``Now()`` reads when the host passes no clock: the service's own clock when it has
    one (the embedded engine's ``clock``, virtual or real, so that ``Now()`` moves with the
    waits it runs: its ``now()`` in epoch seconds, else ``now_ms() / 1000``), else
    ``time.time``. A ``clock`` whose reading is not a number (another kind of object that a
    service of one's own calls ``clock``) is not taken."""
    clock = getattr(service, "clock", None)
    if clock is None:
        return time.time
    now = getattr(clock, "now", None)
    now_ms = getattr(clock, "now_ms", None)
    if callable(now) and _reads_a_number(now):
        if type(clock).__module__.startswith("durable_gen."):
            # The engine's clocks read epoch seconds up to the year 9999 (a VirtualClock may
            # start anywhere a datetime can): no reading of theirs is milliseconds. A clock
            # whose time is whole milliseconds gives Now() its time exactly from them.
            return EpochSeconds(now, now_ms if getattr(clock, "_whole_ms", False) else None)
        return now  # type: ignore[no-any-return]
    if callable(now_ms) and _reads_a_number(now_ms):
        return EpochSeconds(lambda: now_ms() / 1000)
    return time.time


def _reads_a_number(read: Callable[[], object]) -> bool:
    try:
        sample = read()
    except Exception:
        return False
    return type(sample) is int or type(sample) is float


#: Workflows ``check_workflow`` accepted (a bounded memo: a process has few).
_WORKFLOWS: dict[object, None] = {}


def check_workflow(workflow: object, who: str) -> None:
    """A ``WorkflowDefinitionError`` unless ``workflow`` is a generator function (through
    decorators and ``functools.partial``): said where a handler is built, so that a bad deploy
    fails to start up instead of failing every execution it resumes, for good."""
    try:
        if workflow in _WORKFLOWS:  # checked before (dg.run builds a handler per run)
            return
    except TypeError:  # unhashable: checked each time
        pass
    if not callable(workflow):
        raise WorkflowDefinitionError(
            f"{who} needs a workflow generator function, got {shown(workflow)}"
        )
    target = inspect.unwrap(workflow)
    if inspect.isgeneratorfunction(target):
        if len(_WORKFLOWS) < 1024:
            with contextlib.suppress(TypeError):
                _WORKFLOWS[workflow] = None
        return
    if inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target):
        kind = "an `async def` function"
    else:
        kind = "not a generator function"
    raise WorkflowDefinitionError(
        f"{who} needs a workflow, a generator function that yields commands; "
        f"{getattr(workflow, '__qualname__', workflow)!r} is {kind} (only steps may be "
        "`async def`; write `result = yield some_step(x)` in a `def` workflow)"
    )


def _kind(value: object) -> str:
    """How a message names what was given: its type, or the class itself."""
    if isinstance(value, type):
        return f"the class {value.__name__}"
    return type(value).__name__


def check_service(service: object) -> None:
    """A ``ValidationError`` unless ``service`` implements ``DurableService``."""
    if not conforms(service, DurableService):
        raise ValidationError(
            "the service must implement durable_gen.runtime.DurableService (checkpoint() and "
            f"get_state()), got {_kind(service)}: pass a LocalService, a LambdaService "
            f"or your own store{instance_hint(service)}"
        )
    for method in ("checkpoint", "get_state"):
        if inspect.iscoroutinefunction(getattr(service, method)):
            raise ValidationError(
                f"the service's {method}() is an async def: a DurableService's checkpoint() "
                "and get_state() are plain functions that return their reply (invoke and "
                "invoke_async both call them directly, invoke_async on the event loop's "
                "thread). Make them def: call a blocking client there, or run the invocation "
                "with invoke in a worker thread (anyio.to_thread.run_sync) and reach your "
                "async client from them with anyio.from_thread.run"
            )


def _check_options(
    checkpointing: object, serdes: object, clock: object, payload_format: object
) -> None:
    """The ``ValidationError`` of a driver's option that cannot be one (the interpreters
    it makes are not checked again, ``Interpreter._hosted``)."""
    check_mode(checkpointing)
    check_payload_format(payload_format)
    check_host_options(serdes, clock)


def _check_event(event: object) -> None:
    """Refuse an invocation's event of the wrong kind before anything is read."""
    if not isinstance(event, InvocationInput):
        raise ValidationError(
            "an invocation takes an InvocationInput (durable_gen.runtime.InvocationInput), got "
            f"{type(event).__name__}: decode a JSON event with "
            "msgspec.json.decode(data, type=InvocationInput), or a dict with "
            "msgspec.convert(event, InvocationInput)"
        )


def check_plugins(plugins: object) -> Sequence[Plugin]:
    """``plugins`` as given, when it is a sequence (a list, a tuple) of ``Plugin`` instances."""
    if not isinstance(plugins, Sequence) or isinstance(plugins, str | bytes):
        raise ValidationError(
            f"plugins must be a list of Plugin instances, got {type(plugins).__name__} (write "
            "plugins=[MyPlugin()])"
        )
    for plugin in plugins:
        if not isinstance(plugin, Plugin):
            if isinstance(plugin, type) and issubclass(plugin, Plugin):
                raise ValidationError(
                    f"plugins must be Plugin instances, got the class {plugin.__name__}: pass "
                    f"an instance, plugins=[{plugin.__name__}()]"
                )
            raise ValidationError(
                f"plugins must be Plugin instances (subclasses of durable_gen.Plugin), got "
                f"{plugin!r}"
            )
        if type(plugin) not in _CHECKED_PLUGINS:
            _check_hooks(type(plugin))
        own = getattr(plugin, "__dict__", None)
        if own and any(name.startswith("on_") for name in own):
            try:
                seen = plugin in _CHECKED_INSTANCES
            except TypeError:  # unhashable: checked each time it is given
                seen = False
            if not seen:
                _check_instance_hooks(plugin, own)
                with contextlib.suppress(TypeError):  # no weak reference to it: the same
                    _CHECKED_INSTANCES.add(plugin)
    return plugins


def _check_instance_hooks(plugin: Plugin, own: dict[str, Any]) -> None:
    """Hooks set on the instance (``self.on_attempt_end = ...`` in ``__init__``), which the
    class's check does not see, are held to the same rules."""
    who = type(plugin).__name__
    for name, hook in own.items():
        if not name.startswith("on_") or not callable(hook):
            continue
        if name not in _HOOKS:
            close = get_close_matches(name, _HOOKS, n=1)
            meant = f"did you mean {close[0]}? " if close else ""
            raise ValidationError(
                f"{who}'s attribute {name} is not a hook of Plugin, so nothing would ever call "
                f"it; {meant}Plugin's hooks are {', '.join(_HOOKS)}"
            )
        target = getattr(hook, "func", hook)  # a functools.partial's function
        if inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target):
            kind = "an async function"
        elif inspect.isgeneratorfunction(target):
            kind = "a generator function"
        else:
            kind = ""
        if kind:
            raise ValidationError(
                f"{who}'s {name} (set on the instance) is {kind}: hooks are called as plain "
                f"functions, so its body would never run. Make it a plain function"
            )
        expected = list(inspect.signature(getattr(Plugin, name)).parameters)[1:]
        try:
            signature = inspect.signature(hook)
        except (TypeError, ValueError):  # a callable whose signature Python cannot tell
            continue
        try:
            signature.bind(*([None] * len(expected)))
        except TypeError as exc:
            raise ValidationError(
                f"{who}'s {name}{signature} (set on the instance) cannot take the arguments it "
                f"is called with ({exc}), so every call would fail and be ignored: give it "
                f"the parameters ({', '.join(expected)})"
            ) from None


#: Plugin classes whose hooks were checked (a class is checked once, not per invocation).
_CHECKED_PLUGINS: weakref.WeakSet[type] = weakref.WeakSet()
#: Plugins whose hooks set on the instance were checked (once, not per invocation).
_CHECKED_INSTANCES: weakref.WeakSet[object] = weakref.WeakSet()
_HOOKS: Final = tuple(name for name in vars(Plugin) if name.startswith("on_"))


def _check_hooks(cls: type) -> None:
    """Refuse a hook that calling does not run: an ``async def`` or a generator function, or
    a method named like a hook that ``Plugin`` does not have (a misspelt hook)."""
    for name in dir(cls):
        if name.startswith("on_") and name not in _HOOKS and callable(getattr(cls, name)):
            close = get_close_matches(name, _HOOKS, n=1)
            meant = f"did you mean {close[0]}? " if close else ""
            raise ValidationError(
                f"{cls.__name__}.{name} is not a hook of Plugin, so nothing would ever call it; "
                f"{meant}Plugin's hooks are {', '.join(_HOOKS)}. Rename it to the hook you "
                f"meant, or give a helper method a name that does not start with on_"
            )
    for name in _HOOKS:
        hook = getattr(cls, name)
        if inspect.iscoroutinefunction(hook) or inspect.isasyncgenfunction(hook):
            kind = "an async def"
        elif inspect.isgeneratorfunction(hook):
            kind = "a generator function"
        else:
            continue
        raise ValidationError(
            f"{cls.__name__}.{name} is {kind}: hooks are called as plain functions, from the "
            f"thread that runs the invocation or the step, so its body would never run. Make "
            f"it a plain def (to hand work to an event loop, use "
            f"asyncio.run_coroutine_threadsafe or loop.call_soon_threadsafe from it)"
        )
    for name in _HOOKS:
        _check_hook_signature(cls, name)
    _CHECKED_PLUGINS.add(cls)


def _check_hook_signature(cls: type, name: str) -> None:
    """Refuse a hook that cannot take the arguments it is called with (every call would
    raise a ``TypeError``, logged and ignored: the hook would never run)."""
    static = inspect.getattr_static(cls, name)
    if static is inspect.getattr_static(Plugin, name):
        return
    expected = list(inspect.signature(getattr(Plugin, name)).parameters)[1:]
    hook = getattr(cls, name)
    try:
        signature = inspect.signature(hook)
    except (TypeError, ValueError):  # a callable whose signature Python cannot tell
        return
    bound_self = isinstance(static, staticmethod | classmethod) or not inspect.isfunction(hook)
    try:
        signature.bind(*([None] * (len(expected) + (0 if bound_self else 1))))
    except TypeError as exc:
        raise ValidationError(
            f"{cls.__name__}.{name}{signature} cannot take the arguments it is called with "
            f"({exc}), so every call would fail and be ignored: write "
            f"def {name}(self, {', '.join(expected)})"
        ) from None


def _check_host_threads(portal: object, pool: object) -> None:
    """``portal=`` and ``pool=`` of ``make_handler`` are functions (or None)."""
    for name, given, what in (
        ("portal", portal, "the anyio BlockingPortal"),
        ("pool", pool, "the concurrent.futures.Executor"),
    ):
        if given is not None and not callable(given):
            raise ValidationError(
                f"make_handler() takes {name}= as a function returning {what} that runs the "
                f"steps (called when a step first needs it), got {type(given).__name__}: pass "
                f"{name}=lambda: your_{name}"
            )


def _host_pool(get: Callable[[], cf.Executor]) -> cf.Executor:
    """What the host's ``pool=`` function returns, checked."""
    pool = get()
    if not callable(getattr(pool, "submit", None)):
        raise ValidationError(
            f"the pool= function of make_handler() returned {type(pool).__name__}, not a "
            "concurrent.futures.Executor (a ThreadPoolExecutor) to run sync steps in"
        )
    if isinstance(pool, cf.ProcessPoolExecutor):
        # the driver runs each attempt with its hooks and logging fields in this process:
        # what it submits is a closure over the invocation, which no other process can run
        raise ValidationError(
            "the pool= function of make_handler() returned a ProcessPoolExecutor: the driver "
            "runs sync steps in threads of this process (return a ThreadPoolExecutor). To run "
            "steps in other processes, drive the Interpreter yourself and submit "
            "runtime.run_step_call(interp.step_call(task)) to the process pool (see "
            "docs/embedding.md, 'Steps in other processes')"
        )
    return pool


def _host_stopped(option: str, runner: object, exc: RuntimeError) -> ValidationError:
    """The error of a host's ``pool=`` executor or ``portal=`` portal that refused work (its
    ``RuntimeError``: the host shut it down or stopped it)."""
    return ValidationError(
        f"the {option}= function of make_handler() returned a {type(runner).__name__} that "
        f"takes no more work ({exc}): the host shut it down while handlers made with it still "
        "run steps. Keep it running until the last such invocation ended, or return a running "
        "one"
    )


def _host_portal(
    get: Callable[[], anyio.from_thread.BlockingPortal],
) -> anyio.from_thread.BlockingPortal:
    """What the host's ``portal=`` function returns, checked."""
    portal = get()
    if not callable(getattr(portal, "start_task_soon", None)):
        raise ValidationError(
            f"the portal= function of make_handler() returned {type(portal).__name__}, not an "
            "anyio BlockingPortal (anyio.from_thread.start_blocking_portal()) whose loop runs "
            "async steps"
        )
    return portal


def _check_time_left(time_left: object) -> float | None:
    """``time_left`` as seconds, or a ``ValidationError`` that says what it must be."""
    if time_left is None:
        return None
    if (
        isinstance(time_left, bool)
        or not isinstance(time_left, (int, float))
        or math.isnan(time_left)
    ):
        raise ValidationError(
            "time_left must be the seconds this invocation may still run (a number; 0 or less: "
            f"every step attempt times out at once), or None for no limit; got {time_left!r}"
        )
    return float(time_left)


def _check_window(window: object) -> float | None:
    """``start_window`` as seconds, or a ``ValidationError`` that says what it must be."""
    if window is None:
        return None
    if (
        isinstance(window, bool)
        or not isinstance(window, (int, float))
        or not finite(window)
        or window < 0
    ):
        raise ValidationError(
            "start_window must be a number of seconds >= 0 (how long a step runs before its "
            f"START is checkpointed), or None to send START with the outcome; got {shown(window)}"
        )
    return float(window)


@checked
def invoke(
    workflow: Callable[..., Any],
    event: InvocationInput,
    service: DurableService,
    *,
    checkpointing: CheckpointMode = "step",
    serdes: Serdes | None = None,
    plugins: Sequence[Plugin] = (),
    clock: Callable[[], float] | None = None,
    payload_format: PayloadFormat = "json",
    time_left: float | None = None,
    start_window: float | None = START_WINDOW,
    _outside: Callable[[DurableGenError], InvocationOutput | None] | None = None,
) -> InvocationOutput:
    """Run one invocation of ``workflow`` synchronously and return its output.

    Its worker threads are started on first need and shut down when it returns, unless a
    handler from ``make_handler`` that is still alive holds them too.

    Args:
        workflow: The workflow generator function.
        event: The invocation input (ARN, token, first page of state).
        service: Where state is read and checkpoints are sent.
        checkpointing: ``"step"``, ``"eager"`` or ``"batch"`` (see ``CheckpointMode``).
        serdes: Serdes of the workflow input and result.
        plugins: Instrumentation plugins (see ``Plugin``).
        clock: What ``Now()`` reads, epoch seconds (default: the service's clock when it has
            one, as the embedded engine does, else ``time.time``); step deadlines are set on
            it too.
        payload_format: ``"json"`` (default) or ``"aws"``: results and failures recorded in
            AWS's envelope and error types, so that AWS's Python SDK can take the execution
            over (see ``Interpreter``).
        time_left: Seconds this invocation may still run (on Lambda: the remaining time less
            a margin), or None. Every step attempt is bounded by it as by a step timeout: one
            still running then fails with ``StepTimeoutError``.
        start_window: In ``"step"`` mode, seconds a step may run before its START is
            checkpointed while it goes on (default 0.005). A step that ends sooner costs one
            checkpoint, START and outcome together. None: START always goes with the outcome
            (a crash during a step then leaves nothing of it recorded).
        _outside: For a host that ends the execution when an error escapes the workflow's
            run (the Lambda handler: a checkpoint the service refuses): the output it returns
            for that error, or None to let the error propagate. The plugins see that output
            as the invocation's.

    Raises:
        ValidationError: ``checkpointing`` is not one of the modes, ``payload_format`` is
            neither ``"json"`` nor ``"aws"``, ``start_window`` is not a number of seconds
            >= 0 (or None), or ``time_left`` is not a number of seconds (or None).
        InvalidInputError: the state has no EXECUTION operation.
    """
    check_service(service)  # (make_handler checks them once, where the handler is made)
    _check_options(checkpointing, serdes, clock, payload_format)
    inv = _Invocation(
        workflow, event, service, checkpointing, serdes, plugins, clock, payload_format,
        _check_time_left(time_left), _check_window(start_window),
    )  # fmt: skip
    try:
        return _run(inv, _StepThreads.acquire())
    except DurableGenError as exc:
        output = _outside(exc) if _outside is not None else None
        if output is None:
            raise
        if inv.hooks is not None:  # the host ends the execution with it: the plugins see it end
            inv.hooks.end(output)
        return output


def _run(inv: _Invocation, threads: _StepThreads) -> InvocationOutput:
    """Carry out the interpreter's actions until it is done."""
    interp = inv.interp
    workers = _Workers(inv, threads)
    try:
        while True:
            action = interp.next_action()
            if isinstance(action, Flush):
                interp.observe(inv.checkpoint(action.updates, action.events))
                continue
            inv.happened(action)
            if isinstance(action, RunTasks):
                tasks = action.tasks
                alone = inv.alone(tasks, len(workers.inflight))
                if alone is None:
                    for task in tasks:
                        workers.submit(task)
                elif inv.window is None:
                    inv.report(alone, inv.call(alone))
                else:
                    inv.report(alone, threads.run_watched(inv, alone))
            elif isinstance(action, Done):
                return inv.output(action.outcome)
            else:  # WaitForTasks
                workers.report_next()
    except _TokenWithheld:
        return inv.withheld()
    except InvalidCheckpointTokenError:
        inv.refused()
        raise
    finally:
        workers.close()
        if threads._pools or threads._watchdog is not None:  # threads started: keep them
            threads.used()
        interp.close()


@checked
async def invoke_async(
    workflow: Callable[..., Any],
    event: InvocationInput,
    service: DurableService,
    *,
    checkpointing: CheckpointMode = "step",
    serdes: Serdes | None = None,
    plugins: Sequence[Plugin] = (),
    clock: Callable[[], float] | None = None,
    payload_format: PayloadFormat = "json",
    time_left: float | None = None,
    start_window: float | None = START_WINDOW,
) -> InvocationOutput:
    """Run one invocation from async code (anyio: asyncio or trio).

    Async steps run as tasks of one task group; sync steps run in worker threads. The service
    is called directly (the embedded engine is in-memory work); wrap a blocking service in
    threads yourself if it does network I/O. Arguments as for ``invoke``.
    """
    check_service(service)  # (make_handler checks them once, where the handler is made)
    _check_options(checkpointing, serdes, clock, payload_format)
    inv = _Invocation(
        workflow, event, service, checkpointing, serdes, plugins, clock, payload_format,
        _check_time_left(time_left), _check_window(start_window),
    )  # fmt: skip
    interp = inv.interp
    start_by: dict[StepTask, float] = {}  # running steps whose START is not out yet
    send, receive = anyio.create_memory_object_stream[tuple[StepTask, _Result]](
        max_buffer_size=1 << 20
    )

    async def run(task: StepTask) -> None:
        limit = inv.limit(task)
        if task.is_async:
            result = await inv.acall(task, limit)
        elif limit is None:
            result = await anyio.to_thread.run_sync(inv.call, task, abandon_on_cancel=True)
        else:
            attempt = inv.begin(task)
            outcome: _Result | None = None
            ended: list[float] = []
            deadline = time.monotonic() + limit[0]
            future: cf.Future[_Result] | None = None
            if limit[0] > 0:
                # in a daemon thread (``DaemonThreads``), waited for by an anyio thread for
                # no longer than the limit: an abandoned attempt holds neither
                context = contextvars.copy_context()  # what the start hooks set, as above
                future = daemon_threads().submit(
                    context.run, inv.run_noting_end, task, ended, deadline
                )
                try:
                    with anyio.move_on_after(limit[0]):
                        with contextlib.suppress(TimeoutError):
                            outcome = await anyio.to_thread.run_sync(
                                future.result, limit[0], abandon_on_cancel=True
                            )
                except BaseException:  # the invocation ends without it (cancelled, a crash)
                    if not future.cancel():
                        daemon_threads().abandon(future)
                    raise
            # at the deadline the thread is abandoned: what it returns later is dropped, and
            # so is what it returned past its deadline (the loop was busy meanwhile)
            if outcome is None or not ended:
                how = None
                if future is None:
                    how = _NOT_STARTED
                elif future.cancel() or (future.done() and not ended):  # never ran, nor will
                    how = _QUEUED
                elif ended:  # it ended just now, past its deadline
                    how = _LATE
                else:
                    daemon_threads().abandon(future)
                result = inv.timed_out(task, attempt, limit, how)
            elif ended[0] >= deadline:
                result = inv.timed_out(task, attempt, limit, _LATE)
            else:
                result = inv.finish(attempt, outcome, task)
        await send.send((task, result))

    error: Exception | None = None
    async with send, receive, anyio.create_task_group() as tg:
        try:
            while True:
                action = interp.next_action()
                if isinstance(action, Flush):
                    interp.observe(inv.checkpoint(action.updates, action.events))
                    continue
                inv.happened(action)
                if isinstance(action, RunTasks):
                    for task in action.tasks:
                        if inv.window is not None:
                            start_by[task] = time.monotonic() + inv.window
                        tg.start_soon(run, task)
                elif isinstance(action, Done):
                    return inv.output(action.outcome)
                else:  # WaitForTasks: report the first to finish and any already queued
                    item = None
                    if start_by:
                        wait_for = min(start_by.values()) - time.monotonic()
                        with anyio.move_on_after(max(wait_for, 0)):
                            item = await receive.receive()
                    else:
                        item = await receive.receive()
                    while item is not None:
                        start_by.pop(item[0], None)
                        inv.report(*item)
                        try:
                            item = receive.receive_nowait()
                        except anyio.WouldBlock:
                            item = None
                    now = time.monotonic()
                    for task, due in list(start_by.items()):
                        if due <= now:  # still running: its START goes out now
                            del start_by[task]
                            inv.send_start(task)
        except _TokenWithheld:
            return inv.withheld()
        except InvalidCheckpointTokenError as exc:
            inv.refused()
            error = exc
        except Exception as exc:  # raised as itself below, not in the task group's group
            error = exc
        finally:
            tg.cancel_scope.cancel()
            interp.close()
    if error is not None:
        raise error
    raise AssertionError("unreachable")  # pragma: no cover


@checked
def make_handler(
    workflow: Callable[..., Any],
    service: DurableService,
    *,
    checkpointing: CheckpointMode = "step",
    serdes: Serdes | None = None,
    plugins: Sequence[Plugin] = (),
    clock: Callable[[], float] | None = None,
    payload_format: PayloadFormat = "json",
    start_window: float | None = START_WINDOW,
    portal: Callable[[], anyio.from_thread.BlockingPortal] | None = None,
    pool: Callable[[], cf.Executor] | None = None,
) -> InvocationHandler:
    """An ``InvocationHandler`` that runs ``workflow`` against ``service`` (see ``invoke``).

    The handler holds its worker threads from one invocation to the next (starting threads
    costs more than a short step); they are shut down once no handler or invocation holds them.

    A host that drives many invocations at once (a worker) may run their steps itself:
    ``portal`` returns the anyio blocking portal whose event loop runs every async step, and
    ``pool`` the executor of the sync steps that run concurrently (a lone sync step runs in
    the invoking thread). Each is called when a step first needs it; the host starts and
    shuts them down. Handlers given the same ``portal`` and ``pool`` share one watchdog thread.

    Raises:
        ValidationError: ``checkpointing`` is not one of the modes, ``payload_format`` is
            neither ``"json"`` nor ``"aws"``, or ``start_window`` is not a number of seconds
            >= 0 (or None).
    """
    check_workflow(workflow, "make_handler")
    _check_options(checkpointing, serdes, clock, payload_format)
    check_service(service)
    window = _check_window(start_window)
    plugins = check_plugins(plugins)
    _check_host_threads(portal, pool)
    threads = _StepThreads.acquire() if portal is None and pool is None else _hosted(portal, pool)

    if clock is None:  # the service's, read once where the handler is made
        clock = service_clock(service)
        check_host_options(None, clock)  # epoch seconds (what Now() records), not ms

    def handler(event: InvocationInput) -> InvocationOutput:
        inv = _Invocation(
            workflow,
            event,
            service,
            checkpointing,
            serdes,
            plugins,
            clock,
            payload_format,
            None,
            window,
        )
        return _run(inv, threads)

    handler.__qualname__ = f"handler[{getattr(workflow, '__qualname__', workflow)}]"
    return handler


def _returned_size(result: str) -> int:
    """The bytes ``result`` takes in the invocation's response, where it is a JSON string: its
    quotes and backslashes escaped again, and every character outside ASCII as ``\\uXXXX``
    (what ``json.dumps`` writes by default, the larger of the two forms JSON writers use)."""
    return len(json.dumps(result))
