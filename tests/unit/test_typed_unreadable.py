"""A step whose declared result type no payload can be decoded into is not run.

"Values and types" in the guide: a type the codec cannot decode into is a SerializationError
at each payload of that type. A step's result is read back on every replay, so running such a
step (charging a card, say) would do its work and then fail with a result nobody can read: it
fails for good before its first attempt, at its ``yield``, with advice for the type.
"""

from __future__ import annotations

import collections
import enum
import numbers
from dataclasses import dataclass
from typing import Any, Protocol

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, replay


class Mixed(enum.Enum):  # msgspec reads enums whose values are all str or all int
    ONE = 1
    TWO = "two"


class Ratio(enum.Enum):
    HALF = 0.5
    THIRD = 0.33


class Sized(Protocol):
    def size(self) -> int: ...


class Money:  # a plain class: the codec neither writes nor builds it
    def __init__(self, cents: int) -> None:
        self.cents = cents


@dataclass
class Priced:
    item: str
    price: Money


@dataclass
class MaybePriced:  # a value may hold no Money: such a declaration is not refused
    item: str
    price: Money | None = None


@dataclass
class Card:
    number: str


@dataclass
class Wire:
    iban: str


UNREADABLE: dict[str, tuple[Any, str]] = {
    "mixed-enum": (Mixed, "all str or all int"),
    "float-enum": (Ratio, "all str or all int"),
    "list-of-mixed-enum": (list[Mixed], "all str or all int"),
    "protocol": (Sized, "Protocol"),
    "union-of-dataclasses": (Card | Wire, "tag=True"),
    "plain-class": (Money, "a class of your own"),
    "plain-class-in-a-required-field": (Priced, "decoding into Money is unsupported"),
    "plain-class-in-a-tuple": (tuple[int, Money], "decoding into Money is unsupported"),
    "deque": (collections.deque[int], "a list for a deque"),
    "ordered-dict": (collections.OrderedDict[str, int], "a dict for an OrderedDict"),
    "abstract-class": (numbers.Real, "abstract class"),
}


def _outcome(declared: Any, command: str, calls: list[str]) -> tuple[Any, Any]:
    def produce(_: Any = None) -> Any:
        calls.append("ran")
        return None

    produce.__annotations__ = {"_": Any, "return": declared}

    def check(state: Any) -> Any:
        calls.append("ran")
        return state

    check.__annotations__ = {"state": Any, "return": declared}

    def workflow(_: None) -> Any:
        try:
            if command == "step":
                yield dg.Step(dg.step(name="produce")(produce))
            elif command == "map":
                yield dg.Map(produce, [1], name="items")
            elif command == "parallel":
                yield dg.Parallel([produce], name="branches")
            else:
                yield dg.WaitForCondition(check, None, name="poll")
        except (dg.StepFailedError, dg.SerializationError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return "no error"

    return workflow, None


@pytest.mark.parametrize("payload_format", ["json", "aws"])
@pytest.mark.parametrize("command", ["step", "map", "parallel", "condition"])
@pytest.mark.parametrize("case", UNREADABLE)
def test_a_step_whose_result_cannot_be_read_back_fails_before_it_runs(
    case: str, command: str, payload_format: str
) -> None:
    declared, advice = UNREADABLE[case]
    calls: list[str] = []
    workflow, _ = _outcome(declared, command, calls)
    run = TestRunner(payload_format=payload_format).run(workflow, None)
    assert run.status == "SUCCEEDED", run.error
    assert calls == [], "the step ran although its result could not be read back"
    result = run.result()
    assert advice in result, result
    if command in ("map", "parallel"):  # raised at the yield: nothing is recorded
        assert result.startswith("SerializationError: an item's result of"), result
        assert "was not started" in result, result
        assert run.operations() == []
    else:  # the step fails for good, as one whose result cannot be written does
        assert result.startswith("StepFailedError"), result
        failed = [op for op in run.operations(type="STEP") if op.status == "FAILED"]
        assert len(failed) == 1, run.operations()
        error = failed[0].error
        assert error is not None and error.error_type is not None, failed
        assert error.error_type.endswith(("SerializationError", "SerDesError")), error
        assert failed[0].attempts == 1  # not retried
        message = error.error_message or ""
        assert "The step was not run" in message and advice in message, message
    assert replay(workflow, run.export()).ok


@pytest.mark.parametrize(
    ("declared", "value"),
    [(MaybePriced, MaybePriced("tea")), (list[Money], []), (Money | None, None)],
)
def test_a_type_some_values_of_which_are_read_is_not_refused(declared: Any, value: Any) -> None:
    # A plain class a value may lack (an optional field, a list's items, a union's member):
    # the values without it are read, so the step runs, as before.
    def produce() -> Any:
        return value

    produce.__annotations__ = {"return": declared}

    def workflow(_: None) -> Any:
        got = yield dg.Step(produce, name="produce")
        return [type(got).__name__, got == value]

    assert TestRunner().run(workflow, None).result() == [type(value).__name__, True]


def test_a_step_whose_type_is_read_still_runs_once() -> None:
    # The check costs nothing to a step whose type is read: it runs, once, and replays.
    calls: list[str] = []

    @dg.step
    def produce() -> Mixed | None:
        return None

    @dg.step
    def count() -> int:
        calls.append("ran")
        return len(calls)

    def workflow(_: None) -> dg.Workflow[int]:
        n = yield from count()
        yield from dg.Wait(seconds=1)
        return n

    assert TestRunner().run(workflow, None).result() == 1
    assert calls == ["ran"]


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_workflow_whose_result_cannot_be_read_back_fails_before_its_body_runs(
    payload_format: str,
) -> None:
    calls: list[str] = []

    @dg.step
    def charge() -> int:
        calls.append("charge")
        return 1

    def workflow(_: None) -> dg.Workflow[Mixed]:
        yield from charge()
        return Mixed.ONE

    run = TestRunner(payload_format=payload_format).run(workflow, None)
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type is not None
    assert run.error.error_type.endswith(("SerializationError", "SerDesError")), run.error
    message = run.error.error_message or ""
    assert "the workflow result" in message and "all str or all int" in message, message
    assert "The workflow was not run" in message, message
    assert calls == [] and run.operations() == []


@pytest.mark.parametrize("virtual", [False, True])
def test_a_child_whose_result_cannot_be_read_back_raises_at_its_yield(virtual: bool) -> None:
    calls: list[str] = []

    @dg.step
    def charge() -> int:
        calls.append("charge")
        return 1

    def sub(_: None) -> dg.Workflow[Sized]:
        yield from charge()
        raise AssertionError("not reached")

    def workflow(_: None) -> dg.Workflow[str]:
        try:
            yield from dg.Child(sub, (None,), name="sub", virtual=virtual)
        except dg.SerializationError as exc:
            return str(exc)
        return "no error"

    run = TestRunner().run(workflow, None)
    message = run.result()
    assert "the result of child context 'sub'" in message and "Protocol" in message, message
    assert "The child was not run" in message, message
    assert calls == [] and run.operations() == []
    assert replay(workflow, run.export()).ok
