"""Workflows for ``test_worker_stop``: a step that stops the worker running it (importable)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import durable_gen as dg

#: Called by ``stopping`` while it runs: the test sets it to the worker's ``stop``.
STOP: list[Callable[[], None]] = []
#: The inputs of the executions whose step ran.
RAN: list[int] = []
_LOCK = threading.Lock()


@dg.step
def note(n: int) -> int:
    with _LOCK:
        RAN.append(n)
        stop = list(STOP)
    for fn in stop:
        fn()
    return n


@dg.workflow
def stopping(n: int):
    first = yield note(n)
    second = yield note(n)  # the invocation in hand goes on to its end
    return first + second


@dg.step
def interrupted(n: int) -> int:
    raise KeyboardInterrupt  # Ctrl-C arriving while the step runs


@dg.workflow
def ctrl_c(n: int):
    return (yield interrupted(n))


#: The worker's engine, for ``stops_itself``.
SERVICE: list[Any] = []


@dg.step
def stop_running() -> None:
    service = SERVICE[0]
    for record in service.list_executions("RUNNING"):  # as `durable-gen stop` would, meanwhile
        service.stop(record.arn)


@dg.workflow
def stops_itself(_: object):
    yield stop_running()
    return "never"


@dg.workflow
def stopping_then_waits(n: int):
    first = yield note(n)  # stops the worker driving it
    second = yield note(n)  # the invocation in hand goes on to its end ...
    yield dg.Wait(seconds=1, name="pause")  # ... which is here
    third = yield note(n)
    return first + second + third
