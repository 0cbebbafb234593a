"""What the hooks promise, checked on one workflow that uses every kind of operation (a step
retried after a delay, a wait, a Map with a failure within its tolerance, a Parallel, a
recorded and a virtual child context that suspend inside, a WaitForCondition, an invoke), in
every checkpointing mode: each operation starts once and ends once across all invocations
(replayed ones fire nothing), a step's enclosing contexts start before it, attempts come
between their operation's start and end, and the execution starts and ends once."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import durable_gen as dg

calls = {"flaky": 0}


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, jitter="none"))
def flaky(x: int) -> int:
    calls["flaky"] += 1
    if calls["flaky"] == 1:
        raise ConnectionError("first attempt fails")
    return x


@dg.step(retry=dg.Retry.never())
def odd_only(x: int) -> int:
    if x % 2 == 0:
        raise ValueError(f"{x} is even")
    return x


@dg.step
def double(x: int) -> int:
    return 2 * x


@dg.step
def poll(state: int) -> int:
    return state + 1


def inner(x: int):  # type: ignore[no-untyped-def]
    y = yield double(x)
    yield dg.Wait(seconds=1, name="inside")
    return (yield double(y))


@dg.workflow
def everything(x: int):  # type: ignore[no-untyped-def]
    a = yield flaky(x)
    yield dg.Wait(seconds=2, name="pause")
    batch = yield dg.Map(
        odd_only, [1, 2, 3], completion=dg.Completion(tolerated_failure_count=1), name="odds"
    )
    both = yield dg.Parallel([dg.Branch(lambda: 1, name="one"), dg.Branch(lambda: 2, name="two")])
    b = yield dg.Child(inner, (a,), name="recorded")
    c = yield dg.Child(inner, (a,), name="virtual", virtual=True)
    d = yield dg.WaitForCondition(
        poll,
        initial_state=0,
        wait_strategy=dg.WaitStrategy(until=lambda s: s >= 2, delay=1, max_attempts=5),
        name="polling",
    )
    e = yield dg.Invoke("tax", {"amount": a}, name="tax")
    return [a, len(batch.items), both.results(), b, c, d, e]


class Log(dg.Plugin):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[Any, ...]] = []

    def _add(self, *event: Any) -> None:
        with self.lock:
            self.events.append(event)

    def on_invocation_start(self, info: Any) -> None:
        self._add("invocation", info.first)

    def on_execution_start(self, info: Any) -> None:
        self._add("execution start")

    def on_operation_start(self, op: Any) -> None:
        self._add("start", op.operation_id, op.parent_id, op.type)

    def on_operation_end(self, op: Any, status: str) -> None:
        self._add("end", op.operation_id, status)

    def on_attempt_start(self, attempt: Any) -> None:
        self._add("attempt start", attempt.operation_id, attempt.attempt)

    def on_attempt_end(self, attempt: Any, outcome: str, error: Any) -> None:
        self._add("attempt end", attempt.operation_id, attempt.attempt, outcome)

    def on_execution_end(self, info: Any, status: str, result: Any, error: Any) -> None:
        self._add("execution end", status)

    def on_invocation_end(self, info: Any, status: str) -> None:
        self._add("invocation end", status)


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_the_hooks_keep_their_promises(mode: dg.CheckpointMode) -> None:
    calls["flaky"] = 0
    log = Log()
    result = dg.run(
        everything,
        3,
        functions={"tax": lambda payload: {"tax": 1}},
        skip_time=True,
        checkpointing=mode,
        plugins=[log],
    )
    assert result == [3, 3, [1, 2], 12, 12, 2, {"tax": 1}]
    events = log.events
    kinds = [e[0] for e in events]
    assert kinds.count("execution start") == 1 and kinds.count("execution end") == 1
    assert kinds.index("execution start") == 1  # right after the first invocation's start
    assert events[-2:] == [("execution end", "SUCCEEDED"), ("invocation end", "SUCCEEDED")]
    assert next(e[1] for e in events if e[0] == "invocation") is True
    assert kinds.count("invocation") > 3  # the retry, the waits, the polls and the invoke
    starts = [e for e in events if e[0] == "start"]
    ends = [e for e in events if e[0] == "end"]
    started = [e[1] for e in starts]
    assert len(started) == len(set(started)), "an operation started twice (a replay fired it)"
    assert sorted(e[1] for e in ends) == sorted(set(e[1] for e in ends)), "ended twice"
    # everything that started ended, but what the service ends (waits, invokes), whose end is
    # an on_operation_change with by_service
    by_service = {e[1] for e in starts if e[3] in ("WAIT", "CHAINED_INVOKE")}
    assert set(e[1] for e in ends) == set(started) - by_service
    where = {e[1]: i for i, e in enumerate(events) if e[0] == "start"}
    for e in starts:  # enclosing contexts first
        if e[2] is not None:
            assert where[e[2]] < where[e[1]], f"{e[1]} started before its parent {e[2]}"
    ended_at = {e[1]: i for i, e in enumerate(events) if e[0] == "end"}
    for i, e in enumerate(events):
        if e[0] in ("attempt start", "attempt end"):
            assert where[e[1]] < i < ended_at[e[1]] or (
                e[0] == "attempt end" and i < ended_at[e[1]]
            )
    failed = {e[1] for e in ends if e[2] == "FAILED"}
    assert len(failed) == 2  # the even item's step and its Map item
    retried = [e for e in events if e[0] == "attempt end" and e[3] == "FAILED"]
    assert [e[2] for e in retried] == [1, 1]  # flaky's first attempt, the even item's only one


def _undo_booking(x: int) -> None:
    """Undoes ``book``."""


@dg.step(compensate=_undo_booking)
def book(x: int) -> int:
    return x


@dg.step(timeout=0.05, retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def hangs() -> int:
    import time

    time.sleep(0.2)
    return 1


def _notify(callback_id: str) -> None:
    """Hands the callback id over."""


def _books(x: int):  # type: ignore[no-untyped-def]
    booked = [(yield book(x)), (yield book(x + 1))]
    batch = yield dg.Map(double, booked, name="doubled")
    undone = yield dg.RunCompensations()  # LIFO, each undo in a context of its own
    return [batch.results(), [u.status for u in undone]]


@dg.workflow
def callbacks_timeouts_sagas(x: int):  # type: ignore[no-untyped-def]
    approved = yield dg.WaitForCallback(_notify, name="approval", timeout=600)
    handle = yield dg.CreateCallback(name="never", timeout=60, heartbeat_timeout=30)
    try:
        yield handle
        timed_out = "no"
    except dg.CallbackTimeoutError as exc:
        timed_out = exc.error_type
    try:
        yield hangs()
        step = "no"
    except dg.StepTimeoutError as exc:
        step = exc.error_type
    books = yield dg.Child(_books, (x,), name="nested")
    return [approved, timed_out, step, books]


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_the_hooks_keep_their_promises_around_callbacks_timeouts_and_sagas(
    mode: dg.CheckpointMode,
) -> None:
    from durable_gen.testing import TestRunner

    log = Log()
    runner = TestRunner(checkpointing=mode, plugins=[log])
    run = runner.run(callbacks_timeouts_sagas, 3)
    run.send_callback_success("approval", "yes")
    runner.run_until_idle(include_callback_timeouts=True)
    assert run.result() == [
        "yes", "Callback.Heartbeat", "StepTimeoutError", [[6, 8], ["SUCCEEDED", "SUCCEEDED"]],
    ]  # fmt: skip
    events = log.events
    kinds = [e[0] for e in events]
    assert kinds.count("execution start") == 1 and kinds.count("execution end") == 1
    assert events[-2:] == [("execution end", "SUCCEEDED"), ("invocation end", "SUCCEEDED")]
    assert kinds.count("invocation") == kinds.count("invocation end")
    starts = [e for e in events if e[0] == "start"]
    ends = [e for e in events if e[0] == "end"]
    started = [e[1] for e in starts]
    assert len(started) == len(set(started)), "an operation started twice"
    assert len(ends) == len({e[1] for e in ends}), "an operation ended twice"
    by_service = {e[1] for e in starts if e[3] == "CALLBACK"}  # answered or timed out
    assert {e[1] for e in ends} == set(started) - by_service
    where = {e[1]: i for i, e in enumerate(events) if e[0] == "start"}
    ended_at = {e[1]: i for i, e in enumerate(events) if e[0] == "end"}
    for e in starts:
        if e[2] is not None:
            assert where[e[2]] < where[e[1]], f"{e[1]} started before its parent {e[2]}"
            assert e[1] in by_service or ended_at[e[1]] < ended_at[e[2]], "ended after its parent"
    for i, e in enumerate(events):
        if e[0] in ("attempt start", "attempt end"):
            assert where[e[1]] < i < ended_at[e[1]]
    attempts = [(e[0], e[2], e[3]) for e in events if e[0] == "attempt end" and e[3] == "FAILED"]
    assert attempts == [("attempt end", 1, "FAILED"), ("attempt end", 2, "FAILED")]  # hangs
    failed = [e for e in ends if e[2] == "FAILED"]
    assert len(failed) == 1  # the step that timed out twice
    assert kinds.count("attempt start") == kinds.count("attempt end")
