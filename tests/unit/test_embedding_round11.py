"""Two more host runtimes written from docs/embedding.md alone (public imports only), driving
the shapes of `embedding_shapes_round10` and compared with the embedded engine, and the
mistakes a host can make with the interpreter.

* `RestartingHost` keeps one JSON file per execution (operations, armed timers, invokes to
  start) and gives every invocation up right after its first checkpoint is on disk, as a
  process that crashes after each write: the next one rebuilds the interpreter from the file.
  Steps run in a thread pool; their reports reach the interpreter in the reverse of the order
  they finished, and every task is reported a second time (refused, changing nothing).
* `SelectHost` runs every shape at once in one thread: a `select()` loop over a socket pair
  that the step threads write to when a step ends, with one interpreter per execution kept
  open across suspensions and fed news with `observe()`, timers on a virtual clock and step
  deadlines on the real one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import itertools
import json
import select
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.testing import replay

from . import embedding_shapes_round10 as shapes
from .embedding_runtimes import start_store

_START_MS = 1_700_000_000_000


def _outcome(outcome: rt.Outcome | None) -> tuple[str, Any]:
    if isinstance(outcome, rt.Succeeded):
        return "SUCCEEDED", json.loads(outcome.result) if outcome.result else None
    assert isinstance(outcome, rt.Failed), outcome
    return "FAILED", outcome.error.error_type


def _ended(store: dict[str, rt.Operation], outcome: rt.Outcome, now_ms: int) -> None:
    if not isinstance(outcome, rt.Suspended):
        status = "SUCCEEDED" if isinstance(outcome, rt.Succeeded) else "FAILED"
        store["exec"] = msgspec.structs.replace(store["exec"], status=status, end_timestamp=now_ms)


def _outside_world(
    store: dict[str, rt.Operation],
    timers: dict[tuple[str, str], rt.Timer],
    invokes: list[rt.InvokeRequest],
    now_ms: int,
) -> tuple[list[rt.Operation], int]:
    """Finish the invokes and answer the callbacks waiting; returns what changed and the
    clock moved by heartbeats."""
    changed: list[rt.Operation] = []
    for request in invokes:
        how, value = shapes.invoked(request.function_name, request.payload)
        kw: dict[str, Any] = {"result": value} if how == "result" else {"error": value}
        changed.append(rt.complete_invoke(store, request.operation_id, now_ms=now_ms, **kw))
    invokes.clear()
    for op in list(store.values()):
        if op.type != "CALLBACK" or op.status != "STARTED" or not op.callback_details:
            continue
        callback_id = op.callback_details.callback_id
        assert callback_id
        answer = shapes.answer_for(op.name)
        if answer is None:
            continue
        how, value = answer
        if how == "heartbeat":  # three heartbeats over 1.5 s under a 1 s heartbeat timeout
            for _ in range(3):
                now_ms += 500
                armed = timers.get(("callback-heartbeat", op.id))
                new = rt.heartbeat_callback(store, callback_id, armed, now_ms=now_ms)
                assert new is not None
                timers[new.kind, new.operation_id] = new
            how = "result"
        kw = {"result": value} if how == "result" else {"error": value}
        changed.append(rt.complete_callback(store, callback_id, now_ms=now_ms, **kw))
    return changed, now_ms


def _submit(pool: cf.ThreadPoolExecutor, task: rt.StepTask) -> cf.Future[Any]:
    if task.is_async:  # awaited on an event loop of the pool's thread
        return pool.submit(asyncio.run, task.fn(*task.args, **task.kwargs))
    return pool.submit(task.fn, *task.args, **task.kwargs)


# -- host A: a file per execution, a crash after every checkpoint ------------------------------

_ops_type = list[rt.Operation]


class RestartingHost:
    def __init__(self, directory: Path, shape: str, key: str, mode: str) -> None:
        self.workflow = shapes.SHAPES[shape]
        self.mode = mode
        self.arn = f"restart-{shape}-{key}"
        self.path = directory / f"{self.arn}.json"
        self.now_ms = _START_MS
        self.processes = 0
        self.refused_twice = 0
        self._ids = (f"{self.arn}-cb-{n}" for n in itertools.count())
        store = start_store(json.dumps({"key": key}), self.now_ms)
        self._save(store, {}, [])

    def _save(
        self,
        store: dict[str, rt.Operation],
        timers: dict[tuple[str, str], rt.Timer],
        invokes: list[rt.InvokeRequest],
    ) -> None:
        data = {"operations": list(store.values()), "timers": list(timers.values()),
                "invokes": invokes, "now_ms": self.now_ms}  # fmt: skip
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(msgspec.json.encode(data))
        tmp.replace(self.path)

    def _load(
        self,
    ) -> tuple[dict[str, rt.Operation], dict[tuple[str, str], rt.Timer], list[rt.InvokeRequest]]:
        data = msgspec.json.decode(self.path.read_bytes())
        self.now_ms = data["now_ms"]
        ops = msgspec.convert(data["operations"], _ops_type)
        timers = msgspec.convert(data["timers"], list[rt.Timer])
        invokes = msgspec.convert(data["invokes"], list[rt.InvokeRequest])
        return {op.id: op for op in ops}, {(t.kind, t.operation_id): t for t in timers}, invokes

    def _report_twice(
        self, interp: rt.Interpreter, task: rt.StepTask, ok: bool, value: Any
    ) -> None:
        if ok:
            interp.task_succeeded(task, value)
        else:
            interp.task_failed(task, value)
        before = interp.pending_updates
        with pytest.raises(dg.ValidationError, match="is not running: report each task"):
            interp.task_succeeded(task, value)  # delivered again
        assert interp.pending_updates == before
        self.refused_twice += 1

    def process(self, pool: cf.ThreadPoolExecutor) -> rt.Outcome | None:
        """One process: loads the file, runs until its first checkpoint is written, dies.
        Returns the outcome when the invocation ended without writing anything."""
        self.processes += 1
        store, timers, invokes = self._load()
        now = self.now_ms / 1000
        interp = rt.Interpreter(
            self.workflow, list(store.values()), execution_arn=self.arn,
            checkpointing=self.mode, clock=lambda: now,
        )  # fmt: skip
        running: dict[cf.Future[Any], tuple[rt.StepTask, float]] = {}
        try:
            while True:
                action = interp.next_action()
                if isinstance(action, rt.Flush):
                    applied = rt.apply_updates(
                        store, action.updates, now_ms=self.now_ms,
                        new_callback_id=lambda: next(self._ids),
                    )  # fmt: skip
                    for timer in applied.timers:
                        timers[timer.kind, timer.operation_id] = timer
                    invokes.extend(applied.invokes)
                    if applied.outcome is not None:
                        _ended(store, applied.outcome, self.now_ms)
                    self._save(store, timers, invokes)
                    interp.observe(applied.operations)
                    return None  # the process dies right after its write
                if isinstance(action, rt.RunTasks):
                    for task in action.tasks:
                        limit = (
                            time.monotonic() + max(0.0, task.deadline_ms / 1000 - now)
                            if task.deadline_ms is not None
                            else float("inf")
                        )
                        running[_submit(pool, task)] = (task, limit)
                elif isinstance(action, rt.WaitForTasks):
                    first = min(limit for _, limit in running.values())
                    timeout = None if first == float("inf") else max(0.0, first - time.monotonic())
                    done, _ = cf.wait(running, timeout, return_when=cf.FIRST_COMPLETED)
                    late = [f for f, (_, limit) in running.items() if limit <= time.monotonic()]
                    finished = [f for f in running if f in done or f in late]
                    for future in reversed(finished):  # out of the order they ended
                        task, _ = running.pop(future)
                        if future in done and future.exception() is None:
                            self._report_twice(interp, task, True, future.result())
                        elif future in done:
                            error = future.exception()
                            assert isinstance(error, Exception)
                            self._report_twice(interp, task, False, error)
                        else:
                            timeout_error = dg.StepTimeoutError(f"{task.name!r} timed out")
                            self._report_twice(interp, task, False, timeout_error)
                else:
                    _ended(store, action.outcome, self.now_ms)
                    self._save(store, timers, invokes)
                    return action.outcome
        finally:
            interp.close()

    def run(self, pool: cf.ThreadPoolExecutor) -> rt.Outcome:
        while True:
            assert self.processes < 400, "the execution does not end"
            outcome = self.process(pool)
            if outcome is None:
                continue
            if not isinstance(outcome, rt.Suspended):
                return outcome
            store, timers, invokes = self._load()
            changed, self.now_ms = _outside_world(store, timers, invokes, self.now_ms)
            if not changed:
                first = min(timers.values(), key=lambda t: t.due_ms)
                self.now_ms = max(self.now_ms, first.due_ms)
                del timers[first.kind, first.operation_id]
                rt.fire_timer(store, first, now_ms=self.now_ms)
            self._save(store, timers, invokes)


def _replays_to_its_end(shape: str, store: dict[str, rt.Operation], arn: str) -> None:
    report = replay(shapes.SHAPES[shape], list(store.values()), execution_arn=arn)
    assert report.ok, report


@pytest.fixture(scope="module")
def engine() -> dict[str, tuple[str, Any]]:
    return {name: shapes.engine_outcome(name, uuid.uuid4().hex) for name in shapes.SHAPES}


@pytest.fixture(scope="module")
def pool() -> Any:
    with cf.ThreadPoolExecutor(8) as executor:
        yield executor


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_a_host_that_dies_after_every_checkpoint_ends_as_the_engine(
    tmp_path: Path, mode: str, engine: dict[str, tuple[str, Any]], pool: cf.ThreadPoolExecutor
) -> None:
    got: dict[str, tuple[str, Any]] = {}
    for shape in sorted(shapes.SHAPES):
        key = uuid.uuid4().hex
        host = RestartingHost(tmp_path, shape, key, mode)
        got[shape] = _outcome(host.run(pool))
        store, _, _ = host._load()
        _replays_to_its_end(shape, store, host.arn)
        assert store["exec"].status == got[shape][0]
        if shape == "chain":
            assert shapes.counted(key, "add") == 2  # a recorded step never ran again
        if shape == "saga":
            assert shapes.counted(key, "reserve flight") == 1
        if shape == "at_most_once":  # its START is written before it runs: the crash then
            assert shapes.counted(key, "charge") == 0  # interrupts it, and it is not retried
    assert got.pop("at_most_once") == ("FAILED", "StepInterruptedError")
    assert got == {name: engine[name] for name in got}


# -- host B: one thread, a select() loop, every execution at once -----------------------------


class _Execution:
    def __init__(self, host: SelectHost, shape: str, key: str) -> None:
        self.host = host
        self.shape = shape
        self.arn = f"select-{shape}-{key}"
        self.store = start_store(json.dumps({"key": key}), host.now_ms)
        self.timers: dict[tuple[str, str], rt.Timer] = {}
        self.invokes: list[rt.InvokeRequest] = []
        self.interp = rt.Interpreter(
            shapes.SHAPES[shape], list(self.store.values()), execution_arn=self.arn,
            checkpointing=host.mode, clock=lambda: host.now_ms / 1000,
        )  # fmt: skip
        self.running: dict[cf.Future[Any], tuple[rt.StepTask, float]] = {}
        self.outcome: rt.Outcome | None = None
        self.suspended = False

    def drive(self) -> None:
        """Run until the execution waits for its tasks, suspends or ends."""
        interp = self.interp
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                applied = rt.apply_updates(
                    self.store, action.updates, now_ms=self.host.now_ms,
                    new_callback_id=self.host.new_callback_id,
                )  # fmt: skip
                for timer in applied.timers:
                    self.timers[timer.kind, timer.operation_id] = timer
                self.invokes.extend(applied.invokes)
                interp.observe(applied.operations)
            elif isinstance(action, rt.RunTasks):
                for task in action.tasks:
                    self.running[self.host.submit(task)] = (task, self.host.real_limit(task))
            elif isinstance(action, rt.WaitForTasks):
                return
            elif isinstance(action.outcome, rt.Suspended):
                self.suspended = True
                return
            else:
                self.outcome = action.outcome
                _ended(self.store, action.outcome, self.host.now_ms)
                interp.close()
                return

    def report_finished(self) -> bool:
        """Report the tasks that ended or ran past their deadline; True when any was."""
        now = time.monotonic()
        finished = [f for f, (_, limit) in self.running.items() if f.done() or limit <= now]
        for future in finished:
            task, _ = self.running.pop(future)
            if not future.done():
                self.interp.task_failed(task, dg.StepTimeoutError(f"{task.name!r} timed out"))
            elif future.exception() is None:
                self.interp.task_succeeded(task, future.result())
            else:
                error = future.exception()
                assert isinstance(error, Exception)
                self.interp.task_failed(task, error)
        return bool(finished)

    def news(self, changed: list[rt.Operation]) -> None:
        self.suspended = False
        self.interp.observe(changed)


class SelectHost:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.now_ms = _START_MS
        self.pool = cf.ThreadPoolExecutor(8)
        self.wake_r, self.wake_w = socket.socketpair()
        self._ids = (f"select-cb-{n}" for n in itertools.count())  # unique across executions
        self.abandoned: list[cf.Future[Any]] = []

    def new_callback_id(self) -> str:
        return next(self._ids)

    def submit(self, task: rt.StepTask) -> cf.Future[Any]:
        future = _submit(self.pool, task)
        future.add_done_callback(lambda _: self.wake_w.send(b"."))
        return future

    def real_limit(self, task: rt.StepTask) -> float:
        if task.deadline_ms is None:
            return float("inf")
        return time.monotonic() + max(0.0, (task.deadline_ms - self.now_ms) / 1000)

    def run_all(self, executions: list[_Execution]) -> None:
        try:
            for execution in executions:
                execution.drive()
            for _ in range(10_000):
                live = [e for e in executions if e.outcome is None]
                if not live:
                    return
                waiting = [e for e in live if e.running]
                if waiting:
                    first = min(limit for e in waiting for _, limit in e.running.values())
                    timeout = None if first == float("inf") else max(0.0, first - time.monotonic())
                    ready, _, _ = select.select([self.wake_r], [], [], timeout)
                    if ready:
                        self.wake_r.recv(4096)
                    for execution in waiting:
                        if execution.report_finished():
                            execution.drive()
                    continue
                moved = False
                for execution in live:
                    changed, self.now_ms = _outside_world(
                        execution.store, execution.timers, execution.invokes, self.now_ms
                    )
                    if changed:
                        moved = True
                        execution.news(changed)
                        execution.drive()
                if moved:
                    continue
                armed = [(t.due_ms, e, t) for e in live for t in e.timers.values()]
                assert armed, [e.shape for e in live]
                due_ms, execution, timer = min(armed, key=lambda x: x[0])
                self.now_ms = max(self.now_ms, due_ms)
                del execution.timers[timer.kind, timer.operation_id]
                op = rt.fire_timer(execution.store, timer, now_ms=self.now_ms)
                if op is not None:
                    execution.news([op])
                    execution.drive()
            raise AssertionError("the executions do not end")
        finally:
            self.pool.shutdown(wait=True)
            self.wake_r.close()
            self.wake_w.close()


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_a_select_loop_host_runs_every_shape_at_once_as_the_engine(
    mode: str, engine: dict[str, tuple[str, Any]]
) -> None:
    host = SelectHost(mode)
    keys = {name: uuid.uuid4().hex for name in shapes.SHAPES}
    executions = [_Execution(host, name, keys[name]) for name in sorted(shapes.SHAPES)]
    host.run_all(executions)
    got = {e.shape: _outcome(e.outcome) for e in executions}
    assert got == engine
    assert shapes.counted(keys["retry_last"], "flaky") == 3
    assert shapes.counted(keys["at_most_once"], "charge") == 2
    for execution in executions:
        _replays_to_its_end(execution.shape, execution.store, execution.arn)


# -- news delivered late: an older copy of a step waiting for its retry ------------------------

_retry_calls: list[int] = []


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, backoff=1, jitter="none"))
def _always_fails() -> None:
    _retry_calls.append(1)
    raise ConnectionError(f"refused {len(_retry_calls)}")


def _retrying(_: object):  # type: ignore[no-untyped-def]
    try:
        yield _always_fails()
    except dg.StepFailedError as exc:
        return exc.error_message
    return "unreachable"


def test_an_older_copy_of_a_step_waiting_for_its_retry_is_refused_not_run_early() -> None:
    """A host whose news queue delivers the READY copy of attempt 1 again, after attempt 2
    failed and the step waits for its next delay: the copy counts fewer finished attempts than
    the one the interpreter knows, so it is stale. It used to wake the step at once, running
    it before its delay under a repeated attempt number (its side effect before the store
    refused the START)."""
    _retry_calls.clear()
    store = start_store("null", 0)
    now_ms = 0
    interp = rt.Interpreter(
        _retrying, list(store.values()), execution_arn="late-news", clock=lambda: now_ms / 1000
    )
    timers: list[rt.Timer] = []
    attempts: list[int] = []

    def until_done() -> rt.Done:
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                applied = rt.apply_updates(store, action.updates, now_ms=now_ms)
                timers.extend(applied.timers)
                interp.observe(applied.operations)
            elif isinstance(action, rt.RunTasks):
                for task in action.tasks:
                    attempts.append(task.attempt)
                    try:
                        interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
                    except Exception as exc:
                        interp.task_failed(task, exc)
            else:
                assert isinstance(action, rt.Done)
                return action

    assert isinstance(until_done().outcome, rt.Suspended)
    timer = timers.pop()
    now_ms = timer.due_ms
    ready_1 = rt.fire_timer(store, timer, now_ms=now_ms)
    assert ready_1 is not None and ready_1.status == "READY"
    interp.observe([ready_1])
    assert isinstance(until_done().outcome, rt.Suspended)  # attempt 2 failed: PENDING again
    waiting = interp.operations[ready_1.id]
    assert waiting.status == "PENDING" and waiting.step_details is not None
    assert waiting.step_details.attempt == 2
    with pytest.raises(
        dg.ValidationError, match=r"has Attempt 2, and observe\(\) got it with Attempt 1"
    ):
        interp.observe([ready_1])  # the old READY copy, delivered again
    assert interp.operations[ready_1.id] is waiting  # nothing changed: still waiting
    assert attempts == [1, 2] and len(_retry_calls) == 2
    # the store goes on as it should: the delay passes, attempt 3 runs and fails for good
    timer = timers.pop()
    now_ms = timer.due_ms
    interp.observe([rt.fire_timer(store, timer, now_ms=now_ms)])  # type: ignore[list-item]
    done = until_done()
    interp.close()
    assert done.outcome == rt.Succeeded(result='"refused 3"')
    assert attempts == [1, 2, 3]


# -- a stop that the host hears of while an invocation runs ------------------------------------

_charged: list[int] = []


@dg.step
def _charge(i: int) -> int:
    _charged.append(i)
    return i


def _five_charges(_: object):  # type: ignore[no-untyped-def]
    out = []
    for i in range(5):
        out.append((yield _charge(i)))
    return out


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize("status", ["STOPPED", "TIMED_OUT"])
def test_news_that_the_execution_was_stopped_ends_new_work_before_another_step_runs(
    mode: str, status: str
) -> None:
    """The host stops the execution while an invocation runs and tells the interpreter (its
    EXECUTION operation, now STOPPED, given to observe()). It used to be ignored: the workflow
    went on handing out steps, each with its side effect, until the store refused a checkpoint
    (in batch mode, every step up to the next suspension)."""
    _charged.clear()
    store = start_store("null", 0)
    interp = rt.Interpreter(_five_charges, list(store.values()), execution_arn="stop-news",
                            checkpointing=mode)  # fmt: skip
    action = interp.next_action()
    if isinstance(action, rt.Flush):  # eager: the START first
        interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        action = interp.next_action()
    assert isinstance(action, rt.RunTasks)
    (task,) = action.tasks
    interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
    store["exec"] = msgspec.structs.replace(store["exec"], status=status, end_timestamp=1)
    interp.observe([store["exec"]])
    with pytest.raises(dg.ValidationError, match=f"ended as {status} while this invocation ran"):
        interp.next_action()
    interp.close()
    assert _charged == [0]


def test_the_code_s_own_end_in_a_reply_is_not_taken_for_a_stop() -> None:
    """A reply carrying the EXECUTION operation ended by the workflow's own result (the drivers
    checkpoint a result over the output limit so) changes nothing."""
    store = start_store("null", 0)
    interp = rt.Interpreter(_five_charges, list(store.values()), execution_arn="own-end")
    interp.observe([msgspec.structs.replace(store["exec"], status="SUCCEEDED", end_timestamp=1)])
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
        else:
            break
    interp.close()
    assert action == rt.Done(rt.Succeeded(result="[0,1,2,3,4]"))


class _StoppingService:
    """A DurableService whose execution is stopped while the invocation runs: the reply to
    the checkpoint after ``stop_after`` carries the EXECUTION operation, STOPPED."""

    def __init__(self, status: str, stop_after: int) -> None:
        self.store = start_store("null", 0)
        self.status = status
        self.stop_after = stop_after
        self.calls = 0

    def event(self) -> rt.InvocationInput:
        state = rt.ExecutionState(operations=list(self.store.values()))
        return rt.InvocationInput(durable_execution_arn="stopping", checkpoint_token="t0",
                                  initial_execution_state=state)  # fmt: skip

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Any
    ) -> rt.CheckpointResponse:
        applied = rt.apply_updates(self.store, updates, now_ms=0)
        self.calls += 1
        changed = list(applied.operations)
        if self.calls == self.stop_after:
            self.store["exec"] = msgspec.structs.replace(
                self.store["exec"], status=self.status, end_timestamp=1
            )
            changed.append(self.store["exec"])
        state = rt.ExecutionState(operations=changed)
        return rt.CheckpointResponse(checkpoint_token=f"t{self.calls}", new_execution_state=state)

    def get_state(self, execution_arn: str, checkpoint_token: str, marker: str) -> Any:
        return rt.ExecutionState(operations=list(self.store.values()))


@pytest.mark.parametrize("mode", ["step", "eager"])
@pytest.mark.parametrize("status", ["STOPPED", "TIMED_OUT"])
def test_the_drivers_end_an_invocation_pending_when_a_reply_shows_the_execution_stopped(
    mode: str, status: str
) -> None:
    """The reply to a checkpoint carries the EXECUTION operation stopped: the driver sends
    nothing more and runs no further step (it used to go on until the store refused)."""
    _charged.clear()
    service = _StoppingService(status, stop_after=1)
    output = rt.invoke(_five_charges, service.event(), service, checkpointing=mode)
    assert output.status == "PENDING"
    assert _charged == ([0] if mode == "step" else [])
    assert service.calls == 1


def test_another_execution_s_stop_is_refused_as_news_of_another_execution() -> None:
    """A stopped EXECUTION operation whose id is not this execution's (a host that keeps
    several executions mixed their news up) stops nothing here: `ValidationError`."""
    _charged.clear()
    store = start_store("null", 0)
    interp = rt.Interpreter(_five_charges, list(store.values()), execution_arn="mine")
    other = rt.Operation(id="exec-of-another", type="EXECUTION", status="STOPPED",
                         start_timestamp=0, end_timestamp=1)  # fmt: skip
    with pytest.raises(dg.ValidationError, match="another execution's operation"):
        interp.observe([other])
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
        else:
            break
    interp.close()
    assert action == rt.Done(rt.Succeeded(result="[0,1,2,3,4]"))
    assert _charged == [0, 1, 2, 3, 4]
