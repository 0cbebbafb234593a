"""An answer or a stop from outside that comes after a timeout nobody has fired yet.

Whoever runs the engine fires timers when they come due. When nobody ran it meanwhile (the
workers were down, or the program only answers callbacks), the timeout has passed but is not
recorded; an answer sent then was taken, and the execution went on as it never could have
with a worker running: a callback of ``timeout=2`` answered after 3 s succeeded. Now the
overdue timeouts of that execution (and of that callback) are fired first, so the answer is
refused as it would have been, and ``stop`` finds an execution that timed out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local import LocalService, SqliteStore, VirtualClock
from durable_gen.runtime import make_handler

ids: list[str] = []


@dg.step
def hand_over(callback_id: str) -> None:
    ids.append(callback_id)


@dg.workflow
def approval(options: dict[str, int]) -> Any:
    try:
        answer = yield dg.WaitForCallback(
            hand_over,
            name="approval",
            timeout=options.get("timeout"),
            heartbeat_timeout=options.get("heartbeat"),
        )
    except dg.CallbackTimeoutError as exc:
        return {"timed_out": exc.error_type}
    return {"answer": answer}


def _service(clock: VirtualClock, store: Any = None) -> LocalService:
    service = LocalService(store=store, clock=clock)
    service.register("approval", make_handler(approval, service))
    return service


def _start(service: LocalService, options: dict[str, int], **kwargs: Any) -> str:
    ids.clear()
    arn = service.start("approval", json.dumps(options), **kwargs)
    service.run(arn)
    assert service.get_execution(arn).status == "RUNNING" and len(ids) == 1
    return arn


@pytest.mark.parametrize(
    ("options", "timed_out"),
    [
        ({"timeout": 60}, "Callback.Timeout"),
        ({"timeout": 600, "heartbeat": 60}, "Callback.Heartbeat"),
    ],
)
@pytest.mark.parametrize("answer", ["succeed", "fail", "heartbeat"])
def test_an_answer_after_a_callback_timeout_nobody_fired_is_refused(
    options: dict[str, int], timed_out: str, answer: str
) -> None:
    clock = VirtualClock(auto_advance=False)
    service = _service(clock)
    arn = _start(service, options)
    clock.advance(61)  # past the timeout, and nobody runs the engine meanwhile
    send = {
        "succeed": lambda: service.send_callback_success(ids[0], '"late"'),
        "fail": lambda: service.send_callback_failure(ids[0], dg.runtime.ErrorObject("Late")),
        "heartbeat": lambda: service.send_callback_heartbeat(ids[0]),
    }[answer]
    with pytest.raises(dg.UnknownCallbackError, match="already ended \\(TIMED_OUT\\)"):
        send()
    record = service.run(arn)
    assert (record.status, json.loads(record.result or "null")) == (
        "SUCCEEDED",
        {"timed_out": timed_out},
    )
    events = [e.event_type for e in service.get_history(arn)]
    assert events.count("CallbackTimedOut") == 1 and "CallbackSucceeded" not in events


def test_an_answer_in_time_is_taken_and_the_timeout_stays_pending() -> None:
    clock = VirtualClock(auto_advance=False)
    service = _service(clock)
    arn = _start(service, {"timeout": 60, "heartbeat": 30})
    clock.advance(29)
    service.send_callback_heartbeat(ids[0])  # restarts the heartbeat timeout: 29 + 30
    clock.advance(29)
    service.send_callback_success(ids[0], '"in time"')
    record = service.run(arn)
    assert json.loads(record.result or "null") == {"answer": "in time"}


def test_an_answer_or_a_stop_after_the_execution_timed_out_meets_the_timed_out_execution() -> None:
    clock = VirtualClock(auto_advance=False)
    service = _service(clock)
    first = _start(service, {}, execution_timeout=10)
    answer = ids[0]
    second = _start(service, {}, execution_timeout=10)
    clock.advance(11)
    with pytest.raises(dg.UnknownCallbackError, match="which already ended \\(TIMED_OUT\\)"):
        service.send_callback_success(answer, '"late"')
    assert service.get_execution(first).status == "TIMED_OUT"
    record = service.stop(second)  # stopping an ended execution changes nothing
    assert record.status == "TIMED_OUT" and record.error is not None
    assert record.error.error_type == "Execution.Timeout"


def test_on_a_sqlite_file_the_answer_of_another_process_is_refused_the_same(
    tmp_path: Path,
) -> None:
    clock = VirtualClock(auto_advance=False)
    db = tmp_path / "durable.db"
    with SqliteStore(db) as store:
        arn = _start(_service(clock, store), {"timeout": 60})
    clock.advance(61)
    with SqliteStore(db) as store:  # another program, which only answers callbacks
        answering = LocalService(store=store, clock=clock)
        with pytest.raises(dg.UnknownCallbackError, match="TIMED_OUT"):
            answering.send_callback_success(ids[0], '"late"')
    with SqliteStore(db) as store:
        events = [e.event_type for e in LocalService(store=store).get_history(arn)]
    assert events[-1] == "CallbackTimedOut"


ran: list[int] = []


@dg.step
def charge(amount: int) -> int:
    ran.append(amount)
    return amount


@dg.workflow
def pay(amount: int) -> Any:
    return (yield charge(amount))


@pytest.mark.parametrize("late", [True, False])
def test_an_execution_whose_timeout_passed_before_it_ran_runs_no_step(late: bool) -> None:
    """Started with ``execution_timeout=10`` and first run 11 s later (no worker was up, or
    the one running it died): the invocation used to come first, since it was due at the
    start, and ran the step, a side effect of an execution that had timed out before it,
    which the timeout then ended. Now it ends TIMED_OUT before any step runs; on time, the
    step runs as before."""
    ran.clear()
    clock = VirtualClock(auto_advance=False)
    service = LocalService(clock=clock)
    service.register("pay", make_handler(pay, service))
    arn = service.start("pay", "5", execution_timeout=10)
    clock.advance(11 if late else 9)
    record = service.run(arn)
    if late:
        assert (record.status, ran) == ("TIMED_OUT", [])
        assert record.error is not None and record.error.error_type == "Execution.Timeout"
        events = [e.event_type for e in service.get_history(arn)]
        assert events == ["ExecutionStarted", "ExecutionTimedOut"]
    else:
        assert (record.status, ran) == ("SUCCEEDED", [5])
