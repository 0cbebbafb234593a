"""Time, checked claim by claim against docs/engine.md ("Time", "Callbacks"), docs/guide.md
(callbacks, polling) and docs/observability.md (round 9): callback heartbeats and deadlines
on the in-memory and the SQLite store with a hand-moved virtual clock, answers that arrive
after a deadline no engine has fired yet, an execution timeout cutting a polling, and what a
hand-moved clock does to a chain of timers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local import LocalService, SqliteStore, VirtualClock
from durable_gen.plugins import Plugin
from durable_gen.runtime import make_handler
from durable_gen.telemetry import TelemetryPlugin
from durable_gen.testing import TestRunner

ENGINES = ["memory", "sqlite"]


def _engine(kind: str, tmp_path: Path, workflow: Any, **options: Any) -> Any:
    """A service on ``kind``'s store and a virtual clock that moves only by hand."""
    clock = VirtualClock(auto_advance=False)
    store = SqliteStore(str(tmp_path / "time9.db")) if kind == "sqlite" else None
    service = LocalService(store=store, clock=clock)
    service.register("wf", make_handler(workflow, service, **options))
    return service, clock


def _callback_id(service: LocalService, arn: str) -> str:
    (op,) = [op for op in service.get_operations(arn) if op.type == "CALLBACK"]
    assert op.callback_details is not None and op.callback_details.callback_id
    return op.callback_details.callback_id


def _events(service: LocalService, arn: str) -> list[str]:
    return [e.event_type for e in service.get_history(arn)]


def _approval(_: Any) -> Any:
    handle = yield dg.CreateCallback(name="cb", timeout=100, heartbeat_timeout=30)
    try:
        return ["ok", (yield handle)]
    except dg.CallbackTimeoutError as exc:
        return ["timeout", exc.error_type]


# --- heartbeats and deadlines on both stores --------------------------------------------------


@pytest.mark.parametrize("kind", ENGINES)
def test_heartbeats_keep_a_callback_open_until_its_overall_timeout(
    kind: str, tmp_path: Path
) -> None:
    service, clock = _engine(kind, tmp_path, _approval)
    arn = service.start("wf", "null")
    service.run_until_idle()
    cid = _callback_id(service, arn)
    for _ in range(4):  # a heartbeat every 20 s: never 30 s without one
        clock.advance(20)
        service.send_callback_heartbeat(cid)
        service.run_until_idle()
    assert service.get_execution(arn).status == "RUNNING"
    clock.advance(19)  # 99 s: the overall timeout has 1 s left
    service.run_until_idle()
    assert service.get_execution(arn).status == "RUNNING"
    clock.advance(1)
    service.run_until_idle()
    record = service.get_execution(arn)
    assert (record.status, record.result) == ("SUCCEEDED", '["timeout","Callback.Timeout"]')


@pytest.mark.parametrize("kind", ENGINES)
@pytest.mark.parametrize("answer", ["success", "heartbeat"])
def test_an_answer_after_a_missed_heartbeat_no_engine_fired_yet_is_refused(
    kind: str, answer: str, tmp_path: Path
) -> None:
    """engine.md: a callback whose heartbeat timeout has passed is timed out by then even if
    no engine has run since: the answer fires it first and is refused (also exactly at the
    deadline, when the timer is due)."""
    service, clock = _engine(kind, tmp_path, _approval)
    arn = service.start("wf", "null")
    service.run_until_idle()
    cid = _callback_id(service, arn)
    clock.advance(30)  # exactly the heartbeat timeout: the timer is due
    with pytest.raises(dg.UnknownCallbackError, match=r"already ended \(TIMED_OUT\)"):
        if answer == "success":
            service.send_callback_success(cid, '"late"')
        else:
            service.send_callback_heartbeat(cid)
    assert "CallbackTimedOut" in _events(service, arn)
    service.run_until_idle()
    record = service.get_execution(arn)
    assert (record.status, record.result) == ("SUCCEEDED", '["timeout","Callback.Heartbeat"]')


# --- an execution timeout cutting a polling ---------------------------------------------------


class _Ends(Plugin):
    def __init__(self) -> None:
        self.ends: list[str] = []

    def on_execution_end(self, info: Any, status: str, result: Any, error: Any) -> None:
        self.ends.append(status)


def _check(state: int) -> int:
    return state + 1


def _polling(_: Any) -> Any:
    return (
        yield dg.WaitForCondition(
            _check,
            initial_state=0,
            wait_strategy=dg.WaitStrategy(until=lambda s: s >= 100, delay=10),
            name="poll",
        )
    )


@pytest.mark.parametrize("kind", ENGINES)
def test_an_execution_timeout_between_checks_ends_it_with_no_check_after_the_deadline(
    kind: str, tmp_path: Path
) -> None:
    ends, records = _Ends(), []
    service, clock = _engine(
        kind, tmp_path, _polling, plugins=[ends, TelemetryPlugin(records.append)]
    )
    arn = service.start("wf", "null", execution_timeout=35)
    service.run_until_idle()
    for _ in range(5):
        clock.advance(10)
        service.run_until_idle()
    record = service.get_execution(arn)
    assert record.status == "TIMED_OUT"
    assert record.error is not None and record.error.error_type == "Execution.Timeout"
    (poll,) = [op for op in service.get_operations(arn) if op.name == "poll"]
    assert poll.step_details is not None and poll.step_details.attempt == 4  # 0, 10, 20, 30 s
    assert _events(service, arn)[-1] == "ExecutionTimedOut"
    # observability.md: a timeout ends the execution outside any invocation
    assert ends.ends == [] and records == []


# --- a hand-moved clock moves at once; run(until=) goes timer by timer -----------------------


def _two_waits(_: Any) -> Any:
    yield dg.Wait(seconds=5, name="a")
    yield dg.Wait(seconds=7, name="b")
    return "done"


def _lengths(service: LocalService, arn: str) -> dict[str | None, int | None]:
    return {
        op.name: (op.end_timestamp - op.start_timestamp)
        if op.end_timestamp is not None and op.start_timestamp is not None
        else None
        for op in service.get_operations(arn)
        if op.type == "WAIT"
    }


@pytest.mark.parametrize("kind", ENGINES)
def test_a_hand_moved_clock_fires_what_fell_due_at_its_new_time(kind: str, tmp_path: Path) -> None:
    service, clock = _engine(kind, tmp_path, _two_waits)
    arn = service.start("wf", "null")
    service.run_until_idle()
    clock.advance(100)
    service.run_until_idle()
    assert service.get_execution(arn).status == "RUNNING"
    assert _lengths(service, arn) == {"a": 100_000, "b": None}
    assert service.waiting_on(arn) == ["wait 'b' until 2025-01-01T00:01:47.000+00:00"]


@pytest.mark.parametrize("kind", ENGINES)
def test_run_until_on_an_auto_advancing_clock_fires_each_timer_at_its_due_time(
    kind: str, tmp_path: Path
) -> None:
    clock = VirtualClock()
    store = SqliteStore(str(tmp_path / "time9.db")) if kind == "sqlite" else None
    service = LocalService(store=store, clock=clock)
    service.register("wf", make_handler(_two_waits, service))
    arn = service.start("wf", "null")
    start = clock.now_ms()
    record = service.run(arn, until=start + 100_000)
    assert record.status == "SUCCEEDED"
    assert _lengths(service, arn) == {"a": 5000, "b": 7000}
    assert record.end_timestamp is not None and record.start_timestamp is not None
    assert record.end_timestamp - record.start_timestamp == 12_000


def test_the_runner_advance_fires_each_timer_at_its_due_time() -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(_two_waits)
    runner.advance(100)
    assert run.result() == "done"
    assert [
        (op.name, op.operation.end_timestamp - op.operation.start_timestamp)  # type: ignore[operator]
        for op in run.operations()
    ] == [("a", 5000), ("b", 7000)]


# --- advance_to_next_timer: the timers due at that same time fire together -------------------


def _branch(i: int) -> Any:
    yield dg.Wait(seconds=5, name=f"w{i}")
    return i


def _two_branches_then_a_wait(_: Any) -> Any:
    import functools

    batch = yield dg.Parallel([functools.partial(_branch, 1), functools.partial(_branch, 2)])
    yield dg.Wait(seconds=5, name="w3")
    return [item.result for item in batch.items]


@pytest.mark.parametrize("skip_time", [False, True])
def test_advance_to_next_timer_fires_the_timers_due_together_and_no_later_one(
    skip_time: bool,
) -> None:
    runner = TestRunner(skip_time=skip_time)
    run = runner.start(_two_branches_then_a_wait)
    start = runner.now()

    def statuses() -> list[tuple[str | None, str]]:
        return [(op.name, op.status) for op in run.operations(type="WAIT")]

    assert runner.advance_to_next_timer() is True
    assert (runner.now() - start).total_seconds() == 5
    assert statuses() == [("w1", "SUCCEEDED"), ("w2", "SUCCEEDED"), ("w3", "STARTED")]
    assert runner.advance_to_next_timer() is True
    assert (runner.now() - start).total_seconds() == 10
    assert run.result() == [1, 2]
    assert runner.advance_to_next_timer() is False


# --- skipping time stops before a callback's heartbeat deadline, not only its timeout ---------


def _notify(callback_id: str) -> None:
    return None


def _ask(_: int) -> Any:
    return (yield dg.WaitForCallback(_notify, name="ask", timeout=100, heartbeat_timeout=30))


def _nap(seconds: int) -> Any:
    yield dg.Wait(seconds=seconds, name="nap")
    return "napped"


def _ask_and_nap(seconds: int) -> Any:
    import functools

    batch = yield dg.Parallel([functools.partial(_ask, 0), functools.partial(_nap, seconds)])
    return [item.result for item in batch.items]


@pytest.mark.parametrize(("nap", "fired", "now"), [(10, True, 10), (60, False, 0)])
def test_skipping_time_fires_the_timers_before_a_heartbeat_deadline_and_stops_there(
    nap: int, fired: bool, now: int
) -> None:
    runner = TestRunner()
    start = runner.now()
    run = runner.run(_ask_and_nap, nap)
    assert run.status == "RUNNING"
    assert run.operation("nap").status == ("SUCCEEDED" if fired else "STARTED")
    assert (runner.now() - start).total_seconds() == now  # never past the 30 s deadline
    run.send_callback_success("ask", "yes")
    runner.run_until_idle()
    assert run.result() == ["yes", "napped"]
