"""Time, checked claim by claim against docs/engine.md ("Time"), docs/testing.md (virtual time)
and docs/guide.md (round 10): timers set near the end of a virtual clock's range, which end
after the latest time a ``datetime`` holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.cli import main
from durable_gen.local import LocalService, SqliteStore, VirtualClock
from durable_gen.runtime import make_handler
from durable_gen.testing import TestRunner

#: One hour before the end of 9999, the last year a ``datetime`` holds.
LAST_HOUR = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
LAST_HOUR_MS = 253_402_297_200_000


def _long_wait(_: Any) -> Any:
    started = yield dg.Now()
    yield dg.Wait(seconds=366 * 86_400, name="long")  # ends 10000-12-31T23:00Z
    return started.isoformat()


def _short_then_long(_: Any) -> Any:
    yield dg.Wait(seconds=60, name="short")  # ends within 9999
    yield dg.Wait(seconds=366 * 86_400, name="long")
    return "never"


# --- a timer due after 9999 cannot fire: said so, nothing lost, nothing else crashes -----------

PAST_THE_END = (
    r"the next timer is due at 10000-12-31T23:00:00\.000\+00:00, after "
    r"9999-12-31T23:59:59\.999Z.*start the clock earlier"
)


def test_a_wait_ending_after_9999_says_when_it_is_due_and_stays_waiting() -> None:
    runner = TestRunner(start=LAST_HOUR)
    with pytest.raises(dg.ValidationError, match=PAST_THE_END):
        runner.run(_long_wait)
    (run,) = runner.executions()
    assert run.status == "RUNNING"
    assert run.waiting_on() == ["wait 'long' until 10000-12-31T23:00:00.000+00:00"]
    with pytest.raises(dg.ExecutionSuspendedError, match=r"10000-12-31T23:00:00\.000"):
        run.result()
    assert run.operation("now").result == "9999-12-31T23:00:00+00:00"
    assert run.operation("long").status == "STARTED"
    with pytest.raises(dg.ValidationError, match=PAST_THE_END):
        runner.advance_to_next_timer()
    assert runner.now() == LAST_HOUR  # the clock did not move towards it


def test_the_timers_before_it_fire_at_their_time_first() -> None:
    runner = TestRunner(start=LAST_HOUR)
    with pytest.raises(dg.ValidationError, match="after 9999-12-31T23:59:59"):
        runner.run(_short_then_long)
    (run,) = runner.executions()
    assert run.operation("short").status == "SUCCEEDED"
    assert run.operation("long").status == "STARTED"
    assert runner.now() == datetime(9999, 12, 31, 23, 1, tzinfo=UTC)


def test_advancing_by_hand_to_the_end_of_time_leaves_it_waiting() -> None:
    runner = TestRunner(start=LAST_HOUR, skip_time=False)
    run = runner.run(_long_wait)
    runner.advance(3599.999)  # the latest millisecond there is
    assert runner.now() == datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)
    assert run.status == "RUNNING"
    assert run.waiting_on() == ["wait 'long' until 10000-12-31T23:00:00.000+00:00"]


def test_a_callback_timeout_after_9999_leaves_the_callback_to_answer() -> None:
    def approval(_: Any) -> Any:
        handle = yield dg.CreateCallback(name="cb", timeout=86_400, heartbeat_timeout=7200)
        return (yield handle)

    runner = TestRunner(start=LAST_HOUR)
    run = runner.run(approval)  # a callback's timeout is not skipped to
    with pytest.raises(dg.ValidationError, match="after 9999-12-31T23:59:59"):
        runner.run_until_idle(include_callback_timeouts=True)
    assert run.status == "RUNNING"
    run.send_callback_success("cb", "yes")
    runner.run_until_idle()
    assert run.result() == "yes"


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_an_engine_on_a_skipping_clock_says_so_and_show_writes_the_date(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "far.db"
    service = LocalService(
        store=SqliteStore(str(db)) if store == "sqlite" else None,
        clock=VirtualClock(start_ms=LAST_HOUR_MS),
    )
    service.register("wf", make_handler(_short_then_long, service))
    arn = service.start("wf", "null", execution_name="far")
    with pytest.raises(dg.ValidationError, match=r"due at 10000-12-31T23:01:00\.000"):
        service.run(arn)
    with pytest.raises(dg.ValidationError, match=r"due at 10000-12-31T23:01:00\.000"):
        service.run_until_idle()
    assert service.clock.now_ms() == LAST_HOUR_MS + 60_000
    assert service.get_execution(arn).status == "RUNNING"
    assert service.waiting_on(arn) == ["wait 'long' until 10000-12-31T23:01:00.000+00:00"]
    if store == "sqlite":
        capsys.readouterr()
        assert main(["show", "far", "--db", str(db)]) == 0
        shown = capsys.readouterr().out
        assert "waits on  wait 'long' until 10000-12-31T23:01:00.000+00:00" in shown
        html = tmp_path / "far.html"
        assert main(["show", "far", "--db", str(db), "--html", str(html)]) == 0
        assert "long" in html.read_text()


@pytest.mark.parametrize(
    ("epoch_ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000+00:00"),
        (1_735_689_600_001, "2025-01-01T00:00:00.001+00:00"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999+00:00"),
        (253_402_300_800_000, "10000-01-01T00:00:00.000+00:00"),
        (253_402_300_800_000 + 3 * 146_097 * 86_400_000 + 5, "11200-01-01T00:00:00.005+00:00"),
    ],
)
def test_times_are_written_to_the_millisecond_past_9999_too(epoch_ms: int, text: str) -> None:
    from durable_gen.local._text import format_time

    assert format_time(epoch_ms) == text


# --- Now() and runner.now() keep every millisecond at any date ---------------------------------


def _two_nows(_: Any) -> Any:
    first = yield dg.Now()
    yield dg.Wait(seconds=1)
    second = yield dg.Now()
    return [first.isoformat(), second.isoformat()]


@pytest.mark.parametrize("year", [2025, 2500, 3000, 9999])
def test_now_under_a_virtual_clock_is_the_clocks_millisecond_far_in_the_future(year: int) -> None:
    start = datetime(year, 6, 1, 12, 0, 0, 1000, tzinfo=UTC)  # and one millisecond
    runner = TestRunner(start=start)
    assert runner.now() == start
    run = runner.run(_two_nows)
    assert run.result() == [
        f"{year}-06-01T12:00:00.001000+00:00",
        f"{year}-06-01T12:00:01.001000+00:00",
    ]
    assert runner.now() == datetime(year, 6, 1, 12, 0, 1, 1000, tzinfo=UTC)


def test_now_on_the_engine_reads_its_virtual_clock_to_the_millisecond() -> None:
    service = LocalService(clock=VirtualClock(start_ms=32_503_680_000_123))  # 3000-01-01
    service.register("wf", make_handler(_two_nows, service))
    record = service.run(service.start("wf", "null"))
    assert record.result == (
        '["3000-01-01T00:00:00.123000+00:00","3000-01-01T00:00:01.123000+00:00"]'
    )


@pytest.mark.parametrize(
    ("start", "now"),
    [
        (
            datetime(3000, 1, 1, 0, 0, 0, 1999, tzinfo=UTC),
            datetime(3000, 1, 1, 0, 0, 0, 1000, tzinfo=UTC),
        ),
        (
            datetime(9999, 12, 31, 23, 59, 59, 999_999),
            datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC),
        ),
        (datetime(1970, 1, 1, 0, 0, 0, 999), datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_the_runners_start_is_kept_to_the_millisecond_at_any_date(
    start: datetime, now: datetime
) -> None:
    assert TestRunner(start=start).now() == now


def test_a_start_past_9999_in_utc_is_refused_in_the_runners_words() -> None:
    late = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5)))  # 10000 in UTC
    with pytest.raises(dg.ValidationError, match=r"TestRunner start .* from 1970 to 9999 with"):
        TestRunner(start=late)


# --- an execution timeout passing while an invocation runs --------------------------------------


@pytest.mark.parametrize("checkpointing", ["step", "batch"])
def test_a_timeout_passing_during_a_long_step_is_recorded_when_the_engine_hears_of_it(
    checkpointing: str,
) -> None:
    clock = VirtualClock(auto_advance=False)
    ran: list[int] = []

    @dg.step
    def long_call(i: int) -> int:
        clock.advance(3)  # the call takes 3 s of the clock
        ran.append(i)
        return i

    def wf(_: Any) -> Any:
        for i in range(2):
            yield long_call(i)
        return "done"

    service = LocalService(clock=clock)
    service.register("wf", make_handler(wf, service, checkpointing=checkpointing))
    arn = service.start("wf", "null", execution_timeout=1)
    record = service.run(arn)
    assert record.status == "TIMED_OUT"
    assert record.error is not None and record.error.error_type == "Execution.Timeout"
    # not cut short at 1 s: timed out when the first outcome (step) or the suspension (batch)
    # reached the engine, stamped with that time, and nothing it sent was recorded
    assert ran == ([0] if checkpointing == "step" else [0, 1])
    took = 3000 * len(ran)
    assert record.end_timestamp is not None
    assert record.end_timestamp - record.start_timestamp == took
    events = [
        (e.event_type, e.event_timestamp - record.start_timestamp) for e in service.get_history(arn)
    ]
    assert ("ExecutionTimedOut", took) in events
    assert not any(kind == "StepSucceeded" for kind, _ in events)


def test_now_on_the_wall_clock_engine_keeps_its_microseconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    monkeypatch.setattr(time, "time", lambda: 1_764_570_662.388_543)  # what Now() reads
    service = LocalService()  # RealClock
    service.register("wf", make_handler(_now_only, service))
    record = service.run(service.start("wf", "null"))
    assert record.result == '"2025-12-01T06:31:02.388543+00:00"'


def _now_only(_: Any) -> Any:
    return (yield dg.Now()).isoformat()
