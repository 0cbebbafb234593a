"""``_aws_names`` gives the names AWS's SDK records: checked by unit and against every name in
the histories AWS's SDK recorded (``fixtures/``)."""

from __future__ import annotations

import json

import pytest

import durable_gen as dg
from durable_gen import _aws_names as names

from . import _support as s
from .workflows import CASES


def test_wait_for_callback_names() -> None:
    assert names.wait_for_callback_names("approval") == (
        "approval create callback id",
        "approval submitter",
    )
    assert names.wait_for_callback_names(None) == ("create callback id", "submitter")
    assert names.wait_for_callback_names("") == ("create callback id", "submitter")


def test_old_and_new_wait_for_callback_names_tell_apart() -> None:
    assert names.is_aws_wait_for_callback_name("x", "x submitter")
    assert names.is_aws_wait_for_callback_name("x", "x create callback id")
    assert not names.is_aws_wait_for_callback_name("x", "register")
    assert not names.is_aws_wait_for_callback_name("x", None)
    assert names.is_aws_wait_for_callback_name(None, "submitter")


def _plain(x: int) -> int:
    return x


@dg.step
def marked(x: int) -> int:
    return x


def test_default_names_come_only_from_marked_functions() -> None:
    assert names.default_name("given") == "given"
    assert names.default_name("given", marked) == "given"
    assert names.default_name("", marked) == "marked"
    assert names.default_name(None, marked) == "marked"
    assert names.default_name(None) is None
    assert names.default_name("", None) is None


def test_item_and_branch_names() -> None:
    assert names.map_item_name(0) == "map-item-0"
    assert names.map_item_name(3, "order-7") == "order-7"
    assert names.parallel_branch_name(1) == "parallel-branch-1"
    assert names.parallel_branch_name(1, "first") == "first"
    assert names.parallel_branch_name(1, "") == ""


def _recorded(case: str) -> list[dict[str, object]]:
    ops: list[dict[str, object]] = s.fixture(case, "state")["Operations"]
    return [op for op in ops if op["Type"] != "EXECUTION"]


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("wait_for_callback")])
def test_recorded_wait_for_callback_names(case: str) -> None:
    ops = _recorded(case)
    [context] = [op for op in ops if op.get("SubType") == "WaitForCallback"]
    inner = {op["Type"]: op.get("Name") for op in ops if op.get("ParentId") == context["Id"]}
    callback, submitter = names.wait_for_callback_names(context.get("Name"))  # type: ignore[arg-type]
    assert inner == {"CALLBACK": callback, "STEP": submitter}


def test_recorded_item_and_branch_names() -> None:
    seen = 0
    for case in CASES:
        ops = _recorded(case)
        by_parent: dict[object, list[dict[str, object]]] = {}
        for op in ops:
            by_parent.setdefault(op.get("ParentId"), []).append(op)
        for op in ops:
            if op.get("SubType") not in ("Map", "Parallel"):
                continue
            children = by_parent.get(op["Id"], [])
            for index, child in enumerate(children):
                custom = None
                if case == "map_item_namer":
                    custom = ("item-a", "item-b")[index]
                elif case == "parallel_named_branches":
                    custom = ("first", "second")[index]
                expected = (
                    names.map_item_name(index, custom)
                    if op["SubType"] == "Map"
                    else names.parallel_branch_name(index, custom)
                )
                assert child.get("Name") == expected, (case, index)
                seen += 1
    assert seen >= 20


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("step_unnamed_lambda", None),  # a lambda: no name
        ("step_default_name", "add"),  # @durable_step
        ("wait_for_condition_unnamed", None),  # an unmarked check function: no name
        ("child_context_default_name", "decorated_child"),  # @durable_with_child_context
        ("wait_for_callback_decorated", "submit_ticket"),  # @durable_wait_for_callback
        ("map_unnamed", None),
        ("callback_unnamed", None),
    ],
)
def test_recorded_default_names(case: str, expected: str | None) -> None:
    first = _recorded(case)[0]
    assert first.get("Name") == expected
    assert json.dumps(first.get("Name")) == json.dumps(expected)
