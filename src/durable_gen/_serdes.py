"""Payload serialization: the codec (``_codec``) by default, or a user's own ``Serdes``.

Nothing read from a history is ever unpickled or evaluated: payloads are strings, decoded as
JSON (plain, or AWS's typed envelope) unless the operation names another serdes. The default
path decodes into a declared type when the caller passes one (``loads(..., type_=T)``).
"""

from __future__ import annotations

from types import CoroutineType
from typing import Any, Final

from . import _codec
from ._codec import PayloadFormat
from ._errors import SerializationError
from ._serdes_protocol import Serdes as Serdes
from ._wire import MAX_PAYLOAD_BYTES, plain_text, unicode_error, unicode_spot

__all__ = ["JsonSerdes", "PayloadFormat", "Serdes", "dumps", "loads"]


class JsonSerdes:
    """The default serdes: JSON (msgspec), reading AWS's typed envelope too.

    Without a declared type, values come back as JSON values: tuples and sets as lists,
    datetime, Decimal and UUID as strings (see docs/guide.md, "Values and types").
    """

    __slots__ = ()

    def serialize(self, value: Any) -> str:
        return _codec.encode(value)

    def deserialize(self, payload: str) -> Any:
        return _codec.decode(payload)


DEFAULT_SERDES: Final = JsonSerdes()


def dumps(
    value: Any,
    serdes: Serdes | None = None,
    *,
    what: str = "value",
    format: PayloadFormat = "json",
    limit: int = MAX_PAYLOAD_BYTES,
) -> str:
    """Serialize ``value`` with ``serdes`` (the codec in ``format`` by default), within
    ``limit`` bytes (6 MiB unless an operation's payload: ``MAX_OPERATION_PAYLOAD_BYTES``)."""
    if serdes is None:
        try:
            return _codec.encode(value, what=what, format=format, limit=limit)
        except SerializationError as exc:
            advice = _command_advice(value)
            if not advice:
                raise
            raise SerializationError(f"{exc}{advice}") from exc
    try:
        payload = serdes.serialize(value)
    except SerializationError:
        raise
    except Exception as exc:
        raise SerializationError(f"the serdes of {what} failed to serialize it: {exc!r}") from exc
    if not isinstance(payload, str):
        if isinstance(payload, CoroutineType):
            payload.close()  # no "never awaited" warning: it never runs
            raise SerializationError(
                f"the serdes of {what} returned a coroutine: its serialize is an async def, "
                "but a serdes is called synchronously; make serialize a plain def"
            )
        raise SerializationError(
            f"the serdes of {what} returned {type(payload).__name__}; it must return str"
        )
    payload = plain_text(payload)  # a str subclass is recorded as its text
    bad = unicode_error(payload)
    if bad is not None:
        raise SerializationError(
            f"the serdes of {what} returned text that is not valid Unicode ({unicode_spot(bad)}), "
            "which no payload, store or JSON reader carries: make serialize return valid text "
            "(s.encode('utf-8', 'replace').decode() cleans it)"
        )
    _codec.check_size(payload, what, limit)
    return payload


def _command_advice(value: Any) -> str:
    from ._commands import Command  # the failure path only (commands import this module)

    if isinstance(value, Command):
        return (
            ". It is a command, not its result: yield it and use what the yield returns "
            "(`return (yield cmd)`)"
        )
    return ""


def loads(
    payload: str | None,
    serdes: Serdes | None = None,
    *,
    type_: Any = Any,
    what: str = "a recorded payload",
) -> Any:
    """Deserialize a recorded payload (None or empty: None), into ``type_`` by default."""
    if not payload:
        return None
    if serdes is None:
        return _codec.decode(payload, type_, what=what)
    try:
        value = serdes.deserialize(payload)
    except SerializationError:
        raise
    except Exception as exc:
        raise SerializationError(
            f"the serdes failed to deserialize {what}: {exc!r} (a serdes must read back what its "
            "serialize wrote)"
        ) from exc
    if isinstance(value, CoroutineType):  # an async def deserialize: the workflow got this
        value.close()
        raise SerializationError(
            f"the serdes of {what} returned a coroutine from deserialize, not a value: its "
            "deserialize is an async def, but a serdes is called synchronously; make "
            "deserialize a plain def"
        )
    return value
