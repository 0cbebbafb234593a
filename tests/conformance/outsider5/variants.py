"""Requirements written a second documented way: with ``async def`` steps, checks and
submitters (guide.md: ``@dg.step`` takes ``def`` or ``async def``; a ``WaitForCondition``
check may be ``async def``), which must leave the same history as the sync ones."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import durable_gen as dg

from ..handlers import Handler
from .handlers import _bump

VARIANTS: dict[str, Handler] = {}


def variant(key: str, **options: Any) -> Any:
    def register(fn: Any) -> Any:
        VARIANTS[key] = Handler(fn, **options)
        return fn

    return register


@dg.step
async def agreet(name: str) -> str:
    await asyncio.sleep(0)
    return f"Hello, {name}!"


@variant("1-1")
def v1_1(name: str) -> dg.Workflow[str]:
    return (yield from agreet(name))


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
async def aflaky() -> str:
    await asyncio.sleep(0)
    if _bump("aflaky") == 1:
        raise RuntimeError("first attempt fails")
    return "Operation succeeded"


@variant("1-11")
def v1_11(_: None) -> dg.Workflow[str]:
    return (yield from aflaky())


@variant("1-20")
def v1_20(_: None) -> dg.Workflow[str]:
    try:
        return (yield from dg.Step(_araise, retry=dg.Retry.never()))
    except dg.StepFailedError:
        return (yield from dg.Step(_afallback))


async def _araise() -> str:
    raise ValueError("always raises")


async def _afallback() -> str:
    return "fallback_result"


@dg.step
async def ahello(name: str) -> str:
    await asyncio.sleep(0.001)
    return f"Hello, {name}!"


@variant("9-1")
def v9_1(names: list[str]) -> dg.Workflow[list[str]]:
    batch = yield from dg.Map(ahello, names, name="map", max_concurrency=1)
    return batch.results()


async def _aconst(value: str) -> str:
    await asyncio.sleep(0)
    return value


@variant("8-1")
def v8_1(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Parallel(
        [functools.partial(_aconst, "task-1"), functools.partial(_aconst, "task-2")],
        name="parallel",
        max_concurrency=1,
    )
    return batch.results()


async def aincrement(state: int) -> int:
    await asyncio.sleep(0)
    return state + 1


@variant("6-1")
def v6_1(limit: int) -> dg.Workflow[int]:
    return (
        yield from dg.WaitForCondition(
            aincrement,
            initial_state=0,
            wait_strategy=dg.WaitStrategy(until=lambda s: s >= limit, delay=1),
        )
    )


async def ahand_over(callback_id: str) -> None:
    await asyncio.sleep(0)


@variant("7-1")
def v7_1(name: str) -> dg.Workflow[Any]:
    return (yield from dg.WaitForCallback(ahand_over, name=name))


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
async def abroken_submitter(callback_id: str) -> None:
    raise RuntimeError("submitter failed")


@variant("7-7")
def v7_7(name: str) -> dg.Workflow[Any]:
    return (yield from dg.WaitForCallback(abroken_submitter, name=name))


@dg.step
async def aidentity(value: str) -> str:
    return value


@dg.workflow
def achild(value: str) -> dg.Workflow[str]:
    return (yield from aidentity(value))


@variant("3-1")
def v3_1(value: str) -> dg.Workflow[str]:
    return (yield from dg.Child(achild, (value,)))


@variant("9-11")
def v9_11(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Map(aidentity, ["r0", "r1", "r2"], max_concurrency=2)
    return batch.results()


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry(max_attempts=2, initial_delay=1))
async def acrash_once(text: str) -> str:
    dg.get_logger("outsider5.crash").info("at-most-once step got: %s", text)
    if _bump("a1-18") == 1:
        raise SystemExit(1)
    return "succeeded on second attempt"


@variant("1-18")
def v1_18(text: str) -> dg.Workflow[str]:
    return (yield from acrash_once(text))
