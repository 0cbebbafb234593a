"""Values come back in their declared types on every engine path: in memory, on SQLite resumed
by fresh processes, replayed by ``durable_gen.testing.replay``, and in a runtime built from
``durable_gen.runtime`` whose store is JSON between invocations. The workflow
(tests/typing/values.py, also checked by ``mypy --strict``) checks each value it receives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.testing import TestRunner, replay

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "typing"))

import values  # noqa: E402  (tests/typing is not a package)

ANSWER = {"street": "cb", "zip": 1}


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_in_memory_and_replayed(payload_format: Any) -> None:
    runner = TestRunner(functions={"tax": values.tax}, payload_format=payload_format)
    run = runner.run(values.typed_order, "ada")
    run.send_callback_success("approval", ANSWER)
    runner.run_until_idle()
    assert run.result() == []
    report = replay(values.typed_order, run.export())
    assert report.ok and report.outcome == "succeeded", report.message
    assert report.result == []


def test_on_sqlite_resumed_by_fresh_processes(tmp_path: Path) -> None:
    db = str(tmp_path / "typed.db")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "typing"), str(ROOT)])}
    env.pop("DURABLE_GEN_DB", None)

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "durable_gen.cli", *args, "--db", db],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    arn = cli("start", "values:typed_order", "--input", '"ada"', "--arn").strip()
    worker = ("worker", "--once", "-q", "--skip-time", "--register", "tax=values:tax")
    cli(*worker)  # runs to the callback; the map's waits pass in virtual time
    state = json.loads(cli("history", arn, "--json"))
    (started,) = [e for e in state["Events"] if e["EventType"] == "CallbackStarted"]
    callback_id = started["CallbackStartedDetails"]["CallbackId"]
    cli("callback", "succeed", callback_id, json.dumps(ANSWER))
    cli(*worker)  # a new process replays everything recorded, then finishes
    listed = json.loads(cli("list", "--json"))
    (execution,) = listed
    assert execution["status"] == "SUCCEEDED", execution["error"]
    assert json.loads(execution["result"]) == []


def _own_runtime(mode: rt.CheckpointMode) -> Any:
    """A host keeping its operations as JSON bytes, decoded afresh for every invocation."""
    db = msgspec.json.encode(
        [
            rt.Operation(
                id="exec",
                type="EXECUTION",
                status="STARTED",
                execution_details=rt.ExecutionDetails(input_payload='"ada"'),
            )
        ]
    )
    timers: list[rt.Timer] = []
    now = 0
    for _ in range(20):
        ops = {op.id: op for op in msgspec.json.decode(db, type=list[rt.Operation])}
        interp = rt.Interpreter(values.typed_order, list(ops.values()), checkpointing=mode)
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                applied = rt.apply_updates(ops, action.updates, now_ms=now)
                timers += applied.timers
                done = [
                    rt.complete_invoke(
                        ops,
                        i.operation_id,
                        now_ms=now,
                        result=json.dumps(values.tax(json.loads(i.payload or "null"))),
                    )
                    for i in applied.invokes
                ]
                interp.observe([*applied.operations, *done])
            elif isinstance(action, rt.RunTasks):
                for task in action.tasks:
                    interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
            else:
                assert isinstance(action, rt.Done)
                break
        db = msgspec.json.encode(list(ops.values()))
        if not isinstance(action.outcome, rt.Suspended):
            return action.outcome
        open_callbacks = [o for o in ops.values() if o.type == "CALLBACK" and o.status == "STARTED"]
        if open_callbacks:  # answered before its timeout timer fires
            details = open_callbacks[0].callback_details
            assert details is not None and details.callback_id
            rt.complete_callback(ops, details.callback_id, now_ms=now, result=json.dumps(ANSWER))
        else:
            timers.sort(key=lambda t: t.due_ms)
            timer = timers.pop(0)
            now = max(now, timer.due_ms)
            rt.fire_timer(ops, timer, now_ms=now)
        db = msgspec.json.encode(list(ops.values()))
    raise AssertionError("the execution did not end")


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_in_a_runtime_of_ones_own(mode: rt.CheckpointMode) -> None:
    assert _own_runtime(mode) == rt.Succeeded("[]")


def test_a_wrong_value_is_reported_by_the_check() -> None:
    # The check can fail: a workflow given an untyped callback answer sees a dict.
    def untyped(_: Any) -> dg.Workflow[bool]:
        answer = yield from dg.WaitForCallback(values.send, name="approval")
        return isinstance(answer, values.Address)

    runner = TestRunner()
    run = runner.run(untyped)
    run.send_callback_success("approval", ANSWER)
    runner.run_until_idle()
    assert run.result() is False
