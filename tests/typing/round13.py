"""Typed programs written from the guide's "Typing workflows" and "Values and types", with shapes
the other files here do not hold: methods of generic classes whose subclasses give their type
variables on (the same TypeVar for another type, ``class Listed(Repo[list[T]], Generic[T])``,
and two swapped, ``class Flipped(Pairs[V, K], Generic[K, V])``), ``-> Self`` on an instance of a
generic dataclass made with its type argument, a method of a generic pydantic model, an object
whose ``__call__`` is a generic workflow as a ``Map`` function, a generic class's method run as
a workflow,
classmethod and staticmethod steps and workflows, an overloaded function as a step, a
Protocol-typed dependency bound with ``functools.partial``, a ``WaitForCondition`` whose check
is a bound method over a Struct state, a ``Map`` over NamedTuples returning them, a ``Parallel``
of branches of different types, ``Invoke`` results of ``IntFlag``, ``tuple[int, ...]``,
``frozenset[date]`` and a NewType of ``Decimal``, a callback answered with a TypedDict holding
a ``time`` and an ``IntFlag``, and a workflow returning a NamedTuple of ``datetime``,
``timedelta``, ``UUID``, ``Literal`` and ``Annotated`` values.

Checked by ``mypy --strict`` and pyright's standard and strict modes (tests/unit/test_typing.py);
run by tests/unit/test_typed_corpus_round13.py on every engine path, where ``round13`` returns
what did not come back equal to what was sent, or of another type than the checkers gave it.
"""

from __future__ import annotations

import enum
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
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
    assert_type,
    overload,
)

import msgspec
import pydantic

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


class Page(pydantic.BaseModel, Generic[T]):
    items: list[T]

    def first(self, n: int) -> T:
        return self.items[0]


class Wrapping(Generic[T]):
    """An object whose ``__call__`` is a workflow: a Map function, a branch, a child."""

    def __call__(self, value: T) -> dg.Workflow[list[T]]:
        yield from dg.Wait(seconds=1)
        return [value]


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


def branch_perms() -> Perm:
    return Perm.READ | Perm.RUN


def branch_lines() -> tuple[Line, ...]:
    return (Catalog.line("p"),)


def branch_when() -> dg.Workflow[datetime]:
    yield from dg.Wait(seconds=1)
    return datetime(2024, 2, 29, 12, tzinfo=timezone(timedelta(hours=5, minutes=30)))


# --- invoked functions -------------------------------------------------------------------------


def flags(perms: Perm) -> Perm:
    return perms | Perm.WRITE


def bumped(values: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(v + 1 for v in values)


def days(of: frozenset[date]) -> frozenset[date]:
    return frozenset(d + timedelta(days=1) for d in of)


def doubled(cents: Cents) -> Cents:
    return Cents(cents * 2)


FUNCTIONS: dict[str, Callable[..., object]] = {
    "flags": flags,
    "bumped": bumped,
    "days": days,
    "doubled": doubled,
}
ANSWERS: dict[str, object] = {"window": {"opens": "09:30:00", "perms": 6}}
SUMMARY = Summary(
    datetime(2024, 2, 29, 23, 59, 59, 999999),
    timedelta(days=1, microseconds=5),
    uuid.UUID(int=13),
    3,
    Decimal("0.10"),
)


# --- the workflow ------------------------------------------------------------------------------


def _wrong(name: str, value: object, expected: object) -> list[str]:
    if value == expected and type(value) is type(expected):
        return []
    return [f"{name}: {type(value).__name__} {value!r}"]


def _wrong_types(name: str, values: list[object], kind: type) -> list[str]:
    return [f"{name}: {type(v).__name__} {v!r}" for v in values if type(v) is not kind]


@dg.workflow
def round13(n: int) -> dg.Workflow[list[str]]:
    """Returns what did not come back equal to what was sent, or of another type."""
    wrong: list[str] = []

    many = yield from dg.Step(Listed[Order](Orders()).load, (n,), name="listed")
    assert_type(many, list[Order])
    wrong += _wrong("listed", many, [make_order(n), make_order(n + 1)])
    wrong += _wrong_types("listed items", list(many), Order)

    nested = yield from dg.Step(Listed[list[Order]](Listed[Order](Orders())).load, (n,))
    assert_type(nested, list[list[Order]])
    wrong += _wrong("listed twice", nested, [many, [make_order(n + 1), make_order(n + 2)]])

    flipped = yield from dg.Step(
        Flipped[Order, date]().pair, (date(2024, 1, 2), make_order(n)), name="flipped"
    )
    assert_type(flipped, dict[date, Order])
    wrong += _wrong("flipped", flipped, {date(2024, 1, 2): make_order(n)})
    wrong += _wrong_types("flipped keys", list(flipped), date)
    wrong += _wrong_types("flipped values", list(flipped.values()), Order)

    box = yield from dg.Step(Box[Order](make_order(n)).again, (n,), name="box")
    assert_type(box, Box[Order])
    wrong += _wrong("box", box, Box(make_order(n)))
    wrong += _wrong("box item", type(box.item), Order)

    twice = yield from dg.Child(Flow[Line]().twice, (Catalog.line("c"),), name="twice")
    assert_type(twice, list[Line])
    wrong += _wrong("twice", twice, [Catalog.line("c")] * 2)
    wrong += _wrong_types("twice items", list(twice), Line)

    stamped = yield from dg.Child(Flow.stamped, (make_order(n),), name="stamped")
    assert_type(stamped, tuple[Order, date])
    wrong += _wrong("stamped", stamped, (make_order(n), make_order(n).placed))
    placed = yield from dg.Child(Flow.placed, (make_order(n),), name="placed")
    assert_type(placed, date)
    wrong += _wrong("placed", placed, make_order(n).placed)

    line = yield from dg.Step(Catalog.line, ("l-1",), name="line")
    assert_type(line, Line)
    wrong += _wrong("line", line, Catalog.line("l-1"))
    perms = yield from dg.Step(Catalog.perms, (6,), name="perms")
    assert_type(perms, Perm)
    wrong += _wrong("perms", perms, Perm.READ | Perm.WRITE)

    cents = yield from dg.Step(functools.partial(priced, Flat()), ("s",), name="priced")
    assert_type(cents, Cents)
    wrong += _wrong("priced", cents, Decimal("2.50"))

    parsed = yield from dg.Step(parse, ("7",), name="parse")
    assert_type(parsed, date)
    wrong += _wrong("parse", parsed, date(2024, 3, 7))

    job = yield from dg.WaitForCondition(Poller().check, Job(0), wait_strategy=enough, name="poll")
    assert_type(job, Job)
    wrong += _wrong("poll", job, Job(2, (date(2024, 1, 1), date(2024, 1, 2))))

    lines = yield from dg.Map(repriced, [Catalog.line("a"), Catalog.line("b")], name="lines")
    assert_type(lines, dg.BatchResult[Line])
    wrong += _wrong(
        "lines", lines.results(), [repriced(Catalog.line("a")), repriced(Catalog.line("b"))]
    )
    wrong += _wrong_types("lines items", list(lines.results()), Line)
    loaded = yield from dg.Map(Listed[Order](Orders()).load, [1, 3], name="loaded")
    assert_type(loaded, dg.BatchResult[list[Order]])
    wrong += _wrong(
        "loaded", loaded.results(), [[make_order(1), make_order(2)], [make_order(3), make_order(4)]]
    )

    mixed: dg.BatchResult[Perm | tuple[Line, ...] | datetime] = yield dg.Parallel(
        [branch_perms, branch_lines, dg.Branch(branch_when)], name="mixed"
    )
    got_perms, got_lines, got_when = mixed.results()
    wrong += _wrong("mixed perms", got_perms, branch_perms())
    wrong += _wrong("mixed lines", got_lines, branch_lines())
    wrong += _wrong(
        "mixed when",
        got_when,
        datetime(2024, 2, 29, 12, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    )

    first = yield from dg.Step(Page[Order](items=[make_order(n)]).first, (n,), name="page")
    assert_type(first, Order)
    wrong += _wrong("page first", first, make_order(n))

    wrapped = yield from dg.Map(Wrapping[Order](), [make_order(1), make_order(2)], name="wrap")
    assert_type(wrapped, dg.BatchResult[list[Order]])
    wrong += _wrong("wrapped", wrapped.results(), [[make_order(1)], [make_order(2)]])

    invoked_flags = yield from dg.Invoke("flags", Perm.READ, name="flags", result_type=Perm)
    assert_type(invoked_flags, Perm)
    wrong += _wrong("flags", invoked_flags, Perm.READ | Perm.WRITE)
    invoked_tuple = yield from dg.Invoke(
        "bumped", (1, 2, 3), name="bumped", result_type=tuple[int, ...]
    )
    assert_type(invoked_tuple, tuple[int, ...])
    wrong += _wrong("bumped", invoked_tuple, (2, 3, 4))
    invoked_days = yield from dg.Invoke(
        "days", frozenset({date(2024, 2, 28)}), name="days", result_type=frozenset[date]
    )
    assert_type(invoked_days, frozenset[date])
    wrong += _wrong("days", invoked_days, frozenset({date(2024, 2, 29)}))
    # a NewType is a type form, not a class: pyright leaves `yield from` Unknown there, so the
    # variable says the type (mypy gives Cents either way)
    invoked_cents: Cents = yield dg.Invoke(
        "doubled", Cents(Decimal("1.05")), name="doubled", result_type=Cents
    )
    wrong += _wrong("doubled", invoked_cents, Decimal("2.10"))

    window = yield from dg.WaitForCallback(hand_over, name="window", result_type=Window)
    assert_type(window, Window)
    wrong += _wrong("window", window, Window(opens=time(9, 30), perms=Perm.READ | Perm.WRITE))
    wrong += _wrong("window perms", type(window["perms"]), Perm)
    return wrong


def hand_over(callback_id: str) -> None:
    return None


@dg.workflow
def summary(n: int) -> dg.Workflow[Summary]:
    yield from dg.Wait(seconds=1)
    return SUMMARY


def typed_calls() -> None:
    assert_type(dg.run(round13, 1, functions=FUNCTIONS, skip_time=True), list[str])
    assert_type(dg.run(summary, 1, skip_time=True), Summary)
    assert_type(dg.run(Flow[Order]().twice, make_order(1), skip_time=True), list[Order])
    assert_type(dg.run(Flow.placed, make_order(1), skip_time=True), date)
