"""The interop corpus written with AWS's Python SDK: the recorder side.

One handler per case of ``workflows.CASES`` (same key). ``record.py`` runs them on AWS's
emulator and saves what the service recorded; ``workflows.py`` holds the durable_gen
equivalent of each. Importing this module needs ``aws-durable-execution-sdk-python``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aws_durable_execution_sdk_python.config import (
    CallbackConfig,
    ChildConfig,
    CompletionConfig,
    Duration,
    InvokeConfig,
    JitterStrategy,
    MapConfig,
    ParallelConfig,
    StepConfig,
    StepSemantics,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.context import (
    DurableContext,
    StepContext,
    durable_parallel_branch,
    durable_step,
    durable_wait_for_callback,
    durable_with_child_context,
)
from aws_durable_execution_sdk_python.exceptions import (
    CallbackError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    ChildContextError,
    InvokeError,
    StepError,
    WaitForConditionError,
)
from aws_durable_execution_sdk_python.retries import (
    RetryDecision,
    RetryStrategyConfig,
    create_retry_strategy,
)
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
)

from . import workflows as w

Body = Callable[[Any, DurableContext], Any]

#: Attempts made so far per (execution, step label), for steps that fail then succeed.
ATTEMPTS: dict[str, int] = {}


def _no_jitter(max_attempts: int) -> StepConfig:
    return StepConfig(
        retry_strategy=create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=max_attempts,
                initial_delay=Duration.from_seconds(1),
                jitter_strategy=JitterStrategy.NONE,
            )
        )
    )


def _never(_error: Exception, _attempts: int) -> RetryDecision:
    return RetryDecision.no_retry()


ONCE = StepConfig(retry_strategy=_never)


# --- steps ----------------------------------------------------------------------------------


def step_shapes(event: Any, ctx: DurableContext) -> Any:
    out = {
        "dict": ctx.step(lambda _: {"user": "ada", "count": 2}, name="dict"),
        "list": ctx.step(lambda _: [1, "two", 3.5], name="list"),
        "nested": ctx.step(
            lambda _: {"a": [{"b": None, "c": [True, False]}], "d": {"e": {"f": 1}}},
            name="nested",
        ),
        "str": ctx.step(lambda _: "hello", name="str"),
        "int": ctx.step(lambda _: 42, name="int"),
        "float": ctx.step(lambda _: 2.5, name="float"),
        "bool": ctx.step(lambda _: True, name="bool"),
        "none": ctx.step(lambda _: None, name="none"),
        "empty_dict": ctx.step(lambda _: {}, name="empty_dict"),
        "empty_list": ctx.step(lambda _: [], name="empty_list"),
    }
    return out


@durable_step
def add(_: StepContext, a: int, b: int) -> int:
    return a + b


def step_default_name(event: Any, ctx: DurableContext) -> Any:
    return ctx.step(add(event["a"], event["b"]))


def step_unnamed_lambda(event: Any, ctx: DurableContext) -> Any:
    return ctx.step(lambda _: "anonymous")


def _flaky(label: str, failures: int) -> Callable[[StepContext], str]:
    def run(_: StepContext) -> str:
        n = ATTEMPTS[label] = ATTEMPTS.get(label, 0) + 1
        if n <= failures:
            raise ConnectionError(f"attempt {n} failed")
        return f"ok after {n}"

    return run


def step_retry_then_succeed(event: Any, ctx: DurableContext) -> Any:
    return ctx.step(_flaky(event["label"], 2), name="flaky", config=_no_jitter(3))


def _always_fails(_: StepContext) -> None:
    raise ValueError("the step always fails")


def step_retry_exhausted(event: Any, ctx: DurableContext) -> Any:
    return ctx.step(_always_fails, name="doomed", config=_no_jitter(3))


def step_retry_exhausted_caught(event: Any, ctx: DurableContext) -> Any:
    try:
        ctx.step(_always_fails, name="doomed", config=_no_jitter(2))
    except StepError as exc:
        return {"caught": exc.error_type, "message": exc.message}
    return "unreachable"


def step_fails_once(event: Any, ctx: DurableContext) -> Any:
    first = ctx.step(lambda _: "before", name="before")
    ctx.step(_always_fails, name="doomed", config=ONCE)
    return first


def body_raises(event: Any, ctx: DurableContext) -> Any:
    ctx.step(lambda _: 1, name="one")
    raise KeyError("missing-key")


# --- waits ----------------------------------------------------------------------------------


def waits(event: Any, ctx: DurableContext) -> Any:
    ctx.wait(Duration.from_seconds(2), name="pause")
    ctx.wait(Duration.from_seconds(1))
    return ctx.step(lambda _: "after waits", name="after")


# --- callbacks ------------------------------------------------------------------------------


def callback_success(event: Any, ctx: DurableContext) -> Any:
    callback = ctx.create_callback(
        name="approval", config=CallbackConfig(timeout=Duration.from_seconds(60))
    )
    ctx.step(lambda _: "sent", name="notify")
    return {"answer": callback.result()}


def callback_failure(event: Any, ctx: DurableContext) -> Any:
    callback = ctx.create_callback(name="approval")
    return callback.result()


def callback_failure_caught(event: Any, ctx: DurableContext) -> Any:
    callback = ctx.create_callback(name="approval")
    try:
        return callback.result()
    except CallbackError as exc:
        return {"failed": exc.message}


def callback_timeout_caught(event: Any, ctx: DurableContext) -> Any:
    callback = ctx.create_callback(
        name="approval", config=CallbackConfig(timeout=Duration.from_seconds(1))
    )
    try:
        return callback.result()
    except CallbackTimeoutError:
        return "timed out"


def callback_unnamed(event: Any, ctx: DurableContext) -> Any:
    callback = ctx.create_callback()
    return callback.result()


def _submit(callback_id: str, _ctx: Any) -> None:
    return None


def _submit_fails(callback_id: str, _ctx: Any) -> None:
    raise ConnectionError("could not hand the callback over")


@durable_wait_for_callback
def submit_ticket(callback_id: str, _ctx: Any, queue: str) -> None:
    return None


def wait_for_callback_decorated(event: Any, ctx: DurableContext) -> Any:
    return ctx.wait_for_callback(submit_ticket("support"))


def wait_for_callback_success(event: Any, ctx: DurableContext) -> Any:
    return ctx.wait_for_callback(_submit, name="approval")


def wait_for_callback_unnamed(event: Any, ctx: DurableContext) -> Any:
    return ctx.wait_for_callback(_submit)


def wait_for_callback_timeout_caught(event: Any, ctx: DurableContext) -> Any:
    try:
        return ctx.wait_for_callback(
            _submit,
            name="approval",
            config=WaitForCallbackConfig(timeout=Duration.from_seconds(1)),
        )
    except CallbackTimeoutError:
        return "timed out"


def wait_for_callback_failure(event: Any, ctx: DurableContext) -> Any:
    return ctx.wait_for_callback(_submit, name="approval")


def wait_for_callback_submitter_fails(event: Any, ctx: DurableContext) -> Any:
    try:
        return ctx.wait_for_callback(
            _submit_fails,
            name="approval",
            config=WaitForCallbackConfig(retry_strategy=ONCE.retry_strategy),
        )
    except CallbackSubmitterError as exc:
        return {"submitter failed": exc.message}


# --- wait for condition -----------------------------------------------------------------------


def _until_three(state: int, attempt: int) -> WaitForConditionDecision:
    if state >= 3:
        return WaitForConditionDecision.stop_polling()
    return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))


def _inc(state: int, _ctx: Any) -> int:
    return state + 1


def wait_for_condition_named(event: Any, ctx: DurableContext) -> Any:
    return ctx.wait_for_condition(
        _inc, WaitForConditionConfig(wait_strategy=_until_three, initial_state=0), name="poll"
    )


def wait_for_condition_unnamed(event: Any, ctx: DurableContext) -> Any:
    return ctx.wait_for_condition(
        _inc, WaitForConditionConfig(wait_strategy=_until_three, initial_state=0)
    )


def _grow(state: dict[str, Any], _ctx: Any) -> dict[str, Any]:
    return {"count": state["count"] + 1, "seen": [*state["seen"], state["count"]]}


def _until_dict_done(state: dict[str, Any], attempt: int) -> WaitForConditionDecision:
    if state["count"] >= 2:
        return WaitForConditionDecision.stop_polling()
    return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))


def wait_for_condition_dict_state(event: Any, ctx: DurableContext) -> Any:
    return ctx.wait_for_condition(
        _grow,
        WaitForConditionConfig(
            wait_strategy=_until_dict_done, initial_state={"count": 0, "seen": []}
        ),
        name="grow",
    )


# --- invokes --------------------------------------------------------------------------------

CALLEE = "interop-callee"


def callee(event: Any, ctx: DurableContext) -> Any:
    if event.get("fail"):
        raise RuntimeError("the callee failed")
    return {"doubled": event["x"] * 2}


def invoke_success(event: Any, ctx: DurableContext) -> Any:
    return ctx.invoke(CALLEE, {"x": 21}, name="double")


def invoke_failure_caught(event: Any, ctx: DurableContext) -> Any:
    try:
        return ctx.invoke(CALLEE, {"x": 1, "fail": True}, name="double", config=InvokeConfig())
    except InvokeError as exc:
        return {"invoke failed": exc.error_type}


# --- child contexts -------------------------------------------------------------------------


def _child_body(ctx: DurableContext) -> Any:
    a = ctx.step(lambda _: 1, name="a")
    ctx.wait(Duration.from_seconds(1), name="inner-wait")
    b = ctx.step(lambda _: {"b": 2}, name="b")
    return {"a": a, **b}


def child_context(event: Any, ctx: DurableContext) -> Any:
    return ctx.run_in_child_context(_child_body, name="child")


@durable_with_child_context
def decorated_child(ctx: DurableContext, x: int) -> int:
    return ctx.step(lambda _: x * 3, name="triple")


def child_context_default_name(event: Any, ctx: DurableContext) -> Any:
    return ctx.run_in_child_context(decorated_child(5))


def _child_fails(ctx: DurableContext) -> Any:
    ctx.step(lambda _: "fine", name="fine")
    raise ValueError("the child gave up")


def child_context_failure_caught(event: Any, ctx: DurableContext) -> Any:
    try:
        return ctx.run_in_child_context(_child_fails, name="child")
    except ChildContextError as exc:
        return {"child failed": exc.message}


def child_context_step_failure(event: Any, ctx: DurableContext) -> Any:
    def body(child: DurableContext) -> Any:
        return child.step(_always_fails, name="doomed", config=ONCE)

    return ctx.run_in_child_context(body, name="child", config=ChildConfig())


# --- map and parallel -----------------------------------------------------------------------


def _item_step(ctx: DurableContext, item: Any, index: int, items: Any) -> Any:
    return ctx.step(lambda _: item * 10, name="times-ten")


def _item_fails_on_odd(ctx: DurableContext, item: int, index: int, items: Any) -> Any:
    if item % 2:
        raise ValueError(f"odd item {item}")
    return ctx.step(lambda _: {"item": item}, name="keep")


def _project(batch: Any) -> dict[str, Any]:
    return {
        "results": batch.get_results() if not batch.has_failure else None,
        "succeeded": batch.success_count,
        "failed": batch.failure_count,
        "reason": str(batch.completion_reason.value),
    }


def map_basic(event: Any, ctx: DurableContext) -> Any:
    return _project(ctx.map([1, 2, 3], _item_step, name="tens"))


def map_unnamed(event: Any, ctx: DurableContext) -> Any:
    return _project(ctx.map([4, 5], _item_step))


def map_item_namer(event: Any, ctx: DurableContext) -> Any:
    config: MapConfig[Any] = MapConfig(item_namer=lambda item, i: f"item-{item}")
    return _project(
        ctx.map(["a", "b"], lambda c, item, i, _: item.upper(), name="up", config=config)
    )


def map_tolerated_failures(event: Any, ctx: DurableContext) -> Any:
    config: MapConfig[Any] = MapConfig(
        max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=1)
    )
    return _project(ctx.map([2, 3, 4], _item_fails_on_odd, name="evens", config=config))


def map_first_failure(event: Any, ctx: DurableContext) -> Any:
    config: MapConfig[Any] = MapConfig(
        max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=0)
    )
    return _project(ctx.map([2, 3, 4, 6], _item_fails_on_odd, name="evens", config=config))


def map_min_successful(event: Any, ctx: DurableContext) -> Any:
    config: MapConfig[Any] = MapConfig(
        max_concurrency=1, completion_config=CompletionConfig(min_successful=2)
    )
    return _project(ctx.map([1, 2, 3, 4], _item_step, name="two", config=config))


def map_failure_raised(event: Any, ctx: DurableContext) -> Any:
    config: MapConfig[Any] = MapConfig(
        max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=0)
    )
    batch = ctx.map([1, 2], _item_fails_on_odd, name="evens", config=config)
    batch.throw_if_error()
    return "unreachable"


def _b_step(ctx: DurableContext) -> Any:
    return ctx.step(lambda _: "step branch", name="work")


def _b_wait(ctx: DurableContext) -> Any:
    ctx.wait(Duration.from_seconds(1), name="nap")
    return [1, 2]


def _b_fail(ctx: DurableContext) -> Any:
    raise RuntimeError("branch failed")


def parallel_basic(event: Any, ctx: DurableContext) -> Any:
    return _project(
        ctx.parallel([_b_step, _b_wait], name="both", config=ParallelConfig(max_concurrency=1))
    )


def parallel_tolerated_failure(event: Any, ctx: DurableContext) -> Any:
    config = ParallelConfig(
        max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=1)
    )
    return _project(ctx.parallel([_b_step, _b_fail, _b_wait], name="mixed", config=config))


@durable_parallel_branch(name="first")
def first_branch(ctx: DurableContext) -> Any:
    return ctx.step(lambda _: "one", name="one")


@durable_parallel_branch(name="second")
def second_branch(ctx: DurableContext) -> Any:
    return "two"


def parallel_named_branches(event: Any, ctx: DurableContext) -> Any:
    return _project(
        ctx.parallel([first_branch(), second_branch()], config=ParallelConfig(max_concurrency=1))
    )


def _nested_item(ctx: DurableContext, item: int, index: int, items: Any) -> Any:
    def left(c: DurableContext) -> Any:
        return c.step(lambda _: item + 1, name="left")

    def right(c: DurableContext) -> Any:
        return item * 2

    inner = ctx.parallel([left, right], name="inner", config=ParallelConfig(max_concurrency=1))
    return inner.get_results()


def nested_batches(event: Any, ctx: DurableContext) -> Any:
    return _project(
        ctx.map([1, 2], _nested_item, name="outer", config=MapConfig(max_concurrency=1))
    )


def map_failure_percentage(event: Any, ctx: DurableContext) -> Any:
    config: MapConfig[Any] = MapConfig(
        max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_percentage=50)
    )
    return _project(ctx.map([1, 2, 3, 4], _item_fails_on_odd, name="half", config=config))


def parallel_min_successful(event: Any, ctx: DurableContext) -> Any:
    config = ParallelConfig(max_concurrency=1, completion_config=CompletionConfig(min_successful=1))
    return _project(ctx.parallel([_b_step, _b_wait, _b_step], name="first-wins", config=config))


def _item_in_child(ctx: DurableContext, item: int, index: int, items: Any) -> Any:
    def body(child: DurableContext) -> Any:
        return child.step(lambda _: item + 100, name="inner")

    return ctx.run_in_child_context(body, name=f"child-{item}")


def child_in_map(event: Any, ctx: DurableContext) -> Any:
    return _project(
        ctx.map([1, 2], _item_in_child, name="items", config=MapConfig(max_concurrency=1))
    )


def wait_for_callback_in_child(event: Any, ctx: DurableContext) -> Any:
    def body(child: DurableContext) -> Any:
        return child.wait_for_callback(_submit, name="approval")

    return ctx.run_in_child_context(body, name="wrapper")


def _invoke_branch(x: int) -> Callable[[DurableContext], Any]:
    def branch(c: DurableContext) -> Any:
        return c.invoke(CALLEE, {"x": x}, name=f"double-{x}")

    return branch


def invoke_in_parallel(event: Any, ctx: DurableContext) -> Any:
    branches = [_invoke_branch(1), _invoke_branch(2)]
    return _project(
        ctx.parallel(branches, name="invokes", config=ParallelConfig(max_concurrency=1))
    )


def step_at_most_once(event: Any, ctx: DurableContext) -> Any:
    config = StepConfig(step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY)
    return ctx.step(lambda _: "charged", name="charge", config=config)


def callback_heartbeat_timeout_caught(event: Any, ctx: DurableContext) -> Any:
    callback = ctx.create_callback(
        name="approval",
        config=CallbackConfig(
            timeout=Duration.from_seconds(60), heartbeat_timeout=Duration.from_seconds(1)
        ),
    )
    try:
        return callback.result()
    except CallbackTimeoutError as exc:
        return {"timed out": exc.error_type}


def _never_done(state: int, attempt: int) -> WaitForConditionDecision:
    if attempt >= 2:
        raise WaitForConditionError("gave up after 2 checks")
    return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))


def wait_for_condition_exhausted(event: Any, ctx: DurableContext) -> Any:
    try:
        return ctx.wait_for_condition(
            _inc, WaitForConditionConfig(wait_strategy=_never_done, initial_state=0), name="poll"
        )
    except WaitForConditionError as exc:
        return {"gave up": exc.message}


# --- values of extended types, typed ports, errors with data ---------------------------------


def extended_values(event: Any, ctx: DurableContext) -> Any:
    out = {
        name: ctx.step(functools.partial(_same, value), name=name)
        for name, value in w.receipt_value().items()
    }
    ctx.wait(Duration.from_seconds(1), name="pause")
    return w.describe(out)


def _same(value: Any, _ctx: StepContext) -> Any:
    return value


def _typed_item(c: DurableContext, item: int, index: int, _items: Any) -> Any:
    return c.step(functools.partial(_item_value, item), name="work", config=ONCE)


def _item_value(item: int, _ctx: StepContext) -> Any:
    return w.item_value(item)


def _typed_child(c: DurableContext) -> Any:
    return {"p": c.step(lambda _: (7, "z"), name="pair"), "d": Decimal("0.1")}


def _two_polls(state: Any, attempt: int) -> WaitForConditionDecision:
    if state["n"] >= 2:
        return WaitForConditionDecision.stop_polling()
    return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))


def typed_values(event: Any, ctx: DurableContext) -> Any:
    receipt = ctx.step(lambda _: w.receipt_value(), name="receipt", config=ONCE)
    items = ctx.map([1, 2, 3], _typed_item, name="items", config=MapConfig(max_concurrency=1))
    child = ctx.run_in_child_context(_typed_child, name="child")
    state = ctx.wait_for_condition(
        lambda s, _: {"n": s["n"] + 1, "seen": (*s["seen"], s["n"])},
        WaitForConditionConfig(wait_strategy=_two_polls, initial_state={"n": 0, "seen": ()}),
        name="poll",
    )
    ctx.wait(Duration.from_seconds(1), name="pause")
    return w.describe(
        {"receipt": receipt, "items": items.get_results(), "child": child, "state": state}
    )


def _big_item(c: DurableContext, item: int, index: int, _items: Any) -> Any:
    return c.step(functools.partial(_big_value, item), name="work", config=ONCE)


def _big_value(item: int, _ctx: StepContext) -> Any:
    return w.big_item(item)


def _big_child(c: DurableContext) -> Any:
    return [
        c.step(functools.partial(_big_value, item), name=f"part-{item}", config=ONCE)
        for item in (1, 2, 3)
    ]


def large_results(event: Any, ctx: DurableContext) -> Any:
    batch = ctx.map([1, 2, 3], _big_item, name="items", config=MapConfig(max_concurrency=1))
    parts = ctx.run_in_child_context(_big_child, name="parts")
    ctx.wait(Duration.from_seconds(1), name="pause")
    return w.describe(
        {
            "batch": [[i["i"], i["at"], len(i["blob"])] for i in batch.get_results()],
            "count": batch.total_count,
            "parts": [[p["i"], p["at"], len(p["blob"])] for p in parts],
        }
    )


def _decline(_ctx: StepContext) -> None:
    raise w.Declined("card declined")


def _fail_with_data(_ctx: StepContext) -> None:
    raise StepError("over the limit", data='{"limit": 500}')


def step_errors_cross(event: Any, ctx: DurableContext) -> Any:
    out = []
    for fn, name in ((_decline, "charge"), (_fail_with_data, "reserve")):
        try:
            ctx.step(fn, name=name, config=ONCE)
        except StepError as exc:
            out.append([exc.error_type.rsplit(".", 1)[-1], exc.message, exc.data])
    return out


#: Case key -> handler body (``record.py`` wraps each with ``durable_execution``).
HANDLERS: dict[str, Body] = {
    fn.__name__: fn
    for fn in (
        step_shapes,
        step_default_name,
        step_unnamed_lambda,
        step_retry_then_succeed,
        step_retry_exhausted,
        step_retry_exhausted_caught,
        step_fails_once,
        body_raises,
        waits,
        callback_success,
        callback_failure,
        callback_failure_caught,
        callback_timeout_caught,
        callback_unnamed,
        wait_for_callback_success,
        wait_for_callback_unnamed,
        wait_for_callback_timeout_caught,
        wait_for_callback_failure,
        wait_for_callback_submitter_fails,
        wait_for_condition_named,
        wait_for_condition_unnamed,
        wait_for_condition_dict_state,
        invoke_success,
        invoke_failure_caught,
        child_context,
        child_context_default_name,
        child_context_failure_caught,
        child_context_step_failure,
        map_basic,
        map_unnamed,
        map_item_namer,
        map_tolerated_failures,
        map_first_failure,
        map_min_successful,
        map_failure_raised,
        parallel_basic,
        parallel_tolerated_failure,
        parallel_named_branches,
        nested_batches,
        map_failure_percentage,
        parallel_min_successful,
        child_in_map,
        wait_for_callback_in_child,
        invoke_in_parallel,
        step_at_most_once,
        callback_heartbeat_timeout_caught,
        wait_for_condition_exhausted,
        wait_for_callback_decorated,
        extended_values,
        typed_values,
        step_errors_cross,
    )
}
