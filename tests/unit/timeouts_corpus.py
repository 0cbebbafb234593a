"""Workflows on timeouts, retries and deadlines, written from the docs, with what each must give.

Shared by ``test_timeouts_corpus.py`` (the embedded engine in memory and on SQLite, ``dg.run``,
``TestRunner``, the Lambda handler) and ``tests/integration/aws`` (AWS's emulator). Each case
is a workflow, its expected result (JSON) and how many times each of its step functions must
run (counted by the steps in ``RUNS``; workflow bodies never read it).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import durable_gen as dg

#: How many times each step function ran, by name: reset before each case.
RUNS: Counter[str] = Counter()

#: A step timeout, and how long a step that "hangs" sleeps past it: margins wide enough for a
#: loaded machine (a step that does nothing must start and end within TIMEOUT_S, and a hanging
#: one must not end before it).
TIMEOUT_S = 0.3
HANG_S = 2 * TIMEOUT_S

ONCE = dg.Retry.never()
THREE = dg.Retry(max_attempts=3, initial_delay=1, jitter="none")


def caught(command: Any) -> Any:
    """A workflow body's way to see a failure: its class, error_type (message left out)."""

    def body() -> Any:
        try:
            return ["ok", (yield command)]
        except dg.DurableGenError as exc:
            return [type(exc).__name__, getattr(exc, "error_type", None)]

    return body()


# --- step timeouts -------------------------------------------------------------------------------


@dg.step(timeout=TIMEOUT_S, retry=ONCE)
async def async_hangs() -> str:
    RUNS["async_hangs"] += 1
    await asyncio.sleep(10)
    return "late"


@dg.step(timeout=timedelta(seconds=TIMEOUT_S), retry=ONCE)
def sync_hangs() -> str:
    RUNS["sync_hangs"] += 1
    time.sleep(HANG_S)
    return "late"


@dg.step(timeout=TIMEOUT_S, retry=ONCE)
async def swallows_cancel() -> str:
    RUNS["swallows_cancel"] += 1
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        return "late"
    return "never"


@dg.step(timeout=TIMEOUT_S, retry=ONCE)
async def blocks_loop() -> str:
    RUNS["blocks_loop"] += 1
    time.sleep(HANG_S)
    return "late"


@dg.step(timeout=TIMEOUT_S, retry=THREE)
def hangs_retried() -> str:
    RUNS["hangs_retried"] += 1
    time.sleep(HANG_S)
    return "late"


@dg.step(timeout=TIMEOUT_S, retry=dg.Retry(max_attempts=4, initial_delay=1, jitter="none"))
def hangs_twice() -> int:
    RUNS["hangs_twice"] += 1
    if RUNS["hangs_twice"] <= 2:
        time.sleep(HANG_S)
    return RUNS["hangs_twice"]


@dg.step(timeout=TIMEOUT_S, retry=THREE, semantics=dg.AT_MOST_ONCE)
def at_most_once_hangs() -> str:
    RUNS["at_most_once_hangs"] += 1
    time.sleep(HANG_S)
    return "late"


@dg.step(
    timeout=TIMEOUT_S,
    retry=dg.Retry(max_attempts=5, retry_on=(ConnectionError,), initial_delay=1),
)
def timeout_not_in_retry_on() -> str:
    RUNS["timeout_not_in_retry_on"] += 1
    time.sleep(HANG_S)
    return "late"


@dg.step(
    timeout=TIMEOUT_S,
    retry=dg.Retry(
        max_attempts=5, retry_if=lambda e: not isinstance(e, dg.StepTimeoutError), initial_delay=1
    ),
)
def timeout_refused_by_retry_if() -> str:
    RUNS["timeout_refused_by_retry_if"] += 1
    time.sleep(HANG_S)
    return "late"


@dg.step(timeout=1e12, retry=ONCE)
def huge_timeout() -> str:
    RUNS["huge_timeout"] += 1
    time.sleep(0.02)
    return "ok"


@dg.step(timeout=5, retry=ONCE)
def in_time() -> str:
    RUNS["in_time"] += 1
    time.sleep(0.01)
    return "ok"


@dg.step(timeout=TIMEOUT_S, retry=ONCE)
def item_maybe_hangs(i: int) -> int:
    RUNS["item_maybe_hangs"] += 1
    if i % 2:
        time.sleep(HANG_S)
    return i


@dg.step(timeout=TIMEOUT_S, retry=THREE)
def submitter_hangs(callback_id: str) -> None:
    RUNS["submitter_hangs"] += 1
    time.sleep(HANG_S)


@dg.step(timeout=TIMEOUT_S)
def slow_check(state: int) -> int:
    RUNS["slow_check"] += 1
    time.sleep(HANG_S)
    return state + 1


def one(step: Any) -> Any:
    def wf(_: Any) -> Any:
        return (yield from caught(step()))

    wf.__name__ = wf.__qualname__ = f"one_{step.name}"
    return wf


def map_of_timeouts(_: Any) -> Any:
    batch = yield dg.Map(
        item_maybe_hangs, [0, 1, 2, 3], completion=dg.Completion(tolerated_failure_count=4)
    )
    return [batch.all_results(), [e.error_type for e in batch.errors()]]


def branch_hangs() -> Any:
    return (yield sync_hangs())


def branch_in_time() -> Any:
    return (yield in_time())


def parallel_of_timeouts(_: Any) -> Any:
    batch = yield dg.Parallel(
        [branch_hangs, dg.Branch(branch_in_time, name="fine")],
        completion=dg.Completion(tolerated_failure_count=2),
    )
    return [
        [item.status, item.error.error_type if item.error else item.result] for item in batch.items
    ]


def hangs_in_child() -> Any:
    return (yield sync_hangs())


def child_timeouts(_: Any) -> Any:
    out = []
    for virtual in (False, True):
        try:
            out.append((yield dg.Child(hangs_in_child, name=f"c{virtual}", virtual=virtual)))
        except dg.ChildFailedError as exc:
            out.append([type(exc).__name__, exc.error_type])
    return out


def submitter_timeout(_: Any) -> Any:
    return (yield from caught(dg.WaitForCallback(submitter_hangs, name="approval", timeout=60)))


def condition_check_timeout(_: Any) -> Any:
    strategy = dg.WaitStrategy(until=lambda s: s >= 3, delay=1, max_attempts=5)
    return (
        yield from caught(dg.WaitForCondition(slow_check, 0, wait_strategy=strategy, name="poll"))
    )


def uncaught_timeout(_: Any) -> Any:
    return (yield sync_hangs())


# --- retries -------------------------------------------------------------------------------------


def failing(
    name: str, retry: dg.Retry, exc: type[Exception] = ConnectionError, ok_at: int = 0
) -> Any:
    def fn() -> int:
        RUNS[name] += 1
        if ok_at and RUNS[name] >= ok_at:
            return RUNS[name]
        raise exc(f"{name} down")

    fn.__name__ = fn.__qualname__ = name
    return dg.step(name=name, retry=retry)(fn)


default_policy = failing("default_policy", dg.Retry())
three_none = failing("three_none", THREE)
ok_at_four = failing("ok_at_four", dg.Retry(max_attempts=5, initial_delay=2), ok_at=4)
retry_on_other = failing("retry_on_other", dg.Retry(max_attempts=5, retry_on=(TimeoutError,)))
retry_on_base = failing("retry_on_base", dg.Retry(max_attempts=4, retry_on=(OSError,)))
retry_if_never = failing("retry_if_never", dg.Retry(max_attempts=5, retry_if=lambda e: False))
retry_on_empty = failing("retry_on_empty", dg.Retry(max_attempts=5, retry_on=()))
zero_delay = failing("zero_delay", dg.Retry(max_attempts=3, initial_delay=0))
long_delays = failing(
    "long_delays", dg.Retry(max_attempts=3, initial_delay=86_400, max_delay=31_622_400)
)
name_error = failing("name_error", dg.Retry(max_attempts=2, initial_delay=1), exc=NameError)


def wait_for_condition(max_attempts: int | None, until: int) -> Any:
    def check(state: int) -> int:
        RUNS[f"check_{max_attempts}_{until}"] += 1
        return state + 1

    def wf(_: Any) -> Any:
        strategy = dg.WaitStrategy(
            until=lambda s: s >= until, delay=2, backoff=2, max_delay=30, max_attempts=max_attempts
        )
        return (yield from caught(dg.WaitForCondition(check, 0, wait_strategy=strategy, name="p")))

    wf.__name__ = wf.__qualname__ = f"poll_{max_attempts}_{until}"
    return wf


# --- waits ---------------------------------------------------------------------------------------


def waits(_: Any) -> Any:
    before = yield dg.Now()
    yield dg.Wait(seconds=1, name="shortest")
    yield dg.Wait(seconds=31_622_400, name="longest")
    after = yield dg.Now()
    return round((after - before).total_seconds())


def callback_times_out(_: Any) -> Any:
    return (yield from caught(dg.WaitForCallback(lambda cid: None, name="approval", timeout=60)))


def callback_heartbeat_times_out(_: Any) -> Any:
    return (
        yield from caught(
            dg.WaitForCallback(lambda cid: None, name="approval", timeout=600, heartbeat_timeout=30)
        )
    )


@dataclass(frozen=True)
class Case:
    """One workflow of the corpus: what it returns, and the runs of each step it makes."""

    id: str
    workflow: Any
    result: Any
    runs: dict[str, int] = field(default_factory=dict)
    #: Also through AWS's emulator (cases whose timers the emulator's skip-time mode runs).
    emulator: bool = True


TIMEOUT = ["StepTimeoutError", "StepTimeoutError"]
CONNECTION = ["StepFailedError", "ConnectionError"]

CASES = [
    Case("async step cancelled", one(async_hangs), TIMEOUT, {"async_hangs": 1}),
    Case("sync step abandoned", one(sync_hangs), TIMEOUT, {"sync_hangs": 1}),
    Case(
        "async step swallows the cancellation",
        one(swallows_cancel),
        TIMEOUT,
        {"swallows_cancel": 1},
    ),
    Case("async step blocks its loop", one(blocks_loop), TIMEOUT, {"blocks_loop": 1}),
    Case("timeout retried to the end", one(hangs_retried), TIMEOUT, {"hangs_retried": 3}),
    Case("timeout retried then in time", one(hangs_twice), ["ok", 3], {"hangs_twice": 3}),
    Case(
        "at-most-once timeout retried", one(at_most_once_hangs), TIMEOUT, {"at_most_once_hangs": 3}
    ),
    Case(
        "retry_on without the timeout",
        one(timeout_not_in_retry_on),
        TIMEOUT,
        {"timeout_not_in_retry_on": 1},
    ),
    Case(
        "retry_if refuses the timeout",
        one(timeout_refused_by_retry_if),
        TIMEOUT,
        {"timeout_refused_by_retry_if": 1},
    ),
    Case("timeout of centuries", one(huge_timeout), ["ok", "ok"], {"huge_timeout": 1}),
    Case("step in time", one(in_time), ["ok", "ok"], {"in_time": 1}),
    Case(
        "Map items time out alone",
        map_of_timeouts,
        [[0, None, 2, None], ["StepTimeoutError", "StepTimeoutError"]],
        {"item_maybe_hangs": 4},
    ),
    Case(
        "Parallel branch times out alone",
        parallel_of_timeouts,
        [["FAILED", "StepTimeoutError"], ["SUCCEEDED", "ok"]],
        {"sync_hangs": 1, "in_time": 1},
    ),
    Case(
        "Child and virtual Child",
        child_timeouts,
        [["ChildFailedError", "StepTimeoutError"], ["ChildFailedError", "StepTimeoutError"]],
        {"sync_hangs": 2},
    ),
    Case(
        "WaitForCallback submitter times out",
        submitter_timeout,
        ["CallbackFailedError", "StepTimeoutError"],
        {"submitter_hangs": 3},
    ),
    Case(
        "WaitForCondition check times out",
        condition_check_timeout,
        TIMEOUT,
        {"slow_check": 1},
    ),
    Case(
        "default policy: 6 attempts",
        one(default_policy),
        CONNECTION,
        {"default_policy": 6},
        emulator=False,
    ),
    Case("3 attempts", one(three_none), CONNECTION, {"three_none": 3}),
    Case("succeeds at attempt 4", one(ok_at_four), ["ok", 4], {"ok_at_four": 4}, emulator=False),
    Case("retry_on another type", one(retry_on_other), CONNECTION, {"retry_on_other": 1}),
    Case("retry_on a base class", one(retry_on_base), CONNECTION, {"retry_on_base": 4}),
    Case("retry_if says no", one(retry_if_never), CONNECTION, {"retry_if_never": 1}),
    Case("retry_on empty", one(retry_on_empty), CONNECTION, {"retry_on_empty": 1}),
    Case("initial_delay 0 (at least 1 s)", one(zero_delay), CONNECTION, {"zero_delay": 3}),
    Case("delays of days", one(long_delays), CONNECTION, {"long_delays": 3}, emulator=False),
    Case(
        "NameError is retried", one(name_error), ["StepFailedError", "NameError"], {"name_error": 2}
    ),
    Case(
        "WaitForCondition max_attempts runs out",
        wait_for_condition(3, 99),
        ["WaitConditionNotMetError", "WaitConditionNotMetError"],
        {"check_3_99": 3},
    ),
    Case("WaitForCondition met", wait_for_condition(5, 3), ["ok", 3], {"check_5_3": 3}),
    Case(
        "WaitForCondition without a limit",
        wait_for_condition(None, 4),
        ["ok", 4],
        {"check_None_4": 4},
    ),
    Case("Wait of 1 s and of 366 days", waits, 31_622_401, emulator=False),
    Case(
        "callback times out",
        callback_times_out,
        ["CallbackTimeoutError", "Callback.Timeout"],
        emulator=False,
    ),
    Case(
        "callback heartbeat times out",
        callback_heartbeat_times_out,
        ["CallbackTimeoutError", "Callback.Heartbeat"],
        emulator=False,
    ),
]


def uncaught_case() -> tuple[Any, str]:
    """A timeout no one catches fails the execution with it."""
    return uncaught_timeout, "StepTimeoutError"
