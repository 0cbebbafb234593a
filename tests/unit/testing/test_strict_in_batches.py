"""Under the pytest plugin (strict mode, ``UnyieldedCommandWarning`` an error) a command built
and never yielded fails the execution, as testing.md says, wherever the body that built it
runs: a Map item, a Parallel branch, a child context. Before, inside such a context it failed
only that item (``BatchResult`` reports failures without raising) or raised a catchable
``ChildFailedError``, and a test that did not read the item statuses passed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner


@dg.step
def reserve(item: Any) -> Any:
    return item


@dg.workflow
def forgets(item: Any) -> dg.Workflow[Any]:
    reserve(item)  # the mistake: built, never yielded
    return (yield from reserve(item))


@dg.workflow
def forgets_nothing() -> dg.Workflow[int]:
    yield from dg.Wait(seconds=1)
    return 1


@dg.workflow
def forgets_branch() -> dg.Workflow[Any]:
    return (yield from forgets("b"))


def _map(_: Any) -> dg.Workflow[Any]:
    batch = yield from dg.Map(forgets, ["a", "b"], completion=dg.Completion.all_completed())
    return batch.all_results()


def _parallel(_: Any) -> dg.Workflow[Any]:
    batch = yield from dg.Parallel([forgets_nothing, forgets_branch])
    return batch.all_results()


def _child_caught(_: Any) -> dg.Workflow[Any]:
    try:
        return (yield from dg.Child(forgets, ("c",), name="kid"))
    except dg.ChildFailedError:
        return "caught"


def _virtual_child_caught(_: Any) -> dg.Workflow[Any]:
    try:
        return (yield from dg.Child(forgets, ("c",), virtual=True))
    except dg.ChildFailedError:
        return "caught"


def _nested(_: Any) -> dg.Workflow[Any]:
    return (yield from dg.Child(_parallel, (None,), name="outer"))


@pytest.fixture(autouse=True)
def _strict_as_the_plugin_makes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from durable_gen import _guard

    monkeypatch.setattr(_guard, "strict", True)


@pytest.mark.filterwarnings("error::durable_gen.UnyieldedCommandWarning")
@pytest.mark.parametrize(
    "workflow", [_map, _parallel, _child_caught, _virtual_child_caught, _nested]
)
def test_an_unyielded_command_in_a_context_fails_the_execution(
    workflow: Callable[[Any], Any],
) -> None:
    run = TestRunner().run(workflow, None)
    assert run.status == "FAILED", run.result()
    assert run.error is not None and run.error.error_type == "UnyieldedCommandWarning"
    assert "never yielded" in (run.error.error_message or "")
