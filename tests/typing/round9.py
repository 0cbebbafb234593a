"""Typed programs written from the guide's "Typing workflows" and "Values and types", with shapes
the other files here do not hold: ``Annotated`` types carrying ``msgspec.Meta`` constraints (a
workflow input, a step's return, a Map item's result, inside a list), Structs with a custom tag
field told apart in a union (a step's result, a callback's ``result_type=``), an ``array_like``
Struct through a ``Map`` of sub-workflows, a generic dataclass parametrised by the step that
returns it (``Box[Decimal]``) through a ``Child``, an ``Invoke`` answered with a dict keyed by
UUID, a ``time`` with an offset, an ``IntFlag`` of several members, a NamedTuple with a default,
a ``Child`` that returns nothing (``Workflow[None]``), a ``Parallel`` of ``Branch``es of one
type, a ``WaitForCondition`` over a ``TypedDict`` state, and an ``async def`` step given to
``Child`` as a ``@step``.

Checked by ``mypy --strict`` and pyright's standard and strict modes (tests/unit/test_typing.py);
run by tests/unit/test_typed_corpus_round9.py on every engine path, where ``round9`` returns
what did not have, at run time, the type the checkers gave it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, time, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Generic, NamedTuple, TypedDict, TypeVar, assert_type
from uuid import UUID

import msgspec

import durable_gen as dg

T = TypeVar("T")

NonNegative = Annotated[int, msgspec.Meta(ge=0)]
Sku = Annotated[str, msgspec.Meta(min_length=1, max_length=8)]


class Perm(enum.IntFlag):
    READ = 4
    WRITE = 2
    RUN = 1


class Shipped(msgspec.Struct, frozen=True, tag="shipped", tag_field="kind"):
    tracking: str
    at: time


class Held(msgspec.Struct, frozen=True, tag="held", tag_field="kind"):
    reason: str
    days: NonNegative = 0


class Point(msgspec.Struct, array_like=True, frozen=True):
    x: Decimal
    y: Decimal


@dataclass
class Box(Generic[T]):
    item: T
    tags: list[str] = field(default_factory=list)


class Line(NamedTuple):
    sku: Sku
    qty: NonNegative = 1


class Poll(TypedDict):
    checks: int
    perms: Perm


# --- steps and sub-workflows ---------------------------------------------------------------


@dg.step
def count(sku: Sku) -> NonNegative:
    return len(sku)


@dg.step
def counts(skus: list[Sku]) -> list[NonNegative]:
    return [len(s) for s in skus]


@dg.step
def status(sku: Sku) -> Shipped | Held:
    if sku.startswith("h"):
        return Held("stock", 2)
    return Shipped(f"t-{sku}", time(9, 30, tzinfo=timezone(timedelta(hours=2))))


@dg.step
def boxed(amount: Decimal) -> Box[Decimal]:
    return Box(amount, ["a"])


@dg.step
def line_of(sku: Sku) -> Line:
    return Line(sku)


@dg.step
def permissions(sku: Sku) -> Perm:
    return Perm.READ | Perm.WRITE


@dg.step
async def weigh(sku: Sku) -> Decimal:
    return Decimal(len(sku)) / 4


def plot(sku: str) -> dg.Workflow[Point]:
    weight = yield from weigh(sku)
    return Point(Decimal(len(sku)), weight)


def box_it(amount: Decimal) -> dg.Workflow[Box[Decimal]]:
    box = yield from boxed(amount)
    return box


def note(sku: str) -> dg.Workflow[None]:
    yield from dg.Wait(seconds=1, name=f"note-{sku}")


def gold() -> Decimal:
    return Decimal("3.00")


def silver() -> Decimal:
    return Decimal("1.50")


def check(poll: Poll) -> Poll:
    return Poll(checks=poll["checks"] + 1, perms=poll["perms"] | Perm.RUN)


def polled(poll: Poll, attempt: int) -> dg.WaitDecision:
    return dg.WaitDecision.done() if poll["checks"] >= 2 else dg.WaitDecision.again(1)


def stock(skus: list[str]) -> dict[UUID, Decimal]:
    # an Invoke target on the embedded engine
    return {UUID(int=i + 1): Decimal(len(s)) for i, s in enumerate(skus)}


def hand_over(callback_id: str) -> None:
    return None


# --- the workflow ----------------------------------------------------------------------------


def _wrong(name: str, value: object, *types: type) -> list[str]:
    ok = any(type(value) is t for t in types)
    return [] if ok else [f"{name}: {type(value).__name__} {value!r}"]


@dg.workflow
def round9(sku: Sku) -> dg.Workflow[list[str]]:
    """Returns what did not have, at run time, the type the checkers gave it."""
    wrong: list[str] = []
    assert_type(sku, str)
    wrong += _wrong("input", sku, str)

    n = yield from count(sku)
    assert_type(n, int)
    wrong += _wrong("count", n, int)
    ns = yield from counts([sku, "ab"])
    assert_type(ns, list[int])
    for one in ns:
        wrong += _wrong("counts item", one, int)

    for which in (sku, "hold"):
        state = yield from status(which)
        assert_type(state, Shipped | Held)
        if isinstance(state, Shipped):
            wrong += _wrong("shipped at", state.at, time)
            if state.at.utcoffset() != timedelta(hours=2):
                wrong.append(f"shipped offset: {state.at!r}")
        else:
            wrong += _wrong("held", state, Held) + _wrong("held days", state.days, int)

    points = yield from dg.Map(plot, [sku, "xyz"], name="plots")
    assert_type(points, dg.BatchResult[Point])
    for point in points.results():
        wrong += _wrong("point", point, Point) + _wrong("point y", point.y, Decimal)

    box = yield from dg.Child(box_it, (Decimal("2.50"),), name="box")
    assert_type(box, Box[Decimal])
    wrong += _wrong("box", box, Box) + _wrong("box item", box.item, Decimal)

    weight = yield from dg.Child(weigh, (sku,), name="weight")
    assert_type(weight, Decimal)
    wrong += _wrong("child step", weight, Decimal)

    yield from dg.Child(note, (sku,), name="note")  # a Workflow[None]: nothing to assign

    line = yield from line_of(sku)
    assert_type(line, Line)
    wrong += _wrong("line", line, Line) + _wrong("line qty", line.qty, int)

    perms = yield from permissions(sku)
    assert_type(perms, Perm)
    wrong += _wrong("perms", perms, Perm)
    if perms != Perm.READ | Perm.WRITE:
        wrong.append(f"perms value: {perms!r}")

    tiers = yield from dg.Parallel(
        [dg.Branch(gold, name="gold"), dg.Branch(silver, name="silver")], name="tiers"
    )
    assert_type(tiers, dg.BatchResult[Decimal])
    for price in tiers.results():
        wrong += _wrong("tier", price, Decimal)

    poll = yield from dg.WaitForCondition(
        check, Poll(checks=0, perms=Perm.READ), wait_strategy=polled, name="poll"
    )
    assert_type(poll, Poll)
    wrong += _wrong("poll perms", poll["perms"], Perm)

    stocked = yield from dg.Invoke("stock", [sku], name="stock", result_type=dict[UUID, Decimal])
    assert_type(stocked, dict[UUID, Decimal])
    for key, value in stocked.items():
        wrong += _wrong("stock key", key, UUID) + _wrong("stock value", value, Decimal)

    answer: Shipped | Held = yield dg.WaitForCallback(
        hand_over, name="status", result_type=Shipped | Held
    )
    wrong += _wrong("callback status", answer, Shipped, Held)

    handle = yield from dg.CreateCallback(name="lines", result_type=list[Line])
    assert_type(handle, dg.CallbackHandle[list[Line]])
    lines = yield from handle
    assert_type(lines, list[Line])
    for got in lines:
        wrong += _wrong("callback line", got, Line) + _wrong("callback qty", got.qty, int)

    now = yield from dg.Now()
    if now.tzinfo is not UTC and now.utcoffset() != timedelta(0):
        wrong.append(f"now: {now!r}")
    return wrong


FUNCTIONS = {"stock": stock}
SKU = "abc"
STATUS = {"kind": "held", "reason": "customs", "days": 3}  # a sender's JSON
LINES = [["a", 2], ["b", 1]]  # a NamedTuple is written, and read, as a JSON array


def typed_calls() -> None:
    assert_type(dg.run(round9, SKU, skip_time=True), list[str])
    assert_type(dg.run(box_it, Decimal(1)), Box[Decimal])
    assert_type(dg.run(note, "a"), None)
