"""Workflow mistakes caught where they are made, for the interpreter and the commands.

1. A command built while a workflow body runs (the interpreter is advancing it on this thread
   of control) is noted with the file and line that built it; yielding it clears the note.
   Commands built by durable_gen itself are not noted.
2. A noted command that nothing but the note refers to any more can never be yielded. It is
   reported as an ``UnyieldedCommandWarning`` (a ``RuntimeWarning``) at the line that built it,
   at the next yield of the workflow or when the interpreter stops advancing it. A command kept
   in a variable is reported once the body that holds it has ended without yielding it.
3. Calling a ``@step`` function's plain function (``charge.fn(...)``) inside a running body
   raises ``WorkflowDefinitionError``: it would run its side effect again on every replay.
4. A workflow that returned something other than a generator (an ``async def`` among them)
   gets an error that says what a workflow is.

Costs: one ``ContextVar.get`` per command built; in a body that runs live (or under
``strict``), a frame lookup and a list append, and a list check per yield. Replay outside
``strict`` pays only the ``ContextVar.get``. Pure: stdlib without I/O.
"""

from __future__ import annotations

import dis
import functools
import inspect
import sys
import warnings
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final

from ._arguments import CHECKED_CALL_CODE, explain_failed_build
from ._context import CURRENT
from ._errors import WorkflowDefinitionError

__all__ = [
    "UnyieldedCommandWarning",
    "explained",
    "guarded_plain",
    "made",
    "not_a_generator",
    "sweep",
    "yielded",
]

#: Files of this package: commands built here (by the interpreter itself) are not noted.
_PACKAGE: Final = __file__.rpartition("_guard.py")[0]


def _counts(notes: list[tuple[object, Any, int]]) -> list[int]:
    """``sys.getrefcount`` of each noted command."""
    return [sys.getrefcount(note[0]) for note in notes]


#: ``sys.getrefcount`` of a command referred to only by its note.
_ONLY_THE_NOTE: Final = _counts([(object(), None, 0)])[0]  # the count varies by version


class UnyieldedCommandWarning(RuntimeWarning):
    """A command was built in a workflow body and never yielded: it did nothing."""


def made(cmd: object) -> None:
    """Note ``cmd`` if a workflow body built it (called from the command's construction).

    While the interpreter replays, commands are noted only under ``strict`` (the testing tools
    and the pytest plugin turn it on): replay stays as cheap as it was.
    """
    interp = CURRENT.get()
    if interp is None or (not strict and interp.catching_up):
        return
    frame = sys._getframe(2)  # made <- __post_init__ or StepFunction.__call__ <- the builder
    if frame.f_code is CHECKED_CALL_CODE:  # __post_init__ <- the metaclass's call <- builder
        frame = frame.f_back  # type: ignore[assignment]
    # The code, not the frame: a frame would keep the body's variables (and a command stored
    # in one) alive after the body ended, and such a command would never be reported.
    interp.unyielded.append((cmd, frame.f_code, frame.f_lasti))


#: Note commands during replay too (set by the testing tools; see ``made``).
strict = False

#: Where a determinism check collects the unyielded commands of the runs it drives on this
#: thread (``file:line: what, never yielded``), instead of warning: a warning is caught
#: process-wide, so a check would also collect what a check on another thread reports.
COLLECT: ContextVar[list[str] | None] = ContextVar("durable_gen_unyielded", default=None)


def yielded(interp: Any, cmd: object) -> None:
    """The body yielded ``cmd``: clear its note, and report notes nothing else refers to."""
    notes: list[tuple[object, Any, int]] = interp.unyielded
    if notes[-1][0] is cmd:
        notes.pop()
        if not notes:
            return
    else:
        for i in range(len(notes) - 2, -1, -1):
            if notes[i][0] is cmd:
                del notes[i]
                break
    sweep(interp, fail=False)


def sweep(interp: Any, *, fail: bool = True) -> None:
    """Report (and drop) the notes of commands that can no longer be yielded.

    When warnings are errors, the warning is raised (``fail=False``: at a yield, where the
    workflow fails with it) or fails the execution (``fail=True``).
    """
    notes: list[tuple[object, Any, int]] = interp.unyielded
    lost = [note for note, n in zip(notes, _counts(notes), strict=True) if n <= _ONLY_THE_NOTE]
    if not lost:
        return
    interp.unyielded = [note for note in notes if not any(note is x for x in lost)]
    for cmd, code, lasti in lost:
        if code.co_filename.startswith(_PACKAGE):
            continue  # built by durable_gen itself (a callback handle the body dropped)
        line = _line(code, lasti)
        collect = COLLECT.get()
        if collect is not None:
            collect.append(f"{code.co_filename}:{line}: {_describe(cmd)}, never yielded")
            continue
        try:
            warnings.warn_explicit(
                f"{_describe(cmd)} was built in workflow code ({code.co_name}, "
                f"{code.co_filename}:{line}) but never yielded, so it did nothing: write "
                f"`yield {_short(cmd)}` (or `result = yield ...` to use its result)",
                UnyieldedCommandWarning,
                code.co_filename,
                line,
            )
        except UnyieldedCommandWarning as exc:  # warnings are errors: the execution fails
            if not fail:
                raise
            interp._fail(exc)
            return


def _line(code: Any, lasti: int) -> int:
    """The source line of the instruction at byte offset ``lasti`` of ``code``."""
    for start, end, line in code.co_lines():
        if start <= lasti < end and line is not None:
            return int(line)
    return int(code.co_firstlineno)


def _describe(cmd: object) -> str:
    name = type(cmd).__name__.lstrip("_").removeprefix("Prevalidated")
    label = getattr(cmd, "op_name", None) or getattr(cmd, "name", None)
    return f"the {name} command {label!r}" if isinstance(label, str) else f"a {name} command"


def _short(cmd: object) -> str:
    fn = getattr(cmd, "fn", None)
    fn_name = getattr(fn, "__name__", None)
    if type(cmd).__name__ in ("Step", "_PrevalidatedStep") and isinstance(fn_name, str):
        return f"{fn_name}(...)"
    return f"{type(cmd).__name__.lstrip('_').removeprefix('Prevalidated')}(...)"


# --- a command used as its result ------------------------------------------------------------


def explained(error: Exception, command: type) -> Exception:
    """``error``, or an error of the same type that says to ``yield`` the command, when the
    body failed by using a command as if it were its result (``charge(x).total``,
    ``charge(x) + 1``). ``command`` is the base class of commands (passed in: the commands
    module imports this one)."""
    if not isinstance(error, (AttributeError, TypeError)):
        return error
    argument_error = explain_failed_build(error, command)  # a command called with bad args
    if argument_error is not None:
        return argument_error

    advice: Exception
    obj = getattr(error, "obj", None) if isinstance(error, AttributeError) else None
    if (
        isinstance(error, AttributeError)
        and error.name == "send"
        and hasattr(obj, "__next__")
        and not hasattr(obj, "send")
        and _raised_by_yield_from(error)
    ):
        # `yield from (a, b)` (what `for c in (a, b): yield c` is often rewritten into): the
        # first command's result is sent into the tuple's iterator, which takes none
        advice = WorkflowDefinitionError(
            f"the workflow ran `yield from` over a {type(obj).__name__.removesuffix('_iterator')}"
            " of commands: each command's result is sent back into it, and it cannot take "
            "one. Yield each command on its own (`for command in commands: "
            "results.append((yield command))`), or run them together with "
            "`yield dg.Parallel(...)`; `yield from` is for a sub-workflow's generator"
        )
    elif isinstance(error, AttributeError) and isinstance(obj, command):
        if "yield" in str(error):
            return error
        advice = AttributeError(
            f"{_describe(obj)} has no attribute {error.name!r}: it is a command, not its "
            f"result. Write `result = yield {_short(obj)}` and use `result.{error.name}`",
            name=error.name,
            obj=obj,
        )
    elif isinstance(error, TypeError) and "yield" not in str(error):
        text = str(error)
        names = {"_PrevalidatedStep", "Step"}
        names |= {cls.__name__ for cls in _subclasses(command)}
        if not any(f"'{name}'" in text for name in names):
            return error
        advice = TypeError(
            f"{text}: a command is not its result; `yield` it first "
            "(write `result = yield some_step(x)`, then use `result`)"
        )
    else:
        return error
    advice.__cause__ = error
    return advice.with_traceback(error.__traceback__)


def _raised_by_yield_from(error: BaseException) -> bool:
    """Whether ``error`` was raised by a ``yield from`` (its ``SEND`` instruction), not by a
    call of ``.send`` written in the body."""
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code.co_code
    return 0 <= tb.tb_lasti < len(code) and dis.opname[code[tb.tb_lasti]] in _SENDS


_SENDS: Final = frozenset({"SEND", "YIELD_FROM"})


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    todo: list[type] = [cls]
    while todo:
        sub: type
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


# --- a step's plain function -----------------------------------------------------------------


def guarded_plain(fn: Callable[..., Any], name: str | None) -> Callable[..., Any]:
    """``fn``, refusing to run inside a running workflow body (where it must be yielded)."""
    label = name or getattr(fn, "__name__", "the step")

    def refuse() -> WorkflowDefinitionError:
        return WorkflowDefinitionError(
            f"{label}.fn(...) was called inside a workflow body: it would run its side effect "
            f"again on every replay. Write `result = yield {label}(...)` to run it once as a "
            "durable step; .fn is the plain function, for unit tests outside workflows"
        )

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def plain_async(*args: Any, **kwargs: Any) -> Any:
            if CURRENT.get() is not None:
                raise refuse()
            return await fn(*args, **kwargs)

        return plain_async

    @functools.wraps(fn)
    def plain(*args: Any, **kwargs: Any) -> Any:
        if CURRENT.get() is not None:
            raise refuse()
        return fn(*args, **kwargs)

    return plain


# --- what a workflow is ----------------------------------------------------------------------


def not_a_generator(
    workflow: object, made: object, *, made_a_step: bool = False
) -> WorkflowDefinitionError:
    """The error for a workflow whose call returned ``made``, not a generator
    (``made_a_step``: a ``Step``, so the workflow is a ``@step`` function)."""
    label = repr(getattr(workflow, "__qualname__", workflow))
    plain = inspect.unwrap(workflow) if callable(workflow) else workflow
    is_async = inspect.iscoroutinefunction(plain) or inspect.isasyncgenfunction(plain)
    if is_async or inspect.iscoroutine(made) or inspect.isasyncgen(made):
        close = getattr(made, "close", None)  # no "never awaited" warning: it never runs
        if inspect.iscoroutine(made) and close is not None:
            close()
        return WorkflowDefinitionError(
            f"workflow {label} is an `async def` function: a workflow is a plain generator "
            "function (`def` with `yield`), and only steps may be `async def`. Move the awaits "
            "into a @step function and `yield` it from a `def` workflow"
        )
    if made_a_step:  # a @step function given as the workflow
        name = getattr(workflow, "__name__", "step")
        return WorkflowDefinitionError(
            f"workflow {label} is a @step function (calling it builds a Step): a workflow is a "
            "generator function that yields commands; write one that runs the step: "
            f"`def wf(x): return (yield {name}(x))`"
        )
    return WorkflowDefinitionError(
        f"workflow {label} returned {type(made).__name__}, not a generator: a workflow must be "
        "a generator function that yields commands (write `result = yield some_step(x)`)"
    )


def not_a_command(cmd: object, command: type) -> WorkflowDefinitionError:
    """The error for a body that yielded ``cmd``, which is not a command (``command`` is their
    base class, passed in: the commands module imports this one). It names what was yielded
    in a few words (a list of a thousand steps is not printed whole) and says what to write
    for the usual mistakes."""
    advice = (
        "yield Step, Wait, Invoke, Map, ... (or a @step function's call); to run a "
        "sub-workflow inline use `yield from sub(...)`"
    )
    shown = _brief(cmd)
    if inspect.iscoroutine(cmd) or inspect.isawaitable(cmd) or inspect.isasyncgen(cmd):
        close = getattr(cmd, "close", None)  # no "never awaited" warning: it never runs
        if inspect.iscoroutine(cmd) and close is not None:
            close()
        advice = (
            "a workflow body does not await: run the async function as a step, "
            "`result = yield dg.Step(fetch, (url,))` or a `@dg.step async def`, and yield it"
        )
    elif isinstance(cmd, (list, tuple, set, frozenset)) and any(
        isinstance(item, command) for item in cmd
    ):
        advice = (
            "a yield takes one command: to run several at once, yield `dg.Parallel([...])` "
            "(one function per branch) or `dg.Map(fn, items)`; or yield them one by one"
        )
    elif isinstance(cmd, type) and issubclass(cmd, command):
        advice = f"build the command and yield it: `yield {cmd.__name__}(...)`"
    elif cmd is None:
        advice = f"None was yielded (a bare `yield`, or a call that returned None): {advice}"
    elif callable(cmd) and not isinstance(cmd, type) and hasattr(cmd, "fn"):
        advice = f"a @step function is called to build its command: `yield {_fn_name(cmd)}(...)`"
    return WorkflowDefinitionError(
        f"the workflow yielded {shown}, which is not a durable_gen command: {advice}"
    )


def _brief(value: object) -> str:
    """``repr(value)`` of at most 200 characters (a collection of commands can be huge)."""
    if isinstance(value, (list, tuple, set, frozenset)):
        kind = type(value).__name__
        items = ", ".join(
            _short(item) if hasattr(item, "fn") else type(item).__name__ for item in list(value)[:3]
        )
        more = f", ... ({len(value)} items)" if len(value) > 3 else ""
        return f"a {kind} [{items}{more}]"
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 200 else f"{text[:200]}... ({type(value).__name__})"


def _fn_name(step_fn: object) -> str:
    return str(getattr(step_fn, "__name__", None) or getattr(step_fn, "name", "step"))


def cannot_start(workflow: object, error: TypeError) -> Exception:
    """Explain a ``TypeError`` raised by calling ``workflow(input)``: the workflow is not
    callable or does not take one argument (the input); any other one is returned as is."""
    label = repr(getattr(workflow, "__qualname__", workflow))
    if not callable(workflow):
        return WorkflowDefinitionError(
            f"the workflow must be a generator function taking the input, got "
            f"{type(workflow).__name__} {label}"
        )
    problem = input_problem(workflow)
    if problem is None:
        return error
    return WorkflowDefinitionError(
        f"workflow {label} cannot be called with the input ({problem}): {TAKES_INPUT}"
    )


#: What a workflow run as an execution must look like.
TAKES_INPUT: Final = (
    "a workflow takes one positional argument, the input (write `def name(_):` when it needs "
    "none; pass several values as one dict, dataclass or Struct)"
)


def input_problem(workflow: Callable[..., Any]) -> str | None:
    """Why ``workflow(input)`` cannot be called, from its signature; None when it can (or
    when it has no signature to read)."""
    try:
        inspect.signature(workflow).bind(None)
    except TypeError as exc:
        return str(exc)
    except ValueError:  # no signature to read (a builtin)
        return None
    return None
