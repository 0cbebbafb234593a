"""The Quick start workflow: charge an order, wait, print labels in parallel, compute tax."""

from __future__ import annotations

from typing import Any

import durable_gen as dg

log = dg.get_logger("examples.order")


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1))
def charge(order_id: str, amount: int) -> str:
    return f"receipt-{order_id}-{amount}"


@dg.step
def print_label(item: str) -> str:
    return f"label:{item}"


def rate() -> float:
    return 0.2


@dg.workflow
def tax(payload: dict[str, int]) -> dg.Workflow[float]:
    r = yield from dg.Step(rate, name="rate")
    return round(payload["amount"] * r, 2)


@dg.workflow
def place_order(order: dict[str, Any]) -> dg.Workflow[dict[str, Any]]:
    receipt = yield from charge(order["id"], order["amount"])
    log.info("charged %s", receipt)  # logged once, not again on replay
    yield from dg.Wait(seconds=1, name="cooling-off")
    labels = yield from dg.Map(print_label, order["items"], max_concurrency=5, name="labels")
    summary = yield from dg.Child(tax, ({"amount": order["amount"]},), name="tax")
    return {"receipt": receipt, "labels": labels.results(), "tax": summary}
