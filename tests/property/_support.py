"""Helpers shared by the property tests that drive random programs step by step."""

from __future__ import annotations

from durable_gen.testing import DurableRun, TestRunner
from durable_gen.testing.strategies import answer_callbacks


def settle(runner: TestRunner, run: DurableRun) -> None:
    """Answer callbacks as they open, until nothing more happens without time passing."""
    while True:
        before = len(run.history())
        answer_callbacks(run)
        runner.run_until_idle()
        if len(run.history()) == before:
            return
