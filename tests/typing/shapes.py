"""The shapes a step function takes in typed programs written from the docs: a generic helper
that returns a command, a Protocol-typed callable object, a class, bound methods, classmethods
and staticmethods (also returning ``Self``), ``functools.partial`` of each, overloads, async
methods, Map over tuples, Parallel of branches of different types, ``result_type=`` on Invoke
and callbacks.

Checked by ``mypy --strict`` and by pyright in its standard and strict modes
(tests/unit/test_typing.py), and run by
tests/unit/test_typed_shapes.py on every engine path, where ``shaped`` itself checks that each
value it receives has the type the checkers give it, on the first run and on every replay.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Generic, Protocol, Self, TypedDict, TypeVar, assert_type, overload

import msgspec

import durable_gen as dg

A = TypeVar("A")
R = TypeVar("R")


class Tier(enum.Enum):
    GOLD = "gold"
    BASIC = "basic"


@dataclass(frozen=True)
class Item:
    sku: str
    qty: int

    @classmethod
    def parse(cls, text: str) -> Self:
        sku, qty = text.split(":")
        return cls(sku, int(qty))

    def doubled(self) -> Self:
        return type(self)(self.sku, self.qty * 2)

    def split(self) -> list[Self]:
        return [type(self)(self.sku, 1) for _ in range(self.qty)]


@dataclass
class Event:
    kind: str
    payload: object  # any JSON value: pyright strict's spelling of Any


class Price(msgspec.Struct, frozen=True):
    amount: Decimal
    at: datetime


class Approval(TypedDict):
    by: str
    on: date


@dataclass
class Box(Generic[A]):
    value: A


AT = datetime(2024, 5, 6, 7, 8, tzinfo=UTC)


# --- a generic helper that builds commands ---------------------------------------------------


def once(fn: Callable[[A], R], arg: A, name: str) -> dg.Command[R]:
    """A step run once, whatever its own retry policy."""
    return dg.Step(fn, (arg,), name=name, retry=dg.Retry.never())


def fan_out(fn: Callable[[A], R], items: Sequence[A]) -> dg.Map[R]:
    return dg.Map(fn, items, max_concurrency=2)


# --- callable objects, classes, methods ------------------------------------------------------


class Lookup(Protocol):
    def __call__(self, sku: str) -> Item: ...


class Catalog:
    """An object whose ``__call__`` and methods are steps."""

    @dataclass
    class Entry:
        """A class nested in the class whose methods return it."""

        sku: str
        listed: date

    def __init__(self, rate: Decimal) -> None:
        self.rate = rate

    def entry(self, sku: str) -> Entry:
        return Catalog.Entry(sku, date(2024, 3, 1))

    @staticmethod
    @dg.step
    def entries(skus: list[str]) -> list[Entry]:
        return [Catalog.Entry(sku, date(2024, 3, 2)) for sku in skus]

    def __call__(self, sku: str = "") -> Item:
        return Item(sku, 3)

    def price(self, item: Item) -> Price:
        return Price(amount=self.rate * item.qty, at=AT)

    async def price_async(self, item: Item) -> Price:
        return self.price(item)

    @staticmethod
    @dg.step(retry=dg.Retry.never())
    def tier(sku: str) -> Tier:
        return Tier.GOLD if sku.startswith("g") else Tier.BASIC


class Store(Generic[A]):
    """A generic repository whose methods are steps: typed by the instance's type argument."""

    def __init__(self, made: Callable[[str], A]) -> None:
        self.made = made

    def load(self, key: str) -> A:
        return self.made(key)

    def load_all(self, keys: list[str]) -> list[A]:
        return [self.made(key) for key in keys]


class Prices(Store[Price]):
    """A subclass that fixes the type argument."""

    def __init__(self) -> None:
        super().__init__(lambda key: Price(amount=Decimal(len(key)), at=AT))


class Bump:
    """A wait-for-condition check as an object."""

    def __call__(self, state: Item) -> Item:
        return Item(state.sku, state.qty + 1)


class Echo:
    """An Invoke target as an object: its payload is decoded into ``__call__``'s parameter."""

    def __call__(self, payload: Item) -> Price:
        if type(payload) is not Item:  # what the engine decoded, checked at run time
            raise TypeError(f"the target got {type(payload).__name__}, not an Item")
        return Price(amount=Decimal(payload.qty), at=AT)


@overload
def scale(x: int) -> int: ...
@overload
def scale(x: Decimal) -> Decimal: ...
def scale(x: int | Decimal) -> int | Decimal:
    return x * 2


async def weigh(item: Item, factor: Decimal) -> Decimal:
    return factor * item.qty


def pair(entry: tuple[str, int]) -> tuple[str, date]:
    return (entry[0].upper(), date(2024, 1, entry[1]))


def numbered(item: Item, index: int) -> tuple[int, Item]:
    return (index, item)


def gold() -> Tier:
    return Tier.GOLD


def stamp() -> Price:
    return Price(amount=Decimal("0.10"), at=AT)


def boxed() -> dg.Workflow[Box[Item]]:
    item = yield from dg.Step(Item.parse, ("b:4",))
    return Box(item)


def send(callback_id: str) -> None:
    pass


def transient(exc: BaseException) -> bool:  # a retry_if, as the guide annotates it
    return isinstance(exc, ConnectionError)


@dg.step(retry=dg.Retry(max_attempts=2, retry_if=transient))
def reserve(item: Item) -> Item:
    return item


def loose() -> dict[str, object]:
    return {"n": 1, "items": ["a", 2.5], "none": None}


def event() -> list[Event]:
    return [Event("made", {"sku": "e", "qty": [1]})]


# --- the workflow ----------------------------------------------------------------------------


def _problems(checks: list[tuple[str, bool]]) -> list[str]:
    return [what for what, ok in checks if not ok]


@dg.workflow
def shaped(start: Item) -> dg.Workflow[list[str]]:
    """Returns what did not have its declared type: an empty list when all did."""
    catalog = Catalog(Decimal("1.5"))
    lookup: Lookup = catalog
    helper = yield from once(Item.parse, "h:2", "helper")
    assert_type(helper, Item)
    looked = yield from dg.Step(lookup, ("p",), name="protocol")
    assert_type(looked, Item)
    built = yield from dg.Step(Item, ("c", 5), name="class")
    assert_type(built, Item)
    parsed = yield from dg.Step(Item.parse, ("s:7",), name="classmethod")
    assert_type(parsed, Item)
    doubled = yield from dg.Step(parsed.doubled, name="method-self")
    assert_type(doubled, Item)
    unbound = yield from dg.Step(Item.doubled, (parsed,), name="unbound-self")
    assert_type(unbound, Item)
    pieces = yield from dg.Step(start.split, name="list-of-self")
    assert_type(pieces, list[Item])
    priced = yield from dg.Step(catalog.price, (start,), name="method")
    assert_type(priced, Price)
    priced_async = yield from dg.Step(catalog.price_async, (start,), name="async-method")
    assert_type(priced_async, Price)
    tier = yield from Catalog.tier("gx")
    assert_type(tier, Tier)
    scaled = yield from dg.Step(scale, (Decimal("1.25"),), name="overload")
    assert_type(scaled, Decimal)
    weight = yield from dg.Step(functools.partial(weigh, start), (Decimal("0.5"),))
    assert_type(weight, Decimal)
    of_class = yield from dg.Step(functools.partial(Item, "pc"), (1,), name="partial-class")
    assert_type(of_class, Item)
    pairs = yield from fan_out(pair, (("a", 1), ("b", 2)))
    assert_type(pairs, dg.BatchResult[tuple[str, date]])
    made = yield from dg.Map(Item, ("x", "y"), name="map-class")  # Item(item, index)
    assert_type(made, dg.BatchResult[Item])
    called = yield from dg.Map(catalog, ["m"], name="map-object")
    assert_type(called, dg.BatchResult[Item])
    numbers = yield from dg.Map(numbered, [start], name="map-index")
    assert_type(numbers, dg.BatchResult[tuple[int, Item]])
    weights = yield from dg.Map(functools.partial(weigh, factor=Decimal(2)), [start], name="w")
    assert_type(weights, dg.BatchResult[Decimal])
    mixed = yield dg.Parallel([gold, stamp, boxed], name="mixed")  # types differ per branch
    objects = yield from dg.Parallel(
        [dg.Branch(catalog, name="one"), dg.Branch(catalog, name="two")], name="objects"
    )
    assert_type(objects, dg.BatchResult[Item])
    bumped = yield from dg.WaitForCondition(Bump(), start, name="object-check")
    assert_type(bumped, Item)
    echoed = yield from dg.Invoke("echo", start, name="echo", result_type=Price)
    assert_type(echoed, Price)
    as_dict = yield from dg.Invoke("echo", start, name="as-dict", result_type=dict[str, str])
    assert_type(as_dict, dict[str, str])
    approval = yield from dg.WaitForCallback(send, name="approval", result_type=Approval)
    assert_type(approval, Approval)
    handle = yield from dg.CreateCallback(name="tier", result_type=list[Tier])
    yield from dg.Step(send, (handle.callback_id,), name="send")
    tiers = yield from handle
    assert_type(tiers, list[Tier])
    items = Store[Item](Item.parse)
    loaded = yield from dg.Step(items.load, ("l:2",), name="generic-instance")
    assert_type(loaded, Item)
    all_loaded = yield from dg.Map(items.load, ["a:1", "b:2"], name="generic-map")
    assert_type(all_loaded, dg.BatchResult[Item])
    prices = yield from dg.Step(Prices().load_all, (["ab"],), name="generic-subclass")
    assert_type(prices, list[Price])
    reserved = yield from reserve(start)
    assert_type(reserved, Item)
    entry = yield from dg.Step(catalog.entry, ("n",), name="nested-class")
    assert_type(entry, Catalog.Entry)
    entries = yield from Catalog.entries(["n", "m"])
    assert_type(entries, list[Catalog.Entry])
    objects_dict = yield from dg.Step(loose, name="dict-of-object")
    assert_type(objects_dict, dict[str, object])
    events = yield from dg.Step(event, name="object-field")
    assert_type(events, list[Event])
    yield from dg.Wait(seconds=1, name="replay-after-this")
    return _problems(
        [
            ("generic helper", helper == Item("h", 2)),
            ("protocol object", looked == Item("p", 3)),
            ("class", built == Item("c", 5)),
            ("classmethod -> Self", parsed == Item("s", 7)),
            ("method -> Self", doubled == Item("s", 14)),
            ("unbound method -> Self", unbound == Item("s", 14)),
            ("method -> list[Self]", pieces == [Item(start.sku, 1)] * start.qty),
            ("bound method", type(priced) is Price and priced.amount == Decimal("3.0")),
            ("async method", priced_async == priced),
            ("staticmethod step", tier is Tier.GOLD),
            ("overload", scaled == Decimal("2.50") and type(scaled) is Decimal),
            ("partial of async", weight == Decimal("1.0") and type(weight) is Decimal),
            ("partial of a class", of_class == Item("pc", 1)),
            (
                "map over tuples",
                pairs.results() == [("A", date(2024, 1, 1)), ("B", date(2024, 1, 2))],
            ),
            ("map a class", made.results() == [Item("x", 0), Item("y", 1)]),
            ("map an object", called.results() == [Item("m", 3)]),
            ("map with index", numbers.results() == [(0, start)]),
            ("map a partial", weights.results() == [Decimal(2 * start.qty)]),
            ("parallel per branch", mixed.results() == [Tier.GOLD, stamp(), Box(Item("b", 4))]),
            ("parallel of objects", objects.results() == [Item("", 3), Item("", 3)]),
            ("object check", bumped == Item(start.sku, start.qty + 1)),
            ("invoke an object", echoed == Price(amount=Decimal(start.qty), at=AT)),
            (
                "invoke into a dict",
                as_dict == {"amount": str(start.qty), "at": "2024-05-06T07:08:00Z"},
            ),
            ("callback typeddict", approval == Approval(by="ana", on=date(2024, 2, 29))),
            ("callback list of enums", tiers == [Tier.GOLD, Tier.BASIC]),
            ("generic instance", loaded == Item("l", 2)),
            ("generic instance in a map", all_loaded.results() == [Item("a", 1), Item("b", 2)]),
            ("generic subclass", prices == [Price(amount=Decimal(2), at=AT)]),
            ("retried step", reserved == start),
            ("nested class", entry == Catalog.Entry("n", date(2024, 3, 1))),
            ("list of nested class", [e.sku for e in entries] == ["n", "m"]),
            ("dict of object", objects_dict == loose()),
            ("object field", events == event() and type(events[0]) is Event),
        ]
    )


APPROVAL = {"by": "ana", "on": "2024-02-29"}
TIERS = ["gold", "basic"]
FUNCTIONS: dict[str, Callable[..., Any]] = {"echo": Echo()}
