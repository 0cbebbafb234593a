"""More kinds of declared types, each a step's result, on every engine path of
tests/unit/test_typed_corpus.py and in AWS's payload format: the workflow receives the value
with its declared type (at every level) on the first run and on every replay.

Kinds the corpus there does not hold: dataclasses with ``field(init=False)``, ``__post_init__``,
``slots``/``kw_only``, generic msgspec Structs, NamedTuples and TypedDicts, Structs with
``array_like`` or ``forbid_unknown_fields``, functional TypedDicts with keys that are not
names, ``Literal`` of ints and of True, Decimal NaN, infinity and negative zero, the extreme
dates, ``NewType`` over Decimal, dict keys of float, datetime, Literal and NewType, sets and
frozensets of tuples, ``str`` mixin enums and enum aliases, values whose JSON has the keys of
AWS's envelope (``{"t": ..., "v": ...}``); and values of a type checkers accept for the
declared one, converted into it (a list for a tuple, ints for floats in a dataclass).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Generic, Literal, NamedTuple, NewType, Required, TypedDict, TypeVar

import msgspec
import pytest

from durable_gen.testing import TestRunner, replay
from tests.unit.test_typed_corpus import PATHS, _step_workflow, same

T = TypeVar("T")


@dataclass
class Computed:
    a: int
    b: int = field(init=False)

    def __post_init__(self) -> None:
        self.b = self.a * 2


@dataclass
class Upper:
    name: str

    def __post_init__(self) -> None:
        self.name = self.name.upper()


@dataclass(slots=True, kw_only=True, frozen=True)
class Slotted:
    x: int
    at: datetime


@dataclass
class Empty:
    pass


@dataclass
class Floats:
    x: float
    y: float | None = None
    zs: list[float] = field(default_factory=list)


@dataclass
class EnvelopeLike:  # its JSON, {"t": "s", "v": "x"}, is one of AWS's envelopes
    t: str
    v: str


class Item(msgspec.Struct, frozen=True):
    sku: str
    price: Decimal


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    total: int


class Pair(NamedTuple, Generic[T]):
    left: T
    right: T


class Box(TypedDict, Generic[T]):
    value: T


class Row(msgspec.Struct, array_like=True):
    a: int
    at: date


class Strict(msgspec.Struct, forbid_unknown_fields=True):
    a: int
    tags: list[str] = msgspec.field(default_factory=list)


class Loose(TypedDict, total=False):
    a: Required[int]
    at: datetime


class StrTier(str, enum.Enum):  # noqa: UP042 (the str mixin, not StrEnum, is the kind)
    GOLD = "gold"


class Alias(enum.Enum):
    A = 1
    B = 1  # an alias of A


Handle = NewType("Handle", str)
Money = NewType("Money", Decimal)
Functional = TypedDict("Functional", {"first-name": str, "class": int})

# declared type, value returned, value received (when it is not the value returned)
CASES: dict[str, tuple[Any, Any, Any]] = {
    "dataclass-init-false": (Computed, Computed(3), None),
    "dataclass-post-init": (Upper, Upper("ada"), None),
    "dataclass-slots-kw-only": (Slotted, Slotted(x=1, at=datetime(2024, 1, 1, tzinfo=UTC)), None),
    "dataclass-empty": (Empty, Empty(), None),
    "generic-struct": (Page[Item], Page([Item("a", Decimal("1.10"))], 1), None),
    "generic-namedtuple": (Pair[date], Pair(date(2024, 1, 1), date(2024, 1, 2)), None),
    "generic-typeddict": (Box[Decimal], Box(value=Decimal("2.50")), None),
    "struct-array-like": (Row, Row(1, date(2024, 1, 1)), None),
    "struct-forbid-unknown-fields": (Strict, Strict(1), None),
    "typeddict-functional": (Functional, {"first-name": "ada", "class": 1}, None),
    "typeddict-total-false-required": (Loose, Loose(a=1, at=datetime(2024, 1, 1)), None),
    "typeddict-total-false-absent": (Loose, Loose(a=1), None),
    "literal-ints": (Literal[1, 2], 2, None),
    "literal-negative": (Literal[-1, 0], -1, None),
    "literal-true": (Literal[True], True, None),
    "decimal-nan": (Decimal, Decimal("NaN"), None),
    "decimal-infinity": (Decimal, Decimal("-Infinity"), None),
    "decimal-negative-zero": (Decimal, Decimal("-0"), None),
    "decimal-huge-exponent": (Decimal, Decimal("1E+999999"), None),
    "float-negative-zero": (float, -0.0, None),
    "float-subnormal": (float, 5e-324, None),
    "datetime-max": (datetime, datetime.max, None),
    "date-min": (date, date.min, None),
    "time-microseconds": (time, time(23, 59, 59, 999999), None),
    "negative-offset": (
        datetime,
        datetime(2024, 1, 1, tzinfo=timezone(-timedelta(hours=3.5))),
        None,
    ),
    "newtype-decimal": (Money, Money(Decimal("1.10")), None),
    "dict-float-keys": (dict[float, str], {1.5: "a"}, None),
    "dict-datetime-keys": (dict[datetime, int], {datetime(2024, 1, 1, tzinfo=UTC): 1}, None),
    "dict-literal-keys": (dict[Literal["a", "b"], int], {"a": 1}, None),
    "dict-newtype-keys": (dict[Handle, int], {Handle("h"): 1}, None),
    "dict-date-keys-decimal-lists": (
        dict[date, list[Decimal]],
        {date(2024, 1, 1): [Decimal("1.0")]},
        None,
    ),
    "set-of-tuples": (set[tuple[int, int]], {(1, 2)}, None),
    "frozenset-of-tuples": (frozenset[tuple[str, int]], frozenset({("a", 1)}), None),
    "list-of-date-decimal-pairs": (
        list[tuple[date, Decimal]],
        [(date(2024, 1, 1), Decimal("1.0"))],
        None,
    ),
    "list-of-timedeltas": (list[timedelta], [timedelta(hours=1)], None),
    "nested-empty-tuples": (tuple[tuple[()], ...], ((), ()), None),
    "bytes-empty": (bytes, b"", None),
    "str-mixin-enum": (StrTier, StrTier.GOLD, None),
    "enum-alias": (Alias, Alias.B, None),
    "envelope-like-dataclass": (EnvelopeLike, EnvelopeLike("s", "x"), None),
    "envelope-like-dict": (dict[str, str], {"t": "s", "v": "x"}, None),
    "envelope-like-in-a-list": (list[EnvelopeLike], [EnvelopeLike("m", "x")], None),
    "list-for-tuple": (tuple[int, int], [1, 2], (1, 2)),
    "ints-for-floats-in-a-dataclass": (
        Floats,
        Floats(1, 2, [3, 4.5]),
        Floats(1.0, 2.0, [3.0, 4.5]),
    ),
    "int-for-optional-float": (float | None, 3, 3.0),
    "int-for-decimal": (Decimal, 5, Decimal(5)),
}


def _expected(case: str) -> Any:
    _, value, expected = CASES[case]
    return value if expected is None else expected


def _same(got: Any, want: Any) -> str | None:
    if isinstance(want, Decimal) and want.is_nan():  # NaN is not equal to itself
        ok = type(got) is Decimal and got.is_nan()
        return None if ok else f"{got!r} is not Decimal('NaN')"
    return same(got, want)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", CASES)
def test_a_step_result_has_its_declared_type_on_every_path(
    case: str, path: str, tmp_path: Path
) -> None:
    declared, value, _ = CASES[case]
    seen: list[Any] = []
    PATHS[path](_step_workflow(case, declared, value, seen), tmp_path, {})
    assert len(seen) >= 2  # the first run, the replay after the wait (and the replayer's)
    for got in seen:
        assert _same(got, _expected(case)) is None, _same(got, _expected(case))


@pytest.mark.parametrize("case", CASES)
def test_in_aws_payload_format_too(case: str) -> None:
    declared, value, _ = CASES[case]
    seen: list[Any] = []
    workflow = _step_workflow(case, declared, value, seen)
    run = TestRunner(payload_format="aws").run(workflow, None)
    assert _same(run.result(), _expected(case)) is None, run.error
    assert replay(workflow, run.export()).ok
    assert len(seen) == 3  # first run, the replay after the wait, and the replayer's
    for got in seen:
        assert _same(got, _expected(case)) is None, _same(got, _expected(case))


def test_the_check_sees_a_nan_that_is_not_one() -> None:
    assert _same(Decimal("NaN"), Decimal("NaN")) is None
    assert _same(Decimal("1"), Decimal("NaN")) is not None
    assert _same(math.nan, Decimal("NaN")) is not None
