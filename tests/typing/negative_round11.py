"""Mistakes in the shapes of tests/typing/round11.py (its names, written again here) that both
checkers must flag: every ``type: ignore`` here must be needed under mypy --strict
(``warn_unused_ignores``), and pyright, run with those comments disabled, must report an error
on each of these lines (tests/unit/test_typing.py).
"""

# ruff: noqa: F841 (the assignments are what the checkers check)

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Generic, NamedTuple, TypeVar
from uuid import UUID

import msgspec

import durable_gen as dg
from durable_gen.testing import TestRunner

T = TypeVar("T")


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Perm(enum.IntFlag):
    READ = 4
    WRITE = 2


class Customer(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    user_id: int
    display_name: str = "anon"


class Box(msgspec.Struct, Generic[T], frozen=True):
    item: T
    more: list[T] = []


@dataclass(frozen=True)
class Receipt:
    customer: int
    level: Level = Level.LOW
    by_token: dict[UUID, Level] = field(default_factory=dict)


class Slot(NamedTuple):
    day: date
    length: timedelta = timedelta(minutes=30)


@dataclass(frozen=True)
class Poll:
    tries: int


@dg.step
def receipt(customer: Customer) -> Receipt:
    return Receipt(customer.user_id)


@dg.step
def maybe(n: int) -> Receipt | None:
    return None


@dg.step
def boxed(n: int) -> Box[date]:
    return Box(date(2024, 1, n))


@dg.step
def perms(n: int) -> Perm:
    return Perm.READ


@dg.step
def slot(n: int) -> Slot:
    return Slot(date(2024, 1, n))


def customer_box(customer: Customer, index: int) -> Box[Customer]:
    return Box(customer)


def poll(state: Poll) -> Poll:
    return Poll(state.tries + 1)


def first_receipt() -> Receipt:
    return Receipt(1)


def receipts_of(customer: Customer) -> dg.Workflow[list[Receipt]]:
    one = yield from receipt(customer)
    return [one]


def wrong(customer: Customer) -> dg.Workflow[None]:
    # a Struct's fields are typed: user_id is an int, not its camelCase JSON form's text
    Customer(user_id="41")  # type: ignore[arg-type]
    # a frozen dataclass returned by a step cannot be changed in place
    got = yield from receipt(customer)
    got.level = Level.HIGH  # type: ignore[misc]
    # a UUID-keyed dict is not keyed by the UUID's text
    tokens: dict[str, Level] = got.by_token  # type: ignore[assignment]
    # an Optional result is None until checked
    level = (yield from maybe(1)).level  # type: ignore[union-attr]
    # a generic Struct keeps its type argument through a step
    box: Box[datetime] = yield from boxed(1)  # type: ignore[assignment]
    # an IntFlag is not an IntEnum
    lvl: Level = yield from perms(1)  # type: ignore[assignment]
    # a NamedTuple of two is not a triple
    triple: tuple[date, timedelta, int] = yield from slot(1)  # type: ignore[assignment]
    # a Map's items are the item function's first parameter: a dict is not a Struct there
    yield from dg.Map(customer_box, [{"userId": 1}])  # type: ignore[arg-type]
    # a flat Map is typed as a nested one
    flat = yield from dg.Map(customer_box, [customer], nesting="flat")
    customers: list[Customer] = flat.results()  # type: ignore[assignment]
    # a WaitForCondition's initial state is the check's state type
    yield from dg.WaitForCondition(poll, Receipt(1))  # type: ignore[arg-type]
    # a Parallel of Branches gives a BatchResult, whose results are the branches' type
    firsts = yield from dg.Parallel([dg.Branch(first_receipt, name="a")])
    polls: list[Poll] = firsts.results()  # type: ignore[assignment]
    # an Invoke's result is its result_type: an int-keyed dict is not str-keyed
    found: dict[str, Receipt] = yield from dg.Invoke(  # type: ignore[assignment]
        "lookup", customer, result_type=dict[int, Receipt]
    )
    # a callback handle's result is its result_type
    handle = yield from dg.CreateCallback(name="slot", result_type=Slot)
    day: date = yield from handle  # type: ignore[assignment]
    # a Child's arguments are the sub-workflow's: a Struct, not its JSON form
    yield from dg.Child(receipts_of, ({"userId": 1},))  # type: ignore[arg-type]
    return None


def wrong_runs() -> None:
    # what TestRunner.run returns keeps the workflow's result type
    run = TestRunner().run(receipts_of, Customer(user_id=1))
    one: Receipt = run.result()  # type: ignore[assignment]
    # dg.run's result is the workflow's: a list of receipts, not one
    single: Receipt = dg.run(receipts_of, Customer(user_id=1))  # type: ignore[assignment]
