"""Two more host runtimes written from docs/embedding.md alone, with public imports only, each
driving the shapes of `embedding_shapes_round10` and compared with the embedded engine.

* `WheelHost` is synchronous and runs on the real clock: every execution has a thread of its
  own (the one that talks to its store and its interpreter), steps run in one shared thread
  pool with their `deadline_ms` enforced, and one timer-wheel thread fires waits, retry delays
  and callback timeouts when they are due. Every shape runs at once. The interpreter is kept
  open across suspensions and fed news with `observe()` (or, the other way, rebuilt from the
  store at every wake-up). An outside-world thread answers callbacks by id, sends heartbeats
  and finishes invokes.
* `TrioHost` runs under trio on a virtual clock, one execution at a time: steps are trio
  tasks (sync ones in `trio.to_thread`, abandoned at their deadline), a step still running
  after a few milliseconds has its START sent ahead with `started()`, and between invocations
  the store goes through AWS's wire JSON, as on disk.
"""

from __future__ import annotations

import concurrent.futures as cf
import heapq
import itertools
import json
import queue
import threading
import time
import uuid
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.testing import replay

from . import embedding_shapes_round10 as shapes

# -- host A: threads, a real clock, a timer wheel --------------------------------------------


def _now_ms() -> int:
    return int(time.time() * 1000)


class _Execution:
    """One execution: its store, armed timers, inbox of news and its own thread."""

    def __init__(self, host: WheelHost, arn: str, shape: str, key: str) -> None:
        self.host = host
        self.arn = arn
        self.shape = shape
        self.workflow = shapes.SHAPES[shape]
        self.store: dict[str, rt.Operation] = {
            "exec": rt.Operation(
                id="exec",
                type="EXECUTION",
                status="STARTED",
                start_timestamp=_now_ms(),
                execution_details=rt.ExecutionDetails(input_payload=json.dumps({"key": key})),
            )
        }
        self.timers: dict[tuple[str, str], rt.Timer] = {}
        self.inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.interp: rt.Interpreter | None = None
        self.outcome: rt.Outcome | None = None
        self.invocations = 0
        self.late_reports: list[str] = []
        self.thread = threading.Thread(target=self._main, name=f"exec-{shape}", daemon=True)

    # the execution's thread: the only one that touches its store and interpreter
    def _main(self) -> None:
        try:
            outcome = self._invoke()
            while isinstance(outcome, rt.Suspended):
                changed = self._news(self.inbox.get(timeout=20))
                while True:  # everything that arrived meanwhile, then one wake-up
                    try:
                        changed += self._news(self.inbox.get_nowait())
                    except queue.Empty:
                        break
                if not changed:
                    continue
                outcome = self._invoke(changed)
            self.outcome = outcome
        except BaseException as exc:
            self.outcome = rt.Failed(rt.ErrorObject(error_type="HostCrash",
                                                    error_message=repr(exc)))  # fmt: skip
            raise
        finally:
            self.host.finished(self)

    def _news(self, item: tuple[str, Any]) -> list[rt.Operation]:
        """Apply one piece of news to the store; the operations it changed."""
        kind, what = item
        now = _now_ms()
        op: rt.Operation | None
        if kind == "fire":
            timer: rt.Timer = what
            if self.timers.get((timer.kind, timer.operation_id)) is not timer:
                return []  # replaced (a heartbeat) or already fired: must not fire
            del self.timers[timer.kind, timer.operation_id]
            op = rt.fire_timer(self.store, timer, now_ms=max(now, timer.due_ms))
        elif kind == "answer":
            callback_id, how, value = what
            try:
                if how == "result":
                    op = rt.complete_callback(self.store, callback_id, now_ms=now, result=value)
                else:
                    op = rt.complete_callback(self.store, callback_id, now_ms=now, error=value)
            except dg.InvalidCheckpointError:
                return []  # timed out before the answer arrived: the sender is told
        elif kind == "heartbeat":
            callback_id, op_id = what
            armed = self.timers.get(("callback-heartbeat", op_id))
            try:
                new = rt.heartbeat_callback(self.store, callback_id, armed, now_ms=now)
            except dg.InvalidCheckpointError:
                return []
            if new is not None:
                self._arm(new)
            return []
        elif kind == "invoked":
            op_id, how, value = what
            if how == "result":
                op = rt.complete_invoke(self.store, op_id, now_ms=now, result=value)
            else:
                op = rt.complete_invoke(self.store, op_id, now_ms=now, error=value)
        else:
            raise AssertionError(kind)
        return [op] if op is not None else []

    def _arm(self, timer: rt.Timer) -> None:
        self.timers[timer.kind, timer.operation_id] = timer
        self.host.wheel_add(self, timer)

    def _checkpoint(self, updates: list[rt.OperationUpdate]) -> list[rt.Operation]:
        applied = rt.apply_updates(
            self.store, updates, now_ms=_now_ms(), new_callback_id=self.host.issue_callback_id
        )
        for timer in applied.timers:
            self._arm(timer)
        for request in applied.invokes:
            self.host.world_invoke(self, request)
        for op in applied.operations:
            if op.type == "CALLBACK" and op.status == "STARTED" and op.callback_details:
                assert op.callback_details.callback_id
                self.host.world_callback(self, op)
        return list(applied.operations)

    def _invoke(self, news: list[rt.Operation] | None = None) -> rt.Outcome:
        self.invocations += 1
        interp = self.interp
        if interp is None or not self.host.keep_open:
            interp = rt.Interpreter(
                self.workflow, list(self.store.values()), execution_arn=self.arn,
                checkpointing=self.host.mode, clock=time.time,
            )  # fmt: skip
        elif news:
            interp.observe(news)
        self.interp = interp
        running: dict[cf.Future[Any], rt.StepTask] = {}
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                interp.observe(self._checkpoint(list(action.updates)))
            elif isinstance(action, rt.RunTasks):
                for task in action.tasks:
                    running[self.host.run_step(task)] = task
            elif isinstance(action, rt.WaitForTasks):
                self._wait_for_one(interp, running)
            else:
                outcome = action.outcome
                if not isinstance(outcome, rt.Suspended) or not self.host.keep_open:
                    interp.close()
                    self.interp = None
                if not isinstance(outcome, rt.Suspended):
                    status = "SUCCEEDED" if isinstance(outcome, rt.Succeeded) else "FAILED"
                    self.store["exec"] = msgspec.structs.replace(
                        self.store["exec"], status=status, end_timestamp=_now_ms()
                    )
                return outcome

    def _wait_for_one(
        self, interp: rt.Interpreter, running: dict[cf.Future[Any], rt.StepTask]
    ) -> None:
        deadlines = [t.deadline_ms for t in running.values() if t.deadline_ms is not None]
        timeout = max(0.0, min(deadlines) / 1000 - time.time()) if deadlines else None
        done, _ = cf.wait(running, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        for future in done:
            task = running.pop(future)
            error = future.exception()
            if error is None:
                interp.task_succeeded(task, future.result())
            elif isinstance(error, Exception):
                interp.task_failed(task, error)
            else:
                raise error
        now_ms = _now_ms()
        for future, task in list(running.items()):
            if task.deadline_ms is not None and task.deadline_ms <= now_ms:
                del running[future]  # abandoned: whatever it returns later is dropped
                future.add_done_callback(lambda _f, n=task.name: self.late_reports.append(n))
                interp.task_failed(task, dg.StepTimeoutError(f"{task.name!r} ran past its timeout"))


class WheelHost:
    def __init__(self, mode: str, keep_open: bool) -> None:
        self.mode = mode
        self.keep_open = keep_open
        self.pool = cf.ThreadPoolExecutor(max_workers=8, thread_name_prefix="steps")
        self._cv = threading.Condition()
        self._heap: list[tuple[int, int, _Execution, rt.Timer]] = []
        self._seq = itertools.count()
        self._issued: set[str] = set()
        self._callbacks: dict[str, _Execution] = {}
        self._open = 0
        self._stopping = False
        self._wheel = threading.Thread(target=self._wheel_main, name="wheel", daemon=True)
        self._world = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="world")

    # steps
    def run_step(self, task: rt.StepTask) -> cf.Future[Any]:
        if task.is_async:
            import asyncio

            return self.pool.submit(asyncio.run, task.fn(*task.args, **task.kwargs))
        return self.pool.submit(task.fn, *task.args, **task.kwargs)

    # callback ids, unique across every execution of the host
    def issue_callback_id(self) -> str:
        with self._cv:
            new = uuid.uuid4().hex
            self._issued.add(new)
            return new

    # the timer wheel
    def wheel_add(self, execution: _Execution, timer: rt.Timer) -> None:
        with self._cv:
            heapq.heappush(self._heap, (timer.due_ms, next(self._seq), execution, timer))
            self._cv.notify()

    def _wheel_main(self) -> None:
        with self._cv:
            while not self._stopping:
                if not self._heap:
                    self._cv.wait()
                    continue
                due_ms, _, execution, timer = self._heap[0]
                delay = due_ms / 1000 - time.time()
                if delay > 0:
                    self._cv.wait(delay)
                    continue
                heapq.heappop(self._heap)
                execution.inbox.put(("fire", timer))

    # the outside world
    def world_callback(self, execution: _Execution, op: rt.Operation) -> None:
        assert op.callback_details and op.callback_details.callback_id
        callback_id = op.callback_details.callback_id
        with self._cv:
            assert callback_id in self._issued
            self._callbacks[callback_id] = execution
        answer = shapes.answer_for(op.name)
        if answer is None:
            return

        def send() -> None:
            how, value = answer
            target = self._callbacks[callback_id]  # found by the id alone
            if how == "heartbeat":
                for _ in range(3):  # 1.5 s of heartbeats under a 1 s heartbeat timeout
                    time.sleep(0.5)
                    target.inbox.put(("heartbeat", (callback_id, op.id)))
                how = "result"
            else:
                time.sleep(0.05)
            target.inbox.put(("answer", (callback_id, how, value)))

        self._world.submit(send)

    def world_invoke(self, execution: _Execution, request: rt.InvokeRequest) -> None:
        def finish() -> None:
            how, value = shapes.invoked(request.function_name, request.payload)
            execution.inbox.put(("invoked", (request.operation_id, how, value)))

        self._world.submit(finish)

    # running a fleet
    def finished(self, execution: _Execution) -> None:
        with self._cv:
            self._open -= 1
            self._cv.notify_all()

    def run_all(self, executions: list[_Execution], timeout: float = 40) -> None:
        self._wheel.start()
        with self._cv:
            self._open = len(executions)
        for execution in executions:
            execution.thread.start()
        try:
            with self._cv:
                assert self._cv.wait_for(lambda: self._open == 0, timeout), "did not end"
        finally:
            with self._cv:
                self._stopping = True
                self._cv.notify_all()
            self._wheel.join(5)
            self._world.shutdown(wait=True)
            self.pool.shutdown(wait=True)


def _outcome(outcome: rt.Outcome | None) -> tuple[str, Any]:
    if isinstance(outcome, rt.Succeeded):
        return "SUCCEEDED", json.loads(outcome.result) if outcome.result else None
    assert isinstance(outcome, rt.Failed), outcome
    return "FAILED", outcome.error.error_type


def _replays_to_its_end(shape: str, store: dict[str, rt.Operation], arn: str) -> None:
    """A new interpreter over what the host stored gives the same end and runs nothing."""
    report = replay(shapes.SHAPES[shape], list(store.values()), execution_arn=arn)
    assert report.ok, report


@pytest.mark.parametrize(
    ("mode", "keep_open"),
    [("step", True), ("eager", False), ("batch", True), ("step", False)],
)
def test_wheel_host_runs_every_shape_at_once_as_the_engine(mode: str, keep_open: bool) -> None:
    expected = {name: shapes.engine_outcome(name, uuid.uuid4().hex) for name in shapes.SHAPES}
    host = WheelHost(mode, keep_open)
    keys = {name: uuid.uuid4().hex for name in shapes.SHAPES}
    executions = [
        _Execution(host, f"wheel-{name}-{keys[name]}", name, keys[name]) for name in shapes.SHAPES
    ]
    host.run_all(executions)
    got = {e.shape: _outcome(e.outcome) for e in executions}
    assert got == expected
    by_shape = {e.shape: e for e in executions}
    # what ran, and how often: a recorded step never ran again
    assert shapes.counted(keys["at_most_once"], "charge") == 2
    assert shapes.counted(keys["retry_last"], "flaky") == 3
    assert shapes.counted(keys["saga"], "reserve flight") == 1
    assert shapes.counted(keys["chain"], "add") == 2
    assert by_shape["step_timeout"].late_reports == ["slow_then_fast"]  # it ended, unheard
    assert by_shape["wait"].invocations >= 2
    for execution in executions:
        _replays_to_its_end(execution.shape, execution.store, execution.arn)


# -- host B: trio, a virtual clock, the store through wire JSON --------------------------------

trio = pytest.importorskip("trio")

_ops_list = msgspec.json.Decoder(list[rt.Operation])


class TrioHost:
    START_WINDOW = 0.005  # a step running longer has its START sent ahead (`started()`)

    def __init__(self, shape: str, key: str, mode: str) -> None:
        self.shape = shape
        self.workflow = shapes.SHAPES[shape]
        self.mode = mode
        self.arn = f"trio-{shape}-{key}"
        self.now_ms = 1_700_000_000_000
        self.disk = msgspec.json.encode(
            [rt.Operation(
                id="exec", type="EXECUTION", status="STARTED", start_timestamp=self.now_ms,
                execution_details=rt.ExecutionDetails(input_payload=json.dumps({"key": key})),
            )]
        )  # fmt: skip
        self.timers: dict[tuple[str, str], rt.Timer] = {}
        self.invokes: list[rt.InvokeRequest] = []
        self.invocations = 0
        self.early_starts = 0
        self.events: list[rt.VirtualContextEvent] = []
        self._ids = (f"{self.arn}-cb-{n}" for n in itertools.count())

    def load(self) -> dict[str, rt.Operation]:
        return {op.id: op for op in _ops_list.decode(self.disk)}

    def save(self, store: dict[str, rt.Operation]) -> None:
        self.disk = msgspec.json.encode(list(store.values()))

    async def invoke(self) -> rt.Outcome:
        self.invocations += 1
        store = self.load()
        now = self.now_ms / 1000
        interp = rt.Interpreter(
            self.workflow, list(store.values()), execution_arn=self.arn,
            checkpointing=self.mode, clock=lambda: now,
        )  # fmt: skip
        send, receive = trio.open_memory_channel[tuple[str, rt.StepTask, Any]](100)
        running: set[str] = set()

        def checkpoint(updates: tuple[rt.OperationUpdate, ...]) -> None:
            applied = rt.apply_updates(
                store, updates, now_ms=self.now_ms, new_callback_id=lambda: next(self._ids)
            )
            self.save(store)  # on disk before the interpreter hears of it
            for timer in applied.timers:
                self.timers[timer.kind, timer.operation_id] = timer
            self.invokes.extend(applied.invokes)
            interp.observe(applied.operations)

        async def run(task: rt.StepTask) -> None:
            async def call() -> Any:
                if task.is_async:
                    return await task.fn(*task.args, **task.kwargs)
                return await trio.to_thread.run_sync(
                    lambda: task.fn(*task.args, **task.kwargs), abandon_on_cancel=True
                )

            async def early_start() -> None:
                await trio.sleep(self.START_WINDOW)
                await send.send(("started", task, None))

            report: tuple[str, rt.StepTask, Any]
            async with trio.open_nursery() as inner:
                inner.start_soon(early_start)
                limit = (
                    trio.current_time() + max(0.0, task.deadline_ms / 1000 - now)
                    if task.deadline_ms is not None
                    else float("inf")
                )
                with trio.move_on_at(limit) as scope:
                    try:
                        report = ("ok", task, await call())
                    except Exception as exc:
                        report = ("error", task, exc)
                if scope.cancelled_caught:
                    report = ("error", task, dg.StepTimeoutError(f"{task.name!r} timed out"))
                inner.cancel_scope.cancel()
            await send.send(report)

        async with trio.open_nursery() as nursery:
            while True:
                action = interp.next_action()
                self.events.extend(action.events)
                if isinstance(action, rt.Flush):
                    checkpoint(action.updates)
                elif isinstance(action, rt.RunTasks):
                    for task in action.tasks:
                        running.add(task.id)
                        nursery.start_soon(run, task)
                elif isinstance(action, rt.WaitForTasks):
                    kind, task, value = await receive.receive()
                    if kind == "started":
                        if task.id in running:
                            flush = interp.started(task)
                            if flush is not None:
                                self.early_starts += 1
                                self.events.extend(flush.events)
                                checkpoint(flush.updates)
                        continue
                    running.discard(task.id)
                    if kind == "ok":
                        interp.task_succeeded(task, value)
                    else:
                        interp.task_failed(task, value)
                else:
                    interp.close()
                    nursery.cancel_scope.cancel()  # tasks a decided batch left running
                    outcome = action.outcome
                    break
        if not isinstance(outcome, rt.Suspended):
            status = "SUCCEEDED" if isinstance(outcome, rt.Succeeded) else "FAILED"
            store["exec"] = msgspec.structs.replace(
                store["exec"], status=status, end_timestamp=self.now_ms
            )
            self.save(store)
        return outcome

    async def run(self) -> rt.Outcome:
        while True:
            outcome = await self.invoke()
            if not isinstance(outcome, rt.Suspended):
                return outcome
            assert self.invocations < 60, "the execution does not end"
            store = self.load()
            moved = self._outside_world(store)
            if not moved:
                first = min(self.timers.values(), key=lambda t: t.due_ms)
                self.now_ms = max(self.now_ms, first.due_ms)
                del self.timers[first.kind, first.operation_id]
                rt.fire_timer(store, first, now_ms=self.now_ms)
            self.save(store)

    def _outside_world(self, store: dict[str, rt.Operation]) -> bool:
        moved = False
        for request in self.invokes:
            how, value = shapes.invoked(request.function_name, request.payload)
            kw = {"result": value} if how == "result" else {"error": value}
            rt.complete_invoke(store, request.operation_id, now_ms=self.now_ms, **kw)
            moved = True
        self.invokes.clear()
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
                    self.now_ms += 500
                    armed = self.timers.get(("callback-heartbeat", op.id))
                    new = rt.heartbeat_callback(store, callback_id, armed, now_ms=self.now_ms)
                    assert new is not None
                    self.timers[new.kind, new.operation_id] = new
                how = "result"
            kw = {"result": value} if how == "result" else {"error": value}
            rt.complete_callback(store, callback_id, now_ms=self.now_ms, **kw)
            moved = True
        return moved


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize("shape", sorted(shapes.SHAPES))
def test_trio_host_ends_as_the_engine(shape: str, mode: str) -> None:
    expected = shapes.engine_outcome(shape, uuid.uuid4().hex)
    key = uuid.uuid4().hex
    host = TrioHost(shape, key, mode)
    outcome = trio.run(host.run)
    assert _outcome(outcome) == expected
    _replays_to_its_end(shape, host.load(), host.arn)
    starts = [e for e in host.events if e.action == "START"]
    ends = [e for e in host.events if e.action in ("SUCCEED", "FAIL")]
    assert sorted(e.operation_id for e in starts) == sorted(e.operation_id for e in ends)
    if shape == "virtual_child":
        assert [(e.action, e.name) for e in host.events] == [("START", "virt"), ("SUCCEED", "virt")]
    if shape == "step_timeout" and mode == "step":
        assert host.early_starts >= 1  # the slow attempt's START went ahead of its outcome


# -- a checkpoint reply in pages ---------------------------------------------------------------


class PagedReplies:
    """A DurableService whose checkpoint replies give one changed operation and the rest
    through `NextMarker` (`get_state` of that marker), as the service may page them."""

    def __init__(self, input_json: str) -> None:
        self.now_ms = 1_700_000_000_000
        self.store = {"exec": rt.Operation(
            id="exec", type="EXECUTION", status="STARTED", start_timestamp=self.now_ms,
            execution_details=rt.ExecutionDetails(input_payload=input_json))}  # fmt: skip
        self.timers: dict[tuple[str, str], rt.Timer] = {}
        self.pages: dict[str, list[rt.Operation]] = {}
        self.tokens = (f"token-{n}" for n in itertools.count())
        self.token = ""
        self.paged = 0

    def event(self) -> rt.InvocationInput:
        self.token = next(self.tokens)
        state = rt.ExecutionState(operations=list(self.store.values()))
        return rt.InvocationInput(
            durable_execution_arn="paged-replies",
            checkpoint_token=self.token,
            initial_execution_state=state,
        )

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Any
    ) -> rt.CheckpointResponse:
        if checkpoint_token != self.token:
            raise dg.InvalidCheckpointTokenError("use the token of the last CheckpointResponse")
        applied = rt.apply_updates(self.store, updates, now_ms=self.now_ms)
        for timer in applied.timers:
            self.timers[timer.kind, timer.operation_id] = timer
        self.token = next(self.tokens)
        changed = list(applied.operations)
        if len(changed) < 2:
            state = rt.ExecutionState(operations=changed)
        else:
            marker = f"m{len(self.pages)}"
            self.pages[marker] = changed[1:]
            self.paged += 1
            state = rt.ExecutionState(operations=changed[:1], next_marker=marker)
        return rt.CheckpointResponse(checkpoint_token=self.token, new_execution_state=state)

    def get_state(
        self, execution_arn: str, checkpoint_token: str, marker: str
    ) -> rt.ExecutionState:
        return rt.ExecutionState(operations=self.pages.pop(marker))


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize("shape", ["map_waiting_items", "nested_children", "parallel_of_maps"])
def test_a_checkpoint_reply_in_pages_is_read_whole_not_checked_as_the_whole_state(
    shape: str, mode: str
) -> None:
    """The operations a paged reply changed name contexts recorded before it (a Map item's
    step, its Map): they are news, not the execution's state, and must not be refused as a
    truncated history."""
    expected = shapes.engine_outcome(shape, uuid.uuid4().hex)
    service = PagedReplies(json.dumps({"key": uuid.uuid4().hex}))
    for _ in range(20):
        output = rt.invoke(shapes.SHAPES[shape], service.event(), service, checkpointing=mode)
        if output.status != "PENDING":
            break
        first = min(service.timers.values(), key=lambda t: t.due_ms)
        del service.timers[first.kind, first.operation_id]
        service.now_ms = max(service.now_ms, first.due_ms)
        rt.fire_timer(service.store, first, now_ms=service.now_ms)
    assert service.paged
    got = ("SUCCEEDED", json.loads(output.result or "null")) if output.status == "SUCCEEDED" else (
        "FAILED", output.error and output.error.error_type)  # fmt: skip
    assert got == expected, output.error
