"""Round 10 interop: more shapes written in both SDKs (AWS's Python SDK and durable_gen), checked
with the round-8/9 machinery: AWS's runner records the AWS handler and its history replays on
the port; `TestRunner(payload_format="aws")` records the port and AWS's SDK, handed those
operations, ends the same way and starts nothing; both handlers take turns on one execution.

Shapes: a retry that succeeds on its last attempt with a custom exception, a Map of one item
holding a Map, a serial Parallel with a tolerated failure of its own exception type, a child
returning None, step results near 256 KiB, a chain of one-second waits, callbacks answered
with an empty string, with `null`, failed with no error fields and with all of them, and a
wait-for-callback whose submitter fails once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.testing import TestRunner, replay

pytest.importorskip("aws_durable_execution_sdk_python")
pytest.importorskip("aws_durable_execution_sdk_python_testing")

from aws_durable_execution_sdk_python.config import (
    CallbackConfig,
    CompletionConfig,
    Duration,
    JitterStrategy,
    ParallelConfig,
    StepConfig,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.context import DurableContext, durable_parallel_branch
from aws_durable_execution_sdk_python.exceptions import CallbackError
from aws_durable_execution_sdk_python.execution import durable_execution
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy
from aws_durable_execution_sdk_python_testing.invoker import create_test_lambda_context

from . import test_round8 as r8
from .test_round8 import Case, SharedClient
from .test_round9 import _record_with

CASES: dict[str, Case] = {}
EXPECTED: dict[str, Any] = {}
ATTEMPTS: dict[str, int] = {}


def case(name: str, port: Callable[..., Any], input: Any, expected: Any) -> Callable[[Any], Any]:
    def deco(body: Any) -> Any:
        CASES[name] = Case(body, port, input)
        EXPECTED[name] = expected
        return body

    return deco


@pytest.fixture(autouse=True)
def _fresh_attempts() -> None:
    ATTEMPTS.clear()


class Declined(Exception):
    pass


def _fails_until(key: str, n: int) -> Callable[..., Any]:
    def run(_ctx: Any = None) -> str:
        ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
        if ATTEMPTS[key] < n:
            raise Declined(f"attempt {ATTEMPTS[key]}")
        return f"{key} on {ATTEMPTS[key]}"

    return run


def _aws_retry(n: int) -> StepConfig:
    return StepConfig(
        retry_strategy=create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=n, initial_delay=Duration.from_seconds(1),
                backoff_rate=1, jitter_strategy=JitterStrategy.NONE,
            )
        )
    )  # fmt: skip


ONE = StepConfig(retry_strategy=create_retry_strategy(RetryStrategyConfig(max_attempts=1)))


# 1. a retry that succeeds on its last attempt
def p_retry_last(event):  # type: ignore[no-untyped-def]
    got = yield dg.Step(
        _fails_until("r", 3), name="flaky",
        retry=dg.Retry(max_attempts=3, initial_delay=1, backoff=1, jitter="none"),
    )  # fmt: skip
    return got


@case("retry_last_attempt", p_retry_last, None, "r on 3")
def a_retry_last(event: Any, ctx: DurableContext) -> Any:
    return ctx.step(_fails_until("r", 3), name="flaky", config=_aws_retry(3))


# 2. a Map of one item whose item holds a Map
def p_map_in_map(event):  # type: ignore[no-untyped-def]
    def outer(xs, i):  # type: ignore[no-untyped-def]
        def inner(x, j):  # type: ignore[no-untyped-def]
            return (yield dg.Step(lambda: x * 10 + j, name="cell"))

        r = yield dg.Map(inner, xs, name="inner")
        return r.results()

    r = yield dg.Map(outer, event, name="outer")
    return r.results()


@case("map_of_one_holding_a_map", p_map_in_map, [[1, 2, 3]], [[10, 21, 32]])
def a_map_in_map(event: Any, ctx: DurableContext) -> Any:
    def outer(c: DurableContext, xs: Any, i: int, _all: Any) -> Any:
        def inner(c2: DurableContext, x: Any, j: int, _all2: Any) -> Any:
            return c2.step(lambda _: x * 10 + j, name="cell")

        return c.map(xs, inner, name="inner").get_results()

    return ctx.map(event, outer, name="outer").get_results()


# 3. a serial Parallel with one tolerated failure of a custom type
def p_parallel_tolerated(event):  # type: ignore[no-untyped-def]
    def ok():  # type: ignore[no-untyped-def]
        return (yield dg.Step(lambda: "ok", name="fine"))

    def bad():  # type: ignore[no-untyped-def]
        return (yield dg.Step(_fails_until("never", 99), name="refused",
                              retry=dg.Retry(max_attempts=1)))  # fmt: skip

    r = yield dg.Parallel(
        [dg.Branch(ok, name="ok"), dg.Branch(bad, name="bad"), dg.Branch(ok, name="ok2")],
        name="serial", max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )  # fmt: skip
    errors = [e.error_type.rsplit(".", 1)[-1] for e in r.errors()]
    return [str(r.completion_reason), r.results(), r.failure_count, errors]


@case(
    "serial_parallel_tolerated",
    p_parallel_tolerated,
    None,
    ["ALL_COMPLETED", ["ok", "ok"], 1, ["StepError"]],
)
def a_parallel_tolerated(event: Any, ctx: DurableContext) -> Any:
    @durable_parallel_branch(name="ok")
    def ok(c: DurableContext) -> Any:
        return c.step(lambda _: "ok", name="fine")

    @durable_parallel_branch(name="bad")
    def bad(c: DurableContext) -> Any:
        return c.step(_fails_until("never", 99), name="refused", config=ONE)

    @durable_parallel_branch(name="ok2")
    def ok2(c: DurableContext) -> Any:
        return c.step(lambda _: "ok", name="fine")

    r = ctx.parallel(
        [ok(), bad(), ok2()], name="serial",
        config=ParallelConfig(max_concurrency=1,
                              completion_config=CompletionConfig(tolerated_failure_count=1)),
    )  # fmt: skip
    errors = [e.type.rsplit(".", 1)[-1] for e in r.get_errors()]
    return [r.completion_reason.value, r.get_results(), r.failure_count, errors]


# 4. a child returning None, then a step that sees it
def p_child_none(event):  # type: ignore[no-untyped-def]
    def nothing():  # type: ignore[no-untyped-def]
        yield dg.Step(lambda: None, name="inside")

    got = yield dg.Child(nothing, name="empty-child")
    after = yield dg.Step(lambda: got is None, name="saw-none")
    return [got, after]


@case("child_returning_none", p_child_none, None, [None, True])
def a_child_none(event: Any, ctx: DurableContext) -> Any:
    def nothing(c: DurableContext) -> None:
        c.step(lambda _: None, name="inside")

    got = ctx.run_in_child_context(nothing, name="empty-child")
    after = ctx.step(lambda _: got is None, name="saw-none")
    return [got, after]


# 5. a step result near the 256 KiB child limit, inside and outside a child
NEAR = 250 * 1024


def p_near_limit(event):  # type: ignore[no-untyped-def]
    def holder():  # type: ignore[no-untyped-def]
        return (yield dg.Step(lambda: "e" * (NEAR // 2), name="big"))

    inside = yield dg.Child(holder, name="holder")
    outside = yield dg.Step(lambda: "z" * NEAR, name="big-out")
    return [len(inside), len(outside)]


@case("results_near_256_kib", p_near_limit, None, [NEAR // 2, NEAR])
def a_near_limit(event: Any, ctx: DurableContext) -> Any:
    def holder(c: DurableContext) -> Any:
        return c.step(lambda _: "e" * (NEAR // 2), name="big")

    inside = ctx.run_in_child_context(holder, name="holder")
    outside = ctx.step(lambda _: "z" * NEAR, name="big-out")
    return [len(inside), len(outside)]


# 6. a chain of one-second waits between steps
def p_waits(event):  # type: ignore[no-untyped-def]
    out = []
    for i in range(3):
        yield dg.Wait(seconds=1, name=f"w{i}")
        out.append((yield dg.Step(lambda i=i: i * i, name=f"s{i}")))
    return out


@case("one_second_waits", p_waits, None, [0, 1, 4])
def a_waits(event: Any, ctx: DurableContext) -> Any:
    out = []
    for i in range(3):
        ctx.wait(Duration.from_seconds(1), name=f"w{i}")
        out.append(ctx.step(lambda _, i=i: i * i, name=f"s{i}"))
    return out


# --- callbacks: both SDKs take turns, the answers given between invocations ------------------


def p_cb_empty(event):  # type: ignore[no-untyped-def]
    h = yield dg.CreateCallback(name="empty", timeout=60)
    v = yield h
    return [v]


def a_cb_empty(event: Any, ctx: DurableContext) -> Any:
    cb = ctx.create_callback(name="empty", config=CallbackConfig(timeout=Duration.from_seconds(60)))
    return [cb.result()]


def p_cb_failed(event):  # type: ignore[no-untyped-def]
    h = yield dg.CreateCallback(name="bare", timeout=60)
    try:
        yield h
    except dg.CallbackFailedError as exc:
        return ["failed", exc.error_type, exc.error_message, exc.error_data]
    return "answered"


def a_cb_failed(event: Any, ctx: DurableContext) -> Any:
    cb = ctx.create_callback(name="bare", config=CallbackConfig(timeout=Duration.from_seconds(60)))
    try:
        cb.result()
    except CallbackError as exc:
        return ["failed", exc.error_type, exc.message, exc.data]
    return "answered"


SUBMITS: list[str] = []


def _submit_once_failing(callback_id: str, _ctx: Any = None) -> None:
    SUBMITS.append(callback_id)
    if len(SUBMITS) == 1:
        raise Declined("mail server down")


def p_wfc_retry(event):  # type: ignore[no-untyped-def]
    v = yield dg.WaitForCallback(
        _submit_once_failing, name="approval", timeout=60,
        retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"),
    )  # fmt: skip
    return v


def a_wfc_retry(event: Any, ctx: DurableContext) -> Any:
    cfg = WaitForCallbackConfig(
        timeout=Duration.from_seconds(60),
        retry_strategy=create_retry_strategy(
            RetryStrategyConfig(max_attempts=2, initial_delay=Duration.from_seconds(1),
                                jitter_strategy=JitterStrategy.NONE)
        ),
    )  # fmt: skip
    v = ctx.wait_for_callback(_submit_once_failing, name="approval", config=cfg)
    return json.loads(v) if isinstance(v, str) else v


class _Answering(SharedClient):
    """Answers each open callback with ``result=`` or ``error=``."""

    def __init__(self, input_json: str, answer: dict[str, Any]) -> None:
        super().__init__(input_json)
        self.answer = answer

    def settle(self, invoke_targets: Any, answer: Any) -> bool:
        for op in list(self.store.values()):
            if op.type == "CALLBACK" and op.status == "STARTED" and op.callback_details:
                rt.complete_callback(self.store, op.callback_details.callback_id,
                                     now_ms=self.now_ms, **self.answer)  # fmt: skip
                return True
        return bool(super().settle(invoke_targets, answer))


CALLBACK_CASES: dict[str, tuple[Any, Any, dict[str, Any]]] = {
    "empty-string": (a_cb_empty, p_cb_empty, {"result": ""}),
    "json-null": (a_cb_empty, p_cb_empty, {"result": "null"}),
    "bare-failure": (a_cb_failed, p_cb_failed, {"error": rt.ErrorObject()}),
    "typed-failure": (
        a_cb_failed,
        p_cb_failed,
        {"error": rt.ErrorObject(error_type="Rejected", error_message="no", error_data='{"k":1}')},
    ),
    "submitter-retried": (a_wfc_retry, p_wfc_retry, {"result": json.dumps({"ok": True})}),
}


#: What the port makes of each answer (docs/guide.md, callbacks: an empty result is None;
#: docs/migration.md: durable_gen decodes the JSON AWS's SDK hands over raw).
PORT_VIEW: dict[str, Any] = {
    "empty-string": [None],
    "json-null": [None],
    "bare-failure": ["failed", None, None, None],
    "typed-failure": ["failed", "Rejected", "no", '{"k":1}'],
    "submitter-retried": {"ok": True},
}


def _run_turns(aws_body: Any, port: Any, answer: dict[str, Any], order: str,
               payload_format: str = "aws") -> tuple[dict[str, Any], str]:  # fmt: skip
    import itertools

    client = _Answering("null", answer)
    aws = durable_execution(boto3_client=client)(aws_body)
    ours = dg.lambda_handler(port, client=client, payload_format=payload_format)
    who = itertools.cycle(order)
    for _ in range(30):
        side = next(who)
        h = aws if side == "a" else ours
        out: dict[str, Any] = h(client.event(), create_test_lambda_context())
        if out["Status"] != "PENDING":
            return out, side
        assert client.settle({}, lambda op: None), "stuck"
    raise AssertionError("too many invocations")


@pytest.mark.parametrize("order", ["a", "d", "ad", "da"])
@pytest.mark.parametrize("name", list(CALLBACK_CASES))
def test_callback_answers_read_alike_by_both_sdks(name: str, order: str) -> None:
    """Each SDK's view of an answer is the same whoever recorded the execution: the last
    invocation (which replays the callback) gives the value its own SDK gives alone."""
    aws_body, port, answer = CALLBACK_CASES[name]
    alone = {}
    for side in "ad":
        SUBMITS.clear()
        out, _ = _run_turns(aws_body, port, answer, side)
        assert out["Status"] == "SUCCEEDED", out
        alone[side] = json.loads(out["Result"])
    assert alone["d"] == PORT_VIEW[name]
    SUBMITS.clear()
    out, last = _run_turns(aws_body, port, answer, order)
    assert out["Status"] == "SUCCEEDED", out
    assert json.loads(out["Result"]) == alone[last]


# --- the checks over CASES -------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_aws_runner_history_replays_on_the_port_whole_and_cut(name: str) -> None:
    aws_result, history = _record_with(CASES[name].aws, CASES[name].input)
    assert aws_result == EXPECTED[name]
    report = replay(CASES[name].port, history)
    assert report.status == "ok", report.message
    assert report.result == aws_result
    events = [e for page in history for e in page["Events"]]
    for k in range(1, len(events), 1 if len(events) < 60 else 5):
        cut = replay(CASES[name].port, {"Events": events[:k]})
        assert cut.status in ("ok", "incomplete"), (k, events[k - 1]["EventType"], cut.message)


@pytest.mark.parametrize("name", list(CASES))
def test_aws_sdk_replays_what_the_port_recorded(name: str) -> None:
    c = CASES[name]
    run = TestRunner(payload_format="aws").run(c.port, c.input)
    assert run.status == "SUCCEEDED", run.waiting_on()
    assert run.result() == EXPECTED[name]
    export = run.export()
    ops = export["Operations"]
    client = r8._Client(ops)
    handler = durable_execution(boto3_client=client)(c.aws)
    event = {
        "DurableExecutionArn": export["DurableExecutionArn"],
        "CheckpointToken": "t-0",
        "InitialExecutionState": {"Operations": ops, "NextMarker": ""},
    }
    ATTEMPTS.clear()
    output = handler(event, create_test_lambda_context())
    recorded = {op["Id"] for op in ops}
    assert [u.get("Name") for u in client.updates if u["Id"] not in recorded] == []
    assert output["Status"] == "SUCCEEDED", output.get("Error")
    assert json.loads(output["Result"]) == EXPECTED[name]
    assert ATTEMPTS == {}  # nothing ran again


@pytest.mark.parametrize("order", ["ad", "da"])
@pytest.mark.parametrize("name", list(CASES))
def test_both_sdks_take_turns_on_one_execution(name: str, order: str) -> None:
    c = CASES[name]
    out, trail, _ = r8.run_mixed(c.aws, c.port, json.dumps(c.input), order)
    assert out["Status"] == "SUCCEEDED", (trail, out.get("Error"))
    assert json.loads(out["Result"]) == EXPECTED[name]
