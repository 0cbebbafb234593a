"""A corpus of declared types, each checked the way a user reads "Values and types" in the guide:
the value a workflow receives has its declared type on the first run and on every replay, on
every engine path, and so does the workflow's own result wherever it is read.

A step declared with each type returns a value of it; the workflow notes what it received in
each run of its body, then waits, so that the next invocation replays the step.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import (
    Annotated,
    Any,
    Generic,
    Literal,
    NamedTuple,
    NewType,
    NotRequired,
    Optional,
    Required,
    TypedDict,
    TypeVar,
)

import msgspec
import pydantic
import pytest
from typing_extensions import ReadOnly

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.aws import lambda_handler
from durable_gen.local import LocalService, SqliteStore, VirtualClock, register_function
from durable_gen.testing import TestRunner, replay

T = TypeVar("T")


class Tier(enum.Enum):
    GOLD = "gold"
    BASIC = "basic"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Color(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Perm(enum.Flag):
    R = 1
    W = 2


@dataclass(frozen=True)
class Address:
    street: str
    zip: int = 0


@dataclass
class Person:
    name: str
    address: Address
    tags: list[str] = field(default_factory=list)
    tier: Tier = Tier.BASIC
    born: date | None = None


@dataclass
class Box(Generic[T]):
    item: T


class Card(msgspec.Struct, tag=True):
    number: str


class Wire(msgspec.Struct, tag=True):
    iban: str


class Account(msgspec.Struct, frozen=True):
    owner: Person
    opened: datetime
    balance: Decimal
    levels: frozenset[Level]


class Point(NamedTuple):
    x: int
    y: int


class Total(TypedDict):
    amount: Decimal
    at: datetime


class Model(pydantic.BaseModel):
    name: str
    when: datetime
    amount: Decimal
    tier: Tier
    address: Address


class Aliased(pydantic.BaseModel):  # a camelCase API's model: validated by alias only
    first_name: str = pydantic.Field(alias="firstName")
    born_on: date = pydantic.Field(alias="bornOn")


class ByName(pydantic.BaseModel):  # validated by field name only
    model_config = pydantic.ConfigDict(validate_by_name=True, validate_by_alias=False)
    first_name: str = pydantic.Field(alias="firstName")


UserId = NewType("UserId", int)


class Frozen(TypedDict):  # PEP 705 and PEP 655 qualifiers: they say nothing about decoding
    id: ReadOnly[uuid.UUID]
    amount: NotRequired[Decimal]
    at: ReadOnly[NotRequired[datetime]]


class Partial(TypedDict, total=False):
    id: Required[int]
    tags: frozenset[str]


class Stamp(NamedTuple):
    at: datetime
    amount: Decimal = Decimal("0.10")


class Access(enum.IntFlag):
    READ = 1
    WRITE = 2


@dataclass
class Pair(Generic[T]):
    left: T
    right: list[T]


@dataclass
class Node:  # refers to itself: read at any depth
    value: Decimal
    children: list[Node] = field(default_factory=list)
    parent: Node | None = None


@dataclass
class Sparse:
    id: int
    amount: Optional[Decimal] = None  # noqa: UP045
    at: datetime | None = None
    ref: uuid.UUID | None = None


class Renamed(msgspec.Struct, rename="camel", omit_defaults=True):
    first_name: str
    unit_price: Decimal = Decimal("1")
    paid_at: datetime | None = None


class Refund(msgspec.Struct, tag="refund", tag_field="kind"):
    amount: Decimal


class Charge(msgspec.Struct, tag="charge", tag_field="kind"):
    amount: Decimal
    card: str


class Upload(pydantic.BaseModel):
    id: uuid.UUID
    path: Path
    at: datetime
    sizes: dict[str, Decimal]
    address: Address
    note: str | None = None


AWARE = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
NAIVE = datetime(2024, 5, 6, 7, 8, 9)
UID = uuid.UUID("12345678-1234-5678-1234-567812345678")
PERSON = Person("ada", Address("main", 1), ["x"], Tier.GOLD, date(1990, 1, 2))

CASES: dict[str, tuple[Any, Any]] = {
    "int": (int, 5),
    "float": (float, 1.5),
    "bool": (bool, True),
    "str": (str, "héllo"),
    "none": (None, None),
    "bytes": (bytes, b"\x00\xff"),
    "aware-datetime": (datetime, AWARE),
    "utc-datetime": (datetime, datetime(2024, 1, 1, tzinfo=UTC)),
    "naive-datetime": (datetime, NAIVE),
    "date": (date, date(2024, 2, 29)),
    "time": (time, time(1, 2, 3)),
    "aware-time": (time, time(1, 2, 3, tzinfo=UTC)),
    "timedelta": (timedelta, timedelta(days=1, seconds=3, microseconds=5)),
    "negative-timedelta": (timedelta, timedelta(seconds=-5)),
    "uuid": (uuid.UUID, uuid.UUID("12345678-1234-5678-1234-567812345678")),
    "decimal": (Decimal, Decimal("1.10")),
    "decimal-exponent": (Decimal, Decimal("1E+3")),
    "enum": (Tier, Tier.GOLD),
    "intenum": (Level, Level.HIGH),
    "strenum": (Color, Color.BLUE),
    "flag": (Perm, Perm.R | Perm.W),
    "frozen-dataclass": (Address, Address("main", 3)),
    "dataclass-defaults": (Address, Address("main")),
    "nested-dataclass": (Person, PERSON),
    "generic-dataclass": (Box[Address], Box(Address("x", 1))),
    "struct": (Account, Account(PERSON, AWARE, Decimal("9.99"), frozenset({Level.LOW}))),
    "tagged-union": (Card | Wire, Wire("DE00")),
    "typeddict": (Total, Total(amount=Decimal("2.50"), at=AWARE)),
    "namedtuple": (Point, Point(1, 2)),
    "tuple": (tuple[int, str], (1, "a")),
    "tuple-variadic": (tuple[int, ...], (1, 2, 3)),
    "list-of-namedtuples": (list[Point], [Point(1, 2)]),
    "dict-of-dataclasses": (dict[str, Address], {"a": Address("s", 1)}),
    "set": (set[int], {1, 2}),
    "frozenset": (frozenset[str], frozenset({"a"})),
    "set-of-enums": (set[Tier], {Tier.GOLD}),
    "dict-int-keys": (dict[int, str], {1: "a"}),
    "dict-enum-keys": (dict[Tier, int], {Tier.GOLD: 1}),
    "dict-uuid-keys": (dict[uuid.UUID, int], {uuid.UUID(int=1): 1}),
    "dict-date-keys": (dict[date, int], {date(2020, 1, 1): 1}),
    "optional-none": (Optional[Address], None),  # noqa: UP045 (the spelling users write)
    "optional-value": (Address | None, Address("o", 2)),
    "union-int-str": (int | str, "x"),
    "literal": (Literal["a", "b"], "b"),
    "literal-enum": (Literal[Tier.GOLD, Tier.BASIC], Tier.BASIC),  # read as the enum
    "optional-literal-enum-list": (list[Optional[Literal[Level.HIGH]]], [Level.HIGH, None]),  # noqa: UP045
    "annotated": (Annotated[int, msgspec.Meta(ge=0)], 3),
    "newtype": (UserId, UserId(4)),
    "pydantic": (
        Model,
        Model(name="m", when=AWARE, amount=Decimal("1.10"), tier=Tier.GOLD, address=Address("p")),
    ),
    "pydantic-aliases": (Aliased, Aliased(firstName="ada", bornOn=date(1990, 1, 2))),
    "pydantic-by-name": (ByName, ByName(first_name="ada")),
    "nested-containers": (
        dict[str, list[tuple[date, Decimal]]],
        {"k": [(date(2020, 1, 1), Decimal("1.5"))]},
    ),
    # values that cross to and from AWS's SDK (tests/interop)
    "big-int": (int, 2**70),
    "negative-big-int": (int, -(2**64) - 1),
    "float-digits": (float, 0.1 + 0.2),
    "unicode-str": (str, 'héllo \U0001f600 \u2028\u2029 \x00 </script> \\ "'),
    "empty-tuple": (tuple[()], ()),
    "tuple-of-extended": (tuple[datetime, Decimal, uuid.UUID], (AWARE, Decimal("-0.000"), UID)),
    "dict-key-order": (dict[str, int], {"z": 1, "a": 2, "m": 3}),
    "nested-optionals": (list[Optional[dict[str, Optional[Address]]]], [None, {"a": None}]),  # noqa: UP045
    "microsecond-timedelta": (timedelta, timedelta(days=-400, microseconds=7)),
    "odd-offset-datetime": (
        datetime,
        datetime(2024, 1, 1, tzinfo=timezone(timedelta(minutes=-210))),
    ),
    "typeddict-read-only": (Frozen, Frozen(id=UID, amount=Decimal("1.10"), at=AWARE)),
    "typeddict-not-required-absent": (Frozen, Frozen(id=UID)),
    "typeddict-total-false": (Partial, Partial(id=1, tags=frozenset({"a"}))),
    "list-of-read-only-typeddicts": (list[Frozen], [Frozen(id=UID, at=NAIVE)]),
    "namedtuple-default": (Stamp, Stamp(AWARE)),
    "frozenset-of-decimals": (frozenset[Decimal], frozenset({Decimal("1.10"), Decimal("2")})),
    "tuple-of-uuids": (tuple[uuid.UUID, ...], (UID, uuid.UUID(int=2))),
    "bytearray": (bytearray, bytearray(b"\x00\xff")),
    "intflag": (Access, Access.READ | Access.WRITE),
    "generic-dataclass-nested": (Pair[Pair[Decimal]], Pair(Pair(Decimal("1.0"), []), [])),
    "generic-dataclass-of-dataclass": (Pair[Address], Pair(Address("a", 1), [Address("b")])),
    "recursive-dataclass": (
        Node,
        Node(Decimal("1"), [Node(Decimal("2"), [Node(Decimal("3"))])], Node(Decimal("0"))),
    ),
    "optional-fields-defaults": (Sparse, Sparse(1)),
    "optional-fields-set": (Sparse, Sparse(1, Decimal("0.1"), AWARE, UID)),
    "struct-renamed": (Renamed, Renamed("ada", Decimal("2.50"), AWARE)),
    "struct-omit-defaults": (Renamed, Renamed("ada")),
    "struct-tag-field": (Refund | Charge, Charge(Decimal("9.99"), "visa")),
    "pydantic-with-path-and-uuid": (
        Upload,
        Upload(
            id=UID,
            path=Path("/a/b.txt"),
            at=AWARE,
            sizes={"a": Decimal("1.5")},
            address=Address("p", 2),
        ),
    ),
    "path": (Path, Path("/tmp/report.csv")),
    "pure-posix-path": (PurePosixPath, PurePosixPath("a/b")),
    "dict-of-paths": (dict[Path, int], {Path("a"): 1}),
    "dict-decimal-keys": (dict[Decimal, int], {Decimal("1.5"): 1}),
    "timedelta-large": (timedelta, timedelta(days=10**5, microseconds=1)),
}


def same(got: Any, want: Any, path: str = "$") -> str | None:
    """None when ``got`` equals ``want`` with the same type at every level, else where not."""
    if type(got) is not type(want):
        return f"{path}: {type(got).__name__} {got!r}, declared {type(want).__name__} {want!r}"
    if isinstance(got, datetime | time):
        if got != want or got.utcoffset() != want.utcoffset():
            return f"{path}: {got!r} != {want!r}"
        return None
    fields: list[str] | None = None
    if dataclasses.is_dataclass(got):
        fields = [f.name for f in dataclasses.fields(got)]
    elif isinstance(got, msgspec.Struct):
        fields = list(got.__struct_fields__)
    elif isinstance(got, pydantic.BaseModel):
        fields = list(type(got).model_fields)
    if fields is not None:
        diffs = (same(getattr(got, f), getattr(want, f), f"{path}.{f}") for f in fields)
        return next((d for d in diffs if d), None)
    if isinstance(got, list | tuple):
        if len(got) != len(want):
            return f"{path}: {got!r} != {want!r}"
        diffs = (same(g, w, f"{path}[{i}]") for i, (g, w) in enumerate(zip(got, want, strict=True)))
        return next((d for d in diffs if d), None)
    if isinstance(got, dict):
        if got.keys() != want.keys():
            return f"{path}: keys {list(got)!r} != {list(want)!r}"
        keys = (
            same(g, w, f"{path} key")
            for g, w in zip(sorted(got, key=repr), sorted(want, key=repr), strict=True)
        )
        values = (same(got[k], want[k], f"{path}[{k!r}]") for k in want)
        return next((d for d in (*keys, *values) if d), None)
    if isinstance(got, set | frozenset):
        if got != want or {type(g) for g in got} != {type(w) for w in want}:
            return f"{path}: {got!r} != {want!r}"
        return None
    if got != want or repr(got) != repr(want):
        return f"{path}: {got!r} != {want!r}"
    return None


def test_same_sees_a_wrong_type_at_any_depth() -> None:
    assert same(PERSON, PERSON) is None
    assert same({"street": "main", "zip": 1}, Address("main", 1)) is not None
    assert same([1, 2], (1, 2)) is not None
    assert same(2.0, 2) is not None
    assert same(NAIVE, NAIVE.replace(tzinfo=UTC)) is not None
    assert same("gold", Tier.GOLD) is not None
    assert same(Person("ada", Address("main", 1), born=None), PERSON) is not None
    assert same({Tier.GOLD: 1}, {"gold": 1}) is not None


# --- the workflows ------------------------------------------------------------------------------


def _step_workflow(name: str, declared: Any, value: Any, seen: list[Any]) -> Callable[..., Any]:
    """A workflow that takes a step's result (declared ``declared``), waits, and returns it."""

    def produce() -> Any:
        return value

    produce.__annotations__ = {"return": declared}
    step = dg.step(name=f"produce-{name}")(produce)

    def workflow(_: Any) -> Any:
        got = yield step()
        seen.append(got)
        yield dg.Wait(seconds=1, name="replay-after-this")
        return got

    workflow.__annotations__ = {"_": Any, "return": dg.Workflow[declared]}
    return workflow


Functions = dict[str, Callable[..., Any]]


def _on_memory(workflow: Callable[..., Any], tmp_path: Path, functions: Functions) -> Any:
    return dg.run(workflow, None, skip_time=True, functions=functions)


def _on_test_runner(workflow: Callable[..., Any], tmp_path: Path, functions: Functions) -> Any:
    run = TestRunner(functions=functions).run(workflow, None)
    result = run.result()
    report = replay(workflow, run.export())  # the replayer runs the body once more
    assert report.ok and report.outcome == "succeeded", report.message
    return result


def _on_engine(engine: LocalService, handler: Any, functions: Functions) -> Any:
    engine.register("typed", handler)
    for name, fn in functions.items():
        register_function(engine, name, fn)
    record = engine.run(engine.start("typed", "null"))
    assert record.status == "SUCCEEDED", record.error
    return record.result


def _on_sqlite(workflow: Callable[..., Any], tmp_path: Path, functions: Functions) -> Any:
    engine = LocalService(store=SqliteStore(str(tmp_path / "typed.db")), clock=VirtualClock())
    return _on_engine(engine, rt.make_handler(workflow, engine), functions)


def _on_lambda(workflow: Callable[..., Any], tmp_path: Path, functions: Functions) -> Any:
    engine = LocalService(clock=VirtualClock())
    handler = lambda_handler(workflow, service=engine)

    def durable(event: rt.InvocationInput) -> rt.InvocationOutput:
        output = handler(msgspec.to_builtins(event), None)
        return msgspec.convert(output, rt.InvocationOutput)

    return _on_engine(engine, durable, functions)


def _on_asyncio(workflow: Callable[..., Any], tmp_path: Path, functions: Functions) -> Any:
    # A host written with asyncio: every invocation is rt.invoke_async on its event loop.
    engine = LocalService(clock=VirtualClock())

    def handler(event: rt.InvocationInput) -> rt.InvocationOutput:
        return asyncio.run(rt.invoke_async(workflow, event, engine))

    return _on_engine(engine, handler, functions)


PATHS = {
    "memory": _on_memory,
    "asyncio-host": _on_asyncio,
    "test-runner": _on_test_runner,
    "sqlite": _on_sqlite,
    "lambda": _on_lambda,
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", CASES)
def test_a_step_result_has_its_declared_type_on_the_first_run_and_on_replay(
    case: str, path: str, tmp_path: Path
) -> None:
    declared, value = CASES[case]
    seen: list[Any] = []
    PATHS[path](_step_workflow(case, declared, value, seen), tmp_path, {})
    assert len(seen) >= 2  # the first run, the replay after the wait (and the replayer's)
    for got in seen:
        assert same(got, value) is None, same(got, value)


def _on_own_runtime(workflow: Callable[..., Any]) -> rt.Outcome:
    """docs/embedding.md's loop: operations kept as JSON between invocations, timers fired."""
    start = rt.Operation(
        id="exec",
        type="EXECUTION",
        status="STARTED",
        execution_details=rt.ExecutionDetails(input_payload="null"),
    )
    stored = msgspec.json.encode([start])
    now_ms = 0
    for _ in range(10):
        store = {op.id: op for op in msgspec.json.decode(stored, type=list[rt.Operation])}
        interp = rt.Interpreter(
            workflow,
            list(store.values()),
            execution_arn="own-1",
            clock=functools.partial(float, now_ms / 1000),
        )
        timers: list[rt.Timer] = []
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                applied = rt.apply_updates(store, action.updates, now_ms=now_ms)
                timers += applied.timers
                interp.observe(applied.operations)
            elif isinstance(action, rt.RunTasks):
                for task in action.tasks:
                    interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
            else:
                assert isinstance(action, rt.Done), action
                break
        if not isinstance(action.outcome, rt.Suspended):
            return action.outcome
        now_ms = max(t.due_ms for t in timers)
        for timer in timers:
            rt.fire_timer(store, timer, now_ms=now_ms)
        stored = msgspec.json.encode(list(store.values()))
    raise AssertionError("the execution did not end")


@pytest.mark.parametrize("case", CASES)
def test_in_a_runtime_of_ones_own_a_step_result_has_its_declared_type(case: str) -> None:
    declared, value = CASES[case]
    seen: list[Any] = []
    outcome = _on_own_runtime(_step_workflow(case, declared, value, seen))
    assert isinstance(outcome, rt.Succeeded), outcome
    assert len(seen) == 2  # the first invocation, then the one after the wait
    for got in seen:
        assert same(got, value) is None, same(got, value)


@pytest.mark.parametrize("case", CASES)
def test_in_aws_payload_format_a_step_result_has_its_declared_type_too(case: str) -> None:
    # payload_format="aws" writes AWS's envelope; what the workflow receives is the same.
    declared, value = CASES[case]
    seen: list[Any] = []
    workflow = _step_workflow(case, declared, value, seen)
    run = TestRunner(payload_format="aws").run(workflow, None)
    assert same(run.result(), value) is None, run.error
    assert replay(workflow, run.export()).ok
    assert len(seen) == 3  # first run, the replay after the wait, and the replayer's
    for got in seen:
        assert same(got, value) is None, same(got, value)


@pytest.mark.parametrize("case", CASES)
def test_the_workflow_result_has_its_declared_type_where_it_is_read(case: str) -> None:
    declared, value = CASES[case]
    workflow = _step_workflow(case, declared, value, [])
    assert same(dg.run(workflow, None, skip_time=True), value) is None
    run = TestRunner().run(workflow, None)
    assert same(run.result(), value) is None
    report = replay(workflow, run.export())
    assert report.outcome == "succeeded", report.message
    assert same(report.result, value) is None, same(report.result, value)


WRONG: dict[str, tuple[Any, Any]] = {
    "int-given-str": (int, "5"),
    "int-given-float": (int, 1.5),
    "str-given-int": (str, 5),
    "dataclass-given-a-namedtuple": (Address, Point(1, 2)),
    "literal-given-another": (Literal["a", "b"], "c"),
    "enum-given-an-unknown-value": (Tier, "silver"),
    "none-given-a-value": (None, 5),
    "typeddict-missing-a-key": (Total, {"amount": Decimal(1)}),
    "float-given-nan": (float, float("nan")),
}


@pytest.mark.parametrize("case", WRONG)
def test_a_workflow_result_that_does_not_fit_its_declared_type_fails_the_execution(
    case: str,
) -> None:
    # As a child context's result does: the execution fails, rather than succeed with a
    # result that its readers (dg.run, a parent's Invoke, replay) cannot decode.
    declared, value = WRONG[case]

    def workflow(_: Any) -> Any:
        yield dg.Wait(seconds=1, name="pause")
        return value

    workflow.__annotations__ = {"_": Any, "return": dg.Workflow[declared]}
    run = TestRunner().run(workflow, None)
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "SerializationError"
    message = run.error.error_message or ""
    assert "the workflow result" in message and "declared type" in message, message
    assert "fix the annotation" in message or "declare" in message, message
    report = replay(workflow, run.export())
    assert report.ok and report.outcome == "failed", report.message


def _by_parameter(state: Address):  # the state's type, declared once
    return Address(state.street, state.zip + 1)


def _by_return(state):
    return Address(state.street, state.zip + 1)


_by_return.__annotations__ = {"return": Address}


def _by_both(state: Address) -> Address:
    return Address(state.street, state.zip + 1)


@pytest.mark.parametrize("check", [_by_parameter, _by_return, _by_both])
def test_a_wait_for_condition_state_has_the_type_its_check_declares(
    check: Callable[[Address], Address],
) -> None:
    # The check's state type is its return annotation or, without one, its parameter's: every
    # check after the first, the wait strategy and the workflow get an Address, not a dict.
    seen: list[Any] = []

    def counted(state: Any) -> Any:
        seen.append(state)
        return check(state)

    counted.__wrapped__ = check  # type: ignore[attr-defined]  # its annotations are the check's

    def strategy(state: Address, attempt: int) -> dg.WaitDecision:
        seen.append(state)
        return dg.WaitDecision.done() if state.zip >= 3 else dg.WaitDecision.again(2)

    def workflow(_: Any) -> dg.Workflow[Address]:
        state = yield from dg.WaitForCondition(
            counted, Address("main", 0), wait_strategy=strategy, name="poll"
        )
        seen.append(state)
        return state

    assert dg.run(workflow, None, skip_time=True) == Address("main", 3)
    assert len(seen) > 6
    assert all(type(s) is Address for s in seen), seen


@pytest.mark.parametrize("given", [{"street": "main", "zip": 3}, Address("main", 3)])
def test_an_input_given_to_replay_is_decoded_into_the_declared_type(given: Any) -> None:
    # replay(..., input=) for a history without its EXECUTION operation: the workflow gets
    # the input as an engine would have given it, in the declared type.
    seen: list[Any] = []

    @dg.step
    def zip_of(address: Address) -> int:
        return address.zip

    def workflow(address: Address) -> dg.Workflow[int]:
        seen.append(address)
        return (yield from zip_of(address)) + address.zip

    run = TestRunner().run(workflow, Address("main", 3))
    assert run.result() == 6
    operations = [op for op in run.runner.service.get_operations(run.arn) if op.type != "EXECUTION"]
    report = replay(workflow, operations, input=given)
    assert report.ok and report.result == 6, report.message
    assert [type(s) for s in seen] == [Address, Address]


def test_an_invoke_or_callback_result_that_does_not_fit_result_type_says_what_to_change() -> None:
    # There is no annotation to fix: the type came from result_type=.
    def tax(payload: Any) -> Any:
        return "not a number"

    def workflow(_: Any) -> dg.Workflow[list[str]]:
        messages = []
        try:
            yield from dg.Invoke("tax", 1, name="tax-call", result_type=int)
        except dg.SerializationError as exc:
            messages.append(str(exc))
        try:
            yield from dg.WaitForCallback(lambda _: None, name="approval", result_type=int)
        except dg.CallbackFailedError as exc:
            messages.append(exc.error_message or "")
        return messages

    runner = TestRunner(functions={"tax": tax})
    run = runner.run(workflow, None)
    run.send_callback_success("approval", "yes")
    runner.run_until_idle()
    invoked, answered = run.result()
    assert invoked.startswith("the result of invoke 'tax-call': ")
    assert "declared type int" in invoked and "change result_type=" in invoked, invoked
    assert "send a value of that type" in answered and "result_type=" in answered, answered
    assert "annotation" not in invoked + answered


class _Socketish:
    """A value of a type the codec does not write."""


def test_a_value_the_codec_cannot_write_gets_advice_that_fits_where_it_was_going() -> None:
    def invoking(_: Any) -> dg.Workflow[None]:
        yield from dg.Invoke("tax", _Socketish(), name="tax-call")

    def stepping(_: Any) -> dg.Workflow[None]:
        yield from dg.Step(_Socketish, name="make")

    messages = []
    with pytest.raises(dg.SerializationError) as given:
        dg.run(stepping, _Socketish())
    messages.append(str(given.value))
    for workflow in (invoking, stepping):
        with pytest.raises(dg.ExecutionFailedError) as failed:
            dg.run(workflow, None, functions={"tax": lambda payload: payload})
        messages.append(failed.value.error_message or "")
    given_input, payload, result = messages
    assert given_input.startswith("the workflow input: a value of type _Socketish")
    assert "the Invoke payload for 'tax-call'" in payload
    assert "the result of step 'make'" in result
    for message in messages:  # an input or a payload is not returned: the advice says "use"
        assert "use JSON data, dataclasses" in message and "return JSON" not in message, message
        assert "serdes=" in message


def _command_workflow(
    declared: Any, value: Any, seen: dict[str, list[Any]]
) -> tuple[Any, Functions]:
    """A workflow receiving a value of ``declared`` from every command that returns one."""

    def note(what: str, got: Any) -> None:
        seen.setdefault(what, []).append(got)

    def produce(*_: Any) -> Any:
        return value

    def check(state: Any) -> Any:
        return state

    def sub(_: Any) -> Any:
        yield dg.Wait(seconds=1, name="in-the-child")
        return value

    def target(payload: Any) -> Any:  # an Invoke target: a plain function
        return value

    def echo(given: Any) -> Any:  # an Invoke target: a workflow whose input is declared
        note("invoked workflow's input", given)
        yield dg.Wait(seconds=1, name="in-the-invoked")
        return given

    produce.__annotations__ = {"return": declared}
    check.__annotations__ = {"state": declared, "return": declared}
    sub.__annotations__ = {"_": Any, "return": dg.Workflow[declared]}
    echo.__annotations__ = {"given": declared, "return": dg.Workflow[declared]}

    def workflow(_: Any) -> Any:
        mapped = yield dg.Map(produce, [1, 2], name="map")
        note("Map", mapped.results())
        branches = yield dg.Parallel([produce, dg.Branch(produce, name="b")], name="parallel")
        note("Parallel", branches.results())
        note("Child", (yield dg.Child(sub, (1,), name="child")))
        note("virtual Child", (yield dg.Child(sub, (1,), name="virtual", virtual=True)))
        note("WaitForCondition", (yield dg.WaitForCondition(check, value, name="condition")))
        note("Invoke", (yield dg.Invoke("target", None, name="invoke", result_type=declared)))
        note("Invoke a workflow", (yield dg.Invoke("echo", value, result_type=declared)))
        yield dg.Wait(seconds=1, name="replay-after-this")
        return "done"

    return workflow, {"target": target, "echo": echo}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", CASES)
def test_every_command_gives_the_declared_type_on_the_first_run_and_on_replay(
    case: str, path: str, tmp_path: Path
) -> None:
    declared, value = CASES[case]
    seen: dict[str, list[Any]] = {}
    workflow, functions = _command_workflow(declared, value, seen)
    PATHS[path](workflow, tmp_path, functions)
    assert len(seen) == 8, sorted(seen)
    for what, got in seen.items():
        assert len(got) >= 2, what  # received on the first run, then replayed
        for each in got:
            want = [value, value] if what in ("Map", "Parallel") else value
            assert same(each, want) is None, f"{what}: {same(each, want)}"


@pytest.mark.parametrize("case", CASES)
def test_every_command_gives_the_declared_type_in_aws_payload_format_too(case: str) -> None:
    # payload_format="aws" writes AWS's envelope for steps, contexts, Map/Parallel results and
    # wait-for-condition states; what the workflow receives is the same as in "json".
    declared, value = CASES[case]
    seen: dict[str, list[Any]] = {}
    workflow, functions = _command_workflow(declared, value, seen)
    run = TestRunner(functions=functions, payload_format="aws").run(workflow, None)
    assert run.result() == "done", run.error
    assert replay(workflow, run.export()).ok
    assert len(seen) == 8, sorted(seen)
    for what, got in seen.items():
        assert len(got) >= 2, what
        for each in got:
            want = [value, value] if what in ("Map", "Parallel") else value
            assert same(each, want) is None, f"{what}: {same(each, want)}"


@pytest.mark.parametrize("as_step", [False, True])
@pytest.mark.parametrize("case", ["frozen-dataclass", "aware-datetime", "tuple", "enum", "set"])
def test_a_compensation_result_has_the_type_its_undo_declares(case: str, as_step: bool) -> None:
    declared, value = CASES[case]
    seen: list[Any] = []

    def undo(result: Any) -> Any:
        return value

    undo.__annotations__ = {"result": Any, "return": declared}
    compensate: Any = dg.step(name="undo")(undo) if as_step else undo

    @dg.step(compensate=compensate)
    def book() -> int:
        return 1

    def workflow(_: Any) -> Any:
        yield book()
        undone = yield dg.RunCompensations()
        seen.append(undone[0].result)
        yield dg.Wait(seconds=1, name="replay-after-this")
        return undone[0].status

    run = TestRunner().run(workflow, None)
    assert run.result() == "SUCCEEDED"
    assert replay(workflow, run.export()).ok
    assert len(seen) == 3  # first run, the replay after the wait, the replayer's
    for got in seen:
        assert same(got, value) is None, same(got, value)


@dataclass
class _Moved:
    street: str
    zip: int  # added in version 2: what version 1 recorded has none


@pytest.mark.parametrize("kind", ["step", "child", "map"])
def test_a_recorded_value_that_no_longer_fits_a_changed_annotation_says_what_to_do(
    kind: str,
) -> None:
    # Version 1 recorded a dict; version 2 declares a dataclass it does not fit. Returning
    # another value is no advice for a value recorded by an earlier run.
    def v1_value() -> dict[str, Any]:
        return {"street": "main"}

    def v2_value() -> _Moved:
        return _Moved("main", 1)

    def version(produce: Callable[[], Any]) -> Callable[..., Any]:
        def body(_: Any) -> Any:
            yield dg.Wait(seconds=1, name="pause")
            return produce()

        body.__annotations__ = {"_": Any, "return": dg.Workflow[produce.__annotations__["return"]]}

        def item(_: int) -> Any:
            return produce()

        item.__annotations__ = {"_": int, "return": produce.__annotations__["return"]}

        def workflow(_: Any) -> Any:
            if kind == "step":
                value = yield dg.Step(produce, name="load")
            elif kind == "child":
                value = yield dg.Child(body, (None,), name="load")
            else:  # a Map whose items' type changed: raised at the yield (a corrupt history
                # would fail the execution with InvalidInputError)
                value = yield dg.Map(item, [1], name="load")
            yield dg.Wait(seconds=10, name="deploy-now")
            return str(value)

        return workflow

    v1, v2 = version(v1_value), version(v2_value)
    runner = TestRunner(skip_time=False)
    run = runner.run(v1, None)
    runner.advance(1)
    runner.deploy(v1, v2)
    runner.advance(10)
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "SerializationError"
    message = run.error.error_message or ""
    assert "'load', as recorded" in message and "_Moved" in message, message
    assert "earlier run" in message and "Patched" in message, message
    assert "return a value of that type" not in message


def _callback_workflow(declared: Any, seen: dict[str, list[Any]]) -> Callable[..., Any]:
    """A workflow receiving a value of ``declared`` from both kinds of callback."""

    def workflow(_: Any) -> Any:
        waited = yield dg.WaitForCallback(lambda _: None, name="wait-for", result_type=declared)
        seen.setdefault("WaitForCallback", []).append(waited)
        handle = yield dg.CreateCallback(name="created", result_type=declared)
        created = yield handle
        seen.setdefault("CreateCallback", []).append(created)
        yield dg.Wait(seconds=1, name="replay-after-this")
        return "done"

    return workflow


@pytest.mark.parametrize("case", CASES)
def test_a_callback_answer_has_its_result_type_on_the_first_run_and_on_replay(case: str) -> None:
    # The answer is sent as the test runner sends it (a Python value, encoded by the codec);
    # the WaitForCallback records it again in its context, and is replayed from that record.
    declared, value = CASES[case]
    seen: dict[str, list[Any]] = {}
    workflow = _callback_workflow(declared, seen)
    runner = TestRunner()
    run = runner.run(workflow, None)
    for name in ("wait-for", "created"):
        run.send_callback_success(name, value)
        runner.run_until_idle()
    assert run.result() == "done", run.error
    assert replay(workflow, run.export()).ok
    assert sorted(seen) == ["CreateCallback", "WaitForCallback"]
    for what, got in seen.items():
        assert len(got) >= 2, what  # received, then replayed after the wait (and the replayer's)
        for each in got:
            assert same(each, value) is None, f"{what}: {same(each, value)}"


def test_a_class_defined_inside_a_function_is_the_declared_type_where_the_function_uses_it() -> (
    None
):
    # Under `from __future__ import annotations` (this module), `-> Local` is a string that
    # names a class of this test's own scope: it resolves through the names the step, the
    # check and the workflow use (their closure), instead of counting as no annotation.
    @dataclass
    class Local:
        street: str
        at: datetime

    @dg.step
    def home(street: str) -> Local:
        return Local(street, AWARE)

    def moved(state: Local) -> Local:
        return Local(state.street + "!", state.at)

    seen: list[Any] = []

    def workflow(street: str) -> dg.Workflow[Local]:
        got = yield from home(street)
        polled = yield from dg.WaitForCondition(moved, got, name="poll")
        seen.extend([got, polled])
        yield from dg.Wait(seconds=1, name="replay-after-this")
        return Local(polled.street, polled.at)

    result = dg.run(workflow, "main", skip_time=True)
    assert same(result, Local("main!", AWARE)) is None, result
    assert len(seen) == 4  # the first run and the replay after the wait
    for got in seen[::2]:
        assert same(got, Local("main", AWARE)) is None, same(got, Local("main", AWARE))
    for got in seen[1::2]:
        assert same(got, Local("main!", AWARE)) is None, same(got, Local("main!", AWARE))


def test_now_under_run_skip_time_is_the_date_of_the_run_then_moves_with_waits() -> None:
    # As under `durable-gen run --skip-time` and Worker(skip_time=True): skipping waits does
    # not move the execution to another date.
    def workflow(_: Any) -> dg.Workflow[list[datetime]]:
        first = yield from dg.Now()
        yield from dg.Wait(seconds=3600, name="an-hour")
        second = yield from dg.Now()
        return [first, second]

    before = datetime.now(UTC)
    first, second = dg.run(workflow, None, skip_time=True)
    after = datetime.now(UTC)
    assert before - timedelta(seconds=1) <= first <= after, (before, first, after)
    assert second - first >= timedelta(seconds=3600), (first, second)
    assert first.tzinfo is not None and first.utcoffset() == timedelta(0)


class _Declined(dg.StepFailedError):
    """A step's own error type that records data: an OperationError subclass."""


class _PlainDeclined(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"declined {code}")
        self.error_data = f'{{"code": {code}}}'  # an attribute: not recorded


def test_an_errors_type_and_data_reach_the_workflow_the_same_on_every_replay() -> None:
    # As the guide says: the workflow gets a StepFailedError (InvokeFailedError for an
    # invoke) carrying the recorded type, message and data; data only from a StepFailedError
    # raised with error_data=, never from an attribute of another exception.
    @dg.step(retry=dg.Retry.never())
    def given() -> int:
        raise dg.StepFailedError("no", error_type="Declined", error_data='{"code": 51}')

    @dg.step(retry=dg.Retry.never())
    def subclass() -> int:
        raise _Declined("no", error_data='{"code": 52}')

    @dg.step(retry=dg.Retry.never())
    def plain() -> int:
        raise _PlainDeclined(53)

    def failing(_: Any) -> dg.Workflow[None]:
        yield from dg.Wait(seconds=1, name="in-the-invoked")
        raise dg.StepFailedError("nope", error_type="Nope", error_data='{"code": 54}')

    seen: list[tuple[str, str | None, str | None, str | None]] = []

    def workflow(_: Any) -> dg.Workflow[None]:
        for each in (given, subclass, plain):
            try:
                yield from each()
            except dg.StepFailedError as exc:
                seen.append((type(exc).__name__, exc.error_type, exc.error_message, exc.error_data))
        try:
            yield from dg.Invoke("failing", None, name="invoke")
        except dg.InvokeFailedError as exc:
            seen.append((type(exc).__name__, exc.error_type, exc.error_message, exc.error_data))
        yield from dg.Wait(seconds=1, name="replay-after-this")
        raise _Declined("at the end", error_data='{"code": 55}')

    want = [
        ("StepFailedError", "Declined", "no", '{"code": 51}'),
        ("StepFailedError", "_Declined", "no", '{"code": 52}'),
        ("StepFailedError", "_PlainDeclined", "declined 53", None),
        ("InvokeFailedError", "Nope", "nope", '{"code": 54}'),
    ]
    runner = TestRunner(functions={"failing": failing})
    run = runner.run(workflow, None)
    assert run.error is not None
    assert (run.error.error_type, run.error.error_data) == ("_Declined", '{"code": 55}')
    with pytest.raises(dg.ExecutionFailedError) as failed:
        run.result()
    assert failed.value.error_data == '{"code": 55}'
    report = replay(workflow, run.export())
    assert report.ok and report.error is not None, report.message
    assert report.error.error_data == '{"code": 55}'
    # Every run of the body (one per invocation, then the replayer's) saw the same errors.
    assert len(seen) >= 3 * 4 and set(seen) == set(want), seen
    assert seen[-4:] == want and seen[-8:-4] == want


@pytest.mark.parametrize("route", ["run", "test-runner"])
@pytest.mark.parametrize("case", CASES)
def test_a_plain_function_invoked_gets_its_payload_in_its_parameters_type(
    case: str, route: str
) -> None:
    # As a workflow gets its input: an Invoke target that is a plain function declaring its
    # parameter receives the payload decoded into it, not the JSON of it (a dict for a
    # dataclass, a str for a datetime).
    declared, value = CASES[case]
    received: list[Any] = []

    def target(payload: Any) -> None:
        received.append(payload)

    target.__annotations__ = {"payload": declared, "return": None}

    def workflow(_: Any) -> dg.Workflow[None]:
        yield from dg.Invoke("target", value, name="invoke")

    if route == "run":
        dg.run(workflow, None, functions={"target": target})
    else:
        TestRunner(functions={"target": target}).run(workflow, None).result()
    assert len(received) == 1
    assert same(received[0], value) is None, same(received[0], value)


def test_a_payload_that_does_not_fit_a_plain_functions_parameter_fails_the_invoke() -> None:
    def tax(amount: int) -> int:
        return amount

    def workflow(_: Any) -> dg.Workflow[str]:
        try:
            yield from dg.Invoke("tax", "five", name="invoke")
        except dg.InvokeFailedError as exc:
            return f"{exc.error_type}: {exc.error_message}"
        return "invoked"

    message = dg.run(workflow, None, functions={"tax": tax})
    assert message.startswith("SerializationError: the payload of function 'tax'"), message
    assert "declared type int" in message and "make the Invoke send" in message, message
    assert "return a value" not in message, message
