"""One execution handed back and forth between AWS's Python SDK and its durable_gen port at
every invocation, as a rolling deployment or a rollback would: each invocation runs on one SDK,
the next on the other (or in another rhythm). The port follows docs/migration.md operation for
operation and runs with ``payload_format="aws"``; every rhythm must end as AWS's SDK alone ends
it. The workflow suspends on everything that makes a new invocation: retry delays, waits in
the root, in a child, in a Map item and in a Parallel branch, wait-for-condition polls and a
callback; its values use AWS's typed envelope (dicts, tuples, datetimes, Decimals)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.aws import lambda_handler

aws = pytest.importorskip("aws_durable_execution_sdk_python")
from aws_durable_execution_sdk_python import DurableContext, durable_execution  # noqa: E402
from aws_durable_execution_sdk_python.config import (  # noqa: E402
    CallbackConfig,
    CompletionConfig,
    Duration,
    JitterStrategy,
    MapConfig,
    ParallelConfig,
    StepConfig,
)
from aws_durable_execution_sdk_python.retries import (  # noqa: E402
    RetryStrategyConfig,
    create_retry_strategy,
)
from aws_durable_execution_sdk_python.waits import (  # noqa: E402
    WaitForConditionConfig,
    WaitForConditionDecision,
)

try:
    from .emulator import Emulator, LambdaEndpoint
    from .lambda_support import settle_pending
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]
    from lambda_support import settle_pending  # type: ignore[no-redef]

#: Attempts of the flaky step per execution (keyed by the execution's input).
ATTEMPTS: dict[str, int] = {}


def flaky_body(key: str) -> dict[str, Any]:
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] < 3:
        raise RuntimeError(f"attempt {ATTEMPTS[key]} fails")
    return {"ok": True, "attempts": ATTEMPTS[key]}


def item_value(item: int) -> dict[str, Any]:
    if item == 3:
        raise ValueError("three")
    return {"i": item, "at": datetime(2025, 1, item, tzinfo=UTC), "amount": Decimal("1.5") * item}


def project(first: Any, batch: Any, child: Any, state: Any, answer: Any, pair: list[str]) -> Any:
    return {
        "first": first,
        "items": [
            {"i": r["i"], "at": r["at"].isoformat(), "amount": str(r["amount"])} for r in batch
        ],
        "child": {"a": child["a"], "t": list(child["t"])},
        "state": state,
        "answer": answer,
        "pair": pair,
    }


# --- AWS's SDK ----------------------------------------------------------------------------------

RETRY = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=4,
            initial_delay=Duration.from_seconds(1),
            backoff_rate=1.0,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
)
ONCE = StepConfig(retry_strategy=create_retry_strategy(RetryStrategyConfig(max_attempts=1)))


def aws_item(c: DurableContext, item: int, index: int, _items: Any) -> Any:
    value = c.step(lambda _: item_value(item), name="work", config=ONCE)
    if item == 2:
        c.wait(Duration.from_seconds(1), name="nap")
    return value


def aws_child(c: DurableContext) -> Any:
    a = c.step(lambda _: [1, 2], name="a")
    c.wait(Duration.from_seconds(1), name="inner")
    return {"a": a, "t": (1, "x")}


def aws_poll(state: dict[str, Any], attempt: int) -> WaitForConditionDecision:
    if state["n"] >= 2:
        return WaitForConditionDecision.stop_polling()
    return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))


def aws_right(c: DurableContext) -> Any:
    c.wait(Duration.from_seconds(1), name="pw")
    return c.step(lambda _: "R", name="right")


def aws_workflow(event: Any, ctx: DurableContext) -> Any:
    first = ctx.step(lambda _: flaky_body(event["key"]), name="flaky", config=RETRY)
    batch = ctx.map(
        [1, 2, 3, 4],
        aws_item,
        name="items",
        config=MapConfig(
            max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=1)
        ),
    )
    child = ctx.run_in_child_context(aws_child, name="child")
    state = ctx.wait_for_condition(
        lambda s, _: {"n": s["n"] + 1, "seen": [*s["seen"], s["n"]]},
        WaitForConditionConfig(wait_strategy=aws_poll, initial_state={"n": 0, "seen": []}),
        name="poll",
    )
    callback = ctx.create_callback(
        name="approval", config=CallbackConfig(timeout=Duration.from_seconds(60))
    )
    ctx.step(lambda _: callback.callback_id[:4], name="notify")
    answer = json.loads(callback.result())
    pair = ctx.parallel(
        [lambda c: c.step(lambda _: "L", name="left"), aws_right],
        name="pair",
        config=ParallelConfig(max_concurrency=1),
    )
    return project(first, batch.get_results(), child, state, answer, pair.get_results())


# --- the durable_gen port -----------------------------------------------------------------------


@dg.step(name="flaky", retry=dg.Retry(max_attempts=4, initial_delay=1, backoff=1.0, jitter="none"))
def flaky(key: str) -> dict[str, Any]:
    return flaky_body(key)


def port_item(item: int, index: int) -> Any:
    value = yield dg.Step(lambda: item_value(item), name="work", retry=dg.Retry(max_attempts=1))
    if item == 2:
        yield dg.Wait(seconds=1, name="nap")
    return value


def port_child() -> Any:
    a = yield dg.Step(lambda: [1, 2], name="a")
    yield dg.Wait(seconds=1, name="inner")
    return {"a": a, "t": (1, "x")}


def port_poll(state: dict[str, Any], attempt: int) -> dg.WaitDecision:
    return dg.WaitDecision.done() if state["n"] >= 2 else dg.WaitDecision.again(1)


def port_left() -> Any:
    return (yield dg.Step(lambda: "L", name="left"))


def port_right() -> Any:
    yield dg.Wait(seconds=1, name="pw")
    return (yield dg.Step(lambda: "R", name="right"))


@dg.workflow
def port(event: Any) -> Any:
    first = yield flaky(event["key"])
    batch = yield dg.Map(
        port_item,
        [1, 2, 3, 4],
        name="items",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    child = yield dg.Child(port_child, name="child")
    state = yield dg.WaitForCondition(
        lambda s: {"n": s["n"] + 1, "seen": [*s["seen"], s["n"]]},
        {"n": 0, "seen": []},
        wait_strategy=port_poll,
        name="poll",
    )
    callback = yield dg.CreateCallback(name="approval", timeout=60)
    yield dg.Step(lambda: callback.callback_id[:4], name="notify")
    answer = yield callback
    pair = yield dg.Parallel([port_left, port_right], name="pair", max_concurrency=1)
    return project(first, batch.results(), child, state, answer, pair.results())


# --- the hand-overs ---------------------------------------------------------------------------


def alternate(
    emulator: Emulator, aws: Any, ours: Any, rhythm: list[str]
) -> tuple[Callable[[Any, Any], Any], list[str]]:
    """A Lambda handler that hands each invocation to AWS's SDK (``aws``, their workflow) or
    ours (``ours``, its port) in ``rhythm``'s turns, and the list of who ran each one."""
    sdks = {
        "aws": durable_execution(boto3_client=emulator.client)(aws),
        "durable_gen": lambda_handler(ours, client=emulator.client, payload_format="aws"),
    }
    turns = itertools.cycle(rhythm)
    ran: list[str] = []

    def handler(event: Any, context: Any) -> Any:
        sdk = next(turns)
        ran.append(sdk)
        return sdks[sdk](event, context)

    return settle_pending(handler), ran


def run(emulator: Emulator, endpoint: LambdaEndpoint, name: str, rhythm: list[str]) -> Any:
    handler, ran = alternate(emulator, aws_workflow, port, rhythm)
    endpoint.register(name, handler)
    arn = emulator.start(name, {"key": name})
    callback_id = emulator.callback_id(arn, name="approval", timeout=30)
    emulator.send_callback_success(callback_id, json.dumps({"approved": True}).encode())
    outcome = emulator.wait(arn, timeout=60)
    assert outcome.status == "SUCCEEDED", (outcome, ran)
    assert len(set(ran)) == len(set(rhythm)), ran
    return outcome.json()


EXPECTED = {
    "first": {"ok": True, "attempts": 3},
    "items": [
        {"i": 1, "at": "2025-01-01T00:00:00+00:00", "amount": "1.5"},
        {"i": 2, "at": "2025-01-02T00:00:00+00:00", "amount": "3.0"},
        {"i": 4, "at": "2025-01-04T00:00:00+00:00", "amount": "6.0"},
    ],
    "child": {"a": [1, 2], "t": [1, "x"]},
    "state": {"n": 2, "seen": [0, 1]},
    "answer": {"approved": True},
    "pair": ["L", "R"],
}


@pytest.mark.parametrize(
    "rhythm",
    [
        ["aws"],
        ["durable_gen"],
        ["aws", "durable_gen"],
        ["durable_gen", "aws"],
        ["aws", "aws", "durable_gen"],
    ],
    ids="-".join,
)
def test_one_execution_alternating_between_the_sdks_ends_as_aws_sdk_alone_ends_it(
    rhythm: list[str],
    emulator_skip_time: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
) -> None:
    assert run(emulator_skip_time, lambda_endpoint, function_name, rhythm) == EXPECTED


# --- failures caught on either side -------------------------------------------------------------


def _raise(exc: Exception) -> Any:
    raise exc


def aws_failing_child(c: DurableContext) -> Any:
    c.step(lambda _: "fine", name="fine")
    c.wait(Duration.from_seconds(1), name="cw")
    c.step(lambda _: _raise(KeyError("k")), name="boom", config=ONCE)


def aws_inner(c: DurableContext) -> Any:
    batch = c.map(
        [1, 2],
        lambda cc, item, i, _: cc.step(lambda _: item * 2, name="double"),
        name="inner",
        config=MapConfig(max_concurrency=1),
    )
    return batch.get_results()


def aws_doomed_branch(c: DurableContext) -> Any:
    c.wait(Duration.from_seconds(1), name="pw")
    return c.step(lambda _: _raise(RuntimeError("x")), name="doomed-branch", config=ONCE)


def aws_failures(event: Any, ctx: DurableContext) -> Any:
    from aws_durable_execution_sdk_python.config import ChildConfig, StepSemantics
    from aws_durable_execution_sdk_python.exceptions import (
        CallbackError,
        ChildContextError,
        StepError,
    )

    out: dict[str, Any] = {}
    try:
        ctx.step(lambda _: _raise(ValueError("bad")), name="doomed", config=ONCE)
    except StepError:
        out["step"] = "caught"
    ctx.wait(Duration.from_seconds(1), name="w1")
    try:
        ctx.run_in_child_context(aws_failing_child, name="failing-child")
    except ChildContextError:
        out["child"] = "caught"
    callback = ctx.create_callback(
        name="rejected", config=CallbackConfig(timeout=Duration.from_seconds(60))
    )
    try:
        callback.result()
    except CallbackError:
        out["callback"] = "caught"
    once = StepConfig(
        step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
        retry_strategy=create_retry_strategy(RetryStrategyConfig(max_attempts=1)),
    )
    out["at-most-once"] = ctx.step(lambda _: "once", name="at-most-once", config=once)
    answer = ctx.wait_for_callback(lambda callback_id, _ctx: None, name="ok")
    # docs/migration.md, going back: one durable_gen completed holds the decoded value
    out["answer"] = json.loads(answer) if isinstance(answer, str) else answer
    pair = ctx.parallel(
        [aws_inner, aws_doomed_branch],
        name="pair",
        config=ParallelConfig(
            max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=1)
        ),
    )
    out["pair"] = [pair.get_results(), len(pair.failed())]
    ctx.run_in_child_context(
        lambda c: c.step(lambda _: "v", name="inside"),
        name="virtual",
        config=ChildConfig(is_virtual=True),
    )
    ctx.wait(Duration.from_seconds(1), name="w2")
    return out


def port_failing_child() -> Any:
    yield dg.Step(lambda: "fine", name="fine")
    yield dg.Wait(seconds=1, name="cw")
    yield dg.Step(lambda: _raise(KeyError("k")), name="boom", retry=dg.Retry(max_attempts=1))


def port_inner() -> Any:
    def double(item: int, index: int) -> Any:
        return (yield dg.Step(lambda: item * 2, name="double"))

    batch = yield dg.Map(double, [1, 2], name="inner", max_concurrency=1)
    return batch.results()


def port_doomed_branch() -> Any:
    yield dg.Wait(seconds=1, name="pw")
    return (
        yield dg.Step(
            lambda: _raise(RuntimeError("x")), name="doomed-branch", retry=dg.Retry(max_attempts=1)
        )
    )


def port_virtual() -> Any:
    return (yield dg.Step(lambda: "v", name="inside"))


@dg.workflow
def port_failures(event: Any) -> Any:
    out: dict[str, Any] = {}
    try:
        yield dg.Step(lambda: _raise(ValueError("bad")), name="doomed", retry=dg.Retry.never())
    except dg.StepFailedError:
        out["step"] = "caught"
    yield dg.Wait(seconds=1, name="w1")
    try:
        yield dg.Child(port_failing_child, name="failing-child")
    except dg.ChildFailedError:
        out["child"] = "caught"
    callback = yield dg.CreateCallback(name="rejected", timeout=60)
    try:
        yield callback
    except dg.CallbackError:
        out["callback"] = "caught"
    out["at-most-once"] = yield dg.Step(
        lambda: "once", name="at-most-once", semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never()
    )
    answer = yield dg.WaitForCallback(lambda callback_id: None, name="ok")
    out["answer"] = json.loads(answer) if isinstance(answer, str) else answer
    pair = yield dg.Parallel(
        [port_inner, port_doomed_branch],
        name="pair",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    out["pair"] = [pair.results(), pair.failure_count]
    yield dg.Child(port_virtual, name="virtual", virtual=True)
    yield dg.Wait(seconds=1, name="w2")
    return out


@pytest.mark.parametrize(
    "rhythm",
    [["aws"], ["durable_gen"], ["aws", "durable_gen"], ["durable_gen", "aws"]],
    ids="-".join,
)
def test_failures_caught_on_either_side_end_as_aws_sdk_alone_ends_them(
    rhythm: list[str],
    emulator_skip_time: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
) -> None:
    emulator = emulator_skip_time
    handler, ran = alternate(emulator, aws_failures, port_failures, rhythm)
    lambda_endpoint.register(function_name, handler)
    arn = emulator.start(function_name, {})
    rejected = emulator.callback_id(arn, name="rejected", timeout=30)
    emulator.client.send_durable_execution_callback_failure(
        CallbackId=rejected, Error={"ErrorType": "Rejected", "ErrorMessage": "no"}
    )
    ok = emulator.callback_id(arn, name="ok create callback id", timeout=30)
    emulator.send_callback_success(ok, json.dumps({"fine": 1}).encode())
    outcome = emulator.wait(arn, timeout=60)
    assert outcome.status == "SUCCEEDED", (outcome, ran)
    assert len(set(ran)) == len(set(rhythm)), ran
    assert outcome.json() == {
        "step": "caught",
        "child": "caught",
        "callback": "caught",
        "at-most-once": "once",
        "answer": {"fine": 1},
        "pair": [[[2, 4]], 1],
    }
