"""Two more host runtimes written from docs/embedding.md alone (public imports only), driving
the shapes of `embedding_shapes_round10` and compared with the embedded engine.

* `EchoHost` answers every `Flush` as a service that moves on while the checkpoint is in
  flight: before it replies, the chained invokes it started have ended, the callbacks it
  issued have been answered and every wait or retry delay that came due has fired, and its
  reply carries the whole state of the execution (every operation, changed or not), not only
  what the `Flush` changed. Steps run in a thread pool, and their reports reach the
  interpreter in a random order (seeded). One interpreter per execution stays open across
  suspensions.
* `LedgerHost` keeps an append-only JSON-lines file per execution, one line per update as
  it is recorded (a store that writes a checkpoint update by update), and its process dies
  after the n-th line, for every n: in the middle of a `Flush`, before the interpreter heard
  of it. The next process folds the lines back into the store and invokes again.
* `EchoService` gives the same replies to the drivers (`rt.invoke`), as a `DurableService`.

Then records a store may leave fields out of: an `InvocationInput` built without its state, a
wait-for-condition retry without its state, a callback without its id, a completed `Map` or
`Parallel` without its result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import itertools
import json
import random
import re
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
from .embedding_runtimes import HostCrash, start_store

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


def _submit(pool: cf.ThreadPoolExecutor, task: rt.StepTask) -> cf.Future[Any]:
    if task.is_async:
        return pool.submit(asyncio.run, task.fn(*task.args, **task.kwargs))
    return pool.submit(task.fn, *task.args, **task.kwargs)


def _replays_to_its_end(shape: str, store: dict[str, rt.Operation], arn: str) -> None:
    report = replay(shapes.SHAPES[shape], list(store.values()), execution_arn=arn)
    assert report.ok, report


@pytest.fixture(scope="module")
def engine() -> dict[str, tuple[str, Any]]:
    return {name: shapes.engine_outcome(name, uuid.uuid4().hex) for name in shapes.SHAPES}


class _World:
    """One execution's store, its armed timers and the invokes to run, and the outside world
    that answers them (the answers of `embedding_shapes_round10`)."""

    def __init__(self, arn: str, key: str, now_ms: int) -> None:
        self.arn = arn
        self.now_ms = now_ms
        self.store = start_store(json.dumps({"key": key}), now_ms)
        self.timers: dict[tuple[str, str], rt.Timer] = {}
        self.invokes: list[rt.InvokeRequest] = []
        self._ids = (f"{arn}-cb-{n}" for n in itertools.count())

    def record(self, updates: list[rt.OperationUpdate]) -> rt.Applied:
        applied = rt.apply_updates(
            self.store, updates, now_ms=self.now_ms, new_callback_id=lambda: next(self._ids)
        )
        for timer in applied.timers:
            self.timers[timer.kind, timer.operation_id] = timer
        self.invokes.extend(applied.invokes)
        if applied.outcome is not None:
            _ended(self.store, applied.outcome, self.now_ms)
        return applied

    def answer(self) -> list[rt.Operation]:
        """Finish the invokes and answer the open callbacks that get an answer."""
        changed: list[rt.Operation] = []
        for request in self.invokes:
            how, value = shapes.invoked(request.function_name, request.payload)
            kw: dict[str, Any] = {"result": value} if how == "result" else {"error": value}
            changed.append(rt.complete_invoke(self.store, request.operation_id,
                                              now_ms=self.now_ms, **kw))  # fmt: skip
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
            if how == "heartbeat":  # three heartbeats over 1.5 s under a 1 s heartbeat timeout
                for _ in range(3):
                    self.now_ms += 500
                    armed = self.timers.get(("callback-heartbeat", op.id))
                    new = rt.heartbeat_callback(self.store, callback_id, armed, now_ms=self.now_ms)
                    assert new is not None
                    self.timers[new.kind, new.operation_id] = new
                how = "result"
            kw = {"result": value} if how == "result" else {"error": value}
            changed.append(rt.complete_callback(self.store, callback_id,
                                                now_ms=self.now_ms, **kw))  # fmt: skip
        return changed

    def fire_due(self, up_to_ms: int) -> list[rt.Operation]:
        """Fire, in order, every armed timer due by ``up_to_ms``."""
        changed: list[rt.Operation] = []
        for timer in sorted(self.timers.values(), key=lambda t: t.due_ms):
            if timer.due_ms > up_to_ms:
                break
            del self.timers[timer.kind, timer.operation_id]
            self.now_ms = max(self.now_ms, timer.due_ms)
            op = rt.fire_timer(self.store, timer, now_ms=self.now_ms)
            if op is not None:
                changed.append(op)
        return changed

    def fire_next(self) -> list[rt.Operation]:
        assert self.timers, "suspended with nothing armed"
        return self.fire_due(min(t.due_ms for t in self.timers.values()))


# -- host A: replies that carry the whole state, moved on by the service -----------------------


class EchoHost:
    def __init__(
        self, shape: str, key: str, mode: str, seed: int, pool: cf.Executor, announce: bool = False
    ) -> None:
        self.shape = shape
        #: ask for every task's START (interp.started) as soon as it is handed out
        self.announce = announce
        self.announced = 0
        self.world = _World(f"echo-{shape}-{key}", key, _START_MS)
        self.rng = random.Random(seed)
        self.pool = pool
        self.interp = rt.Interpreter(
            shapes.SHAPES[shape], list(self.world.store.values()), execution_arn=self.world.arn,
            checkpointing=mode, clock=lambda: self.world.now_ms / 1000,
        )  # fmt: skip
        self.replies = 0

    def _reply(self, applied: rt.Applied) -> list[rt.Operation]:
        """What the service answers: the execution moved on (answers, timers due within the
        next second), then all of its operations."""
        self.replies += 1
        if applied.outcome is None:
            self.world.answer()
            self.world.fire_due(self.world.now_ms + 1000)
        ops = list(self.world.store.values())
        self.rng.shuffle(ops)
        return ops

    def run(self) -> rt.Outcome:
        interp = self.interp
        running: dict[cf.Future[Any], tuple[rt.StepTask, float]] = {}
        try:
            for _ in range(10_000):
                action = interp.next_action()
                if isinstance(action, rt.Flush):
                    interp.observe(self._reply(self.world.record(list(action.updates))))
                elif isinstance(action, rt.RunTasks):
                    for task in action.tasks:
                        limit = (
                            time.monotonic()
                            + max(0.0, task.deadline_ms / 1000 - self.world.now_ms / 1000)
                            if task.deadline_ms is not None
                            else float("inf")
                        )
                        running[_submit(self.pool, task)] = (task, limit)
                    for task in action.tasks if self.announce else ():
                        flush = interp.started(task)
                        if flush is not None:
                            self.announced += 1
                            interp.observe(self._reply(self.world.record(list(flush.updates))))
                elif isinstance(action, rt.WaitForTasks):
                    first = min(limit for _, limit in running.values())
                    timeout = None if first == float("inf") else max(0.0, first - time.monotonic())
                    cf.wait(running, timeout, return_when=cf.FIRST_COMPLETED)
                    now = time.monotonic()
                    finished = [f for f, (_, limit) in running.items() if f.done() or limit <= now]
                    self.rng.shuffle(finished)  # reported in any order
                    for future in finished:
                        task, _ = running.pop(future)
                        if not future.done():
                            interp.task_failed(task, dg.StepTimeoutError(f"{task.name!r} late"))
                        elif future.exception() is None:
                            interp.task_succeeded(task, future.result())
                        else:
                            error = future.exception()
                            assert isinstance(error, Exception)
                            interp.task_failed(task, error)
                elif isinstance(action.outcome, rt.Suspended):
                    news = self.world.answer() or self.world.fire_next()
                    interp.observe(news)
                else:
                    _ended(self.world.store, action.outcome, self.world.now_ms)
                    return action.outcome
            raise AssertionError("the execution does not end")
        finally:
            interp.close()


@pytest.fixture(scope="module")
def pool() -> Any:
    with cf.ThreadPoolExecutor(8) as executor:
        yield executor


@pytest.mark.parametrize(
    ("mode", "announce"), [("step", False), ("eager", False), ("batch", False), ("step", True)]
)
def test_replies_with_the_whole_state_moved_on_by_the_service_end_as_the_engine(
    mode: str, announce: bool, engine: dict[str, tuple[str, Any]], pool: cf.ThreadPoolExecutor
) -> None:
    got: dict[str, tuple[str, Any]] = {}
    announced = 0
    for seed, shape in enumerate(sorted(shapes.SHAPES)):
        key = uuid.uuid4().hex
        host = EchoHost(shape, key, mode, seed, pool, announce)
        got[shape] = _outcome(host.run())
        announced += host.announced
        assert host.replies > 0
        _replays_to_its_end(shape, host.world.store, host.world.arn)
        assert host.world.store["exec"].status == got[shape][0]
        if shape == "chain":
            assert shapes.counted(key, "add") == 2
        if shape == "retry_last":
            assert shapes.counted(key, "flaky") == 3
        if shape == "at_most_once":
            assert shapes.counted(key, "charge") == 2
    assert (announced > 0) == announce
    # a race: the service's clock moved a second while the checkpoint of the fast branch was
    # in flight, so the one-second wait of the slow branch may have ended first
    race = got.pop("parallel_first_success")
    assert race in [
        ("SUCCEEDED", {"results": [winner], "reason": "MIN_SUCCESSFUL_REACHED"})
        for winner in ("fast", "slow")
    ]
    assert got == {name: engine[name] for name in got}


# -- host B: an append-only ledger, and a crash after every line -------------------------------


class LedgerHost:
    """One execution in a JSON-lines file: a line per recorded update (the operations it
    changed, the timers it armed, the invokes it started), per answer from outside and per
    fired timer."""

    def __init__(self, directory: Path, shape: str, key: str, mode: str) -> None:
        self.shape = shape
        self.mode = mode
        self.key = key
        self.arn = f"ledger-{shape}-{key}"
        self.path = directory / f"{self.arn}.jsonl"
        self.lines = 0
        self.crash_at: int | None = None
        self.crashed = False
        self.processes = 0
        self._callback_ids = itertools.count()
        world = _World(self.arn, key, _START_MS)
        self._append({"ops": list(world.store.values()), "now_ms": world.now_ms})

    def _append(self, entry: dict[str, Any]) -> None:
        with self.path.open("ab") as f:
            f.write(msgspec.json.encode(entry) + b"\n")
        self.lines += 1
        if self.crash_at is not None and self.lines == self.crash_at:
            self.crashed = True
            raise HostCrash(f"died after line {self.lines}")

    def load(self) -> _World:
        world = _World(self.arn, self.key, _START_MS)
        world.store.clear()
        world._ids = (f"{self.arn}-cb-{n}" for n in self._callback_ids)  # never reissued
        for line in self.path.read_bytes().splitlines():
            entry = msgspec.json.decode(line)
            world.now_ms = entry["now_ms"]
            for op in msgspec.convert(entry["ops"], list[rt.Operation]):
                world.store[op.id] = op
            for timer in msgspec.convert(entry.get("timers", []), list[rt.Timer]):
                world.timers[timer.kind, timer.operation_id] = timer
            for fired in entry.get("fired", []):
                world.timers.pop((fired[0], fired[1]), None)
            for request in msgspec.convert(entry.get("invokes", []), list[rt.InvokeRequest]):
                world.invokes.append(request)
            done = set(entry.get("invoked", []))
            world.invokes = [r for r in world.invokes if r.operation_id not in done]
        return world

    def _checkpoint(self, world: _World, updates: tuple[rt.OperationUpdate, ...]) -> list[Any]:
        changed: dict[str, rt.Operation] = {}
        for update in updates:  # one line per update, as it is recorded
            invokes_before = len(world.invokes)
            applied = world.record([update])
            for op in applied.operations:
                changed[op.id] = op
            self._append({"ops": [world.store[op.id] for op in applied.operations]
                          + ([world.store["exec"]] if applied.outcome is not None else []),
                          "timers": applied.timers, "invokes": world.invokes[invokes_before:],
                          "now_ms": world.now_ms})  # fmt: skip
        return list(changed.values())

    def process(self) -> rt.Outcome:
        self.processes += 1
        world = self.load()
        interp = rt.Interpreter(
            shapes.SHAPES[self.shape], list(world.store.values()), execution_arn=self.arn,
            checkpointing=self.mode, clock=lambda: world.now_ms / 1000,
        )  # fmt: skip
        try:
            while True:
                action = interp.next_action()
                if isinstance(action, rt.Flush):
                    interp.observe(self._checkpoint(world, action.updates))
                elif isinstance(action, rt.RunTasks):
                    for task in action.tasks:
                        try:
                            value = task.fn(*task.args, **task.kwargs)
                            if task.is_async:
                                value = asyncio.run(value)
                        except Exception as exc:
                            interp.task_failed(task, exc)
                        else:
                            interp.task_succeeded(task, value)
                elif isinstance(action, rt.WaitForTasks):
                    raise AssertionError("every task was reported inline")
                else:
                    if not isinstance(action.outcome, rt.Suspended):
                        _ended(world.store, action.outcome, world.now_ms)
                        self._append({"ops": [world.store["exec"]], "now_ms": world.now_ms})
                    return action.outcome
        finally:
            interp.close()

    def outside(self) -> None:
        """Between invocations: answers, else the next timer, each written as it happens."""
        world = self.load()
        pending = [r.operation_id for r in world.invokes]
        changed = world.answer()
        if changed:
            self._append({"ops": changed, "invoked": pending, "now_ms": world.now_ms,
                          "timers": list(world.timers.values())})  # fmt: skip
            return
        due = min(t.due_ms for t in world.timers.values())
        keys = [[t.kind, t.operation_id] for t in world.timers.values() if t.due_ms <= due]
        fired = world.fire_due(due)
        self._append({"ops": fired, "fired": keys, "now_ms": world.now_ms})

    def run(self) -> rt.Outcome:
        for _ in range(500):
            try:
                outcome = self.process()
            except HostCrash:
                self.crash_at = None  # the next process does not die
                continue
            if not isinstance(outcome, rt.Suspended):
                return outcome
            try:
                self.outside()
            except HostCrash:
                self.crash_at = None
        raise AssertionError("the execution does not end")


_COUNTING = {"retry_last", "retry_exhausted_caught"}  # results that quote a run count


def _uncounted(outcome: tuple[str, Any]) -> str:
    return re.sub(r"[0-9]+", "N", json.dumps(outcome))


# steps run inline here: a step past its timeout= is not abandoned, so that shape differs
_LEDGER_SHAPES = sorted(set(shapes.SHAPES) - {"step_timeout"})


@pytest.mark.parametrize("mode", ["step", "batch"])
@pytest.mark.parametrize("shape", _LEDGER_SHAPES)
def test_a_store_that_dies_between_the_updates_of_a_checkpoint_ends_as_the_engine(
    tmp_path: Path, shape: str, mode: str, engine: dict[str, tuple[str, Any]]
) -> None:
    (tmp_path / "clean").mkdir()
    clean = LedgerHost(tmp_path / "clean", shape, uuid.uuid4().hex, mode)
    assert _outcome(clean.run()) == engine[shape]
    total = clean.lines
    for crash_at in range(2, total + 1):
        directory = tmp_path / f"crash-{crash_at}"
        directory.mkdir()
        key = uuid.uuid4().hex
        host = LedgerHost(directory, shape, key, mode)
        host.crash_at = crash_at
        got = _outcome(host.run())
        assert host.crashed, crash_at
        world = host.load()
        if shape == "chain":  # "step": one crash runs at most one step again; "batch" holds
            # both outcomes until the invocation ends, and a crash may lose both
            assert shapes.counted(key, "add") <= (4 if mode == "batch" else 3), crash_at
        if shape == "at_most_once" and got != engine[shape]:
            # a crash between its START and its outcome interrupts the at-most-once step
            assert got == ("FAILED", "StepInterruptedError"), crash_at
        elif shape in _COUNTING:
            # an attempt whose START was written and its outcome not runs again (at least
            # once): the step counts its runs, and fails or succeeds by that count
            assert _uncounted(got) == _uncounted(engine[shape]), crash_at
        else:
            assert got == engine[shape], crash_at
        assert world.store["exec"].status == got[0], crash_at
        _replays_to_its_end(shape, world.store, host.arn)


# -- the same replies through the drivers: a DurableService for rt.invoke -----------------------


class EchoService:
    """A `DurableService` whose checkpoint replies carry the whole state, moved on as
    `EchoHost`'s are: answers given and timers due within the next second fired."""

    def __init__(self, shape: str, key: str) -> None:
        self.workflow = shapes.SHAPES[shape]
        self.world = _World(f"echo-service-{shape}-{key}", key, _START_MS)
        self._tokens = (f"token-{n}" for n in itertools.count())
        self.token = ""
        self.replies = 0

    def event(self) -> rt.InvocationInput:
        self.token = next(self._tokens)
        state = rt.ExecutionState(operations=list(self.world.store.values()))
        return rt.InvocationInput(
            durable_execution_arn=self.world.arn,
            checkpoint_token=self.token,
            initial_execution_state=state,
        )

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: list[rt.OperationUpdate]
    ) -> rt.CheckpointResponse:
        if checkpoint_token != self.token:
            raise dg.InvalidCheckpointTokenError("use the token of the last CheckpointResponse")
        applied = self.world.record(list(updates))
        if applied.outcome is None:
            self.world.answer()
            self.world.fire_due(self.world.now_ms + 1000)
        self.token = next(self._tokens)
        self.replies += 1
        whole = rt.ExecutionState(operations=list(self.world.store.values()))
        return rt.CheckpointResponse(checkpoint_token=self.token, new_execution_state=whole)

    def get_state(
        self, execution_arn: str, checkpoint_token: str, marker: str | None
    ) -> rt.ExecutionState:
        return rt.ExecutionState(operations=list(self.world.store.values()))

    def run(self, mode: rt.CheckpointMode) -> rt.InvocationOutput:
        for _ in range(200):
            out = rt.invoke(
                self.workflow,
                self.event(),
                self,
                checkpointing=mode,
                clock=lambda: self.world.now_ms / 1000,
                start_window=None,
            )
            if out.status != "PENDING":
                return out
            if not (self.world.answer() or self.world.fire_next()):
                raise AssertionError("nothing moved")
        raise AssertionError("the execution does not end")


def _output(out: rt.InvocationOutput) -> tuple[str, Any]:
    if out.status == "SUCCEEDED":
        return "SUCCEEDED", json.loads(out.result) if out.result else None
    assert out.status == "FAILED" and out.error is not None, out
    return "FAILED", out.error.error_type


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_the_driver_reads_replies_with_the_whole_state_moved_on_as_the_engine(
    mode: rt.CheckpointMode, engine: dict[str, tuple[str, Any]]
) -> None:
    got: dict[str, tuple[str, Any]] = {}
    for shape in sorted(shapes.SHAPES):
        key = uuid.uuid4().hex
        service = EchoService(shape, key)
        got[shape] = _output(service.run(mode))
        assert service.replies > 0
        if shape == "chain":
            assert shapes.counted(key, "add") == 2
        if shape == "at_most_once":
            assert shapes.counted(key, "charge") == 2
    race = got.pop("parallel_first_success")  # as for EchoHost
    assert race in [
        ("SUCCEEDED", {"results": [winner], "reason": "MIN_SUCCESSFUL_REACHED"})
        for winner in ("fast", "slow")
    ]
    assert got == {name: engine[name] for name in got}


# -- an InvocationInput built without its state ------------------------------------------------


class _CountingService:
    """A store that is asked for nothing: it counts what it is asked."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: list[rt.OperationUpdate]
    ) -> rt.CheckpointResponse:
        self.calls.append("checkpoint")
        raise AssertionError("nothing may be checkpointed")

    def get_state(
        self, execution_arn: str, checkpoint_token: str, marker: str | None
    ) -> rt.ExecutionState:
        self.calls.append("get_state")
        return rt.ExecutionState()


_ran: list[int] = []


def _records_a_run(_: object):  # type: ignore[no-untyped-def]
    return (yield dg.Step(lambda: _ran.append(1), name="side-effect"))


@pytest.mark.parametrize("driver", ["invoke", "invoke_async", "make_handler"])
@pytest.mark.parametrize(
    "event",
    [
        rt.InvocationInput(durable_execution_arn="arn:no-state", checkpoint_token="t-0"),
        rt.InvocationInput(
            durable_execution_arn="arn:no-state",
            checkpoint_token="t-0",
            initial_execution_state=rt.ExecutionState(operations=[], next_marker="page-2"),
        ),
    ],
    ids=["no-initial-state", "empty-pages"],
)
def test_an_event_built_without_the_execution_s_state_says_to_pass_it(
    driver: str, event: rt.InvocationInput
) -> None:
    service = _CountingService()
    _ran.clear()
    with pytest.raises(dg.InvalidInputError) as info:
        if driver == "invoke":
            rt.invoke(_records_a_run, event, service)
        elif driver == "invoke_async":
            asyncio.run(rt.invoke_async(_records_a_run, event, service))
        else:
            rt.make_handler(_records_a_run, service)(event)
    message = str(info.value)
    assert "has no EXECUTION operation" in message
    assert "initial_execution_state=ExecutionState(operations=" in message
    assert "truncated" not in message  # the state was never given, not cut short
    assert _ran == []
    assert "checkpoint" not in service.calls


# -- a wait-for-condition retry whose record holds no state -------------------------------------

_checked: list[Any] = []


def _count_check(state: dict[str, int]) -> dict[str, int]:
    _checked.append(state)
    return {"checks": state["checks"] + 1}


def _polling(_: object):  # type: ignore[no-untyped-def]
    return (
        yield dg.WaitForCondition(
            _count_check,
            initial_state={"checks": 0},
            wait_strategy=dg.WaitStrategy(until=lambda s: s["checks"] >= 2, delay=1, backoff=1),
            name="poll",
        )
    )


def _first_poll() -> tuple[dict[str, rt.Operation], rt.Operation]:
    """A store after the first check: the poll waiting for its retry, with its state."""
    store = start_store("null", 0)
    interp = rt.Interpreter(_polling, list(store.values()), execution_arn="arn:poll")
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
        else:
            interp.close()
            break
    (poll,) = (op for op in store.values() if op.type == "STEP")
    assert poll.status == "PENDING" and poll.step_details is not None
    assert poll.step_details.result == '{"checks":1}'
    return store, poll


def _stateless(poll: rt.Operation, status: str) -> rt.Operation:
    assert poll.step_details is not None
    return msgspec.structs.replace(
        poll, status=status, step_details=rt.StepDetails(attempt=poll.step_details.attempt)
    )


def _next_check(interp: rt.Interpreter) -> rt.Outcome:
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            interp.observe([])
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                try:
                    interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
                except Exception as exc:
                    interp.task_failed(task, exc)
        else:
            assert isinstance(action, rt.Done)
            interp.close()
            return action.outcome


@pytest.mark.parametrize("status", ["READY", "STARTED"])
def test_a_poll_whose_record_holds_no_state_checks_its_initial_state(status: str) -> None:
    """As AWS's SDK does, and as an interrupted check (STARTED) already did: a READY retry
    passed the check None, which failed it (or, for a check that takes None, polled from a
    state nobody recorded)."""
    store, poll = _first_poll()
    ops = [store["exec"], _stateless(poll, status)]
    _checked.clear()
    interp = rt.Interpreter(_polling, ops, execution_arn="arn:poll")
    outcome = _next_check(interp)
    assert _checked[0] == {"checks": 0}
    assert isinstance(outcome, rt.Suspended), outcome


def test_news_of_a_due_poll_without_its_state_checks_what_a_rebuilt_interpreter_checks() -> None:
    store, poll = _first_poll()
    live = rt.Interpreter(_polling, list(store.values()), execution_arn="arn:poll")
    assert isinstance(live.next_action(), rt.Done)
    _checked.clear()
    live.observe([_stateless(poll, "READY")])
    _next_check(live)
    rebuilt = rt.Interpreter(
        _polling, [store["exec"], _stateless(poll, "READY")], execution_arn="arn:poll"
    )
    _next_check(rebuilt)
    assert _checked == [{"checks": 0}, {"checks": 0}]


# -- a recorded callback without its id ---------------------------------------------------------


def _awaits_callback(_: object):  # type: ignore[no-untyped-def]
    handle = yield dg.CreateCallback(name="approval", timeout=60)
    return (yield handle)


def _waits_for_callback(_: object):  # type: ignore[no-untyped-def]
    return (yield dg.WaitForCallback(lambda callback_id: None, name="approval", timeout=60))


def _recorded_callback(workflow: Any) -> list[rt.Operation]:
    """The operations once the callback was created (its id issued) and answered."""
    store = start_store("null", 0)
    interp = rt.Interpreter(workflow, list(store.values()), execution_arn="arn:cb")
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
        else:
            interp.close()
            break
    (callback,) = (op for op in store.values() if op.type == "CALLBACK")
    assert callback.callback_details is not None and callback.callback_details.callback_id
    rt.complete_callback(store, callback.callback_details.callback_id, now_ms=1, result='"yes"')
    return list(store.values())


@pytest.mark.parametrize("workflow", [_awaits_callback, _waits_for_callback])
@pytest.mark.parametrize("status", ["STARTED", "SUCCEEDED", "FAILED", "TIMED_OUT"])
@pytest.mark.parametrize("details", ["no-details", "no-id"])
def test_a_recorded_callback_without_its_id_fails_as_a_corrupt_history(
    workflow: Any, status: str, details: str
) -> None:
    """It suspended for good: the workflow waited on a callback nobody could answer (the
    invocation ended PENDING with nothing armed)."""
    ops = _recorded_callback(workflow)
    whole = replay(workflow, ops, execution_arn="arn:cb")
    assert whole.status == "ok" and whole.result == "yes", whole
    broken = [
        msgspec.structs.replace(
            op,
            status=status,
            callback_details=None
            if details == "no-details"
            else rt.CallbackDetails(result='"yes"' if status == "SUCCEEDED" else None),
        )
        if op.type == "CALLBACK"
        else op
        for op in ops
    ]
    (callback,) = (op for op in broken if op.type == "CALLBACK")
    interp = rt.Interpreter(workflow, broken, execution_arn="arn:cb")
    action = interp.next_action()
    interp.close()
    assert isinstance(action, rt.Done), action
    assert isinstance(action.outcome, rt.Failed), action.outcome
    assert action.outcome.error.error_type == "InvalidInputError"
    message = action.outcome.error.error_message or ""
    assert callback.id in message and "CallbackId" in message
    report = replay(workflow, broken, execution_arn="arn:cb")
    assert report.status == "failed", report


# -- a completed Map or Parallel recorded without its result -----------------------------------


def _doubled(x: int, index: int) -> int:
    return x * 2


def _batches(_: object):  # type: ignore[no-untyped-def]
    mapped = yield dg.Map(_doubled, [1, 2, 3], name="m")
    flat = yield dg.Map(_doubled, [4, 5], name="flat", nesting="flat")
    pair = yield dg.Parallel(
        [dg.Branch(lambda: "L", name="l"), dg.Branch(lambda: "R", name="r")], name="p"
    )
    return [mapped.results(), mapped.total_count, flat.results(), pair.results()]


def _batch_history() -> list[rt.Operation]:
    store = start_store("null", 0)
    interp = rt.Interpreter(_batches, list(store.values()), execution_arn="arn:batch")
    outcome = _next_check_all(interp, store)
    assert outcome == rt.Succeeded(result='[[2,4,6],3,[8,10],["L","R"]]')
    return [
        msgspec.structs.replace(op, status="STARTED", end_timestamp=None)
        if op.type == "EXECUTION"
        else op
        for op in store.values()
    ]


def _next_check_all(interp: rt.Interpreter, store: dict[str, rt.Operation]) -> rt.Outcome:
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
        else:
            assert isinstance(action, rt.Done)
            interp.close()
            return action.outcome


@pytest.mark.parametrize("name", ["m", "flat", "p"])
@pytest.mark.parametrize("details", ["no-result", "no-details"])
def test_a_completed_batch_without_its_result_is_rebuilt_from_its_items(
    name: str, details: str
) -> None:
    """It was read as a batch of no items (every item NOT_STARTED, `results()` empty)."""
    ops = [
        msgspec.structs.replace(
            op, context_details=None if details == "no-details" else rt.ContextDetails()
        )
        if op.type == "CONTEXT" and op.name == name
        else op
        for op in _batch_history()
    ]
    interp = rt.Interpreter(_batches, ops, execution_arn="arn:batch")
    action = interp.next_action()
    interp.close()
    assert action == rt.Done(rt.Succeeded(result='[[2,4,6],3,[8,10],["L","R"]]')), action


def test_a_completed_batch_without_its_result_nor_its_items_is_a_corrupt_history() -> None:
    history = _batch_history()
    (mapped,) = (op for op in history if op.type == "CONTEXT" and op.name == "m")
    inside = {mapped.id}
    for op in history:  # the Map's items and what they recorded
        if op.parent_id in inside:
            inside.add(op.id)
    ops = [
        msgspec.structs.replace(op, context_details=rt.ContextDetails()) if op is mapped else op
        for op in history
        if op.id == mapped.id or op.id not in inside
    ]
    interp = rt.Interpreter(_batches, ops, execution_arn="arn:batch")
    action = interp.next_action()
    interp.close()
    assert isinstance(action, rt.Done) and isinstance(action.outcome, rt.Failed), action
    assert action.outcome.error.error_type == "InvalidInputError"
    assert mapped.id in (action.outcome.error.error_message or "")


def test_interpreter_operations_are_by_id_without_the_execution_operation() -> None:
    """As docs/embedding.md says: rebuild an interpreter from the store, not from these."""
    store = start_store("null", 0)
    interp = rt.Interpreter(_records_a_run, list(store.values()), execution_arn="arn:ops")
    _next_check_all(interp, store)
    steps = [op.id for op in store.values() if op.type == "STEP"]
    assert sorted(interp.operations) == sorted(steps)
    assert "exec" not in interp.operations
