"""Time, from the docs (round 13): a clock that starts at the epoch itself (the docs allow any
time from 1970), where a timestamp of 0 is a time like any other; waits of the shortest and
longest lengths beside one another; timers of many items due at one millisecond under the
runner's time skipping; ``Now()`` across replays and crashes at a start with milliseconds; a
step timeout far beyond what a thread can wait for; ``advance`` by less than a millisecond."""

from __future__ import annotations

import math
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local import LocalService, SqliteStore, VirtualClock
from durable_gen.local._text import describe_execution, execution_table, history_lines
from durable_gen.runtime import make_handler
from durable_gen.testing import CrashSchedule, TestRunner

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- a clock at the epoch: a callback started at 0 ms times out with its own seconds -----------


@dg.workflow
def _await_callback(_: None) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="cb", timeout=100)
    return (yield handle)


@dg.workflow
def _await_heartbeat(_: None) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="cb", timeout=600, heartbeat_timeout=30)
    return (yield handle)


def test_a_callback_started_at_the_epoch_times_out_within_its_own_seconds() -> None:
    runner = TestRunner(start=EPOCH)
    run = runner.run(_await_callback)
    runner.run_until_idle(include_callback_timeouts=True)
    assert run.status == "FAILED"
    assert run.error is not None
    assert run.error.error_type == "Callback.Timeout"
    assert run.error.error_message == "the callback was not completed within 100 seconds"
    op = run.operation("cb")
    assert op.error is not None
    assert op.error.error_message == "the callback was not completed within 100 seconds"


def test_a_missed_heartbeat_at_the_epoch_names_its_seconds_too() -> None:
    runner = TestRunner(start=EPOCH)
    run = runner.run(_await_heartbeat)
    runner.run_until_idle(include_callback_timeouts=True)
    assert run.error is not None
    assert run.error.error_type == "Callback.Heartbeat"
    assert "heartbeat timeout of 30 seconds" in (run.error.error_message or "")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_engine_on_a_clock_at_the_epoch_times_a_callback_out_with_its_seconds(
    kind: str, tmp_path: Path
) -> None:
    clock = VirtualClock(start_ms=0)
    store = SqliteStore(str(tmp_path / "epoch.db")) if kind == "sqlite" else None
    service = LocalService(store=store, clock=clock)
    service.register("wf", make_handler(_await_callback, service))
    arn = service.start("wf", "null")
    record = service.run(arn)
    assert record.status == "FAILED"
    assert record.error is not None
    assert record.error.error_message == "the callback was not completed within 100 seconds"
    assert record.start_timestamp == 0


# --- show, list and history write a time of 0 ms as the epoch, not as nothing -----------------


@dg.workflow
def _instant(_: None) -> Generator[Any, Any, str]:
    now = yield dg.Now()
    return now.isoformat()


def test_show_list_and_history_write_times_and_durations_at_the_epoch() -> None:
    runner = TestRunner(start=EPOCH)
    run = runner.run(_instant)
    assert run.result() == "1970-01-01T00:00:00+00:00"
    record = run.record
    assert (record.start_timestamp, record.end_timestamp) == (0, 0)
    service = runner.service
    shown = describe_execution(record, service.get_operations(run.arn), [], service.clock.now_ms())
    assert "started   1970-01-01T00:00:00.000+00:00   took 0 ms" in shown
    table = execution_table([record])
    assert "1970-01-01T00:00:00.000+00:00       0 ms" in table
    events = history_lines(service.get_history(run.arn)).splitlines()
    assert events and all("1970-01-01T00:00:00.000+00:00" in line for line in events), events


def test_show_of_an_execution_with_a_timeout_ended_at_the_epoch_gives_no_deadline() -> None:
    runner = TestRunner(start=EPOCH)
    run = runner.run(_instant, execution_timeout=60)
    service = runner.service
    shown = describe_execution(
        run.record, service.get_operations(run.arn), [], service.clock.now_ms()
    )
    assert "  timeout   60.0 s\n" in shown  # ended: no "times out at"
    assert "times out at" not in shown


# --- waits of the shortest and the longest length, side by side ------------------------------


def _sleeper(seconds: int) -> Generator[Any, Any, str]:
    yield dg.Wait(seconds=seconds, name=f"wait-{seconds}")
    return (yield dg.Now()).isoformat()


@dg.workflow
def _short_and_long(_: None) -> Generator[Any, Any, Any]:
    batch = yield dg.Map(_sleeper, [1, 31_622_400, 1, 2], name="sleepers")
    return batch.get_results()


def test_one_second_and_366_day_waits_in_one_map_end_at_their_own_times() -> None:
    runner = TestRunner(start=datetime(2025, 1, 1, 0, 0, 0, 999_000, tzinfo=UTC))
    run = runner.run(_short_and_long)
    assert run.result() == [
        "2025-01-01T00:00:01.999000+00:00",
        "2026-01-02T00:00:00.999000+00:00",  # 366 days later (2025 is no leap year)
        "2025-01-01T00:00:01.999000+00:00",
        "2025-01-01T00:00:02.999000+00:00",
    ]
    waits = {op.name: op.operation for op in run.operations(type="WAIT")}
    long = waits["wait-31622400"]
    assert long.start_timestamp is not None and long.end_timestamp is not None
    assert long.end_timestamp - long.start_timestamp == 31_622_400_000


# --- many timers due at one millisecond, skipped to together ----------------------------------


@dg.step
def _stamp(i: int) -> int:
    return i


def _item_at_the_same_time(i: int) -> Generator[Any, Any, Any]:
    yield dg.Wait(seconds=5, name=f"together-{i}")
    at = yield dg.Now()
    got = yield _stamp(i)
    return [got, at.isoformat()]


@dg.workflow
def _together(_: None) -> Generator[Any, Any, Any]:
    batch = yield dg.Map(_item_at_the_same_time, list(range(12)), name="items", max_concurrency=12)
    after = yield dg.Now()
    return [batch.get_results(), after.isoformat()]


def test_twelve_waits_due_at_one_millisecond_end_there_under_time_skipping() -> None:
    runner = TestRunner(start=datetime(2025, 1, 1, 0, 0, 0, 1_000, tzinfo=UTC))
    run = runner.run(_together)
    results, after = run.result()
    assert results == [[i, "2025-01-01T00:00:05.001000+00:00"] for i in range(12)]
    assert after == "2025-01-01T00:00:05.001000+00:00"
    ends = {op.operation.end_timestamp for op in run.operations(type="WAIT")}
    assert len(ends) == 1


def test_advance_to_next_timer_fires_every_wait_due_at_that_millisecond() -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(_together)
    assert run.status == "RUNNING"
    assert runner.advance_to_next_timer() is True
    assert run.status == "SUCCEEDED"
    assert runner.advance_to_next_timer() is False


# --- Now() is the recorded time on every replay, crash or not ---------------------------------


def _stamps(i: int) -> Generator[Any, Any, Any]:
    first = yield dg.Now()
    yield dg.Wait(seconds=i + 1, name=f"pause-{i}")
    second = yield dg.Now()
    yield _stamp(i)
    return [first.isoformat(), second.isoformat()]


@dg.workflow
def _clocked(_: None) -> Generator[Any, Any, Any]:
    begin = yield dg.Now()
    batch = yield dg.Map(_stamps, [0, 1, 2], name="m")
    end = yield dg.Now()
    return [begin.isoformat(), batch.get_results(), end.isoformat()]


_CLOCKED = [
    "2025-01-01T00:00:00.123000+00:00",
    [
        ["2025-01-01T00:00:00.123000+00:00", "2025-01-01T00:00:01.123000+00:00"],
        ["2025-01-01T00:00:00.123000+00:00", "2025-01-01T00:00:02.123000+00:00"],
        ["2025-01-01T00:00:00.123000+00:00", "2025-01-01T00:00:03.123000+00:00"],
    ],
    "2025-01-01T00:00:03.123000+00:00",
]


@pytest.mark.parametrize("after", [None, *range(1, 10)])
def test_now_reads_the_same_after_any_crash(after: int | None) -> None:
    # the start's microseconds below the millisecond are dropped, as the docs say
    runner = TestRunner(start=datetime(2025, 1, 1, 0, 0, 0, 123_456, tzinfo=UTC))
    if after is not None:
        runner.crash(CrashSchedule(after_checkpoints=[after]))
    run = runner.run(_clocked)
    assert run.result() == _CLOCKED


# --- step timeouts far longer than a thread waits for, and the shortest ------------------------


@dg.step(timeout=10**12, retry=dg.Retry.never())
def _patient_sync(x: int) -> int:
    return x + 1


@dg.step(timeout=10**12, retry=dg.Retry.never())
async def _patient_async(x: int) -> int:
    return x + 2


@dg.workflow
def _patient(x: int) -> Generator[Any, Any, Any]:
    a = yield _patient_sync(x)
    b = yield _patient_async(x)
    batch = yield dg.Map(_patient_sync, [1, 2], name="many")
    return [a, b, batch.get_results()]


def test_a_step_timeout_of_a_trillion_seconds_is_no_limit_in_practice() -> None:
    assert TestRunner().run(_patient, 1).result() == [2, 3, [2, 3]]
    assert dg.run(_patient, 1) == [2, 3, [2, 3]]


# --- advance by less than a millisecond --------------------------------------------------------


@dg.workflow
def _one_second(_: None) -> Generator[Any, Any, str]:
    yield dg.Wait(seconds=1, name="one")
    return "done"


def test_advance_moves_whole_milliseconds_and_fires_at_the_due_one() -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(_one_second)
    start = runner.now()
    runner.advance(0.9994)  # rounded to 999 ms
    assert run.status == "RUNNING"
    assert (runner.now() - start).total_seconds() == pytest.approx(0.999)
    runner.advance(0.001)
    assert run.status == "SUCCEEDED"
    assert math.isclose((runner.now() - start).total_seconds(), 1.0)
