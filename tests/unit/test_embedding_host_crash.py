"""A runtime that dies between running a step and recording it, from docs/embedding.md alone.

The host of ``embedding_runtimes.ThreadRuntime`` abandons an invocation after the k-th step
attempt finished in its thread and before reporting it (a ``BaseException``, as a dying
process), for every k, in every checkpointing mode; the next invocation replays the store.
What the docs promise: the same result; a step whose SUCCEED was persisted never runs again;
an at-least-once step whose outcome was lost runs again as the same attempt (the records are
those of an uninterrupted run); an at-most-once attempt never runs twice: it is recorded as
interrupted and the retry policy decides.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from tests.unit.embedding_runtimes import ThreadRuntime, records

_runs: Counter[tuple[str, int]] = Counter()
_lock = threading.Lock()


def _ran(name: str, i: int) -> None:
    with _lock:
        _runs[name, i] += 1


@dg.step
def plain(i: int) -> int:
    _ran("plain", i)
    return i + 100


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def once(i: int) -> int:
    _ran("once", i)
    return i


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def always_fails(i: int) -> int:
    _ran("fails", i)
    raise RuntimeError(f"no {i}")


def branch() -> Any:
    return (yield plain(9))


@dg.workflow
def workflow(_: object) -> Any:
    first = yield plain(1)
    mapped = yield dg.Map(plain, [2, 3, 4], max_concurrency=2, name="m")
    par = yield dg.Parallel([branch, lambda: 8], name="p")
    exactly = yield once(5)
    try:
        yield always_fails(6)
    except dg.StepFailedError as exc:
        failed = exc.error_type
    yield dg.Wait(seconds=2, name="w")
    last = yield plain(7)
    return [first, mapped.results(), par.results(), exactly, failed, last]


RESULT = '[101,[102,103,104],[109,8],5,"RuntimeError",107]'


def _run(mode: rt.CheckpointMode, crash_after: int | None) -> ThreadRuntime:
    _runs.clear()
    runtime = ThreadRuntime(workflow, "null", checkpointing=mode)
    runtime.crash_after_run = crash_after
    try:
        outcome = runtime.run()
    finally:
        runtime.close()
    assert outcome == rt.Succeeded(result=RESULT), outcome
    assert runtime.violations == []
    return runtime


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_a_crash_between_running_a_step_and_recording_it_loses_nothing(
    mode: rt.CheckpointMode,
) -> None:
    reference = _run(mode, None)
    expected = records(reference.store.values())
    reference_runs = Counter(_runs)
    once_id = next(op.id for op in reference.store.values() if op.name == "once")
    tasks = len(reference.reported)
    assert tasks >= 9
    for k in range(1, tasks + 1):
        crashed = _run(mode, k)
        assert crashed.invocations > reference.invocations, k
        got = records(crashed.store.values())
        extra = {key: n - reference_runs[key] for key, n in _runs.items()}
        assert all(n in (0, 1) for n in extra.values()), (k, extra)
        # an at-most-once attempt never runs twice: lost, it is recorded as interrupted
        once_runs = [attempt for op_id, attempt in crashed.ran if op_id == once_id]
        assert len(once_runs) == len(set(once_runs)), (k, once_runs)
        if extra.get(("once", 5)):
            (once_op,) = [r for r in got if r[0] == once_id]
            assert once_op[5:8] == ("SUCCEEDED", 2, "5"), once_op
            got = [r for r in got if r[0] != once_id]
            assert got == [r for r in expected if r[0] != once_id], k
        else:
            assert got == expected, k


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_a_store_that_dies_between_two_updates_of_a_flush_loses_nothing(
    mode: rt.CheckpointMode,
) -> None:
    """A store that writes each update of a Flush on its own (no transaction) and dies
    after any prefix of it: the next invocation replays that prefix to the same result."""
    _runs.clear()
    reference = ThreadRuntime(workflow, "null", checkpointing=mode, per_update=True)
    try:
        assert reference.run() == rt.Succeeded(result=RESULT)
    finally:
        reference.close()
    total = sum(len(flush) for flush in reference.flushes)
    for k in range(1, total + 1):
        _runs.clear()
        runtime = ThreadRuntime(workflow, "null", checkpointing=mode, per_update=True)
        runtime.crash_at_update = k
        try:
            outcome = runtime.run()
        finally:
            runtime.close()
        assert outcome == rt.Succeeded(result=RESULT), (k, outcome)
        assert runtime.violations == [], k
        assert runtime.invocations > reference.invocations, k
