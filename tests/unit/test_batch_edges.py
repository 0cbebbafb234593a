"""Map and Parallel edges: items a decided batch leaves behind, and what a Map function gets.

Items a decided Map or Parallel leaves behind: their retry timers do not end the execution.

A batch is decided (here: the first failure) while another item's step waits out a retry delay.
The workflow goes on; the delay passes, the service marks the step READY and invokes again; the
workflow does not go back to that item. The engine must not take that for a handler that loops.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, assert_deterministic


@dg.step(retry=dg.Retry.never())
def reserve() -> str:
    raise RuntimeError("out of stock")


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=30, jitter="none"))
def notify() -> str:
    raise ConnectionError("mail server down")


@dg.workflow
def order(_: Any):  # type: ignore[no-untyped-def]
    batch = yield dg.Parallel([reserve, notify])
    yield dg.Wait(seconds=60, name="cool-down")
    return [batch.completion_reason, batch.items[0].status]


@pytest.fixture(autouse=True)
def _quiet() -> Any:
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


@pytest.mark.parametrize("attempt", range(5))
def test_a_retry_timer_of_a_left_item_does_not_fail_the_execution(attempt: int) -> None:
    run = TestRunner().run(order, None)
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == ["FAILURE_TOLERANCE_EXCEEDED", "FAILED"]


def test_skip_time_run_too() -> None:
    assert dg.run(order, None, skip_time=True) == ["FAILURE_TOLERANCE_EXCEEDED", "FAILED"]


def test_assert_deterministic_ignores_what_a_decided_batch_left_behind() -> None:
    # Whether the left item's step ran, and was recorded, before the decision is thread timing.
    for seed in range(3):
        assert_deterministic(order, None, seed=seed)


@dg.step(retry=dg.Retry.never())
def first() -> str:
    return "first"


@dg.workflow
def changed(_: Any):  # type: ignore[no-untyped-def]
    batch = yield dg.Parallel([first, notify], completion=dg.Completion(min_successful=1))
    yield dg.Wait(seconds=60)
    return batch.completion_reason


def test_min_successful_leaves_a_retrying_item_behind() -> None:
    run = TestRunner().run(changed, None)
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == "MIN_SUCCESSFUL_REACHED"


def scale(item: int, factor: int = 10) -> int:
    return item * factor


def indexed(item: int, index: int) -> list[int]:
    return [item, index]


def spread(*args: int) -> int:
    return len(args)


@pytest.mark.parametrize(
    ("fn", "expected"),
    [(scale, [10, 20]), (indexed, [[1, 0], [2, 1]]), (spread, [1, 1])],
    ids=["default", "index", "args"],
)
def test_map_gives_the_index_to_a_second_required_parameter_only(
    fn: Any, expected: list[Any]
) -> None:
    @dg.workflow
    def fan(items: list[int]):  # type: ignore[no-untyped-def]
        return (yield dg.Map(fn, items)).results()

    assert dg.run(fan, [1, 2]) == expected


@pytest.mark.parametrize("bad", [0, "", "élément", "x" * 300])
def test_item_namer_names_are_checked_like_every_name(bad: Any) -> None:
    @dg.workflow
    def named(items: list[int]):  # type: ignore[no-untyped-def]
        return (yield dg.Map(indexed, items, item_namer=lambda item, i: bad)).results()

    with pytest.raises(dg.ExecutionFailedError, match=r"item_namer's .*name must be"):
        dg.run(named, [1, 2])


# --- a batch decided on replay, before an item that waited is resumed -------------------------


def waits_then_returns(seconds: int):  # type: ignore[no-untyped-def]
    yield dg.Wait(seconds=seconds, name="wait")
    return seconds


def _branch_waiting(seconds: int) -> Any:
    def branch():  # type: ignore[no-untyped-def]
        return (yield from waits_then_returns(seconds))

    return branch


def _decided_by_first(kind: str, nesting: Any) -> Any:
    def workflow(durations: list[int]):  # type: ignore[no-untyped-def]
        first = dg.Completion(min_successful=1)
        if kind == "map":
            batch = yield dg.Map(
                waits_then_returns, durations, name="b", nesting=nesting, completion=first
            )
        else:
            branches = [
                dg.Branch(_branch_waiting(d), name=f"branch-{i}") for i, d in enumerate(durations)
            ]
            batch = yield dg.Parallel(branches, name="b", nesting=nesting, completion=first)
        return [batch.completion_reason, batch.results()]

    return workflow


@pytest.mark.parametrize("durations", [[1, 2], [3, 1, 2], [1, 1], [2, 1, 3]])
@pytest.mark.parametrize("nesting", ["nested", "flat"])
@pytest.mark.parametrize("kind", ["map", "parallel"])
def test_an_item_left_waiting_by_a_batch_decided_on_replay_is_no_divergence(
    kind: str, nesting: Any, durations: list[int]
) -> None:
    # The invocation after the first wait ends replays the batch: the first item succeeds and
    # decides it before the items after it are resumed, so their recorded waits are not
    # reached again. That is no code change: the execution must go on, not fail with
    # NonDeterminismError (nor must a replay of its history diverge).
    from durable_gen.testing import replay

    workflow = _decided_by_first(kind, nesting)
    run = TestRunner().run(workflow, durations)
    assert run.result() == ["MIN_SUCCESSFUL_REACHED", [min(durations)]]
    report = replay(workflow, run.export())
    assert (report.status, report.outcome) == ("ok", "succeeded"), report.message
    assert_deterministic(workflow, durations, random_runs=2)


# --- a large batch decided early, rebuilt from its children ---------------------------------


def large_item(x: int):  # type: ignore[no-untyped-def]
    yield dg.Wait(seconds=1 if x < 4 else 60, name="wait")  # the last item is slow
    return "z" * 70_000  # four results are over 256 KiB: the batch records ReplayChildren


def _large_first_four(nesting: Any, waits_after: bool) -> Any:
    def workflow(_: Any):  # type: ignore[no-untyped-def]
        batch = yield dg.Map(
            large_item, list(range(5)), name="m", nesting=nesting,
            completion=dg.Completion(min_successful=4),
        )  # fmt: skip
        seen = [batch.completion_reason, [item.status for item in batch.items]]
        if waits_after:  # later invocations rebuild the batch (the slow item's wait ends too)
            yield dg.Wait(seconds=30, name="after")
            yield dg.Wait(seconds=60, name="after-2")
        return seen

    return workflow


@pytest.mark.parametrize("waits_after", [True, False])
@pytest.mark.parametrize("nesting", ["nested", "flat"])
def test_a_large_batch_decided_early_is_rebuilt_as_it_was_decided(
    nesting: Any, waits_after: bool
) -> None:
    # Rebuilt from its children, the batch said ALL_COMPLETED, listed the slow item as
    # succeeded once its wait had ended (flat), or waited for it: replay changed the value
    # the workflow had seen.
    from durable_gen.testing import replay

    workflow = _large_first_four(nesting, waits_after)
    run = TestRunner().run(workflow)
    assert run.operation("m").operation.context_details.replay_children  # type: ignore[union-attr]
    expected = ["MIN_SUCCESSFUL_REACHED", ["SUCCEEDED"] * 4 + ["STARTED"]]
    assert run.result() == expected
    report = replay(workflow, run.export())
    assert (report.status, report.outcome, report.result) == ("ok", "succeeded", expected)
    assert_deterministic(workflow, None, random_runs=2)
