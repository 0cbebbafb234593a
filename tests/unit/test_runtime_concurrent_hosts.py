"""Runtimes of one's own that run step tasks side by side give what the embedded engine gives.

Written from docs/embedding.md alone: one host runs the tasks of a ``RunTasks`` in a thread
pool and waits on ``WaitForTasks`` (with step deadlines), the other runs them as asyncio tasks
(sync steps with ``asyncio.to_thread``) and cancels an async attempt at its deadline. Both keep
a dict store changed by ``apply_updates``, hand the store's operations to each new interpreter
in a shuffled order (a store owes no order), and fire timers at once on a virtual clock. For
each workflow (Map and Parallel under each completion policy, nested batches, waits in
branches, at-most-once steps, step timeouts, Now()) in each checkpointing mode, the outcome
must be the one ``dg.run(..., skip_time=True)`` gives.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import json
import random
import time
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt

START_MS = 1_735_689_600_000  # the virtual clock's start: 2025-01-01


class _Host:
    """The store, the timers and the clock; subclasses run one invocation."""

    def __init__(self, workflow: Any, payload: Any, mode: rt.CheckpointMode) -> None:
        self.workflow, self.mode, self.now_ms = workflow, mode, START_MS
        self.store = {
            "exec": rt.Operation(
                id="exec",
                type="EXECUTION",
                status="STARTED",
                start_timestamp=START_MS,
                execution_details=rt.ExecutionDetails(input_payload=json.dumps(payload)),
            )
        }
        self.timers: dict[tuple[str, str], rt.Timer] = {}
        self.shuffle = random.Random(7)

    def interpreter(self) -> rt.Interpreter:
        operations = list(self.store.values())
        self.shuffle.shuffle(operations)
        return rt.Interpreter(
            self.workflow,
            operations,
            execution_arn="arn:concurrent",
            checkpointing=self.mode,
            clock=lambda: self.now_ms / 1000,
        )

    def flush(self, updates: list[rt.OperationUpdate]) -> list[rt.Operation]:
        applied = rt.apply_updates(self.store, updates, now_ms=self.now_ms)
        for timer in applied.timers:
            self.timers[timer.kind, timer.operation_id] = timer
        return applied.operations

    def invoke(self) -> rt.Outcome:
        raise NotImplementedError

    def run(self) -> Any:
        for _ in range(200):
            outcome = self.invoke()
            if isinstance(outcome, rt.Succeeded):
                return ("ok", json.loads(outcome.result))
            if isinstance(outcome, rt.Failed):
                return ("failed", outcome.error.error_type, outcome.error.error_message)
            assert self.timers, f"stuck waiting on {outcome.waiting_on}"
            timer = min(self.timers.values(), key=lambda t: t.due_ms)
            del self.timers[timer.kind, timer.operation_id]
            self.now_ms = max(self.now_ms, timer.due_ms)
            rt.fire_timer(self.store, timer, now_ms=self.now_ms)
        raise AssertionError("the execution did not end")


class ThreadedHost(_Host):
    pool = cf.ThreadPoolExecutor(8)

    def invoke(self) -> rt.Outcome:
        interp = self.interpreter()
        running: dict[cf.Future[Any], rt.StepTask] = {}
        started: dict[int, float] = {}
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                interp.observe(self.flush(action.updates))
            elif isinstance(action, rt.RunTasks):
                for task in action.tasks:
                    if task.is_async:
                        future = self.pool.submit(asyncio.run, task.fn(*task.args, **task.kwargs))
                    else:
                        future = self.pool.submit(task.fn, *task.args, **task.kwargs)
                    running[future] = task
                    started[task.id] = time.monotonic()
            elif isinstance(action, rt.WaitForTasks):
                # the virtual clock stands still while steps run: a deadline is its timeout
                # in real time from the task's start
                waits = [
                    started[t.id] + (t.deadline_ms / 1000 - self.now_ms / 1000) - time.monotonic()
                    for t in action.running
                    if t.deadline_ms is not None
                ]
                done, _ = cf.wait(
                    running,
                    timeout=max(0.0, min(waits)) if waits else None,
                    return_when=cf.FIRST_COMPLETED,
                )
                for future in done:
                    task = running.pop(future)
                    error = future.exception()
                    if error is None:
                        interp.task_succeeded(task, future.result())
                    else:
                        interp.task_failed(task, error)
                if not done:  # a deadline passed: stop waiting for that attempt, drop it
                    for future, task in list(running.items()):
                        if task.deadline_ms is not None and task in action.running:
                            left = started[task.id] + (task.timeout or 0) - time.monotonic()
                            if left <= 0:
                                del running[future]
                                interp.task_failed(task, dg.StepTimeoutError("timed out"))
            else:
                assert isinstance(action, rt.Done)
                return action.outcome


class AsyncioHost(_Host):
    def invoke(self) -> rt.Outcome:
        return asyncio.run(self._invoke())

    async def _invoke(self) -> rt.Outcome:
        interp = self.interpreter()
        running: dict[asyncio.Future[Any], rt.StepTask] = {}

        async def call(task: rt.StepTask) -> Any:
            if task.is_async:
                attempt = task.fn(*task.args, **task.kwargs)
            else:
                attempt = asyncio.to_thread(task.fn, *task.args, **task.kwargs)
            if task.timeout is None:
                return await attempt
            try:
                return await asyncio.wait_for(attempt, task.timeout)
            except TimeoutError:
                raise dg.StepTimeoutError(f"cancelled after {task.timeout} s") from None

        try:
            while True:
                action = interp.next_action()
                if isinstance(action, rt.Flush):
                    interp.observe(self.flush(action.updates))
                elif isinstance(action, rt.RunTasks):
                    for task in action.tasks:
                        running[asyncio.ensure_future(call(task))] = task
                elif isinstance(action, rt.WaitForTasks):
                    done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    for future in done:
                        task = running.pop(future)
                        error = future.exception()
                        if error is None:
                            interp.task_succeeded(task, future.result())
                        else:
                            assert isinstance(error, Exception)
                            interp.task_failed(task, error)
                else:
                    assert isinstance(action, rt.Done)
                    return action.outcome
        finally:
            for future in running:  # items of a batch decided without them
                future.cancel()


# --- the workflows ------------------------------------------------------------------------------

NO_RETRY = dg.Retry.never()


@dg.step(retry=NO_RETRY)
def tenfold(x: int) -> int:
    time.sleep(0.002 * (x % 3))  # finish out of order
    if x < 0:
        raise ValueError(f"negative {x}")
    return x * 10


def policies(items: list[int]) -> dg.Workflow[Any]:
    out = []
    for completion in (
        None,
        dg.Completion(min_successful=2),
        dg.Completion(tolerated_failure_count=1),
        dg.Completion(tolerated_failure_percentage=30),
    ):
        r = yield from dg.Map(tenfold, items, max_concurrency=4, completion=completion)
        # Which items had ended when a failure or min_successful decided the batch depends on
        # timing (on the engine too): only what does not is compared.
        if r.completion_reason == "ALL_COMPLETED":
            out.append([r.completion_reason, r.all_results(), [i.status for i in r.items]])
        else:
            out.append([r.completion_reason, r.success_count >= 2 or r.failure_count >= 1])
    return out


def waits_then(x: int) -> dg.Workflow[int]:
    yield from dg.Wait(seconds=x, name="pause")
    return (yield from tenfold(x))


def branches(_: Any) -> dg.Workflow[Any]:
    r = yield from dg.Parallel(
        [
            dg.Branch(lambda: 1, name="plain"),
            dg.Branch(lambda: (yield from waits_then(3)), name="waits"),
            dg.Branch(lambda: (yield from waits_then(-1)), name="fails"),
        ],
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return [r.completion_reason, r.all_results(), [e.error_type for e in r.errors()]]


def inner(x: int) -> dg.Workflow[int]:
    r = yield from dg.Map(tenfold, [x, x + 1], max_concurrency=2)
    return sum(r.results())


def nested(items: list[int]) -> dg.Workflow[list[int]]:
    r = yield from dg.Map(inner, items, max_concurrency=2)
    return r.results()


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry(max_attempts=2, initial_delay=1))
def charge_once(x: int) -> int:
    raise RuntimeError(f"declined {x}")


def at_most_once(x: int) -> dg.Workflow[Any]:
    try:
        yield from charge_once(x)
    except dg.StepFailedError as exc:
        return [exc.error_type, exc.error_message]
    return None


@dg.step(timeout=0.05, retry=dg.Retry(max_attempts=2, initial_delay=1))
async def hangs(x: int) -> int:
    await asyncio.sleep(0.5)  # ten times its timeout (a thread that runs it on is let go)
    return x


@dg.step
async def quick(x: int) -> int:
    await asyncio.sleep(0.001)
    return x + 1


def timeouts(x: int) -> dg.Workflow[Any]:
    first = yield from quick(x)
    try:
        yield from hangs(x)
    except dg.StepFailedError as exc:
        return [first, exc.error_type]
    return [first]


def clock(_: Any) -> dg.Workflow[float]:
    before = yield from dg.Now()
    yield from dg.Wait(seconds=90, name="ninety")
    after = yield from dg.Now()
    return (after - before).total_seconds()


def raises(x: int) -> dg.Workflow[int]:
    yield from tenfold(x)
    raise KeyError("no such order")


CASES: list[tuple[Any, Any]] = [
    (policies, [1, 2, 3, 4]),
    (policies, [1, -2, 3, -4, 5]),
    (branches, None),
    (nested, [1, 10, 100]),
    (at_most_once, 7),
    (timeouts, 1),
    (clock, None),
    (raises, 2),
]


@pytest.mark.parametrize("host", [ThreadedHost, AsyncioHost], ids=["threads", "asyncio"])
@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize(
    ("workflow", "payload"), CASES, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)]
)
def test_a_concurrent_runtime_of_ones_own_ends_as_the_engine_does(
    workflow: Any, payload: Any, mode: rt.CheckpointMode, host: type[_Host]
) -> None:
    try:
        expected: Any = ("ok", dg.run(workflow, payload, skip_time=True, checkpointing=mode))
    except dg.ExecutionFailedError as exc:
        expected = ("failed", exc.error_type, exc.error_message)
    assert host(workflow, payload, mode).run() == expected
