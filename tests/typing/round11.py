"""Typed programs written from the guide's "Typing workflows" and "Values and types", with shapes
the other files here do not hold: a frozen dataclass with defaults (an ``IntEnum`` field and a
dict keyed by ``UUID``), msgspec Structs with ``rename="camel"`` and ``omit_defaults``, a custom
``tag_field``, ``array_like``, a generic Struct (``Box[date]``), an ``IntFlag`` (several members
and none), dict keys of ``int``, ``IntEnum``, ``StrEnum``, ``UUID``, ``date`` and ``timedelta``,
an aware datetime beside a naive one in one tuple, a ``NamedTuple`` with a default inside a
dict, sets and frozensets of enums, a fixed tuple and an empty ``tuple[int, ...]``, a recursive
dataclass through ``Optional``, ``None`` where ``Optional`` is declared, a flat ``Map`` whose
items are Structs, ``Parallel`` branches, a ``Child`` given a Struct, ``WaitForCondition`` over a
frozen dataclass, an ``Invoke`` whose payload is a Struct the target's annotation decodes, and
callbacks whose ``result_type=`` is a dict keyed by an ``IntEnum``.

Checked by ``mypy --strict`` and pyright's standard and strict modes (tests/unit/test_typing.py);
run by tests/unit/test_typed_corpus_round11.py on every engine path, where ``round11`` returns
what did not come back equal to what was sent, or of another type than the checkers gave it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Generic, NamedTuple, TypeVar, assert_type
from uuid import UUID

import msgspec

import durable_gen as dg

T = TypeVar("T")


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(enum.StrEnum):
    FAST = "fast"
    SLOW = "slow"


class Perm(enum.IntFlag):
    READ = 4
    WRITE = 2
    RUN = 1


class Colour(enum.Enum):
    RED = "r"
    BLUE = "b"


class Customer(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    user_id: int
    display_name: str = "anon"
    perms: Perm = Perm(0)


class Circle(msgspec.Struct, frozen=True, tag_field="kind", tag="circle"):
    radius: float


class Point(msgspec.Struct, frozen=True, array_like=True):
    x: int
    y: int


class Box(msgspec.Struct, Generic[T], frozen=True):
    item: T
    more: list[T] = []


@dataclass(frozen=True)
class Receipt:
    customer: int
    level: Level = Level.LOW
    lines: tuple[Decimal, ...] = ()
    by_token: dict[UUID, Level] = field(default_factory=dict)


@dataclass
class Link:
    name: str
    next: Link | None = None


@dataclass(frozen=True)
class Poll:
    tries: int
    since: datetime = datetime(2024, 1, 1, tzinfo=UTC)


class Slot(NamedTuple):
    day: date
    length: timedelta = timedelta(minutes=30)


Moments = tuple[datetime, datetime, timedelta, timedelta]

MOMENTS: Moments = (
    datetime(2024, 3, 31, 1, 59, 59, 1),  # naive stays naive
    datetime(2024, 3, 31, 1, 59, tzinfo=timezone(timedelta(hours=5, minutes=45))),
    timedelta(days=-1, seconds=1),
    timedelta(days=400, microseconds=999999),
)


# --- steps and sub-workflows ---------------------------------------------------------------


def make_receipt(customer: Customer) -> Receipt:
    return Receipt(
        customer.user_id,
        Level.HIGH,
        (Decimal("1.10"), Decimal("-0.00")),
        {UUID(int=customer.user_id): Level.HIGH},
    )


receipt = dg.step(make_receipt)


@dg.step
def plain_receipt(n: int) -> Receipt:
    return Receipt(n)  # the defaults


@dg.step
def shapes(n: int) -> tuple[Circle, Point, Box[date]]:
    return (Circle(1.5), Point(n, -n), Box(date(2024, 2, 29), [date(1, 1, 1)]))


def make_keyed(n: int) -> tuple[dict[int, str], dict[Level, Mode], dict[Mode, Perm]]:
    return ({-n: "neg", n: "pos"}, {Level.LOW: Mode.SLOW}, {Mode.FAST: Perm.READ | Perm.RUN})


keyed = dg.step(make_keyed)


def make_dated(n: int) -> tuple[dict[date, int], dict[timedelta, str], dict[str, Slot]]:
    return (
        {date(2024, 1, n): n},
        {timedelta(seconds=n): "s"},
        {"a": Slot(date(2024, 5, 6)), "b": Slot(date(2024, 5, 7), timedelta(hours=2))},
    )


dated = dg.step(make_dated)


def make_sets(
    n: int,
) -> tuple[set[Colour], frozenset[Level], tuple[int, str, bool], tuple[int, ...]]:
    return ({Colour.RED, Colour.BLUE}, frozenset({Level.LOW}), (n, "a", False), ())


sets = dg.step(make_sets)


def make_chain(n: int) -> Link:
    return Link("a", Link("b", Link("c")))


chain = dg.step(make_chain)


@dg.step
def nothing(n: int) -> Receipt | None:
    return None


@dg.step
def moments(n: int) -> Moments:
    return MOMENTS


def no_perms(n: int) -> Perm:
    return Perm(0)


def customer_box(customer: Customer, index: int) -> Box[Customer]:
    return Box(customer, [Customer(user_id=index)])


def first_receipt() -> Receipt:
    return Receipt(1, Level.HIGH)


def second_receipt() -> Receipt:
    return Receipt(2)


def receipts_of(customer: Customer) -> dg.Workflow[list[Receipt]]:
    one = yield from receipt(customer)
    yield from dg.Wait(seconds=1)
    return [one, Receipt(customer.user_id)]


def poll(state: Poll) -> Poll:
    return Poll(state.tries + 1, state.since)


def lookup(customer: Customer) -> dict[int, Receipt]:
    # an Invoke target on the embedded engine: its parameter's annotation decodes the payload
    if type(customer) is not Customer:
        raise TypeError(f"the payload came as {type(customer).__name__}")
    return {customer.user_id: make_receipt(customer)}


def hand_over(callback_id: str) -> None:
    return None


# --- the workflow ----------------------------------------------------------------------------


def _wrong(name: str, value: object, expected: object) -> list[str]:
    if value == expected and type(value) is type(expected):
        return []
    return [f"{name}: {type(value).__name__} {value!r}"]


@dg.workflow
def round11(customer: Customer) -> dg.Workflow[list[str]]:
    """Returns what did not come back equal to what was sent, or of another type."""
    wrong: list[str] = []
    assert_type(customer, Customer)
    wrong += _wrong("input", customer, CUSTOMER)
    wrong += _wrong("input perms", customer.perms, Perm.READ | Perm.WRITE)

    got = yield from receipt(customer)
    assert_type(got, Receipt)
    wrong += _wrong("receipt", got, make_receipt(customer))
    for token, level in got.by_token.items():
        wrong += _wrong("token", type(token), UUID) + _wrong("level", type(level), Level)

    plain = yield from plain_receipt(3)
    assert_type(plain, Receipt)
    wrong += _wrong("defaults", plain, Receipt(3))

    circle, point, box = yield from shapes(4)
    assert_type(box, Box[date])
    wrong += _wrong("circle", circle, Circle(1.5)) + _wrong("point", point, Point(4, -4))
    wrong += _wrong("box", box, Box(date(2024, 2, 29), [date(1, 1, 1)]))

    by_int, by_level, by_mode = yield from keyed(2)
    assert_type(by_level, dict[Level, Mode])
    wrong += _wrong("keyed", (by_int, by_level, by_mode), make_keyed(2))
    for key in [*by_int, *by_level, *by_mode]:
        wrong += _wrong("key", type(key) in {int, Level, Mode}, True)
    for value in by_mode.values():
        wrong += _wrong("flag", type(value), Perm)

    by_day, by_length, slots = yield from dated(3)
    assert_type(slots, dict[str, Slot])
    wrong += _wrong("dated", (by_day, by_length, slots), make_dated(3))
    wrong += _wrong("slot", type(slots["a"]), Slot)

    colours, levels, fixed, empty = yield from sets(5)
    assert_type(fixed, tuple[int, str, bool])
    wrong += _wrong("sets", (colours, levels, fixed, empty), make_sets(5))
    for member in [*colours, *levels]:
        wrong += _wrong("member", type(member) in {Colour, Level}, True)

    link = yield from chain(0)
    assert_type(link, Link)
    wrong += _wrong("chain", link, make_chain(0))

    none = yield from nothing(0)
    assert_type(none, Receipt | None)
    wrong += _wrong("none", none, None)

    when = yield from moments(0)
    assert_type(when, Moments)
    wrong += _wrong("moments", when, MOMENTS)
    wrong += _wrong("naive", when[0].tzinfo, None)
    wrong += _wrong("offset", when[1].utcoffset(), timedelta(hours=5, minutes=45))

    empty_flag = yield from dg.Step(no_perms, (0,))
    assert_type(empty_flag, Perm)
    wrong += _wrong("no perms", empty_flag, Perm(0))

    boxes = yield from dg.Map(
        customer_box, [customer, Customer(user_id=8)], name="boxes", nesting="flat"
    )
    assert_type(boxes, dg.BatchResult[Box[Customer]])
    wrong += _wrong(
        "boxes",
        boxes.results(),
        [customer_box(customer, 0), customer_box(Customer(user_id=8), 1)],
    )

    pair = yield from dg.Parallel(
        [dg.Branch(first_receipt, name="first"), dg.Branch(second_receipt, name="second")],
        name="pair",
    )
    assert_type(pair, dg.BatchResult[Receipt])
    wrong += _wrong("parallel", pair.results(), [first_receipt(), second_receipt()])

    child = yield from dg.Child(receipts_of, (customer,), name="child")
    assert_type(child, list[Receipt])
    wrong += _wrong("child", child, [make_receipt(customer), Receipt(customer.user_id)])

    polled = yield from dg.WaitForCondition(
        poll, Poll(0), wait_strategy=dg.WaitStrategy(until=lambda s: s.tries >= 2), name="poll"
    )
    assert_type(polled, Poll)
    wrong += _wrong("poll", polled, Poll(2))

    found = yield from dg.Invoke("lookup", customer, name="lookup", result_type=dict[int, Receipt])
    assert_type(found, dict[int, Receipt])
    wrong += _wrong("invoke", found, lookup(customer))

    answered = yield from dg.WaitForCallback(
        hand_over, name="levels", result_type=dict[Level, Customer]
    )
    assert_type(answered, dict[Level, Customer])
    wrong += _wrong("callback", answered, {Level.HIGH: Customer(user_id=9, display_name="z")})
    wrong += _wrong("callback key", [type(k) for k in answered], [Level])

    handle = yield from dg.CreateCallback(name="slot", result_type=Slot)
    slot = yield from handle
    assert_type(slot, Slot)
    wrong += _wrong("callback slot", slot, Slot(date(2024, 12, 31)))
    return wrong


FUNCTIONS = {"lookup": lookup}
CUSTOMER = Customer(user_id=41, perms=Perm.READ | Perm.WRITE)
CUSTOMER_JSON = {"userId": 41, "perms": 6}  # the camelCase form a sender writes
LEVELS = {"2": {"userId": 9, "displayName": "z"}}
SLOT = ["2024-12-31", "PT30M"]


def typed_calls() -> None:
    assert_type(dg.run(round11, CUSTOMER, skip_time=True), list[str])
    assert_type(dg.run(receipts_of, CUSTOMER), list[Receipt])
