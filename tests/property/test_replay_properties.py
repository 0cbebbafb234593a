"""The replay property of the design: for random sequences of steps, waits and callbacks,
resuming from any persisted prefix yields the same result, and each completed step's function
ran once (per attempt)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings

from durable_gen.testing import (
    CrashSchedule,
    DeterminismCheck,
    TestRunner,
    replay,
)
from durable_gen.testing import strategies as s

SEQUENCES = s.programs(kinds=("step", "wait", "callback"), max_nodes=6)
FAST = settings(deadline=None, database=None)  # the default budget: 100 examples


def run_to_the_end(program: s.Program) -> tuple[TestRunner, Any]:
    runner = TestRunner()
    run = runner.start(s.program_workflow, s.program_input(program))
    runner.run_until_idle()
    while not run.done:
        before = len(run.history())
        s.answer_callbacks(run)
        runner.run_until_idle()
        if not run.done and len(run.history()) == before:
            assert runner.advance_to_next_timer()  # nobody answers: the callback times out
    return runner, run


@FAST
@given(SEQUENCES)
def test_every_persisted_prefix_replays_without_diverging_or_running_a_step(
    program: s.Program,
) -> None:
    _, run = run_to_the_end(program)
    assert run.result() == s.expected_result(program)
    events = run.history()
    with pytest.MonkeyPatch.context() as patch:
        # replay must never call a step function
        for name in ("_flaky", "_submit"):
            patch.setattr(s, name, _forbidden(getattr(s, name)))
        patch.setattr(s._value, "fn", _forbidden(s._value.fn))
        patch.setattr(s._fail, "fn", _forbidden(s._fail.fn))
        for end in range(1, len(events) + 1):
            report = replay(s.program_workflow, events[:end])
            assert report.status in ("ok", "incomplete"), (end, report)
        final = replay(s.program_workflow, events)
    assert final.status == "ok" and final.result == s.expected_result(program)


def _forbidden(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def forbidden(*args: Any) -> Any:
        raise AssertionError(f"replay ran the step function {fn.__name__}")

    return forbidden


@FAST
@given(SEQUENCES)
def test_resuming_from_every_checkpoint_gives_the_same_result_and_runs_each_step_once(
    program: s.Program,
) -> None:
    check = DeterminismCheck(
        s.program_workflow, s.program_input(program), on_idle=s.answer_callbacks
    )
    got = check.check(CrashSchedule.at_every_checkpoint())
    assert got.status == "SUCCEEDED"
    assert json.loads(got.result or "null") == s.expected_result(program)
    assert not got.lost
    for op_id, runs in got.runs.items():
        attempts = got.operations[op_id][5]
        assert runs == attempts, (got.names[op_id], runs, attempts)


@FAST
@given(s.programs(), s.crash_schedules())
def test_random_programs_survive_random_crashes(
    program: s.Program, schedule: CrashSchedule
) -> None:
    check = DeterminismCheck(
        s.program_workflow, s.program_input(program), on_idle=s.answer_callbacks
    )
    got = check.check(schedule)
    assert json.loads(got.result or "null") == s.expected_result(program)
