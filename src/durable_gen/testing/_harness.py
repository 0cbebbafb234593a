"""What ``TestRunner`` puts around each invocation: step accounting and planned crashes.

A crash abandons the invocation the way a dying process would: a ``BaseException`` that no
workflow or driver code catches, raised after a checkpoint was persisted (its reply is lost),
just before a step attempt runs, or just after it ran (its outcome is lost). The engine then
re-invokes from what it persisted. The harness also counts how often each step function ran,
notes runs whose outcome a crash lost, and flags any step that runs after its outcome was
persisted (which must never happen).
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import random
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final

import anyio
import msgspec

from .._arguments import CheckedStructMeta, checked
from .._errors import ValidationError, shown
from .._plugins import AttemptInfo, Plugin
from .._wire import (
    TERMINAL_STATUSES,
    CheckpointResponse,
    ExecutionState,
    Operation,
    OperationUpdate,
)

if TYPE_CHECKING:
    from ..local import LocalService

__all__ = ["Crash", "CrashSchedule", "Harness", "HarnessService", "current_attempt"]


class Crash(BaseException):
    """A planned crash: abandons the invocation (derives from ``BaseException`` so that no
    ``except Exception`` in workflow, step or driver code catches it)."""


class CrashSchedule(msgspec.Struct, frozen=True, kw_only=True, metaclass=CheckedStructMeta):
    """Where to abandon invocations during one run. Points count from 1 over the whole run.

    Attributes:
        after_checkpoints: Crash after the k-th checkpoint was persisted (its reply is lost).
        before_attempts: Crash just before the k-th step attempt runs.
        after_attempts: Crash just after the k-th step attempt ran, before its outcome is
            checkpointed.
        every_checkpoint: Crash after every checkpoint: each invocation persists one
            checkpoint and resumes from it.
        max_crashes: No crash after this many (a bound for schedules that would never end).

    Points that would interrupt a step whose START is already recorded (an at-most-once step,
    or any step with ``checkpointing="eager"``) are skipped: such a step does not run again
    by design (``StepInterruptedError``), so its outcome legitimately differs. So are points
    around ``async def`` steps, which run on the driver's event loop thread.
    """

    after_checkpoints: frozenset[int] = frozenset()
    before_attempts: frozenset[int] = frozenset()
    after_attempts: frozenset[int] = frozenset()
    every_checkpoint: bool = False
    max_crashes: int = 1000

    def __post_init__(self) -> None:
        for field in ("after_checkpoints", "before_attempts", "after_attempts"):
            points = getattr(self, field)
            if not isinstance(points, frozenset | set | list | tuple):
                raise ValidationError(
                    f"CrashSchedule {field} is a set of points counted from 1, e.g. "
                    f"{field}=frozenset({{1, 3}}), got {shown(points)}"
                )
            if any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in points):
                raise ValidationError(
                    f"CrashSchedule {field}: crash points count from 1 (whole numbers), "
                    f"got {shown(points)}"
                )
            if not isinstance(points, frozenset):
                msgspec.structs.force_setattr(self, field, frozenset(points))
        if not isinstance(self.every_checkpoint, bool):
            raise ValidationError(
                "CrashSchedule every_checkpoint must be True or False, got "
                f"{shown(self.every_checkpoint)}"
            )
        if (
            isinstance(self.max_crashes, bool)
            or not isinstance(self.max_crashes, int)
            or self.max_crashes < 0
        ):
            raise ValidationError(
                f"CrashSchedule max_crashes must be a whole number >= 0, "
                f"got {shown(self.max_crashes)}"
            )

    @classmethod
    def at_every_checkpoint(cls) -> CrashSchedule:
        """Crash after every checkpoint."""
        return cls(every_checkpoint=True)

    @property
    def empty(self) -> bool:
        """True when the schedule never crashes."""
        return not (
            self.after_checkpoints
            or self.before_attempts
            or self.after_attempts
            or self.every_checkpoint
        )


NO_CRASHES: Final = CrashSchedule()

_ATTEMPT: ContextVar[AttemptInfo | None] = ContextVar("durable_gen_test_attempt", default=None)


@checked
def current_attempt() -> AttemptInfo | None:
    """The step attempt running in this thread or task, under ``TestRunner`` (else None).

    Lets a test step behave by attempt, e.g. fail its first two attempts::

        @dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1))
        def flaky() -> str:
            info = current_attempt()
            if info is not None and info.attempt < 3:
                raise TimeoutError("not yet")
            return "ok"
    """
    return _ATTEMPT.get()


class SerialSteps(cf.Executor):
    """Runs the sync steps the driver would run concurrently (the items of a ``Map``, the
    branches of a ``Parallel``) one at a time, as they are handed out, in that order.

    Which items finish first, and so what a completion policy decides and how attempts are
    numbered, then depends on nothing but the workflow and the schedule: the runs of a
    ``DeterminismCheck`` repeat exactly, whatever the thread timing. A step with a ``timeout=``
    runs in a thread of its own, waited for until its timeout (the driver abandons it at its
    deadline, as in production), before the next one starts.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        future: cf.Future[Any] = cf.Future()
        # running from now on: the driver's cancel() of a step it abandons (a crashed
        # invocation) then leaves it alone, and its thread may still set its result
        future.set_running_or_notify_cancel()

        def run() -> None:
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # a Crash too: raised where the driver reads it
                future.set_exception(exc)
            else:
                future.set_result(result)

        timeout = getattr(args[0], "timeout", None) if args else None
        if timeout is None:
            run()
        else:
            threading.Thread(target=run, name="durable-gen-timed-step", daemon=True).start()
            cf.wait([future], timeout=timeout)
        return future


class SerialLoop:
    """What the driver takes for the event loop of async steps (a blocking portal): it runs
    each async step to its end, one at a time, as they are handed out, on an event loop of
    its own in one thread. Like ``SerialSteps`` for sync steps, it makes which async items of
    a ``Map`` or ``Parallel`` end first the same in every run; a step's ``timeout=`` still
    cancels it, inside its loop."""

    def __init__(self) -> None:
        self._thread: cf.ThreadPoolExecutor | None = None

    def start_task_soon(self, func: Callable[..., Any], *args: Any) -> cf.Future[Any]:
        if self._thread is None:
            self._thread = cf.ThreadPoolExecutor(1, thread_name_prefix="durable-gen-async-step")
        future = self._thread.submit(anyio.run, func, *args)
        cf.wait([future])
        return future

    def close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=False)
            self._thread = None


class Harness(Plugin):
    """The plugin ``TestRunner`` installs on every workflow it runs.

    Args:
        lookup: ``lookup(arn, operation_id)``: the persisted operation of the execution that
            the invocation knows as ``arn`` (an alias ARN or the real one), or None.
    """

    def __init__(self, lookup: Callable[[str, str], Operation | None]) -> None:
        self._lookup = lookup
        self._lock = threading.Condition()
        self.schedule: CrashSchedule = NO_CRASHES
        #: Times each step function ran (returned or raised), by execution ARN and operation
        #: id (an invoked execution numbers its operations as its caller does).
        self.runs: Counter[tuple[str, str]] = Counter()
        #: Runs whose outcome a crash lost, by execution ARN and operation id.
        self.lost: Counter[tuple[str, str]] = Counter()
        #: Steps that ran although their outcome was already persisted.
        self.violations: list[str] = []
        self.crashes: list[str] = []
        self.checkpoints = 0
        self.attempts = 0
        self.invocation = 0
        #: Attempts started and not ended: the thread each started in, by ``_key``.
        self._inflight: dict[tuple[str, str, int], int] = {}
        self._ran: dict[int, list[tuple[str, str, int]]] = {}
        self._numbers: dict[tuple[str, str, int], int] = {}
        #: When set (by ``DeterminismCheck``), each step attempt draws from the global
        #: ``random`` module seeded from this, its execution, operation and attempt number, so
        #: that a step returning random values returns the same ones in every run of a check
        #: (its result is recorded: a resume never draws them again); the workflow body's own
        #: draws go on from the run's seed, before and after the step.
        self.step_seed: str | None = None
        #: The body's global ``random`` state, put aside while seeded attempts run, and the
        #: attempts running seeded (in threads, several at once: the state is put back when
        #: the last one ends, not by each, which would put back another's seeded state).
        self._body_random: Any = None
        self._seeded: set[tuple[str, str, int]] = set()

    # --- hooks ----------------------------------------------------------------------------

    def on_invocation_start(self, info: Any) -> None:
        with self._lock:
            self.invocation += 1
            self._ran[self.invocation] = []

    def on_attempt_start(self, attempt: AttemptInfo) -> None:
        with self._lock:
            self.attempts += 1
            number = self.attempts
            self._numbers[_key(attempt)] = number
        op = self._lookup(attempt.execution_arn, attempt.operation_id)
        if op is not None and op.status in TERMINAL_STATUSES:
            self.violations.append(
                f"step {attempt.name!r} ({attempt.operation_id[:12]}) attempt {attempt.attempt} "
                f"ran although its outcome ({op.status}) was already persisted"
            )
        if number in self.schedule.before_attempts and self._may_crash(attempt, op):
            self._crash(f"before attempt {number} ({attempt.name!r} #{attempt.attempt})")
        with self._lock:
            self._inflight[_key(attempt)] = threading.get_ident()
            if self.step_seed is not None:
                if not self._seeded:
                    self._body_random = random.getstate()
                self._seeded.add(_key(attempt))
                random.seed(
                    f"{self.step_seed}|{attempt.execution_arn}|{attempt.operation_id}|"
                    f"{attempt.attempt}"
                )
        _ATTEMPT.set(attempt)

    def on_attempt_end(
        self, attempt: AttemptInfo, outcome: str, error: BaseException | None
    ) -> None:
        _ATTEMPT.set(None)
        key = _key(attempt)
        with self._lock:
            self._inflight.pop(key, None)
            if key in self._seeded:
                self._seeded.discard(key)
                if not self._seeded:
                    random.setstate(self._body_random)
                    self._body_random = None
            self.runs[attempt.execution_arn, attempt.operation_id] += 1
            self._ran.setdefault(self.invocation, []).append(key)
            number = self._numbers.get(key, 0)
            self._lock.notify_all()
        if number in self.schedule.after_attempts and self._may_crash(
            attempt, self._lookup(attempt.execution_arn, attempt.operation_id)
        ):
            self._crash(f"after attempt {number} ({attempt.name!r} #{attempt.attempt})")

    # --- crashes ----------------------------------------------------------------------------

    def after_checkpoint(self, updates: Sequence[OperationUpdate]) -> None:
        """Called by ``HarnessService`` once a checkpoint was persisted."""
        with self._lock:
            self.checkpoints += 1
            number = self.checkpoints
        schedule = self.schedule
        if not (schedule.every_checkpoint or number in schedule.after_checkpoints):
            return
        if _lone_step_start(updates):
            return  # the step is about to run with its START recorded: see CrashSchedule
        if self._unsent_started_outcome():
            return
        self._crash(f"after checkpoint {number}")

    def _may_crash(self, attempt: AttemptInfo, op: Operation | None) -> bool:
        if _in_event_loop():
            return False  # a BaseException would stop the driver's event loop thread
        return not _started(op, attempt.attempt) and not self._unsent_started_outcome()

    def _unsent_started_outcome(self) -> bool:
        """Whether an attempt of this invocation whose START is recorded has ended, and its
        outcome is not persisted yet.

        The driver sends such an outcome (an at-most-once step's, or any in ``eager`` mode)
        as soon as the attempt ends. Here the steps of a ``Map`` or ``Parallel`` run one at a
        time, so the next one's attempt starts before the driver got to send it: a crash then
        would count a finished attempt as interrupted, which the driver never does.
        """
        with self._lock:
            ended = list(self._ran.get(self.invocation, ()))
        return any(_started(self._lookup(arn, op_id), number) for arn, op_id, number in ended)

    def _crash(self, where: str) -> None:
        with self._lock:
            if len(self.crashes) >= self.schedule.max_crashes:
                return
            self.crashes.append(where)
        raise Crash(where)

    def settle(self, timeout: float = 60.0) -> None:
        """After a crash: wait for step threads the dead invocation left running, then count
        the runs whose outcome was not persisted as lost.

        Called on the thread that ran the invocation. An attempt that started on this thread
        and has not ended never will: a step with a ``timeout=`` starts (and ends) on the
        driver's thread while its function runs in a worker thread, and the dead invocation
        will not report it. Only attempts started in other threads are waited for.
        """
        here = threading.get_ident()
        with self._lock:
            if not self._lock.wait_for(
                lambda: all(ident == here for ident in self._inflight.values()), timeout
            ):
                raise RuntimeError(
                    f"{len(self._inflight)} step(s) of an abandoned invocation did not finish "
                    f"within {timeout} s"
                )
            self._inflight.clear()
            ran = self._ran.pop(self.invocation, [])
        for arn, op_id, attempt in ran:
            op = self._lookup(arn, op_id)
            if not _persisted(op, attempt):
                self.lost[arn, op_id] += 1


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _key(attempt: AttemptInfo) -> tuple[str, str, int]:
    return (attempt.execution_arn, attempt.operation_id, attempt.attempt)


def _started(op: Operation | None, attempt: int) -> bool:
    """Whether step attempt ``attempt`` is recorded as started, its outcome not yet."""
    if op is None or op.status != "STARTED" or op.type != "STEP":
        return False
    # Attempt counts finished attempts: STARTED attempt n records n - 1
    return op.step_details is None or (op.step_details.attempt or 0) + 1 == attempt


def _persisted(op: Operation | None, attempt: int) -> bool:
    """Whether the outcome of step attempt ``attempt`` is in the persisted operation."""
    if op is None:
        return False
    finished = (op.step_details.attempt or 0) if op.step_details is not None else 0
    return finished >= attempt


def _lone_step_start(updates: Sequence[OperationUpdate]) -> bool:
    starts = {u.id for u in updates if u.type == "STEP" and u.action == "START"}
    if not starts:
        return False
    done = {u.id for u in updates if u.type == "STEP" and u.action != "START"}
    return bool(starts - done)


class HarnessService:
    """The ``DurableService`` a test invocation talks to: the engine under an alias ARN.

    The alias lets runs of the same workflow see the same ARN (so ``UUID()``, ``Random()``
    and retry jitter agree between them); checkpoints report to the harness, which may crash.
    """

    def __init__(self, engine: LocalService, real_arn: str, harness: Harness) -> None:
        self.engine = engine
        self.real_arn = real_arn
        self.harness = harness

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        reply = self.engine.checkpoint(self.real_arn, checkpoint_token, updates)
        self.harness.after_checkpoint(updates)
        return reply

    def get_state(self, execution_arn: str, checkpoint_token: str, marker: str) -> ExecutionState:
        return self.engine.get_state(self.real_arn, checkpoint_token, marker)
