"""The workflows behind the OpenTelemetry requirements, one per ``Input.scenario``.

Each is written from the requirement's prose and expected history alone, with the documented
API: the operation names are the ones the expected spans carry. A scenario may need other
functions on the engine (the target of a chained invoke) and an execution timeout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import durable_gen as dg

Workflow = Callable[[Any], Generator[Any, Any, Any]]

#: Retries that go through a durable delay (the invocation suspends in between).
ONE_RETRY = dg.Retry(max_attempts=2, initial_delay=1, jitter="none")
NO_RETRY = dg.Retry(max_attempts=1)


class ScenarioError(Exception):
    """What the failing parts of the scenarios raise."""


@dataclass(frozen=True)
class Scenario:
    workflow: Workflow
    #: Durable functions the workflow invokes, by name.
    targets: dict[str, Workflow] = field(default_factory=dict)
    execution_timeout: int | None = None


class _Flaky:
    """Fails its first call, succeeds afterwards (one instance per run)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls == 1:
            raise ScenarioError("first attempt fails")
        return "recovered"


def _ok(value: Any = "done") -> Any:
    return value


def _fail() -> None:
    raise ScenarioError("intentional failure")


def success(event: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Step(_ok, name="otel-success"))


def wait_resume(event: Any) -> Generator[Any, Any, Any]:
    yield dg.Wait(1, name="otel-wait")
    return (yield dg.Step(_ok, name="otel-after-resume"))


def retry_scenario(name: str) -> Workflow:
    flaky = _Flaky()

    def workflow(event: Any) -> Generator[Any, Any, Any]:
        return (yield dg.Step(flaky, name=name, retry=ONE_RETRY))

    return workflow


def terminal_failure(event: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Step(_fail, name="otel-terminal-failure", retry=NO_RETRY))


def _child_steps(event: Any = None) -> Generator[Any, Any, Any]:
    return (yield dg.Step(_ok, name="otel-child-step"))


def child_context(event: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Child(_child_steps, name="otel-child-context"))


def _branch(letter: str) -> dg.Branch:
    def body() -> Generator[Any, Any, Any]:
        return (yield dg.Step(_ok, (letter,), name=f"otel-parallel-step-{letter}"))

    return dg.Branch(body, name=f"otel-parallel-branch-{letter}")


def parallel_hierarchy(event: Any) -> Generator[Any, Any, Any]:
    result = yield dg.Parallel(
        [_branch("a"), _branch("b")], name="otel-parallel", max_concurrency=1
    )
    return result.results()


def _map_item(item: int, index: int) -> Generator[Any, Any, Any]:
    return (yield dg.Step(_ok, (item,), name=f"otel-map-step-{index}"))


def map_hierarchy(event: Any) -> Generator[Any, Any, Any]:
    result = yield dg.Map(
        _map_item,
        [0, 1],
        name="otel-map",
        max_concurrency=1,
        item_namer=lambda item, i: f"otel-map-iteration-{i}",
    )
    return result.results()


def handled_failure(event: Any) -> Generator[Any, Any, Any]:
    with contextlib.suppress(dg.StepFailedError):
        yield dg.Step(_fail, name="otel-handled-failure", retry=NO_RETRY)
    return (yield dg.Step(_ok, name="otel-recovery-step"))


def _increment(state: int) -> int:
    return state + 1


def wait_for_condition(event: Any) -> Generator[Any, Any, Any]:
    return (
        yield dg.WaitForCondition(
            _increment,
            initial_state=0,
            wait_strategy=dg.WaitStrategy(until=lambda state: state >= 2, delay=1),
            name="otel-condition",
        )
    )


def _broken_check(state: int) -> int:
    raise ScenarioError("the condition cannot be checked")


def wait_for_condition_failure(event: Any) -> Generator[Any, Any, Any]:
    return (
        yield dg.WaitForCondition(
            _broken_check,
            initial_state=0,
            wait_strategy=dg.WaitStrategy(until=lambda state: True),
            name="otel-failed-condition",
        )
    )


def _submit(callback_id: str) -> None:
    """The external system learns the callback id from the history (the runner answers)."""


def wait_for_callback(name: str) -> Workflow:
    def workflow(event: Any) -> Generator[Any, Any, Any]:
        return (yield dg.WaitForCallback(_submit, name=name))

    return workflow


def _target(event: Any) -> Generator[Any, Any, Any]:
    return "target-complete"
    yield  # pragma: no cover - makes this a generator


def _failing_target(event: Any) -> Generator[Any, Any, Any]:
    raise ScenarioError("the invoked execution fails")
    yield  # pragma: no cover - makes this a generator


def chained_invoke(name: str, target: str) -> Workflow:
    def workflow(event: Any) -> Generator[Any, Any, Any]:
        return (yield dg.Invoke(target, {"delay_seconds": event.get("delay_seconds")}, name=name))

    return workflow


def _child_fails() -> Generator[Any, Any, Any]:
    raise ScenarioError("the child context fails")
    yield  # pragma: no cover - makes this a generator


def child_context_failure(event: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Child(_child_fails, name="otel-failed-child-context"))


def _raise_branch() -> Generator[Any, Any, Any]:
    raise ScenarioError("the branch fails")
    yield  # pragma: no cover - makes this a generator


def parallel_failure(event: Any) -> Generator[Any, Any, Any]:
    result = yield dg.Parallel(
        [dg.Branch(_raise_branch, name="otel-failed-parallel-branch")], name="otel-failed-parallel"
    )
    result.raise_if_failed()
    return result.results()


def _raise_item(item: int, index: int) -> Generator[Any, Any, Any]:
    raise ScenarioError(f"item {index} fails")
    yield  # pragma: no cover - makes this a generator


def map_failure(event: Any) -> Generator[Any, Any, Any]:
    result = yield dg.Map(
        _raise_item,
        [0],
        name="otel-failed-map",
        item_namer=lambda item, i: f"otel-failed-map-iteration-{i}",
    )
    result.raise_if_failed()
    return result.results()


def wait_interrupted(event: Any) -> Generator[Any, Any, Any]:
    yield dg.Wait(3600, name="otel-interrupted-wait")
    return "unreachable"


def execution_failure(event: Any) -> Generator[Any, Any, Any]:
    raise ScenarioError("the handler fails before any operation")
    yield  # pragma: no cover - makes this a generator


def long_wait(event: Any) -> Generator[Any, Any, Any]:
    yield dg.Wait(int(event["delay_seconds"]), name="otel-long-wait")
    return (yield dg.Step(_ok, name="otel-after-long-wait"))


def long_retry() -> Workflow:
    flaky = _Flaky()

    def workflow(event: Any) -> Generator[Any, Any, Any]:
        delay = int(event["delay_seconds"])
        retry = dg.Retry(max_attempts=2, initial_delay=delay, jitter="none")
        return (yield dg.Step(flaky, name="otel-long-retry", retry=retry))

    return workflow


def _long_target(event: Any) -> Generator[Any, Any, Any]:
    yield dg.Wait(int(event["delay_seconds"]), name="otel-long-invoke-target-wait")
    return "target-complete"


def _virtual_body() -> Generator[Any, Any, str]:
    yield from ()  # nothing durable: the context itself is what the spans show
    return "virtual-complete"


def virtual_context(event: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Child(_virtual_body, name="otel-virtual-context", virtual=True))


SCENARIOS: dict[str, Callable[[], Scenario]] = {
    "success": lambda: Scenario(success),
    "wait-resume": lambda: Scenario(wait_resume),
    "retry": lambda: Scenario(retry_scenario("otel-retry")),
    "terminal-failure": lambda: Scenario(terminal_failure),
    "child-context": lambda: Scenario(child_context),
    "parallel-hierarchy": lambda: Scenario(parallel_hierarchy),
    "map-hierarchy": lambda: Scenario(map_hierarchy),
    "handled-failure": lambda: Scenario(handled_failure),
    "wait-for-condition": lambda: Scenario(wait_for_condition),
    "wait-for-callback": lambda: Scenario(wait_for_callback("otel-callback")),
    "chained-invoke": lambda: Scenario(
        chained_invoke("otel-invoke", "otel-target"), {"otel-target": _target}
    ),
    "child-context-failure": lambda: Scenario(child_context_failure),
    "parallel-failure": lambda: Scenario(parallel_failure),
    "map-failure": lambda: Scenario(map_failure),
    "wait-interrupted": lambda: Scenario(wait_interrupted, execution_timeout=60),
    "wait-for-condition-failure": lambda: Scenario(wait_for_condition_failure),
    "wait-for-callback-failure": lambda: Scenario(wait_for_callback("otel-failed-callback")),
    "chained-invoke-failure": lambda: Scenario(
        chained_invoke("otel-failed-invoke", "otel-failing-target"),
        {"otel-failing-target": _failing_target},
    ),
    "execution-failure": lambda: Scenario(execution_failure),
    "long-wait": lambda: Scenario(long_wait),
    "long-retry": lambda: Scenario(long_retry()),
    "long-callback": lambda: Scenario(wait_for_callback("otel-long-callback")),
    "long-chained-invoke": lambda: Scenario(
        chained_invoke("otel-long-invoke", "otel-long-target"), {"otel-long-target": _long_target}
    ),
    "virtual-context": lambda: Scenario(virtual_context),
}
