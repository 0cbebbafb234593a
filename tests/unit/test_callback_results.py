"""A callback's result as the workflow receives it, whatever its sender sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local import LocalService, VirtualClock
from durable_gen.runtime import make_handler


class RawText:
    """Reads any text as ``raw:<text>``; writes that value back as the text (a round trip)."""

    def serialize(self, value: Any) -> str:
        return str(value).removeprefix("raw:")

    def deserialize(self, text: str) -> Any:
        return f"raw:{text}"


def _run(workflow: Any, *answers: str) -> Any:
    """Run ``workflow``, answering each callback it waits on with the next raw text."""
    service = LocalService(clock=VirtualClock())
    service.register("wf", make_handler(workflow, service))
    arn = service.start("wf", "null")
    for answer in answers:
        service.run(arn)
        started = [e for e in service.get_history(arn) if e.event_type == "CallbackStarted"]
        service.send_callback_success(started[-1].callback_started_details["CallbackId"], answer)
    record = service.run(arn)
    assert record.status == "SUCCEEDED", record.error
    return json.loads(record.result or "null")


@dg.workflow
def created(_: Any):
    handle = yield dg.CreateCallback(name="approval")
    try:
        return ["ok", (yield handle)]
    except dg.SerializationError as exc:
        return ["SerializationError", str(exc)]


@dg.workflow
def waited(_: Any):
    try:
        return ["ok", (yield dg.WaitForCallback(lambda callback_id: None, name="approval"))]
    except dg.CallbackFailedError as exc:
        return [exc.error_type, exc.error_message]


@pytest.mark.parametrize("workflow", [created, waited], ids=["CreateCallback", "WaitForCallback"])
def test_a_result_that_is_not_json_says_the_sender_must_send_json(workflow: Any) -> None:
    kind, message = _run(workflow, "approved")
    assert kind == "SerializationError"
    assert message.startswith("the callback result: the recorded payload is not valid JSON")
    # the advice fits a callback: its sender wrote it, no serdes of ours did
    assert "a callback's sender" in message
    assert "pass the operation a serdes= that reads it, or send JSON" in message


@dg.workflow
def with_serdes(_: Any):
    handle = yield dg.CreateCallback(name="approval", serdes=RawText())
    first = yield handle
    waited = yield dg.WaitForCallback(lambda callback_id: None, serdes=RawText())
    return [first, waited]


def test_a_serdes_reads_what_the_sender_sent() -> None:
    assert _run(with_serdes, "approved", "also approved") == ["raw:approved", "raw:also approved"]
