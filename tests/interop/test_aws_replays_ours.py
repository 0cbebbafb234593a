"""The other direction: AWS's Python SDK replays what durable_gen recorded.

Each case runs as its durable_gen workflow on the embedded engine (``TestRunner``); the
operations it recorded are then handed to the case's AWS SDK handler as the invocation input
a Lambda invocation carries, with a service client that records checkpoints. AWS's SDK
*accepts* the history when it ends the execution as it ended its own recording (the fixture):
same status, same result, the same exception class for a failure, and no new operation.

AWS's SDK reads results only in its typed envelope and rebuilds exceptions from its own
exception paths, so durable_gen records these histories with ``payload_format="aws"``
(``AWS_FORMAT_OPTIONS``); emptied, the cases that need that format are expected failures.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from durable_gen._failure import aws_error_type
from durable_gen._wire import ErrorObject
from durable_gen.testing import TestRunner

from . import _support as s
from .workflows import CALLEE, CASES, Case, callee

pytest.importorskip("aws_durable_execution_sdk_python")
pytest.importorskip("aws_durable_execution_sdk_python_testing")

from aws_durable_execution_sdk_python.execution import durable_execution
from aws_durable_execution_sdk_python_testing.invoker import (
    create_test_lambda_context,
)

from . import aws_corpus

#: ``TestRunner`` options under which durable_gen writes AWS's payload envelope and error
#: types (issue 16, items 1 and 3).
AWS_FORMAT_OPTIONS: dict[str, Any] = {"payload_format": "aws"}

#: AWS's SDK needs its typed envelope for a dict/list/batch result durable_gen recorded.
_NEEDS_ENVELOPE = {
    "step_shapes",
    "wait_for_callback_success",
    "wait_for_callback_unnamed",
    "wait_for_callback_in_child",
    "wait_for_callback_decorated",
    "wait_for_condition_dict_state",
    "child_context",
    "map_basic",
    "map_unnamed",
    "map_item_namer",
    "map_tolerated_failures",
    "map_first_failure",
    "map_min_successful",
    "map_failure_raised",
    "map_failure_percentage",
    "parallel_basic",
    "parallel_tolerated_failure",
    "parallel_named_branches",
    "parallel_min_successful",
    "nested_batches",
    "child_in_map",
    "invoke_in_parallel",
}
#: AWS's SDK rebuilds the exception a workflow catches from the context's recorded type.
_NEEDS_AWS_TYPES = {
    "wait_for_callback_timeout_caught",
    "wait_for_callback_failure",
    "wait_for_callback_submitter_fails",
}


#: Differ by design (``docs/migration.md``): durable_gen's ``WaitForCallback`` decodes the
#: callback's JSON and records the decoded value as the context's result, where AWS's SDK
#: passes the raw string through; AWS's SDK, replaying the completed context, returns the
#: decoded value where its own run returned the string.
_RAW_CALLBACK_RESULT = {
    "wait_for_callback_success",
    "wait_for_callback_unnamed",
    "wait_for_callback_in_child",
    "wait_for_callback_decorated",
}


def _needs(case: str) -> list[str]:
    reasons = []
    if case in _RAW_CALLBACK_RESULT and AWS_FORMAT_OPTIONS:
        reasons.append(
            "by design: durable_gen's WaitForCallback records the decoded callback result, "
            "AWS's SDK returns the raw string it received"
        )
    if case in _NEEDS_ENVELOPE and not AWS_FORMAT_OPTIONS:
        reasons.append("durable_gen writes plain JSON, AWS's SDK reads its typed envelope only")
    if case in _NEEDS_AWS_TYPES and not AWS_FORMAT_OPTIONS:
        reasons.append(
            "durable_gen records a failed wait-for-callback under its own error type, from "
            "which AWS's SDK rebuilds no callback exception"
        )
    reasons += s.missing(("default_names",) if case == "wait_for_condition_unnamed" else ())
    return reasons


def _param(case: str) -> object:
    reasons = _needs(case)
    marks = [pytest.mark.xfail(reason="; ".join(reasons), strict=True)] if reasons else []
    return pytest.param(case, id=case, marks=marks)


class _RecordingClient:
    """The boto3 ``lambda`` client AWS's SDK calls: records checkpoints, serves the state."""

    def __init__(self, operations: list[dict[str, Any]]) -> None:
        self.operations = operations
        self.updates: list[dict[str, Any]] = []

    def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.updates += kwargs.get("Updates", [])
        return {
            "CheckpointToken": f"token-{len(self.updates)}",
            "NewExecutionState": {"Operations": [], "NextMarker": ""},
        }

    def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
        return {"Operations": self.operations, "NextMarker": ""}


def record_with_durable_gen(case: Case) -> dict[str, Any]:
    """Run ``case`` on the embedded engine, answering its callbacks; its export."""
    runner = TestRunner(functions={CALLEE: callee}, **AWS_FORMAT_OPTIONS)
    run = runner.run(case.workflow, case.input)
    for answer in case.callbacks:
        started = [op for op in run.operations(type="CALLBACK") if op.status == "STARTED"]
        if answer.action == "none" or not started:
            runner.run_until_idle(include_callback_timeouts=True)
            continue
        callback_id = started[0].callback_id
        assert callback_id is not None
        if answer.action == "succeed":
            # the payload as AWS's recording received it, byte for byte
            runner.service.send_callback_success(callback_id, answer.payload)
        else:
            error = answer.error or {}
            runner.send_callback_failure(
                callback_id, error.get("ErrorType"), error.get("ErrorMessage")
            )
        runner.run_until_idle()
    assert run.done, f"the durable_gen run did not end: {run.waiting_on()}"
    return run.export()


def replay_with_aws(case_key: str, export: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    ops = export["Operations"]
    client = _RecordingClient(ops)
    handler = durable_execution(boto3_client=client)(aws_corpus.HANDLERS[case_key])
    event = {
        "DurableExecutionArn": export["DurableExecutionArn"],
        "CheckpointToken": "token-0",
        "InitialExecutionState": {"Operations": ops, "NextMarker": ""},
    }
    output: dict[str, Any] = handler(event, create_test_lambda_context())
    recorded = {op["Id"] for op in ops}
    new = [u for u in client.updates if u["Id"] not in recorded]
    return output, new


def _verdict(case_key: str) -> str | None:
    export = record_with_durable_gen(CASES[case_key])
    output, new = replay_with_aws(case_key, export)
    aws_own = s.fixture(case_key, "history")
    if new:
        return f"AWS's SDK started new operations: {[u.get('Name') for u in new]}"
    if output.get("Status") != aws_own["Status"]:
        ended = f"{output.get('Status')} ({output.get('Error')})"
        return f"AWS's SDK ended {ended}, not {aws_own['Status']}"
    if aws_own["Status"] == "SUCCEEDED":
        got = json.loads(output["Result"]) if output.get("Result") else None
        expected = json.loads(aws_own["Result"]) if aws_own.get("Result") else None
        if got != expected:
            return f"AWS's SDK returned {got!r}; on its own recording {expected!r}"
    elif aws_own["Status"] == "FAILED":
        got_type = (output.get("Error") or {}).get("ErrorType")
        expected_type = (aws_own.get("Error") or {}).get("ErrorType")
        if got_type != expected_type:
            return f"AWS's SDK failed with {got_type}; on its own recording {expected_type}"
    return None


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_aws_sdk_accepts_the_history_durable_gen_recorded(case: str) -> None:
    problem = _verdict(case)
    s.COUNTS["accepted by AWS's SDK"].update(total=1, clean=problem is None)
    assert problem is None, problem


def test_aws_types_name_what_aws_sdk_rebuilds() -> None:
    """The error types the wiring would record are the ones AWS's recordings hold."""
    recorded = {
        (e["EventType"], e["ContextFailedDetails"]["Error"]["Payload"]["ErrorType"])
        for case in _NEEDS_AWS_TYPES
        for e in s.fixture(case, "history")["Events"]
        if e["EventType"] == "ContextFailed"
    }
    assert {t for _, t in recorded} == {
        aws_error_type(ErrorObject(error_type="CallbackTimeoutError")),
        aws_error_type(ErrorObject(error_type="CallbackFailedError")),
        aws_error_type(ErrorObject(error_type="StepFailedError")),
    }


def _error_types(operations: list[dict[str, Any]]) -> dict[str, str | None]:
    """ErrorType by operation id, of every failed or timed-out operation (the EXECUTION left
    out: AWS's final state was read before its outcome was recorded)."""
    out: dict[str, str | None] = {}
    for op in operations:
        if op["Status"] not in ("FAILED", "TIMED_OUT") or op["Type"] == "EXECUTION":
            continue
        details = next((v for k, v in op.items() if k.endswith("Details") and v), None) or {}
        out[op["Id"]] = (details.get("Error") or {}).get("ErrorType")
    return out


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if _error_types(s.fixture(c, "state")["Operations"])],
)
def test_aws_format_records_the_error_types_aws_recorded(case: str) -> None:
    """Operation by operation, and for the execution, the error types durable_gen records in
    AWS's format are those AWS's SDK recorded for the same workflow."""
    export = record_with_durable_gen(CASES[case])
    assert _error_types(export["Operations"]) == _error_types(
        s.fixture(case, "state")["Operations"]
    )
    aws_own = s.fixture(case, "history")
    if aws_own["Status"] == "FAILED":
        failed = [e for e in export["Events"] if e["EventType"] == "ExecutionFailed"]
        assert failed, "durable_gen's execution did not fail"
        ours = failed[-1]["ExecutionFailedDetails"]["Error"]["Payload"]["ErrorType"]
        assert ours == aws_own["Error"]["ErrorType"]
