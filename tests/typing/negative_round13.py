"""Mistakes in the shapes of tests/typing/round13.py (its names, written again here) that both
checkers must flag: every ``type: ignore`` here must be needed under mypy --strict
(``warn_unused_ignores``), and pyright, run with those comments disabled, must report an error
on each of these lines (tests/unit/test_typing.py).
"""

# ruff: noqa: F841 (the assignments are what the checkers check)

from __future__ import annotations

import enum
import functools
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import (
    Annotated,
    Generic,
    Literal,
    NamedTuple,
    NewType,
    Protocol,
    Self,
    TypedDict,
    TypeVar,
    overload,
)

import msgspec

import durable_gen as dg

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

Cents = NewType("Cents", Decimal)
Grade = Literal["a", "b", 3]


class Perm(enum.IntFlag):
    READ = 4
    WRITE = 2
    RUN = 1


@dataclass(frozen=True)
class Order:
    id: int
    placed: date


class Line(NamedTuple):
    sku: str
    price: Decimal
    on: date


class Job(msgspec.Struct, frozen=True):
    polls: int
    seen: tuple[date, ...] = ()


class Window(TypedDict):
    opens: time
    perms: Perm


class Summary(NamedTuple):
    at: datetime
    took: timedelta
    ref: uuid.UUID
    grade: Grade
    total: Annotated[Decimal, "cents"]


def make_order(n: int) -> Order:
    return Order(n, date(2024, 2, n))


# --- generic classes ---------------------------------------------------------------------------


class Repo(Generic[T]):
    """Loads one ``T``; its subclasses say what ``T`` is."""

    def load(self, n: int) -> T:
        return self.build(n)

    def build(self, n: int) -> T:
        raise NotImplementedError


class Listed(Repo[list[T]], Generic[T]):
    """The same TypeVar for another type: its ``load`` returns a ``list[T]``."""

    def __init__(self, one: Repo[T]) -> None:
        self.one = one

    def build(self, n: int) -> list[T]:
        return [self.one.load(n), self.one.load(n + 1)]


class Orders(Repo[Order]):
    def build(self, n: int) -> Order:
        return make_order(n)


class Pairs(Generic[K, V]):
    def pair(self, key: K, value: V) -> dict[K, V]:
        return {key: value}


class Flipped(Pairs[V, K], Generic[K, V]):
    """Its ``pair`` takes a ``V`` key and a ``K`` value, as the checkers read it."""


@dataclass  # not frozen: a frozen dataclass keeps no type arguments (see the guide)
class Box(Generic[T]):
    item: T

    def again(self, n: int) -> Self:
        return self


class Flow(Generic[T]):
    def twice(self, value: T) -> dg.Workflow[list[T]]:
        yield from dg.Wait(seconds=1)
        return [value, value]

    @classmethod
    def stamped(cls, order: Order) -> dg.Workflow[tuple[Order, date]]:
        yield from dg.Wait(seconds=1)
        return (order, order.placed)

    @staticmethod
    def placed(order: Order) -> dg.Workflow[date]:
        yield from dg.Wait(seconds=1)
        return order.placed


class Catalog:
    @classmethod
    def line(cls, sku: str) -> Line:
        return Line(sku, Decimal("1.10"), date(2024, 2, 29))

    @staticmethod
    def perms(n: int) -> Perm:
        return Perm(n)


# --- other callables ---------------------------------------------------------------------------


class Pricer(Protocol):
    def __call__(self, sku: str) -> Decimal: ...


class Flat:
    def __call__(self, sku: str) -> Decimal:
        return Decimal("2.50")


def priced(pricer: Pricer, sku: str) -> Cents:
    return Cents(pricer(sku))


@overload
def parse(raw: int) -> date: ...
@overload
def parse(raw: str) -> date: ...
def parse(raw: int | str) -> date:
    return date(2024, 3, int(raw))


class Poller:
    def check(self, job: Job) -> Job:
        return Job(job.polls + 1, (*job.seen, date(2024, 1, job.polls + 1)))


def enough(job: Job, attempt: int) -> dg.WaitDecision:
    return dg.WaitDecision.done() if job.polls >= 2 else dg.WaitDecision.again(1)


def repriced(line: Line) -> Line:
    return line._replace(price=line.price * 2)


def mistakes(n: int) -> dg.Workflow[None]:
    # a subclass's TypeVar stands for another type in its base: load gives a list
    one: Order = yield from dg.Step(Listed[Order](Orders()).load, (n,))  # type: ignore
    deep: list[Order] = yield from dg.Step(Listed[list[Order]](Listed[Order](Orders())).load, (n,))  # type: ignore
    # Flipped swaps its base's type variables: the key is the date
    yield from dg.Step(Flipped[Order, date]().pair, (make_order(n), date(2024, 1, 2)))  # type: ignore
    flipped = Flipped[Order, date]()
    pairs: dict[Order, date] = yield from dg.Step(flipped.pair, (date(2024, 1, 2), make_order(n)))  # type: ignore
    # Self of a Box[Order] is a Box[Order]
    box: Box[date] = yield from dg.Step(Box[Order](make_order(n)).again, (n,))  # type: ignore
    # methods of a generic class, classmethods and staticmethods run as workflows
    yield from dg.Child(Flow[Line]().twice, (make_order(n),))  # type: ignore
    twice: list[Order] = yield from dg.Child(Flow[Line]().twice, (Catalog.line("c"),))  # type: ignore
    yield from dg.Child(Flow.placed)  # type: ignore
    stamped: tuple[Order, str] = yield from dg.Child(Flow.stamped, (make_order(n),))  # type: ignore
    # classmethod and staticmethod steps
    yield from dg.Step(Catalog.perms, ("6",))  # type: ignore
    line: Order = yield from dg.Step(Catalog.line, ("l",))  # type: ignore
    # a Protocol-typed dependency: an object without the call
    yield from dg.Step(functools.partial(priced, make_order(n)), ("s",))  # type: ignore
    cents: str = yield from dg.Step(functools.partial(priced, Flat()), ("s",))  # type: ignore
    # a bound method as a WaitForCondition check: its state's type
    yield from dg.WaitForCondition(Poller().check, make_order(n))  # type: ignore
    job: Order = yield from dg.WaitForCondition(Poller().check, Job(0))  # type: ignore
    # Map over NamedTuples
    yield from dg.Map(repriced, [make_order(n)])  # type: ignore
    lines: dg.BatchResult[Order] = yield from dg.Map(repriced, [Catalog.line("a")])  # type: ignore
    # Invoke's result_type
    flags: str = yield from dg.Invoke("flags", Perm.READ, result_type=Perm)  # type: ignore
    values: tuple[str, ...] = yield from dg.Invoke("bumped", (1,), result_type=tuple[int, ...])  # type: ignore
    price: Decimal = yield from dg.Step(Catalog.line, ("l",))  # type: ignore


def runs() -> None:
    dg.run(Flow[Order]().twice, date(2024, 1, 1))  # type: ignore
    placed: Order = dg.run(Flow.placed, make_order(1))  # type: ignore
