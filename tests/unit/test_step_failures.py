"""Step failures and retries: a raising ``retry_if``; an at-most-once outcome and a later crash."""

from __future__ import annotations

from typing import Any

import pytest

import durable_gen as dg
from durable_gen.runtime import CheckpointMode
from durable_gen.testing import CrashSchedule, TestRunner


class HttpError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"http {code}")
        self.code = code


calls: list[int] = []


@dg.step(retry=dg.Retry(max_attempts=4, initial_delay=1, retry_if=lambda e: e.code >= 500))  # type: ignore[attr-defined]
def fetch() -> str:
    calls.append(1)
    raise ValueError("not an HttpError")


@dg.workflow
def fetching(_: Any):  # type: ignore[no-untyped-def]
    try:
        return (yield fetch())
    except dg.StepFailedError as exc:
        return [exc.error_type, exc.error_message]


def test_a_retry_if_that_raises_fails_the_step_once_with_its_error() -> None:
    calls.clear()
    run = TestRunner().run(fetching, None)
    assert run.status == "SUCCEEDED", run.error
    error_type, message = run.result()
    assert error_type == "AttributeError"
    assert message.startswith("retry_if raised AttributeError:") and "ValueError" in message
    assert calls == [1]  # not run again: the failure is recorded at the first attempt


charges: list[str] = []


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry(max_attempts=3, initial_delay=1))
def pay(order: str) -> str:
    charges.append(order)
    return f"paid {order}"


@dg.step
def ship(order: str) -> str:
    return f"shipped {order}"


@dg.workflow
def checkout(order: str):  # type: ignore[no-untyped-def]
    paid = yield pay(order)
    shipped = yield ship(order)
    return [paid, shipped]


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_an_at_most_once_outcome_survives_a_later_crash(mode: CheckpointMode) -> None:
    charges.clear()
    runner = TestRunner(checkpointing=mode)
    runner.crash(CrashSchedule(after_attempts=frozenset({2})))  # right after ship's attempt
    run = runner.run(checkout, "o-1")
    runner.run_until_idle()
    assert run.result() == ["paid o-1", "shipped o-1"]
    assert charges == ["o-1"]
