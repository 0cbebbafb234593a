"""Round 8 corpus for the Lambda path: the handler driven through AWS's emulator with shapes the
earlier files leave out (results near the response limit, large step results in batch mode,
tenant ids, Invoke chains, callbacks answered with edge-case bodies, the "aws" payload format
end to end), and with hand-built events and botocore-stubbed services (paging, refused and
throttled calls, stale tokens)."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

import durable_gen as dg

try:
    from .emulator import Emulator, LambdaEndpoint
    from .lambda_support import by_type, deploy, run_workflow, settle_pending
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]
    from lambda_support import (  # type: ignore[no-redef]
        by_type,
        deploy,
        run_workflow,
        settle_pending,
    )

CHILD = "r8-child"  # a durable function invoked by a chain
GRANDCHILD = "r8-grandchild"
PLAIN = "r8-plain"


@pytest.fixture(scope="module")
def emu(lambda_endpoint_server: LambdaEndpoint) -> Iterator[Emulator]:
    pytest.importorskip("aws_durable_execution_sdk_python_testing")
    durable = {"DurableConfig": {"ExecutionTimeout": 60}}
    with Emulator(
        lambda_endpoint_server.url,
        skip_time=True,
        retry_backoff_seconds=0.1,
        function_configs={CHILD: durable, GRANDCHILD: durable, PLAIN: {}},
    ) as emulator:
        yield emulator
        emulator.stop_unfinished()


# -- results near the response limit -------------------------------------------------------


@pytest.mark.parametrize(
    "char, size",
    [("x", 5_000_000), ("x", 6_250_000), ('"', 1_600_000), ("\u00e9", 1_600_000)],
    ids=["plain-5MB", "plain-just-under-6MiB", "quotes", "accents"],
)
def test_a_large_execution_result_reaches_the_caller_whole(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, char: str, size: int
) -> None:
    # Under 6 MiB of JSON, yet the response carrying it may not fit: it is then checkpointed
    # on the EXECUTION operation, and the caller reads the same result either way.
    @dg.workflow
    def big(spec: list[Any]):
        part = yield dg.Step(lambda: spec[0] * (spec[1] // 8), name="part")
        return part * 8

    _, outcome = run_workflow(emu, lambda_endpoint, function_name, big, [char, size], timeout=60)
    assert outcome.status == "SUCCEEDED", outcome
    assert json.loads(outcome.result) == char * size


@pytest.mark.parametrize("checkpointing", ["batch", "step", "eager"])
def test_a_step_result_over_750_kib_among_small_ones(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, checkpointing: str
) -> None:
    @dg.workflow
    def mixed(_: Any):
        a = yield dg.Step(lambda: "a", name="a")
        big = yield dg.Step(lambda: "b" * 900_000, name="big")
        c = yield dg.Step(lambda: "c", name="c")
        yield dg.Wait(seconds=1, name="pause")
        again = yield dg.Step(lambda: len(big), name="len")
        return [a, len(big), c, again]

    arn, outcome = run_workflow(
        emu, lambda_endpoint, function_name, mixed, checkpointing=checkpointing, timeout=30
    )
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == ["a", 900_000, "c", 900_000]
    steps = by_type(emu.history(arn), "StepSucceeded")
    assert [e["Name"] for e in steps] == ["a", "big", "c", "len"]


# -- tenant ids and Invoke chains ----------------------------------------------------------


def test_a_chain_of_invokes_with_tenant_ids(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    seen: list[Any] = []

    @dg.workflow
    def grandchild(payload: dict[str, Any]):
        doubled = yield dg.Step(lambda: payload["n"] * 2, name="double")
        return {"grand": doubled}

    @dg.workflow
    def child(payload: dict[str, Any]):
        got = yield dg.Invoke(GRANDCHILD, {"n": payload["n"] + 1}, name="to-grandchild")
        echoed = yield dg.Invoke(PLAIN, {"hello": payload["n"]}, name="to-plain", tenant_id="t-2")
        return {"child": got, "echo": echoed}

    def plain(event: dict[str, Any], context: Any) -> Any:
        seen.append(event)
        seen.append(getattr(context, "tenant_id", None))
        return {"echoed": event}

    deploy(emu, lambda_endpoint, GRANDCHILD, grandchild)
    deploy(emu, lambda_endpoint, CHILD, child)
    lambda_endpoint.register(PLAIN, plain)

    @dg.workflow
    def parent(n: int):
        got = yield dg.Invoke(CHILD, {"n": n}, name="to-child", tenant_id="tenant-1")
        return got

    _, outcome = run_workflow(emu, lambda_endpoint, function_name, parent, 4, timeout=30)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == {"child": {"grand": 10}, "echo": {"echoed": {"hello": 4}}}
    assert seen == [{"hello": 4}, "t-2"]


def test_an_execution_started_for_a_tenant_runs_as_any_other(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    @dg.workflow
    def hello(name: str):
        greeting = yield dg.Step(lambda: f"hi {name}", name="greet")
        yield dg.Wait(seconds=1, name="nap")
        return greeting

    deploy(emu, lambda_endpoint, function_name, hello)
    arn = emu.start(function_name, "ann", tenant_id="tenant-42")
    outcome = emu.wait(arn, timeout=15)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == "hi ann"


def test_an_invoked_durable_function_that_fails_fails_the_invoke_with_its_error(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    class Declined(Exception):
        pass

    @dg.workflow
    def child(payload: Any):
        yield dg.Step(lambda: None, name="noop")
        raise Declined("card d\u00e9clin\u00e9e " + "z" * 40_000)

    deploy(emu, lambda_endpoint, CHILD, child)

    @dg.workflow
    def parent(_: Any):
        try:
            yield dg.Invoke(CHILD, {}, name="to-child")
        except dg.InvokeFailedError as exc:
            return {"type": exc.error_type, "message": exc.error_message[:13]}
        return "no error"

    _, outcome = run_workflow(emu, lambda_endpoint, function_name, parent, timeout=30)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == {"type": "Declined", "message": "card d\u00e9clin\u00e9e"}


# -- callbacks answered through the emulator's API -----------------------------------------


def _callback_workflow(**options: Any) -> Any:
    @dg.workflow
    def waits(_: Any):
        handle = yield dg.CreateCallback(name="answer", timeout=60)
        try:
            value = yield handle
        except dg.CallbackError as exc:
            return {
                "failed": type(exc).__name__,
                "type": exc.error_type,
                "message": exc.error_message,
                "data": exc.error_data,
            }
        return {"value": value}

    return waits


@pytest.mark.parametrize(
    "body, expected",
    [
        (None, None),
        (b"", None),
        (b"null", None),
        (b'"text"', "text"),
        (b'{"t": "m", "v": {"a": {"t": "i", "v": 1}}}', {"a": 1}),
        ("caf\u00e9".encode() and json.dumps("caf\u00e9").encode(), "caf\u00e9"),
        (b"  [1, 2]\n", [1, 2]),
    ],
    ids=["absent", "empty", "null", "string", "envelope", "non-ascii", "whitespace"],
)
def test_callback_success_bodies(
    emu: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    body: bytes | None,
    expected: Any,
) -> None:
    deploy(emu, lambda_endpoint, function_name, _callback_workflow())
    arn = emu.start(function_name, {})
    callback_id = emu.callback_id(arn, "answer", timeout=10)
    emu.send_callback_success(callback_id, body)
    outcome = emu.wait(arn, timeout=15)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == {"value": expected}


@pytest.mark.parametrize(
    "error, expected",
    [
        ({}, {"failed": "CallbackFailedError", "type": None, "message": None, "data": None}),
        (
            {"error_data": '{"limit": 5}'},
            {
                "failed": "CallbackFailedError",
                "type": None,
                "message": None,
                "data": '{"limit": 5}',
            },
        ),
        (
            {"error_type": "Rejected", "error_message": "n\u00f6"},
            {
                "failed": "CallbackFailedError",
                "type": "Rejected",
                "message": "n\u00f6",
                "data": None,
            },
        ),
    ],
    ids=["no-error", "data-only", "type-and-message"],
)
def test_callback_failure_shapes(
    emu: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    error: dict[str, str],
    expected: dict[str, Any],
) -> None:
    deploy(emu, lambda_endpoint, function_name, _callback_workflow())
    arn = emu.start(function_name, {})
    callback_id = emu.callback_id(arn, "answer", timeout=10)
    emu.send_callback_failure(callback_id, **error)
    outcome = emu.wait(arn, timeout=15)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == expected


# -- the "aws" payload format end to end ---------------------------------------------------


def test_aws_format_values_and_failures_through_the_emulator(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    import decimal
    import uuid

    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")

    class Declined(Exception):
        pass

    def fails() -> None:
        raise Declined("no")

    @dg.workflow
    def typed(_: Any):
        stamp = yield dg.Step(lambda: when, name="when")
        money = yield dg.Step(lambda: decimal.Decimal("1.10"), name="money")
        pair = yield dg.Step(lambda: (1, "a"), name="pair")
        ident_back = yield dg.Step(lambda: ident, name="uuid")
        yield dg.Wait(seconds=1, name="replay")
        try:
            yield dg.Step(fails, name="fails", retry=dg.Retry(max_attempts=1))
        except dg.StepFailedError as exc:
            failure = exc.error_type
        batch = yield dg.Map(lambda item, index: item * 2, [1, 2, 3], name="doubles")
        return {
            "types": [type(v).__name__ for v in (stamp, money, pair, ident_back)],
            "equal": [
                stamp == when,
                money == decimal.Decimal("1.10"),
                pair == (1, "a"),
                ident_back == ident,
            ],
            "failure": failure.rsplit(".", 1)[-1],
            "batch": batch.results(),
        }

    arn, outcome = run_workflow(
        emu, lambda_endpoint, function_name, typed, payload_format="aws", timeout=30
    )
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == {
        "types": ["datetime", "Decimal", "tuple", "UUID"],
        "equal": [True, True, True, True],
        "failure": "Declined",
        "batch": [2, 4, 6],
    }
    steps = {e.get("Name"): e for e in by_type(emu.history(arn), "StepSucceeded")}
    payload = steps["when"]["StepSucceededDetails"]["Result"]["Payload"]
    assert json.loads(payload)["t"] == "dt"


# -- hand-built events, a botocore client answered by Stubber ------------------------------

ARN = "arn:aws:lambda:us-west-2:123456789012:function:orders:$LATEST/durable-execution/e1/i1"


def _client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "lambda",
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


def _event(marker: str = "", input: Any = None, *more: dict[str, Any]) -> dict[str, Any]:
    execution = {
        "Id": "i1",
        "Type": "EXECUTION",
        "Status": "STARTED",
        "StartTimestamp": 1767323045678,
        "ExecutionDetails": {"InputPayload": json.dumps(input if input is not None else {"n": 2})},
    }
    return {
        "DurableExecutionArn": ARN,
        "CheckpointToken": "tok1",
        "InitialExecutionState": {"Operations": [execution, *more], "NextMarker": marker},
    }


@dg.workflow
def _double(payload: dict[str, int]):
    value = yield dg.Step(lambda: payload["n"] * 2, name="double")
    return value


def _handler(client: Any, workflow: Any = _double, **options: Any) -> Any:
    from durable_gen.aws import LambdaService, lambda_handler

    return lambda_handler(workflow, service=LambdaService(client, sleep=lambda _: None), **options)


@pytest.mark.parametrize(
    "method, code, marker",
    [
        ("checkpoint_durable_execution", "AccessDeniedException", ""),
        ("get_durable_execution_state", "AccessDeniedException", "m1"),
        ("checkpoint_durable_execution", "403", ""),  # the code a service reporting statuses gives
    ],
    ids=["checkpoint", "read-state", "bare-403"],
)
def test_a_role_that_may_not_checkpoint_is_raised_naming_the_permission(
    method: str, code: str, marker: str
) -> None:
    # A missing permission is the function's configuration, not a bad update: the handler
    # raises (the service invokes again, and a fixed role lets the execution go on) instead
    # of failing the execution for good, and the message names what to grant.
    from botocore.stub import Stubber

    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error(
            method,
            service_error_code=code,
            service_message="User is not authorized to perform this action",
            http_status_code=403,
        )
        with pytest.raises(dg.ValidationError) as caught:
            _handler(client)(_event(marker), None)
        stub.assert_no_pending_responses()
    message = str(caught.value)
    assert "lambda:CheckpointDurableExecution" in message
    assert "AWSLambdaBasicDurableExecutionRolePolicy" in message


def test_a_validation_error_of_the_workflow_still_fails_the_execution() -> None:
    # Only errors from the service's side are raised for a retry: a workflow whose own code
    # raises a ValidationError (a Wait out of range) fails as any workflow exception does.
    from botocore.stub import ANY, Stubber

    @dg.workflow
    def bad_wait(_: Any):
        yield dg.Wait(seconds=0)

    client = _client()
    with Stubber(client) as stub:
        stub.add_response(
            "checkpoint_durable_execution",
            {"CheckpointToken": "tok2", "NewExecutionState": {"Operations": []}},
            {
                "DurableExecutionArn": ARN,
                "CheckpointToken": "tok1",
                "Updates": ANY,
                "ClientToken": ANY,
            },
        )
        output = _handler(client, bad_wait)(_event(), None)
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == "ValidationError"


# -- callbacks answered while the invocation that made them still runs --------------------


def test_a_callback_answered_by_its_own_submitter(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    # The submitter hands the id to a service that answers at once, before the invocation
    # that created the callback has returned.
    def submit(callback_id: str) -> None:
        emu.send_callback_success(callback_id, json.dumps({"ok": callback_id[:4]}))

    @dg.workflow
    def quick(_: Any):
        answer = yield dg.WaitForCallback(submit, name="instant", timeout=60)
        after = yield dg.Step(lambda: "after", name="after")
        return [answer, after]

    _, outcome = run_workflow(emu, lambda_endpoint, function_name, quick, timeout=20)
    assert outcome.status == "SUCCEEDED", outcome
    answer, after = outcome.json()
    assert after == "after" and set(answer) == {"ok"}


def test_callbacks_in_parallel_answered_in_reverse_order(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    def branch(i: int) -> Any:
        def run(_ctx: Any = None) -> Any:
            handle = yield dg.CreateCallback(name=f"cb-{i}", timeout=60)
            value = yield handle
            return value

        return run

    @dg.workflow
    def fan(_: Any):
        batch = yield dg.Parallel([dg.Branch(branch(i), name=f"b{i}") for i in range(3)])
        return batch.results()

    deploy(emu, lambda_endpoint, function_name, fan)
    arn = emu.start(function_name, {})
    ids = {}
    for i in range(3):
        ids[i] = emu.callback_id(arn, f"cb-{i}", timeout=10)
    for i in reversed(range(3)):
        emu.send_callback_success(ids[i], json.dumps(i * 10))
    outcome = emu.wait(arn, timeout=20)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == [0, 10, 20]


def test_a_callback_result_near_the_limit_inside_wait_for_callback(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    # 900 KB: over the 256 KiB a context records (the WaitForCallback context is rebuilt from
    # its children on replay) and under the 1 MiB one operation records.
    @dg.workflow
    def big_answer(_: Any):
        value = yield dg.WaitForCallback(lambda callback_id: None, name="big", timeout=60)
        yield dg.Wait(seconds=1, name="replay-it")
        return len(value)

    deploy(emu, lambda_endpoint, function_name, big_answer)
    arn = emu.start(function_name, {})
    callback_id = emu.callback_id(arn, "big create callback id", timeout=10)
    emu.send_callback_success(callback_id, json.dumps("v" * 900_000))
    outcome = emu.wait(arn, timeout=20)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == 900_000


def test_stopping_an_execution_that_waits_for_a_callback(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    deploy(emu, lambda_endpoint, function_name, _callback_workflow())
    arn = emu.start(function_name, {})
    emu.callback_id(arn, "answer", timeout=10)
    calls = len(lambda_endpoint.invocations_for(arn))
    emu.stop(arn, {"ErrorType": "Cancelled", "ErrorMessage": "by the operator"})
    outcome = emu.wait(arn, timeout=10)
    assert outcome.status == "STOPPED", outcome
    assert len(lambda_endpoint.invocations_for(arn)) == calls


# -- large payloads across Invoke, both formats --------------------------------------------


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_large_invoke_payloads_and_results(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, payload_format: str
) -> None:
    @dg.workflow
    def child(payload: dict[str, Any]):
        size = yield dg.Step(lambda: len(payload["blob"]), name="measure")
        return {"size": size, "back": "r" * 700_000}

    deploy(emu, lambda_endpoint, CHILD, child, payload_format=payload_format)

    @dg.workflow
    def parent(_: Any):
        got = yield dg.Invoke(CHILD, {"blob": "p" * 800_000}, name="big-call")
        yield dg.Wait(seconds=1, name="replay-it")
        return [got["size"], len(got["back"])]

    arn, outcome = run_workflow(
        emu, lambda_endpoint, function_name, parent, payload_format=payload_format, timeout=30
    )
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == [800_000, 700_000]
    # the payload and the result cross as plain JSON in both formats, as AWS's SDK sends them
    (started,) = by_type(emu.history(arn), "ChainedInvokeStarted")
    assert json.loads(started["ChainedInvokeStartedDetails"]["Input"]["Payload"]) == {
        "blob": "p" * 800_000
    }
    (done,) = by_type(emu.history(arn), "ChainedInvokeSucceeded")
    assert set(json.loads(done["ChainedInvokeSucceededDetails"]["Result"]["Payload"])) == {
        "size",
        "back",
    }


def test_an_aws_format_result_just_under_6_mib_is_checkpointed_and_read_whole(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    @dg.workflow
    def big(_: Any):
        parts = []
        for i in range(8):
            part = yield dg.Step(lambda i=i: {"k": str(i) * 780_000}, name=f"p{i}")
            parts.append(part["k"])
        return {"parts": parts}

    _, outcome = run_workflow(
        emu, lambda_endpoint, function_name, big, payload_format="aws", timeout=60
    )
    assert outcome.status == "SUCCEEDED", outcome
    assert [len(p) for p in outcome.json()["parts"]] == [780_000] * 8


# -- an execution whose function changes payload format between invocations ----------------


@pytest.mark.parametrize("first, second", [("json", "aws"), ("aws", "json")])
def test_a_format_switch_mid_execution_reads_each_operation_as_written(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, first: str, second: str
) -> None:
    import datetime

    when = datetime.datetime(2026, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)

    @dg.step
    def stamp() -> datetime.datetime:
        return when

    @dg.workflow
    def switching(_: Any):
        before = yield stamp()
        batch_before = yield dg.Map(lambda item, index: {"i": item}, [1, 2], name="m1")
        yield dg.Wait(seconds=1, name="redeploy")
        after = yield stamp()
        batch_after = yield dg.Map(lambda item, index: {"i": item}, [3], name="m2")
        return {
            "same": before == after == when,
            "batches": [batch_before.results(), batch_after.results()],
            "counts": [batch_before.total_count, batch_after.total_count],
        }

    deploy(emu, lambda_endpoint, function_name, switching, payload_format=first)
    original = lambda_endpoint._resolve(function_name, None)
    assert original is not None
    formats: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> Any:
        # the first invocation runs on the first deploy; every later one on the second
        if not formats:
            formats.append(first)
            return original(event, context)
        formats.append(second)
        return redeployed(event, context)

    from durable_gen.aws import lambda_handler

    redeployed = lambda_handler(switching, client=emu.client, payload_format=second)
    lambda_endpoint.register(function_name, settle_pending(handler))
    arn = emu.start(function_name, {})
    outcome = emu.wait(arn, timeout=20)
    assert outcome.status == "SUCCEEDED", outcome
    assert formats[:2] == [first, second]
    assert outcome.json() == {
        "same": True,
        "batches": [[{"i": 1}, {"i": 2}], [{"i": 3}]],
        "counts": [2, 1],
    }


# -- state larger than one invocation event ------------------------------------------------


@pytest.mark.parametrize("page_size", [None, 1])
def test_state_over_the_event_limit_is_read_through_its_pages(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, page_size: int | None
) -> None:
    # Eight results of 900 KB: the invocation after the wait carries about 5 MiB of them and
    # the handler reads the rest with GetDurableExecutionState (one operation a page with
    # page_size=1).
    from durable_gen.aws import LambdaService

    @dg.workflow
    def heavy(_: Any):
        sizes = []
        for i in range(8):
            blob = yield dg.Step(lambda i=i: chr(ord("a") + i) * 900_000, name=f"blob-{i}")
            sizes.append((blob[0], len(blob)))
        yield dg.Wait(seconds=1, name="replay-all")
        last = yield dg.Step(lambda: "done", name="last")
        return [sizes, last]

    service = LambdaService(emu.client, page_size=page_size)
    reads: list[str] = []
    original = service.get_state

    def get_state(arn: str, token: str, marker: str) -> Any:
        reads.append(marker)
        return original(arn, token, marker)

    service.get_state = get_state  # type: ignore[method-assign]
    _, outcome = run_workflow(
        emu, lambda_endpoint, function_name, heavy, service=service, timeout=60
    )
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == [[[chr(ord("a") + i), 900_000] for i in range(8)], "done"]
    assert reads, "the state after the wait did not fit one event, yet no page was read"


# -- client= that cannot checkpoint --------------------------------------------------------


def _other_clients() -> list[Any]:
    import boto3

    session = boto3.session.Session(
        region_name="us-west-2", aws_access_key_id="t", aws_secret_access_key="t"
    )
    return [
        ("a-name", "lambda", "boto3.client('lambda')"),
        ("s3", session.client("s3"), "got a client of 's3'"),
        ("resource", session.resource("dynamodb"), "boto3.client('lambda')"),
    ]


@pytest.mark.parametrize("index", range(3), ids=["a-name", "s3-client", "resource"])
def test_a_client_that_cannot_checkpoint_is_refused_when_the_handler_is_built(
    index: int,
) -> None:
    # Found at the first checkpoint, the mistake was an AttributeError after the first step had
    # run, with nothing of it recorded.
    from durable_gen.aws import LambdaService, lambda_handler

    _, client, hint = _other_clients()[index]
    with pytest.raises(dg.ValidationError, match=re.escape(hint)):
        lambda_handler(_double, client=client)
    with pytest.raises(dg.ValidationError, match="lambda"):
        LambdaService(client)


def test_a_lambda_client_without_the_durable_api_says_to_upgrade_boto3() -> None:
    from durable_gen.aws import lambda_handler

    class OldMeta:
        class service_model:  # botocore's attribute name
            service_name = "lambda"

    class OldLambdaClient:  # a botocore lambda client from before boto3 1.42
        meta = OldMeta()

        def invoke(self, **kwargs: Any) -> Any:
            raise AssertionError("not called")

    with pytest.raises(dg.ValidationError, match=r"boto3 1\.42 or later"):
        lambda_handler(_double, client=OldLambdaClient())


@pytest.mark.parametrize(
    "options, named",
    [
        ({"sleep": None}, "sleep"),
        ({"sleep": "time.sleep"}, "sleep"),
        ({"rng": 0.5}, "rng"),
        ({"region": 5}, "region"),
    ],
    ids=["sleep-none", "sleep-name", "rng-number", "region-int"],
)
def test_lambda_service_options_are_checked_when_it_is_built(
    options: dict[str, Any], named: str
) -> None:
    # A sleep or rng that is not a function was found only at the first retry of a
    # throttled call, as a TypeError in the middle of an invocation, instead of a retry.
    from durable_gen.aws import LambdaService

    with pytest.raises(dg.ValidationError, match=f"^{named} must be"):
        LambdaService(_client(), **options)


def test_a_throttled_checkpoint_is_retried_with_the_sleep_given() -> None:
    from botocore.stub import ANY, Stubber

    from durable_gen.aws import LambdaService, lambda_handler

    client = _client()
    slept: list[float] = []
    tokens: list[str] = []
    with Stubber(client) as stub:
        for _ in range(2):
            stub.add_client_error(
                "checkpoint_durable_execution",
                service_error_code="ThrottlingException",
                http_status_code=429,
            )
        stub.add_response(
            "checkpoint_durable_execution",
            {"CheckpointToken": "tok2", "NewExecutionState": {"Operations": []}},
            {
                "DurableExecutionArn": ARN,
                "CheckpointToken": "tok1",
                "Updates": ANY,
                "ClientToken": ANY,
            },
        )

        def record(params: dict[str, Any], **_: Any) -> None:
            tokens.append(params["ClientToken"])

        client.meta.events.register("provide-client-params.lambda.*", record)
        service = LambdaService(client, sleep=slept.append, rng=lambda: 0.5)
        output = lambda_handler(_double, service=service)(_event(), None)
        stub.assert_no_pending_responses()
    assert output == {"Status": "SUCCEEDED", "Result": "4"}
    assert slept == [0.05, 0.1]
    assert len(tokens) == 3 and len(set(tokens)) == 1  # one ClientToken for every retry


def test_an_uncaught_callback_failure_with_a_huge_message_fails_within_the_error_limit(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    @dg.workflow
    def strict(_: Any):
        handle = yield dg.CreateCallback(name="answer", timeout=60)
        return (yield handle)

    deploy(emu, lambda_endpoint, function_name, strict)
    arn = emu.start(function_name, {})
    callback_id = emu.callback_id(arn, "answer", timeout=10)
    emu.send_callback_failure(
        callback_id,
        error_message="\u00fc" * 30_000,
        error_type="Rejected",
        error_data=json.dumps({"why": "x" * 20_000}),
    )
    outcome = emu.wait(arn, timeout=15)
    assert outcome.status == "FAILED", outcome
    error = outcome.error
    assert error["ErrorType"] == "Rejected"
    assert error["ErrorMessage"].startswith("\u00fc" * 100)
    assert error["ErrorMessage"].endswith("[truncated to fit the 32 KiB error limit]")
    assert len(json.dumps(error, ensure_ascii=True)) <= 32 * 1024


# -- a generator that cannot take the input ------------------------------------------------


def _with_context(event: Any, context: Any) -> Any:  # AWS's SDK's handler shape
    yield dg.Step(lambda: 1, name="one")


def _without_input() -> Any:
    yield dg.Step(lambda: 1, name="one")


@pytest.mark.parametrize("workflow", [_with_context, _without_input], ids=["two", "none"])
def test_a_generator_that_cannot_take_the_input_is_refused_when_the_handler_is_built(
    workflow: Any,
) -> None:
    # It was accepted, and then every execution failed for good at its first invocation.
    from durable_gen.aws import lambda_handler

    with pytest.raises(dg.WorkflowDefinitionError, match="one positional argument"):
        lambda_handler(workflow, client=_client())
    with pytest.raises(dg.WorkflowDefinitionError, match="one positional argument"):
        lambda_handler(checkpointing="batch")(workflow)


def test_a_workflow_with_optional_extras_is_still_accepted() -> None:
    from durable_gen.aws import lambda_handler

    def optional(event: Any, context: Any = None, *, flag: bool = False) -> Any:
        yield dg.Step(lambda: 1, name="one")

    assert lambda_handler(optional, client=_client()).workflow is optional


# -- an invocation out of time before a step starts ----------------------------------------


class _Context:
    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


def test_a_step_due_when_the_invocation_has_no_time_left_is_not_started() -> None:
    # As the guide says: the attempt is not run, and fails with StepTimeoutError saying so; a
    # retry policy runs it in a later invocation (here it has attempts left: a RETRY).
    from botocore.stub import ANY, Stubber

    ran: list[str] = []

    @dg.workflow
    def late(_: Any):
        return (yield dg.Step(lambda: ran.append("ran"), name="late", retry=dg.Retry()))

    client = _client()
    sent: list[list[dict[str, Any]]] = []
    client.meta.events.register(
        "provide-client-params.lambda.CheckpointDurableExecution",
        lambda params, **_: sent.append(params["Updates"]),
    )
    with Stubber(client) as stub:
        stub.add_response(
            "checkpoint_durable_execution",
            {"CheckpointToken": "tok2", "NewExecutionState": {"Operations": []}},
            {
                "DurableExecutionArn": ARN,
                "CheckpointToken": "tok1",
                "Updates": ANY,
                "ClientToken": ANY,
            },
        )
        output = _handler(client, late)(_event(), _Context(300))
    assert output == {"Status": "PENDING"}
    assert ran == []
    actions = [(u["Action"], u.get("Error", {}).get("ErrorType")) for u in sent[0]]
    assert actions == [("START", None), ("RETRY", "StepTimeoutError")]
    assert "not started" in sent[0][1]["Error"]["ErrorMessage"]


def test_an_input_over_the_event_page_budget(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    # 5.5 MB of input: the EXECUTION operation alone fills more than a page of the event, and
    # the steps recorded after it arrive through GetDurableExecutionState on replay.
    @dg.workflow
    def big_input(payload: dict[str, str]):
        size = yield dg.Step(lambda: len(payload["blob"]), name="size")
        yield dg.Wait(seconds=1, name="replay")
        again = yield dg.Step(lambda: len(payload["blob"]), name="again")
        return [size, again]

    _, outcome = run_workflow(
        emu, lambda_endpoint, function_name, big_input, {"blob": "i" * 5_500_000}, timeout=60
    )
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == [5_500_000, 5_500_000]


def test_a_region_in_capitals_is_refused_when_the_client_is_created(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # botocore builds a client for "US-WEST-2", and the service then refuses every call it
    # signs; the handler said nothing until then.
    from durable_gen.aws import create_client

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with pytest.raises(dg.ValidationError, match="lowercase, such as 'us-west-2'"):
        create_client("US-WEST-2")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "Eu-West-1")
    with pytest.raises(dg.ValidationError, match="'Eu-West-1' \\(from AWS_REGION\\)"):
        create_client()


def test_a_refused_signature_is_raised_saying_what_to_check() -> None:
    from botocore.stub import Stubber

    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error(
            "checkpoint_durable_execution",
            service_error_code="InvalidSignatureException",
            service_message="The request signature we calculated does not match",
            http_status_code=403,
        )
        with pytest.raises(dg.ValidationError, match="region and the clock"):
            _handler(client)(_event(), None)
