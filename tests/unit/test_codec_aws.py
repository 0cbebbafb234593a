"""AWS's typed payload envelope, both ways, with AWS's Python SDK's own serdes as the reference.

Encode with theirs, decode with ours: the same values AWS's SDK gives its user code (their
``BatchResult`` becomes ours). Encode with ours in the ``"aws"`` format, decode with theirs: the
value, and the JSON their SDK writes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen._codec import decode, encode
from durable_gen._wire import ErrorObject

serdes = pytest.importorskip("aws_durable_execution_sdk_python.serdes")
models = pytest.importorskip("aws_durable_execution_sdk_python.concurrency.models")
config = pytest.importorskip("aws_durable_execution_sdk_python.config")
lambda_service = pytest.importorskip("aws_durable_execution_sdk_python.lambda_service")

theirs = serdes.ExtendedTypeSerDes()

AT = datetime(2025, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -7,
    2**70,
    1.5,
    -0.0,
    "",
    "héllo",
    [],
    [1, "a", None, 2.5, [True]],
    {},
    {"user": {"name": "ana", "tags": ["a", "b"]}, "count": 2},
    [{"a": 1}],
    {"nested": [[{"x": None}]]},
    (1, "a"),
    ((1, 2), [3, (4,)]),
    b"\x00\x01\xff",
    AT,
    datetime(2025, 3, 1, 12, 30),
    datetime(2025, 3, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    date(2024, 2, 29),
    Decimal("10.50"),
    Decimal("-1E+5"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    {"t": "s", "v": "x"},
    {"when": AT, "amount": Decimal("1.1"), "id": uuid.UUID(int=9), "raw": b"z", "pair": (1, 2)},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_their_payloads_decode_to_what_their_sdk_gives(value: Any) -> None:
    payload = theirs.serialize(value)
    assert decode(payload) == theirs.deserialize(payload) == value
    assert type(decode(payload)) is type(value)


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_our_aws_payloads_are_the_json_theirs_write(value: Any) -> None:
    ours = encode(value, format="aws")
    reference = theirs.serialize(value)
    assert msgspec.json.decode(ours) == msgspec.json.decode(reference)
    if ours.isascii():  # they escape other characters; the JSON is the same
        assert ours == reference
    back = theirs.deserialize(ours)
    assert back == value and type(back) is type(value)


def test_types_aws_has_no_tag_for_are_written_as_their_json_form() -> None:
    class Receipt(msgspec.Struct):
        id: str
        at: datetime

    payload = encode({"r": Receipt("r-1", AT), "s": {3}}, format="aws")
    assert theirs.deserialize(payload) == {"r": {"id": "r-1", "at": AT}, "s": [3]}
    assert decode(payload, dict[str, Receipt | set[int]]) == {"r": Receipt("r-1", AT), "s": {3}}


def _their_batch() -> Any:
    item = models.BatchItem
    status = config.BatchItemStatus
    error = lambda_service.ErrorObject(
        message="card declined", type="PaymentError", data='{"code":7}', stack_trace=["line 1"]
    )
    return models.BatchResult(
        [
            item(0, status.SUCCEEDED, {"user": "ana", "at": AT}),
            item(1, status.FAILED, None, error),
            item(2, status.STARTED),
        ],
        models.CompletionReason.FAILURE_TOLERANCE_EXCEEDED,
    )


def test_their_batch_envelope_decodes_into_our_batch_result() -> None:
    payload = theirs.serialize(_their_batch())
    assert payload.startswith('{"t":"br","v":{"all":')
    result = decode(payload)
    assert isinstance(result, dg.BatchResult)
    assert result.completion_reason == "FAILURE_TOLERANCE_EXCEEDED"
    assert [i.status for i in result.items] == ["SUCCEEDED", "FAILED", "STARTED"]
    assert [i.index for i in result.items] == [0, 1, 2]
    assert result.results() == [{"user": "ana", "at": AT}]
    assert result.errors() == [
        ErrorObject(
            error_type="PaymentError",
            error_message="card declined",
            error_data='{"code":7}',
            stack_trace=["line 1"],
        )
    ]
    assert (result.success_count, result.failure_count, result.started_count) == (1, 1, 1)


def test_their_batch_envelope_decodes_into_a_typed_batch_result() -> None:
    class Row(msgspec.Struct):
        user: str
        at: datetime

    result = decode(theirs.serialize(_their_batch()), dg.BatchResult[Row])
    assert result.results() == [Row("ana", AT)]
    assert isinstance(result.items[1].error, ErrorObject)


def test_our_batch_result_in_aws_format_reads_in_their_sdk() -> None:
    ours = dg.BatchResult(
        items=[
            dg.BatchItem(index=0, status="SUCCEEDED", result={"n": 1}, name="first"),
            dg.BatchItem(
                index=1,
                status="FAILED",
                error=ErrorObject(error_type="ValueError", error_message="bad"),
            ),
            dg.BatchItem(index=2, status="STARTED"),
            dg.BatchItem(index=3, status="NOT_STARTED"),
        ],
        completion_reason="MIN_SUCCESSFUL_REACHED",
    )
    payload = encode(ours, format="aws")
    back = theirs.deserialize(payload)
    assert isinstance(back, models.BatchResult)
    assert back.completion_reason is models.CompletionReason.MIN_SUCCESSFUL_REACHED
    # AWS's SDK leaves never-started items out; so do we in its format
    assert [(i.index, i.status.value) for i in back.all] == [
        (0, "SUCCEEDED"),
        (1, "FAILED"),
        (2, "STARTED"),
    ]
    assert back.all[0].result == {"n": 1}
    assert (back.all[1].error.type, back.all[1].error.message) == ("ValueError", "bad")
    # and ours reads it back whole: the never-started item and the names ride in keys AWS's
    # SDK ignores ("notStarted", "name"), as the json format keeps everything
    assert decode(payload, dg.BatchResult[dict[str, int]]) == ours
    assert decode(encode(ours), dg.BatchResult[dict[str, int]]) == ours


def test_our_plain_payloads_fail_in_their_sdk_and_aws_format_fixes_it() -> None:
    value = {"user": "ana", "count": 2}
    with pytest.raises(Exception, match="Malformed envelope"):
        theirs.deserialize(encode(value))
    assert theirs.deserialize(encode(value, format="aws")) == value


def test_a_custom_completion_reason_is_a_serialization_error() -> None:
    batch = models.BatchResult([], models.CompletionReason.CUSTOM_COMPLETION_SUCCEEDED)
    with pytest.raises(dg.SerializationError, match=r"the result of Map 'm'.*completionReason"):
        decode(theirs.serialize(batch), dg.BatchResult[int], what="the result of Map 'm'")


def test_an_envelope_with_spaces_is_still_an_envelope() -> None:
    payload = '{ "t" : "m", "v" : { "at" : { "t" : "dt", "v" : "2025-03-01T12:30:05Z" } } }'
    assert decode(payload) == {"at": datetime(2025, 3, 1, 12, 30, 5, tzinfo=UTC)}
    assert decode("\n" + payload, dict[str, datetime]) == decode(payload)


NON_FINITE: list[Any] = [
    float("inf"),
    -float("inf"),
    {"ratio": float("nan"), "low": -float("inf")},
    [1.5, float("inf")],
    (float("nan"),),
]


def _same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN (and types match)."""
    if isinstance(a, float) and isinstance(b, float):
        return (a != a and b != b) or a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
def test_their_nan_and_infinities_read_as_the_floats_they_wrote(value: Any) -> None:
    """AWS's SDK writes float NaN and infinities as Python's json module does (``NaN``,
    ``Infinity``, ``-Infinity``, plain or inside an ``f`` envelope): read, not refused."""
    payload = theirs.serialize(value)
    assert "NaN" in payload or "Infinity" in payload
    assert _same(decode(payload), theirs.deserialize(payload))
    assert _same(decode(payload), value)


def test_their_nan_and_infinities_read_into_declared_types() -> None:
    assert decode("Infinity", float) == float("inf")
    ratios = decode(theirs.serialize({"a": float("-inf"), "b": 0.5}), dict[str, float])
    assert ratios == {"a": float("-inf"), "b": 0.5}
    nan = decode('{"x": NaN}', dict[str, float])["x"]
    assert nan != nan


@pytest.mark.parametrize("payload", ['[NaN, "\\ud800"]', "NaNa", '{"a": Infinity', "nan"])
def test_other_non_json_next_to_nan_is_still_refused(payload: str) -> None:
    with pytest.raises(dg.SerializationError):
        decode(payload)
    with pytest.raises(dg.SerializationError):
        decode(payload, list[float])


@pytest.mark.parametrize(
    ("payload", "declared"),
    [
        ("1e400", float),
        ("-1e400", float | None),
        ('{"x": 1.7976931348623159e308}', dict[str, float]),
        ("[1.5, 1E999, -2e308]", list[float]),
    ],
    ids=repr,
)
def test_numbers_beyond_the_range_of_a_float_read_as_python_reads_them(
    payload: str, declared: Any
) -> None:
    """JSON puts no bound on a number; Python's json module (so AWS's SDK, for the execution
    input, invoke and callback payloads) reads one beyond a float's range as an infinity. So do
    we, untyped and into a declared type, where msgspec alone refuses it."""
    import json

    expected = json.loads(payload)
    assert _same(decode(payload), expected)
    assert _same(decode(payload, declared), expected)


def test_a_number_beyond_the_range_of_a_float_in_their_envelope() -> None:
    assert decode('{"t": "f", "v": 1e400}') == float("inf")
    assert theirs.deserialize('{"t": "f", "v": 1e400}') == float("inf")


def test_a_number_beyond_the_range_of_an_int_type_is_still_refused() -> None:
    with pytest.raises(dg.SerializationError, match="declared type int"):
        decode("1e400", int)
