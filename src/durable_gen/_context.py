"""The one channel from a running interpretation to replay-aware helpers (the logger).

``Interpreter.next_action()`` sets ``CURRENT`` to itself while it runs workflow code and resets
it before returning; helpers read ``current()``. ``STEP`` is set while a step attempt runs, so
that what the step logs names its operation (``current_step()``): the driver sets it around
each attempt (and its hooks); for any other host the function a ``StepTask`` hands out sets it
(``in_step``), whichever thread or event loop calls it. A ``ContextVar``
keeps concurrent interpretations and steps (one per task or thread) apart without importing
threading. Outside workflow and step code (a test, the host) both are None.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final, NamedTuple, Protocol

__all__ = [
    "CURRENT",
    "STEP",
    "Running",
    "StepAttempt",
    "current",
    "current_step",
    "in_step",
    "is_future",
    "is_host_cancellation",
    "is_replaying",
    "unawaited_step",
]


class Running(Protocol):
    """What a helper may read of the interpretation running workflow code."""

    @property
    def execution_arn(self) -> str:
        """The execution being interpreted."""
        ...

    @property
    def replaying(self) -> bool:
        """True while the workflow code running now ran in an earlier invocation."""
        ...

    @property
    def catching_up(self) -> bool:
        """True while some recorded operation has not been reached again (O(1), for hot paths)."""
        ...

    #: Commands the workflow body built and has not yielded yet (the mistake guard's notes).
    unyielded: list[Any]


class StepAttempt(NamedTuple):
    """The step attempt running on this thread of control."""

    execution_arn: str
    operation_id: str
    name: str | None
    attempt: int
    parent_id: str | None = None


class _Attempt(Protocol):
    """What the driver runs: a ``StepTask`` (its id, name and attempt number)."""

    @property
    def operation_id(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def attempt(self) -> int: ...


#: The step attempt the driver is running, as (execution ARN, its ``StepTask``), or None
#: outside step code. ``current_step()`` builds the ``StepAttempt`` when asked: most steps
#: never ask, and building it for each would cost more than setting the variable.
STEP: ContextVar[tuple[str, _Attempt] | None] = ContextVar("durable_gen_step", default=None)


def current_step() -> StepAttempt | None:
    """The step attempt running on this thread of control, if any."""
    running = STEP.get()
    if running is None:
        return None
    arn, task = running
    return StepAttempt(
        arn, task.operation_id, task.name, task.attempt, getattr(task, "parent_id", None)
    )


def in_step(
    fn: Callable[..., Any],
    is_async: bool,
    running: tuple[str, _Attempt],
    returned: list[Any] | None = None,
) -> Callable[..., Any]:
    """``fn``, called with ``STEP`` set to ``running`` (the execution ARN and the attempt): what
    the step logs names its operation and attempt in any host that calls it (a runtime of its
    own, too). A future the step itself returns is appended to ``returned``: reported as the
    step's value, it is the step's (unrecordable) result, not a host that forgot to wait."""
    if is_async:

        async def call_async(*args: Any, **kwargs: Any) -> Any:
            token = STEP.set(running)
            try:
                value = await fn(*args, **kwargs)
            finally:
                STEP.reset(token)
            if returned is not None and is_future(value):
                returned.append(value)
            return value

        call_async.__wrapped__ = fn  # type: ignore[attr-defined]
        return call_async

    def call(*args: Any, **kwargs: Any) -> Any:
        token = STEP.set(running)
        try:
            value = fn(*args, **kwargs)
        finally:
            STEP.reset(token)
        if returned is not None and is_future(value):
            returned.append(value)
        return value

    call.__wrapped__ = fn  # type: ignore[attr-defined]
    return call


def is_future(value: object) -> bool:
    """Whether ``value`` is a future (``asyncio.Future`` or ``Task``, ``concurrent.futures.Future``
    or a subclass): something that will hold a result, not a result. Known by the classes'
    names, not imported (the interpreter imports neither module)."""
    return any((cls.__module__, cls.__name__) in _FUTURES for cls in type(value).__mro__)


#: The future classes of the standard library, by (module, name): C and Python versions.
_FUTURES: Final = frozenset(
    {
        ("concurrent.futures._base", "Future"),
        ("_asyncio", "Future"),
        ("_asyncio", "Task"),
        ("asyncio.futures", "Future"),
        ("asyncio.tasks", "Task"),
    }
)


def unawaited_step(value: object) -> bool:
    """Whether ``value`` is what calling an async step's ``task.fn`` returned, not awaited: a
    host that reports it as the step's value forgot to await it."""
    code = getattr(value, "cr_code", None)
    return code is not None and code.co_qualname == _CALL_ASYNC and code.co_filename == __file__


_CALL_ASYNC = "in_step.<locals>.call_async"
_WRAPPERS = frozenset({"in_step.<locals>.call", _CALL_ASYNC})


def is_host_cancellation(error: BaseException) -> bool:
    """Whether ``error`` is ``concurrent.futures.CancelledError`` (an ``Exception``, unlike
    asyncio's) that did not come out of a step's function: what a cancelled future raises
    when asked for its result, the host's cancellation of a task, not the step's failure. One
    the step raised itself passed through ``in_step``'s wrapper, or, run in another process,
    carries its trace (``run_step_call``)."""
    kind = type(error)
    if kind.__name__ != "CancelledError" or not kind.__module__.startswith("concurrent.futures"):
        return False
    if "_durable_gen_stack_trace" in getattr(error, "__dict__", {}):  # _failure.REMOTE_TRACE
        return False
    tb = error.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_qualname in _WRAPPERS and code.co_filename == __file__:
            return False
        tb = tb.tb_next
    return True


def from_the_step(error: BaseException) -> None:
    """Start ``error``'s traceback at the step's function when it passed through ``in_step``'s
    wrapper: the frames of the host that called ``task.fn`` (its loop, its thread pool) and
    the wrapper's are not the step's, and the engine records none of them. Walked only for a
    failed attempt; a traceback that ends in the wrapper (the call itself failed) is left."""
    tb = error.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        wrapper = code.co_qualname in _WRAPPERS and code.co_filename == __file__
        if wrapper and tb.tb_next is not None:
            error.__traceback__ = tb.tb_next
            return
        tb = tb.tb_next


#: The interpretation currently running workflow code (None outside workflow code).
CURRENT: ContextVar[Running | None] = ContextVar("durable_gen_interpreter", default=None)


def current() -> Running | None:
    """The interpretation running workflow code on this thread of control, if any."""
    return CURRENT.get()


def is_replaying() -> bool:
    """True while workflow code runs in replay (its last command was found in the history)."""
    running = CURRENT.get()
    return running is not None and running.replaying
