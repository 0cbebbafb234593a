"""The HTML timeline of one execution: one self-contained page, no scripts, no external assets.

Each operation is a row: its name, indented under its parent context, and a bar placed on a
common time axis from its start to its end (to now, or to the execution's end, while it is
open), coloured by status. Hovering a bar shows its details. Everything from the history is
escaped; the page is static.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Final

from .._wire import Operation
from ._store import ExecutionRecord
from ._text import clip, format_duration, format_time, operation_tree, outcome_text

__all__ = ["render_timeline"]

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

_CSS: Final = """
body { font: 13px/1.4 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px;
       color: #1d232b; background: #fbfbfc; }
h1 { font-size: 18px; margin: 0 0 4px; }
.meta { color: #55606e; margin: 0 0 16px; }
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
.bar { position: absolute; top: 2px; height: 12px; border-radius: 3px; min-width: 2px; }
.open { background-image: repeating-linear-gradient(45deg, rgba(255,255,255,.35) 0 4px,
        transparent 4px 8px); }
.ticks { position: relative; flex: 1; height: 18px; }
.ticks span { position: absolute; transform: translateX(-50%); font-size: 11px; }
pre { background: #f1f3f6; padding: 8px; border-radius: 4px; white-space: pre-wrap;
      word-break: break-all; }
"""


def render_timeline(
    record: ExecutionRecord, operations: Sequence[Operation], *, now_ms: int
) -> str:
    """A self-contained HTML page showing the execution's operations as bars over time.

    Args:
        record: The execution.
        operations: Its operations (``LocalService.get_operations()``).
        now_ms: Where open bars end while the execution runs (epoch ms).
    """
    start = record.start_timestamp
    end = record.end_timestamp or max(
        [now_ms, start] + [op.end_timestamp or op.start_timestamp or start for op in operations]
    )
    span = max(end - start, 1)
    esc = html.escape
    rows: list[str] = []
    for depth, op in operation_tree(operations):
        op_start = op.start_timestamp if op.start_timestamp is not None else start
        op_end = op.end_timestamp if op.end_timestamp is not None else end
        left = 100 * (op_start - start) / span
        width = max(100 * (op_end - op_start) / span, 0.2)
        colour = _COLOURS.get(op.status, "#8a8f98")
        is_open = " open" if op.end_timestamp is None else ""
        kind = op.sub_type or op.type
        name = op.name or op.id[:12]
        rows.append(
            f'<div class="row" id="op-{esc(op.id)}">'
            f'<div class="label" style="padding-left:{depth * 16}px">{esc(name)}'
            f"<small>{esc(kind)} · {esc(op.status)}</small></div>"
            f'<div class="track"><div class="bar{is_open}" title="{esc(_tooltip(op))}" '
            f'style="left:{left:.3f}%;width:{min(width, 100 - left):.3f}%;'
            f'background:{colour}"></div></div></div>'
        )
    ticks = "".join(
        f'<span style="left:{100 * i / 4:.0f}%">{format_duration(span * i // 4)}</span>'
        for i in range(5)
    )
    legend = "".join(
        f'<span><i style="background:{colour}"></i>{esc(status)}</span>'
        for status, colour in _COLOURS.items()
        if status != "RUNNING"
    )
    details = ""
    if record.result is not None:
        details = f"<h2>Result</h2><pre>{esc(clip(record.result, 4000))}</pre>"
    elif record.error is not None:
        err = record.error
        details = (
            f"<h2>Error</h2><pre>{esc(err.error_type or '')}: "
            f"{esc(clip(err.error_message or '', 4000))}</pre>"
        )
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
        f"<span>{len(rows)} operations</span></p>"
        f'<p class="meta">{esc(record.arn)}</p>'
        f'<div class="legend">{legend}</div>'
        f'<div class="axis"><div class="label">operation</div><div class="ticks">{ticks}</div>'
        "</div>" + "".join(rows) + details + "</body></html>\n"
    )


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
