"""The same requirements written another way the docs allow (a `@dg.step` submitter or check,
`result_type=` instead of a serdes, `except dg.CallbackError`, `Completion` presets, ...).

Each must pass as the first way does: a documented alternative that fails a requirement is a
bug or a gap in the docs."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import durable_gen as dg

from ..handlers import Handler
from .handlers import Conf, TransientError, _bump, always_fails, increment, submit

HANDLERS: dict[str, Handler] = {}


def req(key: str, **opts: Any):
    def deco(wf):
        HANDLERS[key] = Handler(wf, **opts)
        return wf

    return deco


@dataclass
class Received:
    id: str
    message: str
    timestamp: datetime


@req("callback/4-15")
def v4_15(name: str) -> dg.Workflow[dict[str, Any]]:
    handle = yield from dg.CreateCallback(name=name, result_type=Received)
    got = yield from handle
    return {
        "received": {
            "id": got.id,
            "message": got.message,
            "timestamp": int(got.timestamp.timestamp()),
        }
    }


@req("callback/4-16")
def v4_16(name: str):
    handle = yield dg.CreateCallback(name=name, result_type=int)
    count = yield handle
    return {"count": count, "doubled": count * 2}


@req("callback/4-13")
def v4_13(name: str):
    handle = yield dg.CreateCallback(name=name)
    try:
        message = yield handle
    except dg.CallbackError as exc:
        message = exc.error_message
    yield dg.Wait(seconds=2)
    return message


@req("callback/4-14")
def v4_14(name: str):
    handle = yield dg.CreateCallback(name=name, timeout=3)
    try:
        message = yield handle
    except dg.CallbackError as exc:
        message = exc.error_type
    yield dg.Wait(seconds=2)
    return message


@req("wait_for_callback/7-11")
def v7_11(name: str):
    got = yield dg.WaitForCallback(submit, name=name, result_type=dict[str, str])
    return got["status"]


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def bad_step_submitter(callback_id: str) -> None:
    raise RuntimeError("submitter broke")


@req("wait_for_callback/7-7")
def v7_7(name: str):
    return (yield dg.WaitForCallback(bad_step_submitter, name=name))


@req("wait_for_callback/7-6")
def v7_6(name: str):
    try:
        return (yield dg.WaitForCallback(submit, name=name))
    except dg.CallbackError:
        return "recovered"


@req("wait_for_callback/7-14")
def v7_14(name: str):
    try:
        return (yield dg.WaitForCallback(submit, name=name, timeout=3))
    except dg.OperationError:
        return "timed-out-handled"


@req("wait_for_condition/6-5")
def v6_5(threshold: int):
    return (
        yield dg.WaitForCondition(
            increment,
            initial_state=0,
            wait_strategy=dg.WaitStrategy(until=lambda s: s >= threshold, delay=2),
        )
    )


@dg.step(retry=dg.Retry(max_attempts=5, initial_delay=1))
def raising_step_check(state: int) -> int:
    raise RuntimeError("check failed")


@req("wait_for_condition/6-7")
def v6_7(_: None):
    return (
        yield dg.WaitForCondition(
            raising_step_check,
            initial_state=0,
            wait_strategy=dg.WaitStrategy(until=lambda s: s > 3, delay=1),
        )
    )


def check_dict(state: dict) -> dict:
    attempts = state["attempts"] + 1
    return {"status": "DONE" if attempts >= 2 else "PENDING", "attempts": attempts}


@req("wait_for_condition/6-9")
def v6_9(_: None):
    return (
        yield dg.WaitForCondition(
            check_dict,
            initial_state={"status": "PENDING", "attempts": 0},
            wait_strategy=dg.WaitStrategy(until=lambda s: s["status"] == "DONE", delay=1),
        )
    )


@dg.step
def step_increment(state: int) -> int:
    return state + 1


@req("wait_for_condition/6-1")
def v6_1(threshold: int):
    return (
        yield dg.WaitForCondition(
            step_increment,
            initial_state=0,
            wait_strategy=dg.WaitStrategy(until=lambda s: s >= threshold, delay=1),
        )
    )


@req("wait_for_condition/6-6")
def v6_6(_: int):
    def strategy(state: int, attempt: int) -> dg.WaitDecision:
        if attempt >= 3:
            raise dg.WaitConditionNotMetError("gave up after 3 checks")
        return dg.WaitDecision.again(1)

    return (yield dg.WaitForCondition(increment, initial_state=0, wait_strategy=strategy))


@req("wait_for_condition/6-10")
def v6_10(_: None):
    return (yield dg.WaitForCondition(lambda state: None))


@dg.step
def to_upper(item: str) -> str:
    return item.upper()


@req("map/9-12")
def v9_12(_: None):
    def item(value: str):
        return (yield dg.Step(lambda: value))

    batch = yield dg.Map(item, ["fa", "fb"], max_concurrency=1, nesting="flat")
    return batch.results()


@req("map/9-15")
def v9_15(_: None):
    @dg.step
    def r(index: int) -> str:
        return f"r{index}"

    def item(value: int, index: int):
        if index == 1:
            yield dg.Wait(seconds=1)
        return (yield r(index))

    batch = yield dg.Map(item, [0, 1], max_concurrency=1)
    return batch.results()


@req("map/9-6")
def v9_6(_: None):
    def item(value: str):
        raise ValueError(f"bad {value}")
        yield

    batch = yield dg.Map(
        item, ["a", "b"], max_concurrency=1, completion=dg.Completion.all_successful()
    )
    return batch.get_results()


@req("map/9-13")
def v9_13(items: list[int]):
    def item(value: int):
        return value * 10
        yield

    batch = yield dg.Map(
        item, items, max_concurrency=1, item_namer=lambda value, index: f"item-{index}"
    )
    return batch.results()


@req("parallel/8-7")
def v8_7(_: None):
    def boom():
        raise RuntimeError("branch failed")
        yield

    def later():
        return "never"
        yield

    batch = yield dg.Parallel(
        [boom, later], max_concurrency=1, completion=dg.Completion(tolerated_failure_count=0)
    )
    batch.raise_if_failed()
    return batch.results()


@req("parallel/8-12")
def v8_12(_: None):
    @dg.step
    def fa() -> str:
        return "fa"

    @dg.step
    def fb() -> str:
        return "fb"

    batch = yield dg.Parallel([fa, fb], max_concurrency=1, nesting="flat")
    return batch.results()


@req("parallel/8-21")
def v8_21(_: None):
    def inner():
        batch = yield dg.Parallel(
            [dg.Branch(lambda: "i1"), dg.Branch(lambda: "i2")], max_concurrency=1
        )
        return batch.results()

    batch = yield dg.Parallel([dg.Branch(inner)], max_concurrency=1)
    return batch.results()


@req("parallel/8-14")
def v8_14(_: None):
    @dg.step
    def b0() -> str:
        return "b0"

    def b1():
        yield dg.Wait(seconds=2)
        return "b1"

    batch = yield dg.Parallel([b0, b1], max_concurrency=1)
    return batch.results()


@req("step/1-7")
def v1_7(name: str):
    @dg.step
    def greeting(n: str) -> str:
        dg.logger.info(f"Greeting step started for: {n}")
        out = f"Hello, {n}!"
        dg.logger.info(f"Greeting step completed with: {out}")
        return out

    return (yield greeting(name))


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def flaky() -> str:
    if _bump("v1-11") == 1:
        raise RuntimeError("first")
    return "Operation succeeded"


@req("step/1-11")
def v1_11(_: None):
    return (yield flaky())


@req("step/1-16")
def v1_16(_: None):
    @dg.step(retry=dg.Retry(retry_on=(ConnectionError,)))
    def transient() -> str:
        raise TransientError("nope")

    return (yield transient())


@req("step/1-15")
def v1_15(_: None):
    @dg.step(retry=dg.Retry(retry_if=lambda exc: isinstance(exc, TransientError), initial_delay=1))
    def transient() -> str:
        if _bump("v1-15") == 1:
            raise TransientError("once")
        return "ok"

    return (yield transient())


@req("invoke/5-6")
def v5_6(_: None):
    try:
        return (yield dg.Invoke("outsider3-fail", None))
    except dg.OperationError:
        return "fallback"


@req("child/3-5")
def v3_5(value: str):
    @dg.workflow
    def failing():
        yield dg.Step(always_fails, retry=dg.Retry.never())

    with contextlib.suppress(dg.OperationError):  # an exception raised at a yield, as in local code
        yield dg.Child(failing)
    return (yield dg.Step(lambda: value))


@req("plugin/10-3", plugins=lambda: [SubtypePlugin()])
def v10_3(_: None):
    return (yield flaky())


class SubtypePlugin(Conf):
    def on_attempt_start(self, attempt):
        if attempt.sub_type == "Step":
            self._emit(hook="attempt-start", n=attempt.attempt, op=attempt.operation_id)

    def on_attempt_end(self, attempt, outcome, error):
        if attempt.sub_type == "Step":
            self._emit(
                hook="attempt-end", n=attempt.attempt, outcome=outcome, op=attempt.operation_id
            )


def crash_at_once(value: str) -> str:
    if _bump("v3-12") == 1:
        raise SystemExit(1)  # before the start window ends: only eager mode has sent START
    return value


@dg.workflow
def crashing_child(value: str):
    return (yield dg.Step(crash_at_once, (value,)))


@req("child/3-12", checkpointing="eager")
def v3_12(value: str):
    return (yield dg.Child(crashing_child, (value,)))
