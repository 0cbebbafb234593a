"""A Map or Parallel replays only if the code asks for the shape the history recorded: item
count, branch names and order, nesting mode. Checked on both routes (``testing.replay`` and a
resume of new code on the engine), for a completed batch and for one suspended inside."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen._codec import encode
from durable_gen._wire import Operation
from durable_gen.testing import TestRunner, replay
from tests import histories as h
from tests.hosting import hosted

Workflow = Callable[[Any], Generator[Any, Any, Any]]


@dg.step(retry=dg.Retry.never())
def double(x: int) -> int:
    return x * 2


@dg.step(retry=dg.Retry.never())
def const_a() -> str:
    return "a"


@dg.step(retry=dg.Retry.never())
def const_b() -> str:
    return "b"


@dg.step(retry=dg.Retry.never())
def const_c() -> str:
    return "c"


def map_then_wait(items: list[int], nesting: str = "nested") -> Workflow:
    def wf(_: Any) -> Generator[Any, Any, Any]:
        batch = yield dg.Map(double, items, name="m", nesting=nesting)  # type: ignore[arg-type]
        yield dg.Wait(seconds=60, name="later")
        return batch.all_results()

    return wf


def parallel_then_wait(branches: list[tuple[str, Any]]) -> Workflow:
    def wf(_: Any) -> Generator[Any, Any, Any]:
        batch = yield dg.Parallel([dg.Branch(fn, name=n) for n, fn in branches], name="p")
        yield dg.Wait(seconds=60, name="later")
        return batch.all_results()

    return wf


def both_routes(old: Workflow, new: Workflow) -> tuple[Any, Any]:
    """Run ``old`` until it waits, then: the replay report of ``new`` against its history, and
    the error of the execution resumed with ``new`` on the engine (None if it succeeded)."""
    runner = TestRunner(skip_time=False)
    run = runner.start(old, None)
    runner.run_until_idle()
    assert not run.done, run.error
    report = replay(new, run.history())
    runner.deploy(old, new)
    while not run.done:
        assert runner.advance_to_next_timer()
        runner.run_until_idle()
    return report, run.error


def assert_diverged(old: Workflow, new: Workflow, *fragments: str) -> None:
    report, error = both_routes(old, new)
    assert report.status == "diverged", report
    assert error is not None and error.error_type == "NonDeterminismError", error
    for text in (report.message, error.error_message):
        for fragment in fragments:
            assert fragment in text, (fragment, text)
        assert "operation 1 of the root context" in text


def test_the_same_shape_replays_on_both_routes() -> None:
    report, error = both_routes(map_then_wait([1, 2, 3]), map_then_wait([1, 2, 3]))
    assert report.status == "ok", report
    assert error is None


def test_a_completed_map_given_more_items_diverges() -> None:
    assert_diverged(
        map_then_wait([1, 2, 3]),
        map_then_wait([1, 2, 3, 4]),
        "recorded Map 'm' with 3 items",
        "asks for Map 'm' with 4 items",
    )


def test_a_completed_map_given_fewer_items_diverges() -> None:
    assert_diverged(
        map_then_wait([1, 2, 3]),
        map_then_wait([1, 2]),
        "Map 'm' with 3 items",
        "Map 'm' with 2 items",
    )


def test_a_completed_map_changed_to_flat_nesting_diverges() -> None:
    assert_diverged(
        map_then_wait([1, 2]),
        map_then_wait([1, 2], nesting="flat"),
        "nesting='nested'",
        "nesting='flat'",
    )


def test_a_completed_flat_map_changed_to_nested_diverges() -> None:
    assert_diverged(
        map_then_wait([1, 2], nesting="flat"),
        map_then_wait([1, 2]),
        "nesting='flat'",
        "nesting='nested'",
    )


def test_a_completed_flat_map_given_more_items_diverges() -> None:
    assert_diverged(
        map_then_wait([1, 2], nesting="flat"),
        map_then_wait([1, 2, 3], nesting="flat"),
        "with 2 items",
        "with 3 items",
    )


def test_swapped_parallel_branches_diverge() -> None:
    assert_diverged(
        parallel_then_wait([("a", const_a), ("b", const_b)]),
        parallel_then_wait([("b", const_b), ("a", const_a)]),
        "branches ['a', 'b']",
        "branches ['b', 'a']",
    )


def test_a_renamed_parallel_branch_diverges() -> None:
    assert_diverged(
        parallel_then_wait([("a", const_a), ("b", const_b)]),
        parallel_then_wait([("a", const_a), ("c", const_c)]),
        "'b'",
        "'c'",
    )


def test_an_added_parallel_branch_diverges() -> None:
    assert_diverged(
        parallel_then_wait([("a", const_a), ("b", const_b)]),
        parallel_then_wait([("a", const_a), ("b", const_b), ("c", const_c)]),
        "Parallel 'p' with 2 branches",
        "Parallel 'p' with 3 branches",
    )


def test_a_removed_parallel_branch_diverges() -> None:
    assert_diverged(
        parallel_then_wait([("a", const_a), ("b", const_b)]),
        parallel_then_wait([("a", const_a)]),
        "with 2 branches",
        "with 1 branch.",
    )


# --- a batch suspended inside ------------------------------------------------------------------


def waiting_items(items: list[int]) -> Workflow:
    def per_item(x: int, i: int) -> Generator[Any, Any, Any]:
        yield dg.Wait(seconds=30 + i, name="w")
        return (yield double(x))

    def wf(_: Any) -> Generator[Any, Any, Any]:
        batch = yield dg.Map(per_item, items, name="m")
        return batch.all_results()

    return wf


def test_a_map_suspended_inside_given_fewer_items_diverges_on_both_routes() -> None:
    report, error = both_routes(waiting_items([1, 2, 3]), waiting_items([1, 2]))
    assert report.status == "diverged", report
    assert error is not None and error.error_type == "NonDeterminismError"
    for text in (report.message, error.error_message):
        assert "Map 'm' with at least 3 items" in text and "with 2 items" in text


def flat_waiting_in_the_first(count: int, parallel: bool) -> Workflow:
    """A flat Map (or Parallel) whose first item waits while the others finish their step."""

    def per_item(x: int, i: int) -> Generator[Any, Any, Any]:
        if i == 0:
            yield dg.Wait(seconds=30, name="w")
        return (yield double(x))

    def branch(i: int) -> Any:
        def run() -> Generator[Any, Any, Any]:
            return (yield from per_item(i, i))

        return run

    def wf(_: Any) -> Generator[Any, Any, Any]:
        if parallel:
            batch = yield dg.Parallel([branch(i) for i in range(count)], name="m", nesting="flat")
        else:
            batch = yield dg.Map(per_item, list(range(count)), name="m", nesting="flat")
        return batch.all_results()

    return wf


@pytest.mark.parametrize("parallel", [False, True], ids=["map", "parallel"])
def test_a_flat_batch_suspended_inside_given_fewer_items_diverges_on_both_routes(
    parallel: bool,
) -> None:
    """Flat items record no context, but an item that ran recorded its operations: removing it
    is caught when the batch is replayed, by `replay` too (it said ok, and the engine failed
    only when the workflow returned)."""
    what = "branches" if parallel else "items"
    report, error = both_routes(
        flat_waiting_in_the_first(3, parallel), flat_waiting_in_the_first(2, parallel)
    )
    assert report.status == "diverged", report
    assert error is not None and error.error_type == "NonDeterminismError"
    for text in (report.message, error.error_message):
        assert f"with at least 3 {what}" in text and f"with 2 {what}" in text, text
    report, error = both_routes(
        flat_waiting_in_the_first(3, parallel), flat_waiting_in_the_first(3, parallel)
    )
    assert report.status == "ok" and error is None, report


def test_a_map_suspended_inside_with_the_same_items_resumes() -> None:
    report, error = both_routes(waiting_items([1, 2, 3]), waiting_items([1, 2, 3]))
    assert report.status == "ok" and report.outcome == "suspended", report
    assert error is None


# --- histories recorded without the shape ------------------------------------------------------


def map_of(items: list[int], **options: Any) -> Workflow:
    def wf(_: Any) -> Generator[Any, Any, Any]:
        batch = yield dg.Map(double, items, name="m", **options)
        return [batch.completion_reason, batch.all_results()]

    return wf


def completed_map(payload: str) -> list[Operation]:
    return [h.execution(None), h.context(h.oid(1), "Map", name="m", result=payload)]


def test_an_aws_result_without_never_started_items_still_replays() -> None:
    # AWS's SDK lists only the items that started: 2 of 3 here (durable_gen's "aws" format
    # adds the others under a key AWS's SDK ignores, so the batch is built without them).
    batch = dg.BatchResult(
        items=[
            dg.BatchItem(index=0, status="SUCCEEDED", result=2),
            dg.BatchItem(index=1, status="SUCCEEDED", result=4),
        ],
        completion_reason="MIN_SUCCESSFUL_REACHED",
    )
    payload = encode(batch, format="aws")
    assert '"NOT_STARTED"' not in payload
    wf = map_of([1, 2, 3], completion=dg.Completion(min_successful=2), max_concurrency=1)
    host = hosted(wf, completed_map(payload), execution_arn="arn:shape")
    assert host.advance() == []
    assert isinstance(host.outcome, dg.Succeeded), host.outcome
    # The workflow receives every item, the one never started included, as from a history in
    # durable_gen's own format.
    assert msgspec.json.decode(host.outcome.result) == ["MIN_SUCCESSFUL_REACHED", [2, 4, None]]
    # ...but not with fewer items than it lists
    wf = map_of([1], completion=dg.Completion(min_successful=2), max_concurrency=1)
    host = hosted(wf, completed_map(payload), execution_arn="arn:shape")
    host.advance()
    assert isinstance(host.outcome, dg.Failed)
    assert "with at least 2 items" in host.outcome.error.error_message


def test_a_result_without_item_names_still_replays_and_counts() -> None:
    batch = {"items": [{"index": 0, "status": "SUCCEEDED", "result": 2}]}
    batch["completionReason"] = "ALL_COMPLETED"
    payload = msgspec.json.encode(batch).decode()
    host = hosted(map_of([1]), completed_map(payload), execution_arn="arn:shape")
    assert host.advance() == []
    assert isinstance(host.outcome, dg.Succeeded), host.outcome
    host = hosted(map_of([1, 5]), completed_map(payload), execution_arn="arn:shape")
    host.advance()
    assert isinstance(host.outcome, dg.Failed)
    assert "Map 'm' with 1 item, the code asks" in host.outcome.error.error_message


@pytest.mark.parametrize("total", [3, 5])
def test_a_large_result_recorded_as_a_summary_checks_its_total_count(total: int) -> None:
    summary = msgspec.json.encode({"completionReason": "ALL_COMPLETED", "totalCount": 4})
    op = h.context(h.oid(1), "Map", name="m", result=summary.decode(), replay_children=True)
    host = hosted(map_of(list(range(total))), [h.execution(None), op], execution_arn="arn:s")
    host.advance()
    assert isinstance(host.outcome, dg.Failed), host.outcome
    message = host.outcome.error.error_message
    assert "Map 'm' with 4 items" in message and f"with {total} items" in message


# --- an operation removed from the end of a context the execution waits in --------------------


def in_context(where: str, *, with_wait: bool) -> Workflow:
    """A workflow whose context (``where``) runs a step then, in the old code, a wait; the
    workflow then waits again at the root."""

    def body(*_: Any) -> Generator[Any, Any, Any]:
        value = yield double(1)
        if with_wait:
            yield dg.Wait(seconds=30, name="inner")
        return value

    def wf(_: Any) -> Generator[Any, Any, Any]:
        if where == "child":
            result = yield dg.Child(body, name="c")
        elif where == "branch":
            result = (yield dg.Parallel([dg.Branch(body, name="b")], name="p")).all_results()
        else:
            result = (yield dg.Map(body, [1], name="m")).all_results()
        yield dg.Wait(seconds=60, name="later")
        return result

    return wf


@pytest.mark.parametrize("where", ["child", "branch", "map item"])
def test_an_operation_removed_from_a_context_the_execution_waits_in_diverges_on_both_routes(
    where: str,
) -> None:
    report, error = both_routes(
        in_context(where, with_wait=True), in_context(where, with_wait=False)
    )
    assert report.status == "diverged", report
    assert error is not None and error.error_type == "NonDeterminismError", error
    for text in (report.message, error.error_message):
        assert "WAIT/Wait name='inner'" in text and "never reached" in text


# --- a large result AWS's SDK recorded as its summary -----------------------------------------

BIG = 150_000  # two items over the 256 KiB a context result may hold


@dg.step(retry=dg.Retry.never())
def big(x: int) -> str:
    return str(x) * BIG


def two_of_four(nesting: str) -> Workflow:
    def wf(_: Any) -> Generator[Any, Any, Any]:
        batch = yield dg.Map(
            big,
            [1, 2, 3, 4],
            name="m",
            max_concurrency=1,
            completion=dg.Completion(min_successful=2),
            nesting=nesting,  # type: ignore[arg-type]
        )
        yield dg.Wait(seconds=60, name="later")
        return [batch.completion_reason, [len(r) if r else None for r in batch.all_results()]]

    return wf


#: What AWS's Python SDK records for that Map: its ``totalCount`` counts the items started (2),
#: and the items still running when it was decided (none) or those that had ended.
AWS_SUMMARIES = {
    "startedIndexes": {"startedIndexes": []},
    "completedIndexes": {"completedIndexes": [0, 1]},
}


@pytest.mark.parametrize("nesting", ["nested", "flat"])
@pytest.mark.parametrize("form", list(AWS_SUMMARIES))
def test_a_large_result_aws_summarised_after_an_early_decision_replays(
    nesting: str, form: str
) -> None:
    """AWS's summary is not read as the item count: a Map decided after 2 of its 4 items, with
    a result too large to record, replays instead of diverging ("with 2 items")."""
    runner = TestRunner(skip_time=False)
    run = runner.start(two_of_four(nesting), None)
    runner.run_until_idle()
    exported = run.export()
    (summary_op,) = [op for op in exported["Operations"] if op.get("SubType") == "Map"]
    assert summary_op["ContextDetails"]["ReplayChildren"] is True
    summary_op["ContextDetails"]["Result"] = msgspec.json.encode(
        {
            "type": "MapResult",
            "totalCount": 2,
            "completionReason": "MIN_SUCCESSFUL_REACHED",
            **AWS_SUMMARIES[form],
            "startedCount": 0,
            "successCount": 2,
            "failureCount": 0,
            "status": "SUCCEEDED",
        }
    ).decode()
    report = replay(two_of_four(nesting), {"Operations": exported["Operations"]})
    assert report.status == "ok" and report.outcome == "suspended", report

    operations = [msgspec.convert(op, Operation) for op in exported["Operations"]]
    host = hosted(two_of_four(nesting), operations, execution_arn=run.arn)
    host.advance()
    assert isinstance(host.outcome, dg.Suspended), host.outcome


def all_of(count: int) -> Workflow:
    def wf(_: Any) -> Generator[Any, Any, Any]:
        batch = yield dg.Map(big, list(range(1, count + 1)), name="m", max_concurrency=1)
        yield dg.Wait(seconds=60, name="later")
        return len(batch.results())

    return wf


@pytest.mark.parametrize("count", [2, 4])
def test_a_large_result_summarised_in_aws_format_still_checks_its_item_count(count: int) -> None:
    """In the ``"aws"`` format the summary is AWS's (its ``totalCount`` counts the items
    started), plus the item count AWS's SDK ignores: a changed item count still diverges."""
    runner = TestRunner(skip_time=False, payload_format="aws")
    run = runner.start(all_of(3), None)
    runner.run_until_idle()
    (summary_op,) = [op for op in run.export()["Operations"] if op.get("SubType") == "Map"]
    summary = msgspec.json.decode(summary_op["ContextDetails"]["Result"])
    assert summary["type"] == "MapResult" and summary["totalCount"] == 3
    assert replay(all_of(3), run.history()).status == "ok"
    report = replay(all_of(count), run.history())
    assert report.status == "diverged", report
    assert "Map 'm' with 3 items" in report.message and f"with {count} items" in report.message


@pytest.mark.parametrize(
    ("reason", "checked"), [("ALL_COMPLETED", True), ("MIN_SUCCESSFUL_REACHED", False)]
)
def test_an_aws_summary_gives_the_item_count_when_every_item_ended(
    reason: str, checked: bool
) -> None:
    summary = msgspec.json.encode(
        {"type": "MapResult", "totalCount": 4, "completionReason": reason, "startedIndexes": []}
    )
    op = h.context(h.oid(1), "Map", name="m", result=summary.decode(), replay_children=True)
    host = hosted(map_of([1, 2, 3, 4, 5]), [h.execution(None), op], execution_arn="arn:s")
    host.advance()
    if checked:
        assert isinstance(host.outcome, dg.Failed), host.outcome
        assert "Map 'm' with 4 items" in host.outcome.error.error_message
    else:
        assert not isinstance(host.outcome, dg.Failed), host.outcome
