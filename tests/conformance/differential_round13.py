"""Still more small workflows written twice, with AWS's Python SDK and with durable_gen.

Shapes the earlier corpora leave out: results whose JSON text is long only once non-ASCII is
escaped (a child, a Map item and a Parallel branch near the 256 KiB mark), text with line and
paragraph separators, control characters and astral characters, dictionaries with integer
keys; exceptions carrying attributes of their own, exceptions whose message changes from
attempt to attempt; callbacks with timeouts and heartbeats inside Parallel branches and Map
items under completion policies, callbacks answered out of order; wait-for-condition inside
Map items with a failing check tolerated; Map inside Parallel inside Child with failures
escaping or tolerated at each level, empty Maps inside Parallel branches inside Map items;
names of spaces and of characters that look like templates. ``test_differential_round13.py``
runs both and compares what they did.
"""

from __future__ import annotations

import json
from typing import Any

from aws_durable_execution_sdk_python.config import (
    CallbackConfig,
    CompletionConfig,
    Duration,
    JitterStrategy,
    MapConfig,
    NestingType,
    ParallelConfig,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.context import DurableContext, durable_parallel_branch
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitStrategyConfig,
    create_wait_strategy,
)

import durable_gen as dg

from .differential_round10 import ATTEMPTS, ONE, OUR_ONE, Pair, _out_of_stock
from .differential_round12 import TARGETS as TARGETS12
from .differential_round12 import _aws_retry, _our_retry

PAIRS: dict[str, Pair] = {}
TARGETS = TARGETS12

__all__ = ["ATTEMPTS", "PAIRS", "TARGETS"]


def pair(
    name: str,
    ours: Any,
    input: Any = None,
    answers: list[tuple[Any, ...]] | None = None,
    targets: tuple[str, ...] = (),
) -> Any:
    def deco(aws: Any) -> Any:
        PAIRS[name] = Pair(aws, ours, input, list(answers or []), targets)
        return aws

    return deco


def _msg(e: BaseException) -> Any:
    return getattr(e, "message", None) or getattr(e, "error_message", None) or str(e)


# --- results long only once escaped ------------------------------------------------------------

#: 50,000 CJK characters: 150 KB as UTF-8, 300 KB as JSON with non-ASCII escaped.
WIDE = "日" * 50_000
#: 40,000 astral characters: 160 KB as UTF-8, 480 KB as escaped JSON (two escapes each).
ASTRAL = "🎉" * 40_000


def o_wide_child(event):
    def body():
        return (yield dg.Step(lambda: WIDE, name="make"))

    text = yield dg.Child(body, name="wide")
    yield dg.Wait(seconds=1, name="pause")
    return [len(text), text[:3]]


@pair("child_result_wide_text_then_replay", o_wide_child)
def a_wide_child(event, ctx: DurableContext):
    def body(c: DurableContext):
        return c.step(lambda _: WIDE, name="make")

    text = ctx.run_in_child_context(body, name="wide")
    ctx.wait(Duration.from_seconds(1), name="pause")
    return [len(text), text[:3]]


def o_wide_map(event):
    def item(x, i):
        return (yield dg.Step(lambda: x * 25_000, name=f"s{i}"))

    r = yield dg.Map(item, ["é", "ü"], name="wide", max_concurrency=1)
    yield dg.Wait(seconds=1, name="pause")
    return [len(t) for t in r.results()]


@pair("map_results_wide_text_then_replay", o_wide_map)
def a_wide_map(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        return c.step(lambda _: x * 25_000, name=f"s{i}")

    r = ctx.map(["é", "ü"], item, name="wide", config=MapConfig(max_concurrency=1))
    ctx.wait(Duration.from_seconds(1), name="pause")
    return [len(t) for t in r.get_results()]


def o_astral_branch(event):
    def big():
        return (yield dg.Step(lambda: ASTRAL, name="big"))

    def small():
        return (yield dg.Step(lambda: "𝄞", name="small"))

    r = yield dg.Parallel(
        [dg.Branch(big, name="big"), dg.Branch(small, name="small")], name="p", max_concurrency=1
    )
    yield dg.Wait(seconds=1, name="pause")
    return [len(x) for x in r.results()]


@pair("parallel_astral_text_then_replay", o_astral_branch)
def a_astral_branch(event, ctx: DurableContext):
    @durable_parallel_branch(name="big")
    def big(c: DurableContext):
        return c.step(lambda _: ASTRAL, name="big")

    @durable_parallel_branch(name="small")
    def small(c: DurableContext):
        return c.step(lambda _: "𝄞", name="small")

    r = ctx.parallel([big(), small()], name="p", config=ParallelConfig(max_concurrency=1))
    ctx.wait(Duration.from_seconds(1), name="pause")
    return [len(x) for x in r.get_results()]


SEPARATORS = "a\u2028b\u2029c\x00d\x1fe\x7ff</script>g\ufeffh\U0001f600i"


def o_separators(event):
    text = yield dg.Step(lambda: SEPARATORS, name="seps")
    yield dg.Wait(seconds=1, name="pause")
    return [text, event]


@pair("step_text_with_separators_and_controls", o_separators, input=SEPARATORS)
def a_separators(event, ctx: DurableContext):
    text = ctx.step(lambda _: SEPARATORS, name="seps")
    ctx.wait(Duration.from_seconds(1), name="pause")
    return [text, event]


def o_int_keys(event):
    d = yield dg.Step(lambda: {1: "a", 2: {3: "b"}}, name="d")
    yield dg.Wait(seconds=1, name="pause")
    return d


@pair("step_dict_with_integer_keys", o_int_keys)
def a_int_keys(event, ctx: DurableContext):
    d = ctx.step(lambda _: {1: "a", 2: {3: "b"}}, name="d")
    ctx.wait(Duration.from_seconds(1), name="pause")
    return d


# --- exceptions with attributes of their own -----------------------------------------------------


class PaymentDeclined(Exception):
    """A user's exception with attributes beside its message."""

    def __init__(self, reason: str, code: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def _decline() -> Any:
    raise PaymentDeclined("card refusée ✗", 402)


def o_attrs_caught(event):
    try:
        yield dg.Step(_decline, name="charge", retry=OUR_ONE)
    except dg.StepFailedError as e:
        return [e.error_message, e.error_data]


@pair("exception_with_attributes_caught", o_attrs_caught)
def a_attrs_caught(event, ctx: DurableContext):
    try:
        ctx.step(lambda _: _decline(), name="charge", config=ONE)
    except Exception as e:
        return [_msg(e), getattr(e, "data", None)]


def o_attrs(event):
    return (yield dg.Step(_decline, name="charge", retry=OUR_ONE))


@pair("exception_with_attributes_uncaught", o_attrs)
def a_attrs(event, ctx: DurableContext):
    return ctx.step(lambda _: _decline(), name="charge", config=ONE)


def _changing(key: str) -> Any:
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    raise PaymentDeclined(f"essai n°{ATTEMPTS[key]} refusé", 400 + ATTEMPTS[key])


def o_changing(event):
    try:
        yield dg.Step(lambda: _changing("chg"), name="charge", retry=_our_retry(3))
    except dg.StepFailedError as e:
        return ["gave up", e.error_message]


@pair("retry_message_changes_each_attempt_caught", o_changing)
def a_changing(event, ctx: DurableContext):
    try:
        ctx.step(lambda _: _changing("chg"), name="charge", config=_aws_retry(3))
    except Exception as e:
        return ["gave up", _msg(e)]


def o_changing_in_item(event):
    def item(x, i):
        return (yield dg.Step(lambda: _changing(f"item{i}"), name=f"c{i}", retry=_our_retry(2)))

    r = yield dg.Map(
        item,
        [0, 1],
        name="charges",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=2),
    )
    return [r.failure_count, [e.error_message for e in r.errors()]]


@pair("retry_message_changes_in_tolerated_map_items", o_changing_in_item)
def a_changing_in_item(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        return c.step(lambda _: _changing(f"item{i}"), name=f"c{i}", config=_aws_retry(2))

    config = MapConfig(
        max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=2)
    )
    r = ctx.map([0, 1], item, name="charges", config=config)
    return [r.failure_count, [e.message for e in r.get_errors()]]


# --- callbacks with timeouts and heartbeats inside batches ----------------------------------------


def o_cb_branches(event):
    def late():
        handle = yield dg.CreateCallback(name="late", timeout=60, heartbeat_timeout=1)
        return (yield handle)

    def answered():
        handle = yield dg.CreateCallback(name="answered", timeout=60, heartbeat_timeout=30)
        return (yield handle)

    r = yield dg.Parallel(
        [dg.Branch(answered, name="answered"), dg.Branch(late, name="late")],
        name="p",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return [r.results(), r.failure_count, str(r.completion_reason)]


@pair(
    "callback_heartbeat_timeout_tolerated_in_parallel",
    o_cb_branches,
    answers=[("succeed", "7"), ("none",)],
)
def a_cb_branches(event, ctx: DurableContext):
    @durable_parallel_branch(name="late")
    def late(c: DurableContext):
        config = CallbackConfig(
            timeout=Duration.from_seconds(60), heartbeat_timeout=Duration.from_seconds(1)
        )
        return c.create_callback(name="late", config=config).result()

    @durable_parallel_branch(name="answered")
    def answered(c: DurableContext):
        config = CallbackConfig(
            timeout=Duration.from_seconds(60), heartbeat_timeout=Duration.from_seconds(30)
        )
        return json.loads(c.create_callback(name="answered", config=config).result())

    config = ParallelConfig(
        max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=1)
    )
    r = ctx.parallel([answered(), late()], name="p", config=config)
    return [r.get_results(), r.failure_count, r.completion_reason.value]


def o_wfcb_items(event):
    def item(x, i):
        return (yield dg.WaitForCallback(lambda cid: None, name=f"ask{i}", timeout=5))

    r = yield dg.Map(
        item,
        ["a", "b", "c"],
        name="asks",
        max_concurrency=1,
        completion=dg.Completion(min_successful=2),
    )
    return [r.results(), r.failure_count, str(r.completion_reason)]


@pair(
    "wait_for_callback_timeouts_in_map_with_min_successful",
    o_wfcb_items,
    answers=[("succeed", "1"), ("fail", "Nope", "no", None), ("none",)],
)
def a_wfcb_items(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        config = WaitForCallbackConfig(timeout=Duration.from_seconds(5))
        return json.loads(c.wait_for_callback(lambda cid, cc: None, name=f"ask{i}", config=config))

    config = MapConfig(max_concurrency=1, completion_config=CompletionConfig(min_successful=2))
    r = ctx.map(["a", "b", "c"], item, name="asks", config=config)
    return [r.get_results(), r.failure_count, r.completion_reason.value]


def o_cb_reverse(event):
    def item(x, i):
        first = yield dg.CreateCallback(name=f"first{i}", timeout=60)
        second = yield dg.CreateCallback(name=f"second{i}", timeout=60)
        b = yield second
        a = yield first
        return [a, b]

    r = yield dg.Map(item, [0, 1], name="pairs", max_concurrency=1)
    return r.results()


@pair(
    "callbacks_awaited_in_reverse_in_map_items",
    o_cb_reverse,
    answers=[("succeed", "1"), ("succeed", "2"), ("succeed", "3"), ("succeed", "4")],
)
def a_cb_reverse(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        config = CallbackConfig(timeout=Duration.from_seconds(60))
        first = c.create_callback(name=f"first{i}", config=config)
        second = c.create_callback(name=f"second{i}", config=config)
        b = json.loads(second.result())
        a = json.loads(first.result())
        return [a, b]

    return ctx.map([0, 1], item, name="pairs", config=MapConfig(max_concurrency=1)).get_results()


def o_cb_fail_in_child_in_branch(event):
    def inner():
        handle = yield dg.CreateCallback(name="cb", timeout=60)
        return (yield handle)

    def branch():
        return (yield dg.Child(inner, name="inner"))

    def ok():
        return (yield dg.Step(lambda: "fine", name="fine"))

    r = yield dg.Parallel(
        [dg.Branch(branch, name="b"), dg.Branch(ok, name="ok")],
        name="p",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=50),
    )
    return [r.results(), [e.error_data for e in r.errors()], str(r.completion_reason)]


@pair(
    "callback_failure_in_child_in_tolerated_branch",
    o_cb_fail_in_child_in_branch,
    answers=[("fail", "Denied", "refusé", '{"k": "ü"}')],
)
def a_cb_fail_in_child_in_branch(event, ctx: DurableContext):
    def inner(c: DurableContext):
        return c.create_callback(
            name="cb", config=CallbackConfig(timeout=Duration.from_seconds(60))
        ).result()

    @durable_parallel_branch(name="b")
    def branch(c: DurableContext):
        return c.run_in_child_context(inner, name="inner")

    @durable_parallel_branch(name="ok")
    def ok(c: DurableContext):
        return c.step(lambda _: "fine", name="fine")

    config = ParallelConfig(
        max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_percentage=50)
    )
    r = ctx.parallel([branch(), ok()], name="p", config=config)
    return [r.get_results(), [e.data for e in r.get_errors()], r.completion_reason.value]


# --- wait for condition in batches ----------------------------------------------------------------


def _check(s: Any) -> Any:
    if s["n"] < 0:
        raise PaymentDeclined(f"negative {s['n']}", 400)
    return {"n": s["n"] + 1}


def o_cond_items(event):
    def item(x, i):
        strategy = dg.WaitStrategy(until=lambda s: s["n"] >= 2, delay=1, max_attempts=5)
        return (
            yield dg.WaitForCondition(_check, {"n": x}, wait_strategy=strategy, name=f"poll{i}")
        )

    r = yield dg.Map(
        item,
        [0, -1, 1],
        name="polls",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return [r.results(), [e.error_message for e in r.errors()]]


@pair("condition_check_raises_in_tolerated_map_item", o_cond_items)
def a_cond_items(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        strategy = create_wait_strategy(
            WaitStrategyConfig(
                should_continue_polling=lambda s: s["n"] < 2,
                max_attempts=5,
                initial_delay=Duration.from_seconds(1),
                max_delay=Duration.from_seconds(1),
                backoff_rate=1,
                jitter_strategy=JitterStrategy.NONE,
            )
        )
        config = WaitForConditionConfig(wait_strategy=strategy, initial_state={"n": x})
        return c.wait_for_condition(lambda s, cc: _check(s), config, name=f"poll{i}")

    config = MapConfig(
        max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=1)
    )
    r = ctx.map([0, -1, 1], item, name="polls", config=config)
    return [r.get_results(), [e.message for e in r.get_errors()]]


# --- nested batches with policies --------------------------------------------------------------


def _our_item(x, i):
    if x < 0:
        return (yield dg.Step(lambda: _out_of_stock(str(x)), name="c", retry=OUR_ONE))
    return (yield dg.Step(lambda: x, name="c"))


def _aws_item(c: DurableContext, x, i, items):
    if x < 0:
        return c.step(lambda _: _out_of_stock(str(x)), name="c", config=ONE)
    return c.step(lambda _: x, name="c")


def o_nested_escapes(event):
    def body():
        def left():
            r = yield dg.Map(
                _our_item,
                [1, -2, -3],
                name="m",
                max_concurrency=1,
                completion=dg.Completion(tolerated_failure_count=0),
            )
            r.raise_if_failed()
            return r.results()

        def right():
            return (yield dg.Step(lambda: "right", name="r"))

        r = yield dg.Parallel(
            [dg.Branch(left, name="L"), dg.Branch(right, name="R")],
            name="p",
            max_concurrency=1,
        )
        return [r.results(), r.failure_count, str(r.completion_reason)]

    return (yield dg.Child(body, name="outer"))


@pair("map_failure_raised_in_branch_inside_child", o_nested_escapes)
def a_nested_escapes(event, ctx: DurableContext):
    def body(c: DurableContext):
        @durable_parallel_branch(name="L")
        def left(cc: DurableContext):
            config = MapConfig(
                max_concurrency=1,
                completion_config=CompletionConfig(tolerated_failure_count=0),
            )
            r = cc.map([1, -2, -3], _aws_item, name="m", config=config)
            r.throw_if_error()
            return r.get_results()

        @durable_parallel_branch(name="R")
        def right(cc: DurableContext):
            return cc.step(lambda _: "right", name="r")

        r = c.parallel([left(), right()], name="p", config=ParallelConfig(max_concurrency=1))
        return [r.get_results(), r.failure_count, r.completion_reason.value]

    return ctx.run_in_child_context(body, name="outer")


def o_empty_deep(event):
    def item(x, i):
        def empty_map():
            r = yield dg.Map(lambda y, j: y, [], name=f"e{i}", max_concurrency=1)
            return [r.results(), str(r.completion_reason), r.success_count]

        def empty_par():
            r = yield dg.Parallel([], name=f"ep{i}", completion=dg.Completion.all_successful())
            return r.results()

        r = yield dg.Parallel(
            [dg.Branch(empty_map, name="em"), dg.Branch(empty_par, name="ep")],
            name=f"p{i}",
            max_concurrency=1,
        )
        return r.results()

    def body():
        r = yield dg.Map(item, [0, 1], name="rows", max_concurrency=1)
        return r.results()

    return (yield dg.Child(body, name="outer"))


@pair("empty_batches_in_branches_in_map_items_in_child", o_empty_deep)
def a_empty_deep(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        @durable_parallel_branch(name="em")
        def empty_map(cc: DurableContext):
            r = cc.map(
                [], lambda c3, y, j, ys: y, name=f"e{i}", config=MapConfig(max_concurrency=1)
            )
            return [r.get_results(), r.completion_reason.value, r.success_count]

        @durable_parallel_branch(name="ep")
        def empty_par(cc: DurableContext):
            config = ParallelConfig(completion_config=CompletionConfig.all_successful())
            return cc.parallel([], name=f"ep{i}", config=config).get_results()

        config = ParallelConfig(max_concurrency=1)
        return c.parallel([empty_map(), empty_par()], name=f"p{i}", config=config).get_results()

    def body(c: DurableContext):
        return c.map([0, 1], item, name="rows", config=MapConfig(max_concurrency=1)).get_results()

    return ctx.run_in_child_context(body, name="outer")


def o_percentage_nested(event):
    def item(x, i):
        def a():
            return (yield from _our_item(x, 0))

        def b():
            return (yield from _our_item(-x, 1))

        r = yield dg.Parallel(
            [dg.Branch(a, name="a"), dg.Branch(b, name="b")],
            name=f"p{i}",
            max_concurrency=1,
            completion=dg.Completion(tolerated_failure_percentage=50),
        )
        return [r.results(), r.failure_count]

    r = yield dg.Map(
        item,
        [1, 2, 3],
        name="rows",
        max_concurrency=1,
        completion=dg.Completion(min_successful=2, tolerated_failure_count=0),
    )
    return [r.results(), r.success_count, str(r.completion_reason)]


@pair("tolerated_branch_failures_in_map_with_min_successful", o_percentage_nested)
def a_percentage_nested(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        @durable_parallel_branch(name="a")
        def a(cc: DurableContext):
            return _aws_item(cc, x, 0, None)

        @durable_parallel_branch(name="b")
        def b(cc: DurableContext):
            return _aws_item(cc, -x, 1, None)

        config = ParallelConfig(
            max_concurrency=1,
            completion_config=CompletionConfig(tolerated_failure_percentage=50),
        )
        r = c.parallel([a(), b()], name=f"p{i}", config=config)
        return [r.get_results(), r.failure_count]

    config = MapConfig(
        max_concurrency=1,
        completion_config=CompletionConfig(min_successful=2, tolerated_failure_count=0),
    )
    r = ctx.map([1, 2, 3], item, name="rows", config=config)
    return [r.get_results(), r.success_count, r.completion_reason.value]


# --- names -------------------------------------------------------------------------------------


def o_odd_names(event):
    a = yield dg.Step(lambda: 1, name=" ")
    b = yield dg.Step(lambda: 2, name="${NAME}")
    c = yield dg.Step(lambda: 3, name="{{x}} %s %(y)s")
    d = yield dg.Step(lambda: 4, name="a" * 255 + "~")

    def item(x, i):
        return x
        yield  # a workflow: a child context with no operations, as AWS's SDK runs it

    r = yield dg.Map(item, [5], name="*", item_namer=lambda x, i: "/re/")
    return [a, b, c, d, r.results()]


@pair("names_of_spaces_and_template_characters", o_odd_names)
def a_odd_names(event, ctx: DurableContext):
    a = ctx.step(lambda _: 1, name=" ")
    b = ctx.step(lambda _: 2, name="${NAME}")
    c = ctx.step(lambda _: 3, name="{{x}} %s %(y)s")
    d = ctx.step(lambda _: 4, name="a" * 255 + "~")
    r = ctx.map(
        [5], lambda c2, x, i, xs: x, name="*", config=MapConfig(item_namer=lambda x, i: "/re/")
    )
    return [a, b, c, d, r.get_results()]


def o_dup_names(event):
    def item(x, i):
        return (yield dg.Step(lambda: x, name="same"))

    r = yield dg.Map(item, [1, 2], name="same", item_namer=lambda x, i: "same", max_concurrency=1)
    a = yield dg.Step(lambda: "a", name="same")
    b = yield dg.Step(lambda: "b", name="same")
    return [r.results(), a, b]


@pair("duplicate_names_everywhere", o_dup_names)
def a_dup_names(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        return c.step(lambda _: x, name="same")

    config = MapConfig(item_namer=lambda x, i: "same", max_concurrency=1)
    r = ctx.map([1, 2], item, name="same", config=config)
    a = ctx.step(lambda _: "a", name="same")
    b = ctx.step(lambda _: "b", name="same")
    return [r.get_results(), a, b]


# --- invokes in nested batches -------------------------------------------------------------------


def o_invoke_nested(event):
    def item(x, i):
        def call():
            return (yield dg.Invoke("echo", {"x": x, "ü": [i]}, name=f"call {i} ✓"[:6]))

        return (yield dg.Child(call, name=f"c{i}"))

    r = yield dg.Map(item, ["日", None], name="calls", max_concurrency=1)
    return r.results()


@pair("invoke_in_child_in_map_items", o_invoke_nested, targets=("echo",))
def a_invoke_nested(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        def call(cc: DurableContext):
            return cc.invoke("echo", {"x": x, "ü": [i]}, name=f"call {i} ✓"[:6])

        return c.run_in_child_context(call, name=f"c{i}")

    return ctx.map(
        ["日", None], item, name="calls", config=MapConfig(max_concurrency=1)
    ).get_results()


# --- more batches of callbacks, conditions and invokes -------------------------------------------


def o_flat_wfcb(event):
    def item(x, i):
        return (yield dg.WaitForCallback(lambda cid: None, name=f"ask{i}", timeout=5))

    r = yield dg.Map(
        item,
        ["a", "b"],
        name="asks",
        max_concurrency=1,
        nesting="flat",
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return [r.results(), r.failure_count, str(r.completion_reason)]


@pair(
    "flat_map_of_wait_for_callbacks_one_times_out",
    o_flat_wfcb,
    answers=[("succeed", '"yes"'), ("none",)],
)
def a_flat_wfcb(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        config = WaitForCallbackConfig(timeout=Duration.from_seconds(5))
        return json.loads(c.wait_for_callback(lambda cid, cc: None, name=f"ask{i}", config=config))

    config = MapConfig(
        max_concurrency=1,
        nesting_type=NestingType.FLAT,
        completion_config=CompletionConfig(tolerated_failure_count=1),
    )
    r = ctx.map(["a", "b"], item, name="asks", config=config)
    return [r.get_results(), r.failure_count, r.completion_reason.value]


def o_cond_in_branch(event):
    def body():
        def poll():
            strategy = dg.WaitStrategy(until=lambda s: s is None, delay=1, max_attempts=3)
            return (
                yield dg.WaitForCondition(
                    lambda s: None if s == 1 else s + 1, 0, wait_strategy=strategy, name="poll"
                )
            )

        def step():
            return (yield dg.Step(lambda: "s", name="s"))

        r = yield dg.Parallel(
            [dg.Branch(poll, name="poll"), dg.Branch(step, name="step")],
            name="p",
            max_concurrency=1,
        )
        return r.results()

    return (yield dg.Child(body, name="outer"))


@pair("condition_reaching_none_in_branch_inside_child", o_cond_in_branch)
def a_cond_in_branch(event, ctx: DurableContext):
    def body(c: DurableContext):
        @durable_parallel_branch(name="poll")
        def poll(cc: DurableContext):
            strategy = create_wait_strategy(
                WaitStrategyConfig(
                    should_continue_polling=lambda s: s is not None,
                    max_attempts=3,
                    initial_delay=Duration.from_seconds(1),
                    max_delay=Duration.from_seconds(1),
                    backoff_rate=1,
                    jitter_strategy=JitterStrategy.NONE,
                )
            )
            config = WaitForConditionConfig(wait_strategy=strategy, initial_state=0)
            return cc.wait_for_condition(
                lambda s, c3: None if s == 1 else s + 1, config, name="poll"
            )

        @durable_parallel_branch(name="step")
        def step(cc: DurableContext):
            return cc.step(lambda _: "s", name="s")

        return c.parallel(
            [poll(), step()], name="p", config=ParallelConfig(max_concurrency=1)
        ).get_results()

    return ctx.run_in_child_context(body, name="outer")


def o_invoke_branches(event):
    def good():
        return (yield dg.Invoke("echo", "日本", name="good"))

    def bad():
        return (yield dg.Invoke("fails", None, name="bad"))

    r = yield dg.Parallel(
        [dg.Branch(bad, name="bad"), dg.Branch(good, name="good")],
        name="p",
        max_concurrency=1,
        completion=dg.Completion(min_successful=1),
    )
    return [r.results(), [e.error_message for e in r.errors()], str(r.completion_reason)]


@pair(
    "invoke_failure_then_success_with_min_successful", o_invoke_branches, targets=("echo", "fails")
)
def a_invoke_branches(event, ctx: DurableContext):
    @durable_parallel_branch(name="good")
    def good(c: DurableContext):
        return c.invoke("echo", "日本", name="good")

    @durable_parallel_branch(name="bad")
    def bad(c: DurableContext):
        return c.invoke("fails", None, name="bad")

    config = ParallelConfig(max_concurrency=1, completion_config=CompletionConfig(min_successful=1))
    r = ctx.parallel([bad(), good()], name="p", config=config)
    return [r.get_results(), [e.message for e in r.get_errors()], r.completion_reason.value]


def o_retry_in_branch_of_item(event):
    def item(x, i):
        def flaky():
            return (
                yield dg.Step(lambda: _changing_until(f"k{i}", x), name="f", retry=_our_retry(3))
            )

        r = yield dg.Parallel([dg.Branch(flaky, name="flaky")], name=f"p{i}")
        return r.results()

    r = yield dg.Map(
        item,
        [1, 5],
        name="rows",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return [r.results(), [e.error_message for e in r.errors()]]


def _changing_until(key: str, fails: int) -> Any:
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] <= fails:
        raise PaymentDeclined(f"{key} essai {ATTEMPTS[key]}", 500)
    return ATTEMPTS[key]


@pair("retries_in_branch_of_tolerated_map_items", o_retry_in_branch_of_item)
def a_retry_in_branch_of_item(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        @durable_parallel_branch(name="flaky")
        def flaky(cc: DurableContext):
            return cc.step(lambda _: _changing_until(f"k{i}", x), name="f", config=_aws_retry(3))

        return c.parallel([flaky()], name=f"p{i}").get_results()

    config = MapConfig(
        max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=1)
    )
    r = ctx.map([1, 5], item, name="rows", config=config)
    return [r.get_results(), [e.message for e in r.get_errors()]]


# --- more results long only once escaped, and callback answers of odd shapes ---------------------


def o_wide_item(event):
    def item(x, i):
        def inner():
            yield dg.Wait(seconds=1, name=f"w{i}")
            return (yield dg.Step(lambda: x * 50_000, name=f"s{i}"))

        return (yield dg.Child(inner, name=f"inner{i}"))

    r = yield dg.Map(item, ["é", "a"], name="wide", max_concurrency=1)
    yield dg.Wait(seconds=1, name="pause")
    return [len(t) for t in r.results()]


@pair("map_item_wide_text_after_wait_in_child", o_wide_item)
def a_wide_item(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        def inner(cc: DurableContext):
            cc.wait(Duration.from_seconds(1), name=f"w{i}")
            return cc.step(lambda _: x * 50_000, name=f"s{i}")

        return c.run_in_child_context(inner, name=f"inner{i}")

    r = ctx.map(["é", "a"], item, name="wide", config=MapConfig(max_concurrency=1))
    ctx.wait(Duration.from_seconds(1), name="pause")
    return [len(t) for t in r.get_results()]


def o_cb_odd(event):
    out = []
    for i in range(3):
        handle = yield dg.CreateCallback(name=f"cb{i}", timeout=60)
        try:
            out.append((yield handle))
        except dg.CallbackFailedError as e:
            out.append([e.error_message, e.error_data])
    return out


@pair(
    "callback_answers_of_odd_shapes",
    o_cb_odd,
    answers=[
        ("succeed", '  {"a" : [1 , 2]}\n'),
        ("fail", "Bad", "plain data", "not json {"),
        ("fail", "Bad", "é", ""),
    ],
)
def a_cb_odd(event, ctx: DurableContext):
    out = []
    for i in range(3):
        config = CallbackConfig(timeout=Duration.from_seconds(60))
        try:
            out.append(json.loads(ctx.create_callback(name=f"cb{i}", config=config).result()))
        except Exception as e:
            out.append([_msg(e), getattr(e, "data", None)])
    return out


# --- concurrent batches whose outcome does not hang on timing ------------------------------------


def o_concurrent_waits(event):
    def item(x, i):
        yield dg.Wait(seconds=x, name=f"w{i}")
        if x == 2:
            yield dg.Step(lambda: _out_of_stock(f"n{i}"), name=f"s{i}", retry=OUR_ONE)
        return (yield dg.Step(lambda: x * 10, name=f"s{i}"))

    r = yield dg.Map(
        item, [3, 1, 2, 1], name="m", completion=dg.Completion(tolerated_failure_count=1)
    )
    return [r.results(), r.failure_count, [e.error_message for e in r.errors()]]


@pair("concurrent_map_items_with_waits_one_fails", o_concurrent_waits)
def a_concurrent_waits(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        c.wait(Duration.from_seconds(x), name=f"w{i}")
        if x == 2:
            c.step(lambda _: _out_of_stock(f"n{i}"), name=f"s{i}", config=ONE)
        return c.step(lambda _: x * 10, name=f"s{i}")

    config = MapConfig(completion_config=CompletionConfig(tolerated_failure_count=1))
    r = ctx.map([3, 1, 2, 1], item, name="m", config=config)
    return [r.get_results(), r.failure_count, [e.message for e in r.get_errors()]]


def o_concurrent_cbs(event):
    def branch(i):
        def body():
            handle = yield dg.CreateCallback(name=f"cb{i}", timeout=60, heartbeat_timeout=30)
            return [i, (yield handle)]

        return body

    r = yield dg.Parallel([dg.Branch(branch(i), name=f"b{i}") for i in range(3)], name="p")
    return r.results()


@pair(
    "concurrent_parallel_of_callbacks",
    o_concurrent_cbs,
    answers=[("succeed", '"ok"'), ("succeed", '"ok"'), ("succeed", '"ok"')],
)
def a_concurrent_cbs(event, ctx: DurableContext):
    def branch(i):
        @durable_parallel_branch(name=f"b{i}")
        def body(c: DurableContext):
            config = CallbackConfig(
                timeout=Duration.from_seconds(60), heartbeat_timeout=Duration.from_seconds(30)
            )
            return [i, json.loads(c.create_callback(name=f"cb{i}", config=config).result())]

        return body()

    return ctx.parallel([branch(i) for i in range(3)], name="p").get_results()


def o_big_nested(event):
    def body():
        def big():
            yield dg.Wait(seconds=1, name="w")
            return (yield dg.Step(lambda: "z" * 300_000, name="big"))

        def small():
            return (yield dg.Step(lambda: ASTRAL[:30_000], name="astral"))

        r = yield dg.Parallel(
            [dg.Branch(big, name="big"), dg.Branch(small, name="small")],
            name="p",
            max_concurrency=1,
        )
        return [len(x) for x in r.results()]

    sizes = yield dg.Child(body, name="outer")
    yield dg.Wait(seconds=1, name="pause")
    return sizes


@pair("results_over_256k_in_branches_inside_child", o_big_nested)
def a_big_nested(event, ctx: DurableContext):
    def body(c: DurableContext):
        @durable_parallel_branch(name="big")
        def big(cc: DurableContext):
            cc.wait(Duration.from_seconds(1), name="w")
            return cc.step(lambda _: "z" * 300_000, name="big")

        @durable_parallel_branch(name="small")
        def small(cc: DurableContext):
            return cc.step(lambda _: ASTRAL[:30_000], name="astral")

        r = c.parallel([big(), small()], name="p", config=ParallelConfig(max_concurrency=1))
        return [len(x) for x in r.get_results()]

    sizes = ctx.run_in_child_context(body, name="outer")
    ctx.wait(Duration.from_seconds(1), name="pause")
    return sizes


def o_namer_none(event):
    def item(x, i):
        return (yield dg.Step(lambda: x, name="s"))

    r = yield dg.Map(item, [1, 2, 3], name="m", item_namer=lambda x, i: None if i == 1 else f"n{i}")
    p = yield dg.Parallel(
        [dg.Branch(lambda: 1, name="same"), dg.Branch(lambda: 2, name="same")], name="p"
    )
    return [r.results(), p.results()]


@pair("item_namer_returning_none_and_same_branch_names", o_namer_none)
def a_namer_none(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        return c.step(lambda _: x, name="s")

    config = MapConfig(item_namer=lambda x, i: None if i == 1 else f"n{i}")
    r = ctx.map([1, 2, 3], item, name="m", config=config)

    @durable_parallel_branch(name="same")
    def one(c: DurableContext):
        return c.step(lambda _: 1)

    @durable_parallel_branch(name="same")
    def two(c: DurableContext):
        return c.step(lambda _: 2)

    p = ctx.parallel([one(), two()], name="p")
    return [r.get_results(), p.get_results()]
