"""A step function wrapped by a decorator of one's own keeps its declared result at run time.

A decorator typed with a ParamSpec (``def timed(fn: Callable[P, R]) -> Callable[P, R]``) gives
type checkers the wrapped function's result (``Receipt``). Its wrapper, written without
``functools.wraps``, declares ``-> R``, a TypeVar, which names no type to decode into: the
workflow received a dict where the checkers said ``Receipt``. Such a wrapper (or a decorator
class's ``__call__``) now declares what the one function it holds declares; with
``functools.wraps`` it always did.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, ParamSpec, TypeVar

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, replay

P = ParamSpec("P")
R = TypeVar("R")
calls: list[str] = []


@dataclass
class Receipt:
    id: str
    amount: Decimal


def timed(fn: Callable[P, R]) -> Callable[P, R]:
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        calls.append("timed")
        return fn(*args, **kwargs)

    return wrapper


def retried(times: int) -> Callable[[Callable[P, R]], Callable[P, R]]:
    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            for _ in range(times - 1):
                calls.append("retried")
            return fn(*args, **kwargs)

        return wrapper

    return decorate


def timed_async(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return await fn(*args, **kwargs)

    return wrapper


class Traced(Generic[P, R]):
    """A decorator class: the function it wraps is an attribute, not in a closure."""

    def __init__(self, func: Callable[P, R]) -> None:
        self.func = func
        self.label = "traced"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        calls.append(self.label)
        return self.func(*args, **kwargs)


def charge_plain(order: str) -> Receipt:
    return Receipt(order, Decimal("1.10"))


@dg.step
@timed
def charge(order: str) -> Receipt:
    return Receipt(order, Decimal("1.10"))


@dg.step
@retried(times=2)
@timed
def charge_twice_wrapped(order: str) -> Receipt:
    return Receipt(order, Decimal("1.10"))


@dg.step
@timed_async
async def charge_async(order: str) -> Receipt:
    return Receipt(order, Decimal("1.10"))


def labelled(fn: Callable[P, Any]) -> Callable[P, str]:
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> str:  # a concrete result: its own
        return str(fn(*args, **kwargs))

    return wrapper


@dg.workflow
def pay(order: str) -> dg.Workflow[list[str]]:
    a = yield from charge(order)
    b = yield from charge_twice_wrapped(order)
    c = yield from charge_async(order)
    d = yield from dg.Step(timed(charge_plain), (order,), name="step-of-wrapped")
    e = yield from dg.Map(timed(charge_plain), [order], name="map-of-wrapped")
    f = yield from dg.Step(labelled(charge_plain), (order,), name="labelled")
    g = yield from dg.Step(Traced(charge_plain), (order,), name="decorator-class")
    h = yield from dg.Map(Traced(charge_plain), [order], name="map-of-decorator-class")
    yield from dg.Wait(seconds=1, name="replay-after-this")
    want = Receipt(order, Decimal("1.10"))
    got = {"a": a, "b": b, "c": c, "d": d, "e": e.results()[0], "g": g, "h": h.results()[0]}
    wrong = [k for k, v in got.items() if not (type(v) is Receipt and v == want)]
    if f != str(want):
        wrong.append("f")
    return wrong


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_decorated_step_returns_its_declared_type_on_every_run(payload_format: Any) -> None:
    run = TestRunner(payload_format=payload_format).run(pay, "o-1")
    assert run.result() == []
    report = replay(pay, run.export())
    assert report.ok and report.result == [], report.message
    assert {"timed", "retried", "traced"} <= set(calls)  # the wrappers ran


def test_dg_run_too() -> None:
    assert dg.run(pay, "o-2", skip_time=True) == []


def test_functools_wraps_is_not_needed_but_still_works() -> None:
    def traced(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            return fn(*args, **kwargs)

        return wrapper

    def wf(order: str) -> dg.Workflow[str]:
        receipt = yield from dg.Step(traced(charge_plain), (order,))
        return type(receipt).__name__

    assert dg.run(wf, "o-3") == "Receipt"


def label(item: str, index: int) -> str:
    return f"{item}-{index}"


@pytest.mark.parametrize("wrap", [timed, Traced], ids=["wrapper", "decorator-class"])
def test_a_decorated_map_function_gets_the_index_as_the_function_it_wraps(wrap: Any) -> None:
    # Type checkers give the wrapper label's (item, index); a wrapper taking (*args, **kwargs)
    # was called with the item alone, so every item failed (ArgumentError) and results() was
    # silently empty.
    def labels(items: list[str]) -> dg.Workflow[list[str]]:
        batch = yield from dg.Map(wrap(label), items)
        return batch.results()

    assert dg.run(labels, ["a", "b"]) == ["a-0", "b-1"]
