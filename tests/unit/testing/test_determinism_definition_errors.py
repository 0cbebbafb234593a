"""``assert_deterministic`` / ``DeterminismCheck`` never pass a workflow that cannot run.

A workflow with a definition mistake fails every run the same way (``WorkflowDefinitionError``),
so no two runs differ; the check must still fail, since nothing it was asked about ran.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import CrashSchedule, DeterminismCheck, assert_deterministic


def plain_function(order: Any) -> Any:
    return order


async def async_workflow(order: Any) -> Any:
    return order


def takes_nothing():  # type: ignore[no-untyped-def]
    yield dg.Wait(seconds=1)


def yields_a_value(order: Any) -> dg.Workflow[Any]:
    yield dg.Wait(seconds=1)
    yield 5  # type: ignore[misc]
    return order


def yields_a_sub_workflow(order: Any) -> dg.Workflow[Any]:
    yield takes_nothing()  # type: ignore[misc]
    return order


@dg.step
def reserve(x: Any) -> Any:
    return x


BROKEN: list[tuple[Callable[..., Any], str]] = [
    (plain_function, "not a generator function"),
    (async_workflow, "async def"),
    (takes_nothing, "one positional argument"),
    (yields_a_value, "not a durable_gen command"),
    (yields_a_sub_workflow, "yield from"),
]


@pytest.mark.parametrize(("workflow", "said"), BROKEN, ids=lambda x: getattr(x, "__name__", ""))
def test_assert_deterministic_fails_a_workflow_that_cannot_run(
    workflow: Callable[..., Any], said: str
) -> None:
    with pytest.raises(AssertionError, match="cannot run") as caught:
        assert_deterministic(workflow, {"id": 1}, random_runs=1)
    assert said in str(caught.value)
    assert "WorkflowDefinitionError" in str(caught.value)


@pytest.mark.parametrize(("workflow", "said"), BROKEN[:2], ids=lambda x: getattr(x, "__name__", ""))
def test_determinism_check_fails_it_too(workflow: Callable[..., Any], said: str) -> None:
    check = DeterminismCheck(workflow, {"id": 1})
    with pytest.raises(AssertionError, match="cannot run"):
        check.check(CrashSchedule.at_every_checkpoint())


def _fails_as_designed(order: Any) -> dg.Workflow[Any]:
    yield from reserve(order)
    raise ValueError("out of stock")


def _item_fails_with_a_definition_error(_: Any) -> dg.Workflow[Any]:
    # a lambda returning a generator runs as a step: that item fails, the workflow goes on
    batch = yield from dg.Parallel([lambda: takes_nothing(), lambda: 1])
    return [i.status for i in batch.items]


@pytest.mark.parametrize("workflow", [_fails_as_designed, _item_fails_with_a_definition_error])
def test_a_workflow_that_runs_and_fails_or_catches_is_still_checked_as_before(
    workflow: Callable[..., Any],
) -> None:
    assert_deterministic(workflow, {"id": 1}, random_runs=1)
