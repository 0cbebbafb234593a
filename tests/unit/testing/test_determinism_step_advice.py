"""A step whose result differs between two runs is blamed on the step (its arguments, or what
it returns), whatever SubType it records: ``"Step"`` or a ``sub_type=`` of its own."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import assert_deterministic


@pytest.mark.parametrize("sub_type", [None, "Fetch"])
def test_a_step_returning_something_new_each_run_is_blamed_on_the_step(
    sub_type: str | None,
) -> None:
    counter = itertools.count()
    fresh: Callable[[], int] = lambda: next(counter)  # noqa: E731

    def workflow(_: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Step(fresh, name="ticket", sub_type=sub_type))

    with pytest.raises(AssertionError) as failure:
        assert_deterministic(workflow, None, random_runs=0)
    message = str(failure.value)
    assert f"STEP/{sub_type or 'Step'} 'ticket'" in message, message
    assert "step 'ticket' ended differently" in message, message
    assert "the value is computed in the workflow body" not in message
