"""What the durable logger writes in a runtime of one's own, across invocations and crashes.

An asyncio runtime written from docs/embedding.md with public imports only: one JSON file per
execution (operations and armed timers), a process that dies after a checkpoint (every object
dropped: the next one starts from the files alone), an ``Invoke`` of a workflow run as an
execution of the same runtime, a callback kept alive by heartbeats and answered by name.
docs/observability.md promises, for what ``dg.get_logger()`` writes: each line once per
execution without crashes; after a crash, never a line lost and only lines since the last
checkpoint again; step lines carry their execution, operation and attempt; workflow lines
their execution only, never the ``replaying`` mark.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import pathlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt

LOGGER = "tests.embedding.crash_lines"
log = dg.get_logger(LOGGER)
#: How often each step function ran (by argument), across crashes: what retries count on.
RUNS: Counter[str] = Counter()


@dg.step(retry=dg.Retry(max_attempts=4, initial_delay=2, backoff=3, jitter="none"))
def flaky(x: int) -> int:
    RUNS["flaky"] += 1
    log.info("flaky run")
    if RUNS["flaky"] < 3:
        raise ConnectionError("down")
    return x + 100


@dg.step
async def item(x: int) -> int:
    log.info("item %s", x)
    await asyncio.sleep(0)
    return x * 10


@dg.step
def branch(name: str) -> str:
    log.info("branch %s", name)
    return name.upper()


def send_link(callback_id: str) -> None:
    log.info("link sent")


@dg.workflow
def child(x: int) -> dg.Workflow[str]:
    log.info("child start %s", x)
    yield dg.Wait(seconds=5, name="child-wait")
    result = yield branch(f"c{x}")
    log.info("child done")
    return result


@dg.workflow
def parent(x: int) -> dg.Workflow[dict[str, Any]]:
    log.info("parent start")
    a = yield flaky(x)
    m = yield dg.Map(item, [1, 2, 3], max_concurrency=2, name="items")
    p = yield dg.Parallel(
        [functools.partial(branch, "left"), functools.partial(branch, "right")], name="par"
    )
    log.info("before approval")
    approval = yield dg.WaitForCallback(
        send_link, name="approval", timeout=600, heartbeat_timeout=60
    )
    c = yield dg.Invoke("child", 7, name="call-child")
    log.info("parent done")
    return {"a": a, "m": m.results(), "p": p.results(), "approval": approval, "child": c}


WORKFLOWS: dict[str, Callable[..., Any]] = {"parent": parent, "child": child}


class Crash(BaseException):
    """The process dies (after a checkpoint was written, before its reply was observed)."""


class FileRuntime:
    """One process of the runtime: everything it knows is read from ``folder``."""

    def __init__(self, folder: pathlib.Path, now_ms: int, crash_after: int | None) -> None:
        self.folder = folder
        self.now_ms = now_ms
        self.crash_after = crash_after
        self.checkpoints = 0

    # --- the store: one JSON file per execution ---------------------------------------------

    def load(self, arn: str) -> dict[str, Any]:
        data = json.loads((self.folder / f"{arn}.json").read_text())
        ops = msgspec.convert(data["operations"], list[rt.Operation])
        data["operations"] = {op.id: op for op in ops}
        data["timers"] = msgspec.convert(data["timers"], list[rt.Timer])
        return data

    def save(self, arn: str, data: dict[str, Any]) -> None:
        out = dict(data, operations=list(data["operations"].values()))
        tmp = self.folder / f"{arn}.tmp"
        tmp.write_bytes(msgspec.json.encode(out))
        tmp.replace(self.folder / f"{arn}.json")

    def start(self, arn: str, workflow: str, input_json: str, parent: list[str] | None) -> None:
        execution = rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            start_timestamp=self.now_ms,
            execution_details=rt.ExecutionDetails(input_payload=input_json),
        )
        self.save(
            arn,
            {
                "workflow": workflow,
                "status": "RUNNING",
                "parent": parent,
                "result": None,
                "ready": True,
                "operations": {"exec": execution},
                "timers": [],
            },
        )

    def arns(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.json"))

    @staticmethod
    def arm(data: dict[str, Any], timers: list[rt.Timer]) -> None:
        kept = {(t.kind, t.operation_id): t for t in data["timers"]}  # one per kind and op
        kept.update({(t.kind, t.operation_id): t for t in timers})
        data["timers"] = list(kept.values())

    # --- one invocation ------------------------------------------------------------------------

    async def invoke(self, arn: str) -> rt.Outcome:
        data = self.load(arn)
        now_ms = self.now_ms
        interp = rt.Interpreter(
            WORKFLOWS[data["workflow"]],
            list(data["operations"].values()),
            execution_arn=arn,
            clock=lambda: now_ms / 1000,
        )
        running: dict[asyncio.Future[Any], rt.StepTask] = {}
        try:
            while True:
                action = interp.next_action()
                if isinstance(action, rt.Flush):
                    applied = rt.apply_updates(data["operations"], action.updates, now_ms=now_ms)
                    self.arm(data, applied.timers)
                    for request in applied.invokes:
                        child_arn = f"{arn}-{request.operation_id[:8]}"
                        self.start(
                            child_arn,
                            request.function_name,
                            request.payload or "null",
                            [arn, request.operation_id],
                        )
                    self.save(arn, data)
                    self.checkpoints += 1
                    if self.checkpoints == self.crash_after:
                        raise Crash
                    interp.observe(applied.operations)
                elif isinstance(action, rt.RunTasks):
                    for task in action.tasks:
                        call = (
                            task.fn(*task.args, **task.kwargs)
                            if task.is_async
                            else asyncio.to_thread(task.fn, *task.args, **task.kwargs)
                        )
                        running[asyncio.ensure_future(call)] = task
                elif isinstance(action, rt.WaitForTasks):
                    done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    for future in done:
                        task = running.pop(future)
                        error = future.exception()
                        if error is None:
                            interp.task_succeeded(task, future.result())
                        else:
                            assert isinstance(error, Exception)
                            interp.task_failed(task, error)
                else:
                    outcome = action.outcome
                    break
        finally:
            interp.close()
            for future in running:
                future.cancel()
        self.end(arn, data, outcome)
        return outcome

    def end(self, arn: str, data: dict[str, Any], outcome: rt.Outcome) -> None:
        data["ready"] = False
        if isinstance(outcome, rt.Suspended):
            self.save(arn, data)
            return
        status = "SUCCEEDED" if isinstance(outcome, rt.Succeeded) else "FAILED"
        data["operations"]["exec"] = msgspec.structs.replace(
            data["operations"]["exec"], status=status, end_timestamp=self.now_ms
        )
        data["status"] = status
        data["result"] = outcome.result if isinstance(outcome, rt.Succeeded) else None
        self.save(arn, data)
        if data["parent"]:
            parent_arn, op_id = data["parent"]
            up = self.load(parent_arn)
            if isinstance(outcome, rt.Succeeded):
                rt.complete_invoke(
                    up["operations"], op_id, now_ms=self.now_ms, result=outcome.result
                )
            else:
                assert isinstance(outcome, rt.Failed)
                rt.complete_invoke(up["operations"], op_id, now_ms=self.now_ms, error=outcome.error)
            up["ready"] = True
            self.save(parent_arn, up)

    # --- between invocations -------------------------------------------------------------------

    def tick(self) -> None:
        """Fire the timers due, then invoke every execution that has news."""
        for arn in self.arns():
            data = self.load(arn)
            if data["status"] != "RUNNING":
                continue
            due = [t for t in data["timers"] if t.due_ms <= self.now_ms]
            data["timers"] = [t for t in data["timers"] if t.due_ms > self.now_ms]
            for timer in due:
                if rt.fire_timer(data["operations"], timer, now_ms=self.now_ms) is not None:
                    data["ready"] = True
            self.save(arn, data)
        for arn in self.arns():
            data = self.load(arn)
            if data["status"] == "RUNNING" and data["ready"]:
                asyncio.run(self.invoke(arn))

    def callback(self, name: str) -> tuple[str, dict[str, Any], rt.Operation]:
        for arn in self.arns():
            data = self.load(arn)
            for op in data["operations"].values():
                if op.type == "CALLBACK" and op.status == "STARTED":
                    assert op.callback_details is not None and op.callback_details.callback_id
                    return arn, data, op
        raise AssertionError(f"no open callback for {name}")

    def heartbeat(self) -> None:
        arn, data, op = self.callback("approval")
        assert op.callback_details is not None and op.callback_details.callback_id
        armed = next(
            t for t in data["timers"] if t.kind == "callback-heartbeat" and t.operation_id == op.id
        )
        new = rt.heartbeat_callback(
            data["operations"], op.callback_details.callback_id, armed, now_ms=self.now_ms
        )
        if new is not None:
            self.arm(data, [new])
        self.save(arn, data)

    def answer(self, value: str) -> None:
        arn, data, op = self.callback("approval")
        assert op.callback_details is not None and op.callback_details.callback_id
        rt.complete_callback(
            data["operations"], op.callback_details.callback_id, now_ms=self.now_ms, result=value
        )
        data["ready"] = True
        self.save(arn, data)

    def next_due(self, but: tuple[str, ...] = ()) -> int | None:
        dues = [
            t.due_ms
            for arn in self.arns()
            if (data := self.load(arn))["status"] == "RUNNING"
            for t in data["timers"]
            if t.kind not in but
        ]
        return min(dues) if dues else None


def drive(folder: pathlib.Path, crash_after: int | None) -> tuple[dict[str, Any], int]:
    """Run ``parent`` to its end, a new process after each crash; its result and the crashes."""
    now_ms, crashes = 0, 0

    def attempt(do: Callable[[FileRuntime], None]) -> None:
        nonlocal crashes
        while True:
            try:
                do(FileRuntime(folder, now_ms, crash_after))
                return
            except Crash:
                crashes += 1
                assert crashes < 200

    FileRuntime(folder, now_ms, None).start("ex", "parent", "5", None)
    answered = False
    for _ in range(60):
        attempt(FileRuntime.tick)
        view = FileRuntime(folder, now_ms, None)
        if view.load("ex")["status"] != "RUNNING":
            break
        waiting = any(
            op.type == "CALLBACK" and op.status == "STARTED"
            for op in view.load("ex")["operations"].values()
        )
        if waiting and not answered:
            for _ in range(2):  # 100 s in all, past the 60 s heartbeat timeout
                now_ms += 50_000
                attempt(FileRuntime.tick)
                attempt(FileRuntime.heartbeat)
            attempt(lambda r: r.answer('"yes"'))
            answered = True
            continue
        due = view.next_due()
        assert due is not None, "nothing to wait for, yet running"
        now_ms = max(now_ms, due)
    final = FileRuntime(folder, now_ms, None).load("ex")
    assert final["status"] == "SUCCEEDED", final
    return json.loads(final["result"]), crashes


@pytest.fixture
def lines() -> Iterator[list[logging.LogRecord]]:
    kept: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            kept.append(record)

    handler = Keep()
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    steps = logging.getLogger("durable_gen.steps")  # the failed-attempt lines
    steps.addHandler(handler)
    level = steps.level  # (`durable-gen worker -q`, run in-process by other tests, raises it)
    steps.setLevel(logging.WARNING)
    RUNS.clear()
    try:
        yield kept
    finally:
        logger.removeHandler(handler)
        steps.removeHandler(handler)
        steps.setLevel(level)


#: Every line an execution of ``parent`` writes: (message, execution, operation name, attempt).
EXPECTED = {
    ("parent start", "ex", None, None),
    ("flaky run", "ex", "flaky", 1),
    ("flaky run", "ex", "flaky", 2),
    ("flaky run", "ex", "flaky", 3),
    ("step 'flaky' attempt 1 failed: ConnectionError: down; retrying in 2 s", "ex", "flaky", 1),
    ("step 'flaky' attempt 2 failed: ConnectionError: down; retrying in 6 s", "ex", "flaky", 2),
    ("item 1", "ex", "item", 1),
    ("item 2", "ex", "item", 1),
    ("item 3", "ex", "item", 1),
    ("branch left", "ex", "branch", 1),
    ("branch right", "ex", "branch", 1),
    ("before approval", "ex", None, None),
    ("link sent", "ex", "approval submitter", 1),
    ("child start 7", "ex-child", None, None),
    ("branch c7", "ex-child", "branch", 1),
    ("child done", "ex-child", None, None),
    ("parent done", "ex", None, None),
}


def seen(records: list[logging.LogRecord]) -> Counter[tuple[str, str, str | None, int | None]]:
    counted: Counter[tuple[str, str, str | None, int | None]] = Counter()
    for record in records:
        fields = vars(record)
        assert "replaying" not in fields, record.getMessage()
        arn = fields["durableExecutionArn"]
        assert fields["executionArn"] == arn
        where = "ex-child" if arn.startswith("ex-") else arn
        counted[record.getMessage(), where, fields.get("operationName"), fields.get("attempt")] += 1
    return counted


@pytest.mark.parametrize("crash_after", [None, 1, 2, 3])
def test_each_line_once_and_none_lost_across_invocations_and_crashes(
    tmp_path: pathlib.Path, lines: list[logging.LogRecord], crash_after: int | None
) -> None:
    result, crashes = drive(tmp_path, crash_after)
    assert result == {
        "a": 105,
        "m": [10, 20, 30],
        "p": ["LEFT", "RIGHT"],
        "approval": "yes",
        "child": "C7",
    }
    counted = seen(lines)
    assert set(counted) == EXPECTED  # none lost, none that should not be
    if crash_after is None:
        assert crashes == 0
        assert all(n == 1 for n in counted.values()), counted  # each line once
    else:
        assert crashes > 0
        # a crash repeats only lines written since the last checkpoint: at most one more
        # time per crash, and lines of attempts whose outcome was recorded never again
        extra = sum(n - 1 for n in counted.values())
        assert extra <= crashes, counted
        for failed in ("step 'flaky' attempt 1", "step 'flaky' attempt 2"):
            assert sum(n for k, n in counted.items() if k[0].startswith(failed)) == 1
