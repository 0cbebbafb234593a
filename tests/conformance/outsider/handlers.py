"""Outsider handlers: one per requirement, written from the docs only (see ``__init__``)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import durable_gen as dg

from ..handlers import Handler
from . import second

#: Attempts per key, kept across invocations of one run (reset before each requirement).
_calls: Counter[str] = Counter()
_lock = threading.Lock()


def reset() -> None:
    _calls.clear()
    second.reset()


def count(key: str) -> int:
    """How many times ``key`` was counted so far, this one included."""
    with _lock:
        _calls[key] += 1
        return _calls[key]


log = dg.get_logger("outsider")
replay_log = dg.get_logger("outsider.replay", log_during_replay=True)


class TransientError(Exception):
    pass


class Crash(SystemExit):
    """Ends the invocation as a Lambda runtime crash would (engine.md: `Runtime.ExitError`)."""


# --- step ---------------------------------------------------------------------------------


class Upper:
    def serialize(self, value: Any) -> str:
        return json.dumps(value.upper())

    def deserialize(self, text: str) -> Any:
        return json.loads(text)


def return_input(value: str) -> str:
    return value


@dg.workflow
def step_1_6(text: str):
    return (yield dg.Step(return_input, (text,), serdes=Upper()))


@dg.step
def greet(name: str) -> str:
    log.info(f"Greeting step started for: {name}")
    greeting = f"Hello, {name}!"
    log.info(f"Greeting step completed with: {greeting}")
    return greeting


@dg.workflow
def step_1_7(name: str):
    return (yield greet(name))


@dg.step
def unreliable() -> str:
    if count("unreliable") < 3:
        raise RuntimeError("not yet")
    return "ok"


@dg.workflow
def step_1_13(_: Any):
    return (yield unreliable())


@dg.step(retry=dg.Retry(max_attempts=5, initial_delay=2, backoff=3, jitter="none"))
def fails_twice() -> str:
    if count("fails_twice") < 3:
        raise RuntimeError("not yet")
    return "ok"


@dg.workflow
def step_1_14(_: Any):
    return (yield fails_twice())


@dg.step(retry=dg.Retry(retry_if=lambda exc: not isinstance(exc, TransientError)))
def transient() -> str:
    raise TransientError("try later")


@dg.workflow
def step_1_16(_: Any):
    return (yield transient())


@dg.step(name="at_most_once_flaky_step", semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def at_most_once_flaky_step(value: str) -> str:
    log.info(f"running with {value}")
    raise Crash(1)


@dg.workflow
def step_1_17(value: str):
    return (yield at_most_once_flaky_step(value))


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry(max_attempts=3, initial_delay=1))
def crashes_once(value: str) -> str:
    log.info(f"running with {value}")
    if count("crashes_once") == 1:
        raise Crash(1)
    return "succeeded on second attempt"


@dg.workflow
def step_1_18(value: str):
    return (yield crashes_once(value))


@dg.step(retry=dg.Retry.never())
def failing() -> str:
    raise RuntimeError("boom")


@dg.step
def fallback() -> str:
    return "fallback_result"


@dg.workflow
def step_1_20(_: Any):
    try:
        return (yield failing())
    except dg.StepFailedError:
        return (yield fallback())


# --- wait ---------------------------------------------------------------------------------


@dg.workflow
def wait_2_4(_: Any):
    yield dg.Wait(seconds=60)


# --- child --------------------------------------------------------------------------------


@dg.step
def small(value: str) -> str:
    return value


@dg.workflow
def big_child(value: str):
    replay_log.info(f"child body for {value}")
    piece = yield small(value)
    return piece * (300 * 1024 // len(piece) + 1)


@dg.workflow
def child_3_11(value: str):
    result = yield dg.Child(big_child, (value,), name="large")
    yield dg.Wait(seconds=1)
    return len(result)


@dg.step
def slow_then_crash(value: str) -> str:
    time.sleep(0.05)  # past the start window: START is checkpointed while it runs
    if count("slow_then_crash") == 1:
        raise Crash(1)
    return value


@dg.workflow
def crash_child(value: str):
    return (yield slow_then_crash(value))


@dg.workflow
def child_3_12(value: str):
    return (yield dg.Child(crash_child, (value,)))


class UpperRaw:
    def serialize(self, value: Any) -> str:
        return str(value).upper()

    def deserialize(self, text: str) -> Any:
        return text


@dg.workflow
def echo_child(value: str):
    return (yield small(value))


@dg.workflow
def child_3_14(value: str):
    return (yield dg.Child(echo_child, (value,), name="upper", serdes=UpperRaw()))


@dg.workflow
def throws(_: Any):
    raise ValueError("thrown in the child body")
    yield  # a generator function


@dg.workflow
def child_3_15(value: Any):
    return (yield dg.Child(throws, (value,), name="thrower"))


@dg.workflow
def logs_only(value: str):
    replay_log.info(f"child logs {value}")
    return value
    yield


@dg.workflow
def child_3_17(value: str):
    result = yield dg.Child(logs_only, (value,), name="logger")
    yield dg.Wait(seconds=1)
    return result


# --- callback -----------------------------------------------------------------------------


@dg.workflow
def callback_4_5(name: str):
    handle = yield dg.CreateCallback(name=name, heartbeat_timeout=10)
    return (yield handle)


@dg.workflow
def callback_4_11(name: str):
    handle = yield dg.CreateCallback(name=name, timeout=3)
    yield dg.Wait(seconds=6)
    return (yield handle)


class Received:
    """Parses the callback's JSON and turns its ISO timestamp into epoch seconds."""

    def serialize(self, value: Any) -> str:
        return json.dumps(value)

    def deserialize(self, text: str) -> Any:
        from datetime import datetime

        data = json.loads(text)
        stamp = datetime.fromisoformat(data["timestamp"].replace("Z", "+00:00"))
        return {**data, "timestamp": int(stamp.timestamp())}


@dg.workflow
def callback_4_15(name: str):
    handle = yield dg.CreateCallback(name=name, serdes=Received())
    return {"received": (yield handle)}


class AsNumber:
    def serialize(self, value: Any) -> str:
        return json.dumps(value)

    def deserialize(self, text: str) -> Any:
        return int(json.loads(text))


@dg.workflow
def callback_4_16(name: str):
    handle = yield dg.CreateCallback(name=name, serdes=AsNumber())
    n = yield handle
    return {"count": n, "doubled": n * 2}


@dg.workflow
def callback_4_19(names: list[str]):
    a = yield dg.CreateCallback(name=names[0])
    b = yield dg.CreateCallback(name=names[1])
    result_b = yield b
    result_a = yield a
    return [result_a, result_b]


# --- invoke -------------------------------------------------------------------------------


@dg.workflow
def echo(payload: Any):
    return payload
    yield


@dg.workflow
def always_fails(_: Any):
    raise RuntimeError("the target failed")
    yield


@dg.workflow
def invoke_5_2(event: dict[str, Any]):
    return (yield dg.Invoke("echo", event["payload"], name=event["name"]))


@dg.workflow
def invoke_5_8(event: dict[str, Any]):
    return (yield dg.Invoke("echo", event["payload"], tenant_id=event["tenantId"]))


@dg.workflow
def invoke_5_10(_: Any):
    try:
        yield dg.Invoke("always-fails", None)
    except dg.InvokeFailedError as exc:
        caught = exc.error_type
    yield dg.Wait(seconds=1)
    return caught


class UpperPayload:
    def serialize(self, value: Any) -> str:
        return json.dumps({k: v.upper() for k, v in value.items()})

    def deserialize(self, text: str) -> Any:
        return json.loads(text)


@dg.workflow
def invoke_5_15(event: dict[str, Any]):
    return (yield dg.Invoke("echo", event, serdes=UpperPayload()))


class UpperResult:
    def serialize(self, value: Any) -> str:
        return json.dumps(value)

    def deserialize(self, text: str) -> Any:
        return text.upper()


@dg.workflow
def invoke_5_16(text: str):
    return (yield dg.Invoke("echo", text, serdes=UpperResult()))


# --- wait_for_condition -------------------------------------------------------------------


@dg.step
def increment(state: int) -> int:
    return state + 1


@dg.workflow
def wfc_6_5(threshold: int):
    return (
        yield dg.WaitForCondition(
            increment,
            initial_state=0,
            wait_strategy=dg.WaitStrategy(until=lambda s: s >= threshold, delay=2, backoff=1),
        )
    )


@dg.workflow
def wfc_6_6(start: int):
    return (
        yield dg.WaitForCondition(
            increment,
            initial_state=start,
            wait_strategy=dg.WaitStrategy(until=lambda s: False, delay=1, max_attempts=3),
        )
    )


class Encoded:
    def serialize(self, value: Any) -> str:
        return json.dumps({"encoded": value})

    def deserialize(self, text: str) -> Any:
        return json.loads(text)["encoded"]


@dg.step
def append_x(state: str) -> str:
    return state + "x"


@dg.workflow
def wfc_6_11(_: Any):
    return (
        yield dg.WaitForCondition(
            append_x,
            initial_state="",
            wait_strategy=dg.WaitStrategy(until=lambda s: len(s) >= 2, delay=1),
            serdes=Encoded(),
        )
    )


# --- wait_for_callback --------------------------------------------------------------------


@dg.workflow
def wfcb_7_3(_: Any):
    return (yield dg.WaitForCallback(lambda callback_id: None))


def always_throws(callback_id: str) -> None:
    raise RuntimeError("cannot submit")


@dg.workflow
def wfcb_7_7(name: str):
    return (
        yield dg.WaitForCallback(
            always_throws, name=name, retry=dg.Retry(max_attempts=2, initial_delay=1)
        )
    )


def submit(callback_id: str) -> None:
    pass


@dg.workflow
def wfcb_7_11(name: str):
    answer = yield dg.WaitForCallback(submit, name=name)
    return answer["status"]


@dg.workflow
def wfcb_7_12(name: str):
    return (yield dg.WaitForCallback(submit, name=name, heartbeat_timeout=5))


@dg.workflow
def wfcb_7_15(name: str):
    return (yield dg.WaitForCallback(submit, name=name))


# --- parallel -----------------------------------------------------------------------------


def constant(value: Any):
    """A branch (or Map function) that returns ``value`` without a step of its own."""

    def branch(*_: Any):
        return value
        yield

    return branch


def raising(message: str):
    def branch(*_: Any):
        raise RuntimeError(message)
        yield

    return branch


def projection(batch: dg.BatchResult[Any]) -> dict[str, Any]:
    started = [item for item in batch.items if item.status != "NOT_STARTED"]
    return {
        "completionReason": batch.completion_reason,
        "status": "FAILED" if batch.has_failure else "SUCCEEDED",
        "successCount": batch.success_count,
        "failureCount": batch.failure_count,
        "totalCount": len(started),
    }


@dg.workflow
def parallel_8_3(_: Any):
    batch = yield dg.Parallel(
        [dg.Branch(constant("one"), name="first"), dg.Branch(constant("two"), name="second")],
        name="named",
        max_concurrency=1,
    )
    return batch.results()


@dg.workflow
def parallel_8_6(_: Any):
    batch = yield dg.Parallel(
        [constant("ok"), raising("b1"), constant("never")],
        name="failfast",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=0),
    )
    return projection(batch)


@dg.workflow
def parallel_8_12(_: Any):
    batch = yield dg.Parallel(
        [lambda: "fa", lambda: "fb"], name="flat", max_concurrency=1, nesting="flat"
    )
    return batch.results()


class Wrapped:
    def serialize(self, value: Any) -> str:
        return json.dumps({"wrapped": value})

    def deserialize(self, text: str) -> Any:
        return json.loads(text)["wrapped"]


@dg.workflow
def parallel_8_15(_: Any):
    batch = yield dg.Parallel(
        [constant("x"), constant("y")], name="serde", max_concurrency=1, item_serdes=Wrapped()
    )
    return batch.results()


@dg.workflow
def parallel_8_19(_: Any):
    batch = yield dg.Parallel([constant(1), constant(2)], name="bad-concurrency", max_concurrency=0)
    return batch.results()


@dg.workflow
def parallel_8_20(_: Any):
    batch = yield dg.Parallel(
        [constant("a"), raising("b"), constant("c")],
        name="accessors",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return {
        "hasFailure": batch.has_failure,
        "successCount": len(batch.results()),
        "failureCount": len([i for i in batch.items if i.status == "FAILED"]),
        "errorCount": len(batch.errors()),
    }


@dg.workflow
def parallel_8_22(_: Any):
    batch = yield dg.Parallel(
        [raising("b0"), constant(1), constant(2), constant(3)],
        name="pct-boundary",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=25),
    )
    return projection(batch)


# --- map ----------------------------------------------------------------------------------


def plus_index(item: int, index: int):
    return item + index
    yield


@dg.workflow
def map_9_3(items: list[int]):
    batch = yield dg.Map(plus_index, items, name="indexed", max_concurrency=1)
    return batch.results()


def fail_item(item: Any):
    raise RuntimeError(f"item {item} failed")
    yield


@dg.workflow
def map_9_10(_: Any):
    batch = yield dg.Map(
        fail_item,
        ["i0", "i1", "i2", "i3"],
        name="tolerated-pct",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=25),
    )
    result = projection(batch)
    del result["status"]
    return result


def times_ten(item: int):
    return item * 10
    yield


@dg.workflow
def map_9_13(items: list[int]):
    batch = yield dg.Map(
        times_ten,
        items,
        name="named-items",
        max_concurrency=1,
        item_namer=lambda item, index: f"item-{item}",
    )
    return batch.results()


def upper(item: str):
    return item.upper()
    yield


class WrappedText:
    def serialize(self, value: Any) -> str:
        return f"wrapped:{value}"

    def deserialize(self, text: str) -> Any:
        return text.removeprefix("wrapped:")


@dg.workflow
def map_9_14(_: Any):
    batch = yield dg.Map(
        upper, ["x", "y"], name="serdes", max_concurrency=1, item_serdes=WrappedText()
    )
    return batch.results()


def large(item: int):
    return str(item) * 70_000
    yield


@dg.workflow
def map_9_16(_: Any):
    batch = yield dg.Map(large, [1, 2, 3, 4], name="large", max_concurrency=1)
    return {"successCount": batch.success_count, "totalCount": batch.total_count}


class OpSerde:
    def serialize(self, value: Any) -> str:
        return "OPSERDE:" + ",".join(value.results())

    def deserialize(self, text: str) -> Any:
        values = text.removeprefix("OPSERDE:").split(",")
        items = [dg.BatchItem(index=i, status="SUCCEEDED", result=v) for i, v in enumerate(values)]
        return dg.BatchResult(items=items, completion_reason="ALL_COMPLETED")


@dg.workflow
def map_9_19(_: Any):
    batch = yield dg.Map(upper, ["x", "y"], name="op-serde", max_concurrency=1, serdes=OpSerde())
    return batch.results()


@dg.workflow
def parallel_8_8(_: Any):
    batch = yield dg.Parallel(
        [constant("a"), constant("b"), constant("c"), constant("d")],
        max_concurrency=1,
        completion=dg.Completion(min_successful=2),
    )
    result = projection(batch)
    return {k: result[k] for k in ("completionReason", "successCount", "totalCount")}


def wait_then(value: str):
    def branch():
        yield dg.Wait(seconds=2)
        return value

    return branch


@dg.workflow
def parallel_8_14(_: Any):
    batch = yield dg.Parallel([lambda: "b0", wait_then("b1")], max_concurrency=1)
    return batch.results()


@dg.workflow
def parallel_8_17(_: Any):
    batch = yield dg.Parallel(
        [constant("a"), raising("b"), constant("c")],
        max_concurrency=1,
        completion=dg.Completion(min_successful=3),
    )
    return projection(batch)


@dg.workflow
def parallel_8_18(_: Any):
    batch = yield dg.Parallel(
        [raising("0"), raising("1"), constant(2), constant(3)],
        max_concurrency=1,
        completion=dg.Completion(min_successful=3, tolerated_failure_count=1),
    )
    result = projection(batch)
    del result["status"]
    return result


def inner_parallel():
    batch = yield dg.Parallel([lambda: "i1", lambda: "i2"], max_concurrency=1)
    return batch.results()


@dg.workflow
def parallel_8_21(_: Any):
    batch = yield dg.Parallel([inner_parallel], max_concurrency=1)
    return batch.results()


@dg.workflow
def map_9_7(_: Any):
    batch = yield dg.Map(
        constant("ok"), [0, 1, 2, 3], max_concurrency=1, completion=dg.Completion(min_successful=2)
    )
    result = projection(batch)
    return {k: result[k] for k in ("completionReason", "successCount", "totalCount")}


def same(item: str) -> str:
    return item


@dg.workflow
def map_9_12(_: Any):
    batch = yield dg.Map(same, ["fa", "fb"], max_concurrency=1, nesting="flat")
    return batch.results()


def r_item(item: str, index: int):
    if index == 1:
        yield dg.Wait(seconds=1)
    return (yield dg.Step(same, (f"r{index}",)))


@dg.workflow
def map_9_15(_: Any):
    batch = yield dg.Map(r_item, ["a", "b"], max_concurrency=1)
    return batch.results()


def ok_or_fail(item: str):
    if item == "fail":
        raise RuntimeError("item failed")
    return item
    yield


@dg.workflow
def map_9_18(_: Any):
    batch = yield dg.Map(
        ok_or_fail,
        ["ok", "fail"],
        name="fail-then-wait",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    yield dg.Wait(seconds=1)
    return projection(batch)


@dg.workflow
def map_9_20(_: Any):
    batch = yield dg.Map(
        upper, ["x", "y"], name="op-serde-replay", max_concurrency=1, serdes=OpSerde()
    )
    yield dg.Wait(seconds=1)
    return batch.results()


# --- more of every suite -------------------------------------------------------------------


@dg.workflow
def callback_4_3(name: str):
    handle = yield dg.CreateCallback(name=name, timeout=5)
    return (yield handle)


@dg.workflow
def callback_4_13(name: str):
    handle = yield dg.CreateCallback(name=name)
    try:
        message = yield handle
    except dg.CallbackFailedError as exc:
        message = f"failed: {exc.error_type}: {exc.error_message}"
    yield dg.Wait(seconds=2)
    return message


@dg.workflow
def callback_4_14(name: str):
    handle = yield dg.CreateCallback(name=name, timeout=3)
    try:
        message = yield handle
    except dg.CallbackTimeoutError:
        message = "timed out"
    yield dg.Wait(seconds=2)
    return message


@dg.workflow
def callback_4_17(names: list[str]):
    a = yield dg.CreateCallback(name=names[0])
    result_a = yield a
    b = yield dg.CreateCallback(name=names[1])
    result_b = yield b
    return [result_a, result_b]


@dg.workflow
def invoke_5_4(_: Any):
    return (yield dg.Invoke("echo", None))


@dg.workflow
def invoke_5_5(_: Any):
    return (yield dg.Invoke("always-fails", None))


@dg.workflow
def measure(payload: str):
    return len(payload)
    yield


@dg.workflow
def invoke_5_7(_: Any):
    return (yield dg.Invoke("measure", "x" * (1024 * 1024 - 1024)))


def invoking_child(_: Any):
    return (yield dg.Invoke("echo", "from the child"))


@dg.workflow
def invoke_5_13(value: Any):
    return (yield dg.Child(invoking_child, (value,)))


def check_raises(state: int) -> int:
    raise RuntimeError("the check failed")


@dg.workflow
def wfc_6_7(_: Any):
    return (
        yield dg.WaitForCondition(
            check_raises, initial_state=0, wait_strategy=dg.WaitStrategy(until=lambda s: True)
        )
    )


@dg.step
def times_ten_step(value: int) -> int:
    return value * 10


@dg.workflow
def wfc_6_12(threshold: int):
    reached = yield dg.WaitForCondition(
        increment,
        initial_state=0,
        wait_strategy=dg.WaitStrategy(until=lambda s: s >= threshold, delay=1),
    )
    return (yield times_ten_step(reached))


def wrapped_callback(name: str):
    return (yield dg.WaitForCallback(submit, name=name))


@dg.workflow
def wfcb_7_8(name: str):
    return (yield dg.Child(wrapped_callback, (name,), name="wrapper"))


@dg.workflow
def wfcb_7_13(name: str):
    return (yield dg.WaitForCallback(submit, name=name, heartbeat_timeout=10))


@dg.workflow
def wfcb_7_14(name: str):
    try:
        return (yield dg.WaitForCallback(submit, name=name, timeout=3))
    except dg.CallbackTimeoutError:
        return "timed-out-handled"


@dg.step
def nothing() -> None:
    return None


@dg.workflow
def step_1_5(_: Any):
    return (yield nothing())


@dg.workflow
def step_1_10(_: Any):
    try:
        yield failing()
    except dg.StepFailedError as exc:
        caught = exc.error_message
    yield dg.Wait(seconds=1)
    return caught


def inner(value: str):
    return (yield small(value))


def outer(value: str):
    yield small(value)
    return (yield dg.Child(inner, (value,), name="inner"))


@dg.workflow
def child_3_6(value: str):
    return (yield dg.Child(outer, (value,), name="outer"))


def step_and_wait(value: str):
    result = yield small(value)
    yield dg.Wait(seconds=1)
    return result


@dg.workflow
def child_3_18(value: str):
    result = yield dg.Child(step_and_wait, (value,), name="mixed")
    result = yield small(result)
    yield dg.Wait(seconds=1)
    return result


# --- plugin -------------------------------------------------------------------------------


class Printer(dg.Plugin):
    """Prints one JSON record per hook, stamped with the execution's ARN."""

    tag = "CONFPLUGIN"

    def __init__(self) -> None:
        self.arn = ""

    def emit(self, **fields: Any) -> None:
        print(json.dumps({"plugin": self.tag, **fields, "durableExecutionArn": self.arn}))

    def on_invocation_start(self, info: Any) -> None:
        self.arn = info.execution_arn
        self.emit(hook="invocation-start", first=info.first)

    def on_invocation_end(self, info: Any, status: Any) -> None:
        self.emit(hook="invocation-end", status=status)


class StepOps(Printer):
    def on_operation_start(self, op: Any) -> None:
        if op.type == "STEP":
            self.emit(hook="operation-start", op=op.operation_id)

    def on_operation_end(self, op: Any, status: Any) -> None:
        if op.type == "STEP":
            self.emit(hook="operation-end", op=op.operation_id, status=status)


class Faulty(Printer):
    tag = "CONFPLUGIN-FAULTY"

    def emit(self, **fields: Any) -> None:
        super().emit(**fields)
        raise RuntimeError(f"plugin hook {fields['hook']} failed")

    def on_operation_start(self, op: Any) -> None:
        if op.type == "STEP":
            self.emit(hook="operation-start")

    def on_operation_end(self, op: Any, status: Any) -> None:
        if op.type == "STEP":
            self.emit(hook="operation-end")

    def on_attempt_start(self, attempt: Any) -> None:
        if attempt.type == "STEP":
            self.emit(hook="attempt-start")

    def on_attempt_end(self, attempt: Any, outcome: Any, error: Any) -> None:
        if attempt.type == "STEP":
            self.emit(hook="attempt-end")


@dg.step
def hello(name: str) -> str:
    return f"Hello, {name}!"


@dg.workflow
def greeting(name: str):
    return (yield hello(name))


@dg.workflow
def two_second_wait(_: Any):
    yield dg.Wait(seconds=2)


class Attempts(Printer):
    def on_attempt_start(self, attempt: Any) -> None:
        if attempt.type == "STEP":
            self.emit(hook="attempt-start", n=attempt.attempt, op=attempt.operation_id)

    def on_attempt_end(self, attempt: Any, outcome: Any, error: Any) -> None:
        if attempt.type == "STEP":
            self.emit(
                hook="attempt-end", n=attempt.attempt, outcome=outcome, op=attempt.operation_id
            )


class Tagged(Printer):
    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag = tag


@dg.step
def greet_logged(name: str) -> str:
    log.info(f"Greeting step running for: {name}")
    return f"Hello, {name}!"


@dg.workflow
def greeting_logged(name: str):
    return (yield greet_logged(name))


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1))
def fails_once() -> str:
    if count("fails_once") == 1:
        raise RuntimeError("first attempt fails")
    return "Operation succeeded"


@dg.workflow
def retried(_: Any):
    return (yield fails_once())


@dg.workflow
def fails_for_good(_: Any):
    return (yield failing())


HANDLERS: dict[str, Handler] = {
    "step/1-6": Handler(step_1_6),
    "step/1-7": Handler(step_1_7),
    "step/1-13": Handler(step_1_13),
    "step/1-14": Handler(step_1_14),
    "step/1-16": Handler(step_1_16),
    "step/1-17": Handler(step_1_17),
    "step/1-18": Handler(step_1_18),
    "step/1-20": Handler(step_1_20),
    "wait/2-4": Handler(wait_2_4),
    "child/3-11": Handler(child_3_11),
    "child/3-12": Handler(child_3_12),
    "child/3-14": Handler(child_3_14),
    "child/3-15": Handler(child_3_15),
    "child/3-17": Handler(child_3_17),
    "callback/4-5": Handler(callback_4_5),
    "callback/4-11": Handler(callback_4_11),
    "callback/4-15": Handler(callback_4_15),
    "callback/4-16": Handler(callback_4_16),
    "callback/4-19": Handler(callback_4_19),
    "invoke/5-2": Handler(invoke_5_2),
    "invoke/5-8": Handler(invoke_5_8),
    "invoke/5-10": Handler(invoke_5_10),
    "invoke/5-15": Handler(invoke_5_15),
    "invoke/5-16": Handler(invoke_5_16),
    "wait_for_condition/6-5": Handler(wfc_6_5),
    "wait_for_condition/6-6": Handler(wfc_6_6),
    "wait_for_condition/6-11": Handler(wfc_6_11),
    "wait_for_callback/7-3": Handler(wfcb_7_3),
    "wait_for_callback/7-7": Handler(wfcb_7_7),
    "wait_for_callback/7-11": Handler(wfcb_7_11),
    "wait_for_callback/7-12": Handler(wfcb_7_12),
    "wait_for_callback/7-15": Handler(wfcb_7_15),
    "parallel/8-3": Handler(parallel_8_3),
    "parallel/8-6": Handler(parallel_8_6),
    "parallel/8-12": Handler(parallel_8_12),
    "parallel/8-15": Handler(parallel_8_15),
    "parallel/8-19": Handler(parallel_8_19),
    "parallel/8-20": Handler(parallel_8_20),
    "parallel/8-22": Handler(parallel_8_22),
    "map/9-3": Handler(map_9_3),
    "map/9-10": Handler(map_9_10),
    "map/9-13": Handler(map_9_13),
    "map/9-14": Handler(map_9_14),
    "map/9-16": Handler(map_9_16),
    "map/9-19": Handler(map_9_19),
    "parallel/8-8": Handler(parallel_8_8),
    "parallel/8-14": Handler(parallel_8_14),
    "parallel/8-17": Handler(parallel_8_17),
    "parallel/8-18": Handler(parallel_8_18),
    "parallel/8-21": Handler(parallel_8_21),
    "map/9-7": Handler(map_9_7),
    "map/9-12": Handler(map_9_12),
    "map/9-15": Handler(map_9_15),
    "map/9-18": Handler(map_9_18),
    "map/9-20": Handler(map_9_20),
    "callback/4-3": Handler(callback_4_3),
    "callback/4-13": Handler(callback_4_13),
    "callback/4-14": Handler(callback_4_14),
    "callback/4-17": Handler(callback_4_17),
    "invoke/5-4": Handler(invoke_5_4),
    "invoke/5-5": Handler(invoke_5_5),
    "invoke/5-7": Handler(invoke_5_7),
    "invoke/5-13": Handler(invoke_5_13),
    "wait_for_condition/6-7": Handler(wfc_6_7),
    "wait_for_condition/6-12": Handler(wfc_6_12),
    "wait_for_callback/7-8": Handler(wfcb_7_8),
    "wait_for_callback/7-13": Handler(wfcb_7_13),
    "wait_for_callback/7-14": Handler(wfcb_7_14),
    "step/1-5": Handler(step_1_5),
    "step/1-10": Handler(step_1_10),
    "child/3-6": Handler(child_3_6),
    "child/3-18": Handler(child_3_18),
    "plugin/10-2": Handler(greeting, plugins=lambda: [StepOps()]),
    "plugin/10-4": Handler(greeting, plugins=lambda: [Faulty()]),
    "plugin/10-6": Handler(two_second_wait, plugins=lambda: [Printer()]),
    "plugin/10-1": Handler(greeting_logged, plugins=lambda: [Printer()]),
    "plugin/10-3": Handler(retried, plugins=lambda: [Attempts()]),
    "plugin/10-5": Handler(
        greeting, plugins=lambda: [Tagged("CONFPLUGIN-A"), Tagged("CONFPLUGIN-B")]
    ),
    "plugin/10-7": Handler(fails_for_good, plugins=lambda: [Printer()]),
}

assert not set(HANDLERS) & set(second.HANDLERS), "a requirement with two outsider handlers"
HANDLERS.update(second.HANDLERS)

FUNCTIONS: dict[str, Any] = {"echo": echo, "always-fails": always_fails, "measure": measure}
