"""The commands a workflow yields: frozen values that describe work, never perform it.

A workflow is a generator function; each ``yield`` hands one of these to the interpreter, which
answers with the recorded result or asks the driver to run it. Options are validated here, at
construction, so a bad option fails where it is written.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
from collections.abc import Callable, Coroutine, Generator, Sequence
from datetime import timedelta
from typing import (
    TYPE_CHECKING,
    Any,
    Final,
    Generic,
    Literal,
    ParamSpec,
    TypeAlias,
    TypeVar,
    TypeVarTuple,
    Unpack,
    cast,
    overload,
)

import msgspec

from . import _aliases, _guard
from ._aliases import decodable, union_advice
from ._arguments import CheckedStructMeta, checked
from ._aws_names import default_name, wait_for_callback_names
from ._context import CURRENT
from ._errors import ArgumentError, ValidationError, WorkflowDefinitionError, finite, shown
from ._errors import WaitConditionNotMetError as WaitConditionNotMetError  # its old home
from ._guard import guarded_plain, made
from ._serdes_protocol import Serdes
from ._service import serdes_hint
from ._wire import (
    FUNCTION_NAME,
    MAX_NAME_CHARS,
    MAX_SUBTYPE_CHARS,
    MAX_WAIT_SECONDS,
    name_ok,
    plain_text,
    subtype_ok,
    tenant_id_problem,
)

if TYPE_CHECKING:
    from types import CoroutineType

    from ._batch import BatchResult

__all__ = [
    "AT_LEAST_ONCE",
    "AT_MOST_ONCE",
    "Branch",
    "CallbackHandle",
    "Child",
    "Command",
    "CompensationResult",
    "Completion",
    "CreateCallback",
    "Invoke",
    "Map",
    "Parallel",
    "Retry",
    "RunCompensations",
    "Step",
    "StepFunction",
    "Wait",
    "WaitDecision",
    "WaitForCallback",
    "WaitForCondition",
    "WaitStrategy",
    "Workflow",
    "step",
    "workflow",
]

_current: Final = CURRENT.get

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
if TYPE_CHECKING:  # a WaitStrategy built apart, with no state type given, is WaitStrategy[Any]
    from typing_extensions import TypeVar as _DefaultedTypeVar

    S = _DefaultedTypeVar("S", default=Any)
else:
    S = TypeVar("S")
Ts = TypeVarTuple("Ts")
I = TypeVar("I")  # noqa: E741 (an item)

AT_LEAST_ONCE: Final = "at_least_once"
AT_MOST_ONCE: Final = "at_most_once"
Semantics = Literal["at_least_once", "at_most_once"]
_SEMANTICS: Final = frozenset({AT_LEAST_ONCE, AT_MOST_ONCE})
Jitter = Literal["none", "full", "half"]


def _backed_off(first: float, backoff: float, attempt: int, cap: float) -> float:
    """``min(cap, first * backoff ** (attempt - 1))``, also past what a float holds: a long
    policy (a thousand attempts doubling, a large ``backoff``) stays at ``cap`` instead of
    failing with ``OverflowError``."""
    try:
        return min(cap, first * backoff ** (attempt - 1))
    except OverflowError:
        return cap if first > 0 else 0.0


class _DefaultCap(int):
    """The default ``max_delay`` of ``Retry`` and ``WaitStrategy``, told apart from the same
    number given by the user (by identity) so that a first delay above a cap nobody chose can
    be refused; ``__post_init__`` puts a plain int in its place."""

    __slots__ = ()

    def __repr__(self) -> str:
        return int.__repr__(self)


_RETRY_MAX_DELAY = _DefaultCap(60)
_WAIT_MAX_DELAY = _DefaultCap(300)


def _default_cap(
    owner: Retry | WaitStrategy[Any], what: str, first: str, first_value: float
) -> None:
    """Refuse a first delay above the default cap (every delay would be the cap, silently),
    then store the cap as a plain int."""
    cap = owner.max_delay
    if type(cap) is not _DefaultCap:
        return
    if first_value > cap:
        raise ValidationError(
            f"{what} {first}={shown(first_value)} is above max_delay, which caps every delay "
            f"and is {int(cap)} s when not given: the delays would be {int(cap)} s at most. "
            f"Give max_delay= too ({what}({first}={shown(first_value)}, "
            f"max_delay={shown(first_value)}) or more), or a smaller {first}"
        )
    msgspec.structs.force_setattr(owner, "max_delay", int(cap))


#: The fields of commands that are recorded as text: names, ids, subtypes.
_TEXT_FIELDS: Final = ("name", "sub_type", "function_name", "tenant_id", "change_id")
#: The fields of commands recorded as whole seconds.
_SECONDS_FIELDS: Final = ("seconds", "timeout", "heartbeat_timeout", "delay", "max_delay")


def _plain_fields(cmd: msgspec.Struct) -> None:
    """Make the text fields of ``cmd`` plain ``str`` (see ``plain_text``), and its seconds
    plain ``int``: a name given as a ``str`` subclass was recorded as itself, which the SQLite
    and Postgres stores and ``export()`` could not write (a bare ``TypeError`` that failed the
    execution), and a ``Wait`` of an ``IntEnum`` member or another ``int`` subclass was
    accepted, then its checkpoint refused (the service takes whole seconds as an int)."""
    for field in _TEXT_FIELDS:
        value = getattr(cmd, field, None)
        if isinstance(value, str) and type(value) is not str:
            msgspec.structs.force_setattr(cmd, field, plain_text(value))
    for field in _SECONDS_FIELDS:
        value = getattr(cmd, field, None)
        if isinstance(value, int) and type(value) not in (int, bool, _DefaultCap):
            msgspec.structs.force_setattr(cmd, field, int(value))


def _check_name(name: str | None, what: str) -> None:
    if name is None:
        return
    if not isinstance(name, str) or not name_ok(name):
        hint = ""
        if isinstance(name, str) and name:
            # Text of the user's data (a customer's name, a title): say how to keep it.
            hint = (
                "; name it by an ASCII key (an id, the index), or escape the text: "
                "text.encode('ascii', 'backslashreplace').decode()[:256]"
            )
        raise ValidationError(
            f"{what} name must be a non-empty string of at most {MAX_NAME_CHARS} printable "
            f"ASCII characters (the service records names so), got {shown(name)}{hint}"
        )


#: SubTypes durable_gen records for its own operations of a type, which a ``sub_type=`` may
#: not take: replay would read such a step as a ``Now`` or a ``Patched`` marker, such a context
#: as a Map item or a wait-for-callback.
OWN_STEP_SUBTYPES: Final = frozenset({"WaitForCondition", "Now", "Patch"})
OWN_CONTEXT_SUBTYPES: Final = frozenset(
    {"WaitForCallback", "Map", "MapIteration", "Parallel", "ParallelBranch", "Compensation"}
)


def _check_sub_type(sub_type: object, what: str, reserved: frozenset[str]) -> None:
    """A ``sub_type=`` the service accepts (1-32 characters of ``[A-Za-z0-9_-]``) and that
    does not pass for one of durable_gen's own operations."""
    if sub_type is None:
        return
    if not isinstance(sub_type, str) or not subtype_ok(sub_type):
        raise ValidationError(
            f"{what} sub_type must be 1 to {MAX_SUBTYPE_CHARS} characters of A-Z, a-z, 0-9, "
            f"'_' and '-' (the service refuses any other SubType), got {shown(sub_type)}"
        )
    if sub_type in reserved:
        raise ValidationError(
            f"{what} sub_type {sub_type!r} is the SubType durable_gen records for its own "
            f"{sub_type} operations, and replay would read this {what} as one: choose another "
            f"(reserved for a {what}: {', '.join(sorted(reserved))})"
        )


def _check_derived_name(name: str | None, what: str, option: str) -> None:
    """Refuse, where the command is built, a name taken from a function's ``__name__`` that
    the service would refuse (a Python name may hold letters beyond ASCII: ``prüfen``)."""
    if name is not None and not name_ok(name):
        raise ValidationError(
            f"{what} is named after the function, {name!r}, but the service records only "
            f"names of 1 to {MAX_NAME_CHARS} printable ASCII characters: {option}"
        )


def _as_seconds(value: object) -> str:
    """Advice for a ``timedelta`` given where a number of seconds is due."""
    if isinstance(value, timedelta):
        return f": pass its seconds, e.g. {int(value.total_seconds())} (int(td.total_seconds()))"
    return ""


def _check_seconds(value: object, what: str, *, minimum: int, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            f"{what} must be a whole number of seconds (int), "
            f"got {shown(value)}{_as_seconds(value)}"
        )
    if not minimum <= value <= maximum:
        raise ValidationError(
            f"{what} must be between {minimum} and {maximum} seconds, got {shown(value)}"
        )


def _wait_advice(value: object) -> str:
    """What to write instead of a ``Wait`` of ``value`` seconds, computed from a deadline as
    often as not: rounded up, or no wait at all when the deadline has come."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not finite(value):
        return ""
    if value <= 0:
        return (
            ". A wait whose end has already come (a deadline reached) is skipped by not "
            "yielding it: `if seconds >= 1: yield dg.Wait(seconds=seconds)`"
        )
    if isinstance(value, float) and value < MAX_WAIT_SECONDS:
        return f". Round it up: seconds=math.ceil({value!r}) waits {max(1, math.ceil(value))} s"
    return ""


def _check_number(value: object, what: str, *, minimum: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not finite(value)
        or value < minimum
    ):
        raise ValidationError(
            f"{what} must be a finite number of at least {minimum:g}, got {shown(value)}"
            f"{_as_seconds(value)}"
        )


def _step_timeout(value: object) -> float | None:
    """A step timeout in seconds (``timedelta`` accepted), or a ``ValidationError``."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds: object = value.total_seconds()
    else:
        seconds = value
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not finite(seconds)
        or seconds <= 0
    ):
        raise ValidationError(
            "step timeout must be a number of seconds greater than 0 (or a positive "
            f"timedelta), or None for no limit; got {shown(value)}"
        )
    return float(seconds)


def _check_count(value: object, what: str, *, minimum: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(
            f"{what} must be an int of at least {minimum} or None, got {shown(value)}"
        )


def _check_callable(value: object, what: str) -> None:
    if value is not None and not callable(value):
        raise ValidationError(f"{what} must be a function (or None), got {shown(value)}")


def _check_retry(value: object, what: str) -> None:
    if value is not None and not isinstance(value, Retry):
        raise ValidationError(
            f"{what} retry must be a Retry (e.g. Retry(max_attempts=3)) or None, got {shown(value)}"
        )


def _is_exception_class(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)


def _retry_on_problem(value: object) -> str:
    """What is wrong with a ``Retry(retry_on=...)`` and how to write it."""
    head = "retry_on must be a tuple of exception types"
    if _is_exception_class(value):
        name = getattr(value, "__name__", "Error")
        return f"{head}, got the class {name} alone: write retry_on=({name},)"
    if isinstance(value, BaseException):
        name = type(value).__name__
        return f"{head}, got the exception {shown(value)}: pass its class, retry_on=({name},)"
    items = list(value) if isinstance(value, (list, set, frozenset, tuple)) else None
    if items is None:
        return f"{head}, got {shown(value)}: e.g. retry_on=(ConnectionError, TimeoutError)"
    bad = [item for item in items if not _is_exception_class(item)]
    if bad:
        return (
            f"{head}, got {shown(bad[0])} among them: give classes (ValueError), not instances "
            "(ValueError('x')) or names ('ValueError')"
        )
    names = ", ".join(getattr(item, "__name__", "Error") for item in items)
    comma = "," if len(items) == 1 else ""
    return f"{head}, got a {type(value).__name__}: write retry_on=({names}{comma})"


def _check_serdes(value: object, what: str) -> None:
    if value is not None and (isinstance(value, type) or not isinstance(value, Serdes)):
        raise ValidationError(
            f"{what} must be a Serdes (an object with serialize(value) -> str and "
            f"deserialize(str) methods) or None, got {shown(value)}{serdes_hint(value)}"
        )


def _args_not_a_tuple(what: str, args: object) -> ValidationError:
    """The error of ``args`` that are not a tuple, with the tuple to write instead."""
    text = shown(args, 60)
    short = len(text) <= 60  # a longer value is named by a placeholder in the advice
    head = f"{what} args must be a tuple of the arguments, got {type(args).__name__} {text}"
    one = f"args=({text},)" if short else "args=(value,)"
    if isinstance(args, list | Sequence | set | frozenset) and not isinstance(
        args, str | bytes | bytearray
    ):
        items = f"args=tuple({text})" if short else "args=tuple(the_list)"
        return ValidationError(
            f"{head}: write {items} to pass its items as the arguments, or {one} to pass it "
            "as the one argument"
        )
    return ValidationError(f"{head}: write {one} to pass it as the one argument")


def _check_kwargs(value: object, what: str) -> None:
    if value is not None and (
        not isinstance(value, dict) or not all(isinstance(k, str) for k in value)
    ):
        raise ValidationError(
            f"{what} kwargs must be a dict of keyword arguments by name (or None), "
            f"got {shown(value)}"
        )


def _check_takes(fn: Callable[..., Any], what: str, params: tuple[str, ...]) -> None:
    """Refuse a function that cannot be called with the positional arguments ``params`` name
    (a submitter's ``(callback_id)``, a check's ``(state)``): it would fail at run time."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # no signature to read (a builtin): the call will tell
        return
    try:
        signature.bind(*(None for _ in params))
    except TypeError as exc:
        label = getattr(fn, "__qualname__", repr(fn))
        raise ValidationError(
            f"{what} is called with ({', '.join(params)}), and {label} cannot be ({exc}): "
            "give it that signature, or bind other arguments first with functools.partial"
        ) from None


def _check_call(fn: Callable[..., Any], what: str, item: str | None) -> None:
    """Refuse a Map function or branch that cannot take the arguments it will be called with:
    a branch none, a Map function ``(item)``, or ``(item, index)`` when it requires two."""
    _once(fn, item, _check_signature, fn, what, item)


def _once(fn: Any, shape: str | None, check: Callable[..., None], *args: Any) -> None:
    """``check(*args)``, unless ``fn`` passed it before for calls of ``shape``: a command is
    built again on every replay, so what passed is remembered (up to 1,024 at a time); an
    unhashable ``fn`` is checked every time."""
    key = (fn, shape)
    try:
        if key in _CALLABLE:
            return
    except TypeError:  # unhashable: checked every time
        check(*args)
        return
    check(*args)
    if len(_CALLABLE) >= 1024:
        _CALLABLE.clear()
    _CALLABLE.add(key)


def _check_namer(namer: Callable[..., Any]) -> None:
    """Refuse an ``item_namer`` that cannot be called with ``(item, index)`` where the Map is
    built, not at its first item."""
    _once(namer, "(item, index)", _check_takes, namer, "a Map item_namer", ("item", "index"))


def _check_predicate(predicate: Callable[..., Any], what: str, param: str) -> None:
    """Refuse a predicate (a ``Retry``'s ``retry_if``, a ``WaitStrategy``'s ``until``) that
    cannot be called with its one argument where it is given: when first called its call
    would fail, and the step with it, as if the step had raised a ``TypeError``. An ``async
    def`` one is refused too: it is called synchronously, and the coroutine it returns is
    true, whatever it would compute."""
    _once(predicate, f"({param})", _check_takes, predicate, what, (param,))
    plain = inspect.unwrap(getattr(predicate, "func", predicate))
    if inspect.iscoroutinefunction(predicate) or inspect.iscoroutinefunction(plain):
        raise ValidationError(
            f"{what} is an async def function: it is called synchronously, and the coroutine "
            "it would return counts as True. Make it a plain def returning a bool"
        )


def _predicate_answer(answer: object, what: str, *, polling: bool = False) -> object:
    """What a predicate returned, refused when it can only be a mistake: an awaitable (an
    async callable object; the coroutine is closed unawaited) or, from a ``WaitStrategy``'s
    ``until`` (``polling``), a ``WaitDecision`` (what a ``wait_strategy`` returns, not a
    predicate). Either one is true, whatever it says."""
    if inspect.isawaitable(answer):
        if inspect.iscoroutine(answer):
            answer.close()
        raise ValidationError(
            f"{what} returned an awaitable ({type(answer).__name__}): it is called "
            "synchronously. Make it a plain def returning a bool"
        )
    if polling and isinstance(answer, WaitDecision):
        raise ValidationError(
            f"{what} returned {answer!r}: it returns a bool (True stops the polling). A "
            "function returning a WaitDecision is a wait strategy itself: pass it as "
            "WaitForCondition(..., wait_strategy=fn)"
        )
    return answer


def _check_undo(undo: Callable[..., Any]) -> None:
    """Refuse, where the step is declared, an undo that could only fail when the rollback
    runs: a generator function (an undo runs as a step, not as a workflow), an async generator
    function, or one that cannot be called with ``(result)``."""
    _once(undo, "(result)", _check_undo_now, undo)


def _check_undo_now(undo: Callable[..., Any]) -> None:
    _runs_as_a_step(
        undo,
        "a step's compensate= undo",
        "undoes the step and returns, or run a workflow with `dg.Child` after RunCompensations()",
    )
    _check_takes(undo, "a step's compensate= undo", ("result",))
    if not isinstance(undo, StepFunction) and unbind_step(undo) is None:  # those are named
        named = undo.func if type(undo) is functools.partial else undo  # after what it calls
        _check_derived_name(
            _fn_name(named),
            "the operations of a step's compensate= undo",
            "make the undo a @dg.step(name=...) function, or give it an ASCII name",
        )


def _runs_as_a_step(
    fn: Callable[..., Any],
    what: str,
    instead: str = "returns its value; a workflow runs with `yield from sub(...)` or `dg.Child`",
) -> None:
    """Refuse a generator function (or an async one) where ``fn`` runs as a step: its call
    only makes a generator, which a step cannot run or record."""
    target = inspect.unwrap(fn.func if isinstance(fn, functools.partial) else fn)
    if inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target):
        label = getattr(target, "__qualname__", repr(fn))
        raise WorkflowDefinitionError(
            f"{what} runs as a step, and {label} is a generator function (`def` or `async "
            "def` with `yield`): make it a plain function (`def` or `async def`, no `yield`) "
            f"that {instead}"
        )


#: ``(function, item)`` pairs ``_check_call`` accepted (``_check_namer``'s and ``_check_undo``'s
#: too).
_CALLABLE: set[tuple[Callable[..., Any], str | None]] = set()


def _check_signature(fn: Callable[..., Any], what: str, item: str | None) -> None:
    if (  # a plain function runs as one step named after it
        not isinstance(fn, StepFunction)
        and unbind_step(fn) is None
        and not inspect.isgeneratorfunction(inspect.unwrap(fn))
    ):
        _check_derived_name(
            _fn_name(fn),
            f"the step of {what}",
            "make it a @dg.step(name=...) function, or give it an ASCII name",
        )
    if inspect.isasyncgenfunction(inspect.unwrap(fn)):  # neither a step nor a workflow
        label = getattr(fn, "__qualname__", repr(fn))
        raise WorkflowDefinitionError(
            f"{what} is a function (run as one step, `async def` too) or a generator function "
            f"(run as a child workflow), and {label} is an async generator function (`async "
            "def` with `yield`), which is neither: drop the `yield` to make it an async step, "
            "or make it a plain `def` that yields commands"
        )
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # no signature to read (a builtin): the call will tell
        return
    required = sum(
        1
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    )
    args: tuple[Any, ...] = () if item is None else (None,) if required < 2 else (None, 0)
    try:
        signature.bind(*args)
    except TypeError as exc:
        label = getattr(fn, "__qualname__", repr(fn))
        takes = "no arguments" if item is None else "(item) or (item, index)"
        raise ValidationError(
            f"{what} is called with {takes}, and {label} cannot be ({exc})"
            + (
                ": bind other arguments first, e.g. functools.partial(fn, x)"
                if item is None
                else ""
            )
        ) from None


def _check_result_type(type_: object, what: str) -> None:
    """Refuse a ``result_type`` no payload can be decoded into (a value such as ``5`` or
    ``"int"``, a union of two dataclasses) where it is given, not at the first result."""
    if type_ is None:
        return
    try:
        problem = _undecodable(type_)
    except TypeError:  # unhashable: checked without the cache
        problem = _undecodable.__wrapped__(type_)
    if problem is not None:
        if len(problem) > 1500:  # it quotes the type: a value given as one can be huge
            problem = f"{problem[:1500]}..."
        advice = f": {union_advice(problem)}" if problem.startswith("Type unions ") else ""
        if "Type ''" in problem:  # a name in quotes, as an annotation may be written
            advice = (
                ": a type's name in quotes is not looked up here: pass the class itself "
                "(result_type=Receipt, list[Receipt]), imported where the command is written"
            )
        raise ValidationError(
            f"{what} must be a type values can be decoded into (int, a dataclass, a msgspec "
            f"Struct, list[str], ...), got {shown(type_)} ({problem}){advice}"
        )


@functools.lru_cache(maxsize=256)
def _undecodable(type_: Any) -> str | None:
    """Why msgspec cannot decode into ``type_``, or None when it can."""
    try:
        decodable(type_)  # a type alias that refers to itself is unrolled, if it can be
    except Exception as exc:  # TypeError, or NameError for an unresolved forward reference
        return str(exc)
    # msgspec builds a decoder for some types it then cannot build a value of (a plain class
    # of your own, a deque, a dataclass holding one): every payload would fail to be read
    problem = _aliases.unbuildable(type_)
    if problem is not None:
        return problem.replace("or annotate it Any", "or leave result_type= out")
    return None


def _check_completion(value: object, what: str) -> None:
    if value is not None and not isinstance(value, Completion):
        raise ValidationError(
            f"{what} completion must be a Completion (e.g. Completion(min_successful=2)) or "
            f"None, got {shown(value)}"
        )


#: The attribute ``@workflow`` sets on a function: a ``Child`` of it is named after it.
_WORKFLOW_MARK: Final = "__durable_gen_workflow__"


def _fn_name(fn: object) -> str | None:
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str) or name == "<lambda>":
        return None
    return name[:MAX_NAME_CHARS]


class Command(msgspec.Struct, Generic[R], frozen=True):
    """Base class of everything a workflow may yield; ``R`` is what the yield gives back.

    ``yield cmd`` and ``yield from cmd`` do the same at run time: iterating a command yields
    the command itself once and returns the value sent back, so ``x = yield from cmd`` gives
    type checkers the command's result type where ``x = yield cmd`` gives ``Any``.

    A command is a description of work, not its result: using it as if it were its result
    (``charge(x)["id"]``, ``charge(x).total``) fails with an error that says to ``yield`` it.
    (No ``__getattr__`` here: it would slow down every attribute read of every command; the
    interpreter explains such errors instead.)
    """

    def __iter__(self) -> Generator[Command[Any], Any, R]:
        value: R = yield self
        return value

    def __post_init__(self) -> None:
        made(self)

    def __getitem__(self, key: Any) -> Any:
        raise TypeError(
            f"{_what(self)} is a command, not its result: write "
            f"`result = yield {_what(self, call=True)}` and use `result[{key!r}]`"
        )

    def __contains__(self, item: Any) -> bool:
        raise TypeError(
            f"{_what(self)} is a command, not its result: write "
            f"`result = yield {_what(self, call=True)}` and test `... in result`"
        )


#: The type of a workflow: a generator of commands returning ``R`` (``-> dg.Workflow[Order]``).
Workflow: TypeAlias = Generator[Command[Any], Any, R]


def _what(cmd: Command[Any], *, call: bool = False) -> str:
    """How a message names ``cmd``: its step function's call, or its class."""
    kind = "Step" if isinstance(cmd, Step) else type(cmd).__name__
    fn = cmd.fn if isinstance(cmd, Step) else None
    label = getattr(fn, "__name__", None) if fn is not None else None
    if call:
        return f"{label}(...)" if isinstance(label, str) else f"{kind}(...)"
    return f"the {kind} command {label!r}" if isinstance(label, str) else f"the {kind} command"


def _not_callable(what: str, value: object) -> ValidationError:
    """The error for ``value`` given where ``what`` (a function) is wanted. A command there is
    the usual mistake (a step called, ``f(x)``, where its function goes): say what to write."""
    if not isinstance(value, Command):
        return ValidationError(f"{what}, got {shown(value)}")
    called = _what(value, call=True)
    if isinstance(value, Step):
        name = called.removesuffix("(...)")
        return ValidationError(
            f"{what}, got {_what(value)}: {called} builds a command (the description of work "
            f"that a yield runs), not a function. Pass the function itself, {name}; bind its "
            f"arguments with functools.partial({name}, ...)"
        )
    return ValidationError(
        f"{what}, got {_what(value)}: a command, not a function. To run it there, write a "
        f"generator function that yields it (def run(): return (yield {called}))"
    )


# --- retry ----------------------------------------------------------------------------------


class Retry(msgspec.Struct, frozen=True, kw_only=True, metaclass=CheckedStructMeta):
    """When and how often a failed step is tried again.

    The delay before attempt ``k + 1`` is ``min(max_delay, initial_delay * backoff ** (k - 1))``,
    then jittered (``full``: uniform in [0, delay]; ``half``: in [delay/2, delay]; ``none``),
    rounded up to whole seconds and at least 1 s. The jitter is derived from the execution and
    operation ids, so it is the same on every replay.

    Args:
        max_attempts: Attempts in all, the first included (1 = never retry).
        initial_delay: Seconds before the second attempt.
        backoff: Multiplier of the delay for each further attempt.
        max_delay: Upper bound of a delay, in seconds.
        jitter: ``"full"``, ``"half"`` or ``"none"``.
        retry_on: Only exceptions of these types are retried.
        retry_if: Only exceptions for which this returns True are retried.
    """

    max_attempts: int = 6
    initial_delay: float = 5
    backoff: float = 2.0
    max_delay: float = _RETRY_MAX_DELAY
    jitter: Jitter = "full"
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    retry_if: Callable[[BaseException], bool] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValidationError(f"max_attempts must be an int, got {shown(self.max_attempts)}")
        if self.max_attempts < 1:
            raise ValidationError(f"max_attempts must be at least 1, got {self.max_attempts}")
        _check_number(self.initial_delay, "Retry initial_delay (seconds)", minimum=0)
        _check_number(self.max_delay, "Retry max_delay (seconds)", minimum=0)
        if self.max_delay > MAX_WAIT_SECONDS:
            raise ValidationError(
                f"Retry max_delay must be at most {MAX_WAIT_SECONDS} seconds (366 days, the "
                f"longest delay the service schedules), got {shown(self.max_delay)}"
            )
        _check_number(self.backoff, "Retry backoff", minimum=1)
        _default_cap(self, "Retry", "initial_delay", self.initial_delay)
        _check_callable(self.retry_if, "Retry retry_if")
        if self.retry_if is not None:
            _check_predicate(self.retry_if, "a Retry retry_if", "error")
        if self.jitter not in ("none", "full", "half"):
            raise ValidationError(
                f"jitter must be 'none', 'full' or 'half', got {shown(self.jitter)}"
            )
        if not isinstance(self.retry_on, tuple) or not all(
            isinstance(t, type) and issubclass(t, BaseException) for t in self.retry_on
        ):
            raise ValidationError(_retry_on_problem(self.retry_on))

    @classmethod
    @checked
    def never(cls) -> Retry:
        """A policy that does not retry: one attempt."""
        return NO_RETRY

    def should_retry(self, attempt: int, error: BaseException) -> bool:
        """Whether a failure of attempt ``attempt`` (1-based) with ``error`` is retried."""
        if attempt >= self.max_attempts or not isinstance(error, self.retry_on):
            return False
        if self.retry_if is None:
            return True
        return bool(_predicate_answer(self.retry_if(error), "a Retry retry_if"))

    def delay(self, attempt: int, unit: float) -> int:
        """Seconds to wait after the failure of attempt ``attempt``; ``unit`` is in [0, 1)."""
        base = _backed_off(self.initial_delay, self.backoff, attempt, self.max_delay)
        if self.jitter == "full":
            base *= unit
        elif self.jitter == "half":
            base = base / 2 + base / 2 * unit
        return max(1, math.ceil(base))


NO_RETRY: Final = Retry(max_attempts=1)
DEFAULT_RETRY: Final = Retry()


# --- steps ----------------------------------------------------------------------------------


class Step(Command[R], frozen=True):
    """Run ``fn(*args, **kwargs)`` once, checkpoint its result, and return it on every replay.

    Args:
        fn: The function, sync or ``async def``. It may perform any side effect.
        args: Positional arguments.
        kwargs: Keyword arguments.
        name: The operation name (default: a ``@step`` function's name; a plain function or a
            lambda leaves the operation unnamed, as in AWS's SDK).
        retry: The retry policy (default: 6 attempts, 5 s initial delay, x2, 60 s cap).
        semantics: ``"at_least_once"`` (default) or ``"at_most_once"`` per attempt: the start
            of an at-most-once attempt is recorded before it runs, and an attempt that started
            but never finished is not run again (it counts as a failed attempt).
        serdes: Serdes of the result (default JSON).
        compensate: ``undo(result)``, registered when the step succeeds and run by
            ``RunCompensations``.
        timeout: Seconds (> 0, or a ``timedelta``) one attempt may run; an attempt still
            running then fails with ``StepTimeoutError``, and the retry policy decides what
            comes next. An ``async def`` step is cancelled; a sync step runs in a worker thread
            that is abandoned (it runs to its end; what it returns is never recorded).
            None (default): no limit.
        sub_type: The SubType recorded for the step (default ``"Step"``): 1 to 32 characters
            of ``[A-Za-z0-9_-]``, matched on replay like the name. What AWS's SDK records for
            ``StepConfig(sub_type=...)``.
    """

    fn: Callable[..., R]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None
    name: str | None = None
    retry: Retry | None = None
    semantics: Semantics = "at_least_once"
    serdes: Serdes | None = None
    compensate: Callable[[Any], Any] | None = None
    timeout: float | timedelta | None = None
    sub_type: str | None = None

    if TYPE_CHECKING:  # without kwargs, args are checked against fn's parameters
        # With compensate=, the undo must take what the step returns: an ``async def``'s
        # awaited result, a ``@step`` function's result (its call is a Step[T]).
        @overload  # no args: a function called with none (Step(f) of f(x) is an error)
        def __init__(
            self: Step[R],
            fn: Callable[[], R],
            args: tuple[()] = (),
            kwargs: None = None,
            name: str | None = None,
            retry: Retry | None = None,
            semantics: Semantics = "at_least_once",
            serdes: Serdes | None = None,
            compensate: None = None,
            timeout: float | timedelta | None = None,
            sub_type: str | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self: Step[R],
            fn: Callable[[Unpack[Ts]], R],
            args: tuple[*Ts],
            kwargs: None = None,
            name: str | None = None,
            retry: Retry | None = None,
            semantics: Semantics = "at_least_once",
            serdes: Serdes | None = None,
            compensate: None = None,
            timeout: float | timedelta | None = None,
            sub_type: str | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self: Step[R],
            fn: Callable[..., R],
            args: tuple[Any, ...],
            kwargs: dict[str, Any] | None,
            name: str | None = None,
            retry: Retry | None = None,
            semantics: Semantics = "at_least_once",
            serdes: Serdes | None = None,
            compensate: None = None,
            timeout: float | timedelta | None = None,
            sub_type: str | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self: Step[R],
            fn: Callable[..., R],
            args: tuple[Any, ...] = (),
            *,
            kwargs: dict[str, Any],
            name: str | None = None,
            retry: Retry | None = None,
            semantics: Semantics = "at_least_once",
            serdes: Serdes | None = None,
            compensate: None = None,
            timeout: float | timedelta | None = None,
            sub_type: str | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self: Step[Step[T]],
            fn: Callable[[], Step[T]],
            args: tuple[()] = (),
            kwargs: None = None,
            *,
            name: str | None = None,
            retry: Retry | None = None,
            semantics: Semantics = "at_least_once",
            serdes: Serdes | None = None,
            compensate: Callable[[T], object],
            timeout: float | timedelta | None = None,
            sub_type: str | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self: Step[Coroutine[Any, Any, T]],
            fn: Callable[[], Coroutine[Any, Any, T]],
            args: tuple[()] = (),
            kwargs: None = None,
            *,
            name: str | None = None,
            retry: Retry | None = None,
            semantics: Semantics = "at_least_once",
            serdes: Serdes | None = None,
            compensate: Callable[[T], object],
            timeout: float | timedelta | None = None,
            sub_type: str | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self: Step[R],
            fn: Callable[[], R],
            args: tuple[()] = (),
            kwargs: None = None,
            *,
            name: str | None = None,
            retry: Retry | None = None,
            semantics: Semantics = "at_least_once",
            serdes: Serdes | None = None,
            compensate: Callable[[R], object],
            timeout: float | timedelta | None = None,
            sub_type: str | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self: Step[Step[T]],
            fn: Callable[[Unpack[Ts]], Step[T]],
            args: tuple[*Ts],
            kwargs: None = None,
            *,
            name: str | None = None,
            retry: Retry | None = None,
            semantics: Semantics = "at_least_once",
            serdes: Serdes | None = None,
            compensate: Callable[[T], object],
            timeout: float | timedelta | None = None,
            sub_type: str | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self: Step[Coroutine[Any, Any, T]],
            fn: Callable[[Unpack[Ts]], Coroutine[Any, Any, T]],
            args: tuple[*Ts],
            kwargs: None = None,
            *,
            name: str | None = None,
            retry: Retry | None = None,
            semantics: Semantics = "at_least_once",
            serdes: Serdes | None = None,
            compensate: Callable[[T], object],
            timeout: float | timedelta | None = None,
            sub_type: str | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self: Step[R],
            fn: Callable[[Unpack[Ts]], R],
            args: tuple[*Ts],
            kwargs: None = None,
            *,
            name: str | None = None,
            retry: Retry | None = None,
            semantics: Semantics = "at_least_once",
            serdes: Serdes | None = None,
            compensate: Callable[[R], object],
            timeout: float | timedelta | None = None,
            sub_type: str | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self: Step[Step[T]],
            fn: Callable[..., Step[T]],
            args: tuple[Any, ...],
            kwargs: dict[str, Any] | None,
            *,
            name: str | None = None,
            retry: Retry | None = None,
            semantics: Semantics = "at_least_once",
            serdes: Serdes | None = None,
            compensate: Callable[[T], object],
            timeout: float | timedelta | None = None,
            sub_type: str | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self: Step[Coroutine[Any, Any, T]],
            fn: Callable[..., Coroutine[Any, Any, T]],
            args: tuple[Any, ...],
            kwargs: dict[str, Any] | None,
            *,
            name: str | None = None,
            retry: Retry | None = None,
            semantics: Semantics = "at_least_once",
            serdes: Serdes | None = None,
            compensate: Callable[[T], object],
            timeout: float | timedelta | None = None,
            sub_type: str | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self: Step[R],
            fn: Callable[..., R],
            args: tuple[Any, ...],
            kwargs: dict[str, Any] | None,
            *,
            name: str | None = None,
            retry: Retry | None = None,
            semantics: Semantics = "at_least_once",
            serdes: Serdes | None = None,
            compensate: Callable[[R], object],
            timeout: float | timedelta | None = None,
            sub_type: str | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self: Step[Step[T]],
            fn: Callable[..., Step[T]],
            args: tuple[Any, ...] = (),
            *,
            kwargs: dict[str, Any],
            name: str | None = None,
            retry: Retry | None = None,
            semantics: Semantics = "at_least_once",
            serdes: Serdes | None = None,
            compensate: Callable[[T], object],
            timeout: float | timedelta | None = None,
            sub_type: str | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self: Step[Coroutine[Any, Any, T]],
            fn: Callable[..., Coroutine[Any, Any, T]],
            args: tuple[Any, ...] = (),
            *,
            kwargs: dict[str, Any],
            name: str | None = None,
            retry: Retry | None = None,
            semantics: Semantics = "at_least_once",
            serdes: Serdes | None = None,
            compensate: Callable[[T], object],
            timeout: float | timedelta | None = None,
            sub_type: str | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self: Step[R],
            fn: Callable[..., R],
            args: tuple[Any, ...] = (),
            *,
            kwargs: dict[str, Any],
            name: str | None = None,
            retry: Retry | None = None,
            semantics: Semantics = "at_least_once",
            serdes: Serdes | None = None,
            compensate: Callable[[R], object],
            timeout: float | timedelta | None = None,
            sub_type: str | None = None,
        ) -> None: ...

        def __init__(self, *args: Any, **kwargs: Any) -> None: ...

    def __post_init__(self) -> None:
        if type(self.fn) is functools.partial and type(self.args) is tuple:
            _take_bound_step(self, "fn")
        if isinstance(self.fn, StepFunction):
            _inherit_step_options(self, self.fn)
        name = self.name
        if (  # the common case in one test: this runs for every step, replays included
            type(self.args) is tuple
            and type(self.semantics) is str  # a list would be unhashable below
            and self.semantics in _SEMANTICS
            and (
                name is None
                or (
                    type(name) is str
                    and 0 < len(name) <= MAX_NAME_CHARS
                    and name.isascii()
                    and name.isprintable()
                )
            )
            and callable(self.fn)
            and self.retry is None
            and self.serdes is None
            and self.compensate is None
            and self.timeout is None
            and self.kwargs is None
            and self.sub_type is None
        ):
            if _current() is not None:
                made(self)
            return
        _plain_fields(self)  # off the common case above, which holds plain text only
        name = self.name
        if not callable(self.fn):
            raise _not_callable("Step needs a callable", self.fn)
        if type(self.args) is not tuple:
            raise _args_not_a_tuple("Step", self.args)
        _check_kwargs(self.kwargs, "Step")
        if self.semantics not in (AT_LEAST_ONCE, AT_MOST_ONCE):
            raise ValidationError(
                f"semantics must be 'at_least_once' or 'at_most_once', got {shown(self.semantics)}"
            )
        _check_name(self.name, "step")
        _check_retry(self.retry, "step")
        _check_serdes(self.serdes, "step serdes")
        _check_callable(self.compensate, "step compensate")
        if self.compensate is not None:
            _check_undo(self.compensate)
        if self.timeout is not None:
            msgspec.structs.force_setattr(self, "timeout", _step_timeout(self.timeout))
        _check_sub_type(self.sub_type, "step", OWN_STEP_SUBTYPES)
        made(self)

    @property
    def op_name(self) -> str | None:
        """The recorded name: the given name, else a ``@step`` function's name.

        As in AWS's SDK, a plain function or a lambda leaves the operation unnamed (see
        ``_aws_names.default_name``).
        """
        if self.name is not None:
            return self.name
        fn = self.fn
        return fn.name if isinstance(fn, StepFunction) else None  # its own name, if given

    if TYPE_CHECKING:  # an ``async def`` step gives what its coroutine returns

        @overload
        def __iter__(
            self: Step[Coroutine[Any, Any, T]],
        ) -> Generator[Command[Any], Any, T]: ...
        @overload
        def __iter__(  # pyright types an ``async def``'s call as a CoroutineType
            self: Step[CoroutineType[Any, Any, T]],
        ) -> Generator[Command[Any], Any, T]: ...
        @overload
        def __iter__(  # Step(step_function, args): what the @step function returns
            self: Step[Step[T]],
        ) -> Generator[Command[Any], Any, T]: ...
        @overload
        def __iter__(self: Step[T]) -> Generator[Command[Any], Any, T]: ...
        def __iter__(self) -> Generator[Command[Any], Any, Any]: ...


#: ``Step`` itself, for calls with options only known at run time (the library's own calls,
#: which its typed overloads, made for workflow code, would refuse): no wrapper call per step.
any_step: Final = cast("Callable[..., Step[Any]]", Step)


def unbind_step(
    fn: Callable[..., Any],
) -> tuple[StepFunction[..., Any], tuple[Any, ...], dict[str, Any] | None] | None:
    """``functools.partial(step_function, ...)``: the ``@step`` function and the arguments the
    partial binds, so that it runs as that step with its options (calling the partial would
    only build the step's command). None for anything else."""
    if type(fn) is functools.partial and isinstance(fn.func, StepFunction):
        return fn.func, fn.args, fn.keywords or None
    return None


def _take_bound_step(cmd: Step[Any] | Child[Any], field: str) -> None:
    """``Step``/``Child`` of ``functools.partial(step_function, ...)``: the command of the
    ``@step`` function itself, with the partial's arguments first (its keywords give way to
    the command's own ``kwargs``, as a partial's do to the call's)."""
    bound = unbind_step(getattr(cmd, field))
    if bound is None:
        return
    fn, args, kwargs = bound
    if kwargs is not None and cmd.kwargs is not None:
        kwargs = {**kwargs, **cmd.kwargs}
    msgspec.structs.force_setattr(cmd, field, fn)
    msgspec.structs.force_setattr(cmd, "args", args + cmd.args)
    msgspec.structs.force_setattr(cmd, "kwargs", kwargs if kwargs is not None else cmd.kwargs)


def _inherit_step_options(cmd: Step[Any], fn: StepFunction[..., Any]) -> None:
    """``Step(step_function, ...)``: the ``@step`` function's options, where the ``Step`` gives
    none of its own (its name is taken by ``op_name``)."""
    for option in ("retry", "serdes", "compensate", "timeout", "sub_type"):
        if getattr(cmd, option) is None and getattr(fn, option) is not None:
            msgspec.structs.force_setattr(cmd, option, getattr(fn, option))
    if cmd.semantics == AT_LEAST_ONCE and fn.semantics != AT_LEAST_ONCE:
        msgspec.structs.force_setattr(cmd, "semantics", fn.semantics)


class _PrevalidatedStep(Step[R], frozen=True):
    """A ``Step`` built by a ``@step`` function, whose options were validated once, there.

    Only its arguments are new, and they arrive as a tuple from the call itself.
    """

    def __post_init__(self) -> None:
        pass

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in msgspec.structs.asdict(self).items())
        return f"Step({fields})"


def _not_a_method(fn: Callable[..., Any]) -> None:
    """Refuse ``@step`` on a function defined in a class body that takes ``self``/``cls``:
    the step would be called without its instance."""
    qualname = getattr(fn, "__qualname__", "")
    owner, _, _ = qualname.rpartition(".")
    if not owner or owner.endswith("<locals>"):
        return
    try:
        first = next(iter(inspect.signature(fn).parameters), None)
    except (TypeError, ValueError):
        return
    if first in ("self", "cls"):
        raise WorkflowDefinitionError(
            f"@step decorates functions, not methods: {qualname} takes {first!r}, and a step "
            "is called without it. Make it a module-level function (or put @staticmethod above "
            "@step, with no self) and pass what it needs as arguments"
        )


def _not_a_generator_function(fn: Callable[..., Any]) -> None:
    """Refuse ``@step`` on a generator function: its call would only make a generator (a
    workflow's body), which a step cannot run or record as its result."""
    plain = inspect.unwrap(fn)
    if inspect.isasyncgenfunction(plain):
        name = getattr(fn, "__qualname__", repr(fn))
        raise WorkflowDefinitionError(
            f"@step decorates plain functions (def or async def), and {name} is an async "
            "generator function (`async def` with `yield`), which is neither a step nor a "
            "workflow: make it an async def that returns its value (collect what it yields "
            "into a list), or a plain def generator workflow that yields commands"
        )
    if inspect.isgeneratorfunction(plain):
        name = getattr(fn, "__qualname__", repr(fn))
        raise WorkflowDefinitionError(
            f"@step decorates plain functions (def or async def), and {name} is a generator "
            "function: it is a workflow. Drop @step and run it with `result = yield from "
            f"{getattr(fn, '__name__', 'sub')}(...)` or `yield dg.Child(...)`, or make it return "
            "its value instead of yielding"
        )


class StepFunction(Generic[P, R]):
    """A function decorated with ``@step``: calling it returns a ``Step`` command.

    ``.fn`` is the plain function, for calling it outside a workflow (unit tests).
    """

    __slots__ = (
        "__dict__",
        "_fn",
        "compensate",
        "fn",
        "name",
        "retry",
        "semantics",
        "serdes",
        "sub_type",
        "timeout",
    )

    fn: Callable[P, Any]

    @checked
    def __init__(
        self,
        fn: Callable[P, Any],
        *,
        name: str | None,
        retry: Retry | None,
        semantics: Semantics,
        serdes: Serdes | None,
        compensate: Callable[[Any], Any] | None,
        timeout: float | timedelta | None = None,
        sub_type: str | None = None,
    ) -> None:
        name, sub_type = plain_text(name), plain_text(sub_type)
        _check_name(name, "step")
        _not_a_method(fn)
        _not_a_generator_function(fn)
        self._fn = fn
        self.name = name if name is not None else _fn_name(fn)
        if name is None:
            _check_derived_name(self.name, "a @dg.step function's step", "pass @dg.step(name=...)")
        self.retry = retry
        self.semantics = semantics
        self.serdes = serdes
        self.compensate = compensate
        self.timeout = _step_timeout(timeout)
        self.sub_type = sub_type
        functools.update_wrapper(self, fn)
        # validate once, here
        any_step(
            fn,
            name=self.name,
            retry=retry,
            semantics=semantics,
            serdes=serdes,
            compensate=compensate,
            timeout=self.timeout,
            sub_type=sub_type,
        )
        # The plain function, refusing to run inside a workflow body (yield the step there).
        self.fn = guarded_plain(fn, self.name)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Step[R]:
        cmd: Step[R] = _PrevalidatedStep(
            self._fn,
            args,
            kwargs or None,
            self.name,
            self.retry,
            self.semantics,
            self.serdes,
            self.compensate,
            self.timeout,
            self.sub_type,
        )
        made(cmd)  # notes it when a workflow body builds it (see _guard)
        return cmd

    def __repr__(self) -> str:
        return f"<step {self.name or self.fn!r}>"


if TYPE_CHECKING:  # what ``@step`` gives type checkers: ``.fn`` keeps the function's type

    class _SyncStepFunction(StepFunction[P, R]):
        fn: Callable[P, R]

    class _AsyncStepFunction(StepFunction[P, R]):
        fn: Callable[P, Coroutine[Any, Any, R]]


@overload
def step(  # type: ignore[overload-overlap]  # an async def matches both: this one first
    fn: Callable[P, Coroutine[Any, Any, R]], /
) -> _AsyncStepFunction[P, R]: ...
@overload
def step(fn: Callable[P, R], /) -> _SyncStepFunction[P, R]: ...
@overload
def step(
    *,
    name: str | None = None,
    retry: Retry | None = None,
    semantics: Semantics = "at_least_once",
    serdes: Serdes | None = None,
    compensate: None = None,
    timeout: float | timedelta | None = None,
    sub_type: str | None = None,
) -> _StepDecorator: ...
@overload
def step(
    *,
    name: str | None = None,
    retry: Retry | None = None,
    semantics: Semantics = "at_least_once",
    serdes: Serdes | None = None,
    compensate: _U,
    timeout: float | timedelta | None = None,
    sub_type: str | None = None,
) -> _CompensatedStepDecorator[_U]: ...
@checked
def step(
    fn: Callable[P, Any] | None = None,
    /,
    *,
    name: str | None = None,
    retry: Retry | None = None,
    semantics: Semantics = "at_least_once",
    serdes: Serdes | None = None,
    compensate: Callable[[Any], Any] | None = None,
    timeout: float | timedelta | None = None,
    sub_type: str | None = None,
) -> StepFunction[..., Any] | _StepDecorator | _CompensatedStepDecorator[Any]:
    """Make a function a durable step: inside a workflow, ``yield f(x)`` runs it once.

    Usable bare (``@step``) or with options (``@step(retry=Retry(max_attempts=3))``); the
    options are those of ``Step``.
    """

    def wrap(f: Callable[..., Any]) -> StepFunction[..., Any]:
        return StepFunction(
            f,
            name=name,
            retry=retry,
            semantics=semantics,
            serdes=serdes,
            compensate=compensate,
            timeout=timeout,
            sub_type=sub_type,
        )

    if fn is not None:
        return wrap(fn)
    return _StepDecorator(wrap) if compensate is None else _CompensatedStepDecorator(wrap)


class _StepDecorator:
    """What ``@step(...)`` with options returns: applied to a function, a ``StepFunction``."""

    __slots__ = ("_wrap",)

    def __init__(self, wrap: Callable[[Callable[..., Any]], StepFunction[..., Any]]) -> None:
        self._wrap = wrap

    @overload
    def __call__(  # type: ignore[overload-overlap]  # an async def matches both: this first
        self, fn: Callable[P, Coroutine[Any, Any, R]], /
    ) -> _AsyncStepFunction[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R], /) -> _SyncStepFunction[P, R]: ...
    def __call__(self, fn: Callable[..., Any], /) -> StepFunction[..., Any]:
        return self._wrap(fn)


_U = TypeVar("_U", bound=Callable[[Any], object])
_U_co = TypeVar("_U_co", bound=Callable[[Any], object], covariant=True)


class _CompensatedStepDecorator(_StepDecorator, Generic[_U_co]):
    """What ``@step(compensate=undo, ...)`` returns, for type checkers: generic in the undo, so
    that a function whose result the undo cannot take is a type error where it is decorated.

    An undo that takes ``object`` or ``Any`` (or a lambda) takes any result; otherwise the step
    is typed by what the undo takes (a step returning a subclass of it, or one member of a
    union it takes, is typed as the undo's parameter).
    """

    __slots__ = ()

    if TYPE_CHECKING:

        @overload  # an async def matches both: this one first
        def __call__(  # type: ignore[overload-overlap]
            self: _CompensatedStepDecorator[Callable[[object], object]],
            fn: Callable[P, Coroutine[Any, Any, R]],
            /,
        ) -> _AsyncStepFunction[P, R]: ...
        @overload
        def __call__(
            self: _CompensatedStepDecorator[Callable[[object], object]], fn: Callable[P, R], /
        ) -> _SyncStepFunction[P, R]: ...
        @overload  # an async def matches both: this one first
        def __call__(  # type: ignore[overload-overlap]
            self: _CompensatedStepDecorator[Callable[[R], object]],
            fn: Callable[P, Coroutine[Any, Any, R]],
            /,
        ) -> _AsyncStepFunction[P, R]: ...
        @overload
        def __call__(
            self: _CompensatedStepDecorator[Callable[[R], object]], fn: Callable[P, R], /
        ) -> _SyncStepFunction[P, R]: ...
        def __call__(self, fn: Callable[..., Any], /) -> StepFunction[..., Any]: ...


# --- waiting --------------------------------------------------------------------------------


class Wait(Command[None], frozen=True):
    """Suspend the execution for ``seconds`` (whole seconds, 1 s to 366 days).

    No compute is held while waiting: the invocation ends and the service resumes it.
    """

    seconds: int
    name: str | None = None

    def __post_init__(self) -> None:
        _plain_fields(self)
        try:
            _check_seconds(self.seconds, "Wait seconds", minimum=1, maximum=MAX_WAIT_SECONDS)
        except ValidationError as exc:
            raise ValidationError(f"{exc}{_wait_advice(self.seconds)}") from None
        _check_name(self.name, "wait")
        made(self)


class CreateCallback(Command["CallbackHandle[R]"], Generic[R], frozen=True, kw_only=True):
    """Create a callback; the yield returns a ``CallbackHandle`` at once (it never blocks).

    Send ``handle.callback_id`` to whoever will answer, then ``yield handle`` to wait for the
    answer (the result, or ``CallbackFailedError`` / ``CallbackTimeoutError``).

    Args:
        name: The operation name.
        timeout: Seconds before the callback times out (None: never).
        heartbeat_timeout: Seconds without a heartbeat before it times out (None: no limit).
        serdes: Serdes of the result.
        result_type: The type the result is decoded into (default: plain JSON values).
        sub_type: The SubType recorded for the callback (default ``"Callback"``): 1 to 32
            characters of ``[A-Za-z0-9_-]``, matched on replay like the name. What AWS's SDK
            records for ``CallbackConfig(sub_type=...)``.
    """

    name: str | None = None
    timeout: int | None = None
    heartbeat_timeout: int | None = None
    serdes: Serdes | None = None
    result_type: type[R] | None = None
    sub_type: str | None = None

    if TYPE_CHECKING:  # a class gives R; any other type form (a union, Literal) asks for it
        # (`x: int | None = yield from handle`), as no result_type does.

        @overload
        def __init__(
            self: CreateCallback[R],
            *,
            name: str | None = None,
            timeout: int | None = None,
            heartbeat_timeout: int | None = None,
            serdes: Serdes | None = None,
            result_type: type[R],
            sub_type: str | None = None,
        ) -> None: ...

        @overload
        def __init__(
            self,
            *,
            name: str | None = None,
            timeout: int | None = None,
            heartbeat_timeout: int | None = None,
            serdes: Serdes | None = None,
            result_type: object = None,
            sub_type: str | None = None,
        ) -> None: ...

        def __init__(self, **kwargs: Any) -> None: ...

    def __post_init__(self) -> None:
        _plain_fields(self)
        _check_name(self.name, "callback")
        _check_serdes(self.serdes, "callback serdes")
        _check_result_type(self.result_type, "CreateCallback result_type")
        _check_sub_type(self.sub_type, "callback", frozenset())
        if self.timeout is not None:
            _check_seconds(self.timeout, "callback timeout", minimum=1, maximum=99_999_999)
        if self.heartbeat_timeout is not None:
            _check_seconds(
                self.heartbeat_timeout, "callback heartbeat_timeout", minimum=1, maximum=99_999_999
            )
        made(self)


class CallbackHandle(Command[R], frozen=True, kw_only=True):
    """A created callback. ``yield handle`` waits for its result."""

    callback_id: str
    operation_id: str
    serdes: Serdes | None = None
    result_type: type[R] | None = None


class WaitForCallback(Command[R], frozen=True):
    """Create a callback, run ``submitter(callback_id)`` as a step, and wait for the answer.

    Recorded as a CONTEXT (subtype ``WaitForCallback``) holding the CALLBACK and the submitter
    STEP. The yield returns the callback's result or raises its failure.

    Args:
        submitter: ``fn(callback_id)``, sync or async: sends the id to whoever will answer.
        name: The operation name.
        timeout: Seconds before the callback times out.
        heartbeat_timeout: Seconds without a heartbeat before it times out.
        retry: Retry policy of the submitter step.
        serdes: Serdes of the callback result.
        result_type: The type the result is decoded into (default: plain JSON values).
        sub_type: The SubType recorded for the callback inside (default ``"Callback"``; the
            context stays ``WaitForCallback``). What AWS's SDK records for
            ``WaitForCallbackConfig(sub_type=...)``.
    """

    submitter: Callable[[str], Any]
    name: str | None = None
    timeout: int | None = None
    heartbeat_timeout: int | None = None
    retry: Retry | None = None
    serdes: Serdes | None = None
    result_type: type[R] | None = None
    sub_type: str | None = None

    if TYPE_CHECKING:  # as CreateCallback: a class gives R, another type form asks for it

        @overload
        def __init__(
            self: WaitForCallback[R],
            submitter: Callable[[str], Any],
            name: str | None = None,
            timeout: int | None = None,
            heartbeat_timeout: int | None = None,
            retry: Retry | None = None,
            serdes: Serdes | None = None,
            *,
            result_type: type[R],
            sub_type: str | None = None,
        ) -> None: ...

        @overload
        def __init__(
            self,
            submitter: Callable[[str], Any],
            name: str | None = None,
            timeout: int | None = None,
            heartbeat_timeout: int | None = None,
            retry: Retry | None = None,
            serdes: Serdes | None = None,
            result_type: object = None,
            sub_type: str | None = None,
        ) -> None: ...

        def __init__(self, *args: Any, **kwargs: Any) -> None: ...

    def __post_init__(self) -> None:
        _plain_fields(self)
        if not callable(self.submitter):
            raise _not_callable("WaitForCallback needs a callable submitter", self.submitter)
        _runs_as_a_step(self.submitter, "a WaitForCallback submitter")
        _check_takes(self.submitter, "a WaitForCallback submitter", ("callback_id",))
        CreateCallback(
            name=self.name,
            timeout=self.timeout,
            heartbeat_timeout=self.heartbeat_timeout,
            serdes=self.serdes,
            sub_type=self.sub_type,
        )
        if self.name is not None:
            # its callback is recorded as "<name> create callback id", a name of its own
            longest = max(wait_for_callback_names(self.name), key=len)
            if len(longest) > MAX_NAME_CHARS:
                most = MAX_NAME_CHARS - (len(longest) - len(self.name))
                raise ValidationError(
                    f"WaitForCallback name must be at most {most} characters, got "
                    f"{len(self.name)}: its callback is recorded as '<name> create callback "
                    f"id' (as AWS's SDK names it), and the service records names of at most "
                    f"{MAX_NAME_CHARS} characters. Shorten the name"
                )
        _check_result_type(self.result_type, "WaitForCallback result_type")
        _check_retry(self.retry, "WaitForCallback")
        made(self)


class Invoke(Command[R], frozen=True):
    """Invoke another function (durable or plain) and wait for its result.

    On Lambda, ``function_name`` is a function name or ARN; on the embedded engine, a name
    registered with the engine. ``result_type`` is the type the result is decoded into
    (default: plain JSON values); it also gives ``yield from`` its type.
    """

    function_name: str
    payload: Any = None
    name: str | None = None
    tenant_id: str | None = None
    serdes: Serdes | None = None
    result_type: type[R] | None = None

    if TYPE_CHECKING:  # as CreateCallback: a class gives R, another type form asks for it

        @overload
        def __init__(
            self: Invoke[R],
            function_name: str,
            payload: Any = None,
            name: str | None = None,
            tenant_id: str | None = None,
            serdes: Serdes | None = None,
            *,
            result_type: type[R],
        ) -> None: ...

        @overload
        def __init__(
            self,
            function_name: str,
            payload: Any = None,
            name: str | None = None,
            tenant_id: str | None = None,
            serdes: Serdes | None = None,
            result_type: object = None,
        ) -> None: ...

        def __init__(self, *args: Any, **kwargs: Any) -> None: ...

    def __post_init__(self) -> None:
        _plain_fields(self)
        if not isinstance(self.function_name, str) or not 1 <= len(self.function_name) <= 256:
            raise ValidationError(
                f"Invoke function_name must be a string of 1 to 256 characters, "
                f"got {shown(self.function_name)}"
            )
        if FUNCTION_NAME.fullmatch(self.function_name) is None:
            raise ValidationError(
                f"Invoke function_name must be a function name (letters, digits, - _ .), "
                f"with an optional :version or :alias, or a function ARN, as Lambda's "
                f"ChainedInvokeOptions.FunctionName accepts it, got {shown(self.function_name)}"
            )
        _check_name(self.name, "invoke")
        if self.tenant_id is not None:
            if not isinstance(self.tenant_id, str):
                raise ValidationError(
                    f"Invoke tenant_id must be a string or None, got {shown(self.tenant_id)}"
                )
            problem = tenant_id_problem(self.tenant_id)
            if problem is not None:
                raise ValidationError(f"Invoke {problem}")
        _check_serdes(self.serdes, "invoke serdes")
        _check_result_type(self.result_type, "Invoke result_type")
        made(self)


class WaitDecision(msgspec.Struct, frozen=True, metaclass=CheckedStructMeta):
    """What a ``WaitStrategy`` decides after a check: stop, or check again after ``delay``."""

    stop: bool
    delay: int = 0

    def __post_init__(self) -> None:
        _plain_fields(self)
        if type(self.stop) is not bool:
            raise ValidationError(
                f"WaitDecision stop must be True or False, got {shown(self.stop)}: return "
                f"WaitDecision.done() or WaitDecision.again(seconds)"
            )
        if not self.stop:
            _check_seconds(
                self.delay, "wait-for-condition delay", minimum=1, maximum=MAX_WAIT_SECONDS
            )

    @classmethod
    @checked
    def done(cls) -> WaitDecision:
        return cls(True)

    @classmethod
    @checked
    def again(cls, delay: int) -> WaitDecision:
        return cls(False, delay)


class WaitStrategy(
    msgspec.Struct, Generic[S], frozen=True, kw_only=True, metaclass=CheckedStructMeta
):
    """The usual polling strategy: stop when ``until(state)`` is true.

    Generic in the state: given to a ``WaitForCondition``, ``until``'s parameter has the type
    of the check's state (``WaitStrategy(until=lambda s: s.done)`` is typed); built apart,
    it is a ``WaitStrategy[Any]`` unless written ``WaitStrategy[Job](...)``.

    Args:
        until: Predicate on the state; True stops the polling.
        delay: Seconds before the second check.
        backoff: Multiplier of the delay for each further check.
        max_delay: Upper bound of a delay.
        max_attempts: Checks in all (None: no limit); past it the step fails.
    """

    until: Callable[[S], bool]
    delay: int = 5
    backoff: float = 1.0
    max_delay: int = _WAIT_MAX_DELAY
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        _plain_fields(self)
        if not callable(self.until):
            raise ValidationError(
                f"WaitStrategy until must be a predicate function, got {shown(self.until)}"
            )
        _check_predicate(self.until, "a WaitStrategy until", "state")
        _check_seconds(self.delay, "WaitStrategy delay", minimum=1, maximum=MAX_WAIT_SECONDS)
        _check_number(self.backoff, "WaitStrategy backoff", minimum=1)
        _check_seconds(
            self.max_delay, "WaitStrategy max_delay", minimum=1, maximum=MAX_WAIT_SECONDS
        )
        _check_count(self.max_attempts, "WaitStrategy max_attempts", minimum=1)
        _default_cap(self, "WaitStrategy", "delay", self.delay)

    def __call__(self, state: S, attempt: int) -> WaitDecision:
        if _predicate_answer(self.until(state), "a WaitStrategy until", polling=True):
            return WaitDecision.done()
        if self.max_attempts is not None and attempt >= self.max_attempts:
            raise WaitConditionNotMetError(
                f"condition not met after {attempt} checks (max_attempts={self.max_attempts})"
            )
        delay = _backed_off(self.delay, self.backoff, attempt, self.max_delay)
        return WaitDecision.again(max(1, math.ceil(delay)))


class WaitForCondition(Command[R], frozen=True):
    """Poll ``check(state) -> state`` with a durable wait between checks.

    Recorded as one STEP (subtype ``WaitForCondition``) whose attempts are the checks; the state
    is checkpointed after each. ``wait_strategy(state, attempt)`` returns a ``WaitDecision``
    (or use ``WaitStrategy(until=...)``). The yield returns the final state.
    """

    check: Callable[[R], R]
    initial_state: Any = None
    wait_strategy: Callable[[Any, int], WaitDecision] | None = None
    name: str | None = None
    serdes: Serdes | None = None

    if TYPE_CHECKING:  # a plain function, an ``async def`` one or a @step function of the state

        @overload
        def __init__(
            self: WaitForCondition[R],
            check: Callable[[R], R],
            initial_state: R | None = None,
            wait_strategy: Callable[[R, int], WaitDecision] | WaitStrategy[R] | None = None,
            name: str | None = None,
            serdes: Serdes | None = None,
        ) -> None: ...

        @overload
        def __init__(
            self: WaitForCondition[R],
            check: StepFunction[[R], R],
            initial_state: R | None = None,
            wait_strategy: Callable[[R, int], WaitDecision] | WaitStrategy[R] | None = None,
            name: str | None = None,
            serdes: Serdes | None = None,
        ) -> None: ...

        @overload
        def __init__(
            self: WaitForCondition[R],
            check: Callable[[R], Coroutine[Any, Any, R]],
            initial_state: R | None = None,
            wait_strategy: Callable[[R, int], WaitDecision] | WaitStrategy[R] | None = None,
            name: str | None = None,
            serdes: Serdes | None = None,
        ) -> None: ...

        def __init__(self, *args: Any, **kwargs: Any) -> None: ...

    def __post_init__(self) -> None:
        _plain_fields(self)
        if not callable(self.check):
            raise _not_callable("WaitForCondition needs a callable check", self.check)
        if self.wait_strategy is not None and not callable(self.wait_strategy):
            raise ValidationError("wait_strategy must be callable")
        _runs_as_a_step(self.check, "a WaitForCondition check")
        _check_takes(self.check, "a WaitForCondition check", ("state",))
        if self.wait_strategy is not None:
            _check_takes(self.wait_strategy, "a wait_strategy", ("state", "attempt"))
        _check_name(self.name, "wait-for-condition")
        _check_serdes(self.serdes, "wait-for-condition serdes")
        made(self)

    @property
    def op_name(self) -> str | None:
        """The recorded name: the given name only (AWS's SDK names no condition after its
        check function)."""
        return self.name


# --- composition ----------------------------------------------------------------------------


def _check_workflow_fn(fn: object, what: str) -> None:
    if not callable(fn):
        raise WorkflowDefinitionError(f"{what} must be a generator function, got {shown(fn)}")


class Child(Command[R], frozen=True):
    """Run ``workflow(*args, **kwargs)`` in its own checkpointed child context.

    Its operations get their own id namespace, and once it completes its result is replayed from
    one record. ``yield from workflow(...)`` is the inline alternative (same namespace).

    Args:
        workflow: The child workflow (a generator function, or a ``@step`` function: one step).
        args: Positional arguments.
        kwargs: Keyword arguments.
        name: The operation name (default: a ``@workflow`` function's name).
        serdes: Serdes of the result.
        virtual: True: a virtual context, which records nothing of its own. It still takes a
            position and gives its operations their own id namespace, but they record the
            enclosing context as their parent, and its body runs again on every replay (its
            operations replay from their own records). Plugins see it start and end (a span
            in ``durable_gen.otel``). See docs/guide.md, "Virtual child contexts".
        sub_type: The SubType recorded for the context (default ``"RunInChildContext"``): 1
            to 32 characters of ``[A-Za-z0-9_-]``, matched on replay like the name. What AWS's
            SDK records for ``ChildConfig(sub_type=...)``.
    """

    workflow: Callable[..., Generator[Any, Any, R]]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None
    name: str | None = None
    serdes: Serdes | None = None
    virtual: bool = False
    sub_type: str | None = None

    if TYPE_CHECKING:  # a generator function's Workflow[R], or a @step function's R; without
        # kwargs, args are checked against the workflow's parameters

        @overload
        def __init__(
            self: Child[R],
            workflow: Callable[[], Generator[Any, Any, R]],
            args: tuple[()] = (),
            kwargs: None = None,
            name: str | None = None,
            serdes: Serdes | None = None,
            virtual: bool = False,
            sub_type: str | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self: Child[R],
            workflow: Callable[[Unpack[Ts]], Generator[Any, Any, R]],
            args: tuple[*Ts],
            kwargs: None = None,
            name: str | None = None,
            serdes: Serdes | None = None,
            virtual: bool = False,
            sub_type: str | None = None,
        ) -> None: ...

        @overload
        def __init__(
            self: Child[R],
            workflow: Callable[[], Step[R]],
            args: tuple[()] = (),
            kwargs: None = None,
            name: str | None = None,
            serdes: Serdes | None = None,
            virtual: bool = False,
            sub_type: str | None = None,
        ) -> None: ...
        @overload
        def __init__(
            self: Child[R],
            workflow: Callable[[Unpack[Ts]], Step[R]],
            args: tuple[*Ts],
            kwargs: None = None,
            name: str | None = None,
            serdes: Serdes | None = None,
            virtual: bool = False,
            sub_type: str | None = None,
        ) -> None: ...

        @overload
        def __init__(
            self: Child[R],
            workflow: Callable[..., Generator[Any, Any, R]],
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
            name: str | None = None,
            serdes: Serdes | None = None,
            virtual: bool = False,
            sub_type: str | None = None,
        ) -> None: ...

        @overload
        def __init__(
            self: Child[R],
            workflow: Callable[..., Generator[Any, Any, R]],
            *,
            kwargs: dict[str, Any],
            name: str | None = None,
            serdes: Serdes | None = None,
            virtual: bool = False,
            sub_type: str | None = None,
        ) -> None: ...

        @overload
        def __init__(
            self: Child[R],
            workflow: StepFunction[..., R],
            args: tuple[Any, ...] = (),
            *,
            kwargs: dict[str, Any],
            name: str | None = None,
            serdes: Serdes | None = None,
            virtual: bool = False,
            sub_type: str | None = None,
        ) -> None: ...

        def __init__(self, *args: Any, **kwargs: Any) -> None: ...

    def __post_init__(self) -> None:
        _plain_fields(self)
        if type(self.workflow) is functools.partial and type(self.args) is tuple:
            _take_bound_step(self, "workflow")
        _check_workflow_fn(self.workflow, "Child workflow")
        plain = inspect.unwrap(self.workflow)
        if not isinstance(self.workflow, StepFunction) and (  # an async @step is one step
            inspect.iscoroutinefunction(plain) or inspect.isasyncgenfunction(plain)
        ):
            raise _async_child(self.workflow, plain)
        if type(self.args) is not tuple:
            raise _args_not_a_tuple("Child", self.args)
        _check_kwargs(self.kwargs, "Child")
        _check_name(self.name, "child")
        _check_serdes(self.serdes, "child serdes")
        if type(self.virtual) is not bool:
            raise ValidationError(
                f"Child virtual must be True (a virtual context: nothing recorded for it) or "
                f"False (the default: a checkpointed child context), got {shown(self.virtual)}"
            )
        _check_sub_type(self.sub_type, "child", OWN_CONTEXT_SUBTYPES)
        if self.name is None and not self.virtual:  # a virtual child's name is not recorded
            _check_derived_name(self.op_name, "a Child of a @dg.workflow function", "pass name=")
        if not isinstance(self.workflow, StepFunction):  # a @step child runs as its step
            _check_child_call(self.workflow, self.args, self.kwargs)
        made(self)

    @property
    def op_name(self) -> str | None:
        """The recorded name: the given name, else the name of a ``@workflow`` function (the
        counterpart of AWS's ``@durable_with_child_context``); any other function names
        nothing."""
        if self.name is not None:
            return self.name
        wf = unpartial(self.workflow)  # functools.partial(sub, x): named as sub is
        return default_name(None, wf) if getattr(wf, _WORKFLOW_MARK, False) else None


def _async_child(workflow: object, plain: object) -> WorkflowDefinitionError:
    """The error of a ``Child`` given an ``async def`` function: a child body is a workflow (a
    generator function); an async function runs as a step, which a ``@step`` decorator makes
    it (a ``Child`` of a ``@step`` function runs it as one step in its context)."""
    if inspect.isasyncgenfunction(plain):
        return _guard.not_a_generator(workflow, None)
    fn = unpartial(workflow)
    label = getattr(fn, "__qualname__", repr(fn))
    name = getattr(fn, "__name__", "fn")
    return WorkflowDefinitionError(
        f"Child({label}, ...): {label} is an `async def` function, but a Child runs a workflow "
        "(a generator function: `def` with `yield`), and only steps may be `async def`. "
        f"Decorate it with @dg.step, and Child({name}, args) runs it as one step in its own "
        f"context; or run it as a step here with `yield dg.Step({name}, args)`"
    )


def _check_child_call(
    workflow: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any] | None
) -> None:
    """Refuse, where the ``Child`` is built, a child workflow that cannot take the arguments
    it is given: its call would fail when the child starts, as the workflow's own
    ``TypeError``. Remembered by its arguments' shape."""
    shape = f"child({len(args)}; {', '.join(kwargs) if kwargs else ''})"
    _once(workflow, shape, _check_child_args, workflow, args, kwargs)


def _check_child_args(
    workflow: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any] | None
) -> None:
    if not inspect.isgeneratorfunction(inspect.unwrap(unpartial(workflow))):
        return  # a plain function runs as a step, whose call is checked as any step's
    try:
        signature = inspect.signature(workflow)
    except (TypeError, ValueError):  # no signature to read: the call will tell
        return
    try:
        signature.bind(*args, **(kwargs or {}))
    except TypeError as exc:
        label = getattr(unpartial(workflow), "__qualname__", repr(workflow))
        takes = signature.replace(return_annotation=inspect.Signature.empty)
        raise ArgumentError(
            f"Child runs {label}(*args, **kwargs), and {label}{takes} cannot take the "
            f"arguments it was given ({exc}): pass what it takes as args=(...) (a tuple, "
            f"one value per positional parameter) and kwargs={{...}}, or bind them first "
            f"with functools.partial"
        ) from None


def unpartial(fn: Any) -> Any:
    """The function a (nested) ``functools.partial`` calls; ``fn`` itself otherwise."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


class Completion(msgspec.Struct, frozen=True, kw_only=True, metaclass=CheckedStructMeta):
    """When a Map or Parallel batch is decided. With nothing set, the first failure decides it.

    The failure tolerances are checked first: the batch fails once failures exceed
    ``tolerated_failure_count`` or their share of *all* items exceeds
    ``tolerated_failure_percentage`` (strictly greater). Then it is ``ALL_COMPLETED`` when
    every item completed (also when the last one reached ``min_successful``), else
    ``MIN_SUCCESSFUL_REACHED`` once ``min_successful`` items succeeded.
    """

    min_successful: int | None = None
    tolerated_failure_count: int | None = None
    tolerated_failure_percentage: float | None = None

    def __post_init__(self) -> None:
        if type(self.min_successful) is int and self.min_successful == 0:
            # AWS's SDKs refuse it too; 0 would decide the batch at its first completed item.
            raise ValidationError(
                "Completion min_successful must be at least 1, got 0: leave it None when no "
                "minimum number of successes is needed (e.g. max(1, len(items) // 2))"
            )
        _check_count(self.min_successful, "Completion min_successful", minimum=1)
        _check_count(self.tolerated_failure_count, "Completion tolerated_failure_count", minimum=0)
        pct = self.tolerated_failure_percentage
        if pct is not None and (
            isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0 <= pct <= 100
        ):
            raise ValidationError(
                f"Completion tolerated_failure_percentage must be a number between 0 and 100, "
                f"got {shown(pct)}"
            )

    @classmethod
    @checked
    def all_completed(cls) -> Completion:
        """Run every item whatever fails."""
        return cls(tolerated_failure_percentage=100)

    @classmethod
    @checked
    def first_successful(cls) -> Completion:
        """Decide the batch when one item succeeded; failures do not end it."""
        return cls(min_successful=1)

    @classmethod
    @checked
    def all_successful(cls) -> Completion:
        """Decide the batch at the first failure (what no completion policy does)."""
        return cls(tolerated_failure_count=0, tolerated_failure_percentage=0)


Nesting = Literal["nested", "flat"]


def _check_nesting(value: str) -> None:
    if value not in ("nested", "flat"):
        raise ValidationError(f"nesting must be 'nested' or 'flat', got {shown(value)}")


def _check_concurrency(value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(
            f"max_concurrency must be a positive int or None (unbounded), got {shown(value)}"
        )


class Map(Command["BatchResult[Any]"], Generic[T], frozen=True):
    """Run ``fn`` for every item, concurrently, and return a ``BatchResult`` in item order.

    ``fn`` is a plain function (each item becomes a child context holding one step, called as
    ``fn(item)`` or ``fn(item, index)``) or a generator function (each item runs as a child
    workflow ``fn(item, index)``).

    Args:
        fn: The per-item function or workflow.
        items: The items.
        name: The operation name.
        max_concurrency: Items in flight at once (None: unbounded).
        completion: When the batch is decided (default: the first failure ends it).
        item_namer: ``namer(item, index) -> str | None`` names each iteration (None: unnamed).
        serdes: Serdes of the whole batch result.
        item_serdes: Serdes of each item's result.
        nesting: ``"nested"`` (default): each item is a recorded child context; ``"flat"``:
            items run in virtual contexts and their operations are recorded directly under the
            Map (fewer records; an item's result is not checkpointed on its own).
    """

    fn: Callable[..., T]
    items: Sequence[Any]
    name: str | None = None
    max_concurrency: int | None = None
    completion: Completion | None = None
    item_namer: Callable[[Any, int], str | None] | None = None
    serdes: Serdes | None = None
    item_serdes: Serdes | None = None
    nesting: Nesting = "nested"

    if TYPE_CHECKING:  # fn takes (item) or (item, index): an item of the wrong type is flagged

        @overload
        def __init__(
            self: Map[T],
            fn: Callable[[I], T],
            items: Sequence[I],
            name: str | None = None,
            max_concurrency: int | None = None,
            completion: Completion | None = None,
            item_namer: Callable[[I, int], str | None] | None = None,
            serdes: Serdes | None = None,
            item_serdes: Serdes | None = None,
            nesting: Nesting = "nested",
        ) -> None: ...

        @overload
        def __init__(
            self: Map[T],
            fn: Callable[[I, int], T],
            items: Sequence[I],
            name: str | None = None,
            max_concurrency: int | None = None,
            completion: Completion | None = None,
            item_namer: Callable[[I, int], str | None] | None = None,
            serdes: Serdes | None = None,
            item_serdes: Serdes | None = None,
            nesting: Nesting = "nested",
        ) -> None: ...

        def __init__(self, *args: Any, **kwargs: Any) -> None: ...

    def __post_init__(self) -> None:
        _plain_fields(self)
        _check_nesting(self.nesting)
        if not callable(self.fn):
            raise _not_callable("Map needs a callable", self.fn)
        if isinstance(self.items, (str, bytes)) or not isinstance(self.items, Sequence):
            raise ValidationError(
                f"Map items must be a sequence (list or tuple), got {type(self.items).__name__}"
            )
        _check_call(self.fn, "a Map function", "item")
        _check_concurrency(self.max_concurrency)
        _check_name(self.name, "map")
        _check_completion(self.completion, "Map")
        _check_callable(self.item_namer, "Map item_namer")
        if self.item_namer is not None:
            _check_namer(self.item_namer)
        _check_serdes(self.serdes, "Map serdes")
        _check_serdes(self.item_serdes, "Map item_serdes")
        made(self)

    if TYPE_CHECKING:  # items of a generator or ``async def`` function give what it returns

        @overload
        def __iter__(
            self: Map[Generator[Any, Any, R]],
        ) -> Generator[Command[Any], Any, BatchResult[R]]: ...
        @overload
        def __iter__(
            self: Map[Coroutine[Any, Any, R]],
        ) -> Generator[Command[Any], Any, BatchResult[R]]: ...
        @overload
        def __iter__(  # pyright types an ``async def``'s call as a CoroutineType
            self: Map[CoroutineType[Any, Any, R]],
        ) -> Generator[Command[Any], Any, BatchResult[R]]: ...
        @overload
        def __iter__(  # a ``@step`` function's call is a Step: its items give what it returns
            self: Map[Step[R]],
        ) -> Generator[Command[Any], Any, BatchResult[R]]: ...
        @overload
        def __iter__(self: Map[R]) -> Generator[Command[Any], Any, BatchResult[R]]: ...
        def __iter__(self) -> Generator[Command[Any], Any, Any]: ...


class Branch(msgspec.Struct, Generic[T], frozen=True, metaclass=CheckedStructMeta):
    """A named Parallel branch: a function or generator function called with no arguments."""

    fn: Callable[[], T]
    name: str | None = None

    def __post_init__(self) -> None:
        _plain_fields(self)
        if not callable(self.fn):
            raise _not_callable("a Branch needs a function", self.fn)
        _check_name(self.name, "branch")


class Parallel(Command["BatchResult[Any]"], Generic[T], frozen=True):
    """Run branches concurrently and return a ``BatchResult`` in branch order.

    Each branch is a function (run as one step), a generator function (a child workflow), or a
    ``Branch`` naming one. Branches may themselves yield ``Parallel`` or ``Map``.
    """

    branches: Sequence[Callable[[], T] | Branch[T]]
    name: str | None = None
    max_concurrency: int | None = None
    completion: Completion | None = None
    serdes: Serdes | None = None
    item_serdes: Serdes | None = None
    nesting: Nesting = "nested"

    if TYPE_CHECKING:  # branches of kinds mypy cannot join into one T (a function and a
        # Branch, a function and a generator function) are accepted, untyped

        @overload
        def __init__(
            self: Parallel[T],
            branches: Sequence[Callable[[], T] | Branch[T]],
            name: str | None = None,
            max_concurrency: int | None = None,
            completion: Completion | None = None,
            serdes: Serdes | None = None,
            item_serdes: Serdes | None = None,
            nesting: Nesting = "nested",
        ) -> None: ...

        @overload
        def __init__(
            self: Parallel[Any],
            branches: Sequence[Callable[[], Any] | Branch[Any]],
            name: str | None = None,
            max_concurrency: int | None = None,
            completion: Completion | None = None,
            serdes: Serdes | None = None,
            item_serdes: Serdes | None = None,
            nesting: Nesting = "nested",
        ) -> None: ...

        def __init__(self, *args: Any, **kwargs: Any) -> None: ...

    def __post_init__(self) -> None:
        _plain_fields(self)
        _check_nesting(self.nesting)
        if isinstance(self.branches, (str, bytes)) or not isinstance(self.branches, Sequence):
            raise ValidationError(
                "Parallel branches must be a list of functions (Parallel([a, b])), got "
                f"{type(self.branches).__name__}"
            )
        for b in self.branches:
            if not (isinstance(b, Branch) or callable(b)):
                raise _not_callable("a Parallel branch must be callable", b)
            _check_call(b.fn if isinstance(b, Branch) else b, "a Parallel branch", None)
        _check_concurrency(self.max_concurrency)
        _check_name(self.name, "parallel")
        _check_completion(self.completion, "Parallel")
        _check_serdes(self.serdes, "Parallel serdes")
        _check_serdes(self.item_serdes, "Parallel item_serdes")
        made(self)

    if TYPE_CHECKING:  # branches of one result type give a typed ``BatchResult``

        @overload
        def __iter__(
            self: Parallel[Generator[Any, Any, R]],
        ) -> Generator[Command[Any], Any, BatchResult[R]]: ...
        @overload
        def __iter__(
            self: Parallel[Coroutine[Any, Any, R]],
        ) -> Generator[Command[Any], Any, BatchResult[R]]: ...
        @overload
        def __iter__(  # pyright types an ``async def``'s call as a CoroutineType
            self: Parallel[CoroutineType[Any, Any, R]],
        ) -> Generator[Command[Any], Any, BatchResult[R]]: ...
        @overload
        def __iter__(  # a ``@step`` function's call is a Step: its items give what it returns
            self: Parallel[Step[R]],
        ) -> Generator[Command[Any], Any, BatchResult[R]]: ...
        @overload
        def __iter__(self: Parallel[R]) -> Generator[Command[Any], Any, BatchResult[R]]: ...
        def __iter__(self) -> Generator[Command[Any], Any, Any]: ...


# --- workflows ------------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


@checked
def workflow(fn: F) -> F:
    """Mark ``fn`` as a workflow, checking that it is a generator function.

    Any generator function works as a workflow without this decorator; with it, a mistake (a
    plain ``def`` without ``yield``) fails at import time instead of at the first run, and a
    ``Child`` of it without ``name=`` is named after it (an unmarked child is unnamed, as in
    AWS's SDK, where ``@durable_with_child_context`` names a child).
    """
    if not inspect.isgeneratorfunction(inspect.unwrap(fn)):
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(inspect.unwrap(fn)):
            raise _guard.not_a_generator(fn, None)  # async def: only steps may be async
        raise WorkflowDefinitionError(
            f"{getattr(fn, '__qualname__', fn)!r} is not a generator function: a workflow must "
            "`yield` its commands (write `result = yield some_step(x)`)"
        )
    with contextlib.suppress(AttributeError, TypeError):  # e.g. a callable with __slots__
        setattr(fn, _WORKFLOW_MARK, True)  # names a Child of it by default (Child.op_name)
    return fn


# --- sagas ----------------------------------------------------------------------------------


class RunCompensations(Command["list[CompensationResult]"], frozen=True, kw_only=True):
    """Run the undos registered by succeeded steps of this context, last in first out.

    Each undo runs as a CONTEXT (subtype ``Compensation``) holding one step, both named after
    the undo (a ``@step`` undo's name, else its function's; a lambda's after the step it
    compensates); a failing undo does not stop the others. On replay, undos that already
    finished are skipped, so a rollback that was interrupted resumes where it stopped. The
    yield returns one ``CompensationResult`` per undo, in the order they ran. Undos are
    registered per context: a step inside a ``Child`` or a Map item registers in that context.

    Args:
        retry: Retry policy of each undo step (default: the step default).
    """

    retry: Retry | None = None

    def __post_init__(self) -> None:
        _check_retry(self.retry, "RunCompensations")
        made(self)


class CompensationResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The outcome of one undo: the step it compensated, and its status and result or error."""

    name: str | None
    status: Literal["SUCCEEDED", "FAILED"]
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
