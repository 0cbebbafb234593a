"""Round 9 corpus for the Lambda path: hand-built events in shapes the service may send (a
first page written `"Operations": null`), replies of the same shape through `LambdaService`,
and workflows run through AWS's emulator (`dex-local-runner`, on 127.0.0.1) compared with
the embedded engine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.unit import test_embedding_round9 as spread

try:
    from tests.interop import test_round9 as interop
except pytest.skip.Exception:  # AWS's SDK is not installed
    interop = None

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.aws import LambdaService, lambda_handler, parse_event

try:
    from .emulator import Emulator, LambdaEndpoint
    from .lambda_support import deploy, op_events, settle_pending
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]
    from lambda_support import (  # type: ignore[no-redef]
        deploy,
        op_events,
        settle_pending,
    )


ARN = "arn:aws:lambda:us-east-1:123456789012:function:r9:1/durable-execution/e/1"

EXECUTION = {
    "Id": "exec-1",
    "Type": "EXECUTION",
    "Status": "STARTED",
    "StartTimestamp": 1_700_000_000_000,
    "ExecutionDetails": {"InputPayload": '{"n": 4}'},
}


class PagedService:
    """A DurableService whose state is served from NextMarker on (the event's page is empty)."""

    def __init__(self, operations: list[dict[str, Any]]) -> None:
        self.store = {op.id: op for op in msgspec_ops(operations)}
        self.markers: list[str | None] = []
        self.token = 0

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Any
    ) -> rt.CheckpointResponse:
        applied = rt.apply_updates(self.store, updates, now_ms=1_700_000_000_000)
        self.token += 1
        return rt.CheckpointResponse(
            checkpoint_token=f"t{self.token}",
            new_execution_state=rt.ExecutionState(operations=applied.operations),
        )

    def get_state(
        self, execution_arn: str, checkpoint_token: str, marker: str
    ) -> rt.ExecutionState:
        self.markers.append(marker)
        return rt.ExecutionState(operations=list(self.store.values()))


def msgspec_ops(operations: list[dict[str, Any]]) -> list[rt.Operation]:
    import msgspec

    return msgspec.convert(operations, list[rt.Operation])


@dg.workflow
def doubled(event: dict[str, int]):
    twice = yield dg.Step(lambda: event["n"] * 2, name="twice")
    return {"twice": twice}


# -- `"Operations": null` ------------------------------------------------------------------


def test_an_event_whose_first_page_is_null_reads_the_state_from_its_marker() -> None:
    # AWS's SDK reads `"Operations": null` as a page without operations and pages on from
    # NextMarker; the handler does the same, rather than failing the execution as malformed.
    service = PagedService([EXECUTION])
    event = {
        "DurableExecutionArn": ARN,
        "CheckpointToken": "t0",
        "InitialExecutionState": {"Operations": None, "NextMarker": "page-1"},
    }
    assert parse_event(event).initial_execution_state.operations == []
    output = lambda_handler(doubled, service=service)(event, None)
    assert output == {"Status": "SUCCEEDED", "Result": '{"twice":8}'}
    assert service.markers == ["page-1"]


def test_a_null_first_page_without_a_marker_is_named_as_truncated() -> None:
    event = {
        "DurableExecutionArn": ARN,
        "CheckpointToken": "t0",
        "InitialExecutionState": {"Operations": None},
    }
    output = lambda_handler(doubled, service=PagedService([EXECUTION]))(event, None)
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == "InvalidInputError"
    assert "no EXECUTION operation and no further pages" in output["Error"]["ErrorMessage"]


class _NullClient:
    """A lambda client whose replies carry `"Operations": null`."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_durable_execution_state(self, **params: Any) -> dict[str, Any]:
        self.calls.append("state")
        if params.get("Marker") == "page-1":
            return {"Operations": None, "NextMarker": "page-2"}
        return {"Operations": [EXECUTION]}

    def checkpoint_durable_execution(self, **params: Any) -> dict[str, Any]:
        self.calls.append("checkpoint")
        return {"CheckpointToken": "t-next", "NewExecutionState": {"Operations": None}}


def test_lambda_service_reads_null_operations_in_replies_as_empty_pages() -> None:
    client = _NullClient()
    service = LambdaService(client)
    assert service.get_state(ARN, "t0", "page-1") == rt.ExecutionState(next_marker="page-2")
    reply = service.checkpoint(ARN, "t0", [])
    assert reply.checkpoint_token == "t-next"
    assert reply.new_execution_state.operations == []
    event = {
        "DurableExecutionArn": ARN,
        "CheckpointToken": "t0",
        "InitialExecutionState": {"Operations": None, "NextMarker": "page-1"},
    }
    output = lambda_handler(doubled, service=service)(event, None)
    assert output == {"Status": "SUCCEEDED", "Result": '{"twice":8}'}


# -- through AWS's emulator, compared with the embedded engine ------------------------------


@pytest.fixture(scope="module")
def emu(lambda_endpoint_server: LambdaEndpoint) -> Iterator[Emulator]:
    pytest.importorskip("aws_durable_execution_sdk_python_testing")
    with Emulator(
        lambda_endpoint_server.url,
        skip_time=True,
        retry_backoff_seconds=0.1,
        function_configs={"square": {}},
    ) as emulator:
        yield emulator
        emulator.stop_unfinished()


@pytest.mark.parametrize(
    "mode, payload_format", [("step", "json"), ("batch", "aws"), ("eager", "aws")]
)
@pytest.mark.parametrize("case", sorted(spread.CASES))
def test_the_spread_ends_on_the_emulator_as_on_the_engine(
    emu: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    case: str,
    mode: str,
    payload_format: str,
) -> None:
    workflow, value = spread.CASES[case]
    expected = spread.engine_outcome(workflow, value, payload_format)
    spread._calls.clear()
    lambda_endpoint.register("square", lambda event, _context: event * event)
    deploy(
        emu, lambda_endpoint, function_name, workflow,
        checkpointing=mode, payload_format=payload_format,
    )  # fmt: skip
    outcome = emu.wait(emu.start(function_name, value), timeout=60)
    if expected[0] == "SUCCEEDED":
        assert (outcome.status, outcome.json()) == expected, outcome
    else:
        assert outcome.status == "FAILED", outcome
        assert outcome.error is not None and outcome.error["ErrorType"] == expected[1]


# -- the round-9 interop shapes, AWS's SDK and durable_gen taking turns on the emulator -------


@pytest.mark.parametrize("rhythm", [["aws", "ours"], ["ours", "aws"]])
@pytest.mark.parametrize("name", sorted(interop.CASES) if interop is not None else [])
def test_the_interop_shapes_change_hands_on_the_emulator_each_invocation(
    emu: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    name: str,
    rhythm: list[str],
) -> None:
    from aws_durable_execution_sdk_python.execution import durable_execution

    assert interop is not None
    case = interop.CASES[name]
    sdks = {
        "aws": durable_execution(boto3_client=emu.client)(case.aws),
        "ours": lambda_handler(case.port, client=emu.client, payload_format="aws"),
    }
    ran: list[str] = []

    def handler(event: Any, context: Any) -> Any:
        sdk = rhythm[len(ran) % len(rhythm)]
        ran.append(sdk)
        return sdks[sdk](event, context)

    lambda_endpoint.register(function_name, settle_pending(handler))
    outcome = emu.wait(emu.start(function_name, case.input), timeout=60)
    assert outcome.status == "SUCCEEDED", (outcome, ran)
    assert outcome.json() == interop.EXPECTED[name]
    if name in ("big_map_result", "empty_batches", "odd_values", "parallel_first_success"):
        assert len(ran) == 1, ran  # nothing waits (the race is decided without its slow branch)
    else:
        assert set(ran) == {"aws", "ours"}, ran


# -- an execution started without a payload (docs/migration.md: None, where AWS's SDK gives {})


@pytest.mark.parametrize(
    "details", [None, {}, {"InputPayload": None}, {"InputPayload": ""}], ids=str
)
def test_an_execution_without_input_hands_the_workflow_none_and_the_port_idiom_works(
    details: dict[str, Any] | None,
) -> None:
    seen: list[Any] = []

    def port(event: Any):  # type: ignore[no-untyped-def]
        seen.append(event)
        event = event or {}  # the port's idiom, docs/migration.md
        return (yield dg.Step(lambda: event.get("k", "default"), name="k"))

    execution = {key: value for key, value in EXECUTION.items() if key != "ExecutionDetails"}
    if details is not None:
        execution["ExecutionDetails"] = details
    service = PagedService([execution])
    event = {
        "DurableExecutionArn": ARN,
        "CheckpointToken": "t0",
        "InitialExecutionState": {"Operations": [execution]},
    }
    output = lambda_handler(port, service=service)(event, None)
    assert output == {"Status": "SUCCEEDED", "Result": '"default"'}
    assert seen == [None]


@pytest.mark.parametrize("name", sorted(interop.CASES) if interop is not None else [])
def test_what_aws_sdk_records_on_the_emulator_replays_on_the_port_and_matches_its_own_record(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, name: str
) -> None:
    """AWS's SDK runs the case on the emulator; its history (every page, through boto3)
    replays on the port; the port run on the emulator records the same operation events."""
    from aws_durable_execution_sdk_python.execution import durable_execution

    from durable_gen.testing import replay

    assert interop is not None
    case = interop.CASES[name]
    aws = durable_execution(boto3_client=emu.client)(case.aws)
    lambda_endpoint.register(function_name, settle_pending(aws))
    aws_arn = emu.start(function_name, case.input)
    assert emu.wait(aws_arn, timeout=60).json() == interop.EXPECTED[name]
    aws_events = emu.history(aws_arn)
    report = replay(case.port, {"Events": aws_events})
    assert report.status == "ok", report.message
    assert report.result == interop.EXPECTED[name]

    ours = lambda_handler(case.port, client=emu.client, payload_format="aws")
    lambda_endpoint.register(function_name, settle_pending(ours))
    our_arn = emu.start(function_name, case.input)
    assert emu.wait(our_arn, timeout=60).json() == interop.EXPECTED[name]
    our_events = emu.history(our_arn)
    if name in ("big_map_result", "parallel_first_success"):  # items run side by side, so
        # their events interleave in any order
        assert sorted(op_events(our_events)) == sorted(op_events(aws_events))
    else:
        assert op_events(our_events) == op_events(aws_events)


# -- an at-most-once step due when the invocation has no time left (docs/guide.md) ----------


class _NoTimeLeft:
    def get_remaining_time_in_millis(self) -> int:
        return 300  # less than the 0.5 s kept back to record an outcome


class _RecordingService(PagedService):
    def __init__(self, operations: list[dict[str, Any]]) -> None:
        super().__init__(operations)
        self.sent: list[list[tuple[str, str | None, str | None]]] = []

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Any
    ) -> rt.CheckpointResponse:
        self.sent.append(
            [(u.action, u.name, u.error.error_type if u.error else None) for u in updates]
        )
        return super().checkpoint(execution_arn, checkpoint_token, updates)


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_an_at_most_once_step_with_no_time_left_is_recorded_ended_not_interrupted(
    mode: str,
) -> None:
    ran: list[int] = []

    def once(_: Any):  # type: ignore[no-untyped-def]
        return (
            yield dg.Step(
                lambda: ran.append(1), name="once", semantics=dg.AT_MOST_ONCE, retry=dg.Retry()
            )
        )

    service = _RecordingService([EXECUTION])
    event = {
        "DurableExecutionArn": ARN,
        "CheckpointToken": "t0",
        "InitialExecutionState": {"Operations": [EXECUTION]},
    }
    output = lambda_handler(once, service=service, checkpointing=mode)(event, _NoTimeLeft())
    assert output == {"Status": "PENDING"}
    assert ran == []
    assert service.sent == [[("START", "once", None)], [("RETRY", "once", "StepTimeoutError")]]
    step = next(op for op in service.store.values() if op.type == "STEP")
    assert step.status == "PENDING"  # a retry timer, not an attempt left STARTED


# -- region= given with a client= made for another region ---------------------------------


def _client_for(region: str) -> Any:
    import boto3

    return boto3.client(
        "lambda", region_name=region, aws_access_key_id="k", aws_secret_access_key="s"
    )


@pytest.mark.parametrize("where", ["lambda_handler", "LambdaService"])
def test_a_region_that_disagrees_with_the_client_given_is_refused_where_built(where: str) -> None:
    build = {
        "lambda_handler": lambda **kw: lambda_handler(doubled, **kw),
        "LambdaService": lambda **kw: LambdaService(**kw),
    }[where]
    with pytest.raises(dg.ValidationError, match=r"region='eu-west-1'.*made for 'us-east-1'"):
        build(client=_client_for("us-east-1"), region="eu-west-1")
    build(client=_client_for("us-east-1"), region="us-east-1")  # the same region: accepted
    build(client=_client_for("us-east-1"))


# -- the event handed over as its JSON text ----------------------------------------------


@pytest.mark.parametrize("encode", [str, str.encode], ids=["str", "bytes"])
def test_an_event_given_as_its_json_text_says_to_decode_it(encode: Any) -> None:
    import json

    event = {
        "DurableExecutionArn": ARN,
        "CheckpointToken": "t0",
        "InitialExecutionState": {"Operations": [EXECUTION]},
    }
    service = PagedService([EXECUTION])
    output = lambda_handler(doubled, service=service)(encode(json.dumps(event)), None)
    assert output["Status"] == "FAILED"
    message = output["Error"]["ErrorMessage"]
    assert "JSON text of a durable-execution invocation" in message
    assert "json.loads" in message and "DurableConfig" not in message
    assert [op.type for op in service.store.values()] == ["EXECUTION"]  # nothing recorded
