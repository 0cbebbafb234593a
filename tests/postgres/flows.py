"""Workflows the Postgres worker tests run, importable by worker processes."""

from __future__ import annotations

import contextlib
from typing import Any

import durable_gen as dg
from durable_gen._errors import StepFailedError

from ..soak import flows as soak_flows


@dg.step
def add(a: int, b: int) -> int:
    return a + b


@dg.workflow
def adder(n: int):  # type: ignore[no-untyped-def]
    return (yield from _sum(add, n))


@dg.step
def slow_add(a: int, b: int) -> int:
    import time

    time.sleep(0.02)
    return a + b


@dg.workflow
def slow_adder(n: int):  # type: ignore[no-untyped-def]
    return (yield from _sum(slow_add, n))


def _sum(step: Any, n: int):  # type: ignore[no-untyped-def]
    """0 + 1 + ... + (n - 1), one step per addition."""
    total = 0
    for i in range(n):
        total = yield step(total, i)
    return total


# --- the fleet soak's workflow: every step's label names its execution ------------------------

MAP_ITEMS = 4


@dg.step(retry=dg.Retry(max_attempts=1))
def tagged_work(label: str, value: int) -> str:
    return soak_flows._work(label, value)


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry(max_attempts=1))
def tagged_notify(label: str) -> str:
    return soak_flows._work(label, 0)


def tagged_map_item(label: str) -> str:
    return soak_flows._work(label, 7)


@dg.workflow
def fleet(k: int):  # type: ignore[no-untyped-def]
    """Steps, an at-most-once step and a Map, as in the SQLite crash soak, labelled ``x{k}.``."""
    results: list[str] = []
    for i in range(3):
        results.append((yield tagged_work(f"x{k}.seq-{i}", k + i)))
    with contextlib.suppress(StepFailedError):
        yield tagged_notify(f"x{k}.once")
    items = [f"x{k}.map-{i}" for i in range(MAP_ITEMS)]
    batch: Any = yield dg.Map(tagged_map_item, items, name="fan-out", max_concurrency=2)
    results.extend(batch.get_results())
    for i in range(3, 6):
        results.append((yield tagged_work(f"x{k}.seq-{i}", k + i)))
    return results


def fleet_expected(k: int) -> list[str]:
    """The result of an uninterrupted run of ``fleet(k)``."""
    seq = [f"x{k}.seq-{i}={(k + i) * 3 + 1}" for i in range(6)]
    maps = [f"x{k}.map-{i}={7 * 3 + 1}" for i in range(MAP_ITEMS)]
    return seq[:3] + maps + seq[3:]


@dg.step
def nap(seconds: float, i: int) -> int:
    import time

    time.sleep(seconds)
    return i


@dg.workflow
def napper(seconds: float):  # type: ignore[no-untyped-def]
    """Three steps that sleep: slow I/O, as far as the worker can tell."""
    out = []
    for i in range(3):
        out.append((yield nap(seconds, i)))
    return out


# --- operated from the command line, on SQLite and on Postgres alike --------------------------


def label(item: str) -> str:
    return f"label-{item}"


def tax(payload: dict[str, int]) -> float:
    return round(payload["amount"] * 0.2, 2)


@dg.workflow
def approval(amount: int):  # type: ignore[no-untyped-def]
    """A step, a Map, an Invoke of a plain function and a callback answered from outside."""
    doubled = yield add(amount, amount)
    batch: Any = yield dg.Map(label, ["a", "b"], name="labels")
    owed = yield dg.Invoke("cli-tax", {"amount": amount}, name="tax")
    handle = yield dg.CreateCallback(name="approve", timeout=600)
    decision = yield handle
    return {"doubled": doubled, "labels": len(batch.get_results()), "tax": owed, "ok": decision}
