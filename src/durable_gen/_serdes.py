"""Payload serialization: JSON through msgspec by default, or a user's own ``Serdes``.

Nothing read from a history is ever unpickled or evaluated: payloads are strings, decoded as
JSON unless the operation names another serdes.
"""

from __future__ import annotations

from typing import Any, Final, Protocol, runtime_checkable

import msgspec

from ._errors import PayloadTooLargeError, SerializationError
from ._wire import too_large

__all__ = ["JsonSerdes", "Serdes", "dumps", "loads"]


@runtime_checkable
class Serdes(Protocol):
    """Turns values into payload strings and back. Must be deterministic."""

    def serialize(self, value: Any) -> str:
        """The payload string for ``value``."""
        ...

    def deserialize(self, payload: str) -> Any:
        """The value of a payload string produced by ``serialize``."""
        ...


_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder()


class JsonSerdes:
    """The default serdes: JSON (msgspec). Tuples come back as lists, as with any JSON."""

    __slots__ = ()

    def serialize(self, value: Any) -> str:
        try:
            return _encoder.encode(value).decode()
        except (TypeError, msgspec.EncodeError, OverflowError) as exc:
            raise SerializationError(
                f"a value of type {type(value).__name__} cannot be serialized to JSON ({exc}); "
                "return JSON-compatible data (dict, list, str, int, float, bool, None, "
                "msgspec Structs, dataclasses) or pass serdes= to the operation"
            ) from exc

    def deserialize(self, payload: str) -> Any:
        try:
            return _decoder.decode(payload)
        except msgspec.DecodeError as exc:
            raise SerializationError(
                f"a recorded payload is not valid JSON ({exc}): the history was written with "
                "another serdes; pass the same serdes= to the operation"
            ) from exc


DEFAULT_SERDES: Final = JsonSerdes()


def dumps(value: Any, serdes: Serdes | None = None, *, what: str = "value") -> str:
    """Serialize ``value`` with ``serdes`` (JSON by default), enforcing the payload limit."""
    if serdes is None:
        try:
            payload = _encoder.encode(value).decode()
        except (TypeError, msgspec.EncodeError, OverflowError):
            try:
                payload = DEFAULT_SERDES.serialize(value)  # raises with the full message
            except SerializationError as exc:  # say whose value it was
                raise SerializationError(f"{what}: {exc}{_command_advice(value)}") from exc
    else:
        try:
            payload = serdes.serialize(value)
        except SerializationError:
            raise
        except Exception as exc:
            raise SerializationError(
                f"the serdes of {what} failed to serialize it: {exc!r}"
            ) from exc
        if not isinstance(payload, str):
            raise SerializationError(
                f"the serdes of {what} returned {type(payload).__name__}; it must return str"
            )
    if too_large(payload):
        raise PayloadTooLargeError(
            f"{what} serializes to {len(payload.encode())} bytes, over the 6 MiB payload limit; "
            "keep large data elsewhere (a bucket, a database) and pass a reference"
        )
    return payload


def _command_advice(value: Any) -> str:
    from ._commands import Command  # the failure path only (commands import this module)

    if isinstance(value, Command):
        return (
            ". It is a command, not its result: yield it and use what the yield returns "
            "(`return (yield cmd)`)"
        )
    return ""


def loads(payload: str | None, serdes: Serdes | None = None) -> Any:
    """Deserialize a recorded payload (None or empty: None)."""
    if not payload:
        return None
    if serdes is None:
        try:
            return _decoder.decode(payload)
        except msgspec.DecodeError:
            return DEFAULT_SERDES.deserialize(payload)  # raises with the full message
    try:
        return serdes.deserialize(payload)
    except SerializationError:
        raise
    except Exception as exc:
        raise SerializationError(f"the serdes failed to deserialize a payload: {exc!r}") from exc
