"""An operation whose Type is none of the Lambda API's six, in a store written by hand.

docs/embedding.md: a corrupt history ends the invocation ``Failed`` with an
``InvalidInputError`` naming the operation, and ``observe()`` refuses what no service sends.
A type the API does not have (a typo, ``"step"`` in lower case, another system's record) is
such a history: it is not a change of the workflow's code (``NonDeterminismError``), and not
something to skip over.
"""

from __future__ import annotations

from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from tests.unit.embedding_runtimes import start_store

FIRST = "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"  # root position 1


@dg.step
def one() -> int:
    return 1


def workflow(_: object) -> Any:
    return (yield one())


@pytest.mark.parametrize(
    "bad",
    [
        rt.Operation(
            id=FIRST,
            type="step",
            sub_type="Step",
            name="one",
            status="SUCCEEDED",
            step_details=rt.StepDetails(result="5"),
        ),
        rt.Operation(id=FIRST, type="BOGUS", status="SUCCEEDED"),
        rt.Operation(id="elsewhere", type="TIMER", status="STARTED"),
    ],
    ids=["lower-case", "at-a-position", "elsewhere"],
)
def test_an_operation_of_an_unknown_type_is_a_corrupt_history(bad: rt.Operation) -> None:
    operations = [*start_store("null", 0).values(), bad]
    action = rt.Interpreter(workflow, operations, execution_arn="arn:types").next_action()
    assert isinstance(action, rt.Done) and isinstance(action.outcome, rt.Failed)
    assert action.outcome.error.error_type == "InvalidInputError"
    assert bad.id in action.outcome.error.error_message
    assert repr(bad.type) in action.outcome.error.error_message


def test_observe_refuses_an_operation_of_an_unknown_type() -> None:
    interp = rt.Interpreter(workflow, list(start_store("null", 0).values()), execution_arn="a")
    action = interp.next_action()
    assert isinstance(action, rt.RunTasks)
    with pytest.raises(dg.ValidationError, match="'step'"):
        interp.observe([rt.Operation(id=FIRST, type="step", status="STARTED")])
