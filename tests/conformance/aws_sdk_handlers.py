"""AWS's own SDK's handlers for a few requirements, run through AWS's emulator beside ours.

They show what the emulator does to an SDK that is not durable_gen: where both fail, and fail
the same way, the mismatch is the emulator's. Each is written from the requirement's prose with
AWS's public API (``durable_execution``, ``durable_step``, the step context's logger).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_step
from aws_durable_execution_sdk_python.execution import durable_execution


@durable_step
def _greet_and_log(step_context: StepContext, name: str) -> str:
    step_context.logger.info(f"Greeting step started for: {name}")
    greeting = f"Hello, {name}!"
    step_context.logger.info(f"Greeting step completed with: {greeting}")
    return greeting


def _step_with_logger(event: Any, context: DurableContext) -> str:  # 1-7
    return context.step(_greet_and_log(event))


@durable_step
def _hello(step_context: StepContext) -> str:
    return "Hello, World!"


def _step_basic(event: Any, context: DurableContext) -> str:  # 1-1
    return context.step(_hello())


#: requirement ("suite/key") -> AWS SDK handler body.
BODIES: dict[str, Callable[[Any, DurableContext], Any]] = {
    "step/1-1": _step_basic,
    "step/1-7": _step_with_logger,
}


def lambda_function(key: str, client: Any) -> Callable[[Any, Any], Any]:
    """The Lambda handler AWS's SDK makes of ``BODIES[key]``, talking to ``client``."""
    return durable_execution(boto3_client=client)(BODIES[key])
