"""A thirteenth corpus of code changes made between deployments, judged by every route of
``test_change_corpus_round8.py`` (the engine in memory and on SQLite, a new process on the
SQLite file, the Lambda handler, the interpreter, ``replay`` of the export and of its events,
the pytest plugin's ``durable_replayer``, ``durable-gen history --json`` replayed by
``replay_folder``, the test runner in each checkpointing mode and in AWS's payload format).
Each must give the verdict docs/versioning.md gives and, when it accepts, the same result; a
change caught as non-determinism must be reported with one message by every route.

Its emphasis: a Map's item function made a generator of the same step (or back), its items
given as another iterable; Parallel branches added or removed while branches wait; steps
moved into or out of a `Child` at the frontier; `Invoke` targets changed once answered;
`WaitForCondition`'s initial state changed; steps wrapped in decorators; `Patched` combined
(two ids at once, short-circuited, nested, in loops, in Map items at different stages, in
virtual children inside items, in flat items); `Deprecated` removed; changes inside nested
batches; names spelled out that were defaults.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing.pytest_plugin import Replayer
from tests.unit.testing.test_change_corpus_options import OK, Change, Gen, N, gate
from tests.unit.testing.test_change_corpus_round8 import _named, judge
from tests.unit.testing.test_change_corpus_round10 import _messages

# --- steps ----------------------------------------------------------------------------------------


@dg.step
def fetch(x: int) -> int:
    return x + 1


@dg.step
def load(x: int) -> int:
    return x + 2


@dg.step
def audit(x: int) -> int:
    return x * 10


def _logged(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A decorator that keeps the function's name."""

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        return fn(*args)

    return wrapper


def _bare(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A decorator that does not keep the function's name."""

    def wrapper(*args: Any) -> Any:
        return fn(*args)

    return wrapper


fetch_wrapped = dg.step(_logged(fetch.fn))  # named "fetch", as the function it wraps
fetch_wrapped_bare = dg.step(_bare(fetch.fn))
fetch_outer = _logged(fetch)  # a decorator around the step function: it returns its Step


def _stepper(kind: str) -> Callable[[int], Any]:
    return {
        "plain": fetch,
        "wrapped": fetch_wrapped,
        "bare": fetch_wrapped_bare,
        "outer": fetch_outer,
        "spelled": lambda x: dg.Step(fetch.fn, (x,), name="fetch"),
    }[kind]


# --- A. a Map's function, items and completion ----------------------------------------------------


def _fetch_item(x: int) -> Gen:
    return (yield fetch(x))


def _fetch_item_indexed(x: int, i: int) -> Gen:
    return (yield fetch(x))


def _map_fn(kind: str, items: str = "list", gated: bool = True) -> Any:
    """A Map of three items running ``fetch`` (as the function, or a generator yielding it),
    then a gate."""
    fns: dict[str, Any] = {
        "step": fetch,
        "gen": _fetch_item,
        "gen-indexed": _fetch_item_indexed,
        "wrapped": fetch_wrapped,
        "bare": fetch_wrapped_bare,
    }

    def workflow(x: int) -> Gen:
        values = [x, x + 1, x + 2]
        given: Any = {
            "list": values,
            "tuple": tuple(values),
            "range": range(x, x + 3),
        }[items]
        r = yield dg.Map(fns[kind], given, name="m")
        if gated:
            yield from gate()
        return r.results()

    return _named(workflow, f"map_fn[{kind},{items},{gated}]")


def _item_waits(x: int, i: int) -> Gen:
    a = yield fetch(x)
    yield from gate(f"item-{i}")
    return a


def _item_waits_audited(x: int, i: int) -> Gen:
    a = yield fetch(x)
    yield from gate(f"item-{i}")
    if (yield dg.Patched("audit")):
        a = yield audit(a)
    return a


def _item_waits_audited_before(x: int, i: int) -> Gen:
    if (yield dg.Patched("audit")):
        yield audit(x)
    a = yield fetch(x)
    yield from gate(f"item-{i}")
    return a


def _item_only_first_waits(x: int, i: int) -> Gen:
    a = yield fetch(x)
    if i == 0:
        yield from gate("item-0")
    return a


def _item_only_first_waits_patched(x: int, i: int) -> Gen:
    a = yield fetch(x)
    if i == 0:
        yield from gate("item-0")
    if (yield dg.Patched("audit")):
        a = yield audit(a)
    return a


def _item_only_first_waits_patched_early(x: int, i: int) -> Gen:
    if (yield dg.Patched("audit")):
        yield audit(x)
    a = yield fetch(x)
    if i == 0:
        yield from gate("item-0")
    return a


def _item_virtual(x: int, i: int) -> Gen:
    def inner(v: int) -> Gen:
        a = yield fetch(v)
        yield from gate(f"item-{i}")
        return a

    return (yield dg.Child(inner, (x,), name="inner", virtual=True))


def _item_virtual_patched(x: int, i: int) -> Gen:
    def inner(v: int) -> Gen:
        a = yield fetch(v)
        yield from gate(f"item-{i}")
        if (yield dg.Patched("audit")):
            a = yield audit(a)
        return a

    return (yield dg.Child(inner, (x,), name="inner", virtual=True))


def _item_virtual_patched_after(x: int, i: int) -> Gen:
    def inner(v: int) -> Gen:
        a = yield fetch(v)
        yield from gate(f"item-{i}")
        return a

    a = yield dg.Child(inner, (x,), name="inner", virtual=True)
    if (yield dg.Patched("audit")):
        a = yield audit(a)
    return a


ITEM_FNS: dict[str, Any] = {
    "waits": _item_waits,
    "waits-audited": _item_waits_audited,
    "waits-audited-before": _item_waits_audited_before,
    "first-waits": _item_only_first_waits,
    "first-waits-patched": _item_only_first_waits_patched,
    "first-waits-patched-early": _item_only_first_waits_patched_early,
    "virtual": _item_virtual,
    "virtual-patched": _item_virtual_patched,
    "virtual-patched-after": _item_virtual_patched_after,
}


def _map_items(kind: str, nesting: str = "nested", count: int = 2, **options: Any) -> Any:
    def workflow(x: int) -> Gen:
        r = yield dg.Map(
            ITEM_FNS[kind], list(range(x, x + count)), name="m", nesting=nesting, **options
        )
        return r.all_results()

    extra = ",".join(f"{k}={v}" for k, v in options.items())
    return _named(workflow, f"map_items[{kind},{nesting},{count},{extra}]")


MAPS = [
    Change("Map: the step function made a generator yielding it", _map_fn("step"),
           _map_fn("gen"), OK, OK, result=[2, 3, 4]),
    Change("Map: a generator yielding a step made the step function", _map_fn("gen"),
           _map_fn("step"), OK, OK, result=[2, 3, 4]),
    Change("Map: the generator takes the index too", _map_fn("gen"),
           _map_fn("gen-indexed"), OK, OK, result=[2, 3, 4]),
    Change("Map: the items given as a tuple", _map_fn("step"), _map_fn("step", "tuple"),
           OK, OK, result=[2, 3, 4]),
    Change("Map: the items given as a range", _map_fn("step"), _map_fn("step", "range"),
           OK, OK, result=[2, 3, 4]),
    Change("Map: the step function wrapped keeping its name", _map_fn("step"),
           _map_fn("wrapped"), OK, OK, result=[2, 3, 4]),
    Change("Map: the step function wrapped under another name", _map_fn("step"),
           _map_fn("bare"), N, N),
    Change("Map items waiting: Patched step appended after the gate", _map_items("waits"),
           _map_items("waits-audited"), OK, OK, result=[20, 30], completed_result=[2, 3]),
    Change("Map items waiting: Patched step inserted before the first step",
           _map_items("waits"), _map_items("waits-audited-before"), OK, OK, result=[2, 3]),
    Change("flat Map items waiting: Patched step inserted before the first step",
           _map_items("waits", "flat"), _map_items("waits-audited-before", "flat"), OK, OK,
           result=[2, 3]),
    Change("Map, one item waiting, one done: Patched step appended",
           _map_items("first-waits"), _map_items("first-waits-patched"), OK, OK,
           result=[20, 3], completed_result=[2, 3]),
    Change("Map, one item waiting, one done: Patched step inserted at the start",
           _map_items("first-waits"), _map_items("first-waits-patched-early"), OK, OK,
           result=[2, 3]),
    Change("Map items waiting in a virtual Child: Patched step appended inside it",
           _map_items("virtual"), _map_items("virtual-patched"), OK, OK, result=[20, 30],
           completed_result=[2, 3]),
    Change("Map items waiting in a virtual Child: Patched step appended after it",
           _map_items("virtual"), _map_items("virtual-patched-after"), OK, OK,
           result=[20, 30], completed_result=[2, 3]),
    Change("Map items waiting: max_concurrency lowered to one", _map_items("waits"),
           _map_items("waits", max_concurrency=1), OK, OK, result=[2, 3]),
    Change("Map items waiting: a third item given", _map_items("waits"),
           _map_items("waits", count=3), OK, N, result=[2, 3, 4]),
    Change("Map items waiting: the second item removed", _map_items("waits"),
           _map_items("waits", count=1), N, N),
    Change("Map items waiting: min_successful=1 given", _map_items("waits"),
           _map_items("waits", completion=dg.Completion(min_successful=1)), OK, OK),
]  # fmt: skip


# --- B. Parallel branch counts, nested batches ----------------------------------------------------


def _branch_waiting(tag: str, at: int) -> Any:
    def branch() -> Gen:
        a = yield dg.Step(fetch.fn, (at,), name=f"step-{tag}")
        yield from gate(f"gate-{tag}")
        return a

    return dg.Branch(branch, name=tag)


def _branch_quick(tag: str, at: int) -> Any:
    def branch() -> Gen:
        return (yield dg.Step(fetch.fn, (at,), name=f"step-{tag}"))

    return dg.Branch(branch, name=tag)


def _parallel(spec: str, **options: Any) -> Any:
    """Branches by letter: a-c wait at a gate, q returns at once."""

    def workflow(x: int) -> Gen:
        branches = [
            _branch_quick(c, i) if c == "q" else _branch_waiting(c, i) for i, c in enumerate(spec)
        ]
        r = yield dg.Parallel(branches, name="p", **options)
        return r.all_results()

    extra = ",".join(f"{k}={v}" for k, v in options.items())
    return _named(workflow, f"parallel[{spec},{extra}]")


def _nested_batch(variant: str) -> Any:
    """A Map whose items run a Parallel of a quick branch and a waiting branch."""

    def item(x: int, i: int) -> Gen:
        def quick() -> Gen:
            name = "quick-renamed" if variant == "quick-renamed" else "quick"
            return (yield dg.Step(fetch.fn, (x,), name=name))

        def slow() -> Gen:
            if variant == "slow-patched" and (yield dg.Patched("audit")):
                yield audit(x)
            name = "slow-renamed" if variant == "slow-renamed" else "slow"
            a = yield dg.Step(load.fn, (x,), name=name)
            yield from gate(f"gate-{i}")
            if variant == "slow-appended-patched" and (yield dg.Patched("audit")):
                a = yield audit(a)
            return a

        branches = [dg.Branch(quick, name="quick"), dg.Branch(slow, name="slow")]
        if variant == "third-branch":
            branches.append(dg.Branch(quick, name="third"))
        r = yield dg.Parallel(branches, name="p")
        return r.all_results()

    def workflow(x: int) -> Gen:
        r = yield dg.Map(item, [x, x + 1], name="m")
        return r.all_results()

    return _named(workflow, f"nested_batch[{variant}]")


BATCHES = [
    Change("Parallel waiting: a branch appended", _parallel("ab"), _parallel("abq"), OK, N,
           result=[1, 2, 3]),
    Change("Parallel waiting: a branch inserted first", _parallel("ab"), _parallel("qab"), N, N),
    Change("Parallel waiting: the last branch removed", _parallel("ab"), _parallel("a"), N, N),
    Change("Parallel waiting: max_concurrency=1 given", _parallel("ab"),
           _parallel("ab", max_concurrency=1), OK, OK, result=[1, 2]),
    Change("Parallel held back by max_concurrency: a branch appended", _parallel(
        "ab", max_concurrency=1), _parallel("abq", max_concurrency=1), OK, N,
           result=[1, 2, 3]),
    Change("Map of Parallels, waiting: the quick branch's step renamed",
           _nested_batch("plain"), _nested_batch("quick-renamed"), OK, OK,
           result=[[2, 3], [3, 4]]),  # the quick branch completed: replayed from its record
    Change("Map of Parallels, waiting: the waiting branch's step renamed",
           _nested_batch("plain"), _nested_batch("slow-renamed"), N, OK,
           completed_result=[[2, 3], [3, 4]]),
    Change("Map of Parallels, waiting: Patched step inserted in the waiting branch",
           _nested_batch("plain"), _nested_batch("slow-patched"), OK, OK,
           result=[[2, 3], [3, 4]]),
    Change("Map of Parallels, waiting: Patched step appended in the waiting branch",
           _nested_batch("plain"), _nested_batch("slow-appended-patched"), OK, OK,
           result=[[2, 30], [3, 40]], completed_result=[[2, 3], [3, 4]]),
    Change("Map of Parallels, waiting: a third branch appended", _nested_batch("plain"),
           _nested_batch("third-branch"), OK, OK, result=[[2, 3, 2], [3, 4, 3]],
           completed_result=[[2, 3], [3, 4]]),
]  # fmt: skip


# --- C. steps moved into or out of a Child, Invoke targets, conditions ----------------------------


def _moved(variant: str) -> Any:
    """fetch, a gate, then load; ``variant`` moves load (reached after the deploy), or fetch
    (recorded), into a Child."""

    def loads(x: int) -> Gen:
        return (yield load(x))

    def fetches(x: int) -> Gen:
        return (yield fetch(x))

    def workflow(x: int) -> Gen:
        if variant == "fetch-in-child":
            a = yield dg.Child(fetches, (x,), name="fetches")
        elif variant == "fetch-in-virtual":
            a = yield dg.Child(fetches, (x,), name="fetches", virtual=True)
        else:
            a = yield fetch(x)
        yield from gate()
        if variant == "load-in-child":
            b = yield dg.Child(loads, (x,), name="loads")
        elif variant == "load-in-virtual":
            b = yield dg.Child(loads, (x,), name="loads", virtual=True)
        elif variant == "load-patched-child":
            if (yield dg.Patched("child")):
                b = yield dg.Child(loads, (x,), name="loads")
            else:
                b = yield load(x)
        else:
            b = yield load(x)
        return [a, b]

    return _named(workflow, f"moved[{variant}]")


def _invoked(function: str, where: str = "root", gated: bool = True) -> Any:
    def body(x: int) -> Gen:
        return (yield dg.Invoke(function, x, name="tax"))

    def workflow(x: int) -> Gen:
        if where == "child":
            t = yield dg.Child(body, (x,), name="c")
        elif where == "virtual":
            t = yield dg.Child(body, (x,), name="c", virtual=True)
        else:
            t = yield from body(x)
        if gated:
            yield from gate()
        return t

    return _named(workflow, f"invoked[{function},{where}]")


def _bump(state: int) -> int:
    return state + 1


def _polled(initial: int, target: int = 3, where: str = "root", delay: int = 10) -> Any:
    def body(x: int) -> Gen:
        strategy = dg.WaitStrategy(until=lambda s: s >= target, delay=delay, max_delay=delay)
        return (yield dg.WaitForCondition(_bump, initial, strategy, name="poll"))

    def workflow(x: int) -> Gen:
        if where == "map":
            r = yield dg.Map(lambda v: (yield from body(v)), [x], name="m")
            v = r.results()[0]
        else:
            v = yield from body(x)
        yield from gate()
        return v

    return _named(workflow, f"polled[{initial},{target},{where},{delay}]")


MOVES = [
    Change("a step not reached yet moved into a Child", _moved("plain"), _moved("load-in-child"),
           OK, N, result=[2, 3]),
    Change("a step not reached yet moved into a virtual Child", _moved("plain"),
           _moved("load-in-virtual"), OK, N, result=[2, 3]),
    Change("a step not reached yet moved into a Child under Patched", _moved("plain"),
           _moved("load-patched-child"), OK, OK, result=[2, 3]),
    Change("a recorded step moved into a Child", _moved("plain"), _moved("fetch-in-child"), N, N),
    Change("a recorded step moved into a virtual Child", _moved("plain"),
           _moved("fetch-in-virtual"), N, N),
    Change("a recorded step moved out of a Child", _moved("fetch-in-child"), _moved("plain"), N,
           N),
    Change("a recorded step moved out of a virtual Child", _moved("fetch-in-virtual"),
           _moved("plain"), N, N),
    Change("a recorded step's Child made virtual", _moved("fetch-in-child"),
           _moved("fetch-in-virtual"), N, N),
    Change("Invoke answered: another target", _invoked("tax"), _invoked("tax-v2"), OK, OK,
           result=2),
    Change("Invoke answered in a Child: another target", _invoked("tax", "child"),
           _invoked("tax-v2", "child"), OK, OK, result=2),
    Change("Invoke answered in a virtual Child: another target", _invoked("tax", "virtual"),
           _invoked("tax-v2", "virtual"), OK, OK, result=2),
    Change("Invoke answered: moved into a Child", _invoked("tax"), _invoked("tax", "child"), N,
           N),
    Change("Invoke answered: moved into a virtual Child", _invoked("tax"),
           _invoked("tax", "virtual"), N, N),
    Change("WaitForCondition polling: another initial state", _polled(0, delay=1000),
           _polled(2, delay=1000), OK, OK),
    Change("WaitForCondition done: another initial state", _polled(0), _polled(2), OK, OK,
           result=3),
    Change("WaitForCondition polling in a Map item: another initial state",
           _polled(0, where="map", delay=1000), _polled(2, where="map", delay=1000), OK, OK),
]  # fmt: skip


# --- D. decorators and names spelled out ----------------------------------------------------------


def _decorated(kind: str) -> Any:
    step = _stepper(kind)

    def workflow(x: int) -> Gen:
        a = yield step(x)
        yield from gate()
        b = yield step(a)
        return [a, b]

    return _named(workflow, f"decorated[{kind}]")


def _helper(kind: str) -> Any:
    """The step yielded directly, through a helper generator, or a helper in a Child."""

    def helper(x: int) -> Gen:
        return (yield fetch(x))

    def workflow(x: int) -> Gen:
        if kind == "helper":
            a = yield from helper(x)
        elif kind == "child-helper":
            a = yield dg.Child(helper, (x,), name="helper")
        else:
            a = yield fetch(x)
        yield from gate()
        return a

    return _named(workflow, f"helper[{kind}]")


DECORATORS = [
    Change("step: its function wrapped keeping its name", _decorated("plain"),
           _decorated("wrapped"), OK, OK, result=[2, 3]),
    Change("step: its function wrapped by a decorator that drops the name",
           _decorated("plain"), _decorated("bare"), N, N),
    Change("step: the step function wrapped outside @step", _decorated("plain"),
           _decorated("outer"), OK, OK, result=[2, 3]),
    Change("step: made dg.Step with its name spelled out", _decorated("plain"),
           _decorated("spelled"), OK, OK, result=[2, 3]),
    Change("step: moved into a helper generator (yield from)", _helper("plain"),
           _helper("helper"), OK, OK, result=2),
    Change("step: a helper generator made a Child", _helper("helper"), _helper("child-helper"),
           N, N),
]  # fmt: skip


# --- E. Patched combined --------------------------------------------------------------------------


def _combo(variant: str) -> Any:
    """fetch, a gate, load; versions guard steps in several ways around them."""

    def workflow(x: int) -> Gen:
        out: list[int] = []
        if variant == "both-upfront":
            a_new = yield dg.Patched("a")
            b_new = yield dg.Patched("b")
            if a_new and b_new:
                out.append((yield audit(x)))
        if variant == "short-circuit" and (yield dg.Patched("a")) and (yield dg.Patched("b")):
            out.append((yield audit(x)))
        if variant in ("a-only", "nested") and (yield dg.Patched("a")):
            out.append((yield audit(x)))
            if variant == "nested" and (yield dg.Patched("b")):
                out.append((yield audit(x + 1)))
        if variant == "a-deprecated":
            yield dg.Deprecated("a")
            out.append((yield audit(x)))
        out.append((yield fetch(x)))
        yield from gate()
        if variant == "after-gate" and (yield dg.Patched("a")):
            out.append((yield audit(x)))
        if variant == "after-gate-not" and not (yield dg.Patched("a")):
            out.append((yield audit(x)))
        out.append((yield load(x)))
        return out

    return _named(workflow, f"combo[{variant}]")


def _loop(variant: str) -> Any:
    """Three rounds of a step then a wait; the second round's wait is long (the execution
    waits there)."""

    def workflow(x: int) -> Gen:
        out = []
        for i in range(3):
            if variant == "patched-in-loop" and (yield dg.Patched("audit")):
                out.append((yield audit(i)))
            if variant == "patched-per-round" and (yield dg.Patched(f"audit-{i}")):
                out.append((yield audit(i)))
            out.append((yield fetch(i)))
            yield dg.Wait(seconds=10_000 if i == 1 else 10, name=f"w{i}")
        return out

    return _named(workflow, f"loop[{variant}]")


def _two_contexts(variant: str) -> Any:
    """One change id at the root and in a Child."""

    def body(x: int) -> Gen:
        a = yield fetch(x)
        if variant in ("child", "both") and (yield dg.Patched("audit")):
            a = yield audit(a)
        return a

    def workflow(x: int) -> Gen:
        a = yield dg.Child(body, (x,), name="c")
        yield from gate()
        if variant in ("root", "both") and (yield dg.Patched("audit")):
            a = yield audit(a)
        return a + (yield load(0))

    return _named(workflow, f"two_contexts[{variant}]")


PATCHES = [
    Change("two changes evaluated up front, both needed", _combo("plain"),
           _combo("both-upfront"), OK, OK, result=[2, 3]),
    Change("two changes short-circuited", _combo("plain"), _combo("short-circuit"), OK, OK,
           result=[2, 3]),
    Change("a second change added to a short-circuited one, new-path execution",
           _combo("a-only"), _combo("short-circuit"), N, N),
    Change("a change nested in another's new path, new-path execution", _combo("a-only"),
           _combo("nested"), OK, OK, result=[10, 2, 3]),
    Change("a change nested in another's new path, old-path execution", _combo("plain"),
           _combo("nested"), OK, OK, result=[2, 3]),
    Change("Deprecated on a new-path execution, then removed", _combo("a-only"),
           _combo("a-deprecated"), OK, OK, result=[10, 2, 3]),
    Change("Patched after the gate: the new path for the waiting execution", _combo("plain"),
           _combo("after-gate"), OK, OK, result=[2, 10, 3], completed_result=[2, 3]),
    Change("Patched after the gate written with not: old code for waiting executions",
           _combo("plain"), _combo("after-gate-not"), OK, N, result=[2, 3]),
    Change("a change evaluated in a loop, added mid-loop", _loop("plain"),
           _loop("patched-in-loop"), OK, OK, result=[1, 2, 3]),
    Change("a change per round of a loop, added mid-loop", _loop("plain"),
           _loop("patched-per-round"), OK, OK, result=[1, 10, 2, 20, 3],
           completed_result=[1, 2, 3]),
    Change("one change id at the root and in a Child, added at both", _two_contexts("plain"),
           _two_contexts("both"), OK, OK, result=22, completed_result=4),
    Change("one change id added in a Child that completed", _two_contexts("plain"),
           _two_contexts("child"), OK, OK, result=4),
    Change("one change id moved from the root into the Child", _two_contexts("root"),
           _two_contexts("child"), OK, N, result=4),
]  # fmt: skip


# --- F. callback options -------------------------------------------------------------------------


def _notify(callback_id: str) -> None:
    """Hands the callback id on."""


def _notify_other(callback_id: str) -> None:
    """Hands the callback id on elsewhere."""


def _approval(variant: str) -> Any:
    """fetch, then an approval by WaitForCallback; the variants change its options."""

    def body(x: int) -> Gen:
        submitter = _notify_other if variant == "submitter" else _notify
        options: dict[str, Any] = {"timeout": 3600}
        if variant == "timeout":
            options["timeout"] = 60
        if variant == "heartbeat":
            options["heartbeat_timeout"] = 600
        if variant == "retry":
            options["retry"] = dg.Retry(max_attempts=5, initial_delay=1, jitter="none")
        return (yield dg.WaitForCallback(submitter, name="approval", **options))

    def workflow(x: int) -> Gen:
        a = yield fetch(x)
        if variant == "child":
            b = yield dg.Child(body, (x,), name="approve")
        else:
            b = yield from body(x)
        return [a, b]

    return _named(workflow, f"approval[{variant}]")


CALLBACKS = [
    Change("WaitForCallback waiting: another submitter", _approval("plain"),
           _approval("submitter"), OK, OK, result=[2, {"by": 1}]),
    Change("WaitForCallback waiting: a shorter timeout", _approval("plain"),
           _approval("timeout"), OK, OK, result=[2, {"by": 1}]),
    Change("WaitForCallback waiting: a heartbeat timeout given", _approval("plain"),
           _approval("heartbeat"), OK, OK, result=[2, {"by": 1}]),
    Change("WaitForCallback waiting: a submitter retry policy given", _approval("plain"),
           _approval("retry"), OK, OK, result=[2, {"by": 1}]),
    Change("WaitForCallback waiting: moved into a Child", _approval("plain"),
           _approval("child"), N, N),
]  # fmt: skip


CHANGES = MAPS + BATCHES + MOVES + DECORATORS + PATCHES + CALLBACKS


@pytest.mark.parametrize("state", ["suspended", "completed"])
@pytest.mark.parametrize("change", CHANGES, ids=[c.name for c in CHANGES])
def test_every_route_judges_a_change_alike(
    change: Change, state: str, tmp_path: Path, durable_replayer: Replayer
) -> None:
    judge(change, state, tmp_path, durable_replayer)


def test_the_corpus_is_large_and_its_names_unique() -> None:
    assert len(CHANGES) >= 60
    assert len({c.name for c in CHANGES}) == len(CHANGES)


DIVERGING = [(c, s) for c in CHANGES for s in ("suspended", "completed") if getattr(c, s) == N]


@pytest.mark.parametrize(
    ("change", "state"), DIVERGING, ids=[f"{c.name}-{s}" for c, s in DIVERGING]
)
def test_every_route_reports_a_divergence_with_one_message(
    change: Change, state: str, tmp_path: Path
) -> None:
    messages = _messages(change, state == "completed", tmp_path)
    assert len(set(messages.values())) == 1, messages
    (message,) = set(messages.values())
    assert message is not None and "recorded" in message, message
    json.dumps(message)


VERSIONS = list(dict.fromkeys(w for c in CHANGES for w in (c.v1, c.v2)))


@pytest.mark.parametrize("checkpointing", ["step", "eager", "batch"])
@pytest.mark.parametrize("workflow", VERSIONS, ids=[w.__qualname__ for w in VERSIONS])
def test_every_version_is_deterministic_on_its_own(
    workflow: Callable[..., Gen], checkpointing: Any
) -> None:
    """The versions are correct workflows (``assert_deterministic`` finds them so, crashes
    and replays included, in each checkpointing mode): what the corpus sees is the change
    alone."""
    from durable_gen.testing import DurableRun, assert_deterministic
    from tests.unit.testing.test_change_corpus_options import ANSWER, FUNCTIONS

    def answer(run: DurableRun) -> None:
        for op in run.operations(type="CALLBACK"):
            if op.status == "STARTED" and op.callback_id is not None:
                run.runner.send_callback_success(op.callback_id, ANSWER)

    assert_deterministic(
        workflow,
        1,
        functions=FUNCTIONS,
        on_idle=answer,
        random_runs=1,
        checkpointing=checkpointing,
    )


# --- executions the service ended: the docs' recipe for finished executions -----------------------


def _recipe() -> str:
    """The recipe of docs/testing.md that checks a replay ended as the execution did."""
    text = (Path(__file__).parents[3] / "docs" / "testing.md").read_text()
    start = text.index("recorded = load_history(run.export())")
    return text[start : text.index("```", start)]


@pytest.mark.parametrize("how", ["stopped", "timed out", "timed out in a step"])
def test_the_finished_execution_recipe_holds_for_executions_the_service_ended(how: str) -> None:
    """An execution stopped, or timed out, while its code waited (or ran a step) replays to
    that point and waits there: the recipe asserted a failure the code never raised, and the
    report did not say that the service ended the execution."""
    from durable_gen.testing import TestRunner, load_history, replay

    runner = TestRunner(skip_time=False)
    if how == "stopped":
        run = runner.run(_combo("plain"), 1)
        runner.service.stop(run.arn)
    elif how == "timed out":
        run = runner.run(_combo("plain"), 1, execution_timeout=10)
        runner.advance(20)
    else:
        run = runner.run(_slow_step_workflow, 1, execution_timeout=10)
        runner.advance(20)
    status = "STOPPED" if how == "stopped" else "TIMED_OUT"
    assert run.status == status
    new_code = _slow_step_workflow if how == "timed out in a step" else _combo("after-gate")
    report = replay(new_code, run.export())
    exec(_recipe(), {"load_history": load_history, "run": run, "report": report, "dg": dg})
    assert f"the service ended the execution there ({status})" in report.message, report.message


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=60, jitter="none"))
def _refused(x: int) -> int:
    raise PermissionError(f"no access to {x}")


def _slow_step_workflow(x: int) -> Gen:
    return (yield _refused(x))
