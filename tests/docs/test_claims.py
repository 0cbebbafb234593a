"""Claims the docs make, each checked as a reader would: a default, an error type, a limit.

Each check quotes the sentence it tests (page and words). A claim that stops holding fails
here; change the docs or the code, never the quote alone.
"""

from __future__ import annotations

import datetime
import inspect
import logging
import math
import random
import re
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypedDict

import msgspec
import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner

ROOT = Path(__file__).resolve().parents[2]
CLAIMS: dict[str, Callable[[], None]] = {}


def claim(key: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def register(fn: Callable[[], None]) -> Callable[[], None]:
        assert key not in CLAIMS, key
        CLAIMS[key] = fn
        return fn

    return register


def raises(exc: type[BaseException], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    return info.value


def failed_with(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dg.ExecutionFailedError:
    err: dg.ExecutionFailedError = raises(dg.ExecutionFailedError, fn, *args, **kwargs)
    return err


# --- guide.md: steps and retries -------------------------------------------------------------


@claim("guide: Retry(max_attempts=6, initial_delay=5, ...) is also the default policy")
def _retry_defaults() -> None:
    r = dg.Retry()
    assert (r.max_attempts, r.initial_delay, r.backoff, r.max_delay, r.jitter) == (
        6,
        5,
        2.0,
        60,
        "full",
    )
    assert (r.retry_on, r.retry_if) == ((Exception,), None)


@claim("guide: delay after attempt k is min(max_delay, initial_delay * backoff**(k-1)), ...")
def _retry_formula() -> None:
    r = dg.Retry(initial_delay=1.5, backoff=3.0, max_delay=40, jitter="none")
    for k in range(1, 8):
        assert r.delay(k, 0.5) == max(1, math.ceil(min(40, 1.5 * 3.0 ** (k - 1)))), k
    full, half = dg.Retry(jitter="full"), dg.Retry(jitter="half")
    assert full.delay(1, 0.0) == 1  # "at least 1 s"
    assert half.delay(3, 0.0) == 10 and half.delay(3, 0.999) == 20


@claim("guide: max_delay may not exceed 366 days: ValidationError; Retry.never() runs once")
def _retry_limits() -> None:
    raises(dg.ValidationError, dg.Retry, max_delay=31_622_401)
    dg.Retry(max_delay=31_622_400)
    assert dg.Retry.never().max_attempts == 1


@claim("guide: retry_on limits retries to exception types, retry_if to a predicate")
def _retry_filters() -> None:
    r = dg.Retry(retry_on=(KeyError,), retry_if=lambda e: "yes" in str(e))
    assert r.should_retry(1, KeyError("yes")) and not r.should_retry(1, KeyError("no"))
    assert not r.should_retry(1, ValueError("yes")) and not r.should_retry(6, KeyError("yes"))


@claim("guide: timeout= seconds greater than 0, or a timedelta; anything else ValidationError")
def _step_timeouts() -> None:
    def f() -> int:
        return 1

    bad: list[Any] = [0, -1, "1", math.nan, math.inf, True, timedelta(0), timedelta(seconds=-1)]
    for value in bad:
        raises(dg.ValidationError, dg.Step, f, timeout=value)
        with pytest.raises(dg.ValidationError):

            @dg.step(timeout=value)
            def g() -> int:
                return 1

    dg.Step(f, timeout=0.05)
    dg.Step(f, timeout=timedelta(milliseconds=50))


@claim("guide: a step that fails for good raises StepFailedError with error_type, ...")
def _step_failed_fields() -> None:
    class Declined(Exception):
        error_data = "not recorded"

    @dg.step(retry=dg.Retry.never())
    def own(x: int) -> int:
        raise Declined("declined!")

    @dg.step(retry=dg.Retry.never())
    def typed(x: int) -> int:
        raise dg.StepFailedError("declined", error_type="Declined", error_data='{"code": 51}')

    def wf(x: int) -> Any:
        out: list[Any] = []
        for command in (own(x), typed(x)):
            try:
                yield command
            except Declined:
                out.append("caught its own class")
            except dg.StepFailedError as exc:
                out.append([exc.error_type, exc.error_message, exc.error_data])
        return out

    assert dg.run(wf, 1) == [
        ["Declined", "declined!", None],
        ["Declined", "declined", '{"code": 51}'],
    ]


@claim("guide: StepTimeoutError (a subclass of StepFailedError) at the yield")
def _step_timeout_raised() -> None:
    import asyncio

    @dg.step(timeout=0.05, retry=dg.Retry.never())
    async def hang(key: str) -> str:
        await asyncio.sleep(10)
        return key

    def wf(key: str) -> Any:
        try:
            yield hang(key)
        except dg.StepFailedError as exc:
            return [type(exc).__name__, exc.error_type]

    assert dg.run(wf, "k", skip_time=True) == ["StepTimeoutError", "StepTimeoutError"]


@claim("guide: a result over 1 MiB for what an operation records: PayloadTooLargeError")
def _payload_limit() -> None:
    @dg.step
    def big(x: int) -> str:
        return "x" * (1024 * 1024 + 10)

    def wf(x: int) -> Any:
        try:
            yield big(x)
        except dg.StepFailedError as exc:
            return exc.error_type

    assert dg.run(wf, 1) == "PayloadTooLargeError"


@claim("guide: each failed attempt is logged once at WARNING on durable_gen.steps, with extras")
def _failed_attempt_logs() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    @dg.step(retry=dg.Retry(max_attempts=2, initial_delay=7, jitter="none"))
    def shaky(x: int) -> int:
        raise ValueError("m" * 5000)

    def wf(x: int) -> Any:
        try:
            yield shaky(x)
        except dg.StepFailedError as exc:
            return len(exc.error_message or "")

    logger = logging.getLogger("durable_gen.steps")
    keep, level = Keep(level=logging.DEBUG), logger.level
    logger.addHandler(keep)
    logger.setLevel(logging.DEBUG)
    try:
        # "the recorded error keeps the whole message while the error object fits in 32 KiB"
        assert dg.run(wf, 1, skip_time=True) == 5000
    finally:
        logger.removeHandler(keep)
        logger.setLevel(level)
    assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING]
    first, last = (r.getMessage() for r in records)
    assert "attempt 1 failed: ValueError: " in first and first.endswith("retrying in 7 s")
    assert "[truncated: 5000 characters]" in first and "m" * 4097 not in first
    assert last.endswith("not retried")
    extras = ("operationId", "attempt", "errorType", "nextAttemptDelaySeconds")
    assert all(hasattr(records[0], k) for k in ("durableExecutionArn", "operationName", *extras))
    one, two = (vars(r) for r in records)
    assert (one["operationName"], one["attempt"], one["errorType"]) == ("shaky", 1, "ValueError")
    assert (one["nextAttemptDelaySeconds"], two["nextAttemptDelaySeconds"]) == (7, None)


@claim("lambda: an error object over 32 KiB keeps the first 4,096 characters of its message")
def _long_error_message() -> None:
    @dg.step(retry=dg.Retry.never())
    def loud(x: int) -> int:
        raise ValueError("m" * 40_000)

    def wf(x: int) -> Any:
        try:
            yield loud(x)
        except dg.StepFailedError as exc:
            return exc.error_message

    message = dg.run(wf, 1)
    assert message == "m" * 4096 + " [truncated to fit the 32 KiB error limit]"


# --- guide.md: waits, callbacks, invokes, conditions -----------------------------------------


@claim("guide: Wait is whole seconds, 1 s to 366 days; anything else ValidationError")
def _wait_bounds() -> None:
    for bad in (0, -1, 1.5, 31_622_401, "5", True):
        raises(dg.ValidationError, dg.Wait, seconds=bad)
    dg.Wait(seconds=1)
    dg.Wait(seconds=31_622_400)


@claim("guide: CallbackTimeoutError error_type Callback.Timeout / Callback.Heartbeat")
def _callback_timeouts() -> None:
    def wf(heartbeat: int | None) -> Any:
        handle = yield dg.CreateCallback(name="c", timeout=100, heartbeat_timeout=heartbeat)
        try:
            return (yield handle)
        except dg.CallbackError as exc:
            return [type(exc).__name__, exc.error_type]

    assert dg.run(wf, None, skip_time=True) == ["CallbackTimeoutError", "Callback.Timeout"]
    assert dg.run(wf, 10, skip_time=True) == ["CallbackTimeoutError", "Callback.Heartbeat"]


@claim("guide: a heartbeat restarts the heartbeat timeout, not the overall one")
def _heartbeats() -> None:
    from durable_gen.local import LocalService, VirtualClock
    from durable_gen.runtime import make_handler

    def wf(x: int) -> Any:
        handle = yield dg.CreateCallback(name="c", timeout=30, heartbeat_timeout=10)
        try:
            return (yield handle)
        except dg.CallbackTimeoutError as exc:
            return exc.error_type

    clock = VirtualClock(auto_advance=False)
    service = LocalService(clock=clock)
    service.register("w", make_handler(wf, service))
    arn = service.start("w", "1")
    service.run(arn)
    (callback,) = [o for o in service.get_operations(arn) if o.type == "CALLBACK"]
    assert callback.callback_details is not None and callback.callback_details.callback_id
    for _ in range(3):  # 8 s apart: within the heartbeat timeout each time
        clock.advance(8)
        service.run_until_idle()
        assert service.get_execution(arn).status == "RUNNING"
        service.send_callback_heartbeat(callback.callback_details.callback_id)
    clock.advance(8)  # 32 s in all: past the overall timeout
    service.run_until_idle()
    assert service.get_execution(arn).result == '"Callback.Timeout"'


@claim("guide: CallbackFailedError carries error_type, error_message and error_data")
def _callback_failure() -> None:
    outbox: list[str] = []

    @dg.step
    def send(callback_id: str) -> None:
        outbox.append(callback_id)

    def wf(x: int) -> Any:
        handle = yield dg.CreateCallback(name="c", timeout=100)
        yield send(handle.callback_id)
        try:
            return (yield handle)
        except dg.CallbackFailedError as exc:
            return [exc.error_type, exc.error_message, exc.error_data]

    runner = TestRunner()
    execution = runner.run(wf, 1)
    runner.send_callback_failure(outbox[0], error_type="T", error_message="M", error_data="D")
    runner.run_until_idle()
    assert execution.result() == ["T", "M", "D"]


@claim("guide: a submitter/check/strategy that cannot be called so is a ValidationError")
def _callable_shapes() -> None:
    raises(dg.ValidationError, dg.WaitForCallback, lambda: None, name="x")
    raises(dg.ValidationError, dg.WaitForCallback, lambda a, b: None, name="x")
    raises(dg.ValidationError, dg.WaitForCondition, lambda: None)
    raises(dg.ValidationError, dg.WaitForCondition, lambda s: s, wait_strategy=lambda s: None)


@claim("guide: Invoke's name is what Lambda accepts; anything else is a ValidationError")
def _invoke_names() -> None:
    for bad in ("a b", "a/b", ""):
        raises(dg.ValidationError, dg.Invoke, bad)
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    for ok in (
        "tax-service",
        "f:1",
        "f:prod",
        "a_b.c",
        arn,
        f"{arn}:prod",
        "123456789012:function:f",
    ):
        dg.Invoke(ok)


@claim("guide: tenant_id is 1 to 256 characters of letters, digits, spaces and . _ : / = + - @")
def _tenant_ids() -> None:
    for bad in ("", "x" * 257, "a#b", "é"):
        raises(dg.ValidationError, dg.Invoke, "f", tenant_id=bad)
    dg.Invoke("f", tenant_id="x" * 256)
    dg.Invoke("f", tenant_id="a b._:/=+-@")


@claim("guide: a failed Invoke raises InvokeFailedError with the target's error_type")
def _invoke_failure() -> None:
    def target(payload: Any) -> Any:
        raise ValueError("bad")

    def wf(x: int) -> Any:
        try:
            yield dg.Invoke("t", x)
        except dg.InvokeFailedError as exc:
            return [exc.error_type, exc.error_message]

    assert dg.run(wf, 1, functions={"t": target}) == ["ValueError", "bad"]


@claim("guide: WaitStrategy(until=, delay=5, backoff=1.0, max_delay=300, max_attempts=None)")
def _wait_strategy_defaults() -> None:
    w = dg.WaitStrategy(until=lambda s: True)
    assert (w.delay, w.backoff, w.max_delay, w.max_attempts) == (5, 1.0, 300, None)
    w = dg.WaitStrategy(until=lambda s: False, delay=2, backoff=1.5, max_delay=10)
    for k in range(1, 8):
        expected = max(1, math.ceil(min(10, 2 * 1.5 ** (k - 1))))
        assert w(None, k) == dg.WaitDecision.again(expected), k


@claim("guide: without a wait_strategy it checks once; max_attempts: WaitConditionNotMetError")
def _wait_for_condition() -> None:
    calls: list[int] = []

    def check(state: int) -> int:
        calls.append(state)
        return state + 1

    def once(x: int) -> Any:
        return (yield dg.WaitForCondition(check, initial_state=0))

    assert dg.run(once, 1) == 1 and calls == [0]

    def limited(x: int) -> Any:
        strategy = dg.WaitStrategy(until=lambda s: False, delay=1, max_attempts=3)
        try:
            yield dg.WaitForCondition(check, initial_state=0, wait_strategy=strategy)
        except dg.StepFailedError as exc:
            return exc.error_type

    assert dg.run(limited, 1, skip_time=True) == "WaitConditionNotMetError"


@claim("guide: a check that raises fails the operation at once (no retry)")
def _condition_check_raises() -> None:
    calls: list[int] = []

    def check(state: int) -> int:
        calls.append(state)
        raise KeyError("k")

    def wf(x: int) -> Any:
        strategy = dg.WaitStrategy(until=lambda s: False, delay=1)
        try:
            yield dg.WaitForCondition(check, initial_state=0, wait_strategy=strategy)
        except dg.StepFailedError as exc:
            return exc.error_type

    assert dg.run(wf, 1, skip_time=True) == "KeyError" and calls == [0]


# --- guide.md: children, batches, sagas ------------------------------------------------------


@claim("guide: a failed Child raises ChildFailedError; virtual must be a bool")
def _child() -> None:
    def sub(x: int) -> Any:
        raise KeyError("k")
        yield

    def wf(x: int) -> Any:
        try:
            yield dg.Child(sub, (x,))
        except dg.ChildFailedError as exc:
            return exc.error_type

    assert dg.run(wf, 1) == "KeyError"
    for bad in (1, "yes", None):
        raises(dg.ValidationError, dg.Child, sub, (1,), virtual=bad)


@claim("guide: fn gets the index when it has two positional parameters without a default")
def _map_index() -> None:
    def pair(item: str, index: int) -> list[Any]:
        return [item, index]

    def scaled(item: int, factor: int = 10) -> int:
        return item * factor

    def wf(x: int) -> Any:
        a = yield dg.Map(pair, ["a", "b"])
        b = yield dg.Map(scaled, [1, 2])
        return [a.results(), b.results()]

    assert dg.run(wf, 1) == [[["a", 0], ["b", 1]], [10, 20]]


@claim("guide: max_concurrency 0 or negative, a called step, a bad item_namer: ValidationError")
def _map_options() -> None:
    @dg.step
    def charge(x: int) -> int:
        return x

    raises(dg.ValidationError, dg.Map, lambda x: x, [1], max_concurrency=0)
    raises(dg.ValidationError, dg.Map, lambda x: x, [1], max_concurrency=-1)
    assert "Map needs a callable" in str(raises(dg.ValidationError, dg.Map, charge(1), [1]))
    raises(dg.ValidationError, dg.Map, lambda x: x, [1], item_namer=lambda: "x")

    def long_names(x: int) -> Any:
        return (yield dg.Map(lambda i: i, [1], item_namer=lambda i, n: "x" * 257))

    assert failed_with(dg.run, long_names, 1).error_type == "ValidationError"


@claim("guide: Completion bounds and the three presets")
def _completion() -> None:
    raises(dg.ValidationError, dg.Completion, min_successful=0)
    raises(dg.ValidationError, dg.Completion, tolerated_failure_count=-1)
    assert dg.Completion.all_completed().tolerated_failure_percentage == 100
    assert dg.Completion.first_successful().min_successful == 1
    assert dg.Completion.all_successful().tolerated_failure_count == 0


def _flaky(item: int) -> int:
    if item < 0:
        raise ValueError(f"item {item}")
    return item


@claim("guide: with nothing set, the first failure decides; items not started are not started")
def _first_failure() -> None:
    def wf(x: int) -> Any:
        batch = yield dg.Map(_flaky, [-1, 2, 3], max_concurrency=1)
        return [batch.completion_reason, [i.status for i in batch.items]]

    assert dg.run(wf, 1, skip_time=True) == [
        "FAILURE_TOLERANCE_EXCEEDED",
        ["FAILED", "NOT_STARTED", "NOT_STARTED"],
    ]


@claim("guide: MIN_SUCCESSFUL_REACHED; a min_successful over the item count is never reached")
def _min_successful() -> None:
    def wf(n: int) -> Any:
        completion = dg.Completion(min_successful=n)
        batch = yield dg.Map(_flaky, [1, 2, 3], max_concurrency=1, completion=completion)
        return [batch.completion_reason, batch.not_started_count, batch.total_count]

    assert dg.run(wf, 2) == ["MIN_SUCCESSFUL_REACHED", 1, 3]
    assert dg.run(wf, 5) == ["ALL_COMPLETED", 0, 3]


@claim("guide: failures over the percentage of all items, strictly greater, decide the batch")
def _tolerated_percentage() -> None:
    def wf(pct: int) -> Any:
        completion = dg.Completion(tolerated_failure_percentage=pct)
        batch = yield dg.Map(_flaky, [-1, 1, 2, 3], max_concurrency=1, completion=completion)
        return batch.completion_reason

    assert dg.run(wf, 25, skip_time=True) == "ALL_COMPLETED"
    assert dg.run(wf, 24, skip_time=True) == "FAILURE_TOLERANCE_EXCEEDED"


@claim("guide: failures over tolerated_failure_count decide the batch; started_count")
def _tolerated_count_and_started() -> None:
    def wf(n: int) -> Any:
        completion = dg.Completion(tolerated_failure_count=n)
        batch = yield dg.Map(_flaky, [-1, -2, 3, 4], max_concurrency=1, completion=completion)
        return batch.completion_reason

    assert dg.run(wf, 1, skip_time=True) == "FAILURE_TOLERANCE_EXCEEDED"
    assert dg.run(wf, 2, skip_time=True) == "ALL_COMPLETED"

    def item(i: int) -> Any:
        if i == 0:
            raise ValueError("first")
        yield dg.Wait(seconds=10)
        return i

    def decided(x: int) -> Any:
        batch = yield dg.Map(item, [0, 1, 2], max_concurrency=3)
        counts = [batch.started_count, batch.failure_count, batch.success_count]
        return [[i.status for i in batch.items], counts, batch.total_count]

    # "started_count (started, not waited for once the batch was decided)"
    assert dg.run(decided, 1, skip_time=True) == [["FAILED", "STARTED", "STARTED"], [2, 1, 0], 3]


@claim("guide: BatchResult's results(), all_results(), errors(), counts, raise_if_failed()")
def _batch_result() -> None:
    def wf(x: int) -> Any:
        batch = yield dg.Map(_flaky, [1, -2, 3], completion=dg.Completion.all_completed())
        raised = []
        for method in (batch.get_results, batch.raise_if_failed):
            try:
                method()
            except dg.BatchFailedError:
                raised.append(method.__name__)
        return {
            "results": batch.results(),
            "all": batch.all_results(),
            "errors": [e.error_type for e in batch.errors()],
            "counts": [batch.success_count, batch.failure_count, batch.total_count],
            "has_failure": batch.has_failure,
            "raised": raised,
        }

    assert dg.run(wf, 1, skip_time=True) == {
        "results": [1, 3],
        "all": [1, None, 3],
        "errors": ["ValueError"],
        "counts": [2, 1, 3],
        "has_failure": True,
        "raised": ["get_results", "raise_if_failed"],
    }


@claim("guide: undos run LIFO, once each; a CompensationResult names the compensated step")
def _compensations() -> None:
    ran: list[str] = []

    def undo_a(result: str) -> str:
        ran.append(result)
        return "undone"

    @dg.step(compensate=undo_a)
    def a(x: int) -> str:
        return "A"

    @dg.step(compensate=lambda result: ran.append(result))
    def b(x: int) -> str:
        return "B"

    def wf(x: int) -> Any:
        yield a(x)
        yield b(x)
        first = yield dg.RunCompensations()
        again = yield dg.RunCompensations()
        return [[[r.name, r.status, r.result] for r in first], again]

    assert dg.run(wf, 1) == [[["b", "SUCCEEDED", None], ["a", "SUCCEEDED", "undone"]], []]
    assert ran == ["B", "A"]


@claim("guide: an undo that cannot be called with the result is refused where declared")
def _bad_undo() -> None:
    def gen(result: Any) -> Any:
        yield

    with pytest.raises(dg.ValidationError):

        @dg.step(compensate=lambda: None)  # type: ignore[arg-type,misc]
        def f(x: int) -> int:
            return x

    with pytest.raises(dg.WorkflowDefinitionError):

        @dg.step(compensate=gen)
        def g(x: int) -> int:
            return x


@claim("guide: WaitForCallback records a CONTEXT, '<name> create callback id', '<name> submitter'")
def _wait_for_callback_shape() -> None:
    def submit(callback_id: str) -> None:
        return None

    def wf(x: int) -> Any:
        return (yield dg.WaitForCallback(submit, name="w", timeout=100))

    runner = TestRunner()
    execution = runner.run(wf, 1)
    names = [(o.name, o.type, o.sub_type) for o in execution.operations()]
    assert ("w", "CONTEXT", "WaitForCallback") in names
    assert ("w create callback id", "CALLBACK", "Callback") in names
    assert ("w submitter", "STEP", "Step") in names


@claim("guide: WaitForCallback errors arrive as CallbackErrors (submitter's class, not JSON)")
def _wait_for_callback_errors() -> None:
    from durable_gen.local import LocalService, VirtualClock
    from durable_gen.runtime import make_handler

    @dg.step(retry=dg.Retry.never())
    def failing(callback_id: str) -> None:
        raise KeyError("nope")

    def submit(callback_id: str) -> None:
        return None

    def wf(fail: bool) -> Any:
        try:
            return (yield dg.WaitForCallback(failing if fail else submit, name="w"))
        except dg.CallbackError as exc:
            return [type(exc).__name__, exc.error_type]

    assert dg.run(wf, True) == ["CallbackFailedError", "KeyError"]
    service = LocalService(clock=VirtualClock())
    service.register("wf", make_handler(wf, service))
    arn = service.start("wf", "false")
    service.run(arn)
    (callback,) = [o for o in service.get_operations(arn) if o.type == "CALLBACK"]
    assert callback.callback_details is not None and callback.callback_details.callback_id
    service.send_callback_success(callback.callback_details.callback_id, "not json")
    assert service.run(arn).result == '["CallbackFailedError","SerializationError"]'


@claim("guide: item_namer None keeps the name map-item-{index}; def f(*args) gets the item alone")
def _map_names_and_args() -> None:
    def star(*args: Any) -> list[Any]:
        return list(args)

    def namer(item: str, index: int) -> str | None:
        return None if index == 0 else f"n{index}"

    def wf(x: int) -> Any:
        named = yield dg.Map(star, ["a", "b"], item_namer=namer)
        return [[i.name for i in named.items], named.results()]

    assert dg.run(wf, 1) == [["map-item-0", "n1"], [["a"], ["b"]]]


@claim("guide: a branch needing arguments: ValidationError; an async generator: definition error")
def _parallel_branch_shapes() -> None:
    def needs(a: int) -> int:
        return a

    async def agen() -> Any:
        yield 1

    raises(dg.ValidationError, dg.Parallel, [needs])
    raises(dg.WorkflowDefinitionError, dg.Parallel, [agen])


@claim("guide: lambda: sub(1) as a branch fails with WorkflowDefinitionError; partial(sub, 1) runs")
def _parallel_partial() -> None:
    import functools

    def sub(n: int) -> Any:
        yield dg.Wait(seconds=1)
        return n

    def wf(x: int) -> Any:
        batch = yield dg.Parallel(
            [lambda: sub(1), functools.partial(sub, 2)], completion=dg.Completion.all_completed()
        )
        return [[i.status, i.error.error_type if i.error else None] for i in batch.items]

    assert dg.run(wf, 1, skip_time=True) == [
        ["FAILED", "WorkflowDefinitionError"],
        ["SUCCEEDED", None],
    ]


@claim("guide: a partial of a @step runs as that step: its name and retry policy")
def _partial_step() -> None:
    import functools

    calls: list[int] = []

    @dg.step(name="price", retry=dg.Retry(max_attempts=2, initial_delay=1))
    def price(item: int, factor: int = 1) -> int:
        calls.append(factor)
        raise ValueError("x")

    def wf(x: int) -> Any:
        partial = functools.partial(price, factor=10)
        batch = yield dg.Map(partial, [1], completion=dg.Completion.all_completed())
        return [i.status for i in batch.items]

    execution = TestRunner().run(wf, 1)
    assert execution.result() == ["FAILED"] and calls == [10, 10]
    assert "price" in [o.name for o in execution.operations() if o.type == "STEP"]


@claim("guide: with only min_successful set, failures do not end the batch")
def _only_min_successful() -> None:
    def wf(x: int) -> Any:
        completion = dg.Completion(min_successful=2)
        batch = yield dg.Map(_flaky, [-1, -2, 3, 4, 5], max_concurrency=1, completion=completion)
        return [batch.completion_reason, [i.status for i in batch.items]]

    assert dg.run(wf, 1, skip_time=True) == [
        "MIN_SUCCESSFUL_REACHED",
        ["FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED", "NOT_STARTED"],
    ]


# --- guide.md: mistakes ----------------------------------------------------------------------


@claim("guide: a plain def, an async def workflow, @step on a generator: WorkflowDefinitionError")
def _definition_errors() -> None:
    async def a(x: int) -> int:
        return x

    def plain(x: int) -> int:
        return x

    def gen(x: int) -> Any:
        yield

    raises(dg.WorkflowDefinitionError, dg.workflow, a)
    raises(dg.WorkflowDefinitionError, dg.workflow, plain)
    raises(dg.WorkflowDefinitionError, dg.step, gen)


@claim("guide: errors while a workflow runs reach dg.run as ExecutionFailedError(error_type)")
def _run_errors() -> None:
    def yields_five(x: int) -> Any:
        yield 5

    def no_argument() -> Any:
        yield dg.Wait(seconds=1)

    def sub(x: int) -> Any:
        yield dg.Wait(seconds=1)

    def yields_generator(x: int) -> Any:
        yield sub(x)

    @dg.step
    def charge(x: int) -> int:
        return x

    def returns_command(x: int) -> Any:
        return charge(x)
        yield

    def calls_fn(x: int) -> Any:
        charge.fn(x)
        yield dg.Wait(seconds=1)

    cases: list[tuple[Any, str, str]] = [
        (yields_five, "WorkflowDefinitionError", "not a durable_gen command"),
        (no_argument, "WorkflowDefinitionError", "one positional argument"),
        (yields_generator, "WorkflowDefinitionError", "yield from sub(...)"),
        (returns_command, "SerializationError", "workflow result"),
        (calls_fn, "WorkflowDefinitionError", "charge.fn(...) was called inside a workflow"),
    ]
    for workflow, error_type, words in cases:
        exc = failed_with(dg.run, workflow, 1, skip_time=True)
        assert exc.error_type == error_type, workflow
        assert words in (exc.error_message or ""), (workflow, exc.error_message)
        with pytest.raises(dg.ExecutionFailedError):
            TestRunner().run(workflow, 1).result()

    def caught(x: int) -> Any:
        try:
            yield 5
        except dg.WorkflowDefinitionError:
            return "caught"

    assert dg.run(caught, 1) == "caught"
    assert charge.fn(3) == 3  # outside workflows, .fn is the plain function


@claim("guide: a command built and never yielded: UnyieldedCommandWarning (a RuntimeWarning)")
def _unyielded() -> None:
    assert issubclass(dg.UnyieldedCommandWarning, RuntimeWarning)

    def wf(x: int) -> Any:
        dg.Wait(seconds=5)
        yield dg.Wait(seconds=1)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dg.run(wf, 1, skip_time=True)
    found = [w for w in caught if issubclass(w.category, dg.UnyieldedCommandWarning)]
    assert found and "never yielded" in str(found[0].message)
    assert found[0].filename == __file__


# --- guide.md: values, running ----------------------------------------------------------------


@claim("guide: with no declared type, values come back as JSON, as a JSON API would give them")
def _untyped_values() -> None:
    @dg.step
    def untyped() -> Any:
        return {
            1: "a",
            "t": (1, 2),
            "d": datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
            "dec": Decimal("1.5"),
            "b": b"hi",
            "u": uuid.UUID(int=1),
            "s": {3},
        }

    @dg.step
    def nan() -> Any:
        return math.nan

    def wf(x: int) -> Any:
        return [(yield untyped()), (yield nan())]

    assert dg.run(wf, 1) == [
        {
            "1": "a",
            "t": [1, 2],
            "d": "2020-01-01T00:00:00Z",
            "dec": "1.5",
            "b": "aGk=",
            "u": "00000000-0000-0000-0000-000000000001",
            "s": [3],
        },
        None,  # "NaN and infinities are written as null"
    ]


@claim("guide: with a declared type, a value comes back as it went in")
def _typed_values() -> None:
    @dg.step
    def naive() -> datetime.datetime:
        return datetime.datetime(2020, 1, 1, 12)

    @dg.step
    def exact() -> Decimal:
        return Decimal("1.10")

    @dg.step
    def keys() -> dict[int, str]:
        return {1: "a"}

    def wf(x: int) -> Any:
        values = [(yield naive()), (yield exact()), (yield keys())]
        return [repr(v) for v in values]

    assert dg.run(wf, 1) == [
        repr(datetime.datetime(2020, 1, 1, 12)),
        repr(Decimal("1.10")),
        repr({1: "a"}),
    ]


@claim("guide: an exception raised in either serdes method is a SerializationError")
def _serdes_errors() -> None:
    class Broken:
        def serialize(self, value: Any) -> str:
            raise RuntimeError("no")

        def deserialize(self, text: str) -> Any:
            return text

    def wf(x: int) -> Any:
        try:
            yield dg.Step(lambda: 1, name="s", serdes=Broken())
        except dg.StepFailedError as exc:
            return exc.error_type

    assert dg.run(wf, 1) == "SerializationError"


@claim("guide: CheckpointMode is 'step' (default), 'eager' or 'batch'")
def _checkpoint_modes() -> None:
    assert inspect.signature(dg.run).parameters["checkpointing"].default == "step"

    def wf(x: int) -> Any:
        return (yield dg.Step(lambda: x, name="a"))

    for mode in ("step", "eager", "batch"):
        assert dg.run(wf, 1, checkpointing=mode) == 1
    raises(dg.ValidationError, dg.run, wf, 1, checkpointing="fast")


@claim("guide: start_window= on invoke, invoke_async, make_handler, lambda_handler; 0.005 s")
def _start_window() -> None:
    from durable_gen.aws import lambda_handler
    from durable_gen.runtime import invoke, invoke_async, make_handler

    for fn in (invoke, invoke_async, make_handler, lambda_handler):
        assert inspect.signature(fn).parameters["start_window"].default == 0.005, fn


@claim("guide: run(workflow, input, functions=, skip_time=, checkpointing=, serdes=, ...)")
def _run_signature() -> None:
    documented = {"functions", "skip_time", "checkpointing", "serdes", "payload_format", "plugins"}
    params = inspect.signature(dg.run).parameters
    assert list(params)[:2] == ["workflow", "input"]
    assert set(params) - {"workflow", "input"} == documented


@claim("guide: run raises ExecutionSuspendedError when it waits for what nobody can send")
def _suspended() -> None:
    def wf(x: int) -> Any:
        handle = yield dg.CreateCallback(name="c")
        return (yield handle)

    raises(dg.ExecutionSuspendedError, dg.run, wf, 1)


@claim("guide: Now/UUID/Random/Patched give datetime/uuid.UUID/random.Random/bool; skip_time")
def _deterministic_values() -> None:
    def wf(x: int) -> Any:
        before = yield dg.Now()
        u = yield dg.UUID()
        r = yield dg.Random()
        p = yield dg.Patched("change")
        yield dg.Wait(seconds=3600)
        after = yield dg.Now()
        return [
            isinstance(before, datetime.datetime),
            isinstance(u, uuid.UUID),
            isinstance(r, random.Random),
            p,
            (after - before).total_seconds() >= 3600,
        ]

    assert dg.run(wf, 1, skip_time=True) == [True, True, True, True, True]


class Declined(Exception):
    """A step's own exception, module-level so that it has a module-qualified name."""


@claim("lambda: the table of what each payload format records for a step's failure")
def _failure_types_by_format() -> None:
    class Socket:
        pass

    @dg.step(retry=dg.Retry.never())
    def own(x: int) -> int:
        raise Declined("no")

    @dg.step(retry=dg.Retry.never())
    def builtin(x: int) -> int:
        raise KeyError("k")

    @dg.step(retry=dg.Retry.never())
    def typed(x: int) -> int:
        raise dg.StepFailedError("d", error_type="Declined", error_data="D")

    @dg.step(retry=dg.Retry.never())
    def big(x: int) -> str:
        return "x" * (1024 * 1024 + 1)

    @dg.step(retry=dg.Retry.never())
    def unwritable(x: int) -> Any:
        return Socket()

    def sub(x: int) -> Any:
        yield builtin(x)

    def wf(x: int) -> Any:
        out: list[Any] = []
        for command in (own(x), builtin(x), typed(x), big(x), unwritable(x)):
            try:
                yield command
            except dg.StepFailedError as exc:
                out.append([exc.error_type, exc.error_data])
        strategy = dg.WaitStrategy(until=lambda s: False, delay=1, max_attempts=1)
        try:
            yield dg.WaitForCondition(lambda s: s, initial_state=0, wait_strategy=strategy)
        except dg.StepFailedError as exc:
            out.append(exc.error_type)
        try:
            yield dg.Child(sub, (x,))
        except dg.ChildFailedError as exc:
            out.append(exc.error_type)
        batch = yield dg.Map(builtin, [1], completion=dg.Completion.all_completed())
        error = batch.items[0].error
        out.append(error.error_type if error else None)
        return out

    aws = "aws_durable_execution_sdk_python.exceptions."
    assert dg.run(wf, 1, payload_format="json", skip_time=True) == [
        ["Declined", None],
        ["KeyError", None],
        ["Declined", "D"],
        ["PayloadTooLargeError", None],
        ["SerializationError", None],
        "WaitConditionNotMetError",
        "KeyError",
        "KeyError",
    ]
    assert dg.run(wf, 1, payload_format="aws", skip_time=True) == [
        [f"{Declined.__module__}.Declined", None],
        ["KeyError", None],
        ["Declined", "D"],
        [f"{aws}SerDesError", None],
        [f"{aws}SerDesError", None],
        f"{aws}WaitForConditionError",
        f"{aws}StepError",
        f"{aws}StepError",
    ]


@claim("lambda: undeclared datetime/date come back as themselves only in the 'aws' format")
def _values_by_format() -> None:
    @dg.step
    def day() -> Any:
        return datetime.date(2020, 1, 2)

    def wf(x: int) -> Any:
        return type((yield day())).__name__

    assert TestRunner(payload_format="json").run(wf, 1).result() == "str"
    assert TestRunner(payload_format="aws").run(wf, 1).result() == "date"


@claim("lambda: the handler's errors table (bad events and corrupt state end as FAILED)")
def _handler_errors() -> None:
    from durable_gen.aws import lambda_handler
    from durable_gen.local import LocalService

    def wf(x: int) -> Any:
        return (yield dg.Step(lambda: x, name="a"))

    handler = lambda_handler(wf, service=LocalService())
    arn = "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST/durable-execution/n/1"

    def event(input_payload: str, *more: dict[str, Any]) -> dict[str, Any]:
        execution = {
            "Id": "e",
            "Type": "EXECUTION",
            "Status": "STARTED",
            "ExecutionDetails": {"InputPayload": input_payload},
        }
        return {
            "DurableExecutionArn": arn,
            "CheckpointToken": "t",
            "InitialExecutionState": {"Operations": [execution, *more]},
        }

    def error_type(output: Any) -> str:
        assert output["Status"] == "FAILED", output
        return str(output["Error"]["ErrorType"])

    assert error_type(handler({"foo": 1}, None)) == "InvalidInputError"
    assert error_type(handler({**event("1"), "CheckpointToken": ""}, None)) == "InvalidInputError"
    assert error_type(handler(event("{not json"), None)) == "SerializationError"
    assert error_type(handler(event('"\\ud800"'), None)) == "SerializationError"
    bare = {"Id": "s", "Type": "STEP", "Status": "SUCCEEDED"}
    assert error_type(handler(event("1", bare), None)) == "InvalidInputError"
    bogus = {"Id": "s", "Type": "BOGUS", "Status": "SUCCEEDED"}
    assert error_type(handler(event("1", bogus), None)) == "InvalidInputError"


# --- guide.md / api.md: the error tree --------------------------------------------------------


@claim("guide: all errors derive from DurableGenError, sorted by who must act")
def _error_tree() -> None:
    for name in dg.__all__:
        obj = getattr(dg, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and not issubclass(obj, Warning):
            assert issubclass(obj, dg.DurableGenError), name
    assert not issubclass(dg.StoreError, dg.InvalidInputError)
    assert issubclass(dg.WaitConditionNotMetError, dg.DurableGenError)
    for exc in (dg.CallbackFailedError, dg.CallbackTimeoutError):
        assert issubclass(exc, dg.CallbackError)
    operation = (
        "StepFailedError StepInterruptedError StepTimeoutError CallbackError CallbackFailedError "
        "CallbackTimeoutError InvokeFailedError ChildFailedError BatchFailedError"
    )
    for name in operation.split():
        assert issubclass(getattr(dg, name), dg.OperationError), name
    service = (
        "InvalidCheckpointTokenError InvalidCheckpointError ExecutionNotFoundError "
        "UnknownCallbackError FunctionNotRegisteredError"
    )
    for name in service.split():
        assert issubclass(getattr(dg, name), dg.ServiceError), name
    from durable_gen.aws import ServiceUnavailableError
    from durable_gen.local import LeaseLostError, StoreUnavailableError

    for extra in (LeaseLostError, StoreUnavailableError, ServiceUnavailableError):
        assert issubclass(extra, dg.DurableGenError), extra


@pytest.mark.parametrize("key", sorted(CLAIMS))
def test_claim(key: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)
    CLAIMS[key]()


def test_claims_quote_their_pages() -> None:
    """Each claim names a page that exists."""
    for key in CLAIMS:
        page = re.match(r"(\w+):", key)
        assert page and (ROOT / "docs" / f"{page[1]}.md").exists(), key


def test_docs_name_only_public_top_level_names() -> None:
    """``dg.X`` / ``durable_gen.X`` in the docs is a public name (not one kept for old imports)."""
    subpackages = {"local", "aws", "testing", "runtime", "plugins", "otel", "telemetry", "cli"}
    loggers = {"steps", "workflow"}  # logger names: durable_gen.steps, durable_gen.workflow
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    wrong = []
    for page in pages:
        text = page.read_text()
        for m in re.finditer(r"\b(?:durable_gen|dg)\.(\w+)", text):
            name = m[1]
            if name not in dg.__all__ and name not in subpackages | loggers:
                wrong.append(f"{page.name}:{text.count(chr(10), 0, m.start()) + 1}: {m[0]}")
    assert not wrong, wrong


class _Color(Enum):
    RED = "red"


class _Point(NamedTuple):
    x: int
    y: str


class _Row(TypedDict):
    a: int


class _Struct(msgspec.Struct):
    z: int


@dataclass
class _Stamp:
    when: datetime.datetime
    tags: frozenset[str]


_PLUS_0530 = datetime.timezone(timedelta(hours=5, minutes=30))

#: guide.md, "Values and types": "With a declared type, a value comes back as it went in."
TYPED_VALUES: list[tuple[Any, Any]] = [
    (
        datetime.datetime,
        datetime.datetime(2020, 1, 1, 12, tzinfo=datetime.timezone(timedelta(hours=5, minutes=30))),
    ),
    (datetime.datetime, datetime.datetime(2020, 1, 1, 12)),  # "naive stays naive"
    (datetime.date, datetime.date(2020, 2, 29)),
    (datetime.time, datetime.time(13, 14, 15, 123456)),
    (timedelta, timedelta(days=2, seconds=5, microseconds=7)),
    (Decimal, Decimal("1.10")),
    (uuid.UUID, uuid.UUID(int=5)),
    (_Color, _Color.RED),
    (set[int], {1, 2}),
    (frozenset[str], frozenset({"a"})),
    (tuple[int, str], (1, "a")),
    (tuple[int, ...], (1, 2, 3)),
    (bytes, b"\x00\xff"),
    (int | None, None),
    (Literal["yes", "no"], "no"),
    (_Point, _Point(1, "a")),
    (_Row, {"a": 1}),
    (_Struct, _Struct(z=3)),
    (_Stamp, _Stamp(when=datetime.datetime(2020, 1, 1), tags=frozenset({"x"}))),
    (dict[int, list[Decimal]], {1: [Decimal("0.1")]}),
]


@pytest.mark.parametrize(("declared", "value"), TYPED_VALUES, ids=repr)
def test_a_declared_type_round_trips(declared: Any, value: Any) -> None:
    def produce() -> Any:
        return value

    produce.__annotations__ = {"return": declared}
    seen: list[Any] = []

    def wf(x: int) -> Any:
        seen.append((yield dg.Step(produce, name="value")))
        yield dg.Wait(seconds=1)  # a second invocation: the value is replayed from its record
        seen.append((yield dg.Step(produce, name="value")))

    dg.run(wf, 1, skip_time=True)
    for got in seen:
        assert got == value and type(got) is type(value), (declared, got)
        if isinstance(value, datetime.datetime):
            assert got.tzinfo == value.tzinfo
