"""A runtime that runs steps truly concurrently in a thread pool, from docs/embedding.md alone.

The Map items and Parallel branches it is handed run side by side, and finish out of order
(each even item waits until the odd one after it has finished). Whatever the order, and in
every checkpointing mode, whether the store records a ``Flush`` at once or one update at a
time, the execution records the same operations as on the embedded engine and returns the
same result.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from tests.unit.embedding_runtimes import ThreadRuntime, engine_records, records

_gates: dict[int, threading.Event] = {}
_lock = threading.Lock()
_flaky_runs: Counter[int] = Counter()


def _gate(i: int) -> threading.Event:
    with _lock:
        return _gates.setdefault(i, threading.Event())


@dg.step
def ordered(i: int) -> int:
    """An even item finishes only after the odd item after it: reports come out of order."""
    if i % 2 == 0:
        assert _gate(i + 1).wait(10), f"item {i + 1} never ran beside item {i}"
    _gate(i).set()
    return i * 10


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=2, jitter="none"))
def flaky(i: int) -> int:
    with _lock:
        _flaky_runs[i] += 1
        runs = _flaky_runs[i]
    if runs < 2:
        raise RuntimeError(f"flaky {i}, run {runs}")
    return -i


@dg.step(retry=dg.Retry.never())
def boom(x: int) -> int:
    raise ValueError(f"boom {x}")


def notify(callback_id: str) -> None:
    assert callback_id


def branch_a() -> Any:
    yield dg.Wait(seconds=5, name="wa")
    return (yield ordered(1))


def branch_b() -> Any:
    return (yield ordered(0))


def sub(x: int) -> Any:
    return (yield ordered(x))


@dg.workflow
def everything(n: int) -> Any:
    mapped = yield dg.Map(ordered, list(range(n)), max_concurrency=2, name="m")
    both = yield dg.Parallel([branch_a, branch_b], name="p")
    child = yield dg.Child(sub, (7,), name="c")
    try:
        yield boom(3)
    except dg.StepFailedError as exc:
        error = exc.error_type
    answer = yield dg.WaitForCallback(notify, name="approve", timeout=100)
    invoked = yield dg.Invoke("double", 21, name="inv")
    retried = yield dg.Map(flaky, [5, 6, 7], max_concurrency=3, name="fm")
    return {
        "m": mapped.results(),
        "p": both.results(),
        "c": child,
        "err": error,
        "cb": answer,
        "inv": invoked,
        "fm": retried.results(),
    }


EXPECTED = {
    "m": [0, 10, 20, 30, 40, 50],
    "p": [10, 0],
    "c": 70,
    "err": "ValueError",
    "cb": "ok",
    "inv": 42,
    "fm": [-5, -6, -7],
}
FUNCTIONS = {"double": lambda x: 2 * x}


def _reset() -> None:
    _gates.clear()
    _flaky_runs.clear()


@pytest.fixture(scope="module")
def on_engine() -> list[tuple[Any, ...]]:
    _reset()
    result, recorded = engine_records(everything, 6, functions=FUNCTIONS)
    assert result == EXPECTED
    return recorded


@pytest.mark.parametrize("per_update", [False, True], ids=["per-flush", "per-update"])
@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_concurrent_steps_reported_out_of_order_record_what_the_engine_records(
    mode: rt.CheckpointMode, per_update: bool, on_engine: list[tuple[Any, ...]]
) -> None:
    _reset()
    runtime = ThreadRuntime(
        everything, "6", checkpointing=mode, functions=FUNCTIONS, per_update=per_update
    )
    try:
        outcome = runtime.run(answer=lambda op: '"ok"')
    finally:
        runtime.close()
    assert isinstance(outcome, rt.Succeeded), outcome
    assert json.loads(outcome.result) == EXPECTED
    # item 1 finished before item 0, item 3 before item 2, ...
    items = [args[0] for name, args in runtime.finished if name == "ordered"][:6]
    assert all(items.index(i + 1) < items.index(i) for i in (0, 2, 4)), items
    assert records(runtime.store.values()) == on_engine
    # every attempt ran once: the flaky items twice, everything else once
    assert len(runtime.ran) == len(set(runtime.ran))


def test_batch_mode_flushes_only_when_it_must() -> None:
    """In "batch" mode a Flush goes out only when nothing else can happen (the invocation
    ends, or would suspend), or to start a callback (its reply carries the id): never while
    steps run."""
    _reset()
    runtime = ThreadRuntime(everything, "6", checkpointing="batch", functions=FUNCTIONS)
    try:
        outcome = runtime.run(answer=lambda op: '"ok"')
    finally:
        runtime.close()
    assert isinstance(outcome, rt.Succeeded)
    for flush, running in zip(runtime.flushes, runtime.running_at_flush, strict=True):
        if running:
            assert (flush[-1].type, flush[-1].action) == ("CALLBACK", "START"), flush
    step_mode = ThreadRuntime(everything, "6", checkpointing="step", functions=FUNCTIONS)
    _reset()
    try:
        step_mode.run(answer=lambda op: '"ok"')
    finally:
        step_mode.close()
    assert len(step_mode.flushes) > len(runtime.flushes)
    assert records(step_mode.store.values()) == records(runtime.store.values())


@dg.step
def slow(i: int) -> int:
    time.sleep(0.03)
    return i


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def slow_failure(i: int) -> int:
    time.sleep(0.03)
    raise RuntimeError(f"slow failure {i}")


def slow_steps(_: object) -> Any:
    first = yield slow(1)
    mapped = yield dg.Map(slow, [1, 2, 3], max_concurrency=2, name="m")
    try:
        failed = yield slow_failure(2)
    except dg.StepFailedError as exc:
        failed = exc.error_type
    yield dg.Wait(seconds=1, name="w")
    return [first, mapped.results(), failed]


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_starts_announced_while_steps_run_record_what_the_engine_records(
    mode: rt.CheckpointMode,
) -> None:
    """A host calls started(task) for a step still running after 2 ms, from the thread
    that talks to the store: in "step" mode it checkpoints the START at once (true start
    times); the other modes return None. Either way the records are the engine's."""
    runtime = ThreadRuntime(slow_steps, "null", checkpointing=mode, announce=True)
    try:
        outcome = runtime.run()
    finally:
        runtime.close()
    assert outcome == rt.Succeeded(result='[1,[1,2,3],"RuntimeError"]')
    assert (runtime.started_flushes > 0) == (mode == "step")
    _, on_engine = engine_records(slow_steps, None)
    assert records(runtime.store.values()) == on_engine
