"""The crash soak's workflow: steps that log every run to a file, a Map, an at-most-once step.

Each step appends ``start LABEL PID`` before its work and ``end LABEL PID`` after it, with short
random sleeps around, so that a kill lands inside steps as well as between them. The result
depends only on the input, so an interrupted run must end with the uninterrupted result.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from typing import Any

import durable_gen as dg
from durable_gen._errors import StepFailedError

#: Where steps log their runs; set by the soak driver for each trial.
LOG_ENV = "DURABLE_GEN_SOAK_LOG"
SEQUENTIAL = 6
MAP_ITEMS = 5


def _log(event: str, label: str) -> None:
    with open(os.environ[LOG_ENV], "a", encoding="utf-8") as log:
        log.write(f"{event} {label} {os.getpid()}\n")
        log.flush()


def _work(label: str, value: int) -> str:
    _log("start", label)
    time.sleep(random.uniform(0, 0.004))
    result = f"{label}={value * 3 + 1}"
    _log("end", label)
    time.sleep(random.uniform(0, 0.002))
    return result


@dg.step(retry=dg.Retry(max_attempts=1))
def work(label: str, value: int) -> str:
    return _work(label, value)


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry(max_attempts=1))
def notify(label: str) -> str:
    return _work(label, 0)


def map_item(item: int) -> str:
    return _work(f"map-{item}", item)


@dg.workflow
def soak(n: int):  # type: ignore[no-untyped-def]
    results: list[str] = []
    for i in range(SEQUENTIAL // 2):
        results.append((yield work(f"seq-{i}", n + i)))
    # If a kill lands inside it, it must not run again, and the result does not depend on it.
    # Caught as StepFailedError: a replay raises the recorded interruption as that base class
    # (live, it is the StepInterruptedError subclass).
    with contextlib.suppress(StepFailedError):
        yield notify("once")
    batch: Any = yield dg.Map(map_item, list(range(MAP_ITEMS)), name="fan-out", max_concurrency=2)
    results.extend(batch.get_results())
    for i in range(SEQUENTIAL // 2, SEQUENTIAL):
        results.append((yield work(f"seq-{i}", n + i)))
    return results


def expected(n: int) -> list[str]:
    """The result of an uninterrupted run of ``soak(n)``."""
    seq = [f"seq-{i}={(n + i) * 3 + 1}" for i in range(SEQUENTIAL)]
    maps = [f"map-{i}={i * 3 + 1}" for i in range(MAP_ITEMS)]
    return seq[: SEQUENTIAL // 2] + maps + seq[SEQUENTIAL // 2 :]


def _pids() -> set[str]:
    with open(os.environ[LOG_ENV], encoding="utf-8") as log:
        return {line.split()[2] for line in log if line.strip()}


@dg.step(retry=dg.Retry(max_attempts=1))
def meet(label: str) -> str:
    """Waits (30 s at most) until a second process has run a step: a worker busy here cannot
    take the other executions, so the work spreads however late the other workers start."""
    _log("start", label)
    deadline = time.monotonic() + 30
    while len(_pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    _log("end", label)
    return label


@dg.workflow
def tagged(n: int):  # type: ignore[no-untyped-def]
    """Three steps whose labels name the execution: each must run exactly once (the first two
    executions first meet a second worker)."""
    if n < 2:
        yield meet(f"e{n}-meet")
    out = []
    for i in range(3):
        out.append((yield work(f"e{n}-s{i}", i)))
    return out


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def linger(label: str) -> str:
    """An at-most-once step that takes long enough for another worker to look at its lease."""
    _log("start", label)
    time.sleep(LINGER_SECONDS)
    _log("end", label)
    return f"{label}=done"


LINGER_SECONDS = 3.0


@dg.workflow
def machines(n: int):  # type: ignore[no-untyped-def]
    """A step, an at-most-once step that lingers, a step: each must run once, in one worker."""
    first = yield work("m-a", n)
    middle = yield linger("m-once")
    last = yield work("m-c", n)
    return [first, middle, last]


@dg.step(retry=dg.Retry(max_attempts=1))
def bulk(label: str) -> str:
    """A step whose result is 20 KB: a few hundred of them fill a small disk."""
    _log("start", label)
    _log("end", label)
    return label + "=" + "x" * 20_000


@dg.workflow
def bulky(n: int):  # type: ignore[no-untyped-def]
    """``n`` steps of 20 KB results; returns their labels and lengths."""
    out = []
    for i in range(n):
        result = yield bulk(f"b-{i}")
        out.append(f"{result.partition('=')[0]}:{len(result)}")
    return out
