"""A port of ``json.loads(ctx.wait_for_callback(...))`` taking over an execution whose
wait-for-callback AWS's SDK already completed, as docs/migration.md describes it.

AWS's SDK records a completed wait-for-callback as the raw string the sender sent; durable_gen
replays that record as it is, and decodes the payload of a callback answered after the switch.
A port that uses the value must accept both forms; the replay check catches one that does not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, replay

from . import _support as s


def _submit(callback_id: str) -> None:
    return None


def _in_flight() -> dict[str, Any]:
    """The recorded history, before the execution recorded its end."""
    history = s.fixture("wait_for_callback_success", "history")
    events = [e for e in history["Events"] if not e["EventType"].startswith("Execution")]
    return {"Events": [history["Events"][0], *events]}


@dg.workflow
def port_as_the_docs_say(event: Any) -> Any:
    decision = yield dg.WaitForCallback(_submit, name="approval")
    if isinstance(decision, str):  # completed by AWS's SDK before the switch
        decision = json.loads(decision)
    return decision["by"]


@dg.workflow
def port_without_the_fallback(event: Any) -> Any:
    decision = yield dg.WaitForCallback(_submit, name="approval")
    return decision["by"]


def test_the_documented_port_replays_a_callback_aws_completed() -> None:
    report = replay(port_as_the_docs_say, _in_flight())
    assert report.status == "ok", report
    assert report.result == "ops"


def test_a_port_that_only_takes_the_decoded_value_is_reported_failed() -> None:
    report = replay(port_without_the_fallback, _in_flight())
    assert report.status == "failed", report
    assert "TypeError" in (report.message or "")


def test_a_callback_answered_after_the_switch_gives_the_decoded_value() -> None:
    runner = TestRunner()
    ids: list[str] = []

    def submit(callback_id: str) -> None:
        ids.append(callback_id)

    @dg.workflow
    def port(event: Any) -> Any:
        decision = yield dg.WaitForCallback(submit, name="approval")
        if isinstance(decision, str):
            decision = json.loads(decision)
        return decision["by"]

    execution = runner.run(port, {})
    runner.send_callback_success(ids[0], {"approved": True, "by": "ops"})
    runner.run_until_idle()
    assert execution.result() == "ops"


@dataclass
class Decision:
    approved: bool
    by: str


@dg.workflow
def typed_port(event: Any) -> dg.Workflow[str]:
    decision = yield from dg.WaitForCallback(_submit, name="approval", result_type=Decision)
    return decision.by


@dg.workflow
def text_port(event: Any) -> dg.Workflow[Any]:
    return (yield from dg.WaitForCallback(_submit, name="approval", result_type=str))


@pytest.mark.parametrize("whole", [False, True], ids=["in-flight", "finished"])
def test_a_typed_port_gets_its_result_type_from_a_callback_aws_completed(whole: bool) -> None:
    history = s.fixture("wait_for_callback_success", "history") if whole else _in_flight()
    report = replay(typed_port, history)
    assert (report.status, report.result) == ("ok", "ops"), report


def test_result_type_str_keeps_the_raw_text_aws_recorded() -> None:
    report = replay(text_port, _in_flight())
    assert report.status == "ok", report
    assert isinstance(report.result, str)
    assert json.loads(report.result)["by"] == "ops"


def test_a_typed_port_gets_its_result_type_from_a_callback_answered_after_the_switch() -> None:
    runner = TestRunner()
    ids: list[str] = []

    def submit(callback_id: str) -> None:
        ids.append(callback_id)

    @dg.workflow
    def port(event: Any) -> dg.Workflow[Decision]:
        decision = yield from dg.WaitForCallback(submit, name="approval", result_type=Decision)
        yield from dg.Wait(seconds=1, name="then")
        return decision

    execution = runner.run(port, {})
    runner.send_callback_success(ids[0], {"approved": True, "by": "ops"})
    runner.run_until_idle()
    assert execution.result() == Decision(approved=True, by="ops")
    assert replay(port, execution.export()).result == Decision(approved=True, by="ops")


def test_a_recorded_text_that_fits_neither_way_still_says_what_does_not_fit() -> None:
    @dg.workflow
    def port(event: Any) -> dg.Workflow[int]:
        return (yield from dg.WaitForCallback(_submit, name="approval", result_type=int))

    report = replay(port, _in_flight())
    assert report.status == "failed", report
    assert "does not fit the declared type int" in (report.message or "")
