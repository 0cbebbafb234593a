"""Handlers of the ``callback`` requirements (4-x): ``CreateCallback`` and ``yield handle``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import durable_gen as dg


@dg.step
def do_work() -> str:
    return "work done"


@dg.workflow
def callback_basic(event: str):  # 4-1
    handle = yield dg.CreateCallback(name=event)
    return (yield handle)


@dg.workflow
def callback_named(_event: None):  # 4-2
    handle = yield dg.CreateCallback(name="approval")
    return (yield handle)


@dg.workflow
def callback_timeout(event: str):  # 4-3
    handle = yield dg.CreateCallback(name=event, timeout=5)
    return (yield handle)


@dg.workflow
def callback_heartbeat_timeout(event: str):  # 4-4
    handle = yield dg.CreateCallback(name=event, heartbeat_timeout=5)
    return (yield handle)


@dg.workflow
def callback_heartbeat_then_success(event: str):  # 4-5
    handle = yield dg.CreateCallback(name=event, heartbeat_timeout=10)
    return (yield handle)


@dg.workflow
def callback_failure(event: str):  # 4-6
    handle = yield dg.CreateCallback(name=event)
    return (yield handle)


@dg.workflow
def callback_step_then_failure(event: str):  # 4-7
    handle = yield dg.CreateCallback(name=event)
    yield do_work()
    return (yield handle)


@dg.workflow
def callback_step_then_timeout(event: str):  # 4-8
    handle = yield dg.CreateCallback(name=event, timeout=5)
    yield do_work()
    return (yield handle)


@dg.workflow
def callback_wait_then_success(event: str):  # 4-9
    handle = yield dg.CreateCallback(name=event)
    yield dg.Wait(seconds=5)
    return (yield handle)


@dg.workflow
def callback_wait_then_failure(event: str):  # 4-10
    handle = yield dg.CreateCallback(name=event)
    yield dg.Wait(seconds=5)
    return (yield handle)


@dg.workflow
def callback_times_out_during_wait(event: str):  # 4-11
    handle = yield dg.CreateCallback(name=event, timeout=3)
    yield dg.Wait(seconds=6)
    return (yield handle)


@dg.workflow
def callback_then_wait(event: str):  # 4-12
    handle = yield dg.CreateCallback(name=event)
    result = yield handle
    yield dg.Wait(seconds=2)
    return result


@dg.workflow
def callback_failure_caught(event: str):  # 4-13
    handle = yield dg.CreateCallback(name=event)
    try:
        message = yield handle
    except dg.CallbackFailedError as exc:
        message = f"callback failed: {exc.error_message}"
    yield dg.Wait(seconds=2)
    return message


@dg.workflow
def callback_timeout_caught(event: str):  # 4-14
    handle = yield dg.CreateCallback(name=event, timeout=3)
    try:
        message = yield handle
    except dg.CallbackTimeoutError as exc:
        message = f"callback timed out: {exc.error_type}"
    yield dg.Wait(seconds=2)
    return message


class ReceivedSerdes:
    """Reads ``{"id", "message", "timestamp": ISO-8601}``, the timestamp as epoch seconds."""

    def serialize(self, value: dict[str, Any]) -> str:
        iso = datetime.fromtimestamp(value["timestamp"]).astimezone().isoformat()
        return json.dumps({**value, "timestamp": iso})

    def deserialize(self, payload: str) -> dict[str, Any]:
        data = json.loads(payload)
        stamp = datetime.fromisoformat(data["timestamp"].replace("Z", "+00:00"))
        return {"id": data["id"], "message": data["message"], "timestamp": int(stamp.timestamp())}


@dg.workflow
def callback_custom_serdes(event: str):  # 4-15
    handle = yield dg.CreateCallback(name=event, serdes=ReceivedSerdes())
    return {"received": (yield handle)}


class NumberSerdes:
    """Reads a callback result as a number."""

    def serialize(self, value: float) -> str:
        return str(value)

    def deserialize(self, payload: str) -> float:
        number = float(json.loads(payload))
        return int(number) if number.is_integer() else number


@dg.workflow
def callback_numeric_serdes(event: str):  # 4-16
    handle = yield dg.CreateCallback(name=event, serdes=NumberSerdes())
    count = yield handle
    return {"count": count, "doubled": count * 2}


@dg.workflow
def two_callbacks_sequential(event: list[str]):  # 4-17
    first = yield dg.CreateCallback(name=event[0])
    a = yield first
    second = yield dg.CreateCallback(name=event[1])
    b = yield second
    return [a, b]


@dg.workflow
def two_callbacks_in_order(event: list[str]):  # 4-18
    first = yield dg.CreateCallback(name=event[0])
    second = yield dg.CreateCallback(name=event[1])
    a = yield first
    b = yield second
    return [a, b]


@dg.workflow
def two_callbacks_reverse_order(event: list[str]):  # 4-19
    first = yield dg.CreateCallback(name=event[0])
    second = yield dg.CreateCallback(name=event[1])
    b = yield second
    a = yield first
    return [a, b]


HANDLERS = {
    "4-1": callback_basic,
    "4-2": callback_named,
    "4-3": callback_timeout,
    "4-4": callback_heartbeat_timeout,
    "4-5": callback_heartbeat_then_success,
    "4-6": callback_failure,
    "4-7": callback_step_then_failure,
    "4-8": callback_step_then_timeout,
    "4-9": callback_wait_then_success,
    "4-10": callback_wait_then_failure,
    "4-11": callback_times_out_during_wait,
    "4-12": callback_then_wait,
    "4-13": callback_failure_caught,
    "4-14": callback_timeout_caught,
    "4-15": callback_custom_serdes,
    "4-16": callback_numeric_serdes,
    "4-17": two_callbacks_sequential,
    "4-18": two_callbacks_in_order,
    "4-19": two_callbacks_reverse_order,
}
