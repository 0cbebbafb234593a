"""``durable_gen.runtime``: the reference state machine on a dict, as an embedder uses it."""

from __future__ import annotations

import pytest

import durable_gen as dg
from durable_gen import runtime as rt


def execution() -> dict[str, rt.Operation]:
    return {
        "exec": rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            execution_details=rt.ExecutionDetails(input_payload="null"),
        )
    }


def test_apply_updates_records_a_step_and_returns_what_changed() -> None:
    ops = execution()
    applied = rt.apply_updates(
        ops,
        [
            rt.OperationUpdate(id="s1", type="STEP", action="START", name="a", sub_type="Step"),
            rt.OperationUpdate(id="s1", type="STEP", action="SUCCEED", payload="1"),
        ],
        now_ms=1_000,
    )
    (op,) = applied.operations
    assert ops["s1"] == op and op.status == "SUCCEEDED" and op.step_details is not None
    assert (op.step_details.result, op.step_details.attempt) == ("1", 1)
    assert applied.timers == [] and applied.invokes == [] and applied.outcome is None


def test_apply_updates_arms_timers_and_issues_callback_ids() -> None:
    ops = execution()
    applied = rt.apply_updates(
        ops,
        [
            rt.OperationUpdate(
                id="w", type="WAIT", action="START", wait_options=rt.WaitOptions(wait_seconds=5)
            ),
            rt.OperationUpdate(
                id="c",
                type="CALLBACK",
                action="START",
                callback_options=rt.CallbackOptions(timeout_seconds=60),
            ),
        ],
        now_ms=1_000,
        new_callback_id=lambda: "cb-1",
    )
    assert applied.timers == [
        rt.Timer(kind="wait", operation_id="w", due_ms=6_000, seconds=5),
        rt.Timer(kind="callback-timeout", operation_id="c", due_ms=61_000, seconds=60),
    ]
    assert ops["c"].callback_details == rt.CallbackDetails(callback_id="cb-1")
    fired = rt.fire_timer(ops, applied.timers[0], now_ms=6_000)
    assert fired is not None and fired.status == "SUCCEEDED" and ops["w"] is fired
    answered = rt.complete_callback(ops, "cb-1", now_ms=7_000, result='"yes"')
    assert answered.status == "SUCCEEDED"
    # the timeout fires after the answer: stale, nothing changes
    assert rt.fire_timer(ops, applied.timers[1], now_ms=61_000) is None
    with pytest.raises(dg.InvalidCheckpointError, match="already SUCCEEDED"):
        rt.complete_callback(ops, "cb-1", now_ms=8_000, result="1")


def test_a_refused_batch_changes_nothing() -> None:
    ops = execution()
    before = dict(ops)
    with pytest.raises(dg.InvalidCheckpointError, match="SUCCEED"):
        rt.apply_updates(
            ops,
            [
                rt.OperationUpdate(id="ok", type="STEP", action="START", name="a"),
                rt.OperationUpdate(id="w", type="WAIT", action="SUCCEED"),
            ],
            now_ms=0,
        )
    assert ops == before


def test_an_invoke_is_requested_then_completed_by_the_host() -> None:
    ops = execution()
    applied = rt.apply_updates(
        ops,
        [
            rt.OperationUpdate(
                id="i",
                type="CHAINED_INVOKE",
                action="START",
                payload="{}",
                chained_invoke_options=rt.ChainedInvokeOptions(function_name="tax"),
            )
        ],
        now_ms=0,
    )
    assert applied.invokes == [
        rt.InvokeRequest(operation_id="i", function_name="tax", payload="{}")
    ]
    failed = rt.complete_invoke(
        ops, "i", now_ms=5, error=rt.ErrorObject(error_type="Boom", error_message="no")
    )
    assert failed.status == "FAILED"
    with pytest.raises(dg.InvalidCheckpointError):
        rt.complete_invoke(ops, "i", now_ms=6, result="1")


def test_an_execution_update_ends_the_execution() -> None:
    applied = rt.apply_updates(
        execution(),
        [rt.OperationUpdate(id="exec", type="EXECUTION", action="SUCCEED", payload='"big"')],
        now_ms=0,
    )
    assert applied.outcome == rt.Succeeded('"big"') and applied.operations == []
