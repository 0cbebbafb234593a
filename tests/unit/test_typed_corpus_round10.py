"""Typed programs written from the guide's "Typing workflows" and "Values and types", run on
every engine path: tests/typing/round10.py (checked by mypy and pyright) returns the values that
did not come back equal to what was sent, or of another type than the checkers gave them; the
cases below are pydantic models whose JSON form ``model_validate`` alone did not read back
(strict models and fields, a ``validation_alias`` only, an ``AliasPath``), a model pydantic
cannot write in JSON mode, and what a validator or serializer that changes values gives.
"""

from __future__ import annotations

import json
import sys
from dataclasses import InitVar, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

import msgspec
import pydantic
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.local import LocalService, SqliteStore, VirtualClock, Worker, register_function
from durable_gen.testing import TestRunner, replay

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "typing"))

import round10  # noqa: E402  (tests/typing is not a package)

T = TypeVar("T")
ANSWERS = {"readings": round10.READINGS, "size": round10.SIZE}


# --- tests/typing/round10.py on every engine path --------------------------------------------


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_round10_on_the_test_runner_and_replayed(payload_format: Any) -> None:
    runner = TestRunner(functions=round10.FUNCTIONS, payload_format=payload_format)
    run = runner.run(round10.round10, round10.ORDER)
    for name, answer in ANSWERS.items():
        assert run.status == "RUNNING", run.error
        run.send_callback_success(name, answer)
        runner.run_until_idle()
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == []
    report = replay(round10.round10, run.export())
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


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_round10_on_sqlite_with_a_fresh_engine_for_every_invocation(
    tmp_path: Path, payload_format: Any
) -> None:
    # every value the workflow receives after the first invocation is read from the database
    db = str(tmp_path / "round10.db")

    def engine() -> LocalService:
        service = LocalService(store=SqliteStore(db), clock=VirtualClock())
        service.register(
            "round10", rt.make_handler(round10.round10, service, payload_format=payload_format)
        )
        for name, fn in round10.FUNCTIONS.items():
            register_function(service, name, fn, payload_format=payload_format)
        return service

    arn = engine().start("round10", json.dumps({"id": "o-1", "user": 41, "due": "2024-02-29"}))
    answered: set[str] = set()
    for _ in range(40):
        service = engine()
        record = service.run(arn)
        if record.status != "RUNNING":
            break
        answer_callbacks(service, arn, answered)
    record = engine().get_execution(arn)
    assert record.status == "SUCCEEDED", record.error
    assert answered == set(ANSWERS)
    assert json.loads(record.result or "null") == []


def test_round10_on_a_sqlite_worker(tmp_path: Path) -> None:
    with Worker(
        str(tmp_path / "worker.db"),
        functions=round10.FUNCTIONS,
        skip_time=True,
        log=lambda line: None,
    ) as worker:
        name = worker.register(round10.round10)
        arn = worker.service.start(name, json.dumps({"id": "o-2", "user": 41, "due": "2024-02-29"}))
        answered: set[str] = set()
        for _ in range(20):
            worker.drive(arn)
            record = worker.service.get_execution(arn)
            if record.status != "RUNNING":
                break
            answer_callbacks(worker.service, arn, answered)
        assert record.status == "SUCCEEDED", record.error
        assert json.loads(record.result or "null") == []


def test_round10s_typed_calls_run() -> None:
    page = dg.run(round10.item_page, "X")
    assert page == round10.Page([round10.make_reading("x")], round10.make_reading("x"))
    assert type(page.first) is round10.Reading


# --- pydantic models whose JSON form model_validate alone does not read ----------------------


class StrictReading(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True)
    taken: date
    token: UUID
    tags: tuple[str, ...]


class StrictField(pydantic.BaseModel):
    taken: date = pydantic.Field(strict=True)


class FromOutside(pydantic.BaseModel):
    user_id: int = pydantic.Field(validation_alias="userId")
    since: datetime


class FromPath(pydantic.BaseModel):
    user_id: int = pydantic.Field(validation_alias=pydantic.AliasPath("user", 0))


def strict_reading() -> StrictReading:
    return StrictReading(taken=date(2024, 6, 1), token=UUID(int=5), tags=("a", "b"))


def strict_field() -> StrictField:
    return StrictField(taken=date(2024, 6, 2))


def from_outside() -> FromOutside:
    return FromOutside.model_validate({"userId": 3, "since": datetime(2020, 1, 1, tzinfo=UTC)})


def from_path() -> FromPath:
    return FromPath.model_validate({"user": [9]})


MODELS = [strict_reading, strict_field, from_outside, from_path]


@pytest.mark.parametrize("payload_format", ["json", "aws"])
@pytest.mark.parametrize("make", MODELS, ids=lambda f: f.__name__)
def test_a_model_whose_json_form_model_validate_refuses_comes_back_equal(
    make: Any, payload_format: Any
) -> None:
    # A strict model reads a date or UUID only as itself in Python mode, and a field with a
    # validation_alias only is written under its field name: the step ran, and its result
    # was then refused as "not fitting" the very type it had, on the first run and on replay
    seen: list[object] = []

    @dg.workflow
    def wf(_: None) -> dg.Workflow[bool]:
        got = yield dg.Step(make, name="make", retry=dg.Retry.never())
        seen.append(got)
        yield from dg.Wait(seconds=1)
        return got == make()

    runner = TestRunner(payload_format=payload_format)
    run = runner.run(wf)
    runner.run_until_idle()
    assert run.status == "SUCCEEDED", run.error
    assert run.result() is True
    report = replay(wf, run.export())
    assert report.ok and report.result is True, report.message
    assert seen and all(got == make() and type(got) is type(make()) for got in seen), seen


@dg.workflow
def strict_input(reading: StrictReading) -> dg.Workflow[list[str]]:
    yield from dg.Wait(seconds=1)
    return [type(reading.taken).__name__, type(reading.token).__name__, *reading.tags]


def test_a_strict_model_as_the_workflow_input_and_a_callbacks_result(tmp_path: Path) -> None:
    assert dg.run(strict_input, strict_reading(), skip_time=True) == ["date", "UUID", "a", "b"]

    sent = [{"userId": 4, "since": "2024-01-01T00:00:00Z"}]
    account = FromOutside.model_validate({"userId": 4, "since": datetime(2024, 1, 1, tzinfo=UTC)})

    @dg.workflow
    def wf(_: None) -> dg.Workflow[list[bool]]:
        got: list[FromOutside] = yield dg.WaitForCallback(
            lambda callback_id: None, name="accounts", result_type=list[FromOutside]
        )
        invoked = yield from dg.Invoke("reading", None, name="reading", result_type=StrictReading)
        return [got == [account], invoked == strict_reading(), type(invoked) is StrictReading]

    db = str(tmp_path / "strict.db")

    def engine() -> LocalService:
        service = LocalService(store=SqliteStore(db), clock=VirtualClock())
        service.register("wf", rt.make_handler(wf, service))
        register_function(service, "reading", lambda _: strict_reading())
        return service

    arn = engine().start("wf", "null")
    for _ in range(10):
        service = engine()
        if service.run(arn).status != "RUNNING":
            break
        for op in service.get_operations(arn):
            if op.type == "CALLBACK" and op.status == "STARTED" and op.callback_details:
                service.send_callback_success(op.callback_details.callback_id, json.dumps(sent))
    record = engine().get_execution(arn)
    assert record.status == "SUCCEEDED", record.error
    assert json.loads(record.result or "null") == [True, True, True]


# --- what cannot round-trip is told so, or is documented -------------------------------------


class Blob(pydantic.BaseModel):
    data: bytes


class Base64Blob(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")
    data: bytes


class Renamed(pydantic.BaseModel):
    user_id: int = pydantic.Field(serialization_alias="uid")


def step_failure(fn: Any, payload_format: Any = "json") -> str:
    @dg.workflow
    def wf(_: None) -> dg.Workflow[str]:
        try:
            yield dg.Step(fn, name="make", retry=dg.Retry.never())
        except dg.StepFailedError as exc:
            return f"{exc.error_message}"
        return "made"

    return dg.run(wf, payload_format=payload_format)


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_model_with_bytes_that_are_not_utf8_is_told_what_to_configure(
    payload_format: Any,
) -> None:
    # pydantic writes bytes as UTF-8 text by default: the error said to use pydantic models
    # (it was one) rather than how to make pydantic write the bytes
    def blob() -> Blob:
        return Blob(data=b"\xff\x00")

    said = step_failure(blob, payload_format)
    assert "pydantic cannot write a model of type Blob" in said, said
    assert "ser_json_bytes='base64', val_json_bytes='base64'" in said, said
    assert "use JSON data, dataclasses" not in said, said

    def base64_blob() -> Base64Blob:
        return Base64Blob(data=b"\xff\x00")

    @dg.workflow
    def wf(_: None) -> dg.Workflow[bytes]:
        got = yield from dg.Step(base64_blob)
        return got.data

    assert dg.run(wf, payload_format=payload_format) == b"\xff\x00"


def test_a_serialization_alias_validation_does_not_read_is_named() -> None:
    def renamed() -> Renamed:
        return Renamed(user_id=1)

    said = step_failure(renamed)
    assert "does not fit the declared type Renamed" in said, said
    assert "a serialization_alias that validation does not read" in said, said


class Doubled(pydantic.BaseModel):
    n: int

    @pydantic.field_validator("n")
    @classmethod
    def double(cls, value: int) -> int:
        return value * 2


def doubled() -> Doubled:
    return Doubled(n=2)  # n == 4


def test_a_validator_that_changes_a_valid_value_gives_the_same_value_on_every_run() -> None:
    # docs/guide.md: the workflow receives what validation makes of the JSON form; it is the
    # same value on the first run and on replay
    seen: list[int] = []

    @dg.workflow
    def wf(_: None) -> dg.Workflow[int]:
        got = yield from dg.Step(doubled)
        seen.append(got.n)
        yield from dg.Wait(seconds=1)
        return got.n

    runner = TestRunner()
    run = runner.run(wf)
    runner.run_until_idle()
    assert run.result() == 8
    assert replay(wf, run.export()).result == 8
    assert set(seen) == {8}


# --- an Annotated constraint msgspec puts on no value of the type ----------------------------


def bounded_price(cents: int) -> Annotated[Decimal, msgspec.Meta(ge=0)]:
    PRICED.append(cents)
    return Decimal(cents) / 100


PRICED: list[int] = []


def test_a_bound_on_a_decimal_says_where_msgspec_takes_bounds() -> None:
    # msgspec takes ge/gt/le/lt on int and float only: the step is not run (its result could
    # not be read back), and the advice was about unions
    @dg.workflow
    def wf(cents: int) -> dg.Workflow[str]:
        try:
            yield dg.Step(bounded_price, (cents,), name="price")
        except dg.StepFailedError as exc:
            return exc.error_message or ""
        return "priced"

    said = dg.run(wf, 5)
    assert "bounds (ge, gt, le, lt, multiple_of) apply to int and float only" in said, said
    assert "a union may hold" not in said and "The step was not run" in said, said
    assert PRICED == []


# --- a union of pydantic models ----------------------------------------------------------------


class Cat(pydantic.BaseModel):
    kind: Literal["cat"] = "cat"
    lives: int


class Dog(pydantic.BaseModel):
    kind: Literal["dog"] = "dog"
    born: date


class Pet(pydantic.RootModel[Annotated[Cat | Dog, pydantic.Field(discriminator="kind")]]):
    pass


def pets(n: int) -> list[Pet]:
    return [Pet(Cat(lives=n)), Pet(Dog(born=date(2020, 1, n)))]


def test_a_union_of_pydantic_models_is_told_to_be_a_root_model() -> None:
    # msgspec reads a pydantic model in a union only alone or with None; the advice was to
    # declare "one dataclass, or msgspec Structs declared with tag=True"
    with pytest.raises(dg.ValidationError) as caught:
        dg.Invoke("pets", 1, result_type=list[Cat | Dog])
    assert "declare a RootModel of their union" in str(caught.value), caught.value
    with pytest.raises(dg.ValidationError, match="declare a RootModel of their union"):
        dg.CreateCallback(name="pet", result_type=Dog | int)

    @dg.workflow
    def wf(n: int) -> dg.Workflow[list[bool]]:
        got = yield from dg.Invoke("pets", n, result_type=list[Pet])
        stepped = yield from dg.Step(pets, (n,))
        return [got == pets(n), stepped == pets(n), type(stepped[1].root) is Dog]

    for payload_format in ("json", "aws"):
        assert dg.run(wf, 2, functions={"pets": pets}, payload_format=payload_format) == [
            True,
            True,
            True,
        ]


# --- a generic class's instance built without its type arguments ------------------------------


@dataclass
class Order:
    id: str


class Store(Generic[T]):
    def __init__(self, kind: type[T]) -> None:
        self.kind = kind

    def load(self, key: str) -> T:
        return self.kind(key)  # type: ignore[call-arg]


def test_an_instance_without_type_arguments_gives_plain_json_as_documented() -> None:
    # docs/guide.md: type checkers infer Store[Order] from Store(Order), but at run time the
    # instance holds no type argument, so load()'s T names no type; subscripted, it does
    @dg.workflow
    def wf(_: None) -> dg.Workflow[list[str]]:
        inferred = yield from dg.Step(Store(Order).load, ("x",))
        subscripted = yield from dg.Step(Store[Order](Order).load, ("y",))
        return [repr(inferred), repr(subscripted)]

    assert dg.run(wf) == [repr({"id": "x"}), repr(Order("y"))]


# --- values built again when read: __post_init__ and InitVar ---------------------------------


@dataclass
class Scaled:
    cents: int
    scale: InitVar[int] = 1

    def __post_init__(self, scale: int) -> None:
        self.cents *= scale


BUILT: list[int] = []


def scaled(cents: int) -> Scaled:
    BUILT.append(cents)
    return Scaled(cents, 100)


class Bumped(msgspec.Struct):
    n: int

    def __post_init__(self) -> None:
        self.n += 1


def bumped(n: int) -> Bumped:
    return Bumped(n)


def test_a_dataclass_with_an_initvar_is_told_to_make_it_a_field() -> None:
    @dg.workflow
    def wf(cents: int) -> dg.Workflow[str]:
        try:
            yield dg.Step(scaled, (cents,), name="scaled")
        except dg.StepFailedError as exc:
            return exc.error_message or ""
        return "scaled"

    said = dg.run(wf, 3)
    assert "an InitVar is given to __post_init__ and not kept" in said, said
    assert "make it a field" in said and "a union may hold" not in said, said
    assert BUILT == []


def test_a_post_init_that_is_not_idempotent_gives_the_same_value_on_every_run() -> None:
    # docs/guide.md: reading builds the value again; the workflow sees the same on each run
    seen: list[int] = []

    @dg.workflow
    def wf(n: int) -> dg.Workflow[int]:
        got = yield from dg.Step(bumped, (n,))
        seen.append(got.n)
        yield from dg.Wait(seconds=1)
        return got.n

    runner = TestRunner()
    run = runner.run(wf, 1)
    runner.run_until_idle()
    assert run.result() == 3  # built as 2, read back as 3
    assert replay(wf, run.export()).result == 3
    assert set(seen) == {3}


# --- NaN and infinities inside AWS's envelope ----------------------------------------------------


def measured(n: int) -> dict[str, Any]:
    return {"mean": float("nan"), "max": float("inf"), "min": 1.5, "pair": (n, float("-inf"))}


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_nan_inside_a_value_is_null_in_both_formats(payload_format: Any) -> None:
    # Under "aws" a NaN in a dict was written {"t": "f", "v": null}, which is no well-formed
    # envelope: the whole payload was read as plain JSON, and the workflow got AWS's envelope
    # itself ({"t": "m", "v": {...}}) for the dict, on the first run and on every replay
    @dg.workflow
    def wf(n: int) -> dg.Workflow[str]:
        got = yield from dg.Step(measured, (n,))
        yield from dg.Wait(seconds=1)
        return repr(got)

    runner = TestRunner(payload_format=payload_format)
    run = runner.run(wf, 2)
    runner.run_until_idle()
    expected = {"mean": None, "max": None, "min": 1.5, "pair": [2, None]}
    if payload_format == "aws":
        expected["pair"] = (2, None)  # the envelope keeps a tuple
    assert run.result() == repr(expected)
    assert replay(wf, run.export()).result == repr(expected)


def test_awss_sdk_reads_a_nan_durable_gen_wrote_in_its_envelope() -> None:
    aws_serdes = pytest.importorskip("aws_durable_execution_sdk_python.serdes")

    @dg.workflow
    def wf(n: int) -> dg.Workflow[None]:
        yield from dg.Step(measured, (n,), name="measured")

    runner = TestRunner(payload_format="aws")
    run = runner.run(wf, 2)
    assert run.status == "SUCCEEDED", run.error
    (step,) = [op for op in run.export()["Operations"] if op.get("Name") == "measured"]
    context = aws_serdes.SerDesContext("op", "arn")
    read = aws_serdes.ExtendedTypeSerDes().deserialize(step["StepDetails"]["Result"], context)
    assert read == {"mean": None, "max": None, "min": 1.5, "pair": (2, None)}


# --- a tagged Struct's subclass returned where the base is declared ----------------------------


class Shape(msgspec.Struct, tag_field="type"):
    pass


class Circle(Shape, tag="circle"):
    radius: float


def circle(radius: float) -> Shape:
    return Circle(radius)


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_tagged_subclass_where_its_base_is_declared_is_told_to_declare_it(
    payload_format: Any,
) -> None:
    # The payload carries the subclass's tag, which the base class refuses: the advice was
    # "return a value of that type", although a type checker accepts a Circle as a Shape
    @dg.workflow
    def wf(radius: float) -> dg.Workflow[str]:
        try:
            yield dg.Step(circle, (radius,), name="circle", retry=dg.Retry.never())
        except dg.StepFailedError as exc:
            return exc.error_message or ""
        return "drawn"

    said = dg.run(wf, 1.5, payload_format=payload_format)
    assert "a msgspec Struct tagged 'circle' where Shape (tagged 'Shape') is declared" in said
    assert "Declare the class returned, or a union of the tagged Structs" in said, said


# --- a recursive union of tagged Structs, 200 levels deep ----------------------------------------


class Lit(msgspec.Struct, tag=True, frozen=True):
    value: int


class Add(msgspec.Struct, tag=True, frozen=True):
    left: Expr
    right: Expr


class Negate(msgspec.Struct, tag=True, frozen=True):
    inner: Expr


Expr = Lit | Add | Negate


def expression(depth: int) -> Expr:
    built: Expr = Lit(0)
    for i in range(depth):
        built = Add(built, Negate(Lit(i)))
    return built


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_recursive_union_of_tagged_structs_comes_back_equal(payload_format: Any) -> None:
    @dg.workflow
    def wf(depth: int) -> dg.Workflow[bool]:
        got = yield from dg.Step(expression, (depth,))
        yield from dg.Wait(seconds=1)
        return got == expression(depth) and type(got) is Add

    runner = TestRunner(payload_format=payload_format)
    run = runner.run(wf, 200)
    runner.run_until_idle()
    assert run.result() is True
    report = replay(wf, run.export())
    assert report.ok and report.result is True, report.message
