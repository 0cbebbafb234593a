"""Small workflows written twice: with AWS's Python SDK and with durable_gen.

Each pair is one edge shape the published requirements do not cover. The AWS side uses the
SDK's public API (``DurableContext``, its configs); the durable_gen side is written from
docs/guide.md and docs/migration.md. ``test_differential_round10.py`` runs both and compares
what they did.

A pair is ``Pair(aws, ours, input, answers, targets)``: ``answers`` lists what the outside
world does with each callback the execution opens, in the order they open (``("succeed",
text)`` sends ``text`` as the result's payload, ``None`` for none; ``("fail", type,
message, data)``); ``targets`` names the invoke targets of the pair (registered in both
SDKs, from ``TARGETS``).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypedDict

from aws_durable_execution_sdk_python.config import (
    CallbackConfig,
    CompletionConfig,
    Duration,
    JitterStrategy,
    MapConfig,
    ParallelConfig,
    StepConfig,
    StepSemantics,
)
from aws_durable_execution_sdk_python.context import (
    DurableContext,
    StepContext,
    durable_parallel_branch,
    durable_step,
)
from aws_durable_execution_sdk_python.exceptions import StepError
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
)

import durable_gen as dg


@dataclass
class Pair:
    aws: Callable[[Any, DurableContext], Any]
    ours: Callable[..., Any]
    input: Any = None
    answers: list[tuple[Any, ...]] = field(default_factory=list)
    targets: tuple[str, ...] = ()


PAIRS: dict[str, Pair] = {}

#: Attempt counters of the flaky steps, reset before each run.
ATTEMPTS: dict[str, int] = {}


def pair(
    name: str,
    ours: Callable[..., Any],
    input: Any = None,
    answers: list[tuple[Any, ...]] | None = None,
    targets: tuple[str, ...] = (),
) -> Callable[[Any], Any]:
    def deco(aws: Any) -> Any:
        PAIRS[name] = Pair(aws, ours, input, list(answers or []), targets)
        return aws

    return deco


def _retry(n: int) -> StepConfig:
    config = RetryStrategyConfig(
        max_attempts=n,
        initial_delay=Duration.from_seconds(1),
        max_delay=Duration.from_seconds(1),
        backoff_rate=1,
        jitter_strategy=JitterStrategy.NONE,
    )
    return StepConfig(retry_strategy=create_retry_strategy(config))


def _our_retry(n: int) -> dg.Retry:
    return dg.Retry(max_attempts=n, initial_delay=1, max_delay=1, backoff=1, jitter="none")


ONE = _retry(1)
OUR_ONE = _our_retry(1)


class OutOfStock(Exception):
    """A user's own exception, raised by a step."""


def _out_of_stock(sku: str) -> Any:
    raise OutOfStock(f"no {sku} left")


def _flaky(key: str, fail_times: int, value: Any) -> Any:
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] <= fail_times:
        raise RuntimeError(f"{key} attempt {ATTEMPTS[key]} failed")
    return value


UNICODE = 'héllo wörld ✓ 日本語 🎉 \u00a0tab\tnew\nline "quoted" \\ back'
BIG_TEXT = "x" * (250 * 1024)
BIG_DICT = {f"k{i:05d}": "v" * 100 for i in range(2400)}  # about 250 KiB as JSON


# --- invoke targets (durable functions in both SDKs) -----------------------------------------


def aws_echo(event: Any, ctx: DurableContext) -> Any:
    return event


def our_echo(event: Any) -> Any:
    return event
    yield  # a workflow


def aws_fails(event: Any, ctx: DurableContext) -> Any:
    return ctx.step(lambda _: _out_of_stock("widget"), name="reserve", config=ONE)


def our_fails(event: Any) -> Any:
    return (yield dg.Step(lambda: _out_of_stock("widget"), name="reserve", retry=OUR_ONE))


def aws_raises(event: Any, ctx: DurableContext) -> Any:
    raise OutOfStock("no gadget left")


def our_raises(event: Any) -> Any:
    raise OutOfStock("no gadget left")
    yield  # a workflow


TARGETS: dict[str, tuple[Any, Any]] = {
    "echo": (aws_echo, our_echo),
    "fails": (aws_fails, our_fails),
    "raises": (aws_raises, our_raises),
}


# --- steps ------------------------------------------------------------------------------------


def o_step_none(event):
    return (yield dg.Step(lambda: None, name="nothing"))


@pair("step_returns_none", o_step_none)
def a_step_none(event, ctx: DurableContext):
    return ctx.step(lambda _: None, name="nothing")


def o_unicode(event):
    return (yield dg.Step(lambda: event + "!", name="crème brûlée ✓"))


@pair("step_unicode_payload_and_name", o_unicode, UNICODE)
def a_unicode(event, ctx: DurableContext):
    return ctx.step(lambda _: event + "!", name="crème brûlée ✓")


def o_big_text(event):
    text = yield dg.Step(lambda: BIG_TEXT, name="big")
    return len(text)


@pair("step_big_text", o_big_text)
def a_big_text(event, ctx: DurableContext):
    return len(ctx.step(lambda _: BIG_TEXT, name="big"))


def o_big_dict(event):
    d = yield dg.Step(lambda: BIG_DICT, name="big")
    return [len(d), d["k02399"]]


@pair("step_big_dict", o_big_dict)
def a_big_dict(event, ctx: DurableContext):
    d = ctx.step(lambda _: BIG_DICT, name="big")
    return [len(d), d["k02399"]]


def o_custom_exc(event):
    return (yield dg.Step(lambda: _out_of_stock("bolt"), name="reserve", retry=OUR_ONE))


@pair("step_custom_exception_uncaught", o_custom_exc)
def a_custom_exc(event, ctx: DurableContext):
    return ctx.step(lambda _: _out_of_stock("bolt"), name="reserve", config=ONE)


def o_custom_caught(event):
    try:
        yield dg.Step(lambda: _out_of_stock("nut"), name="reserve", retry=OUR_ONE)
    except dg.StepFailedError as e:
        return [e.error_type.rsplit(".", 1)[-1], e.error_message]


@pair("step_custom_exception_caught", o_custom_caught)
def a_custom_caught(event, ctx: DurableContext):
    try:
        ctx.step(lambda _: _out_of_stock("nut"), name="reserve", config=ONE)
    except StepError as e:
        return [e.error_type.rsplit(".", 1)[-1], e.message]


def o_last_attempt(event):
    return (
        yield dg.Step(lambda: _flaky("last", 2, "third time"), name="flaky", retry=_our_retry(3))
    )


@pair("retry_succeeds_on_last_attempt", o_last_attempt)
def a_last_attempt(event, ctx: DurableContext):
    return ctx.step(lambda _: _flaky("last", 2, "third time"), name="flaky", config=_retry(3))


def o_exhausted(event):
    return (yield dg.Step(lambda: _flaky("ex", 5, "never"), name="flaky", retry=_our_retry(2)))


@pair("retry_exhausted", o_exhausted)
def a_exhausted(event, ctx: DurableContext):
    return ctx.step(lambda _: _flaky("ex", 5, "never"), name="flaky", config=_retry(2))


def o_amo(event):
    return (yield dg.Step(lambda: {"once": True}, name="charge", semantics=dg.AT_MOST_ONCE))


@pair("at_most_once_step", o_amo)
def a_amo(event, ctx: DurableContext):
    config = StepConfig(step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY)
    return ctx.step(lambda _: {"once": True}, name="charge", config=config)


def o_body_raises(event):
    yield dg.Step(lambda: 1, name="first")
    raise OutOfStock("body gave up")


@pair("body_raises_after_a_step", o_body_raises)
def a_body_raises(event, ctx: DurableContext):
    ctx.step(lambda _: 1, name="first")
    raise OutOfStock("body gave up")


def o_returns_none(event):
    yield dg.Step(lambda: 1, name="first")
    return None


@pair("execution_returns_none", o_returns_none)
def a_returns_none(event, ctx: DurableContext):
    ctx.step(lambda _: 1, name="first")
    return None


def o_no_ops(event):
    return {"echo": event}
    yield


@pair("no_operations_unicode_input", o_no_ops, {"name": UNICODE, "n": [1, 2.5, None, True]})
def a_no_ops(event, ctx: DurableContext):
    return {"echo": event}


# --- waits ------------------------------------------------------------------------------------


def o_wait1(event):
    yield dg.Wait(seconds=1, name="tick")
    return "after"


@pair("wait_one_second", o_wait1)
def a_wait1(event, ctx: DurableContext):
    ctx.wait(Duration.from_seconds(1), name="tick")
    return "after"


def o_waits(event):
    yield dg.Wait(seconds=1)
    yield dg.Wait(seconds=2, name="two")
    return "done"


@pair("two_waits_one_unnamed", o_waits)
def a_waits(event, ctx: DurableContext):
    ctx.wait(Duration.from_seconds(1))
    ctx.wait(Duration.from_seconds(2), name="two")
    return "done"


# --- child contexts ---------------------------------------------------------------------------


def _our_level(depth: int, fail: bool) -> Any:
    def body():
        if depth == 4:
            if fail:
                return (yield dg.Step(lambda: _out_of_stock("deep"), name="bottom", retry=OUR_ONE))
            return (yield dg.Step(lambda: "bottom", name="bottom"))
        return (yield dg.Child(_our_level(depth + 1, fail), name=f"level{depth + 1}"))

    return body


def _aws_level(depth: int, fail: bool) -> Any:
    def body(c: DurableContext):
        if depth == 4:
            if fail:
                return c.step(lambda _: _out_of_stock("deep"), name="bottom", config=ONE)
            return c.step(lambda _: "bottom", name="bottom")
        return c.run_in_child_context(_aws_level(depth + 1, fail), name=f"level{depth + 1}")

    return body


def o_deep(event):
    return (yield dg.Child(_our_level(1, False), name="level1"))


@pair("child_four_deep", o_deep)
def a_deep(event, ctx: DurableContext):
    return ctx.run_in_child_context(_aws_level(1, False), name="level1")


def o_deep_fail(event):
    return (yield dg.Child(_our_level(1, True), name="level1"))


@pair("child_four_deep_fails", o_deep_fail)
def a_deep_fail(event, ctx: DurableContext):
    return ctx.run_in_child_context(_aws_level(1, True), name="level1")


def o_deep_caught(event):
    try:
        yield dg.Child(_our_level(1, True), name="level1")
    except dg.ChildFailedError as e:
        return ["caught", e.error_message]


@pair("child_four_deep_fails_caught", o_deep_caught)
def a_deep_caught(event, ctx: DurableContext):
    try:
        ctx.run_in_child_context(_aws_level(1, True), name="level1")
    except Exception as e:
        return ["caught", str(e)]


def o_child_none(event):
    def body():
        yield dg.Wait(seconds=1, name="pause")

    return (yield dg.Child(body, name="quiet"))


@pair("child_returns_none_after_wait", o_child_none)
def a_child_none(event, ctx: DurableContext):
    def body(c: DurableContext):
        c.wait(Duration.from_seconds(1), name="pause")

    return ctx.run_in_child_context(body, name="quiet")


def o_child_raises(event):
    def body():
        raise OutOfStock("child body gave up")
        yield

    return (yield dg.Child(body, name="thrower"))


@pair("child_body_raises_custom", o_child_raises)
def a_child_raises(event, ctx: DurableContext):
    def body(c: DurableContext):
        raise OutOfStock("child body gave up")

    return ctx.run_in_child_context(body, name="thrower")


# --- map --------------------------------------------------------------------------------------


def o_map_empty(event):
    r = yield dg.Map(lambda x, i: x, [], name="none")
    return [r.results(), str(r.completion_reason)]


@pair("map_empty", o_map_empty)
def a_map_empty(event, ctx: DurableContext):
    r = ctx.map([], lambda c, x, i, items: x, name="none")
    return [r.get_results(), r.completion_reason.value]


def o_map_one(event):
    def item(x, i):
        return (yield dg.Step(lambda: x * 2, name="double"))

    r = yield dg.Map(item, [21], name="one")
    return r.results()


@pair("map_of_one", o_map_one)
def a_map_one(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        return c.step(lambda _: x * 2, name="double")

    return ctx.map([21], item, name="one").get_results()


def o_map_none(event):
    def item(x, i):
        yield dg.Step(lambda: None, name="noop")

    r = yield dg.Map(item, ["a", "b"], name="nones")
    return r.results()


@pair("map_items_return_none", o_map_none)
def a_map_none(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        c.step(lambda _: None, name="noop")

    return ctx.map(["a", "b"], item, name="nones").get_results()


def o_map_fail(event):
    def item(x, i):
        if x == "bad":
            return (yield dg.Step(lambda: _out_of_stock(x), name="check", retry=OUR_ONE))
        return (yield dg.Step(lambda: x.upper(), name="check"))

    r = yield dg.Map(item, ["ok", "bad", "fine"], name="mixed", max_concurrency=1)
    errors = [e.error_message for e in r.errors()]
    started = [i.status for i in r.items if i.status != "NOT_STARTED"]  # AWS's r.all
    return [str(r.completion_reason), errors, started]


@pair("map_one_item_fails", o_map_fail)
def a_map_fail(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        if x == "bad":
            return c.step(lambda _: _out_of_stock(x), name="check", config=ONE)
        return c.step(lambda _: x.upper(), name="check")

    r = ctx.map(["ok", "bad", "fine"], item, name="mixed", config=MapConfig(max_concurrency=1))
    errors = [e.message for e in r.get_errors()]
    return [r.completion_reason.value, errors, [i.status.value for i in r.all]]


def o_map_min(event):
    def item(x, i):
        return (yield dg.Step(lambda: x, name="take"))

    r = yield dg.Map(
        item,
        [1, 2, 3, 4],
        name="enough",
        max_concurrency=1,
        completion=dg.Completion(min_successful=2),
    )
    done = [i.result for i in r.items if i.status == "SUCCEEDED"]
    return [str(r.completion_reason), done, r.success_count]


@pair("map_min_successful_met_early", o_map_min)
def a_map_min(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        return c.step(lambda _: x, name="take")

    config = MapConfig(max_concurrency=1, completion_config=CompletionConfig(min_successful=2))
    r = ctx.map([1, 2, 3, 4], item, name="enough", config=config)
    return [r.completion_reason.value, [i.result for i in r.succeeded()], r.success_count]


def o_map_plain(event):
    r = yield dg.Map(lambda x, i: f"{i}:{x}", ["é", "ß"], name="plain")
    return r.results()


@pair("map_plain_function_items", o_map_plain)
def a_map_plain(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        return c.step(lambda _: f"{i}:{x}", name=None)

    return ctx.map(["é", "ß"], item, name="plain").get_results()


def o_map_raise_if(event):
    def item(x, i):
        if x == 2:
            return (yield dg.Step(lambda: _out_of_stock("two"), name="check", retry=OUR_ONE))
        return (yield dg.Step(lambda: x, name="check"))

    r = yield dg.Map(item, [1, 2], name="strict", max_concurrency=1)
    r.raise_if_failed()
    return r.results()


@pair("map_raise_if_failed", o_map_raise_if)
def a_map_raise_if(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        if x == 2:
            return c.step(lambda _: _out_of_stock("two"), name="check", config=ONE)
        return c.step(lambda _: x, name="check")

    r = ctx.map([1, 2], item, name="strict", config=MapConfig(max_concurrency=1))
    r.throw_if_error()
    return r.get_results()


# --- parallel ---------------------------------------------------------------------------------


def o_par_empty(event):
    r = yield dg.Parallel([], name="nothing")
    return [r.results(), str(r.completion_reason)]


@pair("parallel_empty", o_par_empty)
def a_par_empty(event, ctx: DurableContext):
    r = ctx.parallel([], name="nothing")
    return [r.get_results(), r.completion_reason.value]


def o_par_one(event):
    def only():
        return (yield dg.Step(lambda: "only", name="s"))

    r = yield dg.Parallel([dg.Branch(only, name="only")], name="single")
    return r.results()


@pair("parallel_of_one", o_par_one)
def a_par_one(event, ctx: DurableContext):
    @durable_parallel_branch(name="only")
    def only(c: DurableContext):
        return c.step(lambda _: "only", name="s")

    return ctx.parallel([only()], name="single").get_results()


def o_par_first(event):
    def fast():
        return (yield dg.Step(lambda: "fast", name="s"))

    def slow():
        yield dg.Wait(seconds=5, name="nap")
        return "slow"

    r = yield dg.Parallel(
        [dg.Branch(fast, name="fast"), dg.Branch(slow, name="slow")],
        name="race",
        max_concurrency=1,
        completion=dg.Completion.first_successful(),
    )
    started = [i.status for i in r.items if i.status != "NOT_STARTED"]  # AWS's r.all
    return [str(r.completion_reason), r.success_count, started]


@pair("parallel_first_successful_serial", o_par_first)
def a_par_first(event, ctx: DurableContext):
    @durable_parallel_branch(name="fast")
    def fast(c: DurableContext):
        return c.step(lambda _: "fast", name="s")

    @durable_parallel_branch(name="slow")
    def slow(c: DurableContext):
        c.wait(Duration.from_seconds(5), name="nap")
        return "slow"

    config = ParallelConfig(
        max_concurrency=1, completion_config=CompletionConfig.first_successful()
    )
    r = ctx.parallel([fast(), slow()], name="race", config=config)
    statuses = [i.status.value for i in r.all]
    return [r.completion_reason.value, r.success_count, statuses]


def o_par_failfast(event):
    def bad():
        return (yield dg.Step(lambda: _out_of_stock("b"), name="s", retry=OUR_ONE))

    def good():
        return (yield dg.Step(lambda: "g", name="s"))

    r = yield dg.Parallel(
        [dg.Branch(bad, name="bad"), dg.Branch(good, name="good")],
        name="ff",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=0),
    )
    return [str(r.completion_reason), r.failure_count, [e.error_message for e in r.errors()]]


@pair("parallel_fail_fast_serial", o_par_failfast)
def a_par_failfast(event, ctx: DurableContext):
    @durable_parallel_branch(name="bad")
    def bad(c: DurableContext):
        return c.step(lambda _: _out_of_stock("b"), name="s", config=ONE)

    @durable_parallel_branch(name="good")
    def good(c: DurableContext):
        return c.step(lambda _: "g", name="s")

    config = ParallelConfig(
        max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=0)
    )
    r = ctx.parallel([bad(), good()], name="ff", config=config)
    return [r.completion_reason.value, r.failure_count, [e.message for e in r.get_errors()]]


def o_par_types(event):
    r = yield dg.Parallel(
        [
            dg.Branch(lambda: "s", name="str"),
            dg.Branch(lambda: 3.5, name="num"),
            dg.Branch(lambda: None, name="none"),
            dg.Branch(lambda: {"k": ["é"]}, name="obj"),
        ],
        name="types",
    )
    return r.results()


@pair("parallel_plain_branches_mixed_types", o_par_types)
def a_par_types(event, ctx: DurableContext):
    def wrap(name: str, value: Any) -> Any:
        @durable_parallel_branch(name=name)
        def b(c: DurableContext):
            return c.step(lambda _: value, name=None)

        return b()

    branches = [wrap("str", "s"), wrap("num", 3.5), wrap("none", None), wrap("obj", {"k": ["é"]})]
    return ctx.parallel(branches, name="types").get_results()


def o_par_in_map(event):
    def item(x, i):
        def left():
            return (yield dg.Step(lambda: x + 1, name="l"))

        def right():
            return (yield dg.Step(lambda: x - 1, name="r"))

        r = yield dg.Parallel([dg.Branch(left, name="L"), dg.Branch(right, name="R")], name="pair")
        return r.results()

    r = yield dg.Map(item, [10, 20], name="outer")
    return r.results()


@pair("parallel_inside_map", o_par_in_map)
def a_par_in_map(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        @durable_parallel_branch(name="L")
        def left(cc: DurableContext):
            return cc.step(lambda _: x + 1, name="l")

        @durable_parallel_branch(name="R")
        def right(cc: DurableContext):
            return cc.step(lambda _: x - 1, name="r")

        return c.parallel([left(), right()], name="pair").get_results()

    return ctx.map([10, 20], item, name="outer").get_results()


# --- callbacks --------------------------------------------------------------------------------


def o_cb(event):
    handle = yield dg.CreateCallback(name="approve", timeout=60)
    return (yield handle)


def a_cb(event, ctx: DurableContext):
    cb = ctx.create_callback(
        name="approve", config=CallbackConfig(timeout=Duration.from_seconds(60))
    )
    return cb.result()


pair("callback_empty_string", o_cb, answers=[("succeed", "")])(a_cb)
pair("callback_no_payload", o_cb, answers=[("succeed", None)])(a_cb)
pair("callback_json_string", o_cb, answers=[("succeed", '"yes"')])(a_cb)
pair("callback_failed_no_error_data", o_cb, answers=[("fail", None, None, None)])(a_cb)
pair("callback_failed_type_only", o_cb, answers=[("fail", "Rejected", None, None)])(a_cb)
pair("callback_failed_all_fields", o_cb, answers=[("fail", "Rejected", "by ana ✓", '{"x":1}')])(
    a_cb
)


def o_cb_caught(event):
    handle = yield dg.CreateCallback(name="approve", timeout=60)
    try:
        return (yield handle)
    except dg.CallbackFailedError as e:
        return ["failed", e.error_type, e.error_message]


def a_cb_caught(event, ctx: DurableContext):
    cb = ctx.create_callback(
        name="approve", config=CallbackConfig(timeout=Duration.from_seconds(60))
    )
    try:
        return cb.result()
    except Exception as e:
        return ["failed", getattr(e, "error_type", None), getattr(e, "message", None)]


pair("callback_failed_no_error_caught", o_cb_caught, answers=[("fail", None, None, None)])(
    a_cb_caught
)


def o_wfcb(event):
    return (yield dg.WaitForCallback(lambda callback_id: None, name="ask"))


def a_wfcb(event, ctx: DurableContext):
    return ctx.wait_for_callback(lambda callback_id, c: None, name="ask")


pair("wait_for_callback_empty_string", o_wfcb, answers=[("succeed", "")])(a_wfcb)
pair("wait_for_callback_no_payload", o_wfcb, answers=[("succeed", None)])(a_wfcb)
pair("wait_for_callback_failed_no_error", o_wfcb, answers=[("fail", None, None, None)])(a_wfcb)


# --- invoke -----------------------------------------------------------------------------------


def o_inv_fail(event):
    return (yield dg.Invoke("fails", {"sku": "widget"}, name="call"))


@pair("invoke_failing_target", o_inv_fail, targets=("fails",))
def a_inv_fail(event, ctx: DurableContext):
    return ctx.invoke("fails", {"sku": "widget"}, name="call")


def o_inv_raise(event):
    return (yield dg.Invoke("raises", None, name="call"))


@pair("invoke_target_body_raises", o_inv_raise, targets=("raises",))
def a_inv_raise(event, ctx: DurableContext):
    return ctx.invoke("raises", None, name="call")


def o_inv_caught(event):
    try:
        yield dg.Invoke("fails", {"sku": "widget"}, name="call")
    except dg.InvokeFailedError as e:
        return ["caught", e.error_message]


@pair("invoke_failing_target_caught", o_inv_caught, targets=("fails",))
def a_inv_caught(event, ctx: DurableContext):
    try:
        ctx.invoke("fails", {"sku": "widget"}, name="call")
    except Exception as e:
        return ["caught", getattr(e, "message", str(e))]


def o_inv_none(event):
    return (yield dg.Invoke("echo", None, name="call"))


@pair("invoke_echo_none", o_inv_none, targets=("echo",))
def a_inv_none(event, ctx: DurableContext):
    return ctx.invoke("echo", None, name="call")


def o_inv_unicode(event):
    return (yield dg.Invoke("echo", {"t": UNICODE}, name="call"))


@pair("invoke_echo_unicode", o_inv_unicode, targets=("echo",))
def a_inv_unicode(event, ctx: DurableContext):
    return ctx.invoke("echo", {"t": UNICODE}, name="call")


# --- wait for condition -----------------------------------------------------------------------


def o_cond_now(event):
    strategy = dg.WaitStrategy(until=lambda s: True, max_attempts=5, delay=1)
    return (yield dg.WaitForCondition(lambda s: s + 1, 0, wait_strategy=strategy, name="poll"))


@pair("condition_met_at_once", o_cond_now)
def a_cond_now(event, ctx: DurableContext):
    def strategy(state, attempt):
        return WaitForConditionDecision.stop_polling()

    config = WaitForConditionConfig(wait_strategy=strategy, initial_state=0)
    return ctx.wait_for_condition(lambda s, c: s + 1, config, name="poll")


def o_cond_three(event):
    def strategy(state, attempt):
        if state >= 3:
            return dg.WaitDecision.done()
        return dg.WaitDecision.again(1)

    return (yield dg.WaitForCondition(lambda s: s + 1, 0, wait_strategy=strategy, name="poll"))


@pair("condition_three_polls", o_cond_three)
def a_cond_three(event, ctx: DurableContext):
    def strategy(state, attempt):
        if state >= 3:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))

    config = WaitForConditionConfig(wait_strategy=strategy, initial_state=0)
    return ctx.wait_for_condition(lambda s, c: s + 1, config, name="poll")


def o_cond_raises(event):
    def check(s):
        raise OutOfStock("check gave up")

    strategy = dg.WaitStrategy(until=lambda s: True, max_attempts=5, delay=1)
    return (yield dg.WaitForCondition(check, 0, wait_strategy=strategy, name="poll"))


@pair("condition_check_raises", o_cond_raises)
def a_cond_raises(event, ctx: DurableContext):
    def check(s, c):
        raise OutOfStock("check gave up")

    def strategy(state, attempt):
        return WaitForConditionDecision.stop_polling()

    config = WaitForConditionConfig(wait_strategy=strategy, initial_state=0)
    return ctx.wait_for_condition(check, config, name="poll")


def o_cond_raises_child(event):
    return (yield dg.Child(o_cond_raises, (None,), name="poller"))


@pair("condition_check_raises_in_child", o_cond_raises_child)
def a_cond_raises_child(event, ctx: DurableContext):
    return ctx.run_in_child_context(lambda c: a_cond_raises(None, c), name="poller")


def o_cond_raises_item(event):
    def item(x, i):
        return (yield from o_cond_raises(x))

    r = yield dg.Map(item, [1], name="polls")
    return [e.error_type for e in r.errors()]


@pair("condition_check_raises_in_map_item", o_cond_raises_item)
def a_cond_raises_item(event, ctx: DurableContext):
    r = ctx.map([1], lambda c, x, i, items: a_cond_raises(x, c), name="polls")
    return [e.type for e in r.get_errors()]


# --- more edges ---------------------------------------------------------------------------------


def o_wait0(event):
    yield dg.Wait(seconds=0, name="zero")
    return "after"


@pair("wait_zero_seconds", o_wait0)
def a_wait0(event, ctx: DurableContext):
    ctx.wait(Duration.from_seconds(0), name="zero")
    return "after"


def o_values(event):
    return (yield dg.Step(lambda: [1.0, 2**70, {}, [], "", -0.5, {"": None}], name="values"))


@pair("step_edge_json_values", o_values)
def a_values(event, ctx: DurableContext):
    return ctx.step(lambda _: [1.0, 2**70, {}, [], "", -0.5, {"": None}], name="values")


class Quiet(Exception):
    """An exception with no message."""


def _quiet() -> Any:
    raise Quiet()


def o_quiet(event):
    return (yield dg.Step(_quiet, name="quiet", retry=OUR_ONE))


@pair("step_exception_without_message", o_quiet)
def a_quiet(event, ctx: DurableContext):
    return ctx.step(lambda _: _quiet(), name="quiet", config=ONE)


def _accented() -> Any:
    raise OutOfStock("épuisé ✗ 在庫切れ")


def o_accented(event):
    try:
        yield dg.Step(_accented, name="reserve", retry=OUR_ONE)
    except dg.StepFailedError as e:
        return e.error_message


@pair("step_exception_unicode_message_caught", o_accented)
def a_accented(event, ctx: DurableContext):
    try:
        ctx.step(lambda _: _accented(), name="reserve", config=ONE)
    except StepError as e:
        return e.message


def o_unnamed(event):
    a = yield dg.Step(lambda: 1)
    b = yield dg.Step(lambda: 2, name="")
    return a + b


@pair("steps_unnamed_and_empty_name", o_unnamed)
def a_unnamed(event, ctx: DurableContext):
    a = ctx.step(lambda _: 1)
    b = ctx.step(lambda _: 2, name="")
    return a + b


def o_namer(event):
    r = yield dg.Map(
        lambda x, i: x * 10, [1, 2, 3], name="named", item_namer=lambda x, i: f"item-{x}"
    )
    return r.results()


@pair("map_item_namer", o_namer)
def a_namer(event, ctx: DurableContext):
    config = MapConfig(item_namer=lambda x, i: f"item-{x}")
    return ctx.map(
        [1, 2, 3], lambda c, x, i, items: c.step(lambda _: x * 10), name="named", config=config
    ).get_results()


def o_pct(event):
    def item(x, i):
        if x % 2:
            return (yield dg.Step(lambda: _out_of_stock(str(x)), name="c", retry=OUR_ONE))
        return (yield dg.Step(lambda: x, name="c"))

    r = yield dg.Map(
        item,
        [0, 1, 2, 3],
        name="pct",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=25),
    )
    started = [i.status for i in r.items if i.status != "NOT_STARTED"]
    return [str(r.completion_reason), started]


@pair("map_failure_percentage_exceeded_serial", o_pct)
def a_pct(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        if x % 2:
            return c.step(lambda _: _out_of_stock(str(x)), name="c", config=ONE)
        return c.step(lambda _: x, name="c")

    config = MapConfig(
        max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_percentage=25)
    )
    r = ctx.map([0, 1, 2, 3], item, name="pct", config=config)
    return [r.completion_reason.value, [i.status.value for i in r.all]]


def o_big_item(event):
    r = yield dg.Map(lambda x, i: BIG_TEXT[:150_000], [1, 2], name="bigitems")
    return [len(s) for s in r.results()]


@pair("map_results_over_256k", o_big_item)
def a_big_item(event, ctx: DurableContext):
    r = ctx.map(
        [1, 2], lambda c, x, i, items: c.step(lambda _: BIG_TEXT[:150_000]), name="bigitems"
    )
    return [len(s) for s in r.get_results()]


def o_deep_branch(event):
    def branch():
        return (yield dg.Child(_our_level(2, False), name="level2"))

    r = yield dg.Parallel([dg.Branch(branch, name="b")], name="par")
    return r.results()


@pair("parallel_branch_with_nested_children", o_deep_branch)
def a_deep_branch(event, ctx: DurableContext):
    @durable_parallel_branch(name="b")
    def branch(c: DurableContext):
        return c.run_in_child_context(_aws_level(2, False), name="level2")

    return ctx.parallel([branch()], name="par").get_results()


def o_cb_timeout(event):
    handle = yield dg.CreateCallback(name="late", timeout=5)
    try:
        return (yield handle)
    except dg.CallbackTimeoutError as e:
        return ["timed out", e.error_type]


@pair("callback_times_out_caught", o_cb_timeout, answers=[("none",)])
def a_cb_timeout(event, ctx: DurableContext):
    cb = ctx.create_callback(name="late", config=CallbackConfig(timeout=Duration.from_seconds(5)))
    try:
        return cb.result()
    except Exception as e:
        return ["timed out", getattr(e, "error_type", None)]


def _submit_fails(callback_id: str) -> None:
    raise OutOfStock("could not send")


def o_submitter(event):
    try:
        return (yield dg.WaitForCallback(_submit_fails, name="ask", retry=OUR_ONE))
    except dg.CallbackFailedError as e:
        return ["submitter failed", e.error_message]


@pair("wait_for_callback_submitter_raises_caught", o_submitter)
def a_submitter(event, ctx: DurableContext):
    from aws_durable_execution_sdk_python.config import WaitForCallbackConfig

    try:
        return ctx.wait_for_callback(
            lambda callback_id, c: _submit_fails(callback_id),
            name="ask",
            config=WaitForCallbackConfig(
                retry_strategy=create_retry_strategy(RetryStrategyConfig(max_attempts=1))
            ),
        )
    except Exception as e:
        return ["submitter failed", getattr(e, "message", str(e))]


def o_virtual(event):
    def sub():
        return (yield dg.Step(lambda: "inner", name="s"))

    return (yield dg.Child(sub, name="virt", virtual=True))


@pair("virtual_child", o_virtual)
def a_virtual(event, ctx: DurableContext):
    from aws_durable_execution_sdk_python.config import ChildConfig

    return ctx.run_in_child_context(
        lambda c: c.step(lambda _: "inner", name="s"),
        name="virt",
        config=ChildConfig(is_virtual=True),
    )


def o_backoff(event):
    retry = dg.Retry(max_attempts=4, initial_delay=1, max_delay=3, backoff=2, jitter="none")
    return (yield dg.Step(lambda: _flaky("bo", 3, "fourth"), name="flaky", retry=retry))


@pair("retry_backoff_capped", o_backoff)
def a_backoff(event, ctx: DurableContext):
    config = RetryStrategyConfig(
        max_attempts=4,
        initial_delay=Duration.from_seconds(1),
        max_delay=Duration.from_seconds(3),
        backoff_rate=2,
        jitter_strategy=JitterStrategy.NONE,
    )
    step_config = StepConfig(retry_strategy=create_retry_strategy(config))
    return ctx.step(lambda _: _flaky("bo", 3, "fourth"), name="flaky", config=step_config)


def _not_retried() -> Any:
    raise KeyError("sku")


def o_retry_on(event):
    retry = dg.Retry(
        max_attempts=3,
        initial_delay=1,
        max_delay=1,
        backoff=1,
        jitter="none",
        retry_on=(TimeoutError,),
    )
    try:
        yield dg.Step(_not_retried, name="lookup", retry=retry)
    except dg.StepFailedError as e:
        return [e.error_type, e.error_message]


@pair("retry_on_other_type_not_retried", o_retry_on)
def a_retry_on(event, ctx: DurableContext):
    config = RetryStrategyConfig(
        max_attempts=3,
        initial_delay=Duration.from_seconds(1),
        max_delay=Duration.from_seconds(1),
        backoff_rate=1,
        jitter_strategy=JitterStrategy.NONE,
        retryable_error_types=[TimeoutError],
    )
    try:
        ctx.step(
            lambda _: _not_retried(),
            name="lookup",
            config=StepConfig(retry_strategy=create_retry_strategy(config)),
        )
    except StepError as e:
        return [e.error_type, e.message]


def _extended() -> Any:
    return {
        "when": datetime.datetime(2026, 3, 29, 1, 30, tzinfo=datetime.UTC),
        "amount": Decimal("10.05"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "pair": (1, "two"),
        "raw": b"\x00\xff",
    }


class Extended(TypedDict):
    when: datetime.datetime
    amount: Decimal
    id: uuid.UUID
    pair: tuple[int, str]
    raw: bytes


def _extended_typed() -> Extended:  # the declared type: the values come back as they went
    return _extended()


def o_extended(event):
    v = yield dg.Step(_extended_typed, name="values")
    return [v["when"].isoformat(), str(v["amount"]), str(v["id"]), list(v["pair"]), v["raw"].hex()]


@pair("step_extended_types", o_extended)
def a_extended(event, ctx: DurableContext):
    v = ctx.step(lambda _: _extended(), name="values")
    return [v["when"].isoformat(), str(v["amount"]), str(v["id"]), list(v["pair"]), v["raw"].hex()]


def o_map_map(event):
    def inner(x, i):
        return x + i

    def outer(row, i):
        r = yield dg.Map(inner, row, name=f"row{i}")
        return r.results()

    r = yield dg.Map(outer, [[1, 2], [], [3]], name="grid")
    return r.results()


@pair("map_of_maps_with_an_empty_row", o_map_map)
def a_map_map(event, ctx: DurableContext):
    @durable_step
    def inner(step_context: StepContext, x: int, j: int) -> int:
        return x + j

    def outer(c: DurableContext, row, i, items):
        return c.map(row, lambda cc, x, j, its: cc.step(inner(x, j)), name=f"row{i}").get_results()

    return ctx.map([[1, 2], [], [3]], outer, name="grid").get_results()


def o_invoke_items(event):
    def item(x, i):
        return (yield dg.Invoke("echo", {"n": x}, name="call"))

    r = yield dg.Map(item, [1, 2], name="calls", max_concurrency=1)
    return r.results()


@pair("invoke_in_map_items", o_invoke_items, targets=("echo",))
def a_invoke_items(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        return c.invoke("echo", {"n": x}, name="call")

    return ctx.map([1, 2], item, name="calls", config=MapConfig(max_concurrency=1)).get_results()


def o_child_batch(event):
    def sub() -> dg.Workflow[dg.BatchResult[int]]:
        r = yield dg.Map(lambda x, i: x, [1, 2], name="inner")
        return r

    r = yield dg.Child(sub, name="holder")
    return [r.results(), str(r.completion_reason)]


@pair("child_returns_a_batch_result", o_child_batch)
def a_child_batch(event, ctx: DurableContext):
    def sub(c: DurableContext):
        return c.map([1, 2], lambda cc, x, i, items: cc.step(lambda _: x), name="inner")

    r = ctx.run_in_child_context(sub, name="holder")
    return [r.get_results(), r.completion_reason.value]


BIG_INPUT = {"rows": ["é" * 100 for _ in range(1000)]}  # about 200 KiB as JSON, escaped


def o_big_input(event):
    n = yield dg.Step(lambda: len(event["rows"]), name="count")
    return n


@pair("big_unicode_input", o_big_input, BIG_INPUT)
def a_big_input(event, ctx: DurableContext):
    return ctx.step(lambda _: len(event["rows"]), name="count")


def o_par_tolerated(event):
    def bad(n):
        def body():
            return (yield dg.Step(lambda: _out_of_stock(n), name="s", retry=OUR_ONE))

        return body

    r = yield dg.Parallel(
        [
            dg.Branch(bad("a"), name="a"),
            dg.Branch(bad("b"), name="b"),
            dg.Branch(bad("c"), name="c"),
        ],
        name="tol",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    started = [i.status for i in r.items if i.status != "NOT_STARTED"]
    return [str(r.completion_reason), r.failure_count, started]


@pair("parallel_tolerance_exceeded_serial", o_par_tolerated)
def a_par_tolerated(event, ctx: DurableContext):
    def bad(n):
        @durable_parallel_branch(name=n)
        def body(c: DurableContext):
            return c.step(lambda _: _out_of_stock(n), name="s", config=ONE)

        return body()

    config = ParallelConfig(
        max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=1)
    )
    r = ctx.parallel([bad("a"), bad("b"), bad("c")], name="tol", config=config)
    return [r.completion_reason.value, r.failure_count, [i.status.value for i in r.all]]


def o_branch_raises(event):
    def bad():
        raise OutOfStock("branch gave up")
        yield

    def good():
        return (yield dg.Step(lambda: "g", name="s"))

    r = yield dg.Parallel(
        [dg.Branch(bad, name="bad"), dg.Branch(good, name="good")],
        name="mixed",
        max_concurrency=1,
        completion=dg.Completion.all_completed(),
    )
    return [[e.error_type, e.error_message] for e in r.errors()]


@pair("parallel_branch_body_raises", o_branch_raises)
def a_branch_raises(event, ctx: DurableContext):
    @durable_parallel_branch(name="bad")
    def bad(c: DurableContext):
        raise OutOfStock("branch gave up")

    @durable_parallel_branch(name="good")
    def good(c: DurableContext):
        return c.step(lambda _: "g", name="s")

    config = ParallelConfig(max_concurrency=1, completion_config=CompletionConfig.all_completed())
    r = ctx.parallel([bad(), good()], name="mixed", config=config)
    return [[e.type, e.message] for e in r.get_errors()]


def o_item_child_raises(event):
    def item(x, i):
        def inner():
            raise OutOfStock(x)
            yield

        return (yield dg.Child(inner, name="inner"))

    r = yield dg.Map(item, [42], name="items", completion=dg.Completion.all_completed())
    return [[e.error_type, e.error_message] for e in r.errors()]


@pair("map_item_child_raises_non_str_arg", o_item_child_raises)
def a_item_child_raises(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        def inner(cc: DurableContext):
            raise OutOfStock(x)

        return c.run_in_child_context(inner, name="inner")

    config = MapConfig(completion_config=CompletionConfig.all_completed())
    r = ctx.map([42], item, name="items", config=config)
    return [[e.type, e.message] for e in r.get_errors()]


def o_wfcb_in_map(event):
    def item(x, i):
        return (yield dg.WaitForCallback(lambda callback_id: None, name=f"ask{i}"))

    r = yield dg.Map(item, ["a", "b"], name="asks", max_concurrency=1)
    return r.results()


@pair(
    "wait_for_callback_in_map_items",
    o_wfcb_in_map,
    answers=[("succeed", '{"n": 1}'), ("succeed", '"two"')],
)
def a_wfcb_in_map(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        return c.wait_for_callback(lambda callback_id, cc: None, name=f"ask{i}")

    r = ctx.map(["a", "b"], item, name="asks", config=MapConfig(max_concurrency=1))
    return r.get_results()
