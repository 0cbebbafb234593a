"""Bad input, seventh round: mistakes a user who read only the README and docs/ makes, each met
with a typed durable_gen error whose message says what to do (or, where the docs allow it,
the documented answer), and each leaving what was recorded intact.

The corpus at the end holds the cases that were fine when this round was written, so that a
regression is caught; the tests before it pin what this round fixed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from datetime import UTC, date, datetime, timedelta
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


# --- the corpus: mistakes that were met as the docs say when this round was written -----------
#
# Each entry: an id, a call, and the name of the durable_gen error it must end in: raised by the
# call itself, or (for a mistake inside a workflow body) the `error_type` of the
# `ExecutionFailedError` that `dg.run` raises.


def _wf_of(build: Callable[[], Any]) -> Callable[[Any], Generator[Any, Any, Any]]:
    def wf(_: Any) -> Generator[Any, Any, Any]:
        return (yield build())

    return wf


def _in_workflow(build: Callable[[], Any], **options: Any) -> Callable[[], object]:
    return lambda: dg.run(_wf_of(build), None, skip_time=True, **options)


def _yielding(value: Any) -> Callable[[], object]:
    return _in_workflow(lambda: value)


def _plain(x: Any = None) -> Any:
    return x


def _gen_one(x: Any) -> Generator[Any, Any, Any]:
    yield dg.Wait(seconds=1)
    return x


def _gen_none() -> Generator[Any, Any, Any]:
    yield dg.Wait(seconds=1)
    return 0


async def _agen(x: Any) -> Any:
    yield x


def _kwonly(*, x: Any) -> Any:
    return x


class _Holder:
    def method(self, x: Any) -> Any:
        return x


_NAN, _INF = float("nan"), float("inf")
_TD = timedelta(seconds=5)
_BAD_NAMES = {
    "empty": "",
    "long": "x" * 257,
    "nul": "\x00",
    "non-ascii": "é",
    "newline": "a\nb",
    "int": 5,
    "bytes": b"x",
    "surrogate": "\ud800",
}


def _corpus() -> list[tuple[str, Callable[[], object], str]]:
    from decimal import Decimal
    from fractions import Fraction

    cases: list[tuple[str, Callable[[], object], str]] = []
    add = cases.append
    v = "ValidationError"
    # durations of a Wait: whole seconds, 1 s to 366 days
    for label, seconds in {
        "nan": _NAN,
        "inf": _INF,
        "-inf": -_INF,
        "1e300": 1e300,
        "2**70": 2**70,
        "bool": True,
        "decimal": Decimal(5),
        "fraction": Fraction(5, 1),
        "timedelta": _TD,
        "text": "5",
        "none": None,
        "float-whole": 5.0,
        "float": 5.5,
        "complex": complex(5, 0),
        "list": [5],
        "zero": 0,
        "negative": -1,
        "over-366-days": 31_622_401,
    }.items():
        add((f"wait-seconds-{label}", _in_workflow(lambda s=seconds: dg.Wait(seconds=s)), v))
    # names of operations: 1-256 printable ASCII characters
    for label, name in _BAD_NAMES.items():
        add((f"wait-name-{label}", _in_workflow(lambda n=name: dg.Wait(seconds=1, name=n)), v))
        add((f"step-name-{label}", _in_workflow(lambda n=name: dg.Step(_plain, name=n)), v))
        add((f"child-name-{label}", _in_workflow(lambda n=name: dg.Child(_gen_none, name=n)), v))
        add((f"decorator-step-name-{label}", lambda n=name: dg.step(name=n)(_plain), v))
    # step options
    for label, timeout in {
        "zero": 0,
        "negative": -1,
        "nan": _NAN,
        "inf": _INF,
        "text": "1",
        "bool": True,
        "timedelta-zero": timedelta(0),
        "timedelta-negative": timedelta(seconds=-1),
    }.items():
        add(
            (f"step-timeout-{label}", _in_workflow(lambda t=timeout: dg.Step(_plain, timeout=t)), v)
        )
        add((f"decorator-timeout-{label}", lambda t=timeout: dg.step(timeout=t)(_plain), v))
    for label, semantics in {
        "upper": "AT_MOST_ONCE",
        "dashes": "at-most-once",
        "none": None,
    }.items():
        add(
            (
                f"step-semantics-{label}",
                _in_workflow(lambda s=semantics: dg.Step(_plain, semantics=s)),
                v,
            )
        )
    for label, retry in {
        "int": 3,
        "dict": {"max_attempts": 3},
        "class": dg.Retry,
        "text": "never",
    }.items():
        add((f"step-retry-{label}", _in_workflow(lambda r=retry: dg.Step(_plain, retry=r)), v))
    for label, args in {
        "int": 5,
        "text": "ab",
        "dict": {"x": 1},
        "none": None,
        "iterator": iter([1]),
    }.items():
        add((f"step-args-{label}", _in_workflow(lambda a=args: dg.Step(_plain, a)), v))
    for label, kwargs in {"int": 5, "pairs": [("x", 1)], "int-keys": {1: 2}}.items():
        add((f"step-kwargs-{label}", _in_workflow(lambda k=kwargs: dg.Step(_plain, kwargs=k)), v))
    for label, fn in {"none": None, "int": 5, "text": "f", "retry": dg.Retry()}.items():
        add((f"step-fn-{label}", _in_workflow(lambda f=fn: dg.Step(f)), v))
    add(("step-builtin-without-its-argument", _in_workflow(lambda: dg.Step(len)), "ArgumentError"))
    # decorators
    d = "WorkflowDefinitionError"
    add(("workflow-decorator-called-empty", lambda: dg.workflow()(_gen_none), "ArgumentError"))  # type: ignore[call-arg]
    add(("workflow-decorator-name", lambda: dg.workflow(name="x"), "ArgumentError"))  # type: ignore[call-arg]
    add(("workflow-decorator-class", lambda: dg.workflow(_Holder), d))
    add(("workflow-decorator-int", lambda: dg.workflow(5), d))  # type: ignore[arg-type]
    add(("workflow-decorator-async-generator", lambda: dg.workflow(_agen), d))  # type: ignore[arg-type]
    add(("step-decorator-int", lambda: dg.step(5), v))  # type: ignore[call-overload]
    add(("step-decorator-name-positional", lambda: dg.step("name"), v))  # type: ignore[call-overload]
    add(("step-decorator-two-positional", lambda: dg.step(_plain, "n"), "ArgumentError"))  # type: ignore[call-overload]
    add(("step-decorator-retry-int", lambda: dg.step(retry=3)(_plain), v))  # type: ignore[arg-type]
    add(("step-decorator-semantics", lambda: dg.step(semantics="x")(_plain), v))  # type: ignore[arg-type]
    add(("step-decorator-compensate-int", lambda: dg.step(compensate=5)(_plain), v))  # type: ignore[arg-type]
    add(("step-decorator-serdes-int", lambda: dg.step(serdes=5)(_plain), v))  # type: ignore[arg-type]
    add(("step-decorator-serdes-class", lambda: dg.step(serdes=dg.JsonSerdes)(_plain), v))  # type: ignore[arg-type]
    add(("step-decorator-async-generator", lambda: dg.step(_agen), d))  # type: ignore[call-overload]
    add(("step-decorator-classmethod-object", lambda: dg.step(classmethod(len)), v))  # type: ignore[call-overload]
    # what run() is given as the workflow
    for label, wf in {
        "async-generator": _agen,
        "lambda": lambda x: x,
        "callable-object": _Holder(),
        "generator-object": _gen_one(1),
        "none": None,
        "module-path": "mod:wf",
        "step-function": dg.step(_plain),
        "builtin": print,
        "class": _Holder,
    }.items():
        add((f"run-workflow-{label}", lambda w=wf: dg.run(w, None), d))  # type: ignore[arg-type]
    add(("run-unbound-method", lambda: dg.run(_Holder.method, 1), d))  # type: ignore[arg-type]
    add(("run-keyword-only-workflow", lambda: dg.run(_kwonly, 1), d))  # type: ignore[arg-type]
    # what a workflow yields
    for label, value in {
        "none": None,
        "command-class": dg.Wait,
        "step-function": dg.step(_plain),
        "bare-command": dg.Command(),
        "foreign-handle": dg.CallbackHandle(callback_id="x", operation_id="y"),
        "generator-expression": (x for x in ()),
        "dict": {"a": 1},
        "tuple-of-steps": (dg.Step(_plain), dg.Step(_plain)),
        "branch": dg.Branch(_plain),
        "completion": dg.Completion(),
        "retry": dg.Retry(),
        "wait-decision": dg.WaitDecision.done(),
        "batch-result": dg.BatchResult(items=[], completion_reason="ALL_COMPLETED"),
        "exception": ValueError("x"),
    }.items():
        add((f"yield-{label}", _yielding(value), d))
    # Retry, WaitStrategy, WaitDecision
    for label, options in {
        "attempts-zero": {"max_attempts": 0},
        "attempts-negative": {"max_attempts": -1},
        "attempts-float": {"max_attempts": 1.5},
        "attempts-bool": {"max_attempts": True},
        "attempts-none": {"max_attempts": None},
        "delay-negative": {"initial_delay": -1},
        "delay-nan": {"initial_delay": _NAN},
        "delay-inf": {"initial_delay": _INF},
        "delay-timedelta": {"initial_delay": _TD},
        "delay-text": {"initial_delay": "5"},
        "backoff-zero": {"backoff": 0},
        "backoff-below-one": {"backoff": 0.5},
        "backoff-nan": {"backoff": _NAN},
        "max-delay-negative": {"max_delay": -1},
        "max-delay-timedelta": {"max_delay": _TD},
        "max-delay-inf": {"max_delay": _INF},
        "max-delay-over-366-days": {"max_delay": 31_622_401},
        "jitter-upper": {"jitter": "FULL"},
        "jitter-none-value": {"jitter": None},
        "jitter-float": {"jitter": 0.5},
        "retry-on-class": {"retry_on": ValueError},
        "retry-on-list": {"retry_on": [ValueError]},
        "retry-on-int": {"retry_on": (5,)},
        "retry-on-name": {"retry_on": ("ValueError",)},
        "retry-if-int": {"retry_if": 5},
    }.items():
        add((f"retry-{label}", lambda o=options: dg.Retry(**o), v))
    add(("retry-never-with-argument", lambda: dg.Retry.never(3), "ArgumentError"))  # type: ignore[call-arg]

    def until(state: Any) -> bool:
        return True

    for label, options in {
        "until-int": {"until": 5},
        "until-no-parameter": {"until": lambda: True},
        "delay-zero": {"until": until, "delay": 0},
        "delay-nan": {"until": until, "delay": _NAN},
        "delay-timedelta": {"until": until, "delay": _TD},
        "backoff-zero": {"until": until, "backoff": 0},
        "max-delay-inf": {"until": until, "max_delay": _INF},
        "attempts-zero": {"until": until, "max_attempts": 0},
        "attempts-float": {"until": until, "max_attempts": 1.5},
        "delay-over-366-days": {"until": until, "delay": 31_622_401},
    }.items():
        add((f"wait-strategy-{label}", lambda o=options: dg.WaitStrategy(**o), v))
    for label, seconds in {
        "zero": 0,
        "negative": -1,
        "nan": _NAN,
        "timedelta": _TD,
        "float": 1.5,
        "text": "5",
        "bool": True,
        "over": 31_622_401,
    }.items():
        add((f"wait-decision-again-{label}", lambda s=seconds: dg.WaitDecision.again(s), v))
    for label, strategy in {
        "returns-bool": lambda s, a: True,
        "returns-none": lambda s, a: None,
        "returns-int": lambda s, a: 5,
    }.items():
        add(
            (
                f"wait-for-condition-strategy-{label}",
                _in_workflow(lambda w=strategy: dg.WaitForCondition(_plain, 1, wait_strategy=w)),
                d,
            )
        )
    for label, strategy in {
        "class": dg.WaitStrategy,
        "int": 5,
        "decision": dg.WaitDecision.done(),
    }.items():
        add(
            (
                f"wait-for-condition-strategy-{label}",
                _in_workflow(lambda w=strategy: dg.WaitForCondition(_plain, 1, wait_strategy=w)),
                v,
            )
        )
    add(
        (
            "wait-for-condition-generator-check",
            _in_workflow(lambda: dg.WaitForCondition(_gen_one, 1)),
            d,
        )
    )
    add(
        (
            "wait-for-condition-state-object",
            _in_workflow(lambda: dg.WaitForCondition(_plain, object())),
            "SerializationError",
        )
    )
    # callbacks and invokes written in a workflow
    for label, options in {
        "timeout-negative": {"timeout": -1},
        "timeout-float": {"timeout": 1.5},
        "timeout-nan": {"timeout": _NAN},
        "timeout-timedelta": {"timeout": _TD},
        "timeout-huge": {"timeout": 10**9},
        "heartbeat-negative": {"heartbeat_timeout": -1},
        "heartbeat-timedelta": {"heartbeat_timeout": _TD},
        "result-type-int": {"result_type": 5},
        "result-type-text": {"result_type": "int"},
        "serdes-int": {"serdes": 5},
        "name-empty": {"name": ""},
    }.items():
        add((f"create-callback-{label}", _in_workflow(lambda o=options: dg.CreateCallback(**o)), v))
    functions = {"f": _plain}
    for label, (args, options) in {
        "name-empty": (("",), {}),
        "name-space": (("a b",), {}),
        "name-int": ((5,), {}),
        "name-long": (("f" * 300,), {}),
        "tenant-empty": (("f",), {"tenant_id": ""}),
        "tenant-long": (("f",), {"tenant_id": "a" * 257}),
        "tenant-non-ascii": (("f",), {"tenant_id": "é"}),
        "tenant-int": (("f",), {"tenant_id": 5}),
        "result-type-int": (("f",), {"result_type": 5}),
        "serdes-class": (("f",), {"serdes": dg.JsonSerdes}),
    }.items():
        add(
            (
                f"invoke-{label}",
                _in_workflow(lambda a=args, o=options: dg.Invoke(*a, **o), functions=functions),
                v,
            )
        )
    add(
        (
            "invoke-payload-object",
            _in_workflow(lambda: dg.Invoke("f", object()), functions=functions),
            "SerializationError",
        )
    )
    # Map, Parallel, Child shapes
    add(("map-async-generator", _in_workflow(lambda: dg.Map(_agen, [1])), d))
    add(("map-keyword-only", _in_workflow(lambda: dg.Map(_kwonly, [1])), v))
    add(("map-class-of-no-argument", _in_workflow(lambda: dg.Map(_Holder, [1])), v))
    for label, items in {
        "generator": (x for x in [1]),
        "dict": {"a": 1},
        "text": "abc",
        "set": {1},
        "none": None,
        "int": 5,
    }.items():
        add((f"map-items-{label}", _in_workflow(lambda i=items: dg.Map(_plain, i)), v))
    add(("map-nesting", _in_workflow(lambda: dg.Map(_plain, [1], nesting="deep")), v))
    add(
        (
            "map-namer-returns-int",
            _in_workflow(lambda: dg.Map(_plain, [1], item_namer=lambda i, n: 5)),
            v,
        )
    )
    add(
        (
            "map-max-concurrency-bool",
            _in_workflow(lambda: dg.Map(_plain, [1], max_concurrency=True)),
            v,
        )
    )
    add(
        (
            "map-completion-dict",
            _in_workflow(lambda: dg.Map(_plain, [1], completion={"min_successful": 1})),
            v,
        )
    )
    add(
        (
            "map-item-serdes-class",
            _in_workflow(lambda: dg.Map(_plain, [1], item_serdes=dg.JsonSerdes)),
            v,
        )
    )
    add(("parallel-async-generator", _in_workflow(lambda: dg.Parallel([_agen])), d))
    add(("parallel-branch-needs-argument", _in_workflow(lambda: dg.Parallel([_gen_one])), v))
    add(
        (
            "parallel-bound-method-needs-argument",
            _in_workflow(lambda: dg.Parallel([_Holder().method])),
            v,
        )
    )
    add(("parallel-keyword-only", _in_workflow(lambda: dg.Parallel([_kwonly])), v))
    add(("parallel-branches-generator", _in_workflow(lambda: dg.Parallel(x for x in [_plain])), v))
    add(
        (
            "parallel-branch-name-int",
            _in_workflow(lambda: dg.Parallel([dg.Branch(_plain, name=5)])),
            v,
        )
    )
    add(("branch-int", lambda: dg.Branch(5), v))  # type: ignore[arg-type]
    add(("child-async-generator", _in_workflow(lambda: dg.Child(_agen, (1,))), d))
    add(("child-none", _in_workflow(lambda: dg.Child(None)), d))
    add(("child-args-list", _in_workflow(lambda: dg.Child(_gen_one, [1])), v))
    add(("child-args-int", _in_workflow(lambda: dg.Child(_gen_one, 1)), v))
    add(("child-virtual-text", _in_workflow(lambda: dg.Child(_gen_one, (1,), virtual="yes")), v))
    # values a step returns or raises that no payload can carry
    add(
        (
            "step-result-over-1-mib",
            _in_workflow(lambda: dg.Step(lambda: "x" * (1024 * 1024 + 1), retry=dg.Retry.never())),
            "PayloadTooLargeError",
        )
    )
    add(
        (
            "step-result-tuple-keys",
            _in_workflow(lambda: dg.Step(lambda: {(1, 2): 3}, retry=dg.Retry.never())),
            "SerializationError",
        )
    )
    add(
        (
            "step-result-none-key",
            _in_workflow(lambda: dg.Step(lambda: {None: 3}, retry=dg.Retry.never())),
            "SerializationError",
        )
    )
    add(
        (
            "step-result-generator",
            _in_workflow(lambda: dg.Step(lambda: (x for x in [1]), retry=dg.Retry.never())),
            d,
        )
    )
    add(
        (
            "step-result-step-function",
            _in_workflow(lambda: dg.Step(lambda: dg.step(_plain), retry=dg.Retry.never())),
            "SerializationError",
        )
    )
    cases += _engine_corpus()
    return cases


def _engine_corpus() -> list[tuple[str, Callable[[], object], str]]:
    """Mistakes made with the embedded engine, the test runner and the interpreter."""
    from durable_gen.local import MemoryStore
    from durable_gen.runtime import ErrorObject, Flush, Interpreter, RunTasks

    cases: list[tuple[str, Callable[[], object], str]] = []
    add = cases.append
    v, i = "ValidationError", "InvalidInputError"

    @dg.step
    def hand_over(callback_id: str) -> None:
        handed.append(callback_id)

    handed: list[str] = []

    def waits(_: None) -> Generator[Any, Any, Any]:
        return (yield dg.WaitForCallback(hand_over, name="cb"))

    def engine() -> LocalService:
        service = LocalService(clock=VirtualClock())
        register_function(service, "cb", waits)
        return service

    def open_callback() -> tuple[LocalService, str]:
        service = engine()
        handed.clear()
        service.run(service.start("cb"))
        return service, handed[0]

    for label, options in {
        "store-int": {"store": 5},
        "store-class": {"store": MemoryStore},
        "clock-int": {"clock": 5},
        "clock-class": {"clock": VirtualClock},
        "page-size-zero": {"page_size": 0},
        "page-size-float": {"page_size": 1.5},
        "page-size-bool": {"page_size": True},
        "max-crashes-zero": {"max_crashes": 0},
        "max-crashes-none": {"max_crashes": None},
        "region-empty": {"region": ""},
        "region-space": {"region": "us east"},
        "account-letters": {"account_id": "abc"},
        "account-int": {"account_id": 123},
    }.items():
        add((f"local-service-{label}", lambda o=options: LocalService(**o), v))
    for label, (name, handler) in {
        "name-empty": ("", _plain),
        "name-space": ("a b", _plain),
        "name-non-ascii": ("é", _plain),
        "name-int": (5, _plain),
        "handler-int": ("f", 5),
        "handler-none": ("f", None),
    }.items():
        add((f"register-{label}", lambda n=name, h=handler: engine().register(n, h), v))
    for label, (args, options, error) in {
        "unknown-function": (("nope",), {}, "FunctionNotRegisteredError"),
        "input-int": (("cb", 5), {}, i),
        "input-dict": (("cb", {"a": 1}), {}, i),
        "input-bytes": (("cb", b'"x"'), {}, i),
        "input-surrogate": (("cb", "\ud800"), {}, i),
        "input-over-6-mib": (("cb", "x" * (7 * 1024 * 1024)), {}, "PayloadTooLargeError"),
        "name-empty": (("cb",), {"execution_name": ""}, v),
        "name-long": (("cb",), {"execution_name": "a" * 65}, v),
        "name-space": (("cb",), {"execution_name": "a b"}, v),
        "timeout-zero": (("cb",), {"execution_timeout": 0}, v),
        "timeout-float": (("cb",), {"execution_timeout": 1.5}, v),
        "timeout-nan": (("cb",), {"execution_timeout": _NAN}, v),
        "timeout-timedelta": (("cb",), {"execution_timeout": _TD}, v),
        "timeout-bool": (("cb",), {"execution_timeout": True}, v),
        "timeout-over-366-days": (("cb",), {"execution_timeout": 31_622_401}, v),
    }.items():
        add((f"start-{label}", lambda a=args, o=options: engine().start(*a, **o), error))
    for method in ("run", "get_execution", "get_operations", "get_history", "waiting_on", "stop"):
        for label, arn in {"empty": "", "unknown": "nope", "int": 5, "none": None}.items():
            add(
                (
                    f"{method}-arn-{label}",
                    lambda m=method, a=arn: getattr(engine(), m)(a),
                    "ExecutionNotFoundError",
                )
            )
    for label, until in {
        "text": "5",
        "nan": _NAN,
        "float": 1.5,
        "datetime": datetime(2030, 1, 1),
        "bool": True,
    }.items():
        add((f"run-until-{label}", lambda u=until: engine().run("nope", until=u), v))
    for label, status in {
        "lower": "running",
        "pending": "PENDING",
        "int": 5,
        "list": ["RUNNING"],
    }.items():
        add((f"list-executions-{label}", lambda st=status: engine().list_executions(st), v))
    for label, result in {
        "int": 5,
        "dict": {"a": 1},
        "bytes": b'"x"',
        "surrogate": '"\ud800"',
        "over-1-mib": '"' + "x" * (1024 * 1024) + '"',
    }.items():
        add(
            (
                f"callback-success-result-{label}",
                lambda r=result: (lambda t: t[0].send_callback_success(t[1], r))(open_callback()),
                i,
            )
        )
    for label, error in {
        "text": "boom",
        "dict": {"ErrorType": "x"},
        "exception": Exception("boom"),
        "type-int": ErrorObject(error_type=5),
        "trace-text": ErrorObject(stack_trace="abc"),
        "data-dict": ErrorObject(error_data={"a": 1}),
        "type-surrogate": ErrorObject(error_type="\ud800"),
    }.items():
        add(
            (
                f"callback-failure-{label}",
                lambda e=error: (lambda t: t[0].send_callback_failure(t[1], e))(open_callback()),
                i,
            )
        )
    add(
        (
            "callback-failure-over-32-kib",
            lambda: (
                lambda t: t[0].send_callback_failure(t[1], ErrorObject(error_message="x" * 40000))
            )(open_callback()),
            "PayloadTooLargeError",
        )
    )
    for label, callback_id in {
        "empty": "",
        "unknown": "nope",
        "int": 5,
        "none": None,
        "bytes": b"abc",
        "nul": "\x00",
    }.items():
        add(
            (
                f"callback-success-id-{label}",
                lambda c=callback_id: open_callback()[0].send_callback_success(c, '"x"'),
                "UnknownCallbackError",
            )
        )
        add(
            (
                f"callback-heartbeat-id-{label}",
                lambda c=callback_id: open_callback()[0].send_callback_heartbeat(c),
                "UnknownCallbackError",
            )
        )

    def answered_twice() -> None:
        service, callback_id = open_callback()
        service.send_callback_success(callback_id, '"a"')
        service.send_callback_success(callback_id, '"b"')

    def heartbeat_after_answer() -> None:
        service, callback_id = open_callback()
        service.send_callback_success(callback_id, '"a"')
        service.send_callback_heartbeat(callback_id)

    add(("callback-answered-twice", answered_twice, "UnknownCallbackError"))
    add(("callback-heartbeat-after-answer", heartbeat_after_answer, "UnknownCallbackError"))
    add(
        (
            "stop-error-text",
            lambda: (lambda t: t[0].stop(t[0].list_executions()[0].arn, error="boom"))(
                open_callback()
            ),
            i,
        )
    )
    # the test runner
    for label, options in {
        "skip-time-text": {"skip_time": "yes"},
        "skip-time-none": {"skip_time": None},
        "start-text": {"start": "2025-01-01"},
        "start-int": {"start": 0},
        "start-date": {"start": date(2025, 1, 1)},
        "start-before-1970": {"start": datetime(1960, 1, 1, tzinfo=UTC)},
        "functions-list": {"functions": [("a", _plain)]},
        "functions-value-int": {"functions": {"a": 5}},
        "functions-name-space": {"functions": {"a b": _plain}},
        "functions-name-empty": {"functions": {"": _plain}},
        "checkpointing-upper": {"checkpointing": "STEP"},
        "serdes-class": {"serdes": dg.JsonSerdes},
        "plugins-one": {"plugins": dg.Plugin()},
        "plugins-int": {"plugins": [5]},
        "payload-format-upper": {"payload_format": "AWS"},
    }.items():
        add((f"test-runner-{label}", lambda o=options: TestRunner(**o), v))
    for label, seconds in {
        "negative": -1,
        "nan": _NAN,
        "inf": _INF,
        "text": "5",
        "timedelta": _TD,
        "bool": True,
        "past-9999": 10**20,
    }.items():
        add(
            (f"runner-advance-{label}", lambda s=seconds: TestRunner(skip_time=False).advance(s), v)
        )

    def run_waiting() -> Any:
        return TestRunner().run(waits)

    add(("durable-run-operation-name-int", lambda: run_waiting().operation(5), v))
    add(("durable-run-operation-index-text", lambda: run_waiting().operation("cb", index="0"), v))
    add(("durable-run-operation-type-lower", lambda: run_waiting().operation("cb", type="step"), v))
    add(("durable-run-operations-type", lambda: run_waiting().operations(type="STEPS"), v))
    add(("durable-run-operations-name-int", lambda: run_waiting().operations(name=5), v))
    add(("durable-run-export-int", lambda: run_waiting().export(5), v))
    add(("durable-run-export-unwritable", lambda: run_waiting().export("/proc/nope/x.json"), v))
    add(
        (
            "durable-run-callback-failure-type-int",
            lambda: run_waiting().send_callback_failure("cb", 5, "m"),
            i,
        )
    )
    add(
        (
            "durable-run-callback-success-object",
            lambda: run_waiting().send_callback_success("cb", object()),
            "SerializationError",
        )
    )
    add(
        (
            "runner-deploy-new-code-int",
            lambda: TestRunner().deploy(waits, 5),
            d := "WorkflowDefinitionError",
        )
    )
    add(("runner-deploy-workflow-int", lambda: TestRunner().deploy(5, waits), d))
    add(("runner-run-int", lambda: TestRunner().run(5), d))
    add(("runner-register-value-int", lambda: TestRunner().register("x", 5), v))
    add(("runner-register-name-int", lambda: TestRunner().register(5, _plain), v))
    add(
        (
            "runner-idle-flag-text",
            lambda: TestRunner().run_until_idle(include_callback_timeouts="yes"),
            v,
        )
    )
    add(("virtual-clock-negative", lambda: VirtualClock(-1), v))
    add(("virtual-clock-float", lambda: VirtualClock(1.5), v))
    add(("virtual-clock-auto-advance-text", lambda: VirtualClock(auto_advance="no"), v))
    add(("virtual-clock-advance-to-float", lambda: VirtualClock().advance_to(1.5), v))

    # the interpreter, driven by hand
    def handed_out() -> tuple[Any, Any]:
        interp = Interpreter(_one_step, [], execution_arn="arn:x", input=1)
        action = interp.next_action()
        while isinstance(action, Flush):
            interp.observe([])
            action = interp.next_action()
        assert isinstance(action, RunTasks)
        return interp, action.tasks[0]

    def reported_twice() -> None:
        interp, task = handed_out()
        interp.task_succeeded(task, 2)
        interp.task_succeeded(task, 2)

    def other_interpreters_task() -> None:
        _, task = handed_out()
        other, _ = handed_out()
        other.task_succeeded(task, 2)

    add(("interpreter-task-reported-twice", reported_twice, v))
    add(("interpreter-task-of-another", other_interpreters_task, v))
    add(
        (
            "interpreter-failed-with-text",
            lambda: (lambda t: t[0].task_failed(t[1], "boom"))(handed_out()),
            v,
        )
    )
    add(
        (
            "interpreter-failed-with-class",
            lambda: (lambda t: t[0].task_failed(t[1], ValueError))(handed_out()),
            v,
        )
    )
    add(
        (
            "interpreter-failed-with-interrupt",
            lambda: (lambda t: t[0].task_failed(t[1], KeyboardInterrupt()))(handed_out()),
            v,
        )
    )
    add(("interpreter-succeeded-with-id", lambda: handed_out()[0].task_succeeded("id", 2), v))
    add(("interpreter-observe-int", lambda: handed_out()[0].observe(5), v))
    add(("interpreter-observe-dicts", lambda: handed_out()[0].observe([{"Id": "x"}]), v))
    add(("interpreter-observe-none", lambda: handed_out()[0].observe(None), v))
    add(("interpreter-started-none", lambda: handed_out()[0].started(None), v))
    add(("interpreter-step-call-int", lambda: handed_out()[0].step_call(5), v))
    for label, options in {
        "checkpointing": {"checkpointing": "x"},
        "clock-int": {"clock": 5},
        "clock-text": {"clock": lambda: "x"},
        "clock-milliseconds": {"clock": lambda: 1_735_689_600_000.0},
        "serdes-int": {"serdes": 5},
        "payload-format": {"payload_format": "x"},
        "arn-int": {"execution_arn": 5},
    }.items():
        add(
            (
                f"interpreter-option-{label}",
                lambda o=options: Interpreter(
                    _one_step, [], **{"execution_arn": "a", "input": 1, **o}
                ),
                v,
            )
        )
    for label, operations in {"none": None, "ints": [5], "dicts": [{"Id": "x"}]}.items():
        add(
            (
                f"interpreter-operations-{label}",
                lambda ops=operations: Interpreter(_one_step, ops, execution_arn="a", input=1),
                v,
            )
        )
    return cases


_CORPUS = _corpus()


def test_the_corpus_ids_are_unique_and_many() -> None:
    ids = [case[0] for case in _CORPUS]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 150


@pytest.mark.parametrize("case", range(len(_CORPUS)), ids=[case[0] for case in _CORPUS])
def test_a_mistake_of_the_corpus_ends_in_its_typed_error(case: int) -> None:
    _, call, expected = _CORPUS[case]
    with pytest.raises(dg.DurableGenError) as caught:
        call()
    error = caught.value
    if isinstance(error, dg.ExecutionFailedError):
        assert error.error_type == expected, error
    else:
        assert type(error).__name__ == expected, error
    assert str(error)


def test_a_worker_register_with_an_empty_name_is_refused_not_served_under_the_default(
    tmp_path: Any,
) -> None:
    """`name=""` (an unset setting read as text) was taken as no name: the function was
    served under `module.qualname` instead, and `Invoke`s of the name the caller meant failed."""
    from durable_gen.local import Worker

    with Worker(str(tmp_path / "w.db")) as worker:
        with pytest.raises(dg.ValidationError, match="''"):
            worker.register(_gen_one, name="")
        assert worker.register(_gen_one, name="served") == "served"
        assert worker.register(_gen_one).endswith("_gen_one")


def test_step_on_an_async_generator_function_says_what_it_is_not_to_yield_from_it() -> None:
    """The advice was the workflow's (`result = yield from agen(...)`), which an async
    generator cannot follow."""
    with pytest.raises(dg.WorkflowDefinitionError) as caught:
        dg.step(_agen)  # type: ignore[call-overload]
    message = str(caught.value)
    assert "async generator function" in message
    assert "yield from" not in message


class _NoDecode:
    """A plain class: no payload can be decoded into it."""


def _builds_no_decode() -> _NoDecode:
    return _NoDecode()


def test_an_unreadable_item_type_of_an_unnamed_batch_does_not_call_it_none() -> None:
    """The message read "an item's result of Parallel None"."""

    def wf(_: None) -> Generator[Any, Any, Any]:
        return (yield dg.Parallel([_builds_no_decode]))

    with pytest.raises(dg.ExecutionFailedError) as caught:
        dg.run(wf, None)
    assert caught.value.error_type == "SerializationError"
    assert "of the unnamed Parallel" in str(caught.value.error_message)
    assert "None" not in str(caught.value.error_message).split(":")[0]
