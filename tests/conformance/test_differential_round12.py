"""Differential runs of ``differential_round12.py``: each pair runs under AWS's SDK (its
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
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("aws_durable_execution_sdk_python")
pytest.importorskip("aws_durable_execution_sdk_python_testing")

from aws_durable_execution_sdk_python.execution import durable_execution

import durable_gen as dg
from durable_gen.testing import TestRunner, replay

from . import differential_round12 as d
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
#: "json" records a failure's own type where AWS's SDK records its exception's (docs/lambda.md)
_OWN_TYPE = {"result"}

DOCUMENTED: dict[str, list[str]] = {
    # a Retry's backoff is at least 1 (docs/guide.md): a ValidationError where it is built,
    # which fails the execution; AWS's SDK shrinks the delays
    "retry_backoff_below_one_shrinks": ["error", "op 1ced8f5b", "result", "status"],
    # a wait-for-condition out of attempts records each SDK's own message
    "condition_attempts_run_out": ["error", "op 'poll' error"],
    "condition_attempts_run_out_caught": ["op 'poll' error", "result"],
    # a callback's result is decoded JSON, not the raw text (docs/migration.md)
    "callback_with_heartbeat_answered": ["result"],
    # a callback whose heartbeat timed out records the engine's own message
    "callback_heartbeat_times_out_caught": ["op 'approve' error"],
    # CallbackFailedError.error_type is the type the sender sent (docs/migration.md)
    "callback_failed_unicode_type_and_data_caught": ["result"],
    # Completion.first_successful() is a min_successful of 1: never reached by an empty
    # batch, which durable_gen decides as ALL_COMPLETED and AWS's SDK refuses
    "empty_batches_with_presets": ["error", "op 6f760b9e", "result", "status"],
    # the failure's own type under "json"
    "retry_filtered_by_message/json": sorted(_OWN_TYPE),
    "at_most_once_single_attempt_fails_caught/json": sorted(_OWN_TYPE),
    "exception_several_args_caught/json": sorted(_OWN_TYPE),
    "exception_nested_class_caught/json": sorted(_OWN_TYPE),
    "exception_custom_str_caught/json": sorted(_OWN_TYPE),
    # a serdes failure records each SDK's own message (the types match under "aws")
    "step_serdes_fails_inside_child": ["error", "op 'holder' error", "op 's' error"],
    "child_serdes_fails_inside_child": ["error", "op 'holder' error", "op 'inner' error"],
    "callback_result_unreadable_inside_child": ["error", "op 'holder' error"],
    "invoke_result_unreadable_inside_child": ["error", "op 'holder' error"],
    "wait_for_callback_result_unreadable": ["error", "op 'ask' error"],
    "condition_state_unwritable_inside_child": ["error", "op 'holder' error", "op 'poll' error"],
    "invoke_payload_unwritable_inside_child": ["error", "op 'holder' error"],
    "wait_for_callback_submitter_result_unwritable": [
        "error",
        "op 'ask submitter' error",
        "op 'ask' error",
    ],
    "map_raise_if_failed_on_a_serdes_failure/json": [
        "error",
        "op 'map-item-0' error",
        "op 's' error",
    ],
    "map_raise_if_failed_on_a_serdes_failure/aws": [
        "error",
        "op 'm' result",
        "op 'map-item-0' error",
        "op 's' error",
    ],
    # the engine's own message for a callback that timed out
    "callback_timeout_in_tolerated_map_item/json": [
        "op 'cb0' error",
        "op 'map-item-0' error",
        "result",
    ],
    "callback_timeout_in_tolerated_map_item/aws": [
        "op 'asks' result",
        "op 'cb0' error",
        "op 'map-item-0' error",
    ],
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


#: Pairs whose durable_gen side fails where AWS's went on: a replay of AWS's record fails too.
_REFUSED = {"retry_backoff_below_one_shrinks"}

#: Pairs whose AWS side fails before it starts what durable_gen runs (a min_successful over the
#: item count): durable_gen's replay of AWS's record stops where it ends, and AWS's SDK fails
#: on durable_gen's record.
_AWS_REFUSED = {"empty_batches_with_presets"}


@pytest.mark.parametrize("name", list(d.PAIRS))
def test_durable_gen_replays_what_aws_recorded(name: str) -> None:
    theirs = _aws(name)
    report = replay(d.PAIRS[name].ours, {"Events": theirs})
    if name in _REFUSED:
        assert report.status == "failed"
        return
    if name in _AWS_REFUSED:
        assert report.status == "incomplete"
        return
    assert report.status == "ok", report.message
    status, result = _outcome(theirs)
    assert report.outcome == status.lower()  # type: ignore[union-attr]
    if status == "SUCCEEDED" and "result" not in documented(name, "aws"):
        assert report.result == (None if result is None else json.loads(result))


@pytest.mark.parametrize("name", [n for n in d.PAIRS if n not in _REFUSED])
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
    if name in _AWS_REFUSED:
        assert (output["Status"], status) == ("FAILED", "SUCCEEDED")
        assert "min_successful" in output["Error"]["ErrorMessage"]
        return
    assert output["Status"] == status
    if status == "SUCCEEDED" and "result" not in documented(name, "aws"):
        assert json.loads(output.get("Result") or "null") == json.loads(result or "null")


# --- a serdes failure escaping contexts, in AWS's format ------------------------------------------

_SERDES = "aws_durable_execution_sdk_python.exceptions.SerDesError"


@pytest.mark.parametrize(
    "workflow",
    [
        d.o_step_serdes_fails_in_child,
        d.o_child_serdes_fails_in_child,
        d.o_cond_unwritable_in_child,
    ],
)
def test_a_serdes_failure_escapes_every_context_as_serdes_error_under_aws(workflow: Any) -> None:
    """AWS's SDK records a serdes failure as its ``SerDesError`` on the operation, on every
    context it escapes and on the execution; ``"aws"`` records the same at each level (not
    ``StepError`` or ``ChildContextError``), and the record replays as failed."""
    run = TestRunner(payload_format="aws").run(workflow, None)
    assert run.status == "FAILED"
    export = run.export()
    failed = [
        (e.get("Name"), e[f"{e['EventType']}Details"]["Error"]["Payload"]["ErrorType"])
        for e in export["Events"]
        if e["EventType"] in ("StepFailed", "ContextFailed", "ExecutionFailed")
    ]
    inner = {
        d.o_step_serdes_fails_in_child: "s",
        d.o_child_serdes_fails_in_child: "inner",
        d.o_cond_unwritable_in_child: "poll",
    }[workflow]
    assert [(n, t) for n, t in failed if n != inner and n != "holder"][-1][1] == _SERDES
    assert dict((n, t) for n, t in failed if n in (inner, "holder")) == {
        inner: _SERDES,
        "holder": _SERDES,
    }
    report = replay(workflow, export)
    assert report.status == "ok", report.message
    assert report.outcome == "failed"
    # the same run in durable_gen's own format keeps durable_gen's type at every level
    own = TestRunner(payload_format="json").run(workflow, None).export()
    types = {
        e[f"{e['EventType']}Details"]["Error"]["Payload"]["ErrorType"]
        for e in own["Events"]
        if e["EventType"] in ("StepFailed", "ContextFailed", "ExecutionFailed")
    }
    assert types == {"SerializationError"}


def test_a_wait_for_callback_result_that_cannot_be_read_escapes_as_serdes_error_under_aws() -> None:
    """The workflow reads ``error_type`` ``SerializationError`` in both formats; under
    ``"aws"`` the WaitForCallback context and the execution record AWS's ``SerDesError``, as
    AWS's SDK does (not ``CallbackExternalError``), and the record replays as failed."""

    def caught(event):  # type: ignore[no-untyped-def]
        try:
            return (yield from d.o_wfcb_unreadable(event))
        except dg.CallbackFailedError as e:
            return e.error_type

    for workflow, expected in ((caught, "SerializationError"), (d.o_wfcb_unreadable, None)):
        runner = TestRunner(payload_format="aws")
        run = runner.run(workflow, None)
        (callback,) = run.operations(type="CALLBACK")
        assert callback.callback_id is not None
        runner.send_callback_success(callback.callback_id, payload='"yes"')
        runner.run_until_idle()
        export = run.export()
        if expected is not None:
            assert run.result() == expected
            continue
        failed = {
            e["EventType"]: e[f"{e['EventType']}Details"]["Error"]["Payload"]["ErrorType"]
            for e in export["Events"]
            if e["EventType"] in ("ContextFailed", "ExecutionFailed")
        }
        assert failed == {"ContextFailed": _SERDES, "ExecutionFailed": _SERDES}
        report = replay(workflow, export)
        assert report.status == "ok", report.message
        assert report.outcome == "failed"


def test_raise_if_failed_on_a_serdes_failure_escapes_as_serdes_error_under_aws() -> None:
    """AWS's ``throw_if_error`` raises the first failure as its ``SerDesError`` when that is
    what it is; ``raise_if_failed`` escaping the workflow records the same under ``"aws"``."""
    run = TestRunner(payload_format="aws").run(d.o_raise_if_serdes, None)
    assert run.status == "FAILED" and run.error is not None
    assert run.error.error_type == _SERDES
    report = replay(d.o_raise_if_serdes, run.export())
    assert report.status == "ok", report.message
    assert report.outcome == "failed"
    own = TestRunner(payload_format="json").run(d.o_raise_if_serdes, None)
    assert own.error is not None and own.error.error_type == "SerializationError"
