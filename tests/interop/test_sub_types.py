"""Custom SubTypes, as AWS's Python SDK records them (``StepConfig``, ``ChildConfig``,
``CallbackConfig`` and ``WaitForCallbackConfig`` ``sub_type=``) and durable_gen does
(``sub_type=`` on ``Step``, ``@step``, ``Child``, ``CreateCallback``, ``WaitForCallback``).

Each workflow is written in both SDKs. Both handlers run the same invocations against a client
that keeps the operations as the service does; they must send the same updates (type, SubType,
name, parent), end the same way, and each must replay to its end what the other recorded,
without sending anything more.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Generator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.aws import lambda_handler

execution_module = pytest.importorskip("aws_durable_execution_sdk_python.execution")
config = pytest.importorskip("aws_durable_execution_sdk_python.config")
retries = pytest.importorskip("aws_durable_execution_sdk_python.retries")

ARN = "arn:aws:lambda:us-west-2:123456789012:function:f:1/durable-execution/x/e"
STATUS = {"START": "STARTED", "FAIL": "FAILED", "SUCCEED": "SUCCEEDED", "RETRY": "PENDING"}
DETAILS = {
    "STEP": "StepDetails",
    "CONTEXT": "ContextDetails",
    "CALLBACK": "CallbackDetails",
    "WAIT": "WaitDetails",
}
CALLBACK_RESULT = '{"ok": true}'


class Service:
    """The operations of one execution, changed by checkpoints as the service changes them;
    a created callback is answered with ``CALLBACK_RESULT`` before the next invocation."""

    def __init__(self, operations: list[dict[str, Any]] | None = None) -> None:
        self.ops: dict[str, dict[str, Any]] = {
            "e": {
                "Id": "e",
                "Type": "EXECUTION",
                "Status": "STARTED",
                "StartTimestamp": 1_000,
                "ExecutionDetails": {"InputPayload": "{}"},
            }
        }
        for op in operations or []:
            self.ops[op["Id"]] = copy.deepcopy(op)
        self.sent: list[tuple[str, str, str | None, str | None, str | None]] = []

    def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        changed = []
        for u in kwargs["Updates"]:
            self.sent.append(
                (u["Action"], u["Type"], u.get("SubType"), u.get("Name"), u.get("ParentId"))
            )
            if u["Type"] == "EXECUTION":
                continue
            op = self.ops.setdefault(
                u["Id"],
                {
                    "Id": u["Id"],
                    "Type": u["Type"],
                    "StartTimestamp": 1_001,
                    **{k: u[k] for k in ("Name", "SubType", "ParentId") if k in u},
                },
            )
            op["Status"] = STATUS[u["Action"]]
            details = op.setdefault(DETAILS[u["Type"]], {})
            if u["Type"] == "STEP" and u["Action"] != "START":
                details["Attempt"] = details.get("Attempt", 0) + 1
            if "Payload" in u:
                details["Result"] = u["Payload"]
            if "Error" in u:
                details["Error"] = u["Error"]
            if u["Type"] == "CALLBACK":
                details["CallbackId"] = "Y2Ix"
            changed.append(copy.deepcopy(op))
        return {
            "CheckpointToken": kwargs["CheckpointToken"] + "x",
            "NewExecutionState": {"Operations": changed},
        }

    def answer_callbacks(self) -> None:
        """What the service does before the next invocation: answer callbacks, end retry
        delays."""
        for op in self.ops.values():
            if op["Status"] == "PENDING" and op["Type"] == "STEP":
                op["Status"] = "READY"
            if op["Type"] == "CALLBACK" and op["Status"] == "STARTED":
                op["Status"] = "SUCCEEDED"
                op["CallbackDetails"]["Result"] = CALLBACK_RESULT

    def event(self) -> dict[str, Any]:
        return {
            "DurableExecutionArn": ARN,
            "CheckpointToken": "dDA=",
            "InitialExecutionState": {"Operations": copy.deepcopy(list(self.ops.values()))},
        }


class Context:
    aws_request_id = "r"
    function_name = "f"
    invoked_function_arn = "arn:aws:lambda:us-west-2:123456789012:function:f"
    memory_limit_in_mb = 128

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


# --- the workflows, each in both SDKs ---------------------------------------------------------


def dg_step(_: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Step(lambda: 7, name="s", sub_type="Fetch"))


def aws_step(_: Any, ctx: Any) -> Any:
    return ctx.step(lambda _: 7, name="s", config=config.StepConfig(sub_type="Fetch"))


@dg.step(sub_type="Fetch")
def fetch(n: int) -> int:
    return n + 1


def dg_step_function(_: Any) -> Generator[Any, Any, Any]:
    return [(yield fetch(1)), (yield dg.Step(fetch, (2,)))]


def aws_step_function(_: Any, ctx: Any) -> Any:
    fetch_config = config.StepConfig(sub_type="Fetch")
    return [
        ctx.step(lambda _: 2, name="fetch", config=fetch_config),
        ctx.step(lambda _: 3, name="fetch", config=fetch_config),
    ]


FAILED_ONCE: set[str] = set()


def flaky() -> int:
    """Fails the first time it is called in an execution (``FAILED_ONCE`` is cleared before
    each one)."""
    if not FAILED_ONCE:
        FAILED_ONCE.add("failed")
        raise ConnectionError("busy")
    return 5


def dg_step_retried(_: Any) -> Generator[Any, Any, Any]:
    retry = dg.Retry(max_attempts=2, initial_delay=1, jitter="none")
    return (yield dg.Step(flaky, name="s", retry=retry, sub_type="Fetch"))


def aws_step_retried(_: Any, ctx: Any) -> Any:
    strategy = retries.create_retry_strategy(
        retries.RetryStrategyConfig(
            max_attempts=2,
            initial_delay=config.Duration.from_seconds(1),
            jitter_strategy=config.JitterStrategy.NONE,
        )
    )
    step_config = config.StepConfig(retry_strategy=strategy, sub_type="Fetch")
    return ctx.step(lambda _: flaky(), name="s", config=step_config)


def dg_child(_: Any) -> Generator[Any, Any, Any]:
    def inner() -> Generator[Any, Any, Any]:
        return (yield dg.Step(lambda: 7, name="s", sub_type="Charge"))

    return (yield dg.Child(inner, name="k", sub_type="Saga"))


def aws_child(_: Any, ctx: Any) -> Any:
    return ctx.run_in_child_context(
        lambda c: c.step(lambda _: 7, name="s", config=config.StepConfig(sub_type="Charge")),
        name="k",
        config=config.ChildConfig(sub_type="Saga"),
    )


def dg_callback(_: Any) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="c", sub_type="Approval", result_type=dict[str, bool])
    return (yield handle)


def aws_callback(_: Any, ctx: Any) -> Any:
    return json.loads(
        ctx.create_callback(name="c", config=config.CallbackConfig(sub_type="Approval")).result()
    )


def submit(callback_id: str) -> None:
    assert callback_id


def dg_wait_for_callback(_: Any) -> Generator[Any, Any, Any]:
    return (
        yield dg.WaitForCallback(submit, name="w", sub_type="Approval", result_type=dict[str, bool])
    )


def aws_wait_for_callback(_: Any, ctx: Any) -> Any:
    raw = ctx.wait_for_callback(
        lambda callback_id, _ctx: submit(callback_id),
        name="w",
        config=config.WaitForCallbackConfig(sub_type="Approval"),
    )
    # what durable_gen recorded holds the decoded value (migration.md, "Going back")
    return raw if isinstance(raw, dict) else json.loads(raw)


PAIRS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "step": (dg_step, aws_step),
    "step-function": (dg_step_function, aws_step_function),
    "step-retried": (dg_step_retried, aws_step_retried),
    "child": (dg_child, aws_child),
    "callback": (dg_callback, aws_callback),
    "wait-for-callback": (dg_wait_for_callback, aws_wait_for_callback),
}


def ours(workflow: Callable[..., Any], client: Service) -> dict[str, Any]:
    # "aws": the payload format of a history meant to be handed to AWS's SDK (lambda.md)
    return lambda_handler(workflow, client=client, payload_format="aws")(client.event(), Context())


def theirs(workflow: Callable[..., Any], client: Service) -> dict[str, Any]:
    handler = execution_module.durable_execution(boto3_client=client)(workflow)
    out: dict[str, Any] = handler(client.event(), Context())
    return out


def run(
    handler: Callable[[Callable[..., Any], Service], dict[str, Any]],
    workflow: Callable[..., Any],
    service: Service,
) -> dict[str, Any]:
    """Invocations until the execution ends (at most three), answering callbacks between."""
    for _ in range(3):
        out = handler(workflow, service)
        if out["Status"] != "PENDING":
            return out
        service.answer_callbacks()
    raise AssertionError(f"still PENDING after three invocations: {service.sent}")


def outcome(output: dict[str, Any]) -> tuple[str, Any]:
    if output["Status"] == "SUCCEEDED":
        return "SUCCEEDED", json.loads(output["Result"])
    return output["Status"], output.get("Error")


@pytest.fixture(autouse=True)
def _fresh_flaky() -> None:
    FAILED_ONCE.clear()


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_both_sdks_record_the_same_sub_types(pair: str) -> None:
    dg_wf, aws_wf = PAIRS[pair]
    our_service, their_service = Service(), Service()
    ours_out = run(ours, dg_wf, our_service)
    FAILED_ONCE.clear()
    theirs_out = run(theirs, aws_wf, their_service)
    assert outcome(ours_out) == outcome(theirs_out)
    assert outcome(ours_out)[0] == "SUCCEEDED"
    assert our_service.sent == their_service.sent
    custom = {s[2] for s in our_service.sent} - {None, "Step", "RunInChildContext", "Callback"}
    assert custom, "the case records no custom SubType"


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_each_sdk_replays_what_the_other_recorded(pair: str) -> None:
    dg_wf, aws_wf = PAIRS[pair]
    their_service, our_service = Service(), Service()
    expected = outcome(run(theirs, aws_wf, their_service))
    FAILED_ONCE.clear()
    run(ours, dg_wf, our_service)
    done = [op for op in their_service.ops.values() if op["Type"] != "EXECUTION"]
    replay = Service(done)
    assert outcome(ours(dg_wf, replay)) == expected
    assert [s for s in replay.sent if s[1] != "EXECUTION"] == []
    done = [op for op in our_service.ops.values() if op["Type"] != "EXECUTION"]
    replay = Service(done)
    assert outcome(theirs(aws_wf, replay)) == expected
    assert [s for s in replay.sent if s[1] != "EXECUTION"] == []


def test_durable_gen_refuses_an_aws_sub_type_it_does_not_ask_for() -> None:
    """The SubType is matched on replay: a port that leaves ``sub_type=`` out diverges."""
    service = Service()
    run(theirs, aws_step, service)
    done = [op for op in service.ops.values() if op["Type"] != "EXECUTION"]

    def port(_: Any) -> Generator[Any, Any, Any]:
        return (yield dg.Step(lambda: 7, name="s"))

    out = ours(port, Service(done))
    assert out["Status"] == "FAILED"
    assert out["Error"]["ErrorType"].rsplit(".", 1)[-1] == "NonDeterminismError"
    assert "STEP/Fetch" in out["Error"]["ErrorMessage"]


@pytest.mark.parametrize("pair", ["callback", "step-retried", "wait-for-callback"])
@pytest.mark.parametrize("first", ["theirs", "ours"])
def test_an_execution_handed_over_between_invocations_goes_on_alike(pair: str, first: str) -> None:
    """The first invocation runs on one SDK, the rest on the other (a deploy between them)."""
    dg_wf, aws_wf = PAIRS[pair]
    alone = Service()
    expected = outcome(run(theirs, aws_wf, alone))
    FAILED_ONCE.clear()
    service = Service()
    if first == "theirs":
        assert theirs(aws_wf, service)["Status"] == "PENDING"
        service.answer_callbacks()
        assert outcome(run(ours, dg_wf, service)) == expected
    else:
        assert ours(dg_wf, service)["Status"] == "PENDING"
        service.answer_callbacks()
        assert outcome(run(theirs, aws_wf, service)) == expected
    assert service.sent == alone.sent
