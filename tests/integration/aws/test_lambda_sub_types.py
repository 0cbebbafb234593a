"""Custom SubTypes (``sub_type=``) of a durable_gen workflow on the emulator: the service takes
them, records them in the history, and hands them back on the next invocation, where the
workflow replays against them."""

from __future__ import annotations

import queue
from typing import Any

import durable_gen as dg
from durable_gen.testing import replay

try:
    from .emulator import Emulator, LambdaEndpoint
    from .lambda_support import deploy, op_events
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]
    from lambda_support import deploy, op_events  # type: ignore[no-redef]


@dg.step(sub_type="Fetch")
def fetch(sku: str) -> str:
    return f"price:{sku}"


def test_custom_sub_types_are_recorded_and_replayed(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    sent: queue.Queue[str] = queue.Queue()

    def submit(callback_id: str) -> None:
        sent.put(callback_id)

    def reserve() -> Any:
        return (yield dg.Step(lambda: "held", name="hold", sub_type="Reserve"))

    def workflow(payload: dict[str, str]) -> Any:
        price = yield fetch(payload["sku"])
        held = yield dg.Child(reserve, name="reserve", sub_type="Saga")
        answer = yield dg.WaitForCallback(submit, name="approval", sub_type="Approval")
        return [price, held, answer]

    deploy(emulator, lambda_endpoint, function_name, workflow)
    arn = emulator.start(function_name, {"sku": "book"})
    emulator.client.send_durable_execution_callback_success(
        CallbackId=sent.get(timeout=5), Result=b'"yes"'
    )
    outcome = emulator.wait(arn)
    assert outcome.json() == ["price:book", "held", "yes"]
    events = emulator.history(arn)
    recorded = op_events(events)
    assert recorded[:7] == [
        ("StepStarted", "fetch", "Fetch"),
        ("StepSucceeded", "fetch", "Fetch"),
        ("ContextStarted", "reserve", "Saga"),
        ("StepStarted", "hold", "Reserve"),
        ("StepSucceeded", "hold", "Reserve"),
        ("ContextSucceeded", "reserve", "Saga"),
        ("ContextStarted", "approval", "WaitForCallback"),
    ]
    # the answer may be recorded before the submitter step's end: the id was sent during it
    assert sorted(recorded[7:-1]) == [
        ("CallbackStarted", "approval create callback id", "Approval"),
        ("CallbackSucceeded", "approval create callback id", "Approval"),
        ("StepStarted", "approval submitter", "Step"),
        ("StepSucceeded", "approval submitter", "Step"),
    ]
    assert recorded[-1] == ("ContextSucceeded", "approval", "WaitForCallback")
    # the second invocation replayed every operation against what the service recorded
    assert [i.response for i in lambda_endpoint.invocations_for(arn)][-1]["Status"] == "SUCCEEDED"
    # and the history read back by the replayer (an export of the execution), with the SubTypes
    report = replay(workflow, {"Events": events})
    assert report.ok, report
    assert report.result == ["price:book", "held", "yes"]

    def without_sub_type(payload: dict[str, str]) -> Any:
        price = yield dg.Step(fetch.fn, (payload["sku"],), name="fetch")
        return price

    diverged = replay(without_sub_type, {"Events": events})
    assert diverged.status == "diverged"
    assert "STEP/Fetch" in diverged.message
