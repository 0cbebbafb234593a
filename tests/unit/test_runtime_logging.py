"""A runtime of one's own that drives ``durable_gen.runtime.Interpreter`` logs what the drivers log.

The host below is written from docs/embedding.md alone: a dict store changed by
``apply_updates``, timers fired by hand, a new ``Interpreter`` per invocation. What the guide
and docs/observability.md promise of logging must hold there too: every failed step attempt
is logged once at WARNING on ``durable_gen.steps`` with what follows, and workflow lines are
logged once per execution, across invocations that replay them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from tests.hosting import DictRuntime

NOW = 1_735_689_600_000


def dict_runtime(workflow: Any, payload: Any, mode: rt.CheckpointMode = "step") -> DictRuntime:
    """A synchronous runtime: one interpreter per invocation, steps inline."""
    return DictRuntime(
        workflow, json.dumps(payload), execution_arn="arn:host:1", checkpointing=mode, now_ms=NOW
    )


tries: list[int] = []


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=2, backoff=2, jitter="none"))
def typo(n: int) -> int:
    tries.append(n)
    if len(tries) < 3:
        raise NameError("name 'ammount' is not defined")
    return n


@dg.step(retry=dg.Retry.never())
def broken(n: int) -> int:
    raise TypeError(f"bad operand {n}")


def retried(n: int) -> dg.Workflow[Any]:
    value = yield from typo(n)
    yield from dg.Wait(seconds=5, name="after")  # one more invocation that replays it all
    try:
        yield from broken(n)
    except dg.StepFailedError as exc:
        return [value, exc.error_type]
    return [value]


def _step_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "durable_gen.steps"]


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_failed_attempts_are_logged_once_by_a_runtime_of_ones_own(
    mode: rt.CheckpointMode, caplog: pytest.LogCaptureFixture
) -> None:
    tries.clear()
    host = dict_runtime(retried, 7, mode)
    with caplog.at_level(logging.WARNING, logger="durable_gen.steps"):
        outcome = host.run()
    assert outcome == rt.Succeeded('[7,"TypeError"]')
    assert host.invocations == 4  # two retry delays, one wait: the last ones replay the rest
    records = _step_records(caplog)
    assert [r.getMessage() for r in records] == [
        "step 'typo' attempt 1 failed: NameError: name 'ammount' is not defined; retrying in 2 s",
        "step 'typo' attempt 2 failed: NameError: name 'ammount' is not defined; retrying in 4 s",
        "step 'broken' attempt 1 failed: TypeError: bad operand 7; not retried",
    ]
    assert [r.levelno for r in records] == [logging.WARNING] * 3
    first = records[0]
    fields = ("durableExecutionArn", "operationName", "attempt", "errorType")
    assert [first.__dict__[f] for f in fields] == ["arn:host:1", "typo", 1, "NameError"]
    assert [r.__dict__["nextAttemptDelaySeconds"] for r in records] == [2, 4, None]


def test_the_embedded_engine_logs_the_same_lines(caplog: pytest.LogCaptureFixture) -> None:
    tries.clear()
    with caplog.at_level(logging.WARNING, logger="durable_gen.steps"):
        assert dg.run(retried, 7, skip_time=True) == [7, "TypeError"]
    on_engine = [r.getMessage() for r in _step_records(caplog)]
    caplog.clear()
    tries.clear()
    with caplog.at_level(logging.WARNING, logger="durable_gen.steps"):
        dict_runtime(retried, 7).run()
    assert [r.getMessage() for r in _step_records(caplog)] == on_engine
    assert len(on_engine) == 3


step_log = dg.get_logger("tests.runtime_logging.step")


@dg.step
def charge(order: str) -> str:
    step_log.info("charging %s", order)
    return f"receipt-{order}"


@dg.step
async def charge_async(order: str) -> str:
    step_log.info("charging %s later", order)
    return f"receipt-{order}"


def checkout(order: str) -> dg.Workflow[list[str]]:
    first = yield from charge(order)
    second = yield from charge_async(order)
    return [first, second]


def test_what_a_step_logs_names_its_execution_and_attempt_in_a_runtime_of_ones_own(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Before, only the drivers set the step's context: in a runtime that calls task.fn itself,
    # a step's records had no durableExecutionArn, operationId, operationName or attempt.
    store = dict_runtime(checkout, "o-7").store
    interp = rt.Interpreter(checkout, list(store.values()), execution_arn="arn:host:2")
    with caplog.at_level(logging.INFO, logger="tests.runtime_logging.step"):
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                interp.observe(rt.apply_updates(store, action.updates, now_ms=NOW).operations)
            elif isinstance(action, rt.RunTasks):
                for task in action.tasks:
                    result = task.fn(*task.args, **task.kwargs)
                    if task.is_async:
                        result = asyncio.run(result)
                    interp.task_succeeded(task, result)
            else:
                assert isinstance(action, rt.Done)
                break
    assert action.outcome == rt.Succeeded('["receipt-o-7","receipt-o-7"]')
    records = [r for r in caplog.records if r.name == "tests.runtime_logging.step"]
    assert [r.getMessage() for r in records] == ["charging o-7", "charging o-7 later"]
    fields = ("durableExecutionArn", "operationName", "attempt")
    assert [[r.__dict__.get(f) for f in fields] for r in records] == [
        ["arn:host:2", "charge", 1],
        ["arn:host:2", "charge_async", 1],
    ]
    assert all(r.__dict__.get("operationId") for r in records)


paid: list[str] = []


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry(max_attempts=2, initial_delay=3, jitter="none"))
def pay(order: str) -> str:
    paid.append(order)
    return f"paid {order}"


def payment(order: str) -> dg.Workflow[str]:
    return (yield from pay(order))


def test_an_interrupted_at_most_once_attempt_is_logged_once_as_failed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Before, the attempt the interpreter recorded as interrupted (StepInterruptedError) was
    # logged by no host: it failed without a line, unlike every other failed attempt.
    paid.clear()
    host = dict_runtime(payment, "o-9")
    interp = rt.Interpreter(payment, list(host.store.values()), execution_arn="arn:host:3")
    while not isinstance(action := interp.next_action(), rt.RunTasks):
        assert isinstance(action, rt.Flush)  # the START goes out before the attempt runs
        interp.observe(rt.apply_updates(host.store, action.updates, now_ms=NOW).operations)
    # the process dies during the attempt: its START is recorded, its outcome never is
    with caplog.at_level(logging.WARNING, logger="durable_gen.steps"):
        outcome = host.run()
    assert outcome == rt.Succeeded('"paid o-9"') and paid == ["o-9"]
    (record,) = _step_records(caplog)
    assert record.getMessage().startswith(
        "step 'pay' attempt 1 failed: StepInterruptedError: step 'pay' attempt 1 started but "
        "never finished"
    )
    assert record.getMessage().endswith("; retrying in 3 s")
    assert record.__dict__["durableExecutionArn"] == "arn:host:1"  # the host's own ARN
