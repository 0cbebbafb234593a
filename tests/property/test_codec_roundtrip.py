"""Typed values round-trip through the codec, in both payload formats.

For random values of the supported types (and containers and records of them): decoding the
payload with the declared type gives an equal value of the same type, and decoding it again,
or re-encoding what came back (what a replay reads), gives the same value.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Generic, TypedDict, TypeVar

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_gen._codec import decode, encode

T = TypeVar("T")


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Size(enum.IntEnum):
    S = 1
    M = 2


@dataclasses.dataclass(frozen=True)
class Box(Generic[T]):
    value: T
    label: str = ""


class Cell(msgspec.Struct, Generic[T], frozen=True):
    value: T
    at: datetime | None = None


class Row(TypedDict):
    id: uuid.UUID
    amount: Decimal
    day: date


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda m: timezone(timedelta(minutes=m))
)
datetimes = st.datetimes(timezones=st.none() | st.just(UTC) | offsets)

LEAVES: list[tuple[Any, st.SearchStrategy[Any]]] = [
    (int, st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    (float, st.floats(allow_nan=False, allow_infinity=False)),
    (str, text),
    (bool, st.booleans()),
    (type(None), st.none()),
    (datetime, datetimes),
    (date, st.dates()),
    (Decimal, st.decimals(allow_nan=False, allow_infinity=False)),
    (uuid.UUID, st.uuids()),
    (Color, st.sampled_from(Color)),
    (Size, st.sampled_from(Size)),
    (bytes, st.binary(max_size=16)),
]
try:
    import pydantic
except ImportError:  # the pydantic extra is not installed: no pydantic values
    pydantic = None  # type: ignore[assignment]

if pydantic is not None:

    class Customer(pydantic.BaseModel):
        name: str
        since: datetime
        balance: Decimal
        tags: frozenset[str]

    LEAVES.append(
        (
            Customer,
            st.builds(
                Customer,
                name=text,
                since=datetimes,
                balance=st.decimals(allow_nan=False, allow_infinity=False),
                tags=st.frozensets(text, max_size=3),
            ),
        )
    )

rows = st.builds(
    Row, id=st.uuids(), amount=st.decimals(allow_nan=False, allow_infinity=False), day=st.dates()
)


@st.composite
def typed(draw: st.DrawFn, depth: int = 2) -> tuple[Any, Any]:
    """A (declared type, value of that type) pair."""
    if depth == 0 or draw(st.booleans()):
        type_, values = draw(st.sampled_from(LEAVES))
        return type_, draw(values)
    inner, _ = draw(typed(depth - 1))
    inner_values = _values_of(draw, inner, depth - 1)
    kind = draw(
        st.sampled_from(["list", "tuple", "set", "frozenset", "dict", "optional", "box", "cell"])
    )
    if kind == "list":
        return list[inner], draw(st.lists(inner_values, max_size=4))
    if kind == "tuple":
        return tuple[inner, ...], tuple(draw(st.lists(inner_values, max_size=4)))
    if kind in ("set", "frozenset") and _hashable(inner):
        cls = set if kind == "set" else frozenset
        return cls[inner], cls(draw(st.lists(inner_values, max_size=4)))
    if kind == "dict":
        return dict[str, inner], draw(st.dictionaries(text, inner_values, max_size=4))
    if kind == "optional" and inner is not type(None):
        return inner | None, draw(st.none() | inner_values)
    if kind == "box":
        return Box[inner], Box(draw(inner_values), draw(text))
    if kind == "cell":
        return Cell[inner], Cell(draw(inner_values), draw(st.none() | datetimes))
    return Row, draw(rows)


def _hashable(type_: Any) -> bool:
    """Whether values of ``type_`` can go in a set."""
    if type_ is Row or _is_model(type_):
        return False
    origin = typing.get_origin(type_)
    if origin is None:
        return True
    if origin in (tuple, frozenset, Box, Cell, types.UnionType):
        return all(_hashable(a) for a in typing.get_args(type_) if a is not Ellipsis)
    return False


def _is_model(type_: Any) -> bool:
    return (
        pydantic is not None and isinstance(type_, type) and issubclass(type_, pydantic.BaseModel)
    )


def _values_of(draw: st.DrawFn, type_: Any, depth: int) -> st.SearchStrategy[Any]:
    """A strategy for values of ``type_`` (rebuilt from the same draws as ``typed``)."""
    return st.deferred(lambda: _strategy(type_))


def _strategy(type_: Any) -> st.SearchStrategy[Any]:
    for leaf, values in LEAVES:
        if type_ is leaf:
            return values
    if type_ is Row:
        return rows
    origin = getattr(type_, "__origin__", None)
    args = getattr(type_, "__args__", ())
    if origin is list:
        return st.lists(_strategy(args[0]), max_size=4)
    if origin is tuple:
        return st.lists(_strategy(args[0]), max_size=4).map(tuple)
    if origin in (set, frozenset):
        return st.lists(_strategy(args[0]), max_size=4).map(origin)
    if origin is dict:
        return st.dictionaries(text, _strategy(args[1]), max_size=4)
    if origin is Box:
        return st.builds(Box, _strategy(args[0]), text)
    if origin is Cell:
        return st.builds(Cell, _strategy(args[0]), st.none() | datetimes)
    if type(None) in args:  # T | None
        other = next(a for a in args if a is not type(None))
        return st.none() | _strategy(other)
    raise AssertionError(type_)


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, datetime):
        return a == b and a.utcoffset() == b.utcoffset()
    if dataclasses.is_dataclass(a) or isinstance(a, msgspec.Struct):
        return _same(
            msgspec.structs.asdict(a)
            if isinstance(a, msgspec.Struct)
            else {f.name: getattr(a, f.name) for f in dataclasses.fields(a)},
            msgspec.structs.asdict(b)
            if isinstance(b, msgspec.Struct)
            else {f.name: getattr(b, f.name) for f in dataclasses.fields(b)},
        )
    return bool(a == b)


@settings(max_examples=300, deadline=None)
@given(typed(), st.sampled_from(["json", "aws"]))
def test_typed_values_round_trip(pair: tuple[Any, Any], fmt: Any) -> None:
    type_, value = pair
    payload = encode(value, what="the result of step 'p'", format=fmt)
    first = decode(payload, type_, what="the result of step 'p'")
    assert _same(first, value), (type_, value, payload, first)
    # a replay reads the same payload, and a value passed on is recorded the same way again
    assert _same(decode(payload, type_), first)
    assert _same(decode(encode(first, format=fmt), type_), value)
