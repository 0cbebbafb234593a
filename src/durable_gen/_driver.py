"""The driver: runs one invocation of a workflow against a ``DurableService``.

It reads every page of state, lets the interpreter replay, runs the steps it asks for (inline
when there is one, concurrently when Map/Parallel hand over several: sync steps in worker
threads, async steps on one anyio event loop), sends checkpoints with the newest token, and
returns the invocation output. Checkpointing modes:

- ``"step"`` (default): one checkpoint per step outcome, START and SUCCEED together.
- ``"eager"``: every step's START is confirmed before it runs (one more call per step).
- ``"batch"``: outcomes are held and sent together when the invocation suspends or ends.

Updates that something waits on (an at-most-once START, a callback id) are always sent at once.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

import anyio
import anyio.from_thread
import anyio.to_thread

from ._errors import InvalidInputError
from ._interpreter import Failed, Interpreter, StepTask, Succeeded, Suspended
from ._plugins import Hooks, Plugin
from ._serdes import Serdes
from ._service import DurableService, InvocationHandler
from ._wire import (
    MAX_PAYLOAD_BYTES,
    InvocationInput,
    InvocationOutput,
    Operation,
    OperationUpdate,
)

__all__ = ["CheckpointMode", "invoke", "invoke_async", "make_handler"]

CheckpointMode = Literal["step", "eager", "batch"]

#: Results above this many bytes are checkpointed on the EXECUTION operation instead of being
#: returned, leaving room for the response envelope under the 6 MiB invocation limit.
RETURN_LIMIT: Final = MAX_PAYLOAD_BYTES - 64 * 1024

_executor: cf.ThreadPoolExecutor | None = None


def _pool() -> cf.ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = cf.ThreadPoolExecutor(max_workers=64, thread_name_prefix="durable-gen-step")
    return _executor


class _Invocation:
    """State of one invocation: the interpreter, the service and the newest token."""

    def __init__(
        self,
        workflow: Callable[..., Any],
        event: InvocationInput,
        service: DurableService,
        mode: CheckpointMode,
        serdes: Serdes | None,
        plugins: Sequence[Plugin] = (),
    ) -> None:
        if mode not in ("step", "eager", "batch"):
            raise ValueError(f"checkpointing must be 'step', 'eager' or 'batch', got {mode!r}")
        self.service = service
        self.arn = event.durable_execution_arn
        self.token = event.checkpoint_token
        self.batch = mode == "batch"
        state = event.initial_execution_state
        operations = list(state.operations)
        marker = state.next_marker
        while marker:
            page = service.get_state(self.arn, self.token, marker)
            operations.extend(page.operations)
            marker = page.next_marker
        self.execution_op: Operation | None = next(
            (op for op in operations if op.type == "EXECUTION"), None
        )
        if self.execution_op is None:
            raise InvalidInputError(
                f"the state of {self.arn} has no EXECUTION operation (it carries the input): "
                "the history is truncated or not from a durable execution"
            )
        self.interp = Interpreter(
            workflow,
            operations,
            execution_arn=self.arn,
            serdes=serdes,
            eager_start=mode == "eager",
        )
        self.hooks = Hooks(plugins, self.arn, operations) if plugins else None

    def call(self, task: StepTask) -> Any:
        """Run a sync step, firing the attempt hooks around it."""
        hooks = self.hooks
        if hooks is None:
            return task.fn(*task.args, **task.kwargs)
        attempt = hooks.attempt_start(task, self.interp.updates)
        try:
            value = task.fn(*task.args, **task.kwargs)
        except Exception as exc:
            hooks.attempt_end(attempt, exc)
            raise
        hooks.attempt_end(attempt, None)
        return value

    async def acall(self, task: StepTask) -> Any:
        """Run an async step, firing the attempt hooks around it."""
        hooks = self.hooks
        if hooks is None:
            return await task.fn(*task.args, **task.kwargs)
        attempt = hooks.attempt_start(task, self.interp.updates)
        try:
            value = await task.fn(*task.args, **task.kwargs)
        except Exception as exc:
            hooks.attempt_end(attempt, exc)
            raise
        hooks.attempt_end(attempt, None)
        return value

    def end(self, output: InvocationOutput) -> InvocationOutput:
        if self.hooks is not None:
            self.hooks.end(output)
        return output

    def flush(self) -> None:
        """Checkpoint the pending updates and feed the reply back to the interpreter."""
        updates = self.interp.take_updates()
        if not updates:
            return
        self.send(updates)

    def send(self, updates: list[OperationUpdate]) -> None:
        if self.hooks is not None:
            self.hooks.sending(updates)
        reply = self.service.checkpoint(self.arn, self.token, updates)
        self.token = reply.checkpoint_token
        state = reply.new_execution_state
        operations = state.operations
        marker = state.next_marker
        if marker:
            operations = list(operations)
            while marker:
                page = self.service.get_state(self.arn, self.token, marker)
                operations.extend(page.operations)
                marker = page.next_marker
        if self.hooks is not None:
            self.hooks.observe(operations)
        if operations:
            self.interp.observe(operations)

    def after_step(self) -> None:
        if not self.batch or self.interp.must_flush:
            self.flush()

    def report(self, task: StepTask, future: cf.Future[Any]) -> None:
        exc = future.exception()
        if exc is None:
            self.interp.step_succeeded(task, future.result())
        elif isinstance(exc, Exception):
            self.interp.step_failed(task, exc)
        else:
            # KeyboardInterrupt, SystemExit...: the invocation stops, as when the step runs
            # inline; recording it as a step failure would make a crash an outcome.
            raise exc

    def finish(self) -> InvocationOutput | None:
        """The invocation output once the interpreter decided; None to keep going."""
        interp = self.interp
        outcome = interp.outcome
        if outcome is None:
            return None
        self.flush()
        if interp.outcome is None:  # the checkpoint reply woke a generator up
            return None
        if isinstance(outcome, Succeeded):
            result = outcome.result
            if len(result) > RETURN_LIMIT // 4 and len(result.encode()) > RETURN_LIMIT:
                op = self.execution_op
                self.send(
                    [
                        OperationUpdate(
                            id=op.id if op is not None else "execution",
                            type="EXECUTION",
                            action="SUCCEED",
                            payload=result,
                        )
                    ]
                )
                return self.end(InvocationOutput(status="SUCCEEDED", result=""))
            return self.end(InvocationOutput(status="SUCCEEDED", result=result))
        if isinstance(outcome, Failed):
            return self.end(InvocationOutput(status="FAILED", error=outcome.error))
        assert isinstance(outcome, Suspended)
        return self.end(InvocationOutput(status="PENDING"))


class _Portal:
    """One anyio event loop thread, started on first need, for async steps in sync code."""

    def __init__(self) -> None:
        self._stack: contextlib.ExitStack | None = None
        self._portal: anyio.from_thread.BlockingPortal | None = None

    def submit(self, fn: Callable[[StepTask], Any], task: StepTask) -> cf.Future[Any]:
        if self._portal is None:
            self._stack = contextlib.ExitStack()
            self._portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal())
        return self._portal.start_task_soon(fn, task)

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
            self._portal = None


def invoke(
    workflow: Callable[..., Any],
    event: InvocationInput,
    service: DurableService,
    *,
    checkpointing: CheckpointMode = "step",
    serdes: Serdes | None = None,
    plugins: Sequence[Plugin] = (),
) -> InvocationOutput:
    """Run one invocation of ``workflow`` synchronously and return its output.

    Args:
        workflow: The workflow generator function.
        event: The invocation input (ARN, token, first page of state).
        service: Where state is read and checkpoints are sent.
        checkpointing: ``"step"``, ``"eager"`` or ``"batch"`` (see the module docs).
        serdes: Serdes of the workflow input and result.
        plugins: Instrumentation plugins (see ``Plugin``).
    """
    inv = _Invocation(workflow, event, service, checkpointing, serdes, plugins)
    interp = inv.interp
    pending: deque[StepTask] = deque()
    inflight: dict[cf.Future[Any], StepTask] = {}
    portal = _Portal()
    try:
        while True:
            pending.extend(interp.advance())
            if interp.must_flush:
                inv.flush()
                continue
            if not pending and not inflight:
                output = inv.finish()
                if output is not None:
                    return output
                if interp.updates:
                    inv.flush()
                continue
            if not inflight and len(pending) == 1 and not pending[0].is_async:
                task = pending.popleft()
                try:
                    value = inv.call(task)
                except Exception as exc:
                    interp.step_failed(task, exc)
                else:
                    interp.step_succeeded(task, value)
                inv.after_step()
                continue
            while pending:
                task = pending.popleft()
                future = (
                    portal.submit(inv.acall, task)
                    if task.is_async
                    else _pool().submit(inv.call, task)
                )
                inflight[future] = task
            done, _ = cf.wait(inflight, return_when=cf.FIRST_COMPLETED)
            for future in done:
                inv.report(inflight.pop(future), future)
            inv.after_step()
    finally:
        for future in inflight:
            future.cancel()
        portal.close()


async def invoke_async(
    workflow: Callable[..., Any],
    event: InvocationInput,
    service: DurableService,
    *,
    checkpointing: CheckpointMode = "step",
    serdes: Serdes | None = None,
    plugins: Sequence[Plugin] = (),
) -> InvocationOutput:
    """Run one invocation from async code (anyio: asyncio or trio).

    Async steps run as tasks of one task group; sync steps run in worker threads. The service
    is called directly (the embedded engine is in-memory work); wrap a blocking service in
    threads yourself if it does network I/O.
    """
    inv = _Invocation(workflow, event, service, checkpointing, serdes, plugins)
    interp = inv.interp
    send, receive = anyio.create_memory_object_stream[tuple[StepTask, Any, BaseException | None]](
        max_buffer_size=1 << 20
    )

    async def run(task: StepTask) -> None:
        try:
            if task.is_async:
                value = await inv.acall(task)
            else:
                value = await anyio.to_thread.run_sync(inv.call, task, abandon_on_cancel=True)
        except Exception as exc:
            await send.send((task, None, exc))
        else:
            await send.send((task, value, None))

    inflight = 0
    async with send, receive, anyio.create_task_group() as tg:
        try:
            while True:
                tasks = interp.advance()
                if interp.must_flush:
                    inv.flush()
                    tasks += interp.advance()
                for task in tasks:
                    tg.start_soon(run, task)
                    inflight += 1
                if not inflight:
                    if interp.must_flush or (
                        not tasks and interp.outcome is None and interp.updates
                    ):
                        inv.flush()
                        continue
                    output = inv.finish()
                    if output is not None:
                        return output
                    continue
                task, value, exc = await receive.receive()
                inflight -= 1
                if exc is None:
                    interp.step_succeeded(task, value)
                else:
                    interp.step_failed(task, exc)
                while True:
                    try:
                        task, value, exc = receive.receive_nowait()
                    except anyio.WouldBlock:
                        break
                    inflight -= 1
                    if exc is None:
                        interp.step_succeeded(task, value)
                    else:
                        interp.step_failed(task, exc)
                inv.after_step()
        finally:
            tg.cancel_scope.cancel()
    raise AssertionError("unreachable")  # pragma: no cover


def make_handler(
    workflow: Callable[..., Any],
    service: DurableService,
    *,
    checkpointing: CheckpointMode = "step",
    serdes: Serdes | None = None,
    plugins: Sequence[Plugin] = (),
) -> InvocationHandler:
    """An ``InvocationHandler`` that runs ``workflow`` against ``service``."""

    def handler(event: InvocationInput) -> InvocationOutput:
        return invoke(
            workflow, event, service, checkpointing=checkpointing, serdes=serdes, plugins=plugins
        )

    handler.__qualname__ = f"handler[{getattr(workflow, '__qualname__', workflow)}]"
    return handler
