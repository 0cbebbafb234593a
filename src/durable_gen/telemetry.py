"""One ``DurableExecutionTelemetry`` record (schema 1.0) per execution, written when it ends.

``TelemetryPlugin`` builds the record from the plugin hooks: the invocation that ends the
execution knows every operation (the ones it received and the changes it saw), so the record is
complete even when earlier invocations ran elsewhere. Rules:

1. The record is a JSON object on one line: ``recordType``, ``schemaVersion``, the execution's
   identity parsed from its ARN (``executionArn``, ``executionName``, ``functionName``,
   ``functionQualifier``, ``region``, ``accountId``), ``status``, ``startTime``, ``endTime``,
   ``emittedAt`` (ISO 8601, UTC, ``Z``), ``durationMs``, optionally ``input`` and ``output``
   (decoded JSON), ``error`` (``errorType``, ``errorMessage``) when it failed, and
   ``operationsByName``.
2. ``operationsByName`` sums the operations of each name: ``type``, ``subType``, ``status`` (of
   the last to end), ``count``, ``failedCount``, ``maxAttempt`` (steps), and ``minDurationMs``,
   ``maxDurationMs``, ``totalDurationMs`` over those that ended. ``operations="top-level"``
   (default) counts only operations outside any context, ``"all"`` every one, ``"none"`` leaves
   the field out.
3. ``sample_rate`` keeps a fraction of executions, chosen from the ARN (every invocation of one
   execution agrees). The record goes to ``sink``: a ``logging.Logger`` (one INFO line) or any
   callable taking the JSON text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Final, Literal

from ._arguments import checked
from ._errors import ValidationError, shown
from ._logger import ReplayAwareLogger
from ._plugins import (
    _REMEMBERED_EXECUTIONS,
    TERMINAL,
    AttemptInfo,
    ExecutionInfo,
    InvocationInfo,
    OperationSnapshot,
    Plugin,
    PluginClock,
    checked_clock,
)
from ._versioning import time_of_ms

__all__ = ["RECORD_TYPE", "SCHEMA_VERSION", "TelemetryPlugin"]

#: What the record is written to with ``.info(line)``.
_LOGGERS: Final = (logging.Logger, logging.LoggerAdapter)

RECORD_TYPE: Final = "DurableExecutionTelemetry"
SCHEMA_VERSION: Final = "1.0"

OperationDetail = Literal["top-level", "all", "none"]


def _iso(ms: int) -> str:
    stamp = time_of_ms(ms).isoformat(timespec="milliseconds")  # exact at any date
    return stamp.replace("+00:00", "Z")


def _decode(payload: str | None) -> Any:
    if payload is None or payload == "":
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return payload


def identity(execution_arn: str) -> dict[str, str]:
    """The identity fields of a record, parsed from a durable execution ARN.

    ``arn:<partition>:lambda:<region>:<account>:function:<name>:<qualifier>/durable-execution/
    <execution>/<id>``; the fields that cannot be found are left out.
    """
    fields = {"executionArn": execution_arn}
    parts = execution_arn.split(":", 7)
    if len(parts) == 8:
        fields["region"], fields["accountId"], fields["functionName"] = parts[3], parts[4], parts[6]
        resource = parts[7].split("/")
        fields["functionQualifier"] = resource[0]
        if len(resource) >= 3 and resource[1] == "durable-execution":
            fields["executionName"] = resource[2]
    return {key: value for key, value in fields.items() if value}


class TelemetryPlugin(Plugin):
    """Writes a ``DurableExecutionTelemetry`` record when an execution ends.

    Args:
        sink: Where the record goes: a ``logging.Logger`` (default: the
            ``durable_gen.telemetry`` logger; also a ``LoggerAdapter``, or ``dg.get_logger(...)``,
            whose ``Logger`` is used), at INFO, or a callable taking the record's JSON text.
        include_input: Put the execution input in the record.
        include_output: Put the execution result in the record.
        operations: ``"top-level"`` (default), ``"all"`` or ``"none"`` (see the module docs).
        sample_rate: The fraction of executions to record, 0 to 1.
        clock: Epoch milliseconds for ``endTime`` and ``emittedAt`` (default: the wall
            clock; pass the engine's ``now_ms`` when it runs on a virtual clock).
    """

    @checked
    def __init__(
        self,
        sink: logging.Logger
        | logging.LoggerAdapter[Any]
        | ReplayAwareLogger
        | Callable[[str], Any]
        | None = None,
        *,
        include_input: bool = False,
        include_output: bool = False,
        operations: OperationDetail = "top-level",
        sample_rate: float = 1.0,
        clock: Callable[[], int] | None = None,
    ) -> None:
        if operations not in ("top-level", "all", "none"):
            raise ValidationError(
                f"operations must be 'top-level', 'all' or 'none', got {shown(operations)}"
            )
        if (
            isinstance(sample_rate, bool)
            or not isinstance(sample_rate, (int, float))
            or not 0 <= sample_rate <= 1
        ):
            raise ValidationError(
                f"sample_rate must be a number between 0 and 1, got {shown(sample_rate)}"
            )
        for flag, value in (("include_input", include_input), ("include_output", include_output)):
            if not isinstance(value, bool):
                raise ValidationError(f"{flag} must be True or False, got {shown(value)}")
        if isinstance(sink, ReplayAwareLogger):  # dg.get_logger(...): the Logger it wraps
            sink = sink.logger
        if sink is not None and not isinstance(sink, _LOGGERS) and not callable(sink):
            raise ValidationError(
                "sink must be a logging.Logger (or dg.get_logger(...), or a LoggerAdapter) or "
                f"a callable taking the record's JSON text, got {shown(sink)}"
            )
        if clock is not None:
            clock = checked_clock(
                clock, "milliseconds", "TelemetryPlugin", "on a VirtualClock: service.clock.now_ms"
            )
        self._sink = sink if sink is not None else logging.getLogger("durable_gen.telemetry")
        self.include_input = include_input
        self.include_output = include_output
        self.operations: OperationDetail = operations
        self.sample_rate = sample_rate
        #: ``clock``, or the wall clock; a test runner lends its virtual clock to a plugin
        #: without ``clock`` while it runs workflows.
        self._clock = PluginClock(clock, lambda: time.time_ns() // 1_000_000, 1)
        self._lock = threading.Lock()
        self._ops: dict[str, dict[str, OperationSnapshot]] = {}
        self._attempts: dict[str, dict[str, int]] = {}

    def sampled(self, execution_arn: str) -> bool:
        """Whether ``sample_rate`` keeps this execution."""
        if self.sample_rate >= 1:
            return True
        digest = hashlib.sha256(execution_arn.encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.sample_rate

    def on_invocation_start(self, info: InvocationInfo) -> None:
        arn = info.execution_arn
        with self._lock:
            self._ops.pop(arn, None)
            self._ops[arn] = {op.operation_id: op for op in info.operations}
            self._attempts[arn] = self._attempts.pop(arn, {})
            # an execution that ends in another process, or an invocation that crashed, never
            # reaches this process's on_invocation_end: keep the most recent executions only
            for kept in (self._ops, self._attempts):
                while len(kept) > _REMEMBERED_EXECUTIONS:
                    del kept[next(iter(kept))]

    def on_operation_change(self, op: OperationSnapshot) -> None:
        with self._lock:
            self._ops.setdefault(op.execution_arn, {})[op.operation_id] = op

    def on_attempt_start(self, attempt: AttemptInfo) -> None:
        with self._lock:
            seen = self._attempts.setdefault(attempt.execution_arn, {})
            seen[attempt.operation_id] = max(seen.get(attempt.operation_id, 0), attempt.attempt)

    def on_invocation_end(self, info: InvocationInfo, status: str) -> None:
        with self._lock:
            self._ops.pop(info.execution_arn, None)
            if status != "PENDING":
                self._attempts.pop(info.execution_arn, None)

    def on_execution_end(
        self, info: ExecutionInfo, status: str, result: str | None, error: Any
    ) -> None:
        if not self.sampled(info.execution_arn):
            return
        with self._lock:
            ops = list(self._ops.get(info.execution_arn, {}).values())
            attempts = dict(self._attempts.get(info.execution_arn, {}))
        now = self._clock()
        start = info.start_timestamp if info.start_timestamp is not None else now
        record: dict[str, Any] = {
            "recordType": RECORD_TYPE,
            "schemaVersion": SCHEMA_VERSION,
            **identity(info.execution_arn),
            "status": status,
            "startTime": _iso(start),
            "endTime": _iso(max(now, start)),
            "durationMs": max(0, now - start),
            "emittedAt": _iso(now),
        }
        if self.include_input:
            record["input"] = _decode(info.input_payload)
        if self.include_output and status == "SUCCEEDED":
            record["output"] = _decode(result)
        if error is not None:
            record["error"] = {
                "errorType": getattr(error, "error_type", None),
                "errorMessage": getattr(error, "error_message", None),
            }
        if self.operations != "none":
            record["operationsByName"] = self._summarize(ops, attempts)
        line = json.dumps(record, separators=(",", ":"), default=str)
        if isinstance(self._sink, _LOGGERS):
            self._sink.info(line)
        else:
            self._sink(line)

    def _summarize(
        self, ops: list[OperationSnapshot], attempts: dict[str, int]
    ) -> dict[str, dict[str, Any]]:
        summary: dict[str, dict[str, Any]] = {}
        counted = [op for op in ops if self.operations == "all" or op.parent_id is None]
        ended = sorted(counted, key=lambda op: (op.end_timestamp or 0, op.start_timestamp or 0))
        # operations of one name share an entry whatever their type (a Map named like its
        # step function, with operations="all"): it takes the type of the first to start, so
        # that the record does not depend on which of them ended first
        # (a context starts before what runs in it: at one timestamp, the outer one is first;
        # other ties: as seen)
        parent_of = {op.operation_id: op.parent_id for op in ops}

        def depth(op: OperationSnapshot) -> int:
            level, parent = 0, op.parent_id
            while parent is not None and level < len(parent_of):
                level, parent = level + 1, parent_of.get(parent)
            return level

        first: dict[str, OperationSnapshot] = {}
        for op in sorted(counted, key=lambda op: (op.start_timestamp or 0, depth(op))):
            first.setdefault(op.name or op.type, op)
        for op in ended:
            name = op.name or op.type
            kind = first[name]
            entry = summary.setdefault(
                name,
                {"type": kind.type, "subType": kind.sub_type, "count": 0, "failedCount": 0},
            )
            entry["count"] += 1
            entry["status"] = op.status
            if op.status in TERMINAL and op.status != "SUCCEEDED":
                entry["failedCount"] += 1
            if op.type == "STEP":
                attempt = max(op.attempt or 0, attempts.get(op.operation_id, 0), 1)
                entry["maxAttempt"] = max(entry.get("maxAttempt", 0), attempt)
            if op.start_timestamp is not None and op.end_timestamp is not None:
                duration = max(0, op.end_timestamp - op.start_timestamp)
                entry["minDurationMs"] = min(entry.get("minDurationMs", duration), duration)
                entry["maxDurationMs"] = max(entry.get("maxDurationMs", duration), duration)
                entry["totalDurationMs"] = entry.get("totalDurationMs", 0) + duration
        return summary
