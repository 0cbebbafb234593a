"""The HTML timeline: well-formed, escaped, every operation present, open bars drawn to now;
attempts and retry delays as segments, errors written out, large batches folded, offline."""

from __future__ import annotations

from html.parser import HTMLParser

from durable_gen._wire import ContextDetails, ErrorObject, Event, Operation, StepDetails
from durable_gen.local._html import FOLD_AT, render_timeline
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


def _step_events(op_id: str, name: str) -> list[Event]:
    """A step that failed twice (retried after 2 s, then 4 s) and succeeded on attempt 3."""

    def event(n: int, kind: str, t: int, details: dict[str, object] | None = None) -> Event:
        field = {"StepStarted": "step_started_details", "StepFailed": "step_failed_details"}
        key = field.get(kind, "step_succeeded_details")
        return Event(
            event_type=kind,
            event_id=n,
            event_timestamp=t,
            id=op_id,
            name=name,
            **{key: details or {}},
        )  # type: ignore[arg-type]

    def failed(attempt: int, delay: int, message: str) -> dict[str, object]:
        return {
            "Error": {"Payload": {"ErrorType": "ConnectionError", "ErrorMessage": message}},
            "RetryDetails": {"CurrentAttempt": attempt, "NextAttemptDelaySeconds": delay},
        }

    return [
        event(2, "StepStarted", 1_000),
        event(3, "StepFailed", 1_300, failed(1, 2, "refused <1>")),
        event(4, "StepStarted", 3_300),
        event(5, "StepFailed", 3_500, failed(2, 4, "refused <2>")),
        event(6, "StepStarted", 7_500),
        event(7, "StepSucceeded", 8_000, {"RetryDetails": {"CurrentAttempt": 3}}),
    ]


class Elements(HTMLParser):
    """Every element's tag, attributes and text (its own and its descendants')."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[dict[str, object]] = []
        self.all: list[dict[str, object]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element: dict[str, object] = {
            "tag": tag,
            **dict(attrs),
            "text": "",
            "parents": [e.get("class", "") for e in self.open],
        }
        self.all.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        self.open.pop()

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element["text"] = str(element["text"]) + data

    def find(self, cls: str) -> list[dict[str, object]]:
        return [e for e in self.all if cls in str(e.get("class", "")).split()]


def test_each_attempt_and_each_retry_delay_is_a_segment_and_errors_are_written_out() -> None:
    record = ExecutionRecord(
        arn="arn:x",
        name="r",
        function_name="f",
        status="SUCCEEDED",
        start_timestamp=1_000,
        end_timestamp=11_000,
        result="1",
    )
    ops = [
        Operation(id="root", type="EXECUTION", status="SUCCEEDED", start_timestamp=1_000),
        Operation(
            id="s",
            type="STEP",
            sub_type="Step",
            name="connect",
            status="SUCCEEDED",
            start_timestamp=1_000,
            end_timestamp=8_000,
            step_details=StepDetails(attempt=3, result='"ok"'),
        ),
    ]
    page = render_timeline(record, ops, now_ms=20_000, events=_step_events("s", "connect"))
    doc = Elements()
    doc.feed(page)
    segments = [e for e in doc.all if "seg" in str(e.get("class", "")).split()]
    assert [str(e["class"]).split()[1] for e in segments] == [
        "attempt",
        "delay",
        "attempt",
        "delay",
        "attempt",
    ]
    assert [e.get("data-status") for e in segments[::2]] == ["FAILED", "FAILED", "SUCCEEDED"]
    # placed on the axis: 10 s from 1_000 to 11_000; the first delay runs 1.3 s .. 3.3 s
    assert "left:3.000%;width:20.000%" in str(segments[1]["style"])
    assert "left:65.000%;width:5.000%" in str(segments[4]["style"])
    assert "retry delay 4.0 s" in str(segments[3]["text"])
    notes = doc.find("err")
    assert len(notes) == 1
    assert notes[0]["text"] == (
        "attempt 1 failed: ConnectionError: refused <1> · retried after 2.0 s\n"
        "attempt 2 failed: ConnectionError: refused <2> · retried after 4.0 s"
    )
    assert "&lt;1&gt;" in page


def test_a_pending_retry_delay_is_open_and_says_when_the_next_attempt_is_due() -> None:
    record = ExecutionRecord(
        arn="arn:x", name="r", function_name="f", status="RUNNING", start_timestamp=1_000
    )
    ops = [Operation(id="s", type="STEP", name="connect", status="PENDING", start_timestamp=1_000)]
    events = _step_events("s", "connect")[:3]
    page = render_timeline(record, ops, now_ms=4_000, events=events)
    doc = Elements()
    doc.feed(page)
    kinds = [str(e["class"]) for e in doc.find("seg")]
    assert kinds == ["seg attempt", "seg delay", "seg attempt open"]
    events = _step_events("s", "connect")[:4]
    page = render_timeline(record, ops, now_ms=4_000, events=events)
    doc = Elements()
    doc.feed(page)
    delay = doc.find("delay")[-1]
    assert str(delay["class"]) == "seg delay open"
    assert "next attempt at 1970-01-01T00:00:07.500+00:00" in str(delay["text"])


def _batch(n: int, failing: set[int]) -> list[Operation]:
    ops = [
        Operation(id="root", type="EXECUTION", status="SUCCEEDED"),
        Operation(
            id="m",
            type="CONTEXT",
            sub_type="Map",
            name="fan",
            status="SUCCEEDED",
            start_timestamp=1_000,
            end_timestamp=2_000,
        ),
    ]
    for i in range(n):
        bad = i in failing
        ops.append(
            Operation(
                id=f"i{i}",
                type="CONTEXT",
                sub_type="MapIteration",
                name=f"map-item-{i}",
                parent_id="m",
                status="FAILED" if bad else "SUCCEEDED",
                start_timestamp=1_000 + i,
                end_timestamp=1_500 + i,
                context_details=ContextDetails(
                    error=ErrorObject(error_type="KeyError", error_message=f"item {i}")
                )
                if bad
                else ContextDetails(result=str(i)),
            )
        )
    return ops


def test_a_large_batch_is_folded_with_counts_and_the_failed_items_first() -> None:
    record = ExecutionRecord(
        arn="arn:x",
        name="r",
        function_name="f",
        status="SUCCEEDED",
        start_timestamp=1_000,
        end_timestamp=2_000,
    )
    ops = _batch(30, {4, 17, 29})
    page = render_timeline(record, ops, now_ms=3_000)
    doc = Elements()
    doc.feed(page)
    counts = doc.find("counts")
    assert len(counts) == 1 and counts[0]["text"] == "30 items: 3 FAILED 27 SUCCEEDED"
    rows = [str(e["id"]) for e in doc.find("row")]
    assert rows[:4] == ["op-m", "op-i4", "op-i17", "op-i29"]
    assert set(rows) == {f"op-i{i}" for i in range(30)} | {"op-m"}
    folded = [e for e in doc.find("row") if "fold" in e["parents"]]
    assert len(folded) == 27 and all(e.get("data-status") == "SUCCEEDED" for e in folded)
    summary = next(e for e in doc.all if e["tag"] == "summary")
    assert summary["text"] == "27 more items (27 SUCCEEDED)"
    errors = [str(e["text"]) for e in doc.find("err")]
    assert errors == ["KeyError: item 4", "KeyError: item 17", "KeyError: item 29"]
    # a small batch is not folded
    small = render_timeline(record, _batch(FOLD_AT, {1}), now_ms=3_000)
    assert "<details" not in small and 'class="counts"' not in small


def test_the_page_works_offline() -> None:
    record = ExecutionRecord(
        arn="arn:x",
        name="r",
        function_name="f",
        status="FAILED",
        start_timestamp=1_000,
        end_timestamp=2_000,
        error=ErrorObject(error_type="E", error_message="m", stack_trace=["Traceback", "E: m"]),
    )
    page = render_timeline(record, _batch(30, {3}), now_ms=3_000, events=_step_events("i3", "x"))
    for needle in ("<script", "<link", "src=", "url(", "http:", "https:", "@import"):
        assert needle not in page
    assert "<pre>Traceback\nE: m</pre>" in page
