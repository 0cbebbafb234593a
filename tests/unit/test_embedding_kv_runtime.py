"""A runtime written from docs/embedding.md alone, of a kind earlier ones are not: every
operation and timer lives as JSON text in a key-value dict (``op:<id>``, ``timer:<kind>:<id>``),
the interpreter is rebuilt from those records for every event (a timer, an answer, an invoke's
end), step tasks are run and reported in another order than handed out, callback ids come from
the host's own counter, and the clock is the host's virtual one, far from the epoch.

The workflow drives Map, Parallel, a child, a wait-for-condition, an invoke, a callback kept
alive by a heartbeat and then timed out by a missing one, an answered callback, a retried step
and ``Now()``. In every checkpointing mode and task order it ends with the same result, the
same records, and a replay of the records gives the same outcome.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt

START_MS = 1_700_000_000_000

FLAKY_CALLS: list[int] = []


@dg.step
def double(x: int) -> int:
    return 2 * x


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=2, jitter="none"))
def flaky(n: int) -> int:
    FLAKY_CALLS.append(n)
    if FLAKY_CALLS.count(n) < 2:
        raise RuntimeError("boom")
    return n


def item(x: int, i: int) -> Any:
    y = yield double(x)
    yield dg.Wait(seconds=i + 1)
    return y + i


def branch_a() -> Any:
    return (yield double(10))


def branch_b() -> Any:
    return (yield flaky(7))


@dg.workflow
def child(v: int) -> Any:
    return (yield double(v))


def main(inp: dict[str, Any]) -> Any:
    m = yield dg.Map(item, inp["items"], name="m", max_concurrency=2)
    p = yield dg.Parallel([branch_a, dg.Branch(branch_b, name="bb")], name="p")
    c = yield dg.Child(child, (3,), name="c")
    strategy = dg.WaitStrategy(until=lambda s: s >= 3, delay=4)
    cond = yield dg.WaitForCondition(lambda s: s + 1, 0, wait_strategy=strategy, name="cond")
    inv = yield dg.Invoke("other", {"a": 1}, name="inv")
    beat = yield dg.CreateCallback(name="beat", timeout=100, heartbeat_timeout=30)
    try:
        beaten: Any = yield beat
    except dg.CallbackTimeoutError as exc:
        beaten = ["timeout", exc.error_type]
    answer = yield dg.CreateCallback(name="answer", timeout=100)
    answered = yield answer
    now = yield dg.Now()
    return {
        "m": m.results(),
        "p": p.results(),
        "c": c,
        "cond": cond,
        "inv": inv,
        "beat": beaten,
        "answer": answered,
        "now": now.isoformat(),
    }


class KvHost:
    """The store: JSON text under string keys, as a key-value database would hold it."""

    def __init__(self, input_json: str) -> None:
        self.kv: dict[str, str] = {}
        self.now_ms = START_MS
        self._ids = itertools.count()
        self.invokes: list[rt.InvokeRequest] = []
        self.invocations = 0
        self._put_op(
            rt.Operation(
                id="exec",
                type="EXECUTION",
                status="STARTED",
                start_timestamp=START_MS,
                execution_details=rt.ExecutionDetails(input_payload=input_json),
            )
        )

    def _put_op(self, op: rt.Operation) -> None:
        self.kv[f"op:{op.id}"] = msgspec.json.encode(op).decode()

    def _put_timer(self, timer: rt.Timer) -> None:
        self.kv[f"timer:{timer.kind}:{timer.operation_id}"] = msgspec.json.encode(timer).decode()

    def ops(self) -> dict[str, rt.Operation]:
        return {
            key[3:]: msgspec.json.decode(text, type=rt.Operation)
            for key, text in self.kv.items()
            if key.startswith("op:")
        }

    def timers(self) -> list[rt.Timer]:
        return [
            msgspec.json.decode(text, type=rt.Timer)
            for key, text in self.kv.items()
            if key.startswith("timer:")
        ]

    def change(self, fn: Callable[[dict[str, rt.Operation]], Any]) -> Any:
        """Load, change with one of the store functions, save: one transaction."""
        store = self.ops()
        out = fn(store)
        for op in store.values():
            self._put_op(op)
        return out

    def checkpoint(self, updates: list[rt.OperationUpdate]) -> list[rt.Operation]:
        applied = self.change(
            lambda store: rt.apply_updates(
                store, updates, now_ms=self.now_ms, new_callback_id=lambda: f"cb-{next(self._ids)}"
            )
        )
        for timer in applied.timers:
            self._put_timer(timer)
        self.invokes.extend(applied.invokes)
        return list(applied.operations)

    def invoke(self, mode: rt.CheckpointMode, order: str) -> rt.Outcome:
        """One invocation from the records alone; tasks run in ``order``, reported reversed."""
        self.invocations += 1
        interp = rt.Interpreter(
            main,
            list(self.ops().values()),
            execution_arn="arn:kv",
            checkpointing=mode,
            clock=lambda: self.now_ms / 1000,
        )
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                interp.observe(self.checkpoint(list(action.updates)))
            elif isinstance(action, rt.RunTasks):
                tasks = list(action.tasks)
                if order == "reverse":
                    tasks.reverse()
                elif order == "outside-in":
                    ends = [
                        tasks[i // 2] if i % 2 == 0 else tasks[-1 - i // 2]
                        for i in range(len(tasks))
                    ]
                    tasks = list(dict.fromkeys(ends))
                reports: list[tuple[rt.StepTask, bool, Any]] = []
                for task in tasks:
                    try:
                        reports.append((task, True, task.fn(*task.args, **task.kwargs)))
                    except Exception as exc:
                        reports.append((task, False, exc))
                for task, ok, value in reversed(reports):
                    if ok:
                        interp.task_succeeded(task, value)
                    else:
                        interp.task_failed(task, value)
            elif isinstance(action, rt.WaitForTasks):
                raise AssertionError("every task was reported before the next action")
            else:
                return action.outcome

    def next_event(self) -> None:
        """Deliver one event from outside: an invoke's end, a heartbeat, an answer, a timer."""
        if self.invokes:
            request = self.invokes.pop(0)
            echo = json.dumps({"echo": json.loads(request.payload or "null")})
            self.change(
                lambda s: rt.complete_invoke(
                    s, request.operation_id, now_ms=self.now_ms, result=echo
                )
            )
            return
        open_callbacks = {
            op.name: op
            for op in self.ops().values()
            if op.type == "CALLBACK" and op.status == "STARTED"
        }
        beat = open_callbacks.get("beat")
        if beat is not None and not any(
            key.startswith("beaten:") for key in self.kv
        ):  # one heartbeat, 20 s in; the next one never comes
            assert beat.callback_details is not None and beat.callback_details.callback_id
            callback_id = beat.callback_details.callback_id
            armed = next(
                t
                for t in self.timers()
                if t.kind == "callback-heartbeat" and t.operation_id == beat.id
            )
            self.now_ms += 20_000
            timer = self.change(
                lambda s: rt.heartbeat_callback(s, callback_id, armed, now_ms=self.now_ms)
            )
            assert timer is not None and timer.due_ms == self.now_ms + 30_000
            self._put_timer(timer)
            self.kv[f"beaten:{beat.id}"] = "1"
            return
        answer = open_callbacks.get("answer")
        if answer is not None:
            assert answer.callback_details is not None and answer.callback_details.callback_id
            callback_id = answer.callback_details.callback_id
            self.change(
                lambda s: rt.complete_callback(s, callback_id, now_ms=self.now_ms, result='"yes"')
            )
            return
        for timer in sorted(self.timers(), key=lambda t: (t.due_ms, t.kind, t.operation_id)):
            self.now_ms = max(self.now_ms, timer.due_ms)
            del self.kv[f"timer:{timer.kind}:{timer.operation_id}"]
            if self.change(lambda s, t=timer: rt.fire_timer(s, t, now_ms=self.now_ms)) is not None:
                return
        raise AssertionError("suspended with nothing left to deliver")


def _run(mode: rt.CheckpointMode, order: str) -> KvHost:
    FLAKY_CALLS.clear()
    host = KvHost(json.dumps({"items": [1, 2, 3]}))
    for _ in range(40):
        outcome = host.invoke(mode, order)
        if not isinstance(outcome, rt.Suspended):
            host.outcome = outcome  # type: ignore[attr-defined]
            return host
        host.next_event()
    raise AssertionError("the execution did not end")


def _records(host: KvHost) -> list[tuple[Any, ...]]:
    return sorted(
        (op.id, op.type, op.sub_type, op.name, op.parent_id, op.status)
        for op in host.ops().values()
        if op.type != "EXECUTION"
    )


@pytest.mark.parametrize("order", ["given", "reverse", "outside-in"])
@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_a_kv_runtime_rebuilt_at_every_event_ends_as_documented(
    mode: rt.CheckpointMode, order: str
) -> None:
    host = _run(mode, order)
    outcome = host.outcome  # type: ignore[attr-defined]
    assert isinstance(outcome, rt.Succeeded), outcome
    result = json.loads(outcome.result)
    assert result == {
        "m": [2, 5, 8],
        "p": [20, 7],
        "c": 6,
        "cond": 3,
        "inv": {"echo": {"a": 1}},
        "beat": ["timeout", "Callback.Heartbeat"],
        "answer": "yes",
        "now": result["now"],
    }
    # Now() reads the host's clock: the moment of the last event, not the process's time
    assert result["now"].startswith("2023-11-14T22:")
    assert FLAKY_CALLS == [7, 7]
    # the records are the whole truth: a replay from them ends the same, and runs nothing
    again = rt.Interpreter(main, list(host.ops().values()), execution_arn="arn:kv").next_action()
    assert isinstance(again, rt.Done) and again.outcome == outcome


def test_the_records_do_not_depend_on_the_mode_or_the_order() -> None:
    runs = [_run(mode, order) for mode in ("step", "batch") for order in ("given", "reverse")]
    first = _records(runs[0])
    assert all(_records(run) == first for run in runs[1:])
    assert {r[5] for r in first} <= {"SUCCEEDED", "TIMED_OUT"}
