"""The checkpoints themselves: durable_gen's handler with ``payload_format="aws"`` sends the
same updates as AWS's SDK handler for the same workflow, field for field (error types and
messages, retry delays, callback and invoke options, payloads), and ends the invocation with
the same output.

Left out of the comparison, as differences that do not matter to the service or to either
SDK: a stack trace (durable_gen records one, AWS's SDK does not), the spacing of JSON payloads,
options AWS's SDK sends at their defaults (``TimeoutSeconds: 0``, ``ReplayChildren: false``),
and the batch result of a Map or Parallel (durable_gen adds item names to it:
``test_aws_replays_ours.py`` checks that AWS's SDK reads it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import Any, Literal

import pytest

import durable_gen as dg
from durable_gen._ids import operation_id

from .test_sub_types import DETAILS, Service, ours, theirs

config = pytest.importorskip("aws_durable_execution_sdk_python.config")
retries = pytest.importorskip("aws_durable_execution_sdk_python.retries")

DETAILS.setdefault("CHAINED_INVOKE", "ChainedInvokeDetails")
ROOT1 = operation_id(None, 1)


class Declined(Exception):
    pass


def boom() -> None:
    raise Declined("no money")


NEVER = config.StepConfig(retry_strategy=lambda _e, _n: retries.RetryDecision.no_retry())


def dg_retried(_: Any) -> Generator[Any, Any, Any]:
    policy = dg.Retry(max_attempts=3, initial_delay=2, backoff=2.0, jitter="none")
    return (yield dg.Step(boom, name="s", retry=policy))


def aws_retried(_: Any, ctx: Any) -> Any:
    strategy = retries.create_retry_strategy(
        retries.RetryStrategyConfig(
            max_attempts=3,
            initial_delay=config.Duration.from_seconds(2),
            backoff_rate=2.0,
            jitter_strategy=config.JitterStrategy.NONE,
        )
    )
    return ctx.step(lambda _: boom(), name="s", config=config.StepConfig(retry_strategy=strategy))


def dg_fails(_: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Step(boom, name="s", retry=dg.Retry.never()))


def aws_fails(_: Any, ctx: Any) -> Any:
    return ctx.step(lambda _: boom(), name="s", config=NEVER)


def dg_caught(_: Any) -> Generator[Any, Any, Any]:
    try:
        yield dg.Step(boom, name="s", retry=dg.Retry.never())
    except dg.StepFailedError as exc:
        return [exc.error_type, exc.error_message]


def aws_caught(_: Any, ctx: Any) -> Any:
    try:
        ctx.step(lambda _: boom(), name="s", config=NEVER)
    except Exception as exc:  # AWS's StepError
        return [getattr(exc, "error_type", None), str(exc)]


def dg_callback(_: Any) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="c", timeout=60, heartbeat_timeout=10)
    return (yield handle)


def aws_callback(_: Any, ctx: Any) -> Any:
    options = config.CallbackConfig(
        timeout=config.Duration.from_seconds(60), heartbeat_timeout=config.Duration.from_seconds(10)
    )
    return ctx.create_callback(name="c", config=options).result()


def dg_plain_callback(_: Any) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="c")
    return (yield handle)


def aws_plain_callback(_: Any, ctx: Any) -> Any:
    return ctx.create_callback(name="c").result()


def submit(callback_id: str) -> None:
    assert callback_id


def dg_wait_for_callback(_: Any) -> Generator[Any, Any, Any]:
    return (yield dg.WaitForCallback(submit, name="w", timeout=30))


def aws_wait_for_callback(_: Any, ctx: Any) -> Any:
    options = config.WaitForCallbackConfig(timeout=config.Duration.from_seconds(30))
    return ctx.wait_for_callback(
        lambda callback_id, _c: submit(callback_id), name="w", config=options
    )


def dg_invoke(_: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Invoke("callee", {"a": [1, 2]}, name="i", tenant_id="t1"))


def aws_invoke(_: Any, ctx: Any) -> Any:
    return ctx.invoke("callee", {"a": [1, 2]}, name="i", config=config.InvokeConfig(tenant_id="t1"))


def dg_wait(_: Any) -> Generator[Any, Any, Any]:
    yield dg.Wait(seconds=5, name="w")
    return 1


def aws_wait(_: Any, ctx: Any) -> Any:
    ctx.wait(config.Duration.from_seconds(5), name="w")
    return 1


def dg_body_raises(_: Any) -> Generator[Any, Any, Any]:
    yield dg.Step(lambda: {"n": 1, "when": "x"}, name="s")
    raise Declined("body")


def aws_body_raises(_: Any, ctx: Any) -> Any:
    ctx.step(lambda _: {"n": 1, "when": "x"}, name="s")
    raise Declined("body")


def dg_child_fails(_: Any) -> Generator[Any, Any, Any]:
    def inner() -> Generator[Any, Any, Any]:
        return (yield dg.Step(boom, name="s", retry=dg.Retry.never()))

    return (yield dg.Child(inner, name="k"))


def aws_child_fails(_: Any, ctx: Any) -> Any:
    return ctx.run_in_child_context(
        lambda c: c.step(lambda _: boom(), name="s", config=NEVER), name="k"
    )


def dg_child_result(_: Any) -> Generator[Any, Any, Any]:
    def inner() -> Generator[Any, Any, Any]:
        value = yield dg.Step(lambda: [1, {"k": None}], name="s")
        return {"inner": value, "pair": (1, "a")}

    return (yield dg.Child(inner, name="k"))


def aws_child_result(_: Any, ctx: Any) -> Any:
    def inner(c: Any) -> Any:
        value = c.step(lambda _: [1, {"k": None}], name="s")
        return {"inner": value, "pair": (1, "a")}

    return ctx.run_in_child_context(inner, name="k")


def a() -> Generator[Any, Any, Any]:
    return (yield dg.Step(lambda: 1, name="sa"))


def b() -> Generator[Any, Any, Any]:
    return (yield dg.Step(boom, name="sb", retry=dg.Retry.never()))


def _dg_parallel(nesting: Literal["nested", "flat"]) -> Callable[[Any], Generator[Any, Any, Any]]:
    def workflow(_: Any) -> Generator[Any, Any, Any]:
        batch = yield dg.Parallel(
            [dg.Branch(a, name="A"), dg.Branch(b, name="B")],
            name="p",
            max_concurrency=1,
            nesting=nesting,
            completion=dg.Completion.all_completed(),
        )
        return [item.status for item in batch.items]

    return workflow


def _aws_parallel(nesting: Any) -> Callable[[Any, Any], Any]:
    def workflow(_: Any, ctx: Any) -> Any:
        batch = ctx.parallel(
            [
                config.ParallelBranch(lambda c: c.step(lambda _: 1, name="sa"), name="A"),
                config.ParallelBranch(
                    lambda c: c.step(lambda _: boom(), name="sb", config=NEVER), name="B"
                ),
            ],
            name="p",
            config=config.ParallelConfig(
                max_concurrency=1,
                nesting_type=nesting,
                completion_config=config.CompletionConfig.all_completed(),
            ),
        )
        return [item.status.value for item in batch.all]

    return workflow


#: case -> (durable_gen workflow, AWS's, operations recorded before the invocation)
PAIRS: dict[str, tuple[Callable[..., Any], Callable[..., Any], list[dict[str, Any]]]] = {
    "step-retried": (dg_retried, aws_retried, []),
    "step-fails": (dg_fails, aws_fails, []),
    "step-failure-caught": (dg_caught, aws_caught, []),
    "callback-options": (dg_callback, aws_callback, []),
    "callback-no-options": (dg_plain_callback, aws_plain_callback, []),
    "wait-for-callback": (dg_wait_for_callback, aws_wait_for_callback, []),
    "invoke-tenant": (dg_invoke, aws_invoke, []),
    "wait": (dg_wait, aws_wait, []),
    "body-raises": (dg_body_raises, aws_body_raises, []),
    "child-fails": (dg_child_fails, aws_child_fails, []),
    "child-result": (dg_child_result, aws_child_result, []),
    "parallel-nested": (_dg_parallel("nested"), _aws_parallel(config.NestingType.NESTED), []),
    "parallel-flat": (_dg_parallel("flat"), _aws_parallel(config.NestingType.FLAT), []),
}

CALLBACK = {"Id": ROOT1, "Type": "CALLBACK", "SubType": "Callback", "Name": "c"}
INVOKE = {"Id": ROOT1, "Type": "CHAINED_INVOKE", "SubType": "ChainedInvoke", "Name": "i"}
for status, error in [
    ("TIMED_OUT", {"ErrorType": "Callback.Timeout", "ErrorMessage": "Callback timed out"}),
    ("TIMED_OUT", {"ErrorType": "Callback.Heartbeat", "ErrorMessage": "Callback timed out"}),
    ("FAILED", {"ErrorType": "Rejected", "ErrorMessage": "over budget", "ErrorData": '{"x": 5}'}),
]:
    done = {**CALLBACK, "Status": status, "CallbackDetails": {"CallbackId": "Y2Ix", "Error": error}}
    PAIRS[f"callback-{status}-{error['ErrorType']}"] = (
        dg_plain_callback,
        aws_plain_callback,
        [done],
    )
for status in ("FAILED", "TIMED_OUT", "STOPPED"):
    error = {"ErrorType": "ResourceNotFoundException", "ErrorMessage": "no such function"}
    done = {**INVOKE, "Status": status, "ChainedInvokeDetails": {"Error": error}}
    PAIRS[f"invoke-{status}"] = (dg_invoke, aws_invoke, [done])


def _comparable(update: dict[str, Any]) -> dict[str, Any]:
    out = dict(update)
    if "Error" in out:
        out["Error"] = {k: v for k, v in out["Error"].items() if k != "StackTrace"}
    if out.get("SubType") in ("Map", "Parallel") and "Payload" in out:
        out["Payload"] = "<batch result>"
    elif "Payload" in out:
        out["Payload"] = json.loads(out["Payload"])
    options = out.get("CallbackOptions")
    if options is not None:
        out["CallbackOptions"] = {k: v for k, v in options.items() if v}
    if out.get("ContextOptions") == {"ReplayChildren": False}:
        del out["ContextOptions"]
    return out


class Recording(Service):
    def __init__(self, operations: list[dict[str, Any]]) -> None:
        super().__init__(operations)
        self.updates: list[dict[str, Any]] = []

    def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.updates += [_comparable(u) for u in kwargs["Updates"]]
        return super().checkpoint_durable_execution(**kwargs)


def _output(out: dict[str, Any]) -> dict[str, Any]:
    out = dict(out)
    if "Result" in out:
        out["Result"] = json.loads(out["Result"])
    if "Error" in out:
        out["Error"] = {k: v for k, v in out["Error"].items() if k != "StackTrace"}
    return out


@pytest.mark.parametrize("case", sorted(PAIRS))
def test_both_sdks_send_the_same_updates(case: str) -> None:
    dg_wf, aws_wf, recorded = PAIRS[case]
    our_service, their_service = Recording(recorded), Recording(recorded)
    our_out = ours(dg_wf, our_service)
    their_out = theirs(aws_wf, their_service)
    assert _output(our_out) == _output(their_out)
    assert our_service.updates == their_service.updates


def test_the_cases_send_updates() -> None:
    """A case that sends nothing compares nothing but its output."""
    quiet = [case for case, (_, _, recorded) in PAIRS.items() if not recorded]
    for case in quiet:
        service = Recording([])
        ours(PAIRS[case][0], service)
        assert service.updates, case
