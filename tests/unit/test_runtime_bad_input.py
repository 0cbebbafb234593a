"""What an embedder can get wrong, and the typed answer each mistake gets."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.testing import replay


def echo(x: Any):  # type: ignore[no-untyped-def]
    if False:
        yield
    return {"input_was": x}


def _execution(payload: str) -> rt.Operation:
    return rt.Operation(
        id="exec",
        type="EXECUTION",
        status="STARTED",
        execution_details=rt.ExecutionDetails(input_payload=payload),
    )


def _step() -> rt.Operation:
    return rt.Operation(
        id="s1",
        type="STEP",
        sub_type="Step",
        status="SUCCEEDED",
        name="x",
        step_details=rt.StepDetails(attempt=1, result="1"),
    )


def test_a_corrupt_input_ends_as_done_failed_not_an_exception() -> None:
    action = rt.Interpreter(echo, [_execution("{not json")]).next_action()
    assert isinstance(action, rt.Done) and isinstance(action.outcome, rt.Failed)
    assert action.outcome.error.error_type == "SerializationError"


def test_a_later_page_without_the_execution_operation_ends_as_done_failed() -> None:
    action = rt.Interpreter(echo, [_step()]).next_action()
    assert isinstance(action, rt.Done) and isinstance(action.outcome, rt.Failed)
    assert action.outcome.error.error_type == "ValidationError"
    assert "EXECUTION" in (action.outcome.error.error_message or "")


def test_a_new_execution_with_no_operations_gets_its_input_or_none() -> None:
    none = rt.Interpreter(echo, []).next_action()
    given = rt.Interpreter(echo, [], input=3).next_action()
    assert isinstance(none, rt.Done) and none.outcome == rt.Succeeded('{"input_was":null}')
    assert isinstance(given, rt.Done) and given.outcome == rt.Succeeded('{"input_was":3}')


def test_observe_and_apply_updates_refuse_what_is_not_theirs() -> None:
    interp = rt.Interpreter(echo, [_execution("1")])
    with pytest.raises(dg.ValidationError, match="observe"):
        interp.observe(["not an operation"])  # type: ignore[list-item]
    with pytest.raises(dg.ValidationError, match="apply_updates"):
        rt.apply_updates({}, ["not an update"], now_ms=0)  # type: ignore[list-item]


def test_replay_of_a_page_without_the_execution_operation_asks_for_the_input() -> None:
    with pytest.raises(dg.InvalidInputError, match="input="):
        replay(echo, [_step()])
    # with the input given, the replay runs: the recorded step is not in this code
    assert replay(echo, [_step()], input=1).status == "diverged"


@dg.step
def one() -> int:
    return 1


@dg.workflow
def uses_one(_: None):  # type: ignore[no-untyped-def]
    return (yield one())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"plugins": [5]}, "plugins must be Plugin instances"),
        ({"plugins": dg.Plugin()}, "plugins must be a list of Plugin instances"),
        ({"functions": [uses_one]}, "functions must be a mapping"),
        ({"functions": {"x": 5}}, r"functions\['x'\] must be a function"),
    ],
)
def test_run_options_of_the_wrong_kind_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(dg.ValidationError, match=message):
        dg.run(uses_one, None, **options)


@dg.step
def ratio() -> float:
    return float("nan")


@dg.workflow
def takes_text(name: str):  # type: ignore[no-untyped-def]
    return name
    yield


def test_mismatch_advice_fits_where_the_value_came_from() -> None:
    @dg.workflow
    def uses_ratio(_: None):  # type: ignore[no-untyped-def]
        return (yield ratio())

    with pytest.raises(dg.ExecutionFailedError, match="return a finite float"):
        dg.run(uses_ratio, None)
    with pytest.raises(dg.ExecutionFailedError, match=r"the workflow input.*send a value"):
        dg.run(takes_text, 5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"after_checkpoints": 1}, "is a set of points"),
        ({"before_attempts": {0}}, "count from 1"),
        ({"max_crashes": -1}, "max_crashes must be a whole number"),
    ],
)
def test_crash_schedule_options_are_checked(options: dict[str, Any], message: str) -> None:
    from durable_gen.testing import CrashSchedule

    with pytest.raises(dg.ValidationError, match=message):
        CrashSchedule(**options)
    assert CrashSchedule(after_attempts=[2, 1]).after_attempts == frozenset({1, 2})


def test_test_runner_start_must_be_a_datetime() -> None:
    from durable_gen.testing import TestRunner

    with pytest.raises(dg.ValidationError, match="start must be a datetime"):
        TestRunner(start="2030-01-01")  # type: ignore[arg-type]


# --- a store that records the wrong status ------------------------------------------------------


def _waits(_: Any) -> dg.Workflow[str]:
    yield from dg.Wait(seconds=5, name="pause")
    return "waited"


def _wait(status: Any) -> rt.Operation:
    return rt.Operation(id="w1", type="WAIT", sub_type="Wait", status=status, name="pause")


#: (type, a status a store may write for it by mistake): none of them is one that type takes.
WRONG_STATUSES = [
    ("WAIT", "FAILED"),
    ("WAIT", "TIMED_OUT"),
    ("WAIT", "PENDING"),
    ("STEP", "CANCELLED"),
    ("STEP", "TIMED_OUT"),
    ("CALLBACK", "CANCELLED"),
    ("CALLBACK", "READY"),
    ("CHAINED_INVOKE", "PENDING"),
    ("CONTEXT", "STOPPED"),
    ("CONTEXT", "PENDING"),
]


@pytest.mark.parametrize(("op_type", "status"), WRONG_STATUSES)
def test_a_recorded_status_its_type_never_takes_is_a_corrupt_history(
    op_type: Any, status: Any
) -> None:
    wrong = rt.Operation(id="w1", type=op_type, status=status, name="pause")
    action = rt.Interpreter(_waits, [_execution("null"), wrong]).next_action()
    assert isinstance(action, rt.Done) and isinstance(action.outcome, rt.Failed)
    assert action.outcome.error.error_type == "InvalidInputError"
    message = action.outcome.error.error_message or ""
    assert f"has status {status!r}, which a {op_type} never takes" in message
    assert "apply_updates" in message  # what to do


def test_a_wait_recorded_as_failed_is_not_read_as_finished() -> None:
    # Before, the workflow went past a FAILED wait as if it had ended, and succeeded.
    action = rt.Interpreter(_waits, [_execution("null"), _wait("FAILED")]).next_action()
    assert isinstance(action, rt.Done) and isinstance(action.outcome, rt.Failed)
    assert action.outcome.error.error_type == "InvalidInputError"


def test_observe_refuses_a_status_its_type_never_takes() -> None:
    interp = rt.Interpreter(_waits, [_execution("null")])
    flush = interp.next_action()
    assert isinstance(flush, rt.Flush)
    (update,) = flush.updates
    with pytest.raises(dg.ValidationError, match="which a WAIT never takes"):
        interp.observe([msgspec.structs.replace(_wait("FAILED"), id=update.id)])


@pytest.mark.parametrize(
    ("op_type", "statuses"),
    [
        ("STEP", ["STARTED", "PENDING", "READY", "SUCCEEDED", "FAILED"]),
        ("WAIT", ["STARTED", "SUCCEEDED", "CANCELLED"]),
        ("CALLBACK", ["STARTED", "SUCCEEDED", "FAILED", "TIMED_OUT"]),
        ("CHAINED_INVOKE", ["STARTED", "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"]),
        ("CONTEXT", ["STARTED", "SUCCEEDED", "FAILED"]),
    ],
)
def test_every_status_the_embedding_guide_lists_is_accepted(
    op_type: Any, statuses: list[Any]
) -> None:
    for status in statuses:
        op = rt.Operation(
            id="o1",
            type=op_type,
            status=status,
            name="x",
            step_details=rt.StepDetails(attempt=1, result="1") if op_type == "STEP" else None,
        )
        action = rt.Interpreter(echo, [_execution("1"), op]).next_action()
        assert isinstance(action, rt.Done)
        assert not isinstance(action.outcome, rt.Failed) or (
            action.outcome.error.error_type != "InvalidInputError"
        ), (op_type, status, action.outcome)


# --- a host that answers a Flush without what the store changed ---------------------------------


def _notify(callback_id: str) -> None:
    pass


def _creates(_: Any) -> dg.Workflow[Any]:
    handle = yield from dg.CreateCallback(name="approval", timeout=60)
    return (yield from handle)


def _waits_for_callback(_: Any) -> dg.Workflow[Any]:
    return (yield from dg.WaitForCallback(_notify, name="approval", timeout=60))


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize("workflow", [_creates, _waits_for_callback])
def test_a_reply_without_the_new_callback_is_refused_not_a_silent_suspension(
    workflow: Any, mode: Any
) -> None:
    # Before, the interpreter suspended on an operation nobody could answer: the callback id
    # never reached the workflow (nor a submitter).
    interp = rt.Interpreter(workflow, [_execution("null")], checkpointing=mode)
    flush = interp.next_action()
    assert isinstance(flush, rt.Flush)
    assert "CALLBACK" in [u.type for u in flush.updates]
    with pytest.raises(dg.ValidationError, match=r"did not carry it .*Applied\.operations"):
        interp.observe([])  # the store recorded the Flush late, or not at all


def test_the_reply_apply_updates_gives_carries_the_callback() -> None:
    store = {"exec": _execution("null")}
    interp = rt.Interpreter(_creates, list(store.values()))
    flush = interp.next_action()
    assert isinstance(flush, rt.Flush)
    interp.observe(rt.apply_updates(store, flush.updates, now_ms=0).operations)
    done = interp.next_action()
    assert isinstance(done, rt.Done) and isinstance(done.outcome, rt.Suspended)


def _plain_workflow(order: object) -> object:
    return order


async def _async_workflow(order: object) -> object:
    return order


@pytest.mark.parametrize(
    ("not_a_workflow", "kind"),
    [(_plain_workflow, "not a generator function"), (_async_workflow, "`async def`")],
)
def test_make_handler_refuses_a_function_that_is_not_a_workflow(
    not_a_workflow: object, kind: str
) -> None:
    """As lambda_handler does: a handler built on it failed every execution it resumed."""
    import functools

    import durable_gen as dg
    from durable_gen import runtime as rt
    from durable_gen.local import LocalService

    with pytest.raises(dg.WorkflowDefinitionError, match=f"needs a workflow.*{kind}"):
        rt.make_handler(not_a_workflow, LocalService())  # type: ignore[arg-type]

    def gen(order: object):  # type: ignore[no-untyped-def]
        return (yield dg.Step(lambda: order))

    rt.make_handler(functools.partial(gen), LocalService())  # a partial of one is a workflow
