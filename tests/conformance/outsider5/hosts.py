"""Two more ways to run the fifth set's handlers, each written from the docs alone.

- ``interpreter_host``: an ``InvocationHandler`` that drives ``durable_gen.runtime.Interpreter``
  by hand, as docs/embedding.md ("The contract", "The loop", "The drivers") describes a host:
  every page of state read, each ``Flush`` checkpointed through the ``DurableService`` and its
  reply observed, step tasks run in a thread pool (async ones on an event loop per attempt)
  and reported from the thread that talks to the service, a crash (``SystemExit``) re-raised
  so that the invocation is given up.
- ``lambda_host``: the Lambda handler path (docs/lambda.md): the ``InvocationInput`` the engine
  builds is turned into the JSON event Lambda sends (``DurableExecutionArn``,
  ``CheckpointToken``, ``InitialExecutionState``), handed to ``durable_gen.aws.lambda_handler``
  with ``service=`` the engine and a hand-built context, and its output dict read back.

Both are registered on the engine ``run_embedded`` builds (``register=``), in place of
``make_handler``'s handler, so the same checks (ours and AWS's published validators) apply.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import json
from collections.abc import Callable
from typing import Any, Literal

import msgspec

import durable_gen.runtime as rt
from durable_gen.aws import lambda_handler
from durable_gen.local import LocalService

from ..handlers import Handler
from ..runner import FUNCTION_NAME

_POOL = cf.ThreadPoolExecutor(max_workers=8, thread_name_prefix="outsider5-host")


def _run_task(task: rt.StepTask) -> Any:
    if task.is_async:
        return asyncio.run(task.fn(*task.args, **task.kwargs))
    return task.fn(*task.args, **task.kwargs)


def _all_operations(service: rt.DurableService, event: rt.InvocationInput) -> list[rt.Operation]:
    state = event.initial_execution_state
    operations = list(state.operations) if state is not None else []
    marker = state.next_marker if state is not None else None
    while marker:
        page = service.get_state(event.durable_execution_arn, event.checkpoint_token, marker)
        operations += page.operations
        marker = page.next_marker
    return operations


def interpreter_host(
    workflow: Callable[..., Any],
    service: LocalService,
    checkpointing: rt.CheckpointMode,
    payload_format: Literal["json", "aws"] = "json",
) -> Callable[[rt.InvocationInput], rt.InvocationOutput]:
    """An invocation handler driving the interpreter itself (docs/embedding.md)."""

    def handle(event: rt.InvocationInput) -> rt.InvocationOutput:
        arn = event.durable_execution_arn
        token: str | None = event.checkpoint_token
        interp = rt.Interpreter(
            workflow,
            _all_operations(service, event),
            execution_arn=arn,
            checkpointing=checkpointing,
            clock=service.clock.now,
            payload_format=payload_format,
        )
        running: dict[cf.Future[Any], rt.StepTask] = {}

        def report(future: cf.Future[Any]) -> None:
            task = running.pop(future)
            exc = future.exception()
            if exc is None:
                interp.task_succeeded(task, future.result())
            elif isinstance(exc, Exception):
                interp.task_failed(task, exc)
            else:  # a crash: give the invocation up, the attempt runs again next time
                interp.close()
                raise exc

        try:
            while True:
                action = interp.next_action()
                if isinstance(action, rt.Flush):
                    if token is None:
                        return rt.InvocationOutput(status="PENDING")
                    reply = service.checkpoint(arn, token, list(action.updates))
                    token = reply.checkpoint_token
                    changed = reply.new_execution_state
                    interp.observe(list(changed.operations) if changed is not None else [])
                    if token is None:
                        return rt.InvocationOutput(status="PENDING")
                elif isinstance(action, rt.RunTasks):
                    for task in action.tasks:
                        running[_POOL.submit(_run_task, task)] = task
                elif isinstance(action, rt.WaitForTasks):
                    done, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
                    for future in done:
                        report(future)
                else:
                    outcome = action.outcome
                    if isinstance(outcome, rt.Succeeded):
                        return rt.InvocationOutput(status="SUCCEEDED", result=outcome.result)
                    if isinstance(outcome, rt.Failed):
                        return rt.InvocationOutput(status="FAILED", error=outcome.error)
                    return rt.InvocationOutput(status="PENDING")
        finally:
            interp.close()

    return handle


class _Context:
    """The parts of Lambda's context object a handler reads."""

    aws_request_id = "outsider5-request"
    function_name = FUNCTION_NAME
    invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{FUNCTION_NAME}"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def lambda_host(
    workflow: Callable[..., Any],
    service: LocalService,
    checkpointing: rt.CheckpointMode,
    plugins: list[Any],
    payload_format: Literal["json", "aws"] = "json",
) -> Callable[[rt.InvocationInput], rt.InvocationOutput]:
    """The Lambda handler given the JSON event Lambda sends (docs/lambda.md)."""
    handler = lambda_handler(
        workflow,
        service=service,
        checkpointing=checkpointing,
        plugins=plugins,
        payload_format=payload_format,
    )

    def handle(event: rt.InvocationInput) -> rt.InvocationOutput:
        wire = json.loads(json.dumps(msgspec.to_builtins(event)))
        output = handler(wire, _Context())
        return msgspec.convert(output, rt.InvocationOutput)

    return handle


def register_interpreter_host(
    engine: LocalService,
    handler: Handler,
    *,
    checkpointing: rt.CheckpointMode | None = None,
    payload_format: Literal["json", "aws"] = "json",
) -> None:
    mode = checkpointing or handler.checkpointing
    engine.register(FUNCTION_NAME, interpreter_host(handler.workflow, engine, mode, payload_format))


def register_lambda_host(
    engine: LocalService,
    handler: Handler,
    *,
    checkpointing: rt.CheckpointMode | None = None,
    payload_format: Literal["json", "aws"] = "json",
) -> None:
    mode = checkpointing or handler.checkpointing
    engine.register(
        FUNCTION_NAME,
        lambda_host(handler.workflow, engine, mode, handler.plugins(), payload_format),
    )
