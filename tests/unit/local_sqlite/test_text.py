"""The terminal views: stored text is shown, never acted on by the terminal."""

from __future__ import annotations

from durable_gen._wire import ErrorObject, Event, Operation, StepDetails
from durable_gen.local._store import ExecutionRecord
from durable_gen.local._text import (
    describe_execution,
    error_lines,
    execution_table,
    history_lines,
    printable,
)


def test_printable_escapes_what_a_terminal_would_act_on() -> None:
    assert printable("plain text, é, 日本, emoji 🎉") == "plain text, é, 日本, emoji 🎉"
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("line\nnext\r\tend") == "line\\nnext\\r\\tend"
    assert printable("\x00\x07\x7f\x9b") == "\\x00\\x07\\x7f\\x9b"
    assert printable("right\u202eleft\u2066\u2028") == "right\\u202eleft\\u2066\\u2028"
    assert printable("lone \ud800 surrogate") == "lone \\ud800 surrogate"
    # what comes out can always be written as UTF-8, on one line
    out = printable("".join(map(chr, range(0x20))) + "\ud800\udfff")
    out.encode("utf-8")
    assert "\n" not in out


HOSTILE = "boom\x1b]0;title\x07\r\n\u202e"


def test_every_view_escapes_stored_text() -> None:
    record = ExecutionRecord(
        arn="arn:x/e1",
        name="e1",
        function_name="app.flow",
        status="FAILED",
        input='"in' + HOSTILE + '"',
        error=ErrorObject(error_type="Err" + HOSTILE, error_message=HOSTILE),
        start_timestamp=1_000,
        end_timestamp=2_000,
    )
    ops = [
        Operation(id="root", type="EXECUTION", status="FAILED"),
        Operation(
            id="s1",
            type="STEP",
            sub_type="Step",
            name="pay",
            status="FAILED",
            start_timestamp=1_000,
            end_timestamp=1_500,
            step_details=StepDetails(attempt=1, error=ErrorObject(error_message=HOSTILE)),
        ),
    ]
    events = [Event(event_type="StepFailed", event_id=1, name="pay" + HOSTILE)]
    texts = [
        describe_execution(record, ops, ["callback" + HOSTILE], 3_000),
        execution_table([record]),
        history_lines(events),
    ]
    for text in texts:
        for char in ("\x1b", "\x07", "\r", "\u202e"):
            assert char not in text
    shown = texts[0]
    assert "error     Errboom\\x1b]0;title\\x07\\r\\n\\u202e: boom\\x1b]0;title" in shown
    assert "waits on  callbackboom\\x1b" in shown
    assert "✗ Error: boom\\x1b]0;title\\x07" in shown
    # one line per field: the escaped line breaks do not break the layout
    assert len(shown.splitlines()) == 10


def test_an_error_reads_as_python_prints_it_with_stored_text_escaped() -> None:
    err = ErrorObject(
        error_type="ValueError",
        error_message="bad\x1b[2J value",
        error_data='{"order": 7}',
        stack_trace=[
            "Traceback (most recent call last):",
            '  File "app.py", line 3, in pay\n    raise ValueError("bad")\u202e',
            "ValueError: bad",
        ],
    )
    assert error_lines(err) == [
        "ValueError: bad\\x1b[2J value",
        'data: {"order": 7}',
        "stack trace:",
        "  Traceback (most recent call last):",
        '    File "app.py", line 3, in pay',
        '      raise ValueError("bad")\\u202e',
        "  ValueError: bad",
    ]
    record = ExecutionRecord(
        arn="arn:x/e1",
        name="e1",
        function_name="app.flow",
        status="FAILED",
        error=err,
        start_timestamp=1_000,
        end_timestamp=2_000,
    )
    shown = describe_execution(record, [], [], 3_000).splitlines()
    assert shown[5] == "  error     ValueError: bad\\x1b[2J value"
    assert shown[7:9] == [
        "            stack trace:",
        "              Traceback (most recent call last):",
    ]


def test_the_list_names_the_workflow_and_a_named_execution() -> None:
    common = {"status": "SUCCEEDED", "start_timestamp": 1_000, "end_timestamp": 1_500}
    table = execution_table(
        [
            ExecutionRecord(
                arn="arn:x/id-1", name="order-7", function_name="shop.checkout", **common
            ),  # type: ignore[arg-type]
            ExecutionRecord(arn="arn:x/id-2", name="id-2", function_name="shop.refund", **common),  # type: ignore[arg-type]
        ]
    ).splitlines()
    assert table[0].split() == ["ID", "STATUS", "STARTED", "DURATION", "WORKFLOW", "NAME"]
    assert table[1].split()[-2:] == ["shop.checkout", "order-7"]
    assert table[2].split()[-1] == "shop.refund"
    # the columns line up under their headers
    assert table[1].index("shop.checkout") == table[0].index("WORKFLOW")
    assert table[1].index("order-7") == table[0].index("NAME")


def test_an_operation_left_open_by_an_ended_execution_shows_no_plus() -> None:
    # "+" reads "still going, at least this long"; a step the stop left STARTED is not going
    # on: its time runs to the execution's end, without "+".
    step = Operation(
        id="s1", type="STEP", sub_type="Step", name="pay", status="STARTED", start_timestamp=1_000
    )
    common = {"arn": "arn:x/e1", "name": "e1", "function_name": "app.flow"}
    stopped = ExecutionRecord(
        status="STOPPED", start_timestamp=1_000, end_timestamp=2_500, **common
    )  # type: ignore[arg-type]
    [row] = [
        line
        for line in describe_execution(stopped, [step], [], 9_000).splitlines()
        if "pay" in line
    ]
    assert "1.5 s" in row and "+" not in row, row
    running = ExecutionRecord(status="RUNNING", start_timestamp=1_000, **common)  # type: ignore[arg-type]
    [row] = [
        line
        for line in describe_execution(running, [step], [], 3_000).splitlines()
        if "pay" in line
    ]
    assert "2 s+" in row or "2.0 s+" in row, row
