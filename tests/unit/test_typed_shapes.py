"""Step functions of every shape give their declared types at run time too, on every engine path:
tests/typing/shapes.py (checked by mypy and pyright) runs here in memory in both payload formats,
on SQLite, through the Lambda handler, on an asyncio host, and through the replayer; its workflow
returns the values that did not have the type the type checkers gave them.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.aws import lambda_handler
from durable_gen.local import LocalService, SqliteStore, VirtualClock, register_function
from durable_gen.testing import TestRunner, replay

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "typing"))

import shapes  # noqa: E402  (tests/typing is not a package)

START = shapes.Item("s", 2)
ANSWERS = {"approval": shapes.APPROVAL, "tier": shapes.TIERS}
T = TypeVar("T")


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_on_the_test_runner_and_replayed(payload_format: Any) -> None:
    runner = TestRunner(functions=shapes.FUNCTIONS, payload_format=payload_format)
    run = runner.run(shapes.shaped, START)
    for name, answer in ANSWERS.items():
        run.send_callback_success(name, answer)
        runner.run_until_idle()
    assert run.result() == []
    report = replay(shapes.shaped, run.export())
    assert report.ok and report.outcome == "succeeded", report.message
    assert report.result == []


def _drive(engine: LocalService, handler: Callable[[rt.InvocationInput], Any]) -> Any:
    engine.register("shaped", handler)
    for name, fn in shapes.FUNCTIONS.items():
        register_function(engine, name, fn)
    arn = engine.start("shaped", msgspec.json.encode(START).decode())
    for _ in range(10):
        record = engine.run(arn)
        if record.status != "RUNNING":
            break
        for op in engine.get_operations(arn):
            details = op.callback_details
            if op.type == "CALLBACK" and op.status == "STARTED" and details is not None:
                (answer,) = [a for name, a in ANSWERS.items() if (op.name or "").startswith(name)]
                assert details.callback_id
                engine.send_callback_success(details.callback_id, json.dumps(answer))
    assert record.status == "SUCCEEDED", record.error
    return json.loads(record.result or "null")


def _sqlite(tmp_path: Path) -> Any:
    engine = LocalService(store=SqliteStore(str(tmp_path / "shapes.db")), clock=VirtualClock())
    return _drive(engine, rt.make_handler(shapes.shaped, engine))


def _lambda(tmp_path: Path) -> Any:
    engine = LocalService(clock=VirtualClock())
    handler = lambda_handler(shapes.shaped, service=engine, payload_format="aws")

    def durable(event: rt.InvocationInput) -> rt.InvocationOutput:
        return msgspec.convert(handler(msgspec.to_builtins(event), None), rt.InvocationOutput)

    return _drive(engine, durable)


def _asyncio(tmp_path: Path) -> Any:
    engine = LocalService(clock=VirtualClock())

    def handler(event: rt.InvocationInput) -> rt.InvocationOutput:
        return asyncio.run(rt.invoke_async(shapes.shaped, event, engine))

    return _drive(engine, handler)


@pytest.mark.parametrize("path", [_sqlite, _lambda, _asyncio], ids=["sqlite", "lambda", "asyncio"])
def test_on_every_engine_path(path: Callable[[Path], Any], tmp_path: Path) -> None:
    assert path(tmp_path) == []


def test_dg_run_decodes_the_result_into_the_declared_type() -> None:
    def first(_: None) -> dg.Workflow[shapes.Item]:
        built = yield from dg.Step(shapes.Item.parse, ("r:1",))
        return built

    assert dg.run(first, None) == shapes.Item("r", 1)


@pytest.mark.parametrize(
    ("fn", "args"),
    [
        (shapes.Catalog(shapes.Decimal(1)), ("a",)),
        (shapes.Item, ("a", 1)),
        (shapes.Item.parse, ("a:1",)),
    ],
    ids=["callable-object", "class", "classmethod-self"],
)
def test_the_check_can_fail(fn: Any, args: tuple[Any, ...]) -> None:
    # The same value through a lambda, which declares nothing, comes back as plain JSON: the
    # workflow's own isinstance checks above are what catch a wrong type.
    def untyped(_: None) -> dg.Workflow[bool]:
        typed = yield dg.Step(fn, args, retry=dg.Retry.never())
        plain = yield dg.Step(lambda: fn(*args), retry=dg.Retry.never())
        return isinstance(typed, shapes.Item) and isinstance(plain, dict)

    assert dg.run(untyped, None) is True


def test_object_in_a_declared_type_reads_any_value() -> None:
    # `object` (pyright strict's spelling of "any value") nested in a type, as a workflow's
    # result here, holds whatever JSON was recorded, as Any does.
    def listed(_: None) -> dg.Workflow[list[object]]:
        events = yield from dg.Step(shapes.event)
        return [events[0].kind, events[0].payload, None]

    assert dg.run(listed, None) == ["made", {"sku": "e", "qty": [1]}, None]


def _first(xs: list[T]) -> T:
    return xs[0]


def test_a_generic_function_as_a_step_returns_plain_json_as_the_guide_says() -> None:
    # Type checkers call this value an Item (they solve T from the arguments); the guide says
    # to wrap the function in a concrete one, which the second step shows.
    def first_item(xs: list[shapes.Item]) -> shapes.Item:
        return _first(xs)

    def wf(_: None) -> dg.Workflow[list[str]]:
        generic = yield from dg.Step(_first, ([shapes.Item("g", 1)],))
        concrete = yield from dg.Step(first_item, ([shapes.Item("c", 1)],))
        return [type(generic).__name__, type(concrete).__name__]

    assert dg.run(wf, None) == ["dict", "Item"]


def test_a_lambda_check_gives_plain_json_as_the_guide_says() -> None:
    def wf(_: None) -> dg.Workflow[list[str]]:
        untyped = yield from dg.WaitForCondition(lambda s: s, shapes.Item("w", 1))
        typed = yield from dg.WaitForCondition(shapes.Bump(), shapes.Item("w", 1))
        return [type(untyped).__name__, type(typed).__name__]

    assert dg.run(wf, None) == ["dict", "Item"]


class _HasSku(Protocol):
    @property
    def sku(self) -> str: ...


@dataclass
class _Holder:
    item: _HasSku


def _as_protocol() -> _HasSku:
    return shapes.Item("p", 1)


def _holder() -> _Holder:
    return _Holder(shapes.Item("h", 1))


def _by_protocol(item: _HasSku) -> dg.Workflow[str]:
    yield from dg.Wait(seconds=1)
    return item.sku


@pytest.mark.parametrize("fn", [_as_protocol, _holder], ids=["result", "field"])
def test_a_protocol_as_a_step_result_type_is_a_serialization_error_that_says_so(fn: Any) -> None:
    # A Protocol says what a value can do, not what to build: no payload decodes into one.
    def wf(_: None) -> dg.Workflow[str]:
        try:
            yield dg.Step(fn, retry=dg.Retry.never())
        except dg.StepFailedError as exc:
            return f"{exc.error_type}: {exc.error_message}"
        return "decoded"

    got = dg.run(wf, None)
    assert got.startswith("SerializationError: "), got
    assert "_HasSku is a Protocol" in got and "declare the concrete class" in got, got


def test_a_protocol_as_a_workflow_input_type_says_so() -> None:
    with pytest.raises(dg.ExecutionFailedError, match=r"_HasSku is a Protocol"):
        dg.run(_by_protocol, shapes.Item("i", 1), skip_time=True)


async def _afetch(sku: str) -> shapes.Item:
    return shapes.Item(sku, 1)


def test_a_plain_function_returning_a_coroutine_is_told_to_await_it() -> None:
    # Type checkers give `dg.Step(lambda: _afetch("a"))` the coroutine's result type; the
    # lambda is a plain function whose result is a coroutine nobody awaits. The step fails
    # (not retried) saying so, and the coroutine is closed (no "never awaited" warning, which
    # pytest turns into an error here).
    def wf(_: None) -> dg.Workflow[list[str]]:
        seen = []
        for command in (
            dg.Step(lambda: _afetch("a"), name="lambda"),
            dg.Map(lambda sku: _afetch(sku), ["m"], name="map"),
        ):
            try:
                got = yield command
            except dg.StepFailedError as exc:
                seen.append(f"{exc.error_type}: {exc.error_message}")
            else:
                seen.append(str([e.error_message for e in got.errors()]))
        return seen

    step, mapped = dg.run(wf, None)
    assert step.startswith("SerializationError: the result of step 'lambda': the function "), step
    assert "returned a coroutine" in step and "async def" in step, step
    assert "returned a coroutine" in mapped, mapped
