"""A ``@step`` function keeps every option it was declared with wherever it runs: as a Map's
function, as a Parallel branch (bare or in ``Branch``), as a child context's workflow, and as a
compensation: name, retry, semantics, serdes, compensate, timeout. As a ``WaitForCondition``
check, its timeout bounds each check; as a ``WaitForCallback`` submitter, it keeps its retry
policy (unless the ``WaitForCallback`` gives one), semantics, serdes and timeout."""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner
from tests import histories as h
from tests.hosting import hosted

calls: list[str] = []


@pytest.fixture(autouse=True)
def _clear() -> None:
    calls.clear()


class Tagged:
    """A serdes that marks its payloads, so a test can see it was used."""

    def serialize(self, value: Any) -> str:
        return f"tagged:{value}"

    def deserialize(self, payload: str) -> Any:
        assert payload.startswith("tagged:"), payload
        return int(payload.removeprefix("tagged:")) + 1000


@dg.step(retry=dg.Retry(max_attempts=1), name="once")
def fails_once() -> str:
    calls.append("once")
    raise RuntimeError("no retry wanted")


@dg.step(retry=dg.Retry(max_attempts=1), name="item-once")
def item_fails(x: int) -> int:
    calls.append(f"item {x}")
    raise RuntimeError("no retry wanted")


@dg.step(serdes=Tagged(), name="tagged")
def tagged(x: int) -> int:
    return x


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never(), name="charge")
def charge(x: int) -> int:
    return x


def _undo(result: int) -> None:
    calls.append(f"undo {result}")


@dg.step(compensate=_undo, name="book")
def book(x: int) -> int:
    return x


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"), name="undo-step")
def undo_step(result: int) -> None:
    calls.append(f"undo-step {result}")
    if len([c for c in calls if c.startswith("undo-step")]) < 2:
        raise RuntimeError("first attempt fails")


@dg.step(compensate=undo_step, name="reserve")
def reserve(x: int) -> int:
    return x


def run(wf: Any, input: Any = None) -> Any:
    runner = TestRunner()
    execution = runner.run(wf, input)
    assert execution.done, execution.status
    return execution


# --- retry ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["bare", "Branch"])
def test_a_parallel_branch_keeps_its_steps_retry_policy(form: str) -> None:
    def wf(_: Any) -> Generator[Any, Any, Any]:
        branch = fails_once if form == "bare" else dg.Branch(fails_once, name="b")
        batch = yield dg.Parallel([branch], completion=dg.Completion.all_completed())
        return [item.status for item in batch.items]

    execution = run(wf)
    assert execution.result() == ["FAILED"]
    assert calls == ["once"]  # max_attempts=1: one attempt, no retry
    step = execution.operation("once", type="STEP")
    assert step.status == "FAILED"


def test_a_map_item_keeps_its_steps_retry_policy() -> None:
    def wf(_: Any) -> Generator[Any, Any, Any]:
        batch = yield dg.Map(item_fails, [1, 2], completion=dg.Completion.all_completed())
        return [item.status for item in batch.items]

    execution = run(wf)
    assert execution.result() == ["FAILED", "FAILED"]
    assert sorted(calls) == ["item 1", "item 2"]


def test_a_child_context_of_a_step_function_runs_one_step_with_its_options() -> None:
    def wf(_: Any) -> Generator[Any, Any, Any]:
        try:
            yield dg.Child(fails_once, name="c")
        except dg.ChildFailedError as exc:
            return exc.error_type
        return "no error"

    execution = run(wf)
    assert execution.result() == "RuntimeError"
    assert calls == ["once"]
    assert execution.operation("once", type="STEP").parent_id == execution.operation("c").id


# --- serdes --------------------------------------------------------------------------------------


def test_a_map_item_keeps_its_steps_serdes() -> None:
    def wf(_: Any) -> Generator[Any, Any, Any]:
        batch = yield dg.Map(tagged, [1, 2])
        return batch.all_results()

    execution = run(wf)
    # the step's payload is written by its serdes, and read back by it
    payloads = [op.operation.step_details.result for op in execution.operations(type="STEP")]
    assert sorted(payloads) == ["tagged:1", "tagged:2"]  # type: ignore[type-var]
    assert execution.result() == [1001, 1002]


def test_a_parallel_branch_keeps_its_steps_serdes() -> None:
    @dg.step(serdes=Tagged(), name="tagged7")
    def tagged7() -> int:
        return 7

    def wf(_: Any) -> Generator[Any, Any, Any]:
        batch = yield dg.Parallel([dg.Branch(tagged7, name="t")])
        return batch.all_results()

    execution = run(wf)
    step = execution.operation("tagged7", type="STEP")
    assert step.operation.step_details is not None
    assert step.operation.step_details.result == "tagged:7"
    assert execution.result() == [1007]


# --- semantics -----------------------------------------------------------------------------------


def test_a_map_item_keeps_at_most_once_semantics() -> None:
    def wf(_: Any) -> Generator[Any, Any, Any]:
        batch = yield dg.Map(charge, [5], completion=dg.Completion.all_completed())
        return [(i.status, i.error.error_type if i.error else None) for i in batch.items]

    # the first run records the START before the attempt runs
    host = hosted(wf, [h.execution(None)], execution_arn="arn:opts")
    (task,) = host.advance()
    starts = [(u.type, u.action, u.name) for u in host.updates if u.type == "STEP"]
    assert starts == [("STEP", "START", "charge")]
    # an attempt that started and never finished is not run again
    map_id = h.oid(1)
    item_id = h.oid(0, map_id)
    history = [
        h.execution(None),
        h.context(map_id, "Map", status="STARTED"),
        h.context(item_id, "MapIteration", name="map-item-0", parent=map_id, status="STARTED"),
        h.step(1, name="charge", parent=item_id, status="STARTED"),
    ]
    crashed = hosted(wf, history, execution_arn="arn:opts")
    assert crashed.advance() == []
    assert isinstance(crashed.outcome, dg.Succeeded), crashed.outcome
    assert "StepInterruptedError" in crashed.outcome.result
    del task


def test_a_parallel_branch_keeps_at_most_once_semantics() -> None:
    @dg.step(semantics=dg.AT_MOST_ONCE, name="pay")
    def pay() -> int:
        return 1

    def wf(_: Any) -> Generator[Any, Any, Any]:
        return (yield dg.Parallel([pay])).all_results()

    host = hosted(wf, [h.execution(None)], execution_arn="arn:opts")
    host.advance()
    starts = [(u.action, u.name) for u in host.updates if u.type == "STEP"]
    assert starts == [("START", "pay")]


# --- compensate ----------------------------------------------------------------------------------


def test_a_compensation_registered_by_a_map_items_step_runs_in_that_item() -> None:
    def per_item(x: int) -> Generator[Any, Any, Any]:
        yield book(x)
        results = yield dg.RunCompensations()
        return [r.status for r in results]

    def wf(_: Any) -> Generator[Any, Any, Any]:
        return (yield dg.Map(per_item, [1, 2])).all_results()

    execution = run(wf)
    assert execution.result() == [["SUCCEEDED"], ["SUCCEEDED"]]
    assert sorted(calls) == ["undo 1", "undo 2"]


def test_a_step_function_as_compensation_keeps_its_name_and_retry() -> None:
    def wf(_: Any) -> Generator[Any, Any, Any]:
        yield reserve(3)
        results = yield dg.RunCompensations()
        return [r.status for r in results]

    execution = run(wf)
    assert execution.result() == ["SUCCEEDED"]
    assert calls == ["undo-step 3", "undo-step 3"]  # its own retry: a second attempt
    step = execution.operation("undo-step", type="STEP")
    assert step.succeeded and step.attempts == 2
    # the compensation is named after its undo too (see test_compensation_names.py)
    assert step.parent_id == execution.operation("undo-step", type="CONTEXT").id


def test_options_survive_replay_of_a_suspended_execution() -> None:
    def wf(_: Any) -> Generator[Any, Any, Any]:
        batch = yield dg.Map(tagged, [1, 2], name="m")
        yield dg.Wait(seconds=5)
        return batch.all_results()

    runner = TestRunner(skip_time=False)
    execution = runner.start(wf, None)
    runner.run_until_idle()
    assert not execution.done
    runner.advance(10)
    assert execution.result() == [1001, 1002]


def test_a_step_function_compensation_without_a_retry_takes_run_compensations_retry() -> None:
    attempts: list[int] = []

    @dg.step(name="release")
    def release(result: int) -> None:
        attempts.append(result)
        if len(attempts) < 2:
            raise RuntimeError("first attempt fails")

    @dg.step(compensate=release, name="hold")
    def hold(x: int) -> int:
        return x

    def wf(_: Any) -> Generator[Any, Any, Any]:
        yield hold(4)
        retry = dg.Retry(max_attempts=2, initial_delay=1, jitter="none")
        return [r.status for r in (yield dg.RunCompensations(retry=retry))]

    execution = run(wf)
    assert execution.result() == ["SUCCEEDED"]
    assert attempts == [4, 4]
    assert execution.operation("release", type="STEP").attempts == 2


@dg.step(timeout=0.05, retry=dg.Retry.never(), name="hangs")
def hangs(x: int = 0) -> int:
    time.sleep(0.3)  # past its timeout: abandoned, its outcome dropped
    return x


@dg.step(timeout=0.05, retry=dg.Retry.never(), name="slow-undo")
def slow_undo(result: int) -> None:
    time.sleep(0.3)


@dg.step(compensate=slow_undo)
def booked(x: int) -> int:
    return x


def _timeouts_of(batch: dg.BatchResult[Any]) -> list[str | None]:
    return [item.error.error_type if item.error else None for item in batch.items]


def _timeout_in_map(_: Any) -> Generator[Any, Any, Any]:
    batch = yield dg.Map(
        hangs, [1, 2], name="m", completion=dg.Completion(tolerated_failure_count=2)
    )
    return _timeouts_of(batch)


def _timeout_in_branch(_: Any) -> Generator[Any, Any, Any]:
    batch = yield dg.Parallel(
        [hangs, dg.Branch(hangs, name="named")],
        name="p",
        completion=dg.Completion(tolerated_failure_count=2),
    )
    return _timeouts_of(batch)


def _timeout_as_child(_: Any) -> Generator[Any, Any, Any]:
    out = []
    for virtual in (False, True):
        try:
            out.append((yield dg.Child(hangs, (1,), name=f"c-{virtual}", virtual=virtual)))
        except dg.ChildFailedError as exc:
            out.append(exc.error_type)
    return out


def _timeout_as_compensation(_: Any) -> Generator[Any, Any, Any]:
    yield booked(1)
    undone = yield dg.RunCompensations()
    return [u.error_type or u.status for u in undone]


def _timeout_as_condition_check(_: Any) -> Generator[Any, Any, Any]:
    try:
        yield dg.WaitForCondition(hangs, initial_state=0, name="poll")
    except dg.StepTimeoutError as exc:
        return [exc.error_type]
    return ["not timed out"]


@pytest.mark.parametrize(
    ("workflow", "expected"),
    [
        (_timeout_as_condition_check, ["StepTimeoutError"]),
        (_timeout_in_map, ["StepTimeoutError"] * 2),
        (_timeout_in_branch, ["StepTimeoutError"] * 2),
        (_timeout_as_child, ["StepTimeoutError"] * 2),
        (_timeout_as_compensation, ["StepTimeoutError"]),
    ],
    ids=["condition", "map", "parallel", "child", "compensation"],
)
def test_a_step_functions_timeout_applies_wherever_it_runs(workflow: Any, expected: Any) -> None:
    run = TestRunner().run(workflow)
    assert run.result() == expected


@dg.step(retry=dg.Retry.never(), name="refuses")
def refuses(callback_id: str) -> None:
    calls.append("refuses")
    raise RuntimeError("cannot submit")


@dg.step(timeout=0.05, retry=dg.Retry.never(), name="hanging-submitter")
def hanging_submitter(callback_id: str) -> None:
    time.sleep(0.3)


def _submitters(_: Any) -> Generator[Any, Any, Any]:
    out = []
    for submitter, retry in (
        (refuses, None),  # its own policy: one attempt
        (hanging_submitter, None),  # its own timeout
        (refuses, dg.Retry(max_attempts=2, initial_delay=1)),  # WaitForCallback's policy wins
    ):
        try:
            yield dg.WaitForCallback(submitter, retry=retry)
        except dg.CallbackFailedError as exc:
            out.append(exc.error_type)
    return out


def test_a_wait_for_callback_submitter_keeps_its_steps_options() -> None:
    run = TestRunner().run(_submitters)
    assert run.result() == ["RuntimeError", "StepTimeoutError", "RuntimeError"]
    assert calls == ["refuses"] * 3


def _wrapped_in_step(_: Any) -> Generator[Any, Any, Any]:
    out = []
    for cmd in (
        dg.Step(fails_once),  # its own policy: one attempt
        dg.Step(hangs, (1,)),  # its own timeout
        dg.Step(fails_once, retry=dg.Retry(max_attempts=2, initial_delay=1)),  # Step's wins
    ):
        try:
            out.append((yield cmd))
        except dg.StepFailedError as exc:
            out.append(exc.error_type)
    return out


def test_a_step_function_wrapped_in_step_keeps_its_options() -> None:
    run = TestRunner().run(_wrapped_in_step)
    assert run.result() == ["RuntimeError", "StepTimeoutError", "RuntimeError"]
    assert calls == ["once"] * 3
    assert [op.name for op in run.operations(type="STEP")] == ["once", "hangs", "once"]


@dg.step(retry=dg.Retry.never(), name="fetch")
async def fetch(x: int) -> int:
    calls.append(f"fetch {x}")
    return x * 10


def _async_step_as_child(_: Any) -> Generator[Any, Any, Any]:
    out = []
    for virtual in (False, True):
        out.append((yield dg.Child(fetch, (len(out) + 1,), name=f"c-{virtual}", virtual=virtual)))
    return out


def test_an_async_step_function_runs_as_a_childs_workflow() -> None:
    # A @step function is one step wherever it runs, an `async def` one too: as a Child's
    # workflow it was refused as "an async def workflow", although it is a step.
    execution = run(_async_step_as_child)
    assert execution.result() == [10, 20]
    assert calls == ["fetch 1", "fetch 2"]
    assert [op.name for op in execution.operations(type="STEP")] == ["fetch", "fetch"]
