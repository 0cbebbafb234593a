"""A tenth corpus of code changes made between deployments, judged by every route of
``test_change_corpus_round8.py`` (the engine in memory and on SQLite, a new process on the
SQLite file, the Lambda handler, the interpreter, ``replay`` of the export and of its events,
the pytest plugin's ``durable_replayer``, ``durable-gen history --json`` replayed by
``replay_folder``, the test runner in each checkpointing mode and in AWS's payload format).
Each must give the verdict docs/versioning.md gives and, when it accepts, the same result.

Its emphasis: changes deep inside contexts (children four deep, a Map inside a Child inside a
Parallel branch, Maps in Map items), where what matters besides the verdict is that every
route names the same operation, the innermost one that differs, and the contexts it sits in
by their type and name (the position names its context by id only); and exceptions changed
between deploys (another exception class, another test of ``error_type``, ``error_data``).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.local import VirtualClock
from durable_gen.testing import TestRunner, load_history, replay
from durable_gen.testing.pytest_plugin import Replayer
from tests.unit.testing.test_change_corpus_options import (
    FUNCTIONS,
    OK,
    RAISED,
    Change,
    Gen,
    N,
    _drive,
    _engine,
    _run_out,
    gate,
)
from tests.unit.testing.test_change_corpus_round8 import _named, judge


@dg.step
def fetch(x: int) -> int:
    return x + 1


@dg.step
def fetch2(x: int) -> int:
    return x + 1


@dg.step(name="fetch")
def fetch_plus(x: int) -> int:
    """``fetch`` of version 2: another body under the same name."""
    return x + 100


@dg.step(name="fetch")
async def fetch_async(x: int) -> int:
    return x + 1


@dg.step(name="fetch", semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def fetch_at_most_once(x: int) -> int:
    return x + 1


@dg.step(name="fetch", retry=dg.Retry(max_attempts=2, initial_delay=7, jitter="none"))
def fetch_retried(x: int) -> int:
    return x + 1


@dg.step
def audit(x: int) -> int:
    return -x


@dataclass(frozen=True)
class Where:
    """What a non-determinism message must name: the recorded operation (``recorded``, as
    the message writes it) and the names of the contexts it sits in, innermost first (empty at
    the root)."""

    recorded: str
    contexts: tuple[str, ...] = ()
    inside: str | None = None  # a context that records nothing, named in the position


#: The change's name -> what its NonDeterminismError names (changes judged nondet only).
WHERE: dict[str, Where] = {}


def _change(
    name: str,
    v1: Callable[..., Gen],
    v2: Callable[..., Gen],
    suspended: str,
    completed: str | None,
    where: Where | None = None,
    **options: Any,
) -> Change:
    if where is not None:
        WHERE[name] = where
    return Change(name, v1, v2, suspended, completed, **options)


# --- A. children four deep -----------------------------------------------------------------------


def _deep(
    step: Any = fetch,
    *,
    insert: int | None = None,
    patched: int | None = None,
    rename: tuple[int, str] | None = None,
    virtual: int | None = None,
    inline: int | None = None,
    deprecated: int | None = None,
    append: int | None = None,
    arg: int = 0,
    wait: int | None = None,
) -> Any:
    """Children ``c1`` to ``c4``, one in the other; ``c4`` runs ``step`` and waits at the
    gate (or a wait of ``wait`` seconds). The options change level k: a step inserted before
    its child (``insert``, behind ``Patched`` with ``patched``), the child at k renamed
    (``rename``), made virtual or inlined with ``yield from``, a ``Deprecated`` first in it, a
    step appended after what it does."""

    def level(k: int, x: int) -> Gen:
        if deprecated == k:
            yield dg.Deprecated("audit")
            yield audit(x)
        if insert == k:
            yield audit(x)
        if patched == k and (yield dg.Patched("audit")):
            yield audit(x)
        if k == 4:
            a = yield step(x + arg)
            if wait is not None:
                yield dg.Wait(seconds=wait, name="cool-off")
            else:
                yield from gate()
        elif inline == k + 1:
            a = yield from level(k + 1, x)
        else:
            name = rename[1] if rename is not None and rename[0] == k + 1 else f"c{k + 1}"
            a = yield dg.Child(level, (k + 1, x), name=name, virtual=virtual == k + 1)
        if append == k:
            a += yield audit(x)
        return a

    def workflow(x: int) -> Gen:
        name = rename[1] if rename is not None and rename[0] == 1 else "c1"
        return (yield dg.Child(level, (1, x), name=name, virtual=virtual == 1))

    label = ",".join(f"{k}={v}" for k, v in locals().items() if k not in ("level", "workflow"))
    return _named(workflow, f"deep[{label}]")


C4 = ("c4", "c3", "c2", "c1")

DEEP = [
    _change(
        "deep: the innermost step renamed, waiting there",
        _deep(),
        _deep(fetch2),
        N,
        OK,  # completed children replay from their record
        Where("name='fetch'", C4),
        result=2,
    ),
    _change(
        "deep: the innermost step given another body under its name",
        _deep(),
        _deep(fetch_plus),
        OK,
        OK,
        result=2,  # recorded before the deploy
    ),
    _change("deep: the innermost step made async", _deep(), _deep(fetch_async), OK, OK, result=2),
    _change(
        "deep: the innermost step made at-most-once",
        _deep(),
        _deep(fetch_at_most_once),
        OK,
        OK,
        result=2,
    ),
    _change(
        "deep: the innermost step's retry policy changed",
        _deep(),
        _deep(fetch_retried),
        OK,
        OK,
        result=2,
    ),
    _change(
        "deep: the innermost step's argument changed",
        _deep(),
        _deep(arg=5),
        OK,
        OK,
        result=2,  # arguments are not compared: the recorded result
    ),
    _change(
        "deep: a step inserted at the second level",
        _deep(),
        _deep(insert=2),
        N,
        OK,
        Where("name='c3'", ("c2", "c1")),
        result=2,
    ),
    _change(
        "deep: a step inserted at the second level behind Patched",
        _deep(),
        _deep(patched=2),
        OK,
        OK,
        result=2,
    ),
    _change(
        "deep: a step inserted first in the innermost, behind Patched",
        _deep(),
        _deep(patched=4),
        OK,
        OK,
        result=2,
    ),
    _change(
        "deep: a step inserted first in the innermost, unguarded",
        _deep(),
        _deep(insert=4),
        N,
        OK,
        Where("name='fetch'", C4),
        result=2,
    ),
    _change(
        "deep: the innermost child renamed",
        _deep(),
        _deep(rename=(4, "inner")),
        N,
        OK,
        Where("name='c4'", C4[1:]),
        result=2,
    ),
    _change(
        "deep: the outermost child renamed",
        _deep(),
        _deep(rename=(1, "outer")),
        N,
        N,  # a completed child's name is matched at its parent
        Where("name='c1'"),
    ),
    _change(
        "deep: the innermost child made virtual",
        _deep(),
        _deep(virtual=4),
        N,
        OK,
        Where("name='c4'", C4[1:]),
        result=2,
    ),
    _change(
        "deep: the third level inlined with yield from",
        _deep(),
        _deep(inline=3),
        N,
        OK,
        Where("name='c3'", C4[2:]),
        result=2,
    ),
    _change(
        "deep: Deprecated first in the third level, executions on the old path",
        _deep(),
        _deep(deprecated=3),
        N,
        OK,
        Where("name='c4'", C4[1:]),
        result=2,
    ),
    _change(
        "deep: a step appended in the innermost, after its gate",
        _deep(),
        _deep(append=4),
        OK,
        OK,
        result=1,
        completed_result=2,
    ),
    _change(
        "deep: a step appended at the second level, after its child",
        _deep(),
        _deep(append=2),
        OK,
        OK,
        result=1,
        completed_result=2,
    ),
    _change(
        "deep: the innermost wait lengthened, waiting on it",
        _deep(wait=60),
        _deep(wait=6000),
        OK,
        OK,
        result=2,
    ),
]


# --- B. a Map inside a Child inside a Parallel branch --------------------------------------------


def _pcm(
    step: Any = fetch,
    *,
    items: tuple[int, ...] = (1, 2),
    namer: Any = None,
    nesting: Any = "nested",
    child: str = "c",
    swap: bool = False,
    condition: str | None = None,
) -> Any:
    """``Parallel`` of ``p1`` (a ``Child`` holding a ``Map`` whose items run ``step`` then
    wait at their gate) and ``p2`` (one step)."""

    def item(x: int) -> Gen:
        a = yield step(x)
        if condition is not None:
            a += yield dg.WaitForCondition(
                _count_up,
                0,
                wait_strategy=dg.WaitStrategy(until=_at_two, delay=10, backoff=1.0),
                name=condition,
            )
        else:
            yield from gate(f"gate-{x}")
        return a

    def inner(x: int) -> Gen:
        r = yield dg.Map(item, list(items), name="m", item_namer=namer, nesting=nesting)
        return r.results()

    def first() -> Gen:
        return (yield dg.Child(inner, (1,), name=child))

    def second() -> Gen:
        return (yield fetch(10))

    def workflow(x: int) -> Gen:
        branches = [dg.Branch(first, name="p1"), dg.Branch(second, name="p2")]
        r = yield dg.Parallel(branches[::-1] if swap else branches, name="p")
        return r.results()

    label = f"{step.name},{items},{namer},{nesting},{child},{swap},{condition}"
    return _named(workflow, f"pcm[{label}]")


def _count_up(state: int) -> int:
    return state + 1


def _at_two(state: int) -> bool:
    return state >= 2


def _by_value(x: int, index: int) -> str:
    return f"item-{x}"


PCM_ITEM = ("map-item-0", "m", "c", "p1", "p")

PCM = [
    _change(
        "Parallel>Child>Map: the items' step renamed, waiting in the items",
        _pcm(),
        _pcm(fetch2),
        N,
        OK,
        Where("name='fetch'", PCM_ITEM),
    ),
    _change(
        "Parallel>Child>Map: the items' step given another body",
        _pcm(),
        _pcm(fetch_plus),
        OK,
        OK,
        result=[[2, 3], 11],
    ),
    _change(
        "Parallel>Child>Map: the items' step made at-most-once",
        _pcm(),
        _pcm(fetch_at_most_once),
        OK,
        OK,
        result=[[2, 3], 11],
    ),
    _change(
        "Parallel>Child>Map: one more item, waiting in the items",
        _pcm(),
        _pcm(items=(1, 2, 3)),
        OK,  # docs: items added while an execution waits inside are not detected
        OK,  # the Parallel completed: replayed from its record
        result=[[2, 3, 4], 11],
        completed_result=[[2, 3], 11],
    ),
    _change(
        "Parallel>Child>Map: a started item removed, waiting in the items",
        _pcm(),
        _pcm(items=(1,)),
        N,
        OK,
        Where("Map 'm' with at least 2 items", ("c", "p1", "p")),
        completed_result=[[2, 3], 11],
    ),
    _change(
        "Parallel>Child>Map: item_namer added",
        _pcm(),
        _pcm(namer=_by_value),
        N,
        OK,
        Where("Map 'm' item 0 named 'map-item-0'", ("c", "p1", "p")),
        completed_result=[[2, 3], 11],
    ),
    _change(
        "Parallel>Child>Map: the Map made flat",
        _pcm(),
        _pcm(nesting="flat"),
        N,
        OK,
        Where("Map 'm' with nesting='nested'", ("c", "p1", "p")),
        completed_result=[[2, 3], 11],
    ),
    _change(
        "Parallel>Child>Map: the Child renamed",
        _pcm(),
        _pcm(child="group"),
        N,
        OK,
        Where("name='c'", ("p1", "p")),
        completed_result=[[2, 3], 11],
    ),
    _change(
        "Parallel>Child>Map: the named branches swapped",
        _pcm(),
        _pcm(swap=True),
        N,
        N,  # branch names are matched, completed batches included
        Where("Parallel 'p' with branches ['p1', 'p2']"),
    ),
    _change(
        "Parallel>Child>Map: the items' condition renamed while polling",
        _pcm(condition="poll"),
        _pcm(condition="poll-v2"),
        N,
        OK,
        Where("name='poll'", PCM_ITEM),
    ),
]


# --- C. exceptions changed between deploys -------------------------------------------------------


class Declined(Exception):
    pass


class Refused(Exception):
    pass


@dg.step(retry=dg.Retry.never())
def pay(x: int) -> int:
    raise Declined(f"card {x} declined")


@dg.step(name="pay", retry=dg.Retry.never())
def pay_refused(x: int) -> int:
    raise Refused(f"card {x} refused")


@dg.step(name="pay", retry=dg.Retry.never())
def pay_ok(x: int) -> int:
    return x


@dg.step(name="pay", retry=dg.Retry.never())
def pay_with_data(x: int) -> int:
    raise dg.StepFailedError("declined", error_type="Declined", error_data='{"code": 51}')


@dg.step(name="pay", retry=dg.Retry.never())
def pay_with_other_data(x: int) -> int:
    raise dg.StepFailedError("declined", error_type="Declined", error_data='{"code": 5}')


def _paying(step: Any = pay, test: str = "Declined", *, depth: int = 0, data: bool = False) -> Any:
    """``step`` at ``depth`` children under the root; its failure caught, tested by
    ``error_type`` (or its ``error_data``'s code), choosing which step runs next; then the
    gate."""

    def body(x: int) -> Gen:
        try:
            a = yield step(x)
        except dg.StepFailedError as exc:
            if data:
                code = json.loads(exc.error_data or "{}").get("code")
                a = yield (audit(x) if code == 51 else fetch2(x))
            elif exc.error_type.rsplit(".", 1)[-1] == test:  # either format (docs/lambda.md)
                a = yield audit(x)
            else:
                a = yield fetch2(x)
        yield from gate()
        return a

    def nest(k: int, x: int) -> Gen:
        if k == depth:
            return (yield from body(x))
        return (yield dg.Child(nest, (k + 1, x), name=f"c{k + 1}"))

    def workflow(x: int) -> Gen:
        return (yield from nest(0, x))

    return _named(workflow, f"paying[{step.name},{step.fn.__name__},{test},{depth},{data}]")


EXCEPTIONS = [
    _change(
        "exceptions: the step raises another class, the test unchanged",
        _paying(),
        _paying(pay_refused),
        OK,  # the recorded failure comes back: Declined
        OK,
        result=-1,
    ),
    _change(
        "exceptions: the step fixed after its failure was recorded",
        _paying(),
        _paying(pay_ok),
        OK,
        OK,
        result=-1,
    ),
    _change(
        "exceptions: error_type tested for the new class",
        _paying(),
        _paying(test="Refused"),
        N,  # the recorded Declined now takes the other branch
        N,
        Where("name='audit'"),
    ),
    _change(
        "exceptions: error_type tested for the new class, three children deep",
        _paying(depth=3),
        _paying(test="Refused", depth=3),
        N,
        OK,  # the children completed
        Where("name='audit'", ("c3", "c2", "c1")),
        result=-1,
    ),
    _change(
        "exceptions: error_type tested for the new class, three deep, new class raised too",
        _paying(depth=3),
        _paying(pay_refused, "Refused", depth=3),
        N,  # what is recorded is Declined: the new test does not match it
        OK,
        Where("name='audit'", ("c3", "c2", "c1")),
        result=-1,
    ),
    _change(
        "exceptions: error_data read, the step now sends other data",
        _paying(pay_with_data, data=True),
        _paying(pay_with_other_data, data=True),
        OK,  # the recorded data comes back
        OK,
        result=-1,
    ),
    _change(
        "exceptions: error_data read in a Child, the step now sends other data",
        _paying(pay_with_data, depth=1, data=True),
        _paying(pay_with_other_data, depth=1, data=True),
        OK,
        OK,
        result=-1,
    ),
]


# --- D. a Map in Map items -----------------------------------------------------------------------


def _map_in_map(inner_items: tuple[int, ...] = (1, 2), step: Any = fetch) -> Any:
    def leaf(x: int) -> Gen:
        a = yield step(x)
        yield from gate(f"gate-{x}")
        return a

    def outer(x: int) -> Gen:
        r = yield dg.Map(leaf, [x * 10 + i for i in inner_items], name="inner")
        return r.results()

    def workflow(x: int) -> Gen:
        r = yield dg.Map(outer, [1], name="outer")
        return r.results()

    return _named(workflow, f"map_in_map[{inner_items},{step.name}]")


MAPS = [
    _change(
        "Map in Map items: the leaf step renamed, waiting in the leaves",
        _map_in_map(),
        _map_in_map(step=fetch2),
        N,
        OK,
        Where("name='fetch'", ("map-item-0", "inner", "map-item-0", "outer")),
    ),
    _change(
        "Map in Map items: an inner item more, waiting in the leaves",
        _map_in_map(),
        _map_in_map((1, 2, 3)),
        OK,  # docs: items added while an execution waits inside are not detected
        OK,
        result=[[12, 13, 14]],
        completed_result=[[12, 13]],
    ),
    _change(
        "Map in Map items: a started inner item removed, waiting in the leaves",
        _map_in_map(),
        _map_in_map((1,)),
        N,
        OK,
        Where("Map 'inner' with at least 2 items", ("map-item-0", "outer")),
        completed_result=[[12, 13]],
    ),
    _change(
        "Map in Map items: the leaf step made async",
        _map_in_map(),
        _map_in_map(step=fetch_async),
        OK,
        OK,
        result=[[12, 13]],
    ),
]


# --- E. code that raises inside a context before what the execution recorded there ----------------


@dg.step(retry=dg.Retry.never())
def refuses(x: int) -> int:
    raise PermissionError(f"no access to {x}")


def _raising_inside(where: str, *, bug: bool = False, caught: bool = True) -> Any:
    """A context (``where``: a Child, a virtual Child, a nested or flat Map item, a Parallel
    branch) whose body runs ``refuses`` (its failure caught, or not), then ``fetch``, then
    waits at its gate. ``bug``: the body raises an error of its own first."""

    def body(x: int) -> Gen:
        if bug:
            raise LookupError(f"no table for {x}")
        if caught:
            with contextlib.suppress(dg.StepFailedError):
                yield refuses(x)
        else:
            yield refuses(x)
        a = yield fetch(x)
        yield from gate()
        return a

    def workflow(x: int) -> Gen:
        if where == "caught child":
            try:
                return (yield dg.Child(body, (x,), name="c"))
            except dg.ChildFailedError:
                return "fallback"
        if where in ("child", "virtual"):
            return (yield dg.Child(body, (x,), name="c", virtual=where == "virtual"))
        if where == "branch":
            branches = [dg.Branch(lambda: (yield from body(x)), name="b")]
            return (yield dg.Parallel(branches, name="p")).results()
        r = yield dg.Map(body, [x], name="m", nesting=where.split()[0])
        return r.results()

    return _named(workflow, f"raising_inside[{where},{bug},{caught}]")


RAISING = [
    change
    for where in ("child", "caught child", "virtual", "nested item", "flat item", "branch")
    for change in (
        _change(
            f"{where}: a failure no longer caught, waiting after it inside",
            _raising_inside(where),
            _raising_inside(where, caught=False),
            RAISED,  # docs/versioning.md: fails the execution with that error, replay: failed
            RAISED if where == "virtual" else OK,  # a completed context is not run again
            result=[2] if "item" in where or where == "branch" else 2,
        ),
        _change(
            f"{where}: the body raises an error of its own first, waiting inside",
            _raising_inside(where),
            _raising_inside(where, bug=True),
            RAISED,  # as the same bug at the root: not a NonDeterminismError hiding the error
            RAISED if where == "virtual" else OK,
            result=[2] if "item" in where or where == "branch" else 2,
        ),
    )
]


# --- F. Invoke, conditions, guards and moves four children deep -------------------------------


def _deep_leaf(leaf: Callable[[int], Gen], label: str, hoist: Any = None) -> Any:
    """Children ``c1`` to ``c4``; ``c4`` runs ``leaf``. ``hoist``: a step the third level
    yields before ``c4`` (moved out of it)."""

    def level(k: int, x: int) -> Gen:
        if k == 4:
            return (yield from leaf(x))
        if k == 3 and hoist is not None:
            yield hoist(x)
        return (yield dg.Child(level, (k + 1, x), name=f"c{k + 1}"))

    def workflow(x: int) -> Gen:
        return (yield dg.Child(level, (1, x), name="c1"))

    return _named(workflow, f"deep_leaf[{label}]")


def _invoking(target: str, name: str) -> Any:
    def leaf(x: int) -> Gen:
        return (yield dg.Invoke(target, x, name=name))

    return _deep_leaf(leaf, f"invoke,{target},{name}")


def _double_up(state: int) -> int:
    return state + 2


def _polling(check: Any) -> Any:
    def leaf(x: int) -> Gen:
        return (
            yield dg.WaitForCondition(
                check, 0, wait_strategy=dg.WaitStrategy(until=_at_two, delay=10), name="poll"
            )
        )

    return _deep_leaf(leaf, f"poll,{check.__name__}")


def _guarded(guard: str | None) -> Any:
    def leaf(x: int) -> Gen:
        if guard == "if" and (yield dg.Patched("audit")):
            yield audit(x)
        if guard == "else" and not (yield dg.Patched("audit")):
            yield audit(x)  # the new code put in the else branch
        a = yield fetch(x)
        yield from gate()
        return a

    return _deep_leaf(leaf, f"guarded,{guard}")


def _stepping(hoisted: bool) -> Any:
    def leaf(x: int) -> Gen:
        a = 0 if hoisted else (yield fetch(x))
        yield from gate()
        return a

    return _deep_leaf(leaf, f"stepping,{hoisted}", hoist=fetch if hoisted else None)


DEEP_MORE = [
    _change(
        "deep: an Invoke waited on given another target",
        _invoking("slow-tax", "tax-call"),
        _invoking("tax", "tax-call"),
        OK,  # docs: the function an Invoke calls is not compared
        OK,
        result=2,
    ),
    _change(
        "deep: an Invoke waited on renamed",
        _invoking("slow-tax", "tax-call"),
        _invoking("slow-tax", "tax-call-v2"),
        N,
        OK,
        Where("name='tax-call'", C4),
        result=2,
    ),
    _change(
        "deep: a condition polled gets another check function",
        _polling(_count_up),
        _polling(_double_up),
        OK,  # docs: a check has no name to compare; the new one runs from then on
        OK,
    ),
    _change(
        "deep: a step inserted behind Patched, the new code under if",
        _guarded(None),
        _guarded("if"),
        OK,
        OK,
        result=2,
    ),
    _change(
        "deep: a step inserted behind Patched, the new code put in the else",
        _guarded(None),
        _guarded("else"),
        N,
        OK,
        Where("name='fetch'", C4),
        result=2,
    ),
    _change(
        "deep: the innermost step moved out to the level around it",
        _stepping(False),
        _stepping(True),
        N,
        OK,
        Where("name='c4'", C4[1:]),
        result=2,
    ),
]


# --- G. contexts that record nothing, four children deep --------------------------------------


def _unrecorded(kind: str, step: Any = fetch) -> Any:
    """Children ``c1`` to ``c3``; ``c3`` holds a virtual child ``v`` or a flat Map ``m`` of
    two items, whose bodies run ``step`` then wait at their gate."""

    def body(x: int) -> Gen:
        a = yield step(x)
        yield from gate(f"gate-{x}")
        return a

    def level(k: int, x: int) -> Gen:
        if k < 3:
            return (yield dg.Child(level, (k + 1, x), name=f"c{k + 1}"))
        if kind == "virtual":
            return (yield dg.Child(body, (x,), name="v", virtual=True))
        return (yield dg.Map(body, [x, x + 1], name="m", nesting="flat")).results()

    def workflow(x: int) -> Gen:
        return (yield dg.Child(level, (1, x), name="c1"))

    return _named(workflow, f"unrecorded[{kind},{step.name}]")


UNRECORDED = [
    _change(
        "deep: a virtual child's step renamed, waiting in it",
        _unrecorded("virtual"),
        _unrecorded("virtual", fetch2),
        N,
        OK,
        Where("name='fetch'", ("c3", "c2", "c1"), "CONTEXT/RunInChildContext name='v'"),
        result=2,
    ),
    _change(
        "deep: a flat Map's item step renamed, waiting in the items",
        _unrecorded("flat"),
        _unrecorded("flat", fetch2),
        N,
        OK,
        Where("name='fetch'", ("m", "c3", "c2", "c1"), "CONTEXT/MapIteration name='map-item-0'"),
        result=[2, 3],
    ),
    _change(
        "deep: a flat Map's item step made async, waiting in the items",
        _unrecorded("flat"),
        _unrecorded("flat", fetch_async),
        OK,
        OK,
        result=[2, 3],
    ),
]


CHANGES = DEEP + DEEP_MORE + UNRECORDED + PCM + EXCEPTIONS + MAPS + RAISING


@pytest.mark.parametrize("state", ["suspended", "completed"])
@pytest.mark.parametrize("change", CHANGES, ids=[c.name for c in CHANGES])
def test_every_route_judges_a_change_alike(
    change: Change, state: str, tmp_path: Path, durable_replayer: Replayer
) -> None:
    judge(change, state, tmp_path, durable_replayer)


def test_the_corpus_names_are_unique_and_each_divergence_says_where() -> None:
    assert len({c.name for c in CHANGES}) == len(CHANGES)
    for change in CHANGES:
        diverges = N in (change.suspended, change.completed)
        assert (change.name in WHERE) == diverges, change.name


# --- every route names the same operation, and where it sits -------------------------------------


def _interpreter_error(workflow: Callable[..., Gen], export: dict[str, Any]) -> str | None:
    """The error a host's interpreter ends with, given the history's operations (an ended
    execution resumed as a running one, as ``_interpreter`` of the options corpus does)."""
    history = load_history(export)
    operations = [
        msgspec.structs.replace(op, status="STARTED", end_timestamp=None)
        if op.type == "EXECUTION" else op
        for op in history.operations
    ]  # fmt: skip
    interp = rt.Interpreter(
        workflow, operations, execution_arn=history.execution_arn or "arn", clock=lambda: 1.7e9
    )
    for _ in range(1000):
        action = interp.next_action()
        if isinstance(action, rt.Done):
            outcome = action.outcome
            return outcome.error.error_message if isinstance(outcome, rt.Failed) else None
        if isinstance(action, rt.Flush):
            interp.observe([])
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                try:
                    interp.task_succeeded(task, task.fn(*task.args, **(task.kwargs or {})))
                except Exception as exc:
                    interp.task_failed(task, exc)
    raise AssertionError("the interpreter did not finish")


def _messages(change: Change, completed: bool, tmp_path: Path) -> dict[str, str | None]:
    """Each route's non-determinism message (None: it found none)."""
    out: dict[str, str | None] = {}
    for fmt in ("json", "aws"):
        runner = TestRunner(skip_time=False, functions=FUNCTIONS, payload_format=fmt)
        run = runner.run(change.v1, change.input)
        if completed:
            _drive(runner, run)
        export = run.export()
        events = {"DurableExecutionArn": export["DurableExecutionArn"], "Events": export["Events"]}
        for label, source in (("replay", export), ("replay of the events", events)):
            report = replay(change.v2, source)
            out[f"{label} ({fmt})"] = report.message if report.status == "diverged" else None
        out[f"interpreter ({fmt})"] = _interpreter_error(change.v2, export)
        if not completed:
            runner.deploy(change.v1, change.v2)
            _drive(runner, run)
            out[f"engine ({fmt})"] = run.error.error_message if run.error else None
    if not completed:
        clock = VirtualClock(auto_advance=False)
        path = tmp_path / "where.sqlite"
        old = _engine(path, clock, change.v1)
        arn = old.start("wf", json.dumps(change.input))
        assert old.run(arn).status == "RUNNING"
        record = _run_out(_engine(path, clock, change.v2), clock, arn)
        out["engine (SQLite, a new process)"] = record.error.error_message if record.error else None
    return out


DIVERGING = [(c, s) for c in CHANGES for s in ("suspended", "completed") if getattr(c, s) == N]


@pytest.mark.parametrize(
    ("change", "state"), DIVERGING, ids=[f"{c.name}-{s}" for c, s in DIVERGING]
)
def test_every_route_names_the_innermost_operation_and_its_contexts(
    change: Change, state: str, tmp_path: Path
) -> None:
    where = WHERE[change.name]
    messages = _messages(change, state == "completed", tmp_path)
    assert len(set(messages.values())) == 1, messages  # one message, whatever the route
    message = next(iter(messages.values()))
    assert message is not None
    assert where.recorded in message, message
    if where.inside is not None:
        assert f"({where.inside}, which records nothing" in message, message
    if not where.contexts:
        assert "Where:" not in message, message
        return
    chain = message.split(". Where: ", 1)[1]
    assert tuple(re.findall(r"name='([^']*)'", chain)) == where.contexts, message
    assert chain.endswith(", at the root"), message
