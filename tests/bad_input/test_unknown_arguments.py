"""Calls with arguments a public name does not take: a misspelt keyword, a keyword from another
library (``minutes=``, ``timeout=`` on ``Invoke``), too many positional arguments, a missing
required one. Each is a ``dg.ArgumentError`` (a ``ValidationError`` and a ``TypeError``)
naming what the call takes and the closest keyword: raised at the call for options and
functions, and for a command (built on every replay, so left to msgspec's own check) the
error its workflow body fails with."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import CrashSchedule


def plain(x: Any = None) -> Any:
    return x


@dg.step
def double(x: int) -> int:
    return 2 * x


#: (case, the call, fragments the message must hold)
CASES: list[tuple[str, Callable[[], object], tuple[str, ...]]] = [
    ("wait-minutes", lambda: dg.Wait(minutes=1), ("'minutes'", "seconds=60")),
    ("wait-hours", lambda: dg.Wait(hours=2), ("'hours'", "seconds=3600")),
    ("wait-milliseconds", lambda: dg.Wait(milliseconds=500), ("seconds=0.001",)),
    ("wait-misspelt", lambda: dg.Wait(second=5), ("Did you mean seconds?",)),
    ("wait-three-positional", lambda: dg.Wait(1, "a", "b"), ("by position: seconds, name",)),
    ("invoke-timeout", lambda: dg.Invoke("f", 1, timeout=3), ("Invoke has no timeout",)),
    ("invoke-misspelt", lambda: dg.Invoke("f", 1, tenant="t"), ("Did you mean tenant_id?",)),
    ("step-misspelt", lambda: dg.Step(plain, (), nam="x"), ("Did you mean name?",)),
    ("step-retries", lambda: dg.Step(plain, retries=3), ("Did you mean retry?",)),
    ("step-missing-fn", lambda: dg.Step(), ("'fn'",)),
    ("retry-misspelt", lambda: dg.Retry(max_attempt=3), ("Did you mean max_attempts?",)),
    ("retry-positional", lambda: dg.Retry(3), ("by position: none", "max_attempts")),
    ("retry-delay-minutes", lambda: dg.Retry(minutes=1), ("initial_delay=60",)),
    ("map-misspelt", lambda: dg.Map(plain, [1], max_concurency=2), ("max_concurrency?",)),
    ("parallel-unknown", lambda: dg.Parallel([plain], concurrency=2), ("max_concurrency?",)),
    (
        "parallel-branches-spread",
        lambda: dg.Parallel(plain, plain, name="p"),
        ("'name' both by position and by keyword", "Parallel([a, b], ...)"),
    ),
    (
        "wait-name-twice",
        lambda: dg.Wait(5, "a", name="b"),
        ("'name' both by position and by keyword", "by position: seconds, name"),
    ),
    ("branch-misspelt", lambda: dg.Branch(plain, nam="a"), ("Did you mean name?",)),
    ("completion-misspelt", lambda: dg.Completion(min_success=1), ("min_successful?",)),
    ("callback-misspelt", lambda: dg.CreateCallback(timout=1), ("Did you mean timeout?",)),
    ("callback-hours", lambda: dg.CreateCallback(hours=1), ("timeout=3600",)),
    (
        "wait-for-callback-misspelt",
        lambda: dg.WaitForCallback(plain, heartbeat=5),
        ("heartbeat_timeout?",),
    ),
    (
        "wait-for-condition-misspelt",
        lambda: dg.WaitForCondition(plain, 0, strategy=None),
        ("wait_strategy?",),
    ),
    ("wait-strategy-misspelt", lambda: dg.WaitStrategy(max_attempt=2), ("max_attempts?",)),
    ("wait-decision-unknown", lambda: dg.WaitDecision(done=True), ("stop, delay",)),
    ("child-misspelt", lambda: dg.Child(plain, (), nme="c"), ("Did you mean name?",)),
    ("now-unknown", lambda: dg.Now(tz="UTC"), ("it takes name",)),
    ("uuid-unknown", lambda: dg.UUID(version=4), ("no keyword arguments",)),
    ("random-unknown", lambda: dg.Random(seed=1), ("no keyword arguments",)),
    ("patched-misspelt", lambda: dg.Patched(change="x"), ("change_id?",)),
    ("deprecated-misspelt", lambda: dg.Deprecated(change="x"), ("change_id?",)),
    ("compensations-unknown", lambda: dg.RunCompensations(reverse=True), ("it takes retry",)),
    ("crash-schedule-misspelt", lambda: CrashSchedule(max_crash=1), ("max_crashes?",)),
]


@pytest.mark.parametrize(("call", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_an_argument_the_call_does_not_take_is_an_argument_error(
    call: Callable[[], object], fragments: tuple[str, ...]
) -> None:
    try:
        call()
    except dg.ArgumentError as exc:  # an option: refused where it is built
        message = str(exc)
        # In the one tree, and still what Python raises for such a call.
        assert isinstance(exc, dg.ValidationError)
        assert isinstance(exc, dg.DurableGenError)
    except TypeError as exc:
        # A command: built outside a workflow body it raises msgspec's TypeError as it is...
        assert type(exc) is TypeError
        message = _failure_in_a_body(call)  # ... and in a body, the execution's ArgumentError
    else:
        raise AssertionError("the call was accepted")
    for fragment in fragments:
        assert fragment in message


def _failure_in_a_body(call: Callable[[], object]) -> str:
    def flow(_: Any) -> Generator[Any, Any, Any]:
        yield call()

    with pytest.raises(dg.ExecutionFailedError) as caught:
        dg.run(flow, None, skip_time=True)
    assert caught.value.error_type == "ArgumentError", caught.value
    return caught.value.error_message or ""


def test_a_command_called_by_another_name_or_in_a_helper_is_still_told_apart() -> None:
    from durable_gen import Wait as Pause

    def helper() -> Any:
        return dg.Invoke("fn", None, timeout=3)

    def flow(_: Any) -> Generator[Any, Any, Any]:
        yield Pause(minutes=2)

    def flow_helper(_: Any) -> Generator[Any, Any, Any]:
        yield helper()

    for wf, fragment in ((flow, "seconds=60"), (flow_helper, "Invoke has no timeout")):
        with pytest.raises(dg.ExecutionFailedError) as caught:
            dg.run(wf, None, skip_time=True)
        assert caught.value.error_type == "ArgumentError"
        assert fragment in (caught.value.error_message or "")


class _Mine:
    def __init__(self, **kwargs: Any) -> None:
        raise TypeError("Unexpected keyword argument 'x'")  # worded as msgspec words it


def test_a_type_error_of_another_call_in_a_body_is_left_as_it_is() -> None:
    import msgspec

    class Order(msgspec.Struct):
        total: int

    def flow(which: str) -> Generator[Any, Any, Any]:
        if which == "struct":
            Order(totl=3)  # type: ignore[call-arg]  # the user's own Struct, not a command
        else:
            _Mine(x=1)
        yield dg.Wait(seconds=1)

    for which in ("struct", "class"):
        with pytest.raises(dg.ExecutionFailedError) as caught:
            dg.run(flow, which, skip_time=True)
        assert caught.value.error_type == "TypeError"


def test_the_case_names_are_unique() -> None:
    names = [case[0] for case in CASES]
    assert len(names) == len(set(names))


def test_errors_raised_by_the_checks_themselves_are_not_rewritten() -> None:
    # A bad value of a known option keeps its own error and message.
    with pytest.raises(dg.ValidationError, match="between 1 and") as caught:
        dg.Wait(seconds=-1)
    assert not isinstance(caught.value, dg.ArgumentError)
    # WorkflowDefinitionError (also a TypeError) raised by a check stays what it is.
    with pytest.raises(dg.WorkflowDefinitionError):
        dg.Child(5)


def test_a_misspelt_keyword_inside_a_workflow_fails_the_execution_with_the_error() -> None:
    def flow(_: Any) -> Generator[Any, Any, Any]:
        yield dg.Wait(minutes=1)

    with pytest.raises(dg.ExecutionFailedError) as caught:
        dg.run(flow, None, skip_time=True)
    assert caught.value.error_type == "ArgumentError"
    assert "seconds=60" in (caught.value.error_message or "")


def test_step_functions_still_take_their_own_keywords() -> None:
    # A @step function's call binds the function's own arguments, not the command's fields.
    def flow(_: Any) -> Generator[Any, Any, Any]:
        return (yield double(x=4))

    assert dg.run(flow, None) == 8


def flow(_: Any) -> Generator[Any, Any, Any]:
    yield dg.Wait(seconds=1)


def _functions() -> list[tuple[str, Callable[[], object], tuple[str, ...]]]:
    import asyncio

    from durable_gen import aws, local, runtime, testing

    return [
        ("run-misspelt", lambda: dg.run(flow, None, skiptime=True), ("skip_time?",)),
        ("run-no-workflow", lambda: dg.run(), ("is missing", "'workflow'")),
        ("run-positional", lambda: dg.run(flow, 1, {}, True), ("by position: workflow, input",)),
        ("step-decorator-misspelt", lambda: dg.step(retries=3), ("Did you mean retry?",)),
        ("workflow-decorator-options", lambda: dg.workflow(flow, name="f"), ("it takes fn",)),
        ("get-logger-misspelt", lambda: dg.get_logger(nme="x"), ("Did you mean name?",)),
        (
            "lambda-handler-misspelt",
            lambda: dg.lambda_handler(flow, checkpoint="eager"),
            ("checkpointing?",),
        ),
        ("lambda-service-misspelt", lambda: aws.LambdaService(object(), regoin="x"), ("region",)),
        ("parse-event-extra", lambda: aws.parse_event({}, {}), ("by position: event",)),
        ("test-runner-misspelt", lambda: testing.TestRunner(skiptime=True), ("skip_time?",)),
        ("replay-missing-history", lambda: testing.replay(flow), ("'history'",)),
        (
            "assert-deterministic-unknown",
            lambda: testing.assert_deterministic(flow, None, runs=3),
            ("random_runs",),
        ),
        ("determinism-check-misspelt", lambda: testing.DeterminismCheck(flow, inpt=1), ("input?",)),
        ("load-history-misspelt", lambda: testing.load_history("x", arn="a"), ("execution_arn",)),
        ("local-service-misspelt", lambda: local.LocalService(clok=None), ("clock?",)),
        ("sqlite-store-unknown", lambda: local.SqliteStore(":memory:", wal=True), ("synchronous",)),
        ("memory-store-unknown", lambda: local.MemoryStore(path="x"), ("it takes",)),
        ("virtual-clock-misspelt", lambda: local.VirtualClock(strat=0), ("start_ms?",)),
        ("worker-missing-db", lambda: local.Worker(), ("is missing", "'db'")),
        ("open-store-misspelt", lambda: local.open_store("memory:", timout=1), ("timeout?",)),
        (
            "register-function-misspelt",
            lambda: local.register_function(local.LocalService(), "f", flow, nam="f"),
            ("it takes",),
        ),
        ("interpreter-misspelt", lambda: runtime.Interpreter(flow, operation=[]), ("operations?",)),
        ("invoke-missing", lambda: runtime.invoke(flow), ("is missing", "'event'")),
        (
            "invoke-async-misspelt",
            lambda: asyncio.run(runtime.invoke_async(flow, evnt={}, service=None)),
            ("event?",),
        ),
        ("make-handler-misspelt", lambda: runtime.make_handler(flow, servce=None), ("service?",)),
        ("apply-updates-missing", lambda: runtime.apply_updates({}), ("is missing",)),
        (
            "service-start-misspelt",
            lambda: local.LocalService().start("f", execution_nme="x"),
            ("execution_name?",),
        ),
        (
            "service-run-misspelt",
            lambda: local.LocalService().run("arn", untill=5),
            ("Did you mean until?",),
        ),
        (
            "service-callback-misspelt",
            lambda: local.LocalService().send_callback_success("id", reslt="1"),
            ("Did you mean result?",),
        ),
        (
            "service-list-misspelt",
            lambda: local.LocalService().list_executions(state="RUNNING"),
            ("Did you mean status?",),
        ),
        (
            "runner-run-misspelt",
            lambda: testing.TestRunner().run(flow, inpt=1),
            ("Did you mean input?",),
        ),
        ("runner-advance-missing", lambda: testing.TestRunner().advance(), ("'seconds'",)),
        (
            "durable-run-operation-misspelt",
            lambda: testing.TestRunner(skip_time=True).run(flow, None).operation("w", typ="WAIT"),
            ("Did you mean type?",),
        ),
        (
            "virtual-clock-advance-minutes",
            lambda: local.VirtualClock().advance(minutes=1),
            ("seconds=60",),
        ),
    ]


@pytest.mark.parametrize("case", range(len(_functions())), ids=[c[0] for c in _functions()])
def test_a_public_function_called_with_arguments_it_does_not_take(case: int) -> None:
    _, call, fragments = _functions()[case]
    with pytest.raises(dg.ArgumentError) as caught:
        call()
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert isinstance(caught.value, TypeError)


def test_a_type_error_raised_inside_a_public_function_is_not_rewritten() -> None:
    # What the callee raises itself (here: the workflow's own TypeError) keeps its type.
    def broken(_: Any) -> Generator[Any, Any, Any]:
        yield dg.Wait(seconds=1)
        raise TypeError("mine")

    with pytest.raises(dg.ExecutionFailedError) as caught:
        dg.run(broken, None, skip_time=True)
    assert caught.value.error_type == "TypeError"


def test_async_entry_points_stay_coroutine_functions() -> None:
    import inspect

    from durable_gen import runtime

    assert inspect.iscoroutinefunction(runtime.invoke_async)
