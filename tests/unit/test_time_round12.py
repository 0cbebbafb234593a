"""Time, from the docs (round 12): a callback whose timeout and heartbeat timeout end at the same
moment, a late heartbeat in an embedding host's store, a clock moved by exactly a timer's due
time and by a millisecond less, two executions whose timers interleave on one runner, an
execution timeout that passes while a Map's items wait or while a retry delay runs, a wait at
the longest length, and a timer falling due while a step of the same execution runs. Each
shape is checked on the test runner and on the embedded engine (memory and SQLite stores,
virtual clock), which must agree."""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.local import LocalService, SqliteStore, VirtualClock, Worker
from durable_gen.runtime import make_handler
from durable_gen.testing import TestRunner

START_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z, where the virtual clocks start
ENGINES = ["memory", "sqlite"]


def _engine(
    kind: str, tmp_path: Path, workflow: Any, *, auto_advance: bool = True
) -> tuple[LocalService, VirtualClock]:
    clock = VirtualClock(auto_advance=auto_advance)
    store = SqliteStore(str(tmp_path / "time12.db")) if kind == "sqlite" else None
    service = LocalService(store=store, clock=clock)
    service.register("wf", make_handler(workflow, service))
    return service, clock


def _callback_id(service: LocalService, arn: str) -> str:
    (op,) = [op for op in service.get_operations(arn) if op.type == "CALLBACK"]
    assert op.callback_details is not None and op.callback_details.callback_id
    return op.callback_details.callback_id


# --- a callback whose two timeouts end together ---------------------------------------------


def _both_at_300(_: Any) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="c", timeout=300, heartbeat_timeout=300)
    try:
        return (yield handle)
    except dg.CallbackTimeoutError as exc:
        return [exc.error_type, str(exc)]


TIMED_OUT_AT_300 = ["Callback.Timeout", "the callback was not completed within 300 seconds"]


@pytest.mark.parametrize("kind", ENGINES)
def test_timeout_and_heartbeat_ending_together_time_out_as_the_overall_timeout(
    kind: str, tmp_path: Path
) -> None:
    service, clock = _engine(kind, tmp_path, _both_at_300)
    arn = service.start("wf", "null")
    record = service.run(arn)
    assert record.status == "SUCCEEDED"
    assert record.result is not None
    assert json.loads(record.result) == TIMED_OUT_AT_300
    assert clock.now_ms() == START_MS + 300_000


@pytest.mark.parametrize("skip_time", [True, False])
def test_the_runner_says_the_same_of_two_timeouts_ending_together(skip_time: bool) -> None:
    runner = TestRunner(skip_time=skip_time)
    run = runner.run(dg.workflow(_both_at_300))
    assert run.status == "RUNNING"  # the runner stops before a callback times out
    if skip_time:
        runner.run_until_idle(include_callback_timeouts=True)
    else:
        runner.advance(300)
    assert run.result() == TIMED_OUT_AT_300
    assert runner.now() == datetime(2025, 1, 1, 0, 5, tzinfo=UTC)


# --- a heartbeat reaching an embedding host's store after its deadline -----------------------


def _heartbeats(_: Any) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="c", timeout=100, heartbeat_timeout=30)
    try:
        return ["ok", (yield handle)]
    except dg.CallbackTimeoutError as exc:
        return ["timeout", exc.error_type]


class _Host:
    """The loop of docs/embedding.md over one execution, with its timers kept by kind and
    operation as the docs ask."""

    def __init__(self, workflow: Any) -> None:
        self.workflow = workflow
        self.store: dict[str, rt.Operation] = {
            "exec": rt.Operation(
                id="exec",
                type="EXECUTION",
                status="STARTED",
                start_timestamp=0,
                execution_details=rt.ExecutionDetails(input_payload="null"),
            )
        }
        self.timers: dict[tuple[str, str], rt.Timer] = {}

    def invoke(self, now_ms: int) -> rt.Outcome:
        interp = rt.Interpreter(
            self.workflow,
            list(self.store.values()),
            execution_arn="time12-execution",
            clock=lambda: now_ms / 1000,
        )
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                applied = rt.apply_updates(self.store, action.updates, now_ms=now_ms)
                for timer in applied.timers:
                    self.timers[timer.kind, timer.operation_id] = timer
                interp.observe(applied.operations)
            elif isinstance(action, rt.RunTasks):
                for task in action.tasks:
                    interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
            elif isinstance(action, rt.Done):
                interp.close()
                return action.outcome
            else:  # pragma: no cover - no task runs concurrently here
                raise AssertionError(action)

    def callback(self) -> tuple[str, str]:
        (op,) = [op for op in self.store.values() if op.type == "CALLBACK"]
        assert op.callback_details is not None and op.callback_details.callback_id
        return op.id, op.callback_details.callback_id

    def heartbeat(self, now_ms: int) -> None:
        op_id, callback_id = self.callback()
        armed = self.timers[("callback-heartbeat", op_id)]
        new = rt.heartbeat_callback(self.store, callback_id, armed, now_ms=now_ms)
        assert new is not None
        self.timers[new.kind, new.operation_id] = new

    def fire_due(self, now_ms: int) -> None:
        for key, timer in sorted(self.timers.items(), key=lambda kv: kv[1].due_ms):
            if timer.due_ms <= now_ms:
                del self.timers[key]
                rt.fire_timer(self.store, timer, now_ms=now_ms)


@pytest.mark.parametrize("late_ms", [0, 1, 40_000])
def test_a_heartbeat_after_its_deadline_is_refused_by_the_store_as_by_the_engine(
    late_ms: int,
) -> None:
    """A heartbeat reaching the store at or after the deadline of the heartbeat timer it names
    does not revive the callback: it is refused, nothing is changed, and the timer, fired,
    times the callback out with Callback.Heartbeat, as the engine does."""
    host = _Host(_heartbeats)
    assert isinstance(host.invoke(0), rt.Suspended)
    host.heartbeat(20_000)  # in time: the next one is due at 50 s
    op_id, callback_id = host.callback()
    armed = host.timers[("callback-heartbeat", op_id)]
    assert armed.due_ms == 50_000
    before = dict(host.store)
    with pytest.raises(dg.InvalidCheckpointError, match="heartbeat timeout ended at due_ms=50000"):
        rt.heartbeat_callback(host.store, callback_id, armed, now_ms=50_000 + late_ms)
    assert host.store == before
    host.fire_due(50_000 + late_ms)
    assert host.invoke(50_000 + late_ms) == rt.Succeeded(result='["timeout","Callback.Heartbeat"]')


@pytest.mark.parametrize("kind", ENGINES)
def test_the_engine_refuses_a_heartbeat_at_its_deadline_too(kind: str, tmp_path: Path) -> None:
    service, clock = _engine(kind, tmp_path, _heartbeats, auto_advance=False)
    arn = service.start("wf", "null")
    service.run_until_idle()
    clock.advance(20)
    service.send_callback_heartbeat(_callback_id(service, arn))
    clock.advance(30)
    with pytest.raises(dg.UnknownCallbackError, match=r"already ended \(TIMED_OUT\)"):
        service.send_callback_heartbeat(_callback_id(service, arn))
    service.run_until_idle()
    assert service.get_execution(arn).result == '["timeout","Callback.Heartbeat"]'


def test_a_heartbeat_a_millisecond_before_its_deadline_keeps_the_callback_open() -> None:
    host = _Host(_heartbeats)
    host.invoke(0)
    host.heartbeat(29_999)
    op_id, _ = host.callback()
    assert host.timers[("callback-heartbeat", op_id)].due_ms == 59_999
    host.fire_due(59_998)
    assert host.store[op_id].status == "STARTED"
    host.fire_due(59_999)
    assert host.store[op_id].status == "TIMED_OUT"


# --- a clock moved by exactly a due time, and by a millisecond less -------------------------


@dg.workflow
def _ten_seconds(_: None) -> Generator[Any, Any, Any]:
    yield dg.Wait(seconds=10, name="w")
    return (yield dg.Now())


def test_advance_by_a_millisecond_less_than_due_leaves_the_wait_running() -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(_ten_seconds)
    runner.advance(9.999)
    assert run.status == "RUNNING"
    assert run.waiting_on() == ["wait 'w' until 2025-01-01T00:00:10.000+00:00"]
    runner.advance(0.001)
    assert run.result() == "2025-01-01T00:00:10Z"


@pytest.mark.parametrize("kind", ENGINES)
def test_the_engine_fires_a_wait_at_its_due_millisecond_not_before(
    kind: str, tmp_path: Path
) -> None:
    service, clock = _engine(kind, tmp_path, _ten_seconds, auto_advance=False)
    arn = service.start("wf", "null")
    service.run_until_idle()
    clock.advance_to(START_MS + 9_999)
    service.run_until_idle()
    assert service.get_execution(arn).status == "RUNNING"
    clock.advance_to(START_MS + 10_000)
    service.run_until_idle()
    assert service.get_execution(arn).result == '"2025-01-01T00:00:10Z"'


# --- two executions whose timers interleave on one runner -----------------------------------


@dg.workflow
def _ticks(every: int) -> Generator[Any, Any, list[str]]:
    seen = []
    for i in range(3):
        yield dg.Wait(seconds=every, name=f"tick-{i}")
        now = yield dg.Now()
        seen.append(now.isoformat())
    return seen


@pytest.mark.parametrize("skip_time", [True, False])
def test_two_executions_timers_interleave_each_at_its_own_time(skip_time: bool) -> None:
    runner = TestRunner(skip_time=skip_time)
    three = runner.start(_ticks, 3)
    five = runner.start(_ticks, 5)
    if skip_time:
        runner.run_until_idle()
    else:
        runner.advance(15)
    assert three.result() == [f"2025-01-01T00:00:0{s}+00:00" for s in (3, 6, 9)]
    assert five.result() == [
        "2025-01-01T00:00:05+00:00",
        "2025-01-01T00:00:10+00:00",
        "2025-01-01T00:00:15+00:00",
    ]
    assert runner.now() == datetime(2025, 1, 1, 0, 0, 15, tzinfo=UTC)


# --- an execution timeout passing while a Map's items wait, or during a retry delay ----------


def _item(x: int) -> Generator[Any, Any, int]:
    yield dg.Wait(seconds=100 * (x + 1), name="item-wait")
    return x


def _map_of_waits(_: Any) -> Generator[Any, Any, Any]:
    result = yield dg.Map(_item, [0, 1, 2, 3], name="m", max_concurrency=2)
    return result.get_results()


@pytest.mark.parametrize("skip_time", [True, False])
def test_an_execution_timeout_ends_a_map_whose_items_wait_at_its_deadline(
    skip_time: bool,
) -> None:
    runner = TestRunner(skip_time=skip_time)
    run = runner.start(dg.workflow(_map_of_waits), execution_timeout=250)
    if skip_time:
        runner.run_until_idle()
    else:
        runner.advance(1000)
    assert run.status == "TIMED_OUT"
    assert run.error is not None and run.error.error_type == "Execution.Timeout"
    assert run.record.end_timestamp == START_MS + 250_000
    # items 0 and 1 ended (100 s, 200 s); item 2 started at 100 s waits until 400 s: cut off
    waits = [op for op in runner.service.get_operations(run.arn) if op.type == "WAIT"]
    assert sorted(op.status for op in waits) == ["STARTED", "STARTED", "SUCCEEDED", "SUCCEEDED"]


@pytest.mark.parametrize("kind", ENGINES)
def test_the_engine_times_the_map_out_at_the_same_millisecond(kind: str, tmp_path: Path) -> None:
    service, _ = _engine(kind, tmp_path, _map_of_waits)
    arn = service.start("wf", "null", execution_timeout=250)
    service.run_until_idle()
    record = service.get_execution(arn)
    assert record.status == "TIMED_OUT"
    assert record.end_timestamp == START_MS + 250_000
    waits = [op for op in service.get_operations(arn) if op.type == "WAIT"]
    assert sorted(op.status for op in waits) == ["STARTED", "STARTED", "SUCCEEDED", "SUCCEEDED"]


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=50, jitter="none"))
def _always_fails() -> int:
    raise RuntimeError("down")


def _retries(_: Any) -> Generator[Any, Any, Any]:
    return (yield _always_fails())


@pytest.mark.parametrize("kind", ENGINES)
def test_an_execution_timeout_inside_the_second_retry_delay_ends_it_there(
    kind: str, tmp_path: Path
) -> None:
    """Attempts at 0 s and 50 s; the second delay is min(60, 100) = 60 s, so the third attempt
    would be at 110 s: a 75 s timeout ends the execution at 75 s, with two attempts made."""
    service, _ = _engine(kind, tmp_path, _retries)
    arn = service.start("wf", "null", execution_timeout=75)
    record = service.run(arn)
    assert record.status == "TIMED_OUT"
    assert record.end_timestamp == START_MS + 75_000
    (step,) = [op for op in service.get_operations(arn) if op.type == "STEP"]
    assert step.status == "PENDING"
    assert step.step_details is not None and step.step_details.attempt == 2
    runner = TestRunner()
    run = runner.run(dg.workflow(_retries), execution_timeout=75)
    assert run.status == "TIMED_OUT"
    assert run.record.end_timestamp == START_MS + 75_000
    assert run.operation("_always_fails").attempts == 2


# --- a wait at the longest length ------------------------------------------------------------


@dg.workflow
def _longest(_: None) -> Generator[Any, Any, Any]:
    yield dg.Wait(seconds=31_622_400, name="366 days")
    return (yield dg.Now())


def test_a_wait_of_exactly_366_days_is_taken_and_longer_is_refused() -> None:
    assert TestRunner().run(_longest).result() == "2026-01-02T00:00:00Z"  # 2025 + 366 days
    with pytest.raises(dg.ValidationError, match="between 1 and 31622400 seconds, got 31622401"):
        dg.Wait(seconds=31_622_401)
    with pytest.raises(dg.ValidationError, match="skipped by not yielding it"):
        dg.Wait(seconds=0)


# --- a timer falling due while a step of the same execution runs -----------------------------

_CLOCKS: list[VirtualClock] = []


@dg.step(retry=dg.Retry.never())
def _ten_seconds_pass() -> str:
    _CLOCKS[-1].advance(10)  # time passes on the virtual clock while this step runs
    return "done"


def _waiting_branch() -> Generator[Any, Any, Any]:
    yield dg.Wait(seconds=5, name="w5")
    return (yield dg.Now())


def _working_branch() -> Generator[Any, Any, Any]:
    done = yield _ten_seconds_pass()
    return [done, (yield dg.Now())]


def _side_by_side(_: Any) -> Generator[Any, Any, Any]:
    result = yield dg.Parallel([_waiting_branch, _working_branch], name="p")
    return result.get_results()


def test_runner_and_engines_agree_on_a_wait_beside_a_step_that_takes_time(
    tmp_path: Path,
) -> None:
    """In "step" mode a wait's START goes out with the next step outcome (embedding.md, "When
    updates are flushed"): a step that ends in its start window takes the wait's start with
    it, on every engine alike."""
    results = []
    runner = TestRunner()
    _CLOCKS.append(runner.clock)
    results.append(runner.run(dg.workflow(_side_by_side)).result())
    for kind in ENGINES:
        (tmp_path / kind).mkdir()
        service, clock = _engine(kind, tmp_path / kind, _side_by_side)
        _CLOCKS.append(clock)
        arn = service.start("wf", "null")
        record = service.run(arn)
        assert record.result is not None
        results.append(json.loads(record.result))
    assert results[0] == results[1] == results[2]
    assert results[0][1] == ["done", "2025-01-01T00:00:10Z"]


# --- a start whose offset carries it over either end of the clock ----------------------------


@pytest.mark.parametrize(
    ("start", "where"),
    [
        (datetime(1970, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))), "before 1970-01-01"),
        (datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))), "after 9999-12-31"),
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), "before 1970-01-01"),
    ],
)
def test_a_start_its_offset_carries_out_of_range_says_which_end_in_utc(
    start: datetime, where: str
) -> None:
    with pytest.raises(dg.ValidationError, match=rf"is {where}T[0-9:.]+Z in UTC, where the clock"):
        TestRunner(start=start)


def test_a_start_its_offset_keeps_in_range_starts_there_in_utc() -> None:
    start = datetime(1970, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=-1)))
    assert TestRunner(start=start).now() == datetime(1970, 1, 1, 1, 30, tzinfo=UTC)


# --- timers due together fire in the order they were scheduled, on every path ----------------


@dg.workflow
def _both_at_300_workflow(_: None) -> Generator[Any, Any, Any]:
    return (yield from _both_at_300(None))


def test_the_worker_driving_one_execution_fires_the_overall_timeout_first(
    tmp_path: Path,
) -> None:
    """What `durable-gen run --skip-time` does: the worker drives one execution on SQLite. The
    two timeouts are due together, and the overall one was scheduled first, as the engine's
    run_until_idle and the test runner fire them."""
    with Worker(tmp_path / "drive.db", skip_time=True, log=lambda line: None) as worker:
        arn = worker.service.start(worker.register(_both_at_300_workflow), "null")
        record = worker.drive(arn)
    assert record.status == "SUCCEEDED"
    assert record.result is not None and json.loads(record.result) == TIMED_OUT_AT_300


@pytest.mark.parametrize("kind", ENGINES)
def test_an_answer_after_both_timeouts_fires_them_as_scheduled_first(
    kind: str, tmp_path: Path
) -> None:
    """An answer arriving after both timeouts passed, before any engine fired them, fires them
    first: the overall timeout, scheduled first, decides the error."""
    service, clock = _engine(kind, tmp_path, _both_at_300, auto_advance=False)
    arn = service.start("wf", "null")
    service.run_until_idle()
    clock.advance(400)
    with pytest.raises(dg.UnknownCallbackError, match=r"already ended \(TIMED_OUT\)"):
        service.send_callback_success(_callback_id(service, arn), '"late"')
    service.run_until_idle()
    result = service.get_execution(arn).result
    assert result is not None and json.loads(result) == TIMED_OUT_AT_300


def _heartbeat_meets_timeout(_: Any) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="c", timeout=300, heartbeat_timeout=200)
    try:
        return (yield handle)
    except dg.CallbackTimeoutError as exc:
        return exc.error_type


@pytest.mark.parametrize("kind", ENGINES)
def test_a_heartbeat_timer_set_again_to_end_with_the_timeout_fires_after_it(
    kind: str, tmp_path: Path
) -> None:
    """A heartbeat at 100 s sets the heartbeat timer again, due at 300 s with the overall
    timeout: scheduled later, it fires after it, whether the engine runs or an answer after
    both fires them."""
    for answer_late in (False, True):
        (tmp_path / str(answer_late)).mkdir()
        service, clock = _engine(
            kind, tmp_path / str(answer_late), _heartbeat_meets_timeout, auto_advance=False
        )
        arn = service.start("wf", "null")
        service.run_until_idle()
        clock.advance(100)
        service.send_callback_heartbeat(_callback_id(service, arn))
        clock.advance(200)
        if answer_late:
            with pytest.raises(dg.UnknownCallbackError, match=r"already ended \(TIMED_OUT\)"):
                service.send_callback_heartbeat(_callback_id(service, arn))
        service.run_until_idle()
        assert service.get_execution(arn).result == '"Callback.Timeout"'


@dg.workflow
def _heartbeat_meets_timeout_workflow(_: None) -> Generator[Any, Any, Any]:
    return (yield from _heartbeat_meets_timeout(None))


def test_the_worker_driving_one_execution_fires_a_heartbeat_set_again_after_the_timeout(
    tmp_path: Path,
) -> None:
    with Worker(tmp_path / "drive.db", skip_time=True, log=lambda line: None) as worker:
        arn = worker.service.start(worker.register(_heartbeat_meets_timeout_workflow), "null")
        clock = worker.service.clock
        assert isinstance(clock, VirtualClock)
        worker.service.run(arn, until=clock.now_ms() + 100_000)  # the callback is created
        worker.service.send_callback_heartbeat(_callback_id(worker.service, arn))
        record = worker.drive(arn)
    assert record.result == '"Callback.Timeout"'


@dg.workflow
def _callback_ending_with_the_execution(_: None) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="c", timeout=60)
    try:
        return (yield handle)
    except dg.CallbackTimeoutError as exc:
        return exc.error_type


def _outcome(service: LocalService, arn: str) -> tuple[Any, ...]:
    record = service.get_execution(arn)
    ops = sorted(
        (op.name or "", op.type, op.status)
        for op in service.get_operations(arn)
        if op.type != "EXECUTION"
    )
    return record.status, record.end_timestamp - record.start_timestamp, ops  # type: ignore[operator]


def test_an_execution_timeout_scheduled_before_a_callback_timeout_due_with_it_wins_everywhere(
    tmp_path: Path,
) -> None:
    """The execution timeout (scheduled at the start) and a callback's 60 s timeout are due
    together: the execution times out and the callback stays as it was, whether the worker
    drives this execution or runs everything due."""
    outcomes = []
    for drive in (True, False):
        with Worker(tmp_path / f"{drive}.db", skip_time=True, log=lambda line: None) as worker:
            name = worker.register(_callback_ending_with_the_execution)
            arn = worker.service.start(name, "null", execution_timeout=60)
            if drive:
                worker.drive(arn)
            else:
                worker.service.run_until_idle()
            outcomes.append(_outcome(worker.service, arn))
    assert outcomes[0] == outcomes[1]
    status, length, ops = outcomes[0]
    assert (status, length) == ("TIMED_OUT", 60_000)
    assert ("c", "CALLBACK", "STARTED") in ops
