"""The timeouts corpus (``tests/unit/timeouts_corpus.py``) through the Lambda handler against
AWS's emulator: step timeouts, retries counted attempt by attempt and wait-for-condition limits
give the answer they give on the embedded engine, with real boto3 checkpoints. ``--skip-time``
makes the retry delays fire at once."""

from __future__ import annotations

import pytest
from tests.unit.timeouts_corpus import CASES, RUNS, Case, uncaught_case

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
