"""Taking over a running execution, as docs/migration.md describes it: an execution started by a
handler of AWS's Python SDK suspends on a callback, the function's code is switched to the
durable_gen port, and the port finishes it; the replay check judges the history before and
after. And back: an execution durable_gen advanced with ``payload_format="aws"`` is finished by
AWS's SDK."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.aws import lambda_handler
from durable_gen.testing import replay

aws = pytest.importorskip("aws_durable_execution_sdk_python")
from aws_durable_execution_sdk_python import (  # noqa: E402
    DurableContext,
    StepContext,
    durable_execution,
    durable_step,
)
from aws_durable_execution_sdk_python.config import Duration  # noqa: E402

try:
    from .emulator import Emulator, LambdaEndpoint
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]

ORDER = {"id": "o-1", "items": ["desk", "lamp"]}
APPROVED = json.dumps({"approved": True}).encode()
EXPECTED = {
    "reservation": {"id": "r-o-1", "count": 2},
    "approved": True,
    "labels": ["label:desk", "label:lamp"],
}


# --- AWS's SDK ----------------------------------------------------------------------------------


@durable_step
def reserve(_: StepContext, order_id: str, count: int) -> dict[str, Any]:
    return {"id": f"r-{order_id}", "count": count}


def _submit(callback_id: str, _ctx: Any) -> None:
    return None


def aws_order(event: Any, ctx: DurableContext) -> Any:
    reservation = ctx.step(reserve(event["id"], len(event["items"])))
    decision = json.loads(ctx.wait_for_callback(_submit, name="approval"))
    labels = ctx.map(
        event["items"],
        lambda c, item, i, _: c.step(lambda _: f"label:{item}", name="print"),
        name="labels",
    )
    return {
        "reservation": reservation,
        "approved": decision["approved"],
        "labels": labels.get_results(),
    }


# --- its durable_gen port (docs/migration.md, section 2) ------------------------------------------


@dg.step(name="reserve")
def reserve_port(order_id: str, count: int) -> dict[str, Any]:
    return {"id": f"r-{order_id}", "count": count}


def submit(callback_id: str) -> None:
    return None


def label(item: str, index: int) -> Any:
    return (yield dg.Step(lambda: f"label:{item}", name="print"))


@dg.workflow
def order_port(event: Any) -> Any:
    reservation = yield reserve_port(event["id"], len(event["items"]))
    decision = yield dg.WaitForCallback(submit, name="approval")
    if isinstance(decision, str):  # completed by AWS's SDK before the switch
        decision = json.loads(decision)
    labels = yield dg.Map(label, event["items"], name="labels")
    return {
        "reservation": reservation,
        "approved": decision["approved"],
        "labels": labels.get_results(),
    }


def _suspended_on_the_callback(emulator: Emulator, arn: str) -> str:
    callback_id = emulator.callback_id(arn, timeout=10)
    deadline = time.monotonic() + 5
    while not any(e["EventType"] == "InvocationCompleted" for e in emulator.history(arn)):
        assert time.monotonic() < deadline, "the first invocation did not end"
        time.sleep(0.05)
    return callback_id


def test_the_port_takes_over_an_execution_aws_sdk_started(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    lambda_endpoint.register(
        function_name, durable_execution(boto3_client=emulator.client)(aws_order)
    )
    arn = emulator.start(function_name, ORDER)
    callback_id = _suspended_on_the_callback(emulator, arn)

    before = replay(order_port, {"Events": emulator.history(arn)})
    assert before.status == "ok" and before.outcome == "suspended", before

    lambda_endpoint.register(function_name, lambda_handler(order_port, client=emulator.client))
    emulator.client.send_durable_execution_callback_success(CallbackId=callback_id, Result=APPROVED)
    outcome = emulator.wait(arn)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == EXPECTED

    after = replay(order_port, {"Events": emulator.history(arn)})
    assert after.status == "ok" and after.result == EXPECTED, after


def test_aws_sdk_finishes_an_execution_the_port_advanced_in_aws_format(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    lambda_endpoint.register(
        function_name, lambda_handler(order_port, client=emulator.client, payload_format="aws")
    )
    arn = emulator.start(function_name, ORDER)
    callback_id = _suspended_on_the_callback(emulator, arn)

    lambda_endpoint.register(
        function_name, durable_execution(boto3_client=emulator.client)(aws_order)
    )
    emulator.client.send_durable_execution_callback_success(CallbackId=callback_id, Result=APPROVED)
    outcome = emulator.wait(arn)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == EXPECTED


# --- non-finite floats ------------------------------------------------------------------------


def aws_limits(event: Any, ctx: DurableContext) -> Any:
    limit = ctx.step(lambda _: float("inf"), name="limit")
    stats = ctx.step(lambda _: {"ratio": float("nan"), "low": -float("inf")}, name="stats")
    ctx.wait(Duration.from_seconds(1), name="pause")
    return {"limit": repr(limit), "ratio": repr(stats["ratio"]), "low": repr(stats["low"])}


@dg.workflow
def limits_port(event: Any) -> Any:
    limit = yield dg.Step(lambda: float("inf"), name="limit")
    stats = yield dg.Step(lambda: {"ratio": float("nan"), "low": -float("inf")}, name="stats")
    yield dg.Wait(seconds=1, name="pause")
    return {"limit": repr(limit), "ratio": repr(stats["ratio"]), "low": repr(stats["low"])}


def test_the_port_takes_over_step_results_aws_sdk_wrote_as_nan_and_infinity(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    """AWS's SDK records a float infinity as ``Infinity`` and NaN as ``NaN`` (Python's json
    module): the port reads them back as those floats instead of failing the execution."""
    lambda_endpoint.register(
        function_name, durable_execution(boto3_client=emulator.client)(aws_limits)
    )
    arn = emulator.start(function_name, {})
    deadline = time.monotonic() + 10
    while not any(e["EventType"] == "InvocationCompleted" for e in emulator.history(arn)):
        assert time.monotonic() < deadline, "the first invocation did not end"
        time.sleep(0.05)
    recorded = [
        e["StepSucceededDetails"]["Result"]["Payload"]
        for e in emulator.history(arn)
        if e["EventType"] == "StepSucceeded"
    ]
    assert recorded[0] == "Infinity" and "NaN" in recorded[1], recorded

    before = replay(limits_port, {"Events": emulator.history(arn)})
    assert before.status == "ok" and before.outcome == "suspended", before

    lambda_endpoint.register(function_name, lambda_handler(limits_port, client=emulator.client))
    outcome = emulator.wait(arn)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == {"limit": "inf", "ratio": "nan", "low": "-inf"}


# --- what cannot go back ------------------------------------------------------------------------


def aws_timed(event: Any, ctx: DurableContext) -> Any:
    started = ctx.step(lambda _: "2026-01-01T00:00:00+00:00", name="now")
    ctx.wait(Duration.from_seconds(1), name="pause")
    return {"started": started}


@dg.workflow
def timed_port(event: Any) -> Any:
    if (yield dg.Patched("timed-v2")):
        pass
    started = yield dg.Now(name="now")
    yield dg.Wait(seconds=1, name="pause")
    return {"started": started.isoformat()}


def test_an_execution_that_ran_now_cannot_go_back_to_aws_sdk(
    emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    """docs/migration.md, going back: AWS's SDK ignores a ``Patched`` marker but refuses the
    STEP of SubType ``Now`` that ``dg.Now()`` recorded where its code asks for a step."""
    lambda_endpoint.register(
        function_name, lambda_handler(timed_port, client=emulator.client, payload_format="aws")
    )
    arn = emulator.start(function_name, {})
    deadline = time.monotonic() + 10
    while not any(e["EventType"] == "InvocationCompleted" for e in emulator.history(arn)):
        assert time.monotonic() < deadline, "the first invocation did not end"
        time.sleep(0.05)

    lambda_endpoint.register(
        function_name, durable_execution(boto3_client=emulator.client)(aws_timed)
    )
    outcome = emulator.wait(arn)
    assert outcome.status == "FAILED", outcome
    assert outcome.error is not None
    assert outcome.error["ErrorType"].endswith("NonDeterministicExecutionError"), outcome
    assert "'Now'" in outcome.error["ErrorMessage"], outcome


# --- flat Map and Parallel, both ways ----------------------------------------------------------


def _aws_flat_item(c: DurableContext, item: int, index: int, _items: Any) -> Any:
    value = c.step(lambda _: {"v": item * 10}, name="work")
    if item == 2:
        c.wait(Duration.from_seconds(1), name="nap")
    return value


def aws_flat(event: Any, ctx: DurableContext) -> Any:
    from aws_durable_execution_sdk_python.config import MapConfig, NestingType, ParallelConfig

    flat = NestingType.FLAT
    batch = ctx.map(
        [1, 2, 3],
        _aws_flat_item,
        name="flatmap",
        config=MapConfig(max_concurrency=1, nesting_type=flat),
    )
    pair = ctx.parallel(
        [lambda c: c.step(lambda _: "a", name="pa"), lambda c: c.step(lambda _: "b", name="pb")],
        name="flatpar",
        config=ParallelConfig(max_concurrency=1, nesting_type=flat),
    )
    return {"m": batch.get_results(), "p": pair.get_results()}


def _flat_item(item: int, index: int) -> Any:
    value = yield dg.Step(lambda: {"v": item * 10}, name="work")
    if item == 2:
        yield dg.Wait(seconds=1, name="nap")
    return value


def _pa() -> Any:
    return (yield dg.Step(lambda: "a", name="pa"))


def _pb() -> Any:
    return (yield dg.Step(lambda: "b", name="pb"))


@dg.workflow
def flat_port(event: Any) -> Any:
    batch = yield dg.Map(_flat_item, [1, 2, 3], name="flatmap", max_concurrency=1, nesting="flat")
    pair = yield dg.Parallel([_pa, _pb], name="flatpar", max_concurrency=1, nesting="flat")
    return {"m": batch.get_results(), "p": pair.get_results()}


@pytest.mark.parametrize("first", ["aws", "durable_gen"])
def test_a_flat_map_suspended_inside_an_item_changes_hands(
    first: str, emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    """docs/migration.md: ``nesting_type=NestingType.FLAT`` ports as ``nesting="flat"``, and an
    execution suspended inside a flat Map item is finished by the other SDK."""
    theirs = durable_execution(boto3_client=emulator.client)(aws_flat)
    ours = lambda_handler(flat_port, client=emulator.client, payload_format="aws")
    lambda_endpoint.register(function_name, theirs if first == "aws" else ours)
    arn = emulator.start(function_name, {})
    deadline = time.monotonic() + 10
    while not any(e["EventType"] == "InvocationCompleted" for e in emulator.history(arn)):
        assert time.monotonic() < deadline, "the first invocation did not end"
        time.sleep(0.05)
    lambda_endpoint.register(function_name, ours if first == "aws" else theirs)
    outcome = emulator.wait(arn)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == {"m": [{"v": 10}, {"v": 20}, {"v": 30}], "p": ["a", "b"]}
    after = replay(flat_port, {"Events": emulator.history(arn)})
    assert after.status == "ok" and after.result == outcome.json(), after


# --- a large Map result summarised after an early decision ------------------------------------

BIG = 150_000  # two items over the 256 KiB a context result may hold


def aws_two_of_four(flat: bool) -> Any:
    def body(event: Any, ctx: DurableContext) -> Any:
        from aws_durable_execution_sdk_python.config import (
            CompletionConfig,
            MapConfig,
            NestingType,
        )

        batch = ctx.map(
            [1, 2, 3, 4],
            lambda c, item, i, _: c.step(lambda _: str(item) * BIG, name="big"),
            name="bigmap",
            config=MapConfig(
                max_concurrency=1,
                completion_config=CompletionConfig(min_successful=2),
                nesting_type=NestingType.FLAT if flat else NestingType.NESTED,
            ),
        )
        ctx.wait(Duration.from_seconds(1), name="pause")
        return {
            "lengths": [len(r) for r in batch.get_results()],
            "reason": batch.completion_reason.value,
        }

    return body


def _big_item(item: int, index: int) -> Any:
    return (yield dg.Step(lambda: str(item) * BIG, name="big"))


def two_of_four_port(flat: bool) -> Any:
    @dg.workflow
    def port(event: Any) -> Any:
        batch = yield dg.Map(
            _big_item,
            [1, 2, 3, 4],
            name="bigmap",
            max_concurrency=1,
            completion=dg.Completion(min_successful=2),
            nesting="flat" if flat else "nested",
        )
        yield dg.Wait(seconds=1, name="pause")
        return {"lengths": [len(r) for r in batch.get_results()], "reason": batch.completion_reason}

    return port


@pytest.mark.parametrize("flat", [False, True], ids=["nested", "flat"])
@pytest.mark.parametrize("first", ["aws", "durable_gen"])
def test_a_large_map_result_summarised_after_an_early_decision_changes_hands(
    first: str, flat: bool, emulator: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    """A Map decided after 2 of its 4 items whose result is too large to record is kept as a
    summary. AWS's ``totalCount`` counts the items started, not the items (read so), and AWS's
    SDK rebuilds a flat batch only from its own summary (written so with ``"aws"``)."""
    port = two_of_four_port(flat)
    theirs = durable_execution(boto3_client=emulator.client)(aws_two_of_four(flat))
    ours = lambda_handler(port, client=emulator.client, payload_format="aws")
    lambda_endpoint.register(function_name, theirs if first == "aws" else ours)
    arn = emulator.start(function_name, {})
    deadline = time.monotonic() + 10
    while not any(e["EventType"] == "InvocationCompleted" for e in emulator.history(arn)):
        assert time.monotonic() < deadline, "the first invocation did not end"
        time.sleep(0.05)
    (summary,) = [
        json.loads(e["ContextSucceededDetails"]["Result"]["Payload"])
        for e in emulator.history(arn)
        if e["EventType"] == "ContextSucceeded" and e.get("Name") == "bigmap"
    ]
    assert summary["totalCount"] == 2, summary

    before = replay(port, {"Events": emulator.history(arn)})
    assert before.status == "ok" and before.outcome == "suspended", before

    lambda_endpoint.register(function_name, ours if first == "aws" else theirs)
    outcome = emulator.wait(arn)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == {"lengths": [BIG, BIG], "reason": "MIN_SUCCESSFUL_REACHED"}
