"""The in-process crash trials' workflows: every step logs its runs to a file.

Each step appends ``start LABEL PID`` before its work and ``end LABEL PID`` after it (one
``os.write`` on a file opened with ``O_APPEND``, so lines of threads never mix). LABEL is the
name the step's operation is recorded under (an item's context name for a ``Map`` item), so
that the trials can tell, from the database alone, which logged steps had their success
recorded. The result depends only on the input: an interrupted run must end with the result
of an uninterrupted one.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Any

import durable_gen as dg

#: Where steps log their runs; set by the trial driver for each trial.
LOG_ENV = "DURABLE_GEN_API_SOAK_LOG"
#: Set to ``0`` to make ``flaky`` succeed at once (runs compared value for value need it: its
#: failures depend on the log, which the runs of one check share).
FLAKY_ENV = "DURABLE_GEN_API_SOAK_FLAKY"


def log(event: str, label: str) -> None:
    """Append one line to the trial's log."""
    fd = os.open(os.environ[LOG_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{event} {label} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def count(event: str, label: str) -> int:
    """How many ``event label`` lines the log holds (what a flaky step reads to decide)."""
    try:
        with open(os.environ[LOG_ENV], encoding="utf-8") as lines:
            return sum(1 for line in lines if line.split()[:2] == [event, label])
    except FileNotFoundError:
        return 0


def _work(label: str, value: int) -> int:
    log("start", label)
    time.sleep(random.uniform(0, 0.05))
    log("end", label)
    return value * 3 + 1


@dg.step(name="s1")
def s1(value: int) -> int:
    return _work("s1", value)


@dg.step(name="s2")
def s2(value: int) -> int:
    return _work("s2", value)


@dg.step(name="a1")
async def a1(value: int) -> int:
    log("start", "a1")
    await asyncio.sleep(random.uniform(0, 0.01))
    log("end", "a1")
    return value + 100


@dg.step(name="flaky", retry=dg.Retry(max_attempts=4, initial_delay=1, backoff=1.0, jitter="none"))
def flaky(value: int) -> int:
    """Fails its first two attempts (as the log counts them), so two retry delays follow."""
    log("start", "flaky")
    if os.environ.get(FLAKY_ENV) != "0" and count("fail", "flaky") < 2:
        log("fail", "flaky")
        raise ConnectionError("not yet")
    log("end", "flaky")
    return value * 2


@dg.step(name="timed", timeout=5.0)
def timed(value: int) -> int:
    return _work("timed", value)


@dg.step(name="once", semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def once(value: int) -> int:
    log("start", "once")
    time.sleep(random.uniform(0, 0.1))
    log("end", "once")
    return value - 1


@dg.step(name="item", retry=dg.Retry.never())
def item(x: int) -> int:
    label = f"item-{x}"
    log("start", label)
    time.sleep(random.uniform(0, 0.01))
    if x == 3:
        log("end", label)
        raise ValueError("item 3 always fails")
    log("end", label)
    return x * x


def item_name(x: int, _index: int) -> str:
    return f"item-{x}"


@dg.step(name="check")
def check(state: dict[str, int]) -> dict[str, int]:
    label = f"check-{state['n']}"
    log("start", label)
    log("end", label)
    return {"n": state["n"] + 1}


@dg.step(name="submit")
def submit(callback_id: str) -> None:
    log("start", "submit")
    log("callback", callback_id)
    log("end", "submit")


@dg.step(name="child-s")
def child_s(value: int) -> int:
    return _work("child-s", value)


@dg.step(name="grandchild-s")
def grandchild_s(value: int) -> int:
    return _work("grandchild-s", value)


def grandchild(value: int) -> Any:
    return (yield grandchild_s(value))


def child(value: int) -> Any:
    a = yield child_s(value)
    b = yield dg.Child(grandchild, (a,), name="grandchild")
    return a + b


@dg.step(name="callee-s")
def callee_s(value: int) -> int:
    return _work("callee-s", value)


@dg.workflow
def callee(payload: dict[str, int]) -> Any:
    got = yield callee_s(payload["v"])
    yield dg.Wait(seconds=1, name="callee-nap")
    return {"callee": got}


@dg.workflow
def trial(value: int) -> Any:
    """Every command the docs show, in one workflow whose result depends only on ``value``."""
    r: dict[str, Any] = {}
    r["s1"] = yield s1(value)
    r["a1"] = yield a1(value)
    r["flaky"] = yield flaky(value)
    yield dg.Wait(seconds=1, name="nap")
    r["timed"] = yield timed(value)
    try:
        r["once"] = yield once(value)
    except dg.StepInterruptedError:
        r["once"] = "interrupted"
    batch = yield dg.Map(
        item,
        [1, 2, 3, 4, 5],
        max_concurrency=3,
        item_namer=item_name,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    r["map"] = batch.all_results()
    r["child"] = yield dg.Child(child, (value,), name="child")
    r["cond"] = yield dg.WaitForCondition(
        check,
        initial_state={"n": 0},
        wait_strategy=dg.WaitStrategy(until=lambda s: s["n"] >= 2, delay=1),
        name="cond",
    )
    r["approval"] = yield dg.WaitForCallback(submit, name="approval", timeout=600)
    r["invoke"] = yield dg.Invoke(os.environ["DURABLE_GEN_API_SOAK_CALLEE"], {"v": value})
    r["s2"] = yield s2(value)
    r["uuid"] = str((yield dg.UUID()))[:0]  # drawn (and recorded) but not compared
    return r


def expected(value: int, *, once_ran: bool = True) -> dict[str, Any]:
    """The result of an uninterrupted run."""
    a = value * 3 + 1
    return {
        "s1": value * 3 + 1,
        "a1": value + 100,
        "flaky": value * 2,
        "timed": value * 3 + 1,
        "once": value - 1 if once_ran else "interrupted",
        "map": [1, 4, None, 16, 25],
        "child": a + (a * 3 + 1),
        "cond": {"n": 2},
        "approval": "approved",
        "invoke": {"callee": value * 3 + 1},
        "s2": value * 3 + 1,
        "uuid": "",
    }
