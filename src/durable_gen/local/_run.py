"""``run()`` on the embedded engine, and how the engine names and registers functions.

``run`` is the one-call entry point of the Quick start and of scripts (re-exported as
``durable_gen.run``). For more control (several executions, callbacks sent from outside,
inspection), use ``LocalService`` directly.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, TypeVar, overload

from .._arguments import checked
from .._codec import PayloadFormat, input_narrowed, input_type, result_type
from .._commands import StepFunction
from .._driver import CheckpointMode, check_workflow, make_handler
from .._errors import (
    ExecutionFailedError,
    ExecutionSuspendedError,
    ValidationError,
    shown,
)
from .._guard import input_problem
from .._plugins import Plugin
from .._serdes import Serdes, dumps, loads
from ._clock import RealClock, VirtualClock
from ._engine import LocalService
from ._store import ExecutionRecord

__all__ = ["outcome", "register_function", "run", "workflow_name"]


@checked
def workflow_name(workflow: Callable[..., Any]) -> str:
    """The function name the engine registers a workflow under: ``module.qualname``.

    A name longer than 64 characters keeps its first 55 and ends with ``-`` and 8 hex digits
    of a hash of the whole name, so that two long names sharing a beginning stay apart.
    """
    module = getattr(workflow, "__module__", None) or "workflow"
    qualname = getattr(workflow, "__qualname__", None) or getattr(workflow, "__name__", "workflow")
    name = f"{module}.{qualname}".replace("<", "").replace(">", "")
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    if len(name) <= MAX_WORKFLOW_NAME:
        return name
    digest = hashlib.blake2b(name.encode(), digest_size=4).hexdigest()
    return f"{name[: MAX_WORKFLOW_NAME - 9]}-{digest}"


#: The longest name ``workflow_name`` gives.
MAX_WORKFLOW_NAME = 64


R = TypeVar("R")
In = TypeVar("In")


# The input is checked against the workflow's parameter, as a direct call would be (a dict is
# accepted too: the JSON form of a dataclass, a Struct, a TypedDict, decoded at run time);
# nothing at all for a workflow that takes None (``def wf(_: None)``).
@overload
def run(
    workflow: Callable[[In], Generator[Any, Any, R]],
    input: In | dict[str, Any],
    *,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    skip_time: bool = False,
    checkpointing: CheckpointMode = "step",
    serdes: Serdes | None = None,
    plugins: Sequence[Plugin] = (),
    payload_format: PayloadFormat = "json",
) -> R: ...
@overload
def run(
    workflow: Callable[[None], Generator[Any, Any, R]],
    *,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    skip_time: bool = False,
    checkpointing: CheckpointMode = "step",
    serdes: Serdes | None = None,
    plugins: Sequence[Plugin] = (),
    payload_format: PayloadFormat = "json",
) -> R: ...
@checked
def run(
    workflow: Callable[..., Generator[Any, Any, R]],
    input: Any = None,
    *,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    skip_time: bool = False,
    checkpointing: CheckpointMode = "step",
    serdes: Serdes | None = None,
    plugins: Sequence[Plugin] = (),
    payload_format: PayloadFormat = "json",
) -> R:
    """Run ``workflow(input)`` to completion on a new in-memory embedded engine.

    Args:
        workflow: A generator function that yields commands.
        input: The input (JSON-serializable).
        functions: Targets for ``Invoke``: name → workflow (generator function) or plain
            function taking and returning JSON-compatible values.
        skip_time: Use a virtual clock that starts at the current time: waits and retry
            delays finish at once (``Now()`` moves ahead by each).
        checkpointing: ``"step"`` (default), ``"eager"`` or ``"batch"``.
        serdes: Serdes of the input and the result.
        plugins: Instrumentation plugins (``Plugin``), e.g. ``durable_gen.otel``'s; they see
            the executions of the workflows in ``functions`` too.
        payload_format: ``"json"`` (default) or ``"aws"``: how results and failures are
            recorded (see ``durable_gen.lambda_handler``); also for workflows in ``functions``.

    Returns:
        The workflow's result.

    Raises:
        ExecutionFailedError: the workflow failed (its error is attached).
        ExecutionSuspendedError: the workflow waits for a callback nobody can send in this run.
        WorkflowDefinitionError: ``workflow`` is not a generator function.
    """
    check_workflow(workflow, "run()")
    check_functions(functions)
    check_flag(skip_time, "skip_time")
    # Virtual time starts now, as Worker(skip_time=True) and the CLI's: Now() reads the date of
    # the run, then moves ahead with each wait.
    engine = LocalService(clock=VirtualClock(RealClock().now_ms()) if skip_time else RealClock())
    name = workflow_name(workflow)
    engine.register(
        name,
        make_handler(
            workflow,
            engine,
            checkpointing=checkpointing,
            serdes=serdes,
            plugins=plugins,
            payload_format=payload_format,
        ),
    )
    for fname, fn in (functions or {}).items():
        register_function(
            engine,
            fname,
            fn,
            checkpointing=checkpointing,
            payload_format=payload_format,
            plugins=plugins,
        )
    payload = dumps(input, serdes, what="the workflow input")
    if serdes is None and payload:
        cut = input_narrowed(workflow, input, payload)
        if cut is not None:
            raise cut
    arn = engine.start(name, payload)
    record = engine.run(arn)
    result: R = outcome(engine, record, serdes, result_type(workflow) if serdes is None else Any)
    return result


def check_functions(functions: object) -> None:
    """A ``ValidationError`` unless ``functions`` is None or a mapping of names to functions."""
    if functions is not None and not isinstance(functions, Mapping):
        raise ValidationError(
            f"functions must be a mapping of Invoke names to functions, got "
            f"{type(functions).__name__} (write functions={{'name': fn}})"
        )
    for fname, fn in (functions or {}).items():
        if not isinstance(fname, str) or not fname:
            raise ValidationError(f"functions keys must be Invoke names (str), got {shown(fname)}")
        if not callable(fn):
            raise ValidationError(f"functions[{shown(fname)}] must be a function, got {shown(fn)}")
        _check_target(fname, fn)


def _check_target(name: str, fn: Callable[..., Any]) -> None:
    """Refuse an ``Invoke`` target whose call gives no result to record: a ``@step`` function
    (its call only builds a command), an ``async def`` (its call only makes a coroutine), or
    one that cannot be called with the payload alone."""
    if isinstance(fn, StepFunction):
        raise ValidationError(
            f"functions[{name!r}] is a @step function: calling it only builds a Step command, "
            f"so the Invoke would get no result. Register its plain function "
            f"({getattr(fn, '__name__', 'step')}.fn), or a workflow that yields the step"
        )
    plain = inspect.unwrap(fn)
    if not inspect.isroutine(plain) and not isinstance(plain, (type, functools.partial)):
        call = inspect.getattr_static(type(plain), "__call__", None)
        if call is not None and inspect.isgeneratorfunction(inspect.unwrap(call)):
            raise ValidationError(
                f"functions[{name!r}] is an object whose __call__ is a generator function: "
                "served by name, it would be called as a plain function, whose result is the "
                "generator, not the workflow's. Register its bound method "
                f"({type(plain).__name__}(...).__call__), which runs as a workflow"
            )
    if inspect.iscoroutinefunction(plain) or inspect.isasyncgenfunction(plain):
        raise ValidationError(
            f"functions[{name!r}] is an async def function: an Invoke target is a workflow (a "
            f"generator function) or a plain def function, which the engine calls with no event "
            f"loop running. Make it a workflow that yields an async step, or a def that runs the "
            f"coroutine (asyncio.run(...))"
        )
    problem = input_problem(fn)
    if problem is not None:
        what = "a workflow" if inspect.isgeneratorfunction(plain) else "a plain function"
        raise ValidationError(
            f"functions[{name!r}] cannot be called with its input ({problem}): {what} served "
            "by name (an Invoke target, or a workflow a worker runs) takes one positional "
            "argument, its input or the Invoke's payload (write `def name(_):` when it needs "
            "none; pass several values as one dict, dataclass or Struct)"
        )


def check_flag(value: object, name: str) -> bool:
    """``value`` if it is a bool; a ``ValidationError`` otherwise (``"no"`` is not False)."""
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be True or False, got {shown(value)}")
    return value


@checked
def register_function(
    engine: LocalService,
    name: str,
    fn: Callable[..., Any],
    *,
    checkpointing: CheckpointMode = "step",
    payload_format: PayloadFormat = "json",
    plugins: Sequence[Plugin] = (),
) -> None:
    """Register ``fn`` as an ``Invoke`` target: a workflow, or a plain function.

    A plain function gets the payload decoded into its first parameter's annotation (plain
    JSON without one), as a workflow gets its input. A workflow records in ``payload_format``
    and its executions are seen by ``plugins``; a plain function's result is plain JSON (an
    Invoke's payloads are, in either format)."""
    check_functions({name: fn})
    if inspect.isgeneratorfunction(inspect.unwrap(fn)):
        engine.register(
            name,
            make_handler(
                fn,
                engine,
                checkpointing=checkpointing,
                payload_format=payload_format,
                plugins=plugins,
            ),
        )
        return

    accepts = input_type(fn)  # the payload in its first parameter's type, as a workflow's input

    def plain(payload: str | None) -> str | None:
        given = loads(payload, type_=accepts, what=f"the payload of function {name!r}")
        return dumps(fn(given), what=f"the result of function {name!r}")

    engine.register(name, plain, durable=False)


def outcome(
    engine: LocalService,
    record: ExecutionRecord,
    serdes: Serdes | None = None,
    type_: Any = Any,
    *,
    advice: str | None = None,
) -> Any:
    """The result of a finished execution record, or the matching error (``advice``: what
    the caller can do to resume a running one, instead of the message of ``dg.run``)."""
    status = record.status
    if status == "SUCCEEDED":
        return loads(record.result, serdes, type_=type_, what="the workflow result")
    if status == "RUNNING":
        waiting = engine.waiting_on(record.arn)
        what = ", ".join(waiting) or "something external"
        raise ExecutionSuspendedError(
            f"execution {record.arn} has not ended; it waits on: {what}. {advice}"
            if advice is not None
            else f"execution {record.arn} is suspended and nothing in this run can resume it; "
            f"it waits on: {what}. Use "
            "durable_gen.local.LocalService to send callbacks, or give callbacks a timeout",
            execution_arn=record.arn,
            waiting_on=waiting,
        )
    err = record.error
    raise ExecutionFailedError(
        err.error_type if err else None,
        err.error_message if err else None,
        error_data=err.error_data if err else None,
        status=status,
        stack_trace=err.stack_trace if err else None,
    )
