"""Differential runs of ``differential_round11.py``: each pair runs under AWS's SDK (its
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

from durable_gen.testing import replay

from . import differential_round11 as d
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
_MIN_OVER_COUNT = ["result", "status"]

DOCUMENTED: dict[str, list[str]] = {
    # a min_successful over the number of items is never reached and the batch runs every
    # item (docs/guide.md); AWS's SDK refuses it with its ValidationError before any item runs
    "map_min_successful_over_count": [
        "error", "op 1712f93e", "op 1ced8f5b", "op 48550629", "op 974bfc63", "op d0bd0541",
        *_MIN_OVER_COUNT,
    ],
    "map_min_successful_over_count_with_failures": [
        "error", "op 1712f93e", "op 1ced8f5b", "op 37cbbc01", "op 48550629", "op 974bfc63",
        "op 9d8bc609", "op d0bd0541", *_MIN_OVER_COUNT,
    ],
    "map_empty_with_min_successful": ["error", "op 1ced8f5b", *_MIN_OVER_COUNT],
    "parallel_min_successful_over_count": [
        "error", "op 1712f93e", "op 1ced8f5b", "op 48550629", "op 974bfc63", "op d0bd0541",
        *_MIN_OVER_COUNT,
    ],
    # names are the service's 1 to 256 printable ASCII characters (docs/lambda.md)
    "map_with_unicode_name": [
        "error", "op 1712f93e", "op 1ced8f5b", "op 48550629", "result", "status",
    ],
    # a callback failed with an empty message keeps the type and the empty message sent;
    # AWS's SDK takes it for no error and supplies its own CallbackExternalError
    "callback_failed_empty_message": ["error"],
    "callback_failed_empty_message_caught": ["result"],
    # a callback's result is decoded JSON, not the raw text (docs/migration.md)
    "callback_json_object": ["result"],
    "callback_json_number": ["result"],
    "callback_json_null_text": ["result"],
    "two_callbacks_awaited_in_reverse": ["result"],
    "callbacks_in_serial_map_items/json": [
        "op 'map-item-0' result", "op 'map-item-1' result", "result",
    ],
    "callbacks_in_serial_map_items/aws": [
        "op 'asks' result", "op 'map-item-0' result", "op 'map-item-1' result", "result",
    ],
}  # fmt: skip


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
_REFUSED = {"map_with_unicode_name"}

#: Pairs whose AWS side fails before it starts what durable_gen runs (a min_successful over the
#: item count): durable_gen's replay of AWS's record stops where it ends, and AWS's SDK fails
#: on durable_gen's record.
_AWS_REFUSED = {
    "map_min_successful_over_count",
    "map_min_successful_over_count_with_failures",
    "map_empty_with_min_successful",
    "parallel_min_successful_over_count",
}


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
