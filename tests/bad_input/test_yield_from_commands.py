"""``yield from`` over a tuple or list of commands: a typed error that says how to yield them.

``for command in commands: yield command`` is rewritten by linters (ruff's UP028) into
``yield from commands``, which sends each command's result into the tuple's iterator.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, replay


@dg.step
def add_one(x: int) -> int:
    return x + 1


@dg.step
def note(x: int) -> None:
    return None


def one_by_one(_: int) -> Generator[Any, Any, int]:
    for command in (add_one(1), add_one(2)):  # noqa: UP028 (what this file is about)
        yield command
    return 0


def from_tuple(_: int) -> Generator[Any, Any, int]:
    yield from (add_one(1), add_one(2))
    return 0


def from_list(_: int) -> Generator[Any, Any, int]:
    yield from [add_one(1), add_one(2)]
    return 0


def from_map(_: int) -> Generator[Any, Any, int]:
    yield from map(add_one, [1, 2])
    return 0


def results_dropped(_: int) -> Generator[Any, Any, int]:
    yield from (note(1), note(2))  # a None result is sent as next(): nothing to refuse
    return 0


@pytest.mark.parametrize(
    ("workflow", "kind"), [(from_tuple, "tuple"), (from_list, "list"), (from_map, "map")]
)
def test_yield_from_over_commands_is_a_workflow_definition_error(workflow: Any, kind: str) -> None:
    run = TestRunner().run(workflow, 0)
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "WorkflowDefinitionError"
    message = run.error.error_message or ""
    assert f"`yield from` over a {kind} of commands" in message
    assert "for command in commands" in message and "dg.Parallel" in message


def test_the_rewrite_deployed_over_running_executions_fails_them_alike_with_advice() -> None:
    """What the loop recorded replays up to the first result, then the same typed error."""
    history = TestRunner().run(one_by_one, 0).export()
    report = replay(from_tuple, history)
    assert report.status == "failed"
    assert "WorkflowDefinitionError" in report.message
    assert "yield each command on its own" in report.message.lower()


def test_commands_returning_none_pass_through_yield_from() -> None:
    run = TestRunner().run(results_dropped, 0)
    assert run.status == "SUCCEEDED"
    assert [op.name for op in run.operations(type="STEP")] == ["note", "note"]


def test_a_send_called_in_the_body_keeps_its_own_error() -> None:
    def calls_send(_: int) -> Generator[Any, Any, int]:
        yield add_one(1)
        iter((1, 2)).send(None)  # type: ignore[attr-defined]
        return 0

    run = TestRunner().run(calls_send, 0)
    assert run.error is not None and run.error.error_type == "AttributeError"
