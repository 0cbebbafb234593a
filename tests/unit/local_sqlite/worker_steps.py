"""Workflows for ``test_worker_steps``: each step records where it ran (importable by path)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import durable_gen as dg

#: What the steps saw, appended from whichever thread ran them.
SEEN: list[dict[str, Any]] = []
_LOCK = threading.Lock()
_running = 0


def reset() -> None:
    global _running
    with _LOCK:
        SEEN.clear()
        _running = 0


@dg.step
async def nap(n: int) -> int:
    """Sleeps a while on its event loop, noting the loop, thread and how many run at once."""
    global _running
    with _LOCK:
        _running += 1
        SEEN.append(
            {
                "kind": "async",
                "loop": id(asyncio.get_running_loop()),
                "thread": threading.current_thread(),
                "running": _running,
            }
        )
    try:
        await asyncio.sleep(0.3)
    finally:
        with _LOCK:
            _running -= 1
    return n + 1


def work(n: int) -> int:
    """A sync step of a ``Map``: notes its thread."""
    with _LOCK:
        SEEN.append({"kind": "sync", "thread": threading.current_thread()})
    time.sleep(0.01)
    return n * 2


@dg.workflow
def napper(n: int):  # type: ignore[no-untyped-def]
    a = yield nap(n)
    return (yield nap(a))


@dg.workflow
def mapper(n: int):  # type: ignore[no-untyped-def]
    doubled = yield dg.Map(work, list(range(n)), max_concurrency=4)
    first = yield nap(0)
    return sum(doubled.results()) + first
