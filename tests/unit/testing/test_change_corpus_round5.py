"""A fourth corpus of code changes made between deployments, judged by every route with the
judge of ``test_change_corpus_options.py`` (the engine in memory and on SQLite, the Lambda
handler, the interpreter, ``replay`` of the export and of its events, the pytest plugin's
``durable_replayer``, and ``durable-gen history --json`` replayed by ``replay_folder``), which
must all give the verdict docs/versioning.md gives and, when they accept, the same result.

Its emphasis: one name kept while the command's type changes (a Map made a Parallel, an
Invoke a Child, a Wait a callback, ...), steps moved out of a child, nested and misplaced
versioning markers (``Patched`` in ``Patched``, in a ``yield from`` sub-workflow, in a virtual
child inside Map items, a ``Deprecated`` under another change id), changes after a failure
was recorded (a failed step, child, Map item; a saga's rollback that ran), and the type a
recorded payload is decoded into (a step's return annotation, a polled state, a child's typed
result, a Map function's return, an Invoke's ``result_type``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, assert_deterministic, replay
from durable_gen.testing.pytest_plugin import Replayer
from tests.unit.testing.test_change_corpus_options import (
    ANSWER,
    FAILED,
    FUNCTIONS,
    OK,
    RAISED,
    Change,
    Gen,
    N,
    gate,
    judge,
    submit,
)

# --- steps ----------------------------------------------------------------------------------------


@dg.step(name="a")
def step_a(x: int) -> int:
    return x + 1


@dg.step(name="b")
def step_b(x: int) -> int:
    return x + 2


@dg.step(name="c")
def step_c(x: int) -> int:
    return x + 3


def _named(wf: Callable[..., Gen], name: str) -> Callable[..., Gen]:
    wf.__qualname__ = wf.__name__ = name
    return wf


# --- one name, another type of command ------------------------------------------------------------


def map_batch(x: int) -> Gen:
    r = yield dg.Map(step_a, [1, 2], name="batch")
    yield from gate()
    return [item.result for item in r.items]


def parallel_batch(x: int) -> Gen:
    branches = [dg.Branch(lambda: 2, name="map-item-0"), dg.Branch(lambda: 3, name="map-item-1")]
    r = yield dg.Parallel(branches, name="batch")
    yield from gate()
    return [item.result for item in r.items]


def _one_step_body(x: int) -> Gen:
    return (yield step_a(x))


def child_batch(x: int) -> Gen:
    r = yield dg.Child(_one_step_body, (x,), name="batch")
    yield from gate()
    return r


def invoke_t(x: int) -> Gen:
    r = yield dg.Invoke("tax", x, name="t")
    yield from gate()
    return r


def child_t(x: int) -> Gen:
    r = yield dg.Child(_one_step_body, (x,), name="t")
    yield from gate()
    return r


def step_t(x: int) -> Gen:
    r = yield dg.Step(lambda: 3, name="t")
    yield from gate()
    return r


def wait_w(x: int) -> Gen:
    yield dg.Wait(seconds=5, name="w")
    yield from gate()
    return 1


def callback_w(x: int) -> Gen:
    handle = yield dg.CreateCallback(name="w")
    yield handle
    yield from gate()
    return 1


# --- steps moved out of a child -------------------------------------------------------------------


def _two_steps_body(x: int) -> Gen:
    a = yield step_a(x)
    return (yield step_b(a))


def two_steps_in_child(x: int) -> Gen:
    r = yield dg.Child(_two_steps_body, (x,), name="kid")
    yield from gate()
    return r


def two_steps_at_root(x: int) -> Gen:
    a = yield step_a(x)
    r = yield step_b(a)
    yield from gate()
    return r


def _kid_waits(x: int) -> Gen:
    a = yield step_a(x)
    yield from gate("inner")
    return (yield step_b(a))


def waiting_in_child(x: int) -> Gen:
    return (yield dg.Child(_kid_waits, (x,), name="kid"))


def _kid_waits_without_a(x: int) -> Gen:
    yield from gate("inner")
    return (yield step_b(x))


def first_step_moved_out_of_child(x: int) -> Gen:
    a = yield step_a(x)
    return (yield dg.Child(_kid_waits_without_a, (a,), name="kid"))


# --- versioning markers ---------------------------------------------------------------------------


def base(x: int) -> Gen:
    a = yield step_a(x)
    yield from gate()
    return (yield step_c(a))


def nested_patched(x: int) -> Gen:
    a = yield step_a(x)
    if (yield dg.Patched("outer")):
        a = yield step_b(a)
        if (yield dg.Patched("inner")):
            a = yield step_b(a)
    yield from gate()
    return (yield step_c(a))


def two_patched_first(x: int) -> Gen:
    if (yield dg.Patched("one")):
        x = yield step_b(x)
    if (yield dg.Patched("two")):
        x = yield step_c(x)
    a = yield step_a(x)
    yield from gate()
    return (yield step_c(a))


def _patched_sub() -> Gen:
    if (yield dg.Patched("sub")):
        return (yield step_b(1))
    return 0


def patched_in_yield_from(x: int) -> Gen:
    a = yield step_a(x)
    b = yield from _patched_sub()
    yield from gate()
    return (yield step_c(a + b))


def gate_first(x: int) -> Gen:
    yield from gate()
    a = yield step_a(x)
    return (yield step_c(a))


def gate_first_patched(x: int) -> Gen:
    yield from gate()
    if (yield dg.Patched("extra")):
        x = yield step_b(x)
    a = yield step_a(x)
    return (yield step_c(a))


def gate_first_new_path_kept(x: int) -> Gen:
    yield from gate()
    x = yield step_b(x)
    a = yield step_a(x)
    return (yield step_c(a))


def _kid_gated(x: int) -> Gen:
    yield from gate("inner")
    return (yield step_a(x))


def _kid_deprecated(x: int) -> Gen:
    yield dg.Deprecated("kid-extra")
    a = yield step_b(x)
    yield from gate("inner")
    return (yield step_a(a))


def kid_gated(x: int) -> Gen:
    return (yield dg.Child(_kid_gated, (x,), name="kid"))


def kid_deprecated(x: int) -> Gen:
    return (yield dg.Child(_kid_deprecated, (x,), name="kid"))


def _item_waits(x: int) -> Gen:
    yield dg.Wait(seconds=10 * x, name="item-wait")
    return (yield step_a(x))


def _deep_body(x: int) -> Gen:
    if (yield dg.Patched("deep")):
        x = yield step_b(x)
    return (yield step_a(x))


def _item_waits_then_patched(x: int) -> Gen:
    yield dg.Wait(seconds=10 * x, name="item-wait")
    return (yield dg.Child(_deep_body, (x,), name="deep", virtual=True))


def _items(fn: Callable[[int], Gen]) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        r = yield dg.Map(fn, [1, 2], name="m")
        yield from gate()
        return [item.result for item in r.items]

    return _named(workflow, f"items[{fn.__name__}]")


def receipt_patched(x: int) -> Gen:
    a = yield step_a(x)
    if (yield dg.Patched("send-receipt")):
        yield step_b(a)
    yield from gate()
    return (yield step_c(a))


def receipt_deprecated(x: int) -> Gen:
    a = yield step_a(x)
    yield dg.Deprecated("send-receipt")
    yield step_b(a)
    yield from gate()
    return (yield step_c(a))


def receipt_deprecated_first(x: int) -> Gen:
    yield dg.Deprecated("send-receipt")
    a = yield step_a(x)
    yield step_b(a)
    yield from gate()
    return (yield step_c(a))


def receipt_deprecated_other_id(x: int) -> Gen:
    a = yield step_a(x)
    yield dg.Deprecated("send_receipt")
    yield step_b(a)
    yield from gate()
    return (yield step_c(a))


def receipt_patched_other_id(x: int) -> Gen:
    a = yield step_a(x)
    if (yield dg.Patched("send_receipt")):
        yield step_b(a)
    yield from gate()
    return (yield step_c(a))


def receipt_unguarded(x: int) -> Gen:
    a = yield step_a(x)
    yield step_b(a)
    yield from gate()
    return (yield step_c(a))


# --- after a failure was recorded -----------------------------------------------------------------


@dg.step(name="boom", retry=dg.Retry.never())
def boom(x: int) -> int:
    raise RuntimeError("no")


@dg.step(name="boom-2", retry=dg.Retry.never())
def boom_renamed(x: int) -> int:
    raise RuntimeError("no")


def _caught(step: Any) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        with contextlib.suppress(dg.StepFailedError):
            yield step(x)
        yield from gate()
        return 5

    return _named(workflow, f"caught[{step.name}]")


def _kid_fails(x: int) -> Gen:
    yield step_a(x)
    raise ValueError("kid")


def _kid_fails_otherwise(x: int) -> Gen:
    yield step_b(x)
    raise ValueError("kid")


def _child_caught(name: str, body: Callable[[int], Gen] = _kid_fails) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        with contextlib.suppress(dg.OperationError):
            yield dg.Child(body, (x,), name=name)
        yield from gate()
        return 5

    return _named(workflow, f"child_caught[{name},{body.__name__}]")


@dg.step(name="half", retry=dg.Retry.never())
def half(x: int) -> int:
    if x == 0:
        raise ValueError("zero")
    return x


@dg.step(name="half-2", retry=dg.Retry.never())
def half_renamed(x: int) -> int:
    if x == 0:
        raise ValueError("zero")
    return x


def _tolerant_map(fn: Any) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        r = yield dg.Map(fn, [0, 1], name="m", completion=dg.Completion(tolerated_failure_count=1))
        yield from gate()
        return [item.status for item in r.items]

    return _named(workflow, f"tolerant_map[{fn.name}]")


def undo_a(result: int) -> None:
    pass


def undo_b(result: int) -> None:
    pass


@dg.step(name="book", compensate=undo_a)
def book_undone_by_a(x: int) -> int:
    return x


@dg.step(name="book", compensate=undo_b)
def book_undone_by_b(x: int) -> int:
    return x


@dg.step(name="book")
def book_without_undo(x: int) -> int:
    return x


def _saga(step: Any, rolled_back_first: bool) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        yield step(x)
        if rolled_back_first:
            undone = yield dg.RunCompensations()
            yield from gate()
        else:
            yield from gate()
            undone = yield dg.RunCompensations()
        return [u.name for u in undone]

    return _named(workflow, f"saga[{step.fn.__name__},{rolled_back_first}]")


def _parallel_one_fails(**options: Any) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        branches = [
            dg.Branch(lambda: 1, name="fine"),
            dg.Branch(functools.partial(boom, 0), name="bad"),
        ]
        r = yield dg.Parallel(branches, name="p", **options)
        yield from gate()
        return [item.status for item in r.items]

    return _named(workflow, f"parallel_one_fails[{sorted(options)}]")


# --- Parallel of @workflow generator functions ----------------------------------------------------


@dg.workflow
def branch_a() -> Gen:
    return (yield step_a(1))


@dg.workflow
def branch_b() -> Gen:
    return (yield step_b(1))


def _parallel_of(*fns: Callable[[], Gen]) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        r = yield dg.Parallel(list(fns), name="p")
        yield from gate()
        return [item.result for item in r.items]

    return _named(workflow, f"parallel_of[{','.join(f.__name__ for f in fns)}]")


# --- the type a recorded payload is decoded into --------------------------------------------------


@dg.step(name="n")
def returns_none(x: int) -> None:
    return None


@dg.step(name="n")
def returns_int(x: int) -> int:
    return 1


@dg.step(name="n")
def returns_optional(x: int) -> int | None:
    return 1


@dg.step(name="f")
def returns_float(x: int) -> float:
    return 1.5


@dg.step(name="f")
def returns_int_f(x: int) -> int:
    return 1


@dg.step(name="l")
def returns_list(x: int) -> list[int]:
    return [1, 2]


@dg.step(name="l")
def returns_tuple(x: int) -> tuple[int, ...]:
    return (1, 2)


def _stepped(step: Any) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        r = yield step(x)
        yield from gate()
        return r

    return _named(workflow, f"stepped[{step.fn.__name__}]")


@dataclasses.dataclass
class State:
    n: int


def check_dict(state: dict[str, int]) -> dict[str, int]:
    return {"n": state["n"] + 1}


def check_state(state: State) -> State:
    return State(n=state.n + 1)


def _until_three(state: Any, attempt: int) -> dg.WaitDecision:
    n = state["n"] if isinstance(state, dict) else state.n
    return dg.WaitDecision.done() if n >= 3 else dg.WaitDecision.again(10)


def _polling(check: Callable[[Any], Any], initial: Any) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        s = yield dg.WaitForCondition(check, initial, wait_strategy=_until_three, name="poll")
        yield from gate()
        return s["n"] if isinstance(s, dict) else s.n

    return _named(workflow, f"polling[{check.__name__}]")


@dataclasses.dataclass
class Totals:
    total: int


@dataclasses.dataclass
class TotalsV2:
    total: str
    extra: int


def _kid_totals(x: int) -> dg.Workflow[Totals]:
    a = yield step_a(x)
    return Totals(total=a)


def _kid_totals_v2(x: int) -> dg.Workflow[TotalsV2]:
    a = yield step_a(x)
    return TotalsV2(total=str(a), extra=0)


def _child_typed(body: Callable[[int], Gen]) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        r = yield dg.Child(body, (x,), name="k")
        yield from gate()
        return dataclasses.asdict(r)

    return _named(workflow, f"child_typed[{body.__name__}]")


@dataclasses.dataclass
class Box:
    v: int


@dg.step(name="item")
def item_int(x: int) -> int:
    return x


@dg.step(name="item")
def item_box(x: int) -> Box:
    return Box(v=x)


def _mapped(fn: Any) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        r = yield dg.Map(fn, [1, 2], name="m")
        yield from gate()
        return [item.result for item in r.items]

    return _named(workflow, f"mapped[{fn.fn.__name__}]")


def _invoking(result_type: type | None) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        options = {} if result_type is None else {"result_type": result_type}
        return (yield dg.Invoke("slow-tax", x, name="t", **options))

    return _named(workflow, f"invoking[{result_type}]")


@dataclasses.dataclass
class Order:
    id: str
    amount: int = 0


@dataclasses.dataclass
class OrderV2:
    id: str
    currency: str  # a new field without a default


def takes_int(x: int) -> Gen:
    a = yield step_a(x)
    yield from gate()
    return a


def takes_nothing() -> Gen:
    a = yield step_a(0)
    yield from gate()
    return a


def takes_float(x: float) -> Gen:
    a = yield step_a(int(x))
    yield from gate()
    return a


def takes_int_and_keyword(x: int, *, extra: int = 5) -> Gen:
    a = yield step_a(x)
    yield from gate()
    return a + extra


def takes_order(order: Order) -> Gen:
    a = yield step_a(order.amount)
    yield from gate()
    return a


def takes_order_v2(order: OrderV2) -> Gen:
    a = yield step_a(0)
    yield from gate()
    return a


def takes_dict(order: dict[str, Any]) -> Gen:
    a = yield step_a(order.get("amount", 0))
    yield from gate()
    return a


# --- retries pending, callbacks and invokes waiting, inside contexts ------------------------------


@dg.step(name="flaky", retry=dg.Retry(max_attempts=3, initial_delay=60, jitter="none"))
def flaky(x: int) -> int:
    raise TimeoutError(f"down for {x}")


@dg.step(name="flaky", retry=dg.Retry.never())
def flaky_never_retried(x: int) -> int:
    raise TimeoutError(f"down for {x}")


@dg.step(name="flaky-2", retry=dg.Retry(max_attempts=3, initial_delay=60, jitter="none"))
def flaky_renamed(x: int) -> int:
    raise TimeoutError(f"down for {x}")


@dg.step(name="slow", timeout=1, retry=dg.Retry(max_attempts=2, initial_delay=60, jitter="none"))
def slow_timed(x: int) -> int:
    raise TimeoutError(f"slow for {x}")


@dg.step(name="slow", retry=dg.Retry(max_attempts=2, initial_delay=60, jitter="none"))
def slow_untimed(x: int) -> int:
    raise TimeoutError(f"slow for {x}")


_TOLERANT = dg.Completion(tolerated_failure_count=2)


def _map_retrying(step: Any) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        r = yield dg.Map(step, [1, 2], name="m", completion=_TOLERANT)
        return [item.status for item in r.items]

    return _named(workflow, f"map_retrying[{step.fn.__name__}]")


def _child_retrying(step: Any, name: str = "k") -> Callable[..., Gen]:
    def body(x: int) -> Gen:
        try:
            return (yield step(x))
        except dg.StepFailedError as exc:
            return exc.error_type

    def workflow(x: int) -> Gen:
        return (yield dg.Child(body, (x,), name=name))

    return _named(workflow, f"child_retrying[{step.fn.__name__},{name}]")


def _parallel_retrying(swapped: bool) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        branches = [
            dg.Branch(functools.partial(flaky, 1), name="r"),
            dg.Branch(functools.partial(step_a, 1), name="s"),
        ]
        if swapped:
            branches.reverse()
        r = yield dg.Parallel(branches, name="p", completion=_TOLERANT)
        return [item.status for item in r.items]

    return _named(workflow, f"parallel_retrying[{swapped}]")


def _map_of_callbacks(name: str, n: int = 2) -> Callable[..., Gen]:
    def item(x: int) -> Gen:
        a = yield step_a(x)
        yield dg.WaitForCallback(submit, name=name)
        return a

    def workflow(x: int) -> Gen:
        r = yield dg.Map(item, list(range(n)), name="m")
        return [i.result for i in r.items]

    return _named(workflow, f"map_of_callbacks[{name},{n}]")


def _child_invoking(target: str, name: str = "t") -> Callable[..., Gen]:
    def body(x: int) -> Gen:
        return (yield dg.Invoke(target, x, name=name))

    def workflow(x: int) -> Gen:
        return (yield dg.Child(body, (x,), name="k"))

    return _named(workflow, f"child_invoking[{target},{name}]")


def _deep(patched: bool) -> Callable[..., Gen]:
    """A Map in a Parallel branch in a Child, its items waiting; version 2 adds a Patched
    step first in the items."""

    def item(x: int) -> Gen:
        if patched and (yield dg.Patched("deep-change")):
            yield step_b(x)
        yield dg.Wait(seconds=30, name="item-wait")
        return (yield step_a(x))

    def branch() -> Gen:
        r = yield dg.Map(item, [1, 2], name="inner")
        return [i.result for i in r.items]

    def body(x: int) -> Gen:
        r = yield dg.Parallel([dg.Branch(branch, name="br")], name="p")
        return r.items[0].result

    def workflow(x: int) -> Gen:
        return (yield dg.Child(body, (x,), name="k"))

    return _named(workflow, f"deep[{patched}]")


def _parallel_branch_patched(patched: bool) -> Callable[..., Gen]:
    def waits() -> Gen:
        if patched and (yield dg.Patched("first-in-branch")):
            yield step_b(1)
        yield dg.Wait(seconds=30, name="branch-wait")
        return (yield step_a(1))

    def workflow(x: int) -> Gen:
        branches = [dg.Branch(waits, name="one"), dg.Branch(lambda: 5, name="two")]
        r = yield dg.Parallel(branches, name="p")
        return [i.result for i in r.items]

    return _named(workflow, f"parallel_branch_patched[{patched}]")


def _items_patched_after_wait(patched: bool) -> Callable[..., Gen]:
    def item(x: int) -> Gen:
        yield dg.Wait(seconds=30 * (x + 1), name="item-wait")
        if patched and (yield dg.Patched("after-wait")):
            return (yield step_b(x))
        return (yield step_a(x))

    def workflow(x: int) -> Gen:
        r = yield dg.Map(item, [0, 1], name="m", max_concurrency=1)
        return [i.result for i in r.items]

    return _named(workflow, f"items_patched_after_wait[{patched}]")


class OtherJson(dg.JsonSerdes):
    """A serdes of the user's that reads and writes JSON."""


def _callback_read_by(serdes: Any) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        handle = yield dg.CreateCallback(name="c", serdes=serdes)
        return (yield handle)

    return _named(workflow, f"callback_read_by[{type(serdes).__name__}]")


@dg.step(name="check")
def check_named(state: dict[str, int]) -> dict[str, int]:
    return {"n": state["n"] + 1}


@dg.step(name="check-2")
def check_renamed(state: dict[str, int]) -> dict[str, int]:
    return {"n": state["n"] + 1}


def _polled_by(check: Any) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        return (yield dg.WaitForCondition(check, {"n": 0}, wait_strategy=_until_three, name="poll"))

    return _named(workflow, f"polled_by[{check.name}]")


def bump(state: dict[str, int]) -> dict[str, int]:
    return {"n": state["n"] + 1}


def _capped(max_attempts: int | None) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        strategy = dg.WaitStrategy(until=lambda s: s["n"] >= 8, delay=10, max_attempts=max_attempts)
        try:
            return (yield dg.WaitForCondition(bump, {"n": 0}, wait_strategy=strategy, name="poll"))
        except dg.OperationError as exc:
            return exc.error_type

    return _named(workflow, f"capped[{max_attempts}]")


class Lenient(dg.JsonSerdes):
    """Reads JSON, and JSON behind a ``T:`` tag."""

    def deserialize(self, payload: str) -> Any:
        return super().deserialize(payload.removeprefix("T:"))


class Tagged(dg.JsonSerdes):
    """Writes JSON behind a ``T:`` tag, and reads nothing else."""

    def serialize(self, value: Any) -> str:
        return "T:" + super().serialize(value)

    def deserialize(self, payload: str) -> Any:
        if not payload.startswith("T:"):
            raise dg.SerializationError(f"not tagged: {payload[:20]!r}")
        return super().deserialize(payload[2:])


def _waiting_item(x: int) -> Gen:
    yield dg.Wait(seconds=10 * (x + 1), name="item-wait")
    return x * 10


def _items_read_by(**options: Any) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        r = yield dg.Map(_waiting_item, [0, 1, 2], name="m", **options)
        return [i.result for i in r.items]

    return _named(workflow, f"items_read_by[{sorted(options)}]")


# --- the corpus -----------------------------------------------------------------------------------

CHANGES = [
    Change("Map made a Parallel of the same name", map_batch, parallel_batch, N, N),
    Change("Parallel made a Map of the same name", parallel_batch, map_batch, N, N),
    Change("Child made a Map of the same name", child_batch, map_batch, N, N),
    Change("Map made a Child of the same name", map_batch, child_batch, N, N),
    Change("Invoke made a Child of the same name", invoke_t, child_t, N, N),
    Change("Child made an Invoke of the same name", child_t, invoke_t, N, N),
    Change("Wait made a CreateCallback of the same name", wait_w, callback_w, N, N),
    Change("CreateCallback made a Wait of the same name", callback_w, wait_w, N, N),
    Change("Step made an Invoke of the same name", step_t, invoke_t, N, N),
    Change("Invoke made a Step of the same name", invoke_t, step_t, N, N),
    Change("steps moved out of a child", two_steps_in_child, two_steps_at_root, N, N),
    Change(
        "first step moved out of a child, waiting in it",
        waiting_in_child,
        first_step_moved_out_of_child,
        N,
        N,
    ),
    Change("Patched inside Patched, before the gate", base, nested_patched, OK, OK),
    Change("two Patched in a row before everything", base, two_patched_first, OK, OK),
    Change("Patched in a yield-from sub-workflow", base, patched_in_yield_from, OK, OK),
    Change(
        "Patched removed, new path kept, past it",
        gate_first_patched,
        gate_first_new_path_kept,
        OK,
        OK,
    ),
    Change("Patched removed with its new path, past it", gate_first_patched, gate_first, OK, N),
    Change("Deprecated first in a child, waiting inside", kid_gated, kid_deprecated, N, OK),
    Change(
        "Patched in a virtual child of Map items, waiting in them",
        _items(_item_waits),
        _items(_item_waits_then_patched),
        OK,
        OK,
    ),
    Change("Deprecated on the new path", receipt_patched, receipt_deprecated, OK, OK),
    Change(
        "Deprecated moved before the step it followed",
        receipt_patched,
        receipt_deprecated_first,
        OK,
        OK,
    ),
    Change("Patched: change id renamed, new path", receipt_patched, receipt_patched_other_id, N, N),
    Change(
        "Patched added after the change shipped unguarded", receipt_unguarded, receipt_patched, N, N
    ),
    Change(
        "Deprecated under another change id", receipt_patched, receipt_deprecated_other_id, N, N
    ),
    Change("failed step renamed after its failure", _caught(boom), _caught(boom_renamed), N, N),
    Change("failed child renamed after its failure", _child_caught("k"), _child_caught("k2"), N, N),
    Change(
        "failed child's body changed after its failure",
        _child_caught("k"),
        _child_caught("k", _kid_fails_otherwise),
        OK,
        OK,
    ),
    Change(
        "Map: item step renamed after an item failed",
        _tolerant_map(half),
        _tolerant_map(half_renamed),
        N,
        N,
    ),
    Change(
        "saga: undo replaced after it ran",
        _saga(book_undone_by_a, True),
        _saga(book_undone_by_b, True),
        N,
        N,
    ),
    Change(
        "saga: compensate removed after it ran",
        _saga(book_undone_by_a, True),
        _saga(book_without_undo, True),
        N,
        N,
    ),
    Change(
        "saga: compensate added before the rollback runs",
        _saga(book_without_undo, False),
        _saga(book_undone_by_a, False),
        OK,
        None,
        result=["book"],
    ),
    Change(
        "saga: undo replaced before the rollback runs",
        _saga(book_undone_by_a, False),
        _saga(book_undone_by_b, False),
        OK,
        None,
        result=["book"],
    ),
    Change(
        "Parallel: a failure tolerated after it was recorded",
        _parallel_one_fails(),
        _parallel_one_fails(completion=dg.Completion(tolerated_failure_count=1)),
        OK,
        OK,
    ),
    # docs/versioning.md: a completed unnamed generator branch replays from its record; a
    # @dg.workflow function does not name a branch (only a Child): name branches that move
    Change(
        "Parallel: unnamed @workflow branches swapped",
        _parallel_of(branch_a, branch_b),
        _parallel_of(branch_b, branch_a),
        OK,
        OK,
        result=[2, 3],
    ),
    Change(
        "step: -> None made -> int", _stepped(returns_none), _stepped(returns_int), FAILED, FAILED
    ),
    Change(
        "step: -> int made -> int | None",
        _stepped(returns_int),
        _stepped(returns_optional),
        OK,
        OK,
        result=1,
    ),
    Change(
        "step: -> float made -> int",
        _stepped(returns_float),
        _stepped(returns_int_f),
        FAILED,
        FAILED,
    ),
    Change(
        "step: -> list made -> tuple",
        _stepped(returns_list),
        _stepped(returns_tuple),
        OK,
        OK,
        result=[1, 2],
    ),
    Change(
        "WaitForCondition: dict state made a dataclass, while polling",
        _polling(check_dict, {"n": 0}),
        _polling(check_state, State(n=0)),
        OK,
        OK,
        result=3,
    ),
    Change(
        "Child: typed result made incompatible",
        _child_typed(_kid_totals),
        _child_typed(_kid_totals_v2),
        FAILED,
        FAILED,
    ),
    Change(
        "Map: item function's return made a dataclass",
        _mapped(item_int),
        _mapped(item_box),
        FAILED,
        FAILED,
    ),
    Change("input: its parameter removed", takes_int, takes_nothing, RAISED, RAISED),
    Change("input: int annotation made float", takes_int, takes_float, OK, OK, result=2),
    Change(
        "input: a keyword-only parameter added", takes_int, takes_int_and_keyword, OK, OK, result=7
    ),
    Change(
        "input: a required field added to its dataclass",
        takes_order,
        takes_order_v2,
        FAILED,
        FAILED,
        input={"id": "o-1"},
    ),
    Change(
        "input: dataclass annotation made a dict",
        takes_order,
        takes_dict,
        OK,
        OK,
        input={"id": "o-1"},
        result=1,
    ),
    Change(
        "Map item retry pending: retry made never",
        _map_retrying(flaky),
        _map_retrying(flaky_never_retried),
        OK,
        OK,
    ),
    Change(
        "Map item retry pending: step renamed",
        _map_retrying(flaky),
        _map_retrying(flaky_renamed),
        N,
        N,
    ),
    Change(
        "Child retry pending: child renamed",
        _child_retrying(flaky),
        _child_retrying(flaky, "k2"),
        N,
        N,
    ),
    Change(
        "Child retry pending: step renamed",
        _child_retrying(flaky),
        _child_retrying(flaky_renamed),
        N,
        OK,
    ),
    Change(
        "Child retry pending: step timeout removed",
        _child_retrying(slow_timed),
        _child_retrying(slow_untimed),
        OK,
        OK,
    ),
    Change(
        "Parallel retry pending: named branches swapped",
        _parallel_retrying(False),
        _parallel_retrying(True),
        N,
        N,
    ),
    Change(
        "Map items on callbacks: WaitForCallback renamed",
        _map_of_callbacks("approve"),
        _map_of_callbacks("approve-2"),
        N,
        OK,
    ),
    Change(
        "Map items on callbacks: one more item",
        _map_of_callbacks("approve"),
        _map_of_callbacks("approve", 3),
        OK,
        N,
    ),
    Change(
        "Invoke in a child: target changed, waiting",
        _child_invoking("slow-tax"),
        _child_invoking("tax"),
        OK,
        OK,
    ),
    Change(
        "Invoke in a child: renamed, waiting",
        _child_invoking("slow-tax"),
        _child_invoking("slow-tax", "t2"),
        N,
        OK,
    ),
    Change(
        "Map in Parallel in Child: Patched first in items, waiting",
        _deep(False),
        _deep(True),
        OK,
        OK,
    ),
    Change(
        "Parallel branch: Patched first, waiting in it",
        _parallel_branch_patched(False),
        _parallel_branch_patched(True),
        OK,
        OK,
    ),
    Change(
        "Map items one at a time: Patched after their wait",
        _items_patched_after_wait(False),
        _items_patched_after_wait(True),
        OK,
        OK,
    ),
    Change(
        "CreateCallback: serdes set while waiting",
        _callback_read_by(None),
        _callback_read_by(OtherJson()),
        OK,
        OK,
    ),
    Change(
        "WaitForCondition: named check renamed, polling",
        _polled_by(check_named),
        _polled_by(check_renamed),
        OK,
        OK,
    ),
    Change(
        "WaitForCondition: max_attempts below the attempts made, polling",
        _capped(None),
        _capped(2),
        OK,
        OK,
    ),
    Change(
        "Map: item_serdes that reads JSON set, items waiting",
        _items_read_by(),
        _items_read_by(item_serdes=Lenient()),
        OK,
        OK,
        result=[0, 10, 20],
    ),
    Change(
        "Map: item_serdes that reads only its own set, items waiting",
        _items_read_by(),
        _items_read_by(item_serdes=Tagged()),
        OK,
        OK,
        result=[0, 10, 20],
    ),
    Change(
        "Map: item_serdes removed, items waiting",
        _items_read_by(item_serdes=Tagged()),
        _items_read_by(),
        OK,
        OK,
        result=[0, 10, 20],
    ),
    Change("Invoke: result_type set while waiting on it", _invoking(None), _invoking(int), OK, OK),
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
    [  # takes_nothing cannot run on its own: it is the mistake of dropping the input
        w for w in dict.fromkeys(w for c in CHANGES for w in (c.v1, c.v2)) if w is not takes_nothing
    ],
    ids=lambda w: w.__qualname__,
)
def test_every_version_is_deterministic_on_its_own(workflow: Callable[..., Gen]) -> None:
    change = next(c for c in CHANGES if workflow in (c.v1, c.v2))

    def answer(run: Any) -> None:
        for op in run.operations(type="CALLBACK"):
            if op.status == "STARTED" and op.callback_id is not None:
                run.runner.send_callback_success(op.callback_id, ANSWER)

    assert_deterministic(workflow, change.input, functions=FUNCTIONS, on_idle=answer, random_runs=1)


# --- what the messages say ------------------------------------------------------------------------


def _suspended_on(v1: Callable[..., Gen]) -> dict[str, Any]:
    run = TestRunner(skip_time=False, functions=FUNCTIONS).run(v1, 1)
    assert run.status == "RUNNING", run.error
    return run.export()


def test_a_deprecated_under_another_id_names_the_recorded_change() -> None:
    """An execution that took the new path under 'send-receipt' is not one that took the old
    path: the message says which change id it recorded, so the fix is to keep that id (not
    to keep Patched under the new id, which would send it down the old path)."""
    report = replay(receipt_deprecated_other_id, _suspended_on(receipt_patched))
    assert report.status == "diverged"
    assert "'send-receipt'" in report.message
    assert "give Deprecated the recorded id" in report.message
    old_path = replay(receipt_deprecated_other_id, _suspended_on(base))
    assert old_path.status == "diverged"
    assert "send-receipt" not in old_path.message
    assert "keep Patched('send_receipt') and the old branch" in old_path.message


@pytest.mark.parametrize(
    "v2",
    [receipt_patched_other_id, base],
    ids=["change id renamed", "Patched removed with its new path"],
)
def test_a_divergence_past_a_marker_the_code_skipped_names_it(v2: Callable[..., Gen]) -> None:
    """An execution that took a Patched's new path, resumed on code that no longer evaluates
    that change id, diverges further on; the message says which marker it skipped."""
    report = replay(v2, _suspended_on(receipt_patched))
    assert report.status == "diverged"
    assert "the marker of change 'send-receipt'" in report.message
    run = TestRunner(skip_time=False, functions=FUNCTIONS).run(receipt_patched, 1)
    run.runner.deploy(receipt_patched, v2)
    run.send_callback_success("gate", ANSWER)
    run.runner.run_until_idle()
    assert run.error is not None and run.error.error_type == "NonDeterminismError"
    assert "the marker of change 'send-receipt'" in (run.error.error_message or "")


def test_a_divergence_with_no_skipped_marker_says_nothing_of_markers() -> None:
    report = replay(receipt_unguarded, _suspended_on(base))
    assert report.status == "diverged"
    assert "marker" not in report.message


# --- an attempt interrupted before the deploy ---------------------------------------------------


_attempts: list[str] = []


@dg.step(name="pay", semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def pay_at_most_once(x: int) -> int:
    _attempts.append("at-most-once")
    raise KeyboardInterrupt  # the process stops inside the attempt, as a crash would


@dg.step(name="pay", retry=dg.Retry.never())
def pay_at_least_once(x: int) -> int:
    _attempts.append("at-least-once")
    return x


@dg.step(name="pay-v2", retry=dg.Retry.never())
def pay_renamed_at_least_once(x: int) -> int:
    _attempts.append("at-least-once, renamed")
    return x


def _paying(step: Any) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        try:
            return (yield step(x))
        except dg.StepFailedError as exc:
            return exc.error_type

    return _named(workflow, f"paying[{step.name}]")


def paying_behind_patched(x: int) -> Gen:
    step = pay_renamed_at_least_once if (yield dg.Patched("pay-again")) else pay_at_most_once
    try:
        return (yield step(x))
    except dg.StepFailedError as exc:
        return exc.error_type


@pytest.mark.parametrize(
    ("v2", "result", "attempts"),
    [
        (_paying(pay_at_least_once), "1", ["at-most-once", "at-least-once"]),
        (paying_behind_patched, '"StepInterruptedError"', ["at-most-once"]),
    ],
    ids=["made at-least-once: runs again", "behind Patched: not run again"],
)
def test_an_attempt_interrupted_before_the_deploy_follows_the_new_semantics(
    v2: Callable[..., Gen], result: str, attempts: list[str]
) -> None:
    """docs/versioning.md: nothing recorded says which semantics an interrupted attempt started
    under; the new code's decide, and Patched keeps the old step for such an execution."""
    from durable_gen import runtime as rt
    from durable_gen.local import LocalService, VirtualClock

    _attempts.clear()
    service = LocalService(clock=VirtualClock(auto_advance=False))
    service.register("wf", rt.make_handler(_paying(pay_at_most_once), service))
    arn = service.start("wf", "1")
    with pytest.raises(KeyboardInterrupt):
        service.run(arn)
    assert [op.status for op in service.get_operations(arn) if op.name == "pay"] == ["STARTED"]
    service.register("wf", rt.make_handler(v2, service))  # the deploy
    record = service.run(arn)
    assert (record.status, record.result) == ("SUCCEEDED", result)
    assert _attempts == attempts


def test_a_recorded_input_the_new_annotation_cannot_read_says_the_type_changed() -> None:
    """Resumed, the input was read by the execution's first run: the advice is about the
    changed annotation, not about sending another value."""
    report = replay(takes_order_v2, _suspended_on_input(takes_order, {"id": "o-1"}))
    assert report.status == "failed"
    assert "the input's declared type changed since" in report.message
    assert "send a value" not in report.message
    fresh = TestRunner().run(takes_order_v2, {"id": "o-1"})  # a new execution: a bad input
    assert fresh.error is not None and fresh.error.error_type == "SerializationError"
    assert "send a value of that type" in (fresh.error.error_message or "")


def _suspended_on_input(v1: Callable[..., Gen], value: Any) -> dict[str, Any]:
    run = TestRunner(skip_time=False).run(v1, value)
    assert run.status == "RUNNING", run.error
    return run.export()


def _later_change(deprecated: bool) -> Callable[..., Gen]:
    def workflow(x: int) -> Gen:
        a = yield step_a(x)
        if deprecated:
            yield dg.Deprecated("earlier")
        yield from gate()
        if (yield dg.Patched("later")):
            a = yield step_c(a)
        yield from gate("gate-2")
        return a

    return _named(workflow, f"later_change[{deprecated}]")


def test_a_marker_recorded_for_a_later_change_is_not_named() -> None:
    """Only a marker recorded before the point where the code diverged can be the change
    id renamed there; the execution below took the old path of 'earlier'."""
    runner = TestRunner(skip_time=False)
    run = runner.run(_later_change(False), 1)
    run.send_callback_success("gate", ANSWER)
    runner.run_until_idle()
    assert [op.name for op in run.operations() if op.sub_type == "Patch"] == ["later"]
    report = replay(_later_change(True), run.export())
    assert report.status == "diverged"
    assert "keep Patched('earlier') and the old branch" in report.message
    assert "later" not in report.message
