"""``Patched`` used without ``yield``, and markers built but never yielded.

``if dg.Patched("x"):`` tests the command object, which was always true: every execution took
the new path, those that went past the change with the old code too, and nothing said so.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, assert_deterministic, replay


@dg.step
def charge(x: int) -> int:
    return x


@dg.step
def send_receipt(x: int) -> int:
    return x + 1


def _gate() -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="gate")
    return (yield handle)


def v1(x: int) -> Generator[Any, Any, int]:
    yield charge(x)
    yield from _gate()
    return x


def v2_without_yield(x: int) -> Generator[Any, Any, int]:
    yield charge(x)
    if dg.Patched("send-receipt"):  # the mistake: the command, not its answer
        yield send_receipt(x)
    yield from _gate()
    return x


def _answer(run: Any) -> None:
    run.send_callback_success("gate", 1)


def test_the_engine_fails_it_with_advice() -> None:
    run = TestRunner().run(v2_without_yield, 1)
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "WorkflowDefinitionError"
    assert "if (yield dg.Patched('send-receipt')):" in (run.error.error_message or "")


def test_replay_of_an_old_execution_names_the_missing_yield() -> None:
    history = TestRunner().run(v1, 1).export()
    report = replay(v2_without_yield, history)
    assert report.status == "failed"
    assert "without `yield`" in report.message


def test_assert_deterministic_refuses_it() -> None:
    with pytest.raises(AssertionError, match="without `yield`"):
        assert_deterministic(v2_without_yield, 1, on_idle=_answer, random_runs=0)


def test_the_same_workflow_with_yield_runs() -> None:
    def v2(x: int) -> Generator[Any, Any, int]:
        yield charge(x)
        if (yield dg.Patched("send-receipt")):
            yield send_receipt(x)
        yield from _gate()
        return x

    history = TestRunner().run(v1, 1).export()
    assert replay(v2, history).status == "ok"
    assert_deterministic(v2, 1, on_idle=_answer, random_runs=0)


@pytest.mark.parametrize(
    "build",
    [lambda: dg.Patched("x"), lambda: dg.Deprecated("x"), lambda: dg.Now()],
    ids=["Patched", "Deprecated", "Now"],
)
def test_a_marker_built_and_never_yielded_is_reported(build: Any) -> None:
    def workflow(x: int) -> Generator[Any, Any, int]:
        build()
        yield charge(x)
        return x

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = TestRunner().run(workflow, 1)
    # under the pytest plugin the warning is an error: the execution fails with it
    texts = [str(w.message) for w in caught] + [
        (run.error.error_message or "") if run.error else ""
    ]
    assert any("never yielded" in text for text in texts), texts
