"""The Map / Parallel / saga corpus (``tests/unit/batch_corpus.py``) through ``lambda_handler``
against AWS's emulator: every program gives the result it gives on the embedded engines
(``tests/unit/test_batch_corpus.py``), and a one-at-a-time batch runs only the items up to the
one that decided it. ``--skip-time`` makes the waits of the generator items fire at once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from tests.unit import batch_corpus as corpus

import durable_gen as dg

try:
    from .emulator import Emulator, LambdaEndpoint
    from .lambda_support import run_workflow
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]
    from lambda_support import run_workflow  # type: ignore[no-redef]


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    corpus.RAN.clear()
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


#: Not run here: 2,000 items take minutes of emulator round trips, and ``--skip-time`` ends
#: waits of 1 s and 2 s alike at once, so which items finish first (what min_successful sees)
#: is the emulator's timing, not the waits' lengths.
_NOT_HERE = {"thousands", "generator-items-min-successful"}


def _ran_items(items: list[int], statuses: str) -> list[Any]:
    return sorted((x for x, s in zip(items, statuses, strict=True) if s in "SF"), key=repr)


@pytest.mark.parametrize(
    ("items", "max_concurrency", "completion", "statuses", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in corpus.MAP_POLICIES],
)
def test_map_completion_policies(
    emulator_skip_time: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    items: list[int],
    max_concurrency: int | None,
    completion: dg.Completion | None,
    statuses: str,
    reason: str,
) -> None:
    workflow = corpus.map_program(items, max_concurrency, completion)
    _, outcome = run_workflow(emulator_skip_time, lambda_endpoint, function_name, workflow)
    assert outcome.status == "SUCCEEDED", outcome.error
    assert outcome.json() == corpus._expect(items, statuses, reason)
    if max_concurrency == 1:
        assert corpus.sorted_ran() == _ran_items(items, statuses)


@pytest.mark.parametrize(
    ("workflow", "expected", "ran"),
    [pytest.param(*case[1:], id=case[0]) for case in corpus.OTHERS if case[0] not in _NOT_HERE],
)
def test_shapes_results_and_sagas(
    emulator_skip_time: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    workflow: Any,
    expected: Any,
    ran: list[Any] | None,
) -> None:
    _, outcome = run_workflow(
        emulator_skip_time, lambda_endpoint, function_name, workflow, timeout=60.0
    )
    assert outcome.status == "SUCCEEDED", outcome.error
    assert outcome.json() == expected
    if ran is not None:
        assert corpus.sorted_ran() == ran


@pytest.mark.parametrize(
    ("workflow", "error_type", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in corpus.FAILING],
)
def test_failing_programs(
    emulator_skip_time: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    workflow: Any,
    error_type: str,
    message: str,
) -> None:
    _, outcome = run_workflow(emulator_skip_time, lambda_endpoint, function_name, workflow)
    assert outcome.status == "FAILED"
    assert outcome.error is not None
    assert (outcome.error["ErrorType"], outcome.error["ErrorMessage"]) == (error_type, message)
