"""AWS's own SDK's handlers for a few requirements, run through AWS's emulator beside ours.

They show what the emulator does to an SDK that is not durable_gen: where both fail, and fail
the same way, the mismatch is the emulator's. Each is written from the requirement's prose with
AWS's public API (``durable_execution``, ``durable_step``, the step context's logger).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_step
from aws_durable_execution_sdk_python.config import (
    CallbackConfig,
    Duration,
    InvokeConfig,
    JitterStrategy,
    StepConfig,
    StepSemantics,
)
from aws_durable_execution_sdk_python.execution import durable_execution
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
)

from .handlers.invoke import ECHO


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


def _unreliable(step_context: StepContext) -> str:
    if step_context.attempt == 1:
        raise RuntimeError("transient failure")
    return "Operation succeeded"


def _retry_then_succeed(event: Any, context: DurableContext) -> str:  # 1-11
    retry = RetryStrategyConfig(
        max_attempts=3, initial_delay=Duration.from_seconds(1), jitter_strategy=JitterStrategy.NONE
    )
    return context.step(_unreliable, config=StepConfig(retry_strategy=create_retry_strategy(retry)))


def _crash_at_most_once(event: Any, context: DurableContext) -> Any:  # 1-17
    def crash(step_context: StepContext) -> None:
        step_context.logger.info(f"at-most-once step input: {event}")
        raise SystemExit(1)

    never = RetryStrategyConfig(max_attempts=1)
    return context.step(
        crash,
        name="at_most_once_flaky_step",
        config=StepConfig(
            step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
            retry_strategy=create_retry_strategy(never),
        ),
    )


def _callback_timeout(event: Any, context: DurableContext) -> Any:  # 4-3
    callback = context.create_callback(
        name=event, config=CallbackConfig(timeout=Duration.from_seconds(5))
    )
    return callback.result()


def _invoke_echo(event: Any, context: DurableContext) -> Any:  # 5-1
    return context.invoke(ECHO, event)


def _invoke_with_tenant(event: Any, context: DurableContext) -> Any:  # 5-8
    return context.invoke(ECHO, event["payload"], config=InvokeConfig(tenant_id=event["tenantId"]))


def _increment(state: int, _check_context: Any) -> int:
    return state + 1


def _poll_until_threshold(event: Any, context: DurableContext) -> Any:  # 6-1
    def strategy(state: int, attempt: int) -> WaitForConditionDecision:
        if state >= event:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))

    return context.wait_for_condition(
        _increment, WaitForConditionConfig(wait_strategy=strategy, initial_state=0)
    )


#: requirement ("suite/key") -> AWS SDK handler body.
BODIES: dict[str, Callable[[Any, DurableContext], Any]] = {
    "step/1-1": _step_basic,
    "step/1-7": _step_with_logger,
    "step/1-11": _retry_then_succeed,
    "step/1-17": _crash_at_most_once,
    "callback/4-3": _callback_timeout,
    "invoke/5-1": _invoke_echo,
    "invoke/5-8": _invoke_with_tenant,
    "wait_for_condition/6-1": _poll_until_threshold,
}


def lambda_function(key: str, client: Any) -> Callable[[Any, Any], Any]:
    """The Lambda handler AWS's SDK makes of ``BODIES[key]``, talking to ``client``."""
    return durable_execution(boto3_client=client)(BODIES[key])
