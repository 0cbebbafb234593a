"""The AWS Lambda durable-execution API shapes, as msgspec Structs.

Field names encode to the API's PascalCase JSON (boto3 ``lambda`` service model, 2015-03-31).
Timestamps are integers of epoch milliseconds, as in the invocation event the Lambda service
sends; the boto3 client converts its ``datetime`` values at the edge.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final, Literal, TypeVar, cast

import msgspec

from ._errors import shown

_T = TypeVar("_T")

__all__ = [
    "CallbackDetails",
    "CallbackOptions",
    "ChainedInvokeDetails",
    "ChainedInvokeOptions",
    "CheckpointResponse",
    "ContextDetails",
    "ContextOptions",
    "ErrorObject",
    "Event",
    "ExecutionDetails",
    "ExecutionState",
    "InvocationInput",
    "InvocationOutput",
    "Operation",
    "OperationUpdate",
    "StepDetails",
    "StepOptions",
    "WaitDetails",
    "WaitOptions",
    "too_large",
]

OperationType = Literal["EXECUTION", "CONTEXT", "STEP", "WAIT", "CALLBACK", "CHAINED_INVOKE"]
OperationStatus = Literal[
    "STARTED", "PENDING", "READY", "SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED"
]
OperationAction = Literal["START", "SUCCEED", "FAIL", "RETRY", "CANCEL"]
InvocationStatus = Literal["SUCCEEDED", "FAILED", "PENDING"]

#: Statuses after which an operation never changes again.
TERMINAL_STATUSES: Final = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED"})

#: Service limits (DESIGN §5).
MAX_PAYLOAD_BYTES: Final = 6 * 1024 * 1024
#: The payload of a STEP, CONTEXT, WAIT, CALLBACK or CHAINED_INVOKE operation: Lambda's API
#: (``OperationUpdate.Payload``) allows 1 MB there; 6 MB only on the EXECUTION operation.
MAX_OPERATION_PAYLOAD_BYTES: Final = 1024 * 1024
MAX_ERROR_BYTES: Final = 32 * 1024
MAX_CONTEXT_RESULT_BYTES: Final = 256 * 1024
MAX_NAME_CHARS: Final = 256
MAX_SUBTYPE_CHARS: Final = 32
MAX_WAIT_SECONDS: Final = 31_622_400
#: The last millisecond of the year 9999 (9999-12-31T23:59:59.999Z), the latest a ``datetime``
#: holds: no clock reaches a later time, so a later epoch-ms value is no time (or another unit).
LATEST_MS: Final = 253_402_300_799_999


# Byte-string methods instead of regular expressions: these run for every new operation.
# ``bytes.isalnum()`` is one table lookup a byte; ``str.isalnum()`` asks the Unicode database
# for each character (about 0.8 µs for a 64-character id, four times ``encode().isalnum()``),
# and a ``fullmatch`` is slower still.
def word_ok(value: str, max_chars: int) -> bool:
    """1 to ``max_chars`` characters of ``[A-Za-z0-9_-]`` (an operation id, a SubType)."""
    if not 0 < len(value) <= max_chars or not value.isascii():
        return False
    raw = value.encode()
    if raw.isalnum():
        return True
    rest = raw.replace(b"-", b"").replace(b"_", b"")
    return not rest or rest.isalnum()


def subtype_ok(value: str) -> bool:
    """A SubType the service takes: 1 to 32 characters of ``[A-Za-z0-9_-]``."""
    return word_ok(value, MAX_SUBTYPE_CHARS)


def plain_text(value: _T) -> _T:
    """``value`` as a plain ``str`` when it is an instance of a subclass of ``str`` (a
    ``class OrderId(str)``, a ``StrEnum`` member: its text, not what ``str()`` of it says);
    anything else unchanged. A name, id or subtype is recorded as text: no encoder writes a
    ``str`` subclass, and one kept in an operation failed the store that wrote it."""
    if isinstance(value, str) and type(value) is not str:
        return cast(_T, str.__str__(value))
    return value


def wire_enc_hook(value: Any) -> Any:
    """``enc_hook`` of the encoders that write wire shapes and stores' records: a ``str``
    subclass given where text is (a function name, an input, a callback's result, an error's
    type) is written as its text, an ``int`` or ``float`` subclass as its number; any other
    type is refused as msgspec refuses it."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):  # not bool, which is written as it is
        return int(value)
    if isinstance(value, float):
        return float(value)
    raise TypeError(f"Encoding objects of type {type(value).__name__} is unsupported")


def name_ok(value: str) -> bool:
    """An operation name the service takes: 1 to 256 printable ASCII characters
    (``[\\x20-\\x7E]``)."""
    return 0 < len(value) <= MAX_NAME_CHARS and value.isascii() and value.isprintable()


#: ChainedInvokeOptions.FunctionName (boto3's lambda model): a name, partial or full ARN.
FUNCTION_NAME: Final = re.compile(
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?(?P<name>[a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)

#: ChainedInvokeOptions.TenantId (boto3's lambda model): 1 to 256 of these characters.
_TENANT_ID: Final = re.compile(r"[a-zA-Z0-9._:/=+\-@ ]{1,256}")


def tenant_id_problem(tenant_id: str) -> str | None:
    """Why Lambda refuses ``tenant_id`` as a chained invoke's TenantId, or None if it accepts it."""
    if _TENANT_ID.fullmatch(tenant_id):
        return None
    return (
        f"tenant_id must be 1 to 256 characters of letters, digits, spaces and . _ : / = + - @ "
        f"(Lambda's ChainedInvokeOptions.TenantId), got {tenant_id!r}"
    )


def too_large(payload: str | None, limit: int = MAX_PAYLOAD_BYTES) -> bool:
    """Whether ``payload`` is over ``limit`` bytes of UTF-8 (measured only when it may be)."""
    return payload is not None and len(payload) * 4 > limit and len(payload.encode()) > limit


class _Shape(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, rename="pascal", gc=False
):
    """Base of every wire shape: frozen, keyword-only, None fields left out of the JSON."""


class ErrorObject(_Shape, frozen=True):
    """An error as the service records it."""

    error_type: str | None = None
    error_message: str | None = None
    error_data: str | None = None
    stack_trace: list[str] | None = None


def unicode_error(text: str) -> UnicodeEncodeError | None:
    """Why ``text`` is not valid Unicode (a lone surrogate, as a ``surrogateescape`` decode
    leaves; no store and no JSON reader carries one), or None for valid text (ASCII at once).
    Messages show ``error.object[error.start : error.end]``, ``error.start`` and
    ``error.reason``."""
    if text.isascii():
        return None
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return exc
    return None


def unicode_spot(error: UnicodeEncodeError) -> str:
    """Where and why text is not valid Unicode, for messages: ``"surrogates not allowed:
    '\\udc80' at character 3"``."""
    return f"{error.reason}: {error.object[error.start : error.end]!r} at character {error.start}"


def error_object_problem(error: ErrorObject) -> str | None:
    """Why ``error`` (built by hand: a Struct does not check its fields) holds something the
    service could not record, or None: its texts are str, its stack trace a list of str, and
    all of them valid Unicode (no JSON reader and no store carries a lone surrogate, as a
    ``surrogateescape`` decode leaves). The reason reads after the error's own name:
    ``f"the callback failure {problem}"``."""
    for field in ("error_type", "error_message", "error_data"):
        value = getattr(error, field)
        if value is not None and not isinstance(value, str):
            text = shown(value, 80)
            advice = " (encode data as JSON text: json.dumps(...))" if field == "error_data" else ""
            return (
                f"cannot be recorded: its {field} is {type(value).__name__} {text}, not a str "
                f"or None{advice}"
            )
    trace = error.stack_trace
    if trace is not None and (
        not isinstance(trace, list) or not all(isinstance(line, str) for line in trace)
    ):
        return (
            f"cannot be recorded: its stack_trace is {type(trace).__name__}, not a list of str "
            "or None"
        )
    fields = ("error_type", "error_message", "error_data")
    texts = [(field, getattr(error, field)) for field in fields]
    texts += [(f"stack_trace[{i}]", line) for i, line in enumerate(trace or ())]
    for field, text in texts:
        exc = None if text is None else unicode_error(text)
        if exc is not None:
            return (
                f"is not valid Unicode text: its {field} holds "
                f"{exc.object[exc.start : exc.end]!r} at character {exc.start} ({exc.reason}); "
                "send valid UTF-8, cleaned with s.encode('utf-8', 'replace').decode() if need be"
            )
    return None


class ExecutionDetails(_Shape, frozen=True):
    input_payload: str | None = None


class ContextDetails(_Shape, frozen=True):
    replay_children: bool | None = None
    result: str | None = None
    error: ErrorObject | None = None


class StepDetails(_Shape, frozen=True):
    attempt: int | None = None
    next_attempt_timestamp: int | None = None
    result: str | None = None
    error: ErrorObject | None = None


class WaitDetails(_Shape, frozen=True):
    scheduled_end_timestamp: int | None = None


class CallbackDetails(_Shape, frozen=True):
    callback_id: str | None = None
    result: str | None = None
    error: ErrorObject | None = None


class ChainedInvokeDetails(_Shape, frozen=True):
    result: str | None = None
    error: ErrorObject | None = None


class Operation(_Shape, frozen=True):
    """One recorded operation of an execution."""

    id: str
    type: OperationType
    status: OperationStatus
    parent_id: str | None = None
    name: str | None = None
    sub_type: str | None = None
    start_timestamp: int | None = None
    end_timestamp: int | None = None
    execution_details: ExecutionDetails | None = None
    context_details: ContextDetails | None = None
    step_details: StepDetails | None = None
    wait_details: WaitDetails | None = None
    callback_details: CallbackDetails | None = None
    chained_invoke_details: ChainedInvokeDetails | None = None


class ContextOptions(_Shape, frozen=True):
    replay_children: bool | None = None


class StepOptions(_Shape, frozen=True):
    next_attempt_delay_seconds: int | None = None


class WaitOptions(_Shape, frozen=True):
    wait_seconds: int | None = None


class CallbackOptions(_Shape, frozen=True):
    timeout_seconds: int | None = None
    heartbeat_timeout_seconds: int | None = None


class ChainedInvokeOptions(_Shape, frozen=True):
    function_name: str
    tenant_id: str | None = None
    x_amzn_trace_id: str | None = None


class OperationUpdate(_Shape, frozen=True):
    """One change an invocation asks the service to record."""

    id: str
    type: OperationType
    action: OperationAction
    parent_id: str | None = None
    name: str | None = None
    sub_type: str | None = None
    payload: str | None = None
    error: ErrorObject | None = None
    context_options: ContextOptions | None = None
    step_options: StepOptions | None = None
    wait_options: WaitOptions | None = None
    callback_options: CallbackOptions | None = None
    chained_invoke_options: ChainedInvokeOptions | None = None


class ExecutionState(_Shape, frozen=True):
    """A page of operations: ``InitialExecutionState``, or a ``GetDurableExecutionState`` reply."""

    operations: list[Operation] = msgspec.field(default_factory=list)
    next_marker: str | None = None


class InvocationInput(_Shape, frozen=True):
    """The event the service sends to a durable function on each invocation."""

    durable_execution_arn: str
    checkpoint_token: str
    initial_execution_state: ExecutionState = msgspec.field(default_factory=ExecutionState)
    #: The operations the service changed since the last invocation received the state (a wait
    #: fired, a callback answered, a retry timer fired); None when the event does not say.
    updated_operation_ids: list[str] | None = None


class InvocationOutput(_Shape, frozen=True):
    """What a durable function returns from an invocation."""

    status: InvocationStatus
    result: str | None = None
    error: ErrorObject | None = None


class CheckpointResponse(_Shape, frozen=True):
    """The reply to ``CheckpointDurableExecution``: the new token and the operations it changed.

    No token (None): the updates are recorded, but the invocation may checkpoint nothing more
    (the execution was paused, or that checkpoint ended it); it ends PENDING.
    """

    checkpoint_token: str | None = None
    new_execution_state: ExecutionState = msgspec.field(default_factory=ExecutionState)


class Event(_Shape, frozen=True):
    """One ``GetDurableExecutionHistory`` event.

    Details stay plain mappings (``{"Result": {"Payload": "..."}}``), exactly as the API writes
    them; ``details_key()`` names the one that is set.
    """

    event_type: str
    event_id: int
    event_timestamp: int | None = None
    id: str | None = None
    name: str | None = None
    sub_type: str | None = None
    parent_id: str | None = None
    execution_started_details: dict[str, Any] | None = None
    execution_succeeded_details: dict[str, Any] | None = None
    execution_failed_details: dict[str, Any] | None = None
    execution_timed_out_details: dict[str, Any] | None = None
    execution_stopped_details: dict[str, Any] | None = None
    context_started_details: dict[str, Any] | None = None
    context_succeeded_details: dict[str, Any] | None = None
    context_failed_details: dict[str, Any] | None = None
    wait_started_details: dict[str, Any] | None = None
    wait_succeeded_details: dict[str, Any] | None = None
    wait_cancelled_details: dict[str, Any] | None = None
    step_started_details: dict[str, Any] | None = None
    step_succeeded_details: dict[str, Any] | None = None
    step_failed_details: dict[str, Any] | None = None
    chained_invoke_started_details: dict[str, Any] | None = None
    chained_invoke_succeeded_details: dict[str, Any] | None = None
    chained_invoke_failed_details: dict[str, Any] | None = None
    chained_invoke_timed_out_details: dict[str, Any] | None = None
    chained_invoke_stopped_details: dict[str, Any] | None = None
    callback_started_details: dict[str, Any] | None = None
    callback_succeeded_details: dict[str, Any] | None = None
    callback_failed_details: dict[str, Any] | None = None
    callback_timed_out_details: dict[str, Any] | None = None
    invocation_completed_details: dict[str, Any] | None = None


def details_field(event_type: str) -> str:
    """The snake_case ``Event`` field holding the details of ``event_type`` events."""
    out = [event_type[0].lower()]
    for ch in event_type[1:]:
        out.append("_" + ch.lower() if ch.isupper() else ch)
    return "".join(out) + "_details"


_json_encoder: Final = msgspec.json.Encoder(enc_hook=wire_enc_hook)


def encode(shape: msgspec.Struct) -> bytes:
    """Encode a wire shape to its API JSON."""
    return _json_encoder.encode(shape)


def to_builtins(shape: msgspec.Struct) -> Any:
    """A wire shape as plain dicts and lists (what boto3 takes and returns)."""
    return msgspec.to_builtins(shape)


# --- a value built by hand with a field of another type --------------------------------------


def wrong_field(value: msgspec.Struct, where: str) -> str | None:
    """The first field of a wire value that is not of its declared type, as ``"name is 5,
    not a str"``; None when every field is."""
    for field in _fields(type(value)):
        got = getattr(value, field.name)
        if got is None and field.default is None:  # most options are left out
            continue
        if not _fits(got, field.type):
            return f"{where}{field.name} is {shown(got)}, not {_described(field.type)}"
        if isinstance(got, msgspec.Struct):
            wrong = wrong_field(got, f"{where}{field.name}.")
            if wrong is not None:
                return wrong
    return None


@functools.cache
def _fields(cls: type[msgspec.Struct]) -> tuple[msgspec.inspect.Field, ...]:
    import msgspec.inspect  # only the check of a hand-built value needs it

    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    return info.fields


def _fits(got: object, type_: msgspec.inspect.Type) -> bool:
    mi = msgspec.inspect
    if isinstance(type_, mi.UnionType):
        return any(_fits(got, option) for option in type_.types)
    if isinstance(type_, mi.NoneType):
        return got is None
    if isinstance(type_, mi.StrType):
        return isinstance(got, str)
    if isinstance(type_, mi.BoolType):
        return type(got) is bool
    if isinstance(type_, mi.IntType):
        return isinstance(got, int) and type(got) is not bool
    if isinstance(type_, mi.FloatType):
        return isinstance(got, int | float) and type(got) is not bool
    if isinstance(type_, mi.LiteralType):
        return isinstance(got, str | int) and any(got == v for v in type_.values)
    if isinstance(type_, mi.ListType):
        return isinstance(got, list | tuple) and all(_fits(i, type_.item_type) for i in got)
    if isinstance(type_, mi.StructType):
        return type(got) is type_.cls
    return True  # Any and the like


def _described(type_: msgspec.inspect.Type) -> str:
    mi = msgspec.inspect
    if isinstance(type_, mi.UnionType):
        return " or ".join(_described(option) for option in type_.types)
    if isinstance(type_, mi.NoneType):
        return "None"
    if isinstance(type_, mi.LiteralType):
        return "one of " + ", ".join(repr(v) for v in type_.values)
    if isinstance(type_, mi.StructType):
        return f"a {type_.cls.__name__}"
    names = {mi.StrType: "a str", mi.IntType: "an int", mi.BoolType: "a bool"}
    names[mi.FloatType] = "a number"
    names[mi.ListType] = "a list"
    return names.get(type(type_), "its declared type")
