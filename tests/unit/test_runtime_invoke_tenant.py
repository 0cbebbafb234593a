"""A runtime learns which tenant an ``Invoke`` is for from ``apply_updates`` (docs/embedding.md,
"What a store must do"; docs/guide.md: ``tenant_id`` invokes the function for that tenant)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt


def calls(_: Any) -> Any:
    a = yield dg.Invoke("billing", {"n": 1}, name="tenanted", tenant_id="acme-1")
    b = yield dg.Invoke("billing", {"n": 2}, name="plain")
    return [a, b]


@pytest.mark.parametrize("mode", ["step", "batch"])
def test_the_invoke_request_carries_the_tenant(mode: rt.CheckpointMode) -> None:
    store = {
        "exec": rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            start_timestamp=0,
            execution_details=rt.ExecutionDetails(input_payload="null"),
        )
    }
    requests: list[rt.InvokeRequest] = []
    for _ in range(5):
        interp = rt.Interpreter(
            calls, list(store.values()), execution_arn="arn:tenant", checkpointing=mode
        )
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                applied = rt.apply_updates(store, action.updates, now_ms=0)
                requests += applied.invokes
                interp.observe(applied.operations)
            elif isinstance(action, rt.Done):
                break
            else:
                raise AssertionError(action)
        if isinstance(action.outcome, rt.Succeeded):
            break
        request = requests[-1]
        answer = json.dumps({"tenant": request.tenant_id, **json.loads(request.payload or "{}")})
        rt.complete_invoke(store, request.operation_id, now_ms=0, result=answer)
    assert [(r.function_name, r.tenant_id) for r in requests] == [
        ("billing", "acme-1"),
        ("billing", None),
    ]
    assert isinstance(action.outcome, rt.Succeeded)
    assert json.loads(action.outcome.result) == [
        {"tenant": "acme-1", "n": 1},
        {"tenant": None, "n": 2},
    ]
