"""Typed programs written from the guide's "Typing workflows" and "Values and types", with shapes
the other files here do not hold: a TypedDict workflow input with ``NotRequired`` keys, a
generic dataclass with ``Optional[T]`` and ``dict[str, T]`` fields parametrised by the step that
returns it (``Page[Item]``) and through a ``Map``, msgspec Structs told apart by int tags inside
a dict, ``Literal``, ``Flag`` (several members and none), ``IntEnum``, ``StrEnum`` dict keys,
``NewType`` over int, str and datetime, ``frozenset`` of tuples and ``tuple[int, ...]`` (empty
too), ``Optional`` nested three deep, a recursive dataclass and a recursive TypedDict, pydantic
models with a validator, an alias, a ``validation_alias`` only and ``strict=True`` (a step's
result, a Map item's, a callback's ``result_type=``), the datetime family, ``Decimal``,
``UUID`` and ``bytes`` in one tuple, a ``Parallel`` of ``Branch``es returning a ``Flag``, and
an ``Invoke`` whose ``result_type=`` is a ``frozenset`` of a NewType.

Checked by ``mypy --strict`` and pyright's standard and strict modes (tests/unit/test_typing.py);
run by tests/unit/test_typed_corpus_round10.py on every engine path, where ``round10`` returns
what did not come back equal to what was sent, or of another type than the checkers gave it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Generic, Literal, NewType, NotRequired, TypedDict, TypeVar, assert_type
from uuid import UUID

import msgspec
import pydantic

import durable_gen as dg

T = TypeVar("T")

UserId = NewType("UserId", int)
Email = NewType("Email", str)
Stamp = NewType("Stamp", datetime)
Size = Literal["s", "m", "l"]


class Colour(enum.Flag):
    RED = 1
    GREEN = 2
    BLUE = 4


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(enum.StrEnum):
    FAST = "fast"
    SLOW = "slow"


class Order(TypedDict):
    id: str
    user: UserId
    note: NotRequired[str]
    due: NotRequired[date]


@dataclass
class Item:
    sku: str
    size: Size
    made: date


@dataclass
class Page(Generic[T]):
    items: list[T]
    first: T | None = None
    by_key: dict[str, T] = field(default_factory=dict)


class Num(msgspec.Struct, frozen=True, tag=1):
    value: int


class Text(msgspec.Struct, frozen=True, tag=2):
    value: str


@dataclass
class Node:
    name: str
    children: list[Node] = field(default_factory=list)
    parent: str | None = None


class Tree(TypedDict):
    value: int
    kids: list[Tree]


class Reading(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True, populate_by_name=True)
    sensor: str = pydantic.Field(alias="sensorId")
    taken: date
    token: UUID

    @pydantic.field_validator("sensor")
    @classmethod
    def lower(cls, value: str) -> str:
        return value.lower()


class Account(pydantic.BaseModel):
    user_id: int = pydantic.Field(validation_alias="userId")
    since: datetime


Moments = tuple[datetime, date, time, timedelta, Decimal, UUID, bytes]

MOMENTS: Moments = (
    datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
    date(1, 1, 1),
    time(0, 0, 0, 1),
    timedelta(days=-2, microseconds=3),
    Decimal("-0.000"),
    UUID(int=2**128 - 1),
    bytes(range(256)),
)


# --- steps and sub-workflows ---------------------------------------------------------------


def make_page_of(order: Order) -> Page[Item]:
    one = Item(order["id"], "m", date(2024, 1, 31))
    return Page([one, Item("b", "s", date(2023, 12, 1))], one, {"one": one})


page_of = dg.step(make_page_of)


@dg.step
def tagged(n: int) -> dict[str, Num | Text]:
    return {"n": Num(n), "t": Text(str(n))}


def make_colours(n: int) -> list[Colour]:
    return [Colour.RED | Colour.BLUE, Colour(0), Colour.GREEN]


colours = dg.step(make_colours)


@dg.step
def levels(n: int) -> dict[Mode, Level]:
    return {Mode.FAST: Level.HIGH, Mode.SLOW: Level.LOW}


def make_who(order: Order) -> tuple[UserId, Email, Stamp]:
    return (order["user"], Email("a@b.c"), Stamp(datetime(2024, 3, 1, tzinfo=UTC)))


who = dg.step(make_who)


def make_pairs(n: int) -> frozenset[tuple[int, str]]:
    return frozenset({(n, "a"), (n + 1, "b")})


pairs = dg.step(make_pairs)


@dg.step
def spread(n: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return (tuple(range(n)), ())


def make_maybe(n: int) -> list[dict[str, list[date | None] | None] | None]:
    return [None, {"a": None, "b": [None, date(2024, 5, 6)]}]


maybe = dg.step(make_maybe)


def make_tree(n: int) -> Node:
    return Node("root", [Node("a", [Node("a1", parent="a")], "root"), Node("b", parent="root")])


tree = dg.step(make_tree)


def make_typed_tree(n: int) -> Tree:
    return Tree(value=n, kids=[Tree(value=n + 1, kids=[Tree(value=n + 2, kids=[])])])


typed_tree = dg.step(make_typed_tree)


def make_reading(sensor: str) -> Reading:
    return Reading(sensorId=sensor, taken=date(2024, 6, 1), token=UUID(int=7))


reading = dg.step(make_reading)


def make_account(user: int) -> Account:
    # a validation_alias is what an outside source writes: the constructor takes user_id
    return Account.model_validate({"userId": user, "since": datetime(2020, 1, 1, 8, tzinfo=UTC)})


account = dg.step(make_account)


@dg.step
def moments(n: int) -> Moments:
    return MOMENTS


def item_page(sku: str) -> dg.Workflow[Page[Reading]]:
    got = yield from reading(sku)
    return Page([got], got)


def red() -> Colour:
    return Colour.RED


def none() -> Colour:
    return Colour(0)


def members(n: int) -> frozenset[UserId]:
    # an Invoke target on the embedded engine
    return frozenset({UserId(n), UserId(n + 1)})


def hand_over(callback_id: str) -> None:
    return None


# --- the workflow ----------------------------------------------------------------------------


def _wrong(name: str, value: object, expected: object) -> list[str]:
    if value == expected and type(value) is type(expected):
        return []
    return [f"{name}: {type(value).__name__} {value!r}"]


@dg.workflow
def round10(order: Order) -> dg.Workflow[list[str]]:
    """Returns what did not come back equal to what was sent, or of another type."""
    wrong: list[str] = []
    assert_type(order, Order)
    wrong += _wrong("input due", order.get("due"), date(2024, 2, 29))
    wrong += _wrong("input note", order.get("note"), None)

    page = yield from page_of(order)
    assert_type(page, Page[Item])
    wrong += _wrong("page", page, make_page_of(order))
    for one in [*page.items, page.first, *page.by_key.values()]:
        wrong += _wrong("page item", type(one), Item)

    keyed = yield from tagged(3)
    assert_type(keyed, dict[str, Num | Text])
    wrong += _wrong("tagged", keyed, {"n": Num(3), "t": Text("3")})

    flags = yield from colours(0)
    assert_type(flags, list[Colour])
    wrong += _wrong("colours", flags, make_colours(0))
    for flag in flags:
        wrong += _wrong("colour", type(flag), Colour)

    by_mode = yield from levels(0)
    assert_type(by_mode, dict[Mode, Level])
    for mode, level in by_mode.items():
        wrong += _wrong("mode", type(mode), Mode) + _wrong("level", type(level), Level)

    ids = yield from who(order)
    assert_type(ids, tuple[UserId, Email, Stamp])
    wrong += _wrong("who", ids, make_who(order))

    both = yield from pairs(1)
    assert_type(both, frozenset[tuple[int, str]])
    wrong += _wrong("pairs", both, make_pairs(1))

    spreads = yield from spread(3)
    assert_type(spreads, tuple[tuple[int, ...], tuple[int, ...]])
    wrong += _wrong("spread", spreads, ((0, 1, 2), ()))

    nested = yield from maybe(0)
    wrong += _wrong("maybe", nested, make_maybe(0))

    root = yield from tree(0)
    assert_type(root, Node)
    wrong += _wrong("tree", root, make_tree(0))
    wrong += _wrong("tree leaf", type(root.children[0].children[0]), Node)

    typed = yield from typed_tree(1)
    assert_type(typed, Tree)
    wrong += _wrong("typed tree", typed, make_typed_tree(1))

    got = yield from reading("S-1")
    assert_type(got, Reading)
    wrong += _wrong("reading", got, make_reading("S-1"))

    acct = yield from account(7)
    assert_type(acct, Account)
    wrong += _wrong("account", acct, make_account(7))

    when = yield from moments(0)
    assert_type(when, Moments)
    wrong += _wrong("moments", when, MOMENTS)
    for sent, back in zip(MOMENTS, when, strict=True):
        wrong += _wrong("moment type", type(back), type(sent))
    wrong += _wrong("moment offset", when[0].utcoffset(), MOMENTS[0].utcoffset())

    pages = yield from dg.Map(item_page, ["A", "b"], name="pages")
    assert_type(pages, dg.BatchResult[Page[Reading]])
    for sku, one_page in zip(["a", "b"], pages.results(), strict=True):
        wrong += _wrong("map page", one_page.first, make_reading(sku))

    flagged = yield from dg.Parallel(
        [dg.Branch(red, name="red"), dg.Branch(none, name="none")], name="flags"
    )
    assert_type(flagged, dg.BatchResult[Colour])
    wrong += _wrong("parallel", flagged.results(), [Colour.RED, Colour(0)])

    team = yield from dg.Invoke(
        "members", int(order["user"]), name="members", result_type=frozenset[UserId]
    )
    assert_type(team, frozenset[UserId])
    wrong += _wrong("invoke", team, frozenset({order["user"], order["user"] + 1}))

    answered: list[Reading] = yield dg.WaitForCallback(
        hand_over, name="readings", result_type=list[Reading]
    )
    wrong += _wrong("callback", answered, [make_reading("s-9")])

    # a result_type= that is a type form (a union, a Literal) is typed by the variable
    handle: dg.CallbackHandle[Size | None] = yield dg.CreateCallback(
        name="size", result_type=Size | None
    )
    size: Size | None = yield handle
    wrong += _wrong("callback size", size, "l")
    return wrong


FUNCTIONS = {"members": members}
ORDER = Order(id="o-1", user=UserId(41), due=date(2024, 2, 29))
READINGS = [{"sensorId": "S-9", "taken": "2024-06-01", "token": str(UUID(int=7))}]  # a sender's
SIZE = "l"


def typed_calls() -> None:
    assert_type(dg.run(round10, ORDER, skip_time=True), list[str])
    assert_type(dg.run(item_page, "a"), Page[Reading])
