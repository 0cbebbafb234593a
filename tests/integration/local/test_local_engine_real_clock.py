"""The embedded engine on the wall clock: real waits, and callbacks sent from other threads.

Every test is bounded: it fails (instead of hanging) if the engine does not wake up.
"""

from __future__ import annotations

import threading
import time

from durable_gen._wire import (
    CallbackOptions,
    InvocationInput,
    InvocationOutput,
    Operation,
    OperationUpdate,
    WaitOptions,
)
from durable_gen.local import LocalService, RealClock

WAIT_ID = "wait-1"
CALLBACK_ID = "callback-1"


def ops_of(event: InvocationInput) -> dict[str, Operation]:
    return {op.id: op for op in event.initial_execution_state.operations}


def waiting_handler(service: LocalService, seconds: int):  # type: ignore[no-untyped-def]
    def handler(event: InvocationInput) -> InvocationOutput:
        wait = ops_of(event).get(WAIT_ID)
        if wait is None:
            update = OperationUpdate(
                id=WAIT_ID,
                type="WAIT",
                action="START",
                sub_type="Wait",
                wait_options=WaitOptions(wait_seconds=seconds),
            )
            service.checkpoint(event.durable_execution_arn, event.checkpoint_token, [update])
            return InvocationOutput(status="PENDING")
        assert wait.status == "SUCCEEDED"
        return InvocationOutput(status="SUCCEEDED", result='"woke up"')

    return handler


def callback_handler(service: LocalService, **options: int):  # type: ignore[no-untyped-def]
    def handler(event: InvocationInput) -> InvocationOutput:
        callback = ops_of(event).get(CALLBACK_ID)
        if callback is None:
            update = OperationUpdate(
                id=CALLBACK_ID,
                type="CALLBACK",
                action="START",
                callback_options=CallbackOptions(**options),
            )
            service.checkpoint(event.durable_execution_arn, event.checkpoint_token, [update])
            return InvocationOutput(status="PENDING")
        if callback.status == "SUCCEEDED":
            assert callback.callback_details is not None
            return InvocationOutput(status="SUCCEEDED", result=callback.callback_details.result)
        assert callback.callback_details is not None
        return InvocationOutput(status="FAILED", error=callback.callback_details.error)

    return handler


def callback_id_of(service: LocalService, arn: str) -> str:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for op in service.get_operations(arn):
            if op.id == CALLBACK_ID and op.callback_details and op.callback_details.callback_id:
                return op.callback_details.callback_id
        time.sleep(0.01)
    raise AssertionError("the callback was never created")


def test_a_one_second_wait_takes_one_second() -> None:
    service = LocalService(clock=RealClock())
    service.register("nap", waiting_handler(service, 1))
    arn = service.start("nap")
    started = time.monotonic()
    record = service.run(arn)
    elapsed = time.monotonic() - started
    assert record.status == "SUCCEEDED" and record.result == '"woke up"'
    assert 0.9 <= elapsed < 5, elapsed
    history = service.get_history(arn)
    waited = history[3].event_timestamp - history[1].event_timestamp  # type: ignore[operator]
    assert history[3].event_type == "WaitSucceeded" and 900 <= waited < 5000


def test_run_until_idle_wakes_up_for_a_callback_from_another_thread() -> None:
    service = LocalService(clock=RealClock())
    service.register("approve", callback_handler(service, timeout_seconds=30))
    arn = service.start("approve")

    def approve_soon() -> None:
        cid = callback_id_of(service, arn)
        time.sleep(0.2)
        service.send_callback_success(cid, '"ok"')

    sender = threading.Thread(target=approve_soon, daemon=True)
    sender.start()
    started = time.monotonic()
    service.run_until_idle()  # blocks on the 30 s timeout until the callback arrives
    elapsed = time.monotonic() - started
    sender.join(5)
    assert service.get_execution(arn).status == "SUCCEEDED"
    assert elapsed < 10, elapsed
    assert service.store.next_task() is None


def test_run_with_until_waits_for_outside_events() -> None:
    service = LocalService(clock=RealClock())
    service.register("approve", callback_handler(service))  # no timeout: only the outside
    arn = service.start("approve")
    assert service.run(arn).status == "RUNNING"  # returns at once: nothing to wait for here

    def approve_soon() -> None:
        time.sleep(0.2)
        service.send_callback_success(callback_id_of(service, arn), '"late"')

    threading.Thread(target=approve_soon, daemon=True).start()
    started = time.monotonic()
    record = service.run(arn, until=service.clock.now_ms() + 10_000)
    assert record.status == "SUCCEEDED" and record.result == '"late"'
    assert time.monotonic() - started < 8


def test_run_with_until_gives_up_at_the_deadline() -> None:
    service = LocalService(clock=RealClock())
    service.register("approve", callback_handler(service))
    arn = service.start("approve")
    started = time.monotonic()
    record = service.run(arn, until=service.clock.now_ms() + 300)
    elapsed = time.monotonic() - started
    assert record.status == "RUNNING"
    assert 0.25 <= elapsed < 5, elapsed
    assert service.waiting_on(arn)[0].startswith(f"callback {CALLBACK_ID} (CallbackId ")


def test_a_heartbeat_timeout_fires_on_the_wall_clock() -> None:
    service = LocalService(clock=RealClock())
    service.register("approve", callback_handler(service, heartbeat_timeout_seconds=1))
    arn = service.start("approve")
    started = time.monotonic()
    record = service.run(arn)
    assert record.status == "FAILED"
    assert record.error is not None and record.error.error_type == "Callback.Heartbeat"
    assert 0.9 <= time.monotonic() - started < 5
