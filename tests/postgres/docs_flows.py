"""The reader's ``place_order`` of docs/engine.md's fleet blocks: importable, as a fleet needs."""

from __future__ import annotations

from typing import Any

import durable_gen as dg


@dg.step
def charge(order_id: str, amount: int) -> str:
    return f"receipt-{order_id}-{amount}"


@dg.workflow
def place_order(order: dict[str, Any]) -> dg.Workflow[str]:
    receipt = yield from charge(order["id"], order["amount"])
    yield from dg.Wait(seconds=1, name="cooling-off")
    return receipt
