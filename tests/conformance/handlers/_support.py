"""Shared pieces of the conformance handlers: per-run state, serdes and batch projections.

Handlers are ordinary durable_gen workflows; the only thing they share with the runner is
``ATTEMPTS``, a counter that outlives invocations (AWS's reference handlers keep it in DynamoDB)
so a step can fail or crash on its first attempt and succeed later. The runner resets it before
each requirement.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Generator
from typing import Any

import durable_gen as dg

__all__ = [
    "ATTEMPTS",
    "PROJECTION_KEYS",
    "Crash",
    "TransientError",
    "UppercaseSerdes",
    "batch_projection",
    "returns",
]


class Attempts:
    """Thread-safe attempt counters keyed by name (Map and Parallel steps run in threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def next(self, key: str) -> int:
        """Count one more attempt of ``key``; return its number, from 1."""
        with self._lock:
            self._counts[key] += 1
            return self._counts[key]

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


ATTEMPTS = Attempts()


class Crash(SystemExit):
    """Ends the process the way ``process.exit`` does in a Lambda runtime.

    It is a ``BaseException``: the step driver does not catch it, the invocation dies, and the
    engine records a crashed invocation (``Runtime.ExitError``) and invokes again.
    """


class TransientError(Exception):
    """A failure worth retrying."""


class UppercaseSerdes:
    """JSON, with every string value upper-cased on the way in (a non-identity serdes)."""

    def serialize(self, value: Any) -> str:
        return json.dumps(_upper(value))

    def deserialize(self, payload: str) -> Any:
        return json.loads(payload)


def _upper(value: Any) -> Any:
    if isinstance(value, str):
        return value.upper()
    if isinstance(value, list):
        return [_upper(v) for v in value]
    if isinstance(value, dict):
        return {k: _upper(v) for k, v in value.items()}
    return value


def returns(value: Any) -> Callable[..., Generator[Any, Any, Any]]:
    """A Map function or Parallel branch that returns ``value`` without a durable operation."""

    def body(*_: Any) -> Generator[Any, Any, Any]:
        return value
        yield  # a generator function: it runs as its own child context

    return body


PROJECTION_KEYS = ("completionReason", "status", "successCount", "failureCount", "totalCount")


def batch_projection(batch: dg.BatchResult, *keys: str) -> dict[str, Any]:
    """The projection the Map/Parallel requirements return (``keys``: a subset, default all).

    AWS's ``totalCount`` counts the items that were started (successes, failures and those still
    running when the batch was decided), not the items never started; ``BatchResult.total_count``
    counts every item, so it is computed here.
    """
    full = {
        "completionReason": batch.completion_reason,
        "status": "FAILED" if batch.has_failure else "SUCCEEDED",
        "successCount": batch.success_count,
        "failureCount": batch.failure_count,
        "totalCount": batch.success_count + batch.failure_count + batch.started_count,
    }
    return {key: full[key] for key in keys or PROJECTION_KEYS}
