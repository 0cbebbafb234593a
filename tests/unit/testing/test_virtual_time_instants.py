"""When each timer fires, read on ``TestRunner``'s virtual clock: retry delays, a
``WaitForCondition``'s polls, callback timeouts and heartbeats, an execution timeout.

Each instant is what the guide's formulas give (``min(max_delay, initial_delay *
backoff**(k-1))``, rounded up to whole seconds), checked one timer at a time
(``advance_to_next_timer()``, with and without ``skip_time``) and with ``advance()`` just
before and at the due time. Nothing here sleeps.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local import LocalService, VirtualClock
from durable_gen.runtime import make_handler
from durable_gen.testing import TestRunner

START = datetime(2030, 1, 1, tzinfo=UTC)
seconds_run: list[float] = []  # virtual seconds since START at which each step attempt ran


@pytest.fixture(autouse=True)
def _clear() -> None:
    seconds_run.clear()


def _now(runner: TestRunner) -> float:
    return (runner.now() - START).total_seconds()


def _retrying(
    runner_box: list[TestRunner], initial: float, backoff: float, cap: float, attempts: int
) -> Any:
    @dg.step(
        retry=dg.Retry(
            max_attempts=attempts,
            initial_delay=initial,
            backoff=backoff,
            max_delay=cap,
            jitter="none",
        )
    )
    def refuses() -> int:
        seconds_run.append(_now(runner_box[0]))
        raise ConnectionError("not now")

    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield refuses()
        except dg.StepFailedError as exc:
            return exc.error_type
        return "no failure"

    return wf


def _expected_retry_instants(initial: float, backoff: float, cap: float, attempts: int) -> list:
    at, out = 0.0, [0.0]
    for k in range(1, attempts):
        at += max(1, math.ceil(min(cap, initial * backoff ** (k - 1))))
        out.append(at)
    return out


RETRIES = [(2, 3.0, 10, 4), (1.5, 1.7, 10, 5), (5, 2.0, 60, 6), (0.2, 1.0, 60, 3)]


@pytest.mark.parametrize("skip_time", [True, False])
@pytest.mark.parametrize(("initial", "backoff", "cap", "attempts"), RETRIES)
def test_each_retry_runs_at_its_delay_one_timer_at_a_time(
    skip_time: bool, initial: float, backoff: float, cap: float, attempts: int
) -> None:
    box: list[TestRunner] = []
    runner = TestRunner(skip_time=skip_time, start=START)
    box.append(runner)
    run = runner.start(_retrying(box, initial, backoff, cap, attempts))
    expected = _expected_retry_instants(initial, backoff, cap, attempts)
    for k in range(1, attempts):
        # the first call also runs the first invocation, due at once
        assert runner.advance_to_next_timer()
        assert seconds_run == expected[: k + 1]  # one more attempt per timer, at its instant
    assert run.result() == "ConnectionError"
    assert run.operation("refuses").attempts == attempts
    assert not runner.advance_to_next_timer()


@pytest.mark.parametrize(("initial", "backoff", "cap", "attempts"), RETRIES)
def test_no_retry_runs_a_moment_early(
    initial: float, backoff: float, cap: float, attempts: int
) -> None:
    box: list[TestRunner] = []
    runner = TestRunner(skip_time=False, start=START)
    box.append(runner)
    run = runner.run(_retrying(box, initial, backoff, cap, attempts))
    expected = _expected_retry_instants(initial, backoff, cap, attempts)
    for k in range(1, attempts):
        runner.advance(expected[k] - _now(runner) - 0.001)
        assert len(seconds_run) == k  # 1 ms before it is due: not yet
        runner.advance(0.001)
        assert seconds_run == expected[: k + 1]
    assert run.result() == "ConnectionError"


@pytest.mark.parametrize(
    ("delay", "backoff", "cap", "gaps"),
    [
        (2, 1.0, 300, [2, 2, 2, 2]),
        (2, 1.5, 300, [2, 3, 5, 7]),  # 4.5 and 6.75 rounded up
        (2, 1.5, 4, [2, 3, 4, 4]),  # capped by max_delay
        (1, 3.0, 10, [1, 3, 9, 10]),
    ],
)
def test_a_condition_is_checked_at_each_delay_of_its_strategy(
    delay: int, backoff: float, cap: int, gaps: list[int]
) -> None:
    runner = TestRunner(skip_time=False, start=START)

    def check(state: int) -> int:
        seconds_run.append(_now(runner))
        return state + 1

    def wf(_: Any):  # type: ignore[no-untyped-def]
        strategy = dg.WaitStrategy(
            until=lambda s: s >= len(gaps) + 1, delay=delay, backoff=backoff, max_delay=cap
        )
        return (yield dg.WaitForCondition(check, 0, wait_strategy=strategy, name="poll"))

    run = runner.run(wf)
    expected = [0.0]
    for gap in gaps:
        expected.append(expected[-1] + gap)
    for k in range(1, len(expected)):
        runner.advance(expected[k] - _now(runner) - 0.001)
        assert len(seconds_run) == k
        runner.advance(0.001)
        assert seconds_run == expected[: k + 1]
    assert run.result() == len(gaps) + 1
    assert run.operation("poll").attempts == len(gaps) + 1


def _callback_workflow(timeout: int | None, heartbeat: int | None) -> Any:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        handle = yield dg.CreateCallback(name="cb", timeout=timeout, heartbeat_timeout=heartbeat)
        try:
            return ["answered", (yield handle)]
        except dg.CallbackTimeoutError as exc:
            return [type(exc).__name__, exc.error_type]

    return wf


@pytest.mark.parametrize(
    ("timeout", "heartbeat", "beats", "fires_at", "error_type"),
    [
        (100, None, [], 100, "Callback.Timeout"),
        (100, 300, [], 100, "Callback.Timeout"),  # the overall timeout comes first
        (None, 30, [], 30, "Callback.Heartbeat"),
        (None, 30, [20, 45], 75, "Callback.Heartbeat"),  # each beat restarts it
        (100, 30, [20, 45, 70, 95], 100, "Callback.Timeout"),  # beats do not move the overall
        (600, 60, [59.999], 119.999, "Callback.Heartbeat"),
    ],
)
def test_a_callback_times_out_at_its_deadline_not_a_moment_before(
    timeout: int | None, heartbeat: int | None, beats: list[float], fires_at: float, error_type: str
) -> None:
    runner = TestRunner(skip_time=False, start=START)
    run = runner.run(_callback_workflow(timeout, heartbeat))
    for beat in beats:
        runner.advance(beat - _now(runner))
        run.send_callback_heartbeat("cb")
        runner.run_until_idle()
    runner.advance(fires_at - _now(runner) - 0.001)
    assert run.status == "RUNNING"
    runner.advance(0.001)
    assert run.result() == ["CallbackTimeoutError", error_type]
    callback = run.operation("cb").operation
    assert callback.end_timestamp is not None and callback.start_timestamp is not None
    assert callback.end_timestamp - callback.start_timestamp == round(fires_at * 1000)


def test_run_until_idle_stops_before_a_callback_times_out_then_fires_it_alone() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        outcome = yield from _callback_workflow(3600, 300)(None)
        yield dg.Wait(seconds=10, name="after")
        return outcome

    runner = TestRunner(start=START)  # skip_time
    run = runner.run(wf)
    assert run.status == "RUNNING" and _now(runner) == 0  # stopped for the test to answer
    assert runner.advance_to_next_timer()  # the heartbeat timeout, not the overall one
    assert _now(runner) == 300
    assert run.operation("cb").status == "TIMED_OUT"
    assert run.operation("after").status == "STARTED"  # the wait after it is not skipped yet
    runner.run_until_idle()
    assert run.result() == ["CallbackTimeoutError", "Callback.Heartbeat"]
    assert _now(runner) == 310


def test_an_execution_timeout_cuts_retries_short_at_its_instant() -> None:
    attempts: list[int] = []
    clock = VirtualClock()
    start = clock.now_ms()

    @dg.step(retry=dg.Retry(max_attempts=5, initial_delay=4, backoff=1, jitter="none"))
    def refuses() -> int:
        attempts.append(clock.now_ms() - start)
        raise ConnectionError("not now")

    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield refuses())

    service = LocalService(clock=clock)
    service.register("wf", make_handler(wf, service))
    arn = service.start("wf", None, execution_timeout=10)
    record = service.run(arn)
    assert record.status == "TIMED_OUT"
    assert record.error is not None and record.error.error_type == "Execution.Timeout"
    assert attempts == [0, 4000, 8000]  # the fourth, due at 12 s, never runs
    assert record.end_timestamp is not None
    assert record.end_timestamp - record.start_timestamp == 10_000
