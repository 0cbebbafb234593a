"""Typed programs written from the guide, run on every engine path: tests/typing/round8.py
(checked by mypy and pyright) returns the values that did not have, at run time, the type the
checkers gave them, on the test runner in both payload formats, through the replayer, and on
SQLite with a fresh engine for every invocation (every value read back from the database).
"""

from __future__ import annotations

import collections
import enum
import json
import sys
import types
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pydantic
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.local import LocalService, SqliteStore, VirtualClock, Worker, register_function
from durable_gen.testing import TestRunner, replay

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "typing"))

import round8  # noqa: E402  (tests/typing is not a package)

ANSWERS = {"prices": round8.PRICES, "address": round8.ADDRESS}


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_round8_on_the_test_runner_and_replayed(payload_format: Any) -> None:
    runner = TestRunner(functions=round8.FUNCTIONS, payload_format=payload_format)
    run = runner.run(round8.round8, round8.START)
    for name, answer in ANSWERS.items():
        run.send_callback_success(name, answer)
        runner.run_until_idle()
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == []
    report = replay(round8.round8, run.export())
    assert report.ok and report.outcome == "succeeded", report.message
    assert report.result == []


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_round8_on_sqlite_with_a_fresh_engine_for_every_invocation(
    tmp_path: Path, payload_format: Any
) -> None:
    db = str(tmp_path / "round8.db")

    def engine() -> LocalService:
        service = LocalService(store=SqliteStore(db), clock=VirtualClock())
        service.register(
            "round8", rt.make_handler(round8.round8, service, payload_format=payload_format)
        )
        for name, fn in round8.FUNCTIONS.items():
            register_function(service, name, fn, payload_format=payload_format)
        return service

    start = json.dumps(["gold", "1.5", {"street": "main", "zip": 3}])
    arn = engine().start("round8", start)
    answered: set[str] = set()
    for _ in range(40):
        service = engine()
        record = service.run(arn)
        if record.status != "RUNNING":
            break
        for op in service.get_operations(arn):
            details = op.callback_details
            if op.type != "CALLBACK" or op.status != "STARTED" or details is None:
                continue
            assert details.callback_id
            for name, answer in ANSWERS.items():
                if (op.name or "").startswith(name) and name not in answered:
                    answered.add(name)
                    service.send_callback_success(details.callback_id, json.dumps(answer))
    record = engine().get_execution(arn)
    assert record.status == "SUCCEEDED", record.error
    assert json.loads(record.result or "null") == []


def test_round8_on_a_sqlite_worker(tmp_path: Path) -> None:
    # The worker of docs/cli.md: the workflow remembered by import path, driven on SQLite
    with Worker(
        str(tmp_path / "worker.db"),
        functions={"quote": round8.quote},
        skip_time=True,
        log=lambda line: None,
    ) as worker:
        name = worker.register(round8.round8)
        arn = worker.service.start(name, json.dumps(["gold", "1.5", None]))
        answered: set[str] = set()
        for _ in range(20):
            worker.drive(arn)
            record = worker.service.get_execution(arn)
            if record.status != "RUNNING":
                break
            for op in worker.service.get_operations(arn):
                details = op.callback_details
                if op.type != "CALLBACK" or op.status != "STARTED" or details is None:
                    continue
                for callback, answer in ANSWERS.items():
                    if (op.name or "").startswith(callback) and callback not in answered:
                        answered.add(callback)
                        worker.service.send_callback_success(
                            details.callback_id, json.dumps(answer)
                        )
        assert record.status == "SUCCEEDED", record.error
        assert json.loads(record.result or "null") == []


# --- pydantic models whose JSON form does not read back as they were --------------------------


class Feed(pydantic.BaseModel):  # a Json[T] field: given JSON text, holds the parsed value
    id: str
    rows: pydantic.Json[list[int]]


class Login(pydantic.BaseModel):
    user: str
    password: pydantic.SecretStr


class Vault(pydantic.BaseModel):
    logins: dict[str, Login]


class Starred(pydantic.BaseModel):  # a plain str that looks like pydantic's mask is fine
    note: str


def _produce_workflow(declared: Any, value: Any, seen: list[Any]) -> Any:
    def produce() -> Any:
        return value

    produce.__annotations__ = {"return": declared}
    step = dg.step(name="produce")(produce)

    def workflow(_: None) -> Any:
        got = yield step()
        seen.append(got)
        yield dg.Wait(seconds=1, name="replay-after-this")
        return got

    workflow.__annotations__ = {"_": None, "return": dg.Workflow[declared]}
    return workflow


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_pydantic_json_field_comes_back_as_it_went_in(payload_format: Any) -> None:
    feed = Feed(id="f", rows="[1, 2]")  # pydantic parses the text
    seen: list[Any] = []
    workflow = _produce_workflow(Feed, feed, seen)
    run = TestRunner(payload_format=payload_format).run(workflow, None)
    assert run.status == "SUCCEEDED", run.error
    report = replay(workflow, run.export())
    assert report.ok, report.message
    for got in [*seen, run.result(), report.result]:
        assert type(got) is Feed and got == feed and got.rows == [1, 2]


@pytest.mark.parametrize("declared", [Login, Vault])
@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_pydantic_secret_is_refused_rather_than_recorded_as_its_mask(
    payload_format: Any, declared: Any
) -> None:
    # pydantic writes a SecretStr as "**********": recorded so, the workflow would get the mask
    # back on replay, not the secret. The step fails, saying what to do instead.
    login = Login(user="ada", password=pydantic.SecretStr("hunter2"))
    value = login if declared is Login else Vault(logins={"main": login})
    seen: list[Any] = []
    workflow = _produce_workflow(declared, value, seen)
    run = TestRunner(payload_format=payload_format).run(workflow, None)
    assert run.status == "FAILED"
    assert run.error is not None
    message = run.error.error_message or ""
    assert "result of step 'produce'" in message
    assert "SecretStr" in message and "secret" in message and "serdes=" in message
    assert "hunter2" not in message and "hunter2" not in str(run.export())
    assert seen == []


def test_a_str_that_looks_like_pydantics_mask_is_written_as_any_str() -> None:
    value = Starred(note="**********")
    seen: list[Any] = []
    run = TestRunner().run(_produce_workflow(Starred, value, seen), None)
    assert run.result() == value and seen == [value, value]


# --- unions msgspec cannot tell apart: the advice fits the union -------------------------------


class Tier8(enum.Enum):
    GOLD = "gold"


class Level8(enum.IntEnum):
    LOW = 1


@dataclass
class Spot:
    x: int


UNIONS: dict[str, tuple[Any, Any, str]] = {
    # declared, a value of it, what the advice must say
    "datetime-or-date": (datetime | date, date(2024, 1, 1), "written as a JSON string"),
    "str-or-uuid": (str | uuid.UUID, "a", "written as a JSON string"),
    "enum-or-str": (Tier8 | str, Tier8.GOLD, "written as a JSON string"),
    "int-or-intenum": (int | Level8, 1, "written as a JSON number"),
    "list-or-tuple": (list[int] | tuple[int, ...], [1], "written as a JSON array"),
    "dataclass-or-dict": (Spot | dict[str, int], Spot(1), "written as a JSON object"),
}


@pytest.mark.parametrize("case", UNIONS)
def test_a_union_of_types_json_writes_alike_says_which_and_what_to_declare(case: str) -> None:
    declared, value, kind = UNIONS[case]
    run = TestRunner().run(_produce_workflow(declared, value, []), None)
    assert run.status == "FAILED" and run.error is not None
    message = run.error.error_message or ""
    assert "cannot be decoded into the declared type" in message, message
    assert kind in message, message
    assert "keep one of them in the union" in message, message
    assert "The workflow was not run" in message, message


class Session(pydantic.BaseModel):  # its token is left out of what pydantic writes
    user: str
    token: str = pydantic.Field(exclude=True)


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_pydantic_model_whose_json_does_not_read_back_says_why(payload_format: Any) -> None:
    # The step returned a Session, as declared: "return a value of that type" alone would
    # send the reader looking at the step's code rather than at the model's exclude=True.
    value = Session(user="ada", token="t")
    run = TestRunner(payload_format=payload_format).run(_produce_workflow(Session, value, []), None)
    assert run.status == "FAILED" and run.error is not None
    message = run.error.error_message or ""
    assert "the result of step 'produce'" in message, message
    assert "exclude=True" in message and "model_validate" in message, message


@pytest.mark.parametrize("case", UNIONS)
def test_such_a_union_as_a_result_type_is_refused_where_written_with_the_same_advice(
    case: str,
) -> None:
    declared, _, kind = UNIONS[case]
    builders = {
        "Invoke": lambda: dg.Invoke("f", 1, result_type=declared),
        "CreateCallback": lambda: dg.CreateCallback(result_type=declared),
        "WaitForCallback": lambda: dg.WaitForCallback(
            lambda callback_id: None, result_type=declared
        ),
    }
    for command, build in builders.items():
        with pytest.raises(dg.ValidationError) as caught:
            build()
        message = str(caught.value)
        assert message.startswith(f"{command} result_type must be"), message
        assert kind in message and "keep one of them in the union" in message, message


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_dict_with_bytes_keys_is_written_in_both_payload_formats(payload_format: Any) -> None:
    # The guide lists bytes among the dict keys the codec writes; AWS's envelope refused them.
    value = {b"\x00a": 1, b"": 2}
    seen: list[Any] = []
    workflow = _produce_workflow(dict[bytes, int], value, seen)
    run = TestRunner(payload_format=payload_format).run(workflow, None)
    assert run.status == "SUCCEEDED", run.error
    report = replay(workflow, run.export())
    assert report.ok, report.message
    for got in [*seen, run.result(), report.result]:
        assert got == value and all(type(key) is bytes for key in got)
    untyped = TestRunner(payload_format=payload_format).run(_produce_workflow(Any, value, []), None)
    assert untyped.result() == {"AGE=": 1, "": 2}  # keys as base64 text, as JSON gives them


UNWRITTEN_CONTAINERS: dict[str, tuple[Any, Any, str]] = {
    # declared, a value type checkers accept for it that the codec does not write, the advice
    "range": (Sequence[int], range(3), "return list(value)"),
    "deque": (Sequence[int], collections.deque([1]), "return list(value)"),
    "dict-keys": (Collection[str], {"a": 1}.keys(), "return list(value)"),
    "mappingproxy": (Mapping[str, int], types.MappingProxyType({"a": 1}), "return dict(value)"),
    "chainmap": (Mapping[str, int], collections.ChainMap({"a": 1}), "return dict(value)"),
    "nested-deque": (dict[str, Sequence[int]], {"a": collections.deque([1])}, "list(value)"),
}


@pytest.mark.parametrize("payload_format", ["json", "aws"])
@pytest.mark.parametrize("case", UNWRITTEN_CONTAINERS)
def test_a_container_the_codec_does_not_write_is_told_what_to_return(
    case: str, payload_format: Any
) -> None:
    declared, value, advice = UNWRITTEN_CONTAINERS[case]
    run = TestRunner(payload_format=payload_format).run(
        _produce_workflow(declared, value, []), None
    )
    assert run.status == "FAILED" and run.error is not None
    message = run.error.error_message or ""
    assert "the result of step 'produce'" in message and advice in message, message


# --- a callback answered with no result ------------------------------------------------------


def _ask(callback_id: str) -> None:
    return None


def _awaited(kind: str, declared: Any) -> Any:
    def workflow(_: None) -> Any:
        try:
            if kind == "CreateCallback":
                handle = yield dg.CreateCallback(name="cb", result_type=declared)
                value = yield handle
            else:
                value = yield dg.WaitForCallback(_ask, name="cb", result_type=declared)
        except (dg.SerializationError, dg.CallbackFailedError) as exc:
            return f"{type(exc).__name__}: {getattr(exc, 'error_type', None)}: {exc}"
        return repr(value)

    return workflow


def _answer_empty(workflow: Any) -> Any:
    engine = LocalService(clock=VirtualClock())
    engine.register("cb", rt.make_handler(workflow, engine))
    arn = engine.start("cb", "null")
    engine.run(arn)
    (op,) = (op for op in engine.get_operations(arn) if op.type == "CALLBACK")
    assert op.callback_details is not None
    engine.send_callback_success(op.callback_details.callback_id, "")  # a sender sent nothing
    record = engine.run(arn)
    assert record.status == "SUCCEEDED", record.error
    return json.loads(record.result or "null")


@pytest.mark.parametrize("kind", ["CreateCallback", "WaitForCallback"])
def test_an_empty_answer_to_a_callback_typed_without_none_is_a_catchable_error(kind: str) -> None:
    # result_type=Spot promises a Spot; an empty result, which is None, does not fit it (as
    # "null" does not): the workflow is told at its yield, where it can catch it, as the
    # guide says of a result that does not fit result_type=.
    got = _answer_empty(_awaited(kind, Spot))
    assert "SerializationError" in got, got
    assert "sent no result" in got and "Spot | None" in got, got


@pytest.mark.parametrize("kind", ["CreateCallback", "WaitForCallback"])
@pytest.mark.parametrize("declared", [Spot | None, None, Any])
def test_an_empty_answer_is_none_where_the_type_takes_none(kind: str, declared: Any) -> None:
    assert _answer_empty(_awaited(kind, declared)) == "None"


@pytest.mark.parametrize(("declared", "empty_is_none"), [(Spot, False), (Spot | None, True)])
def test_an_invoke_that_returned_no_result_is_read_as_a_callback_answer_is(
    declared: Any, empty_is_none: bool
) -> None:
    def workflow(_: None) -> Any:
        try:
            value = yield dg.Invoke("nothing", 1, result_type=declared)
        except dg.SerializationError as exc:
            return str(exc)
        return repr(value)

    engine = LocalService(clock=VirtualClock())
    engine.register("invoker", rt.make_handler(workflow, engine))
    engine.register("nothing", lambda payload: "", durable=False)  # a result of no text
    record = engine.run(engine.start("invoker", "null"))
    assert record.status == "SUCCEEDED", record.error
    got = json.loads(record.result or "null")
    if empty_is_none:
        assert got == "None"
    else:
        assert "the result of invoke 'nothing'" in got and "returned no result" in got, got
        assert "Spot | None" in got, got
