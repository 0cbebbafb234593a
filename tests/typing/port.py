"""A typed port of an AWS SDK handler (docs/migration.md), as a user taking over executions
writes it; checked by ``mypy --strict`` (tests/unit/test_typing.py). Nothing here runs at
import: ``check`` is the code a deployment and its tests would hold.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, assert_type

import durable_gen as dg
from durable_gen.aws import lambda_handler
from durable_gen.testing import TestRunner, replay


@dataclass
class Item:
    i: int
    at: datetime
    amount: Decimal


@dataclass
class Poll:
    n: int
    seen: tuple[int, ...]


@dataclass
class Decision:
    approved: bool
    by: str


def work(item: int) -> Item:
    return Item(item, datetime(2025, 1, 1), Decimal("1.5"))


def port_item(item: int, index: int) -> dg.Workflow[Item]:
    v = yield from dg.Step(work, (item,), name="work", retry=dg.Retry(max_attempts=1))
    assert_type(v, Item)
    return v


def count(state: Poll) -> Poll:
    return Poll(state.n + 1, (*state.seen, state.n))


def polls(state: Poll, attempt: int) -> dg.WaitDecision:
    return dg.WaitDecision.done() if state.n >= 2 else dg.WaitDecision.again(1)


def left() -> dg.Workflow[datetime]:
    return (yield from dg.Step(lambda: datetime(2025, 1, 1), name="left"))


def right() -> dg.Workflow[datetime]:
    return (yield from dg.Step(lambda: datetime(2025, 1, 2), name="right"))


def submit(callback_id: str) -> None:
    return None


@dg.step(retry=dg.Retry.never())
def pair() -> tuple[int, str]:
    return (1, "a")


@dg.workflow
def port(event: dict[str, Any]) -> dg.Workflow[dict[str, Any]]:
    p = yield from pair()
    assert_type(p, tuple[int, str])
    items = yield from dg.Map(port_item, [1, 2, 3], name="items", max_concurrency=1)
    assert_type(items, dg.BatchResult[Item])
    state = yield from dg.WaitForCondition(count, Poll(0, ()), wait_strategy=polls, name="poll")
    assert_type(state, Poll)
    both = yield from dg.Parallel([left, right], name="pair")
    assert_type(both, dg.BatchResult[datetime])
    decision = yield from dg.WaitForCallback(submit, name="approval", result_type=Decision)
    assert_type(decision, Decision)
    uid = yield from dg.Invoke("ids", None, result_type=uuid.UUID)
    assert_type(uid, uuid.UUID)
    try:
        yield from dg.Step(lambda: None, name="doomed")
    except dg.StepTimeoutError as exc:
        assert_type(exc.error_type, str | None)
    return {"n": state.n, "first": items.results()[0].at.isoformat(), "by": decision.by}


handler = lambda_handler(port, payload_format="aws")


@lambda_handler(payload_format="aws")
def decorated(event: dict[str, Any]) -> dg.Workflow[int]:
    return (yield from dg.Step(lambda: 1, name="one"))


def check() -> None:
    result = dg.run(decorated.workflow, {}, payload_format="aws")
    assert_type(result, int)
    run = TestRunner(payload_format="aws").run(port, {})
    assert_type(run.result(), dict[str, Any])
    report = replay(port, run.export())
    assert_type(report.result, dict[str, Any])
