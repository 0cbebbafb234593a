"""More small workflows written twice, with AWS's Python SDK and with durable_gen.

The shapes ``differential_round10.py`` leaves out: completion policies at their edges (a
``min_successful`` over the item count or reached by the last item, failure counts and
percentages exactly at and just past the tolerance, empty batches with a policy), Map inside
Parallel inside Child, callbacks failed with empty text, retries exhausted inside items and
children, wait-for-condition polling several times with structured state, invokes failing in
items and children, large error messages, non-ASCII payloads, items returning None.
``test_differential_round11.py`` runs both and compares what they did. ``Pair``, the invoke
targets and the helpers are those of ``differential_round10.py``.
"""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python.config import (
    CallbackConfig,
    CompletionConfig,
    Duration,
    MapConfig,
    NestingType,
    ParallelConfig,
    StepConfig,
    StepSemantics,
)
from aws_durable_execution_sdk_python.context import DurableContext, durable_parallel_branch
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
)

import durable_gen as dg

from .differential_round10 import (
    ATTEMPTS,
    ONE,
    OUR_ONE,
    UNICODE,
    OutOfStock,
    Pair,
    _flaky,
    _our_retry,
    _out_of_stock,
    _retry,
)
from .differential_round10 import (
    TARGETS as TARGETS10,
)

PAIRS: dict[str, Pair] = {}

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


LONG = "é" * 5000 + " the end"  # a 10 KB message in UTF-8


def _long_error() -> Any:
    raise OutOfStock(LONG)


# --- invoke targets of this corpus --------------------------------------------------------------


def aws_waits(event: Any, ctx: DurableContext) -> Any:
    ctx.wait(Duration.from_seconds(1), name="pause")
    return {"waited": event}


def our_waits(event: Any) -> Any:
    yield dg.Wait(seconds=1, name="pause")
    return {"waited": event}


def aws_long_error(event: Any, ctx: DurableContext) -> Any:
    return ctx.step(lambda _: _long_error(), name="boom", config=ONE)


def our_long_error(event: Any) -> Any:
    return (yield dg.Step(_long_error, name="boom", retry=OUR_ONE))


TARGETS: dict[str, tuple[Any, Any]] = {
    **TARGETS10,
    "waits": (aws_waits, our_waits),
    "long_error": (aws_long_error, our_long_error),
}


# --- completion policies at their edges (one item at a time: the order is fixed) ---------------


def _our_item(x, i):
    if isinstance(x, int) and x < 0:
        return (yield dg.Step(lambda: _out_of_stock(str(x)), name="c", retry=OUR_ONE))
    return (yield dg.Step(lambda: x, name="c"))


def _aws_item(c: DurableContext, x, i, items):
    if isinstance(x, int) and x < 0:
        return c.step(lambda _: _out_of_stock(str(x)), name="c", config=ONE)
    return c.step(lambda _: x, name="c")


def _our_summary(r: Any) -> list[Any]:
    started = [i.status for i in r.items if i.status != "NOT_STARTED"]  # AWS's r.all
    return [
        str(r.completion_reason),
        started,
        r.results(),
        [e.error_message for e in r.errors()],
        r.success_count,
        r.failure_count,
        r.has_failure,
    ]


def _aws_summary(r: Any) -> list[Any]:
    return [
        r.completion_reason.value,
        [i.status.value for i in r.all],
        r.get_results(),
        [e.message for e in r.get_errors()],
        r.success_count,
        r.failure_count,
        r.has_failure,
    ]


def _policy_pair(
    name: str,
    items: list[Any],
    min_successful: int | None = None,
    count: int | None = None,
    pct: float | None = None,
    concurrency: int | None = 1,
) -> None:
    def ours(event):
        completion = dg.Completion(
            min_successful=min_successful,
            tolerated_failure_count=count,
            tolerated_failure_percentage=pct,
        )
        r = yield dg.Map(
            _our_item, items, name="policy", max_concurrency=concurrency, completion=completion
        )
        return _our_summary(r)

    def aws(event, ctx: DurableContext):
        completion = CompletionConfig(
            min_successful=min_successful,
            tolerated_failure_count=count,
            tolerated_failure_percentage=pct,
        )
        config = MapConfig(max_concurrency=concurrency, completion_config=completion)
        return _aws_summary(ctx.map(items, _aws_item, name="policy", config=config))

    pair(name, ours)(aws)


_policy_pair("map_min_successful_over_count", [1, 2], min_successful=5)
_policy_pair("map_min_successful_equals_count", [1, 2, 3], min_successful=3)
_policy_pair("map_min_successful_equals_count_concurrent", [1, 2, 3], 3, concurrency=None)
_policy_pair("map_min_successful_by_last_item_after_failure", [-1, 2, 3], 2, count=1)
_policy_pair("map_min_successful_one_item_left", [1, 2, 3], min_successful=2)
_policy_pair("map_min_successful_never_all_fail", [-1, -2], min_successful=1)
_policy_pair("map_min_successful_over_count_with_failures", [-1, 2, -3], min_successful=4)
_policy_pair("map_tolerated_count_exactly_met", [1, -2, -3, 4], count=2)
_policy_pair("map_tolerated_count_exceeded_by_last_item", [1, -2, -3], count=1)
_policy_pair("map_tolerated_count_zero_all_succeed", [1, 2], count=0)
_policy_pair("map_percentage_100_every_item_fails", [-1, -2, -3], pct=100)
_policy_pair("map_percentage_0_no_failure", [1, 2, 3], pct=0)
_policy_pair("map_percentage_0_last_item_fails", [1, 2, -3], pct=0)
_policy_pair("map_percentage_just_under_a_third", [1, -2, 3], pct=33.3)
_policy_pair("map_percentage_just_over_a_third", [1, -2, 3], pct=33.4)
_policy_pair("map_percentage_fraction_of_seven", [-1, 2, 3, 4, 5, 6, 7], pct=14.28)
_policy_pair("map_min_successful_before_percentage", [1, 2, -3, 4], 2, pct=50)
_policy_pair("map_count_and_percentage_count_first", [-1, -2, 3, 4], count=1, pct=75)
_policy_pair("map_count_and_percentage_percentage_first", [-1, -2, 3, 4], count=3, pct=25)
_policy_pair("map_min_and_count_both_at_last_item", [1, -2], 1, count=0)
_policy_pair("map_empty_with_min_successful", [], min_successful=2)
_policy_pair("map_empty_with_percentage_0", [], pct=0)
_policy_pair("map_one_item_min_successful_one", [7], min_successful=1)
_policy_pair("map_one_failing_item_tolerated", [-7], count=1)
_policy_pair("map_items_none_and_falsy", [None, 0, "", False, []], min_successful=5)


def _par_policy_pair(
    name: str, values: list[int], min_successful: int | None = None, count: int | None = None
) -> None:
    def branch_of(v: int) -> Any:
        def body():
            return (yield from _our_item(v, 0))

        return dg.Branch(body, name=f"b{v}")

    def aws_branch_of(v: int) -> Any:
        @durable_parallel_branch(name=f"b{v}")
        def body(c: DurableContext):
            return _aws_item(c, v, 0, None)

        return body()

    def ours(event):
        completion = dg.Completion(min_successful=min_successful, tolerated_failure_count=count)
        r = yield dg.Parallel(
            [branch_of(v) for v in values], name="par", max_concurrency=1, completion=completion
        )
        return _our_summary(r)

    def aws(event, ctx: DurableContext):
        completion = CompletionConfig(min_successful=min_successful, tolerated_failure_count=count)
        config = ParallelConfig(max_concurrency=1, completion_config=completion)
        r = ctx.parallel([aws_branch_of(v) for v in values], name="par", config=config)
        return _aws_summary(r)

    pair(name, ours)(aws)


_par_policy_pair("parallel_min_successful_equals_branches", [1, 2], min_successful=2)
_par_policy_pair("parallel_min_successful_by_last_branch", [-1, 2, 3], 2, count=1)
_par_policy_pair("parallel_min_successful_over_count", [1, -2], min_successful=3)
_par_policy_pair("parallel_tolerated_count_exceeded_at_last", [-1, -2], count=1)


def _our_bad():
    return (yield dg.Step(lambda: _out_of_stock("x"), retry=OUR_ONE))


def _our_ok():
    return (yield dg.Step(lambda: 1))


def o_par_presets(event):
    out = []
    for completion in (dg.Completion.all_completed(), dg.Completion.all_successful()):
        r = yield dg.Parallel(
            [dg.Branch(_our_bad, name="bad"), dg.Branch(_our_ok, name="ok")],
            max_concurrency=1,
            completion=completion,
        )
        out.append(_our_summary(r)[:2])
    return out


@pair("parallel_presets_all_completed_and_all_successful", o_par_presets)
def a_par_presets(event, ctx: DurableContext):
    @durable_parallel_branch(name="bad")
    def bad(c: DurableContext):
        return c.step(lambda _: _out_of_stock("x"), config=ONE)

    @durable_parallel_branch(name="ok")
    def ok(c: DurableContext):
        return c.step(lambda _: 1)

    out = []
    for completion in (CompletionConfig.all_completed(), CompletionConfig.all_successful()):
        config = ParallelConfig(max_concurrency=1, completion_config=completion)
        r = ctx.parallel([bad(), ok()], config=config)
        out.append(_aws_summary(r)[:2])
    return out


# --- nesting --------------------------------------------------------------------------------------


def o_map_par_child(event):
    def body():
        def left():
            r = yield dg.Map(lambda x, i: x * 2, [1, 2, 3], name="inner")
            return r.results()

        def right():
            return (yield dg.Step(lambda: "r", name="s"))

        r = yield dg.Parallel([dg.Branch(left, name="L"), dg.Branch(right, name="R")], name="p")
        return r.results()

    return (yield dg.Child(body, name="outer"))


@pair("map_inside_parallel_inside_child", o_map_par_child)
def a_map_par_child(event, ctx: DurableContext):
    def body(c: DurableContext):
        @durable_parallel_branch(name="L")
        def left(cc: DurableContext):
            r = cc.map([1, 2, 3], lambda c3, x, i, items: c3.step(lambda _: x * 2), name="inner")
            return r.get_results()

        @durable_parallel_branch(name="R")
        def right(cc: DurableContext):
            return cc.step(lambda _: "r", name="s")

        return c.parallel([left(), right()], name="p").get_results()

    return ctx.run_in_child_context(body, name="outer")


def o_child_in_item_in_par(event):
    def branch():
        def item(x, i):
            def inner():
                return (yield dg.Step(lambda: f"{x}!", name="bang"))

            return (yield dg.Child(inner, name=f"c{i}"))

        r = yield dg.Map(item, ["a", "b"], name="items")
        return r.results()

    r = yield dg.Parallel([dg.Branch(branch, name="only")], name="p")
    return r.results()


@pair("child_inside_map_item_inside_parallel", o_child_in_item_in_par)
def a_child_in_item_in_par(event, ctx: DurableContext):
    @durable_parallel_branch(name="only")
    def branch(c: DurableContext):
        def item(ci: DurableContext, x, i, items):
            return ci.run_in_child_context(
                lambda cc: cc.step(lambda _: f"{x}!", name="bang"), name=f"c{i}"
            )

        return c.map(["a", "b"], item, name="items").get_results()

    return ctx.parallel([branch()], name="p").get_results()


def o_empty_in_child(event):
    def body():
        r = yield dg.Map(lambda x, i: x, [], name="none")
        p = yield dg.Parallel([], name="nothing")
        return [str(r.completion_reason), str(p.completion_reason), r.results(), p.results()]

    return (yield dg.Child(body, name="holder"))


@pair("empty_map_and_parallel_inside_child", o_empty_in_child)
def a_empty_in_child(event, ctx: DurableContext):
    def body(c: DurableContext):
        r = c.map([], lambda cc, x, i, items: x, name="none")
        p = c.parallel([], name="nothing")
        return [
            r.completion_reason.value,
            p.completion_reason.value,
            r.get_results(),
            p.get_results(),
        ]

    return ctx.run_in_child_context(body, name="holder")


def o_empty_par_in_items(event):
    def item(x, i):
        p = yield dg.Parallel([], name=f"none{i}")
        return [x, p.results()]

    r = yield dg.Map(item, [1, 2], name="rows")
    return r.results()


@pair("empty_parallel_in_each_map_item", o_empty_par_in_items)
def a_empty_par_in_items(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        p = c.parallel([], name=f"none{i}")
        return [x, p.get_results()]

    return ctx.map([1, 2], item, name="rows").get_results()


def o_child_map_fails(event):
    def body():
        r = yield dg.Map(_our_item, [1, -2], name="m", max_concurrency=1)
        return _our_summary(r)

    return (yield dg.Child(body, name="holder"))


@pair("map_failure_inside_child_returned", o_child_map_fails)
def a_child_map_fails(event, ctx: DurableContext):
    def body(c: DurableContext):
        r = c.map([1, -2], _aws_item, name="m", config=MapConfig(max_concurrency=1))
        return _aws_summary(r)

    return ctx.run_in_child_context(body, name="holder")


def o_map3(event):
    def leaf(x, i):
        return (yield dg.Step(lambda: x + 1, name="leaf"))

    def mid(row, i):
        r = yield dg.Map(leaf, row, name=f"mid{i}")
        return r.results()

    def top(grid, i):
        r = yield dg.Map(mid, grid, name=f"top{i}")
        return r.results()

    r = yield dg.Map(top, [[[1], [2, 3]], [[]]], name="cube")
    return r.results()


@pair("map_three_levels_deep", o_map3)
def a_map3(event, ctx: DurableContext):
    def leaf(c: DurableContext, x, i, items):
        return c.step(lambda _: x + 1, name="leaf")

    def mid(c: DurableContext, row, i, items):
        return c.map(row, leaf, name=f"mid{i}").get_results()

    def top(c: DurableContext, grid, i, items):
        return c.map(grid, mid, name=f"top{i}").get_results()

    return ctx.map([[[1], [2, 3]], [[]]], top, name="cube").get_results()


# --- items and branches returning None, non-ASCII payloads ----------------------------------------


def o_map_plain_none(event):
    r = yield dg.Map(lambda x, i: None, [1, 2, 3], name="nothing")
    return [r.results(), r.success_count]


@pair("map_plain_items_return_none", o_map_plain_none)
def a_map_plain_none(event, ctx: DurableContext):
    r = ctx.map([1, 2, 3], lambda c, x, i, items: c.step(lambda _: None), name="nothing")
    return [r.get_results(), r.success_count]


def o_par_none(event):
    def nothing():
        yield dg.Wait(seconds=1, name="pause")

    r = yield dg.Parallel([dg.Branch(nothing, name="a"), dg.Branch(nothing, name="b")], name="p")
    return [r.results(), str(r.completion_reason)]


@pair("parallel_branches_return_none_after_wait", o_par_none)
def a_par_none(event, ctx: DurableContext):
    def wrap(name: str) -> Any:
        @durable_parallel_branch(name=name)
        def nothing(c: DurableContext):
            c.wait(Duration.from_seconds(1), name="pause")

        return nothing()

    r = ctx.parallel([wrap("a"), wrap("b")], name="p")
    return [r.get_results(), r.completion_reason.value]


def o_map_unicode(event):
    r = yield dg.Map(lambda x, i: x[::-1], ["日本語", "🎉✓", UNICODE], name="text")
    return r.results()


@pair("map_unicode_items", o_map_unicode)
def a_map_unicode(event, ctx: DurableContext):
    r = ctx.map(
        ["日本語", "🎉✓", UNICODE], lambda c, x, i, items: c.step(lambda _: x[::-1]), name="text"
    )
    return r.get_results()


NAME_256 = "n" * 256


def o_name_256(event):
    return (yield dg.Step(lambda: "ok", name=NAME_256))


@pair("step_name_of_256_characters", o_name_256)
def a_name_256(event, ctx: DurableContext):
    return ctx.step(lambda _: "ok", name=NAME_256)


def o_unicode_names(event):
    return (yield dg.Map(lambda x, i: x, [1], name="cartes ✓")).results()


@pair("map_with_unicode_name", o_unicode_names)
def a_unicode_names(event, ctx: DurableContext):
    return ctx.map([1], lambda c, x, i, items: c.step(lambda _: x), name="cartes ✓").get_results()


# --- callbacks ------------------------------------------------------------------------------------


def o_cb(event):
    handle = yield dg.CreateCallback(name="approve", timeout=60)
    return (yield handle)


def a_cb(event, ctx: DurableContext):
    cb = ctx.create_callback(
        name="approve", config=CallbackConfig(timeout=Duration.from_seconds(60))
    )
    return cb.result()


def o_cb_caught(event):
    handle = yield dg.CreateCallback(name="approve", timeout=60)
    try:
        return (yield handle)
    except dg.CallbackFailedError as e:
        return ["failed", e.error_type, e.error_message, e.error_data]


def a_cb_caught(event, ctx: DurableContext):
    cb = ctx.create_callback(
        name="approve", config=CallbackConfig(timeout=Duration.from_seconds(60))
    )
    try:
        return cb.result()
    except Exception as e:
        return [
            "failed",
            getattr(e, "error_type", None),
            getattr(e, "message", None),
            getattr(e, "data", None),
        ]


pair("callback_failed_empty_message", o_cb, answers=[("fail", "Rejected", "", None)])(a_cb)
pair("callback_failed_empty_message_caught", o_cb_caught, answers=[("fail", "Rejected", "", None)])(
    a_cb_caught
)
pair("callback_failed_message_only", o_cb, answers=[("fail", None, "no ✗", None)])(a_cb)
pair("callback_failed_long_message", o_cb, answers=[("fail", "Rejected", LONG, None)])(a_cb)
pair("callback_json_object", o_cb, answers=[("succeed", '{"ok": true, "who": "åsa"}')])(a_cb)
pair("callback_json_number", o_cb, answers=[("succeed", "12.5")])(a_cb)
pair("callback_json_null_text", o_cb, answers=[("succeed", "null")])(a_cb)


def o_two_cbs(event):
    first = yield dg.CreateCallback(name="first", timeout=60)
    second = yield dg.CreateCallback(name="second", timeout=60)
    b = yield second
    a = yield first
    return [a, b]


@pair(
    "two_callbacks_awaited_in_reverse",
    o_two_cbs,
    answers=[("succeed", '"one"'), ("succeed", '"two"')],
)
def a_two_cbs(event, ctx: DurableContext):
    config = CallbackConfig(timeout=Duration.from_seconds(60))
    first = ctx.create_callback(name="first", config=config)
    second = ctx.create_callback(name="second", config=config)
    b = second.result()
    a = first.result()
    return [a, b]


def o_wfcb_caught(event):
    try:
        return (yield dg.WaitForCallback(lambda callback_id: None, name="ask"))
    except dg.CallbackFailedError as e:
        return ["failed", e.error_message, e.error_data]


@pair(
    "wait_for_callback_failed_with_data_caught",
    o_wfcb_caught,
    answers=[("fail", "Denied", "nope", '{"why": "late"}')],
)
def a_wfcb_caught(event, ctx: DurableContext):
    try:
        return ctx.wait_for_callback(lambda callback_id, c: None, name="ask")
    except Exception as e:
        return ["failed", getattr(e, "message", None), getattr(e, "data", None)]


def o_cb_items(event):
    def item(x, i):
        handle = yield dg.CreateCallback(name=f"cb{i}", timeout=60)
        return [x, (yield handle)]

    r = yield dg.Map(item, ["a", "b"], name="asks", max_concurrency=1)
    return r.results()


@pair(
    "callbacks_in_serial_map_items",
    o_cb_items,
    answers=[("succeed", "1"), ("succeed", "[2]")],
)
def a_cb_items(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        cb = c.create_callback(
            name=f"cb{i}", config=CallbackConfig(timeout=Duration.from_seconds(60))
        )
        return [x, cb.result()]

    return ctx.map(["a", "b"], item, name="asks", config=MapConfig(max_concurrency=1)).get_results()


# --- step retries exhausting ----------------------------------------------------------------------


def o_retry3(event):
    return (yield dg.Step(lambda: _flaky("r3", 9, "never"), name="flaky", retry=_our_retry(3)))


@pair("retry_three_attempts_exhausted", o_retry3)
def a_retry3(event, ctx: DurableContext):
    return ctx.step(lambda _: _flaky("r3", 9, "never"), name="flaky", config=_retry(3))


def o_retry3_caught(event):
    try:
        yield dg.Step(lambda: _flaky("r3c", 9, "never"), name="flaky", retry=_our_retry(3))
    except dg.StepFailedError as e:
        return ["gave up", e.error_message]


@pair("retry_three_attempts_exhausted_caught", o_retry3_caught)
def a_retry3_caught(event, ctx: DurableContext):
    try:
        ctx.step(lambda _: _flaky("r3c", 9, "never"), name="flaky", config=_retry(3))
    except Exception as e:
        return ["gave up", getattr(e, "message", str(e))]


def o_retry_items(event):
    def item(x, i):
        return (yield dg.Step(lambda: _flaky(f"i{x}", x, x), name="f", retry=_our_retry(2)))

    r = yield dg.Map(
        item, [0, 1, 2], name="tries", max_concurrency=1, completion=dg.Completion.all_completed()
    )
    return _our_summary(r)


@pair("retry_exhausted_in_one_map_item", o_retry_items)
def a_retry_items(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        return c.step(lambda _: _flaky(f"i{x}", x, x), name="f", config=_retry(2))

    config = MapConfig(max_concurrency=1, completion_config=CompletionConfig.all_completed())
    return _aws_summary(ctx.map([0, 1, 2], item, name="tries", config=config))


def o_retry_child(event):
    def body():
        return (yield dg.Step(lambda: _flaky("ch", 1, "second"), name="f", retry=_our_retry(2)))

    return (yield dg.Child(body, name="holder"))


@pair("retry_succeeds_second_attempt_in_child", o_retry_child)
def a_retry_child(event, ctx: DurableContext):
    return ctx.run_in_child_context(
        lambda c: c.step(lambda _: _flaky("ch", 1, "second"), name="f", config=_retry(2)),
        name="holder",
    )


def o_retry_child_fails(event):
    def body():
        return (yield dg.Step(lambda: _flaky("chf", 9, "x"), name="f", retry=_our_retry(2)))

    try:
        return (yield dg.Child(body, name="holder"))
    except dg.ChildFailedError as e:
        return ["child failed", e.error_message]


@pair("retry_exhausted_in_child_caught", o_retry_child_fails)
def a_retry_child_fails(event, ctx: DurableContext):
    try:
        return ctx.run_in_child_context(
            lambda c: c.step(lambda _: _flaky("chf", 9, "x"), name="f", config=_retry(2)),
            name="holder",
        )
    except Exception as e:
        return ["child failed", getattr(e, "message", str(e))]


# --- large error objects --------------------------------------------------------------------------


def o_long_error(event):
    return (yield dg.Step(_long_error, name="boom", retry=OUR_ONE))


@pair("step_error_message_of_10kb", o_long_error)
def a_long_error(event, ctx: DurableContext):
    return ctx.step(lambda _: _long_error(), name="boom", config=ONE)


def o_body_unicode(event):
    yield dg.Step(lambda: 1, name="first")
    raise OutOfStock("plus de stock — 在庫切れ ✗")


@pair("body_raises_unicode_message_after_step", o_body_unicode)
def a_body_unicode(event, ctx: DurableContext):
    ctx.step(lambda _: 1, name="first")
    raise OutOfStock("plus de stock — 在庫切れ ✗")


# --- wait for condition ---------------------------------------------------------------------------


def _our_until(limit: int) -> Any:
    def strategy(state, attempt):
        if state["n"] >= limit:
            return dg.WaitDecision.done()
        return dg.WaitDecision.again(1)

    return strategy


def _aws_until(limit: int) -> Any:
    def strategy(state, attempt):
        if state["n"] >= limit:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))

    return strategy


def _bump(s):
    return {"n": s["n"] + 1, "seen": [*s["seen"], s["n"]], "note": "é"}


def o_cond_five(event):
    start = {"n": 0, "seen": [], "note": None}
    return (yield dg.WaitForCondition(_bump, start, wait_strategy=_our_until(5), name="poll"))


@pair("condition_five_polls_structured_state", o_cond_five)
def a_cond_five(event, ctx: DurableContext):
    config = WaitForConditionConfig(
        wait_strategy=_aws_until(5), initial_state={"n": 0, "seen": [], "note": None}
    )
    return ctx.wait_for_condition(lambda s, c: _bump(s), config, name="poll")


def o_cond_items(event):
    def item(x, i):
        start = {"n": x, "seen": [], "note": None}
        return (yield dg.WaitForCondition(_bump, start, wait_strategy=_our_until(3), name="p"))

    r = yield dg.Map(item, [0, 2], name="polls")
    return r.results()


@pair("condition_in_map_items_different_poll_counts", o_cond_items)
def a_cond_items(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        config = WaitForConditionConfig(
            wait_strategy=_aws_until(3), initial_state={"n": x, "seen": [], "note": None}
        )
        return c.wait_for_condition(lambda s, cc: _bump(s), config, name="p")

    return ctx.map([0, 2], item, name="polls").get_results()


def o_cond_then_step(event):
    start = {"n": 1, "seen": [], "note": None}
    state = yield dg.WaitForCondition(_bump, start, wait_strategy=_our_until(3), name="poll")
    return (yield dg.Step(lambda: state["seen"], name="after"))


@pair("condition_two_polls_then_step_in_child", o_cond_then_step)
def a_cond_then_step(event, ctx: DurableContext):
    config = WaitForConditionConfig(
        wait_strategy=_aws_until(3), initial_state={"n": 1, "seen": [], "note": None}
    )
    state = ctx.wait_for_condition(lambda s, c: _bump(s), config, name="poll")
    return ctx.step(lambda _: state["seen"], name="after")


# --- invoke ---------------------------------------------------------------------------------------


def o_inv_items(event):
    def item(x, i):
        return (yield dg.Invoke("fails" if x else "echo", {"x": x}, name=f"call{i}"))

    r = yield dg.Map(
        item, [0, 1], name="calls", max_concurrency=1, completion=dg.Completion.all_completed()
    )
    return [r.results(), [e.error_message for e in r.errors()], str(r.completion_reason)]


@pair("invoke_failing_in_one_map_item", o_inv_items, targets=("echo", "fails"))
def a_inv_items(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        return c.invoke("fails" if x else "echo", {"x": x}, name=f"call{i}")

    config = MapConfig(max_concurrency=1, completion_config=CompletionConfig.all_completed())
    r = ctx.map([0, 1], item, name="calls", config=config)
    return [r.get_results(), [e.message for e in r.get_errors()], r.completion_reason.value]


def o_inv_child(event):
    def body():
        return (yield dg.Invoke("waits", "é", name="call"))

    return (yield dg.Child(body, name="holder"))


@pair("invoke_waiting_target_in_child", o_inv_child, targets=("waits",))
def a_inv_child(event, ctx: DurableContext):
    return ctx.run_in_child_context(lambda c: c.invoke("waits", "é", name="call"), name="holder")


def o_inv_long(event):
    try:
        yield dg.Invoke("long_error", None, name="call")
    except dg.InvokeFailedError as e:
        return ["caught", len(e.error_message or "")]


@pair("invoke_target_fails_with_10kb_message_caught", o_inv_long, targets=("long_error",))
def a_inv_long(event, ctx: DurableContext):
    try:
        ctx.invoke("long_error", None, name="call")
    except Exception as e:
        return ["caught", len(getattr(e, "message", "") or "")]


def o_inv_big(event):
    payload = {f"k{i}": UNICODE for i in range(200)}
    r = yield dg.Invoke("echo", payload, name="call")
    return [len(r), r["k199"] == UNICODE]


@pair("invoke_echo_big_unicode_dict", o_inv_big, targets=("echo",))
def a_inv_big(event, ctx: DurableContext):
    payload = {f"k{i}": UNICODE for i in range(200)}
    r = ctx.invoke("echo", payload, name="call")
    return [len(r), r["k199"] == UNICODE]


# --- waits around batches -------------------------------------------------------------------------


def o_wait_map_wait(event):
    yield dg.Wait(seconds=1, name="before")

    def item(x, i):
        yield dg.Wait(seconds=x, name="nap")
        return x

    r = yield dg.Map(item, [1, 1], name="naps")
    return (yield dg.Step(lambda: r.results(), name="after"))


@pair("wait_then_map_of_waits_then_step", o_wait_map_wait)
def a_wait_map_wait(event, ctx: DurableContext):
    ctx.wait(Duration.from_seconds(1), name="before")

    def item(c: DurableContext, x, i, items):
        c.wait(Duration.from_seconds(x), name="nap")
        return x

    r = ctx.map([1, 1], item, name="naps")
    return ctx.step(lambda _: r.get_results(), name="after")


# --- flat nesting with completion policies --------------------------------------------------------


def _flat_pair(
    name: str,
    items: list[int],
    min_successful: int | None = None,
    count: int | None = None,
) -> None:
    def ours(event):
        completion = dg.Completion(min_successful=min_successful, tolerated_failure_count=count)
        r = yield dg.Map(
            _our_item,
            items,
            name="flat",
            max_concurrency=1,
            completion=completion,
            nesting="flat",
        )
        return _our_summary(r)

    def aws(event, ctx: DurableContext):
        completion = CompletionConfig(min_successful=min_successful, tolerated_failure_count=count)
        config = MapConfig(
            max_concurrency=1, completion_config=completion, nesting_type=NestingType.FLAT
        )
        return _aws_summary(ctx.map(items, _aws_item, name="flat", config=config))

    pair(name, ours)(aws)


_flat_pair("flat_map_min_successful_one_item_left", [1, 2, 3], min_successful=2)
_flat_pair("flat_map_min_successful_by_last_item", [-1, 2], 1, count=1)
_flat_pair("flat_map_tolerated_count_exceeded", [-1, -2, 3], count=1)
_flat_pair("flat_map_fail_fast", [1, -2, 3])


def o_flat_par_child(event):
    def branch(v):
        def body():
            return (yield dg.Child(lambda: (yield dg.Step(lambda: v, name="s")), name=f"c{v}"))

        return dg.Branch(body, name=f"b{v}")

    r = yield dg.Parallel([branch(1), branch(2)], name="fp", nesting="flat")
    return r.results()


@pair("flat_parallel_of_children", o_flat_par_child)
def a_flat_par_child(event, ctx: DurableContext):
    def branch(v):
        @durable_parallel_branch(name=f"b{v}")
        def body(c: DurableContext):
            return c.run_in_child_context(lambda cc: cc.step(lambda _: v, name="s"), name=f"c{v}")

        return body()

    config = ParallelConfig(nesting_type=NestingType.FLAT)
    return ctx.parallel([branch(1), branch(2)], name="fp", config=config).get_results()


def o_child_no_ops(event):
    def body():
        return None
        yield  # a workflow

    return [(yield dg.Child(body, name="empty")), "after"]


@pair("child_with_no_operations_returns_none", o_child_no_ops)
def a_child_no_ops(event, ctx: DurableContext):
    return [ctx.run_in_child_context(lambda c: None, name="empty"), "after"]


# --- more items -----------------------------------------------------------------------------------


def o_amo_items(event):
    def item(x, i):
        return (
            yield dg.Step(
                lambda: _flaky(f"amo{x}", x, x * 10),
                name="charge",
                retry=_our_retry(2),
                semantics=dg.AT_MOST_ONCE,
            )
        )

    r = yield dg.Map(
        item, [0, 1, 2], name="charges", max_concurrency=1, completion=dg.Completion.all_completed()
    )
    return _our_summary(r)


@pair("at_most_once_retries_in_map_items", o_amo_items)
def a_amo_items(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        config = _retry(2)
        config = StepConfig(
            retry_strategy=config.retry_strategy,
            step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
        )
        return c.step(lambda _: _flaky(f"amo{x}", x, x * 10), name="charge", config=config)

    config = MapConfig(max_concurrency=1, completion_config=CompletionConfig.all_completed())
    return _aws_summary(ctx.map([0, 1, 2], item, name="charges", config=config))


def o_par_pct(event):
    def branch(v):
        def body():
            return (yield from _our_item(v, 0))

        return dg.Branch(body, name=f"b{v + 10}")

    r = yield dg.Parallel(
        [branch(-1), branch(-2), branch(3)],
        name="pp",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=50),
    )
    return _our_summary(r)


@pair("parallel_percentage_exceeded_by_second_failure", o_par_pct)
def a_par_pct(event, ctx: DurableContext):
    def branch(v):
        @durable_parallel_branch(name=f"b{v + 10}")
        def body(c: DurableContext):
            return _aws_item(c, v, 0, None)

        return body()

    config = ParallelConfig(
        max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_percentage=50)
    )
    return _aws_summary(ctx.parallel([branch(-1), branch(-2), branch(3)], name="pp", config=config))


def o_inv_unnamed(event):
    r = yield dg.Map(lambda x, i: x, [1], name="warm")
    return [r.results(), (yield dg.Invoke("echo", [1, "二"]))]


@pair("invoke_unnamed_after_map", o_inv_unnamed, targets=("echo",))
def a_inv_unnamed(event, ctx: DurableContext):
    r = ctx.map([1], lambda c, x, i, items: c.step(lambda _: x), name="warm")
    return [r.get_results(), ctx.invoke("echo", [1, "二"])]


def o_item_body_raises(event):
    def item(x, i):
        yield dg.Step(lambda: x, name="before")
        if x == 2:
            raise OutOfStock(f"item {x} gave up")
        return x

    r = yield dg.Map(
        item,
        [1, 2, 3],
        name="bodies",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return _our_summary(r)


@pair("map_item_body_raises_tolerated", o_item_body_raises)
def a_item_body_raises(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        c.step(lambda _: x, name="before")
        if x == 2:
            raise OutOfStock(f"item {x} gave up")
        return x

    config = MapConfig(
        max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=1)
    )
    return _aws_summary(ctx.map([1, 2, 3], item, name="bodies", config=config))
