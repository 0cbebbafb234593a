"""A few in-process crash trials, and the documented crash check on the same workflow.

The longer soak: ``python -m tests.soak.api_crash --trials 50``.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import CrashSchedule, DeterminismCheck, assert_deterministic

from . import api_flows
from .api_crash import CALLEE_ENV, run_trials


@pytest.mark.parametrize(("mode", "seed"), [("drive", 11), ("service", 12), ("race", 13)])
def test_killed_processes_lose_nothing_and_redo_nothing_recorded(mode: str, seed: int) -> None:
    tally = run_trials(1, seed=seed, modes=(mode,), kills=2)
    assert tally.trials == 1 and sum(tally.kills.values()) >= 1, tally.report()
    assert tally.violations == [], tally.report()


def test_sigterms_let_the_steps_in_progress_end() -> None:
    tally = run_trials(1, seed=21, modes=("run",), kills=2, points=("sigterm",))
    assert tally.trials == 1 and tally.points["sigterm"] >= 1, tally.report()
    assert tally.violations == [], tally.report()


@pytest.fixture
def flows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(api_flows.LOG_ENV, str(tmp_path / "steps.log"))
    monkeypatch.setenv(api_flows.FLAKY_ENV, "0")
    monkeypatch.setenv(CALLEE_ENV, "callee")


def _approve(run: Any) -> None:
    run.send_callback_success("approval", '"approved"')


@pytest.mark.usefixtures("flows_env")
def test_the_crash_check_passes_the_trial_workflow() -> None:
    assert_deterministic(
        api_flows.trial,
        7,
        on_idle=_approve,
        functions={"callee": api_flows.callee},
        random_runs=4,
        seed=3,
    )
    check = DeterminismCheck(
        api_flows.trial, 7, on_idle=_approve, functions={"callee": api_flows.callee}
    )
    for schedule in (
        CrashSchedule(after_checkpoints=frozenset({1})),
        CrashSchedule(before_attempts=frozenset({1, 5})),
        CrashSchedule(after_attempts=frozenset({2, 6, 9})),
    ):
        summary = check.check(schedule)
        assert summary.status == "SUCCEEDED" and summary.violations == []
    assert check.reference.result is not None


@dg.step
def echo(value: float) -> float:
    return value


@dg.workflow
def reads_random(value: int) -> Any:
    first = yield echo(value)
    if random.random() < 0.5:  # the body reads random directly: replays may branch otherwise
        yield dg.Wait(seconds=1, name="sometimes")
    return first


@dg.workflow
def reads_the_clock(value: int) -> Any:
    stamp = yield echo(time.time())  # the clock read in the body reaches a step's argument
    return [value, stamp]


@pytest.mark.parametrize("workflow", [reads_random, reads_the_clock])
def test_the_crash_check_catches_a_body_that_is_not_deterministic(workflow: Any) -> None:
    with pytest.raises(AssertionError, match=r"dg\.Now|dg\.Random"):
        assert_deterministic(workflow, 1, random_runs=8, seed=0)
