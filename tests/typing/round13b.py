"""Typed programs written from the guide's "Typing workflows" and "Values and types", with values
crossing the boundaries between a workflow and the outside: an ``Invoke`` of a workflow and of a
plain function taking and returning a dataclass, a callback answered from outside into a
dataclass and into a ``tuple[date, Decimal]``, a ``WaitForCondition`` over a dataclass state
with a typed ``until``, ``Parallel`` branches of different types and of a sub-workflow, a ``Map``
of a sub-workflow returning tuples, and ``float`` declared where an ``int`` is sent.

Checked by ``mypy --strict`` and pyright's standard and strict modes; run by
tests/unit/test_typed_corpus_round13b.py on every engine path, where ``round13b`` returns what
did not come back equal to what was sent, or of another type than the checkers gave it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import assert_type

import durable_gen as dg


@dataclass(frozen=True)
class Order:
    id: int
    placed: date
    amount: Decimal


ORDER = Order(1, date(2024, 2, 29), Decimal("1.10"))
ANSWERS: dict[str, object] = {
    "order": {"id": 9, "placed": "2024-03-01", "amount": "3.30"},
    "pair": ["2024-02-29", 1.10],
    "ratio": 4,
}


def exactly(value: object, cls: type) -> bool:
    return type(value) is cls


@dg.workflow
def doubled(order: Order) -> dg.Workflow[Order]:
    # an Invoke target: its input arrives decoded into Order, after a durable wait
    yield from dg.Wait(2)
    if not exactly(order.placed, date) or not exactly(order.amount, Decimal):
        raise TypeError(f"doubled received {order!r}")
    return Order(order.id + 1, order.placed, order.amount * 2)


def doubled_plain(order: Order) -> Order:
    if not exactly(order, Order):
        raise TypeError(f"doubled_plain received {order!r}")
    return Order(order.id + 1, order.placed, order.amount * 2)


def next_order(state: Order) -> Order:
    return Order(state.id + 1, state.placed, state.amount)


def reached(state: Order) -> bool:
    if not exactly(state, Order):
        raise TypeError(f"until received {state!r}")
    return state.id >= 3


def leap_day() -> date:
    return date(2024, 2, 29)


def price() -> Decimal:
    return Decimal("1.10")


@dg.workflow
def dated(day: int) -> dg.Workflow[tuple[date, int]]:
    yield from dg.Wait(1)
    return (date(2020, 1, day), day)


def as_float(x: float) -> float:
    return x


FUNCTIONS = {"doubled": doubled, "doubled-plain": doubled_plain, "as-float": as_float}


def differs(name: str, got: object, want: object) -> list[str]:
    if got == want and type(got) is type(want):
        return []
    return [f"{name}: got {got!r} ({type(got).__name__}), want {want!r}"]


@dg.workflow
def round13b(n: int) -> dg.Workflow[list[str]]:
    wrong: list[str] = []
    want = Order(2, ORDER.placed, Decimal("2.20"))
    invoked = yield from dg.Invoke("doubled", ORDER, result_type=Order)
    assert_type(invoked, Order)
    wrong += differs("invoked workflow", invoked, want)
    plain = yield from dg.Invoke("doubled-plain", ORDER, result_type=Order)
    wrong += differs("invoked function", plain, want)
    ratio = yield from dg.Invoke("as-float", n, result_type=float)
    assert_type(ratio, float)
    wrong += differs("invoked float", ratio, float(n))

    handle = yield from dg.CreateCallback(name="order", result_type=Order)
    assert_type(handle, dg.CallbackHandle[Order])
    answered = yield from handle
    wrong += differs("callback", answered, Order(9, date(2024, 3, 1), Decimal("3.30")))
    pair = yield from dg.WaitForCallback(
        lambda callback_id: None, name="pair", result_type=tuple[date, Decimal]
    )
    assert_type(pair, tuple[date, Decimal])
    wrong += differs("callback pair", pair, (date(2024, 2, 29), Decimal("1.10")))
    counted = yield from dg.WaitForCallback(
        lambda callback_id: None, name="ratio", result_type=float
    )
    wrong += differs("callback float", counted, 4.0)

    state = yield from dg.WaitForCondition(
        next_order, initial_state=ORDER, wait_strategy=dg.WaitStrategy(until=reached, delay=1)
    )
    assert_type(state, Order)
    wrong += differs("condition", state, Order(3, ORDER.placed, ORDER.amount))

    values = yield from dg.Parallel([leap_day, price])
    wrong += differs("parallel", values.all_results(), [date(2024, 2, 29), Decimal("1.10")])
    subs = yield from dg.Parallel([functools.partial(dated, 1), functools.partial(dated, 2)])
    assert_type(subs, dg.BatchResult[tuple[date, int]])
    wrong += differs("parallel sub", subs.results(), [(date(2020, 1, 1), 1), (date(2020, 1, 2), 2)])
    mapped = yield from dg.Map(dated, [3, 4])
    assert_type(mapped, dg.BatchResult[tuple[date, int]])
    wrong += differs(
        "map",
        [item.result for item in mapped.items],
        [(date(2020, 1, 3), 3), (date(2020, 1, 4), 4)],
    )
    return wrong
