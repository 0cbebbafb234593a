"""Typed programs written from the guide's "Typing workflows" and "Values and types", run on
every engine path: tests/typing/round11.py (checked by mypy and pyright) returns the values that
did not come back equal to what was sent, or of another type than the checkers gave them; the
cases below are values a step returns in another type than it declares (a UUID, a date, a
Decimal from a source typed ``Any``, such as a database row), which both payload formats must
read the same way.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.local import LocalService, SqliteStore, VirtualClock, Worker, register_function
from durable_gen.testing import TestRunner, replay

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "typing"))

import round11  # noqa: E402  (tests/typing is not a package)

ANSWERS = {"levels": round11.LEVELS, "slot": round11.SLOT}


# --- tests/typing/round11.py on every engine path --------------------------------------------


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_round11_on_the_test_runner_and_replayed(payload_format: Any) -> None:
    runner = TestRunner(functions=round11.FUNCTIONS, payload_format=payload_format)
    run = runner.run(round11.round11, round11.CUSTOMER)
    for name, answer in ANSWERS.items():
        assert run.status == "RUNNING", run.error
        run.send_callback_success(name, answer)
        runner.run_until_idle()
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == []
    report = replay(round11.round11, run.export())
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
def test_round11_on_sqlite_with_a_fresh_engine_for_every_invocation(
    tmp_path: Path, payload_format: Any
) -> None:
    # every value the workflow receives after the first invocation is read from the database,
    # and the input is the camelCase JSON a sender writes
    db = str(tmp_path / "round11.db")

    def engine() -> LocalService:
        service = LocalService(store=SqliteStore(db), clock=VirtualClock())
        service.register(
            "round11", rt.make_handler(round11.round11, service, payload_format=payload_format)
        )
        for name, fn in round11.FUNCTIONS.items():
            register_function(service, name, fn, payload_format=payload_format)
        return service

    arn = engine().start("round11", json.dumps(round11.CUSTOMER_JSON))
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


def test_round11_on_a_sqlite_worker(tmp_path: Path) -> None:
    with Worker(
        str(tmp_path / "worker.db"),
        functions=round11.FUNCTIONS,
        skip_time=True,
        log=lambda line: None,
    ) as worker:
        name = worker.register(round11.round11)
        arn = worker.service.start(name, json.dumps(round11.CUSTOMER_JSON))
        answered: set[str] = set()
        for _ in range(20):
            worker.drive(arn)
            record = worker.service.get_execution(arn)
            if record.status != "RUNNING":
                break
            answer_callbacks(worker.service, arn, answered)
        assert record.status == "SUCCEEDED", record.error
        assert json.loads(record.result or "null") == []


def test_round11s_typed_calls_run() -> None:
    receipts = dg.run(round11.receipts_of, round11.CUSTOMER)
    assert receipts == [round11.make_receipt(round11.CUSTOMER), round11.Receipt(41)]
    assert all(type(one) is round11.Receipt for one in receipts)


# --- a value of another type than the str declared for it ------------------------------------

ROW: dict[str, Any] = {  # what a database driver gives: typed Any to the checkers
    "id": UUID(int=7),
    "day": date(2024, 2, 29),
    "at": datetime(2024, 2, 29, 12, 30, tzinfo=UTC),
    "price": Decimal("1.10"),
    "slot": time(9, 15),
    "length": timedelta(minutes=90),
}
TEXT = {
    "id": "00000000-0000-0000-0000-000000000007",
    "day": "2024-02-29",
    "at": "2024-02-29T12:30:00Z",
    "price": "1.10",
    "slot": "09:15:00",
    "length": "PT5400S",
}


@dataclass
class Row:
    id: str
    day: str
    cells: list[str]
    by_id: dict[str, str]


def cell(key: str) -> str:
    value: str = ROW[key]
    return value


def row() -> Row:
    return Row(ROW["id"], ROW["day"], [ROW["at"], ROW["price"]], {ROW["id"]: ROW["slot"]})


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_value_returned_where_str_is_declared_reads_the_same_in_both_formats(
    payload_format: Any,
) -> None:
    # A UUID, a date, a datetime or a Decimal returned where str is declared came back as its
    # text under "json" but failed the step under "aws" (whose envelope keeps them as
    # themselves), while a time or a timedelta came back as text in both: a workflow that
    # passed locally failed once its handler wrote AWS's envelope
    seen: list[object] = []

    @dg.workflow
    def wf(_: None) -> dg.Workflow[list[str]]:
        cells: list[str] = []
        for key in ROW:
            cells.append((yield from dg.Step(cell, (key,), name=key, retry=dg.Retry.never())))
        got = yield from dg.Step(row, name="row", retry=dg.Retry.never())
        seen.append((cells, got))
        yield from dg.Wait(seconds=1)
        return cells

    runner = TestRunner(payload_format=payload_format)
    run = runner.run(wf)
    runner.run_until_idle()
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == list(TEXT.values())
    report = replay(wf, run.export())
    assert report.ok and report.result == list(TEXT.values()), report.message
    expected = Row(TEXT["id"], TEXT["day"], [TEXT["at"], TEXT["price"]], {TEXT["id"]: TEXT["slot"]})
    assert len(seen) == 3
    for cells, got in seen:
        assert cells == list(TEXT.values()) and all(type(c) is str for c in cells), cells
        assert got == expected and type(got) is Row, got


def noon() -> date:
    day: date = ROW["at"]  # a datetime, which type checkers take for a date
    return day


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_datetime_where_a_date_is_declared_gets_the_same_advice_in_both_formats(
    payload_format: Any,
) -> None:
    # "aws" said only "return a value of that type, or fix the annotation"
    @dg.workflow
    def wf(_: None) -> dg.Workflow[str]:
        try:
            yield dg.Step(noon, name="noon", retry=dg.Retry.never())
        except dg.StepFailedError as exc:
            return exc.error_message or ""
        return "read"

    said = dg.run(wf, payload_format=payload_format)
    assert "does not fit the declared type date" in said, said
    assert "return value.date(), or declare datetime" in said, said


# --- a result_type= given as a name in quotes ---------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: dg.Invoke("lookup", 1, result_type="Row"),
        lambda: dg.CreateCallback(name="slot", result_type=list["Row"]),
        lambda: dg.WaitForCallback(lambda callback_id: None, result_type=dict[str, "Row"]),
    ],
    ids=["invoke", "callback", "wait-for-callback"],
)
def test_a_result_type_written_in_quotes_is_told_to_be_the_class(make: Any) -> None:
    # type checkers accept any object as a type form there; the error said only that
    # "Type ''Receipt'' is not supported"
    with pytest.raises(dg.ValidationError) as caught:
        make()
    said = str(caught.value)
    assert "a type's name in quotes is not looked up here: pass the class itself" in said, said


@dataclass
class Named:
    name: str


def named_by_bytes() -> Named:
    return Named(ROW_BYTES["name"])


ROW_BYTES: dict[str, Any] = {"name": b"\xff\x00"}


def test_bytes_in_a_field_declared_str_stay_refused_under_aws() -> None:
    # reading the envelope's values as their JSON text must not turn bytes into base64 text
    @dg.workflow
    def wf(_: None) -> dg.Workflow[str]:
        try:
            yield dg.Step(named_by_bytes, name="named", retry=dg.Retry.never())
        except dg.StepFailedError as exc:
            return exc.error_message or ""
        return "read"

    said = dg.run(wf, payload_format="aws")
    assert "does not fit the declared type Named" in said, said
    assert "got `bytes` - at `$.name`" in said, said
