"""Call shapes and value types a user writes, pinned with ``assert_type`` under mypy --strict
and pyright (standard and strict): keyword-only, positional-only and ``*args`` step functions,
``Step(fn, kwargs=)``, a ``@staticmethod`` step, ``NewType`` and generic Struct values, Map
over a ``range`` or a tuple, Parallel given a tuple, a generic sub-workflow as a Child,
``WaitStrategy[S]`` built apart, a callback of nested containers, and the types of the
errors a timeout raises. tests/unit/test_typed_kinds.py runs ``kinds`` on every engine path:
it returns what did not have, at run time, the type the checkers gave it.
"""

from __future__ import annotations

import enum
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import (
    Any,
    Generic,
    NamedTuple,
    NewType,
    ParamSpec,
    TypedDict,
    TypeVar,
    assert_type,
    cast,
)

import msgspec

import durable_gen as dg
from durable_gen.testing import DurableRun, TestRunner

T = TypeVar("T")
P = ParamSpec("P")
OrderId = NewType("OrderId", str)


class Tier(enum.Enum):
    GOLD = "gold"
    BASIC = "basic"


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    sku: str
    qty: int
    price: Decimal


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    total: int


class Span(NamedTuple):
    start: date
    end: date


class Meta(TypedDict, total=False):
    at: datetime
    tags: frozenset[str]


@dataclass
class Job:
    id: str
    done: bool = False


class Billing:
    @staticmethod
    @dg.step
    def stamp(order: OrderId) -> datetime:
        return datetime(2024, 1, 1)


def timed(fn: Callable[P, T]) -> Callable[P, T]:
    """A decorator of one's own, without functools.wraps."""

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return fn(*args, **kwargs)

    return wrapper


@dg.step
@timed
def decorated(order: OrderId) -> Line:
    return Line(sku=order, qty=1, price=Decimal("0.5"))


@dg.step
def kw_only(*, order: OrderId, tier: Tier = Tier.BASIC) -> Tier:
    return tier


@dg.step
def pos_only(order: OrderId, /) -> Span:
    return Span(date(2024, 1, 1), date(2024, 1, 2))


@dg.step
def total(*amounts: Decimal) -> Decimal:
    return sum(amounts, Decimal(0))


@dg.step(timeout=timedelta(seconds=5), retry=dg.Retry(retry_on=(dg.StepTimeoutError,)))
async def fetch_page(n: int) -> Page[Line]:
    return Page([Line(sku="a", qty=n, price=Decimal("1.10"))], 1)


def qty_of(line: Line) -> int:
    return line.qty


def line_for(i: int) -> Line:
    return Line(sku=str(i), qty=i, price=Decimal(i))


def ident(x: T) -> dg.Workflow[T]:
    yield from dg.Wait(seconds=1)
    return x


def pair(a: int, b: str = "x") -> dg.Workflow[tuple[int, str]]:
    yield from dg.Wait(seconds=1)
    return (a, b)


def decide(callback_id: str) -> None:
    pass


def poll(state: Job) -> Job:
    return Job(state.id, True)


def refund(amount: Decimal) -> None:
    pass


def new_id(_: None) -> uuid.UUID:
    return ID


def meta_of(at: datetime, tier: Tier) -> dg.Workflow[Meta]:
    yield from dg.Wait(seconds=1)
    return Meta(at=at, tags=frozenset({tier.value}))


def _problems(checks: list[tuple[str, bool]]) -> list[str]:
    return [what for what, ok in checks if not ok]


ID = uuid.UUID("12345678-1234-5678-1234-567812345678")
DECIDED = "gold"  # the answers tests/unit/test_typed_kinds.py sends
DAYS = {"a": ["2024-02-29"]}
FUNCTIONS: dict[str, Callable[..., Any]] = {"ids": new_id}
UNTYPED_SPAN: list[list[object]] = [
    ["2024-01-01", "2024-01-02"],
    [date(2024, 1, 1), date(2024, 1, 2)],
]


@dg.workflow
def kinds(order: OrderId) -> dg.Workflow[list[str]]:
    """Returns what did not have its declared type: an empty list when all did."""
    stamped = yield from Billing.stamp(order)
    assert_type(stamped, datetime)
    tier = yield from kw_only(order=order)
    assert_type(tier, Tier)
    wrapped = yield from decorated(order)
    assert_type(wrapped, Line)
    span = yield from pos_only(order)
    assert_type(span, Span)
    summed = yield from total(Decimal(1), Decimal(2))
    assert_type(summed, Decimal)
    page = yield from fetch_page(3)
    assert_type(page, Page[Line])
    by_kwargs = yield from dg.Step(kw_only.fn, kwargs={"order": order}, name="by-kwargs")
    assert_type(by_kwargs, Tier)
    qtys = yield from dg.Map(qty_of, page.items)
    assert_type(qtys, dg.BatchResult[int])
    over_range = yield from dg.Map(line_for, range(2))
    assert_type(over_range, dg.BatchResult[Line])
    over_tuple = yield from dg.Map(qty_of, tuple(page.items))
    assert_type(over_tuple, dg.BatchResult[int])
    first = over_range.items[0]
    assert_type(first, dg.BatchItem[Line])
    assert_type(first.result, Line | None)
    par = yield from dg.Parallel((functools.partial(ident, span), functools.partial(ident, span)))
    assert_type(par, dg.BatchResult[Span])
    generic = yield from dg.Child(ident, (span,), name="generic")
    assert_type(generic, Span)
    defaulted = yield from dg.Child(pair, (1,), name="defaulted")
    assert_type(defaulted, tuple[int, str])
    virtual = yield from dg.Child(pair, (1, "y"), virtual=True)
    assert_type(virtual, tuple[int, str])
    decided = yield from dg.WaitForCallback(decide, name="decide", result_type=Tier)
    assert_type(decided, Tier)
    ident_id = yield from dg.Invoke("ids", None, name="ids", result_type=uuid.UUID)
    assert_type(ident_id, uuid.UUID)
    strategy = dg.WaitStrategy[Job](until=lambda j: j.done, delay=2)
    job = yield from dg.WaitForCondition(poll, Job("j"), wait_strategy=strategy, name="job")
    assert_type(job, Job)
    handle = yield from dg.CreateCallback(name="days", result_type=dict[str, list[date]])
    assert_type(handle, dg.CallbackHandle[dict[str, list[date]]])
    days = yield from handle
    assert_type(days, dict[str, list[date]])
    saga = yield from dg.Step(total.fn, (Decimal(1),), name="saga", compensate=refund)
    assert_type(saga, Decimal)
    try:
        yield from fetch_page(0)
    except dg.StepTimeoutError as exc:
        assert_type(exc.error_type, str | None)
        assert_type(exc.error_data, str | None)
    try:
        yield from dg.WaitForCallback(decide, name="late", timeout=60, heartbeat_timeout=10)
    except dg.CallbackTimeoutError as exc:
        assert_type(exc.error_type, str | None)
    meta = yield from dg.Child(meta_of, (stamped, tier), name="meta")
    assert_type(meta, Meta)
    line = Line(sku="a", qty=3, price=Decimal("1.10"))
    return _problems(
        [
            ("NewType input", type(order) is str),
            ("@staticmethod step", stamped == datetime(2024, 1, 1) and stamped.tzinfo is None),
            ("keyword-only step", tier is Tier.BASIC),
            ("ParamSpec-decorated step", type(wrapped) is Line and wrapped.price == Decimal("0.5")),
            ("positional-only step -> NamedTuple", type(span) is Span and span.start.day == 1),
            ("*args step", summed == Decimal(3) and type(summed) is Decimal),
            ("async step -> generic Struct", page == Page([line], 1) and type(page) is Page),
            ("Struct of frozen dataclasses", type(page.items[0].price) is Decimal),
            ("Step(kwargs=)", by_kwargs is Tier.BASIC),
            ("Map", qtys.results() == [3]),
            ("Map over range", [type(x) for x in over_range.results()] == [Line, Line]),
            ("Map over a tuple", over_tuple.results() == [3]),
            # a TypeVar names no type to decode into: plain JSON as the guide says (under
            # "aws", what AWS's envelope holds: a tuple of dates), never the checkers' Span
            ("generic Child", type(generic) is not Span and list(generic) in UNTYPED_SPAN),
            ("generic branches", cast(object, par.results()) == [generic] * 2),
            ("Child with a default", defaulted == (1, "x") and type(defaulted) is tuple),
            ("virtual Child", virtual == (1, "y") and type(virtual) is tuple),
            ("WaitForCallback -> enum", decided is Tier.GOLD),
            ("Invoke -> UUID", ident_id == ID and type(ident_id) is uuid.UUID),
            ("WaitStrategy[Job]", job == Job("j", True)),
            ("callback -> dict[str, list[date]]", days == {"a": [date(2024, 2, 29)]}),
            ("compensated Step", saga == Decimal(1) and type(saga) is Decimal),
            ("child -> TypedDict", type(meta.get("at")) is datetime and meta.get("at") == stamped),
            ("TypedDict frozenset", meta.get("tags") == frozenset({"basic"})),
        ]
    )


def drive() -> None:
    result = dg.run(kinds, OrderId("o"), functions=FUNCTIONS)
    assert_type(result, list[str])
    run = TestRunner(functions=FUNCTIONS).run(kinds, OrderId("o"))
    assert_type(run, DurableRun[list[str]])
    assert_type(run.result(), list[str])
