"""Round 8 interop: new shapes written in both SDKs, checked three ways.

Each case is an AWS SDK handler and its durable_gen port, written from docs/migration.md:

* AWS's in-process ``DurableFunctionTestRunner`` (aws-durable-execution-sdk-python-testing)
  runs the AWS handler; its ``GetDurableExecutionHistory`` (with execution data) replays on the
  port with ``durable_gen.testing.replay``, whole and cut after every event;
* durable_gen's ``TestRunner`` (``payload_format="aws"``) runs the port; AWS's SDK handler,
  given those operations as a Lambda invocation's state, ends the same way and starts nothing;
* one execution is invoked by both handlers in turn (AWS's SDK and ``dg.lambda_handler``), both
  checkpointing through one boto3-shaped client over a store kept by ``runtime.apply_updates``:
  taking an execution over mid-way, in both directions, at every invocation.

Shapes the recorded corpus (``fixtures/``) does not hold: FLAT Map and Parallel, a virtual
child, a chained invoke of a durable function for a tenant, a child result over 256 KiB, a
wait-for-condition per Map item under ``min_successful``, an at-most-once step retried, AWS's
extended types in a Map's results, SubTypes inside a Parallel branch, a wait-for-callback and a
heartbeat callback answered while the other SDK holds the execution, and a dict state holding
a ``Decimal`` polled across invocations.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.testing import TestRunner, load_history, replay

pytest.importorskip("aws_durable_execution_sdk_python")
pytest.importorskip("aws_durable_execution_sdk_python_testing")

from aws_durable_execution_sdk_python.config import (
    CallbackConfig,
    ChildConfig,
    CompletionConfig,
    Duration,
    InvokeConfig,
    JitterStrategy,
    MapConfig,
    NestingType,
    ParallelConfig,
    StepConfig,
    StepSemantics,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.context import (
    DurableContext,
    durable_parallel_branch,
)
from aws_durable_execution_sdk_python.exceptions import StepError, WaitForConditionError
from aws_durable_execution_sdk_python.execution import durable_execution
from aws_durable_execution_sdk_python.retries import (
    RetryDecision,
    RetryStrategyConfig,
    create_retry_strategy,
)
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
    create_wait_strategy,
)
from aws_durable_execution_sdk_python_testing.invoker import (
    create_test_lambda_context,
)
from aws_durable_execution_sdk_python_testing.runner import (
    DurableFunctionTestRunner,
)

# --- the cases ------------------------------------------------------------------------------


class Case(msgspec.Struct, frozen=True):
    aws: Callable[[Any, DurableContext], Any]
    port: Callable[..., Any]
    input: Any


CASES: dict[str, Case] = {}


def case(name: str, port: Callable[..., Any], input: Any = None) -> Callable[[Any], Any]:
    def deco(body: Any) -> Any:
        CASES[name] = Case(body, port, input)
        return body

    return deco


# 1. Map with FLAT nesting, each item a child with a named step and a wait
def p_map_flat(event):
    def item(x, i):
        v = yield dg.Step(lambda: x * 10, name="times-ten")
        yield dg.Wait(seconds=1 + i, name="breathe")
        return v

    r = yield dg.Map(item, event["items"], name="flat-map", nesting="flat")
    return r.results()


@case("map_flat", p_map_flat, {"items": [1, 2, 3]})
def a_map_flat(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        v = c.step(lambda _: x * 10, name="times-ten")
        c.wait(Duration.from_seconds(1 + i), name="breathe")
        return v

    return ctx.map(
        event["items"], item, name="flat-map", config=MapConfig(nesting_type=NestingType.FLAT)
    ).get_results()


# 2. Parallel FLAT, named branches, one branch runs a nested Map
def p_parallel_flat(event):
    def left():
        return (yield dg.Step(lambda: "L", name="left-step"))

    def right():
        r = yield dg.Map(lambda x, i: x + 1, [1, 2], name="inner-map")
        return r.results()

    r = yield dg.Parallel(
        [dg.Branch(left, name="left"), dg.Branch(right, name="right")], name="pf", nesting="flat"
    )
    return r.results()


@case("parallel_flat", p_parallel_flat)
def a_parallel_flat(event, ctx: DurableContext):
    @durable_parallel_branch(name="left")
    def left(c: DurableContext):
        return c.step(lambda _: "L", name="left-step")

    @durable_parallel_branch(name="right")
    def right(c: DurableContext):
        return c.map(
            [1, 2], lambda cc, x, i, items: cc.step(lambda _: x + 1), name="inner-map"
        ).get_results()

    return ctx.parallel(
        [left(), right()], name="pf", config=ParallelConfig(nesting_type=NestingType.FLAT)
    ).get_results()


# 3. Virtual child recorded by AWS, replayed by ours
def p_virtual(event):
    @dg.workflow
    def sub(n):
        a = yield dg.Step(lambda: n + 1, name="inc")
        yield dg.Wait(seconds=2, name="sub-wait")
        return a * 2

    v = yield dg.Child(sub, (event,), name="virt", virtual=True)
    w = yield dg.Step(lambda: v + 100, name="after")
    return [v, w]


@case("virtual_child", p_virtual, 5)
def a_virtual(event, ctx: DurableContext):
    def sub(c: DurableContext):
        a = c.step(lambda _: event + 1, name="inc")
        c.wait(Duration.from_seconds(2), name="sub-wait")
        return a * 2

    v = ctx.run_in_child_context(sub, name="virt", config=ChildConfig(is_virtual=True))
    w = ctx.step(lambda _: v + 100, name="after")
    return [v, w]


# 4. Chained invoke of a durable function, with a tenant
def p_invoke_tenant(event):
    r = yield dg.Invoke("callee", {"n": event}, name="call", tenant_id="tenant-7")
    return {"got": r}


@case("invoke_tenant", p_invoke_tenant, 3)
def a_invoke_tenant(event, ctx: DurableContext):
    r = ctx.invoke("callee", {"n": event}, name="call", config=InvokeConfig(tenant_id="tenant-7"))
    return {"got": r}


# 5. Child with a result over 256 KiB (ReplayChildren), AWS's summary generator
BIG = 300 * 1024


def p_big_child(event):
    def sub():
        parts = []
        for k in range(3):
            parts.append((yield dg.Step(lambda k=k: chr(97 + k) * (BIG // 3), name=f"part-{k}")))
        return "".join(parts)

    s = yield dg.Child(sub, name="big")
    return len(s)


@case("big_child", p_big_child)
def a_big_child(event, ctx: DurableContext):
    def sub(c: DurableContext):
        return "".join(
            c.step(lambda _, k=k: chr(97 + k) * (BIG // 3), name=f"part-{k}") for k in range(3)
        )

    s = ctx.run_in_child_context(
        sub, name="big", config=ChildConfig(summary_generator=lambda r: "summary")
    )
    return len(s)


# 6. Wait-for-condition in a map item, min_successful completion
def _grow(s, _c):
    return s + 1


def _until(limit):
    def strat(s, attempt):
        if s >= limit:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))

    return strat


def p_map_condition(event):
    def item(x, i):
        st = yield dg.WaitForCondition(
            lambda s: s + 1,
            0,
            wait_strategy=dg.WaitStrategy(until=lambda s, x=x: s >= x, delay=1),
            name="poll",
        )
        return st * 100

    r = yield dg.Map(item, [1, 2, 3], name="mc", completion=dg.Completion(min_successful=2))
    return [r.completion_reason, sorted(r.results())]


@case("map_condition_min_successful", p_map_condition)
def a_map_condition(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        st = c.wait_for_condition(
            _grow, WaitForConditionConfig(wait_strategy=_until(x), initial_state=0), name="poll"
        )
        return st * 100

    r = ctx.map(
        [1, 2, 3],
        item,
        name="mc",
        config=MapConfig(completion_config=CompletionConfig(min_successful=2)),
    )
    return [r.completion_reason.value, sorted(r.get_results())]


# 7. at-most-once step with retries that fails twice then succeeds
ATT = {}


def _flaky(key):
    def run(_ctx=None):
        ATT[key] = ATT.get(key, 0) + 1
        if ATT[key] < 3:
            raise RuntimeError(f"flaky {ATT[key]}")
        return ATT[key]

    return run


def p_amo(event):
    n = yield dg.Step(
        _flaky("shared"),
        name="amo",
        semantics=dg.AT_MOST_ONCE,
        retry=dg.Retry(max_attempts=4, initial_delay=1, max_delay=10, backoff=2, jitter="none"),
    )
    return n


@case("at_most_once_retried", p_amo)
def a_amo(event, ctx: DurableContext):
    cfg = StepConfig(
        step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
        retry_strategy=create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=4,
                initial_delay=Duration.from_seconds(1),
                max_delay=Duration.from_seconds(10),
                backoff_rate=2,
                jitter_strategy=JitterStrategy.NONE,
            )
        ),
    )
    return ctx.step(_flaky("shared"), name="amo", config=cfg)


# 8. extended values through a Map's results and a child (envelope types)
def p_ext(event):
    def item(x, i):
        return (yield dg.Step(lambda: {"d": Decimal(x) / 4, "t": (x, str(x))}, name="val"))

    r = yield dg.Map(item, [1, 2], name="ext")
    res = r.results()
    return [str(v["d"]) for v in res] + [type(v["t"]).__name__ for v in res]


@case("extended_in_map", p_ext)
def a_ext(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        return c.step(lambda _: {"d": Decimal(x) / 4, "t": (x, str(x))}, name="val")

    res = ctx.map([1, 2], item, name="ext").get_results()
    return [str(v["d"]) for v in res] + [type(v["t"]).__name__ for v in res]


# 9. step and child sub_types inside a parallel branch
def p_subtypes(event):
    @dg.workflow
    def inner():
        return (yield dg.Step(lambda: "fetched", name="fetch", sub_type="Fetch"))

    def br():
        return (yield dg.Child(inner, name="kid", sub_type="Loader"))

    r = yield dg.Parallel([dg.Branch(br, name="only")], name="par")
    return r.results()


@case("sub_types_in_parallel", p_subtypes)
def a_subtypes(event, ctx: DurableContext):
    @durable_parallel_branch(name="only")
    def br(c: DurableContext):
        def inner(cc: DurableContext):
            return cc.step(lambda _: "fetched", name="fetch", config=StepConfig(sub_type="Fetch"))

        return c.run_in_child_context(inner, name="kid", config=ChildConfig(sub_type="Loader"))

    return ctx.parallel([br()], name="par").get_results()


# 10. wait-for-callback answered while the other SDK holds the execution
def p_wfc(event):
    def submit(callback_id):
        return None

    decision = yield dg.WaitForCallback(submit, name="approval")
    if isinstance(decision, str):
        decision = json.loads(decision)
    after = yield dg.Step(lambda: "after", name="after")
    return {"approved": decision["approved"], "after": after}


@case("wait_for_callback_handover", p_wfc)
def a_wfc(event, ctx: DurableContext):
    raw = ctx.wait_for_callback(lambda cid, c: None, name="approval")
    decision = json.loads(raw) if isinstance(raw, str) else raw
    after = ctx.step(lambda _: "after", name="after")
    return {"approved": decision["approved"], "after": after}


# 11. create_callback with a heartbeat timeout, answered, then a wait
def p_cb_hb(event):
    h = yield dg.CreateCallback(name="hb", timeout=600, heartbeat_timeout=300)
    v = yield h
    yield dg.Wait(seconds=3, name="cool")
    return v


@case("callback_heartbeat_answered", p_cb_hb)
def a_cb_hb(event, ctx: DurableContext):
    cb = ctx.create_callback(
        name="hb",
        config=CallbackConfig(
            timeout=Duration.from_seconds(600), heartbeat_timeout=Duration.from_seconds(300)
        ),
    )
    v = cb.result()
    ctx.wait(Duration.from_seconds(3), name="cool")
    return json.loads(v) if isinstance(v, str) else v


# 12. wait-for-condition with a dict state holding Decimal, polled across invocations
def _grow_d(s, _c=None):
    return {"n": s["n"] + 1, "total": s["total"] + Decimal("0.5")}


def p_cond_dict(event):
    st = yield dg.WaitForCondition(
        _grow_d,
        {"n": 0, "total": Decimal("0")},
        wait_strategy=dg.WaitStrategy(until=lambda s: s["n"] >= 4, delay=2),
        name="poll-dict",
    )
    return [st["n"], str(st["total"])]


def _until_four(s, attempt):
    if s["n"] >= 4:
        return WaitForConditionDecision.stop_polling()
    return WaitForConditionDecision.continue_waiting(Duration.from_seconds(2))


@case("condition_dict_decimal", p_cond_dict)
def a_cond_dict(event, ctx: DurableContext):
    st = ctx.wait_for_condition(
        _grow_d,
        WaitForConditionConfig(
            wait_strategy=_until_four, initial_state={"n": 0, "total": Decimal("0")}
        ),
        name="poll-dict",
    )
    return [st["n"], str(st["total"])]


# 13. a Map with tolerated failures whose items fail by their own exception, caught by type
class Declined(Exception):
    pass


def _price(x):
    if x % 2:
        raise Declined(f"odd {x}")
    return x * 3


def p_map_tolerated(event):
    def item(x, i):
        v = yield dg.Step(lambda: _price(x), name="price", retry=dg.Retry(max_attempts=1))
        yield dg.Wait(seconds=1, name="settle")
        return v

    r = yield dg.Map(
        item,
        [1, 2, 3, 4],
        name="prices",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=2),
    )
    errs = sorted(e.error_type.rsplit(".", 1)[-1] for e in r.errors())
    return [r.completion_reason, r.results(), errs, r.failure_count]


ONE = StepConfig(retry_strategy=lambda e, a: RetryDecision.no_retry())


@case("map_tolerated_own_errors", p_map_tolerated)
def a_map_tolerated(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        v = c.step(lambda _: _price(x), name="price", config=ONE)
        c.wait(Duration.from_seconds(1), name="settle")
        return v

    r = ctx.map(
        [1, 2, 3, 4],
        item,
        name="prices",
        config=MapConfig(
            max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=2)
        ),
    )
    errs = sorted(e.type.rsplit(".", 1)[-1] for e in r.get_errors())
    return [r.completion_reason.value, r.get_results(), errs, r.failure_count]


# 14. a step failure caught in the body, its type and data compared
def p_caught(event):
    try:
        yield dg.Step(lambda: _price(1), name="odd", retry=dg.Retry(max_attempts=1))
    except dg.StepFailedError as e:
        kind = e.error_type.rsplit(".", 1)[-1]
        msg = e.error_message
    yield dg.Wait(seconds=1, name="later")
    ok = yield dg.Step(lambda: _price(2), name="even")
    return [kind, msg, ok]


@case("step_failure_caught_across", p_caught)
def a_caught(event, ctx: DurableContext):
    try:
        ctx.step(lambda _: _price(1), name="odd", config=ONE)
    except StepError as e:
        kind = e.error_type.rsplit(".", 1)[-1]
        msg = e.message
    ctx.wait(Duration.from_seconds(1), name="later")
    ok = ctx.step(lambda _: _price(2), name="even")
    return [kind, msg, ok]


# --- one execution, both SDKs --------------------------------------------------------------

ARN = "arn:aws:lambda:us-west-2:123456789012:function:orders:$LATEST/durable-execution/mixed/e-1"


class SharedClient:
    def __init__(self, input_json):
        self.now_ms = 1_700_000_000_000
        self.store = {
            "e-1": rt.Operation(
                id="e-1",
                type="EXECUTION",
                status="STARTED",
                start_timestamp=self.now_ms,
                execution_details=rt.ExecutionDetails(input_payload=input_json),
            )
        }
        self.timers = {}
        self.invokes = []
        self.tokens = (f"tok-{n}" for n in itertools.count())
        self.token = None
        self.calls = 0
        self.cb = itertools.count()

    def event(self):
        self.token = next(self.tokens)
        return {
            "DurableExecutionArn": ARN,
            "CheckpointToken": self.token,
            "InitialExecutionState": {"Operations": self.ops(), "NextMarker": ""},
        }

    def ops(self, ops=None):
        return msgspec.to_builtins(list(self.store.values()) if ops is None else ops)

    def checkpoint_durable_execution(
        self, *, DurableExecutionArn, CheckpointToken, Updates=(), **kw
    ):
        assert CheckpointToken == self.token, (CheckpointToken, self.token)
        updates = msgspec.convert(list(Updates), list[rt.OperationUpdate])
        applied = rt.apply_updates(
            self.store, updates, now_ms=self.now_ms, new_callback_id=lambda: f"cb-{next(self.cb)}"
        )
        for t in applied.timers:
            self.timers[t.kind, t.operation_id] = t
        self.invokes += applied.invokes
        self.token = next(self.tokens)
        self.calls += 1
        return {
            "CheckpointToken": self.token,
            "NewExecutionState": {"Operations": self.ops(applied.operations), "NextMarker": ""},
        }

    def get_durable_execution_state(
        self, *, DurableExecutionArn, CheckpointToken, Marker=None, **kw
    ):
        return {"Operations": self.ops(), "NextMarker": ""}

    def settle(self, invoke_targets, answer):
        """Between invocations: invokes end, callbacks are answered, the next timer fires."""
        changed = False
        for req in self.invokes:
            fn = invoke_targets[req.function_name]
            rt.complete_invoke(
                self.store,
                req.operation_id,
                now_ms=self.now_ms,
                result=json.dumps(fn(json.loads(req.payload or "null"))),
            )
            changed = True
        self.invokes.clear()
        if changed:
            return True
        for op in list(self.store.values()):
            if op.type == "CALLBACK" and op.status == "STARTED":
                r = answer(op)
                if r is not None:
                    rt.complete_callback(
                        self.store, op.callback_details.callback_id, now_ms=self.now_ms, result=r
                    )
                    changed = True
        if changed:
            return True
        if self.timers:
            k = min(self.timers, key=lambda k: self.timers[k].due_ms)
            t = self.timers.pop(k)
            self.now_ms = max(self.now_ms, t.due_ms)
            rt.fire_timer(self.store, t, now_ms=self.now_ms)
            return True
        return False


def run_mixed(
    aws_body,
    port,
    input_json,
    order,
    *,
    invoke_targets=None,
    answer=lambda op: None,
    payload_format="aws",
):
    """order: a string of 'a' (AWS's SDK) and 'd' (durable_gen), one per invocation, cycled."""
    client = SharedClient(input_json)
    aws = durable_execution(boto3_client=client)(aws_body)
    ours = dg.lambda_handler(port, client=client, payload_format=payload_format)
    who = itertools.cycle(order)
    trail = []
    for _ in range(60):
        side = next(who)
        h = aws if side == "a" else ours
        out = h(client.event(), create_test_lambda_context())
        trail.append((side, out["Status"]))
        if out["Status"] != "PENDING":
            return out, trail, client
        if not client.settle(invoke_targets or {}, answer):
            raise AssertionError(f"stuck after {trail}")
    raise AssertionError("too many invocations")


# --- the checks ---------------------------------------------------------------------------


def _callee_value(payload: Any) -> Any:
    return payload["n"] * 7


@durable_execution
def _aws_callee(event: Any, ctx: DurableContext) -> Any:
    return ctx.step(lambda _: _callee_value(event), name="seven")


def _our_callee(event: Any) -> Any:
    return (yield dg.Step(lambda: _callee_value(event), name="seven"))


def _answer(op: rt.Operation) -> str | None:
    """The answer a callback of these cases gets between invocations."""
    if op.name in ("approval create callback id", "hb"):
        return json.dumps({"approved": True})
    return None


EXPECTED: dict[str, Any] = {
    "map_flat": [10, 20, 30],
    "parallel_flat": ["L", [2, 3]],
    "virtual_child": [12, 112],
    "invoke_tenant": {"got": 21},
    "big_child": BIG // 3 * 3,
    "map_condition_min_successful": ["MIN_SUCCESSFUL_REACHED", [100, 200]],
    "at_most_once_retried": 3,
    "extended_in_map": ["0.25", "0.5", "tuple", "tuple"],
    "sub_types_in_parallel": ["fetched"],
    "wait_for_callback_handover": {"approved": True, "after": "after"},
    "callback_heartbeat_answered": {"approved": True},
    "condition_dict_decimal": [4, "2.0"],
    "map_tolerated_own_errors": ["ALL_COMPLETED", [6, 12], ["StepError", "StepError"], 2],
    "step_failure_caught_across": ["Declined", "odd 1", 6],
}

#: Cases whose callbacks the in-process runner would have to answer from another thread.
_CALLBACK_CASES = {"wait_for_callback_handover", "callback_heartbeat_answered"}


@pytest.fixture(autouse=True)
def _quiet_failed_attempts() -> Iterator[None]:
    logging.disable(logging.WARNING)  # the flaky step's attempts, in both SDKs
    ATT.clear()
    yield
    logging.disable(logging.NOTSET)


def _close_scheduler_loop(runner: DurableFunctionTestRunner) -> None:
    """AWS's runner stops its scheduler's event loop but never closes it (a ResourceWarning)."""
    loop = runner._scheduler._loop
    deadline = time.monotonic() + 5
    while loop.is_running() and time.monotonic() < deadline:
        time.sleep(0.005)
    if not loop.is_running():
        loop.close()


def _record_with_aws(name: str) -> tuple[Any, dict[str, Any]]:
    return _record_with(CASES[name].aws, CASES[name].input)


def _record_with(aws: Any, input: Any = None) -> tuple[Any, dict[str, Any]]:
    with DurableFunctionTestRunner(handler=durable_execution(aws)) as runner:
        runner.register_durable_function("callee", _aws_callee)
        arn = runner.run_async(input=json.dumps(input), execution_timeout=60)
        result = runner.wait_for_result(execution_arn=arn, timeout=60)
        history = runner.get_execution_history(arn, include_execution_data=True).to_dict()
    _close_scheduler_loop(runner)
    assert result.status.value == "SUCCEEDED", result.error
    return json.loads(result.result), json.loads(json.dumps(history, default=str))


_RUNNER_CASES = [n for n in CASES if n not in _CALLBACK_CASES]


@pytest.mark.parametrize("name", [n for n in _RUNNER_CASES if n != "big_child"])
def test_aws_runner_history_replays_on_the_port_whole_and_cut(name: str) -> None:
    aws_result, history = _record_with_aws(name)
    assert aws_result == EXPECTED[name]
    report = replay(CASES[name].port, history)
    assert report.status == "ok", report.message
    assert report.result == aws_result
    events = history["Events"]
    for k in range(1, len(events)):
        cut = replay(CASES[name].port, {"Events": events[:k]})
        assert cut.status in ("ok", "incomplete"), (k, events[k - 1]["EventType"], cut.message)


def test_a_child_result_aws_summarised_is_named_by_load_history() -> None:
    """docs/migration.md: history events cannot tell a summary from a result; load_history
    warns, naming the context, and replay reads the summary (a failed report, not a wrong
    value)."""
    aws_result, history = _record_with_aws("big_child")
    assert aws_result == EXPECTED["big_child"]
    warnings = load_history(history).warnings
    assert any("'big'" in w and "summary_generator" in w for w in warnings), warnings
    report = replay(CASES["big_child"].port, history)
    assert report.status == "failed" and report.result is None


class _Client:
    """The boto3 client AWS's SDK calls: records checkpoints, serves the given state."""

    def __init__(self, operations: list[dict[str, Any]]) -> None:
        self.operations = operations
        self.updates: list[dict[str, Any]] = []

    def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.updates += kwargs.get("Updates", [])
        token = f"t-{len(self.updates)}"
        return {"CheckpointToken": token, "NewExecutionState": {"Operations": []}}

    def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
        return {"Operations": self.operations, "NextMarker": ""}


@pytest.mark.parametrize("name", _RUNNER_CASES)
def test_aws_sdk_replays_what_the_port_recorded(name: str) -> None:
    c = CASES[name]
    runner = TestRunner(functions={"callee": _our_callee}, payload_format="aws")
    run = runner.run(c.port, c.input)
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
    assert [u["Name"] for u in client.updates if u["Id"] not in recorded] == []
    assert output["Status"] == "SUCCEEDED", output.get("Error")
    assert json.loads(output["Result"]) == EXPECTED[name]


@pytest.mark.parametrize("order", ["a", "d", "ad", "da", "aad", "dda"])
@pytest.mark.parametrize("name", list(CASES))
def test_both_sdks_take_turns_on_one_execution(name: str, order: str) -> None:
    """Each invocation goes to AWS's SDK (a) or durable_gen (d) in turn, through one store."""
    c = CASES[name]
    out, trail, client = run_mixed(
        c.aws, c.port, json.dumps(c.input), order,
        invoke_targets={"callee": _callee_value}, answer=_answer,
    )  # fmt: skip
    assert out["Status"] == "SUCCEEDED", (trail, out.get("Error"))
    assert json.loads(out["Result"]) == EXPECTED[name]
    if name == "map_condition_min_successful":
        return  # its third item is left running once two succeeded
    ended = [op for op in client.store.values() if op.type != "EXECUTION"]
    assert all(op.status in ("SUCCEEDED", "FAILED") for op in ended), [
        (op.type, op.name, op.status) for op in ended
    ]


# --- a wait-for-condition out of attempts, in both SDKs -----------------------------------


def _aws_poll(ctx: DurableContext) -> Any:
    strategy = create_wait_strategy(
        WaitStrategyConfig(
            should_continue_polling=lambda s: True, max_attempts=2,
            initial_delay=Duration.from_seconds(1), max_delay=Duration.from_seconds(1),
            backoff_rate=1, jitter_strategy=JitterStrategy.NONE,
        )
    )  # fmt: skip
    config = WaitForConditionConfig(wait_strategy=strategy, initial_state=0)
    return ctx.wait_for_condition(lambda s, _c: s + 1, config, name="poll")


def _our_poll():  # type: ignore[no-untyped-def]
    strategy = dg.WaitStrategy(until=lambda s: False, max_attempts=2, delay=1)
    return (yield dg.WaitForCondition(lambda s: s + 1, 0, wait_strategy=strategy, name="poll"))


def _aws_escapes(event: Any, ctx: DurableContext) -> Any:
    return _aws_poll(ctx)


def _our_escapes(event: Any):  # type: ignore[no-untyped-def]
    return (yield from _our_poll())


def _aws_escapes_child(event: Any, ctx: DurableContext) -> Any:
    return ctx.run_in_child_context(_aws_poll, name="kid")


def _our_escapes_child(event: Any):  # type: ignore[no-untyped-def]
    return (yield dg.Child(_our_poll, name="kid"))


def _aws_escapes_item(event: Any, ctx: DurableContext) -> Any:
    batch = ctx.map([1], lambda c, x, i, items: _aws_poll(c), name="m")
    return [e.type for e in batch.get_errors()]


def _our_escapes_item(event: Any):  # type: ignore[no-untyped-def]
    def item(x: int, i: int):  # type: ignore[no-untyped-def]
        return (yield from _our_poll())

    batch = yield dg.Map(item, [1], name="m")
    return [e.error_type for e in batch.errors()]


def _aws_catches(event: Any, ctx: DurableContext) -> Any:
    try:
        return _aws_poll(ctx)
    except WaitForConditionError as exc:
        return ["caught", type(exc).__name__]


def _our_catches(event: Any):  # type: ignore[no-untyped-def]
    try:
        return (yield from _our_poll())
    except dg.WaitConditionNotMetError as exc:  # the port of `except WaitForConditionError`
        return ["caught", type(exc).__name__]


def _failure_types(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for e in events:
        if e["EventType"].endswith("Failed"):
            details = next(v for k, v in e.items() if k.endswith("Details"))
            out.append((e["EventType"], details["Error"]["Payload"]["ErrorType"]))
    return out


@pytest.mark.parametrize(
    ("aws", "port"),
    [
        (_aws_escapes, _our_escapes),
        (_aws_escapes_child, _our_escapes_child),
        (_aws_escapes_item, _our_escapes_item),
    ],
    ids=["escapes the workflow", "escapes a child", "escapes a Map item"],
)
def test_an_exhausted_condition_is_recorded_as_aws_records_it(aws: Any, port: Any) -> None:
    """Under ``payload_format="aws"``, the failure types of the step, the context it escapes
    and the execution are the ones AWS's SDK records for the same workflow, and each SDK
    replays the other's history to the same failure."""
    with DurableFunctionTestRunner(handler=durable_execution(aws)) as runner:
        arn = runner.run_async(input="null", execution_timeout=60)
        runner.wait_for_result(execution_arn=arn, timeout=60)
        history = runner.get_execution_history(arn, include_execution_data=True).to_dict()
    _close_scheduler_loop(runner)
    history = json.loads(json.dumps(history, default=str))
    run = TestRunner(payload_format="aws").run(port, None)
    assert run.status == ("SUCCEEDED" if aws is _aws_escapes_item else "FAILED")
    assert _failure_types(run.export()["Events"]) == _failure_types(history["Events"])
    report = replay(port, history)
    assert report.status == "ok", report.message


def test_a_port_catches_an_exhausted_condition_as_wait_condition_not_met() -> None:
    """docs/migration.md: around a condition that runs out of attempts, `except
    WaitForConditionError` ports to `except dg.WaitConditionNotMetError`, on a new execution in
    either format and on the history AWS's SDK recorded."""
    for payload_format in ("json", "aws"):
        assert dg.run(_our_catches, None, skip_time=True, payload_format=payload_format) == [  # type: ignore[arg-type]
            "caught",
            "WaitConditionNotMetError",
        ]
    aws_result, history = _record_with(_aws_catches)
    assert aws_result == ["caught", "WaitForConditionError"]
    report = replay(_our_catches, history)
    assert report.status == "ok", report.message
    assert report.result == ["caught", "WaitConditionNotMetError"]


@pytest.mark.parametrize("order", ["a", "d", "ad", "da", "aad", "dda"])
def test_a_condition_polled_by_both_sdks_in_turn_runs_out_once(order: str) -> None:
    """The checks either SDK ran count toward the same `max_attempts`; whichever runs the last
    one, its own exception class is what the workflow catches."""
    out, trail, _ = run_mixed(_aws_catches, _our_catches, "null", order)
    assert out["Status"] == "SUCCEEDED", (trail, out.get("Error"))
    caught = json.loads(out["Result"])
    assert caught in (["caught", "WaitForConditionError"], ["caught", "WaitConditionNotMetError"])
    # two checks with one wait between: two invocations, the second runs out
    assert len(trail) == 2 and caught[1] == (
        "WaitForConditionError" if (order * 2)[1] == "a" else "WaitConditionNotMetError"
    )


def _broken_check(state: Any, _ctx: Any = None) -> Any:
    raise RuntimeError("endpoint down")


def _aws_check_raises(event: Any, ctx: DurableContext) -> Any:
    config = WaitForConditionConfig(wait_strategy=lambda s, a: None, initial_state=0)
    try:
        return ctx.wait_for_condition(_broken_check, config, name="poll")
    except WaitForConditionError as exc:
        return ["caught", type(exc).__name__, exc.error_type]


def _our_check_raises(event: Any):  # type: ignore[no-untyped-def]
    strategy = dg.WaitStrategy(until=lambda s: False, max_attempts=4, delay=1)
    try:
        return (yield dg.WaitForCondition(_broken_check, 0, wait_strategy=strategy, name="poll"))
    except dg.StepFailedError as exc:
        return ["caught", type(exc).__name__, exc.error_type]


def test_a_check_that_raises_is_a_step_failure_not_a_condition_out_of_attempts() -> None:
    """docs/migration.md: AWS's `WaitForConditionError` also covers a check that raised; the
    port's `except dg.StepFailedError` catches that, with the check's exception as the type."""
    aws_result, history = _record_with(_aws_check_raises)
    assert aws_result == ["caught", "WaitForConditionError", "RuntimeError"]
    expected = ["caught", "StepFailedError", "RuntimeError"]
    report = replay(_our_check_raises, history)
    assert (report.status, report.result) == ("ok", expected), report.message
    for payload_format in ("json", "aws"):
        assert (
            dg.run(_our_check_raises, None, skip_time=True, payload_format=payload_format)
            == expected
        )  # type: ignore[arg-type]


# --- where each kind of failure escapes: the types both SDKs record --------------------------


class Refused(Exception):
    pass


def _refuse(_ctx: Any = None) -> Any:
    raise Refused("no")


def _aws_step_fails(c: DurableContext) -> Any:
    return c.step(_refuse, name="s", config=ONE)


def _our_step_fails():  # type: ignore[no-untyped-def]
    return (yield dg.Step(_refuse, name="s", retry=dg.Retry(max_attempts=1)))


def _aws_callback_times_out(c: DurableContext) -> Any:
    cb = c.create_callback(name="cb", config=CallbackConfig(timeout=Duration.from_seconds(2)))
    return cb.result()


def _our_callback_times_out():  # type: ignore[no-untyped-def]
    handle = yield dg.CreateCallback(name="cb", timeout=2)
    return (yield handle)


def _aws_wfc_times_out(c: DurableContext) -> Any:
    config = WaitForCallbackConfig(timeout=Duration.from_seconds(2))
    return c.wait_for_callback(lambda cid, x: None, name="w", config=config)


def _our_wfc_times_out():  # type: ignore[no-untyped-def]
    return (yield dg.WaitForCallback(lambda cid: None, name="w", timeout=2))


def _aws_submitter_fails(c: DurableContext) -> Any:
    config = WaitForCallbackConfig(retry_strategy=lambda e, a: RetryDecision.no_retry())
    return c.wait_for_callback(lambda cid, x: _refuse(), name="w", config=config)


def _our_submitter_fails():  # type: ignore[no-untyped-def]
    return (
        yield dg.WaitForCallback(lambda cid: _refuse(), name="w", retry=dg.Retry(max_attempts=1))
    )


def _aws_invoke_fails(c: DurableContext) -> Any:
    return c.invoke("no-such-function", 1, name="i")


def _our_invoke_fails():  # type: ignore[no-untyped-def]
    return (yield dg.Invoke("no-such-function", 1, name="i"))


def _aws_parallel_raises(c: DurableContext) -> Any:
    c.parallel([_aws_step_fails], name="p").throw_if_error()


def _our_parallel_raises():  # type: ignore[no-untyped-def]
    batch = yield dg.Parallel([_our_step_fails], name="p")
    batch.raise_if_failed()


FAILURES: dict[str, tuple[Any, Any]] = {
    "step": (_aws_step_fails, _our_step_fails),
    "condition out of attempts": (_aws_poll, _our_poll),
    "callback timeout": (_aws_callback_times_out, _our_callback_times_out),
    "wait-for-callback timeout": (_aws_wfc_times_out, _our_wfc_times_out),
    "wait-for-callback submitter": (_aws_submitter_fails, _our_submitter_fails),
    "invoke": (_aws_invoke_fails, _our_invoke_fails),
    "parallel raise": (_aws_parallel_raises, _our_parallel_raises),
}


def _escaping(where: str, aws_body: Any, our_body: Any) -> tuple[Any, Any]:
    if where == "workflow":
        return (lambda event, ctx: aws_body(ctx)), (lambda event: (yield from our_body()))
    if where == "child":
        return (
            lambda event, ctx: ctx.run_in_child_context(aws_body, name="kid"),
            lambda event: (yield dg.Child(our_body, name="kid")),
        )

    def aws_map(event: Any, ctx: DurableContext) -> Any:
        batch = ctx.map([1], lambda c, x, i, items: aws_body(c), name="m")
        return [e.type for e in batch.get_errors()]

    def our_map(event: Any):  # type: ignore[no-untyped-def]
        def item(x: int, i: int):  # type: ignore[no-untyped-def]
            return (yield from our_body())

        batch = yield dg.Map(item, [1], name="m")
        return [e.error_type for e in batch.errors()]

    return aws_map, our_map


@pytest.mark.parametrize("where", ["workflow", "child", "item"])
@pytest.mark.parametrize("kind", list(FAILURES))
def test_a_failure_escaping_is_recorded_as_aws_records_it(kind: str, where: str) -> None:
    """Under ``payload_format="aws"``, every failure event (operation, context, execution)
    has the ErrorType AWS's SDK gives it for the same workflow (the one exception: the service
    names a missing function its own way)."""
    aws, port = _escaping(where, *FAILURES[kind])
    with DurableFunctionTestRunner(handler=durable_execution(aws)) as runner:
        arn = runner.run_async(input="null", execution_timeout=60)
        runner.wait_for_result(execution_arn=arn, timeout=60)
        history = runner.get_execution_history(arn, include_execution_data=True).to_dict()
    _close_scheduler_loop(runner)
    theirs = _failure_types(json.loads(json.dumps(history, default=str))["Events"])
    ours_runner = TestRunner(payload_format="aws")
    run = ours_runner.run(port, None)
    ours_runner.run_until_idle(include_callback_timeouts=True)
    assert run.done
    ours = _failure_types(run.export()["Events"])
    if kind == "invoke":  # ResourceNotFoundException there, FunctionNotRegisteredError here
        theirs, ours = theirs[1:], ours[1:]
    assert ours == theirs


def test_a_history_recorded_before_still_replays() -> None:
    """durable_gen recorded an exhausted condition escaping the workflow as AWS's `StepError`
    before `WaitConditionNotMetError` had its own class: that history still replays."""
    run = TestRunner(payload_format="aws").run(_our_escapes, None)
    export = run.export()
    for event in export["Events"]:
        if event["EventType"] == "ExecutionFailed":
            error = event["ExecutionFailedDetails"]["Error"]["Payload"]
            assert error["ErrorType"] == AWS_WAIT_FOR_CONDITION
            error["ErrorType"] = "aws_durable_execution_sdk_python.exceptions.StepError"
    report = replay(_our_escapes, export)
    assert report.status == "ok", report.message
    for event in export["Events"]:
        if event["EventType"] == "ExecutionFailed":
            event["ExecutionFailedDetails"]["Error"]["Payload"]["ErrorType"] = "KeyError"
    assert replay(_our_escapes, export).status == "failed"  # another failure is still told apart


AWS_WAIT_FOR_CONDITION = "aws_durable_execution_sdk_python.exceptions.WaitForConditionError"
