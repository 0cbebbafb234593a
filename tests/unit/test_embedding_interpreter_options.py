"""The interpreter's options as docs/embedding.md gives them, checked from the outside."""

from __future__ import annotations

import json
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from tests.unit.embedding_runtimes import start_store


def draws(_: object) -> Any:
    uuid = yield dg.UUID()
    rng = yield dg.Random()
    yield dg.Wait(seconds=1, name="between")
    again = yield dg.UUID()
    return [str(uuid), rng.random(), str(again)]


def _run(arn: str | None) -> rt.Outcome:
    """Run ``draws`` to its end, a new interpreter per invocation, as a runtime would."""
    store = start_store("null", 0)
    now_ms = 0
    kwargs: dict[str, Any] = {} if arn is None else {"execution_arn": arn}
    for _ in range(5):
        interp = rt.Interpreter(draws, list(store.values()), **kwargs)
        timers: list[rt.Timer] = []
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                applied = rt.apply_updates(store, action.updates, now_ms=now_ms)
                timers += applied.timers
                interp.observe(applied.operations)
            elif isinstance(action, rt.Done):
                break
        if not isinstance(action.outcome, rt.Suspended):
            return action.outcome
        now_ms = max(t.due_ms for t in timers)
        for timer in timers:
            rt.fire_timer(store, timer, now_ms=now_ms)
    raise AssertionError("not done")


def test_uuid_and_random_without_an_execution_arn_are_a_validation_error() -> None:
    outcome = _run(None)
    assert isinstance(outcome, rt.Failed)
    assert outcome.error.error_type == "ValidationError"
    assert "execution_arn" in outcome.error.error_message
    assert isinstance(_run(""), rt.Failed)


def test_uuid_and_random_differ_between_executions_and_replay_the_same() -> None:
    first, second = _run("arn:one"), _run("arn:two")
    assert isinstance(first, rt.Succeeded) and isinstance(second, rt.Succeeded)
    one, two = json.loads(first.result), json.loads(second.result)
    assert one[0] != two[0] and one[1] != two[1] and one[0] != one[2]
    assert _run("arn:one") == first  # the same on every run (and replay) of one execution


@pytest.mark.parametrize("arn", [None, ""])
def test_a_workflow_without_uuid_or_random_needs_no_arn(arn: str | None) -> None:
    def plain(_: object) -> Any:
        yield dg.Wait(seconds=1, name="w")
        return 1

    store = start_store("null", 0)
    kwargs: dict[str, Any] = {} if arn is None else {"execution_arn": arn}
    interp = rt.Interpreter(plain, list(store.values()), **kwargs)
    action = interp.next_action()
    assert isinstance(action, rt.Flush)
