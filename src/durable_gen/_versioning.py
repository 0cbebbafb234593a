"""Commands for workflow code that changes, and for values a workflow must not read directly.

Versioning: ``Patched`` and ``Deprecated`` leave a marker operation whose id comes from the
context id and the change id, never from the position counter, so adding them shifts no
operation id and old and new executions both replay. Deterministic helpers: ``Now`` is a
checkpointed step (the host's clock is read by the host running the step, never by the
interpreter); ``UUID`` and ``Random`` are derived from the execution ARN, the context id and a
per-context draw counter, so they need no checkpoint. The interpreter answers all of them; the
rules are in ``durable_gen._interpreter``'s handlers and in the docs (docs/versioning.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from hashlib import blake2b
from typing import TYPE_CHECKING, Any, Final

import msgspec

from ._commands import Command
from ._errors import SerializationError, ValidationError, WorkflowDefinitionError, finite, shown
from ._guard import made
from ._wire import MAX_NAME_CHARS, Operation, plain_text

if TYPE_CHECKING:
    import random

__all__ = [
    "NOW_SUBTYPE",
    "PATCH_SUBTYPE",
    "Deprecated",
    "Now",
    "Patched",
    "Random",
    "UUID",
    "derive_seed",
    "is_marker",
    "marker_id",
    "clock_time",
]

#: SubType of the STEP that records a ``Patched``/``Deprecated`` decision.
PATCH_SUBTYPE: Final = "Patch"
#: SubType of the STEP that records a ``Now()``.
NOW_SUBTYPE: Final = "Now"


def _check_change_id(change_id: object, what: str) -> None:
    if (
        not isinstance(change_id, str)
        or not 1 <= len(change_id) <= MAX_NAME_CHARS
        or not all(" " <= c <= "~" for c in change_id)
    ):
        needs = "Now name must be a string" if what == "Now" else f"{what} needs a change id"
        raise ValidationError(
            f"{needs} of 1 to {MAX_NAME_CHARS} printable ASCII characters "
            f"(it is recorded as an operation name), got {shown(change_id)}"
        )


class Patched(Command[bool], frozen=True):
    """Ask whether this execution runs the code after change ``change_id``.

    ``yield Patched("id")`` returns True in executions that reach this point with the new code
    (a marker operation is recorded), and False in executions that had already gone past this
    point before the change was deployed (they keep the old path on every replay). The marker's
    id does not come from the position counter, so operation ids do not shift.

    Example::

        if (yield dg.Patched("send-receipt")):
            yield send_receipt(order)      # new code
        yield ship(order)                  # recorded by old and new executions alike

    Args:
        change_id: A name for the change, unique within the workflow (printable ASCII).
    """

    change_id: str

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "change_id", plain_text(self.change_id))
        _check_change_id(self.change_id, "Patched")
        made(self)  # built and never yielded: reported as any command is

    def __bool__(self) -> bool:
        # `if dg.Patched("x"):` tests the command, which is not the answer: every execution,
        # those that went past this point with the old code included, would take the new path
        raise WorkflowDefinitionError(
            f"Patched({self.change_id!r}) was tested as a condition without `yield`: the "
            "command is not the answer, and every execution (those that went past this point "
            "with the old code too) would take the new path. Write "
            f"`if (yield dg.Patched({self.change_id!r})):`"
        )


class Deprecated(Command[None], frozen=True):
    """Mark the old side of ``Patched(change_id)`` as removed; the yield returns None.

    Replace ``if (yield Patched(x)): new else: old`` with ``yield Deprecated(x)`` followed by
    the new code once no execution that took the old path is running. An execution that did
    take the old path fails with ``NonDeterminismError`` naming the change, instead of
    diverging somewhere further on. ``Deprecated`` records the same marker as ``Patched``.

    Args:
        change_id: The id given to ``Patched``.
    """

    change_id: str

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "change_id", plain_text(self.change_id))
        _check_change_id(self.change_id, "Deprecated")
        made(self)


class Now(Command[datetime], frozen=True, kw_only=True):
    """The current time as an aware UTC ``datetime``, read once and checkpointed.

    Recorded as a STEP (subtype ``Now``); every replay returns the recorded time. Never call
    ``datetime.now()`` or ``time.time()`` in workflow code.

    Args:
        name: The operation name (default ``"now"``).
    """

    name: str | None = None

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "name", plain_text(self.name))
        if self.name is not None:
            _check_change_id(self.name, "Now")
        made(self)

    @property
    def op_name(self) -> str:
        """The recorded name."""
        return self.name if self.name is not None else "now"


class UUID(Command[uuid.UUID], frozen=True):
    """A version-4 ``uuid.UUID``, the same on every replay; nothing is recorded.

    Derived from the execution ARN, the context id and how many ``UUID``/``Random`` values the
    context drew before, so two executions (or two calls) get different values.
    """

    @staticmethod
    def from_seed(seed: bytes) -> uuid.UUID:
        """The UUID for a 32-byte seed."""
        return uuid.UUID(bytes=seed[:16], version=4)


class Random(Command["random.Random"], frozen=True):
    """A ``random.Random`` generator seeded deterministically; nothing is recorded.

    Use it like the ``random`` module (``rng.random()``, ``rng.randint(1, 6)``,
    ``rng.choice(xs)``): the sequence is the same on every replay. It is seeded like ``UUID``.
    """

    @staticmethod
    def from_seed(seed: bytes) -> random.Random:
        """The generator for a 32-byte seed."""
        # Imported here: the interpreter's modules read no randomness; a seeded generator is
        # deterministic, and only workflows that ask for one load the module.
        import random

        return random.Random(int.from_bytes(seed, "big"))


def marker_id(context_id: str | None, change_id: str) -> str:
    """The operation id of the marker of ``change_id`` in context ``context_id``.

    It hashes a key that no positional id uses (those hash ``"n"`` or ``"parent-n"``).
    """
    key = f"{context_id or ''}:patch:{change_id}"
    return blake2b(key.encode()).hexdigest()[:64]


def is_marker(op: Operation) -> bool:
    """True for a recorded ``Patched``/``Deprecated`` marker."""
    return op.type == "STEP" and op.sub_type == PATCH_SUBTYPE


def derive_seed(execution_arn: str, context_id: str | None, draw: int) -> bytes:
    """32 bytes for the ``draw``-th (1-based) ``UUID``/``Random`` of a context."""
    key = f"{execution_arn}\x00{context_id or ''}\x00{draw}"
    return blake2b(key.encode(), digest_size=32).digest()


# --- the clock behind Now() -------------------------------------------------------------------


def clock_time(clock: Callable[[], float] | None) -> datetime:
    """What ``Now()``'s step returns: the host clock's time (epoch seconds) as a UTC datetime.

    The interpreter never reads a clock: the host gives it one (``Interpreter(clock=...)``,
    ``invoke(clock=...)``), and this runs in the host, as the step's function.
    """
    if clock is None:
        raise ValidationError(
            "Now() needs the host's clock: build the Interpreter with clock=... (a function "
            "returning epoch seconds, such as time.time)"
        )
    if type(clock) is EpochSeconds and clock.read_ms is not None:
        # Exact: a float of epoch seconds past the year ~2200 cannot hold every microsecond,
        # and a virtual clock may start anywhere up to 9999.
        return time_of_ms(clock.read_ms())
    return datetime.fromtimestamp(read_clock(clock), UTC)


def time_of_ms(epoch_ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime, to the millisecond at any date."""
    seconds, ms = divmod(epoch_ms, 1000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=ms * 1000)


#: Epoch seconds past this (year 5138) are epoch milliseconds read as seconds.
_LATEST_SECONDS: Final = 100_000_000_000


class EpochSeconds:
    """A clock known to read epoch seconds (the embedded engine's own, virtual or real): any
    time it gives up to the year 9999 is taken as it is, where a clock a host passed is read
    past the year 5138 as epoch milliseconds given by mistake. ``read_ms``, when given, reads
    the same clock in whole epoch milliseconds, which ``Now()`` then takes exactly."""

    __slots__ = ("read", "read_ms")

    def __init__(self, read: Callable[[], float], read_ms: Callable[[], int] | None = None) -> None:
        self.read = read
        self.read_ms = read_ms

    def __call__(self) -> float:
        return self.read()


def read_clock(clock: Callable[[], float]) -> float:
    """The host clock's time, checked to be epoch seconds: a ``ValidationError`` that says so
    for anything else (milliseconds, the usual slip, since the store functions take ms)."""
    now = clock()
    if type(now) is not float and type(now) is not int:  # also not a bool
        what = type(now).__name__
    elif not finite(now) or now < 0:
        what = shown(now)
    elif now >= _LATEST_SECONDS and not isinstance(clock, EpochSeconds):
        what = f"{now!r}, epoch milliseconds (as seconds, a date past the year 5000)"
    else:
        return now
    raise ValidationError(
        f"clock= returns epoch seconds as a number (as time.time does), got {what}: pass "
        "clock=time.time, or lambda: now_ms / 1000 for a clock of epoch milliseconds"
    )


class TimeSerdes:
    """Payloads of ``Now()``: an ISO 8601 JSON string, decoded back to an aware datetime."""

    __slots__ = ()

    def serialize(self, value: Any) -> str:
        if not isinstance(value, datetime):
            raise SerializationError(f"Now() recorded {value!r}, not a datetime")
        return msgspec.json.encode(value.isoformat()).decode()

    def deserialize(self, payload: str) -> Any:
        try:
            return datetime.fromisoformat(msgspec.json.decode(payload, type=str))
        except (msgspec.DecodeError, ValueError) as exc:
            raise SerializationError(
                f"a recorded Now() payload is not a time: {payload!r}"
            ) from exc


TIME_SERDES: Final = TimeSerdes()
