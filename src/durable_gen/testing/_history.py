"""Recorded histories in the shapes they are exported in, turned into operations to replay.

Accepted: a list of ``Operation`` (the embedded engine's ``get_operations``), a list of
``Event`` (its ``get_history``), the JSON of either, the JSON of AWS ``GetDurableExecutionState``
(``{"Operations": [...]}``) and ``GetDurableExecutionHistory`` (``{"Events": [...]}``; the
operations are rebuilt from the events), a list of such response pages (one per ``NextMarker``,
in any order; ``ReverseOrder`` pages too), an invocation event (``InitialExecutionState``), and
``TestRunner.export()``'s file (operations, events and the ARN together). Timestamps may be
epoch milliseconds, epoch seconds or ISO 8601 strings (as boto3 and the AWS CLI print them).

Rules of the rebuild from events (each operation takes the state its last event gives it):

1. ``*Started`` opens an operation (STARTED); a step's attempt counts its attempts that ended
   (``RetryDetails.CurrentAttempt``, else one per outcome event), as the service's state does:
   a step whose last event is a ``StepStarted`` was interrupted in the attempt after those.
2. ``*Succeeded``/``*Failed``/``*TimedOut``/``*Stopped``/``*Cancelled`` set the status.
3. A step event whose ``RetryDetails.NextAttemptDelaySeconds`` is 1 or more is a retry: the step
   is PENDING until then. The service accepts no retry delay below one second, so a delay of 0
   (what AWS's emulator writes on the final ``StepFailed``) marks the last attempt: FAILED.
4. ``InvocationCompleted``, ``ExecutionPaused`` and ``ExecutionResumed`` record no operation.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeAlias

import msgspec

from .._arguments import checked
from .._commands import OWN_CONTEXT_SUBTYPES
from .._errors import InvalidInputError, ValidationError, a_kind, finite, shown
from .._wire import (
    LATEST_MS,
    MAX_CONTEXT_RESULT_BYTES,
    TERMINAL_STATUSES,
    ErrorObject,
    Event,
    ExecutionState,
    Operation,
    unicode_error,
    unicode_spot,
)

__all__ = ["History", "HistorySource", "load_history", "operations_from_events"]


class History(msgspec.Struct, frozen=True, kw_only=True):
    """A recorded execution, normalized for replay.

    Attributes:
        operations: The recorded operations, EXECUTION included when the source had it.
        execution_arn: The execution's ARN, when the source names it.
        function_name: The function that ran it, when the source names it.
        status: How the execution ended (``SUCCEEDED``, ``FAILED``, ``TIMED_OUT``,
            ``STOPPED``), ``RUNNING`` when the source shows it has not, None when unknown.
        result: The recorded result payload of a SUCCEEDED execution, when known.
        error: The recorded error of a failed execution, when known.
        source: Where it was read from (a file path), if anywhere.
        warnings: What may make the replay less exact (truncated or missing payloads).
    """

    operations: list[Operation]
    execution_arn: str | None = None
    function_name: str | None = None
    status: str | None = None
    result: str | None = None
    error: ErrorObject | None = None
    source: str | None = None
    warnings: list[str] = msgspec.field(default_factory=list)


#: What ``load_history`` and ``replay`` accept.
HistorySource: TypeAlias = (
    History
    | ExecutionState
    | Sequence[Operation]
    | Sequence[Event]
    | Mapping[str, Any]
    | Sequence[Mapping[str, Any]]
    | str
    | bytes
    | os.PathLike[str]
)


@checked
def load_history(source: HistorySource, *, execution_arn: str | None = None) -> History:
    """Read a recorded history from any accepted shape (see the module docs).

    Args:
        source: Operations, events, a mapping of a service response, JSON text or bytes, or a
            path to a JSON file (a ``str`` that does not start with ``{`` or ``[`` is a path).
        execution_arn: The ARN to use when the source does not name one.

    Raises:
        InvalidInputError: the source is not a history in a known shape.
        ValidationError: ``execution_arn`` is not a non-empty str (or None).
    """
    if execution_arn is not None and (not isinstance(execution_arn, str) or not execution_arn):
        raise ValidationError(
            f"execution_arn must be the execution's ARN (a non-empty str) or None, got "
            f"{shown(execution_arn)}"
        )
    path: str | None = None
    if isinstance(source, History):
        if execution_arn is None or source.execution_arn is not None:
            return source
        return msgspec.structs.replace(source, execution_arn=execution_arn)
    data: Any = source
    if isinstance(data, str) and data.startswith("\ufeff"):
        # JSON text read with encoding="utf-8" from a file that starts with a byte order
        # mark: it was taken for a path (and json.loads refuses the mark)
        data = data[1:]
    if isinstance(data, os.PathLike) or (
        isinstance(data, str) and not data.lstrip().startswith(("{", "["))
    ):
        path = os.fspath(data)
        try:
            data = Path(path).read_bytes()
        except (OSError, ValueError) as exc:  # ValueError: a NUL character in the path
            reason = getattr(exc, "strerror", None) or exc  # strerror: without the name again
            raise InvalidInputError(f"cannot read history file {shown(path)}: {reason}") from exc
    if isinstance(data, ExecutionState) and not data.next_marker:
        data = data.operations
    elif isinstance(data, Mapping) and data and _all_operations(list(data.values())):
        data = list(data.values())  # a runtime's store: its operations by id (docs/embedding.md)
    if _all_operations(data):  # wire models already: nothing to convert or clean
        ops = list(data)
        return History(operations=ops, execution_arn=execution_arn, status=_status_of(ops, None))
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError) as exc:
            where = f" in {path!r}" if path else ""
            problem = (
                "it nests arrays or objects deeper than Python's json module reads (no "
                "recorded history does)"
                if isinstance(exc, RecursionError)
                else exc
            )
            raise InvalidInputError(f"the history{where} is not valid JSON: {problem}") from exc
    if isinstance(data, msgspec.Struct):
        data = msgspec.to_builtins(data)
    elif isinstance(data, Sequence) and not isinstance(data, Mapping):
        data = [msgspec.to_builtins(x) if isinstance(x, msgspec.Struct) else x for x in data]
    history = _from_builtins(data, path)
    if execution_arn is not None and history.execution_arn is None:
        history = msgspec.structs.replace(history, execution_arn=execution_arn)
    return history


def _from_builtins(data: Any, path: str | None) -> History:
    where = f" ({path})" if path else ""
    arn: str | None = None
    function_name: str | None = None
    operations: list[Any] | None = None
    events: list[Any] | None = None
    warnings: list[str] = []
    if _is_pages(data):
        data = _merge_pages(data, where)
    if isinstance(data, Mapping):
        if data.get("NextMarker"):
            warnings.append(
                "this is one page of a longer response (NextMarker is set): fetch every page "
                "and pass them all (a list of the responses) to replay the whole history"
            )
        arn = _text_field(data, "DurableExecutionArn", where)
        function_name = _text_field(data, "FunctionName", where)
        state = data.get("InitialExecutionState")
        if isinstance(state, Mapping):
            operations = _list_field(state, "Operations", where)
        if "Operations" in data:
            operations = _list_field(data, "Operations", where)
        if "Events" in data:
            events = _list_field(data, "Events", where)
        if operations is None and events is None:
            raise InvalidInputError(
                f"not a recorded history{where}: expected a list of operations or events, or a "
                "mapping with 'Operations' (GetDurableExecutionState) or 'Events' "
                f"(GetDurableExecutionHistory); got keys {sorted(data)[:8]}"
            )
    elif isinstance(data, list):
        if data and isinstance(data[0], Mapping) and "EventType" in data[0]:
            events = data
        else:
            operations = data
    else:
        hint = (
            ": pass its history, run.export() (or run.history())"
            if type(data).__name__ == "DurableRun"
            else ""
        )
        raise InvalidInputError(f"not a recorded history{where}: got {type(data).__name__}{hint}")
    status = result = None
    error: ErrorObject | None = None
    if events is not None:
        ops_from_events, end = _rebuild(events, warnings, where)
        status, result, error = end
        if operations is None:
            operations = ops_from_events
    assert operations is not None
    ops = _operations(operations, where)
    return History(
        operations=ops,
        execution_arn=arn,
        function_name=function_name,
        status=_status_of(ops, status),
        result=result,
        error=error,
        source=path,
        warnings=warnings,
    )


def _text_field(data: Mapping[str, Any], key: str, where: str) -> str | None:
    """``data[key]``: a string, or None when absent."""
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInputError(
            f"not a recorded history{where}: {key} must be a string, got {type(value).__name__}"
        )
    bad = None if value is None else unicode_error(value)
    if bad is not None:
        raise InvalidInputError(
            f"not a recorded history{where}: {key} is not valid Unicode text "
            f"({unicode_spot(bad)}), which no service records: the file was edited or written by "
            "a tool that kept a lone surrogate"
        )
    return value


def _list_field(data: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """``data[key]``: a list (None counts as empty)."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise InvalidInputError(
            f"not a recorded history{where}: {key} must be a list, got {type(value).__name__} "
            "(export the whole GetDurableExecutionHistory or GetDurableExecutionState response)"
        )
    return list(value)


def _all_operations(data: Any) -> bool:
    """Whether ``data`` is a non-empty list or tuple of ``Operation`` models."""
    return (
        isinstance(data, list | tuple) and bool(data) and all(type(op) is Operation for op in data)
    )


def _status_of(ops: list[Operation], status: str | None) -> str | None:
    """``status`` (from the events), else the EXECUTION operation's (RUNNING until it ends)."""
    if status is None:
        for op in ops:
            if op.type == "EXECUTION":
                return op.status if op.status in TERMINAL_STATUSES else "RUNNING"
    return status


def _is_pages(data: Any) -> bool:
    """Whether ``data`` is a list of ``GetDurableExecutionHistory``/``State`` responses."""
    return (
        isinstance(data, list)
        and bool(data)
        and all(
            isinstance(page, Mapping)
            and ("Events" in page or "Operations" in page)
            and "EventType" not in page
            and "Type" not in page
            for page in data
        )
    )


def _merge_pages(pages: list[Mapping[str, Any]], where: str) -> dict[str, Any]:
    """One response from its pages: events by ``EventId`` and operations by ``Id``, each once."""
    merged: dict[str, Any] = {}
    events: dict[Any, Any] = {}
    operations: dict[Any, Any] = {}
    for page in pages:
        for key, value in page.items():
            if key not in ("Events", "Operations", "NextMarker", "ResponseMetadata"):
                merged.setdefault(key, value)
        for event in _list_field(page, "Events", where):
            if not isinstance(event, Mapping):
                raise InvalidInputError(f"a history event is not an object{where}: {event!r}")
            events.setdefault(event.get("EventId"), event)
        for op in _list_field(page, "Operations", where):
            if not isinstance(op, Mapping):
                raise InvalidInputError(f"a recorded operation is not an object{where}: {op!r}")
            # a later page may carry a newer version of an operation: keep the last one
            operations[op.get("Id")] = op
    if any("Events" in page for page in pages):
        merged["Events"] = list(events.values())
    if any("Operations" in page for page in pages):
        merged["Operations"] = list(operations.values())
    return merged


def _operations(items: Iterable[Any], where: str) -> list[Operation]:
    try:
        return msgspec.convert([_clean(item, where) for item in items], list[Operation])
    except msgspec.ValidationError as exc:
        raise InvalidInputError(f"a recorded operation is malformed{where}: {exc}") from exc
    except RecursionError:
        raise InvalidInputError(
            f"a recorded operation is malformed{where}: it is nested too deeply to be an "
            "operation (lists or objects inside each other thousands of levels down); pass "
            "the operations as GetDurableExecutionState returns them"
        ) from None


def _clean(value: Any, where: str = "") -> Any:
    """Timestamps to epoch milliseconds (an absent one, None, dropped); everything else as
    is."""
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if isinstance(key, str) and key.endswith("Timestamp"):
                ms = _epoch_ms(item, f"a recorded operation's {key}{where}")
                if ms is not None:
                    out[key] = ms
            else:
                out[key] = _clean(item, where)
        return out
    if isinstance(value, list):
        return [_clean(v, where) for v in value]
    return value


def _epoch_ms(value: Any, what: str) -> int | None:
    """``value`` (epoch ms or seconds, ISO 8601 text, a ``datetime``) as epoch milliseconds;
    None for None (no time recorded); an ``InvalidInputError`` naming ``what`` for anything
    else, or a time before 1970 or past the year 9999."""
    if value is None:
        return None
    given, ms = value, None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and finite(value):
        ms = int(value * 1000) if abs(value) < 1e11 else int(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        if value.utcoffset() is None:  # naive: UTC, as the service writes, not local time
            value = value.replace(tzinfo=UTC)
        try:
            ms = int(value.timestamp() * 1000)
        except (OverflowError, ValueError, OSError):  # year 1 less a day of offset
            ms = None
    if ms is not None and 0 <= ms <= LATEST_MS:
        return ms
    raise InvalidInputError(
        f"{what} is {shown(given, 80)}, which is no time between 1970 and the year 9999: a "
        "timestamp is epoch milliseconds, epoch seconds, ISO 8601 text such as "
        '"2025-01-31T12:00:00Z" or a datetime (or absent); pass the history as '
        "GetDurableExecutionHistory or GetDurableExecutionState returns it, or repair that "
        "field in the file"
    )


# --- operations from GetDurableExecutionHistory events ---------------------------------------

_DONE: Final = {
    "Succeeded": "SUCCEEDED",
    "Failed": "FAILED",
    "TimedOut": "TIMED_OUT",
    "Stopped": "STOPPED",
    "Cancelled": "CANCELLED",
}
#: Event types that record no operation (the invocations, and a pause of the execution).
_NO_OPERATION: Final = frozenset({"InvocationCompleted", "ExecutionPaused", "ExecutionResumed"})
_KINDS: Final = {
    "Step": ("STEP", "StepDetails"),
    "Context": ("CONTEXT", "ContextDetails"),
    "Wait": ("WAIT", "WaitDetails"),
    "Callback": ("CALLBACK", "CallbackDetails"),
    "ChainedInvoke": ("CHAINED_INVOKE", "ChainedInvokeDetails"),
}


@checked
def operations_from_events(events: Iterable[Event | Mapping[str, Any]]) -> list[Operation]:
    """Rebuild the operations an execution recorded from its history events.

    Each operation takes the status, result, error and attempt its last event gives it.
    A step retry (an event with ``NextAttemptDelaySeconds`` of 1 or more) leaves it PENDING;
    the last attempt's event (a delay of 0, or none) ends it.
    """
    items = [msgspec.to_builtins(e) if isinstance(e, msgspec.Struct) else e for e in events]
    ops, _ = _rebuild(items, [], "")
    return _operations(ops, "")


def _split(event_type: str) -> tuple[str, str]:
    for prefix in ("Execution", "ChainedInvoke", "Context", "Step", "Wait", "Callback"):
        if event_type.startswith(prefix):
            return prefix, event_type[len(prefix) :]
    return "", event_type


def _payload(box: Any, what: str, warnings: list[str]) -> tuple[Any, bool]:
    """The ``Payload`` of an ``EventResult``/``EventError``/``EventInput``, and whether it is
    trustworthy (present and not truncated)."""
    if not isinstance(box, Mapping):
        return None, False
    if box.get("Truncated"):
        warnings.append(f"the history truncated {what}; replay sees the truncated value")
        return box.get("Payload"), False
    return box.get("Payload"), "Payload" in box


def _rebuild(
    events: list[Any], warnings: list[str], where: str
) -> tuple[list[dict[str, Any]], tuple[str | None, str | None, ErrorObject | None]]:
    ops: dict[str, dict[str, Any]] = {}
    status: str | None = None
    result: str | None = None
    error: ErrorObject | None = None
    missing_payloads = 0
    execution_id = "execution"
    unknown: set[str] = set()
    for index, event in enumerate(events):
        if not isinstance(event, Mapping):
            raise InvalidInputError(
                f"a history event is malformed{where}: Events[{index}] is "
                f"{a_kind(event)}, not an event object (with EventType, EventId, ...): "
                "pass the events as GetDurableExecutionHistory returns them"
            )
    for index, event in enumerate(events):
        event_id = event.get("EventId")
        if event_id is None or (
            isinstance(event_id, str) and event_id.isascii() and event_id.isdigit()
        ):
            continue
        if isinstance(event_id, bool) or not isinstance(event_id, int) or event_id < 1:
            raise InvalidInputError(
                f"a history event is malformed{where}: the EventId of Events[{index}] "
                f"({shown(event.get('EventType'), 60)}) must be a whole number, 1 or more (the "
                f"event's place in the history), got {shown(event_id, 80)}: pass the events as "
                "GetDurableExecutionHistory returns them"
            )
    ordered = sorted(events, key=lambda e: int(e.get("EventId") or 0))
    for event in ordered:
        kind = event.get("EventType")
        if not isinstance(kind, str):
            raise InvalidInputError(f"a history event has no EventType{where}: {shown(event)}")
        prefix, what = _split(kind)
        details = event.get(f"{kind}Details") or {}
        if not isinstance(details, Mapping):
            raise InvalidInputError(
                f"a history event is malformed{where}: {kind}Details of event "
                f"{shown(event.get('EventId'))} must be an object, got {type(details).__name__}"
            )
        op_id = event.get("Id")
        at = _epoch_ms(
            event.get("EventTimestamp"),
            f"the EventTimestamp of {kind} event {shown(event.get('EventId'))}{where}",
        )
        if prefix == "Execution":
            if what == "Started":
                if op_id is not None and not isinstance(op_id, str):
                    raise InvalidInputError(
                        f"a history event is malformed{where}: ExecutionStarted event "
                        f"{shown(event.get('EventId'))} names its operation by "
                        f"{shown(op_id)}, not by a string Id: pass the events as "
                        "GetDurableExecutionHistory returns them"
                    )
                payload, _ = _payload(details.get("Input"), "the execution input", warnings)
                execution_id = op_id or "execution"
                ops[execution_id] = {
                    "Id": execution_id,
                    "Type": "EXECUTION",
                    "Status": "STARTED",
                    "ExecutionDetails": {"InputPayload": payload} if payload is not None else {},
                }
                if at is not None:
                    ops[execution_id]["StartTimestamp"] = at
                if event.get("Name") is not None:
                    ops[execution_id]["Name"] = event["Name"]
                status = status or "RUNNING"
            elif what in _DONE:
                status = _DONE[what]
                if execution_id in ops:
                    ops[execution_id]["Status"] = status
                    if at is not None:
                        ops[execution_id]["EndTimestamp"] = at
                if what == "Succeeded":
                    result, _ = _payload(details.get("Result"), "the execution result", warnings)
                else:
                    raw, _ = _payload(details.get("Error"), "the execution error", warnings)
                    error = _error(raw)
            continue
        if prefix not in _KINDS:
            if kind not in _NO_OPERATION and kind not in unknown:
                unknown.add(kind)
                warnings.append(
                    f"the history holds events of type {kind!r}, which is none of "
                    "GetDurableExecutionHistory's event types: they were left out of the replay"
                )
            continue  # InvocationCompleted, ExecutionPaused/Resumed: nothing to replay
        if not isinstance(op_id, str) or not op_id:
            raise InvalidInputError(
                f"a history event is malformed{where}: {kind} event {shown(event.get('EventId'))} "
                f"names no operation (its Id is {shown(op_id)}), so the operation it records "
                "cannot be replayed: pass the events as GetDurableExecutionHistory returns them"
            )
        type_, details_key = _KINDS[prefix]
        op = ops.get(op_id)
        if op is None:
            op = ops[op_id] = {"Id": op_id, "Type": type_, "Status": "STARTED", details_key: {}}
            if at is not None:
                op["StartTimestamp"] = at
        for key in ("ParentId", "Name", "SubType"):
            if event.get(key) is not None:
                if not isinstance(event[key], str):
                    raise InvalidInputError(
                        f"a history event is malformed{where}: the {key} of {kind} event "
                        f"{shown(event.get('EventId'))} must be a string, got {shown(event[key])}"
                    )
                op[key] = event[key]
        d: dict[str, Any] = op[details_key]
        label = f"the {kind} payload of {event.get('Name') or op_id!r}"
        if what == "Started":
            op["Status"] = "STARTED"
            if prefix == "Step":
                # rule 1: Attempt counts finished attempts, as the service's state does; the
                # attempt this event opens counts once its outcome is recorded, so a step
                # whose last event is its StepStarted (a process stopped during the attempt)
                # reads as the state reads it, and an at-most-once retry is decided alike
                d["Attempt"] = int(d.get("Attempt") or 0)
                d.pop("NextAttemptTimestamp", None)
            elif prefix == "Wait":
                end = _epoch_ms(
                    details.get("ScheduledEndTimestamp"),
                    f"the ScheduledEndTimestamp of {kind} event "
                    f"{shown(event.get('EventId'))}{where}",
                )
                duration = details.get("Duration")
                if end is None and at is not None and duration is not None:
                    if (
                        isinstance(duration, bool)
                        or not isinstance(duration, int)
                        or duration < 0
                        or at + duration * 1000 > LATEST_MS
                    ):
                        raise InvalidInputError(
                            f"a history event is malformed{where}: the Duration of {kind} event "
                            f"{shown(event.get('EventId'))} must be the whole seconds the wait "
                            f"lasts, ending before the year 10000, got {shown(duration, 80)}; "
                            "give its ScheduledEndTimestamp instead"
                        )
                    end = at + duration * 1000
                if end is not None:
                    d["ScheduledEndTimestamp"] = end
            elif prefix == "Callback" and details.get("CallbackId"):
                d["CallbackId"] = details["CallbackId"]
            continue
        if what not in _DONE:
            continue
        new_status = _DONE[what]
        retry = details.get("RetryDetails") or {}
        if not isinstance(retry, Mapping):
            raise InvalidInputError(
                f"a history event is malformed{where}: the RetryDetails of {kind} event "
                f'{shown(event.get("EventId"))} must be an object such as {{"CurrentAttempt": 1, '
                f'"NextAttemptDelaySeconds": 5}}, got {type(retry).__name__}'
            )
        if prefix == "Step":
            current = retry.get("CurrentAttempt")
            if current is not None:
                if isinstance(current, bool) or not isinstance(current, int) or current < 0:
                    raise InvalidInputError(
                        f"a history event is malformed{where}: the RetryDetails.CurrentAttempt "
                        f"of {kind} event {shown(event.get('EventId'))} must be a whole number of "
                        f"attempts, got {shown(current)}"
                    )
                d["Attempt"] = current
            else:  # one per StepStarted that ended: this one ended here
                d["Attempt"] = int(d.get("Attempt") or 0) + 1
            delay = retry.get("NextAttemptDelaySeconds")
            if delay is not None and (
                isinstance(delay, bool)
                or not isinstance(delay, (int, float))
                or not finite(delay)
                or delay < 0
                or (at is not None and at + delay * 1000 > LATEST_MS)
            ):
                raise InvalidInputError(
                    f"a history event is malformed{where}: the RetryDetails."
                    f"NextAttemptDelaySeconds of {kind} event {shown(event.get('EventId'))} must "
                    "be the seconds until the next attempt (1 or more: a retry; 0 or absent: the "
                    f"last attempt), ending before the year 10000, got {shown(delay, 80)}"
                )
            if delay is not None and delay >= 1:
                new_status = "PENDING"  # rule 3: a retry; a delay of 0 marks the last attempt
                if at is not None:
                    d["NextAttemptTimestamp"] = at + int(delay * 1000)
            else:
                d.pop("NextAttemptTimestamp", None)
        op["Status"] = new_status
        if new_status != "PENDING" and at is not None:
            op["EndTimestamp"] = at
        if "Result" in details:
            payload, exact = _payload(details["Result"], label, warnings)
            d.pop("Error", None)
            if payload is not None:
                d["Result"] = payload
            if prefix == "Context" and new_status == "SUCCEEDED":
                if not exact or _is_summary(op.get("SubType"), payload):
                    d["ReplayChildren"] = True
            elif not exact and payload is None and op.get("SubType") != "Patch":
                missing_payloads += 1
        if "Error" in details:
            raw, _ = _payload(details["Error"], label, warnings)
            if new_status != "PENDING":
                d.pop("Result", None)  # a failed retry keeps a wait-for-condition state
            err = _error(raw)
            if err is not None:
                d["Error"] = msgspec.to_builtins(err)
    if missing_payloads:
        warnings.append(
            f"{missing_payloads} recorded result(s) have no payload: export the history with "
            "execution data (GetDurableExecutionHistory IncludeExecutionData=true); replay "
            "sends None for them"
        )
    warnings += _maybe_summaries(ops)
    return list(ops.values()), (status, result, error)


def _maybe_summaries(ops: dict[str, dict[str, Any]]) -> list[str]:
    """Warnings for child contexts whose recorded result may be a summary events cannot show.

    A context result over 256 KiB is recorded as a stand-in with ``ReplayChildren``, which only
    ``GetDurableExecutionState`` carries. The stand-in is empty unless AWS's SDK wrote it with
    ``ChildConfig(summary_generator=...)``: then it looks like a result. Such a context's own
    operations recorded more than 256 KiB, which is what is flagged.
    """
    below: dict[str, int] = {}
    for op in ops.values():
        size = 0
        for key in ("StepDetails", "ContextDetails", "CallbackDetails", "ChainedInvokeDetails"):
            result = (op.get(key) or {}).get("Result")
            if isinstance(result, str):
                size += len(result.encode())
        parent = op.get("ParentId")
        while parent is not None and size:
            below[parent] = below.get(parent, 0) + size
            parent = (ops.get(parent) or {}).get("ParentId")
    out: list[str] = []
    for op_id, op in ops.items():
        details = op.get("ContextDetails") or {}
        payload = details.get("Result")
        if (
            op.get("Type") == "CONTEXT"
            # a child context: RunInChildContext, or a custom SubType (``ChildConfig(sub_type=)``)
            and op.get("SubType") not in OWN_CONTEXT_SUBTYPES
            and op.get("Status") == "SUCCEEDED"
            and not details.get("ReplayChildren")
            and isinstance(payload, str)
            and payload
            and below.get(op_id, 0) > MAX_CONTEXT_RESULT_BYTES
        ):
            name = op.get("Name") or op_id[:12]
            out.append(
                f"child context {name!r} recorded a result of {len(payload.encode())} bytes "
                f"while its operations recorded {below[op_id]}: if AWS's SDK wrote it with "
                "ChildConfig(summary_generator=...), it is the summary of a result over 256 KiB "
                "(history events do not say so) and replay reads the summary as the result"
            )
    return out


def _error(raw: Any) -> ErrorObject | None:
    if not isinstance(raw, Mapping):
        return None
    try:
        return msgspec.convert(_clean(raw), ErrorObject)
    except (msgspec.ValidationError, RecursionError):
        return ErrorObject(error_message=shown(raw, 30_000))


def _is_summary(sub_type: Any, payload: Any) -> bool:
    """Whether a context result is the stand-in of a ``ReplayChildren`` context."""
    if payload in (None, ""):
        return True
    if sub_type not in ("Map", "Parallel") or not isinstance(payload, str):
        return False
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and "items" not in value and "completionReason" in value
