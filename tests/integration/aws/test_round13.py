"""Round 13 corpus for the Lambda path, written from docs/lambda.md: the handler through
`LambdaService` over stand-ins for boto3's `lambda` client (the one of `test_round10`, which
keeps one execution's state and issues a token per checkpoint) that send the state in shapes a
service of a newer API version, or an odd but valid one, may send: members this version does not
know on every operation, its details and the event; the operations in any order (children
before their contexts, the EXECUTION operation anywhere) over pages of zero to three
operations, empty pages among them; timestamps as boto3 parses them (`datetime`) in
`GetDurableExecutionState` and checkpoint replies, whose operations come in any order too;
`UpdatedOperationIds`; and the service's transient failures. Every shape ends as on the embedded engine in every checkpointing mode.
Then a big batch whose checkpoint takes several calls, on an execution stopped in between."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from typing import Any

import msgspec
import pytest
import tests.integration.aws.test_round10 as r10
from tests.unit import embedding_shapes_round10 as shapes

import durable_gen as dg
from durable_gen.aws import LambdaService, ServiceUnavailableError, lambda_handler
from durable_gen.testing import replay

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _arn(tag: str) -> str:
    return f"arn:aws:lambda:ap-south-1:345678901234:function:r13:3/durable-execution/{tag}/y"


def _newer(op: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """An operation as a newer API version may write it: members added everywhere."""
    op = {**op, "AddedMember": {"x": 1}}
    for key, value in list(op.items()):
        if key.endswith("Details") and isinstance(value, dict):
            op[key] = {**value, "AddedLater": rng.choice([None, 1, "s", [1], {"a": 1}])}
    return op


def _as_datetimes(op: dict[str, Any]) -> dict[str, Any]:
    """Timestamps as boto3 hands them over: `datetime`s."""

    def when(ms: Any) -> Any:
        return _EPOCH + dt.timedelta(milliseconds=ms) if isinstance(ms, int) else ms

    op = {**op}
    for key in ("StartTimestamp", "EndTimestamp"):
        op[key] = when(op.get(key))
    for details, key in (
        ("StepDetails", "NextAttemptTimestamp"),
        ("WaitDetails", "ScheduledEndTimestamp"),
    ):
        if isinstance(op.get(details), dict):
            op[details] = {**op[details], key: when(op[details].get(key))}
    return op


class OddLambda(r10.FakeLambda):
    """The stand-in, sending the state in odd but valid shapes (see the module's docstring)."""

    def event(self) -> dict[str, Any]:
        self.token = next(self.tokens)
        ops = [_newer(msgspec.to_builtins(op), self.rng) for op in self.store.values()]
        self.rng.shuffle(ops)
        pages: list[list[dict[str, Any]]] = []
        start = 0
        while start < len(ops):
            size = self.rng.choice([0, 1, 2, 3])
            pages.append(ops[start : start + size])
            start += size
        if not pages or self.rng.random() < 0.5:
            pages.append([])  # an empty page at the end
        markers = [f"page:{uuid.uuid4().hex}" for _ in pages[1:]]
        self._pages = dict(zip(markers, pages[1:], strict=True))
        self._next = dict(zip(markers, [*markers[1:], None][: len(markers)], strict=True))
        return {
            "DurableExecutionArn": self.arn,
            "CheckpointToken": self.token,
            "InitialExecutionState": {
                "Operations": pages[0],
                **({"NextMarker": markers[0]} if markers else {}),
            },
            "UpdatedOperationIds": [op["Id"] for op in ops[:2]],
            "AddedMember": True,
        }

    def get_durable_execution_state(self, **params: Any) -> dict[str, Any]:
        marker = params["Marker"]
        if marker.startswith("changed:"):  # the pages of a checkpoint's reply
            return super().get_durable_execution_state(**params)
        if self._fault("state") is not None:
            raise r10._error("ServiceException", "try again", 500)
        following = self._next[marker]
        return {
            "Operations": [_as_datetimes(op) for op in self._pages[marker]],
            **({"NextMarker": following} if following else {}),
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }

    def checkpoint_durable_execution(self, **params: Any) -> dict[str, Any]:
        reply = json.loads(json.dumps(super().checkpoint_durable_execution(**params)))
        state = reply.get("NewExecutionState") or {}
        state["Operations"] = [
            _as_datetimes(_newer(op, self.rng)) for op in state.get("Operations") or []
        ]
        self.rng.shuffle(state["Operations"])  # children before their contexts, too
        return reply  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize("shape", sorted(shapes.SHAPES))
def test_state_in_odd_but_valid_shapes_ends_as_the_engine(shape: str, mode: str) -> None:
    expected = shapes.engine_outcome(shape, uuid.uuid4().hex)
    key = uuid.uuid4().hex
    fake = OddLambda(_arn(key), json.dumps({"key": key}), seed=len(shape), faults=0.2)
    handler = lambda_handler(
        shapes.SHAPES[shape],
        service=LambdaService(fake, sleep=lambda _: None),
        checkpointing=mode,
    )
    output: dict[str, Any] = {"Status": "PENDING"}
    for _ in range(80):
        try:
            output = handler(fake.event(), r10.Context())
        except ServiceUnavailableError:
            continue
        if output["Status"] != "PENDING":
            break
        fake.move_on()
    assert r10._outcome(output) == expected, fake.log
    fake.store["exec-0"] = msgspec.structs.replace(  # ended, as the service records it
        fake.store["exec-0"], status=output["Status"], end_timestamp=fake.now_ms
    )
    report = replay(shapes.SHAPES[shape], list(fake.store.values()), execution_arn=fake.arn)
    assert report.ok, report


# -- a checkpoint of several calls, on an execution stopped in between -----------------------


@dg.step
def numbered(i: int) -> int:
    return i


@dg.workflow
def many_steps(e: Any):  # type: ignore[no-untyped-def]
    total = 0
    for i in range(300):  # more updates than one call carries
        total += yield numbered(i)
    yield dg.Wait(seconds=5, name="after the steps")
    return total


class StoppedAfterTheFirstCall(r10.FakeLambda):
    """The execution is stopped while the first call of a checkpoint is answered: its reply
    shows the EXECUTION operation STOPPED, and the service refuses every call after it."""

    calls = 0

    def checkpoint_durable_execution(self, **params: Any) -> dict[str, Any]:
        self.calls += 1
        reply = super().checkpoint_durable_execution(**params)
        if self.calls == 1:
            self.store["exec-0"] = msgspec.structs.replace(
                self.store["exec-0"], status="STOPPED", end_timestamp=self.now_ms
            )
            reply = json.loads(json.dumps(reply))
            reply["NewExecutionState"]["Operations"].append(
                msgspec.to_builtins(self.store["exec-0"])
            )
        return reply


def test_a_checkpoint_of_several_calls_stops_at_a_reply_showing_the_execution_stopped() -> None:
    fake = StoppedAfterTheFirstCall(_arn("stopped"), "{}")
    handler = lambda_handler(
        many_steps, service=LambdaService(fake, sleep=lambda _: None), checkpointing="batch"
    )
    output = handler(fake.event(), r10.Context())
    assert output == {"Status": "PENDING"}  # as when a checkpoint of one call shows it
    assert fake.calls == 1  # nothing was sent after it
    recorded = [op for op in fake.store.values() if op.type == "STEP"]
    assert 0 < len(recorded) <= 250
