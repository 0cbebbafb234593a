"""A store written from docs/embedding.md's obligations table alone, keeping AWS's wire JSON,
is all a runtime needs: the execution ends as on the embedded engine, what it records agrees
with ``durable_gen.runtime.apply_updates`` update by update, and the public replayer replays it.

The store below never calls the reference store functions to change its own records: it reads
each ``OperationUpdate`` as wire JSON (``msgspec.json.encode``) and applies the table's rules
to plain dicts. The reference store runs beside it on the same updates and answers, and the
two are compared after every change on what the guide says a store sets (statuses, results,
errors, attempts, timestamps, callback ids).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import msgspec

from durable_gen import runtime as rt
from durable_gen.testing import replay
from tests.unit.test_embedding_file_runtime import (
    FUNCTIONS,
    START_MS,
    _answer,
    _calls,
    everything,
    run_on_engine,
)

Wire = dict[str, Any]


class TableStore:
    """The obligations table of docs/embedding.md, on wire JSON."""

    def __init__(self, input_json: str) -> None:
        self.ops: dict[str, Wire] = {
            "exec": {
                "Id": "exec",
                "Type": "EXECUTION",
                "Status": "STARTED",
                "StartTimestamp": START_MS,
                "ExecutionDetails": {"InputPayload": input_json},
            }
        }
        self.timers: dict[tuple[str, str], tuple[int, int]] = {}  # -> (due_ms, seconds)
        self.invokes: list[tuple[str, str, str | None]] = []
        self._ids = itertools.count()

    def arm(self, kind: str, op_id: str, now_ms: int, seconds: int) -> None:
        self.timers[kind, op_id] = (now_ms + seconds * 1000, seconds)

    def apply(self, updates: list[Wire], now_ms: int) -> list[Wire]:
        changed: dict[str, Wire] = {}
        for u in updates:
            op = self.ops.get(u["Id"])
            if op is None:
                op = {"Id": u["Id"], "Type": u["Type"], "StartTimestamp": now_ms}
                op |= {k: u[k] for k in ("ParentId", "Name", "SubType") if k in u}
            kind, action = u["Type"], u["Action"]
            if action in ("SUCCEED", "FAIL") or (kind, action) == ("WAIT", "CANCEL"):
                op["EndTimestamp"] = now_ms
            op["Status"] = {
                "START": "STARTED",
                "SUCCEED": "SUCCEEDED",
                "FAIL": "FAILED",
                "RETRY": "PENDING",
                "CANCEL": "CANCELLED",
            }[action]
            if kind == "STEP":
                details = op.setdefault("StepDetails", {"Attempt": 0})
                if action != "START":  # Attempt counts finished attempts
                    details["Attempt"] += 1
                if "Payload" in u:
                    details["Result"] = u["Payload"]
                if "Error" in u:
                    details["Error"] = u["Error"]
                if action == "RETRY":
                    delay = u["StepOptions"]["NextAttemptDelaySeconds"]
                    details["NextAttemptTimestamp"] = now_ms + delay * 1000
                    self.arm("retry", op["Id"], now_ms, delay)
            elif kind == "WAIT" and action == "START":
                seconds = u["WaitOptions"]["WaitSeconds"]
                op["WaitDetails"] = {"ScheduledEndTimestamp": now_ms + seconds * 1000}
                self.arm("wait", op["Id"], now_ms, seconds)
            elif kind == "CALLBACK" and action == "START":
                op["CallbackDetails"] = {"CallbackId": f"cb-{next(self._ids):04d}"}
                options = u.get("CallbackOptions", {})
                if options.get("TimeoutSeconds"):
                    self.arm("callback-timeout", op["Id"], now_ms, options["TimeoutSeconds"])
                if options.get("HeartbeatTimeoutSeconds"):
                    seconds = options["HeartbeatTimeoutSeconds"]
                    self.arm("callback-heartbeat", op["Id"], now_ms, seconds)
            elif kind == "CHAINED_INVOKE" and action == "START":
                function = u["ChainedInvokeOptions"]["FunctionName"]
                self.invokes.append((op["Id"], function, u.get("Payload")))
            elif kind == "CONTEXT" and action != "START":
                details = {"Result": u["Payload"]} if "Payload" in u else {"Error": u["Error"]}
                if u.get("ContextOptions", {}).get("ReplayChildren"):
                    details["ReplayChildren"] = True
                op["ContextDetails"] = details
            self.ops[op["Id"]] = changed[op["Id"]] = op
        return list(changed.values())

    def end(self, op_id: str, status: str, now_ms: int, field: str, value: Any) -> Wire:
        """An invoke or callback ends (``field`` is "Result" or "Error")."""
        op = self.ops[op_id]
        op |= {"Status": status, "EndTimestamp": now_ms}
        details = "CallbackDetails" if op["Type"] == "CALLBACK" else "ChainedInvokeDetails"
        op.setdefault(details, {})[field] = value
        return op

    def fire(self, kind: str, op_id: str, now_ms: int) -> Wire | None:
        op = self.ops[op_id]
        if kind == "wait" and op["Status"] == "STARTED":
            return op | {"Status": "SUCCEEDED", "EndTimestamp": now_ms}
        if kind == "retry" and op["Status"] == "PENDING":
            return op | {"Status": "READY"}
        if kind.startswith("callback") and op["Status"] == "STARTED":
            error_type = "Callback.Timeout" if kind == "callback-timeout" else "Callback.Heartbeat"
            return self.end(op_id, "TIMED_OUT", now_ms, "Error", {"ErrorType": error_type})
        return None


def wire(value: Any) -> Any:
    return json.loads(msgspec.json.encode(value))


def projection(op: Wire) -> Wire:
    """What the guide says a store sets; error messages and stack traces are the store's own,
    and a step's NextAttemptTimestamp or earlier error once it ended are not read."""
    out = {k: v for k, v in op.items() if not k.endswith("Details")}
    for key in ("StepDetails", "CallbackDetails", "ChainedInvokeDetails", "ContextDetails"):
        details = dict(op.get(key) or {})
        details.pop("NextAttemptTimestamp", None)
        if key == "StepDetails" and op["Status"] in ("SUCCEEDED", "READY"):
            details.pop("Error", None)
        if isinstance(details.get("Error"), dict):
            details["Error"] = details["Error"]["ErrorType"]
        if details:
            out[key] = details
    if "WaitDetails" in op:
        out["WaitDetails"] = op["WaitDetails"]
    return out


class WireRuntime:
    """Runs one execution on a TableStore, the reference store checking every change."""

    def __init__(self, arn: str, input_json: str) -> None:
        self.arn, self.now_ms = arn, START_MS
        self.store = TableStore(input_json)
        self.reference = {"exec": msgspec.convert(self.store.ops["exec"], rt.Operation)}
        ids = itertools.count()
        self.new_callback_id = lambda: f"cb-{next(ids):04d}"
        self.news: list[Wire] = []
        self.compared = 0

    def agree(self) -> None:
        mine = {k: projection(v) for k, v in self.store.ops.items()}
        theirs = {k: projection(wire(v)) for k, v in self.reference.items()}
        assert mine == theirs
        self.compared += 1

    def operations(self, ops: list[Wire]) -> list[rt.Operation]:
        return msgspec.convert(ops, list[rt.Operation])

    def checkpoint(self, updates: list[rt.OperationUpdate]) -> list[rt.Operation]:
        applied = rt.apply_updates(
            self.reference, updates, now_ms=self.now_ms, new_callback_id=self.new_callback_id
        )
        changed = self.store.apply(wire(updates), self.now_ms)
        touched = {u.id for u in updates}
        assert {(t.kind, t.operation_id): (t.due_ms, t.seconds) for t in applied.timers} == {
            key: armed for key, armed in self.store.timers.items() if key[1] in touched
        }
        for op_id, function, payload in self.store.invokes:
            try:
                result = json.dumps(FUNCTIONS[function](json.loads(payload) if payload else None))
            except Exception as exc:
                error = {"ErrorType": type(exc).__name__, "ErrorMessage": str(exc)}
                rt.complete_invoke(
                    self.reference,
                    op_id,
                    now_ms=self.now_ms,
                    error=msgspec.convert(error, rt.ErrorObject),
                )
                changed.append(self.store.end(op_id, "FAILED", self.now_ms, "Error", error))
            else:
                rt.complete_invoke(self.reference, op_id, now_ms=self.now_ms, result=result)
                changed.append(self.store.end(op_id, "SUCCEEDED", self.now_ms, "Result", result))
        self.store.invokes.clear()
        self.agree()
        return self.operations(changed)

    def answer(self, callback_id: str, plan: tuple[str, Any]) -> None:
        kind, value = plan
        (op_id,) = [
            k
            for k, op in self.store.ops.items()
            if op.get("CallbackDetails", {}).get("CallbackId") == callback_id
        ]
        if kind == "ok":
            result = json.dumps(value)
            rt.complete_callback(self.reference, callback_id, now_ms=self.now_ms, result=result)
            self.news.append(self.store.end(op_id, "SUCCEEDED", self.now_ms, "Result", result))
        elif kind == "fail":
            error = {"ErrorType": "Refused", "ErrorMessage": value}
            rt.complete_callback(
                self.reference,
                callback_id,
                now_ms=self.now_ms,
                error=msgspec.convert(error, rt.ErrorObject),
            )
            self.news.append(self.store.end(op_id, "FAILED", self.now_ms, "Error", error))
        elif kind == "heartbeat":
            due, seconds = self.store.timers["callback-heartbeat", op_id]
            armed = rt.Timer(
                kind="callback-heartbeat", operation_id=op_id, due_ms=due, seconds=seconds
            )
            again = rt.heartbeat_callback(self.reference, callback_id, armed, now_ms=self.now_ms)
            self.store.arm("callback-heartbeat", op_id, self.now_ms, seconds)
            assert (
                again is not None
                and (again.due_ms, again.seconds) == self.store.timers["callback-heartbeat", op_id]
            )
        self.agree()

    def invoke(self) -> rt.Outcome:
        interp = rt.Interpreter(
            everything,
            self.operations(list(self.store.ops.values())),
            execution_arn=self.arn,
            clock=lambda: self.now_ms / 1000,
        )
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                interp.observe(self.checkpoint(action.updates))
            elif isinstance(action, rt.RunTasks):
                for task in action.tasks:  # inline, one after the other
                    try:
                        value = task.fn(*task.args, **task.kwargs)
                        if task.is_async:
                            value = asyncio.run(value)
                    except Exception as exc:
                        interp.task_failed(task, exc)
                    else:
                        interp.task_succeeded(task, value)
            else:
                assert isinstance(action, rt.Done)
                return action.outcome

    def run(self) -> rt.Outcome:
        _answer.append(self.answer)
        try:
            while True:
                outcome = self.invoke()
                if not isinstance(outcome, rt.Suspended):
                    return outcome
                if self.news:  # answered during the invocation: invoke again
                    self.news.clear()
                    continue
                (kind, op_id), (due, seconds) = min(
                    self.store.timers.items(), key=lambda item: item[1][0]
                )
                del self.store.timers[kind, op_id]
                self.now_ms = max(self.now_ms, due)
                timer = rt.Timer(kind=kind, operation_id=op_id, due_ms=due, seconds=seconds)  # type: ignore[arg-type]
                rt.fire_timer(self.reference, timer, now_ms=self.now_ms)
                fired = self.store.fire(kind, op_id, self.now_ms)
                if fired is not None:
                    self.store.ops[op_id] = fired
                self.agree()
        finally:
            _answer.pop()


def test_a_store_written_from_the_table_runs_replays_and_agrees_with_the_reference() -> None:
    arn, status, result, _ = run_on_engine(everything, 5)
    assert status == "SUCCEEDED" and result is not None
    _calls.clear()
    runtime = WireRuntime(arn, "5")
    outcome = runtime.run()
    assert outcome == rt.Succeeded(result=result)
    assert runtime.compared > 40
    history = {"DurableExecutionArn": arn, "Operations": list(runtime.store.ops.values())}
    report = replay(everything, json.dumps(history))
    assert report.ok and report.outcome == "succeeded", report.message
    assert json.loads(msgspec.json.encode(report.result)) == json.loads(result)
