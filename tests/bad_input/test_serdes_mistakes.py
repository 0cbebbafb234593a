"""A serdes whose ``serialize`` returns something else than a str, at every operation that
takes one, written from the guide's "Serialization" section: the operation fails with a
``SerializationError`` (raised at its ``yield``, or carried as the ``error_type`` of the
operation's error) whose message names the payload and says it must return str.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import durable_gen as dg


class Returns:
    def __init__(self, value: Any) -> None:
        self.value = value

    def serialize(self, value: Any) -> Any:
        return self.value

    def deserialize(self, text: str) -> Any:
        return text


def constant() -> str:
    return "x"
    yield


def echo(payload: Any) -> Any:
    return payload
    yield


def _plain() -> str:
    return "x"


COMMANDS: dict[str, tuple[Callable[[Any], dg.Command[Any]], str]] = {
    "step": (lambda s: dg.Step(_plain, serdes=s), "the result of the unnamed step"),
    "named child": (lambda s: dg.Child(constant, name="sub", serdes=s), "context 'sub'"),
    "unnamed child": (
        lambda s: dg.Child(constant, serdes=s),
        "an unnamed RunInChildContext context (operation ",
    ),
    "invoke": (lambda s: dg.Invoke("echo", "x", serdes=s), "the Invoke payload for 'echo'"),
    "wait for condition": (
        lambda s: dg.WaitForCondition(_plain_check, initial_state="a", serdes=s),
        "the wait-for-condition state",
    ),
}


def _plain_check(state: str) -> str:
    return state + "x"


@pytest.mark.parametrize("wrong", [{"v": 1}, b"abc", None], ids=["dict", "bytes", "None"])
@pytest.mark.parametrize("kind", list(COMMANDS))
def test_a_serdes_returning_no_str_fails_the_operation_naming_its_payload(
    kind: str, wrong: Any
) -> None:
    build, names = COMMANDS[kind]

    @dg.workflow
    def wf(_: None) -> dg.Workflow[object]:
        try:
            yield build(Returns(wrong))
        except dg.DurableGenError as exc:
            error_type = getattr(exc, "error_type", None) or type(exc).__name__
            return [error_type, str(exc)]
        return "no error"

    error_type, message = dg.run(wf, functions={"echo": echo})
    assert error_type == "SerializationError"
    assert names in message
    assert f"returned {type(wrong).__name__}; it must return str" in message
    assert "context None" not in message
