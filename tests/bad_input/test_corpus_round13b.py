"""Round 13b of the bad-input corpus: mistakes made while workflow code runs.

Values a step, a child, a batch item or a serdes hands back that the engine cannot keep as
they are (a ``str`` subclass written by a serdes), predicates and namers that raise, and the
results of payloads just under and over their limits. Each must end in a typed error whose
message says what to do, recorded alike on the memory and SQLite engines and under
``TestRunner``, or be kept as the plain value it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local import LocalService, SqliteStore, VirtualClock, register_function
from durable_gen.testing import TestRunner


def _one() -> dict[str, int]:
    return {"a": 1}


def _echo(payload: Any) -> Any:
    return payload


def _on_every_engine(wf: Callable[[Any], Any], tmp_path: Path) -> list[tuple[str, Any]]:
    """(status, result or error type) of ``wf`` run by ``dg.run``, ``TestRunner`` and the
    engine on SQLite."""
    seen: list[tuple[str, Any]] = []
    try:
        seen.append(("SUCCEEDED", dg.run(wf, None, skip_time=True, functions={"echo": _echo})))
    except dg.ExecutionFailedError as exc:
        seen.append(("FAILED", exc.error_type))
    run = TestRunner(functions={"echo": _echo}).run(wf, None)
    try:
        seen.append(("SUCCEEDED", run.result()))
    except dg.ExecutionFailedError as exc:
        seen.append(("FAILED", exc.error_type))
    tmp_path.mkdir(parents=True, exist_ok=True)
    with SqliteStore(tmp_path / "e.db") as store:
        engine = LocalService(store=store, clock=VirtualClock())
        register_function(engine, "wf", wf)
        register_function(engine, "echo", _echo)
        arn = engine.start("wf", "null")
        engine.run_until_idle()
        record = engine.get_execution(arn)
        if record.status == "SUCCEEDED":
            seen.append(("SUCCEEDED", json.loads(record.result or "null")))
        else:
            assert record.error is not None
            seen.append((record.status, record.error.error_type))
    return seen


# --- a serdes that writes a subclass of str ---------------------------------------------------


class _Text(str):
    """Text of an application's own kind, whose ``str()`` is not its text."""

    def __str__(self) -> str:
        return "not the text"


class _TextSerdes:
    def serialize(self, value: Any) -> str:
        return _Text(json.dumps(value))

    def deserialize(self, payload: str) -> Any:
        return json.loads(payload)


def _sub(_: object) -> Generator[Any, Any, dict[str, int]]:
    yield dg.Step(_one, name="inner")
    return {"c": 1}


def _text_step(_: object) -> Generator[Any, Any, Any]:
    return (yield dg.Step(_one, name="s", serdes=_TextSerdes()))


def _text_child(_: object) -> Generator[Any, Any, Any]:
    return (yield dg.Child(_sub, (1,), name="c", serdes=_TextSerdes()))


def _text_map_item(_: object) -> Generator[Any, Any, Any]:
    batch = yield dg.Map(_echo, [1, 2], name="m", item_serdes=_TextSerdes())
    return batch.get_results()


def _text_branch(_: object) -> Generator[Any, Any, Any]:
    batch = yield dg.Parallel([_one], name="p", item_serdes=_TextSerdes())
    return batch.get_results()


def _text_condition(_: object) -> Generator[Any, Any, Any]:
    return (
        yield dg.WaitForCondition(
            lambda state, *_: state + 1,
            initial_state=0,
            wait_strategy=dg.WaitStrategy(until=lambda state: state > 1),
            name="w",
            serdes=_TextSerdes(),
        )
    )


def _text_invoke(_: object) -> Generator[Any, Any, Any]:
    return (yield dg.Invoke("echo", {"p": 1}, name="i", serdes=_TextSerdes()))


@pytest.mark.parametrize(
    ("wf", "expected"),
    [
        (_text_step, {"a": 1}),
        (_text_child, {"c": 1}),
        (_text_map_item, [1, 2]),
        (_text_branch, [{"a": 1}]),
        (_text_condition, 2),
        (_text_invoke, {"p": 1}),
    ],
    ids=["step", "child", "map-item", "parallel-branch", "wait-for-condition", "invoke"],
)
def test_a_serdes_that_writes_a_str_subclass_is_recorded_as_its_text(
    wf: Callable[[Any], Any], expected: Any, tmp_path: Path
) -> None:
    # The engine refused the checkpoint ("the Payload must be a str (JSON text), got _Text"):
    # the whole execution failed with an InvalidCheckpointError naming no serdes, although
    # the serdes returned a str, as the guide asks.
    assert _on_every_engine(wf, tmp_path) == [("SUCCEEDED", expected)] * 3


# --- a serdes that cannot read back what it wrote ---------------------------------------------


class _Unreadable:
    """Writes what it is given, as text, and reads nothing back."""

    def serialize(self, value: Any) -> str:
        return "written"

    def deserialize(self, payload: str) -> Any:
        raise KeyError("unreadable")


def _unreadable_map(_: object) -> Generator[Any, Any, int]:
    yield dg.Map(_echo, [1], name="charges", serdes=_Unreadable())
    return 1


def _unreadable_parallel(_: object) -> Generator[Any, Any, int]:
    yield dg.Parallel([_one], name="legs", serdes=_Unreadable())
    return 1


def _unreadable_condition(_: object) -> Generator[Any, Any, int]:
    yield dg.WaitForCondition(
        lambda state, *_: 1,
        initial_state=0,
        wait_strategy=dg.WaitStrategy(until=lambda state: True),
        name="poll",
        serdes=_Unreadable(),
    )
    return 1


@pytest.mark.parametrize(
    ("wf", "named"),
    [
        (_unreadable_map, "the result of Map 'charges'"),
        (_unreadable_parallel, "the result of Parallel 'legs'"),
        (_unreadable_condition, "the wait-for-condition state"),
    ],
    ids=["map", "parallel", "wait-for-condition"],
)
def test_a_serdes_that_cannot_read_back_names_the_payload(
    wf: Callable[[Any], Any], named: str, tmp_path: Path
) -> None:
    # The message said "the serdes failed to deserialize a recorded payload", naming neither
    # the batch nor the state, where a step, a child or a callback's names what it read.
    assert _on_every_engine(wf, tmp_path) == [("FAILED", "SerializationError")] * 3
    with pytest.raises(dg.ExecutionFailedError) as caught:
        dg.run(wf, None)
    assert f"the serdes failed to deserialize {named}: KeyError('unreadable')" in str(caught.value)
    assert "a serdes must read back what its serialize wrote" in str(caught.value)


# --- payloads one byte under and over their limits, on every engine ----------------------------

_MIB = 1024 * 1024


def _text(size: int) -> str:
    return "x" * (size - 2)  # its JSON adds two quotes


def _sized_step(size: int) -> Callable[[Any], Any]:
    def wf(_: object) -> Generator[Any, Any, int]:
        return len((yield dg.Step(lambda: _text(size), name="s")))

    return wf


def _sized_invoke(size: int) -> Callable[[Any], Any]:
    def wf(_: object) -> Generator[Any, Any, int]:
        return len((yield dg.Invoke("echo", _text(size), name="i")))

    return wf


def _sized_result(size: int) -> Callable[[Any], Any]:
    def wf(_: object) -> Generator[Any, Any, str]:
        yield dg.Step(_one, name="s")
        return _text(size)

    return wf


@pytest.mark.parametrize(
    ("make", "limit"),
    [(_sized_step, _MIB), (_sized_invoke, _MIB), (_sized_result, 6 * _MIB)],
    ids=["step", "invoke-input", "workflow-result"],
)
def test_a_payload_at_its_limit_is_kept_and_one_byte_over_is_too_large(
    make: Callable[[int], Callable[[Any], Any]], limit: int, tmp_path: Path
) -> None:
    at = _on_every_engine(make(limit), tmp_path / "at")
    assert [status for status, _ in at] == ["SUCCEEDED"] * 3
    over = _on_every_engine(make(limit + 1), tmp_path / "over")
    assert over == [("FAILED", "PayloadTooLargeError")] * 3
