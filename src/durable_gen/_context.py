"""Which interpreter is advancing on this thread of control, for replay-aware helpers.

The logger reads it to stay silent while operations are being replayed. A ``ContextVar`` keeps
concurrent interpretations (one per task or thread) apart without importing threading.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

__all__ = ["CURRENT", "is_replaying"]

#: The interpreter currently advancing a workflow (None outside workflow code).
CURRENT: ContextVar[Any] = ContextVar("durable_gen_interpreter", default=None)


def is_replaying() -> bool:
    """True while workflow code runs in replay (its last command was found in the history)."""
    interp = CURRENT.get()
    return bool(interp is not None and interp.replaying)
