"""The Lambda entry point: event in, one driver invocation, output dict out.

It owns the boundary rules of a durable function on Lambda: how the event is parsed and
rejected, which failures become a FAILED output (nothing a retry could fix) and which are
raised so that the service invokes the function again (a stale token, a service that stayed
unavailable), and that a FAILED output always fits the service's error-object limit.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, overload

import msgspec

from .._actions import check_mode
from .._arguments import checked
from .._codec import PayloadFormat
from .._driver import (
    START_WINDOW,
    CheckpointMode,
    _check_window,
    _StepThreads,
    check_plugins,
    check_service,
    check_workflow,
    invoke,
)
from .._errors import (
    DurableGenError,
    InvalidCheckpointTokenError,
    InvalidInputError,
    ValidationError,
    WorkflowDefinitionError,
    a_kind,
    shown,
)
from .._failure import bounded_error, error_object
from .._guard import TAKES_INPUT, input_problem
from .._interpreter import check_host_options, check_payload_format
from .._paging import load_operations
from .._plugins import Plugin
from .._serdes import Serdes
from .._service import DurableService
from .._wire import (
    ErrorObject,
    ExecutionState,
    InvocationInput,
    InvocationOutput,
    wire_enc_hook,
)
from ._client import check_client, check_client_region
from ._service import LambdaService, ServiceUnavailableError

__all__ = ["LambdaHandler", "lambda_handler", "parse_event"]

log = logging.getLogger("durable_gen.aws")

_REQUIRED_KEYS: Final = ("DurableExecutionArn", "CheckpointToken", "InitialExecutionState")
_DURABLE_HINT: Final = (
    "A durable_gen handler must run as a durable function: give the function a DurableConfig "
    "(ExecutionTimeout, RetentionPeriodInDays) so that Lambda's durable-execution service "
    "invokes it; it cannot be invoked with a plain event"
)

#: Seconds kept back from the invocation's remaining time, to checkpoint a timed-out step
#: attempt and return before Lambda ends the invocation.
TIME_MARGIN: Final = 0.5

#: Failures the service should answer by invoking the function again, with a fresh token: a
#: stale token, a service unavailable through every retry, and a configuration problem of the
#: function (credentials, a role that may not checkpoint), which a fixed deploy or role mends
#: without failing the executions it met.
_RETRIED: Final = (InvalidCheckpointTokenError, ServiceUnavailableError, ValidationError)

_encoder: Final = msgspec.json.Encoder(enc_hook=wire_enc_hook)


def _is_invocation_text(text: str | bytes | bytearray) -> bool:
    """Whether ``text`` is JSON of an object with the keys of a durable invocation."""
    try:
        decoded = json.loads(text)
    except ValueError:
        return False
    return isinstance(decoded, dict) and all(key in decoded for key in _REQUIRED_KEYS)


@checked
def parse_event(event: Any) -> InvocationInput:
    """The durable-execution invocation carried by a Lambda event.

    Args:
        event: What Lambda passed to the handler (a dict decoded from JSON).

    Raises:
        InvalidInputError: the event is not a durable invocation (it names the missing keys),
            or its operation state is malformed (it names the path of the bad field).
    """
    if not isinstance(event, Mapping):
        if all(
            hasattr(event, name)
            for name in ("durable_execution_arn", "checkpoint_token", "initial_execution_state")
        ):
            raise InvalidInputError(
                f"the Lambda event is {a_kind(event)}, the in-process invocation object "
                "of AWS's Python SDK (its DurableFunctionTestRunner passes one, with its own "
                "service client), not the JSON event Lambda sends: a durable_gen handler reads "
                "only that JSON event and checkpoints through Lambda's API. Test a durable_gen "
                "workflow with durable_gen.testing.TestRunner or dg.run, or run its handler "
                "against AWS's emulator (dex-local-runner), which sends the JSON event"
            )
        if isinstance(event, str | bytes | bytearray) and _is_invocation_text(event):
            raise InvalidInputError(
                f"the Lambda event is the JSON text of a durable-execution invocation (a "
                f"{type(event).__name__}), not the object it encodes: Lambda passes the handler "
                "the decoded event; a harness that has the text passes json.loads(text)"
            )
        raise InvalidInputError(
            f"the Lambda event is {a_kind(event)}, not a durable-execution invocation "
            f"(a JSON object with {', '.join(_REQUIRED_KEYS)}). {_DURABLE_HINT}"
        )
    missing = [key for key in _REQUIRED_KEYS if key not in event]
    if missing:
        present = [str(key) for key in list(event)[:10]] + (["..."] if len(event) > 10 else [])
        raise InvalidInputError(
            f"the Lambda event is not a durable-execution invocation: it has no "
            f"{', '.join(missing)} (keys present: {', '.join(present) or 'none'}). "
            f"{_DURABLE_HINT}"
        )
    state = event["InitialExecutionState"]
    if isinstance(state, Mapping) and "Operations" in state and state["Operations"] is None:
        # `"Operations": null` is a first page without operations, as AWS's SDK reads it: they
        # come through GetDurableExecutionState from NextMarker (or the state is truncated).
        state = {key: value for key, value in state.items() if key != "Operations"}
        event = {**event, "InitialExecutionState": state}
    try:
        parsed = msgspec.convert(event, InvocationInput)
    except msgspec.ValidationError as exc:
        raise InvalidInputError(
            f"the durable-execution invocation event is malformed: {exc}. The operation state "
            "is truncated, or holds an operation of a kind this version of durable-gen does "
            "not know (upgrade it if the service added one)"
        ) from exc
    except UnicodeEncodeError:  # a lone surrogate, where msgspec reads a key or an enum
        raise _not_unicode(event) from None
    for value in (
        parsed.durable_execution_arn,
        parsed.checkpoint_token,
        parsed.initial_execution_state.next_marker or "",
    ):
        if not _is_unicode(value):  # sent back to the service, which would refuse it
            raise _not_unicode(event)
    empty = [
        key
        for key, value in (
            ("DurableExecutionArn", parsed.durable_execution_arn),
            ("CheckpointToken", parsed.checkpoint_token),
        )
        if not value
    ]
    if empty:
        raise InvalidInputError(
            f"the durable-execution invocation event has an empty {' and '.join(empty)}: the "
            "service always sends both; this event was written by hand or altered on its way"
        )
    state = parsed.initial_execution_state
    if not state.next_marker and not any(op.type == "EXECUTION" for op in state.operations):
        raise InvalidInputError(
            "the durable-execution invocation event has no EXECUTION operation and no further "
            "pages: the operation state is truncated, so the workflow input is unknown"
        )
    return parsed


def _is_unicode(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _surrogate_at(value: object, path: str) -> str | None:
    """The path in a decoded event of the first text (a key or a value) that is not valid
    Unicode, if any."""
    if isinstance(value, str):
        return None if _is_unicode(value) else path
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and not _is_unicode(key):
                return f"{path}, the key {key!a}"
            found = _surrogate_at(item, f"{path}.{key}" if isinstance(key, str) else path)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _surrogate_at(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _not_unicode(event: Mapping[Any, Any]) -> InvalidInputError:
    where = _surrogate_at(event, "the event") or "the event"
    return InvalidInputError(
        f"the durable-execution invocation event holds text that is not valid Unicode, at "
        f"{where}: a lone surrogate (such as \\ud800 escaped in its JSON), "
        "which the service never sends; this event was written by hand or altered on its way. "
        "Send the event the service sent"
    )


def _failed(exc: BaseException) -> InvocationOutput:
    # No stack trace: the error is ours, at the boundary, and its message says what to do.
    return InvocationOutput(status="FAILED", error=error_object(exc, stack_trace=False))


def _as_dict(output: InvocationOutput) -> dict[str, Any]:
    if output.status == "SUCCEEDED":
        return {"Status": "SUCCEEDED", "Result": output.result or ""}
    if output.status == "PENDING":
        return {"Status": "PENDING"}
    error = bounded_error(output.error or ErrorObject(error_type="Unknown"))
    result: dict[str, Any] = msgspec.to_builtins(InvocationOutput(status="FAILED", error=error))
    return result


def _time_left(context: Any) -> float | None:
    """Seconds the invocation may still spend on steps, from Lambda's context (None without
    one: a test or a local call, or a context whose answer is not a number of milliseconds,
    NaN included, so that a stand-in context never fails the invocation)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    millis = remaining()
    if isinstance(millis, bool) or not isinstance(millis, (int, float)) or millis != millis:
        return None
    return millis / 1000 - TIME_MARGIN


if TYPE_CHECKING:  # a bare ``LambdaHandler`` is one of any workflow
    from typing_extensions import TypeVar as _DefaultedTypeVar

    W = _DefaultedTypeVar("W", bound=Callable[..., Any], default=Callable[..., Any])
else:
    W = TypeVar("W", bound=Callable[..., Any])


class LambdaHandler(Generic[W]):
    """A Lambda handler that runs a durable_gen workflow: call it as ``handler(event, context)``.

    Each call parses the event, reads and checks every page of the execution's state, runs one
    invocation of the workflow through the driver, and returns the output the service expects:
    ``{"Status": "SUCCEEDED", "Result": <json>}``, ``{"Status": "PENDING"}`` or
    ``{"Status": "FAILED", "Error": {...}}``.

    What happens on a failure that is not the workflow's own:

    - An event that is not a durable invocation, a state that is malformed or corrupt (a
      repeated operation id, a finished step without details) or whose paging does not end, a
      payload or result over the limits, an update the service rejects: a FAILED output (with an
      ``InvalidInputError``, ``PayloadTooLargeError``, ... as ``ErrorType``). Retrying could not
      change the outcome, and raising would only make Lambda try again.
    - A stale checkpoint token, a service that stayed unavailable through every retry, or a
      call the function's credentials may not make (a role without the durable-execution
      permissions: ``ValidationError``): the exception is raised, so the service invokes the
      function again from the recorded state.

    Attributes:
        workflow: The workflow generator function (to run it locally or in tests).
        checkpointing: The driver's checkpointing mode.
        serdes: Serdes of the workflow input and result.
        payload_format: ``"json"`` or ``"aws"`` (see ``lambda_handler``).
    """

    @checked
    def __init__(
        self,
        workflow: W,
        *,
        client: Any | None = None,
        checkpointing: CheckpointMode = "step",
        serdes: Serdes | None = None,
        region: str | None = None,
        service: DurableService | None = None,
        plugins: Sequence[Plugin] = (),
        payload_format: PayloadFormat = "json",
        start_window: float | None = START_WINDOW,
    ) -> None:
        check_workflow(workflow, "lambda_handler")
        problem = input_problem(workflow)
        if problem is not None:  # else every execution would fail at its first invocation
            raise WorkflowDefinitionError(
                f"lambda_handler cannot call {getattr(workflow, '__qualname__', workflow)!r} "
                f"with the execution's input ({problem}): {TAKES_INPUT}; the Lambda context "
                "is not passed to a workflow"
            )
        check_mode(checkpointing)
        check_payload_format(payload_format)
        check_host_options(serdes, None)
        if region is not None and not isinstance(region, str):
            raise ValidationError(
                f"region must be an AWS region name such as 'us-east-1', got {shown(region)}"
            )
        if service is not None and (client is not None or region is not None):
            raise ValidationError(
                "pass either service= (any DurableService) or client=/region= (for Lambda's), "
                "not both"
            )
        if service is not None:  # here, not at each invocation: it would fail them all
            check_service(service)
        if client is not None:  # here too: a wrong client would fail after the first step
            check_client(client)
            check_client_region(client, region)
        self.workflow = workflow
        self.checkpointing: CheckpointMode = checkpointing
        self.serdes = serdes
        self.payload_format: PayloadFormat = payload_format
        self.plugins = tuple(check_plugins(plugins))
        self.start_window = _check_window(start_window)
        self._client = client
        self._region = region
        self._service = service
        self._lock = threading.Lock()
        # Step threads live as long as the handler, not one invocation: a warm Lambda
        # sandbox starts none per invocation.
        self._threads = _StepThreads.acquire()
        for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
            value = getattr(workflow, attr, None)
            if value is not None:
                setattr(self, attr, value)

    @property
    def service(self) -> DurableService:
        """The service checkpoints go to; a ``LambdaService`` is created on first use.

        Raises:
            ImportError: boto3 is not installed.
            ValidationError: no region or credentials to create the client with.
        """
        service = self._service
        if service is None:
            with self._lock:
                if self._service is None:
                    self._service = LambdaService(self._client, region=self._region)
                service = self._service
        return service

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Run one invocation; the Lambda output as a dict.

        Args:
            event: The event Lambda passes (a durable invocation).
            context: The Lambda context object. Its remaining time
                (``get_remaining_time_in_millis()``), less ``TIME_MARGIN`` (0.5 s), bounds
                every step attempt: one still running then fails with ``StepTimeoutError``
                (the retry policy decides what follows), instead of Lambda ending the whole
                invocation mid-step.

        Raises:
            InvalidCheckpointTokenError: the token went stale (the service invokes again).
            ServiceUnavailableError: checkpoints kept failing transiently.
            ValidationError: the function's credentials or role may not read the state or
                checkpoint (the message names the permissions).
        """
        try:
            parsed = parse_event(event)
        except InvalidInputError as exc:
            log.error("durable_gen: rejected the Lambda event: %s", exc)
            return _as_dict(_failed(exc))
        service = self.service
        arn, token = parsed.durable_execution_arn, parsed.checkpoint_token
        try:
            # Every page is read and checked here, before anything is replayed.
            operations = load_operations(
                parsed.initial_execution_state,
                lambda marker: service.get_state(arn, token, marker),
            )
            parsed = msgspec.structs.replace(
                parsed, initial_execution_state=ExecutionState(operations=operations)
            )
            # Read now, not on entry: creating the client and reading the state's pages took
            # some of the invocation's time.
            time_left = _time_left(context)
            output = invoke(
                self.workflow,
                parsed,
                service,
                checkpointing=self.checkpointing,
                serdes=self.serdes,
                plugins=self.plugins,
                payload_format=self.payload_format,
                time_left=time_left,
                start_window=self.start_window,
                _outside=_failed_outside(arn),
            )
        except DurableGenError as exc:  # before the workflow ran: reading its state
            failed = _failed_outside(arn)(exc)
            if failed is None:
                raise
            output = failed
        return _as_dict(output)

    def __repr__(self) -> str:
        return f"<LambdaHandler {getattr(self.workflow, '__qualname__', self.workflow)!r}>"


def _failed_outside(arn: str) -> Callable[[DurableGenError], InvocationOutput | None]:
    """What the handler returns for an error outside the workflow: FAILED, logged, unless the
    service should invoke again (None: the error is raised)."""

    def output(exc: DurableGenError) -> InvocationOutput | None:
        if isinstance(exc, _RETRIED):
            return None
        log.error("durable_gen: execution %s failed outside the workflow: %s", arn, exc)
        return _failed(exc)

    return output


#: ``lambda_handler()`` called without a workflow: the decorator-with-options form.
_NO_WORKFLOW: Any = object()


@overload
def lambda_handler(
    workflow: W,
    /,
    *,
    client: Any | None = None,
    checkpointing: CheckpointMode = "step",
    serdes: Serdes | None = None,
    region: str | None = None,
    service: DurableService | None = None,
    plugins: Sequence[Plugin] = (),
    payload_format: PayloadFormat = "json",
    start_window: float | None = START_WINDOW,
) -> LambdaHandler[W]: ...
@overload
def lambda_handler(
    *,
    client: Any | None = None,
    checkpointing: CheckpointMode = "step",
    serdes: Serdes | None = None,
    region: str | None = None,
    service: DurableService | None = None,
    plugins: Sequence[Plugin] = (),
    payload_format: PayloadFormat = "json",
    start_window: float | None = START_WINDOW,
) -> Callable[[W], LambdaHandler[W]]: ...
@checked
def lambda_handler(
    workflow: Any = _NO_WORKFLOW,
    /,
    *,
    client: Any | None = None,
    checkpointing: CheckpointMode = "step",
    serdes: Serdes | None = None,
    region: str | None = None,
    service: DurableService | None = None,
    plugins: Sequence[Plugin] = (),
    payload_format: PayloadFormat = "json",
    start_window: float | None = START_WINDOW,
) -> LambdaHandler[Any] | Callable[[Any], LambdaHandler[Any]]:
    """The Lambda handler of a durable function that runs ``workflow``.

    Three equivalent forms::

        handler = lambda_handler(place_order)          # a call

        @lambda_handler                                # a bare decorator
        def place_order(order):
            return (yield charge(order))

        @lambda_handler(checkpointing="batch")         # a decorator with options
        def place_order(order):
            return (yield charge(order))

    In the decorator forms the decorated name is the handler; ``.workflow`` is the generator
    function. The boto3 client is created on the first invocation (boto3 is imported then).

    Args:
        workflow: The workflow generator function.
        client: A boto3 ``lambda`` client (default: one created from the environment).
        checkpointing: ``"step"`` (default), ``"eager"`` or ``"batch"``; see ``durable_gen.invoke``.
        serdes: Serdes of the workflow input and result (default JSON).
        region: Region of the client created when ``client`` is not given.
        service: Any ``DurableService`` to use instead of Lambda's (tests, benchmarks).
        plugins: Instrumentation plugins (``durable_gen.Plugin``).
        payload_format: How results and failures are recorded: ``"json"`` (default, plain
            JSON and durable_gen's error types) or ``"aws"`` (the typed envelope and error types
            AWS's Python SDK records, so that a handler of AWS's SDK can take the execution
            over). Histories in either format are read. The workflow input and result stay
            plain JSON.
        start_window: Seconds a step runs before its START is checkpointed while it goes on
            (``"step"`` mode; default 0.005; None: START goes with the outcome); see
            ``durable_gen.invoke``.

    Returns:
        A ``LambdaHandler``, or a decorator making one.
    """

    def make(wf: Callable[..., Any], *called_as_handler: Any) -> LambdaHandler:
        if called_as_handler:
            raise WorkflowDefinitionError(
                "lambda_handler(...) was given options but no workflow, so it made a decorator, "
                "and the decorator was called as the Lambda handler: put @lambda_handler(...) "
                "above the workflow's def, or pass the workflow: lambda_handler(workflow, ...)"
            )
        return LambdaHandler(
            wf,
            client=client,
            checkpointing=checkpointing,
            serdes=serdes,
            region=region,
            service=service,
            plugins=plugins,
            payload_format=payload_format,
            start_window=start_window,
        )

    return make if workflow is _NO_WORKFLOW else make(workflow)
