"""Exceptions to recorded error objects and back: the one converter each way.

Every place that records a failure (the interpreter, the drivers, the engines, the Lambda
handler) builds its ``ErrorObject`` here, so a failure has one shape whoever records it.
Pure: stdlib, msgspec and the wire shapes only.

Histories recorded by AWS's Python SDK name failures by its exception paths
(``aws_durable_execution_sdk_python.exceptions.CallbackTimeoutError``, ...). The rules:

1. Rebuilding (``raise_error`` and the helpers on it): the class the caller asks for is the
   kind of operation that failed; a recorded type that names a more precise outcome of that
   kind picks the subclass (a callback that timed out is a ``CallbackTimeoutError`` whether
   the service wrote ``Callback.Timeout`` or AWS's SDK wrote its ``CallbackTimeoutError``
   path). The recorded type, message, data and trace stay on the exception as recorded. A
   WaitForCallback and an undo raise what failed inside them, with the type recorded there
   (``wait_for_callback_error``, ``compensation_error``), not their context's (AWS's path
   under ``payload_format="aws"``).
2. Recording for AWS's SDK (``aws_error_type``): the type AWS's SDK would have written for the
   same failure, so that it rebuilds the same exception class. A step's own failure
   (``step_error_object``) keeps a type durable_gen or the step gave it explicitly
   (``StepTimeoutError``, ``raise StepFailedError(..., error_type="Declined")``): AWS's SDK
   rebuilds a failed step as its ``StepError`` whatever the type, and the workflow then reads
   the same ``error_type`` (and class) in both payload formats.
3. Comparing (``same_error_type``): a recorded type matches a failure if it is either name.
"""

from __future__ import annotations

import json
import traceback
from types import TracebackType
from typing import Final, overload

import msgspec

from . import _errors
from ._errors import (
    BatchFailedError,
    CallbackError,
    CallbackFailedError,
    CallbackTimeoutError,
    ChildFailedError,
    DurableGenError,
    InvokeFailedError,
    OperationError,
    PayloadTooLargeError,
    SerializationError,
    StepFailedError,
    StepInterruptedError,
    StepTimeoutError,
    WaitConditionNotMetError,
)
from ._wire import MAX_ERROR_BYTES, ErrorObject, Operation, error_object_problem

__all__ = [
    "AWS_EXCEPTIONS",
    "aws_error_type",
    "bounded_error",
    "callback_error",
    "check_error_object",
    "compensation_error",
    "condition_error",
    "context_error",
    "error_object",
    "error_size",
    "raise_error",
    "same_error_type",
    "step_error",
    "step_error_object",
    "wait_for_callback_error",
]

#: The module AWS's Python SDK records its own exceptions under.
AWS_EXCEPTIONS: Final = "aws_durable_execution_sdk_python.exceptions"
_AWS: Final = AWS_EXCEPTIONS + "."
AWS_STEP_ERROR: Final = _AWS + "StepError"
AWS_INVOKE_ERROR: Final = _AWS + "InvokeError"
AWS_CHILD_CONTEXT_ERROR: Final = _AWS + "ChildContextError"
AWS_WAIT_FOR_CONDITION_ERROR: Final = _AWS + "WaitForConditionError"
AWS_CALLBACK_ERROR: Final = _AWS + "CallbackError"
AWS_CALLBACK_EXTERNAL_ERROR: Final = _AWS + "CallbackExternalError"
AWS_CALLBACK_TIMEOUT_ERROR: Final = _AWS + "CallbackTimeoutError"
AWS_CALLBACK_SUBMITTER_ERROR: Final = _AWS + "CallbackSubmitterError"
AWS_STEP_INTERRUPTED_ERROR: Final = _AWS + "StepInterruptedError"
AWS_SERDES_ERROR: Final = _AWS + "SerDesError"
AWS_DURABLE_OPERATION_ERROR: Final = _AWS + "DurableOperationError"
AWS_BATCH_COMPLETION_ERROR: Final = (
    "aws_durable_execution_sdk_python.concurrency.models.BatchCompletionError"
)

#: Rule 1: (family asked for, recorded type) -> the class raised. The service itself writes
#: ``Callback.Timeout`` / ``Callback.Heartbeat`` on a callback that timed out. Only the family's
#: generic classes are refined: a class already precise (a TIMED_OUT status) stays.
_GENERIC: Final[frozenset[type[OperationError]]] = frozenset(
    {CallbackError, CallbackFailedError, StepFailedError}
)
_PRECISE: Final[tuple[tuple[type[OperationError], str, type[OperationError]], ...]] = (
    (CallbackError, AWS_CALLBACK_TIMEOUT_ERROR, CallbackTimeoutError),
    (CallbackError, "Callback.Timeout", CallbackTimeoutError),
    (CallbackError, "Callback.Heartbeat", CallbackTimeoutError),
    (CallbackError, "Callback.HeartbeatTimeout", CallbackTimeoutError),
    (CallbackError, AWS_CALLBACK_EXTERNAL_ERROR, CallbackFailedError),
    (CallbackError, AWS_CALLBACK_SUBMITTER_ERROR, CallbackFailedError),
    (CallbackError, AWS_CALLBACK_ERROR, CallbackFailedError),
    (StepFailedError, AWS_STEP_INTERRUPTED_ERROR, StepInterruptedError),
    (StepFailedError, "StepInterruptedError", StepInterruptedError),
    (StepFailedError, "StepTimeoutError", StepTimeoutError),
    (StepFailedError, "WaitConditionNotMetError", WaitConditionNotMetError),
    (StepFailedError, AWS_WAIT_FOR_CONDITION_ERROR, WaitConditionNotMetError),
)

#: Rule 2: durable_gen's exception classes -> the path AWS's SDK records for the same failure
#: escaping a context (most specific class first).
_TO_AWS: Final[tuple[tuple[type[BaseException], str], ...]] = (
    (WaitConditionNotMetError, AWS_WAIT_FOR_CONDITION_ERROR),  # before StepFailedError
    (CallbackTimeoutError, AWS_CALLBACK_TIMEOUT_ERROR),
    (CallbackFailedError, AWS_CALLBACK_EXTERNAL_ERROR),
    (CallbackError, AWS_CALLBACK_ERROR),
    (StepFailedError, AWS_STEP_ERROR),  # StepInterruptedError too: AWS raises StepError
    (InvokeFailedError, AWS_INVOKE_ERROR),
    (ChildFailedError, AWS_CHILD_CONTEXT_ERROR),
    (BatchFailedError, AWS_CHILD_CONTEXT_ERROR),  # AWS's throw_if_error raises ChildContextError
    (SerializationError, AWS_SERDES_ERROR),
)
#: The same by recorded type name, for error objects durable_gen recorded.
_TO_AWS_BY_NAME: Final = {cls.__name__: path for cls, path in _TO_AWS} | {
    "StepInterruptedError": AWS_STEP_INTERRUPTED_ERROR,  # a step's own interrupted attempt
    "WaitConditionNotMetError": AWS_WAIT_FOR_CONDITION_ERROR,
    "PayloadTooLargeError": AWS_SERDES_ERROR,
}

_TRUNCATED: Final = " [truncated to fit the 32 KiB error limit]"


def exception_message(exc: BaseException) -> str:
    """``str(exc)``, or what Python's traceback prints when that raises (an exception class
    whose ``__str__`` is broken): its failure must not replace the failure it describes."""
    try:
        return str(exc)
    except Exception:
        return "<exception str() failed>"


def exception_attr(exc: BaseException, name: str) -> object:
    """``getattr(exc, name, None)``, or None when the exception class's ``__getattr__`` raises
    another error than ``AttributeError`` (a dict-backed API error's ``KeyError``): reading a
    failure must not replace it with another."""
    try:
        return getattr(exc, name, None)
    except Exception:
        return None


#: The longest error message a log line carries: what a recorded error keeps of a long one.
LOG_MESSAGE_CHARS: Final = MAX_ERROR_BYTES // 8


def log_message(exc: BaseException) -> str:
    """``exception_message(exc)``, cut to ``LOG_MESSAGE_CHARS`` characters for a log line."""
    text = exception_message(exc)
    if len(text) <= LOG_MESSAGE_CHARS:
        return text
    return f"{text[:LOG_MESSAGE_CHARS]} [truncated: {len(text)} characters]"


def error_object(
    exc: BaseException, *, stack_trace: bool = True, aws_types: bool = False
) -> ErrorObject:
    """The recorded form of ``exc``; operation errors keep their recorded type and data.

    With ``aws_types``, the type is the one AWS's Python SDK records for the same failure
    (``aws_error_type``), so that AWS's SDK rebuilds the matching exception on replay; message,
    data and trace are the same either way. The result always fits the service's 32 KiB
    error-object limit.
    """
    if aws_types:
        plain = error_object(exc, stack_trace=stack_trace)
        return bounded_error(
            ErrorObject(
                error_type=aws_error_type(exc),
                error_message=plain.error_message,
                error_data=plain.error_data,
                stack_trace=plain.stack_trace,
            )
        )
    if isinstance(exc, OperationError):
        err = ErrorObject(
            error_type=_valid(exc.error_type or type(exc).__name__),
            error_message=_valid(exc.error_message),
            error_data=_valid(exc.error_data),
            stack_trace=[_valid(line) for line in exc.stack_trace]
            if exc.stack_trace
            else exc.stack_trace,
        )
    else:
        trace = None
        if stack_trace:
            # Run in another process: the trace it kept (read from the instance's own dict, so
            # that an exception class's __getattr__ is never called here).
            trace = exc.__dict__.get(REMOTE_TRACE)
            if not (isinstance(trace, list) and all(isinstance(line, str) for line in trace)):
                trace = trace_lines(exc, exc.__traceback__)
            trace = [_valid(line) for line in trace]
        err = ErrorObject(
            error_type=type(exc).__name__,
            error_message=_valid(exception_message(exc)),
            stack_trace=trace,
        )
    return bounded_error(err)


#: The attribute ``runtime.run_step_call`` gives a step's exception in the process that ran
#: it: the trace from the step's function down, which pickling to the interpreter's process
#: would lose (a process pool chains the worker's whole trace as text instead).
REMOTE_TRACE: Final = "_durable_gen_stack_trace"


def trace_lines(exc: BaseException, tb: TracebackType | None) -> list[str]:
    """The recorded stack trace of ``exc`` raised through ``tb``: its last 20 lines.

    Python's ``traceback`` reads attributes of the exception (``__notes__``, ...); an exception
    class whose ``__getattr__`` raises another error than ``AttributeError`` for them (a
    dict-backed API error: ``KeyError``) breaks it, and that must not replace the failure
    being recorded: the frames and the exception's type and message are written without it.
    """
    try:
        lines = traceback.format_exception(type(exc), exc, tb)
    except Exception:
        lines = [
            "Traceback (most recent call last):\n",
            *traceback.format_list(traceback.extract_tb(tb)),
            f"{type(exc).__name__}: {exception_message(exc)}",
        ]
    return [line.rstrip("\n") for line in lines[-20:]]


@overload
def _valid(text: str) -> str: ...
@overload
def _valid(text: str | None) -> str | None: ...
def _valid(text: str | None) -> str | None:
    """``text`` with any lone surrogate written as its escape (``\\ud800``): JSON, the wire
    and every store carry only valid Unicode, and a message must not make the failure it
    describes impossible to record (a store would refuse the whole checkpoint)."""
    if text is None or text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


def step_error_object(exc: BaseException, *, aws_types: bool = False) -> ErrorObject:
    """The recorded form of a step's own failure (rule 2).

    As ``error_object``, except that with ``aws_types`` an operation error carrying a type of
    its own (a ``StepTimeoutError``, or a ``StepFailedError`` the step raised with
    ``error_type=``) keeps that type: AWS's SDK rebuilds any failed step as its ``StepError``
    with the recorded type, so translating it would only lose the type (and the
    ``StepTimeoutError`` class) for the workflow.
    """
    if (
        aws_types
        and isinstance(exc, OperationError)
        and exc.error_type
        and exc.error_type not in _TO_AWS_BY_NAME
    ):
        return error_object(exc)
    return error_object(exc, aws_types=aws_types)


def bounded_error(error: ErrorObject) -> ErrorObject:
    """``error``, cut down to the 32 KiB error-object limit when it is over it (as
    ``error_size`` counts it): the stack trace goes first; then the type keeps 256
    characters, the message 4,096 and the data 2,048, halved until the object fits."""
    if not _may_be_large(error) or error_size(error) <= MAX_ERROR_BYTES:
        return error
    if error.stack_trace:  # the trace goes first: often that is enough
        traceless = msgspec.structs.replace(error, stack_trace=None)
        if error_size(traceless) <= MAX_ERROR_BYTES:
            return traceless
    message = error.error_message or ""
    data = error.error_data or ""
    keep_message, keep_data = MAX_ERROR_BYTES // 8, MAX_ERROR_BYTES // 16
    while True:
        cut = ErrorObject(
            error_type=(error.error_type or "")[:256] or None,
            error_message=message[:keep_message] + _TRUNCATED
            if len(message) > keep_message
            else message or None,
            error_data=data[:keep_data] or None,
        )
        if keep_message == 0 or error_size(cut) <= MAX_ERROR_BYTES:
            return cut
        keep_message //= 2
        keep_data //= 2


def error_size(error: ErrorObject) -> int:
    """The size of ``error`` as the service counts it against the 32 KiB limit: its JSON with
    every non-ASCII character escaped (``\\u00e9``, six bytes; twelve beyond the BMP), as
    Python's ``json.dumps`` writes it, not its UTF-8 length (AWS's emulator refuses a
    checkpoint whose error is over the limit so counted)."""
    return len(json.dumps(msgspec.to_builtins(error)))


def check_error_object(
    error: ErrorObject | None, what: str, invalid: type[DurableGenError]
) -> None:
    """Refuse an error object handed to an API that records it as given (a callback failure,
    a stop, an answer to a host's callback or invoke), before anything is recorded: a field of
    the wrong type or text that is not valid Unicode raises ``invalid`` (the API's own input
    error), an object over the 32 KiB limit (as ``error_size`` counts it) raises
    ``PayloadTooLargeError``. ``what`` names the error in the message: "the callback failure".

    Failures durable_gen records itself are cut to fit instead (``bounded_error``): nobody
    could shorten them. One handed in by a caller is refused, so that the caller, who holds
    the whole text, decides what to keep.
    """
    if error is None:
        return
    problem = error_object_problem(error)
    if problem is not None:
        raise invalid(f"{what} {problem}")
    if _may_be_large(error) and (size := error_size(error)) > MAX_ERROR_BYTES:
        raise PayloadTooLargeError(
            f"{what} is {size} bytes of JSON (non-ASCII characters escaped, as the service "
            f"counts them), over the limit of an error object, 32 KiB ({MAX_ERROR_BYTES} "
            "bytes); nothing was recorded. Leave out its stack_trace, or shorten its "
            "error_message and error_data (keep the details elsewhere and send a reference "
            "to them)"
        )


def _may_be_large(error: ErrorObject) -> bool:
    # JSON escapes a character into at most 12 bytes (a surrogate pair); below this bound no
    # encoding is needed.
    chars = (
        len(error.error_type or "") + len(error.error_message or "") + len(error.error_data or "")
    )
    if error.stack_trace:
        chars += sum(len(line) + 3 for line in error.stack_trace)
    return chars * 12 + 160 > MAX_ERROR_BYTES


def raise_error(cls: type[OperationError], err: ErrorObject | None) -> OperationError:
    """Rebuild the exception raised into a workflow from a recorded error object.

    ``cls`` is the kind of operation that failed; a recorded type naming a more precise outcome
    of that kind (AWS's ``CallbackTimeoutError`` path for a callback) picks the subclass.
    """
    err = err or ErrorObject()
    recorded = err.error_type
    if recorded:
        for family, error_type, precise in _PRECISE:
            if (
                cls in _GENERIC
                and issubclass(cls, family)
                and (recorded == error_type or recorded.startswith(error_type + "."))
            ):
                cls = precise
                break
    return cls(
        err.error_message,
        error_type=err.error_type,
        error_data=err.error_data,
        stack_trace=err.stack_trace,
    )


def step_error(err: ErrorObject | None) -> OperationError:
    """The exception of a failed step: ``StepInterruptedError`` when that is what was recorded
    (by durable_gen or by AWS's SDK)."""
    return raise_error(StepFailedError, err)


def condition_error(err: ErrorObject | None) -> OperationError:
    """The exception of a failed WaitForCondition: ``WaitConditionNotMetError`` when it ran out
    of attempts, else the ``StepFailedError`` of its check, which, escaping a context or the
    workflow, AWS's format records under AWS's ``WaitForConditionError`` (AWS's SDK raises that
    for a check that raised, too)."""
    exc = step_error(err)
    if type(exc) is StepFailedError:
        setattr(exc, _AWS_TYPE_ATTR, AWS_WAIT_FOR_CONDITION_ERROR)
    return exc


def callback_error(err: ErrorObject | None, status: str) -> OperationError:
    """The exception of a callback that ended with ``status`` (TIMED_OUT or FAILED)."""
    if status == "TIMED_OUT":
        return raise_error(CallbackTimeoutError, err)
    return raise_error(CallbackFailedError, err)


def context_error(sub_type: str | None, err: ErrorObject | None) -> OperationError:
    """The exception of a failed CONTEXT operation of ``sub_type``.

    A ``WaitForCallback`` context raises what its callback raised (``CallbackTimeoutError``
    for a timeout, ``CallbackFailedError`` otherwise, a failed submitter included); every
    other context (``Child``, Map item, Parallel branch, Map, Parallel) raises
    ``ChildFailedError``.
    """
    if sub_type == "WaitForCallback":
        return raise_error(CallbackFailedError, err)
    return raise_error(ChildFailedError, err)


#: Set on the ``CallbackFailedError`` of a WaitForCallback whose submitter failed: the type AWS's
#: SDK records when it escapes (its own name is the submitter's exception's).
_AWS_TYPE_ATTR: Final = "_durable_gen_aws_error_type"


def wait_for_callback_error(
    err: ErrorObject | None,
    escaped: BaseException | None,
    callback: Operation | None,
    submitter: Operation | None,
) -> OperationError:
    """The exception a failed WaitForCallback raises: what failed inside it, with the type
    recorded there, in both payload formats, on the first run and on replay.

    Its callback's error (the sender's type, ``Callback.Timeout``, ``Callback.Heartbeat``),
    else its submitter step's (``CallbackFailedError`` with the step's type), else
    ``SerializationError`` (a result that could not be read): ``escaped`` (what its body
    raised) when it ends in this invocation, else its children's records (``callback`` and
    ``submitter``, its operations 1 and 2) and its own. That record, ``err``, may name AWS's
    exception instead (``payload_format="aws"``, or AWS's SDK wrote it), which keeps none of
    these types.
    """
    ended = (
        callback is not None
        and callback.type == "CALLBACK"
        and callback.status in ("FAILED", "TIMED_OUT")
        and callback.callback_details is not None
        and callback.callback_details.error is not None
    )
    if escaped is not None:  # it ends in this invocation
        inner = error_object(escaped)  # its own type, as format "json" records it
        if isinstance(escaped, CallbackTimeoutError):
            return raise_error(CallbackTimeoutError, inner)
        if isinstance(escaped, StepFailedError) and not ended:
            return _submitter_failed(inner)  # the submitter step failed for good
        if not ended:
            return _unreadable(raise_error(CallbackFailedError, inner))  # a SerializationError
        # the submitter failed for good after its callback had ended (timed out or failed
        # while a retry delay ran): the callback's error, as on every replay
    if ended:
        assert callback is not None and callback.callback_details is not None
        return callback_error(callback.callback_details.error, callback.status)
    if (
        submitter is not None
        and submitter.type == "STEP"
        and submitter.status == "FAILED"
        and submitter.step_details is not None
        and submitter.step_details.error is not None
    ):
        return _submitter_failed(submitter.step_details.error)
    if err is not None and err.error_type == AWS_SERDES_ERROR:
        # neither child failed: the callback's result could not be read, which "aws" records
        # under AWS's SerDesError
        err = msgspec.structs.replace(err, error_type="SerializationError")
        return _unreadable(raise_error(CallbackFailedError, err))
    return raise_error(CallbackFailedError, err)


def compensation_error(
    err: ErrorObject | None, escaped: BaseException | None, step: Operation | None
) -> OperationError:
    """The exception of an undo that failed (``CompensationResult.error_type``): its step's
    failure with the type recorded on the step, in both payload formats, on the first run and
    on replay. ``escaped`` is what the undo's body raised when it ends in this invocation,
    ``step`` the undo's step (its context's operation 1); the context's own record ``err``
    names AWS's ``StepError`` under ``payload_format="aws"`` and is the answer only when the
    step is not recorded as failed."""
    if isinstance(escaped, StepFailedError):
        return step_error(error_object(escaped))
    if (
        escaped is None
        and step is not None
        and step.type == "STEP"
        and step.status == "FAILED"
        and step.step_details is not None
        and step.step_details.error is not None
    ):
        return step_error(step.step_details.error)
    return raise_error(StepFailedError, err)


def _unreadable(exc: OperationError) -> OperationError:
    """A WaitForCallback's result that could not be read escapes as AWS's ``SerDesError``, as
    AWS's SDK records it where it escapes (its workflow's ``error_type`` stays
    ``SerializationError``)."""
    if exc.error_type == SerializationError.__name__:
        setattr(exc, _AWS_TYPE_ATTR, AWS_SERDES_ERROR)
    return exc


def _submitter_failed(err: ErrorObject) -> OperationError:
    exc = raise_error(CallbackFailedError, err)
    setattr(exc, _AWS_TYPE_ATTR, AWS_CALLBACK_SUBMITTER_ERROR)
    return exc


def aws_error_type(exc_or_error: BaseException | ErrorObject) -> str:
    """The ``ErrorType`` AWS's Python SDK records for this failure.

    For an exception: durable_gen's operation errors become the SDK's exception paths
    (``StepFailedError`` -> ``aws_durable_execution_sdk_python.exceptions.StepError``, ...);
    any other exception (a user's subclass of ``StepFailedError`` too) its qualified class
    name, builtins bare (``ValueError``, ``payments.CardDeclined``), as AWS's SDK writes it.
    For an error object durable_gen recorded: its type, with durable_gen's own class names
    translated the same way.

    Use it where an execution or context failure is recorded in AWS's format, so that AWS's
    SDK rebuilds the exception class a workflow catches.
    """
    if isinstance(exc_or_error, ErrorObject):
        recorded = exc_or_error.error_type or ""
        return _TO_AWS_BY_NAME.get(recorded, recorded) or AWS_DURABLE_OPERATION_ERROR
    exc = exc_or_error
    if isinstance(exc, OperationError) and (
        exc.error_type == AWS_SERDES_ERROR
        or (
            exc.error_type == SerializationError.__name__
            and isinstance(
                exc, (StepFailedError, ChildFailedError, InvokeFailedError, BatchFailedError)
            )
        )
    ):
        # a serdes failure escapes every context as AWS's SerDesError, as AWS's SDK records
        # it at each level (not as the StepError, ChildContextError, WaitForConditionError or
        # CallbackSubmitterError of the operation), and its BatchResult.throw_if_error raises
        # a first failure of that type as SerDesError
        return AWS_SERDES_ERROR
    marked = exception_attr(exc, _AWS_TYPE_ATTR)
    if isinstance(marked, str):
        return marked
    if isinstance(exc, CallbackError) and not isinstance(exc, CallbackTimeoutError):
        recorded = exc.error_type or ""
        if recorded in (
            AWS_CALLBACK_EXTERNAL_ERROR,
            AWS_CALLBACK_SUBMITTER_ERROR,
            AWS_CALLBACK_ERROR,
        ):
            return recorded
        if recorded == AWS_STEP_ERROR:  # an AWS wait-for-callback whose submitter failed
            return AWS_CALLBACK_SUBMITTER_ERROR
    kind = type(exc)
    if kind.__module__.startswith("durable_gen"):
        for cls, path in _TO_AWS:
            if isinstance(exc, cls):
                return path
        if kind.__module__ == _errors.__name__ and kind.__name__ in _errors.__all__:
            # one of our public errors: by the name it is imported under, not its private module
            return f"durable_gen.{kind.__qualname__}"
    # any other class, a subclass of ours a user defined included: its own name, as AWS's SDK
    # records a subclass of its StepError
    module = "" if kind.__module__ == "builtins" else f"{kind.__module__}."
    return f"{module}{kind.__qualname__}"


def same_error_type(recorded: str | None, exc_or_error: BaseException | ErrorObject) -> bool:
    """Whether a recorded ``ErrorType`` names this failure, as durable_gen or AWS's SDK
    records it."""
    if isinstance(exc_or_error, ErrorObject):
        ours = exc_or_error.error_type
    else:
        ours = error_object(exc_or_error, stack_trace=False).error_type
    if recorded == ours:
        return True
    if recorded is None:
        return False
    if recorded == aws_error_type(exc_or_error):
        return True
    if recorded == AWS_STEP_ERROR and (
        isinstance(exc_or_error, WaitConditionNotMetError)
        or (
            isinstance(exc_or_error, BaseException)
            and exception_attr(exc_or_error, _AWS_TYPE_ATTR) == AWS_WAIT_FOR_CONDITION_ERROR
        )
    ):
        # what durable_gen recorded for a wait-for-condition's failure escaping, before it
        # recorded AWS's WaitForConditionError
        return True
    # recorded by a version that named our public errors after their private module
    kind = type(exc_or_error)
    return (
        kind.__module__ == _errors.__name__ and recorded == f"{kind.__module__}.{kind.__qualname__}"
    )
