"""A step that returns a value of a subtype of what it declares, which type checkers accept.

The workflow receives a value of the declared type, the same on its first run and on replay
(an int for a float is a float, a Counter for a dict a dict, a StrEnum for a str a str, a
subclass's instance that adds no field for a dataclass that dataclass, a subclass of str,
int, float, datetime, date, time, timedelta, Decimal or bytes, such as numpy.float64,
markupsafe.Markup or pendulum.DateTime, a value of that type, declared or not). The two
subtypes JSON cannot carry as their base (a bool for an int or a float is written true or
false; a datetime for a date is written with its time) fail the step with a
SerializationError that says so and what to return instead; the advice said "return a value
of that type", which such a step already does. A subclass's instance that adds fields is
refused too, since they would be dropped (tests/unit/test_typed_corpus_round9.py).
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, replay


class Color(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 2


class Label(str):
    """A str subclass, as markupsafe.Markup or numpy.str_ are."""


class Count(int):
    pass


class Moment(datetime):
    """A datetime subclass, as pendulum.DateTime is."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "not what is written"


class Day(date):
    pass


class Clock(time):
    pass


class Span(timedelta):
    pass


class Money(Decimal):
    def __str__(self) -> str:
        return "not what is written"


class Blob(bytes):
    pass


class Ratio(float):
    """A float subclass, as numpy.float64 is; its own str() must not be what is written."""

    def __str__(self) -> str:
        return f"{float(self):.0%}"


@dataclass
class Animal:
    name: str


@dataclass
class Dog(Animal):  # adds no field: nothing is dropped when it is read back as an Animal
    def bark(self) -> str:
        return "woof"


# declared type, value returned, value the workflow receives
FITS: dict[str, tuple[Any, Any, Any]] = {
    "int-for-float": (float, 1, 1.0),
    "ints-for-floats": (list[float], [1, 2], [1.0, 2.0]),
    "counter-for-dict": (dict[str, int], collections.Counter(a=2), {"a": 2}),
    "ordered-dict-for-dict": (dict[str, int], collections.OrderedDict(a=1), {"a": 1}),
    "strenum-for-str": (str, Color.RED, "red"),
    "intenum-for-int": (int, Level.HIGH, 2),
    "subclass-for-dataclass": (Animal, Dog("rex"), Animal("rex")),
    "tuple-for-sequence": (Sequence[int], (1, 2), [1, 2]),
    "bytearray-for-bytes": (bytes, bytearray(b"ab"), b"ab"),
    "str-subclass-for-str": (str, Label("x"), "x"),
    "int-subclass-for-int": (int, Count(3), 3),
    "float-subclass-for-float": (float, Ratio(0.5), 0.5),
    "float-subclass-undeclared": (Any, Ratio(0.5), 0.5),
    "str-subclass-undeclared": (Any, Label("x"), "x"),
    "subclasses-in-a-dict": (dict[str, list[float]], {Label("a"): [Ratio(0.5)]}, {"a": [0.5]}),
    "datetime-subclass": (
        datetime,
        Moment(2024, 1, 2, 3, 4, tzinfo=UTC),
        datetime(2024, 1, 2, 3, 4, tzinfo=UTC),
    ),
    "date-subclass": (date, Day(2024, 2, 29), date(2024, 2, 29)),
    "time-subclass": (time, Clock(1, 2, 3), time(1, 2, 3)),
    "timedelta-subclass": (timedelta, Span(seconds=5), timedelta(seconds=5)),
    "decimal-subclass": (Decimal, Money("1.10"), Decimal("1.10")),
    "bytes-subclass": (bytes, Blob(b"ab"), b"ab"),
    "datetime-subclass-keys": (
        dict[datetime, Decimal],
        {Moment(2024, 1, 1, tzinfo=UTC): Money("2.5")},
        {datetime(2024, 1, 1, tzinfo=UTC): Decimal("2.5")},
    ),
}

# declared type, value returned, words the advice must hold
REFUSED: dict[str, tuple[Any, Any, tuple[str, ...]]] = {
    "bool-for-int": (int, True, ("True and False are ints to type checkers", "int(value)")),
    "bool-for-float": (float, False, ("True and False are ints", "declare bool")),
    "bool-in-a-list": (list[int], [1, True], ("True and False are ints", "int(value)")),
    "datetime-for-date": (
        date,
        datetime(2024, 1, 2, 3, 4),
        ("a datetime is a date to type checkers", "value.date()", "declare datetime"),
    ),
}


def _workflow(declared: Any, value: Any, seen: list[Any]) -> Callable[..., Any]:
    def produce() -> Any:
        return value

    produce.__annotations__ = {"return": declared}
    step = dg.step(name="produce", retry=dg.Retry(max_attempts=3, initial_delay=1))(produce)

    def workflow(_: None) -> Any:
        got = yield step()
        seen.append(got)
        yield dg.Wait(seconds=1, name="replay-after-this")
        return None

    return workflow


@pytest.mark.parametrize("payload_format", ["json", "aws"])
@pytest.mark.parametrize("case", FITS)
def test_a_subtypes_value_arrives_as_the_declared_type_on_every_run(
    case: str, payload_format: Any
) -> None:
    declared, value, expected = FITS[case]
    seen: list[Any] = []
    workflow = _workflow(declared, value, seen)
    run = TestRunner(payload_format=payload_format).run(workflow, None)
    assert run.status == "SUCCEEDED", run.error
    assert replay(workflow, run.export()).ok
    assert len(seen) >= 2  # the first run, then the replay after the wait (and the replayer's)
    for got in seen:
        assert got == expected and type(got) is type(expected), (got, expected)
        if isinstance(expected, list):
            assert [type(x) for x in got] == [type(x) for x in expected]
        if isinstance(expected, dict):
            assert [(type(k), type(v)) for k, v in got.items()] == [
                (type(k), type(v)) for k, v in expected.items()
            ]
            assert all(type(x) is float for v in got.values() if isinstance(v, list) for x in v)
        if isinstance(expected, datetime | Decimal):
            assert str(got) == str(expected)


@pytest.mark.parametrize("case", REFUSED)
def test_a_subtype_json_cannot_carry_fails_the_step_saying_what_to_return(case: str) -> None:
    declared, value, words = REFUSED[case]
    seen: list[Any] = []
    run = TestRunner().run(_workflow(declared, value, seen), None)
    assert run.status == "FAILED" and seen == []
    step = run.operation("produce")
    assert step is not None and step.error is not None
    assert step.error.error_type == "SerializationError"
    assert step.attempts == 1, "a value of the wrong type is not retried"
    message = step.error.error_message or ""
    for word in words:
        assert word in message, message
    assert "return a value of that type" not in message
