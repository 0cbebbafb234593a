"""assert_deterministic and DeterminismCheck: crashes everywhere, same outcome, steps run once."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
from hypothesis import Phase, given, settings

import durable_gen as dg
from durable_gen._plugins import AttemptInfo
from durable_gen._wire import Operation, StepDetails
from durable_gen.testing import (
    CrashSchedule,
    DeterminismCheck,
    DurableRun,
    assert_deterministic,
)
from durable_gen.testing._harness import Harness
from durable_gen.testing.strategies import (
    answer_callbacks,
    crash_schedules,
    program_input,
    program_workflow,
    programs,
)

side_effects: list[str] = []


@dg.step
def reserve(item: str) -> str:
    side_effects.append(f"reserve {item}")
    return f"r-{item}"


def pack(item: str) -> str:
    return item.upper()


def gift_wrap():  # type: ignore[no-untyped-def]
    return (yield reserve("paper"))


def notify(callback_id: str) -> None:
    side_effects.append("notify")


def order(items: list[str]):  # type: ignore[no-untyped-def]
    first = yield reserve(items[0])
    packed = yield dg.Map(pack, items, name="pack", max_concurrency=2)
    both = yield dg.Parallel([gift_wrap, lambda: "card"], name="extras")
    yield dg.Wait(seconds=600, name="cool-off")
    approval = yield dg.WaitForCallback(notify, name="approval", timeout=3600)
    child = yield dg.Child(gift_wrap, name="child")
    token = yield dg.UUID()
    at = yield dg.Now()
    return [first, packed.results(), both.results(), approval, child, str(token), at.isoformat()]


def approve(run: DurableRun) -> None:
    run.send_callback_success("approval", "yes")


def test_a_deterministic_workflow_passes_every_default_schedule() -> None:
    assert_deterministic(order, ["a", "b", "c"], on_idle=approve)


@pytest.mark.parametrize("mode", ["eager", "batch"])
def test_other_checkpointing_modes(mode: Any) -> None:
    assert_deterministic(order, ["a", "b"], on_idle=approve, checkpointing=mode, random_runs=2)


def test_crash_runs_really_crash_and_account_for_lost_runs() -> None:
    check = DeterminismCheck(order, ["a", "b", "c"], on_idle=approve)
    every = check.check(CrashSchedule.at_every_checkpoint())
    assert len(every.crashes) >= every.checkpoints // 2
    assert not every.lost  # a crash after a persisted checkpoint loses no step run
    after = check.check(CrashSchedule(after_attempts=frozenset({1, 2})))
    assert after.crashes == [
        "after attempt 1 ('reserve' #1)",
        "after attempt 2 ('reserve' #1)",
    ]
    assert sum(after.lost.values()) == 2
    assert after.runs[next(iter(after.lost))] == 3  # ran three times, twice lost
    before = check.check(CrashSchedule(before_attempts=frozenset({1})))
    assert before.crashes == ["before attempt 1 ('reserve' #1)"] and not before.lost


def test_a_step_that_runs_after_its_outcome_was_persisted_is_a_violation() -> None:
    persisted = Operation(
        id="op-1", type="STEP", sub_type="Step", name="pay", status="SUCCEEDED",
        step_details=StepDetails(attempt=1, result='"paid"'),
    )  # fmt: skip
    harness = Harness(lambda arn, op_id: persisted if op_id == "op-1" else None)
    attempt = AttemptInfo(execution_arn="arn", operation_id="op-1", name="pay", attempt=2)
    harness.on_attempt_start(attempt)
    harness.on_attempt_end(attempt, "SUCCEEDED", None)
    assert harness.runs["op-1"] == 1
    assert harness.violations == [
        "step 'pay' (op-1) attempt 2 ran although its outcome (SUCCEEDED) was already persisted"
    ]


def test_at_most_once_steps_are_not_interrupted_on_purpose() -> None:
    @dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
    def charge() -> str:
        return "charged"

    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=1)
        return (yield charge())

    check = DeterminismCheck(wf)
    got = check.check(
        CrashSchedule(
            every_checkpoint=True, before_attempts=frozenset({1}), after_attempts=frozenset({1})
        )
    )
    assert got.status == "SUCCEEDED"
    assert not any("attempt" in c for c in got.crashes)


def test_reading_random_in_workflow_code_is_caught() -> None:
    @dg.step
    def heads() -> str:
        return "heads"

    @dg.step
    def tails() -> str:
        return "tails"

    def coin(_: Any):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=1)
        side = yield (heads() if random.random() < 0.5 else tails())
        yield dg.Wait(seconds=1)
        return side

    with pytest.raises(AssertionError, match=r"non-deterministic|does not survive"):
        for seed in range(10):
            assert_deterministic(coin, seed=seed)


PLANTED_SETTINGS = settings(
    deadline=None, database=None, phases=(Phase.explicit, Phase.reuse, Phase.generate)
)


def reads_the_clock(program: Any):  # type: ignore[no-untyped-def]
    # A bug to find: the step name comes from the clock, so a replay asks for another name.
    yield dg.Step(reserve.fn, ("clock",), name=f"at-{time.time_ns()}")
    return (yield from program_workflow(program))


def reads_random(program: Any):  # type: ignore[no-untyped-def]
    result = yield from program_workflow(program)
    yield dg.Step(reserve.fn, ("dice",), name=f"roll-{random.randint(1, 6)}")
    return result


@pytest.mark.parametrize("planted", [reads_the_clock, reads_random])
def test_strategies_find_planted_non_determinism_within_the_default_budget(planted: Any) -> None:
    examples: list[int] = []

    @PLANTED_SETTINGS  # the default budget: 100 examples
    @given(programs(), crash_schedules())
    def survives_crashes(program: Any, schedule: CrashSchedule) -> None:
        examples.append(1)
        check = DeterminismCheck(planted, program_input(program), on_idle=answer_callbacks)
        check.check(schedule)

    with pytest.raises(AssertionError, match=r"non-deterministic|does not survive"):
        survives_crashes()
    assert len(examples) <= 100


def test_program_workflow_itself_is_deterministic() -> None:
    @settings(max_examples=30, deadline=None, database=None)
    @given(programs(), crash_schedules())
    def survives_crashes(program: Any, schedule: CrashSchedule) -> None:
        DeterminismCheck(program_workflow, program_input(program), on_idle=answer_callbacks).check(
            schedule
        )

    survives_crashes()
