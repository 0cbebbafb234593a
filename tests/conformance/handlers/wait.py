"""Handlers of the ``wait`` requirements (2-x)."""

from __future__ import annotations

import durable_gen as dg

MINUTE = 60
HOUR = 60 * MINUTE


@dg.workflow
def wait_basic(_event: None):  # 2-1
    yield dg.Wait(seconds=2)


@dg.workflow
def wait_named(_event: None):  # 2-2
    yield dg.Wait(seconds=2, name="custom_wait_name")


@dg.workflow
def sequential_waits(_event: None):  # 2-3
    yield dg.Wait(seconds=2, name="wait-1")
    yield dg.Wait(seconds=2, name="wait-2")
    return {"completedWaits": 2}


@dg.workflow
def wait_minutes(_event: None):  # 2-4
    yield dg.Wait(seconds=1 * MINUTE)


@dg.workflow
def wait_hour(_event: None):  # 2-5
    yield dg.Wait(seconds=1 * HOUR)


HANDLERS = {
    "2-1": wait_basic,
    "2-2": wait_named,
    "2-3": sequential_waits,
    "2-4": wait_minutes,
    "2-5": wait_hour,
}
