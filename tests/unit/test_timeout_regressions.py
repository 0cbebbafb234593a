"""Regressions found by programs written from the docs on timeouts, retries and deadlines.

Each test runs a workflow as a user would (``dg.run``, an embedded engine in memory or on
SQLite, the Lambda handler) and checks what the docs promise.
"""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen._driver import TIMEOUT_FATES
from durable_gen._wire import ErrorObject, Operation, StepDetails
from durable_gen.local import LocalService, SqliteStore, VirtualClock, Worker
from durable_gen.testing import DeterminismCheck, TestRunner, assert_deterministic
from durable_gen.testing._determinism import _comparable, _key


def run_on(workflow: Any, store: Any = None) -> Any:
    """Run ``workflow`` to its end on an embedded engine (virtual clock); its record."""
    engine = LocalService(store=store, clock=VirtualClock())
    engine.register("wf", dg.make_handler(workflow, engine))
    arn = engine.start("wf", msgspec.json.encode(None).decode())
    return engine.run(arn)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return None if request.param == "memory" else SqliteStore(tmp_path / "x.db")


# --- a timeout longer than a thread can wait for ------------------------------------------------


@pytest.mark.parametrize("timeout", [1e10, 1e300, timedelta.max])
def test_a_timeout_of_centuries_is_no_practical_limit(store: Any, timeout: Any) -> None:
    # a sync step with a timeout runs in a worker thread; waiting for it with a timeout past
    # threading.TIMEOUT_MAX (about 292 years) raised OverflowError out of the driver, which
    # crashed every invocation (running the step again each time) and failed the execution
    runs: list[int] = []

    @dg.step(timeout=timeout, retry=dg.Retry.never())
    def slow(i: int) -> int:
        runs.append(i)
        time.sleep(0.05)
        return i

    def wf(_: None) -> dg.Workflow[list[Any]]:
        one = yield from slow(1)
        batch = yield from dg.Map(slow, [2, 3])
        return [one, batch.results()]

    record = run_on(wf, store)
    assert (record.status, record.result) == ("SUCCEEDED", "[1,[2,3]]")
    assert sorted(runs) == [1, 2, 3]


# --- a result that comes after the deadline never replaces the timeout --------------------------

ONCE = dg.Retry.never()


@dg.step(timeout=0.05, retry=ONCE)
async def swallows_the_cancellation() -> str:
    try:
        await asyncio.sleep(5)
    except asyncio.CancelledError:
        return "late"  # a cleanup that returns instead of re-raising
    return "never"


@dg.step(timeout=0.05, retry=ONCE)
async def swallows_it_then_raises() -> str:
    try:
        await asyncio.sleep(5)
    except asyncio.CancelledError:
        raise ValueError("cleanup failed") from None
    return "never"


@dg.step(timeout=0.05, retry=ONCE)
async def blocks_its_event_loop() -> str:
    time.sleep(0.2)  # no await: nothing can cancel it
    return "late"


def outcome_of(step: Any) -> Any:
    def wf(_: None) -> Any:
        try:
            return ["ok", (yield step())]
        except dg.StepFailedError as exc:
            return [exc.error_type, exc.error_message]

    return wf


@pytest.mark.parametrize(
    "step", [swallows_the_cancellation, swallows_it_then_raises, blocks_its_event_loop]
)
def test_an_async_step_that_ends_past_its_deadline_timed_out(store: Any, step: Any) -> None:
    # "An attempt still running at its deadline fails with StepTimeoutError": an async step
    # that swallowed the cancellation, or never reached an await, was recorded with what it
    # returned (or raised) after its deadline
    record = run_on(outcome_of(step), store)
    error_type, message = json.loads(record.result)
    assert error_type == "StepTimeoutError"
    assert "0.05 s timeout" in message
    if step is blocks_its_event_loop or step is swallows_the_cancellation:
        assert "ended only after it" in message


def test_invoke_async_drops_a_late_async_result_too() -> None:
    engine = LocalService(clock=VirtualClock())

    def handler(event: Any) -> Any:
        return anyio.run(rt.invoke_async, outcome_of(swallows_the_cancellation), event, engine)

    engine.register("wf", handler)
    record = engine.run(engine.start("wf", "null"))
    assert json.loads(record.result)[0] == "StepTimeoutError"


class BusyDriver(dg.Plugin):
    """Holds the driver's thread (hooks run there) when the quick step's operation ends,
    as a slow checkpoint would, while the slow step's thread ends past its deadline."""

    def on_operation_end(self, op: Any, status: str) -> None:
        if op.name == "quick":
            time.sleep(0.4)


@dg.step(timeout=0.1, retry=ONCE)
def ends_late() -> str:
    time.sleep(0.2)
    return "late"


@dg.step(retry=ONCE)
def quick() -> str:
    return "quick"


def quick_branch() -> dg.Workflow[str]:
    return (yield from quick())


def late_branch() -> dg.Workflow[str]:
    return (yield from ends_late())


def busy_wf(_: None) -> dg.Workflow[list[Any]]:
    batch = yield from dg.Parallel(
        [quick_branch, late_branch], completion=dg.Completion(tolerated_failure_count=2)
    )
    return [
        (item.status, item.error.error_type if item.error else item.result) for item in batch.items
    ]


@pytest.mark.parametrize("host", ["invoke", "invoke_async"])
def test_a_thread_that_ends_past_its_deadline_while_the_driver_is_busy_timed_out(
    host: str,
) -> None:
    # the driver looked at the finished thread only after the deadline, and recorded its
    # late result as the step's success
    engine = LocalService(clock=VirtualClock())
    if host == "invoke":
        engine.register("wf", dg.make_handler(busy_wf, engine, plugins=[BusyDriver()]))
    else:

        def handler(event: Any) -> Any:
            return anyio.run(
                functools.partial(rt.invoke_async, busy_wf, event, engine, plugins=[BusyDriver()])
            )

        engine.register("wf", handler)
    record = engine.run(engine.start("wf", "null"))
    assert json.loads(record.result) == [["SUCCEEDED", "quick"], ["FAILED", "StepTimeoutError"]]


# --- an abandoned thread holds up no process exit -----------------------------------------------

HUNG_SCRIPT = """
import time
import durable_gen as dg

@dg.step(timeout=0.1, retry=dg.Retry.never())
def hung() -> str:
    time.sleep(120)  # a call that never comes back
    return "late"

def wf(_):
    try:
        return (yield hung())
    except dg.StepTimeoutError as exc:
        return exc.error_type

print(dg.run(wf, None))
"""


def test_a_process_exits_without_waiting_for_an_abandoned_step(tmp_path: Path) -> None:
    # the abandoned thread was a ThreadPoolExecutor's, which the interpreter joins at exit: a
    # script (or `durable-gen run`, or a worker told to stop) printed its result and then
    # waited for the hung call to come back
    script = tmp_path / "hung.py"
    script.write_text(HUNG_SCRIPT)
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "StepTimeoutError"
    assert time.monotonic() - began < 30


@pytest.mark.parametrize("host", ["invoke", "invoke_async"])
def test_a_sync_step_with_a_timeout_runs_in_a_daemon_thread(host: str) -> None:
    seen: list[bool] = []

    @dg.step(timeout=5, retry=ONCE)
    def where() -> bool:
        seen.append(threading.current_thread().daemon)
        return True

    def wf(_: None) -> dg.Workflow[bool]:
        return (yield from where())

    engine = LocalService(clock=VirtualClock())
    if host == "invoke":
        engine.register("wf", dg.make_handler(wf, engine))
    else:
        engine.register("wf", lambda event: anyio.run(rt.invoke_async, wf, event, engine))
    assert engine.run(engine.start("wf", "null")).status == "SUCCEEDED"
    assert seen == [True]


RELEASE = threading.Event()


@dg.step(timeout=0.1, retry=ONCE)
def hangs_until_released() -> str:
    RELEASE.wait(60)
    return "late"


def hanging_wf(_: None) -> Any:
    try:
        return (yield hangs_until_released())
    except dg.StepTimeoutError as exc:
        return exc.error_type


def test_a_worker_closes_without_waiting_for_an_abandoned_step(tmp_path: Path) -> None:
    # the worker ran it in its own pool, which close() shuts down waiting for every thread
    RELEASE.clear()
    try:
        with Worker(tmp_path / "w.db") as worker:
            name = worker.register(hanging_wf)
            arn = worker.service.start(name, "null")
            worker.run(once=True)
            assert worker.service.get_execution(arn).result == '"StepTimeoutError"'
            began = time.monotonic()
        assert time.monotonic() - began < 10
    finally:
        RELEASE.set()


# --- the determinism check times steps out as the engines do ------------------------------------


@dg.step(timeout=0.2, retry=ONCE)
def takes_half_again_its_timeout() -> str:
    time.sleep(0.3)
    return "late"


def times_out(_: None) -> Any:
    try:
        return (yield takes_half_again_its_timeout())
    except dg.StepTimeoutError as exc:
        return exc.error_type


def test_the_determinism_check_times_a_step_out_as_every_engine_does() -> None:
    # its runs start a timed step and wait for it (until its timeout) before the driver's
    # submit returns; the driver counted the deadline from that return, so a step that ran
    # past its timeout by less than the timeout again was recorded as succeeded
    assert dg.run(times_out, None) == "StepTimeoutError"
    check = DeterminismCheck(times_out, None)
    assert check.reference.result == '"StepTimeoutError"'


def some_time_out(_: None) -> Any:
    batch = yield dg.Map(
        takes_half_again_its_timeout_or_not, [0, 1, 2, 3],
        completion=dg.Completion(tolerated_failure_count=4),
    )  # fmt: skip
    return [batch.all_results(), [error.error_type for error in batch.errors()]]


@dg.step(timeout=0.05, retry=ONCE)
def takes_half_again_its_timeout_or_not(i: int) -> int:
    if i % 2:
        time.sleep(0.15)
    return i


def test_an_abandoned_step_in_the_determinism_check_ends_quietly() -> None:
    # a crashed run's invocation cancels the futures of the steps still running; the check ran
    # them in threads of its own without marking their futures running, so a cancelled one
    # had its result set anyway when the step came back: InvalidStateError, an unhandled
    # thread exception (an error under pytest)
    errors: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)
    try:
        assert_deterministic(some_time_out, None, random_runs=2)
        time.sleep(0.5)  # every abandoned step has come back
    finally:
        threading.excepthook = previous
    assert errors == []


# --- clocks moved by hand ----------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), "5", None, True, -1, 1e20])
def test_a_virtual_clock_moved_by_a_bad_amount_is_a_validation_error(seconds: Any) -> None:
    # nan, inf and strings gave ValueError, OverflowError, TypeError; 1e20 moved the clock to
    # a time no datetime holds (Now() and TestRunner.now() then raised ValueError)
    clock = VirtualClock(auto_advance=False)
    with pytest.raises(dg.ValidationError, match="advance"):
        clock.advance(seconds)
    assert clock.now_ms() == 1_735_689_600_000


@pytest.mark.parametrize("epoch_ms", [1.5, float("nan"), "5", None, True, 10**20])
def test_a_virtual_clock_moved_to_a_bad_time_is_a_validation_error(epoch_ms: Any) -> None:
    clock = VirtualClock(auto_advance=False)
    with pytest.raises(dg.ValidationError, match="advance_to"):
        clock.advance_to(epoch_ms)
    assert clock.now_ms() == 1_735_689_600_000
    clock.advance_to(0)  # an earlier time leaves it where it is
    assert clock.now_ms() == 1_735_689_600_000


@pytest.mark.parametrize("seconds", [1e20, 10**30, 8_000 * 366 * 86_400])
def test_the_test_runner_refuses_to_move_past_the_year_9999(seconds: Any) -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(waits_a_minute)
    with pytest.raises(dg.ValidationError, match="9999"):
        runner.advance(seconds)
    assert run.status == "RUNNING"
    runner.advance(60)
    assert run.result() == "2025-01-01T00:01:00+00:00"
    assert runner.now().year == 2025


def waits_a_minute(_: None) -> Any:
    yield dg.Wait(seconds=60)
    now = yield dg.Now()
    return now.isoformat()


def test_a_virtual_clock_starts_within_what_a_datetime_holds() -> None:
    with pytest.raises(dg.ValidationError, match="9999"):
        VirtualClock(start_ms=10**20)


# --- an attempt still queued for a thread at its deadline never starts -------------------------

QUEUED_RELEASE = threading.Event()
QUEUED_STARTS: list[float] = []


@dg.step(timeout=0.2, retry=ONCE)
def holds_a_thread(i: int) -> int:
    QUEUED_STARTS.append(time.monotonic())
    QUEUED_RELEASE.wait(10)
    return i


def more_items_than_threads(_: None) -> Any:
    batch = yield dg.Map(
        holds_a_thread, list(range(70)),
        completion=dg.Completion(tolerated_failure_percentage=100),
    )  # fmt: skip
    return [error.error_message for error in batch.errors()]


@dg.step(timeout=5, retry=ONCE)
def in_time_after_them(i: int) -> int:
    return i


def after_the_hung_ones(_: None) -> dg.Workflow[int]:
    return (yield from in_time_after_them(7))


@pytest.mark.parametrize("host", ["invoke", "invoke_async"])
def test_attempts_abandoned_at_their_deadline_neither_start_late_nor_starve_others(
    host: str,
) -> None:
    # sync attempts with a timeout share 64 threads: those still waiting for one at their
    # deadline were recorded as timed out ("abandoned"), then started anyway once threads were
    # free, their side effects running after the workflow had moved on; and attempts
    # abandoned while running (calls that hang) must not keep later attempts from a thread
    QUEUED_RELEASE.clear()
    QUEUED_STARTS.clear()
    engine = LocalService(clock=VirtualClock())

    def register(workflow: Any) -> None:
        if host == "invoke":
            engine.register("wf", dg.make_handler(workflow, engine))
        else:
            engine.register("wf", lambda event: anyio.run(rt.invoke_async, workflow, event, engine))

    register(more_items_than_threads)
    try:
        record = engine.run(engine.start("wf", "null"))
        ended = time.monotonic()
        messages = json.loads(record.result)
        assert len(messages) == 70 and all("0.2 s timeout" in m for m in messages)
        started = len(QUEUED_STARTS)
        assert started == 70 - len([m for m in messages if "was not started" in m])
        register(after_the_hung_ones)  # 70 hung threads: a new attempt still gets one
        assert engine.run(engine.start("wf", "null")).result == "7"
    finally:
        QUEUED_RELEASE.set()  # the abandoned ones end; queued ones must not start now
    time.sleep(0.3)
    assert all(when < ended for when in QUEUED_STARTS)
    assert len(QUEUED_STARTS) == started


# --- a step that raises CancelledError itself -----------------------------------------------------

CANCELLED_RUNS: list[str] = []
TWICE = dg.Retry(max_attempts=2, initial_delay=1, jitter="none")


@dg.step(retry=TWICE)
async def async_raises_cancelled() -> str:
    CANCELLED_RUNS.append("async")
    raise asyncio.CancelledError("the library gave up")


@dg.step(retry=TWICE, timeout=5)
async def timed_async_raises_cancelled() -> str:
    CANCELLED_RUNS.append("timed async")
    raise asyncio.CancelledError()


@dg.step(retry=TWICE)
def sync_raises_cancelled() -> str:
    CANCELLED_RUNS.append("sync")
    raise asyncio.CancelledError()


@dg.step(retry=TWICE, timeout=5)
def timed_sync_raises_cancelled() -> str:
    CANCELLED_RUNS.append("timed sync")
    raise asyncio.CancelledError()


@pytest.mark.parametrize(
    "step",
    [
        async_raises_cancelled,
        timed_async_raises_cancelled,
        sync_raises_cancelled,
        timed_sync_raises_cancelled,
    ],
)
@pytest.mark.parametrize("host", ["invoke", "invoke_async"])
def test_a_step_that_raises_cancelled_error_itself_fails_its_attempt(step: Any, host: str) -> None:
    # asyncio.CancelledError is a BaseException: raised by a step's own code (a library that
    # reports its timeout that way) it crashed the invocation, so the step ran once per crash
    # whatever its retry policy, and the execution failed with nothing the workflow could catch
    CANCELLED_RUNS.clear()
    engine = LocalService(clock=VirtualClock())
    workflow = outcome_of(step)
    if host == "invoke":
        engine.register("wf", dg.make_handler(workflow, engine))
    else:
        engine.register("wf", lambda event: anyio.run(rt.invoke_async, workflow, event, engine))
    record = engine.run(engine.start("wf", "null"))
    assert record.status == "SUCCEEDED", record.error
    error_type, message = json.loads(record.result)
    assert error_type == "CancelledError" and "raised by the step itself" in message
    assert len(CANCELLED_RUNS) == 2  # its retry policy: two attempts


def test_a_step_cancelled_error_under_the_determinism_check() -> None:
    assert_deterministic(outcome_of(async_raises_cancelled), None, random_runs=1)


LEFT_RELEASE = threading.Event()


@dg.step(timeout=30, retry=ONCE)
def first_or_hangs(i: int) -> int:
    if i:
        LEFT_RELEASE.wait(20)
    return i


def decided_by_the_first(_: None) -> Any:
    batch = yield dg.Map(
        first_or_hangs, list(range(70)), completion=dg.Completion(min_successful=1)
    )  # fmt: skip
    return batch.completion_reason


@dg.step(timeout=2, retry=ONCE)
def needs_a_thread() -> str:
    return "ran"


def after_them(_: None) -> dg.Workflow[str]:
    return (yield from needs_a_thread())


def test_attempts_left_running_by_a_decided_batch_do_not_starve_later_ones() -> None:
    # a batch decided while timed attempts still ran left their threads counted, for good:
    # enough of them and every later timed attempt failed "not started" at its deadline
    LEFT_RELEASE.clear()
    began = time.monotonic()
    try:
        for _ in range(2):
            assert dg.run(decided_by_the_first, None) == "MIN_SUCCESSFUL_REACHED"
        assert dg.run(after_them, None) == "ran"
        assert time.monotonic() - began < 10  # nothing waited for the hung threads to end
    finally:
        LEFT_RELEASE.set()


@pytest.mark.parametrize("fate", TIMEOUT_FATES)
def test_the_determinism_check_leaves_out_what_became_of_a_timed_out_attempt(fate: str) -> None:
    # whether a timed-out step's thread came back before the driver gave up on it is a matter
    # of timing (a loaded machine): two runs of the same code recorded "was abandoned" and
    # "ended only after it", and assert_deterministic called that a hidden read
    def message(how: str, within: str = "its 0.05 s timeout") -> str:
        return (
            f"step 'slow' attempt 1 did not finish within {within} and {how}; give the step "
            "a larger timeout, or make it faster"
        )

    def op(text: str) -> Operation:
        return Operation(
            id="a", type="STEP", status="FAILED", name="slow",
            step_details=StepDetails(
                attempt=1, error=ErrorObject(error_type="StepTimeoutError", error_message=text)
            ),
        )  # fmt: skip

    other = next(f for f in TIMEOUT_FATES if f != fate)
    assert _key(op(message(fate)), {}) == _key(op(message(other)), {})
    batch = json.dumps({"Items": [{"Error": {"ErrorMessage": message(fate)}}]})
    assert _comparable(batch) == _comparable(batch.replace(fate, other))
    # what the code decides still counts: another timeout is a difference
    assert _key(op(message(fate)), {}) != _key(op(message(fate, "its 0.5 s timeout")), {})
