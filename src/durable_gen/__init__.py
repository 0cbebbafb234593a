"""durable_gen: durable executions written as Python generators.

A workflow is a generator function that yields commands (``Step``, ``Wait``, ``Invoke``,
``Map``, ...). A pure interpreter replays them against the recorded history; the embedded
engine (``durable_gen.local``) or AWS Lambda (``durable_gen.aws``) runs them durably.
"""

from typing import TYPE_CHECKING, Any

from ._batch import BatchItem as BatchItem
from ._batch import BatchResult as BatchResult
from ._commands import AT_LEAST_ONCE as AT_LEAST_ONCE
from ._commands import AT_MOST_ONCE as AT_MOST_ONCE
from ._commands import Branch as Branch
from ._commands import CallbackHandle as CallbackHandle
from ._commands import Child as Child
from ._commands import Command as Command
from ._commands import CompensationResult as CompensationResult
from ._commands import Completion as Completion
from ._commands import CreateCallback as CreateCallback
from ._commands import Invoke as Invoke
from ._commands import Map as Map
from ._commands import Parallel as Parallel
from ._commands import Retry as Retry
from ._commands import RunCompensations as RunCompensations
from ._commands import Step as Step
from ._commands import StepFunction as StepFunction
from ._commands import Wait as Wait
from ._commands import WaitDecision as WaitDecision
from ._commands import WaitForCallback as WaitForCallback
from ._commands import WaitForCondition as WaitForCondition
from ._commands import WaitStrategy as WaitStrategy
from ._commands import Workflow as Workflow
from ._commands import step as step
from ._commands import workflow as workflow
from ._driver import CheckpointMode as CheckpointMode
from ._errors import ArgumentError as ArgumentError
from ._errors import BatchFailedError as BatchFailedError
from ._errors import CallbackError as CallbackError
from ._errors import CallbackFailedError as CallbackFailedError
from ._errors import CallbackTimeoutError as CallbackTimeoutError
from ._errors import ChildFailedError as ChildFailedError
from ._errors import DurableGenError as DurableGenError
from ._errors import ExecutionFailedError as ExecutionFailedError
from ._errors import ExecutionNotFoundError as ExecutionNotFoundError
from ._errors import ExecutionSuspendedError as ExecutionSuspendedError
from ._errors import FunctionNotRegisteredError as FunctionNotRegisteredError
from ._errors import InvalidCheckpointError as InvalidCheckpointError
from ._errors import InvalidCheckpointTokenError as InvalidCheckpointTokenError
from ._errors import InvalidInputError as InvalidInputError
from ._errors import InvokeFailedError as InvokeFailedError
from ._errors import NonDeterminismError as NonDeterminismError
from ._errors import OperationError as OperationError
from ._errors import PayloadTooLargeError as PayloadTooLargeError
from ._errors import SerializationError as SerializationError
from ._errors import ServiceError as ServiceError
from ._errors import StepFailedError as StepFailedError
from ._errors import StepInterruptedError as StepInterruptedError
from ._errors import StepTimeoutError as StepTimeoutError
from ._errors import StoreError as StoreError
from ._errors import UnknownCallbackError as UnknownCallbackError
from ._errors import ValidationError as ValidationError
from ._errors import WaitConditionNotMetError as WaitConditionNotMetError
from ._errors import WorkflowDefinitionError as WorkflowDefinitionError
from ._guard import UnyieldedCommandWarning as UnyieldedCommandWarning
from ._logger import ReplayAwareLogger as ReplayAwareLogger
from ._logger import get_logger as get_logger
from ._plugins import Plugin as Plugin
from ._serdes import JsonSerdes as JsonSerdes
from ._serdes import Serdes as Serdes
from ._versioning import UUID as UUID
from ._versioning import Deprecated as Deprecated
from ._versioning import Now as Now
from ._versioning import Patched as Patched
from ._versioning import Random as Random

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .aws import lambda_handler as lambda_handler
    from .local import run as run


#: Names that moved out of the top level, and their home. They still resolve here, for code
#: written against earlier versions; import them from their home.
_MOVED = {
    **dict.fromkeys(
        (
            "Interpreter",
            "StepTask",
            "Succeeded",
            "Failed",
            "Suspended",
            "invoke",
            "invoke_async",
            "make_handler",
            "DurableService",
            "InvocationHandler",
        ),
        "durable_gen.runtime",
    ),
    **dict.fromkeys(
        ("AttemptInfo", "ExecutionInfo", "InvocationInfo", "OperationInfo", "OperationSnapshot"),
        "durable_gen.plugins",
    ),
}


def __getattr__(name: str) -> Any:
    # The engine and the Lambda handler load on first use: ``import durable_gen`` stays light
    # (no sqlite3, no boto3) for workflow modules and Lambda cold starts.
    home = _MOVED.get(name)
    if home is not None:
        import importlib

        return getattr(importlib.import_module(home), name)
    if name == "run":
        from .local import run

        return run
    if name == "lambda_handler":
        from .aws import lambda_handler

        return lambda_handler
    raise AttributeError(f"module 'durable_gen' has no attribute {name!r}")


#: The default replay-aware logger for workflow code.
logger = get_logger()

__all__ = [
    "AT_LEAST_ONCE",
    "AT_MOST_ONCE",
    "Plugin",
    "BatchFailedError",
    "BatchItem",
    "BatchResult",
    "Branch",
    "CallbackError",
    "CallbackFailedError",
    "CallbackHandle",
    "CallbackTimeoutError",
    "CheckpointMode",
    "Child",
    "ChildFailedError",
    "Command",
    "CompensationResult",
    "Completion",
    "CreateCallback",
    "Deprecated",
    "DurableGenError",
    "ExecutionFailedError",
    "ExecutionNotFoundError",
    "ExecutionSuspendedError",
    "FunctionNotRegisteredError",
    "InvalidCheckpointError",
    "InvalidCheckpointTokenError",
    "InvalidInputError",
    "Invoke",
    "InvokeFailedError",
    "JsonSerdes",
    "Map",
    "NonDeterminismError",
    "Now",
    "OperationError",
    "Parallel",
    "Patched",
    "PayloadTooLargeError",
    "Random",
    "ReplayAwareLogger",
    "Retry",
    "RunCompensations",
    "Serdes",
    "SerializationError",
    "ServiceError",
    "Step",
    "StepFailedError",
    "StepFunction",
    "StepInterruptedError",
    "StepTimeoutError",
    "StoreError",
    "UUID",
    "UnknownCallbackError",
    "UnyieldedCommandWarning",
    "ValidationError",
    "ArgumentError",
    "Wait",
    "WaitConditionNotMetError",
    "WaitDecision",
    "WaitForCallback",
    "WaitForCondition",
    "WaitStrategy",
    "Workflow",
    "WorkflowDefinitionError",
    "__version__",
    "get_logger",
    "lambda_handler",
    "logger",
    "run",
    "step",
    "workflow",
]
