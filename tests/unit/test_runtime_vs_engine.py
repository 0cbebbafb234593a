"""A runtime written from docs/embedding.md alone gives what the embedded engine gives.

The host below is a different shape from the guide's asyncio example: a synchronous loop, a
store kept as JSON bytes between invocations (each invocation is a new "process" that decodes
it and builds a new ``Interpreter``), a fake clock, one timer per (kind, operation), and the
store functions of ``durable_gen.runtime``. For each workflow, in each checkpointing mode, its
outcome and recorded operations (ids, parents, types, names, statuses, attempts, results and
errors; stack traces and timestamps aside) must equal the embedded engine's under
``TestRunner``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.testing import TestRunner


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


Answer = Callable[[str], tuple[str, Any]]  # callback name -> ("ok", value) | ("fail", msg) | ...


class Host:
    def __init__(
        self, workflow: Any, payload: Any, mode: rt.CheckpointMode, functions: Any, arn: str
    ) -> None:
        self.workflow, self.mode, self.functions, self.arn = workflow, mode, functions, arn
        self.now_ms = 1_735_689_600_000  # the test runner's start: 2025-01-01T00:00:00Z
        start = rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            execution_details=rt.ExecutionDetails(input_payload=_dumps(payload)),
        )
        self.db = msgspec.json.encode([start])
        self.timers: dict[tuple[str, str], rt.Timer] = {}
        self.beaten: set[str] = set()

    def load(self) -> dict[str, rt.Operation]:
        return {op.id: op for op in msgspec.json.decode(self.db, type=list[rt.Operation])}

    def save(self, ops: dict[str, rt.Operation]) -> None:
        self.db = msgspec.json.encode(list(ops.values()))

    def invoke(self) -> rt.Outcome:
        ops = self.load()
        interp = rt.Interpreter(
            self.workflow,
            list(ops.values()),
            execution_arn=self.arn,  # UUID(), Random() and jitter derive from it
            checkpointing=self.mode,
            clock=lambda: self.now_ms / 1000,
        )
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                applied = rt.apply_updates(ops, action.updates, now_ms=self.now_ms)
                for timer in applied.timers:
                    self.timers[timer.kind, timer.operation_id] = timer
                finished = [self.run_invoke(ops, request) for request in applied.invokes]
                self.save(ops)
                interp.observe([*applied.operations, *finished])
            elif isinstance(action, rt.RunTasks):
                for task in action.tasks:
                    try:
                        value = task.fn(*task.args, **task.kwargs)
                    except Exception as exc:
                        interp.task_failed(task, exc)
                    else:
                        interp.task_succeeded(task, value)
            else:
                assert isinstance(action, rt.Done)
                self.save(ops)
                return action.outcome

    def run_invoke(self, ops: dict[str, rt.Operation], request: rt.InvokeRequest) -> rt.Operation:
        fn = self.functions[request.function_name]
        try:
            value = fn(json.loads(request.payload or "null"))
        except Exception as exc:
            error = rt.ErrorObject(error_type=type(exc).__name__, error_message=str(exc))
            return rt.complete_invoke(ops, request.operation_id, now_ms=self.now_ms, error=error)
        result = _dumps(value)
        return rt.complete_invoke(ops, request.operation_id, now_ms=self.now_ms, result=result)

    def open_callbacks(self) -> list[rt.Operation]:
        return [o for o in self.load().values() if o.type == "CALLBACK" and o.status == "STARTED"]

    def advance(self, to_ms: int) -> None:
        """Move the clock to ``to_ms``, firing every timer due by then, in order."""
        while True:
            due = [t for t in self.timers.values() if t.due_ms <= to_ms]
            if not due:
                break
            timer = min(due, key=lambda t: t.due_ms)
            del self.timers[timer.kind, timer.operation_id]
            self.now_ms = max(self.now_ms, timer.due_ms)
            ops = self.load()
            rt.fire_timer(ops, timer, now_ms=self.now_ms)
            self.save(ops)
        self.now_ms = max(self.now_ms, to_ms)

    def run(self, answer: Answer) -> rt.Outcome:
        for _ in range(100):
            outcome = self.invoke()
            if not isinstance(outcome, rt.Suspended):
                return outcome
            ops, answered = self.load(), False
            for op in self.open_callbacks():
                assert op.callback_details is not None and op.callback_details.callback_id
                cid, (how, value) = op.callback_details.callback_id, answer(op.name or "")
                if how == "later":
                    self.save(ops)
                    self.advance(self.now_ms + 8000)
                    ops = self.load()
                    if ops[op.id].status != "STARTED":
                        continue
                    how = "ok"
                if how == "ok":
                    rt.complete_callback(ops, cid, now_ms=self.now_ms, result=_dumps(value))
                elif how == "fail":
                    error = rt.ErrorObject(error_type="Refused", error_message=value)
                    rt.complete_callback(ops, cid, now_ms=self.now_ms, error=error)
                elif how == "beat" and cid not in self.beaten:  # one heartbeat each
                    self.beaten.add(cid)
                    armed = self.timers.get(("callback-heartbeat", op.id))
                    self.now_ms += 1000 * value  # a heartbeat arrives after ``value`` seconds
                    new = rt.heartbeat_callback(ops, cid, armed, now_ms=self.now_ms)
                    if new is not None:
                        self.timers[new.kind, new.operation_id] = new
                else:
                    continue
                answered = True
            self.save(ops)
            if answered:
                continue
            if not self.timers:
                return outcome
            timer = min(self.timers.values(), key=lambda t: t.due_ms)
            del self.timers[timer.kind, timer.operation_id]
            self.now_ms = max(self.now_ms, timer.due_ms)
            ops = self.load()
            rt.fire_timer(ops, timer, now_ms=self.now_ms)
            self.save(ops)
        raise AssertionError("the execution did not end")


def _on_engine(workflow: Any, payload: Any, mode: Any, functions: Any, answer: Answer) -> Any:
    runner = TestRunner(functions=functions, checkpointing=mode)
    run = runner.run(workflow, payload)
    beats: dict[str, int] = {}
    for _ in range(100):
        if run.done:
            break
        answered = False
        for view in run.operations(type="CALLBACK"):
            if view.status != "STARTED" or view.callback_id is None:
                continue
            how, value = answer(view.name or "")
            if how == "later":
                runner.advance(8)
                if run.operation(view.name or "", type="CALLBACK").status != "STARTED":
                    continue
                how = "ok"
            if how == "ok":
                runner.send_callback_success(view.callback_id, value)
            elif how == "fail":
                runner.send_callback_failure(view.callback_id, "Refused", value)
            elif how == "beat" and view.callback_id not in beats:
                beats[view.callback_id] = 1
                runner.advance(value)
                runner.send_callback_heartbeat(view.callback_id)
            else:
                continue
            answered = True
        if answered:
            runner.run_until_idle()
        elif not runner.advance_to_next_timer():
            break
    return run


_TRACE = re.compile(r',"StackTrace":\[.*?\]\}')


def _key(op: rt.Operation) -> tuple[Any, ...]:
    result: str | None = None
    error: tuple[str | None, str | None] | None = None
    for details in (
        op.step_details,
        op.callback_details,
        op.context_details,
        op.chained_invoke_details,
    ):
        if details is None:
            continue
        if details.result is not None:
            result = _TRACE.sub("}", details.result)
        if details.error is not None:
            error = (details.error.error_type, details.error.error_message)
    attempt = op.step_details.attempt if op.step_details else None
    return (op.id, op.parent_id, op.type, op.sub_type, op.name, op.status, attempt, result, error)


# --- the workflows ------------------------------------------------------------------------------


@dg.step(retry=dg.Retry(max_attempts=4, initial_delay=3, backoff=2, jitter="none"))
def flaky(n: int) -> int:
    from durable_gen.testing import current_attempt

    info = current_attempt()
    attempt = info.attempt if info is not None else _attempts.setdefault(n, [0])[0]
    if info is None:
        _attempts[n][0] += 1
        attempt = _attempts[n][0]
    if attempt < 3:
        raise ValueError(f"attempt {attempt} of {n}")
    return n * 10


_attempts: dict[int, list[int]] = {}


def retries(n: int) -> dg.Workflow[int]:
    return (yield from flaky(n))


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def refuse(n: int) -> int:
    raise KeyError(f"no {n}")


def failures(n: int) -> dg.Workflow[Any]:
    try:
        yield from refuse(n)
    except dg.StepFailedError as exc:
        caught = [exc.error_type, exc.error_message]
    yield from refuse(n + 1)  # uncaught: fails the execution
    return caught


def double(x: int) -> int:
    if x < 0:
        raise ValueError("negative")
    return 2 * x


def item(x: int) -> dg.Workflow[int]:
    y = yield from dg.Step(double, (x,), name="double")
    yield from dg.Wait(seconds=5, name="pause")
    return y + 1


def one() -> int:
    return 1


def batches(items: list[int]) -> dg.Workflow[Any]:
    tolerant = dg.Completion(tolerated_failure_count=3)
    plain = yield from dg.Map(double, items, max_concurrency=1, completion=tolerant)
    flows = yield from dg.Map(item, items[:2], max_concurrency=1)
    first_failure = yield from dg.Map(double, [1, -2, 3], max_concurrency=1)
    both = yield from dg.Parallel([one, dg.Branch(item, name="seven")], max_concurrency=1)
    return [
        plain.all_results(),
        flows.results(),
        [i.status for i in first_failure.items],
        both.completion_reason,
    ]


def sub(x: int) -> dg.Workflow[int]:
    yield from dg.Wait(seconds=2, name="sub-wait")
    y = yield from dg.Step(double, (x,), name="sub-step")
    return y


def broken(x: int) -> dg.Workflow[int]:
    yield from dg.Wait(seconds=1)
    raise RuntimeError(f"child {x} broke")


def children(x: int) -> dg.Workflow[Any]:
    a = yield from dg.Child(sub, (x,), name="recorded")
    b = yield from dg.Child(sub, (x + 1,), name="virtual", virtual=True)
    try:
        yield from dg.Child(broken, (x,), name="broken")
    except dg.ChildFailedError as exc:
        return [a, b, exc.error_type]
    return [a, b]


def notify(callback_id: str) -> None:
    pass


def callbacks(_: Any) -> dg.Workflow[Any]:
    outcomes: list[Any] = []
    for name, timeout, heartbeat in (("first", 60, None), ("second", 100, 10)):
        try:
            value = yield from dg.WaitForCallback(
                notify, name=name, timeout=timeout, heartbeat_timeout=heartbeat
            )
            outcomes.append(value)
        except dg.CallbackFailedError as exc:
            outcomes.append(["failed", exc.error_type, exc.error_message])
        except dg.CallbackTimeoutError as exc:
            outcomes.append(["timed out", exc.error_type, exc.error_message])
    handle = yield from dg.CreateCallback(name="third", timeout=30)
    try:
        outcomes.append((yield from handle))
    except dg.CallbackError as exc:
        outcomes.append([type(exc).__name__, exc.error_message])
    return outcomes


def tax(payload: Any) -> float:
    return float(payload["amount"]) * 0.2


def explode(payload: Any) -> None:
    raise ZeroDivisionError("no tax today")


def invokes(amount: int) -> dg.Workflow[Any]:
    t = yield from dg.Invoke("tax", {"amount": amount}, name="tax", result_type=float)
    try:
        yield from dg.Invoke("explode", {"amount": amount}, name="explode")
    except dg.InvokeFailedError as exc:
        return [t, exc.error_type, exc.error_message]
    return [t]


def huge(payload: Any) -> str:
    return "x" * (1024 * 1024)  # its JSON is 2 bytes over what a chained invoke records


def invokes_a_huge_result(_: Any) -> dg.Workflow[Any]:
    try:
        return (yield from dg.Invoke("huge", None, name="huge"))
    except dg.InvokeFailedError as exc:
        return [exc.error_type, exc.error_message]


def check(state: dict[str, int]) -> dict[str, int]:
    return {"n": state["n"] + 1}


def polling(_: Any) -> dg.Workflow[Any]:
    strategy = dg.WaitStrategy(until=lambda s: s["n"] >= 3, delay=2, backoff=1.5)
    return (yield from dg.WaitForCondition(check, {"n": 0}, wait_strategy=strategy, name="poll"))


def helpers(_: Any) -> dg.Workflow[Any]:
    u = yield from dg.UUID()
    r = yield from dg.Random()
    now = yield from dg.Now()
    return [str(u), r.random(), now.isoformat()]


CASES: list[tuple[str, Any, Any, dict[str, Any] | None]] = [
    ("retries", retries, 2, None),
    ("failures", failures, 1, None),
    ("batches", batches, [1, 2, -3, 4], None),
    ("children", children, 3, None),
    ("callbacks", callbacks, None, None),
    ("invokes", invokes, 100, {"tax": tax, "explode": explode}),
    ("huge-invoke-result", invokes_a_huge_result, None, {"huge": huge}),
    ("polling", polling, None, None),
    ("helpers", helpers, None, None),
]


def _beat_then_answer() -> Answer:
    """A heartbeat 8 s in (the heartbeat timeout is 10 s), then the answer."""
    beaten: set[str] = set()

    def answer(name: str) -> tuple[str, Any]:
        if name in beaten:
            return ("later", {"by": name})  # 8 s later: past the first heartbeat deadline
        beaten.add(name)
        return ("beat", 8)

    return answer


ANSWERS: dict[str, Callable[[], Answer]] = {
    "answered": lambda: lambda name: ("ok", {"by": name}),
    "refused": lambda: lambda name: ("fail", f"no to {name}"),
    "silent": lambda: lambda name: ("none", None),
    "heartbeats": lambda: lambda name: ("beat", 8),
    "heartbeat-then-answer": _beat_then_answer,
}


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize(
    ("name", "workflow", "payload", "functions"), CASES, ids=[c[0] for c in CASES]
)
def test_a_runtime_of_ones_own_records_what_the_engine_records(
    name: str, workflow: Any, payload: Any, functions: Any, mode: rt.CheckpointMode
) -> None:
    answers = ANSWERS if name == "callbacks" else {"answered": ANSWERS["answered"]}
    for how, answers_for in answers.items():
        _attempts.clear()
        engine = _on_engine(workflow, payload, mode, functions, answers_for())
        _attempts.clear()
        host = Host(workflow, payload, mode, functions or {}, engine.arn)
        outcome = host.run(answers_for())
        record = engine.record
        if record.status == "SUCCEEDED":
            assert outcome == rt.Succeeded(record.result or "")
        else:
            assert isinstance(outcome, rt.Failed), outcome
            assert record.error is not None
            assert (outcome.error.error_type, outcome.error.error_message) == (
                record.error.error_type,
                record.error.error_message,
            )
        if how == "heartbeat-then-answer":  # the heartbeat kept 'second' open past 10 s
            assert isinstance(outcome, rt.Succeeded)
            assert json.loads(outcome.result)[1] == {"by": "second create callback id"}
        mine = sorted(_key(op) for op in host.load().values() if op.type != "EXECUTION")
        theirs = sorted(_key(view.operation) for view in engine.operations())
        assert mine == theirs
