"""A dict key the codec cannot write (a tuple, a bool, None) is named as a key, with keys it
does write: the error said the whole dict "of type dict" could not be written and listed the
types the codec writes, tuples and bools among them."""

from __future__ import annotations

from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner


@pytest.mark.parametrize(
    ("value", "key_type"),
    [
        ({(1, 2): "a"}, "tuple"),
        ({True: 1}, "bool"),
        ({None: 1}, "NoneType"),
        ([{"ok": {"inner": {frozenset({1}): 2}}}], "frozenset"),  # at any depth
    ],
)
def test_a_dict_key_json_cannot_carry_is_named_as_a_key(value: Any, key_type: str) -> None:
    def produce() -> Any:
        return value

    def workflow(_: None) -> Any:
        return (yield dg.Step(produce, name="produce", retry=dg.Retry.never()))

    run = TestRunner().run(workflow, None)
    assert run.status == "FAILED"
    step = run.operation("produce")
    assert step is not None and step.error is not None
    assert step.error.error_type == "SerializationError"
    message = step.error.error_message or ""
    assert f"a dict key of type {key_type}" in message, message
    assert "str, int, float, enums" in message and "a list of pairs" in message, message
    assert "use JSON data" not in message


def test_keys_the_codec_writes_stay_fine_and_other_values_keep_their_message() -> None:
    def workflow(_: None) -> Any:
        good = yield dg.Step(lambda: {1: "a", 1.5: "b"}, name="good")
        try:
            yield dg.Step(lambda: {"k": object()}, name="bad", retry=dg.Retry.never())
        except dg.StepFailedError as exc:
            return [good, exc.error_type, exc.error_message]
        return None

    good, error_type, message = dg.run(workflow, None)
    assert good == {"1": "a", "1.5": "b"}
    assert error_type == "SerializationError"
    assert "a value of type dict cannot be written" in message and "dict key" not in message
