"""Plugins on a store of one's own: ``rt.invoke`` against a ``DurableService`` over a dict.

Written from docs/embedding.md ("Keep the driver, bring a store") and docs/observability.md:
the service keeps its operations in a dict changed by ``apply_updates``, fires timers by hand
and answers callbacks itself. What the plugins report must not depend on whether one plugin
instance saw every invocation or each invocation ran in a new process (a new instance), and the
telemetry record must time the execution from the start its store recorded.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.plugins import AttemptInfo, InvocationInfo, OperationInfo, OperationSnapshot
from durable_gen.telemetry import TelemetryPlugin

START_MS = 1_735_689_600_000
ARN = "arn:aws:lambda:us-east-1:000000000000:function:orders:$LATEST/durable-execution/o-1/1"


class DictService:
    """A ``DurableService`` over a dict of operations; one invocation at a time."""

    def __init__(self, payload: Any, *, record_start: bool = True) -> None:
        self.now_ms = START_MS
        self.store: dict[str, rt.Operation] = {
            "exec": rt.Operation(
                id="exec",
                type="EXECUTION",
                status="STARTED",
                start_timestamp=START_MS if record_start else None,
                execution_details=rt.ExecutionDetails(input_payload=json.dumps(payload)),
            )
        }
        self.timers: dict[tuple[str, str], rt.Timer] = {}
        self._tokens = itertools.count()
        self.token = ""

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Sequence[rt.OperationUpdate]
    ) -> rt.CheckpointResponse:
        assert checkpoint_token == self.token
        applied = rt.apply_updates(self.store, list(updates), now_ms=self.now_ms)
        for timer in applied.timers:
            self.timers[timer.kind, timer.operation_id] = timer
        self.token = f"t{next(self._tokens)}"
        return rt.CheckpointResponse(
            checkpoint_token=self.token,
            new_execution_state=rt.ExecutionState(operations=list(applied.operations)),
        )

    def get_state(
        self, execution_arn: str, checkpoint_token: str, marker: str
    ) -> rt.ExecutionState:
        return rt.ExecutionState(operations=list(self.store.values()))

    def invoke(self, workflow: Any, plugins: list[dg.Plugin]) -> rt.InvocationOutput:
        self.token = f"t{next(self._tokens)}"
        event = rt.InvocationInput(
            durable_execution_arn=ARN,
            checkpoint_token=self.token,
            initial_execution_state=rt.ExecutionState(operations=list(self.store.values())),
        )
        return rt.invoke(workflow, event, self, plugins=plugins)

    def between(self) -> bool:
        """Answer an open callback, else fire the next timer; False when nothing is left."""
        for op in self.store.values():
            if op.type == "CALLBACK" and op.status == "STARTED" and op.callback_details:
                callback_id = op.callback_details.callback_id or ""
                self.now_ms += 3_000  # the answer comes 3 s later
                rt.complete_callback(self.store, callback_id, now_ms=self.now_ms, result='"ok"')
                for key in [k for k in self.timers if k[1] == op.id]:
                    del self.timers[key]
                return True
        if not self.timers:
            return False
        timer = min(self.timers.values(), key=lambda t: t.due_ms)
        del self.timers[timer.kind, timer.operation_id]
        self.now_ms = max(self.now_ms, timer.due_ms)
        rt.fire_timer(self.store, timer, now_ms=self.now_ms)
        return True


class Recorder(dg.Plugin):
    def __init__(self, log: list[tuple[Any, ...]]) -> None:
        self.log = log

    def on_invocation_start(self, info: InvocationInfo) -> None:
        self.log.append(("invocation start", info.first))

    def on_operation_change(self, op: OperationSnapshot) -> None:
        self.log.append(("change", op.name, op.status, op.previous_status, op.by_service))

    def on_operation_start(self, op: OperationInfo) -> None:
        self.log.append(("start", op.name))

    def on_operation_end(self, op: OperationInfo, status: str) -> None:
        self.log.append(("end", op.name, status))

    def on_attempt_start(self, attempt: AttemptInfo) -> None:
        self.log.append(("attempt", attempt.name, attempt.attempt))

    def on_attempt_end(self, attempt: AttemptInfo, outcome: str, error: Any) -> None:
        self.log.append(("attempt end", attempt.name, attempt.attempt, outcome))

    def on_execution_end(self, info: Any, status: str, result: Any, error: Any) -> None:
        self.log.append(("execution end", status, result))

    def on_invocation_end(self, info: InvocationInfo, status: str) -> None:
        self.log.append(("invocation end", status))


runs: list[int] = []


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=2, jitter="none"))
def flaky(n: int) -> int:
    runs.append(n)
    if len(runs) == 1:
        raise ConnectionError("try again")
    return n


def notify(callback_id: str) -> None:
    pass


def item(x: int) -> dg.Workflow[int]:
    yield from dg.Wait(seconds=1, name="item-wait")
    return x


def order(n: int) -> dg.Workflow[Any]:
    value = yield from flaky(n)
    yield from dg.Wait(seconds=10, name="cool-off")
    answer = yield from dg.WaitForCallback(notify, name="approval", timeout=60)
    items = yield from dg.Map(item, [1, 2], name="items", max_concurrency=1)
    return [value, answer, items.results()]


def _run(fresh: bool, *, record_start: bool = True) -> tuple[list[Any], list[str], int]:
    runs.clear()
    service = DictService(5, record_start=record_start)
    log: list[tuple[Any, ...]] = []
    records: list[str] = []

    def plugins() -> list[dg.Plugin]:
        return [Recorder(log), TelemetryPlugin(records.append, clock=lambda: service.now_ms)]

    shared = plugins()
    invocations = 0
    while True:
        invocations += 1
        output = service.invoke(order, plugins() if fresh else shared)
        if output.status != "PENDING" or not service.between():
            break
    assert output.status == "SUCCEEDED", output
    assert output.result == '[5,"ok",[1,2]]'
    return log, records, invocations


def test_hooks_and_the_record_do_not_depend_on_the_instance_that_saw_earlier_invocations() -> None:
    shared_log, shared_records, invocations = _run(fresh=False)
    fresh_log, fresh_records, _ = _run(fresh=True)
    assert invocations == 6  # retry, wait, callback, two item waits
    assert fresh_log == shared_log
    assert fresh_records == shared_records
    assert [e for e in shared_log if e[0] in ("invocation start", "invocation end")] == [
        ("invocation start", True),
        *[("invocation end", "PENDING"), ("invocation start", False)] * (invocations - 1),
        ("invocation end", "SUCCEEDED"),
    ]
    assert [e for e in shared_log if e[0].startswith("attempt") and e[1] == "flaky"] == [
        ("attempt", "flaky", 1),
        ("attempt end", "flaky", 1, "FAILED"),
        ("attempt", "flaky", 2),
        ("attempt end", "flaky", 2, "SUCCEEDED"),
    ]
    assert shared_log.count(("execution end", "SUCCEEDED", '[5,"ok",[1,2]]')) == 1


def test_the_record_times_the_execution_from_the_start_the_store_recorded() -> None:
    _, (text,), _ = _run(fresh=True)
    record = json.loads(text)
    # 2 s retry delay + 10 s wait + 3 s to the answer + two 1 s item waits
    assert record["durationMs"] == 17_000
    assert record["startTime"] == "2025-01-01T00:00:00.000Z"
    assert record["endTime"] == "2025-01-01T00:00:17.000Z"
    assert record["operationsByName"]["flaky"]["maxAttempt"] == 2
    assert record["operationsByName"]["items"]["status"] == "SUCCEEDED"


@pytest.mark.parametrize("fresh", [False, True])
def test_without_a_recorded_start_the_record_starts_when_it_is_written(fresh: bool) -> None:
    _, (text,), _ = _run(fresh=fresh, record_start=False)
    record = json.loads(text)
    assert record["durationMs"] == 0  # as docs/embedding.md says: record the start
    assert record["startTime"] == record["endTime"] == "2025-01-01T00:00:17.000Z"
