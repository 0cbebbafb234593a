r"""An order workflow deployed as an AWS Lambda durable function.

Lambda calls ``handler(event, context)``; ``template.yaml`` in this folder deploys it with SAM.
The workflow reserves stock (retried), asks a manager to approve large orders through a
callback (another service answers it with ``send_durable_execution_callback_success``),
charges the card at most once, waits out a cooling-off period without holding compute, and
prints one label per item concurrently.

The same ``process_order`` runs locally on the embedded engine, from this folder::

    durable-gen run handler:process_order --skip-time \
        --input '{"id": "o-1", "total": 40, "items": ["pen"]}'
"""

from __future__ import annotations

import json
import os
from typing import Any

import durable_gen as dg
from durable_gen.aws import lambda_handler

log = dg.get_logger("orders")

#: Orders above this total need a manager's approval.
APPROVAL_THRESHOLD = 500


@dg.step(retry=dg.Retry(max_attempts=4, initial_delay=2, backoff=2.0))
def reserve_stock(order_id: str, items: list[str]) -> str:
    # Call the inventory service here; a raised exception is retried with backoff.
    return f"reservation-{order_id}-{len(items)}"


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def charge_card(order_id: str, total: int) -> str:
    # A payment must never be sent twice: its start is recorded before it runs, and an
    # attempt that was cut off is reported as failed instead of being repeated.
    return f"receipt-{order_id}-{total}"


@dg.step
def print_label(item: str) -> str:
    return f"label:{item}"


def ask_for_approval(callback_id: str) -> None:
    """Send the callback id to whoever approves: a queue the approval service reads."""
    queue_url = os.environ.get("APPROVAL_QUEUE_URL")
    message = json.dumps({"callbackId": callback_id})
    if not queue_url:
        log.info("approval needed, answer callback %s", callback_id)
        return
    import boto3

    boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=message)


@dg.workflow
def process_order(order: dict[str, Any]) -> Any:
    reservation = yield reserve_stock(order["id"], order["items"])
    if order["total"] > APPROVAL_THRESHOLD:
        decision = yield dg.WaitForCallback(
            ask_for_approval, name="manager-approval", timeout=24 * 3600
        )
        if not (isinstance(decision, dict) and decision.get("approved")):
            return {"order": order["id"], "status": "rejected", "reservation": reservation}
    receipt = yield charge_card(order["id"], order["total"])
    yield dg.Wait(seconds=order.get("cooling_off_seconds", 600), name="cooling-off")
    labels = yield dg.Map(print_label, order["items"], name="labels", max_concurrency=5)
    return {
        "order": order["id"],
        "status": "shipped",
        "receipt": receipt,
        "labels": labels.get_results(),
    }


#: The function's handler (``Handler: handler.handler`` in template.yaml).
handler = lambda_handler(process_order)
