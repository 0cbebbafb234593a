"""Bad input, seventh round: mistakes a user who read only the README and docs/ makes, each met
with a typed durable_gen error whose message says what to do (or, where the docs allow it,
the documented answer), and each leaving what was recorded intact.

The corpus at the end holds the cases that were fine when this round was written, so that a
regression is caught; the tests before it pin what this round fixed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local import LocalService, VirtualClock, register_function
from durable_gen.runtime import make_handler
from durable_gen.testing import TestRunner


@dg.workflow
def _now(_: None) -> dg.Workflow[str]:
    now = yield from dg.Now()
    return now.isoformat()


@dg.workflow
def _wait_then_now(_: None) -> dg.Workflow[str]:
    yield from dg.Wait(seconds=10)
    now = yield from dg.Now()
    return now.isoformat()


# --- a virtual clock anywhere a datetime reaches --------------------------------------------


@pytest.mark.parametrize("year", [4000, 6000, 9999])
def test_a_test_runner_started_in_any_year_a_datetime_holds_runs_its_workflows(year: int) -> None:
    """The docs let a virtual clock start anywhere up to 9999-12-31; a runner started past the
    year 5138 failed every execution with advice about epoch milliseconds."""
    start = datetime(year, 1, 1, tzinfo=UTC)
    run = TestRunner(start=start).run(_now)
    assert run.result() == start.isoformat()


def test_an_engine_on_a_virtual_clock_past_the_year_5138_runs_its_workflows() -> None:
    start = datetime(8300, 6, 1, tzinfo=UTC)
    service = LocalService(clock=VirtualClock(int(start.timestamp() * 1000)))
    service.register("now", make_handler(_now, service))
    record = service.run(service.start("now"))
    assert (record.status, record.result) == ("SUCCEEDED", '"8300-06-01T00:00:00+00:00"')


def test_a_wait_past_the_last_time_a_datetime_holds_is_refused_and_the_execution_kept() -> None:
    runner = TestRunner(start=datetime(9999, 12, 31, 23, 59, 55, tzinfo=UTC))
    with pytest.raises(dg.ValidationError, match=r"9999-12-31T23:59:59\.999Z"):
        runner.run(_wait_then_now)
    (execution,) = runner.executions()
    assert execution.status == "RUNNING"


def test_a_host_clock_of_milliseconds_is_still_refused_with_advice() -> None:
    def wf(_: None) -> Generator[Any, Any, Any]:
        return (yield dg.Now())

    service = LocalService(clock=VirtualClock())
    with pytest.raises(dg.ValidationError, match="epoch milliseconds"):
        make_handler(wf, service, clock=lambda: 1_735_689_600_000.0)


def test_a_test_runner_start_a_datetime_cannot_turn_into_a_time_is_a_validation_error() -> None:
    with pytest.raises(dg.ValidationError, match="from 1970 to 9999 with a timezone"):
        TestRunner(start=datetime(1, 1, 1))


# --- LocalService.register given what it cannot call ------------------------------------------


def _workflow(_: None) -> Generator[Any, Any, int]:
    yield dg.Wait(seconds=1)
    return 1


@dg.step
def _step(x: int) -> int:
    return x


async def _async(payload: str | None) -> str | None:
    return payload


_REGISTER_MISTAKES: dict[str, tuple[Callable[..., Any], dict[str, Any], str]] = {
    "workflow-as-handler": (_workflow, {}, "register_function(service, 'f', workflow)"),
    "partial-workflow-as-handler": (functools.partial(_workflow), {}, "generator function"),
    "step-as-handler": (_step, {}, "@step function"),
    "async-as-handler": (_async, {}, "async def"),
    "workflow-as-plain": (_workflow, {"durable": False}, "not a plain function"),
    "async-as-plain": (_async, {"durable": False}, "Register a plain def function"),
    "durable-as-text": (lambda payload: payload, {"durable": "False"}, "True or False"),
    "durable-as-int": (lambda payload: payload, {"durable": 0}, "True or False"),
}


@pytest.mark.parametrize("case", sorted(_REGISTER_MISTAKES))
def test_registering_what_the_engine_cannot_call_is_refused_where_it_is_registered(
    case: str,
) -> None:
    """Accepted before: every execution of it then failed with `InvalidInvocationOutput`
    ("the handler returned generator"), and `durable="False"` meant durable."""
    handler, options, fragment = _REGISTER_MISTAKES[case]
    service = LocalService(clock=VirtualClock())
    with pytest.raises(dg.ValidationError) as info:
        service.register("f", handler, **options)
    assert fragment in str(info.value)
    with pytest.raises(dg.FunctionNotRegisteredError):
        service.start("f")


def test_the_documented_ways_to_register_still_work() -> None:
    service = LocalService(clock=VirtualClock())
    service.register("wf", make_handler(_workflow, service))
    service.register("plain", lambda payload: payload, durable=False)
    register_function(service, "by-function", _workflow)
    for name in ("wf", "by-function"):
        assert service.run(service.start(name)).result == "1"


# --- an Interpreter used after close() --------------------------------------------------------


@dg.step
def _add_one(x: int) -> int:
    return x + 1


def _one_step(x: int) -> Generator[Any, Any, int]:
    return (yield _add_one(x))


def _handed_out(interp: Any) -> Any:
    from durable_gen.runtime import Flush, RunTasks

    action = interp.next_action()
    while isinstance(action, Flush):
        interp.observe([])
        action = interp.next_action()
    assert isinstance(action, RunTasks)
    return action.tasks[0]


@pytest.mark.parametrize("then", ["next_action", "observe-then-next_action", "started"])
def test_an_interpreter_used_after_close_refuses_instead_of_reporting_a_suspension(
    then: str,
) -> None:
    """Before, a step reported after close() was dropped and next_action() answered
    Done(Suspended([])), as if the execution waited on nothing: its result was lost."""
    from durable_gen.runtime import Interpreter

    interp = Interpreter(_one_step, [], execution_arn="arn:x", input=1)
    task = _handed_out(interp)
    interp.close()
    interp.task_succeeded(task, 2)  # an abandoned attempt's late report changes nothing
    with pytest.raises(dg.ValidationError, match=r"closed.*build a new Interpreter"):
        if then == "started":
            interp.started(task)
        else:
            if then == "observe-then-next_action":
                interp.observe([])
            interp.next_action()


def test_close_after_done_keeps_the_outcome_it_gave() -> None:
    from durable_gen.runtime import Done, Interpreter, Succeeded

    interp = Interpreter(_one_step, [], execution_arn="arn:x", input=1)
    task = _handed_out(interp)
    interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
    action = interp.next_action()
    while not isinstance(action, Done):
        interp.observe([])
        action = interp.next_action()
    assert action.outcome == Succeeded("2")
    interp.close()
    interp.close()  # again: nothing


# --- methods of the objects a user holds, called with arguments they do not take -------------


def _method_calls() -> list[tuple[str, Callable[[], object], str]]:
    import logging
    import tempfile

    from durable_gen import runtime, testing
    from durable_gen.local import Worker

    @dg.workflow
    def waits(_: None) -> dg.Workflow[object]:
        handle = yield from dg.CreateCallback(name="cb", timeout=100)
        return (yield from handle)

    runner = TestRunner()
    run = runner.run(waits)
    batch: dg.BatchResult[int] = dg.BatchResult(items=[], completion_reason="ALL_COMPLETED")
    report = testing.replay(waits, run.export())
    folder = tempfile.mkdtemp()
    worker = Worker(f"{folder}/w.db")
    return [
        ("run.result(timeout=5)", lambda: run.result(timeout=5), "'timeout'"),
        ("run.waiting_on(1)", lambda: run.waiting_on(1), "takes no arguments"),
        ("run.history(json=True)", lambda: run.history(json=True), "json"),
        (
            "runner.advance_to_next_timer(5)",
            lambda: runner.advance_to_next_timer(5),
            "advance_to_next_timer",
        ),
        ("runner.now(tz=UTC)", lambda: runner.now(tz=UTC), "'tz'"),
        ("runner.executions(status=...)", lambda: runner.executions(status="RUNNING"), "'status'"),
        ("batch.results(strict=True)", lambda: batch.results(strict=True), "'strict'"),
        ("batch.all_results(0)", lambda: batch.all_results(0), "all_results"),
        ("batch.errors(types=...)", lambda: batch.errors(types=[]), "'types'"),
        ("batch.get_results(False)", lambda: batch.get_results(False), "get_results"),
        ("batch.raise_if_failed(msg=...)", lambda: batch.raise_if_failed(msg="x"), "'msg'"),
        ("report.raise_for_status(1)", lambda: report.raise_for_status(1), "raise_for_status"),
        ("current_attempt(run)", lambda: testing.current_attempt(run), "current_attempt"),
        ("run_step_call()", lambda: runtime.run_step_call(), "'call'"),
        ("worker.stop(wait=True)", lambda: worker.stop(wait=True), "'wait'"),
        ("worker.run_due(once=True)", lambda: worker.run_due(once=True), "'once'"),
        ("worker.drive(arn, until=5)", lambda: worker.drive("arn", until=5), "'until'"),
        ("worker.close(force=True)", lambda: worker.close(force=True), "'force'"),
        (
            "StepFunction(fn) without its options",
            lambda: dg.StepFunction(len),
            "'name'",
        ),
        (
            "ReplayAwareLogger(logger, True)",
            lambda: dg.ReplayAwareLogger(logging.getLogger("x"), True),
            "log_during_replay",
        ),
        (
            "DurableRun(runner) alone",
            lambda: testing.DurableRun(runner),
            "'arn'",
        ),
    ]


_METHOD_CALLS = [case[0] for case in _method_calls()]


@pytest.mark.parametrize("case", range(len(_METHOD_CALLS)), ids=_METHOD_CALLS)
def test_a_method_called_with_arguments_it_does_not_take_is_an_argument_error(case: int) -> None:
    """These were Python's plain TypeError; the docs promise an ArgumentError for any public
    function or method called with arguments it does not take."""
    _, call, fragment = _method_calls()[case]
    with pytest.raises(dg.ArgumentError) as caught:
        call()
    assert fragment in str(caught.value)
    assert isinstance(caught.value, TypeError)


# --- a retry_if that cannot take the failure ------------------------------------------------


def _two(error: BaseException, attempt: int) -> bool:
    return True


@pytest.mark.parametrize(
    "predicate",
    [lambda: True, _two, functools.partial(_two, ValueError(), 1)],
    ids=["no-parameter", "two-required", "partial-taking-none"],
)
def test_a_retry_if_that_cannot_take_the_failure_is_refused_where_the_retry_is_built(
    predicate: Callable[..., bool],
) -> None:
    """Accepted before: at the step's first failure the call of retry_if failed, and the step
    failed for good with error_type TypeError, as if its body had raised one."""
    with pytest.raises(dg.ValidationError, match=r"retry_if is called with \(error\)"):
        dg.Retry(retry_if=predicate)


@pytest.mark.parametrize(
    "predicate",
    [
        lambda exc: True,
        lambda *args: True,
        lambda exc, attempt=1: True,
        functools.partial(_two, attempt=1),
        print,  # a builtin whose signature can be read: takes anything
    ],
    ids=["one", "star-args", "default", "partial", "builtin"],
)
def test_a_retry_if_that_can_take_the_failure_is_kept(predicate: Callable[..., bool]) -> None:
    assert dg.Retry(retry_if=predicate).retry_if is predicate


# --- histories that record nothing, events of no known type, patterns that leave the folder ---


def _replayed(_: None) -> Generator[Any, Any, int]:
    yield dg.Wait(seconds=1)
    return 1


@pytest.mark.parametrize(
    "history",
    [[], {"Operations": []}, {"Events": []}, {"Events": [{"EventType": "Nope", "EventId": 1}]}],
    ids=["empty-list", "no-operations", "no-events", "unknown-events-only"],
)
def test_a_history_that_records_nothing_is_invalid_not_incomplete(history: object) -> None:
    """These replayed as `incomplete`, which counts as ok: a golden file that holds no history
    (an empty export, a page without data) passed the check."""
    from durable_gen.testing import replay

    report = replay(_replayed, history)  # type: ignore[arg-type]
    assert (report.status, report.ok) == ("invalid", False)
    assert "records no operation" in report.message
    # asked with the input, the empty prefix is what a new execution replays
    assert replay(_replayed, history, input=None).status == "incomplete"  # type: ignore[arg-type]


def test_events_of_no_known_type_are_named_in_the_warnings() -> None:
    from durable_gen.testing import replay

    run = TestRunner().run(_replayed)
    events = list(run.export()["Events"])
    events.append({"EventType": "Telemetry", "EventId": 1000})
    report = replay(_replayed, {"Events": events})
    assert report.ok, report.message
    assert any("'Telemetry'" in warning for warning in report.warnings), report.warnings


def test_an_operation_event_without_its_id_is_invalid_not_dropped() -> None:
    from durable_gen.testing import replay

    run = TestRunner().run(_replayed)
    events = [dict(event) for event in run.export()["Events"]]
    for event in events:
        if event["EventType"] == "WaitStarted":
            del event["Id"]
    report = replay(_replayed, {"Events": events})
    assert report.status == "invalid"
    assert "names no operation" in report.message


@pytest.mark.parametrize("pattern", ["/etc/*.json", "../*.json", "a/../../*.json"])
def test_a_replay_folder_pattern_that_leaves_the_folder_is_a_validation_error(
    pattern: str, tmp_path: Any
) -> None:
    """An absolute pattern was pathlib's plain NotImplementedError; one with `..` read files
    outside the folder (and a valid history there failed in relative_to with a ValueError)."""
    from durable_gen.testing import replay_folder

    (tmp_path / "inner").mkdir()
    TestRunner().run(_replayed).export(str(tmp_path / "outside.json"))
    with pytest.raises(dg.ValidationError, match="relative to the folder"):
        replay_folder(_replayed, tmp_path / "inner", pattern=pattern)


def test_replay_folder_reports_each_empty_file_as_invalid(tmp_path: Any) -> None:
    from durable_gen.testing import replay_folder

    TestRunner().run(_replayed).export(str(tmp_path / "good.json"))
    (tmp_path / "empty-list.json").write_text("[]")
    (tmp_path / "no-events.json").write_text('{"Events": []}')
    reports = replay_folder(_replayed, tmp_path)
    statuses = {str(r.source).rsplit("/", 1)[-1]: r.status for r in reports}
    assert statuses == {
        "empty-list.json": "invalid",
        "good.json": "ok",
        "no-events.json": "invalid",
    }


# --- a Child given arguments its workflow does not take ----------------------------------------


def _child_of_one(x: int) -> Generator[Any, Any, int]:
    yield dg.Wait(seconds=1)
    return x


def _child_of_none() -> Generator[Any, Any, int]:
    yield dg.Wait(seconds=1)
    return 0


@pytest.mark.parametrize(
    ("workflow", "args", "kwargs", "fragment"),
    [
        (_child_of_one, (1, 2), None, "too many positional arguments"),
        (_child_of_one, (), None, "missing a required argument: 'x'"),
        (_child_of_none, (1,), None, "too many positional arguments"),
        (_child_of_one, (), {"x": 1, "y": 1}, "unexpected keyword argument 'y'"),
        (functools.partial(_child_of_one, 1), (2,), None, "too many positional arguments"),
    ],
    ids=["extra", "missing", "none-taken", "unknown-keyword", "partial-extra"],
)
def test_a_child_given_arguments_its_workflow_does_not_take_is_an_argument_error(
    workflow: Any, args: tuple[Any, ...], kwargs: dict[str, Any] | None, fragment: str
) -> None:
    """Before, the child failed when it started with the workflow's own TypeError
    (`error_type` "TypeError"), as if its body had raised one."""
    with pytest.raises(dg.ArgumentError) as caught:
        dg.Child(workflow, args, kwargs=kwargs)
    assert fragment in str(caught.value)
    assert "args=(...)" in str(caught.value)

    def parent(_: None) -> Generator[Any, Any, Any]:
        return (yield dg.Child(workflow, args, kwargs=kwargs))

    with pytest.raises(dg.ExecutionFailedError) as failed:
        dg.run(parent, None, skip_time=True)
    assert failed.value.error_type == "ArgumentError"


def test_a_child_given_the_arguments_it_takes_runs() -> None:
    def parent(_: None) -> Generator[Any, Any, Any]:
        a = yield dg.Child(_child_of_one, (1,))
        b = yield dg.Child(_child_of_one, kwargs={"x": 2})
        c = yield dg.Child(functools.partial(_child_of_one, 3))
        d = yield dg.Child(_child_of_none)
        return [a, b, c, d]

    assert dg.run(parent, None, skip_time=True) == [1, 2, 3, 0]
