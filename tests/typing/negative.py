"""Mistakes mypy must flag. Every ``type: ignore`` here must be needed (``warn_unused_ignores``
is on under ``--strict``), so a typing change that stopped catching one fails the check.
"""

# ruff: noqa: F841 (the assignments are what mypy checks)

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import msgspec

import durable_gen as dg
from durable_gen.testing import TestRunner, assert_deterministic, replay


@dg.step
def charge(order_id: str, amount: int) -> str:
    return order_id


def plain(order_id: str) -> str:  # not a generator function: not a workflow
    return order_id


def unit_test_wrong() -> None:
    total: int = charge.fn("o-1", 5)  # type: ignore[assignment]  # .fn keeps the function's types
    charge.fn("o-1", "5")  # type: ignore[arg-type]
    body: bytes = fetch.fn("u")  # type: ignore[assignment]  # a coroutine, to await


@dg.step
async def fetch(url: str) -> bytes:
    return url.encode()


def run_wrong() -> None:
    run = TestRunner().run(place, "o-1")
    total: int = run.result()  # type: ignore[assignment]
    TestRunner().run(plain, "o-1")  # type: ignore[arg-type]
    report = replay(place, run.export())
    count: int = report.result  # type: ignore[assignment]  # ReplayReport[str]: a str
    replay(plain, run.export())  # type: ignore[arg-type]


def input_wrong() -> None:
    # The input is checked against the workflow's parameter (a dict is the JSON form of one).
    dg.run(place, 5)  # type: ignore[arg-type]
    dg.run(place)  # type: ignore[arg-type]  # no input for a workflow that needs one
    dg.run(place, None)  # type: ignore[misc]
    dg.run(shipped, ["a", 1])  # type: ignore[arg-type]
    dg.run(lambda x: x)  # type: ignore[arg-type, return-value]  # not a workflow
    TestRunner().run(place, 5)  # type: ignore[arg-type]
    TestRunner().start(place)  # type: ignore[arg-type]
    TestRunner().run(place, "o-1", execution_name=1)  # type: ignore[call-overload]
    assert_deterministic(place, 5)  # type: ignore[arg-type]
    assert_deterministic(place)  # type: ignore[arg-type]
    assert_deterministic(plain, "o-1")  # type: ignore[arg-type]  # not a workflow
    assert_deterministic(place, "o-1")  # the right input


def shipped(items: list[str]) -> dg.Workflow[int]:
    yield from dg.Wait(seconds=1)
    return len(items)


def place(order_id: str) -> dg.Workflow[str]:
    receipt = yield from charge(order_id, 5)
    return receipt


def wrong() -> dg.Workflow[int]:
    receipt: int = yield from charge("o-1", 5)  # type: ignore[assignment]
    yield from charge("o-1", "5")  # type: ignore[arg-type]
    yield from dg.Step(len, (5,))  # type: ignore[arg-type]  # args checked against fn's
    yield from dg.Step(charge, ("o-1",))  # type: ignore[arg-type]  # a @step function's too
    labels = yield from dg.Map(lambda item: str(item), [1])
    first: int = labels.results()[0]  # type: ignore[assignment]
    now: str = yield from dg.Now()  # type: ignore[assignment]
    untyped = yield from dg.Invoke("tax", 5)  # type: ignore[var-annotated]
    maybe = yield from dg.Invoke("tax", 5, result_type=int | None)  # type: ignore[var-annotated]
    handle = yield from dg.CreateCallback(result_type=Decimal | None)  # type: ignore[var-annotated]
    kind: int = yield from dg.WaitForCallback(lambda _: None, result_type=str)  # type: ignore[assignment]
    return "done"  # type: ignore[return-value]


# Values of declared types (as in values.py), misused: each must be flagged.
@dataclass
class Address:
    street: str


class Card(msgspec.Struct, tag=True):
    number: str


class Wire(msgspec.Struct, tag=True):
    iban: str


@dg.step
def discount(address: Address) -> Decimal | None:
    return None


@dg.step
def payment(card: bool) -> Card | Wire:
    return Card("1") if card else Wire("2")


@dg.step
def moved(address: Address) -> Address:
    return address


def wrong_strategy(state: Address, attempt: int) -> bool:  # not a WaitDecision
    return attempt > 3


def home(street: str) -> dg.Workflow[Address]:
    yield from dg.Wait(seconds=1)
    return Address(street)


def misused() -> dg.Workflow[None]:
    address = yield from dg.Child(home, ("main",))
    street: int = address.street  # type: ignore[assignment]
    cut = yield from discount(address)
    total = cut + 1  # type: ignore[operator]
    paid_by = yield from payment(True)
    number: str = paid_by.number  # type: ignore[union-attr]
    yield from discount("main")  # type: ignore[arg-type]
    homes = yield from dg.Map(home, ["a"])
    streets: list[str] = homes.results()  # type: ignore[assignment]
    cuts = yield from dg.Map(discount, [Address("a")])  # a @step function's items: Decimal | None
    cut_total: Decimal = cuts.results()[0]  # type: ignore[assignment]
    wrong: Card = yield from dg.Invoke("f", 1, result_type=Address)  # type: ignore[assignment]
    yield from dg.Parallel([home, 5])  # type: ignore[arg-type]
    yield from dg.WaitForCondition(moved, "main")  # type: ignore[arg-type]
    yield from dg.WaitForCondition(moved, wait_strategy=wrong_strategy)  # type: ignore[misc, arg-type]
    # a WaitStrategy of another state (pyright also types an inline one's `s`: test_typing.py)
    of_int = dg.WaitStrategy[int](until=lambda s: s > 1)
    yield from dg.WaitForCondition(moved, Address("a"), wait_strategy=of_int)  # type: ignore[arg-type]
    yield from dg.Child(Address, ("main",))  # type: ignore[arg-type]
    yield from dg.Child(home, (1,))  # type: ignore[arg-type]  # args checked against home's
    yield from dg.Child(home, ("main", "extra"))  # type: ignore[arg-type]
    # args left out for a function that needs them: it would be called with none
    yield from dg.Step(plain)  # type: ignore[arg-type]
    yield from dg.Step(charge, name="charge")  # type: ignore[arg-type]
    yield from dg.Child(home)  # type: ignore[arg-type]
    yield from dg.Child(discount, name="discount")  # type: ignore[arg-type]
    yield from dg.Child(discount, ("main",))  # type: ignore[arg-type]  # a @step child too
    yield from dg.Map(discount, ["main"])  # type: ignore[arg-type]  # items of another type
    yield from dg.Map(home, [1])  # type: ignore[arg-type]


def options_wrong() -> dg.Workflow[None]:
    # Options of the wrong kind, as a user might write them from memory.
    yield from dg.Step(charge, ["o-1", 5])  # type: ignore[call-overload]  # args: a tuple
    yield from dg.Child(home, "main")  # type: ignore[call-overload]
    yield from dg.Parallel(home, home)  # type: ignore[call-overload]  # branches: one list
    yield from dg.Map(home, ["a"], item_namer=lambda item: item)  # type: ignore[arg-type, misc]
    yield from dg.Step(charge, ("o-1", 5), timeout="5")  # type: ignore[call-overload]
    yield from dg.Step(charge, ("o-1", 5), retry=3)  # type: ignore[call-overload]
    yield from dg.Step(charge, ("o-1", 5), semantics="once")  # type: ignore[call-overload]
    yield from dg.Map(home, ["a"], completion=0.5)  # type: ignore[call-overload]
    yield from dg.Map(home, ["a"], nesting="deep")  # type: ignore[call-overload]
    yield from dg.Child(home, ("a",), virtual="yes")  # type: ignore[call-overload]
    yield from dg.Wait(seconds=1.5)  # type: ignore[arg-type]  # whole seconds
    yield from dg.WaitForCallback(lambda: None)  # type: ignore[arg-type, misc]
    yield from dg.Step(charge, ("o-1", 5), name=5)  # type: ignore[call-overload]


def on_exception(exc: Exception) -> bool:
    return True


# retry_if gets a BaseException (a CancelledError the step raised is one): the guide says so
@dg.step(retry=dg.Retry(retry_if=on_exception))  # type: ignore[arg-type]
def retried(order_id: str) -> str:
    return order_id


# compensate= undos that cannot take the step's result
def cancel_by_id(booking_id: str) -> None:
    return None


@dg.step(compensate=cancel_by_id)  # type: ignore[arg-type]  # the result is an int
def book_seats(seats: int) -> int:
    return seats


@dg.step(compensate=cancel_by_id, retry=dg.Retry.never())  # type: ignore[arg-type]
async def book_seats_async(seats: int) -> int:
    return seats


@dg.step(name="cancel")
def cancel_step(booking_id: str) -> None:
    return None


@dg.step(compensate=cancel_step)  # type: ignore[arg-type]  # a @step undo is checked too
def book_more(seats: int) -> int:
    return seats


def seats_of(n: int) -> int:
    return n


async def seats_async(n: int) -> int:
    return n


@dg.step
def seats_step(n: int) -> int:
    return n


def compensations_wrong() -> dg.Workflow[None]:
    yield from dg.Step(seats_of, (1,), compensate=cancel_by_id)  # type: ignore[arg-type]
    yield from dg.Step(seats_async, (1,), compensate=cancel_by_id)  # type: ignore[arg-type]
    yield from dg.Step(seats_step, (1,), compensate=cancel_by_id)  # type: ignore[arg-type, misc]
    yield from dg.Step(seats_of, kwargs={"n": 1}, compensate=cancel_by_id)  # type: ignore[arg-type]
    yield from dg.Step(seats_of, (1,), compensate=cancel_step)  # type: ignore[arg-type]
