"""Handlers of the ``wait_for_condition`` requirements (6-x): ``dg.WaitForCondition``."""

from __future__ import annotations

import base64
import json
from typing import Any

import durable_gen as dg


def increment(state: int) -> int:
    return state + 1


def unchanged(state: Any) -> Any:
    return state


def at_least(threshold: int, *, delay: int = 1, max_attempts: int | None = None) -> dg.WaitStrategy:
    """Poll every ``delay`` seconds until the state reaches ``threshold``."""
    return dg.WaitStrategy(
        until=lambda state: state >= threshold, delay=delay, max_attempts=max_attempts
    )


@dg.workflow
def poll_until_threshold(threshold: int):  # 6-1
    return (yield dg.WaitForCondition(increment, 0, at_least(threshold)))


@dg.workflow
def condition_met_at_once(initial: int):  # 6-2
    return (yield dg.WaitForCondition(unchanged, initial, at_least(5)))


@dg.workflow
def named_condition(threshold: int):  # 6-3
    return (yield dg.WaitForCondition(increment, 0, at_least(threshold), name="poll-status"))


@dg.workflow
def custom_initial_state(threshold: int):  # 6-4
    return (yield dg.WaitForCondition(increment, 5, at_least(threshold)))


@dg.workflow
def fixed_delay(threshold: int):  # 6-5
    return (yield dg.WaitForCondition(increment, 0, at_least(threshold, delay=2)))


@dg.workflow
def max_attempts_exceeded(initial: int):  # 6-6
    never = dg.WaitStrategy(until=lambda state: False, delay=1, max_attempts=3)
    return (yield dg.WaitForCondition(increment, initial, never))


def broken_check(state: Any) -> Any:
    raise RuntimeError("status endpoint unavailable")


@dg.workflow
def check_raises(_event: None):  # 6-7
    return (yield dg.WaitForCondition(broken_check, None, at_least(1)))


@dg.workflow
def check_raises_caught(_event: None):  # 6-8
    try:
        return (yield dg.WaitForCondition(broken_check, None, at_least(1)))
    except dg.StepFailedError:
        return "recovered"


def advance_job(state: dict[str, Any]) -> dict[str, Any]:
    attempts = state["attempts"] + 1
    return {"status": "DONE" if attempts >= 2 else "PENDING", "attempts": attempts}


@dg.workflow
def object_state(_event: None):  # 6-9
    strategy = dg.WaitStrategy(until=lambda state: state["status"] != "PENDING", delay=1)
    initial = {"status": "PENDING", "attempts": 0}
    return (yield dg.WaitForCondition(advance_job, initial, strategy))


def returns_none(state: Any) -> None:
    return None


@dg.workflow
def null_state(_event: None):  # 6-10
    stop_at_once = dg.WaitStrategy(until=lambda state: True)
    return (yield dg.WaitForCondition(returns_none, None, stop_at_once))


class Base64Serdes:
    """Records the state as base64 of its JSON, so the payload is visibly not plain JSON."""

    def serialize(self, value: Any) -> str:
        return base64.b64encode(json.dumps(value).encode()).decode()

    def deserialize(self, payload: str) -> Any:
        return json.loads(base64.b64decode(payload))


def append_x(state: str) -> str:
    return state + "x"


@dg.workflow
def custom_state_serdes(_event: None):  # 6-11
    strategy = dg.WaitStrategy(until=lambda state: len(state) >= 2, delay=1)
    return (yield dg.WaitForCondition(append_x, "", strategy, serdes=Base64Serdes()))


@dg.step
def times_ten(value: int) -> int:
    return value * 10


@dg.workflow
def condition_then_step(threshold: int):  # 6-12
    reached = yield dg.WaitForCondition(increment, 0, at_least(threshold))
    return (yield times_ten(reached))


@dg.workflow
def sequential_conditions(_event: None):  # 6-13
    first = yield dg.WaitForCondition(increment, 0, at_least(2))
    return (yield dg.WaitForCondition(increment, first, at_least(4)))


HANDLERS = {
    "6-1": poll_until_threshold,
    "6-2": condition_met_at_once,
    "6-3": named_condition,
    "6-4": custom_initial_state,
    "6-5": fixed_delay,
    "6-6": max_attempts_exceeded,
    "6-7": check_raises,
    "6-8": check_raises_caught,
    "6-9": object_state,
    "6-10": null_state,
    "6-11": custom_state_serdes,
    "6-12": condition_then_step,
    "6-13": sequential_conditions,
}
