"""Round 9 interop: more shapes written in both SDKs (AWS's Python SDK and durable_gen, the
port written from docs/migration.md), checked three ways with the round-8 machinery:

* AWS's in-process runner records the AWS handler; its history replays on the port with
  ``durable_gen.testing.replay``, whole and cut after every event;
* durable_gen's ``TestRunner`` (``payload_format="aws"``) records the port; AWS's SDK, handed
  those operations as a Lambda invocation's state, ends the same way and starts nothing;
* both handlers take turns on one execution through one store.

Shapes: a serial Map whose items wait, a Parallel decided by its first success with a
branch left waiting, contexts nested three deep with a wait at the bottom, an empty Map and an
empty Parallel, values with non-ASCII text, empty containers and None, a wait-for-condition
inside a child context, and a long run of steps (more than one checkpoint batch and page).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, replay

pytest.importorskip("aws_durable_execution_sdk_python")
pytest.importorskip("aws_durable_execution_sdk_python_testing")

from aws_durable_execution_sdk_python.config import (
    CompletionConfig,
    Duration,
    JitterStrategy,
    MapConfig,
    ParallelConfig,
)
from aws_durable_execution_sdk_python.context import DurableContext, durable_parallel_branch
from aws_durable_execution_sdk_python.execution import durable_execution
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitStrategyConfig,
    create_wait_strategy,
)
from aws_durable_execution_sdk_python_testing.invoker import create_test_lambda_context
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

from .test_round8 import Case, _Client, _close_scheduler_loop, run_mixed

CASES: dict[str, Case] = {}
EXPECTED: dict[str, Any] = {}


def case(name: str, port: Callable[..., Any], input: Any, expected: Any) -> Callable[[Any], Any]:
    def deco(body: Any) -> Any:
        CASES[name] = Case(body, port, input)
        EXPECTED[name] = expected
        return body

    return deco


# 1. A serial Map (max_concurrency=1) whose items each wait, then step
def p_map_serial(event):  # type: ignore[no-untyped-def]
    def item(x, i):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=2, name="gap")
        return (yield dg.Step(lambda: f"{x}-{i}", name="label"))

    r = yield dg.Map(item, event, name="serial", max_concurrency=1)
    return r.results()


@case("map_serial_waits", p_map_serial, ["a", "b", "c"], ["a-0", "b-1", "c-2"])
def a_map_serial(event: Any, ctx: DurableContext) -> Any:
    def item(c: DurableContext, x: Any, i: int, items: Any) -> Any:
        c.wait(Duration.from_seconds(2), name="gap")
        return c.step(lambda _: f"{x}-{i}", name="label")

    return ctx.map(event, item, name="serial", config=MapConfig(max_concurrency=1)).get_results()


# 2. A Parallel decided by its first success; the other branch waits a day
def p_first_success(event):  # type: ignore[no-untyped-def]
    def slow():  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=86400, name="day")
        return "slow"

    def fast():  # type: ignore[no-untyped-def]
        return (yield dg.Step(lambda: "fast", name="quick"))

    r = yield dg.Parallel(
        [dg.Branch(slow, name="slow"), dg.Branch(fast, name="fast")],
        name="race",
        completion=dg.Completion.first_successful(),
    )
    return [str(r.completion_reason), r.results()]


@case("parallel_first_success", p_first_success, None, ["MIN_SUCCESSFUL_REACHED", ["fast"]])
def a_first_success(event: Any, ctx: DurableContext) -> Any:
    @durable_parallel_branch(name="slow")
    def slow(c: DurableContext) -> Any:
        c.wait(Duration.from_seconds(86400), name="day")
        return "slow"

    @durable_parallel_branch(name="fast")
    def fast(c: DurableContext) -> Any:
        return c.step(lambda _: "fast", name="quick")

    r = ctx.parallel(
        [slow(), fast()],
        name="race",
        config=ParallelConfig(completion_config=CompletionConfig(min_successful=1)),
    )
    return [r.completion_reason.value, r.get_results()]


# 3. Contexts nested three deep, a wait at the bottom
def p_deep(event):  # type: ignore[no-untyped-def]
    def level3():  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=3, name="bottom-wait")
        return (yield dg.Step(lambda: 3, name="s3"))

    def level2():  # type: ignore[no-untyped-def]
        a = yield dg.Step(lambda: 2, name="s2")
        b = yield dg.Child(level3, name="l3")
        return a + b

    def level1():  # type: ignore[no-untyped-def]
        a = yield dg.Step(lambda: 1, name="s1")
        b = yield dg.Child(level2, name="l2")
        return [a, b]

    return (yield dg.Child(level1, name="l1"))


@case("nested_three_deep", p_deep, None, [1, 5])
def a_deep(event: Any, ctx: DurableContext) -> Any:
    def level3(c: DurableContext) -> Any:
        c.wait(Duration.from_seconds(3), name="bottom-wait")
        return c.step(lambda _: 3, name="s3")

    def level2(c: DurableContext) -> Any:
        a = c.step(lambda _: 2, name="s2")
        return a + c.run_in_child_context(level3, name="l3")

    def level1(c: DurableContext) -> Any:
        a = c.step(lambda _: 1, name="s1")
        return [a, c.run_in_child_context(level2, name="l2")]

    return ctx.run_in_child_context(level1, name="l1")


# 4. An empty Map and an empty Parallel
def p_empty(event):  # type: ignore[no-untyped-def]
    m = yield dg.Map(lambda x: x, [], name="none-mapped")
    p = yield dg.Parallel([], name="none-run")
    after = yield dg.Step(lambda: "after", name="after")
    return [m.results(), str(m.completion_reason), p.results(), after]


@case("empty_batches", p_empty, None, [[], "ALL_COMPLETED", [], "after"])
def a_empty(event: Any, ctx: DurableContext) -> Any:
    m = ctx.map([], lambda c, x, i, items: x, name="none-mapped")
    p = ctx.parallel([], name="none-run")
    after = ctx.step(lambda _: "after", name="after")
    return [m.get_results(), m.completion_reason.value, p.get_results(), after]


# 5. Values with non-ASCII text, empty containers and None
ODD = {"name": "Zoë ✓ 𝄞", "empty_list": [], "empty_dict": {}, "none": None, "nested": [[], [{}]]}


def p_odd_values(event):  # type: ignore[no-untyped-def]
    a = yield dg.Step(lambda: ODD, name="odd")
    b = yield dg.Step(lambda: None, name="nothing")
    c = yield dg.Child(_empty_child, name="empty-child")
    return [a, b, c, event]


def _empty_child():  # type: ignore[no-untyped-def]
    yield dg.Step(lambda: "", name="blank")
    return {}


@case("odd_values", p_odd_values, {"ünïcode": "ñ"}, [ODD, None, {}, {"ünïcode": "ñ"}])
def a_odd_values(event: Any, ctx: DurableContext) -> Any:
    a = ctx.step(lambda _: ODD, name="odd")
    b = ctx.step(lambda _: None, name="nothing")

    def empty_child(c: DurableContext) -> Any:
        c.step(lambda _: "", name="blank")
        return {}

    c = ctx.run_in_child_context(empty_child, name="empty-child")
    return [a, b, c, event]


# 6. A wait-for-condition inside a child context
def p_condition_in_child(event):  # type: ignore[no-untyped-def]
    def inner():  # type: ignore[no-untyped-def]
        strategy = dg.WaitStrategy(until=lambda s: s >= 3, delay=2, backoff=1)
        return (yield dg.WaitForCondition(lambda s: s + 1, 0, wait_strategy=strategy, name="poll"))

    return (yield dg.Child(inner, name="poller"))


@case("condition_in_child", p_condition_in_child, None, 3)
def a_condition_in_child(event: Any, ctx: DurableContext) -> Any:
    def inner(c: DurableContext) -> Any:
        strategy = create_wait_strategy(
            WaitStrategyConfig(
                should_continue_polling=lambda s: s < 3, max_attempts=60,
                initial_delay=Duration.from_seconds(2), max_delay=Duration.from_seconds(2),
                backoff_rate=1, jitter_strategy=JitterStrategy.NONE,
            )
        )  # fmt: skip
        config = WaitForConditionConfig(wait_strategy=strategy, initial_state=0)
        return c.wait_for_condition(lambda s, _c: s + 1, config, name="poll")

    return ctx.run_in_child_context(inner, name="poller")


# 7. A long run of steps: more than one checkpoint batch (250 updates) and page
N_STEPS = 140


def p_many(event):  # type: ignore[no-untyped-def]
    total = 0
    for i in range(N_STEPS):
        total += yield dg.Step(lambda i=i: i, name=f"s{i}")
    yield dg.Wait(seconds=1, name="end-wait")
    return total


@case("many_steps", p_many, None, sum(range(N_STEPS)))
def a_many(event: Any, ctx: DurableContext) -> Any:
    total = 0
    for i in range(N_STEPS):
        total += ctx.step(lambda _, i=i: i, name=f"s{i}")
    ctx.wait(Duration.from_seconds(1), name="end-wait")
    return total


# 8. A Map whose result is over 256 KiB: recorded with ReplayChildren and a summary
BIG_ITEM = 100 * 1024


def _big_item(x, i):  # type: ignore[no-untyped-def]
    # AWS's item returns without an operation: a child workflow that yields nothing
    if False:
        yield
    return x * BIG_ITEM


def p_big_map(event):  # type: ignore[no-untyped-def]
    r = yield dg.Map(_big_item, ["a", "b", "c"], name="big-map")
    after = yield dg.Step(lambda: "after", name="after-big")
    return [len(v) for v in r.results()] + [after]


@case("big_map_result", p_big_map, None, [BIG_ITEM, BIG_ITEM, BIG_ITEM, "after"])
def a_big_map(event: Any, ctx: DurableContext) -> Any:
    r = ctx.map(["a", "b", "c"], lambda c, x, i, items: x * BIG_ITEM, name="big-map")
    after = ctx.step(lambda _: "after", name="after-big")
    return [len(v) for v in r.get_results()] + [after]


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


# --- the checks ---------------------------------------------------------------------------


def _record_with(aws: Any, input: Any = None) -> tuple[Any, list[dict[str, Any]]]:
    """AWS's runner runs ``aws``; its history comes back as every page of the response."""
    with DurableFunctionTestRunner(handler=durable_execution(aws)) as runner:
        arn = runner.run_async(input=json.dumps(input), execution_timeout=60)
        result = runner.wait_for_result(execution_arn=arn, timeout=60)
        pages, marker = [], None
        while True:
            page = runner._executor.get_execution_history(
                arn, include_execution_data=True, marker=marker
            ).to_dict()
            pages.append(json.loads(json.dumps(page, default=str)))
            marker = page.get("NextMarker")
            if not marker:
                break
    _close_scheduler_loop(runner)
    assert result.status.value == "SUCCEEDED", result.error
    return json.loads(result.result), pages


@pytest.mark.parametrize("name", list(CASES))
def test_aws_runner_history_replays_on_the_port_whole_and_cut(name: str) -> None:
    aws_result, history = _record_with(CASES[name].aws, CASES[name].input)
    assert aws_result == EXPECTED[name]
    report = replay(CASES[name].port, history)
    assert report.status == "ok", report.message
    assert report.result == aws_result
    events = [e for page in history for e in page["Events"]]
    step = 1 if len(events) < 60 else 7
    for k in range(1, len(events), step):
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
    client = _Client(ops)
    handler = durable_execution(boto3_client=client)(c.aws)
    event = {
        "DurableExecutionArn": export["DurableExecutionArn"],
        "CheckpointToken": "t-0",
        "InitialExecutionState": {"Operations": ops, "NextMarker": ""},
    }
    output = handler(event, create_test_lambda_context())
    recorded = {op["Id"] for op in ops}
    assert [u.get("Name") for u in client.updates if u["Id"] not in recorded] == []
    assert output["Status"] == "SUCCEEDED", output.get("Error")
    assert json.loads(output["Result"]) == EXPECTED[name]


@pytest.mark.parametrize("order", ["a", "d", "ad", "da"])
@pytest.mark.parametrize("name", list(CASES))
def test_both_sdks_take_turns_on_one_execution(name: str, order: str) -> None:
    c = CASES[name]
    out, trail, _ = run_mixed(c.aws, c.port, json.dumps(c.input), order)
    assert out["Status"] == "SUCCEEDED", (trail, out.get("Error"))
    assert json.loads(out["Result"]) == EXPECTED[name]
