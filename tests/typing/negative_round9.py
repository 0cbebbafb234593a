"""Mistakes in the shapes of tests/typing/round9.py (its names, written again here) that both
checkers must flag: every ``type: ignore`` here must be needed under mypy --strict
(``warn_unused_ignores``), and pyright, run with those comments disabled, must report an error
on each of these lines (tests/unit/test_typing.py).
"""

# ruff: noqa: F841 (the assignments are what the checkers check)

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal
from typing import Annotated, Generic, NamedTuple, TypedDict, TypeVar
from uuid import UUID

import msgspec

import durable_gen as dg

T = TypeVar("T")
NonNegative = Annotated[int, msgspec.Meta(ge=0)]


class Perm(enum.IntFlag):
    READ = 4


class Shipped(msgspec.Struct, frozen=True, tag="shipped", tag_field="kind"):
    tracking: str
    at: time


class Held(msgspec.Struct, frozen=True, tag="held", tag_field="kind"):
    reason: str


@dataclass
class Box(Generic[T]):
    item: T
    tags: list[str] = field(default_factory=list)


class Line(NamedTuple):
    sku: str
    qty: NonNegative = 1


class Poll(TypedDict):
    checks: int
    perms: Perm


@dg.step
def count(sku: str) -> NonNegative:
    return len(sku)


@dg.step
def status(sku: str) -> Shipped | Held:
    return Held("stock")


@dg.step
async def weigh(sku: str) -> Decimal:
    return Decimal(len(sku))


async def weigh_plain(sku: str) -> Decimal:
    return Decimal(len(sku))


def plot(sku: str) -> dg.Workflow[Decimal]:
    return (yield from weigh(sku))


def box_it(amount: Decimal) -> dg.Workflow[Box[Decimal]]:
    yield from dg.Wait(seconds=1)
    return Box(amount)


def note(sku: str) -> dg.Workflow[None]:
    yield from dg.Wait(seconds=1)


def gold() -> Decimal:
    return Decimal(3)


def check(poll: Poll) -> Poll:
    return poll


def by_count(poll: int, attempt: int) -> dg.WaitDecision:
    return dg.WaitDecision.done()


def round9(sku: str) -> dg.Workflow[list[str]]:
    yield from dg.Wait(seconds=1)
    return []


def wrong(_: None) -> dg.Workflow[None]:
    # an Annotated[int, ...] result is an int, not a str
    n: str = yield from count("a")  # type: ignore[assignment]
    # a union of tagged Structs is not one of them
    shipped: Shipped = yield from status("a")  # type: ignore[assignment]
    # a Map of sub-workflows takes items of their parameter's type
    yield from dg.Map(plot, [1, 2])  # type: ignore[arg-type]
    # a generic dataclass keeps its type argument through a Child
    box: Box[int] = yield from dg.Child(box_it, (Decimal(1),))  # type: ignore[assignment]
    # a Child's arguments are checked, for a @step function as for a sub-workflow
    yield from dg.Child(box_it, ("2.50",))  # type: ignore[arg-type]
    yield from dg.Child(weigh, ("a", "b"))  # type: ignore[arg-type]
    yield from dg.Child(note, (1,))  # type: ignore[arg-type]
    # an async def function is a step, not a workflow: Child takes it as a @step only
    yield from dg.Child(weigh_plain, ("a",))  # type: ignore[arg-type]
    # a Parallel's result is a BatchResult, not one branch's value
    price: Decimal = yield from dg.Parallel([dg.Branch(gold, name="gold")])  # type: ignore[assignment]
    # the wait strategy takes the check's state
    yield from dg.WaitForCondition(check, Poll(checks=0, perms=Perm.READ), wait_strategy=by_count)  # type: ignore[arg-type]
    # an Invoke's result has its result_type
    keyed = dict[UUID, Decimal]
    stock: dict[str, Decimal] = yield from dg.Invoke("stock", ["a"], result_type=keyed)  # type: ignore[assignment]
    # a callback handle is not its result
    lines: list[Line] = yield from dg.CreateCallback(name="lines", result_type=list[Line])  # type: ignore[assignment]
    return None


def wrong_runs() -> None:
    # the input is checked against the workflow's parameter
    dg.run(round9, 5)  # type: ignore[arg-type]
    # what a Child-able workflow returns keeps its type argument
    box: Box[str] = dg.run(box_it, Decimal(1))  # type: ignore[arg-type]
