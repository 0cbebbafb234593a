"""The pure interpreter: recorded operations in, step tasks and checkpoint updates out.

No I/O, clock, thread or randomness: the driver feeds it a history and outcomes, and reads what
to run and what to record. Every replay rule lives here:

1. Positions. Each context (the root, a child, a Map item, a Parallel branch) numbers the
   operations it yields from 1; the id of the n-th is ``operation_id(context_id, n)``. Map and
   Parallel item contexts are numbered from 0 under their batch.
2. Matching. The recorded operation at a position must have the command's type, subtype, name
   and parent; otherwise the execution fails with ``NonDeterminismError`` (never retried).
3. Replay. A SUCCEEDED operation sends its recorded result back into the generator; a FAILED one
   raises its recorded error (the same exception on every replay). A completed context is not
   re-entered, unless it was recorded with ``ReplayChildren`` (its result was too large).
4. Execution. The first unrecorded command becomes work: a ``StepTask`` for the driver, or an
   update (START of a wait, callback, invoke or context) to checkpoint.
5. Steps. At-least-once steps send START together with their outcome; at-most-once steps send
   START before running and, found STARTED on replay, count as an interrupted attempt. A
   failure is retried (RETRY with a delay) while the policy allows, then FAILs.
6. Suspension. A generator blocks on a wait, a callback, an invoke or a retry delay; the
   execution suspends only when no generator can go on and no step is running.
7. Completion. A workflow that returns SUCCEEDS with its serialized result; an exception FAILs it
   (never raised out of here). Recorded operations never visited when it returns are reported
   as non-determinism (``Patched`` markers excepted).
8. Versioning. ``Patched``/``Deprecated`` markers are STEPs (subtype ``Patch``) whose id comes
   from the context id and the change id, not from the position counter. A recorded marker
   answers True; no marker while the context recorded its next positional operation answers
   False (``Deprecated`` fails instead); otherwise the marker is recorded and answers True. A
   context decides each change id once. ``UUID``/``Random`` are derived from the execution
   ARN, the context id and a per-context draw count: nothing is recorded, no position taken.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections import deque
from collections.abc import Callable, Generator, Iterable
from functools import lru_cache
from hashlib import blake2b
from typing import Any, Final

import msgspec

from . import _context, _guard  # _guard: mistake detection
from ._batch import BatchItem, BatchResult, decide
from ._commands import (
    AT_MOST_ONCE,
    DEFAULT_RETRY,
    NO_RETRY,
    Branch,
    CallbackHandle,
    Child,
    Command,
    CompensationResult,
    CreateCallback,
    Invoke,
    Map,
    Parallel,
    Retry,
    RunCompensations,
    Step,
    StepFunction,
    Wait,
    WaitDecision,
    WaitForCallback,
    WaitForCondition,
    _fn_name,
    _PrevalidatedStep,
)
from ._errors import (
    CallbackFailedError,
    CallbackTimeoutError,
    ChildFailedError,
    InvalidInputError,
    InvokeFailedError,
    NonDeterminismError,
    OperationError,
    SerializationError,
    StepFailedError,
    StepInterruptedError,
    WorkflowDefinitionError,
)
from ._failure import callback_error, error_object, raise_error, step_error
from ._ids import operation_id
from ._serdes import Serdes, dumps, loads
from ._versioning import (
    NOW_SUBTYPE,
    PATCH_SUBTYPE,
    TIME_SERDES,
    UUID,
    Deprecated,
    Now,
    Patched,
    Random,
    derive_seed,
    is_marker,
    marker_id,
    read_clock,
)
from ._wire import (
    MAX_CONTEXT_RESULT_BYTES,
    TERMINAL_STATUSES,
    CallbackOptions,
    ChainedInvokeOptions,
    ContextOptions,
    ErrorObject,
    Operation,
    OperationUpdate,
    StepOptions,
    WaitOptions,
)

__all__ = ["Failed", "Interpreter", "Outcome", "StepTask", "Succeeded", "Suspended"]

Gen = Generator[Any, Any, Any]


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

_BLOCKED: Final = object()
_json_decode: Final = msgspec.json.Decoder().decode
_NO_RESULT: Final = (None, None)


class _Fatal(Exception):
    """Aborts the whole interpretation (non-determinism, a corrupt history)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _Fiber:
    """One generator running in one context."""

    __slots__ = (
        "alive",
        "ctx_id",
        "gen",
        "n",
        "on_done",
        "parent_id",
        "undo",
    )

    def __init__(
        self,
        gen: Gen,
        ctx_id: str | None,
        on_done: Callable[[_Fiber, Any, BaseException | None], None],
    ) -> None:
        self.gen = gen
        self.ctx_id = ctx_id
        #: The ParentId its operations record: the context id, except in FLAT Map/Parallel
        #: items, whose operations belong to the batch itself.
        self.parent_id = ctx_id
        self.n = 0
        self.on_done = on_done
        self.alive = True
        self.undo: list[tuple[Callable[[Any], Any], Any, str | None]] = []


class StepTask:
    """A step for the driver to run: call ``fn(*args, **kwargs)`` and report the outcome.

    Attributes:
        operation_id: The step's operation id.
        name: The step's name.
        attempt: The attempt number, from 1.
        fn: The function (sync or async).
        args: Positional arguments.
        kwargs: Keyword arguments.
        is_async: Whether ``fn`` is a coroutine function.
    """

    __slots__ = (
        "args",
        "attempt",
        "cmd",
        "fiber",
        "fn",
        "is_async",
        "kind",
        "kwargs",
        "name",
        "operation_id",
        "parent_id",
        "retry",
        "serdes",
        "started",
        "sub_type",
    )

    def __init__(
        self,
        fiber: _Fiber,
        operation_id: str,
        name: str | None,
        sub_type: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None,
        attempt: int,
        started: bool,
        retry: Retry | None,
        serdes: Serdes | None,
        cmd: Command,
        kind: int,
    ) -> None:
        self.fiber = fiber
        self.operation_id = operation_id
        self.parent_id = fiber.parent_id
        self.name = name
        self.sub_type = sub_type
        self.fn = fn
        self.args = args
        self.kwargs = kwargs or {}
        self.attempt = attempt
        self.started = started
        self.retry = retry
        self.serdes = serdes
        self.cmd = cmd
        self.kind = kind
        self.is_async = _is_async(fn)

    def __repr__(self) -> str:
        return f"<StepTask {self.name or self.operation_id[:8]} attempt={self.attempt}>"


_KIND_STEP: Final = 0
_KIND_CONDITION: Final = 1


@lru_cache(maxsize=4096)
def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(inspect.unwrap(fn)) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
    )


@lru_cache(maxsize=4096)
def _positional_arity(fn: Callable[..., Any]) -> int:
    """How many positional arguments ``fn`` takes (2 when it takes *args)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    n = 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return 2
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n


def _describe(type_: str, sub_type: str | None, name: str | None, parent: str | None) -> str:
    parts = [f"{type_}/{sub_type}"]
    if name is not None:
        parts.append(f"name={name!r}")
    if parent is not None:
        parts.append(f"parent={parent[:12]}")
    return " ".join(parts)


class _Batch:
    """The live state of one Map or Parallel."""

    __slots__ = (
        "cmd",
        "done",
        "fiber",
        "names",
        "next",
        "op_id",
        "outcomes",
        "reason",
        "rebuild",
        "running",
        "sub_type",
        "succeeded",
        "units",
    )

    def __init__(
        self,
        cmd: Map | Parallel,
        fiber: _Fiber,
        op_id: str,
        sub_type: str,
        units: list[Callable[[], Gen]],
        names: list[str],
        rebuild: bool,
    ) -> None:
        self.cmd = cmd
        self.fiber = fiber
        self.op_id = op_id
        self.sub_type = sub_type
        self.units = units
        self.names = names
        self.next = 0
        self.running: dict[int, _Fiber] = {}
        self.outcomes: dict[int, BatchItem] = {}
        self.rebuild = rebuild
        self.done = False
        self.reason: str | None = None
        self.succeeded = 0


class Interpreter:
    """Replays a workflow against its recorded operations and says what to do next.

    Typical use by a driver::

        interp = Interpreter(workflow, operations, execution_arn=arn)
        tasks = interp.advance()
        # checkpoint interp.take_updates() (feed the reply to interp.observe()),
        # run each task and report it with interp.step_succeeded / interp.step_failed,
        # call advance() again, until interp.outcome is set.

    Args:
        workflow: The workflow generator function, called as ``workflow(input)``.
        operations: Every recorded operation of the execution (all pages).
        execution_arn: The execution's id; seeds deterministic jitter and helpers.
        input: The workflow input when no EXECUTION operation carries it.
        serdes: Serdes of the input and the result (default JSON).
    """

    def __init__(
        self,
        workflow: Callable[..., Any],
        operations: Iterable[Operation],
        *,
        execution_arn: str = "",
        input: Any = None,
        serdes: Serdes | None = None,
        eager_start: bool = False,
    ) -> None:
        self.execution_arn = execution_arn
        self.workflow = workflow
        self.serdes = serdes
        self.eager_start = eager_start
        self.updates: list[OperationUpdate] = []
        self.must_flush = False
        self.outcome: Outcome | None = None
        self._ops: dict[str, Operation] = {}
        self._input_payload: str | None = None
        has_input = False
        for op in operations:
            if op.type == "EXECUTION":
                has_input = True
                if op.execution_details is not None:
                    self._input_payload = op.execution_details.input_payload
            else:
                self._ops[op.id] = op
        self._input = loads(self._input_payload, serdes) if has_input else input
        #: The operations recorded before this invocation: each must be visited again.
        self._recorded = list(self._ops.values())
        self._visited: set[str] = set()
        self._expanded: set[str | None] = {None}
        self._ready: deque[tuple[_Fiber, Any, BaseException | None]] = deque()
        self._tasks: list[StepTask] = []
        self._running: dict[str, StepTask] = {}
        self._waiters: dict[str, list[tuple[_Fiber, Callable[[Operation], Any]]]] = {}
        self._root: _Fiber | None = None
        self._started = False
        #: True while the last command was answered from the history (for replay-aware logs).
        self.replaying = bool(self._ops)
        self.unyielded: list[Any] = []  # _guard: commands built in the body, not yet yielded
        self._handlers: dict[type, Callable[[_Fiber, Any], Any]] = {
            Step: self._on_step,
            _PrevalidatedStep: self._on_step,
            Wait: self._on_wait,
            CreateCallback: self._on_create_callback,
            CallbackHandle: self._on_await_callback,
            WaitForCallback: self._on_wait_for_callback,
            Invoke: self._on_invoke,
            WaitForCondition: self._on_wait_for_condition,
            Child: self._on_child,
            Map: self._on_batch,
            Parallel: self._on_batch,
            RunCompensations: self._on_compensations,
            _Compensate: self._on_compensate,
            Patched: self._on_patched,
            Deprecated: self._on_patched,
            Now: self._on_now,
            UUID: self._on_derived,
            Random: self._on_derived,
        }
        #: Patched/Deprecated decisions by marker id, and UUID/Random draws by context id.
        self._patches: dict[str, bool] = {}
        self._draws: dict[str | None, int] = {}

    # --- public API for drivers -------------------------------------------------------------

    @property
    def operations(self) -> dict[str, Operation]:
        """The operations known so far (recorded, plus those checkpoint replies returned)."""
        return self._ops

    @property
    def running(self) -> int:
        """Steps handed to the driver and not yet reported."""
        return len(self._running)

    def advance(self) -> list[StepTask]:
        """Run every generator until it blocks; return the new steps to run now.

        When a returned task needs its START confirmed first (at-most-once), ``must_flush`` is
        set: checkpoint ``take_updates()`` before running the tasks.
        """
        if self.outcome is not None:
            return []
        token = _context.CURRENT.set(self)
        try:
            if not self._started:
                self._started = True
                self._start_root()
            ready = self._ready
            while ready:
                fiber, value, exc = ready.popleft()
                if fiber.alive:
                    self._drive(fiber, value, exc)
            if self.unyielded:  # _guard: report commands built and never yielded
                _guard.sweep(self)
        except _Fatal as fatal:
            self._fail(fatal.error)
        finally:
            _context.CURRENT.reset(token)
        tasks, self._tasks = self._tasks, []
        idle = not self._running and not tasks and not self._ready and not self.must_flush
        if self.outcome is None and idle:
            self.outcome = Suspended(self._waiting_on())
        return tasks

    def take_updates(self) -> list[OperationUpdate]:
        """The updates to checkpoint now, in order; clears them."""
        updates, self.updates = self.updates, []
        self.must_flush = False
        return updates

    def observe(self, operations: Iterable[Operation]) -> None:
        """Take in operations the service returned (after a checkpoint); wakes what they unblock."""
        waiters = self._waiters
        for op in operations:
            if op.type == "EXECUTION":
                continue
            self._ops[op.id] = op
            pending = waiters.get(op.id)
            if pending:
                still = []
                for fiber, resolve in pending:
                    try:
                        result = resolve(op)
                    except Exception as error:  # e.g. a callback answered with non-JSON
                        result = (None, error)
                    if result is None:
                        still.append((fiber, resolve))
                    elif result is not _BLOCKED:
                        self._ready.append((fiber, result[0], result[1]))
                if still:
                    waiters[op.id] = still
                else:
                    del waiters[op.id]
        if (self._ready or self._tasks) and isinstance(self.outcome, Suspended):
            self.outcome = None

    def step_succeeded(self, task: StepTask, value: Any) -> None:
        """Report that ``task`` returned ``value``."""
        self._running.pop(task.operation_id, None)
        fiber = task.fiber
        if not fiber.alive:
            return
        if task.kind == _KIND_CONDITION:
            self._condition_checked(task, value)
            return
        try:
            payload = dumps(value, task.serdes, what=f"the result of step {task.name!r}")
        except SerializationError as exc:
            self._step_final_failure(task, exc)
            return
        self._step_outcome(task, "SUCCEED", payload=payload)
        value = loads(payload, task.serdes)
        cmd = task.cmd
        if isinstance(cmd, Step) and cmd.compensate is not None:
            fiber.undo.append((cmd.compensate, value, task.name))
        self._ready.append((fiber, value, None))

    def step_failed(self, task: StepTask, error: BaseException) -> None:
        """Report that ``task`` raised ``error``; retries or fails the step per its policy."""
        self._running.pop(task.operation_id, None)
        if not task.fiber.alive:
            return
        policy = task.retry or DEFAULT_RETRY
        if policy.should_retry(task.attempt, error):
            self._retry(task, error_object(error), policy)
        else:
            self._step_final_failure(task, error)

    # --- the run loop -------------------------------------------------------------------------

    def _start_root(self) -> None:
        try:
            gen = self.workflow(self._input)
        except Exception as exc:
            self._fail(exc)
            return
        if not inspect.isgenerator(gen):
            self._fail(_guard.not_a_generator(self.workflow, gen))  # _guard: says what to write
            return
        root = _Fiber(gen, None, self._root_done)
        self._root = root
        self._ready.append((root, None, None))

    def _drive(self, fiber: _Fiber, value: Any, exc: BaseException | None) -> None:
        gen = fiber.gen
        handlers = self._handlers
        while True:
            try:
                cmd = gen.send(value) if exc is None else gen.throw(exc)
                if self.unyielded:  # _guard: clear the yielded command's note
                    _guard.yielded(self, cmd)
            except StopIteration as stop:
                fiber.alive = False
                fiber.on_done(fiber, stop.value, None)
                return
            except _Fatal:
                raise
            except Exception as error:
                error = _guard.explained(error)  # _guard: a command used as its result
                fiber.alive = False
                fiber.on_done(fiber, None, error)
                return
            handler = handlers.get(type(cmd))
            if handler is None:
                handler = self._lookup(cmd)
                if handler is None:
                    value, exc = (
                        None,
                        WorkflowDefinitionError(
                            f"the workflow yielded {cmd!r}, which is not a durable_gen command: "
                            "yield Step, Wait, Invoke, Map, ... (or a @step function's call); "
                            "to run a sub-workflow inline use `yield from sub(...)`"
                        ),
                    )
                    continue
            try:
                result = handler(fiber, cmd)
            except _Fatal:
                raise
            except Exception as error:  # e.g. a payload that cannot be serialized
                value, exc = None, error  # raised at the yield, where the workflow can catch it
                continue
            if result is _BLOCKED:
                return
            value, exc = result

    def _lookup(self, cmd: object) -> Callable[[_Fiber, Any], Any] | None:
        for cls, handler in self._handlers.items():
            if isinstance(cmd, cls):
                return handler
        return None

    def _position(
        self, fiber: _Fiber, type_: str, sub_type: str, name: str | None
    ) -> tuple[str, Operation | None]:
        fiber.n = n = fiber.n + 1
        op_id = operation_id(fiber.ctx_id, n)
        rec = self._ops.get(op_id)  # the replay fast path, inlined from _match
        if rec is None:
            self.replaying = False
            return op_id, None
        if (
            rec.type != type_
            or rec.sub_type != sub_type
            or rec.name != name
            or rec.parent_id != fiber.parent_id
        ):
            self._match(op_id, fiber.parent_id, type_, sub_type, name, n)
        self.replaying = True
        self._visited.add(op_id)
        return op_id, rec

    def _match(
        self,
        op_id: str,
        parent: str | None,
        type_: str,
        sub_type: str,
        name: str | None,
        n: int,
    ) -> Operation | None:
        rec = self._ops.get(op_id)
        if rec is None:
            self.replaying = False
            return None
        self.replaying = True
        if (
            rec.type != type_
            or rec.sub_type != sub_type
            or rec.name != name
            or rec.parent_id != parent
        ):
            recorded = _describe(rec.type, rec.sub_type, rec.name, rec.parent_id)
            requested = _describe(type_, sub_type, name, parent)
            ctx = "the root context" if parent is None else f"context {parent[:12]}"
            where = f"operation {n} of {ctx}"
            raise _Fatal(
                NonDeterminismError(
                    f"non-deterministic workflow at {where} (id {op_id[:12]}): the history "
                    f"recorded {recorded} but the code asked for {requested}. A running "
                    "execution must replay the same commands in the same order; guard changed "
                    "code with Patched(...) or start a new execution",
                    operation_id=op_id,
                    position=where,
                    recorded=recorded,
                    requested=requested,
                )
            )
        self._visited.add(op_id)
        return rec

    def _block(self, fiber: _Fiber, op_id: str, resolve: Callable[[Operation], Any]) -> Any:
        rec = self._ops.get(op_id)
        if rec is not None:
            result = resolve(rec)
            if result is not None:
                return result
        self._waiters.setdefault(op_id, []).append((fiber, resolve))
        return _BLOCKED

    def _fail(self, error: BaseException) -> None:
        self.outcome = Failed(error_object(error), error)
        self._ready.clear()

    def _root_done(self, fiber: _Fiber, value: Any, exc: BaseException | None) -> None:
        if exc is not None:
            self._fail(exc)
            return
        unvisited = [
            op
            for op in self._recorded
            if op.id not in self._visited and op.parent_id in self._expanded and not is_marker(op)
        ]
        if unvisited:
            first = unvisited[0]
            what = _describe(first.type, first.sub_type, first.name, first.parent_id)
            self._fail(
                NonDeterminismError(
                    f"the workflow returned but {len(unvisited)} recorded operation(s) were never "
                    f"reached, the first {what} "
                    f"(id {first.id[:12]}): the code no longer yields what this execution recorded",
                    operation_id=first.id,
                    recorded=_describe(first.type, first.sub_type, first.name, first.parent_id),
                )
            )
            return
        try:
            self.outcome = Succeeded(dumps(value, self.serdes, what="the workflow result"))
        except SerializationError as error:
            self._fail(error)

    def _waiting_on(self) -> list[str]:
        out = []
        for op_id in self._waiters:
            op = self._ops.get(op_id)
            label = (op.name or op.type) if op is not None else op_id[:12]
            out.append(f"{label} ({op_id[:12]})")
        return out

    # --- steps ----------------------------------------------------------------------------------

    def _step_update(self, task: StepTask, action: Any, **extra: Any) -> OperationUpdate:
        return OperationUpdate(
            id=task.operation_id,
            type="STEP",
            action=action,
            parent_id=task.parent_id,
            name=task.name,
            sub_type=task.sub_type,
            **extra,
        )

    def _step_outcome(self, task: StepTask, action: Any, **extra: Any) -> None:
        """Record a step's outcome, preceded by its START when that was not sent yet."""
        if not task.started:
            self.updates.append(self._step_update(task, "START"))
        self.updates.append(self._step_update(task, action, **extra))

    def _start(
        self, fiber: _Fiber, op_id: str, type_: Any, sub_type: str, name: str | None, **extra: Any
    ) -> None:
        """Record the START of a new wait, callback or invoke at the fiber's position."""
        self.updates.append(
            OperationUpdate(
                id=op_id,
                type=type_,
                action="START",
                parent_id=fiber.parent_id,
                name=name,
                sub_type=sub_type,
                **extra,
            )
        )

    def _schedule(self, task: StepTask, at_most_once: bool) -> Any:
        if not task.started and (at_most_once or self.eager_start):
            self.updates.append(self._step_update(task, "START"))
            task.started = True
            self.must_flush = True
        self._tasks.append(task)
        self._running[task.operation_id] = task
        return _BLOCKED

    @staticmethod
    def _step_task(
        fiber: _Fiber, op_id: str, name: str | None, cmd: Step, attempt: int, started: bool
    ) -> StepTask:
        return StepTask(
            fiber, op_id, name, "Step", _plain(cmd.fn), cmd.args, cmd.kwargs, attempt, started,
            cmd.retry, cmd.serdes, cmd, _KIND_STEP,
        )  # fmt: skip

    def _on_step(self, fiber: _Fiber, cmd: Step) -> Any:
        name = cmd.name
        if name is None:
            name = _fn_name(cmd.fn)
        op_id, rec = self._position(fiber, "STEP", "Step", name)
        if rec is None:
            return self._schedule(
                self._step_task(fiber, op_id, name, cmd, 1, False), cmd.semantics == AT_MOST_ONCE
            )
        status = rec.status
        details = rec.step_details
        if status == "SUCCEEDED":
            payload = details.result if details else None
            if cmd.serdes is None and payload:
                try:
                    value = _json_decode(payload)
                except msgspec.DecodeError:
                    value = loads(payload)  # raises the SerializationError with its advice
            else:
                value = loads(payload, cmd.serdes)
            if cmd.compensate is not None:
                fiber.undo.append((cmd.compensate, value, name))
            return (value, None)
        if status == "FAILED":
            return (None, step_error(details.error if details else None))
        # Attempt counts finished attempts: the one that was running (or comes next) is one more
        attempt = ((details.attempt or 0) if details else 0) + 1
        task = self._step_task(fiber, op_id, name, cmd, attempt, True)
        if status == "STARTED":
            if cmd.semantics == AT_MOST_ONCE:
                self._running[op_id] = task
                self.step_failed(
                    task,
                    StepInterruptedError(
                        f"step {name!r} attempt {attempt} started but never finished (the process "
                        "stopped); at-most-once steps are not run again",
                        error_type="StepInterruptedError",
                    ),
                )
                return _BLOCKED
            return self._schedule(task, False)
        return self._await_ready(fiber, op_id, task, cmd.semantics == AT_MOST_ONCE)

    def _await_ready(self, fiber: _Fiber, op_id: str, task: StepTask, at_most_once: bool) -> Any:
        """Block until the step's retry delay is over (READY), then run the next attempt."""
        return self._block(fiber, op_id, self._ready_resolver(task, at_most_once))

    def _retry(
        self, task: StepTask, err: ErrorObject, policy: Retry, payload: str | None = None
    ) -> None:
        delay = policy.delay(task.attempt, self._unit(task.operation_id, task.attempt))
        self._retry_with_delay(task, delay, err, payload)

    def _retry_with_delay(
        self, task: StepTask, delay: int, err: ErrorObject | None, payload: str | None
    ) -> None:
        self._step_outcome(
            task,
            "RETRY",
            error=err,
            payload=payload,
            step_options=StepOptions(next_attempt_delay_seconds=delay),
        )
        task.started = True
        at_most_once = isinstance(task.cmd, Step) and task.cmd.semantics == AT_MOST_ONCE
        self._waiters.setdefault(task.operation_id, []).append(
            (task.fiber, self._ready_resolver(task, at_most_once))
        )

    def _ready_resolver(self, task: StepTask, at_most_once: bool) -> Callable[[Operation], Any]:
        def resolve(op: Operation) -> Any:
            d = op.step_details
            if op.status == "READY":
                task.attempt = ((d.attempt or 0) if d else task.attempt) + 1
                task.started = False
                if task.kind == _KIND_CONDITION:
                    task.args = (loads(d.result if d else None, task.serdes),)
                self._schedule(task, at_most_once)
                return _BLOCKED
            if op.status == "SUCCEEDED":
                return (loads(d.result if d else None, task.serdes), None)
            if op.status in TERMINAL_STATUSES:
                return (None, step_error(d.error if d else None))
            return None

        return resolve

    def _step_final_failure(self, task: StepTask, error: BaseException) -> None:
        err = error_object(error)
        self._step_outcome(task, "FAIL", error=err)
        self._ready.append((task.fiber, None, step_error(err)))

    def _unit(self, op_id: str, attempt: int) -> float:
        """A number in [0, 1) derived from the execution, operation and attempt (jitter)."""
        digest = blake2b(f"{self.execution_arn}:{op_id}:{attempt}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2.0**64

    # --- wait-for-condition -------------------------------------------------------------------

    def _on_wait_for_condition(self, fiber: _Fiber, cmd: WaitForCondition) -> Any:
        name = cmd.op_name
        op_id, rec = self._position(fiber, "STEP", "WaitForCondition", name)
        task = StepTask(
            fiber,
            op_id,
            name,
            "WaitForCondition",
            _plain(cmd.check),
            (cmd.initial_state,),
            None,
            1,
            False,
            NO_RETRY,
            cmd.serdes,
            cmd,
            _KIND_CONDITION,
        )
        if rec is None:
            return self._schedule(task, False)
        d = rec.step_details
        if rec.status == "SUCCEEDED":
            return (loads(d.result if d else None, cmd.serdes), None)
        if rec.status == "FAILED":
            return (None, step_error(d.error if d else None))
        task.attempt = ((d.attempt or 0) if d else 0) + 1
        task.started = True
        if rec.status == "STARTED":
            # the check was interrupted: run it again with the last checkpointed state
            if d is not None and d.result is not None:
                task.args = (loads(d.result, cmd.serdes),)
            return self._schedule(task, False)
        return self._await_ready(fiber, op_id, task, False)

    def _condition_checked(self, task: StepTask, state: Any) -> None:
        cmd = task.cmd
        assert isinstance(cmd, WaitForCondition)
        try:
            payload = dumps(state, cmd.serdes, what="the wait-for-condition state")
            strategy = cmd.wait_strategy
            decision = (
                strategy(loads(payload, cmd.serdes), task.attempt)
                if strategy
                else WaitDecision.done()
            )
            if not isinstance(decision, WaitDecision):
                raise WorkflowDefinitionError(
                    f"wait_strategy returned {decision!r}; return WaitDecision.done() or "
                    "WaitDecision.again(seconds)"
                )
        except Exception as exc:
            self._step_final_failure(task, exc)
            return
        if decision.stop:
            self._step_outcome(task, "SUCCEED", payload=payload)
            self._ready.append((task.fiber, loads(payload, cmd.serdes), None))
        else:
            self._retry_with_delay(task, decision.delay, None, payload)

    # --- waits, callbacks, invokes --------------------------------------------------------------

    def _on_wait(self, fiber: _Fiber, cmd: Wait) -> Any:
        op_id, rec = self._position(fiber, "WAIT", "Wait", cmd.name)
        if rec is None:
            self._start(
                fiber,
                op_id,
                "WAIT",
                "Wait",
                cmd.name,
                wait_options=WaitOptions(wait_seconds=cmd.seconds),
            )
        return self._block(fiber, op_id, _wait_done)

    def _on_create_callback(self, fiber: _Fiber, cmd: CreateCallback) -> Any:
        op_id, rec = self._position(fiber, "CALLBACK", "Callback", cmd.name)
        if rec is None:
            self._start(
                fiber,
                op_id,
                "CALLBACK",
                "Callback",
                cmd.name,
                callback_options=CallbackOptions(
                    timeout_seconds=cmd.timeout, heartbeat_timeout_seconds=cmd.heartbeat_timeout
                ),
            )
            self.must_flush = True
        serdes = cmd.serdes

        def created(op: Operation) -> Any:
            d = op.callback_details
            if d is None or not d.callback_id:
                return None
            return (
                CallbackHandle(callback_id=d.callback_id, operation_id=op.id, serdes=serdes),
                None,
            )

        return self._block(fiber, op_id, created)

    def _on_await_callback(self, fiber: _Fiber, handle: CallbackHandle) -> Any:
        serdes = handle.serdes

        def answered(op: Operation) -> Any:
            status = op.status
            if status not in TERMINAL_STATUSES:
                return None
            d = op.callback_details
            if status == "SUCCEEDED":
                return (loads(d.result if d else None, serdes), None)
            return (None, callback_error(d.error if d else None, status))

        return self._block(fiber, handle.operation_id, answered)

    def _on_invoke(self, fiber: _Fiber, cmd: Invoke) -> Any:
        op_id, rec = self._position(fiber, "CHAINED_INVOKE", "ChainedInvoke", cmd.name)
        if rec is None:
            self._start(
                fiber,
                op_id,
                "CHAINED_INVOKE",
                "ChainedInvoke",
                cmd.name,
                payload=dumps(cmd.payload, cmd.serdes, what="the Invoke payload"),
                chained_invoke_options=ChainedInvokeOptions(
                    function_name=cmd.function_name, tenant_id=cmd.tenant_id
                ),
            )
        serdes = cmd.serdes

        def finished(op: Operation) -> Any:
            if op.status not in TERMINAL_STATUSES:
                return None
            d = op.chained_invoke_details
            if op.status == "SUCCEEDED":
                return (loads(d.result if d else None, serdes), None)
            err = d.error if d else None
            if err is None:
                err = ErrorObject(
                    error_type=f"Invoke.{op.status}", error_message=f"invoke {op.status.lower()}"
                )
            return (None, raise_error(InvokeFailedError, err))

        return self._block(fiber, op_id, finished)

    # --- child contexts -----------------------------------------------------------------------

    def _on_child(self, fiber: _Fiber, cmd: Child) -> Any:
        name = cmd.op_name
        op_id, rec = self._position(fiber, "CONTEXT", "RunInChildContext", name)
        wf, args, kwargs = cmd.workflow, cmd.args, cmd.kwargs or {}
        return self._enter_context(
            fiber,
            op_id,
            rec,
            "RunInChildContext",
            name,
            lambda: wf(*args, **kwargs),
            cmd.serdes,
            ChildFailedError,
        )

    def _on_wait_for_callback(self, fiber: _Fiber, cmd: WaitForCallback) -> Any:
        op_id, rec = self._position(fiber, "CONTEXT", "WaitForCallback", cmd.name)

        def body() -> Gen:
            handle = yield CreateCallback(
                timeout=cmd.timeout, heartbeat_timeout=cmd.heartbeat_timeout, serdes=cmd.serdes
            )
            yield Step(_plain(cmd.submitter), (handle.callback_id,), retry=cmd.retry)
            return (yield handle)

        return self._enter_context(
            fiber, op_id, rec, "WaitForCallback", cmd.name, body, cmd.serdes, CallbackFailedError
        )

    def _enter_context(
        self,
        fiber: _Fiber,
        op_id: str,
        rec: Operation | None,
        sub_type: str,
        name: str | None,
        make_gen: Callable[[], Any],
        serdes: Serdes | None,
        error_cls: type[OperationError],
    ) -> Any:
        replaying_children = False
        if rec is not None:
            d = rec.context_details
            if rec.status == "SUCCEEDED":
                if not (d and d.replay_children):
                    return (loads(d.result if d else None, serdes), None)
                replaying_children = True
            elif rec.status in TERMINAL_STATUSES:
                return (None, self._context_error(sub_type, error_cls, d.error if d else None))
        else:
            self.updates.append(
                self._context_update(op_id, fiber.parent_id, sub_type, name, "START")
            )

        def done(child: _Fiber, value: Any, exc: BaseException | None) -> None:
            result, err = self._settle_context(
                op_id, fiber.parent_id, sub_type, name, serdes, value, exc,
                record=not replaying_children,
            )  # fmt: skip
            if err is not None:
                self._ready.append((fiber, None, self._context_error(sub_type, error_cls, err)))
            else:
                self._ready.append((fiber, result, None))

        self._expanded.add(op_id)
        child = _Fiber(_generator(make_gen), op_id, done)
        self._ready.append((child, None, None))
        return _BLOCKED

    def _settle_context(
        self,
        op_id: str,
        parent: str | None,
        sub_type: str,
        name: str | None,
        serdes: Serdes | None,
        value: Any,
        exc: BaseException | None,
        *,
        record: bool,
    ) -> tuple[Any, ErrorObject | None]:
        """A finished context's (result, None) or (None, error), recording it when asked."""
        if exc is None:
            try:
                payload = dumps(value, serdes, what=f"the result of context {name!r}")
            except SerializationError as error:
                exc = error
            else:
                if record:
                    self.updates.append(
                        self._context_success(op_id, parent, sub_type, name, payload)
                    )
                return loads(payload, serdes), None
        err = error_object(exc)
        if record:
            self.updates.append(
                self._context_update(op_id, parent, sub_type, name, "FAIL", error=err)
            )
        return None, err

    @staticmethod
    def _context_error(
        sub_type: str, error_cls: type[OperationError], err: ErrorObject | None
    ) -> OperationError:
        if (
            sub_type == "WaitForCallback"
            and err is not None
            and (err.error_type or "").startswith("Callback.Timeout")
        ):
            return raise_error(CallbackTimeoutError, err)
        if (
            sub_type == "WaitForCallback"
            and err is not None
            and err.error_type == "Callback.Heartbeat"
        ):
            return raise_error(CallbackTimeoutError, err)
        return raise_error(error_cls, err)

    @staticmethod
    def _context_update(
        op_id: str, parent: str | None, sub_type: str, name: str | None, action: Any, **extra: Any
    ) -> OperationUpdate:
        return OperationUpdate(
            id=op_id,
            type="CONTEXT",
            action=action,
            parent_id=parent,
            name=name,
            sub_type=sub_type,
            **extra,
        )

    def _context_success(
        self,
        op_id: str,
        parent: str | None,
        sub_type: str,
        name: str | None,
        payload: str,
        summary: str | None = None,
    ) -> OperationUpdate:
        if (
            len(payload) > MAX_CONTEXT_RESULT_BYTES // 4
            and len(payload.encode()) > MAX_CONTEXT_RESULT_BYTES
        ):
            return self._context_update(
                op_id,
                parent,
                sub_type,
                name,
                "SUCCEED",
                payload=summary or "",
                context_options=ContextOptions(replay_children=True),
            )
        return self._context_update(op_id, parent, sub_type, name, "SUCCEED", payload=payload)

    # --- versioning and deterministic helpers ----------------------------------------------------

    def _on_patched(self, fiber: _Fiber, cmd: Patched | Deprecated) -> Any:
        # A recorded marker means new code reached this point; no marker while the context
        # recorded its next positional operation means old code went past it; otherwise this
        # is the frontier: take the new path and record the marker (before what follows).
        mid = marker_id(fiber.ctx_id, cmd.change_id)
        decided = self._patches.get(mid)
        if decided is None:
            if mid in self._ops:
                self._visited.add(mid)
                decided = True
            elif operation_id(fiber.ctx_id, fiber.n + 1) in self._ops:
                decided = False
            else:
                decided = True
                self.updates.append(
                    OperationUpdate(
                        id=mid,
                        type="STEP",
                        action="SUCCEED",
                        parent_id=fiber.parent_id,
                        name=cmd.change_id,
                        sub_type=PATCH_SUBTYPE,
                    )
                )
            self._patches[mid] = decided
        if isinstance(cmd, Patched):
            return (decided, None)
        if not decided:
            n = fiber.n + 1
            rec = self._ops[operation_id(fiber.ctx_id, n)]
            parent = fiber.parent_id
            ctx = "the root context" if parent is None else f"context {parent[:12]}"
            where = f"operation {n} of {ctx}"
            recorded = _describe(rec.type, rec.sub_type, rec.name, rec.parent_id)
            raise _Fatal(
                NonDeterminismError(
                    f"change {cmd.change_id!r} is Deprecated but this execution was recorded "
                    f"before it and took the old path (it recorded {recorded} at {where}); keep "
                    f"Patched({cmd.change_id!r}) and the old branch until such executions end",
                    operation_id=rec.id,
                    position=where,
                    recorded=recorded,
                    requested=f"Deprecated({cmd.change_id!r})",
                )
            )
        return (None, None)

    def _on_now(self, fiber: _Fiber, cmd: Now) -> Any:
        name = cmd.op_name
        op_id, rec = self._position(fiber, "STEP", NOW_SUBTYPE, name)
        d = rec.step_details if rec is not None else None
        if rec is not None and rec.status == "SUCCEEDED":
            return (loads(d.result if d else None, TIME_SERDES), None)
        if rec is not None and rec.status in TERMINAL_STATUSES:
            return (None, step_error(d.error if d else None))
        attempt = ((d.attempt or 0) if d else 0) + 1
        task = StepTask(
            fiber, op_id, name, NOW_SUBTYPE, read_clock, (), None, attempt, rec is not None,
            NO_RETRY, TIME_SERDES, cmd, _KIND_STEP,
        )  # fmt: skip
        return self._schedule(task, False)

    def _on_derived(self, fiber: _Fiber, cmd: UUID | Random) -> Any:
        draw = self._draws.get(fiber.ctx_id, 0) + 1
        self._draws[fiber.ctx_id] = draw
        return (cmd.from_seed(derive_seed(self.execution_arn, fiber.ctx_id, draw)), None)

    # --- sagas --------------------------------------------------------------------------------

    def _on_compensations(self, fiber: _Fiber, cmd: RunCompensations) -> Any:
        undo, fiber.undo = fiber.undo, []

        # The helper runs in the caller's namespace: it takes over the caller's counter while
        # the caller is blocked, and hands it back when done.
        def done(helper: _Fiber, value: Any, exc: BaseException | None) -> None:
            fiber.n = helper.n
            self._ready.append((fiber, value, exc))

        helper = _Fiber(_compensate(undo, cmd.retry), fiber.ctx_id, done)
        helper.parent_id = fiber.parent_id
        helper.n = fiber.n
        self._ready.append((helper, None, None))
        return _BLOCKED

    def _on_compensate(self, fiber: _Fiber, cmd: _Compensate) -> Any:
        op_id, rec = self._position(fiber, "CONTEXT", "Compensation", cmd.name)
        fn, value, name, retry = cmd.fn, cmd.value, cmd.name, cmd.retry
        return self._enter_context(
            fiber,
            op_id,
            rec,
            "Compensation",
            cmd.name,
            lambda: _one_step(fn, (value,), name, retry),
            None,
            StepFailedError,
        )

    # --- Map and Parallel -----------------------------------------------------------------------

    def _on_batch(self, fiber: _Fiber, cmd: Map | Parallel) -> Any:
        is_map = isinstance(cmd, Map)
        sub_type = "Map" if is_map else "Parallel"
        op_id, rec = self._position(fiber, "CONTEXT", sub_type, cmd.name)
        rebuild = False
        if rec is not None:
            d = rec.context_details
            if rec.status == "SUCCEEDED":
                if not (d and d.replay_children):
                    return (self._decode_batch(d.result if d else None, cmd.serdes), None)
                rebuild = True
            elif rec.status in TERMINAL_STATUSES:
                return (None, raise_error(ChildFailedError, d.error if d else None))
        else:
            self.updates.append(
                self._context_update(op_id, fiber.parent_id, sub_type, cmd.name, "START")
            )
        units, names = _batch_units(cmd)
        batch = _Batch(cmd, fiber, op_id, sub_type, units, names, rebuild)
        self._expanded.add(op_id)
        self._fill(batch)
        if batch.done:
            return self._batch_result_now(batch)
        return _BLOCKED

    def _decode_batch(self, payload: str | None, serdes: Serdes | None) -> Any:
        if serdes is not None:
            return loads(payload, serdes)
        if not payload:
            return BatchResult(items=[], completion_reason="ALL_COMPLETED")
        try:
            return msgspec.json.decode(payload, type=BatchResult)
        except msgspec.DecodeError as exc:
            raise _Fatal(
                InvalidInputError(f"a recorded Map/Parallel result is not a batch result: {exc}")
            ) from exc

    def _fill(self, batch: _Batch) -> None:
        """Start items in index order while the concurrency limit and the policy allow."""
        cmd = batch.cmd
        limit = cmd.max_concurrency
        total = len(batch.units)
        item_type = "MapIteration" if batch.sub_type == "Map" else "ParallelBranch"
        while not batch.done and batch.next < total:
            if limit is not None and len(batch.running) >= limit:
                return
            i = batch.next
            batch.next += 1
            iter_id = operation_id(batch.op_id, i)
            name = batch.names[i]
            if cmd.nesting == "flat":  # virtual item contexts: nothing recorded for them
                self._start_item(batch, i, iter_id, name, item_type, replay_children=True)
                batch.running[i].parent_id = batch.op_id
                continue
            rec = self._match(iter_id, batch.op_id, "CONTEXT", item_type, name, i)
            if rec is not None and rec.status in TERMINAL_STATUSES:
                d = rec.context_details
                if rec.status == "SUCCEEDED" and not (d and d.replay_children):
                    value = loads(d.result if d else None, cmd.item_serdes)
                    self._item_done(batch, i, value, None)
                    continue
                if rec.status != "SUCCEEDED":
                    self._item_done(batch, i, None, (d.error if d else None) or ErrorObject())
                    continue
            elif batch.rebuild:
                continue  # never completed before the batch was decided
            if rec is None:
                self.updates.append(
                    self._context_update(iter_id, batch.op_id, item_type, name, "START")
                )
            self._start_item(
                batch,
                i,
                iter_id,
                name,
                item_type,
                replay_children=rec is not None and rec.status == "SUCCEEDED",
            )
        if not batch.done and not batch.running and batch.next >= total:
            self._finish_batch(batch, "ALL_COMPLETED")

    def _start_item(
        self, batch: _Batch, i: int, iter_id: str, name: str, item_type: str, replay_children: bool
    ) -> None:
        serdes = batch.cmd.item_serdes

        def done(child: _Fiber, value: Any, exc: BaseException | None) -> None:
            batch.running.pop(i, None)
            if batch.done:
                return
            result, err = self._settle_context(
                iter_id, batch.op_id, item_type, name, serdes, value, exc,
                record=not replay_children,
            )  # fmt: skip
            self._item_done(batch, i, result, err)
            if not batch.done:
                self._fill(batch)
            if batch.done:
                self._ready.append((batch.fiber, *self._batch_result_now(batch)))

        self._expanded.add(iter_id)
        child = _Fiber(_generator(batch.units[i]), iter_id, done)
        batch.running[i] = child
        self._ready.append((child, None, None))

    def _item_done(self, batch: _Batch, i: int, value: Any, err: ErrorObject | None) -> None:
        if err is None:
            batch.succeeded += 1
            batch.outcomes[i] = BatchItem(
                index=i, status="SUCCEEDED", result=value, name=batch.names[i]
            )
        else:
            batch.outcomes[i] = BatchItem(index=i, status="FAILED", error=err, name=batch.names[i])
        if batch.rebuild:
            return
        succeeded = batch.succeeded
        failed = len(batch.outcomes) - succeeded
        reason = decide(batch.cmd.completion, len(batch.units), succeeded, failed)
        if reason is not None and (reason != "ALL_COMPLETED" or not batch.running):
            self._finish_batch(batch, reason)

    def _finish_batch(self, batch: _Batch, reason: str) -> None:
        batch.done = True
        batch.reason = reason
        for fiber in batch.running.values():
            self._abandon(fiber)

    def _abandon(self, fiber: _Fiber) -> None:
        fiber.alive = False
        # a generator that yields from `finally` raises RuntimeError: nothing more to run
        with contextlib.suppress(RuntimeError):
            fiber.gen.close()

    def _batch_result_now(self, batch: _Batch) -> tuple[Any, BaseException | None]:
        items = []
        for i in range(len(batch.units)):
            item = batch.outcomes.get(i)
            if item is None:
                status = "STARTED" if i < batch.next else "NOT_STARTED"
                item = BatchItem(index=i, status=status, name=batch.names[i])  # type: ignore[arg-type]
            items.append(item)
        reason = batch.reason or "ALL_COMPLETED"
        result = BatchResult(items=items, completion_reason=reason)  # type: ignore[arg-type]
        cmd = batch.cmd
        try:
            payload = dumps(result, cmd.serdes, what=f"the result of {batch.sub_type} {cmd.name!r}")
        except SerializationError as exc:
            err = error_object(exc)
            if not batch.rebuild:
                self.updates.append(
                    self._context_update(
                        batch.op_id,
                        batch.fiber.parent_id,
                        batch.sub_type,
                        cmd.name,
                        "FAIL",
                        error=err,
                    )
                )
            return (None, raise_error(ChildFailedError, err))
        if not batch.rebuild:
            summary = msgspec.json.encode(
                {"completionReason": reason, "totalCount": len(items)}
            ).decode()
            self.updates.append(
                self._context_success(
                    batch.op_id, batch.fiber.parent_id, batch.sub_type, cmd.name, payload, summary
                )
            )
        return (self._decode_batch(payload, cmd.serdes), None)


class _Compensate(Command, frozen=True):
    """One undo, run as a CONTEXT/Compensation holding one step (internal)."""

    fn: Callable[[Any], Any]
    value: Any
    name: str | None
    retry: Retry | None


def _compensate(
    undo: list[tuple[Callable[[Any], Any], Any, str | None]], retry: Retry | None
) -> Gen:
    results = []
    for fn, value, name in reversed(undo):
        try:
            result = yield _Compensate(fn, value, name, retry)
        except OperationError as exc:
            results.append(
                CompensationResult(
                    name=name,
                    status="FAILED",
                    error_type=exc.error_type,
                    error_message=exc.error_message,
                )
            )
        else:
            results.append(CompensationResult(name=name, status="SUCCEEDED", result=result))
    return results


def _plain(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The function to call: a ``@step`` function's plain function, else ``fn``."""
    return fn.fn if isinstance(fn, StepFunction) else fn


def _wait_done(op: Operation) -> Any:
    if op.status in TERMINAL_STATUSES:
        return _NO_RESULT
    return None


def _generator(factory: Callable[[], Any]) -> Gen:
    """The generator a context runs: the factory's, or one raising or returning its outcome."""
    try:
        gen = factory()
    except Exception as exc:
        return _raising(exc)
    return gen if inspect.isgenerator(gen) else _returning(gen)


def _raising(exc: BaseException) -> Gen:
    raise exc
    yield  # pragma: no cover


def _returning(value: Any) -> Gen:
    return value
    yield  # pragma: no cover


def _one_step(
    fn: Callable[..., Any], args: tuple[Any, ...], name: str | None, retry: Retry | None
) -> Gen:
    return (yield Step(fn, args, None, name, retry))


def _batch_units(cmd: Map | Parallel) -> tuple[list[Callable[[], Gen]], list[str]]:
    """One generator factory per item or branch, and the item names."""
    units: list[Callable[[], Gen]] = []
    names: list[str] = []
    if isinstance(cmd, Map):
        fn = cmd.fn
        is_gen = inspect.isgeneratorfunction(inspect.unwrap(fn))
        arity = _positional_arity(fn)
        step_name = fn.name if isinstance(fn, StepFunction) else _fn_name(fn)
        plain = _plain(fn)
        retry = fn.retry if isinstance(fn, StepFunction) else None
        for i, item in enumerate(cmd.items):
            args = (item,) if arity < 2 else (item, i)
            if is_gen:
                units.append(functools.partial(fn, *args))
            else:
                units.append(functools.partial(_one_step, plain, args, step_name, retry))
            names.append(cmd.item_namer(item, i) if cmd.item_namer else f"map-item-{i}")
        return units, names
    for i, branch in enumerate(cmd.branches):
        bfn, bname = (branch.fn, branch.name) if isinstance(branch, Branch) else (branch, None)
        if inspect.isgeneratorfunction(inspect.unwrap(bfn)):
            units.append(bfn)
        else:
            sname = bfn.name if isinstance(bfn, StepFunction) else _fn_name(bfn)
            units.append(functools.partial(_one_step, _plain(bfn), (), sname, None))
        names.append(bname or f"parallel-branch-{i}")
    return units, names
