"""A string holding a lone surrogate, which AWS's Python SDK records as a ``\\udXXX`` escape
(Python's ``json`` writes one), is refused by durable_gen's codec with a message that names the
escape and says what to do, instead of calling the payload malformed JSON."""

from __future__ import annotations

from typing import Any

import pytest

import durable_gen as dg
from durable_gen._ids import operation_id
from durable_gen.testing import replay

aws_serdes = pytest.importorskip("aws_durable_execution_sdk_python.serdes")


def _port(_: Any) -> dg.Workflow[Any]:
    try:
        return (yield from dg.Step(lambda: "", name="name"))
    except dg.SerializationError as exc:
        return str(exc)


@pytest.mark.parametrize(
    ("value", "escape"),
    [("file-\udc80.txt", "\\udc80"), ({"k": ["a\ud83d"]}, "\\ud83d"), ({"\ud800": 1}, "\\ud800")],
)
def test_an_aws_recorded_lone_surrogate_is_named(value: Any, escape: str) -> None:
    recorded = aws_serdes.ExtendedTypeSerDes().serialize(value)
    ops = [
        {"Id": "e", "Type": "EXECUTION", "Status": "STARTED", "ExecutionDetails": {}},
        {
            "Id": operation_id(None, 1),
            "Type": "STEP",
            "SubType": "Step",
            "Name": "name",
            "Status": "SUCCEEDED",
            "StepDetails": {"Attempt": 1, "Result": recorded},
        },
    ]
    report = replay(_port, {"Operations": ops})
    assert report.status == "ok", report
    message = report.result
    assert f"escape {escape!r}" in message, message
    assert "half of a surrogate pair" in message and "clean the text" in message, message


def test_a_surrogate_pair_is_read_as_the_character_it_encodes() -> None:
    recorded = aws_serdes.ExtendedTypeSerDes().serialize({"smile": "\U0001f600"})
    assert "\\ud83d\\ude00" in recorded
    ops = [
        {"Id": "e", "Type": "EXECUTION", "Status": "STARTED", "ExecutionDetails": {}},
        {
            "Id": operation_id(None, 1),
            "Type": "STEP",
            "SubType": "Step",
            "Name": "name",
            "Status": "SUCCEEDED",
            "StepDetails": {"Attempt": 1, "Result": recorded},
        },
    ]
    report = replay(_port, {"Operations": ops})
    assert (report.status, report.result) == ("ok", {"smile": "\U0001f600"}), report
