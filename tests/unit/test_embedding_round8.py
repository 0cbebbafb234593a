"""Two host runtimes written from docs/embedding.md alone, compared with the embedded engine.

* ``SqliteService``: a ``DurableService`` of its own over a SQLite file (operations and timers
  as msgspec JSON rows), serving state in pages of two operations (``next_marker``), run by
  ``rt.invoke_async`` under trio and asyncio, in every checkpointing mode and payload format;
  a variant serves the operations in a shuffled order (EXECUTION on any page).
* ``ThreadHost``: drives ``rt.Interpreter`` itself, steps in a thread pool (async ones with
  ``asyncio.run`` in the worker), a JSON file store that survives a crash injected before or
  after a checkpoint is written, a fresh interpreter built from the file after each crash.
* A live interpreter kept open across ``Done(Suspended(...))``: news is ``observe()``d and
  ``next_action()`` called again, as the contract allows.

Each ends every workflow of the spread as the engine does (status, result, error type) and
records the same operations (id, parent, type, SubType, name, status).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures as cf
import functools
import itertools
import json
import logging
import os
import random
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.local import LocalService, VirtualClock, register_function

trio = pytest.importorskip("trio")


@pytest.fixture(autouse=True)
def _quiet_failed_attempts() -> Iterator[None]:
    logging.disable(logging.WARNING)
    _FLAKY.clear()
    yield
    logging.disable(logging.NOTSET)


# --- the spread of workflows --------------------------------------------------------------


@dg.step
def double(x: int) -> int:
    return 2 * x


@dg.step
async def adouble(x: int) -> int:
    await asyncio.sleep(0) if _in_asyncio() else None
    return 2 * x


def _in_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


_FLAKY: dict[str, int] = {}


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=2, jitter="none"))
def flaky(key: str) -> str:
    _FLAKY[key] = _FLAKY.get(key, 0) + 1
    if _FLAKY[key] < 3:
        raise ValueError(f"try {_FLAKY[key]}")
    return f"ok after {_FLAKY[key]}"


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def boom(x: int) -> int:
    raise KeyError(x)


@dg.workflow
def inner(x: int):  # type: ignore[no-untyped-def]
    y = yield double(x)
    yield dg.Wait(seconds=3, name="iw")
    return y + 1


def w_map(inp):  # type: ignore[no-untyped-def]
    r = yield dg.Map(double, inp["items"], max_concurrency=2, name="m")
    return r.results()


def w_parallel(inp):  # type: ignore[no-untyped-def]
    def a():  # type: ignore[no-untyped-def]
        return (yield double(1))

    def b():  # type: ignore[no-untyped-def]
        x = yield adouble(5)
        yield dg.Wait(seconds=5, name="bw")
        return x

    r = yield dg.Parallel([dg.Branch(a, name="A"), dg.Branch(b, name="B")], name="p")
    return r.results()


def w_child(inp):  # type: ignore[no-untyped-def]
    v = yield dg.Child(inner, (inp,), name="c")
    vv = yield dg.Child(inner, (v,), name="cv", virtual=True)
    return [v, vv]


def w_retry(inp):  # type: ignore[no-untyped-def]
    return (yield flaky(inp))


def w_fail(inp):  # type: ignore[no-untyped-def]
    try:
        yield boom(inp)
    except dg.StepFailedError as e:
        caught = e.error_type
    yield boom(inp + 1)
    return caught


def w_callback(inp):  # type: ignore[no-untyped-def]
    h = yield dg.CreateCallback(name="cb")
    return {"got": (yield h), "inp": inp}


def w_invoke(inp):  # type: ignore[no-untyped-def]
    return (yield dg.Invoke("tax", {"amount": inp}, name="tax"))


def w_mixed(inp):  # type: ignore[no-untyped-def]
    a = yield double(inp)
    yield dg.Wait(seconds=10, name="w1")
    b = yield adouble(a)
    r = yield dg.Map(adouble, [a, b, 3], name="mm")
    c = yield dg.Child(inner, (b,), name="ch")
    return {"a": a, "b": b, "r": r.results(), "c": c}


def w_condition(inp):  # type: ignore[no-untyped-def]
    return (
        yield dg.WaitForCondition(
            lambda s: s + 1,
            0,
            wait_strategy=dg.WaitStrategy(until=lambda s: s >= 3, delay=1),
            name="cond",
        )
    )


def w_map_of_workflows(inp):  # type: ignore[no-untyped-def]
    def item(x, i):  # type: ignore[no-untyped-def]
        v = yield double(x)
        yield dg.Wait(seconds=1 + i, name=f"iw{i}")
        return v

    r = yield dg.Map(item, inp, name="mg", max_concurrency=3)
    return r.results()


SPREAD: list[tuple[Callable[..., Any], Any]] = [
    (w_map, {"items": [1, 2, 3, 4, 5]}),
    (w_parallel, None),
    (w_child, 4),
    (w_retry, "k"),
    (w_fail, 1),
    (w_invoke, 7),
    (w_mixed, 3),
    (w_condition, None),
    (w_map_of_workflows, [1, 2, 3, 4]),
    (w_callback, "x"),
]
IDS = [wf.__name__ for wf, _ in SPREAD]


def _tax(payload: Any) -> Any:
    return {"tax": payload["amount"] * 2}


def _answer(op: rt.Operation) -> str | None:
    return '"yes"'


def _shape(ops: Any) -> list[tuple[Any, ...]]:
    return sorted(
        (o.id, o.parent_id, o.type, o.sub_type, o.name, o.status)
        for o in ops
        if o.type != "EXECUTION"
    )


def _engine(wf: Callable[..., Any], inp: Any, mode: str, pf: str) -> tuple[Any, list[Any]]:
    _FLAKY.clear()
    svc = LocalService(clock=VirtualClock())
    register_function(svc, "wf", wf, checkpointing=mode, payload_format=pf)  # type: ignore[arg-type]
    register_function(svc, "tax", _tax)
    arn = svc.start("wf", json.dumps(inp))
    record = svc.run(arn)
    if record.status == "RUNNING":
        for op in svc.get_operations(arn):
            if op.type == "CALLBACK" and op.status == "STARTED":
                assert op.callback_details is not None and op.callback_details.callback_id
                svc.send_callback_success(op.callback_details.callback_id, '"yes"')
        record = svc.run(arn)
    error = record.error.error_type if record.error else None
    _FLAKY.clear()
    return (record.status, record.result, error), svc.get_operations(arn)


# --- runtime A: a SQLite DurableService with paged state, under rt.invoke_async ----------------


class SqliteService:
    """A ``DurableService`` over one SQLite file: operations and armed timers as JSON rows."""

    def __init__(self, path: Path, arn: str, input_json: str, page: int = 2) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute(
            "create table if not exists ops(seq integer, id text primary key, body blob)"
        )
        self.db.execute(
            "create table if not exists timers(kind text, op text, body blob, primary key(kind,op))"
        )
        self.arn, self.page = arn, page
        self.tokens = (f"tok-{n}" for n in itertools.count())
        self.token = ""
        self.now_ms = 1_000
        self.invokes: list[rt.InvokeRequest] = []
        self.ids = itertools.count()
        if not self.load():
            execution = rt.Operation(
                id="exec",
                type="EXECUTION",
                status="STARTED",
                start_timestamp=self.now_ms,
                execution_details=rt.ExecutionDetails(input_payload=input_json),
            )
            self.save({"exec": execution}, [execution])

    def close(self) -> None:
        self.db.close()

    def load(self) -> dict[str, rt.Operation]:
        rows = self.db.execute("select body from ops order by seq").fetchall()
        ops = (msgspec.json.decode(r[0], type=rt.Operation) for r in rows)
        return {op.id: op for op in ops}

    def ordered(self) -> list[rt.Operation]:
        return list(self.load().values())

    def save(self, store: dict[str, rt.Operation], changed: Any, timers: Any = ()) -> None:
        order = {key: n for n, key in enumerate(store)}
        with self.db:
            for op in changed:
                body = msgspec.json.encode(op)
                self.db.execute(
                    "insert or replace into ops values(?,?,?)", (order[op.id], op.id, body)
                )
            for t in timers:
                body = msgspec.json.encode(t)
                self.db.execute(
                    "insert or replace into timers values(?,?,?)", (t.kind, t.operation_id, body)
                )

    def _page(self, start: int) -> rt.ExecutionState:
        ops = self.ordered()
        end = start + self.page
        return rt.ExecutionState(
            operations=ops[start:end], next_marker=str(end) if end < len(ops) else None
        )

    def event(self) -> rt.InvocationInput:
        self.token = next(self.tokens)
        return rt.InvocationInput(
            durable_execution_arn=self.arn,
            checkpoint_token=self.token,
            initial_execution_state=self._page(0),
        )

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str | None, updates: Any
    ) -> rt.CheckpointResponse:
        if checkpoint_token != self.token:
            raise dg.InvalidCheckpointTokenError("use the token of the last CheckpointResponse")
        store = self.load()
        applied = rt.apply_updates(
            store,
            updates,
            now_ms=self.now_ms,
            new_callback_id=lambda: f"{self.arn}/cb-{next(self.ids)}",
        )
        self.save(store, applied.operations, applied.timers)
        self.invokes += applied.invokes
        self.token = next(self.tokens)
        return rt.CheckpointResponse(
            checkpoint_token=self.token,
            new_execution_state=rt.ExecutionState(operations=applied.operations),
        )

    def get_state(
        self, execution_arn: str, checkpoint_token: str | None, marker: str | None
    ) -> rt.ExecutionState:
        return self._page(int(marker or 0))

    def clock(self) -> float:
        return self.now_ms / 1000

    def between(self) -> bool:
        """What happens between invocations: one invoke, callback or timer ends."""
        store = self.load()
        for req in self.invokes:
            payload = json.loads(req.payload or "null")
            changed = rt.complete_invoke(
                store, req.operation_id, now_ms=self.now_ms, result=json.dumps(_tax(payload))
            )
            self.save(store, [changed])
        if self.invokes:
            self.invokes.clear()
            return True
        for op in list(store.values()):
            if op.type == "CALLBACK" and op.status == "STARTED":
                assert op.callback_details is not None and op.callback_details.callback_id
                cb = op.callback_details.callback_id
                self.save(
                    store, [rt.complete_callback(store, cb, now_ms=self.now_ms, result='"yes"')]
                )
                return True
        rows = self.db.execute("select body from timers").fetchall()
        timers = sorted(
            (msgspec.json.decode(r[0], type=rt.Timer) for r in rows), key=lambda t: t.due_ms
        )
        if not timers:
            return False
        timer = timers[0]
        self.now_ms = max(self.now_ms, timer.due_ms)
        with self.db:
            self.db.execute(
                "delete from timers where kind=? and op=?", (timer.kind, timer.operation_id)
            )
        changed = rt.fire_timer(store, timer, now_ms=self.now_ms)
        if changed is not None:
            self.save(store, [changed])
        return True


class ShuffledService(SqliteService):
    """Serves the operations in a shuffled order: the EXECUTION on any page."""

    def ordered(self) -> list[rt.Operation]:
        ops = list(self.load().values())
        random.Random(len(ops)).shuffle(ops)
        return ops


async def _drive(service: SqliteService, wf: Callable[..., Any], mode: str, pf: str) -> Any:
    for _ in range(40):
        out = await rt.invoke_async(
            wf, service.event(), service, checkpointing=mode, payload_format=pf
        )  # type: ignore[arg-type]
        if out.status != "PENDING":
            return out
        assert service.between(), "the execution waits on nothing"
    raise AssertionError("too many invocations")


@pytest.mark.parametrize("pf", ["json", "aws"])
@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize(("wf", "inp"), SPREAD, ids=IDS)
def test_sqlite_service_under_trio_ends_as_the_engine(
    tmp_path: Path, wf: Callable[..., Any], inp: Any, mode: str, pf: str
) -> None:
    expected, engine_ops = _engine(wf, inp, mode, pf)
    service = SqliteService(tmp_path / "store.db", "arn:sqlite", json.dumps(inp))
    try:
        out = trio.run(_drive, service, wf, mode, pf)
        got = (out.status, out.result, out.error.error_type if out.error else None)
        assert got == expected
        if wf is not w_map:  # which items of a decided Map ended is a race: compared above
            assert _shape(service.load().values()) == _shape(engine_ops)
    finally:
        service.close()


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
@pytest.mark.parametrize(
    ("wf", "inp"), [SPREAD[6], SPREAD[8], SPREAD[2]], ids=["mixed", "map_of_workflows", "child"]
)
def test_state_served_shuffled_in_pages_of_two(
    tmp_path: Path, wf: Callable[..., Any], inp: Any, backend: str
) -> None:
    expected, engine_ops = _engine(wf, inp, "step", "json")
    service = ShuffledService(tmp_path / "store.db", "arn:shuffled", json.dumps(inp))
    try:
        if backend == "trio":
            out = trio.run(_drive, service, wf, "step", "json")
        else:
            out = asyncio.run(_drive(service, wf, "step", "json"))
        assert (out.status, out.result, None) == expected
        assert _shape(service.load().values()) == _shape(engine_ops)
    finally:
        service.close()


# --- runtime B: threads, a JSON file, crashes ------------------------------------------------


class Crash(BaseException):
    """The host process dies (nothing after it runs)."""


class FileStore:
    def __init__(self, path: Path, input_json: str) -> None:
        self.path = path
        if not path.exists():
            execution = rt.Operation(
                id="exec",
                type="EXECUTION",
                status="STARTED",
                start_timestamp=0,
                execution_details=rt.ExecutionDetails(input_payload=input_json),
            )
            self.write({"exec": execution}, {}, 0, 0)

    def read(self) -> tuple[dict[str, rt.Operation], dict[tuple[str, str], rt.Timer], int, int]:
        raw = msgspec.json.decode(self.path.read_bytes())
        ops = {o.id: o for o in msgspec.convert(raw["ops"], list[rt.Operation])}
        timers = {
            (t.kind, t.operation_id): t for t in msgspec.convert(raw["timers"], list[rt.Timer])
        }
        return ops, timers, raw["now_ms"], raw["next_id"]

    def write(self, ops: Any, timers: Any, now_ms: int, next_id: int) -> None:
        data = {
            "ops": list(ops.values()),
            "timers": list(timers.values()),
            "now_ms": now_ms,
            "next_id": next_id,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(msgspec.json.encode(data))
        os.replace(tmp, self.path)


class ThreadHost:
    def __init__(
        self,
        wf: Callable[..., Any],
        store: FileStore,
        *,
        arn: str,
        mode: str,
        crash_plan: Any = (),
        payload_format: str = "json",
    ) -> None:
        self.wf, self.store, self.arn, self.mode, self.pf = wf, store, arn, mode, payload_format
        self.crash_plan = set(crash_plan)  # (flush number, "before" | "after")
        self.flushes = 0
        self.crashes = 0
        self.pool = cf.ThreadPoolExecutor(4)

    def _crash_point(self, when: str) -> None:
        if (self.flushes, when) in self.crash_plan:
            self.crash_plan.discard((self.flushes, when))
            self.crashes += 1
            raise Crash(when)

    def invocation(self) -> rt.Outcome:
        ops, _, now_ms, _ = self.store.read()
        interp = rt.Interpreter(
            self.wf,
            list(ops.values()),
            execution_arn=self.arn,
            checkpointing=self.mode,  # type: ignore[arg-type]
            clock=lambda: now_ms / 1000,
            payload_format=self.pf,  # type: ignore[arg-type]
        )
        running: dict[cf.Future[Any], rt.StepTask] = {}
        try:
            while True:
                action = interp.next_action()
                if isinstance(action, rt.Flush):
                    self.flushes += 1
                    self._crash_point("before")
                    ops, timers, now_ms, next_id = self.store.read()
                    ids = itertools.count(next_id)
                    applied = rt.apply_updates(
                        ops,
                        action.updates,
                        now_ms=now_ms,
                        new_callback_id=lambda ids=ids: f"{self.arn}/cb-{next(ids)}",
                    )
                    for t in applied.timers:
                        timers[t.kind, t.operation_id] = t
                    for req in applied.invokes:  # a function that answers at once
                        result = json.dumps(_tax(json.loads(req.payload or "null")))
                        rt.complete_invoke(ops, req.operation_id, now_ms=now_ms, result=result)
                    self.store.write(ops, timers, now_ms, next(ids))
                    self._crash_point("after")
                    interp.observe(applied.operations)
                elif isinstance(action, rt.RunTasks):
                    for task in action.tasks:
                        if task.is_async:
                            future = self.pool.submit(
                                asyncio.run, task.fn(*task.args, **task.kwargs)
                            )
                        else:
                            future = self.pool.submit(task.fn, *task.args, **task.kwargs)
                        running[future] = task
                elif isinstance(action, rt.WaitForTasks):
                    done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                    for future in done:
                        task = running.pop(future)
                        error = future.exception()
                        if error is None:
                            interp.task_succeeded(task, future.result())
                        elif isinstance(error, Exception):
                            interp.task_failed(task, error)
                        else:
                            raise error
                else:
                    outcome = action.outcome
                    if not isinstance(outcome, rt.Suspended):
                        ops, timers, now_ms, next_id = self.store.read()
                        status = "SUCCEEDED" if isinstance(outcome, rt.Succeeded) else "FAILED"
                        ops["exec"] = msgspec.structs.replace(
                            ops["exec"], status=status, end_timestamp=now_ms
                        )
                        self.store.write(ops, timers, now_ms, next_id)
                    return outcome
        finally:
            cf.wait(list(running))
            interp.close()

    def between(self) -> bool:
        ops, timers, now_ms, next_id = self.store.read()
        for op in list(ops.values()):
            if op.type == "CALLBACK" and op.status == "STARTED":
                assert op.callback_details is not None and op.callback_details.callback_id
                rt.complete_callback(
                    ops, op.callback_details.callback_id, now_ms=now_ms, result='"yes"'
                )
                self.store.write(ops, timers, now_ms, next_id)
                return True
        if not timers:
            return False
        key = min(timers, key=lambda k: timers[k].due_ms)
        timer = timers.pop(key)
        now_ms = max(now_ms, timer.due_ms)
        rt.fire_timer(ops, timer, now_ms=now_ms)
        self.store.write(ops, timers, now_ms, next_id)
        return True

    def run(self) -> rt.Outcome:
        idle = False
        try:
            for _ in range(100):
                try:
                    outcome = self.invocation()
                except Crash:
                    continue
                if not isinstance(outcome, rt.Suspended):
                    return outcome
                if self.between():
                    idle = False
                elif idle:
                    raise AssertionError(f"waits on nothing: {outcome}")
                else:
                    idle = True  # an invoke ended in the checkpoint that started it
            raise AssertionError("too many invocations")
        finally:
            self.pool.shutdown()


def _outcome(o: rt.Outcome) -> tuple[str, Any, Any]:
    if isinstance(o, rt.Succeeded):
        return ("SUCCEEDED", o.result, None)
    if isinstance(o, rt.Failed):
        return ("FAILED", None, o.error.error_type)
    raise AssertionError(o)


@pytest.mark.parametrize("pf", ["json", "aws"])
@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize(("wf", "inp"), SPREAD, ids=IDS)
def test_thread_host_ends_as_the_engine(
    tmp_path: Path, wf: Callable[..., Any], inp: Any, mode: str, pf: str
) -> None:
    expected, engine_ops = _engine(wf, inp, mode, pf)
    host = ThreadHost(
        wf,
        FileStore(tmp_path / "s.json", json.dumps(inp)),
        arn="arn:t",
        mode=mode,
        payload_format=pf,
    )
    assert _outcome(host.run()) == expected
    if wf is not w_map:
        assert _shape(host.store.read()[0].values()) == _shape(engine_ops)


# A workflow that counts its side effects, for the crash trials.
EFFECTS: collections.Counter[str] = collections.Counter()
_LOCK = threading.Lock()


@dg.step
def effect(tag: str) -> str:
    with _LOCK:
        EFFECTS[tag] += 1
    return tag.upper()


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry(max_attempts=1))
def once(tag: str) -> str:
    with _LOCK:
        EFFECTS["once"] += 1
    return "once-" + tag


@dg.workflow
def _sub(t: str):  # type: ignore[no-untyped-def]
    a = yield effect(t + "-sub")
    yield dg.Wait(seconds=2, name="sw")
    return a


def _item(x: str, i: int):  # type: ignore[no-untyped-def]
    a = yield effect(f"item{i}")
    if i % 2:
        yield dg.Wait(seconds=1, name="iw")
    return a


def crash_trial(inp):  # type: ignore[no-untyped-def]
    a = yield effect("a")
    o = yield once("o")
    m = yield dg.Map(_item, ["p", "q", "r", "s"], name="m", max_concurrency=2)
    p = yield dg.Parallel(
        [
            dg.Branch(functools.partial(effect, "b1"), name="b1"),
            dg.Branch(functools.partial(effect, "b2"), name="b2"),
        ],
        name="par",
    )
    c = yield dg.Child(_sub, ("c",), name="child")
    inv = yield dg.Invoke("tax", {"amount": 3}, name="tax")
    h = yield dg.CreateCallback(name="cb")
    cbv = yield h
    z = yield effect("z")
    return {
        "a": a,
        "o": o,
        "m": m.results(),
        "p": p.results(),
        "c": c,
        "inv": inv,
        "cb": cbv,
        "z": z,
    }


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_crashes_before_and_after_checkpoints_lose_nothing(tmp_path: Path, mode: str) -> None:
    """Up to four crashes per run, at random checkpoints, before or after the store wrote it.

    The execution ends as the engine's, with the same operations; the at-most-once step runs
    at most once, and when a crash caught it between its START and its outcome the execution
    fails with ``StepInterruptedError`` (docs: not run again); an effect whose outcome was
    written runs no more.
    """
    EFFECTS.clear()
    expected, engine_ops = _engine(crash_trial, None, mode, "json")
    interrupted = 0
    for seed in range(20):
        rnd = random.Random(seed)
        plan = {
            (rnd.randint(1, 14), rnd.choice(["before", "after"])) for _ in range(rnd.randint(1, 4))
        }
        EFFECTS.clear()
        path = tmp_path / f"s{seed}.json"
        host = ThreadHost(
            crash_trial, FileStore(path, "null"), arn=f"arn:{seed}", mode=mode, crash_plan=plan
        )
        got = _outcome(host.run())
        assert EFFECTS["once"] <= 1, (seed, plan)
        if got == ("FAILED", None, "StepInterruptedError"):
            interrupted += 1
            continue
        assert got == expected, (seed, plan)
        assert _shape(host.store.read()[0].values()) == _shape(engine_ops), (seed, plan)
        assert EFFECTS["once"] == 1
        # "before": that checkpoint is lost and its steps run again; nothing else runs twice
        assert max(EFFECTS.values()) <= 1 + host.crashes, (seed, plan, dict(EFFECTS))
    assert interrupted < 20


# --- a live interpreter across suspensions ---------------------------------------------------


def _live(
    wf: Callable[..., Any], inp: Any, mode: str, pf: str
) -> tuple[rt.Outcome, dict[str, rt.Operation], int]:
    store = {
        "exec": rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            start_timestamp=0,
            execution_details=rt.ExecutionDetails(input_payload=json.dumps(inp)),
        )
    }
    now = [0]
    timers: dict[tuple[str, str], rt.Timer] = {}
    invokes: list[rt.InvokeRequest] = []
    interp = rt.Interpreter(
        wf,
        list(store.values()),
        execution_arn="arn:live",
        checkpointing=mode,  # type: ignore[arg-type]
        clock=lambda: now[0] / 1000,
        payload_format=pf,  # type: ignore[arg-type]
    )
    suspensions = 0
    for _ in range(300):
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            applied = rt.apply_updates(store, action.updates, now_ms=now[0])
            timers.update({(t.kind, t.operation_id): t for t in applied.timers})
            invokes += applied.invokes
            interp.observe(applied.operations)
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
            raise AssertionError("tasks run inline")
        else:
            if not isinstance(action.outcome, rt.Suspended):
                interp.close()
                return action.outcome, store, suspensions
            suspensions += 1
            news: list[rt.Operation] = []
            for req in invokes:
                result = json.dumps(_tax(json.loads(req.payload or "null")))
                news.append(
                    rt.complete_invoke(store, req.operation_id, now_ms=now[0], result=result)
                )
            invokes.clear()
            for op in list(store.values()):
                if not news and op.type == "CALLBACK" and op.status == "STARTED":
                    assert op.callback_details is not None and op.callback_details.callback_id
                    cb = op.callback_details.callback_id
                    news.append(rt.complete_callback(store, cb, now_ms=now[0], result='"yes"'))
            if not news and timers:
                key = min(timers, key=lambda k: timers[k].due_ms)
                timer = timers.pop(key)
                now[0] = max(now[0], timer.due_ms)
                changed = rt.fire_timer(store, timer, now_ms=now[0])
                if changed is not None:
                    news.append(changed)
            assert news, action.outcome
            interp.observe(news)
    raise AssertionError("too many actions")


@pytest.mark.parametrize("pf", ["json", "aws"])
@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize(("wf", "inp"), SPREAD, ids=IDS)
def test_one_live_interpreter_ends_as_the_engine(
    wf: Callable[..., Any], inp: Any, mode: str, pf: str
) -> None:
    expected, engine_ops = _engine(wf, inp, mode, pf)
    outcome, store, suspensions = _live(wf, inp, mode, pf)
    assert _outcome(outcome) == expected
    if wf is not w_map:
        assert _shape(store.values()) == _shape(engine_ops)
    if wf in (w_child, w_mixed, w_callback, w_condition):
        assert suspensions > 0


# --- where invoke_async runs async steps and calls the service (docs/embedding.md) ----------


@dg.step(retry=dg.Retry(max_attempts=1))
async def asyncio_only() -> str:
    await asyncio.sleep(0.001)
    return "asyncio"


@dg.step(retry=dg.Retry(max_attempts=1))
async def trio_only() -> str:
    await trio.sleep(0)
    return "trio"


def w_asyncio_step(inp):  # type: ignore[no-untyped-def]
    return (yield asyncio_only())


def w_trio_step(inp):  # type: ignore[no-untyped-def]
    return (yield trio_only())


class _ThreadRecordingService(SqliteService):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.db.close()
        self.db = sqlite3.connect(args[0], check_same_thread=False)
        self.threads: set[str] = set()

    def checkpoint(self, *args: Any) -> rt.CheckpointResponse:
        self.threads.add(threading.current_thread().name)
        return super().checkpoint(*args)


def test_invoke_async_runs_async_steps_on_the_callers_loop(tmp_path: Path) -> None:
    service = _ThreadRecordingService(tmp_path / "t.db", "arn:trio", "null")
    try:
        out = trio.run(rt.invoke_async, w_trio_step, service.event(), service)
        assert (out.status, out.result) == ("SUCCEEDED", '"trio"')
        assert service.threads == {threading.current_thread().name}  # on the loop's thread
    finally:
        service.close()
    service = SqliteService(tmp_path / "a.db", "arn:asyncio-under-trio", "null")
    try:
        out = trio.run(rt.invoke_async, w_asyncio_step, service.event(), service)
        assert out.status == "FAILED" and out.error is not None
        assert (out.error.error_type, out.error.error_message) == (
            "RuntimeError",
            "no running event loop",
        )
    finally:
        service.close()
    service = SqliteService(tmp_path / "b.db", "arn:invoke", "null")
    try:  # invoke runs them on an asyncio loop of its own
        out = rt.invoke(w_asyncio_step, service.event(), service)
        assert (out.status, out.result) == ("SUCCEEDED", '"asyncio"')
    finally:
        service.close()


@pytest.mark.parametrize("pf", ["json", "aws"])
@pytest.mark.parametrize(("wf", "inp"), SPREAD, ids=IDS)
def test_what_the_thread_host_stored_replays(
    tmp_path: Path, wf: Callable[..., Any], inp: Any, pf: str
) -> None:
    """`durable_gen.testing.replay` reads a host's operations as they are (a list of
    `Operation`), and finds the code matches them."""
    from durable_gen.testing import replay

    host = ThreadHost(
        wf,
        FileStore(tmp_path / "s.json", json.dumps(inp)),
        arn="arn:r",
        mode="step",
        payload_format=pf,
    )
    outcome = host.run()
    report = replay(wf, list(host.store.read()[0].values()), execution_arn="arn:r")
    assert report.status == "ok", report.message
    if isinstance(outcome, rt.Succeeded) and pf == "json":  # "aws": the result is enveloped
        assert report.result == json.loads(outcome.result or "null")
