"""Declared types msgspec cannot read as written, rewritten into ones it reads.

1. A type alias that refers to itself (``type Json = dict[str, Json] | ...``, Python 3.12):
   msgspec unrolls it until RecursionError. One of JSON's types alone is decoded as the alias
   unrolled once, its recursion read as ``Any`` (plain JSON decoding gives the same values at
   any depth); any other is refused with a message that says what to declare instead.
2. A ``Literal`` of enum members (``Literal[Tier.GOLD]``), which msgspec refuses, is read as
   their enum.
3. A TypedDict with ``ReadOnly`` fields (PEP 705), which msgspec refuses, is read as the same
   TypedDict without ``ReadOnly`` (its values are the same dicts).
4. ``LiteralString`` (PEP 675), which msgspec refuses, is read as ``str``.

Only a declared type itself and its lists, dicts, tuples and unions are rewritten, not a
class's fields. Shared by the codec and the commands' ``result_type=`` check; stdlib and
msgspec only. ``union_advice`` says what to declare instead of a union msgspec refuses.
"""

from __future__ import annotations

import typing
from enum import Enum
from typing import Any, Final, Literal

import msgspec

__all__ = ["decodable", "union_advice"]

_UNION_TYPE: Final = type(int | str)  # types.UnionType, without importing types
_GENERIC_ALIAS: Final = type(list[int])  # types.GenericAlias

_RECURSIVE_ALIAS: Final = (
    "it is or holds a type alias that refers to itself, which is decoded only when it "
    "describes JSON values alone (str, int, float, bool, None, and lists and dict[str, ...] of "
    "itself, as in type Json = dict[str, Json] | list[Json] | str | int | float | bool | None) "
    "and is declared directly or in lists, dicts, tuples and unions, not in a class's field; "
    "make the recursive part a dataclass or msgspec Struct (class Tree: children: list[Tree]), "
    "or declare such a field object to get plain JSON there"
)
_JSON_LEAVES: Final = frozenset({str, int, float, bool, type(None)})


def _rewrite(type_: Any) -> Any:
    """``type_`` as msgspec can read it: each type alias that refers to itself (``type Json =
    ... | list[Json]``, Python 3.12) unrolled once with its recursion read as ``Any`` (when each
    such alias holds only JSON's types, so that plain JSON decoding gives the same values at any
    depth), a ``Literal`` of enum members read as their enum, and ``LiteralString`` as ``str``.

    Raises:
        TypeError: a self-referring alias holds other types than JSON's.
    """
    recursive: set[Any] = set()

    def is_alias(t: Any) -> bool:
        return type(t).__name__ == "TypeAliasType" and not getattr(t, "__type_params__", ())

    def unroll(t: Any, seen: tuple[Any, ...]) -> Any:
        if t is typing.LiteralString:
            return str
        if is_alias(t):
            if t in seen:
                recursive.add(t)
                return Any
            return unroll(t.__value__, (*seen, t))
        if typing.is_typeddict(t) and _read_only_in(t):
            return _without_read_only(t, lambda field: unroll(field, seen))
        origin, args = typing.get_origin(t), typing.get_args(t)
        if origin is Literal and any(isinstance(a, Enum) for a in args):
            enums = list(dict.fromkeys(type(a) for a in args if isinstance(a, Enum)))
            others = tuple(a for a in args if not isinstance(a, Enum))
            parts = (*enums, Literal[others]) if others else tuple(enums)
            return typing.Union[parts] if len(parts) > 1 else parts[0]  # noqa: UP007
        if not args or origin is typing.Annotated or origin is Literal:
            return t
        unrolled = tuple(unroll(a, seen) for a in args)
        if origin in (typing.Union, _UNION_TYPE):
            return typing.Union[unrolled]  # noqa: UP007
        if isinstance(t, _GENERIC_ALIAS):
            return _GENERIC_ALIAS(origin, unrolled)  # type: ignore[misc]
        return t.copy_with(unrolled) if hasattr(t, "copy_with") else t

    def json_only(t: Any) -> bool:
        if t in _JSON_LEAVES or t in recursive:
            return True
        if is_alias(t):
            return json_only(t.__value__)
        origin, args = typing.get_origin(t), typing.get_args(t)
        if origin in (typing.Union, _UNION_TYPE):
            return all(json_only(a) for a in args)
        if origin is list and len(args) == 1:
            return json_only(args[0])
        return origin is dict and len(args) == 2 and args[0] is str and json_only(args[1])

    unrolled = unroll(type_, ())
    if not all(json_only(alias.__value__) for alias in recursive):
        raise TypeError(_RECURSIVE_ALIAS)
    return unrolled


def _is_read_only(t: Any) -> bool:
    """``ReadOnly[X]`` (PEP 705, ``typing`` or ``typing_extensions``)."""
    return getattr(typing.get_origin(t), "_name", None) == "ReadOnly"


def _read_only_in(td: Any) -> bool:
    """Whether a TypedDict's fields say ``ReadOnly`` (inside ``Required``/``NotRequired`` too)."""
    try:
        hints = typing.get_type_hints(td, include_extras=True)
    except Exception:  # names that do not resolve: msgspec says so
        return False
    return any(
        _is_read_only(h) or any(_is_read_only(a) for a in typing.get_args(h))
        for h in hints.values()
    )


def _without_read_only(td: Any, rewrite: Any) -> Any:
    """A TypedDict like ``td`` whose fields drop ``ReadOnly`` (a promise about mutation, which
    says nothing about decoding), each field type passed through ``rewrite``."""
    hints = typing.get_type_hints(td, include_extras=True)
    fields: dict[str, Any] = {}
    for key, hint in hints.items():
        wrapper = None
        if typing.get_origin(hint) in (typing.Required, typing.NotRequired):
            wrapper, (hint,) = typing.get_origin(hint), typing.get_args(hint)
        if _is_read_only(hint):
            (hint,) = typing.get_args(hint)
        if typing.get_origin(hint) in (typing.Required, typing.NotRequired):
            wrapper, (hint,) = typing.get_origin(hint), typing.get_args(hint)
        if wrapper is None:
            wrapper = typing.Required if key in td.__required_keys__ else typing.NotRequired
        fields[key] = wrapper[rewrite(hint)]
    return typing.TypedDict(td.__name__, fields)  # type: ignore[operator]


def _nothing_unbuildable(type_: Any) -> str | None:
    return None


#: Why no payload but an empty one reads back as ``type_`` although msgspec builds a decoder
#: for it (a plain class of your own, a deque); None when some payload does. Set by the codec
#: when it is imported, so that commands check a ``result_type=`` without importing it.
unbuildable: typing.Callable[[Any], str | None] = _nothing_unbuildable


def decodable(type_: Any) -> Any:
    """The type msgspec decodes for ``type_``: itself, or when msgspec cannot read it, the
    same type rewritten (``_rewrite``) if that one it can.

    Raises:
        TypeError: msgspec cannot decode into ``type_`` (the message says why).
    """
    try:
        msgspec.json.Decoder(type_)
    except RecursionError:
        problem = TypeError(_RECURSIVE_ALIAS)
    except TypeError as exc:
        problem = exc
    else:
        return type_
    rewritten = _rewrite(type_)
    try:
        msgspec.json.Decoder(rewritten)
    except (TypeError, RecursionError):
        raise problem from None
    return rewritten


# --- unions msgspec refuses ----------------------------------------------------------------

_UNION_KINDS: Final = (
    # msgspec's words for the kind, how JSON writes it, its members, an example of the advice
    ("str-like", "a JSON string", "str, enums of str, datetime, date, time, timedelta, UUID, "
     "Decimal, bytes", "datetime for datetime | date, str for str | UUID"),
    ("int-like", "a JSON number", "int, enums of int, Literal ints", "int for int | IntEnum"),
    ("array-like", "a JSON array", "list, tuple, set, frozenset, NamedTuple",
     "list[int] for list[int] | tuple[int, ...]"),
    ("dict|dataclass", "a JSON object", "dict, dataclasses, TypedDicts, Structs",
     "one dataclass, or msgspec Structs declared with tag=True, which the codec tells apart "
     "by their tag"),
)  # fmt: skip


def union_advice(problem: str) -> str:
    """What to declare instead of a union msgspec refuses: its members are told apart by the
    kind of JSON value each is written as, and two of them are written as the same kind."""
    if "custom type" in problem:  # msgspec's word for a class it builds through a hook
        return (
            "a pydantic model (or a path) stands in a union only alone or with None: for "
            "several pydantic models, declare a RootModel of their union (class Pet(RootModel"
            "[Cat | Dog])), which pydantic tells apart, or give each its own field of a "
            "dataclass"
        )
    for words, written, members, example in _UNION_KINDS:
        if any(word in problem for word in words.split("|")):
            return (
                f"a union's members are told apart by how JSON writes them, and more than one of "
                f"these is written as {written} ({members}): keep one of them in the union "
                f"({example}), or give each its own field of a dataclass"
            )
    return (
        "declare a type the codec reads (a union may hold one dataclass, or msgspec Structs "
        "declared with tag=True)"
    )
