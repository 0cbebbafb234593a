"""Mistakes mypy must flag. Every ``type: ignore`` here must be needed (``warn_unused_ignores``
is on under ``--strict``), so a typing change that stopped catching one fails the check.
"""

# ruff: noqa: F841 (the assignments are what mypy checks)

from __future__ import annotations

import durable_gen as dg


@dg.step
def charge(order_id: str, amount: int) -> str:
    return order_id


def wrong() -> dg.Workflow[int]:
    receipt: int = yield from charge("o-1", 5)  # type: ignore[assignment]
    yield from charge("o-1", "5")  # type: ignore[arg-type]
    labels = yield from dg.Map(lambda item: str(item), [1])
    first: int = labels.results()[0]  # type: ignore[assignment]
    now: str = yield from dg.Now()  # type: ignore[assignment]
    untyped = yield from dg.Invoke("tax", 5)  # type: ignore[var-annotated]
    return "done"  # type: ignore[return-value]
