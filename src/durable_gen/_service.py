"""The durable-execution service as the driver sees it: a small protocol.

The embedded engine (``durable_gen.local``) and the AWS Lambda client (``durable_gen.aws``) both
implement it; a custom runtime can too. An invocation reads pages of state and sends checkpoints,
each with the newest token, nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from ._wire import (
    CheckpointResponse,
    ExecutionState,
    InvocationInput,
    InvocationOutput,
    OperationUpdate,
)

__all__ = ["DurableService", "InvocationHandler", "conforms"]

#: Classes whose instances passed ``isinstance`` against a protocol (checked once per class:
#: such a check inspects every member of the protocol, which costs microseconds each time).
_CONFORMING: set[tuple[type, type]] = set()


def conforms(obj: object, protocol: type) -> bool:
    """``isinstance(obj, protocol)`` for a runtime-checkable protocol, remembered per class
    once true (a refusal is checked again: it is the error path). A class is not an instance
    of it, even when it has the protocol's methods (``LocalService`` for ``LocalService()``)."""
    if isinstance(obj, type):
        return False
    key = (type(obj), protocol)
    if key in _CONFORMING:
        return True
    if not isinstance(obj, protocol):
        return False
    if len(_CONFORMING) < 1024:
        _CONFORMING.add(key)
    return True


@runtime_checkable
class DurableService(Protocol):
    """What an invocation needs from the service that drives it."""

    def checkpoint(
        self,
        execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
    ) -> CheckpointResponse:
        """Record ``updates`` in order; return the new token and the operations that changed.

        Raises:
            InvalidCheckpointTokenError: the token is not the newest one.
            InvalidCheckpointError: an update is not allowed in its operation's state.
        """
        ...

    def get_state(self, execution_arn: str, checkpoint_token: str, marker: str) -> ExecutionState:
        """The page of operations that starts at ``marker`` (from ``NextMarker``)."""
        ...


#: A durable function as the service invokes it: invocation input in, invocation output out.
InvocationHandler = Callable[[InvocationInput], InvocationOutput]


def instance_hint(obj: object) -> str:
    """Advice for a class given where an instance of it is due (empty for anything else)."""
    if isinstance(obj, type):
        return f": pass an instance, {obj.__name__}(...), not the class"
    return ""


def serdes_hint(obj: object) -> str:
    """Advice for what was given as a serdes and is not one: a class, an object without
    ``serialize`` or ``deserialize`` (the method named), a serializer function."""
    if isinstance(obj, type):
        return instance_hint(obj)
    missing = [
        name for name in ("serialize", "deserialize") if not callable(getattr(obj, name, None))
    ]
    if len(missing) == 1:
        return f": it has no {missing[0]} method (a serdes needs both)"
    if callable(obj):
        return (
            ": a function is not a serdes; write a class with serialize(value) -> str and "
            "deserialize(text) methods and pass an instance of it"
        )
    return ""
