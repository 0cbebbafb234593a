"""A Map whose function is a plain or ``@step`` function runs each item as one step named after
the function; a Parallel branch given such a function, and a Child given a ``@step`` function,
do the same. Replacing the function is ``NonDeterminismError`` on a resume and in
``testing.replay`` alike, once the context completed and while an execution waits inside it; a
workflow whose function did not change (moved to another module, wrapped in a partial,
decorated with ``@step``, a lambda) replays."""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, assert_deterministic, replay
from tests.unit.test_batch_shape import assert_diverged, both_routes
from tests.unit.testing import moved_steps
from tests.unit.testing.test_change_corpus import (
    rmap_kept_name,
    rmap_thrice,
    rmap_v1,
    scaled,
    thrice,
    twice,
)

Gen = Generator[Any, Any, Any]
Workflow = Callable[[Any], Gen]


def logged(fn: Callable[[int], int]) -> Callable[[int], int]:
    """A decorator that keeps the function's name, as ``functools.wraps`` does."""

    @functools.wraps(fn)
    def wrapper(x: int) -> int:
        return fn(x)

    return wrapper


class Doubler:
    def twice(self, x: int) -> int:
        return x * 2


@dg.step(name="twice")
def renamed_in_python(x: int) -> int:
    return x * 2


def one() -> int:
    return 1


def two() -> int:
    return 2


def mapping(fn: Callable[..., Any], **options: Any) -> Workflow:
    def wf(_: Any) -> Gen:
        batch = yield dg.Map(fn, [1, 2, 3], name="m", **options)
        yield dg.Wait(seconds=60, name="later")
        return batch.all_results()

    return wf


def on_three(workflow: Callable[[int], Gen]) -> Workflow:
    def wf(_: Any) -> Gen:
        return (yield from workflow(3))

    return wf


def assert_replays(old: Workflow, new: Workflow) -> None:
    report, error = both_routes(old, new)
    assert report.status in ("ok", "incomplete"), report
    assert error is None, error


def test_a_completed_map_given_another_function_diverges_and_says_what_to_do() -> None:
    assert_diverged(
        mapping(twice),
        mapping(thrice),
        "Map 'm' item 0 ('map-item-0') running step 'twice'",
        "Map 'm' item 0 ('map-item-0') running step 'thrice'",
        "function changed",
        "@dg.step(name='twice')",
        "Patched(",
    )


@dg.step(sub_type="Price")
def price(x: int) -> int:
    return x * 2


@dg.step(sub_type="Price")
def cost(x: int) -> int:
    return x * 2


def test_a_completed_map_of_steps_of_a_custom_sub_type_given_another_function_diverges() -> None:
    """The items' steps record SubType ``Price``; the check compares them all the same."""
    assert_diverged(
        mapping(price),
        mapping(cost),
        "Map 'm' item 0 ('map-item-0') running step 'price'",
        "Map 'm' item 0 ('map-item-0') running step 'cost'",
    )


def test_the_reported_unnamed_map_of_plain_functions_diverges() -> None:
    def wf_a(_: Any) -> Gen:
        r = yield dg.Map(twice, [1, 2, 3])
        yield dg.Wait(seconds=10)
        return r.results()

    def wf_b(_: Any) -> Gen:
        r = yield dg.Map(thrice, [1, 2, 3])
        yield dg.Wait(seconds=10)
        return r.results()

    assert_diverged(wf_a, wf_b, "the history recorded Map item 0 ('map-item-0') running step")


def test_a_map_waiting_inside_given_another_function_diverges() -> None:
    """Item 1 waits out a retry delay inside the Map: the execution suspends in it."""
    old, new = on_three(rmap_v1), on_three(rmap_thrice)
    assert_diverged(old, new, "running step 'flaky_double'", "running step 'flaky_triple'")


def test_a_map_waiting_inside_whose_function_kept_its_step_name_resumes() -> None:
    assert_replays(on_three(rmap_v1), on_three(rmap_kept_name))


def test_a_flat_map_given_another_function_diverges() -> None:
    assert_diverged(
        mapping(twice, nesting="flat"), mapping(thrice, nesting="flat"), "running step 'thrice'"
    )


def test_a_changed_step_name_diverges() -> None:
    assert_diverged(
        mapping(dg.step(twice)),
        mapping(dg.step(name="twice-v2")(twice)),
        "running step 'twice'",
        "running step 'twice-v2'",
    )


def test_a_partial_of_another_function_diverges() -> None:
    assert_diverged(mapping(twice), mapping(functools.partial(thrice)), "running step 'thrice'")


def parallel(*branches: Callable[[], int], **options: Any) -> Workflow:
    def wf(_: Any) -> Gen:
        batch = yield dg.Parallel(list(branches), name="p", **options)
        yield dg.Wait(seconds=60, name="later")
        return batch.all_results()

    return wf


def test_a_parallel_branch_given_another_function_says_the_branch_changed() -> None:
    assert_diverged(
        parallel(one),
        parallel(two),
        "Parallel 'p' branch 0 ('parallel-branch-0') running step 'one'",
        "Parallel 'p' branch 0 ('parallel-branch-0') running step 'two'",
        "The branch's function changed",
    )


UNCHANGED = {
    "the same function": (twice, twice),
    "moved to another module": (twice, moved_steps.twice),
    "made a @step": (twice, dg.step(twice)),
    "renamed, @step(name=) keeps the step name": (twice, renamed_in_python),
    "a partial of it": (twice, functools.partial(twice)),
    "a partial with a keyword": (scaled, functools.partial(scaled, factor=2)),
    "the same partial, moved": (
        functools.partial(scaled, factor=2),
        functools.partial(moved_steps.scaled, factor=2),
    ),
    "a lambda": (lambda x: x * 2, lambda x: x * 2),
    "a lambda calling it": (twice, lambda x: twice(x)),
    "a method of another instance": (Doubler().twice, Doubler().twice),
    "decorated with functools.wraps": (twice, logged(twice)),
}


@pytest.mark.parametrize("old, new", UNCHANGED.values(), ids=list(UNCHANGED))
def test_a_function_that_did_not_change_is_no_false_alarm(
    old: Callable[..., Any], new: Callable[..., Any]
) -> None:
    assert_replays(mapping(old), mapping(new))
    assert_deterministic(mapping(new), None, random_runs=1)


def test_a_recorded_step_without_a_name_is_not_compared() -> None:
    """AWS's SDK names no step a Map item runs: such a history replays with any function."""
    runner = TestRunner(skip_time=False)
    run = runner.run(mapping(twice), None)
    assert not run.done
    export = run.export()
    for op in export["Operations"]:
        if op["Type"] == "STEP":
            op.pop("Name", None)
    assert replay(mapping(thrice), {"Operations": export["Operations"]}).status == "ok"


def test_a_flat_parallel_branch_given_another_function_diverges() -> None:
    old, new = parallel(two, one, nesting="flat"), parallel(two, two, nesting="flat")
    assert_diverged(old, new, "branch 1 ('parallel-branch-1') running step 'one'")
    assert_replays(old, parallel(two, one, nesting="flat"))


@dg.step
def double(x: int) -> int:
    return x * 2


@dg.step
def triple(x: int) -> int:
    return x * 3


@dg.step(name="double")
def double_renamed_in_python(x: int) -> int:
    return x * 2


def child_of(fn: Callable[[int], Any], name: str | None = None) -> Workflow:
    def wf(_: Any) -> Gen:
        r = yield dg.Child(fn, (2,), name=name)
        yield dg.Wait(seconds=60, name="later")
        return r

    return wf


@pytest.mark.parametrize("name", [None, "c"])
def test_a_child_given_another_step_function_diverges(name: str | None) -> None:
    label = "Child" if name is None else "Child 'c'"
    assert_diverged(
        child_of(double, name),
        child_of(triple, name),
        f"{label} running step 'double'",
        f"{label} running step 'triple'",
        "The Child's function changed",
        "@dg.step(name='double')",
    )


def test_a_child_whose_step_function_kept_its_name_replays() -> None:
    assert_replays(child_of(double), child_of(double_renamed_in_python))
    assert_replays(child_of(double, "c"), child_of(double, "c"))
