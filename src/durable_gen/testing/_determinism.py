"""``assert_deterministic``: crash a workflow everywhere and compare with an uninterrupted run.

A reference run goes through without crashes. Each checked run follows a ``CrashSchedule``:
invocations are abandoned after checkpoints and before or after step attempts, and the engine
resumes from what it persisted. A run passes when it ends like the reference (status, result or
error), recorded the same operations (type, subtype, name, parent, status, attempt, result,
error), no step ran after its outcome was persisted, and every step ran as often as in the
reference plus the runs whose outcome a crash lost. All runs see the same execution ARN, so
``UUID()``, ``Random()`` and retry jitter agree.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from .._driver import CheckpointMode
from .._serdes import Serdes
from .._wire import Operation
from ..local._run import workflow_name
from ._harness import CrashSchedule
from ._runner import DurableRun, TestRunner

__all__ = ["DeterminismCheck", "RunSummary", "assert_deterministic"]

#: What is compared of an operation (callback ids and timestamps are not).
OpKey = tuple[
    str, str | None, str | None, str | None, str, int | None, str | None, str | None, str | None
]


class RunSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What one run of a ``DeterminismCheck`` ended with.

    Attributes:
        status: The execution status (``RUNNING`` if it never ended).
        result: The result payload of a SUCCEEDED execution.
        error_type: The error type of a failed execution.
        error_message: Its error message.
        operations: The compared fields of each recorded operation, by id.
        names: Operation names by id (for messages).
        runs: How many times each step function ran, by operation id.
        lost: Runs whose outcome a crash lost, by operation id.
        crashes: Where the run crashed, in order.
        violations: Steps that ran although their outcome was persisted.
        checkpoints: Checkpoints taken.
        attempts: Step attempts run.
        schedule: The crash schedule.
    """

    status: str
    result: str | None
    error_type: str | None
    error_message: str | None
    operations: dict[str, OpKey]
    names: dict[str, str]
    runs: dict[str, int]
    lost: dict[str, int]
    crashes: list[str]
    violations: list[str]
    checkpoints: int
    attempts: int
    schedule: CrashSchedule


def _key(op: Operation) -> OpKey:
    details = (
        op.step_details or op.context_details or op.callback_details or op.chained_invoke_details
    )
    result = getattr(details, "result", None)
    error = getattr(details, "error", None)
    return (
        op.type,
        op.sub_type,
        op.name,
        op.parent_id,
        op.status,
        op.step_details.attempt if op.step_details is not None else None,
        result,
        error.error_type if error is not None else None,
        error.error_message if error is not None else None,
    )


class DeterminismCheck:
    """Runs ``workflow(input)`` once without crashes, then under any crash schedule, and checks
    that each run matches the reference. The hypothesis-friendly form of
    ``assert_deterministic``::

        check = DeterminismCheck(place_order, ORDER)

        @given(crash_schedules())
        def test_place_order_survives_crashes(schedule):
            check.check(schedule)

    Args:
        workflow: The workflow generator function.
        input: Its input.
        functions: ``Invoke`` targets (see ``TestRunner``).
        checkpointing: The checkpointing mode.
        serdes: Serdes of the input and result.
        on_idle: Called with the ``DurableRun`` whenever the execution waits on the test (a
            callback to answer); when it is None, or changes nothing, callbacks time out.
        max_rounds: How many times ``on_idle`` may be called in one run.
    """

    def __init__(
        self,
        workflow: Callable[..., Any],
        input: Any = None,
        *,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        checkpointing: CheckpointMode = "step",
        serdes: Serdes | None = None,
        on_idle: Callable[[DurableRun], None] | None = None,
        max_rounds: int = 1000,
    ) -> None:
        self.workflow = workflow
        self.input = input
        self.functions = dict(functions or {})
        self.checkpointing: CheckpointMode = checkpointing
        self.serdes = serdes
        self.on_idle = on_idle
        self.max_rounds = max_rounds
        self.arn = f"arn:durable-gen:test:{workflow_name(workflow)}:deterministic"
        self._reference: RunSummary | None = None

    @property
    def reference(self) -> RunSummary:
        """The uninterrupted run (computed once).

        Raises:
            AssertionError: the workflow is non-deterministic even without crashes (its
                replay after a suspension diverged).
        """
        if self._reference is None:
            ref = self.run(CrashSchedule())
            if ref.error_type == "NonDeterminismError":
                raise AssertionError(
                    f"{_name(self.workflow)} is non-deterministic even without crashes: "
                    f"{ref.error_message}"
                )
            self._reference = ref
        return self._reference

    def run(self, schedule: CrashSchedule) -> RunSummary:
        """Run the workflow once under ``schedule`` and summarize (no comparison)."""
        runner = TestRunner(
            functions=self.functions, checkpointing=self.checkpointing, serdes=self.serdes
        )
        runner.crash(schedule)
        handle = runner.start(self.workflow, self.input, execution_arn=self.arn)
        runner.run_until_idle()
        rounds = 0
        while not handle.done and rounds < self.max_rounds:
            rounds += 1
            before = len(handle.history())
            if self.on_idle is not None:
                self.on_idle(handle)
                runner.run_until_idle()
            stuck = not handle.done and len(handle.history()) == before
            # Nobody answered: let the next callback time out (none left: it can never end).
            if stuck and not runner.advance_to_next_timer():
                break
        record = handle.record
        ops = [op for op in runner.service.get_operations(handle.arn) if op.type != "EXECUTION"]
        harness = runner.harness
        return RunSummary(
            status=record.status,
            result=record.result,
            error_type=record.error.error_type if record.error else None,
            error_message=record.error.error_message if record.error else None,
            operations={op.id: _key(op) for op in ops},
            names={op.id: op.name or op.sub_type or op.type for op in ops},
            runs=dict(harness.runs),
            lost=dict(harness.lost),
            crashes=list(harness.crashes),
            violations=list(harness.violations),
            checkpoints=harness.checkpoints,
            attempts=harness.attempts,
            schedule=schedule,
        )

    def check(self, schedule: CrashSchedule) -> RunSummary:
        """Run under ``schedule`` and compare with the reference.

        Raises:
            AssertionError: the run differs from the reference; the message says how.
        """
        ref = self.reference
        got = self.run(schedule)
        problems = _compare(ref, got)
        if problems:
            crashes = ", ".join(got.crashes) or "none"
            raise AssertionError(
                f"{_name(self.workflow)} does not survive crashes deterministically "
                f"(schedule {_schedule(schedule)}; crashed {crashes}):\n- " + "\n- ".join(problems)
            )
        return got


def _compare(ref: RunSummary, got: RunSummary) -> list[str]:
    problems: list[str] = list(got.violations)
    if (ref.status, ref.result, ref.error_type) != (got.status, got.result, got.error_type):
        problems.append(
            f"the execution ended {got.status} "
            + (
                f"with {got.result}"
                if got.status == "SUCCEEDED"
                else f"({got.error_type}: {got.error_message})"
            )
            + f", the reference ended {ref.status} "
            + (
                f"with {ref.result}"
                if ref.status == "SUCCEEDED"
                else f"({ref.error_type}: {ref.error_message})"
            )
        )
    fields = (
        "type",
        "subtype",
        "name",
        "parent",
        "status",
        "attempt",
        "result",
        "error type",
        "error message",
    )
    for op_id in [*ref.operations, *(i for i in got.operations if i not in ref.operations)]:
        a, b = ref.operations.get(op_id), got.operations.get(op_id)
        name = ref.names.get(op_id) or got.names.get(op_id)
        if a == b:
            continue
        if a is None or b is None:
            where = "only in the crashed run" if a is None else "missing from the crashed run"
            problems.append(f"operation {name!r} ({op_id[:12]}) is {where}")
            continue
        diffs = [f"{f}: {x!r} vs {y!r}" for f, x, y in zip(fields, a, b, strict=True) if x != y]
        problems.append(
            f"operation {name!r} ({op_id[:12]}) differs (reference vs crashed): " + "; ".join(diffs)
        )
    for op_id in sorted(set(ref.runs) | set(got.runs)):
        expected = ref.runs.get(op_id, 0)
        ran = got.runs.get(op_id, 0)
        lost = got.lost.get(op_id, 0)
        if ran - lost != expected:
            name = ref.names.get(op_id) or got.names.get(op_id) or op_id[:12]
            problems.append(
                f"step {name!r} ran {ran} time(s), {lost} of them lost to crashes; the reference "
                f"ran it {expected} time(s)"
            )
    return problems


def _name(workflow: Callable[..., Any]) -> str:
    return getattr(workflow, "__qualname__", None) or repr(workflow)


def _schedule(schedule: CrashSchedule) -> str:
    parts = []
    if schedule.every_checkpoint:
        parts.append("every checkpoint")
    for label, points in (
        ("after checkpoints", schedule.after_checkpoints),
        ("before attempts", schedule.before_attempts),
        ("after attempts", schedule.after_attempts),
    ):
        if points:
            parts.append(f"{label} {sorted(points)}")
    return ", ".join(parts) or "no crashes"


def random_schedule(rng: random.Random, reference: RunSummary, rate: float = 0.3) -> CrashSchedule:
    """A schedule that crashes at about ``rate`` of the reference's checkpoints and attempts."""
    # Crashes add checkpoints and attempts: draw points a little past the reference's.
    checkpoints = reference.checkpoints * 2 + 1
    attempts = reference.attempts * 2 + 1
    return CrashSchedule(
        after_checkpoints=frozenset(k for k in range(1, checkpoints + 1) if rng.random() < rate),
        before_attempts=frozenset(k for k in range(1, attempts + 1) if rng.random() < rate),
        after_attempts=frozenset(k for k in range(1, attempts + 1) if rng.random() < rate),
    )


def assert_deterministic(
    workflow: Callable[..., Any],
    input: Any = None,
    *,
    crashes: CrashSchedule | Sequence[CrashSchedule] | None = None,
    random_runs: int = 5,
    seed: int = 0,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    checkpointing: CheckpointMode = "step",
    serdes: Serdes | None = None,
    on_idle: Callable[[DurableRun], None] | None = None,
) -> None:
    """Check that ``workflow(input)`` gives the same outcome however its invocations crash.

    Without ``crashes``: one run crashes after every checkpoint (each invocation persists one
    checkpoint, then resumes from it), and ``random_runs`` runs crash at random checkpoints
    and before or after random step attempts (seeded by ``seed``).

    Args:
        workflow: The workflow generator function.
        input: Its input.
        crashes: One schedule or several, instead of the default ones.
        random_runs: How many random schedules to try by default.
        seed: Seed of the random schedules.
        functions: ``Invoke`` targets.
        checkpointing: The checkpointing mode.
        serdes: Serdes of the input and result.
        on_idle: Answers callbacks when the execution waits on the test (see
            ``DeterminismCheck``).

    Raises:
        AssertionError: a run differs from the uninterrupted one (the message says how), or
            the workflow diverges even without crashes.
    """
    check = DeterminismCheck(
        workflow,
        input,
        functions=functions,
        checkpointing=checkpointing,
        serdes=serdes,
        on_idle=on_idle,
    )
    if crashes is None:
        rng = random.Random(seed)
        ref = check.reference
        schedules = [CrashSchedule.at_every_checkpoint()]
        schedules += [random_schedule(rng, ref) for _ in range(random_runs)]
    elif isinstance(crashes, CrashSchedule):
        schedules = [crashes]
    else:
        schedules = list(crashes)
    for schedule in schedules:
        check.check(schedule)
