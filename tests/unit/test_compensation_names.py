"""Compensations are named after their undo; histories named after the compensated step replay."""

from __future__ import annotations

from typing import Any

import pytest

import durable_gen as dg
from durable_gen._ids import operation_id
from durable_gen.testing import TestRunner, replay
from tests import histories as h
from tests.hosting import hosted

undone: list[str] = []


@pytest.fixture(autouse=True)
def _clear() -> None:
    undone.clear()


def cancel_flight(confirmation: str) -> None:
    undone.append(f"cancel_flight({confirmation})")


def refund_flight(confirmation: str) -> None:
    undone.append(f"refund_flight({confirmation})")


@dg.step(name="release-room")
def release_room(confirmation: str) -> None:
    undone.append(f"release_room({confirmation})")


@dg.step(compensate=cancel_flight)
def book_flight(to: str) -> str:
    return f"flight to {to}"


@dg.step(compensate=release_room)
def book_room(to: str) -> str:
    return f"room in {to}"


@dg.step(compensate=lambda confirmation: undone.append(f"lambda({confirmation})"))
def book_car(to: str) -> str:
    return f"car in {to}"


@dg.step(retry=dg.Retry.never())
def charge_card(to: str) -> None:
    raise RuntimeError("card declined")


@dg.workflow
def book_trip(to: str):  # type: ignore[no-untyped-def]
    try:
        yield book_flight(to)
        yield book_room(to)
        yield book_car(to)
        yield charge_card(to)
    except dg.StepFailedError:
        undone_results = yield dg.RunCompensations()
        return [(r.name, r.status) for r in undone_results]
    return []


def test_compensations_are_named_after_the_undo() -> None:
    run = TestRunner().run(book_trip, "Lisbon")
    # CompensationResult.name stays the compensated step's name
    assert run.result() == [
        ["book_car", "SUCCEEDED"],
        ["book_room", "SUCCEEDED"],
        ["book_flight", "SUCCEEDED"],
    ]
    assert undone == ["lambda(car in Lisbon)", "release_room(room in Lisbon)",
                      "cancel_flight(flight to Lisbon)"]  # fmt: skip
    contexts = [op.name for op in run.operations(type="CONTEXT")]
    # a lambda has no name of its own: named after the step it compensates
    assert contexts == ["book_car", "release-room", "cancel_flight"]
    inner = [op.name for op in run.operations(type="STEP") if op.parent_id is not None]
    assert inner == ["book_car", "release-room", "cancel_flight"]
    started = [e.name for e in run.history() if e.event_type == "ContextStarted"]
    assert started == contexts  # what `durable-gen show` and `history` list


def _as_recorded_before(history: dict[str, Any]) -> list[dict[str, Any]]:
    """The operations of ``history`` as durable_gen recorded them before undos named their
    operations: each compensation context, and the step of a plain-function undo inside it,
    carried the name of the step it compensated (ids are the same: names do not make ids)."""
    old_names = {"cancel_flight": "book_flight", "release-room": "book_room"}
    ops = [dict(op) for op in history["Operations"]]
    contexts = {op["Id"] for op in ops if op.get("SubType") == "Compensation"}
    for op in ops:
        name = op.get("Name")
        if op["Id"] in contexts and name in old_names:
            op["Name"] = old_names[name]
        elif op.get("ParentId") in contexts and name == "cancel_flight":
            op["Name"] = "book_flight"  # a plain undo's step; a @step undo kept its own name
    return ops


def test_a_history_recorded_with_the_old_names_replays() -> None:
    run = TestRunner().run(book_trip, "Lisbon")
    old = _as_recorded_before(run.export())
    assert "book_flight" in [op.get("Name") for op in old if op.get("SubType") == "Compensation"]
    report = replay(book_trip, {"Operations": old})
    assert report.status == "ok", report.message
    assert report.outcome == "succeeded" and report.result[0] == ["book_car", "SUCCEEDED"]


def test_an_interrupted_rollback_recorded_with_the_old_names_resumes() -> None:
    # recorded before: the flight was booked, the card declined, and the flight's undo was
    # started under the old name (its step ran, the context was not closed yet)
    @dg.workflow
    def trip(to: str):  # type: ignore[no-untyped-def]
        try:
            yield book_flight(to)
            yield charge_card(to)
        except dg.StepFailedError:
            return [r.status for r in (yield dg.RunCompensations())]
        return []

    context_id = operation_id(None, 3)
    it = hosted(
        trip,
        [
            h.execution("Lisbon"),
            h.step(1, "flight to Lisbon", name="book_flight"),
            h.step(2, None, name="charge_card", status="FAILED"),
            h.context(context_id, "Compensation", name="book_flight", status="STARTED"),
        ],
        execution_arn="arn:test",
    )
    (task,) = it.advance()
    assert task.name == "book_flight" and task.parent_id == context_id  # the old step name
    it.task_succeeded(task, task.fn(*task.args))
    it.advance()
    assert it.outcome == dg.Succeeded('["SUCCEEDED"]')
    assert [(u.type, u.action, u.name) for u in it.updates][-1] == (
        "CONTEXT",
        "SUCCEED",
        "book_flight",
    )


@dg.workflow
def book_trip_refunding(to: str):  # type: ignore[no-untyped-def]
    @dg.step(compensate=refund_flight, name="book_flight")
    def book(to: str) -> str:
        return f"flight to {to}"

    try:
        yield book(to)
        yield book_room(to)
        yield book_car(to)
        yield charge_card(to)
    except dg.StepFailedError:
        return [(r.name, r.status) for r in (yield dg.RunCompensations())]
    return []


def test_a_different_undo_is_a_change() -> None:
    history = TestRunner().run(book_trip, "Lisbon").export()
    report = replay(book_trip_refunding, history)
    assert report.status == "diverged"
    assert report.divergence is not None
    assert "cancel_flight" in (report.divergence.recorded or "")
    assert "refund_flight" in (report.divergence.requested or "")


def test_a_different_step_undo_in_an_old_history_is_still_a_change_inside_its_context() -> None:
    @dg.step(name="void-flight")
    def void_flight(confirmation: str) -> None: ...

    def trip(undo: Any) -> Any:
        @dg.step(compensate=undo, name="book_flight")
        def book(to: str) -> str:
            return f"flight to {to}"

        @dg.workflow
        def wf(to: str):  # type: ignore[no-untyped-def]
            try:
                yield book(to)
                yield charge_card(to)
            except dg.StepFailedError:
                return [r.status for r in (yield dg.RunCompensations())]
            return []

        return wf

    context_id = operation_id(None, 3)
    ops = [
        h.execution("Lisbon"),
        h.step(1, "flight to Lisbon", name="book_flight"),
        h.step(2, None, name="charge_card", status="FAILED"),
        # the old names: the context after the step, its step after the @step undo
        h.context(context_id, "Compensation", name="book_flight", status="STARTED"),
        h.step(1, None, name="release-room", parent=context_id, status="STARTED"),
    ]
    it = hosted(trip(release_room), ops, execution_arn="arn:test")
    assert it.advance()  # the same undo: its attempt runs again
    changed = hosted(trip(void_flight), ops, execution_arn="arn:test")
    changed.advance()
    assert isinstance(changed.outcome, dg.Failed)
    assert changed.outcome.error.error_type == "NonDeterminismError"
