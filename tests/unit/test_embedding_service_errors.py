"""A ``DurableService`` of our own whose ``checkpoint()`` fails, from docs/embedding.md alone.

``rt.invoke`` raises what the service raised (a network error, a refused token) and records
nothing more; invoking again resumes from what was checkpointed: the same result, and no step
whose SUCCEED the service had recorded runs again.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from tests.unit.embedding_runtimes import start_store

_runs: Counter[int] = Counter()
_lock = threading.Lock()


class FlakyService:
    """A dict store behind the DurableService protocol; checkpoint number ``fail_at`` fails
    with ``error`` (before the store records it)."""

    def __init__(self, fail_at: int, error: Exception) -> None:
        self.store = start_store("null", 0)
        self.fail_at = fail_at
        self.error = error
        self.calls = 0
        self.tokens = (f"token-{n}" for n in itertools.count())
        self.token = ""
        self.succeeded_at_failure: set[str] = set()

    def event(self) -> rt.InvocationInput:
        self.token = next(self.tokens)
        return rt.InvocationInput(
            durable_execution_arn="arn:flaky-service",
            checkpoint_token=self.token,
            initial_execution_state=rt.ExecutionState(operations=list(self.store.values())),
        )

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: list[rt.OperationUpdate]
    ) -> rt.CheckpointResponse:
        self.calls += 1
        if self.calls == self.fail_at:
            self.succeeded_at_failure = {
                op.id
                for op in self.store.values()
                if op.type == "STEP" and op.status == "SUCCEEDED"
            }
            raise self.error
        if checkpoint_token != self.token:
            raise dg.InvalidCheckpointTokenError("use the newest token")
        applied = rt.apply_updates(self.store, updates, now_ms=0)
        self.token = next(self.tokens)
        return rt.CheckpointResponse(
            checkpoint_token=self.token,
            new_execution_state=rt.ExecutionState(operations=applied.operations),
        )

    def get_state(
        self, execution_arn: str, checkpoint_token: str, marker: str
    ) -> rt.ExecutionState:
        return rt.ExecutionState(operations=[])


@dg.step
def work(i: int) -> int:
    with _lock:
        _runs[i] += 1
    return i * 2


def workflow(_: object) -> Any:
    first = yield work(0)
    mapped = yield dg.Map(work, [1, 2, 3, 4], max_concurrency=4, name="m")
    last = yield work(5)
    return [first, mapped.results(), last]


@pytest.mark.parametrize(
    "error", [ConnectionError("network down"), dg.InvalidCheckpointTokenError("taken over")]
)
def test_a_failed_checkpoint_raises_and_the_next_invocation_resumes(error: Exception) -> None:
    clean = FlakyService(0, error)
    assert rt.invoke(workflow, clean.event(), clean).status == "SUCCEEDED"
    assert clean.calls >= 3
    failed = [_fail_and_resume(fail_at, error) for fail_at in range(1, clean.calls + 1)]
    assert sum(failed) >= 3


def _fail_and_resume(fail_at: int, error: Exception) -> bool:
    _runs.clear()
    service = FlakyService(fail_at, error)
    try:
        output = rt.invoke(workflow, service.event(), service)
    except type(error):
        pass
    else:  # the threads' timing joined some flushes: this run had fewer checkpoints
        assert service.calls < fail_at and output.status == "SUCCEEDED"
        return False
    succeeded = {op.id: op.name for op in service.store.values() if op.status == "SUCCEEDED"}
    before = Counter(_runs)
    output = rt.invoke(workflow, service.event(), service)
    assert output.status == "SUCCEEDED"
    assert output.result == "[0,[2,4,6,8],10]"
    # a step the service had recorded as SUCCEEDED did not run again
    again = {i for i, n in _runs.items() if n > before[i]}
    recorded = {
        int(op.step_details.result) // 2
        for op in service.store.values()
        if op.id in service.succeeded_at_failure and op.step_details and op.step_details.result
    }
    assert not again & recorded, (again, recorded, succeeded)
    assert all(n <= 2 for n in _runs.values())
    return True
