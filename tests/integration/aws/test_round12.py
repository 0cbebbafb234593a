"""Round 12 corpus for the Lambda path, written from docs/lambda.md: the handler over a stand-in
for boto3's `lambda` client (the one of `test_round10`, which keeps one execution's state, pages
it and issues a token per checkpoint) and over AWS's emulator (`dex-local-runner`, on
127.0.0.1). Shapes: executions of more operations than pages may hold read one operation a page,
inputs that are JSON scalars, null or lists, an invocation whose Lambda time runs out in the
middle of a Map, one handler serving several executions in turn (a warm sandbox) with child
results on both sides of the 256 KiB checkpoint limit, and refused or transient checkpoints.
Each ends as the embedded engine ends the same workflow, and no recorded step runs again."""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import tests.integration.aws.test_round10 as r10
from botocore.exceptions import ClientError

import durable_gen as dg
from durable_gen.aws import LambdaService, ServiceUnavailableError, lambda_handler
from durable_gen.runtime import ExecutionState, Operation
from durable_gen.testing import replay

try:
    from .emulator import Emulator, LambdaEndpoint
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]


def _arn(tag: str) -> str:
    return f"arn:aws:lambda:eu-west-1:210987654321:function:r12:7/durable-execution/{tag}/x"


class Paged(r10.FakeLambda):
    """The stand-in, paging its state by the `MaxItems` the client asks for (one operation a
    page when asked), from a snapshot taken when the invocation starts."""

    def event(self) -> dict[str, Any]:
        self._snapshot = [msgspec.to_builtins(op) for op in self.store.values()]
        return super().event()

    def get_durable_execution_state(self, **params: Any) -> dict[str, Any]:
        size = params.get("MaxItems") or self.page
        start = int(params["Marker"].removeprefix("state:"))
        end = start + size
        return {
            "Operations": self._snapshot[start:end],
            **({"NextMarker": f"state:{end}"} if end < len(self._snapshot) else {}),
        }


def _drive(handler: Any, fake: r10.FakeLambda, context: Any = None) -> dict[str, Any]:
    for _ in range(60):
        output: dict[str, Any] = handler(fake.event(), context or r10.Context())
        if output["Status"] != "PENDING":
            return output
        fake.move_on()
    raise AssertionError(f"the execution did not end: {fake.log}")


RAN: dict[str, int] = {}
_ran_lock = threading.Lock()


def _count(what: str) -> None:
    with _ran_lock:
        RAN[what] = RAN.get(what, 0) + 1


@dg.step
def numbered(key: str, i: int) -> int:
    _count(f"{key}:{i}")
    return i


@dg.workflow
def many_steps(e: dict[str, Any]):  # type: ignore[no-untyped-def]
    total = 0
    for i in range(e["n"]):
        total += yield numbered(e["key"], i)
    yield dg.Wait(seconds=1, name="after the steps")
    return total


@pytest.mark.parametrize("n", [10_001])
def test_an_execution_of_more_operations_than_the_page_limit_read_one_a_page(n: int) -> None:
    """10,003 operations, read one a page: 10,003 pages, all of them bringing operations. The
    second invocation reads them all and ends as the engine does; no step runs again."""
    key = uuid.uuid4().hex
    fake = Paged(_arn(key), json.dumps({"key": key, "n": n}), page=1)
    service = LambdaService(fake, sleep=lambda _: None, page_size=1)
    handler = lambda_handler(many_steps, service=service, checkpointing="batch")
    output = _drive(handler, fake)
    assert output == {"Status": "SUCCEEDED", "Result": json.dumps(sum(range(n)))}, output
    assert len(fake.store) == n + 2
    assert all(RAN[f"{key}:{i}"] == 1 for i in range(n))


def test_new_markers_with_the_same_operations_still_stop_at_the_page_limit() -> None:
    """What the limit is for: a service issuing new markers over pages that repeat what was
    read is refused (before replay), however many operations those pages hold."""
    from durable_gen._paging import load_operations

    op = Operation(id="exec", type="EXECUTION", status="STARTED")
    pages: list[str] = []

    def fetch(marker: str) -> ExecutionState:
        pages.append(marker)
        return ExecutionState(operations=[op], next_marker=f"{int(marker) + 1}")

    with pytest.raises(dg.InvalidInputError, match="10 of them bringing no new operation"):
        load_operations(ExecutionState(operations=[op], next_marker="1"), fetch, max_pages=10)
    assert len(pages) == 9


# -- inputs of every JSON kind ----------------------------------------------------------------


@dg.step
def kind_of(value: Any) -> str:
    return type(value).__name__


@dg.workflow
def echo_kind(value: Any):  # type: ignore[no-untyped-def]
    kind = yield kind_of(value)
    return {"value": value, "kind": kind}


INPUTS = ["3", "-0", "null", "[1, [2]]", '"text"', "false", "1.5e3", "{}", "[]", '""', " 7 "]


@pytest.mark.parametrize("payload", INPUTS)
def test_an_input_of_any_json_kind_reaches_the_workflow_as_dg_run_passes_it(payload: str) -> None:
    fake = Paged(_arn(uuid.uuid4().hex), payload, page=1)
    output = _drive(lambda_handler(echo_kind, service=LambdaService(fake)), fake)
    assert output["Status"] == "SUCCEEDED", output
    assert json.loads(output["Result"]) == dg.run(echo_kind, json.loads(payload))


# -- Lambda's time running out in the middle of a Map -----------------------------------------


class Remaining:
    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


@dg.step
def slow_item(item: dict[str, Any], index: int) -> int:
    _count(f"{item['key']}:{index}")
    time.sleep(0.25)
    return index * 10


@dg.workflow
def slow_map(e: dict[str, Any]):  # type: ignore[no-untyped-def]
    items = [{"key": e["key"]} for _ in range(e["n"])]
    batch = yield dg.Map(slow_item, items, name="slow items", max_concurrency=2)
    return batch.all_results()


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_a_map_cut_by_the_invocations_time_goes_on_and_ends_as_the_engine(mode: str) -> None:
    """1.3 s left (0.8 s after the handler's margin), two items at a time of 0.25 s each: the
    items cut off fail their attempt with StepTimeoutError and are retried by the next
    invocation; the finished ones are not run again."""
    key = uuid.uuid4().hex
    fake = Paged(_arn(key), json.dumps({"key": key, "n": 8}), page=2)
    handler = lambda_handler(slow_map, service=LambdaService(fake), checkpointing=mode)
    output = _drive(handler, fake, Remaining(1300))
    expected = dg.run(slow_map, {"key": uuid.uuid4().hex, "n": 8})
    assert output == {"Status": "SUCCEEDED", "Result": json.dumps(expected).replace(" ", "")}
    steps = [op for op in fake.store.values() if op.type == "STEP"]
    assert all(op.status == "SUCCEEDED" for op in steps)
    retried = [op for op in steps if op.step_details and (op.step_details.attempt or 0) > 1]
    assert retried, "some item should have been cut off by the invocation's time"
    # an item ran once per attempt at most: the one its invocation's end cut off, and the next
    for op in steps:
        assert op.step_details is not None and op.parent_id is not None
        item = fake.store[op.parent_id].name or ""
        assert RAN[f"{key}:{int(item.removeprefix('map-item-'))}"] <= (op.step_details.attempt or 1)
    assert replay(slow_map, list(fake.store.values()), execution_arn=fake.arn).ok


# -- one warm handler, several executions in turn ---------------------------------------------


@dg.step
def text_of(n: int) -> str:
    return "x" * n


def halves(n: int):  # type: ignore[no-untyped-def]
    first = yield text_of(n // 2)
    second = yield text_of(n - n // 2)
    return first + second


@dg.workflow
def child_text(e: dict[str, Any]):  # type: ignore[no-untyped-def]
    text = yield dg.Child(halves, (e["n"],), name="halves")
    yield dg.Wait(seconds=1, name="between")
    again = yield dg.Child(halves, (e["n"],), name="halves again")
    return {"length": len(text), "same": text == again, "tenant": e["tenant"]}


class Clients:
    """One boto3-like client in front of several executions' stand-ins, by ARN."""

    def __init__(self) -> None:
        self.fakes: dict[str, r10.FakeLambda] = {}

    def checkpoint_durable_execution(self, **params: Any) -> dict[str, Any]:
        return self.fakes[params["DurableExecutionArn"]].checkpoint_durable_execution(**params)

    def get_durable_execution_state(self, **params: Any) -> dict[str, Any]:
        return self.fakes[params["DurableExecutionArn"]].get_durable_execution_state(**params)


LIMIT = 256 * 1024
# the child's result is JSON: a string of n characters takes n + 2 bytes
SIZES = [LIMIT - 3, LIMIT - 2, LIMIT - 1, LIMIT, 1000]


def test_one_handler_serves_executions_in_turn_around_the_child_result_limit() -> None:
    """The invocations of five executions interleaved on one handler (one warm sandbox), each
    with child results just under, at and over 256 KiB: each ends with its own result, as on
    the engine, and keeps the result in its CONTEXT below the limit, children above it."""
    clients = Clients()
    handler = lambda_handler(child_text, service=LambdaService(clients))
    fakes = []
    for i, n in enumerate(SIZES):
        arn = _arn(f"tenant-{i}").replace(":7/", f":{i + 1}/")
        fake = Paged(arn, json.dumps({"n": n, "tenant": f"t{i}"}), page=2)
        clients.fakes[arn] = fake
        fakes.append(fake)
    outputs: dict[int, dict[str, Any]] = {}
    for _ in range(6):
        for i, fake in enumerate(fakes):
            if i in outputs:
                continue
            output = handler(fake.event(), r10.Context())
            if output["Status"] == "PENDING":
                fake.move_on()
            else:
                outputs[i] = output
    assert sorted(outputs) == list(range(len(SIZES)))
    for i, (n, fake) in enumerate(zip(SIZES, fakes, strict=True)):
        expected = dg.run(child_text, {"n": n, "tenant": f"t{i}"})
        assert json.loads(outputs[i]["Result"]) == expected
        contexts = [op for op in fake.store.values() if op.type == "CONTEXT"]
        assert len(contexts) == 2
        for op in contexts:
            assert op.context_details is not None
            if n + 2 <= LIMIT:
                assert len(op.context_details.result or "") == n + 2
                assert not op.context_details.replay_children
            else:
                assert op.context_details.replay_children
        assert replay(child_text, list(fake.store.values()), execution_arn=fake.arn).ok


# -- checkpoints refused or failing -----------------------------------------------------------


def _client_error(code: str, message: str, status: int | None) -> ClientError:
    meta = {"HTTPStatusCode": status} if status is not None else {}
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": meta},
        "CheckpointDurableExecution",
    )


class FailsFirst(Paged):
    """The first `times` checkpoints fail with `error` before anything is recorded."""

    def __init__(self, *args: Any, error: ClientError, times: int, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.error = error
        self.times = times

    def checkpoint_durable_execution(self, **params: Any) -> dict[str, Any]:
        if self.times:
            self.times -= 1
            raise self.error
        return super().checkpoint_durable_execution(**params)


@dg.workflow
def two_steps(e: dict[str, Any]):  # type: ignore[no-untyped-def]
    a = yield numbered(e["key"], 1)
    b = yield numbered(e["key"], 2)
    return a + b


TRANSIENT = [
    ("TooManyRequestsException", "Rate exceeded", 429),
    ("ThrottlingException", "slow down", 400),
    ("ServiceException", "internal", 500),
    ("503", "", 503),  # the emulator's way: the HTTP status as the code
    ("RequestTimeoutException", "the request timed out", 408),
    ("RequestTimeout", "", 408),
    ("408", "", 408),
    ("PriorRequestNotComplete", "still working on the last one", 400),
]


@pytest.mark.parametrize(("code", "message", "status"), TRANSIENT)
def test_a_transient_checkpoint_failure_is_retried_within_the_invocation(
    code: str, message: str, status: int
) -> None:
    key = uuid.uuid4().hex
    error = _client_error(code, message, status)
    fake = FailsFirst(_arn(key), json.dumps({"key": key}), error=error, times=4)
    output = _drive(
        lambda_handler(two_steps, service=LambdaService(fake, sleep=lambda _: None)), fake
    )
    assert output == {"Status": "SUCCEEDED", "Result": "3"}
    assert RAN[f"{key}:1"] == RAN[f"{key}:2"] == 1


@pytest.mark.parametrize(("code", "message", "status"), TRANSIENT)
def test_a_checkpoint_failing_through_every_retry_raises_and_the_next_invocation_resumes(
    code: str, message: str, status: int
) -> None:
    """Raised (the service invokes again); the step whose outcome was lost runs again, which
    the docs say of a checkpoint that never went through."""
    key = uuid.uuid4().hex
    error = _client_error(code, message, status)
    fake = FailsFirst(_arn(key), json.dumps({"key": key}), error=error, times=5)
    handler = lambda_handler(two_steps, service=LambdaService(fake, sleep=lambda _: None))
    with pytest.raises(ServiceUnavailableError, match="gave up after 5 attempts"):
        handler(fake.event(), r10.Context())
    assert [op.type for op in fake.store.values()] == ["EXECUTION"]
    output = _drive(handler, fake)
    assert output == {"Status": "SUCCEEDED", "Result": "3"}
    assert RAN[f"{key}:1"] == 2 and RAN[f"{key}:2"] == 1


@pytest.mark.parametrize(
    ("code", "message", "status", "error_type"),
    [
        (
            "InvalidParameterValueException",
            "Update payload too large",
            400,
            "InvalidCheckpointError",
        ),
        ("ResourceNotFoundException", "no such execution", 404, "ExecutionNotFoundError"),
        ("KMSDisabledException", "key disabled", 502, "ServiceError"),
    ],
)
def test_a_refused_checkpoint_fails_the_execution_with_a_typed_error(
    code: str, message: str, status: int, error_type: str
) -> None:
    key = uuid.uuid4().hex
    fake = FailsFirst(
        _arn(key), json.dumps({"key": key}), error=_client_error(code, message, status), times=1
    )
    output = lambda_handler(two_steps, service=LambdaService(fake, sleep=lambda _: None))(
        fake.event(), r10.Context()
    )
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == error_type
    assert message in output["Error"]["ErrorMessage"]


# -- the emulator ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emu(lambda_endpoint_server: LambdaEndpoint) -> Iterator[Emulator]:
    pytest.importorskip("aws_durable_execution_sdk_python_testing")
    with Emulator(lambda_endpoint_server.url, skip_time=True) as emulator:
        yield emulator
        emulator.stop_unfinished()


@pytest.mark.parametrize("payload", ["3", "null", '[1, "a", null]', '"text"', "true"])
def test_inputs_of_any_json_kind_on_the_emulator(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, payload: str
) -> None:
    handler = lambda_handler(echo_kind, client=emu.client)
    lambda_endpoint.register(function_name, handler)
    outcome = emu.wait(emu.start(function_name, raw_input=payload), timeout=30)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == dg.run(echo_kind, json.loads(payload))


def test_a_batch_of_many_steps_goes_out_in_several_calls_on_the_emulator(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    """301 steps in batch mode: one checkpoint of more than 250 updates, sent as several calls
    each with the token the one before returned, and read back whole after the wait."""
    key = uuid.uuid4().hex
    calls: list[int] = []

    class Counting:  # boto3's client, counting the updates of each checkpoint call
        def checkpoint_durable_execution(self, **params: Any) -> Any:
            calls.append(len(params["Updates"]))
            return emu.client.checkpoint_durable_execution(**params)

        def get_durable_execution_state(self, **params: Any) -> Any:
            return emu.client.get_durable_execution_state(**params)

    service = LambdaService(Counting(), page_size=3)
    handler = lambda_handler(many_steps, service=service, checkpointing="batch")
    lambda_endpoint.register(function_name, handler)
    outcome = emu.wait(emu.start(function_name, {"key": key, "n": 301}), timeout=60)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == sum(range(301))
    assert all(RAN[f"{key}:{i}"] == 1 for i in range(301))
    assert max(calls) == 250 and sum(calls) > 301, calls


def test_the_embedded_engine_in_pages_of_one_reads_more_operations_than_the_page_limit() -> None:
    """The same on `LocalService(page_size=1)`: the engine's own invocations (`make_handler`)
    read 10,003 operations, one a page, and the execution ends as `dg.run` ends it."""
    from durable_gen.local import LocalService, VirtualClock

    key, n = uuid.uuid4().hex, 10_001
    engine = LocalService(clock=VirtualClock(), page_size=1)
    engine.register("many", dg.make_handler(many_steps, engine, checkpointing="batch"))
    arn = engine.start("many", json.dumps({"key": key, "n": n}))
    engine.run(arn)
    record = engine.get_execution(arn)
    assert (record.status, record.result) == ("SUCCEEDED", json.dumps(sum(range(n))))
    assert all(RAN[f"{key}:{i}"] == 1 for i in range(n))


# -- the time that reading the state takes ----------------------------------------------------


class LambdaClock:
    """Lambda's context over a clock that only the service moves: each page of state read
    costs `per_page` milliseconds of the invocation's time."""

    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


class SlowPages(Paged):
    def __init__(self, *args: Any, clock: LambdaClock, per_page: int, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.clock = clock
        self.per_page = per_page

    def get_durable_execution_state(self, **params: Any) -> dict[str, Any]:
        self.clock.millis -= self.per_page
        return super().get_durable_execution_state(**params)


@dg.workflow
def then_late(e: dict[str, Any]):  # type: ignore[no-untyped-def]
    first = yield numbered(e["key"], 1)
    yield dg.Wait(seconds=1, name="pause")
    late = yield dg.Step(numbered.fn, args=(e["key"], 2), name="late", retry=dg.Retry())
    return first + late


def test_the_time_spent_reading_the_states_pages_is_not_counted_as_left() -> None:
    """The invocation after the wait starts with 2 s left, and reading its state, two pages of
    800 ms each, leaves 0.4 s when the workflow runs, less than the handler's 0.5 s margin:
    the step then due is not started (it fails its attempt with StepTimeoutError, and its
    retry runs it in the next invocation), as it is when the invocation starts with 0.4 s."""
    key = uuid.uuid4().hex
    clock = LambdaClock(120_000)
    fake = SlowPages(_arn(key), json.dumps({"key": key}), page=1, clock=clock, per_page=800)
    handler = lambda_handler(then_late, service=LambdaService(fake))
    assert handler(fake.event(), clock) == {"Status": "PENDING"}  # the first step, the wait
    fake.move_on()
    clock.millis = 2_000
    assert handler(fake.event(), clock) == {"Status": "PENDING"}
    assert clock.millis == 400  # two pages read: the event held the first of three
    late = next(op for op in fake.store.values() if op.name == "late")
    assert late.step_details is not None and late.step_details.error is not None
    assert late.step_details.error.error_type == "StepTimeoutError"
    assert "not started" in (late.step_details.error.error_message or "")
    assert f"{key}:2" not in RAN
    fake.move_on()
    clock.millis = 120_000
    assert _drive(handler, fake, clock) == {"Status": "SUCCEEDED", "Result": "3"}
    assert RAN[f"{key}:1"] == RAN[f"{key}:2"] == 1


# -- how many bytes one checkpoint call carries -----------------------------------------------


class Recording:
    """boto3's client, keeping each checkpoint call's body as botocore writes it."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.counts: list[int] = []
        self.n = 0

    def checkpoint_durable_execution(self, **params: Any) -> dict[str, Any]:
        self.bodies.append(json.dumps(params["Updates"], separators=(",", ":")))
        self.counts.append(len(params["Updates"]))
        self.n += 1
        return {"CheckpointToken": f"t{self.n}", "NewExecutionState": {"Operations": []}}

    def get_durable_execution_state(self, **params: Any) -> dict[str, Any]:
        raise AssertionError("no page to read")


@pytest.mark.parametrize("letter", ["é", "語", "😀", "e"])
def test_a_call_carries_at_most_750_kib_as_botocore_sends_it(letter: str) -> None:
    """Six step outcomes of 80,000 characters each: as botocore writes the request, non-ASCII
    escaped, each one call holds at most 750 KiB, unless it holds a single update."""
    from durable_gen.runtime import OperationUpdate

    updates = [
        OperationUpdate(
            id=f"op-{i}",
            type="STEP",
            action="SUCCEED",
            payload=json.dumps(letter * 80_000, ensure_ascii=False),
        )
        for i in range(6)
    ]
    client = Recording()
    LambdaService(client).checkpoint(_arn("calls"), "t0", updates)
    assert sum(client.counts) == 6
    for body, count in zip(client.bodies, client.counts, strict=True):
        assert count == 1 or len(body) <= 750 * 1024, (len(body), count)


# -- a condition and a Parallel cut by the invocation's time ----------------------------------


def _slow_check(state: int) -> int:
    time.sleep(0.3)
    return state + 1


def _slow_branch(letter: str) -> str:
    time.sleep(0.4)
    return letter


def _cond_strategy(state: int, attempt: int) -> dg.WaitDecision:
    return dg.WaitDecision.done() if state >= 3 else dg.WaitDecision.again(1)


@dg.workflow
def condition_then_parallel(_: Any):  # type: ignore[no-untyped-def]
    n = yield dg.WaitForCondition(_slow_check, 0, wait_strategy=_cond_strategy, name="cond")
    branches = [functools.partial(_slow_branch, letter) for letter in "abab"]
    batch = yield dg.Parallel(branches, name="par", max_concurrency=1)
    return [n, batch.all_results()]


def test_a_condition_and_a_parallel_cut_by_the_invocations_time_end_as_the_engine() -> None:
    """0.7 s for steps in each invocation, branches of 0.4 s run one at a time: a branch cut
    off is retried in a later invocation, and the result is the engine's."""
    fake = Paged(_arn(uuid.uuid4().hex), "null", page=3)
    handler = lambda_handler(condition_then_parallel, service=LambdaService(fake))
    output = _drive(handler, fake, Remaining(1200))
    assert output["Status"] == "SUCCEEDED", output
    assert json.loads(output["Result"]) == dg.run(condition_then_parallel, None)
    assert replay(condition_then_parallel, list(fake.store.values()), execution_arn=fake.arn).ok
