"""A callback answered differently in two runs is the answer's doing, and the check says so
(not that the workflow body reads the clock)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import DurableRun, assert_deterministic


def hand_over(callback_id: str) -> None:
    """The submitter: sends the id somewhere."""


def waits_for_callback(_: Any):  # type: ignore[no-untyped-def]
    return (yield dg.WaitForCallback(hand_over, name="approval", timeout=3600))


def creates_callback(_: Any):  # type: ignore[no-untyped-def]
    handle = yield dg.CreateCallback(name="approval", timeout=3600)
    yield dg.Step(hand_over, (handle.callback_id,), name="hand-over")
    return (yield handle)


@pytest.mark.parametrize("workflow", [waits_for_callback, creates_callback])
def test_a_callback_answered_otherwise_in_each_run_is_blamed_on_the_answer(workflow: Any) -> None:
    answers = itertools.count()

    def answer_anew(run: DurableRun) -> None:
        run.send_callback_success("approval", f"yes-{next(answers)}")

    with pytest.raises(AssertionError) as failure:
        assert_deterministic(workflow, None, on_idle=answer_anew)
    message = str(failure.value)
    assert "callback 'approval' ended differently" in message, message
    assert "on_idle" in message
    assert "dg.Now()" not in message  # no body read to blame
