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


def _store(input_payload: str) -> dict[str, rt.Operation]:
    return {
        "exec": rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            start_timestamp=0,
            execution_details=rt.ExecutionDetails(input_payload=input_payload),
        )
    }


@dg.step
def _plus_one(x: int) -> int:
    return x + 1


def _waits_between_steps(x: int):  # type: ignore[no-untyped-def]
    a = yield _plus_one(x)
    yield dg.Wait(seconds=5, name="w")
    b = yield _plus_one(a)
    return [a, b]


def _until_done(interp: rt.Interpreter, store: dict[str, rt.Operation], now_ms: int) -> Any:
    timers: list[rt.Timer] = []
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            applied = rt.apply_updates(store, action.updates, now_ms=now_ms)
            timers += applied.timers
            interp.observe(applied.operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
        else:
            assert isinstance(action, rt.Done)
            return action.outcome, timers


def test_a_closed_interpreter_refuses_news_instead_of_suspending_on_nothing() -> None:
    """``Done(Suspended)`` is not final: a live interpreter takes news (``observe()``) and
    goes on. A closed one cannot (its workflow code was closed): fed the news of the wait
    that fired, it answered ``Suspended(waiting_on=[])``, an execution that waits on nothing
    and never resumes. It refuses with a ``ValidationError`` that says to build a new
    interpreter; one built from the store goes on."""
    store = _store("1")
    interp = rt.Interpreter(_waits_between_steps, list(store.values()), execution_arn="arn:c")
    outcome, timers = _until_done(interp, store, 0)
    assert isinstance(outcome, rt.Suspended) and len(timers) == 1
    interp.close()
    fired = rt.fire_timer(store, timers[0], now_ms=5_000)
    assert fired is not None
    with pytest.raises(dg.ValidationError, match=r"closed.*new Interpreter"):
        interp.observe([fired])
    with pytest.raises(dg.ValidationError, match=r"closed.*new Interpreter"):
        interp.next_action()
    again = rt.Interpreter(_waits_between_steps, list(store.values()), execution_arn="arn:c")
    outcome, _ = _until_done(again, store, 5_000)
    again.close()
    assert outcome == rt.Succeeded("[2,3]")


def test_a_live_interpreter_goes_on_after_news() -> None:
    store = _store("1")
    interp = rt.Interpreter(_waits_between_steps, list(store.values()), execution_arn="arn:l")
    outcome, timers = _until_done(interp, store, 0)
    assert isinstance(outcome, rt.Suspended)
    fired = rt.fire_timer(store, timers[0], now_ms=5_000)
    assert fired is not None
    interp.observe([fired])
    outcome, _ = _until_done(interp, store, 5_000)
    interp.close()
    assert outcome == rt.Succeeded("[2,3]")


def test_a_closed_interpreter_refuses_every_pull_also_after_a_final_outcome() -> None:
    store = _store("1")
    interp = rt.Interpreter(_waits_between_steps, list(store.values()), execution_arn="arn:f")
    interp.close()  # given up before it ran
    with pytest.raises(dg.ValidationError, match="closed"):
        interp.next_action()
    with pytest.raises(dg.ValidationError, match="closed"):
        interp.observe([])
