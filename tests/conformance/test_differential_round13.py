"""Differential runs of ``differential_round13.py``: each pair runs under AWS's SDK (its
in-process ``DurableFunctionTestRunner``) and under durable_gen (``TestRunner``, in both
payload formats), compared as ``test_differential_round10.py`` compares them; under ``"aws"``
AWS's published history matcher and result validator judge durable_gen's history. Each SDK
then replays what the other recorded.

A difference that is a documented choice (docs/conformance.md, "Differences from AWS's
SDK") is listed in ``DOCUMENTED``; anything else fails.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("aws_durable_execution_sdk_python")
pytest.importorskip("aws_durable_execution_sdk_python_testing")

from aws_durable_execution_sdk_python.execution import durable_execution

from durable_gen.testing import replay

from . import differential_round13 as d
from .test_differential_round10 import (
    _Client,
    _jsonable,
    _outcome,
    differences,
    export_ours,
    published_mismatches,
    run_aws,
    summary,
)


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    logging.disable(logging.WARNING)  # failed attempts, logged by both SDKs
    d.ATTEMPTS.clear()
    yield
    logging.disable(logging.NOTSET)


#: Differences that are documented choices (docs/conformance.md, "Differences from AWS's
#: SDK"): pair -> what differs (the part of each difference before its colon), in both formats
#: unless the key names one.
DOCUMENTED: dict[str, list[str]] = {
    # a result over 256 KiB only as AWS's SDK writes it (non-ASCII escaped): durable_gen
    # measures the UTF-8 it writes and records it whole
    "child_result_wide_text_then_replay": ["op 'wide' replay_children", "op 'wide' result"],
    "map_results_wide_text_then_replay/json": ["op 'wide' replay_children"],
    "map_results_wide_text_then_replay/aws": ["op 'wide' replay_children", "op 'wide' result"],
    "parallel_astral_text_then_replay/json": [
        "op 'big' replay_children",
        "op 'big' result",
        "op 'p' replay_children",
    ],
    "parallel_astral_text_then_replay/aws": [
        "op 'big' replay_children",
        "op 'big' result",
        "op 'p' replay_children",
        "op 'p' result",
    ],
    # the engine writes its own message for a callback that timed out (and so does the batch
    # result that holds it, under "aws")
    "callback_heartbeat_timeout_tolerated_in_parallel/json": ["op 'late' error"],
    "callback_heartbeat_timeout_tolerated_in_parallel/aws": ["op 'late' error", "op 'p' result"],
    # ... and a wait-for-callback's result is decoded JSON, not the raw text (docs/migration.md)
    "wait_for_callback_timeouts_in_map_with_min_successful/json": [
        "op 'ask0' result",
        "op 'ask2 create callback id' error",
        "op 'ask2' error",
        "op 'map-item-2' error",
    ],
    "wait_for_callback_timeouts_in_map_with_min_successful/aws": [
        "op 'ask0' result",
        "op 'ask2 create callback id' error",
        "op 'ask2' error",
        "op 'asks' result",
        "op 'map-item-2' error",
    ],
    "flat_map_of_wait_for_callbacks_one_times_out/json": [
        "op 'ask0' result",
        "op 'ask1 create callback id' error",
        "op 'ask1' error",
    ],
    "flat_map_of_wait_for_callbacks_one_times_out/aws": [
        "op 'ask0' result",
        "op 'ask1 create callback id' error",
        "op 'ask1' error",
        "op 'asks' result",
    ],
    "map_item_wide_text_after_wait_in_child/json": [
        "op 'inner0' replay_children",
        "op 'inner0' result",
        "op 'map-item-0' replay_children",
        "op 'map-item-0' result",
        "op 'wide' replay_children",
    ],
    "map_item_wide_text_after_wait_in_child/aws": [
        "op 'inner0' replay_children",
        "op 'inner0' result",
        "op 'map-item-0' replay_children",
        "op 'map-item-0' result",
        "op 'wide' replay_children",
        "op 'wide' result",
    ],
    "results_over_256k_in_branches_inside_child/json": [
        "op 'small' replay_children",
        "op 'small' result",
    ],
    # ... and the summary of a batch result over 256 KiB also holds its itemCount
    "results_over_256k_in_branches_inside_child/aws": [
        "op 'p' result",
        "op 'small' replay_children",
        "op 'small' result",
    ],
    # raise_if_failed raises BatchFailedError, whose message sums the failures up
    "map_failure_raised_in_branch_inside_child/json": ["op 'L' error"],
    "map_failure_raised_in_branch_inside_child/aws": ["op 'L' error", "op 'p' result"],
}


def documented(name: str, payload_format: str) -> list[str]:
    return DOCUMENTED.get(f"{name}/{payload_format}", DOCUMENTED.get(name, []))


_AWS_HISTORIES: dict[str, list[dict[str, Any]]] = {}


def _aws(name: str) -> list[dict[str, Any]]:
    if name not in _AWS_HISTORIES:
        d.ATTEMPTS.clear()
        _AWS_HISTORIES[name] = run_aws(d.PAIRS[name], d.TARGETS)
        d.ATTEMPTS.clear()
    return _AWS_HISTORIES[name]


def _ours(name: str, payload_format: str) -> dict[str, Any]:
    d.ATTEMPTS.clear()
    return export_ours(d.PAIRS[name], payload_format, d.TARGETS)


@pytest.mark.parametrize("payload_format", ["json", "aws"])
@pytest.mark.parametrize("name", list(d.PAIRS))
def test_both_sdks_do_the_same(name: str, payload_format: str) -> None:
    theirs = _aws(name)
    ours = _jsonable(_ours(name, payload_format)["Events"])
    diffs = differences(summary(theirs, payload_format), summary(ours, payload_format))
    kinds = sorted({diff.split(":", 1)[0] for diff in diffs})
    assert kinds == documented(name, payload_format), "\n".join(diffs)
    if not diffs and payload_format == "aws":
        assert published_mismatches(theirs, ours) == []


@pytest.mark.parametrize("name", list(d.PAIRS))
def test_durable_gen_replays_what_aws_recorded(name: str) -> None:
    theirs = _aws(name)
    report = replay(d.PAIRS[name].ours, {"Events": theirs})
    assert report.status == "ok", report.message
    status, result = _outcome(theirs)
    assert report.outcome == status.lower()  # type: ignore[union-attr]
    if status == "SUCCEEDED" and "result" not in documented(name, "aws"):
        assert report.result == (None if result is None else json.loads(result))


@pytest.mark.parametrize("name", list(d.PAIRS))
def test_aws_sdk_replays_what_durable_gen_recorded(name: str) -> None:
    """AWS's SDK, handed what durable_gen recorded (``"aws"``) as a Lambda invocation's state,
    starts nothing new and ends as durable_gen's execution ended."""
    from aws_durable_execution_sdk_python_testing.invoker import create_test_lambda_context

    p = d.PAIRS[name]
    export = _ours(name, "aws")
    status, result = _outcome(_jsonable(export["Events"]))
    client = _Client(export["Operations"])
    handler = durable_execution(boto3_client=client)(p.aws)
    d.ATTEMPTS.clear()
    output = handler(
        {
            "DurableExecutionArn": export["DurableExecutionArn"],
            "CheckpointToken": "t-0",
            "InitialExecutionState": {"Operations": export["Operations"], "NextMarker": ""},
        },
        create_test_lambda_context(),
    )
    recorded = {op["Id"] for op in export["Operations"]}
    assert [u.get("Name") for u in client.updates if u["Id"] not in recorded] == []
    assert output["Status"] == status
    if status == "SUCCEEDED" and "result" not in documented(name, "aws"):
        assert json.loads(output.get("Result") or "null") == json.loads(result or "null")


# --- each SDK takes over the other's execution where it waits -----------------------------


def _later(operations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The operations with every retry and wait due a day from now: AWS's SDK resumes a
    branch whose timer is due in the invocation itself, asking the service for fresh state,
    which a record handed over once does not give."""
    import time

    later = int(time.time() * 1000) + 86_400_000
    out: list[dict[str, Any]] = json.loads(json.dumps(operations))
    for op in out:
        for details in (op.get("StepDetails"), op.get("WaitDetails")):
            for key in ("NextAttemptTimestamp", "ScheduledEndTimestamp"):
                if details and details.get(key) is not None:
                    details[key] = later
    return out


@pytest.mark.parametrize("name", list(d.PAIRS))
def test_aws_sdk_takes_over_wherever_durable_gen_waits(name: str) -> None:
    """Each time durable_gen's execution waits (a timer, a retry, a poll, a callback), AWS's
    SDK, handed what was recorded so far (``"aws"``) as a Lambda invocation's state, waits
    as well: it records nothing, neither for what was recorded nor anything new."""
    from aws_durable_execution_sdk_python_testing.invoker import create_test_lambda_context

    from durable_gen.testing import TestRunner

    p = d.PAIRS[name]
    functions = {target: d.TARGETS[target][1] for target in p.targets}
    runner = TestRunner(functions=functions, payload_format="aws", skip_time=False)
    d.ATTEMPTS.clear()
    run = runner.run(p.ours, p.input)
    answers = list(p.answers)
    answered: set[str] = set()
    for _ in range(400):
        if run.status != "RUNNING":
            break
        export = run.export()
        operations = _later(export["Operations"])
        client = _Client(operations)
        handler = durable_execution(boto3_client=client)(p.aws)
        attempts = dict(d.ATTEMPTS)
        output = handler(
            {
                "DurableExecutionArn": export["DurableExecutionArn"],
                "CheckpointToken": "t-0",
                "InitialExecutionState": {"Operations": operations, "NextMarker": ""},
            },
            create_test_lambda_context(),
        )
        d.ATTEMPTS.clear()
        d.ATTEMPTS.update(attempts)
        assert output["Status"] == "PENDING", output
        assert [(u.get("Name"), u.get("Action")) for u in client.updates] == []
        open_ = [
            op for op in run.operations(type="CALLBACK")
            if op.status == "STARTED" and op.callback_id not in answered
        ]  # fmt: skip
        if open_ and answers:
            cid = open_[0].callback_id
            assert cid is not None
            answered.add(cid)
            answer = answers.pop(0)
            if answer[0] == "succeed":
                runner.send_callback_success(cid, payload=answer[1])
            elif answer[0] == "fail":
                _, etype, message, data = answer
                runner.send_callback_failure(cid, etype, message, data)
            runner.run_until_idle()
        else:
            runner.advance(1)  # a callback left unanswered times out as time passes
    assert run.status != "RUNNING"


def _aws_turns(p: Any) -> list[list[dict[str, Any]]]:
    """AWS's SDK runs the pair's AWS side; the history each time it waits for a callback
    (its invocation ended, a callback not yet answered), before the answer is sent."""
    import time

    from aws_durable_execution_sdk_python.lambda_service import ErrorObject
    from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

    from .test_differential_round10 import ENDED, _close_scheduler_loop

    runner = DurableFunctionTestRunner(handler=durable_execution(p.aws), poll_interval=0.01)
    turns: list[list[dict[str, Any]]] = []
    try:
        for target in p.targets:
            runner.register_durable_function(target, durable_execution(d.TARGETS[target][0]))
        arn = runner.run_async(input=json.dumps(p.input), execution_timeout=60)
        answers = list(p.answers)
        answered: set[str] = set()
        deadline = time.monotonic() + 60
        while True:
            events = runner.get_execution_history(arn, include_execution_data=True).to_dict()
            events = events["Events"]
            if any(e["EventType"] in ENDED for e in events):
                return turns
            assert time.monotonic() < deadline, [e["EventType"] for e in events]
            waiting = [
                e for e in events if e["EventType"] == "CallbackStarted" and e["Id"] not in answered
            ]
            if waiting and answers and events[-1]["EventType"] == "InvocationCompleted":
                turns.append(_jsonable(events))
                e = waiting[0]
                answered.add(e["Id"])
                cid = e["CallbackStartedDetails"]["CallbackId"]
                answer = answers.pop(0)
                if answer[0] == "succeed":
                    text = answer[1]
                    runner.send_callback_success(cid, None if text is None else text.encode())
                elif answer[0] == "fail":
                    _, etype, message, data = answer
                    runner.send_callback_failure(cid, ErrorObject(message, etype, data, None))
            time.sleep(0.01)
    finally:
        runner.close()
        _close_scheduler_loop(runner)


@pytest.mark.parametrize("name", [n for n, p in d.PAIRS.items() if p.answers])
def test_durable_gen_takes_over_where_aws_sdk_waits_for_a_callback(name: str) -> None:
    """Each time AWS's execution waits for a callback, durable_gen replays what AWS recorded
    so far and waits as well: it reaches every recorded operation and asks for nothing the
    history lacks."""
    d.ATTEMPTS.clear()
    turns = _aws_turns(d.PAIRS[name])
    assert turns
    for events in turns:
        report = replay(d.PAIRS[name].ours, {"Events": events})
        assert (report.status, report.outcome) == ("ok", "suspended"), report.message
        open_ids = {e["Id"][:12] for e in events if e["EventType"] == "CallbackStarted"} - {
            e["Id"][:12]
            for e in events
            if e["EventType"] in ("CallbackSucceeded", "CallbackFailed", "CallbackTimedOut")
        }
        waits_on = report.message.split("waits on ", 1)[1]
        awaited = set(re.findall(r"\(([0-9a-f]{12})\)", waits_on))
        assert awaited and awaited <= open_ids, report.message  # some open ones may wait


# --- an item_namer returning None -----------------------------------------------------------


def test_an_item_namer_returning_none_names_the_item_as_aws_sdk_does() -> None:
    """A namer's None keeps the default name ``map-item-{index}``, as AWS's SDK records it,
    so durable_gen replays what AWS's SDK recorded for the same Map; a history whose
    operations record the item unnamed, as durable_gen recorded it before, still replays."""
    from durable_gen.testing import TestRunner

    name = "item_namer_returning_none_and_same_branch_names"
    run = TestRunner(payload_format="aws").run(d.PAIRS[name].ours, None)
    items = [op.name for op in run.operations() if op.sub_type == "MapIteration"]
    assert items == ["n0", "map-item-1", "n2"]
    report = replay(d.PAIRS[name].ours, {"Events": _aws(name)})
    assert (report.status, report.outcome) == ("ok", "succeeded"), report.message
    old = run.export()
    for e in old["Events"]:
        if e.get("Name") == "map-item-1":
            del e["Name"]
    report = replay(d.PAIRS[name].ours, {"Events": old["Events"]})
    assert (report.status, report.outcome) == ("ok", "succeeded"), report.message
