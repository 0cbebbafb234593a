"""Calls with arguments a public name does not take: a misspelt keyword, a keyword from another
library (``minutes=``, ``timeout=`` on ``Invoke``), too many positional arguments, a missing
required one. Each is a ``dg.ArgumentError`` (a ``ValidationError`` and a ``TypeError``)
raised at the call, naming what the call takes and the closest keyword."""

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
    with pytest.raises(dg.ArgumentError) as caught:
        call()
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message
    # In the one tree, and still what Python raises for such a call.
    assert isinstance(caught.value, dg.ValidationError)
    assert isinstance(caught.value, dg.DurableGenError)
    assert isinstance(caught.value, TypeError)


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
