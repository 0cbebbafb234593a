"""The fixed cost of one invocation of ``durable_gen.aws.lambda_handler``, without a network.

What is timed: the handler call, from entry to the returned dict: parsing the event, the driver
and the interpreter, one step (returning a constant), its checkpoint, and the output. The
service answers in process, so neither the network nor the service is in the number.

``measure(repeat)`` uses a minimal in-memory ``DurableService`` and returns the median seconds
per invocation over ``repeat`` timed invocations (after a warm-up). Run as a script, it also
prints the same invocation through ``LambdaService`` over a real botocore client answered by
botocore's Stubber (botocore's request building is then included), and a workflow that makes
no checkpoint at all.

    python -m benchmarks.lambda_overhead [repeat]
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import durable_gen as dg
from durable_gen._wire import CheckpointResponse, ExecutionState, OperationUpdate
from durable_gen.aws import LambdaService, lambda_handler

__all__ = ["measure"]

TARGET_SECONDS = 1e-3

ARN = "arn:aws:lambda:us-east-1:123456789012:function:bench:$LATEST/durable-execution/e/i"
EVENT: dict[str, Any] = {
    "DurableExecutionArn": ARN,
    "CheckpointToken": "dG9rZW4w",
    "InitialExecutionState": {
        "Operations": [
            {
                "Id": "i",
                "Type": "EXECUTION",
                "Status": "STARTED",
                "StartTimestamp": 1_767_323_045_678,
                "ExecutionDetails": {"InputPayload": '{"n": 41}'},
            }
        ],
        "NextMarker": "",
    },
}


def one_step(payload: dict[str, int]) -> Any:
    return (yield dg.Step(_plus_one, (payload["n"],), name="plus-one"))


def no_step(payload: dict[str, int]) -> Any:
    return payload["n"]
    yield  # pragma: no cover


def _plus_one(n: int) -> int:
    return n + 1


class InProcessService:
    """A ``DurableService`` that accepts every checkpoint and changes nothing."""

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        return CheckpointResponse(checkpoint_token=checkpoint_token + "1")

    def get_state(self, execution_arn: str, checkpoint_token: str, marker: str) -> ExecutionState:
        return ExecutionState()


def _median_seconds(call: Callable[[], Any], repeat: int, before_each: Callable[[], Any]) -> float:
    for _ in range(max(20, repeat // 10)):  # warm-up: caches, imports, thread pool
        before_each()
        call()
    samples: list[int] = []
    gc.collect()
    for _ in range(max(1, repeat)):
        before_each()
        started = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - started)
    return statistics.median(samples) / 1e9


def _check(output: dict[str, Any], expected: str) -> None:
    if output != {"Status": "SUCCEEDED", "Result": expected}:
        raise AssertionError(f"unexpected handler output: {output!r}")


def measure(repeat: int) -> float:
    """Median seconds of one handler invocation (one step, one checkpoint, in process).

    Args:
        repeat: Timed invocations (after a warm-up of at least 20).
    """
    handler = lambda_handler(one_step, service=InProcessService())
    _check(handler(EVENT, None), "42")
    return _median_seconds(lambda: handler(EVENT, None), repeat, lambda: None)


def measure_without_checkpoint(repeat: int) -> float:
    """Median seconds of an invocation that makes no checkpoint (the workflow returns)."""
    handler = lambda_handler(no_step, service=InProcessService())
    _check(handler(EVENT, None), "41")
    return _median_seconds(lambda: handler(EVENT, None), repeat, lambda: None)


def measure_through_botocore(repeat: int) -> float:
    """Median seconds of the one-step invocation through ``LambdaService`` and botocore, with
    botocore's Stubber answering in place of the network."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.session.Session().client(
        "lambda",
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    reply = {"CheckpointToken": "dG9rZW4x", "NewExecutionState": {"Operations": []}}
    handler = lambda_handler(one_step, service=LambdaService(client))
    with Stubber(client) as stubber:

        def queue_reply() -> None:
            stubber.add_response("checkpoint_durable_execution", reply)

        queue_reply()
        _check(handler(EVENT, None), "42")
        seconds = _median_seconds(lambda: handler(EVENT, None), repeat, queue_reply)
    client.close()
    return seconds


def main(argv: list[str]) -> int:
    repeat = int(argv[1]) if len(argv) > 1 else 2000
    rows = [
        ("one step, in-process service (measure)", measure(repeat)),
        ("no checkpoint, in-process service", measure_without_checkpoint(repeat)),
        ("one step, LambdaService over botocore + Stubber", measure_through_botocore(repeat)),
    ]
    print(f"durable_gen.aws.lambda_handler, median of {repeat} invocations")
    for label, seconds in rows:
        print(f"  {label:<50} {seconds * 1e6:8.1f} µs")
    verdict = "within" if rows[0][1] < TARGET_SECONDS else "OVER"
    print(f"target: under {TARGET_SECONDS * 1e3:g} ms per invocation: {verdict}")
    return 0 if rows[0][1] < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
