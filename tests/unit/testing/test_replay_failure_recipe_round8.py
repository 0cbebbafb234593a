"""docs/testing.md's recipe for checking that a replay ended as the execution did.

It compared ``report.error.error_type`` with the recorded ``error_type`` as strings. A history
written with ``payload_format="aws"`` (or by AWS's Python SDK, the migration case) records a
failure under AWS's type (``aws_durable_execution_sdk_python.exceptions.StepError`` for a
step's ``RuntimeError``) while the replay reports durable_gen's, so the recipe failed on every
such failure although ``replay`` had matched the two.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, load_history, replay


@dg.step(retry=dg.Retry.never())
def refuse(order: str) -> str:
    raise RuntimeError(f"cannot take {order}")


@dg.workflow
def take(order: str):
    return (yield refuse(order))


@dg.workflow
def take_v2(order: str):  # fails the execution with an error of its own instead
    try:
        return (yield refuse(order))
    except dg.StepFailedError as exc:
        raise ValueError(f"order {order} refused") from exc


def _ended_as_recorded(report: Any, source: Any) -> None:
    """The recipe of docs/testing.md, as written there."""
    recorded = load_history(source)
    assert report.ok, report.message
    if recorded.status == "SUCCEEDED":
        assert report.outcome == "succeeded" and recorded.result is not None
        assert json.loads(dg.JsonSerdes().serialize(report.result)) == json.loads(recorded.result)
    elif recorded.status == "FAILED":
        assert report.outcome == "failed"  # report.ok: replay compared the error types
    else:  # TIMED_OUT, STOPPED: ended by the service where the code waited or ran a step
        assert report.outcome == "suspended" or report.status == "incomplete"


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_the_recipe_holds_for_a_failure_in_either_format(payload_format: str) -> None:
    run = TestRunner(payload_format=payload_format).run(take, "o-1")  # type: ignore[arg-type]
    assert run.status == "FAILED"
    history = run.export()
    if payload_format == "aws":
        assert load_history(history).error.error_type.startswith("aws_durable_execution_sdk")  # type: ignore[union-attr]
    _ended_as_recorded(replay(take, history), history)


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_another_error_type_is_not_ok(payload_format: str) -> None:
    history = TestRunner(payload_format=payload_format).run(take, "o-1").export()  # type: ignore[arg-type]
    report = replay(take_v2, history)
    assert report.status == "failed"
    assert "ValueError" in report.message
