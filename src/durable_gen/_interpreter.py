"""The pure interpreter: recorded operations in, actions out.

No I/O, clock, thread or randomness: the host feeds it a history and outcomes, and pulls what
to do next with ``next_action()`` (``Flush``, ``RunTasks``, ``WaitForTasks`` or ``Done``, see
``durable_gen._actions``). Every replay rule lives in this module and the three it builds on
(``_interpreter_core``: positions, matching, contexts; ``_interpreter_batch``: Map, Parallel,
sagas; ``_interpreter_steps``: steps, retries, conditions, ``Now``):

1. Positions. Each context (the root, a child, a Map item, a Parallel branch) numbers the
   operations it yields from 1; the id of the n-th is ``operation_id(context_id, n)``. Map and
   Parallel item contexts are numbered from 0 under their batch.
2. Matching. The recorded operation at a position must have the command's type, subtype, name
   and parent; otherwise the execution fails with ``NonDeterminismError`` (never retried).
3. Replay. A SUCCEEDED operation sends its recorded result back into the generator; a FAILED one
   raises its recorded error (the same exception on every replay). A completed context is not
   re-entered, unless it was recorded with ``ReplayChildren`` (its result was too large).
4. Execution. The first unrecorded command becomes work: a ``StepTask`` for the host, or an
   update (START of a wait, callback, invoke or context) to checkpoint.
5. Steps. At-least-once steps send START together with their outcome; at-most-once steps send
   START before running and, found STARTED on replay, count as an interrupted attempt. A
   failure is retried (RETRY with a delay) while the policy allows, then FAILs.
6. Suspension. A generator blocks on a wait, a callback, an invoke or a retry delay; the
   execution suspends only when no generator can go on and no step is running.
7. Completion. A workflow that returns SUCCEEDS with its serialized result; an exception FAILs it
   (never raised out of here). Recorded operations never visited when it returns are reported
   as non-determinism (``Patched`` markers excepted).
8. Versioning. ``Patched``/``Deprecated`` markers are STEPs (subtype ``Patch``) whose id comes
   from the context id and the change id, not from the position counter. A recorded marker
   answers True; no marker while the context recorded its next positional operation (in a
   virtual child, also the code around it, after it) answers False (``Deprecated`` fails
   instead); otherwise the marker is recorded and answers True. A
   context decides each change id once. ``UUID``/``Random`` are derived from the execution
   ARN, the context id and a per-context draw count: nothing is recorded, no position taken.
   ``Now`` is a step whose function reads the clock the host gave the interpreter.
9. Flushing (the one place that decides when updates are checkpointed). Pending updates are
   flushed before anything else when one is urgent (an at-most-once or ``"eager"`` START, a
   callback's START); when a step outcome was recorded since the last flush (modes ``"step"``
   and ``"eager"``); and before the invocation ends or suspends. ``"batch"`` waits for those.
   In ``"step"`` mode the host may ask for a running step's START (``started(task)``): it is
   flushed at once, with everything pending before it.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterable
from operator import attrgetter
from types import CoroutineType
from typing import Any, Final

from . import _codec, _guard  # _guard: mistake detection
from ._actions import (
    Action,
    CheckpointMode,
    Coverage,
    Done,
    Failed,
    Flush,
    Outcome,
    RunTasks,
    StepCall,
    StepTask,
    Succeeded,
    Suspended,
    VirtualContextEvent,
    WaitForTasks,
    check_mode,
)
from ._arguments import checked
from ._aws_names import is_aws_wait_for_callback_name, wait_for_callback_names
from ._codec import PayloadFormat, decode_raw_text
from ._commands import (
    CallbackHandle,
    Child,
    Command,
    CreateCallback,
    Invoke,
    Map,
    Parallel,
    RunCompensations,
    Step,
    StepFunction,
    Wait,
    WaitForCallback,
    WaitForCondition,
    _PrevalidatedStep,
    unpartial,
)
from ._context import CURRENT, from_the_step, is_future, is_host_cancellation, unawaited_step
from ._errors import (
    CallbackFailedError,
    ChildFailedError,
    InvalidInputError,
    InvokeFailedError,
    NonDeterminismError,
    SerializationError,
    ValidationError,
    WorkflowDefinitionError,
    shown,
)
from ._failure import callback_error, error_object, raise_error
from ._ids import operation_id
from ._interpreter_batch import Compensate, step_body
from ._interpreter_core import (
    SEND_NONE,
    Answer,
    Blocked,
    Fatal,
    Fiber,
    Gen,
    decoded,
    describe,
    plain,
    returned_command,
)
from ._interpreter_steps import _PLAIN, NOT_STEP_SUBTYPES, StepHandlers
from ._paging import CheckedOperations, check_operations, check_status
from ._serdes import Serdes, dumps, loads
from ._service import serdes_hint
from ._versioning import (
    PATCH_SUBTYPE,
    UUID,
    Deprecated,
    Now,
    Patched,
    Random,
    derive_seed,
    is_marker,
    marker_id,
    read_clock,
)
from ._wire import (
    MAX_OPERATION_PAYLOAD_BYTES as OPERATION_LIMIT,
)
from ._wire import (
    TERMINAL_STATUSES,
    CallbackDetails,
    CallbackOptions,
    ChainedInvokeDetails,
    ChainedInvokeOptions,
    ContextDetails,
    ErrorObject,
    ExecutionDetails,
    Operation,
    OperationUpdate,
    StepDetails,
    WaitDetails,
    WaitOptions,
    unicode_error,
    unicode_spot,
)

__all__ = [
    "Action",
    "Done",
    "Failed",
    "Flush",
    "Interpreter",
    "Outcome",
    "RunTasks",
    "StepTask",
    "Succeeded",
    "Suspended",
    "WaitForTasks",
]


def check_payload_format(value: object) -> PayloadFormat:
    """``value`` if it is a payload format, else a ``ValidationError`` that names both."""
    if value == "json" or value == "aws":
        return value
    raise ValidationError(
        f"payload_format must be 'json' (plain JSON, the default) or 'aws' (AWS's typed "
        f"envelope, to hand executions to AWS's Python SDK), got {shown(value)}"
    )


def check_host_options(serdes: object, clock: object) -> None:
    """A ``ValidationError`` for a ``serdes`` or ``clock`` a host passed that cannot be one."""
    if serdes is not None and (isinstance(serdes, type) or not isinstance(serdes, Serdes)):
        raise ValidationError(
            f"serdes must be a Serdes (an object with serialize(value) -> str and "
            f"deserialize(str) methods) or None, got {shown(serdes)}{serdes_hint(serdes)}"
        )
    if clock is not None and not callable(clock):
        raise ValidationError(
            f"clock must be a function returning the time in epoch seconds (e.g. time.time) "
            f"or None, got {shown(clock)}"
        )
    if clock is not None:
        read_clock(clock)  # what it returns now: epoch seconds, or a ValidationError saying so


def _observe_hint(operations: object) -> str:
    """What to pass ``observe()`` instead of ``operations`` (the rare path of a host mistake)."""
    if isinstance(operations, dict):
        return ": pass the changed operations themselves, list(changed.values())"
    if isinstance(getattr(operations, "operations", None), list):
        return f": pass its operations ({type(operations).__name__}.operations)"
    return ""


_EXEC, _CONTEXT, _CALLBACK, _INVOKE = (
    ExecutionDetails,
    ContextDetails,
    CallbackDetails,
    ChainedInvokeDetails,
)


def _checked_operations(operations: object) -> list[Operation]:
    """The recorded operations as a list, or a ``ValidationError`` naming what is not one."""
    if isinstance(operations, str | bytes | dict) or not isinstance(operations, Iterable):
        raise ValidationError(
            "the Interpreter takes the execution's operations as a list of Operation values "
            f"(durable_gen.runtime.Operation), got {type(operations).__name__}: "
            + (
                "pass the store's values, list(store.values()), for operations kept in a "
                "dict by id (as apply_updates keeps them)"
                if isinstance(operations, dict)
                else "decode stored JSON with msgspec.json.decode(data, type=list[Operation])"
            )
        )
    ops = list(operations)
    for op in ops:
        if not isinstance(op, Operation):
            raise ValidationError(
                "the Interpreter takes Operation values (durable_gen.runtime.Operation), got "
                f"{type(op).__name__}: decode stored JSON with "
                "msgspec.json.decode(data, type=list[Operation])"
            )
        # Operation(...) checks no field's type: one a host built by hand with a wrong one
        # (an id that is a dict, StepDetails given as a dict) fails here, not deep in replay.
        step = op.step_details
        if (
            type(op.id) is not str
            or type(op.type) is not str
            or type(op.status) is not str
            or (op.parent_id is not None and type(op.parent_id) is not str)
            or (
                step is not None
                and (
                    type(step) is not StepDetails
                    or (step.attempt is not None and type(step.attempt) is not int)
                )
            )
            or (op.execution_details is not None and type(op.execution_details) is not _EXEC)
            or (op.context_details is not None and type(op.context_details) is not _CONTEXT)
            or (op.wait_details is not None and type(op.wait_details) is not WaitDetails)
            or (op.callback_details is not None and type(op.callback_details) is not _CALLBACK)
            or (
                op.chained_invoke_details is not None
                and type(op.chained_invoke_details) is not _INVOKE
            )
        ):
            raise ValidationError(_shape_error(op))
    return ops


def _shape_error(op: Operation) -> str:
    """What is wrong with an operation whose fields are not of their declared types."""
    step = op.step_details
    fields: list[tuple[str, object, type, bool]] = [
        ("id", op.id, str, False),
        ("type", op.type, str, False),
        ("status", op.status, str, False),
        ("parent_id", op.parent_id, str, True),
        ("execution_details", op.execution_details, ExecutionDetails, True),
        ("context_details", op.context_details, ContextDetails, True),
        ("step_details", step, StepDetails, True),
        ("wait_details", op.wait_details, WaitDetails, True),
        ("callback_details", op.callback_details, CallbackDetails, True),
        ("chained_invoke_details", op.chained_invoke_details, ChainedInvokeDetails, True),
    ]
    if type(step) is StepDetails:
        fields.append(("step_details.attempt", step.attempt, int, True))
    field, value, kind = next(
        (f, v, k)
        for f, v, k, optional in fields
        if not (optional and v is None) and type(v) is not k
    )
    return (
        f"operation {shown(op.id)} given to the Interpreter is not a well-formed Operation: "
        f"its {field} is {shown(value)}, not of type {kind.__name__}"
        f"{' (or None)' if field not in ('id', 'type', 'status') else ''}. Operation(...) "
        "does not check its fields' types: build them with the types durable_gen.runtime "
        "declares (step_details=StepDetails(attempt=1), not a dict), or decode stored JSON "
        "with msgspec.json.decode(data, type=list[Operation])"
    )


#: ``Interpreter(input=...)`` not given: the input comes from the EXECUTION operation.
_NO_INPUT: Any = type("_NoInput", (), {"__repr__": lambda self: "<from the EXECUTION operation>"})()


class _Closing:
    """What workflow code closed at the end of an invocation sees as the running interpretation:
    code that runs again later (the logger drops its lines; commands it builds are not noted)."""

    __slots__ = ("execution_arn", "unyielded")

    replaying = True
    catching_up = True

    def __init__(self, execution_arn: str) -> None:
        self.execution_arn = execution_arn
        self.unyielded: list[Any] = []


def _unreadable_child(type_: Any, name: str | None, wf: Any) -> SerializationError | None:
    """The error of a child whose declared result no payload can be decoded into (its work
    would be done and its result never read back); else None."""
    if type_ is Any:
        return None
    label = repr(name) if name else getattr(wf, "__qualname__", repr(wf))
    problem = _codec.undecodable(_codec.reader(type_), f"the result of child context {label}")
    if problem is None:
        return None
    return SerializationError(
        f"{problem}. The child was not run: its result could not be read back"
    )


#: What ``next_action()``, ``observe()`` and ``started()`` say once ``close()`` ended the
#: invocation (the workflow code it held is closed: nothing can go on from there).
_CLOSED: Final = (
    "this Interpreter was closed (close() ends its invocation, and the workflow code it held "
    "was closed with it): build a new Interpreter from the store's operations to go on (for "
    "the next invocation, or after news: a wait that ended, a callback answered), or call "
    "close() only when you give this one up; outcomes reported after close() are dropped, "
    "and the attempts run again there"
)


def _by_name(fn: Any) -> Any:
    """What ``fn``'s module and qualified name lead to in its module (the function a
    ``@dg.step`` there decorates standing for it), as ``run_step_call`` finds it in another
    process; None when the name leads nowhere. Another function than ``fn`` (the name rebound,
    a later definition of the same name) would run there in its place."""
    found: Any = fn.__globals__
    try:
        head, *rest = fn.__qualname__.split(".")
        found = found[head]
        for part in rest:
            found = getattr(found, part)
    except (KeyError, AttributeError):
        return None
    inner = getattr(found, "__wrapped__", None)
    if isinstance(found, StepFunction) and inner is not None:
        found = inner
    return found


class Interpreter(StepHandlers):
    """Replays a workflow against its recorded operations and says what to do next.

    A host drives it with one pull call and three inputs::

        interp = Interpreter(workflow, operations, execution_arn=arn, clock=time.time)
        while True:
            action = interp.next_action()
            if isinstance(action, Flush):          # checkpoint, then hand back the reply
                interp.observe(store.checkpoint(action.updates))
            elif isinstance(action, RunTasks):     # run each; report each outcome
                for task in action.tasks:
                    try:
                        interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
                    except Exception as exc:
                        interp.task_failed(task, exc)
            elif isinstance(action, WaitForTasks): # concurrent hosts: wait for one report
                ...
            else:                                  # Done: Succeeded, Failed or Suspended
                return action.outcome

    Args:
        workflow: The workflow generator function, called as ``workflow(input)``.
        operations: Every recorded operation of the execution (all pages).
        execution_arn: The execution's id; seeds deterministic jitter and helpers.
        input: The workflow input when no EXECUTION operation carries it (default None for an
            execution with no operations yet; operations without the EXECUTION operation and
            no ``input`` end at the first ``next_action`` with ``Done(Failed(ValidationError))``,
            as they are a later page of a history, not a new execution). It is encoded and
            decoded into the workflow's declared input type, as an EXECUTION operation's is.
        serdes: Serdes of the input and the result (default JSON).
        checkpointing: The flush policy: ``"step"`` (default), ``"eager"`` or ``"batch"``.
        clock: The host's clock, epoch seconds (e.g. ``time.time``), read by the step that
            records a ``Now()``; without one, a ``Now()`` step fails.
        payload_format: How results are recorded: ``"json"`` (default, plain JSON) or
            ``"aws"`` (AWS's typed envelope for step results, wait-for-condition states,
            context and batch results, and AWS's error types for step, context and execution
            failures, so that AWS's Python SDK can take the execution over). The workflow input
            and result and Invoke payloads are plain JSON in both. Either format is read.

    Raises:
        ValidationError: ``checkpointing`` is not one of the modes, ``payload_format`` is
            neither ``"json"`` nor ``"aws"``, ``operations`` is not a list of ``Operation``,
            ``serdes`` is not a ``Serdes``, ``clock`` is not callable, or ``execution_arn`` is
            not a str.
    """

    __slots__ = (
        "_awaiting_reply",
        "_bad_start",
        "_closed",
        "_done",
        "_draws",
        "_flushed",
        "_input",
        "_new_callbacks",
        "_outcome",
        "_patches",
        "_refuse_work",
        "_reply_must_carry",
        "_sent",
        "_started",
        "_stopped_while_running",
        "_trusted_replies",
        "serdes",
        "unyielded",
        "workflow",
    )

    #: Whether this interpreter checks code against a history (``testing.replay``) instead of
    #: running an invocation: then the execution may have ended.
    _checks_history = False

    @checked
    def __init__(
        self,
        workflow: Callable[..., Any],
        operations: Iterable[Operation],
        *,
        execution_arn: str = "",
        input: Any = _NO_INPUT,
        serdes: Serdes | None = None,
        checkpointing: CheckpointMode = "step",
        clock: Callable[[], float] | None = None,
        payload_format: PayloadFormat = "json",
    ) -> None:
        if serdes is not None or clock is not None:
            check_host_options(serdes, clock)
        if type(execution_arn) is not str and not isinstance(execution_arn, str):
            raise ValidationError(f"execution_arn must be a str, got {shown(execution_arn)}")
        bad = unicode_error(execution_arn)
        if bad is not None:
            # It seeds UUID(), Random() and retry jitter as UTF-8: the execution failed at its
            # first such command with a UnicodeEncodeError of the host's making.
            raise ValidationError(
                f"execution_arn is not valid Unicode text ({unicode_spot(bad)}), "
                f"got {shown(execution_arn)}: pass the execution's id as the service or store "
                "recorded it (a name decoded with surrogateescape keeps undecodable bytes so; "
                "decode it as UTF-8)"
            )
        # The drivers' operations were decoded as Operation and checked by load_operations.
        ops: list[Operation]
        if type(operations) is CheckedOperations:
            ops, checked = operations, True
        else:
            ops, checked = _checked_operations(operations), False
        if checkpointing != "step":
            check_mode(checkpointing)
        if payload_format != "json":
            check_payload_format(payload_format)
        self._setup(
            workflow, ops, checked, execution_arn, input, serdes, checkpointing, clock,
            payload_format,
        )  # fmt: skip

    @classmethod
    def _hosted(
        cls,
        workflow: Callable[..., Any],
        operations: CheckedOperations,
        execution_arn: str,
        serdes: Serdes | None,
        checkpointing: CheckpointMode,
        clock: Callable[[], float] | None,
        payload_format: PayloadFormat,
    ) -> Interpreter:
        """An interpreter for a driver whose options were checked once, where its handler was
        made (``make_handler``) or its invocation began (``invoke``), and whose operations
        ``load_operations`` checked: ``__init__`` without checking them again."""
        self = cls.__new__(cls)
        self._setup(
            workflow, operations, True, execution_arn, _NO_INPUT, serdes, checkpointing, clock,
            payload_format,
        )  # fmt: skip
        return self

    def _setup(
        self,
        workflow: Callable[..., Any],
        ops: list[Operation],
        checked: bool,
        execution_arn: str,
        input: Any,
        serdes: Serdes | None,
        checkpointing: CheckpointMode,
        clock: Callable[[], float] | None,
        payload_format: PayloadFormat,
    ) -> None:
        super().__init__(ops, execution_arn, checkpointing, clock)
        #: The execution ended (its EXECUTION operation): replaying it is fine, new work is not.
        self._refuse_work = self._ended_as is not None and not self._checks_history
        self._stopped_while_running = False
        self.payload_format = payload_format
        self._aws_types = payload_format == "aws"
        self.workflow = workflow
        self.serdes = serdes
        #: Why the workflow cannot start (a bad input): the first ``next_action`` ends with it.
        self._bad_start: Exception | None = None
        self._input: Any = None
        corrupt: InvalidInputError | None = None
        if not checked:
            try:
                check_operations(ops)
            except InvalidInputError as exc:  # a corrupt history: the first action says so
                corrupt = exc
        if self._has_input and input is not _NO_INPUT:
            raise ValidationError(
                "the operations carry the workflow's input (their EXECUTION operation), which "
                "the interpreter uses: input= is for operations without one; leave input= out"
            )
        if not self._has_input and input is _NO_INPUT and self._ops:
            # Recorded operations without the EXECUTION one: a later page, not a new execution.
            self._bad_start = ValidationError(
                "the operations hold no EXECUTION operation, which carries the workflow's input: "
                "pass the execution's whole state (its first page has the EXECUTION operation), "
                "or the input with input=..."
            )
        elif corrupt is not None:
            self._bad_start = corrupt
        elif self._has_input or input is not _NO_INPUT:
            # A given input= is what an EXECUTION operation would have carried: the workflow
            # receives it decoded into its declared type, as on an engine. Resumed (it recorded
            # more than its EXECUTION operation), the input was read by an earlier run: a type
            # that no longer reads it changed since, and the advice says so.
            what = "the workflow input"
            if self._has_input and len(self._ops) > 1:
                what = "the workflow input, as recorded"
            try:
                payload = (
                    self._input_payload
                    if self._has_input
                    else dumps(input, serdes, what=what, format=self.payload_format)
                )
                self._input = loads(
                    payload,
                    serdes,
                    type_=_codec.input_type(workflow) if serdes is None else Any,
                    what=what,
                )
            except SerializationError as exc:
                self._bad_start = exc
            if self._bad_start is None and serdes is None and len(self._ops) <= 1:
                # A new execution whose result no payload can be decoded into: said before
                # the body runs (and does its steps' work), not when it returns.
                problem = _codec.undecodable(
                    _codec.reader(_codec.result_type(workflow)), "the workflow result"
                )
                if problem is not None:
                    self._bad_start = SerializationError(
                        f"{problem}. The workflow was not run: its result could not be read back"
                    )
        self._outcome: Succeeded | Failed | None = None
        self._done: Done | None = None
        self._started = False
        self._awaiting_reply = False
        self._closed = False
        #: CALLBACK STARTs not flushed yet / flushed in the Flush awaiting its reply, which must
        #: carry each one with its callback id: (operation id, name).
        self._new_callbacks: list[tuple[str, str | None]] = []
        self._reply_must_carry: list[tuple[str, str | None]] = []
        #: Ids of the operations this interpreter sent updates for: with the recorded ones,
        #: the only operations ``observe()`` can be told about.
        self._sent: set[str] = set()
        #: The last update of each operation in the Flush awaiting its reply, which the reply
        #: must not contradict (``_contradiction``).
        self._flushed: dict[str, OperationUpdate] = {}
        #: Set by a driver whose service records each update as sent by construction (the
        #: embedded engine): its replies are not compared with the Flush they answer.
        self._trusted_replies = False
        self.unyielded: list[Any] = []  # _guard: commands built in the body, not yet yielded
        #: Patched/Deprecated decisions by marker id, and UUID/Random draws by context id.
        self._patches: dict[str, bool] = {}
        self._draws: dict[str | None, int] = {}

    # --- the host interface -----------------------------------------------------------------

    def next_action(self) -> Action:
        """Run the workflow until it needs the host; say what the host must do next.

        Returns:
            ``Flush``, ``RunTasks``, ``WaitForTasks`` or ``Done`` (see ``durable_gen.runtime``).

        Raises:
            ValidationError: the last ``Flush`` was not answered with ``observe()``.
        """
        if self._awaiting_reply:
            if self._closed:
                raise ValidationError(_CLOSED)
            raise ValidationError(
                "checkpoint the updates of the last Flush and pass the operations the reply "
                "changed to observe() (an empty list if none) before calling next_action() again"
            )
        if self._done is not None:
            return self._done
        if self._ready or not self._started:
            self._run()
        updates = self._updates
        if updates and (
            self._urgent or self._outcome is not None or (self._reported and self._mode != "batch")
        ):
            return self._flush(updates)
        if self._outcome is not None:
            self._done = Done(self._outcome)
            return Done(self._outcome, self._sent_events()) if self._events else self._done
        if self._new_tasks:
            if self._refuse_work:
                raise ValidationError(self._ended_message("run a step"))
            tasks, self._new_tasks = self._new_tasks, []
            return RunTasks(tasks, self._sent_events()) if self._events else RunTasks(tasks)
        if self._running:
            # tasks of abandoned fibers (a decided batch) hold nothing up
            running = [run.task for run in self._running.values() if run.fiber.alive and run.task]
            if running:
                return WaitForTasks(running, self._sent_events())
        if updates:
            return self._flush(updates)
        return Done(Suspended(self._waiting_on()), self._sent_events())

    def _flush(self, updates: list[OperationUpdate]) -> Flush:
        if self._refuse_work:
            raise ValidationError(self._ended_message("record updates"))
        self._updates = []
        self._sent.update(map(_UPDATE_ID, updates))
        if not self._trusted_replies:
            self._flushed = {update.id: update for update in updates}
        self._urgent = self._reported = False
        self._awaiting_reply = True
        if self._new_callbacks:
            self._reply_must_carry, self._new_callbacks = self._new_callbacks, []
        if self._events:
            events, self._events = tuple(self._events), []
            return Flush(updates, events)
        return Flush(updates)

    def _ended_message(self, what: str) -> str:
        if self._stopped_while_running:
            return (
                f"the execution ended as {self._ended_as} while this invocation ran (observe() "
                f"got its EXECUTION operation so) and its workflow would now {what}: the store "
                "records nothing more for it, and a step run now would have its side effect "
                "before the store refused its checkpoint. Give the invocation up (close() the "
                "interpreter, abandon the steps still running), do not invoke the execution "
                "again, drop its timers, and tell whoever answers its callbacks that it ended"
            )
        return (
            f"the execution ended as {self._ended_as} (the Status of its EXECUTION operation) "
            f"and its workflow would now {what}: an ended execution is not invoked again (a "
            "step run here would have its side effect before the store refused its "
            "checkpoint). Drop its timers, and tell whoever answers its callbacks that it "
            "ended; to check code against its history, use durable_gen.testing.replay"
        )

    def _sent_events(self) -> tuple[VirtualContextEvent, ...]:
        """The events an action other than a ``Flush`` carries: those that follow no update
        still unsent (the others go with the ``Flush`` of those updates)."""
        events = self._events
        if not events:
            return ()
        i = 0
        while i < len(events) and events[i].position == 0:
            i += 1
        sent = tuple(events[:i])
        del events[:i]
        return sent

    def observe(self, operations: Iterable[Operation]) -> None:
        """Take in operations the service changed (a checkpoint reply, or news between calls).

        Wakes what they unblock: a callback id, a completed wait, callback or invoke, a retry
        that is due. Call it after every ``Flush``, with an empty list if nothing changed.

        Raises:
            ValidationError: ``operations`` are not ``Operation`` values a service could send
                this execution, or the interpreter was closed (``close()``).
        """
        if self._closed:
            raise ValidationError(_CLOSED)
        if type(operations) is not list and (
            isinstance(operations, Operation | dict | str | bytes)
            or not isinstance(operations, Iterable)
        ):
            raise ValidationError(
                "observe() takes a list of the Operation values that changed (an empty list if "
                f"none), got {type(operations).__name__}{_observe_hint(operations)}"
            )
        must_carry = self._reply_must_carry if self._awaiting_reply else None
        flushed = self._flushed if self._awaiting_reply else None
        self._flushed = {}
        self._awaiting_reply = False
        ops = self._ops
        waiters = self._waiters
        # the reply's last copy of each operation is what the store recorded (a store that
        # records a Flush one update at a time may reply with every version, oldest first)
        last: dict[str, Operation] | None = None
        if flushed:
            operations = list(operations)
            last = {op.id: op for op in operations if isinstance(op, Operation)}
        for op in operations:
            if not isinstance(op, Operation):
                raise ValidationError(
                    f"observe() takes Operation values (durable_gen.runtime.Operation), got "
                    f"{type(op).__name__}"
                )
            if op.type == "EXECUTION":
                if op.status in _STOPPED_FROM_OUTSIDE and self._ended_as is None:
                    if op.id != (self._execution_id or op.id):
                        raise ValidationError(_unknown_news(op))
                    # stopped or timed out while this invocation runs: no step may start
                    # now, its side effect would come before the store refused its record
                    self._ended_as = op.status
                    self._refuse_work = not self._checks_history
                    self._stopped_while_running = True
                continue
            problem = check_status(op)
            if problem is not None:
                raise ValidationError(f"observe() got an operation no service sends: {problem}")
            if flushed and last is not None and last.get(op.id) is op:
                update = flushed.get(op.id)
                if update is not None:
                    contradiction = _contradiction(update, op)
                    if contradiction is not None:
                        raise ValidationError(contradiction)
            prev = ops.get(op.id)
            if prev is None:
                if op.id not in self._sent:
                    raise ValidationError(_unknown_news(op))
            elif prev is not op and (
                prev.type != op.type
                or (prev.status != op.status and prev.status in TERMINAL_STATUSES)
                or _other_copy(prev, op)
            ):
                raise ValidationError(_stale_news(prev, op))
            ops[op.id] = op
            if op.id in waiters:
                self._wake(op)
        if must_carry:
            self._reply_must_carry = []
            for op_id, name in must_carry:
                op = ops.get(op_id)
                details = op.callback_details if op is not None else None
                if details is None or not details.callback_id:
                    raise ValidationError(
                        f"the reply to the Flush that started CALLBACK {op_id!r}"
                        f"{f' ({name!r})' if name else ''} did not carry it with its "
                        "CallbackDetails.CallbackId, which the workflow waits for: pass "
                        "observe() the operations the checkpoint changed (Applied.operations "
                        "from apply_updates), after the store recorded the Flush"
                    )

    def _observe_no_reply(self) -> None:
        """Go on after a ``Flush`` that was never sent (the replayer answers no checkpoint):
        what waits for its reply, a new callback's id, stays blocked."""
        self._reply_must_carry = []
        self.observe(())

    def task_succeeded(self, task: StepTask, value: Any) -> None:
        """Report that ``task`` returned ``value``.

        Raises:
            ValidationError: ``task`` is not running (reported twice, or not from here), or
                ``value`` is the coroutine of an async task's ``fn``, not awaited, or a future
                that the task's ``fn`` did not return (a thread pool's, an ``asyncio.Task``):
                the task stays running; report what awaiting it returns.
        """
        if type(value) is CoroutineType and unawaited_step(value):  # (no call for the rest)
            raise ValidationError(
                f"task_succeeded() got the coroutine that {task!r}.fn returned: the task is "
                "async (task.is_async), so await task.fn(*task.args, **task.kwargs) (in an event "
                "loop: asyncio.run, anyio, a portal) and report the value it returns; the task "
                "is still running"
            )
        if type(value) not in _PLAIN and is_future(value) and not self._host_sets_step:
            run = self._running.get(task.id) if isinstance(task, StepTask) else None
            if run is not None and run.task is task and not any(v is value for v in run.returned):
                raise ValidationError(
                    f"task_succeeded() got a {type(value).__name__} for {task!r}: a future "
                    "that will hold the step's outcome, not its value (its fn did not return "
                    "it). Wait for it and report what it holds: future.result() once it is "
                    "done (cf.wait, asyncio.wait), or await it, then task_succeeded(task, "
                    "value) or task_failed(task, exc) for what it raised; the task is still "
                    "running"
                )
        run = self._take(task)
        if run.fiber.alive:
            self._step_returned(run, value)

    def task_failed(self, task: StepTask, error: BaseException) -> None:
        """Report that ``task`` raised ``error``; retries or fails the step per its policy.

        Raises:
            ValidationError: ``task`` is not running (reported twice, or not from here), or
                ``error`` is not an ``Exception`` (a ``KeyboardInterrupt``, ``SystemExit`` or
                ``CancelledError`` is the host's crash or cancellation, not the step's failure:
                nothing is recorded and the task stays running), or is
                ``concurrent.futures.CancelledError`` from a future the host cancelled (not
                raised by the step's own code).
        """
        if not isinstance(error, Exception):
            if isinstance(error, BaseException):
                raise ValidationError(
                    f"task_failed() got {type(error).__name__}: a {type(error).__name__} is not a "
                    "step's failure but the host's crash or cancellation, which must not be "
                    "recorded (the step would fail for good): re-raise it and give the "
                    "invocation up, so that the attempt runs again at the next invocation, as on "
                    "the embedded engine and Lambda; for an attempt cancelled at its deadline, "
                    "report task_failed(task, StepTimeoutError(...))"
                )
            if isinstance(error, type) and issubclass(error, BaseException):
                raise ValidationError(
                    f"task_failed() takes the exception the task raised, got the class "
                    f"{error.__name__}: pass the exception itself (the instance the step "
                    "raised, as caught by `except Exception as exc`)"
                )
            raise ValidationError(
                f"task_failed() takes the exception the task raised, got {type(error).__name__}: "
                "report a returned value with task_succeeded()"
            )
        if not self._host_sets_step and is_host_cancellation(error):
            raise ValidationError(
                f"task_failed() got concurrent.futures.CancelledError for {task!r}: its "
                "future was cancelled, which is the host's doing, not the step's failure, and "
                "must not be recorded (the step would fail for good, or lose an attempt, without "
                "having run to its end). For an attempt cancelled at its deadline, report "
                "task_failed(task, StepTimeoutError(...)); when the host shuts down, give the "
                "invocation up, so that the attempt runs again at the next one; the task is "
                "still running"
            )
        run = self._take(task)
        from_the_step(error)  # the host's frames are not the step's (the engine records none)
        if run.fiber.alive:
            self._attempt_failed(run, error)

    def started(self, task: StepTask) -> Flush | None:
        """Ask for the START of ``task``'s attempt while it is still running.

        A host calls this when a step runs past a short window, so that the history carries
        the attempt's true start time and a crash during it leaves the START recorded. In
        ``"step"`` mode, when the START has not gone out yet, it returns a ``Flush`` of every
        pending update with that START last: checkpoint it and ``observe()`` the reply, as for
        a ``Flush`` from ``next_action()``. Otherwise (``"eager"`` or at-most-once: the START
        went out before the task; ``"batch"``: nothing goes out before a suspension; the task
        is no longer running) it returns None and nothing changes.

        Raises:
            ValidationError: the last ``Flush`` was not answered with ``observe()``, or
                ``task`` is not a ``StepTask`` this interpreter handed out.
        """
        if self._awaiting_reply:
            if self._closed:
                raise ValidationError(_CLOSED)
            raise ValidationError(
                "checkpoint the updates of the last Flush and pass the operations the reply "
                "changed to observe() before asking for a step's START"
            )
        if not self._start_early(task):
            return None
        return self._flush(self._updates)

    def step_call(self, task: StepTask) -> StepCall | None:
        """``task`` as plain data another process can run: a ``StepCall``, or None.

        For a process pool: ``pool.submit(runtime.run_step_call, interp.step_call(task))``
        runs the attempt in a worker process that imports the step's function by name, and
        its value or exception is reported for ``task`` as from ``task.fn``. None when the
        function cannot be imported by name (a lambda, a nested function, a method, a
        ``functools.partial``, an ``async def``; ``Now()`` and a ``WaitForCondition``'s
        check): run that task in this process.

        Raises:
            ValidationError: ``task`` is not a running ``StepTask`` this interpreter handed out.
        """
        run = self._running.get(task.id) if isinstance(task, StepTask) else None
        if run is None or run.task is not task:
            raise ValidationError(
                f"step_call() takes a running StepTask of this interpreter's RunTasks, got "
                f"{task!r}: ask the interpreter that handed it out, before reporting it"
            )
        fn = run.fn
        if (
            task.sub_type in NOT_STEP_SUBTYPES
            or task.is_async
            or not inspect.isfunction(fn)
            or "<" in fn.__qualname__
            or not fn.__module__
            or _by_name(fn) is not fn
        ):
            return None
        return StepCall(
            function=f"{fn.__module__}:{fn.__qualname__}",
            args=task.args,
            kwargs=task.kwargs,
            execution_arn=self.execution_arn,
            operation_id=task.operation_id,
            name=task.name,
            attempt=task.attempt,
            parent_id=task.parent_id,
        )

    @property
    def replaying(self) -> bool:
        """True while the workflow code running now already ran in an earlier invocation.

        That is while the context being run still has recorded operations it has not reached
        again: the code before them ran when they were recorded. Code past the last recorded
        operation of its context is new (after a wait fired, a callback was answered, a retry
        came due), whatever the command before it was. A child context recorded as ended whose
        body runs again to rebuild a result too large to record (``ReplayChildren``) ran
        before all through. Replay-aware helpers (the logger) read it through
        ``durable_gen._context`` while ``next_action()`` runs workflow code.
        """
        fiber = self._fiber
        return fiber is not None and self._ran_before(fiber)

    @property
    def catching_up(self) -> bool:
        """Whether some recorded operation (markers aside) has not been reached again yet."""
        return len(self._visited) < self._to_reach

    @property
    def operations(self) -> dict[str, Operation]:
        """The operations known so far (recorded, plus those ``observe()`` took in)."""
        return self._ops

    @property
    def running(self) -> int:
        """Tasks handed out and not reported yet."""
        return len(self._running)

    @property
    def pending_updates(self) -> tuple[OperationUpdate, ...]:
        """Updates recorded but not handed out in a ``Flush`` yet, oldest first (a copy)."""
        return tuple(self._updates)

    @property
    def pending_events(self) -> tuple[VirtualContextEvent, ...]:
        """Virtual contexts' events not handed out yet, oldest first (a copy)."""
        return tuple(self._events)

    @property
    def draws(self) -> int:
        """How many values ``UUID()`` and ``Random()`` gave so far: they derive from the
        execution ARN, so a host that does not know it gets other values."""
        return sum(self._draws.values())

    @property
    def coverage(self) -> Coverage:
        """Which recorded operations the workflow reached so far (see ``Coverage``)."""
        visited, expanded = self._visited, self._expanded
        replayed = []
        not_replayed = []
        inside = []
        for op in self._recorded:
            if is_marker(op):
                continue
            if op.id in self._left_behind:  # in a decided batch: not re-entered
                inside.append(op)
            elif op.id in visited:
                replayed.append(op.id)
            elif op.parent_id in expanded:
                not_replayed.append(op)
            else:
                inside.append(op)
        return Coverage(
            recorded=self._to_reach,
            replayed=frozenset(replayed),
            not_replayed=tuple(not_replayed),
            inside_completed=tuple(inside),
        )

    # --- the run loop -------------------------------------------------------------------------

    def _run(self) -> None:
        token = CURRENT.set(self)
        try:
            if not self._started:
                self._started = True
                self._start_root()
            ready = self._ready
            drive = self._drive
            while ready:
                fiber, value, exc = ready.popleft()
                if fiber.alive:
                    drive(fiber, value, exc)
            if self.unyielded:  # _guard: report commands built and never yielded
                _guard.sweep(self)
        except Fatal as fatal:
            self._fail(fatal.error)
        finally:
            CURRENT.reset(token)

    def _start_root(self) -> None:
        if self._bad_start is not None:
            self._fail(self._bad_start)
            return
        try:
            gen = self.workflow(self._input)
        except TypeError as exc:
            self._fail(_guard.cannot_start(self.workflow, exc))  # _guard: not one argument
            return
        except Exception as exc:
            self._fail(exc)
            return
        if not inspect.isgenerator(gen):
            step = isinstance(gen, Step)  # a @step function given as the workflow
            self._fail(_guard.not_a_generator(self.workflow, gen, made_a_step=step))
            return
        root = Fiber(gen, None, self._root_done)
        self._track(root)
        self._ready.append((root, None, None))

    def _drive(self, fiber: Fiber, value: Any, exc: BaseException | None) -> None:
        self._fiber = fiber
        gen = fiber.gen
        handlers = _HANDLERS
        while True:
            try:
                cmd = gen.send(value) if exc is None else gen.throw(exc)
                if self.unyielded:  # _guard: clear the yielded command's note
                    try:
                        _guard.yielded(self, cmd)
                    except _guard.UnyieldedCommandWarning as warning:  # warnings are errors:
                        raise Fatal(warning) from None  # the execution fails, not one item
            except StopIteration as stop:
                fiber.alive = False
                fiber.on_done(fiber, stop.value, None)
                return
            except Fatal:
                raise
            except Exception as error:
                error = _guard.explained(error, Command)  # _guard: a command used as its result
                fiber.alive = False
                fiber.on_done(fiber, None, error)
                return
            handler = handlers.get(type(cmd))
            if handler is None:
                handler = self._lookup(cmd)
                if handler is None:
                    value, exc = None, _guard.not_a_command(cmd, Command)
                    continue
            try:
                answer = handler(self, fiber, cmd)
            except Fatal:
                raise
            except Exception as error:  # e.g. a payload that cannot be serialized
                value, exc = None, error  # raised at the yield, where the workflow can catch it
                continue
            if type(answer) is Blocked:
                return
            value, exc = answer

    def _lookup(self, cmd: object) -> Callable[[Interpreter, Fiber, Any], Answer] | None:
        for cls, handler in _HANDLERS.items():
            if isinstance(cmd, cls):
                return handler
        return None

    def close(self) -> None:
        """The host is done with this interpreter: close the workflow code still suspended.

        Call it when an invocation ends (after ``Done``, or when the host gives the invocation
        up). A generator left suspended at a ``yield`` runs its ``finally`` blocks (and
        ``with`` exits) when it is closed, else whenever the garbage collector gets to it, on
        whatever thread runs then: lines the durable logger wrote there would come out at each
        suspension, without the execution's fields, or with those of another execution running
        at the time. Closed here, that code runs now, as code that will run again (the logger
        drops its lines, as in a replay; the invocation that really gets there logs them), and
        what it raises is dropped, as the garbage collector drops it. Calling it again does
        nothing; the interpreter is not to be used after it: ``next_action()``, ``observe()``
        and ``started()`` then raise ``ValidationError`` (build a new interpreter from the
        store to go on).
        """
        # From now on next_action() and started() refuse, as while a Flush awaits its reply
        # (the check they make anyway): an action of a closed interpreter would leave out what
        # the workflow code it closed was still to do (a step reported after close, dropped).
        self._closed = self._awaiting_reply = True
        fibers, self._fibers = self._fibers, []
        # ended, or never started: nothing to run (gi_suspended: a generator paused at a yield)
        suspended = [fiber for fiber in fibers if getattr(fiber.gen, "gi_suspended", False)]
        if not suspended:
            return
        token = CURRENT.set(_Closing(self.execution_arn))
        try:
            for fiber in reversed(suspended):  # the innermost first, as they were started
                if not getattr(fiber.gen, "gi_suspended", False):
                    continue  # closed meanwhile, by a fiber that held it
                fiber.alive = False
                with contextlib.suppress(Exception):  # what a discarded `finally` raises
                    fiber.gen.close()
        finally:
            CURRENT.reset(token)

    def _fail(self, error: BaseException) -> None:
        if isinstance(error, NonDeterminismError):
            error = self._with_context_path(self._with_marker_hint(error))
        self._outcome = Failed(error_object(error, aws_types=self._aws_types), error)
        self._ready.clear()
        self._new_tasks.clear()

    def _with_marker_hint(self, error: NonDeterminismError) -> NonDeterminismError:
        """``error`` saying, when it applies, that the context where the code diverged had
        recorded a ``Patched`` marker before that point which the code did not evaluate: a
        ``Patched`` removed, or its change id renamed, while executions that took its new path
        run is the likely change, and the positions alone do not say so."""
        rec = self._ops.get(error.operation_id) if error.operation_id else None
        if rec is None or (error.requested or "").startswith("Deprecated("):
            return error
        missed = self._skipped_markers(rec.parent_id, rec)
        if not missed:
            return error
        hint = (
            f"Before this point the execution recorded the marker of change "
            f"{', '.join(missed)}, which this code did not evaluate: either this code is older "
            f"than the code that recorded it (a worker not yet deployed: stop the workers on the "
            f"old code before workers on the new code start), or a Patched(...) was removed, or "
            f"its change id renamed, while executions that took its new path run: restore it "
            f"(keep a change id, under Patched or Deprecated, until they end; docs/versioning.md)"
        )
        return NonDeterminismError(
            f"{str(error).rstrip('.')}. {hint}",
            operation_id=error.operation_id,
            position=error.position,
            recorded=error.recorded,
            requested=error.requested,
        )

    def _with_context_path(self, error: NonDeterminismError) -> NonDeterminismError:
        """``error`` naming, by type and name, the recorded contexts the diverging operation
        sits in, innermost first: its position names its context by id only, which says
        little in a Map of many items or in children several deep."""
        ops = self._ops
        rec = ops.get(error.operation_id) if error.operation_id else None
        parent = rec.parent_id if rec is not None else None
        if rec is None and error.position and " of context " in error.position:
            short = error.position.rsplit(" ", 1)[-1]  # a new position: its context's id, cut
            parent = next((i for i in ops if i.startswith(short)), None)
        where = self._context_where(parent)
        if where is None:
            return error
        return NonDeterminismError(
            f"{str(error).rstrip('.')}. {where}",
            operation_id=error.operation_id,
            position=error.position,
            recorded=error.recorded,
            requested=error.requested,
        )

    def _root_done(self, fiber: Fiber, value: Any, exc: BaseException | None) -> None:
        if exc is not None:
            self._fail(exc)
            return
        unvisited = self._unvisited()
        if unvisited:
            first = unvisited[0]
            what = describe(first.type, first.sub_type, first.name, first.parent_id)
            self._fail(
                NonDeterminismError(
                    f"the workflow returned but {len(unvisited)} recorded operation(s) were never "
                    f"reached, the first {what} "
                    f"(id {first.id[:12]}): the code no longer yields what this execution recorded",
                    operation_id=first.id,
                    recorded=what,
                )
            )
            return
        what = "the workflow result"
        try:
            if self.serdes is None and isinstance(value, Command):
                raise returned_command(value, what)
            payload = dumps(value, self.serdes, what=what)
            if self.serdes is None:  # the result fits the declared type, as a child's must
                declared = _codec.result_type(self.workflow)
                if declared is not Any:
                    decoded = _codec.decode(payload, declared, what=what)
                    if type(decoded) is not type(value):
                        cut = _codec.narrowed(value, decoded, what, declared)
                        if cut is not None:
                            raise cut
        except SerializationError as error:
            self._fail(error)
        else:
            self._outcome = Succeeded(payload)

    def _waiting_on(self) -> list[str]:
        out = []
        for op_id, waiting in self._waiters.items():
            if not any(self.waited_on(fiber) for fiber, _ in waiting):
                continue  # only items a decided batch abandoned wait on it
            op = self._ops.get(op_id)
            label = (op.name or op.type) if op is not None else op_id[:12]
            out.append(f"{label} ({op_id[:12]})")
        return out

    # --- waits, callbacks, invokes --------------------------------------------------------------

    def _on_wait(self, fiber: Fiber, cmd: Wait) -> Answer:
        op_id, rec = self._position(fiber, "WAIT", "Wait", cmd.name)
        if rec is None:
            self._start(
                fiber,
                op_id,
                "WAIT",
                "Wait",
                cmd.name,
                wait_options=WaitOptions(wait_seconds=cmd.seconds),
            )
        return self._block(fiber, op_id, _wait_done)

    def _on_create_callback(self, fiber: Fiber, cmd: CreateCallback) -> Answer:
        sub_type = cmd.sub_type or "Callback"
        op_id, rec = self._position(fiber, "CALLBACK", sub_type, cmd.name)
        if rec is None:
            self._start(
                fiber,
                op_id,
                "CALLBACK",
                sub_type,
                cmd.name,
                callback_options=CallbackOptions(
                    timeout_seconds=cmd.timeout, heartbeat_timeout_seconds=cmd.heartbeat_timeout
                ),
            )
            self._urgent = True  # the reply carries the callback id the workflow waits for
            self._new_callbacks.append((op_id, cmd.name))
        else:
            if rec.callback_details is None or not rec.callback_details.callback_id:
                # the handle is that id: waiting on would wait for good, for nothing can
                # answer a callback without one (AWS's SDK fails such a history too)
                named = f" ({rec.name!r})" if rec.name else ""
                raise Fatal(
                    InvalidInputError(
                        f"the {rec.status} CALLBACK {op_id!r}{named} has no "
                        "CallbackDetails.CallbackId: the handle CreateCallback gives the "
                        "workflow is that id, which replay cannot invent, so the history is "
                        "truncated or corrupt; the store must keep the id it issued with the "
                        "callback (apply_updates does)"
                    )
                )
            # The invocation that created it ran on until it awaited the callback (or until
            # its next command, which would be recorded after it).
            fiber.ran_before = True
        serdes = cmd.serdes

        def created(op: Operation) -> Answer | None:
            d = op.callback_details
            if d is None or not d.callback_id:
                return None
            return (
                CallbackHandle(
                    callback_id=d.callback_id,
                    operation_id=op.id,
                    serdes=serdes,
                    result_type=cmd.result_type,
                ),
                None,
            )

        return self._block(fiber, op_id, created)

    def _on_await_callback(self, fiber: Fiber, handle: CallbackHandle) -> Answer:
        rec = self._ops.get(handle.operation_id)
        if rec is None or rec.type != "CALLBACK":  # a handle built by hand, or from elsewhere
            raise WorkflowDefinitionError(
                f"the workflow yielded a CallbackHandle of operation {handle.operation_id!r}, "
                "which is no callback of this execution: yield the handle that `handle = "
                "yield dg.CreateCallback(...)` gave (a handle is not built by hand, nor kept "
                "from another execution)"
            )
        fiber.ran_before = False
        serdes = handle.serdes
        type_ = Any if handle.result_type is None else handle.result_type

        def answered(op: Operation) -> Answer | None:
            status = op.status
            if status not in TERMINAL_STATUSES:
                return None
            d = op.callback_details
            if status == "SUCCEEDED":
                payload = d.result if d else None
                if not payload and serdes is None and type_ is not Any:  # sent nothing: None
                    return (None, _empty_answer(type_, "the callback result", "the sender sent"))
                answer = decoded(payload, serdes, type_, "the callback result")
                return answer if answer[1] is None else self._placed(answer, op.parent_id)
            return (None, callback_error(d.error if d else None, status))

        return self._block(fiber, handle.operation_id, answered)

    def _on_invoke(self, fiber: Fiber, cmd: Invoke) -> Answer:
        op_id, rec = self._position(fiber, "CHAINED_INVOKE", "ChainedInvoke", cmd.name)
        if rec is None:
            self._start(
                fiber,
                op_id,
                "CHAINED_INVOKE",
                "ChainedInvoke",
                cmd.name,
                payload=dumps(
                    cmd.payload,
                    cmd.serdes,
                    what=f"the Invoke payload for {cmd.name or cmd.function_name!r}",
                    limit=OPERATION_LIMIT,
                ),
                chained_invoke_options=ChainedInvokeOptions(
                    function_name=cmd.function_name, tenant_id=cmd.tenant_id
                ),
            )
        serdes = cmd.serdes
        type_ = Any if cmd.result_type is None else cmd.result_type
        what = f"the result of invoke {cmd.name or cmd.function_name!r}"

        def finished(op: Operation) -> Answer | None:
            if op.status not in TERMINAL_STATUSES:
                return None
            d = op.chained_invoke_details
            if op.status == "SUCCEEDED":
                payload = d.result if d else None
                if not payload and serdes is None and type_ is not Any:  # returned nothing
                    return (None, _empty_answer(type_, what, "the invoked function returned"))
                answer = decoded(payload, serdes, type_, what)
                return answer if answer[1] is None else self._placed(answer, op.parent_id)
            err = d.error if d else None
            if err is None:
                err = ErrorObject(
                    error_type=f"Invoke.{op.status}", error_message=f"invoke {op.status.lower()}"
                )
            elif err.error_type is None and op.status != "FAILED":
                # the service records a stopped invoked execution's error with a message alone
                err = ErrorObject(
                    error_type=f"Invoke.{op.status}",
                    error_message=err.error_message or f"invoke {op.status.lower()}",
                    error_data=err.error_data,
                    stack_trace=err.stack_trace,
                )
            return (None, raise_error(InvokeFailedError, err))

        return self._block(fiber, op_id, finished)

    # --- child contexts -----------------------------------------------------------------------

    def _on_child(self, fiber: Fiber, cmd: Child) -> Answer:
        name = cmd.op_name
        wf, args, kwargs = cmd.workflow, cmd.args, cmd.kwargs or {}
        body = (
            (lambda: step_body(wf, args, kwargs))  # a @step function: one step, its options
            if isinstance(wf, StepFunction)
            else (lambda: wf(*args, **kwargs))
        )
        type_ = _codec.result_type(wf) if cmd.serdes is None else Any
        sub_type = cmd.sub_type or "RunInChildContext"
        if cmd.virtual:
            unreadable = _unreadable_child(type_, name, wf)
            if unreadable is not None:
                return (None, unreadable)
            return self._enter_virtual(
                fiber, sub_type, name, body, cmd.serdes, ChildFailedError, type_
            )
        op_id, rec = self._position(fiber, "CONTEXT", sub_type, name, unpartial(wf))
        if rec is None:
            unreadable = _unreadable_child(type_, name, wf)
            if unreadable is not None:  # raised at the yield, before the child runs
                return (None, unreadable)
        if rec is not None and rec.name != name:  # matched after its function (``_match``)
            name = rec.name  # updates keep the recorded name
        if rec is not None and isinstance(wf, StepFunction):
            self._check_child_step(fiber, op_id, cmd, wf)
        return self._enter_context(
            fiber, op_id, rec, sub_type, name, body, cmd.serdes, ChildFailedError, type_
        )

    def _on_wait_for_callback(self, fiber: Fiber, cmd: WaitForCallback) -> Answer:
        op_id, rec = self._position(fiber, "CONTEXT", "WaitForCallback", cmd.name)

        # Inner names as AWS's SDK records them ("x create callback id", "x submitter"); a
        # history recorded before durable_gen did so keeps its names (an unnamed callback, a
        # submitter step named after its function).
        callback_name: str | None
        submitter_name: str | None
        callback_name, submitter_name = wait_for_callback_names(cmd.name)
        recorded = self._ops.get(operation_id(op_id, 1)) if rec is not None else None
        if recorded is not None and not is_aws_wait_for_callback_name(cmd.name, recorded.name):
            if cmd.name is not None and recorded.name == f"{cmd.name}-callback":
                # recorded before that, by a named WaitForCallback: "x-callback", "x-submitter"
                callback_name, submitter_name = recorded.name, f"{cmd.name}-submitter"
            else:
                callback_name = submitter_name = None

        submitter = cmd.submitter
        retry = cmd.retry
        options: dict[str, Any] = {}
        if isinstance(submitter, StepFunction):
            # a @step submitter keeps its options; WaitForCallback(retry=) wins over its retry
            retry = submitter.retry if retry is None else retry
            options = {
                "semantics": submitter.semantics,
                "serdes": submitter.serdes,
                "timeout": submitter.timeout,
                "sub_type": submitter.sub_type,
            }

        def body() -> Gen:
            handle = yield CreateCallback(
                name=callback_name,
                timeout=cmd.timeout,
                heartbeat_timeout=cmd.heartbeat_timeout,
                serdes=cmd.serdes,
                result_type=cmd.result_type,
                sub_type=cmd.sub_type,
            )
            yield Step(
                plain(submitter),
                (handle.callback_id,),
                name=submitter_name,
                retry=retry,
                **options,
            )
            return (yield handle)

        details = rec.context_details if rec is not None else None
        if (
            rec is not None
            and rec.status == "SUCCEEDED"
            and not (details and details.replay_children)
            and cmd.serdes is None
            and cmd.result_type is not None
        ):
            # completed by AWS's SDK, the record may be the sender's raw text (migration.md)
            try:
                what = f"the result of {cmd.name!r}, as recorded"
                payload = details.result if details else None
                return (decode_raw_text(payload, cmd.result_type, what=what), None)
            except SerializationError as exc:
                return (None, exc)
        return self._enter_context(
            fiber,
            op_id,
            rec,
            "WaitForCallback",
            cmd.name,
            body,
            cmd.serdes,
            CallbackFailedError,
            Any if cmd.result_type is None else cmd.result_type,
        )

    # --- versioning and deterministic helpers ----------------------------------------------------

    def _on_patched(self, fiber: Fiber, cmd: Patched | Deprecated) -> Answer:
        # A recorded marker means new code reached this point; no marker while the context
        # recorded its next positional operation means old code went past it; otherwise this
        # is the frontier: take the new path and record the marker (before what follows).
        mid = marker_id(fiber.ctx_id, cmd.change_id)
        decided = self._patches.get(mid)
        if decided is None:
            if mid in self._ops:
                decided = True
            elif self._went_past(fiber) is not None or self._ended_before(fiber):
                decided = False
            else:
                decided = True
                self._updates.append(
                    OperationUpdate(
                        id=mid,
                        type="STEP",
                        action="SUCCEED",
                        parent_id=fiber.parent_id,
                        name=cmd.change_id,
                        sub_type=PATCH_SUBTYPE,
                    )
                )
            self._patches[mid] = decided
        if isinstance(cmd, Patched):
            return (decided, None)
        if not decided:
            past = self._went_past(fiber)
            keep = f"keep Patched({cmd.change_id!r}) and the old branch until such executions end"
            if past is None:  # decided False: the execution's code ended before this point
                raise Fatal(
                    NonDeterminismError(
                        f"change {cmd.change_id!r} is Deprecated but this execution recorded "
                        f"no marker for it and ended ({self._ended_as}) before reaching this "
                        f"point, as one that took the old path does; {keep}",
                        position="the end of the execution",
                        recorded=f"the execution's end ({self._ended_as})",
                        requested=f"Deprecated({cmd.change_id!r})",
                    )
                )
            rec, at = past
            n = at.n + 1
            parent = at.parent_id
            ctx = "the root context" if parent is None else f"context {parent[:12]}"
            where = f"operation {n} of {ctx}"
            if rec.id == at.ctx_id:  # the context itself: it completed before the change
                where = f"the end of context {rec.id[:12]}, which completed"
            recorded = describe(rec.type, rec.sub_type, rec.name, rec.parent_id)
            completed = rec.id == at.ctx_id  # then every marker inside it came before its end
            others = self._skipped_markers(fiber.parent_id, None if completed else rec)
            if others:  # a new-path execution whose change id is spelled otherwise here
                listed = ", ".join(others)
                keep = (
                    f"this context recorded the marker of change {listed}, which the code "
                    f"does not evaluate: if {cmd.change_id!r} is that change under another id, "
                    f"the execution took its new path: give Deprecated the recorded id (a "
                    f"change id must not change while executions that recorded it run); "
                    f"otherwise {keep}"
                )
            raise Fatal(
                NonDeterminismError(
                    f"change {cmd.change_id!r} is Deprecated but this execution recorded no "
                    f"marker for it and went past this point (it recorded {recorded} at "
                    f"{where}), as one that took the old path does; {keep}",
                    operation_id=rec.id,
                    position=where,
                    recorded=recorded,
                    requested=f"Deprecated({cmd.change_id!r})",
                )
            )
        return SEND_NONE

    def _skipped_markers(self, parent_id: str | None, before: Operation | None) -> list[str]:
        """The change ids of the markers context ``parent_id`` recorded before ``before`` (in
        the order recorded; None: all of them) that this replay did not evaluate: a
        ``Patched`` removed or its change id renamed since shows up here. A marker is recorded
        before what its new path does, so one recorded later belongs to a later change."""
        skipped: list[str] = []
        for op in self._ops.values():
            if op is before:
                break
            if (
                is_marker(op)
                and op.parent_id == parent_id
                and op.id not in self._patches
                and op.name is not None
            ):
                skipped.append(repr(op.name))
        return skipped

    def _ended_before(self, fiber: Fiber) -> bool:
        """Whether the execution's code ended before the fiber's position: it returned or
        raised (its EXECUTION operation SUCCEEDED or FAILED) and the fiber is in its root
        context, or in virtual child contexts of it, which record nothing of their own. A
        replay of an ended history then answers ``Patched`` as at the end of a child context
        that completed: the old code went past this point."""
        if self._ended_as not in ("SUCCEEDED", "FAILED"):
            return False
        f = fiber
        while f.outer is not None:
            f = f.outer
        return f.ctx_id is None

    def _went_past(self, fiber: Fiber) -> tuple[Operation, Fiber] | None:
        """What shows that old code went past the fiber's position, and in which fiber: what
        its context recorded at its next position (the operation there, or when a virtual
        child context was there, which records nothing itself and may nest, the first
        operation recorded inside it, or the operation after it). In a virtual child whose
        code recorded nothing after this point, what the code around it recorded after it:
        the old code ended the virtual child here and went on."""
        f: Fiber | None = fiber
        while f is not None:
            rec = self._recorded_under(operation_id(f.ctx_id, f.n + 1)) or self._recorded_under(
                operation_id(f.ctx_id, f.n + 2)
            )
            if rec is not None:
                return rec, f
            ctx = self._ops.get(f.ctx_id) if f.ctx_id is not None else None
            if ctx is not None and ctx.status in TERMINAL_STATUSES:
                # A completed context rebuilt from its operations (its result was too large
                # to record): its code ended after what it recorded, so it went past here.
                return ctx, f
            f = f.outer
        return None

    def _on_derived(self, fiber: Fiber, cmd: UUID | Random) -> Answer:
        if not self.execution_arn:
            return (None, ValidationError(_NO_ARN.format(type(cmd).__name__)))
        draw = self._draws.get(fiber.ctx_id, 0) + 1
        self._draws[fiber.ctx_id] = draw
        return (cmd.from_seed(derive_seed(self.execution_arn, fiber.ctx_id, draw)), None)


#: An update's operation id (``_flush`` notes the ids it sends, in one C call).
_UPDATE_ID: Final = attrgetter("id")

#: Why ``UUID()``/``Random()`` fail in an interpreter built without an execution ARN.
_NO_ARN: Final = (
    "{}() derives its value from the execution's ARN, and this interpreter was built without "
    "one: every execution would draw the same values. Pass Interpreter(..., "
    "execution_arn=<the execution's unique id>)"
)


def _wait_done(op: Operation) -> Answer | None:
    if op.status in TERMINAL_STATUSES:
        return SEND_NONE
    return None


def _other_copy(known: Operation, news: Operation) -> str | None:
    """What shows that ``news`` is not a later version of ``known`` (an older copy, or the same
    id in another execution): a field that never changes once recorded, set in both and
    different, or a step's count of finished attempts gone down."""
    if known.step_details is not None and news.step_details is not None:
        a_n, b_n = known.step_details.attempt, news.step_details.attempt
        if a_n is not None and b_n is not None and b_n < a_n:
            return f"Attempt {a_n}, and observe() got it with Attempt {b_n}"
    if known.callback_details is not None and news.callback_details is not None:
        a, b = known.callback_details.callback_id, news.callback_details.callback_id
        if a and b and a != b:
            return f"CallbackId {a!r}, and observe() got it with CallbackId {b!r}"
    if known.wait_details is not None and news.wait_details is not None:
        a_end = known.wait_details.scheduled_end_timestamp
        b_end = news.wait_details.scheduled_end_timestamp
        if a_end is not None and b_end is not None and a_end != b_end:
            return (
                f"ScheduledEndTimestamp {a_end}, and observe() got it with "
                f"ScheduledEndTimestamp {b_end}"
            )
    return None


_ENDS: Final = {"SUCCEED": "SUCCEEDED", "FAIL": "FAILED"}
#: How an execution ends from outside its code (``StopDurableExecution``, its timeout): news of
#: it ends the invocation's new work; the code's own end (SUCCEEDED, FAILED) comes from it.
_STOPPED_FROM_OUTSIDE: Final = frozenset({"STOPPED", "TIMED_OUT"})


def _contradiction(update: OperationUpdate, reply: Operation) -> str | None:
    """Why ``reply``, the store's copy of an operation in the reply to the ``Flush`` that
    carried ``update`` (its last update there), is not a record of it, or None.

    What the workflow was already given must be what a replay reads: the store records the
    operation with the type, name, parent and subtype of its updates, ends it with the status
    of an ending update, and keeps the result as written. A field the reply leaves out (a
    name, parent, subtype or result) is not compared: a service may send only what changed.
    """
    what = None
    if reply.type != update.type:
        what = f"as a {reply.type}"
    elif None is not reply.name != update.name:
        what = f"with Name {reply.name!r}"
    elif None is not reply.parent_id != update.parent_id:
        what = f"with ParentId {reply.parent_id!r}"
    elif None is not reply.sub_type != update.sub_type:
        what = f"with SubType {reply.sub_type!r}"
    else:
        ended = _ENDS.get(update.action)
        if ended is not None:
            details = reply.step_details if reply.type == "STEP" else reply.context_details
            result = details.result if details is not None else None
            if reply.status != ended:
                what = f"as {reply.status}"
            elif update.payload is not None and result is not None and result != update.payload:
                what = (
                    f"with the result {_short(result)} (the update sent {_short(update.payload)})"
                )
    if what is None:
        return None
    return (
        f"the reply to the Flush that sent {update.type} {update.action} for operation "
        f"{update.id!r}{f' ({update.name!r})' if update.name else ''} carries it {what}: a store "
        "records each update as it was sent (type, Name, ParentId, SubType, the status an "
        "ending update sets and its payload, text for text), or a replay would read another "
        "history than the one the workflow ran on; pass observe() the operations the "
        "checkpoint changed as the store recorded them (Applied.operations from apply_updates)"
    )


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else f"{text[:57]}...")


#: The handler of each command type (``Interpreter._drive``), called as
#: ``handler(self, fiber, cmd)``; a subclass of one of these types is found by ``_lookup``.
_HANDLERS: Final[dict[type, Callable[[Interpreter, Fiber, Any], Answer]]] = {
    Step: Interpreter._on_step,
    _PrevalidatedStep: Interpreter._on_step,
    Wait: Interpreter._on_wait,
    CreateCallback: Interpreter._on_create_callback,
    CallbackHandle: Interpreter._on_await_callback,
    WaitForCallback: Interpreter._on_wait_for_callback,
    Invoke: Interpreter._on_invoke,
    WaitForCondition: Interpreter._on_wait_for_condition,
    Child: Interpreter._on_child,
    Map: Interpreter._on_batch,
    Parallel: Interpreter._on_batch,
    RunCompensations: Interpreter._on_compensations,
    Compensate: Interpreter._on_compensate,
    Patched: Interpreter._on_patched,
    Deprecated: Interpreter._on_patched,
    Now: Interpreter._on_now,
    UUID: Interpreter._on_derived,
    Random: Interpreter._on_derived,
}


def _unknown_news(news: Operation) -> str:
    """Why ``observe()`` refuses ``news`` about an operation it never replayed nor started."""
    return (
        f"observe() got {news.type} operation {news.id!r}"
        f"{f' ({news.name!r})' if news.name else ''}, which this interpreter never replayed "
        "nor sent an update for: news can only be about an operation of its history or of "
        "one of its Flushes, so this is another execution's operation (ids repeat across "
        "executions of a workflow) or the reply of another interpreter's Flush; pass observe() "
        "what this execution's store changed"
    )


def _stale_news(known: Operation, news: Operation) -> str:
    """Why ``observe()`` refuses ``news`` about an operation it knows as ``known``."""
    other = _other_copy(known, news) if known.type == news.type else None
    if known.type != news.type:
        what = f"is a {known.type}, and observe() got it as a {news.type}"
    elif other is not None:
        what = f"has {other}"
    else:
        what = f"is already {known.status}, and observe() got it as {news.status}"
    return (
        f"operation {known.id!r}{f' ({known.name!r})' if known.name else ''} {what}: an "
        "operation never changes type, callback id or scheduled end, never counts fewer "
        "attempts and never leaves an ended status, so this is an older copy or another "
        "execution's operation (ids repeat across executions of a workflow); pass observe() "
        "the newest version of each operation of "
        "this execution, as the store recorded it"
    )


def _empty_answer(type_: Any, what: str, who: str) -> SerializationError | None:
    """The error for a callback answered, or an invoke ended, with no result (which is None)
    when its ``result_type=`` does not take None, as "null" would not fit it; None when it
    does."""
    try:
        loads("null", type_=type_, what=what)
    except SerializationError:
        name = _codec.type_name(type_)
        return SerializationError(
            f"{what}: {who} no result (an empty payload, which is None), and None does not fit "
            f"the declared type {name}: make it a value of that type, or declare "
            f"result_type={name} | None when there may be none"
        )
    return None
