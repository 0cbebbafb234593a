"""Third outsider set: a handler per requirement, written from the docs only (see ``__init__``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import durable_gen as dg

from ..handlers import Handler

log = dg.get_logger("outsider3")
replay_log = dg.get_logger("outsider3.replay", log_during_replay=True)

_attempts: dict[str, int] = {}


def reset() -> None:
    _attempts.clear()


def _bump(key: str) -> int:
    _attempts[key] = _attempts.get(key, 0) + 1
    return _attempts[key]


class TransientError(Exception):
    pass


class PermanentError(Exception):
    pass


HANDLERS: dict[str, Handler] = {}


def req(key: str, **opts: Any):
    def deco(wf):
        HANDLERS[key] = Handler(wf, **opts)
        return wf

    return deco


# ---------------------------------------------------------------- step


@dg.step
def greet(name: str) -> str:
    return f"Hello, {name}!"


@req("step/1-1")
def s1_1(name: str) -> dg.Workflow[str]:
    return (yield from greet(name))


@req("step/1-2")
def s1_2(name: str):
    return (yield dg.Step(greet.fn, (name,), name="custom_step_name"))


@req("step/1-3")
def s1_3(_: None):
    first = yield dg.Step(lambda: "first", name="first")
    return (yield dg.Step(lambda: f"{first}_second", name="second"))


def build_user(data: dict[str, Any]) -> dict[str, Any]:
    return {"user": {"name": data["name"], "tags": data["tags"]}, "count": len(data["tags"])}


@req("step/1-4")
def s1_4(data: dict[str, Any]):
    return (yield dg.Step(build_user, (data,)))


@req("step/1-5")
def s1_5(_: None):
    return (yield dg.Step(lambda: None))


class Upper:
    def serialize(self, value: str) -> str:
        return json.dumps(value.upper())

    def deserialize(self, text: str) -> str:
        return json.loads(text)


@req("step/1-6")
def s1_6(text: str):
    return (yield dg.Step(lambda: text, serdes=Upper()))


@dg.step
def logged_greet(name: str) -> str:
    log.info("Greeting step started for: %s", name)
    out = f"Hello, {name}!"
    log.info("Greeting step completed with: %s", out)
    return out


@req("step/1-7")
def s1_7(name: str):
    return (yield logged_greet(name))


@req("step/1-8")
def s1_8(_: None):
    value = yield dg.Step(lambda: "computed")
    yield dg.Wait(seconds=2)
    return value


@req("step/1-9")
def s1_9(_: None):
    value = yield dg.Step(lambda: "cached_value")
    yield dg.Wait(seconds=1)
    return value


def always_fails() -> str:
    raise RuntimeError("permanent failure")


@req("step/1-10")
def s1_10(_: None):
    try:
        yield dg.Step(always_fails, retry=dg.Retry.never())
    except dg.StepFailedError as exc:
        msg = exc.error_message
    yield dg.Wait(seconds=1)
    return msg


def fail_once(key: str, result: str) -> str:
    if _bump(key) == 1:
        raise RuntimeError("first attempt fails")
    return result


@req("step/1-11")
def s1_11(_: None):
    return (
        yield dg.Step(
            fail_once,
            ("1-11", "Operation succeeded"),
            retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"),
        )
    )


@req("step/1-12")
def s1_12(_: None):
    return (
        yield dg.Step(
            always_fails,
            retry=dg.Retry(max_attempts=4, initial_delay=1, backoff=1.0, jitter="none"),
        )
    )


def fail_twice(key: str) -> str:
    if _bump(key) <= 2:
        raise RuntimeError(f"attempt {_attempts[key]} fails")
    return "third time lucky"


@req("step/1-13")
def s1_13(_: None):
    return (yield dg.Step(fail_twice, ("1-13",)))


@req("step/1-14")
def s1_14(_: None):
    return (
        yield dg.Step(
            fail_twice, ("1-14",), retry=dg.Retry(initial_delay=2, backoff=3.0, jitter="none")
        )
    )


def transient_once(key: str) -> str:
    if _bump(key) == 1:
        raise TransientError("transient")
    return "recovered"


@req("step/1-15")
def s1_15(_: None):
    return (
        yield dg.Step(
            transient_once,
            ("1-15",),
            retry=dg.Retry(max_attempts=3, initial_delay=1, retry_on=(TransientError,)),
        )
    )


def always_transient() -> str:
    raise TransientError("transient")


@req("step/1-16")
def s1_16(_: None):
    return (
        yield dg.Step(
            always_transient,
            retry=dg.Retry(retry_if=lambda exc: not isinstance(exc, TransientError)),
        )
    )


def crash_step(text: str) -> str:
    log.info("about to crash: %s", text)
    raise SystemExit(1)


@req("step/1-17")
def s1_17(text: str):
    return (
        yield dg.Step(
            crash_step,
            (text,),
            name="at_most_once_flaky_step",
            semantics=dg.AT_MOST_ONCE,
            retry=dg.Retry.never(),
        )
    )


def crash_then_ok(text: str) -> str:
    log.info("running with %s", text)
    if _bump("1-18") == 1:
        raise SystemExit(1)
    return "succeeded on second attempt"


@req("step/1-18")
def s1_18(text: str):
    return (
        yield dg.Step(
            crash_then_ok,
            (text,),
            semantics=dg.AT_MOST_ONCE,
            retry=dg.Retry(max_attempts=3, initial_delay=1, jitter="none"),
        )
    )


@req("step/1-19")
def s1_19(_: None):
    return (yield dg.Step(always_fails, retry=dg.Retry.never()))


@req("step/1-20")
def s1_20(_: None):
    try:
        return (yield dg.Step(always_fails, retry=dg.Retry.never()))
    except dg.StepFailedError:
        fallback = "fallback_result"
    return (yield dg.Step(lambda: fallback, name="after"))


# ---------------------------------------------------------------- wait


@req("wait/2-1")
def w2_1(_: None):
    yield dg.Wait(seconds=2)


@req("wait/2-2")
def w2_2(_: None):
    yield dg.Wait(seconds=2, name="custom_wait_name")


@req("wait/2-3")
def w2_3(_: None):
    yield dg.Wait(seconds=2, name="wait-1")
    yield dg.Wait(seconds=2, name="wait-2")
    return {"completedWaits": 2}


@req("wait/2-4")
def w2_4(_: None):
    yield dg.Wait(seconds=60)


@req("wait/2-5")
def w2_5(_: None):
    yield dg.Wait(seconds=3600)


# ---------------------------------------------------------------- callback


@req("callback/4-1")
def c4_1(name: str):
    handle = yield dg.CreateCallback(name=name)
    return (yield handle)


@req("callback/4-2")
def c4_2(_: None):
    handle = yield dg.CreateCallback(name="approval")
    return (yield handle)


@req("callback/4-3")
def c4_3(name: str):
    handle = yield dg.CreateCallback(name=name, timeout=5)
    return (yield handle)


@req("callback/4-4")
def c4_4(name: str):
    handle = yield dg.CreateCallback(name=name, heartbeat_timeout=5)
    return (yield handle)


@req("callback/4-5")
def c4_5(name: str):
    handle = yield dg.CreateCallback(name=name, heartbeat_timeout=10)
    return (yield handle)


@req("callback/4-6")
def c4_6(name: str):
    handle = yield dg.CreateCallback(name=name)
    return (yield handle)


@req("callback/4-7")
def c4_7(name: str):
    handle = yield dg.CreateCallback(name=name)
    yield dg.Step(lambda: "between", name="middle")
    return (yield handle)


@req("callback/4-8")
def c4_8(name: str):
    handle = yield dg.CreateCallback(name=name, timeout=5)
    yield dg.Step(lambda: "between", name="middle")
    return (yield handle)


@req("callback/4-9")
def c4_9(name: str):
    handle = yield dg.CreateCallback(name=name)
    yield dg.Wait(seconds=5)
    return (yield handle)


@req("callback/4-10")
def c4_10(name: str):
    handle = yield dg.CreateCallback(name=name)
    yield dg.Wait(seconds=5)
    return (yield handle)


@req("callback/4-11")
def c4_11(name: str):
    handle = yield dg.CreateCallback(name=name, timeout=3)
    yield dg.Wait(seconds=6)
    return (yield handle)


@req("callback/4-12")
def c4_12(name: str):
    handle = yield dg.CreateCallback(name=name)
    value = yield handle
    yield dg.Wait(seconds=2)
    return value


@req("callback/4-13")
def c4_13(name: str):
    handle = yield dg.CreateCallback(name=name)
    try:
        message = yield handle
    except dg.CallbackFailedError as exc:
        message = f"error: {exc.error_type}: {exc.error_message}"
    yield dg.Wait(seconds=2)
    return message


@req("callback/4-14")
def c4_14(name: str):
    handle = yield dg.CreateCallback(name=name, timeout=3)
    try:
        message = yield handle
    except dg.CallbackTimeoutError as exc:
        message = f"timed out: {exc.error_type}"
    yield dg.Wait(seconds=2)
    return message


@dataclass
class Received:
    id: str
    message: str
    timestamp: datetime


class ReceivedSerdes:
    def serialize(self, value: Received) -> str:
        return json.dumps(
            {"id": value.id, "message": value.message, "timestamp": value.timestamp.isoformat()}
        )

    def deserialize(self, text: str) -> Received:
        raw = json.loads(text)
        return Received(
            raw["id"],
            raw["message"],
            datetime.fromisoformat(raw["timestamp"].replace("Z", "+00:00")),
        )


@req("callback/4-15")
def c4_15(name: str):
    handle = yield dg.CreateCallback(name=name, serdes=ReceivedSerdes())
    got: Received = yield handle
    return {
        "received": {
            "id": got.id,
            "message": got.message,
            "timestamp": int(got.timestamp.timestamp()),
        }
    }


class NumberSerdes:
    def serialize(self, value: int) -> str:
        return str(value)

    def deserialize(self, text: str) -> int:
        return int(text)


@req("callback/4-16")
def c4_16(name: str):
    handle = yield dg.CreateCallback(name=name, serdes=NumberSerdes())
    count = yield handle
    return {"count": count, "doubled": count * 2}


@req("callback/4-17")
def c4_17(names: list[str]):
    a = yield dg.CreateCallback(name=names[0])
    ra = yield a
    b = yield dg.CreateCallback(name=names[1])
    rb = yield b
    return [ra, rb]


@req("callback/4-18")
def c4_18(names: list[str]):
    a = yield dg.CreateCallback(name=names[0])
    b = yield dg.CreateCallback(name=names[1])
    ra = yield a
    rb = yield b
    return [ra, rb]


@req("callback/4-19")
def c4_19(names: list[str]):
    a = yield dg.CreateCallback(name=names[0])
    b = yield dg.CreateCallback(name=names[1])
    rb = yield b
    ra = yield a
    return [ra, rb]


# ---------------------------------------------------------------- child


@dg.step
def echo_step(value: Any) -> Any:
    return value


@dg.workflow
def one_step(value: str):
    return (yield echo_step(value))


@req("child/3-1")
def ch3_1(value: str):
    return (yield dg.Child(one_step, (value,), name=None))


@req("child/3-2")
def ch3_2(data: dict[str, str]):
    return (yield dg.Child(one_step, (data["value"],), name=data["name"]))


@dg.workflow
def two_steps(value: str):
    a = yield dg.Step(echo_step.fn, (value,))
    return (yield dg.Step(echo_step.fn, (a,)))


@req("child/3-3")
def ch3_3(value: str):
    return (yield dg.Child(two_steps, (value,)))


@dg.workflow
def failing_child():
    return (yield dg.Step(always_fails, retry=dg.Retry.never()))


@req("child/3-4")
def ch3_4(_: None):
    return (yield dg.Child(failing_child))


@req("child/3-5")
def ch3_5(value: str):
    try:
        yield dg.Child(failing_child)
    except dg.ChildFailedError:
        return (yield dg.Step(echo_step.fn, (value,), name="recovery"))


@dg.workflow
def inner(value: str):
    return (yield dg.Step(echo_step.fn, (value,)))


@dg.workflow
def outer(value: str):
    yield dg.Step(echo_step.fn, (value,))
    return (yield dg.Child(inner, (value,)))


@req("child/3-6")
def ch3_6(value: str):
    return (yield dg.Child(outer, (value,)))


@dg.workflow
def retry_child(value: str):
    return (
        yield dg.Step(
            fail_once,
            ("3-7", value),
            retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"),
        )
    )


@req("child/3-7")
def ch3_7(value: str):
    return (yield dg.Child(retry_child, (value,)))


@dg.workflow
def exhaust_child():
    return (
        yield dg.Step(always_fails, retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
    )


@req("child/3-8")
def ch3_8(_: None):
    return (yield dg.Child(exhaust_child))


@req("child/3-9")
def ch3_9(value: str):
    result = yield dg.Child(inner, (value,))
    yield dg.Wait(seconds=1)
    return result


@dg.workflow
def step_then_wait(value: str):
    result = yield dg.Step(echo_step.fn, (value,))
    yield dg.Wait(seconds=1)
    return result


@req("child/3-10")
def ch3_10(value: str):
    return (yield dg.Child(step_then_wait, (value,)))


@dg.workflow
def large_child(value: str):
    small = yield dg.Step(echo_step.fn, (value,))
    replay_log.info("building large result for %s", value)
    return small * (300 * 1024 // len(small) + 1)


@req("child/3-11")
def ch3_11(value: str):
    big = yield dg.Child(large_child, (value,))
    yield dg.Wait(seconds=1)
    return len(big)


def crash_in_child_step(value: str) -> str:
    import time

    if _bump("3-12") == 1:
        time.sleep(0.05)
        raise SystemExit(1)
    return value


@dg.workflow
def crash_child(value: str):
    return (yield dg.Step(crash_in_child_step, (value,)))


@req("child/3-12")
def ch3_12(value: str):
    return (yield dg.Child(crash_child, (value,)))


@dg.workflow
def wait_only(value: str):
    yield dg.Wait(seconds=1)
    return value


@req("child/3-13")
def ch3_13(value: str):
    yield dg.Child(wait_only, (value,))
    return (yield dg.Step(echo_step.fn, (value,)))


class UpperChild:
    def serialize(self, value: str) -> str:
        return value.upper()

    def deserialize(self, text: str) -> str:
        return text


@req("child/3-14")
def ch3_14(value: str):
    return (yield dg.Child(one_step, (value,), serdes=UpperChild()))


@dg.workflow
def raising_child():
    raise ValueError("child body failed")
    yield  # pragma: no cover


@req("child/3-15")
def ch3_15(_: None):
    return (yield dg.Child(raising_child))


@dg.workflow
def null_child():
    return None
    yield  # pragma: no cover


@req("child/3-16")
def ch3_16(_: None):
    return (yield dg.Child(null_child))


@dg.workflow
def log_child(value: str):
    replay_log.info("child body ran for %s", value)
    return value
    yield  # pragma: no cover


@req("child/3-17")
def ch3_17(value: str):
    result = yield dg.Child(log_child, (value,))
    yield dg.Wait(seconds=1)
    return result


@req("child/3-18")
def ch3_18(value: str):
    inner_result = yield dg.Child(step_then_wait, (value,))
    out = yield dg.Step(echo_step.fn, (inner_result,))
    yield dg.Wait(seconds=1)
    return out


# ---------------------------------------------------------------- invoke


def target_echo(payload: Any) -> Any:
    return payload
    yield  # pragma: no cover


def target_fail(payload: Any) -> Any:
    raise PermanentError("target failed")
    yield  # pragma: no cover


def target_measure(payload: str):
    return {"length": len(payload)}
    yield  # pragma: no cover


FUNCTIONS: dict[str, Any] = {
    "outsider3-echo": target_echo,
    "outsider3-fail": target_fail,
    "outsider3-measure": target_measure,
}


@req("invoke/5-1")
def i5_1(payload: str):
    return (yield dg.Invoke("outsider3-echo", payload))


@req("invoke/5-2")
def i5_2(data: dict[str, str]):
    return (yield dg.Invoke("outsider3-echo", data["payload"], name=data["name"]))


@req("invoke/5-3")
def i5_3(data: dict[str, Any]):
    return (yield dg.Invoke("outsider3-echo", data))


@req("invoke/5-4")
def i5_4(_: None):
    return (yield dg.Invoke("outsider3-echo", None))


@req("invoke/5-5")
def i5_5(_: None):
    return (yield dg.Invoke("outsider3-fail", {"x": 1}))


@req("invoke/5-6")
def i5_6(_: None):
    try:
        return (yield dg.Invoke("outsider3-fail", {"x": 1}))
    except dg.InvokeFailedError as exc:
        return {"fallback": True, "type": exc.error_type}


@req("invoke/5-7")
def i5_7(_: None):
    # "near the size limit": 1 MiB per operation payload (lambda.md Limits), JSON quotes count.
    payload = "x" * (1024 * 1024 - 4096)
    return (yield dg.Invoke("outsider3-measure", payload))


@req("invoke/5-8")
def i5_8(data: dict[str, str]):
    return (yield dg.Invoke("outsider3-echo", data["payload"], tenant_id=data["tenantId"]))


@req("invoke/5-9")
def i5_9(_: None):
    value = yield dg.Invoke("outsider3-echo", "cached")
    yield dg.Wait(seconds=1)
    return value


@req("invoke/5-10")
def i5_10(_: None):
    try:
        message = yield dg.Invoke("outsider3-fail", None)
    except dg.InvokeFailedError as exc:
        message = exc.error_message
    yield dg.Wait(seconds=1)
    return message


@req("invoke/5-11")
def i5_11(_: None):
    value = yield dg.Step(lambda: "from-step", name="prepare")
    return (yield dg.Invoke("outsider3-echo", value))


@req("invoke/5-12")
def i5_12(_: None):
    value = yield dg.Invoke("outsider3-echo", "from-invoke")
    return (yield dg.Step(echo_step.fn, (value,), name="use"))


@dg.workflow
def invoke_child():
    return (yield dg.Invoke("outsider3-echo", "in-child"))


@req("invoke/5-13")
def i5_13(_: None):
    return (yield dg.Child(invoke_child))


@req("invoke/5-14")
def i5_14(_: None):
    a = yield dg.Invoke("outsider3-echo", "one")
    b = yield dg.Invoke("outsider3-echo", "two")
    return [a, b]


class UpperPayload:
    def serialize(self, value: Any) -> str:
        return json.dumps(value).upper()

    def deserialize(self, text: str) -> Any:
        return json.loads(text)


@req("invoke/5-15")
def i5_15(data: dict[str, str]):
    return (yield dg.Invoke("outsider3-echo", data, serdes=UpperPayload()))


class UpperResult:
    def serialize(self, value: Any) -> str:
        return json.dumps(value)

    def deserialize(self, text: str) -> str:
        return text.upper()  # the JSON text, quotes kept: 5-16 expects '"HELLO"' (conformance.md)


@req("invoke/5-16")
def i5_16(text: str):
    return (yield dg.Invoke("outsider3-echo", text, serdes=UpperResult()))


# ---------------------------------------------------------------- map


@dg.step
def hello(item: str) -> str:
    return f"Hello, {item}!"


@req("map/9-1")
def m9_1(items: list[str]):
    batch = yield dg.Map(hello, items, name="map", max_concurrency=1)
    return batch.results()


def double(item: int):
    return item * 2
    yield  # pragma: no cover


@req("map/9-2")
def m9_2(items: list[int]):
    batch = yield dg.Map(double, items, max_concurrency=1)
    return batch.results()


def plus_index(item: int, index: int):
    return item + index
    yield  # pragma: no cover


@req("map/9-3")
def m9_3(items: list[int]):
    batch = yield dg.Map(plus_index, items, max_concurrency=1)
    return batch.results()


@req("map/9-4")
def m9_4(items: list[int]):
    batch = yield dg.Map(double, items)
    return batch.results()


def ok_or_fail(item: str):
    if item.startswith("fail"):
        raise RuntimeError(f"item {item} failed")
    return item
    yield  # pragma: no cover


def projection(batch: dg.BatchResult[Any], *fields: str) -> dict[str, Any]:
    out = {
        "completionReason": batch.completion_reason,
        "status": "FAILED" if batch.has_failure else "SUCCEEDED",
        "successCount": batch.success_count,
        "failureCount": batch.failure_count,
        "totalCount": batch.success_count + batch.failure_count + batch.started_count,
    }
    return {k: out[k] for k in fields}


ALL5 = ("completionReason", "status", "successCount", "failureCount", "totalCount")
FOUR = ("completionReason", "successCount", "failureCount", "totalCount")


@req("map/9-5")
def m9_5(_: None):
    batch = yield dg.Map(
        ok_or_fail,
        ["ok", "fail", "ok2"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=0),
    )
    return projection(batch, *ALL5)


@req("map/9-6")
def m9_6(_: None):
    batch = yield dg.Map(
        ok_or_fail,
        ["fail", "ok"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=0),
    )
    batch.raise_if_failed()
    return batch.results()


@req("map/9-7")
def m9_7(_: None):
    batch = yield dg.Map(
        ok_or_fail,
        ["a", "b", "c", "d"],
        max_concurrency=1,
        completion=dg.Completion(min_successful=2),
    )
    return projection(batch, "completionReason", "successCount", "totalCount")


@req("map/9-8")
def m9_8(_: None):
    batch = yield dg.Map(
        ok_or_fail,
        ["a", "fail", "c"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return projection(batch, *ALL5)


@req("map/9-9")
def m9_9(_: None):
    batch = yield dg.Map(
        ok_or_fail,
        ["fail0", "fail1", "c"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return projection(batch, *FOUR)


@req("map/9-10")
def m9_10(_: None):
    batch = yield dg.Map(
        ok_or_fail,
        ["fail0", "fail1", "c", "d"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=25),
    )
    return projection(batch, *FOUR)


def constant_r(item: int):
    return f"r{item}"
    yield  # pragma: no cover


@req("map/9-11")
def m9_11(_: None):
    batch = yield dg.Map(constant_r, [0, 1, 2], max_concurrency=2)
    return batch.results()


@req("map/9-12")
def m9_12(_: None):
    batch = yield dg.Map(echo_step, ["fa", "fb"], max_concurrency=1, nesting="flat")
    return batch.results()


def times_ten(item: int):
    return item * 10
    yield  # pragma: no cover


@req("map/9-13")
def m9_13(items: list[int]):
    batch = yield dg.Map(
        times_ten, items, max_concurrency=1, item_namer=lambda item, index: f"item-{item}"
    )
    return batch.results()


class Wrapped:
    def serialize(self, value: str) -> str:
        return f"wrapped:{value}"

    def deserialize(self, text: str) -> str:
        return text.removeprefix("wrapped:")


def upper_item(item: str):
    return item.upper()
    yield  # pragma: no cover


@req("map/9-14")
def m9_14(_: None):
    batch = yield dg.Map(upper_item, ["x", "y"], max_concurrency=1, item_serdes=Wrapped())
    return batch.results()


def r_or_wait(item: int):
    if item == 1:
        yield dg.Wait(seconds=1)
    return (yield dg.Step(lambda: f"r{item}"))


@req("map/9-15")
def m9_15(_: None):
    batch = yield dg.Map(r_or_wait, [0, 1], max_concurrency=1)
    return batch.results()


def big_item(item: int):
    return str(item) * (70 * 1024)
    yield  # pragma: no cover


@req("map/9-16")
def m9_16(_: None):
    batch = yield dg.Map(big_item, [0, 1, 2, 3], max_concurrency=1)
    return {"successCount": batch.success_count, "totalCount": batch.total_count}


@req("map/9-17")
def m9_17(_: None):
    batch = yield dg.Map(upper_item, ["a", "b"], max_concurrency=1)
    yield dg.Wait(seconds=1)
    return batch.results()


@req("map/9-18")
def m9_18(_: None):
    batch = yield dg.Map(
        ok_or_fail,
        ["ok", "fail"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    yield dg.Wait(seconds=1)
    return projection(batch, *ALL5)


class OpSerde:
    def serialize(self, batch: dg.BatchResult[str]) -> str:
        return "OPSERDE:" + ",".join(batch.results())

    def deserialize(self, text: str) -> dg.BatchResult[str]:
        values = text.removeprefix("OPSERDE:").split(",")
        return dg.BatchResult(
            items=[
                dg.BatchItem(index=i, status="SUCCEEDED", result=v) for i, v in enumerate(values)
            ],
            completion_reason="ALL_COMPLETED",
        )


@req("map/9-19")
def m9_19(_: None):
    batch = yield dg.Map(upper_item, ["x", "y"], max_concurrency=1, serdes=OpSerde())
    return batch.results()


@req("map/9-20")
def m9_20(_: None):
    batch = yield dg.Map(upper_item, ["x", "y"], max_concurrency=1, serdes=OpSerde())
    yield dg.Wait(seconds=1)
    return batch.results()


# ---------------------------------------------------------------- parallel


@dg.step
def task_1() -> str:
    return "task-1"


@dg.step
def task_2() -> str:
    return "task-2"


@req("parallel/8-1")
def p8_1(_: None):
    batch = yield dg.Parallel([task_1, task_2], name="parallel", max_concurrency=1)
    return batch.results()


def const(value: Any):
    def branch():
        return value
        yield  # pragma: no cover

    return branch


def failing_branch():
    raise RuntimeError("branch failed")
    yield  # pragma: no cover


@req("parallel/8-2")
def p8_2(_: None):
    batch = yield dg.Parallel([const("alpha"), const("beta")], max_concurrency=1)
    return batch.results()


@req("parallel/8-3")
def p8_3(_: None):
    batch = yield dg.Parallel(
        [dg.Branch(const("one"), name="first"), dg.Branch(const("two"), name="second")],
        name="named",
        max_concurrency=1,
    )
    return batch.results()


@req("parallel/8-4")
def p8_4(_: None):
    batch = yield dg.Parallel([const("hello"), const(42), const({"k": "v"})], max_concurrency=1)
    return batch.results()


@req("parallel/8-5")
def p8_5(_: None):
    batch = yield dg.Parallel([])
    return batch.results()


@req("parallel/8-6")
def p8_6(_: None):
    batch = yield dg.Parallel(
        [const("ok"), failing_branch, const("never")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=0),
    )
    return projection(batch, *ALL5)


@req("parallel/8-7")
def p8_7(_: None):
    batch = yield dg.Parallel(
        [failing_branch, const("never")],
        max_concurrency=1,
        completion=dg.Completion.all_successful(),
    )
    return batch.get_results()


@req("parallel/8-8")
def p8_8(_: None):
    batch = yield dg.Parallel(
        [const("a"), const("b"), const("c"), const("d")],
        max_concurrency=1,
        completion=dg.Completion(min_successful=2),
    )
    return projection(batch, "completionReason", "successCount", "totalCount")


@req("parallel/8-9")
def p8_9(_: None):
    batch = yield dg.Parallel(
        [const("a"), failing_branch, const("c")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return projection(batch, *ALL5)


@req("parallel/8-10")
def p8_10(_: None):
    batch = yield dg.Parallel(
        [failing_branch, failing_branch, const("c")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return projection(batch, *FOUR)


@req("parallel/8-11")
def p8_11(_: None):
    batch = yield dg.Parallel([const("r0"), const("r1"), const("r2")], max_concurrency=2)
    return batch.results()


@req("parallel/8-12")
def p8_12(_: None):
    batch = yield dg.Parallel([lambda: "fa", lambda: "fb"], max_concurrency=1, nesting="flat")
    return batch.results()


@req("parallel/8-13")
def p8_13(_: None):
    batch = yield dg.Parallel(
        [failing_branch, failing_branch, const("c"), const("d")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=25),
    )
    return projection(batch, *FOUR)


def b1_waits():
    yield dg.Wait(seconds=2)
    return "b1"


@req("parallel/8-14")
def p8_14(_: None):
    batch = yield dg.Parallel([lambda: "b0", b1_waits], max_concurrency=1)
    return batch.results()


class WrapJson:
    def serialize(self, value: Any) -> str:
        return json.dumps({"wrapped": value})

    def deserialize(self, text: str) -> Any:
        return json.loads(text)["wrapped"]


@req("parallel/8-15")
def p8_15(_: None):
    batch = yield dg.Parallel([const("x"), const("y")], max_concurrency=1, item_serdes=WrapJson())
    return batch.results()


@req("parallel/8-16")
def p8_16(_: None):
    batch = yield dg.Parallel(
        [failing_branch, failing_branch, failing_branch],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=3),
    )
    return projection(batch, *ALL5)


@req("parallel/8-17")
def p8_17(_: None):
    batch = yield dg.Parallel(
        [const("a"), failing_branch, const("c")],
        max_concurrency=1,
        completion=dg.Completion(min_successful=3),
    )
    return projection(batch, *ALL5)


@req("parallel/8-18")
def p8_18(_: None):
    batch = yield dg.Parallel(
        [failing_branch, failing_branch, const("c"), const("d")],
        max_concurrency=1,
        completion=dg.Completion(min_successful=3, tolerated_failure_count=1),
    )
    return projection(batch, *FOUR)


@req("parallel/8-19")
def p8_19(_: None):
    batch = yield dg.Parallel([const("a"), const("b")], max_concurrency=0)
    return batch.results()


@req("parallel/8-20")
def p8_20(_: None):
    batch = yield dg.Parallel(
        [const("a"), failing_branch, const("c")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return {
        "hasFailure": batch.has_failure,
        "successCount": len(batch.results()),
        "failureCount": len([i for i in batch.items if i.status == "FAILED"]),
        "errorCount": len(batch.errors()),
    }


def inner_parallel():
    batch = yield dg.Parallel([lambda: "i1", lambda: "i2"], max_concurrency=1)
    return batch.results()


@req("parallel/8-21")
def p8_21(_: None):
    batch = yield dg.Parallel([inner_parallel], max_concurrency=1)
    return batch.results()


@req("parallel/8-22")
def p8_22(_: None):
    batch = yield dg.Parallel(
        [failing_branch, const("b"), const("c"), const("d")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=25),
    )
    return projection(batch, *ALL5)


# ---------------------------------------------------------------- wait_for_callback


def submit(callback_id: str) -> None:
    log.info("submitting %s", callback_id)


@req("wait_for_callback/7-1")
def wc7_1(name: str):
    return (yield dg.WaitForCallback(submit, name=name))


@req("wait_for_callback/7-2")
def wc7_2(_: None):
    return (yield dg.WaitForCallback(submit, name="approval"))


@req("wait_for_callback/7-3")
def wc7_3(_: None):
    return (yield dg.WaitForCallback(lambda callback_id: None))


@req("wait_for_callback/7-4")
def wc7_4(name: str):
    return (yield dg.WaitForCallback(submit, name=name))


@req("wait_for_callback/7-5")
def wc7_5(name: str):
    return (yield dg.WaitForCallback(submit, name=name, timeout=3))


@req("wait_for_callback/7-6")
def wc7_6(name: str):
    try:
        return (yield dg.WaitForCallback(submit, name=name))
    except dg.CallbackFailedError:
        return "recovered"


def bad_submitter(callback_id: str) -> None:
    raise RuntimeError("submitter broke")


@req("wait_for_callback/7-7")
def wc7_7(name: str):
    return (
        yield dg.WaitForCallback(
            bad_submitter,
            name=name,
            retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"),
        )
    )


@dg.workflow
def wfc_in_child(name: str):
    return (yield dg.WaitForCallback(submit, name=name))


@req("wait_for_callback/7-8")
def wc7_8(name: str):
    return (yield dg.Child(wfc_in_child, (name,), name="wrapper"))


@req("wait_for_callback/7-9")
def wc7_9(_: None):
    yield dg.WaitForCallback(submit, name="first")
    return (yield dg.WaitForCallback(submit, name="second"))


@req("wait_for_callback/7-10")
def wc7_10(name: str):
    yield dg.Wait(seconds=1)
    yield dg.Step(lambda: {"fixed": "data"}, name="fetch")
    return (yield dg.WaitForCallback(submit, name=name))


@dataclass
class Status:
    status: str


@req("wait_for_callback/7-11")
def wc7_11(name: str):
    got = yield dg.WaitForCallback(submit, name=name, result_type=Status)
    return got.status


@req("wait_for_callback/7-12")
def wc7_12(name: str):
    return (yield dg.WaitForCallback(submit, name=name, heartbeat_timeout=5))


@req("wait_for_callback/7-13")
def wc7_13(name: str):
    return (yield dg.WaitForCallback(submit, name=name, heartbeat_timeout=10))


@req("wait_for_callback/7-14")
def wc7_14(name: str):
    try:
        return (yield dg.WaitForCallback(submit, name=name, timeout=3))
    except dg.CallbackTimeoutError:
        return "timed-out-handled"


@req("wait_for_callback/7-15")
def wc7_15(name: str):
    return (yield dg.WaitForCallback(submit, name=name))


# ---------------------------------------------------------------- wait_for_condition


def increment(state: int) -> int:
    return state + 1


def until_at_least(threshold: int):
    return dg.WaitStrategy(until=lambda s: s >= threshold, delay=1)


@req("wait_for_condition/6-1")
def wfc6_1(threshold: int):
    return (
        yield dg.WaitForCondition(
            increment, initial_state=0, wait_strategy=until_at_least(threshold)
        )
    )


def same(state: int) -> int:
    return state


@req("wait_for_condition/6-2")
def wfc6_2(threshold: int):
    return (
        yield dg.WaitForCondition(same, initial_state=5, wait_strategy=until_at_least(threshold))
    )


@req("wait_for_condition/6-3")
def wfc6_3(threshold: int):
    return (
        yield dg.WaitForCondition(
            increment, initial_state=0, wait_strategy=until_at_least(threshold), name="poll-status"
        )
    )


@req("wait_for_condition/6-4")
def wfc6_4(threshold: int):
    return (
        yield dg.WaitForCondition(
            increment, initial_state=5, wait_strategy=until_at_least(threshold)
        )
    )


@req("wait_for_condition/6-5")
def wfc6_5(threshold: int):
    def strategy(state: int, attempt: int) -> dg.WaitDecision:
        return dg.WaitDecision.done() if state >= threshold else dg.WaitDecision.again(2)

    return (yield dg.WaitForCondition(increment, initial_state=0, wait_strategy=strategy))


@req("wait_for_condition/6-6")
def wfc6_6(_: int):
    return (
        yield dg.WaitForCondition(
            increment,
            initial_state=0,
            wait_strategy=dg.WaitStrategy(until=lambda s: False, delay=1, max_attempts=3),
        )
    )


def raising_check(state: int) -> int:
    raise RuntimeError("check failed")


@req("wait_for_condition/6-7")
def wfc6_7(_: None):
    return (
        yield dg.WaitForCondition(raising_check, initial_state=0, wait_strategy=until_at_least(3))
    )


@req("wait_for_condition/6-8")
def wfc6_8(_: None):
    try:
        return (
            yield dg.WaitForCondition(
                raising_check, initial_state=0, wait_strategy=until_at_least(3)
            )
        )
    except dg.StepFailedError:
        return "recovered"


@dataclass
class Job:
    status: str
    attempts: int


def check_job(state: Job) -> Job:
    attempts = state.attempts + 1
    return Job(status="DONE" if attempts >= 2 else "PENDING", attempts=attempts)


@req("wait_for_condition/6-9")
def wfc6_9(_: None):
    final = yield dg.WaitForCondition(
        check_job,
        initial_state=Job(status="PENDING", attempts=0),
        wait_strategy=dg.WaitStrategy(until=lambda s: s.status == "DONE", delay=1),
    )
    return {"status": final.status, "attempts": final.attempts}


def returns_none(state: Any) -> None:
    return None


@req("wait_for_condition/6-10")
def wfc6_10(_: None):
    return (
        yield dg.WaitForCondition(
            returns_none, wait_strategy=dg.WaitStrategy(until=lambda s: True, delay=1)
        )
    )


class Bracketed:
    def serialize(self, value: str) -> str:
        return f"[{value}]"

    def deserialize(self, text: str) -> str:
        return text[1:-1]


def append_x(state: str) -> str:
    return state + "x"


@req("wait_for_condition/6-11")
def wfc6_11(_: None):
    return (
        yield dg.WaitForCondition(
            append_x,
            initial_state="",
            wait_strategy=dg.WaitStrategy(until=lambda s: len(s) >= 2, delay=1),
            serdes=Bracketed(),
        )
    )


@req("wait_for_condition/6-12")
def wfc6_12(threshold: int):
    final = yield dg.WaitForCondition(
        increment, initial_state=0, wait_strategy=until_at_least(threshold)
    )
    return (yield dg.Step(lambda: final * 10, name="times-ten"))


@req("wait_for_condition/6-13")
def wfc6_13(_: None):
    first = yield dg.WaitForCondition(increment, initial_state=0, wait_strategy=until_at_least(2))
    return (
        yield dg.WaitForCondition(increment, initial_state=first, wait_strategy=until_at_least(4))
    )


# ---------------------------------------------------------------- plugin


class Conf(dg.Plugin):
    def __init__(self, label: str = "CONFPLUGIN", faulty: bool = False) -> None:
        self.label = label
        self.faulty = faulty
        self.arn = ""

    def _emit(self, **fields: Any) -> None:
        print(json.dumps({"plugin": self.label, **fields, "durableExecutionArn": self.arn}))
        if self.faulty:
            raise RuntimeError("plugin hook failed")

    def on_invocation_start(self, info):
        self.arn = info.execution_arn
        self._emit(hook="invocation-start", first=info.first)

    def on_invocation_end(self, info, status):
        self._emit(hook="invocation-end", status=status)

    def on_operation_start(self, op):
        if op.type == "STEP":
            self._emit(hook="operation-start", op=op.operation_id)

    def on_operation_end(self, op, status):
        if op.type == "STEP":
            self._emit(hook="operation-end", op=op.operation_id, status=status)

    def on_attempt_start(self, attempt):
        if attempt.type == "STEP":
            self._emit(hook="attempt-start", n=attempt.attempt, op=attempt.operation_id)

    def on_attempt_end(self, attempt, outcome, error):
        if attempt.type == "STEP":
            self._emit(
                hook="attempt-end", n=attempt.attempt, outcome=outcome, op=attempt.operation_id
            )


@dg.step
def greet_logged(name: str) -> str:
    log.info("Greeting step running for: %s", name)
    return f"Hello, {name}!"


@req("plugin/10-1", plugins=lambda: [Conf()])
def pl10_1(name: str):
    return (yield greet_logged(name))


@req("plugin/10-2", plugins=lambda: [Conf()])
def pl10_2(name: str):
    return (yield greet(name))


@req("plugin/10-3", plugins=lambda: [Conf()])
def pl10_3(_: None):
    return (
        yield dg.Step(
            fail_once,
            ("10-3", "Operation succeeded"),
            retry=dg.Retry(max_attempts=3, initial_delay=1),
        )
    )


@req("plugin/10-4", plugins=lambda: [Conf("CONFPLUGIN-FAULTY", faulty=True)])
def pl10_4(name: str):
    return (yield greet(name))


@req("plugin/10-5", plugins=lambda: [Conf("CONFPLUGIN-A"), Conf("CONFPLUGIN-B")])
def pl10_5(name: str):
    return (yield greet(name))


@req("plugin/10-6", plugins=lambda: [Conf()])
def pl10_6(_: None):
    yield dg.Wait(seconds=2)


@req("plugin/10-7", plugins=lambda: [Conf()])
def pl10_7(_: None):
    return (yield dg.Step(always_fails, retry=dg.Retry(max_attempts=1)))
