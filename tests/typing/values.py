"""A typed workflow whose values cross every payload: checked by ``mypy --strict`` here, and run
by tests/unit/test_typed_values.py on every engine path, where the body itself checks that each
value it receives (the first time and on every replay) has its declared type.
"""

from __future__ import annotations

import enum
import functools
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, NamedTuple, TypedDict, assert_type

import msgspec

import durable_gen as dg


class Tier(enum.Enum):
    GOLD = "gold"
    BASIC = "basic"


@dataclass
class Address:
    street: str
    zip: int


class Customer(msgspec.Struct, frozen=True):
    name: str
    address: Address
    tags: frozenset[str]
    since: date
    tier: Tier


class Card(msgspec.Struct, tag=True):
    number: str


class Wire(msgspec.Struct, tag=True):
    iban: str


class Point(NamedTuple):
    x: int
    y: int


class Total(TypedDict):
    amount: Decimal
    count: int


@dataclass
class Line:
    sku: str
    qty: int
    price: Decimal


@dg.step
def load_customer(name: str) -> Customer:
    address = Address("main", 12345)
    return Customer(name, address, frozenset({"a", "b"}), date(2020, 1, 2), Tier.GOLD)


@dg.step
def discount(customer: Customer) -> Decimal | None:
    return Decimal("1.10") if customer.tier is Tier.GOLD else None


@dg.step
def payment(card: bool) -> Card | Wire:
    return Card("4111") if card else Wire("DE00")


@dg.step
def stamp() -> datetime:
    return datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))


@dg.step
def extras() -> tuple[uuid.UUID, Point, dict[int, str], bytes, timedelta]:
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    return ident, Point(1, 2), {1: "a"}, b"\x00\x01", timedelta(hours=1)


def cost(line: Line) -> Decimal:
    return line.price * line.qty


def line_total(line: Line, index: int) -> dg.Workflow[Total]:
    price = yield from dg.Step(cost, (line,), name=f"price-{index}")
    assert_type(price, Decimal)
    yield from dg.Wait(seconds=5, name=f"pause-{index}")
    return Total(amount=price, count=line.qty)


def address_of(customer: Customer) -> dg.Workflow[Address]:
    cut = yield from discount(customer)
    assert_type(cut, Decimal | None)
    return customer.address


def gold() -> Tier:
    return Tier.GOLD


def basic() -> Tier:
    return Tier.BASIC


def poll(state: Address) -> Address:
    """A wait-for-condition check: its state is an ``Address`` at every check."""
    if not isinstance(state, Address):
        raise TypeError(f"the check got {type(state).__name__}, not an Address")
    return Address(state.street, state.zip + 1)


def polled_enough(state: Address, attempt: int) -> dg.WaitDecision:
    if not isinstance(state, Address):
        raise TypeError(f"the wait strategy got {type(state).__name__}, not an Address")
    return dg.WaitDecision.done() if state.zip >= 3 else dg.WaitDecision.again(2)


def send(callback_id: str) -> None:
    pass


def tax(payload: Any) -> dict[str, Any]:
    """The ``Invoke`` target: a plain function on JSON values."""
    return {"sku": "tax", "qty": 1, "price": "0.30"}


def _problems(checks: list[tuple[str, bool]]) -> list[str]:
    return [what for what, ok in checks if not ok]


@dg.workflow
def typed_order(name: str) -> dg.Workflow[list[str]]:
    """Returns what did not have its declared type: an empty list when all did."""
    customer = yield from load_customer(name)
    assert_type(customer, Customer)
    cut = yield from discount(customer)
    paid_by = yield from payment(False)
    assert_type(paid_by, Card | Wire)
    at = yield from stamp()
    ident, point, names, raw, span = yield from extras()
    inline = yield from address_of(customer)
    child = yield from dg.Child(address_of, (customer,), name="child")
    assert_type(child, Address)
    lines = [Line("a", 2, Decimal("1.50")), Line("b", 1, Decimal("2.25"))]
    totals = yield from dg.Map(line_total, lines, name="lines")
    assert_type(totals, dg.BatchResult[Total])
    tiers = yield from dg.Parallel([gold, basic], name="tiers")
    assert_type(tiers, dg.BatchResult[Tier])
    partial = yield from dg.Parallel([functools.partial(address_of, customer)], name="partial")
    answer = yield from dg.WaitForCallback(send, name="approval", result_type=Address)
    assert_type(answer, Address)
    polled = yield from dg.WaitForCondition(
        poll, Address("main", 0), wait_strategy=polled_enough, name="poll"
    )
    assert_type(polled, Address)
    taxed = yield from dg.Invoke("tax", {"amount": 1}, name="tax", result_type=Line)
    assert_type(taxed, Line)
    return _problems(
        [
            ("customer", isinstance(customer, Customer)),
            ("customer.address", isinstance(customer.address, Address)),
            ("customer.tags", customer.tags == frozenset({"a", "b"})),
            ("customer.since", type(customer.since) is date),
            ("customer.tier", customer.tier is Tier.GOLD),
            ("discount", isinstance(cut, Decimal) and str(cut) == "1.10"),
            ("payment", isinstance(paid_by, Wire)),
            ("stamp", isinstance(at, datetime) and at.utcoffset() == timedelta(hours=2)),
            ("uuid", isinstance(ident, uuid.UUID)),
            ("point", isinstance(point, Point)),
            ("int keys", names == {1: "a"}),
            ("bytes", raw == b"\x00\x01"),
            ("timedelta", span == timedelta(hours=1)),
            ("inline", isinstance(inline, Address)),
            ("child", isinstance(child, Address)),
            ("map", all(isinstance(t["amount"], Decimal) for t in totals.get_results())),
            ("map count", [t["count"] for t in totals.get_results()] == [2, 1]),
            ("parallel", tiers.get_results() == [Tier.GOLD, Tier.BASIC]),
            ("partial", [type(a) for a in partial.get_results()] == [Address]),
            ("callback", isinstance(answer, Address) and answer.zip == 1),
            ("invoke", isinstance(taxed, Line) and taxed.price == Decimal("0.30")),
            ("wait-for-condition", isinstance(polled, Address) and polled.zip == 3),
        ]
    )
