"""A step given arguments its function does not take fails for good at its first attempt.

Type checkers flag ``dg.Step(f)`` of ``def f(x)`` and ``charge(order_id)`` of
``charge(order_id, amount)`` (tests/typing/negative.py); at run time the call raises
``TypeError`` before the function's body runs, and every retry would raise it again. So the
step is not retried: it fails with an ``ArgumentError`` (a ``ValidationError`` and a
``TypeError``) that says how to pass the arguments, raised at its ``yield`` as a
``StepFailedError`` whose ``error_type`` is ``ArgumentError``. A ``TypeError`` raised inside
the body is the function's own failure and keeps its retry policy.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, replay

ran: list[str] = []


@dg.step
def charge(order_id: str, amount: int) -> str:
    ran.append("charge")
    return f"{order_id}:{amount}"


@dg.step
async def fetch(url: str) -> str:
    ran.append("fetch")
    return url


def plain(n: int) -> int:
    ran.append("plain")
    return n


@dg.step(semantics=dg.AT_MOST_ONCE)
def once(n: int) -> int:
    ran.append("once")
    return n


def _charge_one() -> Any:
    return charge("o-1")  # type: ignore[call-arg]


def _fetch_none() -> Any:
    return fetch()  # type: ignore[call-arg]


def _step_of_plain() -> Any:
    return dg.Step(plain)  # type: ignore[arg-type]


def _too_many() -> Any:
    return dg.Step(plain, (1, 2))  # type: ignore[arg-type]


def _unknown_keyword() -> Any:
    return dg.Step(plain, kwargs={"count": 1})


def _partial_short() -> Any:
    return dg.Step(functools.partial(charge, "o-1"))


def _at_most_once() -> Any:
    return once()  # type: ignore[call-arg]


MISTAKES = {
    "step-function-missing-argument": (_charge_one, "missing a required argument: 'amount'"),
    "async-step-missing-argument": (_fetch_none, "missing a required argument: 'url'"),
    "step-of-plain-without-args": (_step_of_plain, "missing a required argument: 'n'"),
    "too-many-arguments": (_too_many, "too many positional arguments"),
    "unknown-keyword": (_unknown_keyword, "missing a required argument: 'n'"),
    "partial-missing-argument": (_partial_short, "missing a required argument: 'amount'"),
    "at-most-once": (_at_most_once, "missing a required argument: 'n'"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_step_given_arguments_its_function_does_not_take_fails_for_good(mistake: str) -> None:
    build, reason = MISTAKES[mistake]
    ran.clear()

    def workflow(_: None) -> Any:
        try:
            yield build()
        except dg.StepFailedError as exc:
            return [exc.error_type, str(exc)]
        return ["no error", ""]

    run = TestRunner().run(workflow, None)
    error_type, message = run.result()
    assert error_type == "ArgumentError", message
    assert reason in message, message
    assert "not retried" in message and "functools.partial" in message, message
    assert ran == []
    (step,) = run.operations(type="STEP")
    assert step.status == "FAILED" and step.attempts == 1
    assert replay(workflow, run.export()).ok


def test_a_type_error_inside_the_body_keeps_the_retry_policy() -> None:
    attempts: list[int] = []

    def broken(n: int) -> int:
        attempts.append(n)
        return plain()  # type: ignore[call-arg]  # the body's own mistake

    def workflow(_: None) -> Any:
        try:
            yield dg.Step(broken, (1,), retry=dg.Retry(max_attempts=3, initial_delay=1))
        except dg.StepFailedError as exc:
            return exc.error_type
        return None

    run = TestRunner().run(workflow, None)
    assert run.result() == "TypeError"
    assert attempts == [1, 1, 1]
