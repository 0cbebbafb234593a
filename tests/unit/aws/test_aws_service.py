"""LambdaService without a network: real botocore clients, answered by botocore's Stubber or by
sockets on 127.0.0.1 that refuse or never answer."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber

import durable_gen as dg
from durable_gen._wire import OperationUpdate, WaitOptions
from durable_gen.aws import LambdaService, ServiceUnavailableError, create_client, lambda_handler
from durable_gen.aws._service import classify, to_wire

#: One session for every client: the service model is loaded once.
SESSION = boto3.session.Session()
ARN = "arn:aws:lambda:us-west-2:123456789012:function:orders:$LATEST/durable-execution/e1/i1"
T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
T0_MS = 1767323045678


def make_client(**config: Any) -> Any:
    return SESSION.client(
        "lambda",
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, **config),
    )


@pytest.fixture
def client() -> Iterator[Any]:
    c = make_client()
    yield c
    c.close()


@pytest.fixture
def stub(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def service(client: Any, **options: Any) -> tuple[LambdaService, Sleeps]:
    sleeps = Sleeps()
    return LambdaService(client, sleep=sleeps, rng=lambda: 0.5, **options), sleeps


CP, GS = "checkpoint_durable_execution", "get_durable_execution_state"
StaleToken = dg.InvalidCheckpointTokenError
REPLY_2 = {"CheckpointToken": "dG9rZW4y", "NewExecutionState": {"Operations": []}}
STEP_UPDATE = OperationUpdate(
    id="op-1", type="STEP", action="START", name="charge", sub_type="Step"
)


# --- conversion -----------------------------------------------------------------------------


def test_to_wire_turns_every_datetime_into_epoch_millis() -> None:
    data = {
        "ResponseMetadata": {"HTTPStatusCode": 200},
        "Operations": [
            {
                "Id": "a",
                "StartTimestamp": T0,
                "WaitDetails": {"ScheduledEndTimestamp": T0 + timedelta(seconds=30)},
            },
            {"Id": "b", "EndTimestamp": datetime(2026, 1, 2, 3, 4, 5, 678000)},  # naive = UTC
            {"Id": "c", "EndTimestamp": T0.astimezone(timezone(timedelta(hours=-7)))},
        ],
        "NextMarker": "m",
    }
    assert to_wire(data) == {
        "Operations": [
            {
                "Id": "a",
                "StartTimestamp": T0_MS,
                "WaitDetails": {"ScheduledEndTimestamp": T0_MS + 30_000},
            },
            {"Id": "b", "EndTimestamp": T0_MS},
            {"Id": "c", "EndTimestamp": T0_MS},
        ],
        "NextMarker": "m",
    }


# --- requests and replies -------------------------------------------------------------------


def test_checkpoint_sends_updates_and_a_client_token_and_reads_the_reply(
    client: Any, stub: Stubber
) -> None:
    stub.add_response(
        "checkpoint_durable_execution",
        {
            "CheckpointToken": "dG9rZW4y",
            "NewExecutionState": {
                "Operations": [
                    {
                        "Id": "op-1",
                        "Type": "STEP",
                        "Status": "SUCCEEDED",
                        "Name": "charge",
                        "SubType": "Step",
                        "StartTimestamp": T0,
                        "EndTimestamp": T0 + timedelta(milliseconds=5),
                        "StepDetails": {"Attempt": 1, "Result": '"r-1"'},
                    }
                ]
            },
        },
        expected_params={
            "DurableExecutionArn": ARN,
            "CheckpointToken": "dG9rZW4x",
            "Updates": [
                {
                    "Id": "op-1",
                    "Type": "STEP",
                    "Action": "START",
                    "Name": "charge",
                    "SubType": "Step",
                }
            ],
            "ClientToken": ANY,
        },
    )
    svc, sleeps = service(client)
    reply = svc.checkpoint(ARN, "dG9rZW4x", [STEP_UPDATE])
    assert reply.checkpoint_token == "dG9rZW4y"
    [op] = reply.new_execution_state.operations
    assert (op.id, op.status, op.start_timestamp, op.end_timestamp) == (
        "op-1",
        "SUCCEEDED",
        T0_MS,
        T0_MS + 5,
    )
    assert op.step_details is not None and op.step_details.result == '"r-1"'
    assert sleeps == []


def test_get_state_pages_with_marker_and_page_size(client: Any, stub: Stubber) -> None:
    stub.add_response(
        "get_durable_execution_state",
        {
            "Operations": [
                {
                    "Id": "w",
                    "Type": "WAIT",
                    "Status": "STARTED",
                    "StartTimestamp": T0,
                    "WaitDetails": {"ScheduledEndTimestamp": T0},
                }
            ],
            "NextMarker": "next",
        },
        expected_params={
            "DurableExecutionArn": ARN,
            "CheckpointToken": "dG9r",
            "Marker": "m1",
            "MaxItems": 7,
        },
    )
    svc, _ = service(client, page_size=7)
    page = svc.get_state(ARN, "dG9r", "m1")
    assert page.next_marker == "next"
    assert page.operations[0].wait_details is not None
    assert page.operations[0].wait_details.scheduled_end_timestamp == T0_MS


def test_an_unknown_operation_type_in_a_reply_is_a_clear_error(client: Any) -> None:
    # botocore validates stubbed replies against its model, so the reply is built by hand.
    svc, _ = service(client)
    client.meta.events.register(
        "before-call.lambda.GetDurableExecutionState",
        lambda **_: (
            _http(200),
            {"Operations": [{"Id": "x", "Type": "TELEPORT", "Status": "STARTED"}]},
        ),
    )
    with pytest.raises(dg.InvalidInputError, match=r"Operations\[0\]\.Type.*upgrade durable-gen"):
        svc.get_state(ARN, "dG9r", "m")


def _http(status: int) -> Any:
    from botocore.awsrequest import AWSResponse

    return AWSResponse("https://lambda.example", status, {}, None)


# --- error classification and retries ---------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("TooManyRequestsException", 429),
        ("ThrottlingException", 400),
        ("ServiceException", 500),
        ("", 503),
        ("500", 500),  # the emulator's shape: the code is the status
    ],
)
def test_transient_errors_are_retried_with_jittered_backoff(
    client: Any, stub: Stubber, code: str, status: int
) -> None:
    for _ in range(2):
        stub.add_client_error(
            "checkpoint_durable_execution", code, "slow down", http_status_code=status
        )
    stub.add_response("checkpoint_durable_execution", REPLY_2)
    svc, sleeps = service(client, base_delay=0.1, max_delay=5.0)
    assert svc.checkpoint(ARN, "dG9rZW4x", [STEP_UPDATE]).checkpoint_token == "dG9rZW4y"
    # rng() == 0.5: half of the exponential bound 0.1, 0.2
    assert sleeps == [pytest.approx(0.05), pytest.approx(0.1)]


def test_a_checkpoint_keeps_its_client_token_across_retries(client: Any, stub: Stubber) -> None:
    tokens: list[str] = []
    client.meta.events.register(
        "before-parameter-build.lambda.CheckpointDurableExecution",
        lambda params, **_: tokens.append(params["ClientToken"]),
        unique_id="record-client-token",
    )
    stub.add_client_error("checkpoint_durable_execution", "", "", http_status_code=502)
    stub.add_response("checkpoint_durable_execution", REPLY_2)
    svc, _ = service(client)
    svc.checkpoint(ARN, "dG9rZW4x", [STEP_UPDATE])
    stub.add_response("checkpoint_durable_execution", {**REPLY_2, "CheckpointToken": "dG9rZW4z"})
    svc.checkpoint(ARN, "dG9rZW4y", [STEP_UPDATE])
    assert len(tokens) == 3 and tokens[0] == tokens[1] != tokens[2]


def test_retries_are_bounded(client: Any, stub: Stubber) -> None:
    for _ in range(3):
        stub.add_client_error("get_durable_execution_state", "", "down", http_status_code=500)
    svc, sleeps = service(client, max_attempts=3, base_delay=1.0, max_delay=1.5)
    with pytest.raises(ServiceUnavailableError, match=r"HTTP 500.*gave up after 3 attempts"):
        svc.get_state(ARN, "dG9r", "m")
    assert sleeps == [pytest.approx(0.5), pytest.approx(0.75)]  # bounds 1.0, then 1.5 (capped)


@pytest.mark.parametrize(
    ("method", "code", "status", "message", "error"),
    [
        (CP, "InvalidParameterValueException", 400, "Invalid checkpoint token", StaleToken),
        # the emulator: a plain ClientError whose code is the HTTP status
        (CP, "400", 400, "Invalid checkpoint token", StaleToken),
        (CP, "400", 400, "Invalid operation update", dg.InvalidCheckpointError),
        (CP, "404", 404, "Execution not found", dg.ExecutionNotFoundError),
        (GS, "ResourceNotFoundException", 404, "gone", dg.ExecutionNotFoundError),
        (GS, "400", 400, "bad marker", dg.ServiceError),
        (CP, "KMSAccessDeniedException", 502, "no key", dg.ServiceError),
    ],
)
def test_rejected_requests_are_not_retried(
    client: Any,
    stub: Stubber,
    method: str,
    code: str,
    status: int,
    message: str,
    error: type[Exception],
) -> None:
    stub.add_client_error(method, code, message, http_status_code=status)
    svc, sleeps = service(client)
    with pytest.raises(error, match=message) as caught:
        if method == CP:
            svc.checkpoint(ARN, "dG9rZW4x", [STEP_UPDATE])
        else:
            svc.get_state(ARN, "dG9r", "m")
    assert type(caught.value) is error
    assert not isinstance(caught.value, ServiceUnavailableError)
    assert f"HTTP {status}" in str(caught.value)
    assert sleeps == []


def test_a_stale_token_message_says_what_happened(client: Any, stub: Stubber) -> None:
    stub.add_client_error(
        "checkpoint_durable_execution", "400", "Invalid checkpoint token", http_status_code=400
    )
    svc, _ = service(client)
    with pytest.raises(dg.InvalidCheckpointTokenError, match="newest checkpoint token"):
        svc.checkpoint(ARN, "dG9rZW4x", [STEP_UPDATE])


def test_classify_lets_other_exceptions_through() -> None:
    assert classify(ZeroDivisionError(), "CheckpointDurableExecution") == (None, False)


def test_updates_the_api_does_not_accept_are_rejected_before_sending(client: Any) -> None:
    svc, sleeps = service(client)
    # botocore checks the model's bounds before anything is sent
    bad = OperationUpdate(
        id="op-1", type="WAIT", action="START", name="w", wait_options=WaitOptions(wait_seconds=0)
    )
    with pytest.raises(dg.InvalidCheckpointError, match="does not match the API"):
        svc.checkpoint(ARN, "dG9rZW4x", [bad])
    assert sleeps == []


# --- connection errors and timeouts, with real sockets on loopback ----------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_connection_refused_is_retried_then_reported() -> None:
    client = SESSION.client(
        "lambda",
        region_name="us-west-2",
        endpoint_url=f"http://127.0.0.1:{_free_port()}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(connect_timeout=0.5, retries={"total_max_attempts": 1}),
    )
    svc, sleeps = service(client, max_attempts=3)
    with pytest.raises(ServiceUnavailableError, match=r"did not get an answer.*3 attempts"):
        svc.get_state(ARN, "dG9r", "m")
    assert len(sleeps) == 2
    client.close()


def test_a_read_timeout_is_retried() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)  # connections complete in the backlog; nothing ever answers
        client = SESSION.client(
            "lambda",
            region_name="us-west-2",
            endpoint_url=f"http://127.0.0.1:{server.getsockname()[1]}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(read_timeout=0.2, connect_timeout=0.5, retries={"total_max_attempts": 1}),
        )
        svc, sleeps = service(client, max_attempts=2)
        with pytest.raises(ServiceUnavailableError, match="timeout"):
            svc.checkpoint(ARN, "dG9rZW4x", [STEP_UPDATE])
        assert len(sleeps) == 1
        client.close()


# --- creating the client ----------------------------------------------------------------------

_AWS_VARS = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_LAMBDA",
)


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> pytest.MonkeyPatch:
    """No AWS configuration at all, and no instance-metadata lookups."""
    for name in _AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


def test_a_missing_region_names_what_to_set(bare_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(dg.ValidationError, match="AWS_REGION"):
        create_client()
    with pytest.raises(dg.ValidationError, match="AWS_REGION"):
        LambdaService()


def test_missing_credentials_name_what_to_set(bare_env: pytest.MonkeyPatch) -> None:
    bare_env.setenv("AWS_REGION", "eu-west-1")
    with pytest.raises(dg.ValidationError, match=r"credentials.*AWS_ACCESS_KEY_ID"):
        create_client()


def test_the_created_client_reads_the_environment(bare_env: pytest.MonkeyPatch) -> None:
    bare_env.setenv("AWS_REGION", "eu-west-1")
    bare_env.setenv("AWS_ACCESS_KEY_ID", "a")
    bare_env.setenv("AWS_SECRET_ACCESS_KEY", "b")
    client = create_client()
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.config.retries["total_max_attempts"] == 1
    client.close()
    client = create_client("ap-south-1")
    assert client.meta.region_name == "ap-south-1"
    client.close()


@pytest.mark.parametrize(
    ("where", "region", "source"),
    [
        ("argument", "us-west-2 ", "region="),
        ("AWS_REGION", "eu west 1", "AWS_REGION"),
        ("AWS_DEFAULT_REGION", "eu_west_1!", "AWS_DEFAULT_REGION"),
    ],
)
def test_a_malformed_region_is_a_validation_error_naming_it(
    bare_env: pytest.MonkeyPatch, where: str, region: str, source: str
) -> None:
    bare_env.setenv("AWS_ACCESS_KEY_ID", "a")
    bare_env.setenv("AWS_SECRET_ACCESS_KEY", "b")
    if where != "argument":
        bare_env.setenv(where, region)
    with pytest.raises(dg.ValidationError, match=rf"{region!r} \(from {source}"):
        create_client(region if where == "argument" else None)


def test_a_region_that_is_not_a_string_is_refused_where_it_is_given() -> None:
    with pytest.raises(dg.ValidationError, match="got 5"):
        create_client(5)  # type: ignore[arg-type]
    with pytest.raises(dg.ValidationError, match="got 5"):
        lambda_handler(lambda event: (yield), region=5)  # type: ignore[arg-type]


def test_a_malformed_endpoint_is_a_validation_error_naming_the_setting(
    bare_env: pytest.MonkeyPatch,
) -> None:
    bare_env.setenv("AWS_REGION", "eu-west-1")
    bare_env.setenv("AWS_ACCESS_KEY_ID", "a")
    bare_env.setenv("AWS_SECRET_ACCESS_KEY", "b")
    bare_env.setenv("AWS_ENDPOINT_URL_LAMBDA", "not a url")
    with pytest.raises(dg.ValidationError, match="AWS_ENDPOINT_URL_LAMBDA"):
        create_client()


def test_without_boto3_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ImportError, match=r"pip install 'durable-gen\[aws\]'"):
        create_client("us-east-1")


def test_it_is_a_durable_service(client: Any) -> None:
    assert isinstance(LambdaService(client), dg.DurableService)


def test_options_are_validated(client: Any) -> None:
    with pytest.raises(dg.ValidationError):
        LambdaService(client, max_attempts=0)
    with pytest.raises(dg.ValidationError):
        LambdaService(client, page_size=0)
    with pytest.raises(dg.ValidationError):
        LambdaService(client, base_delay=-1)


# --- large batches ----------------------------------------------------------------------------


def step_done(n: int, payload: str = '"ok"') -> OperationUpdate:
    return OperationUpdate(
        id=f"op-{n}", type="STEP", action="SUCCEED", name=f"s{n}", sub_type="Step", payload=payload
    )


def step_op(n: int, status: str = "SUCCEEDED") -> dict[str, Any]:
    return {
        "Id": f"op-{n}", "Type": "STEP", "Status": status, "Name": f"s{n}", "SubType": "Step",
        "StartTimestamp": T0, "StepDetails": {"Attempt": 1},
    }  # fmt: skip


def sent(updates: list[OperationUpdate]) -> list[dict[str, Any]]:
    import msgspec

    return [msgspec.to_builtins(u) for u in updates]


def test_a_batch_of_more_than_250_updates_goes_in_several_calls_chaining_tokens(
    client: Any, stub: Stubber
) -> None:
    from durable_gen.aws._service import MAX_UPDATES_PER_CALL

    updates = [step_done(n) for n in range(600)]
    parts = [updates[:250], updates[250:500], updates[500:]]
    assert MAX_UPDATES_PER_CALL == 250
    tokens = ["dG9rZW4x", "dDI=", "dDM=", "dDQ="]
    for i, part in enumerate(parts):
        reply_ops = [step_op(int(part[0].id[3:]))]
        if i == 2:  # the last reply also carries a newer version of an operation seen before
            reply_ops.append(step_op(0, status="FAILED"))
        stub.add_response(
            CP,
            {"CheckpointToken": tokens[i + 1], "NewExecutionState": {"Operations": reply_ops}},
            expected_params={
                "DurableExecutionArn": ARN,
                "CheckpointToken": tokens[i],
                "Updates": sent(part),
                "ClientToken": ANY,
            },
        )
    svc, _ = service(client)
    reply = svc.checkpoint(ARN, tokens[0], updates)
    assert reply.checkpoint_token == tokens[-1]
    ops = {op.id: op.status for op in reply.new_execution_state.operations}
    assert ops == {"op-0": "FAILED", "op-250": "SUCCEEDED", "op-500": "SUCCEEDED"}


def test_a_batch_over_750_kib_is_split_by_size_and_a_large_update_goes_alone(
    client: Any, stub: Stubber
) -> None:
    big = '"' + "x" * (400 * 1024) + '"'
    huge = '"' + "y" * (1000 * 1024) + '"'  # over the per-call size alone: sent by itself
    updates = [step_done(1, big), step_done(2, big), step_done(3), step_done(4, huge), step_done(5)]
    parts = [[updates[0]], [updates[1], updates[2]], [updates[3]], [updates[4]]]
    token = "dG9rZW4x"
    for i, part in enumerate(parts):
        stub.add_response(
            CP,
            {"CheckpointToken": f"dG{i}=", "NewExecutionState": {"Operations": []}},
            expected_params={
                "DurableExecutionArn": ARN,
                "CheckpointToken": token,
                "Updates": sent(part),
                "ClientToken": ANY,
            },
        )
        token = f"dG{i}="
    svc, _ = service(client)
    assert svc.checkpoint(ARN, "dG9rZW4x", updates).checkpoint_token == "dG3="


def test_a_paged_reply_inside_a_split_batch_is_read_with_its_own_token(
    client: Any, stub: Stubber
) -> None:
    updates = [step_done(n) for n in range(251)]
    stub.add_response(
        CP,
        {
            "CheckpointToken": "dDI=",
            "NewExecutionState": {"Operations": [step_op(1)], "NextMarker": "m1"},
        },
        expected_params={
            "DurableExecutionArn": ARN, "CheckpointToken": "dG9rZW4x",
            "Updates": sent(updates[:250]), "ClientToken": ANY,
        },
    )  # fmt: skip
    stub.add_response(
        GS,
        {"Operations": [step_op(2)]},
        expected_params={"DurableExecutionArn": ARN, "CheckpointToken": "dDI=", "Marker": "m1"},
    )
    stub.add_response(
        CP,
        {"CheckpointToken": "dDM=", "NewExecutionState": {"Operations": [step_op(250)]}},
        expected_params={
            "DurableExecutionArn": ARN, "CheckpointToken": "dDI=",
            "Updates": sent(updates[250:]), "ClientToken": ANY,
        },
    )  # fmt: skip
    svc, _ = service(client)
    reply = svc.checkpoint(ARN, "dG9rZW4x", updates)
    assert [op.id for op in reply.new_execution_state.operations] == ["op-1", "op-2", "op-250"]
    assert reply.new_execution_state.next_marker is None


def test_a_refused_later_call_of_a_split_batch_raises_the_refusal(
    client: Any, stub: Stubber
) -> None:
    updates = [step_done(n) for n in range(300)]
    stub.add_response(CP, {"CheckpointToken": "dDI=", "NewExecutionState": {"Operations": []}})
    stub.add_client_error(
        CP, service_error_code="InvalidParameterValueException", service_message="bad update"
    )
    svc, _ = service(client)
    with pytest.raises(dg.InvalidCheckpointError):
        svc.checkpoint(ARN, "dG9rZW4x", updates)
