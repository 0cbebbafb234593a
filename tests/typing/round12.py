"""Typed programs written from the guide's "Typing workflows" and "Values and types", with shapes
the other files here do not hold: steps declared ``-> Never`` and ``-> NoReturn`` (which always
raise), a step and a callback typed ``LiteralString``, ``Literal`` mixing strings, ints and
None, a ``Literal`` of a StrEnum member as a dict key, ``Annotated`` around a ``tuple[..., ...]``
of ``Annotated`` ints, ``tuple[Struct, ...]`` and ``tuple[Enum, ...]`` values, a union of
Structs told apart by a custom tag field (a step's result, a dict's values, a callback's
``result_type=``), ``Optional`` results of a ``Map`` (``BatchResult[Sku | None]``), a
keyword-only msgspec Struct with defaults, a ``default_factory`` and fields renamed one by one,
pydantic models nested in a frozen dataclass keyed by a plain ``Enum``, ``@dg.step``s wrapped
in ParamSpec decorators of ours with keyword-only arguments and their defaults (one whose
wrapper returns ``R | None``, one an ``async def`` wrapper around a plain def), a generic
sub-workflow run as a ``Child`` of ints, and an ``Invoke`` of another workflow whose result (a
dict keyed by an enum, of Structs) is typed across the two executions, and a generic
TypedDict, a generic NamedTuple and a generic pydantic model, each given its type argument.

Checked by ``mypy --strict`` and pyright's standard and strict modes (tests/unit/test_typing.py);
run by tests/unit/test_typed_corpus_round12.py on every engine path, where ``round12`` returns
what did not come back equal to what was sent, or of another type than the checkers gave it.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import (
    Annotated,
    Any,
    Generic,
    Literal,
    LiteralString,
    NamedTuple,
    Never,
    NoReturn,
    ParamSpec,
    TypedDict,
    TypeVar,
    assert_type,
)

import msgspec
import pydantic

import durable_gen as dg

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class Tier(enum.StrEnum):
    GOLD = enum.auto()
    SILVER = enum.auto()


class Region(enum.Enum):
    EU = "eu"
    US = "us"


Mode = Literal["auto", 0, None]
Small = Annotated[int, msgspec.Meta(ge=0, le=9)]
Digits = Annotated[tuple[Small, ...], msgspec.Meta(max_length=3)]


class Money(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True)
    amount: Decimal
    currency: str = "EUR"


@dataclass(frozen=True)
class Order:
    id: int
    total: Money
    lines: dict[Region, Money] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


class Sku(msgspec.Struct, frozen=True, kw_only=True):
    code: str = msgspec.field(name="SKU")
    qty: int = 1
    note: str | None = msgspec.field(default=None, name="n")
    tags: list[str] = msgspec.field(default_factory=list)


class Reply(msgspec.Struct, frozen=True, tag_field="kind"):
    pass


class Yes(Reply, frozen=True, tag="yes"):
    by: str


class No(Reply, frozen=True, tag="no"):
    why: str = "?"


class Quote(msgspec.Struct, frozen=True, rename="camel"):
    unit_price: Decimal
    tier: Tier = Tier.SILVER
    valid_on: tuple[date, ...] = ()


class Bundle(TypedDict, Generic[T]):
    head: T
    rest: list[T]


class Pair(NamedTuple, Generic[T]):
    first: T
    seen: int = 0


@dataclass(frozen=True)
class Line:
    price: Decimal
    tier: Tier = Tier.GOLD


class Page(pydantic.BaseModel, Generic[T]):
    items: list[T]
    by_region: dict[Region, T] = {}


# --- steps and sub-workflows -----------------------------------------------------------------


def refuse(reason: str) -> Never:
    raise ValueError(reason)


def give_up(reason: str) -> NoReturn:
    raise LookupError(reason)


def greet(name: str) -> LiteralString:
    return "hello" if name else "nobody"


def make_modes(n: int) -> tuple[Mode, Mode, Mode]:
    return ("auto", 0, None) if n else (None, None, None)


def make_digits(n: int) -> Digits:
    return (n, 0, 9)


def make_gold(n: int) -> dict[Literal[Tier.GOLD], tuple[Tier, ...]]:
    return {Tier.GOLD: (Tier.SILVER, Tier.GOLD)} if n else {}


def make_order(n: int) -> Order:
    return Order(
        n,
        Money(amount=Decimal("10.10")),
        {
            Region.EU: Money(amount=Decimal("-0.00")),
            Region.US: Money(amount=Decimal("1"), currency="USD"),
        },
        ("a", "b"),
    )


order = dg.step(make_order)


def make_replies(n: int) -> dict[str, Yes | No]:
    return {"first": Yes(by=f"u-{n}"), "second": No()}


replies = dg.step(make_replies)


def make_skus(n: int) -> tuple[Sku, ...]:
    return (Sku(code="A"), Sku(code="B", qty=n, note="gift", tags=["x"]))


skus = dg.step(make_skus)


def make_generics(n: int) -> tuple[Bundle[Sku], Pair[Quote], Page[Line]]:
    return (
        {"head": Sku(code="h"), "rest": [Sku(code="r", qty=n)]},
        Pair(Quote(Decimal("0.5")), n),
        Page[Line](
            items=[Line(Decimal(n))], by_region={Region.US: Line(Decimal("1.5"), Tier.SILVER)}
        ),
    )


generics = dg.step(make_generics)


def sku_or_none(n: int) -> Sku | None:
    return None if n % 2 else Sku(code=f"s-{n}", qty=n)


def logged(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return fn(*args, **kwargs)

    return wrapper


@logged
@dg.step
def priced(code: str, *, qty: int = 2, tier: Tier = Tier.GOLD) -> Sku:
    return Sku(code=code, qty=qty, note=tier.value)


@dg.step
@logged
def repriced(code: str, *, qty: int = 3, region: Region = Region.EU) -> Quote:
    return Quote(Decimal(qty), Tier.GOLD, (date(2024, 2, 29),) if region is Region.US else ())


def or_none(fn: Callable[P, R]) -> Callable[P, R | None]:
    # no functools.wraps: the wrapper's own annotations say what it returns
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return fn(*args, **kwargs)
        except LookupError:
            return None

    return wrapper


@dg.step
@or_none
def find(code: str, *, qty: int = 1) -> Sku:
    if not code:
        raise LookupError("no code")
    return Sku(code=code, qty=qty)


def awaited(fn: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return fn(*args, **kwargs)

    return wrapper


@dg.step
@awaited
def quote_later(code: str, *, qty: int = 4) -> Quote:
    return Quote(Decimal(qty), Tier.GOLD)


def echo(value: T) -> dg.Workflow[T]:
    yield from dg.Wait(seconds=1)
    return value


@dg.workflow
def quoting(order: Order) -> dg.Workflow[dict[Region, Quote]]:
    """Invoked by ``round12`` as another execution."""
    if type(order) is not Order or type(order.total) is not Money:
        raise TypeError(f"the input came as {type(order).__name__}")
    quote = yield from repriced(f"o-{order.id}", region=Region.US)
    return {region: quote for region in order.lines}


def hand_over(callback_id: str) -> None:
    return None


# --- the workflow ----------------------------------------------------------------------------


def _wrong(name: str, value: object, expected: object) -> list[str]:
    if value == expected and type(value) is type(expected):
        return []
    return [f"{name}: {type(value).__name__} {value!r}"]


@dg.workflow
def round12(order_id: int) -> dg.Workflow[list[str]]:
    """Returns what did not come back equal to what was sent, or of another type."""
    wrong: list[str] = []

    try:
        yield from dg.Step(refuse, ("no stock",), name="refuse", retry=dg.Retry.never())
    except dg.StepFailedError as exc:
        wrong += _wrong("never", (exc.error_type, exc.error_message), ("ValueError", "no stock"))
    try:
        yield from dg.Step(give_up, ("gone",), name="give up", retry=dg.Retry.never())
    except dg.StepFailedError as exc:
        wrong += _wrong("noreturn", (exc.error_type, exc.error_message), ("LookupError", "gone"))

    hello = yield from dg.Step(greet, ("ada",), name="greet")
    assert_type(hello, LiteralString)
    wrong += _wrong("literal string", hello, "hello")

    modes = yield from dg.Step(make_modes, (1,), name="modes")
    assert_type(modes, tuple[Mode, Mode, Mode])
    wrong += _wrong("modes", modes, make_modes(1))

    digits = yield from dg.Step(make_digits, (7,), name="digits")
    assert_type(digits, tuple[int, ...])
    wrong += _wrong("digits", digits, (7, 0, 9))

    gold = yield from dg.Step(make_gold, (1,), name="gold")
    assert_type(gold, dict[Literal[Tier.GOLD], tuple[Tier, ...]])
    wrong += _wrong("gold", gold, make_gold(1))
    for key, tiers in gold.items():
        wrong += _wrong("gold key", type(key), Tier)
        wrong += [f"gold tier: {t!r}" for t in tiers if type(t) is not Tier]

    got = yield from order(order_id)
    assert_type(got, Order)
    wrong += _wrong("order", got, make_order(order_id))
    wrong += _wrong("order total", type(got.total), Money)
    for region, money in got.lines.items():
        wrong += _wrong("order region", type(region), Region)
        wrong += _wrong("order money", type(money), Money)
        wrong += _wrong("order amount", type(money.amount), Decimal)

    answers = yield from replies(order_id)
    assert_type(answers, dict[str, Yes | No])
    wrong += _wrong("replies", answers, make_replies(order_id))

    parts = yield from skus(4)
    assert_type(parts, tuple[Sku, ...])
    wrong += _wrong("skus", parts, make_skus(4))

    bundle, pair, page = yield from generics(3)
    assert_type(page, Page[Line])
    wrong += _wrong("generics", (bundle, pair, page), make_generics(3))
    wrong += _wrong("bundle head", type(bundle["head"]), Sku)
    wrong += _wrong("pair first", type(pair.first), Quote)
    wrong += [
        f"page: {v!r}" for v in [*page.items, *page.by_region.values()] if type(v) is not Line
    ]

    maybe = yield from dg.Map(sku_or_none, [0, 1, 2], name="maybe")
    assert_type(maybe, dg.BatchResult[Sku | None])
    wrong += _wrong("maybe", maybe.results(), [sku_or_none(0), None, sku_or_none(2)])
    wrong += _wrong("maybe items", [i.status for i in maybe.items], ["SUCCEEDED"] * 3)

    failing = yield from dg.Map(
        refuse, ["a", "b"], name="refusing", completion=dg.Completion.all_completed()
    )
    assert_type(failing, dg.BatchResult[Never])
    wrong += _wrong("refusing", [i.status for i in failing.items], ["FAILED", "FAILED"])
    wrong += _wrong(
        "refusing errors",
        [i.error.error_message if i.error else None for i in failing.items],
        ["a", "b"],
    )

    one = yield from priced("p-1", qty=5)
    assert_type(one, Sku)
    wrong += _wrong("priced", one, Sku(code="p-1", qty=5, note="gold"))
    two = yield from priced("p-2", tier=Tier.SILVER)
    wrong += _wrong("priced defaults", two, Sku(code="p-2", qty=2, note="silver"))
    quote = yield from repriced("p-3", region=Region.US)
    assert_type(quote, Quote)
    wrong += _wrong("repriced", quote, Quote(Decimal(3), Tier.GOLD, (date(2024, 2, 29),)))

    found = yield from find("f-1", qty=2)
    assert_type(found, Sku | None)
    wrong += _wrong("found", found, Sku(code="f-1", qty=2))
    missing = yield from find("")
    wrong += _wrong("missing", missing, None)
    found_all = yield from dg.Map(find, ["m-1", ""], name="find")
    assert_type(found_all, dg.BatchResult[Sku | None])
    wrong += _wrong("found all", found_all.results(), [Sku(code="m-1"), None])
    later = yield from quote_later("q-1")
    assert_type(later, Quote)
    wrong += _wrong("quote later", later, Quote(Decimal(4), Tier.GOLD))

    echoed = yield from dg.Child(echo, (order_id,), name="echo")
    assert_type(echoed, int)
    wrong += _wrong("echo", echoed, order_id)

    quotes = yield from dg.Invoke(
        "quoting", make_order(order_id), name="quoting", result_type=dict[Region, Quote]
    )
    assert_type(quotes, dict[Region, Quote])
    expected = Quote(Decimal(3), Tier.GOLD, (date(2024, 2, 29),))
    wrong += _wrong("quoting", quotes, {Region.EU: expected, Region.US: expected})
    wrong += [f"quoting key: {k!r}" for k in quotes if type(k) is not Region]

    sku = yield from dg.WaitForCallback(hand_over, name="sku", result_type=Sku)
    assert_type(sku, Sku)
    wrong += _wrong("callback sku", sku, Sku(code="X", qty=3, note="n1"))

    reply: Yes | No = yield dg.WaitForCallback(hand_over, name="reply", result_type=Yes | No)
    wrong += _wrong("callback reply", reply, No(why="late"))

    # a type form rather than a class: the variable says the type (pyright strict)
    handle: dg.CallbackHandle[LiteralString] = yield dg.CreateCallback(
        name="word", result_type=LiteralString
    )
    word = yield from handle
    assert_type(word, LiteralString)
    wrong += _wrong("callback word", word, "ok")
    return wrong


FUNCTIONS = {"quoting": quoting}
ANSWERS: dict[str, object] = {
    "sku": {"SKU": "X", "qty": 3, "n": "n1"},
    "reply": {"kind": "no", "why": "late"},
    "word": "ok",
}


def typed_calls() -> None:
    assert_type(dg.run(round12, 1, functions=FUNCTIONS, skip_time=True), list[str])
    assert_type(dg.run(echo, 5), int)
    assert_type(dg.run(quoting, make_order(1)), dict[Region, Quote])
