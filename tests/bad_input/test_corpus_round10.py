"""Round 10 of the bad-input corpus: mistakes written from the docs alone.

Arguments whose ``repr()`` raises or runs to megabytes, history events whose fields have the
wrong shape, and a database that lost an execution's EXECUTION operation. Each must end in a
typed error whose message says what to do, losing nothing recorded (and harming no other
execution).
"""

from __future__ import annotations

import copy
import inspect
import sqlite3
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen._errors import failure_text
from durable_gen.cli import main
from durable_gen.local import (
    DamagedRecordError,
    LocalService,
    SqliteStore,
    VirtualClock,
    Worker,
    register_function,
)
from durable_gen.runtime import (
    ChainedInvokeOptions,
    Done,
    ErrorObject,
    ExecutionDetails,
    Interpreter,
    InvocationOutput,
    Operation,
    OperationUpdate,
    Succeeded,
    Timer,
    WaitOptions,
    apply_updates,
    fire_timer,
)
from durable_gen.testing import (
    TestRunner,
    current_attempt,
    load_history,
    operations_from_events,
    replay,
    replay_folder,
)

# --- an argument whose repr() raises, or is huge ----------------------------------------------


class _Unprintable:
    """A value of the user's whose ``repr()`` fails (a half-built object, a proxy)."""

    def __repr__(self) -> str:
        raise RuntimeError("repr of a half-built object")


def _plain() -> int:
    return 1


def _item(item: int) -> int:
    return item


def _noop(_: object) -> Generator[Any, Any, None]:
    yield dg.Wait(seconds=1)


_HUGE = list(range(200_000))  # a column of data given where a number or a name is due

ARGUMENTS: list[tuple[str, Callable[[Any], object], str]] = [
    ("step-name", lambda v: dg.Step(_plain, name=v), "step name must be a non-empty string"),
    ("wait-seconds", lambda v: dg.Wait(seconds=v), "Wait seconds must be a whole number"),
    ("wait-name", lambda v: dg.Wait(seconds=1, name=v), "wait name must be a non-empty string"),
    ("step-retry", lambda v: dg.Step(_plain, retry=v), "retry must be a Retry"),
    ("step-kwargs", lambda v: dg.Step(_plain, kwargs=v), "kwargs must be a dict"),
    ("step-serdes", lambda v: dg.Step(_plain, serdes=v), "serdes"),
    ("step-sub-type", lambda v: dg.Step(_plain, sub_type=v), "sub_type must be 1 to 32"),
    ("retry-on", lambda v: dg.Retry(retry_on=v), "retry_on"),
    ("retry-attempts", lambda v: dg.Retry(max_attempts=v), "max_attempts must be an int"),
    ("retry-jitter", lambda v: dg.Retry(jitter=v), "jitter must be"),
    ("callback-timeout", lambda v: dg.CreateCallback(timeout=v), "timeout"),
    ("invoke-name", lambda v: dg.Invoke(v), "function"),
    ("invoke-tenant", lambda v: dg.Invoke("f", tenant_id=v), "tenant_id must be a string"),
    ("map-concurrency", lambda v: dg.Map(_item, [1], max_concurrency=v), "max_concurrency"),
    ("map-nesting", lambda v: dg.Map(_item, [1], nesting=v), "nesting must be"),
    ("child-virtual", lambda v: dg.Child(_noop, virtual=v), "virtual"),
    ("child-workflow", lambda v: dg.Child(v), "must be a generator function"),
    ("strategy-until", lambda v: dg.WaitStrategy(until=v), "until must be a predicate"),
    ("decision-stop", lambda v: dg.WaitDecision(stop=v), "stop must be True or False"),
    (
        "completion-percent",
        lambda v: dg.Completion(tolerated_failure_percentage=v),
        "tolerated_failure_percentage",
    ),
    ("patched-id", lambda v: dg.Patched(v), "change id"),
    ("run-functions", lambda v: dg.run(_noop, functions={"f": v}), "functions['f'] must be"),
    ("run-skip-time", lambda v: dg.run(_noop, skip_time=v), "skip_time must be True or False"),
]


@pytest.mark.parametrize(
    ("build", "fragment"), [a[1:] for a in ARGUMENTS], ids=[a[0] for a in ARGUMENTS]
)
def test_an_argument_whose_repr_raises_is_still_refused_with_the_message(
    build: Callable[[Any], object], fragment: str
) -> None:
    # The message about the mistake called repr() of the value: a RuntimeError of the user's
    # object came out instead of the ValidationError, with nothing said about the argument.
    with pytest.raises(dg.DurableGenError) as caught:
        build(_Unprintable())
    assert fragment in str(caught.value)
    assert "<a _Unprintable whose repr() fails>" in str(caught.value)


@pytest.mark.parametrize(
    ("build", "fragment"), [a[1:] for a in ARGUMENTS], ids=[a[0] for a in ARGUMENTS]
)
def test_an_argument_with_a_huge_repr_gives_a_short_message(
    build: Callable[[Any], object], fragment: str
) -> None:
    # The whole repr went into the message: megabytes of error text for one mistake.
    with pytest.raises(dg.DurableGenError) as caught:
        build(_HUGE)
    message = str(caught.value)
    assert fragment in message
    assert len(message) < 1500, len(message)


def _options() -> list[tuple[str, Callable[..., object], tuple[Any, ...], dict[str, Any]]]:
    """Every public class and function that checks its options, with good arguments."""
    from durable_gen import aws, otel, runtime, telemetry
    from durable_gen import local as dgl
    from durable_gen.testing import (
        CrashSchedule,
        DeterminismCheck,
        assert_deterministic,
        replay_folder,
        strategies,
    )

    return [
        ("Step", dg.Step, (_plain,), {}),
        ("step", dg.step, (_plain,), {}),
        ("Retry", dg.Retry, (), {}),
        ("CreateCallback", dg.CreateCallback, (), {}),
        ("WaitForCallback", dg.WaitForCallback, (_plain,), {}),
        ("Invoke", dg.Invoke, ("f",), {}),
        ("WaitStrategy", dg.WaitStrategy, (), {"until": _plain}),
        ("Map", dg.Map, (_item, [1]), {}),
        ("get_logger", dg.get_logger, (), {}),
        ("run", dg.run, (_noop,), {"skip_time": True}),
        ("lambda_handler", dg.lambda_handler, (_noop,), {}),
        ("LocalService", dgl.LocalService, (), {}),
        ("VirtualClock", dgl.VirtualClock, (), {}),
        ("Worker", dgl.Worker, ("w.db",), {}),
        ("SqliteStore", dgl.SqliteStore, ("s.db",), {}),
        ("TestRunner", TestRunner, (), {}),
        ("CrashSchedule", CrashSchedule, (), {}),
        ("DeterminismCheck", DeterminismCheck, (_noop,), {}),
        ("assert_deterministic", assert_deterministic, (_noop,), {"random_runs": 0}),
        ("load_history", load_history, ({"Operations": []},), {}),
        ("replay_folder", replay_folder, ({"noop": _noop}, "."), {}),
        ("LambdaService", aws.LambdaService, (object(),), {}),
        ("TelemetryPlugin", telemetry.TelemetryPlugin, (), {}),
        ("OpenTelemetryPlugin", otel.OpenTelemetryPlugin, (), {}),
        ("trace_id_of", otel.trace_id_of, ("arn",), {}),
        ("programs", strategies.programs, (), {}),
        ("crash_schedules", strategies.crash_schedules, (), {}),
        ("make_handler", runtime.make_handler, (_noop, None), {}),
        ("Interpreter", Interpreter, (_noop, []), {"input": 1}),
    ]


@pytest.mark.parametrize(
    ("name", "fn", "args", "kwargs"), _options(), ids=[o[0] for o in _options()]
)
def test_every_option_given_an_unprintable_or_huge_value_is_a_short_typed_error(
    name: str,
    fn: Callable[..., object],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    parameters = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    for index, parameter in enumerate(parameters):
        for value in (_Unprintable(), _HUGE):
            given, named = list(args), dict(kwargs)
            if parameter.kind is parameter.POSITIONAL_ONLY or (
                parameter.kind is parameter.POSITIONAL_OR_KEYWORD and index < len(given)
            ):
                given[index] = value
            else:
                named[parameter.name] = value
            try:
                fn(*given, **named)  # some take any value: a payload, an input, items
            except dg.DurableGenError as exc:
                assert len(str(exc)) < 3000, (name, parameter.name)


def test_a_long_name_is_shown_cut_with_its_length() -> None:
    with pytest.raises(dg.ValidationError) as caught:
        dg.Step(_plain, name="x" * 100_000)
    message = str(caught.value)
    assert "at most 256" in message and len(message) < 1000
    assert "(a str of 100002 characters)" in message


def test_an_unprintable_name_in_a_workflow_body_fails_the_execution_with_the_mistake() -> None:
    def body(_: None) -> Generator[Any, Any, None]:
        yield dg.Wait(seconds=1, name=_Unprintable())  # type: ignore[arg-type]

    run = TestRunner().run(body)
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "ValidationError"
    assert "wait name must be a non-empty string" in (run.error.error_message or "")


def test_printable_arguments_are_shown_whole_as_before() -> None:
    with pytest.raises(dg.ValidationError, match=r"got 'a\\nb'"):
        dg.Wait(seconds=1, name="a\nb")
    with pytest.raises(dg.ValidationError, match=r"got \[1, 2\]"):
        dg.Wait(seconds=[1, 2])  # type: ignore[arg-type]


# --- history events whose fields have the wrong shape -----------------------------------------


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1))
def _flaky(x: int) -> int:
    if current_attempt().attempt < 2:
        raise ValueError("first attempt")
    return x


def _retried(x: int) -> Generator[Any, Any, int]:
    a = yield _flaky(x)
    b = yield dg.Child(_in_child, (a,), name="inner")
    return int(b)


def _in_child(a: int) -> Generator[Any, Any, int]:
    return (yield _flaky(a + 1))


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    run = TestRunner().run(_retried, 1)
    assert run.status == "SUCCEEDED", run.error
    return [dict(event) for event in run.export()["Events"]]


def _first(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(event for event in events if event["EventType"] == kind)


def _damage_retry(value: object) -> Callable[[list[dict[str, Any]]], None]:
    def damage(events: list[dict[str, Any]]) -> None:
        _first(events, "StepFailed")["StepFailedDetails"]["RetryDetails"] = value

    return damage


def _damage_attempt(value: object) -> Callable[[list[dict[str, Any]]], None]:
    def damage(events: list[dict[str, Any]]) -> None:
        details = _first(events, "StepFailed")["StepFailedDetails"]
        details["RetryDetails"] = {**details["RetryDetails"], "CurrentAttempt": value}

    return damage


def _damage_field(kind: str, key: str, value: object) -> Callable[[list[dict[str, Any]]], None]:
    def damage(events: list[dict[str, Any]]) -> None:
        _first(events, kind)[key] = value

    return damage


EVENT_DAMAGES: list[tuple[str, Callable[[list[dict[str, Any]]], None], str]] = [
    ("retry-details-number", _damage_retry(5), "RetryDetails of StepFailed event"),
    ("retry-details-text", _damage_retry("5 s"), "RetryDetails of StepFailed event"),
    ("retry-details-list", _damage_retry([1, 5]), "RetryDetails of StepFailed event"),
    ("current-attempt-text", _damage_attempt("two"), "RetryDetails.CurrentAttempt"),
    ("current-attempt-object", _damage_attempt({"n": 1}), "RetryDetails.CurrentAttempt"),
    ("current-attempt-nan", _damage_attempt(float("nan")), "RetryDetails.CurrentAttempt"),
    ("current-attempt-bool", _damage_attempt(True), "RetryDetails.CurrentAttempt"),
    ("execution-id-object", _damage_field("ExecutionStarted", "Id", {"a": 1}), "string Id"),
    ("execution-id-list", _damage_field("ExecutionStarted", "Id", [1]), "string Id"),
    ("parent-id-object", _damage_field("StepStarted", "ParentId", {}), "ParentId"),
    ("parent-id-list", _damage_field("StepSucceeded", "ParentId", ["x"]), "ParentId"),
    ("name-object", _damage_field("StepStarted", "Name", {"n": 1}), "Name"),
    ("sub-type-number", _damage_field("ContextStarted", "SubType", 7), "SubType"),
]


@pytest.mark.parametrize(
    ("damage", "fragment"), [d[1:] for d in EVENT_DAMAGES], ids=[d[0] for d in EVENT_DAMAGES]
)
def test_an_event_field_of_the_wrong_shape_is_an_invalid_history_naming_it(
    events: list[dict[str, Any]], damage: Callable[[list[dict[str, Any]]], None], fragment: str
) -> None:
    # A RetryDetails that is not an object, or a CurrentAttempt that is not a number, raised
    # AttributeError / TypeError / ValueError out of load_history and replay; an Id or
    # ParentId that is an object raised "unhashable type".
    damaged = copy.deepcopy(events)
    damage(damaged)
    with pytest.raises(dg.InvalidInputError, match="a history event is malformed") as caught:
        load_history({"Events": damaged})
    assert fragment in str(caught.value)
    with pytest.raises(dg.InvalidInputError, match="a history event is malformed"):
        operations_from_events(damaged)
    report = replay(_retried, {"Events": damaged})
    assert report.status == "invalid", report
    assert fragment in report.message


def test_the_undamaged_events_replay(events: list[dict[str, Any]]) -> None:
    assert replay(_retried, {"Events": events}).ok
    assert load_history({"Events": events}).status == "SUCCEEDED"


# --- a database that lost an execution's EXECUTION operation ----------------------------------


def _waits(_: object) -> Generator[Any, Any, int]:
    yield dg.Wait(seconds=1)
    return 5


def _lose_execution_operation(db: Path) -> tuple[str, str]:
    with SqliteStore(db) as store:
        engine = LocalService(store=store)
        register_function(engine, "waits", _waits)
        bad, good = engine.start("waits"), engine.start("waits")
    with sqlite3.connect(db) as conn:
        deleted = conn.execute(
            "DELETE FROM operations WHERE type = 'EXECUTION' AND key >> 32 = "
            "(SELECT seq FROM executions WHERE arn = ?)",
            (bad,),
        ).rowcount
    assert deleted == 1
    return bad, good


def test_a_worker_sets_aside_an_execution_without_its_execution_operation(
    tmp_path: Path,
) -> None:
    # The worker died with a bare AssertionError ("every execution has its EXECUTION
    # operation"), leaving the good execution unrun.
    db = tmp_path / "d.db"
    bad, good = _lose_execution_operation(db)
    lines: list[str] = []
    with Worker(str(db), functions={"waits": _waits}, log=lines.append, skip_time=True) as w:
        w.run(once=True)
    said = [line for line in lines if "no EXECUTION operation" in line]
    assert len(said) == 1, lines
    assert bad in said[0] and "restore the database from a backup" in said[0]
    assert "that execution is set aside, the others go on" in said[0]
    with SqliteStore(db) as store:
        engine = LocalService(store=store)
        assert engine.get_execution(good).status == "SUCCEEDED"
        assert engine.get_execution(bad).status == "RUNNING"  # nothing made up for it


def test_stopping_or_running_an_execution_without_its_execution_operation_is_a_store_error(
    tmp_path: Path,
) -> None:
    db = tmp_path / "d.db"
    bad, good = _lose_execution_operation(db)
    with SqliteStore(db) as store:
        engine = LocalService(store=store, clock=VirtualClock())
        register_function(engine, "waits", _waits)
        with pytest.raises(DamagedRecordError, match="no EXECUTION operation of"):
            engine.stop(bad)
        assert engine.get_execution(bad).status == "RUNNING"
        with pytest.raises(DamagedRecordError, match="restore the database from a backup"):
            engine.run_until_idle()
        engine.run_until_idle()  # set aside: the other execution runs
        assert engine.get_execution(good).status == "SUCCEEDED"
        assert engine.get_execution(good).result == "5"


# --- operations a host built by hand with fields of the wrong type ----------------------------


def _one_step(x: int) -> Generator[Any, Any, int]:
    return (yield dg.Step(_add_one, (x,), name="add"))


def _add_one(x: int) -> int:
    return x + 1


def _recorded() -> list[Operation]:
    run = TestRunner().run(_one_step, 1)
    assert run.status == "SUCCEEDED"
    return list(load_history(run.export()).operations)


def _with(index: int, **changes: object) -> Callable[[list[Operation]], list[Operation]]:
    def change(ops: list[Operation]) -> list[Operation]:
        ops = list(ops)
        ops[index] = msgspec.structs.replace(ops[index], **changes)
        return ops

    return change


def _step_attempt(value: object) -> Callable[[list[Operation]], list[Operation]]:
    def change(ops: list[Operation]) -> list[Operation]:
        ops = list(ops)
        details = ops[1].step_details
        assert details is not None
        ops[1] = msgspec.structs.replace(
            ops[1], step_details=msgspec.structs.replace(details, attempt=value)
        )
        return ops

    return change


HAND_BUILT: list[tuple[str, Callable[[list[Operation]], list[Operation]], str]] = [
    ("id-dict", _with(0, id={"a": 1}), "its id is {'a': 1}, not of type str"),
    ("type-list", _with(1, type=["STEP"]), "its type is ['STEP'], not of type str"),
    ("status-none", _with(1, status=None), "its status is None, not of type str"),
    ("parent-id-list", _with(1, parent_id=[]), "its parent_id is [], not of type str"),
    (
        "execution-details-dict",
        _with(0, execution_details={"input_payload": "1"}),
        "its execution_details is {'input_payload': '1'}, not of type ExecutionDetails",
    ),
    (
        "step-details-dict",
        _with(1, step_details={"attempt": 1, "result": "2"}),
        "not of type StepDetails",
    ),
    ("step-details-text", _with(1, step_details="2"), "not of type StepDetails"),
    ("attempt-text", _step_attempt("1"), "its step_details.attempt is '1', not of type int"),
    ("attempt-bool", _step_attempt(True), "its step_details.attempt is True, not of type int"),
    ("wait-details-int", _with(1, wait_details=5), "not of type WaitDetails"),
]


@pytest.mark.parametrize(
    ("change", "fragment"), [h[1:] for h in HAND_BUILT], ids=[h[0] for h in HAND_BUILT]
)
def test_an_operation_built_with_a_field_of_the_wrong_type_is_refused_by_the_interpreter(
    change: Callable[[list[Operation]], list[Operation]], fragment: str
) -> None:
    # Operation(...) checks no field's type; the interpreter raised "unhashable type",
    # AttributeError ("'dict' object has no attribute 'attempt'") or a TypeError comparing
    # the attempt, from deep in replay, naming neither the operation nor the field.
    with pytest.raises(dg.ValidationError, match="is not a well-formed Operation") as caught:
        Interpreter(_one_step, change(_recorded()))
    assert fragment in str(caught.value)
    assert "msgspec.json.decode(data, type=list[Operation])" in str(caught.value)


def test_the_recorded_operations_drive_the_interpreter_to_its_end() -> None:
    action = Interpreter(_one_step, _recorded()).next_action()
    assert isinstance(action, Done) and action.outcome == Succeeded("2")


# --- a callback failed with neither an error type nor a message -------------------------------


def _awaits_callback(_: object) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="approval", timeout=600)
    return (yield handle)


@pytest.mark.parametrize(
    "error", [ErrorObject(error_data="x"), ErrorObject(), ErrorObject(error_message="no")]
)
def test_show_reads_a_failure_without_type_or_message_as_error_not_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], error: ErrorObject
) -> None:
    # A callback failed by a sender that gave only ErrorData (`durable-gen callback fail ID
    # '{"ErrorData": "x"}'`) was shown as "✗ None: None" in show's operation lines.
    db = tmp_path / "d.db"
    with SqliteStore(db) as store:
        engine = LocalService(store=store, clock=VirtualClock(auto_advance=False))
        register_function(engine, "awaits", _awaits_callback)
        arn = engine.start("awaits")
        engine.run_until_idle()
        (callback_id,) = [
            op.callback_details.callback_id
            for op in engine.get_operations(arn)
            if op.callback_details is not None and op.callback_details.callback_id
        ]
        engine.send_callback_failure(callback_id, error)
        engine.run_until_idle()
        assert engine.get_execution(arn).status == "FAILED"
    assert main(["show", arn, "--db", str(db)]) == 0
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.strip().startswith("approval")]
    assert "None" not in line, line
    assert f"✗ {failure_text(error.error_type, error.error_message)}" in line


# --- updates a host built by hand, given to the reference store -------------------------------


def _store() -> dict[str, Operation]:
    execution = Operation(
        id="exec",
        type="EXECUTION",
        status="STARTED",
        start_timestamp=0,
        execution_details=ExecutionDetails(input_payload="1"),
    )
    return {"exec": execution}


HAND_BUILT_UPDATES: list[tuple[str, OperationUpdate, str]] = [
    (
        "wait-options-dict",
        OperationUpdate(id="w", type="WAIT", action="START", wait_options={"wait_seconds": 5}),  # type: ignore[arg-type]
        "its wait_options is {'wait_seconds': 5}, not a WaitOptions or None",
    ),
    (
        "callback-options-int",
        OperationUpdate(id="c", type="CALLBACK", action="START", callback_options=60),  # type: ignore[arg-type]
        "its callback_options is 60",
    ),
    (
        "invoke-function-none",
        OperationUpdate(
            id="i",
            type="CHAINED_INVOKE",
            action="START",
            chained_invoke_options=ChainedInvokeOptions(function_name=None),  # type: ignore[arg-type]
        ),
        "its chained_invoke_options.function_name is None, not a str",
    ),
    (
        "invoke-tenant-int",
        OperationUpdate(
            id="i",
            type="CHAINED_INVOKE",
            action="START",
            chained_invoke_options=ChainedInvokeOptions(function_name="f", tenant_id=5),  # type: ignore[arg-type]
        ),
        "its chained_invoke_options.tenant_id is 5",
    ),
    (
        "step-options-int",
        OperationUpdate(id="s", type="STEP", action="RETRY", step_options=3),  # type: ignore[arg-type]
        "its step_options is 3",
    ),
    (
        "id-dict",
        OperationUpdate(id={"a": 1}, type="STEP", action="START"),  # type: ignore[arg-type]
        "its id is {'a': 1}, not a str",
    ),
    (
        "name-bytes",
        OperationUpdate(id="s", type="STEP", action="START", name=b"x"),  # type: ignore[arg-type]
        "its name is b'x', not a str or None",
    ),
]


@pytest.mark.parametrize(
    ("update", "fragment"),
    [u[1:] for u in HAND_BUILT_UPDATES],
    ids=[u[0] for u in HAND_BUILT_UPDATES],
)
def test_an_update_built_with_a_field_of_the_wrong_type_is_refused_and_nothing_recorded(
    update: OperationUpdate, fragment: str
) -> None:
    # OperationUpdate(...) checks no field's type; apply_updates raised AttributeError
    # ("'dict' object has no attribute 'wait_seconds'") or a TypeError from a regex.
    store = _store()
    before = dict(store)
    with pytest.raises(dg.ValidationError, match="is not a well-formed OperationUpdate") as caught:
        apply_updates(store, [update], now_ms=1)
    assert fragment in str(caught.value)
    assert "nothing was recorded" in str(caught.value)
    assert store == before


def test_well_formed_updates_are_applied() -> None:
    store = _store()
    applied = apply_updates(
        store,
        [
            OperationUpdate(
                id="w", type="WAIT", action="START", wait_options=WaitOptions(wait_seconds=5)
            ),
            OperationUpdate(
                id="i",
                type="CHAINED_INVOKE",
                action="START",
                chained_invoke_options=ChainedInvokeOptions(function_name="f", tenant_id="t"),
            ),
        ],
        now_ms=1,
    )
    assert {op.id for op in applied.operations} == {"w", "i"}
    assert store["w"].status == "STARTED"


# --- a timer a host rebuilt from its own store with fields of the wrong type ------------------


def _armed_wait() -> tuple[dict[str, Operation], Timer]:
    store = _store()
    applied = apply_updates(
        store,
        [
            OperationUpdate(
                id="w", type="WAIT", action="START", wait_options=WaitOptions(wait_seconds=5)
            )
        ],
        now_ms=1,
    )
    (timer,) = applied.timers
    return store, timer


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("due_ms", "5001", "due_ms is '5001', not an int"),  # a TEXT column read back
        ("due_ms", None, "due_ms is None, not an int"),
        ("seconds", "5", "seconds is '5', not an int"),
        ("operation_id", ["w"], "operation_id is ['w'], not a str"),
    ],
)
def test_a_timer_rebuilt_with_a_field_of_the_wrong_type_is_refused_and_nothing_changed(
    field: str, value: object, fragment: str
) -> None:
    # fire_timer raised "'<' not supported between 'int' and 'str'", "unhashable type" or
    # "unsupported operand type(s) for +" from inside the store.
    store, timer = _armed_wait()
    before = dict(store)
    with pytest.raises(dg.ValidationError, match="takes a well-formed Timer") as caught:
        fire_timer(store, msgspec.structs.replace(timer, **{field: value}), now_ms=10_000)
    assert fragment in str(caught.value)
    assert store == before
    fired = fire_timer(store, timer, now_ms=10_000)  # the well-formed timer still fires
    assert fired is not None and fired.status == "SUCCEEDED"


# --- a history file nested past what the json module reads ------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"Operations": ' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
    ids=["bare", "in-operations"],
)
def test_a_history_nested_too_deep_is_an_invalid_report_not_a_recursion_error(
    text: str, tmp_path: Path
) -> None:
    # replay() let Python's RecursionError out of its JSON parse (replay_folder too), where
    # every other unreadable file is reported as invalid.
    report = replay(_noop, text)
    assert report.status == "invalid"
    assert "deeper than Python's json module reads" in report.message
    with pytest.raises(dg.InvalidInputError, match="is not valid JSON"):
        load_history(text.encode())
    (tmp_path / "deep.json").write_text(text)
    (folder_report,) = replay_folder({"noop": _noop}, tmp_path)
    assert folder_report.status == "invalid"


def test_the_engine_refuses_a_hand_built_update_and_keeps_the_token_valid() -> None:
    # LocalService.checkpoint (what a custom host's DurableService calls) raised the same
    # AttributeError / TypeError as apply_updates from inside the engine.
    engine = LocalService(clock=VirtualClock(auto_advance=False))
    said: list[object] = []

    def handler(event: Any) -> Any:
        cases = {case: update for case, update, _ in HAND_BUILT_UPDATES}
        for update in (cases["wait-options-dict"], cases["invoke-function-none"]):
            with pytest.raises(dg.InvalidCheckpointError, match="nothing was recorded") as caught:
                engine.checkpoint(event.durable_execution_arn, event.checkpoint_token, [update])
            said.append(str(caught.value))
        good = OperationUpdate(
            id="w", type="WAIT", action="START", wait_options=WaitOptions(wait_seconds=5)
        )
        engine.checkpoint(event.durable_execution_arn, event.checkpoint_token, [good])
        return InvocationOutput(status="SUCCEEDED", result="1")

    engine.register("hand", handler)
    arn = engine.start("hand", "1")
    engine.run_until_idle()
    assert len(said) == 2, said
    assert "its wait_options is {'wait_seconds': 5}" in str(said[0])
    assert "chained_invoke_options.function_name is None" in str(said[1])
    assert engine.get_execution(arn).status == "SUCCEEDED"
    assert [op.id for op in engine.get_operations(arn)][1:] == ["w"]


@pytest.mark.parametrize("concurrency", [10_001, 10_000_000])
def test_a_worker_concurrency_past_the_cap_is_refused_before_anything_is_built(
    tmp_path: Path, concurrency: int
) -> None:
    # Ten million built ten million engines (about 10 GB) before the first thread started.
    with pytest.raises(dg.ValidationError, match=r"above 10,000: .* run more worker processes"):
        Worker(tmp_path / "w.db", concurrency=concurrency)


def test_the_cli_refuses_a_concurrency_past_the_cap_as_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["worker", "--db", str(tmp_path / "w.db"), "--concurrency", "10001", "--once"])
    assert code == 2
    assert "above 10,000" in capsys.readouterr().err


def test_a_worker_at_the_cap_is_accepted(tmp_path: Path) -> None:
    with Worker(tmp_path / "w.db", concurrency=10_000) as worker:
        assert worker.concurrency == 10_000
