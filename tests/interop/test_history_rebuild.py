"""The history rebuild reads what AWS's service writes: every fixture's events rebuild the
operations ``GetDurableExecutionState`` returned, pages merge, and every event type of the
Lambda API is either rebuilt or known to record no operation."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec
import pytest

from durable_gen.testing import load_history, operations_from_events

from . import _support as s
from .workflows import CASES


def _by_id(ops: list[Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for op in ops:
        d = msgspec.to_builtins(op)
        if d["Type"] == "EXECUTION":  # the state was read before the execution ended
            d.pop("Status")
            d.pop("EndTimestamp", None)
        out[d["Id"]] = d
    return out


def _due(ops: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Two things no event can tell: a retry whose delay has passed (the service says READY,
    the events still PENDING), and the state of a pending wait-for-condition poll (AWS's
    emulator writes no Result on a polling StepSucceeded event)."""
    out = {}
    for key, op in ops.items():
        op = json.loads(json.dumps(op))
        if op.get("Status") in ("PENDING", "READY"):
            op["Status"] = "PENDING|READY"
            op.get("StepDetails", {}).pop("NextAttemptTimestamp", None)
            if op.get("SubType") == "WaitForCondition":
                op["StepDetails"].pop("Result", None)
        out[key] = op
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_events_rebuild_the_operations_the_service_returned(case: str) -> None:
    from_events = load_history(s.FIXTURES / f"{case}.history.json").operations
    from_state = load_history(s.FIXTURES / f"{case}.state.json").operations
    assert _by_id(from_events) == _by_id(from_state)


@pytest.mark.parametrize("case", list(CASES))
def test_each_invocation_state_is_the_rebuild_of_a_prefix(case: str) -> None:
    events = s.fixture(case, "history")["Events"]
    rebuilt = [_due(_by_id(operations_from_events(events[:n]))) for n in range(1, len(events))]
    for i, ops in enumerate(s.fixture(case, "state")["InvocationStates"]):
        given = _due(_by_id(load_history({"Operations": ops}).operations))
        assert given in rebuilt, f"invocation {i + 1} started from a state no prefix rebuilds"


# --- the last failed attempt ------------------------------------------------------------------


def test_the_final_step_failed_event_ends_the_step() -> None:
    history = load_history(s.FIXTURES / "step_retry_exhausted.history.json")
    [step] = [op for op in history.operations if op.type == "STEP"]
    final = [e for e in s.fixture("step_retry_exhausted", "history")["Events"]][-3]
    assert final["StepFailedDetails"]["RetryDetails"]["NextAttemptDelaySeconds"] == 0
    assert (step.status, step.step_details and step.step_details.attempt) == ("FAILED", 3)
    assert step.step_details is not None and step.step_details.next_attempt_timestamp is None
    assert history.status == "FAILED"


def test_a_retry_with_a_delay_leaves_the_step_pending_until_it_is_due() -> None:
    events = s.fixture("step_retry_exhausted", "history")["Events"]
    cut = next(n for n, e in enumerate(events) if e["EventType"] == "StepFailed") + 1
    failed = events[cut - 1]
    assert failed["StepFailedDetails"]["RetryDetails"]["NextAttemptDelaySeconds"] == 1
    [step] = [op for op in operations_from_events(events[:cut]) if op.type == "STEP"]
    assert step.status == "PENDING"
    assert step.step_details is not None and step.step_details.attempt == 1
    failed_at = datetime.fromisoformat(failed["EventTimestamp"]).timestamp() * 1000
    assert step.step_details.next_attempt_timestamp == int(failed_at) + 1000


def test_a_failed_aws_execution_replays_as_failed_not_waiting() -> None:
    for case in ("step_retry_exhausted", "step_fails_once"):
        report = s.replay(CASES[case].workflow, s.FIXTURES / f"{case}.history.json")
        assert (report.status, report.outcome) == ("ok", "failed"), report


def test_a_wait_for_condition_poll_is_pending_until_its_last_check() -> None:
    events = s.fixture("wait_for_condition_named", "history")["Events"]
    polls = [n + 1 for n, e in enumerate(events) if e["EventType"] == "StepSucceeded"]
    assert len(polls) == 3
    for cut in polls[:-1]:
        [step] = operations_from_events(events[:cut])[1:]
        assert step.status == "PENDING"
    [step] = operations_from_events(events[: polls[-1]])[1:]
    assert step.status == "SUCCEEDED"
    assert step.step_details is not None and step.step_details.result == "3"


def test_a_pending_poll_keeps_the_state_its_event_carries() -> None:
    event = {
        "EventType": "StepSucceeded",
        "EventId": 3,
        "Id": "poll",
        "SubType": "WaitForCondition",
        "StepSucceededDetails": {
            "Result": {"Payload": "2", "Truncated": False},
            "RetryDetails": {"CurrentAttempt": 2, "NextAttemptDelaySeconds": 5},
        },
    }
    [step] = operations_from_events([event])
    assert step.status == "PENDING"
    assert step.step_details is not None and step.step_details.result == "2"


# --- paging ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", ["step_shapes", "map_tolerated_failures", "wait_for_callback_success"]
)
def test_history_pages_merge_into_the_whole_history(case: str) -> None:
    pages = json.loads((s.FIXTURES / f"{case}.history-pages.json").read_text())
    assert len(pages) > 2 and all(p.get("NextMarker") for p in pages[:-1])
    whole = load_history(s.FIXTURES / f"{case}.history.json")
    for order in (pages, list(reversed(pages))):
        merged = load_history(order)
        assert merged.operations == whole.operations
        assert (merged.status, merged.result) == (whole.status, whole.result)
        assert merged.warnings == whole.warnings


def test_reverse_order_pages_rebuild_the_same_operations() -> None:
    pages = json.loads((s.FIXTURES / "step_shapes.history-pages.json").read_text())
    backwards = [{"Events": list(reversed(p["Events"]))} for p in reversed(pages)]
    assert load_history(backwards).operations == load_history(pages).operations


def test_one_page_of_many_says_so() -> None:
    pages = json.loads((s.FIXTURES / "step_shapes.history-pages.json").read_text())
    history = load_history(pages[0])
    assert any("NextMarker" in w for w in history.warnings)
    assert not load_history(pages).warnings


def test_state_pages_merge_by_operation_id() -> None:
    ops = s.fixture("map_basic", "state")["Operations"]
    pages = [
        {"Operations": ops[:3], "NextMarker": "a"},
        {"Operations": ops[3:6], "NextMarker": "b"},
        {"Operations": ops[6:]},
    ]
    assert load_history(pages).operations == load_history({"Operations": ops}).operations


# --- every event type of the API ------------------------------------------------------------

#: Event types that record no operation of their own.
NO_OPERATION = {"InvocationCompleted", "ExecutionPaused", "ExecutionResumed"}
STATUS_OF = {
    "Started": "STARTED",
    "Succeeded": "SUCCEEDED",
    "Failed": "FAILED",
    "TimedOut": "TIMED_OUT",
    "Stopped": "STOPPED",
    "Cancelled": "CANCELLED",
}
TYPE_OF = {
    "Step": "STEP",
    "Context": "CONTEXT",
    "Wait": "WAIT",
    "Callback": "CALLBACK",
    "ChainedInvoke": "CHAINED_INVOKE",
}
_ERROR = {"Payload": {"ErrorType": "Boom", "ErrorMessage": "it broke"}, "Truncated": False}


def _api_event_types() -> list[str]:
    botocore = pytest.importorskip("botocore.session")
    model = botocore.get_session().get_service_model("lambda")
    enum: list[str] = model.shape_for("EventType").enum
    return enum


def _event(event_type: str, event_id: int) -> dict[str, Any]:
    kind = next((k for k in TYPE_OF if event_type.startswith(k)), None)
    what = event_type[len(kind) :] if kind else ""
    details: dict[str, Any] = {}
    if what in ("Failed", "TimedOut", "Stopped", "Cancelled"):
        details["Error"] = _ERROR
    elif what == "Succeeded":
        details["Result"] = {"Payload": '"done"', "Truncated": False}
    return {
        "EventType": event_type,
        "EventId": event_id,
        "EventTimestamp": "2026-01-02T03:04:05.678000+00:00",
        "Id": "op-1",
        "Name": "the-op",
        f"{event_type}Details": details,
    }


def test_every_event_type_of_the_api_is_read() -> None:
    started = {
        "EventType": "ExecutionStarted",
        "EventId": 1,
        "Id": "exec",
        "ExecutionStartedDetails": {"Input": {"Payload": "{}", "Truncated": False}},
    }
    for event_type in _api_event_types():
        if event_type.startswith("Execution") or event_type in NO_OPERATION:
            history = load_history({"Events": [started, {**_event(event_type, 2), "Id": "exec"}]})
            [execution] = history.operations
            what = event_type[len("Execution") :]
            if what in STATUS_OF and what != "Started":
                assert history.status == STATUS_OF[what], event_type
                assert execution.status == STATUS_OF[what], event_type
            else:
                assert history.status == "RUNNING", event_type
            continue
        kind = next(k for k in TYPE_OF if event_type.startswith(k))
        what = event_type[len(kind) :]
        ops = load_history({"Events": [started, _event(event_type, 2)]}).operations
        [op] = [o for o in ops if o.id == "op-1"]
        assert op.type == TYPE_OF[kind], event_type
        assert op.status == STATUS_OF[what], event_type
        assert op.start_timestamp == 1767323045678, event_type
        details = msgspec.to_builtins(op).get(f"{kind}Details", {})
        if what in ("Failed", "TimedOut", "Stopped"):
            assert details["Error"] == {"ErrorType": "Boom", "ErrorMessage": "it broke"}, event_type
        if what == "Succeeded" and kind != "Wait":
            assert details["Result"] == '"done"', event_type


def test_a_wait_without_a_scheduled_end_gets_one_from_its_duration() -> None:
    event = {
        "EventType": "WaitStarted",
        "EventId": 2,
        "EventTimestamp": 1767323045000,
        "Id": "w",
        "WaitStartedDetails": {"Duration": 30},
    }
    [op] = operations_from_events([event])
    assert op.wait_details is not None
    assert op.wait_details.scheduled_end_timestamp == 1767323045000 + 30_000


def test_timestamps_are_read_in_every_form_the_tools_print() -> None:
    iso = "2026-01-02T03:04:05.678000+00:00"
    ms = 1767323045678
    forms = (iso, iso.replace("+00:00", "Z"), ms, ms / 1000, datetime.fromisoformat(iso))
    for form in forms:
        event = {"EventType": "StepStarted", "EventId": 1, "Id": "s", "EventTimestamp": form}
        [op] = operations_from_events([event])
        assert op.start_timestamp == ms, form


def test_boto3_responses_load_as_they_come() -> None:
    """What ``client.get_durable_execution_history`` returns: datetimes, ResponseMetadata."""
    pages = json.loads((s.FIXTURES / "wait_for_callback_success.history-pages.json").read_text())
    raw = [
        {
            **page,
            "ResponseMetadata": {"HTTPStatusCode": 200},
            "Events": [
                {**e, "EventTimestamp": datetime.fromisoformat(e["EventTimestamp"])}
                for e in page["Events"]
            ],
        }
        for page in pages
    ]
    assert load_history(raw).operations == load_history(pages).operations


def _child_history(
    child_payload: str, step_payload: str, sub_type: str = "RunInChildContext"
) -> dict[str, Any]:
    """A child context holding one step; the context and the step end with these payloads."""
    at = "2026-01-02T03:04:05+00:00"
    common = {"EventTimestamp": at}
    return {
        "Events": [
            {
                "EventType": "ExecutionStarted",
                "EventId": 1,
                "Id": "exec",
                "ExecutionStartedDetails": {"Input": {"Payload": "{}"}},
                **common,
            },
            {
                "EventType": "ContextStarted",
                "EventId": 2,
                "Id": "ctx",
                "Name": "bigchild",
                "SubType": sub_type,
                **common,
            },
            {
                "EventType": "StepStarted",
                "EventId": 3,
                "Id": "s1",
                "ParentId": "ctx",
                "Name": "big",
                "SubType": "Step",
                **common,
            },
            {
                "EventType": "StepSucceeded",
                "EventId": 4,
                "Id": "s1",
                "ParentId": "ctx",
                "Name": "big",
                "SubType": "Step",
                "StepSucceededDetails": {"Result": {"Payload": step_payload}},
                **common,
            },
            {
                "EventType": "ContextSucceeded",
                "EventId": 5,
                "Id": "ctx",
                "Name": "bigchild",
                "SubType": sub_type,
                "ContextSucceededDetails": {"Result": {"Payload": child_payload}},
                **common,
            },
        ]
    }


BIG = json.dumps("z" * 300_000)


@pytest.mark.parametrize("sub_type", ["RunInChildContext", "Saga"])
def test_a_child_result_that_may_be_an_aws_summary_is_flagged(sub_type: str) -> None:
    """AWS's ``ChildConfig(summary_generator=...)`` writes a summary in place of a result over
    256 KiB; history events do not mark it (``ReplayChildren`` is only in the state). A child
    context of a custom SubType (``ChildConfig(sub_type=...)``) is one as well."""
    history = load_history(_child_history('{"length": 300000}', BIG, sub_type))
    (ctx,) = [op for op in history.operations if op.id == "ctx"]
    assert not (ctx.context_details and ctx.context_details.replay_children)
    assert any("'bigchild'" in w and "summary_generator" in w for w in history.warnings), (
        history.warnings
    )


@pytest.mark.parametrize(
    ("child", "step"),
    [('"small"', '"small"'), ("", BIG), (BIG[:1000] + '"', '"small"')],
    ids=["small", "empty-stand-in", "large-own-result"],
)
def test_other_child_results_are_not_flagged(child: str, step: str) -> None:
    history = load_history(_child_history(child, step))
    assert not any("summary_generator" in w for w in history.warnings), history.warnings


@pytest.mark.parametrize("sub_type", ["MapIteration", "ParallelBranch", "WaitForCallback"])
def test_contexts_that_are_not_child_contexts_are_not_flagged(sub_type: str) -> None:
    """AWS's SDK writes no summary of its own for these (a Map item's stand-in is empty)."""
    history = load_history(_child_history('{"length": 300000}', BIG, sub_type))
    assert not any("summary_generator" in w for w in history.warnings), history.warnings
