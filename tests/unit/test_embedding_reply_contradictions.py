"""A store whose checkpoint reply contradicts the Flush it answers is refused at ``observe()``.

docs/embedding.md: the store records the updates of a ``Flush`` and ``observe()`` gets the
operations the checkpoint changed. The workflow has already been given what the interpreter
sent (a step's value); a store that recorded something else (another result, no name, another
status, parent or subtype) would make the next replay read another history than the one the
workflow ran on: a different answer from the same execution, or a ``NonDeterminismError``
blaming the code. Such a reply is a host mistake: ``ValidationError`` at ``observe()``, saying
what the store must keep.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt


@dg.step
def four() -> int:
    return 4


def plus_one(x: int, _index: int) -> Any:
    return (yield dg.Step(lambda: x + 1, name="inc"))


def flow(_: Any) -> Any:
    a = yield four()
    batch = yield dg.Map(plus_one, [a, a * 2], name="fan")
    c = yield dg.Child(lambda: (yield dg.Step(lambda: "c", name="in-child")), name="kid")
    return [a, batch.results(), c]


def _store() -> dict[str, rt.Operation]:
    return {
        "exec": rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            start_timestamp=0,
            execution_details=rt.ExecutionDetails(input_payload="null"),
        )
    }


def _run(
    mode: rt.CheckpointMode, mutate: Callable[[rt.Operation], rt.Operation]
) -> tuple[rt.Outcome, dict[str, rt.Operation]]:
    """One invocation whose store applies each Flush, then changes what it replies with."""
    store = _store()
    interp = rt.Interpreter(
        flow, list(store.values()), execution_arn="arn:reply", checkpointing=mode
    )
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            reply = [
                mutate(op) for op in rt.apply_updates(store, action.updates, now_ms=0).operations
            ]
            store.update((op.id, op) for op in reply)
            interp.observe(reply)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
        elif isinstance(action, rt.Done):
            return action.outcome, store
        else:
            raise AssertionError(action)


def _replace(**changes: Any) -> Callable[[rt.Operation], rt.Operation]:
    def mutate(op: rt.Operation) -> rt.Operation:
        if op.type != "STEP" or op.status != "SUCCEEDED" or op.name != "four":
            return op
        fields = {k: v(op) if callable(v) else v for k, v in changes.items()}
        return msgspec.structs.replace(op, **fields)

    return mutate


def _result(text: str) -> Callable[[rt.Operation], rt.StepDetails]:
    def details(op: rt.Operation) -> rt.StepDetails:
        assert op.step_details is not None
        return msgspec.structs.replace(op.step_details, result=text)

    return details


MISTAKES = {
    "another result": (_replace(step_details=_result("5")), "with the result '5'"),
    "another name": (_replace(name="five"), "with Name 'five'"),
    "another subtype": (_replace(sub_type="Now"), "with SubType 'Now'"),
    "another parent": (_replace(parent_id="elsewhere"), "with ParentId 'elsewhere'"),
    "still started": (
        _replace(status="STARTED", end_timestamp=None, step_details=_result("")),
        "as STARTED",
    ),
}


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_reply_that_contradicts_the_flush_is_a_validation_error(
    mode: rt.CheckpointMode, mistake: str
) -> None:
    mutate, says = MISTAKES[mistake]
    with pytest.raises(dg.ValidationError, match="records each update as it was sent") as info:
        _run(mode, mutate)
    assert says in str(info.value)
    assert "'four'" in str(info.value)


@pytest.mark.parametrize(
    ("field", "step"), [("name", "four"), ("sub_type", "four"), ("parent_id", "inc")]
)
def test_a_reply_that_leaves_a_field_out_is_not_a_contradiction(field: str, step: str) -> None:
    """A service may send only what changed: a field the reply leaves out is not compared."""
    left_out = []

    def mutate(op: rt.Operation) -> rt.Operation:
        if op.type != "STEP" or op.status != "SUCCEEDED" or op.name != step:
            return op
        assert getattr(op, field) is not None  # the case leaves out a field that was set
        left_out.append(op.id)
        return msgspec.structs.replace(op, **{field: None})

    # The live run is judged at observe(): what a replay of such a record reads is the store's.
    interp_outcome, _ = _run("step", mutate)
    assert left_out and isinstance(interp_outcome, rt.Succeeded)


def _json_kv(op: rt.Operation) -> rt.Operation:
    """What a store that keeps each operation as JSON text gives back: the same operation."""
    return msgspec.json.decode(msgspec.json.encode(op), type=rt.Operation)


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_a_store_that_records_faithfully_is_accepted_and_replays_the_same(
    mode: rt.CheckpointMode,
) -> None:
    outcome, store = _run(mode, _json_kv)
    assert isinstance(outcome, rt.Succeeded)
    assert json.loads(outcome.result) == [4, [5, 9], "c"]
    again = rt.Interpreter(flow, list(store.values()), execution_arn="arn:reply").next_action()
    assert isinstance(again, rt.Done) and again.outcome == outcome


def test_news_between_invocations_is_not_held_to_an_earlier_flush() -> None:
    """Only the reply of a Flush is compared with it: later news is checked as news."""

    def waits(_: Any) -> Any:
        yield dg.Wait(seconds=5, name="nap")
        return (yield four())

    store = _store()
    interp = rt.Interpreter(waits, list(store.values()), execution_arn="arn:reply")
    timers: list[rt.Timer] = []
    action = interp.next_action()
    while not isinstance(action, rt.Done):
        assert isinstance(action, rt.Flush)
        applied = rt.apply_updates(store, action.updates, now_ms=0)
        timers += applied.timers
        interp.observe(applied.operations)
        action = interp.next_action()
    assert isinstance(action.outcome, rt.Suspended)
    fired = rt.fire_timer(store, timers[0], now_ms=5_000)
    assert fired is not None and fired.status == "SUCCEEDED"
    interp.observe([fired])
    action = interp.next_action()
    assert isinstance(action, rt.RunTasks)


def _every_version(store: dict[str, rt.Operation], updates: list[rt.OperationUpdate]) -> Any:
    """A store that records a Flush one update at a time and replies with every version."""
    reply: list[rt.Operation] = []
    for update in updates:
        reply += rt.apply_updates(store, [update], now_ms=0).operations
    return reply


@pytest.mark.parametrize("mode", ["step", "batch"])
def test_a_reply_with_every_version_oldest_first_is_judged_by_its_last(
    mode: rt.CheckpointMode,
) -> None:
    store = _store()
    interp = rt.Interpreter(
        flow, list(store.values()), execution_arn="arn:reply", checkpointing=mode
    )
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            reply = _every_version(store, list(action.updates))
            interp.observe(iter(reply))  # any iterable, as observe() takes
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
        elif isinstance(action, rt.Done):
            break
    assert isinstance(action.outcome, rt.Succeeded)
    assert json.loads(action.outcome.result) == [4, [5, 9], "c"]
