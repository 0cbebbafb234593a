"""Plain-text views of executions, for the terminal: tables, times, durations, status lines.

Everything a history holds is written by someone else (a step's error message, a callback's
payload, an operation name), so every stored string goes through ``printable`` before it is
shown: control characters, line breaks and bidirectional overrides come out as visible
escapes (``\\x1b``, ``\\n``, ``\\u202e``), never as raw bytes a terminal would act on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from .._errors import failure_text
from .._versioning import time_of_ms
from .._wire import ErrorObject, Event, Operation
from ._store import ExecutionRecord

__all__ = [
    "clip",
    "describe_execution",
    "error_lines",
    "execution_table",
    "format_duration",
    "format_time",
    "history_lines",
    "operation_tree",
    "outcome_text",
    "printable",
]

#: Characters a terminal would act on instead of showing: C0 and C1 controls, DEL, the
#: Unicode line and paragraph separators, bidirectional embeddings, overrides and isolates,
#: and lone surrogates (which cannot even be encoded for output).
_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on written as a visible escape.

    Line breaks become ``\\n``, so the result is always one line.
    """
    return _UNSAFE.sub(_escape, text)


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shown(text: str, limit: int) -> str:
    return clip(printable(text), limit)


#: Milliseconds in 400 Gregorian years, after which the calendar repeats itself.
_CYCLE_MS: Final = 146_097 * 86_400_000
#: 10000-01-01T00:00:00Z: a ``datetime`` holds no later time.
_YEAR_10000_MS: Final = 253_402_300_800_000


def format_time(epoch_ms: int) -> str:
    """An epoch-ms time in ISO 8601 (UTC, milliseconds).

    A time past 9999, which a ``datetime`` cannot hold (a timer set near the end of a virtual
    clock's range), is written with its year of five digits or more, not refused.
    """
    cycles = 0
    if epoch_ms >= _YEAR_10000_MS:
        cycles = (epoch_ms - _YEAR_10000_MS) // _CYCLE_MS + 1
        epoch_ms -= cycles * _CYCLE_MS
    written = time_of_ms(epoch_ms).isoformat(timespec="milliseconds")
    if cycles:
        year, rest = written.split("-", 1)
        written = f"{int(year) + 400 * cycles}-{rest}"
    return written


def format_duration(ms: int) -> str:
    """A duration in the largest unit that keeps it readable (ms, s, min, h, d)."""
    if ms < 1000:
        return f"{ms} ms"
    if ms < 120_000:
        return f"{ms / 1000:.1f} s"
    if ms < 7_200_000:
        return f"{ms / 60_000:.1f} min"
    if ms < 172_800_000:
        return f"{ms / 3_600_000:.1f} h"
    return f"{ms / 86_400_000:.1f} d"


def operation_tree(operations: Sequence[Operation]) -> list[tuple[int, Operation]]:
    """The operations below the EXECUTION one, depth-first in creation order, with depths."""
    ids = {op.id for op in operations}
    children: dict[str | None, list[Operation]] = {}
    for op in operations:
        if op.type == "EXECUTION":
            continue
        parent = op.parent_id if op.parent_id in ids else None
        children.setdefault(parent, []).append(op)
    out: list[tuple[int, Operation]] = []
    stack = [(0, op) for op in reversed(children.get(None, []))]
    while stack:
        depth, op = stack.pop()
        out.append((depth, op))
        stack.extend((depth + 1, child) for child in reversed(children.get(op.id, [])))
    return out


def outcome_text(op: Operation) -> tuple[str | None, str | None]:
    """The result and the error (as raw text) that an operation recorded, if any."""
    for details in (
        op.step_details,
        op.context_details,
        op.callback_details,
        op.chained_invoke_details,
    ):
        if details is None:
            continue
        err = details.error
        error = None if err is None else failure_text(err.error_type, err.error_message)
        return details.result, error
    return None, None


def _short_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def execution_table(records: Sequence[ExecutionRecord]) -> str:
    """The ``durable-gen list`` table: one row per execution under a header.

    Columns: id, status, start time, duration, workflow (the function the execution runs) and
    the execution's name when it was given one (an unnamed execution is named by its id).
    """
    width = max([len("WORKFLOW")] + [len(printable(rec.function_name)) for rec in records])
    header = f"{'ID':<36}  {'STATUS':<9}  {'STARTED':<29}  {'DURATION':>9}  {'WORKFLOW':<{width}}"
    lines = [header + "  NAME"]
    for rec in records:
        took = ""
        if rec.end_timestamp is not None:
            took = format_duration(rec.end_timestamp - rec.start_timestamp)
        exec_id = _short_id(rec.arn)
        name = "" if rec.name == exec_id else printable(rec.name)
        line = (
            f"{printable(exec_id):<36}  {rec.status:<9}  "
            f"{format_time(rec.start_timestamp):<29}  {took:>9}  "
            f"{printable(rec.function_name):<{width}}  {name}"
        )
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def error_lines(err: ErrorObject, indent: str = "  ") -> list[str]:
    """An error as lines: ``Type: message``, its data, then its stack trace, one frame line each,
    all of it whole.

    Every line is escaped with ``printable``; a stack trace entry holding several lines (a
    frame and its source line) is split on its line breaks first, so the trace reads as Python
    prints it.
    """
    kind = printable(err.error_type) if err.error_type else None
    # whole: what the engine records is bounded (32 KiB), and this is where a reader looks for it
    lines = [failure_text(kind, printable(err.error_message) if err.error_message else None)]
    if err.error_data:
        lines.append(f"data: {printable(err.error_data)}")
    if err.stack_trace:
        lines.append("stack trace:")
        for entry in err.stack_trace:
            lines.extend(f"{indent}{printable(part)}" for part in entry.splitlines() or [""])
    return lines


def describe_execution(
    record: ExecutionRecord, operations: Sequence[Operation], waiting: Sequence[str], now_ms: int
) -> str:
    """The ``durable-gen show`` text: the execution's fields, then its operations as a tree."""
    end = record.end_timestamp
    lines = [
        f"execution {printable(_short_id(record.arn))}",
        f"  arn       {printable(record.arn)}",
        f"  function  {printable(record.function_name)}",
    ]
    if record.parent_arn is not None:
        # an Invoke target: the execution that invoked it (`durable-gen show` takes this id)
        lines.append(f"  parent    {printable(_short_id(record.parent_arn))}")
    lines += [
        f"  status    {record.status}",
        f"  started   {format_time(record.start_timestamp)}"
        + (f"   took {format_duration(end - record.start_timestamp)}" if end is not None else ""),
    ]
    if record.execution_timeout is not None:
        deadline = record.start_timestamp + record.execution_timeout * 1000
        lines.append(
            f"  timeout   {format_duration(record.execution_timeout * 1000)}"
            + ("" if end is not None else f", times out at {format_time(deadline)}")
        )
    if record.input is not None:
        lines.append(f"  input     {_shown(record.input, 200)}")
    if record.result is not None:
        lines.append(f"  result    {_shown(record.result, 200)}")
    if record.error is not None:
        first, *more = error_lines(record.error)
        lines.append(f"  error     {first}")
        lines.extend(f"            {line}" for line in more)
    for line in waiting:
        lines.append(f"  waits on  {printable(line)}")
    tree = operation_tree(operations)
    lines.append(f"operations ({len(tree)})")
    rows = [
        ("  " * depth + printable(op.name or op.id[:12]), printable(op.sub_type or op.type), op)
        for depth, op in tree
    ]
    # columns as wide as their longest cell (RunInChildContext, a long name or sub_type), so
    # that the status and the columns after it stay aligned
    label_width = max([32, *(min(len(label), 64) for label, _, _ in rows)])
    kind_width = max([16, *(min(len(kind), 32) for _, kind, _ in rows)])
    by_id = {op.id: op for op in operations}
    for label, kind, op in rows:
        took = ""
        if op.start_timestamp is not None:
            # an operation left open by an ended execution, or by an ended context (an item
            # its decided batch left behind), stops with it
            ended = None if op.end_timestamp is not None else _ended_context(op, by_id)
            stop = next(
                t for t in (op.end_timestamp, ended, record.end_timestamp, now_ms) if t is not None
            )
            took = format_duration(max(stop - op.start_timestamp, 0))
            if op.end_timestamp is None and ended is None and record.end_timestamp is None:
                took += "+"  # still going: at least this long so far
        attempt = ""
        if op.step_details is not None and op.step_details.attempt:
            attempt = f"attempt {op.step_details.attempt}"
        result, error = outcome_text(op)
        tail = f"→ {_shown(result, 60)}" if result is not None else ""
        if error is not None:
            tail = f"✗ {_shown(error, 60)}"
        lines.append(
            f"  {label:<{label_width}} {kind:<{kind_width}} {op.status:<9} {attempt:<10} "
            f"{took:>9}  {tail}".rstrip()
        )
    return "\n".join(lines) + "\n"


def _ended_context(op: Operation, by_id: dict[str, Operation]) -> int | None:
    """When the nearest context around ``op`` that has ended ended (epoch ms), if one has."""
    parent = by_id.get(op.parent_id) if op.parent_id is not None else None
    while parent is not None:
        if parent.end_timestamp is not None:
            return parent.end_timestamp
        parent = by_id.get(parent.parent_id) if parent.parent_id is not None else None
    return None


def history_lines(events: Sequence[Event]) -> str:
    """The ``durable-gen history`` text: one line per event (id, time, type, name)."""
    lines = []
    for event in events:
        when = format_time(event.event_timestamp) if event.event_timestamp is not None else ""
        name = printable(event.name or "")
        lines.append(
            f"{event.event_id:>5}  {when:<23}  {printable(event.event_type):<24} {name}".rstrip()
        )
    return "".join(line + "\n" for line in lines)
