"""The AWS side: the same workflows on ``aws_durable_execution_sdk_python``, run in process by
``DurableFunctionTestRunner`` from ``aws_durable_execution_sdk_python_testing``.

Only their public API is used: handlers decorated with ``durable_execution``, the runner (with
its skip-time clock, the default), a store passed to the runner, and handlers called with a
``DurableExecutionInvocationInputWithClient`` (the input their runner itself passes). Importing
this module fails when the packages are missing (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

from aws_durable_execution_sdk_python.config import CallbackConfig, Duration, MapConfig
from aws_durable_execution_sdk_python.context import DurableContext, StepContext, durable_step
from aws_durable_execution_sdk_python.execution import (
    DurableExecutionInvocationInputWithClient,
    InitialExecutionState,
    InvocationStatus,
    durable_execution,
)
from aws_durable_execution_sdk_python.lambda_service import DurableServiceClient, OperationType
from aws_durable_execution_sdk_python_testing.invoker import create_test_lambda_context
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner
from aws_durable_execution_sdk_python_testing.stores.memory import InMemoryExecutionStore

from ._harness import Trial

__all__ = [
    "checkpoint_traffic",
    "end_to_end_trivial",
    "invocation_overhead",
    "map_items",
    "parallel_branches",
    "replay_recorded",
    "sequential",
    "waits_and_callbacks",
]

#: Long enough for any workload, including 100 skipped 60 s waits.
EXECUTION_TIMEOUT = 7 * 24 * 3600

# --- workflows --------------------------------------------------------------------------------


@durable_step
def inc(step_context: StepContext, x: int) -> int:
    return x + 1


def _sequential(marks: list[float] | None = None) -> Callable[..., Any]:
    """The N-step handler; it appends the time its body returns to ``marks`` if given."""

    @durable_execution
    def sequential_handler(event: Any, context: DurableContext) -> int:
        x = 0
        for _ in range(event["n"]):
            x = context.step(inc(x))
        if marks is not None:
            marks.append(time.perf_counter())
        return x

    return sequential_handler


def _map_item(context: DurableContext, item: int, index: int, items: Any) -> int:
    return context.step(inc(item))


@durable_execution
def map_handler(event: Any, context: DurableContext) -> int:
    items = list(range(event["n"]))
    result = context.map(items, _map_item, config=MapConfig(max_concurrency=10))
    return len(result.get_results())


def _branch(context: DurableContext) -> int:
    return context.step(inc(0))


@durable_execution
def parallel_handler(event: Any, context: DurableContext) -> int:
    result = context.parallel([_branch] * event["n"])
    return len(result.get_results())


@durable_execution
def waits_callbacks_handler(event: Any, context: DurableContext) -> int:
    for i in range(event["n"]):
        context.wait(Duration.from_seconds(60), name=f"w-{i}")
        callback = context.create_callback(name=f"cb-{i}", config=CallbackConfig())
        callback.result()
    return event["n"]


@durable_execution
def trivial_handler(event: Any, context: DurableContext) -> Any:
    return event


# --- the runner ---------------------------------------------------------------------------------


def _input(n: int) -> str:
    return json.dumps({"n": n})


def _check(result: Any) -> None:
    if result.status is not InvocationStatus.SUCCEEDED:
        raise RuntimeError(f"benchmark execution ended {result.status}: {result.error}")


class _Session:
    """A runner over a store of ours, so that the operations can be read back."""

    def __init__(self, handler: Callable[..., Any]) -> None:
        self.store = InMemoryExecutionStore()
        self.runner = DurableFunctionTestRunner(handler=handler, store=self.store)

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.runner.close()

    def drive(self, n: int, *, callbacks: bool = False) -> str:
        """Run an execution to its end (as ``runner.run`` does), answering its callbacks."""
        runner = self.runner
        arn = runner.run_async(input=_input(n), execution_timeout=EXECUTION_TIMEOUT)
        if callbacks:
            for i in range(n):
                runner.send_callback_success(self._callback_id(arn, f"cb-{i}"), b'"ok"')
        _check(runner.wait_for_result(arn, timeout=EXECUTION_TIMEOUT))
        return arn

    def _callback_id(self, arn: str, name: str) -> str:
        """The id of callback ``name`` once the invocation that created it has ended.

        That is the moment the runner's own ``wait_for_callback`` waits for, but that method
        only reads the first page (100 events) of the history, so it never finds the callbacks
        of a long execution; the store has them all. Polled every millisecond.
        """
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            execution = self.store.load(arn)
            ended = execution.invocation_completions
            for op in reversed(execution.operations):
                if op.name != name or op.operation_type is not OperationType.CALLBACK:
                    continue
                details = op.callback_details
                if (
                    details is not None
                    and details.callback_id
                    and ended
                    and op.start_timestamp is not None
                    and ended[-1].end_timestamp >= op.start_timestamp
                ):
                    return details.callback_id
                break
            time.sleep(0.001)
        raise TimeoutError(f"callback {name!r} of {arn} did not open within 600 s")


def _session_trial(handler: Callable[..., Any], n: int, *, callbacks: bool = False) -> Trial:
    def run(session: _Session) -> None:
        session.drive(n, callbacks=callbacks)

    return Trial(run=run, setup=lambda: _Session(handler), cleanup=_Session.close)


def sequential(n: int) -> Trial:
    """``n`` sequential trivial steps, one execution on a fresh runner (built untimed)."""
    return _session_trial(_sequential(), n)


def map_items(n: int) -> Trial:
    """``context.map`` of one trivial step over ``n`` items, at most 10 in flight."""
    return _session_trial(map_handler, n)


def parallel_branches(n: int) -> Trial:
    """``context.parallel`` of ``n`` branches, one trivial step each."""
    return _session_trial(parallel_handler, n)


def waits_and_callbacks(n: int) -> Trial:
    """``n`` x (a 60 s wait, then a callback answered from outside), under their skip clock.

    Each callback is answered once the invocation that created it has ended, as with ours.
    """
    return _session_trial(waits_callbacks_handler, n, callbacks=True)


class _NoService(DurableServiceClient):
    """The service of a replay that must not call it."""

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a replay of a completed history sent a checkpoint")

    def get_execution_state(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a replay of a one-page history asked for more state")

    def stop(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a replay stopped its execution")


def replay_recorded(n: int) -> Trial:
    """Re-run their handler on the completed history of an ``n``-step execution; per op.

    The history is recorded by their runner. The handler is then called directly with all of
    it in one page and a service that refuses calls. The time runs from the call to the moment
    the workflow body returns: their invocation teardown (stopping the checkpoint thread) is a
    fixed cost, measured in the invocation row, not a per-operation one.
    """
    with _Session(_sequential()) as session:
        arn = session.drive(n)
        operations = list(session.store.load(arn).operations)
    marks: list[float] = []
    handler = _sequential(marks)
    event = DurableExecutionInvocationInputWithClient(
        durable_execution_arn=arn,
        checkpoint_token="replay",
        initial_execution_state=InitialExecutionState(operations=operations, next_marker=""),
        service_client=_NoService(),
    )
    lambda_context = create_test_lambda_context()

    def run(_: None) -> float:
        marks.clear()
        start = time.perf_counter()
        output = handler(event, lambda_context)
        if output.get("Status") != "SUCCEEDED":
            raise RuntimeError(f"replay did not succeed: {output}")
        return marks[0] - start

    return Trial(run=run, per=n)


def _timed(handler: Callable[..., Any], timings: list[float]) -> Callable[..., Any]:
    def timed(event: Any, context: Any) -> Any:
        start = time.perf_counter()
        output = handler(event, context)
        timings.append(time.perf_counter() - start)
        return output

    return timed


def invocation_overhead() -> Trial:
    """One invocation of a trivial workflow by their runner: the handler call, timed inside."""

    def setup() -> tuple[_Session, list[float]]:
        timings: list[float] = []
        return _Session(_timed(trivial_handler, timings)), timings

    def run(state: tuple[_Session, list[float]]) -> float:
        session, timings = state
        session.drive(1)
        (elapsed,) = timings
        return elapsed

    return Trial(run=run, setup=setup, cleanup=lambda state: state[0].close())


def end_to_end_trivial() -> Trial:
    """Start and finish an execution of a trivial workflow (``runner.run``)."""
    return _session_trial(trivial_handler, 1)


class _CountingService(DurableServiceClient):
    """Counts checkpoint calls and the JSON bytes of their updates, then delegates."""

    def __init__(self, inner: DurableServiceClient, totals: list[int]) -> None:
        self.inner = inner
        self.totals = totals

    def checkpoint(
        self, durable_execution_arn: str, checkpoint_token: str, updates: Any, client_token: Any
    ) -> Any:
        body = json.dumps([u.to_dict() for u in updates], separators=(",", ":"))
        self.totals[0] += 1
        self.totals[1] += len(body.encode())
        return self.inner.checkpoint(durable_execution_arn, checkpoint_token, updates, client_token)

    def get_execution_state(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.get_execution_state(*args, **kwargs)

    def stop(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.stop(*args, **kwargs)


def _counted(handler: Callable[..., Any], totals: list[int]) -> Callable[..., Any]:
    def counted(event: Any, context: Any) -> Any:
        service = _CountingService(event.service_client, totals)
        return handler(dataclasses.replace(event, service_client=service), context)

    return counted


_HANDLERS: dict[str, Callable[..., Any]] = {
    "sequential": _sequential(),
    "map": map_handler,
    "waits_callbacks": waits_callbacks_handler,
}


def checkpoint_traffic(workload: str, n: int) -> tuple[int, int]:
    """(checkpoint calls, bytes of updates) for one execution; ``workload`` names the handler."""
    totals = [0, 0]
    with _Session(_counted(_HANDLERS[workload], totals)) as session:
        session.drive(n, callbacks=workload == "waits_callbacks")
    return totals[0], totals[1]
