"""Round 10 corpus for the Lambda path: the Lambda handler driven with hand-built events, the
way the service invokes it, through `LambdaService` over a stand-in for boto3's `lambda`
client that keeps the execution's state, pages it (in the event, in `GetDurableExecutionState`
and in checkpoint replies), issues a new token per checkpoint, and fails as the service
fails: throttling, 5xx before or after recording a checkpoint (the reply lost, the retry
recognised by its `ClientToken`), a paused execution's token-less reply, a stale token, a
refused update. Every shape of `tests/unit/embedding_shapes_round10.py` runs in every
checkpointing mode and ends as on the embedded engine."""

from __future__ import annotations

import itertools
import json
import random
import uuid
import zlib
from typing import Any

import msgspec
import pytest
from botocore.exceptions import ClientError
from tests.unit import embedding_shapes_round10 as shapes

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.aws import LambdaService, ServiceUnavailableError, lambda_handler
from durable_gen.testing import replay

START_MS = 1_767_323_045_000
_decode_updates = msgspec.json.Decoder(list[rt.OperationUpdate])


def _error(code: str, message: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "CheckpointDurableExecution",
    )


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 120_000


class FakeLambda:
    """boto3's `lambda` client as far as the handler uses it, over one execution's state."""

    def __init__(self, arn: str, input_json: str, *, page: int = 3, faults: float = 0.0,
                 seed: int = 0, pause: bool = True) -> None:  # fmt: skip
        self.arn = arn
        self.page = page
        self.now_ms = START_MS
        self.store: dict[str, rt.Operation] = {
            "exec-0": rt.Operation(
                id="exec-0", type="EXECUTION", status="STARTED", start_timestamp=START_MS,
                execution_details=rt.ExecutionDetails(input_payload=input_json),
            )
        }  # fmt: skip
        self.tokens = (f"tok-{n}" for n in itertools.count())
        self.token = next(self.tokens)
        self.timers: dict[tuple[str, str], rt.Timer] = {}
        self.invokes: list[rt.InvokeRequest] = []
        self.replies: dict[str, dict[str, Any]] = {}  # by ClientToken
        self.changed_pages: dict[str, list[rt.Operation]] = {}
        self.rng = random.Random(seed)
        self.faults = faults
        self.pause = pause
        self.log: list[str] = []
        self.client_tokens: list[str] = []
        self.paused = False

    # what the service sends an invocation
    def event(self) -> dict[str, Any]:
        self.token = next(self.tokens)
        ops = [msgspec.to_builtins(op) for op in self.store.values()]
        first, rest = ops[: self.page], ops[self.page :]
        return {
            "DurableExecutionArn": self.arn,
            "CheckpointToken": self.token,
            "InitialExecutionState": {
                "Operations": first,
                "NextMarker": f"state:{self.page}" if rest else "",
            },
        }

    def _fault(self, api: str) -> str | None:
        if self.rng.random() >= self.faults:
            return None
        kinds = ["throttle", "5xx-before", "state-5xx"]
        if api == "checkpoint":
            kinds += ["5xx-after", "paged-reply"] + (["pause"] if self.pause else [])
        kind = self.rng.choice(kinds)
        self.log.append(kind)
        return kind

    def checkpoint_durable_execution(self, **params: Any) -> dict[str, Any]:
        assert params["DurableExecutionArn"] == self.arn
        client_token = params["ClientToken"]
        self.client_tokens.append(client_token)
        if client_token in self.replies:  # a retry of a call that was recorded
            return self.replies[client_token]
        fault = self._fault("checkpoint")
        if fault == "throttle":
            raise _error("TooManyRequestsException", "Rate exceeded", 429)
        if fault == "5xx-before":
            raise _error("ServiceException", "try again", 500)
        if params["CheckpointToken"] != self.token:
            raise _error("InvalidParameterValueException", "Invalid checkpoint token", 400)
        updates = _decode_updates.decode(json.dumps(params["Updates"]))
        try:
            applied = rt.apply_updates(self.store, updates, now_ms=self.now_ms)
        except dg.InvalidCheckpointError as exc:
            raise _error("InvalidParameterValueException", str(exc), 400) from None
        for timer in applied.timers:
            self.timers[timer.kind, timer.operation_id] = timer
        self.invokes.extend(applied.invokes)
        self.token = next(self.tokens)
        changed = [msgspec.to_builtins(op) for op in applied.operations]
        state: dict[str, Any] = {"Operations": changed}
        if fault == "paged-reply" and len(changed) > 1:  # the rest through get_state
            marker = f"changed:{uuid.uuid4().hex}"
            self.changed_pages[marker] = list(applied.operations[1:])
            state = {"Operations": changed[:1], "NextMarker": marker}
        reply: dict[str, Any] = {"CheckpointToken": self.token, "NewExecutionState": state}
        if fault == "pause":
            reply = {"NewExecutionState": state}  # paused: recorded, nothing more may come
            self.paused = True
            self.token = next(self.tokens)
        self.replies[client_token] = reply
        if fault == "5xx-after":  # recorded, but the reply is lost
            raise _error("ServiceException", "reply lost", 503)
        return reply

    def get_durable_execution_state(self, **params: Any) -> dict[str, Any]:
        assert params["DurableExecutionArn"] == self.arn
        fault = self._fault("state")
        if fault in ("throttle", "state-5xx", "5xx-before"):
            raise _error("ServiceException", "try again", 500)
        marker = params["Marker"]
        if marker.startswith("changed:"):
            return {"Operations": [msgspec.to_builtins(op) for op in self.changed_pages[marker]]}
        start = int(marker.removeprefix("state:"))
        ops = list(self.store.values())
        page = ops[start : start + self.page]
        end = start + self.page
        return {
            "Operations": [msgspec.to_builtins(op) for op in page],
            **({"NextMarker": f"state:{end}"} if end < len(ops) else {}),
        }

    # the outside world, between invocations
    def move_on(self) -> None:
        if self.paused:  # resumed at once: no time passes, nothing else happens
            self.paused = False
            return
        for request in self.invokes:
            how, value = shapes.invoked(request.function_name, request.payload)
            kw = {"result": value} if how == "result" else {"error": value}
            rt.complete_invoke(self.store, request.operation_id, now_ms=self.now_ms, **kw)
        moved = bool(self.invokes)
        self.invokes.clear()
        for op in list(self.store.values()):
            if op.type != "CALLBACK" or op.status != "STARTED" or not op.callback_details:
                continue
            callback_id = op.callback_details.callback_id
            assert callback_id
            answer = shapes.answer_for(op.name)
            if answer is None:
                continue
            how, value = answer
            if how == "heartbeat":
                for _ in range(3):
                    self.now_ms += 500
                    armed = self.timers.get(("callback-heartbeat", op.id))
                    new = rt.heartbeat_callback(self.store, callback_id, armed, now_ms=self.now_ms)
                    assert new is not None
                    self.timers[new.kind, new.operation_id] = new
                how = "result"
            kw = {"result": value} if how == "result" else {"error": value}
            rt.complete_callback(self.store, callback_id, now_ms=self.now_ms, **kw)
            moved = True
        if moved:
            return
        if not self.timers:
            return
        first = min(self.timers.values(), key=lambda t: t.due_ms)
        self.now_ms = max(self.now_ms, first.due_ms)
        del self.timers[first.kind, first.operation_id]
        rt.fire_timer(self.store, first, now_ms=self.now_ms)


def run_on_lambda(
    shape: str, mode: str, key: str, **fake_options: Any
) -> tuple[dict[str, Any], FakeLambda]:
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:r10:1/durable-execution/{key}/i"
    fake = FakeLambda(arn, json.dumps({"key": key}), **fake_options)
    handler = lambda_handler(
        shapes.SHAPES[shape],
        service=LambdaService(fake, sleep=lambda _: None),
        checkpointing=mode,
    )
    for _ in range(80):
        try:
            output = handler(fake.event(), Context())
        except ServiceUnavailableError:  # failures through every retry: invoked again later
            fake.log.append("invocation raised")
            continue
        if output["Status"] != "PENDING":
            end = "SUCCEEDED" if output["Status"] == "SUCCEEDED" else "FAILED"
            fake.store["exec-0"] = msgspec.structs.replace(
                fake.store["exec-0"], status=end, end_timestamp=fake.now_ms
            )
            return output, fake
        fake.move_on()
    raise AssertionError(f"{shape} did not end: {fake.log}")


def _outcome(output: dict[str, Any]) -> tuple[str, Any]:
    if output["Status"] == "SUCCEEDED":
        return "SUCCEEDED", json.loads(output["Result"]) if output.get("Result") else None
    return "FAILED", output["Error"]["ErrorType"]


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize("shape", sorted(shapes.SHAPES))
def test_every_shape_through_the_handler_in_pages_ends_as_the_engine(shape: str, mode: str) -> None:
    expected = shapes.engine_outcome(shape, uuid.uuid4().hex)
    key = uuid.uuid4().hex
    output, fake = run_on_lambda(shape, mode, key, page=2)
    assert _outcome(output) == expected
    assert replay(shapes.SHAPES[shape], list(fake.store.values()), execution_arn=fake.arn).ok


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize("shape", sorted(shapes.SHAPES))
def test_every_shape_survives_the_services_failures(shape: str, mode: str) -> None:
    """Throttling, 5xx before and after recording, paged replies and pauses on about a third
    of the calls: the same end, and no recorded step runs again."""
    expected = shapes.engine_outcome(shape, uuid.uuid4().hex)
    key = uuid.uuid4().hex
    seed = zlib.crc32(f"{shape}-{mode}".encode())
    # A pause answering an at-most-once step's START leaves it started and not run: the next
    # invocation counts it as interrupted (documented), which this shape would fail on.
    pause = shape != "at_most_once"
    output, fake = run_on_lambda(shape, mode, key, page=2, faults=0.3, seed=seed, pause=pause)
    assert _outcome(output) == expected, fake.log
    assert replay(shapes.SHAPES[shape], list(fake.store.values()), execution_arn=fake.arn).ok
    if shape == "at_most_once":
        assert shapes.counted(key, "charge") == 2
    if shape == "saga":
        assert shapes.counted(key, "reserve flight") == 1


class LostReplies(FakeLambda):
    """Every checkpoint is recorded and its first reply lost."""

    def _fault(self, api: str) -> str | None:
        return "5xx-after" if api == "checkpoint" else None


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_a_checkpoint_whose_reply_was_lost_is_retried_with_its_client_token(mode: str) -> None:
    key = uuid.uuid4().hex
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:r10:1/durable-execution/{key}/l"
    fake = LostReplies(arn, json.dumps({"key": key}))
    service = LambdaService(fake, sleep=lambda _: None)
    handler = lambda_handler(shapes.SHAPES["chain"], service=service, checkpointing=mode)
    output = handler(fake.event(), Context())
    assert _outcome(output) == ("SUCCEEDED", {"a": 3, "b": 13})
    assert shapes.counted(key, "add") == 2
    # each call went twice with one ClientToken; the service answered the retry from its record
    assert len(fake.client_tokens) == 2 * len(set(fake.client_tokens)) == 2 * len(fake.replies)


class StaleOnce(FakeLambda):
    """Another invocation takes the execution over once, before the `n`-th checkpoint."""

    def __init__(self, *args: Any, n: int, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.n = n
        self.calls = 0

    def checkpoint_durable_execution(self, **params: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls == self.n:
            self.token = next(self.tokens)
        return super().checkpoint_durable_execution(**params)


# (mode, n-th checkpoint refused as stale) -> how many times the two steps ran in all: a step
# runs again only when the refused call carried its outcome (in batch mode, both of them);
# a refused START alone (eager's first call) is sent before the step runs; eager sends the
# next START with the outcome before it.
STALE_RUNS = {
    ("step", 1): 3, ("step", 2): 3, ("step", 3): 2,
    ("eager", 1): 2, ("eager", 2): 3, ("eager", 3): 3, ("eager", 4): 2,
    ("batch", 1): 4, ("batch", 2): 2,
}  # fmt: skip


@pytest.mark.parametrize(("mode", "n"), sorted(STALE_RUNS))
def test_a_stale_token_raises_and_the_next_invocation_resumes(mode: str, n: int) -> None:
    key = uuid.uuid4().hex
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:r10:1/durable-execution/{key}/s"
    fake = StaleOnce(arn, json.dumps({"key": key}), n=n)
    service = LambdaService(fake, sleep=lambda _: None)
    handler = lambda_handler(shapes.SHAPES["chain"], service=service, checkpointing=mode)
    raised = 0
    for _ in range(5):
        before = dict(fake.store)
        try:
            output = handler(fake.event(), Context())
        except dg.InvalidCheckpointTokenError as exc:
            raised += 1
            assert "newest checkpoint token" in str(exc)
            assert all(fake.store[i] == op for i, op in before.items())  # nothing lost
            continue
        if output["Status"] != "PENDING":
            break
    assert raised == (1 if n <= fake.calls - 1 else 0)
    assert _outcome(output) == ("SUCCEEDED", {"a": 3, "b": 13})
    assert shapes.counted(key, "add") == STALE_RUNS[mode, n]


def test_a_refused_update_fails_the_invocation_as_invalid_checkpoint() -> None:
    class Refusing(FakeLambda):
        def checkpoint_durable_execution(self, **params: Any) -> dict[str, Any]:
            raise _error("InvalidParameterValueException", "Update is not allowed", 400)

    key = uuid.uuid4().hex
    fake = Refusing(
        "arn:aws:lambda:us-east-1:1:function:f:1/durable-execution/x/y", json.dumps({"key": key})
    )
    handler = lambda_handler(
        shapes.SHAPES["chain"], service=LambdaService(fake, sleep=lambda _: None)
    )
    output = handler(fake.event(), Context())
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == "InvalidCheckpointError"
    assert "does not accept these updates" in output["Error"]["ErrorMessage"]


class PagedReplies(FakeLambda):
    """Every checkpoint reply of more than one operation comes in pages."""

    def _fault(self, api: str) -> str | None:
        return "paged-reply" if api == "checkpoint" else None


def _items(n: int):  # type: ignore[no-untyped-def]
    batch = yield dg.Map(lambda x, i: x * 2, list(range(n)), name="many-items")
    return sum(batch.results())


@pytest.mark.parametrize("mode", ["step", "batch"])
def test_checkpoint_replies_in_pages_through_one_call_and_several(mode: str) -> None:
    """A paged reply holds what the checkpoint changed: Map items whose Map was recorded by an
    earlier call (batch mode sends 600 updates as three calls) are news, not a truncated
    history."""
    key = uuid.uuid4().hex
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:r10:1/durable-execution/{key}/p"
    fake = PagedReplies(arn, json.dumps(150))
    service = LambdaService(fake, sleep=lambda _: None)
    handler = lambda_handler(_items, service=service, checkpointing=mode)
    output = handler(fake.event(), Context())
    assert output == {"Status": "SUCCEEDED", "Result": json.dumps(150 * 149)}
    assert fake.changed_pages
