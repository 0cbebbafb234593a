"""Workflows the Postgres worker tests run, importable by worker processes."""

from __future__ import annotations

import durable_gen as dg


@dg.step
def add(a: int, b: int) -> int:
    return a + b


@dg.workflow
def adder(n: int):  # type: ignore[no-untyped-def]
    total = 0
    for i in range(n):
        total = yield add(total, i)
    return total


@dg.step
def slow_add(a: int, b: int) -> int:
    import time

    time.sleep(0.02)
    return a + b


@dg.workflow
def slow_adder(n: int):  # type: ignore[no-untyped-def]
    total = 0
    for i in range(n):
        total = yield slow_add(total, i)
    return total
