"""Property tests of user workflows, written from docs/testing.md and docs/guide.md ("Values and
types"): a workflow receives the same value the first time and on every replay, whatever a step
returns without a declared type; deterministic helpers drawn in several contexts are never
flagged; a step that changes what the body gave it, and a workflow invoked by another that
reads state it keeps between runs, are caught and the cause named."""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Generator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import durable_gen as dg
from durable_gen.testing import (
    CrashSchedule,
    DeterminismCheck,
    TestRunner,
    assert_deterministic,
    replay,
)
from durable_gen.testing import strategies as s
from tests.property._support import settle

FEW = s.check_settings(max_examples=10)

Gen = Generator[Any, Any, Any]


@dg.step
def echo(value: Any) -> Any:
    return value


# --- a step that changes what the body gave it ----------------------------------------------------


@dg.step
def add_gift(cart: list[str]) -> int:
    cart.append("gift")  # changes the body's list: the body sees it only when the step runs
    return len(cart)


@dg.step
def checkout(cart: list[str]) -> list[str]:
    return cart


@dg.workflow
def gift_cart(items: list[str]) -> Gen:
    cart = list(items)
    yield add_gift(cart)
    return (yield checkout(cart))


@dg.step
def stamp(order: dict[str, Any]) -> str:
    order["stamped"] = True
    return "ok"


def _stamped(suspends: bool) -> Any:
    @dg.workflow
    def stamped_order(n: int) -> Gen:
        order: dict[str, Any] = {"n": n}
        yield stamp(order)
        if order.get("stamped"):
            yield echo(n)
        if suspends:
            yield dg.Wait(seconds=n, name="pause")  # the body replays after it
        return n

    return stamped_order


def _failure(workflow: Any, value: Any) -> str:
    with pytest.raises(AssertionError) as caught:
        assert_deterministic(workflow, value, random_runs=0)
    return str(caught.value)


@FEW
@given(st.lists(st.sampled_from(["book", "pen", "ink"]), max_size=3))
def test_a_step_that_appends_to_its_list_argument_is_caught_and_named(items: list[str]) -> None:
    message = _failure(gift_cart, items)
    assert "does not survive crashes" in message  # the uninterrupted runs agree
    assert "step 'checkout' ended differently" in message
    assert "changes an object the body gave it" in message
    assert "leave its arguments unchanged" in message


@FEW
@given(st.integers(min_value=1, max_value=100), st.booleans())
def test_a_step_that_sets_a_key_the_body_branches_on_is_caught_and_named(
    n: int, suspends: bool
) -> None:
    """The body's replay takes the other branch (a NonDeterminismError): after a crash, or
    after a suspension in an uninterrupted run; either way the advice names the step's side
    effect besides the clock and random reads."""
    message = _failure(_stamped(suspends), n)
    if suspends:
        assert "even without crashes: its replay after a suspension" in message
    else:
        assert "does not survive crashes" in message
    assert "changes an object the body gave it" in message


def test_two_uninterrupted_runs_that_differ_are_not_blamed_on_a_step_s_side_effect() -> None:
    counter = itertools.count()

    @dg.workflow
    def counted(_: None) -> Gen:
        return (yield checkout([str(next(counter))]))

    message = _failure(counted, None)
    assert "even without crashes" in message
    assert "changes an object the body gave it" not in message


# --- an invoked workflow that keeps state between runs -------------------------------------------

_CALLS = itertools.count()


@dg.workflow
def numbered_tax(amount: int) -> Gen:
    n = next(_CALLS)  # module state: another name on every replay
    return (yield dg.Step(echo, (amount,), name=f"tax-{n}"))


@dg.workflow
def numbered_waiting_tax(amount: int) -> Gen:
    n = next(_CALLS)
    out = yield dg.Step(echo, (amount,), name=f"tax-{n}")
    yield dg.Wait(seconds=5, name="settle")  # replays the step's name after it
    return out


@dg.workflow
def checkout_with_tax(amount: int) -> Gen:
    yield echo(amount)
    return (yield dg.Invoke("tax", amount, name="levy"))


@FEW
@given(st.integers(min_value=0, max_value=1000), st.booleans())
def test_an_invoked_workflow_s_divergence_is_named_by_its_invoke(amount: int, waits: bool) -> None:
    """The invoked execution diverges on replay (after a crash, or after its own wait); the
    failure says so and names the Invoke, since the position the engine gives is in that
    execution."""
    target = numbered_waiting_tax if waits else numbered_tax
    with pytest.raises(AssertionError) as caught:
        assert_deterministic(checkout_with_tax, amount, functions={"tax": target}, random_runs=0)
    message = str(caught.value)
    assert "the replay of the execution invoked by Invoke 'levy'" in message
    assert "module-level counter" in message
    if waits:  # it replays after its own wait, in an uninterrupted run
        assert "even without crashes" in message


def test_the_workflow_s_own_divergence_still_reads_as_its_own() -> None:
    calls = itertools.count()

    @dg.workflow
    def own(_: None) -> Gen:
        n = next(calls)
        out = yield dg.Step(echo, (1,), name=f"s-{n}")
        yield dg.Wait(seconds=5, name="settle")
        return out

    message = _failure(own, None)
    assert "its replay after a suspension asked for other commands" in message
    assert "invoked by" not in message


# --- untyped step results: the same value on the first run and on every replay -------------------

_leaves = st.one_of(
    st.integers(min_value=-(2**53), max_value=2**53),
    st.text(max_size=5),
    st.booleans(),
    st.none(),
    st.frozensets(st.integers(min_value=0, max_value=50), max_size=4),
    st.sets(st.text(max_size=3), max_size=3),
)


def _nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.integers(min_value=0, max_value=9), inner, max_size=3),
        st.dictionaries(st.text(max_size=3), inner, max_size=3),
    )


_values = st.one_of(_leaves, _nested(_leaves), _nested(_nested(_leaves)))


def _shape(value: Any) -> Any:
    """What the body makes of the value: its types and the order of its parts."""
    if isinstance(value, dict):
        return {"dict": [[_shape(k), _shape(v)] for k, v in value.items()]}
    if isinstance(value, list | tuple | set | frozenset):
        return {type(value).__name__: [_shape(v) for v in value]}
    return [type(value).__name__, value]


def _untyped_workflow(values: list[Any]) -> Any:
    def produce(i: int) -> Any:  # Any declares no type: the value comes back as plain JSON
        return values[i]

    produce.__name__ = "produce"

    @dg.workflow
    def shapes(n: int) -> Gen:
        seen = []
        for i in range(n):
            value = yield dg.Step(produce, (i,), name=f"produce-{i}")
            seen.append(_shape(value))
            yield echo(seen[-1])  # what the body saw is recorded, and compared
            if i == 0:
                yield dg.Wait(seconds=1, name="between")
        return seen

    return shapes


@FEW
@given(st.lists(_values, min_size=1, max_size=3), s.crash_schedules(max_point=10))
def test_an_untyped_step_result_reads_the_same_on_every_run(
    values: list[Any], schedule: CrashSchedule
) -> None:
    workflow = _untyped_workflow(values)
    check = DeterminismCheck(workflow, len(values))
    summary = check.check(schedule)
    seen = json.loads(summary.result or "null")
    expected = json.loads(dg.JsonSerdes().serialize([_shape(json.loads(
        dg.JsonSerdes().serialize(v))) for v in values]))  # fmt: skip
    assert seen == expected


# --- deterministic helpers drawn in several contexts ---------------------------------------------


def _helpers_workflow(branches: int, draws: list[int], in_child: bool) -> Any:
    def branch(i: int) -> Gen:
        for _ in range(draws[i % len(draws)]):
            yield dg.UUID()
        u = yield dg.UUID()
        rng = yield dg.Random()
        pick = rng.randint(0, 999)
        yield dg.Step(echo, (pick,), name=f"b{i}-{str(u)[:8]}")
        yield dg.Wait(seconds=1 + i, name=f"w{i}")
        return [str(u), pick]

    def fan_out(n: int) -> Gen:
        batch = yield dg.Parallel(
            [dg.Branch(functools.partial(branch, i), name=f"br{i}") for i in range(n)],
            name="fan",
        )
        return batch.results()

    @dg.workflow
    def helpers(n: int) -> Gen:
        now = yield dg.Now()
        u = yield dg.UUID()
        if in_child:
            out = yield dg.Child(fan_out, (n,), name="c")
        else:
            out = yield from fan_out(n)
        return [now.isoformat(), str(u), out]

    return helpers


@FEW
@given(
    st.integers(min_value=1, max_value=3),
    st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=3),
    st.booleans(),
    s.crash_schedules(max_point=16),
)
def test_uuid_random_and_now_in_several_contexts_are_never_flagged(
    branches: int, draws: list[int], in_child: bool, schedule: CrashSchedule
) -> None:
    workflow = _helpers_workflow(branches, draws, in_child)
    summary = DeterminismCheck(workflow, branches).check(schedule)
    assert summary.status == "SUCCEEDED"


@FEW
@given(
    st.integers(min_value=1, max_value=3),
    st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=3),
    st.booleans(),
)
def test_a_run_of_helpers_replays_from_its_export_in_both_formats(
    branches: int, draws: list[int], in_child: bool
) -> None:
    workflow = _helpers_workflow(branches, draws, in_child)
    for payload_format in ("json", "aws"):
        runner = TestRunner(payload_format=payload_format)
        run = runner.run(workflow, branches)
        assert run.status == "SUCCEEDED", run.error
        report = replay(workflow, run.export())
        assert report.ok and report.outcome == "succeeded", report.message
        assert report.result == run.result()


# --- a change guarded at the end, checked against finished executions -----------------------------


def _with_tail(kind: str) -> Any:
    """program_workflow with a change after its last command: guarded by Patched, or its
    guard made Deprecated."""

    @dg.workflow
    def tailed(program_input: Any) -> Gen:
        out = yield from s.program_workflow(program_input)
        if kind == "patched":
            if (yield dg.Patched("tail")):
                yield echo("new path")
        else:
            yield dg.Deprecated("tail")
            yield echo("new path")
        return out

    return tailed


@FEW
@given(s.programs(kinds=("step", "wait", "callback", "map", "parallel", "child")))
def test_a_finished_execution_replays_a_guarded_change_at_its_end_on_its_old_path(
    program: s.Program,
) -> None:
    """docs/testing.md's check of finished executions (``outcome == "succeeded"`` with the
    recorded result) holds for a change guarded the way docs/versioning.md says; making the
    guard Deprecated is caught for them, naming the change."""
    runner = TestRunner()
    run = runner.run(s.program_workflow, s.program_input(program))
    for _ in range(50):
        if run.done:
            break
        settle(runner, run)  # answers the callbacks as they open
        if not run.done:  # a callback left to time out: its timer, and no further
            runner.advance_to_next_timer()
    assert run.status == "SUCCEEDED", run.error
    export = run.export()
    report = replay(_with_tail("patched"), export)
    assert report.ok and report.outcome == "succeeded", report.message
    assert report.result == s.expected_result(program)
    deprecated = replay(_with_tail("deprecated"), export)
    assert deprecated.status == "diverged"
    assert "change 'tail' is Deprecated" in deprecated.message


# --- an invoked function that answers something new each time ------------------------------------


@FEW
@given(st.integers(min_value=0, max_value=1000))
def test_an_invoke_s_changing_answer_is_blamed_on_the_invoked_function(amount: int) -> None:
    answers = itertools.count()

    def quote(payload: int) -> int:
        return payload + next(answers)

    @dg.workflow
    def quoted(x: int) -> Gen:
        return (yield dg.Invoke("quote", x, name="quote"))

    with pytest.raises(AssertionError) as caught:
        assert_deterministic(quoted, amount, functions={"quote": quote}, random_runs=0)
    message = str(caught.value)
    assert "CHAINED_INVOKE/ChainedInvoke 'quote'" in message
    assert "the function invoked by Invoke 'quote' ended differently" in message
    assert "the value is computed in the workflow body" not in message


@FEW
@given(st.integers(min_value=0, max_value=1000))
def test_a_condition_s_changing_state_is_blamed_on_its_check(start: int) -> None:
    checks = itertools.count()

    def check(state: int) -> int:
        return state + next(checks)

    @dg.workflow
    def polled(x: int) -> Gen:
        return (yield dg.WaitForCondition(check, initial_state=x, name="job"))

    message = _failure(polled, start)
    assert "STEP/WaitForCondition 'job'" in message
    assert "the checks of WaitForCondition 'job' ended differently" in message
    assert "the value is computed in the workflow body" not in message
