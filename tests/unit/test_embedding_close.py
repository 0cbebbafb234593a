"""``Interpreter.close()``: a host's end of an invocation runs the ``finally`` blocks of workflow
code still suspended now, as code that will run again (docs/embedding.md, "The contract").

Without it a generator suspended at a ``yield`` is closed by the garbage collector whenever it
gets to it: the lines its ``finally`` logs come out at each suspension, without the
execution's fields.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from tests.hosting import DictRuntime

log = dg.get_logger("tests.embedding_close")


def cleans_up(_: Any):  # type: ignore[no-untyped-def]
    try:
        yield dg.Wait(seconds=5, name="first")
        yield dg.Wait(seconds=5, name="second")
        log.info("body done")
    finally:
        log.info("cleanup")
    return "done"


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "tests.embedding_close"]


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_the_finally_of_suspended_code_logs_once_through_a_host_that_closes(
    caplog: pytest.LogCaptureFixture, mode: rt.CheckpointMode
) -> None:
    caplog.set_level(logging.INFO)
    host = DictRuntime(cleans_up, execution_arn="arn:close", checkpointing=mode)
    outcome = host.run()
    gc.collect()
    assert isinstance(outcome, rt.Succeeded) and host.invocations == 3
    lines = _lines(caplog)
    assert [r.getMessage() for r in lines] == ["body done", "cleanup"]
    assert {getattr(r, "durableExecutionArn", None) for r in lines} == {"arn:close"}


def test_close_runs_the_finally_now_and_logs_nothing() -> None:
    ran: list[str] = []

    def flow(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield dg.Wait(seconds=5, name="w")
        finally:
            ran.append("finally")
            log.info("cleanup")

    store: dict[str, rt.Operation] = {
        "exec": rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            start_timestamp=0,
            execution_details=rt.ExecutionDetails(input_payload="null"),
        )
    }
    interp = rt.Interpreter(flow, list(store.values()), execution_arn="arn:close-now")
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        else:
            assert isinstance(action, rt.Done)
            assert isinstance(action.outcome, rt.Suspended)
            break
    assert ran == []
    interp.close()
    assert ran == ["finally"]
    interp.close()  # again: nothing left to close
    assert ran == ["finally"]
