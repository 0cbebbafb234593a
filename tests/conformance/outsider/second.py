"""A second set of outsider handlers, for the 76 requirements ``handlers.py`` does not cover.

Written from docs/conformance.md, docs/guide.md and docs/api.md alone, without reading
``../handlers/`` or ``handlers.py``: a step that must fail on its first attempts counts its
attempts in ``_calls`` (reset before each requirement), items and branches that return a value
without an inner step are generator functions that return without yielding, and the
``totalCount`` of a projection counts the items that were started. The ``Invoke`` targets are
``handlers.FUNCTIONS``' (``echo`` returns its payload, ``always-fails`` raises).
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import durable_gen as dg

from ..handlers import Handler

_calls: Counter[str] = Counter()
_lock = threading.Lock()


def reset() -> None:
    _calls.clear()


def count(key: str) -> int:
    """How many times ``key`` was counted so far, this one included."""
    with _lock:
        _calls[key] += 1
        return _calls[key]


# --- step ---------------------------------------------------------------------------------


@dg.step
def say_hello(name: str) -> str:
    return f"Hello, {name}!"


@dg.workflow
def step_1_1(name: str):
    return (yield say_hello(name))


@dg.workflow
def step_1_8(_: Any):
    value = yield dg.Step(lambda: "computed", name="compute")
    yield dg.Wait(seconds=2)
    return value


def cache_me() -> str:
    count("cache_me")
    return "cached_value"


@dg.workflow
def step_1_9(_: Any):
    value = yield dg.Step(cache_me)
    yield dg.Wait(seconds=1)
    if _calls["cache_me"] != 1:  # the step ran again on replay
        raise RuntimeError(f"the step ran {_calls['cache_me']} times")
    return value


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, jitter="none"))
def fails_once() -> str:
    if count("fails_once") == 1:
        raise RuntimeError("first attempt fails")
    return "Operation succeeded"


@dg.workflow
def step_1_11(_: Any):
    return (yield fails_once())


@dg.step(retry=dg.Retry(max_attempts=4, initial_delay=1, backoff=1.0, jitter="none"))
def never_works() -> str:
    raise RuntimeError("always fails")


@dg.workflow
def step_1_12(_: Any):
    return (yield never_works())


class TransientError(Exception):
    pass


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, jitter="none", retry_on=(TransientError,)))
def transient_once() -> str:
    if count("transient_once") == 1:
        raise TransientError("try again")
    return "ok"


@dg.workflow
def step_1_15(_: Any):
    return (yield transient_once())


@dg.step(retry=dg.Retry.never())
def permanent_failure() -> str:
    raise ValueError("permanent failure")


@dg.workflow
def step_1_19(_: Any):
    return (yield permanent_failure())


@dg.step(name="custom_step_name")
def greet_named(name: str) -> str:
    return f"Hello, {name}!"


@dg.workflow
def step_1_2(name: str):
    return (yield greet_named(name))


@dg.step
def step_one() -> str:
    return "first"


@dg.step
def step_two(first: str) -> str:
    return f"{first}_second"


@dg.workflow
def step_1_3(_: Any):
    first = yield step_one()
    return (yield step_two(first))


@dg.step
def build_response(event: dict[str, Any]) -> dict[str, Any]:
    return {"user": {"name": event["name"], "tags": event["tags"]}, "count": len(event["tags"])}


@dg.workflow
def step_1_4(event: dict[str, Any]):
    return (yield build_response(event))


# --- wait ---------------------------------------------------------------------------------


@dg.workflow
def wait_2_3(_: Any):
    yield dg.Wait(seconds=2, name="wait-1")
    yield dg.Wait(seconds=2, name="wait-2")
    return {"completedWaits": 2}


@dg.workflow
def wait_2_5(_: Any):
    yield dg.Wait(seconds=int(timedelta(hours=1).total_seconds()))
    return "waited"


@dg.workflow
def wait_2_1(_: Any):
    yield dg.Wait(seconds=2)
    return "waited"


@dg.workflow
def wait_2_2(_: Any):
    yield dg.Wait(seconds=2, name="custom_wait_name")
    return "waited"


# --- child --------------------------------------------------------------------------------


@dg.step(retry=dg.Retry.never())
def inner_failure() -> str:
    raise RuntimeError("child step failed")


def failing_body():
    return (yield inner_failure())


@dg.workflow
def child_3_4(_: Any):
    return (yield dg.Child(failing_body, name="failing-child"))


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def echo_on_second_attempt(value: str) -> str:
    if count("echo_on_second_attempt") == 1:
        raise RuntimeError("first attempt fails")
    return value


def retrying_body(value: str):
    return (yield echo_on_second_attempt(value))


@dg.workflow
def child_3_7(value: str):
    return (yield dg.Child(retrying_body, (value,), name="retry-child"))


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def fails_twice_in_child() -> str:
    raise RuntimeError("always")


def exhausting_body():
    return (yield fails_twice_in_child())


@dg.workflow
def child_3_8(_: Any):
    return (yield dg.Child(exhausting_body, name="exhaust-child"))


@dg.step
def identity(value: str) -> str:
    return value


def identity_body(value: str):
    return (yield identity(value))


@dg.workflow
def child_3_9(value: str):
    result = yield dg.Child(identity_body, (value,))
    yield dg.Wait(seconds=1)
    return result


def waiting_body(value: str):
    yield dg.Wait(seconds=1)
    return value


@dg.workflow
def child_3_13(value: str):
    result = yield dg.Child(waiting_body, (value,), name="wait-child")
    return (yield identity(result))


def null_body():
    return None
    yield  # a generator function: a child context with no operations


@dg.workflow
def child_3_16(_: Any):
    return (yield dg.Child(null_body, name="null-child"))


@dg.workflow
def child_3_1(value: str):
    return (yield dg.Child(identity_body, (value,)))


@dg.workflow
def child_3_2(event: dict[str, str]):
    return (yield dg.Child(identity_body, (event["value"],), name=event["name"]))


def two_steps_body(value: str):
    first = yield identity(value)
    return (yield identity(first))


@dg.workflow
def child_3_3(value: str):
    return (yield dg.Child(two_steps_body, (value,), name="two-steps"))


@dg.workflow
def child_3_5(value: str):
    with contextlib.suppress(dg.ChildFailedError):  # raised at the yield, as local code
        yield dg.Child(failing_body)
    return (yield identity(value))


def step_then_wait_body(value: str):
    result = yield identity(value)
    yield dg.Wait(seconds=1)
    return result


@dg.workflow
def child_3_10(value: str):
    return (yield dg.Child(step_then_wait_body, (value,), name="step-and-wait"))


# --- callback -----------------------------------------------------------------------------


@dg.workflow
def callback_4_4(name: str):
    handle = yield dg.CreateCallback(name=name, heartbeat_timeout=5)
    return (yield handle)


@dg.workflow
def callback_4_6(name: str):
    handle = yield dg.CreateCallback(name=name)
    return (yield handle)


@dg.step
def between() -> str:
    return "step done"


@dg.workflow
def callback_4_8(name: str):
    handle = yield dg.CreateCallback(name=name, timeout=5)
    yield between()
    return (yield handle)


@dg.workflow
def callback_4_9(name: str):
    handle = yield dg.CreateCallback(name=name)
    yield dg.Wait(seconds=5)
    return (yield handle)


@dg.workflow
def callback_4_12(name: str):
    handle = yield dg.CreateCallback(name=name)
    result = yield handle
    yield dg.Wait(seconds=2)
    return result


@dg.workflow
def callback_4_18(names: list[str]):
    first = yield dg.CreateCallback(name=names[0])
    second = yield dg.CreateCallback(name=names[1])
    a = yield first
    b = yield second
    return [a, b]


@dg.workflow
def callback_4_2(_: Any):
    handle = yield dg.CreateCallback(name="approval")
    return (yield handle)


@dg.workflow
def callback_4_7(name: str):
    handle = yield dg.CreateCallback(name=name)
    yield between()
    return (yield handle)


# --- invoke -------------------------------------------------------------------------------


@dg.workflow
def invoke_5_1(payload: Any):
    return (yield dg.Invoke("echo", payload))


@dg.workflow
def invoke_5_6(_: Any):
    try:
        return (yield dg.Invoke("always-fails", None))
    except dg.InvokeFailedError as exc:
        return f"fallback after {exc.error_type}"


@dg.workflow
def invoke_5_9(_: Any):
    value = yield dg.Invoke("echo", "cached")
    yield dg.Wait(seconds=1)
    return value


@dg.workflow
def invoke_5_14(_: Any):
    first = yield dg.Invoke("echo", "one")
    second = yield dg.Invoke("echo", "two")
    return [first, second]


@dg.step
def describe(value: Any) -> str:
    return f"got {value!r}"


@dg.workflow
def invoke_5_11(_: Any):
    value = yield describe("input")
    return (yield dg.Invoke("echo", value))


@dg.workflow
def invoke_5_12(_: Any):
    value = yield dg.Invoke("echo", {"from": "invoke"})
    return (yield describe(value))


# --- wait_for_condition -------------------------------------------------------------------


def plus_one(state: int) -> int:
    return state + 1


def until(threshold: int) -> dg.WaitStrategy:
    return dg.WaitStrategy(until=lambda state: state >= threshold, delay=1)


@dg.workflow
def wfc_6_1(threshold: int):
    return (yield dg.WaitForCondition(plus_one, initial_state=0, wait_strategy=until(threshold)))


@dg.workflow
def wfc_6_4(threshold: int):
    return (yield dg.WaitForCondition(plus_one, initial_state=5, wait_strategy=until(threshold)))


def broken_check(state: int) -> int:
    raise RuntimeError("check failed")


@dg.workflow
def wfc_6_8(_: Any):
    try:
        return (yield dg.WaitForCondition(broken_check, initial_state=0, wait_strategy=until(1)))
    except dg.StepFailedError:
        return "recovered"


def job_check(state: dict[str, Any]) -> dict[str, Any]:
    attempts = state["attempts"] + 1
    return {"status": "DONE" if attempts >= 2 else "PENDING", "attempts": attempts}


@dg.workflow
def wfc_6_9(_: Any):
    return (
        yield dg.WaitForCondition(
            job_check,
            initial_state={"status": "PENDING", "attempts": 0},
            wait_strategy=dg.WaitStrategy(until=lambda s: s["status"] == "DONE", delay=1),
        )
    )


@dg.workflow
def wfc_6_13(_: Any):
    first = yield dg.WaitForCondition(plus_one, initial_state=0, wait_strategy=until(2))
    return (yield dg.WaitForCondition(plus_one, initial_state=first, wait_strategy=until(4)))


def unchanged(state: int) -> int:
    return state


@dg.workflow
def wfc_6_2(threshold: int):
    return (yield dg.WaitForCondition(unchanged, initial_state=5, wait_strategy=until(threshold)))


@dg.workflow
def wfc_6_3(threshold: int):
    strategy = until(threshold)
    return (
        yield dg.WaitForCondition(
            plus_one, initial_state=0, wait_strategy=strategy, name="poll-status"
        )
    )


def to_none(state: Any) -> None:
    return None


@dg.workflow
def wfc_6_10(_: Any):
    return (yield dg.WaitForCondition(to_none, initial_state=0))  # no strategy: one check


# --- wait_for_callback --------------------------------------------------------------------


def hand_over(callback_id: str) -> None:
    return None


@dg.workflow
def wfcb_7_1(name: str):
    return (yield dg.WaitForCallback(hand_over, name=name))


@dg.workflow
def wfcb_7_5(name: str):
    return (yield dg.WaitForCallback(hand_over, name=name, timeout=3))


@dg.workflow
def wfcb_7_9(_: Any):
    yield dg.WaitForCallback(hand_over, name="first")
    return (yield dg.WaitForCallback(hand_over, name="second"))


@dg.workflow
def wfcb_7_10(name: str):
    yield dg.Wait(seconds=1)
    yield dg.Step(lambda: {"fixed": "data"}, name="fixed")
    return (yield dg.WaitForCallback(hand_over, name=name))


@dg.workflow
def wfcb_7_2(_: Any):
    return (yield dg.WaitForCallback(hand_over, name="approval"))


@dg.workflow
def wfcb_7_6(name: str):
    try:
        return (yield dg.WaitForCallback(hand_over, name=name))
    except dg.CallbackError:
        return "recovered"


# --- parallel -----------------------------------------------------------------------------


def returns(value: Any) -> Callable[[], Any]:
    def branch():  # type: ignore[no-untyped-def]
        return value
        yield

    return branch


def failing_branch():  # type: ignore[no-untyped-def]
    raise RuntimeError("branch failed")
    yield


def projection(batch: dg.BatchResult[Any], *, status: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "completionReason": batch.completion_reason,
        "successCount": batch.success_count,
        "failureCount": batch.failure_count,
        "totalCount": batch.success_count + batch.failure_count + batch.started_count,
    }
    if status:
        out["status"] = "FAILED" if batch.has_failure else "SUCCEEDED"
    return out


@dg.workflow
def parallel_8_2(_: Any):
    batch = yield dg.Parallel([returns("alpha"), returns("beta")], max_concurrency=1)
    return batch.results()


@dg.workflow
def parallel_8_4(_: Any):
    branches = [returns("hello"), returns(42), returns({"k": "v"})]
    batch = yield dg.Parallel(branches, name="hetero", max_concurrency=1)
    return batch.results()


@dg.workflow
def parallel_8_5(_: Any):
    batch = yield dg.Parallel([], name="empty")
    return batch.results()


@dg.workflow
def parallel_8_7(_: Any):
    batch = yield dg.Parallel(
        [failing_branch, returns("never")],
        name="throwing",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=0),
    )
    batch.raise_if_failed()
    return batch.results()


@dg.workflow
def parallel_8_9(_: Any):
    batch = yield dg.Parallel(
        [returns("a"), failing_branch, returns("c")],
        name="tolerated",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return projection(batch)


@dg.workflow
def parallel_8_10(_: Any):
    batch = yield dg.Parallel(
        [failing_branch, failing_branch, returns("c")],
        name="tolerated-exceeded",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return projection(batch, status=False)


@dg.workflow
def parallel_8_11(_: Any):
    branches = [returns("r0"), returns("r1"), returns("r2")]
    batch = yield dg.Parallel(branches, name="concurrent", max_concurrency=2)
    return batch.results()


@dg.workflow
def parallel_8_13(_: Any):
    batch = yield dg.Parallel(
        [failing_branch, failing_branch, returns("c"), returns("d")],
        name="tolerated-pct",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=25),
    )
    return projection(batch, status=False)


@dg.workflow
def parallel_8_16(_: Any):
    batch = yield dg.Parallel(
        [failing_branch, failing_branch, failing_branch],
        name="all-fail",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=3),
    )
    return projection(batch)


def task_1() -> str:
    return "task-1"


def task_2() -> str:
    return "task-2"


@dg.workflow
def parallel_8_1(_: Any):
    batch = yield dg.Parallel([task_1, task_2], name="parallel", max_concurrency=1)
    return batch.results()


# --- map ----------------------------------------------------------------------------------


def doubled(item: int):  # type: ignore[no-untyped-def]
    return item * 2
    yield


@dg.workflow
def map_9_2(items: list[int]):
    batch = yield dg.Map(doubled, items, max_concurrency=1)
    return batch.results()


@dg.workflow
def map_9_4(items: list[int]):
    batch = yield dg.Map(doubled, items, name="empty")
    return batch.results()


def second_fails(item: str, index: int):  # type: ignore[no-untyped-def]
    if index == 1:
        raise RuntimeError(f"item {index} failed")
    return "ok"
    yield


@dg.workflow
def map_9_5(_: Any):
    batch = yield dg.Map(
        second_fails,
        ["i0", "i1", "i2"],
        name="failfast",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=0),
    )
    return projection(batch)


def every_item_fails(item: str, index: int):  # type: ignore[no-untyped-def]
    raise RuntimeError(f"item {index} failed")
    yield


@dg.workflow
def map_9_6(_: Any):
    batch = yield dg.Map(
        every_item_fails,
        ["i0", "i1"],
        name="throwing",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=0),
    )
    batch.raise_if_failed()
    return batch.results()


@dg.workflow
def map_9_8(_: Any):
    batch = yield dg.Map(
        second_fails,
        ["i0", "i1", "i2"],
        name="tolerated",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return projection(batch)


def first_two_fail(item: str, index: int):  # type: ignore[no-untyped-def]
    if index < 2:
        raise RuntimeError(f"item {index} failed")
    return "ok"
    yield


@dg.workflow
def map_9_9(_: Any):
    batch = yield dg.Map(
        first_two_fail,
        ["i0", "i1", "i2"],
        name="tolerated-exceeded",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return projection(batch, status=False)


def by_index(item: str, index: int):  # type: ignore[no-untyped-def]
    return f"r{index}"
    yield


@dg.workflow
def map_9_11(_: Any):
    batch = yield dg.Map(by_index, ["i0", "i1", "i2"], name="concurrent", max_concurrency=2)
    return batch.results()


def upper(item: str):  # type: ignore[no-untyped-def]
    return item.upper()
    yield


@dg.workflow
def map_9_17(_: Any):
    batch = yield dg.Map(upper, ["a", "b"], name="then-wait", max_concurrency=1)
    yield dg.Wait(seconds=1)
    return batch.results()


@dg.step
def hello(item: str) -> str:
    return f"Hello, {item}!"


@dg.workflow
def map_9_1(items: list[str]):
    batch = yield dg.Map(hello, items, name="map", max_concurrency=1)
    return batch.results()


HANDLERS: dict[str, Handler] = {
    "step/1-1": Handler(step_1_1),
    "step/1-2": Handler(step_1_2),
    "step/1-3": Handler(step_1_3),
    "step/1-4": Handler(step_1_4),
    "step/1-8": Handler(step_1_8),
    "step/1-9": Handler(step_1_9),
    "step/1-11": Handler(step_1_11),
    "step/1-12": Handler(step_1_12),
    "step/1-15": Handler(step_1_15),
    "step/1-19": Handler(step_1_19),
    "wait/2-1": Handler(wait_2_1),
    "wait/2-2": Handler(wait_2_2),
    "wait/2-3": Handler(wait_2_3),
    "wait/2-5": Handler(wait_2_5),
    "child/3-1": Handler(child_3_1),
    "child/3-2": Handler(child_3_2),
    "child/3-3": Handler(child_3_3),
    "child/3-4": Handler(child_3_4),
    "child/3-5": Handler(child_3_5),
    "child/3-7": Handler(child_3_7),
    "child/3-8": Handler(child_3_8),
    "child/3-9": Handler(child_3_9),
    "child/3-10": Handler(child_3_10),
    "child/3-13": Handler(child_3_13),
    "child/3-16": Handler(child_3_16),
    "callback/4-1": Handler(callback_4_6),  # the same handler; the external system answers
    "callback/4-2": Handler(callback_4_2),
    "callback/4-4": Handler(callback_4_4),
    "callback/4-6": Handler(callback_4_6),
    "callback/4-7": Handler(callback_4_7),
    "callback/4-8": Handler(callback_4_8),
    "callback/4-9": Handler(callback_4_9),
    "callback/4-10": Handler(callback_4_9),  # the same handler; the external system fails it
    "callback/4-12": Handler(callback_4_12),
    "callback/4-18": Handler(callback_4_18),
    "invoke/5-1": Handler(invoke_5_1),
    "invoke/5-3": Handler(invoke_5_1),  # the same echo; the input is an object
    "invoke/5-6": Handler(invoke_5_6),
    "invoke/5-9": Handler(invoke_5_9),
    "invoke/5-11": Handler(invoke_5_11),
    "invoke/5-12": Handler(invoke_5_12),
    "invoke/5-14": Handler(invoke_5_14),
    "wait_for_condition/6-1": Handler(wfc_6_1),
    "wait_for_condition/6-2": Handler(wfc_6_2),
    "wait_for_condition/6-3": Handler(wfc_6_3),
    "wait_for_condition/6-4": Handler(wfc_6_4),
    "wait_for_condition/6-8": Handler(wfc_6_8),
    "wait_for_condition/6-9": Handler(wfc_6_9),
    "wait_for_condition/6-10": Handler(wfc_6_10),
    "wait_for_condition/6-13": Handler(wfc_6_13),
    "wait_for_callback/7-1": Handler(wfcb_7_1),
    "wait_for_callback/7-2": Handler(wfcb_7_2),
    "wait_for_callback/7-4": Handler(wfcb_7_1),  # the same handler; the external system fails it
    "wait_for_callback/7-5": Handler(wfcb_7_5),
    "wait_for_callback/7-6": Handler(wfcb_7_6),
    "wait_for_callback/7-9": Handler(wfcb_7_9),
    "wait_for_callback/7-10": Handler(wfcb_7_10),
    "parallel/8-1": Handler(parallel_8_1),
    "parallel/8-2": Handler(parallel_8_2),
    "parallel/8-4": Handler(parallel_8_4),
    "parallel/8-5": Handler(parallel_8_5),
    "parallel/8-7": Handler(parallel_8_7),
    "parallel/8-9": Handler(parallel_8_9),
    "parallel/8-10": Handler(parallel_8_10),
    "parallel/8-11": Handler(parallel_8_11),
    "parallel/8-13": Handler(parallel_8_13),
    "parallel/8-16": Handler(parallel_8_16),
    "map/9-1": Handler(map_9_1),
    "map/9-2": Handler(map_9_2),
    "map/9-4": Handler(map_9_4),
    "map/9-5": Handler(map_9_5),
    "map/9-6": Handler(map_9_6),
    "map/9-8": Handler(map_9_8),
    "map/9-9": Handler(map_9_9),
    "map/9-11": Handler(map_9_11),
    "map/9-17": Handler(map_9_17),
}
