"""Random programs on a runtime of our own, in random interleavings, written from the docs.

docs/testing.md's strategies (``programs``, ``program_workflow``, ``expected_result``) drive
a host written from docs/embedding.md whose every choice hypothesis draws: which handed-out
task runs and is reported next (the docs allow any order), the checkpointing mode, whether the
store records a ``Flush`` at once or one update at a time, whether the interpreter is kept
after it suspends (and told what the timers changed) or built anew, and host crashes before a
task runs or after it ran and before its outcome is recorded. The property: the program returns what
``expected_result`` says, and records the same operations as under the in-order interleaving
and as on the embedded engine.

The property can fail: the same test, with a workflow that reads how far the host got (a
module counter of body starts) or which task the host finished first (a global that steps
append to), is found failing, and reported as an ordinary failure, not a flaky one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import Phase, given
from hypothesis.errors import FlakyFailure

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.testing import replay
from durable_gen.testing import strategies as s
from tests.unit.embedding_runtimes import HostCrash, engine_records, records, start_store

KINDS = ("step", "wait", "map", "parallel", "child")  # callbacks need answers by name
MODES: list[rt.CheckpointMode] = ["step", "eager", "batch"]


class Choices:
    """Where the host's choices come from: hypothesis, or always the first (in order)."""

    def __init__(self, data: st.DataObject | None) -> None:
        self.data = data
        self.crashes = 0

    def pick(self, n: int) -> int:
        if self.data is None or n == 1:
            return 0
        return self.data.draw(st.integers(0, n - 1), label="next task")

    def crash(self) -> str:
        if self.data is None or self.crashes >= 3:
            return "none"
        where = self.data.draw(
            st.sampled_from(["none", "none", "none", "before", "after"]), label="crash"
        )
        self.crashes += where != "none"
        return where


class InterleavingHost:
    """One execution on a dict store; one task runs at a time, in the order ``choices`` says."""

    def __init__(
        self,
        workflow: Callable[..., Any],
        input_json: str,
        choices: Choices,
        *,
        mode: rt.CheckpointMode = "step",
        per_update: bool = False,
        live: bool = False,
    ) -> None:
        self.workflow = workflow
        self.choices = choices
        self.mode: rt.CheckpointMode = mode
        self.per_update = per_update
        #: keep the interpreter after it suspends, and observe() what the timers changed
        #: (the docs' other way on): a crash drops it
        self.live = live
        self.interp: rt.Interpreter | None = None
        self.news: list[rt.Operation] = []
        self.now_ms = 1_700_000_000_000
        self.store = start_store(input_json, self.now_ms)
        self.timers: dict[tuple[str, str], rt.Timer] = {}

    def checkpoint(self, updates: list[rt.OperationUpdate]) -> list[rt.Operation]:
        changed: dict[str, rt.Operation] = {}
        for batch in [[u] for u in updates] if self.per_update else [updates]:
            applied = rt.apply_updates(self.store, batch, now_ms=self.now_ms)
            for timer in applied.timers:
                self.timers[timer.kind, timer.operation_id] = timer
            changed.update((op.id, op) for op in applied.operations)
        return list(changed.values())

    def invoke(self) -> rt.Outcome:
        interp = self.interp
        if interp is not None:
            interp.observe(self.news)
        else:
            interp = rt.Interpreter(
                self.workflow,
                list(self.store.values()),
                execution_arn="arn:interleavings",
                checkpointing=self.mode,
                clock=lambda: self.now_ms / 1000,
            )
        self.interp = interp if self.live else None
        self.news = []
        pending: list[rt.StepTask] = []
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                interp.observe(self.checkpoint(action.updates))
            elif isinstance(action, rt.RunTasks):
                pending.extend(action.tasks)  # started; they finish when picked
            elif isinstance(action, rt.WaitForTasks):
                task = pending.pop(self.choices.pick(len(pending)))
                crash = self.choices.crash()
                if crash == "before":
                    raise HostCrash("before the attempt")
                try:
                    value = task.fn(*task.args, **task.kwargs)
                except Exception as exc:
                    if crash == "after":
                        raise HostCrash("after the attempt") from None
                    interp.task_failed(task, exc)
                else:
                    if crash == "after":
                        raise HostCrash("after the attempt")
                    interp.task_succeeded(task, value)
            else:
                assert isinstance(action, rt.Done)
                return action.outcome

    def run(self) -> rt.Outcome:
        for _ in range(300):
            try:
                outcome = self.invoke()
            except HostCrash:
                self.interp = None
                continue
            if not isinstance(outcome, rt.Suspended):
                return outcome
            assert self.timers, f"stuck on {outcome.waiting_on}"
            self.now_ms = max(self.now_ms, min(t.due_ms for t in self.timers.values()))
            for key, timer in list(self.timers.items()):
                if timer.due_ms <= self.now_ms:
                    del self.timers[key]
                    changed = rt.fire_timer(self.store, timer, now_ms=self.now_ms)
                    if changed is not None:
                        self.news.append(changed)
        raise AssertionError("not done after 300 invocations")


def _run(
    workflow: Callable[..., Any],
    program: s.Program,
    choices: Choices,
    mode: rt.CheckpointMode,
    per_update: bool,
    reset: Callable[[], None],
    live: bool = False,
) -> tuple[rt.Outcome, list[tuple[Any, ...]]]:
    reset()
    input_json = json.dumps(s.program_input(program))
    host = InterleavingHost(
        workflow, input_json, choices, mode=mode, per_update=per_update, live=live
    )
    outcome = host.run()
    _runs_stores.append(list(host.store.values()))
    return outcome, records(host.store.values())


_runs_stores: list[list[rt.Operation]] = []  # the last run's operations, for replay


def check_any_interleaving(
    workflow: Callable[..., Any],
    program: s.Program,
    data: st.DataObject,
    *,
    against_engine: bool = True,
    reset: Callable[[], None] = lambda: None,
) -> None:
    """The property, for any ``workflow`` that runs a program as ``program_workflow`` does."""
    mode = data.draw(st.sampled_from(MODES), label="checkpointing")
    per_update = data.draw(st.booleans(), label="per update")
    in_order, expected = _run(workflow, program, Choices(None), mode, per_update, reset)
    assert isinstance(in_order, rt.Succeeded), in_order
    assert json.loads(in_order.result) == s.expected_result(program)
    live = data.draw(st.booleans(), label="live interpreter")
    outcome, got = _run(workflow, program, Choices(data), mode, per_update, reset, live)
    assert outcome == in_order
    assert got == expected
    if against_engine:
        result, on_engine = engine_records(workflow, s.program_input(program))
        assert result == s.expected_result(program)
        assert got == on_engine
        # what the host recorded replays, without running a step, to the same result
        report = replay(workflow, _runs_stores[-1], execution_arn="arn:interleavings")
        assert report.ok and report.outcome == "succeeded", report.message
        assert report.result == s.expected_result(program)
    _runs_stores.clear()


@s.check_settings(max_examples=60)
@given(s.programs(kinds=KINDS), st.data())
def test_any_program_in_any_interleaving_records_the_same(
    program: s.Program, data: st.DataObject
) -> None:
    check_any_interleaving(s.program_workflow, program, data)


# --- the property can fail ------------------------------------------------------------------

_starts: list[int] = []


def counts_its_replays(value: Any) -> Any:
    """A body that reads how many times it started: it asks for something else on replay."""
    _starts.append(1)
    if len(_starts) > 1:
        yield dg.Step(lambda: 0, name=f"start-{len(_starts)}")
    return (yield from s.program_workflow(value))


_finished: list[int] = []


@dg.step
def note(i: int) -> int:
    _finished.append(i)
    return i


def reads_which_finished_first(value: Any) -> Any:
    """A body that reads which item of its Map a step finished first (kept in memory for
    the whole run, so that replays read the same)."""
    yield dg.Map(note, [0, 1], name="race")
    first = _finished[0] if _finished else "replayed"
    yield dg.Step(lambda: 0, name=f"first-{first}")
    return (yield from s.program_workflow(value))


def test_the_property_finds_a_body_that_reads_its_replays() -> None:
    programs: list[s.Program] = []

    @s.check_settings(
        max_examples=60, report_multiple_bugs=False, phases=[Phase.explicit, Phase.generate]
    )
    @given(s.programs(kinds=KINDS), st.data())
    def prop(program: s.Program, data: st.DataObject) -> None:
        programs.append(program)
        check_any_interleaving(
            counts_its_replays, program, data, against_engine=False, reset=_starts.clear
        )

    with pytest.raises(AssertionError) as failure:
        prop()
    assert not isinstance(failure.value, FlakyFailure)
    # its replay (a new interpreter at the next invocation) asks for a step never recorded
    assert "NonDeterminismError" in str(failure.value)
    assert len(programs) < 60


def test_the_property_finds_a_body_that_reads_the_order_steps_finished() -> None:
    # found within the budget; shrinking the interleaving is slow and shows nothing more here
    @s.check_settings(
        max_examples=60, report_multiple_bugs=False, phases=[Phase.explicit, Phase.generate]
    )
    @given(s.programs(kinds=("step",), max_nodes=1), st.data())
    def prop(program: s.Program, data: st.DataObject) -> None:
        check_any_interleaving(
            reads_which_finished_first, program, data, against_engine=False, reset=_finished.clear
        )

    with pytest.raises(AssertionError) as failure:
        prop()
    assert not isinstance(failure.value, FlakyFailure)
    assert "assert [(" in str(failure.value)  # the records differ: a step named first-1


# --- completion policies decided in any interleaving -----------------------------------------


@dg.step(retry=dg.Retry.never())
def double_or_fail(item: int) -> int:
    if item < 0:
        raise ValueError(f"item {item} fails")
    return 2 * item


def pausing_item(item: int) -> Any:
    """An item that may wait in its middle: the batch suspends with items half done."""
    if item % 3 == 0:
        yield dg.Wait(seconds=1 + item % 5, name="pause")
    return (yield double_or_fail(item))


def batch_workflow(spec: dict[str, Any]) -> Any:
    completion = dg.Completion(**spec["completion"]) if spec["completion"] else None
    batch = yield dg.Map(
        pausing_item,
        spec["items"],
        max_concurrency=spec["max_concurrency"],
        completion=completion,
        name="batch",
    )
    return {
        "reason": batch.completion_reason,
        "statuses": [item.status for item in batch.items],
        "results": batch.all_results(),
        "succeeded": batch.success_count,
        "failed": batch.failure_count,
    }


_completions = st.one_of(
    st.none(),
    st.builds(dict, min_successful=st.integers(1, 4)),
    st.builds(dict, tolerated_failure_count=st.integers(0, 2)),
    st.builds(dict, tolerated_failure_percentage=st.sampled_from([0, 25, 50, 100])),
    st.builds(dict, min_successful=st.integers(1, 3), tolerated_failure_count=st.integers(0, 2)),
)


@s.check_settings(max_examples=80)
@given(
    st.lists(st.integers(-5, 9), min_size=1, max_size=6),
    _completions,
    st.sampled_from([None, 1, 2, 3]),
    st.data(),
)
def test_a_batch_decided_in_any_interleaving_keeps_its_policy_and_replays(
    items: list[int],
    completion: dict[str, int] | None,
    max_concurrency: int | None,
    data: st.DataObject,
) -> None:
    spec = {"items": items, "completion": completion, "max_concurrency": max_concurrency}
    mode = data.draw(st.sampled_from(MODES), label="checkpointing")
    host = InterleavingHost(
        batch_workflow,
        json.dumps(spec),
        Choices(data),
        mode=mode,
        per_update=data.draw(st.booleans(), label="per update"),
        live=data.draw(st.booleans(), label="live interpreter"),
    )
    outcome = host.run()
    assert isinstance(outcome, rt.Succeeded), outcome
    got = json.loads(outcome.result)
    n = len(items)
    policy = completion or {}
    for i, (item, status, result) in enumerate(
        zip(items, got["statuses"], got["results"], strict=True)
    ):
        if status == "SUCCEEDED":
            assert item >= 0 and result == 2 * item, (i, item, result)
        elif status == "FAILED":
            assert item < 0, (i, item)
    failed, succeeded = got["failed"], got["succeeded"]
    tolerated = policy.get("tolerated_failure_count")
    percentage = policy.get("tolerated_failure_percentage")
    over = (tolerated is not None and failed > tolerated) or (
        percentage is not None and failed * 100 > percentage * n
    )
    if not policy:
        over = failed > 0
    reason = got["reason"]
    if reason == "FAILURE_TOLERANCE_EXCEEDED":
        assert over, got
    elif reason == "MIN_SUCCESSFUL_REACHED":
        assert not over and succeeded >= policy["min_successful"], got
    else:
        assert reason == "ALL_COMPLETED", got
        assert not over and succeeded + failed == n, got
    # the history it recorded replays to the same result, without running anything
    report = replay(batch_workflow, list(host.store.values()), execution_arn="arn:interleavings")
    assert report.ok, report.message
    assert report.outcome == "succeeded"
    assert json.loads(dg.JsonSerdes().serialize(report.result)) == got
