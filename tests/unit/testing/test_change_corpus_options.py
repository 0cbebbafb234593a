"""A third corpus of code changes made between deployments, judged by every route as
``test_change_corpus.py`` judges its own, plus the command line's route (``durable-gen
history ID --json`` from the SQLite database, replayed with ``replay_folder``), and with the
results compared: a change every route accepts must give the same result by every route.

Its emphasis: step options (retry policy, timeout, semantics, serdes), names only (added,
removed, changed in case), wait durations, Map items against Map functions, Map and Parallel
options, Invoke targets and payloads, callback timeouts, WaitForCondition strategies, `Patched`
and `Deprecated` in the wrong places, changes after the last recorded operation, changes inside
a completed child, exceptions caught differently, the returned value only, and steps made
``async`` or not.

Verdicts: ``nondet`` (caught as non-determinism), ``ok`` (accepted), ``failed`` (a recorded
payload no longer reads: ``SerializationError``), ``raised`` (the new code raises an error of
its own on what was recorded: the engines fail the execution with it, the replayers report
``failed``).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import cli
from durable_gen import runtime as rt
from durable_gen.local import LocalService, SqliteStore, VirtualClock, register_function
from durable_gen.testing import (
    DurableRun,
    TestRunner,
    assert_deterministic,
    load_history,
    replay,
    replay_folder,
)
from durable_gen.testing.pytest_plugin import Replayer

Gen = Generator[Any, Any, Any]
SAME: Any = object()
N = "nondet"
OK = "ok"
RAISED = "raised"
FAILED = "failed"

# --- steps ------------------------------------------------------------------------------------


@dg.step
def fetch(x: int) -> int:
    return x + 10


@dg.step
def store(x: int) -> int:
    return x * 100


@dg.step(name="fetch", retry=dg.Retry(max_attempts=7, initial_delay=3, jitter="none"))
def fetch_retried(x: int) -> int:
    return x + 10


@dg.step(name="fetch", retry=dg.Retry.never())
def fetch_never_retried(x: int) -> int:
    return x + 10


@dg.step(name="fetch", timeout=20)
def fetch_timed(x: int) -> int:
    return x + 10


@dg.step(name="fetch", semantics=dg.AT_MOST_ONCE)
def fetch_at_most_once(x: int) -> int:
    return x + 10


@dg.step(name="fetch")
async def fetch_async(x: int) -> int:
    return x + 10


@dg.step(name="Fetch")
def fetch_capitalized(x: int) -> int:
    return x + 10


@dg.step(name="fetch ")
def fetch_trailing_space(x: int) -> int:
    return x + 10


@dg.step
async def fetch_a(x: int) -> int:
    return x + 10


@dg.step(name="fetch_a")
def fetch_a_sync(x: int) -> int:
    return x + 10


class Tagged:
    """A serdes that writes ``tagged:<json>``: not JSON, so the default codec cannot read it."""

    def serialize(self, value: Any) -> str:
        return "tagged:" + json.dumps(value)

    def deserialize(self, data: str) -> Any:
        if not data.startswith("tagged:"):
            raise ValueError(f"not a tagged payload: {data[:20]!r}")
        return json.loads(data[len("tagged:") :])


class Lenient:
    """A serdes that reads both its own ``tagged:`` payloads and plain JSON."""

    def serialize(self, value: Any) -> str:
        return "tagged:" + json.dumps(value)

    def deserialize(self, data: str) -> Any:
        if data.startswith("tagged:"):
            return json.loads(data[len("tagged:") :])
        return json.loads(data)


@dg.step(name="fetch", serdes=Tagged())
def fetch_tagged(x: int) -> int:
    return x + 10


@dg.step(name="fetch", serdes=Lenient())
def fetch_lenient(x: int) -> int:
    return x + 10


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=60, jitter="none"))
def flaky(x: int) -> int:
    raise TimeoutError(f"down for {x}")


@dg.step(name="flaky", retry=dg.Retry(max_attempts=3, initial_delay=60, jitter="none"))
async def flaky_async(x: int) -> int:
    raise TimeoutError(f"down for {x}")


@dg.step(
    name="flaky",
    retry=dg.Retry(max_attempts=3, initial_delay=60, jitter="none"),
    semantics=dg.AT_MOST_ONCE,
)
def flaky_at_most_once(x: int) -> int:
    raise TimeoutError(f"down for {x}")


@dg.step(name="flaky", retry=dg.Retry(max_attempts=5, initial_delay=5, jitter="none"))
def flaky_faster(x: int) -> int:
    raise TimeoutError(f"down for {x}")


@dg.step(retry=dg.Retry.never())
def refuses(x: int) -> int:
    raise PermissionError(f"no access to {x}")


@dataclass(frozen=True)
class Change:
    name: str
    v1: Callable[..., Gen]
    v2: Callable[..., Gen]
    suspended: str  # verdict for an execution suspended in v1, resumed on v2
    completed: str | None  # verdict for a completed v1 execution replayed on v2
    input: Any = 1
    result: Any = ...  # the result every route must give when the verdict is ok (... : any)
    completed_result: Any = SAME  # the same for a completed execution (SAME: ``result``)


# --- building blocks --------------------------------------------------------------------------


def gate(name: str = "gate") -> Gen:
    handle = yield dg.CreateCallback(name=name)
    return (yield handle)


def _stepped(step: Any, gated: bool = True, wait: int | None = None) -> Any:
    """One step, then the gate (or a wait) the execution suspends at."""

    def workflow(x: int) -> Gen:
        a = yield step(x)
        if wait is not None:
            yield dg.Wait(seconds=wait, name="cool-off")
        elif gated:
            yield from gate()
        return a

    return workflow


def _two_steps(first: Any, second: Any) -> Any:
    def workflow(x: int) -> Gen:
        a = yield first(x)
        yield from gate()
        return (yield second(a))

    return workflow


def _retrying(step: Any, after: Any = None) -> Any:
    """Version 1 waits out ``step``'s first retry delay; ``after`` runs once it gave up."""

    def workflow(x: int) -> Gen:
        try:
            value = yield step(x)
        except dg.StepFailedError as exc:
            value = exc.error_type
        if after is not None:
            value = yield after(x)
        return value

    return workflow


@dg.step(name="refuses", retry=dg.Retry(max_attempts=3, initial_delay=5, jitter="none"))
def refuses_retried(x: int) -> int:
    raise PermissionError(f"no access to {x}")


def _caught(step: Any, catch: Any = dg.StepFailedError) -> Any:
    """``step`` fails; the failure is caught (by ``catch``) and the execution waits at the gate."""

    def workflow(x: int) -> Gen:
        try:
            note = yield step(x)
        except catch as exc:
            note = type(exc).__name__
        yield from gate()
        return note

    return workflow


def _uncaught(step: Any) -> Any:
    def workflow(x: int) -> Gen:
        note = yield step(x)
        yield from gate()
        return note

    return workflow


def _caught_then(step: Any, after: Any) -> Any:
    def workflow(x: int) -> Gen:
        try:
            note = yield step(x)
        except dg.StepFailedError:
            note = yield after(x)
        yield from gate()
        return note

    return workflow


class Refused(Exception):
    pass


def _caught_reraised(step: Any) -> Any:
    """The failure is caught and raised again as an error of the workflow's own."""

    def workflow(x: int) -> Gen:
        try:
            note = yield step(x)
        except dg.StepFailedError as exc:
            raise Refused(exc.error_type) from exc
        yield from gate()
        return note

    return workflow


# --- A. step options ---------------------------------------------------------------------------


def _store_tagged(a: int) -> dg.Command[int]:
    return dg.Step(_store_fn, (a,), name="store", serdes=Tagged())


def _store_fn(a: int) -> int:
    return a * 100


def _named_store(a: int) -> dg.Command[int]:
    return dg.Step(_store_fn, (a,), name="store")


STEP_OPTIONS = [
    Change("step: retry widened", _stepped(fetch), _stepped(fetch_retried), OK, OK, result=11),
    Change(
        "step: retry made never", _stepped(fetch), _stepped(fetch_never_retried), OK, OK, result=11
    ),
    Change("step: timeout added", _stepped(fetch), _stepped(fetch_timed), OK, OK, result=11),
    Change(
        "step: made at-most-once", _stepped(fetch), _stepped(fetch_at_most_once), OK, OK, result=11
    ),
    Change(
        "step: made at-least-once", _stepped(fetch_at_most_once), _stepped(fetch), OK, OK, result=11
    ),
    Change(
        "step: made async, same name", _stepped(fetch), _stepped(fetch_async), OK, OK, result=11
    ),
    Change(
        "step: async made sync, same name",
        _stepped(fetch_a),
        _stepped(fetch_a_sync),
        OK,
        OK,
        result=11,
    ),
    Change(
        "step: made async, waiting on a wait",
        _stepped(fetch, wait=100),
        _stepped(fetch_async, wait=100),
        OK,
        OK,
        result=11,
    ),
    Change(
        "step: serdes added that reads JSON too",
        _stepped(fetch),
        _stepped(fetch_lenient),
        OK,
        OK,
        result=11,
    ),
    Change(
        "step: serdes added that cannot read JSON",
        _stepped(fetch),
        _stepped(fetch_tagged),
        FAILED,
        FAILED,
    ),
    Change(
        "step: serdes removed, its payload not JSON",
        _stepped(fetch_tagged),
        _stepped(fetch),
        FAILED,
        FAILED,
    ),
    Change(
        "step: serdes made one that reads both",
        _stepped(fetch_tagged),
        _stepped(fetch_lenient),
        OK,
        OK,
        result=11,
    ),
    Change(
        "step after the gate: serdes set",
        _two_steps(fetch, store),
        _two_steps(fetch, _store_tagged),
        OK,
        FAILED,
        result=1100,
    ),
    Change(
        "step after the gate: @step made dg.Step(name=)",
        _two_steps(fetch, store),
        _two_steps(fetch, _named_store),
        OK,
        OK,
        result=1100,
    ),
    Change(
        "retry pending: made async",
        _retrying(flaky),
        _retrying(flaky_async),
        OK,
        OK,
        result="TimeoutError",
    ),
    Change(
        "retry pending: made at-most-once",
        _retrying(flaky),
        _retrying(flaky_at_most_once),
        OK,
        OK,
        result="TimeoutError",
    ),
    Change(
        "retry pending: shorter delay, more attempts",
        _retrying(flaky),
        _retrying(flaky_faster),
        OK,
        OK,
        result="TimeoutError",
    ),
    Change(
        "retry pending: a step added after it",
        _retrying(flaky),
        _retrying(flaky, after=store),
        OK,
        OK,
        result=100,
    ),
    Change(
        "failed step: retry policy added afterwards",
        _caught(refuses),
        _caught(refuses_retried),
        OK,
        OK,
        result="StepFailedError",
    ),
]

# --- B. names only -----------------------------------------------------------------------------


def _waiting(name: str | None, seconds: int = 100) -> Any:
    def workflow(x: int) -> Gen:
        a = yield fetch(x)
        yield dg.Wait(seconds=seconds, name=name)
        return (yield store(a))

    return workflow


def _now_named(name: str | None) -> Any:
    def workflow(x: int) -> Gen:
        yield dg.Now(name=name)
        yield from gate()
        return x

    return workflow


def _mapped(name: str | None = "m", fn: Any = fetch, items: Any = (1, 2), **options: Any) -> Any:
    def workflow(_: int) -> Gen:
        r = yield dg.Map(fn, list(items), name=name, **options)
        yield from gate()
        return r.all_results()

    return workflow


def _childed(name: str | None, body: Any = None, virtual: bool = False) -> Any:
    def workflow(x: int) -> Gen:
        r = yield dg.Child(body or _child_body, (x,), name=name, virtual=virtual)
        yield from gate()
        return r

    return workflow


def _child_body(x: int) -> Gen:
    a = yield fetch(x)
    return (yield store(a))


def _child_body_other(x: int) -> Gen:
    a = yield store(x)
    return (yield fetch(a))


def _polled(name: str | None, strategy: Any = None, check: Any = None) -> Any:
    def workflow(_: int) -> Gen:
        state = yield dg.WaitForCondition(
            check or bump,
            {"n": 0},
            wait_strategy=strategy or dg.WaitStrategy(until=lambda s: s["n"] >= 3, delay=10),
            name=name,
        )
        yield from gate()
        return state

    return workflow


@dg.step
def bump(state: dict[str, int]) -> dict[str, int]:
    return {"n": state["n"] + 1}


NAMES = [
    Change("wait: name added", _waiting(None), _waiting("cool-off"), N, N),
    Change("wait: name removed", _waiting("cool-off"), _waiting(None), N, N),
    Change("step: name changed in case only", _stepped(fetch), _stepped(fetch_capitalized), N, N),
    Change(
        "step: name given a trailing space", _stepped(fetch), _stepped(fetch_trailing_space), N, N
    ),
    Change("Now: named", _now_named(None), _now_named("clock"), N, N),
    Change("Map: name added", _mapped(None), _mapped("m"), N, N),
    Change("Map: name removed", _mapped("m"), _mapped(None), N, N),
    Change("Child: name added to an unnamed child", _childed(None), _childed("c"), N, N),
    Change("Child: name removed", _childed("c"), _childed(None), N, N),
    Change(
        "virtual Child: name added",
        _childed(None, virtual=True),
        _childed("c", virtual=True),
        OK,
        OK,
        result=1100,
    ),
    Change("WaitForCondition: name added", _polled(None), _polled("poll"), N, N),
    Change("WaitForCondition: name removed", _polled("poll"), _polled(None), N, N),
]

# --- C. waits ----------------------------------------------------------------------------------


def _item_waits(seconds: int) -> Any:
    def item(x: int, i: int) -> Gen:
        yield dg.Wait(seconds=seconds, name="item-wait")
        return (yield fetch(x))

    def workflow(_: int) -> Gen:
        r = yield dg.Map(item, [1, 2], name="m")
        return r.all_results()

    return workflow


def _child_waits(seconds: int) -> Any:
    def body(x: int) -> Gen:
        yield dg.Wait(seconds=seconds, name="inner-wait")
        return (yield fetch(x))

    def workflow(x: int) -> Gen:
        return (yield dg.Child(body, (x,), name="c"))

    return workflow


def _wait_in_loop(seconds: list[int]) -> Any:
    def workflow(x: int) -> Gen:
        for i, s in enumerate(seconds):
            yield dg.Wait(seconds=s, name=f"w{i}")
        return (yield fetch(x))

    return workflow


WAITS = [
    Change(
        "Map item: wait lengthened, waiting in it",
        _item_waits(30),
        _item_waits(3000),
        OK,
        OK,
        result=[11, 12],
    ),
    Change(
        "Map item: wait shortened, waiting in it",
        _item_waits(3000),
        _item_waits(1),
        OK,
        OK,
        result=[11, 12],
    ),
    Change(
        "Child: wait lengthened, waiting in it",
        _child_waits(30),
        _child_waits(3000),
        OK,
        OK,
        result=11,
    ),
    Change(
        "wait: lengthened, waiting on it",
        _waiting("cool-off"),
        _waiting("cool-off", 9000),
        OK,
        OK,
        result=1100,
    ),
    Change(
        "waits: a later one's duration changed",
        _wait_in_loop([10, 10]),
        _wait_in_loop([10, 900]),
        OK,
        OK,
        result=11,
    ),
    Change(
        "waits: one more in a loop", _wait_in_loop([10]), _wait_in_loop([10, 10]), OK, N, result=11
    ),
]

# --- D. Map: the function against the items; E. Map options -------------------------------------


def _item_gated(x: int, i: int) -> Gen:
    a = yield fetch(x)
    yield from gate(f"item-{i}")
    return a


def _item_gated_stored(x: int, i: int) -> Gen:
    a = yield fetch(x)
    yield from gate(f"item-{i}")
    return (yield store(a))


def _item_gated_other(x: int, i: int) -> Gen:
    a = yield store(x)
    yield from gate(f"item-{i}")
    return a


def _item_quick(x: int, i: int) -> Gen:
    return (yield fetch(x))


def _item_fails_first(x: int, i: int) -> Gen:
    if i == 0:
        yield refuses(x)
    a = yield fetch(x)
    yield from gate(f"item-{i}")
    return a


def _map_gated_items(fn: Any = _item_gated, items: Any = (1, 2), **options: Any) -> Any:
    """Version 1 waits inside the items (each at its own gate)."""

    def workflow(_: int) -> Gen:
        r = yield dg.Map(fn, list(items), name="m", **options)
        return r.all_results()

    return workflow


def _map_then_gate(fn: Any = _item_quick, items: Any = (1, 2, 3), **options: Any) -> Any:
    """Version 1 completes the Map, then waits at the gate."""

    def workflow(_: int) -> Gen:
        try:
            r = yield dg.Map(fn, list(items), name="m", **options)
            summary = [r.success_count, r.failure_count, r.all_results()]
        except dg.BatchFailedError as exc:
            summary = ["batch failed", type(exc).__name__]
        yield from gate()
        return summary

    return workflow


def _double_it(x: int) -> int:
    return 2 * x


def _triple_it(x: int) -> int:
    return 3 * x


MAPS = [
    Change(
        "Map: items' values changed, waiting inside",
        _map_gated_items(),
        _map_gated_items(items=(5, 6)),
        OK,
        OK,
        result=[11, 12],
    ),
    Change(
        "Map: item function's last step added, waiting inside",
        _map_gated_items(),
        _map_gated_items(_item_gated_stored),
        OK,
        OK,
        result=[1100, 1200],
        completed_result=[11, 12],
    ),
    Change(
        "Map: item function's first step replaced, waiting inside",
        _map_gated_items(),
        _map_gated_items(_item_gated_other),
        N,
        OK,
        result=[11, 12],
    ),
    Change(
        "Map: item function's body changed after it completed",
        _map_then_gate(),
        _map_then_gate(_item_gated_other),
        OK,
        OK,
        result=[3, 0, [11, 12, 13]],
    ),
    Change(
        "Map: items' values changed after it completed",
        _map_then_gate(),
        _map_then_gate(items=(7, 8, 9)),
        OK,
        OK,
        result=[3, 0, [11, 12, 13]],
    ),
    Change(
        "Map: items reversed and function changed together",
        _mapped(fn=_double_it, items=(1, 2)),
        _mapped(fn=_triple_it, items=(2, 1)),
        N,
        N,
    ),
    Change(
        "Map: max_concurrency set, waiting inside",
        _map_gated_items(),
        _map_gated_items(max_concurrency=1),
        OK,
        OK,
        result=[11, 12],
    ),
    Change(
        "Map: max_concurrency removed after it completed",
        _map_then_gate(max_concurrency=1),
        _map_then_gate(),
        OK,
        OK,
        result=[3, 0, [11, 12, 13]],
    ),
    Change(
        "Map: tolerance lowered after it completed with a failure",
        _map_then_gate(_item_fails_first, completion=dg.Completion(tolerated_failure_count=1)),
        _map_then_gate(_item_fails_first),
        OK,
        OK,
    ),
    Change(
        "Map: min_successful raised after it completed",
        _map_then_gate(completion=dg.Completion(min_successful=1)),
        _map_then_gate(completion=dg.Completion(min_successful=3)),
        OK,
        OK,
    ),
    Change(
        "Map: item_serdes set after it completed",
        _map_then_gate(),
        _map_then_gate(item_serdes=Lenient()),
        OK,
        OK,
        result=[3, 0, [11, 12, 13]],
    ),
    # The batch serdes' deserialize must rebuild a BatchResult (docs/guide.md): this one gives
    # a dict, which the workflow then misuses, by every route alike.
    Change(
        "Map: serdes of the batch set after it completed",
        _map_then_gate(),
        _map_then_gate(serdes=Lenient()),
        RAISED,
        RAISED,
    ),
    Change(
        "Map: item_serdes that cannot read JSON set after it completed",
        _map_then_gate(),
        _map_then_gate(item_serdes=Tagged()),
        OK,
        OK,
        result=[3, 0, [11, 12, 13]],
    ),
]

# --- F. Parallel ----------------------------------------------------------------------------------


def _branch(step: Any, arg: int) -> Any:
    def branch() -> Gen:
        return (yield step(arg))

    branch.__name__ = f"branch_{getattr(step, '__name__', 'x')}_{arg}"
    return branch


def _gated_branch(tag: str) -> Any:
    def branch() -> Gen:
        a = yield fetch(len(tag))
        yield from gate(f"gate-{tag}")
        return a

    return branch


def _par(*branches: Any, gated: bool = True, **options: Any) -> Any:
    """Branches given as (name or None, function)."""

    def workflow(_: int) -> Gen:
        given = [fn if name is None else dg.Branch(fn, name=name) for name, fn in branches]
        r = yield dg.Parallel(given, name="p", **options)
        if gated:
            yield from gate()
        return r.all_results()

    return workflow


A = _branch(fetch, 1)
B = _branch(store, 2)
GA = _gated_branch("a")
GB = _gated_branch("bb")

PARALLELS = [
    Change(
        "Parallel: named branches reordered, completed",
        _par(("a", A), ("b", B)),
        _par(("b", B), ("a", A)),
        N,
        N,
    ),
    Change(
        "Parallel: named branches reordered, waiting inside",
        _par(("a", GA), ("b", GB), gated=False),
        _par(("b", GB), ("a", GA), gated=False),
        N,
        N,
    ),
    Change(
        "Parallel: a name given to an unnamed branch",
        _par((None, A), (None, B)),
        _par(("a", A), (None, B)),
        N,
        N,
    ),
    Change(
        "Parallel: a branch's name removed",
        _par(("a", A), ("b", B)),
        _par((None, A), ("b", B)),
        N,
        N,
    ),
    Change(
        "Parallel: the position name given explicitly",
        _par((None, A), (None, B)),
        _par(("parallel-branch-0", A), (None, B)),
        OK,
        OK,
        result=[11, 200],
    ),
    Change(
        "Parallel: a branch added, waiting inside",
        _par(("a", GA), ("b", GB), gated=False),
        _par(("a", GA), ("b", GB), ("c", A), gated=False),
        OK,
        N,
        result=[11, 12, 11],
    ),
    Change(
        "Parallel: the last branch removed, waiting inside",
        _par(("a", GA), ("b", GB), gated=False),
        _par(("a", GA), gated=False),
        N,
        N,
    ),
    Change(
        "Parallel: max_concurrency=1 set, waiting inside",
        _par(("a", GA), ("b", GB), gated=False),
        _par(("a", GA), ("b", GB), gated=False, max_concurrency=1),
        OK,
        OK,
        result=[11, 12],
    ),
    Change(
        "Parallel: completion min_successful=1 after it completed",
        _par(("a", A), ("b", B)),
        _par(("a", A), ("b", B), completion=dg.Completion(min_successful=1)),
        OK,
        OK,
        result=[11, 200],
    ),
]

# --- G. children: names, virtual or not, changes inside a completed child ------------------------


def _child_gated_inside(x: int) -> Gen:
    a = yield fetch(x)
    yield from gate("inner")
    return a


def _child_gated_inside_more(x: int) -> Gen:
    a = yield fetch(x)
    yield from gate("inner")
    return (yield store(a))


def _child_patched_inside(x: int) -> Gen:
    a = yield fetch(x)
    if (yield dg.Patched("inner-extra")):
        a = yield store(a)
    yield from gate("inner")
    return a


def _child_deprecated_inside(x: int) -> Gen:
    a = yield fetch(x)
    yield dg.Deprecated("inner-extra")
    a = yield store(a)
    yield from gate("inner")
    return a


def _child_deprecated_body(x: int) -> Gen:
    a = yield fetch(x)
    yield dg.Deprecated("body-extra")
    a = yield store(a)
    return a


def _inline_child(x: int) -> Gen:
    r = yield from _child_body(x)
    yield from gate()
    return r


CHILDREN = [
    Change("Child: made virtual, completed", _childed("c"), _childed("c", virtual=True), N, N),
    Change(
        "virtual Child: inlined with yield from", _childed("c", virtual=True), _inline_child, N, N
    ),
    Change(
        "Child: body's steps swapped after it completed",
        _childed("c"),
        _childed("c", _child_body_other),
        OK,
        OK,
        result=1100,
    ),
    Change(
        "virtual Child: body's steps swapped after it completed",
        _childed("c", virtual=True),
        _childed("c", _child_body_other, virtual=True),
        N,
        N,
    ),
    Change(
        "Child: step appended inside, waiting inside",
        _childed("c", _child_gated_inside),
        _childed("c", _child_gated_inside_more),
        OK,
        OK,
        result=1100,
        completed_result=11,
    ),
    Change(
        "Child: Patched step inserted, waiting inside",
        _childed("c", _child_gated_inside),
        _childed("c", _child_patched_inside),
        OK,
        OK,
        result=11,
    ),
    Change(
        "Child: Deprecated on its old path, waiting inside",
        _childed("c", _child_gated_inside),
        _childed("c", _child_deprecated_inside),
        N,
        OK,
    ),
    Change(
        "Child: Deprecated on its old path after it completed",
        _childed("c"),
        _childed("c", _child_deprecated_body),
        OK,
        OK,
        result=1100,
    ),
]

# --- H. Invoke; I. callbacks; J. WaitForCondition -------------------------------------------------


def tax(amount: int) -> int:
    return amount * 2


def tax_v2(amount: int) -> int:
    return amount * 3


def slow_tax(amount: int) -> Gen:
    """A durable function that waits before it answers: the caller waits on the invoke."""
    yield dg.Wait(seconds=500, name="slow")
    return amount * 2


FUNCTIONS: dict[str, Callable[..., Any]] = {"tax": tax, "tax-v2": tax_v2, "slow-tax": slow_tax}


def _invoked(function: str, payload: Any = 1, gated: bool = True, **options: Any) -> Any:
    def workflow(_: int) -> Gen:
        t = yield dg.Invoke(function, payload, **{"name": "tax", **options})
        if gated:
            yield from gate()
        return t

    return workflow


def _callback(timeout: int | None = 3600, heartbeat: int | None = None, name: str = "ok?") -> Any:
    def workflow(_: int) -> Gen:
        handle = yield dg.CreateCallback(name=name, timeout=timeout, heartbeat_timeout=heartbeat)
        answer = yield handle
        return answer

    return workflow


def submit(callback_id: str) -> None:
    """The test answers the callback itself."""


def _wfc(timeout: int | None = 3600, then_gate: bool = False) -> Any:
    def workflow(_: int) -> Gen:
        answer = yield dg.WaitForCallback(submit, name="approval", timeout=timeout)
        if then_gate:
            yield from gate()
        return answer

    return workflow


def _capped(max_attempts: int | None, catch: bool = True) -> Any:
    def workflow(_: int) -> Gen:
        strategy = dg.WaitStrategy(until=lambda s: s["n"] >= 4, delay=10, max_attempts=max_attempts)
        try:
            state = yield dg.WaitForCondition(bump, {"n": 0}, wait_strategy=strategy, name="poll")
        except dg.StepFailedError as exc:
            state = exc.error_type
        return state

    return workflow


def _decide(state: Any, attempt: int) -> dg.WaitDecision:
    return dg.WaitDecision.done() if state["n"] >= 4 else dg.WaitDecision.again(10)


def _decide_later(state: Any, attempt: int) -> dg.WaitDecision:
    return dg.WaitDecision.done() if state["n"] >= 6 else dg.WaitDecision.again(30)


@dg.step(name="bump")
def bump_by_two(state: dict[str, int]) -> dict[str, int]:
    return {"n": state["n"] + 2}


def _polling(strategy: Any = None, check: Any = None, gated: bool = False) -> Any:
    def workflow(_: int) -> Gen:
        state = yield dg.WaitForCondition(
            check or bump, {"n": 0}, wait_strategy=strategy or _decide, name="poll"
        )
        if gated:
            yield from gate()
        return state

    return workflow


OUTSIDE = [
    Change(
        "Invoke: payload changed, waiting on it",
        _invoked("slow-tax", gated=False),
        _invoked("slow-tax", 7, gated=False),
        OK,
        OK,
        result=2,
    ),
    Change(
        "Invoke: target changed, waiting on it",
        _invoked("slow-tax", gated=False),
        _invoked("tax-v2", gated=False),
        OK,
        OK,
        result=2,
    ),
    Change(
        "Invoke: target changed after it completed",
        _invoked("tax"),
        _invoked("tax-v2"),
        OK,
        OK,
        result=2,
    ),
    Change(
        "Invoke: result_type set after it completed",
        _invoked("tax"),
        _invoked("tax", result_type=int),
        OK,
        OK,
        result=2,
    ),
    Change(
        "Invoke: serdes that cannot read JSON set after it completed",
        _invoked("tax"),
        _invoked("tax", serdes=Tagged()),
        FAILED,
        FAILED,
    ),
    Change("Invoke: its name removed", _invoked("tax"), _invoked("tax", name=None), N, N),
    Change(
        "CreateCallback: timeout removed, waiting on it",
        _callback(3600),
        _callback(None),
        OK,
        OK,
        result={"by": 1},
    ),
    Change(
        "CreateCallback: timeout shortened, waiting on it",
        _callback(3600),
        _callback(5),
        OK,
        OK,
        result={"by": 1},
    ),
    Change(
        "CreateCallback: heartbeat added, waiting on it",
        _callback(3600),
        _callback(3600, 60),
        OK,
        OK,
        result={"by": 1},
    ),
    Change("CreateCallback: renamed in case only", _callback(), _callback(name="OK?"), N, N),
    Change(
        "WaitForCallback: timeout removed, waiting on it",
        _wfc(3600),
        _wfc(None),
        OK,
        OK,
        result={"by": 1},
    ),
    Change(
        "WaitForCallback: timeout shortened after it completed",
        _wfc(3600, True),
        _wfc(1, True),
        OK,
        OK,
        result={"by": 1},
    ),
    Change(
        "WaitForCondition: strategy stops later, while polling",
        _polling(),
        _polling(_decide_later),
        OK,
        OK,
    ),
    Change(
        "WaitForCondition: strategy stops later, a gate after it",
        _polling(gated=True),
        _polling(_decide_later, gated=True),
        OK,
        OK,
        result={"n": 6},
        completed_result={"n": 4},
    ),
    Change(
        "WaitForCondition: WaitStrategy made a function",
        _capped(None),
        _polling(),
        OK,
        OK,
        result={"n": 4},
    ),
    Change(
        "WaitForCondition: check steps by two, while polling",
        _polling(),
        _polling(check=bump_by_two),
        OK,
        OK,
    ),
    Change(
        "WaitForCondition: max_attempts added, not reached",
        _capped(None),
        _capped(9),
        OK,
        OK,
        result={"n": 4},
    ),
]

# --- K. Patched and Deprecated, in the right and the wrong places ---------------------------------


def _line(x: int) -> Gen:
    a = yield fetch(x)
    yield from gate()
    return (yield store(a))


def patched_after_the_gate(x: int) -> Gen:
    a = yield fetch(x)
    yield from gate()
    if (yield dg.Patched("extra")):
        a = yield fetch_a(a)
    return (yield store(a))


def step_removed_behind_patched(x: int) -> Gen:
    a = 1
    if not (yield dg.Patched("no-fetch")):
        a = yield fetch(x)
    yield from gate()
    return (yield store(a))


def step_removed_unguarded(x: int) -> Gen:
    yield from gate()
    return (yield store(1))


def new_code_in_the_else(x: int) -> Gen:
    a = yield fetch(x)
    if not (yield dg.Patched("extra")):
        a = yield fetch_a(a)
    yield from gate()
    return (yield store(a))


def patched_twice_same_id(x: int) -> Gen:
    new = yield dg.Patched("extra")
    a = yield fetch(x)
    if new:
        a = yield fetch_a(a)
    yield from gate()
    if (yield dg.Patched("extra")):
        a = a + 0
    return (yield store(a))


def deprecated_at_the_frontier(x: int) -> Gen:
    a = yield fetch(x)
    yield from gate()
    yield dg.Deprecated("late")
    a = yield fetch_a(a)
    return (yield store(a))


def patched_renamed_id(x: int) -> Gen:
    a = yield fetch(x)
    if (yield dg.Patched("extra-v2")):
        a = yield fetch_a(a)
    yield from gate()
    return (yield store(a))


def patched_v1(x: int) -> Gen:
    a = yield fetch(x)
    if (yield dg.Patched("extra")):
        a = yield fetch_a(a)
    yield from gate()
    return (yield store(a))


def patched_replaced_by_other_step(x: int) -> Gen:
    a = yield fetch(x)
    if (yield dg.Patched("extra")):
        a = yield store(a)
    yield from gate()
    return (yield store(a))


def patch_removed_kept_new_path(x: int) -> Gen:
    a = yield fetch(x)
    a = yield fetch_a(a)
    yield from gate()
    return (yield store(a))


def patched_around_a_wait(x: int) -> Gen:
    a = yield fetch(x)
    if (yield dg.Patched("no-gate")):
        return (yield store(a))
    yield from gate()
    return (yield store(a))


def _item_patched(x: int, i: int) -> Gen:
    a = yield fetch(x)
    yield from gate(f"item-{i}")
    if (yield dg.Patched("item-extra")):
        a = yield fetch_a(a)
    return a


def _patched_in_completed_child(x: int) -> Gen:
    if (yield dg.Patched("child-extra")):
        yield fetch_a(x)
    a = yield fetch(x)
    return (yield store(a))


PATCHES = [
    Change(
        "Patched step added after the gate it waits on",
        _line,
        patched_after_the_gate,
        OK,
        OK,
        result=2100,
        completed_result=1100,
    ),
    Change(
        "recorded step removed behind not Patched",
        _line,
        step_removed_behind_patched,
        OK,
        OK,
        result=1100,
    ),
    Change("recorded step removed, no guard", _line, step_removed_unguarded, N, N),
    Change("Patched, new code put in the else", _line, new_code_in_the_else, N, N),
    Change(
        "Patched evaluated twice with one id", _line, patched_twice_same_id, OK, OK, result=1100
    ),
    Change("Deprecated added past the gate", _line, deprecated_at_the_frontier, OK, N, result=2100),
    Change(
        "Patched id renamed after executions took the new path",
        patched_v1,
        patched_renamed_id,
        N,
        N,
    ),
    Change("Patched: the guarded step replaced", patched_v1, patched_replaced_by_other_step, N, N),
    Change(
        "Patched removed, new path kept (no Deprecated)",
        patched_v1,
        patch_removed_kept_new_path,
        OK,
        OK,
        result=2100,
    ),
    Change(
        "Patched returns early before a recorded gate",
        _line,
        patched_around_a_wait,
        OK,
        OK,
        result=1100,
    ),
    Change(
        "Map: Patched step after the items' gate, waiting inside",
        _map_gated_items(),
        _map_gated_items(_item_patched),
        OK,
        OK,
        result=[21, 22],
        completed_result=[11, 12],
    ),
    Change(
        "Child: Patched step first inside, after it completed",
        _childed("c"),
        _childed("c", _patched_in_completed_child),
        OK,
        OK,
        result=1100,
    ),
]

# --- L. changes after the last recorded operation -------------------------------------------------


def _then(after: Any) -> Any:
    """A step and the gate (where version 1 waits), then ``after``'s code."""

    def workflow(x: int) -> Gen:
        a = yield fetch(x)
        yield from gate()
        return (yield from after(a))

    return workflow


def _tail_store(a: int) -> Gen:
    return (yield store(a))


def _tail_map(a: int) -> Gen:
    r = yield dg.Map(store, [a, a + 1], name="tail")
    return r.results()


def _tail_child(a: int) -> Gen:
    return (yield dg.Child(_child_body, (a,), name="tail"))


def _tail_wait(a: int) -> Gen:
    yield dg.Wait(seconds=60, name="tail-wait")
    return (yield store(a))


def _tail_nothing(a: int) -> Gen:
    return a
    yield  # a generator


def _tail_parallel(a: int) -> Gen:
    r = yield dg.Parallel([_branch(store, a), _branch(fetch, a)], name="tail")
    return r.results()


def _tail_invoke(a: int) -> Gen:
    return (yield dg.Invoke("tax", a, name="tail-tax"))


def _tail_renamed_step(a: int) -> Gen:
    return (yield fetch_a(a))


def _mid_map_then(after: Any) -> Any:
    def workflow(_: int) -> Gen:
        r = yield dg.Map(_item_gated, [1, 2], name="m")
        return (yield from after(sum(r.results())))

    return workflow


def _in_child_then(after: Any) -> Any:
    def workflow(x: int) -> Gen:
        a = yield dg.Child(_child_gated_inside, (x,), name="c")
        return (yield from after(a))

    return workflow


def _pending_retry_then(after: Any) -> Any:
    def workflow(x: int) -> Gen:
        with contextlib.suppress(dg.StepFailedError):
            yield flaky(x)
        return (yield from after(x))

    return workflow


AFTER = [
    Change(
        "after the gate: the step replaced by a Map",
        _then(_tail_store),
        _then(_tail_map),
        OK,
        N,
        result=[1100, 1200],
    ),
    Change(
        "after the gate: the step moved into a Child",
        _then(_tail_store),
        _then(_tail_child),
        OK,
        N,
        result=2100,
    ),
    Change(
        "after the gate: a wait put before the step",
        _then(_tail_store),
        _then(_tail_wait),
        OK,
        N,
        result=1100,
    ),
    Change(
        "after the gate: the step removed",
        _then(_tail_store),
        _then(_tail_nothing),
        OK,
        N,
        result=11,
    ),
    Change(
        "after the gate: a Parallel instead",
        _then(_tail_store),
        _then(_tail_parallel),
        OK,
        N,
        result=[1100, 21],
    ),
    Change(
        "after the gate: an Invoke instead",
        _then(_tail_store),
        _then(_tail_invoke),
        OK,
        N,
        result=22,
    ),
    Change(
        "after the gate: the step renamed",
        _then(_tail_store),
        _then(_tail_renamed_step),
        OK,
        N,
        result=21,
    ),
    Change(
        "mid-Map: the step after it replaced",
        _mid_map_then(_tail_store),
        _mid_map_then(_tail_renamed_step),
        OK,
        N,
        result=33,
    ),
    Change(
        "mid-Map: a Child after it instead",
        _mid_map_then(_tail_store),
        _mid_map_then(_tail_child),
        OK,
        N,
        result=3300,
    ),
    Change(
        "inside a Child: the step after it replaced",
        _in_child_then(_tail_store),
        _in_child_then(_tail_wait),
        OK,
        N,
        result=1100,
    ),
    Change(
        "retry pending: the code after it replaced",
        _pending_retry_then(_tail_store),
        _pending_retry_then(_tail_map),
        OK,
        N,
        result=[100, 200],
    ),
]

# --- M. exceptions caught differently ------------------------------------------------------------

EXCEPTIONS = [
    Change(
        "failure: caught as OperationError",
        _caught(refuses),
        _caught(refuses, dg.OperationError),
        OK,
        OK,
        result="StepFailedError",
    ),
    Change(
        "failure: caught as Exception",
        _caught(refuses),
        _caught(refuses, Exception),
        OK,
        OK,
        result="StepFailedError",
    ),
    Change("failure: no longer caught", _caught(refuses), _uncaught(refuses), RAISED, RAISED),
    Change(
        "failure: caught as the wrong type",
        _caught(refuses),
        _caught(refuses, dg.CallbackError),
        RAISED,
        RAISED,
    ),
    Change(
        "failure: caught and raised as the workflow's own",
        _caught(refuses),
        _caught_reraised(refuses),
        RAISED,
        RAISED,
    ),
    Change(
        "failure: the except clause yields a step",
        _caught(refuses),
        _caught_then(refuses, store),
        N,
        N,
    ),
    Change("failure: now caught", _uncaught(fetch), _caught(fetch), OK, OK, result=11),
]

# --- N. the returned value only ------------------------------------------------------------------


def _returning(shape: Callable[[int], Any]) -> Any:
    def workflow(x: int) -> Gen:
        a = yield fetch(x)
        yield from gate()
        return shape(a)

    return workflow


@dataclass
class Total:
    amount: int
    currency: str = "EUR"


def _returns_raise(a: int) -> Any:
    raise Refused(f"refused {a}")


RETURNS = [
    Change(
        "return: another value",
        _returning(lambda a: a),
        _returning(lambda a: a * 2),
        OK,
        OK,
        result=22,
    ),
    Change(
        "return: another type",
        _returning(lambda a: a),
        _returning(lambda a: {"total": a}),
        OK,
        OK,
        result={"total": 11},
    ),
    Change(
        "return: a dataclass",
        _returning(lambda a: a),
        _returning(lambda a: Total(a)),
        OK,
        OK,
        result={"amount": 11, "currency": "EUR"},
    ),
    Change(
        "return: None", _returning(lambda a: a), _returning(lambda a: None), OK, OK, result=None
    ),
    # Suspended at the gate, the raise comes after what was recorded: the replayers see the
    # prefix replay (the engines then fail on the raise), so only the completed state compares.
    Change(
        "return: raises instead", _returning(lambda a: a), _returning(_returns_raise), None, RAISED
    ),
]

# --- O. functions decorated, or no longer -------------------------------------------------------


def plain_fetch(x: int) -> int:
    return x + 10


decorated_fetch = dg.step(plain_fetch)
renamed_fetch = dg.step(name="fetch_price")(plain_fetch)


def _plain_step(make: Callable[[int], Any]) -> Any:
    def workflow(x: int) -> Gen:
        a = yield make(x)
        yield from gate()
        return a

    return workflow


def _make_kid(marked: bool) -> Any:
    def kid(x: int) -> Gen:
        a = yield fetch(x)
        yield from gate("inner")
        return a

    return dg.workflow(kid) if marked else kid


def _kid_parent(marked: bool) -> Any:
    kid = _make_kid(marked)

    def workflow(x: int) -> Gen:
        r = yield dg.Child(kid, (x,))
        yield from gate()
        return r

    return workflow


DECORATED = [
    Change(
        "Step of a plain function made @step",
        _plain_step(lambda x: dg.Step(plain_fetch, (x,))),
        _plain_step(decorated_fetch),
        OK,
        OK,
        result=11,
    ),
    Change(
        "@step made a Step of its plain function",
        _plain_step(decorated_fetch),
        _plain_step(lambda x: dg.Step(plain_fetch, (x,))),
        OK,
        OK,
        result=11,
    ),
    Change(
        "Step of a plain function made @step(name=) of another name",
        _plain_step(lambda x: dg.Step(plain_fetch, (x,))),
        _plain_step(renamed_fetch),
        N,
        N,
    ),
    Change(
        "Child: its generator function decorated @workflow",
        _kid_parent(False),
        _kid_parent(True),
        OK,
        OK,
        result=11,
    ),
    Change(
        "Child: @workflow removed from its function",
        _kid_parent(True),
        _kid_parent(False),
        OK,
        OK,
        result=11,
    ),
    Change(
        "WaitForCondition: named after its check function",
        _polled(None),
        _polled("bump"),
        OK,
        OK,
        result={"n": 3},
    ),
    Change(
        "WaitForCondition: named after its check, name removed",
        _polled("bump"),
        _polled(None),
        OK,
        OK,
        result={"n": 3},
    ),
]

# --- P. decoded types, batch functions, Now, child failures ------------------------------------


@dataclass
class Order:
    id: str
    amount: int


def order_as_dict(order: dict[str, Any]) -> Gen:
    a = yield fetch(order["amount"])
    yield from gate()
    return a


def order_as_dataclass(order: Order) -> Gen:
    a = yield fetch(order.amount)
    yield from gate()
    return a


def order_as_int(order: int) -> Gen:
    a = yield fetch(order)
    yield from gate()
    return a


@dataclass
class By:
    by: int


@dataclass
class ByText:
    by: str


def _answered(result_type: Any = None) -> Any:
    def workflow(_: int) -> Gen:
        if result_type is None:
            handle = yield dg.CreateCallback(name="c")
        else:
            handle = yield dg.CreateCallback(name="c", result_type=result_type)
        answer = yield handle
        yield from gate()
        return answer

    return workflow


def one() -> int:
    return 1


def _plus(x: int) -> int:
    return x + 1


plus_step = dg.step(_plus)


class Plus:
    def __call__(self, x: int) -> int:
        return x + 1


def _doubled(x: int) -> int:
    return 2 * x


def _doubled_with_index(x: int, i: int) -> int:
    return 2 * x


_doubled_with_index.__name__ = "_doubled"


def _now_or_step(step: bool) -> Any:
    def workflow(_: int) -> Gen:
        if step:
            yield dg.Step(one, name="now")
        else:
            yield dg.Now()
        yield from gate()
        return 1

    return workflow


def _fails_inside(x: int) -> Gen:
    yield refuses(x)


def _child_caught(catch: Any) -> Any:
    def workflow(x: int) -> Gen:
        try:
            yield dg.Child(_fails_inside, (x,), name="c")
        except catch as exc:
            note = type(exc).__name__
        yield from gate()
        return note

    return workflow


def _child_serdes(serdes: Any) -> Any:
    def workflow(x: int) -> Gen:
        r = yield dg.Child(_child_gated_inside, (x,), name="c", serdes=serdes)
        yield from gate()
        return r

    return workflow


def _item_first_fails(x: int, i: int) -> Gen:
    if i == 0:
        yield refuses(x)
    return (yield from _item_gated(x, i))


def _item_first_quick(x: int, i: int) -> Gen:
    if i == 0:
        return (yield fetch(x))
    return (yield from _item_gated(x, i))


def _decided(fn: Any, **options: Any) -> Any:
    """Version 1 waits inside items 1 and 2; item 0 ended (failed, or succeeded)."""

    def workflow(_: int) -> Gen:
        try:
            r = yield dg.Map(fn, [1, 2, 3], name="m", **options)
            out = [r.success_count, r.failure_count, r.started_count, r.completion_reason]
        except dg.BatchFailedError as exc:
            out = ["failed", type(exc).__name__]
        yield from gate()
        return out

    return workflow


def _item_fails_quick_waits(x: int, i: int) -> Gen:
    if i == 0:
        yield refuses(x)
    if i == 1:
        return (yield fetch(x))
    return (yield from _item_gated(x, i))


def _statuses(**options: Any) -> Any:
    """Item 0 fails, item 1 succeeds, item 2 waits at its gate (where version 1 waits)."""

    def workflow(_: int) -> Gen:
        r = yield dg.Map(_item_fails_quick_waits, [1, 2, 3], name="m", **options)
        out = [[item.status for item in r.items], r.completion_reason]
        yield from gate()
        return out

    return workflow


def _decided_parallel(**options: Any) -> Any:
    """Branch q ends at once; a and b wait at their gates (where version 1 waits)."""

    def workflow(_: int) -> Gen:
        branches = [dg.Branch(A, name="q"), dg.Branch(GA, name="a"), dg.Branch(GB, name="b")]
        r = yield dg.Parallel(branches, name="p", **options)
        out = [r.success_count, r.started_count, r.completion_reason]
        yield from gate()
        return out

    return workflow


def _wrapped_branches(wrap: bool) -> Any:
    def workflow(_: int) -> Gen:
        given = [dg.Branch(GA), dg.Branch(GB)] if wrap else [GA, GB]
        r = yield dg.Parallel(given, name="p")
        return r.all_results()

    return workflow


def _child_kwargs(as_kwargs: bool) -> Any:
    def workflow(x: int) -> Gen:
        if as_kwargs:
            return (yield dg.Child(_child_gated_inside, kwargs={"x": x}, name="c"))
        return (yield dg.Child(_child_gated_inside, (x,), name="c"))

    return workflow


async def submit_async(callback_id: str) -> None:
    """The test answers the callback itself."""


def submit_sync(callback_id: str) -> None:
    """The test answers the callback itself."""


def _submitted_by(submitter: Any) -> Any:
    def workflow(_: int) -> Gen:
        answer = yield dg.WaitForCallback(submitter, name="approval")
        yield from gate()
        return answer

    return workflow


async def bump_async(state: dict[str, int]) -> dict[str, int]:
    return {"n": state["n"] + 1}


def bump_sync(state: dict[str, int]) -> dict[str, int]:
    return {"n": state["n"] + 1}


@dg.step
def big_text(n: int) -> str:
    return "x" * n


def _large_body(x: int) -> Gen:
    return (yield big_text(300_000))


def _large_body_patched(x: int) -> Gen:
    text = yield big_text(300_000)
    if (yield dg.Patched("tail")):
        yield fetch(x)
    return text


def _large_body_appended(x: int) -> Gen:
    text = yield big_text(300_000)
    yield fetch(x)
    return text


def _inner_step(x: int) -> Gen:
    return (yield fetch(x))


def _inner_steps(x: int) -> Gen:
    a = yield fetch(x)
    yield store(a)
    return a


def _large_body_with_virtual(inner: Any) -> Any:
    def body(x: int) -> Gen:
        text = yield big_text(300_000)
        yield dg.Child(inner, (x,), virtual=True)
        return text

    return body


def _large_child(body: Any) -> Any:
    """A child whose result is too large to record: a replay rebuilds it from its body."""

    def workflow(x: int) -> Gen:
        text = yield dg.Child(body, (x,), name="c")
        yield from gate()
        return len(text)

    return workflow


DEFAULT_NAMES = {"item_namer": lambda item, i: f"map-item-{i}"}

MORE = [
    Change(
        "input: dict annotation made a dataclass",
        order_as_dict,
        order_as_dataclass,
        OK,
        OK,
        {"id": "o", "amount": 1},
        11,
    ),
    Change(
        "input: annotation made an incompatible type",
        order_as_dict,
        order_as_int,
        FAILED,
        FAILED,
        {"id": "o", "amount": 1},
    ),
    Change(
        "callback: result_type set after the answer",
        _answered(),
        _answered(By),
        OK,
        OK,
        result={"by": 1},
    ),
    # Waiting on the callback, the answer arrives after what was recorded: only the completed
    # state compares.
    Change(
        "callback: incompatible result_type set after the answer",
        _answered(),
        _answered(ByText),
        None,
        FAILED,
    ),
    Change(
        "Child: serdes set, waiting inside",
        _child_serdes(None),
        _child_serdes(Lenient()),
        OK,
        OK,
        result=11,
    ),
    Change(
        "Child: serdes that cannot read JSON set after it completed",
        _child_serdes(None),
        _child_serdes(Tagged()),
        OK,
        FAILED,
        result=11,
    ),
    Change(
        "Child failure: caught as OperationError",
        _child_caught(dg.ChildFailedError),
        _child_caught(dg.OperationError),
        OK,
        OK,
        result="ChildFailedError",
    ),
    Change(
        "Child failure: no longer caught",
        _child_caught(dg.ChildFailedError),
        _child_caught(KeyError),
        RAISED,
        RAISED,
    ),
    Change(
        "Parallel: a plain function branch made @step",
        _par((None, one)),
        _par((None, dg.step(one))),
        OK,
        OK,
        result=[1],
    ),
    Change(
        "Parallel: a lambda branch made a @step",
        _par((None, lambda: 5)),
        _par((None, dg.step(name="five")(lambda: 5))),
        OK,
        OK,
        result=[5],
    ),
    Change(
        "Map: lambda made a @step",
        _mapped(fn=lambda x: x + 1),
        _mapped(fn=plus_step),
        OK,
        OK,
        result=[2, 3],
    ),
    Change(
        "Map: @step made a lambda",
        _mapped(fn=plus_step),
        _mapped(fn=lambda x: x + 1),
        OK,
        OK,
        result=[2, 3],
    ),
    Change(
        "Map: callable object made a @step",
        _mapped(fn=Plus()),
        _mapped(fn=plus_step),
        OK,
        OK,
        result=[2, 3],
    ),
    Change(
        "Map: plain function made its @step",
        _mapped(fn=_plus),
        _mapped(fn=plus_step),
        OK,
        OK,
        result=[2, 3],
    ),
    Change(
        "Map: function takes the index now, same name",
        _mapped(fn=_doubled),
        _mapped(fn=_doubled_with_index),
        OK,
        OK,
        result=[2, 4],
    ),
    Change(
        "Map: item_namer giving the default names, waiting inside",
        _map_gated_items(),
        _map_gated_items(**DEFAULT_NAMES),
        OK,
        OK,
        result=[11, 12],
    ),
    Change(
        "Map: item_namer giving the default names, completed",
        _map_then_gate(),
        _map_then_gate(**DEFAULT_NAMES),
        OK,
        OK,
        result=[3, 0, [11, 12, 13]],
    ),
    Change(
        "Map: tolerance lowered while items wait, one failed",
        _decided(_item_first_fails, completion=dg.Completion(tolerated_failure_count=1)),
        _decided(_item_first_fails),
        OK,
        OK,
        # items 1 and 2 started (their contexts are recorded): STARTED, not NOT_STARTED
        result=[0, 1, 2, "FAILURE_TOLERANCE_EXCEEDED"],
        completed_result=[2, 1, 0, "ALL_COMPLETED"],
    ),
    Change(
        "Map: min_successful=1 added while items wait, one done",
        _decided(_item_first_quick),
        _decided(_item_first_quick, completion=dg.Completion(min_successful=1)),
        OK,
        OK,
        result=[1, 0, 2, "MIN_SUCCESSFUL_REACHED"],
        completed_result=[3, 0, 0, "ALL_COMPLETED"],
    ),
    Change(
        "Map: tolerance lowered while items wait, one failed, one done",
        _statuses(completion=dg.Completion(tolerated_failure_count=1)),
        _statuses(),
        OK,
        OK,
        result=[["FAILED", "STARTED", "STARTED"], "FAILURE_TOLERANCE_EXCEEDED"],
        completed_result=[["FAILED", "SUCCEEDED", "SUCCEEDED"], "ALL_COMPLETED"],
    ),
    Change(
        "Parallel: min_successful=1 added while branches wait",
        _decided_parallel(),
        _decided_parallel(completion=dg.Completion(min_successful=1)),
        OK,
        OK,
        result=[1, 2, "MIN_SUCCESSFUL_REACHED"],
        completed_result=[3, 0, "ALL_COMPLETED"],
    ),
    Change(
        "Parallel: branches wrapped in unnamed Branch, waiting inside",
        _wrapped_branches(False),
        _wrapped_branches(True),
        OK,
        OK,
        result=[11, 12],
    ),
    Change(
        "Child: args given as kwargs, waiting inside",
        _child_kwargs(False),
        _child_kwargs(True),
        OK,
        OK,
        result=11,
    ),
    Change(
        "WaitForCallback: submitter made async",
        _submitted_by(submit_sync),
        _submitted_by(submit_async),
        OK,
        OK,
        result={"by": 1},
    ),
    Change(
        "WaitForCallback: submitter made sync",
        _submitted_by(submit_async),
        _submitted_by(submit_sync),
        OK,
        OK,
        result={"by": 1},
    ),
    Change(
        "WaitForCondition: check made async, while polling",
        _polling(check=bump_sync),
        _polling(check=bump_async),
        OK,
        OK,
        result={"n": 4},
    ),
    # A completed child rebuilt from its operations ended after what it recorded: Patched
    # after that answers False (it ran the new path, a new step, inside the completed child),
    # and a command appended there unguarded is caught (it ran too).
    Change(
        "large child: Patched step appended inside after it completed",
        _large_child(_large_body),
        _large_child(_large_body_patched),
        OK,
        OK,
        result=300_000,
    ),
    Change(
        "large child: step appended inside after it completed",
        _large_child(_large_body),
        _large_child(_large_body_appended),
        N,
        N,
    ),
    Change(
        "large child: step appended in a virtual child inside it, after it completed",
        _large_child(_large_body_with_virtual(_inner_step)),
        _large_child(_large_body_with_virtual(_inner_steps)),
        N,
        N,
    ),
    Change("Now replaced by a step named now", _now_or_step(False), _now_or_step(True), N, N),
]

CHANGES = [
    *STEP_OPTIONS,
    *NAMES,
    *WAITS,
    *MAPS,
    *PARALLELS,
    *CHILDREN,
    *OUTSIDE,
    *PATCHES,
    *AFTER,
    *EXCEPTIONS,
    *RETURNS,
    *DECORATED,
    *MORE,
]

# --- the judges ----------------------------------------------------------------------------------

ANSWER = {"by": 1}


def _verdict(status: str, error: Any) -> str:
    if status == "SUCCEEDED":
        return OK
    if status == "FAILED" and error is not None:
        if error.error_type == "NonDeterminismError":
            return N
        if error.error_type == "SerializationError":
            return FAILED
        return RAISED
    return f"{status}: {error}"


def _replay_verdict(report: Any) -> str:
    if report.status in ("ok", "incomplete"):
        if report.status == "ok" and report.outcome == "failed":
            return RAISED
        return OK
    if report.status == "diverged":
        return N
    if report.status == "failed":
        return FAILED if "SerializationError" in report.message else RAISED
    return f"{report.status}: {report.message}"


def _json(value: Any) -> Any:
    return json.loads(dg.JsonSerdes().serialize(value))


def _drive(runner: TestRunner, run: DurableRun) -> None:
    """Answer callbacks as they open, fire timers one at a time, until the execution ends."""
    for _ in range(500):
        runner.run_until_idle()
        answered = False
        for op in run.operations(type="CALLBACK"):
            if op.status == "STARTED" and op.callback_id is not None:
                runner.send_callback_success(op.callback_id, ANSWER)
                answered = True
        if answered:
            continue
        if run.done or not runner.advance_to_next_timer():
            return


def _engine(path: Path | None, clock: VirtualClock, workflow: Callable[..., Gen]) -> LocalService:
    service = (
        LocalService(store=SqliteStore(path), clock=clock) if path else LocalService(clock=clock)
    )
    for name, fn in FUNCTIONS.items():
        register_function(service, name, fn)
    service.register("wf", rt.make_handler(workflow, service))
    return service


def _run_out(service: LocalService, clock: VirtualClock, arn: str) -> Any:
    for _ in range(3000):
        for op in service.get_operations(arn):
            if op.type == "CALLBACK" and op.status == "STARTED" and op.callback_details:
                assert op.callback_details.callback_id is not None
                service.send_callback_success(op.callback_details.callback_id, json.dumps(ANSWER))
        record = service.run(arn)
        if record.is_terminal:
            return record
        clock.advance(50)
    raise AssertionError("the execution did not end")


def _outcome(record: Any) -> tuple[str, Any]:
    verdict = _verdict(record.status, record.error)
    return verdict, (json.loads(record.result) if verdict == OK and record.result else None)


def _interpreter(workflow: Callable[..., Gen], export: dict[str, Any]) -> tuple[str, Any]:
    """Replay a completed history on new code, as a host resuming it would."""
    history = load_history(export)
    # An ended execution is not run again (its interpreter refuses new work): judged here as
    # the resume of the same operations in a running execution.
    operations = [
        msgspec.structs.replace(op, status="STARTED", end_timestamp=None)
        if op.type == "EXECUTION" else op
        for op in history.operations
    ]  # fmt: skip
    interp = rt.Interpreter(
        workflow, operations, execution_arn=history.execution_arn or "arn",
        clock=lambda: 1.7e9,
    )  # fmt: skip
    for _ in range(1000):
        action = interp.next_action()
        if isinstance(action, rt.Done):
            outcome = action.outcome
            if isinstance(outcome, rt.Failed):
                return _verdict("FAILED", outcome.error), None
            return OK, json.loads(outcome.result) if isinstance(outcome, rt.Succeeded) else None
        if isinstance(action, rt.Flush):
            interp.observe([])
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                try:
                    interp.task_succeeded(task, task.fn(*task.args, **(task.kwargs or {})))
                except Exception as exc:
                    interp.task_failed(task, exc)
    raise AssertionError("the interpreter did not finish")


def _lambda(change: Change) -> tuple[str, Any]:
    """The suspended execution resumed by the Lambda handler of version 2."""
    import msgspec

    from durable_gen.aws import lambda_handler

    clock = VirtualClock(auto_advance=False)
    service = _engine(None, clock, change.v1)

    def handler(workflow: Callable[..., Gen]) -> Callable[[Any], Any]:
        on_lambda = lambda_handler(workflow, service=service)

        def invoke(invocation: rt.InvocationInput) -> rt.InvocationOutput:
            event = msgspec.json.decode(msgspec.json.encode(invocation))
            return msgspec.convert(on_lambda(event, None), rt.InvocationOutput)

        return invoke

    service.register("wf", handler(change.v1))
    arn = service.start("wf", json.dumps(change.input))
    assert service.run(arn).status == "RUNNING"
    try:
        deployed = handler(change.v2)  # the deploy
    except dg.WorkflowDefinitionError:
        # a workflow that cannot take the input is refused when its handler is built, before
        # any invocation touches the execution
        return RAISED, None
    service.register("wf", deployed)
    return _outcome(_run_out(service, clock, arn))


def _cli_replay(change: Change, completed: bool, tmp_path: Path) -> str:
    """Version 1 on a SQLite database, its history exported by ``durable-gen history ID
    --json``, replayed on version 2 by ``replay_folder``."""
    clock = VirtualClock(auto_advance=False)
    db = tmp_path / "cli.sqlite"
    service = _engine(db, clock, change.v1)
    arn = service.start("wf", json.dumps(change.input))
    if completed:
        assert _run_out(service, clock, arn).status == "SUCCEEDED"
    else:
        assert service.run(arn).status == "RUNNING"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["history", arn, "--json", "--db", str(db)]) == 0
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "wf.json").write_text(out.getvalue())
    (report,) = replay_folder(change.v2, folder)
    return _replay_verdict(report)


def _sqlite(change: Change, completed: bool, path: Path) -> tuple[str, Any]:
    clock = VirtualClock(auto_advance=False)
    old = _engine(path, clock, change.v1)
    arn = old.start("wf", json.dumps(change.input))
    if completed:
        assert _run_out(old, clock, arn).status == "SUCCEEDED"
        ops = [msgspec_builtins(op) for op in old.get_operations(arn)]
        return _interpreter(change.v2, {"Operations": ops})
    assert old.run(arn).status == "RUNNING"
    return _outcome(_run_out(_engine(path, clock, change.v2), clock, arn))  # a new process


def msgspec_builtins(op: Any) -> Any:
    import msgspec

    return msgspec.to_builtins(op)


def judge(change: Change, state: str, tmp_path: Path, durable_replayer: Replayer) -> None:
    expected = change.suspended if state == "suspended" else change.completed
    if expected is None:
        pytest.skip("not applicable")
    completed = state == "completed"
    runner = TestRunner(skip_time=False, functions=FUNCTIONS)
    run = runner.run(change.v1, change.input)
    if completed:
        _drive(runner, run)
        assert run.status == "SUCCEEDED", run.error
    else:
        assert run.status == "RUNNING", run.error
    export = run.export()
    verdicts: dict[str, str] = {}
    results: dict[str, Any] = {}
    if completed:
        verdicts["interpreter"], results["interpreter"] = _interpreter(change.v2, export)
    else:
        runner.deploy(change.v1, change.v2)
        _drive(runner, run)
        verdicts["engine (memory)"] = _verdict(run.status, run.error)
        if verdicts["engine (memory)"] == OK:
            results["engine (memory)"] = _json(run.result())
        verdicts["Lambda handler"], results["Lambda handler"] = _lambda(change)
    verdicts["engine (SQLite)"], results["engine (SQLite)"] = _sqlite(
        change, completed, tmp_path / "db.sqlite"
    )
    report = replay(change.v2, export)
    verdicts["replay"] = _replay_verdict(report)
    if completed and report.outcome == "succeeded":
        results["replay"] = _json(report.result)
    verdicts["replay (events)"] = _replay_verdict(replay(change.v2, {"Events": export["Events"]}))
    path = tmp_path / "history.json"
    path.write_text(json.dumps(export))  # what version 1 recorded, as the other replays read
    verdicts["durable_replayer"] = _replay_verdict(durable_replayer.replay(change.v2, path))
    verdicts["CLI history + replay_folder"] = _cli_replay(change, completed, tmp_path)
    assert verdicts == dict.fromkeys(verdicts, expected)
    if expected != OK:
        return
    wanted = change.result
    if completed and change.completed_result is not SAME:
        wanted = change.completed_result
    if wanted is ...:
        wanted = next(iter(results.values()))
    assert results == dict.fromkeys(results, wanted)


@pytest.mark.parametrize("state", ["suspended", "completed"])
@pytest.mark.parametrize("change", CHANGES, ids=[c.name for c in CHANGES])
def test_every_route_judges_a_change_alike(
    change: Change, state: str, tmp_path: Path, durable_replayer: Replayer
) -> None:
    judge(change, state, tmp_path, durable_replayer)


def test_the_corpus_is_large_and_its_names_unique() -> None:
    assert len(CHANGES) >= 80
    assert len({c.name for c in CHANGES}) == len(CHANGES)


@pytest.mark.parametrize(
    "workflow",
    list(dict.fromkeys(w for c in CHANGES for w in (c.v1, c.v2))),
    ids=lambda w: w.__qualname__,
)
def test_every_version_is_deterministic_on_its_own(workflow: Callable[..., Gen]) -> None:
    change = next(c for c in CHANGES if workflow in (c.v1, c.v2))

    def answer(run: DurableRun) -> None:
        for op in run.operations(type="CALLBACK"):
            if op.status == "STARTED" and op.callback_id is not None:
                run.runner.send_callback_success(op.callback_id, ANSWER)

    assert_deterministic(
        workflow,
        change.input,
        functions=FUNCTIONS,
        on_idle=answer,
        random_runs=1,
    )
