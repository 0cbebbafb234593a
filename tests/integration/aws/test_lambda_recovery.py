"""durable_gen on the emulator where it is hardest: chained invokes, state that arrives one
operation per page, crashed invocations around at-most-once and at-least-once steps, and a
checkpoint token that goes stale.

One emulator serves the module: ``--skip-time``, a one-byte page budget (every page of state
holds a single operation, so every invocation reads its state with GetDurableExecutionState),
a 0.1 s back-off before re-invoking after a failed invocation, and function configs for the
invoke targets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import durable_gen as dg

try:
    from .emulator import CrashInvocation, Emulator, LambdaEndpoint
    from .lambda_support import Counter, by_type, deploy, op_events, run_workflow
except ImportError:
    from emulator import CrashInvocation, Emulator, LambdaEndpoint  # type: ignore[no-redef]
    from lambda_support import (  # type: ignore[no-redef]
        Counter,
        by_type,
        deploy,
        op_events,
        run_workflow,
    )

TAX = "dg-tax-service"  # a durable function
ECHO = "dg-echo"  # a plain function
BROKEN = "dg-broken-service"  # a durable function whose workflow fails


@pytest.fixture(scope="module")
def emu(lambda_endpoint_server: LambdaEndpoint) -> Iterator[Emulator]:
    pytest.importorskip("aws_durable_execution_sdk_python_testing")
    durable = {"DurableConfig": {"ExecutionTimeout": 60}}
    with Emulator(
        lambda_endpoint_server.url,
        skip_time=True,
        max_invocation_page_bytes=1,
        retry_backoff_seconds=0.1,
        function_configs={TAX: durable, BROKEN: durable, ECHO: {}},
    ) as emulator:
        yield emulator
        emulator.stop_unfinished()


def crash_on_checkpoint(client: Any, when: Any) -> list[dict[str, Any]]:
    """Make the invocation die (as a crashed runtime) the first time a checkpoint's updates
    satisfy ``when``, before they reach the service. Returns the updates it swallowed."""
    swallowed: list[dict[str, Any]] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        if not swallowed and when(params["Updates"]):
            swallowed.extend(params["Updates"])
            raise CrashInvocation("runtime exited while checkpointing")

    client.meta.events.register("before-parameter-build.lambda.CheckpointDurableExecution", hook)
    return swallowed


# --- chained invokes --------------------------------------------------------------------------


def tax(payload: dict[str, float]) -> Any:
    rate = yield dg.Step(lambda: 0.2, name="rate")
    return round(payload["amount"] * rate, 2)


def broken(payload: Any) -> Any:
    yield dg.Step(lambda: 1, name="start")
    raise LookupError("no tax table for this region")


def echo(event: Any, context: Any) -> Any:
    return {"echo": event}


def test_invokes_of_durable_and_plain_functions(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    def order(payload: dict[str, int]) -> Any:
        due = yield dg.Invoke(TAX, {"amount": payload["amount"]}, name="tax")
        echoed = yield dg.Invoke(ECHO, {"n": 5}, name="echo")
        try:
            yield dg.Invoke(BROKEN, {}, name="broken")
        except dg.InvokeFailedError as exc:
            failure = [exc.error_type, exc.error_message]
        return {"tax": due, "echo": echoed, "failure": failure}

    deploy(emu, lambda_endpoint, TAX, tax)
    deploy(emu, lambda_endpoint, BROKEN, broken)
    lambda_endpoint.register(ECHO, echo)
    arn, outcome = run_workflow(emu, lambda_endpoint, function_name, order, {"amount": 50})

    assert outcome.json() == {
        "tax": 10.0,
        "echo": {"echo": {"n": 5}},
        "failure": ["LookupError", "no tax table for this region"],
    }
    events = emu.history(arn)
    assert [e for e in op_events(events) if e[0].startswith("ChainedInvokeStarted")] == [
        ("ChainedInvokeStarted", name, "ChainedInvoke") for name in ("tax", "echo", "broken")
    ]
    started = by_type(events, "ChainedInvokeStarted")
    assert [e["ChainedInvokeStartedDetails"]["FunctionName"] for e in started] == [
        TAX,
        ECHO,
        BROKEN,
    ]
    assert [e["Name"] for e in by_type(events, "ChainedInvokeSucceeded")] == ["tax", "echo"]
    assert [e["Name"] for e in by_type(events, "ChainedInvokeFailed")] == ["broken"]
    # The durable targets ran as executions of their own, through the same handler.
    [tax_call, *_] = lambda_endpoint.invocations_of(TAX)
    assert tax_call.handler_invoke and tax_call.event["DurableExecutionArn"] != arn
    [echo_call] = lambda_endpoint.invocations_of(ECHO)
    assert echo_call.event == {"n": 5}


# --- paging -----------------------------------------------------------------------------------


def test_state_is_read_page_by_page(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    client = emu.new_client()
    pages: list[str] = []
    client.meta.events.register(
        "before-parameter-build.lambda.GetDurableExecutionState",
        lambda params, **_: pages.append(params["Marker"]),
    )

    def tally(payload: dict[str, int]) -> Any:
        values = []
        for i in range(payload["n"]):
            values.append((yield dg.Step(lambda i=i: i, name=f"count-{i}")))
        yield dg.Wait(seconds=30, name="nap")
        return sum(values)

    arn, outcome = run_workflow(
        emu, lambda_endpoint, function_name, tally, {"n": 12}, client=client
    )
    client.close()
    assert outcome.json() == sum(range(12))
    last = lambda_endpoint.invocations_for(arn)[-1].event["InitialExecutionState"]
    assert len(last["Operations"]) == 1 and last["NextMarker"]
    # The replaying invocation read the other 13 operations (12 steps, the wait) one per page.
    assert len(pages) == 13
    assert len(by_type(emu.history(arn), "StepSucceeded")) == 12


# --- crashes ----------------------------------------------------------------------------------


def charge_flow(retry: dg.Retry) -> tuple[Any, Counter]:
    ran = Counter()

    @dg.step(semantics=dg.AT_MOST_ONCE, retry=retry)
    def charge(amount: int) -> str:
        ran("charge")
        return f"charged {amount}"

    def order(payload: dict[str, int]) -> Any:
        try:
            return (yield charge(payload["amount"]))
        except dg.StepFailedError as exc:
            return {"interrupted": exc.error_type}

    return order, ran


def crash_after_an_outcome(client: Any) -> list[dict[str, Any]]:
    return crash_on_checkpoint(
        client, lambda updates: any(u["Action"] in ("SUCCEED", "FAIL") for u in updates)
    )


def test_an_interrupted_at_most_once_attempt_counts_as_a_failed_attempt(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    client = emu.new_client()
    swallowed = crash_after_an_outcome(client)
    order, ran = charge_flow(dg.Retry(max_attempts=2, initial_delay=10))
    arn, outcome = run_workflow(
        emu, lambda_endpoint, function_name, order, {"amount": 9}, client=client
    )
    client.close()

    assert outcome.json() == "charged 9"
    assert [u["Action"] for u in swallowed] == ["SUCCEED"]  # its START had been confirmed
    assert ran["charge"] == 2  # the interrupted attempt, then the retry
    crashed, *rest = lambda_endpoint.invocations_for(arn)
    assert crashed.function_error == "Unhandled"
    assert all(i.function_error is None for i in rest)
    events = emu.history(arn)
    assert op_events(events) == [
        ("StepStarted", "charge", "Step"),
        ("StepFailed", "charge", "Step"),
        ("StepStarted", "charge", "Step"),
        ("StepSucceeded", "charge", "Step"),
    ]
    [failed] = by_type(events, "StepFailed")
    assert failed["StepFailedDetails"]["Error"]["Payload"]["ErrorType"] == "StepInterruptedError"


def test_an_at_most_once_step_without_retries_never_runs_twice(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    client = emu.new_client()
    crash_after_an_outcome(client)
    order, ran = charge_flow(dg.Retry.never())
    _, outcome = run_workflow(
        emu, lambda_endpoint, function_name, order, {"amount": 9}, client=client
    )
    client.close()
    assert ran["charge"] == 1
    assert outcome.json() == {"interrupted": "StepInterruptedError"}


def test_an_at_least_once_step_runs_again_after_a_crash(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    client = emu.new_client()
    swallowed = crash_on_checkpoint(client, lambda updates: True)
    ran = Counter()

    @dg.step
    def reserve(sku: str) -> str:
        ran("reserve")
        return f"reserved {sku}"

    def order(payload: dict[str, str]) -> Any:
        return (yield reserve(payload["sku"]))

    arn, outcome = run_workflow(
        emu, lambda_endpoint, function_name, order, {"sku": "pen"}, client=client
    )
    client.close()

    assert outcome.json() == "reserved pen"
    assert ran["reserve"] == 2  # its outcome was lost with the first invocation
    assert [u["Action"] for u in swallowed] == ["START", "SUCCEED"]  # sent together
    assert op_events(emu.history(arn)) == [
        ("StepStarted", "reserve", "Step"),
        ("StepSucceeded", "reserve", "Step"),
    ]


def test_a_stale_token_ends_the_invocation_and_the_next_one_finishes(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    client, rival = emu.new_client(), emu.new_client()
    stolen: list[str] = []

    def steal_token(params: dict[str, Any], **_: Any) -> None:
        # Another caller checkpoints with the same token first: ours is stale when it arrives.
        if not stolen:
            stolen.append(params["CheckpointToken"])
            rival.checkpoint_durable_execution(
                DurableExecutionArn=params["DurableExecutionArn"],
                CheckpointToken=params["CheckpointToken"],
                Updates=[],
            )

    client.meta.events.register(
        "before-parameter-build.lambda.CheckpointDurableExecution", steal_token
    )

    def order(payload: dict[str, int]) -> Any:
        return (yield dg.Step(lambda: payload["n"] + 1, name="bump"))

    arn, outcome = run_workflow(emu, lambda_endpoint, function_name, order, {"n": 1}, client=client)
    client.close()
    rival.close()

    assert outcome.json() == 2
    first, second = lambda_endpoint.invocations_for(arn)
    assert first.function_error == "Unhandled"
    assert first.error is not None and first.error["errorType"] == "InvalidCheckpointTokenError"
    assert "newest checkpoint token" in first.error["errorMessage"]
    assert second.response == {"Status": "SUCCEEDED", "Result": "2"}
