"""Workflow mistakes are reported where they are made, with a message that says what to write."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import _guard
from durable_gen._guard import UnyieldedCommandWarning
from durable_gen.testing import TestRunner

ran: list[int] = []


@dg.step
def charge(amount: int) -> dict[str, int]:
    ran.append(amount)
    return {"total": amount}


@dg.step
async def acharge(amount: int) -> int:
    return amount


def _line(fn: Any, text: str) -> int:
    """The line of ``fn``'s source that contains ``text``."""
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if text in line)


def run(workflow: Any, value: Any = 1) -> Any:
    return TestRunner().run(workflow, value)


@pytest.fixture
def strict() -> Iterator[None]:
    before = _guard.strict
    _guard.strict = True
    yield
    _guard.strict = before


# --- commands never yielded -------------------------------------------------------------------


def wait_alone(x: int):  # type: ignore[no-untyped-def]
    dg.Wait(seconds=5)  # the mistake
    return (yield charge(x))


def step_alone_after_a_yield(x: int):  # type: ignore[no-untyped-def]
    first = yield charge(x)
    charge(x + 1)  # the mistake
    return first


def step_alone_before_return(x: int):  # type: ignore[no-untyped-def]
    yield dg.Wait(seconds=1)
    charge(x)  # the mistake
    return "done"


@pytest.mark.parametrize(
    ("workflow", "text", "what"),
    [
        (wait_alone, "dg.Wait(seconds=5)", "yield Wait(...)"),
        (step_alone_after_a_yield, "charge(x + 1)", "yield charge(...)"),
    ],
)
def test_a_command_never_yielded_is_reported_at_its_line(
    lenient: None, workflow: Any, text: str, what: str
) -> None:
    with pytest.warns(UnyieldedCommandWarning, match="never yielded") as caught:
        handle = run(workflow)
    assert handle.record.status == "SUCCEEDED"  # a warning: the execution goes on
    [warning] = [w for w in caught if w.category is UnyieldedCommandWarning]
    assert warning.filename == __file__
    assert warning.lineno == _line(workflow, text)
    assert what in str(warning.message)
    assert f"{__file__}:{warning.lineno}" in str(warning.message)
    assert issubclass(UnyieldedCommandWarning, RuntimeWarning)


def wait_alone_after_a_replayed_wait(x: int):  # type: ignore[no-untyped-def]
    yield dg.Wait(seconds=1)
    dg.Wait(seconds=5)  # built while the first wait replays: noted only under strict
    return (yield charge(x))


@pytest.mark.parametrize(
    ("workflow", "text"),
    [
        (wait_alone_after_a_replayed_wait, "dg.Wait(seconds=5)"),
        (step_alone_before_return, "charge(x)  #"),
    ],
)
def test_strict_mode_notes_commands_built_while_replaying(
    strict: None, workflow: Any, text: str
) -> None:
    with pytest.warns(UnyieldedCommandWarning) as caught:
        run(workflow)
    assert [w.lineno for w in caught] == [_line(workflow, text)]


@pytest.fixture
def lenient() -> Iterator[None]:
    before = _guard.strict
    _guard.strict = False
    yield
    _guard.strict = before


def wait_alone_before_a_wait(x: int):  # type: ignore[no-untyped-def]
    dg.Wait(seconds=5)  # never yielded: noted when first built, not again while it replays
    yield dg.Wait(seconds=1)
    return (yield charge(x))


def test_without_strict_replay_builds_no_notes(lenient: None) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnyieldedCommandWarning)
        assert run(wait_alone_before_a_wait).record.status == "SUCCEEDED"
    reports = [w for w in caught if issubclass(w.category, UnyieldedCommandWarning)]
    assert len(reports) == 1, [str(w.message) for w in reports]


def kept_and_yielded_later(n: int):  # type: ignore[no-untyped-def]
    commands = [charge(i) for i in range(n)]
    yield dg.Wait(seconds=1)
    results = []
    for command in commands:
        results.append((yield command))
    handle = yield dg.CreateCallback(name="cb", timeout=10)
    del handle  # a handle the body does not wait for is its own business
    return [r["total"] for r in results]


def test_commands_kept_and_yielded_later_are_not_reported(strict: None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnyieldedCommandWarning)
        handle = run(kept_and_yielded_later, 3)
    assert handle.result() == [0, 1, 2]


def test_with_warnings_as_errors_the_execution_fails_with_the_message(strict: None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnyieldedCommandWarning)
        for workflow in (step_alone_after_a_yield, step_alone_before_return):
            handle = run(workflow)
            assert handle.record.status == "FAILED"
            assert handle.record.error.error_type == "UnyieldedCommandWarning"
            assert "never yielded" in handle.record.error.error_message


# --- a command used as its result -------------------------------------------------------------


def subscripts_a_command(x: int):  # type: ignore[no-untyped-def]
    receipt = charge(x)
    yield dg.Wait(seconds=1)
    return receipt["total"]


def reads_an_attribute_of_a_command(x: int):  # type: ignore[no-untyped-def]
    receipt = charge(x)
    yield dg.Wait(seconds=1)
    return receipt.total


def adds_to_a_command(x: int):  # type: ignore[no-untyped-def]
    receipt = charge(x)
    yield dg.Wait(seconds=1)
    return receipt + 1


def returns_a_command(x: int):  # type: ignore[no-untyped-def]
    yield dg.Wait(seconds=1)
    return charge(x)


@pytest.mark.parametrize(
    ("workflow", "error_type", "fragment"),
    [
        (
            subscripts_a_command,
            "TypeError",
            "result = yield charge(...)` and use `result['total']`",
        ),
        (reads_an_attribute_of_a_command, "AttributeError", "use `result.total`"),
        (adds_to_a_command, "TypeError", "`yield` it first"),
        (returns_a_command, "SerializationError", "`return (yield cmd)`"),
    ],
)
def test_using_a_command_as_its_result_says_to_yield_it(
    workflow: Any, error_type: str, fragment: str
) -> None:
    handle = run(workflow)
    assert handle.record.status == "FAILED"
    assert handle.record.error.error_type == error_type
    assert fragment in handle.record.error.error_message


# --- a step's plain function inside a workflow body ----------------------------------------------


def calls_the_plain_function(x: int):  # type: ignore[no-untyped-def]
    receipt = charge.fn(x)
    yield dg.Wait(seconds=1)
    return receipt


def test_calling_step_fn_inside_a_workflow_body_raises_and_says_to_yield() -> None:
    ran.clear()
    handle = run(calls_the_plain_function)
    assert handle.record.status == "FAILED"
    assert handle.record.error.error_type == "WorkflowDefinitionError"
    message = handle.record.error.error_message
    assert "charge.fn(...) was called inside a workflow body" in message
    assert "yield charge(...)" in message
    assert ran == []  # the side effect did not run


def passes_plain_functions_to_commands(x: int):  # type: ignore[no-untyped-def]
    a = yield dg.Step(charge.fn, (x,))
    b = yield dg.Map(charge, [x, x + 1], max_concurrency=2)
    c = yield dg.Step(acharge.fn, (x,))
    d = yield dg.Parallel([lambda: charge.fn(7)])
    return [a["total"], [r["total"] for r in b.results()], c, d.results()[0]["total"]]


def test_plain_functions_run_by_the_driver_are_not_refused() -> None:
    handle = run(passes_plain_functions_to_commands, 3)
    assert handle.result() == [3, [3, 4], 3, 7]


def test_step_fn_outside_a_workflow_is_the_plain_function() -> None:
    assert charge.fn(5) == {"total": 5}
    assert charge.fn.__name__ == "charge"
    assert inspect.iscoroutinefunction(acharge.fn)


# --- workflows that are not generators ------------------------------------------------------------


async def async_workflow(x: int) -> int:
    return x


async def async_generator_workflow(x: int):  # type: ignore[no-untyped-def]
    yield charge(x)


def plain_function(x: int) -> int:
    return x


@pytest.mark.parametrize("workflow", [async_workflow, async_generator_workflow])
def test_an_async_def_workflow_is_told_only_steps_may_be_async(workflow: Any) -> None:
    handle = run(workflow)
    assert handle.record.status == "FAILED"
    message = handle.record.error.error_message
    assert "`async def`" in message and "only steps may be `async def`" in message
    assert "not a generator function: a workflow must yield" not in message
    with pytest.raises(dg.WorkflowDefinitionError, match="only steps may be `async def`"):
        dg.workflow(workflow)


def test_a_plain_function_workflow_is_told_to_yield() -> None:
    handle = run(plain_function)
    assert "not a generator" in handle.record.error.error_message
    with pytest.raises(dg.WorkflowDefinitionError, match="must `yield` its commands"):
        dg.workflow(plain_function)


def test_a_step_function_given_as_the_workflow_is_told_to_wrap_it() -> None:
    @dg.step
    def reserve(x: int) -> int:
        return x

    handle = run(reserve)
    message = handle.record.error.error_message
    assert "is a @step function" in message and "yield reserve(x)" in message
    assert "_PrevalidatedStep" not in message


# --- serialization errors name the operation ------------------------------------------------------


@dg.step
def returns_an_object() -> object:
    return object()


def result_not_serializable(_: Any):  # type: ignore[no-untyped-def]
    return (yield returns_an_object())


def workflow_result_not_serializable(_: Any):  # type: ignore[no-untyped-def]
    yield dg.Wait(seconds=1)
    return {1j}


def invoke_payload_not_serializable(_: Any):  # type: ignore[no-untyped-def]
    return (yield dg.Invoke("tax", object()))


@pytest.mark.parametrize(
    ("workflow", "fragment"),
    [
        (result_not_serializable, "the result of step 'returns_an_object'"),
        (workflow_result_not_serializable, "the workflow result"),
        (invoke_payload_not_serializable, "the Invoke payload"),
    ],
)
def test_serialization_errors_name_the_operation(workflow: Any, fragment: str) -> None:
    handle = run(workflow, None)
    assert handle.record.status == "FAILED"
    error = handle.record.error
    assert error.error_type in ("SerializationError", "StepFailedError")
    assert fragment in error.error_message
    assert "cannot be written as a payload" in error.error_message


# --- other mistakes, and what they are told ------------------------------------------------------


def sub(x: int):  # type: ignore[no-untyped-def]
    return (yield charge(x))


def yields_a_generator(x: int):  # type: ignore[no-untyped-def]
    return (yield sub(x))


def yields_a_plain_value(x: int):  # type: ignore[no-untyped-def]
    return (yield x)


def yields_the_step_function(x: int):  # type: ignore[no-untyped-def]
    return (yield charge)


def maps_a_called_step(x: int):  # type: ignore[no-untyped-def]
    return (yield dg.Map(charge(x), [1, 2]))


@pytest.mark.parametrize(
    ("workflow", "fragment"),
    [
        (yields_a_generator, "use `yield from sub(...)`"),
        (yields_a_plain_value, "which is not a durable_gen command"),
        (
            yields_the_step_function,
            "a @step function is called to build its command: `yield charge(...)`",
        ),
        (maps_a_called_step, "Map needs a callable"),
    ],
)
def test_other_mistakes_get_a_message_that_says_what_to_write(workflow: Any, fragment: str) -> None:
    handle = run(workflow)
    assert handle.record.status == "FAILED"
    assert fragment in handle.record.error.error_message


@pytest.mark.parametrize(
    "build",
    [
        lambda: dg.Map(charge(1), [1, 2]),
        lambda: dg.Parallel([charge(1), charge(2)]),
        lambda: dg.Branch(charge(1), name="b"),
        lambda: dg.Step(charge(1)),
        lambda: dg.WaitForCallback(charge(1)),
        lambda: dg.WaitForCondition(charge(1), initial_state=0),
    ],
    ids=["map", "parallel", "branch", "step", "wait-for-callback", "wait-for-condition"],
)
def test_a_called_step_where_a_function_goes_is_told_to_pass_the_function(build: Any) -> None:
    with pytest.raises(dg.ValidationError) as info:
        build()
    message = str(info.value)
    assert "got the Step command 'charge'" in message
    assert "Pass the function itself, charge" in message
    assert "functools.partial(charge, ...)" in message


def test_another_command_where_a_function_goes_is_told_to_wrap_it_in_a_generator() -> None:
    with pytest.raises(dg.ValidationError, match=r"generator function that yields it"):
        dg.Parallel([dg.Wait(seconds=1)])


def test_under_the_pytest_plugin_a_mistake_fails_the_test_run() -> None:
    # The plugin turns strict mode on and makes the warning an error: the execution fails.
    assert _guard.strict
    handle = run(step_alone_before_return)
    assert handle.record.status == "FAILED"
    assert handle.record.error.error_type == "UnyieldedCommandWarning"
    assert f"{__file__}:{_line(step_alone_before_return, 'charge(x)  #')}" in (
        handle.record.error.error_message
    )


def test_an_async_def_child_workflow_is_told_only_steps_may_be_async() -> None:
    with pytest.raises(dg.WorkflowDefinitionError, match="only steps may be `async def`"):
        dg.Child(async_workflow, (1,))


def stored_and_compared(x: int):  # type: ignore[no-untyped-def]
    receipt = charge(x)  # the mistake: no yield, and the variable outlives every yield below
    yield dg.Wait(seconds=1)
    return receipt == {"total": x}


def stored_without_suspending(x: int):  # type: ignore[no-untyped-def]
    receipt = charge(x)  # the mistake
    return (yield dg.Step(lambda: 1, name="one")), receipt is None


@pytest.mark.parametrize(
    ("workflow", "text"),
    [(stored_and_compared, "receipt = charge(x)"), (stored_without_suspending, "receipt = charge")],
)
def test_a_command_a_variable_holds_when_the_body_ends_is_reported(
    strict: None, workflow: Any, text: str
) -> None:
    with pytest.warns(UnyieldedCommandWarning, match="never yielded") as caught:
        run(workflow)
    assert [w.lineno for w in caught] == [_line(workflow, text)]


def test_stored_and_never_yielded_without_strict_too(lenient: None) -> None:
    with pytest.warns(UnyieldedCommandWarning, match="never yielded"):
        run(stored_without_suspending)


def test_step_on_a_method_is_refused_where_it_is_written() -> None:
    with pytest.raises(dg.WorkflowDefinitionError, match=r"not methods: .*Payments.charge"):

        class Payments:
            @dg.step
            def charge(self, amount: int) -> int:
                return amount

    class Fine:
        @staticmethod
        @dg.step
        def charge(amount: int) -> int:
            return amount

    assert Fine.charge(3).args == (3,)


def _sub(x: int) -> dg.Workflow[str]:
    y = yield from dg.Step(lambda: x, name="s")
    return str(y)


def _lambda_branches(_: Any) -> dg.Workflow[Any]:
    batch = yield from dg.Parallel(
        [lambda: _sub(1), lambda: _sub(2)], completion=dg.Completion(tolerated_failure_count=2)
    )
    return [batch.success_count, [e.error_type for e in batch.errors()]]


def _lambda_map(_: Any) -> dg.Workflow[Any]:
    batch = yield from dg.Map(lambda x: _sub(x), [1])
    return [e.error_message for e in batch.errors()]


def _step_returning_a_command(_: Any) -> dg.Workflow[Any]:
    return (yield dg.Step(lambda: charge(5)))


def test_a_function_that_returns_a_sub_workflow_is_told_to_be_a_generator_function() -> None:
    # A lambda returning a generator is not a generator function: it runs as a step whose
    # "result" would be the unstarted sub-workflow.
    assert dg.run(_lambda_branches) == [0, ["WorkflowDefinitionError"] * 2]
    (message,) = dg.run(_lambda_map)
    assert "unnamed step _lambda_map.<locals>.<lambda> is a generator" in message
    assert "functools.partial(sub, 1)" in message
    with pytest.raises(dg.ExecutionFailedError, match="is a command \\(Step\\), not a value"):
        dg.run(_step_returning_a_command)


def _partial_branches(_: Any) -> dg.Workflow[list[str]]:
    import functools

    batch = yield from dg.Parallel([functools.partial(_sub, 1), functools.partial(_sub, 2)])
    return batch.get_results()


def test_the_advised_partial_runs_each_branch_as_a_sub_workflow() -> None:
    assert dg.run(_partial_branches) == ["1", "2"]
