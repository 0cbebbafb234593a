"""Map and Parallel: completion policies, ordering, suspension inside items, nesting."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import durable_gen as dg
from durable_gen._batch import decide
from durable_gen._ids import operation_id
from durable_gen._wire import ErrorObject, Operation
from tests import histories as h
from tests.hosting import Host, hosted

NO_RETRY = dg.Retry.never()


@dg.step(retry=NO_RETRY)
def item(x: Any) -> Any:
    if isinstance(x, str) and x.startswith("fail"):
        raise ValueError(x)
    return x


def run_to_end(workflow: Any, input: Any, order: random.Random | None = None) -> Host:
    """Run every task, completing in-flight tasks in a (possibly shuffled) order."""
    it = hosted(workflow, [h.execution(input)], execution_arn="arn:batch")
    pending = it.advance()
    while pending:
        if order is not None:
            order.shuffle(pending)
        task = pending.pop(0)
        try:
            value = task.fn(*task.args, **task.kwargs)
        except Exception as exc:
            it.task_failed(task, exc)
        else:
            it.task_succeeded(task, value)
        it.take_updates()
        pending += it.advance()
    return it


def projection(batch: dg.BatchResult) -> list[Any]:
    return [
        batch.completion_reason,
        batch.success_count,
        batch.failure_count,
        [i.status for i in batch.items],
    ]


def map_of(items: list[Any], **options: Any) -> Any:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return projection((yield dg.Map(item, items, **options)))

    return wf


def result(it: Host) -> Any:
    assert isinstance(it.outcome, dg.Succeeded), it.outcome
    return dg.JsonSerdes().deserialize(it.outcome.result)


@pytest.mark.parametrize(
    ("policy", "total", "ok", "failed", "reason"),
    [
        (None, 4, 0, 1, "FAILURE_TOLERANCE_EXCEEDED"),
        (dg.Completion(tolerated_failure_count=1), 4, 1, 1, None),
        (dg.Completion(tolerated_failure_count=1), 4, 1, 2, "FAILURE_TOLERANCE_EXCEEDED"),
        (dg.Completion(tolerated_failure_percentage=25), 4, 3, 1, "ALL_COMPLETED"),  # 25% not > 25%
        (dg.Completion(tolerated_failure_percentage=25), 4, 0, 2, "FAILURE_TOLERANCE_EXCEEDED"),
        (dg.Completion(min_successful=2), 4, 2, 0, "MIN_SUCCESSFUL_REACHED"),
        # the last item to end reaches min_successful: every item ended (AWS's SDK's order)
        (dg.Completion(min_successful=2), 2, 2, 0, "ALL_COMPLETED"),
        (dg.Completion(min_successful=2, tolerated_failure_count=1), 3, 2, 1, "ALL_COMPLETED"),
        (
            dg.Completion(min_successful=3, tolerated_failure_count=1),
            4,
            0,
            2,
            "FAILURE_TOLERANCE_EXCEEDED",
        ),  # tolerance is checked before min_successful
        (dg.Completion(min_successful=3, tolerated_failure_count=1), 3, 2, 1, "ALL_COMPLETED"),
        (dg.Completion.all_completed(), 3, 0, 3, "ALL_COMPLETED"),
    ],
)
def test_completion_rules(policy: Any, total: int, ok: int, failed: int, reason: Any) -> None:
    assert decide(policy, total, ok, failed) == reason


def test_exact_percentage_threshold_runs_everything() -> None:
    wf = map_of(
        ["a", "fail1", "b", "c"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=25),
    )
    assert result(run_to_end(wf, None)) == [
        "ALL_COMPLETED",
        3,
        1,
        ["SUCCEEDED", "FAILED", "SUCCEEDED", "SUCCEEDED"],
    ]


def test_all_fail_within_tolerance_completes() -> None:
    wf = map_of(["fail0", "fail1", "fail2"], completion=dg.Completion(tolerated_failure_count=3))
    assert result(run_to_end(wf, None)) == ["ALL_COMPLETED", 0, 3, ["FAILED"] * 3]


def test_min_successful_never_reached_ends_all_completed() -> None:
    wf = map_of(
        ["a", "fail", "b"],
        max_concurrency=1,
        completion=dg.Completion(min_successful=3, tolerated_failure_count=1),
    )
    assert result(run_to_end(wf, None)) == [
        "ALL_COMPLETED",
        2,
        1,
        ["SUCCEEDED", "FAILED", "SUCCEEDED"],
    ]


def test_min_successful_stops_starting_items() -> None:
    wf = map_of(["a", "b", "c", "d"], max_concurrency=1, completion=dg.Completion(min_successful=2))
    assert result(run_to_end(wf, None)) == [
        "MIN_SUCCESSFUL_REACHED",
        2,
        0,
        ["SUCCEEDED", "SUCCEEDED", "NOT_STARTED", "NOT_STARTED"],
    ]


def test_empty_map_completes_at_once_and_is_recorded() -> None:
    it = run_to_end(map_of([]), None)
    assert result(it) == ["ALL_COMPLETED", 0, 0, []]


def test_zero_concurrency_is_a_validation_error() -> None:
    with pytest.raises(dg.ValidationError, match="max_concurrency"):
        dg.Map(item, [1], max_concurrency=0)
    with pytest.raises(dg.ValidationError):
        dg.Parallel([lambda: 1], max_concurrency=-1)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(), max_size=12), st.integers(0, 2**32), st.none() | st.integers(1, 4))
def test_results_follow_item_order_whatever_the_completion_order(
    values: list[int], seed: int, limit: int | None
) -> None:
    def wf(xs: list[int]):  # type: ignore[no-untyped-def]
        return (yield dg.Map(item, xs, max_concurrency=limit)).results()

    assert result(run_to_end(wf, values, random.Random(seed))) == values


def test_a_wait_inside_one_item_suspends_mid_map_and_resumes_without_rerunning() -> None:
    ran: list[str] = []

    @dg.step
    def work(tag: str) -> str:
        ran.append(tag)
        return tag

    def per_item(x: str, i: int):  # type: ignore[no-untyped-def]
        if i == 1:
            yield dg.Wait(seconds=60)
        return (yield work(x))

    def wf(xs: list[str]):  # type: ignore[no-untyped-def]
        return (yield dg.Map(per_item, xs)).results()

    it = hosted(wf, [h.execution(["a", "b"])], execution_arn="arn:w")
    (task,) = it.advance()  # item 0 runs; item 1 waits
    it.task_succeeded(task, task.fn(*task.args))
    assert it.advance() == [] and isinstance(it.outcome, dg.Suspended)
    # replay: item 0 finished, the wait is over
    map_id = h.oid(1)
    it0, it1 = operation_id(map_id, 0), operation_id(map_id, 1)
    ops = [
        h.execution(["a", "b"]),
        h.context(map_id, "Map", status="STARTED"),
        h.context(it0, "MapIteration", name="map-item-0", parent=map_id, result='"a"'),
        h.step(1, "a", name="work", parent=it0),
        h.context(it1, "MapIteration", name="map-item-1", parent=map_id, status="STARTED"),
        h.wait(1, parent=it1),
    ]
    replay = hosted(wf, ops, execution_arn="arn:w")
    (task,) = replay.advance()
    assert task.args == ("b",) and task.parent_id == it1
    replay.task_succeeded(task, task.fn(*task.args))
    replay.advance()
    assert replay.outcome == dg.Succeeded('["a","b"]')
    assert ran == ["a", "b"]


def test_nested_parallel_inside_a_branch() -> None:
    def inner():  # type: ignore[no-untyped-def]
        batch = yield dg.Parallel([lambda: "i1", lambda: "i2"], name="inner")
        return batch.results()

    def wf(_: Any):  # type: ignore[no-untyped-def]
        batch = yield dg.Parallel([dg.Branch(inner, name="a")], name="outer")
        return batch.results()

    it = run_to_end(wf, None)
    assert result(it) == [["i1", "i2"]]


def test_parallel_branch_kinds_and_names() -> None:
    def gen_branch():  # type: ignore[no-untyped-def]
        return (yield item("g"))

    def wf(_: Any):  # type: ignore[no-untyped-def]
        b = yield dg.Parallel([lambda: "plain", gen_branch, dg.Branch(lambda: 3, name="three")])
        return [b.results(), [i.name for i in b.items]]

    assert result(run_to_end(wf, None)) == [
        ["plain", "g", 3],
        ["parallel-branch-0", "parallel-branch-1", "three"],
    ]


def test_completed_map_replays_from_its_record_without_entering_items() -> None:
    wf = map_of(["a", "b"])
    first = run_to_end(wf, None)
    payload = first.outcome
    assert isinstance(payload, dg.Succeeded)
    # record of the Map context as the first run would have checkpointed it
    batch = dg.BatchResult(
        items=[
            dg.BatchItem(index=0, status="SUCCEEDED", result="a"),
            dg.BatchItem(index=1, status="FAILED", error=ErrorObject(error_type="X")),
        ],
        completion_reason="ALL_COMPLETED",
    )
    import msgspec

    op: Operation = h.context(h.oid(1), "Map", result=msgspec.json.encode(batch).decode())
    replay = hosted(wf, [h.execution(None), op], execution_arn="arn:batch")
    assert replay.advance() == []
    # the recorded outcome, not a new run's (item "b" would succeed)
    assert result(replay) == ["ALL_COMPLETED", 1, 1, ["SUCCEEDED", "FAILED"]]


def test_map_over_a_generator_function_gets_item_and_index() -> None:
    def per_item(x: int, i: int):  # type: ignore[no-untyped-def]
        return (yield item(x + i))

    def wf(xs: list[int]):  # type: ignore[no-untyped-def]
        return (yield dg.Map(per_item, xs)).results()

    assert result(run_to_end(wf, [10, 20, 30])) == [10, 21, 32]


def test_raise_if_failed_raises_batch_failed_error() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        b = yield dg.Map(item, ["ok", "fail-x"], completion=dg.Completion.all_completed())
        try:
            b.raise_if_failed()
        except dg.BatchFailedError as exc:
            return exc.error_type
        return "no error"

    assert result(run_to_end(wf, None)) == "ValueError"


def test_flat_nesting_records_item_steps_directly_under_the_map() -> None:
    def wf(xs: list[str]):  # type: ignore[no-untyped-def]
        return (yield dg.Map(item, xs, name="flat", nesting="flat", max_concurrency=1)).results()

    it = hosted(wf, [h.execution(["fa", "fb"])], execution_arn="arn:flat")
    updates = []
    pending = it.advance()
    while pending:
        task = pending.pop()
        it.task_succeeded(task, task.fn(*task.args))
        updates += it.take_updates()
        pending += it.advance()
    updates += it.take_updates()
    map_id = h.oid(1)
    assert [(u.type, u.action, u.parent_id) for u in updates] == [
        ("CONTEXT", "START", None),
        ("STEP", "START", map_id),
        ("STEP", "SUCCEED", map_id),
        ("STEP", "START", map_id),
        ("STEP", "SUCCEED", map_id),
        ("CONTEXT", "SUCCEED", None),
    ]
    assert it.outcome == dg.Succeeded('["fa","fb"]')


# --- the same BatchResult in both payload formats ------------------------------------------------


@dg.step(retry=dg.Retry.never())
def _odd_fails(i: int) -> int:
    if i % 2:
        raise ValueError(f"odd {i}")
    return i


def _batches_seen(_: Any) -> Any:
    decided = yield dg.Map(
        _odd_fails, [0, 1, 2, 3], name="m", max_concurrency=1, item_namer=lambda it, i: f"n-{it}"
    )
    unnamed = yield dg.Map(_odd_fails, [0, 2], name="u")
    branches = yield dg.Parallel(
        [lambda: 1, dg.Branch(lambda: 2, name="two")], name="p", max_concurrency=1
    )
    return [
        [[i.index, i.status, i.name, i.result] for i in b.items] + [b.total_count]
        for b in (decided, unnamed, branches)
    ]


def test_a_workflow_receives_the_same_batch_result_in_both_payload_formats() -> None:
    # AWS's format records neither never-started items nor item names; the code asking for
    # the batch knows both, and fills them in (first run and replay alike).
    seen = dg.run(_batches_seen, None)
    assert seen[0] == [
        [0, "SUCCEEDED", "n-0", 0],
        [1, "FAILED", "n-1", None],
        [2, "NOT_STARTED", "n-2", None],
        [3, "NOT_STARTED", "n-3", None],
        4,
    ]
    assert seen[1] == [[0, "SUCCEEDED", "map-item-0", 0], [1, "SUCCEEDED", "map-item-1", 2], 2]
    assert seen[2] == [
        [0, "SUCCEEDED", "parallel-branch-0", 1],
        [1, "SUCCEEDED", "two", 2],
        2,
    ]
    assert dg.run(_batches_seen, None, payload_format="aws") == seen
