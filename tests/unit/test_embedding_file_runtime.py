"""A synchronous runtime of one's own, written from docs/embedding.md with public imports only,
ends every execution as the embedded engine does, also when its process dies between flushes.

Unlike the guide's asyncio example and ``tests/hosting.py``: step attempts run in a thread pool
(Map items side by side); the store is a JSON file (operations in AWS's wire shape *and* the
armed timers) written before each ``observe()``; callbacks are answered from the step threads
while the invocation runs, recorded at once and handed to the live interpreter; and a "crash"
after any flush drops every object of the runtime, so the next one starts from the file alone.
The workflow yields every command and meets every error shape of the guide's table.
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures as cf
import functools
import json
import pathlib
import threading
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.local import LocalService, VirtualClock

START_MS = 1_735_689_600_000  # the VirtualClock's default start: Now() reads the same times


class Crash(BaseException):
    """The process dies here (raised after a flush was written)."""


# --- the outside world the workflow talks to --------------------------------------------------

Answer = Callable[[str, tuple[str, Any]], None]
_answer: list[Answer] = []  # set by whichever runtime runs the workflow
_calls: dict[str, int] = {}
_calls_lock = threading.Lock()


def submit(plan: tuple[str, Any], callback_id: str) -> None:
    """A submitter: tells the outside how to answer (succeed, fail, heartbeat once, nothing)."""
    _answer[-1](callback_id, plan)


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=2, backoff=2.0))
def flaky(key: str) -> str:
    with _calls_lock:
        _calls[key] = n = _calls.get(key, 0) + 1
    if n < 3:
        raise ConnectionError(f"try {n}")
    return f"{key} after {n}"


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1))
def always_fails(x: int) -> int:
    raise ValueError(f"bad {x}")


@dg.step
async def async_double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


@dg.step
def double(x: int) -> int:
    return 2 * x


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def once(x: int) -> int:
    return x + 100


def undo(booking: str) -> str:
    return f"undid {booking}"


@dg.step(compensate=undo)
def book(what: str) -> str:
    return f"booked {what}"


@dg.step(retry=dg.Retry.never())
def declined(_: str) -> None:
    raise RuntimeError("declined")


def check(state: dict[str, int]) -> dict[str, int]:
    return {"n": state["n"] + 1}


def item(x: int, index: int) -> int:
    if x < 0:
        raise ValueError("negative")
    return x * 10 + index


def sub(x: int) -> dg.Workflow[int]:
    a = yield from double(x)
    yield from dg.Wait(seconds=5, name="sub-wait")
    return a + 1


def gen_item(x: int) -> dg.Workflow[int]:
    return (yield from async_double(x))


def everything(n: int) -> dg.Workflow[dict[str, Any]]:
    log = dg.get_logger("corpus")
    log.info("start %s", n)
    out: dict[str, Any] = {"step": (yield from double(n)), "async": (yield from async_double(n))}
    try:
        out["once"] = yield from once(n)
    except dg.StepFailedError as exc:  # a crash right after its START: interrupted
        out["once"] = exc.error_type
    out["flaky"] = yield from flaky(f"k{n}")
    try:
        yield from always_fails(n)
    except dg.StepFailedError as exc:
        out["fails"] = [exc.error_type, exc.error_message]
    yield from dg.Wait(seconds=30, name="pause")
    out["invoke"] = yield dg.Invoke("tax", {"amount": n}, name="tax")
    try:
        yield dg.Invoke("boom", None, name="boom")
    except dg.InvokeFailedError as exc:
        out["boom"] = exc.error_type
    out["cb"] = yield dg.WaitForCallback(
        functools.partial(submit, ("ok", "yes")), name="approve", timeout=100
    )
    try:
        yield dg.WaitForCallback(functools.partial(submit, ("fail", "no")), name="refuse")
    except dg.CallbackFailedError as exc:
        out["refuse"] = [exc.error_type, exc.error_message]
    try:
        yield dg.WaitForCallback(functools.partial(submit, ("none", 0)), name="silent", timeout=50)
    except dg.CallbackTimeoutError as exc:
        out["silent"] = exc.error_type
    handle = yield from dg.CreateCallback(name="hb", timeout=1000, heartbeat_timeout=20)
    yield dg.Step(submit, (("heartbeat", 0), handle.callback_id), name="send-hb")
    try:
        yield from handle
    except dg.CallbackTimeoutError as exc:
        out["hb"] = exc.error_type
    out["cond"] = yield from dg.WaitForCondition(
        check,
        initial_state={"n": 0},
        wait_strategy=dg.WaitStrategy(until=lambda s: s["n"] >= 3, delay=3),
        name="poll",
    )
    m = yield from dg.Map(
        item, [1, 2, -1, 4], max_concurrency=2, completion=dg.Completion(tolerated_failure_count=1)
    )
    out["map"] = [m.all_results(), m.completion_reason, [e.error_type for e in m.errors()]]
    out["gmap"] = (yield from dg.Map(gen_item, [5, 6])).results()
    par = yield dg.Parallel([lambda: "a", dg.Branch(functools.partial(sub, 7), name="sub7")])
    out["par"] = par.results()
    out["child"] = yield from dg.Child(sub, (3,), name="kid")
    out["vchild"] = yield from dg.Child(sub, (4,), name="vkid", virtual=True)
    try:
        yield from book("flight")
        yield from book("hotel")
        yield from declined("card")
    except dg.StepFailedError:
        undone = yield from dg.RunCompensations()
        out["saga"] = [[c.name, c.status, c.result] for c in undone]
    out["now"] = (yield from dg.Now()).timestamp()
    out["uuid"] = str((yield from dg.UUID()))
    out["rand"] = (yield from dg.Random()).random()
    log.info("end %s", n)
    return out


def fails_in_a_step(n: int) -> dg.Workflow[int]:
    yield from double(n)
    return (yield from always_fails(n))


def raises(n: int) -> dg.Workflow[int]:
    yield from double(n)
    raise KeyError("nope")


def tax(payload: Any) -> Any:
    return {"tax": payload["amount"] * 0.2}


def boom(_: Any) -> Any:
    raise ValueError("kaboom")


FUNCTIONS: dict[str, Callable[[Any], Any]] = {"tax": tax, "boom": boom}


# --- the runtime ---------------------------------------------------------------------------


class FileRuntime:
    """One execution, its store a JSON file; steps in a thread pool."""

    def __init__(self, path: pathlib.Path, workflow: Callable[..., Any], *, crash_after: int = 0):
        self.path, self.workflow, self.crash_after = path, workflow, crash_after
        self.pool = cf.ThreadPoolExecutor(4)
        self.lock = threading.RLock()  # the store: the invocation thread and the answerers
        self.news: list[rt.Operation] = []
        self.flushes = 0
        doc = msgspec.json.decode(path.read_bytes())
        self.arn: str = doc["arn"]
        self.now_ms: int = doc["now_ms"]
        self.store = {op.id: op for op in msgspec.convert(doc["operations"], list[rt.Operation])}
        self.timers = {
            (t.kind, t.operation_id): t for t in msgspec.convert(doc["timers"], list[rt.Timer])
        }

    @staticmethod
    def create(path: pathlib.Path, arn: str, input_json: str) -> None:
        execution = rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            start_timestamp=START_MS,
            execution_details=rt.ExecutionDetails(input_payload=input_json),
        )
        doc = {"arn": arn, "now_ms": START_MS, "operations": [execution], "timers": []}
        path.write_bytes(msgspec.json.encode(doc))

    def save(self) -> None:
        doc = {
            "arn": self.arn,
            "now_ms": self.now_ms,
            "operations": list(self.store.values()),
            "timers": list(self.timers.values()),
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(msgspec.json.encode(doc))
        tmp.replace(self.path)

    def answer(self, callback_id: str, plan: tuple[str, Any]) -> None:
        """From a step thread: record the answer at once; the live invocation observes it."""
        kind, value = plan
        with self.lock:
            if kind == "ok":
                op = rt.complete_callback(
                    self.store, callback_id, now_ms=self.now_ms, result=json.dumps(value)
                )
            elif kind == "fail":
                error = rt.ErrorObject(error_type="Refused", error_message=value)
                op = rt.complete_callback(self.store, callback_id, now_ms=self.now_ms, error=error)
            elif kind == "heartbeat":
                (op_id,) = [
                    o.id
                    for o in self.store.values()
                    if o.callback_details and o.callback_details.callback_id == callback_id
                ]
                old = self.timers.get(("callback-heartbeat", op_id))
                timer = rt.heartbeat_callback(self.store, callback_id, old, now_ms=self.now_ms)
                assert timer is not None
                self.timers[timer.kind, timer.operation_id] = timer
                self.save()
                return
            else:
                return
            self.news.append(op)
            self.save()

    def take_news(self) -> list[rt.Operation]:
        with self.lock:
            news, self.news = self.news, []
            return news

    def checkpoint(self, updates: list[rt.OperationUpdate]) -> list[rt.Operation]:
        with self.lock:
            applied = rt.apply_updates(self.store, updates, now_ms=self.now_ms)
            for timer in applied.timers:
                self.timers[timer.kind, timer.operation_id] = timer
            changed = list(applied.operations)
            for request in applied.invokes:
                payload = json.loads(request.payload) if request.payload else None
                try:
                    result = json.dumps(FUNCTIONS[request.function_name](payload))
                except Exception as exc:
                    error = rt.ErrorObject(error_type=type(exc).__name__, error_message=str(exc))
                    done = rt.complete_invoke(
                        self.store, request.operation_id, now_ms=self.now_ms, error=error
                    )
                else:
                    done = rt.complete_invoke(
                        self.store, request.operation_id, now_ms=self.now_ms, result=result
                    )
                changed.append(done)
            self.save()
            self.flushes += 1
            if self.crash_after and self.flushes >= self.crash_after:
                raise Crash
            return changed + self.take_news()

    def invoke(self) -> rt.Outcome:
        interp = rt.Interpreter(
            self.workflow,
            list(self.store.values()),
            execution_arn=self.arn,
            clock=lambda: self.now_ms / 1000,
        )
        running: dict[cf.Future[Any], rt.StepTask] = {}
        try:
            while True:
                action = interp.next_action()
                if isinstance(action, rt.Flush):
                    interp.observe(self.checkpoint(action.updates))
                elif isinstance(action, rt.RunTasks):
                    for task in action.tasks:
                        future = self.pool.submit(_attempt, task)
                        running[future] = task
                elif isinstance(action, rt.WaitForTasks):
                    done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                    for future in done:
                        task = running.pop(future)
                        error = future.exception()
                        if error is None:
                            interp.task_succeeded(task, future.result())
                        else:
                            interp.task_failed(task, error)
                    if news := self.take_news():
                        interp.observe(news)
                else:
                    assert isinstance(action, rt.Done)
                    return action.outcome
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = cf.ThreadPoolExecutor(4)

    def run(self) -> rt.Outcome:
        """Invoke until the execution ends; between invocations fire the earliest timer."""
        _answer.append(self.answer)
        try:
            while True:
                outcome = self.invoke()
                if not isinstance(outcome, rt.Suspended):
                    status = "SUCCEEDED" if isinstance(outcome, rt.Succeeded) else "FAILED"
                    self.store["exec"] = msgspec.structs.replace(
                        self.store["exec"], status=status, end_timestamp=self.now_ms
                    )
                    self.save()
                    return outcome
                if self.take_news():
                    continue
                timer = min(self.timers.values(), key=lambda t: t.due_ms)
                del self.timers[timer.kind, timer.operation_id]
                self.now_ms = max(self.now_ms, timer.due_ms)
                rt.fire_timer(self.store, timer, now_ms=self.now_ms)
                self.save()
        finally:
            _answer.pop()
            self.pool.shutdown(wait=True)


def _attempt(task: rt.StepTask) -> Any:
    """Run one step attempt in a pool thread (an async step on its own event loop there)."""
    if task.is_async:
        return asyncio.run(task.fn(*task.args, **task.kwargs))
    return task.fn(*task.args, **task.kwargs)


def run_on_engine(workflow: Callable[..., Any], n: int) -> tuple[str, str, str | None, Any]:
    """The embedded engine's end of the same execution: (arn, status, result, error)."""
    service = LocalService(clock=VirtualClock())
    service.register("wf", rt.make_handler(workflow, service))
    for name, fn in FUNCTIONS.items():

        def plain(payload: str | None, fn: Callable[[Any], Any] = fn) -> str:
            return json.dumps(fn(json.loads(payload) if payload else None))

        service.register(name, plain, durable=False)

    def answer(callback_id: str, plan: tuple[str, Any]) -> None:
        kind, value = plan
        if kind == "ok":
            service.send_callback_success(callback_id, json.dumps(value))
        elif kind == "fail":
            error = rt.ErrorObject(error_type="Refused", error_message=value)
            service.send_callback_failure(callback_id, error)
        elif kind == "heartbeat":
            service.send_callback_heartbeat(callback_id)

    _answer.append(answer)
    _calls.clear()
    try:
        arn = service.start("wf", json.dumps(n), execution_name=f"e{n}")
        record = service.run(arn)
    finally:
        _answer.pop()
    return arn, record.status, record.result, record.error


def run_on_files(
    tmp_path: pathlib.Path, workflow: Callable[..., Any], arn: str, n: int, crash_after: int
) -> tuple[rt.Outcome, int]:
    """Run to the end, a new runtime from the file after each crash: (outcome, processes)."""
    path = tmp_path / "execution.json"
    FileRuntime.create(path, arn, json.dumps(n))
    _calls.clear()
    for processes in range(1, 500):
        try:
            return FileRuntime(path, workflow, crash_after=crash_after).run(), processes
        except Crash:
            continue
    raise AssertionError("no end after 500 restarts")


@pytest.mark.parametrize("crash_after", [0, 1, 3])
def test_a_file_runtime_ends_as_the_engine_does_across_crashes(
    tmp_path: pathlib.Path, crash_after: int
) -> None:
    arn, status, result, _ = run_on_engine(everything, 3)
    assert status == "SUCCEEDED" and result is not None
    expected = json.loads(result)
    assert expected["once"] == 103 and expected["silent"] == "Callback.Timeout"
    outcome, processes = run_on_files(tmp_path, everything, arn, 3, crash_after)
    assert isinstance(outcome, rt.Succeeded)
    got = json.loads(outcome.result)
    if crash_after == 1:  # every flush is followed by a crash, its START's too: interrupted
        assert got.pop("once") == "StepInterruptedError"
        expected.pop("once")
    assert got == expected
    assert processes > (30 if crash_after == 1 else 8 if crash_after else 0)
    doc = json.loads((tmp_path / "execution.json").read_text())
    assert doc["operations"][0]["Status"] == "SUCCEEDED"  # AWS's wire shape, ended


@pytest.mark.parametrize(
    ("workflow", "error_type"),
    [(fails_in_a_step, "ValueError"), (raises, "KeyError")],
)
def test_a_file_runtime_fails_as_the_engine_does(
    tmp_path: pathlib.Path, workflow: Callable[..., Any], error_type: str
) -> None:
    arn, status, _, error = run_on_engine(workflow, 4)
    assert status == "FAILED" and error is not None and error.error_type == error_type
    outcome, _ = run_on_files(tmp_path, workflow, arn, 4, crash_after=2)
    assert isinstance(outcome, rt.Failed)
    assert (outcome.error.error_type, outcome.error.error_message) == (
        error.error_type,
        error.error_message,
    )
    if workflow is fails_in_a_step:  # the step's error type, on a StepFailedError
        assert isinstance(outcome.exception, dg.StepFailedError)


def test_the_file_runtime_imports_only_public_modules() -> None:
    tree = ast.parse(pathlib.Path(__file__).read_text())
    modules = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ] + [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [m for m in modules if m.startswith("durable_gen") and "._" in m]
    assert not [m for m in modules if m.split(".")[-1].startswith("_") and m != "__future__"]


def before_deploy(n: int) -> dg.Workflow[int]:
    a = yield from double(n)
    yield from dg.Wait(seconds=60, name="pause")
    return a


@dg.step(name="triple")
def triple(x: int) -> int:
    return 3 * x


def after_deploy(n: int) -> dg.Workflow[int]:
    a = yield from triple(n)  # was double: the history no longer matches
    yield from dg.Wait(seconds=60, name="pause")
    return a


def test_code_changed_between_processes_fails_with_non_determinism(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "execution.json"
    FileRuntime.create(path, "arn:deploy", "2")
    first = FileRuntime(path, before_deploy)
    assert isinstance(first.invoke(), rt.Suspended)
    first.save()
    recorded = json.loads(path.read_text())["operations"]
    second = FileRuntime(path, after_deploy)
    outcome = second.invoke()
    assert isinstance(outcome, rt.Failed)
    assert outcome.error.error_type == "NonDeterminismError"
    assert "name='double'" in (outcome.error.error_message or "")
    assert "name='triple'" in (outcome.error.error_message or "")
    assert json.loads(path.read_text())["operations"] == recorded  # nothing recorded
