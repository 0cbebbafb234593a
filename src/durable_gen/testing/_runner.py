"""``TestRunner``: workflows on the embedded engine with a virtual clock, for tests.

Time never passes by itself: ``run_until_idle`` jumps the clock from timer to timer (waits and
retry delays finish at once) but stops before a callback would time out, so the test can
answer it; ``advance(seconds)`` moves the clock by hand. Nothing sleeps. Each execution is
inspected through a ``DurableRun``: its status and result, its operations by name, its history,
its callbacks.
"""

from __future__ import annotations

import builtins
import concurrent.futures as cf
import contextlib
import inspect
import json
import os
import tempfile
from collections.abc import Callable, Generator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, get_args, overload

import msgspec

from .._actions import check_mode
from .._arguments import checked
from .._codec import (
    PayloadFormat,
    check_size,
    decode,
    input_narrowed,
    is_envelope,
    result_type,
)
from .._commands import CallbackHandle
from .._driver import CheckpointMode, check_plugins, invoke, make_handler
from .._errors import ValidationError, WorkflowDefinitionError, finite, shown
from .._interpreter import check_host_options, check_payload_format
from .._plugins import Plugin, PluginClock
from .._serdes import Serdes, dumps
from .._versioning import EpochSeconds, time_of_ms
from .._wire import (
    MAX_OPERATION_PAYLOAD_BYTES,
    ErrorObject,
    Event,
    InvocationInput,
    InvocationOutput,
    Operation,
    OperationType,
    unicode_error,
    unicode_spot,
    wire_enc_hook,
)
from ..local import ExecutionRecord, LocalService, VirtualClock
from ..local._clock import LATEST_MS, timer_past_the_end
from ..local._lifecycle import EXECUTION_TIMEOUT
from ..local._run import (
    MAX_WORKFLOW_NAME,
    check_flag,
    check_functions,
    outcome,
    register_function,
    workflow_name,
)
from ._harness import Crash, CrashSchedule, Harness, HarnessService

__all__ = ["DurableRun", "OperationView", "TestRunner"]

if TYPE_CHECKING:  # a bare ``DurableRun`` (an ``on_idle`` callback's parameter) is DurableRun[Any]
    from typing_extensions import TypeVar as _DefaultedTypeVar

    R = _DefaultedTypeVar("R", default=Any)
else:
    R = TypeVar("R")
_I = TypeVar("_I")

#: Engine task kinds of callback timers: ``run_until_idle`` does not skip time to them.
_CALLBACK_TIMERS: Final = frozenset({"callback-timeout", "callback-heartbeat"})
#: 2025-01-01T00:00:00Z, where virtual time starts unless told otherwise.
DEFAULT_START: Final = datetime(2025, 1, 1, tzinfo=UTC)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)


#: The operation types (what ``DurableRun.operations(type=...)`` filters on), EXECUTION first.
_OPERATION_TYPES: Final = get_args(OperationType)


#: What ``DurableRun.result()`` of a running execution says to do (the runner can resume it).
_RESUME_ADVICE: Final = (
    "Answer its callbacks by name (run.send_callback_success(name, result), "
    "send_callback_failure, send_callback_heartbeat) or move time (runner.advance(seconds); "
    "runner.run_until_idle(include_callback_timeouts=True) lets callbacks, and an execution "
    "waiting on one, time out), then "
    "call runner.run_until_idle() and read result() again"
)


class OperationView(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded operation, decoded for assertions.

    Attributes:
        id: The operation id.
        name: Its name.
        type: ``STEP``, ``WAIT``, ``CALLBACK``, ``CONTEXT``, ``CHAINED_INVOKE``.
        sub_type: ``Step``, ``Wait``, ``Map``, ``WaitForCallback``, ...
        status: ``SUCCEEDED``, ``FAILED``, ``STARTED``, ``PENDING``, ...
        parent_id: The id of the context it belongs to.
        attempts: Attempts finished (steps), as the service counts them.
        result: The recorded result, decoded from JSON (the raw payload if it is not JSON); a
            payload in AWS's envelope (``payload_format="aws"``) as the JSON ``"json"`` records.
        error: The recorded error.
        callback_id: The callback id (callbacks).
        runs: How many times the step function ran under this runner (crashes included).
        operation: The raw ``Operation``.
    """

    id: str
    name: str | None
    type: str
    sub_type: str | None
    status: str
    parent_id: str | None
    attempts: int | None
    result: Any
    error: ErrorObject | None
    callback_id: str | None
    runs: int
    operation: Operation

    @property
    def succeeded(self) -> bool:
        """True when the status is SUCCEEDED."""
        return self.status == "SUCCEEDED"


def _view(op: Operation, runs: int) -> OperationView:
    details = (
        op.step_details or op.context_details or op.callback_details or op.chained_invoke_details
    )
    payload = getattr(details, "result", None)
    try:
        result = json.loads(payload) if payload else None
    except ValueError:
        result = payload
    else:
        if type(result) is dict and is_envelope(result):  # payload_format="aws": as "json" has it
            result = msgspec.json.decode(msgspec.json.encode(decode(payload)))
    return OperationView(
        id=op.id,
        name=op.name,
        type=op.type,
        sub_type=op.sub_type,
        status=op.status,
        parent_id=op.parent_id,
        attempts=op.step_details.attempt if op.step_details is not None else None,
        result=result,
        error=getattr(details, "error", None),
        callback_id=op.callback_details.callback_id if op.callback_details is not None else None,
        runs=runs,
        operation=op,
    )


class DurableRun(Generic[R]):
    """One execution started by a ``TestRunner``: inspect it, answer its callbacks.

    ``DurableRun[R]``: ``result()`` is the workflow's ``R`` (its ``Workflow[R]`` annotation).

    Attributes:
        arn: The durable execution ARN.
        runner: The runner it belongs to.
    """

    @checked
    def __init__(
        self,
        runner: TestRunner,
        arn: str,
        serdes: Serdes | None,
        workflow: Callable[..., Any] | None = None,
    ) -> None:
        self.runner = runner
        self.arn = arn
        self._serdes = serdes
        self._workflow = workflow

    def __repr__(self) -> str:
        return f"<DurableRun {self.arn.rsplit('/', 2)[-2]} {self.status}>"

    # --- state ------------------------------------------------------------------------------

    @property
    def record(self) -> ExecutionRecord:
        """The engine's record of the execution."""
        return self.runner.service.get_execution(self.arn)

    @property
    def status(self) -> str:
        """``RUNNING``, ``SUCCEEDED``, ``FAILED``, ``TIMED_OUT`` or ``STOPPED``."""
        return self.record.status

    @property
    def done(self) -> bool:
        """True once the execution ended."""
        return self.record.is_terminal

    @property
    def error(self) -> ErrorObject | None:
        """The recorded error of a failed execution."""
        return self.record.error

    @checked
    def result(self) -> R:
        """The workflow's result, decoded into its declared type (as ``dg.run`` returns it).

        Raises:
            ExecutionFailedError: the execution failed (its error is attached).
            ExecutionSuspendedError: it has not ended; ``waiting_on()`` says what it waits on.
        """
        declared = Any
        if self._serdes is None and self._workflow is not None:
            declared = result_type(self._workflow)
        result: R = outcome(
            self.runner.service, self.record, self._serdes, declared, advice=_RESUME_ADVICE
        )
        return result

    @checked
    def waiting_on(self) -> list[str]:
        """What a running execution waits on, one line each."""
        return self.runner.service.waiting_on(self.arn)

    # --- operations -------------------------------------------------------------------------

    @checked
    def operations(
        self, name: str | None = None, *, type: str | None = None
    ) -> list[OperationView]:
        """The recorded operations in creation order (the EXECUTION operation left out),
        optionally only those with ``name`` and/or ``type``.

        Raises:
            ValidationError: ``type`` is not an operation type (``"STEP"``, ``"WAIT"``, ...),
                or ``name`` is not a str.
        """
        if name is not None and not isinstance(name, str):
            raise ValidationError(
                f"name must be an operation's name (a str, or None for every name), got "
                f"{shown(name)}"
            )
        if type is not None and (not isinstance(type, str) or type not in _OPERATION_TYPES):
            raise ValidationError(
                f"type must be one of {', '.join(_OPERATION_TYPES[1:])} (or None for every "
                f"type), got {shown(type)}"
            )
        # by the ARN the steps saw (DeterminismCheck gives one of its own) and operation id
        reals = self.runner._reals
        runs = {
            op_id: n for (arn, op_id), n in self.runner.harness.runs.items()
            if reals.get(arn, arn) == self.arn
        }  # fmt: skip
        return [
            _view(op, runs.get(op.id, 0))
            for op in self.runner.service.get_operations(self.arn)
            if op.type != "EXECUTION"
            and (name is None or op.name == name)
            and (type is None or op.type == type)
        ]

    @checked
    def operation(self, name: str, *, type: str | None = None, index: int = 0) -> OperationView:
        """The ``index``-th operation named ``name``.

        Raises:
            KeyError: there is no such operation (the message lists the names there are).
            ValidationError: ``name`` is not a str, or ``index`` not a whole number.
        """
        if not isinstance(name, str):
            raise ValidationError(
                f"operation() takes the operation's name (a str), got {shown(name)}"
            )
        if builtins.type(index) is not int:
            raise ValidationError(
                f"index must be a whole number (0: the first operation of that name, -1: the "
                f"last), got {shown(index)}"
            )
        found = self.operations(name, type=type)
        if not -len(found) <= index < len(found):
            names = sorted({op.name for op in self.operations() if op.name})
            what = f"operation named {name!r}" + (f" of type {type}" if type else "")
            if found:  # the name is there, fewer times than the index asks
                count = len(found)
                raise KeyError(
                    f"no {what} at index {index} in {self.arn}: there "
                    + ("is 1" if count == 1 else f"are {count}")
                    + f" (index 0 to {count - 1}, or -1 to -{count} from the last)"
                )
            raise KeyError(f"no {what} in {self.arn}; recorded names: {names}")
        return found[index]

    @checked
    def history(self) -> list[Event]:
        """The ``GetDurableExecutionHistory`` events, EventId 1 first."""
        return self.runner.service.get_history(self.arn)

    @checked
    def export(self, path: str | Path | None = None) -> dict[str, Any]:
        """The execution as a JSON-ready mapping (and written to ``path`` if given).

        Missing folders on ``path`` are created.

        It holds ``FunctionName``, ``DurableExecutionArn``, ``Operations`` and ``Events``:
        what ``durable_gen.testing.replay`` and ``replay_folder`` read back.

        Raises:
            ValidationError: ``path`` is not a path (a str or os.PathLike) or None, is a
                folder, or cannot be written.
        """
        if path is not None and (not isinstance(path, str | os.PathLike) or not str(path)):
            raise ValidationError(f"export() takes a file path (or None), got {shown(path)}")
        service = self.runner.service
        data = {
            "FunctionName": self.record.function_name,
            "DurableExecutionArn": self.arn,
            "Operations": msgspec.to_builtins(
                service.get_operations(self.arn), enc_hook=wire_enc_hook
            ),
            "Events": msgspec.to_builtins(service.get_history(self.arn), enc_hook=wire_enc_hook),
        }
        if path is not None:
            target = Path(path)
            if target.is_dir():
                raise ValidationError(
                    f"export() writes a file, and {str(target)!r} is a folder: give the path of "
                    f"the file to write, e.g. {str(target / 'history.json')!r}"
                )
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                _write_atomically(target, json.dumps(data, indent=1))
            except OSError as exc:
                raise ValidationError(
                    f"export() cannot write {str(target)!r} ({exc.strerror or exc}): give a path "
                    "whose folders are folders (or do not exist yet) and may be written by this "
                    "process"
                ) from None
        return data

    # --- callbacks --------------------------------------------------------------------------

    @checked
    def callback_id(self, name: str) -> str:
        """The id of the callback named ``name``.

        ``name`` is a ``CreateCallback``'s name or a ``WaitForCallback``'s name (whose
        callback is the unnamed CALLBACK inside it). Several callbacks may share a name (Map
        items, a loop): the latest one still open is returned, else the latest one, so that
        ``send_callback_*`` by name answer each open callback in turn.

        Raises:
            KeyError: no callback has that name (yet).
        """
        if not isinstance(name, str | CallbackHandle):
            raise ValidationError(
                "a run's callback methods take the callback's name (a str, the name given to "
                f"CreateCallback or WaitForCallback), got {shown(name)}"
            )
        ops = self.runner.service.get_operations(self.arn)
        contexts = {
            op.id
            for op in ops
            if op.type == "CONTEXT" and op.sub_type == "WaitForCallback" and op.name == name
        }
        found = [
            op
            for op in ops
            if op.type == "CALLBACK" and (op.name == name or op.parent_id in contexts)
        ]
        if (
            not found
            or found[-1].callback_details is None
            or not found[-1].callback_details.callback_id
        ):
            names = sorted(
                {op.name for op in ops if op.name and op.type in ("CALLBACK", "CONTEXT")}
            )
            ids = {
                op.callback_details.callback_id
                for op in ops
                if op.type == "CALLBACK" and op.callback_details is not None
            }
            if isinstance(name, CallbackHandle) or (isinstance(name, str) and name in ids):
                example = names[0] if names else "approval"
                raise KeyError(
                    f"{name!r} is a callback's id (or handle), and this run's methods take "
                    f"the callback's name (one of {names}): write "
                    f"run.send_callback_success({example!r}, ...), or answer by id through "
                    "the runner: runner.send_callback_success(handle.callback_id, ...)"
                )
            raise KeyError(
                f"no callback named {name!r} in {self.arn} (yet); callbacks and contexts "
                f"recorded: {names}. Run the runner until the workflow created it"
            )
        still_open = [op for op in found if op.status == "STARTED"]
        chosen = (still_open or found)[-1]
        assert chosen.callback_details is not None
        callback_id = chosen.callback_details.callback_id
        assert callback_id is not None
        return callback_id

    @checked
    def send_callback_success(
        self, name: str, result: Any = None, *, payload: str | None = None
    ) -> None:
        """Complete the callback named ``name`` with ``result`` (any JSON value), or with
        ``payload``: the result's text, sent as is (see ``TestRunner.send_callback_success``).

        Call ``runner.run_until_idle()`` afterwards to let the workflow go on.
        """
        self.runner.send_callback_success(self.callback_id(name), result, payload=payload)

    @checked
    def send_callback_failure(
        self,
        name: str,
        error_type: str | None = None,
        error_message: str | None = None,
        error_data: str | None = None,
    ) -> None:
        """Fail the callback named ``name``; the workflow sees ``CallbackFailedError``."""
        self.runner.send_callback_failure(
            self.callback_id(name), error_type, error_message, error_data
        )

    @checked
    def send_callback_heartbeat(self, name: str) -> None:
        """Send a heartbeat to the callback named ``name`` (restarts its heartbeat timeout)."""
        self.runner.send_callback_heartbeat(self.callback_id(name))


def _raw_payload(result: Any, payload: object) -> str:
    """``payload=`` of ``send_callback_success``: checked, then sent as it is."""
    if result is not None:
        raise ValidationError(
            "send_callback_success() takes the result as a value (result=, written as JSON) "
            "or as its text (payload=, sent as is), not both: drop one of them"
        )
    if not isinstance(payload, str):
        raise ValidationError(
            f"send_callback_success(payload=...) takes the result's text as a str, got "
            f"{type(payload).__name__}: pass the value itself as result= to have it written "
            "as JSON, or its text (json.dumps(value), the text your serdes reads) as payload="
        )
    bad = unicode_error(payload)
    if bad is not None:
        raise ValidationError(
            "send_callback_success(payload=...): the text is not valid Unicode "
            f"({unicode_spot(bad)}), which no store carries: send valid text "
            "(s.encode('utf-8', 'replace').decode() cleans it)"
        )
    check_size(payload, "the callback result", MAX_OPERATION_PAYLOAD_BYTES)
    return payload


def _write_atomically(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` whole or not at all: a reader that opens it meanwhile (a
    replay of the folder in another test process, as under pytest-xdist) finds the old file
    or the new one, never a part of it. The file being written ends in ``.tmp``, so that
    ``replay_folder`` (which reads ``*.json``) passes it by."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        try:  # the mode of the file it replaces (mkstemp's is 0600)
            mode = target.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        os.chmod(name, mode)
        os.replace(name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise


class TestRunner:
    """Run workflows on an in-memory embedded engine whose clock only moves when told to.

    Args:
        skip_time: When True (default), ``run_until_idle`` jumps the clock to each next
            timer, so waits and retry delays finish at once (callback timeouts excepted, see
            ``run_until_idle``). When False, time moves only through ``advance()``.
        start: Where the virtual clock starts (default 2025-01-01T00:00:00Z).
        functions: ``Invoke`` targets: name → workflow (generator function) or plain
            function on JSON values.
        checkpointing: The driver's checkpointing mode for the workflows it runs.
        serdes: Serdes of workflow inputs and results.
        plugins: More instrumentation plugins for the workflows it runs.
        payload_format: ``"json"`` (default) or ``"aws"``: how the workflows it runs record
            results and failures (see ``durable_gen.lambda_handler``).

    Example::

        runner = TestRunner()
        run = runner.run(place_order, {"id": "o-1", "amount": 5})
        run.send_callback_success("approval", {"approved": True})
        runner.run_until_idle()
        assert run.result()["approval"] == {"approved": True}
        assert run.operation("charge").attempts == 1
    """

    __test__ = False  # not a test class, whatever its name says

    @checked
    def __init__(
        self,
        *,
        skip_time: bool = True,
        start: datetime | None = None,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        checkpointing: CheckpointMode = "step",
        serdes: Serdes | None = None,
        plugins: Sequence[Plugin] = (),
        payload_format: PayloadFormat = "json",
    ) -> None:
        if start is not None and not isinstance(start, datetime):
            raise ValidationError(
                f"TestRunner start must be a datetime (a naive one is UTC; e.g. "
                f"datetime(2030, 1, 1, tzinfo=UTC)), got {shown(start)}"
            )
        check_flag(skip_time, "TestRunner skip_time")
        check_functions(functions)
        check_host_options(serdes, None)
        if start is not None and start.utcoffset() is None:
            start = start.replace(tzinfo=UTC)  # naive: UTC, on every machine (not its local time)
        try:
            # exact, in whole milliseconds (a float timestamp loses them far in the future)
            start_ms = ((start or DEFAULT_START) - _EPOCH) // _ONE_MS
        except (ValueError, OverflowError):
            start_ms = -1
        if not 0 <= start_ms <= LATEST_MS:
            # Its offset may carry it over either end (1970-01-01T00:30+01:00 is 1969 in UTC):
            # say which, since its own year looks in range.
            late = start_ms > LATEST_MS or (start is not None and start.year >= 9999)
            where = "after 9999-12-31T23:59:59.999Z" if late else "before 1970-01-01T00:00:00Z"
            raise ValidationError(
                f"TestRunner start {start!r} is {where} in UTC, where the clock cannot start: "
                f"give a datetime from 1970 to 9999 with a timezone (a naive one is UTC) that "
                f"is in that range in UTC, e.g. datetime(2030, 1, 1, tzinfo=UTC)"
            )
        self.clock = VirtualClock(start_ms, auto_advance=False)
        self.service = LocalService(clock=self.clock)
        self.skip_time = skip_time
        self.checkpointing: CheckpointMode = check_mode(checkpointing)
        self.serdes = serdes
        self.plugins = tuple(check_plugins(plugins))
        #: The clocks of the telemetry and trace plugins given without ``clock=``: they read
        #: the virtual clock while this runner's invocations run, and their own clock after.
        self._plugin_clocks = [
            (c, c.lender(self.clock.now_ms))
            for p in self.plugins
            if isinstance(c := getattr(p, "_clock", None), PluginClock)
        ]
        self.payload_format = check_payload_format(payload_format)
        self.harness = Harness(self._persisted)
        #: The executor of the sync steps that run concurrently (None: the driver's threads).
        #: ``DeterminismCheck`` runs them one at a time, for runs that repeat exactly.
        self._step_pool: Callable[[], cf.Executor] | None = None
        #: The event loop of async steps, likewise (None: the driver's).
        self._step_portal: Callable[[], Any] | None = None
        self._aliases: dict[str, str] = {}
        self._reals: dict[str, str] = {}
        self._workflows: dict[str, Callable[..., Any]] = {}
        #: The code ``deploy`` made each workflow run, by workflow name.
        self._deployed: dict[str, Callable[..., Any]] = {}
        for name, fn in (functions or {}).items():
            self.register(name, fn)

    # --- setup ------------------------------------------------------------------------------

    @checked
    def register(self, name: str, fn: Callable[..., Any]) -> None:
        """Register an ``Invoke`` target: a workflow, or a plain function on JSON values.

        Raises:
            ValidationError: ``name`` is not a non-empty str, or ``fn`` is not callable.
        """
        if not isinstance(name, str) or not name:
            raise ValidationError(
                f"register() takes Invoke names (a non-empty str), got {shown(name)}"
            )
        check_functions({name: fn})
        if inspect.isgeneratorfunction(inspect.unwrap(fn)):
            self._deployed[name] = fn  # ``deploy(fn, new_code)`` reaches what runs it here
            self.service.register(name, self._handler(fn))
        else:
            register_function(
                self.service,
                name,
                fn,
                checkpointing=self.checkpointing,
                payload_format=self.payload_format,
            )

    @checked
    def deploy(self, workflow: Callable[..., Any], new_code: Callable[..., Any]) -> None:
        """Deploy a new version: executions of ``workflow``, running or started later, run
        ``new_code`` from their next invocation on (to test a change guarded by ``Patched``).
        ``workflow`` may also be the code an earlier ``deploy`` installed: after
        ``deploy(v1, v2)``, ``deploy(v2, v3)`` makes what runs v2 (executions of v1 included)
        run v3, as ``deploy(v1, v3)`` does; and a workflow registered as an ``Invoke`` target
        (``functions=``, ``register``) is deployed under that name too.

        Raises:
            WorkflowDefinitionError: ``workflow`` or ``new_code`` is not a function.
        """
        for what, fn in (("workflow", workflow), ("new_code", new_code)):
            if not callable(fn):
                raise WorkflowDefinitionError(
                    f"deploy() needs {what} as a workflow function, got {shown(fn)}"
                )
        if not inspect.isgeneratorfunction(inspect.unwrap(new_code)):
            # What the running executions would meet at their next invocation, said now.
            raise WorkflowDefinitionError(
                f"deploy() needs new_code as a workflow, a generator function that yields "
                f"commands; {getattr(new_code, '__qualname__', new_code)!r} is not one (a "
                "plain or async def function would fail every execution it resumes)"
            )
        name = self._name_of(workflow)
        self._workflows[name] = workflow
        # ``workflow`` may be the code an earlier deploy installed (deploy(v1, v2), then
        # deploy(v2, v3)): what runs it now runs ``new_code`` too.
        names = [name, *(n for n, code in self._deployed.items() if code is workflow and n != name)]
        handler = self._handler(new_code)
        for each in names:
            self._deployed[each] = new_code
            self.service.register(each, handler)

    def _name_of(self, workflow: Callable[..., Any]) -> str:
        """The function name this runner runs ``workflow`` under: ``workflow_name``, unless
        another workflow of the same module and qualname holds it (two built by one factory,
        or a redefinition): that one keeps it, and its executions keep running its code, so
        this one takes the name with ``-2`` (``-3``, ...) at the end."""
        name = workflow_name(workflow)
        held = self._workflows.get(name)
        if held is None or held is workflow:
            return name
        for each, code in self._workflows.items():
            if code is workflow:
                return each
        count = 2
        while True:
            suffix = f"-{count}"
            candidate = name[: MAX_WORKFLOW_NAME - len(suffix)] + suffix
            if candidate not in self._workflows:
                return candidate
            count += 1

    def _handler(
        self, workflow: Callable[..., Any]
    ) -> Callable[[InvocationInput], InvocationOutput]:
        plugins = (self.harness, *self.plugins)

        def handler(event: InvocationInput) -> InvocationOutput:
            with contextlib.ExitStack() as lent:
                for clock, entry in self._plugin_clocks:
                    lent.enter_context(clock.lent(entry))
                return invoke_one(event)

        def invoke_one(event: InvocationInput) -> InvocationOutput:
            real = event.durable_execution_arn
            alias = self._alias(real)
            if alias is not None:
                event = msgspec.structs.replace(event, durable_execution_arn=alias)
            service = HarnessService(self.service, real, self.harness)
            if self._step_pool is not None:
                return make_handler(
                    workflow,
                    service,
                    checkpointing=self.checkpointing,
                    serdes=self.serdes,
                    plugins=plugins,
                    clock=EpochSeconds(self._seconds, self.clock.now_ms),
                    payload_format=self.payload_format,
                    pool=self._step_pool,
                    portal=self._step_portal,
                )(event)
            return invoke(
                workflow,
                event,
                service,
                checkpointing=self.checkpointing,
                serdes=self.serdes,
                plugins=plugins,
                clock=EpochSeconds(self._seconds, self.clock.now_ms),
                payload_format=self.payload_format,
            )

        return handler

    def _alias(self, real: str) -> str | None:
        """The ARN an execution's code sees: the one given to ``start``, or for an execution
        that an aliased one invoked, one derived from its parent's and the ``Invoke``'s
        operation id (so ``UUID()`` and ``Random()`` agree between runs all the way down)."""
        alias = self._aliases.get(real)
        if alias is None:
            stored = self.service.store.load(real)
            if stored is not None and stored.parent_arn and stored.parent_op_id:
                parent = self._alias(stored.parent_arn)
                if parent is not None:
                    alias = f"{parent}/invoke/{stored.parent_op_id}"
                    self._aliases[real] = alias
                    self._reals[alias] = real
        return alias

    def _persisted(self, arn: str, operation_id: str) -> Operation | None:
        # One dict read in the in-memory store: cheap enough for every step attempt.
        return self.service.store.lookup(self._reals.get(arn, arn))(operation_id)

    # --- executions -------------------------------------------------------------------------

    # The input is checked against the workflow's parameter, as for ``durable_gen.run``.
    @overload
    def start(
        self,
        workflow: Callable[[_I], Generator[Any, Any, R]],
        input: _I | dict[str, Any],
        *,
        execution_name: str | None = None,
        execution_arn: str | None = None,
        execution_timeout: int | None = None,
    ) -> DurableRun[R]: ...
    @overload
    def start(
        self,
        workflow: Callable[[None], Generator[Any, Any, R]],
        *,
        execution_name: str | None = None,
        execution_arn: str | None = None,
        execution_timeout: int | None = None,
    ) -> DurableRun[R]: ...
    @checked
    def start(
        self,
        workflow: Callable[..., Generator[Any, Any, R]],
        input: Any = None,
        *,
        execution_name: str | None = None,
        execution_arn: str | None = None,
        execution_timeout: int | None = None,
    ) -> DurableRun[R]:
        """Start an execution of ``workflow(input)``; nothing runs until ``run_until_idle``.

        Args:
            workflow: The workflow generator function.
            input: Its input (JSON-serializable).
            execution_name: A name for the execution (default: a random id).
            execution_arn: The ARN the workflow code sees (it seeds ``UUID()``, ``Random()``
                and retry jitter); default: the engine's ARN. Give two runs the same one to
                make them comparable. Executions it invokes see ARNs derived from it.
            execution_timeout: Seconds after which the execution ends TIMED_OUT (1 to
                31,622,400), as ``LocalService.start`` takes it; default: none.
        """
        if not callable(workflow):
            raise WorkflowDefinitionError(
                f"start() needs a workflow function, got {shown(workflow)}"
            )
        name = self._name_of(workflow)
        if self._workflows.get(name) is not workflow:
            self._workflows[name] = workflow
            self.service.register(name, self._handler(workflow))
        payload = dumps(input, self.serdes, what="the workflow input")
        if self.serdes is None and payload:
            cut = input_narrowed(workflow, input, payload)
            if cut is not None:
                raise cut
        arn = self.service.start(
            name, payload, execution_name=execution_name, execution_timeout=execution_timeout
        )
        if execution_arn is not None:
            self._aliases[arn] = execution_arn
            self._reals[execution_arn] = arn
        return DurableRun(self, arn, self.serdes, workflow)

    @overload
    def run(
        self,
        workflow: Callable[[_I], Generator[Any, Any, R]],
        input: _I | dict[str, Any],
        *,
        execution_name: str | None = None,
        execution_arn: str | None = None,
        execution_timeout: int | None = None,
    ) -> DurableRun[R]: ...
    @overload
    def run(
        self,
        workflow: Callable[[None], Generator[Any, Any, R]],
        *,
        execution_name: str | None = None,
        execution_arn: str | None = None,
        execution_timeout: int | None = None,
    ) -> DurableRun[R]: ...
    @checked
    def run(
        self,
        workflow: Callable[..., Generator[Any, Any, R]],
        input: Any = None,
        *,
        execution_name: str | None = None,
        execution_arn: str | None = None,
        execution_timeout: int | None = None,
    ) -> DurableRun[R]:
        """``start()`` then ``run_until_idle()``: the execution has ended, or waits on the test.

        Args:
            workflow: The workflow generator function.
            input: Its input.
            execution_name: See ``start``.
            execution_arn: See ``start``.
            execution_timeout: See ``start``.
        """
        handle = self.start(
            workflow,
            input,
            execution_name=execution_name,
            execution_arn=execution_arn,
            execution_timeout=execution_timeout,
        )
        self.run_until_idle()
        return handle

    @checked
    def run_until_idle(self, *, include_callback_timeouts: bool = False) -> None:
        """Run everything that is due; with ``skip_time``, jump from timer to timer.

        Time is not skipped to a callback's timeout (or heartbeat timeout), nor to the
        ``execution_timeout`` of an execution that waits on a callback (its own, or one of an
        execution it invoked): the runner stops there, so the test can answer the callback
        (or ``advance()`` past the timeout), unless ``include_callback_timeouts`` is True.

        Raises:
            ValidationError: the next timer is due after 9999-12-31T23:59:59.999Z, the latest
                time the clock holds (it stays recorded and waiting).
        """
        if type(include_callback_timeouts) is not bool:
            raise ValidationError(
                f"include_callback_timeouts must be True or False, got "
                f"{shown(include_callback_timeouts)}"
            )
        while True:
            self._drive()
            if not self.skip_time:
                return
            task = self.service.store.next_task()
            if task is None:
                return
            if not include_callback_timeouts and (
                task.kind in _CALLBACK_TIMERS
                or (task.kind == EXECUTION_TIMEOUT and self._waits_on_a_callback(task.arn))
            ):
                return
            if task.due_ms > LATEST_MS:
                raise timer_past_the_end(task.due_ms)
            self.clock.advance_to(task.due_ms)

    def _waits_on_a_callback(self, arn: str) -> bool:
        """Whether execution ``arn``, or one it invoked that still runs, has a callback open."""
        store = self.service.store
        todo = [arn]
        while todo:
            ex = store.load(todo.pop())
            if ex is None or ex.status != "RUNNING":
                continue
            if "CALLBACK" in ex.open.values():
                return True
            todo.extend(e.child_arn for e in ex.invokes.values() if e.child_arn is not None)
        return False

    @checked
    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``, running each timer at its due time."""
        if (
            not isinstance(seconds, int | float)
            or isinstance(seconds, bool)
            or not finite(seconds)
            or seconds < 0
        ):
            raise ValidationError(f"advance() needs a number of seconds >= 0, got {shown(seconds)}")
        target = self.clock.now_ms() + round(seconds * 1000)
        if target > LATEST_MS:
            raise ValidationError(
                f"advance({seconds!r}) would move the clock past 9999-12-31T23:59:59.999Z, the "
                "latest time a datetime holds (what Now() and now() give)"
            )
        while True:
            self._drive()
            task = self.service.store.next_task()
            if task is None or task.due_ms > target:
                break
            self.clock.advance_to(task.due_ms)
        self.clock.advance_to(target)
        self._drive()

    @checked
    def advance_to_next_timer(self) -> bool:
        """Move the clock to the next timer (a callback timeout included) and run what is due.

        Only that timer fires (with the others due at the same time), with ``skip_time`` too:
        the clock stays at its due time, and the later timers wait for the next call (or
        ``run_until_idle()``).

        Returns:
            False when no timer is left.

        Raises:
            ValidationError: the next timer is due after 9999-12-31T23:59:59.999Z, the latest
                time the clock holds.
        """
        self._drive()
        task = self.service.store.next_task()
        if task is None:
            return False
        if task.due_ms > LATEST_MS:
            raise timer_past_the_end(task.due_ms)
        self.clock.advance_to(task.due_ms)
        self._drive()
        return True

    @checked
    def now(self) -> datetime:
        """The virtual time, an aware UTC datetime."""
        return time_of_ms(self.clock.now_ms())

    def _drive(self) -> None:
        """Run what is due now, resuming after planned crashes."""
        while True:
            try:
                self.service.run_until_idle()
            except Crash:
                self.harness.settle()
                continue
            return

    def _seconds(self) -> float:
        """The virtual clock in epoch seconds: what ``Now()`` reads in this runner."""
        return self.clock.now_ms() / 1000

    @checked
    def crash(self, schedule: CrashSchedule) -> None:
        """Abandon invocations from now on as ``schedule`` says (see ``CrashSchedule``).

        Raises:
            ValidationError: ``schedule`` is not a ``CrashSchedule``.
        """
        if not isinstance(schedule, CrashSchedule):
            raise ValidationError(
                f"crash() takes a CrashSchedule (from durable_gen.testing), e.g. "
                f"CrashSchedule(after_checkpoints=frozenset({{1}})), got {shown(schedule)}"
            )
        self.harness.schedule = schedule

    # --- callbacks by id --------------------------------------------------------------------

    @checked
    def send_callback_success(
        self, callback_id: str, result: Any = None, *, payload: str | None = None
    ) -> None:
        """Complete a callback with ``result`` (any JSON value, written as JSON), or with
        ``payload``: the result's text as a sender sends it, recorded as is (what a callback
        with a ``serdes=`` reads, or a sender's JSON with its own spacing).

        Raises:
            PayloadTooLargeError: the result's text is over 1 MiB, what a CALLBACK operation
                records at most.
            ValidationError: both ``result`` and ``payload`` are given, or ``payload`` is not a
                ``str`` (or not valid Unicode).
        """
        if payload is None:
            text = dumps(result, what="the callback result", limit=MAX_OPERATION_PAYLOAD_BYTES)
        else:
            text = _raw_payload(result, payload)
        self.service.send_callback_success(callback_id, text)

    @checked
    def send_callback_failure(
        self,
        callback_id: str,
        error_type: str | None = None,
        error_message: str | None = None,
        error_data: str | None = None,
    ) -> None:
        """Fail a callback; the workflow sees ``CallbackFailedError`` with these fields."""
        self.service.send_callback_failure(
            callback_id,
            ErrorObject(error_type=error_type, error_message=error_message, error_data=error_data),
        )

    @checked
    def send_callback_heartbeat(self, callback_id: str) -> None:
        """Send a heartbeat to a callback."""
        self.service.send_callback_heartbeat(callback_id)

    @checked
    def executions(self) -> list[DurableRun[Any]]:
        """Every execution of this runner (``Invoke``'d durable functions included)."""
        return [DurableRun(self, r.arn, self.serdes) for r in self.service.list_executions()]
