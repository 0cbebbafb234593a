"""Round 11 of the bad-input corpus: mistakes written from the docs alone.

Leases too short to hold, a SQLite database whose columns were edited by hand, error objects
nested past any reading, Lambda events with lone surrogates, a schema version set back by hand,
and values of the wrong type or with hostile dunder methods given where the docs ask for
something else. Each must end in a typed error whose message says what to do, losing nothing
recorded (and harming no other execution).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.cli import main
from durable_gen.local import (
    DamagedRecordError,
    LocalService,
    SqliteStore,
    VirtualClock,
    Worker,
    register_function,
)

# --- a lease too short to hold ------------------------------------------------------------------


@pytest.mark.parametrize("lease", [0.001, 0.5, 0.999])
def test_a_worker_lease_under_a_second_is_refused(tmp_path: Path, lease: float) -> None:
    # Accepted: the lease expired between two renewals, and workers took each other's live
    # executions over.
    with pytest.raises(dg.ValidationError, match="lease_seconds must be at least 1 second"):
        Worker(str(tmp_path / "w.db"), lease_seconds=lease)
    assert not (tmp_path / "w.db").exists()


def test_a_worker_lease_of_a_second_is_accepted(tmp_path: Path) -> None:
    with Worker(str(tmp_path / "w.db"), lease_seconds=1) as worker:
        assert worker.store.lease_ms == 1000  # type: ignore[attr-defined]


@pytest.mark.parametrize("lease", ["0.001", "0.5"])
def test_the_cli_lease_under_a_second_is_a_usage_error(
    tmp_path: Path, lease: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["worker", "--once", "--db", str(tmp_path / "w.db"), "--lease", lease])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "--lease: must be at least 1 second" in err
    assert "take each other's live executions over" in err
    assert not (tmp_path / "w.db").exists()


# --- a SQLite database whose columns were edited by hand ----------------------------------------


def _waits(_: object) -> Generator[Any, Any, int]:
    yield dg.Wait(seconds=1)
    return 5


def _two(db: Path) -> tuple[str, str]:
    with SqliteStore(db) as store:
        engine = LocalService(store=store)
        register_function(engine, "waits", _waits)
        return engine.start("waits"), engine.start("waits")


def _edit(db: Path, sql: str, arn: str) -> None:
    with sqlite3.connect(db) as conn:
        assert conn.execute(sql, (arn,)).rowcount == 1
    conn.close()


_OF = "(SELECT seq FROM executions WHERE arn = ?)"
COLUMN_DAMAGES = [
    ("header-text", "UPDATE executions SET header = 'garbage' WHERE arn = ?", "the header of"),
    ("header-number", "UPDATE executions SET header = 5 WHERE arn = ?", "the header of"),
    ("input-bytes", "UPDATE executions SET input = x'ff00' WHERE arn = ?", "the input of"),
    (
        "operation-body-number",
        f"UPDATE operations SET body = 7 WHERE key >> 32 = {_OF}",
        "an operation of",
    ),
]


@pytest.mark.parametrize(
    ("sql", "fragment"), [d[1:] for d in COLUMN_DAMAGES], ids=[d[0] for d in COLUMN_DAMAGES]
)
def test_a_column_of_the_wrong_type_is_a_damaged_record_set_aside(
    tmp_path: Path, sql: str, fragment: str
) -> None:
    # A header or operation body holding text or a number, or an input holding bytes, raised
    # a bare TypeError ("a bytes-like object is required") out of list, show, stop and the
    # worker, which then ran nothing at all.
    db = tmp_path / "d.db"
    bad, good = _two(db)
    _edit(db, sql, bad)
    with SqliteStore(db) as store:
        engine = LocalService(store=store, clock=VirtualClock())
        register_function(engine, "waits", _waits)
        with pytest.raises(DamagedRecordError, match=fragment) as caught:
            engine.get_operations(bad) if "operation" in fragment else engine.get_execution(bad)
        assert "restore the database from a backup" in str(caught.value)
        with pytest.raises(DamagedRecordError):
            engine.stop(bad)
    lines: list[str] = []
    with Worker(str(db), functions={"waits": _waits}, log=lines.append, skip_time=True) as w:
        w.run(once=True)
    assert any(fragment in line and bad in line for line in lines), lines
    with SqliteStore(db) as store:
        assert LocalService(store=store).get_execution(good).status == "SUCCEEDED"
    with sqlite3.connect(db) as conn:  # nothing of the damaged execution was written over
        row = conn.execute("SELECT status FROM executions WHERE arn = ?", (bad,)).fetchone()
    conn.close()
    assert row == ("RUNNING",)


@pytest.mark.parametrize(
    ("owner", "until"),
    [("'elsewhere:1:x'", "'soon'"), ("'elsewhere:1:x'", "x'00'"), ("x'00'", "99999999999999")],
    ids=["until-text", "until-bytes", "owner-bytes"],
)
def test_a_lease_whose_columns_are_garbage_is_held_by_nobody(
    tmp_path: Path, owner: str, until: str
) -> None:
    # A lease_until holding text raised "'>=' not supported between 'str' and 'int'" out of
    # every worker's look for work; the database ran nothing until it was edited back.
    db = tmp_path / "d.db"
    bad, good = _two(db)
    _edit(
        db,
        f"UPDATE executions SET invoking = 1, lease_owner = {owner}, lease_until = {until} "
        "WHERE arn = ?",
        bad,
    )
    with Worker(str(db), functions={"waits": _waits}, log=lambda _: None, skip_time=True) as w:
        w.run(once=True)
    with SqliteStore(db) as store:
        engine = LocalService(store=store)
        assert engine.get_execution(good).status == "SUCCEEDED"
        assert engine.get_execution(bad).status == "SUCCEEDED"  # taken back and run


# --- a schema_version set back by hand -----------------------------------------------------------


@pytest.mark.parametrize("version", [0, 1, 2])
def test_a_schema_version_set_back_is_a_store_error_with_advice(
    tmp_path: Path, version: int
) -> None:
    # The first command to open it tried to upgrade tables that were already upgraded and
    # failed with SQLite's own words ("duplicate column name: input", "no such column:
    # o.position"), saying nothing of the number or what to do.
    db = tmp_path / "d.db"
    bad, good = _two(db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE schema_version SET version = ?", (version,))
    conn.close()
    with pytest.raises(dg.StoreError) as caught:
        SqliteStore(db)
    text = str(caught.value)
    assert f"records schema version {version}, but its tables are not those of" in text
    assert "UPDATE schema_version SET version = 3" in text
    assert "restore the database from a backup" in text
    with sqlite3.connect(db) as conn:  # nothing changed: set back, it opens as it was
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(version,)]
        conn.execute("UPDATE schema_version SET version = 3")
    conn.close()
    with SqliteStore(db) as store:
        engine = LocalService(store=store)
        assert {engine.get_execution(bad).status, engine.get_execution(good).status} == {"RUNNING"}


# --- error fields nested past reading, hostile values given to the runtime's functions --------


def _deep() -> list[Any]:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    return deep


class _Hostile:
    """A value whose ``repr``, ``==`` and ``hash`` all raise (a proxy to something gone)."""

    def __repr__(self) -> str:
        raise RuntimeError("repr of a proxy")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("== of a proxy")

    def __hash__(self) -> int:
        raise RuntimeError("hash of a proxy")


@pytest.mark.parametrize("field", ["error_data", "error_type"])
@pytest.mark.parametrize("make", [_deep, _Hostile], ids=["deep", "hostile"])
def test_an_error_field_nested_past_reading_is_refused_with_the_advice(
    field: str, make: Any
) -> None:
    # repr() of the value went into the message directly: a RecursionError (or the value's
    # own error) came out instead of the ValidationError saying to encode it.
    with pytest.raises(dg.ValidationError, match=f"StepFailedError {field} must be a str"):
        dg.StepFailedError("declined", **{field: make()})


def _runtime_calls() -> list[tuple[str, Any, str]]:
    from durable_gen import runtime as rt

    return [
        (
            "now-ms",
            lambda v: rt.complete_callback({}, "cb", now_ms=v),
            "takes now_ms as whole epoch milliseconds",
        ),
        ("callback-id", lambda v: rt.complete_callback({}, v, now_ms=1), "callback_id as the str"),
        ("heartbeat-id", lambda v: rt.heartbeat_callback({}, v, None, now_ms=1), "callback_id"),
        ("invoke-id", lambda v: rt.complete_invoke({}, v, now_ms=1), "operation_id as the str"),
        (
            "invoke-status",
            lambda v: rt.complete_invoke({}, "op", status=v, now_ms=1),
            "takes status= as one of",
        ),
        ("step-call", lambda v: rt.run_step_call(v), "takes the StepCall"),
    ]


@pytest.mark.parametrize("case", range(6), ids=[c[0] for c in _runtime_calls()])
@pytest.mark.parametrize("make", [_deep, _Hostile], ids=["deep", "hostile"])
def test_a_hostile_or_deep_value_given_to_the_runtime_is_a_validation_error(
    case: int, make: Any
) -> None:
    # RuntimeError from the value's repr or hash, or RecursionError, came out of the host
    # API instead of the ValidationError naming the argument.
    _, call, fragment = _runtime_calls()[case]
    with pytest.raises(dg.ValidationError, match=fragment):
        call(make())


# --- a Lambda event with lone surrogates ----------------------------------------------------------


def _echo(payload: Any) -> Generator[Any, Any, Any]:
    value = yield dg.Step(lambda: payload, name="echo")
    return value


class _Service:
    def __init__(self) -> None:
        self.checkpoints: list[Any] = []

    def checkpoint(self, execution_arn: str, checkpoint_token: str, updates: list[Any]) -> Any:
        from durable_gen._wire import CheckpointResponse

        self.checkpoints.append(updates)
        return CheckpointResponse(checkpoint_token=checkpoint_token + "'")

    def get_state(self, execution_arn: str, checkpoint_token: str, marker: str) -> Any:
        from durable_gen._wire import ExecutionState

        return ExecutionState()


_ARN = "arn:aws:lambda:us-west-2:123456789012:function:orders:$LATEST/durable-execution/e1/i1"


def _event() -> dict[str, Any]:
    return {
        "DurableExecutionArn": _ARN,
        "CheckpointToken": "dG9rZW4x",
        "InitialExecutionState": {
            "Operations": [
                {
                    "Id": "i1",
                    "Type": "EXECUTION",
                    "Status": "STARTED",
                    "StartTimestamp": 1767323045678,
                    "ExecutionDetails": {"InputPayload": "{}"},
                }
            ],
            "NextMarker": "",
        },
    }


def _surrogate_in(where: str) -> dict[str, Any]:
    ev = _event()
    op = ev["InitialExecutionState"]["Operations"][0]
    if where == "key":
        ev["x\ud800"] = 1
    elif where == "operation-key":
        op["x\ud800"] = 1
    elif where == "type":
        op["Type"] = "EXEC\ud800"
    elif where == "arn":
        ev["DurableExecutionArn"] = _ARN + "\ud800"
    elif where == "token":
        ev["CheckpointToken"] = "t\udfff"
    else:
        ev["InitialExecutionState"]["NextMarker"] = "m\ud800"
    return ev


@pytest.mark.parametrize(
    ("where", "path"),
    [
        ("key", "at the event, the key 'x\\ud800'"),
        ("operation-key", "at the event.InitialExecutionState.Operations[0], the key"),
        ("type", "at the event.InitialExecutionState.Operations[0].Type"),
        ("arn", "at the event.DurableExecutionArn"),
        ("token", "at the event.CheckpointToken"),
        ("marker", "at the event.InitialExecutionState.NextMarker"),
    ],
)
def test_a_lambda_event_with_a_lone_surrogate_is_invalid_input_naming_where(
    where: str, path: str
) -> None:
    # A lone surrogate in a key or an enum raised UnicodeEncodeError out of the handler; in
    # the ARN, token or marker it was sent back to the service, which cannot encode it.
    from durable_gen.aws import lambda_handler

    service = _Service()
    out = lambda_handler(_echo, service=service)(_surrogate_in(where), None)
    assert out["Status"] == "FAILED", out
    assert out["Error"]["ErrorType"] == "InvalidInputError"
    message = out["Error"]["ErrorMessage"]
    assert "holds text that is not valid Unicode" in message and path in message
    assert "Send the event the service sent" in message
    message.encode()  # the message itself can be sent back
    assert service.checkpoints == []


# --- hostile values given to the test runner and to options ------------------------------------


def _callback_flow(_: object) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="c", timeout=600)
    return (yield handle)


def _runner_calls() -> list[tuple[str, Any, type[Exception], str]]:
    from durable_gen.testing import TestRunner

    runner = TestRunner()
    run = runner.run(_callback_flow, None)
    cid = run.callback_id("c")
    return [
        ("advance", lambda v: runner.advance(v), dg.ValidationError, "advance() needs"),
        ("run-callback", lambda v: run.send_callback_success(v), dg.ValidationError, "name"),
        ("run-callback-id", lambda v: run.callback_id(v), dg.ValidationError, "callback's name"),
        (
            "run-callback-failure",
            lambda v: run.send_callback_failure("c", v),
            dg.DurableGenError,
            "",
        ),
        (
            "runner-callback-failure",
            lambda v: runner.send_callback_failure(cid, v),
            dg.DurableGenError,
            "",
        ),
        ("operation-name", lambda v: run.operation(v), dg.ValidationError, "operation() takes"),
        ("operation-type", lambda v: run.operation("c", type=v), dg.ValidationError, "type"),
        ("operation-index", lambda v: run.operation("c", index=v), dg.ValidationError, "index"),
        ("operations-name", lambda v: run.operations(v), dg.ValidationError, "name must be"),
        ("export", lambda v: run.export(v), dg.ValidationError, "export() takes a file path"),
        ("register", lambda v: runner.register(v, _waits), dg.ValidationError, "register()"),
        ("deploy", lambda v: runner.deploy(v, _waits), dg.DurableGenError, "deploy() needs"),
        ("crash", lambda v: runner.crash(v), dg.ValidationError, "CrashSchedule"),
        (
            "completion",
            lambda v: dg.Completion(min_successful=v),
            dg.ValidationError,
            "min_successful",
        ),
    ]


_RUNNER_CASES = [c[0] for c in _runner_calls()]


@pytest.mark.parametrize("case", range(len(_RUNNER_CASES)), ids=_RUNNER_CASES)
@pytest.mark.parametrize("make", [_deep, _Hostile], ids=["deep", "hostile"])
def test_a_hostile_or_deep_value_given_to_the_test_runner_is_a_typed_error(
    case: int, make: Any
) -> None:
    # The value's own RuntimeError (from repr, == or hash) or a RecursionError came out of the
    # runner's methods instead of the error naming the argument.
    _, call, error, fragment = _runner_calls()[case]
    with pytest.raises(error) as caught:
        call(make())
    assert fragment in str(caught.value)


# --- the command line: an ID too long, text that is not UTF-8 ----------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["show", "x" * 100_000],
        ["stop", "x" * 100_000],
        ["history", "x" * 100_000],
        ["callback", "succeed", "x" * 100_000, "1"],
    ],
    ids=["show", "stop", "history", "callback"],
)
def test_an_id_too_long_to_exist_is_no_match_in_a_short_line(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # A StoreError "LIKE or GLOB pattern too complex" (exit status 1) came out, saying
    # nothing of the ID; then the error line carried all 100,000 characters.
    db = tmp_path / "d.db"
    _two(db)
    code = main([*command, "--db", str(db)])
    err = capsys.readouterr().err
    assert code in (1, 2), err
    assert "no execution matches" in err or "no callback has the id" in err
    assert "pattern too complex" not in err
    assert len(err) < 1000


@pytest.mark.parametrize(
    "command",
    [["stop", "\ud800"], ["start", "x:y", "--name", "a\udbff"], ["show", "\udfff"]],
    ids=["id", "name", "low"],
)
def test_an_argument_with_a_surrogate_no_byte_gives_is_a_usage_error(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # main() called by code with a lone high surrogate (no undecodable byte gives one) raised
    # UnicodeEncodeError out of the check meant to refuse it.
    code = main([*command, "--db", str(tmp_path / "d.db")])
    assert code == 2
    assert "is not UTF-8 text" in capsys.readouterr().err


# --- bad history events given to replay ----------------------------------------------------------


def _add(x: int) -> Generator[Any, Any, int]:
    return (yield dg.Step(lambda: x + 1, name="add"))


def _history_events() -> list[dict[str, Any]]:
    from durable_gen.testing import TestRunner

    return list(TestRunner().run(_add, 1).export()["Events"])


def _damaged_history(kind: str) -> Any:
    events = _history_events()
    if kind == "history-deep":
        return _deep()
    if kind == "event-list":
        events[0] = [events[0]]
    elif kind == "event-hostile":
        events[1] = _Hostile()
    elif kind == "event-type-deep":
        events[1] = {"EventType": _deep()}
    elif kind == "name-hostile":
        events[1]["Name"] = _Hostile()
    elif kind == "payload-deep":
        events[2]["StepSucceededDetails"]["Result"]["Payload"] = _deep()
    elif kind == "error-deep":
        events[-1] = {
            "EventType": "ExecutionFailed",
            "EventId": 99,
            "ExecutionFailedDetails": {"Error": {"Payload": {"ErrorMessage": _deep()}}},
        }
    return {"Events": events}


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("history-deep", "nested too deeply to be an operation"),
        ("event-list", "Events[0] is a list, not an event object"),
        ("event-hostile", "Events[1] is a _Hostile, not an event object"),
        ("event-type-deep", "has no EventType"),
        ("name-hostile", "the Name of StepStarted event 2 must be a string"),
        ("payload-deep", "nested too deeply"),
    ],
)
def test_a_damaged_history_is_invalid_input_saying_what(kind: str, fragment: str) -> None:
    # A RecursionError, the value's own RuntimeError, or "'list' object has no attribute
    # 'get'" came out of load_history and replay.
    from durable_gen.testing import load_history, replay

    history = _damaged_history(kind)
    with pytest.raises(dg.InvalidInputError) as caught:
        load_history(history)
    assert fragment in str(caught.value)
    report = replay(_add, history)
    assert report.status == "invalid", report
    assert fragment in report.message


def test_a_recorded_error_nested_past_reading_still_loads() -> None:
    from durable_gen.testing import load_history

    history = load_history(_damaged_history("error-deep"))
    assert history.status == "FAILED"
    assert history.error is not None and "repr() fails" in (history.error.error_message or "")


@pytest.mark.parametrize(
    "call",
    [
        lambda e, v: e.get_execution(v),
        lambda e, v: e.stop(v),
        lambda e, v: e.run(v),
        lambda e, v: e.list_executions(v),
        lambda e, v: e.start(v),
    ],
    ids=["get", "stop", "run", "list", "start"],
)
@pytest.mark.parametrize("make", [_deep, _Hostile], ids=["deep", "hostile"])
def test_a_hostile_or_deep_value_given_to_the_engine_is_a_typed_error(call: Any, make: Any) -> None:
    # The value's own RuntimeError (from repr, == or hash) or a RecursionError came out.
    engine = LocalService(clock=VirtualClock())
    with pytest.raises(dg.DurableGenError):
        call(engine, make())
