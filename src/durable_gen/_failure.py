"""Exceptions to recorded error objects and back: the one converter each way.

Every place that records a failure (the interpreter, the drivers, the engines, the Lambda
handler) builds its ``ErrorObject`` here, so a failure has one shape whoever records it.
Pure: stdlib, msgspec and the wire shapes only.
"""

from __future__ import annotations

import traceback
from typing import Final

import msgspec

from ._errors import (
    CallbackFailedError,
    CallbackTimeoutError,
    OperationError,
    StepFailedError,
    StepInterruptedError,
)
from ._wire import MAX_ERROR_BYTES, ErrorObject

__all__ = ["bounded_error", "callback_error", "error_object", "raise_error", "step_error"]

_encode: Final = msgspec.json.Encoder().encode
_TRUNCATED: Final = " [truncated to fit the 32 KiB error limit]"


def error_object(exc: BaseException, *, stack_trace: bool = True) -> ErrorObject:
    """The recorded form of ``exc``; operation errors keep their recorded type and data.

    The result always fits the service's 32 KiB error-object limit.
    """
    if isinstance(exc, OperationError):
        err = ErrorObject(
            error_type=exc.error_type or type(exc).__name__,
            error_message=exc.error_message,
            error_data=exc.error_data,
            stack_trace=exc.stack_trace,
        )
    else:
        trace = None
        if stack_trace:
            lines = traceback.format_exception(type(exc), exc, exc.__traceback__)[-20:]
            trace = [line.rstrip("\n") for line in lines]
        err = ErrorObject(error_type=type(exc).__name__, error_message=str(exc), stack_trace=trace)
    return bounded_error(err)


def bounded_error(error: ErrorObject) -> ErrorObject:
    """``error``, cut down to the 32 KiB error-object limit when it is over it."""
    if not _may_be_large(error) or len(_encode(error)) <= MAX_ERROR_BYTES:
        return error
    budget = MAX_ERROR_BYTES // 4  # characters; JSON escaping may grow each up to ~6 bytes
    return ErrorObject(
        error_type=(error.error_type or "")[:256] or None,
        error_message=(error.error_message or "")[: budget // 2] + _TRUNCATED,
        error_data=(error.error_data or "")[: budget // 4] or None,
    )


def _may_be_large(error: ErrorObject) -> bool:
    # JSON escapes a character into at most 6 bytes; below this bound no encoding is needed.
    chars = (
        len(error.error_type or "") + len(error.error_message or "") + len(error.error_data or "")
    )
    if error.stack_trace:
        chars += sum(len(line) + 3 for line in error.stack_trace)
    return chars * 6 + 128 > MAX_ERROR_BYTES


def raise_error(cls: type[OperationError], err: ErrorObject | None) -> OperationError:
    """Rebuild the exception raised into a workflow from a recorded error object."""
    err = err or ErrorObject()
    return cls(
        err.error_message,
        error_type=err.error_type,
        error_data=err.error_data,
        stack_trace=err.stack_trace,
    )


def step_error(err: ErrorObject | None) -> OperationError:
    """The exception of a failed step: ``StepInterruptedError`` when that is what was recorded."""
    if err is not None and err.error_type == "StepInterruptedError":
        return raise_error(StepInterruptedError, err)
    return raise_error(StepFailedError, err)


def callback_error(err: ErrorObject | None, status: str) -> OperationError:
    """The exception of a callback that ended with ``status`` (TIMED_OUT or FAILED)."""
    if status == "TIMED_OUT":
        return raise_error(CallbackTimeoutError, err)
    return raise_error(CallbackFailedError, err)
