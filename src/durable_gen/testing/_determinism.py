"""``assert_deterministic``: crash a workflow everywhere and compare with an uninterrupted run.

A reference run goes through without crashes. Each checked run follows a ``CrashSchedule``:
invocations are abandoned after checkpoints and before or after step attempts, and the engine
resumes from what it persisted. A run passes when it ends like the reference (status, result or
error type and message), recorded the same operations (type, subtype, name, parent, status,
attempt, result, error type and message), no step ran after its outcome was persisted, every
step ran as often as in the reference plus the runs whose outcome a crash lost, and no command
was built and left unyielded. Stack traces and timestamps are not compared: where a step ran
(inline or in a worker thread) changes its stack trace, not its outcome.

Each run is deterministic given its schedule: all runs see the same execution ARN (so
``UUID()``, ``Random()`` and retry jitter agree), and the global ``random`` module is seeded
per run from the schedule (and restored after), so a workflow that reads ``random`` directly
fails the same way every time it is checked. A step attempt draws from ``random`` seeded by
its operation and attempt instead, the same in every run: a step's result is recorded, so a
step returning random values replays fine and is no difference. A failure names the first
difference field by field and the likely cause.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, NoReturn, TypeVar, overload

import msgspec

from .. import _guard
from .._actions import check_mode
from .._arguments import checked
from .._commands import OWN_STEP_SUBTYPES
from .._driver import TIMEOUT_FATES, CheckpointMode
from .._errors import ValidationError, shown
from .._interpreter import check_host_options
from .._serdes import Serdes
from .._wire import Operation
from ..local._engine import LocalService
from ..local._run import check_functions, workflow_name
from ._harness import CrashSchedule, SerialLoop, SerialSteps
from ._runner import DurableRun, TestRunner
from ._strict import strict_mode

__all__ = ["DeterminismCheck", "RunSummary", "assert_deterministic"]

#: What is compared of an operation (callback ids and timestamps are not).
OpKey = tuple[
    str,
    str | None,
    str | None,
    str | None,
    str,
    int | None,
    str | None,
    str | None,
    str | None,
    int | None,
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
        runs: How many times each step function ran, by operation id (the steps of an
            execution it invoked by ``"<operation id> of <that execution's ARN>"``).
        lost: Runs whose outcome a crash lost, by the same keys.
        crashes: Where the run crashed, in order.
        violations: Steps that ran although their outcome was persisted.
        unyielded: Commands built in the workflow body and never yielded (``file:line``: what).
        checkpoints: Checkpoints taken.
        attempts: Step attempts run.
        schedule: The crash schedule.
        callback_ids: The placeholder each callback id the engine issued in this run is
            compared as (``<callback id of operation ...>``): the ids are random, so a step or
            a result that carries one differs between runs by that alone.
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
    unyielded: list[str] = []
    callback_ids: dict[str, str] = {}


def _left_behind(ops: list[Operation]) -> set[str]:
    """Ids of the operations an ended context left unfinished, and of all below them."""
    by_id = {op.id: op for op in ops}
    behind: set[str] = set()
    for op in ops:
        unfinished = op.status in ("STARTED", "PENDING", "READY")
        parent = by_id.get(op.parent_id) if op.parent_id else None
        while parent is not None:
            if parent.status not in ("STARTED", "PENDING", "READY"):
                if unfinished:
                    behind.add(op.id)
                break
            unfinished = True
            parent = by_id.get(parent.parent_id) if parent.parent_id else None
    return behind


def _key(op: Operation, callback_ids: Mapping[str, str]) -> OpKey:
    details = (
        op.step_details or op.context_details or op.callback_details or op.chained_invoke_details
    )
    result = getattr(details, "result", None)
    error = getattr(details, "error", None)
    return (
        op.type,
        op.sub_type,
        _masked(op.name, callback_ids),  # a name built from a callback id (a notify step's)
        op.parent_id,
        op.status,
        op.step_details.attempt if op.step_details is not None else None,
        _comparable(_masked(result, callback_ids)),
        error.error_type if error is not None else None,
        _unaddressed(_masked(error.error_message, callback_ids)) if error is not None else None,
        _wait_ms(op),
    )


def _wait_ms(op: Operation) -> int | None:
    """How long a wait was scheduled for (its seconds come from the workflow body); the
    clock is virtual and moves the same in every run, so only a changed duration differs."""
    end = op.wait_details.scheduled_end_timestamp if op.wait_details is not None else None
    if end is None or op.start_timestamp is None:
        return None
    return end - op.start_timestamp


#: Keys of recorded error objects that say where code ran, not what it did.
_UNCOMPARED: Final = frozenset({"StackTrace"})


#: The clause of a step timeout's message saying what became of the attempt (its thread
#: came back before or after the driver gave up on it: a matter of timing, not of the code).
_TIMEOUT_FATE: Final = re.compile(
    r"( did not finish within [^;]*?) and (?:"
    + "|".join(re.escape(fate) for fate in sorted(TIMEOUT_FATES, key=len, reverse=True))
    + r");"
)


def _masked(text: str | None, callback_ids: Mapping[str, str]) -> str | None:
    """``text`` with each callback id replaced by its placeholder (see ``RunSummary``), and
    without what became of a timed-out step attempt (``_TIMEOUT_FATE``)."""
    if text and " did not finish within " in text:
        text = _TIMEOUT_FATE.sub(r"\1;", text)
    if text:
        for callback_id, placeholder in callback_ids.items():
            if callback_id in text:
                text = text.replace(callback_id, placeholder)
    return text


def _callback_ids(service: LocalService) -> dict[str, str]:
    """The callback ids the engine issued, by their placeholder: the operation ids they
    belong to are the same in every run, the ids themselves are random."""
    out: dict[str, str] = {}
    for record in service.list_executions():
        for op in service.get_operations(record.arn):
            details = op.callback_details
            if details is not None and details.callback_id:
                out[details.callback_id] = f"<callback id of operation {op.id[:12]}>"
    return out


#: The memory address in an object's default repr (``<Order object at 0x7f3a...>``, also
#: ``<function outer.<locals>.f at 0x...>``): where the object was allocated, which changes
#: from run to run, not what the code did.
_ADDRESS: Final = re.compile(r" at 0x[0-9a-fA-F]+>")


def _unaddressed(text: str | None) -> str | None:
    """``text`` with the memory addresses of default reprs left out: an error message or a
    value that shows an object (recorded, so a resume replays it) is the same in every run.
    Names keep them: a name decides what a replay matches."""
    if text and " at 0x" in text:
        return _ADDRESS.sub(" at 0x...>", text)
    return text


def _comparable(payload: str | None) -> str | None:
    """``payload`` without stack traces (a batch result embeds its items' error objects),
    without what became of timed-out step attempts (``_TIMEOUT_FATE``) and without the memory
    addresses of default reprs (``_unaddressed``)."""
    if payload and " did not finish within " in payload:
        payload = _TIMEOUT_FATE.sub(r"\1;", payload)
    payload = _unaddressed(payload)
    if not payload or "StackTrace" not in payload:
        return payload
    try:
        value = json.loads(payload)
    except ValueError:
        return payload
    return json.dumps(_strip(value), separators=(",", ":"), ensure_ascii=False)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _UNCOMPARED}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


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

    @checked
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
        check_functions(functions)
        check_mode(checkpointing)
        check_host_options(serdes, None)
        if on_idle is not None and not callable(on_idle):
            raise ValidationError(
                f"on_idle must be a function taking the DurableRun (or None), got {shown(on_idle)}"
            )
        if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1:
            raise ValidationError(
                f"max_rounds must be a whole number >= 1, got {shown(max_rounds)}"
            )
        self.workflow = workflow
        self.input = input
        self.functions = dict(functions or {})
        self.checkpointing: CheckpointMode = checkpointing
        self.serdes = serdes
        self.on_idle = on_idle
        self.max_rounds = max_rounds
        self.arn = f"arn:durable-gen:test:{workflow_name(workflow)}:deterministic"
        self._reference: RunSummary | None = None
        #: Whether the workflow's own code drew from the global ``random`` module in a run,
        #: by the id of the run's summary (read and dropped by ``reference`` and ``check``).
        self._drew: dict[int, bool] = {}
        steps = SerialSteps()
        self._steps = steps
        loop = SerialLoop()
        #: One callable each for every run: the driver shares step threads per (portal, pool).
        self._pool: Callable[[], SerialSteps] = lambda: steps
        self._portal: Callable[[], SerialLoop] = lambda: loop

    @property
    def reference(self) -> RunSummary:
        """The uninterrupted run (computed once, together with a second uninterrupted run that
        must end the same: that comparison finds direct clock, random and uuid reads whatever
        the crash schedules are).

        Raises:
            AssertionError: the workflow is non-deterministic even without crashes (its
                replay after a suspension diverged, or two runs differ), it built a command
                and never yielded it, or it cannot run (``WorkflowDefinitionError``: not a
                generator function, a yield of something that is not a command...).
        """
        if self._reference is None:
            ref = self.run(CrashSchedule())
            if ref.unyielded:
                _fail(_unyielded_message(self.workflow, ref))
            if ref.error_type == "NonDeterminismError":
                _fail(
                    f"{_name(self.workflow)} is non-deterministic even without crashes: "
                    f"{_diverged_replay(ref, 'its')} asked for other commands than it had "
                    "recorded, with the same code and input.\nLikely cause: "
                    f"{ADVICE_HIDDEN_READ}. The cause can also be {_ADVICE_SIDE_EFFECT}\n"
                    f"The engine said: {ref.error_message}"
                )
            if ref.error_type == "WorkflowDefinitionError":
                # Every run fails alike, so nothing would differ: yet the workflow never ran.
                _fail(
                    f"{_name(self.workflow)} cannot run: the execution fails with "
                    "WorkflowDefinitionError, a mistake in the workflow's code (every run fails "
                    f"the same way, so there is nothing to compare).\n{ref.error_message}"
                )
            twin = self.run(CrashSchedule(), seed="twin")
            problems = _compare(ref, twin, other="second")
            if problems:
                _fail(
                    _problems_message(
                        f"{_name(self.workflow)} is non-deterministic even without crashes: two "
                        "uninterrupted runs with the same code and input differ",
                        problems,
                    )
                )
            if self._drew.pop(id(ref), False) | self._drew.pop(id(twin), False):
                _fail(_drew_message(self.workflow))
            self._reference = ref
        return self._reference

    def run(self, schedule: CrashSchedule, *, seed: str = "") -> RunSummary:
        """Run the workflow once under ``schedule`` and summarize (no comparison).

        The global ``random`` module is seeded from the schedule and ``seed`` for the run.
        """
        runner = TestRunner(
            functions=self.functions, checkpointing=self.checkpointing, serdes=self.serdes
        )
        runner._step_pool = self._pool
        runner._step_portal = self._portal
        runner.harness.step_seed = self.arn  # the same in every run: see Harness.step_seed
        runner.crash(schedule)
        with _checked_run(f"{self.arn}|{_schedule(schedule)}|{seed}") as (unyielded, draws):
            handle = runner.start(self.workflow, self.input, execution_arn=self.arn)
            runner.run_until_idle()
            rounds = 0
            while not handle.done and rounds < self.max_rounds:
                rounds += 1
                before = len(handle.history())
                if self.on_idle is not None:
                    draws.note()  # what on_idle draws is the test's, not the workflow's
                    self.on_idle(handle)
                    draws.skip()
                    runner.run_until_idle()
                stuck = not handle.done and len(handle.history()) == before
                # Nobody answered: let the next callback time out (none left: it can never end).
                if stuck and not runner.advance_to_next_timer():
                    break
        record = handle.record
        every = [op for op in runner.service.get_operations(handle.arn) if op.type != "EXECUTION"]
        # What a decided Map or Parallel left behind (items still running when it ended) differs
        # from run to run by thread timing alone: not compared.
        behind = _left_behind(every)
        ops = [op for op in every if op.id not in behind]
        recorded = {op.id for op in ops}
        harness = runner.harness

        # Runs by operation id for this execution's steps; an invoked execution's, whose ids
        # repeat its caller's, by "<operation id> of <its ARN>" (ARNs agree between runs).
        def key(arn: str, op_id: str) -> str:
            return op_id if arn == self.arn else f"{op_id} of {arn}"

        recorded |= {
            key(arn, op_id)
            for arn, op_id in harness.runs
            if arn != self.arn and runner._persisted(arn, op_id) is not None
        }
        all_runs = {key(arn, op_id): n for (arn, op_id), n in harness.runs.items()}
        all_lost = {key(arn, op_id): n for (arn, op_id), n in harness.lost.items()}
        callback_ids = _callback_ids(runner.service)
        summary = RunSummary(
            status=record.status,
            result=record.result,
            error_type=record.error.error_type if record.error else None,
            error_message=record.error.error_message if record.error else None,
            operations={op.id: _key(op, callback_ids) for op in ops},
            names={op.id: op.name or op.sub_type or op.type for op in ops},
            # a step run that nothing recorded and no crash lost: an item a decided batch left
            runs={
                k: n
                for k, n in all_runs.items()
                if k not in behind and (k in recorded or k in all_lost)
            },
            lost={k: n for k, n in all_lost.items() if k not in behind},
            crashes=list(harness.crashes),
            violations=list(harness.violations),
            checkpoints=harness.checkpoints,
            attempts=harness.attempts,
            schedule=schedule,
            unyielded=sorted(set(unyielded)),
            callback_ids=callback_ids,
        )
        if draws.drew:
            self._drew[id(summary)] = True
        return summary

    def check(self, schedule: CrashSchedule) -> RunSummary:
        """Run under ``schedule`` and compare with the reference.

        Raises:
            AssertionError: the run differs from the reference; the message says how.
        """
        _check_schedule(schedule)
        ref = self.reference
        got = self.run(schedule)
        drew = self._drew.pop(id(got), False)
        if got.unyielded:
            _fail(_unyielded_message(self.workflow, got))
        problems = _compare(ref, got)
        if not problems and drew:
            _fail(_drew_message(self.workflow))
        if problems:
            crashes = ", ".join(got.crashes[:3]) or "none"
            if len(got.crashes) > 3:
                crashes += f", ... ({len(got.crashes)} crashes)"
            _fail(
                _problems_message(
                    f"{_name(self.workflow)} does not survive crashes deterministically "
                    f"(schedule {_schedule(schedule)}; crashed {crashes})",
                    problems,
                )
            )
        return got


# --- comparing runs ------------------------------------------------------------------------------

#: Why a run differs when the code and the input are the same: something read outside commands.
ADVICE_HIDDEN_READ: Final = (
    "the workflow body reads something that changes from one run (or replay) to the next: the "
    "clock (time.time(), datetime.now()), random, uuid.uuid4(), the environment, the order "
    "of a set, id() of an object, or state kept between runs (a module-level counter, list or "
    "cache that the body changes). Read it through a command instead: `now = yield dg.Now()`, "
    "`x = yield dg.Random()`, `u = yield dg.UUID()`, or inside a step (its result is recorded). "
    "Patched(...) is not the fix: it is for code changed between deployments, and the code did "
    "not change between these runs"
)

#: A cause that shows only when a step replays without running: after a crash, or when the
#: body replays after a suspension.
_ADVICE_SIDE_EFFECT: Final = (
    "what the body takes from a step besides its result: a step that changes an object the "
    "body gave it (appends to a list argument, sets a key of a dict or an attribute). When "
    "the body replays (after a crash or a suspension) that step returns its recorded result "
    "without running, and the body's object stays as it was: return what the body needs from "
    "the step (its result is recorded) and leave its arguments unchanged"
)

#: Added to the advice when the two uninterrupted runs agree and only a crashed run differs.
_ADVICE_CRASH_ONLY: Final = (
    ". The two uninterrupted runs agree, so the cause can also be " + _ADVICE_SIDE_EFFECT
)

_ADVICE_ENGINE: Final = (
    "a step ran again although its outcome was persisted; with the same code that is a bug of "
    "the engine or the driver, not of the workflow: please report it with this schedule"
)

_FIELDS: Final = (
    "type",
    "subtype",
    "name",
    "parent",
    "status",
    "attempt",
    "result",
    "error type",
    "error message",
    "wait duration (ms)",
)


class Problem(msgspec.Struct, frozen=True):
    """One difference between a checked run and the reference, and its likely cause."""

    text: str
    advice: str


def _fail(message: str) -> NoReturn:
    """Every failure of a check is raised here: one origin, so hypothesis reports one bug."""
    raise AssertionError(message)


def _problems_message(headline: str, problems: list[Problem]) -> str:
    first, *more = problems
    return (
        f"{headline}.\nFirst difference: {first.text}\n"
        + (f"({len(more)} more difference(s) after it)\n" if more else "")
        + f"Likely cause: {first.advice}"
    )


def _compare(ref: RunSummary, got: RunSummary, other: str = "crashed") -> list[Problem]:
    """The differences of ``got`` (the ``other`` run) from ``ref``, the most telling first."""
    problems = [Problem(v, _ADVICE_ENGINE) for v in got.violations]
    if got.error_type == "NonDeterminismError" and ref.error_type != "NonDeterminismError":
        problems.append(
            Problem(
                f"in the crashed run, {_diverged_replay(got, 'the workflow')} asked for other "
                "commands than its own history recorded, with the same code and input. The "
                f"engine said: {got.error_message}",
                ADVICE_HIDDEN_READ,
            )
        )
    ref_pos, got_pos = _positions(ref), _positions(got)
    found: list[tuple[str, bool, Problem]] = []  # (operation, a value differs, problem)
    for op_id in [*ref.operations, *(i for i in got.operations if i not in ref.operations)]:
        a, b = ref.operations.get(op_id), got.operations.get(op_id)
        if a == b:
            continue
        where = ref_pos.get(op_id) or got_pos.get(op_id) or op_id[:12]
        name = ref.names.get(op_id) or got.names.get(op_id)
        if a is None or b is None:
            present = b if a is None else a
            assert present is not None
            kind = _kind(present)
            side = f"only the {other} run" if a is None else "only the uninterrupted run"
            found.append((op_id, False, Problem(
                f"{where}, {kind} {name!r} (id {op_id[:12]}): recorded by {side}",
                ADVICE_HIDDEN_READ,
            )))  # fmt: skip
            continue
        field, x, y = next((f, x, y) for f, x, y in zip(_FIELDS, a, b, strict=True) if x != y)
        found.append((op_id, field not in ("type", "subtype", "name", "parent"), Problem(
            f"{where}, {_kind(a)} {name!r} (id {op_id[:12]}): " + _field_diff(field, x, y, other),
            _value_advice(a, name, field),
        )))  # fmt: skip
    problems += _innermost_first(found, ref, got)
    ref_result = _comparable(_masked(ref.result, ref.callback_ids))
    got_result = _comparable(_masked(got.result, got.callback_ids))
    ref_message = _unaddressed(_masked(ref.error_message, ref.callback_ids))
    got_message = _unaddressed(_masked(got.error_message, got.callback_ids))
    if (ref.status, ref_result, ref.error_type, ref_message) != (
        got.status,
        got_result,
        got.error_type,
        got_message,
    ):
        if ref.status != got.status:
            text = f"the {other} run ended {got.status}{_ending(got)}; the uninterrupted run "
            text += f"{ref.status}{_ending(ref)}"
        elif ref_result != got_result:
            text = "the execution " + _field_diff("result", ref_result, got_result, other)
        else:
            text = "the execution " + _field_diff(
                "error", f"{ref.error_type}: {ref.error_message}",
                f"{got.error_type}: {got.error_message}", other,
            )  # fmt: skip
        problems.append(Problem(text, ADVICE_HIDDEN_READ))
    for op_id in sorted(set(ref.runs) | set(got.runs)):
        expected = ref.runs.get(op_id, 0)
        ran = got.runs.get(op_id, 0)
        lost = got.lost.get(op_id, 0)
        if ran - lost != expected:
            name = ref.names.get(op_id) or got.names.get(op_id) or op_id[:12]
            problems.append(
                Problem(
                    f"step {name!r} ran {ran} time(s) in the {other} run, {lost} of them lost "
                    f"to crashes; the uninterrupted run ran it {expected} time(s)",
                    _ADVICE_ENGINE if ran - lost > expected else ADVICE_HIDDEN_READ,
                )
            )
    if other == "crashed":  # the uninterrupted runs agreed: a step's side effect is likelier
        problems = [
            p
            if p.advice == _ADVICE_ENGINE or p.advice.startswith(("callback ", "the function "))
            else Problem(p.text, p.advice + _ADVICE_CRASH_ONLY)
            for p in problems
        ]
    return problems


def _diverged_replay(summary: RunSummary, whose: str) -> str:
    """Whose replay diverged: the workflow's own (``whose`` replay after a suspension), or that
    of an execution it invoked, whose NonDeterminismError its failed Invoke carries up (its
    message then names a position of that execution, not of the workflow)."""
    for key in summary.operations.values():
        if (
            key[0] == "CHAINED_INVOKE"
            and key[7] == "NonDeterminismError"
            and key[8] == _unaddressed(_masked(summary.error_message, summary.callback_ids))
        ):
            invoke = f"Invoke {key[2]!r}" if key[2] else "an unnamed Invoke"
            return (
                f"the replay of the execution invoked by {invoke} (its own code, "
                "registered for that function: the position below is in that execution)"
            )
    return f"{whose} replay after a suspension"


def _innermost_first(
    found: list[tuple[str, bool, Problem]], ref: RunSummary, got: RunSummary
) -> list[Problem]:
    """The problems in creation order, except that a context whose value (result, error,
    status) differs only because an operation inside it differs comes after that operation:
    a Parallel's result holding a branch's result names the branch, where the value was
    computed."""
    enclosing: set[str] = set()
    for op_id, _, _ in found:
        parent = _parent(op_id, ref, got)
        while parent is not None and parent not in enclosing:
            key = ref.operations.get(parent) or got.operations.get(parent)
            if key is None or key[1] != "WaitForCallback":  # its callback is its own part
                enclosing.add(parent)
            parent = _parent(parent, ref, got)
    first = [p for op_id, value, p in found if not (value and op_id in enclosing)]
    return first + [p for op_id, value, p in found if value and op_id in enclosing]


def _parent(op_id: str, ref: RunSummary, got: RunSummary) -> str | None:
    key = ref.operations.get(op_id) or got.operations.get(op_id)
    return None if key is None else key[3]


def _positions(summary: RunSummary) -> dict[str, str]:
    """'operation n of <context>' for each operation, in recorded order; a context is named
    by its id and by the recorded contexts around it, innermost first (``context 974bfc6321e2
    (CONTEXT/ParallelBranch 'parallel-branch-1', in CONTEXT/Parallel 'par')``), as the
    engine's ``Where:`` names them: several operations may share a name, and an id alone
    does not say which item or branch it is."""
    counts: dict[str | None, int] = {}
    out: dict[str, str] = {}
    for op_id, key in summary.operations.items():
        parent = key[3]
        counts[parent] = n = counts.get(parent, 0) + 1
        ctx = "the root context" if parent is None else _context(parent, summary)
        out[op_id] = f"operation {n} of {ctx}"
    return out


def _context(ctx_id: str, summary: RunSummary) -> str:
    """``context 974bfc6321e2 (CONTEXT/MapIteration 'map-item-1', in CONTEXT/Map 'm')``."""
    chain: list[str] = []
    parent: str | None = ctx_id
    while parent is not None and len(chain) < 100:
        key = summary.operations.get(parent)
        if key is None:
            break
        name = summary.names.get(parent)
        chain.append(f"{_kind(key)} {name!r}" if name is not None else _kind(key))
        parent = key[3]
    inside = f" ({', in '.join(chain)})" if chain else ""
    return f"context {ctx_id[:12]}{inside}"


def _kind(key: OpKey) -> str:
    return f"{key[0]}/{key[1]}" if key[1] else key[0]


def _value_advice(key: OpKey, name: str | None, field: str) -> str:
    if field in ("type", "subtype", "name", "parent"):
        return ADVICE_HIDDEN_READ
    if key[0] == "STEP" and key[1] not in OWN_STEP_SUBTYPES:  # a step, "Step" or sub_type=
        return (
            f"step {name!r} ended differently in the two runs. Either it got other arguments, "
            "computed in the workflow body from a direct read of the clock, random or uuid "
            "(use dg.Now(), dg.Random(), dg.UUID()), id() of an object or state kept between "
            "runs (a module-level counter or cache the body changes: compute it in a step), or "
            "the step itself returns something new "
            "each time: the clock, uuid.uuid4(), a counter, a random.Random() of its own (not "
            "the random module's functions, random.random() or random.choice(): a step attempt "
            "draws the same values from them in every run of the check). That is allowed "
            "(its result is recorded), but then runs cannot be compared value for value, so "
            "assert on the stable parts in your own test"
        )
    if key[0] == "STEP" and key[1] == "WaitForCondition":
        return (
            f"the checks of WaitForCondition {name!r} ended differently in the two runs (its "
            "state is computed by its check function, a step, not by the workflow body). "
            "Either it got another initial_state, computed in the workflow body from a direct "
            "read of the clock, random or uuid (use dg.Now(), dg.Random(), dg.UUID()), id() of "
            "an object or state kept between runs, or the check itself returns something new "
            "each time (allowed: each state is recorded; but then runs cannot be compared value "
            "for value, so assert on the stable parts in your own test)"
        )
    if key[0] == "CHAINED_INVOKE":
        return (
            f"the function invoked by Invoke {name!r} ended differently in the two runs (what "
            "it returns is computed by that function, given in functions=, not by the workflow "
            "body). Either it got another payload, computed in the workflow body from a direct "
            "read of the clock, random or uuid (use dg.Now(), dg.Random(), dg.UUID()), id() of "
            "an object or state kept between runs, or the function itself returns something new "
            "each time (allowed: its result is recorded; but then runs cannot be compared value "
            "for value, so give the check a function that answers the same, or assert on the "
            "stable parts in your own test)"
        )
    if key[0] == "CALLBACK" or (key[0] == "CONTEXT" and key[1] == "WaitForCallback"):
        return (
            f"callback {name!r} ended differently in the two runs. What ends a callback (its "
            "answer, a failure, a timeout) comes from on_idle, or whoever answers it, not from "
            "the workflow: answer it the same way in every run (a callback id in the answer is "
            "compared as a placeholder only where the whole id appears)"
        )
    return "the value is computed in the workflow body: " + ADVICE_HIDDEN_READ


def _ending(summary: RunSummary) -> str:
    if summary.status == "SUCCEEDED":
        return f" with {_show(summary.result)}"
    if summary.error_type:
        return f" ({summary.error_type}: {_show(summary.error_message)})"
    return ""


def _field_diff(field: str, ref: Any, got: Any, other: str) -> str:
    """``field`` differs: where in a JSON payload, and both values, each kept short."""
    path = ""
    if isinstance(ref, str) and isinstance(got, str):
        try:
            a, b = json.loads(ref), json.loads(got)
        except ValueError:
            pass
        else:
            path, ref, got = _first_json_difference(a, b, "")
    return f"{field}{path}: uninterrupted {_show(ref)}, {other} {_show(got)}"


def _first_json_difference(a: Any, b: Any, path: str) -> tuple[str, Any, Any]:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in [*a, *(k for k in b if k not in a)]:
            if k not in a or k not in b:
                return f"{path}.{k}", a.get(k, "<missing>"), b.get(k, "<missing>")
            if a[k] != b[k]:
                return _first_json_difference(a[k], b[k], f"{path}.{k}")
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path} (length)", len(a), len(b)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_json_difference(x, y, f"{path}[{i}]")
    return path, a, b


def _show(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) and not value.startswith(("{", "[")) else None
    text = repr(value) if text is None else repr(text)
    return text if len(text) <= limit else text[: limit - 15] + f"... ({len(text)} chars)"


def _unyielded_message(workflow: Callable[..., Any], summary: RunSummary) -> str:
    return (
        f"{_name(workflow)} built command(s) in its body and never yielded them, so they did "
        "nothing:\n- " + "\n- ".join(summary.unyielded) + "\nLikely cause: a missing `yield` "
        "(write `yield dg.Wait(seconds=5)`, `result = yield charge(x)`)"
    )


class _Draws:
    """Whether the workflow's code drew from the global ``random`` module during a run.

    Step attempts draw from it seeded on their own and give the body's state back when they
    end (``Harness.step_seed``); nothing else of the engine or the check draws from it. So the
    generator's state moves during a run only when workflow code outside steps draws from it
    (``random.random()``, ``random.choice()`` in the body): found so however rarely the draw
    changes what the run records, unless another check ran at the same time (the module is
    one for the process) or it was ``on_idle``, the test's own code.
    """

    def __init__(self) -> None:
        self.expected = random.getstate()
        self.moved = False
        self.alone = True

    def note(self) -> None:
        if random.getstate() != self.expected:
            self.moved = True

    def skip(self) -> None:
        self.expected = random.getstate()

    @property
    def drew(self) -> bool:
        return self.moved and self.alone


#: Checked runs in progress in this process, and how many ever started.
_RUNS_LOCK: Final = threading.Lock()
_RUNS: list[int] = [0, 0]


@contextmanager
def _checked_run(seed: str) -> Iterator[tuple[list[str], _Draws]]:
    """Seed ``random``, note unyielded commands even during replay, and collect those of the
    runs on this thread (not as warnings, which are caught process-wide). Checks may run in
    several threads at once: each collects only what its own runs built. The ``_Draws`` says
    whether the workflow drew from the seeded ``random`` module itself."""
    found: list[str] = []
    state = random.getstate()
    with _RUNS_LOCK:
        _RUNS[0] += 1
        _RUNS[1] += 1
        started, alone = _RUNS[1], _RUNS[0] == 1
    random.seed(seed)
    draws = _Draws()
    token = _guard.COLLECT.set(found)
    try:
        with strict_mode():
            yield found, draws
        draws.note()
    finally:
        _guard.COLLECT.reset(token)
        random.setstate(state)
        with _RUNS_LOCK:
            _RUNS[0] -= 1
            draws.alone = alone and _RUNS[1] == started


def _drew_message(workflow: Callable[..., Any]) -> str:
    return (
        f"{_name(workflow)} draws from the random module in its workflow code "
        "(random.random(), random.choice(), random.shuffle() outside a step): every run of this "
        "check happened to record the same, but a run or a replay draws other values, so an "
        "execution that resumes can take another path and fail with NonDeterminismError.\n"
        "Likely cause: a direct random read in the workflow body (or in the body of a Child, a "
        "Parallel branch or a Map item). Draw through a command instead: `rng = yield "
        "dg.Random()` (then rng.random(), rng.choice(...)), or inside a step (its result is "
        "recorded)"
    )


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


def _check_schedule(schedule: object) -> None:
    if not isinstance(schedule, CrashSchedule):
        raise ValidationError(
            "a crash schedule must be a CrashSchedule (e.g. CrashSchedule(after_checkpoints=[2]) "
            f"or CrashSchedule.at_every_checkpoint()), got {schedule!r}"
        )


_In = TypeVar("_In")


# The input is checked against the workflow's parameter, as for ``durable_gen.run``.
@overload
def assert_deterministic(
    workflow: Callable[[_In], Generator[Any, Any, Any]],
    input: _In | dict[str, Any],
    *,
    crashes: CrashSchedule | Sequence[CrashSchedule] | None = None,
    random_runs: int = 5,
    seed: int = 0,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    checkpointing: CheckpointMode = "step",
    serdes: Serdes | None = None,
    on_idle: Callable[[DurableRun], None] | None = None,
) -> None: ...
@overload
def assert_deterministic(
    workflow: Callable[[None], Generator[Any, Any, Any]],
    *,
    crashes: CrashSchedule | Sequence[CrashSchedule] | None = None,
    random_runs: int = 5,
    seed: int = 0,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    checkpointing: CheckpointMode = "step",
    serdes: Serdes | None = None,
    on_idle: Callable[[DurableRun], None] | None = None,
) -> None: ...
@checked
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
    if isinstance(random_runs, bool) or not isinstance(random_runs, int) or random_runs < 0:
        raise ValidationError(f"random_runs must be a whole number >= 0, got {shown(random_runs)}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValidationError(
            f"seed must be a whole number (it seeds the random crash schedules, so that a check "
            f"fails the same way every time), got {shown(seed)}"
        )
    if crashes is not None and not isinstance(crashes, CrashSchedule):
        if isinstance(crashes, str | bytes) or not isinstance(crashes, Sequence):
            raise ValidationError(
                "crashes must be a CrashSchedule or a list of them (or None for the default "
                f"sweep), got {shown(crashes)}"
            )
        for schedule in crashes:
            _check_schedule(schedule)
    check = DeterminismCheck(
        workflow,
        input,
        functions=functions,
        checkpointing=checkpointing,
        serdes=serdes,
        on_idle=on_idle,
    )
    ref = check.reference  # the two uninterrupted runs, compared even with crashes=[]
    if crashes is None:
        rng = random.Random(seed)
        schedules = [CrashSchedule.at_every_checkpoint()]
        schedules += [random_schedule(rng, ref) for _ in range(random_runs)]
    elif isinstance(crashes, CrashSchedule):
        schedules = [crashes]
    else:
        schedules = list(crashes)
    for schedule in schedules:
        check.check(schedule)
