"""The one error tree of durable_gen, sorted by who must act.

Bottom of the import graph: stdlib only. Errors raised *into* workflows (at a ``yield``) carry
the recorded error object, so the same exception is raised on every replay.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "ArgumentError",
    "BatchFailedError",
    "CallbackError",
    "CallbackFailedError",
    "CallbackTimeoutError",
    "ChildFailedError",
    "DurableGenError",
    "ExecutionFailedError",
    "ExecutionNotFoundError",
    "ExecutionSuspendedError",
    "FunctionNotRegisteredError",
    "InvalidCheckpointError",
    "InvalidCheckpointTokenError",
    "InvalidInputError",
    "InvokeFailedError",
    "NonDeterminismError",
    "OperationError",
    "PayloadTooLargeError",
    "SerializationError",
    "ServiceError",
    "StepFailedError",
    "StepInterruptedError",
    "StepTimeoutError",
    "StoreError",
    "UnknownCallbackError",
    "ValidationError",
    "WaitConditionNotMetError",
    "WorkflowDefinitionError",
]


def failure_text(error_type: str | None, error_message: str | None) -> str:
    """``Type: message`` of a recorded failure, leaving out what it did not record (a callback
    failed with a type alone reads ``Denied``, not ``Denied: None``)."""
    if error_type and error_message:
        return f"{error_type}: {error_message}"
    return error_type or error_message or "no error type or message recorded"


class DurableGenError(Exception):
    """Base class of every error durable_gen raises."""


# --- the workflow author must act -------------------------------------------------------------


class ValidationError(DurableGenError, ValueError):
    """An option given to a command or an API is invalid (a negative wait, zero concurrency...)."""


class ArgumentError(ValidationError, TypeError):
    """A call got arguments it does not take: an unknown or misspelt keyword, too many
    positional arguments, or a required one missing.

    A ``ValidationError``, and a ``TypeError`` as well (what Python raises for such a call),
    so ``except TypeError`` still catches it. The message names what the call takes and the
    closest keyword to a misspelt one.
    """


class WorkflowDefinitionError(DurableGenError, TypeError):
    """The workflow is not written as durable_gen expects.

    For example: it is not a generator function, it yielded something that is not a command,
    or it kept yielding after the execution was decided.
    """


class SerializationError(DurableGenError):
    """A value could not be serialized to, or deserialized from, its JSON payload."""


class PayloadTooLargeError(SerializationError):
    """A payload or error object is over the service's size limit."""


class NonDeterminismError(DurableGenError):
    """The workflow code asked for something other than what the history recorded.

    Raised (as a failed execution, never retried) when the command at a position does not match
    the recorded operation's type, subtype, name or parent, or when the workflow finishes while
    recorded operations were never visited.
    """

    def __init__(
        self,
        message: str,
        *,
        operation_id: str | None = None,
        position: str | None = None,
        recorded: str | None = None,
        requested: str | None = None,
    ) -> None:
        super().__init__(message)
        self.operation_id = operation_id
        self.position = position
        self.recorded = recorded
        self.requested = requested


# --- the caller (of run(), the engine or the handler) must act ---------------------------------


class InvalidInputError(DurableGenError, ValueError):
    """Input is malformed: bad JSON, a non-durable invocation event, a corrupt history."""


class ExecutionFailedError(DurableGenError):
    """The execution finished in FAILED (or TIMED_OUT / STOPPED) state.

    Attributes:
        error_type: The recorded error type (for workflow exceptions, the class name).
        error_message: The recorded error message.
        error_data: Optional recorded data.
        status: The execution status.
    """

    def __init__(
        self,
        error_type: str | None,
        error_message: str | None,
        *,
        error_data: str | None = None,
        status: str = "FAILED",
        stack_trace: list[str] | None = None,
    ) -> None:
        verdict = status.lower().replace("_", " ")  # "timed out", not "timed_out"
        super().__init__(f"execution {verdict}: {failure_text(error_type, error_message)}")
        self.error_type = error_type
        self.error_message = error_message
        self.error_data = error_data
        self.status = status
        self.stack_trace = stack_trace


class ExecutionSuspendedError(DurableGenError):
    """The execution cannot go on by itself: it waits for something only the caller can send."""

    def __init__(self, message: str, *, execution_arn: str, waiting_on: list[str]) -> None:
        super().__init__(message)
        self.execution_arn = execution_arn
        self.waiting_on = waiting_on


# --- the infrastructure must be fixed (or waited for) ------------------------------------------


class StoreError(DurableGenError):
    """The execution store's database is unusable: locked too long, corrupt, or too new.

    Not an ``InvalidInputError``: nothing the caller passed was wrong. A locked database is
    retried by waiting (or by freeing the lock); a corrupt or too-new one needs the operator.
    """


# --- the service refused a request --------------------------------------------------------------


class ServiceError(DurableGenError):
    """The durable-execution service (embedded or AWS) refused a request."""


class InvalidCheckpointTokenError(ServiceError):
    """The checkpoint token is unknown or stale: only the newest token may be used."""


class InvalidCheckpointError(ServiceError):
    """A checkpoint update is not allowed in the operation's current state."""


class ExecutionNotFoundError(ServiceError):
    """No execution has that ARN or id."""


class UnknownCallbackError(ServiceError):
    """No open callback has that id (it never existed, or it already completed or timed out)."""


class FunctionNotRegisteredError(ServiceError):
    """``Invoke`` named a function the embedded engine does not know; register it first."""


# --- raised into the workflow at a yield --------------------------------------------------------


class OperationError(DurableGenError):
    """An operation ended in failure; raised into the workflow at its ``yield``.

    The same exception (type, message, data) is raised on every replay, because it is built from
    the recorded error object, never from a live exception.

    Attributes:
        error_type: The type recorded for the failure (for a step, the exception class name).
        error_message: The recorded message.
        error_data: Optional recorded data (a string).
        stack_trace: The recorded stack trace lines, if any.
    """

    def __init__(
        self,
        error_message: str | None = None,
        *,
        error_type: str | None = None,
        error_data: str | None = None,
        stack_trace: list[str] | None = None,
    ) -> None:
        if error_message is not None and not isinstance(error_message, str):
            error_message = str(error_message)  # a message is text, as for any exception
        stack_trace = _check_recordable(type(self).__name__, error_type, error_data, stack_trace)
        super().__init__(error_message or error_type or type(self).__name__)
        self.error_type = error_type
        self.error_message = error_message
        self.error_data = error_data
        self.stack_trace = stack_trace

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(error_type={self.error_type!r}, message={self.error_message!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.error_message, self.error_type, self.error_data))


def finite(value: float) -> bool:
    """``math.isfinite(value)``, False (not ``OverflowError``) for an int too large to be a
    float (``10**400``): no duration, delay or timestamp can be one."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def a_kind(value: object) -> str:
    """``a list``, ``an int``: the article and the type name of ``value``, for a message."""
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def shown(value: object, limit: int = 200) -> str:
    """``repr(value)`` for a message about a wrong argument: at most ``limit`` characters (a
    list of a million items given as a name), and the type's name when ``repr`` itself raises,
    so that the message about the mistake is what the caller gets."""
    try:
        text = repr(value)
    except Exception:
        return f"<a {type(value).__name__} whose repr() fails>"
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({a_kind(value)} of {len(text)} characters)"


def _check_recordable(
    cls: str, error_type: object, error_data: object, stack_trace: object
) -> list[str] | None:
    """Refuse fields the service cannot record (it keeps text only), where the error is built:
    recorded later, they would fail the step with an error of their own. Returns the trace as
    a list."""
    if error_type is not None and not isinstance(error_type, str):
        raise ValidationError(
            f"{cls} error_type must be a str (the name the workflow tests, exc.error_type == "
            f"'Declined') or None, got {type(error_type).__name__} {shown(error_type, 80)}"
        )
    if error_data is not None and not isinstance(error_data, str):
        raise ValidationError(
            f"{cls} error_data must be a str or None (it is recorded as text), got "
            f"{type(error_data).__name__} {shown(error_data, 80)}: encode it first, "
            "error_data=json.dumps(...), and decode it where it is caught"
        )
    if stack_trace is None:
        return None
    if not isinstance(stack_trace, list | tuple) or not all(
        isinstance(line, str) for line in stack_trace
    ):
        raise ValidationError(
            f"{cls} stack_trace must be a list of str (one line each) or None, got "
            f"{type(stack_trace).__name__}"
        )
    return list(stack_trace)


def _rebuild(
    cls: type[OperationError], message: str | None, error_type: str | None, data: str | None
) -> OperationError:
    return cls(message, error_type=error_type, error_data=data)


class StepFailedError(OperationError):
    """A step failed after its last attempt (or with an error its retry policy does not retry)."""


class StepInterruptedError(StepFailedError):
    """An at-most-once step started but its outcome was never recorded (the process died)."""


class StepTimeoutError(StepFailedError):
    """A step attempt ran longer than the step's ``timeout`` (or than the Lambda invocation had
    left) and was given up.

    It is the attempt's failure: the retry policy sees it like any error (``retry_on`` /
    ``retry_if``), and when the step is not retried the workflow gets it at the ``yield`` (a
    ``StepFailedError`` whose ``error_type`` is ``"StepTimeoutError"``).
    """


class CallbackError(OperationError):
    """Base class of callback outcomes that are not a success."""


class CallbackFailedError(CallbackError):
    """The callback was completed with a failure by whoever held its id."""


class CallbackTimeoutError(CallbackError):
    """The callback timed out (overall timeout, or no heartbeat within the heartbeat timeout)."""


class InvokeFailedError(OperationError):
    """The invoked function failed, timed out or was stopped."""


class ChildFailedError(OperationError):
    """A child context (``Child``, a Map item or a Parallel branch) ended with an error."""


class WaitConditionNotMetError(StepFailedError):
    """``WaitStrategy`` ran ``max_attempts`` checks and the condition was never met.

    Raised by the wait strategy, so the ``WaitForCondition`` step fails; the workflow gets this
    class at the ``yield`` (a ``StepFailedError``, so ``except dg.StepFailedError`` catches it
    too) whose ``error_type`` is ``"WaitConditionNotMetError"``, or the type AWS's SDK records
    for it (its ``WaitForConditionError``) under ``payload_format="aws"`` and in histories AWS's
    SDK recorded.
    """


class BatchFailedError(OperationError):
    """A Map or Parallel batch had failures and ``raise_if_failed()`` was asked for."""
