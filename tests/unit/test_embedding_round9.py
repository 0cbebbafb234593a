"""Round 9: two more host runtimes written from docs/embedding.md alone, each running a spread
of workflows that is compared with the embedded engine (`dg.run`).

* `JournalHost` keeps nothing but an append-only journal (JSON lines on disk) of what happened
  to an execution: each checkpoint (its updates, the time, the callback ids it issued), each
  timer fired, each answer and invoke result. Every invocation rebuilds the store by folding
  the journal with `apply_updates` / `fire_timer` / `complete_*` (an event-sourced store, as
  after a restart), drives `Interpreter` itself with steps in a thread pool, and checks that
  the fold gives the store it kept live.
* `SqlService` is a `DurableService` over an sqlite3 table, serving state in pages of two
  operations with markers and refusing stale tokens, run with `rt.make_handler(...,
  portal=, pool=)`: the host owns the event loop of async steps and the thread pool.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import itertools
import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.from_thread
import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt

START_MS = 1_700_000_000_000


def _answer(name: str | None) -> str:
    """What the outside world answers a callback named ``name``."""
    return json.dumps({"approved": name, "by": "host"})


def _invoked(function_name: str, payload: str | None) -> str:
    """The plain functions an `Invoke` may name."""
    value = json.loads(payload) if payload else None
    if function_name == "square":
        return json.dumps(value * value)
    raise AssertionError(function_name)


def _square(value: int) -> int:
    return value * value


# -- workflows -----------------------------------------------------------------------------

_calls: dict[str, int] = {}
_lock = threading.Lock()


def _count(key: str) -> int:
    with _lock:
        _calls[key] = _calls.get(key, 0) + 1
        return _calls[key]


@dg.step(retry=dg.Retry(max_attempts=4, initial_delay=2, backoff=2, jitter="none"))
def flaky(key: str) -> str:
    if _count(key) < 3:
        raise ConnectionError(f"{key} not yet")
    return f"{key}:ok"


@dg.step
async def async_double(value: int) -> int:
    return value * 2


def price(item: str, index: int) -> dict[str, Any]:
    if item == "bad":
        raise ValueError(f"no price for {item}")
    return {"item": item, "index": index, "cents": len(item) * 100}


def retries_and_waits(event: dict[str, Any]):
    first = yield flaky("a")
    yield dg.Wait(seconds=30, name="cool")
    doubled = yield async_double(event["n"])
    return {"first": first, "doubled": doubled}


def map_with_rules(items: list[str]):
    priced = yield dg.Map(
        price,
        items,
        max_concurrency=2,
        completion=dg.Completion(tolerated_failure_count=1),
        name="prices",
    )
    return {
        "results": priced.results(),
        "errors": [e.error_type for e in priced.errors()],
        "reason": str(priced.completion_reason),
    }


def _branch_wait():
    yield dg.Wait(seconds=5, name="branch-wait")
    return "waited"


def _branch_child(x: int):
    inner = yield dg.Step(_square, (x,), name="inner-square")
    return inner + 1


def parallel_children(x: int):
    results = yield dg.Parallel(
        [
            _branch_wait,
            functools.partial(_branch_child, x),
            dg.Branch(lambda: "plain", name="plain"),
        ],
        name="fan",
    )
    child = yield dg.Child(_branch_child, (x + 1,), name="direct-child")
    return {"branches": results.results(), "child": child}


@dg.step
def check(state: dict[str, int]) -> dict[str, int]:
    return {"checks": state["checks"] + 1}


def condition_and_invoke(x: int):
    state = yield dg.WaitForCondition(
        check,
        initial_state={"checks": 0},
        wait_strategy=dg.WaitStrategy(until=lambda s: s["checks"] >= 3, delay=4, backoff=1),
        name="poll",
    )
    squared = yield dg.Invoke("square", x, name="sq")
    return {"state": state, "squared": squared}


def _submit(callback_id: str) -> None:
    assert callback_id


def callbacks(order: str):
    approval = yield dg.WaitForCallback(_submit, name="approve", timeout=600)
    handle = yield dg.CreateCallback(name="ship", timeout=600)
    shipped = yield handle
    return {"order": order, "approval": approval, "shipped": shipped}


def failing(x: int):
    yield dg.Step(lambda: x, name="before")
    raise KeyError(f"missing {x}")


CASES: dict[str, tuple[Callable[..., Any], Any]] = {
    "retries-and-waits": (retries_and_waits, {"n": 21}),
    "map-with-rules": (map_with_rules, ["book", "bad", "pen", "desk", "lamp"]),
    "parallel-children": (parallel_children, 3),
    "condition-and-invoke": (condition_and_invoke, 7),
    "failing": (failing, 5),
}


def engine_outcome(
    workflow: Callable[..., Any], value: Any, payload_format: str = "json"
) -> tuple[str, Any]:
    """What the embedded engine gives: ("SUCCEEDED", result) or ("FAILED", error type)."""
    _calls.clear()
    try:
        return "SUCCEEDED", dg.run(
            workflow, value, skip_time=True, functions={"square": _square},
            payload_format=payload_format,
        )  # fmt: skip
    except dg.ExecutionFailedError as exc:
        return "FAILED", exc.error_type


def host_outcome(outcome: rt.Outcome) -> tuple[str, Any]:
    if isinstance(outcome, rt.Succeeded):
        return "SUCCEEDED", json.loads(outcome.result) if outcome.result else None
    assert isinstance(outcome, rt.Failed), outcome
    return "FAILED", outcome.error.error_type


# -- host A: an append-only journal ------------------------------------------------------


_ops_codec = msgspec.json.Encoder()


def _issue(issued: list[str]) -> str:
    issued.append(uuid.uuid4().hex)
    return issued[-1]


class JournalHost:
    def __init__(self, path: Path, workflow: Callable[..., Any], input_json: str, mode: str):
        self.path = path
        self.workflow = workflow
        self.mode = mode
        self.arn = f"journal-{uuid.uuid4().hex}"
        self.now_ms = START_MS
        self.invocations = 0
        self._append({"k": "start", "now": self.now_ms, "input": input_json})

    def _append(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def fold(
        self,
    ) -> tuple[dict[str, rt.Operation], dict[tuple[str, str], rt.Timer], list[rt.InvokeRequest]]:
        """The store, armed timers and pending invokes, from the journal alone."""
        store: dict[str, rt.Operation] = {}
        timers: dict[tuple[str, str], rt.Timer] = {}
        invokes: dict[str, rt.InvokeRequest] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            kind, now = entry["k"], entry["now"]
            if kind == "start":
                store["exec"] = rt.Operation(
                    id="exec",
                    type="EXECUTION",
                    status="STARTED",
                    start_timestamp=now,
                    execution_details=rt.ExecutionDetails(input_payload=entry["input"]),
                )
            elif kind == "cp":
                ids = iter(entry["ids"])
                updates = msgspec.convert(entry["updates"], list[rt.OperationUpdate])
                applied = rt.apply_updates(
                    store, updates, now_ms=now, new_callback_id=functools.partial(next, ids)
                )
                for timer in applied.timers:
                    timers[timer.kind, timer.operation_id] = timer
                for request in applied.invokes:
                    invokes[request.operation_id] = request
            elif kind == "fire":
                timer = msgspec.convert(entry["timer"], rt.Timer)
                rt.fire_timer(store, timer, now_ms=now)
                timers.pop((timer.kind, timer.operation_id), None)
            elif kind == "answer":
                rt.complete_callback(store, entry["id"], now_ms=now, result=entry["result"])
            elif kind == "invoked":
                rt.complete_invoke(store, entry["op"], now_ms=now, result=entry["result"])
                invokes.pop(entry["op"])
            elif kind == "end":
                store["exec"] = msgspec.structs.replace(
                    store["exec"], status=entry["status"], end_timestamp=now
                )
        return store, timers, list(invokes.values())

    def invoke(self) -> tuple[rt.Outcome, dict[str, rt.Operation]]:
        self.invocations += 1
        store, _, _ = self.fold()
        now_ms = self.now_ms
        interp = rt.Interpreter(
            self.workflow,
            list(store.values()),
            execution_arn=self.arn,
            checkpointing=self.mode,
            clock=lambda: now_ms / 1000,
        )
        running: dict[cf.Future[Any], rt.StepTask] = {}
        with cf.ThreadPoolExecutor(max_workers=3) as pool:
            while True:
                action = interp.next_action()
                if isinstance(action, rt.Flush):
                    issued: list[str] = []

                    applied = rt.apply_updates(
                        store,
                        action.updates,
                        now_ms=now_ms,
                        new_callback_id=functools.partial(_issue, issued),
                    )
                    self._append(
                        {
                            "k": "cp",
                            "now": now_ms,
                            "ids": issued,
                            "updates": json.loads(_ops_codec.encode(list(action.updates))),
                        }
                    )
                    interp.observe(applied.operations)
                elif isinstance(action, rt.RunTasks):
                    for task in action.tasks:
                        if task.is_async:
                            fn: Callable[..., Any] = functools.partial(
                                anyio.run, functools.partial(task.fn, *task.args, **task.kwargs)
                            )
                            running[pool.submit(fn)] = task
                        else:
                            running[pool.submit(task.fn, *task.args, **task.kwargs)] = task
                elif isinstance(action, rt.WaitForTasks):
                    done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                    for future in done:
                        task = running.pop(future)
                        error = future.exception()
                        if error is None:
                            interp.task_succeeded(task, future.result())
                        else:
                            assert isinstance(error, Exception)
                            interp.task_failed(task, error)
                else:
                    interp.close()
                    outcome = action.outcome
                    break
        if not isinstance(outcome, rt.Suspended):
            status = "SUCCEEDED" if isinstance(outcome, rt.Succeeded) else "FAILED"
            self._append({"k": "end", "now": now_ms, "status": status})
            store["exec"] = msgspec.structs.replace(
                store["exec"], status=status, end_timestamp=now_ms
            )
        return outcome, store

    def run(self) -> rt.Outcome:
        while True:
            outcome, live = self.invoke()
            store, timers, invokes = self.fold()
            assert store == live, "folding the journal must give the store kept live"
            if not isinstance(outcome, rt.Suspended):
                return outcome
            assert self.invocations < 40, "the execution does not end"
            for request in invokes:
                result = _invoked(request.function_name, request.payload)
                self._append(
                    {
                        "k": "invoked",
                        "now": self.now_ms,
                        "op": request.operation_id,
                        "result": result,
                    }
                )
            answered = False
            for op in store.values():
                if op.type == "CALLBACK" and op.status == "STARTED" and op.callback_details:
                    name = op.name.removesuffix(" create callback id") if op.name else None
                    self._append(
                        {
                            "k": "answer",
                            "now": self.now_ms,
                            "id": op.callback_details.callback_id,
                            "result": _answer(name),
                        }
                    )
                    answered = True
            if invokes or answered:
                continue
            due = [t for t in timers.values() if t.kind in ("wait", "retry")]
            assert due, f"suspended with nothing to wake it: {outcome}"
            first = min(due, key=lambda t: t.due_ms)
            self.now_ms = max(self.now_ms, first.due_ms)
            self._append({"k": "fire", "now": self.now_ms, "timer": msgspec.to_builtins(first)})


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_journal_host_ends_as_the_engine(tmp_path: Path, case: str, mode: str) -> None:
    workflow, value = CASES[case]
    expected = engine_outcome(workflow, value)
    _calls.clear()
    host = JournalHost(tmp_path / "journal.jsonl", workflow, json.dumps(value), mode)
    assert host_outcome(host.run()) == expected


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_journal_host_answers_callbacks_by_the_ids_it_journaled(tmp_path: Path, mode: str) -> None:
    host = JournalHost(tmp_path / "journal.jsonl", callbacks, '"o-1"', mode)
    assert host_outcome(host.run()) == (
        "SUCCEEDED",
        {
            "order": "o-1",
            "approval": {"approved": "approve", "by": "host"},
            "shipped": {"approved": "ship", "by": "host"},
        },
    )


# -- host B: a DurableService over sqlite3, pages of two, make_handler(portal=, pool=) ---


class SqlService:
    """The service side of a host: state in an sqlite3 table, served two operations a page."""

    PAGE = 2

    def __init__(self, path: Path, input_json: str) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("CREATE TABLE ops (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, body BLOB)")
        self.db.execute(
            "CREATE TABLE timers (kind TEXT, op TEXT, body BLOB, PRIMARY KEY (kind, op))"
        )
        self.db.execute("CREATE TABLE invokes (op TEXT PRIMARY KEY, body BLOB)")
        self.now_ms = START_MS
        self.tokens = (f"tok-{n}" for n in itertools.count())
        self.token = ""
        self.lock = threading.Lock()
        self.pages_served = 0
        self._save(
            {
                "exec": rt.Operation(
                    id="exec",
                    type="EXECUTION",
                    status="STARTED",
                    start_timestamp=self.now_ms,
                    execution_details=rt.ExecutionDetails(input_payload=input_json),
                )
            }
        )

    @property
    def clock(self) -> SqlService:  # what the drivers read: clock.now(), in epoch seconds
        return self

    def now(self) -> float:
        return self.now_ms / 1000

    def _load(self) -> dict[str, rt.Operation]:
        rows = self.db.execute("SELECT body FROM ops ORDER BY seq").fetchall()
        ops = [msgspec.json.decode(body, type=rt.Operation) for (body,) in rows]
        return {op.id: op for op in ops}

    def _save(self, changed: dict[str, rt.Operation]) -> None:
        with self.db:
            for op in changed.values():
                self.db.execute(
                    "INSERT INTO ops (id, body) VALUES (?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                    (op.id, msgspec.json.encode(op)),
                )

    def _arm(self, applied: rt.Applied) -> None:
        with self.db:
            for timer in applied.timers:
                self.db.execute(
                    "INSERT OR REPLACE INTO timers VALUES (?, ?, ?)",
                    (timer.kind, timer.operation_id, msgspec.json.encode(timer)),
                )
            for request in applied.invokes:
                self.db.execute(
                    "INSERT INTO invokes VALUES (?, ?)",
                    (request.operation_id, msgspec.json.encode(request)),
                )

    def _page(self, start: int) -> rt.ExecutionState:
        ops = list(self._load().values())
        end = start + self.PAGE
        self.pages_served += 1
        return rt.ExecutionState(
            operations=ops[start:end], next_marker=f"m{end}" if end < len(ops) else None
        )

    # the DurableService protocol
    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Any
    ) -> rt.CheckpointResponse:
        with self.lock:
            if checkpoint_token != self.token:
                raise dg.InvalidCheckpointTokenError("use the token of the last CheckpointResponse")
            store = self._load()
            applied = rt.apply_updates(store, updates, now_ms=self.now_ms)
            self._save({op.id: op for op in applied.operations})
            self._arm(applied)
            self.token = next(self.tokens)
            return rt.CheckpointResponse(
                checkpoint_token=self.token,
                new_execution_state=rt.ExecutionState(operations=applied.operations),
            )

    def get_state(
        self, execution_arn: str, checkpoint_token: str, marker: str
    ) -> rt.ExecutionState:
        with self.lock:
            assert checkpoint_token == self.token
            return self._page(int(marker.removeprefix("m")))

    # the host side
    def event(self, updated: list[str]) -> rt.InvocationInput:
        with self.lock:
            self.token = next(self.tokens)
            return rt.InvocationInput(
                durable_execution_arn="sql-execution-1",
                checkpoint_token=self.token,
                initial_execution_state=self._page(0),
                updated_operation_ids=updated,
            )

    def wake(self) -> list[str]:
        """Complete what is due: invokes, callbacks, then the earliest timer."""
        with self.lock:
            store = self._load()
            changed: dict[str, rt.Operation] = {}
            for op_id, body in self.db.execute("SELECT op, body FROM invokes").fetchall():
                request = msgspec.json.decode(body, type=rt.InvokeRequest)
                result = _invoked(request.function_name, request.payload)
                op = rt.complete_invoke(store, op_id, now_ms=self.now_ms, result=result)
                changed[op_id] = store[op_id]
            with self.db:
                self.db.execute("DELETE FROM invokes")
            for op in list(store.values()):
                if op.type == "CALLBACK" and op.status == "STARTED" and op.callback_details:
                    name = op.name.removesuffix(" create callback id") if op.name else None
                    rt.complete_callback(
                        store,
                        op.callback_details.callback_id,
                        now_ms=self.now_ms,
                        result=_answer(name),
                    )
                    changed[op.id] = store[op.id]
            if not changed:
                timers = [
                    msgspec.json.decode(body, type=rt.Timer)
                    for (body,) in self.db.execute("SELECT body FROM timers").fetchall()
                ]
                due = [t for t in timers if t.kind in ("wait", "retry")]
                assert due, "suspended with nothing to wake it"
                first = min(due, key=lambda t: t.due_ms)
                self.now_ms = max(self.now_ms, first.due_ms)
                op = rt.fire_timer(store, first, now_ms=self.now_ms)
                with self.db:
                    self.db.execute(
                        "DELETE FROM timers WHERE kind = ? AND op = ?",
                        (first.kind, first.operation_id),
                    )
                if op is not None:
                    changed[op.id] = op
            self._save(changed)
            return list(changed)


@pytest.fixture
def host_loop() -> Iterator[tuple[Callable[[], Any], Callable[[], cf.Executor], list[str]]]:
    """The host's own event loop (a blocking portal) and thread pool, made on first use."""
    made: list[str] = []
    with anyio.from_thread.start_blocking_portal() as portal, cf.ThreadPoolExecutor(4) as pool:

        def get_portal() -> Any:
            made.append("portal")
            return portal

        def get_pool() -> cf.Executor:
            made.append("pool")
            return pool

        yield get_portal, get_pool, made


def _run_sql(service: SqlService, handler: rt.InvocationHandler) -> tuple[str, Any, int]:
    updated: list[str] = []
    for invocations in range(1, 40):
        output = handler(service.event(updated))
        if output.status == "SUCCEEDED":
            return "SUCCEEDED", json.loads(output.result) if output.result else None, invocations
        if output.status == "FAILED":
            assert output.error is not None
            return "FAILED", output.error.error_type, invocations
        updated = service.wake()
    raise AssertionError("the execution does not end")


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_sql_service_host_ends_as_the_engine(
    tmp_path: Path, host_loop: Any, case: str, mode: str
) -> None:
    workflow, value = CASES[case]
    expected = engine_outcome(workflow, value)
    _calls.clear()
    get_portal, get_pool, _ = host_loop
    service = SqlService(tmp_path / "ops.sqlite", json.dumps(value))
    handler = rt.make_handler(
        workflow, service, checkpointing=mode, portal=get_portal, pool=get_pool
    )
    status, result, invocations = _run_sql(service, handler)
    assert (status, result) == expected
    if case != "failing":  # later pages were read through markers
        assert invocations > 1
        assert service.pages_served > invocations


def test_sql_service_host_runs_async_steps_on_its_own_loop(tmp_path: Path, host_loop: Any) -> None:
    get_portal, get_pool, made = host_loop
    service = SqlService(tmp_path / "ops.sqlite", '{"n": 4}')
    _calls.clear()
    handler = rt.make_handler(retries_and_waits, service, portal=get_portal, pool=get_pool)
    assert _run_sql(service, handler)[:2] == ("SUCCEEDED", {"first": "a:ok", "doubled": 8})
    assert "portal" in made


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_sql_service_host_answers_callbacks(tmp_path: Path, host_loop: Any, mode: str) -> None:
    get_portal, get_pool, _ = host_loop
    service = SqlService(tmp_path / "ops.sqlite", '"o-2"')
    handler = rt.make_handler(
        callbacks, service, checkpointing=mode, portal=get_portal, pool=get_pool
    )
    assert _run_sql(service, handler)[:2] == (
        "SUCCEEDED",
        {
            "order": "o-2",
            "approval": {"approved": "approve", "by": "host"},
            "shipped": {"approved": "ship", "by": "host"},
        },
    )


# -- a DurableService written with async def -----------------------------------------------


class AsyncDefService:
    """The natural slip of an async store: its DurableService methods written ``async def``."""

    def __init__(self) -> None:
        self.store = {
            "exec": rt.Operation(
                id="exec", type="EXECUTION", status="STARTED", start_timestamp=0,
                execution_details=rt.ExecutionDetails(input_payload="1"),
            )
        }  # fmt: skip

    async def checkpoint(self, execution_arn: str, checkpoint_token: str, updates: Any) -> Any:
        raise AssertionError("never awaited")

    async def get_state(self, execution_arn: str, checkpoint_token: str, marker: str) -> Any:
        raise AssertionError("never awaited")

    def event(self) -> rt.InvocationInput:
        return rt.InvocationInput(
            durable_execution_arn="a", checkpoint_token="t",
            initial_execution_state=rt.ExecutionState(operations=list(self.store.values())),
        )  # fmt: skip


def _one_step(_: Any):  # type: ignore[no-untyped-def]
    return (yield dg.Step(lambda: 1, name="one"))


@pytest.mark.parametrize("driver", ["invoke", "invoke_async", "make_handler", "lambda_handler"])
def test_an_async_def_service_is_refused_saying_to_make_its_methods_plain(driver: str) -> None:
    from durable_gen.aws import lambda_handler

    service = AsyncDefService()
    calls: dict[str, Callable[[], Any]] = {
        "invoke": lambda: rt.invoke(_one_step, service.event(), service),
        "invoke_async": lambda: anyio.run(
            functools.partial(rt.invoke_async, _one_step, service.event(), service)
        ),
        "make_handler": lambda: rt.make_handler(_one_step, service),
        "lambda_handler": lambda: lambda_handler(_one_step, service=service),
    }
    with pytest.raises(dg.ValidationError, match=r"checkpoint\(\) is an async def.*Make them def"):
        calls[driver]()
    assert service.store["exec"].status == "STARTED"


class _CoroutineReturningService(AsyncDefService):
    """Plain methods that hand back a coroutine all the same (a lambda over an async call)."""

    def __init__(self) -> None:
        super().__init__()
        self.checkpoint = lambda *args: self._reply(*args)  # type: ignore[method-assign]
        self.get_state = lambda *args: self._reply(*args)  # type: ignore[method-assign]

    async def _reply(self, *args: Any) -> Any:
        raise AssertionError("never awaited")


def test_a_coroutine_returned_by_a_service_is_closed_and_named() -> None:
    # Warnings are errors here: a coroutine left unclosed would warn "never awaited".
    service = _CoroutineReturningService()
    with pytest.raises(dg.InvalidInputError, match="coroutine"):
        rt.invoke(_one_step, service.event(), service)
    paged = service.event()
    paged = msgspec.structs.replace(
        paged,
        initial_execution_state=msgspec.structs.replace(
            paged.initial_execution_state, next_marker="m1"
        ),
    )
    with pytest.raises(dg.InvalidInputError, match="coroutine"):
        rt.invoke(_one_step, paged, service)


def test_a_store_dict_given_as_the_operations_is_refused_saying_to_pass_its_values() -> None:
    store = AsyncDefService().store  # the docs' store: a dict of operations by id
    with pytest.raises(dg.ValidationError, match=r"list\(store\.values\(\)\)"):
        rt.Interpreter(_one_step, store, execution_arn="x")  # type: ignore[arg-type]
    interp = rt.Interpreter(_one_step, list(store.values()), execution_arn="x")
    assert isinstance(interp.next_action(), rt.RunTasks)
    interp.close()


# -- what a host hands the interpreter by mistake, and what it is told -----------------------


def _first_flush() -> tuple[rt.Interpreter, rt.Flush, dict[str, rt.Operation]]:
    store = AsyncDefService().store
    interp = rt.Interpreter(_one_step, list(store.values()), execution_arn="x")
    action = interp.next_action()
    assert isinstance(action, rt.RunTasks)
    task = action.tasks[0]
    interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
    flush = interp.next_action()
    assert isinstance(flush, rt.Flush)
    return interp, flush, store


def test_observe_given_the_applied_value_or_a_dict_says_what_to_pass_and_can_be_retried() -> None:
    interp, flush, store = _first_flush()
    applied = rt.apply_updates(store, flush.updates, now_ms=0)
    with pytest.raises(dg.ValidationError, match=r"got Applied: pass its operations"):
        interp.observe(applied)  # type: ignore[arg-type]
    changed = {op.id: op for op in applied.operations}
    with pytest.raises(dg.ValidationError, match=r"got dict: .*list\(changed\.values\(\)\)"):
        interp.observe(changed)  # type: ignore[arg-type]
    interp.observe(applied.operations)  # the interpreter still waits for this reply
    done = interp.next_action()
    assert isinstance(done, rt.Done) and done.outcome == rt.Succeeded(result="1")
    interp.close()


def test_task_failed_given_an_exception_class_says_to_pass_the_exception() -> None:
    store = AsyncDefService().store
    interp = rt.Interpreter(_one_step, list(store.values()), execution_arn="x")
    action = interp.next_action()
    assert isinstance(action, rt.RunTasks)
    task = action.tasks[0]
    with pytest.raises(dg.ValidationError, match="got the class ValueError: pass the exception"):
        interp.task_failed(task, ValueError)  # type: ignore[arg-type]
    assert interp.running == 1  # still running: report it again, rightly
    interp.task_failed(task, ValueError("no"))
    interp.close()


# -- invoke_async raises the service's error itself ------------------------------------------


class _FailingService(AsyncDefService):
    """Plain methods; each checkpoint fails as a service's would."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.calls = 0

    def checkpoint(self, execution_arn: str, checkpoint_token: str, updates: Any) -> Any:  # type: ignore[override]
        self.calls += 1
        raise self.error

    def get_state(self, execution_arn: str, checkpoint_token: str, marker: str) -> Any:  # type: ignore[override]
        return rt.ExecutionState()


async def _async_item(x: int) -> int:
    return x


def _async_batch(_: Any):  # type: ignore[no-untyped-def]
    batch = yield dg.Map(_async_item, [1, 2, 3], name="items")
    return batch.results()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("workflow", [_one_step, _async_batch], ids=["one-step", "async-map"])
@pytest.mark.parametrize(
    "error",
    [dg.InvalidCheckpointTokenError("stale token"), ConnectionError("connection reset")],
    ids=["stale-token", "network"],
)
def test_invoke_async_raises_the_services_error_itself_not_a_group(
    backend: str, workflow: Any, error: Exception
) -> None:
    pytest.importorskip(backend)
    service = _FailingService(error)
    with pytest.raises(type(error)) as raised:
        anyio.run(
            functools.partial(rt.invoke_async, workflow, service.event(), service),
            backend=backend,
        )
    assert raised.value is error
    assert service.calls >= 1
    assert [op.type for op in service.store.values()] == ["EXECUTION"]


# -- a host's portal or pool that was stopped ---------------------------------------------


def _two_sync_steps(_: Any):  # type: ignore[no-untyped-def]
    both = yield dg.Parallel([lambda: 1, lambda: 2], name="both")
    return both.results()


def _one_async_step(_: Any):  # type: ignore[no-untyped-def]
    return (yield dg.Step(_async_item, (1,), name="async-one"))


class _StoreService(AsyncDefService):
    def checkpoint(self, execution_arn: str, checkpoint_token: str, updates: Any) -> Any:  # type: ignore[override]
        applied = rt.apply_updates(self.store, updates, now_ms=0)
        return rt.CheckpointResponse(
            checkpoint_token="next",
            new_execution_state=rt.ExecutionState(operations=applied.operations),
        )

    def get_state(self, execution_arn: str, checkpoint_token: str, marker: str) -> Any:  # type: ignore[override]
        return rt.ExecutionState()


@pytest.mark.parametrize("stopped", ["portal", "pool"])
def test_a_portal_or_pool_the_host_stopped_is_named_and_nothing_is_recorded(stopped: str) -> None:
    with anyio.from_thread.start_blocking_portal() as live_portal:
        live_pool = cf.ThreadPoolExecutor(2)
        if stopped == "portal":
            cm = anyio.from_thread.start_blocking_portal()
            dead = cm.__enter__()
            cm.__exit__(None, None, None)
            options = {"portal": lambda: dead, "pool": lambda: live_pool}
            workflow = _one_async_step
        else:
            dead_pool = cf.ThreadPoolExecutor(2)
            dead_pool.shutdown()
            options = {"portal": lambda: live_portal, "pool": lambda: dead_pool}
            workflow = _two_sync_steps
        service = _StoreService()
        handler = rt.make_handler(workflow, service, **options)
        with pytest.raises(dg.ValidationError, match=rf"the {stopped}= function .* takes no more"):
            handler(service.event())
        live_pool.shutdown()
    assert [op.type for op in service.store.values()] == ["EXECUTION"]
