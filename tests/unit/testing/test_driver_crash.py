"""A BaseException raised by a step stops the invocation, whether the step runs inline or in a
worker thread (Map/Parallel); it is never recorded as a step failure."""

# Async steps are left out: a BaseException raised in the driver's anyio portal stops the
# portal, and a step submitted to it afterwards fails with RuntimeError instead (a race).

from __future__ import annotations

from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local import LocalService, VirtualClock


class Crash(BaseException):
    pass


crash_on: set[int] = set()


def work(x: int) -> int:
    if x in crash_on:
        crash_on.discard(x)
        raise Crash
    return x


def test_a_crash_in_a_concurrent_step_abandons_the_invocation() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        batch = yield dg.Map(work, [0, 1, 2], completion=dg.Completion.all_completed())
        return [i.status for i in batch.items]

    service = LocalService(clock=VirtualClock())
    service.register("wf", dg.make_handler(wf, service))
    arn = service.start("wf", "null")
    crash_on.add(1)
    with pytest.raises(Crash):
        service.run(arn)
    assert service.get_execution(arn).status == "RUNNING"
    assert not [op for op in service.get_operations(arn) if op.status == "FAILED"]
    record = service.run(arn)  # the engine re-invokes from what was persisted
    assert record.status == "SUCCEEDED" and record.result == '["SUCCEEDED","SUCCEEDED","SUCCEEDED"]'
