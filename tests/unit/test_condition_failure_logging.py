"""docs/guide.md, "Failed attempts are logged": a line on ``durable_gen.steps`` for each attempt
whose function raised, none for a ``WaitForCondition`` that gives up after checks that
returned (its strategy runs out of ``max_attempts``, or raises); the plugins say the same."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner


def _gone(state: int) -> int:
    raise KeyError("gone")


def _raising_strategy(state: int, attempt: int) -> dg.WaitDecision:
    raise ValueError("strategy broke")


def polls(_: Any):  # type: ignore[no-untyped-def]
    out = []
    for name, check, strategy in (
        ("raises", _gone, None),
        ("gives-up", lambda s: s + 1, dg.WaitStrategy(until=lambda s: False, max_attempts=2)),
        ("strategy-raises", lambda s: s + 1, _raising_strategy),
    ):
        try:
            yield dg.WaitForCondition(check, initial_state=0, wait_strategy=strategy, name=name)
        except dg.StepFailedError as exc:
            out.append(exc.error_type)
    return out


class Attempts(dg.Plugin):
    def __init__(self) -> None:
        self.seen: list[tuple[str, int, str]] = []

    def on_attempt_end(self, attempt: Any, outcome: str, error: BaseException | None) -> None:
        self.seen.append((attempt.name, attempt.attempt, outcome))

    def on_operation_end(self, op: Any, status: str) -> None:
        self.seen.append((op.name, 0, status))


def test_only_a_check_that_raised_is_a_failed_attempt(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="durable_gen.steps")
    attempts = Attempts()
    runner = TestRunner(plugins=[attempts])
    run = runner.run(polls, None)
    assert run.result() == ["KeyError", "WaitConditionNotMetError", "ValueError"]
    lines = [r.getMessage() for r in caplog.records if r.name == "durable_gen.steps"]
    assert lines == ["step 'raises' attempt 1 failed: KeyError: 'gone'; not retried"]
    assert attempts.seen == [
        ("raises", 1, "FAILED"),
        ("raises", 0, "FAILED"),
        ("gives-up", 1, "SUCCEEDED"),
        ("gives-up", 2, "SUCCEEDED"),
        ("gives-up", 0, "FAILED"),
        ("strategy-raises", 1, "SUCCEEDED"),
        ("strategy-raises", 0, "FAILED"),
    ]
