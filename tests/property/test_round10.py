"""Property tests of code changes deep inside contexts, written from docs/versioning.md and
docs/testing.md: for random nestings of children (recorded or virtual), Map items and Parallel
branches (nested or flat), a step renamed or inserted in the innermost body while an execution
waits there is reported by ``replay`` and by a resume on the engine with one message, naming
the innermost operation that differs, the context that records nothing it sits in (a virtual
child, a flat item or branch), and the recorded contexts around it by type and name;
the determinism check names that innermost step, not the contexts around it; and such
programs replay deterministically under any crash schedule."""

from __future__ import annotations

import itertools
import re
from collections.abc import Generator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import durable_gen as dg
from durable_gen.testing import (
    CrashSchedule,
    DeterminismCheck,
    DurableRun,
    TestRunner,
    assert_deterministic,
    replay,
)
from durable_gen.testing import strategies as s

Gen = Generator[Any, Any, Any]

KINDS = ("child", "virtual", "map", "flat map", "branch", "flat branch")

_COUNTER = itertools.count()


def _value(x: int) -> int:
    return x + 1


def _answer(run: DurableRun) -> None:
    for op in run.operations(type="CALLBACK"):
        if op.status == "STARTED" and op.callback_id is not None:
            run.runner.send_callback_success(op.callback_id, "yes")


def nested(
    kinds: tuple[str, ...],
    steps: int,
    edit: tuple[str, int] | None = None,
    stamped: bool = False,
) -> Any:
    """A workflow whose containers are ``kinds`` (outermost first); the innermost body runs
    steps ``s0``... then waits at its gate. ``edit``: ``("rename", j)`` names step j
    otherwise, ``("insert", j)`` yields a step before it. ``stamped``: the first step's
    argument comes from a module counter (state kept between runs)."""

    def leaf() -> Gen:
        out = []
        for j in range(steps):
            if edit == ("insert", j):
                yield dg.Step(_value, (0,), name="inserted")
            name = f"s{j}-v2" if edit == ("rename", j) else f"s{j}"
            arg = next(_COUNTER) if stamped and j == 0 else j
            out.append((yield dg.Step(_value, (arg,), name=name)))
        out.append((yield dg.WaitForCallback(_submit, name="gate")))
        return out

    def level(i: int) -> Gen:
        if i == len(kinds):
            return (yield from leaf())
        kind = kinds[i]
        if kind in ("child", "virtual"):
            return (yield dg.Child(level, (i + 1,), name=f"c{i}", virtual=kind == "virtual"))
        nesting = "flat" if kind.startswith("flat") else "nested"
        if kind.endswith("map"):
            batch = yield dg.Map(_item(level, i), [i], name=f"m{i}", nesting=nesting)
        else:
            branch = dg.Branch(lambda: (yield from level(i + 1)), name=f"b{i}")
            batch = yield dg.Parallel([branch], name=f"p{i}", nesting=nesting)
        return batch.results()

    def workflow(_: int) -> Gen:
        return (yield from level(0))

    workflow.__name__ = workflow.__qualname__ = "nested"
    return workflow


def _item(level: Any, i: int) -> Any:
    def item(_: int) -> Gen:
        return (yield from level(i + 1))

    return item


def _submit(callback_id: str) -> None:
    """The test answers the gate."""


def recorded_contexts(kinds: tuple[str, ...]) -> list[str]:
    """The names of the contexts the innermost body's operations are recorded in, innermost
    first: a virtual child and a flat item or branch record none of their own."""
    names: list[str] = []
    for i, kind in enumerate(kinds):
        names[:0] = {
            "child": [f"c{i}"],
            "virtual": [],
            "map": ["map-item-0", f"m{i}"],
            "flat map": [f"m{i}"],
            "branch": [f"b{i}", f"p{i}"],
            "flat branch": [f"p{i}"],
        }[kind]
    return names


nestings = st.lists(st.sampled_from(KINDS), min_size=1, max_size=4).map(tuple)


@s.check_settings(max_examples=25)
@given(
    kinds=nestings,
    steps=st.integers(min_value=1, max_value=3),
    data=st.data(),
)
def test_a_change_deep_inside_is_named_at_the_innermost_operation_by_every_route(
    kinds: tuple[str, ...], steps: int, data: st.DataObject
) -> None:
    j = data.draw(st.integers(min_value=0, max_value=steps - 1), label="step")
    edit = (data.draw(st.sampled_from(["rename", "insert"]), label="edit"), j)
    v1, v2 = nested(kinds, steps), nested(kinds, steps, edit)
    runner = TestRunner()
    run = runner.run(v1, 0)
    assert run.status == "RUNNING", run.error
    report = replay(v2, run.export())
    assert report.status == "diverged", report.message
    runner.deploy(v1, v2)
    _answer(run)
    runner.run_until_idle()
    assert run.error is not None and run.error.error_type == "NonDeterminismError"
    assert run.error.error_message == report.message  # one message, whatever the route
    assert report.divergence is not None
    recorded = next(op for op in run.operations() if op.id == report.divergence.operation_id)
    assert recorded.name == f"s{j}", report.message  # the innermost operation that differs
    assert f"the history recorded STEP/Step name='s{j}'" in report.message
    innermost = {"virtual": f"c{len(kinds) - 1}", "flat map": "map-item-0"}.get(kinds[-1])
    if kinds[-1] == "flat branch":
        innermost = f"b{len(kinds) - 1}"
    if innermost is not None:  # a context that records nothing is named in the position
        assert f"name='{innermost}', which records nothing" in report.message, report.message
    contexts = recorded_contexts(kinds)
    if not contexts:
        assert "Where:" not in report.message
        return
    chain = report.message.split(". Where: ", 1)[1]
    assert re.findall(r"name='([^']*)'", chain) == contexts, report.message
    assert recorded.parent_id is not None and chain.startswith(
        f"context {recorded.parent_id[:12]} is "
    )


@s.check_settings(max_examples=10)
@given(kinds=nestings)
def test_the_determinism_check_blames_the_innermost_step_not_its_contexts(
    kinds: tuple[str, ...],
) -> None:
    with pytest.raises(AssertionError) as caught:
        assert_deterministic(
            nested(kinds, 1, stamped=True), 0, crashes=[], random_runs=0, on_idle=_answer
        )
    first = next(
        line for line in str(caught.value).splitlines() if line.startswith("First difference")
    )
    assert "STEP/Step 's0'" in first, first


@s.check_settings(max_examples=15)
@given(kinds=nestings, steps=st.integers(min_value=1, max_value=3), schedule=s.crash_schedules())
def test_nested_programs_replay_deterministically_under_any_crashes(
    kinds: tuple[str, ...], steps: int, schedule: CrashSchedule
) -> None:
    check = DeterminismCheck(nested(kinds, steps), 0, on_idle=_answer)
    summary = check.check(schedule)
    assert summary.status == "SUCCEEDED", summary
