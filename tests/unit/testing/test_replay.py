"""The replayer on hand-built histories: divergences, incomplete histories, AWS shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen._wire import ErrorObject, Operation
from durable_gen.testing import load_history, operations_from_events, replay, replay_folder
from tests import histories as h

ran: list[str] = []


@dg.step
def charge(x: int) -> int:
    ran.append("charge")
    return x


@dg.step
def ship(x: int) -> str:
    ran.append("ship")
    return f"shipped {x}"


@dg.step
def notify(x: int) -> None:
    ran.append("notify")


@pytest.fixture(autouse=True)
def _clear() -> None:
    ran.clear()


def v1(x: int):  # type: ignore[no-untyped-def]
    yield charge(x)
    yield dg.Wait(seconds=60, name="cool-off")
    return (yield ship(x))


HISTORY = [
    h.execution(1),
    h.step(1, 1, name="charge"),
    h.wait(2, name="cool-off"),
    h.step(3, "shipped 1", name="ship"),
]


def test_same_code_replays_the_whole_history_without_running_steps() -> None:
    report = replay(v1, HISTORY)
    assert report.ok and report.status == "ok"
    assert report.outcome == "succeeded" and report.result == "shipped 1"
    assert (report.replayed, report.recorded) == (3, 3)
    assert ran == []


def test_renamed_step_diverges_with_position_and_both_sides() -> None:
    @dg.step(name="ship_order")
    def ship2(x: int) -> str:
        return f"shipped {x}"

    def v2(x: int):  # type: ignore[no-untyped-def]
        yield charge(x)
        yield dg.Wait(seconds=60, name="cool-off")
        return (yield ship2(x))

    report = replay(v2, HISTORY)
    assert report.status == "diverged" and not report.ok
    d = report.divergence
    assert d is not None
    assert d.position == "operation 3 of the root context"
    assert d.recorded == "STEP/Step name='ship'"
    assert d.requested == "STEP/Step name='ship_order'"
    with pytest.raises(dg.NonDeterminismError):
        report.raise_for_status()


def test_reordered_steps_diverge_at_the_first_swapped_position() -> None:
    def v2(x: int):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=60, name="cool-off")
        yield charge(x)
        return (yield ship(x))

    report = replay(v2, HISTORY)
    assert report.status == "diverged"
    assert report.divergence is not None
    assert report.divergence.position == "operation 1 of the root context"
    assert report.divergence.recorded == "STEP/Step name='charge'"
    assert report.divergence.requested == "WAIT/Wait name='cool-off'"


def test_step_replaced_by_a_wait_diverges() -> None:
    def v2(x: int):  # type: ignore[no-untyped-def]
        yield charge(x)
        yield dg.Wait(seconds=60, name="cool-off")
        yield dg.Wait(seconds=1, name="ship")
        return "x"

    report = replay(v2, HISTORY)
    assert report.divergence is not None
    assert (report.divergence.recorded, report.divergence.requested) == (
        "STEP/Step name='ship'",
        "WAIT/Wait name='ship'",
    )


def test_inserted_step_diverges_where_it_was_inserted() -> None:
    def v2(x: int):  # type: ignore[no-untyped-def]
        yield charge(x)
        yield notify(x)
        yield dg.Wait(seconds=60, name="cool-off")
        return (yield ship(x))

    report = replay(v2, HISTORY)
    assert report.status == "diverged"
    assert report.divergence is not None
    assert report.divergence.position == "operation 2 of the root context"
    assert report.divergence.requested == "STEP/Step name='notify'"
    assert ran == []


def test_removed_trailing_operations_are_reported_as_never_reached() -> None:
    def v2(x: int):  # type: ignore[no-untyped-def]
        yield charge(x)
        return "done early"

    report = replay(v2, HISTORY)
    assert report.status == "diverged"
    assert report.divergence is not None
    assert report.divergence.recorded == "WAIT/Wait name='cool-off'"
    assert report.divergence.position == "operation 2 of the root context"
    assert report.divergence.requested is None
    assert "never" in report.message


def test_a_history_that_stops_early_is_incomplete_not_divergent_and_runs_nothing() -> None:
    report = replay(v1, HISTORY[:2])
    assert report.status == "incomplete" and report.ok
    assert report.next_commands == ["WAIT/Wait name='cool-off' (operation 2 of the root context)"]
    report = replay(v1, [*HISTORY[:3]])
    assert report.status == "incomplete"
    assert report.next_commands == ["STEP/Step name='ship' (operation 3 of the root context)"]
    assert ran == []


def test_appending_a_step_at_the_end_is_incomplete() -> None:
    def v2(x: int):  # type: ignore[no-untyped-def]
        yield charge(x)
        yield dg.Wait(seconds=60, name="cool-off")
        out = yield ship(x)
        yield notify(x)
        return out

    report = replay(v2, HISTORY)
    assert report.status == "incomplete" and report.ok
    assert report.next_commands[0].startswith("STEP/Step name='notify'")


def test_suspended_execution_replays_ok() -> None:
    report = replay(
        v1,
        [h.execution(1), h.step(1, 1, name="charge"), h.wait(2, name="cool-off", status="STARTED")],
    )
    assert report.status == "ok" and report.outcome == "suspended"


def test_a_failure_the_history_shows_is_ok_one_it_does_not_is_failed() -> None:
    err = ErrorObject(error_type="ValueError", error_message="card declined")
    failed = [h.execution(1), h.step(1, name="charge", status="FAILED", error=err)]
    report = replay(v1, failed)
    assert report.status == "ok" and report.outcome == "failed"
    assert report.error is not None and report.error.error_type == "ValueError"

    def buggy(x: int):  # type: ignore[no-untyped-def]
        value = yield charge(x)
        return {"a": 1}[value]  # KeyError: 1

    report = replay(buggy, [h.execution(1), h.step(1, 1, name="charge")])
    assert report.status == "failed" and "KeyError" in report.message

    def stops_catching(x: int):  # type: ignore[no-untyped-def]
        yield charge(x)
        raise RuntimeError("new bug")
        yield  # pragma: no cover

    report = replay(stops_catching, HISTORY)
    assert report.status == "failed"
    assert "before reaching 2 recorded operation(s)" in report.message
    with pytest.raises(AssertionError, match="new bug"):
        report.raise_for_status()


def test_patched_replays_old_and_new_histories() -> None:
    def v2(x: int):  # type: ignore[no-untyped-def]
        yield charge(x)
        if (yield dg.Patched("notify")):
            yield notify(x)
        yield dg.Wait(seconds=60, name="cool-off")
        return (yield ship(x))

    assert replay(v2, HISTORY).status == "ok"
    fresh = replay(v2, HISTORY[:2])  # at the frontier: new path
    assert fresh.status == "incomplete"
    assert fresh.next_commands[0].startswith("STEP/Step name='notify'")


# --- shapes -------------------------------------------------------------------------------------


def _aws(ops: list[Operation]) -> dict[str, Any]:
    data = json.loads(json.dumps({"Operations": [msgspec.to_builtins(o) for o in ops]}))
    for op in data["Operations"]:
        op["StartTimestamp"] = "2025-01-01T00:00:00.000Z"
    return data


def test_get_durable_execution_state_json_and_operation_json() -> None:
    text = json.dumps(_aws(HISTORY))
    assert replay(v1, text).status == "ok"
    assert replay(v1, json.loads(text)).status == "ok"
    assert replay(v1, json.dumps(json.loads(text)["Operations"])).status == "ok"


AWS_EVENTS = {
    "Events": [
        {
            "EventType": "ExecutionStarted",
            "EventId": 1,
            "EventTimestamp": "2025-01-01T00:00:00Z",
            "Id": "exec",
            "ExecutionStartedDetails": {"Input": {"Payload": "1", "Truncated": False}},
        },
        {
            "EventType": "StepStarted",
            "EventId": 2,
            "EventTimestamp": 1735689600.5,
            "Id": h.oid(1),
            "Name": "charge",
            "SubType": "Step",
            "StepStartedDetails": {},
        },
        {
            "EventType": "StepFailed",
            "EventId": 3,
            "EventTimestamp": 1735689600.6,
            "Id": h.oid(1),
            "Name": "charge",
            "SubType": "Step",
            "StepFailedDetails": {
                "Error": {
                    "Payload": {"ErrorType": "IOError", "ErrorMessage": "x"},
                    "Truncated": False,
                },
                "RetryDetails": {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 5},
            },
        },
        {
            "EventType": "StepStarted",
            "EventId": 4,
            "Id": h.oid(1),
            "Name": "charge",
            "SubType": "Step",
        },
        {
            "EventType": "StepSucceeded",
            "EventId": 5,
            "Id": h.oid(1),
            "Name": "charge",
            "SubType": "Step",
            "StepSucceededDetails": {
                "Result": {"Payload": "1", "Truncated": False},
                "RetryDetails": {"CurrentAttempt": 2},
            },
        },
        {"EventType": "InvocationCompleted", "EventId": 6, "InvocationCompletedDetails": {}},
        {
            "EventType": "WaitStarted",
            "EventId": 7,
            "Id": h.oid(2),
            "Name": "cool-off",
            "SubType": "Wait",
            "WaitStartedDetails": {"Duration": 60, "ScheduledEndTimestamp": "2025-01-01T00:01:00Z"},
        },
        {
            "EventType": "WaitSucceeded",
            "EventId": 8,
            "Id": h.oid(2),
            "Name": "cool-off",
            "SubType": "Wait",
            "WaitSucceededDetails": {"Duration": 60},
        },
        {
            "EventType": "StepSucceeded",
            "EventId": 9,
            "Id": h.oid(3),
            "Name": "ship",
            "SubType": "Step",
            "StepSucceededDetails": {"Result": {"Payload": '"shipped 1"', "Truncated": False}},
        },
        {
            "EventType": "ExecutionSucceeded",
            "EventId": 10,
            "Id": "exec",
            "ExecutionSucceededDetails": {"Result": {"Payload": '"shipped 1"', "Truncated": False}},
        },
    ]
}


def test_get_durable_execution_history_events_are_rebuilt_into_operations() -> None:
    history = load_history(json.dumps(AWS_EVENTS))
    assert history.status == "SUCCEEDED" and history.result == '"shipped 1"'
    by_name = {op.name: op for op in history.operations if op.name}
    assert by_name["charge"].status == "SUCCEEDED" and by_name["charge"].step_details.attempt == 2
    assert by_name["cool-off"].status == "SUCCEEDED"
    report = replay(v1, AWS_EVENTS)
    assert report.status == "ok" and report.result == "shipped 1"
    assert [op.id for op in operations_from_events(AWS_EVENTS["Events"])][1:] == [
        h.oid(1),
        h.oid(2),
        h.oid(3),
    ]


def test_events_without_execution_data_warn() -> None:
    events = json.loads(json.dumps(AWS_EVENTS))
    for e in events["Events"]:
        d = e.get("StepSucceededDetails")
        if d:
            d["Result"] = {"Truncated": False}
    report = replay(v1, events)
    assert any("IncludeExecutionData" in w for w in report.warnings)


def test_retry_pending_from_events_suspends() -> None:
    events = {"Events": AWS_EVENTS["Events"][:3]}
    history = load_history(events)
    (op,) = [o for o in history.operations if o.name == "charge"]
    assert op.status == "PENDING" and op.step_details.error.error_type == "IOError"
    assert replay(v1, events).outcome == "suspended"


def test_invalid_sources_are_reported() -> None:
    assert replay(v1, "{not json").status == "invalid"
    assert replay(v1, {"Foo": 1}).status == "invalid"
    assert replay(v1, "/no/such/file.json").status == "invalid"


def test_replay_folder_checks_every_file_and_matches_workflows_by_name(tmp_path: Path) -> None:
    def other(_: Any):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=1, name="w")
        return 1

    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "a.json").write_text(json.dumps(_aws(HISTORY)))
    (tmp_path / "v1" / "b.json").write_text(json.dumps(AWS_EVENTS))
    (tmp_path / "other-1.json").write_text(json.dumps(_aws([h.execution(), h.wait(1, name="w")])))
    (tmp_path / "zzz.json").write_text("[]")
    (tmp_path / "notes.txt").write_text("ignored")
    reports = replay_folder({"v1": v1, "other": other}, tmp_path)
    assert [(Path(r.source or "").name, r.status) for r in reports] == [
        ("other-1.json", "ok"),
        ("a.json", "ok"),
        ("b.json", "ok"),
        ("zzz.json", "invalid"),
    ]
    single = replay_folder(v1, tmp_path / "v1")
    assert all(r.ok for r in single) and len(single) == 2


def test_replay_folder_matches_function_names_and_arns(tmp_path: Path) -> None:
    state = _aws(HISTORY)
    (tmp_path / "a.json").write_text(json.dumps({**state, "FunctionName": "shop.flows.v1"}))
    arn = "arn:aws:lambda:us-east-1:123456789012:function:v1:$LATEST/durable-execution/n/i"
    (tmp_path / "b.json").write_text(json.dumps({**state, "DurableExecutionArn": arn}))
    reports = replay_folder({"v1": v1}, tmp_path)
    assert [r.status for r in reports] == ["ok", "ok"]


def test_missing_folder_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(dg.InvalidInputError):
        replay_folder(v1, tmp_path / "missing")


def test_operations_given_as_models_load_as_they_are_and_as_their_json_does() -> None:
    """A list (or ExecutionState) of Operation models is taken as is; the same operations as
    JSON give the same history (epoch-millisecond timestamps untouched either way)."""
    from durable_gen.local import LocalService, VirtualClock
    from durable_gen.runtime import ExecutionState

    engine = LocalService(clock=VirtualClock(start_ms=0))  # small timestamps: 0 ms onwards
    engine.register("flow", dg.make_handler(two_steps, engine))
    record = engine.run(engine.start("flow", "3"))
    operations = engine.get_operations(record.arn)
    as_models = load_history(operations)
    assert as_models.operations == operations
    assert as_models.operations[0].start_timestamp == operations[0].start_timestamp
    assert load_history(tuple(operations)).operations == operations
    assert load_history(ExecutionState(operations=operations)).operations == operations
    as_json = load_history(msgspec.json.encode(operations))
    assert as_json.status == as_models.status == "SUCCEEDED"
    assert [op.id for op in as_json.operations] == [op.id for op in operations]
    assert replay(two_steps, operations).ok and replay(two_steps, as_json).ok
    with_arn = load_history(operations, execution_arn="arn:x")
    assert with_arn.execution_arn == "arn:x"


@dg.step
def bump(x: int) -> int:
    return x + 1


@dg.workflow
def two_steps(x: int) -> dg.Workflow[int]:
    x = yield from bump(x)
    return (yield from bump(x))


@dg.step
def heads() -> str:
    return "heads"


@dg.step
def tails() -> str:
    return "tails"


def coin_flips(_: Any):  # type: ignore[no-untyped-def]
    """Branches on dg.UUID(): correct, since the value derives from the execution ARN."""
    out = []
    for _i in range(8):
        u = yield dg.UUID()
        out.append((yield (heads() if u.int % 2 else tails())))
    return out


def test_a_history_without_its_arn_warns_that_uuid_and_random_draws_differ() -> None:
    run = dg.testing.TestRunner().run(coin_flips)
    exported = run.export()
    assert replay(coin_flips, exported).status == "ok"
    assert replay(coin_flips, exported["Events"], execution_arn=run.arn).status == "ok"
    # GetDurableExecutionHistory's events name no ARN: the draws differ from the execution's.
    report = replay(coin_flips, {"Events": exported["Events"]})
    assert any("does not name its execution ARN" in w for w in report.warnings), report
    if report.status == "diverged":  # 8 coin flips: it diverges but for 1 chance in 256
        assert "execution_arn=" in report.message
    # A workflow that draws nothing replays the same without the ARN, and is not warned.
    plain = replay(v1, HISTORY)
    assert plain.warnings == []


def test_replay_logs_nothing_of_the_workflow_as_the_execution() -> None:
    # replay() checks the code against a history; it is not a run of the execution. The lines
    # the code reached past the history's last operation (after the wait, before the return)
    # came out in the application's log with the execution's ARN, unmarked, as if the
    # execution had logged them again.
    import logging

    from durable_gen.testing import TestRunner

    name = "tests.unit.testing.replay_lines"
    log = dg.get_logger(name)
    loud = dg.get_logger(name + ".loud", log_during_replay=True)
    kept: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            kept.append(record)

    @dg.step
    def step_one(x: int) -> int:
        return x

    @dg.workflow
    def logs(x: int):  # type: ignore[no-untyped-def]
        log.info("start")
        a = yield step_one(x)
        log.info("middle")
        yield dg.Wait(seconds=10, name="pause")
        log.info("after the wait")
        loud.info("loud after the wait")
        return a

    runner = TestRunner(skip_time=False)
    run = runner.run(logs, 1)
    suspended = run.export()
    runner.advance(10)
    finished = run.export()
    cut = dict(finished, Operations=[o for o in finished["Operations"] if o["Type"] != "WAIT"])
    cut.pop("Events")
    handler = Keep()
    logging.getLogger(name).addHandler(handler)
    logging.getLogger(name).setLevel(logging.INFO)
    try:
        for history, status in ((suspended, "ok"), (finished, "ok"), (cut, "incomplete")):
            kept.clear()
            assert replay(logs, history).status == status
            lines = [(r.getMessage(), getattr(r, "replaying", False)) for r in kept]
            expected = [("loud after the wait", True)] if history is finished else []
            assert lines == expected, status
    finally:
        logging.getLogger(name).removeHandler(handler)
