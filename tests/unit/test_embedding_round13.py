"""A host runtime written from docs/embedding.md alone (public imports only), driving the shapes
of `embedding_shapes_round10` and compared with the embedded engine, and a host's mistakes with
futures.

`FutureHost` keeps each execution as JSON text written with the standard library's `json`
(operations, armed timers, invokes to start), rewritten after every checkpoint and every answer
from outside, and its process dies at seeded moments: right after a checkpoint is written,
before the interpreter heard of it, and right after steps were handed out, before any of them
was reported (their threads run on; what they return is dropped). Checkpoints get lost at
seeded moments too: the request never reaches the store (sent again), or the store records it
and the reply is lost (sent again, refused as a repeat, and the host then reads what the store
holds for the operations it sent). Sync steps run in a thread pool and async ones on an event
loop of another thread (`asyncio.run_coroutine_threadsafe`), deadlines enforced; the host first
reports each step's future itself, as a host that forgot to wait would (refused, the task still
running), then what the futures hold in a seeded order, each twice (the second refused). Every
invocation is run in the checkpointing mode of the test, or in turn in each mode.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import dataclasses
import itertools
import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.testing import replay

from . import embedding_shapes_round10 as shapes

_START_MS = 1_710_000_000_000
_MODES = ("step", "eager", "batch")


def _outcome(outcome: rt.Outcome) -> tuple[str, Any]:
    if isinstance(outcome, rt.Succeeded):
        return "SUCCEEDED", json.loads(outcome.result) if outcome.result else None
    assert isinstance(outcome, rt.Failed), outcome
    return "FAILED", outcome.error.error_type


class _Loop:
    """An asyncio event loop running in a thread of its own, for the async steps."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class _Crash(Exception):
    """The host's process dies here."""


class FutureHost:
    def __init__(self, shape: str, key: str, mode: str, seed: int) -> None:
        self.workflow = shapes.SHAPES[shape]
        self.shape = shape
        self.modes = itertools.cycle(_MODES) if mode == "cycle" else itertools.repeat(mode)
        self.arn = f"future-{shape}-{key}"
        self.rng = random.Random(seed)
        self.now_ms = _START_MS
        self.processes = 0
        self.lost_requests = 0
        self.lost_replies = 0
        self.futures_refused = 0
        self.repeats_refused = 0
        self.ids = (f"{self.arn}-cb-{n}" for n in itertools.count())
        execution = rt.Operation(
            id="exec", type="EXECUTION", status="STARTED", start_timestamp=self.now_ms,
            execution_details=rt.ExecutionDetails(input_payload=json.dumps({"key": key})),
        )  # fmt: skip
        self.store: dict[str, rt.Operation] = {"exec": execution}
        self.timers: dict[tuple[str, str], rt.Timer] = {}
        self.invokes: list[rt.InvokeRequest] = []
        self.saved = ""
        self.save()

    # -- the file --------------------------------------------------------------------------

    def save(self) -> None:
        self.saved = json.dumps(
            msgspec.to_builtins(
                {
                    "operations": list(self.store.values()),
                    "timers": list(self.timers.values()),
                    "invokes": self.invokes,
                    "now_ms": self.now_ms,
                }
            )
        )

    def load(self) -> None:
        data = json.loads(self.saved)
        self.now_ms = data["now_ms"]
        ops = msgspec.convert(data["operations"], list[rt.Operation])
        self.store = {op.id: op for op in ops}
        timers = msgspec.convert(data["timers"], list[rt.Timer])
        self.timers = {(t.kind, t.operation_id): t for t in timers}
        self.invokes = msgspec.convert(data["invokes"], list[rt.InvokeRequest])

    def ended(self, outcome: rt.Outcome) -> None:
        if not isinstance(outcome, rt.Suspended):
            status = "SUCCEEDED" if isinstance(outcome, rt.Succeeded) else "FAILED"
            self.store["exec"] = msgspec.structs.replace(
                self.store["exec"], status=status, end_timestamp=self.now_ms
            )

    # -- one checkpoint, over a line that loses requests and replies ------------------------

    def checkpoint(self, interp: rt.Interpreter, updates: list[rt.OperationUpdate]) -> None:
        if self.rng.random() < 0.15:  # the request is lost before the store sees it
            self.lost_requests += 1
        applied = rt.apply_updates(
            self.store, updates, now_ms=self.now_ms, new_callback_id=lambda: next(self.ids)
        )
        for timer in applied.timers:
            self.timers[timer.kind, timer.operation_id] = timer
        self.invokes.extend(applied.invokes)
        if applied.outcome is not None:
            self.ended(applied.outcome)
        self.save()
        if self.rng.random() < 0.15:
            raise _Crash  # written, and the process dies before the interpreter hears of it
        reply = applied.operations
        if self.rng.random() < 0.2:  # recorded, but the reply is lost: sent again
            self.lost_replies += 1
            before = dict(self.store)
            try:
                again = rt.apply_updates(self.store, updates, now_ms=self.now_ms)
            except dg.InvalidCheckpointError:
                assert self.store == before  # a refused checkpoint changes nothing
                sent = dict.fromkeys(u.id for u in updates)
                reply = [self.store[op_id] for op_id in sent]
            else:  # only updates that leave an operation as they found it may repeat
                assert self.store == before, (updates, again)
                reply = again.operations
        interp.observe(reply)

    # -- steps -----------------------------------------------------------------------------

    def submit(self, task: rt.StepTask, pool: cf.ThreadPoolExecutor, loop: _Loop) -> cf.Future[Any]:
        if task.is_async:
            coro = task.fn(*task.args, **task.kwargs)
            return asyncio.run_coroutine_threadsafe(coro, loop.loop)
        return pool.submit(task.fn, *task.args, **task.kwargs)

    def report(self, interp: rt.Interpreter, task: rt.StepTask, future: cf.Future[Any]) -> None:
        before = interp.pending_updates
        with pytest.raises(dg.ValidationError, match="a future that will hold the step's"):
            interp.task_succeeded(task, future)  # the future itself, not what it holds
        assert interp.pending_updates == before
        self.futures_refused += 1
        error = future.exception() if future.done() else None
        if not future.done():
            error = dg.StepTimeoutError(f"{task.name!r} ran past {task.timeout} s")
        if error is None:
            interp.task_succeeded(task, future.result())
        else:
            assert isinstance(error, Exception)
            interp.task_failed(task, error)
        with pytest.raises(dg.ValidationError, match="is not running"):
            interp.task_succeeded(task, None)  # delivered again
        self.repeats_refused += 1

    def invocation(self, pool: cf.ThreadPoolExecutor, loop: _Loop) -> rt.Outcome | None:
        """One process: reads the file, invokes once. None when it died."""
        self.processes += 1
        self.load()
        now = self.now_ms / 1000
        interp = rt.Interpreter(
            self.workflow, list(self.store.values()), execution_arn=self.arn,
            checkpointing=next(self.modes), clock=lambda: now,
        )  # fmt: skip
        running: dict[cf.Future[Any], tuple[rt.StepTask, float]] = {}
        may_die_running = self.shape != "at_most_once"  # whose START a crash would interrupt
        try:
            while True:
                action = interp.next_action()
                if isinstance(action, rt.Flush):
                    self.checkpoint(interp, list(action.updates))
                elif isinstance(action, rt.RunTasks):
                    for task in action.tasks:
                        limit = (
                            time.monotonic() + max(0.0, task.deadline_ms / 1000 - now)
                            if task.deadline_ms is not None
                            else float("inf")
                        )
                        running[self.submit(task, pool, loop)] = (task, limit)
                    if may_die_running and self.rng.random() < 0.1:
                        raise _Crash  # handed out; their outcomes are never reported
                elif isinstance(action, rt.WaitForTasks):
                    first = min(limit for _, limit in running.values())
                    wait = None if first == float("inf") else max(0.0, first - time.monotonic())
                    done, _ = cf.wait(running, wait, return_when=cf.FIRST_COMPLETED)
                    late = {f for f, (_, limit) in running.items() if limit <= time.monotonic()}
                    finished = [f for f in running if f in done or f in late]
                    self.rng.shuffle(finished)
                    for future in finished:
                        task, _ = running.pop(future)
                        self.report(interp, task, future)
                else:
                    self.ended(action.outcome)
                    self.save()
                    return action.outcome
        except _Crash:
            return None
        finally:
            interp.close()

    def outside_world(self) -> None:
        """Finish the invokes, answer the callbacks, else fire the first timer due."""
        self.load()
        changed = False
        for request in self.invokes:
            how, value = shapes.invoked(request.function_name, request.payload)
            kw: dict[str, Any] = {"result": value} if how == "result" else {"error": value}
            rt.complete_invoke(self.store, request.operation_id, now_ms=self.now_ms, **kw)
            changed = True
        self.invokes.clear()
        for op in list(self.store.values()):
            if op.type != "CALLBACK" or op.status != "STARTED" or not op.callback_details:
                continue
            callback_id = op.callback_details.callback_id
            assert callback_id
            answer = shapes.answer_for(op.name)
            if answer is None:
                continue
            how, value = answer
            if how == "heartbeat":
                for _ in range(3):
                    self.now_ms += 500
                    armed = self.timers.get(("callback-heartbeat", op.id))
                    new = rt.heartbeat_callback(self.store, callback_id, armed, now_ms=self.now_ms)
                    assert new is not None
                    self.timers[new.kind, new.operation_id] = new
                how = "result"
            kw = {"result": value} if how == "result" else {"error": value}
            rt.complete_callback(self.store, callback_id, now_ms=self.now_ms, **kw)
            changed = True
        if not changed:
            first = min(self.timers.values(), key=lambda t: t.due_ms)
            self.now_ms = max(self.now_ms, first.due_ms)
            del self.timers[first.kind, first.operation_id]
            rt.fire_timer(self.store, first, now_ms=self.now_ms)
        self.save()

    def run(self, pool: cf.ThreadPoolExecutor, loop: _Loop) -> rt.Outcome:
        while True:
            assert self.processes < 400, "the execution does not end"
            outcome = self.invocation(pool, loop)
            if outcome is None:
                continue
            if not isinstance(outcome, rt.Suspended):
                return outcome
            self.outside_world()


@pytest.fixture(scope="module")
def engine() -> dict[str, tuple[str, Any]]:
    return {name: shapes.engine_outcome(name, uuid.uuid4().hex) for name in shapes.SHAPES}


@pytest.fixture(scope="module")
def pool() -> Iterator[cf.ThreadPoolExecutor]:
    with cf.ThreadPoolExecutor(8) as executor:
        yield executor


@pytest.fixture(scope="module")
def loop() -> Iterator[_Loop]:
    running = _Loop()
    yield running
    running.close()


@pytest.mark.parametrize("mode", [*_MODES, "cycle"])
def test_a_host_losing_checkpoints_and_dying_ends_as_the_engine(
    mode: str, engine: dict[str, tuple[str, Any]], pool: cf.ThreadPoolExecutor, loop: _Loop
) -> None:
    got: dict[str, tuple[str, Any]] = {}
    totals = {"lost_requests": 0, "lost_replies": 0, "futures_refused": 0, "processes": 0}
    for n, shape in enumerate(sorted(shapes.SHAPES)):
        key = uuid.uuid4().hex
        host = FutureHost(shape, key, mode, seed=n)
        got[shape] = _outcome(host.run(pool, loop))
        host.load()
        report = replay(shapes.SHAPES[shape], list(host.store.values()), execution_arn=host.arn)
        assert report.ok, (shape, report)
        assert host.store["exec"].status == got[shape][0]
        assert host.repeats_refused == host.futures_refused
        if shape == "saga":
            assert shapes.counted(key, "reserve flight") >= 1
        for name in totals:
            totals[name] += getattr(host, name)
    assert _counts_left_out(got) == _counts_left_out(engine)
    assert totals["lost_replies"] > 0 and totals["futures_refused"] > 0
    assert totals["processes"] > len(shapes.SHAPES) * 2  # some of them died


def _counts_left_out(outcomes: dict[str, tuple[str, Any]]) -> dict[str, tuple[str, Any]]:
    """The outcomes, without how many times `flaky` ran in all: an attempt whose outcome a
    crash lost runs again (at least once), and `flaky` puts its count in what it says."""
    out = dict(outcomes)
    for shape in ("retry_last", "retry_exhausted_caught"):
        status, value = out[shape]
        text = value if isinstance(value, str) else value["message"]
        out[shape] = (status, text.split(" ")[0])
    return out


# -- a future reported as a step's value -----------------------------------------------------


@dg.step
def plain_value(x: int) -> int:
    return x + 1


@dg.step
async def async_value(x: int) -> int:
    return x * 2


def _two_steps(x: int):  # type: ignore[no-untyped-def]
    a = yield plain_value(x)
    b = yield async_value(a)
    return [a, b]


def _start(
    workflow: Any, payload: str, mode: str = "step"
) -> tuple[rt.Interpreter, dict[str, rt.Operation]]:
    store = {
        "exec": rt.Operation(
            id="exec", type="EXECUTION", status="STARTED", start_timestamp=0,
            execution_details=rt.ExecutionDetails(input_payload=payload),
        )
    }  # fmt: skip
    return rt.Interpreter(
        workflow, list(store.values()), execution_arn="e", checkpointing=mode
    ), store


@pytest.mark.parametrize("mode", _MODES)
@pytest.mark.parametrize("how", ["thread pool", "asyncio task", "threadsafe", "process call"])
def test_a_future_reported_as_the_value_is_refused_and_the_task_stays_running(
    how: str, mode: str, pool: cf.ThreadPoolExecutor, loop: _Loop
) -> None:
    interp, store = _start(_two_steps, "1", mode)
    refused = 0
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                future: Any
                if how == "thread pool" and not task.is_async:
                    future = pool.submit(task.fn, *task.args, **task.kwargs)
                elif how == "process call" and not task.is_async:
                    call = interp.step_call(task)
                    assert call is not None
                    future = pool.submit(rt.run_step_call, call)
                elif how == "asyncio task" and task.is_async:
                    coro = task.fn(*task.args, **task.kwargs)
                    made = asyncio.run_coroutine_threadsafe(_as_task(coro), loop.loop)
                    future = made.result()  # the Task itself, created on the loop's thread
                elif task.is_async:
                    coro = task.fn(*task.args, **task.kwargs)
                    future = asyncio.run_coroutine_threadsafe(coro, loop.loop)
                else:
                    interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
                    continue
                with pytest.raises(dg.ValidationError, match="Wait for it and report what it"):
                    interp.task_succeeded(task, future)
                refused += 1
                assert interp.running == 1
                if isinstance(future, asyncio.Task):
                    value = asyncio.run_coroutine_threadsafe(_awaited(future), loop.loop).result()
                else:
                    value = future.result()
                interp.task_succeeded(task, value)
        else:
            interp.close()
            assert action.outcome == rt.Succeeded("[2,4]")
            assert refused == (2 if how in ("thread pool", "process call") else 1)
            return


async def _as_task(coro: Any) -> asyncio.Task[Any]:
    return asyncio.ensure_future(coro)


async def _awaited(task: asyncio.Task[Any]) -> Any:
    return await task


@dg.step(retry=dg.Retry.never())
def returns_a_future(x: int) -> Any:
    done: cf.Future[int] = cf.Future()
    done.set_result(x)
    return done


@dg.step(retry=dg.Retry.never())
async def returns_an_asyncio_future(x: int) -> Any:
    future = asyncio.get_running_loop().create_future()
    future.set_result(x)
    return future


def _step_returns_a_future(which: str):  # type: ignore[no-untyped-def]
    try:
        yield (returns_a_future(1) if which == "sync" else returns_an_asyncio_future(1))
    except dg.StepFailedError as exc:
        return exc.error_type
    return "recorded"


@pytest.mark.parametrize("which", ["sync", "async"])
def test_a_future_the_step_itself_returns_fails_the_step_as_on_the_engine(which: str) -> None:
    assert dg.run(_step_returns_a_future, which) == "SerializationError"
    interp, store = _start(_step_returns_a_future, json.dumps(which))
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                value = task.fn(*task.args, **task.kwargs)
                if task.is_async:
                    value = asyncio.run(_keep_loop(value))
                interp.task_succeeded(task, value)
        else:
            interp.close()
            assert action.outcome == rt.Succeeded('"SerializationError"')
            return


async def _keep_loop(coro: Any) -> Any:
    return await coro


# -- a cancelled future reported as the step's failure ---------------------------------------


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1))
def may_be_cancelled(x: int) -> int:
    return x + 1


@dg.step(retry=dg.Retry.never())
def raises_cancelled(x: int) -> int:
    cancelled: cf.Future[int] = cf.Future()
    cancelled.cancel()
    return cancelled.result()  # the step's own code raises it


@dg.step(retry=dg.Retry.never())
async def raises_cancelled_async(x: int) -> int:
    raise cf.CancelledError


def _cancel_shape(which: str):  # type: ignore[no-untyped-def]
    step = {"host": may_be_cancelled, "sync": raises_cancelled}.get(which, raises_cancelled_async)
    try:
        return (yield step(1))
    except dg.StepFailedError as exc:
        return exc.error_type


@pytest.mark.parametrize("mode", _MODES)
@pytest.mark.parametrize("how", ["cancel", "shutdown", "threadsafe"])
def test_a_future_the_host_cancelled_is_refused_as_the_step_s_failure(
    how: str, mode: str, loop: _Loop
) -> None:
    interp, store = _start(_cancel_shape, '"host"', mode)
    refused = 0
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                future: cf.Future[Any]
                if how == "cancel":  # a deadline enforced on a task not started yet
                    future = cf.Future()
                    future.cancel()
                elif how == "shutdown":  # the host's pool shut down, its queue cancelled
                    busy = cf.ThreadPoolExecutor(1)
                    gate = threading.Event()
                    busy.submit(gate.wait)
                    future = busy.submit(task.fn, *task.args, **task.kwargs)
                    busy.shutdown(wait=False, cancel_futures=True)
                    gate.set()
                else:
                    coro = _cancelled_later()
                    future = asyncio.run_coroutine_threadsafe(coro, loop.loop)
                    future.cancel()
                try:
                    future.result()
                except Exception as exc:
                    assert isinstance(exc, cf.CancelledError)
                    with pytest.raises(dg.ValidationError, match="future was cancelled"):
                        interp.task_failed(task, exc)
                    refused += 1
                assert interp.running == 1
                assert not interp.pending_updates or mode != "step"
                interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
        else:
            interp.close()
            assert action.outcome == rt.Succeeded("2")
            assert refused == 1
            assert [op.step_details.attempt for op in store.values() if op.step_details] == [1]
            return


async def _cancelled_later() -> None:
    await asyncio.sleep(60)


@pytest.mark.parametrize("which", ["sync", "async"])
def test_a_cancelled_error_the_step_raises_is_its_failure_as_on_the_engine(
    which: str, pool: cf.ThreadPoolExecutor
) -> None:
    assert dg.run(_cancel_shape, which) == "CancelledError"
    interp, store = _start(_cancel_shape, json.dumps(which))
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                if task.is_async:  # asyncio.run keeps it (a loop's future turns it into its own)
                    future = pool.submit(asyncio.run, task.fn(*task.args, **task.kwargs))
                else:
                    future = pool.submit(task.fn, *task.args, **task.kwargs)
                error = future.exception()
                assert isinstance(error, cf.CancelledError)
                interp.task_failed(task, error)
        else:
            interp.close()
            assert action.outcome == rt.Succeeded('"CancelledError"')
            return


@dataclasses.dataclass
class Job:
    """A value of the workflow's own that merely looks like a future."""

    state: str

    def result(self) -> str:
        return self.state

    def done(self) -> bool:
        return True

    def add_done_callback(self, fn: Any) -> None:
        fn(self)


@dg.step
def submit_job(name: str) -> Job:
    return Job(f"{name} queued")


def _job_shape(name: str):  # type: ignore[no-untyped-def]
    job = yield submit_job(name)
    return job.result()


def test_a_value_that_only_looks_like_a_future_is_recorded() -> None:
    """Reported as another process computed it (`run_step_call`): it never passed `task.fn`."""
    interp, store = _start(_job_shape, '"nightly"')
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                call = interp.step_call(task)
                assert call is not None
                interp.task_succeeded(task, Job(f"{call.args[0]} queued"))
        else:
            interp.close()
            assert action.outcome == rt.Succeeded('"nightly queued"')
            return


# -- a step whose name leads to another function ---------------------------------------------


@dg.step
def fetch_version(x: int) -> str:
    return f"v1 {x}"


fetch_version_1 = fetch_version


@dg.step
def fetch_version(x: int) -> str:  # a later version under the same name
    return f"v2 {x}"


def plain_helper(x: int) -> str:
    return f"helper {x}"


plain_helper_1 = plain_helper


def plain_helper(x: int) -> str:  # redefined
    return f"helper v2 {x}"


def _shadowed(x: int):  # type: ignore[no-untyped-def]
    a = yield fetch_version_1(x)
    b = yield fetch_version(x)
    c = yield dg.Step(plain_helper_1, (x,), name="helper")
    d = yield dg.Step(plain_helper, (x,), name="helper 2")
    return [a, b, c, d]


@pytest.mark.parametrize("mode", _MODES)
def test_a_step_whose_name_leads_to_another_function_runs_here(
    mode: str, pool: cf.ThreadPoolExecutor
) -> None:
    expected = ["v1 1", "v2 1", "helper 1", "helper v2 1"]
    assert dg.run(_shadowed, 1) == expected
    interp, store = _start(_shadowed, "1", mode)
    calls: list[str | None] = []
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                call = interp.step_call(task)
                calls.append(call.function.split(":")[1] if call is not None else None)
                if call is not None:  # what another process finds under that name
                    value = pool.submit(rt.run_step_call, call).result()
                else:
                    value = task.fn(*task.args, **task.kwargs)
                interp.task_succeeded(task, value)
        else:
            interp.close()
            assert action.outcome == rt.Succeeded(json.dumps(expected, separators=(",", ":")))
            assert calls == [None, "fetch_version", None, "plain_helper"]
            return


# -- a service's reply built with fields of another type -------------------------------------


@dg.step
def one_step(x: int) -> int:
    return x


def _one_step_shape(x: int):  # type: ignore[no-untyped-def]
    return (yield one_step(x))


def _execution() -> rt.Operation:
    return rt.Operation(
        id="exec", type="EXECUTION", status="STARTED", start_timestamp=0,
        execution_details=rt.ExecutionDetails(input_payload="1"),
    )  # fmt: skip


class HandBuiltService:
    """A `DurableService` whose replies are built by hand, one field of the wrong type."""

    def __init__(self, wrong: str) -> None:
        self.wrong = wrong
        self.store = {"exec": _execution()}

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: list[rt.OperationUpdate]
    ) -> rt.CheckpointResponse:
        changed = rt.apply_updates(self.store, updates, now_ms=0).operations
        state: Any = {
            "reply of None": None,
            "reply of a list": changed,
            "reply of operations None": rt.ExecutionState(operations=None),  # type: ignore[arg-type]
            "reply of dicts": rt.ExecutionState(operations=msgspec.to_builtins(changed)),
        }.get(self.wrong, rt.ExecutionState(operations=changed))
        return rt.CheckpointResponse(checkpoint_token="t1", new_execution_state=state)

    def get_state(
        self, execution_arn: str, checkpoint_token: str, marker: str
    ) -> rt.ExecutionState:
        operations: Any = list(self.store.values())
        if self.wrong == "page of operations None":
            operations = None
        elif self.wrong == "page of dicts":
            operations = msgspec.to_builtins(operations)
        return rt.ExecutionState(operations=operations)

    def event(self) -> rt.InvocationInput:
        first: Any = rt.ExecutionState(operations=[], next_marker="rest")
        if self.wrong == "first page None":
            first = None
        elif self.wrong == "first page of dicts":
            first = rt.ExecutionState(operations=msgspec.to_builtins(list(self.store.values())))
        return rt.InvocationInput(
            durable_execution_arn="e", checkpoint_token="t0", initial_execution_state=first
        )


@pytest.mark.parametrize(
    ("wrong", "named"),
    [
        ("reply of None", "checkpoint() reply"),
        ("reply of a list", "checkpoint() reply"),
        ("reply of operations None", "checkpoint() reply"),
        ("reply of dicts", "checkpoint() reply"),
        ("page of operations None", "get_state() for NextMarker 'rest'"),
        ("page of dicts", "get_state() for NextMarker 'rest'"),
        ("first page None", "the first page of the state"),
        ("first page of dicts", "the first page of the state"),
    ],
)
def test_a_service_reply_built_with_a_field_of_another_type_is_named(
    wrong: str, named: str
) -> None:
    service = HandBuiltService(wrong)
    with pytest.raises(dg.InvalidInputError, match="a DurableService hands over") as caught:
        rt.invoke(_one_step_shape, service.event(), service)
    assert named in str(caught.value)
    assert rt.invoke(
        _one_step_shape, HandBuiltService("").event(), HandBuiltService("")
    ).status == ("SUCCEEDED")


class LenientService(HandBuiltService):
    """Pages of the store's `dict.values()` and replies of a tuple: collections of operations."""

    def get_state(
        self, execution_arn: str, checkpoint_token: str, marker: str
    ) -> rt.ExecutionState:
        return rt.ExecutionState(operations=self.store.values())  # type: ignore[arg-type]

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: list[rt.OperationUpdate]
    ) -> rt.CheckpointResponse:
        changed = tuple(rt.apply_updates(self.store, updates, now_ms=0).operations)
        state = rt.ExecutionState(operations=changed)  # type: ignore[arg-type]
        return rt.CheckpointResponse(checkpoint_token="t1", new_execution_state=state)


def test_pages_of_other_collections_of_operations_are_read() -> None:
    service = LenientService("")
    assert rt.invoke(_one_step_shape, service.event(), service).result == "1"
