# ruff: noqa: E501  (the corpus keeps one case a line)
"""Edges of the invocation event, read by durable_gen's handler and by AWS's SDK alike.

Each case is one hand-written invocation event (what the Lambda service may send: pages in an
unusual order, fields left out, operations in every status, numbers and text at their edges)
given to durable_gen's handler and to a handler of AWS's Python SDK for the same workflow,
each with a client that answers checkpoints as the service does. Both must end the same way
(status, and the decoded result), and send the same actions.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Generator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen._ids import operation_id
from durable_gen.aws import lambda_handler

execution_module = pytest.importorskip("aws_durable_execution_sdk_python.execution")
config = pytest.importorskip("aws_durable_execution_sdk_python.config")
retries = pytest.importorskip("aws_durable_execution_sdk_python.retries")

ARN = "arn:aws:lambda:us-west-2:123456789012:function:f:1/durable-execution/x/e"  # ends in the
# EXECUTION operation id, which AWS's SDK looks the input up by
STATUS = {"START": "STARTED", "RETRY": "PENDING", "FAIL": "FAILED", "SUCCEED": "SUCCEEDED"}


class Client:
    """A boto3 ``lambda`` client answering as the service does: each checkpoint with a new
    token and the operations it changed; state pages from ``pages``."""

    def __init__(self, pages: dict[str, Any], event: dict[str, Any] | None = None) -> None:
        self.pages = pages
        self.actions: list[str] = []
        #: finished attempts by step id, as the service counts them (START leaves the count,
        #: SUCCEED, FAIL and RETRY finish one): it never goes down
        self.attempts: dict[str, int] = {}
        first = ((event or {}).get("InitialExecutionState") or {}).get("Operations") or []
        for page in [{"Operations": first}, *pages.values()]:
            for op in page.get("Operations") or []:
                details = op.get("StepDetails") or {}
                if isinstance(details.get("Attempt"), int):
                    self.attempts[op["Id"]] = details["Attempt"]

    def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        changed = []
        for u in kwargs["Updates"]:
            self.actions.append(f"{u['Action']} {u['Type']} {u.get('Name')}")
            if u["Type"] == "EXECUTION":
                continue
            op: dict[str, Any] = {"Id": u["Id"], "Type": u["Type"], "Status": STATUS[u["Action"]]}
            op.update({k: u[k] for k in ("Name", "SubType", "ParentId") if k in u})
            if u["Type"] == "STEP":
                attempt = self.attempts.get(u["Id"], 0) + (u["Action"] != "START")
                self.attempts[u["Id"]] = attempt
                op["StepDetails"] = {
                    "Attempt": attempt,
                    **({"Result": u["Payload"]} if "Payload" in u else {}),
                }
            elif u["Type"] == "CALLBACK":
                op["CallbackDetails"] = {"CallbackId": "Y2Ix"}
            changed.append(op)
        return {
            "CheckpointToken": kwargs["CheckpointToken"] + "x",
            "NewExecutionState": {"Operations": changed},
        }

    def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
        return copy.deepcopy(self.pages[kwargs["Marker"]])


class Context:
    aws_request_id = "r"
    function_name = "f"
    invoked_function_arn = "arn:aws:lambda:us-west-2:123456789012:function:f"
    memory_limit_in_mb = 128

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def execution(payload: str = "{}") -> dict[str, Any]:
    return {
        "Id": "e",
        "Type": "EXECUTION",
        "Status": "STARTED",
        "StartTimestamp": 1_000,
        "ExecutionDetails": {"InputPayload": payload},
    }


def event(*operations: dict[str, Any], payload: str = "{}", **state: Any) -> dict[str, Any]:
    return {
        "DurableExecutionArn": ARN,
        "CheckpointToken": "dDA=",
        "InitialExecutionState": {"Operations": [execution(payload), *operations], **state},
    }


ROOT1 = operation_id(None, 1)


def step_op(
    status: str = "SUCCEEDED", parent: str | None = None, n: int = 1, **details: Any
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "Id": operation_id(parent, n),
        "Type": "STEP",
        "SubType": "Step",
        "Name": "s",
        "Status": status,
        "StartTimestamp": 1_001,
        "StepDetails": {"Attempt": 1, **details},
    }
    if parent is not None:
        op["ParentId"] = parent
    return op


# --- the workflows, each in both SDKs ---------------------------------------------------------


def boom() -> str:
    raise ValueError("no")


def dg_input(event: Any) -> Generator[Any, Any, Any]:
    value = yield dg.Step(lambda: "fresh", name="s")
    return [event, value]


def aws_input(event: Any, ctx: Any) -> Any:
    return [event, ctx.step(lambda _: "fresh", name="s")]


def dg_retried(_: Any) -> Generator[Any, Any, Any]:
    policy = dg.Retry(max_attempts=3, initial_delay=1, backoff=2.0, jitter="none")
    return (yield dg.Step(boom, name="s", retry=policy))


def aws_retried(_: Any, ctx: Any) -> Any:
    strategy = retries.create_retry_strategy(
        retries.RetryStrategyConfig(
            max_attempts=3,
            initial_delay=config.Duration.from_seconds(1),
            backoff_rate=2.0,
            jitter_strategy=config.JitterStrategy.NONE,
        )
    )
    return ctx.step(lambda _: boom(), name="s", config=config.StepConfig(retry_strategy=strategy))


def dg_wait(_: Any) -> Generator[Any, Any, Any]:
    yield dg.Wait(seconds=5, name="w")
    return "done"


def aws_wait(_: Any, ctx: Any) -> Any:
    ctx.wait(config.Duration.from_seconds(5), name="w")
    return "done"


def dg_callback(_: Any) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="c")
    return (yield handle)


def aws_callback(_: Any, ctx: Any) -> Any:
    return ctx.create_callback(name="c").result()


def dg_invoke(_: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Invoke("callee", {"a": 1}, name="i"))


def aws_invoke(_: Any, ctx: Any) -> Any:
    return ctx.invoke("callee", {"a": 1}, name="i")


def dg_child(_: Any) -> Generator[Any, Any, Any]:
    def inner() -> Generator[Any, Any, Any]:
        return (yield dg.Step(lambda: 7, name="s"))

    return (yield dg.Child(inner, name="k"))


def aws_child(_: Any, ctx: Any) -> Any:
    return ctx.run_in_child_context(lambda c: c.step(lambda _: 7, name="s"), name="k")


PAIRS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "input": (dg_input, aws_input),
    "retried": (dg_retried, aws_retried),
    "wait": (dg_wait, aws_wait),
    "callback": (dg_callback, aws_callback),
    "invoke": (dg_invoke, aws_invoke),
    "child": (dg_child, aws_child),
}

WAIT = {"Id": ROOT1, "Type": "WAIT", "SubType": "Wait", "Name": "w", "StartTimestamp": 1_001}
CALLBACK = {"Id": ROOT1, "Type": "CALLBACK", "SubType": "Callback", "Name": "c"}
INVOKE = {"Id": ROOT1, "Type": "CHAINED_INVOKE", "SubType": "ChainedInvoke", "Name": "i"}
CHILD = {"Id": ROOT1, "Type": "CONTEXT", "SubType": "RunInChildContext", "Name": "k"}
RECORDED = step_op(Result='"rec"')

#: (case, workflow pair, event, pages)
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("first-page-empty", "input", event(NextMarker="m1") | {"InitialExecutionState": {"Operations": [], "NextMarker": "m1"}}, {"m1": {"Operations": [execution(), RECORDED]}}),
    ("execution-on-page-two", "input", {**event(), "InitialExecutionState": {"Operations": [RECORDED], "NextMarker": "m1"}}, {"m1": {"Operations": [execution()]}}),
    ("no-operations-key", "input", {**event(), "InitialExecutionState": {"NextMarker": "m1"}}, {"m1": {"Operations": [execution(), RECORDED]}}),
    ("marker-null", "input", event(RECORDED, NextMarker=None), {}),
    ("marker-empty", "input", event(RECORDED, NextMarker=""), {}),
    ("unknown-fields", "input", {**event({**RECORDED, "Future": 1, "StepDetails": {"Attempt": 1, "Result": '"rec"', "More": []}}), "Extra": {"x": 1}}, {}),
    ("updated-ids", "input", {**event(RECORDED), "UpdatedOperationIds": [ROOT1]}, {}),
    ("input-null", "input", event(payload="null"), {}),
    ("input-big-ints", "input", event(payload='{"n": 1180591620717411303424, "m": -36893488147419103232}'), {}),
    ("input-precision", "input", event(payload='{"x": 0.1000000000000000055511151231257827, "y": 12345678901234567}'), {}),
    ("input-unicode", "input", event(payload='{"s": "\\u00e9\\ud83d\\ude00\\u2028 é😀"}'), {}),
    ("input-duplicate-keys", "input", event(payload='{"a": 1, "a": 2}'), {}),
    ("step-result-absent", "input", event(step_op()), {}),
    ("step-result-null", "input", event(step_op(Result="null")), {}),
    ("step-result-padded", "input", event(step_op(Result=" 5 ")), {}),
    ("step-fresh", "retried", event(), {}),
    ("step-ready-attempt-1", "retried", event(step_op("READY", Error={"ErrorType": "ValueError", "ErrorMessage": "no"})), {}),
    ("step-ready-attempt-2", "retried", event({**step_op("READY"), "StepDetails": {"Attempt": 2}}), {}),
    ("step-ready-no-attempt", "retried", event({**step_op("READY"), "StepDetails": {}}), {}),
    ("step-pending-past", "retried", event({**step_op("PENDING"), "StepDetails": {"Attempt": 1, "NextAttemptTimestamp": 1_500}}), {}),
    ("step-started-interrupted", "retried", event(step_op("STARTED")), {}),
    ("step-started-attempt-0", "retried", event({**step_op("STARTED"), "StepDetails": {"Attempt": 0}}), {}),
    ("wait-fresh", "wait", event(), {}),
    ("wait-end-in-the-past", "wait", event({**WAIT, "Status": "STARTED", "WaitDetails": {"ScheduledEndTimestamp": 1_002}}), {}),
    ("wait-succeeded-no-details", "wait", event({**WAIT, "Status": "SUCCEEDED"}), {}),
    ("callback-no-result", "callback", event({**CALLBACK, "Status": "SUCCEEDED", "CallbackDetails": {"CallbackId": "Y2Ix"}}), {}),
    ("callback-waiting", "callback", event({**CALLBACK, "Status": "STARTED", "CallbackDetails": {"CallbackId": "Y2Ix"}}), {}),
    ("callback-timed-out", "callback", event({**CALLBACK, "Status": "TIMED_OUT", "CallbackDetails": {"CallbackId": "Y2Ix", "Error": {"ErrorType": "Callback.Timeout", "ErrorMessage": "Callback timed out"}}}), {}),
    ("callback-heartbeat", "callback", event({**CALLBACK, "Status": "TIMED_OUT", "CallbackDetails": {"CallbackId": "Y2Ix", "Error": {"ErrorType": "Callback.Heartbeat", "ErrorMessage": "Callback timed out on heartbeat"}}}), {}),
    ("invoke-fresh", "invoke", event(), {}),
    ("invoke-no-details", "invoke", event({**INVOKE, "Status": "SUCCEEDED"}), {}),
    ("invoke-result", "invoke", event({**INVOKE, "Status": "SUCCEEDED", "ChainedInvokeDetails": {"Result": '{"r": [1, 2]}'}}), {}),
    ("invoke-running", "invoke", event({**INVOKE, "Status": "STARTED"}), {}),
    ("invoke-stopped", "invoke", event({**INVOKE, "Status": "STOPPED"}), {}),
    ("invoke-timed-out", "invoke", event({**INVOKE, "Status": "TIMED_OUT", "ChainedInvokeDetails": {"Error": {"ErrorType": "T", "ErrorMessage": "t"}}}), {}),
    ("child-no-details", "child", event({**CHILD, "Status": "SUCCEEDED"}), {}),
    ("child-replay-children", "child", event({**CHILD, "Status": "SUCCEEDED", "ContextDetails": {"ReplayChildren": True}}, step_op(parent=ROOT1, Result="9")), {}),
    ("child-listed-after-its-step", "child", event(step_op(parent=ROOT1, Result="9"), {**CHILD, "Status": "SUCCEEDED", "ContextDetails": {"ReplayChildren": True}}), {}),
    ("child-started-step-first", "child", event(step_op(parent=ROOT1, Result="9"), {**CHILD, "Status": "STARTED"}), {}),
]  # fmt: skip


def outcome(output: dict[str, Any]) -> tuple[str, Any]:
    """The status, and for a success the result decoded (the two write JSON differently)."""
    if output["Status"] == "SUCCEEDED":
        return "SUCCEEDED", json.loads(output["Result"])
    return output["Status"], None


@pytest.mark.parametrize(("pair", "ev", "pages"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_both_sdks_end_an_edge_event_the_same_way(
    pair: str, ev: dict[str, Any], pages: dict[str, Any]
) -> None:
    ours, theirs = PAIRS[pair]
    ours_client, their_client = Client(pages, ev), Client(pages, ev)
    ours_out = lambda_handler(ours, client=ours_client)(copy.deepcopy(ev), Context())
    their_handler = execution_module.durable_execution(boto3_client=their_client)(theirs)
    their_out = their_handler(copy.deepcopy(ev), Context())
    assert outcome(ours_out) == outcome(their_out)
    assert ours_client.actions == their_client.actions


def test_the_case_names_are_unique() -> None:
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names))
