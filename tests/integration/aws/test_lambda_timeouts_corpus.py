"""The timeouts corpus (``tests/unit/timeouts_corpus.py``) through the Lambda handler against
AWS's emulator: step timeouts, retries counted attempt by attempt and wait-for-condition limits
give the answer they give on the embedded engine, with real boto3 checkpoints. ``--skip-time``
makes the retry delays fire at once."""

from __future__ import annotations

import time
from typing import Any

import pytest
from tests.unit.timeouts_corpus import CASES, RUNS, Case, uncaught_case

import durable_gen as dg

try:
    from .emulator import Emulator, LambdaEndpoint
    from .lambda_support import run_workflow
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]
    from lambda_support import run_workflow  # type: ignore[no-redef]


@pytest.mark.parametrize("case", [c for c in CASES if c.emulator], ids=lambda case: case.id)
def test_the_timeouts_corpus_through_the_emulator(
    case: Case,
    emulator_skip_time: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
) -> None:
    RUNS.clear()
    _, outcome = run_workflow(
        emulator_skip_time, lambda_endpoint, function_name, case.workflow, timeout=30
    )
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == case.result
    assert {name: RUNS[name] for name in case.runs} == case.runs


def test_an_uncaught_timeout_fails_the_execution_through_the_emulator(
    emulator_skip_time: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    workflow, error_type = uncaught_case()
    _, outcome = run_workflow(emulator_skip_time, lambda_endpoint, function_name, workflow)
    assert outcome.status == "FAILED"
    assert outcome.error is not None and outcome.error["ErrorType"] == error_type


LEFT_RUNS: list[float] = []


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def outlasts_the_invocation() -> str:
    LEFT_RUNS.append(time.monotonic())
    time.sleep(3)
    return "late"


def bounded_by_the_invocation(_: None) -> Any:
    try:
        return (yield outlasts_the_invocation())
    except dg.StepTimeoutError as exc:
        return [exc.error_type, "the invocation had left" in exc.error_message]


def test_the_invocations_remaining_time_bounds_a_step_through_the_emulator(
    emulator_skip_time: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    # a step with no timeout= that would outlast the function's Timeout is timed out 0.5 s
    # before it, each attempt, and retried by its policy, instead of Lambda killing the
    # invocation mid-step
    LEFT_RUNS.clear()
    lambda_endpoint.invocation_timeout_seconds = 1.5
    try:
        _, outcome = run_workflow(
            emulator_skip_time, lambda_endpoint, function_name, bounded_by_the_invocation
        )
    finally:
        lambda_endpoint.invocation_timeout_seconds = 60.0
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == ["StepTimeoutError", True]
    assert len(LEFT_RUNS) == 2
