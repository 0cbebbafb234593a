"""The typed-value corpus of tests/unit/test_typed_corpus.py on the Postgres store: every value
a workflow receives has its declared type on the first run and on every replay, whether one
engine drives the execution or a ``Worker`` with several threads shares the executions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.local import LocalService, VirtualClock, Worker

from ..unit.test_typed_corpus import (
    AWARE,
    CASES,
    NAIVE,
    PERSON,
    Level,
    Person,
    Tier,
    _command_workflow,
    _on_engine,
    _step_workflow,
    same,
)


@pytest.mark.parametrize("case", CASES)
def test_every_command_gives_the_declared_type_on_postgres(
    case: str, postgres_factory: Callable[..., Any]
) -> None:
    declared, value = CASES[case]
    engine = LocalService(store=postgres_factory(), clock=VirtualClock())
    steps: list[Any] = []
    _on_engine(engine, rt.make_handler(_step_workflow(case, declared, value, steps), engine), {})
    seen: dict[str, list[Any]] = {"step": steps}
    workflow, functions = _command_workflow(declared, value, seen)
    engine = LocalService(store=postgres_factory(), clock=VirtualClock())
    _on_engine(engine, rt.make_handler(workflow, engine), functions)
    assert len(seen) == 9, sorted(seen)
    for what, got in seen.items():
        assert len(got) >= 2, what  # received on the first run, then replayed
        for each in got:
            want = [value, value] if what in ("Map", "Parallel") else value
            assert same(each, want) is None, f"{what}: {same(each, want)}"


@dg.step
def _person() -> Person:
    return PERSON


@dg.step
def _aware() -> datetime:
    return AWARE


@dg.step
def _naive() -> datetime:
    return NAIVE


@dg.step
def _tier() -> Tier:
    return Tier.GOLD


@dg.step
def _amount() -> Decimal:
    return Decimal("1.10")


@dg.step
def _levels() -> frozenset[Level]:
    return frozenset({Level.LOW, Level.HIGH})


EXPECTED = (PERSON, AWARE, NAIVE, Tier.GOLD, Decimal("1.10"), frozenset({Level.LOW, Level.HIGH}))
SEEN: list[tuple[Any, ...]] = []


def typed_values(n: int) -> dg.Workflow[int]:
    """Receives a value of each type, waits (a thread of the worker resumes it), returns."""
    got = []
    for step in (_person, _aware, _naive, _tier, _amount, _levels):
        got.append((yield from step()))
    SEEN.append(tuple(got))
    yield from dg.Wait(seconds=1, name="pause")
    return n


def test_a_worker_of_several_threads_gives_the_declared_types(postgres_url: str) -> None:
    # Executions resumed by whichever thread of the worker picks them up (after a 1 s wait):
    # the values each receives after the wait have their declared types, as the first time.
    SEEN.clear()
    with Worker(postgres_url, concurrency=3, poll=0.05) as worker:
        name = worker.register(typed_values)
        arns = [worker.service.start(name, str(n)) for n in range(4)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            worker.run(once=True)
            records = [worker.service.get_execution(arn) for arn in arns]
            if all(r.status != "RUNNING" for r in records):
                break
            time.sleep(0.2)
    assert [(r.status, r.result) for r in records] == [("SUCCEEDED", str(n)) for n in range(4)]
    assert len(SEEN) >= 8  # each execution's first run and its replay after the wait
    for got in SEEN:
        assert same(got, EXPECTED) is None, same(got, EXPECTED)
