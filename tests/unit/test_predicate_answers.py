"""A ``WaitStrategy``'s ``until`` and a ``Retry``'s ``retry_if`` are called synchronously
and their answer is taken as a bool: an ``async def`` one, or an ``until`` that returns a
``WaitDecision`` (what a ``wait_strategy`` returns), would answer True whatever it computes,
and the polling would stop at its first check. Each is a ``ValidationError`` saying what to
write instead."""

from __future__ import annotations

import functools
from collections.abc import Generator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner

Gen = Generator[Any, Any, Any]


def _count_up(state: int) -> int:
    return state + 1


def _decided(state: int) -> dg.WaitDecision:
    return dg.WaitDecision.done() if state >= 3 else dg.WaitDecision.again(5)


async def _async_at_three(state: int) -> bool:
    return state >= 3


class _AsyncCallable:
    async def __call__(self, state: int) -> bool:
        return state >= 3


def _polled(until: Any) -> Any:
    def workflow(x: int) -> Gen:
        strategy = dg.WaitStrategy(until=until, delay=5)
        return (yield dg.WaitForCondition(_count_up, 0, strategy, name="poll"))

    return workflow


def test_an_until_returning_a_bool_polls_until_it_holds() -> None:
    run = TestRunner().run(_polled(lambda s: s >= 3), 1)
    assert run.result() == 3


@pytest.mark.parametrize(
    ("until", "says"),
    [
        (_decided, "wait_strategy=fn"),
        (_AsyncCallable(), "Make it a plain def returning a bool"),
    ],
    ids=["WaitDecision", "async callable object"],
)
def test_an_until_whose_answer_is_always_true_fails_the_condition(until: Any, says: str) -> None:
    run = TestRunner().run(_polled(until), 1)
    assert run.status == "FAILED", run.result()
    assert run.error is not None
    (poll,) = run.operations(type="STEP")
    assert poll.error is not None and poll.error.error_type == "ValidationError"
    assert says in poll.error.error_message, poll.error.error_message


@pytest.mark.parametrize(
    "until",
    [_async_at_three, functools.partial(_async_at_three)],
    ids=["async def", "partial of an async def"],
)
def test_an_async_until_is_refused_where_the_strategy_is_built(until: Any) -> None:
    with pytest.raises(dg.ValidationError, match="async def"):
        dg.WaitStrategy(until=until, delay=5)


async def _async_transient(error: BaseException) -> bool:
    return False


def test_an_async_retry_if_is_refused_where_the_policy_is_built() -> None:
    with pytest.raises(dg.ValidationError, match="a Retry retry_if is an async def"):
        dg.Retry(retry_if=_async_transient)


class _AsyncTransient:
    async def __call__(self, error: BaseException) -> bool:
        return False


def test_an_async_callable_retry_if_fails_the_step_instead_of_retrying_it() -> None:
    @dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, retry_if=_AsyncTransient()))
    def refused(x: int) -> int:
        raise PermissionError("no")

    def workflow(x: int) -> Gen:
        return (yield refused(x))

    run = TestRunner().run(workflow, 1)
    assert run.status == "FAILED"
    (step,) = run.operations(type="STEP")
    assert step.attempts == 1, step  # not retried on a coroutine's truth
    assert run.error is not None
    assert "retry_if returned an awaitable" in str(run.error), run.error
