"""Differential runs: each pair of ``differential_round10.py`` runs under AWS's SDK (through
its in-process ``DurableFunctionTestRunner``) and under durable_gen (``TestRunner``, in both
payload formats), and the two executions are compared: outcome, result, error type and
message, and every operation (type, subtype, name, status, parent, attempt, result and
error). AWS's published history matcher (from the conformance wheel) then judges
durable_gen's history against AWS's, taken as the expected one.

A difference that is a documented choice (docs/conformance.md, "Differences from AWS's
SDK") is listed in ``DOCUMENTED``, with what each side records; anything else fails.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("aws_durable_execution_sdk_python")
pytest.importorskip("aws_durable_execution_sdk_python_testing")

import msgspec
from aws_durable_execution_sdk_python.execution import durable_execution
from aws_durable_execution_sdk_python.lambda_service import ErrorObject
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

import durable_gen as dg
from durable_gen._codec import decode
from durable_gen.testing import TestRunner, operations_from_events, replay

from . import differential_round10 as d
from .runner import _Described, published_checkers

ENDED = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionStopped"}


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    logging.disable(logging.WARNING)  # failed attempts, logged by both SDKs
    d.ATTEMPTS.clear()
    yield
    logging.disable(logging.NOTSET)


def _close_scheduler_loop(runner: DurableFunctionTestRunner) -> None:
    """AWS's runner stops its scheduler's event loop but never closes it (a ResourceWarning)."""
    loop = runner._scheduler._loop
    deadline = time.monotonic() + 5
    while loop.is_running() and time.monotonic() < deadline:
        time.sleep(0.005)
    if not loop.is_running():
        loop.close()


def _jsonable(events: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = json.loads(json.dumps(events, default=str))
    return out


def run_aws(p: d.Pair, targets: dict[str, tuple[Any, Any]] | None = None) -> list[dict[str, Any]]:
    """AWS's SDK runs the pair's AWS side; its history events (with execution data).
    ``targets``: the invoke targets by name (those of ``differential_round10.py`` by default)."""
    targets = d.TARGETS if targets is None else targets
    runner = DurableFunctionTestRunner(handler=durable_execution(p.aws), poll_interval=0.01)
    try:
        for name in p.targets:
            runner.register_durable_function(name, durable_execution(targets[name][0]))
        arn = runner.run_async(input=json.dumps(p.input), execution_timeout=60)
        answers = list(p.answers)
        answered: set[str] = set()
        deadline = time.monotonic() + 60
        while True:
            events = runner.get_execution_history(arn, include_execution_data=True).to_dict()
            events = events["Events"]
            if any(e["EventType"] in ENDED for e in events):
                return _jsonable(events)
            assert time.monotonic() < deadline, [e["EventType"] for e in events]
            for e in events:
                if e["EventType"] != "CallbackStarted" or e["Id"] in answered or not answers:
                    continue
                answered.add(e["Id"])
                cid = e["CallbackStartedDetails"]["CallbackId"]
                answer = answers.pop(0)
                if answer[0] == "none":  # left to time out
                    continue
                if answer[0] == "succeed":
                    text = answer[1]
                    runner.send_callback_success(cid, None if text is None else text.encode())
                else:
                    _, etype, message, data = answer
                    no_error = etype is None and message is None and data is None
                    error = None if no_error else ErrorObject(message, etype, data, None)
                    runner.send_callback_failure(cid, error)
            time.sleep(0.01)
    finally:
        runner.close()
        _close_scheduler_loop(runner)


def run_ours(
    p: d.Pair, payload_format: str, targets: dict[str, tuple[Any, Any]] | None = None
) -> list[dict[str, Any]]:
    """durable_gen runs the pair's own side; its history events."""
    return _jsonable(export_ours(p, payload_format, targets)["Events"])


def export_ours(
    p: d.Pair, payload_format: str, targets: dict[str, tuple[Any, Any]] | None = None
) -> dict[str, Any]:
    """durable_gen runs the pair's own side; its ``DurableRun.export()``."""
    targets = d.TARGETS if targets is None else targets
    functions = {name: targets[name][1] for name in p.targets}
    runner = TestRunner(functions=functions, payload_format=payload_format)  # type: ignore[arg-type]
    run = runner.run(p.ours, p.input)
    answers = list(p.answers)
    answered: set[str] = set()
    while run.status == "RUNNING" and answers:
        open_ = [
            op for op in run.operations(type="CALLBACK")
            if op.status == "STARTED" and op.callback_id not in answered
        ]  # fmt: skip
        if not open_:
            break
        cid = open_[0].callback_id
        assert cid is not None
        answered.add(cid)
        answer = answers.pop(0)
        if answer[0] == "none":  # left to time out
            runner.run_until_idle(include_callback_timeouts=True)
            continue
        if answer[0] == "succeed":
            runner.send_callback_success(cid, payload=answer[1])
        else:
            _, etype, message, data = answer
            runner.send_callback_failure(cid, etype, message, data)
        runner.run_until_idle()
    export: dict[str, Any] = run.export()
    return export


# --- what is compared -------------------------------------------------------------------------


def _without_our_keys(value: Any) -> Any:
    """An AWS-format payload without the keys durable_gen adds to a batch result, which AWS's
    SDK ignores (an item's ``name``, the never-started items under ``notStarted``)."""
    if isinstance(value, dict):
        if value.get("t") == "br" and isinstance(value.get("v"), dict):
            v = {k: x for k, x in value["v"].items() if k != "notStarted"}
            items = v.get("all", {}).get("v", [])
            v["all"] = {**v["all"], "v": [_drop_name(i) for i in items]} if "all" in v else v
            return {"t": "br", "v": v}
        return {k: _without_our_keys(x) for k, x in value.items()}
    if isinstance(value, list):
        return [_without_our_keys(x) for x in value]
    return value


def _drop_name(item: Any) -> Any:
    """A batch item without its ``name``, and its error without the stack trace (AWS's SDK
    keeps none in a batch result)."""
    if isinstance(item, dict) and isinstance(item.get("v"), dict):
        v = {k: x for k, x in item["v"].items() if k != "name"}
        error = v.get("error")
        if isinstance(error, dict) and isinstance(error.get("v"), dict):
            v["error"] = {**error, "v": {k: x for k, x in error["v"].items() if k != "StackTrace"}}
        return {**item, "v": v}
    return item


def _unnamed_items(value: Any) -> Any:
    """A batch result's JSON without its items' names (AWS's SDK records none)."""
    if isinstance(value, dict):
        if "items" in value and "completionReason" in value and isinstance(value["items"], list):
            value = {**value, "items": [_drop_key(i, "name") for i in value["items"]]}
        return {k: _unnamed_items(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unnamed_items(v) for v in value]
    return value


def _drop_key(item: Any, key: str) -> Any:
    return {k: v for k, v in item.items() if k != key} if isinstance(item, dict) else item


def _payload(text: str | None, payload_format: str) -> Any:
    """A recorded payload, compared as its JSON value (spacing and escapes do not count);
    in the ``"json"`` format, whose payloads are not AWS's envelope, as the value it holds."""
    if text is None:
        return "<none>"
    try:
        value = json.loads(text)
    except ValueError:
        return f"<text {text!r}>"
    if payload_format == "json":  # as JSON values: tuples as lists, no item names
        return _unnamed_items(json.loads(msgspec.json.encode(decode(text))))
    return _without_our_keys(value)


def _error(error: Any, payload_format: str) -> Any:
    if error is None:
        return None
    out = {"message": error.error_message, "data": error.error_data}
    if payload_format == "aws":  # "json" records the failure's own type (docs/lambda.md)
        out["type"] = error.error_type
    return out


def summary(events: list[dict[str, Any]], payload_format: str) -> dict[str, Any]:
    """The execution's outcome and its operations, keyed by id, as comparable values."""
    out: dict[str, Any] = {"status": None, "result": None, "error": None, "ops": {}}
    for e in events:
        kind = e["EventType"]
        if kind == "ExecutionSucceeded":
            out["status"] = "SUCCEEDED"
            text = (e["ExecutionSucceededDetails"].get("Result") or {}).get("Payload")
            out["result"] = "<none>" if text is None else json.loads(text)
        elif kind == "ExecutionFailed":
            out["status"] = "FAILED"
            err = e["ExecutionFailedDetails"]["Error"]["Payload"]
            keys = ("ErrorType", "ErrorMessage", "ErrorData")
            out["error"] = {
                k: err.get(k) for k in keys if k != "ErrorType" or payload_format == "aws"
            }
    for op in operations_from_events(events):
        if op.type == "EXECUTION":
            continue
        details = op.step_details or op.context_details or op.callback_details
        details = details or op.chained_invoke_details
        result = getattr(details, "result", None)
        batch = op.sub_type in ("Map", "Parallel")
        row = {
            "type": op.type,
            "sub_type": op.sub_type,
            "name": op.name,
            "status": op.status,
            "parent": op.parent_id,
            "error": _error(getattr(details, "error", None), payload_format),
        }
        if not (batch and payload_format == "json"):  # our BatchResult's own JSON there
            row["result"] = _payload(result, payload_format)
        if op.step_details is not None:
            row["attempt"] = op.step_details.attempt
        if op.context_details is not None:
            row["replay_children"] = op.context_details.replay_children
        out["ops"][op.id] = row
    return out


def differences(theirs: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    diffs = [
        f"{key}: AWS {theirs[key]!r}, durable_gen {ours[key]!r}"
        for key in ("status", "result", "error")
        if theirs[key] != ours[key]
    ]
    for op_id in sorted(set(theirs["ops"]) | set(ours["ops"])):
        a, o = theirs["ops"].get(op_id), ours["ops"].get(op_id)
        if a is None or o is None:
            diffs.append(f"op {op_id[:8]}: AWS {a!r}, durable_gen {o!r}")
            continue
        for key in sorted(set(a) | set(o)):
            if a.get(key) != o.get(key):
                diffs.append(
                    f"op {a['name']!r} {key}: AWS {a.get(key)!r}, durable_gen {o.get(key)!r}"
                )
    return diffs


# --- AWS's published matcher, AWS's history as the expectation ---------------------------------

_VARYING = re.compile(r"Timestamp$|Arn$|^CallbackId$|^RequestId$|^StackTrace$|Truncated$")


def _decoded(value: Any) -> Any:
    """Events with each JSON payload decoded: the SDKs space and escape JSON differently."""
    if isinstance(value, dict):
        out = {k: _decoded(v) for k, v in value.items()}
        if isinstance(out.get("Payload"), str):
            with contextlib.suppress(ValueError):  # text that is not JSON stays as it is
                out["Payload"] = json.loads(out["Payload"])
        return out
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def _expected(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """AWS's events, without invocation boundaries and renumbered in a canonical order, with
    what differs from run to run (times, ARNs, callback ids, stack traces) left open."""

    def loosen(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ("*" if _VARYING.search(k) else loosen(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [loosen(v) for v in value]
        return value

    out = [loosen(e) for e in _canonical(events)]
    for e in out:
        if e["EventType"].startswith("Execution"):
            e["Id"] = e["Name"] = "*"  # the runners name executions their own way
        started = e.get("ExecutionStartedDetails")
        if started is not None:  # AWS's runner always sets one; TestRunner only when given
            started.pop("ExecutionTimeout", None)
    return out


def _canonical(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Operation events only, ordered by operation id then event order, renumbered: the two
    SDKs may interleave concurrent operations and end invocations at other points."""
    kept = [e for e in events if e["EventType"] != "InvocationCompleted"]
    kept.sort(
        key=lambda e: ("" if e["EventType"].startswith("Execution") else e["Id"], e["EventId"])
    )
    out = [_decoded({**e, "EventId": n}) for n, e in enumerate(kept, 1)]
    for e in out:
        retry = (e.get("StepFailedDetails") or {}).get("RetryDetails") or {}
        if retry.get("NextAttemptDelaySeconds") == 0:
            # AWS's runner writes a delay of 0 on a step's last failure, where the
            # requirements (1-12) list none, as durable_gen records it
            del retry["NextAttemptDelaySeconds"]
    return [_without_our_keys(e) for e in out]


def published_mismatches(theirs: list[dict[str, Any]], ours: list[dict[str, Any]]) -> list[str]:
    history, validate, placeholders = published_checkers()
    matcher = history.EventHistoryMatcher(context=placeholders.PlaceholderContext())
    expected, actual = _expected(theirs), _canonical(ours)
    errors: list[str] = list(matcher.match(expected, actual).errors)
    if len(expected) != len(actual):
        errors.append(f"AWS recorded {len(expected)} events, durable_gen {len(actual)}")
    # AWS's result validator, given what GetDurableExecution would answer for ours
    status, result = _outcome(theirs)
    expected_result: dict[str, Any] = {"ExecutionStatus": status}
    if status == "SUCCEEDED" and result is not None:
        expected_result["Result"] = json.loads(result)
    answer = _Described(*_outcome(ours))
    errors += validate._validate_execution_result("arn", expected_result, answer, None)
    return errors


def _outcome(events: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """The status and result text ``GetDurableExecution`` gives for these events."""
    for e in events:
        if e["EventType"] == "ExecutionSucceeded":
            return "SUCCEEDED", (e["ExecutionSucceededDetails"].get("Result") or {}).get("Payload")
        if e["EventType"] == "ExecutionFailed":
            return "FAILED", None
    return None, None


# --- the tests ---------------------------------------------------------------------------------

#: Differences that are documented choices (docs/conformance.md, "Differences from AWS's SDK"):
#: pair -> what differs (the part of each difference before its colon), in both formats
#: unless the key names one.
DOCUMENTED: dict[str, list[str]] = {
    # names are the service's 1 to 256 printable ASCII characters (docs/lambda.md)
    "step_unicode_payload_and_name": ["error", "op 1ced8f5b", "result", "status"],
    # raise_if_failed raises BatchFailedError, whose message sums the failures up
    "map_raise_if_failed": ["error"],
    # AWS's runner records no result for a callback answered with empty text
    "callback_empty_string": ["op 'approve' result"],
    "wait_for_callback_empty_string": ["op 'ask create callback id' result"],
    # TestRunner.send_callback_success with no result records JSON null (docs/testing.md)
    "callback_no_payload": ["op 'approve' result"],
    "wait_for_callback_no_payload": ["op 'ask create callback id' result"],
    # a callback result is decoded JSON, not the raw text (docs/migration.md)
    "callback_json_string": ["result"],
    # a failure sent with no error keeps no type or message; AWS's SDK supplies its own
    "callback_failed_no_error_data": ["error"],
    "callback_failed_type_only": ["error"],
    "callback_failed_no_error_caught": ["result"],
    "wait_for_callback_failed_no_error": ["error", "op 'ask' error"],
    # a wait of 0 s fails in both, each SDK with its own ValidationError
    "wait_zero_seconds": ["error"],
    # an empty name is a ValidationError; AWS's SDK takes it for no name
    "steps_unnamed_and_empty_name": ["error", "op c5faca15", "result", "status"],
    # the summary of a batch result over 256 KiB also holds its itemCount
    "map_results_over_256k/aws": ["op 'bigitems' result"],
    # the engine writes its own timeout message; the workflow reads the type recorded on the
    # callback, Callback.Timeout (docs/migration.md)
    "callback_times_out_caught": ["op 'late' error", "result"],
    # "json" records the failure's own type where AWS's SDK records its exception's
    "condition_check_raises_in_map_item/json": ["result"],
    "parallel_branch_body_raises/json": ["result"],
    "map_item_child_raises_non_str_arg/json": ["result"],
    # a wait-for-callback's result is decoded JSON, not the raw text (docs/migration.md)
    "wait_for_callback_in_map_items/json": [
        "op 'ask0' result",
        "op 'ask1' result",
        "op 'map-item-0' result",
        "op 'map-item-1' result",
        "result",
    ],
    "wait_for_callback_in_map_items/aws": [
        "op 'ask0' result",
        "op 'ask1' result",
        "op 'asks' result",
        "op 'map-item-0' result",
        "op 'map-item-1' result",
        "result",
    ],
}


def documented(name: str, payload_format: str) -> list[str]:
    return DOCUMENTED.get(f"{name}/{payload_format}", DOCUMENTED.get(name, []))


@pytest.fixture(scope="module")
def aws_histories() -> dict[str, list[dict[str, Any]]]:
    return {}


def _aws(name: str, cache: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    if name not in cache:
        d.ATTEMPTS.clear()
        cache[name] = run_aws(d.PAIRS[name])
        d.ATTEMPTS.clear()
    return cache[name]


@pytest.mark.parametrize("payload_format", ["json", "aws"])
@pytest.mark.parametrize("name", list(d.PAIRS))
def test_both_sdks_do_the_same(
    name: str, payload_format: str, aws_histories: dict[str, list[dict[str, Any]]]
) -> None:
    theirs = _aws(name, aws_histories)
    ours = run_ours(d.PAIRS[name], payload_format)
    diffs = differences(summary(theirs, payload_format), summary(ours, payload_format))
    kinds = sorted({diff.split(":", 1)[0] for diff in diffs})
    assert kinds == documented(name, payload_format), "\n".join(diffs)
    if not diffs and payload_format == "aws":
        assert published_mismatches(theirs, ours) == []


# --- a wait-for-condition whose check raised, in AWS's format -----------------------------------

_AWS_STEP_ERROR = "aws_durable_execution_sdk_python.exceptions.StepError"
_AWS_CONDITION_ERROR = "aws_durable_execution_sdk_python.exceptions.WaitForConditionError"


def _escaped_types(events: list[dict[str, Any]]) -> list[str]:
    return [
        e[f"{e['EventType']}Details"]["Error"]["Payload"]["ErrorType"]
        for e in events
        if e["EventType"] in ("ExecutionFailed", "ContextFailed")
    ]


@pytest.mark.parametrize("workflow", [d.o_cond_raises, d.o_cond_raises_child])
def test_a_raising_check_escapes_as_aws_records_it_and_old_records_still_replay(
    workflow: Any,
) -> None:
    """A check that raised escapes a child and the workflow as AWS's ``WaitForConditionError``
    (the step keeps the check's own type), and a history recorded before, which named it
    ``StepError`` there, still replays as failed as recorded."""
    run = TestRunner(payload_format="aws").run(workflow, None)
    assert run.status == "FAILED"
    export = run.export()
    expected = (
        [_AWS_CONDITION_ERROR]
        if workflow is d.o_cond_raises
        else [_AWS_CONDITION_ERROR, "aws_durable_execution_sdk_python.exceptions.ChildContextError"]
    )
    assert _escaped_types(export["Events"]) == expected
    step = run.operation("poll")
    assert (
        step.error is not None and step.error.error_type == d.OutOfStock.__module__ + ".OutOfStock"
    )
    assert replay(workflow, export).status == "ok"
    old = json.loads(json.dumps(export).replace(_AWS_CONDITION_ERROR, _AWS_STEP_ERROR))
    assert _AWS_CONDITION_ERROR not in json.dumps(old)
    report = replay(workflow, {"Events": old["Events"]})
    assert report.status == "ok", report.message
    assert report.outcome == "failed"


# --- each SDK replays the other's record ---------------------------------------------------------

#: Pairs whose durable_gen side fails where AWS's went on: a replay of AWS's record fails too.
_REFUSED = {"step_unicode_payload_and_name", "steps_unnamed_and_empty_name", "wait_zero_seconds"}


@pytest.mark.parametrize("name", list(d.PAIRS))
def test_durable_gen_replays_what_aws_recorded(
    name: str, aws_histories: dict[str, list[dict[str, Any]]]
) -> None:
    theirs = _aws(name, aws_histories)
    report = replay(d.PAIRS[name].ours, {"Events": theirs})
    if name in _REFUSED:
        assert report.status == "failed"
        return
    assert report.status == "ok", report.message
    status, result = _outcome(theirs)
    assert report.outcome == status.lower()  # type: ignore[union-attr]
    if status == "SUCCEEDED" and "result" not in documented(name, "aws"):
        assert report.result == (None if result is None else json.loads(result))


#: What AWS's SDK returns from the callback durable_gen recorded: the text itself, where
#: durable_gen's workflow reads None from both (``TestRunner.send_callback_success`` with no
#: result writes JSON ``null``; the empty text is None to durable_gen's codec).
_RAW_TEXT = {"callback_empty_string": "", "callback_no_payload": "null"}


class _Client:
    """The boto3 client AWS's SDK calls: serves the given operations, keeps the updates."""

    def __init__(self, operations: list[dict[str, Any]]) -> None:
        self.operations = operations
        self.updates: list[dict[str, Any]] = []

    def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.updates += kwargs.get("Updates", [])
        return {"CheckpointToken": f"t-{len(self.updates)}", "NewExecutionState": {}}

    def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
        return {"Operations": self.operations, "NextMarker": ""}


@pytest.mark.parametrize("name", [n for n in d.PAIRS if n not in _REFUSED])
def test_aws_sdk_replays_what_durable_gen_recorded(name: str) -> None:
    """AWS's SDK, handed what durable_gen recorded (``"aws"``) as a Lambda invocation's state,
    starts nothing new and ends as durable_gen's execution ended."""
    from aws_durable_execution_sdk_python_testing.invoker import create_test_lambda_context

    p = d.PAIRS[name]
    export = export_ours(p, "aws")
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
    if name in _RAW_TEXT:  # AWS's SDK hands the callback's recorded text to the workflow
        assert json.loads(output["Result"]) == _RAW_TEXT[name]
    elif status == "SUCCEEDED" and "result" not in documented(name, "aws"):
        assert json.loads(output.get("Result") or "null") == json.loads(result or "null")


# --- a callback failed with no error object ------------------------------------------------------


@pytest.mark.parametrize(
    ("payload_format", "recorded"),
    [
        ("json", "CallbackFailedError"),
        ("aws", "aws_durable_execution_sdk_python.exceptions.CallbackExternalError"),
    ],
)
def test_an_execution_failed_by_a_callback_failed_without_error_says_what_was_recorded(
    payload_format: str, recorded: str
) -> None:
    """The sender sent no error: the execution records the type alone, and its
    ``ExecutionFailedError`` says so, with no ``None`` standing for the missing message."""
    runner = TestRunner(payload_format=payload_format)  # type: ignore[arg-type]
    run = runner.run(d.o_cb, None)
    run.send_callback_failure("approve")
    runner.run_until_idle()
    with pytest.raises(dg.ExecutionFailedError) as info:
        run.result()
    assert info.value.error_type == recorded and info.value.error_message is None
    assert str(info.value) == f"execution failed: {recorded}"
    assert str(dg.ExecutionFailedError(None, None)) == (
        "execution failed: no error type or message recorded"
    )
