"""A program written from the docs alone, clean under ``mypy --strict`` and under pyright's
(basedpyright's) ``strict`` mode, which also refuses Unknown types: every documented API a
typed program touches (steps, callbacks, Invoke, Map/Parallel, Child, sagas, helpers, the test
runner, replay, the determinism check, the Lambda handler, the runtime's loop, plugins).

Nothing here runs: tests/unit/test_typing.py type-checks it.
"""

from __future__ import annotations

import enum
import random
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, assert_type

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.aws import LambdaHandler, lambda_handler
from durable_gen.plugins import AttemptInfo, InvocationInfo, OperationInfo
from durable_gen.testing import (
    CrashSchedule,
    DeterminismCheck,
    DurableRun,
    ReplayReport,
    RunSummary,
    TestRunner,
    assert_deterministic,
    load_history,
    replay,
    replay_folder,
)


class Tier(enum.Enum):
    GOLD = "gold"
    BASIC = "basic"


@dataclass
class Order:
    id: str
    amount: Decimal
    at: datetime
    tier: Tier


@dataclass
class Receipt:
    id: str
    amount: Decimal


@dg.step
def charge(order: Order) -> Receipt:
    return Receipt(id=f"r-{order.id}", amount=order.amount)


def refund(receipt: Receipt) -> str:
    return f"refunded {receipt.id}"


@dg.step(compensate=refund, retry=dg.Retry(max_attempts=3, retry_on=(ConnectionError,)))
def book(order: Order) -> Receipt:
    return Receipt(id=f"b-{order.id}", amount=order.amount)


def price(item: str) -> Decimal:
    return Decimal("1.10") if item == "a" else Decimal("2.00")


def fetch_a() -> str:
    return "a"


def notify(callback_id: str) -> None:
    print(callback_id)


def check_job(state: int) -> int:
    return state + 1


def pricing(order: Order) -> dg.Workflow[Decimal]:
    receipt = yield from charge(order)
    return receipt.amount


@dg.workflow
def place(order: Order) -> dg.Workflow[dict[str, str]]:
    receipt = yield from charge(order)
    assert_type(receipt, Receipt)
    booked = yield from book(order)
    prices = yield from dg.Map(price, ["a", "b"], max_concurrency=2)
    assert_type(prices, dg.BatchResult[Decimal])
    total = sum(prices.results(), Decimal(0))
    branches = yield from dg.Parallel([fetch_a, fetch_a])
    assert_type(branches.all_results(), list[str | None])
    child = yield from dg.Child(pricing, (order,), name="pricing")
    assert_type(child, Decimal)
    decision = yield from dg.WaitForCallback(notify, name="approval", result_type=Tier)
    assert_type(decision, Tier)
    handle = yield from dg.CreateCallback(name="when", result_type=datetime)
    yield from dg.Step(notify, (handle.callback_id,), name="send")
    when = yield from handle
    assert_type(when, datetime)
    tax = yield from dg.Invoke("tax", total, result_type=Decimal)
    assert_type(tax, Decimal)
    # Without result_type= (or with a type form such as a union), pyright's strict mode refuses
    # the Unknown that `yield from` gives even into an annotated variable: plain `yield` with
    # the annotation is clean under both checkers (the guide says so).
    fee: float = yield dg.Invoke("fee", 1)
    cut: Decimal | None = yield dg.Invoke("cut", 1, result_type=Decimal | None)
    polled = yield from dg.WaitForCondition(
        check_job, 0, wait_strategy=dg.WaitStrategy(until=lambda s: s > 2, delay=1)
    )
    assert_type(polled, int)
    now = yield from dg.Now()
    ident = yield from dg.UUID()
    assert_type(ident, uuid.UUID)
    rng = yield from dg.Random()
    assert_type(rng, random.Random)
    patched = yield from dg.Patched("new-pricing")
    yield from dg.Wait(seconds=60, name="cool-off")
    undone = yield from dg.RunCompensations()
    assert_type(undone, list[dg.CompensationResult])
    return {
        "receipt": receipt.id,
        "booked": booked.id,
        "total": str(total + tax),
        "fee": str(fee),
        "cut": str(cut),
        "decision": decision.value,
        "when": when.isoformat(),
        "now": now.isoformat(),
        "id": str(ident),
        "patched": str(patched),
        "undone": ",".join(u.status for u in undone),
    }


class Timing(dg.Plugin):
    def on_attempt_end(
        self, attempt: AttemptInfo, outcome: str, error: BaseException | None
    ) -> None:
        print(attempt.name, outcome, error)

    def on_operation_start(self, op: OperationInfo) -> None:
        print(op.name)

    def on_invocation_start(self, info: InvocationInfo) -> None:
        print(info.first)


def approve(run: DurableRun[dict[str, str]]) -> None:
    run.send_callback_success("approval", "gold")


def testing(order: Order) -> None:
    runner = TestRunner(plugins=[Timing()], functions={"tax": price})
    run = runner.run(place, order)
    assert_type(run, DurableRun[dict[str, str]])
    run.send_callback_success("approval", "gold")
    runner.run_until_idle()
    assert_type(run.result(), dict[str, str])
    report = replay(place, run.export())
    assert_type(report, ReplayReport[dict[str, str]])
    assert_type(report.raise_for_status().result, dict[str, str])
    history = load_history(run.export())
    assert_type(history.result, str | None)
    for each in replay_folder({"place": place}, "histories"):
        assert each.ok, each.message
    assert_deterministic(place, order, on_idle=approve)
    check = DeterminismCheck(place, order, on_idle=approve)
    assert_type(check.check(CrashSchedule.at_every_checkpoint()), RunSummary)
    assert_type(dg.run(place, order, skip_time=True), dict[str, str])


handler = lambda_handler(place)


@lambda_handler(checkpointing="batch")
def deployed(order: Order) -> dg.Workflow[Decimal]:
    receipt = yield from charge(order)
    return receipt.amount


def lambda_typed(event: dict[str, Any]) -> None:
    assert_type(dg.run(handler.workflow, event), dict[str, str])
    assert_type(dg.run(deployed.workflow, event), Decimal)
    any_handler: LambdaHandler = deployed
    print(any_handler(event, None))


def invoke_once(store: dict[str, rt.Operation], now_ms: int) -> rt.Outcome:
    interp = rt.Interpreter(
        place, list(store.values()), execution_arn="x", clock=lambda: now_ms / 1000
    )
    while True:
        action = interp.next_action()
        if isinstance(action, rt.Flush):
            applied = rt.apply_updates(store, action.updates, now_ms=now_ms)
            interp.observe(applied.operations)
        elif isinstance(action, rt.RunTasks):
            for task in action.tasks:
                try:
                    interp.task_succeeded(task, task.fn(*task.args, **task.kwargs))
                except Exception as exc:
                    interp.task_failed(task, exc)
        elif isinstance(action, rt.WaitForTasks):
            continue
        else:
            return action.outcome
