"""``x = yield from cmd`` runs exactly like ``x = yield cmd`` for every command, end to end.

The interpreter sees the command (a command's iterator yields it once) and the value it sends
back becomes the value of ``yield from``; failures are thrown in at the same point.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner


@dg.step
def double(n: int) -> int:
    return n * 2


@dg.step
async def triple(n: int) -> int:
    return n * 3


@dg.step(retry=dg.Retry.never())
def boom(n: int) -> int:
    raise ValueError(f"boom {n}")


def sub(n: int) -> dg.Workflow[int]:
    doubled = yield from double(n)
    return doubled + 1


def bump(n: int) -> int:
    return n + 1


def stop_at_three(state: int, attempt: int) -> dg.WaitDecision:
    return dg.WaitDecision.done() if state >= 3 else dg.WaitDecision.again(1)


def everything(n: int) -> dg.Workflow[dict[str, Any]]:
    out: dict[str, Any] = {}
    out["step"] = yield from double(n)
    out["async_step"] = yield from triple(n)
    out["plain_yield"] = yield double(n + 1)
    out["direct_step"] = yield from dg.Step(bump, (n,))
    try:
        yield from boom(n)
    except dg.StepFailedError as exc:
        out["failure"] = exc.error_type
    yield from dg.Wait(seconds=5)
    out["condition"] = yield from dg.WaitForCondition(bump, 0, wait_strategy=stop_at_three)
    out["invoke"] = yield from dg.Invoke("square", n, result_type=int)
    out["child"] = yield from dg.Child(sub, (n,))
    out["inline"] = yield from sub(n)
    mapped = yield from dg.Map(lambda item: item + 1, [1, 2, 3])
    out["map"] = mapped.results()
    both = yield from dg.Parallel([lambda: "a", lambda: "b"])
    out["parallel"] = both.results()
    now = yield from dg.Now()
    out["now"] = isinstance(now, datetime)
    ident = yield from dg.UUID()
    out["uuid"] = isinstance(ident, uuid.UUID)
    rng = yield from dg.Random()
    out["random"] = isinstance(rng, random.Random)
    out["patched"] = yield from dg.Patched("v2")
    return out


EXPECTED = {
    "step": 10,
    "async_step": 15,
    "plain_yield": 12,
    "direct_step": 6,
    "failure": "ValueError",
    "condition": 3,
    "invoke": 25,
    "child": 11,
    "inline": 11,
    "map": [2, 3, 4],
    "parallel": ["a", "b"],
    "now": True,
    "uuid": True,
    "random": True,
    "patched": True,
}


def test_every_command_works_with_yield_from() -> None:
    result = dg.run(everything, 5, skip_time=True, functions={"square": lambda x: x * x})
    assert result == EXPECTED


def test_yield_from_replays_to_the_same_values() -> None:
    runner = TestRunner(functions={"square": lambda x: x * x})
    run = runner.run(everything, 5)
    assert run.result() == EXPECTED
    report = dg.testing.replay(everything, run.history())
    assert report.status == "ok", report
    assert report.result == EXPECTED


def test_callbacks_with_yield_from() -> None:
    notified: list[str] = []

    def wf(_: Any) -> dg.Workflow[list[Any]]:
        handle = yield from dg.CreateCallback(name="first", timeout=60)
        notified.append(handle.callback_id)
        first = yield from handle
        second = yield from dg.WaitForCallback(notified.append, name="second", timeout=60)
        try:
            yield from dg.WaitForCallback(notified.append, name="third", timeout=60)
        except dg.CallbackFailedError as exc:
            return [first, second, exc.error_message]
        return [first, second, None]

    runner = TestRunner()
    run = runner.run(wf, None)
    assert run.status == "RUNNING"
    run.send_callback_success("first", {"ok": 1})
    runner.run_until_idle()
    run.send_callback_success("second", [1, 2])
    runner.run_until_idle()
    run.send_callback_failure("third", error_message="refused")
    runner.run_until_idle()
    assert run.result() == [{"ok": 1}, [1, 2], "refused"]


def test_compensations_with_yield_from() -> None:
    undone: list[int] = []

    @dg.step(compensate=lambda result: undone.append(result))
    def reserve(n: int) -> int:
        return n

    def wf(_: Any) -> dg.Workflow[list[str]]:
        yield from reserve(1)
        yield from reserve(2)
        results = yield from dg.RunCompensations()
        return [r.status for r in results]

    assert dg.run(wf, None) == ["SUCCEEDED", "SUCCEEDED"]
    assert undone == [2, 1]


def test_a_command_iterates_to_itself_once() -> None:
    cmd = double(4)
    it = iter(cmd)
    assert next(it) is cmd
    with pytest.raises(StopIteration) as stop:
        it.send(8)
    assert stop.value.value == 8


def test_every_generic_command_can_be_parametrised_at_run_time() -> None:
    # ``dg.Invoke[int](...)`` and friends are valid at run time, not only for type checkers
    for cls in (
        dg.Command,
        dg.Step,
        dg.CreateCallback,
        dg.CallbackHandle,
        dg.WaitForCallback,
        dg.Invoke,
        dg.WaitForCondition,
        dg.Child,
        dg.Map,
        dg.Parallel,
        dg.Branch,
        dg.BatchResult,
        dg.BatchItem,
    ):
        assert cls[int] is not None, cls  # type: ignore[index]
    assert dg.Invoke[int]("tax", 1).function_name == "tax"
    assert dg.CreateCallback[str](name="cb").name == "cb"
