"""An abstract class as a declared type (``numbers.Real``, ``collections.abc.Sized``, also
inside a list) describes no value to build: a step declared with one fails, not retried, with
a SerializationError that says so and to declare a concrete type. It said the payload did not
fit and to "return a value of that type", which the step (returning a float, a list) did."""

from __future__ import annotations

import collections.abc
import numbers
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner

CASES: dict[str, tuple[Any, Any]] = {
    "numbers.Real": (numbers.Real, 1.5),
    "collections.abc.Sized": (collections.abc.Sized, [1]),
    "list[numbers.Number]": (list[numbers.Number], [1, 2.5]),
}


@pytest.mark.parametrize("case", CASES)
def test_an_abstract_declared_type_is_refused_saying_to_declare_a_concrete_one(case: str) -> None:
    declared, value = CASES[case]

    def produce() -> Any:
        return value

    produce.__annotations__ = {"return": declared}
    step = dg.step(name="produce", retry=dg.Retry(max_attempts=3, initial_delay=1))(produce)

    def workflow(_: None) -> Any:
        return (yield step())

    run = TestRunner().run(workflow, None)
    assert run.status == "FAILED"
    operation = run.operation("produce")
    assert operation is not None and operation.error is not None
    assert operation.error.error_type == "SerializationError"
    assert operation.attempts == 1
    message = operation.error.error_message or ""
    assert "is an abstract class" in message and "declare a concrete type" in message, message
    assert "values cannot be decoded into the declared type" in message, message
    assert "return a value of that type" not in message
