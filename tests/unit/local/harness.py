"""A small harness: durable handlers written as scripts of checkpoints, run by a real engine.

``Script`` registers a handler whose n-th invocation runs the n-th body with an ``Inv`` (the
invocation: its input, its newest token, the operations it knows). A body returns an
``InvocationOutput`` or None (PENDING). Assertion errors inside a body would look like crashed
invocations to the engine, so the harness carries them out of ``run()`` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from durable_gen._ids import operation_id
from durable_gen._wire import (
    CheckpointResponse,
    InvocationInput,
    InvocationOutput,
    Operation,
    OperationUpdate,
)
from durable_gen.local import LocalService

T0 = 1_700_000_000_000


class BodyFailed(BaseException):
    """An assertion inside a handler body; BaseException so that the engine lets it through."""


class Inv:
    """One invocation as a body sees it."""

    def __init__(self, service: LocalService, event: InvocationInput) -> None:
        self.service = service
        self.event = event
        self.arn = event.durable_execution_arn
        self.token = event.checkpoint_token
        self.ops: dict[str, Operation] = {
            op.id: op for op in event.initial_execution_state.operations
        }
        self.responses: list[CheckpointResponse] = []

    def cp(self, *updates: OperationUpdate) -> CheckpointResponse:
        """Checkpoint with the newest token; remember the new token and operations."""
        reply = self.service.checkpoint(self.arn, self.token, list(updates))
        self.token = reply.checkpoint_token
        for op in reply.new_execution_state.operations:
            self.ops[op.id] = op
        self.responses.append(reply)
        return reply

    def op(self, n: int, parent: str | None = None) -> Operation | None:
        return self.ops.get(operation_id(parent, n))


Body = Callable[[Inv], InvocationOutput | None]


class Script:
    """A durable handler made of bodies, one per invocation (the last one repeats)."""

    def __init__(self, service: LocalService, name: str, *bodies: Body) -> None:
        self.service = service
        self.name = name
        self.bodies = list(bodies)
        self.invocations: list[Inv] = []
        service.register(name, self)

    def __call__(self, event: InvocationInput) -> InvocationOutput:
        inv = Inv(self.service, event)
        self.invocations.append(inv)
        body = self.bodies[min(len(self.invocations), len(self.bodies)) - 1]
        try:
            out = body(inv)
        except AssertionError as exc:
            raise BodyFailed(repr(exc)) from exc
        return out if out is not None else InvocationOutput(status="PENDING")

    def start(self, payload: str | None = None, **kwargs: Any) -> str:
        return self.service.start(self.name, payload, **kwargs)


def oid(n: int, parent: str | None = None) -> str:
    """The id of the n-th operation of a context (the SDKs' scheme)."""
    return operation_id(parent, n)


def up(n: int | str, type_: str, action: str, **kwargs: Any) -> OperationUpdate:
    """An OperationUpdate for operation ``n`` (an index, or an id)."""
    op_id = oid(n) if isinstance(n, int) else n
    return OperationUpdate(id=op_id, type=type_, action=action, **kwargs)  # type: ignore[arg-type]


def succeeded(result: str | None = None) -> InvocationOutput:
    return InvocationOutput(status="SUCCEEDED", result=result)


def events_of(service: LocalService, arn: str) -> list[tuple[str, str | None]]:
    """The history as (EventType, Id) pairs."""
    return [(e.event_type, e.id) for e in service.get_history(arn)]


def types_of(service: LocalService, arn: str) -> list[str]:
    return [e.event_type for e in service.get_history(arn)]


def check_event_ids(service: LocalService, arn: str) -> None:
    ids = [e.event_id for e in service.get_history(arn)]
    assert ids == list(range(1, len(ids) + 1))


def first(items: Sequence[Any] | Iterator[Any]) -> Any:
    return next(iter(items))
