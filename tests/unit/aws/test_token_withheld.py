"""A checkpoint reply without a token: the invocation ends PENDING, nothing more is sent.

The Lambda service answers the running invocation of a paused execution
(``PauseDurableExecution``) this way: the updates of that call are recorded, but no later one
can be, and AWS's SDK ends the invocation PENDING (the service invokes again once the
execution is resumed). The reply used to be read as malformed state, and the handler returned
FAILED, which failed the execution.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen._wire import CheckpointResponse, ExecutionState, OperationUpdate
from durable_gen.aws import LambdaService, lambda_handler

ARN = "arn:aws:lambda:us-west-2:123456789012:function:f:1/durable-execution/e/i"


def event() -> dict[str, Any]:
    return {
        "DurableExecutionArn": ARN,
        "CheckpointToken": "dDA=",
        "InitialExecutionState": {
            "Operations": [
                {
                    "Id": "e",
                    "Type": "EXECUTION",
                    "Status": "STARTED",
                    "StartTimestamp": 1_000,
                    "ExecutionDetails": {"InputPayload": "{}"},
                }
            ]
        },
    }


class Paused:
    """A ``DurableService`` that withholds the token from checkpoint number ``at`` on."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.checkpoints: list[list[OperationUpdate]] = []

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: list[OperationUpdate]
    ) -> CheckpointResponse:
        self.checkpoints.append(list(updates))
        if len(self.checkpoints) >= self.at:
            return CheckpointResponse(new_execution_state=ExecutionState())
        return CheckpointResponse(checkpoint_token=checkpoint_token + "x")

    def get_state(self, execution_arn: str, checkpoint_token: str, marker: str) -> ExecutionState:
        raise AssertionError("no paging here")


RAN: list[str] = []


@dg.step
def note(name: str) -> str:
    RAN.append(name)
    return name


def three(_: Any) -> Generator[Any, Any, Any]:
    out = []
    for name in ("a", "b", "c"):
        out.append((yield note(name)))
    return out


class Ends(dg.Plugin):
    def __init__(self) -> None:
        self.ends: list[str] = []

    def on_invocation_end(self, info: dg.InvocationInfo, status: str) -> None:
        self.ends.append(status)


@pytest.mark.parametrize("at", [1, 2, 3])
@pytest.mark.parametrize("checkpointing", ["step", "eager"])
def test_the_invocation_ends_pending_and_sends_nothing_more(at: int, checkpointing: str) -> None:
    RAN.clear()
    service = Paused(at)
    ends = Ends()
    # start_window=None: a step slowed past the window by a busy machine would send its START
    # on its own, one more checkpoint than counted here
    handler = lambda_handler(
        three, service=service, checkpointing=checkpointing, plugins=[ends], start_window=None
    )
    assert handler(event(), None) == {"Status": "PENDING"}
    assert len(service.checkpoints) == at  # none after the reply without a token
    sent = [u.payload for updates in service.checkpoints for u in updates if u.action == "SUCCEED"]
    assert [f'"{name}"' for name in RAN] == sent  # no step ran after the reply
    assert ends.ends == ["PENDING"]


def test_a_paused_batch_mode_invocation_ends_pending() -> None:
    RAN.clear()
    service = Paused(1)
    assert lambda_handler(three, service=service, checkpointing="batch")(event(), None) == {
        "Status": "PENDING"
    }
    assert len(service.checkpoints) == 1


def test_steps_running_in_parallel_are_abandoned() -> None:
    def fan(_: Any) -> Generator[Any, Any, Any]:
        batch = yield dg.Map(note, [f"m{i}" for i in range(8)], name="fan", max_concurrency=2)
        return batch.all_results()

    service = Paused(2)
    assert lambda_handler(fan, service=service, start_window=None)(event(), None) == {
        "Status": "PENDING"
    }
    assert len(service.checkpoints) == 2


def test_the_reply_to_the_execution_end_needs_no_token() -> None:
    # A result too large to return is checkpointed on the EXECUTION operation; a reply
    # without a token there means the execution ended, and nothing is sent after it.
    def large(_: Any) -> Generator[Any, Any, Any]:
        yield note("a")
        return "x" * (6 * 1024 * 1024 - 40_000)  # over what a response carries, under 6 MiB

    service = Paused(2)
    assert lambda_handler(large, service=service)(event(), None) == {
        "Status": "SUCCEEDED",
        "Result": "",
    }
    assert [u.type for u in service.checkpoints[-1]] == ["EXECUTION"]


def test_invoke_async_ends_pending_too() -> None:
    RAN.clear()
    service = Paused(1)
    invocation = rt.InvocationInput(
        durable_execution_arn=ARN,
        checkpoint_token="t",
        initial_execution_state=ExecutionState(
            operations=[
                rt.Operation(
                    id="e",
                    type="EXECUTION",
                    status="STARTED",
                    execution_details=rt.ExecutionDetails(input_payload="{}"),
                )
            ]
        ),
    )
    output = asyncio.run(rt.invoke_async(three, invocation, service))
    assert output == rt.InvocationOutput(status="PENDING")
    assert len(service.checkpoints) == 1


class Boto:
    """A boto3 ``lambda`` client whose checkpoint replies lose the token after ``at`` calls."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.calls: list[int] = []

    def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(len(kwargs["Updates"]))
        reply: dict[str, Any] = {"NewExecutionState": {"Operations": []}}
        if len(self.calls) < self.at:
            reply["CheckpointToken"] = kwargs["CheckpointToken"] + "x"
        return reply


def test_a_large_checkpoint_stops_at_the_call_answered_without_a_token() -> None:
    # More than 250 updates go out in several calls, each with the token the one before
    # returned: after a reply without one, the rest cannot be sent.
    client = Boto(at=1)
    updates = [
        OperationUpdate(id=f"s{i}", type="STEP", action="START", sub_type="Step", name="s")
        for i in range(600)
    ]
    reply = LambdaService(client).checkpoint(ARN, "dDA=", updates)
    assert reply.checkpoint_token is None
    assert client.calls == [250]


def test_through_lambda_service_the_handler_ends_pending() -> None:
    RAN.clear()
    client = Boto(at=2)
    assert lambda_handler(three, client=client, start_window=None)(event(), None) == {
        "Status": "PENDING"
    }
    assert len(client.calls) == 2
    assert RAN == ["a", "b"]


def test_a_start_sent_while_the_step_runs_answered_without_a_token() -> None:
    # A step that outlives the start window has its START sent while it runs (by another
    # thread); when that reply has no token, the step's outcome is not sent after it.
    import time

    def slow(_: Any) -> Generator[Any, Any, Any]:
        first = yield dg.Step(lambda: time.sleep(0.1) or "slow", name="slow")
        second = yield note("after")
        return [first, second]

    RAN.clear()
    service = Paused(1)
    assert lambda_handler(slow, service=service)(event(), None) == {"Status": "PENDING"}
    assert [[u.action for u in updates] for updates in service.checkpoints] == [["START"]]
    assert RAN == []
