"""Round 11 interop: more shapes written in both SDKs (AWS's Python SDK and durable_gen), checked
with the round-8/10 machinery: AWS's runner records the AWS handler and its history replays on
the port, whole and cut; `TestRunner(payload_format="aws")` records the port and AWS's SDK,
handed those operations, ends the same way and starts nothing; both handlers take turns on one
execution.

Shapes: Map items that each wait before their step, a Parallel inside every Map item, steps
that share one name (and names of 256 characters and of every ASCII punctuation), a retry
whose delays run out inside a child caught by its parent, and number edges (a float that is
whole, an int past 2**53, -0.0, deeply nested lists).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, replay

pytest.importorskip("aws_durable_execution_sdk_python")
pytest.importorskip("aws_durable_execution_sdk_python_testing")

from aws_durable_execution_sdk_python.config import (
    Duration,
    JitterStrategy,
    MapConfig,
    StepConfig,
)
from aws_durable_execution_sdk_python.context import DurableContext
from aws_durable_execution_sdk_python.execution import durable_execution
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy
from aws_durable_execution_sdk_python_testing.invoker import create_test_lambda_context

from . import test_round8 as r8
from .test_round8 import Case
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


def _counted(key: str, value: Any) -> Callable[..., Any]:
    def run(_ctx: Any = None) -> Any:
        ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
        return value

    return run


# 1. Map items that each wait, then run a step
def p_map_waits(event):  # type: ignore[no-untyped-def]
    def item(x, i):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=1, name=f"pause-{i}")
        return (yield dg.Step(_counted(f"w{i}", x * 2), name="double"))

    r = yield dg.Map(item, event, name="waiting-items", max_concurrency=2)
    return r.results()


@case("map_items_wait", p_map_waits, [1, 2, 3], [2, 4, 6])
def a_map_waits(event: Any, ctx: DurableContext) -> Any:
    def item(c: DurableContext, x: Any, i: int, _all: Any) -> Any:
        c.wait(Duration.from_seconds(1), name=f"pause-{i}")
        return c.step(_counted(f"w{i}", x * 2), name="double")

    return ctx.map(
        event, item, name="waiting-items", config=MapConfig(max_concurrency=2)
    ).get_results()


# 2. a Parallel inside every Map item
def p_parallel_in_map(event):  # type: ignore[no-untyped-def]
    def item(x, i):  # type: ignore[no-untyped-def]
        def left():  # type: ignore[no-untyped-def]
            return (yield dg.Step(_counted(f"l{i}", x + 1), name="left-step"))

        def right():  # type: ignore[no-untyped-def]
            return (yield dg.Step(_counted(f"r{i}", x - 1), name="right-step"))

        r = yield dg.Parallel([dg.Branch(left, name="L"), dg.Branch(right, name="R")], name="pair")
        return r.results()

    r = yield dg.Map(item, event, name="items")
    return r.results()


@case("parallel_in_map", p_parallel_in_map, [10, 20], [[11, 9], [21, 19]])
def a_parallel_in_map(event: Any, ctx: DurableContext) -> Any:
    from aws_durable_execution_sdk_python.context import durable_parallel_branch

    def item(c: DurableContext, x: Any, i: int, _all: Any) -> Any:
        @durable_parallel_branch(name="L")
        def left(c2: DurableContext) -> Any:
            return c2.step(_counted(f"l{i}", x + 1), name="left-step")

        @durable_parallel_branch(name="R")
        def right(c2: DurableContext) -> Any:
            return c2.step(_counted(f"r{i}", x - 1), name="right-step")

        return c.parallel([left(), right()], name="pair").get_results()

    return ctx.map(event, item, name="items").get_results()


# 3. steps sharing one name, a name of 256 characters, non-ASCII names
LONG = ("step-~ " * 60)[:256]  # the most the service takes: printable ASCII


def p_names(event):  # type: ignore[no-untyped-def]
    out = []
    for k in range(3):
        out.append((yield dg.Step(_counted(f"same{k}", k), name="same")))
    out.append((yield dg.Step(_counted("long", "long"), name=LONG)))
    out.append((yield dg.Step(_counted("emoji", "🎉"), name="etape !#$%&()*+,-./:;<=>?@[]^_`{|}~")))
    return out


@case("shared_and_long_names", p_names, None, [0, 1, 2, "long", "🎉"])
def a_names(event: Any, ctx: DurableContext) -> Any:
    out = [ctx.step(_counted(f"same{k}", k), name="same") for k in range(3)]
    out.append(ctx.step(_counted("long", "long"), name=LONG))
    out.append(ctx.step(_counted("emoji", "🎉"), name="etape !#$%&()*+,-./:;<=>?@[]^_`{|}~"))
    return out


# 4. retries that run out inside a child, caught by the parent
class Refused(Exception):
    pass


def _refuse(_ctx: Any = None) -> None:
    ATTEMPTS["refuse"] = ATTEMPTS.get("refuse", 0) + 1
    raise Refused(f"no {ATTEMPTS['refuse']}")


def p_child_retries_out(event):  # type: ignore[no-untyped-def]
    def child():  # type: ignore[no-untyped-def]
        yield dg.Step(
            _refuse, name="refusing",
            retry=dg.Retry(max_attempts=2, initial_delay=1, backoff=1, jitter="none"),
        )  # fmt: skip

    try:
        yield dg.Child(child, name="tries")
    except dg.OperationError:
        after = yield dg.Step(_counted("after", "recovered"), name="after")
        return after
    return "unreachable"


@case("child_retries_run_out_caught", p_child_retries_out, None, "recovered")
def a_child_retries_out(event: Any, ctx: DurableContext) -> Any:
    config = StepConfig(
        retry_strategy=create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=2, initial_delay=Duration.from_seconds(1),
                backoff_rate=1, jitter_strategy=JitterStrategy.NONE,
            )
        )
    )  # fmt: skip

    def child(c: DurableContext) -> None:
        c.step(_refuse, name="refusing", config=config)

    try:
        ctx.run_in_child_context(child, name="tries")
    except Exception:
        return ctx.step(_counted("after", "recovered"), name="after")
    return "unreachable"


# 5. number edges
NUMBERS = {"whole": 2.0, "big": 2**60 + 1, "neg_zero": -0.0, "nested": [[[[1, [2, [3]]]]]],
           "tiny": 5e-324, "text": "1e3"}  # fmt: skip


def p_numbers(event):  # type: ignore[no-untyped-def]
    got = yield dg.Step(_counted("numbers", NUMBERS), name="numbers")
    same = yield dg.Step(lambda: [type(got["whole"]).__name__, got["big"] - 2**60], name="check")
    return [got, same]


@case("number_edges", p_numbers, None, [NUMBERS, ["float", 1]])
def a_numbers(event: Any, ctx: DurableContext) -> Any:
    got = ctx.step(_counted("numbers", NUMBERS), name="numbers")
    same = ctx.step(lambda _: [type(got["whole"]).__name__, got["big"] - 2**60], name="check")
    return [got, same]


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
