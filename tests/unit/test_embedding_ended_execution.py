"""An execution that ended (its EXECUTION operation SUCCEEDED, FAILED, TIMED_OUT or STOPPED) is
not invoked again (docs/embedding.md, "What a store must do"). A host that does anyway, say
because a timer of a stopped execution still fired its invocation, must learn it before any
step runs: the store refuses the checkpoint, but a step handed out before that refusal has
already had its side effect.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt

RAN: list[str] = []


@dg.step
def _charge(order: str) -> str:
    RAN.append(order)
    return f"charged {order}"


def _pays_after_a_wait(order: str):  # type: ignore[no-untyped-def]
    yield dg.Wait(seconds=5, name="cool-down")
    return (yield _charge(order))


class _Service:
    """A DurableService over one dict store, one page of state (docs/embedding.md)."""

    def __init__(self) -> None:
        self.now_ms = 0
        self.store = {
            "exec": rt.Operation(
                id="exec",
                type="EXECUTION",
                status="STARTED",
                start_timestamp=0,
                execution_details=rt.ExecutionDetails(input_payload='"o-1"'),
            )
        }
        self.timers: list[rt.Timer] = []
        self.tokens = (f"token-{n}" for n in itertools.count())
        self.token = ""

    def event(self) -> rt.InvocationInput:
        self.token = next(self.tokens)
        state = rt.ExecutionState(operations=list(self.store.values()))
        return rt.InvocationInput(
            durable_execution_arn="arn:ended",
            checkpoint_token=self.token,
            initial_execution_state=state,
        )

    def checkpoint(
        self,
        execution_arn: str,
        checkpoint_token: str | None,
        updates: Sequence[rt.OperationUpdate],
    ) -> rt.CheckpointResponse:
        applied = rt.apply_updates(self.store, list(updates), now_ms=self.now_ms)
        self.timers += applied.timers
        self.token = next(self.tokens)
        changed = rt.ExecutionState(operations=applied.operations)
        return rt.CheckpointResponse(checkpoint_token=self.token, new_execution_state=changed)

    def get_state(
        self, execution_arn: str, checkpoint_token: str, marker: str
    ) -> rt.ExecutionState:
        return rt.ExecutionState(operations=list(self.store.values()))

    def fire_and_end(self, status: str) -> None:
        """The wait fires, then the execution ends (stopped, timed out...) before it resumes."""
        self.now_ms = 5_000
        for timer in self.timers:
            rt.fire_timer(self.store, timer, now_ms=self.now_ms)
        self.store["exec"] = msgspec.structs.replace(
            self.store["exec"], status=status, end_timestamp=self.now_ms
        )


ENDED = ["STOPPED", "TIMED_OUT", "FAILED", "SUCCEEDED"]


@pytest.mark.parametrize("status", ENDED)
def test_an_interpreter_of_an_ended_execution_refuses_before_any_step_runs(status: str) -> None:
    RAN.clear()
    service = _Service()
    assert rt.invoke(_pays_after_a_wait, service.event(), service).status == "PENDING"
    service.fire_and_end(status)
    interp = rt.Interpreter(_pays_after_a_wait, list(service.store.values()), execution_arn="arn:e")
    with pytest.raises(dg.ValidationError, match=f"ended as {status}.*run a step"):
        interp.next_action()
    interp.close()
    assert RAN == []


def test_an_interpreter_still_replays_an_ended_execution_that_needs_nothing_new() -> None:
    """Replaying a finished history with the interpreter alone (to read its outcome, or to
    time a replay) runs no step and records nothing: it is no invocation of the execution."""
    RAN.clear()
    service = _Service()
    rt.invoke(_pays_after_a_wait, service.event(), service)
    service.now_ms = 5_000
    for timer in service.timers:
        rt.fire_timer(service.store, timer, now_ms=service.now_ms)
    assert rt.invoke(_pays_after_a_wait, service.event(), service).status == "SUCCEEDED"
    service.store["exec"] = msgspec.structs.replace(
        service.store["exec"], status="SUCCEEDED", end_timestamp=service.now_ms
    )
    interp = rt.Interpreter(_pays_after_a_wait, list(service.store.values()), execution_arn="arn:e")
    assert interp.next_action() == rt.Done(rt.Succeeded('"charged o-1"'))
    interp.close()
    assert RAN == ["o-1"]  # the one run of the execution itself


@pytest.mark.parametrize("status", ENDED)
def test_the_drivers_refuse_the_invocation_of_an_ended_execution_before_any_step_runs(
    status: str,
) -> None:
    RAN.clear()
    service = _Service()
    assert rt.invoke(_pays_after_a_wait, service.event(), service).status == "PENDING"
    service.fire_and_end(status)
    before = dict(service.store)
    with pytest.raises(dg.InvalidInputError, match=f"ended as {status}"):
        rt.invoke(_pays_after_a_wait, service.event(), service)
    assert RAN == []
    assert service.store == before


def test_a_running_execution_still_resumes_and_a_replay_of_an_ended_one_still_checks() -> None:
    from durable_gen.testing import replay

    RAN.clear()
    service = _Service()
    assert rt.invoke(_pays_after_a_wait, service.event(), service).status == "PENDING"
    service.now_ms = 5_000
    for timer in service.timers:
        rt.fire_timer(service.store, timer, now_ms=service.now_ms)
    output = rt.invoke(_pays_after_a_wait, service.event(), service)
    assert (output.status, output.result, RAN) == ("SUCCEEDED", '"charged o-1"', ["o-1"])
    service.store["exec"] = msgspec.structs.replace(
        service.store["exec"], status="SUCCEEDED", end_timestamp=service.now_ms
    )
    report = replay(_pays_after_a_wait, service.store, execution_arn="arn:ended")
    assert report.ok and report.result == "charged o-1", report.message
