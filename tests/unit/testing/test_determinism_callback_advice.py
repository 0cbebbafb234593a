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


@dg.step
def _notify(callback_id: str) -> str:
    return f"sent {callback_id}"


def _named_after_the_callback(_: Any):  # type: ignore[no-untyped-def]
    handle = yield dg.CreateCallback(name="approval", timeout=600)
    yield dg.Step(_notify, (handle.callback_id,), name=f"notify-{handle.callback_id}")
    ids = yield dg.Map(
        lambda cid, _: cid, [handle.callback_id], item_namer=lambda cid, _: f"ask {cid}"
    )
    answer = yield handle
    return [answer, len(ids.items)]


def test_a_name_built_from_a_callback_id_is_no_difference() -> None:
    """The engine draws callback ids at random, so an operation named after one (a notify
    step, a Map item) had another name in each run: the check failed the workflow as
    non-deterministic, blaming a clock or random read in its body. Its execution replays
    the same name every time (the id is recorded)."""

    def approve(run: DurableRun) -> None:
        run.send_callback_success("approval", "yes")

    assert_deterministic(_named_after_the_callback, None, on_idle=approve, random_runs=2)
