"""A ninth corpus of code changes made between deployments, judged by every route of
``test_change_corpus_round8.py`` (the engine in memory and on SQLite, a new process on the
SQLite file, the Lambda handler, the interpreter, ``replay`` of the export and of its events,
the pytest plugin's ``durable_replayer``, ``durable-gen history --json`` replayed by
``replay_folder``, and the test runner in each checkpointing mode and in AWS's payload format).
Each must give the verdict docs/versioning.md gives and, when it accepts, the same result.

Its emphasis: ``Patched`` and ``Deprecated`` at the end of flat batch items and of virtual
children (which record no context of their own); a deploy rolled back (``Deprecated`` made
``Patched`` again); ``Patched`` before a step waiting out a retry delay or a condition being
polled; default names spelled out (``Now``, a plain step function, a plain generator child);
``UUID`` draws in other contexts than the one that names an operation by one; steps moved
between Parallel branches; rollbacks in Parallel branches.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing.pytest_plugin import Replayer
from tests.unit.testing.test_change_corpus_options import (
    ANSWER,
    OK,
    Change,
    Gen,
    N,
    gate,
)
from tests.unit.testing.test_change_corpus_round8 import _named, judge


@dg.step
def fetch(x: int) -> int:
    return x + 1


@dg.step
def triple(x: int) -> int:
    return 3 * x


@dg.step
def notify(x: int) -> int:
    return x


def _two(a: Any, b: Any, name_a: str = "a", name_b: str = "b") -> list[dg.Branch[Any]]:
    return [dg.Branch(a, name=name_a), dg.Branch(b, name=name_b)]


# --- A. Patched and Deprecated where no context is recorded --------------------------------------


def _flat_items(tail: str | None, nesting: Any = "flat") -> Any:
    """A Map whose first item finishes at once and whose second waits at its gate; ``tail``
    adds a guarded step (or a Deprecated one) after each item's last operation."""

    def item(x: int) -> Gen:
        a = yield fetch(x)
        if x > 1:
            yield from gate(f"gate-{x}")
        if tail == "patched":
            if (yield dg.Patched("tail")):
                a = yield triple(a)
        elif tail == "deprecated":
            yield dg.Deprecated("tail")
            a = yield triple(a)
        return a

    def workflow(x: int) -> Gen:
        r = yield dg.Map(item, [x, x + 1], name="m", nesting=nesting)
        return r.results()

    return _named(workflow, f"flat_items[{tail},{nesting}]")


def _flat_branches(tail: str | None) -> Any:
    def quick(x: int) -> Gen:
        a = yield fetch(x)
        if tail == "patched" and (yield dg.Patched("tail")):
            a = yield triple(a)
        return a

    def waits(x: int) -> Gen:
        yield from gate("gate-b")
        return x

    def workflow(x: int) -> Gen:
        branches = [
            dg.Branch(functools.partial(quick, x), name="quick"),
            dg.Branch(functools.partial(waits, x), name="waits"),
        ]
        r = yield dg.Parallel(branches, name="p", nesting="flat")
        return r.results()

    return _named(workflow, f"flat_branches[{tail}]")


def _virtual_then_gate(tail: str | None) -> Any:
    """A virtual Child of one step, then the gate the execution waits at outside it."""

    def body(x: int) -> Gen:
        b = yield fetch(x)
        if tail == "patched":
            if (yield dg.Patched("after")):
                b = yield triple(b)
        elif tail == "deprecated":
            yield dg.Deprecated("after")
            b = yield triple(b)
        return b

    def workflow(x: int) -> Gen:
        a = yield dg.Child(body, (x,), name="v", virtual=True)
        yield from gate()
        return a

    return _named(workflow, f"virtual_then_gate[{tail}]")


def _virtual_gated_inside(tail: str | None) -> Any:
    """A virtual Child waiting at its gate inside, the last thing the workflow does."""

    def body(x: int) -> Gen:
        b = yield fetch(x)
        yield from gate()
        if tail == "patched" and (yield dg.Patched("after")):
            b = yield triple(b)
        return b

    def workflow(x: int) -> Gen:
        return (yield dg.Child(body, (x,), name="v", virtual=True))

    return _named(workflow, f"virtual_gated_inside[{tail}]")


PLACEMENTS = [
    Change(
        "flat Map: Patched step appended to the items, one finished, one waiting",
        _flat_items(None),
        _flat_items("patched"),
        OK,  # docs: True for the finished item too, whose new path then runs
        OK,  # a completed batch replays from its record
        result=[6, 9],
        completed_result=[2, 3],
    ),
    Change(
        "flat Map: Deprecated appended to the items, one finished, one waiting",
        _flat_items(None),
        _flat_items("deprecated"),
        OK,  # docs: a Deprecated there does not fail the finished item either
        OK,
        result=[6, 9],
        completed_result=[2, 3],
    ),
    Change(
        "nested Map: Patched step appended to the items, one finished, one waiting",
        _flat_items(None, "nested"),
        _flat_items("patched", "nested"),
        OK,  # the finished item's context completed: replayed from its record
        OK,
        result=[2, 9],
        completed_result=[2, 3],
    ),
    Change(
        "nested Map: Deprecated appended to the items, one finished, one waiting",
        _flat_items(None, "nested"),
        _flat_items("deprecated", "nested"),
        OK,
        OK,
        result=[2, 9],
        completed_result=[2, 3],
    ),
    Change(
        "flat Parallel: Patched step appended to a finished branch, the other waiting",
        _flat_branches(None),
        _flat_branches("patched"),
        OK,
        OK,
        result=[6, 1],
        completed_result=[2, 1],
    ),
    Change(
        "virtual Child: Patched step after its last operation, waiting past it",
        _virtual_then_gate(None),
        _virtual_then_gate("patched"),
        OK,  # the root recorded the gate after it: False
        OK,
        result=2,
    ),
    Change(
        "virtual Child: Deprecated after its last operation, waiting past it",
        _virtual_then_gate(None),
        _virtual_then_gate("deprecated"),
        N,
        N,
    ),
    Change(
        "virtual Child: Patched step after its gate, waiting inside",
        _virtual_gated_inside(None),
        _virtual_gated_inside("patched"),
        OK,  # the frontier: True
        None,  # the execution ended inside it: see test_patched_past_the_end_of_an_ended_...
        result=6,
    ),
]

# --- B. a deploy rolled back ---------------------------------------------------------------------


@dg.workflow
def receipt_deprecated(x: int) -> Gen:
    a = yield fetch(x)
    yield dg.Deprecated("send-receipt")
    yield notify(a)
    yield from gate()
    return a


@dg.workflow
def receipt_patched(x: int) -> Gen:
    a = yield fetch(x)
    if (yield dg.Patched("send-receipt")):
        yield notify(a)
    yield from gate()
    return a


@dg.workflow
def receipt_old(x: int) -> Gen:
    a = yield fetch(x)
    yield from gate()
    return a


@dg.workflow
def receipt_patched_other_id(x: int) -> Gen:
    a = yield fetch(x)
    if (yield dg.Patched("send_receipt")):
        yield notify(a)
    yield from gate()
    return a


ROLLBACKS = [
    Change(
        "rolled back: Deprecated made Patched again",
        receipt_deprecated,
        receipt_patched,
        OK,  # the marker is recorded: True
        OK,
        result=2,
    ),
    Change(
        "rolled back: Deprecated removed with the new path",
        receipt_deprecated,
        receipt_old,
        N,
        N,
    ),
    Change(
        "rolled back: Deprecated made Patched under another spelling of the id",
        receipt_deprecated,
        receipt_patched_other_id,
        N,
        N,
    ),
]

# --- C. Patched before an operation in progress ---------------------------------------------------


@dg.step(name="shaky", retry=dg.Retry(max_attempts=2, initial_delay=60, jitter="none"))
def shaky(x: int) -> int:
    raise RuntimeError(f"down for {x}")


@dg.step(retry=dg.Retry.never())
def refused(x: int) -> int:
    raise RuntimeError(f"refused {x}")


def _before_retry(insert: str | None) -> Any:
    """``shaky`` waits out its retry delay; ``insert`` puts a step before it."""

    def workflow(x: int) -> Gen:
        if insert == "patched":
            if (yield dg.Patched("pre")):
                yield notify(x)
        elif insert == "unguarded":
            yield notify(x)
        try:
            return (yield shaky(x))
        except dg.StepFailedError:
            return "gave up"

    return _named(workflow, f"before_retry[{insert}]")


@dg.step
def poll(state: int) -> int:
    return state + 1


def _before_poll(insert: str | None, in_child: bool = False) -> Any:
    """A condition polled every 60 s until its state reaches 3."""

    def body(x: int) -> Gen:
        if insert == "patched":
            if (yield dg.Patched("pre")):
                yield notify(x)
        elif insert == "unguarded":
            yield notify(x)
        return (
            yield dg.WaitForCondition(
                poll,
                initial_state=x,
                wait_strategy=dg.WaitStrategy(until=lambda s: s >= 3, delay=60),
                name="job",
            )
        )

    def workflow(x: int) -> Gen:
        if in_child:
            return (yield dg.Child(body, (x,), name="c"))
        return (yield from body(x))

    return _named(workflow, f"before_poll[{insert},{in_child}]")


IN_PROGRESS = [
    Change(
        "retry pending: a step inserted before it behind Patched",
        _before_retry(None),
        _before_retry("patched"),
        OK,
        OK,
        result="gave up",
    ),
    Change(
        "retry pending: a step inserted before it unguarded",
        _before_retry(None),
        _before_retry("unguarded"),
        N,
        N,
    ),
    Change(
        "polling: a step inserted before the condition behind Patched",
        _before_poll(None),
        _before_poll("patched"),
        OK,
        OK,
        result=3,
    ),
    Change(
        "polling in a Child: a step inserted before the condition behind Patched",
        _before_poll(None, in_child=True),
        _before_poll("patched", in_child=True),
        OK,
        OK,
        result=3,
    ),
    Change(
        "polling in a Child: a step inserted before the condition unguarded",
        _before_poll(None, in_child=True),
        _before_poll("unguarded", in_child=True),
        N,
        OK,  # a completed child replays from its record
        result=3,
    ),
]

# --- D. default names spelled out ---------------------------------------------------------------


def _now_spelled(name: str | None) -> Any:
    def workflow(x: int) -> Gen:
        if name is None:
            yield dg.Now()
        else:
            yield dg.Now(name=name)
        yield from gate()
        return x

    return _named(workflow, f"now_spelled[{name}]")


def plain_add(x: int) -> int:
    return x + 10


def _plain_named(name: str | None) -> Any:
    def workflow(x: int) -> Gen:
        a = yield dg.Step(plain_add, (x,), name=name)
        yield from gate()
        return a

    return _named(workflow, f"plain_named[{name}]")


def plain_body(x: int) -> Gen:
    a = yield fetch(x)
    yield from gate()
    return a


def _plain_child(name: str | None) -> Any:
    def workflow(x: int) -> Gen:
        return (yield dg.Child(plain_body, (x,), name=name))

    return _named(workflow, f"plain_child[{name}]")


DEFAULT_NAMES = [
    Change("Now: its default name spelled out", _now_spelled(None), _now_spelled("now"), OK, OK),
    Change("Now: named otherwise", _now_spelled(None), _now_spelled("clock"), N, N),
    Change(
        "Step of a plain function: name= its own function's name",
        _plain_named(None),
        _plain_named("plain_add"),
        OK,
        OK,
        result=11,
    ),
    Change(
        "Step of a plain function named after itself: name removed",
        _plain_named("plain_add"),
        _plain_named(None),
        OK,
        OK,
        result=11,
    ),
    Change(
        "Child of a plain generator: name= its own function's name",
        _plain_child(None),
        _plain_child("plain_body"),
        OK,
        OK,
        result=2,
    ),
    Change(
        "Child of a plain generator: another name given",
        _plain_child(None),
        _plain_child("other"),
        N,
        N,
    ),
]

# --- E. UUID draws in other contexts -------------------------------------------------------------


def _uuid_branches(extra_draw: bool) -> Any:
    """Branch B names its step by a UUID and waits; version 2 draws a UUID in branch A."""

    def a(x: int) -> Gen:
        if extra_draw:
            yield dg.UUID()
        return (yield fetch(x))

    def b(x: int) -> Gen:
        u = yield dg.UUID()
        yield dg.Step(plain_add, (x,), name=f"s-{str(u)[:8]}")
        yield from gate("gate-b")
        return x

    def workflow(x: int) -> Gen:
        r = yield dg.Parallel(_two(functools.partial(a, x), functools.partial(b, x)), name="p")
        return r.results()

    return _named(workflow, f"uuid_branches[{extra_draw}]")


def _uuid_child(draw: str | None) -> Any:
    """A Child names its step by a UUID and waits; version 2 draws a UUID at the root before
    the Child (``root``) or inside it before the named one (``inside``)."""

    def body(x: int) -> Gen:
        if draw == "inside":
            yield dg.UUID()
        u = yield dg.UUID()
        yield dg.Step(plain_add, (x,), name=f"s-{str(u)[:8]}")
        yield from gate()
        return x

    def workflow(x: int) -> Gen:
        if draw == "root":
            yield dg.UUID()
        return (yield dg.Child(body, (x,), name="c"))

    return _named(workflow, f"uuid_child[{draw}]")


UUIDS = [
    Change(
        "Parallel: a UUID drawn in the other branch, a UUID names a step",
        _uuid_branches(False),
        _uuid_branches(True),
        OK,  # each context draws from its own counter
        OK,
        result=[2, 1],
    ),
    Change(
        "Child: a UUID drawn at the root before it, a UUID names a step inside",
        _uuid_child(None),
        _uuid_child("root"),
        OK,
        OK,
        result=1,
    ),
    Change(
        "Child: a UUID drawn inside before the one that names a step",
        _uuid_child(None),
        _uuid_child("inside"),
        N,
        OK,  # a completed child replays from its record
        result=1,
    ),
]

# --- F. Parallel branches: steps moved, rollbacks -----------------------------------------------


def _moved(where: str) -> Any:
    """Branch ``a`` fetches and notifies, branch ``b`` waits; ``where="b"`` moves the notify
    into branch ``b`` before its gate, ``"b-after"`` after its gate."""

    def a(x: int) -> Gen:
        r = yield fetch(x)
        if where == "a":
            yield notify(r)
        return r

    def b(x: int) -> Gen:
        if where == "b":
            yield notify(x)
        yield from gate("gate-b")
        if where == "b-after":
            yield notify(x)
        return x

    def workflow(x: int) -> Gen:
        r = yield dg.Parallel(_two(functools.partial(a, x), functools.partial(b, x)), name="p")
        return r.results()

    return _named(workflow, f"moved[{where}]")


def undo_one(x: int) -> str:
    return f"undone {x}"


def undo_two(x: int) -> str:
    return f"reverted {x}"


def _branch_rollback(undo: Any, gated: bool = True) -> Any:
    def booking(x: int) -> Gen:
        try:
            yield dg.Step(fetch.fn, (x,), name="book", compensate=undo)
            yield refused(x)
        except dg.StepFailedError:
            undone = yield dg.RunCompensations()
            if gated:
                yield from gate("gate-r")
            return [u.status for u in undone]
        return ["booked"]

    def other(x: int) -> Gen:
        return (yield fetch(x))

    def workflow(x: int) -> Gen:
        r = yield dg.Parallel(
            _two(functools.partial(booking, x), functools.partial(other, x), "booking", "other"),
            name="p",
        )
        return r.results()

    return _named(workflow, f"branch_rollback[{undo.__name__}]")


BRANCHES = [
    Change(
        "Parallel: a step moved to the waiting branch, before its gate",
        _moved("a"),
        _moved("b"),
        N,
        OK,  # a completed batch replays from its record
        result=[2, 1],
    ),
    Change(
        "Parallel: a step moved to the waiting branch, after its gate",
        _moved("a"),
        _moved("b-after"),
        OK,  # branch a's context completed: it replays from its record, its body unread
        OK,
        result=[2, 1],
    ),
    Change(
        "Parallel branch: rollback done, waiting after it: the undo replaced",
        _branch_rollback(undo_one),
        _branch_rollback(undo_two),
        N,
        OK,
        result=[["SUCCEEDED"], 2],
    ),
]


# --- H. operations in progress inside batch items and virtual children ---------------------------


def _items_polling(insert: str | None) -> Any:
    """Map items each poll a condition; ``insert`` puts a step before it in every item."""

    def item(x: int) -> Gen:
        if insert == "patched":
            if (yield dg.Patched("pre")):
                yield notify(x)
        elif insert == "unguarded":
            yield notify(x)
        return (
            yield dg.WaitForCondition(
                poll,
                initial_state=x,
                wait_strategy=dg.WaitStrategy(until=lambda s: s >= 3, delay=60),
                name="job",
            )
        )

    def workflow(x: int) -> Gen:
        return (yield dg.Map(item, [x, x + 1], name="m")).results()

    return _named(workflow, f"items_polling[{insert}]")


def _branch_invokes(function: str, name: str = "levy", nesting: Any = "nested") -> Any:
    """Branch ``a`` invokes a function and waits on it; branch ``b`` is one step."""

    def a(x: int) -> Gen:
        return (yield dg.Invoke(function, x, name=name))

    def b(x: int) -> Gen:
        return (yield fetch(x))

    def workflow(x: int) -> Gen:
        r = yield dg.Parallel(
            _two(functools.partial(a, x), functools.partial(b, x)), name="p", nesting=nesting
        )
        return r.results()

    return _named(workflow, f"branch_invokes[{function},{name},{nesting}]")


def _items_waiting_on_callbacks(timeout: int) -> Any:
    def item(x: int) -> Gen:
        return (yield dg.WaitForCallback(submit_nothing, name=f"ok-{x}", timeout=timeout))

    def workflow(x: int) -> Gen:
        return (yield dg.Map(item, [x, x + 1], name="m", nesting="flat")).results()

    return _named(workflow, f"items_waiting_on_callbacks[{timeout}]")


def submit_nothing(callback_id: str) -> None:
    """The test answers the callback itself."""


def _virtual_rollback(where: str) -> Any:
    """A virtual Child books (with an undo), fails, and rolls back inside (``where="inside"``)
    or leaves the rollback to the root after it (``"root"``); then the gate."""

    def body(x: int) -> Gen:
        yield dg.Step(fetch.fn, (x,), name="book", compensate=undo_one)
        try:
            yield refused(x)
        except dg.StepFailedError:
            if where == "inside":
                return [u.status for u in (yield dg.RunCompensations())]
        return []

    def workflow(x: int) -> Gen:
        out = yield dg.Child(body, (x,), name="v", virtual=True)
        if where == "root":
            out = [u.status for u in (yield dg.RunCompensations())]
        yield from gate()
        return out

    return _named(workflow, f"virtual_rollback[{where}]")


def _item_draws(extra: bool) -> Any:
    """Map items pass a Random draw to a step (an argument only); ``extra`` draws once more
    before it."""

    def item(x: int) -> Gen:
        if extra:
            yield dg.Random()
        rng = yield dg.Random()
        yield dg.Step(plain_add, (rng.randint(0, 9),), name="draw")
        yield from gate(f"gate-{x}")
        return x  # the draws differ from route to route: each execution has its own ARN

    def workflow(x: int) -> Gen:
        return (yield dg.Map(item, [x, x + 1], name="m")).results()

    return _named(workflow, f"item_draws[{extra}]")


INSIDE = [
    Change(
        "Map items polling: a step inserted before the condition behind Patched",
        _items_polling(None),
        _items_polling("patched"),
        OK,
        OK,
        result=[3, 3],
    ),
    Change(
        "Map items polling: a step inserted before the condition unguarded",
        _items_polling(None),
        _items_polling("unguarded"),
        N,
        OK,  # a completed batch replays from its record
        result=[3, 3],
    ),
    Change(
        "Parallel branch waiting on an Invoke: the Invoke renamed",
        _branch_invokes("slow-tax"),
        _branch_invokes("slow-tax", name="duty"),
        N,
        OK,
        result=[2, 2],
    ),
    Change(
        "Parallel branch waiting on an Invoke: another function",
        _branch_invokes("slow-tax"),
        _branch_invokes("tax-v2"),
        OK,  # the function is not compared: the started invoke's answer is used
        OK,
        result=[2, 2],
    ),
    Change(
        "flat Parallel branch waiting on an Invoke: the Invoke renamed",
        _branch_invokes("slow-tax", nesting="flat"),
        _branch_invokes("slow-tax", name="duty", nesting="flat"),
        N,
        OK,
        result=[2, 2],
    ),
    Change(
        "flat Map items waiting on WaitForCallback: timeout lengthened",
        _items_waiting_on_callbacks(3600),
        _items_waiting_on_callbacks(7200),
        OK,
        OK,
        result=[ANSWER, ANSWER],
    ),
    Change(
        "virtual Child: its rollback moved to the root after it",
        _virtual_rollback("inside"),
        _virtual_rollback("root"),
        N,
        N,
    ),
    Change(
        "Map items: a Random drawn before the one a step's argument uses",
        _item_draws(False),
        _item_draws(True),
        OK,  # arguments are not compared: the recorded results are used
        OK,
        result=[1, 2],
    ),
]

CHANGES = [*PLACEMENTS, *ROLLBACKS, *IN_PROGRESS, *DEFAULT_NAMES, *UUIDS, *BRANCHES, *INSIDE]


@pytest.mark.parametrize("state", ["suspended", "completed"])
@pytest.mark.parametrize("change", CHANGES, ids=[c.name for c in CHANGES])
def test_every_route_judges_a_change_alike(
    change: Change, state: str, tmp_path: Path, durable_replayer: Replayer
) -> None:
    judge(change, state, tmp_path, durable_replayer)


def test_the_corpus_names_are_unique_and_new() -> None:
    from tests.unit.testing import test_change_corpus_round8 as r8

    names = {c.name for c in CHANGES}
    assert len(names) == len(CHANGES)
    assert not names & {c.name for c in r8.CHANGES}
    assert ANSWER  # callbacks are answered with the shared answer


# --- G. a guarded change past the end of an execution that ended ---------------------------------


@dg.workflow
def ends_v1(x: int) -> Gen:
    a = yield fetch(x)
    return [a, (yield from gate())]


@dg.workflow
def ends_patched_tail(x: int) -> Gen:
    a = yield fetch(x)
    out = [a, (yield from gate())]
    if (yield dg.Patched("tail")):
        out.append((yield notify(a)))
    return out


@dg.workflow
def ends_deprecated_tail(x: int) -> Gen:
    a = yield fetch(x)
    out = [a, (yield from gate())]
    yield dg.Deprecated("tail")
    out.append((yield notify(a)))
    return out


def _virtual_tail(x: int) -> Gen:
    out = [(yield fetch(x)), (yield from gate())]
    if (yield dg.Patched("tail")):
        out.append((yield notify(x)))
    return out


@dg.workflow
def ends_in_a_virtual_child(x: int) -> Gen:
    return (yield dg.Child(_virtual_tail, (x,), name="v", virtual=True))


@dg.workflow
def ends_in_a_virtual_child_v1(x: int) -> Gen:
    return (yield dg.Child(plain_tail, (x,), name="v", virtual=True))


def plain_tail(x: int) -> Gen:
    return [(yield fetch(x)), (yield from gate())]


def _ended_routes(v1: Any, v2: Any, payload_format: str, tmp_path: Path) -> dict[str, Any]:
    """A v1 execution that ended, replayed on v2 by every replaying route, and by a host's
    interpreter given its operations."""
    from durable_gen import runtime as rt
    from durable_gen.testing import TestRunner, load_history, replay, replay_folder

    runner = TestRunner(payload_format=payload_format)  # type: ignore[arg-type]
    run = runner.run(v1, 1)
    run.send_callback_success("gate", ANSWER)
    runner.run_until_idle()
    assert run.status == "SUCCEEDED", run.error
    export = run.export()
    out: dict[str, Any] = {}
    for label, source in {
        "replay": export,
        "replay (events)": {"DurableExecutionArn": export["DurableExecutionArn"],
                            "Events": export["Events"]},
    }.items():  # fmt: skip
        report = replay(v2, source)
        out[label] = (report.status, report.outcome, report.result if report.ok else None)
    run.export(tmp_path / payload_format / "h.json")
    (folder,) = replay_folder({"h": v2}, tmp_path / payload_format)
    out["replay_folder"] = (folder.status, folder.outcome, folder.result if folder.ok else None)
    history = load_history(export)
    interp = rt.Interpreter(v2, list(history.operations), execution_arn=history.execution_arn or "")
    try:
        for _ in range(20):
            action = interp.next_action()
            if isinstance(action, rt.Done):
                break
            assert isinstance(action, rt.Flush), action
            interp.observe([])
        outcome = action.outcome  # type: ignore[union-attr]
        if isinstance(outcome, rt.Succeeded):
            result = dg.JsonSerdes().deserialize(outcome.result or "null")
            out["Interpreter"] = ("ok", "succeeded", result)
        else:
            out["Interpreter"] = (type(outcome).__name__, getattr(outcome, "error", None))
    except dg.NonDeterminismError as exc:  # pragma: no cover - shown in the assertion
        out["Interpreter"] = ("NonDeterminismError", str(exc))
    return out


@pytest.mark.parametrize("payload_format", ["json", "aws"])
@pytest.mark.parametrize("v1", [ends_v1, ends_in_a_virtual_child_v1], ids=["root", "virtual child"])
def test_patched_past_the_end_of_an_ended_execution_answers_false(
    v1: Any, payload_format: str, tmp_path: Path
) -> None:
    """docs/versioning.md: the old code went past the point (the execution ended with it), as
    at the end of a child context that completed: the replay returns the recorded path, and a
    host's interpreter given the ended execution neither runs nor records anything."""
    v2 = ends_patched_tail if v1 is ends_v1 else ends_in_a_virtual_child
    routes = _ended_routes(v1, v2, payload_format, tmp_path)
    assert routes == dict.fromkeys(routes, ("ok", "succeeded", [2, ANSWER]))


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_deprecated_past_the_end_of_an_ended_execution_names_the_change(
    payload_format: str, tmp_path: Path
) -> None:
    from durable_gen.testing import TestRunner, replay

    runner = TestRunner(payload_format=payload_format)  # type: ignore[arg-type]
    run = runner.run(ends_v1, 1)
    run.send_callback_success("gate", ANSWER)
    runner.run_until_idle()
    report = replay(ends_deprecated_tail, run.export())
    assert report.status == "diverged", report.message
    assert "change 'tail' is Deprecated" in report.message
    assert "ended (SUCCEEDED)" in report.message
    assert report.divergence is not None
    assert report.divergence.requested == "Deprecated('tail')"


# --- I. a Deprecated whose yield was forgotten, checked outside pytest ----------------------------


@dg.workflow
def receipt_deprecated_unyielded(x: int) -> Gen:
    a = yield fetch(x)
    dg.Deprecated("send-receipt")  # the yield forgotten: it checks nothing
    yield notify(a)
    yield from gate()
    return a


@dg.workflow
def receipt_deprecated_unyielded_at_the_end(x: int) -> Gen:
    a = yield fetch(x)
    yield from gate()
    dg.Deprecated("send-receipt")
    return a


@pytest.mark.parametrize(
    "v2",
    [receipt_deprecated_unyielded, receipt_deprecated_unyielded_at_the_end],
    ids=["before the gate", "at the end"],
)
@pytest.mark.parametrize("state", ["suspended", "completed"])
def test_replay_fails_on_an_unyielded_command_without_the_pytest_plugin(
    v2: Any, state: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/testing.md: replay is a check, as under the pytest plugin: outside it (a CI
    script) a forgotten ``yield`` made the old-path executions replay ``ok`` on the code that
    retires a change."""
    import warnings

    from durable_gen import _guard
    from durable_gen.testing import TestRunner, replay, replay_folder

    runner = TestRunner()
    run = runner.run(receipt_old, 1)
    if state == "completed":
        run.send_callback_success("gate", ANSWER)
        runner.run_until_idle()
    run.export(tmp_path / "h.json")
    monkeypatch.setattr(_guard, "strict", False)  # what a script without the plugin runs with
    with warnings.catch_warnings():
        warnings.simplefilter("default", _guard.UnyieldedCommandWarning)
        reports = [replay(v2, run.export()), *replay_folder({"h": v2}, tmp_path)]
    if state == "suspended" and v2 is receipt_deprecated_unyielded_at_the_end:
        assert [r.status for r in reports] == ["ok", "ok"]  # the code does not get there
        return
    for report in reports:
        assert report.status == "failed", report.message
        assert "a Deprecated command was built in workflow code" in report.message
        assert "never yielded" in report.message
    assert _guard.strict is False  # put back


def test_replay_in_a_script_fails_on_an_unyielded_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "check.py"
    script.write_text(
        "import durable_gen as dg\n"
        "from durable_gen.testing import TestRunner, replay\n"
        "def v1(x):\n"
        "    h = yield dg.CreateCallback(name='gate')\n"
        "    return (yield h)\n"
        "def v2(x):\n"
        "    dg.Deprecated('send-receipt')\n"
        "    h = yield dg.CreateCallback(name='gate')\n"
        "    return (yield h)\n"
        "run = TestRunner().run(v1, 1)\n"
        "print(replay(v2, run.export()).status)\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "failed", out.stdout + out.stderr
