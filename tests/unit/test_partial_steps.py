"""``functools.partial`` of a ``@step`` function runs as that step, wherever a function is taken.

The guide suggests ``functools.partial`` to bind arguments (a Parallel branch, a Map function),
and versioning.md lists wrapping a step function in one as a change that replays. Calling such
a partial only builds the step's command, so each place that runs a function as a step must see
through it: the step runs once, with its name and every option it was declared with.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, assert_deterministic, replay

CALLS: list[tuple[str, Any]] = []


@dg.step(name="price", retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def price(item: str, factor: int) -> int:
    CALLS.append(("price", item))
    if item == "bad":
        raise ValueError("no price for bad")
    return len(item) * factor


@dg.step(name="cancel")
def cancel(reason: str, booking: str) -> str:
    CALLS.append(("cancel", booking))
    return f"{reason}: {booking}"


@dg.step(compensate=functools.partial(cancel, "rolled back"))
def book(item: str) -> str:
    return f"booking-{item}"


def _map(_: Any) -> dg.Workflow[Any]:
    batch = yield from dg.Map(functools.partial(price, factor=10), ["ab", "abc"])
    return batch.all_results()


def _map_positional(_: Any) -> dg.Workflow[Any]:
    batch = yield from dg.Map(functools.partial(price, "abcd"), [1, 2])
    return batch.all_results()


def _parallel(_: Any) -> dg.Workflow[Any]:
    batch = yield from dg.Parallel(
        [functools.partial(price, "a", 2), dg.Branch(functools.partial(price, "ab", 3), name="b")]
    )
    return batch.all_results()


def _step(_: Any) -> dg.Workflow[Any]:
    return (yield dg.Step(functools.partial(price, "abc"), (5,)))


def _step_kwargs(_: Any) -> dg.Workflow[Any]:
    return (yield dg.Step(functools.partial(price, factor=1), ("abc",), kwargs={"factor": 7}))


def _child(_: Any) -> dg.Workflow[Any]:
    return (yield dg.Child(functools.partial(price, "abcde"), (1,)))


def _failing_item(_: Any) -> dg.Workflow[Any]:
    batch = yield from dg.Map(
        functools.partial(price, factor=1),
        ["ok", "bad"],
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return [batch.all_results(), [e.error_type for e in batch.errors()]]


def _compensate(_: Any) -> dg.Workflow[Any]:
    yield from book("room")
    undone = yield from dg.RunCompensations()
    return [(u.name, u.status, u.result) for u in undone]


CASES: list[tuple[Callable[[Any], dg.Workflow[Any]], Any, list[str]]] = [
    (_map, [20, 30], ["price", "price"]),
    (_map_positional, [4, 8], ["price", "price"]),
    (_parallel, [2, 6], ["price", "price"]),
    (_step, 15, ["price"]),
    (_step_kwargs, 21, ["price"]),
    (_child, 5, ["price"]),
    (_failing_item, [[2, None], ["ValueError"]], ["price", "price"]),
    (_compensate, [["book", "SUCCEEDED", "rolled back: booking-room"]], ["book", "cancel"]),
]


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    CALLS.clear()
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


@pytest.mark.parametrize(("workflow", "expected", "steps"), CASES)
def test_a_partial_of_a_step_function_runs_as_that_step(
    workflow: Callable[[Any], dg.Workflow[Any]], expected: Any, steps: list[str]
) -> None:
    run = TestRunner().run(workflow, None)
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == expected
    assert [op.name for op in run.operations(type="STEP")] == steps
    # the step's own options hold: "bad" is tried twice (max_attempts=2), the rest once
    for op in run.operations(type="STEP"):
        assert op.attempts == (2 if op.status == "FAILED" else 1)
    assert replay(workflow, run.export()).ok


@pytest.mark.parametrize(("workflow", "expected", "steps"), CASES[:3] + CASES[-1:])
def test_a_partial_of_a_step_function_survives_crashes(
    workflow: Callable[[Any], dg.Workflow[Any]], expected: Any, steps: list[str]
) -> None:
    assert_deterministic(workflow, None, random_runs=1)
