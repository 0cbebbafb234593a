"""LocalService as a DurableService: tokens, atomic refusals, responses, paging."""

from __future__ import annotations

import pytest

from durable_gen._errors import (
    ExecutionNotFoundError,
    InvalidCheckpointError,
    InvalidCheckpointTokenError,
    InvalidInputError,
)
from durable_gen._service import DurableService
from durable_gen._wire import (
    CallbackOptions,
    ErrorObject,
    InvocationOutput,
    StepOptions,
    WaitOptions,
)
from durable_gen.local import LocalService, VirtualClock

from .harness import Inv, Script, oid, succeeded, types_of, up


def test_local_service_is_a_durable_service(svc: LocalService) -> None:
    assert isinstance(svc, DurableService)


def test_every_checkpoint_returns_a_new_token_and_only_the_newest_is_accepted(
    svc: LocalService,
) -> None:
    seen: list[str] = []

    def body(inv: Inv) -> InvocationOutput:
        seen.append(inv.token)
        first = inv.token
        inv.cp(up(1, "STEP", "START"))
        second = inv.token
        inv.cp(up(1, "STEP", "SUCCEED", payload="1"))
        seen.extend([second, inv.token])
        for stale in (first, second):
            with pytest.raises(InvalidCheckpointTokenError, match="use the CheckpointToken"):
                svc.checkpoint(inv.arn, stale, [up(2, "STEP", "START")])
        with pytest.raises(InvalidCheckpointTokenError):
            svc.checkpoint(inv.arn, "made-up", [])
        inv.cp()  # an empty checkpoint is fine and rotates the token too
        seen.append(inv.token)
        return succeeded("1")

    arn = Script(svc, "wf", body).start()
    assert svc.run(arn).status == "SUCCEEDED"
    assert len(set(seen)) == len(seen) == 4
    for token in seen:
        assert token.isalnum()


def test_tokens_die_with_their_invocation(svc: LocalService) -> None:
    kept: list[str] = []

    def first(inv: Inv) -> None:
        inv.cp(up(1, "WAIT", "START", wait_options=WaitOptions(wait_seconds=1)))
        kept.append(inv.token)

    def second(inv: Inv) -> InvocationOutput:
        with pytest.raises(InvalidCheckpointTokenError, match="not the newest"):
            svc.checkpoint(inv.arn, kept[0], [])
        return succeeded()

    arn = Script(svc, "wf", first, second).start()
    assert svc.run(arn).status == "SUCCEEDED"
    with pytest.raises(InvalidCheckpointTokenError, match="already ended"):
        svc.checkpoint(arn, kept[0], [])


def test_checkpoint_between_invocations_is_refused(svc: LocalService, clock: VirtualClock) -> None:
    tokens: list[str] = []

    def body(inv: Inv) -> None:
        inv.cp(up(1, "WAIT", "START", wait_options=WaitOptions(wait_seconds=60)))
        tokens.append(inv.token)

    clock.auto_advance = False
    arn = Script(svc, "wf", body).start()
    svc.run_until_idle()
    with pytest.raises(InvalidCheckpointTokenError, match="no invocation"):
        svc.checkpoint(arn, tokens[0], [])
    with pytest.raises(InvalidCheckpointTokenError):
        svc.get_state(arn, tokens[0], "0")


def test_unknown_arn(svc: LocalService) -> None:
    with pytest.raises(ExecutionNotFoundError, match="start\\(\\) returns the ARN"):
        svc.checkpoint("arn:nope", "t", [])
    with pytest.raises(ExecutionNotFoundError):
        svc.get_state("arn:nope", "t", "0")
    for call in (svc.get_execution, svc.get_history, svc.get_operations, svc.waiting_on, svc.run):
        with pytest.raises(ExecutionNotFoundError):
            call("arn:nope")


def test_a_refused_batch_changes_nothing_and_the_token_stays_valid(svc: LocalService) -> None:
    def body(inv: Inv) -> InvocationOutput:
        inv.cp(up(1, "STEP", "START", name="a"))
        before_ops = svc.get_operations(inv.arn)
        before_events = svc.get_history(inv.arn)
        token = inv.token
        with pytest.raises(InvalidCheckpointError, match=r"update #2 \(STEP SUCCEED"):
            svc.checkpoint(
                inv.arn,
                token,
                [
                    up(2, "WAIT", "START", wait_options=WaitOptions(wait_seconds=5)),
                    up(3, "CALLBACK", "START", callback_options=CallbackOptions(timeout_seconds=9)),
                    up(1, "STEP", "SUCCEED", name="b"),
                ],
            )
        assert svc.get_operations(inv.arn) == before_ops
        assert svc.get_history(inv.arn) == before_events
        assert svc.waiting_on(inv.arn) == ["its invocation in progress"]
        inv.cp(up(1, "STEP", "SUCCEED", payload='"x"'))  # the same token still works
        return succeeded('"x"')

    arn = Script(svc, "wf", body).start()
    assert svc.run(arn).result == '"x"'
    assert svc.store.tasks_for(arn) == []
    assert types_of(svc, arn) == [
        "ExecutionStarted",
        "StepStarted",
        "StepSucceeded",
        "InvocationCompleted",
        "ExecutionSucceeded",
    ]


def test_the_response_holds_the_changed_operations(svc: LocalService) -> None:
    def body(inv: Inv) -> InvocationOutput:
        reply = inv.cp(up(1, "STEP", "START"), up(1, "STEP", "SUCCEED", payload="1"))
        (step,) = reply.new_execution_state.operations
        assert step.id == oid(1) and step.status == "SUCCEEDED"
        assert reply.new_execution_state.next_marker is None
        reply = inv.cp(
            up(2, "STEP", "START"), up(3, "WAIT", "START", wait_options=WaitOptions(wait_seconds=9))
        )
        assert [op.id for op in reply.new_execution_state.operations] == [oid(2), oid(3)]
        assert inv.cp().new_execution_state.operations == []
        return succeeded()

    assert svc.run(Script(svc, "wf", body).start()).status == "SUCCEEDED"


def test_the_response_also_holds_what_changed_meanwhile(svc: LocalService) -> None:
    callback_ids: list[str] = []

    def body(inv: Inv) -> InvocationOutput:
        reply = inv.cp(up(1, "CALLBACK", "START"))
        cb = reply.new_execution_state.operations[0]
        assert cb.callback_details is not None and cb.callback_details.callback_id
        callback_ids.append(cb.callback_details.callback_id)
        # Something outside the invocation completes it while the invocation runs.
        svc.send_callback_success(cb.callback_details.callback_id, '"yes"')
        reply = inv.cp(up(2, "STEP", "START"))
        got = {op.id: op for op in reply.new_execution_state.operations}
        assert got[oid(1)].status == "SUCCEEDED"
        details = got[oid(1)].callback_details
        assert details is not None and details.result == '"yes"'
        assert got[oid(2)].status == "STARTED"
        # Delivered once.
        assert [op.id for op in inv.cp().new_execution_state.operations] == []
        inv.cp(up(2, "STEP", "SUCCEED"))
        return succeeded()

    script = Script(svc, "wf", body)
    arn = script.start()
    assert svc.run(arn).status == "SUCCEEDED"
    assert len(script.invocations) == 1  # the handler saw it: no extra invocation


def test_a_timer_due_during_the_invocation_fires_at_the_next_checkpoint(
    svc: LocalService, clock: VirtualClock
) -> None:
    def body(inv: Inv) -> InvocationOutput:
        inv.cp(up(1, "WAIT", "START", wait_options=WaitOptions(wait_seconds=2)))
        clock.advance(3)  # a slow step
        reply = inv.cp(up(2, "STEP", "START"), up(2, "STEP", "SUCCEED"))
        got = {op.id: op.status for op in reply.new_execution_state.operations}
        assert got == {oid(1): "SUCCEEDED", oid(2): "SUCCEEDED"}
        return succeeded()

    script = Script(svc, "wf", body)
    arn = script.start()
    assert svc.run(arn).status == "SUCCEEDED"
    assert len(script.invocations) == 1
    assert types_of(svc, arn)[1:5] == [
        "WaitStarted",
        "WaitSucceeded",
        "StepStarted",
        "StepSucceeded",
    ]


def test_get_state_pages(clock: VirtualClock) -> None:
    svc = LocalService(clock=clock, page_size=2)
    pages: list[list[str]] = []

    def first(inv: Inv) -> None:
        for n in range(1, 6):
            inv.cp(up(n, "STEP", "START"), up(n, "STEP", "SUCCEED", payload=str(n)))
        inv.cp(up(6, "WAIT", "START", wait_options=WaitOptions(wait_seconds=1)))

    def second(inv: Inv) -> InvocationOutput:
        state = inv.event.initial_execution_state
        pages.append([op.type for op in state.operations])
        marker = state.next_marker
        while marker:
            page = svc.get_state(inv.arn, inv.token, marker)
            pages.append([op.id for op in page.operations])
            marker = page.next_marker
        # Any token of the running invocation may read pages.
        inv.cp()
        assert len(svc.get_state(inv.arn, inv.token, "2").operations) == 2
        with pytest.raises(InvalidInputError, match="NextMarker"):
            svc.get_state(inv.arn, inv.token, "nope")
        assert svc.get_state(inv.arn, inv.token, "99").operations == []
        return succeeded()

    arn = Script(svc, "wf", first, second).start()
    assert svc.run(arn).status == "SUCCEEDED"
    assert pages == [["EXECUTION", "STEP"], [oid(2), oid(3)], [oid(4), oid(5)], [oid(6)]]


def test_default_page_is_everything(svc: LocalService) -> None:
    def first(inv: Inv) -> None:
        for n in range(1, 200):
            inv.cp(up(n, "STEP", "SUCCEED"))
        inv.cp(up(200, "WAIT", "START", wait_options=WaitOptions(wait_seconds=1)))

    def second(inv: Inv) -> InvocationOutput:
        assert len(inv.event.initial_execution_state.operations) == 201
        assert inv.event.initial_execution_state.next_marker is None
        return succeeded()

    assert svc.run(Script(svc, "wf", first, second).start()).status == "SUCCEEDED"


def test_execution_update_completes_the_execution(svc: LocalService) -> None:
    big = '"' + "x" * 1000 + '"'

    def body(inv: Inv) -> InvocationOutput:
        reply = inv.cp(
            up(1, "STEP", "SUCCEED"), up("result-1", "EXECUTION", "SUCCEED", payload=big)
        )
        ops = {op.type: op for op in reply.new_execution_state.operations}
        assert ops["EXECUTION"].status == "SUCCEEDED"
        with pytest.raises(InvalidCheckpointTokenError, match="already ended"):
            inv.cp(up(2, "STEP", "START"))
        return succeeded("")

    arn = Script(svc, "wf", body).start()
    record = svc.run(arn)
    assert record.status == "SUCCEEDED" and record.result == big
    history = svc.get_history(arn)
    assert [e.event_type for e in history][-2:] == ["ExecutionSucceeded", "InvocationCompleted"]
    assert history[-2].execution_succeeded_details == {
        "Result": {"Payload": big, "Truncated": False}
    }


def test_execution_fail_update(svc: LocalService) -> None:
    error = ErrorObject(error_type="Big", error_message="too big to return")

    def body(inv: Inv) -> InvocationOutput:
        inv.cp(up("x", "EXECUTION", "FAIL", error=error))
        return InvocationOutput(status="FAILED")

    record = svc.run(Script(svc, "wf", body).start())
    assert record.status == "FAILED" and record.error == error


def test_step_retry_then_ready_then_next_attempt(svc: LocalService, clock: VirtualClock) -> None:
    seen: list[tuple[str, int | None]] = []

    def body(inv: Inv) -> InvocationOutput | None:
        step = inv.op(1)
        if step is not None:
            assert step.step_details is not None
            seen.append((step.status, step.step_details.attempt))
        if step is None or step.status == "READY":
            inv.cp(up(1, "STEP", "START"))
            if step is None:
                inv.cp(
                    up(
                        1,
                        "STEP",
                        "RETRY",
                        error=ErrorObject(error_type="Flaky"),
                        step_options=StepOptions(next_attempt_delay_seconds=30),
                    )
                )
                return None
            inv.cp(up(1, "STEP", "SUCCEED", payload='"ok"'))
            return succeeded('"ok"')
        raise AssertionError(f"unexpected {step.status}")

    start = clock.now_ms()
    script = Script(svc, "wf", body)
    arn = script.start()
    assert svc.run(arn).status == "SUCCEEDED"
    assert seen == [("READY", 1)]
    assert clock.now_ms() == start + 30_000
    step = svc.get_operations(arn)[1]
    assert step.step_details is not None and step.step_details.attempt == 2
    assert types_of(svc, arn) == [
        "ExecutionStarted",
        "StepStarted",
        "StepFailed",
        "InvocationCompleted",
        "StepStarted",
        "StepSucceeded",
        "InvocationCompleted",
        "ExecutionSucceeded",
    ]
