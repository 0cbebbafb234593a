"""TestRunner: virtual time, callbacks by name, operations by name, invokes, export."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, current_attempt, replay

calls: list[str] = []


@pytest.fixture(autouse=True)
def _clear() -> None:
    calls.clear()


@dg.step
def charge(amount: int) -> str:
    calls.append("charge")
    return f"receipt-{amount}"


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=10, backoff=1, jitter="none"))
def flaky() -> str:
    info = current_attempt()
    assert info is not None
    calls.append(f"flaky#{info.attempt}")
    if info.attempt < 3:
        raise TimeoutError("try again")
    return "ok"


def notify(callback_id: str) -> None:
    calls.append("notify")


def place_order(order: dict[str, Any]):  # type: ignore[no-untyped-def]
    receipt = yield charge(order["amount"])
    started = yield dg.Now()
    yield dg.Wait(seconds=3 * 86_400, name="cooling-off")
    approval = yield dg.WaitForCallback(notify, name="approval", timeout=3600)
    ended = yield dg.Now()
    return {"receipt": receipt, "approval": approval, "days": (ended - started).days}


def test_waits_finish_at_once_and_the_runner_stops_at_an_open_callback() -> None:
    runner = TestRunner()
    run = runner.run(place_order, {"amount": 5})
    assert run.status == "RUNNING"
    assert runner.now() == datetime(2025, 1, 4, tzinfo=UTC)  # three virtual days later
    assert run.operation("cooling-off").status == "SUCCEEDED"
    assert any("CallbackId" in line for line in run.waiting_on())
    with pytest.raises(dg.ExecutionSuspendedError):
        run.result()
    run.send_callback_success("approval", {"by": "ana"})
    runner.run_until_idle()
    assert run.result() == {"receipt": "receipt-5", "approval": {"by": "ana"}, "days": 3}
    assert calls == ["charge", "notify"]


def test_callback_failure_heartbeat_and_timeout() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            return (yield dg.WaitForCallback(notify, name="cb", timeout=600, heartbeat_timeout=60))
        except dg.CallbackTimeoutError as exc:
            return f"timeout {exc.error_type}"
        except dg.CallbackFailedError as exc:
            return f"failed {exc.error_type}: {exc.error_message}"

    runner = TestRunner()
    failed = runner.run(wf)
    failed.send_callback_failure("cb", "Rejected", "no budget")
    runner.run_until_idle()
    assert failed.result() == "failed Rejected: no budget"

    runner = TestRunner(skip_time=False)
    beating = runner.run(wf)
    runner.advance(50)
    beating.send_callback_heartbeat("cb")
    runner.advance(50)
    assert beating.status == "RUNNING"  # the heartbeat moved the deadline
    runner.advance(20)
    assert beating.result() == "timeout Callback.Heartbeat"

    runner = TestRunner()
    silent = runner.run(wf)
    assert silent.status == "RUNNING"
    runner.run_until_idle(include_callback_timeouts=True)
    assert silent.result() == "timeout Callback.Heartbeat"


def _approval_item(order: int) -> dg.Workflow[Any]:
    answer = yield dg.WaitForCallback(notify, name="approval")
    return [order, answer]


@dg.workflow
def approvals(orders: list[int]) -> dg.Workflow[Any]:
    batch = yield dg.Map(_approval_item, orders)
    return batch.results()


def test_callbacks_sharing_a_name_are_answered_in_turn() -> None:
    runner = TestRunner()
    run = runner.run(approvals, [1, 2])
    run.send_callback_success("approval", "first")
    run.send_callback_success("approval", "second")  # the other open one, not the one answered
    runner.run_until_idle()
    assert sorted(answer for _, answer in run.result()) == ["first", "second"]
    assert run.callback_id("approval") in {op.callback_id for op in run.operations(type="CALLBACK")}


def test_without_skip_time_the_clock_moves_only_on_advance() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=100, name="w")
        return (yield dg.Now()).isoformat()

    runner = TestRunner(skip_time=False, start=datetime(2030, 1, 1, tzinfo=UTC))
    run = runner.run(wf)
    assert run.operation("w").status == "STARTED"
    runner.advance(99)
    assert run.status == "RUNNING"
    runner.advance(1)
    assert run.result() == "2030-01-01T00:01:40+00:00"
    assert not runner.advance_to_next_timer()


def test_retries_are_inspected_by_name() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield flaky())

    runner = TestRunner()
    run = runner.run(wf)
    op = run.operation("flaky")
    assert (op.status, op.attempts, op.result, op.runs) == ("SUCCEEDED", 3, "ok", 3)
    assert calls == ["flaky#1", "flaky#2", "flaky#3"]
    assert runner.now() == datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=20)
    with pytest.raises(KeyError, match="recorded names: \\['flaky'\\]"):
        run.operation("nope")


def test_failed_step_error_is_visible() -> None:
    @dg.step(retry=dg.Retry.never())
    def bad() -> None:
        raise ValueError("bad input")

    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield bad()

    runner = TestRunner()
    run = runner.run(wf)
    op = run.operation("bad")
    assert op.status == "FAILED" and op.error is not None and op.error.error_type == "ValueError"
    assert run.status == "FAILED"
    with pytest.raises(dg.ExecutionFailedError, match="bad input"):
        run.result()


def test_invoke_targets_workflows_and_plain_functions() -> None:
    def tax(payload: dict[str, int]):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=5)
        return payload["amount"] // 10

    def wf(amount: int):  # type: ignore[no-untyped-def]
        t = yield dg.Invoke("tax", {"amount": amount}, name="tax")
        s = yield dg.Invoke("shipping", amount, name="ship")
        return [t, s]

    runner = TestRunner(functions={"tax": tax})
    runner.register("shipping", lambda amount: amount + 1)
    run = runner.run(wf, 100)
    assert run.result() == [10, 101]
    assert run.operation("tax").type == "CHAINED_INVOKE"
    assert len(runner.executions()) == 2


def test_export_replays_and_round_trips_through_a_file(tmp_path: Path) -> None:
    runner = TestRunner()
    run = runner.run(place_order, {"amount": 5})
    run.send_callback_success("approval", True)
    runner.run_until_idle()
    path = tmp_path / "order.json"
    data = run.export(path)
    assert data["FunctionName"].endswith("place_order")
    assert json.loads(path.read_text())["DurableExecutionArn"] == run.arn
    calls.clear()
    for source in (data, path, run.history(), runner.service.get_operations(run.arn)):
        report = replay(place_order, source)
        assert report.status == "ok", report
        assert report.result == run.result()
    assert calls == []


def test_export_replaces_a_history_whole(tmp_path: Path) -> None:
    # export() truncated the file and wrote it in place: a replay of the folder in another
    # test process (pytest-xdist) could read half a history, or an empty file, and report it
    # invalid. Now the new file replaces the old one whole: a reader that opened the old one
    # keeps all of it, and the folder never holds a partial .json.
    import os
    import stat

    from durable_gen.testing import replay_folder

    folder = tmp_path / "histories"
    runner = TestRunner()
    first = runner.run(place_order, {"amount": 5})
    path = folder / "place_order-1.json"
    first.export(path)
    os.chmod(path, 0o640)
    old = path.read_text()
    reader = path.open()  # opened before the next export
    second = runner.run(place_order, {"amount": 7})
    second.export(path)
    assert reader.read() == old  # the old file, whole
    reader.close()
    assert json.loads(path.read_text())["DurableExecutionArn"] == second.arn
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # the mode it had
    assert sorted(p.name for p in folder.iterdir()) == ["place_order-1.json"]  # no leftovers
    reports = replay_folder({"place_order": place_order}, folder)
    assert [r.ok for r in reports] == [True]


def test_history_events_from_the_engine_rebuild_the_same_operations() -> None:
    from durable_gen.testing import operations_from_events

    runner = TestRunner()
    run = runner.run(place_order, {"amount": 5})
    run.send_callback_success("approval", True)
    runner.run_until_idle()
    rebuilt = {op.id: op for op in operations_from_events(run.history())}
    for op in runner.service.get_operations(run.arn):
        got = rebuilt[op.id]
        assert (got.type, got.sub_type, got.name, got.parent_id, got.status) == (
            op.type,
            op.sub_type,
            op.name,
            op.parent_id,
            op.status,
        )
        if op.step_details is not None:
            assert got.step_details is not None
            assert (got.step_details.result, got.step_details.attempt) == (
                op.step_details.result,
                op.step_details.attempt,
            )


def test_same_execution_arn_gives_the_same_uuid() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return str((yield dg.UUID()))

    a = TestRunner().run(wf, execution_arn="arn:x").result()
    b = TestRunner().run(wf, execution_arn="arn:x").result()
    c = TestRunner().run(wf).result()
    assert a == b != c


@pytest.mark.parametrize("timeout", [None, 5.0], ids=["no-timeout", "timeout"])
def test_current_attempt_in_a_sync_step_with_or_without_a_timeout(timeout: float | None) -> None:
    @dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1), timeout=timeout)
    def flaky() -> str:
        info = current_attempt()
        assert info is not None
        if info.attempt < 3:
            raise TimeoutError("not yet")
        return f"ok at {info.attempt}"

    @dg.workflow
    def wf(_: None):  # type: ignore[no-untyped-def]
        return (yield flaky())

    assert TestRunner().run(wf, None).result() == "ok at 3"


@pytest.mark.parametrize("skip_time", [True, False])
def test_advance_to_next_timer_fires_just_the_next_timer(skip_time: bool) -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=10, name="w1")
        yield dg.Wait(seconds=20, name="w2")
        yield dg.Wait(seconds=30, name="w3")
        return "done"

    runner = TestRunner(skip_time=skip_time, start=datetime(2030, 1, 1, tzinfo=UTC))
    run = runner.start(wf)

    def statuses() -> list[tuple[str | None, str]]:
        return [(op.name, op.status) for op in run.operations()]

    assert runner.advance_to_next_timer()  # the first invocation is due now; then w1 fires
    assert runner.now() == datetime(2030, 1, 1, 0, 0, 10, tzinfo=UTC)
    assert statuses() == [("w1", "SUCCEEDED"), ("w2", "STARTED")]
    assert runner.advance_to_next_timer()
    assert runner.now() == datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC)
    assert statuses() == [("w1", "SUCCEEDED"), ("w2", "SUCCEEDED"), ("w3", "STARTED")]
    assert run.status == "RUNNING"
    assert runner.advance_to_next_timer()
    assert run.result() == "done"
    assert runner.now() == datetime(2030, 1, 1, 0, 1, 0, tzinfo=UTC)
    assert not runner.advance_to_next_timer()
