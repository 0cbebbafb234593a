"""The replayer: does the current code still replay what executions recorded?

``replay`` runs the interpreter over a recorded history and never runs a step: where the code
needs something the history did not record (a step result, a new operation), the replay stops
there and the report says "incomplete" (the prefix replayed fine). The verdict, in order:

1. ``diverged``: the interpreter raised ``NonDeterminismError`` (a renamed, reordered, inserted
   or replaced command, or recorded operations the code no longer reaches).
2. ``failed``: the workflow raised while replaying, and the history shows it went on (recorded
   operations were left unvisited) or ended otherwise; or the history is corrupt.
3. ``incomplete``: the code asks for something the history did not record.
4. ``ok``: the code replayed the whole history; it returned, failed as recorded, or waits on
   what the recorded execution waits on.

``replay_folder`` applies ``replay`` to every JSON file of a folder (a CI check over exported
production histories).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, TypeVar

import msgspec

from .. import _guard
from .._actions import Done, Failed, Flush, Outcome, RunTasks, StepTask, Succeeded, Suspended
from .._arguments import checked
from .._codec import result_type
from .._errors import (
    InvalidInputError,
    NonDeterminismError,
    OperationError,
    ValidationError,
    failure_text,
    shown,
)
from .._failure import same_error_type
from .._ids import operation_id
from .._interpreter import Interpreter
from .._serdes import Serdes, loads
from .._versioning import PATCH_SUBTYPE
from .._wire import ErrorObject, Operation, OperationUpdate
from ..local._run import MAX_WORKFLOW_NAME, workflow_name
from ._history import History, HistorySource, load_history
from ._strict import strict_mode

__all__ = ["Divergence", "ReplayReport", "ReplayStatus", "replay", "replay_folder"]

ReplayStatus = Literal["ok", "incomplete", "diverged", "failed", "invalid"]

if TYPE_CHECKING:  # a bare ``ReplayReport`` (a list of reports, a helper's return) is [Any]
    from typing_extensions import TypeVar as _DefaultedTypeVar

    R = _DefaultedTypeVar("R", default=Any)
else:
    R = TypeVar("R")

#: The ARN replay uses when the history names none (it seeds UUID(), Random() and jitter).
DEFAULT_ARN: Final = "arn:durable-gen:replay"
#: The warning of a replay whose workflow drew UUID()/Random() values without the real ARN.
_NO_ARN: Final = (
    "the history does not name its execution ARN (a GetDurableExecutionHistory page, or a "
    "list of operations or events, carries none) and the workflow used dg.UUID() or "
    "dg.Random(), whose values derive from it: this replay drew other values than the "
    "execution did, so what the code built on them may differ here and not in the execution. "
    "Pass replay(..., execution_arn=ARN), or a history that names it (`durable-gen history "
    "ID --json`, DurableRun.export())"
)

_UNSET: Final[Any] = object()


class Divergence(msgspec.Struct, frozen=True, kw_only=True):
    """Where the code and the history part ways (from ``NonDeterminismError``).

    Attributes:
        message: The interpreter's message.
        operation_id: The id of the recorded operation at that position.
        position: ``"operation N of the root context"`` (or of a context).
        recorded: What the history recorded there, e.g. ``"STEP/Step name='charge'"``.
        requested: What the code asked for there (None when it never got there).
    """

    message: str
    operation_id: str | None = None
    position: str | None = None
    recorded: str | None = None
    requested: str | None = None


class ReplayReport(msgspec.Struct, Generic[R], frozen=True, kw_only=True):
    """The verdict of one replay.

    ``ReplayReport[R]``: ``replay()`` of a workflow annotated ``-> Workflow[R]`` gives its
    ``result`` the type ``R``, as ``dg.run`` has.

    Attributes:
        status: ``ok``, ``incomplete``, ``diverged``, ``failed`` or ``invalid`` (the history
            could not be read, or no workflow matched it).
        message: One line saying what happened.
        source: The file replayed, if any.
        replayed: Recorded operations the code reached and matched.
        recorded: Recorded operations in the history (the EXECUTION operation excluded).
        outcome: ``succeeded``, ``failed`` or ``suspended`` when the replay got that far.
        result: The workflow's result when it succeeded (``outcome == "succeeded"``), decoded
            into its declared type (``Workflow[R]``), as ``dg.run`` returns it; None otherwise.
        error: The workflow's error when it failed.
        divergence: Where it diverged (``status == "diverged"``).
        next_commands: What the code asks for that the history does not have
            (``status == "incomplete"``), e.g. ``"STEP/Step name='ship' (operation 3 of
            the root context)"``.
        warnings: What may make the replay less exact (truncated or missing payloads).
        exception: The exception behind a ``diverged`` or ``failed`` verdict.
    """

    status: ReplayStatus
    message: str
    source: str | None = None
    replayed: int = 0
    recorded: int = 0
    outcome: Literal["succeeded", "failed", "suspended"] | None = None
    result: R = None  # type: ignore[assignment]  # None unless outcome == "succeeded"
    error: ErrorObject | None = None
    divergence: Divergence | None = None
    next_commands: list[str] = msgspec.field(default_factory=list)
    warnings: list[str] = msgspec.field(default_factory=list)
    exception: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when the code replays the history (``ok``, or ``incomplete``)."""
        return self.status in ("ok", "incomplete")

    @checked
    def raise_for_status(self) -> ReplayReport[R]:
        """Return the report if ``ok``; raise the divergence or the failure otherwise.

        Raises:
            NonDeterminismError: the code diverged from the history.
            AssertionError: the replay failed or the history is invalid (the workflow's own
                exception is chained as the cause).
        """
        if self.ok:
            return self
        if isinstance(self.exception, NonDeterminismError):
            raise self.exception
        where = f"{self.source}: " if self.source else ""
        raise AssertionError(f"{where}{self.message}") from self.exception

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}{self.status}: {self.message}"


@checked
def replay(
    workflow: Callable[..., Generator[Any, Any, R]],
    history: HistorySource,
    *,
    input: Any = _UNSET,
    execution_arn: str | None = None,
    serdes: Serdes | None = None,
) -> ReplayReport[R]:
    """Replay ``history`` against ``workflow`` without running any step.

    Args:
        workflow: The workflow generator function (the current code).
        history: The recorded history, in any shape ``load_history`` accepts: a list of
            ``Operation``/``Event``, JSON of AWS ``GetDurableExecutionState`` or
            ``GetDurableExecutionHistory``, a ``TestRunner.export()`` file, a path.
        input: The workflow input, when the history has no EXECUTION operation carrying it.
        execution_arn: The execution's ARN, when the history does not name it (it seeds
            ``UUID()``, ``Random()`` and retry jitter; nothing recorded depends on it).
        serdes: Serdes of the workflow input and result.

    Returns:
        The report (``ReplayReport[R]`` for a workflow annotated ``-> Workflow[R]``);
        ``report.ok`` is False when the code diverged or failed.
    """
    try:
        loaded = load_history(history, execution_arn=execution_arn)
    except InvalidInputError as exc:
        return ReplayReport(status="invalid", message=str(exc), exception=exc)
    has_execution = any(op.type == "EXECUTION" for op in loaded.operations)
    if input is _UNSET and not loaded.operations:
        return _nothing_recorded(loaded)
    if input is _UNSET and not has_execution:
        raise InvalidInputError(
            "the history has no EXECUTION operation, which carries the workflow's input (a "
            "later page of the operations?): pass the whole history, or the input with input=..."
        )
    if input is not _UNSET and has_execution:
        raise ValidationError(
            "the history carries the workflow's input (its EXECUTION operation), and replay "
            "uses it: input= is for a history without one; leave input= out"
        )
    return _replay(workflow, loaded, input, serdes)


@checked
def replay_folder(
    workflows: Callable[..., Any] | Mapping[str, Callable[..., Any]],
    path: str | os.PathLike[str],
    *,
    pattern: str = "**/*.json",
    serdes: Serdes | None = None,
) -> list[ReplayReport[Any]]:
    """Replay every JSON history file under ``path``, one report per file, sorted by path.

    Args:
        workflows: One workflow for every file, or a mapping from name to workflow. A file
            is matched to a name by its ``FunctionName`` field (``TestRunner.export()``
            writes it; ``pkg.module.name`` matches ``name``, and a name the runner shortened
            or numbered matches the workflow it was run from, by its module and qualname),
            else by the function in its
            ``DurableExecutionArn`` (``...:function:<name>:...``), else by a folder of that
            name on its path (``histories/<name>/``), else by its file name starting with
            the name (the longest name wins).
        path: The folder.
        pattern: Glob of the files to replay, relative to ``path``.
        serdes: Serdes of workflow inputs and results.

    Returns:
        The reports; a file that cannot be read or matched gets status ``invalid``.

    Raises:
        ValidationError: ``workflows`` is neither a workflow nor a mapping of names (str) to
            workflows, or ``path`` or ``pattern`` is of the wrong kind.
    """
    if not isinstance(path, str | os.PathLike):
        raise ValidationError(
            f"replay_folder needs the path of a folder of JSON histories, got {type(path).__name__}"
        )
    if not isinstance(pattern, str) or not pattern:
        raise ValidationError(
            f"replay_folder's pattern must be a glob such as '**/*.json', got {shown(pattern)}"
        )
    if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        raise ValidationError(
            f"replay_folder's pattern is a glob relative to the folder, which it may not leave, "
            f"got {pattern!r}: give the folder as path and the pattern under it (e.g. "
            "path='tests/histories', pattern='**/*.json')"
        )
    _check_workflows(workflows)
    root = Path(path)
    if not root.is_dir():
        raise InvalidInputError(f"replay_folder needs a folder of JSON histories, got {root}")
    reports: list[ReplayReport[Any]] = []
    for file in sorted(p for p in root.glob(pattern) if p.is_file()):
        source = str(file)
        try:
            loaded = load_history(file)
        except InvalidInputError as exc:
            reports.append(
                ReplayReport(status="invalid", message=str(exc), source=source, exception=exc)
            )
            continue
        workflow = _pick(
            workflows, file.relative_to(root), loaded.function_name, loaded.execution_arn
        )
        if workflow is None:
            assert isinstance(workflows, Mapping)
            reports.append(
                ReplayReport(
                    status="invalid",
                    source=source,
                    message=f"no workflow matches this file; known names: {sorted(workflows)}",
                )
            )
            continue
        reports.append(
            _replay(workflow, loaded, _UNSET, serdes)
            if loaded.operations
            else _nothing_recorded(loaded)
        )
    return reports


def _nothing_recorded(loaded: History) -> ReplayReport[Any]:
    """The report on a history that records no operation: every execution records at least
    its EXECUTION operation (its ``ExecutionStarted`` event), so a source without one is no
    history of an execution, and replaying it would check nothing (it came out
    ``incomplete``, which counts as ``ok``)."""
    return ReplayReport(
        status="invalid",
        source=loaded.source,
        message=(
            "the history records no operation, not even the EXECUTION operation (the "
            "ExecutionStarted event) every execution starts with, so replaying it checks "
            "nothing: pass a whole history (run.export(), GetDurableExecutionState's "
            "Operations, GetDurableExecutionHistory's Events), or input=... to see what a new "
            "execution asks for first"
        ),
        warnings=list(loaded.warnings),
    )


def _check_workflows(workflows: object) -> None:
    """A ``ValidationError`` unless ``workflows`` is a workflow or maps names to workflows."""
    if isinstance(workflows, Mapping):
        for name, workflow in workflows.items():
            if not isinstance(name, str) or not name:
                raise ValidationError(
                    f"replay_folder's mapping goes from function names (non-empty str, such as "
                    f"'place_order') to workflows, got the key {name!r}"
                )
            if not callable(workflow):
                raise ValidationError(
                    f"replay_folder's mapping goes from function names to workflows (generator "
                    f"functions, imported), got {type(workflow).__name__} {workflow!r} for "
                    f"{name!r}"
                )
    elif not callable(workflows):
        raise ValidationError(
            f"replay_folder takes a workflow or a mapping of function names to workflows, got "
            f"{type(workflows).__name__} {shown(workflows)}"
        )


def _pick(
    workflows: Callable[..., Any] | Mapping[str, Callable[..., Any]],
    relative: Path,
    function_name: str | None,
    arn: str | None,
) -> Callable[..., Any] | None:
    if not isinstance(workflows, Mapping):
        return workflows
    if function_name is not None:
        # A TestRunner's second workflow of one module and qualname runs under that name with
        # ``-2`` (``-3``, ...) at the end.
        numbered = re.fullmatch(r"(.+)(-[0-9]+)", function_name)
        base = numbered.group(1) if numbered else function_name
        for each in (function_name, base):  # the name as written first: 'order-2' is a name
            for name in workflows:
                if each == name or each.endswith(f".{name}"):
                    return workflows[name]
        # A name over 64 characters is shortened (its end replaced by a hash of it): it names
        # the workflow of that module and qualname, as the engine registered it.
        for workflow in workflows.values():
            full = workflow_name(workflow)
            if function_name == full or (
                numbered is not None
                and function_name
                == full[: MAX_WORKFLOW_NAME - len(numbered.group(2))] + numbered.group(2)
            ):
                return workflow
    if arn is not None:
        match = re.search(r":function:([^:/]+)", arn)
        if match is not None and match.group(1) in workflows:
            return workflows[match.group(1)]
    for part in reversed(relative.parts[:-1]):
        if part in workflows:
            return workflows[part]
    stem = relative.stem
    names = sorted((n for n in workflows if stem.startswith(n)), key=len, reverse=True)
    return workflows[names[0]] if names else None


# --- the replay itself --------------------------------------------------------------------------


class _Replayer(Interpreter):
    """The interpreter of a replay check: all the workflow code it runs is code that ran.

    It is a check of the code against a history, not a run of the execution: what the code
    logs past the history's last operation (the lines after a wait, before the return) is
    not a new line of that execution, so the replay-aware logger drops it, or marks it
    ``replaying`` with ``log_during_replay=True``, as it does for every replayed line.
    """

    _checks_history = True  # the history of an execution that ended is checked too

    @property
    def replaying(self) -> bool:
        return self._fiber is not None

    def _log_failure(self, run: Any, error: BaseException) -> None:
        """No failed-attempt line: the attempt a replay finds failed (an at-most-once step the
        history shows interrupted) failed in the execution, which logs it when it resumes;
        a check in CI adds no line to the execution's log."""


def _replay(
    workflow: Callable[..., Any], history: History, input: Any, serdes: Serdes | None
) -> ReplayReport[Any]:
    ops = history.operations
    recorded_ids = {op.id for op in ops if op.type != "EXECUTION"}
    interp = _Replayer(
        workflow,
        ops,
        execution_arn=history.execution_arn or DEFAULT_ARN,
        serdes=serdes,
        **({} if input is _UNSET else {"input": input}),
    )
    # Run the generators until each blocks; never run a step, never answer a checkpoint.
    updates: list[OperationUpdate] = []
    tasks: list[StepTask] = []
    outcome: Outcome | None = None
    # A replay is a check: a command built and never yielded (a `dg.Deprecated(...)` whose
    # `yield` was forgotten checks nothing) fails it, with or without the pytest plugin.
    with strict_mode(), warnings.catch_warnings():
        warnings.simplefilter("error", _guard.UnyieldedCommandWarning)
        while True:
            action = interp.next_action()
            if isinstance(action, Flush):
                updates += action.updates
                interp._observe_no_reply()
            elif isinstance(action, RunTasks):
                tasks += action.tasks
            else:
                if isinstance(action, Done):
                    outcome = action.outcome
                break
        interp.close()  # what a `finally` of the suspended code logs is not new
    coverage = interp.coverage
    replayed = len(coverage.replayed)
    base: dict[str, Any] = {
        "source": history.source,
        "replayed": replayed,
        "recorded": coverage.recorded,
        "warnings": list(history.warnings),
    }
    if history.execution_arn is None and interp.draws:
        base["warnings"].append(_NO_ARN)
    counts = f"replayed {replayed} of {coverage.recorded} recorded operations"
    inside = len(coverage.inside_completed)
    if inside:
        counts += f" ({inside} inside completed contexts, which replay from one record)"

    if isinstance(outcome, Failed):
        exc = outcome.exception
        if isinstance(exc, NonDeterminismError):
            note = f" (but: {_NO_ARN})" if _NO_ARN in base["warnings"] else ""
            return ReplayReport(
                status="diverged",
                message=f"{exc}{note}",
                divergence=_divergence(exc, ops),
                outcome="failed",
                error=outcome.error,
                exception=exc,
                **base,
            )
        err = outcome.error
        what = failure_text(err.error_type, err.error_message)
        left = coverage.not_replayed
        problem = None
        if isinstance(exc, InvalidInputError):
            problem = f"the history is corrupt or from another workflow: {what}"
        elif left:
            problem = (
                f"the workflow raised {what} while replaying, before reaching {len(left)} "
                f"recorded operation(s) (the first {_label(left[0], ops)}): the recorded "
                "execution went on, this code would fail it"
            )
        elif history.status == "SUCCEEDED" or (
            history.status in ("FAILED", "TIMED_OUT", "STOPPED")
            and history.error is not None
            and not same_error_type(history.error.error_type, exc if exc is not None else err)
        ):
            recorded = history.error.error_type if history.error else history.status
            problem = (
                f"the workflow raised {what} while replaying; the execution recorded {recorded}"
            )
        elif history.status not in ("FAILED", "TIMED_OUT", "STOPPED") and not isinstance(
            exc, OperationError
        ):
            problem = (
                f"the workflow raised {what} while replaying, and the history records no such "
                "failure"
            )
        elif history.status not in ("FAILED", "TIMED_OUT", "STOPPED") and any(
            failure.error_type == err.error_type
            and (failure.error_message or "") in (err.error_message or "")
            for failure in interp._code_failures
        ):
            # a context (a Child, a WaitForCallback, a Map item...) failed with an error of the
            # code's own, which reached the workflow as that context's failure
            problem = (
                f"the workflow raised {what} while replaying, from an error its code raised in "
                "a child context, and the history records no such failure"
            )
        if problem is not None:
            return ReplayReport(
                status="failed",
                message=f"{counts}; {problem}",
                outcome="failed",
                error=err,
                exception=exc,
                **base,
            )
        if history.status in ("FAILED", "TIMED_OUT", "STOPPED"):
            how = f"the workflow failed as recorded ({what})"
        else:  # e.g. a recorded step failure not caught, the execution's end not recorded
            how = f"the workflow fails ({what}) from what the history recorded"
            if history.status == "RUNNING":
                how += ", which does not record the execution's end yet: resumed, it fails so"
        return ReplayReport(
            status="ok",
            message=f"{counts}; {how}",
            outcome="failed",
            error=err,
            **base,
        )

    # An execution the service ended (its timeout passed, or it was stopped) ended where its
    # code waited or ran a step: the code does not fail there, the execution did.
    ended = ""
    if history.status in ("TIMED_OUT", "STOPPED"):
        ended = f"; the service ended the execution there ({history.status}): its code did not fail"
    new = _new_work(updates, tasks, recorded_ids, ops)
    if new:
        return ReplayReport(
            status="incomplete",
            message=(
                f"{counts}; the history ends here: the code asks for {new[0]}, which it did "
                f"not record (replay runs no step){ended}"
            ),
            next_commands=new,
            **base,
        )
    if isinstance(outcome, Succeeded):
        declared = Any if serdes is not None else result_type(workflow)
        try:  # the result as dg.run and DurableRun.result() give it: in the declared type
            result = loads(outcome.result, serdes, type_=declared, what="the workflow result")
        except Exception:  # a custom serdes: keep the payload
            result = outcome.result
        return ReplayReport(
            status="ok",
            message=f"{counts}; the workflow returned",
            outcome="succeeded",
            result=result,
            **base,
        )
    waiting = outcome.waiting_on if isinstance(outcome, Suspended) else []
    return ReplayReport(
        status="ok",
        message=(
            f"{counts}; the workflow waits on {', '.join(waiting) or 'nothing recorded'}{ended}"
        ),
        outcome="suspended",
        **base,
    )


def _new_work(
    updates: list[OperationUpdate], tasks: list[StepTask], recorded: set[str], ops: list[Operation]
) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for u in updates:
        if u.id in recorded or u.id in seen or u.sub_type == PATCH_SUBTYPE:
            continue
        seen.add(u.id)
        out.append(_command(u.type, u.sub_type, u.name, u.id, u.parent_id, ops))
    for task in tasks:
        if task.operation_id in seen:
            continue
        seen.add(task.operation_id)
        label = _command("STEP", task.sub_type, task.name, task.operation_id, task.parent_id, ops)
        if task.operation_id in recorded:
            label += f", attempt {task.attempt} (recorded as started, never finished)"
        out.append(label)
    return out


def _command(
    type_: str,
    sub_type: str | None,
    name: str | None,
    op_id: str,
    parent: str | None,
    ops: list[Operation],
) -> str:
    text = f"{type_}/{sub_type}" + (f" name={name!r}" if name is not None else "")
    where = _position(op_id, parent, len(ops))
    return f"{text} ({where})" if where else f"{text} (id {op_id[:12]})"


def _position(op_id: str, parent: str | None, size: int) -> str | None:
    """``"operation N of ..."`` for a positional id, found by search (ids are hashes)."""
    for ctx in (parent, None) if parent is not None else (None,):
        for n in range(size + 64):
            if operation_id(ctx, n) == op_id:
                label = "the root context" if ctx is None else f"context {ctx[:12]}"
                return f"operation {n} of {label}"
    return None


def _label(op: Operation, ops: list[Operation]) -> str:
    return _command(op.type, op.sub_type, op.name, op.id, op.parent_id, ops)


def _divergence(exc: NonDeterminismError, ops: list[Operation]) -> Divergence:
    position = exc.position
    if position is None and exc.operation_id is not None:
        op = next((o for o in ops if o.id == exc.operation_id), None)
        if op is not None:
            position = _position(op.id, op.parent_id, len(ops))
    return Divergence(
        message=str(exc),
        operation_id=exc.operation_id,
        position=position,
        recorded=exc.recorded,
        requested=exc.requested,
    )
