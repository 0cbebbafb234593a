"""Time, written from the docs alone: what is recorded when, and what the workflow sees.

Retry delays and their recorded ``NextAttemptDelaySeconds`` and timestamps, several timers due
at the same moment, an execution timeout that comes due during a retry delay or together with
a wait, a callback that times out (or is answered with a failure) while its
``WaitForCallback`` submitter waits for a retry, heartbeats, ``WaitForCondition`` polling
delays, step timeouts on condition checks, and the wall clock on a SQLite ``Worker`` in short
durations. Every engine the docs name: ``dg.run``, ``LocalService`` on a ``VirtualClock``,
``TestRunner`` with and without skipping time, and the ``Worker``.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local import LocalService, VirtualClock, Worker, register_function
from durable_gen.runtime import make_handler
from durable_gen.testing import TestRunner

START_MS = 1_735_689_600_000  # VirtualClock's and TestRunner's default start


def events(service: Any, arn: str, *types: str) -> list[tuple[str, str | None, int, Any]]:
    """(type, name, timestamp, details) of the history events of those types."""
    out = []
    for event in service.get_history(arn):
        if types and event.event_type not in types:
            continue
        details = next(
            (
                getattr(event, field)
                for field in event.__struct_fields__
                if field.endswith("_details") and getattr(event, field)
            ),
            None,
        )
        out.append((event.event_type, event.name, event.event_timestamp, details))
    return out


def on_virtual_engine(workflow: Any, *, execution_timeout: int | None = None) -> Any:
    service = LocalService(clock=VirtualClock())
    service.register("wf", make_handler(workflow, service))
    arn = service.start("wf", "null", execution_timeout=execution_timeout)
    service.run_until_idle()
    return service, arn, service.get_execution(arn)


# --- retry delays as recorded -------------------------------------------------------------------

ATTEMPTS: list[int] = []


@dg.step(retry=dg.Retry(max_attempts=5, initial_delay=2, backoff=3.0, max_delay=10, jitter="none"))
def always_fails() -> str:
    ATTEMPTS.append(1)
    raise ValueError(f"no {len(ATTEMPTS)}")


@dg.workflow
def retried(_: Any) -> Any:
    t0 = yield dg.Now()
    try:
        yield always_fails()
    except dg.StepFailedError as exc:
        t1 = yield dg.Now()
        return [exc.error_type, exc.error_message, (t1 - t0).total_seconds()]


def test_retry_delays_are_recorded_with_the_formula_and_attempts_start_when_due() -> None:
    ATTEMPTS.clear()
    service, arn, record = on_virtual_engine(retried)
    assert record.status == "SUCCEEDED"
    assert record.result == '["ValueError","no 5",28.0]'  # 2 + 6 + 10 + 10: capped at 10
    failed = events(service, arn, "StepFailed")
    assert [d["RetryDetails"] for _, _, _, d in failed] == [
        {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 2},
        {"CurrentAttempt": 2, "NextAttemptDelaySeconds": 6},
        {"CurrentAttempt": 3, "NextAttemptDelaySeconds": 10},
        {"CurrentAttempt": 4, "NextAttemptDelaySeconds": 10},
        {"CurrentAttempt": 5},
    ]
    started = [ts - START_MS for kind, name, ts, _ in events(service, arn, "StepStarted")]
    assert started == [0, 0, 2000, 8000, 18000, 28000, 28000]  # Now, 5 attempts, Now


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=0.2, backoff=2.0, jitter="none"))
def fails_fast() -> None:
    raise ValueError("x")


@dg.workflow
def retried_fast(_: Any) -> Any:
    try:
        yield fails_fast()
    except dg.StepFailedError as exc:
        return exc.error_type


def test_a_delay_under_a_second_is_rounded_up_to_one() -> None:
    service, arn, record = on_virtual_engine(retried_fast)
    assert record.result == '"ValueError"'
    delays = [
        d["RetryDetails"].get("NextAttemptDelaySeconds")
        for *_, d in events(service, arn, "StepFailed")
    ]
    assert delays == [1, 1, None]  # 0.2 and 0.4 s: whole seconds, at least 1


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=7, jitter="none"))
def pending_step() -> None:
    raise ValueError("x")


@dg.workflow
def pending_flow(_: Any) -> Any:
    try:
        yield pending_step()
    except dg.StepFailedError as exc:
        return exc.error_type


def test_next_attempt_timestamp_while_a_retry_delay_runs_under_a_hand_moved_clock() -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(pending_flow, None)
    details = run.operation("pending_step").operation.step_details
    assert details is not None
    assert (details.attempt, details.next_attempt_timestamp) == (1, START_MS + 7000)
    runner.advance(6.5)
    assert run.operation("pending_step").attempts == 1  # not due yet
    runner.advance(0.5)  # due: attempt 2 runs and fails, 14 s more
    details = run.operation("pending_step").operation.step_details
    assert details is not None
    assert (details.attempt, details.next_attempt_timestamp) == (2, START_MS + 21_000)
    assert runner.advance_to_next_timer() is True
    assert run.status == "SUCCEEDED" and run.result() == "ValueError"
    assert runner.now() == datetime(2025, 1, 1, 0, 0, 21, tzinfo=UTC)
    assert runner.advance_to_next_timer() is False


# --- execution timeouts ------------------------------------------------------------------------


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=100, max_delay=100, jitter="none"))
def slow_retry() -> str:
    raise ValueError("x")


@dg.workflow
def in_retry_delay(_: Any) -> Any:
    return (yield slow_retry())


def test_an_execution_timeout_during_a_retry_delay_ends_it_at_its_deadline() -> None:
    service, arn, record = on_virtual_engine(in_retry_delay, execution_timeout=30)
    assert record.status == "TIMED_OUT"
    assert record.error.error_type == "Execution.Timeout"
    assert record.end_timestamp - record.start_timestamp == 30_000
    assert len(events(service, arn, "StepFailed")) == 1  # no attempt after the deadline
    assert events(service, arn, "ExecutionTimedOut")[0][2] == START_MS + 30_000


@dg.workflow
def waits_five(_: Any) -> Any:
    yield dg.Wait(seconds=5, name="w")
    return "done"


def test_an_execution_timeout_due_with_a_wait_wins_it_was_scheduled_first() -> None:
    # due tasks run in order of due time, then of scheduling: the timeout was armed at start
    service, arn, record = on_virtual_engine(waits_five, execution_timeout=5)
    assert record.status == "TIMED_OUT"
    assert record.end_timestamp - record.start_timestamp == 5000
    assert not events(service, arn, "ExecutionSucceeded")


@pytest.mark.parametrize(("seconds", "text"), [(1, "1 second"), (2, "2 seconds")])
def test_an_execution_timeout_message_says_its_seconds_in_good_english(
    seconds: int, text: str
) -> None:
    _, _, record = on_virtual_engine(
        waits_five if seconds == 1 else long_wait, execution_timeout=seconds
    )
    assert record.error.error_message == f"the execution did not end within its timeout of {text}"


@dg.workflow
def long_wait(_: Any) -> Any:
    yield dg.Wait(seconds=3600, name="w")
    return "done"


# --- several timers at once ----------------------------------------------------------------------


def _waiter(n: int) -> Any:
    def branch(_: Any = None) -> Any:
        yield dg.Wait(seconds=5, name=f"w{n}")
        return n

    return branch


@dg.workflow
def three_waits(_: Any) -> Any:
    result = yield dg.Parallel([_waiter(1), _waiter(2), _waiter(3)])
    return result.get_results()


def test_timers_due_at_once_fire_at_their_due_time_in_the_order_they_were_scheduled() -> None:
    service, arn, record = on_virtual_engine(three_waits)
    assert record.result == "[1,2,3]"
    started = events(service, arn, "WaitStarted")
    assert [(name, d["ScheduledEndTimestamp"]) for _, name, _, d in started] == [
        ("w1", START_MS + 5000),
        ("w2", START_MS + 5000),
        ("w3", START_MS + 5000),
    ]
    done = events(service, arn, "WaitSucceeded")
    assert [(name, ts) for _, name, ts, _ in done] == [
        ("w1", START_MS + 5000),
        ("w2", START_MS + 5000),
        ("w3", START_MS + 5000),
    ]
    # all three fired before the one invocation that saw them
    kinds = [kind for kind, *_ in events(service, arn)]
    assert kinds.count("InvocationCompleted") == 2


def _fast(_: Any = None) -> Any:
    return "fast"
    yield  # a generator


def _long(_: Any = None) -> Any:
    yield dg.Wait(seconds=3600, name="long")
    return "slow"


@dg.workflow
def race(_: Any) -> Any:
    result = yield dg.Parallel([_long, _fast], completion=dg.Completion.first_successful())
    yield dg.Wait(seconds=1, name="after")
    return [result.completion_reason, result.results(), result.started_count]


def test_a_decided_batch_does_not_wait_for_the_timer_of_a_branch_left_running() -> None:
    began = time.monotonic()
    assert dg.run(race, None) == ["MIN_SUCCESSFUL_REACHED", ["fast"], 1]  # the wall clock
    assert time.monotonic() - began < 30
    runner = TestRunner(skip_time=False)
    run = runner.run(race, None)
    runner.advance(1)
    assert run.status == "SUCCEEDED"


# --- callbacks ----------------------------------------------------------------------------------

SUBMITTED: list[str] = []


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=60, jitter="none"))
def flaky_submit(callback_id: str) -> None:
    SUBMITTED.append(callback_id)
    raise ConnectionError("mail down")


SEEN: list[tuple[str, str | None]] = []


@dg.workflow
def approval_with_flaky_mail(_: Any) -> Any:
    try:
        yield dg.WaitForCallback(flaky_submit, name="approval", timeout=10)
        seen: Any = "answered"
    except dg.CallbackError as exc:
        SEEN.append((type(exc).__name__, exc.error_type))
        seen = [type(exc).__name__, exc.error_type]
    yield dg.Wait(seconds=5, name="after")  # the result is returned by a later invocation
    return seen


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_callback_that_times_out_during_a_submitter_retry_delay_is_a_timeout_every_time(
    payload_format: str,
) -> None:
    # The callback times out at 10 s while the submitter waits 60 s for its next attempt; the
    # submitter then fails for good. The workflow got CallbackFailedError("ConnectionError")
    # when the WaitForCallback ended, and CallbackTimeoutError("Callback.Timeout") on every
    # replay: the callback's error is what it raises, as documented, first run included.
    SEEN.clear()
    SUBMITTED.clear()
    runner = TestRunner(payload_format=payload_format)  # type: ignore[arg-type]
    run = runner.run(approval_with_flaky_mail, None)
    runner.run_until_idle(include_callback_timeouts=True)
    assert run.result() == ["CallbackTimeoutError", "Callback.Timeout"]
    assert SEEN and set(SEEN) == {("CallbackTimeoutError", "Callback.Timeout")}
    assert len(SUBMITTED) == 3  # the submitter keeps its retry policy, as in AWS's SDK


@dg.workflow
def approval_failed_during_retry(_: Any) -> Any:
    try:
        yield dg.WaitForCallback(flaky_submit, name="approval", timeout=1000)
        seen: Any = "answered"
    except dg.CallbackError as exc:
        SEEN.append((type(exc).__name__, exc.error_type))
        seen = [type(exc).__name__, exc.error_type]
    yield dg.Wait(seconds=5, name="after")
    return seen


def test_a_sender_failure_during_a_submitter_retry_delay_keeps_the_senders_type() -> None:
    SEEN.clear()
    SUBMITTED.clear()
    runner = TestRunner(skip_time=False)
    run = runner.run(approval_failed_during_retry, None)
    run.send_callback_failure("approval", "Rejected", "no budget")
    runner.advance(200)
    assert run.result() == ["CallbackFailedError", "Rejected"]
    assert set(SEEN) == {("CallbackFailedError", "Rejected")}


@dg.workflow
def heartbeat_flow(_: Any) -> Any:
    handle = yield dg.CreateCallback(name="cb", timeout=100, heartbeat_timeout=10)
    try:
        return (yield handle)
    except dg.CallbackTimeoutError as exc:
        now = yield dg.Now()
        return [exc.error_type, exc.error_message, now.isoformat()]


def test_a_missed_heartbeat_times_out_its_seconds_after_the_last_one() -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(heartbeat_flow, None)
    runner.advance(5)
    run.send_callback_heartbeat("cb")
    runner.advance(1000)
    assert run.result() == [
        "Callback.Heartbeat",
        "no heartbeat arrived within the heartbeat timeout of 10 seconds",
        "2025-01-01T00:00:15+00:00",
    ]


def test_heartbeats_do_not_push_back_the_overall_timeout() -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(heartbeat_flow, None)
    for _ in range(10):
        runner.advance(9)
        run.send_callback_heartbeat("cb")
    runner.advance(9)
    assert run.status == "RUNNING"  # 99 s
    runner.advance(2)
    assert run.result() == [
        "Callback.Timeout",
        "the callback was not completed within 100 seconds",
        "2025-01-01T00:01:40+00:00",
    ]


@dg.workflow
def callback_in_run(_: Any) -> Any:
    t0 = yield dg.Now()
    handle = yield dg.CreateCallback(name="cb", timeout=3600)
    try:
        yield handle
    except dg.CallbackTimeoutError as exc:
        t1 = yield dg.Now()
        return [exc.error_type, (t1 - t0).total_seconds()]


def test_dg_run_skipping_time_times_a_callback_out_and_now_moves_by_its_timeout() -> None:
    assert dg.run(callback_in_run, None, skip_time=True) == ["Callback.Timeout", 3600.0]


# --- polling ------------------------------------------------------------------------------------


def _count(state: dict) -> dict:
    return {"n": state["n"] + 1}


@dg.workflow
def polled(_: Any) -> Any:
    t0 = yield dg.Now()
    state = yield dg.WaitForCondition(
        _count,
        initial_state={"n": 0},
        wait_strategy=dg.WaitStrategy(
            until=lambda s: s["n"] >= 6, delay=3, backoff=1.5, max_delay=8
        ),
        name="poll",
    )
    t1 = yield dg.Now()
    return [state, (t1 - t0).total_seconds()]


def test_polling_delays_are_rounded_up_and_capped_as_recorded() -> None:
    service, arn, record = on_virtual_engine(polled)
    # after checks 1..5: 3, 4.5 -> 5, 6.75 -> 7, 10.125 -> 8 (max_delay), 8
    assert record.result == '[{"n":6},31.0]'
    polls = [d for _, name, _, d in events(service, arn, "StepSucceeded") if name == "poll"]
    assert [d["RetryDetails"].get("NextAttemptDelaySeconds") for d in polls] == [
        3,
        5,
        7,
        8,
        8,
        None,
    ]


@dg.step(timeout=0.2)
async def slow_check(state: dict) -> dict:
    if state["n"] == 1:
        await asyncio.sleep(5)
    return {"n": state["n"] + 1}


@dg.workflow
def polled_with_timeout(_: Any) -> Any:
    try:
        return (
            yield dg.WaitForCondition(
                slow_check,
                initial_state={"n": 0},
                wait_strategy=dg.WaitStrategy(until=lambda s: s["n"] >= 3, delay=2),
                name="poll",
            )
        )
    except dg.StepTimeoutError as exc:
        return [exc.error_type, "attempt 2" in (exc.error_message or "")]


def test_a_check_past_its_step_timeout_fails_the_polling_on_its_attempt() -> None:
    runner = TestRunner()
    run = runner.run(polled_with_timeout, None)
    assert run.result() == ["StepTimeoutError", True]
    assert run.operation("poll").attempts == 2


# --- the wall clock on a SQLite worker -----------------------------------------------------------


@dg.workflow
def wall_wait(_: Any) -> Any:
    t0 = yield dg.Now()
    yield dg.Wait(seconds=1, name="w")
    t1 = yield dg.Now()
    return (t1 - t0).total_seconds()


@dg.workflow
def wall_callback(_: Any) -> Any:
    handle = yield dg.CreateCallback(name="cb", timeout=2, heartbeat_timeout=1)
    try:
        return (yield handle)
    except dg.CallbackTimeoutError as exc:
        return [exc.error_type, exc.error_message]


@dg.workflow
def wall_long_wait(_: Any) -> Any:
    yield dg.Wait(seconds=30, name="w")
    return "done"


def test_the_worker_keeps_time_on_the_wall_clock(tmp_path: Path) -> None:
    with Worker(tmp_path / "time.db", log=lambda line: None) as worker:
        arn = worker.service.start(worker.register(wall_wait), "null")
        record = worker.drive(arn)
        assert record.status == "SUCCEEDED" and 1.0 <= float(record.result) < 5
        ((_, _, _, started),) = events(worker.service, arn, "WaitStarted")
        ((_, _, fired, _),) = events(worker.service, arn, "WaitSucceeded")
        assert fired >= started["ScheduledEndTimestamp"]

        arn = worker.service.start(worker.register(wall_callback), "null")
        record = worker.drive(arn)
        assert record.result == (
            '["Callback.Heartbeat","no heartbeat arrived within the heartbeat timeout of 1 second"]'
        )

        arn = worker.service.start(worker.register(wall_long_wait), "null", execution_timeout=1)
        began = time.monotonic()
        record = worker.drive(arn)
        assert record.status == "TIMED_OUT" and time.monotonic() - began < 10
        assert record.end_timestamp - record.start_timestamp >= 1000
        assert record.error.error_message == (
            "the execution did not end within its timeout of 1 second"
        )


def test_the_error_of_a_timed_out_execution_reads_timed_out_in_words(tmp_path: Path) -> None:
    # what ``durable-gen run --timeout`` prints; it read "execution timed_out: ..."
    done = subprocess.run(
        [
            sys.executable, "-m", "durable_gen.cli", "run",
            "tests.unit.test_time_round8:wall_long_wait",
            "--timeout", "1", "--skip-time", "--db", str(tmp_path / "t.db"),
        ],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2], check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert (
        "ExecutionFailedError: execution timed out: Execution.Timeout: "
        "the execution did not end within its timeout of 1 second"
    ) in done.stderr


# --- long policies ------------------------------------------------------------------------------

RUNS: list[int] = []


@dg.step(retry=dg.Retry(max_attempts=40, initial_delay=1, backoff=1e10, max_delay=5, jitter="none"))
def steep() -> None:
    RUNS.append(1)
    raise ValueError("x")


@dg.workflow
def steep_flow(_: Any) -> Any:
    try:
        yield steep()
    except dg.StepFailedError as exc:
        return [exc.error_type, exc.error_message]


def test_a_steep_backoff_stays_at_max_delay_instead_of_overflowing() -> None:
    # initial_delay * backoff**(k-1) passes what a float holds at attempt 32: the execution
    # failed with "OverflowError: (34, 'Numerical result out of range')"
    RUNS.clear()
    assert dg.run(steep_flow, None, skip_time=True) == ["ValueError", "x"]
    assert len(RUNS) == 40
    service, arn, _ = on_virtual_engine(steep_flow)
    delays = [
        d["RetryDetails"].get("NextAttemptDelaySeconds")
        for *_, d in events(service, arn, "StepFailed")
    ]
    assert delays == [1, 5, *[5] * 37, None]


def test_a_thousand_doubling_attempts_stay_at_max_delay() -> None:
    retry = dg.Retry(max_attempts=2000, initial_delay=1, backoff=2.0, max_delay=2, jitter="full")
    assert {retry.delay(k, 0.999) for k in (1100, 1500, 1999)} == {2}
    assert dg.Retry(initial_delay=0, backoff=2.0).delay(1100, 0.5) == 1  # 0 s: at least 1


def _never(state: int) -> int:
    return state + 1


@dg.workflow
def steep_poll(_: Any) -> Any:
    try:
        yield dg.WaitForCondition(
            _never,
            initial_state=0,
            wait_strategy=dg.WaitStrategy(
                until=lambda s: False, delay=1, backoff=1e10, max_delay=5, max_attempts=40
            ),
            name="poll",
        )
    except dg.StepFailedError as exc:
        return exc.error_type


def test_a_steep_polling_backoff_stays_at_max_delay_instead_of_overflowing() -> None:
    assert dg.run(steep_poll, None, skip_time=True) == "WaitConditionNotMetError"


@dg.workflow
def invoked_child(_: Any) -> Any:
    yield dg.Wait(seconds=100, name="cw")
    return "child"


@dg.workflow
def invoking_parent(_: Any) -> Any:
    return (yield dg.Invoke("child", None, name="inv"))


def test_an_execution_that_times_out_leaves_what_it_invoked_running_to_its_end() -> None:
    service = LocalService(clock=VirtualClock())
    service.register("parent", make_handler(invoking_parent, service))
    register_function(service, "child", invoked_child)
    arn = service.start("parent", "null", execution_timeout=10)
    service.run_until_idle()
    parent = service.get_execution(arn)
    assert parent.status == "TIMED_OUT"
    assert parent.end_timestamp - parent.start_timestamp == 10_000
    (child,) = [r for r in service.list_executions() if r.parent_arn == arn]
    assert child.status == "SUCCEEDED" and child.result == '"child"'
    assert child.end_timestamp - child.start_timestamp == 100_000


# --- waits computed from a deadline --------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "advice"),
    [
        (0, "skipped by not yielding it: `if seconds >= 1: yield dg.Wait(seconds=seconds)`"),
        (-30, "skipped by not yielding it"),
        (0.4, "Round it up: seconds=math.ceil(0.4) waits 1 s"),
        (89.2, "Round it up: seconds=math.ceil(89.2) waits 90 s"),
    ],
)
def test_a_wait_computed_from_a_deadline_is_told_how_to_write_it(
    seconds: float, advice: str
) -> None:
    with pytest.raises(dg.ValidationError, match="Wait seconds must be") as caught:
        dg.Wait(seconds=seconds)  # type: ignore[arg-type]
    assert advice in str(caught.value)


@dg.workflow
def until_deadline(deadline_iso: str) -> Any:
    now = yield dg.Now()
    left = (datetime.fromisoformat(deadline_iso) - now).total_seconds()
    if left >= 1:
        yield dg.Wait(seconds=math.ceil(left), name="until-deadline")
    after = yield dg.Now()
    return after >= datetime.fromisoformat(deadline_iso)


def test_waiting_until_a_deadline_as_the_advice_says() -> None:
    runner = TestRunner()
    assert runner.run(until_deadline, "2025-01-01T00:01:29.200000+00:00").result() is True
    assert runner.now() == datetime(2025, 1, 1, 0, 1, 30, tzinfo=UTC)
    assert runner.run(until_deadline, "2024-12-31T00:00:00+00:00").result() is True
