"""Typed programs written from the guide's "Typing workflows" and "Values and types", run on
every engine path: tests/typing/round13.py (checked by mypy and pyright) returns the values that
did not come back equal to what was sent, or of another type than the checkers gave them. The
cases below are methods of generic classes whose subclasses pass their type variables on to a
base (the same TypeVar for another type, or two swapped), whose results were read in the type
the subclass's own TypeVar stood for, and ``-> Self`` on an instance made with its type
arguments, which was read without them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Generic, Self, TypeVar, TypeVarTuple, Unpack, overload

import pydantic
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.local import LocalService, SqliteStore, VirtualClock, register_function
from durable_gen.testing import TestRunner, replay

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "typing"))

import round13  # noqa: E402  (tests/typing is not a package)

ANSWERS = round13.ANSWERS


# --- tests/typing/round13.py on every engine path --------------------------------------------


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_round13_on_the_test_runner_and_replayed(payload_format: Any) -> None:
    runner = TestRunner(functions=round13.FUNCTIONS, payload_format=payload_format)
    run = runner.run(round13.round13, 1)
    for name, answer in ANSWERS.items():
        assert run.status == "RUNNING", run.error
        run.send_callback_success(name, answer)
        runner.run_until_idle()
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == []
    report = replay(round13.round13, run.export())
    assert report.ok and report.outcome == "succeeded", report.message
    assert report.result == []


def answer_callbacks(service: LocalService, arn: str, answered: set[str]) -> None:
    for op in service.get_operations(arn):
        details = op.callback_details
        if op.type != "CALLBACK" or op.status != "STARTED" or details is None:
            continue
        assert details.callback_id
        for name, answer in ANSWERS.items():
            if (op.name or "").startswith(name) and name not in answered:
                answered.add(name)
                service.send_callback_success(details.callback_id, json.dumps(answer))


@pytest.mark.parametrize("invoked_format", ["json", "aws"])
@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_round13_on_sqlite_with_a_fresh_engine_for_every_invocation(
    tmp_path: Path, payload_format: Any, invoked_format: Any
) -> None:
    # every value the workflow receives after the first invocation is read from the database
    db = str(tmp_path / "round13.db")

    def engine() -> LocalService:
        service = LocalService(store=SqliteStore(db), clock=VirtualClock())
        service.register(
            "round13", rt.make_handler(round13.round13, service, payload_format=payload_format)
        )
        for name, fn in round13.FUNCTIONS.items():
            register_function(service, name, fn, payload_format=invoked_format)
        return service

    arn = engine().start("round13", "1")
    answered: set[str] = set()
    for _ in range(60):
        service = engine()
        record = service.run(arn)
        if record.status != "RUNNING":
            break
        answer_callbacks(service, arn, answered)
    record = engine().get_execution(arn)
    assert record.status == "SUCCEEDED", record.error
    assert answered == set(ANSWERS)
    assert json.loads(record.result or "null") == []


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_round13s_typed_calls_run(payload_format: Any) -> None:
    got = dg.run(round13.summary, 1, skip_time=True, payload_format=payload_format)
    assert got == round13.SUMMARY
    assert [type(v) for v in got] == [type(v) for v in round13.SUMMARY]
    order = round13.make_order(2)
    twice = dg.run(round13.Flow[round13.Order]().twice, order, payload_format=payload_format)
    assert twice == [order, order] and all(type(o) is round13.Order for o in twice)
    placed = dg.run(round13.Flow.placed, order, payload_format=payload_format)
    assert placed == order.placed and type(placed) is date


# --- type variables a subclass passes on to its generic base ----------------------------------

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class Item:
    code: str
    on: date


def item(n: int) -> Item:
    return Item(f"i-{n}", date(2024, 1, n))


class Source(Generic[T]):
    def fetch(self, n: int) -> T:
        return self.make(n)

    def make(self, n: int) -> T:
        raise NotImplementedError


class Many(Source[list[T]], Generic[T]):
    """``T`` of Source is a list of Many's ``T``."""

    def make(self, n: int) -> list[T]:
        return [item(n), item(n + 1)]  # type: ignore[list-item]


class Keyed(Generic[K, V]):
    def pair(self, key: K, value: V) -> dict[K, V]:
        return {key: value}


class Flipped(Keyed[V, K], Generic[K, V]):
    """Keyed's ``K`` is Flipped's ``V``, and the other way round."""


@dataclass
class Holder(Generic[T]):
    held: T

    def same(self, n: int) -> Self:
        return self


def fetch_many(_: None) -> dg.Workflow[list[Item]]:
    got = yield from dg.Step(Many[Item]().fetch, (1,), name="many")
    yield from dg.Wait(seconds=1)
    return got


def fetch_flipped(_: None) -> dg.Workflow[dict[date, Item]]:
    got = yield from dg.Step(Flipped[Item, date]().pair, (date(2024, 1, 5), item(5)), name="pair")
    yield from dg.Wait(seconds=1)
    return got


def fetch_held(_: None) -> dg.Workflow[tuple[Holder[Item], str]]:
    got = yield from dg.Step(Holder[Item](item(3)).same, (3,), name="held")
    yield from dg.Wait(seconds=1)
    return (got, type(got.held).__name__)  # the type the workflow received, on replay too


class Relay(Generic[T]):
    def run(self, value: T) -> dg.Workflow[list[T]]:
        yield from dg.Wait(seconds=1)
        return [value]


class ListRelay(Relay[list[T]], Generic[T]):
    pass


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_subclass_reusing_its_bases_type_variable_for_another_type_reads_the_bases(
    payload_format: Any,
) -> None:
    # Many[Item]().fetch returns a list[Item] (Source's T is list[Many's T]), as the checkers
    # say: it was read as one Item, which failed the step with "does not fit"
    runner = TestRunner(payload_format=payload_format)
    run = runner.run(fetch_many, None)
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == [item(1), item(2)]
    assert all(type(one) is Item for one in run.result())
    report = replay(fetch_many, run.export())
    assert report.ok, report.message
    assert report.result == [item(1), item(2)]


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_subclass_swapping_its_bases_type_variables_reads_them_swapped(
    payload_format: Any,
) -> None:
    run = TestRunner(payload_format=payload_format).run(fetch_flipped, None)
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == {date(2024, 1, 5): item(5)}
    ((key, value),) = run.result().items()
    assert type(key) is date and type(value) is Item


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_self_of_an_instance_made_with_its_type_arguments_keeps_them(payload_format: Any) -> None:
    # Holder[Item](...).same -> Self is a Holder[Item]: its field was read as plain JSON
    run = TestRunner(payload_format=payload_format).run(fetch_held, None)
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == (Holder(item(3)), "Item")
    report = replay(fetch_held, run.export())
    assert report.ok, report.message
    assert report.result == (Holder(item(3)), "Item")


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_generic_method_of_a_subclass_run_as_a_workflow_gets_its_input_typed(
    payload_format: Any,
) -> None:
    # ListRelay[Item]().run takes a list[Item]: its input was decoded as one Item, and refused
    got = dg.run(ListRelay[Item]().run, [item(1)], payload_format=payload_format)
    assert got == [[item(1)]]
    assert type(got[0][0]) is Item


# --- an overloaded function as a step ---------------------------------------------------------


@overload
def parse(raw: int) -> date: ...
@overload
def parse(raw: str) -> Decimal: ...
def parse(raw: int | str) -> date | Decimal:
    return date(2024, 1, raw) if isinstance(raw, int) else Decimal(raw)


def parse_date(raw: int) -> date:
    return parse(raw)


def parse_one(_: None) -> dg.Workflow[date]:
    return (yield from dg.Step(parse, (3,), name="parse"))


def parse_all(_: None) -> dg.Workflow[list[date]]:
    return (yield from dg.Map(parse, [1, 2], name="parse all")).results()


def parse_one_declared(_: None) -> dg.Workflow[date]:
    return (yield from dg.Step(parse_date, (3,), name="parse"))


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_an_overloaded_step_refused_for_its_implementations_type_says_so(
    payload_format: Any,
) -> None:
    # the checkers type Step(parse, (3,)) by the overload (a date); the implementation's
    # date | Decimal is a union no payload is read into: the error says where the type came
    # from and what to do, not only how to change the union
    run = TestRunner(payload_format=payload_format).run(parse_one, None)
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_message is not None
    assert "parse is overloaded" in run.error.error_message, run.error.error_message
    assert "The step was not run" in run.error.error_message
    batch = TestRunner(payload_format=payload_format).run(parse_all, None)
    assert batch.status == "FAILED"
    assert batch.error is not None and batch.error.error_message is not None
    assert "parse is overloaded" in batch.error.error_message, batch.error.error_message
    fixed = TestRunner(payload_format=payload_format).run(parse_one_declared, None)
    assert fixed.result() == date(2024, 1, 3)


def test_other_refused_steps_do_not_speak_of_overloads() -> None:
    def both(raw: int) -> date | Decimal:
        return date(2024, 1, raw)

    def wf(_: None) -> dg.Workflow[object]:
        return (yield from dg.Step(both, (3,), name="both"))

    run = TestRunner().run(wf, None)
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_message is not None
    assert "overloaded" not in run.error.error_message


# --- a class whose field names a class defined beside it inside a function -------------------


def local_classes() -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    @dataclass
    class Part:
        price: Decimal

    @dataclass
    class Assembly:
        part: Part  # text under `from __future__ import annotations`: "Part"
        on: date

    def build(n: int) -> Assembly:
        return Assembly(Part(Decimal(n)), date(2024, 1, n))

    def sub(n: int) -> dg.Workflow[Assembly]:
        yield from dg.Wait(seconds=1)
        return Assembly(Part(Decimal(n)), date(2024, 1, n))

    def as_step(_: None) -> dg.Workflow[str]:
        try:
            yield from dg.Step(build, (1,), name="build")
        except dg.StepFailedError as exc:
            return f"{exc.error_type}: {exc.error_message}"
        return "read"

    def as_child(_: None) -> dg.Workflow[str]:
        try:
            yield from dg.Child(sub, (1,), name="sub")
        except dg.SerializationError as exc:
            return f"SerializationError: {exc}"
        return "read"

    def as_map(_: None) -> dg.Workflow[str]:
        try:
            yield from dg.Map(build, [1, 2], name="builds")
        except dg.SerializationError as exc:
            return f"SerializationError: {exc}"
        return "read"

    return as_step, as_child, as_map


@pytest.mark.parametrize("kind", [0, 1, 2])
@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_local_class_whose_field_names_another_local_class_is_refused_with_advice(
    payload_format: Any, kind: int
) -> None:
    # msgspec reads the field's text "Part" with the module's names: it raised a bare
    # NameError from inside the codec, which failed the execution
    workflow = local_classes()[kind]
    run = TestRunner(payload_format=payload_format).run(workflow, None)
    assert run.status == "SUCCEEDED", run.error
    message = run.result()
    # (under "aws" a step's error type is recorded under AWS's name for it)
    assert message.split(": ")[0].endswith(("SerializationError", "SerDesError")), message
    assert "'Part'" in message and "module level" in message, message
    assert "was not run" in message or "not started" in message, message


# --- a tuple with an unpacked part ------------------------------------------------------------

Row = tuple[date, *tuple[int, ...]]
INVOKED: list[int] = []


def row_of(n: int) -> Any:
    INVOKED.append(n)
    return (date(2024, 1, 1), n, n)


def row_by_invoke(_: None) -> dg.Workflow[str]:
    try:
        yield dg.Invoke("rows", 1, result_type=Row)
    except dg.ValidationError as exc:
        return f"ValidationError: {exc}"
    return "invoked"


def row_step(n: int) -> Row:
    return (date(2024, 1, 1), n, n)


def row_by_step(_: None) -> dg.Workflow[str]:
    try:
        yield dg.Step(row_step, (1,), name="row")
    except dg.StepFailedError as exc:
        return f"{exc.error_type}: {exc.error_message}"
    return "read"


def test_a_result_type_holding_an_unpacked_tuple_is_refused_before_invoking() -> None:
    # msgspec read *tuple[int, ...] as one tuple member: the Invoke was accepted, the function
    # invoked, and its result refused as "does not fit" (Expected `array`, got `int`)
    INVOKED.clear()
    message = dg.run(row_by_invoke, None, functions={"rows": row_of})
    assert message.startswith("ValidationError: "), message
    assert "unpacked part" in message, message
    assert INVOKED == []


def test_a_step_declared_with_an_unpacked_tuple_says_what_to_declare() -> None:
    message = dg.run(row_by_step, None)
    assert "unpacked part" in message and "tuple[date, tuple[int, ...]]" in message, message
    assert "The step was not run" in message


# --- a step generic in a TypeVarTuple ---------------------------------------------------------

Ts = TypeVarTuple("Ts")


def row(*values: *Ts) -> tuple[*Ts]:
    return values


def unpacked_row(*values: Unpack[Ts]) -> tuple[Unpack[Ts]]:  # noqa: UP044 (the other spelling)
    return values


def rows(_: None) -> dg.Workflow[list[object]]:
    first = yield from dg.Step(row, (1, "a", date(2024, 1, 1)), name="row")
    second = yield from dg.Step(unpacked_row, (2, "b"), name="unpacked row")
    yield from dg.Wait(seconds=1)
    return [first, second]


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_step_generic_in_a_type_var_tuple_returns_plain_json_as_a_type_var_does(
    payload_format: Any,
) -> None:
    # it was refused before it ran: "Type '*Ts' is not supported"
    run = TestRunner(payload_format=payload_format).run(rows, None)
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == [[1, "a", "2024-01-01"], [2, "b"]]


# --- methods of a generic pydantic model -------------------------------------------------------


class Page(pydantic.BaseModel, Generic[T]):
    items: list[T]

    def first(self, n: int) -> T:
        return self.items[0]

    def every(self, n: int) -> list[T]:
        return self.items


class ItemPage(Page[Item]):
    pass


class Nested(Page[list[V]], Generic[V]):
    pass


def pages(_: None) -> dg.Workflow[list[str]]:
    one = item(1)
    got: list[object] = []
    got.append((yield from dg.Step(Page[Item](items=[one]).first, (1,), name="first")))
    got += yield from dg.Step(Page[Item](items=[one]).every, (1,), name="every")
    got.append((yield from dg.Step(ItemPage(items=[one]).first, (1,), name="subclass")))
    nested = yield from dg.Step(Nested[Item](items=[[one]]).first, (1,), name="nested")
    got += nested
    yield from dg.Wait(seconds=1)
    return [type(value).__name__ for value in got]  # the types the workflow received


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_generic_pydantic_models_methods_get_its_type_arguments(payload_format: Any) -> None:
    # Page[Item] is a class pydantic makes, which keeps its arguments in its own metadata: the
    # methods' T named no type, and their results came back as dicts
    run = TestRunner(payload_format=payload_format).run(pages, None)
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == ["Item"] * 4
    report = replay(pages, run.export())
    assert report.ok and report.result == ["Item"] * 4, report.message


# --- an object whose __call__ is a generator function, as a Map function or a branch ----------


class Wrapping(Generic[T]):
    def __call__(self, value: T) -> dg.Workflow[list[T]]:
        yield from dg.Wait(seconds=1)
        return [value]


class Fixed:
    def __call__(self) -> dg.Workflow[Item]:
        yield from dg.Wait(seconds=1)
        return item(9)


def callable_objects(_: None) -> dg.Workflow[list[str]]:
    child = yield from dg.Child(Wrapping[Item](), (item(1),), name="child")
    mapped = yield from dg.Map(Wrapping[Item](), [item(2), item(3)], name="map")
    branches = yield from dg.Parallel([Fixed(), dg.Branch(Fixed(), name="named")], name="par")
    got = [*child, *(one for batch in mapped.results() for one in batch), *branches.results()]
    return [type(value).__name__ for value in got]


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_an_object_with_a_generator_call_runs_as_a_child_workflow_in_a_map_and_a_parallel(
    payload_format: Any,
) -> None:
    # Child ran it as a workflow, but Map and Parallel ran it as one step, whose result (a
    # generator) failed every item: "the function only returned a sub-workflow"
    run = TestRunner(payload_format=payload_format).run(callable_objects, None)
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == ["Item"] * 5
    assert [op.sub_type for op in run.operations(type="CONTEXT")].count("MapIteration") == 2
    report = replay(callable_objects, run.export())
    assert report.ok and report.result == ["Item"] * 5, report.message


def invoke_wrapping(_: None) -> dg.Workflow[list[Item]]:
    return (yield from dg.Invoke("wrap", item(4), result_type=list[Item]))


def test_an_object_with_a_generator_call_served_by_name_is_refused_where_registered() -> None:
    # it was called as a plain function, and its result (the generator) failed the Invoke with
    # "a value of type generator cannot be written as a payload ... return list(value)"
    with pytest.raises(dg.ValidationError, match=r"Register its bound method \(Wrapping"):
        dg.run(invoke_wrapping, None, functions={"wrap": Wrapping[Item]()})
    with pytest.raises(dg.ValidationError, match=r"__call__ is a generator function"):
        TestRunner(functions={"wrap": Wrapping[Item]()})
    got = dg.run(invoke_wrapping, None, functions={"wrap": Wrapping[Item]().__call__})
    assert got == [item(4)] and type(got[0]) is Item
