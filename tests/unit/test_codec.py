"""The payload codec: typed decoding, both payload formats, and errors that name the payload."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Generator, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, NamedTuple, TypedDict, TypeVar

import msgspec
import pytest

import durable_gen as dg
from durable_gen._codec import TAGS, decode, encode, input_type, is_envelope, result_type
from durable_gen._serdes import JsonSerdes, dumps, loads


@dataclasses.dataclass(frozen=True)
class Receipt:
    id: str
    amount: Decimal
    at: datetime


class Order(msgspec.Struct, frozen=True):
    id: str
    items: tuple[str, ...]
    tags: frozenset[str] = frozenset()


class Address(TypedDict):
    street: str
    zip: int


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Size(enum.IntEnum):
    S = 1
    L = 3


class Point(NamedTuple):
    x: int
    y: int


AT = datetime(2025, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)

TYPED_CASES: list[tuple[Any, Any]] = [
    (Receipt("r-1", Decimal("10.50"), AT), Receipt),
    (Order("o-1", ("a", "b"), frozenset({"x"})), Order),
    ({"street": "Main", "zip": 12345}, Address),
    (AT, datetime),
    (datetime(2025, 3, 1, 8, tzinfo=timezone(timedelta(hours=-5))), datetime),
    (datetime(2025, 3, 1, 8, 0, 1), datetime),  # naive stays naive
    (date(2025, 3, 1), date),
    (Decimal("0.1"), Decimal),
    (Decimal("1E+3"), Decimal),
    (uuid.UUID(int=7), uuid.UUID),
    (Color.BLUE, Color),
    (Size.L, Size),
    ({1, 2, 3}, set[int]),
    (frozenset({"a"}), frozenset[str]),
    ((1, "a", None), tuple[int, str, None]),
    (Point(1, 2), Point),
    (b"\x00\xff", bytes),
    ([Receipt("r-2", Decimal(1), AT)], list[Receipt]),
    ({"a": Color.RED}, dict[str, Color]),
    ({3: "x"}, dict[int, str]),
    (None, Receipt | None),
    (Receipt("r-3", Decimal(2), AT), Receipt | None),
    (dg.BatchResult(items=[], completion_reason="ALL_COMPLETED"), dg.BatchResult[int]),
]


@pytest.mark.parametrize(("value", "type_"), TYPED_CASES)
@pytest.mark.parametrize("fmt", ["json", "aws"])
def test_values_come_back_as_they_went_in_with_a_declared_type(
    value: Any, type_: Any, fmt: Any
) -> None:
    payload = encode(value, what="the result of step 'x'", format=fmt)
    back = decode(payload, type_)
    assert back == value
    assert type(back) is type(value)


def test_without_a_declared_type_values_come_back_as_json() -> None:
    value = {
        "at": AT,
        "amount": Decimal("1.50"),
        "id": uuid.UUID(int=1),
        "tags": {"x"},
        "pair": (1, 2),
        "color": Color.RED,
        "receipt": Receipt("r", Decimal(1), AT),
        "blob": b"ab",
    }
    assert decode(encode(value)) == {
        "at": "2025-03-01T12:30:05.123456Z",
        "amount": "1.50",
        "id": "00000000-0000-0000-0000-000000000001",
        "tags": ["x"],
        "pair": [1, 2],
        "color": "red",
        "receipt": {"id": "r", "amount": "1", "at": "2025-03-01T12:30:05.123456Z"},
        "blob": "YWI=",
    }


def test_plain_json_payloads_decode_as_before() -> None:
    for payload, value in [
        ('{"a":[1,2.5,"x",null,true]}', {"a": [1, 2.5, "x", None, True]}),
        ("[1,2]", [1, 2]),
        ('"s"', "s"),
        ("3", 3),
        ("null", None),
        ('{"t":"x","v":1}', {"t": "x", "v": 1}),  # not a tag
        ('{"t":"s","v":1}', {"t": "s", "v": 1}),  # not a string under "s"
        ('{"t":"s","v":"x","w":0}', {"t": "s", "v": "x", "w": 0}),  # a third key
        ('{"t":"m","v":{"a":1}}', {"t": "m", "v": {"a": 1}}),  # inner value not an envelope
        ('{"t":"dt","v":"yesterday"}', {"t": "dt", "v": "yesterday"}),  # not a time
    ]:
        assert decode(payload) == value, payload
    assert decode(None) is None
    assert decode("") is None
    assert decode(None, Receipt) is None


def test_a_value_shaped_like_an_envelope_is_written_so_it_reads_back() -> None:
    for value in [
        {"t": "s", "v": "x"},
        {"v": None, "t": "n"},
        {"t": "l", "v": []},
        {"t": "m", "v": {"a": {"t": "i", "v": 1}}},
    ]:
        payload = encode(value)
        assert decode(payload) == value, payload
        assert decode(payload, dict[str, Any]) == value
    # the escape is AWS's own envelope, so AWS's SDK reads it back the same
    assert (
        encode({"t": "s", "v": "x"})
        == '{"t":"m","v":{"t":{"t":"s","v":"s"},"v":{"t":"s","v":"x"}}}'
    )

    class TV(msgspec.Struct):
        t: str
        v: int

    assert decode(encode(TV("i", 3)), TV) == TV("i", 3)


def test_is_envelope() -> None:
    assert is_envelope({"t": "i", "v": 1})
    assert is_envelope({"t": "f", "v": 1})
    assert is_envelope({"t": "br", "v": {"all": {"t": "l", "v": []}}})
    assert not is_envelope({"t": "i", "v": True})
    assert not is_envelope({"t": "u", "v": "not-a-uuid"})
    assert not is_envelope({"t": "B", "v": "***"})
    assert not is_envelope({"t": "l", "v": [1]})
    assert not is_envelope([{"t": "i", "v": 1}])
    assert set(TAGS) == {"n", "s", "i", "f", "b", "B", "u", "d", "dt", "D", "t", "l", "m", "br"}


class Opaque:
    pass


def test_an_unsupported_type_names_the_payload_and_the_type() -> None:
    with pytest.raises(dg.SerializationError, match=r"the result of step 'pay'.*Opaque"):
        encode(Opaque(), what="the result of step 'pay'")
    with pytest.raises(dg.SerializationError, match=r"the result of step 'pay'.*Opaque"):
        encode({"nested": [Opaque()]}, what="the result of step 'pay'", format="aws")
    with pytest.raises(dg.SerializationError, match=r"dict key"):
        encode({(1, 2): "x"}, what="v", format="aws")
    with pytest.raises(dg.SerializationError, match="payload format"):
        encode(1, format="xml")  # type: ignore[arg-type]


def test_a_payload_that_does_not_fit_the_type_names_both() -> None:
    with pytest.raises(dg.SerializationError, match=r"step 'pay'.*Receipt.*amount"):
        decode('{"id":"r","amount":"lots","at":"2025-01-01T00:00:00Z"}', Receipt, what="step 'pay'")
    with pytest.raises(dg.SerializationError, match=r"int"):
        decode('"x"', int)
    with pytest.raises(dg.SerializationError, match=r"int"):
        decode('{"t":"s","v":"x"}', int)
    with pytest.raises(dg.SerializationError, match="not valid JSON"):
        decode("[1,", list[int])
    with pytest.raises(dg.SerializationError, match="not valid JSON"):
        decode("{nope")


def test_the_payload_limit_still_holds() -> None:
    with pytest.raises(dg.PayloadTooLargeError, match="the workflow result"):
        encode("x" * (6 * 1024 * 1024 + 1), what="the workflow result")
    with pytest.raises(dg.PayloadTooLargeError):
        encode(["x" * (6 * 1024 * 1024 + 1)], format="aws")


def test_serdes_helpers_use_the_codec() -> None:
    assert loads(dumps(AT, what="t"), type_=datetime) == AT
    assert loads(dumps({"a": (1, 2)}, format="aws")) == {"a": (1, 2)}
    assert JsonSerdes().deserialize('{"t":"d","v":"1.5"}') == Decimal("1.5")
    assert JsonSerdes().serialize({"t": "s", "v": "x"}).startswith('{"t":"m"')


# --- pydantic -------------------------------------------------------------------------------


def test_pydantic_models_round_trip() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Customer(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        name: str
        since: datetime
        balance: Decimal

    value = Customer(name="ana", since=AT, balance=Decimal("3.10"))
    for fmt in ("json", "aws"):
        payload = encode(value, format=fmt)  # type: ignore[arg-type]
        assert decode(payload, Customer) == value
        assert decode(encode([value], format=fmt), list[Customer]) == [value]  # type: ignore[arg-type]
    with pytest.raises(dg.SerializationError, match="Customer"):
        decode('{"name":"ana"}', Customer, what="the input")


# --- declared types -------------------------------------------------------------------------

T = TypeVar("T")


@dg.step
def charge(order_id: str, amount: int) -> Receipt:
    raise AssertionError


@dg.step
async def fetch(url: str) -> bytes:
    raise AssertionError


def place(order: Order) -> dg.Workflow[list[Receipt]]:
    yield charge("a", 1)
    return []


def old_style(order):  # type: ignore[no-untyped-def]
    yield charge("a", 1)


def iterating(x: int) -> Iterator[Any]:
    yield charge("a", 1)


def generic(x: T) -> T:
    return x


def generator_of(x: int) -> Generator[Any, Any, dict[str, int]]:
    yield charge("a", 1)
    return {}


def test_declared_types_are_read_from_annotations() -> None:
    assert result_type(charge) == Receipt
    assert result_type(charge.fn) == Receipt
    assert result_type(fetch) is bytes
    assert result_type(place) == list[Receipt]
    assert input_type(place) is Order
    assert input_type(charge) is str
    assert result_type(generator_of) == dict[str, int]
    assert result_type(old_style) is Any and input_type(old_style) is Any
    assert result_type(iterating) is Any
    assert result_type(generic) is Any and input_type(generic) is Any
    assert result_type(lambda x: x) is Any
    assert result_type(len) is Any


def test_an_annotation_that_cannot_be_resolved_counts_as_any() -> None:
    def local() -> LocalOnly:  # type: ignore[name-defined]  # noqa: F821
        raise AssertionError

    assert result_type(local) is Any


def test_batch_results_decode_with_one_type_or_one_type_per_item() -> None:
    from durable_gen._codec import decode_batch

    batch = dg.BatchResult(
        items=[
            dg.BatchItem(index=0, status="SUCCEEDED", result=AT),
            dg.BatchItem(index=1, status="SUCCEEDED", result=Decimal("2.5")),
            dg.BatchItem(index=2, status="NOT_STARTED"),
        ],
        completion_reason="ALL_COMPLETED",
    )
    for fmt in ("json", "aws"):
        payload = encode(batch, format=fmt)  # type: ignore[arg-type]
        per_item = decode_batch(payload, [datetime, Decimal, int], what="the result of Parallel")
        assert per_item.results() == [AT, Decimal("2.5")]
        assert type(per_item.results()[1]) is Decimal
        untyped = decode_batch(payload)
        assert untyped.results()[1] == ("2.5" if fmt == "json" else Decimal("2.5"))
    dates = dg.BatchResult(
        items=[dg.BatchItem(index=0, status="SUCCEEDED", result=AT)],
        completion_reason="ALL_COMPLETED",
    )
    assert decode_batch(encode(dates), datetime).results() == [AT]
    assert decode_batch(None).items == []
    with pytest.raises(dg.SerializationError, match="the result of Parallel"):
        decode_batch(encode(batch), [int, int, int], what="the result of Parallel")
    with pytest.raises(dg.SerializationError, match="the result of Map"):
        decode_batch('{"items": 3}', int, what="the result of Map")


def test_pydantic_is_never_imported_by_durable_gen() -> None:
    import subprocess
    import sys

    code = (
        "import sys, durable_gen as dg\n"
        "from durable_gen._codec import decode, encode\n"
        "assert decode(encode({'a': 1}), dict[str, int]) == {'a': 1}\n"
        "assert 'pydantic' not in sys.modules, 'pydantic was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_declared_result_of_each_command() -> None:
    from durable_gen._codec import declared_result, item_types

    def label(item: str) -> str:
        return item

    async def weigh(item: str) -> float:
        return 1.0

    def bump(n: int) -> int:
        return n + 1

    def title() -> str:  # Parallel branches take no arguments
        return "t"

    async def size() -> float:
        return 1.0

    assert declared_result(charge("o", 1)) == Receipt
    assert declared_result(dg.Step(bump, (1,))) is int
    assert declared_result(dg.Invoke("f", 1, result_type=Receipt)) is Receipt
    assert declared_result(dg.Invoke("f", 1)) is Any
    assert declared_result(dg.WaitForCallback(print, result_type=date)) is date
    handle = dg.CallbackHandle(callback_id="c", operation_id="o", result_type=uuid.UUID)
    assert declared_result(handle) is uuid.UUID
    assert declared_result(dg.Child(place, (Order("o", ()),))) == list[Receipt]
    assert declared_result(dg.WaitForCondition(bump, 0)) is int
    assert declared_result(dg.Map(label, ["a"])) == dg.BatchResult[str]
    assert declared_result(dg.Map(weigh, ["a"])) == dg.BatchResult[float]
    assert declared_result(dg.Map(place, [])) == dg.BatchResult[list[Receipt]]
    assert declared_result(dg.Parallel([title, dg.Branch(title, name="b")])) == dg.BatchResult[str]
    mixed = dg.Parallel([title, size])
    assert declared_result(mixed) is dg.BatchResult
    assert item_types(mixed) == [str, float]
    assert declared_result(dg.Wait(seconds=1)) is Any


def test_result_reader_is_the_reader_of_the_declared_type() -> None:
    from durable_gen._codec import result_reader

    read = result_reader(charge.fn)
    assert read is result_reader(charge.fn)
    assert read(encode(Receipt("r", Decimal("1.5"), AT))) == Receipt("r", Decimal("1.5"), AT)
    assert read(None) is None
    with pytest.raises(dg.SerializationError, match=r"^a recorded payload: .*Receipt"):
        read("3")
    assert result_reader(lambda: 1)('{"a": 1}') == {"a": 1}


def test_the_envelope_rule_does_not_depend_on_spacing() -> None:
    for payload in [
        '{"t" : "d", "v" : "1.5"}',
        '{"v":"1.5","t":"d"}',
        ' {"t":"d","v":"1.5"}',
        '{\n  "t": "d",\n  "v": "1.5"\n}',
    ]:
        assert decode(payload) == Decimal("1.5"), payload
        assert decode(payload, Decimal) == Decimal("1.5"), payload


@dataclasses.dataclass
class _Card:
    number: str


@dataclasses.dataclass
class _Wire:
    iban: str


@dg.step
def _pay_with(card: bool) -> _Card | _Wire:
    return _Card("4111") if card else _Wire("DE00")


def _pays(_: Any) -> Generator[Any, Any, Any]:
    try:
        return (yield _pay_with(True))
    except dg.StepFailedError as exc:
        return [exc.error_type, exc.error_message]


def test_a_declared_type_the_codec_cannot_read_is_a_serialization_error_with_advice() -> None:
    # msgspec refuses a union of two dataclasses: that was a bare TypeError failing the
    # execution; it is the step's SerializationError, which the workflow can catch.
    error_type, message = dg.run(_pays)
    assert error_type == "SerializationError"
    assert "the result of step '_pay_with'" in message
    assert "cannot be decoded into the declared type" in message
    assert "tag=True" in message
    with pytest.raises(dg.SerializationError, match="the workflow input: values cannot be"):
        decode('{"number": "1"}', _Card | _Wire, what="the workflow input")
    assert decode(None, _Card | _Wire) is None


def _priced(item: str, scale: int) -> Generator[Any, Any, Receipt]:
    yield dg.Wait(seconds=1)
    return Receipt(item, Decimal(scale), AT)


def test_a_partial_has_the_declared_types_of_its_function() -> None:
    import functools

    # A Parallel branch or Map function given as functools.partial (the form the guide advises
    # for a sub-workflow with arguments) decodes its results into the function's return type.
    branch = functools.partial(_priced, "a")
    assert result_type(branch) == Receipt
    assert result_type(functools.partial(functools.partial(_priced), "b")) == Receipt
    assert input_type(branch) is Any  # its first parameter is bound: nothing to say

    def batch(_: Any) -> Generator[Any, Any, Any]:
        done = yield dg.Parallel([functools.partial(_priced, "a", 2)])
        return [type(r).__name__ for r in done.get_results()]

    assert dg.run(batch, None, skip_time=True) == ["Receipt"]


class TestPlainResult:
    """The shortcut for a step's int, str, bool or None result: taken only where reading the
    payload back in the declared type gives the value itself, never changing what the workflow
    receives."""

    @staticmethod
    def untyped():  # type: ignore[no-untyped-def]
        return 1

    @staticmethod
    def as_int() -> int:
        return 1

    @staticmethod
    def as_float() -> float:
        return 1.0

    @staticmethod
    def as_str() -> str:
        return ""

    def test_taken_for_the_declared_or_an_undeclared_type(self) -> None:
        from durable_gen._codec import plain_result

        assert plain_result(self.untyped, 7, 1024) == "7"
        assert plain_result(self.untyped, "é", 1024) == '"é"'
        assert plain_result(self.untyped, None, 1024) == "null"
        assert plain_result(self.as_int, 7, 1024) == "7"
        assert plain_result(self.as_str, "x", 1024) == '"x"'

    @pytest.mark.parametrize(
        ("fn", "value"),
        [
            ("as_float", 1),  # read back as 1.0
            ("as_int", True),  # a bool where an int is declared: the full way says what it is
            ("as_int", "1"),
            ("as_str", None),
            ("untyped", 1.5),  # floats take the full way
            ("untyped", [1]),
        ],
    )
    def test_not_taken_where_the_value_would_change_or_fail(self, fn: str, value: object) -> None:
        from durable_gen._codec import plain_result

        assert plain_result(getattr(self, fn), value, 1024) is None

    def test_not_taken_over_the_limit_or_for_text_json_cannot_carry(self) -> None:
        from durable_gen._codec import plain_result

        assert plain_result(self.untyped, "x" * 300, 1024) is None
        assert plain_result(self.untyped, "\ud800", 1024) is None

    def test_a_step_still_receives_its_declared_type(self) -> None:
        import durable_gen as dg

        def wf(_: object):  # type: ignore[no-untyped-def]
            a = yield dg.Step(self.as_float)
            b = yield dg.Step(self.untyped)
            return [type(a).__name__, type(b).__name__]

        def one() -> float:
            return 1  # an int where a float is declared: the workflow gets 1.0

        def wf2(_: object):  # type: ignore[no-untyped-def]
            return type((yield dg.Step(one))).__name__

        assert dg.run(wf, None) == ["float", "int"]
        assert dg.run(wf2, None) == "float"
