"""Mistakes in the shapes of tests/typing/round8.py (its names, written again here) that both
checkers must flag: every ``type: ignore`` here must be needed under mypy --strict
(``warn_unused_ignores``), and pyright, run with those comments disabled, must report an error
on each of these lines (tests/unit/test_typing.py).
"""

# ruff: noqa: F841 (the assignments are what the checkers check)

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple

import msgspec

import durable_gen as dg


class Tier(enum.Enum):
    GOLD = "gold"


@dataclass(frozen=True)
class Address:
    street: str


class Receipt(msgspec.Struct, frozen=True):
    id: str
    amount: Decimal
    on: date


class Job(NamedTuple):
    id: str
    checks: int
    since: date


class Probe(msgspec.Struct):
    id: str


@dg.step
def locate(street: str) -> Address:
    return Address(street)


@dg.step
def issue(item: str) -> Receipt:
    return Receipt(item, Decimal(1), date(2024, 1, 1))


def locate_all(streets: list[str]) -> dg.Workflow[dg.BatchResult[Address]]:
    return (yield from dg.Map(locate, streets))


def issue_group(items: list[str]) -> dg.Workflow[dg.BatchResult[Receipt]]:
    return (yield from dg.Map(issue, items))


def check_job(job: Job) -> Job:
    return job


def tiered(tier: Tier, amount: Decimal) -> dg.Workflow[Decimal]:
    yield from dg.Wait(seconds=1)
    return amount


def round8(start: tuple[Tier, Decimal, Address | None]) -> dg.Workflow[list[str]]:
    yield from dg.Wait(seconds=1)
    return []


def batch_result(streets: list[str]) -> dg.Workflow[dg.BatchResult[Address]]:
    return (yield from dg.Map(locate, streets))


def ask(callback_id: str) -> None:
    return None


def release_address(address: Address) -> None:
    return None


def wrong(_: None) -> dg.Workflow[None]:
    # a Child's arguments are checked against the sub-workflow's parameters
    yield from dg.Child(locate_all, ([1, 2],))  # type: ignore[arg-type]
    # a BatchResult of one type is not a BatchResult of another
    receipts: dg.BatchResult[Receipt] = yield from dg.Map(locate, ["a"])  # type: ignore[assignment]
    # a Map of sub-workflows takes items of their parameter's type
    yield from dg.Map(issue_group, ["a", "b"])  # type: ignore[arg-type]
    # a BatchResult of BatchResults: the inner results are Receipts, not Addresses
    groups = yield from dg.Map(issue_group, [["a"]])
    inner: list[Address] = groups.results()[0].results()  # type: ignore[assignment]
    # the state of a WaitForCondition is the check's, and so is the wait strategy's
    yield from dg.WaitForCondition(check_job, Probe("p"))  # type: ignore[arg-type]
    job: Probe = yield from dg.WaitForCondition(check_job, Job("j", 0, date(2024, 1, 1)))  # type: ignore[assignment]
    # a callback's result has its result_type
    kind = dict[Tier, Decimal]
    prices: dict[str, Decimal] = yield from dg.WaitForCallback(ask, result_type=kind)  # type: ignore[assignment]
    # a Parallel of partial sub-workflows: their arguments are checked too
    yield from dg.Parallel([functools.partial(tiered, Tier.GOLD, 3.5)])  # type: ignore[arg-type]
    return None


def wrong_runs() -> None:
    # the input of a workflow taking a tuple is checked member by member
    dg.run(round8, (Tier.GOLD, 1.5, None))  # type: ignore[arg-type]
    # what a workflow returning a BatchResult gives back keeps its item type
    first: Receipt = dg.run(batch_result, ["a"]).results()[0]  # type: ignore[assignment]


# an undo that cannot take the step's result
@dg.step(compensate=release_address)  # type: ignore[arg-type]
def reserve_receipt(item: str) -> Receipt:
    return Receipt(item, Decimal(1), date(2024, 1, 1))
