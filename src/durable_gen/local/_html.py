"""The HTML timeline of one execution: one self-contained page, no scripts, no external assets.

Each operation is a row: its name, indented under its parent context, and a bar placed on a
common time axis from its start to its end (to now, or to the execution's end, while it is
open), coloured by status. A step's row shows each attempt and each retry delay as its own
segment (from the history's ``StepStarted``/``StepFailed``/``StepSucceeded`` events and their
``RetryDetails``). Errors are written out under their row, not hidden in a tooltip; the
execution's error comes with its stack trace. A Map or Parallel with many items is folded:
a line of counts per status, the failed items first, and the others in a ``<details>`` element
that expands on a click (no script needed). Hovering a bar still shows its details.
Everything from the history is escaped; the page is static.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

from .._errors import failure_text
from .._wire import ErrorObject, Event, Operation
from ._store import ExecutionRecord
from ._text import clip, format_duration, format_time, outcome_text, printable

__all__ = ["FOLD_AT", "render_timeline"]

#: A Map or Parallel with more items than this is folded.
FOLD_AT: Final = 10
#: Failed items of a folded batch shown before the fold.
_FAILED_SHOWN: Final = 10

_COLOURS: Final = {
    "SUCCEEDED": "#2e9d5b",
    "FAILED": "#d64545",
    "TIMED_OUT": "#d9822b",
    "CANCELLED": "#8a8f98",
    "STOPPED": "#8a8f98",
    "STARTED": "#3d7dd8",
    "PENDING": "#b58ad6",
    "READY": "#b58ad6",
    "RUNNING": "#3d7dd8",
}
_BAD: Final = ("FAILED", "TIMED_OUT", "STOPPED", "CANCELLED")

_CSS: Final = """
body { font: 13px/1.4 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px;
       color: #1d232b; background: #fbfbfc; }
h1 { font-size: 18px; margin: 0 0 4px; }
h2 { font-size: 14px; margin: 16px 0 4px; }
.meta { color: #55606e; margin: 0 0 8px; }
.meta span { margin-right: 16px; }
.legend span { display: inline-block; margin-right: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
            margin-right: 4px; vertical-align: middle; }
.axis, .row { display: flex; align-items: center; }
.axis { color: #55606e; border-bottom: 1px solid #d8dde3; margin-top: 12px; }
.row { border-bottom: 1px solid #eef0f3; min-height: 22px; }
.row:hover { background: #f1f4f8; }
.label { width: 34%; flex: none; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
         padding: 2px 8px 2px 0; }
.label small { color: #7a8491; margin-left: 6px; }
.track { position: relative; flex: 1; height: 16px; }
.bar, .seg { position: absolute; top: 2px; height: 12px; border-radius: 3px; min-width: 3px;
             overflow: hidden; white-space: nowrap; font-size: 9px; line-height: 12px;
             color: #fff; text-indent: 2px; box-sizing: border-box; }
.seg.delay { background: repeating-linear-gradient(45deg, #c3c8cf 0 3px, #e6e9ed 3px 6px);
             color: #3b434d; border: 1px solid #aab1ba; }
.open { background-image: repeating-linear-gradient(45deg, rgba(255,255,255,.35) 0 4px,
        transparent 4px 8px); }
.ticks { position: relative; flex: 1; height: 18px; }
.ticks span { position: absolute; transform: translateX(-50%); font-size: 11px;
             white-space: nowrap; }
.ticks span:last-child { transform: translateX(-100%); }
.err { color: #b42318; font-size: 12px; padding: 1px 0 3px; white-space: pre-wrap;
       word-break: break-word; }
.err b { font-weight: 600; }
.counts { background: #f3f5f8; border-bottom: 1px solid #e1e5ea; padding: 3px 0; }
.counts b { display: inline-block; margin-right: 10px; }
details.fold > summary { cursor: pointer; color: #30507a; padding: 3px 0; }
pre { background: #f1f3f6; padding: 8px; border-radius: 4px; white-space: pre-wrap;
      word-break: break-all; }
.failure { border-left: 4px solid #d64545; background: #fdf1f1; padding: 6px 10px;
           margin: 8px 0; overflow-wrap: anywhere; }
"""


class _Segment(NamedTuple):
    """A piece of a step's row: one attempt, or the delay before the next one."""

    kind: str  # "attempt" or "delay"
    start: int
    end: int | None  # None: still going
    status: str  # the attempt's outcome (SUCCEEDED, FAILED, STARTED), "DELAY", or "CUT"
    # (a delay the execution ended in, or after it was due with no attempt run: no retry)
    attempt: int
    error: str | None = None
    due: int | None = None  # a delay: when the next attempt is due
    poll: bool = False  # a delay: a WaitForCondition's wait before its next check
    result: str | None = None  # an attempt that returned: what it recorded (a check's state)


def render_timeline(
    record: ExecutionRecord,
    operations: Sequence[Operation],
    *,
    now_ms: int,
    events: Sequence[Event] = (),
) -> str:
    """A self-contained HTML page showing the execution's operations as bars over time.

    Args:
        record: The execution.
        operations: Its operations (``LocalService.get_operations()``).
        now_ms: Where open bars end while the execution runs (epoch ms).
        events: Its history (``LocalService.get_history()``): with it, each step attempt and
            each retry delay is a segment of its own, and every failed attempt's error is shown.
    """
    start = record.start_timestamp
    end = record.end_timestamp or max(
        [now_ms, start] + [op.end_timestamp or op.start_timestamp or start for op in operations]
    )
    page = _Page(start, max(end - start, 1), end, _segments(events, end, record.is_terminal))
    ids = {op.id for op in operations}
    children: dict[str | None, list[Operation]] = {}
    for op in operations:
        if op.type != "EXECUTION":
            parent = op.parent_id if op.parent_id in ids else None
            children.setdefault(parent, []).append(op)
    page.children = children
    for op in children.get(None, []):
        page.operation(op, 0)
    esc = html.escape
    count = len(ids) - (1 if any(o.type == "EXECUTION" for o in operations) else 0)
    ticks = "".join(
        f'<span style="left:{100 * i / 4:.0f}%">{format_duration(page.span * i // 4)}</span>'
        for i in range(5)
    )
    legend = "".join(
        f'<span><i style="background:{colour}"></i>{esc(status)}</span>'
        for status, colour in _COLOURS.items()
        if status != "RUNNING"
    )
    legend += (
        '<span><i style="background:repeating-linear-gradient(45deg, #c3c8cf 0 3px, '
        '#e6e9ed 3px 6px)"></i>retry delay</span>'
    )
    details = ""
    if record.result is not None:
        details = f"<h2>Result</h2><pre>{esc(clip(record.result, 4000))}</pre>"
    elif record.error is not None:
        details = f'<div class="failure" id="execution-error">{_error_block(record.error)}</div>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(record.name)} · durable_gen</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{esc(record.function_name)} <small>{esc(record.name)}</small></h1>"
        '<p class="meta">'
        f"<span>status <b>{esc(record.status)}</b></span>"
        f"<span>started {esc(format_time(start))}</span>"
        f"<span>duration {esc(format_duration(end - start))}</span>"
        f"<span>{count} operation{'' if count == 1 else 's'}</span></p>"
        f'<p class="meta">{esc(record.arn)}</p>'
        f"{details}"
        f'<div class="legend">{legend}</div>'
        f'<div class="axis"><div class="label">operation</div><div class="ticks">{ticks}</div>'
        "</div>" + "".join(page.out) + "</body></html>\n"
    )


class _Page:
    """The rows of the timeline, built depth-first."""

    def __init__(
        self, start: int, span: int, end: int, segments: Mapping[str, list[_Segment]]
    ) -> None:
        self.start, self.span, self.end = start, span, end
        self.segments = segments
        self.children: dict[str | None, list[Operation]] = {}
        self.out: list[str] = []

    def _x(self, t: int) -> float:
        return min(max(100 * (t - self.start) / self.span, 0.0), 100.0)

    def _box(self, t0: int, t1: int) -> str:
        left = self._x(t0)
        width = max(self._x(t1) - left, 0.2)
        return f"left:{left:.3f}%;width:{min(width, 100 - left):.3f}%"

    def operation(self, op: Operation, depth: int, closed: int | None = None) -> None:
        """One row and its notes, then the rows below it; ``closed``: when a context above it ended
        (a decided batch), so a retry delay its step is still in leads to no attempt."""
        esc = html.escape
        kind = op.sub_type or op.type
        name = op.name or op.id[:12]
        segments = self.segments.get(op.id, []) if op.type == "STEP" else []
        if (
            closed is not None
            and segments
            and segments[-1].kind == "delay"
            and segments[-1].end is None
        ):
            segments = [*segments[:-1], _cut(segments[-1], self.end)]
        if segments:
            track = "".join(self._segment(seg, op.id) for seg in segments)
        else:
            op_start = op.start_timestamp if op.start_timestamp is not None else self.start
            # left open by an ended context (an item its decided batch left behind): it stops
            # with that context, as it stops with an ended execution
            op_end = next(t for t in (op.end_timestamp, closed, self.end) if t is not None)
            colour = _COLOURS.get(op.status, "#8a8f98")
            is_open = " open" if op.end_timestamp is None and closed is None else ""
            track = (
                f'<div class="bar{is_open}" title="{esc(_visible(_tooltip(op)))}" '
                f'style="{self._box(op_start, op_end)};background:{colour}"></div>'
            )
        self.out.append(
            f'<div class="row" id="op-{esc(op.id)}" data-status="{esc(op.status)}">'
            f'<div class="label" style="padding-left:{depth * 16}px">{esc(printable(name))}'
            f"<small>{esc(kind)} · {esc(op.status)}</small></div>"
            f'<div class="track">{track}</div></div>'
        )
        notes = [
            f"attempt {seg.attempt} failed: {seg.error}" + _after(nxt)
            for seg, nxt in zip(segments, [*segments[1:], None], strict=False)
            if seg.kind == "attempt" and seg.error is not None
        ]
        _, error = outcome_text(op)
        if error is not None and not (segments and segments[-1].error == error):
            notes.append(error)
        if notes:
            lines = "\n".join(esc(clip(printable(note), 1000)) for note in notes)
            self.out.append(
                f'<div class="err" style="padding-left:{depth * 16 + 12}px">{lines}</div>'
            )
        kids = self.children.get(op.id, [])
        if closed is None and op.type == "CONTEXT":
            closed = op.end_timestamp
        if op.type == "CONTEXT" and op.sub_type in ("Map", "Parallel") and len(kids) > FOLD_AT:
            self._batch(op, kids, depth + 1, closed)
        else:
            for kid in kids:
                self.operation(kid, depth + 1, closed)

    def _batch(self, op: Operation, items: list[Operation], depth: int, closed: int | None) -> None:
        """A large batch: counts per status, the failed items, the others folded (the
        operations of a flat batch's items in place of its items)."""
        esc = html.escape
        counts = Counter(item.status for item in items)
        order = {status: rank for rank, status in enumerate((*_BAD, "STARTED", "PENDING"))}
        ranked = sorted(
            range(len(items)), key=lambda i: (order.get(items[i].status, len(order)), i)
        )
        failed = [items[i] for i in ranked if items[i].status in _BAD][:_FAILED_SHOWN]
        rest = [items[i] for i in ranked if items[i] not in failed]
        # a flat batch (``nesting="flat"``) records no context per item: its rows are the
        # operations of all its items, which are counted as what they are
        item_type = "MapIteration" if op.sub_type == "Map" else "ParallelBranch"
        if all(item.sub_type == item_type for item in items):
            what = "items" if op.sub_type == "Map" else "branches"
        else:
            what = "operations"
        tally = " ".join(
            f'<b data-status="{esc(status)}">{n} {esc(status)}</b>'
            for status, n in sorted(counts.items(), key=lambda kv: order.get(kv[0], len(order)))
        )
        self.out.append(
            f'<div class="counts" id="counts-{esc(op.id)}" style="padding-left:{depth * 16}px">'
            f"{len(items)} {what}: {tally}</div>"
        )
        for item in failed:
            self.operation(item, depth, closed)
        if rest:
            rest_counts = Counter(item.status for item in rest)
            summary = ", ".join(f"{n} {status}" for status, n in rest_counts.items())
            more = "more " if failed else ""
            self.out.append(
                f'<details class="fold" id="fold-{esc(op.id)}">'
                f'<summary style="padding-left:{depth * 16}px">{len(rest)} {more}{what} '
                f"({esc(summary)})</summary>"
            )
            for item in rest:
                self.operation(item, depth, closed)
            self.out.append("</details>")

    def _segment(self, seg: _Segment, op_id: str) -> str:
        esc = html.escape
        stop = seg.end if seg.end is not None else self.end
        took = format_duration(max(stop - seg.start, 0))
        if seg.kind == "delay":
            text = f"{'poll' if seg.poll else 'retry'} delay {took}"
            if seg.status == "CUT":
                text += ", no further check" if seg.poll else ", not retried"
            if seg.end is None and seg.due is not None:
                text += f", next {'check' if seg.poll else 'attempt'} at {format_time(seg.due)}"
            return (
                f'<div class="seg delay{" open" if seg.end is None else ""}" '
                f'title="{esc(text)}" style="{self._box(seg.start, stop)}">{esc(text)}</div>'
            )
        title = [
            f"attempt {seg.attempt}: {seg.status}",
            f"id {op_id}",
            f"started {format_time(seg.start)}",
            f"took {took}",
        ]
        if seg.result is not None:
            title.append(f"result {clip(seg.result, 300)}")
        if seg.error is not None:
            title.append(f"error {clip(seg.error, 300)}")
        colour = _COLOURS.get(seg.status, "#8a8f98")
        return (
            f'<div class="seg attempt{" open" if seg.end is None else ""}" '
            f'data-attempt="{seg.attempt}" data-status="{esc(seg.status)}" '
            f'title="{esc(chr(10).join(printable(line) for line in title))}" '
            f'style="{self._box(seg.start, stop)};background:{colour}">'
            f"{seg.attempt}</div>"
        )


def _error_text(details: Mapping[str, Any] | None) -> str | None:
    """``Type: message`` of an event's ``Error`` payload."""
    if not details:
        return None
    payload = (details.get("Error") or {}).get("Payload") or {}
    if not isinstance(payload, Mapping):
        return None
    kind, message = payload.get("ErrorType"), payload.get("ErrorMessage")
    return failure_text(
        kind if isinstance(kind, str) else None, message if isinstance(message, str) else None
    )


def _visible(text: str) -> str:
    """``text`` for a tooltip: its lines kept, other control characters as visible escapes."""
    return "\n".join(printable(line) for line in text.split("\n"))


def _result_text(details: Mapping[str, Any]) -> str | None:
    """The payload an event's ``Result`` holds (the text recorded), if any."""
    payload = (details.get("Result") or {}).get("Payload")
    return payload if isinstance(payload, str) else None


def _segments(events: Sequence[Event], end: int, terminal: bool) -> dict[str, list[_Segment]]:
    """Each step's attempts and retry delays, by operation id, from its history events."""
    out: dict[str, list[_Segment]] = {}
    for event in events:
        kind = event.event_type
        if event.id is None or event.event_timestamp is None or not kind.startswith("Step"):
            continue
        t = event.event_timestamp
        segs = out.setdefault(event.id, [])
        last = segs[-1] if segs else None
        if last is not None and last.end is None:
            if last.kind == "delay":
                segs[-1] = last = last._replace(end=t)
            elif kind == "StepStarted":  # started again without an outcome: the process died
                segs[-1] = last = last._replace(end=t, status="INTERRUPTED")
        if kind == "StepStarted":
            segs.append(_Segment("attempt", t, None, "STARTED", _attempt_number(segs)))
            continue
        if kind not in ("StepFailed", "StepSucceeded"):
            continue
        details = event.step_failed_details or event.step_succeeded_details or {}
        retry = details.get("RetryDetails") or {}
        number = retry.get("CurrentAttempt") or _attempt_number(segs)
        status = "FAILED" if kind == "StepFailed" else "SUCCEEDED"
        error = _error_text(details) if kind == "StepFailed" else None
        result = _result_text(details) if kind == "StepSucceeded" else None
        if last is not None and last.kind == "attempt" and last.end is None:
            segs[-1] = last._replace(
                end=t, status=status, attempt=number, error=error, result=result
            )
        else:  # no StepStarted recorded: an attempt that took no time
            segs.append(_Segment("attempt", t, t, status, number, error, result=result))
        delay = retry.get("NextAttemptDelaySeconds")
        if isinstance(delay, int | float) and delay > 0:
            # after a failed attempt, a retry; after a WaitForCondition check that returned
            # (a StepSucceeded with a delay), the wait before the next check
            due = t + int(delay * 1000)
            poll = kind == "StepSucceeded"
            segs.append(_Segment("delay", t, None, "DELAY", number, due=due, poll=poll))
    for segs in out.values():
        last = segs[-1]
        if terminal and last.kind == "delay":
            # the execution ended during the delay, or after it with no attempt run (a batch
            # decided without this item): no retry followed, whatever the delay's length
            segs[-1] = _cut(last, end)
        elif last.end is None and terminal:
            # the execution ended during the attempt: it ends with it
            segs[-1] = last._replace(end=min(last.due or end, end))
    return out


def _cut(delay: _Segment, end: int) -> _Segment:
    """A retry (or poll) delay no attempt followed: it ends when due, or at ``end`` before."""
    return delay._replace(end=min(delay.due or end, end), status="CUT")


def _after(delay: _Segment | None) -> str:
    """What followed a failed attempt, for its note: the retry and its delay, or none."""
    if delay is None or delay.kind != "delay":
        return ""
    if delay.status == "CUT":
        return " · not retried: the execution or its batch ended first"
    if delay.end is None:
        return ""
    return f" · retried after {format_duration(delay.end - delay.start)}"


def _attempt_number(segs: list[_Segment]) -> int:
    return 1 + sum(1 for seg in segs if seg.kind == "attempt")


def _error_block(err: ErrorObject) -> str:
    """The execution's error: type and message in bold, then its data and stack trace, whole."""
    esc = html.escape
    kind = f"<b>{esc(printable(err.error_type))}</b>" if err.error_type else None
    message = esc(printable(err.error_message)) if err.error_message else None
    text = failure_text(kind, message)
    if err.error_data:
        text += f"<div>data: {esc(printable(err.error_data))}</div>"
    if err.stack_trace:
        trace = [printable(line) for entry in err.stack_trace for line in entry.splitlines()]
        text += f"<pre>{esc(chr(10).join(trace))}</pre>"
    return text


def _tooltip(op: Operation) -> str:
    lines = [f"{op.type}{' / ' + op.sub_type if op.sub_type else ''}: {op.status}", f"id {op.id}"]
    if op.start_timestamp is not None:
        lines.append(f"started {format_time(op.start_timestamp)}")
        if op.end_timestamp is not None:
            lines.append(f"took {format_duration(op.end_timestamp - op.start_timestamp)}")
    step = op.step_details
    if step is not None and step.attempt:
        lines.append(f"attempt {step.attempt}")
    result, error = outcome_text(op)
    if result is not None:
        lines.append(f"result {clip(result, 300)}")
    if error is not None:
        lines.append(f"error {clip(error, 300)}")
    return "\n".join(lines)
