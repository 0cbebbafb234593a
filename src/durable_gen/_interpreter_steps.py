"""Steps in the interpreter: attempts handed to the host, their outcomes, retries.

Pure. The rules (rule 5 of ``durable_gen._interpreter``, with what follows from it):

1. A new step becomes a ``StepTask``. At-least-once steps record START together with their
   outcome; at-most-once steps (and every step in ``"eager"`` mode) record START first, and
   that START is flushed before the task is handed out.
2. An outcome is recorded as SUCCEED (the serialized result; the workflow receives the result
   as it will on every replay: decoded from that payload), RETRY (with a delay from the retry
   policy and deterministic jitter) or FAIL. A result that cannot be serialized fails the step.
3. ``Attempt`` counts finished attempts. A step found PENDING waits for READY, then runs its
   next attempt; found STARTED, an at-least-once step runs again and an at-most-once step
   counts as an interrupted attempt (``StepInterruptedError``).
4. A step still running may have its START recorded early, on the host's request
   (``Interpreter.started``): in ``"step"`` mode only (``"eager"`` and at-most-once STARTs
   are out already, ``"batch"`` sends nothing before it suspends), once per attempt, flushed at
   once with every update pending before it. Its outcome then goes out alone.
5. ``WaitForCondition`` is a step whose check runs on the state it returned last time; its
   strategy decides SUCCEED or RETRY (the state rides on the RETRY payload). ``Now()`` is a
   step whose function reads the clock the host gave the interpreter.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from functools import lru_cache
from hashlib import blake2b
from itertools import count
from typing import Any, Final

from ._actions import CheckpointMode, StepTask
from ._codec import (
    Unreadable,
    _fn_readers,
    narrowed,
    overload_note,
    plain_result,
    reader,
    result_reader,
    result_type,
    state_type,
    undecodable,
)
from ._commands import (
    AT_MOST_ONCE,
    DEFAULT_RETRY,
    NO_RETRY,
    Command,
    Retry,
    Step,
    StepFunction,
    WaitDecision,
    WaitForCondition,
)
from ._context import StepAttempt, in_step
from ._errors import (
    ArgumentError,
    SerializationError,
    StepInterruptedError,
    ValidationError,
    WorkflowDefinitionError,
)
from ._failure import condition_error, step_error, step_error_object
from ._interpreter_batch import BatchHandlers
from ._interpreter_core import BLOCKED, Answer, Fiber, Resolver, plain
from ._logger import failed_attempts_logged, log_failed_attempt
from ._serdes import Serdes, dumps, loads
from ._versioning import NOW_SUBTYPE, TIME_SERDES, Now, clock_time, read_clock
from ._wire import (
    LATEST_MS,
    TERMINAL_STATUSES,
    ErrorObject,
    Operation,
    OperationAction,
    OperationUpdate,
    StepOptions,
)
from ._wire import (
    MAX_OPERATION_PAYLOAD_BYTES as OPERATION_LIMIT,
)

__all__ = ["NOT_STEP_SUBTYPES", "Run", "StepHandlers"]


@lru_cache(maxsize=4096)
def _is_async(fn: Callable[..., Any]) -> bool:
    # the function itself (an async def wrapper around a plain def, under functools.wraps),
    # what it wraps (a plain def wrapper returning an async function's coroutine), or an
    # async callable object
    return (
        inspect.iscoroutinefunction(fn)
        or inspect.iscoroutinefunction(inspect.unwrap(fn))
        or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004
    )


class Run:
    """A step the interpreter handed out, across its attempts (the host sees ``StepTask``s)."""

    __slots__ = (
        "args",
        "at_most_once",
        "attempt",
        "cmd",
        "condition",
        "fiber",
        "fn",
        "kwargs",
        "name",
        "op_id",
        "retry",
        "returned",
        "serdes",
        "started",
        "sub_type",
        "task",
        "timeout",
    )

    def __init__(
        self,
        fiber: Fiber,
        op_id: str,
        name: str | None,
        sub_type: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None,
        attempt: int,
        started: bool,
        retry: Retry | None,
        serdes: Serdes | None,
        cmd: Command[Any],
        at_most_once: bool = False,
        condition: bool = False,
    ) -> None:
        self.fiber = fiber
        self.op_id = op_id
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
        self.at_most_once = at_most_once
        self.condition = condition
        self.task: StepTask | None = None
        #: Futures the running attempt's ``task.fn`` returned (``in_step``): its own result.
        self.returned: list[Any] = []
        timeout = getattr(cmd, "timeout", None)  # Step's option; conditions and Now have none
        self.timeout: float | None = timeout if isinstance(timeout, float) else None


#: Types of step results that are certainly values (most results): not checked further.
_PLAIN: Final = frozenset({int, str, float, bool, type(None), dict, list, tuple})
#: SubTypes of the tasks that run something other than a user's step function (a condition
#: check, ``Now``); every other SubType (``"Step"``, a ``Step(sub_type=...)``) is a step's.
NOT_STEP_SUBTYPES: Final = frozenset({"WaitForCondition", NOW_SUBTYPE})


def _read_state(cmd: WaitForCondition[Any], payload: str | None) -> Any:
    """A wait-for-condition state as recorded, in the type its check declares (its return
    type, else its state parameter's): the state passed to the next check, to the wait
    strategy and to the workflow."""
    if cmd.serdes is not None:
        return loads(payload, cmd.serdes, what="the wait-for-condition state")
    return reader(state_type(cmd.check))(payload, "the wait-for-condition state")


def _call_mistake(run: Run, error: TypeError) -> ArgumentError | None:
    """The ``ArgumentError`` of a step attempt whose ``TypeError`` came from calling its
    function with arguments it does not take (``Step(f)`` of ``f(x)``, ``charge(order_id)`` of
    ``charge(order_id, amount)``): the body never ran and every retry would fail alike. None
    when the arguments fit (the error came from inside) or the signature cannot be read."""
    fn = run.fn
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without one: let the policy decide
        return None
    try:
        signature.bind(*run.args, **(run.kwargs or {}))
    except TypeError as exc:
        name = getattr(fn, "__name__", _label(fn))
        step = f"step {run.name!r}" if run.name else f"the unnamed step {_label(fn)}"
        return ArgumentError(
            f"{step}: {name}{signature} cannot take the arguments it was given ({exc}); "
            "not retried, as every attempt would fail alike. A step calls its function with "
            f"the arguments given where it is built: write {name}(...) with all of them for "
            f"a @step function, dg.Step({name}, (arg, ...)) for a plain one, or bind them "
            f"with functools.partial({name}, ...)"
        )
    return None


def _label(fn: Callable[..., Any]) -> str:
    """How a message names an unnamed step's function (a lambda by where it is defined)."""
    return str(getattr(fn, "__qualname__", type(fn).__name__))


def _returned_work(
    what: str, value: object, fn: Callable[..., Any] | None = None
) -> WorkflowDefinitionError:
    """The error of a step whose function returned a generator or a command: work that only a
    workflow can run, which the step would record as its result."""
    target = inspect.unwrap(fn) if fn is not None else None
    if inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target):
        return WorkflowDefinitionError(
            f"{what} is a generator: a step runs a plain function (`def` or `async def`, no "
            f"`yield`), and {_label(target)} is a generator function, a workflow. Run it with "
            "`result = yield from sub(...)` or `yield dg.Child(sub, (...))`, or make it "
            "return its value"
        )
    if isinstance(value, Command):
        kind = next(c.__name__ for c in type(value).__mro__ if not c.__name__.startswith("_"))
        return WorkflowDefinitionError(
            f"{what} is a command ({kind}), not a value: a step's function "
            "runs outside the workflow and cannot yield. Yield the command in the workflow "
            "(`result = yield cmd`), or make the Map function or branch a generator function "
            "that yields it"
        )
    return WorkflowDefinitionError(
        f"{what} is a generator: the function only returned a sub-workflow (e.g. "
        "`lambda: sub(1)`), so it ran as a step and the sub-workflow never ran. Pass a "
        "generator function instead: `functools.partial(sub, 1)`, `def branch(): return "
        "(yield from sub(1))`, or the sub-workflow itself as a Map function"
    )


def refused_result(task: StepTask, value: object) -> WorkflowDefinitionError | None:
    """The error a step fails with because its attempt returned ``value`` (a generator or a
    command), for the attempt's end hook; None for a value the step goes on to record."""
    if task.sub_type in NOT_STEP_SUBTYPES or not _is_work(value):
        return None
    return _returned_work(_result_of(task.name, task.fn), value, task.fn)


def _is_work(value: object) -> bool:
    """Whether a step's function returned work only a workflow can run (a generator or a
    command) instead of a value; a value of a plain type is not looked at further."""
    return type(value) not in _PLAIN and (
        inspect.isgenerator(value) or inspect.isasyncgen(value) or isinstance(value, Command)
    )


def _not_run(problem: SerializationError, fn: object) -> SerializationError:
    """``problem`` (a declared type no payload can be decoded into), said before the step ran."""
    return SerializationError(
        f"{problem}{overload_note(fn)}. The step was not run: its result could not be read back"
    )


def _result_of(name: str | None, fn: Callable[..., Any]) -> str:
    """How messages name a step's result."""
    if name is not None:
        return f"the result of step {name!r}"
    return f"the result of the unnamed step {_label(fn)}"


class StepHandlers(BatchHandlers):
    """The handlers of ``Step``, ``WaitForCondition`` and ``Now``, and the steps in flight."""

    __slots__ = (
        "_clock",
        "_host_sets_step",
        "_ids",
        "_mode",
        "_new_tasks",
        "_now_fn",
        "_reported",
        "_running",
    )

    def __init__(
        self,
        operations: Iterable[Operation],
        execution_arn: str,
        mode: CheckpointMode,
        clock: Callable[[], float] | None,
    ) -> None:
        super().__init__(operations, execution_arn)
        self._mode = mode
        self._clock = clock
        self._now_fn = functools.partial(clock_time, clock)
        self._new_tasks: list[StepTask] = []
        self._running: dict[int, Run] = {}
        self._ids = count(1)
        #: True when the host sets ``_context.STEP`` around each attempt itself (the driver
        #: does, around its hooks too): ``StepTask.fn`` is then the step's own function.
        self._host_sets_step = False
        self._reported = False  # a step outcome was recorded since the last flush

    def _step_returned(self, run: Run, value: Any) -> None:
        """Record what a step attempt returned and resume its fiber (or decide a condition)."""
        fiber = run.fiber
        if run.condition:
            self._condition_checked(run, value)
            return
        payload = None
        if run.serdes is None and not self._aws_types:  # an int, str, bool or None reads as itself
            payload = plain_result(run.fn, value, OPERATION_LIMIT)
        if payload is None:
            what = _result_of(run.name, run.fn)
            if _is_work(value):
                self._step_final_failure(run, _returned_work(what, value, run.fn))
                return
            try:
                payload = dumps(
                    value, run.serdes, what=what, format=self.payload_format, limit=OPERATION_LIMIT
                )
                # The workflow receives what every replay decodes: the payload in the declared
                # type.
                if run.serdes is None:
                    decoded = result_reader(run.fn)(payload, what)
                    if type(decoded) is not type(value):
                        cut = narrowed(value, decoded, what, result_type(run.fn))
                        if cut is not None:
                            raise cut
                    value = decoded
                else:
                    value = loads(payload, run.serdes, what=what)
            except SerializationError as exc:
                self._step_final_failure(run, exc)
                return
        self._step_outcome(run, "SUCCEED", payload=payload)
        cmd = run.cmd
        if isinstance(cmd, Step) and cmd.compensate is not None:
            fiber.undo.append((cmd.compensate, value, run.name))
        self._ready.append((fiber, value, None))

    def _take(self, task: StepTask) -> Run:
        try:
            run = self._running.get(task.id)
        except AttributeError:  # not a task: said below
            run = None
        if run is None and not isinstance(task, StepTask):
            raise ValidationError(
                "task_succeeded() and task_failed() take a StepTask of a RunTasks action, got "
                f"{type(task).__name__}"
            )
        # Ids count from 1 in every interpreter: only the very task handed out here matches,
        # so that a task of another interpreter never completes this one's step.
        if run is None or run.task is not task:
            raise ValidationError(
                f"{task!r} is not running: report each task of a RunTasks action once, to the "
                "interpreter that handed it out"
            )
        del self._running[task.id]
        return run

    def _step_outcome(
        self,
        run: Run,
        action: OperationAction,
        *,
        payload: str | None = None,
        error: ErrorObject | None = None,
        step_options: StepOptions | None = None,
    ) -> None:
        """Record a step's outcome, preceded by its START when that was not sent yet."""
        parent = run.fiber.parent_id
        if not run.started:
            self._updates.append(self._step_start(run))
        self._updates.append(
            OperationUpdate(
                id=run.op_id,
                type="STEP",
                action=action,
                parent_id=parent,
                name=run.name,
                sub_type=run.sub_type,
                payload=payload,
                error=error,
                step_options=step_options,
            )
        )
        self._reported = True
        if run.at_most_once:
            # Sent at once in every mode: an outcome lost to a crash would make the attempt
            # count as interrupted, and a retry would run the step again.
            self._urgent = True

    @staticmethod
    def _step_start(run: Run) -> OperationUpdate:
        return OperationUpdate(
            id=run.op_id,
            type="STEP",
            action="START",
            parent_id=run.fiber.parent_id,
            name=run.name,
            sub_type=run.sub_type,
        )

    def _start_early(self, task: StepTask) -> bool:
        """Record the START of ``task``'s attempt now, while it runs (rule 4); whether it did.

        Raises:
            ValidationError: ``task`` is not a ``StepTask``, or another interpreter handed it
                out (one of this interpreter's tasks with the same id is running).
        """
        if not isinstance(task, StepTask):
            raise ValidationError(
                f"started() takes a StepTask of a RunTasks action, got {type(task).__name__}"
            )
        run = self._running.get(task.id)
        if run is not None and run.task is not task:
            raise ValidationError(
                f"{task!r} was not handed out by this interpreter: ask the interpreter whose "
                "RunTasks action it came from"
            )
        if self._mode != "step":
            return False
        if run is None or run.started or not run.fiber.alive:
            return False
        self._updates.append(self._step_start(run))
        run.started = True
        return True

    def _schedule(self, run: Run) -> Answer:
        """Hand out the step's next attempt (its START first when it must go before).

        A step whose declared result (a condition's state) no payload can be decoded into
        fails for good instead, not run: what it did could never be read back.
        """
        if run.serdes is None and run.attempt == 1:
            cmd = run.cmd
            if run.condition and isinstance(cmd, WaitForCondition):
                read = reader(state_type(cmd.check))
            else:
                read = result_reader(run.fn)
            if type(read) is Unreadable:
                what = _result_of(run.name, run.fn)
                if run.condition:
                    what = f"the state of the wait for condition {run.name or _label(run.fn)!r}"
                problem = undecodable(read, what)
                if problem is not None:
                    self._step_final_failure(run, _not_run(problem, run.fn))
                    return BLOCKED
        if not run.started and (run.at_most_once or self._mode == "eager"):
            self._updates.append(self._step_start(run))
            run.started = True
            self._urgent = True
        is_async = _is_async(run.fn)
        fn = run.fn
        if not self._host_sets_step:  # what the step logs names this attempt, in any host
            attempt = StepAttempt(
                self.execution_arn, run.op_id, run.name, run.attempt, run.fiber.parent_id
            )
            run.returned = []
            fn = in_step(fn, is_async, (self.execution_arn, attempt), run.returned)
        task = StepTask(
            id=next(self._ids),
            operation_id=run.op_id,
            parent_id=run.fiber.parent_id,
            name=run.name,
            sub_type=run.sub_type,
            attempt=run.attempt,
            fn=fn,
            args=run.args,
            kwargs=run.kwargs,
            is_async=is_async,
            deadline_ms=self._deadline_ms(run.timeout),
            timeout=run.timeout,
        )
        run.task = task
        self._new_tasks.append(task)
        self._running[task.id] = run
        return BLOCKED

    def _deadline_ms(self, timeout: float | None) -> int | None:
        """When an attempt handed out now must end: the host's clock plus ``timeout``."""
        if timeout is None or self._clock is None:
            return None
        deadline = (read_clock(self._clock) + timeout) * 1000
        # a timeout so long that its deadline lies past the year 9999 (up to 1e308 s, whose
        # milliseconds are no float) never passes: no limit, as None
        return round(deadline) if deadline <= LATEST_MS else None

    def _on_step(self, fiber: Fiber, cmd: Step[Any]) -> Answer:
        name = cmd.name
        if name is None:
            name = cmd.op_name
        sub_type = cmd.sub_type or "Step"
        op_id, rec = self._position(fiber, "STEP", sub_type, name, cmd.fn)
        if rec is not None and rec.name != name:  # matched after its function (``_match``)
            name = rec.name  # updates keep the recorded name
        if rec is not None and rec.status == "SUCCEEDED":  # the replay path: keep it short
            details = rec.step_details
            payload = details.result if details else None
            try:
                if cmd.serdes is None:
                    # no message built per replay: a failure is decoded again to name the step
                    try:
                        read = _fn_readers[cmd.fn]  # result_reader's cache, without the call
                    except (KeyError, TypeError):
                        read = result_reader(cmd.fn)
                    value = read(payload)
                else:
                    value = loads(payload, cmd.serdes)
            except SerializationError as exc:
                failure: SerializationError | None = exc
            else:
                failure = None
            if failure is not None:  # raised at the yield, where the workflow can catch it
                if cmd.serdes is None:
                    failure = _decode_failure(cmd.fn, payload, name)
                else:
                    what = f"the recorded result of step {name!r}" if name else "a step's result"
                    failure = SerializationError(f"{what}: {failure}")
                where = self._context_where(rec.parent_id)
                if where is not None:  # which of the steps of that name, in a Map of many
                    failure = SerializationError(f"{str(failure).rstrip('.')}. {where}")
                return (None, failure)
            if cmd.compensate is not None:
                fiber.undo.append((cmd.compensate, value, name))
            return (value, None)
        at_most_once = cmd.semantics == AT_MOST_ONCE
        if rec is None:
            run = Run(fiber, op_id, name, sub_type, plain(cmd.fn), cmd.args, cmd.kwargs, 1, False,
                       cmd.retry, cmd.serdes, cmd, at_most_once)  # fmt: skip
            return self._schedule(run)
        details = rec.step_details
        if rec.status == "FAILED":
            return (None, step_error(details.error if details else None))
        # Attempt counts finished attempts: the one that was running (or comes next) is one more
        attempt = ((details.attempt or 0) if details else 0) + 1
        run = Run(fiber, op_id, name, sub_type, plain(cmd.fn), cmd.args, cmd.kwargs, attempt, True,
                   cmd.retry, cmd.serdes, cmd, at_most_once)  # fmt: skip
        if rec.status == "STARTED":
            if at_most_once:
                self._attempt_failed(
                    run,
                    StepInterruptedError(
                        f"step {name!r} attempt {attempt} started but never finished (the process "
                        "stopped); at-most-once steps are not run again",
                        error_type="StepInterruptedError",
                    ),
                )
                return BLOCKED
            return self._schedule(run)
        return self._block(fiber, op_id, self._ready_resolver(run))

    def _attempt_failed(self, run: Run, error: BaseException) -> None:
        """Record a failed attempt (reported, or at-most-once and interrupted): a retry after
        its delay, or the step's failure; then log it once (``_logger`` rule 5)."""
        self._decide_after_failure(run, error)
        if failed_attempts_logged():
            self._log_failure(run, error)

    def _as_step(self, run: Run, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` (a ``retry_if``, a wait strategy) called as code of ``run``'s attempt: what it
        logs names the execution, the step and the attempt."""
        attempt = StepAttempt(
            self.execution_arn, run.op_id, run.name, run.attempt, run.fiber.parent_id
        )
        return in_step(fn, False, (self.execution_arn, attempt))

    def _log_failure(self, run: Run, error: BaseException) -> None:
        outcome = next((u for u in reversed(self._updates) if u.id == run.op_id), None)
        if outcome is None or outcome.action not in ("RETRY", "FAIL"):
            return  # nothing was recorded
        options = outcome.step_options
        delay = options.next_attempt_delay_seconds if options is not None else None
        log_failed_attempt(
            self.execution_arn,
            run.op_id,
            run.name,
            run.attempt,
            error,
            delay if outcome.action == "RETRY" else None,
            run.fiber.parent_id,
            self._item_of(run.fiber.parent_id),
        )

    def _item_of(self, parent_id: str | None) -> str | None:
        """Which item of which batch a step runs in (``item 'map-item-1' of Map 'pack'``), for the
        line of its failed attempt: None outside a ``Map``/``Parallel``. A flat batch's steps
        belong to the batch itself (``in Map 'pack'``). Read on the rare path only."""

        def known(op_id: str | None) -> tuple[str | None, str | None, str | None] | None:
            if op_id is None:
                return None
            rec = self._ops.get(op_id)
            if rec is not None:
                return rec.sub_type, rec.name, rec.parent_id
            for update in self._updates:
                if update.id == op_id:
                    return update.sub_type, update.name, update.parent_id
            return None

        context = known(parent_id)
        for _ in range(64):  # up through child contexts to the nearest batch item
            if context is None:
                return None
            sub_type, name, up = context
            if sub_type in ("Map", "Parallel"):  # a flat batch: no context per item
                return f"in {sub_type} {name!r}" if name else f"in a {sub_type}"
            if sub_type in ("MapIteration", "ParallelBranch"):
                item = "item" if sub_type == "MapIteration" else "branch"
                batch = known(up)
                kind = "Map" if sub_type == "MapIteration" else "Parallel"
                of = f"{kind} {batch[1]!r}" if batch is not None and batch[1] else f"a {kind}"
                return f"{item} {name!r} of {of}" if name else f"a {item} of {of}"
            context = known(up)
        return None

    def _decide_after_failure(self, run: Run, error: BaseException) -> None:
        if type(error) is TypeError:  # the call itself, which no retry changes?
            mistake = _call_mistake(run, error)
            if mistake is not None:
                self._step_final_failure(run, mistake)
                return
        policy = run.retry or DEFAULT_RETRY
        try:  # retry_if is the step's code: what it logs names the step
            retry = self._as_step(run, policy.should_retry)(run.attempt, error)
        except Exception as exc:  # the user's retry_if raised: the step fails with that error
            exc.args = (
                f"retry_if raised {type(exc).__name__}: {exc} while deciding whether to retry "
                f"{type(error).__name__}: {error}",
            )
            self._step_final_failure(run, exc)
            return
        if retry:
            delay = policy.delay(run.attempt, self._unit(run.op_id, run.attempt))
            self._retry_with_delay(
                run, delay, step_error_object(error, aws_types=self._aws_types), None
            )
        else:
            self._step_final_failure(run, error)

    def _retry_with_delay(
        self, run: Run, delay: int, err: ErrorObject | None, payload: str | None
    ) -> None:
        self._step_outcome(
            run,
            "RETRY",
            error=err,
            payload=payload,
            step_options=StepOptions(next_attempt_delay_seconds=delay),
        )
        run.started = True
        self._waiters.setdefault(run.op_id, []).append((run.fiber, self._ready_resolver(run)))

    def _ready_resolver(self, run: Run) -> Resolver:
        """Blocks until the step's retry delay is over (READY), then runs the next attempt."""

        def resolve(op: Operation) -> Answer | None:
            d = op.step_details
            if op.status == "READY":
                run.attempt = ((d.attempt or 0) if d else run.attempt) + 1
                run.started = False
                if run.condition:
                    assert isinstance(run.cmd, WaitForCondition)
                    # the state the last check recorded; a retry that holds none starts again
                    # from initial_state, as an interrupted check does (and AWS's SDK)
                    payload = d.result if d else None
                    run.args = (
                        (run.cmd.initial_state,)
                        if payload is None
                        else (_read_state(run.cmd, payload),)
                    )
                return self._schedule(run)
            if op.status == "SUCCEEDED":
                payload = d.result if d else None
                try:
                    if run.condition:
                        assert isinstance(run.cmd, WaitForCondition)
                        return (_read_state(run.cmd, payload), None)
                    if run.serdes is None:
                        return (result_reader(run.fn)(payload, f"the result of {run.name!r}"), None)
                    return (loads(payload, run.serdes), None)
                except SerializationError as exc:
                    return (None, exc)
            if op.status in TERMINAL_STATUSES:
                failed = condition_error if run.condition else step_error
                return (None, failed(d.error if d else None))
            return None

        return resolve

    def _step_final_failure(self, run: Run, error: BaseException) -> None:
        err = step_error_object(error, aws_types=self._aws_types)
        self._step_outcome(run, "FAIL", error=err)
        failed = condition_error if run.condition else step_error
        self._ready.append((run.fiber, None, failed(err)))

    def _unit(self, op_id: str, attempt: int) -> float:
        """A number in [0, 1) derived from the execution, operation and attempt (jitter)."""
        digest = blake2b(f"{self.execution_arn}:{op_id}:{attempt}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2.0**64

    # --- wait-for-condition -------------------------------------------------------------------

    def _on_wait_for_condition(self, fiber: Fiber, cmd: WaitForCondition[Any]) -> Answer:
        name = cmd.op_name
        op_id, rec = self._position(fiber, "STEP", "WaitForCondition", name, cmd.check)
        if rec is not None and rec.name != name:  # matched after its function (``_match``)
            name = rec.name  # updates keep the recorded name
        run = Run(
            fiber, op_id, name, "WaitForCondition", plain(cmd.check), (cmd.initial_state,), None,
            1, False, NO_RETRY, cmd.serdes, cmd, condition=True,
        )  # fmt: skip
        if isinstance(cmd.check, StepFunction):
            run.timeout = cmd.check.timeout  # a @step check's timeout bounds each check
        if rec is None:
            return self._schedule(run)
        d = rec.step_details
        if rec.status == "SUCCEEDED":
            try:
                return (_read_state(cmd, d.result if d else None), None)
            except SerializationError as exc:
                return (None, exc)
        if rec.status == "FAILED":
            return (None, condition_error(d.error if d else None))
        run.attempt = ((d.attempt or 0) if d else 0) + 1
        run.started = True
        if d is not None and d.result is not None:
            # the state the next check runs on, read now: a state this code cannot read fails
            # here, while the condition waits too, as a replay of the history says it would
            try:
                run.args = (_read_state(cmd, d.result),)
            except SerializationError as exc:
                return (None, exc)
        if rec.status == "STARTED":
            # the check was interrupted: run it again with the last checkpointed state
            return self._schedule(run)
        return self._block(fiber, op_id, self._ready_resolver(run))

    def _condition_checked(self, run: Run, state: Any) -> None:
        cmd = run.cmd
        assert isinstance(cmd, WaitForCondition)
        if _is_work(state):  # a command or a generator: work, not a state (as for a step)
            what = f"the state the wait-for-condition check {_label(run.fn)} returned"
            self._step_final_failure(run, _returned_work(what, state, run.fn))
            return
        try:
            payload = dumps(
                state,
                cmd.serdes,
                what="the wait-for-condition state",
                format=self.payload_format,
                limit=OPERATION_LIMIT,
            )
            strategy = cmd.wait_strategy
            read = _read_state(cmd, payload)
            if cmd.serdes is None and type(read) is not type(state):
                cut = narrowed(state, read, "the wait-for-condition state", state_type(cmd.check))
                if cut is not None:
                    raise cut
            state = read
            decision = (
                self._as_step(run, strategy)(state, run.attempt)
                if strategy
                else WaitDecision.done()
            )
            if not isinstance(decision, WaitDecision):
                raise WorkflowDefinitionError(
                    f"wait_strategy returned {decision!r}; return WaitDecision.done() or "
                    "WaitDecision.again(seconds)"
                )
        except Exception as exc:
            self._step_final_failure(run, exc)
            return
        if decision.stop:
            self._step_outcome(run, "SUCCEED", payload=payload)
            self._ready.append((run.fiber, state, None))
        else:
            self._retry_with_delay(run, decision.delay, None, payload)

    def _on_now(self, fiber: Fiber, cmd: Now) -> Answer:
        name = cmd.op_name
        op_id, rec = self._position(fiber, "STEP", NOW_SUBTYPE, name)
        d = rec.step_details if rec is not None else None
        if rec is not None and rec.status == "SUCCEEDED":
            return (loads(d.result if d else None, TIME_SERDES), None)
        if rec is not None and rec.status in TERMINAL_STATUSES:
            return (None, step_error(d.error if d else None))
        attempt = ((d.attempt or 0) if d else 0) + 1
        return self._schedule(
            Run(
                fiber,
                op_id,
                name,
                NOW_SUBTYPE,
                self._now_fn,
                (),
                None,
                attempt,
                rec is not None,
                NO_RETRY,
                TIME_SERDES,
                cmd,
            )
        )


def _decode_failure(fn: Any, payload: str | None, name: str | None) -> SerializationError:
    """The error of a recorded step result that does not decode, its message naming the step
    (decoding is pure: the same payload fails again, the same way)."""
    try:
        result_reader(fn)(payload, f"the result of step {name!r}, as recorded")
    except SerializationError as exc:
        return exc
    raise AssertionError("a recorded payload decoded on the second try")  # pragma: no cover
