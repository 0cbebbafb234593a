"""Bad options to ``dg.run`` and the test runner: each is a ``ValidationError`` (or, for what is
not a workflow at all, a ``WorkflowDefinitionError``) raised where it is given, before anything
runs: a runner built with a bad option must not run workflows in a way nobody asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner


def flow(_: Any) -> dg.Workflow[int]:
    yield from dg.Wait(seconds=1)
    return 1


def plain(x: Any) -> Any:
    return x


CASES: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    ("run-skip-time-str", lambda: dg.run(flow, 1, skip_time="no"), dg.ValidationError, "True or"),
    ("run-skip-time-int", lambda: dg.run(flow, 1, skip_time=1), dg.ValidationError, "True or"),
    (
        "run-functions-key",
        lambda: dg.run(flow, 1, functions={1: plain}),
        dg.ValidationError,
        "Invoke names",
    ),
    ("runner-skip-time-str", lambda: TestRunner(skip_time="no"), dg.ValidationError, "True or"),
    ("runner-mode", lambda: TestRunner(checkpointing="x"), dg.ValidationError, "'step', 'eager'"),
    ("runner-plugins", lambda: TestRunner(plugins=[5]), dg.ValidationError, "Plugin instances"),
    (
        "runner-plugins-one",
        lambda: TestRunner(plugins=dg.Plugin()),
        dg.ValidationError,
        "list of Plugin",
    ),
    ("runner-serdes", lambda: TestRunner(serdes=5), dg.ValidationError, "must be a Serdes"),
    ("runner-functions", lambda: TestRunner(functions=5), dg.ValidationError, "a mapping"),
    (
        "runner-function-value",
        lambda: TestRunner(functions={"f": 5}),
        dg.ValidationError,
        "must be a function",
    ),
    (
        "runner-register",
        lambda: TestRunner().register("f", 5),
        dg.ValidationError,
        "must be a function",
    ),
    (
        "runner-register-name",
        lambda: TestRunner().register(5, plain),
        dg.ValidationError,
        "Invoke names",
    ),
    (
        "runner-deploy",
        lambda: TestRunner().deploy(flow, 5),
        dg.WorkflowDefinitionError,
        "new_code",
    ),
    (
        "runner-advance-str",
        lambda: TestRunner(skip_time=False).advance("5"),
        dg.ValidationError,
        "number of seconds",
    ),
    (
        "runner-advance-nan",
        lambda: TestRunner(skip_time=False).advance(float("nan")),
        dg.ValidationError,
        "number of seconds",
    ),
]


@pytest.mark.parametrize(
    ("build", "error", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_bad_option_is_refused_where_it_is_given(
    build: Callable[[], object], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        build()


def test_a_refused_option_left_the_runner_usable() -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(flow, 1)
    with pytest.raises(dg.ValidationError):
        runner.advance("1")  # type: ignore[arg-type]
    assert run.status == "RUNNING"
    runner.advance(1)
    assert run.result() == 1
