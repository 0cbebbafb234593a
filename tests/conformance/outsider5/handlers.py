"""Conformance handlers written from README.md and docs/*.md alone (fifth set).

Style: typed workflows (``dg.Workflow[R]`` taken with ``yield from``), ``@dg.step`` functions
with their options on the decorator, ``dg.Step(fn, args, kwargs=)`` for plain functions,
dataclass values and ``result_type=``/``serdes=`` objects where the docs allow them. Each
requirement key maps to a ``Handler``; ``FUNCTIONS`` are the ``Invoke`` targets.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import durable_gen as dg

from ..handlers import Handler

HANDLERS: dict[str, Handler] = {}
FUNCTIONS: dict[str, Any] = {}
#: Attempt counters of the flaky steps (reset before each requirement by ``reset()``).
COUNTS: dict[str, int] = {}


def reset() -> None:
    COUNTS.clear()


def _bump(key: str) -> int:
    COUNTS[key] = COUNTS.get(key, 0) + 1
    return COUNTS[key]


def req(key: str, **options: Any) -> Any:
    def register(fn: Any) -> Any:
        HANDLERS[key] = Handler(fn, **options)
        return fn

    return register


log = dg.get_logger("outsider5")


# ---------------------------------------------------------------- step (1-x)


@dg.step
def greet(name: str) -> str:
    return f"Hello, {name}!"


@req("1-1")
def s1_1(name: str) -> dg.Workflow[str]:
    return (yield from greet(name))


@req("1-2")
def s1_2(name: str) -> dg.Workflow[str]:
    return (yield from dg.Step(greet, (name,), name="custom_step_name"))


def first() -> str:
    return "first"


def join_second(prefix: str) -> str:
    return f"{prefix}_second"


@req("1-3")
def s1_3(_: None) -> dg.Workflow[str]:
    a = yield from dg.Step(first, name="first")
    return (yield from dg.Step(join_second, kwargs={"prefix": a}, name="second"))


@dataclass
class User:
    name: str
    tags: list[str]


@dg.step
def profile(user: User) -> dict[str, Any]:
    return {"user": {"name": user.name, "tags": user.tags}, "count": len(user.tags)}


@req("1-4")
def s1_4(user: User) -> dg.Workflow[dict[str, Any]]:
    return (yield from profile(user))


@dg.step
def nothing() -> None:
    return None


@req("1-5")
def s1_5(_: None) -> dg.Workflow[None]:
    return (yield from nothing())


class Upper:
    def serialize(self, value: str) -> str:
        return json.dumps(value.upper())

    def deserialize(self, text: str) -> str:
        return str(json.loads(text))


@dg.step(serdes=Upper())
def echo_step(text: str) -> str:
    return text


@req("1-6")
def s1_6(text: str) -> dg.Workflow[str]:
    return (yield from echo_step(text))


@dg.step
def logged_greeting(name: str) -> str:
    step_log = dg.get_logger("outsider5.step")
    step_log.info("Greeting step started for: %s", name)
    result = f"Hello, {name}!"
    step_log.info("Greeting step completed with: %s", result)
    return result


@req("1-7")
def s1_7(name: str) -> dg.Workflow[str]:
    return (yield from logged_greeting(name))


@dg.step
def compute() -> str:
    return "computed"


@req("1-8")
def s1_8(_: None) -> dg.Workflow[str]:
    value = yield from compute()
    yield from dg.Wait(seconds=2)
    return value


@dg.step
def cached() -> str:
    _bump("1-9")
    return "cached_value"


@req("1-9")
def s1_9(_: None) -> dg.Workflow[str]:
    value = yield from cached()
    yield from dg.Wait(seconds=1)
    return value


@dg.step(retry=dg.Retry.never())
def broken() -> str:
    raise RuntimeError("permanent failure")


@req("1-10")
def s1_10(_: None) -> dg.Workflow[str]:
    try:
        yield from broken()
    except dg.StepFailedError as exc:
        caught = exc.error_message or ""
    yield from dg.Wait(seconds=1)
    return caught


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def flaky_once() -> str:
    if _bump("flaky_once") == 1:
        raise RuntimeError("first attempt fails")
    return "Operation succeeded"


@req("1-11")
def s1_11(_: None) -> dg.Workflow[str]:
    return (yield from flaky_once())


@dg.step(retry=dg.Retry(max_attempts=4, initial_delay=1, jitter="none", backoff=1.0))
def always_fails() -> str:
    raise RuntimeError("always fails")


@req("1-12")
def s1_12(_: None) -> dg.Workflow[str]:
    return (yield from always_fails())


@dg.step
def twice_then_ok() -> str:
    if _bump("twice") <= 2:
        raise RuntimeError("not yet")
    return "ok"


@req("1-13")
def s1_13(_: None) -> dg.Workflow[str]:
    return (yield from twice_then_ok())


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=2, backoff=3.0, jitter="none"))
def twice_then_ok_custom() -> str:
    if _bump("custom") <= 2:
        raise RuntimeError("not yet")
    return "ok"


@req("1-14")
def s1_14(_: None) -> dg.Workflow[str]:
    return (yield from twice_then_ok_custom())


class TransientError(Exception):
    pass


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, jitter="none", retry_on=(TransientError,)))
def transient_once() -> str:
    if _bump("transient") == 1:
        raise TransientError("transient")
    return "ok"


@req("1-15")
def s1_15(_: None) -> dg.Workflow[str]:
    return (yield from transient_once())


def _not_transient(exc: BaseException) -> bool:
    return not isinstance(exc, TransientError)


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, retry_if=_not_transient))
def transient_always() -> str:
    raise TransientError("transient")


@req("1-16")
def s1_16(_: None) -> dg.Workflow[str]:
    return (yield from transient_always())


@dg.step(retry=dg.Retry.never())
def always_raises() -> str:
    raise ValueError("always raises")


@req("1-19")
def s1_19(_: None) -> dg.Workflow[str]:
    return (yield from always_raises())


@req("1-20")
def s1_20(_: None) -> dg.Workflow[str]:
    try:
        return (yield from always_raises())
    except dg.StepFailedError:
        return (yield from dg.Step(lambda: "fallback_result"))


# ---------------------------------------------------------------- wait (2-x)


@req("2-1")
def w2_1(_: None) -> dg.Workflow[None]:
    yield from dg.Wait(seconds=2)


@req("2-2")
def w2_2(_: None) -> dg.Workflow[None]:
    yield from dg.Wait(seconds=2, name="custom_wait_name")


@req("2-3")
def w2_3(_: None) -> dg.Workflow[dict[str, int]]:
    for n in (1, 2):
        yield from dg.Wait(seconds=2, name=f"wait-{n}")
    return {"completedWaits": 2}


@req("2-4")
def w2_4(_: None) -> dg.Workflow[None]:
    yield from dg.Wait(seconds=60)


@req("2-5")
def w2_5(_: None) -> dg.Workflow[None]:
    yield from dg.Wait(seconds=3600)


# ---------------------------------------------------------------- child (3-x)


@dg.step
def identity(value: str) -> str:
    return value


@dg.workflow
def just_step(value: str) -> dg.Workflow[str]:
    return (yield from identity(value))


@req("3-1")
def c3_1(value: str) -> dg.Workflow[str]:
    return (yield from dg.Child(just_step, (value,)))


@dataclass
class NamedValue:
    name: str
    value: str


@req("3-2")
def c3_2(inp: NamedValue) -> dg.Workflow[str]:
    return (yield from dg.Child(just_step, (inp.value,), name=inp.name))


@dg.workflow
def two_steps(value: str) -> dg.Workflow[str]:
    a = yield from identity(value)
    return (yield from identity(a))


@req("3-3")
def c3_3(value: str) -> dg.Workflow[str]:
    return (yield from dg.Child(two_steps, (value,)))


@dg.step(retry=dg.Retry.never())
def child_boom() -> str:
    raise RuntimeError("child step failed")


@dg.workflow
def failing_child() -> dg.Workflow[str]:
    return (yield from child_boom())


@req("3-4")
def c3_4(_: None) -> dg.Workflow[str]:
    return (yield from dg.Child(failing_child))


@req("3-5")
def c3_5(value: str) -> dg.Workflow[str]:
    try:
        return (yield from dg.Child(failing_child))
    except dg.ChildFailedError:
        return (yield from identity(value))


@dg.workflow
def inner_child(value: str) -> dg.Workflow[str]:
    return (yield from identity(value))


@dg.workflow
def outer_child(value: str) -> dg.Workflow[str]:
    yield from identity(value)
    return (yield from dg.Child(inner_child, (value,)))


@req("3-6")
def c3_6(value: str) -> dg.Workflow[str]:
    return (yield from dg.Child(outer_child, (value,)))


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def flaky_identity(value: str) -> str:
    if _bump("3-7") == 1:
        raise RuntimeError("first attempt fails")
    return value


@dg.workflow
def flaky_child(value: str) -> dg.Workflow[str]:
    return (yield from flaky_identity(value))


@req("3-7")
def c3_7(value: str) -> dg.Workflow[str]:
    return (yield from dg.Child(flaky_child, (value,)))


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def child_always_fails() -> str:
    raise RuntimeError("always fails")


@dg.workflow
def exhausted_child() -> dg.Workflow[str]:
    return (yield from child_always_fails())


@req("3-8")
def c3_8(_: None) -> dg.Workflow[str]:
    return (yield from dg.Child(exhausted_child))


@req("3-9")
def c3_9(value: str) -> dg.Workflow[str]:
    result = yield from dg.Child(just_step, (value,))
    yield from dg.Wait(seconds=1)
    return result


@dg.workflow
def step_then_wait(value: str) -> dg.Workflow[str]:
    result = yield from identity(value)
    yield from dg.Wait(seconds=1)
    return result


@req("3-10")
def c3_10(value: str) -> dg.Workflow[str]:
    return (yield from dg.Child(step_then_wait, (value,)))


@dg.workflow
def big_child(value: str) -> dg.Workflow[str]:
    small = yield from identity(value)
    dg.get_logger("outsider5.child", log_during_replay=True).info("child context input: %s", value)
    return small * (300 * 1024 // max(1, len(small)) + 1)


@req("3-11")
def c3_11(value: str) -> dg.Workflow[int]:
    big = yield from dg.Child(big_child, (value,))
    yield from dg.Wait(seconds=1)
    return len(big)


@dg.workflow
def wait_only(value: str) -> dg.Workflow[str]:
    yield from dg.Wait(seconds=1)
    return value


@req("3-13")
def c3_13(value: str) -> dg.Workflow[str]:
    yield from dg.Child(wait_only, (value,))
    return (yield from identity(value))


class UpperSerdes:
    """Writes the text itself, upper-cased (not a JSON string)."""

    def serialize(self, value: str) -> str:
        return value.upper()

    def deserialize(self, text: str) -> str:
        return text


@req("3-14")
def c3_14(value: str) -> dg.Workflow[str]:
    return (yield from dg.Child(just_step, (value,), serdes=UpperSerdes()))


@dg.workflow
def raises_directly() -> dg.Workflow[str]:
    raise RuntimeError("child failed without an operation")
    yield  # pragma: no cover - makes this a generator function


@req("3-15")
def c3_15(_: None) -> dg.Workflow[str]:
    return (yield from dg.Child(raises_directly))


@dg.workflow
def returns_none() -> dg.Workflow[None]:
    return None
    yield  # pragma: no cover


@req("3-16")
def c3_16(_: None) -> dg.Workflow[None]:
    return (yield from dg.Child(returns_none))


@dg.workflow
def only_logs(value: str) -> dg.Workflow[str]:
    dg.get_logger("outsider5.child", log_during_replay=True).info(
        "child context ran with: %s", value
    )
    return value
    yield  # pragma: no cover


@req("3-17")
def c3_17(value: str) -> dg.Workflow[str]:
    result = yield from dg.Child(only_logs, (value,))
    yield from dg.Wait(seconds=1)
    return result


@req("3-18")
def c3_18(value: str) -> dg.Workflow[str]:
    inner = yield from dg.Child(step_then_wait, (value,))
    outer = yield from identity(inner)
    yield from dg.Wait(seconds=1)
    return outer


# ---------------------------------------------------------------- callback (4-x)


@req("4-1")
def cb4_1(name: str) -> dg.Workflow[Any]:
    handle = yield from dg.CreateCallback(name=name)
    return (yield from handle)


@req("4-2")
def cb4_2(_: None) -> dg.Workflow[Any]:
    handle = yield from dg.CreateCallback(name="approval")
    return (yield from handle)


@req("4-3")
def cb4_3(name: str) -> dg.Workflow[Any]:
    handle = yield from dg.CreateCallback(name=name, timeout=5)
    return (yield from handle)


@req("4-4")
def cb4_4(name: str) -> dg.Workflow[Any]:
    handle = yield from dg.CreateCallback(name=name, heartbeat_timeout=5)
    return (yield from handle)


@req("4-5")
def cb4_5(name: str) -> dg.Workflow[Any]:
    handle = yield from dg.CreateCallback(name=name, heartbeat_timeout=10)
    return (yield from handle)


@req("4-6")
def cb4_6(name: str) -> dg.Workflow[Any]:
    handle = yield from dg.CreateCallback(name=name)
    return (yield from handle)


@dg.step
def side_work() -> str:
    return "side work"


@req("4-7")
def cb4_7(name: str) -> dg.Workflow[Any]:
    handle = yield from dg.CreateCallback(name=name)
    yield from side_work()
    return (yield from handle)


@req("4-8")
def cb4_8(name: str) -> dg.Workflow[Any]:
    handle = yield from dg.CreateCallback(name=name, timeout=5)
    yield from side_work()
    return (yield from handle)


@req("4-9")
def cb4_9(name: str) -> dg.Workflow[Any]:
    handle = yield from dg.CreateCallback(name=name)
    yield from dg.Wait(seconds=5)
    return (yield from handle)


@req("4-10")
def cb4_10(name: str) -> dg.Workflow[Any]:
    handle = yield from dg.CreateCallback(name=name)
    yield from dg.Wait(seconds=5)
    return (yield from handle)


@req("4-11")
def cb4_11(name: str) -> dg.Workflow[Any]:
    handle = yield from dg.CreateCallback(name=name, timeout=3)
    yield from dg.Wait(seconds=6)
    return (yield from handle)


@req("4-12")
def cb4_12(name: str) -> dg.Workflow[Any]:
    handle = yield from dg.CreateCallback(name=name)
    value = yield from handle
    yield from dg.Wait(seconds=2)
    return value


@req("4-13")
def cb4_13(name: str) -> dg.Workflow[str]:
    handle = yield from dg.CreateCallback(name=name)
    try:
        yield from handle
        message = "no error"
    except dg.CallbackFailedError as exc:
        message = f"callback failed: {exc.error_message}"
    yield from dg.Wait(seconds=2)
    return message


@req("4-14")
def cb4_14(name: str) -> dg.Workflow[str]:
    handle = yield from dg.CreateCallback(name=name, timeout=3)
    try:
        yield from handle
        message = "no timeout"
    except dg.CallbackTimeoutError:
        message = "callback timed out"
    yield from dg.Wait(seconds=2)
    return message


@dataclass
class Greeting:
    id: str
    message: str
    timestamp: int  # seconds since the epoch


class GreetingSerdes:
    def serialize(self, value: Greeting) -> str:
        return json.dumps(value.__dict__)

    def deserialize(self, text: str) -> Greeting:
        raw = json.loads(text)
        stamp = raw["timestamp"]
        if isinstance(stamp, str):
            stamp = int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
        return Greeting(id=raw["id"], message=raw["message"], timestamp=stamp)


@req("4-15")
def cb4_15(name: str) -> dg.Workflow[dict[str, Any]]:
    handle = yield from dg.CreateCallback(name=name, serdes=GreetingSerdes())
    got = yield from handle
    return {"received": got.__dict__}


class CountSerdes:
    def serialize(self, value: int) -> str:
        return json.dumps(value)

    def deserialize(self, text: str) -> int:
        decoded = json.loads(text)
        return int(decoded["count"] if isinstance(decoded, dict) else decoded)


@req("4-16")
def cb4_16(name: str) -> dg.Workflow[dict[str, int]]:
    handle = yield from dg.CreateCallback(name=name, serdes=CountSerdes())
    count = yield from handle
    return {"count": count, "doubled": count * 2}


@req("4-17")
def cb4_17(names: list[str]) -> dg.Workflow[list[Any]]:
    a = yield from dg.CreateCallback(name=names[0])
    ra = yield from a
    b = yield from dg.CreateCallback(name=names[1])
    rb = yield from b
    return [ra, rb]


@req("4-18")
def cb4_18(names: list[str]) -> dg.Workflow[list[Any]]:
    a = yield from dg.CreateCallback(name=names[0])
    b = yield from dg.CreateCallback(name=names[1])
    ra = yield from a
    rb = yield from b
    return [ra, rb]


@req("4-19")
def cb4_19(names: list[str]) -> dg.Workflow[list[Any]]:
    a = yield from dg.CreateCallback(name=names[0])
    b = yield from dg.CreateCallback(name=names[1])
    rb = yield from b
    ra = yield from a
    return [ra, rb]


# ---------------------------------------------------------------- invoke (5-x)


def echo(payload: Any) -> Any:
    """A plain function target: returns what it receives."""
    return payload


@dg.workflow
def echo_workflow(payload: Any) -> dg.Workflow[Any]:
    """A workflow target (a durable execution of its own) that echoes through a step."""
    return (yield from dg.Step(echo, (payload,), name="echo"))


@dg.workflow
def failing_target(payload: Any) -> dg.Workflow[Any]:
    yield from dg.Step(_raise_target_failed, name="fail", retry=dg.Retry.never())


def _raise_target_failed() -> None:
    raise RuntimeError("target failed")


@dg.workflow
def measure(payload: dict[str, str]) -> dg.Workflow[dict[str, int]]:
    return {"length": len(payload["data"])}
    yield  # pragma: no cover - a workflow target with no operation


FUNCTIONS.update(
    {
        "outsider5-echo": echo_workflow,
        "outsider5-echo-workflow": echo_workflow,
        "outsider5-fails": failing_target,
        "outsider5-measure": measure,
    }
)


@req("5-1")
def i5_1(value: str) -> dg.Workflow[str]:
    return (yield from dg.Invoke("outsider5-echo", value, result_type=str))


@dataclass
class NamedPayload:
    name: str
    payload: str


@req("5-2")
def i5_2(inp: NamedPayload) -> dg.Workflow[str]:
    return (
        yield from dg.Invoke("outsider5-echo-workflow", inp.payload, name=inp.name, result_type=str)
    )


@req("5-3")
def i5_3(inp: dict[str, Any]) -> dg.Workflow[dict[str, Any]]:
    return (yield from dg.Invoke("outsider5-echo", inp, result_type=dict[str, Any]))


@req("5-4")
def i5_4(_: None) -> dg.Workflow[None]:
    return (yield from dg.Invoke("outsider5-echo", None, result_type=type(None)))


@req("5-5")
def i5_5(_: None) -> dg.Workflow[Any]:
    return (yield from dg.Invoke("outsider5-fails", {"x": 1}))


@req("5-6")
def i5_6(_: None) -> dg.Workflow[str]:
    try:
        yield from dg.Invoke("outsider5-fails", {"x": 1})
    except dg.InvokeFailedError as exc:
        return f"fallback after {exc.error_type}"
    return "unexpected"


@req("5-7")
def i5_7(_: None) -> dg.Workflow[int]:
    big = {"data": "x" * (200 * 1024)}
    result = yield from dg.Invoke("outsider5-measure", big, result_type=dict[str, int])
    return result["length"]


@dataclass
class TenantPayload:
    tenantId: str
    payload: str


@req("5-8")
def i5_8(inp: TenantPayload) -> dg.Workflow[str]:
    return (
        yield from dg.Invoke("outsider5-echo", inp.payload, tenant_id=inp.tenantId, result_type=str)
    )


@req("5-9")
def i5_9(_: None) -> dg.Workflow[Any]:
    result = yield from dg.Invoke("outsider5-echo", {"k": "v"})
    yield from dg.Wait(seconds=1)
    return result


@req("5-10")
def i5_10(_: None) -> dg.Workflow[str]:
    try:
        yield from dg.Invoke("outsider5-fails", None)
        message = "no error"
    except dg.InvokeFailedError as exc:
        message = f"caught {exc.error_type}"
    yield from dg.Wait(seconds=1)
    return message


@dg.step
def make_payload() -> dict[str, str]:
    return {"from": "step"}


@req("5-11")
def i5_11(_: None) -> dg.Workflow[Any]:
    payload = yield from make_payload()
    return (yield from dg.Invoke("outsider5-echo", payload))


@dg.step
def process(value: dict[str, str]) -> dict[str, str]:
    return {**value, "processed": "yes"}


@req("5-12")
def i5_12(_: None) -> dg.Workflow[dict[str, str]]:
    got = yield from dg.Invoke("outsider5-echo", {"from": "invoke"}, result_type=dict[str, str])
    return (yield from process(got))


@dg.workflow
def invoking_child() -> dg.Workflow[Any]:
    return (yield from dg.Invoke("outsider5-echo", "from child"))


@req("5-13")
def i5_13(_: None) -> dg.Workflow[Any]:
    return (yield from dg.Child(invoking_child))


@req("5-14")
def i5_14(_: None) -> dg.Workflow[list[Any]]:
    a = yield from dg.Invoke("outsider5-echo", "one")
    b = yield from dg.Invoke("outsider5-echo-workflow", "two")
    return [a, b]


class UpperPayload:
    """Upper-cases every string of the payload sent; reads the result as plain JSON."""

    def serialize(self, value: dict[str, str]) -> str:
        return json.dumps({k: v.upper() for k, v in value.items()})

    def deserialize(self, text: str) -> Any:
        return json.loads(text)


@req("5-15")
def i5_15(inp: dict[str, str]) -> dg.Workflow[Any]:
    return (yield from dg.Invoke("outsider5-echo", inp, serdes=UpperPayload()))


class UpperResultText:
    """Sends plain JSON; upper-cases the result's JSON text as received."""

    def serialize(self, value: str) -> str:
        return json.dumps(value)

    def deserialize(self, text: str) -> str:
        return text.upper()


@req("5-16")
def i5_16(text: str) -> dg.Workflow[str]:
    return (yield from dg.Invoke("outsider5-echo", text, serdes=UpperResultText()))


# ---------------------------------------------------------------- wait_for_condition (6-x)


def increment(state: int) -> int:
    return state + 1


def below(limit: int) -> dg.WaitStrategy[int]:
    return dg.WaitStrategy(until=lambda s: s >= limit, delay=1)


@req("6-1")
def p6_1(limit: int) -> dg.Workflow[int]:
    return (yield from dg.WaitForCondition(increment, initial_state=0, wait_strategy=below(limit)))


def unchanged(state: int) -> int:
    return state


@req("6-2")
def p6_2(limit: int) -> dg.Workflow[int]:
    return (yield from dg.WaitForCondition(unchanged, initial_state=5, wait_strategy=below(limit)))


@req("6-3")
def p6_3(limit: int) -> dg.Workflow[int]:
    return (
        yield from dg.WaitForCondition(
            increment, initial_state=0, wait_strategy=below(limit), name="poll-status"
        )
    )


@req("6-4")
def p6_4(limit: int) -> dg.Workflow[int]:
    return (yield from dg.WaitForCondition(increment, initial_state=5, wait_strategy=below(limit)))


def every_two_seconds(limit: int) -> Any:
    def decide(state: int, attempt: int) -> dg.WaitDecision:
        return dg.WaitDecision.done() if state >= limit else dg.WaitDecision.again(2)

    return decide


@req("6-5")
def p6_5(limit: int) -> dg.Workflow[int]:
    return (
        yield from dg.WaitForCondition(
            increment, initial_state=0, wait_strategy=every_two_seconds(limit)
        )
    )


@req("6-6")
def p6_6(_: int) -> dg.Workflow[int]:
    never = dg.WaitStrategy[int](until=lambda s: False, delay=1, max_attempts=3)
    return (yield from dg.WaitForCondition(increment, initial_state=0, wait_strategy=never))


def check_raises(state: int) -> int:
    raise RuntimeError("check failed")


@req("6-7")
def p6_7(_: None) -> dg.Workflow[int]:
    return (yield from dg.WaitForCondition(check_raises, initial_state=0, wait_strategy=below(1)))


@req("6-8")
def p6_8(_: None) -> dg.Workflow[str]:
    try:
        yield from dg.WaitForCondition(check_raises, initial_state=0, wait_strategy=below(1))
    except dg.StepFailedError:
        return "recovered"
    return "unexpected"


@dataclass
class Job:
    status: str
    attempts: int


def check_job(job: Job) -> Job:
    attempts = job.attempts + 1
    return Job(status="DONE" if attempts >= 2 else "PENDING", attempts=attempts)


@req("6-9")
def p6_9(_: None) -> dg.Workflow[Job]:
    return (
        yield from dg.WaitForCondition(
            check_job,
            initial_state=Job(status="PENDING", attempts=0),
            wait_strategy=dg.WaitStrategy(until=lambda j: j.status != "PENDING", delay=1),
        )
    )


def to_none(state: int | None) -> int | None:
    return None


@req("6-10")
def p6_10(_: None) -> dg.Workflow[int | None]:
    return (
        yield from dg.WaitForCondition(
            to_none,
            initial_state=0,
            wait_strategy=lambda state, attempt: dg.WaitDecision.done(),
        )
    )


class Marked:
    """State serdes: the string written with a prefix, read back without it."""

    def serialize(self, value: str) -> str:
        return "state:" + value

    def deserialize(self, text: str) -> str:
        return text.removeprefix("state:")


def append_x(state: str) -> str:
    return state + "x"


@req("6-11")
def p6_11(_: None) -> dg.Workflow[str]:
    return (
        yield from dg.WaitForCondition(
            append_x,
            initial_state="",
            wait_strategy=dg.WaitStrategy(until=lambda s: len(s) >= 2, delay=1),
            serdes=Marked(),
        )
    )


@dg.step
def times_ten(value: int) -> int:
    return value * 10


@req("6-12")
def p6_12(limit: int) -> dg.Workflow[int]:
    reached = yield from dg.WaitForCondition(increment, initial_state=0, wait_strategy=below(limit))
    return (yield from times_ten(reached))


@req("6-13")
def p6_13(_: None) -> dg.Workflow[int]:
    two = yield from dg.WaitForCondition(increment, initial_state=0, wait_strategy=below(2))
    return (yield from dg.WaitForCondition(increment, initial_state=two, wait_strategy=below(4)))


# ---------------------------------------------------------------- wait_for_callback (7-x)


def hand_over(callback_id: str) -> None:
    """The submitter: hands the id to the outside world (nothing durable)."""


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def broken_submitter(callback_id: str) -> None:
    raise RuntimeError("submitter failed")


@req("7-1")
def cb7_1(name: str) -> dg.Workflow[Any]:
    return (yield from dg.WaitForCallback(hand_over, name=name))


@req("7-2")
def cb7_2(_: None) -> dg.Workflow[Any]:
    return (yield from dg.WaitForCallback(hand_over, name="approval"))


@req("7-3")
def cb7_3(_: None) -> dg.Workflow[Any]:
    return (yield from dg.WaitForCallback(lambda callback_id: None))


@req("7-4")
def cb7_4(name: str) -> dg.Workflow[Any]:
    return (yield from dg.WaitForCallback(hand_over, name=name))


@req("7-5")
def cb7_5(name: str) -> dg.Workflow[Any]:
    return (yield from dg.WaitForCallback(hand_over, name=name, timeout=3))


@req("7-6")
def cb7_6(name: str) -> dg.Workflow[str]:
    try:
        yield from dg.WaitForCallback(hand_over, name=name)
    except dg.CallbackError:
        return "recovered"
    return "unexpected"


@req("7-7")
def cb7_7(name: str) -> dg.Workflow[Any]:
    return (yield from dg.WaitForCallback(broken_submitter, name=name))


@dg.workflow
def wrapper(name: str) -> dg.Workflow[Any]:
    return (yield from dg.WaitForCallback(hand_over, name=name))


@req("7-8")
def cb7_8(name: str) -> dg.Workflow[Any]:
    return (yield from dg.Child(wrapper, (name,), name="wrapper"))


@req("7-9")
def cb7_9(_: None) -> dg.Workflow[list[Any]]:
    a = yield from dg.WaitForCallback(hand_over, name="first")
    b = yield from dg.WaitForCallback(hand_over, name="second")
    return [a, b]


@dg.step
def fixed_data() -> dict[str, str]:
    return {"fixed": "data"}


@req("7-10")
def cb7_10(name: str) -> dg.Workflow[Any]:
    yield from dg.Wait(seconds=1)
    yield from fixed_data()
    return (yield from dg.WaitForCallback(hand_over, name=name))


@dataclass
class Decision:
    status: str


@req("7-11")
def cb7_11(name: str) -> dg.Workflow[str]:
    decision = yield from dg.WaitForCallback(hand_over, name=name, result_type=Decision)
    return decision.status


@req("7-12")
def cb7_12(name: str) -> dg.Workflow[Any]:
    return (yield from dg.WaitForCallback(hand_over, name=name, heartbeat_timeout=5))


@req("7-13")
def cb7_13(name: str) -> dg.Workflow[Any]:
    return (yield from dg.WaitForCallback(hand_over, name=name, heartbeat_timeout=10))


@req("7-14")
def cb7_14(name: str) -> dg.Workflow[str]:
    try:
        yield from dg.WaitForCallback(hand_over, name=name, timeout=3)
    except dg.CallbackTimeoutError:
        return "timed-out-handled"
    return "unexpected"


@req("7-15")
def cb7_15(name: str) -> dg.Workflow[Any]:
    return (yield from dg.WaitForCallback(hand_over, name=name))


# ---------------------------------------------------------------- parallel (8-x)


def constant(value: Any) -> Any:
    """A branch or item body returning ``value`` without any operation (a child workflow)."""

    def body() -> dg.Workflow[Any]:
        return value
        yield  # pragma: no cover

    return body


def constant_step(value: Any) -> Any:
    """A branch running one step that returns ``value``."""
    return functools.partial(echo, value)


def fails(message: str = "branch failed") -> Any:
    def body() -> dg.Workflow[Any]:
        raise RuntimeError(message)
        yield  # pragma: no cover

    return body


def projection(batch: dg.BatchResult[Any], *fields: str) -> dict[str, Any]:
    """The requirements' projections; ``totalCount`` counts the items that were started."""
    values = {
        "completionReason": batch.completion_reason,
        "status": "FAILED" if batch.has_failure else "SUCCEEDED",
        "successCount": batch.success_count,
        "failureCount": batch.failure_count,
        "totalCount": batch.success_count + batch.failure_count + batch.started_count,
    }
    return {f: values[f] for f in fields}


@req("8-1")
def par8_1(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Parallel(
        [constant_step("task-1"), constant_step("task-2")], name="parallel", max_concurrency=1
    )
    return batch.results()


@req("8-2")
def par8_2(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Parallel([constant("alpha"), constant("beta")], max_concurrency=1)
    return batch.results()


@req("8-3")
def par8_3(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Parallel(
        [dg.Branch(constant("one"), name="first"), dg.Branch(constant("two"), name="second")],
        name="named-branches",
        max_concurrency=1,
    )
    return batch.results()


@req("8-4")
def par8_4(_: None) -> dg.Workflow[list[Any]]:
    batch: dg.BatchResult[Any] = yield from dg.Parallel(
        [constant("hello"), constant(42), constant({"k": "v"})], max_concurrency=1
    )
    return batch.results()


@req("8-5")
def par8_5(_: None) -> dg.Workflow[list[Any]]:
    batch: dg.BatchResult[Any] = yield from dg.Parallel([])
    assert batch.completion_reason == "ALL_COMPLETED" and batch.total_count == 0
    return batch.results()


ALL = ("completionReason", "status", "successCount", "failureCount", "totalCount")


@req("8-6")
def par8_6(_: None) -> dg.Workflow[dict[str, Any]]:
    batch = yield from dg.Parallel(
        [constant("ok"), fails(), constant("never")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=0),
    )
    return projection(batch, *ALL)


@req("8-7")
def par8_7(_: None) -> dg.Workflow[list[Any]]:
    batch = yield from dg.Parallel(
        [fails(), constant("never")], max_concurrency=1, completion=dg.Completion.all_successful()
    )
    batch.raise_if_failed()
    return batch.results()


@req("8-8")
def par8_8(_: None) -> dg.Workflow[dict[str, Any]]:
    batch = yield from dg.Parallel(
        [constant(f"b{i}") for i in range(4)],
        max_concurrency=1,
        completion=dg.Completion(min_successful=2),
    )
    return projection(batch, "completionReason", "successCount", "totalCount")


@req("8-9")
def par8_9(_: None) -> dg.Workflow[dict[str, Any]]:
    batch = yield from dg.Parallel(
        [constant("a"), fails(), constant("c")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return projection(batch, *ALL)


SHORT = ("completionReason", "successCount", "failureCount", "totalCount")


@req("8-10")
def par8_10(_: None) -> dg.Workflow[dict[str, Any]]:
    batch = yield from dg.Parallel(
        [fails(), fails(), constant("never")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return projection(batch, *SHORT)


@req("8-11")
def par8_11(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Parallel([constant(f"r{i}") for i in range(3)], max_concurrency=2)
    return batch.results()


@req("8-12")
def par8_12(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Parallel(
        [constant_step("fa"), constant_step("fb")], max_concurrency=1, nesting="flat"
    )
    return batch.results()


@req("8-13")
def par8_13(_: None) -> dg.Workflow[dict[str, Any]]:
    batch = yield from dg.Parallel(
        [fails(), fails(), constant("c"), constant("d")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=25),
    )
    return projection(batch, *SHORT)


@dg.workflow
def wait_then_b1() -> dg.Workflow[str]:
    yield from dg.Wait(seconds=2)
    return "b1"


@req("8-14")
def par8_14(_: None) -> dg.Workflow[list[str]]:
    batch: dg.BatchResult[Any] = yield from dg.Parallel(
        [constant_step("b0"), wait_then_b1], max_concurrency=1
    )
    return batch.results()


class Wrapped:
    """Symmetric: ``v`` is written as ``{"wrapped": v}``."""

    def serialize(self, value: Any) -> str:
        return json.dumps({"wrapped": value})

    def deserialize(self, text: str) -> Any:
        return json.loads(text)["wrapped"]


@req("8-15")
def par8_15(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Parallel(
        [constant("x"), constant("y")], max_concurrency=1, item_serdes=Wrapped()
    )
    return batch.results()


@req("8-16")
def par8_16(_: None) -> dg.Workflow[dict[str, Any]]:
    batch = yield from dg.Parallel(
        [fails(), fails(), fails()],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=3),
    )
    return projection(batch, *ALL)


@req("8-17")
def par8_17(_: None) -> dg.Workflow[dict[str, Any]]:
    batch = yield from dg.Parallel(
        [constant("a"), fails(), constant("c")],
        max_concurrency=1,
        completion=dg.Completion(min_successful=3),
    )
    return projection(batch, *ALL)


@req("8-18")
def par8_18(_: None) -> dg.Workflow[dict[str, Any]]:
    batch = yield from dg.Parallel(
        [fails(), fails(), constant("c"), constant("d")],
        max_concurrency=1,
        completion=dg.Completion(min_successful=3, tolerated_failure_count=1),
    )
    return projection(batch, *SHORT)


@req("8-19")
def par8_19(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Parallel([constant("a"), constant("b")], max_concurrency=0)
    return batch.results()


@req("8-20")
def par8_20(_: None) -> dg.Workflow[dict[str, Any]]:
    batch = yield from dg.Parallel(
        [constant("a"), fails(), constant("c")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return {
        "hasFailure": batch.has_failure,
        "successCount": len(batch.results()),
        "failureCount": batch.failure_count,
        "errorCount": len(batch.errors()),
    }


@dg.workflow
def inner_parallel() -> dg.Workflow[list[str]]:
    batch = yield from dg.Parallel([constant_step("i1"), constant_step("i2")], max_concurrency=1)
    return batch.results()


@req("8-21")
def par8_21(_: None) -> dg.Workflow[list[list[str]]]:
    batch = yield from dg.Parallel([inner_parallel], max_concurrency=1)
    return batch.results()


@req("8-22")
def par8_22(_: None) -> dg.Workflow[dict[str, Any]]:
    batch = yield from dg.Parallel(
        [fails(), constant("b"), constant("c"), constant("d")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=25),
    )
    return projection(batch, *ALL)


# ---------------------------------------------------------------- map (9-x)


@dg.step
def hello(name: str) -> str:
    return f"Hello, {name}!"


@req("9-1")
def m9_1(names: list[str]) -> dg.Workflow[list[str]]:
    batch = yield from dg.Map(hello, names, name="map", max_concurrency=1)
    return batch.results()


def double(item: int) -> dg.Workflow[int]:
    return item * 2
    yield  # pragma: no cover


@req("9-2")
def m9_2(items: list[int]) -> dg.Workflow[list[int]]:
    batch = yield from dg.Map(double, items, max_concurrency=1)
    return batch.results()


def plus_index(item: int, index: int) -> dg.Workflow[int]:
    return item + index
    yield  # pragma: no cover


@req("9-3")
def m9_3(items: list[int]) -> dg.Workflow[list[int]]:
    batch = yield from dg.Map(plus_index, items, max_concurrency=1)
    return batch.results()


@req("9-4")
def m9_4(items: list[int]) -> dg.Workflow[list[int]]:
    batch = yield from dg.Map(double, items)
    return batch.results()


def ok_or_fail(item: str) -> dg.Workflow[str]:
    if item.startswith("fail"):
        raise RuntimeError(f"item {item} failed")
    return item
    yield  # pragma: no cover


@req("9-5")
def m9_5(_: None) -> dg.Workflow[dict[str, Any]]:
    batch = yield from dg.Map(
        ok_or_fail,
        ["ok", "fail-1", "never"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=0),
    )
    return projection(batch, *ALL)


@req("9-6")
def m9_6(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Map(
        ok_or_fail,
        ["fail-0", "never"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=0),
    )
    return batch.get_results()


@req("9-7")
def m9_7(_: None) -> dg.Workflow[dict[str, Any]]:
    batch = yield from dg.Map(
        ok_or_fail,
        ["a", "b", "c", "d"],
        max_concurrency=1,
        completion=dg.Completion(min_successful=2),
    )
    return projection(batch, "completionReason", "successCount", "totalCount")


@req("9-8")
def m9_8(_: None) -> dg.Workflow[dict[str, Any]]:
    batch = yield from dg.Map(
        ok_or_fail,
        ["a", "fail-1", "c"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return projection(batch, *ALL)


@req("9-9")
def m9_9(_: None) -> dg.Workflow[dict[str, Any]]:
    batch = yield from dg.Map(
        ok_or_fail,
        ["fail-0", "fail-1", "c"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return projection(batch, *SHORT)


@req("9-10")
def m9_10(_: None) -> dg.Workflow[dict[str, Any]]:
    batch = yield from dg.Map(
        ok_or_fail,
        ["fail-0", "fail-1", "c", "d"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=25),
    )
    return projection(batch, *SHORT)


@req("9-11")
def m9_11(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Map(ok_or_fail, ["r0", "r1", "r2"], max_concurrency=2)
    return batch.results()


@req("9-12")
def m9_12(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Map(identity, ["fa", "fb"], max_concurrency=1, nesting="flat")
    return batch.results()


def times10(item: int) -> dg.Workflow[int]:
    return item * 10
    yield  # pragma: no cover


@req("9-13")
def m9_13(items: list[int]) -> dg.Workflow[list[int]]:
    batch = yield from dg.Map(
        times10, items, max_concurrency=1, item_namer=lambda item, index: f"item-{item}"
    )
    return batch.results()


def upper(item: str) -> dg.Workflow[str]:
    return item.upper()
    yield  # pragma: no cover


class WrappedText:
    """Each item's result written as ``wrapped:<value>``."""

    def serialize(self, value: str) -> str:
        return f"wrapped:{value}"

    def deserialize(self, text: str) -> str:
        return text.removeprefix("wrapped:")


@req("9-14")
def m9_14(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Map(upper, ["x", "y"], max_concurrency=1, item_serdes=WrappedText())
    return batch.results()


def wait_item(item: str, index: int) -> dg.Workflow[str]:
    if index == 1:
        yield from dg.Wait(seconds=1)
    return (yield from identity(item))


@req("9-15")
def m9_15(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Map(wait_item, ["r0", "r1"], max_concurrency=1)
    return batch.results()


def large(item: str) -> dg.Workflow[str]:
    return item * (70 * 1024)
    yield  # pragma: no cover


@req("9-16")
def m9_16(_: None) -> dg.Workflow[dict[str, int]]:
    batch = yield from dg.Map(large, ["a", "b", "c", "d"], max_concurrency=1)
    return {"successCount": batch.success_count, "totalCount": batch.total_count}


@req("9-17")
def m9_17(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Map(upper, ["a", "b"], max_concurrency=1)
    yield from dg.Wait(seconds=1)
    return batch.results()


@req("9-18")
def m9_18(_: None) -> dg.Workflow[dict[str, Any]]:
    batch = yield from dg.Map(
        ok_or_fail,
        ["ok", "fail-1"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    yield from dg.Wait(seconds=1)
    return projection(batch, *ALL)


class OpSerde:
    """The whole batch written as ``OPSERDE:X,Y``."""

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


@req("9-19")
def m9_19(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Map(upper, ["x", "y"], max_concurrency=1, serdes=OpSerde())
    return batch.results()


@req("9-20")
def m9_20(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Map(upper, ["x", "y"], max_concurrency=1, serdes=OpSerde())
    yield from dg.Wait(seconds=1)
    return batch.results()


# ---------------------------------------------------------------- plugin (10-x)


class Recorder(dg.Plugin):
    """Prints one JSON record per hook, stamped with the execution's ARN.

    ``hooks`` selects what it prints; ``faulty`` makes every hook raise after printing (the
    docs: a hook that raises is logged and ignored). Operation and attempt hooks keep to steps.
    """

    def __init__(self, label: str, hooks: frozenset[str], *, faulty: bool = False) -> None:
        self.label = label
        self.hooks = hooks
        self.faulty = faulty
        self.arn = ""

    def _emit(self, hook: str, **fields: Any) -> None:
        if hook in self.hooks:
            record = {"plugin": self.label, "hook": hook, **fields, "durableExecutionArn": self.arn}
            print(json.dumps(record))
            if self.faulty:
                raise RuntimeError(f"{self.label} {hook} hook failed")

    def on_invocation_start(self, info: dg.InvocationInfo) -> None:
        self.arn = info.execution_arn
        extra = {} if self.faulty else {"first": info.first}
        self._emit("invocation-start", **extra)

    def on_invocation_end(self, info: dg.InvocationInfo, status: str) -> None:
        self._emit("invocation-end", **({} if self.faulty else {"status": status}))

    def on_operation_start(self, op: dg.OperationInfo) -> None:
        if op.type == "STEP":
            self._emit("operation-start", **({} if self.faulty else {"op": op.operation_id}))

    def on_operation_end(self, op: dg.OperationInfo, status: str) -> None:
        if op.type == "STEP":
            fields = {} if self.faulty else {"op": op.operation_id, "status": status}
            self._emit("operation-end", **fields)

    def on_attempt_start(self, attempt: dg.AttemptInfo) -> None:
        if attempt.type == "STEP":
            fields = {} if self.faulty else {"n": attempt.attempt, "op": attempt.operation_id}
            self._emit("attempt-start", **fields)

    def on_attempt_end(
        self, attempt: dg.AttemptInfo, outcome: str, error: BaseException | None
    ) -> None:
        if attempt.type == "STEP":
            fields = (
                {}
                if self.faulty
                else {"n": attempt.attempt, "outcome": outcome, "op": attempt.operation_id}
            )
            self._emit("attempt-end", **fields)


INVOCATION = frozenset({"invocation-start", "invocation-end"})
OPERATION = frozenset({"operation-start", "operation-end"})
ATTEMPT = frozenset({"attempt-start", "attempt-end"})


@dg.step
def greeting_running(name: str) -> str:
    dg.get_logger("outsider5.plugin").info("Greeting step running for: %s", name)
    return f"Hello, {name}!"


def plugged(key: str, make: Any) -> Any:
    def register(fn: Any) -> Any:
        HANDLERS[key] = Handler(fn, plugins=make)
        return fn

    return register


@plugged("10-1", lambda: [Recorder("CONFPLUGIN", INVOCATION)])
def pl10_1(name: str) -> dg.Workflow[str]:
    return (yield from greeting_running(name))


@plugged("10-2", lambda: [Recorder("CONFPLUGIN", OPERATION)])
def pl10_2(name: str) -> dg.Workflow[str]:
    return (yield from greet(name))


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, jitter="none"))
def flaky_for_plugin() -> str:
    if _bump("10-3") == 1:
        raise RuntimeError("first attempt fails")
    return "Operation succeeded"


@plugged("10-3", lambda: [Recorder("CONFPLUGIN", ATTEMPT)])
def pl10_3(_: None) -> dg.Workflow[str]:
    return (yield from flaky_for_plugin())


@plugged(
    "10-4", lambda: [Recorder("CONFPLUGIN-FAULTY", INVOCATION | OPERATION | ATTEMPT, faulty=True)]
)
def pl10_4(name: str) -> dg.Workflow[str]:
    return (yield from greet(name))


@plugged(
    "10-5", lambda: [Recorder("CONFPLUGIN-A", INVOCATION), Recorder("CONFPLUGIN-B", INVOCATION)]
)
def pl10_5(name: str) -> dg.Workflow[str]:
    return (yield from greet(name))


@plugged("10-6", lambda: [Recorder("CONFPLUGIN", INVOCATION)])
def pl10_6(_: None) -> dg.Workflow[None]:
    yield from dg.Wait(seconds=2)


@plugged("10-7", lambda: [Recorder("CONFPLUGIN", INVOCATION)])
def pl10_7(_: None) -> dg.Workflow[str]:
    return (yield from always_raises())


# ---------------------------------------------------------------- crashes (1-17, 1-18, 3-12)
# A step that raises SystemExit ends the invocation as a crash (guide.md "Steps"); the engine
# records the crashed invocation (Runtime.ExitError) and invokes again (engine.md).


@dg.step(name="at_most_once_flaky_step", semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def crash_always(text: str) -> str:
    dg.get_logger("outsider5.crash").info("at-most-once step got: %s", text)
    raise SystemExit(1)


@req("1-17")
def cr1_17(text: str) -> dg.Workflow[str]:
    return (yield from crash_always(text))


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry(max_attempts=2, initial_delay=1))
def crash_once(text: str) -> str:
    dg.get_logger("outsider5.crash").info("at-most-once step got: %s", text)
    if _bump("1-18") == 1:
        raise SystemExit(1)
    return "succeeded on second attempt"


@req("1-18")
def cr1_18(text: str) -> dg.Workflow[str]:
    return (yield from crash_once(text))


@dg.step
def crash_first_time(text: str) -> str:
    if _bump("3-12") == 1:
        raise SystemExit(1)
    return text


@dg.workflow
def crashing_child(text: str) -> dg.Workflow[str]:
    return (yield from crash_first_time(text))


def cr3_12(text: str) -> dg.Workflow[str]:
    return (yield from dg.Child(crashing_child, (text,)))


# "eager" confirms a step's START before running it, so the crash always leaves StepStarted.
HANDLERS["3-12"] = Handler(cr3_12, checkpointing="eager")
