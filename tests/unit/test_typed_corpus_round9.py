"""Typed programs written from the guide's "Typing workflows" and "Values and types", run on
every engine path: tests/typing/round9.py (checked by mypy and pyright) returns the values that
did not have, at run time, the type the checkers gave them; the cases below are the declared
types the earlier corpora did not hold (``Annotated`` constraints, a ``result_type=`` naming a
class the codec builds no value of, an ``async def`` given to ``Child``).
"""

from __future__ import annotations

import collections
import functools
import json
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import msgspec
import pydantic
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.local import LocalService, SqliteStore, VirtualClock, Worker, register_function
from durable_gen.testing import TestRunner, replay

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "typing"))

import round9  # noqa: E402  (tests/typing is not a package)

ANSWERS = {"status": round9.STATUS, "lines": round9.LINES}


# --- tests/typing/round9.py on every engine path ---------------------------------------------


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_round9_on_the_test_runner_and_replayed(payload_format: Any) -> None:
    runner = TestRunner(functions=round9.FUNCTIONS, payload_format=payload_format)
    run = runner.run(round9.round9, round9.SKU)
    for name, answer in ANSWERS.items():
        run.send_callback_success(name, answer)
        runner.run_until_idle()
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == []
    report = replay(round9.round9, run.export())
    assert report.ok and report.outcome == "succeeded", report.message
    assert report.result == []


def _answer_callbacks(service: LocalService, arn: str, answered: set[str]) -> None:
    for op in service.get_operations(arn):
        details = op.callback_details
        if op.type != "CALLBACK" or op.status != "STARTED" or details is None:
            continue
        assert details.callback_id
        for name, answer in ANSWERS.items():
            if (op.name or "").startswith(name) and name not in answered:
                answered.add(name)
                service.send_callback_success(details.callback_id, json.dumps(answer))


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_round9_on_sqlite_with_a_fresh_engine_for_every_invocation(
    tmp_path: Path, payload_format: Any
) -> None:
    db = str(tmp_path / "round9.db")

    def engine() -> LocalService:
        service = LocalService(store=SqliteStore(db), clock=VirtualClock())
        service.register(
            "round9", rt.make_handler(round9.round9, service, payload_format=payload_format)
        )
        for name, fn in round9.FUNCTIONS.items():
            register_function(service, name, fn, payload_format=payload_format)
        return service

    arn = engine().start("round9", json.dumps(round9.SKU))
    answered: set[str] = set()
    for _ in range(40):
        service = engine()
        record = service.run(arn)
        if record.status != "RUNNING":
            break
        _answer_callbacks(service, arn, answered)
    record = engine().get_execution(arn)
    assert record.status == "SUCCEEDED", record.error
    assert json.loads(record.result or "null") == []


def test_round9_on_a_sqlite_worker(tmp_path: Path) -> None:
    with Worker(
        str(tmp_path / "worker.db"),
        functions=round9.FUNCTIONS,
        skip_time=True,
        log=lambda line: None,
    ) as worker:
        name = worker.register(round9.round9)
        arn = worker.service.start(name, json.dumps("xy"))
        answered: set[str] = set()
        for _ in range(20):
            worker.drive(arn)
            record = worker.service.get_execution(arn)
            if record.status != "RUNNING":
                break
            _answer_callbacks(worker.service, arn, answered)
        assert record.status == "SUCCEEDED", record.error
        assert json.loads(record.result or "null") == []


@pytest.mark.parametrize("sku", ["", "much-too-long"])
def test_round9_refuses_an_input_outside_its_annotated_constraint(sku: str) -> None:
    with pytest.raises(dg.ExecutionFailedError, match="workflow input") as caught:
        TestRunner(functions=round9.FUNCTIONS).run(round9.round9, sku).result()
    assert caught.value.error_type == "SerializationError"


def test_round9s_typed_calls_run() -> None:
    assert dg.run(round9.box_it, Decimal(1)) == round9.Box(Decimal(1), ["a"])
    assert dg.run(round9.note, "a", skip_time=True) is None


# --- Annotated constraints: what the declared type says is checked, at any depth --------------

NonNegative = Annotated[int, msgspec.Meta(ge=0)]
Short = Annotated[str, msgspec.Meta(max_length=3)]


@dataclass
class Stock:
    count: NonNegative


def count_top(n: int) -> NonNegative:
    return n


def count_list(n: int) -> list[NonNegative]:
    return [n]


def count_optional(n: int) -> NonNegative | None:
    return n


def count_field(n: int) -> Stock:
    return Stock(n)


def code_of(n: int) -> Short:
    return "x" * n


CONSTRAINED = [count_top, count_list, count_optional, count_field]


@pytest.mark.parametrize("payload_format", ["json", "aws"])
@pytest.mark.parametrize("fn", CONSTRAINED, ids=lambda f: f.__name__)
def test_a_step_result_outside_its_annotated_constraint_does_not_fit(
    fn: Any, payload_format: Any
) -> None:
    # msgspec.Meta constraints held in a dataclass field were checked, the same constraint on
    # the function's own annotation (or inside a list or an Optional there) was dropped: -1
    # was recorded for a step declared to return a non-negative int
    @dg.workflow
    def wf(n: int) -> dg.Workflow[str | None]:
        try:
            yield dg.Step(fn, (n,), name="count", retry=dg.Retry.never())
        except dg.StepFailedError as exc:
            return f"{exc.error_type}: {exc.error_message}"
        return None

    assert dg.run(wf, 3, payload_format=payload_format) is None
    said = dg.run(wf, -1, payload_format=payload_format)
    assert said is not None and "does not fit the declared type" in said and ">= 0" in said, said


def test_a_constrained_value_that_fits_comes_back_on_replay() -> None:
    @dg.workflow
    def wf(n: NonNegative) -> dg.Workflow[list[object]]:
        top = yield from dg.Step(count_top, (n,))
        listed = yield from dg.Step(count_list, (n,))
        code = yield from dg.Step(code_of, (2,))
        yield from dg.Wait(seconds=1)
        return [top, listed, code]

    runner = TestRunner()
    run = runner.run(wf, 2)
    assert run.result() == [2, [2], "xx"]
    report = replay(wf, run.export())
    assert report.ok and report.result == [2, [2], "xx"], report.message


def test_a_workflow_input_outside_its_annotated_constraint_is_refused() -> None:
    @dg.workflow
    def wf(n: NonNegative) -> dg.Workflow[int]:
        yield from dg.Wait(seconds=1)
        return n

    assert dg.run(wf, 4, skip_time=True) == 4
    with pytest.raises(dg.ExecutionFailedError, match=r"workflow input.*>= 0") as caught:
        dg.run(wf, -4, skip_time=True)
    assert caught.value.error_type == "SerializationError"


def test_a_workflow_result_outside_its_annotated_constraint_fails_the_execution() -> None:
    @dg.workflow
    def wf(code: str) -> dg.Workflow[Short]:
        yield from dg.Wait(seconds=1)
        return code

    assert dg.run(wf, "abc", skip_time=True) == "abc"
    with pytest.raises(dg.ExecutionFailedError, match="length <= 3") as caught:
        dg.run(wf, "abcd", skip_time=True)
    assert caught.value.error_type == "SerializationError"


def test_an_annotated_workflow_annotation_still_declares_its_result() -> None:
    # Annotated[Workflow[R], ...] on a generator function: R is still the declared result
    @dataclass
    class Item:
        name: str

    @dg.workflow
    def wf(name: str) -> Annotated[dg.Workflow[Item], "the item"]:
        yield from dg.Wait(seconds=1)
        return Item(name)

    @dg.workflow
    def parent(name: str) -> dg.Workflow[str]:
        item = yield from dg.Child(wf, (name,))
        assert type(item) is Item, item
        return item.name

    assert dg.run(parent, "a", skip_time=True) == "a"


def test_annotated_metadata_msgspec_does_not_know_changes_nothing() -> None:
    # documentation strings or other libraries' markers in Annotated are not constraints
    def labelled(n: int) -> Annotated[int, "a count"]:
        return n

    @dg.workflow
    def wf(n: Annotated[int, "the input"]) -> dg.Workflow[int]:
        return (yield from dg.Step(labelled, (n,)))

    assert dg.run(wf, -7) == -7


# --- result_type= of a class the codec builds no value of -------------------------------------


class Money:  # a plain class: no dataclass, no Struct
    def __init__(self, cents: int) -> None:
        self.cents = cents


@dataclass
class Wallet:
    money: Money


UNBUILDABLE = [Money, Wallet, collections.deque[int], collections.OrderedDict[str, int]]


@pytest.mark.parametrize("declared", UNBUILDABLE, ids=repr)
def test_an_invoke_whose_result_type_cannot_be_built_is_refused_before_it_runs(
    declared: Any,
) -> None:
    # The target ran (its side effects done) and only then its result failed to decode at the
    # yield; refused where the Invoke is written, as a result_type msgspec refuses is
    invoked: list[int] = []

    def target(cents: int) -> dict[str, int]:
        invoked.append(cents)
        return {"cents": cents}

    @dg.workflow
    def wf(cents: int) -> dg.Workflow[str]:
        try:
            yield dg.Invoke("target", cents, result_type=declared)
        except dg.ValidationError as exc:
            return str(exc)
        return "invoked"

    said = dg.run(wf, 5, functions={"target": target})
    assert said.startswith("Invoke result_type must be a type values can be decoded into"), said
    assert "leave result_type= out" in said and "annotate it Any" not in said
    assert invoked == []


@pytest.mark.parametrize("declared", UNBUILDABLE, ids=repr)
def test_a_callback_whose_result_type_cannot_be_built_is_refused_where_written(
    declared: Any,
) -> None:
    with pytest.raises(dg.ValidationError, match="CreateCallback result_type"):
        dg.CreateCallback(name="answer", result_type=declared)
    with pytest.raises(dg.ValidationError, match="WaitForCallback result_type"):
        dg.WaitForCallback(lambda callback_id: None, name="answer", result_type=declared)


def test_a_result_type_holding_such_a_class_only_where_it_may_be_absent_is_accepted() -> None:
    # list[Money] and Money | None are read when empty or null, as for a step's result
    dg.Invoke("target", 1, result_type=list[Money])
    dg.CreateCallback(name="maybe", result_type=Money | None)

    @dg.workflow
    def wf(_: None) -> dg.Workflow[list[Money]]:
        return (yield from dg.Invoke("empty", None, result_type=list[Money]))

    assert dg.run(wf, functions={"empty": lambda _: []}) == []


def test_the_runtime_json_of_an_answer_is_unchanged_for_a_buildable_result_type() -> None:
    @dataclass
    class Cents:
        cents: int

    @dg.workflow
    def wf(cents: int) -> dg.Workflow[int]:
        got = yield from dg.Invoke("target", cents, result_type=Cents)
        assert type(got) is Cents
        return got.cents

    assert dg.run(wf, 5, functions={"target": lambda c: {"cents": c}}) == 5
    assert json.loads(json.dumps(5)) == 5


# --- an async def given to Child ---------------------------------------------------------------


async def fetch_total(n: int) -> int:
    return n + 1


@dg.step
async def fetch_total_step(n: int) -> int:
    return n + 1


def test_an_async_function_given_to_child_is_told_to_make_it_a_step() -> None:
    # Type checkers refuse Child(async_fn) (tests/typing/negative_round9.py); at run time the
    # error named the function a workflow and said to move its awaits into a @step function,
    # not that decorating this very function with @dg.step makes the Child run it as a step
    @dg.workflow
    def wf(n: int) -> dg.Workflow[int]:
        return (yield dg.Child(fetch_total, (n,)))  # type: ignore[arg-type]

    with pytest.raises(dg.ExecutionFailedError) as caught:
        dg.run(wf, 1)
    assert caught.value.error_type == "WorkflowDefinitionError"
    message = caught.value.error_message
    assert "Child(fetch_total, ...)" in message
    assert "Decorate it with @dg.step, and Child(fetch_total, args) runs it as one step" in message
    assert "yield dg.Step(fetch_total, args)" in message
    with pytest.raises(dg.WorkflowDefinitionError, match=r"Child\(fetch_total, \.\.\.\)"):
        dg.Child(functools.partial(fetch_total, 1))  # type: ignore[arg-type]


def test_what_the_message_says_to_write_runs() -> None:
    @dg.workflow
    def wf(n: int) -> dg.Workflow[list[int]]:
        in_child = yield from dg.Child(fetch_total_step, (n,), name="total")
        here = yield from dg.Step(fetch_total, (n,))
        return [in_child, here]

    for payload_format in ("json", "aws"):
        assert dg.run(wf, 1, payload_format=payload_format) == [2, 2]


# --- a subclass instance where its base class is declared -----------------------------------


@dataclass
class Vehicle:
    wheels: int


@dataclass
class Car(Vehicle):
    brand: str = "none"


@dataclass
class Painted(Vehicle):  # a subclass that adds no field: nothing is dropped
    def colour(self) -> str:
        return "red"


class Shape(msgspec.Struct):
    sides: int


class Square(Shape):
    length: int = 1


def make_car(brand: str) -> Vehicle:
    return Car(4, brand)


def make_square(length: int) -> Shape:
    return Square(4, length)


def make_painted(wheels: int) -> Vehicle:
    return Painted(wheels)


def make_vehicle(wheels: int) -> Vehicle:
    return Vehicle(wheels)


def make_cars(brand: str) -> list[Vehicle]:
    return [Car(4, brand)]


@pytest.mark.parametrize("payload_format", ["json", "aws"])
@pytest.mark.parametrize("fn", [make_car, make_square], ids=lambda f: f.__name__)
def test_a_step_returning_a_subclass_with_more_fields_is_told_they_would_be_dropped(
    fn: Any, payload_format: Any
) -> None:
    # Type checkers accept a Car where a Vehicle is declared; the value was decoded into a
    # Vehicle, its brand silently gone on the first run and on every replay
    @dg.workflow
    def wf(arg: Any) -> dg.Workflow[str]:
        try:
            got = yield dg.Step(fn, (arg,), name="make")
        except dg.StepFailedError as exc:
            return exc.error_message or ""
        return repr(got)

    said = dg.run(wf, "vw" if fn is make_car else 3, payload_format=payload_format)
    assert "an instance of" in said and "is declared" in said, said
    assert "(brand)" in said or "(length)" in said, said
    assert "Declare the class returned" in said


def test_a_child_or_workflow_returning_a_subclass_with_more_fields_is_told_so() -> None:
    def build(brand: str) -> dg.Workflow[Vehicle]:
        yield from dg.Wait(seconds=1)
        return Car(4, brand)

    @dg.workflow
    def parent(brand: str) -> dg.Workflow[str]:
        try:
            yield dg.Child(build, (brand,), name="build")
        except dg.ChildFailedError as exc:
            return f"{exc.error_type}: {exc.error_message}"
        return "built"

    said = dg.run(parent, "vw", skip_time=True)
    assert said.startswith("SerializationError") and "(brand)" in said, said
    with pytest.raises(dg.ExecutionFailedError, match=r"an instance of Car where Vehicle is"):
        dg.run(build, "vw", skip_time=True)


def test_a_subclass_that_drops_nothing_and_the_declared_class_itself_pass() -> None:
    @dg.workflow
    def wf(brand: str) -> dg.Workflow[list[str]]:
        painted = yield from dg.Step(make_painted, (3,))
        cars = yield from dg.Step(make_cars, (brand,))  # a container's items: read as declared
        plain = yield from dg.Step(make_vehicle, (2,))
        return [repr(painted), repr(cars), repr(plain)]

    assert dg.run(wf, "vw") == [
        "Vehicle(wheels=3)",
        "[Vehicle(wheels=4)]",
        "Vehicle(wheels=2)",
    ]


# --- bytes where str is declared ---------------------------------------------------------------


def untyped_read() -> Any:  # a library without annotations, returning bytes
    return b"hello"


def read_text() -> str:
    return untyped_read()  # type: ignore[no-any-return]


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_bytes_returned_where_str_is_declared_are_not_read_back_as_base64_text(
    payload_format: Any,
) -> None:
    # Under payload_format="json" the step's bytes were written as base64 and read back as
    # that text: the workflow got "aGVsbG8=" for a str, on every run; "aws" refused them
    @dg.workflow
    def wf(_: None) -> dg.Workflow[str]:
        try:
            return (yield from dg.Step(read_text, retry=dg.Retry.never()))
        except dg.StepFailedError as exc:
            return exc.error_message or ""

    said = dg.run(wf, payload_format=payload_format)
    assert said != "aGVsbG8=" and "str" in said, said
    if payload_format == "json":
        assert "return value.decode()" in said, said


class User(pydantic.BaseModel):
    name: str


class Admin(User):
    level: int = 1


def make_admin(name: str) -> User:
    return Admin(name=name)


def test_a_pydantic_model_subclass_with_more_fields_is_told_so_too() -> None:
    @dg.workflow
    def wf(name: str) -> dg.Workflow[str]:
        try:
            yield dg.Step(make_admin, (name,), retry=dg.Retry.never())
        except dg.StepFailedError as exc:
            return exc.error_message or ""
        return "made"

    said = dg.run(wf, "x")
    assert "an instance of Admin where User is declared" in said and "(level)" in said, said


def check_fleet(state: Vehicle) -> Vehicle:
    return Car(state.wheels + 1, "polled")


def test_a_wait_for_condition_state_of_a_subclass_with_more_fields_is_told_so() -> None:
    @dg.workflow
    def wf(_: None) -> dg.Workflow[str]:
        try:
            yield dg.WaitForCondition(check_fleet, Vehicle(0), name="fleet")
        except dg.StepFailedError as exc:
            return exc.error_message or ""
        return "polled"

    said = dg.run(wf)
    assert "an instance of Car where Vehicle is declared" in said and "(brand)" in said, said


@dg.workflow
def wheels_of(vehicle: Vehicle) -> dg.Workflow[int]:
    yield from dg.Wait(seconds=1)
    return vehicle.wheels


def test_an_input_of_a_subclass_with_more_fields_is_refused_where_it_is_passed() -> None:
    # dg.run(wf, Car(...)) for def wf(v: Vehicle): type checkers accept it, and the workflow
    # got a Vehicle without the Car's brand
    for start in (
        lambda: dg.run(wheels_of, Car(4, "vw"), skip_time=True),
        lambda: TestRunner().run(wheels_of, Car(4, "vw")),
    ):
        with pytest.raises(dg.SerializationError, match=r"the workflow input: an instance of Car"):
            start()
    assert dg.run(wheels_of, Vehicle(3), skip_time=True) == 3
    assert dg.run(wheels_of, {"wheels": 2}, skip_time=True) == 2  # its JSON form, as documented
    assert TestRunner().run(wheels_of, Painted(5)).result() == 5  # a subclass adding no field


def test_bytes_with_no_declared_type_still_come_back_as_base64_text() -> None:
    # "With no declared type": bytes as base64 strings (docs/guide.md); only a declared str
    # refuses them
    @dg.workflow
    def wf(_: None) -> dg.Workflow[Any]:
        return (yield dg.Step(untyped_read))

    assert dg.run(wf) == "aGVsbG8="
