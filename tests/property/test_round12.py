"""Property tests of code changes made while executions are in flight, written from
docs/versioning.md and docs/guide.md (Serialization):

- for random sequences of steps, conditions polled between checks, children and Maps (one
  item finished, one polling), each recorded through one serdes and read back by another,
  ``replay`` of the history says ``failed`` (``SerializationError``) exactly when a payload
  the execution recorded does not read with the new code, and the engine resuming the
  execution on that code fails alike; otherwise both accept the change and give the same result;
- for a step that waits out a retry delay, any new retry policy and a body that now fails or
  succeeds under the same name: ``replay`` accepts the change and the engine ends with the
  result the new body gives (the recorded failures are not run again, the next attempt runs
  the new body).
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

import durable_gen as dg
from durable_gen.testing import DurableRun, TestRunner, replay
from durable_gen.testing import strategies as s

Gen = Generator[Any, Any, Any]


class Tagged:
    """Writes ``tagged:<json>``, and reads only that."""

    def serialize(self, value: Any) -> str:
        return "tagged:" + json.dumps(value)

    def deserialize(self, data: str) -> Any:
        if not data.startswith("tagged:"):
            raise ValueError(f"not a tagged payload: {data[:20]!r}")
        return json.loads(data[len("tagged:") :])


class Lenient:
    """Writes ``tagged:<json>``, and reads that or plain JSON."""

    def serialize(self, value: Any) -> str:
        return "tagged:" + json.dumps(value)

    def deserialize(self, data: str) -> Any:
        return json.loads(data.removeprefix("tagged:"))


SERDES: dict[str, Any] = {"default": None, "json": dg.JsonSerdes(), "tagged": Tagged(),
                          "lenient": Lenient()}  # fmt: skip
#: What each serdes writes in a form: plain JSON, or ``tagged:``.
WRITES = {"default": "plain", "json": "plain", "tagged": "tagged", "lenient": "tagged"}
#: The forms each serdes reads.
READS = {
    "default": {"plain"},
    "json": {"plain"},
    "tagged": {"tagged"},
    "lenient": {"plain", "tagged"},
}


def _plus_one(x: int) -> int:
    return x + 1


def _count_up(state: int) -> int:
    return state + 1


def _at_two(state: int) -> bool:
    return state >= 2


def _sub(x: int) -> Gen:
    return (yield dg.Step(_plus_one, (x,), name="inner"))


def _map_item(k: int) -> Gen:
    """Item 0 ends at once; item 1 polls a condition (the execution waits in the Map)."""
    if k == 0:
        return (yield dg.Step(_plus_one, (k,), name="first"))
    strategy = dg.WaitStrategy(until=_at_two, delay=30)
    return (yield dg.WaitForCondition(_count_up, 0, strategy, name="second"))


def _workflow(ops: list[tuple[str, str]]) -> Any:
    """Each ``(kind, serdes)`` in turn, then a gate the test answers."""

    def workflow(x: int) -> Gen:
        out = []
        for i, (kind, serdes) in enumerate(ops):
            sd = SERDES[serdes]
            if kind == "step":
                out.append((yield dg.Step(_plus_one, (i,), name=f"s{i}", serdes=sd)))
            elif kind == "condition":
                strategy = dg.WaitStrategy(until=_at_two, delay=30)
                out.append((yield dg.WaitForCondition(_count_up, 0, strategy, name=f"c{i}",
                                                      serdes=sd)))  # fmt: skip
            elif kind == "map":
                batch = yield dg.Map(_map_item, [0, 1], name=f"m{i}", item_serdes=sd)
                out.append(batch.results())
            else:
                out.append((yield dg.Child(_sub, (i,), name=f"k{i}", serdes=sd)))
        handle = yield dg.CreateCallback(name="gate")
        out.append((yield handle))
        return out

    return workflow


def _finish(runner: TestRunner, run: DurableRun) -> None:
    for _ in range(100):
        runner.run_until_idle()
        answered = False
        for op in run.operations(type="CALLBACK"):
            if op.status == "STARTED" and op.callback_id is not None:
                runner.send_callback_success(op.callback_id, 7)
                answered = True
        if answered:
            continue
        if run.done or not runner.advance_to_next_timer():
            return


KINDS = st.sampled_from(["step", "condition", "child", "map"])
NAMES = st.sampled_from(sorted(SERDES))


@s.check_settings(max_examples=100)
@given(
    ops=st.lists(st.tuples(KINDS, NAMES, NAMES), min_size=1, max_size=4),
    completed=st.booleans(),
)
# a condition, and a Map item, waiting while what they recorded no longer reads
@example(ops=[("step", "default", "json"), ("condition", "default", "tagged")], completed=False)
@example(ops=[("map", "tagged", "default")], completed=False)
def test_replay_fails_exactly_when_a_recorded_payload_no_longer_reads(
    ops: list[tuple[str, str, str]], completed: bool
) -> None:
    v1 = _workflow([(k, a) for k, a, _ in ops])
    v2 = _workflow([(k, b) for k, _, b in ops])
    runner = TestRunner(skip_time=False)
    run = runner.run(v1, 0)
    # What the new code reads of what was recorded: every operation up to the first one the
    # execution waits in (a condition between its checks, its state recorded; a Map whose
    # second item polls, its first item's result recorded), or all of them (the execution
    # waits at the gate). A completed Map replays from its batch result, recorded without a
    # serdes: its items' results are not read again.
    waits = [i for i, (k, _, _) in enumerate(ops) if k in ("condition", "map")]
    upto = len(ops) if completed or not waits else waits[0] + 1
    recorded = [
        op for i, op in enumerate(ops[:upto]) if op[0] != "map" or (not completed and i == upto - 1)
    ]
    if completed:
        _finish(runner, run)
        assert run.status == "SUCCEEDED", run.error
    else:
        assert run.status == "RUNNING", run.error
    unreadable = any(WRITES[a] not in READS[b] for _, a, b in recorded)
    report = replay(v2, run.export())
    if unreadable:
        assert report.status == "failed", report.message
        assert "SerializationError" in report.message, report.message
    else:
        assert report.status in ("ok", "incomplete"), report.message
    if completed:
        if not unreadable:
            assert report.outcome == "succeeded", report.message
            assert report.result == run.result()
        return
    runner.deploy(v1, v2)
    _finish(runner, run)
    if unreadable:
        assert run.error is not None and run.error.error_type == "SerializationError", run.status
        assert run.error.error_message in report.message
    else:
        assert run.status == "SUCCEEDED", run.error
        values = {"condition": lambda i: 2, "map": lambda i: [1, 2]}
        expected = [values.get(k, lambda i: i + 1)(i) for i, (k, _, _) in enumerate(ops)]
        assert run.result() == [*expected, 7]


# --- a retry pending: another policy, another body under the same name ---------------------------


def _retried(policy: dg.Retry, fixed: bool) -> Any:
    def attempt(x: int) -> int:
        if fixed:
            return x + 7
        raise PermissionError(f"no access to {x}")

    def workflow(x: int) -> Gen:
        try:
            return (yield dg.Step(attempt, (x,), name="flaky", retry=policy))
        except dg.StepFailedError as e:
            return e.error_type

    return workflow


POLICIES = st.builds(
    lambda attempts, delay, backoff, jitter: dg.Retry(
        max_attempts=attempts, initial_delay=delay, backoff=backoff, max_delay=60, jitter=jitter
    ),
    st.integers(1, 5),
    st.integers(1, 60),
    st.sampled_from([1.0, 1.5, 2.0]),
    st.sampled_from(["none", "full", "half"]),
)


@s.check_settings(max_examples=40)
@given(v1_attempts=st.integers(2, 5), policy=POLICIES, fixed=st.booleans())
def test_a_retry_pending_runs_its_next_attempt_on_the_new_policy_and_body(
    v1_attempts: int, policy: dg.Retry, fixed: bool
) -> None:
    v1 = _retried(dg.Retry(max_attempts=v1_attempts, initial_delay=30, jitter="none"), False)
    v2 = _retried(policy, fixed)
    runner = TestRunner(skip_time=False)
    run = runner.run(v1, 1)
    assert run.status == "RUNNING", run.error  # the first attempt failed, a retry pending
    (step,) = run.operations(type="STEP")
    assert step.status == "PENDING"
    report = replay(v2, run.export())
    assert report.status in ("ok", "incomplete"), report.message
    runner.deploy(v1, v2)
    _finish(runner, run)
    assert run.status == "SUCCEEDED", run.error
    # the retry already scheduled runs (attempt 2) on the new body; the new policy decides
    # after it, counting the attempt that failed before the deploy
    assert run.result() == (8 if fixed else "PermissionError")
    (step,) = run.operations(type="STEP")
    assert step.attempts == (2 if fixed else max(2, policy.max_attempts))
