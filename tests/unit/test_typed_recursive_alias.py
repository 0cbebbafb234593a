"""A type alias that refers to itself (``type Json = dict[str, Json] | list[Json] | ...``, the
``type`` statement of Python 3.12) as a declared type, as a user writes it from "Values and
types" in the guide.

One of JSON's types alone is decoded as declared wherever a declared type applies (a step's
result, Map items, Parallel branches, an Invoke's result_type, the workflow's input and result),
on the first run and on replay, through the test runner and the engine's handler. One that
holds other types (a tuple, a date) is refused with a SerializationError (a ValidationError for
a result_type= given) that says what to declare instead; msgspec alone raised RecursionError,
which failed the step as an ordinary exception, retried by its policy.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.local import LocalService, VirtualClock, register_function
from durable_gen.testing import TestRunner, replay

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 12), reason="the type statement is Python 3.12's"
)

# The program, as a user on Python 3.12 writes it (compiled here so that this file still
# parses on 3.11).
SOURCE = """
from datetime import date

import durable_gen as dg

type Json = dict[str, Json] | list[Json] | str | int | float | bool | None
type Tree = tuple[int, list[Tree]]
type Dated = dict[str, Dated] | date

SEEN: list[object] = []


@dg.step
def load(key: str) -> Json:
    return {"key": key, "rows": [1, 2.5, None, True, {"deep": ["x"]}]}


def item(n: int) -> Json:
    return [n, {"n": n}]


def branch() -> Json:
    return {"b": [1]}


def target(payload: Json) -> Json:
    SEEN.append(payload)
    return {"echo": payload}


def workflow(given: Json) -> dg.Workflow[Json]:
    loaded = yield from load("k")
    SEEN.append(loaded)
    mapped = yield from dg.Map(item, [1, 2], name="map")
    SEEN.append(mapped.results())
    both = yield from dg.Parallel([branch, branch], name="parallel")
    SEEN.append(both.results())
    echoed = yield from dg.Invoke("target", {"sent": [1]}, name="invoke", result_type=Json)
    SEEN.append(echoed)
    yield from dg.Wait(seconds=1, name="replay-after-this")
    return {"given": given, "loaded": loaded, "echoed": echoed}


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1))
def grow() -> Tree:
    return (1, [(2, [])])


def tree_workflow(_: None) -> dg.Workflow[Tree]:
    return (yield from grow())
"""

program: dict[str, Any] = {}
if sys.version_info >= (3, 12):
    exec(compile(SOURCE, "<typed program>", "exec"), program)

GIVEN = {"input": [1, {"a": None}]}
EXPECTED = {
    "given": GIVEN,
    "loaded": {"key": "k", "rows": [1, 2.5, None, True, {"deep": ["x"]}]},
    "echoed": {"echo": {"sent": [1]}},
}
SEEN_ONCE = [
    EXPECTED["loaded"],
    [[1, {"n": 1}], [2, {"n": 2}]],
    [{"b": [1]}, {"b": [1]}],
    {"sent": [1]},  # the target's payload, decoded into its parameter's Json (once)
    EXPECTED["echoed"],
]


def _on_test_runner(tmp_path: Path) -> Any:
    run = TestRunner(functions={"target": program["target"]}).run(program["workflow"], GIVEN)
    assert run.status == "SUCCEEDED", run.error
    report = replay(program["workflow"], run.export())
    assert report.ok and report.outcome == "succeeded", report.message
    return run.result()


def _on_engine(tmp_path: Path) -> Any:
    engine = LocalService(clock=VirtualClock())
    engine.register("json", rt.make_handler(program["workflow"], engine))
    register_function(engine, "target", program["target"])
    record = engine.run(engine.start("json", '{"input": [1, {"a": null}]}'))
    assert record.status == "SUCCEEDED", record.error
    return json.loads(record.result or "null")


@pytest.mark.parametrize("path", ["test-runner", "engine"])
def test_a_json_alias_that_refers_to_itself_is_decoded_as_declared(
    path: str, tmp_path: Path
) -> None:
    seen: list[object] = program["SEEN"]
    seen.clear()
    result = _on_test_runner(tmp_path) if path == "test-runner" else _on_engine(tmp_path)
    assert result == EXPECTED
    # each value the body received, on its first run and again when replayed after the wait
    for value in seen:
        assert value in SEEN_ONCE, value
    for value in SEEN_ONCE:
        assert seen.count(value) >= (1 if value == {"sent": [1]} else 2), value


def test_a_self_referring_alias_of_other_types_is_refused_with_advice() -> None:
    run = TestRunner().run(program["tree_workflow"], None)
    assert run.status == "FAILED"
    step = run.operation("grow")
    assert step is not None
    assert step.error is not None and step.error.error_type == "SerializationError"
    assert step.attempts == 1, "a type no payload fits is not retried"
    message = step.error.error_message or ""
    assert "refers to itself" in message and "dataclass or msgspec Struct" in message, message

    with pytest.raises(dg.ValidationError, match="refers to itself"):
        dg.Invoke("f", 1, result_type=program["Tree"])
    with pytest.raises(dg.ValidationError, match="refers to itself"):
        dg.CreateCallback(result_type=program["Dated"])
