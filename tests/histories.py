"""Build recorded histories by hand for interpreter tests: one function per operation kind."""

from __future__ import annotations

import json
from typing import Any

from durable_gen._ids import operation_id
from durable_gen._wire import (
    CallbackDetails,
    ChainedInvokeDetails,
    ContextDetails,
    ErrorObject,
    ExecutionDetails,
    Operation,
    StepDetails,
)


def execution(input: Any = None) -> Operation:
    return Operation(
        id="execution-0",
        type="EXECUTION",
        status="STARTED",
        execution_details=ExecutionDetails(input_payload=json.dumps(input)),
    )


def oid(n: int, parent: str | None = None) -> str:
    return operation_id(parent, n)


def step(
    n: int,
    result: Any = None,
    *,
    name: str | None = None,
    parent: str | None = None,
    status: str = "SUCCEEDED",
    attempt: int = 1,
    error: ErrorObject | None = None,
    sub_type: str = "Step",
) -> Operation:
    payload = json.dumps(result) if status == "SUCCEEDED" else None
    return Operation(
        id=oid(n, parent),
        parent_id=parent,
        type="STEP",
        sub_type=sub_type,
        name=name,
        status=status,  # type: ignore[arg-type]
        step_details=StepDetails(attempt=attempt, result=payload, error=error),
    )


def wait(
    n: int, *, name: str | None = None, parent: str | None = None, status: str = "SUCCEEDED"
) -> Operation:
    return Operation(
        id=oid(n, parent), parent_id=parent, type="WAIT", sub_type="Wait", name=name, status=status
    )  # type: ignore[arg-type]


def callback(
    n: int,
    *,
    name: str | None = None,
    parent: str | None = None,
    status: str = "STARTED",
    result: Any = None,
    error: ErrorObject | None = None,
    callback_id: str = "cb-1",
) -> Operation:
    return Operation(
        id=oid(n, parent),
        parent_id=parent,
        type="CALLBACK",
        sub_type="Callback",
        name=name,
        status=status,  # type: ignore[arg-type]
        callback_details=CallbackDetails(
            callback_id=callback_id,
            result=json.dumps(result) if status == "SUCCEEDED" else None,
            error=error,
        ),
    )


def invoke(
    n: int,
    *,
    name: str | None = None,
    status: str = "SUCCEEDED",
    result: Any = None,
    error: ErrorObject | None = None,
) -> Operation:
    return Operation(
        id=oid(n),
        type="CHAINED_INVOKE",
        sub_type="ChainedInvoke",
        name=name,
        status=status,  # type: ignore[arg-type]
        chained_invoke_details=ChainedInvokeDetails(
            result=json.dumps(result) if status == "SUCCEEDED" else None, error=error
        ),
    )


def context(
    op_id: str,
    sub_type: str,
    *,
    name: str | None = None,
    parent: str | None = None,
    status: str = "SUCCEEDED",
    result: str | None = None,
    error: ErrorObject | None = None,
    replay_children: bool | None = None,
) -> Operation:
    return Operation(
        id=op_id,
        parent_id=parent,
        type="CONTEXT",
        sub_type=sub_type,
        name=name,
        status=status,  # type: ignore[arg-type]
        context_details=ContextDetails(result=result, error=error, replay_children=replay_children),
    )
