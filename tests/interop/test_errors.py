"""Failures recorded by AWS's SDK rebuild as the durable_gen exceptions a workflow catches, and
durable_gen's failures carry the ErrorType AWS's SDK rebuilds the same way."""

from __future__ import annotations

from typing import Any

import pytest

import durable_gen as dg
from durable_gen._failure import (
    aws_error_type,
    callback_error,
    context_error,
    raise_error,
    same_error_type,
    step_error,
)
from durable_gen._ids import operation_id
from durable_gen._wire import ErrorObject
from durable_gen.testing import replay

AWS = "aws_durable_execution_sdk_python.exceptions."


def _err(error_type: str) -> ErrorObject:
    return ErrorObject(
        error_type=error_type, error_message="it failed", error_data='{"k": 1}', stack_trace=["a"]
    )


# --- rebuilding what AWS recorded -------------------------------------------------------------


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [
        (AWS + "CallbackTimeoutError", dg.CallbackTimeoutError),
        (AWS + "CallbackExternalError", dg.CallbackFailedError),
        (AWS + "CallbackSubmitterError", dg.CallbackFailedError),
        (AWS + "CallbackError", dg.CallbackFailedError),
        (AWS + "StepError", dg.CallbackFailedError),  # the submitter step failed
        ("Callback.Timeout", dg.CallbackTimeoutError),
        ("Callback.Heartbeat", dg.CallbackTimeoutError),
        ("ValueError", dg.CallbackFailedError),
    ],
)
def test_a_failed_wait_for_callback_raises_what_its_callback_raised(
    recorded: str, expected: type[dg.OperationError]
) -> None:
    exc = context_error("WaitForCallback", _err(recorded))
    assert type(exc) is expected
    assert (exc.error_type, exc.error_message, exc.error_data, exc.stack_trace) == (
        recorded,
        "it failed",
        '{"k": 1}',
        ["a"],
    )


@pytest.mark.parametrize("sub_type", ["RunInChildContext", "Map", "MapIteration", "Parallel"])
@pytest.mark.parametrize(
    "recorded", [AWS + "CallbackTimeoutError", AWS + "StepError", AWS + "ChildContextError"]
)
def test_other_contexts_raise_child_failed_whatever_escaped(sub_type: str, recorded: str) -> None:
    exc = context_error(sub_type, _err(recorded))
    assert type(exc) is dg.ChildFailedError
    assert exc.error_type == recorded and exc.error_data == '{"k": 1}'


def test_a_step_interrupted_under_aws_is_a_step_interrupted_error() -> None:
    assert type(step_error(_err(AWS + "StepInterruptedError"))) is dg.StepInterruptedError
    assert type(step_error(_err("StepInterruptedError"))) is dg.StepInterruptedError
    assert type(step_error(_err(AWS + "StepError"))) is dg.StepFailedError
    assert type(step_error(_err("ValueError"))) is dg.StepFailedError


def test_a_callback_status_wins_over_its_recorded_type() -> None:
    assert type(callback_error(_err(AWS + "CallbackExternalError"), "TIMED_OUT")) is (
        dg.CallbackTimeoutError
    )
    assert type(callback_error(_err("Rejected"), "FAILED")) is dg.CallbackFailedError
    assert type(callback_error(_err(AWS + "CallbackTimeoutError"), "FAILED")) is (
        dg.CallbackTimeoutError
    )


def test_classes_already_precise_stay() -> None:
    assert type(raise_error(dg.InvokeFailedError, _err(AWS + "CallbackTimeoutError"))) is (
        dg.InvokeFailedError
    )
    assert type(raise_error(dg.ChildFailedError, _err("Callback.Timeout"))) is dg.ChildFailedError


def _wait_for_callback(_event: Any):  # type: ignore[no-untyped-def]
    try:
        return (yield dg.WaitForCallback(lambda _id: None, name="approval"))
    except dg.CallbackTimeoutError as exc:
        return {"timed out": exc.error_type, "data": exc.error_data}


def test_except_callback_timeout_catches_an_aws_recorded_timeout() -> None:
    ops = [
        {"Id": "e", "Type": "EXECUTION", "Status": "STARTED", "ExecutionDetails": {}},
        {
            "Id": operation_id(None, 1),
            "Type": "CONTEXT",
            "SubType": "WaitForCallback",
            "Name": "approval",
            "Status": "FAILED",
            "ContextDetails": {
                "Error": {"ErrorType": AWS + "CallbackTimeoutError", "ErrorData": "d"}
            },
        },
    ]
    report = replay(_wait_for_callback, {"Operations": ops})
    assert report.status == "ok", report
    assert report.result == {"timed out": AWS + "CallbackTimeoutError", "data": "d"}


# --- what AWS's SDK rebuilds from durable_gen's types -----------------------------------------


class CardDeclined(Exception):
    pass


DG_TO_AWS: list[tuple[BaseException, str]] = [
    (dg.StepFailedError("x", error_type="ValueError"), "StepError"),
    (dg.StepInterruptedError("x"), "StepError"),
    (dg.CallbackTimeoutError("x", error_type="Callback.Timeout"), "CallbackTimeoutError"),
    (dg.CallbackFailedError("x", error_type="Rejected"), "CallbackExternalError"),
    (dg.CallbackFailedError("x", error_type=AWS + "StepError"), "CallbackSubmitterError"),
    (dg.InvokeFailedError("x"), "InvokeError"),
    (dg.ChildFailedError("x"), "ChildContextError"),
    (dg.BatchFailedError("x"), "ChildContextError"),
]


@pytest.mark.parametrize(("exc", "aws_class"), DG_TO_AWS, ids=lambda v: type(v).__name__)
def test_aws_sdk_rebuilds_the_matching_exception(exc: BaseException, aws_class: str) -> None:
    lambda_service = pytest.importorskip("aws_durable_execution_sdk_python.lambda_service")
    exceptions = pytest.importorskip("aws_durable_execution_sdk_python.exceptions")
    wire = {"ErrorType": aws_error_type(exc), "ErrorMessage": "x"}
    rebuilt = lambda_service.ErrorObject.from_dict(wire).to_durable_operation_error()
    assert type(rebuilt) is getattr(exceptions, aws_class)


@pytest.mark.parametrize("exc", [ValueError("v"), KeyError("k"), CardDeclined("no")])
def test_other_exceptions_get_the_type_aws_writes(exc: Exception) -> None:
    lambda_service = pytest.importorskip("aws_durable_execution_sdk_python.lambda_service")
    assert aws_error_type(exc) == lambda_service.ErrorObject.from_exception(exc).type


def test_error_objects_durable_gen_recorded_translate_by_name() -> None:
    assert aws_error_type(ErrorObject(error_type="StepFailedError")) == AWS + "StepError"
    assert aws_error_type(ErrorObject(error_type="CallbackTimeoutError")) == (
        AWS + "CallbackTimeoutError"
    )
    assert aws_error_type(ErrorObject(error_type="ValueError")) == "ValueError"
    assert aws_error_type(ErrorObject()) == AWS + "DurableOperationError"


def test_every_aws_operation_error_is_mapped() -> None:
    """Every exception class AWS's SDK records for an operation has a rule in _failure."""
    exceptions = pytest.importorskip("aws_durable_execution_sdk_python.exceptions")
    pytest.importorskip("aws_durable_execution_sdk_python.concurrency.models")

    def subclasses(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *subclasses(sub))]

    paths = {
        f"{c.__module__}.{c.__qualname__}"
        for c in subclasses(exceptions.DurableOperationError)
        if c.__module__.startswith("aws_durable_execution_sdk_python")
    }
    produced = {aws_error_type(exc) for exc, _ in DG_TO_AWS} | {
        aws_error_type(dg.CallbackFailedError("x", error_type=AWS + "CallbackError")),
        aws_error_type(ErrorObject(error_type="WaitConditionNotMetError")),
    }
    rebuilt_from = {
        AWS + name
        for name in (
            "CallbackTimeoutError",
            "CallbackExternalError",
            "CallbackSubmitterError",
            "CallbackError",
            "StepInterruptedError",
        )
    }
    # BatchCompletionError: AWS's throw_if_error raises it only for a batch that a custom
    # should_complete decision failed with no failed item; durable_gen has no custom
    # completion decision (its Completion policies are the three counts), so nothing maps to it.
    unmapped = (
        paths
        - produced
        - rebuilt_from
        - {"aws_durable_execution_sdk_python.concurrency.models.BatchCompletionError"}
    )
    assert not unmapped


def test_same_error_type_accepts_either_name() -> None:
    exc = dg.StepFailedError("boom", error_type="ValueError")
    assert same_error_type("ValueError", exc)
    assert same_error_type(AWS + "StepError", exc)
    assert not same_error_type(AWS + "InvokeError", exc)
    assert same_error_type("KeyError", KeyError("k"))
    assert not same_error_type(None, exc)


def test_error_object_with_aws_types_keeps_everything_but_the_type() -> None:
    from durable_gen._failure import error_object

    exc = dg.StepFailedError("boom", error_type="ValueError", error_data="d", stack_trace=["t"])
    ours = error_object(exc)
    theirs = error_object(exc, aws_types=True)
    assert ours.error_type == "ValueError"
    assert theirs.error_type == AWS + "StepError"
    assert (theirs.error_message, theirs.error_data, theirs.stack_trace) == ("boom", "d", ["t"])
    plain = error_object(CardDeclined("no"), aws_types=True)
    assert plain.error_type == f"{__name__}.CardDeclined"
    assert plain.error_message == "no" and plain.stack_trace
