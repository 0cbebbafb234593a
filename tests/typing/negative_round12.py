"""Mistakes in the shapes of tests/typing/round12.py (its names, written again here) that both
checkers must flag: every ``type: ignore`` here must be needed under mypy --strict
(``warn_unused_ignores``), and pyright, run with those comments disabled, must report an error
on each of these lines (tests/unit/test_typing.py).
"""

# ruff: noqa: F841 (the assignments are what the checkers check)

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal, LiteralString, Never, ParamSpec, TypeVar

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


class Money(pydantic.BaseModel):
    amount: Decimal
    currency: str = "EUR"


@dataclass(frozen=True)
class Order:
    id: int
    total: Money
    lines: dict[Region, Money] = field(default_factory=dict)


class Sku(msgspec.Struct, frozen=True, kw_only=True):
    code: str = msgspec.field(name="SKU")
    qty: int = 1


class Yes(msgspec.Struct, frozen=True, tag_field="kind", tag="yes"):
    by: str


class Quote(msgspec.Struct, frozen=True, rename="camel"):
    unit_price: Decimal


def refuse(reason: str) -> Never:
    raise ValueError(reason)


def greet(name: str) -> LiteralString:
    return "hello"


def make_modes(n: int) -> tuple[Mode, Mode, Mode]:
    return (None, None, None)


def make_digits(n: int) -> tuple[int, ...]:
    return (n,)


def make_gold(n: int) -> dict[Literal[Tier.GOLD], int]:
    return {}


def make_order(n: int) -> Order:
    return Order(n, Money(amount=Decimal(n)))


def sku_or_none(n: int) -> Sku | None:
    return None


def logged(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return fn(*args, **kwargs)

    return wrapper


@logged
@dg.step
def priced(code: str, *, qty: int = 2, tier: Tier = Tier.GOLD) -> Sku:
    return Sku(code=code, qty=qty)


@dg.step
@logged
def repriced(code: str, *, qty: int = 3, region: Region = Region.EU) -> Quote:
    return Quote(Decimal(qty))


def echo(value: T) -> dg.Workflow[T]:
    yield from dg.Wait(seconds=1)
    return value


def quoting(order: Order) -> dg.Workflow[dict[Region, Quote]]:
    yield from dg.Wait(seconds=1)
    return {}


def wrong(order_id: int) -> dg.Workflow[None]:
    # keyword-only arguments kept by a ParamSpec decorator: not given by position
    yield from priced("p-1", 5)  # type: ignore[call-arg]
    # ... of their declared type
    yield from priced("p-1", qty="5")  # type: ignore[arg-type]
    # ... and by their names only
    yield from priced("p-1", count=5)  # type: ignore[call-arg]
    # an enum-typed keyword is not its value
    yield from repriced("p-1", region="us")  # type: ignore[arg-type]
    # a keyword-only Struct is not built by position
    Sku("A")  # type: ignore[call-arg]
    # a renamed field keeps its Python name in code: SKU is its JSON name
    Sku(SKU="A")  # type: ignore[call-arg]
    # a tagged Struct's fields are required as declared
    Yes()  # type: ignore[call-arg]
    # a Literal takes only its values
    mode: Mode = "manual"  # type: ignore[assignment]
    # a tuple of Literals holding 0 and None is not a tuple of str
    modes: tuple[str, str, str] = yield from dg.Step(make_modes, (1,))  # type: ignore[assignment]
    # a Map of Optional results: each one is None until checked
    maybe = yield from dg.Map(sku_or_none, [0, 1])
    first: Sku = maybe.results()[0]  # type: ignore[assignment]
    # a dict keyed by a plain Enum is not keyed by its values
    Order(1, Money(amount=Decimal(1)), {"eu": Money(amount=Decimal(1))})  # type: ignore[dict-item]
    # a pydantic field typed Decimal does not take a str in code
    Money(amount="1.10")  # type: ignore[arg-type]
    # an Invoke's result is its result_type: keyed by Region, not by str
    quotes: dict[str, Quote] = yield from dg.Invoke(  # type: ignore[assignment]
        "quoting", make_order(1), result_type=dict[Region, Quote]
    )
    # a generic sub-workflow's result is the type of what it is given
    echoed: int = yield from dg.Child(echo, ("a",))  # type: ignore[assignment]
    # a LiteralString step's result is a str
    hello: int = yield from dg.Step(greet, ("ada",))  # type: ignore[assignment]
    # a frozen Struct returned by a step cannot be changed in place
    sku = yield from priced("p-1")
    sku.qty = 2  # type: ignore[misc]
    # a tuple[int, ...] is not a pair
    pair: tuple[int, int] = yield from dg.Step(make_digits, (1,))  # type: ignore[assignment]
    # a dict keyed by Literal[Tier.GOLD] is not read by another member
    gold = yield from dg.Step(make_gold, (1,))
    silver = gold[Tier.SILVER]  # type: ignore[index]
    # a callback handle's result is its result_type
    handle: dg.CallbackHandle[LiteralString] = yield dg.CreateCallback(result_type=LiteralString)
    word: date = yield from handle  # type: ignore[assignment]
    return None


def wrong_never() -> dg.Workflow[None]:
    # a step declared never to return still takes its arguments' types (the checkers read
    # what follows its yield as unreachable, so it stands alone)
    yield from dg.Step(refuse, (1,))  # type: ignore[arg-type]


def wrong_runs() -> None:
    # dg.run's input is the workflow's: an Order, not its id
    dg.run(quoting, 1)  # type: ignore[arg-type]
