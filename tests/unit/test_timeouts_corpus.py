"""A corpus of timeouts, retries and deadlines, written from the docs alone, run on every engine.

Every workflow of ``timeouts_corpus.CASES`` must give the same result, with each step run
exactly as often as its retry policy says, on ``dg.run(skip_time=True)``, on the embedded
engine in memory and on SQLite, under ``TestRunner`` and through the Lambda handler (with a
context that leaves the invocation a minute), without sleeping through a wait or a retry
delay. Bad timeout and retry options are a ``ValidationError`` that says what to write.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen._wire import InvocationOutput, to_builtins
from durable_gen.aws import lambda_handler
from durable_gen.local import LocalService, SqliteStore, VirtualClock
from durable_gen.testing import TestRunner, assert_deterministic

from .timeouts_corpus import CASES, RUNS, Case, uncaught_case

ENGINES = ["dg.run", "memory", "sqlite", "TestRunner", "lambda"]


class LambdaContext:
    """What the Lambda runtime passes: the invocation has a minute left."""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def outcome(workflow: Any, engine: str, tmp_path: Path) -> tuple[str, Any, str | None]:
    """(status, result as JSON value, error type) of ``workflow`` run to its end on ``engine``."""
    if engine == "dg.run":
        try:
            return "SUCCEEDED", json.loads(json.dumps(dg.run(workflow, None, skip_time=True))), None
        except dg.ExecutionFailedError as exc:
            return "FAILED", None, exc.error_type
    if engine == "TestRunner":
        runner = TestRunner()
        run = runner.run(workflow, None)
        runner.run_until_idle(include_callback_timeouts=True)
        record = run.record
    else:
        service = LocalService(
            store=SqliteStore(tmp_path / "corpus.db") if engine == "sqlite" else None,
            clock=VirtualClock(),
        )
        if engine == "lambda":
            handler = lambda_handler(workflow, service=service)
            service.register(
                "wf",
                lambda event: msgspec.convert(
                    handler(to_builtins(event), LambdaContext()), InvocationOutput
                ),
            )
        else:
            service.register("wf", dg.make_handler(workflow, service))
        record = service.run(service.start("wf", "null"))
    result = json.loads(record.result) if record.result is not None else None
    return record.status, result, record.error.error_type if record.error else None


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_the_corpus_gives_the_documented_answer_on_every_engine(
    case: Case, engine: str, tmp_path: Path
) -> None:
    RUNS.clear()
    began = time.monotonic()
    status, result, error_type = outcome(case.workflow, engine, tmp_path)
    assert (status, result, error_type) == ("SUCCEEDED", case.result, None)
    assert {name: RUNS[name] for name in case.runs} == case.runs
    # retry delays, waits of a year and callback timeouts are skipped, not slept through
    assert time.monotonic() - began < 10


@pytest.mark.parametrize("engine", ENGINES)
def test_an_uncaught_timeout_fails_the_execution_with_it(engine: str, tmp_path: Path) -> None:
    workflow, error_type = uncaught_case()
    assert outcome(workflow, engine, tmp_path) == ("FAILED", None, error_type)


def test_retry_delays_follow_the_documented_formula() -> None:
    # min(max_delay, initial_delay * backoff**(k-1)), rounded up to whole seconds, at least 1
    expected = {
        dg.Retry(max_attempts=6, initial_delay=5, backoff=2.0, max_delay=60, jitter="none"): [
            5, 10, 20, 40, 60,
        ],
        dg.Retry(max_attempts=4, initial_delay=0.2, backoff=3, jitter="none"): [1, 1, 2],
        dg.Retry(max_attempts=4, initial_delay=10, max_delay=5, jitter="none"): [5, 5, 5],
        dg.Retry(max_attempts=3, initial_delay=0, jitter="none"): [1, 1],
    }  # fmt: skip
    for retry, delays in expected.items():

        @dg.step(retry=retry)
        def down() -> None:
            raise ConnectionError("down")

        def wf(_: None) -> Any:
            try:
                yield down()
            except dg.StepFailedError:
                return "failed"

        service = LocalService(clock=VirtualClock())
        service.register("wf", dg.make_handler(wf, service))
        arn = service.start("wf", "null")
        assert service.run(arn).result == '"failed"'
        failed = [e for e in service.get_history(arn) if e.event_type == "StepFailed"]
        details = [e.step_failed_details["RetryDetails"] for e in failed]
        assert [d["CurrentAttempt"] for d in details] == list(range(1, retry.max_attempts + 1))
        assert [d.get("NextAttemptDelaySeconds") for d in details[:-1]] == delays, retry
        assert "NextAttemptDelaySeconds" not in details[-1]


@pytest.mark.parametrize("jitter", ["full", "half"])
def test_jittered_delays_stay_within_their_bounds(jitter: str) -> None:
    retry = dg.Retry(max_attempts=6, initial_delay=5, backoff=2.0, max_delay=60, jitter=jitter)

    @dg.step(retry=retry)
    def down() -> None:
        raise ConnectionError("down")

    def wf(_: None) -> Any:
        try:
            yield down()
        except dg.StepFailedError:
            return "failed"

    service = LocalService(clock=VirtualClock())
    service.register("wf", dg.make_handler(wf, service))
    arn = service.start("wf", "null")
    service.run(arn)
    failed = [e for e in service.get_history(arn) if e.event_type == "StepFailed"]
    delays = [e.step_failed_details["RetryDetails"]["NextAttemptDelaySeconds"] for e in failed[:-1]]
    for k, delay in enumerate(delays, start=1):
        top = min(60, 5 * 2 ** (k - 1))
        low = 1 if jitter == "full" else top // 2
        assert low <= delay <= top, (k, delay)


# --- callbacks: heartbeats and deadlines on a clock moved by hand ------------------------------


def approval(_: None) -> Any:
    try:
        return (
            yield dg.WaitForCallback(
                lambda cid: None, name="approval", timeout=600, heartbeat_timeout=30
            )
        )
    except dg.CallbackTimeoutError as exc:
        return exc.error_type


def test_heartbeats_keep_a_callback_until_its_overall_timeout() -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(approval)
    for _ in range(29):  # a heartbeat every 20 s: 580 s
        runner.advance(20)
        assert run.status == "RUNNING"
        run.send_callback_heartbeat("approval")
    runner.advance(19)
    assert run.status == "RUNNING"
    runner.advance(1)  # 600 s: the overall timeout, heartbeats or not
    assert run.result() == "Callback.Timeout"


def test_no_heartbeat_times_a_callback_out_at_its_heartbeat_timeout() -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(approval)
    runner.advance(29)
    assert run.status == "RUNNING"
    runner.advance(1)
    assert run.result() == "Callback.Heartbeat"


def test_the_test_runner_stops_before_a_callback_times_out() -> None:
    runner = TestRunner()
    run = runner.run(approval)
    assert run.status == "RUNNING"
    runner.run_until_idle(include_callback_timeouts=True)
    assert run.result() == "Callback.Heartbeat"


# --- execution timeouts -------------------------------------------------------------------------


def waits_an_hour(_: None) -> Any:
    yield dg.Wait(seconds=3600)
    return "done"


@pytest.mark.parametrize("engine", ["memory", "sqlite"])
def test_an_execution_timeout_ends_the_execution_timed_out(engine: str, tmp_path: Path) -> None:
    service = LocalService(
        store=SqliteStore(tmp_path / "x.db") if engine == "sqlite" else None, clock=VirtualClock()
    )
    service.register("wf", dg.make_handler(waits_an_hour, service))
    arn = service.start("wf", "null", execution_timeout=60)
    service.run_until_idle()
    record = service.get_execution(arn)
    assert (record.status, record.error and record.error.error_type) == (
        "TIMED_OUT",
        "Execution.Timeout",
    )
    assert record.end_timestamp is not None
    assert record.end_timestamp - record.start_timestamp == 60_000


# --- options ------------------------------------------------------------------------------------


def noop() -> None:
    return None


HOUR = timedelta(hours=1)


BAD_OPTIONS: list[tuple[str, Any, str]] = [
    ("Step timeout 0", lambda: dg.Step(noop, timeout=0), "timeout"),
    ("Step timeout negative", lambda: dg.Step(noop, timeout=-1), "timeout"),
    ("Step timeout NaN", lambda: dg.Step(noop, timeout=float("nan")), "timeout"),
    ("Step timeout str", lambda: dg.Step(noop, timeout="5"), "timeout"),
    ("Step timeout negative timedelta", lambda: dg.Step(noop, timeout=timedelta(-1)), "timeout"),
    ("@step timeout bool", lambda: dg.step(timeout=True)(noop), "timeout"),
    ("Retry max_attempts 0", lambda: dg.Retry(max_attempts=0), "max_attempts"),
    ("Retry max_attempts float", lambda: dg.Retry(max_attempts=1.5), "max_attempts"),
    ("Retry initial_delay negative", lambda: dg.Retry(initial_delay=-1), "initial_delay"),
    ("Retry initial_delay inf", lambda: dg.Retry(initial_delay=float("inf")), "initial_delay"),
    ("Retry delay timedelta", lambda: dg.Retry(initial_delay=HOUR), "total_seconds"),
    ("Retry backoff below 1", lambda: dg.Retry(backoff=0.5), "backoff"),
    ("Retry max_delay over 366 days", lambda: dg.Retry(max_delay=31_622_401), "366 days"),
    ("Retry jitter unknown", lambda: dg.Retry(jitter="random"), "jitter"),
    ("Retry retry_on a class", lambda: dg.Retry(retry_on=ValueError), "tuple of exception types"),
    ("Retry retry_on a list", lambda: dg.Retry(retry_on=[ValueError]), "tuple of exception types"),
    ("Retry retry_if not callable", lambda: dg.Retry(retry_if=5), "retry_if"),
    ("Wait 0", lambda: dg.Wait(seconds=0), "between 1 and 31622400"),
    ("Wait negative", lambda: dg.Wait(seconds=-5), "between 1 and 31622400"),
    ("Wait over 366 days", lambda: dg.Wait(seconds=31_622_401), "between 1 and 31622400"),
    ("Wait float", lambda: dg.Wait(seconds=1.5), "whole number"),
    ("Wait whole float", lambda: dg.Wait(seconds=5.0), "whole number"),
    ("Wait timedelta", lambda: dg.Wait(seconds=timedelta(minutes=1)), "total_seconds"),
    ("Wait bool", lambda: dg.Wait(seconds=True), "whole number"),
    ("callback timeout 0", lambda: dg.CreateCallback(timeout=0), "timeout"),
    ("callback timeout float", lambda: dg.CreateCallback(timeout=1.5), "whole number"),
    ("callback heartbeat negative", lambda: dg.CreateCallback(heartbeat_timeout=-1), "heartbeat"),
    ("WaitForCallback timedelta", lambda: dg.WaitForCallback(noop_submitter, timeout=HOUR), "td"),
    ("WaitStrategy delay 0", lambda: dg.WaitStrategy(until=bool, delay=0), "delay"),
    ("WaitStrategy backoff below 1", lambda: dg.WaitStrategy(until=bool, backoff=0.5), "backoff"),
    ("WaitStrategy attempts 0", lambda: dg.WaitStrategy(until=bool, max_attempts=0), "attempts"),
    ("WaitStrategy until not callable", lambda: dg.WaitStrategy(until=5), "until"),
    ("WaitDecision.again 0", lambda: dg.WaitDecision.again(0), "delay"),
    ("WaitDecision.again float", lambda: dg.WaitDecision.again(0.5), "whole number"),
]  # fmt: skip


def noop_submitter(callback_id: str) -> None:
    return None


@pytest.mark.parametrize(
    "build,advice", [c[1:] for c in BAD_OPTIONS], ids=[c[0] for c in BAD_OPTIONS]
)
def test_a_bad_option_is_a_validation_error_that_says_what_to_write(
    build: Any, advice: str
) -> None:
    with pytest.raises(dg.ValidationError, match=advice):
        build()


@pytest.mark.parametrize("execution_timeout", [0, -1, 1.5, 10.0, True, "60", 31_622_401])
def test_a_bad_execution_timeout_is_a_validation_error(execution_timeout: Any) -> None:
    service = LocalService(clock=VirtualClock())
    service.register("wf", dg.make_handler(waits_an_hour, service))
    with pytest.raises(dg.ValidationError, match="execution_timeout"):
        service.start("wf", "null", execution_timeout=execution_timeout)


GOOD_OPTIONS: list[tuple[str, Any]] = [
    ("Wait 1", lambda: dg.Wait(seconds=1)),
    ("Wait 366 days", lambda: dg.Wait(seconds=31_622_400)),
    ("Retry max_delay 366 days", lambda: dg.Retry(max_delay=31_622_400)),
    ("Retry initial_delay 0", lambda: dg.Retry(initial_delay=0)),
    ("Retry fractional delay", lambda: dg.Retry(initial_delay=0.5)),
    ("Step timeout timedelta", lambda: dg.Step(noop, timeout=timedelta(milliseconds=1500))),
    ("Step timeout tiny", lambda: dg.Step(noop, timeout=1e-9)),
    ("Step timeout of centuries", lambda: dg.Step(noop, timeout=timedelta.max)),
    ("heartbeat above timeout", lambda: dg.CreateCallback(timeout=10, heartbeat_timeout=20)),
]  # fmt: skip


@pytest.mark.parametrize("build", [c[1] for c in GOOD_OPTIONS], ids=[c[0] for c in GOOD_OPTIONS])
def test_options_at_their_limits_are_accepted(build: Any) -> None:
    build()


def test_timeouts_are_seconds() -> None:
    assert dg.Step(noop, timeout=timedelta(milliseconds=1500)).timeout == 1.5
    assert dg.step(timeout=timedelta(minutes=1))(noop).timeout == 60.0


#: Cases whose result reads a step's own count of its runs (different in every run of a check).
COUNTED = {"timeout retried then in time", "succeeds at attempt 4"}


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.id not in COUNTED], ids=lambda case: case.id
)
def test_the_corpus_survives_crashes_anywhere(case: Case) -> None:
    # crashes after every checkpoint (in a retry delay, between attempts, after a timeout was
    # recorded) and at random attempts: the same result, attempts numbered as without them
    assert_deterministic(case.workflow, None, random_runs=1)
