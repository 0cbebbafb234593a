"""Bad options to ``dg.run`` and the test runner: each is a ``ValidationError`` (or, for what is
not a workflow at all, a ``WorkflowDefinitionError``) raised where it is given, before anything
runs: a runner built with a bad option must not run workflows in a way nobody asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import CrashSchedule, TestRunner, assert_deterministic


def flow(_: Any) -> dg.Workflow[int]:
    yield from dg.Wait(seconds=1)
    return 1


def plain(x: Any) -> Any:
    return x


async def _async_code(x: Any) -> Any:
    return x


def _local() -> Any:
    from durable_gen import local

    return local


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
        "runner-deploy-plain",
        lambda: TestRunner().deploy(flow, plain),
        dg.WorkflowDefinitionError,
        "new_code as a workflow",
    ),
    (
        "runner-deploy-async",
        lambda: TestRunner().deploy(flow, _async_code),
        dg.WorkflowDefinitionError,
        "new_code as a workflow",
    ),
    (
        "runner-advance-str",
        lambda: TestRunner(skip_time=False).advance("5"),
        dg.ValidationError,
        "number of seconds",
    ),
    ("virtual-clock-str", lambda: _local().VirtualClock("0"), dg.ValidationError, "an int"),
    ("virtual-clock-float", lambda: _local().VirtualClock(1.5), dg.ValidationError, "an int"),
    (
        "worker-functions",
        lambda: _local().Worker(":memory:", functions=5),
        dg.ValidationError,
        "'MODULE:FUNCTION' strings",
    ),
    *[
        (
            f"worker-{option}-{value!r}",
            (lambda option=option, value=value: _local().Worker(":memory:", **{option: value})),
            dg.ValidationError,
            f"{option} must be",
        )
        for option, value in [
            ("poll", "1"),
            ("poll", 0),
            ("poll", float("nan")),
            ("poll", True),
            ("lease_seconds", "30"),
            ("lease_seconds", 0),
            ("lease_seconds", float("inf")),
            ("patience", "60"),
            ("patience", -1),
            ("patience", float("nan")),
            ("skip_time", "yes"),
            ("progress", "no"),
            ("log", 5),
        ]
    ],
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


def _waits_on_a_callback(_: Any) -> dg.Workflow[Any]:
    return (yield from dg.WaitForCallback(lambda callback_id: None, name="approval"))


def test_the_engine_refuses_a_failure_that_is_not_an_error_object() -> None:
    from durable_gen import runtime as rt
    from durable_gen.local import LocalService

    service = LocalService()
    service.register("wf", rt.make_handler(_waits_on_a_callback, service))
    arn = service.start("wf", "null")
    service.run(arn)
    (callback,) = [op for op in service.get_operations(arn) if op.type == "CALLBACK"]
    assert callback.callback_details is not None and callback.callback_details.callback_id
    cid = callback.callback_details.callback_id
    # A message string was stored as the error and failed the execution with AttributeError.
    with pytest.raises(dg.InvalidInputError, match="must be an ErrorObject"):
        service.send_callback_failure(cid, "denied")  # type: ignore[arg-type]
    with pytest.raises(dg.InvalidInputError, match="takes error= as an ErrorObject"):
        service.stop(arn, "stopped by hand")  # type: ignore[arg-type]
    assert service.get_execution(arn).status == "RUNNING"
    service.send_callback_failure(cid, rt.ErrorObject(error_type="Denied", error_message="no"))
    record = service.run(arn)
    assert record.status == "FAILED" and record.error is not None
    assert record.error.error_type == "Denied"


@pytest.mark.parametrize(
    ("options", "fragment"),
    [({"clock": 5}, "clock must be a Clock"), ({"store": "db.sqlite"}, "an ExecutionStore")],
)
def test_the_engine_refuses_a_clock_or_store_of_the_wrong_kind(
    options: dict[str, Any], fragment: str
) -> None:
    from durable_gen.local import LocalService

    with pytest.raises(dg.ValidationError, match=fragment):
        LocalService(**options)


def _check() -> Any:
    from durable_gen.testing import DeterminismCheck

    return DeterminismCheck


DETERMINISM_OPTIONS: list[tuple[str, Callable[[], object], str]] = [
    ("crashes-int", lambda: assert_deterministic(flow, 1, crashes=5), "crashes must be"),
    ("crashes-str", lambda: assert_deterministic(flow, 1, crashes="every"), "crashes must be"),
    ("crashes-list-int", lambda: assert_deterministic(flow, 1, crashes=[5]), "CrashSchedule"),
    ("random-runs-negative", lambda: assert_deterministic(flow, 1, random_runs=-1), ">= 0"),
    ("random-runs-str", lambda: assert_deterministic(flow, 1, random_runs="2"), ">= 0"),
    ("random-runs-float", lambda: assert_deterministic(flow, 1, random_runs=1.5), ">= 0"),
    ("functions", lambda: assert_deterministic(flow, 1, functions=5), "a mapping"),
    ("on-idle", lambda: assert_deterministic(flow, 1, on_idle=5), "on_idle must be"),
    ("mode", lambda: assert_deterministic(flow, 1, checkpointing="x"), "'step', 'eager'"),
    ("serdes", lambda: assert_deterministic(flow, 1, serdes=5), "must be a Serdes"),
    ("check-schedule", lambda: _check()(flow, 1).check(5), "CrashSchedule"),
    ("check-max-rounds", lambda: _check()(flow, 1, max_rounds=0), "max_rounds"),
    (
        "schedule-every-checkpoint",
        lambda: CrashSchedule(every_checkpoint="yes"),
        "every_checkpoint must be",
    ),
    ("schedule-mixed-points", lambda: CrashSchedule(after_checkpoints=["1", 2]), "count from 1"),
]


@pytest.mark.parametrize(
    ("build", "fragment"),
    [c[1:] for c in DETERMINISM_OPTIONS],
    ids=[c[0] for c in DETERMINISM_OPTIONS],
)
def test_a_bad_option_of_the_determinism_check_is_a_validation_error(
    build: Callable[[], object], fragment: str
) -> None:
    """Refused before any run: a plain TypeError or AttributeError from inside the check (or a
    check that ran nothing, for ``random_runs=-1``) told the user nothing."""
    with pytest.raises(dg.ValidationError, match=fragment):
        build()
