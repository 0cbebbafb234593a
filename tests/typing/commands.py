"""What ``yield from`` gives a workflow for each command; checked by ``mypy --strict``.

Nothing here runs: tests/unit/test_typing.py type-checks this folder, and
tests/unit/test_yield_from.py runs the same shapes on the embedded engine.
"""

from __future__ import annotations

import asyncio
import functools
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Optional, assert_type

import durable_gen as dg
from durable_gen.aws import LambdaHandler, lambda_handler
from durable_gen.testing import DurableRun, ReplayReport, TestRunner, replay, replay_folder
from durable_gen.testing.pytest_plugin import Replayer


@dataclass
class Receipt:
    id: str
    amount: int


@dg.step
def charge(order_id: str, amount: int) -> Receipt:
    return Receipt(order_id, amount)


@dg.step(retry=dg.Retry(max_attempts=2), name="count")
def count(xs: list[int]) -> int:
    return len(xs)


@dg.step
async def fetch(url: str) -> bytes:
    return url.encode()


@dg.step
def shout(item: str) -> str:
    return item.upper()


@dg.step
def ping() -> int:
    return 1


def one() -> int:
    return 1


def repeat(item: str, times: int = 2) -> str:
    return item * times


def label(item: str) -> str:
    return item.upper()


def first_unnamed(item: str, index: int) -> str | None:
    return None if index == 0 else f"{item}-{index}"


async def weigh(item: str) -> float:
    return float(len(item))


async def weigh_all() -> float:
    return 1.0


def pack(item: str, index: int) -> dg.Workflow[tuple[str, int]]:
    receipt = yield from charge(item, index)
    return (receipt.id, index)


def sub(amount: int) -> dg.Workflow[str]:
    receipt = yield from charge("sub", amount)
    return receipt.id


def bump(n: int) -> int:
    return n + 1


@dg.step
def poll(state: Receipt) -> Receipt:
    return Receipt(state.id, state.amount + 1)


async def poll_async(state: int) -> int:
    return state + 1


def notify(callback_id: str) -> None:
    pass


def steps() -> dg.Workflow[int]:
    receipt = yield from charge("o-1", 5)
    assert_type(receipt, Receipt)
    n = yield from count([1, 2])
    assert_type(n, int)
    body = yield from fetch("https://example.com")
    assert_type(body, bytes)
    direct = yield from dg.Step(bump, (1,))
    assert_type(direct, int)
    wrapped = yield from dg.Step(charge, ("o-1", 5))  # a @step function in Step: its result
    assert_type(wrapped, Receipt)
    as_child = yield from dg.Child(charge, ("o-1", 5))  # a @step function as a child: one step
    assert_type(as_child, Receipt)
    async_child = yield from dg.Child(fetch, ("https://example.com",), virtual=True)
    assert_type(async_child, bytes)
    untyped = yield charge("o-1", 5)  # plain yield keeps working, untyped
    assert_type(untyped, Any)
    return n


def waiting() -> dg.Workflow[None]:
    yield from dg.Wait(seconds=5)  # a None result: mypy rejects assigning it
    handle = yield from dg.CreateCallback(name="approval", result_type=Receipt)
    assert_type(handle, dg.CallbackHandle[Receipt])
    assert_type(handle.callback_id, str)
    answer = yield from handle
    assert_type(answer, Receipt)
    approved = yield from dg.WaitForCallback(notify, name="approve", result_type=bool)
    assert_type(approved, bool)
    state = yield from dg.WaitForCondition(bump, 0)
    assert_type(state, int)
    polled = yield from dg.WaitForCondition(  # a @step check, as the guide's example has
        poll,
        Receipt("r", 0),
        wait_strategy=lambda s, n: (
            dg.WaitDecision.again(1) if s.amount < 3 else dg.WaitDecision.done()
        ),
    )
    assert_type(polled, Receipt)
    until = dg.WaitStrategy(until=lambda s: bool(s), delay=1)
    assert_type(until, dg.WaitStrategy[Any])  # built apart: any state
    inline = yield from dg.WaitForCondition(  # given to the command: `s` is the state's type
        poll, Receipt("r", 0), wait_strategy=dg.WaitStrategy(until=lambda s: s.amount > 2)
    )
    assert_type(inline, Receipt)
    by_type = dg.WaitStrategy[Receipt](until=lambda s: s.amount > 2)
    assert_type(by_type, dg.WaitStrategy[Receipt])
    yield from dg.WaitForCondition(poll, Receipt("r", 0), wait_strategy=by_type)
    checked = yield from dg.WaitForCondition(poll_async, 0, wait_strategy=until)  # async def
    assert_type(checked, int)


def invoking() -> dg.Workflow[float]:
    tax = yield from dg.Invoke("tax", {"amount": 5}, result_type=float)
    assert_type(tax, float)
    labels = yield from dg.Invoke[list[str]]("labels", ["a"])
    assert_type(labels, list[str])
    child = yield from dg.Child(sub, (3,))
    assert_type(child, str)
    by_name = yield from dg.Child(sub, kwargs={"amount": 3})  # kwargs: not checked, typed
    assert_type(by_name, str)
    bound = yield from dg.Child(functools.partial(sub, 3))
    assert_type(bound, str)
    return tax


def type_forms() -> dg.Workflow[str]:
    # result_type= takes any type the codec decodes into, unions and Literal included; a type
    # form that is not a class cannot give mypy the result type, so the variable says it.
    maybe: Decimal | None = yield from dg.Invoke("f", 1, result_type=Decimal | None)
    choice: Literal["yes", "no"] = yield from dg.WaitForCallback(
        notify, name="choice", result_type=Literal["yes", "no"]
    )
    handle: dg.CallbackHandle[int | None] = yield from dg.CreateCallback(
        name="maybe",
        result_type=Optional[int],  # noqa: UP045 (the spelling users write)
    )
    answer = yield from handle
    assert_type(answer, int | None)
    items = yield from dg.Invoke("g", 1, result_type=list[Receipt])  # a generic class: typed
    assert_type(items, list[Receipt])
    return f"{maybe} {choice} {answer}"


def batches() -> dg.Workflow[list[str]]:
    labels = yield from dg.Map(label, ["a", "b"])
    assert_type(labels, dg.BatchResult[str])
    assert_type(labels.results(), list[str])
    assert_type(labels.get_results(), list[str])
    assert_type(labels.all_results(), list[str | None])
    assert_type(labels.items[0], dg.BatchItem[str])
    stepped = yield from dg.Map(shout, ["a"])  # a @step function: what it returns
    assert_type(stepped, dg.BatchResult[str])
    charged = yield from dg.Map(charge, ["a"])  # a @step fn(item, index)
    assert_type(charged, dg.BatchResult[Receipt])
    pinged = yield from dg.Parallel([ping, ping])
    assert_type(pinged, dg.BatchResult[int])
    named_steps = yield from dg.Parallel([dg.Branch(ping, name="p1"), dg.Branch(ping, name="p2")])
    assert_type(named_steps, dg.BatchResult[int])
    weights = yield from dg.Map(weigh, ["a"])
    assert_type(weights, dg.BatchResult[float])
    weighed = yield from dg.Step(weigh, ("a",))  # a plain async def in a Step
    assert_type(weighed, float)
    async_branches = yield from dg.Parallel([weigh_all, weigh_all])
    assert_type(async_branches, dg.BatchResult[float])
    defaults = yield from dg.Map(repeat, ["a"])  # fn(item, times=2): called with the item
    assert_type(defaults, dg.BatchResult[str])
    namer = yield from dg.Map(label, ["a"], item_namer=lambda item, i: f"{item.lower()}-{i}")
    assert_type(namer, dg.BatchResult[str])
    # "None keeps the default name" (guide): a namer may return str | None
    unnamed = yield from dg.Map(label, ["a"], item_namer=first_unnamed)
    assert_type(unnamed, dg.BatchResult[str])
    packed = yield from dg.Map(pack, ["a"])
    assert_type(packed, dg.BatchResult[tuple[str, int]])
    both = yield from dg.Parallel([one, one])  # (pyright types `lambda: 1` as Literal[1])
    assert_type(both, dg.BatchResult[int])
    # Branches of several kinds (a function, a Branch, a generator function), as the guide's
    # example mixes them: accepted, untyped (annotate the variable to type them).
    mixed = yield from dg.Parallel([one, dg.Branch(one, name="b"), functools.partial(sub, 1)])
    assert_type(mixed, dg.BatchResult[Any])
    named = yield from dg.Parallel([dg.Branch(lambda: "x", name="x")])
    assert_type(named, dg.BatchResult[str])
    # A branch that runs a sub-workflow is a generator function: `lambda: sub(1)` would only
    # return one (it type-checks, and each branch fails with WorkflowDefinitionError).
    subs = yield from dg.Parallel([functools.partial(sub, 1), functools.partial(sub, 2)])
    assert_type(subs, dg.BatchResult[str])
    return labels.results()


def helpers() -> dg.Workflow[str]:
    now = yield from dg.Now()
    assert_type(now, datetime)
    ident = yield from dg.UUID()
    assert_type(ident, uuid.UUID)
    rng = yield from dg.Random()
    assert_type(rng, random.Random)
    patched = yield from dg.Patched("new-pricing")
    assert_type(patched, bool)
    yield from dg.Deprecated("old-pricing")
    undone = yield from dg.RunCompensations()
    assert_type(undone, list[dg.CompensationResult])
    return now.isoformat()


@dg.workflow
def place_order(order_id: str) -> dg.Workflow[dict[str, Any]]:
    receipt = yield from charge(order_id, 5)
    total = yield from steps()  # sub-workflows inline: their return type flows through
    assert_type(total, int)
    return {"receipt": receipt.id, "total": total}


def running() -> None:
    result = dg.run(place_order, "o-1")
    assert_type(result, dict[str, Any])
    untyped = dg.run(any_input, {"id": "o-1"})  # a workflow of untyped input and result
    assert_type(untyped, Any)
    as_json = dg.run(place_order_of, {"id": "o-1"})  # a dataclass input given as its JSON form
    assert_type(as_json, Receipt)
    assert_type(dg.run(no_input), int)  # a workflow that takes None: no input given
    assert_type(dg.run(no_input, None), int)
    runner = TestRunner()
    handle = runner.run(place_order, "o-1")
    assert_type(handle, DurableRun[dict[str, Any]])
    assert_type(handle.result(), dict[str, Any])
    assert_type(runner.start(place_order, "o-2").result(), dict[str, Any])
    assert_type(runner.run(any_input, 5).result(), Any)
    assert_type(runner.run(no_input).result(), int)
    assert_type(runner.start(place_order_of, Receipt("r", 1)).result(), Receipt)


def any_input(order: Any) -> dg.Workflow[Any]:
    return (yield from charge(order, 1))


def place_order_of(receipt: Receipt) -> dg.Workflow[Receipt]:
    return (yield from charge(receipt.id, receipt.amount))


def no_input(_: None) -> dg.Workflow[int]:
    return (yield from count([1]))


def replaying(replayer: Replayer) -> None:
    history = TestRunner().run(place_order, "o-1").export()
    report = replay(place_order, history)
    assert_type(report, ReplayReport[dict[str, Any]])
    assert_type(report.result, dict[str, Any])  # as dg.run gives it (None unless succeeded)
    assert_type(report.raise_for_status().result, dict[str, Any])
    assert_type(replay(deployed.workflow, history).result, Receipt)
    assert_type(replay(lambda x: x, history).result, Any)
    assert_type(replay_folder({"place_order": place_order}, "histories"), list[ReplayReport])
    assert_type(replayer.replay(place_order, history).result, dict[str, Any])
    assert_type(replayer.assert_replays(place_order, history).result, dict[str, Any])
    assert_type(replayer.replay(lambda x: x, history).result, Any)
    bare: ReplayReport = report  # a bare ReplayReport stays valid under --strict
    assert_type(bare.result, Any)


def on_idle(run: DurableRun) -> None:  # a bare DurableRun stays valid under --strict
    run.send_callback_success("approval", True)
    assert_type(charge.fn("o-1", 5), Receipt)  # the plain function, for unit tests
    assert_type(asyncio.run(fetch.fn("https://example.com")), bytes)  # a coroutine to await
    as_annotated: dg.StepFunction[[str, int], Receipt] = charge  # still a StepFunction
    assert_type(as_annotated("o-1", 5), dg.Step[Receipt])


@lambda_handler
def deployed(order_id: str) -> dg.Workflow[Receipt]:
    receipt = yield from charge(order_id, 5)
    return receipt


@lambda_handler(checkpointing="batch")
def deployed_batched(order_id: str) -> dg.Workflow[int]:
    n = yield from count([1])
    return n


def lambda_handlers() -> None:
    # `.workflow` keeps the decorated function's type: dg.run of it is typed.
    assert_type(dg.run(deployed.workflow, "o-1"), Receipt)
    assert_type(dg.run(deployed_batched.workflow, "o-1"), int)
    assert_type(dg.run(lambda_handler(place_order).workflow, "o-1"), dict[str, Any])
    assert_type(deployed({}, None), dict[str, Any])
    any_handler: LambdaHandler = deployed  # a bare LambdaHandler stays valid under --strict
    assert_type(any_handler.workflow, Callable[..., Any])


class Tagged:
    """A serdes whose parameters have names of its own (the guide's example)."""

    def serialize(self, item: str) -> str:
        return f"item:{item}"

    def deserialize(self, text: str) -> str:
        return text.removeprefix("item:")


@dg.step(serdes=Tagged())
def tagged(item: str) -> str:
    return item


def with_serdes() -> dg.Workflow[list[str]]:
    one = yield from tagged("a")
    assert_type(one, str)
    batch = yield from dg.Map(label, ["a"], item_serdes=Tagged(), serdes=dg.JsonSerdes())
    child = yield from dg.Child(sub, (1,), serdes=Tagged())
    return [*batch.results(), child]
