"""Helpers shared by the ``test_lambda_*`` modules: run a durable_gen workflow behind the
Lambda endpoint against the emulator, and read its history."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from durable_gen._ids import operation_id
from durable_gen.aws import LambdaHandler, lambda_handler

Handler = Callable[[dict[str, Any], Any], Any]

try:
    from .emulator import Emulator, LambdaEndpoint, Outcome
except ImportError:
    from emulator import Emulator, LambdaEndpoint, Outcome  # type: ignore[no-redef]

__all__ = [
    "Counter",
    "by_type",
    "deploy",
    "op_events",
    "operation_id",
    "run_workflow",
    "settle_pending",
    "without_invocations",
]


def deploy(
    emulator: Emulator,
    endpoint: LambdaEndpoint,
    function_name: str,
    workflow: Callable[..., Any],
    **options: Any,
) -> LambdaHandler:
    """Register ``lambda_handler(workflow)`` under ``function_name``, checkpointing to the
    emulator through its boto3 client (unless ``client=`` or ``service=`` is given)."""
    if "service" not in options:
        options.setdefault("client", emulator.client)
    handler = lambda_handler(workflow, **options)
    endpoint.register(function_name, settle_pending(handler) if emulator.skip_time else handler)
    return handler


def settle_pending(handler: Handler, seconds: float = 0.1) -> Handler:
    """``handler``, holding a PENDING answer back for ``seconds``.

    Works around a race in the emulator's ``--skip-time`` mode (1.4.0): a checkpoint that starts
    a wait arms a wake-up that fires at once; when the PENDING answer is processed while that
    wake-up runs, the wake-up is cancelled after it completed the wait but before it invoked
    the function again, and the execution stays RUNNING with nothing left to wake it. A handler
    that answers a few milliseconds after its last checkpoint (durable_gen's does) hits it now
    and then. Real time never does: the wake-up fires long after the answer.
    """

    def settled(event: dict[str, Any], context: Any) -> Any:
        output = handler(event, context)
        if isinstance(output, dict) and output.get("Status") == "PENDING":
            time.sleep(seconds)
        return output

    return settled


def run_workflow(
    emulator: Emulator,
    endpoint: LambdaEndpoint,
    function_name: str,
    workflow: Callable[..., Any],
    input: Any = None,
    *,
    timeout: float = 15.0,
    **options: Any,
) -> tuple[str, Outcome]:
    """Deploy ``workflow``, start one execution with ``input`` and wait for its end."""
    deploy(emulator, endpoint, function_name, workflow, **options)
    arn = emulator.start(function_name, input)
    return arn, emulator.wait(arn, timeout=timeout)


def by_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["EventType"] == event_type]


def without_invocations(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events of operations only. With ``--skip-time`` a timer may fire before the
    invocation that started it has ended, so ``InvocationCompleted`` has no fixed place."""
    return [e for e in events if e["EventType"] != "InvocationCompleted"]


def op_events(events: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None]]:
    """``(EventType, Name, SubType)`` of every operation event, execution events excluded."""
    return [
        (e["EventType"], e.get("Name"), e.get("SubType"))
        for e in without_invocations(events)
        if not e["EventType"].startswith("Execution")
    ]


class Counter:
    """Counts calls by key, across the threads the endpoint runs handlers on."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, key: str) -> int:
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            return self.counts[key]

    def __getitem__(self, key: str) -> int:
        return self.counts.get(key, 0)
