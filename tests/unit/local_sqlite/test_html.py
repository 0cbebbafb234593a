"""The HTML timeline: well-formed, escaped, every operation present, open bars drawn to now."""

from __future__ import annotations

from html.parser import HTMLParser

from durable_gen._wire import ErrorObject, Operation, StepDetails
from durable_gen.local._html import render_timeline
from durable_gen.local._store import ExecutionRecord
from durable_gen.local._text import format_duration, operation_tree

VOID = {"meta", "br", "img", "input", "link", "hr"}


class Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.problems.append(tag)


def test_a_running_execution_with_hostile_names() -> None:
    record = ExecutionRecord(
        arn="arn:x", name="run-1", function_name="f<b>", status="RUNNING", start_timestamp=1_000
    )
    ops = [
        Operation(id="root", type="EXECUTION", status="STARTED", start_timestamp=1_000),
        Operation(
            id="ctx",
            type="CONTEXT",
            sub_type="Map",
            status="STARTED",
            name="fan</div>out",
            start_timestamp=1_100,
        ),
        Operation(
            id="s1",
            type="STEP",
            status="FAILED",
            parent_id="ctx",
            name="<script>alert(1)</script>",
            start_timestamp=1_200,
            end_timestamp=1_300,
            step_details=StepDetails(
                attempt=3, error=ErrorObject(error_type="E", error_message='"x"')
            ),
        ),
        Operation(
            id="s2", type="STEP", status="STARTED", parent_id="missing", start_timestamp=1_250
        ),
    ]
    page = render_timeline(record, ops, now_ms=2_000)
    parser = Balance()
    parser.feed(page)
    parser.close()
    assert parser.problems == [] and parser.stack == []
    assert "script" not in parser.tags and "&lt;script&gt;" in page
    for op_id in ("ctx", "s1", "s2"):
        assert f'id="op-{op_id}"' in page
    assert 'id="op-root"' not in page
    assert [(depth, op.id) for depth, op in operation_tree(ops)] == [
        (0, "ctx"),
        (1, "s1"),
        (0, "s2"),
    ]


def test_durations_read_well() -> None:
    assert [format_duration(ms) for ms in (5, 1_500, 600_000, 10_800_000, 864_000_000)] == [
        "5 ms",
        "1.5 s",
        "10.0 min",
        "3.0 h",
        "10.0 d",
    ]
