"""The Lambda handler without a network: event parsing, outputs, and which failures are raised.

Checkpoints go through a real botocore client answered by botocore's Stubber.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import msgspec
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber

import durable_gen as dg
import durable_gen.aws
from durable_gen._errors import ValidationError, WorkflowDefinitionError
from durable_gen._wire import MAX_ERROR_BYTES, MAX_PAYLOAD_BYTES
from durable_gen.aws import LambdaHandler, LambdaService, lambda_handler, parse_event

#: One session for every client: the service model is loaded once.
SESSION = boto3.session.Session()
ARN = "arn:aws:lambda:us-west-2:123456789012:function:orders:$LATEST/durable-execution/e1/i1"
REPLY = {"CheckpointToken": "dG9rZW4y", "NewExecutionState": {"Operations": []}}


def event(input: Any = None, *, raw_input: str | None = None, **extra: Any) -> dict[str, Any]:
    payload = raw_input if raw_input is not None else json.dumps(input)
    execution = {
        "Id": "i1",
        "Type": "EXECUTION",
        "Status": "STARTED",
        "StartTimestamp": 1767323045678,
        "ExecutionDetails": {"InputPayload": payload},
    }
    return {
        "DurableExecutionArn": ARN,
        "CheckpointToken": "dG9rZW4x",
        "InitialExecutionState": {"Operations": [execution], "NextMarker": ""},
        **extra,
    }


@pytest.fixture
def client() -> Iterator[Any]:
    c = SESSION.client(
        "lambda",
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )
    yield c
    c.close()


@pytest.fixture
def stub(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def no_sleep(seconds: float) -> None:
    pass


def handler_for(workflow: Any, client: Any, **options: Any) -> LambdaHandler:
    return lambda_handler(workflow, service=LambdaService(client, sleep=no_sleep), **options)


def double(payload: dict[str, int]) -> Any:
    value = yield dg.Step(lambda: payload["n"] * 2, name="double")
    return {"value": value}


# --- events that are not durable invocations ---------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ({"orderId": "o-1"}, "DurableExecutionArn, CheckpointToken, InitialExecutionState"),
        ({"DurableExecutionArn": ARN, "CheckpointToken": "t"}, "has no InitialExecutionState"),
        ([1, 2], "is a list, not a durable-execution invocation"),
        ("hello", "is a str"),
        (None, "is a NoneType"),
    ],
)
def test_a_plain_event_returns_failed_without_touching_the_service(
    bad: Any, needle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No region and no credentials: building a client would raise. A bad event never gets there.
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    handler = lambda_handler(double)
    out = handler(bad, None)
    assert out["Status"] == "FAILED"
    assert out["Error"]["ErrorType"] == "InvalidInputError"
    assert needle in out["Error"]["ErrorMessage"]
    assert "durable function" in out["Error"]["ErrorMessage"]
    assert "DurableConfig" in out["Error"]["ErrorMessage"]


def test_parse_event_names_the_missing_keys() -> None:
    with pytest.raises(dg.InvalidInputError, match=r"has no CheckpointToken \(keys present"):
        parse_event({"DurableExecutionArn": ARN, "InitialExecutionState": {}})


def test_an_unknown_operation_type_is_reported_with_its_path() -> None:
    bad = event({})
    bad["InitialExecutionState"]["Operations"].append(
        {"Id": "x", "Type": "TELEPORT", "Status": "STARTED"}
    )
    with pytest.raises(dg.InvalidInputError) as caught:
        parse_event(bad)
    message = str(caught.value)
    assert "Invalid enum value 'TELEPORT'" in message
    assert "$.InitialExecutionState.Operations[1].Type" in message
    assert "upgrade" in message


def test_a_truncated_operation_is_reported_with_its_path() -> None:
    bad = event({})
    bad["InitialExecutionState"]["Operations"].append({"Id": "x", "Type": "STEP"})
    with pytest.raises(dg.InvalidInputError, match=r"`Status`.*Operations\[1\].*truncated"):
        parse_event(bad)


def test_state_without_the_execution_operation_is_truncated() -> None:
    bad = event({})
    bad["InitialExecutionState"]["Operations"] = []
    with pytest.raises(dg.InvalidInputError, match="no EXECUTION operation"):
        parse_event(bad)
    # An empty first page is fine when more pages follow.
    bad["InitialExecutionState"]["NextMarker"] = "m"
    assert parse_event(bad).initial_execution_state.next_marker == "m"


def test_parse_event_reads_a_real_event() -> None:
    parsed = parse_event(event({"n": 1}, UpdatedOperationIds=["a"]))
    assert parsed.durable_execution_arn == ARN
    [op] = parsed.initial_execution_state.operations
    assert op.start_timestamp == 1767323045678
    assert op.execution_details is not None and op.execution_details.input_payload == '{"n": 1}'


def test_a_malformed_event_from_the_service_fails_the_execution(client: Any) -> None:
    bad = event({})
    bad["CheckpointToken"] = 42
    out = handler_for(double, client)(bad, None)
    assert out["Status"] == "FAILED"
    assert "Expected `str`, got `int` - at `$.CheckpointToken`" in out["Error"]["ErrorMessage"]


# --- outputs ------------------------------------------------------------------------------------


def test_success_checkpoints_once_and_returns_the_result(client: Any, stub: Stubber) -> None:
    stub.add_response("checkpoint_durable_execution", REPLY)
    out = handler_for(double, client)(event({"n": 21}), None)
    assert out == {"Status": "SUCCEEDED", "Result": '{"value":42}'}


def test_a_wait_returns_pending(client: Any, stub: Stubber) -> None:
    def napping(_: Any) -> Any:
        yield dg.Wait(seconds=60, name="nap")

    stub.add_response("checkpoint_durable_execution", REPLY)
    assert handler_for(napping, client)(event(None), None) == {"Status": "PENDING"}


def test_a_failing_workflow_returns_failed(client: Any) -> None:
    def broken(_: Any) -> Any:
        raise KeyError("order")
        yield  # pragma: no cover

    out = handler_for(broken, client)(event(None), None)
    assert out["Status"] == "FAILED"
    assert out["Error"]["ErrorType"] == "KeyError"
    assert set(out) == {"Status", "Error"}


def test_input_that_is_not_json_fails_clearly(client: Any) -> None:
    out = handler_for(double, client)(event(raw_input="{not json"), None)
    assert out["Status"] == "FAILED"
    assert out["Error"]["ErrorType"] == "SerializationError"
    assert "not valid JSON" in out["Error"]["ErrorMessage"]


# --- limits ---------------------------------------------------------------------------------------


def test_a_result_over_6_mib_fails_with_a_clear_message(client: Any) -> None:
    def huge(_: Any) -> Any:
        return "x" * (MAX_PAYLOAD_BYTES + 1)
        yield  # pragma: no cover

    out = handler_for(huge, client)(event(None), None)
    assert out["Status"] == "FAILED"
    assert out["Error"]["ErrorType"] == "PayloadTooLargeError"
    assert "6 MiB" in out["Error"]["ErrorMessage"]


@pytest.mark.parametrize(
    "text",
    [
        '"' * 3_000_000,  # 6 MB serialized; every quote escaped once more in the response
        "\u00e9" * 2_000_000,  # 4 MB of UTF-8; 12 MB once the runtime writes \u00e9
        "a" * 3_000_000,  # 3 MB: returned as it is
    ],
    ids=["quotes", "non-ascii", "plain"],
)
def test_a_result_is_returned_only_if_the_response_fits_6_mib(
    client: Any, stub: Stubber, text: str
) -> None:
    def big(_: Any) -> Any:
        return text
        yield  # pragma: no cover

    serialized = json.dumps(text, ensure_ascii=False, separators=(",", ":"))
    assert len(serialized.encode()) < MAX_PAYLOAD_BYTES - 64 * 1024
    returned = len(json.dumps({"Status": "SUCCEEDED", "Result": serialized})) <= MAX_PAYLOAD_BYTES
    if not returned:
        stub.add_response(
            "checkpoint_durable_execution",
            REPLY,
            {
                "DurableExecutionArn": ARN,
                "CheckpointToken": "dG9rZW4x",
                "Updates": [
                    {"Id": "i1", "Type": "EXECUTION", "Action": "SUCCEED", "Payload": serialized}
                ],
                "ClientToken": ANY,
            },
        )
    out = handler_for(big, client)(event(None), None)
    # What Lambda's Python runtime sends back (json.dumps) stays within the 6 MiB response limit.
    assert len(json.dumps(out)) <= MAX_PAYLOAD_BYTES
    assert out == {"Status": "SUCCEEDED", "Result": serialized if returned else ""}


def test_an_invoke_payload_over_6_mib_fails_with_a_clear_message(client: Any) -> None:
    def calls(_: Any) -> Any:
        return (yield dg.Invoke("other", "x" * (MAX_PAYLOAD_BYTES + 1), name="call"))

    out = handler_for(calls, client)(event(None), None)
    assert out["Status"] == "FAILED"
    assert out["Error"]["ErrorType"] == "PayloadTooLargeError"
    assert "Invoke payload" in out["Error"]["ErrorMessage"]


def test_an_error_over_32_kib_is_cut_to_fit(client: Any) -> None:
    def loud(_: Any) -> Any:
        raise dg.StepFailedError("m" * 40_000, error_type="Loud", error_data="d" * 40_000)
        yield  # pragma: no cover

    out = handler_for(loud, client)(event(None), None)
    assert out["Status"] == "FAILED"
    assert len(json.dumps(out["Error"]).encode()) <= MAX_ERROR_BYTES
    assert out["Error"]["ErrorType"] == "Loud"
    assert out["Error"]["ErrorMessage"].endswith("[truncated to fit the 32 KiB error limit]")


def test_an_error_over_32_kib_is_cut_as_lambda_md_says(client: Any) -> None:
    def loud(_: Any) -> Any:
        raise dg.StepFailedError(
            "m" * 40_000, error_type="T" * 300, error_data="d" * 40_000, stack_trace=["x"] * 9
        )
        yield  # pragma: no cover

    error = handler_for(loud, client)(event(None), None)["Error"]
    suffix = " [truncated to fit the 32 KiB error limit]"
    assert error["ErrorType"] == "T" * 256
    assert error["ErrorMessage"] == "m" * 4096 + suffix
    assert error["ErrorData"] == "d" * 2048
    assert "StackTrace" not in error


# --- service failures: raised (retry the invocation) or FAILED ---------------------------------


def test_a_stale_token_is_raised_so_the_service_invokes_again(client: Any, stub: Stubber) -> None:
    stub.add_client_error(
        "checkpoint_durable_execution", "400", "Invalid checkpoint token", http_status_code=400
    )
    with pytest.raises(dg.InvalidCheckpointTokenError):
        handler_for(double, client)(event({"n": 1}), None)


def test_a_service_that_stays_down_is_raised(client: Any, stub: Stubber) -> None:
    for _ in range(5):
        stub.add_client_error("checkpoint_durable_execution", "", "", http_status_code=503)
    with pytest.raises(durable_gen.aws.ServiceUnavailableError, match="5 attempts"):
        handler_for(double, client)(event({"n": 1}), None)


def test_a_rejected_checkpoint_fails_the_execution(client: Any, stub: Stubber) -> None:
    stub.add_client_error(
        "checkpoint_durable_execution", "400", "Payload too large", http_status_code=400
    )
    out = handler_for(double, client)(event({"n": 1}), None)
    assert out["Status"] == "FAILED"
    assert out["Error"]["ErrorType"] == "InvalidCheckpointError"
    assert "Payload too large" in out["Error"]["ErrorMessage"]


# --- shapes of the API ----------------------------------------------------------------------------


def test_the_decorator_forms(client: Any, stub: Stubber) -> None:
    service = LambdaService(client, sleep=no_sleep)

    @lambda_handler(service=service, checkpointing="batch")
    def with_options(payload: dict[str, int]) -> Any:
        """Doubles n."""
        return (yield dg.Step(lambda: payload["n"] * 2, name="double"))

    @lambda_handler
    def bare(payload: Any) -> Any:
        return payload
        yield  # pragma: no cover

    assert isinstance(with_options, LambdaHandler) and isinstance(bare, LambdaHandler)
    assert with_options.checkpointing == "batch"
    assert with_options.__name__ == "with_options" and with_options.__doc__ == "Doubles n."
    assert with_options.workflow.__name__ == "with_options"
    stub.add_response("checkpoint_durable_execution", REPLY)
    assert with_options(event({"n": 4}), None) == {"Status": "SUCCEEDED", "Result": "8"}
    assert lambda_handler(double, client=client).workflow is double


def test_bad_options_fail_when_the_handler_is_built(client: Any) -> None:
    with pytest.raises(ValidationError, match="checkpointing"):
        lambda_handler(double, checkpointing="sometimes")  # type: ignore[call-overload]
    with pytest.raises(ValidationError, match=r"either service= .* or client="):
        lambda_handler(double, client=client, service=LambdaService(client))
    with pytest.raises(WorkflowDefinitionError, match="generator function"):
        lambda_handler(42)  # type: ignore[call-overload]


def test_a_missing_workflow_is_a_definition_error_not_a_type_error(client: Any) -> None:
    # None (a lookup that found nothing) is not the decorator-with-options form...
    with pytest.raises(WorkflowDefinitionError, match="got None"):
        lambda_handler(None, client=client)  # type: ignore[call-overload]
    # ...and options without a workflow, deployed as the handler, say how to apply them.
    half_applied: Any = lambda_handler(client=client, checkpointing="batch")
    with pytest.raises(WorkflowDefinitionError, match="above the workflow's def"):
        half_applied(event({"n": 1}), None)


def test_the_client_is_created_once_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "a")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "b")
    handler = lambda_handler(double, region="eu-central-1")
    service = handler.service
    assert isinstance(service, LambdaService) and handler.service is service
    assert service.client.meta.region_name == "eu-central-1"
    service.client.close()


def test_public_names_are_pinned() -> None:
    assert sorted(durable_gen.aws.__all__) == [
        "LambdaHandler",
        "LambdaService",
        "ServiceUnavailableError",
        "create_client",
        "lambda_handler",
        "parse_event",
    ]
    for name in durable_gen.aws.__all__:
        assert getattr(durable_gen.aws, name).__doc__, name


def test_outputs_are_what_the_service_parses() -> None:
    # The output dict is plain JSON data, as Lambda serializes it.
    out = lambda_handler(double, service=None)({"x": 1}, None)
    assert msgspec.json.decode(msgspec.json.encode(out)) == out


def _plain_order(order: Any) -> Any:
    return order


async def _async_order(order: Any) -> Any:
    return order


@pytest.mark.parametrize("not_a_workflow", [_plain_order, _async_order])
def test_a_function_that_is_not_a_workflow_is_refused_when_the_handler_is_built(
    not_a_workflow: Any,
) -> None:
    """Built on it, the handler failed every execution it resumed (a bad deploy lost every
    execution in flight); refused at build, the function's initialization fails instead and
    the executions wait for a fixed deploy."""
    with pytest.raises(dg.WorkflowDefinitionError, match="needs a workflow"):
        lambda_handler(not_a_workflow)
    with pytest.raises(dg.WorkflowDefinitionError, match="needs a workflow"):
        lambda_handler(checkpointing="batch")(not_a_workflow)


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"])
def test_an_ended_execution_invoked_again_fails_before_any_step_runs(
    client: Any, stub: Stubber, status: str
) -> None:
    ran: list[int] = []

    def charge(payload: dict[str, int]) -> Any:
        return (yield dg.Step(lambda: ran.append(payload["n"]) or "charged", name="charge"))

    ended = event({"n": 1})
    ended["InitialExecutionState"]["Operations"][0].update(
        Status=status, EndTimestamp=1767323046000
    )
    out = handler_for(charge, client)(ended, None)  # the stub answers no checkpoint
    assert out["Status"] == "FAILED" and ran == []
    assert out["Error"]["ErrorType"] == "InvalidInputError"
    assert f"ended as {status}" in out["Error"]["ErrorMessage"]
