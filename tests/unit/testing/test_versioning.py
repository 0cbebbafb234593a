"""Patched/Deprecated markers and the deterministic helpers, driven by recorded histories."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

import durable_gen as dg
from durable_gen._versioning import PATCH_SUBTYPE, marker_id
from durable_gen._wire import Operation, StepDetails
from tests import histories as h
from tests.hosting import Host, hosted

ran: list[str] = []


@dg.step
def charge(x: int) -> int:
    ran.append("charge")
    return x


@dg.step
def receipt(x: int) -> str:
    ran.append("receipt")
    return f"receipt {x}"


@dg.step
def ship(x: int) -> str:
    ran.append("ship")
    return f"shipped {x}"


@pytest.fixture(autouse=True)
def _clear() -> None:
    ran.clear()


def old(x: int):  # type: ignore[no-untyped-def]
    yield charge(x)
    return (yield ship(x))


def new(x: int):  # type: ignore[no-untyped-def]
    yield charge(x)
    if (yield dg.Patched("send-receipt")):
        yield receipt(x)
    return (yield ship(x))


def deprecated(x: int):  # type: ignore[no-untyped-def]
    yield charge(x)
    yield dg.Deprecated("send-receipt")
    yield receipt(x)
    return (yield ship(x))


def done(x: int):  # type: ignore[no-untyped-def]
    yield charge(x)
    yield receipt(x)
    return (yield ship(x))


def marker(
    change_id: str = "send-receipt", parent: str | None = None, ctx: str | None = None
) -> Operation:
    return Operation(
        id=marker_id(ctx if ctx is not None else parent, change_id),
        parent_id=parent,
        type="STEP",
        sub_type=PATCH_SUBTYPE,
        name=change_id,
        status="SUCCEEDED",
        step_details=StepDetails(attempt=1),
    )


OLD_HISTORY = [h.step(1, 1, name="charge"), h.step(2, "shipped 1", name="ship")]
NEW_HISTORY = [
    h.step(1, 1, name="charge"),
    marker(),
    h.step(2, "receipt 1", name="receipt"),
    h.step(3, "shipped 1", name="ship"),
]


def replay(workflow: Any, *ops: Operation) -> Host:
    it = hosted(workflow, [h.execution(1), *ops], execution_arn="arn:test")
    it.advance()
    return it


def drive(it: Host) -> list[Any]:
    """Run every task the interpreter hands out; return all updates."""
    updates: list[Any] = []
    tasks = it.advance()
    while tasks:
        for task in tasks:
            it.task_succeeded(task, task.fn(*task.args, **task.kwargs))
        tasks = it.advance()
        updates += it.take_updates()
    updates += it.take_updates()
    return updates


def test_new_execution_takes_the_new_path_and_records_a_marker_off_the_position_counter() -> None:
    it = hosted(new, [h.execution(1)], execution_arn="arn:test")
    updates = drive(it)
    assert it.outcome == dg.Succeeded('"shipped 1"')
    assert ran == ["charge", "receipt", "ship"]
    marks = [u for u in updates if u.sub_type == PATCH_SUBTYPE]
    assert [(m.type, m.action, m.name, m.id) for m in marks] == [
        ("STEP", "SUCCEED", "send-receipt", marker_id(None, "send-receipt"))
    ]
    steps = [(u.name, u.id) for u in updates if u.sub_type == "Step" and u.action == "SUCCEED"]
    assert steps == [("charge", h.oid(1)), ("receipt", h.oid(2)), ("ship", h.oid(3))]
    # the marker is checkpointed before what the new path does
    ids = [u.id for u in updates]
    assert ids.index(marks[0].id) < ids.index(h.oid(2))


def test_old_execution_keeps_the_old_path() -> None:
    it = replay(new, *OLD_HISTORY)
    assert it.outcome == dg.Succeeded('"shipped 1"')
    assert it.updates == [] and ran == []


def test_old_execution_suspended_past_the_change_keeps_the_old_path() -> None:
    def new_with_wait(x: int):  # type: ignore[no-untyped-def]
        yield charge(x)
        if (yield dg.Patched("send-receipt")):
            yield receipt(x)
        yield dg.Wait(seconds=60, name="cool-off")
        return (yield ship(x))

    it = replay(
        new_with_wait, h.step(1, 1, name="charge"), h.wait(2, name="cool-off", status="STARTED")
    )
    assert isinstance(it.outcome, dg.Suspended)
    assert it.updates == [] and ran == []


def test_recorded_marker_replays_the_new_path() -> None:
    it = replay(new, *NEW_HISTORY)
    assert it.outcome == dg.Succeeded('"shipped 1"')
    assert it.updates == [] and ran == []


def test_old_execution_at_the_frontier_takes_the_new_path() -> None:
    it = hosted(new, [h.execution(1), h.step(1, 1, name="charge")], execution_arn="a")
    updates = drive(it)
    assert ran == ["receipt", "ship"]
    assert [u.name for u in updates if u.action == "SUCCEED"] == ["send-receipt", "receipt", "ship"]


def test_a_change_id_decides_once_per_context() -> None:
    def loop(_: Any):  # type: ignore[no-untyped-def]
        out = []
        for i in range(3):
            yield charge(i)
            out.append((yield dg.Patched("p")))
        return out

    fresh = hosted(loop, [h.execution()], execution_arn="a")
    updates = drive(fresh)
    assert fresh.outcome == dg.Succeeded("[true,true,true]")
    assert len([u for u in updates if u.sub_type == PATCH_SUBTYPE]) == 1
    # an old execution that recorded only two iterations: the first decision (False) holds,
    # even where the third iteration reaches the frontier
    it = hosted(
        loop,
        [h.execution(), h.step(1, 0, name="charge"), h.step(2, 1, name="charge")],
        execution_arn="a",
    )
    drive(it)
    assert it.outcome == dg.Succeeded("[false,false,false]")


def test_markers_do_not_trip_the_unvisited_history_check() -> None:
    it = replay(done, *NEW_HISTORY)  # Patched removed, the marker stays in the history
    assert it.outcome == dg.Succeeded('"shipped 1"')


def test_deprecated_replays_new_executions_and_names_the_change_for_old_ones() -> None:
    assert replay(deprecated, *NEW_HISTORY).outcome == dg.Succeeded('"shipped 1"')
    it = replay(deprecated, *OLD_HISTORY)
    assert isinstance(it.outcome, dg.Failed)
    exc = it.outcome.exception
    assert isinstance(exc, dg.NonDeterminismError)
    assert exc.requested == "Deprecated('send-receipt')"
    assert "ship" in (exc.recorded or "") and exc.position == "operation 2 of the root context"
    fresh = hosted(deprecated, [h.execution(1)], execution_arn="a")
    updates = drive(fresh)
    assert fresh.outcome == dg.Succeeded('"shipped 1"')
    assert [u.name for u in updates if u.sub_type == PATCH_SUBTYPE] == ["send-receipt"]


def test_marker_in_a_child_context_is_keyed_by_the_child() -> None:
    def sub(x: int):  # type: ignore[no-untyped-def]
        return (yield dg.Patched("p"))

    def wf(x: int):  # type: ignore[no-untyped-def]
        return (yield dg.Child(sub, (x,), name="sub"))

    it = hosted(wf, [h.execution(1)], execution_arn="a")
    updates = drive(it)
    child = h.oid(1)
    (mark,) = [u for u in updates if u.sub_type == PATCH_SUBTYPE]
    assert mark.id == marker_id(child, "p") and mark.parent_id == child
    assert it.outcome == dg.Succeeded("true")


def test_change_id_is_validated() -> None:
    with pytest.raises(dg.ValidationError):
        dg.Patched("")
    with pytest.raises(dg.ValidationError):
        dg.Deprecated("caf\u00e9")


# --- deterministic helpers ---------------------------------------------------------------------


def test_now_is_a_checkpointed_step_read_from_the_host_clock() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        t = yield dg.Now()
        return t.isoformat()

    it = hosted(wf, [h.execution()], execution_arn="a", clock=lambda: 86400.5)
    (task,) = it.advance()
    assert (task.sub_type, task.name, task.operation_id) == ("Now", "now", h.oid(1))
    value = task.fn()
    assert value == datetime(1970, 1, 2, 0, 0, 0, 500000, tzinfo=UTC)
    it.task_succeeded(task, value)
    it.advance()
    (_start, succeed) = it.take_updates()
    assert (succeed.type, succeed.sub_type, succeed.payload) == (
        "STEP",
        "Now",
        '"1970-01-02T00:00:00.500000+00:00"',
    )
    assert it.outcome == dg.Succeeded('"1970-01-02T00:00:00.500000+00:00"')
    recorded = h.step(1, "1970-01-02T00:00:00.500000+00:00", name="now", sub_type="Now")
    assert replay(wf, recorded).outcome == it.outcome


def test_now_without_a_host_clock_fails_the_step_with_advice() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Now(name="started-at"))

    it = hosted(wf, [h.execution()], execution_arn="a")
    (task,) = it.advance()
    assert task.name == "started-at"
    with pytest.raises(dg.ValidationError, match="clock="):
        task.fn()


def test_the_driver_gives_now_the_real_clock_by_default() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Now())

    before = datetime.now(UTC)
    result = dg.run(wf)
    assert datetime.fromisoformat(result) >= before


def test_uuid_and_random_are_derived_without_checkpoints_or_shifting_ids() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        a = yield dg.UUID()
        rng = yield dg.Random()
        b = yield dg.UUID()
        yield charge(1)
        return [str(a), str(b), rng.random(), rng.randint(1, 6)]

    def run(arn: str) -> tuple[list[Any], Any]:
        it = hosted(wf, [h.execution()], execution_arn=arn)
        updates = drive(it)
        assert isinstance(it.outcome, dg.Succeeded)
        return updates, it.outcome.result

    ups1, out1 = run("arn:one")
    _, out1_again = run("arn:one")
    _, out2 = run("arn:two")
    assert out1 == out1_again and out1 != out2
    assert [u.id for u in ups1] == [h.oid(1), h.oid(1)]  # charge is still operation 1
    a, b, *_ = json.loads(out1)
    assert a != b and uuid.UUID(a).version == 4
    replayed = hosted(wf, [h.execution(), h.step(1, 1, name="charge")], execution_arn="arn:one")
    replayed.advance()
    assert isinstance(replayed.outcome, dg.Succeeded) and replayed.outcome.result == out1


def test_random_returns_a_seeded_generator() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        rng = yield dg.Random()
        assert isinstance(rng, random.Random)
        return rng.random()

    it = hosted(wf, [h.execution()], execution_arn="x")
    it.advance()
    assert isinstance(it.outcome, dg.Succeeded) and 0 <= float(it.outcome.result) < 1


# --- end to end: a deploy while executions run -------------------------------------------------


def test_deploying_a_patched_version_keeps_running_executions_on_the_old_path() -> None:
    from durable_gen.testing import TestRunner

    def v1(x: int):  # type: ignore[no-untyped-def]
        yield charge(x)
        yield dg.Wait(seconds=3600, name="cooling-off")
        return (yield ship(x))

    def v2(x: int):  # type: ignore[no-untyped-def]
        yield charge(x)
        if (yield dg.Patched("send-receipt")):
            yield receipt(x)
        yield dg.Wait(seconds=3600, name="cooling-off")
        return (yield ship(x))

    def unguarded(x: int):  # type: ignore[no-untyped-def]
        yield charge(x)
        yield receipt(x)
        yield dg.Wait(seconds=3600, name="cooling-off")
        return (yield ship(x))

    runner = TestRunner(skip_time=False)
    cooling = runner.run(v1, 1)
    assert cooling.operation("cooling-off").status == "STARTED"
    runner.deploy(v1, v2)
    fresh = runner.run(v1, 2)  # started after the deploy: the new path
    runner.advance(3600)
    assert cooling.result() == "shipped 1" and fresh.result() == "shipped 2"
    assert [op.name for op in cooling.operations()] == ["charge", "cooling-off", "ship"]
    assert [op.name for op in fresh.operations()] == [
        "charge", "send-receipt", "receipt", "cooling-off", "ship"
    ]  # fmt: skip

    runner = TestRunner(skip_time=False)
    broken = runner.run(v1, 1)
    runner.deploy(v1, unguarded)
    runner.advance(3600)
    assert broken.status == "FAILED" and broken.error is not None
    assert broken.error.error_type == "NonDeterminismError"


def test_a_second_deploy_from_the_deployed_code_reaches_the_running_executions() -> None:
    """The recipe's versions 1 -> 2 -> 3 deployed as ``deploy(v1, v2)`` then ``deploy(v2, v3)``:
    the second deploy reaches what runs v2, executions started on v1 included (it did nothing
    to them, so a test of version 3 silently ran version 2)."""
    from durable_gen.testing import TestRunner

    def v1(x: int):  # type: ignore[no-untyped-def]
        yield charge(x)
        yield dg.Wait(seconds=3600, name="cooling-off")
        yield dg.Wait(seconds=3600, name="shipping-window")
        return (yield ship(x))

    def v2(x: int):  # type: ignore[no-untyped-def]
        yield charge(x)
        if (yield dg.Patched("send-receipt")):
            yield receipt(x)
        yield dg.Wait(seconds=3600, name="cooling-off")
        yield dg.Wait(seconds=3600, name="shipping-window")
        return (yield ship(x))

    def v3(x: int):  # type: ignore[no-untyped-def]
        yield charge(x)
        yield dg.Deprecated("send-receipt")
        yield receipt(x)
        yield dg.Wait(seconds=3600, name="cooling-off")
        yield dg.Wait(seconds=3600, name="shipping-window")
        return (yield ship(x))

    for first in ("v1", "v2"):
        runner = TestRunner(skip_time=False)
        old = runner.run(v1, 1)  # in its cooling-off wait, past the change: the old path
        runner.deploy(v1, v2)
        new = runner.run(v1, 2)  # the new path
        runner.advance(3600)
        runner.deploy(v1 if first == "v1" else v2, v3)
        runner.advance(3600)
        assert new.result() == "shipped 2", first
        assert old.status == "FAILED" and old.error is not None, first
        assert old.error.error_type == "NonDeterminismError", first
        assert "send-receipt" in (old.error.error_message or ""), first


def test_deploying_an_invoke_target_reaches_its_running_and_new_executions() -> None:
    """A workflow registered as an ``Invoke`` target (``functions=``) runs under that name:
    deploying it left its executions on the old code, running and new alike."""
    from durable_gen.testing import TestRunner

    def tax_v1(amount: int):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=100, name="slow")
        return ["v1", amount]

    def tax_v2(amount: int):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=100, name="slow")
        return ["v2", amount]

    def caller(x: int):  # type: ignore[no-untyped-def]
        return (yield dg.Invoke("tax", x, name="tax"))

    runner = TestRunner(skip_time=False, functions={"tax": tax_v1})
    running = runner.run(caller, 1)  # the invoked execution waits in "slow"
    runner.deploy(tax_v1, tax_v2)
    fresh = runner.run(caller, 2)
    runner.advance(200)
    assert running.result() == ["v2", 1]
    assert fresh.result() == ["v2", 2]
