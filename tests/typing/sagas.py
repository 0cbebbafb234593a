"""What ``compensate=`` gives type checkers: an undo takes the step's result, and the step keeps
its own result type whatever the undo declares (checked with mypy --strict and pyright).

tests/typing/negative.py holds the undos that cannot take the result, which both must flag.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, assert_type

import durable_gen as dg


@dataclass
class Booking:
    id: str
    seats: int


class Vehicle:
    pass


class Car(Vehicle):
    pass


def cancel(booking: Booking) -> str:
    return f"cancelled {booking.id}"


async def cancel_async(booking: Booking) -> None:
    return None


@dg.step(name="cancel-step", retry=dg.Retry.never())
def cancel_step(booking: Booking) -> str:
    return booking.id


def forget(result: object) -> None:
    return None


def release(booking: Booking, reason: str) -> None:
    return None


def return_car(vehicle: Vehicle) -> None:
    return None


@dg.step(compensate=cancel)
def book(seats: int) -> Booking:
    return Booking(id="b-1", seats=seats)


@dg.step(compensate=cancel, retry=dg.Retry(max_attempts=2))
async def book_async(seats: int) -> Booking:
    return Booking(id="b-2", seats=seats)


@dg.step(compensate=cancel_async)
def book_undone_async(seats: int) -> Booking:
    return Booking(id="b-3", seats=seats)


@dg.step(compensate=cancel_step)
def book_undone_by_step(seats: int) -> Booking:
    return Booking(id="b-4", seats=seats)


@dg.step(compensate=forget)
def book_forgotten(seats: int) -> Booking:
    return Booking(id="b-5", seats=seats)


@dg.step(compensate=lambda booking: None)
def book_with_lambda(seats: int) -> Booking:
    return Booking(id="b-6", seats=seats)


@dg.step(compensate=functools.partial(release, reason="saga"))
def book_with_partial(seats: int) -> Booking:
    return Booking(id="b-7", seats=seats)


@dg.step(compensate=return_car)
def rent(model: str) -> Car:
    return Car()


def reserve(seats: int) -> Booking:
    return Booking(id="r-1", seats=seats)


async def reserve_async(seats: int) -> Booking:
    return Booking(id="r-2", seats=seats)


def reserve_one() -> Booking:
    return Booking(id="r-3", seats=1)


def trip(seats: int) -> dg.Workflow[list[dg.CompensationResult]]:
    assert_type((yield from book(seats)), Booking)
    assert_type((yield from book_async(seats)), Booking)
    assert_type((yield from book_undone_async(seats)), Booking)
    assert_type((yield from book_undone_by_step(seats)), Booking)
    assert_type((yield from book_forgotten(seats)), Booking)
    assert_type((yield from book_with_lambda(seats)), Booking)
    assert_type((yield from book_with_partial(seats)), Booking)
    # An undo taking a base class types the step by what the undo takes.
    assert_type((yield from rent("mini")), Vehicle)
    assert_type((yield from dg.Step(reserve, (seats,), compensate=cancel)), Booking)
    assert_type((yield from dg.Step(reserve_async, (seats,), compensate=cancel)), Booking)
    assert_type((yield from dg.Step(book, (seats,), compensate=cancel)), Booking)
    assert_type((yield from dg.Step(book_async, (seats,), compensate=cancel)), Booking)
    assert_type((yield from dg.Step(reserve_one, compensate=cancel)), Booking)
    assert_type((yield from dg.Step(reserve, kwargs={"seats": seats}, compensate=cancel)), Booking)
    assert_type((yield from dg.Step(reserve, (seats,), None, compensate=cancel)), Booking)
    assert_type((yield from dg.Step(reserve, (seats,), compensate=cancel_async)), Booking)
    assert_type((yield from dg.Step(reserve, (seats,), compensate=cancel_step)), Booking)
    assert_type((yield from dg.Step(reserve, (seats,), compensate=forget)), Booking)
    assert_type(
        (yield from dg.Step(reserve, (seats,), compensate=lambda booking: booking.id)), Booking
    )
    undone = yield from dg.RunCompensations()
    assert_type(undone, list[dg.CompensationResult])
    assert_type(undone[0].result, Any)
    return undone
