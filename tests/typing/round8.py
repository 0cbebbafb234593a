"""Typed programs written from the guide's "Typing workflows" and "Values and types", with shapes
the other files here do not hold: a workflow whose result is a ``BatchResult`` (returned as is,
read by ``dg.run`` and by a ``Child``), a ``Map`` of sub-workflows that run their own ``Map``
(a ``BatchResult`` of ``BatchResult``s), a ``Child`` whose result is the list of
``CompensationResult``s of its rollback, ``WaitForCondition`` over a NamedTuple and over a
Struct state with a wait strategy written as a function, an ``Invoke`` whose payload is a
dataclass and whose result is a dict keyed by an enum, callbacks typed with unions and enum-keyed
dicts, ``yield from`` of typed helpers, a Map of an ``async def`` method, Parallel of
``functools.partial`` sub-workflows and a workflow input of a tuple type.

Checked by ``mypy --strict`` and pyright's standard and strict modes (tests/unit/test_typing.py);
run by tests/unit/test_typed_corpus_round8.py on every engine path, where ``round8`` returns
what did not have, at run time, the type the checkers gave it.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Generator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple, TypedDict, assert_type

import msgspec

import durable_gen as dg


class Tier(enum.Enum):
    GOLD = "gold"
    BASIC = "basic"


@dataclass(frozen=True)
class Address:
    street: str
    zip: int = 0


class Receipt(msgspec.Struct, frozen=True):
    id: str
    amount: Decimal
    on: date


@dataclass
class Order:
    id: str
    amount: Decimal
    at: datetime


class Job(NamedTuple):
    id: str
    checks: int
    since: date


class Probe(msgspec.Struct):
    id: str
    checks: int = 0
    tiers: frozenset[Tier] = frozenset()


class Quote(TypedDict):
    tier: Tier
    price: Decimal


# --- steps and sub-workflows ---------------------------------------------------------------


@dg.step
def locate(street: str) -> Address:
    return Address(street, len(street))


@dg.step
def issue(item: str) -> Receipt:
    return Receipt(f"r-{item}", Decimal("1.10"), date(2024, 2, 29))


def forget(receipt: object) -> None:
    return None


@dg.step(compensate=forget)
def reserve(item: str) -> Receipt:
    return Receipt(f"res-{item}", Decimal("2.50"), date(2024, 3, 1))


def release(receipt: Receipt) -> Decimal:
    return receipt.amount


@dg.step(compensate=release)
def hold(item: str) -> Receipt:
    return Receipt(f"hold-{item}", Decimal("0.30"), date(2024, 3, 2))


def locate_all(streets: list[str]) -> dg.Workflow[dg.BatchResult[Address]]:
    batch = yield from dg.Map(locate, streets)
    return batch


def issue_group(items: list[str]) -> dg.Workflow[dg.BatchResult[Receipt]]:
    batch = yield from dg.Map(issue, items, max_concurrency=2)
    return batch


def book_then_undo(items: list[str]) -> dg.Workflow[tuple[list[Decimal], list[str]]]:
    """A rollback in a child context: what the undos returned, and what was not a Decimal.

    A ``CompensationResult``'s ``result`` is ``Any`` to the codec: returned as it is, as a
    ``Workflow[list[dg.CompensationResult]]``, it would come back as plain JSON (the guide's
    "With no declared type"); the child returns the values in their type instead.
    """
    for item in items:
        yield from hold(item)
    undone = yield from dg.RunCompensations()
    assert_type(undone, list[dg.CompensationResult])
    wrong: list[str] = []
    for result in undone:
        wrong += _wrong("compensation", result, dg.CompensationResult)
        wrong += _wrong("compensation result", result.result, Decimal)
    return [result.result for result in undone], wrong


def check_job(job: Job) -> Job:
    return Job(job.id, job.checks + 1, job.since)


def job_done(job: Job, attempt: int) -> dg.WaitDecision:
    return dg.WaitDecision.done() if job.checks >= 2 else dg.WaitDecision.again(1)


async def probe(state: Probe) -> Probe:
    return Probe(state.id, state.checks + 1, state.tiers | {Tier.GOLD})


def quote(order: Order) -> dict[Tier, Decimal]:
    # an Invoke target on the embedded engine: its payload is decoded into ``Order``
    return {Tier.GOLD: order.amount, Tier.BASIC: order.amount / 2}


def ask(callback_id: str) -> None:
    return None


class Pricing:
    def __init__(self, factor: Decimal) -> None:
        self.factor = factor

    async def price(self, item: str) -> Decimal:
        return self.factor * len(item)


def tiered(tier: Tier, amount: Decimal) -> dg.Workflow[Quote]:
    yield from dg.Wait(seconds=1, name=f"quote-{tier.value}")
    return Quote(tier=tier, price=amount)


def subtotal(items: list[str]) -> Generator[dg.Command[Any], Any, Decimal]:
    """A helper run with ``yield from`` in the caller's context, typed as a generator."""
    total = Decimal(0)
    for item in items:
        receipt = yield from issue(item)
        total += receipt.amount
    return total


# --- the workflow ----------------------------------------------------------------------------


def _wrong(name: str, value: object, *types: type) -> list[str]:
    ok = any(type(value) is t for t in types)
    return [] if ok else [f"{name}: {type(value).__name__} {value!r}"]


@dg.workflow
def round8(start: tuple[Tier, Decimal, Address | None]) -> dg.Workflow[list[str]]:
    """Returns what did not have, at run time, the type the checkers gave it."""
    wrong: list[str] = []
    tier, amount, where = start
    assert_type(tier, Tier)
    assert_type(amount, Decimal)
    assert_type(where, Address | None)
    wrong += _wrong("input tier", tier, Tier) + _wrong("input amount", amount, Decimal)
    wrong += _wrong("input address", where, Address, type(None))

    located = yield from dg.Child(locate_all, (["main", "high"],), name="locate")
    assert_type(located, dg.BatchResult[Address])
    wrong += _wrong("child batch", located, dg.BatchResult)
    for address in located.results():
        wrong += _wrong("child batch item", address, Address)

    groups = yield from dg.Map(issue_group, [["a"], ["b", "c"]], name="groups")
    assert_type(groups, dg.BatchResult[dg.BatchResult[Receipt]])
    for group in groups.results():
        wrong += _wrong("inner batch", group, dg.BatchResult)
        for receipt in group.results():
            wrong += _wrong("inner receipt", receipt, Receipt)
            wrong += _wrong("inner receipt amount", receipt.amount, Decimal)
            wrong += _wrong("inner receipt date", receipt.on, date)

    released, rollback_wrong = yield from dg.Child(book_then_undo, (["x", "y"],), name="saga")
    assert_type(released, list[Decimal])
    wrong += rollback_wrong
    for amount_released in released:
        wrong += _wrong("released", amount_released, Decimal)

    job = yield from dg.WaitForCondition(
        check_job, Job("j", 0, date(2024, 1, 1)), wait_strategy=job_done, name="job"
    )
    assert_type(job, Job)
    wrong += _wrong("job", job, Job) + _wrong("job date", job.since, date)

    probed = yield from dg.WaitForCondition(
        probe,
        Probe("p"),
        wait_strategy=dg.WaitStrategy(until=lambda s: s.checks >= 2, delay=1),
        name="probe",
    )
    assert_type(probed, Probe)
    wrong += _wrong("probe", probed, Probe)
    for member in probed.tiers:
        wrong += _wrong("probe tier", member, Tier)

    order = Order("o-1", Decimal("10.00"), datetime(2024, 1, 1, 12))
    quoted = yield from dg.Invoke("quote", order, name="quote", result_type=dict[Tier, Decimal])
    assert_type(quoted, dict[Tier, Decimal])
    for key, value in quoted.items():
        wrong += _wrong("quote key", key, Tier) + _wrong("quote value", value, Decimal)

    handle = yield from dg.CreateCallback(name="prices", result_type=dict[Tier, Decimal])
    assert_type(handle, dg.CallbackHandle[dict[Tier, Decimal]])
    prices = yield from handle
    assert_type(prices, dict[Tier, Decimal])
    for key, value in prices.items():
        wrong += _wrong("callback key", key, Tier) + _wrong("callback value", value, Decimal)

    answered: Address | None = yield dg.WaitForCallback(
        ask, name="address", result_type=Address | None
    )
    wrong += _wrong("callback address", answered, Address, type(None))

    pricing = Pricing(Decimal("0.5"))
    priced = yield from dg.Map(pricing.price, ["ab", "abc"], name="prices")
    assert_type(priced, dg.BatchResult[Decimal])
    for price in priced.results():
        wrong += _wrong("priced", price, Decimal)

    quotes = yield from dg.Parallel(
        [
            functools.partial(tiered, Tier.GOLD, Decimal("3")),
            functools.partial(tiered, Tier.BASIC, Decimal("1")),
        ],
        name="tiers",
    )
    assert_type(quotes, dg.BatchResult[Quote])
    for q in quotes.results():
        wrong += _wrong("quote tier", q["tier"], Tier) + _wrong("quote price", q["price"], Decimal)

    total = yield from subtotal(["d", "e"])
    assert_type(total, Decimal)
    wrong += _wrong("subtotal", total, Decimal)

    yield from reserve("z")
    return wrong


@dg.workflow
def batch_result(streets: list[str]) -> dg.Workflow[dg.BatchResult[Address]]:
    """A workflow whose own result is a BatchResult: ``dg.run`` gives it back typed."""
    batch = yield from dg.Map(locate, streets)
    yield from dg.Wait(seconds=1)
    return batch


FUNCTIONS = {"quote": quote}
START = (Tier.GOLD, Decimal("1.5"), Address("main", 3))
PRICES = {"gold": "2.50", "basic": "1.25"}  # a sender's JSON: decoded into dict[Tier, Decimal]
ADDRESS = {"street": "high", "zip": 7}


def typed_calls() -> None:
    start = (Tier.GOLD, Decimal("1.5"), None)
    assert_type(dg.run(round8, start, skip_time=True), list[str])
    assert_type(dg.run(batch_result, ["a"]), dg.BatchResult[Address])
    assert_type(dg.run(batch_result, ["a"]).results(), list[Address])
