"""Callback timeouts and heartbeats in a host that keeps its own store with the runtime's
store functions: the same outcomes, word for word, as on the embedded engine."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.testing import TestRunner
from tests.hosting import DictRuntime


def notify(callback_id: str) -> None:
    pass


def approval(_: Any) -> dg.Workflow[Any]:
    try:
        return (
            yield from dg.WaitForCallback(notify, name="approve", timeout=100, heartbeat_timeout=10)
        )
    except dg.CallbackTimeoutError as exc:
        return [exc.error_type, exc.error_message]


class Host(DictRuntime):
    """The approval workflow on a dict store, a fake clock and one timer per (kind, operation)."""

    def __init__(self) -> None:
        super().__init__(approval)

    def callback_id(self) -> str:
        (op,) = [op for op in self.store.values() if op.type == "CALLBACK"]
        assert op.callback_details is not None and op.callback_details.callback_id
        return op.callback_details.callback_id

    def heartbeat(self) -> None:
        cid = self.callback_id()
        op_id = next(op.id for op in self.store.values() if op.type == "CALLBACK")
        armed = self.timers.get(("callback-heartbeat", op_id))
        renewed = rt.heartbeat_callback(self.store, cid, armed, now_ms=self.now_ms)
        assert renewed is not None
        self.timers[renewed.kind, renewed.operation_id] = renewed


def _engine_timeout_result(beats: int) -> Any:
    runner = TestRunner(skip_time=False)
    run = runner.run(approval)
    for _ in range(beats):
        runner.advance(8)
        run.send_callback_heartbeat("approve")
    runner.advance(100)
    return run.result()


def test_heartbeats_keep_a_callback_open_and_its_answer_arrives() -> None:
    host = Host()
    assert isinstance(host.invoke(), rt.Suspended)
    for beat in range(1, 4):  # every 8 s: past the 10 s heartbeat timeout of the first timer
        host.advance_to(beat * 8_000)
        host.heartbeat()
    host.advance_to(30_000)
    rt.complete_callback(host.store, host.callback_id(), now_ms=host.now_ms, result='"yes"')
    assert host.invoke() == rt.Succeeded('"yes"')


@pytest.mark.parametrize("beats", [0, 2])
def test_a_missed_heartbeat_times_out_as_on_the_engine(beats: int) -> None:
    host = Host()
    host.invoke()
    for beat in range(1, beats + 1):
        host.advance_to(beat * 8_000)
        host.heartbeat()
    host.advance_to(200_000)
    outcome = host.invoke()
    assert isinstance(outcome, rt.Succeeded)
    result = msgspec.json.decode(outcome.result)
    assert result[0] == "Callback.Heartbeat"
    assert result == _engine_timeout_result(beats)


def overall(_: Any) -> dg.Workflow[Any]:
    handle = yield from dg.CreateCallback(name="c", timeout=30)
    try:
        return (yield from handle)
    except dg.CallbackTimeoutError as exc:
        return [exc.error_type, exc.error_message]


def test_an_overall_timeout_reads_as_on_the_engine() -> None:
    store = {
        "exec": rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            execution_details=rt.ExecutionDetails(input_payload="null"),
        )
    }
    interp = rt.Interpreter(overall, list(store.values()))
    action = interp.next_action()
    assert isinstance(action, rt.Flush)
    (timer,) = rt.apply_updates(store, action.updates, now_ms=5_000).timers
    assert (timer.kind, timer.due_ms, timer.seconds) == ("callback-timeout", 35_000, 30)
    rt.fire_timer(store, timer, now_ms=35_000)
    done = rt.Interpreter(overall, list(store.values())).next_action()
    assert isinstance(done, rt.Done) and isinstance(done.outcome, rt.Succeeded)
    runner = TestRunner(skip_time=False)
    run = runner.run(overall)
    runner.advance(30)
    assert msgspec.json.decode(done.outcome.result) == run.result()


def test_a_heartbeat_for_a_closed_callback_or_with_a_wrong_timer_is_refused() -> None:
    host = Host()
    host.invoke()
    cid = host.callback_id()
    wait_timer = rt.Timer(kind="wait", operation_id="x", due_ms=0, seconds=1)
    with pytest.raises(dg.ValidationError, match="'callback-heartbeat' Timer"):
        rt.heartbeat_callback(host.store, cid, wait_timer, now_ms=0)
    op_id = next(op.id for op in host.store.values() if op.type == "CALLBACK")
    by_hand = rt.Timer(kind="callback-heartbeat", operation_id=op_id, due_ms=10_000)
    with pytest.raises(dg.ValidationError, match="'callback-heartbeat' Timer"):
        rt.heartbeat_callback(host.store, cid, by_hand, now_ms=0)  # no seconds: no deadline
    rt.complete_callback(host.store, cid, now_ms=0, result="1")
    with pytest.raises(dg.InvalidCheckpointError, match="already SUCCEEDED"):
        rt.heartbeat_callback(host.store, cid, None, now_ms=0)
    with pytest.raises(dg.InvalidCheckpointError, match="no started callback"):
        rt.heartbeat_callback(host.store, "nope", None, now_ms=0)
