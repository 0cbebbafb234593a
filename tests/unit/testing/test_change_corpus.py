"""A corpus of code changes made between deployments, each judged the way docs/versioning.md
says it must be, by every tool that judges it, and by all of them alike.

Each case is a workflow recorded by version 1 (suspended at a wait, or completed) and the
version 2 a user deploys. The verdict (``nondet``: the change is caught as non-determinism;
``ok``: it is accepted; ``failed``: a recorded payload no longer fits the declared type) must be
the same for:

- the embedded engine in memory resuming the suspended execution on version 2
  (``TestRunner.deploy``), or the interpreter replaying the completed one on version 2;
- the embedded engine on SQLite, resumed by a new engine (a new process) running version 2;
- the Lambda handler of version 2 (``lambda_handler(..., service=...)``) resuming the
  suspended execution from the invocation events the service sends;
- ``testing.replay`` of the exported history, and of its ``GetDurableExecutionHistory`` events;
- the pytest plugin's ``durable_replayer``;

and ``assert_deterministic`` must pass version 2 on its own (the new code is correct code).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.local import LocalService, SqliteStore, VirtualClock, register_function
from durable_gen.testing import (
    DurableRun,
    TestRunner,
    assert_deterministic,
    load_history,
    replay,
)
from durable_gen.testing.pytest_plugin import Replayer
from tests.unit.testing import moved_steps

Gen = Generator[Any, Any, Any]
log = dg.get_logger("tests.change_corpus")

# --- steps --------------------------------------------------------------------------------------


@dg.step
def add_one(x: int) -> int:
    return x + 1


@dg.step
def double(x: int) -> int:
    return x * 2


@dg.step
def minus_three(x: int) -> int:
    return x - 3


@dg.step(name="add_one_v2")
def add_one_renamed(x: int) -> int:
    return x + 1


@dg.step(
    name="add_one",
    retry=dg.Retry(max_attempts=9, initial_delay=1),
    timeout=30,
    semantics=dg.AT_MOST_ONCE,
)
def add_one_other_options(x: int) -> int:
    return x + 1


@dg.step(name="double")
def double_as_text(x: int) -> str:
    return str(x * 2)


@dg.step
def triple(x: int) -> int:
    return x * 3


# --- 1. a line of steps and a wait ----------------------------------------------------------------


def line_v1(x: int) -> Gen:
    p = yield add_one(x)
    q = yield double(p)
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(q))


def line_renamed(x: int) -> Gen:
    p = yield add_one_renamed(x)
    q = yield double(p)
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(q))


def line_reordered(x: int) -> Gen:
    q = yield double(x)
    p = yield add_one(q)
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(p))


def line_inserted(x: int) -> Gen:
    p = yield add_one(x)
    yield minus_three(p)
    q = yield double(p)
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(q))


def line_removed(x: int) -> Gen:
    q = yield double(x)
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(q))


def line_appended(x: int) -> Gen:
    p = yield add_one(x)
    q = yield double(p)
    yield dg.Wait(seconds=100, name="gate")
    r = yield minus_three(q)
    return (yield add_one(r))


def line_tail_removed(x: int) -> Gen:
    p = yield add_one(x)
    q = yield double(p)
    yield dg.Wait(seconds=100, name="gate")
    return q


def line_options(x: int) -> Gen:
    p = yield add_one_other_options(x)
    q = yield double(p)
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(q))


def line_logged(x: int) -> Gen:
    log.info("start %s", x)
    p = yield add_one(x)
    log.info("p=%s", p)
    q = yield double(p)
    yield dg.Wait(seconds=100, name="gate")
    log.info("after the gate")
    return (yield minus_three(q))


def line_longer_wait(x: int) -> Gen:
    p = yield add_one(x)
    q = yield double(p)
    yield dg.Wait(seconds=5000, name="gate")
    return (yield minus_three(q))


def line_wait_renamed(x: int) -> Gen:
    p = yield add_one(x)
    q = yield double(p)
    yield dg.Wait(seconds=100, name="gate-2")
    return (yield minus_three(q))


def line_patched(x: int) -> Gen:
    p = yield add_one(x)
    if (yield dg.Patched("extra")):
        yield minus_three(p)
    q = yield double(p)
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(q))


def line_deprecated(x: int) -> Gen:
    p = yield add_one(x)
    yield dg.Deprecated("extra")
    yield minus_three(p)
    q = yield double(p)
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(q))


def _first_two(x: int) -> Gen:
    p = yield add_one(x)
    return (yield double(p))


def line_into_child(x: int) -> Gen:
    q = yield dg.Child(_first_two, (x,), name="first-two")
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(q))


def line_into_virtual_child(x: int) -> Gen:
    q = yield dg.Child(_first_two, (x,), name="first-two", virtual=True)
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(q))


def line_into_yield_from(x: int) -> Gen:
    q = yield from _first_two(x)
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(q))


def line_now_added(x: int) -> Gen:
    yield dg.Now()
    p = yield add_one(x)
    q = yield double(p)
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(q))


def line_uuid_random_added(x: int) -> Gen:
    yield dg.UUID()
    yield dg.Random()
    p = yield add_one(x)
    q = yield double(p)
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(q))


def line_step_made_wait(x: int) -> Gen:
    yield dg.Wait(seconds=1, name="add_one")
    q = yield double(x)
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(q))


def line_result_type_changed(x: int) -> Gen:
    p = yield add_one(x)
    q = yield double_as_text(p)
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(int(q)))


# --- 2. Map with items that wait ------------------------------------------------------------------


def waiting_item(x: int) -> Gen:
    y = yield double(x)
    yield dg.Wait(seconds=10 * (x + 1), name="item-wait")
    return y


def waiting_item_other_step(x: int) -> Gen:
    y = yield triple(x)
    yield dg.Wait(seconds=10 * (x + 1), name="item-wait")
    return y


def map_v1(n: int) -> Gen:
    r = yield dg.Map(waiting_item, list(range(n)), name="m", max_concurrency=3)
    yield dg.Wait(seconds=5000, name="gate")
    return (yield minus_three(sum(r.results())))


def _map_with(**options: Any) -> Callable[[int], Gen]:
    fn = options.pop("fn", waiting_item)
    extra = options.pop("extra", 0)

    def workflow(n: int) -> Gen:
        r = yield dg.Map(
            fn, list(range(n + extra)), **{"name": "m", "max_concurrency": 3, **options}
        )
        yield dg.Wait(seconds=5000, name="gate")
        return (yield minus_three(sum(r.results())))

    return workflow


map_more_items = _map_with(extra=1)
map_fewer_items = _map_with(extra=-1)
map_less_concurrency = _map_with(max_concurrency=1)
map_item_namer = _map_with(item_namer=lambda item, i: f"item-{i}")
map_completion = _map_with(completion=dg.Completion(min_successful=1))
map_renamed = _map_with(name="m-2")
map_flat = _map_with(nesting="flat")
map_other_item_body = _map_with(fn=waiting_item_other_step)


def step_map_v1(n: int) -> Gen:
    r = yield dg.Map(double, list(range(n)), name="sm")
    yield dg.Wait(seconds=5000, name="gate")
    return (yield minus_three(sum(r.results())))


def step_map_other_fn(n: int) -> Gen:
    r = yield dg.Map(triple, list(range(n)), name="sm")
    yield dg.Wait(seconds=5000, name="gate")
    return (yield minus_three(sum(r.results())))


def step_map_more_items(n: int) -> Gen:
    r = yield dg.Map(double, list(range(n + 2)), name="sm")
    yield dg.Wait(seconds=5000, name="gate")
    return (yield minus_three(sum(r.results())))


def step_map_other_values(n: int) -> Gen:
    r = yield dg.Map(double, list(range(10, 10 + n)), name="sm")
    yield dg.Wait(seconds=5000, name="gate")
    return (yield minus_three(sum(r.results())))


# --- 3. Parallel with branches that wait ----------------------------------------------------------


def branch_a() -> Gen:
    x = yield double(1)
    yield dg.Wait(seconds=30, name="wait-a")
    return x


def branch_a_longer() -> Gen:
    x = yield double(1)
    yield dg.Wait(seconds=30, name="wait-a")
    yield add_one(0)
    return x


def branch_b() -> Gen:
    x = yield triple(1)
    yield dg.Wait(seconds=60, name="wait-b")
    return x


def branch_c() -> Gen:
    return (yield add_one(7))


def _parallel(*branches: tuple[Callable[[], Gen], str], **options: Any) -> Callable[[Any], Gen]:
    def workflow(_: Any) -> Gen:
        r = yield dg.Parallel(
            [dg.Branch(fn, name=name) for fn, name in branches], name="p", **options
        )
        yield dg.Wait(seconds=5000, name="gate")
        return (yield minus_three(sum(r.results())))

    return workflow


parallel_v1 = _parallel((branch_a, "A"), (branch_b, "B"))
parallel_swapped = _parallel((branch_b, "B"), (branch_a, "A"))
parallel_added = _parallel((branch_a, "A"), (branch_b, "B"), (branch_c, "C"))
parallel_removed = _parallel((branch_a, "A"))
parallel_renamed = _parallel((branch_a, "A"), (branch_b, "Bee"))
parallel_body_changed = _parallel((branch_a_longer, "A"), (branch_b, "B"))
parallel_less_concurrency = _parallel((branch_a, "A"), (branch_b, "B"), max_concurrency=1)


def give_one() -> int:
    return 1


def give_two() -> int:
    return 2


def _unnamed_parallel(*fns: Callable[[], int]) -> Callable[[Any], Gen]:
    """Branches that are plain functions and have no name: named by position."""

    def workflow(_: Any) -> Gen:
        r = yield dg.Parallel(list(fns), name="p")
        yield dg.Wait(seconds=5000, name="gate")
        first, second = r.results()
        return (yield minus_three(10 * first + second))

    return workflow


unnamed_parallel_v1 = _unnamed_parallel(give_one, give_two)
unnamed_parallel_swapped = _unnamed_parallel(give_two, give_one)
unnamed_parallel_replaced = _unnamed_parallel(give_one, give_one)


def _unnamed_workflow_branches(*fns: Callable[[], Gen]) -> Callable[[Any], Gen]:
    """Branches that are child workflows and have no name: named by position."""

    def workflow(_: Any) -> Gen:
        r = yield dg.Parallel(list(fns), name="p")
        yield dg.Wait(seconds=5000, name="gate")
        return (yield minus_three(sum(r.results())))

    return workflow


unnamed_workflows_v1 = _unnamed_workflow_branches(branch_a, branch_b)
unnamed_workflows_swapped = _unnamed_workflow_branches(branch_b, branch_a)


# --- 4. child contexts, recorded and virtual ------------------------------------------------------


def child_body(x: int) -> Gen:
    a = yield add_one(x)
    yield dg.Wait(seconds=50, name="inner")
    return (yield double(a))


def child_body_renamed_step(x: int) -> Gen:
    a = yield triple(x)
    yield dg.Wait(seconds=50, name="inner")
    return (yield double(a))


def _child(body: Callable[[int], Gen], name: str, virtual: bool) -> Callable[[int], Gen]:
    def workflow(x: int) -> Gen:
        r = yield dg.Child(body, (x,), name=name, virtual=virtual)
        yield dg.Wait(seconds=5000, name="gate")
        return (yield minus_three(r))

    return workflow


def child_inlined(x: int) -> Gen:
    r = yield from child_body(x)
    yield dg.Wait(seconds=5000, name="gate")
    return (yield minus_three(r))


def virtual_after_patch(x: int) -> Gen:
    if (yield dg.Patched("pre")):
        yield add_one(0)
    r = yield dg.Child(child_body, (x,), name="vc", virtual=True)
    yield dg.Wait(seconds=5000, name="gate")
    return (yield minus_three(r))


def virtual_inserted_before(x: int) -> Gen:
    yield dg.Child(_first_two, (x,), name="new", virtual=True)
    r = yield dg.Child(child_body, (x,), name="vc", virtual=True)
    yield dg.Wait(seconds=5000, name="gate")
    return (yield minus_three(r))


child_v1 = _child(child_body, "c", virtual=False)
child_renamed = _child(child_body, "c-2", virtual=False)
child_made_virtual = _child(child_body, "c", virtual=True)
child_body_changed = _child(child_body_renamed_step, "c", virtual=False)
virtual_v1 = _child(child_body, "vc", virtual=True)
virtual_renamed = _child(child_body, "vc-2", virtual=True)
virtual_made_recorded = _child(child_body, "vc", virtual=False)
virtual_body_changed = _child(child_body_renamed_step, "vc", virtual=True)


# --- 5. a saga ------------------------------------------------------------------------------------


def cancel_booking(confirmation: str) -> None:
    """Nothing to undo in a test."""


def cancel_booking_v2(confirmation: str) -> None:
    """Nothing to undo in a test."""


@dg.step(compensate=cancel_booking)
def book(x: int) -> str:
    return f"booking-{x}"


@dg.step(name="book", compensate=cancel_booking_v2)
def book_other_undo(x: int) -> str:
    return f"booking-{x}"


@dg.step(retry=dg.Retry.never())
def decline(x: int) -> None:
    raise RuntimeError(f"card {x} declined")


def _saga(booking: Any) -> Callable[[int], Gen]:
    def workflow(x: int) -> Gen:
        yield booking(x)
        yield booking(x + 1)
        yield dg.Wait(seconds=100, name="gate")
        try:
            yield decline(x)
        except dg.StepFailedError:
            undone = yield dg.RunCompensations()
            return [u.status for u in undone]
        return []

    return workflow


saga_v1 = _saga(book)
saga_other_undo = _saga(book_other_undo)


# --- 6. wait for condition ------------------------------------------------------------------------


@dg.step
def poll(state: dict[str, int]) -> dict[str, int]:
    return {"n": state["n"] + 1}


def _polling(name: str, until: int, delay: int) -> Callable[[Any], Gen]:
    def workflow(_: Any) -> Gen:
        strategy = dg.WaitStrategy(until=lambda s: s["n"] >= until, delay=delay)
        state = yield dg.WaitForCondition(poll, {"n": 0}, wait_strategy=strategy, name=name)
        yield dg.Wait(seconds=100, name="gate")
        return state

    return workflow


poll_v1 = _polling("poll", 3, 10)
poll_other_strategy = _polling("poll", 5, 20)
poll_renamed = _polling("poll-2", 3, 10)


# --- 7. callbacks and invokes ---------------------------------------------------------------------


def submit(callback_id: str) -> None:
    """The test answers the callback itself."""


def submit_v2(callback_id: str) -> None:
    """The test answers the callback itself."""


def _callbacks(name: str, submitter: Callable[[str], None], timeout: int) -> Callable[[Any], Gen]:
    def workflow(_: Any) -> Gen:
        a = yield dg.WaitForCallback(submitter, name=name, timeout=timeout)
        handle = yield dg.CreateCallback(name="raw", timeout=timeout)
        b = yield handle
        return [a, b]

    return workflow


callbacks_v1 = _callbacks("approval", submit, 3600)
callbacks_longer_timeout = _callbacks("approval", submit, 9000)
callbacks_renamed = _callbacks("approval-2", submit, 3600)
callbacks_other_submitter = _callbacks("approval", submit_v2, 3600)


def tax(amount: int) -> int:
    return amount * 2


def tax_v2(amount: int) -> int:
    return amount * 3


def _invoking(function: str, name: str) -> Callable[[int], Gen]:
    def workflow(x: int) -> Gen:
        t = yield dg.Invoke(function, x, name=name)
        yield dg.Wait(seconds=100, name="gate")
        return t

    return workflow


invoke_v1 = _invoking("tax", "tax")
invoke_other_function = _invoking("tax-v2", "tax")
invoke_renamed = _invoking("tax", "tax-2")
FUNCTIONS = {"tax": tax, "tax-v2": tax_v2}


def callbacks_made_raw(_: Any) -> Gen:
    """The WaitForCallback 'approval' becomes a CreateCallback of the same name."""
    first = yield dg.CreateCallback(name="approval", timeout=3600)
    a = yield first
    handle = yield dg.CreateCallback(name="raw", timeout=3600)
    b = yield handle
    return [a, b]


# --- 7b. branching on a recorded result, and a child made a step ----------------------------------


def _branching(flipped: bool, after_gate: bool) -> Callable[[int], Gen]:
    def workflow(x: int) -> Gen:
        p = yield add_one(x)
        if not after_gate and (p > 1) != flipped:  # decided by a recorded result
            p = yield double(p)
        yield dg.Wait(seconds=100, name="gate")
        if after_gate and p > 1:
            p = yield double(p)
        return (yield minus_three(p))

    return workflow


def no_branch_v1(x: int) -> Gen:
    p = yield add_one(x)
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(p))


branching_v1 = _branching(False, False)
branching_flipped = _branching(True, False)
branching_added_after = _branching(False, True)


def child_made_step(x: int) -> Gen:
    r = yield dg.Step(lambda: x, name="c")
    yield dg.Wait(seconds=5000, name="gate")
    return (yield minus_three(r))


parallel_inserted_first = _parallel((branch_c, "C"), (branch_a, "A"), (branch_b, "B"))


# --- 8. typed results -----------------------------------------------------------------------------


@dataclass
class Receipt:
    id: str
    amount: int


@dataclass
class ReceiptV2:
    id: str
    amount: int
    currency: str = "EUR"


@dg.step(name="receipt")
def make_receipt(x: int) -> Receipt:
    return Receipt(id=f"r{x}", amount=x)


@dg.step(name="receipt")
def make_receipt_v2(x: int) -> ReceiptV2:
    return ReceiptV2(id=f"r{x}", amount=x)


def typed_v1(x: int) -> dg.Workflow[str]:
    r = yield from make_receipt(x)
    yield dg.Wait(seconds=100, name="gate")
    return r.id


def typed_field_added(x: int) -> dg.Workflow[str]:
    r = yield from make_receipt_v2(x)
    yield dg.Wait(seconds=100, name="gate")
    return r.id + r.currency


# --- 9. versioning in loops, items and virtual children; large and early-decided batches ----------


def line_patched_then_deprecated(x: int) -> Gen:
    p = yield add_one(x)
    yield dg.Deprecated("extra")
    yield minus_three(p)
    q = yield double(p)
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(q))


def line_patch_removed(x: int) -> Gen:
    p = yield add_one(x)
    yield minus_three(p)
    q = yield double(p)
    yield dg.Wait(seconds=100, name="gate")
    return (yield minus_three(q))


def looping_v1(n: int) -> Gen:
    out = []
    for i in range(n):
        out.append((yield add_one(i)))
        yield dg.Wait(seconds=10, name=f"wait-{i}")
    return out


def looping_patched(n: int) -> Gen:
    out = []
    for i in range(n):
        if (yield dg.Patched("loop-extra")):
            yield double(i)
        out.append((yield add_one(i)))
        yield dg.Wait(seconds=10, name=f"wait-{i}")
    return out


def patched_item(x: int) -> Gen:
    y = yield double(x)
    if (yield dg.Patched("item-extra")):
        yield triple(x)
    yield dg.Wait(seconds=10 * (x + 1), name="item-wait")
    return y


def unpatched_item(x: int) -> Gen:
    y = yield double(x)
    yield triple(x)
    yield dg.Wait(seconds=10 * (x + 1), name="item-wait")
    return y


map_patched_items = _map_with(fn=patched_item)
map_unpatched_items = _map_with(fn=unpatched_item)


def virtual_body_patched(x: int) -> Gen:
    a = yield add_one(x)
    if (yield dg.Patched("in-virtual")):
        yield triple(a)
    yield dg.Wait(seconds=50, name="inner")
    return (yield double(a))


virtual_patched_inside = _child(virtual_body_patched, "vc", virtual=True)


@dg.step
def large_text(n: int) -> str:
    return "x" * n


def large_body(_: int) -> Gen:
    text = yield large_text(300_000)  # the child's result is over 256 KiB: ReplayChildren
    yield add_one(1)
    return text


def large_body_renamed(_: int) -> Gen:
    text = yield large_text(300_000)
    yield triple(1)
    return text


def _large_child(body: Callable[[int], Gen]) -> Callable[[int], Gen]:
    def workflow(x: int) -> Gen:
        text = yield dg.Child(body, (x,), name="large")
        yield dg.Wait(seconds=100, name="gate")
        return len(text)

    return workflow


large_child_v1 = _large_child(large_body)
large_child_body_changed = _large_child(large_body_renamed)


def large_item(x: int) -> str:
    return "y" * 100_000


def _large_map(n: int) -> Callable[[Any], Gen]:
    def workflow(_: Any) -> Gen:
        r = yield dg.Map(large_item, list(range(n)), name="large-map")
        yield dg.Wait(seconds=100, name="gate")
        return len(r.results())

    return workflow


@dg.step(retry=dg.Retry.never())
def fails_on_zero(x: int) -> int:
    if x == 0:
        raise ValueError("zero")
    return x


def _decided_early(n: int) -> Callable[[Any], Gen]:
    def workflow(_: Any) -> Gen:
        r = yield dg.Map(fails_on_zero, list(range(n)), name="m", max_concurrency=1)
        yield dg.Wait(seconds=100, name="gate")
        return r.completion_reason

    return workflow


def _innermost(x: int) -> Gen:
    yield dg.Wait(seconds=50, name="innermost-wait")
    return (yield add_one(x))


def _middle(x: int) -> Gen:
    return (yield dg.Child(_innermost, (x,), name="inner", virtual=True))


def _nested_virtual(patched: bool | None) -> Callable[[int], Gen]:
    """Virtual children two deep at the first position (None: nothing before them)."""

    def workflow(x: int) -> Gen:
        if patched is not None and (not patched or (yield dg.Patched("before-nested"))):
            yield triple(x)
        r = yield dg.Child(_middle, (x,), name="outer", virtual=True)
        yield dg.Wait(seconds=5000, name="gate")
        return (yield minus_three(r))

    return workflow


nested_virtual_v1 = _nested_virtual(None)
nested_virtual_patched_before = _nested_virtual(True)
nested_virtual_inserted_before = _nested_virtual(False)


# --- 10. functions that name what they record ----------------------------------------------------
#
# A Map of plain or @step functions, a one-step Parallel branch and a Child given a @step
# function record the step under the function's name: replacing the function is caught, also
# once the batch or the child completed. What records no name (a lambda, a partial, an unnamed
# Child of a generator function, a WaitForCondition's check, a plain function given to Step) is
# not compared; changing those is documented as not caught (docs/versioning.md).


def twice(x: int) -> int:
    return x * 2


def thrice(x: int) -> int:
    return x * 3


def scaled(x: int, factor: int = 2) -> int:
    return x * factor


@dg.step(name="twice")
def twice_renamed_function(x: int) -> int:
    """``twice`` renamed in Python; its step keeps the recorded name."""
    return x * 2


@dg.step(name="double-v2")
def double_step_renamed(x: int) -> int:
    return x * 2


def _mapping(fn: Callable[..., Any], **options: Any) -> Callable[[int], Gen]:
    def workflow(n: int) -> Gen:
        r = yield dg.Map(fn, list(range(n)), name="fm", **options)
        yield dg.Wait(seconds=5000, name="gate")
        return (yield minus_three(sum(r.results())))

    return workflow


fmap_v1 = _mapping(twice)
fmap_thrice = _mapping(thrice)
fmap_moved = _mapping(moved_steps.twice)
fmap_step = _mapping(dg.step(twice))
fmap_kept_name = _mapping(twice_renamed_function)
fmap_partial = _mapping(functools.partial(twice))
fmap_partial_other = _mapping(functools.partial(thrice))
fmap_lambda = _mapping(lambda x: twice(x))
flat_fmap_v1 = _mapping(twice, nesting="flat")
flat_fmap_thrice = _mapping(thrice, nesting="flat")
step_map_renamed_step = _mapping(double_step_renamed)
pmap_v1 = _mapping(functools.partial(scaled, factor=2))
pmap_moved = _mapping(functools.partial(moved_steps.scaled, factor=2))
lmap_v1 = _mapping(lambda x: x * 2)
lmap_other = _mapping(lambda x: x * 3)


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=30))
def flaky_double(x: int) -> int:
    """Fails at item 1, after a retry: the Map waits out the retry delay inside."""
    if x == 1:
        raise RuntimeError("item 1 always fails")
    return x * 2


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=30))
def flaky_triple(x: int) -> int:
    if x == 1:
        raise RuntimeError("item 1 always fails")
    return x * 3


@dg.step(name="flaky_double", retry=dg.Retry(max_attempts=2, initial_delay=30))
def flaky_double_moved(x: int) -> int:
    if x == 1:
        raise RuntimeError("item 1 always fails")
    return x * 2


def _retrying_map(fn: Callable[[int], int]) -> Callable[[int], Gen]:
    def workflow(n: int) -> Gen:
        policy = dg.Completion(tolerated_failure_count=1)
        r = yield dg.Map(fn, list(range(n)), name="rm", completion=policy)
        return (yield minus_three(sum(r.results())))

    return workflow


rmap_v1 = _retrying_map(flaky_double)
rmap_thrice = _retrying_map(flaky_triple)
rmap_kept_name = _retrying_map(flaky_double_moved)


def _map_branch(fn: Callable[[int], int]) -> Callable[[], Gen]:
    def branch() -> Gen:
        r = yield dg.Map(fn, [1, 2], name="inner-map")
        yield dg.Wait(seconds=30, name="branch-wait")
        return sum(r.results())

    return branch


def _map_in_parallel(fn: Callable[[int], int]) -> Callable[[Any], Gen]:
    def workflow(_: Any) -> Gen:
        r = yield dg.Parallel([dg.Branch(_map_branch(fn), name="mapping")], name="p")
        yield dg.Wait(seconds=5000, name="gate")
        return (yield minus_three(sum(r.results())))

    return workflow


map_in_par_v1 = _map_in_parallel(twice)
map_in_par_thrice = _map_in_parallel(thrice)


def _map_body(fn: Callable[[int], int]) -> Callable[[int], Gen]:
    def body(x: int) -> Gen:
        r = yield dg.Map(fn, [x, x + 1], name="inner-map")
        yield dg.Wait(seconds=50, name="inner")
        return sum(r.results())

    return body


def _map_in_child(fn: Callable[[int], int], virtual: bool) -> Callable[[int], Gen]:
    return _child(_map_body(fn), "vc" if virtual else "c", virtual=virtual)


map_in_vc_v1 = _map_in_child(twice, virtual=True)
map_in_vc_thrice = _map_in_child(thrice, virtual=True)


def _gated(command: Callable[[int], dg.Command[Any]]) -> Callable[[int], Gen]:
    """Yield ``command(x)``, wait at a gate, then run a step on its result."""

    def workflow(x: int) -> Gen:
        r = yield command(x)
        yield dg.Wait(seconds=5000, name="gate")
        return (yield minus_three(r))

    return workflow


unnamed_child_v1 = _gated(lambda x: dg.Child(child_body, (x,)))
unnamed_child_other = _gated(lambda x: dg.Child(child_body_renamed_step, (x,)))


@dg.workflow
def child_flow(x: int) -> Gen:
    return (yield from child_body(x))


@dg.workflow
def child_flow_v2(x: int) -> Gen:
    return (yield from child_body(x))


workflow_child_v1 = _gated(lambda x: dg.Child(child_flow, (x,)))
workflow_child_other = _gated(lambda x: dg.Child(child_flow_v2, (x,)))


def _step_child(fn: Callable[[int], Any]) -> Callable[[int], Gen]:
    """A Child given a @step function: one step in its own context."""
    return _gated(lambda x: dg.Child(fn, (x,), name="sc"))


step_child_v1 = _step_child(double)
step_child_other = _step_child(triple)
virtual_step_child_v1 = _gated(lambda x: dg.Child(double, (x,), name="vsc", virtual=True))
virtual_step_child_other = _gated(lambda x: dg.Child(triple, (x,), name="vsc", virtual=True))


async def twice_async(x: int) -> int:
    return x * 2


async def thrice_async(x: int) -> int:
    return x * 3


async_map_v1 = _mapping(twice_async)
async_map_other = _mapping(thrice_async)


@dg.step(name="double")
def double_function_renamed(x: int) -> int:
    return x * 2


step_child_kept_name = _step_child(double_function_renamed)


@dg.step
def poll_v2(state: dict[str, int]) -> dict[str, int]:
    return {"n": state["n"] + 1}


def _polling_with(check: Callable[..., Any], name: str | None) -> Callable[[Any], Gen]:
    def workflow(_: Any) -> Gen:
        strategy = dg.WaitStrategy(until=lambda s: s["n"] >= 3, delay=10)
        state = yield dg.WaitForCondition(check, {"n": 0}, wait_strategy=strategy, name=name)
        yield dg.Wait(seconds=100, name="gate")
        return state

    return workflow


unnamed_poll_v1 = _polling_with(poll, None)
unnamed_poll_other = _polling_with(poll_v2, None)
named_poll_other = _polling_with(poll_v2, "poll")


plain_step_v1 = _gated(lambda x: dg.Step(twice, (x,)))
plain_step_other = _gated(lambda x: dg.Step(thrice, (x,)))


# --- the corpus -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    name: str
    v1: Callable[..., Gen]
    v2: Callable[..., Gen]
    suspended: str  # verdict for an execution suspended in v1, resumed on v2
    completed: str | None  # verdict for a completed v1 execution replayed on v2 (None: n/a)
    input: Any = 1


N = "nondet"
OK = "ok"
CHANGES = [
    Change("step renamed", line_v1, line_renamed, N, N),
    Change("steps reordered", line_v1, line_reordered, N, N),
    Change("step inserted before the wait", line_v1, line_inserted, N, N),
    Change("first step removed", line_v1, line_removed, N, N),
    Change("step appended at the end", line_v1, line_appended, OK, OK),
    Change("recorded last step removed", line_v1, line_tail_removed, OK, N),
    Change("step options changed", line_v1, line_options, OK, OK),
    Change("log lines added", line_v1, line_logged, OK, OK),
    Change("wait duration changed", line_v1, line_longer_wait, OK, OK),
    Change("wait renamed", line_v1, line_wait_renamed, N, N),
    Change("step inserted behind Patched", line_v1, line_patched, OK, OK),
    Change("step inserted, Patched forgotten", line_v1, line_inserted, N, N),
    Change("Deprecated on an old-path execution", line_v1, line_deprecated, N, N),
    Change("steps moved into a child context", line_v1, line_into_child, N, N),
    Change("steps moved into a virtual child", line_v1, line_into_virtual_child, N, N),
    Change("steps moved into a yield-from", line_v1, line_into_yield_from, OK, OK),
    Change("Now added first", line_v1, line_now_added, N, N),
    Change("UUID and Random added first", line_v1, line_uuid_random_added, OK, OK),
    Change("step replaced by a wait", line_v1, line_step_made_wait, N, N),
    Change("step result type changed", line_v1, line_result_type_changed, "failed", "failed"),
    Change("Map: more items", map_v1, map_more_items, OK, N, 3),
    Change("Map: fewer items", map_v1, map_fewer_items, N, N, 3),
    Change("Map: max_concurrency changed", map_v1, map_less_concurrency, OK, OK, 3),
    Change("Map: item_namer added", map_v1, map_item_namer, N, N, 3),
    Change("Map: completion policy changed", map_v1, map_completion, OK, OK, 3),
    Change("Map: renamed", map_v1, map_renamed, N, N, 3),
    Change("Map: nesting made flat", map_v1, map_flat, N, N, 3),
    Change("Map: item body's step renamed", map_v1, map_other_item_body, N, OK, 3),
    Change("Map of steps: other function", step_map_v1, step_map_other_fn, N, N, 3),
    Change("Map of steps: more items", step_map_v1, step_map_more_items, N, N, 3),
    Change("Map of steps: other item values", step_map_v1, step_map_other_values, OK, OK, 3),
    Change("Parallel: branches swapped", parallel_v1, parallel_swapped, N, N),
    Change("Parallel: branch added", parallel_v1, parallel_added, OK, N),
    Change("Parallel: branch removed", parallel_v1, parallel_removed, N, N),
    Change("Parallel: branch renamed", parallel_v1, parallel_renamed, N, N),
    Change("Parallel: completed branch's body", parallel_v1, parallel_body_changed, OK, OK),
    Change("Parallel: max_concurrency", parallel_v1, parallel_less_concurrency, OK, OK),
    Change(
        "Parallel of steps: unnamed branches swapped",
        unnamed_parallel_v1,
        unnamed_parallel_swapped,
        N,
        N,
    ),
    # Documented as not caught (docs/versioning.md): a completed child-workflow branch replays
    # from its record, and unnamed branches are named by position. Name branches that may move.
    Change(
        "Parallel: unnamed child-workflow branches swapped",
        unnamed_workflows_v1,
        unnamed_workflows_swapped,
        N,  # while the branches run, their bodies replay and are matched
        OK,
    ),
    Change(
        "Parallel of steps: a branch's function replaced",
        unnamed_parallel_v1,
        unnamed_parallel_replaced,
        N,
        N,
    ),
    Change("Child: renamed", child_v1, child_renamed, N, N),
    Change("Child: made virtual", child_v1, child_made_virtual, N, N),
    Change("Child: body's step renamed", child_v1, child_body_changed, N, OK),
    Change("Child: inlined with yield from", child_v1, child_inlined, N, N),
    Change("virtual Child: renamed", virtual_v1, virtual_renamed, OK, OK),
    Change("virtual Child: made recorded", virtual_v1, virtual_made_recorded, N, N),
    Change("virtual Child: body's step renamed", virtual_v1, virtual_body_changed, N, N),
    Change("virtual Child: Patched step before it", virtual_v1, virtual_after_patch, OK, OK),
    Change("virtual Child: another inserted before", virtual_v1, virtual_inserted_before, N, N),
    Change("saga: undo replaced (not yet run)", saga_v1, saga_other_undo, OK, N),
    Change("WaitForCondition: strategy changed", poll_v1, poll_other_strategy, OK, OK, None),
    Change("WaitForCondition: renamed", poll_v1, poll_renamed, N, N, None),
    Change("callbacks: timeouts changed", callbacks_v1, callbacks_longer_timeout, OK, OK, None),
    Change("callbacks: renamed", callbacks_v1, callbacks_renamed, N, N, None),
    Change("callbacks: other submitter", callbacks_v1, callbacks_other_submitter, OK, OK, None),
    Change(
        "callbacks: WaitForCallback made CreateCallback",
        callbacks_v1,
        callbacks_made_raw,
        N,
        N,
        None,
    ),
    Change("branch on a recorded result: condition flipped", branching_v1, branching_flipped, N, N),
    Change(
        "branch on a recorded result: added after the wait",
        no_branch_v1,
        branching_added_after,
        OK,
        N,
    ),
    Change(
        "branch on a recorded result: unchanged", branching_v1, _branching(False, False), OK, OK
    ),
    Change("Child: made a step of the same name", child_v1, child_made_step, N, N),
    Change("Parallel: branch inserted first", parallel_v1, parallel_inserted_first, N, N),
    Change("Invoke: other function, same name", invoke_v1, invoke_other_function, OK, OK, 2),
    Change("Invoke: renamed", invoke_v1, invoke_renamed, N, N, 2),
    Change("typed result: field with a default added", typed_v1, typed_field_added, OK, OK, 2),
    Change(
        "Deprecated on a new-path execution", line_patched, line_patched_then_deprecated, OK, OK
    ),
    Change("Deprecated removed", line_patched_then_deprecated, line_patch_removed, OK, OK),
    Change("Patched in a loop", looping_v1, looping_patched, OK, OK, 3),
    Change("Patched in Map items", map_v1, map_patched_items, OK, OK, 3),
    Change("Map items: insert, Patched forgotten", map_v1, map_unpatched_items, N, OK, 3),
    Change("Patched in a virtual child", virtual_v1, virtual_patched_inside, OK, OK),
    Change("large child: body's step renamed", large_child_v1, large_child_body_changed, N, N),
    Change("large Map: more items", _large_map(4), _large_map(5), N, N),
    Change("large Map: fewer items", _large_map(4), _large_map(3), N, N),
    Change("Map decided early: more items", _decided_early(6), _decided_early(7), N, N),
    Change("Map decided early: fewer items", _decided_early(6), _decided_early(3), N, N),
    Change(
        "nested virtual children: Patched step before them",
        nested_virtual_v1,
        nested_virtual_patched_before,
        OK,
        OK,
    ),
    Change(
        "nested virtual children: step inserted before them",
        nested_virtual_v1,
        nested_virtual_inserted_before,
        N,
        N,
    ),
]

# Section 10: functions replaced, renamed, moved or wrapped (name, v1, v2, suspended, completed,
# input).
FUNCTION_CHANGES: list[tuple[Any, ...]] = [
    ("Map of functions: other function", fmap_v1, fmap_thrice, N, N, 3),
    ("Map of functions: moved to another module", fmap_v1, fmap_moved, OK, OK, 3),
    ("Map of functions: made a @step", fmap_v1, fmap_step, OK, OK, 3),
    ("Map of functions: renamed, step name kept", fmap_v1, fmap_kept_name, OK, OK, 3),
    ("Map of functions: a partial of it", fmap_v1, fmap_partial, OK, OK, 3),
    ("Map of functions: a partial of another", fmap_v1, fmap_partial_other, N, N, 3),
    # Documented as not caught: a lambda's step has no name to compare.
    ("Map of functions: a lambda calling it", fmap_v1, fmap_lambda, OK, OK, 3),
    ("flat Map of functions: other function", flat_fmap_v1, flat_fmap_thrice, N, N, 3),
    ("Map of steps: @step(name=) changed", step_map_v1, step_map_renamed_step, N, N, 3),
    ("Map of partials: moved to another module", pmap_v1, pmap_moved, OK, OK, 3),
    ("Map of lambdas: other lambda", lmap_v1, lmap_other, OK, OK, 3),
    ("Map waiting out a retry: other function", rmap_v1, rmap_thrice, N, N, 3),
    ("Map waiting out a retry: step name kept", rmap_v1, rmap_kept_name, OK, OK, 3),
    # A completed branch replays from its record: the Map inside it is not reached.
    ("Map in a Parallel branch: other function", map_in_par_v1, map_in_par_thrice, N, OK),
    ("Map in a virtual child: other function", map_in_vc_v1, map_in_vc_thrice, N, N),
    # An unnamed Child of a generator function records no name; once completed it replays
    # from its record.
    ("unnamed Child: other function", unnamed_child_v1, unnamed_child_other, N, OK),
    ("Child of a @workflow: other one", workflow_child_v1, workflow_child_other, N, N),
    ("Child of a @step: other step", step_child_v1, step_child_other, N, N),
    ("Child of a @step: step name kept", step_child_v1, step_child_kept_name, OK, OK),
    ("virtual Child of a @step: other step", virtual_step_child_v1, virtual_step_child_other, N, N),
    ("Map of async functions: other function", async_map_v1, async_map_other, N, N, 3),
    # The check records no name (as in AWS's SDK); like a step's body, it is not compared.
    ("WaitForCondition: unnamed, other check", unnamed_poll_v1, unnamed_poll_other, OK, OK, None),
    ("WaitForCondition: other check", poll_v1, named_poll_other, OK, OK, None),
    # A plain function given to Step records no name (as in AWS's SDK).
    ("Step of a plain function: other function", plain_step_v1, plain_step_other, OK, OK),
]
CHANGES += [Change(*row) for row in FUNCTION_CHANGES]


def _answer(run: DurableRun) -> int:
    answered = 0
    for op in run.operations(type="CALLBACK"):
        if op.status == "STARTED" and op.callback_id is not None:
            run.runner.send_callback_success(op.callback_id, {"by": op.name})
            answered += 1
    return answered


def _drive(runner: TestRunner, run: DurableRun) -> None:
    """Run to the end: answer callbacks as they open, fire timers one at a time."""
    for _ in range(500):
        runner.run_until_idle()
        if _answer(run):
            continue
        if run.done or not runner.advance_to_next_timer():
            return


def _verdict(status: str, error: Any) -> str:
    if status == "SUCCEEDED":
        return OK
    if status == "FAILED" and error is not None:
        if error.error_type == "NonDeterminismError":
            return N
        if error.error_type == "SerializationError":
            return "failed"
    return f"{status}: {error}"


def _replay_verdict(report: Any) -> str:
    if report.status in ("ok", "incomplete"):
        return OK
    if report.status == "diverged":
        return N
    if report.status == "failed" and "SerializationError" in report.message:
        return "failed"
    return f"{report.status}: {report.message}"


def _interpreter_verdict(workflow: Callable[..., Gen], export: dict[str, Any]) -> str:
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
                return _verdict("FAILED", outcome.error)
            return OK
        if isinstance(action, rt.Flush):
            interp.observe([])
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                try:
                    interp.task_succeeded(task, task.fn(*task.args, **(task.kwargs or {})))
                except Exception as exc:
                    interp.task_failed(task, exc)
    raise AssertionError("the interpreter did not finish")


def _record(change: Change, completed: bool) -> tuple[TestRunner, DurableRun]:
    runner = TestRunner(skip_time=False, functions=FUNCTIONS)
    run = runner.run(change.v1, change.input)
    if completed:
        _drive(runner, run)
        assert run.status == "SUCCEEDED", run.error
    else:
        assert run.status == "RUNNING", run.error
    return runner, run


def _sqlite_verdict(change: Change, completed: bool, path: Path) -> str:
    clock = VirtualClock(auto_advance=False)

    def engine(workflow: Callable[..., Gen]) -> LocalService:
        service = LocalService(store=SqliteStore(path), clock=clock)
        for name, fn in FUNCTIONS.items():
            register_function(service, name, fn)
        service.register("wf", rt.make_handler(workflow, service))
        return service

    def drive(service: LocalService, arn: str) -> Any:
        for _ in range(3000):
            for op in service.get_operations(arn):
                if op.type == "CALLBACK" and op.status == "STARTED" and op.callback_details:
                    assert op.callback_details.callback_id is not None
                    service.send_callback_success(op.callback_details.callback_id, '{"by": 1}')
            record = service.run(arn)
            if record.is_terminal:
                return record
            clock.advance(50)
        raise AssertionError("the execution did not end")

    old = engine(change.v1)
    arn = old.start("wf", json.dumps(change.input))
    if completed:
        assert drive(old, arn).status == "SUCCEEDED"
        return _interpreter_verdict(change.v2, {"Operations": _ops_json(old, arn)})
    assert old.run(arn).status == "RUNNING"
    record = drive(engine(change.v2), arn)  # a new process, with the new code
    return _verdict(record.status, record.error)


def _lambda_verdict(change: Change) -> str:
    """A suspended execution resumed by the Lambda handler of version 2 (``lambda_handler``
    with ``service=``), fed the invocation events the service would send."""
    import msgspec

    from durable_gen.aws import lambda_handler

    clock = VirtualClock(auto_advance=False)
    service = LocalService(clock=clock)
    for name, fn in FUNCTIONS.items():
        register_function(service, name, fn)

    def handler(workflow: Callable[..., Gen]) -> Callable[[Any], Any]:
        on_lambda = lambda_handler(workflow, service=service)

        def invoke(invocation: rt.InvocationInput) -> rt.InvocationOutput:
            event = msgspec.json.decode(msgspec.json.encode(invocation))
            return msgspec.convert(on_lambda(event, None), rt.InvocationOutput)

        return invoke

    service.register("wf", handler(change.v1))
    arn = service.start("wf", json.dumps(change.input))
    assert service.run(arn).status == "RUNNING"
    service.register("wf", handler(change.v2))  # the deploy
    for _ in range(3000):
        for op in service.get_operations(arn):
            if op.type == "CALLBACK" and op.status == "STARTED" and op.callback_details:
                assert op.callback_details.callback_id is not None
                service.send_callback_success(op.callback_details.callback_id, '{"by": 1}')
        record = service.run(arn)
        if record.is_terminal:
            return _verdict(record.status, record.error)
        clock.advance(50)
    raise AssertionError("the execution did not end")


def _ops_json(service: LocalService, arn: str) -> list[Any]:
    import msgspec

    return [msgspec.to_builtins(op) for op in service.get_operations(arn)]


@pytest.mark.parametrize("state", ["suspended", "completed"])
@pytest.mark.parametrize("change", CHANGES, ids=[c.name for c in CHANGES])
def test_every_tool_judges_a_change_as_the_docs_say(
    change: Change, state: str, tmp_path: Path, durable_replayer: Replayer
) -> None:
    judge(change, state, tmp_path, durable_replayer)


def judge(change: Change, state: str, tmp_path: Path, durable_replayer: Replayer) -> None:
    """Every tool's verdict on ``change`` for an execution of v1 in ``state`` ("suspended" or
    "completed") must be the one the docs give (the other corpus files use it too)."""
    expected = change.suspended if state == "suspended" else change.completed
    if expected is None:
        pytest.skip("not applicable: version 1 never completes this way")
    completed = state == "completed"
    runner, run = _record(change, completed)
    export = run.export()
    verdicts: dict[str, str] = {}
    if completed:
        verdicts["interpreter"] = _interpreter_verdict(change.v2, export)
    else:
        runner.deploy(change.v1, change.v2)
        _drive(runner, run)
        verdicts["engine (memory)"] = _verdict(run.status, run.error)
        verdicts["Lambda handler"] = _lambda_verdict(change)
    verdicts["engine (SQLite)"] = _sqlite_verdict(change, completed, tmp_path / "db.sqlite")
    verdicts["replay"] = _replay_verdict(replay(change.v2, export))
    verdicts["replay (events)"] = _replay_verdict(replay(change.v2, {"Events": export["Events"]}))
    path = tmp_path / "history.json"
    path.write_text(json.dumps(export))  # what version 1 recorded, as the other replays read
    verdicts["durable_replayer"] = _replay_verdict(durable_replayer.replay(change.v2, path))
    assert verdicts == dict.fromkeys(verdicts, expected)


@pytest.mark.parametrize(
    "workflow",
    sorted({c.v2 for c in CHANGES} | {c.v1 for c in CHANGES}, key=lambda w: w.__qualname__),
    ids=lambda w: w.__qualname__,
)
def test_every_version_is_deterministic_on_its_own(workflow: Callable[..., Gen]) -> None:
    change = next(c for c in CHANGES if workflow in (c.v1, c.v2))
    deterministic_on_its_own(workflow, change.input)


def deterministic_on_its_own(workflow: Callable[..., Gen], workflow_input: Any) -> None:
    """``assert_deterministic`` passes a version on its own: it is correct code."""

    def answer(run: DurableRun) -> None:
        _answer(run)

    assert_deterministic(
        workflow, workflow_input, functions=FUNCTIONS, on_idle=answer, random_runs=1
    )
