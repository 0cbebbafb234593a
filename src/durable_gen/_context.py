"""The one channel from a running interpretation to replay-aware helpers (the logger).

``Interpreter.next_action()`` sets ``CURRENT`` to itself while it runs workflow code and resets
it before returning; helpers read ``current()``. A ``ContextVar`` keeps concurrent
interpretations (one per task or thread) apart without importing threading. Outside workflow
code (a step, a test, the host) ``current()`` is None.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Protocol

__all__ = ["CURRENT", "Running", "current", "is_replaying"]


class Running(Protocol):
    """What a helper may read of the interpretation running workflow code."""

    @property
    def execution_arn(self) -> str:
        """The execution being interpreted."""
        ...

    @property
    def replaying(self) -> bool:
        """True while the command being run was answered from the history."""
        ...


#: The interpretation currently running workflow code (None outside workflow code).
CURRENT: ContextVar[Running | None] = ContextVar("durable_gen_interpreter", default=None)


def current() -> Running | None:
    """The interpretation running workflow code on this thread of control, if any."""
    return CURRENT.get()


def is_replaying() -> bool:
    """True while workflow code runs in replay (its last command was found in the history)."""
    running = CURRENT.get()
    return running is not None and running.replaying
