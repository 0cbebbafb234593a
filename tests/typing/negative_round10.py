"""Mistakes in the shapes of tests/typing/round10.py (its names, written again here) that both
checkers must flag: every ``type: ignore`` here must be needed under mypy --strict
(``warn_unused_ignores``), and pyright, run with those comments disabled, must report an error
on each of these lines (tests/unit/test_typing.py).
"""

# ruff: noqa: F841 (the assignments are what the checkers check)

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date
from typing import Generic, Literal, NewType, NotRequired, TypedDict, TypeVar

import msgspec

import durable_gen as dg

T = TypeVar("T")
UserId = NewType("UserId", int)
Email = NewType("Email", str)
Size = Literal["s", "m", "l"]


class Colour(enum.Flag):
    RED = 1


class Order(TypedDict):
    id: str
    user: UserId
    due: NotRequired[date]


@dataclass
class Item:
    sku: str
    size: Size


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


class Tree(TypedDict):
    value: int
    kids: list[Tree]


@dg.step
def page_of(order: Order) -> Page[Item]:
    return Page([Item(order["id"], "m")])


@dg.step
def tagged(n: int) -> dict[str, Num | Text]:
    return {"n": Num(n)}


@dg.step
def spread(n: int) -> tuple[int, ...]:
    return tuple(range(n))


@dg.step
def typed_tree(n: int) -> Tree:
    return Tree(value=n, kids=[])


@dg.step
def email_of(user: UserId) -> Email:
    return Email(f"{user}@example.com")


def item_page(sku: str) -> dg.Workflow[Page[Item]]:
    yield from dg.Wait(seconds=1)
    return Page([Item(sku, "s")])


def red() -> Colour:
    return Colour.RED


def round10(order: Order) -> dg.Workflow[list[str]]:
    yield from dg.Wait(seconds=1)
    return []


def wrong(order: Order) -> dg.Workflow[None]:
    # a generic dataclass keeps its type argument through a step
    page: Page[str] = yield from page_of(order)  # type: ignore[assignment]
    # a dict of a union of tagged Structs is not a dict of one of them (dicts are invariant)
    nums: dict[str, Num] = yield from tagged(1)  # type: ignore[assignment]
    # a tuple[int, ...] is not a pair
    pair: tuple[int, int] = yield from spread(2)  # type: ignore[assignment]
    # a recursive TypedDict is not the dataclass of the same shape
    node: Node = yield from typed_tree(1)  # type: ignore[assignment]
    # a NewType parameter takes the NewType, not the int it wraps
    yield from email_of(5)  # type: ignore[arg-type]
    # a Literal field takes one of its values
    item = Item("a", "xl")  # type: ignore[arg-type]
    # a Map of sub-workflows takes items of their parameter's type
    yield from dg.Map(item_page, [1, 2])  # type: ignore[arg-type]
    # a Map takes a sequence: a set's order may differ in the process that replays it
    yield from dg.Map(item_page, {"a", "b"})  # type: ignore[call-overload]
    # a Child's arguments are checked against the sub-workflow's parameters
    yield from dg.Child(item_page, (1,))  # type: ignore[arg-type]
    # a Map's result is a BatchResult of the item function's result, not one page
    one: Page[Item] = yield from dg.Map(item_page, ["a"])  # type: ignore[assignment]
    # a Parallel's result is a BatchResult, not one branch's Flag
    flag: Colour = yield from dg.Parallel([dg.Branch(red, name="red")])  # type: ignore[assignment]
    # an Invoke's result has its result_type: a frozenset is not a set
    team: set[UserId] = yield from dg.Invoke("members", 1, result_type=frozenset[UserId])  # type: ignore[assignment]
    # a TypedDict value keeps its declared type: a date is not a str
    bad = Order(id="o", user=UserId(1), due="2024-01-01")  # type: ignore[typeddict-item]
    return None


def wrong_runs() -> None:
    # a TypedDict input without one of its required keys (NotRequired ones may be left out)
    dg.run(round10, Order(id="o-1", user=UserId(1)))
    dg.run(round10, Order(id="o-1"))  # type: ignore[typeddict-item]
    # what a workflow returns keeps its type argument
    page: Page[int] = dg.run(item_page, "a")  # type: ignore[arg-type]
