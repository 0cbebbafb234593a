"""TestRunner answers a callback with the text a sender sends (``payload=``).

A callback with a ``serdes=`` reads what the sender sent as text; ``send_callback_success``
wrote every result as JSON, so a test could not send the text such a serdes reads (it got
``'"a,b"'`` with the quotes) nor reproduce a sender's exact JSON.
"""

from __future__ import annotations

from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner


class Csv:
    def serialize(self, value: list[str]) -> str:
        return ",".join(value)

    def deserialize(self, text: str) -> list[str]:
        return text.split(",")


@dg.workflow
def csv_callback(_: None):
    handle = yield dg.CreateCallback(name="rows", serdes=Csv())
    return (yield handle)


@dg.workflow
def json_callback(_: None):
    handle = yield dg.CreateCallback(name="decision")
    return (yield handle)


def _callback_payload(run: Any) -> str:
    [event] = [e for e in run.history() if e.event_type == "CallbackSucceeded"]
    return str(event.callback_succeeded_details["Result"]["Payload"])


def test_payload_reaches_a_callback_serdes_as_sent() -> None:
    runner = TestRunner()
    run = runner.run(csv_callback, None)
    run.send_callback_success("rows", payload="a,b")
    runner.run_until_idle()
    assert run.result() == ["a", "b"]
    assert _callback_payload(run) == "a,b"


def test_payload_by_id_records_the_senders_json_text() -> None:
    runner = TestRunner()
    run = runner.run(json_callback, None)
    runner.send_callback_success(run.callback_id("decision"), payload='{"status": "approved"}')
    runner.run_until_idle()
    assert run.result() == {"status": "approved"}
    assert _callback_payload(run) == '{"status": "approved"}'


def test_a_result_value_is_still_written_as_json() -> None:
    runner = TestRunner()
    run = runner.run(csv_callback, None)
    run.send_callback_success("rows", "a,b")
    runner.run_until_idle()
    assert run.result() == ['"a', 'b"']  # the serdes reads the JSON text it was given


def test_result_and_payload_together_are_refused() -> None:
    runner = TestRunner()
    run = runner.run(json_callback, None)
    with pytest.raises(dg.ValidationError, match="not both"):
        run.send_callback_success("decision", "x", payload='"x"')
    assert run.status == "RUNNING"


@pytest.mark.parametrize("payload", [b'"x"', 5, {"a": 1}])
def test_a_payload_that_is_not_text_is_refused(payload: Any) -> None:
    runner = TestRunner()
    run = runner.run(json_callback, None)
    with pytest.raises(dg.ValidationError, match="takes the result's text as a str"):
        run.send_callback_success("decision", payload=payload)
    run.send_callback_success("decision", payload='"late"')
    runner.run_until_idle()
    assert run.result() == "late"


def test_a_payload_over_the_limit_leaves_the_callback_open() -> None:
    runner = TestRunner()
    run = runner.run(json_callback, None)
    with pytest.raises(dg.PayloadTooLargeError):
        run.send_callback_success("decision", payload="x" * (1024 * 1024 + 1))
    run.send_callback_success("decision", payload='"fits"')
    runner.run_until_idle()
    assert run.result() == "fits"


def test_a_payload_that_is_not_valid_unicode_is_refused() -> None:
    runner = TestRunner()
    run = runner.run(json_callback, None)
    with pytest.raises(dg.ValidationError, match="not valid Unicode"):
        run.send_callback_success("decision", payload="bad \ud800")
    assert run.status == "RUNNING"
