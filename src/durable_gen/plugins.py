"""Instrumentation plugins: hooks that see a durable execution run, and can never change it.

``Plugin`` is the base class (also ``durable_gen.Plugin``); the hooks receive the info values
defined here. ``durable_gen.otel`` and ``durable_gen.telemetry`` are plugins built on them.
docs/observability.md lists every hook and the order they fire in.
"""

from ._plugins import AttemptInfo as AttemptInfo
from ._plugins import ExecutionInfo as ExecutionInfo
from ._plugins import InvocationInfo as InvocationInfo
from ._plugins import OperationInfo as OperationInfo
from ._plugins import OperationSnapshot as OperationSnapshot
from ._plugins import Plugin as Plugin

__all__ = [
    "AttemptInfo",
    "ExecutionInfo",
    "InvocationInfo",
    "OperationInfo",
    "OperationSnapshot",
    "Plugin",
]
