"""durable_gen workflows on the emulator through ``durable_gen.aws.lambda_handler``: steps and
retries, waits, child contexts, Map and Parallel, large child results, checkpointing modes,
failures and limits. Every checkpoint is real boto3 traffic; ``--skip-time`` makes waits and
retry delays fire at once while the history keeps their modelled durations."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

import durable_gen as dg
from durable_gen._wire import MAX_ERROR_BYTES, MAX_PAYLOAD_BYTES
from durable_gen.aws import lambda_handler

try:
    from .emulator import Emulator, LambdaEndpoint
    from .lambda_support import (
        Counter,
        by_type,
        deploy,
        op_events,
        operation_id,
        run_workflow,
        without_invocations,
    )
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]
    from lambda_support import (  # type: ignore[no-redef]
        Counter,
        by_type,
        deploy,
        op_events,
        operation_id,
        run_workflow,
        without_invocations,
    )


@pytest.fixture
def emu(emulator_skip_time: Emulator) -> Emulator:
    return emulator_skip_time


# --- steps ----------------------------------------------------------------------------------


def test_a_step_is_retried_with_backoff_then_succeeds(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    calls = Counter()

    @dg.step(retry=dg.Retry(max_attempts=3, initial_delay=30, backoff=2, jitter="none"))
    def reserve(sku: str) -> str:
        if calls("reserve") < 3:
            raise ConnectionError("warehouse busy")
        return f"reserved:{sku}"

    def order(payload: dict[str, str]) -> Any:
        return (yield reserve(payload["sku"]))

    arn, outcome = run_workflow(emu, lambda_endpoint, function_name, order, {"sku": "book"})

    assert outcome == ("SUCCEEDED", '"reserved:book"', None)
    assert calls["reserve"] == 3
    events = emu.history(arn)
    assert op_events(events) == [
        ("StepStarted", "reserve", "Step"),
        ("StepFailed", "reserve", "Step"),
        ("StepStarted", "reserve", "Step"),
        ("StepFailed", "reserve", "Step"),
        ("StepStarted", "reserve", "Step"),
        ("StepSucceeded", "reserve", "Step"),
    ]
    step_id = operation_id(None, 1)
    assert {e["Id"] for e in without_invocations(events)[1:-1]} == {step_id}
    assert all("ParentId" not in e for e in events)
    failures = by_type(events, "StepFailed")
    assert [f["StepFailedDetails"]["RetryDetails"] for f in failures] == [
        {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 30},
        {"CurrentAttempt": 2, "NextAttemptDelaySeconds": 60},
    ]
    assert failures[0]["StepFailedDetails"]["Error"]["Payload"]["ErrorType"] == "ConnectionError"
    assert by_type(events, "StepSucceeded")[0]["StepSucceededDetails"]["Result"]["Payload"] == (
        '"reserved:book"'
    )
    # Each retry delay ends the invocation; the service invokes again when it is over.
    responses = [i.response for i in lambda_endpoint.invocations_for(arn)]
    assert responses == [{"Status": "PENDING"}, {"Status": "PENDING"}, outcome_output(outcome)]


def outcome_output(outcome: Any) -> dict[str, Any]:
    return {"Status": "SUCCEEDED", "Result": outcome.result}


def test_a_step_that_keeps_failing_raises_into_the_workflow(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    @dg.step(retry=dg.Retry(max_attempts=2, initial_delay=5))
    def charge(amount: int) -> str:
        raise ValueError(f"card declined for {amount}")

    def order(payload: dict[str, int]) -> Any:
        try:
            yield charge(payload["amount"])
        except dg.StepFailedError as exc:
            return {"declined": exc.error_message, "type": exc.error_type}
        return {"declined": None}

    arn, outcome = run_workflow(emu, lambda_endpoint, function_name, order, {"amount": 7})
    assert outcome.status == "SUCCEEDED"
    assert outcome.json() == {"declined": "card declined for 7", "type": "ValueError"}
    assert [t for t, _, _ in op_events(emu.history(arn))] == [
        "StepStarted",
        "StepFailed",
        "StepStarted",
        "StepFailed",
    ]


def test_an_uncaught_failure_fails_the_execution_in_one_invocation(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    def order(payload: dict[str, Any]) -> Any:
        yield dg.Step(lambda: 1, name="validate")
        raise ValueError(f"order {payload['id']} has no items")

    arn, outcome = run_workflow(emu, lambda_endpoint, function_name, order, {"id": "o-9"})
    assert outcome.status == "FAILED"
    assert outcome.error is not None
    assert outcome.error["ErrorType"] == "ValueError"
    assert outcome.error["ErrorMessage"] == "order o-9 has no items"
    [invocation] = lambda_endpoint.invocations_for(arn)
    assert invocation.response is not None and invocation.response["Status"] == "FAILED"
    assert emu.event_types(arn)[-1] == "ExecutionFailed"


# --- waits ----------------------------------------------------------------------------------


def test_a_wait_suspends_and_resumes_in_a_new_invocation(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    def reminder(payload: dict[str, str]) -> Any:
        yield dg.Wait(seconds=3600, name="cool-off")
        return f"reminded {payload['user']}"

    arn, outcome = run_workflow(emu, lambda_endpoint, function_name, reminder, {"user": "ada"})
    assert outcome == ("SUCCEEDED", '"reminded ada"', None)
    events = emu.history(arn)
    assert op_events(events) == [
        ("WaitStarted", "cool-off", "Wait"),
        ("WaitSucceeded", "cool-off", "Wait"),
    ]
    [started] = by_type(events, "WaitStarted")
    assert started["WaitStartedDetails"]["Duration"] == 3600
    scheduled = started["WaitStartedDetails"]["ScheduledEndTimestamp"]
    assert scheduled - started["EventTimestamp"] == timedelta(hours=1)
    first, second = lambda_endpoint.invocations_for(arn)
    assert first.response == {"Status": "PENDING"}
    assert second.event["UpdatedOperationIds"] == [operation_id(None, 1)]


# --- child contexts, Map, Parallel ------------------------------------------------------------


def pack(order_id: str) -> Any:
    box = yield dg.Step(lambda: f"box:{order_id}", name="box")
    label = yield dg.Step(lambda: f"label:{order_id}", name="label")
    return [box, label]


def test_a_child_context_has_its_own_ids_and_parent(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    def order(payload: dict[str, str]) -> Any:
        yield dg.Step(lambda: "ok", name="validate")
        return (yield dg.Child(pack, (payload["id"],), name="pack"))

    arn, outcome = run_workflow(emu, lambda_endpoint, function_name, order, {"id": "o-1"})
    assert outcome.json() == ["box:o-1", "label:o-1"]
    events = without_invocations(emu.history(arn))[1:-1]
    ctx = operation_id(None, 2)
    assert [
        (e["EventType"], e["Name"], e["SubType"], e["Id"], e.get("ParentId")) for e in events
    ] == [
        ("StepStarted", "validate", "Step", operation_id(None, 1), None),
        ("StepSucceeded", "validate", "Step", operation_id(None, 1), None),
        ("ContextStarted", "pack", "RunInChildContext", ctx, None),
        ("StepStarted", "box", "Step", operation_id(ctx, 1), ctx),
        ("StepSucceeded", "box", "Step", operation_id(ctx, 1), ctx),
        ("StepStarted", "label", "Step", operation_id(ctx, 2), ctx),
        ("StepSucceeded", "label", "Step", operation_id(ctx, 2), ctx),
        ("ContextSucceeded", "pack", "RunInChildContext", ctx, None),
    ]
    succeeded = events[-1]["ContextSucceededDetails"]["Result"]["Payload"]
    assert json.loads(succeeded) == ["box:o-1", "label:o-1"]


def ship(item: str, index: int) -> Any:
    return (yield dg.Step(lambda: f"{item}#{index}", name="ship-one"))


def email() -> str:
    return "emailed"


def sms() -> str:
    return "texted"


def test_map_and_parallel_record_one_context_per_item(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    def order(payload: dict[str, list[str]]) -> Any:
        shipped = yield dg.Map(
            ship,
            payload["items"],
            name="ship",
            max_concurrency=2,
            item_namer=lambda item, i: f"ship-{item}",
        )
        told = yield dg.Parallel(
            [dg.Branch(email, name="email"), dg.Branch(sms, name="sms")], name="notify"
        )
        return {
            "shipped": shipped.results(),
            "told": told.results(),
            "reason": shipped.completion_reason,
        }

    items = ["book", "pen", "mug"]
    arn, outcome = run_workflow(emu, lambda_endpoint, function_name, order, {"items": items})
    assert outcome.json() == {
        "shipped": ["book#0", "pen#1", "mug#2"],
        "told": ["emailed", "texted"],
        "reason": "ALL_COMPLETED",
    }
    events = without_invocations(emu.history(arn))
    map_id, par_id = operation_id(None, 1), operation_id(None, 2)
    iterations = {
        e["Id"]: e for e in by_type(events, "ContextStarted") if e["SubType"] == "MapIteration"
    }
    assert set(iterations) == {operation_id(map_id, i) for i in range(3)}  # 0-based
    for i, item in enumerate(items):
        started = iterations[operation_id(map_id, i)]
        assert (started["Name"], started["ParentId"]) == (f"ship-{item}", map_id)
    steps = [e for e in by_type(events, "StepSucceeded") if e["Name"] == "ship-one"]
    assert sorted(e["ParentId"] for e in steps) == sorted(iterations)
    assert {e["Id"] for e in steps} == {operation_id(operation_id(map_id, i), 1) for i in range(3)}
    branches = [e for e in by_type(events, "ContextStarted") if e["SubType"] == "ParallelBranch"]
    assert [(b["Name"], b["ParentId"], b["Id"]) for b in branches] == [
        ("email", par_id, operation_id(par_id, 0)),
        ("sms", par_id, operation_id(par_id, 1)),
    ]
    batches = [
        (e["EventType"], e["Name"], e["SubType"]) for e in events[1:-1] if "ParentId" not in e
    ]
    assert batches == [
        ("ContextStarted", "ship", "Map"),
        ("ContextSucceeded", "ship", "Map"),
        ("ContextStarted", "notify", "Parallel"),
        ("ContextSucceeded", "notify", "Parallel"),
    ]


def test_map_failures_within_tolerance_are_reported_in_the_batch(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    def check(n: int) -> int:
        if n % 2:
            raise ValueError(f"odd: {n}")
        return n

    def audit(payload: list[int]) -> Any:
        batch = yield dg.Map(
            check,
            payload,
            name="audit",
            completion=dg.Completion(tolerated_failure_count=2),
        )
        return {
            "ok": batch.results(),
            "errors": [e.error_message for e in batch.errors()],
            "reason": batch.completion_reason,
        }

    arn, outcome = run_workflow(emu, lambda_endpoint, function_name, audit, [2, 3, 4, 5])
    assert outcome.json() == {
        "ok": [2, 4],
        "errors": ["odd: 3", "odd: 5"],
        "reason": "ALL_COMPLETED",
    }
    failed = by_type(emu.history(arn), "ContextFailed")
    assert sorted(e["Name"] for e in failed) == ["map-item-1", "map-item-3"]
    assert {e["SubType"] for e in failed} == {"MapIteration"}


def test_a_child_result_over_256_kib_is_rebuilt_from_its_children(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    calls = Counter()

    def chunk() -> str:
        calls("chunk")
        return "x" * 1024

    def report(copies: int) -> Any:
        part = yield dg.Step(chunk, name="chunk")
        return part * copies  # 300 KiB

    def export(payload: dict[str, int]) -> Any:
        data = yield dg.Child(report, (payload["copies"],), name="report")
        yield dg.Wait(seconds=60, name="later")  # the next invocation replays the child
        return {"size": len(data), "head": data[:3]}

    arn, outcome = run_workflow(emu, lambda_endpoint, function_name, export, {"copies": 300})
    assert outcome.json() == {"size": 300 * 1024, "head": "xxx"}
    assert calls["chunk"] == 1
    [done] = by_type(emu.history(arn), "ContextSucceeded")
    assert done["Name"] == "report"
    assert done["ContextSucceededDetails"]["Result"]["Payload"] == ""
    replay = lambda_endpoint.invocations_for(arn)[-1].event["InitialExecutionState"]
    ctx = next(op for op in replay["Operations"] if op["Id"] == operation_id(None, 1))
    assert ctx["ContextDetails"] == {"Result": "", "ReplayChildren": True}


# --- checkpointing modes ----------------------------------------------------------------------


def fulfil(payload: dict[str, list[str]]) -> Any:
    total = yield dg.Step(lambda: len(payload["items"]), name="count")
    labels = yield dg.Map(lambda item: f"label:{item}", payload["items"], name="labels")
    yield dg.Wait(seconds=5, name="settle")
    receipt = yield dg.Step(lambda: f"receipt:{total}", name="receipt")
    return {"labels": labels.results(), "receipt": receipt}


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_every_checkpointing_mode_records_the_same_history(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, mode: str
) -> None:
    client = emu.new_client()
    sent: list[int] = []  # updates per CheckpointDurableExecution call
    client.meta.events.register(
        "before-parameter-build.lambda.CheckpointDurableExecution",
        lambda params, **_: sent.append(len(params["Updates"])),
    )
    arn, outcome = run_workflow(
        emu,
        lambda_endpoint,
        function_name,
        fulfil,
        {"items": ["a", "b"]},
        client=client,
        checkpointing=mode,
    )
    client.close()
    assert outcome.json() == {"labels": ["label:a", "label:b"], "receipt": "receipt:2"}
    assert sorted(op_events(emu.history(arn)), key=str) == sorted(
        [
            ("StepStarted", "count", "Step"),
            ("StepSucceeded", "count", "Step"),
            ("ContextStarted", "labels", "Map"),
            ("ContextSucceeded", "labels", "Map"),
            *[("ContextStarted", f"map-item-{i}", "MapIteration") for i in range(2)],
            *[("ContextSucceeded", f"map-item-{i}", "MapIteration") for i in range(2)],
            *[("StepStarted", None, "Step")] * 2,
            *[("StepSucceeded", None, "Step")] * 2,
            ("WaitStarted", "settle", "Wait"),
            ("WaitSucceeded", "settle", "Wait"),
            ("StepStarted", "receipt", "Step"),
            ("StepSucceeded", "receipt", "Step"),
        ],
        key=str,
    )
    # The same 15 updates each time; the mode decides how many calls carry them.
    assert sum(sent) == 15
    # step: one per step outcome (map items in parallel may share one); eager: every START
    # confirmed first; batch: one per invocation (it suspends once, then ends).
    # (the two Map items run concurrently: their outcomes may share a checkpoint).
    assert len(sent) in {"step": (3, 4, 5), "eager": (5, 6, 7), "batch": (2,)}[mode]


def many_steps(n: int) -> Any:
    total = 0
    for i in range(n):
        total = yield dg.Step(lambda t=total, i=i: t + i, name=f"add-{i}")
    return total


def test_a_batch_of_more_than_250_updates_reaches_the_service_in_several_calls(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    client = emu.new_client()
    sent: list[int] = []  # updates per CheckpointDurableExecution call
    client.meta.events.register(
        "before-parameter-build.lambda.CheckpointDurableExecution",
        lambda params, **_: sent.append(len(params["Updates"])),
    )
    arn, outcome = run_workflow(
        emu, lambda_endpoint, function_name, many_steps, 300, client=client, checkpointing="batch"
    )
    client.close()
    assert outcome.json() == sum(range(300))
    assert sent == [250, 250, 100]  # 600 updates (START and SUCCEED of 300 steps), in order
    succeeded = [e for e in emu.history(arn) if e["EventType"] == "StepSucceeded"]
    assert [e["Name"] for e in succeeded] == [f"add-{i}" for i in range(300)]


# --- what the handler does with failures that are not the workflow's ---------------------------


def test_a_changed_workflow_fails_with_non_determinism(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    deployed = {"version": 1}

    def order(_: Any) -> Any:
        if deployed["version"] == 1:
            yield dg.Step(lambda: 1, name="charge-v1")
            deployed["version"] = 2  # a redeploy while the execution waits
        else:
            yield dg.Step(lambda: 1, name="charge-v2")
        yield dg.Wait(seconds=10, name="pause")
        return "done"

    arn, outcome = run_workflow(emu, lambda_endpoint, function_name, order)
    assert outcome.status == "FAILED"
    assert outcome.error is not None
    assert outcome.error["ErrorType"] == "NonDeterminismError"
    assert "charge-v1" in outcome.error["ErrorMessage"]
    assert "charge-v2" in outcome.error["ErrorMessage"]
    assert len(lambda_endpoint.invocations_for(arn)) == 2


def _step_result_too_large(_: Any) -> Any:
    return (yield dg.Step(lambda: "x" * (MAX_PAYLOAD_BYTES + 1), name="export"))


def _result_too_large(_: Any) -> Any:
    yield dg.Step(lambda: 1, name="prepare")
    return "y" * (MAX_PAYLOAD_BYTES + 1)


def _error_too_large(_: Any) -> Any:
    yield dg.Step(lambda: 1, name="prepare")
    raise dg.StepFailedError("m" * 50_000, error_type="Huge", error_data="d" * 50_000)


@pytest.mark.parametrize(
    ("workflow", "error_type", "needle"),
    [
        (_step_result_too_large, "PayloadTooLargeError", "the result of step 'export'"),
        (_result_too_large, "PayloadTooLargeError", "the workflow result"),
        (_error_too_large, "Huge", "truncated to fit the 32 KiB error limit"),
    ],
    ids=["step-result", "workflow-result", "error"],
)
def test_limits_fail_the_execution_with_a_clear_error(
    emu: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    workflow: Any,
    error_type: str,
    needle: str,
) -> None:
    arn, outcome = run_workflow(emu, lambda_endpoint, function_name, workflow)
    assert outcome.status == "FAILED"
    assert outcome.error is not None
    assert outcome.error["ErrorType"] == error_type
    assert needle in outcome.error["ErrorMessage"]
    assert len(json.dumps(outcome.error).encode()) <= MAX_ERROR_BYTES
    [invocation] = lambda_endpoint.invocations_for(arn)  # decided at once, never stuck PENDING
    assert invocation.function_error is None


def test_the_handler_builds_its_own_client_from_the_environment(
    emu: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in emu.client_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    handler = deploy(emu, lambda_endpoint, function_name, pack, client=None)
    arn = emu.start(function_name, "o-7")
    assert emu.wait(arn, timeout=15).json() == ["box:o-7", "label:o-7"]
    assert handler.service.client.meta.endpoint_url == emu.url  # type: ignore[attr-defined]


def test_a_plain_invoke_gets_failed_not_an_error_to_retry(
    lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    import boto3

    # No client: the handler never reaches the service for such an event.
    lambda_endpoint.register(function_name, lambda_handler(pack))
    client = boto3.session.Session().client(
        "lambda",
        endpoint_url=lambda_endpoint.url,
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    response = client.invoke(FunctionName=function_name, Payload=json.dumps({"orderId": "o-1"}))
    client.close()
    assert "FunctionError" not in response
    output = json.loads(response["Payload"].read())
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == "InvalidInputError"
    assert (
        "has no DurableExecutionArn, CheckpointToken, InitialExecutionState"
        in (output["Error"]["ErrorMessage"])
    )
