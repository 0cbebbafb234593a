"""The payload codec: values to payload strings and back, by declared type, in two formats.

The rules, in the order they apply:

1. Writing, format ``"json"`` (the default): msgspec JSON. Dataclasses, msgspec Structs,
   TypedDicts, datetime/date/time, Decimal, UUID, pathlib paths, enums, sets, tuples and bytes
   are written as JSON values (ISO strings, decimal strings, strings, arrays, base64), and a
   subclass of one of these or of str, int or float as a value of that type; pydantic models
   through ``model_dump(mode="json", by_alias=True, round_trip=True)``, which
   ``model_validate`` reads back, or else ``model_validate_json`` (a strict model, a
   ``validation_alias``); one holding a pydantic secret, which that writes as its mask, or one
   pydantic cannot write in JSON mode is a ``SerializationError``.
   Any other type is a ``SerializationError`` naming the payload (``what``) and the type;
   nothing is turned into a string by ``str()``.
2. Writing, format ``"aws"``: AWS's typed envelope as AWS's Python SDK writes it. A None, bool,
   int, float or str, or a list (of lists) of only those, is plain JSON; anything else is
   ``{"t": tag, "v": value}`` all the way down (tags in ``TAGS``); a ``BatchResult`` is a
   ``"br"`` envelope of ``{"all": [...], "completionReason": ...}`` without never-started items
   (those, and item names, ride in keys AWS's SDK ignores: ``notStarted``, ``name``).
3. Reading takes either format. A payload is AWS's envelope if and only if its root is a JSON
   object with exactly the keys ``"t"`` and ``"v"``, ``"t"`` is a known tag, and everything
   inside is a well-formed envelope too (every nested value an envelope, every scalar of the
   kind its tag says). Anything else is plain JSON. So that this never misreads durable_gen's
   own payloads, rule 1 writes a value whose JSON would pass the test (say ``{"t": "s",
   "v": "x"}``) as an envelope instead: every payload durable_gen writes reads back as written.
4. With a declared type, the value is converted into it (msgspec's typed decoding, or
   ``msgspec.convert`` from an unwrapped envelope); a payload that does not fit is a
   ``SerializationError`` naming the payload and the type. With no declared type (``Any``),
   plain JSON comes back as JSON values, as always, and an envelope as the values AWS's SDK
   gives its user code (datetime, Decimal, UUID, bytes, tuple, and our ``BatchResult``).
5. Declared types are read from annotations once per function (``result_type``,
   ``input_type``); one that cannot be resolved or describes no value (a TypeVar, an
   ``Iterator``, a ``Callable``) counts as ``Any``, except the ``-> R`` of a decorator's
   wrapper typed with a ParamSpec, which declares what the one function it holds declares.

Pure: no I/O; pydantic is never imported here, only recognised once the user imported it.
"""

from __future__ import annotations

import base64
import collections.abc
import contextlib
import dataclasses
import functools
import inspect
import json
import math
import re
import typing
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

import msgspec
import msgspec.inspect

from . import _aliases
from ._aliases import _GENERIC_ALIAS, _UNION_TYPE, decodable, union_advice
from ._errors import PayloadTooLargeError, SerializationError
from ._wire import MAX_OPERATION_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES, too_large

if TYPE_CHECKING:
    from ._batch import BatchResult

__all__ = [
    "TAGS",
    "Unreadable",
    "PayloadFormat",
    "batch_type",
    "declared_result",
    "decode",
    "decode_batch",
    "decode_raw_text",
    "encode",
    "input_type",
    "is_envelope",
    "item_types",
    "reader",
    "result_reader",
    "overload_note",
    "result_type",
    "undecodable",
    "wrapped_by",
]

PayloadFormat = Literal["json", "aws"]

#: AWS's envelope tags and the Python values they hold.
TAGS: Final = {
    "n": "None",
    "s": "str",
    "i": "int",
    "f": "float",
    "b": "bool",
    "B": "bytes (base64)",
    "u": "uuid.UUID",
    "d": "decimal.Decimal",
    "dt": "datetime (ISO 8601)",
    "D": "date (ISO 8601)",
    "t": "tuple",
    "l": "list",
    "m": "dict",
    "br": "BatchResult",
}

# --- hooks: pydantic without importing it ---------------------------------------------------


def _pydantic_base() -> Any:
    import sys  # only to see whether pydantic was imported; nothing is read from it otherwise

    module = sys.modules.get("pydantic")
    return getattr(module, "BaseModel", None) if module is not None else None


def _pure_path() -> Any:
    import sys  # pathlib's paths are written as str: seen only once the user imported pathlib

    module = sys.modules.get("pathlib")
    return getattr(module, "PurePath", None) if module is not None else None


def _plain_base(value: Any) -> Any:
    """A value of a subclass of a type the codec writes (numpy.float64, markupsafe.Markup,
    pendulum.DateTime, a ``class Money(Decimal)``), which is one of that type to type checkers,
    as a value of the type itself; None for any other value. msgspec writes only the exact
    types; enums never get here, and a bool only as a dict key, which stays refused."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, datetime):
        return datetime(
            value.year, value.month, value.day, value.hour, value.minute, value.second,
            value.microsecond, value.tzinfo, fold=value.fold,
        )  # fmt: skip
    if isinstance(value, date):
        return date(value.year, value.month, value.day)
    if isinstance(value, time):
        return time(
            value.hour, value.minute, value.second, value.microsecond, value.tzinfo,
            fold=value.fold,
        )  # fmt: skip
    if isinstance(value, timedelta):
        return timedelta(days=value.days, seconds=value.seconds, microseconds=value.microseconds)
    if isinstance(value, Decimal):
        return Decimal(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return None


def _enc_hook(value: Any) -> Any:
    plain = _plain_base(value)
    if plain is not None:
        return plain
    path = _pure_path()
    if path is not None and isinstance(value, path):
        return str(value)
    base = _pydantic_base()
    if base is not None and isinstance(value, base):
        # Written as model_validate reads it back: by alias, unless the model validates by
        # field name only (pydantic's validate_by_alias=False).
        by_alias = value.model_config.get("validate_by_alias", True) is not False
        # round_trip: a Json[T] field is written as the JSON text model_validate parses again
        try:
            dumped = value.model_dump(mode="json", by_alias=by_alias, round_trip=True)
        except ValueError as exc:  # pydantic's serialization error, or bytes not UTF-8
            raise _ModelDumpError(_dump_advice(value, exc)) from exc
        if _holds_mask(dumped):
            _refuse_secrets(value)
        return dumped
    raise NotImplementedError(_unsupported(value))


def _unsupported(value: Any) -> str:
    """Why ``value`` is not written, with the conversion to return instead when it is a
    container type checkers accept for a declared ``Mapping``, ``Sequence`` or ``Iterable``."""
    name = type(value).__qualname__
    text = f"Encoding objects of type {name} is unsupported"
    if isinstance(value, collections.abc.Mapping):
        return f"{text}: a {name} is a Mapping, and the codec writes dicts: return dict(value)"
    if isinstance(value, collections.abc.Collection):
        return (
            f"{text}: a {name} is a collection, and the codec writes lists, tuples and sets: "
            "return list(value)"
        )
    if isinstance(value, collections.abc.Iterator):
        return (
            f"{text}: a {name} is an iterator, which a payload cannot hold (it yields its "
            "values once): return list(value)"
        )
    return text


class _ModelDumpError(ValueError):
    """pydantic could not write a model in its JSON form."""


def _dump_advice(model: Any, exc: ValueError) -> str:
    text = (
        f"pydantic cannot write a model of type {_type_name(type(model))} in its JSON form, "
        f"model_dump(mode='json') ({exc})"
    )
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"{text}: a bytes field holds bytes that are not UTF-8 text, which pydantic writes "
            "as text by default; give the model model_config = ConfigDict("
            "ser_json_bytes='base64', val_json_bytes='base64'), or pass serdes= to the operation"
        )
    return f"{text}: make model_dump(mode='json') succeed, or pass serdes= to the operation"


_MASK: Final = "**********"  # what pydantic writes for a SecretStr, SecretBytes or Secret[T]


class _SecretValueError(ValueError):
    """A pydantic model holds a secret, which its JSON form replaces with pydantic's mask."""


def _holds_mask(obj: Any) -> bool:
    if type(obj) is str:
        return obj == _MASK
    if type(obj) is dict:
        return any(_holds_mask(v) for v in obj.values())
    if type(obj) is list:
        return any(_holds_mask(v) for v in obj)
    return False


def _refuse_secrets(model: Any) -> None:
    """Raise when ``model`` holds a pydantic secret: written as its mask, replay would read
    the mask back instead of the secret. A str that merely looks like the mask passes."""
    import sys  # pydantic is imported (the model is one): only its secret classes are read

    module = sys.modules["pydantic"]
    kinds = tuple(
        kind
        for kind in (getattr(module, n, None) for n in ("SecretStr", "SecretBytes", "Secret"))
        if isinstance(kind, type)
    )

    def find(obj: Any) -> Any:
        if isinstance(obj, kinds):
            return obj
        if isinstance(obj, dict):
            obj = list(obj.values())
        if isinstance(obj, list | tuple | set | frozenset):
            return next((found for v in obj if (found := find(v)) is not None), None)
        return None

    secret = find(model.model_dump(mode="python", round_trip=True))
    if secret is not None:
        raise _SecretValueError(
            f"a pydantic model of type {_type_name(type(model))} holds a "
            f"{type(secret).__name__}, which pydantic writes as {_MASK!r}: recorded so, replay "
            "would give back the mask, not the secret. Keep secrets out of recorded values "
            "(read them in the step that uses them), declare the field str if it must be "
            "recorded, or pass serdes= to the operation"
        )


def _dec_hook(type_: Any, obj: Any) -> Any:
    if type_ is object:  # `list[object]`, a field `payload: object`: any JSON value, as Any
        return obj
    base = _pydantic_base()
    if base is not None and isinstance(type_, type) and issubclass(type_, base):
        return _validate_model(type_, obj)
    path = _pure_path()
    if path is not None and isinstance(type_, type) and issubclass(type_, path):
        if not isinstance(obj, str):
            raise msgspec.ValidationError(f"Expected a path (a str), got {type(obj).__name__}")
        return type_(obj)
    raise NotImplementedError(_unbuildable(type_))


def _validate_model(model: Any, obj: Any) -> Any:
    """A pydantic model from the JSON form ``model_dump(mode="json")`` wrote. Read as
    ``model_validate`` reads Python data first; what that refuses is read again as pydantic
    reads JSON text, by alias or by field name: a strict model (or field) takes a date, a UUID
    or a tuple only as JSON writes them, and a field with only a ``validation_alias`` (or an
    ``AliasPath``) was written under its field name."""
    try:
        return model.model_validate(obj)
    except ValueError as first:
        try:
            text = _encoder.encode(obj)
            if _takes_by_name():
                return model.model_validate_json(text, by_name=True)
            return model.model_validate_json(text)
        except (ValueError, TypeError, msgspec.EncodeError):
            raise first from None


@functools.cache
def _takes_by_name() -> bool:
    """Whether pydantic's ``model_validate_json`` takes ``by_name=`` (2.11 and later)."""
    return "by_name" in inspect.signature(_pydantic_base().model_validate_json).parameters


def _unbuildable(type_: Any) -> str | None:
    """Why ``_dec_hook`` builds no value of ``type_`` (a class msgspec leaves to it); None
    for the classes it builds (``object``, pydantic models, paths)."""
    if type_ is object:
        return None
    for base in (_pydantic_base(), _pure_path()):
        if base is not None and isinstance(type_, type) and issubclass(type_, base):
            return None
    if _is_protocol(type_):
        return _protocol_problem(type_)
    if inspect.isabstract(type_) or getattr(type_, "__module__", None) in _ABSTRACT_MODULES:
        # numbers.Real, collections.abc.Hashable: nothing to build
        return (
            f"{_type_name(type_)} is an abstract class, which says what a value can do, not "
            "what to build from a payload: declare a concrete type (float for numbers.Real, "
            "a dataclass, a msgspec Struct)"
        )
    return f"decoding into {_type_name(type_)} is unsupported"


def _always_unbuildable(type_: Any) -> str | None:
    """Why no payload but an empty one decodes into ``type_``: a class ``_dec_hook`` does not
    build, which every value of ``type_`` holds (the type itself, a required field, a tuple
    member; not a list's items, a dict's values or a union's members, which a value may lack).
    None when some payload decodes."""
    try:
        node: Any = msgspec.inspect.type_info(type_)
    except Exception:  # msgspec says why where it decodes
        return None
    seen: set[int] = set()
    stack = [node]
    while stack:  # depth first over what every value holds
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, msgspec.inspect.CustomType):
            problem = _unbuildable(node.cls)
            if problem is not None:
                return problem
        elif isinstance(node, msgspec.inspect.Metadata):
            stack.append(node.type)
        elif isinstance(node, msgspec.inspect.TupleType):
            stack.extend(node.item_types)
        elif isinstance(
            node,
            (
                msgspec.inspect.DataclassType,
                msgspec.inspect.StructType,
                msgspec.inspect.TypedDictType,
                msgspec.inspect.NamedTupleType,
            ),
        ):
            stack.extend(f.type for f in node.fields if f.required)
    return None


#: Modules whose classes describe what a value can do (numbers.Number has no abstract method).
_ABSTRACT_MODULES: Final = frozenset({"numbers", "collections.abc"})


def _is_protocol(type_: Any) -> bool:
    return isinstance(type_, type) and bool(getattr(type_, "_is_protocol", False))


def _protocol_problem(type_: Any) -> str:
    return (
        f"{_type_name(type_)} is a Protocol, which says what a value can do, not what to build "
        "from a payload: declare the concrete class (a dataclass, a msgspec Struct, a "
        "TypedDict)"
    )


def _protocol_in(type_: Any) -> Any:
    """The first Protocol class ``type_`` names, at any depth of its arguments; else None."""
    if _is_protocol(type_):
        return type_
    for arg in typing.get_args(type_):
        found = _protocol_in(arg)
        if found is not None:
            return found
    return None


def _unpacked_in(type_: Any) -> Any:
    """The first unpacked part of a tuple ``type_`` holds at any depth (``*tuple[int, ...]``,
    ``Unpack[tuple[int, ...]]``), which msgspec takes for the tuple itself or refuses; else
    None."""
    for arg in typing.get_args(type_):
        if getattr(arg, "__unpacked__", False) or typing.get_origin(arg) is typing.Unpack:
            return arg
        found = _unpacked_in(arg)
        if found is not None:
            return found
    return None


_encoder: Final = msgspec.json.Encoder(enc_hook=_enc_hook)
_untyped: Final = msgspec.json.Decoder()

#: The constants Python's ``json`` module writes for non-finite floats (so AWS's Python SDK does).
_NON_FINITE: Final = re.compile(r"NaN|Infinity")


def _python_reads(exc: msgspec.DecodeError, payload: str) -> bool:
    """Whether ``payload``, which msgspec refused with ``exc``, is one Python's ``json`` module
    (and so AWS's Python SDK) reads: it holds ``NaN`` or ``Infinity``, or a number beyond the
    range of a float (``1e400``, which Python reads as an infinity)."""
    if str(exc).startswith("Number out of range"):  # a ValidationError, whatever the type
        return True
    return not isinstance(exc, msgspec.ValidationError) and _NON_FINITE.search(payload) is not None


def parse_json(payload: str) -> Any:
    """``payload`` as JSON data, ``NaN``, ``Infinity`` and ``-Infinity`` included.

    They are not JSON, but Python's ``json`` module writes them for float NaN and infinities,
    and so does AWS's Python SDK (plain, or as the ``v`` of an ``f`` envelope). They are read
    as the floats they stand for, as AWS's SDK reads them; so is a number beyond the range of
    a float (``1e400``: an infinity), which JSON allows and msgspec refuses. Anything else
    msgspec refuses stays refused (a lone surrogate escape is still not valid Unicode).

    Raises:
        msgspec.DecodeError: the payload is not JSON.
        UnicodeEncodeError: the payload holds a lone surrogate escape.
    """
    try:
        return _untyped.decode(payload)
    except msgspec.DecodeError as exc:
        if not _python_reads(exc, payload):
            raise
        try:
            obj = json.loads(payload)
        except ValueError:
            raise exc from None
    _encoder.encode(obj)  # the checks msgspec's decoder makes (valid Unicode)
    return obj


_ENVELOPE_START: Final = re.compile(r'\s*\{\s*"[tv]"\s*:')


def _may_be_envelope(payload: str) -> bool:
    """A cheap test that rules out most payloads before any parsing: is the first key t or v?"""
    if payload[:2] == '{"':  # compact JSON, the common case: look at the first key only
        return payload[2:4] in _FIRST_KEYS
    return payload[0] in _SPACE and _ENVELOPE_START.match(payload) is not None


_FIRST_KEYS: Final = ('t"', 'v"')
_SPACE: Final = "{ \t\r\n"


def _unwritable_key(value: Any, depth: int = 0) -> tuple[Any] | None:
    """``(key,)``: the first dict key in ``value`` (a dict, or a list, tuple or set holding
    dicts) the encoder does not write as a key; None when there is none (a key may be None).
    Called only once writing failed."""
    if depth > 100:
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            try:
                _encoder.encode({key: None})
            except (TypeError, NotImplementedError, msgspec.EncodeError, ValueError):
                return (key,)
            found = _unwritable_key(item, depth + 1)
            if found is not None:
                return found
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            found = _unwritable_key(item, depth + 1)
            if found is not None:
                return found
    return None


def _type_name(type_: Any) -> str:
    if isinstance(type_, type) and not typing.get_args(type_):
        return type_.__qualname__
    return repr(type_).replace("typing.", "")


type_name = _type_name  # the name a message gives a declared type


# --- writing --------------------------------------------------------------------------------


def encode(
    value: Any,
    *,
    what: str = "value",
    format: PayloadFormat = "json",
    limit: int = MAX_PAYLOAD_BYTES,
) -> str:
    """The payload of ``value`` in ``format``, checked against ``limit`` bytes.

    Raises:
        SerializationError: a value of a type the codec does not write (named in the message).
        PayloadTooLargeError: the payload is over ``limit`` (default 6 MiB).
    """
    try:
        if format == "json":
            payload = _encoder.encode(value).decode()
            if _may_be_envelope(payload) and _misread(payload):
                payload = _encode_envelope(value)
        elif format == "aws":
            payload = _encode_envelope(value)
        else:
            raise SerializationError(f"payload format must be 'json' or 'aws', got {format!r}")
    except SerializationError:
        raise
    except (_SecretValueError, _ModelDumpError) as exc:
        raise SerializationError(f"{what}: {exc}") from exc.__cause__
    except UnicodeEncodeError as exc:
        raise SerializationError(
            f"{what}: a value of type {_type_name(type(value))} holds text that is not valid "
            f"Unicode ({exc.reason}: {exc.object[exc.start : exc.end]!r}), which JSON cannot "
            "carry; clean the string first (s.encode('utf-8', 'replace').decode()) or pass "
            "serdes= to the operation"
        ) from exc
    except RecursionError as exc:
        raise SerializationError(
            f"{what}: a value of type {_type_name(type(value))} is nested too deeply to be "
            f"written as a payload ({exc}), or holds itself (a list or dict that contains "
            "itself, which JSON cannot write): keep it to a few hundred levels (AWS's Python "
            "SDK reads fewer than 500), flatten it, or pass serdes= to the operation"
        ) from None
    except (TypeError, NotImplementedError, msgspec.EncodeError, OverflowError, ValueError) as exc:
        if inspect.iscoroutine(value):  # a plain def (a lambda) that called an async function
            value.close()  # never run: closing it spares the "never awaited" warning
            raise SerializationError(
                f"{what}: the function returned a coroutine, not a result: it is a plain def "
                "(a lambda, a wrapper) that called an async def function without awaiting it, "
                "and a step's result is what its function returns. Make the function async def "
                "and await the call, or pass the async function itself with its arguments "
                "(dg.Step(fetch, (url,)) rather than dg.Step(lambda: fetch(url)))"
            ) from None
        found = _unwritable_key(value)
        if found is not None:
            (key,) = found
            raise SerializationError(
                f"{what}: a dict key of type {_type_name(type(key))} ({key!r}) cannot be written "
                "as a payload: JSON object keys are text, and the codec writes keys of str, int, "
                "float, enums, Decimal, UUID, paths, bytes and the datetime types (a bool, None or "
                "a tuple is none of them): use such keys (a str for a pair), a list of pairs, or "
                "pass serdes= to the operation"
            ) from exc
        raise SerializationError(
            f"{what}: a value of type {_type_name(type(value))} cannot be written as a payload "
            f"({exc}); use JSON data, dataclasses, msgspec Structs, TypedDicts, NamedTuples, "
            "datetime, date, time, timedelta, Decimal, UUID, paths, enums, sets, tuples, bytes or "
            "pydantic models (docs/guide.md, 'Values and types'), or pass serdes= to the "
            "operation"
        ) from exc
    if len(payload) * 4 > limit:  # only then may it be over (UTF-8: at most 4 bytes a char)
        try:
            check_size(payload, what, limit)
        except PayloadTooLargeError as exc:
            if format != "aws":
                raise
            raise PayloadTooLargeError(f"{exc}{_envelope_note(value)}") from None
    return payload


def _envelope_note(value: Any) -> str:
    """What a payload over its limit in AWS's envelope weighs as plain JSON."""
    try:
        plain = len(_encoder.encode(value))
    except Exception:  # only a note: the size error stands without it
        return ""
    return (
        f" (written in AWS's typed envelope, payload_format='aws', which wraps every value in "
        f'{{"t": ..., "v": ...}}: as plain JSON it is {plain} bytes)'
    )


def check_size(payload: str, what: str, limit: int = MAX_PAYLOAD_BYTES) -> None:
    """Raise ``PayloadTooLargeError`` if ``payload`` is over ``limit`` bytes of UTF-8."""
    if too_large(payload, limit):
        size = f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit} B"
        where = "an operation's" if limit == MAX_OPERATION_PAYLOAD_BYTES else "the"
        raise PayloadTooLargeError(
            f"{what} serializes to {len(payload.encode())} bytes, over {where} {size} payload "
            "limit; keep large data elsewhere (a bucket, a database) and pass a reference"
        )


def _misread(payload: str) -> bool:
    """Whether a plain JSON payload would be read back as an envelope (rule 3)."""
    return is_envelope(parse_json(payload))


def _is_plain(value: Any) -> bool:
    """AWS writes these as plain JSON: scalars, and lists (of lists) of only scalars."""
    if value is None or isinstance(value, (str, int, float)):
        return True
    return isinstance(value, list) and all(_is_plain(v) for v in value)


def _encode_envelope(value: Any) -> str:
    if _is_plain(value):
        return _encoder.encode(value).decode()
    return _encoder.encode(_wrap(value)).decode()


def _wrap(value: Any) -> dict[str, Any]:
    """``value`` as a tree of ``{"t", "v"}`` envelopes."""
    kind = type(value)
    if value is None:
        return {"t": "n", "v": None}
    if kind is str:
        return {"t": "s", "v": value}
    if kind is bool:
        return {"t": "b", "v": value}
    if kind is int:
        return {"t": "i", "v": value}
    if kind is float:
        # NaN and infinities are written as null, as in plain JSON: an "f" holding null would
        # not be a well-formed envelope, and the whole payload would read as plain JSON
        return {"t": "f", "v": value} if math.isfinite(value) else {"t": "n", "v": None}
    if kind is dict:
        return {"t": "m", "v": {_key(k): _wrap(v) for k, v in value.items()}}
    if kind is list:
        return {"t": "l", "v": [_wrap(v) for v in value]}
    if kind is tuple:
        return {"t": "t", "v": [_wrap(v) for v in value]}
    if isinstance(value, Enum):
        return _wrap(value.value)
    plain = _plain_base(value)  # a subclass (numpy.float64, pendulum.DateTime): as its base
    if plain is not None and type(plain) is not kind:
        return _wrap(plain)
    if isinstance(value, datetime):
        return {"t": "dt", "v": value.isoformat()}
    if isinstance(value, date):
        return {"t": "D", "v": value.isoformat()}
    if isinstance(value, Decimal):
        return {"t": "d", "v": str(value)}
    if isinstance(value, uuid.UUID):
        return {"t": "u", "v": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"t": "B", "v": base64.b64encode(bytes(value)).decode()}
    from ._batch import BatchResult

    if isinstance(value, BatchResult):
        return {"t": "br", "v": _wrap(_aws_batch(value))["v"]}
    if isinstance(value, (set, frozenset)):
        return {"t": "l", "v": [_wrap(v) for v in value]}
    for base in (dict, list, tuple):  # subclasses: OrderedDict, NamedTuple...
        if isinstance(value, base):
            return _wrap(base(value))
    # dataclasses, Structs, pydantic models, time, timedelta...: their JSON form
    builtins = msgspec.to_builtins(
        value, enc_hook=_enc_hook, builtin_types=(datetime, date, Decimal, uuid.UUID, bytes)
    )
    if type(builtins) is kind:
        raise NotImplementedError(f"Encoding objects of type {kind.__qualname__} is unsupported")
    return _wrap(builtins)


def _key(key: Any) -> str:
    if type(key) is str:
        return key
    if isinstance(key, Enum):
        key = key.value
    if not isinstance(key, bool):
        plain = _plain_base(key)  # a subclass (numpy.float64): by its base type, not its __str__
        key = key if plain is None else plain
    if isinstance(key, (str, int, float, Decimal, uuid.UUID)) and not isinstance(key, bool):
        return str(key)
    if isinstance(key, (date, time, timedelta, bytes)):  # as format "json" writes it: ISO 8601,
        (text,) = msgspec.to_builtins({key: None}, str_keys=True)  # base64 for bytes
        return str(text)
    path = _pure_path()
    if path is not None and isinstance(key, path):
        return str(key)
    raise NotImplementedError(f"a dict key of type {type(key).__qualname__} is unsupported")


def _aws_batch(result: BatchResult[Any]) -> dict[str, Any]:
    """Our batch result in AWS's shape (``all``, ``completionReason``), items that never started
    left out of ``all`` as AWS does. What AWS has no field for rides in keys its SDK ignores:
    an item's ``name``, and the never-started items under ``notStarted``, so a batch result
    that no Map or Parallel fills in again (one a child context returns) reads back whole."""
    items = []
    not_started = []
    for item in result.items:
        named = {"name": item.name} if item.name is not None else {}
        if item.status == "NOT_STARTED":
            not_started.append({"index": item.index, **named})
            continue
        error = msgspec.to_builtins(item.error) if item.error is not None else None
        items.append(
            {
                "index": item.index,
                "status": item.status,
                "result": item.result,
                "error": error,
                **named,
            }
        )
    out: dict[str, Any] = {"all": items, "completionReason": result.completion_reason}
    if not_started:
        out["notStarted"] = not_started
    return out


# --- reading --------------------------------------------------------------------------------


class _NotEnvelope(Exception):
    """Raised inside ``_open`` when a value is not a well-formed envelope (rule 3)."""


def _open(node: Any, batch: Callable[[dict[str, Any]], Any]) -> Any:
    """The value of a well-formed envelope, checked while it is unwrapped, in one pass.

    ``batch`` turns the unwrapped ``v`` of a ``br`` envelope into the batch value.

    Raises:
        _NotEnvelope: ``node`` (or something inside it) is not a well-formed envelope.
    """
    if type(node) is not dict or len(node) != 2 or "t" not in node or "v" not in node:
        raise _NotEnvelope
    tag, v = node["t"], node["v"]
    kind = type(v)
    if tag == "s":
        if kind is str:
            return v
    elif tag == "m":
        if kind is dict:
            return {k: _open(x, batch) for k, x in v.items()}
    elif tag == "i":
        if kind is int:
            return v
    elif tag == "l":
        if kind is list:
            return [_open(x, batch) for x in v]
    elif tag == "n":
        if v is None:
            return None
    elif tag == "b":
        if kind is bool:
            return v
    elif tag == "f":
        if kind is float or kind is int:
            return float(v)
    elif tag == "t":
        if kind is list:
            return tuple([_open(x, batch) for x in v])
    elif tag == "br":
        if kind is dict:
            return batch({k: _open(x, batch) for k, x in v.items()})
    elif type(tag) is str and kind is str and tag in _PARSERS:
        try:
            return _PARSERS[tag](v)
        except (ValueError, InvalidOperation):
            pass
    raise _NotEnvelope


def is_envelope(obj: Any) -> bool:
    """Whether a decoded JSON value is a well-formed AWS envelope (rule 3)."""
    try:
        _open(obj, _batch_shape)
    except _NotEnvelope:
        return False
    return True


def _datetime(text: str) -> datetime:
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


def _bytes(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


_PARSERS: Final[dict[str, Callable[[str], Any]]] = {
    "B": _bytes,
    "u": uuid.UUID,
    "d": Decimal,
    "dt": _datetime,
    "D": date.fromisoformat,
}


def _batch_shape(data: dict[str, Any]) -> dict[str, Any]:
    """AWS's batch dict (``all``, ``completionReason``, and durable_gen's ``notStarted``) in our
    ``BatchResult``'s JSON shape."""
    items = data.get("all")
    if type(items) is list:  # AWS writes "error": null and "result": null; we leave them out
        items = [
            {k: v for k, v in item.items() if v is not None} if type(item) is dict else item
            for item in items
        ]
        not_started = data.get("notStarted")
        if type(not_started) is list and not_started:
            items += [
                {**item, "status": "NOT_STARTED"} if type(item) is dict else item
                for item in not_started
            ]
            items.sort(key=lambda item: item.get("index", 0) if type(item) is dict else 0)
    return {"items": items, "completionReason": data.get("completionReason")}


def _batch_object(data: dict[str, Any]) -> Any:
    """AWS's batch dict as our (untyped) ``BatchResult``, as AWS's SDK gives its own."""
    from ._batch import BatchResult

    return msgspec.convert(_batch_shape(data), BatchResult, str_keys=True)


def decode(payload: str | None, type_: Any = Any, *, what: str = "value") -> Any:
    """The value of ``payload`` (either format), converted into ``type_`` when one is declared.

    None or an empty payload is None, whatever the type. ``reader(type_)`` is the same
    function made once per type, for callers that decode many payloads of one type.

    Raises:
        SerializationError: the payload is not JSON, or does not fit ``type_``.
    """
    return reader(type_)(payload, what)


def decode_raw_text(payload: str | None, type_: Any, *, what: str = "value") -> Any:
    """``decode(payload, type_)``, also reading a JSON string that holds the value's JSON.

    AWS's Python SDK records a completed wait-for-callback as the raw text the sender sent,
    JSON-encoded as a string (its code calls ``json.loads`` on it). A declared type that does
    not take that string takes the value the text holds, as a callback answered on durable_gen
    gives it; a type that takes strings gets the text as recorded.

    Raises:
        SerializationError: neither the payload nor the text it holds fits ``type_`` (the
            error says why the payload does not).
    """
    try:
        return decode(payload, type_, what=what)
    except SerializationError as exc:
        error = exc
    try:
        text = decode(payload, Any, what=what)
        if isinstance(text, str) and text:
            return decode(text, type_, what=what)
    except SerializationError:
        pass
    raise error


class Reader(Protocol):
    """A decode function for one declared type: ``read(payload, what)``."""

    def __call__(self, payload: str | None, what: str = ..., /) -> Any: ...


def reader(type_: Any = Any) -> Reader:
    """``read(payload, what)``: ``decode`` specialised for ``type_`` (cached per type)."""
    try:
        known = _readers.get(type_)
    except TypeError:  # an unhashable type: made each time
        return _make_reader(type_)
    if known is None:
        known = _make_reader(type_)
        if len(_readers) < 4096:
            _readers[type_] = known
    return known


def _read_untyped(payload: str | None, what: str = "a recorded payload") -> Any:
    if not payload:
        return None
    try:
        obj = parse_json(payload)
        if type(obj) is dict and len(obj) == 2:
            try:
                return _open(obj, _batch_object)
            except _NotEnvelope:
                pass
        return obj
    except Exception as exc:
        raise _decode_error(what, Any, exc, payload) from exc


def _read_never(payload: str | None, what: str = "a recorded payload") -> Any:
    """The reader of ``Never`` (``NoReturn``): a function declared so raises, and is run like
    any other; a value it returned after all (None, when it falls off its end) fits no type."""
    if not payload:
        return None
    raise SerializationError(
        f"{what}: the payload does not fit the declared type Never (got {payload[:80]}): a "
        "function declared never to return (-> Never, -> NoReturn) returned; raise an "
        "exception at its end, or declare the type it returns"
    )


def _make_reader(type_: Any) -> Reader:
    if type_ is Any or type_ is object:
        return _read_untyped
    if type_ is typing.Never or type_ is typing.NoReturn:
        return _read_never
    protocol = _protocol_in(type_)
    if protocol is not None:  # msgspec would say only "decoding into X is unsupported"
        return _unsupported_reader(type_, TypeError(_protocol_problem(protocol)))
    unpacked = _unpacked_in(type_)
    if unpacked is not None:  # msgspec reads *tuple[int, ...] as one tuple member
        shown = repr(unpacked) if str(unpacked).startswith("*") else f"*{unpacked.__args__[0]}"
        return _unsupported_reader(type_, TypeError(f"Type {shown!r} is not supported"))
    as_decoded = type_
    try:
        try:
            typed = msgspec.json.Decoder(type_, dec_hook=_dec_hook).decode
        except (RecursionError, TypeError):  # a self-referring alias, a Literal of enums
            as_decoded = decodable(type_)
            typed = msgspec.json.Decoder(as_decoded, dec_hook=_dec_hook).decode
    except TypeError as exc:  # a type msgspec cannot decode into (a union of two dataclasses)
        return _unsupported_reader(type_, exc)
    except NameError as exc:  # a field's annotation names a class its module does not hold
        return _unresolved_field_reader(type_, exc)
    unbuildable = _always_unbuildable(as_decoded)  # a plain class: said once, here
    if unbuildable is not None:
        return _unsupported_reader(type_, TypeError(unbuildable))

    def read(payload: str | None, what: str = "a recorded payload") -> Any:
        if not payload:
            return None
        try:
            if payload[0] in _SPACE and _may_be_envelope(payload):
                try:
                    value = _open(parse_json(payload), _batch_shape)
                except _NotEnvelope:
                    pass
                else:
                    try:
                        converted = msgspec.convert(
                            value, as_decoded, dec_hook=_dec_hook, str_keys=True
                        )
                    except msgspec.ValidationError as refused:
                        return _as_plain_json(value, as_decoded, refused)
                    if _DECIMAL_TAG in payload:
                        # msgspec turns a Decimal into a float declared for it, which the
                        # "json" format refuses (the decimal's text): refused here the same way
                        _as_plain_json(value, as_decoded, None)
                    return converted
            try:
                return typed(payload)
            except msgspec.DecodeError as exc:
                if not _python_reads(exc, payload):
                    raise
            # NaN, Infinity or 1e400, which Python's json module reads: read, then convert
            obj = parse_json(payload)
            with contextlib.suppress(_NotEnvelope):
                obj = _open(obj, _batch_shape)
            return msgspec.convert(obj, as_decoded, dec_hook=_dec_hook, str_keys=True)
        except Exception as exc:
            raise _decode_error(what, type_, exc, payload) from exc

    return read


#: How a Decimal is tagged in AWS's envelope, as it appears in a payload's text.
_DECIMAL_TAG: Final = '"d"'


def _as_plain_json(value: Any, as_decoded: Any, refused: Exception | None) -> Any:
    """``value``, opened from AWS's envelope, read as its plain JSON form is read: the envelope
    keeps a date, a datetime, a UUID or a Decimal as itself, which a ``str`` declared for it
    (or for a field or an item holding it) refused, where the "json" format reads its text.
    Both formats give the same value, or refuse it with the same error. Bytes stay bytes, which
    a ``str`` refuses (as base64 text, they would read back as that text). With ``refused``
    None, ``value`` was converted already and this only raises what the plain form refuses (a
    Decimal's text where a float is declared), else returns ``value``."""
    try:
        plain = msgspec.to_builtins(
            value, builtin_types=(bytes, bytearray, memoryview), enc_hook=_enc_hook
        )
    except Exception:
        if refused is None:
            return value
        raise refused from None
    return msgspec.convert(plain, as_decoded, dec_hook=_dec_hook, str_keys=True)


def _unresolved_field_reader(type_: Any, exc: NameError) -> Reader:
    """A reader for a declared type holding a class whose field annotations name a class that
    cannot be found when they are read (text, under ``from __future__ import annotations``, read
    with the names of the class's module): each read says which, and what to do."""
    name = getattr(exc, "name", None)
    named = f"{name!r}" if name else "a name"
    return Unreadable(
        f"values cannot be decoded into the declared type {_type_name(type_)}: a field's "
        f"annotation of a class it holds names {named}, which is not found in that class's "
        "module (a class defined inside a function, under `from __future__ import "
        "annotations`, whose fields are read with the names of its module only; or a name "
        "imported only under `if TYPE_CHECKING:`): define the classes its fields name at "
        "module level and import them at run time, or annotate it Any to get plain JSON"
    )


def _unsupported_reader(type_: Any, exc: TypeError) -> Reader:
    """A reader for a declared type no payload can be decoded into: each read says why."""
    problem = str(exc)
    if "Enums must contain" in problem:
        advice = (
            "give the enum's members values of one kind, all str or all int (a StrEnum or an "
            "IntEnum), or declare the type of its values"
        )
    elif problem.startswith("Type unions "):
        advice = union_advice(problem)
    elif "InitVar" in problem:
        advice = (
            "an InitVar is given to __post_init__ and not kept, so a recorded value has none "
            "to give when it is read back: make it a field, or apply it in the function that "
            "builds the value"
        )
    elif problem.startswith("Can only set"):  # a msgspec.Meta constraint on a type without it
        advice = (
            "msgspec.Meta's bounds (ge, gt, le, lt, multiple_of) apply to int and float only, "
            "its lengths to str, bytes and collections, pattern to str and tz to datetime and "
            "time: a Decimal, a date or a UUID takes none of them. Drop the constraint and "
            "check the value in your code, or declare a type that takes it"
        )
    elif problem.startswith("Type '*"):  # tuple[date, *tuple[int, ...]]: an unpacked part
        advice = (
            "a tuple with an unpacked part (tuple[date, *tuple[int, ...]]) is not read back: "
            "hold the variable part as one member (tuple[date, tuple[int, ...]]), or declare "
            "a NamedTuple, a dataclass or a list"
        )
    elif problem.startswith("decoding into"):
        advice = (
            "use JSON data, dataclasses, msgspec Structs or pydantic models (a class of your "
            "own as one of them, a list for a deque, a dict for an OrderedDict), pass serdes= "
            "to the operation"
        )
    else:
        advice = (
            "declare a type the codec reads (a union may hold one dataclass, or msgspec "
            "Structs declared with tag=True)"
        )
    return Unreadable(
        f"values cannot be decoded into the declared type {_type_name(type_)} ({problem}): "
        f"{advice}, or annotate it Any to get plain JSON"
    )


class Unreadable:
    """The reader of a declared type no payload can be decoded into: each read says why."""

    __slots__ = ("problem",)

    def __init__(self, problem: str) -> None:
        self.problem = problem

    def __call__(self, payload: str | None, what: str = "a recorded payload", /) -> Any:
        if not payload:
            return None
        raise SerializationError(f"{what}: {self.problem}")


def narrowed(
    value: Any, decoded: Any, what: str, declared: Any, *, passed: bool = False
) -> SerializationError | None:
    """The error of a value of a subclass that decoding into its declared class cut down (a
    ``Car`` returned where ``Vehicle`` is declared loses the fields only a ``Car`` has); else
    None. Called only when ``type(decoded) is not type(value)``, and for the value itself, not
    the items of a container it holds (documented in the guide). ``declared`` is the declared
    type (``Any`` when none): bytes are refused only where ``str`` is declared."""
    if declared is str and isinstance(value, (bytes, bytearray, memoryview)):
        return SerializationError(
            f"{what}: {type(value).__name__} where str is declared: bytes are recorded as "
            "base64 text, which a str reads back as that text, not as the bytes decoded: "
            "return value.decode() (the text the bytes hold), or declare bytes"
        )
    read_as = type(decoded)
    if not isinstance(value, read_as) or read_as in _SELF_READING:
        return None
    lost = [name for name in _field_names(type(value)) if name not in _field_names(read_as)]
    if not lost:  # nothing dropped: the value reads back whole, as the declared class
        return None
    returned, wanted = type(value).__name__, read_as.__name__
    return SerializationError(
        f"{what}: an instance of {returned} where {wanted} is declared: it is decoded into "
        f"{wanted}, as every payload is into its declared type, which would drop the fields "
        f"only {returned} has ({', '.join(lost)}), on the first run and on every replay. "
        + (
            f"Declare the workflow's parameter as the class passed ({returned}), or a union of "
            f"msgspec Structs declared with tag=True, or pass an instance of {wanted}"
            if passed
            else f"Declare the class returned (-> {returned}), a union of msgspec Structs "
            f"declared with tag=True, or return an instance of {wanted}"
        )
    )


def input_narrowed(workflow: Any, value: Any, payload: str) -> SerializationError | None:
    """``narrowed`` for the input a caller passes to ``workflow`` (``dg.run``, ``TestRunner``):
    the error when decoding it into the workflow's parameter type would drop fields of the
    subclass it is an instance of. A payload that does not fit is left to the execution,
    which fails with that error as it starts."""
    declared = input_type(workflow)
    try:
        decoded = reader(declared)(payload, "the workflow input")
    except SerializationError:
        return None
    if type(decoded) is type(value):
        return None
    return narrowed(value, decoded, "the workflow input", declared, passed=True)


def _field_names(cls: type) -> tuple[str, ...]:
    """The names of the fields a dataclass, a msgspec Struct or a pydantic model writes."""
    struct_fields = getattr(cls, "__struct_fields__", None)
    if struct_fields is not None:
        return tuple(struct_fields)
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    model_fields = getattr(cls, "model_fields", None)
    if isinstance(model_fields, dict):
        return tuple(model_fields)
    return ()


def undecodable(read: Reader, what: str) -> SerializationError | None:
    """The error each use of ``read`` raises when it reads a declared type no payload can be
    decoded into (said before a step runs, whose result could never be read back); else None.
    """
    if type(read) is not Unreadable:
        return None
    return SerializationError(f"{what}: {read.problem}")


_readers: dict[Any, Reader] = {}


def _unbuildable_problem(type_: Any) -> str | None:
    """Why every payload of ``type_`` fails to be read (its reader says so), else None."""
    read = reader(type_)
    return read.problem if type(read) is Unreadable else None


_aliases.unbuildable = _unbuildable_problem  # what a command's result_type= is checked with


#: A surrogate escape: a high one with the low one that pairs with it, or either alone.
_SURROGATE_ESCAPE: Final = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    r"|\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _lone_surrogate(payload: str | None) -> str | None:
    """The first ``\\udXXX`` escape that is half a pair, when that is all that keeps
    ``payload`` from being read (Python's ``json`` reads it)."""
    if not payload or "\\u" not in payload:
        return None
    lone = next(
        (m.group(0) for m in _SURROGATE_ESCAPE.finditer(payload) if len(m.group(0)) == 6), None
    )
    if lone is None:
        return None
    try:
        json.loads(payload)
    except ValueError:
        return None
    return lone


def _decode_error(
    what: str, type_: Any, exc: Exception, payload: str | None = None
) -> SerializationError:
    if isinstance(exc, SerializationError):
        return exc
    if isinstance(exc, UnicodeEncodeError):
        return SerializationError(
            f"{what}: the recorded payload is not valid Unicode text ({exc.reason}: "
            f"{exc.object[exc.start : exc.end]!r} at character {exc.start}), so it is not JSON: "
            "whoever wrote it (the caller that started the execution, or a callback's sender) "
            "must send valid UTF-8"
        )
    if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
        lone = _lone_surrogate(payload)
        if lone is not None:
            return SerializationError(
                f"{what}: the recorded payload is not valid JSON for durable_gen: it holds the "
                f"escape {lone!r}, half of a surrogate pair, which is not valid Unicode text. "
                "Python's json module (and AWS's Python SDK) write one for a str holding a lone "
                "surrogate (text decoded with errors='surrogateescape'); durable_gen reads only "
                "valid Unicode: have whoever wrote it clean the text "
                "(s.encode('utf-8', 'replace').decode()), or pass the operation a serdes= that "
                "reads it"
            )
        return SerializationError(
            f"{what}: the recorded payload is not valid JSON ({exc}): it was written by another "
            "serdes, or sent by someone who did not write JSON (a callback's sender, the caller "
            "that started the execution): pass the operation a serdes= that reads it, or send "
            "JSON"
        )
    # a msgspec or pydantic ValidationError, a parse error in an envelope
    return _mismatch(what, type_, exc, payload)


#: What ``_dec_hook`` says of a type it cannot build any value of.
_UNDECODABLE: Final = re.compile(
    r"decoding into .* is unsupported|is an abstract class, which|is a Protocol, which"
)
#: A datetime as msgspec writes it, found in a payload that a ``date`` did not read.
_DATETIME_TEXT: Final = re.compile(r'"\d{4}-\d\d-\d\dT\d\d:\d\d')


#: msgspec's words for a tag value a tagged Struct does not have: ``Invalid value 'x' - at ...``
_OTHER_TAG: Final = re.compile(r"^Invalid value '(?P<tag>[^']*)' - at `\$\.(?P<field>\w+)`$")


def _other_tag(type_: Any, message: str) -> str | None:
    """The tag read where a tagged Struct declared at the root has another one (a subclass
    returned where its base class is declared), else None."""
    field = getattr(getattr(type_, "__struct_config__", None), "tag_field", None)
    found = _OTHER_TAG.match(message) if field else None
    return found["tag"] if found is not None and found["field"] == field else None


def _mismatch(
    what: str, type_: Any, exc: BaseException, payload: str | None = None
) -> SerializationError:
    if type_ is Any:
        return SerializationError(f"{what}: the recorded payload cannot be read ({exc})")
    message = str(exc)
    if _UNDECODABLE.search(message):  # no payload fits: the type, not the value, is wrong
        return SerializationError(
            f"{what}: values cannot be decoded into the declared type {_type_name(type_)} "
            f"({exc}): declare a type the codec reads (docs/guide.md, 'Values and types'), or "
            "annotate it Any or object to get plain JSON"
        )
    if "got `null`" in message and "float" in message:
        advice = (
            "a float NaN or infinity is recorded as null, which JSON has in place of them: "
            "return a finite float, or declare float | None"
        )
    elif what == "the workflow input, as recorded":  # a resume: the first run read it
        advice = (
            "this execution started with it, so the input's declared type changed since: make "
            "the new type accept the recorded input (a default for a new field, Optional, a "
            "union), or give the new code another workflow name and let running executions "
            "end on the old one (docs/versioning.md)"
        )
    elif what.endswith(", as recorded"):  # replayed: the value was written by an earlier run
        advice = (
            "an earlier run of this execution recorded it, so if the declared type changed "
            "since, make the new type accept the recorded value (a default, Optional, a union), "
            "or keep the old code for running executions with Patched (docs/versioning.md)"
        )
    elif what.startswith("the workflow input"):
        advice = "send a value of that type, or fix the annotation"
    elif what.startswith("the payload of function"):  # a plain function's, given by an Invoke
        advice = "make the Invoke send a value of that type, or fix the function's annotation"
    elif what.startswith(("the result of callback", "the callback")):
        advice = "send a value of that type, or change the callback's result_type="
    elif what.startswith("the result of invoke"):
        advice = "make the invoked function return a value of that type, or change result_type="
    elif "got `bool`" in message and ("Expected `int`" in message or "`float`" in message):
        advice = (
            "True and False are ints to type checkers, but are recorded as JSON true and "
            "false, which read back only as a bool: return int(value), or declare bool "
            "(int | bool for either)"
        )
    elif "encoded date" in message and payload and _DATETIME_TEXT.search(payload):
        advice = (
            "a datetime is a date to type checkers, but is recorded with its time, which a "
            "date does not read: return value.date(), or declare datetime"
        )
    elif (tagged := _other_tag(type_, message)) is not None:
        advice = (
            f"the payload holds a msgspec Struct tagged {tagged!r} where "
            f"{_type_name(type_)} (tagged {type_.__struct_config__.tag!r}) is declared: a "
            "subclass returned where its base class is declared is written with its own tag, "
            "which the base class does not read. Declare the class returned, or a union of the "
            "tagged Structs it may be (Circle | Square)"
        )
    elif " validation error for " in message:  # pydantic's: the model did not read it back
        advice = (
            "return a value of that type, or fix the annotation. A pydantic model is recorded "
            "as model_dump(mode='json', by_alias=True) writes it, and read back with "
            "model_validate: a required field with exclude=True, a serialization_alias that "
            "validation does not read (use alias=, or give it that validation_alias too), or a "
            "field or model serializer that changes what is written, makes even a value of the "
            "model fail here (check "
            "that Model.model_validate(value.model_dump(mode='json', by_alias=True)) gives it "
            "back), or pass serdes= to the operation"
        )
    else:
        advice = "return a value of that type, or fix the annotation"
    return SerializationError(
        f"{what}: the payload does not fit the declared type {_type_name(type_)} ({exc}); {advice}"
    )


# --- declared types -------------------------------------------------------------------------

_NO_VALUE: Final = frozenset(
    {
        typing.Iterator,
        typing.Iterable,
        typing.AsyncIterator,
        typing.Callable,
        typing.Awaitable,
        typing.Coroutine,
    }
)
_types: dict[Any, tuple[Any, Any]] = {}


def _names_no_type(arg: Any) -> bool:
    """Whether a type argument is a type variable (``T``, ``Self``, or a TypeVarTuple, also
    unpacked: ``tuple[*Ts]``), which names no type to read a value into."""
    if isinstance(arg, (typing.TypeVar, typing.TypeVarTuple)) or arg is typing.Self:
        return True
    return typing.get_origin(arg) is typing.Unpack and any(
        isinstance(a, typing.TypeVarTuple) for a in typing.get_args(arg)
    )


def _normalise(annotation: Any) -> Any:
    """The value type an annotation declares (rule 5)."""
    if annotation is None:
        return type(None)
    if (
        annotation is Any
        or annotation is object
        or annotation is typing.Self
        or isinstance(annotation, typing.TypeVar)
    ):
        return Any
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:  # its metadata (msgspec.Meta constraints) is checked too
        inner = _normalise(annotation.__origin__)
        if inner is Any or typing.get_origin(annotation.__origin__) in (
            collections.abc.Generator,
            typing.Generator,
        ):
            return inner
        return typing.Annotated[(inner, *annotation.__metadata__)]
    if origin is not None:
        import collections.abc as abc

        if origin in (abc.Generator, typing.Generator):
            args = typing.get_args(annotation)
            return _normalise(args[2]) if len(args) == 3 else Any
        if origin in (
            abc.Iterator,
            abc.Iterable,
            abc.AsyncIterator,
            abc.AsyncGenerator,
            abc.Callable,
            abc.Awaitable,
            abc.Coroutine,
        ):
            return Any
        if any(_names_no_type(a) for a in typing.get_args(annotation)):
            return Any
    elif annotation in _NO_VALUE:
        return Any
    return annotation


def _declared(fn: Any) -> tuple[Any, Any]:
    """(first parameter's type, return type) of ``fn``, both ``Any`` when not declared."""
    try:
        known = _types.get(fn)
    except TypeError:  # unhashable
        known = None
    if known is not None:
        return known
    declared = _resolve(fn)
    if len(_types) >= 4096:  # functions made per call (closures) must not grow it forever
        _types.clear()
    with contextlib.suppress(TypeError):  # unhashable: not cached
        _types[fn] = declared
    return declared


_UNDECLARED: Final = (Any, Any)


def _resolve(fn: Any) -> tuple[Any, Any]:
    target = getattr(fn, "fn", fn)
    bound = isinstance(target, functools.partial)
    while isinstance(target, functools.partial):  # functools.partial(sub, 1): sub's types
        target = getattr(target.func, "fn", target.func)
    if inspect.isroutine(target) or isinstance(target, type):
        call = target
    elif callable(target):  # an object with __call__
        call = target.__call__
    else:  # not callable at all: refused where it is used
        call = None
    # -> list[R] around the function: not the function's type
    rewrapped = None if call is None else _rewrapped(call)
    if rewrapped is not None:
        return (Any, rewrapped[1]) if bound else rewrapped
    target = inspect.unwrap(target)
    while isinstance(target, functools.partial):  # one made by a decorator
        bound = True
        target = inspect.unwrap(getattr(target.func, "fn", target.func))
    if isinstance(target, type):  # a class called as the function (a dataclass, a Struct)
        return (Any, _normalise(target))
    if not inspect.isroutine(target) and callable(target):  # an object with __call__
        target = target.__call__
    annotations = getattr(target, "__annotations__", None)
    if not annotations:  # lambdas and unannotated functions: nothing to resolve
        return _UNDECLARED
    owner = _owner(target)
    # A method's annotations also see the types its class holds (``-> Result`` for a class
    # nested in it), as type checkers resolve them; its other attributes are no types.
    scope = (
        {
            name: value
            for name, value in vars(owner).items()
            if isinstance(value, type) or typing.get_origin(value) is not None
        }
        if owner is not None
        else None
    )
    try:
        hints = typing.get_type_hints(target, localns=scope, include_extras=True)
    except Exception:  # names that cannot be resolved here (local classes, typos)
        hints = _hints_one_by_one(target, annotations, scope)
    first: Any = Any
    try:
        params = [
            p
            for p in inspect.signature(target).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        params = []
    bindings = _bindings(target, owner)
    if params and params[0].name in hints and not bound:  # a partial's first may be bound
        first = _normalise(_substitute(hints[params[0].name], bindings))
    returns: Any = Any
    if "return" in hints:
        declared = _substitute(hints["return"], bindings)
        if typing.get_origin(declared) is typing.Annotated and inspect.isgeneratorfunction(target):
            declared = declared.__origin__  # Annotated[Workflow[R], ...]: R as declared
        # A generator function returns what its Generator[..., ..., R] / Workflow[R] says; any
        # other annotation on one (``-> dg.Step``, ``-> dict``) describes no result: ignore it.
        if not inspect.isgeneratorfunction(target) or typing.get_origin(declared) in (
            collections.abc.Generator,
            typing.Generator,
        ):
            returns = _normalise(declared)
    if returns is Any:  # a decorator's wrapper, -> R: what the function it wraps declares
        inner = _forwarded(target)
        if inner is not None:
            return _declared(inner)
    return (first, returns)


def _param_spec_wrapper(target: Any) -> tuple[Any, Any] | None:
    """(function, decorator object or None) when ``target`` is a decorator's wrapper typed
    with a ParamSpec (``def wrapper(*args: P.args, **kwargs: P.kwargs)``, or such a
    ``__call__`` of a decorator class); else None."""
    holder: Any = None
    func = target
    if inspect.ismethod(target) and target.__name__ == "__call__":  # a decorator class
        func, holder = target.__func__, target.__self__
    if not inspect.isfunction(func):
        return None
    annotations = getattr(func, "__annotations__", None) or {}
    try:
        params = list(inspect.signature(target, follow_wrapped=False).parameters.values())
    except (TypeError, ValueError):
        return None
    kinds = [p.kind for p in params]
    if kinds != [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD]:
        return None
    spec = [annotations.get(p.name) for p in params]
    if not all(_param_spec_part(a, part) for a, part in zip(spec, ("args", "kwargs"), strict=True)):
        return None
    return func, holder


def _forwarded(target: Any) -> Any:
    """The function a decorator's wrapper forwards to, when ``target`` is one typed with a
    ParamSpec (``def wrapper(*args: P.args, **kwargs: P.kwargs) -> R``, R a TypeVar, or such
    a ``__call__`` of a decorator class) and holds exactly one callable (in its closure, or
    as an attribute of the decorator object: the function it wraps, without
    ``functools.wraps``); else None. Type checkers give such a wrapper the wrapped function's
    parameters and result, so it declares what that function declares."""
    wrapper = _param_spec_wrapper(target)
    if wrapper is None:
        return None
    func, holder = wrapper
    returns = (getattr(func, "__annotations__", None) or {}).get("return")
    if isinstance(returns, str) and returns.isidentifier():  # from __future__ import annotations
        returns = func.__globals__.get(returns)
    if not isinstance(returns, typing.TypeVar):
        return None
    return _held(func, holder, target)


def _rewrapped(target: Any) -> tuple[Any, Any] | None:
    """The types of a decorator's wrapper typed with a ParamSpec whose result is not the bare
    TypeVar ``_forwarded`` reads: its return annotation, with its one TypeVar standing for
    what the function it wraps returns (``-> list[R]`` around a function returning ``Sku`` is
    ``list[Sku]``, as type checkers read ``Callable[P, list[R]]``), and the wrapped function's
    first parameter; None when ``target`` is no such wrapper, or its result says no type."""
    wrapper = _param_spec_wrapper(target)
    if wrapper is None:
        return None
    func, holder = wrapper
    if "return" not in (getattr(func, "__annotations__", None) or {}):
        return None
    inner = getattr(func, "__wrapped__", None) or _held(func, holder, target)
    if inner is None:
        return None
    try:
        declared = typing.get_type_hints(func, include_extras=True)["return"]
    except Exception:  # a name that cannot be resolved here
        return None
    if isinstance(declared, typing.TypeVar):
        return None
    variables = {
        v for v in getattr(declared, "__parameters__", ()) if isinstance(v, typing.TypeVar)
    }
    if len(variables) > 1:
        return None
    first, returns = _declared(inner)
    returns = _normalise(_substitute(declared, dict.fromkeys(variables, returns)))
    return None if returns is Any else (first, returns)


def _held(func: Any, holder: Any, target: Any) -> Any:
    """The one callable a decorator's wrapper holds (in its closure, or as an attribute of the
    decorator object), or None."""
    held: list[Any] = []
    for cell in func.__closure__ or ():
        with contextlib.suppress(ValueError):  # an empty cell
            held.append(cell.cell_contents)
    held.extend(getattr(holder, "__dict__", {}).values())
    found = [
        value
        for value in held
        if callable(value) and not isinstance(value, type) and value is not target
        and value is not holder
    ]  # fmt: skip
    return found[0] if len(found) == 1 else None


def wrapped_by(fn: Any) -> Any:
    """The function ``fn`` forwards its arguments to when it is a decorator's wrapper typed
    with a ParamSpec (``_forwarded``), so that it is called as that function is; else ``fn``."""
    target = fn.__call__ if not inspect.isroutine(fn) and not isinstance(fn, type) else fn
    inner = _forwarded(target) if callable(fn) else None
    return fn if inner is None else wrapped_by(inner)


def _param_spec_part(annotation: Any, part: str) -> bool:
    if isinstance(annotation, str):  # from __future__ import annotations: "P.args"
        return annotation.endswith(f".{part}")
    kind = typing.ParamSpecArgs if part == "args" else typing.ParamSpecKwargs
    return isinstance(annotation, kind)


def _owner(target: Any) -> type | None:
    """The class a method belongs to, which ``typing.Self`` in its annotations stands for: the
    class (or the instance's class) it is bound to, else the class its ``__qualname__`` names
    in its module (``Item.bump`` given unbound); None for a function of no class."""
    if inspect.ismethod(target):
        bound_to = target.__self__
        return bound_to if isinstance(bound_to, type) else type(bound_to)
    path = getattr(target, "__qualname__", "").split(".")[:-1]
    if not path or "<locals>" in path:
        return None
    found: Any = getattr(target, "__globals__", {}).get(path[0])
    for name in path[1:]:
        found = getattr(found, name, None)
    return found if isinstance(found, type) else None


def _bindings(target: Any, owner: type | None) -> dict[Any, Any]:
    """What the type variables of a method's annotations stand for: ``typing.Self`` for its
    class, and a generic class's TypeVars for the type arguments of the instance it is bound
    to (``Store[Order]()``) or of the generic bases of its class (``class Orders(Store[Order])``),
    as type checkers bind them. Empty for a function of no class.

    Each class's TypeVars are bound on their own, from what the class below it gives them: a
    subclass may use the same TypeVar for another type (``class Wrap(Store[list[T]],
    Generic[T])``) or swap them (``class Flipped(Pair[V, K], Generic[K, V])``), and a method
    reads them as the class that defines it sees them."""
    if owner is None:
        return {}
    scopes: dict[Any, dict[Any, Any]] = {}
    made_as = getattr(getattr(target, "__self__", None), "__orig_class__", None)
    if made_as is not None:  # Store[Order](): its own type arguments
        origin = typing.get_origin(made_as)
        params = getattr(origin, "__parameters__", ())
        scopes[origin] = dict(zip(params, typing.get_args(made_as), strict=False))
    for klass in owner.__mro__:  # most derived first: a base's arguments may be its TypeVars
        given = scopes.get(klass, {})
        bases = [
            (typing.get_origin(b), typing.get_args(b))
            for b in vars(klass).get("__orig_bases__", ())
        ]
        # a generic pydantic model's Page[Line] is a class of its own, which says what it
        # parametrises in its metadata rather than in __orig_bases__
        made_from = vars(klass).get("__pydantic_generic_metadata__")
        if isinstance(made_from, dict) and made_from.get("origin") is not None:
            bases.append((made_from["origin"], tuple(made_from.get("args") or ())))
        for base in klass.__bases__:  # Page[list[U]] under class Pages(Page[list[U]]): U
            held = vars(base).get("__pydantic_generic_metadata__")
            if isinstance(held, dict) and held.get("origin") is not None and base not in scopes:
                scopes[base] = {p: given[p] for p in held.get("parameters", ()) if p in given}
        for origin, args in bases:
            params = getattr(origin, "__parameters__", ())
            if origin is not None and origin not in scopes and args and len(params) == len(args):
                scopes[origin] = {
                    param: _substitute(arg, given) for param, arg in zip(params, args, strict=True)
                }
    # Self is the instance's class, with its type arguments when it was made with them
    found: dict[Any, Any] = {typing.Self: owner if made_as is None else made_as}
    found.update(scopes.get(_defining_class(target, owner), {}))
    return found


def _defining_class(target: Any, owner: type) -> type:
    """The class of ``owner``'s MRO whose body defines the method ``target`` (``owner`` when
    none is found)."""
    func = getattr(target, "__func__", target)
    name = getattr(func, "__name__", None)
    for klass in owner.__mro__:
        held = vars(klass).get(name) if isinstance(name, str) else None
        if held is func or getattr(held, "__func__", None) is func:
            return klass
    return owner


def _substitute(annotation: Any, bindings: dict[Any, Any]) -> Any:
    """``annotation`` with the type variables ``bindings`` knows replaced at any depth (those
    it does not know stay, and count as no annotation)."""
    if not bindings:
        return annotation
    try:
        if annotation in bindings:
            return bindings[annotation]
    except TypeError:  # an unhashable annotation: no type variable itself
        pass
    args = typing.get_args(annotation)
    if not args:
        return annotation
    replaced = tuple(_substitute(a, bindings) for a in args)
    if all(a is b for a, b in zip(replaced, args, strict=True)):
        return annotation
    origin = typing.get_origin(annotation)
    try:
        if origin is typing.Union or origin is _UNION_TYPE:
            return typing.Union[replaced]  # noqa: UP007 (built from a tuple)
        if origin is typing.Annotated:
            return typing.Annotated[replaced]
        if isinstance(annotation, _GENERIC_ALIAS):
            return origin[replaced]
        return annotation.copy_with(replaced)
    except Exception:  # a form that cannot be rebuilt: described by nothing, as before
        return annotation


def _hints_one_by_one(
    target: Any, annotations: dict[str, Any], scope: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The annotations of ``target`` that resolve, each on its own, also with the names of its
    closure: a class defined inside a function (under ``from __future__ import annotations``)
    resolves in a function that uses it (``return Address(...)``). Any other is left out."""
    closure = getattr(target, "__closure__", None) or ()
    code = getattr(target, "__code__", None)
    local: dict[str, Any] = dict(scope or {})
    for name, cell in zip(code.co_freevars if code is not None else (), closure, strict=False):
        with contextlib.suppress(ValueError):  # a cell not assigned yet
            local[name] = cell.cell_contents
    module = getattr(target, "__globals__", None)
    hints: dict[str, Any] = {}
    for name, annotation in annotations.items():

        def one() -> None: ...

        one.__annotations__ = {name: annotation}
        with contextlib.suppress(Exception):
            hints[name] = typing.get_type_hints(
                one, globalns=module, localns=local, include_extras=True
            )[name]
    return hints


def overload_note(fn: Any) -> str:
    """What to do when ``fn`` (a step's or an item's function) is overloaded, whose result is
    read in the type its implementation declares, not in the overload a call matches (type
    checkers type the call by the overload): an empty string for any other function."""
    target = getattr(fn, "fn", fn)
    while isinstance(target, functools.partial):
        target = getattr(target.func, "fn", target.func)
    target = inspect.unwrap(getattr(target, "__func__", target))
    try:
        overloaded = bool(typing.get_overloads(target))
    except Exception:  # not a function typing registers overloads for
        overloaded = False
    if not overloaded:
        return ""
    name = getattr(target, "__name__", "the function")
    return (
        f" ({name} is overloaded: its result is read in the type its implementation declares, "
        "not in the overload its arguments match, which is what type checkers give the yield; "
        f"make the step a function that declares one overload's result type and calls {name})"
    )


def result_type(fn: Any) -> Any:
    """The type ``fn`` declares it returns (a ``Generator``'s return type for a workflow).

    ``fn`` is a function, an ``async def`` function, a generator function or a ``@step``
    function; ``Any`` when nothing usable is declared.
    """
    return _declared(fn)[1]


def result_reader(fn: Any) -> Reader:
    """``reader(result_type(fn))``, cached per function: one dict lookup on replay's hot path.

    Call it as ``result_reader(cmd.fn)(payload)``; build the ``what`` of the error message
    only when a ``SerializationError`` is caught, to keep string formatting off that path.
    """
    try:
        known = _fn_readers.get(fn)
    except TypeError:  # unhashable
        return reader(result_type(fn))
    if known is None:
        known = reader(result_type(fn))
        if len(_fn_readers) >= 4096:
            _fn_readers.clear()
        _fn_readers[fn] = known
    return known


_fn_readers: dict[Any, Reader] = {}

#: Types whose JSON payload reads back as the same value of the same type.
_SELF_READING: Final = frozenset({int, str, bool, type(None)})


def plain_result(fn: Any, value: Any, limit: int) -> str | None:
    """The JSON payload of ``value``, a step result of ``fn``, when reading it back in ``fn``'s
    declared result type gives ``value`` itself (an int, str, bool or None, declared as its
    own type or not at all) and it is within ``limit``; otherwise None (take the full way)."""
    kind = type(value)
    if kind not in _SELF_READING:
        return None
    read = result_reader(fn)
    if read is not _read_untyped and read is not _readers.get(kind):
        return None
    try:
        payload = _encoder.encode(value).decode()
    except Exception:  # said by the full way
        return None
    return payload if len(payload) * 4 <= limit else None


def state_type(check: Any) -> Any:
    """The type of a wait-for-condition state: what ``check`` declares it returns, else the
    type of its first parameter (``def check(state: Job)`` takes and returns a ``Job``)."""
    first, returns = _declared(check)
    return first if returns is Any else returns


def input_type(workflow: Any) -> Any:
    """The type of a workflow's first parameter (its input); ``Any`` when not declared."""
    return _declared(workflow)[0]


def decode_batch(
    payload: str | None, item_types: Any | Sequence[Any] = Any, *, what: str = "value"
) -> Any:
    """A recorded Map/Parallel result (either format) as a ``BatchResult``.

    ``item_types`` is one type for every item (a Map, or Parallel branches of one type), or
    one type per item in index order (Parallel branches of different types). None or an empty
    payload is an empty ``BatchResult``.

    Raises:
        SerializationError: the payload is not a batch result, or an item does not fit its type.
    """
    from ._batch import BatchResult

    if not payload:
        return BatchResult(items=[], completion_reason="ALL_COMPLETED")
    if not isinstance(item_types, (list, tuple)):
        return decode(payload, batch_type(item_types), what=what)
    batch = decode(payload, BatchResult, what=what)
    try:
        items = [
            msgspec.structs.replace(
                item,
                result=msgspec.convert(
                    item.result,
                    _item_decodable(item_types[item.index]),
                    dec_hook=_dec_hook,
                    str_keys=True,
                ),
            )
            if item.status == "SUCCEEDED" and item_types[item.index] not in (Any, object)
            else item
            for item in batch.items
        ]
    except (msgspec.ValidationError, IndexError) as exc:
        raise _mismatch(what, item_types, exc) from exc
    return msgspec.structs.replace(batch, items=items)


def _item_decodable(type_: Any) -> Any:
    """``decodable(type_)`` for a branch's declared type, cached per type as ``reader`` is
    (it builds a decoder); one msgspec refuses stays as it is, for ``msgspec.convert`` to
    refuse where the item is read."""
    try:
        known = _item_types.get(type_)
    except TypeError:  # an unhashable type: worked out each time
        known = None
        hashable = False
    else:
        hashable = True
    if known is None:
        try:
            known = decodable(type_)
        except TypeError:
            known = type_
        if hashable and len(_item_types) < 4096:
            _item_types[type_] = known
    return known


#: ``_item_decodable``'s answers, by declared type.
_item_types: dict[Any, Any] = {}


def batch_type(item_type: Any) -> Any:
    """``BatchResult[item_type]``, or the untyped ``BatchResult`` for ``Any``."""
    from ._batch import BatchResult

    if item_type is typing.Never or item_type is typing.NoReturn:
        item_type = None  # no item returns: each one failed, its result None
    return BatchResult if item_type is Any else BatchResult[item_type]


def item_types(cmd: Any) -> Any:
    """What each item of a ``Map`` or ``Parallel`` returns, for ``decode_batch``.

    One type for a ``Map`` (its function's), and for a ``Parallel`` whose branches all declare
    the same type; otherwise a list with one type per branch, in branch order.
    """
    from ._commands import Branch, Map

    if isinstance(cmd, Map):
        return result_type(cmd.fn)
    types = [result_type(b.fn if isinstance(b, Branch) else b) for b in cmd.branches]
    if not types:
        return Any
    return types[0] if all(t == types[0] for t in types) else types


def declared_result(cmd: Any) -> Any:
    """The type a command's result is decoded into: what its yield gives the workflow.

    ``Step``: the function's return annotation; ``WaitForCondition``: ``state_type``; ``Child``:
    the workflow's ``Workflow[R]``; ``Invoke``, ``CreateCallback``'s handle and
    ``WaitForCallback``: their ``result_type`` (``Any`` when not given); ``Map``/``Parallel``:
    ``BatchResult`` of ``item_types`` (untyped when the branches differ: use
    ``decode_batch(payload, item_types(cmd))``); ``Any`` for anything else.
    """
    from ._commands import (
        CallbackHandle,
        Child,
        Invoke,
        Map,
        Parallel,
        Step,
        WaitForCallback,
        WaitForCondition,
    )

    if isinstance(cmd, Step):
        return result_type(cmd.fn)
    if isinstance(cmd, (Invoke, WaitForCallback, CallbackHandle)):
        return Any if cmd.result_type is None else cmd.result_type
    if isinstance(cmd, Child):
        return result_type(cmd.workflow)
    if isinstance(cmd, WaitForCondition):
        return state_type(cmd.check)
    if isinstance(cmd, (Map, Parallel)):
        types = item_types(cmd)
        return batch_type(Any if isinstance(types, list) else types)
    return Any
