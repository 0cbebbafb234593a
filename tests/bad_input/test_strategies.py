"""Bad input to ``durable_gen.testing.strategies``: program nodes built by hand, the
strategies' options and ``expected_result`` each refuse what the program workflow cannot run
with a ``ValidationError`` where it is given. Before, a node such as ``WaitNode(0)`` was
accepted, ``expected_result`` promised ``"waited"``, and the run failed; a strategy option
such as ``max_nodes=0`` failed inside hypothesis at the first draw."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner
from durable_gen.testing.strategies import (
    CallbackNode,
    ChildNode,
    MapNode,
    ParallelNode,
    StepNode,
    WaitNode,
    crash_schedules,
    expected_result,
    program_input,
    program_workflow,
    programs,
)

CASES: list[tuple[str, Callable[[], object], str]] = [
    ("step-outcome", lambda: StepNode(1, outcome="weird"), "StepNode outcome must be one of"),
    ("step-value-str", lambda: StepNode("1"), "StepNode value must be a whole number"),
    ("step-value-bool", lambda: StepNode(True), "StepNode value must be a whole number"),
    ("step-value-dict", lambda: StepNode({"a": 1}), "StepNode value must be a whole number"),
    ("step-failures", lambda: StepNode(1, outcome="flaky", failures=-1), "from 0"),
    ("wait-zero", lambda: WaitNode(0), "WaitNode seconds must be a whole number from 1"),
    ("wait-float", lambda: WaitNode(1.5), "WaitNode seconds"),
    ("wait-too-long", lambda: WaitNode(10**9), "to 31622400"),
    ("callback-answer", lambda: CallbackNode(1, "maybe"), "CallbackNode answer must be one of"),
    ("map-items-str", lambda: MapNode("abc"), "MapNode items must be a list"),
    ("map-items-float", lambda: MapNode([1.5]), "MapNode items must be a whole number"),
    ("map-items-bool", lambda: MapNode([True]), "MapNode items must be a whole number"),
    ("parallel-int", lambda: ParallelNode(5), "ParallelNode branches must be a list"),
    (
        "parallel-flat",
        lambda: ParallelNode([StepNode(1)]),
        "ParallelNode branches must be a program",
    ),
    ("child-virtual", lambda: ChildNode([], virtual="yes"), "ChildNode virtual must be True"),
    ("child-body", lambda: ChildNode([5]), "ChildNode body must be a program"),
    ("expected-not-nodes", lambda: expected_result([5]), "expected_result needs a program"),
    ("expected-one-node", lambda: expected_result(MapNode([1])), "expected_result needs a program"),
    ("programs-max-nodes", lambda: programs(max_nodes=0), "max_nodes must be a whole number >= 1"),
    ("programs-max-leaves", lambda: programs(max_leaves=-1), "max_leaves must be a whole number"),
    ("crash-max-point", lambda: crash_schedules(max_point=0), "max_point must be a whole number"),
    ("crash-max-points", lambda: crash_schedules(max_points=-1), "max_points must be a whole"),
]


@pytest.mark.parametrize(("make", "said"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_bad_strategy_input_is_refused_where_it_is_given(
    make: Callable[[], object], said: str
) -> None:
    with pytest.raises(dg.ValidationError) as caught:
        make()
    assert said in str(caught.value)


GOOD: list[list[Any]] = [
    [StepNode(0), StepNode(7, outcome="fail"), StepNode(3, outcome="flaky", failures=2)],
    [WaitNode(1), WaitNode(31_622_400), CallbackNode(4, "timeout")],
    [MapNode([]), MapNode([-1, 0, 2])],
    [ParallelNode([]), ParallelNode([[StepNode(1)], [ChildNode([MapNode([1])], virtual=True)]])],
    [ChildNode([])],
]


@pytest.mark.parametrize("program", GOOD)
def test_what_the_table_describes_is_still_accepted_and_runs_as_expected(
    program: list[Any],
) -> None:
    run = TestRunner().run(program_workflow, program_input(program))
    run.runner.run_until_idle(include_callback_timeouts=True)
    assert run.result() == expected_result(program)
    crash_schedules(max_point=1, max_points=0)
    programs(kinds=("map",), max_nodes=1, max_leaves=1)
