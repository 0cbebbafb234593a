"""Mistakes in the call shapes of tests/typing/kinds.py (its names, written again here) that
both checkers must flag: every
``type: ignore`` here must be needed under mypy --strict (``warn_unused_ignores``), and
pyright, run with those comments disabled, must report an error on each of these lines
(tests/unit/test_typing.py).
"""

# ruff: noqa: F841 (the assignments are what the checkers check)

from __future__ import annotations

import enum
import functools
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Generic, NamedTuple, NewType, TypeVar

import msgspec

import durable_gen as dg

T = TypeVar("T")
OrderId = NewType("OrderId", str)


class Tier(enum.Enum):
    GOLD = "gold"


@dataclass(frozen=True)
class Line:
    sku: str
    qty: int


class Page(msgspec.Struct, Generic[T]):
    items: list[T]


class Span(NamedTuple):
    start: date
    end: date


@dataclass
class Job:
    id: str
    done: bool = False


class Billing:
    @staticmethod
    @dg.step
    def stamp(order: OrderId) -> datetime:
        return datetime(2024, 1, 1)


@dg.step
def kw_only(*, order: OrderId) -> Tier:
    return Tier.GOLD


@dg.step
def pos_only(order: OrderId, /) -> Span:
    return Span(date(2024, 1, 1), date(2024, 1, 2))


@dg.step
def total(*amounts: Decimal) -> Decimal:
    return sum(amounts, Decimal(0))


@dg.step
async def fetch_page(n: int) -> Page[Line]:
    return Page([Line("a", n)])


def qty_of(line: Line) -> int:
    return line.qty


def line_for(i: int) -> Line:
    return Line(str(i), i)


def ident(x: T) -> dg.Workflow[T]:
    yield from dg.Wait(seconds=1)
    return x


def decide(callback_id: str) -> None:
    pass


def poll(state: Job) -> Job:
    return state


def kinds(order: OrderId) -> dg.Workflow[str]:
    yield from dg.Wait(seconds=1)
    return str(order)


def with_index(line: Line, index: str) -> int:  # the index is an int
    return line.qty


def needs_state(state: int, attempt: int) -> dg.WaitDecision:
    return dg.WaitDecision.done()


def submit_by_number(callback_id: int) -> None:
    pass


def wrong(order: OrderId) -> dg.Workflow[None]:
    yield from Billing.stamp("o-1")  # type: ignore[arg-type]  # an OrderId, not a str
    yield from kw_only(order)  # type: ignore[call-arg]  # keyword-only
    yield from pos_only(order=order)  # type: ignore[call-arg]  # positional-only
    yield from total(Decimal(1), 2.5)  # type: ignore[arg-type]  # *amounts: Decimal
    page: Page[int] = yield from fetch_page(1)  # type: ignore[assignment]  # Page[Line]
    batch = yield from dg.Map(line_for, range(2))
    qty: int = batch.items[0].result.qty  # type: ignore[union-attr]  # None unless it succeeded
    yield from dg.Map(with_index, [Line("a", 1)])  # type: ignore[arg-type]
    yield from dg.Map(qty_of, range(2))  # type: ignore[arg-type]  # items are ints, not Lines
    yield from dg.Parallel((functools.partial(ident, 1), qty_of))  # type: ignore[arg-type]
    day = date(2024, 1, 1)
    span: datetime = yield from dg.Child(ident, (Span(day, day),))  # type: ignore[assignment]
    yield from dg.WaitForCallback(submit_by_number, result_type=int)  # type: ignore[arg-type]
    yield from dg.WaitForCondition(poll, Job("j"), wait_strategy=needs_state)  # type: ignore[arg-type]
    strategy = dg.WaitStrategy[int](until=lambda n: n > 3)
    yield from dg.WaitForCondition(poll, Job("j"), wait_strategy=strategy)  # type: ignore[arg-type]
    text: str = yield from dg.Invoke("ids", None, result_type=uuid.UUID)  # type: ignore[assignment]
    yield from dg.WaitForCallback(decide, result_type=str, timeout=1.5)  # type: ignore[call-overload]


def run_wrong() -> None:
    dg.run(kinds, 5)  # type: ignore[arg-type]  # the input is an OrderId
