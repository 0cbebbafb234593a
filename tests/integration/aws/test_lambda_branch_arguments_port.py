"""Porting AWS's decorated branches and child contexts that take arguments
(docs/migration.md, section 2): ``@durable_parallel_branch(name=)`` called with arguments is
``dg.Branch(functools.partial(fn, *args), name=)``, ``@durable_with_child_context`` called with
arguments is ``dg.Child(fn, args)``. The history AWS's SDK records on its emulator replays
against the port, which computes the same result; the tempting ``lambda: fn(*args)`` does not
(a plain function returning a generator runs as a step)."""

from __future__ import annotations

import functools
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import replay

pytest.importorskip("aws_durable_execution_sdk_python")
from aws_durable_execution_sdk_python import (
    DurableContext,
    durable_execution,
    durable_parallel_branch,
    durable_with_child_context,
)

try:
    from .emulator import Emulator, LambdaEndpoint
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]


@durable_parallel_branch(name="fetch-user")
def aws_fetch_user(ctx: DurableContext, user_id: str) -> Any:
    return ctx.step(lambda _: {"id": user_id}, name="load_user")


@durable_parallel_branch(name="fetch-orders")
def aws_fetch_orders(ctx: DurableContext, user_id: str) -> Any:
    return ctx.step(lambda _: [f"{user_id}-o1"], name="load_orders")


@durable_with_child_context
def aws_summarize(ctx: DurableContext, user_id: str, count: int) -> Any:
    return ctx.step(lambda _: f"{user_id}:{count}", name="summary")


def aws_profile(event: Any, ctx: DurableContext) -> Any:
    uid = event["user"]
    batch = ctx.parallel([aws_fetch_user(uid), aws_fetch_orders(uid)], name="load")
    user, orders = batch.get_results()
    return {
        "user": user,
        "orders": orders,
        "summary": ctx.run_in_child_context(aws_summarize(uid, len(orders))),
    }


def fetch_user(user_id: str) -> Any:
    return (yield dg.Step(lambda: {"id": user_id}, name="load_user"))


def fetch_orders(user_id: str) -> Any:
    return (yield dg.Step(lambda: [f"{user_id}-o1"], name="load_orders"))


@dg.workflow
def summarize(user_id: str, count: int) -> Any:
    return (yield dg.Step(lambda: f"{user_id}:{count}", name="summary"))


@dg.workflow
def profile_port(event: Any) -> Any:
    uid = event["user"]
    batch = yield dg.Parallel(
        [
            dg.Branch(functools.partial(fetch_user, uid), name="fetch-user"),
            dg.Branch(functools.partial(fetch_orders, uid), name="fetch-orders"),
        ],
        name="load",
    )
    user, orders = batch.results()
    return {
        "user": user,
        "orders": orders,
        "summary": (yield dg.Child(summarize, (uid, len(orders)), name="aws_summarize")),
    }


@dg.workflow
def profile_lambda_port(event: Any) -> Any:
    uid = event["user"]
    batch = yield dg.Parallel(
        [
            dg.Branch(lambda: fetch_user(uid), name="fetch-user"),
            dg.Branch(lambda: fetch_orders(uid), name="fetch-orders"),
        ],
        name="load",
    )
    return batch.results()


EXPECTED = {"user": {"id": "u1"}, "orders": ["u1-o1"], "summary": "u1:1"}


def test_the_documented_port_replays_what_aws_sdk_recorded(
    emulator_skip_time: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    lambda_endpoint.register(
        function_name, durable_execution(boto3_client=emulator_skip_time.client)(aws_profile)
    )
    arn = emulator_skip_time.start(function_name, {"user": "u1"})
    outcome = emulator_skip_time.wait(arn, timeout=20)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == EXPECTED
    history = {"Events": emulator_skip_time.history(arn)}

    report = replay(profile_port, history)
    assert report.status == "ok" and report.result == EXPECTED, report.message
    assert dg.run(profile_port, {"user": "u1"}) == EXPECTED

    wrong = replay(profile_lambda_port, history)
    assert wrong.status != "ok", wrong
