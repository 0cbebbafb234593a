"""Observability checks: log lines across crashes in Map items, children and condition checks,
the fields of each record, the timeline and `show` of odd histories."""

from __future__ import annotations

import html
import logging
import re
from collections import Counter
from collections.abc import Generator, Iterator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local._html import render_timeline
from durable_gen.local._text import describe_execution
from durable_gen.testing import CrashSchedule, DurableRun, TestRunner, current_attempt


def _timeline(runner: TestRunner, run: DurableRun[Any]) -> str:
    service = runner.service
    return render_timeline(
        run.record,
        service.get_operations(run.arn),
        now_ms=service.clock.now_ms(),
        events=service.get_history(run.arn),
    )


def _text(page: str) -> str:
    """A page as the text a reader sees (tags dropped)."""
    body = page[page.find("<body") :]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def _show(runner: TestRunner, run: DurableRun[Any]) -> str:
    service = runner.service
    return describe_execution(
        run.record,
        service.get_operations(run.arn),
        service.waiting_on(run.arn),
        service.clock.now_ms(),
    )


# --- the timeline of a flat batch: its rows are operations, not items ------------------------


@dg.step
def _first(i: int) -> int:
    return i


@dg.step(retry=dg.Retry.never())
def _second(i: int) -> int:
    if i == 2:
        raise ValueError("bad item")
    return i


def _two_steps(i: int) -> Generator[Any, Any, int]:
    x = yield _first(i)
    y = yield _second(i)
    return x + y


@dg.workflow
def _flat_map(nesting: str) -> Generator[Any, Any, Any]:
    out = yield dg.Map(
        _two_steps,
        list(range(6)),
        name="six",
        nesting=nesting,  # type: ignore[arg-type]
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return [item.status for item in out.items]


@pytest.mark.parametrize(
    ("nesting", "tally", "more"),
    [
        ("flat", "12 operations: 1 FAILED 11 SUCCEEDED", "11 more operations (11 SUCCEEDED)"),
        # a nested batch of six items is not folded at all
        ("nested", None, None),
    ],
)
def test_a_flat_batch_is_folded_as_operations_not_as_items(
    nesting: str, tally: str | None, more: str | None
) -> None:
    runner = TestRunner()
    run = runner.run(_flat_map, nesting)
    assert run.result() == ["SUCCEEDED"] * 2 + ["FAILED"] + ["SUCCEEDED"] * 3
    text = _text(_timeline(runner, run))
    assert "12 items" not in text and "11 more items" not in text, text
    if tally is None:
        assert " items:" not in text and "more items" not in text, text
    else:
        assert tally in text and more in text, text


# --- log lines: never lost, whatever crash, in Map items, nested children and checks ---------

_log = dg.get_logger("durable_gen.tests.round12")


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept() -> Iterator[_Keep]:
    """What the workflow logger writes, whatever an earlier test left configured."""
    handler = _Keep()
    logger = _log.logger
    saved = (logger.level, logger.disabled, logger.propagate)
    manager_disable = logging.root.manager.disable
    logging.disable(logging.NOTSET)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.disabled = False
    logger.propagate = False
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(saved[0])
    logger.disabled, logger.propagate = saved[1], saved[2]
    logging.disable(manager_disable)


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def _wobbly(i: int) -> int:
    info = current_attempt()
    assert info is not None
    _log.info("wobbly %s attempt %s", i, info.attempt)
    if info.attempt < 2:
        raise ValueError(f"first try of {i}")
    return i


def _grandchild(i: int) -> Generator[Any, Any, int]:
    _log.info("grandchild %s start", i)
    yield dg.Wait(seconds=2, name=f"nap-{i}")
    _log.info("grandchild %s end", i)
    return i


def _child(i: int) -> Generator[Any, Any, int]:
    _log.info("child %s start", i)
    got = yield dg.Child(_grandchild, (i,), name=f"grandchild-{i}")
    _log.info("child %s end", i)
    return got


def _retrying_item(i: int) -> Generator[Any, Any, int]:
    _log.info("item %s start", i)
    v = yield _wobbly(i)
    _log.info("item %s mid", i)
    w = yield dg.Child(_child, (i,), name=f"child-{i}")
    _log.info("item %s end", i)
    return v + w


def _count_up(state: int) -> int:
    _log.info("check from %s", state)
    return state + 1


def _enough(state: int) -> bool:
    _log.info("judge %s", state)
    return state >= 3


@dg.workflow
def _everything(_: None) -> Generator[Any, Any, Any]:
    _log.info("begin")
    out = yield dg.Map(_retrying_item, [0, 1, 2], name="items")
    _log.info("after map")
    polled = yield dg.WaitForCondition(
        _count_up,
        initial_state=0,
        wait_strategy=dg.WaitStrategy(until=_enough, delay=1),
        name="poll",
    )
    _log.info("after poll %s", polled)
    return [out.get_results(), polled]


_EVERY_LINE = Counter(
    [
        "begin",
        *(f"item {i} {at}" for i in range(3) for at in ("start", "mid", "end")),
        *(f"wobbly {i} attempt {n}" for i in range(3) for n in (1, 2)),
        *(f"child {i} {at}" for i in range(3) for at in ("start", "end")),
        *(f"grandchild {i} {at}" for i in range(3) for at in ("start", "end")),
        "after map",
        *(f"check from {s}" for s in range(3)),
        *(f"judge {s}" for s in range(1, 4)),
        "after poll 3",
    ]
)


def test_every_line_once_without_crashes_with_the_fields_of_its_context(kept: _Keep) -> None:
    runner = TestRunner()
    run = runner.run(_everything)
    assert run.result() == [[0, 2, 4], 3]
    assert Counter(r.getMessage() for r in kept.records) == _EVERY_LINE
    arns = {getattr(r, "durableExecutionArn", None) for r in kept.records}
    assert arns == {run.arn}
    by_message = {r.getMessage(): r for r in kept.records}
    poll = run.operation("poll")
    # a check and the strategy's judge name the condition's operation and its check number
    for s in range(3):
        check, judge = by_message[f"check from {s}"], by_message[f"judge {s + 1}"]
        for record in (check, judge):
            assert getattr(record, "operationId", None) == poll.id
            assert getattr(record, "operationName", None) == "poll"
            assert getattr(record, "attempt", None) == s + 1
            assert not hasattr(record, "parentId")  # at the top level
    # a step in a Map item names the item's context as its parent
    items = {op.name: op for op in run.operations() if op.name and op.name.startswith("map-item")}
    for i in range(3):
        for n in (1, 2):
            record = by_message[f"wobbly {i} attempt {n}"]
            assert getattr(record, "attempt", None) == n
            assert getattr(record, "operationName", None) == "_wobbly"
            assert getattr(record, "parentId", None) == items[f"map-item-{i}"].id
    # workflow code's lines carry the execution only, wherever they run
    for message in ("begin", "item 1 mid", "child 2 end", "grandchild 0 start", "after map"):
        record = by_message[message]
        assert not hasattr(record, "operationId") and not hasattr(record, "attempt"), message
        assert not hasattr(record, "replaying"), message


def _schedules() -> list[CrashSchedule]:
    return [
        *(CrashSchedule(after_checkpoints=[k]) for k in range(1, 8)),
        *(CrashSchedule(before_attempts=[k]) for k in range(1, 13)),
        *(CrashSchedule(after_attempts=[k]) for k in range(1, 13)),
    ]


@pytest.mark.parametrize("schedule", _schedules(), ids=repr)
def test_a_crash_anywhere_loses_no_line_and_repeats_only_what_it_cut_short(
    kept: _Keep, schedule: CrashSchedule
) -> None:
    runner = TestRunner()
    runner.crash(schedule)
    run = runner.run(_everything)
    assert run.result() == [[0, 2, 4], 3]
    seen = Counter(r.getMessage() for r in kept.records)
    assert set(seen) == set(_EVERY_LINE), set(_EVERY_LINE) - set(seen)
    # one crash repeats at most once what the invocation it cut short had logged
    assert all(n <= 2 * _EVERY_LINE[m] for m, n in seen.items()), seen


# --- a long execution error is shown whole -------------------------------------------------


@dg.workflow
def _fails_at_length(length: int) -> Generator[Any, Any, None]:
    yield dg.Wait(seconds=1, name="pause")
    raise ValueError("é" * length + " <end of the message>")


def test_show_and_the_timeline_write_a_long_execution_error_whole() -> None:
    runner = TestRunner()
    run = runner.run(_fails_at_length, 5000)
    assert run.error is not None
    recorded = run.error.error_message
    assert recorded is not None and recorded.endswith(" <end of the message>")
    shown = _show(runner, run)
    (line,) = [line for line in shown.splitlines() if line.startswith("  error     ")]
    assert line == f"  error     ValueError: {recorded}"
    page = _timeline(runner, run)
    head = page[page.find('id="execution-error"') : page.find('<div class="legend">')]
    assert recorded in html.unescape(head)


# --- waiting_on: what a decided batch left behind is not waited on ---------------------------


def _left_or_quick(i: int) -> Generator[Any, Any, int]:
    if i == 0:
        yield dg.Wait(seconds=86_400, name="long-nap")
        handle = yield dg.CreateCallback(name="never-needed")
        yield handle
    elif i == 1:
        handle = yield dg.CreateCallback(name="not-needed")
        yield handle
    return i


@dg.workflow
def _first_one_wins(_: None) -> Generator[Any, Any, Any]:
    batch = yield dg.Map(
        _left_or_quick, [0, 1, 2], name="race", completion=dg.Completion(min_successful=1)
    )
    handle = yield dg.CreateCallback(name="go-ahead")
    return [batch.get_results(), (yield handle)]


def test_waiting_on_leaves_out_the_wait_and_callback_of_items_a_decided_batch_left() -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(_first_one_wins)
    runner.advance(5)
    assert run.status == "RUNNING"
    # the store still has the abandoned wait and callback open...
    open_ones = {
        op.name: op.status for op in run.operations() if op.name in ("long-nap", "not-needed")
    }
    assert open_ones == {"long-nap": "STARTED", "not-needed": "STARTED"}
    assert run.operation("race").status == "SUCCEEDED"
    # ...but the execution waits on its own callback alone
    (line,) = run.waiting_on()
    assert line.startswith("callback 'go-ahead' (CallbackId "), line
    assert [w for w in _show(runner, run).splitlines() if w.startswith("  waits on")] == [
        f"  waits on  {line}"
    ]
    # their rows stop where the batch ended: they are not going on ("+")
    rows = {row.split()[0]: row for row in _show(runner, run).splitlines()[-8:]}
    assert not rows["long-nap"].endswith("+") and not rows["map-item-1"].endswith("+"), rows
    assert rows["go-ahead"].endswith("5.0 s+"), rows
    # the timeline draws them closed, ending with the batch, not open until now
    page = _timeline(runner, run)
    for name in ("long-nap", "not-needed"):
        row = page[page.find(f">{name}<") :]
        bar = row[row.find('<div class="bar') : row.find("</div></div>")]
        assert 'class="bar"' in bar and "width:0.200%" in bar, bar
    with pytest.raises(dg.ExecutionSuspendedError) as caught:
        run.result()
    assert caught.value.waiting_on == [line]
    assert "long-nap" not in str(caught.value) and "not-needed" not in str(caught.value)
    run.send_callback_success("go-ahead", "yes")
    runner.run_until_idle()
    assert run.result() == [[2], "yes"]


@dg.workflow
def _all_needed(_: None) -> Generator[Any, Any, Any]:
    batch = yield dg.Map(_left_or_quick, [0, 1, 2], name="all")
    return batch.get_results()


def test_the_wait_and_callback_of_items_still_needed_are_waited_on() -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(_all_needed)
    runner.advance(5)
    lines = run.waiting_on()
    assert [line.split(" (")[0].split(" until ")[0] for line in lines] == [
        "wait 'long-nap'",
        "callback 'not-needed'",
    ], lines


def test_an_invocation_suspended_after_a_batch_was_decided_waits_on_what_goes_on() -> None:
    from durable_gen import runtime as rt
    from tests.unit.embedding_runtimes import ThreadRuntime

    host = ThreadRuntime(_first_one_wins, "null")
    try:
        outcome = host.invoke()
    finally:
        host.close()
    assert isinstance(outcome, rt.Suspended)
    assert [line.split(" (")[0] for line in outcome.waiting_on] == ["go-ahead"], outcome
    # the same items, the batch not decided: the item's wait and callback are waited on
    host = ThreadRuntime(_all_needed, "null")
    try:
        outcome = host.invoke()
    finally:
        host.close()
    assert isinstance(outcome, rt.Suspended)
    assert [line.split(" (")[0] for line in outcome.waiting_on] == ["long-nap", "not-needed"]


# --- the timeline of a timed-out execution with one operation --------------------------------


@dg.workflow
def _one_long_wait(_: None) -> Generator[Any, Any, None]:
    yield dg.Wait(seconds=100, name="too-long")


def test_the_timeline_counts_one_operation_in_the_singular() -> None:
    runner = TestRunner()
    run = runner.run(_one_long_wait, execution_timeout=10)
    assert run.status == "TIMED_OUT"
    text = _text(_timeline(runner, run))
    assert " 1 operation " in text and "1 operations" not in text, text
    assert "duration 10.0 s" in text and "Execution.Timeout" in text, text
    # the wait the timeout cut short is drawn until the execution's end, and shown so
    (row,) = [r for r in _show(runner, run).splitlines() if r.lstrip().startswith("too-long")]
    assert row.split()[1:] == ["Wait", "STARTED", "10.0", "s"], row


# --- waiting_on: a WaitForCondition waits for its next check, not a step's attempt ------------


@dg.workflow
def _polls(_: None) -> Generator[Any, Any, int]:
    return (
        yield dg.WaitForCondition(
            _count_up,
            initial_state=0,
            wait_strategy=dg.WaitStrategy(until=lambda s: s >= 2, delay=30),
            name="poll",
        )
    )


def test_waiting_on_a_condition_names_its_next_check() -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(_polls)
    assert run.waiting_on() == ["condition 'poll', next check at 2025-01-01T00:00:30.000+00:00"]
    assert run.operation("poll").sub_type == "WaitForCondition"
    runner.advance(30)
    assert run.result() == 2
