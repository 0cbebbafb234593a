"""Instrumentation hooks: plugins observe invocations, operations and step attempts.

A plugin subclasses ``Plugin`` and overrides the hooks it needs. Hooks run in the driver (never
in the pure interpreter), fire only for work done in this invocation (not for replayed
operations), and can never change an outcome: an exception raised by a hook is logged and
dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import msgspec

__all__ = ["AttemptInfo", "InvocationInfo", "OperationInfo", "Plugin"]

_log = logging.getLogger("durable_gen.plugins")


class InvocationInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One invocation: the execution, and whether it is the execution's first invocation."""

    execution_arn: str
    first: bool
    recorded_operations: int


class OperationInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An operation started or ended by this invocation."""

    execution_arn: str
    operation_id: str
    type: str
    sub_type: str | None
    name: str | None
    parent_id: str | None


class AttemptInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt of a step, run by this invocation."""

    execution_arn: str
    operation_id: str
    name: str | None
    attempt: int


class Plugin:
    """Base class of plugins: every hook does nothing unless overridden."""

    def on_invocation_start(self, info: InvocationInfo) -> None:
        """Before the workflow code runs."""

    def on_invocation_end(self, info: InvocationInfo, status: str) -> None:
        """After the outcome is decided: ``SUCCEEDED``, ``FAILED`` or ``PENDING``."""

    def on_operation_start(self, op: OperationInfo) -> None:
        """An operation was started (its first update is being checkpointed)."""

    def on_operation_end(self, op: OperationInfo, status: str) -> None:
        """An operation ended: ``SUCCEEDED`` or ``FAILED``."""

    def on_attempt_start(self, attempt: AttemptInfo) -> None:
        """A step attempt is about to run."""

    def on_attempt_end(
        self, attempt: AttemptInfo, outcome: str, error: BaseException | None
    ) -> None:
        """A step attempt returned (``SUCCEEDED``) or raised (``FAILED``, with the error)."""


def emit(plugins: Sequence[Plugin], hook: str, *args: Any) -> None:
    """Call ``hook`` on every plugin; a plugin's exception is logged and dropped."""
    for plugin in plugins:
        try:
            getattr(plugin, hook)(*args)
        except Exception:
            _log.warning("plugin %r failed in %s; ignored", plugin, hook, exc_info=True)
