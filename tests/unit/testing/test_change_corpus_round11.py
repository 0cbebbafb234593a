"""An eleventh corpus of code changes made between deployments, judged by every route of
``test_change_corpus_round8.py`` (the engine in memory and on SQLite, a new process on the
SQLite file, the Lambda handler, the interpreter, ``replay`` of the export and of its events,
the pytest plugin's ``durable_replayer``, ``durable-gen history --json`` replayed by
``replay_folder``, the test runner in each checkpointing mode and in AWS's payload format).
Each must give the verdict docs/versioning.md gives and, when it accepts, the same result; a
change caught as non-determinism must be named alike by every route, with the operation
recorded and the contexts it sits in.

Its emphasis: Parallel branches moved, renamed or given other functions under kept names;
Maps given other item functions, counts and options inside contexts; steps moved into and out
of children; waits and callbacks changed once passed or while waited on inside contexts; retry
policies changed while a retry is pending in a context; `Patched` removed and `Deprecated`
given too early; `Invoke` targets and names; `result_type`; exceptions caught differently;
`WaitForCondition` changed while it polls.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, replay
from durable_gen.testing.pytest_plugin import Replayer
from tests.unit.testing.test_change_corpus_options import (
    FAILED,
    FUNCTIONS,
    OK,
    RAISED,
    Change,
    Gen,
    N,
    _drive,
    gate,
)
from tests.unit.testing.test_change_corpus_round8 import _named, judge
from tests.unit.testing.test_change_corpus_round10 import Where, _messages

# --- steps ----------------------------------------------------------------------------------------


@dg.step
def fetch(x: int) -> int:
    return x + 1


@dg.step
def load(x: int) -> int:
    return x + 2


@dg.step(name="fetch")
def fetch_other_body(x: int) -> int:
    return x + 50


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=5, jitter="none"))
def flaky(x: int) -> int:
    raise PermissionError(f"no access to {x}")


@dg.step(name="flaky", retry=dg.Retry.never())
def flaky_never(x: int) -> int:
    raise PermissionError(f"no access to {x}")


@dg.step(name="flaky", retry=dg.Retry(max_attempts=5, initial_delay=1, jitter="none"))
def flaky_more(x: int) -> int:
    raise PermissionError(f"no access to {x}")


@dg.step(retry=dg.Retry.never())
def refuses(x: int) -> int:
    raise PermissionError(f"no access to {x}")


@dg.step(name="fetch")
def fetch_as_str(x: int) -> str:
    return str(x + 1)


@dg.step(name="fetch")
def fetch_as_float(x: int) -> float:
    return float(x + 1)


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


def _gated(body: Callable[[int], Gen]) -> Callable[[int], Gen]:
    """``body`` then the gate: a branch or item that waits until the test answers."""

    def branch(x: int) -> Gen:
        a = yield from body(x)
        b = yield from gate(f"gate-{x}")
        return [a, b["by"]]

    return branch


# --- A. Parallel ----------------------------------------------------------------------------------


@dg.step
def one_b() -> int:
    return 3


@dg.step
def one_c() -> int:
    return 4


def _one(step: Any) -> Callable[[], Gen]:
    def branch() -> Gen:
        return (yield step(1))

    return branch


def _waiter() -> Gen:
    answer = yield from gate("gate-w")
    return answer["by"]


def _parallel(
    order: str = "abcw",
    *,
    a: Any = fetch,
    b: Any = one_b,
    c: Any = one_c,
    name: str = "p",
    in_child: bool = False,
    completion: dg.Completion | None = None,
    max_concurrency: int | None = None,
    arg: int = 1,
    gate_name: str = "gate-w",
) -> Any:
    """``Parallel`` of branches ``a`` (one step, through a generator), ``b`` (a step function
    under a Branch name) and ``w`` (waits at a gate), in ``order``; then the gate at the root."""

    def first() -> Gen:
        return (yield a(arg))

    def waiter() -> Gen:
        answer = yield from gate(gate_name)
        return answer["by"]

    branches = {
        "a": dg.Branch(first, name="a"),
        "b": dg.Branch(b, name="b"),
        "c": dg.Branch(c, name="c"),
        "w": dg.Branch(waiter, name="w"),
        "n": dg.Branch(_one(fetch), name="n"),
    }

    def batch() -> Gen:
        r = yield dg.Parallel(
            [branches[k] for k in order],
            name=name,
            completion=completion,
            max_concurrency=max_concurrency,
        )
        return r.results()

    def workflow(x: int) -> Gen:
        if in_child:
            r = yield dg.Child(batch, name="c")
        else:
            r = yield from batch()
        yield from gate()
        return r

    label = f"{order},{a.name},{b.name},{c.name},{name},{in_child},{completion}"
    label += f",{max_concurrency},{arg},{gate_name}"
    return _named(workflow, f"parallel[{label}]")


PARALLEL = [
    _change(
        "Parallel: named branches reordered, in a Child",
        _parallel(in_child=True),
        _parallel("bacw", in_child=True),
        N,
        OK,  # the completed Child replays from its record
        Where("branches ['a', 'b', 'c', 'w']", ("c",)),
    ),
    _change(
        "Parallel: step branches given each other's function under kept names",
        _parallel(),
        _parallel(b=one_c, c=one_b),
        N,
        N,
        Where("branch 1 ('b') running step 'one_b'"),
    ),
    _change(
        "Parallel: a branch inserted first",
        _parallel(),
        _parallel("nabcw"),
        N,
        N,
        Where("Parallel 'p'"),
    ),
    _change(
        "Parallel: the Parallel renamed",
        _parallel(),
        _parallel(name="fan-out"),
        N,
        N,
        Where("name='p'"),
    ),
    _change(
        "Parallel: the waiting branch's gate renamed",
        _parallel(),
        _parallel(gate_name="gate-v"),
        N,
        OK,  # the completed branch replays from its record
        Where("name='gate-w'", ("w", "p")),
    ),
    _change(
        "Parallel: a branch's step argument changed",
        _parallel(),
        _parallel(arg=7),
        OK,
        OK,
        result=[2, 3, 4, 1],
    ),
    _change(
        "Parallel: tolerated_failure_count set",
        _parallel(),
        _parallel(completion=dg.Completion(tolerated_failure_count=1)),
        OK,
        OK,
        result=[2, 3, 4, 1],
    ),
    _change(
        "Parallel: max_concurrency=2 set, all three started",
        _parallel(),
        _parallel(max_concurrency=2),
        OK,
        OK,
        result=[2, 3, 4, 1],
    ),
    _change(
        "Parallel: the waiting branch moved first",
        _parallel(),
        _parallel("wabc"),
        N,
        N,
        Where("branches ['a', 'b', 'c', 'w']"),
    ),
    _change(
        "Parallel: the last branch removed",
        _parallel(),
        _parallel("abc"),
        N,
        N,
        Where("Parallel 'p' with"),
    ),
]

# --- B. Map ---------------------------------------------------------------------------------------


def _mapped(
    fn: Any = fetch,
    items: tuple[int, ...] = (1, 2, 3),
    *,
    where: str = "root",
    max_concurrency: int | None = None,
    completion: dg.Completion | None = None,
    name: str = "m",
) -> Any:
    """A Map of ``fn`` over ``items`` (at the root, in a Child, or in a Parallel branch beside
    a waiting branch), then the gate."""

    def batch() -> Gen:
        r = yield dg.Map(
            fn, list(items), name=name, max_concurrency=max_concurrency, completion=completion
        )
        return r.results()

    def workflow(x: int) -> Gen:
        if where == "child":
            r = yield dg.Child(batch, name="c")
        elif where == "parallel":
            p = yield dg.Parallel(
                [dg.Branch(batch, name="mapping"), dg.Branch(_waiter, name="w")], name="p"
            )
            r = p.results()
        else:
            r = yield from batch()
        yield from gate()
        return r

    label = (
        f"{getattr(fn, 'name', fn.__name__)},{items},{where},{max_concurrency},{completion},{name}"
    )
    return _named(workflow, f"mapped[{label}]")


def _fetch_then_gate(x: int) -> Gen:
    a = yield fetch(x)
    answer = yield from gate(f"gate-{x}")
    return a + answer["by"]


def _load_then_gate(x: int) -> Gen:
    a = yield load(x)
    answer = yield from gate(f"gate-{x}")
    return a + answer["by"]


def _gate_only(x: int) -> Gen:
    answer = yield from gate(f"gate-{x}")
    return x + answer["by"]


def _fetch_as_str_then_gate(x: int) -> Gen:
    a = yield fetch_as_str(x)
    answer = yield from gate(f"gate-{x}")
    return a + answer["by"]


def _fetch_in_generator(x: int) -> Gen:
    return (yield fetch(x))


MAP = [
    _change(
        "Map in a Child: the item function replaced by another @step, waiting after it",
        _mapped(where="child"),
        _mapped(load, where="child"),
        OK,  # the completed Child replays from its record, its Map not run
        OK,
        result=[2, 3, 4],
    ),
    _change(
        "Map: an item fewer, waiting after it",
        _mapped(),
        _mapped(items=(1, 2)),
        N,
        N,
        Where("Map 'm' with 3 items"),
    ),
    _change(
        "Map: an item more, waiting after it",
        _mapped(),
        _mapped(items=(1, 2, 3, 4)),
        N,
        N,
        Where("Map 'm' with 3 items"),
    ),
    _change(
        "Map: max_concurrency 1 to 3, waiting after it",
        _mapped(max_concurrency=1),
        _mapped(max_concurrency=3),
        OK,
        OK,
        result=[2, 3, 4],
    ),
    _change(
        "Map: tolerated_failure_percentage set, waiting after it",
        _mapped(),
        _mapped(completion=dg.Completion(tolerated_failure_percentage=50)),
        OK,
        OK,
        result=[2, 3, 4],
    ),
    _change(
        "Map: renamed, waiting after it",
        _mapped(),
        _mapped(name="each"),
        N,
        N,
        Where("name='m'"),
    ),
    _change(
        "Map in a Parallel branch: an item more, waiting in the other branch",
        _mapped(where="parallel"),
        _mapped(items=(1, 2, 3, 4), where="parallel"),
        OK,  # the completed branch replays from its record
        OK,
        result=[[2, 3, 4], 1],
    ),
    _change(
        "Map: item function given another body under its step's name",
        _mapped(),
        _mapped(fetch_other_body),
        OK,
        OK,
        result=[2, 3, 4],
    ),
    _change(
        "Map: items waiting at their gate, the items' step replaced",
        _mapped(_fetch_then_gate, (1, 2)),
        _mapped(_load_then_gate, (1, 2)),
        N,
        OK,
        Where("name='fetch'", ("map-item-0", "m")),
    ),
    _change(
        "Map: items waiting at their gate, one item fewer",
        _mapped(_fetch_then_gate, (1, 2)),
        _mapped(_fetch_then_gate, (1,)),
        N,
        N,
        Where("the code asks for Map 'm' with 1 item. "),
    ),
    _change(
        "Map: items waiting at their gate, the item function made its first @step",
        _mapped(_fetch_then_gate, (1, 2)),
        _mapped(fetch, (1, 2)),
        N,
        OK,  # completed items replay from their record
        Where("name='gate-1'", ("map-item-0", "m")),
    ),
    _change(
        "Map: items waiting at their gate, the item function made one yielding the gate only",
        _mapped(_fetch_then_gate, (1, 2)),
        _mapped(_gate_only, (1, 2)),
        N,
        OK,
        Where("name='fetch'", ("map-item-0", "m")),
    ),
    _change(
        "Map: items waiting at their gate, max_concurrency=1 set",
        _mapped(_fetch_then_gate, (1, 2)),
        _mapped(_fetch_then_gate, (1, 2), max_concurrency=1),
        OK,
        OK,
        result=[3, 4],
    ),
]

# --- C. steps moved into and out of children ------------------------------------------------------


def _children(shape: str) -> Any:
    """Two steps and the gate, arranged by ``shape``."""

    def inner(x: int) -> Gen:
        return (yield fetch(x))

    def inner_load(x: int) -> Gen:
        return (yield load(x))

    def inner_both(x: int) -> Gen:
        a = yield fetch(x)
        return a + (yield load(x))

    def inner_gated(x: int) -> Gen:
        a = yield fetch(x)
        yield from gate("inner-gate")
        return a

    def inner_gated_str(x: int) -> Gen:
        a = yield fetch_as_str(x)
        yield from gate("inner-gate")
        return a

    def inner_gated_load(x: int) -> Gen:
        a = yield load(x)
        yield from gate("inner-gate")
        return a

    def inner_appended(x: int) -> Gen:
        a = yield fetch(x)
        return a + (yield load(x))

    def workflow(x: int) -> Gen:
        if shape == "root":
            a = yield fetch(x)
        elif shape == "moved-in":
            a = yield dg.Child(inner, (x,), name="c")
        elif shape == "virtual-moved-in":
            a = yield dg.Child(inner, (x,), name="c", virtual=True)
        elif shape == "child":
            a = yield dg.Child(inner, (x,), name="c")
        elif shape == "child-renamed-step":
            a = yield dg.Child(inner_load, (x,), name="c")
        elif shape == "child-appended":
            a = yield dg.Child(inner_appended, (x,), name="c")
        elif shape == "child-renamed":
            a = yield dg.Child(inner, (x,), name="sub")
        elif shape == "virtual":
            a = yield dg.Child(inner, (x,), name="c", virtual=True)
        elif shape == "virtual-renamed-step":
            a = yield dg.Child(inner_load, (x,), name="c", virtual=True)
        elif shape == "both-in-child":
            a = yield dg.Child(inner_both, (x,), name="c")
        elif shape == "moved-out":
            a = yield fetch(x)
            a += yield dg.Child(inner_load, (x,), name="c")
        elif shape == "gated":
            a = yield dg.Child(inner_gated, (x,), name="c")
            return a
        elif shape == "gated-str":
            a = yield dg.Child(inner_gated_str, (x,), name="c")
            return a
        elif shape == "gated-renamed-step":
            a = yield dg.Child(inner_gated_load, (x,), name="c")
            return a
        else:
            raise AssertionError(shape)
        yield from gate()
        return a

    return _named(workflow, f"children[{shape}]")


CHILDREN = [
    _change(
        "a recorded root step moved into a Child",
        _children("root"),
        _children("moved-in"),
        N,
        N,
        Where("name='fetch'"),
    ),
    _change(
        "a recorded root step moved into a virtual Child",
        _children("root"),
        _children("virtual-moved-in"),
        N,
        N,
        Where("name='fetch'"),
    ),
    _change(
        "a step moved out of its Child, before it",
        _children("both-in-child"),
        _children("moved-out"),
        N,
        N,
        Where("name='c'"),
    ),
    _change(
        "Child: its step renamed, waiting after the Child",
        _children("child"),
        _children("child-renamed-step"),
        OK,  # the completed Child replays from its record
        OK,
        result=2,
    ),
    _change(
        "Child: a step appended inside, waiting after the Child",
        _children("child"),
        _children("child-appended"),
        OK,
        OK,
        result=2,
    ),
    _change(
        "Child: renamed, waiting after it",
        _children("child"),
        _children("child-renamed"),
        N,
        N,
        Where("name='c'"),
    ),
    _change(
        "virtual Child: its step renamed, waiting after it",
        _children("virtual"),
        _children("virtual-renamed-step"),
        N,
        N,
        Where("name='fetch'", (), inside="CONTEXT/RunInChildContext name='c'"),
    ),
    _change(
        "Child: its step renamed, waiting inside",
        _children("gated"),
        _children("gated-renamed-step"),
        N,
        OK,
        Where("name='fetch'", ("c",)),
    ),
]

# --- D. retry policies while a retry is pending in a context -------------------------------------


def _retry_in(where: str, step: Any = flaky) -> Any:
    """``step`` fails and waits out its retry delay in a Child or a Parallel branch; the
    failure is caught where it happens."""

    def caught(x: int) -> Gen:
        try:
            return (yield step(x))
        except dg.StepFailedError as exc:
            return exc.error_type

    def workflow(x: int) -> Gen:
        if where == "child":
            return (yield dg.Child(caught, (x,), name="c"))
        r = yield dg.Parallel(
            [dg.Branch(functools.partial(caught, x), name="f"), dg.Branch(_one(fetch), name="n")],
            name="p",
        )
        return r.results()

    return _named(workflow, f"retry_in[{where},{step.name},{step.__name__}]")


RETRIES = [
    _change(
        "retry pending in a Child: policy made never",
        _retry_in("child"),
        _retry_in("child", flaky_never),
        OK,
        OK,
        result="PermissionError",
    ),
    _change(
        "retry pending in a Child: more attempts, shorter delay",
        _retry_in("child"),
        _retry_in("child", flaky_more),
        OK,
        OK,
        result="PermissionError",
    ),
    _change(
        "retry pending in a Parallel branch: policy made never",
        _retry_in("parallel"),
        _retry_in("parallel", flaky_never),
        OK,
        OK,
        result=["PermissionError", 2],
    ),
    _change(
        "retry pending in a Parallel branch: the step renamed",
        _retry_in("parallel"),
        _retry_in("parallel", refuses),
        N,
        OK,
        Where("name='flaky'", ("f", "p")),
    ),
]

# --- E. waits ------------------------------------------------------------------------------------


def _waited(
    shape: str = "plain", seconds: int = 30, name: str | None = "cool-off", patched: bool = False
) -> Any:
    """A step, a wait the execution passes, then the gate (shape changes what follows)."""

    def workflow(x: int) -> Gen:
        a = yield fetch(x)
        if shape == "step-for-wait":
            a += yield dg.Step(lambda v: v, (x,), name="cool-off")
        elif shape != "no-wait":
            yield dg.Wait(seconds=seconds, name=name)
        if shape == "step-after":
            a += yield load(x)
        if shape == "wait-after":
            yield dg.Wait(seconds=5, name="again")
        if patched and (yield dg.Patched("after-wait")):
            a += yield load(x)
        yield from gate()
        return a

    return _named(workflow, f"waited[{shape},{seconds},{name},{patched}]")


def _wait_in_branch(seconds: int) -> Any:
    def sleeper() -> Gen:
        yield dg.Wait(seconds=seconds, name="nap")
        return "slept"

    def workflow(x: int) -> Gen:
        r = yield dg.Parallel(
            [dg.Branch(sleeper, name="s"), dg.Branch(_one(fetch), name="n")], name="p"
        )
        return r.results()

    return _named(workflow, f"wait_in_branch[{seconds}]")


WAITS = [
    _change(
        "a step added after the wait an execution waits on, before the gate",
        _waited(),
        _waited("step-after"),
        OK,  # the execution reaches it with the new code
        N,
        Where("name='gate'"),
        result=5,
    ),
    _change(
        "a step added after the wait an execution waits on, behind Patched",
        _waited(),
        _waited(patched=True),
        OK,
        OK,
        result=5,
        completed_result=2,
    ),
    _change(
        "a wait added after the wait an execution waits on",
        _waited(),
        _waited("wait-after"),
        OK,
        N,
        Where("name='gate'"),
    ),
    _change(
        "a passed wait renamed",
        _waited(),
        _waited(name="cooling"),
        N,
        N,
        Where("name='cool-off'"),
    ),
    _change(
        "a passed wait's name removed",
        _waited(),
        _waited(name=None),
        N,
        N,
        Where("name='cool-off'"),
    ),
    _change(
        "a passed wait removed",
        _waited(),
        _waited("no-wait"),
        N,
        N,
        Where("name='cool-off'"),
    ),
    _change(
        "a passed wait replaced by a step of its name",
        _waited(),
        _waited("step-for-wait"),
        N,
        N,
        Where("WAIT"),
    ),
    _change(
        "a passed wait's duration changed",
        _waited(),
        _waited(seconds=3000),
        OK,
        OK,
        result=2,
    ),
    _change(
        "Parallel branch: its wait shortened, waiting on it",
        _wait_in_branch(600),
        _wait_in_branch(5),
        OK,
        OK,
        result=["slept", 2],
    ),
]

# --- F. callbacks --------------------------------------------------------------------------------


def _callback_in(where: str, timeout: int | None = 3600, heartbeat: int | None = None) -> Any:
    def waiting(x: int) -> Gen:
        handle = yield dg.CreateCallback(name="ok?", timeout=timeout, heartbeat_timeout=heartbeat)
        answer = yield handle
        return answer["by"] + x

    def submit(callback_id: str) -> None:
        """The test answers the callback itself."""

    def waiting_for(x: int) -> Gen:
        answer = yield dg.WaitForCallback(
            submit, name="ok?", timeout=timeout, heartbeat_timeout=heartbeat
        )
        return answer["by"] + x

    def workflow(x: int) -> Gen:
        if where == "child":
            return (yield dg.Child(waiting, (x,), name="c"))
        if where == "map":
            r = yield dg.Map(waiting, [1, 2], name="m")
            return r.results()
        r = yield dg.Parallel(
            [
                dg.Branch(functools.partial(waiting_for, x), name="cb"),
                dg.Branch(_one(fetch), name="n"),
            ],
            name="p",
        )
        return r.results()

    return _named(workflow, f"callback_in[{where},{timeout},{heartbeat}]")


CALLBACKS = [
    _change(
        "Child: callback timeout shortened, waiting on it",
        _callback_in("child"),
        _callback_in("child", timeout=60),
        OK,
        OK,
        result=2,
    ),
    _change(
        "Map items: callback heartbeat removed, waiting on it",
        _callback_in("map", heartbeat=600),
        _callback_in("map"),
        OK,
        OK,
        result=[2, 3],
    ),
    _change(
        "Parallel branch: WaitForCallback timeout removed, waiting on it",
        _callback_in("parallel"),
        _callback_in("parallel", timeout=None),
        OK,
        OK,
        result=[2, 2],
    ),
    _change(
        "Child: callback timeout added, waiting on it",
        _callback_in("child", timeout=None),
        _callback_in("child", timeout=60),
        OK,
        OK,
        result=2,
    ),
]

# --- G. Patched and Deprecated -------------------------------------------------------------------


def _patch(shape: str, change_id: str = "extra") -> Any:
    """A step, then something guarded or not, then the gate."""

    def item(x: int) -> Gen:
        a = yield fetch(x)
        if shape == "item-deprecated":
            yield dg.Deprecated(change_id)
            a += yield load(x)
        if shape == "item-patched" and (yield dg.Patched(change_id)):
            a += yield load(x)
        answer = yield from gate(f"gate-{x}")
        return a + answer["by"]

    def workflow(x: int) -> Gen:
        a = yield fetch(x)
        if shape in ("patched", "patched-old-kept"):
            if (yield dg.Patched(change_id)):
                a += yield load(x)
        elif shape == "old-kept":
            pass
        elif shape == "new-kept":
            a += yield load(x)
        elif shape == "deprecated":
            yield dg.Deprecated(change_id)
            a += yield load(x)
        elif shape == "loop":
            for _ in range(2):
                if (yield dg.Patched(change_id)):
                    a += 1
        elif shape.startswith("item"):
            r = yield dg.Map(item, [1, 2], name="m")
            a += sum(r.results())
        elif shape == "branch-deprecated":

            def b() -> Gen:
                yield dg.Deprecated(change_id)
                return (yield load(x))

            def old_b() -> Gen:
                return (yield load(x))

            r = yield dg.Parallel([dg.Branch(b, name="b"), dg.Branch(_waiter, name="w")], name="p")
            a += r.results()[0]
        elif shape == "branch-plain":

            def old_b() -> Gen:
                return (yield load(x))

            r = yield dg.Parallel(
                [dg.Branch(old_b, name="b"), dg.Branch(_waiter, name="w")], name="p"
            )
            a += r.results()[0]
        yield from gate()
        return a

    return _named(workflow, f"patch[{shape},{change_id}]")


def _patched_first() -> Any:
    """Executions take the new path at a Patched placed before their first step."""

    def workflow(x: int) -> Gen:
        a = 0
        if (yield dg.Patched("extra")):
            a += yield load(x)
        a += yield fetch(x)
        yield from gate()
        return a

    return _named(workflow, "patched_first")


def _new_path_unguarded() -> Any:
    def workflow(x: int) -> Gen:
        a = yield load(x)
        a += yield fetch(x)
        yield from gate()
        return a

    return _named(workflow, "new_path_unguarded")


def _old_path_only() -> Any:
    def workflow(x: int) -> Gen:
        a = yield fetch(x)
        yield from gate()
        return a

    return _named(workflow, "old_path_only")


PATCHES = [
    _change(
        "Patched removed with its old path kept, executions on the new path",
        _patch("patched"),
        _patch("old-kept"),
        N,
        N,
        Where("marker of change 'extra'"),
    ),
    _change(
        "Patched removed with its new path kept, at the first position",
        _patched_first(),
        _new_path_unguarded(),
        OK,  # markers are not positional: as removing Deprecated
        OK,
        result=5,
    ),
    _change(
        "Patched and its new path removed, at the first position",
        _patched_first(),
        _old_path_only(),
        N,
        N,
        Where("marker of change 'extra'"),
    ),
    _change(
        "Deprecated given too early, executions past it on the old path",
        _patch("old-kept"),
        _patch("deprecated"),
        N,
        N,
        Where("'extra'"),
    ),
    _change(
        "Deprecated given once executions took the new path",
        _patch("patched"),
        _patch("deprecated"),
        OK,
        OK,
        result=5,
    ),
    _change(
        "Deprecated under another id, executions on the new path",
        _patch("patched"),
        _patch("deprecated", "extra-v2"),
        N,
        N,
        Where("'extra'"),
    ),
    _change(
        "Patched in a loop added before the gate",
        _patch("old-kept"),
        _patch("loop"),
        OK,
        OK,
        result=2,
    ),
    _change(
        "Map items: Deprecated given too early, items waiting",
        _patch("item-plain"),
        _patch("item-deprecated"),
        N,
        OK,  # completed items replay from their record
        Where("'extra'", ("map-item-0", "m")),
    ),
    _change(
        "Map items: Patched step added before their gate, items waiting",
        _patch("item-plain"),
        _patch("item-patched"),
        OK,
        OK,
        result=9,
    ),
    _change(
        "Parallel branch: Deprecated given too early, the branch completed",
        _patch("branch-plain"),
        _patch("branch-deprecated"),
        OK,  # the completed branch replays from its record
        OK,
        result=5,
    ),
]

# --- H. Invoke -----------------------------------------------------------------------------------


def _invoking(target: str = "tax", name: str = "tax", shape: str = "root") -> Any:
    def calling(x: int) -> Gen:
        if shape == "step":
            return (yield dg.Step(lambda v: v * 2, (x,), name=name))
        return (yield dg.Invoke(target, x, name=name))

    def workflow(x: int) -> Gen:
        if shape == "child":
            t = yield dg.Child(calling, (x,), name="c")
        elif shape == "map":
            r = yield dg.Map(calling, [1, 2], name="m")
            t = r.results()
        else:
            t = yield from calling(x)
        yield from gate()
        return t

    return _named(workflow, f"invoking[{target},{name},{shape}]")


INVOKES = [
    _change(
        "Invoke in a Child: target changed, waiting on it",
        _invoking("slow-tax", shape="child"),
        _invoking("tax-v2", shape="child"),
        OK,
        OK,
        result=2,  # the recorded target's answer
    ),
    _change(
        "Invoke: renamed, waiting after it",
        _invoking(),
        _invoking(name="duty"),
        N,
        N,
        Where("name='tax'"),
    ),
    _change(
        "Invoke replaced by a step of its name",
        _invoking(),
        _invoking(shape="step"),
        N,
        N,
        Where("CHAINED_INVOKE"),
    ),
    _change(
        "Map items: Invoke target changed after they completed",
        _invoking(shape="map"),
        _invoking("tax-v2", shape="map"),
        OK,
        OK,
        result=[2, 4],
    ),
]

# --- I. result_type and exceptions ---------------------------------------------------------------


def _typed(step: Any) -> Any:
    def workflow(x: int) -> Gen:
        a = yield step(x)
        yield from gate()
        return a

    return _named(workflow, f"typed[{step.__name__}]")


class Declined(Exception):
    pass


def _catching(catch: Any, where: str = "child", *, then: str | None = None) -> Any:
    def body(x: int) -> Gen:
        try:
            note = yield refuses(x)
        except catch as exc:
            if then == "raise":
                raise Declined(str(exc)) from exc
            if then == "step":
                note = yield fetch(x)
            else:
                note = type(exc).__name__
        yield from gate("inner-gate")
        return note

    def workflow(x: int) -> Gen:
        if where == "child":
            return (yield dg.Child(body, (x,), name="c"))
        r = yield dg.Map(body, [x], name="m")
        return r.results()

    return _named(workflow, f"catching[{getattr(catch, '__name__', catch)},{where},{then}]")


RESULTS = [
    _change(
        "step: result_type made str, recorded an int",
        _typed(fetch),
        _typed(fetch_as_str),
        FAILED,
        FAILED,
    ),
    _change(
        "Map items waiting: their step's return type made str, recorded an int",
        _mapped(_fetch_then_gate, (1, 2)),
        _mapped(_fetch_as_str_then_gate, (1, 2)),
        FAILED,
        OK,  # a completed Map's result is read as a whole, its items' steps not replayed
        result=[3, 4],
    ),
    _change(
        "Child waiting inside: its step's return type made str, recorded an int",
        _children("gated"),
        _children("gated-str"),
        FAILED,
        OK,  # the completed Child replays from its record
        result=2,
    ),
    _change(
        "step: result_type made float, recorded an int",
        _typed(fetch),
        _typed(fetch_as_float),
        OK,
        OK,
        result=2.0,
    ),
    _change(
        "Child: except StepFailedError made except OperationError, waiting inside",
        _catching(dg.StepFailedError),
        _catching(dg.OperationError),
        OK,
        OK,
        result="StepFailedError",
    ),
    _change(
        "Child: the failure caught by another exception class, waiting inside",
        _catching(dg.StepFailedError),
        _catching(KeyError),
        RAISED,
        OK,  # the completed Child replays from its record
    ),
    _change(
        "Map item: the caught failure now raised again, waiting inside",
        _catching(dg.StepFailedError, "map"),
        _catching(dg.StepFailedError, "map", then="raise"),
        RAISED,
        OK,
    ),
    _change(
        "Child: the except clause now yields a step, waiting inside",
        _catching(dg.StepFailedError),
        _catching(dg.StepFailedError, then="step"),
        N,
        OK,
        Where("name='inner-gate'", ("c",)),
    ),
]

# --- J. WaitForCondition while it polls ----------------------------------------------------------


def _count_up(state: int) -> int:
    return state + 1


def _at_three(state: int) -> bool:
    return state >= 3


def _polling(name: str = "poll", delay: int = 10, initial: int = 0) -> Any:
    def workflow(x: int) -> Gen:
        return (
            yield dg.WaitForCondition(
                _count_up,
                initial,
                wait_strategy=dg.WaitStrategy(until=_at_three, delay=delay, backoff=1.0),
                name=name,
            )
        )

    return _named(workflow, f"polling[{name},{delay},{initial}]")


POLLS = [
    _change(
        "WaitForCondition: renamed while it polls",
        _polling(),
        _polling("check"),
        N,
        N,
        Where("name='poll'"),
    ),
    _change(
        "WaitForCondition: delay changed while it polls",
        _polling(),
        _polling(delay=100),
        OK,
        OK,
        result=3,
    ),
    _change(
        "WaitForCondition: initial state changed while it polls",
        _polling(),
        _polling(initial=1),
        OK,
        OK,
        result=3,  # the recorded state carries on
    ),
]

# --- K. the same operations under another shape -------------------------------------------------


@dg.step(
    name="flaky",
    retry=dg.Retry(max_attempts=3, initial_delay=5, jitter="none", retry_on=(KeyError,)),
)
def flaky_keyed(x: int) -> int:
    raise PermissionError(f"no access to {x}")


def _shaped(shape: str) -> Any:
    def inner(x: int) -> Gen:
        return (yield fetch(x))

    def one_b_gen() -> Gen:
        return (yield one_b())

    def workflow(x: int) -> Gen:
        if shape == "map-step":
            r = yield dg.Map(fetch, [1, 2], name="m")
            a: Any = r.results()
        elif shape == "map-generator":
            r = yield dg.Map(_fetch_in_generator, [1, 2], name="m")
            a = r.results()
        elif shape == "branch-step":
            r = yield dg.Parallel([dg.Branch(one_b, name="b")], name="p")
            a = r.results()
        elif shape == "branch-generator":
            r = yield dg.Parallel([dg.Branch(one_b_gen, name="b")], name="p")
            a = r.results()
        elif shape == "virtual":
            a = yield dg.Child(inner, (x,), name="c", virtual=True)
        elif shape == "inline":
            a = yield from inner(x)
        elif shape == "child-step":
            a = yield dg.Child(fetch, (x,), name="c")
        elif shape == "child-generator":
            a = yield dg.Child(inner, (x,), name="c")
        elif shape == "map-nested-gated":
            r = yield dg.Map(_fetch_then_gate, [1, 2], name="m")
            return r.results()
        elif shape == "map-flat-gated":
            r = yield dg.Map(_fetch_then_gate, [1, 2], name="m", nesting="flat")
            return r.results()
        else:
            raise AssertionError(shape)
        yield from gate()
        return a

    return _named(workflow, f"shaped[{shape}]")


SHAPES = [
    _change(
        "Map: the @step item function made a generator yielding it",
        _shaped("map-step"),
        _shaped("map-generator"),
        OK,
        OK,
    ),
    _change(
        "Parallel: a step branch made a generator yielding that step",
        _shaped("branch-step"),
        _shaped("branch-generator"),
        OK,
        OK,
    ),
    _change(
        "virtual Child inlined with yield from, waiting after it",
        _shaped("virtual"),
        _shaped("inline"),
        N,
        N,
        Where("a virtual CONTEXT/RunInChildContext (nothing at its id)"),
    ),
    _change(
        "yield-from sub-workflow made a virtual Child, waiting after it",
        _shaped("inline"),
        _shaped("virtual"),
        N,
        N,
        Where("a virtual CONTEXT/RunInChildContext (which records nothing)"),
    ),
    _change(
        "Child of a @step made a Child of a generator yielding it",
        _shaped("child-step"),
        _shaped("child-generator"),
        OK,
        OK,
    ),
    _change(
        "Map: nesting made flat, items waiting",
        _shaped("map-nested-gated"),
        _shaped("map-flat-gated"),
        N,
        N,
        Where("Map 'm' with nesting='nested'"),
    ),
    _change(
        "retry pending in a Child: retry_on narrowed to another exception",
        _retry_in("child"),
        _retry_in("child", flaky_keyed),
        OK,
        OK,
        result="PermissionError",
    ),
]


# --- L. sagas ------------------------------------------------------------------------------------


def cancel(confirmation: int) -> int:
    return -confirmation


def refund(confirmation: int) -> int:
    return -confirmation


@dg.step(name="cancel")
def cancel_step(confirmation: int) -> int:
    return -confirmation


async def cancel_async(confirmation: int) -> int:
    return -confirmation


cancel_async.__name__ = cancel_async.__qualname__ = "cancel"


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=5, jitter="none"))
def undo_flaky(confirmation: int) -> int:
    raise PermissionError(f"cannot undo {confirmation}")


@dg.step(name="undo_flaky", retry=dg.Retry.never())
def undo_flaky_never(confirmation: int) -> int:
    raise PermissionError(f"cannot undo {confirmation}")


def _saga(undo: Any, *, gated: bool = True, undo2: Any = None, swap: bool = False) -> Any:
    """Two compensated steps (``book`` with ``undo``, ``hold`` with ``undo2``), a failure,
    the rollback, then the gate."""

    def workflow(x: int) -> Gen:
        first = dg.Step(fetch.fn, (x,), name="book", compensate=undo)
        second = dg.Step(load.fn, (x,), name="hold", compensate=undo2 or cancel)
        try:
            order = (second, first) if swap else (first, second)
            yield order[0]
            yield order[1]
            yield refuses(x)
        except dg.StepFailedError:
            undone = yield dg.RunCompensations()
            out = [[u.name, u.status, u.result, u.error_type] for u in undone]
            if gated:
                yield from gate()
            return out
        return None

    names = [getattr(f, "__name__", f) for f in (undo, undo2)]
    return _named(workflow, f"saga[{names},{gated},{swap}]")


SAGAS = [
    _change(
        "saga: an undo replaced by another function after the rollback ran",
        _saga(cancel),
        _saga(refund),
        N,
        N,
        Where("name='cancel'"),
    ),
    _change(
        "saga: an undo made a @step of its name after the rollback ran",
        _saga(cancel),
        _saga(cancel_step),
        OK,
        OK,
    ),
    _change(
        "saga: an undo made async under its name after the rollback ran",
        _saga(cancel),
        _saga(cancel_async),
        OK,
        OK,
    ),
    _change(
        "saga: the compensated steps swapped after the rollback ran",
        _saga(cancel, undo2=refund),
        _saga(cancel, undo2=refund, swap=True),
        N,
        N,
        Where("name='book'"),
    ),
    _change(
        "saga: an undo's retry policy made never while its retry is pending",
        _saga(undo_flaky, gated=False),
        _saga(undo_flaky_never, gated=False),
        OK,
        OK,
    ),
    _change(
        "saga: an undo replaced while its retry is pending",
        _saga(undo_flaky, gated=False),
        _saga(refund, gated=False),
        N,
        N,
        Where("name='undo_flaky'"),
    ),
]


CHANGES = (
    SAGAS
    + SHAPES
    + PARALLEL
    + MAP
    + CHILDREN
    + RETRIES
    + WAITS
    + CALLBACKS
    + PATCHES
    + INVOKES
    + RESULTS
    + POLLS
)


@pytest.mark.parametrize("state", ["suspended", "completed"])
@pytest.mark.parametrize("change", CHANGES, ids=[c.name for c in CHANGES])
def test_every_route_judges_a_change_alike(
    change: Change, state: str, tmp_path: Path, durable_replayer: Replayer
) -> None:
    judge(change, state, tmp_path, durable_replayer)


def test_the_corpus_is_large_its_names_unique_and_each_divergence_says_where() -> None:
    assert len(CHANGES) >= 60
    assert len({c.name for c in CHANGES}) == len(CHANGES)
    for change in CHANGES:
        diverges = N in (change.suspended, change.completed)
        assert (change.name in WHERE) == diverges, change.name


DIVERGING = [(c, s) for c in CHANGES for s in ("suspended", "completed") if getattr(c, s) == N]


@pytest.mark.parametrize(
    ("change", "state"), DIVERGING, ids=[f"{c.name}-{s}" for c, s in DIVERGING]
)
def test_every_route_names_the_operation_and_its_contexts(
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


# --- a recorded step result the new type cannot read says where the step is ----------------------

UNREADABLE = [c for c in CHANGES if "return type made str" in c.name]


@pytest.mark.parametrize(
    ("change", "contexts"),
    [(UNREADABLE[0], ("map-item-0", "m")), (UNREADABLE[1], ("c",))],
    ids=["Map item", "Child"],
)
def test_an_unreadable_step_result_names_the_contexts_it_sits_in(
    change: Change, contexts: tuple[str, ...]
) -> None:
    """Many steps share a name (one per Map item): the error says which one it is, as a
    NonDeterminismError does, by the engine and by replay alike."""
    runner = TestRunner(skip_time=False, functions=FUNCTIONS)
    run = runner.run(change.v1, change.input)
    report = replay(change.v2, run.export())
    runner.deploy(change.v1, change.v2)
    _drive(runner, run)
    assert run.error is not None and run.error.error_type == "SerializationError"
    for message in (run.error.error_message, report.message):
        assert "the result of step 'fetch', as recorded" in message, message
        chain = message.split(". Where: ", 1)[1].split(", at the root", 1)[0]
        assert tuple(re.findall(r"name='([^']*)'", chain)) == contexts, message
        assert chain.startswith("context "), message


def _answered_then_gated(result_type: Any) -> Any:
    """Map items each wait for an answer (``{"by": 1}``), then at their gate."""

    def item(x: int) -> Gen:
        handle = yield dg.CreateCallback(name=f"answer-{x}", result_type=result_type)
        answer = yield handle
        yield from gate(f"gate-{x}")
        return [x, answer]

    def workflow(x: int) -> Gen:
        r = yield dg.Map(item, [1, 2], name="m")
        return r.results()

    return _named(workflow, f"answered_then_gated[{result_type}]")


def test_an_unreadable_callback_answer_names_the_contexts_it_sits_in() -> None:
    """An answer recorded in a Map item that a result_type given since cannot read: the
    SerializationError says which item, by the engine and by replay alike."""
    v1, v2 = _answered_then_gated(None), _answered_then_gated(int)
    runner = TestRunner(skip_time=False, functions=FUNCTIONS)
    run = runner.run(v1, 1)
    for _ in range(2):  # the answers, then the items wait at their gates
        runner.run_until_idle()
        for op in run.operations(type="CALLBACK"):
            if op.status == "STARTED" and op.name.startswith("answer") and op.callback_id:
                runner.send_callback_success(op.callback_id, {"by": 1})
    runner.run_until_idle()
    assert run.status == "RUNNING", run.error
    report = replay(v2, run.export())
    runner.deploy(v1, v2)
    _drive(runner, run)
    assert run.error is not None and run.error.error_type == "SerializationError"
    for message in (run.error.error_message, report.message):
        assert "the callback result" in message, message
        chain = message.split(". Where: ", 1)[1].split(", at the root", 1)[0]
        assert tuple(re.findall(r"name='([^']*)'", chain)) == ("map-item-0", "m"), message
