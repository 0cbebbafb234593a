"""Calls with arguments a public name does not take, reported as ``ArgumentError``.

1. A misspelt or unknown keyword, too many positional arguments or a missing required one is
   an ``ArgumentError``: a ``ValidationError`` (the one error tree) and a ``TypeError`` (what
   Python raises for such calls, so ``except TypeError`` keeps working). Its message names
   what the callable takes and the closest keyword to the one given.
2. Only the failure to *bind* the arguments is translated: a ``TypeError`` raised inside the
   callable (its own checks, user code it calls) passes through untouched. A binding failure
   is told apart by its traceback, which holds no frame below the call.
3. Options (``Retry``, ``Completion``, ...) are msgspec Structs whose ``__init__`` msgspec
   writes in C; their metaclass ``CheckedStructMeta`` catches the failure there. Building one
   through the metaclass costs a Python call (about 0.4 us).
4. Commands are built in workflow bodies on every replay, where that cost would show: they
   keep msgspec's own call, and the interpreter translates the ``TypeError`` when it leaves
   the body (``explain_failed_build``): the call that failed is found from the frame's
   bytecode positions, and only a call of a command class is translated. A command built
   outside a workflow body raises msgspec's ``TypeError`` as it is.
"""

from __future__ import annotations

import dis
import functools
import inspect
import re
import types
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar

import msgspec

from ._errors import ArgumentError

P = ParamSpec("P")
R = TypeVar("R")

#: Builds a Struct without the metaclass's check (for arguments known to bind).
build_unchecked: Final[Callable[..., Any]] = msgspec.StructMeta.__call__

_KEYWORD: Final = re.compile(r"(?:unexpected|Unexpected) keyword argument '([^']*)'")
_MISSING: Final = re.compile(r"[Mm]issing (.*)")
_BOTH: Final = re.compile(r"Argument '([^']*)' given by name and position")
#: Commands whose first argument is a list, which a user may spread as positional arguments.
_ONE_LIST: Final = {"Parallel": "branches"}

#: Keywords a user reaches for that a durable_gen callable spells otherwise, with the advice.
_UNITS: Final = {
    "milliseconds": 0.001,
    "ms": 0.001,
    "minutes": 60,
    "mins": 60,
    "minute": 60,
    "hours": 3600,
    "hour": 3600,
    "days": 86400,
    "day": 86400,
    "weeks": 604800,
}
#: The duration keywords that advice about units points to, in order of preference.
_DURATIONS: Final = ("seconds", "timeout", "initial_delay")
_ADVICE: Final = {
    ("Invoke", "timeout"): (
        "Invoke has no timeout: Lambda's chained-invoke options carry none, so the invoked "
        "function's own timeout applies"
    ),
    ("Invoke", "timeout_seconds"): (
        "Invoke has no timeout: Lambda's chained-invoke options carry none, so the invoked "
        "function's own timeout applies"
    ),
}

#: Presets that take no arguments, with the constructor call to write for a value of one's own.
_PRESETS: Final = {
    "Retry.never": "For a number of attempts write Retry(max_attempts=N)",
    "Completion.first_successful": "For N successes write Completion(min_successful=N)",
    "Completion.all_successful": (
        "To tolerate N failures write Completion(tolerated_failure_count=N)"
    ),
    "Completion.all_completed": (
        "To tolerate N failures write Completion(tolerated_failure_count=N)"
    ),
    "WaitDecision.done": "To poll again write WaitDecision.again(seconds)",
}


def get_close_matches(word: str, possibilities: Iterable[str], n: int = 1) -> list[str]:
    """``difflib.get_close_matches``, imported when a message first suggests a name (difflib
    is not needed by a program that makes no mistake)."""
    import difflib

    return difflib.get_close_matches(word, possibilities, n=n)


def _accepted(target: Any) -> tuple[list[str], list[str]]:
    """The keyword names ``target`` takes, and those it also takes by position."""
    if isinstance(target, type) and issubclass(target, msgspec.Struct):
        names = [name for name in target.__struct_fields__ if not name.startswith("_")]
        return names, list(target.__match_args__)
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - every checked callable has one
        return [], []
    named = [p for p in params if p.name not in ("self", "cls") and not p.name.startswith("_")]
    names = [p.name for p in named if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    positional = [p.name for p in named if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return names, positional


def explain(label: str, target: Any, error: TypeError) -> ArgumentError:
    """The ``ArgumentError`` for ``error``, a failure to bind a call of ``target``."""
    names, positional = _accepted(target)
    takes = ", ".join(names) if names else "no keyword arguments"
    text = str(error)
    match = _KEYWORD.search(text)
    if match is not None:
        given = match.group(1)
        parts = [f"{label}() got an unknown keyword argument {given!r}; it takes {takes}"]
        advice = _ADVICE.get((label, given))
        if advice is not None:
            parts.append(advice)
        else:
            unit = next((n for n in _DURATIONS if n in names), None)
            if given in _UNITS and unit is not None:
                parts.append(
                    f"Durations are given in seconds: write {unit}={_UNITS[given]:g} for {given}=1"
                )
            close = get_close_matches(given, names, n=1)
            if close:
                parts.append(f"Did you mean {close[0]}?")
        if not names and label in _PRESETS:
            parts.append(_PRESETS[label])
        return ArgumentError(". ".join(parts))
    if "positional" in text and ("Extra" in text or "were given" in text or "takes" in text):
        if not names and not positional:
            told = f"{label}() takes no arguments ({text})"
            preset = _PRESETS.get(label)
            return ArgumentError(f"{told}. {preset}" if preset else told)
        by_position = ", ".join(positional) if positional else "none"
        return ArgumentError(
            f"{label}() got too many positional arguments ({text}); it takes by position: "
            f"{by_position}. Pass the others by keyword ({takes})"
        )
    both = _BOTH.search(text)
    if both is not None:
        by_position = ", ".join(positional) if positional else "none"
        told = (
            f"{label}() got {both.group(1)!r} both by position and by keyword; it takes by "
            f"position: {by_position}"
        )
        if label in _ONE_LIST:
            told += f". {label} takes its {_ONE_LIST[label]} as one list: {label}([a, b], ...)"
        return ArgumentError(told)
    missing = _MISSING.search(text)
    if missing is not None:
        return ArgumentError(f"{label}() is missing {missing.group(1)}; it takes {takes}")
    return ArgumentError(f"{label}(): {text}; it takes {takes}")


def _binding_failed(error: TypeError) -> bool:
    """Whether ``error`` came from binding the arguments, not from inside the callee."""
    tb = error.__traceback__
    return type(error) is TypeError and tb is not None and tb.tb_next is None


class CheckedStructMeta(msgspec.StructMeta):
    """The metaclass of commands and options: a call that does not bind is an
    ``ArgumentError`` (see the rules at the top)."""

    if not TYPE_CHECKING:  # type checkers keep reading the classes' own __init__ signatures

        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            try:
                return build_unchecked(cls, *args, **kwargs)
            except TypeError as error:
                if not _binding_failed(error):
                    raise
                label = "Step" if cls.__name__ == "_PrevalidatedStep" else cls.__name__
                raise explain(label, cls, error) from None


def checked(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a public function (or ``__init__``) so that arguments that do not bind raise an
    ``ArgumentError`` instead of a plain ``TypeError``."""
    qualname = fn.__qualname__
    label = qualname.removesuffix(".__init__")

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def call_async(*args: Any, **kwargs: Any) -> Any:
            try:
                coroutine = fn(*args, **kwargs)
            except TypeError as error:
                if not _binding_failed(error):
                    raise
                raise explain(label, fn, error) from None
            return await coroutine

        return call_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except TypeError as error:
            if not _binding_failed(error):
                raise
            raise explain(label, fn, error) from None

    return call


#: The code of the metaclass's call: a frame of it stands between a command's
#: ``__post_init__`` and the code that built the command (``_guard.made`` skips it).
CHECKED_CALL_CODE: Final = getattr(CheckedStructMeta.__call__, "__code__", None)


#: How msgspec words a call of a Struct class that does not bind.
_STRUCT_BINDING: Final = re.compile(
    r"Unexpected keyword argument '|Extra positional arguments provided|Missing required argument '"
    r"|Argument '[^']*' given by name and position"
)
#: Instructions that load a name (the start of a callee such as ``dg.Wait``)...
_NAME_LOADS: Final = frozenset(
    {"LOAD_GLOBAL", "LOAD_NAME", "LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_DEREF", "LOAD_CLASSDEREF"}
)
#: ... and those that load an attribute of it.
_ATTR_LOADS: Final = frozenset({"LOAD_ATTR", "LOAD_METHOD"})


def explain_failed_build(error: BaseException, base: type) -> ArgumentError | None:
    """The ``ArgumentError`` for ``error``, a ``TypeError`` that left a workflow body, when it
    is msgspec's refusal of a call of a ``base`` subclass (a command) in that body's code; None
    for any other error (the error is then left as it is)."""
    if type(error) is not TypeError or not _STRUCT_BINDING.match(str(error)):
        return None
    tb = error.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:  # the frame whose call failed
        tb = tb.tb_next
    try:
        target = _callee(tb.tb_frame, tb.tb_lasti)
    except Exception:  # pragma: no cover - bytecode of a shape not foreseen: leave the error
        return None
    if not (isinstance(target, type) and issubclass(target, base)):
        return None
    label = "Step" if target.__name__ == "_PrevalidatedStep" else target.__name__
    return explain(label, target, error).with_traceback(error.__traceback__)


def _callee(frame: types.FrameType, lasti: int) -> object:
    """What the call at ``lasti`` in ``frame`` called, read back from the loads the bytecode
    did for it (a name, then attributes of modules); None when it cannot be told."""
    code = frame.f_code
    positions = list(code.co_positions())
    index = lasti // 2
    if not 0 <= index < len(positions):
        return None
    line, end_line, col, end_col = positions[index]
    if line is None or end_line is None or col is None or end_col is None:
        return None
    chain: list[dis.Instruction] = []
    for ins in dis.get_instructions(code):
        if ins.offset >= lasti:
            break
        p = ins.positions
        if p is None or p.lineno != line or p.col_offset != col:
            continue
        if p.end_lineno is None or p.end_col_offset is None:
            continue
        if (p.end_lineno, p.end_col_offset) >= (end_line, end_col):
            continue
        if ins.opname in _NAME_LOADS:
            chain = [ins]
        elif ins.opname in _ATTR_LOADS and chain:
            chain.append(ins)
    if not chain:
        return None
    first = chain[0]
    name = first.argval
    if not isinstance(name, str):
        return None
    missing = object()
    value: object = frame.f_locals.get(name, missing)
    if value is missing or first.opname == "LOAD_GLOBAL":
        value = frame.f_globals.get(name, missing)
        if value is missing:
            value = frame.f_builtins.get(name, missing)
    for ins in chain[1:]:
        if not isinstance(value, types.ModuleType) or not isinstance(ins.argval, str):
            return None  # only attributes of modules: reading others could run their code
        value = getattr(value, ins.argval, missing)
    return None if value is missing else value
