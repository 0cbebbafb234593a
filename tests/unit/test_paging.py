"""``load_operations``: every page read once, paging that ends, and the checks on what was read."""

from __future__ import annotations

import pytest

import durable_gen as dg
from durable_gen._paging import check_operations, load_operations
from durable_gen._wire import ExecutionState, Operation, StepDetails


def op(id: str, type: str = "STEP", status: str = "SUCCEEDED", **kw: object) -> Operation:
    details = kw.pop("details", StepDetails(attempt=1, result="1") if type == "STEP" else None)
    return Operation(id=id, type=type, status=status, step_details=details, **kw)  # type: ignore[arg-type]


def test_pages_are_read_in_order_once_each() -> None:
    pages = {
        "b": ExecutionState(operations=[op("2")], next_marker="c"),
        "c": ExecutionState(operations=[op("3")]),
    }
    asked: list[str] = []

    def fetch(marker: str) -> ExecutionState:
        asked.append(marker)
        return pages[marker]

    first = ExecutionState(operations=[op("e", "EXECUTION", "STARTED"), op("1")], next_marker="b")
    assert [o.id for o in load_operations(first, fetch)] == ["e", "1", "2", "3"]
    assert asked == ["b", "c"]


def test_an_empty_marker_ends_paging() -> None:
    def fetch(marker: str) -> ExecutionState:
        raise AssertionError("no page should be fetched")

    assert load_operations(ExecutionState(operations=[op("1")], next_marker=""), fetch) == [op("1")]


def test_the_page_cap_counts_the_first_page() -> None:
    def fetch(marker: str) -> ExecutionState:
        return ExecutionState(next_marker=marker + "x")

    with pytest.raises(dg.InvalidInputError, match="did not end after 3 pages"):
        load_operations(ExecutionState(next_marker="m"), fetch, max_pages=3)


def test_a_repeated_marker_is_refused_before_it_is_fetched_again() -> None:
    asked: list[str] = []

    def fetch(marker: str) -> ExecutionState:
        asked.append(marker)
        return ExecutionState(next_marker="m")

    with pytest.raises(dg.InvalidInputError, match="NextMarker 'm' a second time"):
        load_operations(ExecutionState(next_marker="m"), fetch)
    assert asked == ["m"]


@pytest.mark.parametrize("status", ["STARTED", "PENDING", "READY"])
def test_an_open_step_may_have_no_details(status: str) -> None:
    check_operations([op("1", status=status, details=None)])


def test_finished_steps_need_details_other_types_do_not() -> None:
    with pytest.raises(
        dg.InvalidInputError, match=r"SUCCEEDED STEP '1' \('pay'\) has no StepDetails"
    ):
        check_operations([op("1", details=None, name="pay")])
    with pytest.raises(dg.InvalidInputError, match="recorded error is missing"):
        check_operations([op("1", status="FAILED", details=None)])
    check_operations([op("1", "WAIT"), op("2", "CONTEXT"), op("3", "CALLBACK", "FAILED")])


def test_a_repeated_id_names_both_positions() -> None:
    with pytest.raises(dg.InvalidInputError, match=r"'1' appears twice .*operations 0 and 2"):
        check_operations([op("1"), op("2"), op("1", "WAIT")])


def test_one_execution_operation_at_most() -> None:
    check_operations([op("e", "EXECUTION", "STARTED"), op("1")])
    with pytest.raises(dg.InvalidInputError, match="two EXECUTION operations"):
        check_operations([op("e", "EXECUTION", "STARTED"), op("f", "EXECUTION", "STARTED")])


def test_a_negative_attempt_is_corrupt() -> None:
    check_operations([op("1", status="READY", details=StepDetails(attempt=0))])
    with pytest.raises(dg.InvalidInputError, match="Attempt -1"):
        check_operations([op("1", status="READY", details=StepDetails(attempt=-1))])


def test_every_operation_type_takes_succeeded() -> None:
    """check_operations' quick pass lets SUCCEEDED through without a lookup: true for all."""
    from durable_gen._paging import STATUSES

    assert all("SUCCEEDED" in statuses for statuses in STATUSES.values())
