"""More small workflows written twice, with AWS's Python SDK and with durable_gen.

Shapes ``differential_round10.py`` and ``differential_round11.py`` leave out: retry policies
with fractional and sub-one backoff rates, capped delays, jitter whose outcome is fixed (a
base delay of 1 s), message filters and subclass filters; wait-for-condition strategies with
backoff, caps and attempts running out (met on the last attempt too); callbacks with
heartbeat timeouts, custom serdes and failures carrying non-ASCII data; wait-for-callback
submitters retried; invokes of falsy payloads, with serdes, tenants, failing after a wait;
custom serdes on steps, children, maps and parallels; exceptions with several arguments,
``KeyError`` quoting, nested classes and chained causes; results of ``False``, ``0``,
``""``, empty and deeply nested containers, big integers; names with punctuation; Map inside
Parallel inside Child with completion policies; payloads near the operation limit.
``test_differential_round12.py`` runs both and compares what they did.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_durable_execution_sdk_python.concurrency.models import (
    BatchItem,
    BatchItemStatus,
    BatchResult,
    CompletionReason,
)
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
from aws_durable_execution_sdk_python.context import DurableContext, durable_parallel_branch
from aws_durable_execution_sdk_python.retries import (
    RetryPresets,
    RetryStrategyConfig,
    create_retry_strategy,
)
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
    create_wait_strategy,
)

import durable_gen as dg

from .differential_round10 import (
    ATTEMPTS,
    ONE,
    OUR_ONE,
    OutOfStock,
    Pair,
    _flaky,
    _out_of_stock,
)
from .differential_round11 import TARGETS as TARGETS11

PAIRS: dict[str, Pair] = {}

__all__ = ["ATTEMPTS", "PAIRS", "TARGETS"]

log = logging.getLogger("differential.round12")


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


def _aws_retry(
    n: int,
    initial: int = 1,
    backoff: float = 1,
    cap: int = 1,
    jitter: JitterStrategy = JitterStrategy.NONE,
    **filters: Any,
) -> StepConfig:
    config = RetryStrategyConfig(
        max_attempts=n,
        initial_delay=Duration.from_seconds(initial),
        max_delay=Duration.from_seconds(cap),
        backoff_rate=backoff,
        jitter_strategy=jitter,
        **filters,
    )
    return StepConfig(retry_strategy=create_retry_strategy(config))


def _our_retry(
    n: int,
    initial: float = 1,
    backoff: float = 1,
    cap: float = 1,
    jitter: Any = "none",
    **filters: Any,
) -> dg.Retry:
    return dg.Retry(
        max_attempts=n,
        initial_delay=initial,
        backoff=backoff,
        max_delay=cap,
        jitter=jitter,
        **filters,
    )


# --- invoke targets of this corpus --------------------------------------------------------------


def aws_wait_then_fail(event: Any, ctx: DurableContext) -> Any:
    ctx.wait(Duration.from_seconds(1), name="pause")
    return ctx.step(lambda _: _out_of_stock("late"), name="late", config=ONE)


def our_wait_then_fail(event: Any) -> Any:
    yield dg.Wait(seconds=1, name="pause")
    return (yield dg.Step(lambda: _out_of_stock("late"), name="late", retry=OUR_ONE))


def aws_falsy(event: Any, ctx: DurableContext) -> Any:
    return ctx.step(lambda _: [event, not event], name="negate")


def our_falsy(event: Any) -> Any:
    return (yield dg.Step(lambda: [event, not event], name="negate"))


TARGETS: dict[str, tuple[Any, Any]] = {
    **TARGETS11,
    "wait_then_fail": (aws_wait_then_fail, our_wait_then_fail),
    "falsy": (aws_falsy, our_falsy),
}


# --- retry policies whose delays are fixed --------------------------------------------------------


def _retry_pair(
    name: str,
    n: int,
    fails: int,
    initial: int = 1,
    backoff: float = 1,
    cap: int = 1,
    jitter: str = "none",
    value: Any = "done",
) -> None:
    aws_jitter = JitterStrategy(jitter.upper())

    def ours(event):
        retry = _our_retry(n, initial, backoff, cap, jitter)
        try:
            return (yield dg.Step(lambda: _flaky(name, fails, value), name="flaky", retry=retry))
        except dg.StepFailedError as e:
            return ["gave up", e.error_message]

    def aws(event, ctx: DurableContext):
        config = _aws_retry(n, initial, backoff, cap, aws_jitter)
        try:
            return ctx.step(lambda _: _flaky(name, fails, value), name="flaky", config=config)
        except Exception as e:
            return ["gave up", getattr(e, "message", str(e))]

    pair(name, ours)(aws)


_retry_pair("retry_fractional_backoff_rounded_up", 4, 3, initial=1, backoff=1.5, cap=10)
_retry_pair("retry_backoff_below_one_shrinks", 3, 2, initial=2, backoff=0.5, cap=10)
_retry_pair("retry_cap_below_initial_delay", 3, 2, initial=3, backoff=2, cap=1)
_retry_pair("retry_half_jitter_base_one", 3, 2, jitter="half")
_retry_pair("retry_full_jitter_base_one", 3, 2, jitter="full")
_retry_pair("retry_full_jitter_exhausted", 2, 5, jitter="full")
_retry_pair("retry_returns_false_after_failure", 2, 1, value=False)
_retry_pair("retry_returns_zero_after_failure", 2, 1, value=0)
_retry_pair("retry_returns_empty_string_after_failure", 2, 1, value="")
_retry_pair("retry_returns_nested_falsy_after_failure", 2, 1, value={"a": [None, 0, {}]})


class Transient(Exception):
    """A failure worth retrying, by its message."""


def _transient_then_fatal(key: str) -> Any:
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] == 1:
        raise Transient("transient glitch")
    raise Transient("fatal: card declined")


def o_retry_message(event):
    retry = _our_retry(5, retry_if=lambda e: "transient" in str(e))
    try:
        yield dg.Step(lambda: _transient_then_fatal("msg"), name="charge", retry=retry)
    except dg.StepFailedError as e:
        return [e.error_type, e.error_message]


@pair("retry_filtered_by_message", o_retry_message)
def a_retry_message(event, ctx: DurableContext):
    config = _aws_retry(5, retryable_errors=["transient"])
    try:
        ctx.step(lambda _: _transient_then_fatal("msg"), name="charge", config=config)
    except Exception as e:
        return [getattr(e, "error_type", None), getattr(e, "message", None)]


def _key_error_twice(key: str) -> Any:
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] <= 2:
        raise KeyError(f"sku-{ATTEMPTS[key]}")
    return "found"


def o_retry_subclass(event):
    retry = _our_retry(3, retry_on=(LookupError,))
    return (yield dg.Step(lambda: _key_error_twice("sub"), name="lookup", retry=retry))


@pair("retry_on_base_class_retries_subclass", o_retry_subclass)
def a_retry_subclass(event, ctx: DurableContext):
    config = _aws_retry(3, retryable_error_types=[LookupError])
    return ctx.step(lambda _: _key_error_twice("sub"), name="lookup", config=config)


def o_retry_never(event):
    return (yield dg.Step(lambda: _flaky("never", 1, "x"), name="once", retry=dg.Retry.never()))


@pair("retry_never_against_preset_none", o_retry_never)
def a_retry_never(event, ctx: DurableContext):
    config = StepConfig(retry_strategy=RetryPresets.none())
    return ctx.step(lambda _: _flaky("never", 1, "x"), name="once", config=config)


def o_retry_in_branches(event):
    def branch(key: str, fails: int) -> Any:
        def body():
            retry = _our_retry(3, initial=1, backoff=2, cap=4)
            return (yield dg.Step(lambda: _flaky(key, fails, key), name="try", retry=retry))

        return dg.Branch(body, name=key)

    r = yield dg.Parallel(
        [branch("p0", 0), branch("p2", 2), branch("p9", 9)],
        name="tries",
        max_concurrency=1,
        completion=dg.Completion.all_completed(),
    )
    return [r.results(), [e.error_message for e in r.errors()], r.success_count]


@pair("retry_backoff_in_parallel_branches", o_retry_in_branches)
def a_retry_in_branches(event, ctx: DurableContext):
    def branch(key: str, fails: int) -> Any:
        @durable_parallel_branch(name=key)
        def body(c: DurableContext):
            config = _aws_retry(3, initial=1, backoff=2, cap=4)
            return c.step(lambda _: _flaky(key, fails, key), name="try", config=config)

        return body()

    config = ParallelConfig(max_concurrency=1, completion_config=CompletionConfig.all_completed())
    r = ctx.parallel(
        [branch("p0", 0), branch("p2", 2), branch("p9", 9)], name="tries", config=config
    )
    return [r.get_results(), [e.message for e in r.get_errors()], r.success_count]


def o_amo_never_fails(event):
    try:
        yield dg.Step(
            lambda: _out_of_stock("once"),
            name="charge",
            retry=dg.Retry.never(),
            semantics=dg.AT_MOST_ONCE,
        )
    except dg.StepFailedError as e:
        return [e.error_type, e.error_message]


@pair("at_most_once_single_attempt_fails_caught", o_amo_never_fails)
def a_amo_never_fails(event, ctx: DurableContext):
    config = StepConfig(
        retry_strategy=RetryPresets.none(), step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY
    )
    try:
        ctx.step(lambda _: _out_of_stock("once"), name="charge", config=config)
    except Exception as e:
        return [getattr(e, "error_type", None), getattr(e, "message", None)]


# --- wait for condition with strategies -----------------------------------------------------------


def _bump(s: Any) -> Any:
    return {"n": s["n"] + 1, "tag": s.get("tag")}


def _cond_pair(
    name: str,
    start: int,
    limit: int,
    delay: int = 1,
    backoff: float = 1.0,
    cap: int = 300,
    attempts: int | None = None,
    catch: bool = False,
) -> None:
    def ours(event):
        strategy = dg.WaitStrategy(
            until=lambda s: s["n"] >= limit,
            delay=delay,
            backoff=backoff,
            max_delay=cap,
            max_attempts=attempts,
        )
        command = dg.WaitForCondition(
            _bump, {"n": start, "tag": "é"}, wait_strategy=strategy, name="poll"
        )
        if not catch:
            return (yield command)
        try:
            return (yield command)
        except dg.StepFailedError as e:
            return ["not met", e.error_message]

    def aws(event, ctx: DurableContext):
        strategy = create_wait_strategy(
            WaitStrategyConfig(
                should_continue_polling=lambda s: s["n"] < limit,
                max_attempts=60 if attempts is None else attempts,
                initial_delay=Duration.from_seconds(delay),
                max_delay=Duration.from_seconds(cap),
                backoff_rate=backoff,
                jitter_strategy=JitterStrategy.NONE,
            )
        )
        config = WaitForConditionConfig(
            wait_strategy=strategy, initial_state={"n": start, "tag": "é"}
        )
        if not catch:
            return ctx.wait_for_condition(lambda s, c: _bump(s), config, name="poll")
        try:
            return ctx.wait_for_condition(lambda s, c: _bump(s), config, name="poll")
        except Exception as e:
            return ["not met", getattr(e, "message", str(e))]

    pair(name, ours)(aws)


_cond_pair("condition_backoff_doubling", 0, 3, delay=1, backoff=2, cap=10)
_cond_pair("condition_backoff_fractional", 0, 3, delay=1, backoff=1.5, cap=10)
_cond_pair("condition_backoff_capped", 0, 4, delay=1, backoff=3, cap=2)
_cond_pair("condition_met_on_last_attempt", 0, 3, attempts=3)
_cond_pair("condition_met_on_first_of_one_attempt", 0, 1, attempts=1)
_cond_pair("condition_attempts_run_out", 0, 9, attempts=2)
_cond_pair("condition_attempts_run_out_caught", 0, 9, attempts=3, catch=True)


def o_cond_falsy(event):
    def strategy(state, attempt):
        if state == 0:
            return dg.WaitDecision.done()
        return dg.WaitDecision.again(1)

    return (yield dg.WaitForCondition(lambda s: s - 1, 2, wait_strategy=strategy, name="down"))


@pair("condition_state_counts_down_to_zero", o_cond_falsy)
def a_cond_falsy(event, ctx: DurableContext):
    def strategy(state, attempt):
        if state == 0:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))

    config = WaitForConditionConfig(wait_strategy=strategy, initial_state=2)
    return ctx.wait_for_condition(lambda s, c: s - 1, config, name="down")


def o_cond_none(event):
    def strategy(state, attempt):
        return dg.WaitDecision.done() if attempt >= 2 else dg.WaitDecision.again(1)

    return (yield dg.WaitForCondition(lambda s: None, None, wait_strategy=strategy, name="nil"))


@pair("condition_state_none_attempt_counted", o_cond_none)
def a_cond_none(event, ctx: DurableContext):
    def strategy(state, attempt):
        if attempt >= 2:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))

    config = WaitForConditionConfig(wait_strategy=strategy, initial_state=None)
    return ctx.wait_for_condition(lambda s, c: None, config, name="nil")


def o_cond_branches(event):
    def branch(start: int) -> Any:
        def body():
            strategy = dg.WaitStrategy(until=lambda s: s["n"] >= 2, delay=1)
            return (
                yield dg.WaitForCondition(
                    _bump, {"n": start, "tag": None}, wait_strategy=strategy, name="poll"
                )
            )

        return dg.Branch(body, name=f"from{start}")

    r = yield dg.Parallel([branch(0), branch(5)], name="polls", max_concurrency=1)
    return r.results()


@pair("condition_in_parallel_branches", o_cond_branches)
def a_cond_branches(event, ctx: DurableContext):
    def branch(start: int) -> Any:
        @durable_parallel_branch(name=f"from{start}")
        def body(c: DurableContext):
            strategy = create_wait_strategy(
                WaitStrategyConfig(
                    should_continue_polling=lambda s: s["n"] < 2,
                    initial_delay=Duration.from_seconds(1),
                    backoff_rate=1,
                    jitter_strategy=JitterStrategy.NONE,
                )
            )
            config = WaitForConditionConfig(
                wait_strategy=strategy, initial_state={"n": start, "tag": None}
            )
            return c.wait_for_condition(lambda s, cc: _bump(s), config, name="poll")

        return body()

    config = ParallelConfig(max_concurrency=1)
    return ctx.parallel([branch(0), branch(5)], name="polls", config=config).get_results()


# --- serdes of the user's -------------------------------------------------------------------------


class OurTagged:
    """Writes ``tagged:<json>`` and reads it back."""

    def serialize(self, value: Any) -> str:
        return "tagged:" + json.dumps(value)

    def deserialize(self, text: str) -> Any:
        assert text.startswith("tagged:"), text
        return json.loads(text[len("tagged:") :])


class AwsTagged(SerDes[Any]):
    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        return "tagged:" + json.dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        assert data.startswith("tagged:"), data
        return json.loads(data[len("tagged:") :])


class OurJson:
    def serialize(self, value: Any) -> str:
        return json.dumps(value)

    def deserialize(self, text: str) -> Any:
        return json.loads(text)


class AwsJson(SerDes[Any]):
    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        return json.dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return json.loads(data)


def o_step_serdes(event):
    v = yield dg.Step(lambda: {"k": [1, None, "é"]}, name="s", serdes=OurTagged())
    yield dg.Wait(seconds=1, name="replay")
    return v


@pair("step_custom_serdes_then_replay", o_step_serdes)
def a_step_serdes(event, ctx: DurableContext):
    v = ctx.step(lambda _: {"k": [1, None, "é"]}, name="s", config=StepConfig(serdes=AwsTagged()))
    ctx.wait(Duration.from_seconds(1), name="replay")
    return v


def o_child_serdes(event):
    def body():
        return (yield dg.Step(lambda: [False, 0, ""], name="inner"))

    v = yield dg.Child(body, name="holder", serdes=OurTagged())
    yield dg.Wait(seconds=1, name="replay")
    return v


@pair("child_custom_serdes_then_replay", o_child_serdes)
def a_child_serdes(event, ctx: DurableContext):
    v = ctx.run_in_child_context(
        lambda c: c.step(lambda _: [False, 0, ""], name="inner"),
        name="holder",
        config=ChildConfig(serdes=AwsTagged()),
    )
    ctx.wait(Duration.from_seconds(1), name="replay")
    return v


def o_map_item_serdes(event):
    r = yield dg.Map(
        lambda x, i: {"x": x, "i": i}, ["a", "b"], name="tagged", item_serdes=OurTagged()
    )
    yield dg.Wait(seconds=1, name="replay")
    return r.results()


@pair("map_item_serdes_then_replay", o_map_item_serdes)
def a_map_item_serdes(event, ctx: DurableContext):
    r = ctx.map(
        ["a", "b"],
        lambda c, x, i, items: c.step(lambda _: {"x": x, "i": i}),
        name="tagged",
        config=MapConfig(item_serdes=AwsTagged()),
    )
    ctx.wait(Duration.from_seconds(1), name="replay")
    return r.get_results()


def o_cond_serdes(event):
    def strategy(state, attempt):
        return dg.WaitDecision.done() if state >= 2 else dg.WaitDecision.again(1)

    return (
        yield dg.WaitForCondition(
            lambda s: s + 1, 0, wait_strategy=strategy, name="count", serdes=OurTagged()
        )
    )


@pair("condition_custom_serdes", o_cond_serdes)
def a_cond_serdes(event, ctx: DurableContext):
    def strategy(state, attempt):
        if state >= 2:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))

    config = WaitForConditionConfig(wait_strategy=strategy, initial_state=0, serdes=AwsTagged())
    return ctx.wait_for_condition(lambda s, c: s + 1, config, name="count")


def o_invoke_serdes(event):
    return (yield dg.Invoke("echo", {"n": 1}, name="call", serdes=OurJson()))


@pair("invoke_custom_serdes_both_ways", o_invoke_serdes, targets=("echo",))
def a_invoke_serdes(event, ctx: DurableContext):
    config = InvokeConfig(serdes_payload=AwsJson(), serdes_result=AwsJson())
    return ctx.invoke("echo", {"n": 1}, name="call", config=config)


# --- callbacks ------------------------------------------------------------------------------------


def o_cb_hb(event):
    handle = yield dg.CreateCallback(name="approve", timeout=60, heartbeat_timeout=30)
    return (yield handle)


@pair("callback_with_heartbeat_answered", o_cb_hb, answers=[("succeed", '"ok"')])
def a_cb_hb(event, ctx: DurableContext):
    config = CallbackConfig(
        timeout=Duration.from_seconds(60), heartbeat_timeout=Duration.from_seconds(30)
    )
    return ctx.create_callback(name="approve", config=config).result()


def o_cb_hb_late(event):
    handle = yield dg.CreateCallback(name="approve", timeout=60, heartbeat_timeout=1)
    try:
        return (yield handle)
    except dg.CallbackTimeoutError:
        return "no heartbeat"


@pair("callback_heartbeat_times_out_caught", o_cb_hb_late, answers=[("none",)])
def a_cb_hb_late(event, ctx: DurableContext):
    config = CallbackConfig(
        timeout=Duration.from_seconds(60), heartbeat_timeout=Duration.from_seconds(1)
    )
    try:
        return ctx.create_callback(name="approve", config=config).result()
    except Exception:
        return "no heartbeat"


def o_cb_serdes(event):
    handle = yield dg.CreateCallback(name="approve", timeout=60, serdes=OurJson())
    return (yield handle)


@pair(
    "callback_serdes_nested_containers",
    o_cb_serdes,
    answers=[("succeed", '{"a": [1, {"b": null}], "c": false, "d": "", "e": 0}')],
)
def a_cb_serdes(event, ctx: DurableContext):
    config = CallbackConfig(timeout=Duration.from_seconds(60), serdes=AwsJson())
    return ctx.create_callback(name="approve", config=config).result()


def o_cb_fail_caught(event):
    handle = yield dg.CreateCallback(name="approve", timeout=60)
    try:
        return (yield handle)
    except dg.CallbackFailedError as e:
        return [e.error_type, e.error_message, e.error_data]


@pair(
    "callback_failed_unicode_type_and_data_caught",
    o_cb_fail_caught,
    answers=[("fail", "Refusé.Étape", "non — 拒否", '{"raison": "trop tard ✗"}')],
)
def a_cb_fail_caught(event, ctx: DurableContext):
    config = CallbackConfig(timeout=Duration.from_seconds(60))
    try:
        return ctx.create_callback(name="approve", config=config).result()
    except Exception as e:
        return [getattr(e, "error_type", None), getattr(e, "message", None), e.data]


def o_cb_child(event):
    def body():
        handle = yield dg.CreateCallback(name="inner", timeout=60)
        return (yield handle)

    try:
        return (yield dg.Child(body, name="asks"))
    except dg.ChildFailedError as e:
        return ["child failed", e.error_message]
    except dg.CallbackFailedError as e:
        return ["callback failed", e.error_message]


@pair(
    "callback_failed_inside_child_caught",
    o_cb_child,
    answers=[("fail", "Rejected", "inner no", None)],
)
def a_cb_child(event, ctx: DurableContext):
    def body(c: DurableContext):
        config = CallbackConfig(timeout=Duration.from_seconds(60))
        return c.create_callback(name="inner", config=config).result()

    try:
        return ctx.run_in_child_context(body, name="asks")
    except Exception as e:
        return ["child failed", getattr(e, "message", str(e))]


def _submit_flaky(key: str) -> Any:
    def submit(callback_id: str, *rest: Any) -> None:
        _flaky(key, 1, None)

    return submit


def o_wfcb_retry(event):
    return (
        yield dg.WaitForCallback(
            _submit_flaky("sub"),
            name="ask",
            timeout=60,
            heartbeat_timeout=30,
            retry=_our_retry(2),
        )
    )


@pair("wait_for_callback_submitter_retried_once", o_wfcb_retry, answers=[("succeed", "7")])
def a_wfcb_retry(event, ctx: DurableContext):
    config = WaitForCallbackConfig(
        timeout=Duration.from_seconds(60),
        heartbeat_timeout=Duration.from_seconds(30),
        retry_strategy=_aws_retry(2).retry_strategy,
        serdes=AwsJson(),
    )
    return ctx.wait_for_callback(_submit_flaky("sub"), name="ask", config=config)


def o_cb_branches(event):
    def branch(i: int) -> Any:
        def body():
            handle = yield dg.CreateCallback(name=f"cb{i}", timeout=60, serdes=OurJson())
            return (yield handle)

        return dg.Branch(body, name=f"b{i}")

    r = yield dg.Parallel([branch(0), branch(1)], name="asks", max_concurrency=1)
    return r.results()


@pair(
    "callbacks_in_serial_parallel_branches",
    o_cb_branches,
    answers=[("succeed", "[0]"), ("succeed", '{"one": 1}')],
)
def a_cb_branches(event, ctx: DurableContext):
    def branch(i: int) -> Any:
        @durable_parallel_branch(name=f"b{i}")
        def body(c: DurableContext):
            config = CallbackConfig(timeout=Duration.from_seconds(60), serdes=AwsJson())
            return c.create_callback(name=f"cb{i}", config=config).result()

        return body()

    config = ParallelConfig(max_concurrency=1)
    return ctx.parallel([branch(0), branch(1)], name="asks", config=config).get_results()


# --- invoke ---------------------------------------------------------------------------------------


def _falsy_pair(name: str, payload: Any) -> None:
    def ours(event):
        return (yield dg.Invoke("falsy", payload, name="call"))

    def aws(event, ctx: DurableContext):
        return ctx.invoke("falsy", payload, name="call")

    pair(name, ours, targets=("falsy",))(aws)


_falsy_pair("invoke_payload_false", False)
_falsy_pair("invoke_payload_zero", 0)
_falsy_pair("invoke_payload_empty_string", "")
_falsy_pair("invoke_payload_empty_list", [])
_falsy_pair("invoke_payload_empty_dict", {})


def o_inv_wait_fail(event):
    try:
        yield dg.Invoke("wait_then_fail", {"who": "ö"}, name="call")
    except dg.InvokeFailedError as e:
        return ["caught", e.error_message]


@pair("invoke_target_waits_then_fails_caught", o_inv_wait_fail, targets=("wait_then_fail",))
def a_inv_wait_fail(event, ctx: DurableContext):
    try:
        ctx.invoke("wait_then_fail", {"who": "ö"}, name="call")
    except Exception as e:
        return ["caught", getattr(e, "message", str(e))]


def o_inv_tenant(event):
    return (yield dg.Invoke("echo", "t", name="call", tenant_id="tenant-1"))


@pair("invoke_with_tenant_id", o_inv_tenant, targets=("echo",))
def a_inv_tenant(event, ctx: DurableContext):
    return ctx.invoke("echo", "t", name="call", config=InvokeConfig(tenant_id="tenant-1"))


def o_inv_par(event):
    def branch(target: str) -> Any:
        def body():
            return (yield dg.Invoke(target, {"t": target}, name=f"call-{target}"))

        return dg.Branch(body, name=target)

    r = yield dg.Parallel(
        [branch("echo"), branch("raises")],
        name="calls",
        max_concurrency=1,
        completion=dg.Completion.all_completed(),
    )
    return [r.results(), [e.error_message for e in r.errors()], r.failure_count]


@pair("invoke_in_parallel_branches_one_raises", o_inv_par, targets=("echo", "raises"))
def a_inv_par(event, ctx: DurableContext):
    def branch(target: str) -> Any:
        @durable_parallel_branch(name=target)
        def body(c: DurableContext):
            return c.invoke(target, {"t": target}, name=f"call-{target}")

        return body()

    config = ParallelConfig(max_concurrency=1, completion_config=CompletionConfig.all_completed())
    r = ctx.parallel([branch("echo"), branch("raises")], name="calls", config=config)
    return [r.get_results(), [e.message for e in r.get_errors()], r.failure_count]


# --- exceptions of unusual shapes -----------------------------------------------------------------


def _raise(exc: BaseException) -> Any:
    raise exc


class Outer:
    class Nested(Exception):
        """An exception class defined inside a class."""


class NoArgs(Exception):
    def __str__(self) -> str:
        return "custom str"


def _exc_pair(name: str, make: Any, caught: bool) -> None:
    def ours(event):
        yield dg.Step(lambda: 1, name="first")
        if not caught:
            return (yield dg.Step(lambda: _raise(make()), name="boom", retry=OUR_ONE))
        try:
            yield dg.Step(lambda: _raise(make()), name="boom", retry=OUR_ONE)
        except dg.StepFailedError as e:
            return [e.error_type, e.error_message]

    def aws(event, ctx: DurableContext):
        ctx.step(lambda _: 1, name="first")
        if not caught:
            return ctx.step(lambda _: _raise(make()), name="boom", config=ONE)
        try:
            ctx.step(lambda _: _raise(make()), name="boom", config=ONE)
        except Exception as e:
            return [getattr(e, "error_type", None), getattr(e, "message", None)]

    pair(name, ours)(aws)


_exc_pair("exception_several_args", lambda: OutOfStock("a", 2, None), caught=False)
_exc_pair("exception_several_args_caught", lambda: OutOfStock("a", 2, None), caught=True)
_exc_pair("exception_key_error_quoted", lambda: KeyError("sku"), caught=False)
_exc_pair("exception_key_error_quoted_caught", lambda: KeyError("sku"), caught=True)
_exc_pair("exception_nested_class", lambda: Outer.Nested("inner class"), caught=False)
_exc_pair("exception_nested_class_caught", lambda: Outer.Nested("inner class"), caught=True)
_exc_pair("exception_custom_str", lambda: NoArgs(), caught=False)
_exc_pair("exception_custom_str_caught", lambda: NoArgs(), caught=True)
_exc_pair(
    "exception_message_with_newlines_and_quotes",
    lambda: OutOfStock('line 1\nline "2"\t\\ end'),
    caught=False,
)
_exc_pair("exception_builtin_value_error_caught", lambda: ValueError("bad value"), caught=True)
_exc_pair("exception_zero_division", lambda: ZeroDivisionError("division by zero"), caught=False)


def _chained() -> Any:
    try:
        raise KeyError("root")
    except KeyError as e:
        raise OutOfStock("wrapped") from e


def o_chained_branch(event):
    def bad():
        yield dg.Step(lambda: 1, name="ok")
        _chained()

    def good():
        return (yield dg.Step(lambda: "g", name="g"))

    r = yield dg.Parallel(
        [dg.Branch(bad, name="bad"), dg.Branch(good, name="good")],
        name="p",
        max_concurrency=1,
        completion=dg.Completion.all_completed(),
    )
    return [r.results(), [e.error_message for e in r.errors()]]


@pair("parallel_branch_raises_chained_exception", o_chained_branch)
def a_chained_branch(event, ctx: DurableContext):
    @durable_parallel_branch(name="bad")
    def bad(c: DurableContext):
        c.step(lambda _: 1, name="ok")
        _chained()

    @durable_parallel_branch(name="good")
    def good(c: DurableContext):
        return c.step(lambda _: "g", name="g")

    config = ParallelConfig(max_concurrency=1, completion_config=CompletionConfig.all_completed())
    r = ctx.parallel([bad(), good()], name="p", config=config)
    return [r.get_results(), [e.message for e in r.get_errors()]]


def o_body_raises_first(event):
    raise Outer.Nested("before anything")
    yield  # a workflow


@pair("body_raises_nested_class_before_any_operation", o_body_raises_first)
def a_body_raises_first(event, ctx: DurableContext):
    raise Outer.Nested("before anything")


# --- results of falsy and nested values -----------------------------------------------------------


def _result_pair(name: str, value: Any, through_step: bool = True) -> None:
    def ours(event):
        if through_step:
            return (yield dg.Step(lambda: value, name="value"))
        yield dg.Step(lambda: None, name="first")
        return value

    def aws(event, ctx: DurableContext):
        if through_step:
            return ctx.step(lambda _: value, name="value")
        ctx.step(lambda _: None, name="first")
        return value

    pair(name, ours)(aws)


_result_pair("result_false_from_step", False)
_result_pair("result_zero_from_step", 0)
_result_pair("result_empty_string_from_step", "")
_result_pair("result_empty_list_from_body", [], through_step=False)
_result_pair("result_empty_dict_from_body", {}, through_step=False)
_result_pair("result_false_from_body", False, through_step=False)
_result_pair(
    "result_deeply_nested_containers",
    {"a": [[[], {}], [None, False, 0, ""], {"b": {"c": [{"d": None}]}}]},
)
_result_pair("result_big_integers", [2**63, -(2**63) - 1, 2**100])
_result_pair("result_floats_edge", [0.1, -0.0, 1e300, 5e-324])
# AWS's in-process runner stops at a step result of 900 KiB (the execution never ends there)
_result_pair("result_text_of_600_kib", "z" * (600 * 1024))


# --- names with punctuation -----------------------------------------------------------------------

PUNCT = "a/b:c#d?e&f=g h[1]{2}<3>|'q'\"dq\"\\~!@$%^*()+,;`"


def o_punct_names(event):
    a = yield dg.Step(lambda: 1, name=PUNCT)
    yield dg.Wait(seconds=1, name=PUNCT + " wait")
    b = yield dg.Child(lambda: (yield dg.Step(lambda: 2, name="-")), name=PUNCT + " child")
    return [a, b]


@pair("names_with_ascii_punctuation", o_punct_names)
def a_punct_names(event, ctx: DurableContext):
    a = ctx.step(lambda _: 1, name=PUNCT)
    ctx.wait(Duration.from_seconds(1), name=PUNCT + " wait")
    b = ctx.run_in_child_context(lambda c: c.step(lambda _: 2, name="-"), name=PUNCT + " child")
    return [a, b]


def o_punct_namer(event):
    r = yield dg.Map(
        lambda x, i: x, ["x", "y"], name="named", item_namer=lambda x, i: f"item #{i}: {x!r}"
    )
    return r.results()


@pair("map_item_namer_with_punctuation", o_punct_namer)
def a_punct_namer(event, ctx: DurableContext):
    config = MapConfig(item_namer=lambda x, i: f"item #{i}: {x!r}")
    return ctx.map(
        ["x", "y"], lambda c, x, i, items: c.step(lambda _: x), name="named", config=config
    ).get_results()


def o_name_spaces(event):
    return (yield dg.Step(lambda: "ok", name=" leading and trailing "))


@pair("step_name_with_outer_spaces", o_name_spaces)
def a_name_spaces(event, ctx: DurableContext):
    return ctx.step(lambda _: "ok", name=" leading and trailing ")


# --- logging inside steps and bodies --------------------------------------------------------------


def o_logs(event):
    dg.logger.info("starting")
    v = yield dg.Step(lambda: log.info("in step") or "logged", name="logs")
    dg.logger.warning("done %s", v)
    return v


@pair("logger_in_body_and_step", o_logs)
def a_logs(event, ctx: DurableContext):
    ctx.logger.info("starting")

    def step(sc: Any) -> str:
        sc.logger.info("in step")
        return "logged"

    v = ctx.step(step, name="logs")
    ctx.logger.warning("done %s", v)
    return v


# --- nesting with completion policies -------------------------------------------------------------


def _our_item(x, i):
    if x < 0:
        return (yield dg.Step(lambda: _out_of_stock(str(x)), name="c", retry=OUR_ONE))
    return (yield dg.Step(lambda: x, name="c"))


def _aws_item(c: DurableContext, x, i, items):
    if x < 0:
        return c.step(lambda _: _out_of_stock(str(x)), name="c", config=ONE)
    return c.step(lambda _: x, name="c")


def o_nested_policies(event):
    def body():
        def left():
            r = yield dg.Map(
                _our_item,
                [1, -2, 3, -4],
                name="inner",
                max_concurrency=1,
                completion=dg.Completion(tolerated_failure_count=1),
            )
            return [r.results(), str(r.completion_reason), r.failure_count]

        def right():
            r = yield dg.Map(
                _our_item,
                [5, 6, 7],
                name="firsts",
                max_concurrency=1,
                completion=dg.Completion.first_successful(),
            )
            return [r.results(), str(r.completion_reason)]

        r = yield dg.Parallel(
            [dg.Branch(left, name="L"), dg.Branch(right, name="R")],
            name="p",
            max_concurrency=1,
            completion=dg.Completion(min_successful=2),
        )
        return [r.results(), str(r.completion_reason)]

    return (yield dg.Child(body, name="outer"))


@pair("map_policies_inside_parallel_inside_child", o_nested_policies)
def a_nested_policies(event, ctx: DurableContext):
    def body(c: DurableContext):
        @durable_parallel_branch(name="L")
        def left(cc: DurableContext):
            config = MapConfig(
                max_concurrency=1,
                completion_config=CompletionConfig(tolerated_failure_count=1),
            )
            r = cc.map([1, -2, 3, -4], _aws_item, name="inner", config=config)
            return [r.get_results(), r.completion_reason.value, r.failure_count]

        @durable_parallel_branch(name="R")
        def right(cc: DurableContext):
            config = MapConfig(
                max_concurrency=1, completion_config=CompletionConfig.first_successful()
            )
            r = cc.map([5, 6, 7], _aws_item, name="firsts", config=config)
            return [r.get_results(), r.completion_reason.value]

        config = ParallelConfig(
            max_concurrency=1, completion_config=CompletionConfig(min_successful=2)
        )
        r = c.parallel([left(), right()], name="p", config=config)
        return [r.get_results(), r.completion_reason.value]

    return ctx.run_in_child_context(body, name="outer")


def o_par_in_items(event):
    def item(x, i):
        def ok():
            return (yield dg.Step(lambda: x, name="ok"))

        def bad():
            return (yield dg.Step(lambda: _out_of_stock(str(x)), name="bad", retry=OUR_ONE))

        r = yield dg.Parallel(
            [dg.Branch(bad, name="bad"), dg.Branch(ok, name="ok")],
            name=f"p{i}",
            max_concurrency=1,
            completion=dg.Completion(min_successful=1),
        )
        return [r.results(), str(r.completion_reason)]

    r = yield dg.Map(item, [1, 2], name="rows", max_concurrency=1)
    return r.results()


@pair("parallel_min_successful_in_map_items", o_par_in_items)
def a_par_in_items(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        @durable_parallel_branch(name="ok")
        def ok(cc: DurableContext):
            return cc.step(lambda _: x, name="ok")

        @durable_parallel_branch(name="bad")
        def bad(cc: DurableContext):
            return cc.step(lambda _: _out_of_stock(str(x)), name="bad", config=ONE)

        config = ParallelConfig(
            max_concurrency=1, completion_config=CompletionConfig(min_successful=1)
        )
        r = c.parallel([bad(), ok()], name=f"p{i}", config=config)
        return [r.get_results(), r.completion_reason.value]

    return ctx.map([1, 2], item, name="rows", config=MapConfig(max_concurrency=1)).get_results()


def o_child_fail_mid(event):
    def inner():
        yield dg.Step(lambda: 1, name="s")
        raise OutOfStock("deep")

    def middle():
        try:
            return (yield dg.Child(inner, name="inner"))
        except dg.ChildFailedError as e:
            return ["middle caught", e.error_message]

    return (yield dg.Child(middle, name="middle"))


@pair("child_failure_caught_by_middle_child", o_child_fail_mid)
def a_child_fail_mid(event, ctx: DurableContext):
    def inner(c: DurableContext):
        c.step(lambda _: 1, name="s")
        raise OutOfStock("deep")

    def middle(c: DurableContext):
        try:
            return c.run_in_child_context(inner, name="inner")
        except Exception as e:
            return ["middle caught", getattr(e, "message", str(e))]

    return ctx.run_in_child_context(middle, name="middle")


def o_empty_policies(event):
    a = yield dg.Map(
        lambda x, i: x, [], name="m", completion=dg.Completion(tolerated_failure_count=0)
    )
    b = yield dg.Parallel([], name="p", completion=dg.Completion.all_successful())
    c = yield dg.Map(lambda x, i: x, [], name="f", completion=dg.Completion.first_successful())
    return [str(x.completion_reason) for x in (a, b, c)]


@pair("empty_batches_with_presets", o_empty_policies)
def a_empty_policies(event, ctx: DurableContext):
    a = ctx.map(
        [],
        lambda c, x, i, items: x,
        name="m",
        config=MapConfig(completion_config=CompletionConfig(tolerated_failure_count=0)),
    )
    b = ctx.parallel(
        [], name="p", config=ParallelConfig(completion_config=CompletionConfig.all_successful())
    )
    c = ctx.map(
        [],
        lambda cc, x, i, items: x,
        name="f",
        config=MapConfig(completion_config=CompletionConfig.first_successful()),
    )
    return [x.completion_reason.value for x in (a, b, c)]


def o_first_success_after_failures(event):
    r = yield dg.Map(
        _our_item,
        [-1, -2, 3, 4],
        name="firsts",
        max_concurrency=1,
        completion=dg.Completion.first_successful(),
    )
    return [r.results(), r.failure_count, str(r.completion_reason)]


@pair("map_first_successful_after_two_failures", o_first_success_after_failures)
def a_first_success_after_failures(event, ctx: DurableContext):
    config = MapConfig(max_concurrency=1, completion_config=CompletionConfig.first_successful())
    r = ctx.map([-1, -2, 3, 4], _aws_item, name="firsts", config=config)
    return [r.get_results(), r.failure_count, r.completion_reason.value]


class OurJoined:
    """The whole batch as ``joined:X,Y``, read back as a ``BatchResult``."""

    def serialize(self, batch: Any) -> str:
        return "joined:" + ",".join(str(v) for v in batch.results())

    def deserialize(self, text: str) -> Any:
        values = [int(v) for v in text.removeprefix("joined:").split(",")]
        items = [dg.BatchItem(index=i, status="SUCCEEDED", result=v) for i, v in enumerate(values)]
        return dg.BatchResult(items=items, completion_reason="ALL_COMPLETED")


class AwsJoinedOrTagged(SerDes[Any]):
    """AWS's SDK writes the items with a Map's ``serdes`` too when it has no ``item_serdes``:
    items as ``tagged:<json>``, the whole batch as ``joined:X,Y``."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        if isinstance(value, BatchResult):
            return "joined:" + ",".join(str(v) for v in value.get_results())
        return "tagged:" + json.dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        if data.startswith("tagged:"):
            return json.loads(data.removeprefix("tagged:"))
        values = [int(v) for v in data.removeprefix("joined:").split(",")]
        items = [
            BatchItem(index=i, status=BatchItemStatus.SUCCEEDED, result=v)
            for i, v in enumerate(values)
        ]
        return BatchResult(all=items, completion_reason=CompletionReason.ALL_COMPLETED)


def o_map_serdes_in_child(event):
    def body():
        r = yield dg.Map(
            lambda x, i: x * 3,
            [1, 2],
            name="m",
            max_concurrency=1,
            item_serdes=OurTagged(),  # what AWS's SDK does with serdes= alone
            serdes=OurJoined(),
        )
        return r.results()

    v = yield dg.Child(body, name="holder")
    yield dg.Wait(seconds=1, name="replay")
    return v


@pair("map_operation_serdes_inside_child_then_replay", o_map_serdes_in_child)
def a_map_serdes_in_child(event, ctx: DurableContext):
    def body(c: DurableContext):
        r = c.map(
            [1, 2],
            lambda cc, x, i, items: cc.step(lambda _: x * 3),
            name="m",
            config=MapConfig(max_concurrency=1, serdes=AwsJoinedOrTagged()),
        )
        return r.get_results()

    v = ctx.run_in_child_context(body, name="holder")
    ctx.wait(Duration.from_seconds(1), name="replay")
    return v


# --- a serdes that cannot write its value, inside a child -----------------------------------------


class OurRefuses:
    def serialize(self, value: Any) -> str:
        raise TypeError(f"cannot write {type(value).__name__}")

    def deserialize(self, text: str) -> Any:
        return text


class AwsRefuses(SerDes[Any]):
    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        raise TypeError(f"cannot write {type(value).__name__}")

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return data


def o_step_serdes_fails_in_child(event):
    def body():
        return (yield dg.Step(lambda: 1, name="s", serdes=OurRefuses(), retry=OUR_ONE))

    return (yield dg.Child(body, name="holder"))


@pair("step_serdes_fails_inside_child", o_step_serdes_fails_in_child)
def a_step_serdes_fails_in_child(event, ctx: DurableContext):
    def body(c: DurableContext):
        return c.step(
            lambda _: 1,
            name="s",
            config=StepConfig(serdes=AwsRefuses(), retry_strategy=RetryPresets.none()),
        )

    return ctx.run_in_child_context(body, name="holder")


def o_child_serdes_fails_in_child(event):
    def inner():
        return (yield dg.Step(lambda: 1, name="s"))

    def body():
        return (yield dg.Child(inner, name="inner", serdes=OurRefuses()))

    return (yield dg.Child(body, name="holder"))


@pair("child_serdes_fails_inside_child", o_child_serdes_fails_in_child)
def a_child_serdes_fails_in_child(event, ctx: DurableContext):
    def body(c: DurableContext):
        return c.run_in_child_context(
            lambda cc: cc.step(lambda _: 1, name="s"),
            name="inner",
            config=ChildConfig(serdes=AwsRefuses()),
        )

    return ctx.run_in_child_context(body, name="holder")


class OurUnreadable:
    def serialize(self, value: Any) -> str:
        return json.dumps(value)

    def deserialize(self, text: str) -> Any:
        raise ValueError(f"cannot read {text}")


class AwsUnreadable(SerDes[Any]):
    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        return json.dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        raise ValueError(f"cannot read {data}")


def o_cb_unreadable_in_child(event):
    def body():
        handle = yield dg.CreateCallback(name="approve", timeout=60, serdes=OurUnreadable())
        return (yield handle)

    return (yield dg.Child(body, name="holder"))


@pair(
    "callback_result_unreadable_inside_child",
    o_cb_unreadable_in_child,
    answers=[("succeed", '"yes"')],
)
def a_cb_unreadable_in_child(event, ctx: DurableContext):
    def body(c: DurableContext):
        config = CallbackConfig(timeout=Duration.from_seconds(60), serdes=AwsUnreadable())
        return c.create_callback(name="approve", config=config).result()

    return ctx.run_in_child_context(body, name="holder")


def o_inv_unreadable_in_child(event):
    def body():
        return (yield dg.Invoke("echo", 1, name="call", serdes=OurUnreadable()))

    return (yield dg.Child(body, name="holder"))


@pair("invoke_result_unreadable_inside_child", o_inv_unreadable_in_child, targets=("echo",))
def a_inv_unreadable_in_child(event, ctx: DurableContext):
    def body(c: DurableContext):
        config = InvokeConfig(serdes_payload=AwsJson(), serdes_result=AwsUnreadable())
        return c.invoke("echo", 1, name="call", config=config)

    return ctx.run_in_child_context(body, name="holder")


def o_virtual_fails(event):
    def body():
        yield dg.Step(lambda: 1, name="s")
        raise OutOfStock("virtual")

    try:
        return (yield dg.Child(body, name="virt", virtual=True))
    except dg.ChildFailedError as e:
        return ["caught", e.error_message]


@pair("virtual_child_fails_caught", o_virtual_fails)
def a_virtual_fails(event, ctx: DurableContext):
    def body(c: DurableContext):
        c.step(lambda _: 1, name="s")
        raise OutOfStock("virtual")

    try:
        return ctx.run_in_child_context(body, name="virt", config=ChildConfig(is_virtual=True))
    except Exception as e:
        return ["caught", getattr(e, "message", str(e))]


def o_par_item_serdes(event):
    r = yield dg.Parallel(
        [dg.Branch(lambda: "a", name="A"), dg.Branch(lambda: ["b"], name="B")],
        name="p",
        item_serdes=OurTagged(),
    )
    yield dg.Wait(seconds=1, name="replay")
    return r.results()


@pair("parallel_item_serdes_then_replay", o_par_item_serdes)
def a_par_item_serdes(event, ctx: DurableContext):
    @durable_parallel_branch(name="A")
    def a(c: DurableContext):
        return c.step(lambda _: "a")

    @durable_parallel_branch(name="B")
    def b(c: DurableContext):
        return c.step(lambda _: ["b"])

    r = ctx.parallel([a(), b()], name="p", config=ParallelConfig(item_serdes=AwsTagged()))
    ctx.wait(Duration.from_seconds(1), name="replay")
    return r.get_results()


def o_sub_types(event):
    a = yield dg.Step(lambda: 1, name="fetch", sub_type="Fetch")
    b = yield dg.Child(lambda: (yield dg.Step(lambda: 2, name="in")), name="c", sub_type="Group")
    return [a, b]


@pair("step_and_child_sub_types", o_sub_types)
def a_sub_types(event, ctx: DurableContext):
    a = ctx.step(lambda _: 1, name="fetch", config=StepConfig(sub_type="Fetch"))
    b = ctx.run_in_child_context(
        lambda c: c.step(lambda _: 2, name="in"), name="c", config=ChildConfig(sub_type="Group")
    )
    return [a, b]


class AwsUnreadableAnswer(SerDes[Any]):
    """AWS's SDK writes a wait-for-callback's submitter result with its ``serdes`` too: that
    ``null`` reads back, the answer does not."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        return json.dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        if data == "null":
            return None
        raise ValueError(f"cannot read {data}")


def o_wfcb_unreadable(event):
    return (yield dg.WaitForCallback(lambda cid: None, name="ask", serdes=OurUnreadable()))


@pair("wait_for_callback_result_unreadable", o_wfcb_unreadable, answers=[("succeed", '"yes"')])
def a_wfcb_unreadable(event, ctx: DurableContext):
    config = WaitForCallbackConfig(serdes=AwsUnreadableAnswer())
    return ctx.wait_for_callback(lambda cid, c: None, name="ask", config=config)


def o_wfcb_submitter_fails_in_child(event):
    def body():
        return (
            yield dg.WaitForCallback(
                lambda cid: _out_of_stock("sub"), name="ask", retry=OUR_ONE, timeout=60
            )
        )

    return (yield dg.Child(body, name="holder"))


@pair("wait_for_callback_submitter_fails_inside_child", o_wfcb_submitter_fails_in_child)
def a_wfcb_submitter_fails_in_child(event, ctx: DurableContext):
    def body(c: DurableContext):
        config = WaitForCallbackConfig(
            timeout=Duration.from_seconds(60), retry_strategy=RetryPresets.none()
        )
        return c.wait_for_callback(lambda cid, cc: _out_of_stock("sub"), name="ask", config=config)

    return ctx.run_in_child_context(body, name="holder")


def o_cb_timeout_in_item(event):
    def item(x, i):
        handle = yield dg.CreateCallback(name=f"cb{i}", timeout=1)
        return (yield handle)

    r = yield dg.Map(item, [0], name="asks", completion=dg.Completion(tolerated_failure_count=1))
    return [r.failure_count, [e.error_type for e in r.errors()]]


@pair("callback_timeout_in_tolerated_map_item", o_cb_timeout_in_item, answers=[("none",)])
def a_cb_timeout_in_item(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        config = CallbackConfig(timeout=Duration.from_seconds(1))
        return c.create_callback(name=f"cb{i}", config=config).result()

    config = MapConfig(completion_config=CompletionConfig(tolerated_failure_count=1))
    r = ctx.map([0], item, name="asks", config=config)
    return [r.failure_count, [e.type for e in r.get_errors()]]


def o_raise_if_serdes(event):
    def item(x, i):
        return (yield dg.Step(lambda: x, name="s", serdes=OurRefuses(), retry=OUR_ONE))

    r = yield dg.Map(item, [1], name="m")
    r.raise_if_failed()
    return r.results()


@pair("map_raise_if_failed_on_a_serdes_failure", o_raise_if_serdes)
def a_raise_if_serdes(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        config = StepConfig(serdes=AwsRefuses(), retry_strategy=RetryPresets.none())
        return c.step(lambda _: x, name="s", config=config)

    r = ctx.map([1], item, name="m")
    r.throw_if_error()
    return r.get_results()


def o_cond_unwritable_in_child(event):
    def body():
        return (yield dg.WaitForCondition(lambda s: s + 1, 0, name="poll", serdes=OurRefuses()))

    return (yield dg.Child(body, name="holder"))


@pair("condition_state_unwritable_inside_child", o_cond_unwritable_in_child)
def a_cond_unwritable_in_child(event, ctx: DurableContext):
    def body(c: DurableContext):
        config = WaitForConditionConfig(
            wait_strategy=lambda s, a: WaitForConditionDecision.stop_polling(),
            initial_state=0,
            serdes=AwsRefuses(),
        )
        return c.wait_for_condition(lambda s, cc: s + 1, config, name="poll")

    return ctx.run_in_child_context(body, name="holder")


def o_inv_payload_unwritable_in_child(event):
    def body():
        return (yield dg.Invoke("echo", 1, name="call", serdes=OurRefuses()))

    return (yield dg.Child(body, name="holder"))


@pair(
    "invoke_payload_unwritable_inside_child",
    o_inv_payload_unwritable_in_child,
    targets=("echo",),
)
def a_inv_payload_unwritable_in_child(event, ctx: DurableContext):
    def body(c: DurableContext):
        config = InvokeConfig(serdes_payload=AwsRefuses(), serdes_result=AwsJson())
        return c.invoke("echo", 1, name="call", config=config)

    return ctx.run_in_child_context(body, name="holder")


@dg.step(serdes=OurRefuses(), retry=dg.Retry.never())
def _unwritable_submitter(callback_id: str) -> None:
    return None


def o_wfcb_submitter_unwritable(event):
    return (yield dg.WaitForCallback(_unwritable_submitter, name="ask", timeout=60))


@pair("wait_for_callback_submitter_result_unwritable", o_wfcb_submitter_unwritable)
def a_wfcb_submitter_unwritable(event, ctx: DurableContext):
    config = WaitForCallbackConfig(
        timeout=Duration.from_seconds(60), retry_strategy=RetryPresets.none(), serdes=AwsRefuses()
    )
    return ctx.wait_for_callback(lambda cid, c: None, name="ask", config=config)


def o_virtual_cb_invoke(event):
    def body():
        handle = yield dg.CreateCallback(name="approve", timeout=60, serdes=OurJson())
        answer = yield handle
        echoed = yield dg.Invoke("echo", answer, name="call")
        return [answer, echoed]

    return (yield dg.Child(body, name="virt", virtual=True))


@pair(
    "virtual_child_with_callback_and_invoke",
    o_virtual_cb_invoke,
    answers=[("succeed", '{"ok": [0, false]}')],
    targets=("echo",),
)
def a_virtual_cb_invoke(event, ctx: DurableContext):
    def body(c: DurableContext):
        config = CallbackConfig(timeout=Duration.from_seconds(60), serdes=AwsJson())
        answer = c.create_callback(name="approve", config=config).result()
        echoed = c.invoke("echo", answer, name="call")
        return [answer, echoed]

    return ctx.run_in_child_context(body, name="virt", config=ChildConfig(is_virtual=True))


def o_virtual_in_items(event):
    def item(x, i):
        def body():
            return (yield dg.Step(lambda: x * 10, name="s"))

        return (yield dg.Child(body, name=f"v{i}", virtual=True))

    r = yield dg.Map(item, [1, 2], name="m", max_concurrency=1)
    return r.results()


@pair("virtual_children_in_map_items", o_virtual_in_items)
def a_virtual_in_items(event, ctx: DurableContext):
    def item(c: DurableContext, x, i, items):
        return c.run_in_child_context(
            lambda cc: cc.step(lambda _: x * 10, name="s"),
            name=f"v{i}",
            config=ChildConfig(is_virtual=True),
        )

    return ctx.map([1, 2], item, name="m", config=MapConfig(max_concurrency=1)).get_results()
