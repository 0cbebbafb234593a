"""Default operation names as AWS's SDK gives them, and histories recorded before the change.

A step, condition or child without an explicit name is named only after a ``@dg.step``
function (a step) or a ``@dg.workflow`` function (a child); a plain function or a lambda leaves
it unnamed. A history recorded by an earlier durable_gen, which named these after any
function, still replays; any other name difference is still a divergence.
"""

from __future__ import annotations

from typing import Any

import durable_gen as dg
from durable_gen._ids import operation_id
from durable_gen.testing import TestRunner, replay


def plain_add(x: int) -> int:
    return x + 1


@dg.step
def marked_add(x: int) -> int:
    return x + 1


def plain_child(x: int):  # type: ignore[no-untyped-def]
    return (yield dg.Step(plain_add, (x,)))


@dg.workflow
def marked_child(x: int):  # type: ignore[no-untyped-def]
    return (yield dg.Step(plain_add, (x,)))


def grow(state: int) -> int:
    return state + 1


def until_two(state: int, _attempt: int) -> dg.WaitDecision:
    return dg.WaitDecision.done() if state >= 2 else dg.WaitDecision.again(1)


def unnamed_everything(_event: Any):  # type: ignore[no-untyped-def]
    a = yield dg.Step(plain_add, (1,))
    b = yield dg.Step(lambda: 10)
    c = yield dg.WaitForCondition(grow, 0, wait_strategy=until_two)
    d = yield dg.Child(plain_child, (5,))
    return [a, b, c, d]


def marked_everything(_event: Any):  # type: ignore[no-untyped-def]
    a = yield marked_add(1)
    b = yield dg.Step(marked_add, (2,))
    c = yield dg.Child(marked_child, (5,))
    return [a, b, c]


def _names(run: Any) -> list[tuple[str, str | None]]:
    return [
        (op.type, op.name)
        for op in run.operations()
        if op.type != "EXECUTION" and op.parent_id is None
    ]


def test_plain_functions_and_lambdas_leave_operations_unnamed() -> None:
    run = TestRunner().run(unnamed_everything, None)
    assert run.result() == [2, 10, 2, 6]
    assert _names(run) == [("STEP", None), ("STEP", None), ("STEP", None), ("CONTEXT", None)]


def test_marked_functions_name_operations() -> None:
    run = TestRunner().run(marked_everything, None)
    assert run.result() == [2, 3, 6]
    assert _names(run) == [
        ("STEP", "marked_add"),
        ("STEP", "marked_add"),
        ("CONTEXT", "marked_child"),
    ]


def test_an_explicit_name_wins() -> None:
    def wf(_event: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Step(marked_add, (1,), name="given"))

    run = TestRunner().run(wf, None)
    assert _names(run) == [("STEP", "given")]


def _legacy_history(first_step_name: str) -> dict[str, Any]:
    """What an earlier durable_gen recorded for ``unnamed_everything`` (children named after
    their functions): a completed step, condition and child, then nothing more."""
    child_id = operation_id(None, 4)
    ops: list[dict[str, Any]] = [
        {
            "Id": "exec",
            "Type": "EXECUTION",
            "Status": "STARTED",
            "ExecutionDetails": {"InputPayload": "null"},
        },
        {
            "Id": operation_id(None, 1),
            "Type": "STEP",
            "SubType": "Step",
            "Name": first_step_name,
            "Status": "SUCCEEDED",
            "StepDetails": {"Result": "2", "Attempt": 1},
        },
        {
            "Id": operation_id(None, 2),
            "Type": "STEP",
            "SubType": "Step",
            "Status": "SUCCEEDED",
            "StepDetails": {"Result": "10", "Attempt": 1},
        },
        {
            "Id": operation_id(None, 3),
            "Type": "STEP",
            "SubType": "WaitForCondition",
            "Name": "grow",
            "Status": "SUCCEEDED",
            "StepDetails": {"Result": "2", "Attempt": 2},
        },
        {
            "Id": child_id,
            "Type": "CONTEXT",
            "SubType": "RunInChildContext",
            "Name": "plain_child",
            "Status": "STARTED",
        },
        {
            "Id": operation_id(child_id, 1),
            "ParentId": child_id,
            "Type": "STEP",
            "SubType": "Step",
            "Name": "plain_add",
            "Status": "SUCCEEDED",
            "StepDetails": {"Result": "6", "Attempt": 1},
        },
    ]
    return {"Operations": ops}


def test_a_history_recorded_with_the_old_default_names_replays() -> None:
    report = replay(unnamed_everything, _legacy_history("plain_add"))
    assert report.status == "ok", report
    assert report.outcome == "succeeded"
    assert report.result == [2, 10, 2, 6]


def test_a_renamed_step_still_diverges() -> None:
    report = replay(unnamed_everything, _legacy_history("add_one"))
    assert report.status == "diverged", report
    assert "add_one" in report.message


def test_a_named_command_does_not_take_a_legacy_name() -> None:
    """The old name is accepted only for a command that now goes unnamed."""

    def named(_event: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Step(plain_add, (1,), name="other"))

    report = replay(named, _legacy_history("plain_add"))
    assert report.status == "diverged", report


def test_an_old_history_continues_under_the_new_names() -> None:
    """An execution an earlier durable_gen started goes on: its recorded step answers from
    the history, and the next one is asked for unnamed."""
    calls: list[int] = []

    def counted(x: int) -> int:
        calls.append(x)
        return x + 1

    def wf(_event: Any):  # type: ignore[no-untyped-def]
        a = yield dg.Step(counted, (1,))
        b = yield dg.Step(counted, (a,))
        return b

    old = {
        "Operations": [
            {
                "Id": "exec",
                "Type": "EXECUTION",
                "Status": "STARTED",
                "ExecutionDetails": {"InputPayload": "null"},
            },
            {
                "Id": operation_id(None, 1),
                "Type": "STEP",
                "SubType": "Step",
                "Name": "counted",
                "Status": "SUCCEEDED",
                "StepDetails": {"Result": "2", "Attempt": 1},
            },
        ]
    }
    report = replay(wf, old)
    assert report.status == "incomplete", report
    assert report.next_commands and "name=" not in report.next_commands[0]
    assert calls == []
