"""Step timeouts: ``timeout=`` bounds an attempt on every engine, and failed attempts are logged.

Async attempts are cancelled at their deadline; sync attempts run in a worker thread that is
abandoned then (what it returns later is never recorded). A timeout is the attempt's failure:
the retry policy decides, at-most-once steps record it as such. On Lambda the invocation's
remaining time bounds every attempt too.
"""

from __future__ import annotations

import logging
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
from durable_gen._wire import InvocationInput, InvocationOutput, to_builtins
from durable_gen.aws import lambda_handler
from durable_gen.local import LocalService, VirtualClock

ONCE = dg.Retry.never()
TWICE = dg.Retry(max_attempts=2, initial_delay=1, jitter="none")


def engine_run(workflow: Any, input: Any = None) -> tuple[LocalService, str]:
    """Run ``workflow`` to its end on an embedded engine (real clock for steps, delays skipped)."""
    engine = LocalService(clock=VirtualClock())
    engine.register("wf", dg.make_handler(workflow, engine))
    arn = engine.start("wf", msgspec.json.encode(input).decode())
    engine.run(arn)
    return engine, arn


def step_op(engine: LocalService, arn: str) -> Any:
    return next(op for op in engine.get_operations(arn) if op.type == "STEP")


# --- options ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, "5", float("nan"), float("inf"), True, timedelta(0)])
def test_a_bad_timeout_is_a_validation_error(bad: Any) -> None:
    with pytest.raises(dg.ValidationError, match="timeout"):
        dg.Step(print, timeout=bad)
    with pytest.raises(dg.ValidationError, match="timeout"):
        dg.step(timeout=bad)(print)


def test_timeouts_are_seconds_and_timedeltas_are_converted() -> None:
    assert dg.Step(print, timeout=timedelta(milliseconds=1500)).timeout == 1.5
    assert dg.Step(print, timeout=2).timeout == 2.0
    fn = dg.step(timeout=timedelta(seconds=3))(print)
    assert fn.timeout == 3.0 and fn("x").timeout == 3.0
    assert dg.Step(print).timeout is None


def test_the_interpreter_puts_the_deadline_on_the_task_from_its_clock() -> None:
    @dg.step(timeout=2.5)
    def slow() -> int:
        return 1

    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield slow())

    interp = dg.Interpreter(wf, [], clock=lambda: 1000.0)
    action = interp.next_action()
    assert isinstance(action, rt.RunTasks)
    (task,) = action.tasks
    assert task.timeout == 2.5 and task.deadline_ms == 1_002_500
    # without a clock the host still sees the timeout, and no deadline
    action = dg.Interpreter(wf, []).next_action()
    assert isinstance(action, rt.RunTasks)
    (task,) = action.tasks
    assert task.timeout == 2.5 and task.deadline_ms is None


# --- the embedded engine --------------------------------------------------------------------


def test_an_async_step_is_cancelled_at_its_timeout() -> None:
    seen: list[str] = []

    @dg.step(timeout=0.05, retry=ONCE)
    async def hang() -> str:
        try:
            await anyio.sleep(30)
        finally:
            seen.append("cancelled")
        return "never"

    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield hang()
        except dg.StepTimeoutError as exc:
            message = str(exc)
            return [
                exc.error_type,
                "within its 0.05 s timeout" in message,
                "larger timeout" in message,
            ]
        return "no timeout"

    began = time.monotonic()
    engine, arn = engine_run(wf)
    assert time.monotonic() - began < 5
    assert engine.get_execution(arn).result == '["StepTimeoutError",true,true]'
    assert seen == ["cancelled"]
    op = step_op(engine, arn)
    assert op.status == "FAILED" and op.step_details.error.error_type == "StepTimeoutError"


def test_a_sync_step_is_abandoned_and_its_late_result_never_recorded() -> None:
    finished = threading.Event()

    @dg.step(timeout=0.05, retry=ONCE)
    def stuck() -> str:
        time.sleep(0.4)
        finished.set()
        return "late"

    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            return (yield stuck())
        except dg.StepFailedError as exc:
            return exc.error_type

    began = time.monotonic()
    engine, arn = engine_run(wf)
    assert time.monotonic() - began < 0.35  # not waited for
    assert not finished.is_set()
    assert finished.wait(5)  # the abandoned thread ran to its end...
    time.sleep(0.05)
    record = engine.get_execution(arn)  # ...and nothing it returned was recorded
    assert record.status == "SUCCEEDED" and record.result == '"StepTimeoutError"'
    op = step_op(engine, arn)
    assert op.status == "FAILED" and op.step_details.result is None
    assert "late" not in msgspec.json.encode(engine.get_history(arn)).decode()


def test_a_timed_out_attempt_is_retried_by_the_policy() -> None:
    calls: list[float] = []

    @dg.step(timeout=0.1, retry=TWICE)
    def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) == 1:
            time.sleep(0.5)
        return f"attempt {len(calls)}"

    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield flaky())

    engine, arn = engine_run(wf)
    assert engine.get_execution(arn).result == '"attempt 2"'
    op = step_op(engine, arn)
    assert op.status == "SUCCEEDED" and op.step_details.attempt == 2


def test_retry_on_decides_whether_a_timeout_is_retried() -> None:
    calls: list[int] = []

    @dg.step(timeout=0.05, retry=dg.Retry(max_attempts=3, retry_on=(ConnectionError,)))
    async def slow() -> None:
        calls.append(1)
        await anyio.sleep(10)

    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield slow()

    engine, arn = engine_run(wf)
    record = engine.get_execution(arn)
    assert record.status == "FAILED" and calls == [1]
    assert "StepTimeoutError" in str(record.error)


def test_an_at_most_once_step_records_the_timeout_as_the_attempts_failure() -> None:
    calls: list[int] = []

    @dg.step(timeout=0.05, retry=TWICE, semantics=dg.AT_MOST_ONCE)
    async def pay() -> str:
        calls.append(1)
        if len(calls) == 1:
            await anyio.sleep(10)
        return "paid"

    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield pay())

    engine, arn = engine_run(wf)
    assert engine.get_execution(arn).result == '"paid"' and len(calls) == 2
    steps = [e for e in engine.get_history(arn) if e.event_type.startswith("Step")]
    kinds = [e.event_type for e in steps]
    # START went out before each attempt ran; the first attempt's failure is its timeout
    assert kinds[0] == "StepStarted" and kinds[-1] == "StepSucceeded"
    failed = [e for e in steps if e.event_type == "StepFailed"]
    assert failed and "StepTimeoutError" in msgspec.json.encode(failed[0]).decode()
    assert "StepInterruptedError" not in msgspec.json.encode(steps).decode()


def test_sync_map_items_time_out_alone() -> None:
    @dg.step(timeout=0.1, retry=ONCE)
    def item(n: int) -> int:
        if n == 1:
            time.sleep(0.5)
        return n * 10

    def per_item(n: int):  # type: ignore[no-untyped-def]
        return (yield item(n))

    def wf(_: Any):  # type: ignore[no-untyped-def]
        batch = yield dg.Map(
            per_item, [0, 1, 2], completion=dg.Completion(tolerated_failure_count=1)
        )
        return [i.status for i in batch.items]

    engine, arn = engine_run(wf)
    assert engine.get_execution(arn).result == '["SUCCEEDED","FAILED","SUCCEEDED"]'


def test_invoke_async_enforces_timeouts_of_both_kinds() -> None:
    @dg.step(timeout=0.05, retry=ONCE)
    async def a() -> str:
        await anyio.sleep(10)
        return "a"

    @dg.step(timeout=0.05, retry=ONCE)
    def s() -> str:
        time.sleep(0.3)
        return "s"

    def wf(_: Any):  # type: ignore[no-untyped-def]
        out = []
        for cmd in (a(), s()):
            try:
                out.append((yield cmd))
            except dg.StepTimeoutError:
                out.append("timeout")
        return out

    engine = LocalService(clock=VirtualClock())

    def handler(event: InvocationInput) -> InvocationOutput:
        return anyio.run(lambda: dg.invoke_async(wf, event, engine))

    engine.register("wf", handler)
    arn = engine.start("wf", "null")
    began = time.monotonic()
    assert engine.run(arn).result == '["timeout","timeout"]'
    assert time.monotonic() - began < 0.3


# --- the SQLite worker ----------------------------------------------------------------------

ATTEMPTS: list[int] = []


@dg.step(timeout=0.1, retry=TWICE)
def worker_step() -> str:
    ATTEMPTS.append(1)
    if len(ATTEMPTS) == 1:
        time.sleep(0.5)
    return "done"


@dg.workflow
def worker_flow(_: Any):  # type: ignore[no-untyped-def]
    return (yield worker_step())


def test_the_sqlite_worker_times_out_and_retries(tmp_path: Path) -> None:
    from durable_gen.local import Worker

    ATTEMPTS.clear()
    with Worker(tmp_path / "w.db", skip_time=True) as worker:
        name = worker.register(worker_flow)
        arn = worker.service.start(name, "null")
        worker.run(once=True)
        record = worker.service.get_execution(arn)
        assert record.status == "SUCCEEDED" and record.result == '"done"'
        op = step_op(worker.service, arn)
        assert op.step_details.attempt == 2 and len(ATTEMPTS) == 2


# --- Lambda -----------------------------------------------------------------------------------


class FakeContext:
    """What the handler reads of Lambda's context object: the remaining time."""

    def __init__(self, millis: int) -> None:
        self.deadline = time.monotonic() + millis / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def lambda_run(workflow: Any, millis: int) -> tuple[LocalService, str]:
    engine = LocalService(clock=VirtualClock())
    handler = lambda_handler(workflow, service=engine)

    def durable(event: InvocationInput) -> InvocationOutput:
        output = handler(to_builtins(event), FakeContext(millis))
        return msgspec.convert(output, InvocationOutput)

    engine.register("wf", durable)
    arn = engine.start("wf", "null")
    engine.run(arn)
    return engine, arn


def test_lambda_step_timeout() -> None:
    @dg.step(timeout=0.05, retry=TWICE)
    async def hang() -> str:
        await anyio.sleep(10)
        return "never"

    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield hang()
        except dg.StepTimeoutError as exc:
            return exc.error_type

    engine, arn = lambda_run(wf, 60_000)
    assert engine.get_execution(arn).result == '"StepTimeoutError"'
    assert step_op(engine, arn).step_details.attempt == 2


def test_lambda_remaining_time_bounds_an_attempt_without_a_timeout() -> None:
    finished = threading.Event()

    @dg.step(retry=ONCE)
    def long_call() -> str:
        time.sleep(1.0)
        finished.set()
        return "late"

    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            return (yield long_call())
        except dg.StepTimeoutError as exc:
            return str(exc)

    began = time.monotonic()
    engine, arn = lambda_run(wf, 700)  # 0.7 s left, less the 0.5 s margin
    assert time.monotonic() - began < 0.9
    result = msgspec.json.decode(engine.get_execution(arn).result or "null")
    assert "the invocation had left" in result and "abandoned" in result
    # The step has no timeout= to raise: the advice is the function's own time.
    assert "its Timeout setting" in result and "larger timeout" not in result
    assert finished.wait(5)
    assert step_op(engine, arn).step_details.result is None


def test_lambda_without_a_context_sets_no_bound() -> None:
    @dg.step
    def quick() -> str:
        return "ok"

    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield quick())

    engine = LocalService(clock=VirtualClock())
    handler = lambda_handler(wf, service=engine)
    engine.register(
        "wf", lambda e: msgspec.convert(handler(to_builtins(e), None), InvocationOutput)
    )
    arn = engine.start("wf", "null")
    assert engine.run(arn).result == '"ok"'


# --- failed attempts are logged once ----------------------------------------------------------


def test_every_failed_attempt_is_logged_once_never_on_replay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    @dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, jitter="none"))
    def typo() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise NameError("name 'ammount' is not defined")
        return "fixed"

    def wf(_: Any):  # type: ignore[no-untyped-def]
        first = yield typo()
        yield dg.Wait(seconds=5)  # one more invocation that replays both failures
        return first

    with caplog.at_level(logging.WARNING, logger="durable_gen.steps"):
        engine, arn = engine_run(wf)
    assert engine.get_execution(arn).result == '"fixed"'
    records = [r for r in caplog.records if r.name == "durable_gen.steps"]
    assert [r.levelno for r in records] == [logging.WARNING] * 2
    assert [r.attempt for r in records] == [1, 2]  # type: ignore[attr-defined]
    assert all(r.errorType == "NameError" for r in records)  # type: ignore[attr-defined]
    assert all(r.operationName == "typo" for r in records)  # type: ignore[attr-defined]
    assert [r.nextAttemptDelaySeconds for r in records] == [1, 2]  # type: ignore[attr-defined]
    assert "name 'ammount' is not defined" in records[0].getMessage()
    assert "retrying in 1 s" in records[0].getMessage()


def test_a_final_failure_is_logged_as_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    @dg.step(retry=ONCE)
    def broken() -> None:
        raise TypeError("bad operand")

    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield broken()

    with caplog.at_level(logging.WARNING, logger="durable_gen.steps"):
        engine, arn = engine_run(wf)
    assert engine.get_execution(arn).status == "FAILED"
    (record,) = [r for r in caplog.records if r.name == "durable_gen.steps"]
    assert "TypeError: bad operand; not retried" in record.getMessage()
    assert record.nextAttemptDelaySeconds is None  # type: ignore[attr-defined]


def test_the_default_policy_is_still_six_attempts() -> None:
    assert dg.Retry().max_attempts == 6
    assert dg.Retry.never().max_attempts == 1


def test_a_logged_error_message_is_one_line_with_controls_escaped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @dg.step(retry=ONCE)
    def hostile() -> None:
        raise ValueError("first\nsecond\x1b[2J\u202e")

    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield hostile()

    with caplog.at_level(logging.WARNING, logger="durable_gen.steps"):
        engine_run(wf)
    (record,) = [r for r in caplog.records if r.name == "durable_gen.steps"]
    message = record.getMessage()
    assert "first\\nsecond\\x1b[2J\\u202e" in message
    assert "\n" not in message and "\x1b" not in message
