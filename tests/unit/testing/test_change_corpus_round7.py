"""A seventh corpus of code changes made between deployments, judged by every route of
``test_change_corpus_options.py`` (the engine in memory and on SQLite, the Lambda handler, the
interpreter, ``replay`` of the export and of its events, the pytest plugin's
``durable_replayer``, ``durable-gen history --json`` replayed by ``replay_folder``) and by two
more: the SQLite engine's own operations and events (``get_operations``, ``get_history``)
replayed as they are, with the ARN given for the events. Each must give the verdict
docs/versioning.md gives and, when it accepts, the same result.

Its emphasis: loops whose count or names come from data (an input dict, a recorded result, the
loop index), the deterministic helpers (``Now`` in conditions, ``UUID`` and ``Random`` draws
reaching names or only arguments, moved into a child), exception handling reworked (``finally``
clauses, callback failures and timeouts caught otherwise, a batch's failures raised afterwards),
retry policies changed while a retry is pending (``retry_if``, ``retry_on``, jitter, attempts
below those made), batches given their items or branches in another container, empty batches
given items, ``nesting`` of a ``Parallel``, the order callbacks are awaited in, and ``Patched``
and ``Deprecated`` inside Parallel branches and Map items, with the steps of their retirement
taken in order and out of order.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import cli
from durable_gen.local import VirtualClock
from durable_gen.testing import DurableRun, TestRunner, assert_deterministic, replay, replay_folder
from durable_gen.testing.pytest_plugin import Replayer
from tests.unit.testing.test_change_corpus_options import (
    ANSWER,
    FUNCTIONS,
    OK,
    RAISED,
    SAME,
    Change,
    Gen,
    N,
    _drive,
    _engine,
    _interpreter,
    _json,
    _lambda,
    _outcome,
    _replay_verdict,
    _run_out,
    _verdict,
    gate,
    msgspec_builtins,
)


def _named(wf: Callable[..., Gen], name: str) -> Callable[..., Gen]:
    wf.__qualname__ = wf.__name__ = name
    return wf


@dg.step
def double(x: int) -> int:
    return 2 * x


@dg.step(name="double")
def double_other(x: int) -> int:
    return 3 * x


@dg.step
def count_of(x: int) -> int:
    return x + 2


@dg.step
def keys_of(x: int) -> list[str]:
    return ["b", "a", "c"][: x + 2]


@dg.step(name="note")
def note(value: Any) -> Any:
    return value


@dg.step
def cleanup(x: int) -> str:
    return f"clean-{x}"


# --- A. loops whose count or names come from data -------------------------------------------------


def _loop(n: int, names: Callable[[int], str] = lambda i: f"s{i}", wait: bool = True) -> Any:
    """``n`` steps named by ``names``, a wait after each: the execution suspends in the first."""

    def workflow(x: int) -> Gen:
        total = 0
        for i in range(n):
            total += yield dg.Step(double.fn, (i + x,), name=names(i))
            if wait:
                yield dg.Wait(seconds=10, name=f"pause-{i}")
        yield from gate()
        return total

    return _named(workflow, f"loop[{n}]")


def _loop_counted(step: Any) -> Any:
    """As many steps as a recorded step says."""

    def workflow(x: int) -> Gen:
        n = yield step(x)
        total = []
        for i in range(n):
            total.append((yield double(i)))
        yield from gate()
        return total

    return _named(workflow, f"loop_counted[{step.name}]")


@dg.step(name="count_of")
def count_of_more(x: int) -> int:
    return x + 5


def _loop_over_keys(order: str) -> Any:
    """A step per key of the input's dict, in the input's order, sorted, or reversed."""

    def workflow(lines: dict[str, int]) -> Gen:
        keys = list(lines)
        if order == "sorted":
            keys = sorted(lines)
        elif order == "reversed":
            keys = list(reversed(lines))
        elif order == "items":
            keys = [k for k, _ in lines.items()]
        out = {}
        for key in keys:
            out[key] = yield dg.Step(double.fn, (lines[key],), name=f"line-{key}")
        yield from gate()
        return out

    return _named(workflow, f"loop_over_keys[{order}]")


def _loop_over_recorded(kind: str) -> Any:
    """A step per value a recorded step returned, named after the value."""

    def workflow(x: int) -> Gen:
        keys = yield keys_of(x)
        if kind == "set":
            keys = sorted(set(keys))
        elif kind == "dict":
            keys = list(dict.fromkeys(keys))
        out = []
        for key in keys:
            out.append((yield dg.Step(note.fn, (key,), name=f"ship-{key}")))
            yield from gate(f"gate-{key}")
        return out

    return _named(workflow, f"loop_over_recorded[{kind}]")


def _loop_set_of_ints(as_set: bool) -> Any:
    """Small ints hash to themselves: their set iterates in one order in every process."""

    def workflow(x: int) -> Gen:
        values = yield dg.Step(note.fn, ([3, 1, 2],), name="values")
        seq = set(values) if as_set else sorted(values)
        out = []
        for v in seq:
            out.append((yield dg.Step(double.fn, (v,), name=f"v{v}")))
        yield from gate()
        return out

    return _named(workflow, f"loop_set_of_ints[{as_set}]")


def _poll_loop(until: int) -> Any:
    """Polls a step with a wait between polls until the count reaches ``until``."""

    def workflow(x: int) -> Gen:
        i = 0
        while True:
            i = yield dg.Step(count_of.fn, (i,), name="poll")
            if i >= until:
                break
            yield dg.Wait(seconds=30, name="between-polls")
        yield from gate()
        return i

    return _named(workflow, f"poll_loop[{until}]")


def _loop_enumerated(start: int) -> Any:
    """The loop index only reaches the steps' arguments."""

    def workflow(x: int) -> Gen:
        out = []
        for i, v in enumerate([10, 20], start=start):
            out.append((yield dg.Step(note.fn, ((i, v),), name="item")))
        yield from gate()
        return out

    return _named(workflow, f"loop_enumerated[{start}]")


LOOPS = [
    # Suspended in the first iteration's wait: the iterations after it are not recorded yet.
    Change(
        "loop: fewer iterations, waiting in the first",
        _loop(3),
        _loop(1),
        OK,
        N,
        result=2,
    ),
    Change("loop: more iterations, waiting in the first", _loop(1), _loop(3), OK, N, result=12),
    Change(
        "loop: step names counted from 1 instead of 0",
        _loop(2),
        _loop(2, names=lambda i: f"s{i + 1}"),
        N,
        N,
    ),
    Change(
        "loop: count from a recorded step, the step now returns more",
        _loop_counted(count_of),
        _loop_counted(count_of_more),
        OK,
        OK,
        result=[0, 2, 4],
    ),
    Change(
        "loop over an input dict: keys sorted, input not in order",
        _loop_over_keys("input"),
        _loop_over_keys("sorted"),
        N,
        N,
        input={"b": 1, "a": 2},
    ),
    Change(
        "loop over an input dict: keys sorted, input already in order",
        _loop_over_keys("input"),
        _loop_over_keys("sorted"),
        OK,
        OK,
        input={"a": 1, "b": 2},
        result={"a": 2, "b": 4},
    ),
    Change(
        "loop over an input dict: keys reversed",
        _loop_over_keys("input"),
        _loop_over_keys("reversed"),
        N,
        N,
        input={"a": 1, "b": 2},
    ),
    Change(
        "loop over an input dict: .keys() made .items()",
        _loop_over_keys("input"),
        _loop_over_keys("items"),
        OK,
        OK,
        input={"b": 1, "a": 2},
        result={"b": 2, "a": 4},
    ),
    Change(
        "loop over a recorded list: made a sorted set",
        _loop_over_recorded("list"),
        _loop_over_recorded("set"),
        N,
        N,
    ),
    Change(
        "loop over a recorded list: duplicates dropped, none there",
        _loop_over_recorded("list"),
        _loop_over_recorded("dict"),
        OK,
        OK,
        result=["b", "a", "c"],
    ),
    Change(
        "loop over recorded ints: sorted list made a set",
        _loop_set_of_ints(False),
        _loop_set_of_ints(True),
        OK,
        OK,
        result=[2, 4, 6],
    ),
    Change(
        "poll loop: stops later, while polling",
        _poll_loop(6),
        _poll_loop(8),
        OK,
        N,  # the gate after the last poll was recorded where the new code polls again
        result=8,
    ),
    Change(
        "poll loop: stops earlier than the polls recorded",
        _poll_loop(6),
        _poll_loop(2),
        N,
        N,
    ),
    Change(
        "loop: enumerate's start changed, only in arguments",
        _loop_enumerated(0),
        _loop_enumerated(1),
        OK,
        OK,
        result=[[0, 10], [1, 20]],
    ),
]

# --- B. the deterministic helpers -----------------------------------------------------------------


def _uuid_named(extra_draw: str | None = None, extra_after: bool = False) -> Any:
    """A step named after a UUID drawn in the body; ``extra_draw`` adds a draw before it."""

    def workflow(x: int) -> Gen:
        if extra_draw == "uuid" and not extra_after:
            yield dg.UUID()
        elif extra_draw == "random" and not extra_after:
            yield dg.Random()
        u = yield dg.UUID()
        if extra_draw == "uuid" and extra_after:
            yield dg.UUID()
        a = yield dg.Step(double.fn, (x,), name=f"job-{str(u)[:8]}")
        yield from gate()
        return a

    return _named(workflow, f"uuid_named[{extra_draw},{extra_after}]")


def _uuid_argument(extra_draw: bool) -> Any:
    """A UUID only reaches a step's argument."""

    def workflow(x: int) -> Gen:
        if extra_draw:
            yield dg.UUID()
        u = yield dg.UUID()
        a = yield dg.Step(note.fn, (str(u),), name="tag")
        yield from gate()
        return len(a)

    return _named(workflow, f"uuid_argument[{extra_draw}]")


def _uuid_unused(drawn: bool) -> Any:
    def workflow(x: int) -> Gen:
        if drawn:
            yield dg.UUID()
        a = yield double(x)
        yield from gate()
        return a

    return _named(workflow, f"uuid_unused[{drawn}]")


def _uuid_in_child(in_child: bool) -> Any:
    """A UUID for an argument drawn at the root, then moved into a virtual... no: a Child."""

    def draw() -> Gen:
        return str((yield dg.UUID()))

    def workflow(x: int) -> Gen:
        a = yield double(x)
        yield from gate()
        if in_child:
            u = yield dg.Child(draw, name="draw")
        else:
            u = str((yield dg.UUID()))
        return [a, len(u)]

    return _named(workflow, f"uuid_in_child[{in_child}]")


def _now_condition(threshold: int) -> Any:
    """A branch on the recorded time's year (the runner starts in 2025)."""

    def workflow(x: int) -> Gen:
        now = yield dg.Now()
        if now.year >= threshold:
            a = yield double(x)
        else:
            a = yield count_of(x)
        yield from gate()
        return a

    return _named(workflow, f"now_condition[{threshold}]")


def _now_where(where: str) -> Any:
    def sub() -> Gen:
        return (yield dg.Now()).year

    def workflow(x: int) -> Gen:
        if where == "root":
            year = (yield dg.Now()).year
        elif where == "child":
            year = yield dg.Child(sub, name="clock")
        elif where == "uuid":
            yield dg.UUID()
            year = 2025
        a = yield double(x)
        yield from gate()
        return [year >= 2025, a]

    return _named(workflow, f"now_where[{where}]")


def _random_choice(calls_before: int) -> Any:
    """A seeded generator's value only reaches an argument; ``calls_before`` draws from it first."""

    def workflow(x: int) -> Gen:
        rng = yield dg.Random()
        for _ in range(calls_before):
            rng.random()
        pick = rng.choice([1, 2, 3])
        a = yield dg.Step(note.fn, (pick,), name="picked")
        yield from gate()
        return a in (1, 2, 3)

    return _named(workflow, f"random_choice[{calls_before}]")


HELPERS = [
    Change(
        "UUID in a step's name: another UUID drawn before it",
        _uuid_named(),
        _uuid_named("uuid"),
        N,
        N,
    ),
    Change(
        "UUID in a step's name: a Random drawn before it",
        _uuid_named(),
        _uuid_named("random"),
        N,
        N,
    ),
    Change(
        "UUID in a step's name: another UUID drawn after it",
        _uuid_named(),
        _uuid_named("uuid", extra_after=True),
        OK,
        OK,
        result=2,
    ),
    Change(
        "UUID in an argument: another UUID drawn before it",
        _uuid_argument(False),
        _uuid_argument(True),
        OK,
        OK,
        result=36,
    ),
    Change(
        "UUID drawn and unused: removed", _uuid_unused(True), _uuid_unused(False), OK, OK, result=2
    ),
    Change("UUID: one added, unused", _uuid_unused(False), _uuid_unused(True), OK, OK, result=2),
    Change(
        "UUID after the gate: drawn in a Child instead",
        _uuid_in_child(False),
        _uuid_in_child(True),
        OK,
        OK,
        result=[2, 36],
        completed_result=[2, 36],
    ),
    Change(
        "Now: condition rewritten, same branch",
        _now_condition(2000),
        _now_condition(2020),
        OK,
        OK,
        result=2,
    ),
    Change(
        "Now: condition now takes the other branch",
        _now_condition(2000),
        _now_condition(3000),
        N,
        N,
    ),
    Change("Now: moved into a Child", _now_where("root"), _now_where("child"), N, N),
    Change("Now: replaced by a UUID", _now_where("root"), _now_where("uuid"), N, N),
    Change(
        "Random: more values drawn before the one used",
        _random_choice(0),
        _random_choice(3),
        OK,
        OK,
        result=True,
    ),
]

# --- C. exceptions handled otherwise --------------------------------------------------------------


@dg.step(retry=dg.Retry.never())
def breaks(x: int) -> int:
    raise RuntimeError(f"broken {x}")


def _finally(kind: str) -> Any:
    """A step in ``try``; a cleanup step in ``finally`` (or only in ``except``)."""

    def workflow(x: int) -> Gen:
        try:
            a = yield double(x)
        except dg.StepFailedError:
            a = -1
            if kind == "except":
                yield cleanup(x)
        finally:
            if kind == "finally":
                yield cleanup(x)
        yield from gate()
        return a

    return _named(workflow, f"finally[{kind}]")


def _finally_failing(kind: str) -> Any:
    def workflow(x: int) -> Gen:
        try:
            a = yield breaks(x)
        except dg.StepFailedError:
            a = -1
            if kind == "except":
                yield cleanup(x)
        finally:
            if kind == "finally":
                yield cleanup(x)
        yield from gate()
        return a

    return _named(workflow, f"finally_failing[{kind}]")


def _callback_caught(catch: Any, timeout: int | None = None) -> Any:
    """A callback that fails (answered with a failure) or times out; the error is caught."""

    def workflow(x: int) -> Gen:
        handle = yield dg.CreateCallback(name="decision", timeout=timeout)
        try:
            a = yield handle
        except catch as exc:
            a = type(exc).__name__
        yield from gate()
        return a

    return _named(workflow, f"callback_caught[{getattr(catch, '__name__', catch)},{timeout}]")


def _batch_raised(raise_after: bool) -> Any:
    """A Map that tolerates its failed item; the new code raises the batch's failures."""

    def item(x: int) -> Gen:
        if x < 0:
            yield breaks(x)
        return (yield double(x))

    def workflow(x: int) -> Gen:
        r = yield dg.Map(
            item, [1, -1], name="m", completion=dg.Completion(tolerated_failure_count=1)
        )
        if raise_after:
            r.raise_if_failed()
        yield from gate()
        return r.success_count

    return _named(workflow, f"batch_raised[{raise_after}]")


def _child_failure(catch: Any) -> Any:
    def body(x: int) -> Gen:
        return (yield breaks(x))

    def workflow(x: int) -> Gen:
        try:
            a = yield dg.Child(body, (x,), name="c")
        except catch as exc:
            a = type(exc).__name__
        yield from gate()
        return a

    return _named(workflow, f"child_failure[{catch.__name__}]")


EXCEPTIONS = [
    Change(
        "finally: cleanup moved into except, the step succeeded",
        _finally("finally"),
        _finally("except"),
        N,
        N,
    ),
    Change(
        "finally: cleanup moved into except, the step failed",
        _finally_failing("finally"),
        _finally_failing("except"),
        OK,
        OK,
        result=-1,
    ),
    Change(
        "finally: cleanup added in finally, the step succeeded",
        _finally("none"),
        _finally("finally"),
        N,
        N,
    ),
    Change(
        "batch: its failures raised after it completed",
        _batch_raised(False),
        _batch_raised(True),
        RAISED,
        RAISED,
    ),
    Change(
        "Child failure: caught as ChildFailedError instead of OperationError",
        _child_failure(dg.OperationError),
        _child_failure(dg.ChildFailedError),
        OK,
        OK,
        result="ChildFailedError",
    ),
    Change(
        "Child failure: caught as StepFailedError instead of ChildFailedError",
        _child_failure(dg.ChildFailedError),
        _child_failure(dg.StepFailedError),
        RAISED,
        RAISED,
    ),
]

# Callback failures need an answer other than success: judged on their own below.
CALLBACK_FAILURES = [
    (
        "timeout caught as CallbackError instead of CallbackTimeoutError",
        dg.CallbackTimeoutError,
        dg.CallbackError,
        "timeout",
        OK,
    ),
    (
        "timeout caught as CallbackFailedError instead",
        dg.CallbackTimeoutError,
        dg.CallbackFailedError,
        "timeout",
        RAISED,
    ),
    (
        "failure caught as OperationError instead of CallbackFailedError",
        dg.CallbackFailedError,
        dg.OperationError,
        "failure",
        OK,
    ),
    (
        "failure caught as CallbackTimeoutError instead",
        dg.CallbackFailedError,
        dg.CallbackTimeoutError,
        "failure",
        RAISED,
    ),
]

# --- D. retry policies changed while a retry is pending -------------------------------------------


@dg.step(name="flaky", retry=dg.Retry(max_attempts=3, initial_delay=60, jitter="none"))
def flaky(x: int) -> int:
    raise TimeoutError(f"down for {x}")


@dg.step(
    name="flaky",
    retry=dg.Retry(max_attempts=3, initial_delay=60, jitter="none", retry_if=lambda e: False),
)
def flaky_retry_if_never(x: int) -> int:
    raise TimeoutError(f"down for {x}")


@dg.step(
    name="flaky",
    retry=dg.Retry(max_attempts=3, initial_delay=60, jitter="none", retry_on=(KeyError,)),
)
def flaky_retry_on_other(x: int) -> int:
    raise TimeoutError(f"down for {x}")


@dg.step(name="flaky", retry=dg.Retry(max_attempts=3, initial_delay=60, jitter="full"))
def flaky_jittered(x: int) -> int:
    raise TimeoutError(f"down for {x}")


@dg.step(name="flaky", retry=dg.Retry(max_attempts=1, initial_delay=60, jitter="none"))
def flaky_one_attempt(x: int) -> int:
    raise TimeoutError(f"down for {x}")


@dg.step(name="flaky", retry=dg.Retry(max_attempts=3, initial_delay=60, jitter="none"))
def flaky_recovers(x: int) -> int:
    return x * 7


def _retrying(step: Any, wrap: str = "") -> Any:
    def body(x: int) -> Gen:
        try:
            return (yield step(x))
        except dg.StepFailedError as exc:
            return exc.error_type

    def workflow(x: int) -> Gen:
        if wrap == "child":
            value = yield dg.Child(body, (x,), name="retrying")
        elif wrap == "map":
            r = yield dg.Map(body, [x], name="retrying")
            value = r.all_results()[0]
        else:
            value = yield from body(x)
        return value

    return _named(workflow, f"retrying[{step.fn.__name__},{wrap}]")


RETRIES = [
    Change(
        "retry pending: retry_if now refuses every error",
        _retrying(flaky),
        _retrying(flaky_retry_if_never),
        OK,
        OK,
        result="TimeoutError",
    ),
    Change(
        "retry pending: retry_on narrowed to another type",
        _retrying(flaky),
        _retrying(flaky_retry_on_other),
        OK,
        OK,
        result="TimeoutError",
    ),
    Change(
        "retry pending: jitter made full",
        _retrying(flaky),
        _retrying(flaky_jittered),
        OK,
        OK,
        result="TimeoutError",
    ),
    Change(
        "retry pending: max_attempts lowered below the attempts made",
        _retrying(flaky),
        _retrying(flaky_one_attempt),
        OK,
        OK,
        result="TimeoutError",
    ),
    Change(
        "retry pending: the step fixed",
        _retrying(flaky),
        _retrying(flaky_recovers),
        OK,
        OK,
        result=7,
        completed_result="TimeoutError",
    ),
    Change(
        "retry pending: the step wrapped in a Child",
        _retrying(flaky),
        _retrying(flaky, wrap="child"),
        N,
        N,
    ),
    Change(
        "retry pending in a Child: the Child unwrapped",
        _retrying(flaky, wrap="child"),
        _retrying(flaky),
        N,
        N,
    ),
    Change(
        "retry pending in a Map item: the step fixed",
        _retrying(flaky, wrap="map"),
        _retrying(flaky_recovers, wrap="map"),
        OK,
        OK,
        result=7,
        completed_result="TimeoutError",
    ),
]

# --- E. batches -----------------------------------------------------------------------------------


def _map_items(container: str, values: tuple[int, ...] = (1, 2)) -> Any:
    def workflow(x: int) -> Gen:
        items: Any = list(values)
        if container == "tuple":
            items = tuple(values)
        elif container == "range":
            items = range(values[0], values[-1] + 1)
        elif container == "generator":
            items = (v for v in values)
        r = yield dg.Map(double, items, name="m")
        yield from gate()
        return r.results()

    return _named(workflow, f"map_items[{container},{values}]")


def _map_values_named(values: tuple[int, ...]) -> Any:
    def workflow(x: int) -> Gen:
        r = yield dg.Map(double, list(values), name="m", item_namer=lambda v, i: f"v{v}")
        yield from gate()
        return r.results()

    return _named(workflow, f"map_values_named[{values}]")


def _map_access(kind: str) -> Any:
    def workflow(x: int) -> Gen:
        r = yield dg.Map(double, [1, 2], name="m")
        yield from gate()
        if kind == "items":
            return [i.result for i in r.items]
        if kind == "get":
            return r.get_results()
        return r.results()

    return _named(workflow, f"map_access[{kind}]")


def _parallel_nesting(nesting: Any, container: str = "list") -> Any:
    def left(x: int) -> Gen:
        return (yield double(x))

    def right(x: int) -> Gen:
        return (yield count_of(x))

    def workflow(x: int) -> Gen:
        branches: Any = [dg.Branch(left, name="left"), dg.Branch(right, name="right")]
        if container == "tuple":
            branches = tuple(branches)
        r = yield dg.Parallel(
            [dg.Branch(functools.partial(b.fn, x), name=b.name) for b in branches],
            name="p",
            nesting=nesting,
        )
        yield from gate()
        return r.results()

    return _named(workflow, f"parallel_nesting[{nesting},{container}]")


def _empty_map(items: list[int]) -> Any:
    def workflow(x: int) -> Gen:
        r = yield dg.Map(double, items, name="m")
        yield from gate()
        return r.results()

    return _named(workflow, f"empty_map[{items}]")


def _empty_parallel(branches: int) -> Any:
    def one() -> int:
        return 1

    def workflow(x: int) -> Gen:
        r = yield dg.Parallel([one] * branches, name="p")
        yield from gate()
        return r.results()

    return _named(workflow, f"empty_parallel[{branches}]")


def _map_in_loop(rounds: int) -> Any:
    def workflow(x: int) -> Gen:
        out = []
        for k in range(rounds):
            r = yield dg.Map(double, [k, k + 1], name=f"round-{k}")
            out += r.results()
        yield from gate()
        return out

    return _named(workflow, f"map_in_loop[{rounds}]")


BATCHES = [
    Change(
        "Map: items given as a tuple",
        _map_items("list"),
        _map_items("tuple"),
        OK,
        OK,
        result=[2, 4],
    ),
    Change(
        "Map: items given as a range",
        _map_items("list"),
        _map_items("range"),
        OK,
        OK,
        result=[2, 4],
    ),
    Change(
        "Map: items given as a generator",
        _map_items("list"),
        _map_items("generator"),
        RAISED,  # a ValidationError: Map items must be a sequence
        RAISED,
    ),
    Change(
        "Map: items' values changed, named after their values",
        _map_values_named((1, 2)),
        _map_values_named((1, 3)),
        N,
        N,
    ),
    Change(
        "Map: its result read through items instead of results()",
        _map_access("results"),
        _map_access("items"),
        OK,
        OK,
        result=[2, 4],
    ),
    Change(
        "Map: its result read with get_results()",
        _map_access("results"),
        _map_access("get"),
        OK,
        OK,
        result=[2, 4],
    ),
    Change(
        "Parallel: nesting made flat",
        _parallel_nesting("nested"),
        _parallel_nesting("flat"),
        N,
        N,
    ),
    Change(
        "Parallel: nesting made nested",
        _parallel_nesting("flat"),
        _parallel_nesting("nested"),
        N,
        N,
    ),
    Change(
        "Parallel: branches given as a tuple",
        _parallel_nesting("nested"),
        _parallel_nesting("nested", "tuple"),
        OK,
        OK,
        result=[2, 3],
    ),
    Change("Map: an empty one given an item", _empty_map([]), _empty_map([1]), N, N),
    Change("Map: its only item removed", _empty_map([1]), _empty_map([]), N, N),
    Change("Parallel: an empty one given a branch", _empty_parallel(0), _empty_parallel(1), N, N),
    Change("Map in a loop: one round fewer", _map_in_loop(2), _map_in_loop(1), N, N),
    Change("Map in a loop: one round more", _map_in_loop(1), _map_in_loop(2), N, N),
]

# --- F. callbacks awaited in another order, children swapped --------------------------------------


def _two_callbacks(await_order: str, create_order: str = "ab") -> Any:
    def workflow(x: int) -> Gen:
        handles = {}
        for name in create_order:
            handles[name] = yield dg.CreateCallback(name=f"cb-{name}")
        out = []
        for name in await_order:
            out.append((yield handles[name]))
        return len(out)

    return _named(workflow, f"two_callbacks[{await_order},{create_order}]")


def _two_children(order: str) -> Any:
    def a(x: int) -> Gen:
        return (yield double(x))

    def b(x: int) -> Gen:
        return (yield count_of(x))

    bodies = {"a": a, "b": b}

    def workflow(x: int) -> Gen:
        out = []
        for key in order:
            out.append((yield dg.Child(bodies[key], (x,), name=f"child-{key}")))
        yield from gate()
        return out

    return _named(workflow, f"two_children[{order}]")


@dg.workflow
def priced(x: int) -> Gen:
    return (yield double(x))


def _child_named(name: str | None) -> Any:
    def workflow(x: int) -> Gen:
        a = yield dg.Child(priced, (x,), name=name)
        yield from gate()
        return a

    return _named(workflow, f"child_named[{name}]")


def _nested_children(flatten: bool) -> Any:
    def inner(x: int) -> Gen:
        return (yield double(x))

    def outer(x: int) -> Gen:
        return (yield dg.Child(inner, (x,), name="inner"))

    def workflow(x: int) -> Gen:
        if flatten:
            a = yield dg.Child(inner, (x,), name="outer")
        else:
            a = yield dg.Child(outer, (x,), name="outer")
        yield from gate()
        return a

    return _named(workflow, f"nested_children[{flatten}]")


def _sub_inline(kind: str) -> Any:
    """A sub-workflow run with ``yield from``: made a step, or given one more step first."""

    def sub(x: int) -> Gen:
        if kind == "now-first":
            yield dg.Now()
        return (yield double(x))

    def workflow(x: int) -> Gen:
        if kind == "step":
            a = yield double(x)
        else:
            a = yield from sub(x)
        yield from gate()
        return a

    return _named(workflow, f"sub_inline[{kind}]")


SHAPES = [
    Change(
        "callbacks: awaited in the other order",
        _two_callbacks("ab"),
        _two_callbacks("ba"),
        OK,
        OK,
        result=2,
    ),
    Change(
        "callbacks: created in the other order",
        _two_callbacks("ab"),
        _two_callbacks("ab", "ba"),
        N,
        N,
    ),
    Change("Child: two children swapped", _two_children("ab"), _two_children("ba"), N, N),
    Change(
        "Child of a @workflow: its own name given explicitly",
        _child_named(None),
        _child_named("priced"),
        OK,
        OK,
        result=2,
    ),
    Change(
        "Child of a @workflow: another name given",
        _child_named(None),
        _child_named("pricing"),
        N,
        N,
    ),
    Change(
        "Child in a Child: flattened to one level",
        _nested_children(False),
        _nested_children(True),
        OK,  # the outer child completed: it replays from its record
        OK,
        result=2,
    ),
    Change(
        "yield-from sub-workflow: made the step it yields",
        _sub_inline("sub"),
        _sub_inline("step"),
        OK,
        OK,
        result=2,
    ),
    Change(
        "yield-from sub-workflow: a Now added first in it",
        _sub_inline("sub"),
        _sub_inline("now-first"),
        N,
        N,
    ),
]

# --- G. Patched and Deprecated in branches, items, and their retirement ---------------------------


def _parallel_patched(mode: str, gated: str = "same") -> Any:
    """Two branches; ``mode`` changes the first one: ``old`` (one step), ``patched`` (a step
    added behind Patched), ``deprecated`` (the new path made unconditional), ``new`` (the step
    added unguarded), ``removed`` (Deprecated removed). ``gated``: where the execution waits
    (``same``: in the first branch, after the change; ``other``: in the second branch, the
    first one done; ``root``: after the Parallel)."""

    def first(x: int) -> Gen:
        if mode == "patched":
            if (yield dg.Patched("audit")):
                yield cleanup(x)
        elif mode == "deprecated":
            yield dg.Deprecated("audit")
            yield cleanup(x)
        elif mode in ("new", "removed"):
            yield cleanup(x)
        a = yield double(x)
        if gated == "same":
            yield from gate("gate-first")
        return a

    def second(x: int) -> Gen:
        a = yield count_of(x)
        if gated == "other":
            yield from gate()
        return a

    def workflow(x: int) -> Gen:
        r = yield dg.Parallel(
            [
                dg.Branch(functools.partial(first, x), name="first"),
                dg.Branch(functools.partial(second, x), name="second"),
            ],
            name="p",
        )
        if gated == "root":
            yield from gate()
        return r.results()

    return _named(workflow, f"parallel_patched[{mode},{gated}]")


def _items_patched(mode: str) -> Any:
    """Map items that wait at a gate; ``mode`` as for ``_parallel_patched``, in the items, with
    the step added before the gate."""

    def item(x: int) -> Gen:
        if mode == "patched":
            if (yield dg.Patched("audit")):
                yield cleanup(x)
        elif mode == "deprecated":
            yield dg.Deprecated("audit")
            yield cleanup(x)
        elif mode in ("new", "removed"):
            yield cleanup(x)
        a = yield double(x)
        yield from gate(f"gate-{x}")
        return a

    def workflow(x: int) -> Gen:
        r = yield dg.Map(item, [1, 2], name="m")
        return r.results()

    return _named(workflow, f"items_patched[{mode}]")


def _two_changes(a: str, b: str) -> Any:
    """Two changes at the root, each ``old``/``patched``/``deprecated``/``removed``."""

    def guarded(change: str, mode: str, step: Any, x: int) -> Gen:
        if mode == "patched":
            if (yield dg.Patched(change)):
                yield step(x)
        elif mode == "deprecated":
            yield dg.Deprecated(change)
            yield step(x)
        elif mode == "removed":
            yield step(x)

    def workflow(x: int) -> Gen:
        yield from guarded("first", a, cleanup, x)
        r = yield double(x)
        yield from guarded("second", b, count_of, x)
        yield from gate()
        return r

    return _named(workflow, f"two_changes[{a},{b}]")


def _patched_empty(mode: str) -> Any:
    """A Patched whose new path yields nothing, later removed."""

    def workflow(x: int) -> Gen:
        flag = False
        if mode == "patched":
            flag = yield dg.Patched("flag")
        elif mode == "deprecated":
            yield dg.Deprecated("flag")
            flag = True
        a = yield double(x)
        yield from gate()
        return [a, flag or mode == "removed"]

    return _named(workflow, f"patched_empty[{mode}]")


def _patched_same_id_in_child(mode: str) -> Any:
    """One change id evaluated at the root and, later, in a Child: each context decides."""

    def body(x: int) -> Gen:
        if mode != "old" and (yield dg.Patched("extra")):
            yield cleanup(x)
        return (yield double(x))

    def workflow(x: int) -> Gen:
        if mode != "old" and (yield dg.Patched("extra")):
            yield count_of(x)
        yield from gate()
        return (yield dg.Child(body, (x,), name="c"))

    return _named(workflow, f"patched_same_id_in_child[{mode}]")


VERSIONING = [
    Change(
        "Parallel branch: step added behind Patched, waiting in it",
        _parallel_patched("old"),
        _parallel_patched("patched"),
        OK,
        OK,
        result=[2, 3],
    ),
    Change(
        "Parallel branch: step added unguarded, waiting in it",
        _parallel_patched("old"),
        _parallel_patched("new"),
        N,
        OK,  # a completed branch replays from its record
        completed_result=[2, 3],
    ),
    # The first branch completed: it replays from its record, whatever its code says now.
    Change(
        "Parallel branch: step added unguarded, waiting in the other branch",
        _parallel_patched("old", gated="other"),
        _parallel_patched("new", gated="other"),
        OK,
        OK,
        result=[2, 3],
    ),
    Change(
        "Parallel branch: Deprecated on an old-path branch, waiting in it",
        _parallel_patched("old"),
        _parallel_patched("deprecated"),
        N,
        OK,
        completed_result=[2, 3],
    ),
    Change(
        "Parallel branch: Deprecated on an old-path branch, completed Parallel",
        _parallel_patched("old", gated="root"),
        _parallel_patched("deprecated", gated="root"),
        OK,
        OK,
        result=[2, 3],
    ),
    Change(
        "Parallel branch: Patched made Deprecated on a new-path branch, waiting in it",
        _parallel_patched("patched"),
        _parallel_patched("deprecated"),
        OK,
        OK,
        result=[2, 3],
    ),
    Change(
        "Parallel branch: Deprecated removed on a new-path branch, waiting in it",
        _parallel_patched("deprecated"),
        _parallel_patched("removed"),
        OK,
        OK,
        result=[2, 3],
    ),
    Change(
        "Parallel branch: Patched removed at once, new path kept, waiting in it",
        _parallel_patched("patched"),
        _parallel_patched("removed"),
        OK,
        OK,
        result=[2, 3],
    ),
    Change(
        "Map items: Patched made Deprecated, waiting inside",
        _items_patched("patched"),
        _items_patched("deprecated"),
        OK,
        OK,
        result=[2, 4],
    ),
    Change(
        "Map items: Deprecated on old-path items, waiting inside",
        _items_patched("old"),
        _items_patched("deprecated"),
        N,
        OK,
        completed_result=[2, 4],
    ),
    Change(
        "Map items: Deprecated removed, waiting inside",
        _items_patched("deprecated"),
        _items_patched("removed"),
        OK,
        OK,
        result=[2, 4],
    ),
    Change(
        "Map items: Patched removed with its new path, waiting inside",
        _items_patched("patched"),
        _items_patched("old"),
        N,
        OK,
        completed_result=[2, 4],
    ),
    Change(
        "two changes: the first retired while the second is Patched",
        _two_changes("patched", "patched"),
        _two_changes("removed", "patched"),
        OK,
        OK,
        result=2,
    ),
    Change(
        "two changes: the second made Deprecated before the first",
        _two_changes("patched", "patched"),
        _two_changes("patched", "deprecated"),
        OK,
        OK,
        result=2,
    ),
    Change(
        "two changes: both removed at once, Deprecated skipped",
        _two_changes("patched", "patched"),
        _two_changes("removed", "removed"),
        OK,
        OK,
        result=2,
    ),
    Change(
        "two changes: the first Deprecated on an execution that skipped it",
        _two_changes("old", "old"),
        _two_changes("deprecated", "patched"),
        N,
        N,
    ),
    Change(
        "Patched with an empty new path: made Deprecated",
        _patched_empty("patched"),
        _patched_empty("deprecated"),
        OK,
        OK,
        result=[2, True],
    ),
    Change(
        "Patched with an empty new path: removed",
        _patched_empty("patched"),
        _patched_empty("removed"),
        OK,
        OK,
        result=[2, True],
    ),
    Change(
        "Patched with an empty new path: added past the point",
        _patched_empty("old"),
        _patched_empty("patched"),
        OK,
        OK,
        result=[2, False],
    ),
    Change(
        "one change id at the root and in a Child: added while waiting between",
        _patched_same_id_in_child("old"),
        _patched_same_id_in_child("new"),
        OK,
        OK,
        result=2,
    ),
]

# --- H. a batch's max_concurrency lowered while its started items wait ----------------------------


@dg.step(name="doubled")
def doubled(x: int) -> int:
    return 2 * x


def _held_back(kind: str, nesting: Any, limit: int | None, step: Any = double) -> Any:
    """Two items (or branches) that both started and wait at their gates; version 2 may give
    the batch a lower ``max_concurrency`` and rename the step of the second."""

    def unit(x: int) -> Gen:
        a = yield (double if x == 1 else step)(x)
        yield from gate(f"gate-{x}")
        return a

    def workflow(x: int) -> Gen:
        if kind == "Map":
            r = yield dg.Map(unit, [1, 2], name="m", max_concurrency=limit, nesting=nesting)
        else:
            r = yield dg.Parallel(
                [
                    dg.Branch(functools.partial(unit, 1), name="one"),
                    dg.Branch(functools.partial(unit, 2), name="two"),
                ],
                name="p",
                max_concurrency=limit,
                nesting=nesting,
            )
        return r.results()

    return _named(workflow, f"held_back[{kind},{nesting},{limit},{step.name}]")


# Before: with the limit lowered to 1, the second item (started, waiting) was held back until
# the first completed, so a replay stopped at the first item's gate and said ok, while the
# engine failed once the first was answered. A started item resumes whatever the limit.
HELD_BACK = [
    Change(
        f"{kind} ({nesting}): max_concurrency=1 set and a started {unit}'s step renamed",
        _held_back(kind, nesting, None),
        _held_back(kind, nesting, 1, doubled),
        N,
        OK,  # a completed batch replays from its record: its items' bodies do not run
        completed_result=[2, 4],
    )
    for kind, unit in (("Map", "item"), ("Parallel", "branch"))
    for nesting in ("nested", "flat")
] + [
    Change(
        f"{kind} ({nesting}): max_concurrency=1 set, both started",
        _held_back(kind, nesting, None),
        _held_back(kind, nesting, 1),
        OK,
        OK,
        result=[2, 4],
    )
    for kind in ("Map", "Parallel")
    for nesting in ("nested", "flat")
]


CHANGES = [*LOOPS, *HELPERS, *EXCEPTIONS, *RETRIES, *BATCHES, *SHAPES, *VERSIONING, *HELD_BACK]

# --- the judge ------------------------------------------------------------------------------------


def _sqlite_routes(change: Change, completed: bool, tmp_path: Path) -> dict[str, tuple[str, Any]]:
    """Version 1 on SQLite, its own operations and events replayed on version 2 as the engine
    gives them, the events with the ARN the execution had (nothing else names it)."""
    clock = VirtualClock(auto_advance=False)
    service = _engine(tmp_path / "own.sqlite", clock, change.v1)
    arn = service.start("wf", json.dumps(change.input))
    if completed:
        assert _run_out(service, clock, arn).status == "SUCCEEDED"
    else:
        assert service.run(arn).status == "RUNNING"
    out = {}
    for label, source in (
        ("replay (SQLite operations)", list(service.get_operations(arn))),
        ("replay (SQLite events)", list(service.get_history(arn))),
    ):
        report = replay(change.v2, source, execution_arn=arn)
        verdict = _replay_verdict(report)
        result = _json(report.result) if report.outcome == "succeeded" else None
        out[label] = (verdict, result)
    return out


def verdicts_of(
    change: Change, completed: bool, tmp_path: Path, durable_replayer: Replayer
) -> tuple[dict[str, str], dict[str, Any]]:
    """Every route's verdict on the change, and the result of those that accept it."""
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
    verdicts["engine (SQLite)"], results["engine (SQLite)"] = _sqlite(change, completed, tmp_path)
    report = replay(change.v2, export)
    verdicts["replay"] = _replay_verdict(report)
    if completed and report.outcome == "succeeded":
        results["replay"] = _json(report.result)
    events = {"DurableExecutionArn": export["DurableExecutionArn"], "Events": export["Events"]}
    verdicts["replay (events)"] = _replay_verdict(replay(change.v2, events))
    path = tmp_path / "history.json"
    path.write_text(json.dumps(export))
    verdicts["durable_replayer"] = _replay_verdict(durable_replayer.replay(change.v2, path))
    verdicts["CLI history + replay_folder"] = _cli_replay(change, completed, tmp_path)
    for label, (verdict, result) in _sqlite_routes(change, completed, tmp_path).items():
        verdicts[label] = verdict
        if completed and verdict == OK and result is not None:
            results[label] = result
    return verdicts, results


def judge(change: Change, state: str, tmp_path: Path, durable_replayer: Replayer) -> None:
    expected = change.suspended if state == "suspended" else change.completed
    if expected is None:
        pytest.skip("not applicable")
    completed = state == "completed"
    verdicts, results = verdicts_of(change, completed, tmp_path, durable_replayer)
    assert verdicts == dict.fromkeys(verdicts, expected)
    if expected != OK:
        return
    wanted = change.result
    if completed and change.completed_result is not SAME:
        wanted = change.completed_result
    if wanted is ...:
        wanted = next(iter(results.values()))
    assert results == dict.fromkeys(results, wanted)


def _sqlite(change: Change, completed: bool, tmp_path: Path) -> tuple[str, Any]:
    """Version 1 on SQLite; version 2 resumes it in a new process, or (completed) an
    interpreter replays its operations with the execution's ARN."""
    clock = VirtualClock(auto_advance=False)
    path = tmp_path / "db.sqlite"
    old = _engine(path, clock, change.v1)
    arn = old.start("wf", json.dumps(change.input))
    if completed:
        assert _run_out(old, clock, arn).status == "SUCCEEDED"
        ops = [msgspec_builtins(op) for op in old.get_operations(arn)]
        return _interpreter(change.v2, {"DurableExecutionArn": arn, "Operations": ops})
    assert old.run(arn).status == "RUNNING"
    return _outcome(_run_out(_engine(path, clock, change.v2), clock, arn))


def _cli_replay(change: Change, completed: bool, tmp_path: Path) -> str:
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


@pytest.mark.parametrize("state", ["suspended", "completed"])
@pytest.mark.parametrize("change", CHANGES, ids=[c.name for c in CHANGES])
def test_every_route_judges_a_change_alike(
    change: Change, state: str, tmp_path: Path, durable_replayer: Replayer
) -> None:
    judge(change, state, tmp_path, durable_replayer)


def test_the_corpus_is_large_and_its_names_unique() -> None:
    assert len(CHANGES) >= 60
    assert len({c.name for c in CHANGES}) == len(CHANGES)


@pytest.mark.parametrize(
    "workflow",
    list(dict.fromkeys(w for c in CHANGES for w in (c.v1, c.v2))),
    ids=lambda w: w.__qualname__,
)
def test_every_version_is_deterministic_on_its_own(workflow: Callable[..., Gen]) -> None:
    """The versions are correct workflows: what the corpus sees is the change alone."""
    change = next(c for c in CHANGES if workflow in (c.v1, c.v2))

    def answer(run: DurableRun) -> None:
        for op in run.operations(type="CALLBACK"):
            if op.status == "STARTED" and op.callback_id is not None:
                run.runner.send_callback_success(op.callback_id, ANSWER)

    assert_deterministic(workflow, change.input, functions=FUNCTIONS, on_idle=answer, random_runs=1)


@pytest.mark.parametrize("state", ["suspended", "completed"])
@pytest.mark.parametrize(
    ("name", "caught", "catch", "how", "verdict"),
    CALLBACK_FAILURES,
    ids=[c[0] for c in CALLBACK_FAILURES],
)
def test_a_callback_failure_caught_otherwise(
    name: str, caught: Any, catch: Any, how: str, verdict: str, state: str
) -> None:
    """A callback that failed or timed out, caught by another except clause in version 2:
    the engine (resuming), the replay of the export and that of its events agree."""
    timeout = 60 if how == "timeout" else None
    v1, v2 = _callback_caught(caught, timeout), _callback_caught(catch, timeout)
    runner = TestRunner(skip_time=False)
    run = runner.run(v1, 1)
    if how == "timeout":
        runner.advance(61)
    else:
        run.send_callback_failure("decision", "Rejected", "no")
        runner.run_until_idle()
    assert run.status == "RUNNING", run.error
    if state == "completed":
        run.send_callback_success("gate", 1)
        runner.run_until_idle()
        assert run.status == "SUCCEEDED", run.error
    export = run.export()
    verdicts = {
        "replay": _replay_verdict(replay(v2, export)),
        "replay (events)": _replay_verdict(
            replay(
                v2,
                {"DurableExecutionArn": export["DurableExecutionArn"], "Events": export["Events"]},
            )
        ),
    }
    if state == "suspended":
        runner.deploy(v1, v2)
        run.send_callback_success("gate", 1)
        runner.run_until_idle()
        verdicts["engine"] = _verdict(run.status, run.error)
    assert verdicts == dict.fromkeys(verdicts, verdict)


# --- the new code's own error inside a context, on a resume --------------------------------------


def _answered(kind: str, v2: bool) -> Callable[..., Gen]:
    """Waits on a callback inside a context; version 2 fails the context with an error of its
    own once the answer is read (``kind`` says where and how)."""

    def body(x: int) -> Gen:
        answer = yield from gate("approval")
        if v2 and kind in ("raises", "map"):
            raise ValueError(f"cannot use {answer}")
        return answer

    def item(x: int) -> Gen:
        return (yield from body(x))

    def workflow(x: int) -> Gen:
        if kind == "wait_for_callback":
            return (
                yield dg.WaitForCallback(
                    lambda callback_id: None, name="approval", result_type=int if v2 else None
                )
            )
        if kind == "map":
            r = yield dg.Map(item, [x], name="m")
            return r.get_results()
        return (yield dg.Child(body, (x,), name="c"))

    return _named(workflow, f"answered[{kind},{v2}]")


@pytest.mark.parametrize(
    ("kind", "error_type"),
    [
        ("wait_for_callback", "SerializationError"),  # result_type= that cannot read the answer
        ("raises", "ValueError"),  # a Child's body raises on the answer
        ("map", "ValueError"),  # a Map item's body does (get_results() raises it)
    ],
)
def test_an_error_of_the_new_code_inside_a_context_is_a_failed_replay(
    kind: str, error_type: str
) -> None:
    """The answer to a callback is recorded and the execution not yet resumed: version 2
    fails there with an error of its own, inside a context. The engine fails the execution
    with it; ``replay`` said ``ok`` (as for a recorded failure), and now says ``failed``, as
    it does for the same error raised at the top of the workflow."""
    v1, v2 = _answered(kind, False), _answered(kind, True)
    runner = TestRunner()
    run = runner.run(v1, 1)
    assert run.status == "RUNNING", run.error
    run.send_callback_success("approval", {"by": 1})  # recorded; the execution not resumed
    export = run.export()
    events = {"DurableExecutionArn": export["DurableExecutionArn"], "Events": export["Events"]}
    for report in (replay(v2, export), replay(v2, events)):
        assert (report.status, report.ok, report.outcome) == ("failed", False, "failed")
        assert report.error is not None and report.error.error_type == error_type
    runner.deploy(v1, v2)
    runner.run_until_idle()
    assert run.status == "FAILED" and run.error is not None
    assert run.error.error_type == error_type


def test_a_recorded_failure_reaching_the_workflow_through_a_context_still_replays_ok() -> None:
    """The callback was answered with a failure, which the child does not catch: resumed,
    the execution fails from what it recorded, with the same code or the new one."""
    wf = _answered("child", False)
    runner = TestRunner()
    run = runner.run(wf, 1)
    run.send_callback_failure("approval", "Rejected", "no")
    report = replay(wf, run.export())
    assert (report.status, report.outcome) == ("ok", "failed"), report.message
    runner.run_until_idle()
    assert run.status == "FAILED" and run.error is not None
    assert run.error.error_type == report.error.error_type == "Rejected"  # type: ignore[union-attr]


def test_a_caught_error_of_the_code_does_not_make_a_recorded_failure_its_own() -> None:
    """A child's own error, caught, then a recorded failure of the same type reaching the
    workflow: still a failure from what was recorded (``ok``)."""

    def broken() -> Gen:
        yield dg.Now()
        raise ValueError("the child's own")

    def workflow(x: int) -> Gen:
        try:
            yield dg.Child(broken, name="broken")
        except dg.ChildFailedError as exc:
            assert exc.error_type == "ValueError"
        return (yield from gate("approval"))

    runner = TestRunner()
    run = runner.run(workflow, 1)
    run.send_callback_failure("approval", "ValueError", "the answer's")
    report = replay(workflow, run.export())
    assert (report.status, report.outcome) == ("ok", "failed"), report.message
    runner.run_until_idle()
    assert run.status == "FAILED" and run.error is not None
    assert run.error.error_message == "the answer's"
