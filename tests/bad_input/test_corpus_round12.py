"""Round 12 of the bad-input corpus: mistakes written from the docs alone.

Numbers too large to be a float given for durations, delays and clock moves; a step timeout so
long its deadline has no milliseconds; history timestamps that are no time (NaN, infinities,
negative, huge, text that is no date); Lambda events whose fields have the wrong type; command
lines with wrong arguments against a database holding an execution. Each must end in a typed
error whose message says what to do, losing nothing recorded.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable, Generator
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen.cli import main
from durable_gen.local import LocalService, SqliteStore, VirtualClock, Worker
from durable_gen.testing import TestRunner, load_history, replay

HUGE = 10**400  # an int no float holds: math.isfinite raises OverflowError on it


def _fn() -> int:
    return 1


# --- numbers too large to be a float ----------------------------------------------------------

#: (case, call, fragment of the message)
HUGE_NUMBERS: list[tuple[str, Callable[[Any], object], str]] = [
    ("wait", lambda v: dg.Wait(v), "Wait seconds must be between 1 and"),
    ("retry-initial-delay", lambda v: dg.Retry(initial_delay=v), "Retry initial_delay"),
    ("retry-max-delay", lambda v: dg.Retry(max_delay=v), "Retry max_delay"),
    ("retry-backoff", lambda v: dg.Retry(backoff=v), "Retry backoff must be a finite number"),
    ("step-timeout", lambda v: dg.Step(_fn, timeout=v), "step timeout must be a number"),
    ("step-decorator-timeout", lambda v: dg.step(timeout=v)(_fn), "step timeout must be"),
    (
        "wait-strategy-backoff",
        lambda v: dg.WaitStrategy(until=lambda s: True, backoff=v),
        "WaitStrategy backoff must be a finite number",
    ),
    ("runner-advance", lambda v: TestRunner().advance(v), "advance() needs a number of seconds"),
    ("clock-advance", lambda v: VirtualClock().advance(v), "advance() needs a number of seconds"),
    (
        "interpreter-clock",
        lambda v: dg.runtime.Interpreter(_waits, [], clock=lambda: v),
        "clock= returns epoch seconds as a number",
    ),
    (
        "lambda-start-window",
        lambda v: dg.lambda_handler(_waits, start_window=v),
        "start_window must be a number of seconds >= 0",
    ),
]


def _waits(_: object) -> Generator[Any, Any, int]:
    yield dg.Wait(seconds=1)
    return 5


@pytest.mark.parametrize("sign", [1, -1], ids=["positive", "negative"])
@pytest.mark.parametrize(
    ("call", "fragment"), [c[1:] for c in HUGE_NUMBERS], ids=[c[0] for c in HUGE_NUMBERS]
)
def test_a_number_too_large_for_a_float_is_a_validation_error(
    call: Callable[[Any], object], fragment: str, sign: int
) -> None:
    # A bare OverflowError ("int too large to convert to float") came out of math.isfinite in
    # the check meant to refuse the value.
    with pytest.raises(dg.ValidationError) as caught:
        call(sign * HUGE)
    message = str(caught.value)
    assert fragment in message
    assert len(message) < 1000  # the 401 digits are cut short


@pytest.mark.parametrize("sign", [1, -1], ids=["positive", "negative"])
def test_a_worker_lease_too_large_for_a_float_is_refused_before_the_database_opens(
    tmp_path: Path, sign: int
) -> None:
    with pytest.raises(dg.ValidationError, match="lease_seconds must be"):
        Worker(str(tmp_path / "w.db"), lease_seconds=sign * HUGE)
    assert not (tmp_path / "w.db").exists()


@pytest.mark.parametrize("timeout", [1e306, 1e308, float(2**1000)])
def test_a_step_timeout_whose_deadline_has_no_milliseconds_is_no_limit(timeout: float) -> None:
    # Accepted where it was written, then the execution failed at the step with "OverflowError:
    # cannot convert float infinity to integer" (its deadline in ms was infinite).
    calls: list[int] = []

    def work() -> int:
        calls.append(1)
        return 7

    def flow(_: object) -> Generator[Any, Any, int]:
        return (yield dg.Step(work, name="work", timeout=timeout))

    assert dg.run(flow) == 7
    assert calls == [1]


def test_a_step_timeout_of_a_long_deadline_runs_on_the_engine() -> None:
    def flow(_: object) -> Generator[Any, Any, int]:
        first = yield dg.Step(_fn, name="a", timeout=1e308)
        yield dg.Wait(seconds=1)
        second = yield dg.Step(_fn, name="b", timeout=1e308)
        return first + second

    engine = LocalService(clock=VirtualClock(auto_advance=True))
    from durable_gen.local import register_function

    register_function(engine, "flow", flow)
    arn = engine.start("flow")
    engine.run(arn)
    record = engine.get_execution(arn)
    assert record.status == "SUCCEEDED", record
    assert [op.name for op in engine.get_operations(arn)][1:] == ["a", None, "b"]


# --- history timestamps that are no time --------------------------------------------------------


def _add(x: int) -> Generator[Any, Any, int]:
    yield dg.Wait(seconds=2)
    return (yield dg.Step(lambda: x + 1, name="add"))


def _export() -> dict[str, Any]:
    runner = TestRunner()
    run = runner.run(_add, 1)
    runner.advance(2)
    assert run.status == "SUCCEEDED"
    return dict(run.export())


BAD_TIMES: list[tuple[str, Any]] = [
    ("nan", float("nan")),
    ("inf", float("inf")),
    ("minus-inf", float("-inf")),
    ("huge-int", HUGE),
    ("huge-float", 1e300),
    ("past-9999-ms", 10**20),
    ("negative-seconds", -5),
    ("negative-ms", -1_767_323_045_678),
    ("bool", True),
    ("not-a-date", "yesterday"),
    ("empty-text", ""),
    ("list", [1_767_323_045_678]),
    ("object", {"ms": 1}),
    ("year-one-east", "0001-01-01T00:00:00+14:00"),
    ("year-one-datetime", datetime(1, 1, 1)),
]


def _event_index(events: list[dict[str, Any]], event_type: str) -> int:
    return next(i for i, e in enumerate(events) if e["EventType"] == event_type)


@pytest.mark.parametrize("value", [b[1] for b in BAD_TIMES], ids=[b[0] for b in BAD_TIMES])
def test_an_event_timestamp_that_is_no_time_is_invalid_input_naming_it(value: Any) -> None:
    # It was dropped silently: the step's StartTimestamp went missing from the replayed
    # history, and a retry's NextAttemptTimestamp with it.
    history = _export()
    events = history["Events"]
    index = _event_index(events, "StepStarted")
    events[index]["EventTimestamp"] = value
    kept = copy.deepcopy(history)
    with pytest.raises(dg.InvalidInputError) as caught:
        load_history(history)
    message = str(caught.value)
    assert f"the EventTimestamp of StepStarted event {events[index]['EventId']}" in message
    assert "no time between 1970 and the year 9999" in message
    assert "ISO 8601" in message
    report = replay(_add, history)
    assert report.status == "invalid" and "EventTimestamp of StepStarted" in report.message
    assert json.dumps(history, default=repr) == json.dumps(kept, default=repr)  # left as given


@pytest.mark.parametrize(
    "value", [float("nan"), HUGE, -1, "soon"], ids=["nan", "huge", "negative", "text"]
)
def test_a_scheduled_end_that_is_no_time_is_invalid_input(value: Any) -> None:
    history = _export()
    events = history["Events"]
    events[_event_index(events, "WaitStarted")]["WaitStartedDetails"]["ScheduledEndTimestamp"] = (
        value
    )
    with pytest.raises(dg.InvalidInputError, match="the ScheduledEndTimestamp of WaitStarted"):
        load_history(history)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("StartTimestamp", float("nan")),
        ("EndTimestamp", HUGE),
        ("StartTimestamp", "the day before"),
        ("EndTimestamp", -3),
    ],
    ids=["start-nan", "end-huge", "start-text", "end-negative"],
)
def test_an_operation_timestamp_that_is_no_time_is_invalid_input(field: str, value: Any) -> None:
    # The GetDurableExecutionState form: the field was left out without a word.
    state = {"Operations": [msgspec.to_builtins(op) for op in load_history(_export()).operations]}
    state["Operations"][1][field] = value
    with pytest.raises(dg.InvalidInputError) as caught:
        load_history(state)
    assert f"a recorded operation's {field}" in str(caught.value)


@pytest.mark.parametrize(
    "value",
    [None, 1_767_323_045_678, 1_767_323_045.5, "2026-01-02T03:04:05Z", "9999-12-31T23:59:59"],
    ids=["absent", "ms", "seconds", "iso", "last-year"],
)
def test_a_timestamp_that_is_a_time_still_loads(value: Any) -> None:
    history = _export()
    events = history["Events"]
    events[_event_index(events, "StepStarted")]["EventTimestamp"] = value
    loaded = load_history(history)
    step = next(op for op in loaded.operations if op.name == "add")
    assert value is None or step.start_timestamp is not None
    assert replay(_add, history).status == "ok"


# --- Lambda events whose fields have the wrong type ---------------------------------------------

_ARN = "arn:aws:lambda:us-west-2:123456789012:function:orders:$LATEST/durable-execution/e1/i1"


class _Service:
    def __init__(self) -> None:
        self.checkpoints: list[Any] = []

    def checkpoint(self, execution_arn: str, checkpoint_token: str, updates: list[Any]) -> Any:
        from durable_gen.runtime import CheckpointResponse

        self.checkpoints.append(updates)
        return CheckpointResponse(checkpoint_token=checkpoint_token + "'")

    def get_state(self, execution_arn: str, checkpoint_token: str, marker: str) -> Any:
        from durable_gen.runtime import ExecutionState

        return ExecutionState()


def _echo(payload: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Step(lambda: payload, name="echo"))


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


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = event
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value

    return edit


_OP = "InitialExecutionState.Operations.0"
LAMBDA_EVENTS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("start-nan", _set(f"{_OP}.StartTimestamp", float("nan")), "StartTimestamp"),
    ("start-inf", _set(f"{_OP}.StartTimestamp", float("inf")), "StartTimestamp"),
    ("start-text", _set(f"{_OP}.StartTimestamp", "yesterday"), "StartTimestamp"),
    ("start-bool", _set(f"{_OP}.StartTimestamp", True), "StartTimestamp"),
    ("end-list", _set(f"{_OP}.EndTimestamp", [1]), "EndTimestamp"),
    ("input-number", _set(f"{_OP}.ExecutionDetails.InputPayload", 5), "InputPayload"),
    ("details-list", _set(f"{_OP}.ExecutionDetails", []), "ExecutionDetails"),
    ("status-unknown", _set(f"{_OP}.Status", "BOGUS"), "Status"),
    ("status-number", _set(f"{_OP}.Status", 3), "Status"),
    ("id-number", _set(f"{_OP}.Id", 5), "Id"),
    ("operations-object", _set("InitialExecutionState.Operations", {}), "Operations"),
    ("operations-text", _set("InitialExecutionState.Operations", "x"), "Operations"),
    ("state-list", _set("InitialExecutionState", []), "InitialExecutionState"),
    ("arn-number", _set("DurableExecutionArn", 5), "DurableExecutionArn"),
    ("arn-empty", _set("DurableExecutionArn", ""), "DurableExecutionArn"),
    ("token-number", _set("CheckpointToken", 5), "CheckpointToken"),
    ("marker-number", _set("InitialExecutionState.NextMarker", 5), "NextMarker"),
    (
        "operation-without-type",
        lambda e: e["InitialExecutionState"]["Operations"].append({"Id": "x"}),
        "Type",
    ),
]


@pytest.mark.parametrize(
    ("edit", "field"), [c[1:] for c in LAMBDA_EVENTS], ids=[c[0] for c in LAMBDA_EVENTS]
)
def test_a_lambda_event_field_of_the_wrong_type_is_invalid_input_naming_it(
    edit: Callable[[dict[str, Any]], None], field: str
) -> None:
    from durable_gen.aws import lambda_handler

    event = _event()
    edit(event)
    service = _Service()
    out = lambda_handler(_echo, service=service)(event, None)
    assert out["Status"] == "FAILED", out
    assert out["Error"]["ErrorType"] == "InvalidInputError"
    message = out["Error"]["ErrorMessage"]
    assert field in message
    assert "the service always sends" in message or "truncated" in message
    assert service.checkpoints == []  # nothing recorded over the execution's state


# --- the command line against a database holding an execution -----------------------------------

_FLOWS = """
import durable_gen as dg

def waits(e):
    yield dg.Wait(seconds=1)
    return e

def plain(e):
    return 1

value = 5
"""


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Generator[Path, None, None]:
    (tmp_path / "round12_flows.py").write_text(_FLOWS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "d.db"
    assert main(["start", "round12_flows:waits", "--input", '{"k": 1}', "--db", str(path)]) == 0
    yield path
    sys.modules.pop("round12_flows", None)


CLI_MISTAKES: list[tuple[str, list[str], str]] = [
    ("input-not-json", ["start", "round12_flows:waits", "--input", "{bad"], "not valid JSON"),
    ("input-too-large", ["start", "round12_flows:waits", "--input", "1e999"], "too large"),
    ("input-cut-short", ["start", "round12_flows:waits", "--input", "[1,2"], "not valid JSON"),
    ("input-at-file", ["start", "round12_flows:waits", "--input", "@x.json"], "double quotes"),
    ("not-a-workflow", ["start", "round12_flows:plain"], "--register NAME=round12_flows:plain"),
    ("not-a-function", ["start", "round12_flows:value"], "is not a function"),
    ("no-such-name", ["start", "round12_flows:missing"], "its workflows are waits"),
    ("no-module", ["start", "round12_nomodule:waits"], "put that folder on PYTHONPATH"),
    ("no-colon", ["start", "round12_flows"], "MODULE:FUNCTION"),
    ("no-module-part", ["start", ":waits"], "MODULE:FUNCTION"),
    ("relative", ["start", "..round12_flows:waits"], "full dotted path"),
    ("timeout-exponent", ["start", "round12_flows:waits", "--timeout", "1e3"], "whole number"),
    ("timeout-nan", ["start", "round12_flows:waits", "--timeout", "nan"], "whole number"),
    ("timeout-huge", ["start", "round12_flows:waits", "--timeout", "9" * 30], "1..31622400"),
    ("status-lowercase", ["list", "--status", "running"], "choose from 'RUNNING'"),
    ("show-empty-id", ["show", ""], "the execution ID is empty"),
    ("history-empty-id", ["history", ""], "the execution ID is empty"),
    ("stop-empty-id", ["stop", ""], "the execution ID is empty"),
    ("callback-action", ["callback", "explode", "x"], "choose from 'succeed'"),
    ("callback-bad-json", ["callback", "succeed", "x", "{bad"], "callback result is not valid"),
    ("heartbeat-payload", ["callback", "heartbeat", "x", "1"], "a heartbeat carries nothing"),
    ("poll-negative", ["worker", "--once", "--poll", "-1"], "must be positive and finite"),
    ("poll-infinite", ["worker", "--once", "--poll", "1e999"], "must be positive and finite"),
    ("concurrency-zero", ["worker", "--once", "--concurrency", "0"], "must be 1 or more"),
    ("concurrency-float", ["worker", "--once", "--concurrency", "1e3"], "not a whole number"),
    ("register-no-equals", ["worker", "--once", "--register", "x"], "NAME=MODULE:FUNCTION"),
    ("register-no-name", ["worker", "--once", "--register", "=a:b"], "NAME=MODULE:FUNCTION"),
    ("plugin-not-plugin", ["worker", "--once", "--plugin", "round12_flows:value"], "not a Plugin"),
    ("lock-timeout-nan", ["list", "--lock-timeout", "nan"], "must be positive and finite"),
    ("lock-timeout-negative", ["list", "--lock-timeout", "-1"], "must be positive and finite"),
    ("checkpointing", ["run", "round12_flows:waits", "--checkpointing", "x"], "choose from"),
]


@pytest.mark.parametrize(
    ("command", "fragment"), [c[1:] for c in CLI_MISTAKES], ids=[c[0] for c in CLI_MISTAKES]
)
def test_a_command_line_mistake_is_a_usage_error_losing_nothing(
    db: Path, command: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    try:
        code = main([*command, "--db", str(db)])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert fragment in err, err
    assert "Traceback" not in err
    # the execution recorded before is there, unchanged, and still runs to its end
    assert main(["list", "--json", "--db", str(db)]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["status"] == "RUNNING"
    with Worker(str(db), functions={}, log=lambda _: None, skip_time=True) as worker:
        worker.run(once=True)
    with SqliteStore(db) as store:
        record = LocalService(store=store).get_execution(row["arn"])
    assert record.status == "SUCCEEDED" and json.loads(record.result or "null") == {"k": 1}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"\x00" * 5000, "is corrupt or not a durable_gen database"),
        (b"hello", "is corrupt or not a durable_gen database"),
        (b"SQLite format 3\x00" + b"\xff" * 2000, "is corrupt or not a durable_gen database"),
    ],
    ids=["zeros", "text", "header-then-garbage"],
)
def test_a_file_that_is_no_database_is_a_store_error_and_left_as_it_was(
    tmp_path: Path, content: bytes, fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(content)
    assert main(["list", "--db", str(path)]) == 1
    err = capsys.readouterr().err
    assert "StoreError" in err and fragment in err and "restore it from a backup" in err
    assert path.read_bytes() == content


# --- a lease too long to be held, a now_ms in another unit --------------------------------------


@pytest.mark.parametrize(
    "lease", [31_622_401, 10**20, 1e300], ids=["366-days-and-1", "e20", "e300"]
)
@pytest.mark.parametrize("where", ["sqlite", "worker"])
def test_a_lease_longer_than_366_days_is_refused_before_the_database_opens(
    tmp_path: Path, lease: float, where: str
) -> None:
    # SqliteStore raised "OverflowError: Python int too large to convert to SQLite INTEGER" at
    # the first execution it leased; a Worker's lease thread died with "OverflowError: timestamp
    # out of range for platform time_t", renewing nothing.
    with pytest.raises(dg.ValidationError, match=r"lease_seconds must be at most 31622400"):
        if where == "sqlite":
            SqliteStore(tmp_path / "l.db", lease_seconds=lease)
        else:
            Worker(str(tmp_path / "l.db"), lease_seconds=lease)
    assert not (tmp_path / "l.db").exists()


def test_a_lease_of_366_days_is_held(tmp_path: Path) -> None:
    with Worker(
        str(tmp_path / "l.db"), functions={"w": _waits}, lease_seconds=31_622_400, skip_time=True
    ) as worker:
        with SqliteStore(tmp_path / "l.db") as store:
            from durable_gen.local import register_function

            engine = LocalService(store=store)
            register_function(engine, "w", _waits)
            arn = engine.start("w")
        worker.run(once=True)
    with SqliteStore(tmp_path / "l.db") as store:
        assert LocalService(store=store).get_execution(arn).status == "SUCCEEDED"


def test_the_cli_lease_over_366_days_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["worker", "--once", "--db", str(tmp_path / "w.db"), "--lease", "1e12"])
    assert caught.value.code == 2
    assert "--lease: must be at most 31622400 seconds" in capsys.readouterr().err
    assert not (tmp_path / "w.db").exists()


def _store_calls() -> list[tuple[str, Callable[[int], object]]]:
    from durable_gen import runtime as rt

    return [
        ("apply-updates", lambda v: rt.apply_updates({}, [], now_ms=v)),
        (
            "fire-timer",
            lambda v: rt.fire_timer(
                {}, rt.Timer(kind="wait", operation_id="w", due_ms=1), now_ms=v
            ),
        ),
        ("complete-callback", lambda v: rt.complete_callback({}, "cb", now_ms=v, result="1")),
        ("heartbeat-callback", lambda v: rt.heartbeat_callback({}, "cb", None, now_ms=v)),
        ("complete-invoke", lambda v: rt.complete_invoke({}, "op", now_ms=v, result="1")),
    ]


@pytest.mark.parametrize(
    "now_ms",
    [1_796_190_702_306_885_481, 1_796_190_702_306_885, 253_402_300_800_000, HUGE],
    ids=["nanoseconds", "microseconds", "year-10000", "huge"],
)
@pytest.mark.parametrize("case", range(5), ids=[c[0] for c in _store_calls()])
def test_a_now_ms_past_the_year_9999_is_a_validation_error(case: int, now_ms: int) -> None:
    # time.time_ns() given for now_ms was accepted: the store recorded start, end and due
    # times in the year 56 million, and the host's timers never fired.
    _, call = _store_calls()[case]
    with pytest.raises(dg.ValidationError) as caught:
        call(now_ms)
    message = str(caught.value)
    assert "takes now_ms as whole epoch milliseconds, at most 253402300799999" in message
    assert "time.time_ns() // 1_000_000" in message


def test_a_wait_started_at_a_nanosecond_now_changes_nothing() -> None:
    from durable_gen import runtime as rt

    interp = rt.Interpreter(_waits, [], execution_arn="arn:x")
    action = interp.next_action()
    assert isinstance(action, rt.Flush)
    store: dict[str, Any] = {}
    with pytest.raises(dg.ValidationError):
        rt.apply_updates(store, action.updates, now_ms=1_796_190_702_306_885_481)
    assert store == {}
    applied = rt.apply_updates(store, action.updates, now_ms=1_796_190_702_306)
    (timer,) = applied.timers
    assert timer.due_ms == 1_796_190_702_306 + 1000


# --- retry delays, wait durations and event ids that are no such thing ---------------------------

_TRIES = {"n": 0}


def _flaky() -> int:
    _TRIES["n"] += 1
    if _TRIES["n"] % 2:
        raise ValueError("once")
    return 1


def _retries(_: object) -> Generator[Any, Any, int]:
    yield dg.Wait(seconds=2)
    return (
        yield dg.Step(
            _flaky, name="s", retry=dg.Retry(max_attempts=3, initial_delay=1, max_delay=1)
        )
    )


def _events_only() -> list[dict[str, Any]]:
    _TRIES["n"] = 0
    run = TestRunner(skip_time=True).run(_retries, 1)
    assert run.status == "SUCCEEDED"
    return list(run.export()["Events"])


@pytest.mark.parametrize(
    "delay",
    [float("inf"), float("nan"), HUGE, -5, 1e300, "5", True],
    ids=["inf", "nan", "huge", "negative", "e300", "text", "bool"],
)
def test_a_retry_delay_that_is_no_delay_is_invalid_input(delay: Any) -> None:
    # An infinite NextAttemptDelaySeconds raised "OverflowError: cannot convert float infinity
    # to integer" out of load_history and replay; NaN, a negative number, text or True were read
    # as the last attempt, ending a step that was to be retried.
    events = _events_only()
    failed = _event_index(events, "StepFailed")
    events[failed]["StepFailedDetails"]["RetryDetails"]["NextAttemptDelaySeconds"] = delay
    history = {"Events": events[: failed + 1]}
    with pytest.raises(dg.InvalidInputError) as caught:
        load_history(history)
    message = str(caught.value)
    assert "the RetryDetails.NextAttemptDelaySeconds of StepFailed event" in message
    assert "1 or more: a retry; 0 or absent: the last attempt" in message
    report = replay(_retries, history)
    assert report.status == "invalid" and "NextAttemptDelaySeconds" in report.message


def test_a_retry_delay_that_is_a_delay_still_leaves_the_step_pending() -> None:
    events = _events_only()
    failed = _event_index(events, "StepFailed")
    history = load_history({"Events": events[: failed + 1]})
    step = next(op for op in history.operations if op.name == "s")
    assert step.status == "PENDING"
    assert step.step_details is not None and step.step_details.next_attempt_timestamp is not None


@pytest.mark.parametrize(
    "duration",
    [HUGE, float("nan"), -5, "2", 1e300],
    ids=["huge", "nan", "negative", "text", "e300"],
)
def test_a_wait_duration_that_is_no_duration_is_invalid_input(duration: Any) -> None:
    # With no ScheduledEndTimestamp, a Duration of the wrong type was ignored (the wait lost
    # its end) and a negative one ended the wait before it began.
    events = _events_only()
    started = _event_index(events, "WaitStarted")
    details = events[started]["WaitStartedDetails"]
    del details["ScheduledEndTimestamp"]
    details["Duration"] = duration
    with pytest.raises(dg.InvalidInputError, match="the Duration of WaitStarted event") as caught:
        load_history({"Events": events[: started + 1]})
    assert "give its ScheduledEndTimestamp instead" in str(caught.value)


@pytest.mark.parametrize(
    "event_id",
    [float("nan"), -5, 0, "x", 1e300, True],
    ids=["nan", "negative", "zero", "text", "float", "bool"],
)
def test_an_event_id_that_is_no_place_is_invalid_input(event_id: Any) -> None:
    # A NaN said "cannot convert float NaN to integer" and no more; a negative EventId moved
    # the event to the front, and a StepStarted moved there replayed as a step that never began.
    events = _events_only()
    index = _event_index(events, "StepStarted")
    events[index]["EventId"] = event_id
    with pytest.raises(dg.InvalidInputError) as caught:
        load_history({"Events": events})
    message = str(caught.value)
    assert f"the EventId of Events[{index}] ('StepStarted') must be a whole number, 1 or more" in (
        message
    )
    assert "as GetDurableExecutionHistory returns them" in message
