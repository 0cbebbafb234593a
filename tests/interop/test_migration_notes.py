"""Rows of docs/migration.md's port table that are easy to get wrong: steps reading the time, a
uuid or a random number stay steps; AWS's default retry preset is ``dg.Retry()``;
``get_results()`` is ported as ``results()``."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

import durable_gen as dg
from durable_gen._ids import operation_id
from durable_gen._wire import ErrorObject
from durable_gen.testing import replay

UUID_PAYLOAD = '{"t":"u","v":"12345678-1234-5678-1234-567812345678"}'


def _aws_recorded() -> dict[str, Any]:
    """What AWS's SDK records for ``ctx.step(lambda _: time.time(), name="now")``, a step
    returning a uuid, then a wait it is suspended on."""
    return {
        "Operations": [
            {
                "Id": "execution",
                "Type": "EXECUTION",
                "Status": "STARTED",
                "ExecutionDetails": {"InputPayload": "{}"},
            },
            {
                "Id": operation_id(None, 1),
                "Type": "STEP",
                "SubType": "Step",
                "Name": "now",
                "Status": "SUCCEEDED",
                "StepDetails": {"Attempt": 1, "Result": json.dumps(1767225600.25)},
            },
            {
                "Id": operation_id(None, 2),
                "Type": "STEP",
                "SubType": "Step",
                "Name": "id",
                "Status": "SUCCEEDED",
                "StepDetails": {"Attempt": 1, "Result": UUID_PAYLOAD},
            },
            {"Id": operation_id(None, 3), "Type": "WAIT", "SubType": "Wait", "Status": "STARTED"},
        ]
    }


@dg.workflow
def kept_as_steps(_event: Any):  # type: ignore[no-untyped-def]
    started = yield dg.Step(lambda: time.time(), name="now")
    ident = yield dg.Step(lambda: "unused", name="id")
    yield dg.Wait(seconds=60)
    return {"started": started, "id": str(ident)}


@dg.workflow
def ported_to_now(_event: Any):  # type: ignore[no-untyped-def]
    started = yield dg.Now(name="now")
    ident = yield dg.Step(lambda: "unused", name="id")
    yield dg.Wait(seconds=60)
    return {"started": started.isoformat(), "id": str(ident)}


@dg.workflow
def ported_to_uuid(_event: Any):  # type: ignore[no-untyped-def]
    started = yield dg.Step(lambda: time.time(), name="now")
    ident = yield dg.UUID()
    yield dg.Wait(seconds=60)
    return {"started": started, "id": str(ident)}


def test_steps_that_read_the_time_or_a_uuid_port_as_steps() -> None:
    report = replay(kept_as_steps, _aws_recorded())
    assert report.status == "ok" and report.outcome == "suspended", report


def test_now_in_place_of_a_recorded_step_diverges_naming_both() -> None:
    report = replay(ported_to_now, _aws_recorded())
    assert report.status == "diverged", report
    assert report.divergence is not None
    assert report.divergence.recorded == "STEP/Step name='now'"
    assert report.divergence.requested == "STEP/Now name='now'"


def test_uuid_in_place_of_a_recorded_step_diverges() -> None:
    report = replay(ported_to_uuid, _aws_recorded())
    assert report.status == "diverged", report
    assert report.divergence is not None
    assert report.divergence.recorded == "STEP/Step name='id'"


def _preset_config(strategy: Any) -> Any:
    """The ``RetryStrategyConfig`` an AWS retry strategy (a closure) was made from."""
    from aws_durable_execution_sdk_python.retries import RetryStrategyConfig

    cells = [cell.cell_contents for cell in strategy.__closure__ or ()]
    return next(c for c in cells if isinstance(c, RetryStrategyConfig))


def test_a_step_without_a_retry_strategy_ports_without_retry() -> None:
    """AWS's default retry preset has ``dg.Retry()``'s defaults; ``RetryStrategyConfig``'s own
    defaults do not, which is why the table says to give every field."""
    pytest.importorskip("aws_durable_execution_sdk_python")
    from aws_durable_execution_sdk_python.retries import RetryPresets, RetryStrategyConfig

    preset = _preset_config(RetryPresets.default())
    ours = dg.Retry()
    assert preset.max_attempts == ours.max_attempts
    assert preset.initial_delay.to_seconds() == ours.initial_delay
    assert preset.max_delay.to_seconds() == ours.max_delay
    assert preset.backoff_rate == ours.backoff
    assert preset.jitter_strategy.value.lower() == ours.jitter

    bare = RetryStrategyConfig()
    assert (bare.max_attempts, bare.max_delay.to_seconds()) != (ours.max_attempts, ours.max_delay)


def test_get_results_is_ported_as_results() -> None:
    """AWS's ``BatchResult.get_results()`` returns the results of the items that succeeded;
    durable_gen's raises when an item failed, so the port calls ``results()``."""
    pytest.importorskip("aws_durable_execution_sdk_python")
    from aws_durable_execution_sdk_python.concurrency.models import (
        BatchItem,
        BatchItemStatus,
        BatchResult,
        CompletionReason,
    )
    from aws_durable_execution_sdk_python.lambda_service import ErrorObject as AwsError

    theirs = BatchResult(
        all=[
            BatchItem(index=0, status=BatchItemStatus.SUCCEEDED, result=1),
            BatchItem(
                index=1,
                status=BatchItemStatus.FAILED,
                error=AwsError(message="three", type="ValueError", data=None, stack_trace=None),
            ),
        ],
        completion_reason=CompletionReason.ALL_COMPLETED,
    )
    ours = dg.BatchResult(
        items=[
            dg.BatchItem(index=0, status="SUCCEEDED", result=1),
            dg.BatchItem(index=1, status="FAILED", error=ErrorObject(error_type="ValueError")),
            dg.BatchItem(index=2, status="NOT_STARTED"),
        ],
        completion_reason="ALL_COMPLETED",
    )
    assert theirs.get_results() == ours.results() == [1]
    with pytest.raises(dg.BatchFailedError):
        ours.get_results()
    assert theirs.total_count == ours.success_count + ours.failure_count + ours.started_count


@pytest.mark.parametrize("details", [{}, {"InputPayload": ""}], ids=["absent", "empty"])
def test_an_execution_started_without_a_payload(details: dict[str, Any]) -> None:
    """migration.md, "Differences by design": AWS's SDK hands its code ``{}``, durable_gen
    ``None``; the documented ``event or {}`` ports it."""
    from durable_gen.aws import lambda_handler

    from .test_event_edges import Client, Context, event, execution_module

    ev = event()
    ev["InitialExecutionState"]["Operations"][0]["ExecutionDetails"] = details

    def ours(event: Any) -> Any:
        event = event or {}
        return [event, (yield dg.Step(lambda: event.get("order", "none"), name="s"))]

    def ours_unported(event: Any) -> Any:
        return event
        yield

    def theirs(event: Any, ctx: Any) -> Any:
        return [event, ctx.step(lambda _: event.get("order", "none"), name="s")]

    assert lambda_handler(ours_unported, client=Client({}))(ev, Context()) == {
        "Status": "SUCCEEDED",
        "Result": "null",
    }
    our_out = lambda_handler(ours, client=Client({}))(ev, Context())
    their_out = execution_module.durable_execution(boto3_client=Client({}))(theirs)(ev, Context())
    assert json.loads(our_out["Result"]) == json.loads(their_out["Result"]) == [{}, "none"]


def test_a_map_of_a_plain_function_names_its_steps_and_aws_code_must_too() -> None:
    """migration.md, "Names": the one exception to "a plain function leaves the operation
    unnamed". A Map item still retrying when the execution goes back to AWS's SDK replays
    there only if AWS's code names the step as durable_gen did."""
    from .test_sub_types import Service, ours, theirs

    calls: list[int] = []

    def tenfold(item: int, index: int) -> int:
        calls.append(item)
        if len(calls) == 1:
            raise ConnectionError("busy")
        return item * 10

    def port(_: Any) -> Any:
        batch = yield dg.Map(tenfold, [1], name="m")
        return batch.results()

    def aws(step_name: str | None) -> Any:
        def handler(_: Any, ctx: Any) -> Any:
            batch = ctx.map(
                [1], lambda c, x, i, _: c.step(lambda _: tenfold(x, i), name=step_name), name="m"
            )
            return batch.get_results()

        return handler

    service = Service()
    assert ours(port, service)["Status"] == "PENDING"  # the item's step waits for its retry
    service.answer_callbacks()  # the retry delay ends
    recorded = [op for op in service.ops.values() if op["Type"] != "EXECUTION"]
    assert [op.get("Name") for op in recorded if op["Type"] == "STEP"] == ["tenfold"]

    unnamed = theirs(aws(None), Service(recorded))
    assert unnamed["Status"] == "FAILED"
    assert "name checkpoint='tenfold' current=None" in unnamed["Error"]["ErrorMessage"]
    assert theirs(aws("tenfold"), Service(recorded)) == {"Status": "SUCCEEDED", "Result": "[10]"}
