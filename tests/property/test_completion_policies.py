"""Completion policies over items that wait, fail, retry or end at once, with small or large
results (a batch result over 256 KiB is rebuilt from its items on replay): any Map or Parallel,
nested or flat, with any policy and concurrency, in every checkpointing mode, ends its
execution (never with ``NonDeterminismError``), its history replays to the same result, and
it survives any crash schedule. The strategies' own programs always complete every item, so
batches decided early, on replay or rebuilt, are drawn here."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import durable_gen as dg
from durable_gen.testing import DeterminismCheck, TestRunner, current_attempt, replay
from durable_gen.testing.strategies import check_settings, crash_schedules

OK, FAILS, FLAKY, AT_ONCE = range(4)


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def outcome(spec: list[int]) -> int:
    seconds, kind = spec[0], spec[1]
    info = current_attempt()
    if kind == FAILS:
        raise ValueError("this item fails")
    if kind == FLAKY and info is not None and info.attempt == 1:
        raise TimeoutError("first attempt")
    return seconds


def item(spec: list[int]):  # type: ignore[no-untyped-def]
    yield dg.Wait(seconds=spec[0], name="wait")
    if spec[1] == AT_ONCE:  # ends as soon as its wait does: may decide the batch on replay
        value = spec[0]
    else:
        value = yield outcome(spec)
    # large results make the batch's result too large to record: it is rebuilt on replay
    return "z" * 70_000 if spec[2] else value


def _branch(spec: list[int]) -> Any:
    def branch():  # type: ignore[no-untyped-def]
        return (yield from item(spec))

    return branch


def batch_workflow(spec: dict[str, Any]):  # type: ignore[no-untyped-def]
    options: dict[str, Any] = {"name": "b", "nesting": spec["nesting"]}
    options["max_concurrency"] = spec["concurrency"]
    if spec["completion"] is not None:
        options["completion"] = dg.Completion(**spec["completion"])
    if spec["kind"] == "map":
        batch = yield dg.Map(item, spec["items"], **options)
    else:
        batch = yield dg.Parallel([_branch(s) for s in spec["items"]], **options)
    if spec["wait_after"]:
        yield dg.Wait(seconds=1, name="after")
    return [batch.completion_reason, [item.status for item in batch.items]]


@st.composite
def batch_specs(draw: st.DrawFn) -> dict[str, Any]:
    items = draw(
        st.lists(
            st.tuples(
                st.integers(1, 4),
                st.sampled_from([OK, FAILS, FLAKY, AT_ONCE, AT_ONCE]),
                st.sampled_from([0, 0, 1]),
            ),
            min_size=1,
            max_size=5,
        )
    )
    n = len(items)
    completion = draw(
        st.one_of(
            st.none(),
            st.fixed_dictionaries({"min_successful": st.integers(1, n)}),
            st.fixed_dictionaries({"tolerated_failure_count": st.integers(0, n)}),
            st.fixed_dictionaries({"tolerated_failure_percentage": st.integers(0, 100)}),
            st.fixed_dictionaries(
                {"min_successful": st.integers(1, n), "tolerated_failure_count": st.integers(0, n)}
            ),
        )
    )
    return {
        "items": [list(i) for i in items],
        "completion": completion,
        "kind": draw(st.sampled_from(["map", "parallel"])),
        "nesting": draw(st.sampled_from(["nested", "flat"])),
        "concurrency": draw(st.sampled_from([None, 1, 2])),
        "wait_after": draw(st.booleans()),
    }


@check_settings(max_examples=150)
@given(batch_specs(), st.sampled_from(["step", "eager", "batch"]))
def test_any_policy_ends_and_replays(spec: dict[str, Any], mode: Any) -> None:
    run = TestRunner(checkpointing=mode).run(batch_workflow, spec)
    assert run.status == "SUCCEEDED", run.error
    report = replay(batch_workflow, run.export())
    assert (report.status, report.outcome) == ("ok", "succeeded"), report.message
    assert report.result == run.result()


@check_settings(max_examples=60)
@given(batch_specs(), crash_schedules(), st.sampled_from(["step", "eager", "batch"]))
def test_any_policy_survives_any_crash_schedule(
    spec: dict[str, Any], schedule: Any, mode: Any
) -> None:
    DeterminismCheck(batch_workflow, spec, checkpointing=mode).check(schedule)
