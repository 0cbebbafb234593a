"""A fifth corpus of code changes made between deployments, judged by every route with the
judge of ``test_change_corpus_options.py`` (the engine in memory and on SQLite, the Lambda
handler, the interpreter, ``replay`` of the export and of its events, the pytest plugin's
``durable_replayer``, and ``durable-gen history --json`` replayed by ``replay_folder``), which
must all give the verdict docs/versioning.md gives and, when they accept, the same result.

Its emphasis: sagas changed while a rollback is under way (an undo waiting out a retry), deep
nesting (a ``Child`` inside ``Map`` items inside a ``Parallel`` branch, flat and virtual
variants), callbacks with heartbeats, arguments passed otherwise (keywords, defaults), the type
a recorded step result is decoded into (a dataclass field renamed or removed, a container type
changed, a ``datetime``, an ``Enum``), changes inside a ``WaitForCondition``'s check while it
polls, workflows and child functions wrapped otherwise (a decorator, ``functools.partial``, a
bound method, a generator function for a one-step function), and ``Patched`` in an except
clause or on one iteration of a loop.

Beyond the judge: an attempt a stopped process left open, read alike from the state and from
the events; the payload format or checkpointing mode changed between deployments; histories
recorded by an earlier version (a named ``WaitForCallback``'s inner names, a ``Map`` result
without item names).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest

import durable_gen as dg
from durable_gen.testing.pytest_plugin import Replayer
from tests.unit.testing.test_change_corpus_options import (
    FAILED,
    OK,
    RAISED,
    Change,
    Gen,
    N,
    gate,
    judge,
)


def _named(wf: Callable[..., Gen], name: str) -> Callable[..., Gen]:
    wf.__qualname__ = wf.__name__ = name
    return wf


@dg.step(name="a")
def step_a(x: int) -> int:
    return x + 1


@dg.step(name="b")
def step_b(x: int) -> int:
    return x + 2


@dg.step(name="a")
def step_a_scaled(x: int, scale: int = 1) -> int:
    return x * scale + 1


@dg.step(name="a")
def step_a_scaled_10(x: int, scale: int = 10) -> int:
    return x * scale + 1


# --- sagas changed while their rollback is under way ----------------------------------------------


def undo_fails(result: int) -> None:
    raise RuntimeError(f"cannot undo {result}")


@dg.step(name="undo_fails", retry=dg.Retry(max_attempts=3, initial_delay=10, jitter="none"))
def undo_fails_retried(result: int) -> None:
    raise RuntimeError(f"cannot undo {result}")


@dg.step(name="undo_fails", retry=dg.Retry.never())
def undo_fails_never(result: int) -> None:
    raise RuntimeError(f"cannot undo {result}")


@dg.step(name="undo_fails", retry=dg.Retry(max_attempts=3, initial_delay=10, jitter="none"))
async def undo_fails_async(result: int) -> None:
    raise RuntimeError(f"cannot undo {result}")


@dg.step(name="undo_breaks", retry=dg.Retry(max_attempts=3, initial_delay=10, jitter="none"))
def undo_fails_renamed(result: int) -> None:
    raise RuntimeError(f"cannot undo {result}")


def undo_ok(result: int) -> int:
    return result * 10


def undo_ok_other(result: int) -> int:
    return result * 100


@dg.step(name="undo_ok")
def undo_ok_as_step(result: int) -> int:
    return result * 10


def _saga_mid_rollback(
    first_undo: Any = undo_fails_retried,
    second_undo: Any = undo_ok,
    swapped: bool = False,
) -> Callable[..., Gen]:
    """Two bookings; the rollback undoes the second (done), then the first, whose undo fails
    and waits out its retry delay: a resume finds the rollback half done."""

    def workflow(x: int) -> Gen:
        first = dg.Step(step_a.fn, (x,), name="book-1", compensate=first_undo)
        second = dg.Step(step_b.fn, (x,), name="book-2", compensate=second_undo)
        for command in (second, first) if swapped else (first, second):  # noqa: UP028
            yield command  # (yield from a tuple cannot take the results sent back)
        undone = yield dg.RunCompensations()
        return [(u.name, u.status, u.result) for u in undone]

    name = f"saga_mid_rollback[{getattr(first_undo, '__name__', first_undo)},{swapped}]"
    return _named(workflow, name)


def _saga_in_items(undo: Any) -> Callable[..., Gen]:
    def item(x: int) -> Gen:
        yield dg.Step(step_a.fn, (x,), name="book", compensate=undo)
        undone = yield dg.RunCompensations()
        yield from gate("item-gate")
        return [u.name for u in undone]

    def workflow(x: int) -> Gen:
        r = yield dg.Map(item, [1, 2], name="trips")
        return [i.result for i in r.items]

    return _named(workflow, f"saga_in_items[{undo.__name__}]")


def _saga_lambda_undo(scale: int) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        yield dg.Step(step_a.fn, (x,), name="book", compensate=lambda r: r * scale)
        undone = yield dg.RunCompensations()
        yield from gate()
        return [(u.name, u.result) for u in undone]

    return _named(workflow, f"saga_lambda_undo[{scale}]")


def _saga_then_gate(undo: Any) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        yield dg.Step(step_a.fn, (x,), name="book", compensate=undo)
        undone = yield dg.RunCompensations()
        yield from gate()
        return [(u.name, u.result) for u in undone]

    return _named(workflow, f"saga_then_gate[{getattr(undo, 'name', undo.__name__)}]")


def _saga_rollback_in_child(in_child: bool) -> Callable[..., Gen]:
    def rollback() -> Gen:
        return (yield dg.RunCompensations())

    def workflow(x: int) -> Gen:
        yield dg.Step(step_a.fn, (x,), name="book", compensate=undo_ok)
        yield from gate()
        if in_child:
            undone = yield dg.Child(rollback, name="rollback")
        else:
            undone = yield dg.RunCompensations()
        return [u.name for u in undone]

    return _named(workflow, f"saga_rollback_in_child[{in_child}]")


def _saga_rollback_twice(twice: bool) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        yield dg.Step(step_a.fn, (x,), name="book", compensate=undo_ok)
        undone = yield dg.RunCompensations()
        if twice:
            undone += yield dg.RunCompensations()
        yield from gate()
        return [u.name for u in undone]

    return _named(workflow, f"saga_rollback_twice[{twice}]")


# --- a Child inside Map items inside a Parallel branch --------------------------------------------


def _deep(
    inner: Any = step_a,
    child_name: str | None = "pricing",
    items: tuple[int, ...] = (1, 2),
    appended: bool = False,
    branch_names: tuple[str, str] = ("left", "right"),
    nesting: str = "nested",
    virtual: bool = False,
) -> Callable[..., Gen]:
    def kid(x: int) -> Gen:
        a = yield inner(x)
        yield from gate("deep-gate")
        if appended:
            a = yield step_b(a)
        return a

    def item(x: int) -> Gen:
        if child_name is None:
            return (yield dg.Child(kid, (x,), virtual=virtual))
        return (yield dg.Child(kid, (x,), name=child_name, virtual=virtual))

    def left() -> Gen:
        r = yield dg.Map(item, list(items), name="m", nesting=nesting)
        return [i.result for i in r.items]

    def right() -> Gen:
        return (yield step_b(0))

    def workflow(x: int) -> Gen:
        r = yield dg.Parallel(
            [dg.Branch(left, name=branch_names[0]), dg.Branch(right, name=branch_names[1])],
            name="p",
        )
        return {i.name: i.result for i in r.items}

    tag = f"{inner.name},{child_name},{items},{appended},{branch_names},{nesting},{virtual}"
    return _named(workflow, f"deep[{tag}]")


# --- callbacks with heartbeats --------------------------------------------------------------------


def _heartbeat_callback(heartbeat: int | None, timeout: int | None = 3600) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        handle = yield dg.CreateCallback(name="hb", timeout=timeout, heartbeat_timeout=heartbeat)
        answer = yield handle
        return answer

    return _named(workflow, f"heartbeat_callback[{heartbeat},{timeout}]")


def submit(callback_id: str) -> None:
    """The test answers the callback itself."""


def _heartbeat_wfc(heartbeat: int | None) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        return (
            yield dg.WaitForCallback(submit, name="hb", timeout=3600, heartbeat_timeout=heartbeat)
        )

    return _named(workflow, f"heartbeat_wfc[{heartbeat}]")


# --- arguments passed otherwise -------------------------------------------------------------------


def _args_as(style: str) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        if style == "positional":
            a = yield step_a_scaled(x, 1)
        elif style == "keywords":
            a = yield step_a_scaled(scale=1, x=x)
        elif style == "default":
            a = yield step_a_scaled(x)
        else:
            a = yield step_a_scaled_10(x)
        yield from gate()
        return a

    return _named(workflow, f"args_as[{style}]")


def _workflow_default(default: int) -> Callable[..., Gen]:
    def workflow(x: int, scale: int = default) -> Gen:
        a = yield step_a(x * scale)
        yield from gate()
        return a

    return _named(workflow, f"workflow_default[{default}]")


# --- the type a recorded step result is decoded into ----------------------------------------------


@dataclasses.dataclass
class Quote:
    price: int
    currency: str


@dataclasses.dataclass
class QuoteRenamed:
    amount: int
    currency: str


@dataclasses.dataclass
class QuoteRenamedDefault:
    currency: str
    amount: int = 0


@dataclasses.dataclass
class QuoteFieldRemoved:
    price: int


@dataclasses.dataclass
class QuoteFieldAdded:
    price: int
    currency: str
    rate: float


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


def _typed(returns: Any, value: Any) -> Any:
    """A step named ``quote`` that returns ``value``, declared to return ``returns``."""

    def quote(x: int) -> Any:
        return value

    quote.__annotations__ = {"x": "int", "return": returns}
    return dg.step(name="quote")(quote)


def _quoted(step: Any, show: Callable[[Any], Any] = lambda v: v) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        q = yield step(x)
        yield from gate()
        return show(q)

    return _named(workflow, f"quoted[{step.fn.__annotations__['return']}]")


QUOTE = {"price": 3, "currency": "EUR"}
quote_v1 = _quoted(_typed(Quote, Quote(3, "EUR")), dataclasses.asdict)
quote_as_dict = _quoted(_typed(dict, QUOTE))
keyed_by_str = _quoted(_typed(dict[str, int], {"1": 2, "3": 4}))
keyed_by_int = _quoted(_typed(dict[int, int], {1: 2, 3: 4}), lambda d: sorted(d.items()))
listed = _quoted(_typed(list[int], [3, 1, 3]))
as_set = _quoted(_typed(set[int], {1, 3}), sorted)
as_tuple = _quoted(_typed(tuple[int, int, int], (3, 1, 3)), list)
iso_text = _quoted(_typed(str, "2026-01-02T03:04:05+00:00"))
as_datetime = _quoted(
    _typed(datetime.datetime, datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)),
    lambda d: d.isoformat(),
)
colour_text = _quoted(_typed(str, "red"))
as_colour = _quoted(_typed(Colour, Colour.RED), lambda c: c.name)
as_literal = _quoted(_typed(Literal["red", "blue"], "red"))
as_int_text = _quoted(_typed(int, 1))
as_bool = _quoted(_typed(bool, True))
as_str = _quoted(_typed(str, "1"))
as_float = _quoted(_typed(float, 1.5))


def _quote_read_as(cls: type) -> Callable[..., Gen]:
    return _quoted(_typed(cls, QUOTE), dataclasses.asdict)


# --- a workflow or child function wrapped otherwise ----------------------------------------------


def _traced(wf: Callable[..., Gen], kind: str) -> Callable[..., Gen]:
    """``wf`` wrapped in a tracing decorator: one that returns its generator, or one that is a
    generator itself (``yield from``)."""
    if kind == "return":

        @functools.wraps(wf)
        def wrapper(*args: Any) -> Gen:
            return wf(*args)

    else:

        @functools.wraps(wf)
        def wrapper(*args: Any) -> Gen:
            return (yield from wf(*args))

    return _named(wrapper, f"traced[{kind}]")


def plain_base(x: int) -> Gen:
    a = yield step_a(x)
    yield from gate()
    return (yield step_b(a))


@dg.workflow
def sub(x: int) -> Gen:
    return (yield step_a(x))


def sub_plain(x: int) -> Gen:
    return (yield step_a(x))


class Pricer:
    def __init__(self, k: int) -> None:
        self.k = k

    def price(self, x: int) -> int:
        return x * self.k

    def price_gen(self, x: int) -> Gen:
        return (yield step_a(x * self.k))


def _child_as(kind: str) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        if kind == "args":
            r = yield dg.Child(sub, (x,))
        elif kind == "partial":
            r = yield dg.Child(functools.partial(sub, x))
        elif kind == "plain":
            r = yield dg.Child(sub_plain, (x,))
        elif kind == "plain-partial":
            r = yield dg.Child(functools.partial(sub_plain, x))
        else:
            r = yield dg.Child(Pricer(1).price_gen, (x,))
        yield from gate()
        return r

    return _named(workflow, f"child_as[{kind}]")


def _map_of(kind: str) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        if kind == "method":
            r = yield dg.Map(Pricer(2).price, [1, 2], name="m")
        elif kind == "other-method":
            r = yield dg.Map(Pricer(3).price, [1, 2], name="m")
        else:
            r = yield dg.Map(lambda i: i * 2, [1, 2], name="m")
        yield from gate()
        return r.results()

    return _named(workflow, f"map_of[{kind}]")


# --- polling inside Map items, Patched in odd places ----------------------------------------------


def _polled_in_items(check_name: str) -> Callable[..., Gen]:
    def check(state: dict[str, int]) -> dict[str, int]:
        return {"n": state["n"] + 1}

    def item(i: int) -> Gen:
        s = yield dg.WaitForCondition(
            check,
            {"n": i},
            wait_strategy=dg.WaitStrategy(until=lambda s: s["n"] >= 3, delay=10),
            name=check_name,
        )
        return s["n"]

    def workflow(x: int) -> Gen:
        r = yield dg.Map(item, [0, 1], name="m")
        return r.results()

    return _named(workflow, f"polled_in_items[{check_name}]")


@dg.step(name="boom", retry=dg.Retry.never())
def boom(x: int) -> int:
    raise RuntimeError("boom")


def _patched_in_except(patched: bool, deprecated: bool = False) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        try:
            yield boom(x)
        except dg.StepFailedError:
            if deprecated:
                yield dg.Deprecated("handle")
                yield step_b(x)
            elif patched and (yield dg.Patched("handle")):
                yield step_b(x)
        yield from gate()
        return (yield step_a(x))

    return _named(workflow, f"patched_in_except[{patched},{deprecated}]")


def _patched_per_iteration(patched: bool) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        for i in range(3):
            yield dg.Step(step_a.fn, (i,), name=f"s{i}")
            if i == 1 and patched and (yield dg.Patched("extra")):
                yield step_b(i)
            yield from gate(f"g{i}")
        return x

    return _named(workflow, f"patched_per_iteration[{patched}]")


def _children_in_loop(patched: bool) -> Callable[..., Gen]:
    def kid(i: int) -> Gen:
        a = yield step_a(i)
        yield from gate(f"kg{i}")
        if patched and (yield dg.Patched("kid-extra")):
            a = yield step_b(a)
        return a

    def workflow(x: int) -> Gen:
        out = []
        for i in range(2):
            out.append((yield dg.Child(kid, (i,), name=f"kid-{i}")))
        return out

    return _named(workflow, f"children_in_loop[{patched}]")


# --- changes inside a WaitForCondition's check ---------------------------------------------------


@dataclasses.dataclass
class Job:
    n: int


@dataclasses.dataclass
class JobWithNote:
    n: int
    note: str = ""


def _bump(state: dict[str, int]) -> dict[str, int]:
    return {"n": state["n"] + 1}


def _bump_raises(state: dict[str, int]) -> dict[str, int]:
    raise LookupError(f"no job {state['n']}")


def _bump_by_two(state: dict[str, int]) -> dict[str, int]:
    return {"n": state["n"] + 2}


def _bump_job(state: Job) -> Job:
    return Job(state.n + 1)


def _bump_noted(state: JobWithNote) -> JobWithNote:
    return JobWithNote(state.n + 1, "noted")


def _polled(check: Any, until: int = 3) -> Callable[..., Gen]:
    def n_of(state: Any) -> int:
        return int(state["n"] if isinstance(state, dict) else state.n)

    def workflow(x: int) -> Gen:
        initial = {"n": 0} if check in (_bump, _bump_raises, _bump_by_two) else Job(0)
        try:
            state = yield dg.WaitForCondition(
                check,
                initial,
                wait_strategy=dg.WaitStrategy(until=lambda s: n_of(s) >= until, delay=10),
                name="poll",
            )
        except dg.StepFailedError as exc:
            return exc.error_type
        return n_of(state)

    return _named(workflow, f"polled[{check.__name__},{until}]")


# --- a Map function or branch made a generator function, or back ---------------------------------


def _gen_item(x: int) -> Gen:
    return (yield step_a(x))


def _gen_item_b(x: int) -> Gen:
    return (yield step_b(x))


def _mapped(fn: Any) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        r = yield dg.Map(fn, [1, 2], name="m")
        yield from gate()
        return r.results()

    return _named(workflow, f"mapped[{getattr(fn, '__name__', fn)}]")


def _branches(*fns: Any) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        branches = [dg.Branch(functools.partial(f, 1), name=f"b{i}") for i, f in enumerate(fns)]
        r = yield dg.Parallel(branches, name="p")
        yield from gate()
        return r.results()

    return _named(workflow, f"branches[{[getattr(f, '__name__', f) for f in fns]}]")


# --- a loop of yields rewritten as yield from (what linters suggest) ------------------------------


def yields_in_a_loop(x: int) -> Gen:
    for command in (step_a(x), step_b(x)):  # noqa: UP028 (the version before the rewrite)
        yield command
    yield from gate()
    return x


def yields_from_a_tuple(x: int) -> Gen:
    yield from (step_a(x), step_b(x))
    yield from gate()
    return x


# --- the corpus -----------------------------------------------------------------------------------

CHANGES = [
    # sagas: the rollback waits out the retry delay of the first booking's undo
    Change(
        "saga mid-rollback: the waiting undo's retry made never",
        _saga_mid_rollback(),
        _saga_mid_rollback(undo_fails_never),
        OK,
        OK,
    ),
    Change(
        "saga mid-rollback: the waiting undo made async",
        _saga_mid_rollback(),
        _saga_mid_rollback(undo_fails_async),
        OK,
        OK,
    ),
    Change(
        "saga mid-rollback: the waiting undo renamed",
        _saga_mid_rollback(),
        _saga_mid_rollback(undo_fails_renamed),
        N,
        N,
    ),
    Change(
        "saga mid-rollback: the finished undo replaced",
        _saga_mid_rollback(),
        _saga_mid_rollback(second_undo=undo_ok_other),
        N,
        N,
    ),
    Change(
        "saga mid-rollback: the finished undo made its @step of the same name",
        _saga_mid_rollback(),
        _saga_mid_rollback(second_undo=undo_ok_as_step),
        OK,
        OK,
    ),
    Change(
        "saga mid-rollback: the bookings swapped",
        _saga_mid_rollback(),
        _saga_mid_rollback(swapped=True),
        N,
        N,
    ),
    Change(
        "saga in Map items: the undo replaced, waiting after the rollback",
        _saga_in_items(undo_ok),
        _saga_in_items(undo_ok_other),
        N,
        OK,  # a completed Map replays from its record
    ),
    Change(
        "saga: a lambda undo replaced by another lambda after it ran",
        _saga_lambda_undo(10),
        _saga_lambda_undo(100),
        OK,
        OK,
        result=[["book", 20]],
    ),
    Change(
        "saga: a plain undo made a @step of the same name after it ran",
        _saga_then_gate(undo_ok),
        _saga_then_gate(undo_ok_as_step),
        OK,
        OK,
        result=[["book", 20]],
    ),
    Change(
        "saga: the rollback moved into a Child before it ran",
        _saga_rollback_in_child(False),
        _saga_rollback_in_child(True),
        OK,
        N,
        result=[],
    ),
    Change(
        "saga: a second RunCompensations added after the first ran",
        _saga_rollback_twice(False),
        _saga_rollback_twice(True),
        OK,
        OK,
        result=["book"],
    ),
    # a Child inside Map items inside a Parallel branch, waiting in the child
    Change("deep: the child's step renamed", _deep(), _deep(inner=step_b), N, OK),
    Change("deep: the child's name removed", _deep(), _deep(child_name=None), N, OK),
    # docs/versioning.md: an unnamed record and a name equal to its function's match both ways
    Change(
        "deep: the child's name, its function's own, removed",
        _deep(child_name="kid"),
        _deep(child_name=None),
        OK,
        OK,
    ),
    Change("deep: a step appended in the child", _deep(), _deep(appended=True), OK, OK),
    Change("deep: an item added to the inner Map", _deep(), _deep(items=(1, 2, 3)), OK, OK),
    Change("deep: an item removed from the inner Map", _deep(), _deep(items=(1,)), N, OK),
    Change(
        "deep: the Parallel's branches renamed",
        _deep(),
        _deep(branch_names=("l", "r")),
        N,
        N,
    ),
    # the same, the Map flat (its items record no context of their own)
    Change(
        "deep, flat Map: the child's step renamed",
        _deep(nesting="flat"),
        _deep(inner=step_b, nesting="flat"),
        N,
        OK,
    ),
    Change(
        "deep, flat Map: the child's name changed",
        _deep(nesting="flat"),
        _deep(child_name="costing", nesting="flat"),
        N,
        OK,
    ),
    Change(
        "deep, flat Map: a step appended in the child",
        _deep(nesting="flat"),
        _deep(appended=True, nesting="flat"),
        OK,
        OK,
    ),
    Change(
        "deep, flat Map: an item removed",
        _deep(nesting="flat"),
        _deep(items=(1,), nesting="flat"),
        N,
        OK,
    ),
    Change("deep: the Map made flat", _deep(), _deep(nesting="flat"), N, OK),
    # the child made virtual: it records no context, its steps are the item's
    Change("deep: the child made virtual", _deep(), _deep(virtual=True), N, OK),
    Change(
        "deep, virtual child: its step renamed",
        _deep(virtual=True),
        _deep(inner=step_b, virtual=True),
        N,
        OK,
    ),
    # callbacks with heartbeats
    Change(
        "CreateCallback: heartbeat shortened, waiting on it",
        _heartbeat_callback(600),
        _heartbeat_callback(60),
        OK,
        OK,
    ),
    Change(
        "CreateCallback: heartbeat removed, waiting on it",
        _heartbeat_callback(600),
        _heartbeat_callback(None),
        OK,
        OK,
    ),
    Change(
        "CreateCallback: timeout removed, heartbeat kept, waiting on it",
        _heartbeat_callback(600),
        _heartbeat_callback(600, None),
        OK,
        OK,
    ),
    Change(
        "WaitForCallback: heartbeat shortened, waiting on it",
        _heartbeat_wfc(600),
        _heartbeat_wfc(60),
        OK,
        OK,
    ),
    # arguments passed otherwise
    Change(
        "step: arguments passed as keywords",
        _args_as("positional"),
        _args_as("keywords"),
        OK,
        OK,
        result=2,
    ),
    Change(
        "step: an argument left to its default",
        _args_as("positional"),
        _args_as("default"),
        OK,
        OK,
        result=2,
    ),
    Change(
        "step: an argument's default value changed",
        _args_as("default"),
        _args_as("default-10"),
        OK,
        OK,
        result=2,
    ),
    Change(
        "workflow: a parameter's default value changed",
        _workflow_default(1),
        _workflow_default(10),
        OK,
        OK,
        result=2,
    ),
    # the type a recorded result is decoded into
    Change(
        "typed: a dataclass field renamed", quote_v1, _quote_read_as(QuoteRenamed), FAILED, FAILED
    ),
    Change(
        "typed: a dataclass field renamed, with a default",
        quote_v1,
        _quote_read_as(QuoteRenamedDefault),
        OK,
        OK,
        result={"currency": "EUR", "amount": 0},
    ),
    Change(
        "typed: a dataclass field removed",
        quote_v1,
        _quote_read_as(QuoteFieldRemoved),
        OK,
        OK,
        result={"price": 3},
    ),
    Change(
        "typed: a required dataclass field added",
        quote_v1,
        _quote_read_as(QuoteFieldAdded),
        FAILED,
        FAILED,
    ),
    Change("typed: a dataclass made a dict", quote_v1, quote_as_dict, OK, OK, result=QUOTE),
    Change(
        "typed: dict[str, int] made dict[int, int]",
        keyed_by_str,
        keyed_by_int,
        OK,
        OK,
        result=[[1, 2], [3, 4]],
    ),
    Change("typed: list made set", listed, as_set, OK, OK, result=[1, 3]),
    Change("typed: list made a tuple", listed, as_tuple, OK, OK, result=[3, 1, 3]),
    Change(
        "typed: str made datetime",
        iso_text,
        as_datetime,
        OK,
        OK,
        result="2026-01-02T03:04:05+00:00",
    ),
    Change("typed: str made an Enum", colour_text, as_colour, OK, OK, result="RED"),
    Change("typed: str made a Literal", colour_text, as_literal, OK, OK, result="red"),
    Change("typed: int made bool", as_int_text, as_bool, FAILED, FAILED),
    Change("typed: int made str", as_int_text, as_str, FAILED, FAILED),
    Change("typed: float made int", as_float, _quoted(_typed(int, 1)), FAILED, FAILED),
    # changes inside a WaitForCondition's check while it polls (completed: replayed)
    Change(
        "WaitForCondition: the check now raises, polling",
        _polled(_bump),
        _polled(_bump_raises),
        OK,
        OK,
        result="LookupError",
        completed_result=3,
    ),
    Change(
        "WaitForCondition: the check steps by two, polling",
        _polled(_bump),
        _polled(_bump_by_two),
        OK,
        OK,
        result=...,
        completed_result=3,
    ),
    Change(
        "WaitForCondition: a dataclass state gains a field with a default, polling",
        _polled(_bump_job),
        _polled(_bump_noted),
        OK,
        OK,
        result=3,
    ),
    Change(
        "WaitForCondition: the strategy's target raised, polling",
        _polled(_bump),
        _polled(_bump, until=5),
        OK,
        OK,
        result=5,
        completed_result=3,
    ),
    # a Map function or branch made a generator function (its items become child workflows)
    Change(
        "Map: @step function made a generator yielding it",
        _mapped(step_a),
        _mapped(_gen_item),
        OK,
        OK,
        result=[2, 3],
    ),
    Change(
        "Map: generator yielding a @step made the @step",
        _mapped(_gen_item),
        _mapped(step_a),
        OK,
        OK,
        result=[2, 3],
    ),
    # docs/versioning.md: a completed context's generator body is not run again, so the step
    # it now yields is not compared (a one-step function's name would be)
    Change(
        "Map: @step function made a generator yielding another, completed",
        _mapped(step_a),
        _mapped(_gen_item_b),
        OK,
        OK,
        result=[2, 3],
    ),
    Change(
        "Parallel: @step branch made a generator yielding it",
        _branches(step_a),
        _branches(_gen_item),
        OK,
        OK,
        result=[2],
    ),
    # the first result sent into the tuple's iterator: WorkflowDefinitionError on every route
    Change(
        "yields in a loop made yield from a tuple",
        yields_in_a_loop,
        yields_from_a_tuple,
        RAISED,
        RAISED,
    ),
    # a workflow or child function wrapped otherwise
    Change(
        "workflow: wrapped in a decorator that returns its generator",
        plain_base,
        _traced(plain_base, "return"),
        OK,
        OK,
    ),
    Change(
        "workflow: wrapped in a generator decorator",
        plain_base,
        _traced(plain_base, "yield"),
        OK,
        OK,
    ),
    # a partial of a @workflow function names the child as the function does
    Change(
        "Child: @workflow args bound with partial", _child_as("args"), _child_as("partial"), OK, OK
    ),
    Change(
        "Child: partial of a @workflow made args", _child_as("partial"), _child_as("args"), OK, OK
    ),
    Change(
        "Child: plain args bound with partial",
        _child_as("plain"),
        _child_as("plain-partial"),
        OK,
        OK,
    ),
    Change(
        "Child: plain partial made a partial of a @workflow",
        _child_as("plain-partial"),
        _child_as("partial"),
        OK,
        OK,
    ),
    Change(
        "Child: @workflow replaced by a bound method", _child_as("args"), _child_as("method"), N, N
    ),
    Change(
        "Map: bound method of another object", _map_of("method"), _map_of("other-method"), OK, OK
    ),
    Change("Map: bound method made a lambda", _map_of("method"), _map_of("lambda"), OK, OK),
    # polling inside Map items, Patched in odd places
    Change(
        "Map items: WaitForCondition renamed, polling",
        _polled_in_items("poll"),
        _polled_in_items("poll-2"),
        N,
        OK,
    ),
    Change(
        "Patched in an except clause", _patched_in_except(False), _patched_in_except(True), OK, OK
    ),
    Change(
        "Deprecated in an except clause, old path",
        _patched_in_except(False),
        _patched_in_except(True, True),
        N,
        N,
    ),
    Change(
        "Deprecated in an except clause, new path",
        _patched_in_except(True),
        _patched_in_except(True, True),
        OK,
        OK,
    ),
    Change(
        "Patched on one iteration of a loop",
        _patched_per_iteration(False),
        _patched_per_iteration(True),
        OK,
        OK,
    ),
    Change(
        "Patched after the gate of children made in a loop",
        _children_in_loop(False),
        _children_in_loop(True),
        OK,
        OK,
    ),
]


@pytest.mark.parametrize("state", ["suspended", "completed"])
@pytest.mark.parametrize("change", CHANGES, ids=[c.name for c in CHANGES])
def test_every_route_judges_a_change_alike(
    change: Change, state: str, tmp_path: Path, durable_replayer: Replayer
) -> None:
    judge(change, state, tmp_path, durable_replayer)


def test_the_corpus_names_are_unique() -> None:
    assert len({c.name for c in CHANGES}) == len(CHANGES)


@pytest.mark.parametrize(
    "workflow",
    list(dict.fromkeys(w for c in CHANGES for w in (c.v1, c.v2))),
    ids=lambda w: w.__qualname__,
)
def test_every_version_is_deterministic_on_its_own(workflow: Callable[..., Gen]) -> None:
    """The versions are correct workflows: what the corpus sees is the change alone."""
    from durable_gen.testing import DurableRun, assert_deterministic
    from tests.unit.testing.test_change_corpus_options import ANSWER, FUNCTIONS

    change = next(c for c in CHANGES if workflow in (c.v1, c.v2))

    def answer(run: DurableRun) -> None:
        for op in run.operations(type="CALLBACK"):
            if op.status == "STARTED" and op.callback_id is not None:
                run.runner.send_callback_success(op.callback_id, ANSWER)

    if workflow is yields_from_a_tuple:  # a mistake in the code: the check says it cannot run
        with pytest.raises(AssertionError, match="cannot run"):
            assert_deterministic(workflow, change.input, on_idle=answer, random_runs=0)
        return
    assert_deterministic(workflow, change.input, functions=FUNCTIONS, on_idle=answer, random_runs=1)


# --- an attempt interrupted before the deploy, judged from the events -----------------------------

_calls: list[int] = []


def _pay(x: int) -> int:
    _calls.append(x)
    if len(_calls) < _crash_at[0]:
        raise ValueError("declined")
    if len(_calls) == _crash_at[0]:
        raise KeyboardInterrupt  # the process stops inside this attempt
    return x


_crash_at = [1]


def _paying(semantics: Any) -> Callable[..., Gen]:
    retry = dg.Retry(max_attempts=4, initial_delay=5, jitter="none")

    def workflow(x: int) -> Gen:
        try:
            return (yield dg.Step(_pay, (x,), name="pay", retry=retry, semantics=semantics))
        except dg.StepFailedError as exc:
            return exc.error_type

    return _named(workflow, f"paying[{semantics}]")


@pytest.mark.parametrize("at_most_once", [True, False], ids=["at most once", "at least once"])
@pytest.mark.parametrize("crash_at", [1, 3, 4], ids=["first attempt", "third", "last"])
def test_an_interrupted_attempt_is_counted_alike_from_the_state_and_from_the_events(
    crash_at: int, at_most_once: bool, tmp_path: Path
) -> None:
    """The events of a step whose process stopped during an attempt end with its StepStarted:
    that attempt has not ended, and the attempts left to an at-most-once step are the same
    whether its history is read from the service's state or rebuilt from its events (what
    ``durable-gen history --json`` and ``GetDurableExecutionHistory`` give). An at-least-once
    step (its START recorded first: ``checkpointing="eager"``) runs that attempt again."""
    import contextlib
    import io
    import json

    from durable_gen import cli
    from durable_gen import runtime as rt
    from durable_gen.local import LocalService, SqliteStore, VirtualClock
    from durable_gen.testing import load_history, replay, replay_folder

    _calls.clear()
    _crash_at[0] = crash_at
    wf = _paying(dg.AT_MOST_ONCE if at_most_once else dg.AT_LEAST_ONCE)
    clock = VirtualClock(auto_advance=False)
    db = tmp_path / "db.sqlite"
    service = LocalService(store=SqliteStore(db), clock=clock)
    service.register("wf", rt.make_handler(wf, service, checkpointing="eager"))
    arn = service.start("wf", "1")
    with pytest.raises(KeyboardInterrupt):
        for _ in range(10):
            service.run(arn)
            clock.advance(60)
    state = service.get_operations(arn)
    events = service.get_history(arn)
    (pay,) = [op for op in state if op.name == "pay"]
    assert pay.status == "STARTED" and pay.step_details is not None
    (rebuilt,) = [op for op in load_history(events).operations if op.name == "pay"]
    assert rebuilt.step_details is not None
    assert rebuilt.step_details.attempt == pay.step_details.attempt == crash_at - 1
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["history", arn, "--json", "--db", str(db)]) == 0
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "wf.json").write_text(out.getvalue())
    reports = {
        "state": replay(wf, state, execution_arn=arn),
        "events": replay(wf, events, execution_arn=arn),
        "CLI history + replay_folder": replay_folder(wf, folder)[0],
    }
    # at most once: the interrupted attempt failed, and the retry policy (4 attempts) decides:
    # after the fourth, the step failed. At least once: the attempt runs again
    last = at_most_once and crash_at == 4
    statuses = {route: r.status for route, r in reports.items()}
    assert statuses == dict.fromkeys(statuses, "ok" if at_most_once else "incomplete")
    outcomes = {route: (r.outcome, r.result) for route, r in reports.items()}
    if at_most_once:
        wanted = ("succeeded", "StepInterruptedError") if last else ("suspended", None)
        assert outcomes == dict.fromkeys(outcomes, wanted)
    record = service.run(arn)
    for _ in range(10):
        if record.is_terminal:
            break
        clock.advance(60)
        record = service.run(arn)
    assert record.status == "SUCCEEDED"
    assert json.loads(record.result or "null") == ("StepInterruptedError" if last else 1)


@dg.step(name="pay-once", semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def pay_once(x: int) -> int:
    raise KeyboardInterrupt  # the process stops inside the only attempt


def paying_once(x: int) -> Gen:
    return (yield pay_once(x))


def test_a_running_history_the_code_fails_from_is_not_said_to_have_recorded_the_failure() -> None:
    """The execution recorded no failure (it is running, its step interrupted): the report
    says the code fails from what was recorded, as a resume does, not "as recorded"."""
    from durable_gen import runtime as rt
    from durable_gen.local import LocalService, VirtualClock
    from durable_gen.testing import replay

    service = LocalService(clock=VirtualClock(auto_advance=False))
    service.register("wf", rt.make_handler(paying_once, service))
    arn = service.start("wf", "1")
    with pytest.raises(KeyboardInterrupt):
        service.run(arn)
    for source in (service.get_operations(arn), service.get_history(arn)):
        report = replay(paying_once, source, execution_arn=arn)
        assert (report.status, report.outcome) == ("ok", "failed"), report.message
        assert "failed as recorded" not in report.message
        assert "'pay-once' attempt 1 started but never finished" in report.message
        assert "resumed, it fails so" in report.message
    record = service.run(arn)  # the resume fails it so
    assert record.status == "FAILED" and record.error is not None
    assert record.error.error_type == "StepInterruptedError"


# --- histories recorded by an earlier version -----------------------------------------------------


def notify(callback_id: str) -> None:
    """The test answers the callback itself."""


@dg.step(name="notify", retry=dg.Retry(max_attempts=3, initial_delay=10, jitter="none"))
def notify_down(callback_id: str) -> None:
    raise RuntimeError("the mail server is down")


def _approval(submitter: Any) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        try:
            return (yield dg.WaitForCallback(submitter, name="approval", timeout=3600))
        except dg.CallbackFailedError as exc:
            return exc.error_type

    return _named(workflow, f"approval[{submitter.__name__}]")


def _rename_in_sqlite(db: Path, arn: str, names: dict[str, str]) -> None:
    """Rewrite the recorded names of ``arn`` in the SQLite file as an earlier version wrote
    them (the bodies are the operations' and events' JSON)."""
    import json
    import sqlite3

    with sqlite3.connect(db) as conn:
        for table, key in (("operations", "rowid"), ("events", "rowid")):
            rows = conn.execute(f"SELECT {key}, body FROM {table}").fetchall()
            for rowid, body in rows:
                record = json.loads(body)
                if record.get("Name") in names:
                    record["Name"] = names[record["Name"]]
                    conn.execute(
                        f"UPDATE {table} SET body = ? WHERE {key} = ?",
                        (json.dumps(record).encode(), rowid),
                    )
    assert arn


@pytest.mark.parametrize(
    ("submitter", "result"),
    [(notify, {"by": 1}), (notify_down, "RuntimeError")],
    ids=["waiting on the callback", "submitter waiting out a retry"],
)
def test_a_named_wait_for_callback_recorded_with_the_earlier_names_resumes(
    submitter: Any, result: Any, tmp_path: Path
) -> None:
    """Before WaitForCallback named its operations as AWS's SDK does ("x create callback id",
    "x submitter"), a named one recorded "x-callback" and "x-submitter": an execution waiting
    inside one resumes on the current code, and replays."""
    import json

    from durable_gen import runtime as rt
    from durable_gen.local import LocalService, SqliteStore, VirtualClock
    from durable_gen.testing import replay

    wf = _approval(submitter)
    db = tmp_path / "db.sqlite"
    clock = VirtualClock(auto_advance=False)
    old = LocalService(store=SqliteStore(db), clock=clock)
    old.register("wf", rt.make_handler(wf, old))
    arn = old.start("wf", "1")
    assert old.run(arn).status == "RUNNING"
    _rename_in_sqlite(
        db,
        arn,
        {
            "approval create callback id": "approval-callback",
            "approval submitter": "approval-submitter",
        },
    )
    service = LocalService(store=SqliteStore(db), clock=clock)  # the next process
    service.register("wf", rt.make_handler(wf, service))
    inner = [op.name for op in service.get_operations(arn) if op.parent_id is not None]
    assert inner == ["approval-callback", "approval-submitter"]
    for source in (service.get_operations(arn), service.get_history(arn)):
        report = replay(wf, source, execution_arn=arn)
        assert report.status in ("ok", "incomplete"), report.message
    record = service.run(arn)
    for _ in range(10):
        if record.is_terminal:
            break
        callback = next(op for op in service.get_operations(arn) if op.type == "CALLBACK")
        if callback.status == "STARTED" and callback.callback_details is not None:
            assert callback.callback_details.callback_id is not None
            service.send_callback_success(callback.callback_details.callback_id, '{"by": 1}')
        clock.advance(60)
        record = service.run(arn)
    assert record.status == "SUCCEEDED", record.error
    assert json.loads(record.result or "null") == result
    names = [op.name for op in service.get_operations(arn) if op.parent_id is not None]
    assert names == ["approval-callback", "approval-submitter"]  # the recorded names kept


def _batch_named(items: list[int], rev: bool = False, prefix: str = "n") -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        order = list(reversed(items)) if rev else items
        r = yield dg.Map(step_a, order, name="m", item_namer=lambda it, i: f"{prefix}{it}")
        yield from gate()
        return r.results()

    return _named(workflow, f"batch_named[{items},{rev},{prefix}]")


@pytest.mark.parametrize(
    ("v2", "status"),
    [
        (_batch_named([1, 2, 3]), "ok"),
        (_batch_named([1, 2, 3], rev=True), "diverged"),
        (_batch_named([1, 2, 3], prefix="x"), "diverged"),
        (_batch_named([1, 2, 3, 4]), "diverged"),
        (_batch_named([1, 2]), "diverged"),
    ],
    ids=["unchanged", "items reversed", "items renamed", "one more item", "one item fewer"],
)
def test_a_completed_map_whose_result_holds_no_item_names_is_checked_from_its_items(
    v2: Callable[..., Gen], status: str
) -> None:
    """docs/versioning.md: an older history whose result holds no item names has its names
    checked from its item contexts (from its operations, and rebuilt from its events)."""
    import copy
    import json

    from durable_gen.testing import TestRunner, replay

    runner = TestRunner()
    run = runner.run(_batch_named([1, 2, 3]), 1)
    run.send_callback_success("gate", 1)
    runner.run_until_idle()
    old = copy.deepcopy(run.export())

    def strip(payload: str) -> str:
        result = json.loads(payload)
        for item in result["items"]:
            del item["name"]
        return json.dumps(result)

    for op in old["Operations"]:
        if op.get("SubType") == "Map":
            op["ContextDetails"]["Result"] = strip(op["ContextDetails"]["Result"])
    for event in old["Events"]:
        if event.get("SubType") == "Map" and "ContextSucceededDetails" in event:
            box = event["ContextSucceededDetails"]["Result"]
            box["Payload"] = strip(box["Payload"])
    arn = old["DurableExecutionArn"]
    for source in (old, {"Operations": old["Operations"]}, {"Events": old["Events"]}):
        assert replay(v2, source, execution_arn=arn).status == status


# --- the payload format switched between deployments ----------------------------------------------


class Declined(Exception):
    pass


@dg.step(name="declines", retry=dg.Retry.never())
def declines(x: int) -> int:
    raise Declined("no")


@dataclasses.dataclass
class Priced:
    p: int


@dg.step(name="price")
def price(x: int) -> Priced:
    return Priced(x)


def _check(state: dict[str, int]) -> dict[str, int]:
    return {"n": state["n"] + 1}


def _item(x: int) -> Gen:
    r = yield step_a(x)
    yield from gate("item-gate")
    return r


def everything(x: int) -> Gen:
    """One of each payload a format writes, recorded before and after the gate."""
    try:
        yield declines(x)
        before = None
    except dg.StepFailedError as exc:
        before = exc.error_type
    q = yield price(x)
    m = yield dg.Map(step_a, [1, 2], name="m")
    p = yield dg.Parallel([dg.Branch(lambda: {"k": 1}, name="b0")], name="p")
    c = yield dg.WaitForCondition(
        _check,
        {"n": 0},
        wait_strategy=dg.WaitStrategy(until=lambda s: s["n"] >= 2, delay=5),
        name="poll",
    )
    k = yield dg.Child(_item, (5,), name="kid")
    yield from gate()
    mi = yield dg.Map(_item, [7, 8], name="mi")
    w = yield dg.WaitForCallback(submit, name="wfc")
    try:
        yield declines(x)
        after = None
    except dg.StepFailedError as exc:
        after = exc.error_type
    results = [m.results(), p.results(), c, k, mi.results(), w]
    return [before, dataclasses.asdict(q), *results, after]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("json", "aws"),
        ("aws", "json"),
        ("step", "batch"),
        ("batch", "eager"),
        ("eager", "step"),
    ],
    ids=[
        "json made aws",
        "aws made json",
        "checkpointing step made batch",
        "checkpointing batch made eager",
        "checkpointing eager made step",
    ],
)
def test_the_payload_format_or_checkpointing_changed_between_deployments(
    before: str, after: str
) -> None:
    """docs/lambda.md: durable_gen reads both formats wherever it reads one, so an execution
    recorded in one resumes under a handler writing the other, and replays; a failure keeps
    the error type it was recorded with (module-qualified in "aws"). The checkpointing mode
    changed between deployments changes when updates are sent, not what is recorded."""
    import json

    from durable_gen import runtime as rt
    from durable_gen.local import LocalService, VirtualClock
    from durable_gen.testing import replay

    def option(value: str) -> dict[str, str]:
        if value in ("json", "aws"):
            return {"payload_format": value}
        return {"checkpointing": value}

    clock = VirtualClock(auto_advance=False)
    service = LocalService(clock=clock)
    service.register("wf", rt.make_handler(everything, service, **option(before)))  # type: ignore[arg-type]
    arn = service.start("wf", "1")
    for _ in range(20):
        service.run(arn)
        if any(op.name == "gate" for op in service.get_operations(arn)):
            break
        for op in service.get_operations(arn):
            if op.name == "item-gate" and op.status == "STARTED" and op.callback_details:
                assert op.callback_details.callback_id is not None
                service.send_callback_success(op.callback_details.callback_id, "6")
        clock.advance(10)
    else:
        raise AssertionError("never reached the gate")
    service.register("wf", rt.make_handler(everything, service, **option(after)))  # type: ignore[arg-type]
    record = service.run(arn)
    for _ in range(50):
        if record.is_terminal:
            break
        for op in service.get_operations(arn):
            if op.type == "CALLBACK" and op.status == "STARTED" and op.callback_details:
                assert op.callback_details.callback_id is not None
                service.send_callback_success(op.callback_details.callback_id, '{"by": 1}')
        clock.advance(10)
        record = service.run(arn)
    assert record.status == "SUCCEEDED", record.error
    qualified = f"{__name__}.Declined"
    types = {"json": "Declined", "aws": qualified}
    types.update(dict.fromkeys(("step", "batch", "eager"), "Declined"))
    middle = [{"p": 1}, [2, 3], [{"k": 1}], {"n": 2}, 6, [8, 9], {"by": 1}]
    wanted = [types[before], *middle, types[after]]
    assert json.loads(record.result or "null") == wanted
    for source in (service.get_operations(arn), service.get_history(arn)):
        report = replay(everything, source, execution_arn=arn)
        assert report.status == "ok" and report.outcome == "succeeded", report.message
        assert json.loads(dg.JsonSerdes().serialize(report.result)) == wanted
