"""Handing an execution over between AWS's Python SDK and durable_gen in the middle of things
(docs/migration.md): while a step waits for its retry, while a wait-for-condition polls, while
one Parallel branch waits and the other is done, while a callback with a heartbeat timeout is
open, and while a chained invoke still runs. Each case runs on AWS's emulator with real time:
the first handler runs until the execution suspends, the function's code is switched, and the
other handler finishes it. The port is written from the migration table alone."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.aws import lambda_handler
from durable_gen.testing import replay

aws = pytest.importorskip("aws_durable_execution_sdk_python")
from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution  # noqa: E402
from aws_durable_execution_sdk_python.config import (  # noqa: E402
    CallbackConfig,
    Duration,
    JitterStrategy,
    ParallelConfig,
    StepConfig,
)
from aws_durable_execution_sdk_python.retries import (  # noqa: E402
    RetryStrategyConfig,
    create_retry_strategy,
)
from aws_durable_execution_sdk_python.waits import (  # noqa: E402
    WaitForConditionConfig,
    WaitStrategyConfig,
    create_wait_strategy,
)

try:
    from .emulator import Emulator, LambdaEndpoint
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]


def _first_invocation_ended(emulator: Emulator, arn: str, count: int = 1) -> None:
    deadline = time.monotonic() + 10
    while sum(e["EventType"] == "InvocationCompleted" for e in emulator.history(arn)) < count:
        assert time.monotonic() < deadline, emulator.event_types(arn)
        time.sleep(0.02)


def _aws(emulator: Emulator, fn: Any) -> Any:
    return durable_execution(boto3_client=emulator.client)(fn)


# --- a step waiting for its retry ---------------------------------------------------------------

ATTEMPTS: list[str] = []


def _aws_flaky(_: StepContext) -> str:
    ATTEMPTS.append("aws")
    raise RuntimeError("HTTP 503 from upstream")


def aws_retrying(event: Any, ctx: DurableContext) -> Any:
    policy = RetryStrategyConfig(
        max_attempts=3,
        initial_delay=Duration.from_seconds(2),
        max_delay=Duration.from_seconds(10),
        backoff_rate=1,
        jitter_strategy=JitterStrategy.NONE,
        retryable_errors=["HTTP 503"],
    )
    try:
        ctx.step(
            _aws_flaky,
            name="fetch",
            config=StepConfig(retry_strategy=create_retry_strategy(policy)),
        )
    except Exception as exc:
        return {"gave_up": type(exc).__name__}
    return {"gave_up": None}


def _port_flaky() -> str:
    ATTEMPTS.append("port")
    raise RuntimeError("HTTP 503 from upstream")


@dg.workflow
def port_retrying(event: Any) -> Any:
    policy = dg.Retry(
        max_attempts=3,
        initial_delay=2,
        max_delay=10,
        backoff=1,
        jitter="none",
        retry_if=lambda exc: "HTTP 503" in str(exc),
    )
    try:
        yield dg.Step(_port_flaky, name="fetch", retry=policy)
    except dg.StepFailedError:
        return {"gave_up": "StepError"}
    return {"gave_up": None}


def test_the_port_takes_over_a_step_waiting_for_its_retry_and_counts_aws_attempts(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    ATTEMPTS.clear()
    lambda_endpoint.register(function_name, _aws(emulator, aws_retrying))
    arn = emulator.start(function_name, {})
    _first_invocation_ended(emulator, arn)
    lambda_endpoint.register(function_name, lambda_handler(port_retrying, client=emulator.client))
    outcome = emulator.wait(arn, timeout=20)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == {"gave_up": "StepError"}
    # three attempts in all, whoever ran them: the first by AWS's SDK, the other two by the port
    assert ATTEMPTS == ["aws", "port", "port"], ATTEMPTS
    report = replay(port_retrying, {"Events": emulator.history(arn)})
    assert report.status == "ok" and report.result == {"gave_up": "StepError"}, report


def test_aws_sdk_takes_over_a_step_the_port_left_waiting_for_its_retry(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    ATTEMPTS.clear()
    lambda_endpoint.register(
        function_name, lambda_handler(port_retrying, client=emulator.client, payload_format="aws")
    )
    arn = emulator.start(function_name, {})
    _first_invocation_ended(emulator, arn)
    lambda_endpoint.register(function_name, _aws(emulator, aws_retrying))
    outcome = emulator.wait(arn, timeout=20)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == {"gave_up": "StepError"}
    assert ATTEMPTS == ["port", "aws", "aws"], ATTEMPTS


# --- a wait-for-condition while it polls ---------------------------------------------------------


def _aws_check(state: dict[str, Any], _ctx: Any) -> dict[str, Any]:
    return {"polls": state["polls"] + 1, "seen": [*state["seen"], "aws"]}


def aws_polling(event: Any, ctx: DurableContext) -> Any:
    strategy = create_wait_strategy(
        WaitStrategyConfig(
            should_continue_polling=lambda s: s["polls"] < 3,
            max_attempts=10,
            initial_delay=Duration.from_seconds(1),
            max_delay=Duration.from_seconds(1),
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
    return ctx.wait_for_condition(
        _aws_check,
        config=WaitForConditionConfig(
            wait_strategy=strategy, initial_state={"polls": 0, "seen": []}
        ),
        name="poll",
    )


def _port_check(state: dict[str, Any]) -> dict[str, Any]:
    return {"polls": state["polls"] + 1, "seen": [*state["seen"], "port"]}


@dg.workflow
def port_polling(event: Any) -> Any:
    strategy = dg.WaitStrategy(
        until=lambda s: s["polls"] >= 3, max_attempts=10, delay=1, max_delay=1, backoff=1
    )
    return (
        yield dg.WaitForCondition(
            _port_check, {"polls": 0, "seen": []}, wait_strategy=strategy, name="poll"
        )
    )


def test_the_port_takes_over_a_wait_for_condition_while_it_polls(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    lambda_endpoint.register(function_name, _aws(emulator, aws_polling))
    arn = emulator.start(function_name, {})
    _first_invocation_ended(emulator, arn)
    lambda_endpoint.register(function_name, lambda_handler(port_polling, client=emulator.client))
    outcome = emulator.wait(arn, timeout=20)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == {"polls": 3, "seen": ["aws", "port", "port"]}


def test_aws_sdk_takes_over_a_wait_for_condition_the_port_polled(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    lambda_endpoint.register(
        function_name, lambda_handler(port_polling, client=emulator.client, payload_format="aws")
    )
    arn = emulator.start(function_name, {})
    _first_invocation_ended(emulator, arn)
    lambda_endpoint.register(function_name, _aws(emulator, aws_polling))
    outcome = emulator.wait(arn, timeout=20)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == {"polls": 3, "seen": ["port", "aws", "aws"]}


# --- a Parallel with one branch done and one waiting ----------------------------------------------


def aws_fan_out(event: Any, ctx: DurableContext) -> Any:
    def quick(c: DurableContext) -> Any:
        return c.step(lambda _: "quick", name="q")

    def slow(c: DurableContext) -> Any:
        c.wait(Duration.from_seconds(2), name="nap")
        return c.step(lambda _: "slow", name="s")

    batch = ctx.parallel([quick, slow], name="fan", config=ParallelConfig(max_concurrency=2))
    return batch.get_results()


def _quick() -> Any:
    return (yield dg.Step(lambda: "quick", name="q"))


def _slow() -> Any:
    yield dg.Wait(seconds=2, name="nap")
    return (yield dg.Step(lambda: "slow", name="s"))


@dg.workflow
def port_fan_out(event: Any) -> Any:
    batch = yield dg.Parallel([_quick, _slow], name="fan", max_concurrency=2)
    return batch.results()


@pytest.mark.parametrize("first", ["aws", "port"])
def test_a_parallel_with_one_branch_waiting_changes_hands(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, first: str
) -> None:
    aws_handler = _aws(emulator, aws_fan_out)
    port_handler = lambda_handler(port_fan_out, client=emulator.client, payload_format="aws")
    lambda_endpoint.register(function_name, aws_handler if first == "aws" else port_handler)
    arn = emulator.start(function_name, {})
    _first_invocation_ended(emulator, arn)
    lambda_endpoint.register(function_name, port_handler if first == "aws" else aws_handler)
    outcome = emulator.wait(arn, timeout=20)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == ["quick", "slow"]


# --- a callback with a heartbeat timeout ---------------------------------------------------------


def aws_heartbeat(event: Any, ctx: DurableContext) -> Any:
    cb = ctx.create_callback(
        name="job",
        config=CallbackConfig(
            timeout=Duration.from_seconds(30), heartbeat_timeout=Duration.from_seconds(3)
        ),
    )
    return {"job": json.loads(cb.result())}


@dg.workflow
def port_heartbeat(event: Any) -> Any:
    handle = yield dg.CreateCallback(name="job", timeout=30, heartbeat_timeout=3)
    return {"job": (yield handle)}


def test_the_port_takes_over_an_open_callback_kept_alive_by_heartbeats(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    lambda_endpoint.register(function_name, _aws(emulator, aws_heartbeat))
    arn = emulator.start(function_name, {})
    callback_id = emulator.callback_id(arn, timeout=10)
    _first_invocation_ended(emulator, arn)
    lambda_endpoint.register(function_name, lambda_handler(port_heartbeat, client=emulator.client))
    for _ in range(3):  # longer than the heartbeat timeout in all
        time.sleep(1.5)
        emulator.client.send_durable_execution_callback_heartbeat(CallbackId=callback_id)
    emulator.client.send_durable_execution_callback_success(
        CallbackId=callback_id, Result=json.dumps({"done": True}).encode()
    )
    outcome = emulator.wait(arn, timeout=20)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == {"job": {"done": True}}


# --- a chained invoke still running -------------------------------------------------------------

CALLEE = "dg-handover-callee"


def aws_callee(event: Any, ctx: DurableContext) -> Any:
    ctx.wait(Duration.from_seconds(2), name="think")
    return {"doubled": event["n"] * 2}


def aws_caller(event: Any, ctx: DurableContext) -> Any:
    got = ctx.invoke(CALLEE, {"n": event["n"]}, name="call")
    return {"got": got, "after": ctx.step(lambda _: "after", name="after")}


@dg.workflow
def port_caller(event: Any) -> Any:
    got = yield dg.Invoke(CALLEE, {"n": event["n"]}, name="call")
    return {"got": got, "after": (yield dg.Step(lambda: "after", name="after"))}


@pytest.mark.parametrize("first", ["aws", "port"])
def test_a_caller_waiting_on_a_running_invoke_changes_hands(
    make_emulator: Any, lambda_endpoint: LambdaEndpoint, function_name: str, first: str
) -> None:
    emulator = make_emulator(function_configs={CALLEE: {"DurableConfig": {"ExecutionTimeout": 60}}})
    lambda_endpoint.register(CALLEE, _aws(emulator, aws_callee))
    aws_handler = _aws(emulator, aws_caller)
    port_handler = lambda_handler(port_caller, client=emulator.client, payload_format="aws")
    lambda_endpoint.register(function_name, aws_handler if first == "aws" else port_handler)
    arn = emulator.start(function_name, {"n": 21})
    _first_invocation_ended(emulator, arn)
    assert not any(e["EventType"] == "ChainedInvokeSucceeded" for e in emulator.history(arn))
    lambda_endpoint.register(function_name, port_handler if first == "aws" else aws_handler)
    outcome = emulator.wait(arn, timeout=20)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == {"got": {"doubled": 42}, "after": "after"}
